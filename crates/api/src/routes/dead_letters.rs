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
        DeadLetterError::Store(e) => Problem::new(StatusCode::SERVICE_UNAVAILABLE, format!("event store: {e}")),
    }
}

/// The caller's tenant's dead letters, oldest first.
pub async fn list(caller: Caller, State(s): State<AppState>) -> Result<Json<Vec<DeadLetter>>, Problem> {
    let all = dead_letters::list(&s.nats, &s.ns, None).await.map_err(|e| store_problem(e.into()))?;
    Ok(Json(all.into_iter().filter(|l| l.tenant == caller.tenant).collect()))
}

/// Sends one back to its worker (editor role).
pub async fn retry(
    caller: Caller,
    State(s): State<AppState>,
    Path(seq): Path<String>,
) -> Result<(StatusCode, Json<DeadLetter>), Problem> {
    caller.require(Role::Editor)?;
    let seq: u64 = seq.parse().map_err(|_| Problem::not_found("dead letter"))?;
    // Only a letter of the caller's tenant: look before acting.
    let mine = dead_letters::list(&s.nats, &s.ns, None)
        .await
        .map_err(|e| store_problem(e.into()))?
        .into_iter()
        .any(|l| l.dlq_seq == seq && l.tenant == caller.tenant);
    if !mine {
        return Err(Problem::not_found("dead letter"));
    }
    let letter = dead_letters::retry(&s.nats, &s.ns, seq).await.map_err(store_problem)?;
    Ok((StatusCode::ACCEPTED, Json(letter)))
}
