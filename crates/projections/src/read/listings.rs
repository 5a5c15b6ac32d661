//! Listings (`listings`, `listing_revisions`): the text, price and SEO of
//! each listing, its screening, and its history.

use chrono::{DateTime, Utc};
use pod_events::TenantId;
use sqlx::PgPool;
use uuid::Uuid;

use super::{Keyed, NewestFirst, Slice, Table, Timeline, column_values};

column_values! {
    /// Where a listing is: `draft`, `approved`, `queued` (submitted) or
    /// `published`.
    pub enum Status {
        Draft = "draft",
        Approved = "approved",
        Queued = "queued",
        Published = "published",
    }
}

/// A listing with its SEO checks.
#[derive(Debug, Clone, PartialEq, serde::Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Listing {
    pub listing_id: Uuid,
    pub idea_id: Uuid,
    pub design_id: Uuid,
    pub title: String,
    pub description: String,
    pub tags: Vec<String>,
    pub price_cents: i64,
    pub currency: String,
    pub seo_score: i32,
    pub seo_checks: serde_json::Value,
    pub verdict: Option<String>,
    pub status: String,
    pub revisions: i32,
    pub updated_at: DateTime<Utc>,
    pub version: i64,
}

impl Keyed for Listing {
    type Key = (DateTime<Utc>, Uuid);
    fn key(&self) -> Self::Key {
        (self.updated_at, self.listing_id)
    }
}

const COLUMNS: &str = "listing_id, idea_id, design_id, title, description, tags, price_cents, currency, seo_score,
                       seo_checks, verdict, status, revisions, updated_at, version";

impl Timeline for Listing {
    const TIME: &'static str = "updated_at";
}

impl Table for Listing {
    const TABLE: &'static str = "listings";
    const COLUMNS: &'static str = COLUMNS;
    const ID: &'static str = "listing_id";
}

/// Which listings: by status, or all.
#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Filter {
    #[param(inline)]
    pub status: Option<Status>,
}

/// Listings, most recently changed first.
pub async fn list(
    pool: &PgPool,
    tenant: &TenantId,
    filter: &Filter,
    page: &NewestFirst,
) -> Result<Slice<Listing>, sqlx::Error> {
    super::newest_first(pool, tenant, &[("status", filter.status.map(Status::as_str))], page).await
}

/// Every listing of the tenant, most recently changed first (for an export).
pub async fn all(pool: &PgPool, tenant: &TenantId) -> Result<Vec<Listing>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM listings WHERE tenant = $1 ORDER BY updated_at DESC, listing_id DESC"
    )))
    .bind(tenant)
    .fetch_all(pool)
    .await
}

/// One listing of the tenant's.
pub async fn one(pool: &PgPool, tenant: &TenantId, id: Uuid) -> Result<Option<Listing>, sqlx::Error> {
    super::by_id(pool, tenant, id).await
}

/// A listing's text as it reads now, with what an edit is scored and
/// screened against: its trend's keyword and its product type.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct Text {
    pub title: String,
    pub description: String,
    pub tags: Vec<String>,
    /// The normalized keyword of the trend the listing came from.
    pub keyword: Option<String>,
    pub product_type: Option<String>,
    /// The revision this text is (0 is the draft).
    pub revisions: i32,
}

/// The listing's text now, if the listing is the tenant's.
pub async fn text(pool: &PgPool, tenant: &TenantId, id: Uuid) -> Result<Option<Text>, sqlx::Error> {
    sqlx::query_as(
        "SELECT l.title, l.description, l.tags, t.normalized AS keyword, i.product_type, l.revisions
         FROM listings l
         LEFT JOIN ideas i ON i.tenant = l.tenant AND i.idea_id = l.idea_id
         LEFT JOIN trends t ON t.tenant = i.tenant AND t.trend_id = i.trend_id
         WHERE l.tenant = $1 AND l.listing_id = $2",
    )
    .bind(tenant)
    .bind(id)
    .fetch_optional(pool)
    .await
}

/// The screening hits recorded for a listing's current text (as recorded:
/// a JSON array of hits), if the listing is the tenant's.
pub async fn screening_hits(
    pool: &PgPool,
    tenant: &TenantId,
    id: Uuid,
) -> Result<Option<serde_json::Value>, sqlx::Error> {
    sqlx::query_scalar("SELECT screening_hits FROM listings WHERE tenant = $1 AND listing_id = $2")
        .bind(tenant)
        .bind(id)
        .fetch_optional(pool)
        .await
}

/// One step of a listing's history: what happened, with what, when.
#[derive(Debug, Clone, PartialEq, serde::Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Revision {
    /// The listing's version after this step (1 is the draft).
    pub version: i64,
    pub event_type: String,
    /// The event as recorded: the changed fields, the new score and
    /// screening, and who (`by`).
    pub changes: serde_json::Value,
    pub at: DateTime<Utc>,
}

/// A listing's history, oldest first; empty when the listing is not the
/// tenant's.
/// The tenant's listings made into these Printify products: product id →
/// listing (what an order's lines are matched to).
pub async fn by_printify_product(
    pool: &PgPool,
    tenant: &TenantId,
    products: &[String],
) -> Result<std::collections::HashMap<String, Uuid>, sqlx::Error> {
    let rows: Vec<(String, Uuid)> = sqlx::query_as(
        "SELECT printify_product_id, listing_id FROM listings
         WHERE tenant = $1 AND printify_product_id = ANY($2)",
    )
    .bind(tenant)
    .bind(products)
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().collect())
}

pub async fn history(pool: &PgPool, tenant: &TenantId, id: Uuid) -> Result<Vec<Revision>, sqlx::Error> {
    sqlx::query_as(
        "SELECT version, event_type, changes, at FROM listing_revisions
         WHERE tenant = $1 AND listing_id = $2 ORDER BY version",
    )
    .bind(tenant)
    .bind(id)
    .fetch_all(pool)
    .await
}
