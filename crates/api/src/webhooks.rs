//! What marketplaces tell us: `POST /webhooks/printify/{shop}`. A delivery
//! is believed only when its signature checks out under the shop's own
//! webhook secret; then it is acted on once (a redelivery, or a replayed
//! body, changes nothing), through the Order and Shop aggregates. Printify
//! retries what is not answered 2xx, so a failure that may pass is a 503.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use pod_events::domain::order::{OrderCommand, OrderError};
use pod_events::domain::shop::{ShopCommand, ShopError};
use pod_events::domain::text::Note;
use pod_events::store::CommandError;
use pod_events::{AggregateId, EventMeta, TenantId};
use pod_marketplaces::credentials::{self, Kind};
use pod_marketplaces::printify;
use pod_marketplaces::printify::webhooks::{self, Delivery, SIGNATURE_HEADER};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::AppState;
use crate::command::failed;
use crate::extract::PathId;
use crate::problem::{Problem, store_failure};

/// The tenant whose shop `shop_id` is, by the webhook secret it was given.
async fn owner_of(s: &AppState, shop_id: Uuid) -> Result<TenantId, Problem> {
    let owners: Vec<TenantId> = sqlx::query_scalar(
        "SELECT tenant FROM shop_credentials WHERE shop_id = $1 AND kind = 'webhook_secret' LIMIT 2",
    )
    .bind(shop_id)
    .fetch_all(&s.pool)
    .await?;
    match owners.as_slice() {
        [tenant] => Ok(tenant.clone()),
        _ => Err(Problem::not_found("such shop")),
    }
}

/// A Printify delivery for one of our shops.
pub async fn printify(
    State(s): State<AppState>,
    PathId(shop_id): PathId,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, Problem> {
    let tenant = owner_of(&s, shop_id).await?;
    let keys = s.marketplaces.keys.clone().ok_or_else(|| Problem::unavailable("no vault keys are configured"))?;
    let secret = credentials::load(&s.pool, &keys, &tenant, shop_id, Kind::WebhookSecret)
        .await
        .map_err(store_failure)?
        .ok_or_else(|| Problem::not_found("such shop"))?;
    let signature = headers.get(SIGNATURE_HEADER).map(|v| v.to_str().unwrap_or_default());
    webhooks::verify(&secret.secret, &body, signature).map_err(|e| Problem::unauthorized(e.to_string()))?;
    let delivery = webhooks::parse(&body).map_err(|e| Problem::bad_request("body", e.to_string()))?;
    if seen(&s, &tenant, shop_id, &delivery).await? {
        return Ok(Json(json!({"received": delivery.id, "duplicate": true})));
    }
    let done = match delivery.topic.as_str() {
        "order:created" | "order:updated" | "order:shipment:created" | "order:shipment:delivered" => {
            record_order(&s, &tenant, shop_id, &delivery).await?
        }
        "shop:disconnected" => {
            let why = Note::parse("the shop was disconnected on Printify").map_err(Problem::internal)?;
            let command = ShopCommand::MarkNeedsReconnect { reason: why };
            match s.shops.execute(&AggregateId::new(tenant.clone(), shop_id), command, &meta(&delivery)).await {
                Ok(_) | Err(CommandError::Rejected(ShopError::NotConnected)) => "shop marked",
                Err(e) => return Err(failed(e)),
            }
        }
        _ => "ignored",
    };
    remember(&s, &tenant, shop_id, &delivery).await?;
    Ok(Json(json!({"received": delivery.id, "outcome": done})))
}

/// Commands a delivery causes derive their ids from it: the same delivery
/// twice is the same commands.
fn meta(delivery: &Delivery) -> EventMeta {
    EventMeta::with_command_id(format!("printify-webhook/{}/shop", delivery.id))
}

async fn seen(s: &AppState, tenant: &TenantId, shop_id: Uuid, d: &Delivery) -> Result<bool, Problem> {
    Ok(sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM webhook_deliveries WHERE tenant = $1 AND shop_id = $2 AND delivery_id = $3)",
    )
    .bind(tenant)
    .bind(shop_id)
    .bind(&d.id)
    .fetch_one(&s.pool)
    .await?)
}

/// How long a delivery is remembered: well past Printify's retries (days).
const REMEMBER_DAYS: i32 = 30;

/// Remembers a delivery acted on, and forgets the shop's deliveries older
/// than [`REMEMBER_DAYS`] (so the table stays the size of a month of each
/// shop's webhooks).
async fn remember(s: &AppState, tenant: &TenantId, shop_id: Uuid, d: &Delivery) -> Result<(), Problem> {
    sqlx::query(
        "INSERT INTO webhook_deliveries (tenant, shop_id, delivery_id, topic) VALUES ($1, $2, $3, $4)
         ON CONFLICT DO NOTHING",
    )
    .bind(tenant)
    .bind(shop_id)
    .bind(&d.id)
    .bind(&d.topic)
    .execute(&s.pool)
    .await?;
    sqlx::query(
        "DELETE FROM webhook_deliveries
         WHERE tenant = $1 AND shop_id = $2 AND received_at < now() - make_interval(days => $3)",
    )
    .bind(tenant)
    .bind(shop_id)
    .bind(REMEMBER_DAYS)
    .execute(&s.pool)
    .await?;
    Ok(())
}

/// Reads the order from Printify (the webhook only names it) and records
/// it: received once, paid (once for each thing known of the payment), each
/// parcel shipped once, or cancelled. Each command's id derives from the
/// delivery and what the command says, so a retry of this delivery that
/// finds the order changed records the change.
async fn record_order(
    s: &AppState,
    tenant: &TenantId,
    shop_id: Uuid,
    delivery: &Delivery,
) -> Result<&'static str, Problem> {
    let (api, keys) = s.marketplaces.printify().map_err(Problem::unavailable)?;
    let token = credentials::load(&s.pool, keys, tenant, shop_id, Kind::ApiToken)
        .await
        .map_err(store_failure)?
        .ok_or_else(|| Problem::new(StatusCode::CONFLICT, "the shop has no Printify token: connect it again"))?;
    let printify_shop = external_shop_id(s, tenant, shop_id).await?;
    let order = api.order(&token.secret, printify_shop, &delivery.resource_id).await.map_err(fetch_failed)?;
    let mut received = match printify::orders::received(shop_id, &order) {
        Ok(r) => r,
        // Asking again gets the same: answered, not retried, and said.
        Err(e) => {
            tracing::warn!(%tenant, %shop_id, delivery = %delivery.id, error = %e, "Printify order not recorded");
            return Ok("unusable order");
        }
    };
    // Each line names the listing its product was made for, when it was
    // made here (a product made in Printify's own editor names none).
    let products: Vec<String> = received.line_items.iter().map(|l| l.external_listing_id.clone()).collect();
    let ours = pod_projections::read::listings::by_printify_product(&s.pool, tenant, &products).await?;
    for line in &mut received.line_items {
        line.listing_id = ours.get(&line.external_listing_id).copied();
    }
    let id = AggregateId::derived(tenant.clone(), "order", &format!("printify/{shop_id}/{}", order.id));
    let step = |what: String| EventMeta::with_command_id(format!("printify-webhook/{}/{what}", delivery.id));
    let mut commands = vec![(step("receive".into()), OrderCommand::Receive(received))];
    if printify::orders::is_cancelled(&order) {
        commands.push((step("cancel".into()), OrderCommand::Cancel { reason: "cancelled on Printify".into() }));
    } else if let Some(p) = printify::orders::paid(&order) {
        let what = format!("pay/{}/{:?}", p.amount_cents, p.cost_cents);
        commands.push((step(what), OrderCommand::RecordPayment(p)));
    }
    for parcel in printify::orders::shipments(&order) {
        commands.push((step(format!("ship/{}", parcel.tracking_ref)), OrderCommand::RecordShipment(parcel)));
    }
    for (meta, command) in commands {
        match s.orders.execute(&id, command, &meta).await {
            Ok(_) | Err(CommandError::Rejected(OrderError::AlreadyReceived | OrderError::Closed(_))) => {}
            Err(e) => return Err(failed(e)),
        }
    }
    Ok("order recorded")
}

/// The shop's id on Printify, from the shops read model.
async fn external_shop_id(s: &AppState, tenant: &TenantId, shop_id: Uuid) -> Result<u64, Problem> {
    let external: Option<String> =
        sqlx::query_scalar("SELECT external_shop_id FROM shops WHERE tenant = $1 AND shop_id = $2")
            .bind(tenant)
            .bind(shop_id)
            .fetch_optional(&s.pool)
            .await?;
    // Just connected and not yet projected: Printify retries.
    let external = external.ok_or_else(|| Problem::unavailable("the shop is being recorded; try again shortly"))?;
    external.parse().map_err(|_| Problem::internal(format!("shop {shop_id} has a Printify id that is not one")))
}

fn fetch_failed(e: printify::ApiError) -> Problem {
    use pod_events::Transient;
    if e.is_transient() {
        Problem::unavailable(format!("reading the order from Printify: {e}"))
    } else {
        Problem::new(StatusCode::BAD_GATEWAY, format!("reading the order from Printify: {e}"))
    }
}
