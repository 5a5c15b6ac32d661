//! Analytics and pipeline runs: sales over time from the orders read model,
//! what each stage of the pipeline produced, and the runs that produced it.

use axum::Json;
use axum::extract::{Path, State};
use chrono::{DateTime, Duration, Utc};
use pod_projections::read::analytics::{self, Bucket, Run, RunFilter, Summary, Window};

use crate::AppState;
use crate::auth::Caller;
use crate::extract::Query;
use crate::pagination::{Page, PageQuery};
use crate::problem::Problem;

/// `?from=…&to=…&bucket=…`.
#[derive(Debug, Default, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Period {
    /// RFC 3339; default 30 days before `to`.
    pub from: Option<DateTime<Utc>>,
    /// RFC 3339; default now.
    pub to: Option<DateTime<Utc>>,
    /// `day` (default) or `week`.
    #[param(inline)]
    pub bucket: Option<Bucket>,
}

/// The window asked for: 30 days to now by default, at most two years.
pub(crate) fn window(p: &Period, now: DateTime<Utc>) -> Result<Window, Problem> {
    // Within years PostgreSQL and people mean: 1970 to a century ahead.
    let earliest = DateTime::<Utc>::UNIX_EPOCH;
    let latest = now + Duration::days(36_525);
    for (field, at) in [("from", p.from), ("to", p.to)] {
        if let Some(at) = at
            && !(earliest..=latest).contains(&at)
        {
            return Err(Problem::bad_request(field, format!("must be between {earliest} and {latest}")));
        }
    }
    let to = p.to.unwrap_or(now);
    let from = p.from.unwrap_or(to - Duration::days(30));
    if from >= to {
        return Err(Problem::bad_request("from", "must be before `to`"));
    }
    if to - from > Duration::days(731) {
        return Err(Problem::bad_request("from", "the period can be at most two years"));
    }
    Ok(Window { from, to, bucket: p.bucket.unwrap_or(Bucket::Day) })
}

#[utoipa::path(
    get,
    path = "/api/v1/analytics/summary",
    tag = "analytics",
    summary = "Sales, profit, best sellers and the pipeline's output over a period",
    params(Period),
    responses((status = 200, description = "The summary", body = Summary)),
    security(("token" = []), ("session" = []))
)]
pub async fn summary(
    caller: Caller,
    State(s): State<AppState>,
    Query(p): Query<Period>,
) -> Result<Json<Summary>, Problem> {
    let window = window(&p, Utc::now())?;
    Ok(Json(analytics::summary(&s.pool, &caller.tenant, window).await?))
}

#[utoipa::path(
    get,
    path = "/api/v1/runs",
    tag = "analytics",
    summary = "Pipeline runs, newest first, with what each stage made",
    params(RunFilter, PageQuery),
    responses((status = 200, description = "A page of runs", body = Page<Run>)),
    security(("token" = []), ("session" = []))
)]
pub async fn runs(
    caller: Caller,
    State(s): State<AppState>,
    Query(filter): Query<RunFilter>,
    Query(page): Query<PageQuery>,
) -> Result<Json<Page<Run>>, Problem> {
    let found = analytics::runs(&s.pool, &caller.tenant, &filter, &page.keyset()?).await?;
    Ok(Json(Page::of(found)))
}

#[utoipa::path(
    get,
    path = "/api/v1/runs/{id}",
    tag = "analytics",
    summary = "One pipeline run",
    params(("id" = String, Path, description = "The run's id (its correlation id)")),
    responses((status = 200, description = "The run", body = Run)),
    security(("token" = []), ("session" = []))
)]
pub async fn run(caller: Caller, State(s): State<AppState>, Path(id): Path<String>) -> Result<Json<Run>, Problem> {
    // Run ids are correlation ids: printable, short. Anything else names no run.
    if id.is_empty() || id.len() > 200 || id.chars().any(|c| c.is_control()) {
        return Err(Problem::not_found("run"));
    }
    analytics::run(&s.pool, &caller.tenant, &id).await?.map(Json).ok_or_else(|| Problem::not_found("run"))
}
