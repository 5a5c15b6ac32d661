//! Etsy's Open API v3, the calls this app makes: every request carries the
//! app's `x-api-key` and the shop's bearer token.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};

use reqwest::StatusCode;
use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::Secret;
use crate::http::{self, client};
use crate::settings::EtsySettings;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("marketplaces.etsy.{field}: {reason}")]
    Settings { field: &'static str, reason: String },
    /// The bearer token was refused (expired, revoked): refresh, retry once.
    #[error("Etsy refused the shop's token")]
    Unauthorized,
    /// Too many requests: wait this long (from `retry-after`), then again.
    #[error("Etsy is rate limiting: retry after {0:?}")]
    RateLimited(Duration),
    #[error("Etsy answered {status}: {message}")]
    Refused { status: u16, message: String },
    #[error("Etsy is unavailable: {0}")]
    Unavailable(String),
}

impl pod_events::Transient for ApiError {
    fn is_transient(&self) -> bool {
        matches!(self, Self::RateLimited(_) | Self::Unavailable(_))
    }
}

/// Who the token belongs to (`getMe`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Me {
    pub user_id: u64,
    pub shop_id: Option<u64>,
}

/// A shop (`getShop`), what a connection shows of it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct EtsyShop {
    pub shop_id: u64,
    pub shop_name: String,
    /// The currency the shop sells in.
    #[serde(default)]
    pub currency_code: Option<String>,
}

/// A shipping profile of a shop (`getShopShippingProfiles`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ShippingProfile {
    pub shipping_profile_id: u64,
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub is_deleted: bool,
}

/// A return policy of a shop (`getShopReturnPolicies`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ReturnPolicy {
    pub return_policy_id: u64,
    #[serde(default)]
    pub accepts_returns: bool,
    #[serde(default)]
    pub accepts_exchanges: bool,
    /// Days the buyer has to return or exchange.
    #[serde(default)]
    pub return_deadline: Option<u32>,
}

impl ReturnPolicy {
    /// The policy in a seller's words (Etsy's policies have no titles):
    /// "Returns and exchanges within 30 days".
    pub fn terms(&self) -> String {
        let what = match (self.accepts_returns, self.accepts_exchanges) {
            (true, true) => "Returns and exchanges",
            (true, false) => "Returns",
            (false, true) => "Exchanges",
            (false, false) => return "No returns or exchanges".to_owned(),
        };
        match self.return_deadline {
            Some(days) => format!("{what} within {days} days"),
            None => format!("{what} accepted"),
        }
    }
}

/// Etsy's answer for a collection.
#[derive(Debug, Deserialize)]
pub(crate) struct Results<T> {
    pub results: Vec<T>,
}

/// What Etsy's last answer said is left of the app's limits
/// (`x-remaining-this-second`, `x-remaining-today`), and when.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Headroom {
    pub remaining_this_second: Option<u64>,
    pub remaining_today: Option<u64>,
    pub limit_per_day: Option<u64>,
    pub seen_at: DateTime<Utc>,
}

impl Headroom {
    fn read(headers: &reqwest::header::HeaderMap) -> Option<Self> {
        let number = |name: &str| headers.get(name)?.to_str().ok()?.trim().parse::<u64>().ok();
        let headroom = Self {
            remaining_this_second: number("x-remaining-this-second"),
            remaining_today: number("x-remaining-today"),
            limit_per_day: number("x-limit-per-day"),
            seen_at: Utc::now(),
        };
        (headroom.remaining_this_second.is_some() || headroom.remaining_today.is_some()).then_some(headroom)
    }

    /// The day's requests were spent as of an answer seen `within` of
    /// `now` (Etsy's day is a rolling one: after a while, ask again).
    pub fn day_spent(&self, now: DateTime<Utc>, within: Duration) -> bool {
        let within = chrono::Duration::from_std(within).unwrap_or(chrono::Duration::MAX);
        self.remaining_today == Some(0) && now - self.seen_at < within
    }
}

#[derive(Debug, Clone)]
pub struct EtsyApi {
    base: String,
    api_key: Secret,
    http: reqwest::Client,
    headroom: Arc<Mutex<Option<Headroom>>>,
}

impl EtsyApi {
    pub fn new(settings: &EtsySettings) -> Result<Self, ApiError> {
        let keystring = settings
            .keystring
            .as_deref()
            .map(str::trim)
            .filter(|k| !k.is_empty())
            .ok_or(ApiError::Settings { field: "keystring", reason: "is required to call Etsy".into() })?;
        reqwest::Url::parse(&settings.base_url)
            .map_err(|e| ApiError::Settings { field: "base_url", reason: e.to_string() })?;
        let api_key = match settings.shared_secret.as_deref().filter(|s| !s.is_empty()) {
            Some(secret) => format!("{keystring}:{secret}"),
            None => keystring.to_owned(),
        };
        let http =
            client(Duration::from_secs(30)).map_err(|e| ApiError::Settings { field: "http", reason: e.to_string() })?;
        Ok(Self {
            base: settings.base_url.trim_end_matches('/').to_owned(),
            api_key: Secret::new(api_key),
            http,
            headroom: Arc::default(),
        })
    }

    /// What Etsy last said is left of the app's limits, if it said.
    pub fn headroom(&self) -> Option<Headroom> {
        *self.headroom.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// `getShopShippingProfiles`: the profiles in force (not deleted).
    pub async fn shipping_profiles(&self, token: &Secret, shop_id: u64) -> Result<Vec<ShippingProfile>, ApiError> {
        let all: Results<ShippingProfile> =
            self.get(token, &format!("/v3/application/shops/{shop_id}/shipping-profiles")).await?;
        Ok(all.results.into_iter().filter(|p| !p.is_deleted).collect())
    }

    /// `getShopReturnPolicies`.
    pub async fn return_policies(&self, token: &Secret, shop_id: u64) -> Result<Vec<ReturnPolicy>, ApiError> {
        let all: Results<ReturnPolicy> =
            self.get(token, &format!("/v3/application/shops/{shop_id}/policies/return")).await?;
        Ok(all.results)
    }

    /// `getMe`: the user the token was issued to, and their shop.
    pub async fn me(&self, token: &Secret) -> Result<Me, ApiError> {
        self.get(token, "/v3/application/users/me").await
    }

    /// `getShop`.
    pub async fn shop(&self, token: &Secret, shop_id: u64) -> Result<EtsyShop, ApiError> {
        self.get(token, &format!("/v3/application/shops/{shop_id}")).await
    }

    pub(crate) async fn get<T: DeserializeOwned>(&self, token: &Secret, path: &str) -> Result<T, ApiError> {
        self.call(token, reqwest::Method::GET, path, Body::None).await
    }

    pub(crate) async fn call<T: DeserializeOwned>(
        &self,
        token: &Secret,
        method: reqwest::Method,
        path: &str,
        body: Body,
    ) -> Result<T, ApiError> {
        let req = self
            .http
            .request(method, format!("{}{path}", self.base))
            .header("x-api-key", self.api_key.expose())
            .bearer_auth(token.expose());
        let req = match body {
            Body::None => req,
            Body::Form(fields) => req.form(&fields),
            Body::Multipart(form) => req.multipart(form),
        };
        let resp = req.send().await.map_err(|e| ApiError::Unavailable(e.without_url().to_string()))?;
        if let Some(seen) = Headroom::read(resp.headers()) {
            *self.headroom.lock().unwrap_or_else(|p| p.into_inner()) = Some(seen);
        }
        let status = resp.status();
        if status == StatusCode::UNAUTHORIZED {
            return Err(ApiError::Unauthorized);
        }
        if status == StatusCode::TOO_MANY_REQUESTS {
            return Err(ApiError::RateLimited(retry_after(resp.headers())));
        }
        if status.is_server_error() {
            return Err(ApiError::Unavailable(format!("{path} answered {status}")));
        }
        if !status.is_success() {
            let body = resp.text().await.unwrap_or_default();
            return Err(ApiError::Refused { status: status.as_u16(), message: message_of(&body) });
        }
        resp.json().await.map_err(|e| ApiError::Unavailable(format!("{path}: {}", e.without_url())))
    }
}

/// What a call sends: nothing, a form (Etsy's bodies are form-encoded, not
/// JSON), or a multipart upload.
pub(crate) enum Body {
    None,
    Form(Vec<(&'static str, String)>),
    Multipart(reqwest::multipart::Form),
}

/// `retry-after` in seconds; a second when missing or unreadable (Etsy's
/// limit is per second), at most an hour.
fn retry_after(headers: &reqwest::header::HeaderMap) -> Duration {
    http::retry_after(headers, Duration::from_secs(1))
}

/// What an error answer says: Etsy's `error` field, or the start of the
/// body, one line, capped.
fn message_of(body: &str) -> String {
    http::message_of(body, |v| v.get("error").and_then(|e| e.as_str()).map(str::to_owned))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_return_policy_reads_as_its_terms() {
        let p = |r, e, d| ReturnPolicy {
            return_policy_id: 1,
            accepts_returns: r,
            accepts_exchanges: e,
            return_deadline: d,
        };
        assert_eq!(p(true, true, Some(30)).terms(), "Returns and exchanges within 30 days");
        assert_eq!(p(true, false, Some(14)).terms(), "Returns within 14 days");
        assert_eq!(p(false, true, None).terms(), "Exchanges accepted");
        assert_eq!(p(false, false, Some(30)).terms(), "No returns or exchanges");
    }

    #[test]
    fn an_error_answer_is_read_for_its_message_in_one_capped_line() {
        assert_eq!(message_of(r#"{"error":"Invalid shop_id"}"#), "Invalid shop_id");
        assert_eq!(message_of("upstream\nfailed\u{0}"), "upstreamfailed");
        assert_eq!(message_of(&"x".repeat(100_000)).len(), http::MAX_MESSAGE);
    }

    #[test]
    fn the_api_key_carries_the_shared_secret_when_there_is_one() {
        let with =
            EtsySettings { keystring: Some("ks".into()), shared_secret: Some("sh".into()), ..EtsySettings::default() };
        assert_eq!(EtsyApi::new(&with).unwrap().api_key.expose(), "ks:sh");
        let without = EtsySettings { keystring: Some("ks".into()), ..EtsySettings::default() };
        assert_eq!(EtsyApi::new(&without).unwrap().api_key.expose(), "ks");
        let e = EtsyApi::new(&EtsySettings::default()).unwrap_err();
        assert!(e.to_string().contains("marketplaces.etsy.keystring"), "{e}");
    }
}
