-- Every refresh of every trend source, with its audit.
CREATE TABLE source_refreshes (
    tenant      text        NOT NULL,
    source      text        NOT NULL,
    at          timestamptz NOT NULL,
    stream_seq  bigint      NOT NULL,
    used        text,
    collected   bigint      NOT NULL,
    persisted   bigint      NOT NULL,
    duplicates  bigint      NOT NULL,
    failed      bigint      NOT NULL,
    blocked     bigint      NOT NULL,
    breaker     text        NOT NULL,
    errors      jsonb       NOT NULL DEFAULT '[]',
    PRIMARY KEY (tenant, source, at, stream_seq)
);
CREATE INDEX source_refreshes_latest ON source_refreshes (tenant, source, at DESC);

-- What each tenant's paid provider calls cost, per month.
CREATE TABLE budget_months (
    tenant         text        NOT NULL,
    budget_id      uuid        NOT NULL,
    month          text        NOT NULL,
    total_micros   bigint      NOT NULL,
    calls          bigint      NOT NULL,
    chat_micros    bigint      NOT NULL DEFAULT 0,
    image_micros   bigint      NOT NULL DEFAULT 0,
    exhausted_at   timestamptz,
    limit_micros   bigint,
    updated_at     timestamptz NOT NULL,
    version        bigint      NOT NULL,
    PRIMARY KEY (tenant, budget_id)
);
