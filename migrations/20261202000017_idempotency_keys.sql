-- Idempotency-Key, as the API received it: scoped to the tenant, the route and
-- the resource, and bound to the request it first came with. The same key
-- with another request is refused (422); the same request is the same command.
CREATE TABLE idempotency_keys (
    tenant          text        NOT NULL,
    route           text        NOT NULL,
    resource        text        NOT NULL,
    key             text        NOT NULL,
    request_sha256  bytea       NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant, route, resource, key)
);
CREATE INDEX idempotency_keys_age ON idempotency_keys (created_at);
