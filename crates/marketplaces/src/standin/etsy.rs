//! A stand-in for Etsy on 127.0.0.1, for tests and benchmarks: its OAuth 2
//! authorization server as RFC 6749 and RFC 7636 describe it, and the few
//! API reads a connection makes.
//!
//! - `GET /oauth/connect`: the seller consents at once; the code is bound
//!   to the client, the redirect URI and the S256 challenge (a plain or
//!   missing challenge is `invalid_request`, as Etsy answers).
//! - `POST /v3/public/oauth/token`, form-encoded, public client:
//!   `authorization_code` (one use; a second use revokes what the first
//!   issued, RFC 6749 §4.1.2) and `refresh_token` (rotated: the old one is
//!   `invalid_grant` from then on). Errors are RFC 6749 §5.2 JSON.
//! - `GET /v3/application/users/me` and `GET /v3/application/shops/{id}`
//!   with `x-api-key` and a live bearer token.
//! - Listings: `createDraftListing` (form-encoded, Etsy's required fields),
//!   `uploadListingImage` (multipart, a PNG), `updateListing` to `active`
//!   (refused without an image, as Etsy does).
//! - The shop's shipping profiles and return policies, its newest drafts
//!   (`getListingsByShop`) and a listing's images (`getListingImages`).
//! - Etsy's limit of requests per second, when set: beyond it, 429 with
//!   `retry-after`, counted for the benchmark. Every answer says what is
//!   left (`x-remaining-this-second`, `x-remaining-today`).
//! - Receipts (`getShopReceipts` by `min_last_modified`, sorted on
//!   `updated`, paged) and their payments, as the test puts them.
//! - Listings by id (`getListingsByListingIds`), for drift: a listing the
//!   test deactivates, sells out or deletes.
//! - For the hard cases: drafts refused with Etsy's message, answers that
//!   fail with 503, access tokens that expire while refresh tokens live.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::extract::{Form, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::json;
use sha2::{Digest, Sha256};

/// The seller who consents, and their shop.
pub const USER_ID: u64 = 40_123_456;
pub const SHOP_ID: u64 = 52_345_678;
pub const SHOP_NAME: &str = "InkAndOakStudio";
/// The shop's shipping profile and return policy, until others are set.
pub const SHIPPING_PROFILE_ID: u64 = 190_000_001;
pub const RETURN_POLICY_ID: u64 = 290_000_001;

#[derive(Debug)]
struct Code {
    client_id: String,
    redirect_uri: String,
    challenge: String,
    used: bool,
    /// Tokens issued for it, revoked if the code is used again.
    issued: Vec<String>,
}

#[derive(Debug)]
struct Server {
    client_id: String,
    access_lifetime_secs: u64,
    token_delay: Duration,
    codes: HashMap<String, Code>,
    live_access: HashSet<String>,
    live_refresh: HashSet<String>,
    refreshes: u64,
    /// Every form the token endpoint received, in order.
    token_requests: Vec<HashMap<String, String>>,
    listings: Vec<StandInListing>,
    next_id: u64,
    /// Requests allowed per second (None: no limit), the last second's
    /// requests, and the 429s answered.
    per_second: Option<usize>,
    recent: std::collections::VecDeque<std::time::Instant>,
    throttled: u64,
    /// Requests answered (for `x-remaining-today`), of a day's `per_day`.
    requests: u64,
    per_day: u64,
    shipping_profiles: Vec<u64>,
    return_policies: Vec<u64>,
    /// Drafts are refused with this message (400) while set.
    refuse_drafts: Option<String>,
    /// The next this many drafts are made, and answered 503 all the same
    /// (the answer lost on its way back).
    lose_draft_answers: u32,
    /// Receipts as put, and each one's fees (in cents).
    receipts: Vec<serde_json::Value>,
    /// Listings `getListingsByListingIds` leaves out.
    batch_omits: HashSet<u64>,
    fees: HashMap<u64, i64>,
    /// After `fail_skip` more API requests, the next `failures` answer 503.
    fail_skip: u32,
    failures: u32,
}

/// A listing as the stand-in keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StandInListing {
    pub listing_id: u64,
    pub shop_id: u64,
    pub state: String,
    /// The form it was drafted with, field by field (repeated fields joined by `|`).
    pub drafted: HashMap<String, String>,
    pub images: Vec<u64>,
    /// Each image's bytes as received.
    pub image_bytes: Vec<Vec<u8>>,
    /// When it was made, in seconds since the epoch.
    pub created: i64,
}

/// A running stand-in; stops when dropped.
#[derive(Debug)]
pub struct EtsyStandIn {
    pub url: String,
    server: Arc<Mutex<Server>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for EtsyStandIn {
    fn drop(&mut self) {
        self.task.abort();
    }
}

type Shared = Arc<Mutex<Server>>;

fn lock(s: &Shared) -> MutexGuard<'_, Server> {
    s.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl EtsyStandIn {
    /// Starts on a free port of 127.0.0.1, for the app `client_id`.
    pub async fn start(client_id: &str) -> std::io::Result<Self> {
        let server = Arc::new(Mutex::new(Server {
            client_id: client_id.to_owned(),
            access_lifetime_secs: 3600,
            token_delay: Duration::ZERO,
            codes: HashMap::new(),
            live_access: HashSet::new(),
            live_refresh: HashSet::new(),
            refreshes: 0,
            token_requests: Vec::new(),
            listings: Vec::new(),
            next_id: 1_700_000_000,
            per_second: None,
            recent: std::collections::VecDeque::new(),
            throttled: 0,
            requests: 0,
            per_day: 10_000,
            shipping_profiles: vec![SHIPPING_PROFILE_ID],
            return_policies: vec![RETURN_POLICY_ID],
            refuse_drafts: None,
            lose_draft_answers: 0,
            receipts: Vec::new(),
            batch_omits: HashSet::new(),
            fees: HashMap::new(),
            fail_skip: 0,
            failures: 0,
        }));
        let app = Router::new()
            .route("/oauth/connect", get(authorize))
            .route("/v3/public/oauth/token", post(token))
            .route("/v3/application/users/me", get(me))
            .route("/v3/application/shops/{shop_id}", get(shop))
            .route("/v3/application/shops/{shop_id}/shipping-profiles", get(shipping_profiles))
            .route("/v3/application/shops/{shop_id}/policies/return", get(return_policies))
            .route("/v3/application/shops/{shop_id}/listings", post(create_draft).get(listings_by_shop))
            .route("/v3/application/shops/{shop_id}/listings/{listing_id}/images", post(upload_image))
            .route("/v3/application/listings/{listing_id}/images", get(listing_images))
            .route("/v3/application/listings/batch", get(listings_by_ids))
            .route("/v3/application/listings/{listing_id}", get(one_listing))
            .route("/v3/application/shops/{shop_id}/receipts", get(receipts))
            .route("/v3/application/shops/{shop_id}/receipts/{receipt_id}/payments", get(payments))
            .route("/v3/application/shops/{shop_id}/listings/{listing_id}", axum::routing::patch(update_listing))
            .layer(axum::middleware::from_fn_with_state(server.clone(), say_headroom))
            .with_state(server.clone());
        let (url, task) = super::serve(app).await?;
        Ok(Self { url, server, task })
    }

    pub fn authorize_url(&self) -> String {
        format!("{}/oauth/connect", self.url)
    }

    pub fn token_url(&self) -> String {
        format!("{}/v3/public/oauth/token", self.url)
    }

    /// How long the access tokens issued from now on last.
    pub fn set_access_lifetime(&self, secs: u64) {
        lock(&self.server).access_lifetime_secs = secs;
    }

    /// Makes the token endpoint slow, so racing refreshes overlap.
    pub fn set_token_delay(&self, delay: Duration) {
        lock(&self.server).token_delay = delay;
    }

    /// The seller revokes the app: no token issued so far works.
    pub fn revoke_all(&self) {
        let mut s = lock(&self.server);
        s.live_access.clear();
        s.live_refresh.clear();
    }

    /// How many refresh grants were honoured.
    pub fn refreshes(&self) -> u64 {
        lock(&self.server).refreshes
    }

    pub fn token_requests(&self) -> Vec<HashMap<String, String>> {
        lock(&self.server).token_requests.clone()
    }

    /// The listings made, in order.
    pub fn listings(&self) -> Vec<StandInListing> {
        lock(&self.server).listings.clone()
    }

    /// Enforces Etsy's limit of `n` requests per second (per app).
    pub fn limit_per_second(&self, n: usize) {
        lock(&self.server).per_second = Some(n.max(1));
    }

    /// The API requests received (429s included).
    pub fn requests(&self) -> u64 {
        lock(&self.server).requests
    }

    /// The requests answered 429 for going over the limit.
    pub fn throttled(&self) -> u64 {
        lock(&self.server).throttled
    }

    /// The shop's shipping profiles and return policies from now on.
    pub fn set_policies(&self, shipping_profiles: Vec<u64>, return_policies: Vec<u64>) {
        let mut s = lock(&self.server);
        s.shipping_profiles = shipping_profiles;
        s.return_policies = return_policies;
    }

    /// Drafts are refused (400) with Etsy's `message` while set.
    pub fn refuse_drafts(&self, message: Option<&str>) {
        lock(&self.server).refuse_drafts = message.map(str::to_owned);
    }

    /// The next `n` drafts are made, and their answers lost (503).
    pub fn lose_draft_answers(&self, n: u32) {
        lock(&self.server).lose_draft_answers = n;
    }

    /// After `skip` more API requests, the next `n` answer 503.
    pub fn fail_after(&self, skip: u32, n: u32) {
        let mut s = lock(&self.server);
        (s.fail_skip, s.failures) = (skip, n);
    }

    /// Every access token issued so far expires now; refresh tokens live on.
    pub fn expire_access_tokens(&self) {
        lock(&self.server).live_access.clear();
    }

    /// The app's requests a day (for `x-remaining-today`).
    pub fn set_per_day(&self, n: u64) {
        lock(&self.server).per_day = n;
    }

    /// Puts a receipt (Etsy's JSON; its `receipt_id` replaces the one
    /// put before), changed now, with Etsy's fees on it in cents.
    pub fn put_receipt(&self, mut receipt: serde_json::Value, fees_cents: i64) {
        let mut s = lock(&self.server);
        let id = receipt["receipt_id"].as_u64().unwrap_or_default();
        // Later than anything put before, as Etsy's clock would have it.
        let last = s.receipts.iter().filter_map(|r| r["updated_timestamp"].as_i64()).max().unwrap_or_default();
        receipt["updated_timestamp"] = json!(chrono::Utc::now().timestamp().max(last + 1));
        s.receipts.retain(|r| r["receipt_id"].as_u64() != Some(id));
        s.receipts.push(receipt);
        s.fees.insert(id, fees_cents);
    }

    /// `getListingsByListingIds` leaves this listing out from now on.
    pub fn omit_from_batches(&self, listing_id: u64) {
        lock(&self.server).batch_omits.insert(listing_id);
    }

    /// Puts a receipt changed at `updated` (seconds since the epoch),
    /// exactly, with no fees on record (its payments are then not found).
    pub fn put_receipt_at(&self, mut receipt: serde_json::Value, updated: i64) {
        let mut s = lock(&self.server);
        let id = receipt["receipt_id"].as_u64().unwrap_or_default();
        receipt["updated_timestamp"] = json!(updated);
        s.receipts.retain(|r| r["receipt_id"].as_u64() != Some(id));
        s.receipts.push(receipt);
    }

    /// A listing's state changed on Etsy (`inactive`, `sold_out`, …), or,
    /// with `None`, the listing deleted there.
    pub fn set_listing_state(&self, listing_id: u64, state: Option<&str>) {
        let mut s = lock(&self.server);
        match state {
            Some(state) => {
                if let Some(l) = s.listings.iter_mut().find(|l| l.listing_id == listing_id) {
                    l.state = state.to_owned();
                }
            }
            None => s.listings.retain(|l| l.listing_id != listing_id),
        }
    }

    /// A draft made in the shop by hand (or by another app).
    pub fn add_draft(&self, title: &str, created: i64) -> u64 {
        let mut s = lock(&self.server);
        s.next_id += 1;
        let listing_id = s.next_id;
        s.listings.push(StandInListing {
            listing_id,
            shop_id: SHOP_ID,
            state: "draft".into(),
            drafted: HashMap::from([("title".to_owned(), title.to_owned())]),
            images: Vec::new(),
            image_bytes: Vec::new(),
            created,
        });
        listing_id
    }

    /// The seller's round trip through the consent page with `oauth`,
    /// and the tokens its code is exchanged for.
    pub async fn consent(&self, oauth: &crate::etsy::EtsyOAuth) -> Result<crate::etsy::Tokens, String> {
        let started = oauth.authorize();
        let browser = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| e.to_string())?;
        let back = browser.get(&started.url).send().await.map_err(|e| e.to_string())?;
        let location = back.headers().get(header::LOCATION).and_then(|l| l.to_str().ok());
        let back =
            reqwest::Url::parse(location.ok_or("the consent page did not redirect")?).map_err(|e| e.to_string())?;
        let code = back.query_pairs().find(|(k, _)| k == "code").ok_or("no code came back")?.1.into_owned();
        oauth.exchange(&code, &started.verifier).await.map_err(|e| e.to_string())
    }

    pub fn access_is_live(&self, token: &str) -> bool {
        lock(&self.server).live_access.contains(token)
    }
}

fn random_token() -> String {
    // Etsy's tokens start with the user id.
    format!("{USER_ID}.{}", uuid::Uuid::new_v4().simple())
}

fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    (status, [(header::CACHE_CONTROL, "no-store")], Json(json!({"error": error, "error_description": description})))
        .into_response()
}

async fn authorize(State(s): State<Shared>, Query(q): Query<HashMap<String, String>>) -> Response {
    let mut s = lock(&s);
    let get = |k: &str| q.get(k).cloned().unwrap_or_default();
    // RFC 6749 §4.1.2.1: a bad client or redirect URI is not redirected to.
    if get("client_id") != s.client_id {
        return (StatusCode::BAD_REQUEST, "unknown client_id").into_response();
    }
    let redirect_uri = get("redirect_uri");
    let Ok(mut back) = reqwest::Url::parse(&redirect_uri) else {
        return (StatusCode::BAD_REQUEST, "redirect_uri is not a URL").into_response();
    };
    let refuse = |mut back: reqwest::Url, error: &str| {
        back.query_pairs_mut().append_pair("error", error).append_pair("state", &get("state"));
        Redirect::to(back.as_str()).into_response()
    };
    if get("response_type") != "code" {
        return refuse(back, "unsupported_response_type");
    }
    if get("code_challenge").is_empty() || get("code_challenge_method") != "S256" {
        return refuse(back, "invalid_request");
    }
    let code = uuid::Uuid::new_v4().simple().to_string();
    s.codes.insert(
        code.clone(),
        Code {
            client_id: get("client_id"),
            redirect_uri,
            challenge: get("code_challenge"),
            used: false,
            issued: Vec::new(),
        },
    );
    back.query_pairs_mut().append_pair("code", &code).append_pair("state", &get("state"));
    Redirect::to(back.as_str()).into_response()
}

/// RFC 7636 §4.1: 43 to 128 unreserved characters.
fn well_formed_verifier(v: &str) -> bool {
    (43..=128).contains(&v.len()) && v.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b))
}

async fn token(State(shared): State<Shared>, Form(f): Form<HashMap<String, String>>) -> Response {
    let delay = {
        let mut s = lock(&shared);
        s.token_requests.push(f.clone());
        s.token_delay
    };
    tokio::time::sleep(delay).await;
    let mut s = lock(&shared);
    let get = |k: &str| f.get(k).map(String::as_str).unwrap_or_default();
    if get("client_id") != s.client_id {
        return oauth_error(StatusCode::UNAUTHORIZED, "invalid_client", "unknown client_id");
    }
    match get("grant_type") {
        "authorization_code" => {
            let verifier = get("code_verifier");
            if !well_formed_verifier(verifier) {
                return oauth_error(StatusCode::BAD_REQUEST, "invalid_request", "code_verifier is malformed");
            }
            let Some(code) = s.codes.get_mut(get("code")) else {
                return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant", "code is unknown");
            };
            if code.used {
                let issued = std::mem::take(&mut code.issued);
                for t in issued {
                    s.live_access.remove(&t);
                    s.live_refresh.remove(&t);
                }
                return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant", "code was already used");
            }
            code.used = true;
            let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
            if code.challenge != challenge {
                return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant", "code_verifier does not match");
            }
            if code.redirect_uri != get("redirect_uri") || code.client_id != get("client_id") {
                return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant", "redirect_uri does not match");
            }
            let (access, refresh) = (random_token(), random_token());
            code.issued = vec![access.clone(), refresh.clone()];
            issue(&mut s, access, refresh)
        }
        "refresh_token" => {
            if !s.live_refresh.remove(get("refresh_token")) {
                return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant", "refresh token is invalid or was used");
            }
            s.refreshes += 1;
            issue(&mut s, random_token(), random_token())
        }
        _ => oauth_error(StatusCode::BAD_REQUEST, "unsupported_grant_type", "grant_type"),
    }
}

fn issue(s: &mut Server, access: String, refresh: String) -> Response {
    s.live_access.insert(access.clone());
    s.live_refresh.insert(refresh.clone());
    let body = json!({
        "access_token": access,
        "token_type": "Bearer",
        "expires_in": s.access_lifetime_secs,
        "refresh_token": refresh,
    });
    (StatusCode::OK, [(header::CACHE_CONTROL, "no-store")], Json(body)).into_response()
}

/// The API's own checks: the app's key and a live bearer token; what to
/// answer when they fail.
fn refusal(s: &mut Server, h: &HeaderMap) -> Option<Response> {
    s.requests += 1;
    if s.fail_skip > 0 {
        s.fail_skip -= 1;
    } else if s.failures > 0 {
        s.failures -= 1;
        return Some((StatusCode::SERVICE_UNAVAILABLE, Json(json!({"error": "Service Unavailable"}))).into_response());
    }
    if let Some(limit) = s.per_second {
        let now = std::time::Instant::now();
        while s.recent.front().is_some_and(|t| now.duration_since(*t) >= Duration::from_secs(1)) {
            s.recent.pop_front();
        }
        if s.recent.len() >= limit {
            s.throttled += 1;
            let headers = [
                (header::RETRY_AFTER, "1".to_owned()),
                (header::HeaderName::from_static("x-remaining-this-second"), "0".to_owned()),
            ];
            return Some(
                (StatusCode::TOO_MANY_REQUESTS, headers, Json(json!({"error": "Too many requests"}))).into_response(),
            );
        }
        s.recent.push_back(now);
    }
    let key = h.get("x-api-key").and_then(|v| v.to_str().ok()).unwrap_or_default();
    if key.split(':').next() != Some(s.client_id.as_str()) {
        return Some((StatusCode::FORBIDDEN, Json(json!({"error": "Invalid API key"}))).into_response());
    }
    let bearer = h
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    if !s.live_access.contains(bearer) {
        return Some((StatusCode::UNAUTHORIZED, Json(json!({"error": "invalid_token"}))).into_response());
    }
    None
}

async fn me(State(s): State<Shared>, h: HeaderMap) -> Response {
    let mut s = lock(&s);
    if let Some(refused) = refusal(&mut s, &h) {
        return refused;
    }
    Json(json!({"user_id": USER_ID, "shop_id": SHOP_ID})).into_response()
}

async fn shop(State(s): State<Shared>, Path(shop_id): Path<u64>, h: HeaderMap) -> Response {
    let mut s = lock(&s);
    if let Some(refused) = shop_refusal(&mut s, &h, shop_id) {
        return refused;
    }
    Json(json!({"shop_id": SHOP_ID, "user_id": USER_ID, "shop_name": SHOP_NAME, "currency_code": "USD"}))
        .into_response()
}

/// Says on every API answer what is left of the app's limits, as Etsy does.
async fn say_headroom(
    State(s): State<Shared>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let api = request.uri().path().starts_with("/v3/application/");
    let mut answer = next.run(request).await;
    if api {
        let (second, today) = {
            let s = lock(&s);
            let second = s.per_second.map(|n| n.saturating_sub(s.recent.len()) as u64).unwrap_or(10);
            (second, s.per_day.saturating_sub(s.requests))
        };
        let headers = answer.headers_mut();
        headers.insert("x-limit-per-second", header::HeaderValue::from(10u64));
        headers.insert("x-remaining-this-second", header::HeaderValue::from(second));
        headers.insert("x-remaining-today", header::HeaderValue::from(today));
    }
    answer
}

/// `{count, results}`, as Etsy answers a collection.
fn results(items: Vec<serde_json::Value>) -> Response {
    Json(json!({"count": items.len(), "results": items})).into_response()
}

/// `refusal`, then a shop other than the stand-in's is not found.
fn shop_refusal(s: &mut Server, h: &HeaderMap, shop_id: u64) -> Option<Response> {
    refusal(s, h).or_else(|| {
        (shop_id != SHOP_ID).then(|| (StatusCode::NOT_FOUND, Json(json!({"error": "Shop not found"}))).into_response())
    })
}

/// A collection of the shop's, each of `ids` as `item` makes it.
fn of_the_shop(
    s: &Shared,
    h: &HeaderMap,
    shop_id: u64,
    ids: impl Fn(&Server) -> &Vec<u64>,
    item: impl Fn(u64) -> serde_json::Value,
) -> Response {
    let mut s = lock(s);
    if let Some(refused) = shop_refusal(&mut s, h, shop_id) {
        return refused;
    }
    results(ids(&s).iter().map(|id| item(*id)).collect())
}

async fn shipping_profiles(State(s): State<Shared>, Path(shop_id): Path<u64>, h: HeaderMap) -> Response {
    of_the_shop(
        &s,
        &h,
        shop_id,
        |s| &s.shipping_profiles,
        |id| {
            json!({"shipping_profile_id": id, "title": format!("Profile {id}"), "user_id": USER_ID,
               "origin_country_iso": "US", "is_deleted": false, "profile_type": "manual"})
        },
    )
}

async fn return_policies(State(s): State<Shared>, Path(shop_id): Path<u64>, h: HeaderMap) -> Response {
    of_the_shop(
        &s,
        &h,
        shop_id,
        |s| &s.return_policies,
        |id| {
            json!({"return_policy_id": id, "shop_id": SHOP_ID, "accepts_returns": true,
               "accepts_exchanges": true, "return_deadline": 30})
        },
    )
}

/// `getListingsByShop`: by state, newest first (`sort_on=created`, the
/// only order kept here), `limit` at most 100.
async fn listings_by_shop(
    State(s): State<Shared>,
    Path(shop_id): Path<u64>,
    Query(q): Query<HashMap<String, String>>,
    h: HeaderMap,
) -> Response {
    let mut s = lock(&s);
    if let Some(refused) = shop_refusal(&mut s, &h, shop_id) {
        return refused;
    }
    let state = q.get("state").map(String::as_str).unwrap_or("active");
    let limit = q.get("limit").and_then(|l| l.parse::<usize>().ok()).unwrap_or(25).clamp(1, 100);
    let offset = q.get("offset").and_then(|o| o.parse::<usize>().ok()).unwrap_or(0);
    let mut found: Vec<&StandInListing> = s.listings.iter().filter(|l| l.state == state).collect();
    found.sort_by_key(|l| std::cmp::Reverse((l.created, l.listing_id)));
    results(found.into_iter().skip(offset).take(limit).map(listing_value).collect())
}

/// `getShopReceipts`: changed at or after `min_last_modified`, sorted on
/// when they changed, least recent first, `limit` from `offset`.
async fn receipts(
    State(s): State<Shared>,
    Path(shop_id): Path<u64>,
    Query(q): Query<HashMap<String, String>>,
    h: HeaderMap,
) -> Response {
    let mut s = lock(&s);
    if let Some(refused) = shop_refusal(&mut s, &h, shop_id) {
        return refused;
    }
    let number = |k: &str, default: i64| q.get(k).and_then(|v| v.parse::<i64>().ok()).unwrap_or(default);
    let since = number("min_last_modified", 0);
    let (limit, offset) = (number("limit", 25).clamp(1, 100) as usize, number("offset", 0).max(0) as usize);
    let mut changed: Vec<&serde_json::Value> =
        s.receipts.iter().filter(|r| r["updated_timestamp"].as_i64().unwrap_or_default() >= since).collect();
    changed.sort_by_key(|r| (r["updated_timestamp"].as_i64(), r["receipt_id"].as_u64()));
    results(changed.into_iter().skip(offset).take(limit).cloned().collect())
}

async fn payments(State(s): State<Shared>, Path((shop_id, receipt_id)): Path<(u64, u64)>, h: HeaderMap) -> Response {
    let mut s = lock(&s);
    if let Some(refused) = shop_refusal(&mut s, &h, shop_id) {
        return refused;
    }
    let Some(fees) = s.fees.get(&receipt_id) else {
        return (StatusCode::NOT_FOUND, Json(json!({"error": "Receipt not found"}))).into_response();
    };
    let money = |amount: i64| json!({"amount": amount, "divisor": 100, "currency_code": "USD"});
    results(vec![json!({"payment_id": receipt_id + 1, "shop_id": SHOP_ID, "receipt_id": receipt_id,
                        "amount_fees": money(*fees), "currency": "USD"})])
}

/// `getListing`.
async fn one_listing(State(s): State<Shared>, Path(listing_id): Path<u64>, h: HeaderMap) -> Response {
    let mut s = lock(&s);
    if let Some(refused) = refusal(&mut s, &h) {
        return refused;
    }
    match s.listings.iter().find(|l| l.listing_id == listing_id) {
        Some(l) => listing_json(l),
        None => (StatusCode::NOT_FOUND, Json(json!({"error": "Listing not found"}))).into_response(),
    }
}

/// Whether `getListingsByListingIds` leaves this listing out (as Etsy may
/// for listings in some states).
fn batch_omits(s: &Server, id: u64) -> bool {
    s.batch_omits.contains(&id)
}

/// `getListingsByListingIds`: those of the ids that exist, in any state.
async fn listings_by_ids(State(s): State<Shared>, h: HeaderMap, raw: axum::extract::RawQuery) -> Response {
    let mut s = lock(&s);
    if let Some(refused) = refusal(&mut s, &h) {
        return refused;
    }
    let query = raw.0.unwrap_or_default();
    let ids: HashSet<u64> = reqwest::Url::parse(&format!("http://x/?{query}"))
        .map(|u| {
            u.query_pairs()
                .filter(|(k, _)| k == "listing_ids")
                .flat_map(|(_, v)| v.split(',').filter_map(|id| id.trim().parse().ok()).collect::<Vec<u64>>())
                .collect()
        })
        .unwrap_or_default();
    let found = s.listings.iter().filter(|l| ids.contains(&l.listing_id) && !batch_omits(&s, l.listing_id));
    results(found.map(listing_value).collect())
}

async fn listing_images(State(s): State<Shared>, Path(listing_id): Path<u64>, h: HeaderMap) -> Response {
    let mut s = lock(&s);
    if let Some(refused) = refusal(&mut s, &h) {
        return refused;
    }
    let Some(listing) = s.listings.iter().find(|l| l.listing_id == listing_id) else {
        return (StatusCode::NOT_FOUND, Json(json!({"error": "Listing not found"}))).into_response();
    };
    let images = listing
        .images
        .iter()
        .enumerate()
        .map(|(i, id)| json!({"listing_id": listing_id, "listing_image_id": id, "rank": i + 1}))
        .collect();
    results(images)
}

fn bad_request(error: &str) -> Response {
    (StatusCode::BAD_REQUEST, Json(json!({"error": error}))).into_response()
}

fn listing_value(l: &StandInListing) -> serde_json::Value {
    json!({
        "listing_id": l.listing_id,
        "shop_id": l.shop_id,
        "state": l.state,
        "title": l.drafted.get("title"),
        "created_timestamp": l.created,
        "url": format!("https://www.etsy.com/listing/{}", l.listing_id),
    })
}

fn listing_json(l: &StandInListing) -> Response {
    Json(listing_value(l)).into_response()
}

async fn create_draft(
    State(s): State<Shared>,
    Path(shop_id): Path<u64>,
    h: HeaderMap,
    Form(fields): Form<Vec<(String, String)>>,
) -> Response {
    let mut s = lock(&s);
    if let Some(refused) = shop_refusal(&mut s, &h, shop_id) {
        return refused;
    }
    let mut drafted: HashMap<String, String> = HashMap::new();
    for (k, v) in fields {
        drafted.entry(k).and_modify(|e| e.push_str(&format!("|{v}"))).or_insert(v);
    }
    for required in ["quantity", "title", "description", "price", "who_made", "when_made", "taxonomy_id"] {
        if drafted.get(required).is_none_or(|v| v.trim().is_empty()) {
            return bad_request(&format!("{required} is required"));
        }
    }
    if drafted.get("title").is_some_and(|t| t.chars().count() > 140) {
        return bad_request("title must be 140 characters or fewer");
    }
    if drafted.get("tags[]").is_some_and(|t| t.split('|').count() > 13) {
        return bad_request("tags may not have more than 13 items");
    }
    if drafted.get("type").is_none_or(|t| t == "physical") && !drafted.contains_key("shipping_profile_id") {
        return bad_request("shipping_profile_id is required for physical listings");
    }
    // Etsy takes only the shop's own profiles and policies.
    let unknown =
        |field: &str, ids: &[u64]| drafted.get(field).is_some_and(|v| !v.parse().is_ok_and(|id| ids.contains(&id)));
    if unknown("shipping_profile_id", &s.shipping_profiles) {
        return bad_request("shipping_profile_id is not a shipping profile of this shop");
    }
    if unknown("return_policy_id", &s.return_policies) {
        return bad_request("return_policy_id is not a return policy of this shop");
    }
    if let Some(message) = &s.refuse_drafts {
        return bad_request(&message.clone());
    }
    s.next_id += 1;
    let listing = StandInListing {
        listing_id: s.next_id,
        shop_id,
        state: "draft".into(),
        drafted,
        images: Vec::new(),
        image_bytes: Vec::new(),
        created: chrono::Utc::now().timestamp(),
    };
    s.listings.push(listing.clone());
    if s.lose_draft_answers > 0 {
        s.lose_draft_answers -= 1;
        return (StatusCode::SERVICE_UNAVAILABLE, Json(json!({"error": "Service Unavailable"}))).into_response();
    }
    let mut answer = listing_json(&listing);
    *answer.status_mut() = StatusCode::CREATED;
    answer
}

async fn upload_image(
    State(s): State<Shared>,
    Path((shop_id, listing_id)): Path<(u64, u64)>,
    h: HeaderMap,
    mut form: axum::extract::Multipart,
) -> Response {
    // The part's type is what is checked, not its bytes: Prism, in front in
    // the contract tests, forwards binary parts re-encoded as UTF-8.
    let mut image = None;
    while let Ok(Some(field)) = form.next_field().await {
        let typed = field.content_type().is_some_and(|t| matches!(t, "image/png" | "image/jpeg" | "image/gif"));
        if field.name() == Some("image") && typed {
            image = field.bytes().await.ok().filter(|b| !b.is_empty());
        }
    }
    let mut s = lock(&s);
    if let Some(refused) = refusal(&mut s, &h) {
        return refused;
    }
    let Some(image) = image else {
        return bad_request("image must be a JPEG, PNG or GIF file");
    };
    s.next_id += 1;
    let image_id = s.next_id;
    let Some(listing) = s.listings.iter_mut().find(|l| l.listing_id == listing_id && l.shop_id == shop_id) else {
        return (StatusCode::NOT_FOUND, Json(json!({"error": "Listing not found"}))).into_response();
    };
    listing.images.push(image_id);
    listing.image_bytes.push(image.to_vec());
    let rank = listing.images.len();
    (StatusCode::CREATED, Json(json!({"listing_id": listing_id, "listing_image_id": image_id, "rank": rank})))
        .into_response()
}

async fn update_listing(
    State(s): State<Shared>,
    Path((shop_id, listing_id)): Path<(u64, u64)>,
    h: HeaderMap,
    Form(fields): Form<Vec<(String, String)>>,
) -> Response {
    let mut s = lock(&s);
    if let Some(refused) = refusal(&mut s, &h) {
        return refused;
    }
    let Some(listing) = s.listings.iter_mut().find(|l| l.listing_id == listing_id && l.shop_id == shop_id) else {
        return (StatusCode::NOT_FOUND, Json(json!({"error": "Listing not found"}))).into_response();
    };
    if let Some((_, state)) = fields.iter().find(|(k, _)| k == "state") {
        if state == "active" && listing.images.is_empty() {
            return bad_request("A listing must have at least one image to be activated");
        }
        listing.state = state.clone();
    }
    listing_json(listing)
}
