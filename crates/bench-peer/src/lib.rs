//! The benchmark peer: Trend commands through cqrs-es's `postgres-es` event
//! store, in a database of its own, so `pod bench backbone` can compare our
//! JetStream store with the store cqrs-es ships.

use std::sync::Arc;
use std::time::Instant;

use pod_events::domain::trend::{Trend, TrendCommand};
use sqlx8::postgres::PgPoolOptions;

#[derive(Debug, thiserror::Error)]
pub enum PeerError {
    #[error("postgres-es peer database: {0}")]
    Db(#[from] sqlx8::Error),
    #[error("postgres-es peer command failed: {0}")]
    Command(String),
}

/// `postgres-es`'s own schema (its `db/init.sql`).
const SCHEMA: [&str; 2] = [
    "CREATE TABLE IF NOT EXISTS events (
        aggregate_type text NOT NULL, aggregate_id text NOT NULL,
        sequence bigint CHECK (sequence >= 0) NOT NULL,
        event_type text NOT NULL, event_version text NOT NULL,
        payload json NOT NULL, metadata json NOT NULL,
        PRIMARY KEY (aggregate_type, aggregate_id, sequence))",
    "CREATE TABLE IF NOT EXISTS snapshots (
        aggregate_type text NOT NULL, aggregate_id text NOT NULL,
        last_sequence bigint CHECK (last_sequence >= 0) NOT NULL,
        current_snapshot bigint CHECK (current_snapshot >= 0) NOT NULL,
        payload json NOT NULL,
        PRIMARY KEY (aggregate_type, aggregate_id, last_sequence))",
];

/// Runs `commands` (aggregate id, command) with `concurrency` tasks against
/// the database at `database_url` (which must exist and be empty) and returns
/// commands per second.
pub async fn run(
    database_url: &str,
    commands: Vec<(String, TrendCommand)>,
    concurrency: usize,
) -> Result<f64, PeerError> {
    let pool = PgPoolOptions::new().max_connections(concurrency.clamp(1, 32) as u32).connect(database_url).await?;
    for s in SCHEMA {
        sqlx8::query(s).execute(&pool).await?;
    }
    let cqrs = Arc::new(postgres_es::postgres_cqrs::<Trend>(pool.clone(), vec![], ()));
    let n = commands.len();
    let chunks: Vec<Vec<(String, TrendCommand)>> = {
        let mut chunks: Vec<Vec<_>> = (0..concurrency.max(1)).map(|_| Vec::new()).collect();
        // Same aggregate → same task, so tasks do not fight over aggregates.
        for (id, cmd) in commands {
            let slot = id.bytes().fold(0usize, |h, b| h.wrapping_mul(31).wrapping_add(b as usize)) % chunks.len();
            chunks[slot].push((id, cmd));
        }
        chunks
    };
    let start = Instant::now();
    let mut tasks = Vec::new();
    for chunk in chunks {
        let cqrs = cqrs.clone();
        tasks.push(tokio::spawn(async move {
            for (id, cmd) in chunk {
                cqrs.execute(&id, cmd).await.map_err(|e| PeerError::Command(e.to_string()))?;
            }
            Ok::<_, PeerError>(())
        }));
    }
    for t in futures::future::join_all(tasks).await {
        t.map_err(|e| PeerError::Command(e.to_string()))??;
    }
    let secs = start.elapsed().as_secs_f64();
    pool.close().await;
    Ok(n as f64 / secs)
}
