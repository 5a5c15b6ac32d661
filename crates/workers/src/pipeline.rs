//! The command buses the stages write through, and the rules for turning a
//! command's outcome into a handler's result.

use pod_events::domain::{
    budget::Budget, design::Design, idea::Idea, listing::Listing, order::Order, shop::Shop, source::TrendSource,
    trend::Trend,
};
use pod_events::store::{CommandBus, CommandError, JetStreamStore, Outcome, StoreConfig, StoreError};
use pod_events::{AggregateId, EventMeta, Namespace, RecordedEvent, TenantId};

use crate::runtime::HandlerError;

/// One command bus per aggregate the pipeline writes to.
pub struct Pipeline {
    pub trends: CommandBus<Trend>,
    pub ideas: CommandBus<Idea>,
    pub designs: CommandBus<Design>,
    pub listings: CommandBus<Listing>,
    pub budgets: CommandBus<Budget>,
    pub sources: CommandBus<TrendSource>,
    pub shops: CommandBus<Shop>,
    pub orders: CommandBus<Order>,
}

impl Pipeline {
    pub async fn open(client: async_nats::Client, ns: &Namespace) -> Result<Self, StoreError> {
        let config = StoreConfig { namespace: ns.clone(), ..Default::default() };
        Ok(Self {
            trends: CommandBus::new(JetStreamStore::open(client.clone(), config.clone()).await?, ()),
            ideas: CommandBus::new(JetStreamStore::open(client.clone(), config.clone()).await?, ()),
            designs: CommandBus::new(JetStreamStore::open(client.clone(), config.clone()).await?, ()),
            listings: CommandBus::new(JetStreamStore::open(client.clone(), config.clone()).await?, ()),
            budgets: CommandBus::new(JetStreamStore::open(client.clone(), config.clone()).await?, ()),
            sources: CommandBus::new(JetStreamStore::open(client.clone(), config.clone()).await?, ()),
            shops: CommandBus::new(JetStreamStore::open(client.clone(), config.clone()).await?, ()),
            orders: CommandBus::new(JetStreamStore::open(client, config).await?, ()),
        })
    }
}

/// The aggregate an event belongs to.
pub fn source_id(event: &RecordedEvent) -> Result<AggregateId, HandlerError> {
    event.aggregate_id.parse().map_err(|e| HandlerError::permanent(format!("event {}: {e}", event.msg_id())))
}

/// The tenant of an event.
pub fn tenant_of(event: &RecordedEvent) -> Result<TenantId, HandlerError> {
    TenantId::parse(event.tenant.clone()).map_err(|e| HandlerError::permanent(format!("event {}: {e}", event.msg_id())))
}

/// A store failure: retried when it may pass (NATS away, a writer race),
/// dead-lettered when it will fail the same way.
pub fn store_failure(e: StoreError) -> HandlerError {
    HandlerError::of(e)
}

/// Runs a command the handler derived from `cause`. A refusal that means
/// "this was already done" (another replica, an earlier delivery) counts as
/// success; any other refusal is permanent; store trouble is transient.
pub async fn settle<A>(
    bus: &CommandBus<A>,
    id: &AggregateId,
    command: A::Command,
    meta: &EventMeta,
    already_done: impl Fn(&A::Error) -> bool,
) -> Result<Outcome, HandlerError>
where
    A: cqrs_es::Aggregate + pod_events::domain::StateVersion + Clone,
    A::Event: pod_events::EventCodec,
    A::Command: Clone,
{
    match bus.execute(id, command, meta).await {
        Ok(o) => Ok(o),
        Err(CommandError::Rejected(e)) if already_done(&e) => Ok(Outcome::Unchanged { version: 0 }),
        Err(CommandError::Rejected(e)) => Err(HandlerError::permanent(format!("{} {id} refused: {e}", A::TYPE))),
        Err(CommandError::Conflict { .. }) => Err(HandlerError::transient(format!("{} {id} kept changing", A::TYPE))),
        Err(CommandError::Store(e)) => Err(store_failure(e)),
    }
}
