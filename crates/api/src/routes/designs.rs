use axum::Json;
use axum::extract::State;
use pod_events::domain::design::{DesignCommand, Layout, Palette};
use pod_projections::read::designs::{self, Design, File};
use uuid::Uuid;

use crate::AppState;
use crate::auth::{Caller, Role};
use crate::command::{CommandHeaders, CommandRequest, Refusal, accepted, failed};
use crate::extract::{OptionalJson, PathId, Query};
use crate::pagination::{Page, PageQuery};
use crate::problem::Problem;

/// Designs, most recently changed first, optionally by status (`rendered`, `failed`, …).
#[utoipa::path(
    get,
    path = "/api/v1/designs",
    tag = "designs",
    summary = "Designs, most recently changed first",
    params(designs::Filter, PageQuery),
    responses((status = 200, description = "A page of designs", body = Page<Design>)),
    security(("token" = []), ("session" = []))
)]
pub async fn list(
    caller: Caller,
    State(s): State<AppState>,
    Query(filter): Query<designs::Filter>,
    Query(page): Query<PageQuery>,
) -> Result<Json<Page<Design>>, Problem> {
    let found = designs::list(&s.pool, &caller.tenant, &filter, &page.keyset()?).await?;
    Ok(Json(Page::of(found)))
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
    designs::one(&s.pool, &caller.tenant, id).await?.map(Json).ok_or_else(|| Problem::not_found("design"))
}

/// A design's stored file, as the blob store holds it.
async fn file(caller: Caller, s: AppState, id: Uuid, which: File) -> Result<axum::response::Response, Problem> {
    use axum::http::header;
    use axum::response::IntoResponse;
    let stored = designs::file(&s.pool, &caller.tenant, id, which)
        .await?
        .ok_or_else(|| Problem::not_found("design"))?
        .ok_or_else(|| Problem::not_found("rendered image"))?;
    let bytes = s.blobs.get(&stored.key).await.map_err(|e| match e {
        pod_blobs::BlobError::NotFound { .. } => Problem::not_found("stored image"),
        other => Problem::new(axum::http::StatusCode::BAD_GATEWAY, format!("the blob store: {other}")),
    })?;
    // Content-addressed: the bytes behind a key never change.
    Ok((
        [
            (header::CONTENT_TYPE, stored.content_type),
            (header::CACHE_CONTROL, "private, max-age=31536000, immutable".to_owned()),
            (header::ETAG, format!("\"{}\"", stored.sha256)),
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

impl Regeneration {
    /// The layout and palette asked for, each one the renderer knows; every
    /// field's error at once (422).
    pub fn parse(&self) -> Result<(Option<Layout>, Option<Palette>), Problem> {
        let layout = self.layout.as_deref().map(Layout::parse).transpose();
        let palette = self.palette.as_deref().map(Palette::parse).transpose();
        match (layout, palette) {
            (Ok(layout), Ok(palette)) => Ok((layout, palette)),
            (layout, palette) => {
                let errors = [layout.err(), palette.err()].into_iter().flatten();
                Err(Problem::invalid(errors.flat_map(|e| e.problem().details().errors.clone()).collect()))
            }
        }
    }
}

pub(crate) async fn regenerate_design(
    s: &AppState,
    cmd: &CommandRequest,
    id: Uuid,
    wanted: Regeneration,
) -> Result<(), Problem> {
    cmd.require(Role::Editor)?;
    let (layout, palette) = match wanted.parse() {
        Ok(style) => style,
        // Another tenant's id names nothing here, whatever the body: 404 first.
        Err(invalid) => match designs::one(&s.pool, &cmd.caller.tenant, id).await? {
            None => return Err(Problem::not_found("design")),
            Some(_) => return Err(invalid),
        },
    };
    let command = DesignCommand::Regenerate { by: cmd.actor(), layout, palette };
    let meta = cmd.meta(s, "designs/regenerate", id, &command).await?;
    // Another take is another image of the plan's quota.
    let tenant = &cmd.caller.tenant;
    let hold = crate::quotas::reserve(&s.pool, tenant, crate::quotas::Resource::Images, id, 1).await?;
    let outcome = s.designs.execute(&cmd.owns(id), command, &meta).await;
    hold.settle(&s.pool, &outcome).await;
    outcome.map(drop).map_err(failed)
}
