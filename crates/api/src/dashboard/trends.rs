//! Trends: the list with its risers, one trend with its interest chart and
//! ideas; asking for more ideas, and typing keywords in as a trend list.

use askama::Template;
use axum::extract::State;
use axum::response::Response;
use axum_extra::extract::Form;

use super::views::{IdeaCard, Riser, TrendRow};
use super::{PageError, Person, Shell, outcome, render};
use crate::AppState;
use crate::auth::Caller;
use crate::command::CommandRequest;
use crate::extract::{PathId, Query};
use crate::pagination::{Page, PageQuery};
use crate::problem::Problem;
use crate::routes::trends;
use pod_projections::read::trends as read;

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
    let risers = read::momentum(&s.pool, &session.tenant, 8).await?;
    let found = Page::of(read::list(&s.pool, &session.tenant, &page.keyset()?).await?);
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
    PathId(id): PathId,
) -> Result<Response, PageError> {
    let tenant = &session.tenant;
    let trend = read::one(&s.pool, tenant, id).await?.ok_or_else(|| Problem::not_found("trend"))?;
    let points = read::interest(&s.pool, tenant, trend.trend_id).await?;
    let series = serde_json::json!([
        points.iter().map(|p| p.bucket.timestamp()).collect::<Vec<_>>(),
        points.iter().map(|p| p.mean_score).collect::<Vec<_>>(),
        points.iter().map(|p| p.peak_score).collect::<Vec<_>>(),
    ])
    .to_string();
    let ideas = pod_projections::read::ideas::of_trend(&s.pool, tenant, trend.trend_id).await?;
    let ideas = ideas.into_iter().map(IdeaCard::from).collect();
    Ok(render(&TrendPage { shell: Shell::load(&s, &session, "trends").await?, trend: trend.into(), series, ideas }))
}

#[derive(Debug, Default, serde::Deserialize)]
pub struct Count {
    #[serde(default)]
    count: Option<u32>,
}

pub async fn more_ideas(
    cmd: CommandRequest,
    State(s): State<AppState>,
    PathId(id): PathId,
    Form(c): Form<Count>,
) -> Response {
    let done = async {
        let count = c.count.unwrap_or(3);
        trends::request_ideas(&s, &cmd, id, count, None).await?;
        Ok(format!(
            "{count} more idea{} on the way: they appear in Idea review as they are screened.",
            if count == 1 { "" } else { "s" }
        ))
    };
    outcome(done.await)
}

#[derive(Debug, Default, serde::Deserialize)]
pub struct Keywords {
    #[serde(default)]
    keywords: String,
}

/// Typed keywords, one per line, imported as a list of trends.
pub async fn import_keywords(caller: Caller, State(s): State<AppState>, Form(k): Form<Keywords>) -> Response {
    let lines: Vec<&str> = k.keywords.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    if lines.is_empty() {
        return outcome(Err(Problem::bad_request("keywords", "type at least one keyword")));
    }
    let mut w = csv::Writer::from_writer(Vec::new());
    let mut rows = vec![vec!["keyword".to_owned()]];
    rows.extend(lines.iter().map(|l| vec![(*l).to_owned()]));
    for row in &rows {
        if let Err(e) = w.write_record(row) {
            return outcome(Err(Problem::internal(e)));
        }
    }
    let body = match w.into_inner() {
        Ok(b) => b,
        Err(e) => return outcome(Err(Problem::internal(e))),
    };
    let format = pod_trendlists::parse::Format::Csv;
    let done = crate::routes::trends::import_list(&s, &caller, format, &body, "dashboard").await;
    outcome(done.map(|r| {
        format!("Imported {} trends: {} new observations, {} already known.", r.keywords, r.persisted, r.duplicates)
    }))
}
