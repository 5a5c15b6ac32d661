//! End-to-end tests of the event backbone through the `pod` binary, against
//! real NATS (≥ 2.12, `scripts/services.sh` starts it on 127.0.0.1:14222) and
//! real PostgreSQL. Each test has its own NATS namespace and its own database.

mod support;

mod deploy;
mod fencing;
mod hostile_cli;
mod kill9;
mod parking;
mod read_models;
mod rebuild_under_reads;
mod replay;
mod vault;
