//! A shop's receipts (`getShopReceipts`), read by when they last changed,
//! and each receipt in the Order aggregate's words: what the buyer paid per
//! item and in all, in the receipt's currency, its parcels, Etsy's fees
//! (`getShopPaymentByReceiptId`), or that it was cancelled.

use pod_events::domain::order::{LineItem, OrderPaid, OrderReceived, OrderShipped};
use pod_events::domain::shop::Marketplace;
use serde::Deserialize;
use uuid::Uuid;

use super::api::{ApiError, EtsyApi, Results};
use crate::Secret;
use crate::http::one_line;

/// Receipts a page (Etsy's most).
pub const RECEIPTS_PAGE: u32 = 100;

/// The longest carrier name or tracking number kept.
const MAX_TRACKING: usize = 100;

/// An amount as Etsy gives it: `amount / divisor` units of `currency_code`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Money {
    pub amount: i64,
    pub divisor: i64,
    pub currency_code: String,
}

impl Money {
    /// In cents (hundredths), if it is a sum that can be: not negative,
    /// a divisor that is one.
    pub fn cents(&self) -> Option<u64> {
        if self.amount < 0 || self.divisor <= 0 {
            return None;
        }
        let cents = i128::from(self.amount) * 100 / i128::from(self.divisor);
        u64::try_from(cents).ok()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Transaction {
    pub transaction_id: u64,
    /// The listing sold (none for a listing since deleted).
    #[serde(default)]
    pub listing_id: Option<u64>,
    pub quantity: u32,
    /// Per item.
    pub price: Money,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Shipment {
    #[serde(default)]
    pub carrier_name: Option<String>,
    #[serde(default)]
    pub tracking_code: Option<String>,
}

/// A receipt (the fields used here).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Receipt {
    pub receipt_id: u64,
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub is_paid: bool,
    /// When it last changed, in seconds since the epoch.
    #[serde(default)]
    pub updated_timestamp: i64,
    /// When the buyer placed it, in seconds since the epoch.
    #[serde(default)]
    pub created_timestamp: Option<i64>,
    pub grandtotal: Money,
    #[serde(default)]
    pub transactions: Vec<Transaction>,
    #[serde(default)]
    pub shipments: Vec<Shipment>,
}

/// A payment of a receipt (`getShopPaymentByReceiptId`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Payment {
    pub amount_fees: Money,
}

/// A receipt whose figures cannot be believed (a negative or unreadable
/// amount, no items): it is not recorded, rather than recorded wrong.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("Etsy's receipt {receipt} has an unusable {what}")]
pub struct UnusableReceipt {
    pub receipt: u64,
    pub what: &'static str,
}

impl EtsyApi {
    /// `getShopReceipts`: those changed since `min_last_modified` (seconds
    /// since the epoch), the least recently changed first, a page at
    /// `offset`; each as Etsy sent it (`read` makes it a [`Receipt`], one at
    /// a time, so one that cannot be read does not hide the others).
    pub async fn receipts_changed_since(
        &self,
        token: &Secret,
        shop_id: u64,
        min_last_modified: i64,
        offset: u32,
    ) -> Result<Vec<serde_json::Value>, ApiError> {
        let path = format!(
            "/v3/application/shops/{shop_id}/receipts?min_last_modified={min_last_modified}\
             &sort_on=updated&sort_order=asc&limit={RECEIPTS_PAGE}&offset={offset}"
        );
        let page: Results<serde_json::Value> = self.get(token, &path).await?;
        Ok(page.results)
    }

    /// `getShopPaymentByReceiptId`: the receipt's payments (one, once
    /// paid; none where Etsy has none to show).
    pub async fn receipt_payments(
        &self,
        token: &Secret,
        shop_id: u64,
        receipt_id: u64,
    ) -> Result<Vec<Payment>, ApiError> {
        let path = format!("/v3/application/shops/{shop_id}/receipts/{receipt_id}/payments");
        match self.get::<Results<Payment>>(token, &path).await {
            Ok(payments) => Ok(payments.results),
            Err(ApiError::Refused { status: 404, .. }) => Ok(Vec::new()),
            Err(e) => Err(e),
        }
    }
}

/// A receipt as Etsy sent it, read; why not, where it cannot be.
pub fn read(raw: &serde_json::Value) -> Result<Receipt, UnusableReceipt> {
    let receipt = raw["receipt_id"].as_u64().unwrap_or_default();
    serde_json::from_value(raw.clone()).map_err(|_| UnusableReceipt { receipt, what: "shape" })
}

/// The receipt as received, for the shop `shop_id` (ours). Lines of a
/// listing since deleted on Etsy keep no listing id.
pub fn received(shop_id: Uuid, receipt: &Receipt) -> Result<OrderReceived, UnusableReceipt> {
    let unusable = |what| UnusableReceipt { receipt: receipt.receipt_id, what };
    let currency = currency_of(&receipt.grandtotal).ok_or(unusable("currency"))?;
    let total_cents = receipt.grandtotal.cents().ok_or(unusable("total"))?;
    let mut line_items = Vec::with_capacity(receipt.transactions.len());
    for t in &receipt.transactions {
        if t.quantity == 0 {
            return Err(unusable("quantity"));
        }
        line_items.push(LineItem {
            listing_id: None,
            external_listing_id: t.listing_id.map(|id| id.to_string()).unwrap_or_default(),
            quantity: t.quantity,
            price_cents: t.price.cents().ok_or(unusable("price"))?,
        });
    }
    if line_items.is_empty() {
        return Err(unusable("list of items"));
    }
    Ok(OrderReceived {
        shop_id,
        marketplace: Marketplace::Etsy,
        external_order_id: receipt.receipt_id.to_string(),
        line_items,
        total_cents,
        currency,
        placed_at: receipt.created_timestamp.and_then(|t| chrono::DateTime::from_timestamp(t, 0)),
    })
}

/// The amount's currency, if its code is fit to keep.
fn currency_of(m: &Money) -> Option<String> {
    currency_code(&m.currency_code)
}

/// A currency code as Etsy gives it, fit to keep: three ASCII capitals.
pub fn currency_code(raw: &str) -> Option<String> {
    let code = raw.trim();
    (code.len() == 3 && code.bytes().all(|b| b.is_ascii_uppercase())).then(|| code.to_owned())
}

/// The buyer's payment and Etsy's fees, once paid and unless cancelled.
/// The cost of making it is not Etsy's to know (the seller fulfils).
pub fn paid(receipt: &Receipt, fees: Option<&Money>) -> Option<OrderPaid> {
    if !receipt.is_paid || is_cancelled(receipt) {
        return None;
    }
    Some(OrderPaid {
        amount_cents: receipt.grandtotal.cents()?,
        cost_cents: None,
        fees_cents: fees.and_then(Money::cents),
    })
}

/// The receipt's parcels, each with its carrier and tracking number.
pub fn shipments(receipt: &Receipt) -> Vec<OrderShipped> {
    let fit = |v: Option<&str>| one_line(v.unwrap_or_default()).chars().take(MAX_TRACKING).collect::<String>();
    receipt
        .shipments
        .iter()
        .map(|s| OrderShipped {
            carrier: fit(s.carrier_name.as_deref()),
            tracking_ref: fit(s.tracking_code.as_deref()),
        })
        .filter(|s| !s.tracking_ref.is_empty())
        .collect()
}

pub fn is_cancelled(receipt: &Receipt) -> bool {
    receipt.status.eq_ignore_ascii_case("canceled") || receipt.status.eq_ignore_ascii_case("fully refunded")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usd(amount: i64) -> Money {
        Money { amount, divisor: 100, currency_code: "USD".into() }
    }

    fn receipt() -> Receipt {
        Receipt {
            receipt_id: 3_141_592_653,
            status: "paid".into(),
            is_paid: true,
            updated_timestamp: 1_800_000_000,
            created_timestamp: Some(1_799_990_000),
            grandtotal: usd(5497),
            transactions: vec![
                Transaction { transaction_id: 1, listing_id: Some(1_700_000_001), quantity: 2, price: usd(2499) },
                Transaction { transaction_id: 2, listing_id: None, quantity: 1, price: usd(499) },
            ],
            shipments: vec![],
        }
    }

    #[test]
    fn a_receipt_is_received_with_its_items_total_and_currency() {
        let shop = Uuid::from_u128(7);
        let r = received(shop, &receipt()).unwrap();
        assert_eq!((r.shop_id, r.marketplace, r.external_order_id.as_str()), (shop, Marketplace::Etsy, "3141592653"));
        assert_eq!((r.total_cents, r.currency.as_str()), (5497, "USD"));
        assert_eq!(r.line_items[0].external_listing_id, "1700000001");
        assert_eq!((r.line_items[0].quantity, r.line_items[0].price_cents), (2, 2499));
        assert_eq!(r.line_items[1].external_listing_id, "", "a listing since deleted");
        assert_eq!(r.placed_at.map(|t| t.timestamp()), Some(1_799_990_000), "when the buyer placed it");
    }

    #[test]
    fn amounts_are_read_by_their_divisor_and_unusable_ones_refuse_the_receipt() {
        assert_eq!(Money { amount: 2499, divisor: 100, currency_code: "USD".into() }.cents(), Some(2499));
        assert_eq!(Money { amount: 2499, divisor: 1000, currency_code: "KWD".into() }.cents(), Some(249));
        assert_eq!(Money { amount: 25, divisor: 1, currency_code: "JPY".into() }.cents(), Some(2500));
        assert_eq!(usd(-1).cents(), None);
        assert_eq!(Money { amount: 1, divisor: 0, currency_code: "USD".into() }.cents(), None);
        let mut r = receipt();
        r.grandtotal.currency_code = "US\u{0}".into();
        assert_eq!(received(Uuid::nil(), &r).unwrap_err().what, "currency");
        let mut r = receipt();
        r.transactions[1].price = usd(-5);
        assert_eq!(received(Uuid::nil(), &r).unwrap_err().what, "price");
        let mut r = receipt();
        r.transactions.clear();
        assert_eq!(received(Uuid::nil(), &r).unwrap_err().what, "list of items");
    }

    #[test]
    fn a_paid_receipt_carries_etsys_fees_and_a_cancelled_one_no_payment() {
        let p = paid(&receipt(), Some(&usd(412))).unwrap();
        assert_eq!((p.amount_cents, p.fees_cents, p.cost_cents), (5497, Some(412), None));
        let mut open = receipt();
        open.is_paid = false;
        assert_eq!(paid(&open, None), None);
        let mut cancelled = receipt();
        cancelled.status = "canceled".into();
        assert!(is_cancelled(&cancelled));
        assert_eq!(paid(&cancelled, None), None);
    }

    #[test]
    fn parcels_are_read_with_their_tracking_cleaned() {
        let mut r = receipt();
        r.shipments = vec![
            Shipment { carrier_name: Some("usps".into()), tracking_code: Some("9400\u{0}111\u{202E}".into()) },
            Shipment { carrier_name: Some("ups".into()), tracking_code: None },
            Shipment { carrier_name: None, tracking_code: Some("9".repeat(500)) },
        ];
        let s = shipments(&r);
        assert_eq!(s.len(), 2, "a parcel without a number is not one yet");
        assert_eq!((s[0].carrier.as_str(), s[0].tracking_ref.as_str()), ("usps", "9400111"));
        assert_eq!(s[1].tracking_ref.len(), MAX_TRACKING);
    }
}
