//! A stand-in for Printify's API v1 on 127.0.0.1: one account (a personal
//! access token) with its shops, and their webhooks. Every call needs the
//! bearer token and a `User-Agent`, as Printify's do.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get};
use axum::{Json, Router};
use serde_json::json;

use crate::printify::api::{PrintifyOrder, PrintifyShop, Webhook};

#[derive(Debug, Clone)]
pub struct RegisteredWebhook {
    pub hook: Webhook,
    pub secret: String,
}

#[derive(Debug)]
struct Server {
    token: String,
    shops: Vec<PrintifyShop>,
    webhooks: HashMap<u64, Vec<RegisteredWebhook>>,
    orders: HashMap<(u64, String), PrintifyOrder>,
    next_id: u64,
}

type Shared = Arc<Mutex<Server>>;

fn lock(s: &Shared) -> MutexGuard<'_, Server> {
    s.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A running stand-in; stops when dropped.
#[derive(Debug)]
pub struct PrintifyStandIn {
    pub url: String,
    server: Shared,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for PrintifyStandIn {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl PrintifyStandIn {
    /// Starts on a free port for the account whose token is `token`.
    pub async fn start(token: &str, shops: Vec<PrintifyShop>) -> std::io::Result<Self> {
        let server = Arc::new(Mutex::new(Server {
            token: token.to_owned(),
            shops,
            webhooks: HashMap::new(),
            orders: HashMap::new(),
            next_id: 1,
        }));
        let app = Router::new()
            .route("/v1/shops.json", get(list_shops))
            .route("/v1/shops/{shop}/webhooks.json", get(webhooks).post(create_webhook))
            .route("/v1/shops/{shop}/webhooks/{id}", delete(delete_webhook))
            .route("/v1/shops/{shop}/orders/{id}", get(order))
            .with_state(server.clone());
        let (url, task) = super::serve(app).await?;
        Ok(Self { url, server, task })
    }

    /// The webhooks a shop has, with the secrets they are signed with.
    pub fn webhooks(&self, shop: u64) -> Vec<RegisteredWebhook> {
        lock(&self.server).webhooks.get(&shop).cloned().unwrap_or_default()
    }

    /// A buyer orders (or an order changes): the stand-in keeps it as is.
    pub fn put_order(&self, shop: u64, order: PrintifyOrder) {
        lock(&self.server).orders.insert((shop, order.id.clone()), order);
    }

    /// The owner revokes the token.
    pub fn revoke(&self) {
        lock(&self.server).token.clear();
    }
}

fn refusal(s: &Server, h: &HeaderMap) -> Option<Response> {
    let bearer = h
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    if s.token.is_empty() || bearer != s.token {
        return Some((StatusCode::UNAUTHORIZED, Json(json!({"error": "Unauthenticated."}))).into_response());
    }
    if h.get(header::USER_AGENT).is_none() {
        return Some((StatusCode::BAD_REQUEST, Json(json!({"message": "User-Agent is required"}))).into_response());
    }
    None
}

fn unknown_shop() -> Response {
    (StatusCode::NOT_FOUND, Json(json!({"status": "error", "message": "Shop not found."}))).into_response()
}

async fn list_shops(State(s): State<Shared>, h: HeaderMap) -> Response {
    let s = lock(&s);
    if let Some(refused) = refusal(&s, &h) {
        return refused;
    }
    Json(s.shops.clone()).into_response()
}

async fn webhooks(State(s): State<Shared>, Path(shop): Path<u64>, h: HeaderMap) -> Response {
    let s = lock(&s);
    if let Some(refused) = refusal(&s, &h) {
        return refused;
    }
    if !s.shops.iter().any(|sh| sh.id == shop) {
        return unknown_shop();
    }
    let hooks: Vec<Webhook> =
        s.webhooks.get(&shop).map(|w| w.iter().map(|r| r.hook.clone()).collect()).unwrap_or_default();
    Json(hooks).into_response()
}

async fn create_webhook(
    State(s): State<Shared>,
    Path(shop): Path<u64>,
    h: HeaderMap,
    Json(body): Json<serde_json::Value>,
) -> Response {
    let mut s = lock(&s);
    if let Some(refused) = refusal(&s, &h) {
        return refused;
    }
    if !s.shops.iter().any(|sh| sh.id == shop) {
        return unknown_shop();
    }
    let field = |k: &str| body.get(k).and_then(|v| v.as_str()).unwrap_or_default().to_owned();
    let (topic, url, secret) = (field("topic"), field("url"), field("secret"));
    if topic.is_empty() || !url.starts_with("http") {
        let errors = json!({"topic": topic.is_empty(), "url": !url.starts_with("http")});
        return (StatusCode::BAD_REQUEST, Json(json!({"message": "Validation failed.", "errors": errors})))
            .into_response();
    }
    let id = format!("{:024x}", s.next_id);
    s.next_id += 1;
    let hook = Webhook { id, topic, url };
    s.webhooks.entry(shop).or_default().push(RegisteredWebhook { hook: hook.clone(), secret });
    Json(hook).into_response()
}

async fn delete_webhook(State(s): State<Shared>, Path((shop, id)): Path<(u64, String)>, h: HeaderMap) -> Response {
    let mut s = lock(&s);
    if let Some(refused) = refusal(&s, &h) {
        return refused;
    }
    let id = id.trim_end_matches(".json");
    let Some(hooks) = s.webhooks.get_mut(&shop) else { return unknown_shop() };
    let before = hooks.len();
    hooks.retain(|r| r.hook.id != id);
    if hooks.len() == before {
        return (StatusCode::NOT_FOUND, Json(json!({"message": "Webhook not found."}))).into_response();
    }
    Json(json!({"id": id})).into_response()
}

async fn order(State(s): State<Shared>, Path((shop, id)): Path<(u64, String)>, h: HeaderMap) -> Response {
    let s = lock(&s);
    if let Some(refused) = refusal(&s, &h) {
        return refused;
    }
    match s.orders.get(&(shop, id.trim_end_matches(".json").to_owned())) {
        Some(order) => Json(order.clone()).into_response(),
        None => (StatusCode::NOT_FOUND, Json(json!({"message": "Order not found."}))).into_response(),
    }
}
