//! `orders` and `order_lines`: what was sold, for how much, and what it
//! cost; the figures analytics sums.

use chrono::{DateTime, Utc};
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
                // A sale counts on the day it was placed (a poll may bring
                // it days later), never after it was received.
                let placed = placed_on(o.placed_at, at);
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
                    .bind(placed)
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
                .bind(placed)
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

/// When a sale counts: when the marketplace says it was placed, unless
/// that is unknown or after it was received.
fn placed_on(placed_at: Option<DateTime<Utc>>, received_at: DateTime<Utc>) -> DateTime<Utc> {
    placed_at.filter(|p| *p <= received_at).unwrap_or(received_at)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sale_counts_when_it_was_placed_never_after_it_was_received() {
        let received = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let days_before = received - chrono::Duration::days(3);
        assert_eq!(placed_on(Some(days_before), received), days_before);
        assert_eq!(placed_on(None, received), received);
        assert_eq!(placed_on(Some(received + chrono::Duration::days(400)), received), received, "a time to come");
    }
}
