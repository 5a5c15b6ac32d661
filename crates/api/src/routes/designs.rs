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
pub struct Design {
    pub design_id: Uuid,
    pub idea_id: Uuid,
    pub phrase: String,
    pub product_type: String,
    pub layout: String,
    pub palette: String,
    pub width: i32,
    pub height: i32,
    pub dpi: i32,
    pub status: String,
    /// `{key, sha256, bytes, width, height, content_type}` once rendered.
    pub artwork: Option<serde_json::Value>,
    pub preview: Option<serde_json::Value>,
    pub renderer: Option<String>,
    pub failure: Option<String>,
    pub updated_at: DateTime<Utc>,
    pub version: i64,
}

const COLUMNS: &str = "design_id, idea_id, phrase, product_type, layout, palette, width, height, dpi, status, artwork,
                       preview, renderer, failure, updated_at, version";

#[derive(Debug, Default, serde::Deserialize)]
pub struct Filter {
    pub status: Option<String>,
    #[serde(flatten)]
    pub page: PageQuery,
}

/// Designs, most recently changed first, optionally by status (`rendered`, `failed`, …).
pub async fn list(
    caller: Caller,
    State(s): State<AppState>,
    Query(f): Query<Filter>,
) -> Result<Json<Page<Design>>, Problem> {
    let limit = f.page.limit()?;
    let after: Option<(DateTime<Utc>, Uuid)> = f.page.cursor()?;
    let (at, id) = after.unwrap_or((DateTime::<Utc>::MAX_UTC, Uuid::max()));
    let rows: Vec<Design> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM designs
         WHERE tenant = $1 AND ($2::text IS NULL OR status = $2) AND (updated_at, design_id) < ($3, $4)
         ORDER BY updated_at DESC, design_id DESC LIMIT $5"
    )))
    .bind(&caller.tenant)
    .bind(&f.status)
    .bind(at)
    .bind(id)
    .bind(limit + 1)
    .fetch_all(&s.pool)
    .await?;
    Ok(Json(page(rows, limit, |d| (d.updated_at, d.design_id))))
}

pub async fn one(caller: Caller, State(s): State<AppState>, Path(id): Path<String>) -> Result<Json<Design>, Problem> {
    let id = uuid_path("design", &id)?;
    let sql = format!("SELECT {COLUMNS} FROM designs WHERE tenant = $1 AND design_id = $2");
    super::by_id(&s, sql, &caller.tenant, id, "design").await
}
