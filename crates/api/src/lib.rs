//! The gateway. For now: liveness and readiness; the REST API and the
//! dashboard grow here (they query read models through `pod-projections`).

use std::future::Future;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;
use sqlx::PgPool;

#[derive(Clone)]
pub struct AppState {
    pub pool: PgPool,
    pub nats: async_nats::Client,
}

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("binding {addr}: {source}")]
    Bind { addr: String, source: std::io::Error },
    #[error("serving: {0}")]
    Serve(std::io::Error),
}

pub fn router(state: AppState) -> Router {
    Router::new().route("/healthz", get(healthz)).route("/readyz", get(readyz)).with_state(state)
}

async fn healthz() -> &'static str {
    "ok"
}

/// Ready when NATS is connected and Postgres answers with every migration applied.
async fn readyz(State(s): State<AppState>) -> (StatusCode, Json<serde_json::Value>) {
    let nats_ok = s.nats.connection_state() == async_nats::connection::State::Connected;
    let applied: Result<i64, _> =
        sqlx::query_scalar("SELECT count(*) FROM _sqlx_migrations WHERE success").fetch_one(&s.pool).await;
    let expected = pod_projections::db::MIGRATOR.iter().count() as i64;
    let db_ok = matches!(applied, Ok(n) if n >= expected);
    let status = if nats_ok && db_ok { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (status, Json(json!({"nats": nats_ok, "postgres": db_ok, "migrations_expected": expected})))
}

pub async fn serve(
    addr: &str,
    pool: PgPool,
    nats: async_nats::Client,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    let listener =
        tokio::net::TcpListener::bind(addr).await.map_err(|source| ServeError::Bind { addr: addr.into(), source })?;
    tracing::info!(%addr, "API listening");
    axum::serve(listener, router(AppState { pool, nats }))
        .with_graceful_shutdown(shutdown)
        .await
        .map_err(ServeError::Serve)
}
