//! Publishing: submitting approved listings, the publish queue, and the
//! tenant's marketplace connections (shops).

use axum::Json;
use axum::extract::State;
use axum::response::Response;
use chrono::{DateTime, Utc};
use pod_events::domain::listing::ListingCommand;
use uuid::Uuid;

use crate::AppState;
use crate::auth::{Caller, Role};
use crate::command::{CommandHeaders, CommandRequest, accepted, failed, refused};
use crate::extract::{OptionalJson, PathId, Query};
use crate::pagination::{Page, PageQuery, page};
use crate::problem::{FieldError, Problem};

/// What to publish to. Without a shop, only a dry run is possible.
#[derive(Debug, Default, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Submission {
    /// One of the tenant's connected shops (`GET /api/v1/shops`).
    pub shop_id: Option<Uuid>,
    /// Check everything the marketplace would and record the result, without
    /// creating anything (Printify has no sandbox). Default: true.
    pub dry_run: Option<bool>,
}

/// Submits an approved listing for publishing (editor).
pub(crate) async fn submit_listing(
    s: &AppState,
    cmd: &CommandRequest,
    id: Uuid,
    submission: Submission,
) -> Result<(), Problem> {
    cmd.require(Role::Editor)?;
    let dry_run = submission.dry_run.unwrap_or(true);
    if let Some(shop) = submission.shop_id {
        let connected: Option<bool> =
            sqlx::query_scalar("SELECT connected FROM shops WHERE tenant = $1 AND shop_id = $2")
                .bind(cmd.caller.tenant.as_str())
                .bind(shop)
                .fetch_optional(&s.pool)
                .await?;
        match connected {
            None => {
                return Err(Problem::invalid(vec![FieldError {
                    field: "shop_id".into(),
                    message: "no such shop in this tenant".into(),
                }]));
            }
            Some(false) => return Err(refused("that shop is disconnected: connect it again first")),
            Some(true) => {}
        }
    } else if !dry_run {
        return Err(Problem::invalid(vec![FieldError {
            field: "shop_id".into(),
            message:
                "publishing for real needs one of the shop's connected marketplaces; without one, submit a dry run"
                    .into(),
        }]));
    }
    let command = ListingCommand::Submit { by: cmd.actor(), shop_id: submission.shop_id, dry_run };
    let meta = cmd.meta(s, "listings/submit", id, &command).await?;
    s.listings.execute(&cmd.owns(id), command, &meta).await.map(drop).map_err(failed)
}

#[utoipa::path(
    post,
    path = "/api/v1/listings/{id}/submit",
    tag = "publishing",
    summary = "Submit an approved listing for publishing, or for a dry run (editor)",
    params(("id" = uuid::Uuid, Path, description = "The listing's id"), CommandHeaders),
    request_body(content = Option<Submission>, description = "`{\"shop_id\": …, \"dry_run\": …}`, or empty for a dry run"),
    responses(
        (status = 202, description = "Queued; follow `Location`", body = serde_json::Value),
        (status = 409, description = "Not approved, already queued or published, or the shop is disconnected"),
        (status = 422, description = "No such shop, or a real run without one")
    ),
    security(("token" = []), ("session" = []))
)]
pub async fn submit(
    cmd: CommandRequest,
    State(s): State<AppState>,
    PathId(id): PathId,
    OptionalJson(submission): OptionalJson<Submission>,
) -> Result<Response, Problem> {
    submit_listing(&s, &cmd, id, submission).await?;
    Ok(accepted(format!("/api/v1/listings/{id}")))
}

/// A listing on its way to the marketplace, or back from it.
#[derive(Debug, serde::Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct QueuedListing {
    pub listing_id: Uuid,
    pub design_id: Uuid,
    pub title: String,
    pub price_cents: i64,
    pub currency: String,
    /// `queued`, `published`, or `draft` after a permanent failure.
    pub status: String,
    pub shop_id: Option<Uuid>,
    pub dry_run: Option<bool>,
    pub publish_error: Option<String>,
    pub url: Option<String>,
    pub submitted_at: DateTime<Utc>,
    pub published_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Default, serde::Deserialize)]
pub struct QueueFilter {
    pub state: Option<String>,
    #[serde(flatten)]
    pub page: PageQuery,
}

/// The states of the queue and what each means in the read model.
fn state_predicate(state: Option<&str>) -> Result<&'static str, Problem> {
    Ok(match state {
        None | Some("all") => "true",
        Some("queued") => "status = 'queued'",
        Some("published") => "status = 'published'",
        Some("failed") => "publish_error IS NOT NULL AND status <> 'published'",
        Some(other) => {
            return Err(Problem::bad_request("state", format!("{other:?}: use queued, published, failed or all")));
        }
    })
}

#[utoipa::path(
    get,
    path = "/api/v1/publish-queue",
    tag = "publishing",
    summary = "Submitted listings, latest first: queued, published or failed",
    params(
        ("state" = Option<String>, Query, description = "queued, published, failed or all (default)"),
        PageQuery
    ),
    responses((status = 200, description = "A page of submitted listings", body = Page<QueuedListing>)),
    security(("token" = []), ("session" = []))
)]
pub async fn queue(
    caller: Caller,
    State(s): State<AppState>,
    Query(f): Query<QueueFilter>,
) -> Result<Json<Page<QueuedListing>>, Problem> {
    let predicate = state_predicate(f.state.as_deref())?;
    let limit = f.page.limit()?;
    let after: Option<(DateTime<Utc>, Uuid)> = f.page.cursor()?;
    let (at, id) = after.unwrap_or((DateTime::<Utc>::MAX_UTC, Uuid::max()));
    // The predicate is one of the constants above; values are bound.
    let sql = format!(
        "SELECT listing_id, design_id, title, price_cents, currency, status, shop_id, dry_run, publish_error, url,
                submitted_at, published_at
         FROM listings
         WHERE tenant = $1 AND submitted_at IS NOT NULL AND ({predicate}) AND (submitted_at, listing_id) < ($2, $3)
         ORDER BY submitted_at DESC, listing_id DESC LIMIT $4"
    );
    let rows: Vec<QueuedListing> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(caller.tenant.as_str())
        .bind(at)
        .bind(id)
        .bind(limit + 1)
        .fetch_all(&s.pool)
        .await?;
    Ok(Json(page(rows, limit, |r: &QueuedListing| (r.submitted_at, r.listing_id))))
}

/// A marketplace connection.
#[derive(Debug, serde::Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Shop {
    pub shop_id: Uuid,
    /// `etsy` or `printify`.
    pub marketplace: String,
    pub external_shop_id: String,
    pub display_name: String,
    pub connected: bool,
    pub token_expires_at: Option<DateTime<Utc>>,
    pub connected_at: DateTime<Utc>,
    pub refreshed_at: Option<DateTime<Utc>>,
    pub disconnected_at: Option<DateTime<Utc>>,
    pub disconnect_reason: Option<String>,
}

#[utoipa::path(
    get,
    path = "/api/v1/shops",
    tag = "publishing",
    summary = "The tenant's marketplace connections",
    responses((status = 200, description = "Every shop, connected first", body = Vec<Shop>)),
    security(("token" = []), ("session" = []))
)]
pub async fn shops(caller: Caller, State(s): State<AppState>) -> Result<Json<Vec<Shop>>, Problem> {
    let rows = sqlx::query_as(
        "SELECT shop_id, marketplace, external_shop_id, display_name, connected, token_expires_at, connected_at,
                refreshed_at, disconnected_at, disconnect_reason
         FROM shops WHERE tenant = $1 ORDER BY connected DESC, display_name, shop_id LIMIT 500",
    )
    .bind(caller.tenant.as_str())
    .fetch_all(&s.pool)
    .await?;
    Ok(Json(rows))
}
