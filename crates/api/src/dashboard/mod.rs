//! The dashboard: server-rendered pages (askama) with htmx for the parts
//! that change in place, and uPlot for charts — both vendored, so nothing
//! needs building. Pages read through the same handlers as `/api/v1` (one
//! tenant-scoped query per thing) and act through the same commands.
//!
//! A person signs in with a session cookie; every page and action takes
//! the session's tenant. State-changing requests carry the session's CSRF
//! token: htmx sends it as `X-CSRF-Token` (set once on `<body>`), plain
//! forms as a `csrf` field.

mod account;
mod analytics;
mod assets;
mod designs;
mod feed;
mod ideas;
mod integrations;
mod listings;
mod operations;
mod overview;
mod publishing;
mod team;
mod trends;
mod views;

use askama::Template;
use axum::Router;
use axum::extract::FromRequestParts;
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};

use crate::AppState;
use crate::auth::Session;
use crate::problem::Problem;

pub fn pages() -> Router<AppState> {
    Router::new()
        .route("/assets/{file}", get(assets::serve))
        .route("/setup", get(account::setup_page).post(account::setup))
        .route("/login", get(account::login_page).post(account::login))
        .route("/logout", post(account::logout))
        .route("/switch-shop", post(account::switch_shop))
        .route("/auth/{provider}/start", get(account::provider_start))
        .route("/auth/{provider}/callback", get(account::provider_callback))
        .route("/auth/{provider}/link", post(account::provider_link))
        .route("/", get(overview::overview))
        .route("/live", get(feed::stream))
        .route("/trends", get(trends::trends))
        .route("/trends/import", post(trends::import_keywords))
        .route("/trends/{id}", get(trends::trend))
        .route("/trends/{id}/ideas", post(trends::more_ideas))
        .route("/ideas", get(ideas::ideas))
        .route("/ideas/{id}/approve", post(ideas::approve_idea))
        .route("/ideas/{id}/reject", post(ideas::reject_idea))
        .route("/ideas/{id}/regenerate", post(ideas::replace_idea))
        .route("/designs", get(designs::designs))
        .route("/designs/{id}/regenerate", post(designs::regenerate_design))
        .route("/listings", get(listings::listings))
        .route("/listings/{id}", get(listings::listing).post(listings::save_listing))
        .route("/listings/{id}/check", post(listings::check_listing))
        .route("/listings/{id}/approve", post(listings::approve_listing))
        .route("/listings/{id}/submit", post(publishing::submit))
        .route("/publishing", get(publishing::publishing))
        .route("/analytics", get(analytics::analytics))
        .route("/integrations", get(integrations::integrations))
        .route("/integrations/etsy/connect", post(integrations::connect_etsy))
        .route(crate::marketplaces::ETSY_CALLBACK, get(integrations::etsy_callback))
        .route("/integrations/printify/connect", post(integrations::connect_printify))
        .route("/integrations/shops/{id}/disconnect", post(integrations::disconnect))
        .route(
            "/integrations/shops/{id}/listing-defaults",
            get(integrations::listing_defaults).post(integrations::choose_listing_defaults),
        )
        .route("/operations", get(operations::operations))
        .route("/team", get(team::team))
        .route("/team/invitations", post(team::invite))
        .route("/invite/{secret}", get(team::invitation_page).post(team::accept))
        .route("/operations/dead-letters/{seq}/retry", post(operations::retry_dead_letter))
}

/// What every page's frame shows: who is signed in, where they are, and
/// the CSRF token htmx sends.
pub struct Shell {
    pub person: String,
    pub email: String,
    pub shop: String,
    pub tenant: String,
    pub role: &'static str,
    pub csrf: String,
    pub active: &'static str,
    /// Every shop the person belongs to (a switcher shows when there are several).
    pub shops: Vec<(String, String)>,
}

impl Shell {
    async fn load(s: &AppState, session: &Session, active: &'static str) -> Result<Self, sqlx::Error> {
        let shops = crate::auth::sessions::shops_of(&s.pool, session.user_id).await?;
        Ok(Self { shops, ..Self::new(session, active) })
    }

    fn new(session: &Session, active: &'static str) -> Self {
        Self {
            shops: Vec::new(),
            person: session.display_name.clone(),
            email: session.email.clone(),
            shop: session.tenant_name.clone(),
            tenant: session.tenant.to_string(),
            role: session.role.as_str(),
            csrf: session.csrf.clone(),
            active,
        }
    }
    /// The person may change things (editor or owner).
    pub fn can_edit(&self) -> bool {
        self.role != "viewer"
    }
}

/// A signed-in person on a page; anyone else is sent to sign in (or, on a
/// fresh install, to create the first account).
pub struct Person(pub Session);

impl FromRequestParts<AppState> for Person {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        match crate::auth::sessions::from_cookies(&parts.headers, state).await {
            Ok(Some(session)) => Ok(Person(session)),
            Ok(None) => match crate::auth::has_users(&state.pool).await {
                Ok(false) => Err(Redirect::to("/setup").into_response()),
                Ok(true) => {
                    let back = parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
                    Err(Redirect::to(&format!("/login?next={}", urlencode(back))).into_response())
                }
                Err(e) => Err(Problem::from(e).into_response()),
            },
            Err(e) => Err(Problem::from(e).into_response()),
        }
    }
}

fn urlencode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Renders a template, or a logged 500.
pub(crate) fn render(t: &impl Template) -> Response {
    match t.render() {
        Ok(html) => Html(html).into_response(),
        Err(e) => Problem::internal(format!("rendering a page: {e}")).into_response(),
    }
}

/// The outcome of an action, in a sentence, in place of its buttons.
#[derive(Template)]
#[template(path = "fragments/outcome.html")]
struct Outcome {
    ok: bool,
    message: String,
}

pub(crate) fn outcome(result: Result<String, Problem>) -> Response {
    match result {
        Ok(message) => render(&Outcome { ok: true, message }),
        Err(p) => {
            // A field's own message says what to fix; the detail only names the fields.
            let d = p.details();
            let message = if d.errors.is_empty() {
                d.detail.clone()
            } else {
                d.errors.iter().map(|e| e.message.as_str()).collect::<Vec<_>>().join("; ")
            };
            render(&Outcome { ok: false, message })
        }
    }
}

#[derive(Template)]
#[template(path = "not_found.html")]
struct NotFound;

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    title: String,
    detail: String,
    /// Each field refused, and why.
    errors: Vec<(String, String)>,
}

/// A page's failure, shown as a page (the API's problem, for people).
pub struct PageError(Problem);

impl From<Problem> for PageError {
    fn from(p: Problem) -> Self {
        Self(p)
    }
}

impl From<sqlx::Error> for PageError {
    fn from(e: sqlx::Error) -> Self {
        Self(Problem::from(e))
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let d = self.0.details();
        let status = StatusCode::from_u16(d.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        if status == StatusCode::NOT_FOUND {
            return (status, render(&NotFound)).into_response();
        }
        let errors = d.errors.iter().map(|e| (e.field.clone(), e.message.clone())).collect();
        (status, render(&ErrorPage { title: d.title.clone(), detail: d.detail.clone(), errors })).into_response()
    }
}

/// Unknown pages: a page for people, a problem body for programs.
pub async fn not_found(headers: axum::http::HeaderMap) -> Response {
    let wants_html =
        headers.get(axum::http::header::ACCEPT).and_then(|v| v.to_str().ok()).is_some_and(|a| a.contains("text/html"));
    if wants_html {
        (StatusCode::NOT_FOUND, render(&NotFound)).into_response()
    } else {
        Problem::not_found("such route").into_response()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn next_links_are_encoded() {
        assert_eq!(super::urlencode("/ideas?status=screened&x=a b"), "/ideas%3Fstatus%3Dscreened%26x%3Da%20b");
    }

    #[test]
    fn money_reads_as_money_below_zero_too() {
        use super::views::money;
        assert_eq!(money(2499, "USD"), "$24.99");
        assert_eq!(money(-150, "USD"), "-$1.50");
        assert_eq!(money(-50, "EUR"), "-€0.50");
        assert_eq!(money(5, "JPY"), "0.05 JPY");
    }
}
