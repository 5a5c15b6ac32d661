//! Printify's API v1, the calls this app makes, with the shop's personal
//! access token as bearer. Printify publishes no OpenAPI document; the
//! shapes follow its v1 documentation.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::Secret;
use crate::http::{self, client};
use crate::settings::PrintifySettings;

/// Printify asks every caller to name itself.
const USER_AGENT: &str = concat!("pod-automator/", env!("CARGO_PKG_VERSION"));

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("marketplaces.printify.{field}: {reason}")]
    Settings { field: &'static str, reason: String },
    /// The token was refused (revoked, mistyped, lacking a scope).
    #[error("Printify refused the token")]
    Unauthorized,
    /// Too many requests: wait this long (from `retry-after`), then again.
    #[error("Printify is rate limiting: retry after {0:?}")]
    RateLimited(Duration),
    #[error("Printify answered {status}: {message}")]
    Refused { status: u16, message: String },
    #[error("Printify is unavailable: {0}")]
    Unavailable(String),
}

impl pod_events::Transient for ApiError {
    fn is_transient(&self) -> bool {
        matches!(self, Self::RateLimited(_) | Self::Unavailable(_))
    }
}

/// The sales channel of a Printify shop connected to none.
pub const DISCONNECTED: &str = "disconnected";

/// A Printify shop the token can use, and the sales channel it publishes to
/// (`etsy`, `shopify`, … a custom integration's name, or [`DISCONNECTED`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrintifyShop {
    pub id: u64,
    pub title: String,
    pub sales_channel: String,
}

/// A webhook as Printify keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Webhook {
    pub id: String,
    pub topic: String,
    pub url: String,
}

/// What a shop is told about: orders and their shipments, and the shop
/// itself going away.
pub const WEBHOOK_TOPICS: [&str; 5] =
    ["order:created", "order:updated", "order:shipment:created", "order:shipment:delivered", "shop:disconnected"];

/// An order as Printify keeps it: amounts in cents of the shop's currency.
/// `total_price`, `total_shipping` and `total_tax` are what Printify
/// charges the seller; each item's `metadata.price` is what the buyer paid.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrintifyOrder {
    pub id: String,
    pub status: String,
    pub line_items: Vec<PrintifyLineItem>,
    #[serde(default)]
    pub total_price: u64,
    #[serde(default)]
    pub total_shipping: u64,
    #[serde(default)]
    pub total_tax: u64,
    #[serde(default)]
    pub shipments: Vec<PrintifyShipment>,
    /// When the buyer placed it: `2017-04-18 13:24:28+00:00`.
    #[serde(default)]
    pub created_at: Option<String>,
}

/// A parcel on its way: the carrier and its tracking number.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrintifyShipment {
    pub carrier: String,
    pub number: String,
    #[serde(default)]
    pub url: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrintifyLineItem {
    pub product_id: String,
    pub variant_id: u64,
    pub quantity: u32,
    #[serde(default)]
    pub metadata: LineMetadata,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LineMetadata {
    /// What the buyer paid for one, in cents.
    #[serde(default)]
    pub price: u64,
    #[serde(default)]
    pub title: String,
    #[serde(default)]
    pub sku: String,
}

#[derive(Debug, Clone)]
pub struct PrintifyApi {
    base: String,
    http: reqwest::Client,
}

impl PrintifyApi {
    pub fn new(settings: &PrintifySettings) -> Result<Self, ApiError> {
        reqwest::Url::parse(&settings.base_url)
            .map_err(|e| ApiError::Settings { field: "base_url", reason: e.to_string() })?;
        let http =
            client(Duration::from_secs(30)).map_err(|e| ApiError::Settings { field: "http", reason: e.to_string() })?;
        Ok(Self { base: settings.base_url.trim_end_matches('/').to_owned(), http })
    }

    /// The shops the token can use (`GET /v1/shops.json`).
    pub async fn shops(&self, token: &Secret) -> Result<Vec<PrintifyShop>, ApiError> {
        self.call(token, Method::GET, "/v1/shops.json", None::<&()>).await
    }

    /// One of the shop's orders.
    pub async fn order(&self, token: &Secret, shop: u64, order_id: &str) -> Result<PrintifyOrder, ApiError> {
        let path = format!("/v1/shops/{shop}/orders/{}.json", path_segment(order_id));
        self.call(token, Method::GET, &path, None::<&()>).await
    }

    /// The shop's webhooks.
    pub async fn webhooks(&self, token: &Secret, shop: u64) -> Result<Vec<Webhook>, ApiError> {
        self.call(token, Method::GET, &format!("/v1/shops/{shop}/webhooks.json"), None::<&()>).await
    }

    /// Asks Printify to send `topic` to `url`, signed with `secret`.
    pub async fn create_webhook(
        &self,
        token: &Secret,
        shop: u64,
        topic: &str,
        url: &str,
        secret: &Secret,
    ) -> Result<Webhook, ApiError> {
        let body = serde_json::json!({"topic": topic, "url": url, "secret": secret.expose()});
        self.call(token, Method::POST, &format!("/v1/shops/{shop}/webhooks.json"), Some(&body)).await
    }

    pub async fn delete_webhook(&self, token: &Secret, shop: u64, id: &str) -> Result<(), ApiError> {
        let path = format!("/v1/shops/{shop}/webhooks/{}.json", path_segment(id));
        self.call::<serde_json::Value>(token, Method::DELETE, &path, None::<&()>).await.map(drop)
    }

    /// Sends every topic of [`WEBHOOK_TOPICS`] to `url`, signed with
    /// `secret`: the webhooks already pointing at `url` (from an earlier
    /// connection, with an older secret) are replaced.
    pub async fn register_webhooks(
        &self,
        token: &Secret,
        shop: u64,
        url: &str,
        secret: &Secret,
    ) -> Result<(), ApiError> {
        for old in self.webhooks(token, shop).await?.into_iter().filter(|w| w.url == url) {
            match self.delete_webhook(token, shop, &old.id).await {
                // Gone already (another connection of the same shop removed it).
                Ok(()) | Err(ApiError::Refused { status: 404, .. }) => {}
                Err(e) => return Err(e),
            }
        }
        for topic in WEBHOOK_TOPICS {
            self.create_webhook(token, shop, topic, url, secret).await?;
        }
        Ok(())
    }

    pub(crate) async fn call<T: DeserializeOwned>(
        &self,
        token: &Secret,
        method: Method,
        path: &str,
        body: Option<&impl Serialize>,
    ) -> Result<T, ApiError> {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(token.expose())
            .header(reqwest::header::USER_AGENT, USER_AGENT);
        if let Some(body) = body {
            req = req.json(body);
        }
        let resp = req.send().await.map_err(|e| ApiError::Unavailable(e.without_url().to_string()))?;
        let status = resp.status();
        match status {
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => return Err(ApiError::Unauthorized),
            StatusCode::TOO_MANY_REQUESTS => return Err(ApiError::RateLimited(retry_after(resp.headers()))),
            s if s.is_server_error() || s == StatusCode::REQUEST_TIMEOUT => {
                return Err(ApiError::Unavailable(format!("{path} answered {status}")));
            }
            s if !s.is_success() => {
                let body = resp.text().await.unwrap_or_default();
                return Err(ApiError::Refused { status: status.as_u16(), message: message_of(&body) });
            }
            _ => {}
        }
        resp.json().await.map_err(|e| ApiError::Unavailable(format!("{path}: {}", e.without_url())))
    }
}

/// An id from outside, safe in a path: anything but ASCII letters, digits,
/// `-` and `_` is percent-encoded.
pub(crate) fn path_segment(id: &str) -> String {
    id.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b == b'-' || b == b'_' {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// `retry-after` in seconds (Printify does not send dates); a minute when
/// it is missing or unreadable, at most an hour.
fn retry_after(headers: &reqwest::header::HeaderMap) -> Duration {
    http::retry_after(headers, Duration::from_secs(60))
}

/// What an error answer says: Printify's `message` (and its field errors),
/// or the start of the body; one line, capped.
fn message_of(body: &str) -> String {
    http::message_of(body, |v| {
        let message = v.get("message").and_then(|m| m.as_str())?.to_owned();
        Some(match v.get("errors") {
            Some(errors) if !errors.is_null() => format!("{message}: {errors}"),
            _ => message,
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_error_answer_is_read_for_its_message_and_field_errors() {
        let body = r#"{"status":"error","code":8150,"message":"Validation failed.","errors":{"reason":"title empty"}}"#;
        assert_eq!(message_of(body), r#"Validation failed.: {"reason":"title empty"}"#);
        assert_eq!(message_of("<html>\nbad gateway"), "<html>bad gateway");
        assert_eq!(message_of(&"y".repeat(50_000)).len(), http::MAX_MESSAGE);
    }

    #[test]
    fn retry_after_is_read_in_seconds_and_bounded() {
        let mut h = reqwest::header::HeaderMap::new();
        assert_eq!(retry_after(&h), Duration::from_secs(60));
        h.insert(reqwest::header::RETRY_AFTER, "7".parse().unwrap());
        assert_eq!(retry_after(&h), Duration::from_secs(7));
        h.insert(reqwest::header::RETRY_AFTER, "99999".parse().unwrap());
        assert_eq!(retry_after(&h), Duration::from_secs(3600));
    }
}
