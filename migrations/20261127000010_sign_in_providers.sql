-- Sign-in through OAuth 2 / OpenID Connect providers: which provider
-- account is which person, and the logins in flight (state → PKCE verifier).
CREATE TABLE user_identities (
    provider      text        NOT NULL,
    -- The provider's stable id for the person (`sub`).
    subject       text        NOT NULL,
    user_id       uuid        NOT NULL REFERENCES users (user_id) ON DELETE CASCADE,
    email         text,
    created_at    timestamptz NOT NULL DEFAULT now(),
    last_login_at timestamptz,
    PRIMARY KEY (provider, subject)
);
CREATE INDEX user_identities_by_user ON user_identities (user_id);

-- A login started and not yet finished. The state is stored hashed and used
-- once; the PKCE verifier never leaves the server.
CREATE TABLE oauth_logins (
    state_sha256  bytea       PRIMARY KEY,
    provider      text        NOT NULL,
    pkce_verifier text        NOT NULL,
    next          text        NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz NOT NULL
);
CREATE INDEX oauth_logins_by_expiry ON oauth_logins (expires_at);
