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

#[derive(Debug, Clone, PartialEq, serde::Serialize, sqlx::FromRow, utoipa::ToSchema)]
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

/// How fast a trend is moving: growth of its mean interest over the last 7
/// and 30 days against the period before (0.25 = +25 %). `None` where a
/// window has no observations.
#[derive(Debug, Clone, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct Momentum {
    pub trend_id: Uuid,
    pub keyword: String,
    pub mean_7d: Option<f64>,
    pub growth_7d: Option<f64>,
    pub mean_30d: Option<f64>,
    pub growth_30d: Option<f64>,
}

fn growth(now: Option<f64>, before: Option<f64>) -> Option<f64> {
    match (now, before) {
        (Some(n), Some(b)) if b > 0.0 => Some((n - b) / b),
        _ => None,
    }
}

/// Trends by 7-day growth, fastest risers first.
pub async fn trend_momentum(pool: &PgPool, tenant: &str, limit: i64) -> Result<Vec<Momentum>, sqlx::Error> {
    type Row = (Uuid, String, Option<f64>, Option<f64>, Option<f64>, Option<f64>);
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT m.trend_id, t.keyword, m.mean_7d, m.mean_prev_7d, m.mean_30d, m.mean_prev_30d
         FROM trend_momentum m JOIN trends t ON t.tenant = m.tenant AND t.trend_id = m.trend_id
         WHERE m.tenant = $1
         ORDER BY (m.mean_7d - m.mean_prev_7d) / nullif(m.mean_prev_7d, 0) DESC NULLS LAST, m.trend_id
         LIMIT $2",
    )
    .bind(tenant)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(trend_id, keyword, m7, p7, m30, p30)| Momentum {
            trend_id,
            keyword,
            mean_7d: m7,
            growth_7d: growth(m7, p7),
            mean_30d: m30,
            growth_30d: growth(m30, p30),
        })
        .collect())
}

/// A trend's yearly pattern, where at least a year of history allows one.
#[derive(Debug, Clone, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct Seasonality {
    /// Mean interest per calendar month (1–12) that has observations, as `[month, mean]`.
    #[schema(value_type = Vec<Vec<f64>>)]
    pub by_month: Vec<(i32, f64)>,
    pub peak_month: i32,
    /// (peak − trough) / mean: 0 is flat, above 1 strongly seasonal.
    pub strength: f64,
    /// The most years any one month was observed in: how many cycles the
    /// pattern rests on.
    pub years: i64,
}

/// `None` when the trend's history spans less than a year or covers fewer
/// than six calendar months: too little to call anything seasonal.
pub async fn trend_seasonality(
    pool: &PgPool,
    tenant: &str,
    trend_id: Uuid,
) -> Result<Option<Seasonality>, sqlx::Error> {
    type Row = (i32, f64, i64, DateTime<Utc>, DateTime<Utc>);
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT month, mean_score, years, first_seen, last_seen FROM trend_seasonality
         WHERE tenant = $1 AND trend_id = $2 ORDER BY month",
    )
    .bind(tenant)
    .bind(trend_id)
    .fetch_all(pool)
    .await?;
    let first = rows.iter().map(|r| r.3).min();
    let last = rows.iter().map(|r| r.4).max();
    let span_days = match (first, last) {
        (Some(f), Some(l)) => (l - f).num_days(),
        _ => 0,
    };
    if span_days < 365 || rows.len() < 6 {
        return Ok(None);
    }
    let by_month: Vec<(i32, f64)> = rows.iter().map(|r| (r.0, r.1)).collect();
    let (peak_month, peak) = by_month.iter().copied().fold((0, f64::MIN), |a, b| if b.1 > a.1 { b } else { a });
    let trough = by_month.iter().map(|m| m.1).fold(f64::MAX, f64::min);
    let mean = by_month.iter().map(|m| m.1).sum::<f64>() / by_month.len() as f64;
    let years = rows.iter().map(|r| r.2).max().unwrap_or(0);
    Ok(Some(Seasonality {
        by_month,
        peak_month,
        strength: if mean > 0.0 { (peak - trough) / mean } else { 0.0 },
        years,
    }))
}

/// How far a tenant's pipeline has come: counts per stage and state.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, sqlx::FromRow)]
pub struct PipelineCounts {
    pub trends: i64,
    pub ideas: i64,
    /// Screened and waiting for a person (amber or red, not yet decided).
    pub ideas_awaiting_review: i64,
    pub ideas_approved: i64,
    pub ideas_rejected: i64,
    pub designs_rendered: i64,
    pub designs_failed: i64,
    pub listings_draft: i64,
    pub listings_approved: i64,
    pub listings_published: i64,
}

pub async fn pipeline_counts(pool: &PgPool, tenant: &str) -> Result<PipelineCounts, sqlx::Error> {
    sqlx::query_as(
        "SELECT
           (SELECT count(*) FROM trends WHERE tenant = $1) AS trends,
           (SELECT count(*) FROM ideas WHERE tenant = $1) AS ideas,
           (SELECT count(*) FROM ideas WHERE tenant = $1 AND status = 'screened') AS ideas_awaiting_review,
           (SELECT count(*) FROM ideas WHERE tenant = $1 AND status = 'approved') AS ideas_approved,
           (SELECT count(*) FROM ideas WHERE tenant = $1 AND status = 'rejected') AS ideas_rejected,
           (SELECT count(*) FROM designs WHERE tenant = $1 AND status IN ('rendered', 'approved')) AS designs_rendered,
           (SELECT count(*) FROM designs WHERE tenant = $1 AND status = 'failed') AS designs_failed,
           (SELECT count(*) FROM listings WHERE tenant = $1 AND status = 'draft') AS listings_draft,
           (SELECT count(*) FROM listings WHERE tenant = $1 AND status = 'approved') AS listings_approved,
           (SELECT count(*) FROM listings WHERE tenant = $1 AND status = 'published') AS listings_published",
    )
    .bind(tenant)
    .fetch_one(pool)
    .await
}
