//! A Printify order in the Order aggregate's words: what the buyer paid per
//! item and in all, and (once Printify has calculated it) what producing
//! and shipping it cost the seller.

use chrono::{DateTime, Utc};
use pod_events::domain::order::{LineItem, OrderPaid, OrderReceived, OrderShipped};
use pod_events::domain::shop::Marketplace;
use uuid::Uuid;

use super::api::PrintifyOrder;
use crate::http::one_line;

/// An order whose ids cannot be believed (a NUL, a 100 kB string): it is
/// not recorded, rather than stopping the read models on it.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("Printify's order has an unusable {0}")]
pub struct UnusableOrder(pub &'static str);

/// The longest carrier name or tracking number kept.
const MAX_TRACKING: usize = 100;

/// Printify's orders carry no currency: amounts are in the shop's, which
/// for the shops this app serves is US dollars.
pub const CURRENCY: &str = "USD";

/// The order as received, for the shop `shop_id` (ours).
pub fn received(shop_id: Uuid, order: &PrintifyOrder) -> Result<OrderReceived, UnusableOrder> {
    if !super::is_id(&order.id) {
        return Err(UnusableOrder("id"));
    }
    if order.line_items.iter().any(|l| !super::is_id(&l.product_id)) {
        return Err(UnusableOrder("product id"));
    }
    let line_items: Vec<LineItem> = order
        .line_items
        .iter()
        .map(|l| LineItem {
            listing_id: None,
            external_listing_id: l.product_id.clone(),
            quantity: l.quantity,
            price_cents: l.metadata.price,
        })
        .collect();
    Ok(OrderReceived {
        shop_id,
        marketplace: Marketplace::Printify,
        external_order_id: order.id.clone(),
        line_items,
        total_cents: buyer_total(order),
        currency: CURRENCY.to_owned(),
        placed_at: order.created_at.as_deref().and_then(placed_at),
    })
}

/// Printify's time of an order (`2017-04-18 13:24:28+00:00`, or RFC 3339).
fn placed_at(raw: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_str(raw.trim(), "%Y-%m-%d %H:%M:%S%:z")
        .or_else(|_| DateTime::parse_from_rfc3339(raw.trim()))
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// What the buyer paid for the whole order.
fn buyer_total(order: &PrintifyOrder) -> u64 {
    order
        .line_items
        .iter()
        .fold(0u64, |sum, l| sum.saturating_add(l.metadata.price.saturating_mul(u64::from(l.quantity))))
}

/// The order's parcels, each with its carrier and tracking number.
pub fn shipments(order: &PrintifyOrder) -> Vec<OrderShipped> {
    let fit = |v: &str| one_line(v).chars().take(MAX_TRACKING).collect::<String>();
    order
        .shipments
        .iter()
        .map(|s| OrderShipped { carrier: fit(&s.carrier), tracking_ref: fit(&s.number) })
        .filter(|s| !s.tracking_ref.is_empty())
        .collect()
}

/// The buyer's payment and the seller's cost, unless the order was
/// cancelled. The cost is known once Printify has calculated it.
pub fn paid(order: &PrintifyOrder) -> Option<OrderPaid> {
    if is_cancelled(order) {
        return None;
    }
    let calculated = order.status != "cost-calculation" && order.total_price > 0;
    let cost = order.total_price.saturating_add(order.total_shipping).saturating_add(order.total_tax);
    Some(OrderPaid { amount_cents: buyer_total(order), cost_cents: calculated.then_some(cost), fees_cents: None })
}

pub fn is_cancelled(order: &PrintifyOrder) -> bool {
    order.status == "canceled"
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::printify::api::{LineMetadata, PrintifyLineItem};

    fn order(status: &str) -> PrintifyOrder {
        let item = |product: &str, quantity, price| PrintifyLineItem {
            product_id: product.into(),
            variant_id: 17_887,
            quantity,
            metadata: LineMetadata { price, title: "Cat Mom Tee".into(), sku: "CMT-M".into() },
        };
        PrintifyOrder {
            id: "5a96f649b2439217d070f507".into(),
            status: status.into(),
            line_items: vec![item("p-1", 2, 2499), item("p-2", 1, 1899)],
            total_price: 2350,
            total_shipping: 475,
            total_tax: 0,
            shipments: vec![],
            created_at: Some("2017-04-18 13:24:28+00:00".into()),
        }
    }

    #[test]
    fn an_order_is_received_with_what_the_buyer_paid() {
        let shop = Uuid::from_u128(5);
        let r = received(shop, &order("in-production")).unwrap();
        assert_eq!(r.total_cents, 2 * 2499 + 1899);
        assert_eq!(r.line_items[0].external_listing_id, "p-1");
        assert_eq!((r.line_items[0].quantity, r.line_items[0].price_cents), (2, 2499));
        assert_eq!((r.shop_id, r.marketplace, r.currency.as_str()), (shop, Marketplace::Printify, "USD"));
        assert_eq!(r.placed_at, DateTime::from_timestamp(1_492_521_868, 0), "2017-04-18 13:24:28+00:00");
        let mut odd = order("in-production");
        odd.created_at = Some("yesterday\u{0}".into());
        assert_eq!(received(shop, &odd).unwrap().placed_at, None, "an unreadable time is no time");
    }

    #[test]
    fn an_order_with_unusable_ids_is_not_received() {
        let mut o = order("in-production");
        o.id = "5a96\u{0}".into();
        assert_eq!(received(Uuid::nil(), &o), Err(UnusableOrder("id")));
        let mut o = order("in-production");
        o.line_items[1].product_id = "p".repeat(100_000);
        assert_eq!(received(Uuid::nil(), &o), Err(UnusableOrder("product id")));
        let mut o = order("in-production");
        o.line_items[0].metadata.price = u64::MAX;
        assert_eq!(received(Uuid::nil(), &o).unwrap().total_cents, u64::MAX, "saturates, never wraps");
    }

    #[test]
    fn parcels_are_read_with_their_tracking_cleaned() {
        use crate::printify::api::PrintifyShipment;
        let mut o = order("fulfilled");
        let parcel = |carrier: &str, number: &str| PrintifyShipment {
            carrier: carrier.into(),
            number: number.into(),
            url: String::new(),
        };
        o.shipments = vec![parcel("usps", "9400\u{0}111\u{202E}"), parcel("ups", ""), parcel("dhl", &"9".repeat(500))];
        let s = shipments(&o);
        assert_eq!(s.len(), 2, "a parcel without a number is not one yet");
        assert_eq!((s[0].carrier.as_str(), s[0].tracking_ref.as_str()), ("usps", "9400111"));
        assert_eq!(s[1].tracking_ref.len(), MAX_TRACKING);
    }

    #[test]
    fn the_cost_is_what_printify_charges_once_it_is_calculated() {
        let p = paid(&order("in-production")).unwrap();
        assert_eq!((p.amount_cents, p.cost_cents), (6897, Some(2825)));
        assert_eq!(paid(&order("cost-calculation")).unwrap().cost_cents, None);
        assert_eq!(paid(&order("canceled")), None);
    }
}
