//! The page scraper in real headless Chromium (Debian's) against fixture
//! pages served on 127.0.0.1: a normal paged list, a captcha wall that
//! falls back to the source's feed, and a broken page whose circuit opens.

use std::sync::Arc;

use axum::Router;
use axum::extract::Query;
use axum::http::StatusCode;
use axum::response::Html;
use axum::routing::get;
use chrono::{DateTime, Utc};
use pod_workers::config::TrendsSettings;
use pod_workers::pipeline::Pipeline;
use pod_workers::trends::TrendsWorker;
use pod_workers::trends::browser::{ChromiumScraper, DEBIAN_CHROMIUM};
use pod_workers::trends::sources::{BreakerState, PageScraper, Selectors, SourceKind, SourceSettings};

use crate::support::*;

const FEED: &str = r#"<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>
<item><title>teacher life</title></item><item><title>plant mom</title></item></channel></rss>"#;

#[derive(serde::Deserialize)]
struct Page {
    page: Option<u32>,
}

/// Two pages of movers; items are rendered by a script, so only a real
/// browser sees them.
async fn movers(Query(p): Query<Page>) -> Html<String> {
    let (items, next) = match p.page.unwrap_or(1) {
        1 => (vec![("cat mom", 1), ("dog dad", 2)], r#"<a id="next" href="/movers?page=2">Next</a>"#),
        _ => (vec![("nurse life", 3)], ""),
    };
    let data = serde_json::to_string(&items).unwrap();
    Html(format!(
        r#"<html><body><ul id="list"></ul>{next}
<script>
  for (const [kw, rank] of {data}) {{
    const li = document.createElement('li'); li.className = 'mover';
    li.innerHTML = '<span class="rank">#' + rank + '</span> <span class="kw">' + kw + '</span>';
    document.getElementById('list').appendChild(li);
  }}
</script></body></html>"#
    ))
}

async fn serve() -> String {
    let app = Router::new()
        .route("/movers", get(movers))
        .route(
            "/wall",
            get(|| async { Html("<html><body><h1>Are you a robot?</h1><p>Solve the CAPTCHA</p></body></html>") }),
        )
        .route("/broken", get(|| async { (StatusCode::OK, Html("<html><body><p>No list today</p></body></html>")) }))
        .route("/feed.xml", get(|| async { ([("content-type", "application/rss+xml")], FEED) }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

fn chromium() -> Arc<dyn PageScraper> {
    Arc::new(
        ChromiumScraper::new(DEBIAN_CHROMIUM).unwrap_or_else(|e| {
            panic!("{e}. Install it with `scripts/services.sh` (it runs apt-get install chromium).")
        }),
    )
}

fn page_source(name: &str, url: String, feed: Option<String>) -> SourceSettings {
    SourceSettings {
        name: name.into(),
        kind: SourceKind::Page,
        url,
        selectors: Some(Selectors { item: "li.mover".into(), keyword: Some(".kw".into()), rank: Some(".rank".into()) }),
        simple_selectors: Some(Selectors { item: "li".into(), keyword: None, rank: None }),
        next_selector: Some("#next".into()),
        pages: 3,
        feed_url: feed,
        refresh_secs: Some(60),
    }
}

fn t(secs: i64) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-27T12:00:00Z").unwrap().to_utc() + chrono::Duration::seconds(secs)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_reads_a_paged_list_and_a_captcha_wall_falls_back_to_the_feed() {
    let env = TestNats::new().await;
    let base = serve().await;
    let scraper = chromium();
    // The scraper alone: both pages, ranks read from the page.
    let sel = Selectors { item: "li.mover".into(), keyword: Some(".kw".into()), rank: Some(".rank".into()) };
    let items = scraper.scrape(&format!("{base}/movers"), &sel, Some("#next"), 3).await.unwrap();
    assert_eq!(items, [("cat mom".into(), Some(1)), ("dog dad".into(), Some(2)), ("nurse life".into(), Some(3))]);

    let pipeline = Arc::new(Pipeline::open(env.client.clone(), &env.ns).await.unwrap());
    let cfg = TrendsSettings {
        tenant: "acme".into(),
        host_interval_ms: 1,
        sources: vec![
            page_source("movers", format!("{base}/movers"), None),
            page_source("walled", format!("{base}/wall"), Some(format!("{base}/feed.xml"))),
        ],
        ..Default::default()
    };
    let mut worker = TrendsWorker::new(pipeline, &cfg, Some(scraper)).unwrap();
    let audits = worker.refresh_due(t(0)).await.unwrap();
    let (movers, walled) = (&audits[0], &audits[1]);
    assert_eq!((movers.collected, movers.persisted, movers.blocked), (3, 3, 0), "{movers:#?}");
    assert!(movers.used.as_deref().unwrap().contains("li.mover"), "{movers:#?}");
    // Both selector steps hit the wall; the feed delivers.
    assert_eq!(walled.blocked, 2, "{walled:#?}");
    assert_eq!(walled.used.as_deref(), Some(format!("fetch {base}/feed.xml").as_str()));
    assert_eq!((walled.collected, walled.persisted), (2, 2));
    // 5 observations and the 2 refresh audits.
    assert_eq!(env.stream_messages().await, 5 + 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_that_yields_nothing_opens_the_circuit() {
    let env = TestNats::new().await;
    let base = serve().await;
    let pipeline = Arc::new(Pipeline::open(env.client.clone(), &env.ns).await.unwrap());
    let cfg = TrendsSettings {
        tenant: "acme".into(),
        host_interval_ms: 1,
        breaker_failures: 2,
        sources: vec![page_source("broken", format!("{base}/broken"), None)],
        ..Default::default()
    };
    let mut worker = TrendsWorker::new(pipeline, &cfg, Some(chromium())).unwrap();
    let first = worker.refresh_due(t(0)).await.unwrap();
    assert_eq!(first[0].collected, 0);
    assert_eq!(first[0].errors.len(), 2, "both selector steps failed: {:?}", first[0].errors);
    assert!(first[0].errors[0].contains("matched nothing"), "{:?}", first[0].errors);
    let second = worker.refresh_due(t(60)).await.unwrap();
    assert_eq!(second[0].breaker, BreakerState::Open);
    assert!(worker.refresh_due(t(120)).await.unwrap().is_empty(), "an open circuit is left alone");
}
