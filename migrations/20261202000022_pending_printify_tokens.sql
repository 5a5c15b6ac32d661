-- A Printify token whose owner is still choosing which of its shops to
-- connect: kept sealed by the vault (never in the page), used once, within
-- the connection's ten minutes. Etsy connections keep a PKCE verifier
-- instead.
ALTER TABLE marketplace_connections
    ALTER COLUMN pkce_verifier DROP NOT NULL,
    ADD COLUMN token_key_id text,
    ADD COLUMN token_nonce bytea,
    ADD COLUMN token_sealed bytea,
    ADD CONSTRAINT marketplace_connections_holds_one
        CHECK ((pkce_verifier IS NULL) <> (token_sealed IS NULL AND token_nonce IS NULL AND token_key_id IS NULL));
