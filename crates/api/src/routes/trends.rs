use axum::Json;
use axum::extract::{Path, State};

use crate::extract::Query;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::uuid_path;
use crate::AppState;
use crate::auth::Caller;
use crate::pagination::{Page, PageQuery, page};
use crate::problem::Problem;

#[derive(Debug, serde::Serialize, sqlx::FromRow)]
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

const COLUMNS: &str =
    "trend_id, keyword, niche, product_types, observations, last_score, first_seen, last_seen, ideas, retired";

/// Trends by latest score, best first.
pub async fn list(
    caller: Caller,
    State(s): State<AppState>,
    Query(q): Query<PageQuery>,
) -> Result<Json<Page<Trend>>, Problem> {
    let limit = q.limit()?;
    let after: Option<(f64, Uuid)> = q.cursor()?;
    let (score, id) = after.unwrap_or((f64::INFINITY, Uuid::max()));
    let rows: Vec<Trend> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM trends WHERE tenant = $1 AND (last_score, trend_id) < ($2, $3)
         ORDER BY last_score DESC, trend_id DESC LIMIT $4"
    )))
    .bind(&caller.tenant)
    .bind(score)
    .bind(id)
    .bind(limit + 1)
    .fetch_all(&s.pool)
    .await?;
    Ok(Json(page(rows, limit, |t| (t.last_score, t.trend_id))))
}

pub async fn one(caller: Caller, State(s): State<AppState>, Path(id): Path<String>) -> Result<Json<Trend>, Problem> {
    let id = uuid_path("trend", &id)?;
    let sql = format!("SELECT {COLUMNS} FROM trends WHERE tenant = $1 AND trend_id = $2");
    super::by_id(&s, sql, &caller.tenant, id, "trend").await
}

/// Daily interest of one trend.
pub async fn interest(
    caller: Caller,
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Vec<pod_projections::queries::InterestPoint>>, Problem> {
    let id = uuid_path("trend", &id)?;
    let points = pod_projections::queries::trend_interest(&s.pool, &caller.tenant, id).await?;
    if points.is_empty() {
        return Err(Problem::not_found("trend"));
    }
    Ok(Json(points))
}

/// Trends by 7-day growth, fastest risers first (with 30-day growth).
pub async fn momentum(
    caller: Caller,
    State(s): State<AppState>,
    Query(q): Query<PageQuery>,
) -> Result<Json<Vec<pod_projections::queries::Momentum>>, Problem> {
    let limit = q.limit()?;
    Ok(Json(pod_projections::queries::trend_momentum(&s.pool, &caller.tenant, limit).await?))
}

/// A trend's yearly pattern; `null` until a year of history allows one.
pub async fn seasonality(
    caller: Caller,
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Option<pod_projections::queries::Seasonality>>, Problem> {
    let id = uuid_path("trend", &id)?;
    let exists: Option<i32> = sqlx::query_scalar("SELECT 1 FROM trends WHERE tenant = $1 AND trend_id = $2")
        .bind(&caller.tenant)
        .bind(id)
        .fetch_optional(&s.pool)
        .await?;
    if exists.is_none() {
        return Err(Problem::not_found("trend"));
    }
    Ok(Json(pod_projections::queries::trend_seasonality(&s.pool, &caller.tenant, id).await?))
}
