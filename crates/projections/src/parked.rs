//! Parked events: an event a projection cannot apply because of its own data
//! (its encoding, a constraint, a payload this program cannot decode) is set
//! aside for that projection with the error, and the projection moves on.
//! One tenant's bad event never freezes every tenant's read models.
//!
//! `pod projections parked|retry|skip` manage them. A retry applies the event
//! in the same transaction that marks it retried, under the projection's apply
//! lock, so it is applied exactly once however often it is asked for.

use async_nats::jetstream;
use chrono::{DateTime, Utc};
use pod_events::{Namespace, RecordedEvent, Transient};
use sqlx::{Connection, PgConnection, PgPool};

use crate::models::{ApplyError, Projection};
use crate::runtime::{ProjectionError, lock_key};

/// One parked event, as listed.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, sqlx::FromRow)]
pub struct ParkedEvent {
    pub projection: String,
    pub stream_seq: i64,
    pub subject: String,
    pub tenant: Option<String>,
    pub event_type: Option<String>,
    pub error: String,
    pub parked_at: DateTime<Utc>,
}

/// What a retry did to one parked event.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum RetryOutcome {
    /// Applied now, and marked retried.
    Applied { stream_seq: i64 },
    /// Still cannot be applied; the new error is recorded.
    StillFailing { stream_seq: i64, error: String },
    /// Not parked (never, or already retried or skipped): nothing done.
    NotParked { stream_seq: i64 },
}

/// Records `seq` as parked for `projection` (inside the batch transaction).
/// Parked again after a rebuild, it stays skipped if someone skipped it.
pub(crate) async fn park(
    tx: &mut PgConnection,
    projection: &str,
    seq: u64,
    subject: &str,
    tenant: Option<&str>,
    event_type: Option<&str>,
    error: &str,
) -> Result<(), sqlx::Error> {
    tracing::error!(projection, seq, subject, error, "event parked: this projection cannot apply it");
    sqlx::query(
        "INSERT INTO projection_parked (projection, stream_seq, subject, tenant, event_type, error)
         VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (projection, stream_seq) DO UPDATE
            SET error = excluded.error, parked_at = now(),
                resolution = CASE WHEN projection_parked.resolution = 'skipped' THEN 'skipped' END,
                resolved_at = CASE WHEN projection_parked.resolution = 'skipped' THEN projection_parked.resolved_at END",
    )
    .bind(projection)
    .bind(seq as i64)
    .bind(subject)
    .bind(tenant)
    .bind(event_type)
    .bind(error)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// Parked (unresolved) events, oldest first: of one projection or all, of one tenant or all.
pub async fn list(
    pool: &PgPool,
    projection: Option<&str>,
    tenant: Option<&str>,
    limit: i64,
) -> Result<Vec<ParkedEvent>, sqlx::Error> {
    sqlx::query_as(
        "SELECT projection, stream_seq, subject, tenant, event_type, error, parked_at
         FROM projection_parked
         WHERE resolution IS NULL AND ($1::text IS NULL OR projection = $1) AND ($2::text IS NULL OR tenant = $2)
         ORDER BY projection, stream_seq
         LIMIT $3",
    )
    .bind(projection)
    .bind(tenant)
    .bind(limit)
    .fetch_all(pool)
    .await
}

/// How many events each projection has parked.
pub async fn counts(pool: &PgPool) -> Result<Vec<(String, i64)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT projection, count(*) FROM projection_parked WHERE resolution IS NULL GROUP BY projection ORDER BY 1",
    )
    .fetch_all(pool)
    .await
}

/// Gives up on parked events: they stay recorded, marked skipped.
pub async fn skip(pool: &PgPool, projection: &str, seqs: Option<&[i64]>) -> Result<u64, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE projection_parked SET resolution = 'skipped', resolved_at = now()
         WHERE projection = $1 AND resolution IS NULL AND ($2::bigint[] IS NULL OR stream_seq = ANY($2))",
    )
    .bind(projection)
    .bind(seqs)
    .execute(pool)
    .await?;
    Ok(done.rows_affected())
}

/// Applies parked events again (all of the projection's, or the ones named),
/// each in its own transaction.
pub async fn retry(
    pool: &PgPool,
    client: async_nats::Client,
    ns: &Namespace,
    projection: &dyn Projection,
    seqs: Option<&[i64]>,
) -> Result<Vec<RetryOutcome>, ProjectionError> {
    let name = projection.name();
    let db = |what| move |source| ProjectionError::Db { projection: name, what, source };
    let wanted: Vec<i64> = match seqs {
        Some(s) => s.to_vec(),
        None => sqlx::query_scalar(
            "SELECT stream_seq FROM projection_parked WHERE projection = $1 AND resolution IS NULL ORDER BY stream_seq",
        )
        .bind(name)
        .fetch_all(pool)
        .await
        .map_err(db("listing parked events"))?,
    };
    let js = jetstream::new(client);
    let stream_name = ns.events_stream();
    let stream = js.get_stream(&stream_name).await.map_err(|e| ProjectionError::Nats {
        projection: name,
        what: format!("opening stream {stream_name}"),
        source: Box::new(e),
    })?;
    let mut out = Vec::with_capacity(wanted.len());
    for seq in wanted {
        let mut conn = pool.acquire().await.map_err(db("connecting"))?;
        let mut tx = conn.begin().await.map_err(db("beginning"))?;
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(lock_key("apply", name))
            .execute(&mut *tx)
            .await
            .map_err(db("taking the apply lock"))?;
        let parked: Option<i64> = sqlx::query_scalar(
            "SELECT stream_seq FROM projection_parked
             WHERE projection = $1 AND stream_seq = $2 AND resolution IS NULL FOR UPDATE",
        )
        .bind(name)
        .bind(seq)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db("reading the parked event"))?;
        if parked.is_none() {
            out.push(RetryOutcome::NotParked { stream_seq: seq });
            continue;
        }
        let event = read_event(&stream, ns, seq as u64).await.map_err(|e| ProjectionError::Nats {
            projection: name,
            what: format!("reading stream message {seq}"),
            source: e,
        })?;
        let result = match event {
            Ok(event) => {
                let mut sp = Connection::begin(&mut *tx).await.map_err(db("beginning a savepoint"))?;
                match projection.apply(&mut sp, std::slice::from_ref(&event)).await {
                    Ok(()) => {
                        sp.commit().await.map_err(db("releasing the savepoint"))?;
                        Ok(())
                    }
                    Err(e) if !e.is_transient() => {
                        sp.rollback().await.map_err(db("rolling back the savepoint"))?;
                        Err(e.to_string())
                    }
                    Err(ApplyError::Db(source)) => {
                        return Err(ProjectionError::Db { projection: name, what: "applying", source });
                    }
                    Err(e) => Err(e.to_string()),
                }
            }
            Err(reason) => Err(reason),
        };
        match result {
            Ok(()) => {
                sqlx::query(
                    "UPDATE projection_parked SET resolution = 'retried', resolved_at = now()
                     WHERE projection = $1 AND stream_seq = $2",
                )
                .bind(name)
                .bind(seq)
                .execute(&mut *tx)
                .await
                .map_err(db("marking the event retried"))?;
                out.push(RetryOutcome::Applied { stream_seq: seq });
            }
            Err(error) => {
                sqlx::query("UPDATE projection_parked SET error = $3 WHERE projection = $1 AND stream_seq = $2")
                    .bind(name)
                    .bind(seq)
                    .bind(&error)
                    .execute(&mut *tx)
                    .await
                    .map_err(db("recording the error"))?;
                out.push(RetryOutcome::StillFailing { stream_seq: seq, error });
            }
        }
        tx.commit().await.map_err(db("committing"))?;
    }
    Ok(out)
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// One stream message by sequence, decoded (the inner error: it cannot be).
async fn read_event(
    stream: &jetstream::stream::Stream,
    ns: &Namespace,
    seq: u64,
) -> Result<Result<RecordedEvent, String>, BoxError> {
    let msg = stream.get_raw_message(seq).await?;
    let time = pod_events::envelope::nats_time(msg.time);
    Ok(RecordedEvent::decode(ns, seq, msg.subject.as_str(), &msg.headers, &msg.payload, time)
        .map_err(|e| e.to_string()))
}
