use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::AppState;
use crate::auth::{Caller, Role};
use crate::command::{CommandHeaders, CommandRequest, accepted, failed};
use crate::extract::{OptionalJson, PathId, Query};
use crate::pagination::{Page, PageQuery};
use crate::problem::Problem;

#[derive(Debug, serde::Serialize, sqlx::FromRow, utoipa::ToSchema)]
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
#[utoipa::path(
    get,
    path = "/api/v1/designs",
    tag = "designs",
    summary = "Designs, most recently changed first",
    params(
        ("status" = Option<String>, Query, description = "requested, rendered, failed, approved or rejected"),
        PageQuery
    ),
    responses((status = 200, description = "A page of designs", body = Page<Design>)),
    security(("token" = []), ("session" = []))
)]
pub async fn list(
    caller: Caller,
    State(s): State<AppState>,
    Query(f): Query<Filter>,
) -> Result<Json<Page<Design>>, Problem> {
    let from = super::ListSource {
        table: "designs",
        columns: COLUMNS,
        time: "updated_at",
        id: "design_id",
        filters: &[("status", &["requested", "rendered", "failed", "approved", "rejected"], &f.status)],
    };
    super::newest_first(&s, caller.tenant.as_str(), from, &f.page, |r: &Design| (r.updated_at, r.design_id)).await
}

#[utoipa::path(
    get,
    path = "/api/v1/designs/{id}",
    tag = "designs",
    summary = "One design",
    params(("id" = uuid::Uuid, Path, description = "The design's id")),
    responses((status = 200, description = "The design", body = Design)),
    security(("token" = []), ("session" = []))
)]
pub async fn one(caller: Caller, State(s): State<AppState>, PathId(id): PathId) -> Result<Json<Design>, Problem> {
    let sql = format!("SELECT {COLUMNS} FROM designs WHERE tenant = $1 AND design_id = $2");
    super::by_id(&s, sql, caller.tenant.as_str(), id, "design").await
}

/// Which stored file of a design.
#[derive(Debug, Clone, Copy)]
enum File {
    Artwork,
    Preview,
}

async fn file(caller: Caller, s: AppState, id: Uuid, which: File) -> Result<axum::response::Response, Problem> {
    use axum::http::header;
    use axum::response::IntoResponse;
    let column = match which {
        File::Artwork => "artwork",
        File::Preview => "preview",
    };
    let asset: Option<Option<serde_json::Value>> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT {column} FROM designs WHERE tenant = $1 AND design_id = $2"
    )))
    .bind(caller.tenant.as_str())
    .bind(id)
    .fetch_optional(&s.pool)
    .await?;
    let asset =
        asset.ok_or_else(|| Problem::not_found("design"))?.ok_or_else(|| Problem::not_found("rendered image"))?;
    let key = asset.get("key").and_then(|k| k.as_str()).ok_or_else(|| Problem::not_found("rendered image"))?;
    let sha = asset.get("sha256").and_then(|k| k.as_str()).unwrap_or_default().to_owned();
    let content_type = asset.get("content_type").and_then(|k| k.as_str()).unwrap_or("image/png").to_owned();
    let bytes = s.blobs.get(key).await.map_err(|e| match e {
        pod_blobs::BlobError::NotFound { .. } => Problem::not_found("stored image"),
        other => Problem::new(axum::http::StatusCode::BAD_GATEWAY, format!("the blob store: {other}")),
    })?;
    // Content-addressed: the bytes behind a key never change.
    Ok((
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "private, max-age=31536000, immutable".to_owned()),
            (header::ETAG, format!("\"{sha}\"")),
        ],
        bytes,
    )
        .into_response())
}

/// The print file: a transparent PNG at the print area's size and DPI.
#[utoipa::path(
    get,
    path = "/api/v1/designs/{id}/artwork.png",
    tag = "designs",
    summary = "The print file: a transparent PNG at the print area's size and DPI",
    params(("id" = uuid::Uuid, Path, description = "The design's id")),
    responses((status = 200, description = "The PNG", content_type = "image/png", body = Vec<u8>)),
    security(("token" = []), ("session" = []))
)]
pub async fn artwork(
    caller: Caller,
    State(s): State<AppState>,
    PathId(id): PathId,
) -> Result<axum::response::Response, Problem> {
    file(caller, s, id, File::Artwork).await
}

/// The design on the garment colour, for a quick look.
#[utoipa::path(
    get,
    path = "/api/v1/designs/{id}/preview.png",
    tag = "designs",
    summary = "The design on the garment colour",
    params(("id" = uuid::Uuid, Path, description = "The design's id")),
    responses((status = 200, description = "The PNG", content_type = "image/png", body = Vec<u8>)),
    security(("token" = []), ("session" = []))
)]
pub async fn preview(
    caller: Caller,
    State(s): State<AppState>,
    PathId(id): PathId,
) -> Result<axum::response::Response, Problem> {
    file(caller, s, id, File::Preview).await
}

/// Which take to render instead; each absent field: the next one.
#[derive(Debug, Default, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Regeneration {
    pub layout: Option<String>,
    pub palette: Option<String>,
}

#[utoipa::path(
    post,
    path = "/api/v1/designs/{id}/regenerate",
    tag = "designs",
    summary = "Render the design again in another layout and palette (editor)",
    params(("id" = uuid::Uuid, Path, description = "The design's id"), CommandHeaders),
    request_body(content = Option<Regeneration>, description = "`{\"layout\": …, \"palette\": …}`, or empty for the next of each"),
    responses(
        (status = 202, description = "Accepted; follow `Location`", body = serde_json::Value),
        (status = 409, description = "Still rendering, or already approved"),
        (status = 422, description = "An unknown layout or palette")
    ),
    security(("token" = []), ("session" = []))
)]
pub async fn regenerate(
    cmd: CommandRequest,
    State(s): State<AppState>,
    PathId(id): PathId,
    OptionalJson(wanted): OptionalJson<Regeneration>,
) -> Result<axum::response::Response, Problem> {
    regenerate_design(&s, &cmd, id, wanted).await?;
    Ok(accepted(format!("/api/v1/designs/{id}")))
}

pub(crate) async fn regenerate_design(
    s: &AppState,
    cmd: &CommandRequest,
    id: Uuid,
    wanted: Regeneration,
) -> Result<(), Problem> {
    use pod_events::domain::design::DesignCommand;
    cmd.require(Role::Editor)?;
    let command = DesignCommand::Regenerate { by: cmd.actor(), layout: wanted.layout, palette: wanted.palette };
    let meta = cmd.meta(s, "designs/regenerate", id, &command).await?;
    // Another take is another image of the plan's quota.
    let tenant = cmd.caller.tenant.as_str();
    let hold = crate::quotas::reserve(&s.pool, tenant, crate::quotas::Resource::Images, id, 1).await?;
    let outcome = s.designs.execute(&cmd.owns(id), command, &meta).await;
    hold.settle(&s.pool, &outcome).await;
    outcome.map(drop).map_err(failed)
}
