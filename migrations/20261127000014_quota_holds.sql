-- Quota holds: a command that uses a plan's quota holds its units while it
-- is on its way to the read models, so that requests made at the same time
-- see each other and cannot together go past the limit. A hold stops
-- counting once the read model shows its effect (or after a few minutes,
-- for effects no read model row names).
CREATE TABLE quota_holds (
    hold_id       uuid        PRIMARY KEY,
    tenant        text        NOT NULL,
    resource      text        NOT NULL,
    -- The aggregate whose change the hold is for (an idea, a listing, a trend, a design).
    aggregate_id  uuid        NOT NULL,
    units         integer     NOT NULL CHECK (units > 0),
    held_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX quota_holds_by_tenant ON quota_holds (tenant, resource, held_at);
