//! The event store: cqrs-es over JetStream. The only code that publishes to
//! or reads aggregates from the event stream, and (with [`crate::envelope`])
//! the only code that knows JetStream headers.

mod batch;
mod bus;
mod connect;
pub mod dead_letters;
pub mod definitions;
mod jetstream;
pub mod reader;
mod snapshot;

pub use bus::{CommandBus, CommandError, Outcome};
pub use connect::{ConnectError, MIN_SERVER, connect, parse_version};
pub use jetstream::{JetStreamContext, JetStreamStore, StoreConfig};

/// Errors of the store's own operations, with the context of what was being done.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{what}: {source}")]
    Nats { what: String, source: Box<dyn std::error::Error + Send + Sync> },
    #[error("concurrent change to aggregate {0}: its last sequence moved")]
    Conflict(String),
    #[error(transparent)]
    Codec(#[from] crate::CodecError),
    #[error(transparent)]
    Envelope(#[from] crate::envelope::EnvelopeError),
    #[error(transparent)]
    Id(#[from] crate::IdError),
    #[error("snapshot of {0} is unreadable: {1}")]
    Snapshot(String, serde_json::Error),
    #[error("malformed message: {0}")]
    Malformed(String),
}

impl StoreError {
    pub(crate) fn nats(what: impl Into<String>, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self::Nats { what: what.into(), source: Box::new(source) }
    }
}

impl<T: std::error::Error> From<StoreError> for cqrs_es::AggregateError<T> {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(_) => cqrs_es::AggregateError::AggregateConflict,
            StoreError::Codec(_) | StoreError::Envelope(_) | StoreError::Snapshot(..) | StoreError::Malformed(_) => {
                cqrs_es::AggregateError::DeserializationError(Box::new(e))
            }
            StoreError::Id(_) => cqrs_es::AggregateError::UnexpectedError(Box::new(e)),
            StoreError::Nats { .. } => cqrs_es::AggregateError::DatabaseConnectionError(Box::new(e)),
        }
    }
}
