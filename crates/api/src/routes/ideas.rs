use axum::Json;
use axum::extract::State;
use axum::response::Response;
use pod_events::domain::idea::IdeaCommand;
use pod_events::domain::text::RejectReason;
use pod_projections::read::ideas::{self, Idea};
use uuid::Uuid;

use crate::AppState;
use crate::auth::{Caller, Role};
use crate::command::{CommandHeaders, CommandRequest, accepted, failed, refused};
use crate::extract::{OptionalJson, PathId, Query};
use crate::pagination::{Page, PageQuery};
use crate::problem::Problem;

/// Ideas, newest first, optionally by status (`screened`, `approved`, …) and verdict.
#[utoipa::path(
    get,
    path = "/api/v1/ideas",
    tag = "ideas",
    summary = "Ideas, newest first",
    params(ideas::Filter, PageQuery),
    responses((status = 200, description = "A page of ideas", body = Page<Idea>)),
    security(("token" = []), ("session" = []))
)]
pub async fn list(
    caller: Caller,
    State(s): State<AppState>,
    Query(filter): Query<ideas::Filter>,
    Query(page): Query<PageQuery>,
) -> Result<Json<Page<Idea>>, Problem> {
    let found = ideas::list(&s.pool, &caller.tenant, &filter, &page.keyset()?).await?;
    Ok(Json(Page::of(found)))
}

#[utoipa::path(
    get,
    path = "/api/v1/ideas/{id}",
    tag = "ideas",
    summary = "One idea with its screening hits",
    params(("id" = uuid::Uuid, Path, description = "The idea's id")),
    responses((status = 200, description = "The idea", body = Idea)),
    security(("token" = []), ("session" = []))
)]
pub async fn one(caller: Caller, State(s): State<AppState>, PathId(id): PathId) -> Result<Json<Idea>, Problem> {
    ideas::one(&s.pool, &caller.tenant, id).await?.map(Json).ok_or_else(|| Problem::not_found("idea"))
}

#[derive(Debug, Default, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Decision {
    pub reason: Option<String>,
}

/// Sends an approval or a rejection of the caller's idea `id`.
pub(crate) async fn decide(s: &AppState, cmd: &CommandRequest, id: Uuid, command: IdeaCommand) -> Result<(), Problem> {
    cmd.require(Role::Editor)?;
    // An approved idea becomes a design: an image of the plan's quota.
    let hold = match command {
        IdeaCommand::Approve { .. } => {
            Some(crate::quotas::reserve(&s.pool, &cmd.caller.tenant, crate::quotas::Resource::Images, id, 1).await?)
        }
        _ => None,
    };
    let route = match &command {
        IdeaCommand::Approve { .. } => "ideas/approve",
        IdeaCommand::Reject { .. } => "ideas/reject",
        _ => "ideas",
    };
    let outcome = match cmd.meta(s, route, id, &command).await {
        Ok(meta) => s.ideas.execute(&cmd.owns(id), command, &meta).await.map_err(failed),
        Err(p) => Err(p),
    };
    if let Some(hold) = hold {
        hold.settle(&s.pool, &outcome).await;
    }
    outcome.map(|_| ())
}

/// Approves an idea on behalf of the caller (a token is a program: amber ideas need a person).
#[utoipa::path(
    post,
    path = "/api/v1/ideas/{id}/approve",
    tag = "ideas",
    summary = "Approve an idea (editor; amber needs a person)",
    params(("id" = uuid::Uuid, Path, description = "The idea's id"), CommandHeaders),
    responses(
        (status = 202, description = "Accepted; follow `Location`", body = serde_json::Value),
        (status = 402, description = "The plan's monthly quota is used up"),
        (status = 409, description = "The aggregate refused or changed meanwhile")
    ),
    security(("token" = []), ("session" = []))
)]
pub async fn approve(cmd: CommandRequest, State(s): State<AppState>, PathId(id): PathId) -> Result<Response, Problem> {
    decide(&s, &cmd, id, IdeaCommand::Approve { by: cmd.actor() }).await?;
    Ok(accepted(format!("/api/v1/ideas/{id}")))
}

#[utoipa::path(
    post,
    path = "/api/v1/ideas/{id}/reject",
    tag = "ideas",
    summary = "Reject an idea (editor)",
    request_body(content = Option<Decision>, description = "`{\"reason\": …}`, or empty"),
    params(("id" = uuid::Uuid, Path, description = "The idea's id"), CommandHeaders),
    responses(
        (status = 202, description = "Accepted; follow `Location`", body = serde_json::Value),
        (status = 409, description = "The aggregate refused or changed meanwhile"),
        (status = 422, description = "The reason breaks its rules (one line, at most 500 characters, no control characters)")
    ),
    security(("token" = []), ("session" = []))
)]
pub async fn reject(
    cmd: CommandRequest,
    State(s): State<AppState>,
    PathId(id): PathId,
    OptionalJson(decision): OptionalJson<Decision>,
) -> Result<Response, Problem> {
    // An empty body is a rejection without a stated reason.
    let reason = RejectReason::parse(decision.reason.as_deref().unwrap_or("rejected"))?;
    decide(&s, &cmd, id, IdeaCommand::Reject { by: cmd.actor(), reason }).await?;
    Ok(accepted(format!("/api/v1/ideas/{id}")))
}

/// Asks for a new idea in place of this one (editor): the ideation stage
/// generates one more from the same trend, then rejects this one (unless
/// somebody decided on it meanwhile). Approved ideas are not replaced.
pub(crate) async fn replace(s: &AppState, cmd: &CommandRequest, id: Uuid) -> Result<Uuid, Problem> {
    cmd.require(Role::Editor)?;
    let idea = ideas::one(&s.pool, &cmd.caller.tenant, id).await?.ok_or_else(|| Problem::not_found("idea"))?;
    if idea.status == ideas::Status::Approved.as_str() {
        return Err(refused("the idea is approved (its design is made): it is not replaced"));
    }
    super::trends::request_ideas(s, cmd, idea.trend_id, 1, Some(id)).await?;
    Ok(idea.trend_id)
}

#[utoipa::path(
    post,
    path = "/api/v1/ideas/{id}/regenerate",
    tag = "ideas",
    summary = "Replace an idea with a new one from its trend (editor)",
    params(("id" = uuid::Uuid, Path, description = "The idea's id"), CommandHeaders),
    responses(
        (status = 202, description = "Accepted; the new idea follows on the trend", body = serde_json::Value),
        (status = 402, description = "The plan's monthly quota is used up"),
        (status = 409, description = "Approved already, or its trend is retired")
    ),
    security(("token" = []), ("session" = []))
)]
pub async fn regenerate(
    cmd: CommandRequest,
    State(s): State<AppState>,
    PathId(id): PathId,
) -> Result<Response, Problem> {
    let trend_id = replace(&s, &cmd, id).await?;
    Ok(accepted(format!("/api/v1/trends/{trend_id}")))
}
