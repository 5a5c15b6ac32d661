//! `JetStreamStore<A>`: a cqrs-es `EventStore` over the JetStream event log.
//!
//! * Each aggregate instance is one subject; its context carries the stream
//!   sequence of its last message, which becomes
//!   `Nats-Expected-Last-Subject-Sequence` on commit (optimistic concurrency).
//! * The events of one commit are one atomic batch (one message per event).
//! * Loads ask the stream's leader for the subject's last message and
//!   replay only what the in-process cache or the KV snapshot does not cover.

use std::collections::{HashMap, VecDeque};
use std::marker::PhantomData;
use std::sync::{Arc, Mutex};

use async_nats::HeaderMap;
use async_nats::jetstream::{self, consumer, stream::LastRawMessageErrorKind};
use chrono::Utc;
use cqrs_es::{Aggregate, AggregateContext, AggregateError, EventEnvelope, EventStore};
use futures::StreamExt;
use serde::{Deserialize, Serialize};

use super::batch::{self, OutgoingEvent};
use super::snapshot::{Loaded, SnapshotStore};
use super::{StoreError, StoreErrorKind};
use crate::codec::EventCodec;
use crate::domain::StateVersion;
use crate::envelope::*;
use crate::ids::AggregateId;
use crate::namespace::Namespace;

/// How many recent command ids an aggregate remembers, to refuse a command it
/// has already applied even after the stream's duplicate window has passed.
pub const REMEMBERED_COMMANDS: usize = 64;

#[derive(Debug, Clone)]
pub struct StoreConfig {
    pub namespace: Namespace,
    /// Write a snapshot every this many events (0: never).
    pub snapshot_every: u64,
    /// How many aggregates to keep in the in-process cache.
    pub cache_capacity: usize,
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self { namespace: Namespace::default(), snapshot_every: 100, cache_capacity: 10_000 }
    }
}

/// What a load returns and a commit consumes.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JetStreamContext<A> {
    #[serde(skip, default = "placeholder_id")]
    pub aggregate_id: Option<AggregateId>,
    pub aggregate: A,
    /// Aggregate sequence of the last applied event (0: none yet).
    pub version: u64,
    /// Stream sequence of the last applied event (0: none yet).
    pub last_stream_seq: u64,
    /// Fingerprints of the most recent command ids applied to this aggregate
    /// (fixed-size, so the context clones without allocating per command).
    pub recent_commands: VecDeque<u128>,
}

/// The `Nats-Msg-Id` of event `i` of `n` a command stores on `subject`. The
/// stream's duplicate window is stream-wide, so the id is scoped by the
/// aggregate's subject (which holds its type and tenant): the same command id
/// on another aggregate, or in another shop, is another message.
pub(crate) fn msg_id(subject: &str, command_id: &str, i: usize, n: usize) -> String {
    if n == 1 { format!("{subject}/{command_id}") } else { format!("{subject}/{command_id}:{i}") }
}

/// 122 bits of SHA-1 (a name-based UUID) of a command id.
fn fingerprint(command_id: &str) -> u128 {
    uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, command_id.as_bytes()).as_u128()
}

fn placeholder_id() -> Option<AggregateId> {
    None
}

impl<A> JetStreamContext<A> {
    pub fn has_applied(&self, command_id: &str) -> bool {
        let f = fingerprint(command_id);
        self.recent_commands.contains(&f)
    }
    fn remember(&mut self, command_id: &str) {
        let f = fingerprint(command_id);
        if command_id.is_empty() || self.recent_commands.back() == Some(&f) {
            return;
        }
        self.recent_commands.push_back(f);
        while self.recent_commands.len() > REMEMBERED_COMMANDS {
            self.recent_commands.pop_front();
        }
    }
}

impl<A: Aggregate> AggregateContext<A> for JetStreamContext<A> {
    fn aggregate(&mut self) -> &mut A {
        &mut self.aggregate
    }
}

/// The result of a commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Committed {
    /// Stream sequence of the last event written (of the original, if duplicate).
    pub last_stream_seq: u64,
    /// Aggregate sequence after the commit.
    pub version: u64,
    /// The server recognised the command id and stored nothing.
    pub duplicate: bool,
}

pub struct JetStreamStore<A: Aggregate> {
    js: jetstream::Context,
    stream: jetstream::stream::Stream,
    snapshots: Option<SnapshotStore>,
    config: StoreConfig,
    cache: Arc<Mutex<HashMap<String, JetStreamContext<A>>>>,
    _aggregate: PhantomData<A>,
}

impl<A: Aggregate> Clone for JetStreamStore<A> {
    fn clone(&self) -> Self {
        Self {
            js: self.js.clone(),
            stream: self.stream.clone(),
            snapshots: self.snapshots.clone(),
            config: self.config.clone(),
            cache: self.cache.clone(),
            _aggregate: PhantomData,
        }
    }
}

impl<A> JetStreamStore<A>
where
    A: Aggregate + StateVersion + Clone,
    A::Event: EventCodec,
{
    /// Opens the store over an existing event stream (see `pod nats apply`).
    pub async fn open(client: async_nats::Client, config: StoreConfig) -> Result<Self, StoreError> {
        let js = jetstream::new(client);
        let name = config.namespace.events_stream();
        let stream = js
            .get_stream(&name)
            .await
            .map_err(|e| StoreError::nats(format!("opening stream {name} (run `pod nats apply`)"), e))?;
        let snapshots =
            if config.snapshot_every > 0 { Some(SnapshotStore::open(&js, &config.namespace).await?) } else { None };
        Ok(Self { js, stream, snapshots, config, cache: Default::default(), _aggregate: PhantomData })
    }

    pub fn namespace(&self) -> &Namespace {
        &self.config.namespace
    }

    fn subject(&self, id: &AggregateId) -> String {
        self.config.namespace.aggregate_subject(A::TYPE, id)
    }

    fn cached(&self, key: &str) -> Option<JetStreamContext<A>> {
        self.cache.lock().ok().and_then(|c| c.get(key).cloned())
    }

    fn cache_put(&self, key: String, ctx: JetStreamContext<A>) {
        if let Ok(mut c) = self.cache.lock() {
            if c.len() >= self.config.cache_capacity && !c.contains_key(&key) {
                // Cheap bound: drop everything; the stream is the truth and reloads are fast.
                c.clear();
            }
            c.insert(key, ctx);
        }
    }

    fn forget(&self, key: &str) {
        if let Ok(mut c) = self.cache.lock() {
            c.remove(key);
        }
    }

    /// Loads an aggregate, optimistically: an aggregate this process wrote
    /// last comes from the cache without asking the stream. If another
    /// process has written since, the commit's expected-sequence check fails,
    /// the entry is dropped, and the retry calls [`Self::load_fresh`].
    pub async fn load(&self, id: &AggregateId) -> Result<JetStreamContext<A>, StoreError> {
        match self.cached_context(id) {
            Some(ctx) => Ok(ctx),
            None => self.load_fresh(id).await,
        }
    }

    /// The aggregate as this process last wrote or loaded it, if cached.
    /// It may be stale: use it only where a stale state is caught (a commit's
    /// sequence check) or re-checked.
    pub fn cached_context(&self, id: &AggregateId) -> Option<JetStreamContext<A>> {
        self.cached(&id.to_string())
    }

    /// Loads an aggregate's current state as the stream has it now.
    #[tracing::instrument(skip(self), fields(aggregate = A::TYPE))]
    pub async fn load_fresh(&self, id: &AggregateId) -> Result<JetStreamContext<A>, StoreError> {
        let subject = self.subject(id);
        let key = id.to_string();
        // From the stream's leader, not a direct get that any replica may
        // answer: on a replicated stream a lagging replica would hand back a
        // state without the write just made, and a decision taken on it
        // would be wrong (a worker acking a submission it never published).
        let last = match self.stream.get_last_raw_message_by_subject(&subject).await {
            Ok(m) => m,
            Err(e) if e.kind() == LastRawMessageErrorKind::NoMessageFound => {
                return Ok(JetStreamContext {
                    aggregate_id: Some(id.clone()),
                    aggregate: A::default(),
                    version: 0,
                    last_stream_seq: 0,
                    recent_commands: VecDeque::new(),
                });
            }
            Err(e) => return Err(StoreError::nats(format!("reading the last event of {subject}"), e)),
        };
        // Up to date in the cache: done. Behind: start from it. Else a snapshot, else nothing.
        let mut snapshot_unusable = false;
        let mut ctx = match self.cached(&key) {
            Some(c) if c.last_stream_seq == last.sequence => return Ok(c),
            Some(c) if c.last_stream_seq < last.sequence => c,
            _ => match &self.snapshots {
                Some(s) => match s.load::<A>(A::TYPE, id).await? {
                    Loaded::Usable(c) if c.last_stream_seq <= last.sequence => Some(c),
                    Loaded::Usable(_) | Loaded::None => None,
                    Loaded::Unusable => {
                        snapshot_unusable = true;
                        None
                    }
                },
                None => None,
            }
            .unwrap_or_else(|| JetStreamContext {
                aggregate_id: Some(id.clone()),
                aggregate: A::default(),
                version: 0,
                last_stream_seq: 0,
                recent_commands: VecDeque::new(),
            }),
        };
        ctx.aggregate_id = Some(id.clone());
        let last_event = self.decode(last.sequence, &subject, &last.headers, &last.payload, last.time)?;
        if last_event.aggregate_seq == ctx.version + 1 {
            Self::apply_recorded(&mut ctx, &last_event)?;
        } else if last.sequence > ctx.last_stream_seq {
            for e in self.read_subject(&subject, ctx.last_stream_seq + 1, last.sequence).await? {
                Self::apply_recorded(&mut ctx, &e)?;
            }
        }
        if snapshot_unusable && let Some(s) = &self.snapshots {
            // Of another state version (or unreadable): rewritten from the replay.
            if let Err(e) = s.save(A::TYPE, id, &ctx).await {
                tracing::warn!(error = %e, aggregate_id = %id, "snapshot not rewritten");
            }
        }
        self.cache_put(key, ctx.clone());
        Ok(ctx)
    }

    fn apply_recorded(ctx: &mut JetStreamContext<A>, e: &RecordedEvent) -> Result<(), StoreError> {
        let event: A::Event = e.to_domain()?;
        ctx.aggregate.apply(event);
        ctx.version = e.aggregate_seq;
        ctx.last_stream_seq = e.stream_seq;
        ctx.remember(&e.command_id);
        Ok(())
    }

    fn decode(
        &self,
        seq: u64,
        subject: &str,
        headers: &HeaderMap,
        payload: &[u8],
        time: time::OffsetDateTime,
    ) -> Result<RecordedEvent, StoreError> {
        let time = crate::envelope::nats_time(time);
        Ok(RecordedEvent::decode(&self.config.namespace, seq, subject, headers, payload, time)?)
    }

    /// Reads the messages of one subject from `from` through `to` (stream sequences).
    async fn read_subject(&self, subject: &str, from: u64, to: u64) -> Result<Vec<RecordedEvent>, StoreError> {
        let mut out = Vec::new();
        if to < from {
            return Ok(out);
        }
        let consumer = self
            .stream
            .create_consumer(consumer::pull::OrderedConfig {
                filter_subject: subject.to_owned(),
                deliver_policy: consumer::DeliverPolicy::ByStartSequence { start_sequence: from },
                ..Default::default()
            })
            .await
            .map_err(|e| StoreError::nats(format!("creating an ordered consumer on {subject}"), e))?;
        let mut messages = consumer.messages().await.map_err(|e| StoreError::nats(format!("reading {subject}"), e))?;
        while let Some(msg) = messages.next().await {
            let msg = msg.map_err(|e| StoreError::nats(format!("reading {subject}"), e))?;
            let e = RecordedEvent::from_jetstream(&self.config.namespace, &msg)?;
            let seq = e.stream_seq;
            out.push(e);
            if seq >= to {
                break;
            }
        }
        Ok(out)
    }

    /// Every event of one aggregate, oldest first.
    pub async fn history(&self, id: &AggregateId) -> Result<Vec<RecordedEvent>, StoreError> {
        let subject = self.subject(id);
        match self.stream.get_last_raw_message_by_subject(&subject).await {
            Ok(last) => self.read_subject(&subject, 1, last.sequence).await,
            Err(e) if e.kind() == LastRawMessageErrorKind::NoMessageFound => Ok(Vec::new()),
            Err(e) => Err(StoreError::nats(format!("reading the last event of {subject}"), e)),
        }
    }

    /// Appends `events` (already applied to `ctx.aggregate`) atomically,
    /// expecting the aggregate's subject to be where `ctx` left it.
    #[tracing::instrument(skip_all, fields(aggregate = A::TYPE, events = events.len()))]
    pub async fn append(
        &self,
        events: &[A::Event],
        mut ctx: JetStreamContext<A>,
        meta: &EventMeta,
    ) -> Result<(Committed, JetStreamContext<A>), StoreError> {
        let id = ctx.aggregate_id.clone().ok_or_else(|| {
            StoreError::new(
                StoreErrorKind::Misuse,
                "committing events of a context that was never loaded (no aggregate id)",
                None,
            )
        })?;
        let key = id.to_string();
        if events.is_empty() {
            let c = Committed { last_stream_seq: ctx.last_stream_seq, version: ctx.version, duplicate: false };
            return Ok((c, ctx));
        }
        let subject = self.subject(&id);
        let occurred_at = Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
        let traceparent = meta.traceparent.clone().unwrap_or_else(new_traceparent);
        let mut outgoing = Vec::with_capacity(events.len());
        for (i, event) in events.iter().enumerate() {
            let (event_type, version, body) = event.encode()?;
            let payload = serde_json::to_vec(&body).map_err(crate::CodecError::from_json)?;
            let mut headers = HeaderMap::new();
            headers.insert(H_EVENT_TYPE, event_type.as_str());
            headers.insert(H_EVENT_VERSION, version.to_string().as_str());
            headers.insert(H_AGGREGATE_SEQ, (ctx.version + i as u64 + 1).to_string().as_str());
            headers.insert(H_TENANT, id.tenant.as_str());
            headers.insert(H_COMMAND_ID, meta.command_id.as_str());
            headers.insert(H_CORRELATION_ID, meta.correlation_id.as_str());
            headers.insert(H_CAUSATION_ID, meta.causation_id.as_str());
            headers.insert(H_OCCURRED_AT, occurred_at.as_str());
            headers.insert(H_TRACEPARENT, traceparent.as_str());
            let msg_id = msg_id(&subject, &meta.command_id, i, events.len());
            headers.insert(H_MSG_ID, msg_id.as_str());
            outgoing.push(OutgoingEvent { headers, payload: payload.into() });
        }
        let ack = batch::publish_atomic(&self.js, &subject, ctx.last_stream_seq, outgoing).await;
        let ack = match ack {
            Ok(a) => a,
            Err(e) => {
                self.forget(&key);
                return Err(e);
            }
        };
        if ack.duplicate {
            // Stored before under this command id: our context is stale now.
            self.forget(&key);
            let c = Committed { last_stream_seq: ack.sequence, version: ctx.version, duplicate: true };
            return Ok((c, ctx));
        }
        let previous = ctx.version;
        ctx.version += events.len() as u64;
        ctx.last_stream_seq = ack.sequence;
        ctx.remember(&meta.command_id);
        self.cache_put(key, ctx.clone());
        if let Some(s) = &self.snapshots
            && self.config.snapshot_every > 0
            && ctx.version / self.config.snapshot_every > previous / self.config.snapshot_every
        {
            // Best effort: a failed snapshot only costs a longer load later.
            if let Err(e) = s.save(A::TYPE, &id, &ctx).await {
                tracing::warn!(error = %e, aggregate_id = %id, "snapshot not saved");
            }
        }
        let c = Committed { last_stream_seq: ctx.last_stream_seq, version: ctx.version, duplicate: false };
        Ok((c, ctx))
    }
}

impl<A> EventStore<A> for JetStreamStore<A>
where
    A: Aggregate + StateVersion + Clone,
    A::Event: EventCodec,
{
    type AC = JetStreamContext<A>;

    async fn load_events(&self, aggregate_id: &str) -> Result<Vec<EventEnvelope<A>>, AggregateError<A::Error>> {
        let id: AggregateId = aggregate_id.parse().map_err(StoreError::from)?;
        let mut out = Vec::new();
        for e in self.history(&id).await? {
            let mut metadata = HashMap::new();
            metadata.insert(crate::envelope::meta_keys::COMMAND_ID.to_owned(), e.command_id.clone());
            metadata.insert(crate::envelope::meta_keys::CORRELATION_ID.to_owned(), e.correlation_id.clone());
            metadata.insert(crate::envelope::meta_keys::CAUSATION_ID.to_owned(), e.causation_id.clone());
            out.push(EventEnvelope {
                aggregate_id: aggregate_id.to_owned(),
                sequence: e.aggregate_seq as usize,
                payload: e.to_domain().map_err(StoreError::from)?,
                metadata,
            });
        }
        Ok(out)
    }

    async fn load_aggregate(&self, aggregate_id: &str) -> Result<Self::AC, AggregateError<A::Error>> {
        let id: AggregateId = aggregate_id.parse().map_err(StoreError::from)?;
        // CqrsFramework does not retry, and would report a refusal decided on
        // stale cached state as final: it always gets the stream's state.
        Ok(self.load_fresh(&id).await?)
    }

    async fn commit(
        &self,
        events: Vec<A::Event>,
        context: Self::AC,
        metadata: HashMap<String, String>,
    ) -> Result<Vec<EventEnvelope<A>>, AggregateError<A::Error>> {
        let meta = EventMeta::from_map(&metadata);
        let id = context.aggregate_id.clone();
        let first = context.version + 1;
        let (committed, _) = self.append(&events, context, &meta).await?;
        if committed.duplicate {
            return Ok(Vec::new());
        }
        let aggregate_id = id.map(|i| i.to_string()).unwrap_or_default();
        Ok(events
            .into_iter()
            .enumerate()
            .map(|(i, payload)| EventEnvelope {
                aggregate_id: aggregate_id.clone(),
                sequence: (first + i as u64) as usize,
                payload,
                metadata: metadata.clone(),
            })
            .collect())
    }
}

#[cfg(test)]
mod msg_id_tests {
    #[test]
    fn message_ids_are_scoped_by_the_aggregates_subject() {
        let a = super::msg_id("pod.evt.trend.shop-a.0190", "cmd-1", 0, 1);
        let b = super::msg_id("pod.evt.trend.shop-b.0190", "cmd-1", 0, 1);
        assert_ne!(a, b);
        assert_eq!(super::msg_id("s", "c", 2, 3), "s/c:2");
    }
}
