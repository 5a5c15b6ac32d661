//! The overview: the pipeline's counts, rising trends, ideas awaiting
//! review and the latest listings.

use askama::Template;
use axum::extract::State;
use axum::response::Response;
use pod_projections::read::analytics::{self, PipelineCounts};
use pod_projections::read::{Keyset, ideas, listings};

use super::views::{IdeaCard, ListingRow, Riser};
use super::{PageError, Person, Shell, render};
use crate::AppState;

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
    let tenant = &session.tenant;
    let counts = analytics::pipeline_counts(&s.pool, tenant).await?;
    let risers = pod_projections::read::trends::momentum(&s.pool, tenant, 6).await?;
    let risers = risers.into_iter().map(Riser::from).collect();
    let awaiting = ideas::Filter { status: Some(ideas::Status::Screened), verdict: None };
    let review = ideas::list(&s.pool, tenant, &awaiting, &Keyset::first(6)).await?.rows;
    let review = review.into_iter().map(IdeaCard::from).collect();
    let recent = listings::list(&s.pool, tenant, &listings::Filter::default(), &Keyset::first(5)).await?.rows;
    let recent = recent.into_iter().map(ListingRow::from).collect();
    Ok(render(&Overview { shell: Shell::load(&s, &session, "overview").await?, counts, risers, review, recent }))
}
