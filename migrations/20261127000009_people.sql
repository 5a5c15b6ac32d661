-- People: users, their roles per tenant, and their browser sessions.
-- Owned by the API, like tenants and tokens. Passwords are argon2 hashes
-- (PHC strings); session ids and CSRF tokens are stored as SHA-256.
CREATE TABLE users (
    user_id       uuid        PRIMARY KEY,
    -- Lower-cased; the login name.
    email         text        NOT NULL UNIQUE CHECK (email = lower(email)),
    display_name  text        NOT NULL,
    -- NULL for people who sign in only through an identity provider.
    password_hash text,
    created_at    timestamptz NOT NULL DEFAULT now(),
    last_login_at timestamptz
);

-- A person's role in a tenant (shop). One person may belong to several.
CREATE TABLE memberships (
    user_id    uuid        NOT NULL REFERENCES users (user_id) ON DELETE CASCADE,
    tenant     text        NOT NULL REFERENCES tenants (tenant) ON DELETE CASCADE,
    role       text        NOT NULL CHECK (role IN ('owner', 'editor', 'viewer')),
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, tenant)
);
CREATE INDEX memberships_by_tenant ON memberships (tenant);

-- A signed-in browser. The cookie holds the secret; only its hash is here.
CREATE TABLE sessions (
    session_sha256 bytea       PRIMARY KEY,
    user_id        uuid        NOT NULL REFERENCES users (user_id) ON DELETE CASCADE,
    tenant         text        NOT NULL REFERENCES tenants (tenant) ON DELETE CASCADE,
    -- The synchroniser token every state-changing request must echo.
    csrf_token     text        NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    last_seen_at   timestamptz NOT NULL DEFAULT now(),
    expires_at     timestamptz NOT NULL
);
CREATE INDEX sessions_by_user ON sessions (user_id);
CREATE INDEX sessions_by_expiry ON sessions (expires_at);
