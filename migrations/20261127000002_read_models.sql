-- Read models built by the projections. Every table is tenant-scoped: the
-- tenant is the first column of every primary key and every query filters on it.

CREATE TABLE trends (
    tenant         text        NOT NULL,
    trend_id       uuid        NOT NULL,
    keyword        text        NOT NULL,
    normalized     text        NOT NULL,
    niche          text        NOT NULL,
    product_types  text[]      NOT NULL DEFAULT '{}',
    first_seen     timestamptz NOT NULL,
    last_seen      timestamptz NOT NULL,
    observations   bigint      NOT NULL DEFAULT 0,
    last_score     double precision NOT NULL DEFAULT 0,
    retired        boolean     NOT NULL DEFAULT false,
    version        bigint      NOT NULL,
    PRIMARY KEY (tenant, trend_id)
);
CREATE INDEX trends_by_score ON trends (tenant, last_score DESC);

-- Time series: one row per observation, with its provenance.
CREATE TABLE trend_observations (
    tenant       text        NOT NULL,
    trend_id     uuid        NOT NULL,
    observed_at  timestamptz NOT NULL,
    stream_seq   bigint      NOT NULL,
    source       text        NOT NULL,
    rank         integer,
    volume       bigint,
    score        double precision NOT NULL,
    estimated    boolean     NOT NULL,
    confidence   double precision NOT NULL,
    PRIMARY KEY (observed_at, stream_seq)
);
CREATE INDEX trend_observations_by_trend ON trend_observations (tenant, trend_id, observed_at);

CREATE TABLE ideas (
    tenant        text        NOT NULL,
    idea_id       uuid        NOT NULL,
    trend_id      uuid        NOT NULL,
    phrase        text        NOT NULL,
    niche         text        NOT NULL,
    product_type  text        NOT NULL,
    style         text        NOT NULL,
    audience      text        NOT NULL,
    tags          text[]      NOT NULL DEFAULT '{}',
    provider      text        NOT NULL,
    model         text,
    cost_micros   bigint      NOT NULL DEFAULT 0,
    status        text        NOT NULL,
    verdict       text,
    hits          jsonb       NOT NULL DEFAULT '[]',
    decided_by    jsonb,
    reject_reason text,
    created_at    timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL,
    version       bigint      NOT NULL,
    PRIMARY KEY (tenant, idea_id)
);
CREATE INDEX ideas_by_status ON ideas (tenant, status, created_at DESC);

CREATE TABLE designs (
    tenant        text        NOT NULL,
    design_id     uuid        NOT NULL,
    idea_id       uuid        NOT NULL,
    phrase        text        NOT NULL,
    product_type  text        NOT NULL,
    layout        text        NOT NULL,
    palette       text        NOT NULL,
    width         integer     NOT NULL,
    height        integer     NOT NULL,
    dpi           integer     NOT NULL,
    status        text        NOT NULL,
    artwork       jsonb,
    preview       jsonb,
    renderer      text,
    cost_micros   bigint      NOT NULL DEFAULT 0,
    failure       text,
    failures      integer     NOT NULL DEFAULT 0,
    created_at    timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL,
    version       bigint      NOT NULL,
    PRIMARY KEY (tenant, design_id)
);
CREATE INDEX designs_by_status ON designs (tenant, status, created_at DESC);

CREATE TABLE listings (
    tenant               text        NOT NULL,
    listing_id           uuid        NOT NULL,
    idea_id              uuid        NOT NULL,
    design_id            uuid        NOT NULL,
    title                text        NOT NULL,
    description          text        NOT NULL,
    tags                 text[]      NOT NULL DEFAULT '{}',
    price_cents          bigint      NOT NULL,
    currency             text        NOT NULL,
    seo_score            integer     NOT NULL,
    status               text        NOT NULL,
    revisions            integer     NOT NULL DEFAULT 0,
    shop_id              uuid,
    dry_run              boolean,
    printify_product_id  text,
    etsy_listing_id      text,
    url                  text,
    publish_error        text,
    created_at           timestamptz NOT NULL,
    updated_at           timestamptz NOT NULL,
    version              bigint      NOT NULL,
    PRIMARY KEY (tenant, listing_id)
);
CREATE INDEX listings_by_status ON listings (tenant, status, updated_at DESC);

CREATE TABLE listing_revisions (
    tenant      text        NOT NULL,
    listing_id  uuid        NOT NULL,
    version     bigint      NOT NULL,
    event_type  text        NOT NULL,
    changes     jsonb       NOT NULL,
    at          timestamptz NOT NULL,
    PRIMARY KEY (tenant, listing_id, version)
);

-- The per-tenant activity feed: one line per event.
CREATE TABLE activity (
    tenant          text        NOT NULL,
    stream_seq      bigint      NOT NULL,
    occurred_at     timestamptz NOT NULL,
    aggregate_type  text        NOT NULL,
    aggregate_id    uuid        NOT NULL,
    event_type      text        NOT NULL,
    summary         text        NOT NULL,
    -- occurred_at is in the key so the table can become a hypertable
    PRIMARY KEY (tenant, occurred_at, stream_seq)
);
CREATE INDEX activity_latest ON activity (tenant, stream_seq DESC);
