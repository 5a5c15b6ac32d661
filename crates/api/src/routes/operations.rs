//! What operators and owners watch: each trend source's latest refreshes
//! and what paid provider calls cost per month.

use axum::Json;
use axum::extract::State;
use pod_projections::read::operations::{self, MonthCost, SourceRefresh};

use crate::AppState;
use crate::auth::Caller;
use crate::problem::Problem;

/// The latest refresh of each of the tenant's sources.
#[utoipa::path(
    get,
    path = "/api/v1/sources",
    tag = "operations",
    summary = "Each trend source's latest refresh",
    responses((status = 200, description = "One row per source", body = Vec<SourceRefresh>)),
    security(("token" = []), ("session" = []))
)]
pub async fn sources(caller: Caller, State(s): State<AppState>) -> Result<Json<Vec<SourceRefresh>>, Problem> {
    Ok(Json(operations::sources(&s.pool, &caller.tenant).await?))
}

/// Paid-call spending per month, newest first.
#[utoipa::path(
    get,
    path = "/api/v1/costs",
    tag = "operations",
    summary = "Paid-call spending per month",
    responses((status = 200, description = "Newest month first", body = Vec<MonthCost>)),
    security(("token" = []), ("session" = []))
)]
pub async fn costs(caller: Caller, State(s): State<AppState>) -> Result<Json<Vec<MonthCost>>, Problem> {
    Ok(Json(operations::costs(&s.pool, &caller.tenant).await?))
}
