//! The caller's dead letters: events a worker gave up on, with the error,
//! and a retry that sends one back to its worker.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use pod_events::store::dead_letters::{self, DeadLetter, DeadLetterError};

use crate::AppState;
use crate::auth::{Caller, Role};
use crate::problem::Problem;

fn store_problem(e: DeadLetterError) -> Problem {
    match e {
        DeadLetterError::NotFound(_) => Problem::not_found("dead letter"),
        DeadLetterError::Store(e) => crate::problem::store_failure(e),
    }
}

/// The caller's tenant's dead letters, oldest first.
#[utoipa::path(
    get,
    path = "/api/v1/dead-letters",
    tag = "operations",
    summary = "Events a worker gave up on, oldest first",
    responses((status = 200, description = "The dead letters", body = Vec<serde_json::Value>)),
    security(("token" = []), ("session" = []))
)]
pub async fn list(caller: Caller, State(s): State<AppState>) -> Result<Json<Vec<DeadLetter>>, Problem> {
    let tenant = caller.tenant.clone();
    let mine = dead_letters::list_for_tenant(&s.nats, &s.ns, &tenant).await.map_err(|e| store_problem(e.into()))?;
    Ok(Json(mine))
}

/// Sends one back to its worker (editor role).
#[utoipa::path(
    post,
    path = "/api/v1/dead-letters/{seq}/retry",
    tag = "operations",
    summary = "Send a dead letter back to its worker (editor)",
    params(("seq" = u64, Path, description = "The letter's sequence")),
    responses((status = 202, description = "Sent back", body = serde_json::Value)),
    security(("token" = []), ("session" = []))
)]
pub async fn retry(
    caller: Caller,
    State(s): State<AppState>,
    Path(seq): Path<String>,
) -> Result<(StatusCode, Json<DeadLetter>), Problem> {
    caller.require(Role::Editor)?;
    let seq: u64 = seq.parse().map_err(|_| Problem::bad_request("seq", "not a dead letter's sequence number"))?;
    // Only a letter of the caller's tenant: another's is not found.
    let tenant = caller.tenant.clone();
    let letter = dead_letters::retry_for_tenant(&s.nats, &s.ns, seq, &tenant).await.map_err(store_problem)?;
    Ok((StatusCode::ACCEPTED, Json(letter)))
}
