//! The domain of POD Automator: identifiers, the event envelope, the aggregates
//! (Trend, Idea, Design, Listing, Shop, Order) with their commands, events and
//! rules, and the JetStream event store that persists them.
//!
//! Everything outside [`store`] is pure: no I/O, no clocks, no randomness.
//! Only [`store`] and [`envelope`] know how events travel on NATS.

pub mod codec;
pub mod domain;
pub mod envelope;
pub mod ids;
pub mod local_cluster;
pub mod namespace;
pub mod schema;
pub mod store;

pub use codec::{CodecError, EventCodec};
pub use envelope::{EventMeta, RecordedEvent};
pub use ids::{AggregateId, IdError, TenantId};
pub use namespace::Namespace;

/// Whether a failure may pass if the same thing is tried again later (a
/// connection lost, a writer race, a server away) or will fail the same way
/// (a rule, bad data, a bug). One answer for every layer: a worker NAKs a
/// transient failure and dead-letters the rest, a projection retries its
/// term or parks the event, the API answers 503 or a 4xx/500.
pub trait Transient {
    fn is_transient(&self) -> bool;
}
