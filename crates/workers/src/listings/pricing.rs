//! Prices from product cost, marketplace fees and a target margin.
//!
//! Etsy (US, 2026): a $0.20 listing fee, a 6.5 % transaction fee and
//! payment processing of 3 % + $0.25. A price P keeps margin m when
//! P − fees(P) − cost ≥ m·P, i.e. P ≥ (cost + fixed fees) / (1 − rates − m).
//! The result is rounded up to a price ending in .99.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PricingSettings {
    /// Profit kept, as a share of the price (0.30 = 30 %).
    pub target_margin: f64,
    pub listing_fee_cents: u64,
    pub transaction_rate: f64,
    pub payment_rate: f64,
    pub payment_fixed_cents: u64,
    pub currency: String,
    /// Production cost per product type in cents (Printify's base cost,
    /// shipping included). Product types not listed use `default_cost_cents`.
    pub costs_cents: std::collections::BTreeMap<String, u64>,
    pub default_cost_cents: u64,
}

impl Default for PricingSettings {
    fn default() -> Self {
        let costs = [
            ("t-shirt", 1_150),
            ("sweatshirt", 2_100),
            ("hoodie", 2_600),
            ("onesie", 1_200),
            ("mug", 900),
            ("tumbler", 1_500),
            ("sticker", 350),
            ("tote bag", 1_400),
            ("hat", 1_600),
            ("ornament", 950),
            ("poster", 1_300),
            ("phone case", 1_200),
        ];
        Self {
            target_margin: 0.30,
            listing_fee_cents: 20,
            transaction_rate: 0.065,
            payment_rate: 0.03,
            payment_fixed_cents: 25,
            currency: "USD".into(),
            costs_cents: costs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect(),
            default_cost_cents: 1_200,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Quote {
    pub price_cents: u64,
    pub cost_cents: u64,
    pub fees_cents: u64,
    pub profit_cents: i64,
    pub margin: f64,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PricingError {
    #[error("fees ({rates:.3}) and the target margin ({margin:.3}) leave nothing of the price: lower the margin")]
    Impossible { rates: f64, margin: f64 },
}

impl PricingSettings {
    pub fn cost_of(&self, product_type: &str) -> u64 {
        self.costs_cents.get(product_type).copied().unwrap_or(self.default_cost_cents)
    }

    pub fn fees_at(&self, price_cents: u64) -> u64 {
        let variable = price_cents as f64 * (self.transaction_rate + self.payment_rate);
        self.listing_fee_cents + self.payment_fixed_cents + variable.round() as u64
    }

    /// The price of a product type that keeps the target margin.
    pub fn quote(&self, product_type: &str) -> Result<Quote, PricingError> {
        let rates = self.transaction_rate + self.payment_rate;
        let denom = 1.0 - rates - self.target_margin;
        if denom <= 0.05 {
            return Err(PricingError::Impossible { rates, margin: self.target_margin });
        }
        let cost = self.cost_of(product_type);
        let fixed = self.listing_fee_cents + self.payment_fixed_cents;
        // One cent of headroom for the rounding of percentage fees.
        let floor = ((cost + fixed + 1) as f64 / denom).ceil() as u64;
        // Up to the next price ending in .99.
        let price = (floor / 100) * 100 + 99;
        let price = if price < floor { price + 100 } else { price };
        let fees = self.fees_at(price);
        let profit = price as i64 - fees as i64 - cost as i64;
        Ok(Quote {
            price_cents: price,
            cost_cents: cost,
            fees_cents: fees,
            profit_cents: profit,
            margin: profit as f64 / price as f64,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shirt_keeps_its_margin_after_fees() {
        let p = PricingSettings::default();
        let q = p.quote("t-shirt").unwrap();
        // (1150 + 45) / (1 − 0.095 − 0.30) = 1975.2 → $19.99
        assert_eq!(q.price_cents, 1999);
        assert_eq!(q.fees_cents, 20 + 25 + 190);
        assert_eq!(q.profit_cents, 1999 - 235 - 1150);
        assert!(q.margin >= 0.30, "{q:?}");
        assert_eq!(p.quote("unknown gadget").unwrap().cost_cents, 1200);
    }

    #[test]
    fn every_price_ends_in_99_and_keeps_the_margin() {
        let mut p = PricingSettings::default();
        for margin in [0.1, 0.25, 0.4, 0.6] {
            p.target_margin = margin;
            for product in p.costs_cents.keys().cloned().collect::<Vec<_>>() {
                let q = p.quote(&product).unwrap();
                assert_eq!(q.price_cents % 100, 99, "{product}: {q:?}");
                assert!(q.margin + 1e-9 >= margin, "{product} at {margin}: {q:?}");
            }
        }
        p.target_margin = 0.9;
        assert!(matches!(p.quote("mug"), Err(PricingError::Impossible { .. })));
    }
}
