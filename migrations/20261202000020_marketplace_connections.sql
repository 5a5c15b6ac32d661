-- A marketplace connection a person started (sent to Etsy to consent) and
-- has not finished. The state is stored hashed and used once, by the
-- person who started it, for the shop (tenant) they started it in; the
-- PKCE verifier never leaves the server.
CREATE TABLE marketplace_connections (
    state_sha256  bytea       PRIMARY KEY,
    tenant        text        NOT NULL,
    user_id       uuid        NOT NULL,
    marketplace   text        NOT NULL CHECK (marketplace IN ('etsy', 'printify')),
    pkce_verifier text        NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz NOT NULL
);
CREATE INDEX marketplace_connections_by_expiry ON marketplace_connections (expires_at);
