//! Rebuilding a projection without downtime: replay the log from sequence 1
//! into shadow tables (a schema of their own, same definitions), then, in one
//! transaction that holds the projection's apply lock, catch up the tail and
//! swap the shadow tables in. Readers see the old model until the commit and
//! the new one after it; never a half-built one.

use pod_events::store::reader::{LogReader, Start};
use pod_events::{Namespace, RecordedEvent};
use sqlx::{AssertSqlSafe, PgConnection, PgPool};

use crate::models::{Projection, filter_subjects};
use crate::runtime::{ProjectionError, Target, apply_batch, lock_key};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RebuildReport {
    pub projection: &'static str,
    pub events: u64,
    pub last_seq: u64,
}

fn shadow_schema(p: &dyn Projection) -> String {
    format!("rebuild_{}", p.name())
}

async fn exec(conn: &mut PgConnection, sql: String) -> Result<(), sqlx::Error> {
    sqlx::query(AssertSqlSafe(sql)).execute(&mut *conn).await.map(|_| ())
}

/// Applies a batch into the shadow tables (search_path puts them first).
async fn apply_shadow(
    conn: &mut PgConnection,
    p: &dyn Projection,
    schema: &str,
    batch: &[RecordedEvent],
) -> Result<usize, ProjectionError> {
    let name = p.name();
    exec(conn, format!("SET LOCAL search_path TO {schema}, public")).await.map_err(|source| ProjectionError::Db {
        projection: name,
        what: "switching to the shadow tables",
        source,
    })?;
    let done = apply_batch(conn, p, batch, &[], Target::Shadow, None).await?;
    match done.blocked {
        None => Ok(done.applied),
        Some((seq, reason)) => Err(ProjectionError::Rebuild {
            projection: p.name(),
            reason: format!("event {seq} needs a newer release of this program: {reason}"),
        }),
    }
}

/// The next batch of the log, or None once caught up.
async fn next_batch(
    reader: &mut LogReader,
    name: &'static str,
    max: usize,
) -> Result<Option<Vec<RecordedEvent>>, ProjectionError> {
    let batch = reader.next_batch(max).await.map_err(|e| ProjectionError::Nats {
        projection: name,
        what: "reading the log".into(),
        source: Box::new(e),
    })?;
    Ok((!batch.is_empty()).then_some(batch))
}

pub async fn rebuild(
    pool: &PgPool,
    client: async_nats::Client,
    ns: &Namespace,
    p: &dyn Projection,
    batch_size: usize,
) -> Result<RebuildReport, ProjectionError> {
    let result = build_and_swap(pool, client, ns, p, batch_size).await;
    if result.is_err() {
        // Nothing was swapped; do not leave a half-built copy behind.
        let drop = format!("DROP SCHEMA IF EXISTS {} CASCADE", shadow_schema(p));
        if let Err(e) = sqlx::query(AssertSqlSafe(drop)).execute(pool).await {
            tracing::warn!(projection = p.name(), error = %e, "could not drop the shadow schema");
        }
    }
    result
}

async fn build_and_swap(
    pool: &PgPool,
    client: async_nats::Client,
    ns: &Namespace,
    p: &dyn Projection,
    batch_size: usize,
) -> Result<RebuildReport, ProjectionError> {
    let name = p.name();
    let db = |what| move |source| ProjectionError::Db { projection: name, what, source };
    let schema = shadow_schema(p);

    // 1. Fresh shadow tables shaped like the live ones, with their own checkpoint.
    let mut conn = pool.acquire().await.map_err(db("connecting"))?;
    exec(&mut conn, format!("DROP SCHEMA IF EXISTS {schema} CASCADE")).await.map_err(db("dropping old shadow"))?;
    exec(&mut conn, format!("CREATE SCHEMA {schema}")).await.map_err(db("creating shadow schema"))?;
    // The rebuild parks what it cannot apply in its own copy of
    // `projection_parked`, which replaces the projection's rows at the swap.
    for t in p.tables().iter().chain(["projection_checkpoints", "projection_parked"].iter()) {
        exec(&mut conn, format!("CREATE TABLE {schema}.{t} (LIKE public.{t} INCLUDING ALL)"))
            .await
            .map_err(db("creating shadow table"))?;
        // LIKE does not copy storage parameters (fillfactor): carry them over.
        let options: Option<String> = sqlx::query_scalar(
            "SELECT array_to_string(reloptions, ', ') FROM pg_class WHERE oid = to_regclass('public.' || $1)",
        )
        .bind(t)
        .fetch_one(&mut *conn)
        .await
        .map_err(db("reading storage parameters"))?;
        if let Some(options) = options.filter(|o| !o.is_empty()) {
            exec(&mut conn, format!("ALTER TABLE {schema}.{t} SET ({options})"))
                .await
                .map_err(db("setting storage parameters"))?;
        }
    }
    // Time series are hypertables from the start (where TimescaleDB exists),
    // so the swap moves them in without copying anything under its locks.
    let timescale: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb')")
            .fetch_one(&mut *conn)
            .await
            .map_err(db("checking for timescaledb"))?;
    if timescale {
        for (t, col) in p.hypertables() {
            sqlx::query("SELECT create_hypertable($1::regclass, $2::name)")
                .bind(format!("{schema}.{t}"))
                .bind(col)
                .execute(&mut *conn)
                .await
                .map_err(db("making a hypertable"))?;
        }
    }
    drop(conn);

    // 2. Replay the log into them, one transaction per batch.
    let mut reader = LogReader::open(client, ns, filter_subjects(p, ns), Start::All)
        .await
        .map_err(|e| ProjectionError::Nats { projection: name, what: "opening the log".into(), source: Box::new(e) })?;
    let mut events = 0u64;
    let mut last_seq = 0u64;
    while let Some(batch) = next_batch(&mut reader, name, batch_size).await? {
        last_seq = batch.last().map(|e| e.stream_seq).unwrap_or(last_seq);
        let mut tx = pool.begin().await.map_err(db("beginning"))?;
        events += apply_shadow(&mut tx, p, &schema, &batch).await? as u64;
        tx.commit().await.map_err(db("committing a shadow batch"))?;
        if reader.caught_up() {
            break;
        }
    }

    // 3. Swap: hold the apply lock (the live projector waits), catch up, swap.
    let mut tx = pool.begin().await.map_err(db("beginning the swap"))?;
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(lock_key("apply", name))
        .execute(&mut *tx)
        .await
        .map_err(db("taking the apply lock"))?;
    while let Some(batch) = next_batch(&mut reader, name, batch_size).await? {
        last_seq = batch.last().map(|e| e.stream_seq).unwrap_or(last_seq);
        events += apply_shadow(&mut tx, p, &schema, &batch).await? as u64;
        if reader.caught_up() {
            break;
        }
    }
    // The live projector is paused on the lock; the shadow must have
    // everything it committed before the swap may replace it.
    let live_cp: i64 = sqlx::query_scalar(
        "SELECT coalesce((SELECT last_seq FROM public.projection_checkpoints WHERE projection = $1), 0)",
    )
    .bind(name)
    .fetch_one(&mut *tx)
    .await
    .map_err(db("reading the live checkpoint"))?;
    let shadow_checkpoint =
        format!("SELECT coalesce((SELECT last_seq FROM {schema}.projection_checkpoints WHERE projection = $1), 0)");
    let mut idle_reads = 0;
    loop {
        let shadow_cp: i64 = sqlx::query_scalar(AssertSqlSafe(shadow_checkpoint.clone()))
            .bind(name)
            .fetch_one(&mut *tx)
            .await
            .map_err(db("reading the shadow checkpoint"))?;
        if shadow_cp >= live_cp {
            break;
        }
        match next_batch(&mut reader, name, batch_size).await? {
            Some(batch) => {
                last_seq = batch.last().map(|e| e.stream_seq).unwrap_or(last_seq);
                events += apply_shadow(&mut tx, p, &schema, &batch).await? as u64;
            }
            None if idle_reads < 20 => idle_reads += 1,
            None => {
                return Err(ProjectionError::Rebuild {
                    projection: name,
                    reason: format!(
                        "the log did not deliver up to the live checkpoint {live_cp} (shadow at {shadow_cp})"
                    ),
                });
            }
        }
    }
    exec(&mut tx, "SET LOCAL search_path TO public".into()).await.map_err(db("resetting search_path"))?;
    // Views over the swapped tables are dropped and recreated around the swap.
    let mut views: Vec<(String, String)> = Vec::new();
    for t in p.tables() {
        let deps: Vec<(String, String)> = sqlx::query_as(
            "SELECT DISTINCT v.relname::text, pg_get_viewdef(v.oid)
             FROM pg_depend d
             JOIN pg_rewrite r ON r.oid = d.objid
             JOIN pg_class v ON v.oid = r.ev_class
             WHERE d.refobjid = to_regclass('public.' || $1) AND v.oid <> d.refobjid AND v.relkind = 'v'",
        )
        .bind(t)
        .fetch_all(&mut *tx)
        .await
        .map_err(db("finding dependent views"))?;
        // A view over several of the tables (trends and their observations) is listed once.
        for d in deps {
            if !views.iter().any(|(name, _)| *name == d.0) {
                views.push(d);
            }
        }
    }
    for (v, _) in &views {
        exec(&mut tx, format!("DROP VIEW IF EXISTS public.{v}")).await.map_err(db("dropping a dependent view"))?;
    }
    for t in p.tables() {
        exec(&mut tx, format!("DROP TABLE public.{t}")).await.map_err(db("dropping the old table"))?;
        exec(&mut tx, format!("ALTER TABLE {schema}.{t} SET SCHEMA public"))
            .await
            .map_err(db("moving in the new table"))?;
    }
    for (v, def) in &views {
        exec(&mut tx, format!("CREATE VIEW public.{v} AS {def}")).await.map_err(db("recreating a view"))?;
    }
    let shadow_cp: i64 = sqlx::query_scalar(AssertSqlSafe(format!(
        "SELECT coalesce((SELECT last_seq FROM {schema}.projection_checkpoints WHERE projection = $1), 0)"
    )))
    .bind(name)
    .fetch_one(&mut *tx)
    .await
    .map_err(db("reading the shadow checkpoint"))?;
    // What is parked now is what the new tables lack: the shadow's record
    // replaces the old one (whatever was retried into the old tables is
    // gone with them), keeping what someone chose to skip.
    sqlx::query("DELETE FROM public.projection_parked WHERE projection = $1 AND resolution IS DISTINCT FROM 'skipped'")
        .bind(name)
        .execute(&mut *tx)
        .await
        .map_err(db("clearing the parked events"))?;
    sqlx::query(AssertSqlSafe(format!(
        "INSERT INTO public.projection_parked SELECT * FROM {schema}.projection_parked WHERE projection = $1
         ON CONFLICT (projection, stream_seq) DO NOTHING"
    )))
    .bind(name)
    .execute(&mut *tx)
    .await
    .map_err(db("moving in the parked events"))?;
    sqlx::query(
        "INSERT INTO public.projection_checkpoints (projection, last_seq) VALUES ($1, $2)
         ON CONFLICT (projection) DO UPDATE SET last_seq = excluded.last_seq, updated_at = now(),
             generation = projection_checkpoints.generation + 1",
    )
    .bind(name)
    .bind(shadow_cp)
    .execute(&mut *tx)
    .await
    .map_err(db("writing the checkpoint"))?;
    exec(&mut tx, format!("DROP SCHEMA {schema} CASCADE")).await.map_err(db("dropping the shadow schema"))?;
    tx.commit().await.map_err(db("committing the swap"))?;
    Ok(RebuildReport { projection: name, events, last_seq: last_seq.max(shadow_cp as u64) })
}
