//! The projection runtime. Each projection is a durable JetStream pull
//! consumer. A batch is applied to its tables and its checkpoint (the last
//! stream sequence applied) in one PostgreSQL transaction, then acked;
//! a redelivered event at or below the checkpoint is skipped. So a crash
//! (even `kill -9`) anywhere loses nothing and applies nothing twice.
//!
//! What can go wrong while applying, and what happens (see
//! `docs/ARCHITECTURE.md`, "Failure classes"):
//! - *the event's own data* cannot be applied (it does not decode, Postgres
//!   refuses its text or a constraint): the event is parked for this
//!   projection ([`crate::parked`]) and the checkpoint moves on;
//! - *the system* is in trouble (a lost connection, a serialization failure,
//!   NATS away, a deposed leader): the term ends with an error, and
//!   [`Projector::run_supervised`] starts another after a backoff. Nothing
//!   one projection meets stops another.
//!
//! One active instance per projection: the holder of the projection's lease
//! ([`crate::lease`]) runs; others stand by. Every batch checks the lease's
//! fencing token in its transaction, and takes the projection's apply lock,
//! which a rebuild's swap and a parked event's retry take too.

use std::time::{Duration, Instant};

use async_nats::jetstream::{self, consumer::PullConsumer};
use futures::StreamExt;
use pod_events::{Namespace, RecordedEvent, Transient};
use sqlx::postgres::PgConnectOptions;
use sqlx::{Connection, PgConnection, PgPool};

use crate::lease::{Fence, Lease};
use crate::models::{ApplyError, Projection};

#[derive(Debug, thiserror::Error)]
pub enum ProjectionError {
    #[error("projection {projection}: {what}: {source}")]
    Db { projection: &'static str, what: &'static str, source: sqlx::Error },
    #[error("projection {projection}: {what}: {source}")]
    Nats { projection: &'static str, what: String, source: Box<dyn std::error::Error + Send + Sync> },
    #[error("projection {projection}: event {seq} cannot be applied: {reason}")]
    Poison { projection: &'static str, seq: u64, reason: String },
    #[error("projection {projection}: rebuild stopped, nothing swapped: {reason}")]
    Rebuild { projection: &'static str, reason: String },
    #[error("projection {projection}: another instance leads now (lease epoch {epoch} is over)")]
    Deposed { projection: &'static str, epoch: i64 },
    #[error("projection {projection}: event {seq} waits for an upgrade of this program: {reason}")]
    Waiting { projection: &'static str, seq: u64, reason: String },
}

impl Transient for ProjectionError {
    /// Whether a later term may get past this: the system's trouble, a
    /// deposed leader and an event waiting for an upgrade may; an event that
    /// cannot be applied, or a rebuild that was refused, will not by itself.
    fn is_transient(&self) -> bool {
        match self {
            ProjectionError::Db { source, .. } => !crate::models::is_data_error(source),
            ProjectionError::Nats { .. } | ProjectionError::Deposed { .. } | ProjectionError::Waiting { .. } => true,
            ProjectionError::Poison { .. } | ProjectionError::Rebuild { .. } => false,
        }
    }
}

#[derive(Debug, Clone)]
pub struct RunOptions {
    pub batch_size: usize,
    /// How long an idle fetch waits for new events.
    pub idle_wait: Duration,
    /// Stop once the consumer has nothing pending (used by tests and `--until-caught-up`).
    pub stop_when_idle: bool,
    /// How long a lease lasts unrenewed; a standby takes over at most this
    /// long after a leader vanished. At least three times `idle_wait`.
    pub lease: Duration,
    /// How often a standby asks for the lease.
    pub standby_poll: Duration,
    /// After a failed term, the first wait before the next; it doubles up to
    /// `restart_max`, and starts over once a term gets work done.
    pub restart_min: Duration,
    pub restart_max: Duration,
}

impl Default for RunOptions {
    fn default() -> Self {
        Self {
            batch_size: 1000,
            idle_wait: Duration::from_secs(1),
            stop_when_idle: false,
            lease: Duration::from_secs(15),
            standby_poll: Duration::from_secs(2),
            restart_min: Duration::from_secs(1),
            restart_max: Duration::from_secs(30),
        }
    }
}

impl RunOptions {
    /// The lease, never shorter than its safety margin allows: a leader
    /// pulls while more than a third of it is left, and a pull may wait
    /// `idle_wait` and half a second more.
    fn lease(&self) -> Duration {
        self.lease.max((self.idle_wait + Duration::from_millis(500)) * 4)
    }
}

/// 64-bit advisory-lock keys derived from the projection name.
pub(crate) fn lock_key(kind: &str, projection: &str) -> i64 {
    // FNV-1a: stable across processes and releases.
    let mut h: u64 = 0xcbf29ce484222325;
    for b in kind.bytes().chain([b'/']).chain(projection.bytes()) {
        h ^= b as u64;
        h = h.wrapping_mul(0x100000001b3);
    }
    h as i64
}

/// The checkpoint row, created at 0 if missing. Call inside the batch transaction.
pub(crate) async fn checkpoint_for_update(tx: &mut PgConnection, name: &str) -> Result<i64, sqlx::Error> {
    sqlx::query("INSERT INTO projection_checkpoints (projection) VALUES ($1) ON CONFLICT DO NOTHING")
        .bind(name)
        .execute(&mut *tx)
        .await?;
    sqlx::query_scalar("SELECT last_seq FROM projection_checkpoints WHERE projection = $1 FOR UPDATE")
        .bind(name)
        .fetch_one(&mut *tx)
        .await
}

/// Moves the checkpoint forward (never back), recording the writer's epoch.
pub(crate) async fn set_checkpoint(tx: &mut PgConnection, name: &str, seq: i64, epoch: i64) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE projection_checkpoints SET last_seq = greatest(last_seq, $2), epoch = greatest(epoch, $3), updated_at = now()
         WHERE projection = $1",
    )
    .bind(name)
    .bind(seq)
    .bind(epoch)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// Which tables a batch goes to: the live ones, or a rebuild's shadow copies
/// (which must not wait on the live projector's lock).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Target {
    Live,
    Shadow,
}

/// A delivered message that is not a readable event (its envelope is broken):
/// parked like an event that cannot be applied.
#[derive(Debug, Clone)]
pub(crate) struct Unreadable {
    pub seq: u64,
    pub subject: String,
    pub tenant: Option<String>,
    pub reason: String,
}

/// What a batch did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Applied {
    pub applied: usize,
    pub parked: usize,
    /// The checkpoint written (None: nothing new).
    pub last: Option<u64>,
    /// An event this program is too old to read (its stream sequence and
    /// why): the batch stopped before it, to wait for an upgrade.
    pub blocked: Option<(u64, String)>,
}

/// Applies `events` above the checkpoint and advances it, in `tx`; parks
/// what cannot be applied (and `unreadable`). With a `fence`, the batch
/// commits only if that lease still leads.
pub(crate) async fn apply_batch(
    tx: &mut PgConnection,
    projection: &dyn Projection,
    events: &[RecordedEvent],
    unreadable: &[Unreadable],
    target: Target,
    fence: Option<Fence>,
) -> Result<Applied, ProjectionError> {
    let name = projection.name();
    let db = |what| move |source| ProjectionError::Db { projection: name, what, source };
    let lock = match target {
        Target::Live => lock_key("apply", name),
        Target::Shadow => lock_key("apply-shadow", name),
    };
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(lock)
        .execute(&mut *tx)
        .await
        .map_err(db("taking the apply lock"))?;
    if let Some(f) = fence
        && !f.check_and_extend(tx, name).await.map_err(db("checking the lease"))?
    {
        return Err(ProjectionError::Deposed { projection: name, epoch: f.epoch });
    }
    let cp = checkpoint_for_update(tx, name).await.map_err(db("reading the checkpoint"))?;
    // Skip what the checkpoint covers. Batches normally arrive in stream
    // order; a redelivery (ack lost, ack wait expired) can put older events
    // behind newer ones, and those are covered too.
    let owned: Vec<RecordedEvent>;
    let fresh: &[RecordedEvent] = if events.is_sorted_by_key(|e| e.stream_seq) {
        &events[events.partition_point(|e| e.stream_seq as i64 <= cp)..]
    } else {
        owned = {
            let mut v: Vec<RecordedEvent> = events.iter().filter(|e| e.stream_seq as i64 > cp).cloned().collect();
            v.sort_by_key(|e| e.stream_seq);
            v.dedup_by_key(|e| e.stream_seq);
            v
        };
        &owned
    };
    let unreadable: Vec<&Unreadable> = unreadable.iter().filter(|u| u.seq as i64 > cp).collect();
    if fresh.is_empty() && unreadable.is_empty() {
        return Ok(Applied::default());
    }
    let mut parked = 0;
    let mut blocked: Option<(u64, String)> = None;
    // The whole batch at once; only if that fails on an event's data (or on
    // an event too new to read), event by event.
    let mut batch = Connection::begin(&mut *tx).await.map_err(db("beginning a savepoint"))?;
    match projection.apply(&mut batch, fresh).await {
        Ok(()) => batch.commit().await.map_err(db("releasing the savepoint"))?,
        Err(e) if (!e.is_transient() || e.waits_for_upgrade()) && !fresh.is_empty() => {
            batch.rollback().await.map_err(db("rolling back the savepoint"))?;
            tracing::warn!(projection = name, error = %e, "a batch failed on an event; applying it event by event");
            for event in fresh {
                let mut one = Connection::begin(&mut *tx).await.map_err(db("beginning a savepoint"))?;
                match projection.apply(&mut one, std::slice::from_ref(event)).await {
                    Ok(()) => one.commit().await.map_err(db("releasing the savepoint"))?,
                    Err(e) if e.waits_for_upgrade() => {
                        one.rollback().await.map_err(db("rolling back the savepoint"))?;
                        blocked = Some((event.stream_seq, e.to_string()));
                        break;
                    }
                    Err(e) if !e.is_transient() => {
                        one.rollback().await.map_err(db("rolling back the savepoint"))?;
                        let reason = e.to_string();
                        crate::parked::park(
                            tx,
                            name,
                            event.stream_seq,
                            &event.subject,
                            Some(&event.tenant),
                            Some(&event.event_type),
                            &reason,
                        )
                        .await
                        .map_err(db("parking an event"))?;
                        parked += 1;
                    }
                    Err(e) => return Err(system_error(name, e)),
                }
            }
        }
        Err(e) => return Err(system_error(name, e)),
    }
    // Everything before a blocking event is done (applied or parked); it and
    // what follows wait for the upgrade.
    let before = |seq: u64| blocked.as_ref().is_none_or(|(b, _)| seq < *b);
    let unreadable: Vec<&&Unreadable> = unreadable.iter().filter(|u| before(u.seq)).collect();
    for u in &unreadable {
        crate::parked::park(tx, name, u.seq, &u.subject, u.tenant.as_deref(), None, &u.reason)
            .await
            .map_err(db("parking an event"))?;
    }
    let done: Vec<u64> = fresh.iter().map(|e| e.stream_seq).filter(|s| before(*s)).collect();
    let last = done.iter().copied().chain(unreadable.iter().map(|u| u.seq)).max();
    if let Some(last) = last {
        let epoch = fence.map(|f| f.epoch).unwrap_or(0);
        set_checkpoint(tx, name, last as i64, epoch).await.map_err(db("writing the checkpoint"))?;
    }
    Ok(Applied { applied: done.len() - parked, parked: parked + unreadable.len(), last, blocked })
}

/// An apply failure that is not about one event's data.
fn system_error(projection: &'static str, e: ApplyError) -> ProjectionError {
    match e {
        ApplyError::Db(source) => ProjectionError::Db { projection, what: "applying events", source },
        other => ProjectionError::Poison { projection, seq: 0, reason: other.to_string() },
    }
}

pub struct Projector {
    pool: PgPool,
    js: jetstream::Context,
    ns: Namespace,
    projection: Box<dyn Projection>,
    /// This instance, as a lease holder.
    instance: uuid::Uuid,
}

impl Projector {
    pub fn new(pool: PgPool, client: async_nats::Client, ns: Namespace, projection: Box<dyn Projection>) -> Self {
        Self { pool, js: jetstream::new(client), ns, projection, instance: uuid::Uuid::new_v4() }
    }

    pub fn name(&self) -> &'static str {
        self.projection.name()
    }

    async fn consumer(&self) -> Result<PullConsumer, ProjectionError> {
        let name = self.projection.name();
        let stream = self.ns.events_stream();
        let durable = self.ns.consumer(&format!("proj_{name}"));
        self.js.get_consumer_from_stream(&durable, &stream).await.map_err(|e| ProjectionError::Nats {
            projection: name,
            what: format!("opening consumer {stream}/{durable} (run `pod nats apply`)"),
            source: Box::new(e),
        })
    }

    /// Makes the durable consumer deliver from the checkpoint on. An instance
    /// killed mid-batch leaves messages delivered but unacked; a successor
    /// would otherwise be handed newer messages first, and the checkpoint would
    /// then skip the older ones when they are redelivered.
    ///
    /// Returns the delivery sequence the next message must have: taken from
    /// the same look at the consumer that found it in step (or 1 for a
    /// consumer made anew), so nothing delivered elsewhere in between can be
    /// counted as seen.
    async fn line_up_consumer(&self) -> Result<Deliveries, ProjectionError> {
        let name = self.projection.name();
        let cp = self.checkpoint().await?;
        let stream = self.ns.events_stream();
        let durable = self.ns.consumer(&format!("proj_{name}"));
        let found =
            self.js.get_consumer_from_stream::<jetstream::consumer::pull::Config, _, _>(&durable, &stream).await;
        let mut consumer = match found {
            Ok(c) => c,
            Err(e) if !is_not_found(&e) => {
                return Err(ProjectionError::Nats {
                    projection: name,
                    what: format!("opening consumer {stream}/{durable}"),
                    source: Box::new(e),
                });
            }
            Err(_) => {
                // Missing (never applied, or lost mid-reposition): create it at the checkpoint.
                let config = serde_json::json!({
                    "name": durable,
                    "durable_name": durable,
                    "description": format!("Projection {name}"),
                    "deliver_policy": "by_start_sequence",
                    "opt_start_seq": cp as u64 + 1,
                    "ack_policy": "all",
                    "ack_wait": 60_000_000_000u64,
                    "max_deliver": -1,
                    "filter_subjects": crate::models::filter_subjects(self.projection.as_ref(), &self.ns),
                    "replay_policy": "instant",
                    "max_ack_pending": 50_000,
                    "max_waiting": 512,
                });
                tracing::warn!(projection = name, consumer = %durable, "consumer missing; creating it at the checkpoint");
                pod_events::store::definitions::create_consumer(&self.js.client(), &stream, config).await.map_err(
                    |e| ProjectionError::Nats {
                        projection: name,
                        what: "creating the consumer".into(),
                        source: Box::new(e),
                    },
                )?;
                return Ok(Deliveries::fresh());
            }
        };
        let info = consumer.info().await.map_err(|e| ProjectionError::Nats {
            projection: name,
            what: "reading consumer info".into(),
            source: Box::new(e),
        })?;
        let in_step = info.num_ack_pending == 0
            && info.ack_floor.stream_sequence == cp as u64
            && info.delivered.stream_sequence == info.ack_floor.stream_sequence;
        if !in_step {
            tracing::info!(
                projection = name,
                checkpoint = cp,
                ack_floor = info.ack_floor.stream_sequence,
                in_flight = info.num_ack_pending,
                "moving the consumer to the checkpoint"
            );
            self.reposition(cp).await?;
            return Ok(Deliveries::fresh());
        }
        Ok(Deliveries { next: info.delivered.consumer_sequence + 1 })
    }

    /// The committed checkpoint (0 before the first batch).
    async fn checkpoint(&self) -> Result<i64, ProjectionError> {
        let name = self.projection.name();
        sqlx::query_scalar("SELECT coalesce((SELECT last_seq FROM projection_checkpoints WHERE projection = $1), 0)")
            .bind(name)
            .fetch_one(&self.pool)
            .await
            .map_err(|source| ProjectionError::Db { projection: name, what: "reading the checkpoint", source })
    }

    /// Recreates the consumer to deliver from `checkpoint + 1`.
    async fn reposition(&self, checkpoint: i64) -> Result<(), ProjectionError> {
        let name = self.projection.name();
        let (stream, durable) = (self.ns.events_stream(), self.ns.consumer(&format!("proj_{name}")));
        pod_events::store::definitions::reposition_consumer(&self.js.client(), &stream, &durable, checkpoint as u64 + 1)
            .await
            .map_err(|e| ProjectionError::Nats {
                projection: name,
                what: "repositioning the consumer".into(),
                source: Box::new(e),
            })
    }

    /// Recreates the consumer at the checkpoint, whatever its state.
    async fn line_up_consumer_anew(&self) -> Result<Deliveries, ProjectionError> {
        let cp = self.checkpoint().await?;
        self.reposition(cp).await?;
        Ok(Deliveries::fresh())
    }

    /// A connection of the projector's own, named so an operator (or a test)
    /// can find it in `pg_stat_activity`.
    async fn connect(&self) -> Result<PgConnection, sqlx::Error> {
        let options: PgConnectOptions =
            (*self.pool.connect_options()).clone().application_name(&format!("pod-projection-{}", self.name()));
        PgConnection::connect_with(&options).await
    }

    /// Runs until `shutdown` resolves, whatever goes wrong: a term that ends
    /// in an error is logged and followed by another after a backoff
    /// (`restart_min`, doubling to `restart_max`; a deposed leader stands by
    /// at once). Returns the number of events applied.
    pub async fn run_supervised(&self, options: &RunOptions, shutdown: impl std::future::Future<Output = ()>) -> u64 {
        let name = self.name();
        tokio::pin!(shutdown);
        let mut total = 0u64;
        let mut backoff = options.restart_min;
        loop {
            let started = Instant::now();
            let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
            let term = self.run_counting(options, async move {
                let _ = stop_rx.await;
            });
            tokio::pin!(term);
            let mut stop_tx = Some(stop_tx);
            let result = loop {
                tokio::select! {
                    r = &mut term => break r,
                    _ = &mut shutdown, if stop_tx.is_some() => {
                        if let Some(tx) = stop_tx.take() {
                            let _ = tx.send(());
                        }
                    }
                }
            };
            match result {
                (n, Ok(())) => return total + n,
                (n, Err(e)) => {
                    total += n;
                    if stop_tx.is_none() {
                        return total;
                    }
                    if n > 0 || started.elapsed() > options.restart_max {
                        backoff = options.restart_min;
                    }
                    if let ProjectionError::Deposed { .. } = &e {
                        tracing::warn!(projection = name, error = %e, "deposed; standing by");
                        tokio::select! {
                            _ = &mut shutdown => return total,
                            _ = tokio::time::sleep(options.restart_min) => {}
                        }
                        continue;
                    }
                    tracing::error!(projection = name, error = %e, retry_in_ms = backoff.as_millis() as u64,
                        "projection term failed; starting again");
                    tokio::select! {
                        _ = &mut shutdown => return total,
                        _ = tokio::time::sleep(backoff) => {}
                    }
                    backoff = (backoff * 2).min(options.restart_max);
                }
            }
        }
    }

    /// One term: stand by for the lease, lead until `shutdown` (or, with
    /// `stop_when_idle`, until caught up). Returns the number of events applied.
    pub async fn run(
        &self,
        options: &RunOptions,
        shutdown: impl std::future::Future<Output = ()>,
    ) -> Result<u64, ProjectionError> {
        let (n, r) = self.run_counting(options, shutdown).await;
        r.map(|()| n)
    }

    async fn run_counting(
        &self,
        options: &RunOptions,
        shutdown: impl std::future::Future<Output = ()>,
    ) -> (u64, Result<(), ProjectionError>) {
        let name = self.projection.name();
        let db = |what| move |source| ProjectionError::Db { projection: name, what, source };
        tokio::pin!(shutdown);
        let mut conn = match self.connect().await.map_err(db("connecting")) {
            Ok(c) => c,
            Err(e) => return (0, Err(e)),
        };
        let lease_for = options.lease();
        // Standing by until the lease is ours. The liveness lock, once held,
        // stays with this connection for the whole term.
        let mut live = false;
        let lease = loop {
            if !live {
                match sqlx::query_scalar::<_, bool>("SELECT pg_try_advisory_lock($1)")
                    .bind(lock_key("leader", name))
                    .fetch_one(&mut conn)
                    .await
                {
                    Ok(got) => live = got,
                    Err(e) => return (0, Err(db("taking the liveness lock")(e))),
                }
            }
            match Lease::try_acquire(&mut conn, name, self.instance, lease_for, live).await {
                Ok(Some(l)) => break l,
                Ok(None) => {}
                Err(e) => return (0, Err(db("asking for the lease")(e))),
            }
            tracing::debug!(projection = name, "another instance is active; standing by");
            tokio::select! {
                _ = &mut shutdown => return (0, Ok(())),
                _ = tokio::time::sleep(options.standby_poll) => {}
            }
        };
        tracing::info!(projection = name, epoch = lease.epoch, "active");
        let mut applied_total = 0u64;
        let mut lease = lease;
        let result = self.lead(options, &mut conn, &mut lease, &mut shutdown, &mut applied_total).await;
        // Hand over at once (best effort: otherwise the lease expires, or the
        // closed connection frees the liveness lock).
        let _ = lease.release(&mut conn, name).await;
        let _ = sqlx::query("SELECT pg_advisory_unlock($1)").bind(lock_key("leader", name)).execute(&mut conn).await;
        let _ = conn.close().await;
        (applied_total, result)
    }

    async fn lead(
        &self,
        options: &RunOptions,
        conn: &mut PgConnection,
        lease: &mut Lease,
        shutdown: &mut std::pin::Pin<&mut impl std::future::Future<Output = ()>>,
        applied_total: &mut u64,
    ) -> Result<(), ProjectionError> {
        let name = self.projection.name();
        let db = |what| move |source| ProjectionError::Db { projection: name, what, source };
        let nats = |what: &'static str| {
            move |e: BoxError| ProjectionError::Nats { projection: name, what: what.to_owned(), source: e }
        };
        // Pulls wait at most this long; the lease must outlast them.
        let pull_window = options.idle_wait + Duration::from_millis(500);
        let keep_lease = async |lease: &mut Lease, conn: &mut PgConnection| -> Result<(), ProjectionError> {
            if lease.may_pull(pull_window) && !lease.wants_renewal() {
                return Ok(());
            }
            if lease.renew(conn, name).await.map_err(db("renewing the lease"))? && lease.may_pull(pull_window) {
                Ok(())
            } else {
                Err(ProjectionError::Deposed { projection: name, epoch: lease.epoch })
            }
        };

        let mut deliveries = self.line_up_consumer().await?;
        let mut consumer = self.consumer().await?;
        // Every delivery of the consumer must come to this leader, in order:
        // a gap in the delivery sequence means another puller (a deposed
        // leader that had not noticed yet) was handed messages this one never
        // saw, and acking past them would skip them for good.
        // The next batch is fetched and decoded while the current one is written.
        let mut prefetch: Option<AbortOnDrop<Result<Fetched, ProjectionError>>> = None;
        loop {
            let mut got = match prefetch.take() {
                Some(mut h) => (&mut h.0).await.map_err(|e| nats("prefetching")(Box::new(e)))??,
                None => {
                    keep_lease(lease, conn).await?;
                    fetch_decoded(&consumer, &self.ns, name, options.batch_size, None).await?
                }
            };
            if got.is_empty() && options.stop_when_idle {
                let mut c = consumer.clone();
                let info = c.info().await.map_err(|e| nats("reading consumer info")(Box::new(e)))?;
                if info.num_pending == 0 && info.num_ack_pending == 0 {
                    return Ok(());
                }
            }
            if got.is_empty() {
                // Nothing there: wait for one message (up to `idle_wait`), then take what followed it.
                keep_lease(lease, conn).await?;
                tokio::select! {
                    _ = &mut *shutdown => return Ok(()),
                    g = fetch_decoded(&consumer, &self.ns, name, 1, Some(options.idle_wait)) => got = g?,
                }
                if got.is_empty() {
                    continue;
                }
                keep_lease(lease, conn).await?;
                got.extend(fetch_decoded(&consumer, &self.ns, name, options.batch_size.saturating_sub(1), None).await?);
            }
            if let Err(gap) = deliveries.accept(&got.msgs) {
                tracing::warn!(
                    projection = name,
                    expected = gap.expected,
                    got = gap.got,
                    "another puller took deliveries of this consumer; discarding the batch and starting over from the checkpoint"
                );
                drop(got);
                deliveries = self.line_up_consumer_anew().await?;
                consumer = self.consumer().await?;
                continue;
            }
            keep_lease(lease, conn).await?;
            let (c, ns, size) = (consumer.clone(), self.ns.clone(), options.batch_size);
            prefetch = Some(AbortOnDrop(tokio::spawn(async move { fetch_decoded(&c, &ns, name, size, None).await })));

            let t_apply = Instant::now();
            let mut tx = Connection::begin(&mut *conn).await.map_err(db("beginning a transaction"))?;
            let done = apply_batch(
                &mut tx,
                self.projection.as_ref(),
                &got.events,
                &got.unreadable,
                Target::Live,
                Some(lease.fence()),
            )
            .await?;
            let t_commit = Instant::now();
            tx.commit().await.map_err(db("committing"))?;
            lease.extended_by_commit(t_apply);
            *applied_total += done.applied as u64;
            // Ack policy "all": acking the last message done acks the batch up to it.
            let acked = match (&done.blocked, done.last) {
                (None, _) => got.msgs.last(),
                (Some(_), Some(last)) => {
                    got.msgs.iter().rev().find(|m| m.info().is_ok_and(|i| i.stream_sequence <= last))
                }
                (Some(_), None) => None,
            };
            if let Some(m) = acked {
                m.ack().await.map_err(nats("acking"))?;
            }
            if let Some((seq, reason)) = done.blocked {
                // The rest is delivered again to the next term, from the checkpoint.
                return Err(ProjectionError::Waiting { projection: name, seq, reason });
            }
            tracing::debug!(
                projection = name,
                applied = done.applied,
                parked = done.parked,
                batch = got.msgs.len(),
                fetch_us = got.fetch_us,
                decode_us = got.decode_us,
                apply_us = (t_commit - t_apply).as_micros() as u64,
                commit_us = t_commit.elapsed().as_micros() as u64,
                "batch applied"
            );
        }
    }
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The consumer's delivery sequence as this leader has seen it.
struct Deliveries {
    next: u64,
}

/// A delivery that was not the next one.
struct Gap {
    expected: u64,
    got: u64,
}

impl Deliveries {
    /// A consumer made anew delivers from 1.
    fn fresh() -> Self {
        Self { next: 1 }
    }

    /// Takes a batch's messages if each is the next delivery.
    fn accept(&mut self, msgs: &[jetstream::Message]) -> Result<(), Gap> {
        let mut next = self.next;
        for m in msgs {
            let got = m.info().map(|i| i.consumer_sequence).unwrap_or(0);
            if got != next {
                return Err(Gap { expected: next, got });
            }
            next += 1;
        }
        self.next = next;
        Ok(())
    }
}

/// JetStream's "consumer not found".
fn is_not_found(e: &jetstream::stream::ConsumerError) -> bool {
    const CONSUMER_NOT_FOUND: u64 = 10014;
    matches!(e.kind(), jetstream::stream::ConsumerErrorKind::JetStream(j) if j.error_code().0 == CONSUMER_NOT_FOUND)
}

/// A spawned task that is cancelled when dropped (a prefetch whose batch
/// will never be applied: the messages are redelivered to whoever runs next).
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// A batch as delivered and as decoded.
struct Fetched {
    msgs: Vec<jetstream::Message>,
    events: Vec<RecordedEvent>,
    unreadable: Vec<Unreadable>,
    fetch_us: u64,
    decode_us: u64,
}

impl Fetched {
    fn is_empty(&self) -> bool {
        self.msgs.is_empty()
    }

    fn extend(&mut self, more: Fetched) {
        self.msgs.extend(more.msgs);
        self.events.extend(more.events);
        self.unreadable.extend(more.unreadable);
        self.fetch_us += more.fetch_us;
        self.decode_us += more.decode_us;
    }
}

/// Fetches a batch (see [`fetch`]) and decodes it. A message whose envelope
/// cannot be read is kept aside, to be parked with the batch.
async fn fetch_decoded(
    consumer: &PullConsumer,
    ns: &Namespace,
    name: &'static str,
    max: usize,
    wait: Option<Duration>,
) -> Result<Fetched, ProjectionError> {
    let t = Instant::now();
    let msgs = fetch(consumer, max, wait).await.map_err(|e| ProjectionError::Nats {
        projection: name,
        what: "fetching".into(),
        source: e,
    })?;
    let fetched = Instant::now();
    let mut events = Vec::with_capacity(msgs.len());
    let mut unreadable = Vec::new();
    for m in &msgs {
        match RecordedEvent::from_jetstream(ns, m) {
            Ok(e) => events.push(e),
            Err(e) => match m.info() {
                Ok(info) => unreadable.push(Unreadable {
                    seq: info.stream_sequence,
                    subject: m.subject.to_string(),
                    tenant: ns.parse_subject(m.subject.as_str()).map(|p| p.tenant.to_owned()),
                    reason: e.to_string(),
                }),
                // Without a sequence it cannot be placed, nor parked.
                Err(_) => return Err(ProjectionError::Poison { projection: name, seq: 0, reason: e.to_string() }),
            },
        }
    }
    Ok(Fetched {
        msgs,
        events,
        unreadable,
        fetch_us: (fetched - t).as_micros() as u64,
        decode_us: fetched.elapsed().as_micros() as u64,
    })
}

/// How long a pull that asks for what is there may last. The server holds
/// such a pull until this expires when nothing is there (measured: every
/// idle pull took the whole expiry), so it is short: an idle projector
/// then finds out quickly, and a lost reply (a reconnect) still ends.
const NO_WAIT_EXPIRY: Duration = Duration::from_millis(250);

/// Fetches up to `max` messages: immediately what is available (`wait` None),
/// or waiting up to `wait` for them.
async fn fetch(
    consumer: &PullConsumer,
    max: usize,
    wait: Option<Duration>,
) -> Result<Vec<jetstream::Message>, BoxError> {
    let mut out = Vec::new();
    if max == 0 {
        return Ok(out);
    }
    let mut batch = match wait {
        // A pull that asks for what is there still has an end: a lost reply
        // (a reconnect) must not leave it waiting for good.
        None => consumer.fetch().max_messages(max).expires(NO_WAIT_EXPIRY).messages().await?,
        Some(w) => consumer.batch().max_messages(max).expires(w).messages().await?,
    };
    while let Some(m) = batch.next().await {
        out.push(m?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use sqlx::Connection;

    use super::*;
    use crate::models::Activity;

    fn event(seq: u64) -> RecordedEvent {
        RecordedEvent {
            stream_seq: seq,
            subject: format!("pod.evt.order.acme.{}", uuid::Uuid::nil()),
            aggregate_type: "order".into(),
            tenant: "acme".into(),
            aggregate_id: format!("acme.{}", uuid::Uuid::nil()),
            aggregate_seq: seq,
            event_type: "OrderPaid".into(),
            event_version: 1,
            command_id: format!("c{seq}"),
            correlation_id: String::new(),
            causation_id: String::new(),
            occurred_at: chrono::DateTime::from_timestamp(1_800_000_000 + seq as i64, 0).unwrap(),
            traceparent: None,
            payload: serde_json::json!({"amount_cents": 100, "cost_cents": null, "fees_cents": null}),
        }
    }

    /// A database of the test's own, dropped at the end.
    async fn with_db<F: AsyncFnOnce(&mut PgConnection)>(f: F) {
        let admin = std::env::var("DATABASE_URL").unwrap_or_else(|_| "postgres://pod:pod@127.0.0.1:5432/pod".into());
        let mut a = PgConnection::connect(&admin).await.unwrap_or_else(|e| {
            panic!(
                "this test needs PostgreSQL at {admin}: {e}. Start it with `scripts/services.sh` (or set DATABASE_URL)."
            )
        });
        let db = format!("pod_unit_{}", uuid::Uuid::new_v4().simple());
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {db}"))).execute(&mut a).await.unwrap();
        let url = format!("{}/{db}", &admin[..admin.rfind('/').unwrap()]);
        let mut conn = PgConnection::connect(&url).await.unwrap();
        crate::db::MIGRATOR.run(&mut conn).await.unwrap();
        f(&mut conn).await;
        conn.close().await.unwrap();
        sqlx::query(sqlx::AssertSqlSafe(format!("DROP DATABASE {db} WITH (FORCE)"))).execute(&mut a).await.unwrap();
    }

    #[tokio::test]
    async fn redelivered_events_out_of_order_are_applied_once_and_the_checkpoint_never_goes_back() {
        with_db(async |conn: &mut PgConnection| {
            let apply = async |conn: &mut PgConnection, seqs: &[u64]| {
                let events: Vec<_> = seqs.iter().map(|s| event(*s)).collect();
                let mut tx = conn.begin().await.unwrap();
                let n = apply_batch(&mut tx, &Activity, &events, &[], Target::Live, None).await.unwrap().applied;
                tx.commit().await.unwrap();
                n
            };
            assert_eq!(apply(conn, &[1, 2]).await, 2);
            // 1 and 2 come again, behind and among newer events.
            assert_eq!(apply(conn, &[3, 4, 1, 2, 5, 4]).await, 3);
            assert_eq!(apply(conn, &[2, 1]).await, 0);
            let rows: Vec<i64> = sqlx::query_scalar("SELECT stream_seq FROM activity ORDER BY stream_seq")
                .fetch_all(&mut *conn)
                .await
                .unwrap();
            assert_eq!(rows, vec![1, 2, 3, 4, 5]);
            let mut tx = conn.begin().await.unwrap();
            set_checkpoint(&mut tx, "activity", 3, 0).await.unwrap();
            let cp = checkpoint_for_update(&mut tx, "activity").await.unwrap();
            assert_eq!(cp, 5, "the checkpoint never moves back");
        })
        .await;
    }
}
