//! Idea review: the ideas by status, and deciding on them (approve,
//! reject with a reason, replace with a new one from the same trend).

use askama::Template;
use axum::extract::State;
use axum::response::Response;
use axum_extra::extract::Form;
use pod_events::domain::idea::IdeaCommand;
use pod_events::domain::text::RejectReason;

use super::views::IdeaCard;
use super::{PageError, Person, Shell, outcome, render};
use crate::AppState;
use crate::command::CommandRequest;
use crate::extract::{PathId, Query};
use crate::pagination::PageQuery;
use crate::problem::Problem;
use crate::routes::ideas;

#[derive(Debug, Default, serde::Deserialize)]
pub struct IdeasView {
    /// `review` (the default), `approved`, `rejected` or `all`.
    pub view: Option<String>,
    #[serde(flatten)]
    pub page: PageQuery,
}

#[derive(Template)]
#[template(path = "ideas.html")]
struct IdeasPage {
    shell: Shell,
    view: String,
    ideas: Vec<IdeaCard>,
    next: Option<String>,
}

pub async fn ideas(
    Person(session): Person,
    State(s): State<AppState>,
    Query(q): Query<IdeasView>,
) -> Result<Response, PageError> {
    let view = q.view.unwrap_or_else(|| "review".into());
    let status = match view.as_str() {
        "review" => Some("screened".to_owned()),
        "approved" | "rejected" => Some(view.clone()),
        "all" => None,
        other => {
            return Err(
                Problem::bad_request("view", format!("{other:?}: use review, approved, rejected or all")).into()
            );
        }
    };
    let found =
        ideas::list(session.caller(), State(s.clone()), Query(ideas::Filter { status, verdict: None, page: q.page }))
            .await?
            .0;
    Ok(render(&IdeasPage {
        shell: Shell::load(&s, &session, "ideas").await?,
        view,
        ideas: found.items.into_iter().map(IdeaCard::from).collect(),
        next: found.next,
    }))
}

pub async fn approve_idea(cmd: CommandRequest, State(s): State<AppState>, PathId(id): PathId) -> Response {
    let done = ideas::decide(&s, &cmd, id, IdeaCommand::Approve { by: cmd.actor() }).await;
    outcome(done.map(|_| "Approved — its design is being rendered.".to_owned()))
}

#[derive(Debug, Default, serde::Deserialize)]
pub struct Reason {
    #[serde(default)]
    reason: String,
}

pub async fn reject_idea(
    cmd: CommandRequest,
    State(s): State<AppState>,
    PathId(id): PathId,
    Form(r): Form<Reason>,
) -> Response {
    let done = async {
        let reason = if r.reason.trim().is_empty() { "rejected on review" } else { r.reason.as_str() };
        let reason = RejectReason::parse(reason)?;
        ideas::decide(&s, &cmd, id, IdeaCommand::Reject { by: cmd.actor(), reason }).await
    };
    outcome(done.await.map(|_| "Rejected.".to_owned()))
}

pub async fn replace_idea(cmd: CommandRequest, State(s): State<AppState>, PathId(id): PathId) -> Response {
    let done = ideas::replace(&s, &cmd, id).await;
    outcome(done.map(|_| "A new idea is on its way; this one steps aside when it arrives.".to_owned()))
}
