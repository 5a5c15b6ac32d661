-- Where a published listing stands on its marketplace, as last polled
-- (NULL: for sale, as published).
ALTER TABLE listings ADD COLUMN marketplace_state text
    CHECK (marketplace_state IN ('inactive', 'sold_out', 'expired', 'removed'));

-- Each Etsy shop's sync, kept by the sync worker: the receipts cursor (the
-- `min_last_modified` of the next poll, seconds since the epoch), when
-- receipts and listings were last polled, and the last failure, if the
-- last poll failed. The Integrations page shows it as the shop's health.
CREATE TABLE marketplace_sync (
    tenant              text        NOT NULL,
    shop_id             uuid        NOT NULL,
    receipts_cursor     bigint,
    receipts_synced_at  timestamptz,
    listings_synced_at  timestamptz,
    last_error          text,
    last_error_at       timestamptz,
    PRIMARY KEY (tenant, shop_id)
);
