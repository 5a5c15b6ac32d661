//! Hostile input: NUL and other control characters, bidi overrides, lone
//! surrogates (as JSON escapes, and as broken UTF-8 in forms), 100 kB
//! strings and emoji floods, through every text input of the API and the
//! dashboard's forms. None may answer 5xx, none may reach the log (so no
//! projection halts or parks), and a normal command afterwards still
//! reaches the read model.

use axum::http::StatusCode;
use pod_api::auth::Role;

use crate::support::Api;

/// Hostile texts as JSON string literals (escapes included, as a client
/// would send them), with a name for messages.
fn hostile_json() -> Vec<(&'static str, String)> {
    vec![
        ("nul", r#""bad\u0000idea""#.into()),
        ("bell", r#""ring\u0007""#.into()),
        ("escape", r#""\u001b[31mred""#.into()),
        ("bidi override", "\"evil\u{202E}txt\"".into()),
        ("lone surrogate", r#""x\ud800y""#.into()),
        ("100 kB", format!("\"{}\"", "x".repeat(100_000))),
        ("emoji flood", format!("\"{}\"", "🐱".repeat(30_000))),
    ]
}

/// The same, form-encoded (broken UTF-8 where JSON has a lone surrogate).
fn hostile_form() -> Vec<(&'static str, String)> {
    vec![
        ("nul", "bad%00idea".into()),
        ("bell", "ring%07".into()),
        ("bidi override", "evil%E2%80%AEtxt".into()),
        ("lone surrogate", "x%ED%A0%80y".into()),
        ("100 kB", "x".repeat(100_000)),
        ("emoji flood", "%F0%9F%90%B1".repeat(30_000)),
    ]
}

fn refused(status: StatusCode) -> bool {
    status.is_client_error()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_text_is_refused_at_every_edge_and_never_reaches_the_log() {
    let api = Api::new().await;
    let log_before = api.log().await.len();
    let bearer = format!("Bearer {}", api.acme_editor);
    let json = [("authorization", bearer.as_str()), ("content-type", "application/json")];
    let csv = [("authorization", bearer.as_str()), ("content-type", "text/csv")];
    let s = &api.seeded;
    let mut seen = Vec::new();

    for (name, text) in hostile_json() {
        let bodies = [
            ("PATCH", format!("/api/v1/listings/{}", s.acme_listing), format!(r#"{{"title": {text}}}"#)),
            ("PATCH", format!("/api/v1/listings/{}", s.acme_listing), format!(r#"{{"description": {text}}}"#)),
            ("PATCH", format!("/api/v1/listings/{}", s.acme_listing), format!(r#"{{"tags": ["ok", {text}]}}"#)),
            ("POST", format!("/api/v1/ideas/{}/reject", s.acme_idea), format!(r#"{{"reason": {text}}}"#)),
            ("POST", format!("/api/v1/designs/{}/regenerate", s.acme_design), format!(r#"{{"layout": {text}}}"#)),
            ("POST", "/api/v1/trends/import?format=json".into(), format!(r#"[{{"keyword": {text}}}]"#)),
            ("POST", "/api/v1/trends/import?format=json".into(), format!(r#"[{{"keyword": "ok", "source": {text}}}]"#)),
        ];
        for (method, uri, body) in bodies {
            let (status, headers, answer) = api.send(method, &uri, &json, body).await;
            assert!(refused(status), "{name} via {method} {uri}: {status} {answer:.300}");
            assert_eq!(headers["content-type"], "application/problem+json", "{name} via {uri}");
            seen.push(status);
        }
        // The same text as a CSV cell (its JSON escapes decoded).
        if let Ok(raw) = serde_json::from_str::<String>(&text) {
            let list = format!("keyword\n\"{}\"\n", raw.replace('"', "\"\""));
            let (status, _, answer) = api.send("POST", "/api/v1/trends/import", &csv, list).await;
            assert!(refused(status), "{name} as a CSV keyword: {status} {answer:.300}");
        }
    }

    // Query parameters and path segments.
    for raw in ["%00", "%07", "%E2%80%AE", "%ED%A0%80", &"x".repeat(10_000)] {
        for uri in [
            format!("/api/v1/ideas?status={raw}"),
            format!("/api/v1/ideas?verdict={raw}"),
            format!("/api/v1/designs?status={raw}"),
            format!("/api/v1/listings?status={raw}"),
            format!("/api/v1/ideas?cursor={raw}"),
            format!("/api/v1/runs/{raw}"),
            format!("/api/v1/runs?cursor={raw}"),
            format!("/api/v1/publish-queue?state={raw}"),
            format!("/api/v1/analytics/summary?from={raw}"),
            format!("/api/v1/trends/import?source={raw}"),
        ] {
            let method = if uri.contains("/import") { "POST" } else { "GET" };
            let (status, headers, answer) = api.send(method, &uri, &csv, "keyword\ncat mom\n").await;
            assert!(refused(status), "{uri:.120}: {status} {answer:.300}");
            assert_eq!(headers["content-type"], "application/problem+json", "{uri:.120}");
        }
    }
    // Dates PostgreSQL cannot hold.
    for uri in [
        "/api/v1/analytics/summary?from=0001-01-01T00:00:00Z&to=0002-01-01T00:00:00Z",
        "/api/v1/analytics/summary?to=9999-12-31T00:00:00Z",
    ] {
        let (status, _, answer) = api.send("GET", uri, &csv, "").await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{uri}: {answer}");
    }

    // The dashboard's forms, as a signed-in editor.
    let ana = api.person("acme", Role::Editor).await;
    let form = [
        ("cookie", ana.cookie.as_str()),
        ("x-csrf-token", ana.csrf.as_str()),
        ("content-type", "application/x-www-form-urlencoded"),
    ];
    for (name, text) in hostile_form() {
        let posts = [
            (format!("/ideas/{}/reject", s.acme_idea), format!("reason={text}")),
            (format!("/listings/{}", s.acme_listing), format!("title={text}&description=Soft+tee&price=24.99")),
            (format!("/listings/{}", s.acme_listing), format!("title=Cat+Mom+Shirt&description={text}&price=24.99")),
            (format!("/listings/{}", s.acme_listing), format!("title=Cat+Mom+Shirt&tags={text}&price=24.99")),
            ("/trends/import".into(), format!("keywords={text}")),
        ];
        for (uri, body) in posts {
            let (status, _, page) = api.send("POST", &uri, &form, body).await;
            assert!(!status.is_server_error(), "{name} via {uri}: {status}");
            assert!(
                page.contains("outcome err") || page.contains("error") || refused(status),
                "{name} via {uri} was not refused: {status} {page:.400}"
            );
        }
    }
    assert!(!seen.is_empty());

    // Nothing reached the log; the read models are as they were and none halts.
    assert_eq!(api.log().await.len(), log_before, "hostile input reached the event log");
    api.project().await;
    assert!(pod_projections::parked::list(&api.pool, None, None, 10).await.unwrap().is_empty());

    // A normal command afterwards still reaches the read model.
    let uri = format!("/api/v1/ideas/{}/reject", s.acme_idea);
    let (status, _, answer) = api.send("POST", &uri, &json, r#"{"reason": "too close to a brand"}"#).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    api.project().await;
    let (_, _, idea) = api.call("GET", &format!("/api/v1/ideas/{}", s.acme_idea), Some(&api.acme_viewer), &[]).await;
    assert_eq!(idea["status"], "rejected", "{idea}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_over_the_limit_and_a_path_that_is_not_utf8_answer_problems() {
    let api = Api::new().await;
    let bearer = format!("Bearer {}", api.acme_editor);
    let headers = [("authorization", bearer.as_str()), ("content-type", "text/csv")];
    let big = format!("keyword\n{}", "cat mom\n".repeat(200_000));
    let (status, h, body) = api.send("POST", "/api/v1/trends/import", &headers, big).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body:.200}");
    assert_eq!(h["content-type"], "application/problem+json");
    let problem: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(problem["status"], 413);

    let (status, h, body) = api.send("GET", "/api/v1/ideas/%FF%FE", &headers, "").await;
    assert!(refused(status), "{status} {body}");
    assert_eq!(h["content-type"], "application/problem+json", "{body}");
    // Pages keep their HTML.
    let (_, h, _) = api.send("GET", "/no-such-page", &[("accept", "text/html")], "").await;
    assert!(h["content-type"].to_str().unwrap().starts_with("text/html"));
}
