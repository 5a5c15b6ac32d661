//! Publishing (`listings` once submitted, `shops`): the publish queue and
//! the tenant's marketplace connections.

use chrono::{DateTime, Utc};
use pod_events::TenantId;
use sqlx::PgPool;
use uuid::Uuid;

use super::{Keyed, NewestFirst, Slice, column_values};

column_values! {
    /// Which part of the queue: `queued`, `published`, `failed` (a
    /// permanent failure sent it back), or `all`.
    pub enum QueueState {
        All = "all",
        Queued = "queued",
        Published = "published",
        Failed = "failed",
    }
}

impl QueueState {
    /// What the state means in the read model.
    fn predicate(self) -> &'static str {
        match self {
            Self::All => "true",
            Self::Queued => "status = 'queued'",
            Self::Published => "status = 'published'",
            Self::Failed => "publish_error IS NOT NULL AND status <> 'published'",
        }
    }
}

/// Which submitted listings.
#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct QueueFilter {
    /// All when absent.
    #[param(inline)]
    pub state: Option<QueueState>,
}

/// A listing on its way to the marketplace, or back from it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, sqlx::FromRow, utoipa::ToSchema)]
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
    /// While queued: `product_made` (the marketplace has the product) or
    /// `publish_requested` (it is publishing it); none before either.
    pub publish_step: Option<String>,
    pub printify_product_id: Option<String>,
    pub etsy_listing_id: Option<String>,
    pub url: Option<String>,
    pub submitted_at: DateTime<Utc>,
    pub published_at: Option<DateTime<Utc>>,
    /// Once published: `inactive`, `sold_out`, `expired` or `removed` when a
    /// poll of the marketplace found it so; none while for sale.
    pub marketplace_state: Option<String>,
}

impl Keyed for QueuedListing {
    type Key = (DateTime<Utc>, Uuid);
    fn key(&self) -> Self::Key {
        (self.submitted_at, self.listing_id)
    }
}

/// Submitted listings, latest submission first.
pub async fn queue(
    pool: &PgPool,
    tenant: &TenantId,
    filter: &QueueFilter,
    page: &NewestFirst,
) -> Result<Slice<QueuedListing>, sqlx::Error> {
    let predicate = filter.state.unwrap_or(QueueState::All).predicate();
    let (at, id) = page.after.unwrap_or((DateTime::<Utc>::MAX_UTC, Uuid::max()));
    // The predicate is one of the constants above; values are bound.
    let sql = format!(
        "SELECT listing_id, design_id, title, price_cents, currency, status, shop_id, dry_run, publish_error,
                publish_step, printify_product_id, etsy_listing_id, url, submitted_at, published_at,
                marketplace_state
         FROM listings
         WHERE tenant = $1 AND submitted_at IS NOT NULL AND ({predicate}) AND (submitted_at, listing_id) < ($2, $3)
         ORDER BY submitted_at DESC, listing_id DESC LIMIT $4"
    );
    let rows = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(tenant)
        .bind(at)
        .bind(id)
        .bind(page.limit + 1)
        .fetch_all(pool)
        .await?;
    Ok(Slice::of(rows, page.limit))
}

/// A marketplace connection.
#[derive(Debug, Clone, PartialEq, serde::Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Shop {
    pub shop_id: Uuid,
    /// `etsy` or `printify`.
    pub marketplace: String,
    pub external_shop_id: String,
    pub display_name: String,
    /// Where its products are sold (a Printify shop's sales channel).
    pub sales_channel: Option<String>,
    pub connected: bool,
    pub token_expires_at: Option<DateTime<Utc>>,
    pub connected_at: DateTime<Utc>,
    pub refreshed_at: Option<DateTime<Utc>>,
    pub disconnected_at: Option<DateTime<Utc>>,
    pub disconnect_reason: Option<String>,
    /// Connected, but the marketplace no longer takes its tokens: connect
    /// it again.
    pub needs_reconnect: bool,
    pub needs_reconnect_reason: Option<String>,
    /// When its receipts and listings were last polled (Etsy shops), and
    /// why the last poll failed, if it did.
    pub last_synced_at: Option<DateTime<Utc>>,
    pub sync_error: Option<String>,
    /// What the marketplace last said is left of its app's requests today
    /// (Etsy: all shops of every tenant together), of how many, and when.
    pub app_requests_left: Option<i64>,
    pub app_requests_per_day: Option<i64>,
    pub app_headroom_seen_at: Option<DateTime<Utc>>,
    /// The tenant's requests to the marketplace's app this UTC day (what
    /// it has spent of its share).
    pub tenant_requests_today: Option<i64>,
}

/// The tenant's shops, connected first (at most 500).
pub async fn shops(pool: &PgPool, tenant: &TenantId) -> Result<Vec<Shop>, sqlx::Error> {
    sqlx::query_as(
        "SELECT s.shop_id, s.marketplace, s.external_shop_id, s.display_name, s.sales_channel, s.connected, s.token_expires_at,
                s.connected_at, s.refreshed_at, s.disconnected_at, s.disconnect_reason, s.needs_reconnect,
                s.needs_reconnect_reason, m.receipts_synced_at AS last_synced_at, m.last_error AS sync_error,
                q.remaining_today AS app_requests_left, q.limit_per_day AS app_requests_per_day,
                q.seen_at AS app_headroom_seen_at, u.requests AS tenant_requests_today
         FROM shops s
         LEFT JOIN marketplace_sync m ON m.tenant = s.tenant AND m.shop_id = s.shop_id
         LEFT JOIN marketplace_quota q ON q.marketplace = s.marketplace
         LEFT JOIN marketplace_usage u ON u.tenant = s.tenant AND u.marketplace = s.marketplace
              AND u.day = (now() AT TIME ZONE 'UTC')::date
         WHERE s.tenant = $1 ORDER BY s.connected DESC, s.display_name, s.shop_id LIMIT 500",
    )
    .bind(tenant)
    .fetch_all(pool)
    .await
}

/// What a shop's listings are drafted with, as last recorded (Etsy shops).
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct ShopDefaults {
    pub shop_id: Uuid,
    pub marketplace: String,
    pub external_shop_id: String,
    pub display_name: String,
    pub connected: bool,
    pub needs_reconnect: bool,
    pub shipping_profile_id: Option<i64>,
    pub return_policy_id: Option<i64>,
    pub shipping_profile_by_type: sqlx::types::Json<std::collections::BTreeMap<String, i64>>,
}

impl ShopDefaults {
    /// As the Shop aggregate keeps them (ids Postgres holds as `bigint`).
    pub fn listing_defaults(&self) -> pod_events::domain::shop::ListingDefaults {
        let id = |v: i64| v as u64;
        pod_events::domain::shop::ListingDefaults {
            shipping_profile_id: self.shipping_profile_id.map(id),
            return_policy_id: self.return_policy_id.map(id),
            currency: None,
            shipping_profile_by_type: self
                .shipping_profile_by_type
                .0
                .iter()
                .map(|(t, v)| (t.clone(), id(*v)))
                .collect(),
            chosen: false,
        }
    }
}

/// The tenant's shop's listing defaults; `None` when it has no such shop.
pub async fn shop_defaults(
    pool: &PgPool,
    tenant: &TenantId,
    shop_id: Uuid,
) -> Result<Option<ShopDefaults>, sqlx::Error> {
    sqlx::query_as(
        "SELECT shop_id, marketplace, external_shop_id, display_name, connected, needs_reconnect,
                shipping_profile_id, return_policy_id, shipping_profile_by_type
         FROM shops WHERE tenant = $1 AND shop_id = $2",
    )
    .bind(tenant)
    .bind(shop_id)
    .fetch_optional(pool)
    .await
}

/// Whether a shop can be published to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShopState {
    Connected,
    /// Connected, but its tokens no longer work.
    NeedsReconnect,
    Disconnected,
}

/// The state of the tenant's shop; `None` when it has no such shop.
pub async fn shop_state(pool: &PgPool, tenant: &TenantId, shop_id: Uuid) -> Result<Option<ShopState>, sqlx::Error> {
    let row: Option<(bool, bool)> =
        sqlx::query_as("SELECT connected, needs_reconnect FROM shops WHERE tenant = $1 AND shop_id = $2")
            .bind(tenant)
            .bind(shop_id)
            .fetch_optional(pool)
            .await?;
    Ok(row.map(|(connected, needs_reconnect)| match (connected, needs_reconnect) {
        (false, _) => ShopState::Disconnected,
        (true, true) => ShopState::NeedsReconnect,
        (true, false) => ShopState::Connected,
    }))
}
