//! Analytics: sales, profit and orders over a period, best sellers, the
//! pipeline's output stage by stage, and recent runs.

use askama::Template;
use axum::extract::State;
use axum::response::Response;
use chrono::{Duration, Utc};

use super::views::money;
use super::{PageError, Person, Shell, render};
use crate::AppState;
use crate::extract::Query;
use crate::pagination::DEFAULT_LIMIT;
use crate::routes::analytics::{Period, window};
use pod_projections::read::Keyset;
use pod_projections::read::analytics::{self, Bucket, RunFilter, RunKind};

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
    let period = Period {
        from: Some(now - Duration::days(days)),
        to: Some(now),
        bucket: Some(if days > 90 { Bucket::Week } else { Bucket::Day }),
    };
    let summary = analytics::summary(&s.pool, &caller.tenant, window(&period, now)?).await?;
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
    let imports = RunFilter { kind: Some(RunKind::Imports) };
    let runs = analytics::runs(&s.pool, &caller.tenant, &imports, &Keyset::first(DEFAULT_LIMIT)).await?.rows;
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
