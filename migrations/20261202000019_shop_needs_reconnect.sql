-- A shop whose tokens the marketplace no longer takes (ShopNeedsReconnect):
-- still connected, but nothing is published to it until it is connected
-- again (ShopConnected) or a token refresh works (ShopTokenRefreshed).
ALTER TABLE shops
    ADD COLUMN needs_reconnect        boolean NOT NULL DEFAULT false,
    ADD COLUMN needs_reconnect_reason text,
    ADD COLUMN needs_reconnect_at     timestamptz;
