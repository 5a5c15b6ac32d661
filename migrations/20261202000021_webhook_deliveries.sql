-- Webhook deliveries already acted on, per tenant and shop: a redelivery or
-- a replayed body is answered without acting twice. (The commands a
-- delivery causes also derive their ids from it.)
CREATE TABLE webhook_deliveries (
    tenant       text        NOT NULL,
    shop_id      uuid        NOT NULL,
    delivery_id  text        NOT NULL,
    topic        text        NOT NULL,
    received_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant, shop_id, delivery_id)
);
CREATE INDEX webhook_deliveries_by_time ON webhook_deliveries USING brin (received_at);
