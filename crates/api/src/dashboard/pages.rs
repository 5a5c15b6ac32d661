//! The dashboard's pages. Each reads through the `/api/v1` handler for the
//! same thing, so a page shows exactly what the API answers.

use askama::Template;
use axum::extract::{Path, State};
use axum::response::Response;
use pod_projections::queries::{Momentum, PipelineCounts};

use super::{PageError, Person, Shell, render};
use crate::AppState;
use crate::extract::Query;
use crate::pagination::PageQuery;
use crate::problem::Problem;
use crate::routes::{dead_letters, designs, ideas, listings, operations, trends};

/// A screening hit as the pages show it.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct Hit {
    pub term: String,
    pub match_kind: String,
    pub matched: String,
    pub field: String,
    pub source: String,
    pub severity: String,
}

pub fn hits_of(value: &serde_json::Value) -> Vec<Hit> {
    serde_json::from_value(value.clone()).unwrap_or_default()
}

/// An SEO check as the pages show it.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct Check {
    pub check: String,
    pub points: u8,
    pub max: u8,
    pub advice: Option<String>,
}

pub fn checks_of(value: &serde_json::Value) -> Vec<Check> {
    serde_json::from_value(value.clone()).unwrap_or_default()
}

/// `$12.34`-style money from cents.
pub fn money(cents: i64, currency: &str) -> String {
    let symbol = match currency {
        "USD" => "$",
        "EUR" => "€",
        "GBP" => "£",
        _ => "",
    };
    let sign = if cents < 0 { "-" } else { "" };
    let abs = cents.unsigned_abs();
    let amount = format!("{}.{:02}", abs / 100, abs % 100);
    if symbol.is_empty() { format!("{sign}{amount} {currency}") } else { format!("{sign}{symbol}{amount}") }
}

/// "3 min ago"-style time for tables.
pub fn ago(at: chrono::DateTime<chrono::Utc>) -> String {
    let secs = (chrono::Utc::now() - at).num_seconds().max(0);
    match secs {
        0..=59 => "just now".into(),
        60..=3599 => format!("{} min ago", secs / 60),
        3600..=86_399 => format!("{} h ago", secs / 3600),
        _ => at.format("%b %-d, %Y").to_string(),
    }
}

/// An idea with what the pages show beside it.
pub struct IdeaCard {
    pub idea: ideas::Idea,
    pub hits: Vec<Hit>,
    pub age: String,
}

impl From<ideas::Idea> for IdeaCard {
    fn from(idea: ideas::Idea) -> Self {
        Self { hits: hits_of(&idea.hits), age: ago(idea.created_at), idea }
    }
}

pub struct ListingRow {
    pub l: listings::Listing,
    pub price: String,
    /// The price as the editor's box holds it: `24.99`, whatever the currency.
    pub price_input: String,
    pub age: String,
}

impl From<listings::Listing> for ListingRow {
    fn from(l: listings::Listing) -> Self {
        Self {
            price: money(l.price_cents, &l.currency),
            price_input: format!("{}.{:02}", l.price_cents / 100, l.price_cents % 100),
            age: ago(l.updated_at),
            l,
        }
    }
}

pub struct Riser {
    pub m: Momentum,
    /// `+42 %`, or `new` without a week before to compare with.
    pub growth: String,
    pub rising: bool,
}

impl From<Momentum> for Riser {
    fn from(m: Momentum) -> Self {
        let (growth, rising) = match m.growth_7d {
            Some(g) => (format!("{:+.0} %", g * 100.0), g >= 0.0),
            None => ("new".into(), true),
        };
        Self { m, growth, rising }
    }
}

pub struct TrendRow {
    pub t: trends::Trend,
    pub score: String,
    pub age: String,
    /// "seen once", "seen 4 times".
    pub seen: String,
}

impl From<trends::Trend> for TrendRow {
    fn from(t: trends::Trend) -> Self {
        let seen = match t.observations {
            1 => "seen once".to_owned(),
            n => format!("seen {n} times"),
        };
        Self { score: format!("{:.0}", t.last_score), age: ago(t.last_seen), seen, t }
    }
}

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
    let counts = pod_projections::queries::pipeline_counts(&s.pool, &caller.tenant).await?;
    let risers = pod_projections::queries::trend_momentum(&s.pool, &caller.tenant, 6).await?;
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

fn limit(n: u32) -> PageQuery {
    PageQuery { cursor: None, limit: Some(n.to_string()) }
}

#[derive(Template)]
#[template(path = "trends.html")]
struct TrendsPage {
    shell: Shell,
    trends: Vec<TrendRow>,
    risers: Vec<Riser>,
    next: Option<String>,
}

pub async fn trends(
    Person(session): Person,
    State(s): State<AppState>,
    Query(page): Query<PageQuery>,
) -> Result<Response, PageError> {
    let caller = session.caller();
    let risers = pod_projections::queries::trend_momentum(&s.pool, &caller.tenant, 8).await?;
    let found = trends::list(caller, State(s.clone()), Query(page)).await?.0;
    Ok(render(&TrendsPage {
        shell: Shell::load(&s, &session, "trends").await?,
        trends: found.items.into_iter().map(TrendRow::from).collect(),
        risers: risers.into_iter().map(Riser::from).collect(),
        next: found.next,
    }))
}

#[derive(Template)]
#[template(path = "trend.html")]
struct TrendPage {
    shell: Shell,
    trend: TrendRow,
    /// `[[unix seconds…], [mean…], [peak…]]` for uPlot.
    series: String,
    ideas: Vec<IdeaCard>,
}

pub async fn trend(
    Person(session): Person,
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    let caller = session.caller();
    let trend = trends::one(caller.clone(), State(s.clone()), Path(id)).await?.0;
    let points = pod_projections::queries::trend_interest(&s.pool, &caller.tenant, trend.trend_id).await?;
    let series = serde_json::json!([
        points.iter().map(|p| p.bucket.timestamp()).collect::<Vec<_>>(),
        points.iter().map(|p| p.mean_score).collect::<Vec<_>>(),
        points.iter().map(|p| p.peak_score).collect::<Vec<_>>(),
    ])
    .to_string();
    let ideas: Vec<ideas::Idea> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {} FROM ideas WHERE tenant = $1 AND trend_id = $2 ORDER BY created_at, idea_id",
        ideas::COLUMNS
    )))
    .bind(&caller.tenant)
    .bind(trend.trend_id)
    .fetch_all(&s.pool)
    .await?;
    let ideas = ideas.into_iter().map(IdeaCard::from).collect();
    Ok(render(&TrendPage { shell: Shell::load(&s, &session, "trends").await?, trend: trend.into(), series, ideas }))
}

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

#[derive(Template)]
#[template(path = "designs.html")]
struct DesignsPage {
    shell: Shell,
    designs: Vec<designs::Design>,
    next: Option<String>,
}

pub async fn designs(
    Person(session): Person,
    State(s): State<AppState>,
    Query(f): Query<designs::Filter>,
) -> Result<Response, PageError> {
    let found = designs::list(session.caller(), State(s.clone()), Query(f)).await?.0;
    Ok(render(&DesignsPage {
        shell: Shell::load(&s, &session, "designs").await?,
        designs: found.items,
        next: found.next,
    }))
}

#[derive(Template)]
#[template(path = "listings.html")]
struct ListingsPage {
    shell: Shell,
    status: String,
    listings: Vec<ListingRow>,
    next: Option<String>,
}

pub async fn listings(
    Person(session): Person,
    State(s): State<AppState>,
    Query(f): Query<listings::Filter>,
) -> Result<Response, PageError> {
    let status = f.status.clone().unwrap_or_default();
    let found = listings::list(session.caller(), State(s.clone()), Query(f)).await?.0;
    Ok(render(&ListingsPage {
        shell: Shell::load(&s, &session, "listings").await?,
        status,
        listings: found.items.into_iter().map(ListingRow::from).collect(),
        next: found.next,
    }))
}

#[derive(Template)]
#[template(path = "listing.html")]
pub(crate) struct ListingPage {
    pub shell: Shell,
    pub listing: ListingRow,
    pub design: Option<designs::Design>,
    /// The checks panel, the same fragment the editor's live checks swap in.
    pub checks_html: String,
    /// The listing's history, newest first.
    pub history: Vec<Step>,
    /// Thirteen tag boxes: the tags, then empty ones.
    pub tag_slots: Vec<String>,
}

pub async fn listing(
    Person(session): Person,
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    let caller = session.caller();
    let listing = listings::one(caller.clone(), State(s.clone()), Path(id)).await?.0;
    let design =
        designs::one(caller.clone(), State(s.clone()), Path(listing.design_id.to_string())).await.ok().map(|j| j.0);
    let checks_html = super::review::ListingCheck::stored(&s, &caller, &listing)
        .await?
        .render()
        .map_err(|e| Problem::internal(format!("rendering the checks: {e}")))?;
    let history = listings::history(&s, &caller.tenant, listing.listing_id)
        .await?
        .iter()
        .rev()
        .map(|r| step_of(r, session.user_id))
        .collect();
    let mut tag_slots = listing.tags.clone();
    tag_slots.resize(pod_events::domain::listing_text::MAX_TAGS.max(tag_slots.len()), String::new());
    Ok(render(&ListingPage {
        shell: Shell::load(&s, &session, "listings").await?,
        listing: listing.into(),
        design,
        checks_html,
        history,
        tag_slots,
    }))
}

/// A step of a listing's history, in words.
pub struct Step {
    pub what: String,
    pub who: String,
    pub age: String,
}

/// "Edited title, tags", "by you" / "by a teammate" / "by a program" / "by the pipeline".
pub fn step_of(r: &listings::Revision, me: uuid::Uuid) -> Step {
    let c = &r.changes;
    let what = match r.event_type.as_str() {
        "ListingDrafted" => "Drafted".to_owned(),
        "ListingRevised" => {
            let fields: Vec<&str> =
                [("title", "title"), ("description", "description"), ("tags", "tags"), ("price_cents", "price")]
                    .iter()
                    .filter(|(k, _)| !c[*k].is_null())
                    .map(|(_, label)| *label)
                    .collect();
            let score = c["seo_score"].as_u64().map(|s| format!(" (SEO {s})")).unwrap_or_default();
            if fields.is_empty() { format!("Re-scored{score}") } else { format!("Edited {}{score}", fields.join(", ")) }
        }
        "ListingApproved" => "Approved".to_owned(),
        "ListingSubmitted" => "Queued for publishing".to_owned(),
        "ListingPublished" => "Published".to_owned(),
        "ListingPublishFailed" => format!("Publishing failed: {}", c["reason"].as_str().unwrap_or("")),
        other => other.to_owned(),
    };
    let who = match (c["by"]["kind"].as_str(), c["by"]["user_id"].as_str()) {
        (_, Some(u)) if u == me.to_string() => "by you".to_owned(),
        (_, Some(_)) => "by a teammate".to_owned(),
        (Some("policy"), _) => format!("by {}", c["by"]["name"].as_str().unwrap_or("a program")),
        _ => "by the pipeline".to_owned(),
    };
    Step { what, who, age: ago(r.at) }
}

/// The screening hits recorded for a listing's current text.
pub(crate) async fn stored_hits(s: &AppState, tenant: &str, id: uuid::Uuid) -> Result<Vec<Hit>, Problem> {
    let hits: Option<serde_json::Value> =
        sqlx::query_scalar("SELECT screening_hits FROM listings WHERE tenant = $1 AND listing_id = $2")
            .bind(tenant)
            .bind(id)
            .fetch_optional(&s.pool)
            .await?;
    Ok(hits.map(|v| hits_of(&v)).unwrap_or_default())
}

#[derive(Template)]
#[template(path = "operations.html")]
struct OperationsPage {
    shell: Shell,
    sources: Vec<operations::SourceRefresh>,
    costs: Vec<operations::MonthCost>,
    letters: Vec<pod_events::store::dead_letters::DeadLetter>,
    parked: Vec<pod_projections::parked::ParkedEvent>,
}

pub async fn operations(Person(session): Person, State(s): State<AppState>) -> Result<Response, PageError> {
    let caller = session.caller();
    let sources = operations::sources(caller.clone(), State(s.clone())).await?.0;
    let costs = operations::costs(caller.clone(), State(s.clone())).await?.0;
    let parked = pod_projections::parked::list(&s.pool, None, Some(caller.tenant.as_str()), 100).await?;
    let letters = dead_letters::list(caller, State(s.clone())).await?.0;
    let shell = Shell::load(&s, &session, "operations").await?;
    Ok(render(&OperationsPage { shell, sources, costs, letters, parked }))
}
