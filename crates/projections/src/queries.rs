//! Queries over the read models, for the API and the dashboard. Every query
//! takes the tenant: there is no way to read across tenants.

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

#[derive(Debug, Clone, PartialEq, serde::Serialize, sqlx::FromRow)]
pub struct TrendRow {
    pub trend_id: Uuid,
    pub keyword: String,
    pub niche: String,
    pub observations: i64,
    pub last_score: f64,
    pub last_seen: DateTime<Utc>,
    pub retired: bool,
}

/// Trends by latest score, best first.
pub async fn top_trends(pool: &PgPool, tenant: &str, limit: i64) -> Result<Vec<TrendRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT trend_id, keyword, niche, observations, last_score, last_seen, retired
         FROM trends WHERE tenant = $1 ORDER BY last_score DESC, trend_id LIMIT $2",
    )
    .bind(tenant)
    .bind(limit)
    .fetch_all(pool)
    .await
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, sqlx::FromRow)]
pub struct InterestPoint {
    pub bucket: DateTime<Utc>,
    pub mean_score: f64,
    pub peak_score: f64,
    pub observations: i64,
}

/// Daily interest of one trend (works on plain Postgres and on TimescaleDB).
pub async fn trend_interest(pool: &PgPool, tenant: &str, trend_id: Uuid) -> Result<Vec<InterestPoint>, sqlx::Error> {
    sqlx::query_as(
        "SELECT bucket, mean_score, peak_score, observations FROM trend_interest_daily
         WHERE tenant = $1 AND trend_id = $2 ORDER BY bucket",
    )
    .bind(tenant)
    .bind(trend_id)
    .fetch_all(pool)
    .await
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, sqlx::FromRow)]
pub struct ActivityRow {
    pub stream_seq: i64,
    pub occurred_at: DateTime<Utc>,
    pub aggregate_type: String,
    pub event_type: String,
    pub summary: String,
}

/// The newest activity, newest first, before `before` (a cursor) if given.
pub async fn activity(
    pool: &PgPool,
    tenant: &str,
    before: Option<i64>,
    limit: i64,
) -> Result<Vec<ActivityRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT stream_seq, occurred_at, aggregate_type, event_type, summary FROM activity
         WHERE tenant = $1 AND stream_seq < coalesce($2, 9223372036854775807)
         ORDER BY stream_seq DESC LIMIT $3",
    )
    .bind(tenant)
    .bind(before)
    .bind(limit)
    .fetch_all(pool)
    .await
}
