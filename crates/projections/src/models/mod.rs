//! The projections: each turns the events of some aggregate types into rows
//! of the tables it owns. Only its projection writes a table.

mod activity;
mod budgets;
mod copy_text;
mod designs;
mod ideas;
mod listings;
mod orders;
mod runs;
mod shops;
mod sources;
mod trends;

use futures::future::BoxFuture;
use pod_events::RecordedEvent;
use sqlx::PgConnection;

pub use activity::{Activity, summarize};
pub use budgets::Budgets;
pub use designs::Designs;
pub use ideas::Ideas;
pub use listings::Listings;
pub use orders::Orders;
pub use runs::Runs;
pub use shops::Shops;
pub use sources::Sources;
pub use trends::Trends;

#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error(transparent)]
    Db(#[from] sqlx::Error),
    #[error("event {seq} ({event_type}): {source}")]
    Decode { seq: u64, event_type: String, source: pod_events::CodecError },
    #[error("event {seq}: aggregate id {aggregate_id:?} is not <tenant>.<uuid>")]
    BadId { seq: u64, aggregate_id: String },
    #[error("encoding a read-model value: {0}")]
    Json(#[from] serde_json::Error),
}

impl pod_events::Transient for ApplyError {
    /// Not transient: this event's own data is what cannot be applied (so
    /// applying it again would fail the same way) — a payload that does not
    /// decode, an id that is not one, or PostgreSQL refusing the data
    /// (SQLSTATE class 22, data exception, e.g. a NUL in text; class 23, a
    /// violated constraint). Such an event is parked. Anything else (a lost
    /// connection, a serialization failure, a lock timeout, a missing column)
    /// is about the system, not the event: the term ends and is retried.
    ///
    /// An event of a newer version or a type this program does not know is
    /// not the event's fault either: an upgrade reads it. That ends the term
    /// (the projection waits, retrying, for the upgrade) rather than parking it.
    fn is_transient(&self) -> bool {
        match self {
            ApplyError::Decode { .. } => self.waits_for_upgrade(),
            ApplyError::BadId { .. } | ApplyError::Json(_) => false,
            ApplyError::Db(e) => !is_data_error(e),
        }
    }
}

impl ApplyError {
    /// An event of a newer version, or of a type this program does not know:
    /// an upgrade reads it, so the projection waits rather than park it.
    pub fn waits_for_upgrade(&self) -> bool {
        matches!(
            self,
            ApplyError::Decode {
                source: pod_events::CodecError::FromTheFuture { .. } | pod_events::CodecError::UnknownType(_),
                ..
            }
        )
    }
}

/// PostgreSQL refused the data itself (SQLSTATE classes 22 and 23).
pub(crate) fn is_data_error(e: &sqlx::Error) -> bool {
    e.as_database_error().and_then(|d| d.code()).is_some_and(|c| c.starts_with("22") || c.starts_with("23"))
}

pub(crate) fn decode<E: pod_events::EventCodec>(e: &RecordedEvent) -> Result<E, ApplyError> {
    e.to_domain().map_err(|source| ApplyError::Decode { seq: e.stream_seq, event_type: e.event_type.clone(), source })
}

/// The uuid part of `<tenant>.<uuid>`.
pub(crate) fn uuid_of(e: &RecordedEvent) -> Result<uuid::Uuid, ApplyError> {
    e.aggregate_id
        .split_once('.')
        .and_then(|(_, id)| id.parse().ok())
        .ok_or_else(|| ApplyError::BadId { seq: e.stream_seq, aggregate_id: e.aggregate_id.clone() })
}

pub trait Projection: Send + Sync {
    /// Short name: `trends`, `ideas`, …; its consumer is `<prefix>_proj_<name>`.
    fn name(&self) -> &'static str;
    /// Aggregate types it reads (empty: all of them).
    fn aggregate_types(&self) -> &'static [&'static str];
    /// The tables it owns (rebuilt and swapped together).
    fn tables(&self) -> &'static [&'static str];
    /// Tables that are TimescaleDB hypertables, with their time column.
    fn hypertables(&self) -> &'static [(&'static str, &'static str)] {
        &[]
    }
    /// Applies a batch of events, in stream order, inside the caller's transaction.
    fn apply<'a>(
        &'a self,
        tx: &'a mut PgConnection,
        events: &'a [RecordedEvent],
    ) -> BoxFuture<'a, Result<(), ApplyError>>;
}

pub fn all_projections() -> Vec<Box<dyn Projection>> {
    vec![
        Box::new(Trends),
        Box::new(Ideas),
        Box::new(Designs),
        Box::new(Listings),
        Box::new(Activity),
        Box::new(Sources),
        Box::new(Budgets),
        Box::new(Shops),
        Box::new(Orders),
        Box::new(Runs),
    ]
}

pub fn projection_named(name: &str) -> Option<Box<dyn Projection>> {
    all_projections().into_iter().find(|p| p.name() == name)
}

/// Filter subjects of a projection's consumer in namespace `ns`.
pub fn filter_subjects(p: &dyn Projection, ns: &pod_events::Namespace) -> Vec<String> {
    if p.aggregate_types().is_empty() {
        vec![ns.all_events()]
    } else {
        p.aggregate_types().iter().map(|a| ns.aggregate_events(a)).collect()
    }
}
