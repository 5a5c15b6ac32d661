-- The projection runtime: one checkpoint per projection, written in the same
-- transaction as the read-model rows it covers.
CREATE TABLE projection_checkpoints (
    projection  text PRIMARY KEY,
    last_seq    bigint      NOT NULL DEFAULT 0,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    -- bumped by every rebuild swap
    generation  integer     NOT NULL DEFAULT 1
);
