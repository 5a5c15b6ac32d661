-- Projection leadership as a lease with a fencing token, and parked events.
--
-- A projector leads while its lease is unexpired (the database's clock is the
-- only clock that counts). Taking over bumps `epoch`; every batch checks and
-- extends the lease in its own transaction, so a deposed leader's commit
-- finds another epoch and is refused.
CREATE TABLE projection_leases (
    projection  text PRIMARY KEY,
    holder      uuid        NOT NULL,
    epoch       bigint      NOT NULL,
    expires_at  timestamptz NOT NULL,
    acquired_at timestamptz NOT NULL DEFAULT now()
);

-- The epoch of the leader that wrote the checkpoint last.
ALTER TABLE projection_checkpoints ADD COLUMN epoch bigint NOT NULL DEFAULT 0;

-- An event one projection could not apply because of its own data (its
-- encoding, a constraint, a payload it cannot decode). The checkpoint moves
-- past it; the event waits here for `pod projections retry|skip`.
CREATE TABLE projection_parked (
    projection  text        NOT NULL,
    stream_seq  bigint      NOT NULL,
    subject     text        NOT NULL,
    tenant      text,
    event_type  text,
    error       text        NOT NULL,
    parked_at   timestamptz NOT NULL DEFAULT now(),
    -- NULL while parked; 'retried' once applied, 'skipped' when given up on.
    resolution  text CHECK (resolution IN ('retried', 'skipped')),
    resolved_at timestamptz,
    PRIMARY KEY (projection, stream_seq)
);
CREATE INDEX projection_parked_open ON projection_parked (projection, stream_seq) WHERE resolution IS NULL;
CREATE INDEX projection_parked_tenant ON projection_parked (tenant, parked_at DESC) WHERE resolution IS NULL;
