use axum::Json;
use axum::extract::{Path, Query, State};
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::uuid_path;
use crate::AppState;
use crate::auth::Caller;
use crate::pagination::{Page, PageQuery, page};
use crate::problem::Problem;

#[derive(Debug, serde::Serialize, sqlx::FromRow)]
pub struct Listing {
    pub listing_id: Uuid,
    pub idea_id: Uuid,
    pub design_id: Uuid,
    pub title: String,
    pub description: String,
    pub tags: Vec<String>,
    pub price_cents: i64,
    pub currency: String,
    pub seo_score: i32,
    pub seo_checks: serde_json::Value,
    pub verdict: Option<String>,
    pub status: String,
    pub revisions: i32,
    pub updated_at: DateTime<Utc>,
    pub version: i64,
}

const COLUMNS: &str = "listing_id, idea_id, design_id, title, description, tags, price_cents, currency, seo_score,
                       seo_checks, verdict, status, revisions, updated_at, version";

#[derive(Debug, Default, serde::Deserialize)]
pub struct Filter {
    pub status: Option<String>,
    #[serde(flatten)]
    pub page: PageQuery,
}

/// Listings, most recently changed first, optionally by status.
pub async fn list(
    caller: Caller,
    State(s): State<AppState>,
    Query(f): Query<Filter>,
) -> Result<Json<Page<Listing>>, Problem> {
    let limit = f.page.limit()?;
    let after: Option<(DateTime<Utc>, Uuid)> = f.page.cursor()?;
    let (at, id) = after.unwrap_or((DateTime::<Utc>::MAX_UTC, Uuid::max()));
    let rows: Vec<Listing> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM listings
         WHERE tenant = $1 AND ($2::text IS NULL OR status = $2) AND (updated_at, listing_id) < ($3, $4)
         ORDER BY updated_at DESC, listing_id DESC LIMIT $5"
    )))
    .bind(&caller.tenant)
    .bind(&f.status)
    .bind(at)
    .bind(id)
    .bind(limit + 1)
    .fetch_all(&s.pool)
    .await?;
    Ok(Json(page(rows, limit, |l| (l.updated_at, l.listing_id))))
}

pub async fn one(caller: Caller, State(s): State<AppState>, Path(id): Path<String>) -> Result<Json<Listing>, Problem> {
    let id = uuid_path("listing", &id)?;
    sqlx::query_as(sqlx::AssertSqlSafe(format!("SELECT {COLUMNS} FROM listings WHERE tenant = $1 AND listing_id = $2")))
        .bind(&caller.tenant)
        .bind(id)
        .fetch_optional(&s.pool)
        .await?
        .map(Json)
        .ok_or_else(|| Problem::not_found("listing"))
}
