-- Per-shop quota overrides (a negotiated limit); NULL means the plan's.
ALTER TABLE tenants
    ADD COLUMN ideas_quota    integer CHECK (ideas_quota >= 0),
    ADD COLUMN images_quota   integer CHECK (images_quota >= 0),
    ADD COLUMN listings_quota integer CHECK (listings_quota >= 0);
