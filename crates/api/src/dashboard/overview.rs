//! The overview: the pipeline's counts, rising trends, ideas awaiting
//! review and the latest listings.

use askama::Template;
use axum::extract::State;
use axum::response::Response;
use pod_projections::queries::PipelineCounts;

use super::views::{IdeaCard, ListingRow, Riser};
use super::{PageError, Person, Shell, render};
use crate::AppState;
use crate::extract::Query;
use crate::pagination::PageQuery;
use crate::routes::{ideas, listings};

#[derive(Template)]
#[template(path = "overview.html")]
struct Overview {
    shell: Shell,
    counts: PipelineCounts,
    risers: Vec<Riser>,
    review: Vec<IdeaCard>,
    recent: Vec<ListingRow>,
}

pub async fn overview(Person(session): Person, State(s): State<AppState>) -> Result<Response, PageError> {
    let caller = session.caller();
    let counts = pod_projections::queries::pipeline_counts(&s.pool, caller.tenant.as_str()).await?;
    let risers = pod_projections::queries::trend_momentum(&s.pool, caller.tenant.as_str(), 6).await?;
    let risers = risers.into_iter().map(Riser::from).collect();
    let review = ideas::list(
        caller.clone(),
        State(s.clone()),
        Query(ideas::Filter { status: Some("screened".into()), page: limit(6), ..Default::default() }),
    )
    .await?
    .0
    .items
    .into_iter()
    .map(IdeaCard::from)
    .collect();
    let recent =
        listings::list(caller, State(s.clone()), Query(listings::Filter { page: limit(5), ..Default::default() }))
            .await?
            .0
            .items
            .into_iter()
            .map(ListingRow::from)
            .collect();
    Ok(render(&Overview { shell: Shell::load(&s, &session, "overview").await?, counts, risers, review, recent }))
}

/// The first `n` of a list.
pub(crate) fn limit(n: u32) -> PageQuery {
    PageQuery { cursor: None, limit: Some(n.to_string()) }
}
