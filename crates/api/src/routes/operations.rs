//! What operators and owners watch: each trend source's latest refreshes
//! and what paid provider calls cost per month.

use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Utc};

use crate::AppState;
use crate::auth::Caller;
use crate::problem::Problem;

#[derive(Debug, serde::Serialize, sqlx::FromRow, utoipa::ToSchema)]
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
#[utoipa::path(
    get,
    path = "/api/v1/sources",
    tag = "operations",
    summary = "Each trend source's latest refresh",
    responses((status = 200, description = "One row per source", body = Vec<SourceRefresh>)),
    security(("token" = []), ("session" = []))
)]
pub async fn sources(caller: Caller, State(s): State<AppState>) -> Result<Json<Vec<SourceRefresh>>, Problem> {
    let rows = sqlx::query_as(
        "SELECT DISTINCT ON (source) source, at, used, collected, persisted, duplicates, failed, blocked, breaker, errors
         FROM source_refreshes WHERE tenant = $1 ORDER BY source, at DESC, stream_seq DESC",
    )
    .bind(caller.tenant.as_str())
    .fetch_all(&s.pool)
    .await?;
    Ok(Json(rows))
}

#[derive(Debug, serde::Serialize, sqlx::FromRow, utoipa::ToSchema)]
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
#[utoipa::path(
    get,
    path = "/api/v1/costs",
    tag = "operations",
    summary = "Paid-call spending per month",
    responses((status = 200, description = "Newest month first", body = Vec<MonthCost>)),
    security(("token" = []), ("session" = []))
)]
pub async fn costs(caller: Caller, State(s): State<AppState>) -> Result<Json<Vec<MonthCost>>, Problem> {
    let rows = sqlx::query_as(
        "SELECT month, total_micros, calls, chat_micros, image_micros, limit_micros, exhausted_at
         FROM budget_months WHERE tenant = $1 ORDER BY month DESC",
    )
    .bind(caller.tenant.as_str())
    .fetch_all(&s.pool)
    .await?;
    Ok(Json(rows))
}
