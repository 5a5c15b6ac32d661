use axum::Json;
use axum::extract::{Path, State};

use crate::extract::Query;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::uuid_path;
use crate::AppState;
use crate::auth::{Caller, Role};
use crate::pagination::{Page, PageQuery};
use crate::problem::FieldError;
use crate::problem::{Problem, ProblemDetails};

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
    params(("status" = Option<String>, Query, description = "requested, rendered, failed, approved or rejected"), ("cursor" = Option<String>, Query, description = "The `next` of the previous page"), ("limit" = Option<u32>, Query, description = "1–200, default 50")),
    responses((status = 200, description = "A page of designs", body = Page<Design>), (status = 400, description = "A malformed parameter", body = ProblemDetails, content_type = "application/problem+json"), (status = 401, description = "No valid token or session", body = ProblemDetails, content_type = "application/problem+json")),
    security(("token" = []), ("session" = []))
)]
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
        filters: &[("status", &["requested", "rendered", "failed", "approved", "rejected"], &f.status)],
    };
    super::newest_first(&s, &caller.tenant, from, &f.page, |r: &Design| (r.updated_at, r.design_id)).await
}

#[utoipa::path(
    get,
    path = "/api/v1/designs/{id}",
    tag = "designs",
    summary = "One design",
    params(("id" = uuid::Uuid, Path, description = "The design's id")),
    responses((status = 200, description = "The design", body = Design), (status = 401, description = "No valid token or session", body = ProblemDetails, content_type = "application/problem+json"), (status = 404, description = "Not in the caller's tenant", body = ProblemDetails, content_type = "application/problem+json")),
    security(("token" = []), ("session" = []))
)]
pub async fn one(caller: Caller, State(s): State<AppState>, Path(id): Path<String>) -> Result<Json<Design>, Problem> {
    let id = uuid_path("design", &id)?;
    let sql = format!("SELECT {COLUMNS} FROM designs WHERE tenant = $1 AND design_id = $2");
    super::by_id(&s, sql, &caller.tenant, id, "design").await
}

/// Which stored file of a design.
#[derive(Debug, Clone, Copy)]
enum File {
    Artwork,
    Preview,
}

async fn file(caller: Caller, s: AppState, raw: String, which: File) -> Result<axum::response::Response, Problem> {
    use axum::http::header;
    use axum::response::IntoResponse;
    let id = uuid_path("design", &raw)?;
    let column = match which {
        File::Artwork => "artwork",
        File::Preview => "preview",
    };
    let asset: Option<Option<serde_json::Value>> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT {column} FROM designs WHERE tenant = $1 AND design_id = $2"
    )))
    .bind(&caller.tenant)
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
    responses((status = 200, description = "The PNG", content_type = "image/png", body = Vec<u8>), (status = 401, description = "No valid token or session", body = ProblemDetails, content_type = "application/problem+json"), (status = 404, description = "Not in the caller's tenant", body = ProblemDetails, content_type = "application/problem+json")),
    security(("token" = []), ("session" = []))
)]
pub async fn artwork(
    caller: Caller,
    State(s): State<AppState>,
    Path(id): Path<String>,
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
    responses((status = 200, description = "The PNG", content_type = "image/png", body = Vec<u8>), (status = 401, description = "No valid token or session", body = ProblemDetails, content_type = "application/problem+json"), (status = 404, description = "Not in the caller's tenant", body = ProblemDetails, content_type = "application/problem+json")),
    security(("token" = []), ("session" = []))
)]
pub async fn preview(
    caller: Caller,
    State(s): State<AppState>,
    Path(id): Path<String>,
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
    params(("id" = uuid::Uuid, Path, description = "The design's id"), ("Idempotency-Key" = Option<String>, Header, description = "The same key is the same command")),
    request_body(content = Option<Regeneration>, description = "`{\"layout\": …, \"palette\": …}`, or empty for the next of each"),
    responses(
        (status = 202, description = "Accepted; follow `Location`", body = serde_json::Value),
        (status = 401, description = "No valid token or session", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "The role or the CSRF token does not allow this", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "Not in the caller's tenant", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 409, description = "Still rendering, or already approved", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 422, description = "An unknown layout or palette", body = ProblemDetails, content_type = "application/problem+json")
    ),
    security(("token" = []), ("session" = []))
)]
pub async fn regenerate(
    caller: Caller,
    State(s): State<AppState>,
    Path(raw): Path<String>,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> Result<axum::response::Response, Problem> {
    let wanted: Regeneration = super::optional_body(&body, r#"{"layout", "palette"}"#)?;
    let id = regenerate_design(&s, &caller, &raw, wanted, &headers).await?;
    Ok(super::accepted(format!("/api/v1/designs/{id}")))
}

pub(crate) async fn regenerate_design(
    s: &AppState,
    caller: &Caller,
    raw: &str,
    wanted: Regeneration,
    headers: &axum::http::HeaderMap,
) -> Result<Uuid, Problem> {
    use pod_events::domain::design::{DesignCommand, DesignError};
    caller.require(Role::Editor)?;
    let id = uuid_path("design", raw)?;
    let tenant = pod_events::TenantId::parse(caller.tenant.clone()).map_err(Problem::internal)?;
    let command = DesignCommand::Regenerate { by: caller.actor(), layout: wanted.layout, palette: wanted.palette };
    let meta = super::command_meta(s, &caller.tenant, "designs/regenerate", id, headers, &command).await?;
    // Another take is another image of the plan's quota.
    let hold = crate::quotas::reserve(&s.pool, &caller.tenant, crate::quotas::Resource::Images, id, 1).await?;
    let outcome = s.designs.execute(&pod_events::AggregateId::new(tenant, id), command, &meta).await;
    hold.settle(&s.pool, &outcome).await;
    outcome.map(|_| id).map_err(|e| {
        super::command_failed(e, "design", |e| match e {
            DesignError::Unknown => Problem::not_found("design"),
            DesignError::UnknownStyle { field, value, allowed } => Problem::invalid(vec![FieldError {
                field: field.into(),
                message: format!("{value:?} is not one of {allowed}"),
            }]),
            e => super::refused(e),
        })
    })
}
