//! The projection runtime. Each projection is a durable JetStream pull
//! consumer. A batch is applied to its tables and its checkpoint (the last
//! stream sequence applied) in one PostgreSQL transaction, then acked;
//! a redelivered event at or below the checkpoint is skipped. So a crash
//! (even `kill -9`) anywhere loses nothing and applies nothing twice.
//!
//! One active instance per projection: the instance holding the projection's
//! session advisory lock runs; others wait as standbys. Every batch also takes
//! the projection's transaction lock, which a rebuild's swap takes too.

use std::time::Duration;

use async_nats::jetstream::{self, consumer::PullConsumer};
use futures::StreamExt;
use pod_events::{Namespace, RecordedEvent};
use sqlx::{Connection, PgConnection, PgPool};

use crate::models::Projection;

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
}

#[derive(Debug, Clone)]
pub struct RunOptions {
    pub batch_size: usize,
    /// How long an idle fetch waits for new events.
    pub idle_wait: Duration,
    /// Stop once the consumer has nothing pending (used by tests and `--until-caught-up`).
    pub stop_when_idle: bool,
}

impl Default for RunOptions {
    fn default() -> Self {
        Self { batch_size: 1000, idle_wait: Duration::from_secs(1), stop_when_idle: false }
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

pub(crate) async fn set_checkpoint(tx: &mut PgConnection, name: &str, seq: i64) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE projection_checkpoints SET last_seq = greatest(last_seq, $2), updated_at = now() WHERE projection = $1",
    )
    .bind(name)
    .bind(seq)
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

/// Applies `events` above the checkpoint and advances it, in `tx`.
/// Returns how many events were applied (the rest were already covered).
pub(crate) async fn apply_batch(
    tx: &mut PgConnection,
    projection: &dyn Projection,
    events: &[RecordedEvent],
    target: Target,
) -> Result<usize, ProjectionError> {
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
    let Some(last) = fresh.last().map(|e| e.stream_seq as i64) else { return Ok(0) };
    projection.apply(tx, fresh).await.map_err(|e| match e {
        crate::models::ApplyError::Db(source) => {
            ProjectionError::Db { projection: name, what: "applying events", source }
        }
        crate::models::ApplyError::Decode { seq, source, .. } => {
            ProjectionError::Poison { projection: name, seq, reason: source.to_string() }
        }
        e @ crate::models::ApplyError::BadId { seq, .. } => {
            ProjectionError::Poison { projection: name, seq, reason: e.to_string() }
        }
        e @ crate::models::ApplyError::Json(_) => {
            ProjectionError::Poison { projection: name, seq: 0, reason: e.to_string() }
        }
    })?;
    set_checkpoint(tx, name, last).await.map_err(db("writing the checkpoint"))?;
    Ok(fresh.len())
}

pub struct Projector {
    pool: PgPool,
    js: jetstream::Context,
    ns: Namespace,
    projection: Box<dyn Projection>,
}

impl Projector {
    pub fn new(pool: PgPool, client: async_nats::Client, ns: Namespace, projection: Box<dyn Projection>) -> Self {
        Self { pool, js: jetstream::new(client), ns, projection }
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
    async fn line_up_consumer(&self) -> Result<(), ProjectionError> {
        let name = self.projection.name();
        let cp: i64 = sqlx::query_scalar(
            "SELECT coalesce((SELECT last_seq FROM projection_checkpoints WHERE projection = $1), 0)",
        )
        .bind(name)
        .fetch_one(&self.pool)
        .await
        .map_err(|source| ProjectionError::Db { projection: name, what: "reading the checkpoint", source })?;
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
                return Ok(());
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
            pod_events::store::definitions::reposition_consumer(&self.js.client(), &stream, &durable, cp as u64 + 1)
                .await
                .map_err(|e| ProjectionError::Nats {
                    projection: name,
                    what: "repositioning the consumer".into(),
                    source: Box::new(e),
                })?;
        }
        Ok(())
    }

    /// Runs until `shutdown` resolves (or, with `stop_when_idle`, until caught up).
    /// Returns the number of events applied.
    pub async fn run(
        &self,
        options: &RunOptions,
        shutdown: impl std::future::Future<Output = ()>,
    ) -> Result<u64, ProjectionError> {
        let name = self.projection.name();
        let db = |what| move |source| ProjectionError::Db { projection: name, what, source };
        let nats = |what: &'static str| {
            move |e: BoxError| ProjectionError::Nats { projection: name, what: what.to_owned(), source: e }
        };
        tokio::pin!(shutdown);

        // Leadership: a session-level advisory lock on a connection we keep.
        let mut leader = self.pool.acquire().await.map_err(db("connecting"))?.detach();
        loop {
            let got: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
                .bind(lock_key("leader", name))
                .fetch_one(&mut leader)
                .await
                .map_err(db("taking the leader lock"))?;
            if got {
                break;
            }
            tracing::info!(projection = name, "another instance is active; standing by");
            tokio::select! {
                _ = &mut shutdown => return Ok(0),
                _ = tokio::time::sleep(Duration::from_secs(2)) => {}
            }
        }
        tracing::info!(projection = name, "active");

        self.line_up_consumer().await?;
        let consumer = self.consumer().await?;
        let mut applied_total = 0u64;
        // The next batch is fetched and decoded while the current one is written.
        let mut prefetch: Option<AbortOnDrop<Result<Fetched, ProjectionError>>> = None;
        loop {
            let mut got = match prefetch.take() {
                Some(mut h) => (&mut h.0).await.map_err(|e| nats("prefetching")(Box::new(e)))??,
                None => fetch_decoded(&consumer, &self.ns, name, options.batch_size, None).await?,
            };
            if got.events.is_empty() && options.stop_when_idle {
                let mut c = consumer.clone();
                let info = c.info().await.map_err(|e| nats("reading consumer info")(Box::new(e)))?;
                if info.num_pending == 0 && info.num_ack_pending == 0 {
                    break;
                }
            }
            if got.events.is_empty() {
                // Nothing there: wait for one message (up to `idle_wait`), then take what followed it.
                tokio::select! {
                    _ = &mut shutdown => break,
                    g = fetch_decoded(&consumer, &self.ns, name, 1, Some(options.idle_wait)) => got = g?,
                }
                if got.events.is_empty() {
                    continue;
                }
                got.extend(fetch_decoded(&consumer, &self.ns, name, options.batch_size.saturating_sub(1), None).await?);
            }
            let (c, ns, size) = (consumer.clone(), self.ns.clone(), options.batch_size);
            prefetch = Some(AbortOnDrop(tokio::spawn(async move { fetch_decoded(&c, &ns, name, size, None).await })));

            let t_apply = std::time::Instant::now();
            // On the leader connection: if it was lost, so was the lock, and
            // the batch fails instead of racing a standby that took over.
            let mut tx = leader.begin().await.map_err(db("beginning a transaction"))?;
            let applied = apply_batch(&mut tx, self.projection.as_ref(), &got.events, Target::Live).await?;
            let t_commit = std::time::Instant::now();
            tx.commit().await.map_err(db("committing"))?;
            applied_total += applied as u64;
            // Ack policy "all": acking the last message acks the batch.
            if let Some(last) = got.msgs.last() {
                last.ack().await.map_err(nats("acking"))?;
            }
            tracing::debug!(
                projection = name,
                applied,
                batch = got.msgs.len(),
                fetch_us = got.fetch_us,
                decode_us = got.decode_us,
                apply_us = (t_commit - t_apply).as_micros() as u64,
                commit_us = t_commit.elapsed().as_micros() as u64,
                "batch applied"
            );
        }
        let _ = sqlx::query("SELECT pg_advisory_unlock($1)").bind(lock_key("leader", name)).execute(&mut leader).await;
        let _ = leader.close().await;
        Ok(applied_total)
    }
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

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
    fetch_us: u64,
    decode_us: u64,
}

impl Fetched {
    fn extend(&mut self, more: Fetched) {
        self.msgs.extend(more.msgs);
        self.events.extend(more.events);
        self.fetch_us += more.fetch_us;
        self.decode_us += more.decode_us;
    }
}

/// Fetches a batch (see [`fetch`]) and decodes it. An event that cannot be
/// read is a bug upstream: the projection stops loudly rather than skip it.
async fn fetch_decoded(
    consumer: &PullConsumer,
    ns: &Namespace,
    name: &'static str,
    max: usize,
    wait: Option<Duration>,
) -> Result<Fetched, ProjectionError> {
    let t = std::time::Instant::now();
    let msgs = fetch(consumer, max, wait).await.map_err(|e| ProjectionError::Nats {
        projection: name,
        what: "fetching".into(),
        source: e,
    })?;
    let fetched = std::time::Instant::now();
    let mut events = Vec::with_capacity(msgs.len());
    for m in &msgs {
        let e = RecordedEvent::from_jetstream(ns, m).map_err(|e| ProjectionError::Poison {
            projection: name,
            seq: m.info().map(|i| i.stream_sequence).unwrap_or(0),
            reason: e.to_string(),
        })?;
        events.push(e);
    }
    Ok(Fetched {
        msgs,
        events,
        fetch_us: (fetched - t).as_micros() as u64,
        decode_us: fetched.elapsed().as_micros() as u64,
    })
}

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
        None => consumer.fetch().max_messages(max).messages().await?,
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
                let n = apply_batch(&mut tx, &Activity, &events, Target::Live).await.unwrap();
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
            set_checkpoint(&mut tx, "activity", 3).await.unwrap();
            let cp = checkpoint_for_update(&mut tx, "activity").await.unwrap();
            assert_eq!(cp, 5, "the checkpoint never moves back");
        })
        .await;
    }
}
