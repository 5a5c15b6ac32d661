//! Operations: source refreshes, costs, dead letters and parked events of
//! the shop, and sending a dead letter back to its worker.

use askama::Template;
use axum::extract::{Path, State};
use axum::response::Response;

use super::{PageError, Person, Shell, outcome, render};
use crate::AppState;
use crate::auth::Caller;
use crate::routes::dead_letters;
use pod_projections::read::operations::{self, MonthCost, SourceRefresh};

#[derive(Template)]
#[template(path = "operations.html")]
struct OperationsPage {
    shell: Shell,
    sources: Vec<SourceRefresh>,
    costs: Vec<MonthCost>,
    letters: Vec<pod_events::store::dead_letters::DeadLetter>,
    parked: Vec<pod_projections::parked::ParkedEvent>,
}

pub async fn operations(Person(session): Person, State(s): State<AppState>) -> Result<Response, PageError> {
    let caller = session.caller();
    let sources = operations::sources(&s.pool, &caller.tenant).await?;
    let costs = operations::costs(&s.pool, &caller.tenant).await?;
    let parked = pod_projections::parked::list(&s.pool, None, Some(caller.tenant.as_str()), 100).await?;
    let letters = dead_letters::list(caller, State(s.clone())).await?.0;
    let shell = Shell::load(&s, &session, "operations").await?;
    Ok(render(&OperationsPage { shell, sources, costs, letters, parked }))
}

/// Sends one of the shop's dead letters back to its worker.
pub async fn retry_dead_letter(caller: Caller, State(s): State<AppState>, Path(seq): Path<String>) -> Response {
    let done = dead_letters::retry(caller, State(s), Path(seq)).await;
    outcome(done.map(|(_, letter)| format!("Sent back to the {} worker.", letter.0.worker)))
}
