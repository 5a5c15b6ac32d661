//! `pod projections status`: each projection's checkpoint, the stream's last
//! sequence, and how far behind the projection is.

use async_nats::jetstream;
use pod_events::Namespace;
use sqlx::PgPool;

use crate::models::Projection;

#[derive(Debug, Clone, serde::Serialize)]
pub struct ProjectionStatus {
    pub projection: String,
    pub checkpoint: u64,
    pub generation: i32,
    pub stream_last_seq: u64,
    /// Stream sequences between the checkpoint and the end of the log.
    pub lag_seq: u64,
    /// Events of this projection's subjects not yet applied (from the consumer).
    pub pending_events: Option<u64>,
    /// Events this projection could not apply and set aside (`pod projections parked`).
    pub parked: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum StatusError {
    #[error("reading checkpoints: {0}")]
    Db(#[from] sqlx::Error),
    #[error("reading the stream {stream}: {source}")]
    Nats { stream: String, source: Box<dyn std::error::Error + Send + Sync> },
}

pub async fn status(
    pool: &PgPool,
    client: async_nats::Client,
    ns: &Namespace,
    projections: &[Box<dyn Projection>],
) -> Result<Vec<ProjectionStatus>, StatusError> {
    let js = jetstream::new(client);
    let stream_name = ns.events_stream();
    let mut stream = js
        .get_stream(&stream_name)
        .await
        .map_err(|e| StatusError::Nats { stream: stream_name.clone(), source: Box::new(e) })?;
    let last = stream
        .info()
        .await
        .map_err(|e| StatusError::Nats { stream: stream_name.clone(), source: Box::new(e) })?
        .state
        .last_sequence;
    let parked = crate::parked::counts(pool).await?;
    let mut out = Vec::new();
    for p in projections {
        let row: Option<(i64, i32)> =
            sqlx::query_as("SELECT last_seq, generation FROM projection_checkpoints WHERE projection = $1")
                .bind(p.name())
                .fetch_optional(pool)
                .await?;
        let (cp, generation) = row.unwrap_or((0, 0));
        let durable = ns.consumer(&format!("proj_{}", p.name()));
        let pending = match stream.get_consumer::<jetstream::consumer::pull::Config>(&durable).await {
            Ok(mut c) => c.info().await.ok().map(|i| i.num_pending + i.num_ack_pending as u64),
            Err(_) => None,
        };
        out.push(ProjectionStatus {
            projection: p.name().to_owned(),
            checkpoint: cp as u64,
            generation,
            stream_last_seq: last,
            lag_seq: last.saturating_sub(cp as u64),
            pending_events: pending,
            parked: parked.iter().find(|(n, _)| n == p.name()).map_or(0, |(_, c)| *c as u64),
        });
    }
    Ok(out)
}
