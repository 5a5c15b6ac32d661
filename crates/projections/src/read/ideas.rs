//! Ideas (`ideas`): what was generated from each trend, how it screened,
//! and what people decided.

use chrono::{DateTime, Utc};
use pod_events::TenantId;
use pod_events::domain::idea::Verdict;
use sqlx::PgPool;
use uuid::Uuid;

use super::{Keyed, NewestFirst, Slice, Table, Timeline, column_values};

column_values! {
    /// Where an idea is: `generated`, `screened` (waiting for a person),
    /// `approved` or `rejected`.
    pub enum Status {
        Generated = "generated",
        Screened = "screened",
        Approved = "approved",
        Rejected = "rejected",
    }
}

/// An idea with its screening hits.
#[derive(Debug, Clone, PartialEq, serde::Serialize, sqlx::FromRow, utoipa::ToSchema)]
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

impl Keyed for Idea {
    type Key = (DateTime<Utc>, Uuid);
    fn key(&self) -> Self::Key {
        (self.created_at, self.idea_id)
    }
}

const COLUMNS: &str = "idea_id, trend_id, phrase, niche, product_type, style, audience, tags, provider, status,
                       verdict, hits, created_at, version";

impl Timeline for Idea {
    const TIME: &'static str = "created_at";
}

impl Table for Idea {
    const TABLE: &'static str = "ideas";
    const COLUMNS: &'static str = COLUMNS;
    const ID: &'static str = "idea_id";
}

/// Which ideas: by status, by screening verdict, or all.
#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Filter {
    #[param(inline)]
    pub status: Option<Status>,
    /// `green`, `amber` or `red`.
    #[param(value_type = Option<String>)]
    pub verdict: Option<Verdict>,
}

/// Ideas, newest first.
pub async fn list(
    pool: &PgPool,
    tenant: &TenantId,
    filter: &Filter,
    page: &NewestFirst,
) -> Result<Slice<Idea>, sqlx::Error> {
    super::newest_first(
        pool,
        tenant,
        &[("status", filter.status.map(Status::as_str)), ("verdict", filter.verdict.map(Verdict::as_str))],
        page,
    )
    .await
}

/// One idea of the tenant's.
pub async fn one(pool: &PgPool, tenant: &TenantId, id: Uuid) -> Result<Option<Idea>, sqlx::Error> {
    super::by_id(pool, tenant, id).await
}

/// Every idea of one trend, in the order they came.
pub async fn of_trend(pool: &PgPool, tenant: &TenantId, trend_id: Uuid) -> Result<Vec<Idea>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM ideas WHERE tenant = $1 AND trend_id = $2 ORDER BY created_at, idea_id"
    )))
    .bind(tenant)
    .bind(trend_id)
    .fetch_all(pool)
    .await
}
