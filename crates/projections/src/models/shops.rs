//! `shops`: the tenant's marketplace connections, as the Shop aggregate
//! tells them (tokens never enter the log, so never this table either).

use futures::future::BoxFuture;
use pod_events::RecordedEvent;
use pod_events::domain::shop::ShopEvent;
use sqlx::PgConnection;

use super::{ApplyError, Projection, decode, uuid_of};

pub struct Shops;

async fn apply(tx: &mut PgConnection, events: &[RecordedEvent]) -> Result<(), ApplyError> {
    for e in events {
        let id = uuid_of(e)?;
        let (at, v) = (e.occurred_at, e.aggregate_seq as i64);
        let q = match decode::<ShopEvent>(e)? {
            // A reconnection after a disconnection is a new connection of the same shop.
            ShopEvent::ShopConnected(c) => sqlx::query(
                "INSERT INTO shops (tenant, shop_id, marketplace, external_shop_id, display_name, connected,
                                    token_expires_at, connected_at, version, sales_channel, shipping_profile_id,
                                    return_policy_id, shipping_profile_by_type)
                 VALUES ($1, $2, $3, $4, $5, true, $6, $7, $8, $9, $10, $11, $12)
                 ON CONFLICT (tenant, shop_id) DO UPDATE SET
                    marketplace = excluded.marketplace, external_shop_id = excluded.external_shop_id,
                    display_name = excluded.display_name, connected = true, sales_channel = excluded.sales_channel,
                    shipping_profile_id = excluded.shipping_profile_id, return_policy_id = excluded.return_policy_id,
                    shipping_profile_by_type = excluded.shipping_profile_by_type,
                    token_expires_at = excluded.token_expires_at, connected_at = excluded.connected_at,
                    disconnected_at = NULL, disconnect_reason = NULL, needs_reconnect = false,
                    needs_reconnect_reason = NULL, needs_reconnect_at = NULL, version = excluded.version",
            )
            .bind(&e.tenant)
            .bind(id)
            .bind(serde_json::to_value(c.marketplace)?.as_str().unwrap_or_default().to_owned())
            .bind(c.external_shop_id)
            .bind(c.display_name)
            .bind(c.token_expires_at)
            .bind(at)
            .bind(v)
            .bind(c.sales_channel)
            .bind(c.listing_defaults.shipping_profile_id.map(id_of))
            .bind(c.listing_defaults.return_policy_id.map(id_of))
            .bind(by_type(&c.listing_defaults.shipping_profile_by_type)?),
            ShopEvent::ShopTokenRefreshed(r) => sqlx::query(
                "UPDATE shops SET token_expires_at = $3, refreshed_at = $4, needs_reconnect = false,
                        needs_reconnect_reason = NULL, needs_reconnect_at = NULL, version = $5
                 WHERE tenant = $1 AND shop_id = $2",
            )
            .bind(&e.tenant)
            .bind(id)
            .bind(r.token_expires_at)
            .bind(at)
            .bind(v),
            ShopEvent::ShopDisconnected(d) => sqlx::query(
                "UPDATE shops SET connected = false, disconnected_at = $3, disconnect_reason = $4, needs_reconnect = false,
                        needs_reconnect_reason = NULL, needs_reconnect_at = NULL, version = $5
                 WHERE tenant = $1 AND shop_id = $2",
            )
            .bind(&e.tenant)
            .bind(id)
            .bind(at)
            .bind(d.reason)
            .bind(v),
            ShopEvent::ShopNeedsReconnect(n) => sqlx::query(
                "UPDATE shops SET needs_reconnect = true, needs_reconnect_reason = $3, needs_reconnect_at = $4,
                        version = $5
                 WHERE tenant = $1 AND shop_id = $2",
            )
            .bind(&e.tenant)
            .bind(id)
            .bind(n.reason)
            .bind(at)
            .bind(v),
            ShopEvent::ShopListingDefaultsChosen(c) => sqlx::query(
                "UPDATE shops SET shipping_profile_id = $3, return_policy_id = $4, shipping_profile_by_type = $5,
                        version = $6
                 WHERE tenant = $1 AND shop_id = $2",
            )
            .bind(&e.tenant)
            .bind(id)
            .bind(id_of(c.shipping_profile_id))
            .bind(c.return_policy_id.map(id_of))
            .bind(by_type(&c.shipping_profile_by_type)?)
            .bind(v),
        };
        q.execute(&mut *tx).await?;
    }
    Ok(())
}

/// A marketplace's id as Postgres keeps it (`bigint`): Etsy's ids are far
/// below 2^63; one above is kept as its bit pattern rather than refused.
fn id_of(id: u64) -> i64 {
    id as i64
}

/// Product type → shipping profile, ids as the scalar columns keep them.
fn by_type(map: &std::collections::BTreeMap<String, u64>) -> Result<serde_json::Value, serde_json::Error> {
    serde_json::to_value(map.iter().map(|(t, id)| (t, id_of(*id))).collect::<std::collections::BTreeMap<_, _>>())
}

impl Projection for Shops {
    fn name(&self) -> &'static str {
        "shops"
    }
    fn aggregate_types(&self) -> &'static [&'static str] {
        &["shop"]
    }
    fn tables(&self) -> &'static [&'static str] {
        &["shops"]
    }
    fn apply<'a>(
        &'a self,
        tx: &'a mut PgConnection,
        events: &'a [RecordedEvent],
    ) -> BoxFuture<'a, Result<(), ApplyError>> {
        Box::pin(apply(tx, events))
    }
}
