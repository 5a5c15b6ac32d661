//! Analytics and pipeline runs: sales over time from the orders read model,
//! what each stage of the pipeline produced, and the runs that produced it.

use axum::Json;
use axum::extract::{Path, State};
use chrono::{DateTime, Duration, Utc};
use uuid::Uuid;

use crate::AppState;
use crate::auth::Caller;
use crate::extract::Query;
use crate::pagination::{Page, PageQuery, page};
use crate::problem::Problem;

#[derive(Debug, Default, serde::Deserialize)]
pub struct Period {
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    /// `day` (default) or `week`.
    pub bucket: Option<String>,
}

/// The period asked for: 30 days to now by default, at most two years, and
/// its bucket as an interval `date_bin` takes.
pub(crate) fn period(p: &Period, now: DateTime<Utc>) -> Result<(DateTime<Utc>, DateTime<Utc>, &'static str), Problem> {
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
    let bucket = match p.bucket.as_deref() {
        None | Some("day") => "1 day",
        Some("week") => "7 days",
        Some(other) => return Err(Problem::bad_request("bucket", format!("{other:?}: use day or week"))),
    };
    Ok((from, to, bucket))
}

/// Sales in one currency over the period.
#[derive(Debug, Clone, serde::Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Totals {
    pub currency: String,
    /// Orders received and not cancelled.
    pub orders: i64,
    pub units: i64,
    pub revenue_cents: i64,
    /// Production cost and marketplace fees, where the payments said.
    pub cost_cents: i64,
    pub fees_cents: i64,
    pub profit_cents: i64,
    pub cancelled: i64,
}

/// One bucket of the sales series.
#[derive(Debug, serde::Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct SalesPoint {
    pub bucket: DateTime<Utc>,
    pub currency: String,
    pub orders: i64,
    pub revenue_cents: i64,
}

/// A listing's sales over the period.
#[derive(Debug, serde::Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct TopListing {
    pub listing_id: Uuid,
    pub title: Option<String>,
    pub currency: String,
    pub units: i64,
    pub revenue_cents: i64,
}

/// What the pipeline made over the period, stage by stage.
#[derive(Debug, Default, serde::Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Funnel {
    pub trends: i64,
    pub ideas: i64,
    pub ideas_approved: i64,
    pub designs: i64,
    pub listings: i64,
    pub listings_approved: i64,
    pub submitted: i64,
    pub published: i64,
}

#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct Summary {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub bucket: String,
    pub totals: Vec<Totals>,
    pub series: Vec<SalesPoint>,
    pub top_listings: Vec<TopListing>,
    pub funnel: Funnel,
}

#[utoipa::path(
    get,
    path = "/api/v1/analytics/summary",
    tag = "analytics",
    summary = "Sales, profit, best sellers and the pipeline's output over a period",
    params(
        ("from" = Option<String>, Query, description = "RFC 3339; default 30 days before `to`"),
        ("to" = Option<String>, Query, description = "RFC 3339; default now"),
        ("bucket" = Option<String>, Query, description = "day (default) or week")
    ),
    responses((status = 200, description = "The summary", body = Summary)),
    security(("token" = []), ("session" = []))
)]
pub async fn summary(
    caller: Caller,
    State(s): State<AppState>,
    Query(p): Query<Period>,
) -> Result<Json<Summary>, Problem> {
    let (from, to, bucket) = period(&p, Utc::now())?;
    let tenant = caller.tenant.as_str();
    let totals: Vec<Totals> = sqlx::query_as(
        "SELECT currency,
                count(*) FILTER (WHERE status <> 'cancelled')                                  AS orders,
                coalesce(sum(items) FILTER (WHERE status <> 'cancelled'), 0)::bigint            AS units,
                coalesce(sum(total_cents) FILTER (WHERE status <> 'cancelled'), 0)::bigint      AS revenue_cents,
                coalesce(sum(cost_cents) FILTER (WHERE status <> 'cancelled'), 0)::bigint       AS cost_cents,
                coalesce(sum(fees_cents) FILTER (WHERE status <> 'cancelled'), 0)::bigint       AS fees_cents,
                coalesce(sum(total_cents - coalesce(cost_cents, 0) - coalesce(fees_cents, 0))
                         FILTER (WHERE status <> 'cancelled'), 0)::bigint                       AS profit_cents,
                count(*) FILTER (WHERE status = 'cancelled')                                    AS cancelled
         FROM orders WHERE tenant = $1 AND received_at >= $2 AND received_at < $3
         GROUP BY currency ORDER BY revenue_cents DESC, currency",
    )
    .bind(tenant)
    .bind(from)
    .bind(to)
    .fetch_all(&s.pool)
    .await?;
    let series: Vec<SalesPoint> = sqlx::query_as(
        "SELECT date_bin($4::interval, received_at, timestamptz '2000-01-03 00:00:00+00') AS bucket, currency,
                count(*) AS orders, coalesce(sum(total_cents), 0)::bigint AS revenue_cents
         FROM orders WHERE tenant = $1 AND received_at >= $2 AND received_at < $3 AND status <> 'cancelled'
         GROUP BY 1, 2 ORDER BY 1, 2",
    )
    .bind(tenant)
    .bind(from)
    .bind(to)
    .bind(bucket)
    .fetch_all(&s.pool)
    .await?;
    let top_listings: Vec<TopListing> = sqlx::query_as(
        "SELECT l.listing_id, li.title, o.currency, sum(l.quantity)::bigint AS units,
                sum(l.quantity::bigint * l.price_cents)::bigint AS revenue_cents
         FROM order_lines l
         JOIN orders o ON o.tenant = l.tenant AND o.order_id = l.order_id AND o.status <> 'cancelled'
         LEFT JOIN listings li ON li.tenant = l.tenant AND li.listing_id = l.listing_id
         WHERE l.tenant = $1 AND l.received_at >= $2 AND l.received_at < $3 AND l.listing_id IS NOT NULL
         GROUP BY l.listing_id, li.title, o.currency ORDER BY revenue_cents DESC, l.listing_id LIMIT 10",
    )
    .bind(tenant)
    .bind(from)
    .bind(to)
    .fetch_all(&s.pool)
    .await?;
    let funnel: Funnel = sqlx::query_as(
        "SELECT
            (SELECT count(*) FROM trends WHERE tenant = $1 AND first_seen >= $2 AND first_seen < $3) AS trends,
            (SELECT count(*) FROM ideas WHERE tenant = $1 AND created_at >= $2 AND created_at < $3) AS ideas,
            (SELECT count(*) FROM ideas WHERE tenant = $1 AND created_at >= $2 AND created_at < $3
                                         AND status = 'approved') AS ideas_approved,
            (SELECT count(*) FROM designs WHERE tenant = $1 AND created_at >= $2 AND created_at < $3
                                           AND status IN ('rendered', 'approved')) AS designs,
            (SELECT count(*) FROM listings WHERE tenant = $1 AND created_at >= $2 AND created_at < $3) AS listings,
            (SELECT count(*) FROM listings WHERE tenant = $1 AND created_at >= $2 AND created_at < $3
                                            AND status IN ('approved', 'queued', 'published')) AS listings_approved,
            (SELECT count(*) FROM listings WHERE tenant = $1 AND submitted_at >= $2 AND submitted_at < $3) AS submitted,
            (SELECT count(*) FROM listings WHERE tenant = $1 AND published_at >= $2 AND published_at < $3) AS published",
    )
    .bind(tenant)
    .bind(from)
    .bind(to)
    .fetch_one(&s.pool)
    .await?;
    let bucket = if bucket == "1 day" { "day" } else { "week" }.to_owned();
    Ok(Json(Summary { from, to, bucket, totals, series, top_listings, funnel }))
}

/// Everything that followed from one import, source refresh or action.
#[derive(Debug, serde::Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Run {
    pub run_id: String,
    pub started_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// The event that began it: `TrendObserved` for imports and refreshes.
    pub started_by: String,
    /// The trend source, for imports and refreshes.
    pub source: Option<String>,
    pub observations: i32,
    pub ideas: i32,
    pub ideas_red: i32,
    pub ideas_approved: i32,
    pub designs: i32,
    pub listings: i32,
    pub published: i32,
    pub failures: i32,
    pub events: i32,
}

const RUN_COLUMNS: &str = "run_id, started_at, updated_at, started_by, source, observations, ideas, ideas_red,
                           ideas_approved, designs, listings, published, failures, events";

#[derive(Debug, Default, serde::Deserialize)]
pub struct RunFilter {
    /// `imports` (runs that observed trends) or `all` (default).
    pub kind: Option<String>,
    #[serde(flatten)]
    pub page: PageQuery,
}

#[utoipa::path(
    get,
    path = "/api/v1/runs",
    tag = "analytics",
    summary = "Pipeline runs, newest first, with what each stage made",
    params(
        ("kind" = Option<String>, Query, description = "imports or all (default)"),
        PageQuery
    ),
    responses((status = 200, description = "A page of runs", body = Page<Run>)),
    security(("token" = []), ("session" = []))
)]
pub async fn runs(
    caller: Caller,
    State(s): State<AppState>,
    Query(f): Query<RunFilter>,
) -> Result<Json<Page<Run>>, Problem> {
    let imports_only = match f.kind.as_deref() {
        None | Some("all") => false,
        Some("imports") => true,
        Some(other) => return Err(Problem::bad_request("kind", format!("{other:?}: use imports or all"))),
    };
    let limit = f.page.limit()?;
    let after: Option<(DateTime<Utc>, String)> = f.page.cursor()?;
    let (at, id) = after.unwrap_or((DateTime::<Utc>::MAX_UTC, "\u{10FFFF}".to_owned()));
    let sql = format!(
        "SELECT {RUN_COLUMNS} FROM pipeline_runs
         WHERE tenant = $1 AND (NOT $2 OR observations > 0) AND (started_at, run_id) < ($3, $4)
         ORDER BY started_at DESC, run_id DESC LIMIT $5"
    );
    let rows: Vec<Run> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(caller.tenant.as_str())
        .bind(imports_only)
        .bind(at)
        .bind(id)
        .bind(limit + 1)
        .fetch_all(&s.pool)
        .await?;
    Ok(Json(page(rows, limit, |r: &Run| (r.started_at, r.run_id.clone()))))
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
    let sql = format!("SELECT {RUN_COLUMNS} FROM pipeline_runs WHERE tenant = $1 AND run_id = $2");
    sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(caller.tenant.as_str())
        .bind(&id)
        .fetch_optional(&s.pool)
        .await?
        .map(Json)
        .ok_or_else(|| Problem::not_found("run"))
}
