//! The pipeline end to end through the `pod` binary: each stage a separate
//! process, all of them talking only through events, against real NATS and
//! PostgreSQL, with the offline providers. Each test has its own NATS
//! namespace, database and asset directory.

#[path = "../backbone/support.rs"]
#[allow(dead_code)]
mod support;

mod common;
mod crash;
mod dead_letters;
mod end_to_end;
mod printify;
mod screen;
