-- A shop's marketplace credentials (OAuth access and refresh tokens, API
-- tokens, webhook secrets), sealed with AES-256-GCM by the vault
-- (crates/marketplaces): never the text itself. `key_id` names the key the
-- value was sealed under, so keys can rotate; the seal is bound to the
-- tenant, shop and kind, so a row copied elsewhere does not open.
CREATE TABLE shop_credentials (
    tenant      text        NOT NULL,
    shop_id     uuid        NOT NULL,
    kind        text        NOT NULL CHECK (kind IN ('access_token', 'refresh_token', 'api_token', 'webhook_secret')),
    key_id      text        NOT NULL,
    nonce       bytea       NOT NULL CHECK (octet_length(nonce) = 12),
    ciphertext  bytea       NOT NULL,
    expires_at  timestamptz,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant, shop_id, kind)
);

-- Re-keying looks for the values not yet under the current key.
CREATE INDEX shop_credentials_by_key ON shop_credentials (key_id);
