//! `CommandBus<A>`: load → handle → append, retried on fresh state when a
//! concurrent writer got there first, and idempotent by command id.
//!
//! This is cqrs-es's `CqrsFramework::execute` plus what an event-sourced
//! service needs around it: a command already applied (same command id,
//! found in the aggregate's recent history or by the stream's duplicate
//! window) succeeds without effect, and "wrong last sequence" becomes a retry.

use std::time::Duration;

use cqrs_es::Aggregate;
use cqrs_es::event_sink::EventSink;
use rand::Rng;

use super::jetstream::JetStreamStore;
use super::{StoreError, StoreErrorKind};
use crate::codec::EventCodec;
use crate::domain::StateVersion;
use crate::envelope::EventMeta;
use crate::ids::AggregateId;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// New events were stored; `version` is the aggregate's sequence after them.
    Committed { version: u64, last_stream_seq: u64, events: usize },
    /// The command was accepted but changed nothing.
    Unchanged { version: u64 },
    /// This command id was applied before; nothing was stored this time.
    Duplicate,
}

#[derive(Debug, thiserror::Error)]
pub enum CommandError<E: std::error::Error> {
    /// The aggregate refused the command (a business rule).
    #[error("rejected: {0}")]
    Rejected(E),
    /// Concurrent writers kept winning; the caller may retry later (HTTP 409).
    #[error("aggregate {aggregate_id} kept changing under {attempts} attempts")]
    Conflict { aggregate_id: String, attempts: u32 },
    #[error(transparent)]
    Store(StoreError),
}

impl<E: std::error::Error> crate::Transient for CommandError<E> {
    /// A refusal stands; writers that kept winning, and the store's own
    /// trouble when it is transient, may pass later.
    fn is_transient(&self) -> bool {
        match self {
            CommandError::Rejected(_) => false,
            CommandError::Conflict { .. } => true,
            CommandError::Store(e) => crate::Transient::is_transient(e),
        }
    }
}

pub struct CommandBus<A: Aggregate> {
    store: JetStreamStore<A>,
    services: A::Services,
    max_attempts: u32,
}

impl<A> CommandBus<A>
where
    A: Aggregate + StateVersion + Clone,
    A::Event: EventCodec,
    A::Command: Clone,
{
    pub fn new(store: JetStreamStore<A>, services: A::Services) -> Self {
        Self { store, services, max_attempts: 64 }
    }

    pub fn with_max_attempts(mut self, n: u32) -> Self {
        self.max_attempts = n.max(1);
        self
    }

    pub fn store(&self) -> &JetStreamStore<A> {
        &self.store
    }

    #[tracing::instrument(skip(self, command, meta), fields(aggregate = A::TYPE, command_id = %meta.command_id))]
    pub async fn execute(
        &self,
        id: &AggregateId,
        command: A::Command,
        meta: &EventMeta,
    ) -> Result<Outcome, CommandError<A::Error>> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            // First try the cached state; after a conflict, what the stream says.
            let cached = if attempt == 1 { self.store.cached_context(id) } else { None };
            let from_cache = cached.is_some();
            let mut ctx = match cached {
                Some(c) => c,
                None => self.store.load_fresh(id).await.map_err(CommandError::Store)?,
            };
            if ctx.has_applied(&meta.command_id) {
                return Ok(Outcome::Duplicate);
            }
            let sink = EventSink::<A>::default();
            let decided = ctx.aggregate.handle(command.clone(), &self.services, &sink).await;
            let events = sink.collect().await;
            // A refusal or a no-op is only final on fresh state: another
            // process may have moved the aggregate since this one cached it.
            if from_cache && (decided.is_err() || events.is_empty()) {
                continue;
            }
            decided.map_err(CommandError::Rejected)?;
            if events.is_empty() {
                return Ok(Outcome::Unchanged { version: ctx.version });
            }
            match self.store.append(&events, ctx, meta).await {
                Ok((c, _)) if c.duplicate => return Ok(Outcome::Duplicate),
                Ok((c, _)) => {
                    return Ok(Outcome::Committed {
                        version: c.version,
                        last_stream_seq: c.last_stream_seq,
                        events: events.len(),
                    });
                }
                Err(e) if e.kind() == StoreErrorKind::Conflict && attempt < self.max_attempts => {
                    // Back off a little, with jitter, so racing writers spread out.
                    let cap = 1u64 << attempt.min(6);
                    let wait = rand::rng().random_range(0..=cap);
                    tokio::time::sleep(Duration::from_millis(wait)).await;
                }
                Err(e) if e.kind() == StoreErrorKind::Conflict => {
                    return Err(CommandError::Conflict { aggregate_id: id.to_string(), attempts: attempt });
                }
                Err(e) => return Err(CommandError::Store(e)),
            }
        }
    }
}
