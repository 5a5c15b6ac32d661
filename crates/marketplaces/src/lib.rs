//! The marketplaces a shop sells through (Etsy, Printify): what a
//! connection needs to keep and how it keeps it.
//!
//! - `vault`: secrets at rest, sealed with AES-256-GCM under a rotating
//!   keyring; a sealed value names its key and is bound to where it
//!   belongs.
//! - `credentials`: a shop's tokens in `shop_credentials`, sealed by the
//!   vault, per tenant and shop; re-sealing under a new key (`rekey`).
//!
//! Tokens never enter the event log, a log line or an answer: events say
//! only that a connection exists and when its token expires, and
//! [`vault::Secret`] does not print.

pub mod credentials;
pub mod vault;

pub use vault::{Keyring, Secret, VaultError};
