//! Analytics (`orders`, `order_lines`, `pipeline_runs`, and counts over
//! the pipeline's tables): sales over time, what each stage made, and the
//! runs that made it.

use chrono::{DateTime, Utc};
use pod_events::TenantId;
use sqlx::PgPool;
use uuid::Uuid;

use super::{Keyed, Keyset, Slice, column_values};

column_values! {
    /// How wide a bucket of a series is.
    pub enum Bucket {
        Day = "day",
        Week = "week",
    }
}

impl Bucket {
    /// The bucket as an interval `date_bin` takes.
    fn interval(self) -> &'static str {
        match self {
            Self::Day => "1 day",
            Self::Week => "7 days",
        }
    }
}

/// A period to report on, `from` inclusive, `to` exclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub bucket: Bucket,
}

/// Sales in one currency over the period.
#[derive(Debug, Clone, PartialEq, serde::Serialize, sqlx::FromRow, utoipa::ToSchema)]
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
#[derive(Debug, Clone, PartialEq, serde::Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct SalesPoint {
    pub bucket: DateTime<Utc>,
    pub currency: String,
    pub orders: i64,
    pub revenue_cents: i64,
}

/// A listing's sales over the period.
#[derive(Debug, Clone, PartialEq, serde::Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct TopListing {
    pub listing_id: Uuid,
    pub title: Option<String>,
    pub currency: String,
    pub units: i64,
    pub revenue_cents: i64,
}

/// What the pipeline made over the period, stage by stage.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, sqlx::FromRow, utoipa::ToSchema)]
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

/// Sales, best sellers and the pipeline's output over a period.
#[derive(Debug, Clone, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct Summary {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    #[schema(inline)]
    pub bucket: Bucket,
    pub totals: Vec<Totals>,
    pub series: Vec<SalesPoint>,
    pub top_listings: Vec<TopListing>,
    pub funnel: Funnel,
}

/// The tenant's summary of `window`.
pub async fn summary(pool: &PgPool, tenant: &TenantId, window: Window) -> Result<Summary, sqlx::Error> {
    let Window { from, to, bucket } = window;
    let totals = sqlx::query_as(
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
    .fetch_all(pool)
    .await?;
    let series = sqlx::query_as(
        "SELECT date_bin($4::interval, received_at, timestamptz '2000-01-03 00:00:00+00') AS bucket, currency,
                count(*) AS orders, coalesce(sum(total_cents), 0)::bigint AS revenue_cents
         FROM orders WHERE tenant = $1 AND received_at >= $2 AND received_at < $3 AND status <> 'cancelled'
         GROUP BY 1, 2 ORDER BY 1, 2",
    )
    .bind(tenant)
    .bind(from)
    .bind(to)
    .bind(bucket.interval())
    .fetch_all(pool)
    .await?;
    let top_listings = sqlx::query_as(
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
    .fetch_all(pool)
    .await?;
    let funnel = sqlx::query_as(
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
    .fetch_one(pool)
    .await?;
    Ok(Summary { from, to, bucket, totals, series, top_listings, funnel })
}

/// How far a tenant's pipeline has come: counts per stage and state.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, sqlx::FromRow)]
pub struct PipelineCounts {
    pub trends: i64,
    pub ideas: i64,
    /// Screened and waiting for a person (amber or red, not yet decided).
    pub ideas_awaiting_review: i64,
    pub ideas_approved: i64,
    pub ideas_rejected: i64,
    pub designs_rendered: i64,
    pub designs_failed: i64,
    pub listings_draft: i64,
    pub listings_approved: i64,
    pub listings_published: i64,
}

/// The tenant's counts now.
pub async fn pipeline_counts(pool: &PgPool, tenant: &TenantId) -> Result<PipelineCounts, sqlx::Error> {
    sqlx::query_as(
        "SELECT
           (SELECT count(*) FROM trends WHERE tenant = $1) AS trends,
           (SELECT count(*) FROM ideas WHERE tenant = $1) AS ideas,
           (SELECT count(*) FROM ideas WHERE tenant = $1 AND status = 'screened') AS ideas_awaiting_review,
           (SELECT count(*) FROM ideas WHERE tenant = $1 AND status = 'approved') AS ideas_approved,
           (SELECT count(*) FROM ideas WHERE tenant = $1 AND status = 'rejected') AS ideas_rejected,
           (SELECT count(*) FROM designs WHERE tenant = $1 AND status IN ('rendered', 'approved')) AS designs_rendered,
           (SELECT count(*) FROM designs WHERE tenant = $1 AND status = 'failed') AS designs_failed,
           (SELECT count(*) FROM listings WHERE tenant = $1 AND status = 'draft') AS listings_draft,
           (SELECT count(*) FROM listings WHERE tenant = $1 AND status = 'approved') AS listings_approved,
           (SELECT count(*) FROM listings WHERE tenant = $1 AND status = 'published') AS listings_published",
    )
    .bind(tenant)
    .fetch_one(pool)
    .await
}

column_values! {
    /// Which runs: `imports` (runs that observed trends) or `all`.
    pub enum RunKind {
        All = "all",
        Imports = "imports",
    }
}

/// Which runs.
#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RunFilter {
    /// All when absent.
    #[param(inline)]
    pub kind: Option<RunKind>,
}

/// Everything that followed from one import, source refresh or action.
#[derive(Debug, Clone, PartialEq, serde::Serialize, sqlx::FromRow, utoipa::ToSchema)]
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

impl Keyed for Run {
    type Key = (DateTime<Utc>, String);
    fn key(&self) -> Self::Key {
        (self.started_at, self.run_id.clone())
    }
}

const RUN_COLUMNS: &str = "run_id, started_at, updated_at, started_by, source, observations, ideas, ideas_red,
                           ideas_approved, designs, listings, published, failures, events";

/// The key of the runs list: when a run started, then its id.
pub type ByStart = Keyset<(DateTime<Utc>, String)>;

/// Runs, newest first.
pub async fn runs(
    pool: &PgPool,
    tenant: &TenantId,
    filter: &RunFilter,
    page: &ByStart,
) -> Result<Slice<Run>, sqlx::Error> {
    let imports_only = filter.kind == Some(RunKind::Imports);
    let (at, id) = page.after.clone().unwrap_or((DateTime::<Utc>::MAX_UTC, "\u{10FFFF}".to_owned()));
    let sql = format!(
        "SELECT {RUN_COLUMNS} FROM pipeline_runs
         WHERE tenant = $1 AND (NOT $2 OR observations > 0) AND (started_at, run_id) < ($3, $4)
         ORDER BY started_at DESC, run_id DESC LIMIT $5"
    );
    let rows = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(tenant)
        .bind(imports_only)
        .bind(at)
        .bind(id)
        .bind(page.limit + 1)
        .fetch_all(pool)
        .await?;
    Ok(Slice::of(rows, page.limit))
}

/// One run of the tenant's by its id (its correlation id).
pub async fn run(pool: &PgPool, tenant: &TenantId, id: &str) -> Result<Option<Run>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {RUN_COLUMNS} FROM pipeline_runs WHERE tenant = $1 AND run_id = $2"
    )))
    .bind(tenant)
    .bind(id)
    .fetch_optional(pool)
    .await
}
