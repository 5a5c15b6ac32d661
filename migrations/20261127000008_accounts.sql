-- Accounts: tenants (shops / workspaces) and the API tokens programs use.
-- Not read models: the API owns these tables. Secrets are stored hashed.
CREATE TABLE tenants (
    tenant      text        PRIMARY KEY,
    name        text        NOT NULL,
    plan        text        NOT NULL DEFAULT 'free',
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE api_tokens (
    token_id      uuid        PRIMARY KEY,
    tenant        text        NOT NULL REFERENCES tenants (tenant),
    name          text        NOT NULL,
    role          text        NOT NULL CHECK (role IN ('owner', 'editor', 'viewer')),
    -- SHA-256 of the token's secret part; the secret itself is shown once.
    secret_sha256 bytea       NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    last_used_at  timestamptz,
    revoked_at    timestamptz
);
CREATE INDEX api_tokens_by_tenant ON api_tokens (tenant);
