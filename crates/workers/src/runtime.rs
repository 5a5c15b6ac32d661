//! The worker runtime: a durable pull consumer on the event log (and one on
//! the worker's retries), each message handed to a [`Handler`], then acked,
//! retried with backoff, or moved to the dead-letter stream.
//!
//! Replicas of a worker kind share the durable consumer, so starting more
//! processes spreads the work. Handlers must be idempotent (their command
//! ids derive from the event), because a message can always come twice:
//! after a crash before the ack, after an ack lost on the wire.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_nats::jetstream::{self, AckKind, consumer::PullConsumer};
use futures::{FutureExt, StreamExt};
use pod_events::store::dead_letters::{self, Failure, Origin};
use pod_events::{Namespace, RecordedEvent};
use rand::Rng;

use crate::backoff::Backoff;

/// Why a handler could not finish. The runtime decides what happens next.
#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    /// Worth retrying: a provider was busy or down, NATS was unreachable, a
    /// writer raced us. `retry_after` is the provider's wish, if it said one.
    #[error("{reason}")]
    Transient { reason: String, retry_after: Option<Duration> },
    /// Retrying will not help (bad input, a rule refused the command): the
    /// event goes to the dead-letter stream at once.
    #[error("{reason}")]
    Permanent { reason: String },
    /// Not now: a budget is spent (a marketplace's rate limit). The event
    /// comes back after `wait`, and the wait does not count as a failed
    /// delivery, so queued work is never dead-lettered for waiting.
    #[error("{reason}")]
    Deferred { reason: String, wait: Duration },
}

impl HandlerError {
    /// Any failure, retried or dead-lettered as its own
    /// [`Transient::is_transient`](pod_events::Transient) says.
    pub fn of(e: impl pod_events::Transient + std::fmt::Display) -> Self {
        if e.is_transient() { Self::transient(e) } else { Self::permanent(e) }
    }
    pub fn transient(reason: impl std::fmt::Display) -> Self {
        Self::Transient { reason: reason.to_string(), retry_after: None }
    }
    pub fn permanent(reason: impl std::fmt::Display) -> Self {
        Self::Permanent { reason: reason.to_string() }
    }
    pub fn deferred(reason: impl std::fmt::Display, wait: Duration) -> Self {
        Self::Deferred { reason: reason.to_string(), wait }
    }
}

impl pod_events::Transient for HandlerError {
    fn is_transient(&self) -> bool {
        matches!(self, HandlerError::Transient { .. } | HandlerError::Deferred { .. })
    }
}

/// One stage's reaction to events.
#[async_trait::async_trait]
pub trait Handler: Send + Sync + 'static {
    /// The worker kind: names its consumers and its dead letters.
    fn kind(&self) -> &'static str;
    /// Whether this handler acts on events of this type; others are acked untouched.
    fn wants(&self, event_type: &str) -> bool;
    async fn handle(&self, event: &RecordedEvent) -> Result<(), HandlerError>;
}

#[derive(Debug, Clone)]
pub struct WorkerOptions {
    /// Messages handled at once by this process.
    pub concurrency: usize,
    /// Deliveries before a transiently failing event becomes a dead letter.
    pub max_deliveries: u64,
    pub backoff: Backoff,
    /// How often a long handler tells the server it is still working.
    pub progress_every: Duration,
    /// At shutdown, how long handlers in hand may take to finish; those
    /// still running then are stopped and their messages given back (NAK)
    /// for another replica at once, not after `ack_wait`.
    pub grace: Duration,
}

impl Default for WorkerOptions {
    fn default() -> Self {
        // Progress well inside the consumers' ack_wait (30 s, nats/consumers/).
        Self {
            concurrency: 4,
            max_deliveries: 5,
            backoff: Backoff::default(),
            progress_every: Duration::from_secs(10),
            grace: DEFAULT_GRACE,
        }
    }
}

/// Inside Kubernetes' default 30 s termination grace, with room to spare.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(20);

#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    #[error("consumer {consumer} on stream {stream} is missing or unreadable (run `pod nats apply`): {source}")]
    Consumer { consumer: String, stream: String, source: Box<dyn std::error::Error + Send + Sync> },
    #[error("reading from consumer {consumer}: {source}")]
    Read { consumer: String, source: Box<dyn std::error::Error + Send + Sync> },
}

/// What a worker did, for logs and tests.
#[derive(Debug, Default)]
pub struct WorkerStats {
    pub handled: AtomicU64,
    pub skipped: AtomicU64,
    pub retried: AtomicU64,
    pub dead_lettered: AtomicU64,
    pub deferred: AtomicU64,
}

pub struct Worker {
    client: async_nats::Client,
    js: jetstream::Context,
    ns: Namespace,
    handler: Arc<dyn Handler>,
    options: WorkerOptions,
    stats: Arc<WorkerStats>,
}

/// The shortest deferral: a provider's `retry-after: 0` must not spin.
pub const MIN_DEFERRAL: Duration = Duration::from_secs(1);

/// How long a pull on the log waits for messages before the loop looks again
/// (at retries, and at shutdown).
const LOG_PULL_WAIT: Duration = Duration::from_secs(2);

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Pulls up to `max` messages — what is there now (`wait` None), or what
/// arrives within `wait` — handing each to `take` as it arrives.
async fn pull(
    consumer: &PullConsumer,
    max: usize,
    wait: Option<Duration>,
    mut take: impl FnMut(jetstream::Message),
) -> Result<(), BoxError> {
    match wait {
        // No wait: the server answers at once with what it has. Still
        // bounded here: a lost reply (a reconnect) must not leave it
        // waiting for good. (A no-wait request with an expiry is held by
        // the server until it expires, which starved the log pull.)
        None => {
            let drained = async {
                let mut batch = consumer.fetch().max_messages(max).messages().await?;
                while let Some(m) = batch.next().await {
                    take(m?);
                }
                Ok::<(), BoxError>(())
            };
            tokio::time::timeout(Duration::from_secs(2), drained).await.unwrap_or(Ok(()))
        }
        Some(w) => {
            let mut batch = consumer.batch().max_messages(max).expires(w).messages().await?;
            while let Some(m) = batch.next().await {
                take(m?);
            }
            Ok(())
        }
    }
}

/// Which consumer a message came from: the log, or the worker's retries.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Source {
    Log,
    Retry,
}

impl Worker {
    pub fn new(client: async_nats::Client, ns: Namespace, handler: Arc<dyn Handler>, options: WorkerOptions) -> Self {
        Self { js: jetstream::new(client.clone()), client, ns, handler, options, stats: Arc::default() }
    }

    pub fn stats(&self) -> Arc<WorkerStats> {
        self.stats.clone()
    }

    /// Durable name of this worker's consumer on the log (`<prefix>_wrk_<kind>`).
    pub fn consumer_name(ns: &Namespace, kind: &str) -> String {
        ns.consumer(&format!("wrk_{kind}"))
    }

    async fn consumer(&self, stream: String, durable: String) -> Result<PullConsumer, WorkerError> {
        self.js.get_consumer_from_stream(&durable, &stream).await.map_err(|e| WorkerError::Consumer {
            consumer: durable.clone(),
            stream: stream.clone(),
            source: Box::new(e),
        })
    }

    /// Runs until `shutdown` resolves, then finishes the messages in hand
    /// within the grace period (giving back, NAK, those it cannot), so no
    /// message waits out `ack_wait` for this process's sake.
    ///
    /// A pull under way when `shutdown` comes is let finish (it waits at
    /// most [`LOG_PULL_WAIT`]): what the server sent it is handled, never
    /// dropped in flight.
    ///
    /// Messages are pulled only for free handler slots: each one goes to a
    /// handler the moment it arrives, whose progress acks keep it inside
    /// `ack_wait`. Nothing waits in a prefetch buffer, where it could outlive
    /// `ack_wait` and be delivered to a second replica while still held here.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send) -> Result<(), WorkerError> {
        let kind = self.handler.kind();
        let log_name = Self::consumer_name(&self.ns, kind);
        let retry_name = format!("{log_name}_retry");
        let (events_stream, dlq_stream) = (self.ns.events_stream(), self.ns.dlq_stream());
        let log = self.consumer(events_stream.clone(), log_name.clone()).await?;
        let retries = self.consumer(dlq_stream.clone(), retry_name.clone()).await?;
        let concurrency = self.options.concurrency.max(1);
        let slots = Arc::new(tokio::sync::Semaphore::new(concurrency));
        let this = Arc::new(self);
        let mut in_hand = tokio::task::JoinSet::new();
        // Set when the grace period is over: handlers still running stop.
        let (give_back, given_back) = tokio::sync::watch::channel(false);
        tracing::info!(worker = kind, consumer = %log_name, "worker started");
        tokio::pin!(shutdown);
        let outcome = loop {
            // Wait for a free slot, then take every free one.
            let first = tokio::select! {
                biased;
                _ = &mut shutdown => break Ok(()),
                p = slots.clone().acquire_owned() => match p {
                    Ok(p) => p,
                    Err(_) => break Ok(()),
                },
            };
            let mut permits = vec![first];
            while let Ok(p) = slots.clone().try_acquire_owned() {
                permits.push(p);
            }
            // Retries first (without waiting), then the log (waiting a while);
            // each message goes to its handler as it arrives.
            let handed = |source: Source,
                          msg: jetstream::Message,
                          permits: &mut Vec<_>,
                          in_hand: &mut tokio::task::JoinSet<()>| {
                if let Some(permit) = permits.pop() {
                    let worker = this.clone();
                    let mut stop = given_back.clone();
                    in_hand.spawn(async move {
                        let back = msg.clone();
                        tokio::select! {
                            biased;
                            _ = worker.process(source, msg) => {}
                            _ = async { drop(stop.wait_for(|stop| *stop).await) } => {
                                // Stopped mid-way (as a crash would, but said):
                                // redelivered now, to whoever pulls next.
                                let _ = back.ack_with(AckKind::Nak(None)).await;
                            }
                        }
                        drop(permit);
                    });
                }
            };
            let pulled =
                pull(&retries, permits.len(), None, |m| handed(Source::Retry, m, &mut permits, &mut in_hand)).await;
            if let Err(e) = pulled {
                match this.read_failed(&dlq_stream, &retry_name, e).await {
                    Some(gone) => break Err(gone),
                    None => continue,
                }
            }
            if !permits.is_empty() {
                let wanted = permits.len();
                // Not abandoned at shutdown: messages the server already sent
                // this pull would wait out ack_wait unhandled.
                let pulled =
                    pull(&log, wanted, Some(LOG_PULL_WAIT), |m| handed(Source::Log, m, &mut permits, &mut in_hand))
                        .await;
                if let Err(e) = pulled {
                    match this.read_failed(&events_stream, &log_name, e).await {
                        Some(gone) => break Err(gone),
                        None => continue,
                    }
                }
            }
            // Finished handlers free their slots as they go; reap them.
            while in_hand.try_join_next().is_some() {}
        };
        // Finish what is in hand within the grace period: those messages are
        // ours until acked. What is still running then is given back.
        let grace = this.options.grace;
        let finished = tokio::time::timeout(grace, async { while in_hand.join_next().await.is_some() {} }).await;
        if finished.is_err() {
            tracing::warn!(
                worker = kind,
                running = in_hand.len(),
                ?grace,
                "grace period over; giving back what is in hand"
            );
            let _ = give_back.send(true);
            while in_hand.join_next().await.is_some() {}
        }
        // Acks and NAKs are only queued by the client: sent before the
        // process exits with its connection, or they wait out ack_wait.
        if tokio::time::timeout(Duration::from_secs(2), this.client.flush()).await.is_err() {
            tracing::warn!(worker = kind, "the last acknowledgements may not have reached NATS");
        }
        if outcome.is_ok() {
            tracing::info!(worker = kind, "worker stopped");
        }
        outcome
    }

    /// A pull failed: if the consumer is gone, the worker stops with an error
    /// for its supervisor; otherwise (NATS reconnecting) it waits a moment
    /// and the caller's loop goes on.
    async fn read_failed(&self, stream: &str, name: &str, e: BoxError) -> Option<WorkerError> {
        const CONSUMER_NOT_FOUND: u64 = 10014;
        let found = self.js.get_consumer_from_stream::<jetstream::consumer::pull::Config, _, _>(name, stream).await;
        match found {
            Err(lookup)
                if matches!(lookup.kind(), jetstream::stream::ConsumerErrorKind::JetStream(j)
                    if j.error_code().0 == CONSUMER_NOT_FOUND) =>
            {
                Some(WorkerError::Read {
                    consumer: name.to_owned(),
                    source: format!("the consumer is gone (was it deleted? run `pod nats apply`): {e}").into(),
                })
            }
            // There, or NATS is reconnecting or electing a leader: ride it out.
            _ => {
                tracing::warn!(worker = self.handler.kind(), consumer = name, error = %e, "pull failed; trying again");
                tokio::time::sleep(Duration::from_secs(1)).await;
                None
            }
        }
    }

    async fn process(&self, source: Source, msg: jetstream::Message) {
        let kind = self.handler.kind();
        let (delivered, stream_seq) = match msg.info() {
            Ok(i) => (i.delivered.max(1) as u64, i.stream_sequence),
            Err(e) => {
                tracing::error!(worker = kind, error = %e, "message without JetStream info; terminating it");
                let _ = msg.ack_with(AckKind::Term).await;
                return;
            }
        };
        let decoded = match source {
            Source::Log => RecordedEvent::from_jetstream(&self.ns, &msg).map_err(|e| e.to_string()),
            Source::Retry => dead_letters::decode_retry(&self.ns, &msg).map_err(|e| e.to_string()),
        };
        let event = match decoded {
            Ok(ev) => ev,
            Err(e) if source == Source::Log => {
                // Not an event we can read: nothing to hand over, nothing to
                // retry. It goes to the dead letters with why, to be seen.
                let error = format!("undecodable message: {e}");
                let tenant = self.ns.parse_subject(msg.subject.as_str()).map(|p| p.tenant);
                let origin = Origin { subject: msg.subject.as_str(), stream_seq, tenant };
                self.dead_letter_from(&msg, origin, &error, delivered).await;
                return;
            }
            Err(e) => {
                // A retried dead letter that does not read: it came from the
                // dead letters and would only go back there.
                tracing::error!(worker = kind, stream_seq, error = %e, "undecodable retry; terminated");
                let _ = msg.ack_with(AckKind::Term).await;
                return;
            }
        };
        if !self.handler.wants(&event.event_type) {
            self.stats.skipped.fetch_add(1, Ordering::Relaxed);
            self.ack(&msg, &event).await;
            return;
        }
        // A deferred event that is not due yet: back until it is.
        if let Some(due) = dead_letters::not_before(msg.headers.as_ref())
            && let Ok(wait) = (due - chrono::Utc::now()).to_std()
            && !wait.is_zero()
        {
            let _ = msg.ack_with(AckKind::Nak(Some(wait))).await;
            return;
        }
        // Written by a newer release than this one (a rolling deploy): wait
        // for the upgrade instead of giving up on it.
        if let Some(known) = pod_events::codec::known_version(&event.event_type)
            && event.event_version > known
        {
            let wait = self.options.backoff.delay(delivered, None, rand::rng().random::<f64>());
            tracing::warn!(worker = kind, event = %event.msg_id(), version = event.event_version, known,
                wait_ms = wait.as_millis() as u64, "event of a newer version; retrying until this worker is upgraded");
            self.stats.retried.fetch_add(1, Ordering::Relaxed);
            let _ = msg.ack_with(AckKind::Nak(Some(wait))).await;
            return;
        }
        // A message that keeps killing the process never reaches the error
        // path below; past the limit it goes straight to the dead letters.
        let result = if delivered > self.options.max_deliveries + 2 {
            Err(HandlerError::permanent(format!(
                "delivered {delivered} times without an outcome (the worker kept crashing)"
            )))
        } else {
            self.handle_with_progress(&msg, &event).await
        };
        let let_go = match result {
            Ok(()) => {
                self.stats.handled.fetch_add(1, Ordering::Relaxed);
                self.ack(&msg, &event).await;
                true
            }
            Err(HandlerError::Transient { reason, retry_after }) if delivered < self.options.max_deliveries => {
                let jitter = rand::rng().random::<f64>();
                let wait = self.options.backoff.delay(delivered, retry_after, jitter);
                tracing::warn!(worker = kind, event = %event.msg_id(), delivered, wait_ms = wait.as_millis() as u64,
                    error = %reason, "transient failure; will retry");
                self.stats.retried.fetch_add(1, Ordering::Relaxed);
                if let Err(e) = msg.ack_with(AckKind::Nak(Some(wait))).await {
                    tracing::warn!(worker = kind, error = %e, "nak lost; the server redelivers after ack_wait");
                }
                false
            }
            Err(HandlerError::Deferred { reason, wait }) => {
                tracing::info!(worker = kind, event = %event.msg_id(), wait_ms = wait.as_millis() as u64,
                    why = %reason, "deferred");
                self.stats.deferred.fetch_add(1, Ordering::Relaxed);
                self.defer(&msg, &event, wait).await
            }
            Err(e) => self.dead_letter(&msg, &event, &e.to_string(), delivered).await,
        };
        // A retry or a deferral that is done with leaves the dead-letter
        // stream (the event itself stays in the log).
        if let_go
            && source == Source::Retry
            && let Err(e) = dead_letters::forget_retry(&self.js, &self.ns, stream_seq).await
        {
            tracing::warn!(worker = kind, seq = stream_seq, error = %e, "a finished retry stays on the dead-letter stream");
        }
    }

    /// Hands the event back for later, then lets go of this delivery;
    /// whether it did. Never sooner than [`MIN_DEFERRAL`].
    async fn defer(&self, msg: &jetstream::Message, event: &RecordedEvent, wait: Duration) -> bool {
        let kind = self.handler.kind();
        let wait = wait.max(MIN_DEFERRAL);
        let due = chrono::Utc::now() + chrono::Duration::from_std(wait).unwrap_or(chrono::Duration::hours(1));
        let (headers, payload) = (msg.headers.as_ref(), msg.payload.clone());
        match dead_letters::defer(&self.js, &self.ns, kind, Origin::from(event), headers, payload, due).await {
            Ok(()) => {
                self.ack(msg, event).await;
                true
            }
            Err(e) => {
                // Could not hand it back: keep this delivery and wait here.
                tracing::warn!(worker = kind, event = %event.msg_id(), error = %e, "deferral failed; waiting instead");
                let _ = msg.ack_with(AckKind::Nak(Some(wait))).await;
                false
            }
        }
    }

    async fn handle_with_progress(&self, msg: &jetstream::Message, event: &RecordedEvent) -> Result<(), HandlerError> {
        let work = AssertUnwindSafe(self.handler.handle(event)).catch_unwind();
        tokio::pin!(work);
        let mut tick = tokio::time::interval(self.options.progress_every);
        tick.tick().await;
        loop {
            tokio::select! {
                done = &mut work => {
                    return done.unwrap_or_else(|panic| {
                        let what = panic
                            .downcast_ref::<String>()
                            .cloned()
                            .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                            .unwrap_or_else(|| "unknown panic".into());
                        Err(HandlerError::permanent(format!("handler panicked: {what}")))
                    });
                }
                _ = tick.tick() => {
                    let _ = msg.ack_with(AckKind::Progress).await;
                }
            }
        }
    }

    async fn ack(&self, msg: &jetstream::Message, event: &RecordedEvent) {
        // Wait for the server's confirmation: an ack lost here means a
        // redelivery, which the handler's idempotency absorbs.
        if let Err(e) = msg.double_ack().await {
            tracing::warn!(worker = self.handler.kind(), event = %event.msg_id(), error = %e, "ack not confirmed");
        }
    }

    async fn dead_letter(&self, msg: &jetstream::Message, event: &RecordedEvent, error: &str, deliveries: u64) -> bool {
        tracing::error!(worker = self.handler.kind(), event = %event.msg_id(), event_type = %event.event_type, deliveries,
            error, "giving up; moving the event to the dead letters");
        self.dead_letter_from(msg, Origin::from(event), error, deliveries).await
    }

    /// Whether the message is now a dead letter (and this delivery let go).
    async fn dead_letter_from(
        &self,
        msg: &jetstream::Message,
        origin: Origin<'_>,
        error: &str,
        deliveries: u64,
    ) -> bool {
        let kind = self.handler.kind();
        let failure = Failure { worker: kind, error, deliveries };
        let (headers, payload) = (msg.headers.as_ref(), msg.payload.clone());
        match dead_letters::publish_from(&self.js, &self.ns, origin, headers, payload, failure).await {
            Ok(()) => {
                self.stats.dead_lettered.fetch_add(1, Ordering::Relaxed);
                if let Err(e) = msg.double_ack().await {
                    tracing::warn!(worker = kind, seq = origin.stream_seq, error = %e, "ack not confirmed");
                }
                true
            }
            Err(e) => {
                // Could not store the dead letter: keep the message instead.
                tracing::error!(worker = kind, error = %e, "dead-lettering failed; the event will be redelivered");
                let wait = self.options.backoff.max;
                let _ = msg.ack_with(AckKind::Nak(Some(wait))).await;
                false
            }
        }
    }
}
