//! Printify: connecting a shop with its owner's personal access token, and
//! the webhooks that bring its orders back.
//!
//! - `api`: the v1 calls (shops, webhooks, orders), bearer token, `retry-after`.
//! - `products`: catalog variants, uploads, products found by SKU, publish.
//! - `catalog`: product type → blueprint, provider, variants; the catalog
//!   kept for a while.
//! - `orders`: a Printify order in the Order aggregate's words.
//! - `webhooks`: a delivery's signature checked, its body read.

pub mod api;
pub mod catalog;
pub mod orders;
pub mod products;
pub mod webhooks;

pub use api::{ApiError, PrintifyApi, PrintifyShop};

use crate::{Secret, VaultError};

/// A new secret for a shop's webhook signatures: 32 random bytes as hex.
pub fn new_webhook_secret() -> Result<Secret, VaultError> {
    crate::vault::random_secret()
}

/// The longest id believed from Printify (its ids are 24 hex digits or uuids).
pub const MAX_ID: usize = 100;

/// Whether `v` can be an id of Printify's: 1 to [`MAX_ID`] visible ASCII
/// characters (no NUL, no spaces, no 100 kB strings).
pub fn is_id(v: &str) -> bool {
    !v.is_empty() && v.len() <= MAX_ID && v.bytes().all(|b| b.is_ascii_graphic())
}

/// Where Printify sends a shop's webhooks: `<public_url>/webhooks/printify/<shop id>`.
pub fn webhook_url(public_url: &str, shop_id: uuid::Uuid) -> String {
    format!("{}/webhooks/printify/{shop_id}", public_url.trim_end_matches('/'))
}
