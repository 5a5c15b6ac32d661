-- Publishing, shops, orders and pipeline runs: the read models behind the
-- publish queue, the integrations page, analytics and the runs list.

-- When a listing was submitted and when its publishing settled.
ALTER TABLE listings
    ADD COLUMN submitted_at timestamptz,
    ADD COLUMN published_at timestamptz;
CREATE INDEX listings_publishing ON listings (tenant, submitted_at DESC) WHERE submitted_at IS NOT NULL;

-- Marketplace connections (the Shop aggregate). Tokens are not here: they
-- never enter the log.
CREATE TABLE shops (
    tenant            text        NOT NULL,
    shop_id           uuid        NOT NULL,
    marketplace       text        NOT NULL,
    external_shop_id  text        NOT NULL,
    display_name      text        NOT NULL,
    connected         boolean     NOT NULL,
    token_expires_at  timestamptz,
    connected_at      timestamptz NOT NULL,
    refreshed_at      timestamptz,
    disconnected_at   timestamptz,
    disconnect_reason text,
    version           bigint      NOT NULL,
    PRIMARY KEY (tenant, shop_id)
);

-- Orders (the Order aggregate): what analytics sums.
CREATE TABLE orders (
    tenant             text        NOT NULL,
    order_id           uuid        NOT NULL,
    shop_id            uuid        NOT NULL,
    marketplace        text        NOT NULL,
    external_order_id  text        NOT NULL,
    status             text        NOT NULL,
    total_cents        bigint      NOT NULL,
    currency           text        NOT NULL,
    cost_cents         bigint,
    fees_cents         bigint,
    items              integer     NOT NULL,
    received_at        timestamptz NOT NULL,
    paid_at            timestamptz,
    shipped_at         timestamptz,
    cancelled_at       timestamptz,
    version            bigint      NOT NULL,
    PRIMARY KEY (tenant, order_id)
);
CREATE INDEX orders_by_time ON orders USING brin (received_at);
CREATE INDEX orders_latest ON orders (tenant, received_at DESC);

-- Each line of an order, by listing: sales per listing.
CREATE TABLE order_lines (
    tenant               text        NOT NULL,
    order_id             uuid        NOT NULL,
    line                 integer     NOT NULL,
    listing_id           uuid,
    external_listing_id  text        NOT NULL,
    quantity             integer     NOT NULL,
    price_cents          bigint      NOT NULL,
    received_at          timestamptz NOT NULL,
    PRIMARY KEY (tenant, order_id, line)
);
CREATE INDEX order_lines_by_listing ON order_lines (tenant, listing_id);

-- Pipeline runs: everything that followed from one import, one source
-- refresh or one person's action shares a correlation id; a run is the
-- count of each stage's events under it.
CREATE TABLE pipeline_runs (
    tenant          text        NOT NULL,
    run_id          text        NOT NULL,
    started_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL,
    started_by      text        NOT NULL,
    source          text,
    observations    integer     NOT NULL DEFAULT 0,
    ideas           integer     NOT NULL DEFAULT 0,
    ideas_red       integer     NOT NULL DEFAULT 0,
    ideas_approved  integer     NOT NULL DEFAULT 0,
    designs         integer     NOT NULL DEFAULT 0,
    listings        integer     NOT NULL DEFAULT 0,
    published       integer     NOT NULL DEFAULT 0,
    failures        integer     NOT NULL DEFAULT 0,
    events          integer     NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant, run_id)
);
CREATE INDEX pipeline_runs_latest ON pipeline_runs (tenant, started_at DESC, run_id DESC);
