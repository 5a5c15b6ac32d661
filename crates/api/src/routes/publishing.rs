//! Publishing: submitting approved listings, the publish queue, and the
//! tenant's marketplace connections (shops).

use axum::Json;
use axum::extract::State;
use axum::response::Response;
use pod_events::domain::listing::ListingCommand;
use pod_projections::read::publishing::{self, QueuedListing, Shop, ShopState};
use uuid::Uuid;

use crate::AppState;
use crate::auth::{Caller, Role};
use crate::command::{CommandHeaders, CommandRequest, accepted, failed, refused};
use crate::extract::{JsonBody, OptionalJson, PathId, Query};
use crate::marketplaces::{self, ListingDefaultsChoice, ListingDefaultsOptions};
use crate::pagination::{Page, PageQuery};
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
        match publishing::shop_state(&s.pool, &cmd.caller.tenant, shop).await? {
            None => {
                return Err(Problem::invalid(vec![FieldError {
                    field: "shop_id".into(),
                    message: "no such shop in this tenant".into(),
                }]));
            }
            Some(ShopState::Disconnected) => {
                return Err(refused("that shop is disconnected: connect it again first"));
            }
            Some(ShopState::NeedsReconnect) => {
                return Err(refused("the marketplace no longer takes that shop's tokens: connect it again first"));
            }
            Some(ShopState::Connected) => {}
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

#[utoipa::path(
    get,
    path = "/api/v1/publish-queue",
    tag = "publishing",
    summary = "Submitted listings, latest first: queued, published or failed",
    params(publishing::QueueFilter, PageQuery),
    responses((status = 200, description = "A page of submitted listings", body = Page<QueuedListing>)),
    security(("token" = []), ("session" = []))
)]
pub async fn queue(
    caller: Caller,
    State(s): State<AppState>,
    Query(filter): Query<publishing::QueueFilter>,
    Query(page): Query<PageQuery>,
) -> Result<Json<Page<QueuedListing>>, Problem> {
    let found = publishing::queue(&s.pool, &caller.tenant, &filter, &page.keyset()?).await?;
    Ok(Json(Page::of(found)))
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
    Ok(Json(publishing::shops(&s.pool, &caller.tenant).await?))
}

#[utoipa::path(
    get,
    path = "/api/v1/shops/{id}/listing-defaults",
    tag = "publishing",
    summary = "What an Etsy shop's listings are drafted with, and its shipping profiles and return policies on Etsy to choose from (owner)",
    params(("id" = uuid::Uuid, Path, description = "The shop's id")),
    responses(
        (status = 200, description = "The choice now and the options", body = ListingDefaultsOptions),
        (status = 403, description = "Only an owner looks: each look asks Etsy, within the app's day every shop shares"),
        (status = 404, description = "No such shop in this tenant"),
        (status = 409, description = "Not an Etsy shop, or not connected"),
        (status = 503, description = "Etsy could not be reached")
    ),
    security(("token" = []), ("session" = []))
)]
pub async fn listing_defaults(
    caller: Caller,
    State(s): State<AppState>,
    PathId(id): PathId,
) -> Result<Json<ListingDefaultsOptions>, Problem> {
    // Each look asks Etsy, within the app's day every shop shares.
    caller.require(Role::Owner)?;
    Ok(Json(marketplaces::listing_defaults_options(&s, &caller.tenant, id).await?))
}

#[utoipa::path(
    put,
    path = "/api/v1/shops/{id}/listing-defaults",
    tag = "publishing",
    summary = "Choose the shipping profile (per product type where they differ) and return policy an Etsy shop's listings are drafted with (owner)",
    params(("id" = uuid::Uuid, Path, description = "The shop's id"), CommandHeaders),
    request_body(content = ListingDefaultsChoice),
    responses(
        (status = 202, description = "Recorded; listings drafted from now on use it", body = serde_json::Value),
        (status = 404, description = "No such shop in this tenant"),
        (status = 409, description = "Not an Etsy shop, or not connected"),
        (status = 422, description = "An id the shop does not have on Etsy, or an unknown product type")
    ),
    security(("token" = []), ("session" = []))
)]
pub async fn choose_listing_defaults(
    cmd: CommandRequest,
    State(s): State<AppState>,
    PathId(id): PathId,
    choice: Result<JsonBody<ListingDefaultsChoice>, Problem>,
) -> Result<Response, Problem> {
    cmd.require(Role::Owner)?;
    // Another tenant's id names nothing here: 404 before the choice is judged.
    publishing::shop_defaults(&s.pool, &cmd.caller.tenant, id).await?.ok_or_else(|| Problem::not_found("shop"))?;
    let JsonBody(choice) = choice?;
    let meta = cmd.meta(&s, "shops/listing-defaults", id, &choice).await?;
    marketplaces::choose_listing_defaults(&s, &cmd.caller.tenant, cmd.actor(), id, choice, &meta).await?;
    Ok(accepted(format!("/api/v1/shops/{id}/listing-defaults")))
}
