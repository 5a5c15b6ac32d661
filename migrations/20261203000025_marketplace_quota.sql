-- What the marketplace last said is left of the app's daily requests
-- (Etsy's x-remaining-today and x-limit-per-day, one app for all shops),
-- kept by the workers that call it, shown on Integrations.
CREATE TABLE marketplace_quota (
    marketplace      text        PRIMARY KEY,
    remaining_today  bigint,
    limit_per_day    bigint,
    seen_at          timestamptz NOT NULL
);

-- Each tenant's requests to a marketplace app per UTC day: a tenant's
-- share of the app's day is counted here, across every worker process,
-- so one tenant's bulk publish cannot spend the day of every other.
CREATE TABLE marketplace_usage (
    tenant       text   NOT NULL,
    marketplace  text   NOT NULL,
    day          date   NOT NULL,
    requests     bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant, marketplace, day)
);
