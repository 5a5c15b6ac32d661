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

/// What kind of failure a store operation met. The kind decides what
/// whoever called does next ([`StoreError::is_transient`]); the error's text
/// says what was being done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreErrorKind {
    /// NATS did not answer, or answered with an error: may pass later.
    Unavailable,
    /// Another writer moved the aggregate first: try again on its new state.
    Conflict,
    /// A stored event, snapshot or message does not read as what it should be.
    Unreadable,
    /// An id that is not one (`<tenant>.<uuid>`).
    BadId,
    /// The store was asked for something it cannot do as asked: a bug of
    /// the caller, the same every time.
    Misuse,
}

/// An error of the store's own operations, in the async-nats shape: a
/// [`StoreErrorKind`] to match on, what was being done, and the cause.
#[derive(Debug)]
pub struct StoreError {
    kind: StoreErrorKind,
    context: String,
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.source {
            Some(source) => write!(f, "{}: {source}", self.context),
            None => f.write_str(&self.context),
        }
    }
}

impl std::error::Error for StoreError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source.as_deref().map(|e| e as &(dyn std::error::Error + 'static))
    }
}

impl StoreError {
    pub fn new(
        kind: StoreErrorKind,
        context: impl Into<String>,
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        Self { kind, context: context.into(), source }
    }
    pub fn kind(&self) -> StoreErrorKind {
        self.kind
    }
    /// NATS failed while doing `what`.
    pub(crate) fn nats(what: impl Into<String>, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self::new(StoreErrorKind::Unavailable, what, Some(Box::new(source)))
    }
    /// Another writer got to `subject` first.
    pub(crate) fn conflict(subject: impl Into<String>) -> Self {
        Self::new(
            StoreErrorKind::Conflict,
            format!("concurrent change to {}: its last sequence moved", subject.into()),
            None,
        )
    }
    /// A message or snapshot that does not read.
    pub(crate) fn unreadable(
        what: impl Into<String>,
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        Self::new(StoreErrorKind::Unreadable, what, source)
    }
}

impl crate::Transient for StoreError {
    /// NATS trouble and writer races pass; unreadable data, bad ids and
    /// misuse fail the same way every time.
    fn is_transient(&self) -> bool {
        matches!(self.kind, StoreErrorKind::Unavailable | StoreErrorKind::Conflict)
    }
}

impl From<crate::CodecError> for StoreError {
    fn from(e: crate::CodecError) -> Self {
        Self::unreadable("decoding an event", Some(Box::new(e)))
    }
}

impl From<crate::envelope::EnvelopeError> for StoreError {
    fn from(e: crate::envelope::EnvelopeError) -> Self {
        Self::unreadable("reading an event's envelope", Some(Box::new(e)))
    }
}

impl From<crate::IdError> for StoreError {
    fn from(e: crate::IdError) -> Self {
        Self::new(StoreErrorKind::BadId, "reading an aggregate id", Some(Box::new(e)))
    }
}

impl<T: std::error::Error> From<StoreError> for cqrs_es::AggregateError<T> {
    fn from(e: StoreError) -> Self {
        match e.kind {
            StoreErrorKind::Conflict => cqrs_es::AggregateError::AggregateConflict,
            StoreErrorKind::Unreadable => cqrs_es::AggregateError::DeserializationError(Box::new(e)),
            StoreErrorKind::BadId | StoreErrorKind::Misuse => cqrs_es::AggregateError::UnexpectedError(Box::new(e)),
            StoreErrorKind::Unavailable => cqrs_es::AggregateError::DatabaseConnectionError(Box::new(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{CommandError, StoreError, StoreErrorKind};
    use crate::Transient;

    #[test]
    fn only_nats_trouble_and_writer_races_are_worth_another_try() {
        for (kind, transient) in [
            (StoreErrorKind::Unavailable, true),
            (StoreErrorKind::Conflict, true),
            (StoreErrorKind::Unreadable, false),
            (StoreErrorKind::BadId, false),
            (StoreErrorKind::Misuse, false),
        ] {
            assert_eq!(StoreError::new(kind, "doing it", None).is_transient(), transient, "{kind:?}");
        }
        // An id that is not one fails the same way every time.
        assert_eq!(StoreError::from(crate::IdError::BadTenant("X".into())).kind(), StoreErrorKind::BadId);
    }

    #[test]
    fn a_refusal_stands_and_a_command_is_transient_as_its_store_trouble_is() {
        let refused: CommandError<std::fmt::Error> = CommandError::Rejected(std::fmt::Error);
        assert!(!refused.is_transient());
        let raced: CommandError<std::fmt::Error> = CommandError::Conflict { aggregate_id: "a".into(), attempts: 5 };
        assert!(raced.is_transient());
        let away: CommandError<std::fmt::Error> =
            CommandError::Store(StoreError::new(StoreErrorKind::Unavailable, "reading", None));
        assert!(away.is_transient());
        let unreadable: CommandError<std::fmt::Error> =
            CommandError::Store(StoreError::new(StoreErrorKind::Unreadable, "reading", None));
        assert!(!unreadable.is_transient());
    }

    #[test]
    fn an_error_says_what_was_being_done_and_why() {
        let e = StoreError::nats("publishing to pod.evt.idea.acme.1", std::fmt::Error);
        assert_eq!(e.to_string(), "publishing to pod.evt.idea.acme.1: an error occurred when formatting an argument");
        assert!(std::error::Error::source(&e).is_some());
    }
}
