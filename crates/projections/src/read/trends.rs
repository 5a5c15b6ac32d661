//! Trends (`trends`, `trend_interest_daily`, `trend_momentum`,
//! `trend_seasonality`): what the shop's niches are and how they move.

use chrono::{DateTime, Utc};
use pod_events::TenantId;
use sqlx::PgPool;
use uuid::Uuid;

use super::{Keyed, Keyset, Slice, Table};

/// A trend as the API shows it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Trend {
    pub trend_id: Uuid,
    pub keyword: String,
    pub niche: String,
    pub product_types: Vec<String>,
    pub observations: i64,
    pub last_score: f64,
    pub first_seen: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
    pub ideas: i32,
    pub retired: bool,
}

impl Keyed for Trend {
    type Key = (f64, Uuid);
    fn key(&self) -> Self::Key {
        (self.last_score, self.trend_id)
    }
}

const COLUMNS: &str =
    "trend_id, keyword, niche, product_types, observations, last_score, first_seen, last_seen, ideas, retired";

impl Table for Trend {
    const TABLE: &'static str = "trends";
    const COLUMNS: &'static str = COLUMNS;
    const ID: &'static str = "trend_id";
}

/// The key of the trends list: latest score, then id (best first).
pub type ByScore = Keyset<(f64, Uuid)>;

/// Trends by latest score, best first.
pub async fn list(pool: &PgPool, tenant: &TenantId, page: &ByScore) -> Result<Slice<Trend>, sqlx::Error> {
    let (score, id) = page.after.unwrap_or((f64::INFINITY, Uuid::max()));
    let rows = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM trends WHERE tenant = $1 AND (last_score, trend_id) < ($2, $3)
         ORDER BY last_score DESC, trend_id DESC LIMIT $4"
    )))
    .bind(tenant)
    .bind(score)
    .bind(id)
    .bind(page.limit + 1)
    .fetch_all(pool)
    .await?;
    Ok(Slice::of(rows, page.limit))
}

/// One trend of the tenant's.
pub async fn one(pool: &PgPool, tenant: &TenantId, id: Uuid) -> Result<Option<Trend>, sqlx::Error> {
    super::by_id(pool, tenant, id).await
}

/// Whether the trend is the tenant's.
pub async fn exists(pool: &PgPool, tenant: &TenantId, id: Uuid) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM trends WHERE tenant = $1 AND trend_id = $2)")
        .bind(tenant)
        .bind(id)
        .fetch_one(pool)
        .await
}

/// One day of a trend's interest.
#[derive(Debug, Clone, PartialEq, serde::Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct InterestPoint {
    pub bucket: DateTime<Utc>,
    pub mean_score: f64,
    pub peak_score: f64,
    pub observations: i64,
}

/// Daily interest of one trend, oldest first (works on plain Postgres and
/// on TimescaleDB).
pub async fn interest(pool: &PgPool, tenant: &TenantId, trend_id: Uuid) -> Result<Vec<InterestPoint>, sqlx::Error> {
    sqlx::query_as(
        "SELECT bucket, mean_score, peak_score, observations FROM trend_interest_daily
         WHERE tenant = $1 AND trend_id = $2 ORDER BY bucket",
    )
    .bind(tenant)
    .bind(trend_id)
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
pub async fn momentum(pool: &PgPool, tenant: &TenantId, limit: i64) -> Result<Vec<Momentum>, sqlx::Error> {
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
pub async fn seasonality(pool: &PgPool, tenant: &TenantId, trend_id: Uuid) -> Result<Option<Seasonality>, sqlx::Error> {
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
