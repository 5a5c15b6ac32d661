//! `/api/v1`: every route takes the caller's tenant from its token or session.

pub(crate) mod analytics;
pub(crate) mod dead_letters;
pub(crate) mod designs;
pub(crate) mod feed;
pub(crate) mod ideas;
pub(crate) mod listings;
pub(crate) mod operations;
pub(crate) mod publishing;
pub(crate) mod trends;

use axum::Router;
use axum::routing::{get, post};

use crate::AppState;

pub fn api() -> Router<AppState> {
    Router::new()
        .route("/trends", get(trends::list))
        .route("/trends/{id}", get(trends::one))
        .route("/trends/{id}/interest", get(trends::interest))
        .route("/trends/momentum", get(trends::momentum))
        .route("/trends/import", post(trends::import))
        .route("/trends/{id}/seasonality", get(trends::seasonality))
        .route("/trends/{id}/ideas", post(trends::more_ideas))
        .route("/ideas", get(ideas::list))
        .route("/ideas/{id}", get(ideas::one))
        .route("/ideas/{id}/approve", post(ideas::approve))
        .route("/ideas/{id}/reject", post(ideas::reject))
        .route("/ideas/{id}/regenerate", post(ideas::regenerate))
        .route("/designs", get(designs::list))
        .route("/designs/{id}", get(designs::one))
        .route("/designs/{id}/artwork.png", get(designs::artwork))
        .route("/designs/{id}/preview.png", get(designs::preview))
        .route("/designs/{id}/regenerate", post(designs::regenerate))
        .route("/listings", get(listings::list))
        .route("/listings.csv", get(listings::csv))
        .route("/listings/{id}", get(listings::one).patch(listings::edit))
        .route("/listings/{id}/approve", post(listings::approve))
        .route("/listings/{id}/revisions", get(listings::revisions))
        .route("/listings/{id}/submit", post(publishing::submit))
        .route("/publish-queue", get(publishing::queue))
        .route("/shops", get(publishing::shops))
        .route(
            "/shops/{id}/listing-defaults",
            get(publishing::listing_defaults).put(publishing::choose_listing_defaults),
        )
        .route("/analytics/summary", get(analytics::summary))
        .route("/runs", get(analytics::runs))
        .route("/runs/{id}", get(analytics::run))
        .route("/dead-letters", get(dead_letters::list))
        .route("/dead-letters/{seq}/retry", post(dead_letters::retry))
        .route("/feed", get(feed::sse))
        .route("/feed/ws", get(feed::ws))
        .route("/sources", get(operations::sources))
        .route("/costs", get(operations::costs))
        .route("/openapi.json", get(crate::openapi::document))
        .route("/docs", get(crate::openapi::reference))
}
