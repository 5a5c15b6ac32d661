//! The marketplaces a shop sells through (Etsy, Printify): what a
//! connection needs to keep and how it keeps it.
//!
//! - `vault`: secrets at rest, sealed with AES-256-GCM under a rotating
//!   keyring; a sealed value names its key and is bound to where it
//!   belongs.
//! - `credentials`: a shop's tokens in `shop_credentials`, sealed by the
//!   vault, per tenant and shop; re-sealing under a new key (`rekey`).
//! - `connections`: connections a person started and has not finished
//!   (the OAuth state, hashed, and its PKCE verifier).
//! - `settings`: `[marketplaces.etsy]`, `[marketplaces.printify]`: base
//!   URLs, the app's key, scopes.
//! - `etsy`: connecting an Etsy shop (OAuth 2, PKCE) and keeping its tokens
//!   fresh under a per-shop lock.
//! - `printify`: connecting a Printify shop (personal access token) and
//!   registering its webhooks.
//! - `http`: the one HTTP client setup marketplace calls share.
//! - `standin` (feature `standins`): local servers speaking the
//!   marketplaces' contracts, for tests and benchmarks.
//!
//! Tokens never enter the event log, a log line or an answer: events say
//! only that a connection exists and when its token expires, and
//! [`vault::Secret`] does not print.

pub mod connections;
pub mod credentials;
pub mod etsy;
pub mod http;
pub mod printify;
pub mod settings;
#[cfg(feature = "standins")]
pub mod standin;
pub mod vault;

pub use settings::{EtsySettings, MarketplacesSettings, PrintifySettings};
pub use vault::{Keyring, Secret, VaultError};
