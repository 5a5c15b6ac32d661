//! Tests of the worker runtime and the trend sources against real NATS
//! (≥ 2.12; `scripts/services.sh` starts it on 127.0.0.1:14222) and local
//! HTTP servers. Each test has its own NATS namespace.

#[path = "../../../events/tests/store/support.rs"]
#[allow(dead_code)]
mod support;

/// A migrated database of a test's own (shared with the marketplace tests).
#[path = "../../../marketplaces/tests/common/mod.rs"]
#[allow(dead_code)]
mod shared_db;

mod browser;
mod budget;
mod idempotency;
mod openai;
mod publishing;
mod renders;
mod rounds;
mod runtime;
mod s3;
mod sources;
