//! Every tenant-scoped route, table-driven: refused without a token or with
//! a bad one, blind to another tenant's ids, and limited by role.

use axum::http::StatusCode;

use crate::support::Api;

/// Every `/api/v1` route, with `{trend}`, `{idea}`, `{listing}` for ids.
const ROUTES: &[(&str, &str)] = &[
    ("GET", "/api/v1/trends"),
    ("GET", "/api/v1/trends/{trend}"),
    ("GET", "/api/v1/trends/{trend}/interest"),
    ("GET", "/api/v1/trends/momentum"),
    ("POST", "/api/v1/trends/import"),
    ("GET", "/api/v1/trends/{trend}/seasonality"),
    ("POST", "/api/v1/trends/{trend}/ideas"),
    ("GET", "/api/v1/ideas"),
    ("GET", "/api/v1/ideas/{idea}"),
    ("POST", "/api/v1/ideas/{idea}/approve"),
    ("POST", "/api/v1/ideas/{idea}/reject"),
    ("POST", "/api/v1/ideas/{idea}/regenerate"),
    ("GET", "/api/v1/designs"),
    ("GET", "/api/v1/designs/{design}"),
    ("GET", "/api/v1/designs/{design}/artwork.png"),
    ("GET", "/api/v1/designs/{design}/preview.png"),
    ("POST", "/api/v1/designs/{design}/regenerate"),
    ("GET", "/api/v1/listings"),
    ("GET", "/api/v1/listings/{listing}"),
    ("GET", "/api/v1/listings.csv"),
    ("PATCH", "/api/v1/listings/{listing}"),
    ("POST", "/api/v1/listings/{listing}/approve"),
    ("GET", "/api/v1/listings/{listing}/revisions"),
    ("POST", "/api/v1/listings/{listing}/submit"),
    ("GET", "/api/v1/publish-queue"),
    ("GET", "/api/v1/shops"),
    ("GET", "/api/v1/shops/{shop}/listing-defaults"),
    ("PUT", "/api/v1/shops/{shop}/listing-defaults"),
    ("GET", "/api/v1/analytics/summary"),
    ("GET", "/api/v1/runs"),
    ("GET", "/api/v1/runs/{run}"),
    ("GET", "/api/v1/dead-letters"),
    ("POST", "/api/v1/dead-letters/{dlq}/retry"),
    ("GET", "/api/v1/feed"),
    ("GET", "/api/v1/feed/ws"),
    ("GET", "/api/v1/sources"),
    ("GET", "/api/v1/costs"),
];

/// Routes whose answer is a stream: only status and type are checked.
const STREAMS: &[&str] = &["/api/v1/feed"];
/// Routes that need a WebSocket handshake (live.rs connects to them for real).
const SOCKETS: &[&str] = &["/api/v1/feed/ws"];
/// Routes for owners alone, reads too (they ask a marketplace, within the
/// app's day every tenant shares); marketplaces.rs exercises them with a
/// shop connected, and another tenant's owner finding nothing there.
const OWNER_ONLY: &[&str] = &["/api/v1/shops/{shop}/listing-defaults"];

fn fill(api: &Api, route: &str) -> String {
    route
        .replace("{trend}", &api.seeded.acme_trends[0].to_string())
        .replace("{idea}", &api.seeded.acme_idea.to_string())
        .replace("{listing}", &api.seeded.acme_listing.to_string())
        .replace("{design}", &api.seeded.acme_design.to_string())
        .replace("{dlq}", &api.seeded.acme_dead_letter.to_string())
        .replace("{run}", &api.seeded.acme_run)
        .replace("{shop}", &uuid::Uuid::new_v4().to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_refuses_callers_without_a_valid_token() {
    let api = Api::new().await;
    let forged = format!("pod_{}_{}", uuid::Uuid::new_v4().simple(), "0".repeat(64));
    let wrong_secret = {
        let (head, _) = api.acme_editor.rsplit_once('_').unwrap();
        format!("{head}_{}", "f".repeat(64))
    };
    for (method, route) in ROUTES {
        let uri = fill(&api, route);
        for token in [None, Some("not-a-token"), Some(forged.as_str()), Some(wrong_secret.as_str())] {
            let (status, ct, body) = api.call(method, &uri, token, &[]).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{method} {uri} with {token:?}");
            assert_eq!(ct, "application/problem+json", "{method} {uri}");
            assert_eq!(body["status"], 401);
            assert!(body["detail"].as_str().is_some_and(|d| !d.is_empty()), "{body}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_tenants_ids_name_nothing() {
    let api = Api::new().await;
    for (method, route) in ROUTES {
        let uri = fill(&api, route);
        if SOCKETS.contains(route) {
            let (status, _) = api.head(method, &uri, Some(&api.beta_editor)).await;
            assert!(status.is_client_error() && status != StatusCode::UNAUTHORIZED, "{uri}: {status}");
            continue;
        }
        if STREAMS.contains(route) {
            let (status, ct) = api.head(method, &uri, Some(&api.beta_editor)).await;
            assert_eq!((status, ct.as_str()), (StatusCode::OK, "text/event-stream"), "{uri}");
            continue;
        }
        if route.ends_with(".csv") {
            let (status, _, text) = api.text(&uri, &api.beta_editor).await;
            assert_eq!(status, StatusCode::OK);
            assert!(!text.contains(&api.seeded.acme_listing.to_string()), "{uri} leaks acme: {text}");
            assert_eq!(text.lines().count(), 1, "beta has no listings: only the header");
            continue;
        }
        let (status, _, body) = api.call(method, &uri, Some(&api.beta_editor), &[]).await;
        if OWNER_ONLY.contains(route) {
            // An editor is refused before any id is looked up: nothing told.
            assert_eq!(status, StatusCode::FORBIDDEN, "{method} {uri} as beta's editor: {body}");
        } else if route.ends_with("/import") {
            assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "an empty list is refused: {body}");
        } else if route.contains('{') {
            assert_eq!(status, StatusCode::NOT_FOUND, "{method} {uri} as beta: {body}");
        } else if route.ends_with("/summary") {
            assert_eq!(status, StatusCode::OK, "{uri}");
            assert_eq!(body["totals"], serde_json::json!([]), "beta sold nothing: {body}");
            assert_eq!(body["funnel"]["ideas"], 0, "acme's idea is not beta's: {body}");
        } else {
            assert_eq!(status, StatusCode::OK, "{method} {uri}");
            let items = body["items"].as_array().or(body.as_array()).unwrap();
            assert!(
                items.iter().all(|i| {
                    let i = i.to_string();
                    !i.contains(&api.seeded.acme_trends[0].to_string()) && !i.contains(&api.seeded.acme_run)
                }),
                "{uri} leaks acme: {body}"
            );
        }
    }
    // And the other way round: beta's trend is not acme's.
    let uri = format!("/api/v1/trends/{}", api.seeded.beta_trend);
    assert_eq!(api.call("GET", &uri, Some(&api.acme_editor), &[]).await.0, StatusCode::NOT_FOUND);
    let (_, _, beta_list) = api.call("GET", "/api/v1/trends", Some(&api.beta_editor), &[]).await;
    assert_eq!(beta_list["items"].as_array().unwrap().len(), 1);
    // The idea stayed as it was: beta's approve touched nothing.
    let (_, _, idea) = api.call("GET", &fill(&api, "/api/v1/ideas/{idea}"), Some(&api.acme_viewer), &[]).await;
    assert_eq!(idea["status"], "screened");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn viewers_read_and_cannot_decide() {
    let api = Api::new().await;
    for (method, route) in ROUTES {
        let uri = fill(&api, route);
        let (status, ct) = api.head(method, &uri, Some(&api.acme_viewer)).await;
        if SOCKETS.contains(route) {
            assert!(status.is_client_error() && status != StatusCode::FORBIDDEN, "{uri}: {status}");
            continue;
        }
        if *method != "GET" || OWNER_ONLY.contains(route) {
            assert_eq!(status, StatusCode::FORBIDDEN, "{uri}");
            assert_eq!(ct, "application/problem+json");
        } else {
            assert_eq!(status, StatusCode::OK, "{uri}");
        }
    }
    let (status, ct) = api.head("GET", "/api/v1/nope", Some(&api.acme_viewer)).await;
    assert_eq!((status, ct.as_str()), (StatusCode::NOT_FOUND, "application/problem+json"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_describes_every_route_and_nothing_else() {
    let api = Api::new().await;
    let (status, _, doc) = api.call("GET", "/api/v1/openapi.json", None, &[]).await;
    assert_eq!(status, StatusCode::OK, "the document is public");
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"), "{}", doc["openapi"]);
    let template = |route: &str| {
        route
            .replace("{trend}", "{id}")
            .replace("{idea}", "{id}")
            .replace("{listing}", "{id}")
            .replace("{design}", "{id}")
            .replace("{dlq}", "{seq}")
            .replace("{run}", "{id}")
            .replace("{shop}", "{id}")
    };
    let mut documented = 0;
    for (_, ops) in doc["paths"].as_object().unwrap() {
        documented += ops.as_object().unwrap().keys().filter(|k| *k != "parameters").count();
    }
    for (method, route) in ROUTES {
        let op = &doc["paths"][template(route)][method.to_lowercase()];
        assert!(op.is_object(), "{method} {route} is not in the document");
        assert!(op["responses"]["401"].is_object(), "{method} {route} documents its 401");
        assert!(op["security"].is_array(), "{method} {route} names its security");
        // The shared answers are declared once (openapi.rs) and reach every
        // operation they apply to, each a problem document.
        let changes = *method != "GET";
        assert_eq!(
            op["responses"]["403"].is_object(),
            changes || OWNER_ONLY.contains(route),
            "{method} {route}: 403 exactly where it changes things or only owners read"
        );
        let takes_id = route.contains("/{");
        assert_eq!(
            op["responses"]["404"].is_object(),
            takes_id,
            "{method} {route}: 404 exactly where a path names a thing"
        );
        for (status, response) in op["responses"].as_object().unwrap() {
            if status.starts_with('4') || status.starts_with('5') {
                assert!(
                    response["content"]["application/problem+json"].is_object(),
                    "{method} {route}: {status} is a problem document: {response}"
                );
            }
        }
    }
    assert_eq!(documented, ROUTES.len(), "the document has exactly the routes of the table");
    for schema in ["Trend", "Idea", "Design", "Listing", "ProblemDetails", "Edit"] {
        assert!(doc["components"]["schemas"][schema].is_object(), "schema {schema}");
    }
    let schemes = &doc["components"]["securitySchemes"];
    assert_eq!(schemes["token"]["scheme"], "bearer");
    assert_eq!(schemes["session"]["in"], "cookie");

    let (status, headers, page) = api.send("GET", "/api/v1/docs", &[], "").await;
    assert_eq!(status, StatusCode::OK);
    assert!(headers["content-type"].to_str().unwrap().starts_with("text/html"));
    assert!(page.contains("/assets/swagger-ui-5.35.0-bundle.js"), "{page}");
    let (status, _, bundle) = api.send("GET", "/assets/swagger-ui-5.35.0-bundle.js", &[], "").await;
    assert_eq!(status, StatusCode::OK);
    assert!(bundle.len() > 1_000_000, "the vendored Swagger UI is served");
}
