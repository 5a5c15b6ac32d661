//! Etsy: connecting a shop (OAuth 2 with PKCE) and keeping its tokens
//! fresh.
//!
//! - `api`: the Open API v3 calls, with `x-api-key` and the bearer token.
//! - `listings`: drafting a listing, uploading its image, activating it.
//! - `oauth`: the authorization-code and refresh grants.
//! - `tokens`: an access token that works now, refreshed under a per-shop
//!   lock, the rotated refresh token stored before it is used.

pub mod api;
pub mod listings;
pub mod oauth;
pub mod receipts;
pub mod tokens;

pub use oauth::{Authorization, EtsyOAuth, OAuthError, Tokens};
pub use tokens::{Access, ShopTokens, TokenError};
