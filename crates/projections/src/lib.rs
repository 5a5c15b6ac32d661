//! The read side: projections that turn the event log into PostgreSQL read
//! models, the runtime that drives them effectively-once, rebuilds into
//! shadow tables, and the typed reads over the read models (`read`), which
//! are the only way the API and the dashboard read them.
//!
//! Depends on `pod-events` only. Never writes to the event log.

pub mod db;
mod lease;
pub mod models;
pub mod parked;
pub mod read;
pub mod rebuild;
pub mod runtime;
pub mod status;

pub use models::{Projection, all_projections, projection_named};
pub use runtime::{ProjectionError, Projector, RunOptions};
