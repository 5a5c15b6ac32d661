-- How far publishing a queued listing has come: NULL (not started or a dry
-- run), 'product_made' (the marketplace has the product), 'publish_requested'
-- (the marketplace was asked to publish and is doing so).
ALTER TABLE listings ADD COLUMN publish_step text
    CHECK (publish_step IN ('product_made', 'publish_requested'));
