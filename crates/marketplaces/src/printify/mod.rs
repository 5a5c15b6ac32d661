//! Printify: connecting a shop with its owner's personal access token, and
//! the webhooks that bring its orders back.
//!
//! - `api`: the v1 calls (shops, webhooks, orders), bearer token, `retry-after`.
//! - `orders`: a Printify order in the Order aggregate's words.
//! - `webhooks`: a delivery's signature checked, its body read.

pub mod api;
pub mod orders;
pub mod webhooks;

pub use api::{ApiError, PrintifyApi, PrintifyShop};

use ring::rand::{SecureRandom, SystemRandom};

use crate::{Secret, VaultError};

/// A new secret for a shop's webhook signatures: 32 random bytes as hex.
pub fn new_webhook_secret() -> Result<Secret, VaultError> {
    let mut bytes = [0u8; 32];
    SystemRandom::new().fill(&mut bytes).map_err(|_| VaultError::Random)?;
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    Ok(Secret::new(hex))
}

/// Where Printify sends a shop's webhooks: `<public_url>/webhooks/printify/<shop id>`.
pub fn webhook_url(public_url: &str, shop_id: uuid::Uuid) -> String {
    format!("{}/webhooks/printify/{shop_id}", public_url.trim_end_matches('/'))
}
