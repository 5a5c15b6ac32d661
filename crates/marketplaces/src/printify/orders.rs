//! A Printify order in the Order aggregate's words: what the buyer paid per
//! item and in all, and (once Printify has calculated it) what producing
//! and shipping it cost the seller.

use pod_events::domain::order::{LineItem, OrderPaid, OrderReceived};
use pod_events::domain::shop::Marketplace;
use uuid::Uuid;

use super::api::PrintifyOrder;

/// Printify's orders carry no currency: amounts are in the shop's, which
/// for the shops this app serves is US dollars.
pub const CURRENCY: &str = "USD";

/// The order as received, for the shop `shop_id` (ours).
pub fn received(shop_id: Uuid, order: &PrintifyOrder) -> OrderReceived {
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
    let total_cents = order.line_items.iter().map(|l| l.metadata.price.saturating_mul(u64::from(l.quantity))).sum();
    OrderReceived {
        shop_id,
        marketplace: Marketplace::Printify,
        external_order_id: order.id.clone(),
        line_items,
        total_cents,
        currency: CURRENCY.to_owned(),
    }
}

/// The buyer's payment and the seller's cost, unless the order was
/// cancelled. The cost is known once Printify has calculated it.
pub fn paid(order: &PrintifyOrder) -> Option<OrderPaid> {
    if is_cancelled(order) {
        return None;
    }
    let calculated = order.status != "cost-calculation" && order.total_price > 0;
    let cost = order.total_price + order.total_shipping + order.total_tax;
    Some(OrderPaid {
        amount_cents: received(Uuid::nil(), order).total_cents,
        cost_cents: calculated.then_some(cost),
        fees_cents: None,
    })
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
        }
    }

    #[test]
    fn an_order_is_received_with_what_the_buyer_paid() {
        let shop = Uuid::from_u128(5);
        let r = received(shop, &order("in-production"));
        assert_eq!(r.total_cents, 2 * 2499 + 1899);
        assert_eq!(r.line_items[0].external_listing_id, "p-1");
        assert_eq!((r.line_items[0].quantity, r.line_items[0].price_cents), (2, 2499));
        assert_eq!((r.shop_id, r.marketplace, r.currency.as_str()), (shop, Marketplace::Printify, "USD"));
    }

    #[test]
    fn the_cost_is_what_printify_charges_once_it_is_calculated() {
        let p = paid(&order("in-production")).unwrap();
        assert_eq!((p.amount_cents, p.cost_cents), (6897, Some(2825)));
        assert_eq!(paid(&order("cost-calculation")).unwrap().cost_cents, None);
        assert_eq!(paid(&order("canceled")), None);
    }
}
