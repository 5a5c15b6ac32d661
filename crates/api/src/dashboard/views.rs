//! What the pages show of each thing, in a seller's words: screening hits
//! and SEO checks, money, ages, idea cards, listing and trend rows, risers.

use pod_projections::read::ideas::Idea;
use pod_projections::read::listings::Listing;
use pod_projections::read::trends::{Momentum, Trend};

/// A screening hit as the pages show it.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct Hit {
    pub term: String,
    pub match_kind: String,
    pub matched: String,
    pub field: String,
    pub source: String,
    pub severity: String,
}

pub fn hits_of(value: &serde_json::Value) -> Vec<Hit> {
    serde_json::from_value(value.clone()).unwrap_or_default()
}

/// An SEO check as the pages show it.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct Check {
    pub check: String,
    pub points: u8,
    pub max: u8,
    pub advice: Option<String>,
}

pub fn checks_of(value: &serde_json::Value) -> Vec<Check> {
    serde_json::from_value(value.clone()).unwrap_or_default()
}

/// `$12.34`-style money from cents.
pub fn money(cents: i64, currency: &str) -> String {
    let symbol = match currency {
        "USD" => "$",
        "EUR" => "€",
        "GBP" => "£",
        _ => "",
    };
    let sign = if cents < 0 { "-" } else { "" };
    let abs = cents.unsigned_abs();
    let amount = format!("{}.{:02}", abs / 100, abs % 100);
    if symbol.is_empty() { format!("{sign}{amount} {currency}") } else { format!("{sign}{symbol}{amount}") }
}

/// "3 min ago"-style time for tables.
pub fn ago(at: chrono::DateTime<chrono::Utc>) -> String {
    ago_from(at, chrono::Utc::now())
}

/// How long before `now` something happened, in words.
pub fn ago_from(at: chrono::DateTime<chrono::Utc>, now: chrono::DateTime<chrono::Utc>) -> String {
    let secs = (now - at).num_seconds().max(0);
    match secs {
        0..=59 => "just now".into(),
        60..=3599 => format!("{} min ago", secs / 60),
        3600..=86_399 => format!("{} h ago", secs / 3600),
        _ => at.format("%b %-d, %Y").to_string(),
    }
}

/// An idea with what the pages show beside it.
pub struct IdeaCard {
    pub idea: Idea,
    pub hits: Vec<Hit>,
    pub age: String,
}

impl From<Idea> for IdeaCard {
    fn from(idea: Idea) -> Self {
        Self { hits: hits_of(&idea.hits), age: ago(idea.created_at), idea }
    }
}

pub struct ListingRow {
    pub l: Listing,
    pub price: String,
    /// The price as the editor's box holds it: `24.99`, whatever the currency.
    pub price_input: String,
    pub age: String,
}

impl From<Listing> for ListingRow {
    fn from(l: Listing) -> Self {
        Self {
            price: money(l.price_cents, &l.currency),
            price_input: format!("{}.{:02}", l.price_cents / 100, l.price_cents % 100),
            age: ago(l.updated_at),
            l,
        }
    }
}

pub struct Riser {
    pub m: Momentum,
    /// `+42 %`, or `new` without a week before to compare with.
    pub growth: String,
    pub rising: bool,
}

impl From<Momentum> for Riser {
    fn from(m: Momentum) -> Self {
        let (growth, rising) = match m.growth_7d {
            Some(g) => (format!("{:+.0} %", g * 100.0), g >= 0.0),
            None => ("new".into(), true),
        };
        Self { m, growth, rising }
    }
}

pub struct TrendRow {
    pub t: Trend,
    pub score: String,
    pub age: String,
    /// "seen once", "seen 4 times".
    pub seen: String,
}

impl From<Trend> for TrendRow {
    fn from(t: Trend) -> Self {
        let seen = match t.observations {
            1 => "seen once".to_owned(),
            n => format!("seen {n} times"),
        };
        Self { score: format!("{:.0}", t.last_score), age: ago(t.last_seen), seen, t }
    }
}
