//! Deciding on an idea through the API: a command through the aggregate,
//! answered 202 with a link to follow, idempotent by `Idempotency-Key`.

use axum::http::StatusCode;
use pod_events::domain::idea::Idea;
use pod_events::store::{JetStreamStore, StoreConfig};
use pod_events::{AggregateId, TenantId};

use crate::support::Api;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_editor_approves_once_however_often_the_request_is_sent() {
    let api = Api::new().await;
    let uri = format!("/api/v1/ideas/{}/approve", api.seeded.acme_idea);
    for _ in 0..3 {
        let (status, _, body) =
            api.call("POST", &uri, Some(&api.acme_editor), &[("idempotency-key", "approve-1")]).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{body}");
        assert_eq!(body["follow"], format!("/api/v1/ideas/{}", api.seeded.acme_idea));
    }
    let config = StoreConfig { namespace: api.ns.clone(), snapshot_every: 0, cache_capacity: 10 };
    let store = JetStreamStore::<Idea>::open(api.client.clone(), config).await.unwrap();
    let id = AggregateId::new(TenantId::parse("acme").unwrap(), api.seeded.acme_idea);
    let history = store.history(&id).await.unwrap();
    let approvals = history.iter().filter(|e| e.event_type == "IdeaApproved").count();
    assert_eq!(approvals, 1, "one approval for three requests with the same key");
    // The command's id derives from the key scoped to the tenant, the route
    // and the idea (not the raw key another shop could also send).
    let id = uuid::Uuid::parse_str(&history.last().unwrap().command_id).unwrap();
    assert_eq!(id.get_version_num(), 5);

    // Rejecting an approved idea is a conflict, said as a problem.
    let reject = format!("/api/v1/ideas/{}/reject", api.seeded.acme_idea);
    let (status, ct, body) = api.call("POST", &reject, Some(&api.acme_editor), &[]).await;
    assert_eq!((status, ct.as_str()), (StatusCode::CONFLICT, "application/problem+json"));
    assert!(body["detail"].as_str().unwrap().contains("already decided"), "{body}");

    // A body that is not a decision is named as such: 422, as every
    // command's body that does not read is (one extractor reads them all).
    let req = axum::http::Request::post(&reject)
        .header("authorization", format!("Bearer {}", api.acme_editor))
        .body(axum::body::Body::from("{\"why\": 1}"))
        .unwrap();
    let resp = tower::ServiceExt::oneshot(api.router.clone(), req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(resp.headers()["content-type"], "application/problem+json");
    let body = axum::body::to_bytes(resp.into_body(), 1 << 16).await.unwrap();
    let problem: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(problem["errors"][0]["field"], "body", "{problem}");

    // A key that is not a key.
    let (status, _, body) =
        api.call("POST", &reject, Some(&api.acme_editor), &[("idempotency-key", &"k".repeat(201))]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["errors"][0]["field"], "Idempotency-Key");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_used_up_quota_answers_402_and_says_which() {
    let api = Api::new().await;
    // acme has one idea and no approvals this month; its own limits are no
    // images, no approved listings and one idea.
    sqlx::query("UPDATE tenants SET images_quota = 0, listings_quota = 0, ideas_quota = 1 WHERE tenant = 'acme'")
        .execute(&api.pool)
        .await
        .unwrap();
    let approve = format!("/api/v1/ideas/{}/approve", api.seeded.acme_idea);
    let (status, ct, body) = api.call("POST", &approve, Some(&api.acme_editor), &[]).await;
    assert_eq!(status, StatusCode::PAYMENT_REQUIRED, "{body}");
    assert_eq!(ct, "application/problem+json");
    assert_eq!(
        (body["quota"].as_str(), body["limit"].as_i64(), body["used"].as_i64()),
        (Some("images"), Some(0), Some(0))
    );
    assert!(body["resets_at"].as_str().is_some_and(|r| r.ends_with("-01T00:00:00+00:00")), "{body}");
    let listing = format!("/api/v1/listings/{}/approve", api.seeded.acme_listing);
    let (status, _, body) = api.call("POST", &listing, Some(&api.acme_editor), &[]).await;
    assert_eq!((status, body["quota"].as_str()), (StatusCode::PAYMENT_REQUIRED, Some("listings")));
    let auth = format!("Bearer {}", api.acme_editor);
    let import = [("authorization", auth.as_str()), ("content-type", "text/csv")];
    let (status, _, body) = api.send("POST", "/api/v1/trends/import", &import, "keyword\naxolotl teacher\n").await;
    assert_eq!(status, StatusCode::PAYMENT_REQUIRED, "{body}");
    // Nothing happened: the idea still waits, another shop is not limited.
    api.project().await;
    let (_, _, idea) =
        api.call("GET", &format!("/api/v1/ideas/{}", api.seeded.acme_idea), Some(&api.acme_viewer), &[]).await;
    assert_eq!(idea["status"], "screened");
    let beta = format!("Bearer {}", api.beta_editor);
    let (status, _, _) = api
        .send(
            "POST",
            "/api/v1/trends/import",
            &[("authorization", beta.as_str()), ("content-type", "text/csv")],
            "keyword\nbeta thing\n",
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    // Raising the limit lets the approval through.
    sqlx::query("UPDATE tenants SET images_quota = NULL WHERE tenant = 'acme'").execute(&api.pool).await.unwrap();
    let (status, _, _) = api.call("POST", &approve, Some(&api.acme_editor), &[]).await;
    assert_eq!(status, StatusCode::ACCEPTED);
}

/// Approvals sent at the same moment, with room for two: exactly two go
/// through, however the requests interleave; a refused command gives its
/// room back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approvals_at_the_same_moment_cannot_together_pass_the_limit() {
    use pod_events::domain::idea::{IdeaCommand, IdeaGenerated, IdeaScreened, Verdict};
    let api = Api::new().await;
    let acme = TenantId::parse("acme").unwrap();
    let ideas = api.ideas().await;
    let mut ids = Vec::new();
    for (n, verdict) in [
        Verdict::Red,
        Verdict::Green,
        Verdict::Green,
        Verdict::Green,
        Verdict::Green,
        Verdict::Green,
        Verdict::Green,
        Verdict::Green,
    ]
    .into_iter()
    .enumerate()
    {
        let id = AggregateId::generate(acme.clone());
        let generated = IdeaGenerated {
            trend_id: api.seeded.acme_trends[0],
            phrase: format!("Cat Mom Idea {n}"),
            niche: "pets".into(),
            product_type: "t-shirt".into(),
            style: "classic".into(),
            audience: "cat owners".into(),
            tags: vec!["cat mom".into()],
            provider: "offline".into(),
            model: None,
            cost_micros: 0,
        };
        let screened = IdeaScreened { verdict, hits: vec![], index_version: "t".into() };
        for command in [IdeaCommand::Generate(generated.try_into().unwrap()), IdeaCommand::RecordScreening(screened)] {
            ideas.execute(&id, command, &pod_events::EventMeta::new_command()).await.unwrap();
        }
        ids.push(id.id);
    }
    api.project().await;
    sqlx::query("UPDATE tenants SET images_quota = 2 WHERE tenant = 'acme'").execute(&api.pool).await.unwrap();
    // A refused approval (red) holds nothing afterwards.
    let (status, _, body) =
        api.call("POST", &format!("/api/v1/ideas/{}/approve", ids[0]), Some(&api.acme_editor), &[]).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let approvals = ids[1..].iter().map(|id| {
        let uri = format!("/api/v1/ideas/{id}/approve");
        let api = &api;
        async move { api.call("POST", &uri, Some(&api.acme_editor), &[]).await.0 }
    });
    let statuses = futures::future::join_all(approvals).await;
    let accepted = statuses.iter().filter(|s| **s == StatusCode::ACCEPTED).count();
    let refused = statuses.iter().filter(|s| **s == StatusCode::PAYMENT_REQUIRED).count();
    assert_eq!((accepted, refused), (2, 5), "{statuses:?}");
    // Once the read model shows them, they are counted there, not twice.
    api.project().await;
    let approved: i64 = sqlx::query_scalar("SELECT count(*) FROM ideas WHERE tenant = 'acme' AND status = 'approved'")
        .fetch_one(&api.pool)
        .await
        .unwrap();
    assert_eq!(approved, 2);
    sqlx::query("UPDATE tenants SET images_quota = 3 WHERE tenant = 'acme'").execute(&api.pool).await.unwrap();
    let rest: Vec<_> = ids[1..].to_vec();
    let mut more = 0;
    for id in rest {
        let (status, _, _) =
            api.call("POST", &format!("/api/v1/ideas/{id}/approve"), Some(&api.acme_editor), &[]).await;
        if status == StatusCode::ACCEPTED {
            more += 1;
        }
    }
    assert_eq!(more, 1, "a limit of 3 with 2 used leaves room for exactly one more");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_continues_the_callers_trace_and_a_malformed_id_is_a_bad_request() {
    let api = Api::new().await;
    let trace = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let uri = format!("/api/v1/ideas/{}/approve", api.seeded.acme_idea);
    let (status, _, body) = api.call("POST", &uri, Some(&api.acme_editor), &[("traceparent", trace)]).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let approved = api.log().await.into_iter().find(|e| e.event_type == "IdeaApproved").expect("the approval");
    assert_eq!(approved.traceparent.as_deref(), Some(trace), "the event keeps the request's trace");

    // An id that is not one: 400 naming it, for reads and commands alike.
    for (method, uri) in [("GET", "/api/v1/ideas/not-an-id"), ("POST", "/api/v1/ideas/not-an-id/approve")] {
        let (status, ct, body) = api.call(method, uri, Some(&api.acme_editor), &[]).await;
        assert_eq!((status, ct.as_str()), (StatusCode::BAD_REQUEST, "application/problem+json"), "{uri}: {body}");
        assert_eq!(body["errors"][0]["field"], "id", "{uri}: {body}");
    }
    // Another shop's idea, by its real id: not here.
    let (status, _, body) = api.call("POST", &uri, Some(&api.beta_editor), &[]).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
}
