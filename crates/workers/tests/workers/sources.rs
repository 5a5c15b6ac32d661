use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use axum::Router;
use axum::http::StatusCode;
use axum::routing::get;
use chrono::{DateTime, Utc};
use pod_workers::config::TrendsSettings;
use pod_workers::pipeline::Pipeline;
use pod_workers::trends::TrendsWorker;
use pod_workers::trends::sources::{BreakerState, SourceKind, SourceSettings};

use crate::support::*;

const FEED: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<rss xmlns:ht="https://trends.google.com/trending/rss" version="2.0"><channel><title>Daily Search Trends</title>
<item><title>pickleball paddles</title><ht:approx_traffic>200,000+</ht:approx_traffic></item>
<item><title>ugly christmas sweater</title><ht:approx_traffic>20,000+</ht:approx_traffic></item>
<item><title>cat mom</title><ht:approx_traffic>5,000+</ht:approx_traffic></item>
</channel></rss>"#;

/// A local server: `/feed.xml` works, `/blocked.json` answers like a
/// captcha wall, `/broken.json` fails and counts how often it was asked.
async fn serve() -> (String, Arc<AtomicU32>) {
    let broken_hits = Arc::new(AtomicU32::new(0));
    let hits = broken_hits.clone();
    let app = Router::new()
        .route("/feed.xml", get(|| async { ([("content-type", "application/rss+xml")], FEED) }))
        .route(
            "/blocked.json",
            get(|| async { (StatusCode::TOO_MANY_REQUESTS, "<html>Are you a robot? Solve the CAPTCHA</html>") }),
        )
        .route(
            "/broken.json",
            get(move || {
                hits.fetch_add(1, Ordering::SeqCst);
                async { (StatusCode::INTERNAL_SERVER_ERROR, "boom") }
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}"), broken_hits)
}

fn source(name: &str, kind: SourceKind, url: String, feed_url: Option<String>) -> SourceSettings {
    SourceSettings {
        name: name.into(),
        kind,
        url,
        selectors: None,
        simple_selectors: None,
        next_selector: None,
        pages: 1,
        feed_url,
        refresh_secs: Some(60),
    }
}

fn settings(sources: Vec<SourceSettings>) -> TrendsSettings {
    TrendsSettings {
        tenant: "acme".into(),
        refresh_secs: 60,
        breaker_failures: 3,
        breaker_cooldown_secs: 900,
        host_interval_ms: 1,
        sources,
    }
}

fn t(secs: i64) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-27T12:00:00Z").unwrap().to_utc() + chrono::Duration::seconds(secs)
}

#[tokio::test]
async fn a_feed_is_read_and_a_blocked_source_falls_back_to_its_feed_once_per_window() {
    let env = TestNats::new().await;
    let (base, _) = serve().await;
    let pipeline = Arc::new(Pipeline::open(env.client.clone(), &env.ns).await.unwrap());
    let cfg = settings(vec![
        source("daily-rss", SourceKind::Feed, format!("{base}/feed.xml"), None),
        source("movers", SourceKind::Json, format!("{base}/blocked.json"), Some(format!("{base}/feed.xml"))),
    ]);
    let mut worker = TrendsWorker::new(pipeline.clone(), &cfg, None).unwrap();
    let audits = worker.refresh_due(t(5)).await.unwrap();
    assert_eq!(audits.len(), 2);
    let (rss, movers) = (&audits[0], &audits[1]);
    assert_eq!((rss.collected, rss.persisted, rss.blocked), (3, 3, 0), "{rss:#?}");
    assert_eq!(movers.blocked, 1, "{movers:#?}");
    assert_eq!(movers.used.as_deref(), Some(format!("fetch {base}/feed.xml").as_str()));
    assert_eq!((movers.collected, movers.persisted), (3, 3), "{movers:#?}");
    // Nothing is due again within the window.
    assert!(worker.refresh_due(t(30)).await.unwrap().is_empty());

    // A restarted worker refreshing the same window stores nothing twice.
    let mut restarted = TrendsWorker::new(pipeline.clone(), &cfg, None).unwrap();
    let again = restarted.refresh_due(t(40)).await.unwrap();
    assert_eq!(again.iter().map(|a| (a.persisted, a.duplicates)).collect::<Vec<_>>(), [(0, 3), (0, 3)]);
    // 2 sources × 3 keywords, each keyword one trend with its provenance,
    // and each of the 4 refreshes its audit.
    assert_eq!(env.stream_messages().await, 6 + 4);
    let trend = pipeline
        .trends
        .store()
        .load_fresh(&pod_events::AggregateId::derived(tenant(), "trend", "pickleball paddles"))
        .await
        .unwrap();
    assert_eq!(trend.aggregate.observations, 2);
    assert_eq!(trend.aggregate.niche, "hobbies");
}

#[tokio::test]
async fn a_broken_source_opens_its_circuit() {
    let env = TestNats::new().await;
    let (base, hits) = serve().await;
    let pipeline = Arc::new(Pipeline::open(env.client.clone(), &env.ns).await.unwrap());
    let cfg = settings(vec![source("flaky", SourceKind::Json, format!("{base}/broken.json"), None)]);
    let mut worker = TrendsWorker::new(pipeline, &cfg, None).unwrap();
    let mut states = Vec::new();
    for i in 0..3 {
        let audits = worker.refresh_due(t(60 * i)).await.unwrap();
        assert_eq!(audits.len(), 1);
        assert_eq!(audits[0].collected, 0);
        assert!(audits[0].errors[0].contains("HTTP 500"), "{:?}", audits[0].errors);
        states.push(audits[0].breaker);
    }
    assert_eq!(states, [BreakerState::Closed, BreakerState::Closed, BreakerState::Open]);
    // While open, the source is left alone…
    for i in 3..10 {
        assert!(worker.refresh_due(t(60 * i)).await.unwrap().is_empty());
    }
    assert_eq!(hits.load(Ordering::SeqCst), 3);
    // …until the cool-down has passed: one trial, which fails and re-opens it.
    let trial = worker.refresh_due(t(60 * 3 + 901)).await.unwrap();
    assert_eq!(trial.len(), 1);
    assert_eq!(trial[0].breaker, BreakerState::Open);
    assert_eq!(hits.load(Ordering::SeqCst), 4);
    // No observations; the audits of the 4 refreshes that ran.
    assert_eq!(env.stream_messages().await, 4);
    let _ = Duration::ZERO;
}
