//! Dead letters and the live feed, per tenant.

use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use futures::StreamExt;
use pod_events::domain::text::RejectReason;
use pod_events::domain::trend::{Trend, TrendCommand};
use pod_events::store::{CommandBus, JetStreamStore, StoreConfig};
use pod_events::{AggregateId, EventMeta, TenantId};
use tower::ServiceExt;

use crate::support::Api;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_letters_are_listed_and_retried_by_their_tenant_only() {
    let api = Api::new().await;
    let (status, _, list) = api.call("GET", "/api/v1/dead-letters", Some(&api.acme_viewer), &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list.as_array().unwrap().len(), 1, "{list}");
    assert_eq!(list[0]["worker"], "ideation");
    assert_eq!(list[0]["error"], "provider is down");
    let (_, _, theirs) = api.call("GET", "/api/v1/dead-letters", Some(&api.beta_editor), &[]).await;
    assert_eq!(theirs, serde_json::json!([]));
    let retry = format!("/api/v1/dead-letters/{}/retry", api.seeded.acme_dead_letter);
    assert_eq!(api.call("POST", &retry, Some(&api.beta_editor), &[]).await.0, StatusCode::NOT_FOUND);
    let (status, _, body) = api.call("POST", &retry, Some(&api.acme_editor), &[]).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let (_, _, after) = api.call("GET", "/api/v1/dead-letters", Some(&api.acme_viewer), &[]).await;
    assert_eq!(after, serde_json::json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_feed_streams_the_tenants_events_and_no_one_elses() {
    let api = Api::new().await;
    let req = Request::get("/api/v1/feed")
        .header("authorization", format!("Bearer {}", api.acme_viewer))
        .body(Body::empty())
        .unwrap();
    let resp = api.router.clone().oneshot(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let mut body = resp.into_body().into_data_stream();
    // Let the subscription reach the server before publishing.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let config = StoreConfig { namespace: api.ns.clone(), snapshot_every: 0, cache_capacity: 10 };
    let trends = CommandBus::new(JetStreamStore::<Trend>::open(api.client.clone(), config).await.unwrap(), ());
    for (tenant, kw) in [("beta", "beta only"), ("acme", "cat mom")] {
        let id = AggregateId::derived(TenantId::parse(tenant).unwrap(), "trend", kw);
        trends
            .execute(
                &id,
                TrendCommand::Retire { reason: RejectReason::parse(&format!("{tenant} retires")).unwrap() },
                &EventMeta::new_command(),
            )
            .await
            .ok();
        let observe = TrendCommand::Observe {
            keyword: kw.into(),
            niche: "pets".into(),
            product_types: vec![],
            observation: pod_events::domain::trend::Observation {
                source: "live".into(),
                observed_at: chrono::Utc::now(),
                rank: None,
                volume: None,
                score: 42.0,
                estimated: false,
                confidence: 0.5,
            },
        };
        if tenant == "beta" {
            trends.execute(&id, observe, &EventMeta::new_command()).await.unwrap();
        }
    }
    // acme's trend "cat mom" was observed in the seed; retiring it is acme's event.
    let mut text = String::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !text.contains("TrendRetired") && tokio::time::Instant::now() < deadline {
        if let Ok(Some(Ok(chunk))) = tokio::time::timeout(Duration::from_millis(500), body.next()).await {
            text.push_str(&String::from_utf8_lossy(&chunk));
        }
    }
    assert!(text.contains("event: TrendRetired"), "{text}");
    assert!(text.contains("acme retires"), "{text}");
    assert!(!text.contains("beta"), "another tenant's events never reach the feed: {text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sources_and_costs_are_the_tenants_own() {
    use pod_events::domain::budget::{Budget, BudgetCommand};
    use pod_events::domain::source::{SourceCommand, SourceRefreshed, TrendSource};
    let api = Api::new().await;
    let config = StoreConfig { namespace: api.ns.clone(), snapshot_every: 0, cache_capacity: 10 };
    let sources =
        CommandBus::new(JetStreamStore::<TrendSource>::open(api.client.clone(), config.clone()).await.unwrap(), ());
    let budgets = CommandBus::new(JetStreamStore::<Budget>::open(api.client.clone(), config).await.unwrap(), ());
    for (tenant, persisted) in [("acme", 3u64), ("acme", 5), ("beta", 7)] {
        let t = TenantId::parse(tenant).unwrap();
        let refreshed = SourceRefreshed {
            source: "daily-rss".into(),
            at: chrono::Utc::now(),
            used: Some("fetch http://x/rss".into()),
            collected: persisted,
            persisted,
            duplicates: 0,
            failed: 0,
            blocked: 0,
            breaker: "closed".into(),
            errors: vec![],
        };
        let id = AggregateId::derived(t.clone(), "source", "daily-rss");
        sources.execute(&id, SourceCommand::RecordRefresh(refreshed), &EventMeta::new_command()).await.unwrap();
        let charge = BudgetCommand::Charge {
            provider: "openai".into(),
            what: "chat".into(),
            cost_micros: persisted * 1000,
            limit_micros: 0,
        };
        budgets
            .execute(&AggregateId::derived(t, "budget", "2026-11"), charge, &EventMeta::new_command())
            .await
            .unwrap();
    }
    api.project().await;
    let (_, _, acme_sources) = api.call("GET", "/api/v1/sources", Some(&api.acme_viewer), &[]).await;
    let list = acme_sources.as_array().unwrap();
    assert_eq!(list.len(), 1, "the latest refresh per source: {acme_sources}");
    assert_eq!(list[0]["persisted"], 5);
    let (_, _, acme_costs) = api.call("GET", "/api/v1/costs", Some(&api.acme_viewer), &[]).await;
    assert_eq!(acme_costs[0]["total_micros"], 8000, "{acme_costs}");
    assert_eq!(acme_costs[0]["calls"], 2);
    let (_, _, beta_costs) = api.call("GET", "/api/v1/costs", Some(&api.beta_editor), &[]).await;
    assert_eq!(beta_costs[0]["total_micros"], 7000, "{beta_costs}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_websocket_feed_carries_the_tenants_events_and_refuses_other_sites() {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    use tokio_tungstenite::tungstenite::http::HeaderValue;
    let api = Api::new().await;
    let (base, server) = api.serve().await;
    let url = format!("{}/api/v1/feed/ws", base.replace("http://", "ws://"));
    let connect = |auth: (&'static str, String), origin: Option<&'static str>| {
        let mut req = url.as_str().into_client_request().unwrap();
        req.headers_mut().insert(auth.0, HeaderValue::from_str(&auth.1).unwrap());
        if let Some(o) = origin {
            req.headers_mut().insert("origin", HeaderValue::from_static(o));
        }
        tokio_tungstenite::connect_async(req)
    };
    let (mut acme, _) = connect(("authorization", format!("Bearer {}", api.acme_viewer)), None).await.unwrap();
    let (mut beta, _) = connect(("authorization", format!("Bearer {}", api.beta_editor)), None).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let trend = api.observe_trend("axolotl teacher").await;

    let text = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match acme.next().await.unwrap().unwrap() {
                tokio_tungstenite::tungstenite::Message::Text(t) => return t.to_string(),
                _ => continue, // pings
            }
        }
    })
    .await
    .unwrap();
    let frame: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(frame["event_type"], "TrendObserved");
    assert_eq!(frame["aggregate_id"], trend.to_string());
    assert_eq!(frame["payload"]["keyword"], "axolotl teacher");
    let beta_saw = tokio::time::timeout(Duration::from_millis(800), async {
        loop {
            if let Some(Ok(tokio_tungstenite::tungstenite::Message::Text(t))) = beta.next().await {
                return t.to_string();
            }
        }
    })
    .await;
    assert!(beta_saw.is_err(), "beta's socket carries none of acme's events: {beta_saw:?}");

    // A browser session from another site is refused; from this site it connects.
    let ana = api.person("acme", pod_api::auth::Role::Viewer).await;
    let refused = connect(("cookie", ana.cookie.clone()), Some("https://evil.example")).await;
    match refused {
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => assert_eq!(resp.status(), 403),
        other => panic!("expected 403, got {other:?}"),
    }
    let host = base.trim_start_matches("http://").to_owned();
    let mut req = url.as_str().into_client_request().unwrap();
    req.headers_mut().insert("cookie", HeaderValue::from_str(&ana.cookie).unwrap());
    req.headers_mut().insert("origin", HeaderValue::from_str(&format!("http://{host}")).unwrap());
    assert!(tokio_tungstenite::connect_async(req).await.is_ok(), "the dashboard's own origin connects");
    let unauthenticated = url.as_str().into_client_request().unwrap();
    match tokio_tungstenite::connect_async(unauthenticated).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => assert_eq!(resp.status(), 401),
        other => panic!("expected 401, got {other:?}"),
    }
    server.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_feed_ends_when_its_token_is_revoked_and_a_caller_holds_only_so_many() {
    let mut api = Api::new().await;
    api.state = api.state.clone().with_feed_limits(2, Duration::from_millis(200));
    api.router = pod_api::router(api.state.clone());
    let open = |token: String| {
        let router = api.router.clone();
        async move {
            let req =
                Request::get("/api/v1/feed").header("authorization", format!("Bearer {token}")).body(Body::empty());
            router.oneshot(req.unwrap()).await.unwrap()
        }
    };
    let first = open(api.acme_viewer.clone()).await;
    let second = open(api.acme_viewer.clone()).await;
    assert_eq!((first.status(), second.status()), (StatusCode::OK, StatusCode::OK));
    let third = open(api.acme_viewer.clone()).await;
    assert_eq!(third.status(), StatusCode::TOO_MANY_REQUESTS, "a third feed for the same token");
    assert_eq!(open(api.acme_editor.clone()).await.status(), StatusCode::OK, "another caller has its own share");

    // Revoked: the open feeds end at the next check, and their places are given back.
    let token_id: uuid::Uuid = api.acme_viewer.split('_').nth(1).unwrap().parse().unwrap();
    sqlx::query("UPDATE api_tokens SET revoked_at = now() WHERE token_id = $1")
        .bind(token_id)
        .execute(&api.pool)
        .await
        .unwrap();
    let mut body = first.into_body().into_data_stream();
    let ended = tokio::time::timeout(Duration::from_secs(5), async {
        while let Some(chunk) = body.next().await {
            if chunk.is_err() {
                break;
            }
        }
    })
    .await;
    assert!(ended.is_ok(), "the revoked token's feed is still open");
    drop(second);
    let again = open(api.acme_viewer.clone()).await;
    assert_eq!(again.status(), StatusCode::UNAUTHORIZED, "a revoked token opens nothing");
}
