//! `/api/v1`: every route takes the caller's tenant from its token.

mod dead_letters;
mod feed;
mod ideas;
mod listings;
mod trends;

use axum::Router;
use axum::routing::{get, post};

use crate::AppState;

pub fn api() -> Router<AppState> {
    Router::new()
        .route("/trends", get(trends::list))
        .route("/trends/{id}", get(trends::one))
        .route("/trends/{id}/interest", get(trends::interest))
        .route("/ideas", get(ideas::list))
        .route("/ideas/{id}", get(ideas::one))
        .route("/ideas/{id}/approve", post(ideas::approve))
        .route("/ideas/{id}/reject", post(ideas::reject))
        .route("/listings", get(listings::list))
        .route("/listings/{id}", get(listings::one))
        .route("/dead-letters", get(dead_letters::list))
        .route("/dead-letters/{seq}/retry", post(dead_letters::retry))
        .route("/feed", get(feed::sse))
}

/// A path id as a uuid, or a 404 (an id that cannot exist is simply not here).
pub(crate) fn uuid_path(what: &str, raw: &str) -> Result<uuid::Uuid, crate::problem::Problem> {
    raw.parse().map_err(|_| crate::problem::Problem::not_found(what))
}
