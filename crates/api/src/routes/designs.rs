use axum::Json;
use axum::extract::{Path, State};

use crate::extract::Query;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::uuid_path;
use crate::AppState;
use crate::auth::Caller;
use crate::pagination::{Page, PageQuery};
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
    let from = super::Listing {
        table: "designs",
        columns: COLUMNS,
        time: "updated_at",
        id: "design_id",
        filters: &[("status", &f.status)],
    };
    super::newest_first(&s, &caller.tenant, from, &f.page, |r: &Design| (r.updated_at, r.design_id)).await
}

pub async fn one(caller: Caller, State(s): State<AppState>, Path(id): Path<String>) -> Result<Json<Design>, Problem> {
    let id = uuid_path("design", &id)?;
    let sql = format!("SELECT {COLUMNS} FROM designs WHERE tenant = $1 AND design_id = $2");
    super::by_id(&s, sql, &caller.tenant, id, "design").await
}
