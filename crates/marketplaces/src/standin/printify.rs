//! A stand-in for Printify's API v1 on 127.0.0.1: one account (a personal
//! access token) with its shops, and their webhooks. Every call needs the
//! bearer token and a `User-Agent`, as Printify's do.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get};
use axum::{Json, Router};
use serde_json::json;

use crate::printify::api::{PrintifyOrder, PrintifyShop, Webhook};
use crate::printify::products::{CatalogVariant, External, NewProduct, Product};

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
    uploads: Vec<String>,
    products: HashMap<u64, Vec<Product>>,
    publish_requests: Vec<(u64, String)>,
    next_id: u64,
    /// Requests answered 429 from now on, with this `retry-after`.
    throttled: u32,
    throttle_secs: u64,
    /// Requests answered 503 from now on.
    failing: u32,
    /// Publish calls answered 503 from now on.
    failing_publishes: u32,
    /// Publish calls refused with this message.
    refusing_publish: Option<String>,
    /// Published products stay locked (publishing) until released.
    holding: bool,
    requests: u64,
    /// How long making a product takes.
    create_delay: std::time::Duration,
}

/// The t-shirt the stand-in's catalog offers: Gildan 5000 (blueprint 6) at
/// print provider 99, in four sizes. It offers every default template's
/// blueprint the same way.
pub const BLUEPRINT: u64 = 6;
pub const PRINT_PROVIDER: u64 = 99;

fn catalog_of(blueprint: u64, provider: u64) -> Option<Vec<CatalogVariant>> {
    let offered = crate::printify::catalog::default_templates()
        .values()
        .any(|t| (t.blueprint_id, t.print_provider_id) == (blueprint, provider));
    let first = if blueprint == BLUEPRINT { 12_100 } else { blueprint * 100 };
    offered.then(|| {
        ["S", "M", "L", "XL"]
            .iter()
            .enumerate()
            .map(|(i, size)| CatalogVariant { id: first + i as u64, title: format!("Black / {size}") })
            .collect()
    })
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
            uploads: Vec::new(),
            products: HashMap::new(),
            publish_requests: Vec::new(),
            next_id: 1,
            throttled: 0,
            throttle_secs: 0,
            failing: 0,
            failing_publishes: 0,
            refusing_publish: None,
            holding: false,
            requests: 0,
            create_delay: std::time::Duration::ZERO,
        }));
        let app = Router::new()
            .route("/v1/shops.json", get(list_shops))
            .route("/v1/shops/{shop}/webhooks.json", get(webhooks).post(create_webhook))
            .route("/v1/shops/{shop}/webhooks/{id}", delete(delete_webhook))
            .route("/v1/shops/{shop}/orders/{id}", get(order))
            .route("/v1/catalog/blueprints/{blueprint}/print_providers/{provider}/variants.json", get(catalog_variants))
            .route("/v1/uploads/images.json", axum::routing::post(upload))
            .route("/v1/shops/{shop}/products.json", get(list_products).post(create_product))
            .route("/v1/shops/{shop}/products/{id}", get(product).delete(delete_product))
            .route("/v1/shops/{shop}/products/{id}/publish.json", axum::routing::post(publish))
            .route(
                "/v1/shops/{shop}/products/{id}/publishing_succeeded.json",
                axum::routing::post(publishing_succeeded),
            )
            .route("/v1/shops/{shop}/products/{id}/publishing_failed.json", axum::routing::post(publishing_failed))
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

    /// The products of a shop, as made.
    pub fn products(&self, shop: u64) -> Vec<Product> {
        lock(&self.server).products.get(&shop).cloned().unwrap_or_default()
    }

    /// The products asked to be published, in order.
    pub fn publish_requests(&self) -> Vec<(u64, String)> {
        lock(&self.server).publish_requests.clone()
    }

    /// The owner revokes the token.
    pub fn revoke(&self) {
        lock(&self.server).token.clear();
    }

    /// The next `n` requests are answered 429 with `retry-after: secs`.
    pub fn throttle(&self, n: u32, secs: u64) {
        let mut s = lock(&self.server);
        (s.throttled, s.throttle_secs) = (n, secs);
    }

    /// The next `n` requests are answered 503.
    pub fn fail(&self, n: u32) {
        lock(&self.server).failing = n;
    }

    /// The next `n` publish calls are answered 503 (the product is made,
    /// publishing it fails for a while).
    pub fn fail_publishes(&self, n: u32) {
        lock(&self.server).failing_publishes = n;
    }

    /// Publish calls are refused with `message` (None: accepted again).
    pub fn refuse_publishing(&self, message: Option<&str>) {
        lock(&self.server).refusing_publish = message.map(str::to_owned);
    }

    /// Products asked to be published stay locked, publishing, until
    /// [`Self::release`].
    pub fn hold_publishing(&self) {
        lock(&self.server).holding = true;
    }

    /// Publishes every product held locked.
    pub fn release(&self) {
        let mut s = lock(&self.server);
        s.holding = false;
        let mut next = s.next_id;
        for p in s.products.values_mut().flatten().filter(|p| p.is_locked) {
            p.is_locked = false;
            p.external = Some(listed(next));
            next += 1;
        }
        s.next_id = next;
    }

    /// Making a product takes this long from now on.
    pub fn slow_creates(&self, delay: std::time::Duration) {
        lock(&self.server).create_delay = delay;
    }

    /// Requests served (refused ones too).
    pub fn requests(&self) -> u64 {
        lock(&self.server).requests
    }
}

/// Where the sales channel lists a published product.
fn listed(n: u64) -> External {
    let id = 1_000_000_000 + n;
    External { id: id.to_string(), handle: format!("https://www.etsy.com/listing/{id}") }
}

fn refusal(s: &mut Server, h: &HeaderMap) -> Option<Response> {
    s.requests += 1;
    if s.throttled > 0 {
        s.throttled -= 1;
        let headers = [(header::RETRY_AFTER, s.throttle_secs.to_string())];
        return Some(
            (StatusCode::TOO_MANY_REQUESTS, headers, Json(json!({"message": "Too Many Attempts."}))).into_response(),
        );
    }
    if s.failing > 0 {
        s.failing -= 1;
        return Some((StatusCode::SERVICE_UNAVAILABLE, "upstream unavailable").into_response());
    }
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

/// The checks of a call about one shop: the token, then the shop.
fn refusal_for_shop(s: &mut Server, h: &HeaderMap, shop: u64) -> Option<Response> {
    refusal(s, h).or_else(|| (!s.shops.iter().any(|sh| sh.id == shop)).then(unknown_shop))
}

impl Server {
    /// A new id in Printify's form (24 hex digits).
    fn next_id(&mut self) -> String {
        self.next_id += 1;
        format!("{:024x}", self.next_id - 1)
    }
}

fn unknown_shop() -> Response {
    (StatusCode::NOT_FOUND, Json(json!({"status": "error", "message": "Shop not found."}))).into_response()
}

async fn list_shops(State(s): State<Shared>, h: HeaderMap) -> Response {
    let mut s = lock(&s);
    if let Some(refused) = refusal(&mut s, &h) {
        return refused;
    }
    Json(s.shops.clone()).into_response()
}

async fn webhooks(State(s): State<Shared>, Path(shop): Path<u64>, h: HeaderMap) -> Response {
    let mut s = lock(&s);
    if let Some(refused) = refusal_for_shop(&mut s, &h, shop) {
        return refused;
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
    if let Some(refused) = refusal_for_shop(&mut s, &h, shop) {
        return refused;
    }
    let field = |k: &str| body.get(k).and_then(|v| v.as_str()).unwrap_or_default().to_owned();
    let (topic, url, secret) = (field("topic"), field("url"), field("secret"));
    if topic.is_empty() || !url.starts_with("http") {
        let errors = json!({"topic": topic.is_empty(), "url": !url.starts_with("http")});
        return (StatusCode::BAD_REQUEST, Json(json!({"message": "Validation failed.", "errors": errors})))
            .into_response();
    }
    let id = s.next_id();
    let hook = Webhook { id, topic, url };
    s.webhooks.entry(shop).or_default().push(RegisteredWebhook { hook: hook.clone(), secret });
    Json(hook).into_response()
}

async fn delete_webhook(State(s): State<Shared>, Path((shop, id)): Path<(u64, String)>, h: HeaderMap) -> Response {
    let mut s = lock(&s);
    if let Some(refused) = refusal(&mut s, &h) {
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
    let mut s = lock(&s);
    if let Some(refused) = refusal(&mut s, &h) {
        return refused;
    }
    match s.orders.get(&(shop, id.trim_end_matches(".json").to_owned())) {
        Some(order) => Json(order.clone()).into_response(),
        None => (StatusCode::NOT_FOUND, Json(json!({"message": "Order not found."}))).into_response(),
    }
}

fn invalid(errors: serde_json::Value) -> Response {
    let body = json!({"status": "error", "code": 8150, "message": "Validation failed.", "errors": errors});
    (StatusCode::BAD_REQUEST, Json(body)).into_response()
}

async fn catalog_variants(
    State(s): State<Shared>,
    Path((blueprint, provider)): Path<(u64, u64)>,
    h: HeaderMap,
) -> Response {
    let mut s = lock(&s);
    if let Some(refused) = refusal(&mut s, &h) {
        return refused;
    }
    match catalog_of(blueprint, provider) {
        Some(variants) => {
            Json(json!({"id": provider, "title": "Printify Choice", "variants": variants})).into_response()
        }
        None => (StatusCode::NOT_FOUND, Json(json!({"message": "Print provider not found."}))).into_response(),
    }
}

async fn upload(State(s): State<Shared>, h: HeaderMap, Json(body): Json<serde_json::Value>) -> Response {
    use base64::Engine;
    let mut s = lock(&s);
    if let Some(refused) = refusal(&mut s, &h) {
        return refused;
    }
    let contents = body.get("contents").and_then(|c| c.as_str()).unwrap_or_default();
    let png = base64::engine::general_purpose::STANDARD.decode(contents).unwrap_or_default();
    if !png.starts_with(b"\x89PNG\r\n\x1a\n") {
        return invalid(json!({"contents": "is not a base64 PNG"}));
    }
    let id = s.next_id();
    s.uploads.push(id.clone());
    Json(json!({"id": id, "file_name": body.get("file_name"), "size": png.len(), "mime_type": "image/png"}))
        .into_response()
}

/// Printify's own checks on a new product (the ones that matter here).
fn refused_product(s: &Server, p: &NewProduct) -> Option<Response> {
    let catalog = catalog_of(p.blueprint_id, p.print_provider_id);
    let offered: Vec<u64> = catalog.iter().flatten().map(|v| v.id).collect();
    let mut errors = serde_json::Map::new();
    if p.title.trim().is_empty() {
        errors.insert("title".into(), json!("The title field is required."));
    }
    if p.title.chars().count() > 140 {
        errors.insert("title".into(), json!("The title may not be greater than 140 characters."));
    }
    if catalog.is_none() {
        errors.insert("print_provider_id".into(), json!("This print provider does not offer this blueprint."));
    }
    if p.variants.is_empty() || p.variants.iter().any(|v| !offered.contains(&v.id) || v.price == 0) {
        errors.insert("variants".into(), json!("Every variant must be offered and priced."));
    }
    let placed = p.print_areas.iter().flat_map(|a| &a.placeholders).flat_map(|ph| &ph.images);
    if p.print_areas.is_empty() || placed.clone().any(|i| !s.uploads.contains(&i.id)) {
        errors.insert("print_areas".into(), json!("Every image must be uploaded first."));
    }
    (!errors.is_empty()).then(|| invalid(serde_json::Value::Object(errors)))
}

async fn create_product(
    State(s): State<Shared>,
    Path(shop): Path<u64>,
    h: HeaderMap,
    Json(new): Json<NewProduct>,
) -> Response {
    let delay = lock(&s).create_delay;
    tokio::time::sleep(delay).await;
    let mut s = lock(&s);
    if let Some(refused) = refusal_for_shop(&mut s, &h, shop) {
        return refused;
    }
    if let Some(refused) = refused_product(&s, &new) {
        return refused;
    }
    let id = s.next_id();
    let made = Product { id, title: new.title, variants: new.variants, external: None, is_locked: false };
    s.products.entry(shop).or_default().push(made.clone());
    Json(made).into_response()
}

#[derive(serde::Deserialize)]
struct PageQuery {
    #[serde(default = "first_page")]
    page: usize,
    #[serde(default = "ten")]
    limit: usize,
}

fn first_page() -> usize {
    1
}

fn ten() -> usize {
    10
}

async fn list_products(
    State(s): State<Shared>,
    Path(shop): Path<u64>,
    Query(q): Query<PageQuery>,
    h: HeaderMap,
) -> Response {
    let mut s = lock(&s);
    if let Some(refused) = refusal(&mut s, &h) {
        return refused;
    }
    if q.limit == 0 || q.limit > 50 || q.page == 0 {
        return invalid(json!({"limit": "must be 1 to 50", "page": "must be at least 1"}));
    }
    let all = s.products.get(&shop).cloned().unwrap_or_default();
    let last_page = all.len().div_ceil(q.limit).max(1);
    let data: Vec<Product> = all.into_iter().skip((q.page - 1) * q.limit).take(q.limit).collect();
    Json(json!({"current_page": q.page, "last_page": last_page, "data": data})).into_response()
}

async fn product(State(s): State<Shared>, Path((shop, id)): Path<(u64, String)>, h: HeaderMap) -> Response {
    let mut s = lock(&s);
    if let Some(refused) = refusal(&mut s, &h) {
        return refused;
    }
    let id = id.trim_end_matches(".json");
    match s.products.get(&shop).and_then(|ps| ps.iter().find(|p| p.id == id)) {
        Some(p) => Json(p.clone()).into_response(),
        None => (StatusCode::NOT_FOUND, Json(json!({"message": "Product not found."}))).into_response(),
    }
}

async fn delete_product(State(s): State<Shared>, Path((shop, id)): Path<(u64, String)>, h: HeaderMap) -> Response {
    let mut s = lock(&s);
    if let Some(refused) = refusal(&mut s, &h) {
        return refused;
    }
    let id = id.trim_end_matches(".json");
    let Some(products) = s.products.get_mut(&shop) else { return unknown_shop() };
    let before = products.len();
    products.retain(|p| p.id != id);
    if products.len() == before {
        return (StatusCode::NOT_FOUND, Json(json!({"message": "Product not found."}))).into_response();
    }
    Json(json!({})).into_response()
}

async fn publish(State(s): State<Shared>, Path((shop, id)): Path<(u64, String)>, h: HeaderMap) -> Response {
    let mut s = lock(&s);
    if let Some(refused) = refusal(&mut s, &h) {
        return refused;
    }
    let id = id.trim_end_matches(".json").to_owned();
    if s.failing_publishes > 0 {
        s.failing_publishes -= 1;
        return (StatusCode::SERVICE_UNAVAILABLE, "publishing unavailable").into_response();
    }
    if let Some(message) = s.refusing_publish.clone() {
        return invalid(json!({"reason": message}));
    }
    let (holding, n) = (s.holding, s.next_id);
    let Some(product) = s.products.get_mut(&shop).and_then(|ps| ps.iter_mut().find(|p| p.id == id)) else {
        return (StatusCode::NOT_FOUND, Json(json!({"message": "Product not found."}))).into_response();
    };
    if product.is_locked {
        return invalid(json!({"product": "The product is being published."}));
    }
    if holding {
        product.is_locked = true;
    } else {
        product.external = Some(listed(n));
    }
    s.next_id += 1;
    s.publish_requests.push((shop, id.clone()));
    Json(json!({"id": id})).into_response()
}

/// What a custom channel's integration tells of a product the publish call
/// locked: listed, and where (`publishing_succeeded`: Printify keeps
/// `external`), or not, and why (`publishing_failed`: Printify shows the
/// seller the reason). Either way the product is unlocked.
fn confirm(s: &Shared, shop: u64, id: &str, h: &HeaderMap, body: &serde_json::Value, listed: bool) -> Response {
    let mut s = lock(s);
    if let Some(refused) = refusal(&mut s, h) {
        return refused;
    }
    let external = if listed {
        match serde_json::from_value::<External>(body["external"].clone()) {
            Ok(external) => Some(external),
            Err(_) => return invalid(json!({"external": "The external field is required: {id, handle}."})),
        }
    } else if body["reason"].is_string() {
        None
    } else {
        return invalid(json!({"reason": "The reason field is required."}));
    };
    let Some(products) = s.products.get_mut(&shop) else { return unknown_shop() };
    let Some(product) = products.iter_mut().find(|p| p.id == id) else {
        return (StatusCode::NOT_FOUND, Json(json!({"message": "Product not found."}))).into_response();
    };
    if !product.is_locked {
        return invalid(json!({"product": "The product is not being published."}));
    }
    product.is_locked = false;
    product.external = external;
    Json(json!({})).into_response()
}

async fn publishing_succeeded(
    State(s): State<Shared>,
    Path((shop, id)): Path<(u64, String)>,
    h: HeaderMap,
    Json(body): Json<serde_json::Value>,
) -> Response {
    confirm(&s, shop, &id, &h, &body, true)
}

async fn publishing_failed(
    State(s): State<Shared>,
    Path((shop, id)): Path<(u64, String)>,
    h: HeaderMap,
    Json(body): Json<serde_json::Value>,
) -> Response {
    confirm(&s, shop, &id, &h, &body, false)
}
