-- Where a shop's products are sold, as its marketplace names it (a
-- Printify shop's sales channel); NULL where the marketplace is the
-- storefront, and for shops connected before it was recorded.
ALTER TABLE shops ADD COLUMN sales_channel text;
