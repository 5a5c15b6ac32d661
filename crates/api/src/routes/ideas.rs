use axum::Json;
use axum::extract::{Path, State};

use crate::extract::Query;
use axum::http::HeaderMap;
use axum::response::Response;
use chrono::{DateTime, Utc};
use pod_events::domain::idea::{IdeaCommand, IdeaError};
use pod_events::domain::text::RejectReason;
use pod_events::{AggregateId, TenantId};
use uuid::Uuid;

use super::uuid_path;
use crate::AppState;
use crate::auth::{Caller, Role};
use crate::pagination::{Page, PageQuery};
use crate::problem::{Problem, ProblemDetails};

#[derive(Debug, serde::Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Idea {
    pub idea_id: Uuid,
    pub trend_id: Uuid,
    pub phrase: String,
    pub niche: String,
    pub product_type: String,
    pub style: String,
    pub audience: String,
    pub tags: Vec<String>,
    pub provider: String,
    pub status: String,
    pub verdict: Option<String>,
    pub hits: serde_json::Value,
    pub created_at: DateTime<Utc>,
    pub version: i64,
}

pub(crate) const COLUMNS: &str =
    "idea_id, trend_id, phrase, niche, product_type, style, audience, tags, provider, status,
                       verdict, hits, created_at, version";

#[derive(Debug, Default, serde::Deserialize)]
pub struct Filter {
    pub status: Option<String>,
    pub verdict: Option<String>,
    #[serde(flatten)]
    pub page: PageQuery,
}

/// Ideas, newest first, optionally by status (`screened`, `approved`, …) and verdict.
#[utoipa::path(
    get,
    path = "/api/v1/ideas",
    tag = "ideas",
    summary = "Ideas, newest first",
    params(("status" = Option<String>, Query, description = "generated, screened, approved or rejected"), ("verdict" = Option<String>, Query, description = "green, amber or red"), ("cursor" = Option<String>, Query, description = "The `next` of the previous page"), ("limit" = Option<u32>, Query, description = "1–200, default 50")),
    responses((status = 200, description = "A page of ideas", body = Page<Idea>), (status = 400, description = "A malformed parameter", body = ProblemDetails, content_type = "application/problem+json"), (status = 401, description = "No valid token or session", body = ProblemDetails, content_type = "application/problem+json")),
    security(("token" = []), ("session" = []))
)]
pub async fn list(
    caller: Caller,
    State(s): State<AppState>,
    Query(f): Query<Filter>,
) -> Result<Json<Page<Idea>>, Problem> {
    let from = super::Listing {
        table: "ideas",
        columns: COLUMNS,
        time: "created_at",
        id: "idea_id",
        filters: &[
            ("status", &["generated", "screened", "approved", "rejected"], &f.status),
            ("verdict", &["green", "amber", "red"], &f.verdict),
        ],
    };
    super::newest_first(&s, &caller.tenant, from, &f.page, |r: &Idea| (r.created_at, r.idea_id)).await
}

#[utoipa::path(
    get,
    path = "/api/v1/ideas/{id}",
    tag = "ideas",
    summary = "One idea with its screening hits",
    params(("id" = uuid::Uuid, Path, description = "The idea's id")),
    responses((status = 200, description = "The idea", body = Idea), (status = 401, description = "No valid token or session", body = ProblemDetails, content_type = "application/problem+json"), (status = 404, description = "Not in the caller's tenant", body = ProblemDetails, content_type = "application/problem+json")),
    security(("token" = []), ("session" = []))
)]
pub async fn one(caller: Caller, State(s): State<AppState>, Path(id): Path<String>) -> Result<Json<Idea>, Problem> {
    let id = uuid_path("idea", &id)?;
    let sql = format!("SELECT {COLUMNS} FROM ideas WHERE tenant = $1 AND idea_id = $2");
    super::by_id(&s, sql, &caller.tenant, id, "idea").await
}

#[derive(Debug, Default, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Decision {
    pub reason: Option<String>,
}

pub(crate) async fn decide(
    caller: Caller,
    s: AppState,
    raw_id: String,
    headers: HeaderMap,
    command: IdeaCommand,
) -> Result<Response, Problem> {
    caller.require(Role::Editor)?;
    let id = uuid_path("idea", &raw_id)?;
    // An approved idea becomes a design: an image of the plan's quota.
    let hold = match command {
        IdeaCommand::Approve { .. } => {
            Some(crate::quotas::reserve(&s.pool, &caller.tenant, crate::quotas::Resource::Images, id, 1).await?)
        }
        _ => None,
    };
    let tenant = TenantId::parse(caller.tenant.clone()).map_err(Problem::internal)?;
    // The aggregate is addressed under the caller's tenant: another tenant's
    // id names nothing here.
    let aggregate = AggregateId::new(tenant, id);
    let route = match &command {
        IdeaCommand::Approve { .. } => "ideas/approve",
        IdeaCommand::Reject { .. } => "ideas/reject",
        _ => "ideas",
    };
    let outcome = match super::command_meta(&s, &caller.tenant, route, id, &headers, &command).await {
        Ok(meta) => s.ideas.execute(&aggregate, command, &meta).await.map_err(|e| {
            super::command_failed(e, "idea", |e| match e {
                IdeaError::Unknown => Problem::not_found("idea"),
                e => super::refused(e),
            })
        }),
        Err(p) => Err(p),
    };
    if let Some(hold) = hold {
        hold.settle(&s.pool, &outcome).await;
    }
    outcome.map(|_| super::accepted(format!("/api/v1/ideas/{id}")))
}

/// Approves an idea on behalf of the caller (a token is a program: amber ideas need a person).
#[utoipa::path(
    post,
    path = "/api/v1/ideas/{id}/approve",
    tag = "ideas",
    summary = "Approve an idea (editor; amber needs a person)",
    params(("id" = uuid::Uuid, Path, description = "The idea's id"), ("Idempotency-Key" = Option<String>, Header, description = "The same key is the same command")),
    responses((status = 402, description = "The plan's monthly quota is used up", body = ProblemDetails, content_type = "application/problem+json"), (status = 202, description = "Accepted; follow `Location`", body = serde_json::Value), (status = 401, description = "No valid token or session", body = ProblemDetails, content_type = "application/problem+json"), (status = 403, description = "The role or the CSRF token does not allow this", body = ProblemDetails, content_type = "application/problem+json"), (status = 404, description = "Not in the caller's tenant", body = ProblemDetails, content_type = "application/problem+json"), (status = 409, description = "The aggregate refused or changed meanwhile", body = ProblemDetails, content_type = "application/problem+json")),
    security(("token" = []), ("session" = []))
)]
pub async fn approve(
    caller: Caller,
    State(s): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, Problem> {
    let by = caller.actor();
    decide(caller, s, id, headers, IdeaCommand::Approve { by }).await
}

#[utoipa::path(
    post,
    path = "/api/v1/ideas/{id}/reject",
    tag = "ideas",
    summary = "Reject an idea (editor)",
    request_body(content = Option<Decision>, description = "`{\"reason\": …}`, or empty"),
    params(("id" = uuid::Uuid, Path, description = "The idea's id"), ("Idempotency-Key" = Option<String>, Header, description = "The same key is the same command")),
    responses((status = 202, description = "Accepted; follow `Location`", body = serde_json::Value), (status = 400, description = "A malformed parameter", body = ProblemDetails, content_type = "application/problem+json"), (status = 401, description = "No valid token or session", body = ProblemDetails, content_type = "application/problem+json"), (status = 403, description = "The role or the CSRF token does not allow this", body = ProblemDetails, content_type = "application/problem+json"), (status = 404, description = "Not in the caller's tenant", body = ProblemDetails, content_type = "application/problem+json"), (status = 409, description = "The aggregate refused or changed meanwhile", body = ProblemDetails, content_type = "application/problem+json"), (status = 422, description = "The reason breaks its rules (one line, at most 500 characters, no control characters)", body = ProblemDetails, content_type = "application/problem+json")),
    security(("token" = []), ("session" = []))
)]
pub async fn reject(
    caller: Caller,
    State(s): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, Problem> {
    // An empty body is a rejection without a stated reason.
    let decision: Decision = if body.iter().all(u8::is_ascii_whitespace) {
        Decision::default()
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| Problem::bad_request("body", format!("expected {{\"reason\": …}}: {e}")))?
    };
    let reason = RejectReason::parse(decision.reason.as_deref().unwrap_or("rejected"))?;
    let by = caller.actor();
    decide(caller, s, id, headers, IdeaCommand::Reject { by, reason }).await
}

/// Asks for a new idea in place of this one (editor): the ideation stage
/// generates one more from the same trend, then rejects this one (unless
/// somebody decided on it meanwhile). Approved ideas are not replaced.
pub(crate) async fn replace(s: &AppState, caller: &Caller, raw: &str, headers: &HeaderMap) -> Result<Uuid, Problem> {
    caller.require(Role::Editor)?;
    let id = uuid_path("idea", raw)?;
    let row: Option<(Uuid, String)> =
        sqlx::query_as("SELECT trend_id, status FROM ideas WHERE tenant = $1 AND idea_id = $2")
            .bind(&caller.tenant)
            .bind(id)
            .fetch_optional(&s.pool)
            .await?;
    let (trend_id, status) = row.ok_or_else(|| Problem::not_found("idea"))?;
    if status == "approved" {
        return Err(super::refused("the idea is approved (its design is made): it is not replaced"));
    }
    super::trends::request_ideas(s, caller, trend_id, 1, Some(id), headers).await?;
    Ok(trend_id)
}

#[utoipa::path(
    post,
    path = "/api/v1/ideas/{id}/regenerate",
    tag = "ideas",
    summary = "Replace an idea with a new one from its trend (editor)",
    params(("id" = uuid::Uuid, Path, description = "The idea's id"), ("Idempotency-Key" = Option<String>, Header, description = "The same key is the same command")),
    responses(
        (status = 202, description = "Accepted; the new idea follows on the trend", body = serde_json::Value),
        (status = 401, description = "No valid token or session", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 402, description = "The plan's monthly quota is used up", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "The role or the CSRF token does not allow this", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "Not in the caller's tenant", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 409, description = "Approved already, or its trend is retired", body = ProblemDetails, content_type = "application/problem+json")
    ),
    security(("token" = []), ("session" = []))
)]
pub async fn regenerate(
    caller: Caller,
    State(s): State<AppState>,
    Path(raw): Path<String>,
    headers: HeaderMap,
) -> Result<Response, Problem> {
    let trend_id = replace(&s, &caller, &raw, &headers).await?;
    Ok(super::accepted(format!("/api/v1/trends/{trend_id}")))
}
