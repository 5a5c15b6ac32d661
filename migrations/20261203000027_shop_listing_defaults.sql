-- What an Etsy shop's listings are drafted with: its shipping profile (and
-- a product type's own, where the seller chose one) and return policy, as
-- recorded at connection and by the seller's choice. NULL for Printify
-- shops, and for shops connected before this was recorded until
-- `pod projections rebuild shops` replays them.
ALTER TABLE shops
    ADD COLUMN shipping_profile_id bigint,
    ADD COLUMN return_policy_id bigint,
    ADD COLUMN shipping_profile_by_type jsonb NOT NULL DEFAULT '{}';
