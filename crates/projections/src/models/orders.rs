//! `orders` and `order_lines`: what was sold, for how much, and what it
//! cost; the figures analytics sums.

use futures::future::BoxFuture;
use pod_events::RecordedEvent;
use pod_events::domain::order::OrderEvent;
use sqlx::PgConnection;

use super::{ApplyError, Projection, decode, uuid_of};

pub struct Orders;

async fn apply(tx: &mut PgConnection, events: &[RecordedEvent]) -> Result<(), ApplyError> {
    for e in events {
        let id = uuid_of(e)?;
        let (at, v) = (e.occurred_at, e.aggregate_seq as i64);
        let q = match decode::<OrderEvent>(e)? {
            OrderEvent::OrderReceived(o) => {
                for (line, item) in o.line_items.iter().enumerate() {
                    sqlx::query(
                        "INSERT INTO order_lines (tenant, order_id, line, listing_id, external_listing_id, quantity,
                                                  price_cents, received_at)
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                    )
                    .bind(&e.tenant)
                    .bind(id)
                    .bind(line as i32)
                    .bind(item.listing_id)
                    .bind(&item.external_listing_id)
                    .bind(i32::try_from(item.quantity).unwrap_or(i32::MAX))
                    .bind(i64::try_from(item.price_cents).unwrap_or(i64::MAX))
                    .bind(at)
                    .execute(&mut *tx)
                    .await?;
                }
                sqlx::query(
                    "INSERT INTO orders (tenant, order_id, shop_id, marketplace, external_order_id, status,
                                         total_cents, currency, items, received_at, version)
                     VALUES ($1, $2, $3, $4, $5, 'received', $6, $7, $8, $9, $10)",
                )
                .bind(&e.tenant)
                .bind(id)
                .bind(o.shop_id)
                .bind(serde_json::to_value(o.marketplace)?.as_str().unwrap_or_default().to_owned())
                .bind(o.external_order_id)
                .bind(i64::try_from(o.total_cents).unwrap_or(i64::MAX))
                .bind(o.currency)
                .bind(o.line_items.iter().map(|i| i.quantity as i64).sum::<i64>() as i32)
                .bind(at)
                .bind(v)
            }
            OrderEvent::OrderPaid(p) => sqlx::query(
                "UPDATE orders SET status = CASE WHEN status = 'shipped' THEN status ELSE 'paid' END,
                        paid_at = COALESCE(paid_at, $3), cost_cents = $4, fees_cents = $5, version = $6
                 WHERE tenant = $1 AND order_id = $2",
            )
            .bind(&e.tenant)
            .bind(id)
            .bind(at)
            .bind(p.cost_cents.map(|c| c as i64))
            .bind(p.fees_cents.map(|c| c as i64))
            .bind(v),
            OrderEvent::OrderShipped(_) => sqlx::query(
                "UPDATE orders SET status = 'shipped', shipped_at = $3, version = $4 WHERE tenant = $1 AND order_id = $2",
            )
            .bind(&e.tenant)
            .bind(id)
            .bind(at)
            .bind(v),
            OrderEvent::OrderCancelled(_) => sqlx::query(
                "UPDATE orders SET status = 'cancelled', cancelled_at = $3, version = $4
                 WHERE tenant = $1 AND order_id = $2",
            )
            .bind(&e.tenant)
            .bind(id)
            .bind(at)
            .bind(v),
        };
        q.execute(&mut *tx).await?;
    }
    Ok(())
}

impl Projection for Orders {
    fn name(&self) -> &'static str {
        "orders"
    }
    fn aggregate_types(&self) -> &'static [&'static str] {
        &["order"]
    }
    fn tables(&self) -> &'static [&'static str] {
        &["orders", "order_lines"]
    }
    fn apply<'a>(
        &'a self,
        tx: &'a mut PgConnection,
        events: &'a [RecordedEvent],
    ) -> BoxFuture<'a, Result<(), ApplyError>> {
        Box::pin(apply(tx, events))
    }
}
