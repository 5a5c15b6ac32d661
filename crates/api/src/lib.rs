//! The gateway: liveness and readiness, the REST API under `/api/v1` over
//! the read models (through `pod-projections`) with commands through the
//! aggregates (through `pod-events`), and the dashboard people use, served
//! from the same routes' code. Every request names its caller — a token or
//! a signed-in person — and reads and writes only the caller's tenant.

pub mod auth;
pub mod command;
pub mod dashboard;
pub mod extract;
pub mod marketplaces;
pub mod openapi;
pub mod pagination;
pub mod problem;
pub mod quotas;
pub(crate) mod routes;
pub mod webhooks;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;

use axum::http::{HeaderValue, StatusCode, header};
use axum::routing::get;
use axum::{Json, Router};
use pod_blobs::BlobStore;
use pod_events::Namespace;
use pod_events::domain::design::Design;
use pod_events::domain::idea::Idea;
use pod_events::domain::listing::Listing;
use pod_events::domain::order::Order;
use pod_events::domain::shop::Shop;
use pod_events::domain::trend::Trend;
use pod_events::store::{CommandBus, JetStreamStore, StoreConfig, StoreError};
use pod_screening::ScreeningIndex;
use serde_json::json;
use sqlx::PgPool;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::timeout::TimeoutLayer;

/// Largest request body the API reads.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;
/// What pages may load and do: only this site's scripts (no inline ones),
/// never framed by another site (clickjacking), forms only to this site.
pub const CSP: &str = "default-src 'self'; img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'; \
                       script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; \
                       form-action 'self'";

/// Longest a request may take before it is answered 408.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Clone)]
pub struct AppState {
    pub pool: PgPool,
    pub nats: async_nats::Client,
    pub trends: Arc<CommandBus<Trend>>,
    pub ideas: Arc<CommandBus<Idea>>,
    pub designs: Arc<CommandBus<Design>>,
    pub listings: Arc<CommandBus<Listing>>,
    pub shops: Arc<CommandBus<Shop>>,
    pub orders: Arc<CommandBus<Order>>,
    pub ns: Namespace,
    /// Screens a person's edits before they are recorded.
    pub index: Arc<ScreeningIndex>,
    /// Where design artwork and previews are kept.
    pub blobs: Arc<dyn BlobStore>,
    pub sessions: auth::sessions::SessionSettings,
    /// Slows password guessing per email.
    pub login_throttle: Arc<auth::throttle::LoginThrottle>,
    /// Reverse proxies in front of the API whose `X-Forwarded-For` entries
    /// are trusted (0: the connection's peer is the client).
    pub trusted_proxies: u8,
    /// The shop the first-run page offers to create: the one the trends
    /// worker feeds (`workers.trends.tenant`).
    pub home_tenant: String,
    /// Identity providers people may sign in with.
    pub providers: Arc<Vec<auth::oidc::Provider>>,
    /// Where people reach this server (for the providers' redirect URIs).
    pub public_url: String,
    /// Live feeds open per caller, and how often each checks its caller still may watch.
    pub feeds: routes::feed::FeedLimits,
    /// The marketplaces shops can be connected to here.
    pub marketplaces: Arc<marketplaces::Connectors>,
}

impl AppState {
    pub async fn new(
        pool: PgPool,
        nats: async_nats::Client,
        ns: &Namespace,
        index: Arc<ScreeningIndex>,
        blobs: Arc<dyn BlobStore>,
    ) -> Result<Self, StoreError> {
        let config = StoreConfig { namespace: ns.clone(), ..Default::default() };
        let trends = Arc::new(CommandBus::new(JetStreamStore::open(nats.clone(), config.clone()).await?, ()));
        let ideas = Arc::new(CommandBus::new(JetStreamStore::open(nats.clone(), config.clone()).await?, ()));
        let designs = Arc::new(CommandBus::new(JetStreamStore::open(nats.clone(), config.clone()).await?, ()));
        let listings = Arc::new(CommandBus::new(JetStreamStore::open(nats.clone(), config.clone()).await?, ()));
        let shops = Arc::new(CommandBus::new(JetStreamStore::open(nats.clone(), config.clone()).await?, ()));
        let orders = Arc::new(CommandBus::new(JetStreamStore::open(nats.clone(), config).await?, ()));
        Ok(Self {
            pool,
            nats,
            trends,
            ideas,
            designs,
            listings,
            shops,
            orders,
            ns: ns.clone(),
            index,
            blobs,
            sessions: auth::sessions::SessionSettings::default(),
            login_throttle: Arc::new(auth::throttle::LoginThrottle::default()),
            trusted_proxies: 0,
            home_tenant: "demo".into(),
            providers: Arc::new(Vec::new()),
            public_url: "http://127.0.0.1:8080".into(),
            feeds: routes::feed::FeedLimits::default(),
            marketplaces: Arc::new(marketplaces::Connectors::default()),
        })
    }

    /// How many live feeds one caller may hold open, and how often a feed
    /// checks that its caller still may watch (a revoked token, an ended
    /// session or a lost membership closes it).
    pub fn with_feed_limits(mut self, per_caller: usize, recheck: Duration) -> Self {
        self.feeds = routes::feed::FeedLimits::new(per_caller, recheck);
        self
    }

    /// How browser sessions are kept (Secure cookies for HTTPS sites).
    pub fn with_sessions(mut self, sessions: auth::sessions::SessionSettings) -> Self {
        self.sessions = sessions;
        self
    }

    /// How many reverse proxies in front of the API add `X-Forwarded-For`.
    pub fn with_trusted_proxies(mut self, n: u8) -> Self {
        self.trusted_proxies = n;
        self
    }

    /// The marketplaces shops can be connected to (built with the same
    /// public URL as `with_identity_providers`).
    pub fn with_marketplaces(mut self, connectors: marketplaces::Connectors) -> Self {
        self.marketplaces = Arc::new(connectors);
        self
    }

    /// Identity providers for signing in, and the URL people reach us at.
    pub fn with_identity_providers(mut self, providers: Vec<auth::oidc::Provider>, public_url: &str) -> Self {
        self.providers = Arc::new(providers);
        self.public_url = public_url.trim_end_matches('/').to_owned();
        self
    }

    /// The shop the first run creates.
    pub fn with_home_tenant(mut self, tenant: impl Into<String>) -> Self {
        self.home_tenant = tenant.into();
        self
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("binding {addr}: {source}")]
    Bind { addr: String, source: std::io::Error },
    #[error("serving: {0}")]
    Serve(std::io::Error),
    #[error("opening the event store: {0}")]
    Store(#[from] StoreError),
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/webhooks/printify/{id}", axum::routing::post(webhooks::printify))
        .nest("/api/v1", routes::api().fallback(|| async { problem::Problem::not_found("such route") }))
        .merge(dashboard::pages())
        .fallback(dashboard::not_found)
        .layer(SetResponseHeaderLayer::if_not_present(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP)))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(header::REFERRER_POLICY, HeaderValue::from_static("same-origin")))
        .layer(RequestBodyLimitLayer::new(MAX_BODY_BYTES))
        .layer(TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, REQUEST_TIMEOUT))
        .layer(axum::middleware::from_fn(problem::api_errors_are_problems))
        .layer(axum::middleware::from_fn(problem::log_failures))
        .with_state(state)
}

async fn healthz() -> &'static str {
    "ok"
}

/// Ready when NATS is connected and Postgres answers with every migration
/// applied. Parked events do not make it unready (the read models are
/// serving); they are reported under `degraded`.
async fn readyz(State(s): State<AppState>) -> (StatusCode, Json<serde_json::Value>) {
    let nats_ok = s.nats.connection_state() == async_nats::connection::State::Connected;
    let applied: Result<i64, _> =
        sqlx::query_scalar("SELECT count(*) FROM _sqlx_migrations WHERE success").fetch_one(&s.pool).await;
    let expected = pod_projections::db::MIGRATOR.iter().count() as i64;
    let db_ok = matches!(applied, Ok(n) if n >= expected);
    let parked: serde_json::Map<String, serde_json::Value> = if db_ok {
        pod_projections::parked::counts(&s.pool)
            .await
            .unwrap_or_default()
            .into_iter()
            .map(|(p, n)| (p, json!(n)))
            .collect()
    } else {
        Default::default()
    };
    let degraded = if parked.is_empty() { json!(null) } else { json!({"parked_events": parked}) };
    let status = if nats_ok && db_ok { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (status, Json(json!({"nats": nats_ok, "postgres": db_ok, "migrations_expected": expected, "degraded": degraded})))
}

pub async fn serve(
    addr: &str,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    let listener =
        tokio::net::TcpListener::bind(addr).await.map_err(|source| ServeError::Bind { addr: addr.into(), source })?;
    tracing::info!(%addr, "API listening");
    let app = router(state).into_make_service_with_connect_info::<std::net::SocketAddr>();
    axum::serve(listener, app).with_graceful_shutdown(shutdown).await.map_err(ServeError::Serve)
}
