//! Editing a listing: every field's error at once, in Etsy's words; an edit
//! made on an old revision is refused with the current one; a good edit is
//! scored and screened again and recorded as a revision.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use pod_events::domain::listing::Listing;
use pod_events::store::{JetStreamStore, StoreConfig};
use pod_events::{AggregateId, TenantId};
use serde_json::{Value, json};
use tower::ServiceExt;

use crate::support::Api;

async fn patch(api: &Api, token: &str, body: Value) -> (StatusCode, Value) {
    let uri = format!("/api/v1/listings/{}", api.seeded.acme_listing);
    let req = Request::patch(uri)
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))
        .unwrap();
    let resp = api.router.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edits_are_validated_field_by_field_screened_and_versioned() {
    let api = Api::new().await;
    // Two broken fields and a price: all three reported, each by name.
    let (status, body) = patch(
        &api,
        &api.acme_editor,
        json!({"title": "Mom & Dad & Me", "tags": ["cat mom", "cat mom!", "a tag that is far too long"], "price_cents": 0}),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let fields: Vec<&str> = body["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap()).collect();
    assert_eq!(fields, ["title", "tags[1]", "tags[2]", "price_cents"], "{body}");
    assert!(body["errors"][0]["message"].as_str().unwrap().contains("at most once"), "{body}");

    // Unknown fields are refused rather than ignored.
    let (status, _) = patch(&api, &api.acme_editor, json!({"titel": "typo"})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);

    // A viewer may not edit.
    let (status, _) = patch(&api, &api.acme_viewer, json!({"title": "Cat Mom Shirt"})).await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // A good edit on revision 0.
    let good = json!({"title": "Proud Cat Mom Shirt, Funny Cat Lover Gift", "tags": ["cat mom", "cat lover gift"], "expected_revisions": 0});
    let (status, body) = patch(&api, &api.acme_editor, good.clone()).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    // The same edit again, made on revision 0, is now stale.
    let (status, body) = patch(&api, &api.acme_editor, good).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["current_revisions"], 1, "{body}");

    // An edit on revision 1 before this API's read shows it: refused, not
    // screened against the older text.
    let (status, body) =
        patch(&api, &api.acme_editor, json!({"tags": ["cat mom", "hello kitty"], "expected_revisions": 1})).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(body["detail"].as_str().unwrap().contains("still being recorded"), "{body}");
    api.project().await;

    // A trademark slipped into a tag: recorded, and screened red.
    let (status, _) =
        patch(&api, &api.acme_editor, json!({"tags": ["cat mom", "hello kitty"], "expected_revisions": 1})).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let config = StoreConfig { namespace: api.ns.clone(), snapshot_every: 0, cache_capacity: 10 };
    let store = JetStreamStore::<Listing>::open(api.client.clone(), config).await.unwrap();
    let id = AggregateId::new(TenantId::parse("acme").unwrap(), api.seeded.acme_listing);
    let history = store.history(&id).await.unwrap();
    let revisions: Vec<&Value> =
        history.iter().filter(|e| e.event_type == "ListingRevised").map(|e| &e.payload).collect();
    assert_eq!(revisions.len(), 2);
    assert_eq!(revisions[0]["screening"]["verdict"], "green");
    assert!(revisions[0]["seo_score"].as_u64().unwrap() > 0);
    assert_eq!(revisions[1]["screening"]["verdict"], "red");
    assert_eq!(revisions[1]["screening"]["hits"][0]["term"], "Hello Kitty");
    // And a red listing cannot be approved by anyone.
    assert_eq!(store.load_fresh(&id).await.unwrap().aggregate.verdict, Some(pod_events::domain::idea::Verdict::Red));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listings_export_as_csv() {
    let api = Api::new().await;
    let (status, ct, text) = api.text("/api/v1/listings.csv", &api.acme_viewer).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(ct, "text/csv; charset=utf-8");
    let mut rd = csv::Reader::from_reader(text.as_bytes());
    let headers = rd.headers().unwrap().clone();
    assert_eq!(&headers[2], "title");
    let rows: Vec<csv::StringRecord> = rd.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 1);
    assert_eq!(&rows[0][0], api.seeded.acme_listing.to_string());
    assert_eq!(&rows[0][2], "Proud Cat Mom Shirt, Cat Mom Gift", "a comma inside a field survives quoting");
    assert_eq!(&rows[0][5], "19.99");
}
