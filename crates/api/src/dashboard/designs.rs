//! Designs: the rendered artwork, and asking for another take of one.

use askama::Template;
use axum::extract::State;
use axum::response::Response;

use super::{PageError, Person, Shell, outcome, render};
use crate::AppState;
use crate::command::CommandRequest;
use crate::extract::{PathId, Query};
use crate::pagination::{Page, PageQuery};
use pod_projections::read::designs::{self, Design};

#[derive(Template)]
#[template(path = "designs.html")]
struct DesignsPage {
    shell: Shell,
    designs: Vec<Design>,
    next: Option<String>,
}

pub async fn designs(
    Person(session): Person,
    State(s): State<AppState>,
    Query(filter): Query<designs::Filter>,
    Query(page): Query<PageQuery>,
) -> Result<Response, PageError> {
    let found = designs::list(&s.pool, &session.tenant, &filter, &page.keyset()?).await?;
    let found = Page::of(found);
    Ok(render(&DesignsPage {
        shell: Shell::load(&s, &session, "designs").await?,
        designs: found.items,
        next: found.next,
    }))
}

/// Another take of a design, in the next layout and palette.
pub async fn regenerate_design(cmd: CommandRequest, State(s): State<AppState>, PathId(id): PathId) -> Response {
    let wanted = crate::routes::designs::Regeneration::default();
    let done = crate::routes::designs::regenerate_design(&s, &cmd, id, wanted).await;
    outcome(done.map(|_| "Another take is being rendered; it replaces this one in a moment.".to_owned()))
}
