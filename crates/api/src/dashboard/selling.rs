//! The pages after the listing: publishing (ready, queued, published,
//! failed), analytics (sales, best sellers, the pipeline's output, runs)
//! and integrations (marketplaces, the services the pipeline used).

use askama::Template;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum_extra::extract::Form;
use chrono::{Duration, Utc};

use super::pages::{ago, money};
use super::review::outcome;
use super::{PageError, Person, Shell, render};
use crate::AppState;
use crate::extract::Query;
use crate::pagination::PageQuery;
use crate::routes::{analytics, listings, publishing};

/// An approved listing not yet submitted.
pub struct Ready {
    pub listing_id: uuid::Uuid,
    pub title: String,
    pub price: String,
    pub age: String,
}

/// A submitted listing, in words.
pub struct QueueRow {
    pub l: publishing::QueuedListing,
    pub state: &'static str,
    pub tone: &'static str,
    pub target: String,
    pub age: String,
}

impl From<publishing::QueuedListing> for QueueRow {
    fn from(l: publishing::QueuedListing) -> Self {
        let (state, tone) = match (l.status.as_str(), l.publish_error.is_some()) {
            ("published", _) => ("published", "good"),
            ("queued", true) => ("retrying", "warn"),
            ("queued", false) => ("queued", "info"),
            _ => ("failed", "bad"),
        };
        let target = match (l.dry_run, l.shop_id) {
            (Some(true), _) => "Dry run".to_owned(),
            (_, Some(shop)) => format!("Shop {}", &shop.to_string()[..8]),
            _ => "—".to_owned(),
        };
        Self { age: ago(l.submitted_at), state, tone, target, l }
    }
}

#[derive(Template)]
#[template(path = "publishing.html")]
struct PublishingPage {
    shell: Shell,
    ready: Vec<Ready>,
    queue: Vec<QueueRow>,
    tabs: Vec<(&'static str, &'static str, bool)>,
}

#[derive(Debug, Default, serde::Deserialize)]
pub struct QueueState {
    pub state: Option<String>,
}

pub async fn publishing(
    Person(session): Person,
    State(s): State<AppState>,
    Query(q): Query<QueueState>,
) -> Result<Response, PageError> {
    let caller = session.caller();
    let state = q.state.clone().unwrap_or_else(|| "all".into());
    let approved = listings::Filter { status: Some("approved".into()), page: PageQuery::default() };
    let ready = listings::list(caller.clone(), State(s.clone()), Query(approved)).await?.0.items;
    let filter = publishing::QueueFilter { state: Some(state.clone()), page: PageQuery::default() };
    let queue = publishing::queue(caller, State(s.clone()), Query(filter)).await?.0.items;
    let tabs = [("all", "All"), ("queued", "Queued"), ("published", "Published"), ("failed", "Failed")]
        .into_iter()
        .map(|(v, l)| (v, l, v == state))
        .collect();
    Ok(render(&PublishingPage {
        shell: Shell::load(&s, &session, "publishing").await?,
        ready: ready
            .into_iter()
            .map(|l| Ready {
                listing_id: l.listing_id,
                price: money(l.price_cents, &l.currency),
                age: ago(l.updated_at),
                title: l.title,
            })
            .collect(),
        queue: queue.into_iter().map(QueueRow::from).collect(),
        tabs,
    }))
}

#[derive(Debug, Default, serde::Deserialize)]
pub struct SubmitForm {
    #[serde(default)]
    dry_run: Option<String>,
    #[serde(default)]
    shop_id: Option<String>,
}

/// The Submit / Dry run buttons.
pub async fn submit(
    caller: crate::auth::Caller,
    State(s): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    Form(f): Form<SubmitForm>,
) -> Response {
    let done = async {
        let shop_id = match f.shop_id.as_deref().map(str::trim).filter(|v| !v.is_empty()) {
            None => None,
            Some(v) => Some(v.parse().map_err(|_| crate::problem::Problem::bad_request("shop_id", "not a shop id"))?),
        };
        let dry_run = f.dry_run.as_deref().is_none_or(|v| v == "true" || v == "on");
        let submission = publishing::Submission { shop_id, dry_run: Some(dry_run) };
        publishing::submit_listing(&s, &caller, &id, submission, &headers).await?;
        Ok(if dry_run {
            "Queued for a dry run: every check the marketplace would make, nothing created.".to_owned()
        } else {
            "Queued for publishing.".to_owned()
        })
    };
    outcome(done.await)
}

/// Totals in one currency, formatted.
pub struct MainTotals {
    pub t: analytics::Totals,
    pub revenue: String,
    pub profit: String,
}

#[derive(Template)]
#[template(path = "analytics.html")]
struct AnalyticsPage {
    shell: Shell,
    days: i64,
    periods: Vec<(i64, bool)>,
    summary: analytics::Summary,
    main: Option<MainTotals>,
    /// `[[bucket unix…], [revenue…]]` for the chart, main currency only.
    series: String,
    /// (listing id, title, units, revenue)
    top: Vec<(uuid::Uuid, String, i64, String)>,
    /// (stage, count, what it means)
    funnel: Vec<(&'static str, i64, &'static str)>,
    runs: Vec<analytics::Run>,
}

#[derive(Debug, Default, serde::Deserialize)]
pub struct Days {
    pub days: Option<i64>,
}

pub async fn analytics(
    Person(session): Person,
    State(s): State<AppState>,
    Query(d): Query<Days>,
) -> Result<Response, PageError> {
    let caller = session.caller();
    let days = d.days.filter(|n| [7, 30, 90, 365].contains(n)).unwrap_or(30);
    let now = Utc::now();
    let period = analytics::Period {
        from: Some(now - Duration::days(days)),
        to: Some(now),
        bucket: Some(if days > 90 { "week" } else { "day" }.into()),
    };
    let summary = analytics::summary(caller.clone(), State(s.clone()), Query(period)).await?.0;
    let main = summary.totals.first().map(|t| MainTotals {
        revenue: money(t.revenue_cents, &t.currency),
        profit: money(t.profit_cents, &t.currency),
        t: t.clone(),
    });
    let currency = main.as_ref().map(|m| m.t.currency.clone());
    let points: Vec<&analytics::SalesPoint> =
        summary.series.iter().filter(|p| Some(&p.currency) == currency.as_ref()).collect();
    let series = serde_json::json!([
        points.iter().map(|p| p.bucket.timestamp()).collect::<Vec<_>>(),
        points.iter().map(|p| p.revenue_cents as f64 / 100.0).collect::<Vec<_>>(),
    ])
    .to_string();
    let top = summary
        .top_listings
        .iter()
        .map(|l| {
            let title = l.title.clone().unwrap_or_else(|| "(a listing no longer here)".into());
            (l.listing_id, title, l.units, money(l.revenue_cents, &l.currency))
        })
        .collect();
    let f = &summary.funnel;
    let funnel = vec![
        ("Trends", f.trends, "first seen in the period"),
        ("Ideas", f.ideas, "generated"),
        ("Ideas approved", f.ideas_approved, "by people or the green policy"),
        ("Designs", f.designs, "rendered print-ready"),
        ("Listings", f.listings, "drafted"),
        ("Listings approved", f.listings_approved, "ready or gone out"),
        ("Submitted", f.submitted, "for publishing or a dry run"),
        ("Published", f.published, "dry runs included"),
    ];
    let runs_filter = analytics::RunFilter { kind: Some("imports".into()), page: PageQuery::default() };
    let runs = analytics::runs(caller, State(s.clone()), Query(runs_filter)).await?.0.items;
    Ok(render(&AnalyticsPage {
        shell: Shell::load(&s, &session, "analytics").await?,
        days,
        periods: [7, 30, 90, 365].into_iter().map(|n| (n, n == days)).collect(),
        summary,
        main,
        series,
        top,
        funnel,
        runs,
    }))
}

/// A marketplace connection, in words.
pub struct ShopRow {
    pub s: publishing::Shop,
    pub token: String,
}

#[derive(Template)]
#[template(path = "integrations.html")]
struct IntegrationsPage {
    shell: Shell,
    shops: Vec<ShopRow>,
    /// (service, what was used, how much)
    services: Vec<(&'static str, String, String)>,
    /// (provider name, label, linked to this person)
    sign_in: Vec<(String, String, bool)>,
}

pub async fn integrations(Person(session): Person, State(s): State<AppState>) -> Result<Response, PageError> {
    let caller = session.caller();
    let shops = publishing::shops(caller.clone(), State(s.clone())).await?.0;
    let now = Utc::now();
    let shops = shops
        .into_iter()
        .map(|sh| {
            let token = match sh.token_expires_at {
                None => "does not expire".to_owned(),
                Some(at) if at <= now => "expired: reconnect".to_owned(),
                Some(at) if at - now < Duration::days(7) => format!("expires {}", at.format("%b %-d")),
                Some(at) => format!("valid until {}", at.format("%b %-d, %Y")),
            };
            ShopRow { s: sh, token }
        })
        .collect();
    let used = |table: &'static str, column: &'static str| {
        let pool = s.pool.clone();
        let tenant = caller.tenant.clone();
        async move {
            // Table and column names are constants of this function's callers.
            let sql = format!(
                "SELECT {column}, count(*) FROM {table} WHERE tenant = $1 AND {column} IS NOT NULL
                 GROUP BY {column} ORDER BY count(*) DESC"
            );
            sqlx::query_as::<_, (String, i64)>(sqlx::AssertSqlSafe(sql)).bind(tenant).fetch_all(&pool).await
        }
    };
    let describe = |rows: Vec<(String, i64)>, (one, many): (&str, &str), none: &str| -> (String, String) {
        if rows.is_empty() {
            return ("—".into(), none.into());
        }
        let names: Vec<_> = rows.iter().map(|(n, _)| n.clone()).collect();
        let total: i64 = rows.iter().map(|(_, c)| c).sum();
        (names.join(", "), format!("{total} {}", if total == 1 { one } else { many }))
    };
    let ideas = describe(used("ideas", "provider").await?, ("idea", "ideas"), "no ideas yet");
    let renderers = describe(used("designs", "renderer").await?, ("design", "designs"), "no designs yet");
    let sources =
        describe(used("source_refreshes", "source").await?, ("refresh", "refreshes"), "no source refreshed yet");
    let services = vec![
        ("Ideation", ideas.0, ideas.1),
        ("Design rendering", renderers.0, renderers.1),
        ("Trend sources", sources.0, sources.1),
    ];
    let linked: Vec<String> = sqlx::query_scalar("SELECT provider FROM user_identities WHERE user_id = $1")
        .bind(session.user_id)
        .fetch_all(&s.pool)
        .await?;
    let sign_in = s.providers.iter().map(|p| (p.name.clone(), p.label.clone(), linked.contains(&p.name))).collect();
    Ok(render(&IntegrationsPage { shell: Shell::load(&s, &session, "integrations").await?, shops, services, sign_in }))
}
