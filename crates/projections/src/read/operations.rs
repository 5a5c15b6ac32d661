//! What operators and owners watch (`source_refreshes`, `budget_months`,
//! and which providers made what): each trend source's latest refresh,
//! what paid provider calls cost, and which services did the work.

use chrono::{DateTime, Utc};
use pod_events::TenantId;
use sqlx::PgPool;

/// A trend source's refresh.
#[derive(Debug, Clone, PartialEq, serde::Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct SourceRefresh {
    pub source: String,
    pub at: DateTime<Utc>,
    pub used: Option<String>,
    pub collected: i64,
    pub persisted: i64,
    pub duplicates: i64,
    pub failed: i64,
    pub blocked: i64,
    pub breaker: String,
    pub errors: serde_json::Value,
}

/// The latest refresh of each of the tenant's sources.
pub async fn sources(pool: &PgPool, tenant: &TenantId) -> Result<Vec<SourceRefresh>, sqlx::Error> {
    sqlx::query_as(
        "SELECT DISTINCT ON (source) source, at, used, collected, persisted, duplicates, failed, blocked, breaker, errors
         FROM source_refreshes WHERE tenant = $1 ORDER BY source, at DESC, stream_seq DESC",
    )
    .bind(tenant)
    .fetch_all(pool)
    .await
}

/// A month of paid-call spending.
#[derive(Debug, Clone, PartialEq, serde::Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct MonthCost {
    pub month: String,
    pub total_micros: i64,
    pub calls: i64,
    pub chat_micros: i64,
    pub image_micros: i64,
    pub limit_micros: Option<i64>,
    pub exhausted_at: Option<DateTime<Utc>>,
}

/// Paid-call spending per month, newest first.
pub async fn costs(pool: &PgPool, tenant: &TenantId) -> Result<Vec<MonthCost>, sqlx::Error> {
    sqlx::query_as(
        "SELECT month, total_micros, calls, chat_micros, image_micros, limit_micros, exhausted_at
         FROM budget_months WHERE tenant = $1 ORDER BY month DESC",
    )
    .bind(tenant)
    .fetch_all(pool)
    .await
}

/// Which service did a kind of work, and how often: name and count, most
/// used first.
pub type Providers = Vec<(String, i64)>;

/// The services that did the tenant's work so far.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProvidersUsed {
    /// Who generated the ideas (`offline`, `openai`, …).
    pub ideation: Providers,
    /// Who rendered the designs.
    pub rendering: Providers,
    /// Which trend sources were refreshed.
    pub sources: Providers,
}

/// What each kind of work was done by.
pub async fn providers_used(pool: &PgPool, tenant: &TenantId) -> Result<ProvidersUsed, sqlx::Error> {
    let used = |table: &'static str, column: &'static str| async move {
        // Table and column names are constants of this function.
        let sql = format!(
            "SELECT {column}, count(*) FROM {table} WHERE tenant = $1 AND {column} IS NOT NULL
             GROUP BY {column} ORDER BY count(*) DESC"
        );
        sqlx::query_as::<_, (String, i64)>(sqlx::AssertSqlSafe(sql)).bind(tenant).fetch_all(pool).await
    };
    Ok(ProvidersUsed {
        ideation: used("ideas", "provider").await?,
        rendering: used("designs", "renderer").await?,
        sources: used("source_refreshes", "source").await?,
    })
}
