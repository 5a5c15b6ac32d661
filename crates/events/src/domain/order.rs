//! Order: a sale on a marketplace, received from a webhook or a poll, then
//! paid, shipped or cancelled. Buyer details stay with the marketplace and in
//! Postgres; the log carries ids and amounts only.

use cqrs_es::Aggregate;
use cqrs_es::event_sink::EventSink;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::event_enum;
use super::shop::Marketplace;
use crate::codec::EventCodec;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct LineItem {
    pub listing_id: Option<Uuid>,
    pub external_listing_id: String,
    pub quantity: u32,
    pub price_cents: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct OrderReceived {
    pub shop_id: Uuid,
    pub marketplace: Marketplace,
    pub external_order_id: String,
    pub line_items: Vec<LineItem>,
    pub total_cents: u64,
    pub currency: String,
    /// When the buyer placed it, as the marketplace says (a poll may bring
    /// an order days after it was placed). Where unknown, or said to be
    /// after it was received, the read models use when it was received.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub placed_at: Option<chrono::DateTime<chrono::Utc>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct OrderPaid {
    pub amount_cents: u64,
    /// Production cost charged by the print provider, where known.
    pub cost_cents: Option<u64>,
    pub fees_cents: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct OrderShipped {
    pub carrier: String,
    pub tracking_ref: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct OrderCancelled {
    pub reason: String,
}

event_enum! {
    /// Events of the Order aggregate.
    pub enum OrderEvent {
        OrderReceived(OrderReceived) = 1,
        OrderPaid(OrderPaid) = 1,
        OrderShipped(OrderShipped) = 1,
        OrderCancelled(OrderCancelled) = 1,
    }
}

impl EventCodec for OrderEvent {
    const TYPES: &'static [(&'static str, u32)] = Self::ALL;
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum OrderCommand {
    Receive(OrderReceived),
    RecordPayment(OrderPaid),
    RecordShipment(OrderShipped),
    Cancel { reason: String },
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum OrderError {
    #[error("order already received")]
    AlreadyReceived,
    #[error("order does not exist")]
    Unknown,
    #[error("an order needs at least one line item with a quantity")]
    NoItems,
    #[error("order is {0}")]
    Closed(&'static str),
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum OrderStatus {
    #[default]
    New,
    Received,
    Paid,
    Shipped,
    Cancelled,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Order {
    pub status: OrderStatus,
    /// The payment as last recorded (a marketplace may tell it again, or
    /// later with the cost it has since calculated).
    #[serde(default)]
    pub paid: Option<OrderPaid>,
    /// Tracking numbers of the parcels recorded.
    #[serde(default)]
    pub tracking: Vec<String>,
}

impl super::StateVersion for Order {
    const STATE_VERSION: u32 = 2;
}

impl Aggregate for Order {
    const TYPE: &'static str = "order";
    type Command = OrderCommand;
    type Event = OrderEvent;
    type Error = OrderError;
    type Services = ();

    async fn handle(&mut self, command: OrderCommand, _: &(), sink: &EventSink<Self>) -> Result<(), OrderError> {
        use OrderStatus as S;
        let open = |s: OrderStatus| match s {
            S::New => Err(OrderError::Unknown),
            S::Cancelled => Err(OrderError::Closed("cancelled")),
            _ => Ok(()),
        };
        match command {
            OrderCommand::Receive(e) => {
                if self.status != S::New {
                    return Err(OrderError::AlreadyReceived);
                }
                if e.line_items.is_empty() || e.line_items.iter().any(|l| l.quantity == 0) {
                    return Err(OrderError::NoItems);
                }
                sink.write(OrderEvent::OrderReceived(e), self).await;
            }
            OrderCommand::RecordPayment(e) => {
                open(self.status)?;
                // Told again as it is: nothing new.
                if self.paid.as_ref() != Some(&e) {
                    sink.write(OrderEvent::OrderPaid(e), self).await;
                }
            }
            OrderCommand::RecordShipment(e) => {
                open(self.status)?;
                // A parcel told again is the same parcel.
                if !self.tracking.contains(&e.tracking_ref) {
                    sink.write(OrderEvent::OrderShipped(e), self).await;
                }
            }
            OrderCommand::Cancel { reason } => {
                open(self.status)?;
                if self.status == S::Shipped {
                    return Err(OrderError::Closed("shipped"));
                }
                sink.write(OrderEvent::OrderCancelled(OrderCancelled { reason }), self).await;
            }
        }
        Ok(())
    }

    fn apply(&mut self, event: OrderEvent) {
        self.status = match event {
            OrderEvent::OrderReceived(_) => OrderStatus::Received,
            // A payment told again keeps a shipped order shipped.
            OrderEvent::OrderPaid(p) => {
                self.paid = Some(p);
                if self.status == OrderStatus::Shipped { OrderStatus::Shipped } else { OrderStatus::Paid }
            }
            OrderEvent::OrderShipped(s) => {
                self.tracking.push(s.tracking_ref);
                OrderStatus::Shipped
            }
            OrderEvent::OrderCancelled(_) => OrderStatus::Cancelled,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cqrs_es::test::TestFramework;

    #[test]
    fn shipped_orders_cannot_be_cancelled() {
        TestFramework::<Order>::with(())
            .given(vec![
                received(),
                OrderEvent::OrderShipped(OrderShipped { carrier: "usps".into(), tracking_ref: "x".into() }),
            ])
            .when(OrderCommand::Cancel { reason: "late".into() })
            .then_expect_error(OrderError::Closed("shipped"));
    }

    #[test]
    fn orders_need_items() {
        TestFramework::<Order>::with(())
            .given_no_previous_events()
            .when(OrderCommand::Receive(OrderReceived {
                shop_id: Uuid::nil(),
                marketplace: Marketplace::Etsy,
                external_order_id: "1".into(),
                line_items: vec![],
                total_cents: 0,
                currency: "USD".into(),
                placed_at: None,
            }))
            .then_expect_error(OrderError::NoItems);
    }

    fn received() -> OrderEvent {
        OrderEvent::OrderReceived(OrderReceived {
            shop_id: Uuid::nil(),
            marketplace: Marketplace::Etsy,
            external_order_id: "1".into(),
            line_items: vec![LineItem {
                listing_id: None,
                external_listing_id: "9".into(),
                quantity: 1,
                price_cents: 2000,
            }],
            total_cents: 2000,
            currency: "USD".into(),
            placed_at: None,
        })
    }

    #[test]
    fn a_payment_is_recorded_with_its_costs() {
        let paid = OrderPaid { amount_cents: 2000, cost_cents: Some(900), fees_cents: Some(130) };
        TestFramework::<Order>::with(())
            .given(vec![received()])
            .when(OrderCommand::RecordPayment(paid.clone()))
            .then_expect_events(vec![OrderEvent::OrderPaid(paid)]);
    }

    #[test]
    fn a_payment_told_again_is_recorded_once_and_again_when_its_cost_is_known() {
        let uncosted = OrderPaid { amount_cents: 2000, cost_cents: None, fees_cents: None };
        let costed = OrderPaid { cost_cents: Some(900), ..uncosted.clone() };
        TestFramework::<Order>::with(())
            .given(vec![received(), OrderEvent::OrderPaid(uncosted.clone())])
            .when(OrderCommand::RecordPayment(uncosted.clone()))
            .then_expect_events(vec![]);
        TestFramework::<Order>::with(())
            .given(vec![received(), OrderEvent::OrderPaid(uncosted)])
            .when(OrderCommand::RecordPayment(costed.clone()))
            .then_expect_events(vec![OrderEvent::OrderPaid(costed)]);
    }

    #[test]
    fn a_parcel_told_again_is_recorded_once_and_another_parcel_too() {
        let first = OrderShipped { carrier: "usps".into(), tracking_ref: "9400".into() };
        let second = OrderShipped { carrier: "usps".into(), tracking_ref: "9401".into() };
        TestFramework::<Order>::with(())
            .given(vec![received(), OrderEvent::OrderShipped(first.clone())])
            .when(OrderCommand::RecordShipment(first.clone()))
            .then_expect_events(vec![]);
        TestFramework::<Order>::with(())
            .given(vec![received(), OrderEvent::OrderShipped(first)])
            .when(OrderCommand::RecordShipment(second.clone()))
            .then_expect_events(vec![OrderEvent::OrderShipped(second)]);
    }

    #[test]
    fn a_shipment_is_recorded_with_its_tracking() {
        let shipped = OrderShipped { carrier: "usps".into(), tracking_ref: "9400".into() };
        TestFramework::<Order>::with(())
            .given(vec![received()])
            .when(OrderCommand::RecordShipment(shipped.clone()))
            .then_expect_events(vec![OrderEvent::OrderShipped(shipped)]);
    }
}
