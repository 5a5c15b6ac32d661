//! Integration tests of the JetStream event store against a real NATS
//! (≥ 2.12; `scripts/services.sh` starts one on 127.0.0.1:14222). Each test
//! runs in its own namespace (stream, KV bucket) and deletes it afterwards.

mod support;

mod cluster;
mod concurrency;
mod definitions;
mod idempotency;
mod loading;
