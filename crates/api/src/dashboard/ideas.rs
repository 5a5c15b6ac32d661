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
use crate::pagination::{Page, PageQuery};
use crate::routes::ideas;
use pod_projections::read::ideas as read;

/// The tabs of the review page.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Tab {
    /// Screened and waiting for a person.
    #[default]
    Review,
    Approved,
    Rejected,
    All,
}

impl Tab {
    fn as_str(self) -> &'static str {
        match self {
            Self::Review => "review",
            Self::Approved => "approved",
            Self::Rejected => "rejected",
            Self::All => "all",
        }
    }

    /// The ideas the tab shows.
    fn filter(self) -> read::Filter {
        let status = match self {
            Self::Review => Some(read::Status::Screened),
            Self::Approved => Some(read::Status::Approved),
            Self::Rejected => Some(read::Status::Rejected),
            Self::All => None,
        };
        read::Filter { status, verdict: None }
    }
}

#[derive(Debug, Default, serde::Deserialize)]
pub struct IdeasView {
    #[serde(default)]
    pub view: Tab,
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
    Query(page): Query<PageQuery>,
) -> Result<Response, PageError> {
    let found = read::list(&s.pool, &session.tenant, &q.view.filter(), &page.keyset()?).await?;
    let found = Page::of(found);
    Ok(render(&IdeasPage {
        shell: Shell::load(&s, &session, "ideas").await?,
        view: q.view.as_str().to_owned(),
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
