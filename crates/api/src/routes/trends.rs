use axum::Json;
use axum::extract::State;
use chrono::Utc;
use pod_events::TenantId;
use pod_projections::read::trends::{self, InterestPoint, Momentum, Seasonality, Trend};
use uuid::Uuid;

use crate::AppState;
use crate::auth::{Caller, Role};
use crate::command::{CommandHeaders, CommandRequest, accepted, failed};
use crate::extract::{OptionalJson, PathId, Query};
use crate::pagination::{Page, PageQuery};
use crate::problem::FieldError;
use crate::problem::Problem;
use pod_trendlists::ingest::{IngestReport, ingest};
use pod_trendlists::parse::{Format, ParseError, parse};
use sha2::Digest;

/// Trends by latest score, best first.
#[utoipa::path(
    get,
    path = "/api/v1/trends",
    tag = "trends",
    summary = "Trends by latest score, best first",
    params(PageQuery),
    responses((status = 200, description = "A page of trends", body = Page<Trend>)),
    security(("token" = []), ("session" = []))
)]
pub async fn list(
    caller: Caller,
    State(s): State<AppState>,
    Query(page): Query<PageQuery>,
) -> Result<Json<Page<Trend>>, Problem> {
    let found = trends::list(&s.pool, &caller.tenant, &page.keyset()?).await?;
    Ok(Json(Page::of(found)))
}

#[utoipa::path(
    get,
    path = "/api/v1/trends/{id}",
    tag = "trends",
    summary = "One trend",
    params(("id" = uuid::Uuid, Path, description = "The trend's id")),
    responses((status = 200, description = "The trend", body = Trend)),
    security(("token" = []), ("session" = []))
)]
pub async fn one(caller: Caller, State(s): State<AppState>, PathId(id): PathId) -> Result<Json<Trend>, Problem> {
    trends::one(&s.pool, &caller.tenant, id).await?.map(Json).ok_or_else(|| Problem::not_found("trend"))
}

/// A 404 unless the trend is the tenant's.
async fn ensure_trend(s: &AppState, tenant: &TenantId, id: Uuid) -> Result<(), Problem> {
    match trends::exists(&s.pool, tenant, id).await? {
        true => Ok(()),
        false => Err(Problem::not_found("trend")),
    }
}

/// Daily interest of one trend.
#[utoipa::path(
    get,
    path = "/api/v1/trends/{id}/interest",
    tag = "trends",
    summary = "Daily interest of a trend",
    params(("id" = uuid::Uuid, Path, description = "The trend's id")),
    responses((status = 200, description = "One point per day", body = Vec<InterestPoint>)),
    security(("token" = []), ("session" = []))
)]
pub async fn interest(
    caller: Caller,
    State(s): State<AppState>,
    PathId(id): PathId,
) -> Result<Json<Vec<InterestPoint>>, Problem> {
    let points = trends::interest(&s.pool, &caller.tenant, id).await?;
    if points.is_empty() {
        // A trend with no observations bucketed yet has an empty series; only
        // a trend that is not the caller's is a 404.
        ensure_trend(&s, &caller.tenant, id).await?;
    }
    Ok(Json(points))
}

/// Trends by 7-day growth, fastest risers first (with 30-day growth).
#[utoipa::path(
    get,
    path = "/api/v1/trends/momentum",
    tag = "trends",
    summary = "Fastest risers over 7 days, with 30-day growth",
    params(("limit" = Option<u32>, Query, description = "1–200, default 50")),
    responses((status = 200, description = "Risers first", body = Vec<Momentum>)),
    security(("token" = []), ("session" = []))
)]
pub async fn momentum(
    caller: Caller,
    State(s): State<AppState>,
    Query(q): Query<PageQuery>,
) -> Result<Json<Vec<Momentum>>, Problem> {
    Ok(Json(trends::momentum(&s.pool, &caller.tenant, q.limit()?).await?))
}

/// A trend's yearly pattern; `null` until a year of history allows one.
#[utoipa::path(
    get,
    path = "/api/v1/trends/{id}/seasonality",
    tag = "trends",
    summary = "A trend's yearly pattern (null until a year of history allows one)",
    params(("id" = uuid::Uuid, Path, description = "The trend's id")),
    responses((status = 200, description = "The pattern or null", body = Option<Seasonality>)),
    security(("token" = []), ("session" = []))
)]
pub async fn seasonality(
    caller: Caller,
    State(s): State<AppState>,
    PathId(id): PathId,
) -> Result<Json<Option<Seasonality>>, Problem> {
    ensure_trend(&s, &caller.tenant, id).await?;
    Ok(Json(trends::seasonality(&s.pool, &caller.tenant, id).await?))
}

/// `?format=csv|json|feed&source=…` for an import; the format is otherwise
/// taken from the content type, then guessed from the first bytes.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImportQuery {
    pub format: Option<String>,
    pub source: Option<String>,
}

fn format_of(q: &ImportQuery, headers: &axum::http::HeaderMap, body: &[u8]) -> Result<Format, Problem> {
    match q.format.as_deref() {
        Some("csv") => return Ok(Format::Csv),
        Some("json") => return Ok(Format::Json),
        Some("feed" | "rss" | "atom") => return Ok(Format::Feed),
        Some(other) => return Err(Problem::bad_request("format", format!("{other:?}: use csv, json or feed"))),
        None => {}
    }
    let content_type = headers.get(axum::http::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let essence = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    Ok(match essence.as_str() {
        "text/csv" => Format::Csv,
        "application/json" => Format::Json,
        "application/rss+xml" | "application/atom+xml" | "application/xml" | "text/xml" => Format::Feed,
        _ => Format::detect("", body),
    })
}

/// Reads a trend list and records its trends for the caller's tenant. The
/// same list twice stores nothing twice (the batch is the list's checksum).
pub(crate) async fn import_list(
    s: &AppState,
    caller: &Caller,
    format: Format,
    body: &[u8],
    source: &str,
) -> Result<IngestReport, Problem> {
    caller.require(Role::Editor)?;
    let source = pod_events::domain::text::SourceName::parse(source)?;
    let source = source.as_str();
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(Problem::invalid(vec![FieldError { field: "body".into(), message: "the list is empty".into() }]));
    }
    // The trends lead to ideas: the plan must have room for them.
    crate::quotas::check(&s.pool, &caller.tenant, crate::quotas::Resource::Ideas).await?;
    let records = parse(format, body, source, Utc::now()).map_err(|e| {
        let field = match &e {
            ParseError::Field { row, field, .. } => format!("row {row}: {field}"),
            _ => "body".into(),
        };
        Problem::invalid(vec![FieldError { field, message: e.to_string() }])
    })?;
    let tenant = caller.tenant.clone();
    let batch = format!("upload/{}", hex::encode(sha2::Sha256::digest(body)));
    ingest(&s.trends, &tenant, &batch, &records).await.map_err(crate::problem::store_failure)
}

/// Imports a trend list (CSV, JSON, RSS/Atom) sent as the body (editor
/// role): 202 with what was stored, and a link to the trends.
#[utoipa::path(
    post,
    path = "/api/v1/trends/import",
    tag = "trends",
    summary = "Import a trend list (CSV, JSON, RSS/Atom) as the body (editor)",
    request_body(content = String, content_type = "text/csv", description = "The list"),
    params(
        ("format" = Option<String>, Query, description = "csv, json or feed; else from the content type"),
        ("source" = Option<String>, Query, description = "Provenance recorded with each observation")
    ),
    responses(
        (status = 402, description = "The plan's monthly quota is used up"),
        (status = 202, description = "Stored: counts per outcome", body = serde_json::Value),
        (status = 422, description = "Every field's error at once")
    ),
    security(("token" = []), ("session" = []))
)]
pub async fn import(
    caller: Caller,
    State(s): State<AppState>,
    Query(q): Query<ImportQuery>,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> Result<axum::response::Response, Problem> {
    use axum::response::IntoResponse;
    let format = format_of(&q, &headers, &body)?;
    let report = import_list(&s, &caller, format, &body, q.source.as_deref().unwrap_or("upload")).await?;
    Ok((axum::http::StatusCode::ACCEPTED, [(axum::http::header::LOCATION, "/api/v1/trends")], Json(report))
        .into_response())
}

/// How many more ideas to ask a trend for.
#[derive(Debug, Default, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MoreIdeas {
    /// 1–6; 3 when absent.
    pub count: Option<u32>,
}

/// Asks the trend for another round of ideas (editor), whatever its score;
/// with `replacing`, one idea in place of that one.
pub(crate) async fn request_ideas(
    s: &AppState,
    cmd: &CommandRequest,
    trend_id: Uuid,
    count: u32,
    replacing: Option<Uuid>,
) -> Result<(), Problem> {
    use pod_events::domain::trend::{MAX_IDEAS_PER_REQUEST, TrendCommand};
    cmd.require(Role::Editor)?;
    if count == 0 || count > MAX_IDEAS_PER_REQUEST {
        return Err(Problem::invalid(vec![FieldError {
            field: "count".into(),
            message: format!("ask for 1–{MAX_IDEAS_PER_REQUEST} ideas"),
        }]));
    }
    let command = TrendCommand::RequestIdeas { count, replacing, by: cmd.actor() };
    let meta = cmd.meta(s, "trends/ideas", trend_id, &command).await?;
    let units = i64::from(count);
    let tenant = &cmd.caller.tenant;
    let hold = crate::quotas::reserve(&s.pool, tenant, crate::quotas::Resource::Ideas, trend_id, units).await?;
    let outcome = s.trends.execute(&cmd.owns(trend_id), command, &meta).await;
    hold.settle(&s.pool, &outcome).await;
    outcome.map(drop).map_err(failed)
}

#[utoipa::path(
    post,
    path = "/api/v1/trends/{id}/ideas",
    tag = "trends",
    summary = "Ask a trend for more ideas (editor)",
    params(("id" = uuid::Uuid, Path, description = "The trend's id"), CommandHeaders),
    request_body(content = Option<MoreIdeas>, description = "`{\"count\": 1–6}`, or empty for 3"),
    responses(
        (status = 202, description = "Accepted; the ideas follow on the trend", body = serde_json::Value),
        (status = 402, description = "The plan's monthly quota is used up"),
        (status = 409, description = "The trend is retired"),
        (status = 422, description = "A count out of range")
    ),
    security(("token" = []), ("session" = []))
)]
pub async fn more_ideas(
    cmd: CommandRequest,
    State(s): State<AppState>,
    PathId(id): PathId,
    OptionalJson(wanted): OptionalJson<MoreIdeas>,
) -> Result<axum::response::Response, Problem> {
    request_ideas(&s, &cmd, id, wanted.count.unwrap_or(3), None).await?;
    Ok(accepted(format!("/api/v1/trends/{id}")))
}
