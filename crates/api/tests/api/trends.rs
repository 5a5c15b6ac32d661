//! Importing trend lists: through the API as a file, through the dashboard
//! as typed keywords; once per list, into the caller's shop only.

use crate::support::Api;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trend_list_is_imported_once_into_the_callers_shop() {
    let api = Api::new().await;
    let list = "keyword,score\naxolotl teacher,71\nretro camping,64\n";
    let auth = format!("Bearer {}", api.acme_editor);
    let headers = [("authorization", auth.as_str()), ("content-type", "text/csv")];
    let (status, h, body) = api.send("POST", "/api/v1/trends/import?source=my-research", &headers, list).await;
    assert_eq!(status, axum::http::StatusCode::ACCEPTED, "{body}");
    assert_eq!(h["location"], "/api/v1/trends");
    let report: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!((report["keywords"].as_u64(), report["persisted"].as_u64()), (Some(2), Some(2)), "{report}");
    let (_, _, again) = api.send("POST", "/api/v1/trends/import?source=my-research", &headers, list).await;
    let again: serde_json::Value = serde_json::from_str(&again).unwrap();
    assert_eq!((again["persisted"].as_u64(), again["duplicates"].as_u64()), (Some(0), Some(2)), "{again}");

    api.project().await;
    let (_, _, trends) = api.call("GET", "/api/v1/trends?limit=200", Some(&api.acme_viewer), &[]).await;
    let keywords: Vec<&str> =
        trends["items"].as_array().unwrap().iter().filter_map(|t| t["keyword"].as_str()).collect();
    assert!(keywords.contains(&"axolotl teacher") && keywords.contains(&"retro camping"), "{keywords:?}");
    let (_, _, beta) = api.call("GET", "/api/v1/trends", Some(&api.beta_editor), &[]).await;
    assert!(!beta.to_string().contains("axolotl"), "beta does not see acme's import");

    // Bad rows are named; a viewer cannot import.
    let bad = "keyword,score\ncat mom,500\n";
    let (status, _, body) = api.send("POST", "/api/v1/trends/import", &headers, bad).await;
    assert_eq!(status, axum::http::StatusCode::UNPROCESSABLE_ENTITY);
    let problem: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(problem["errors"][0]["field"], "row 2: score", "{problem}");
    let (status, _, _) = api.send("POST", "/api/v1/trends/import?format=yaml", &headers, list).await;
    assert_eq!(status, axum::http::StatusCode::BAD_REQUEST);
    let viewer = format!("Bearer {}", api.acme_viewer);
    let (status, _, _) = api.send("POST", "/api/v1/trends/import", &[("authorization", viewer.as_str())], list).await;
    assert_eq!(status, axum::http::StatusCode::FORBIDDEN);

    // Typed keywords from the dashboard take the same path.
    let ana = api.person("acme", pod_api::auth::Role::Editor).await;
    let form = [
        ("cookie", ana.cookie.as_str()),
        ("x-csrf-token", ana.csrf.as_str()),
        ("content-type", "application/x-www-form-urlencoded"),
    ];
    let (_, _, fragment) =
        api.send("POST", "/trends/import", &form, "keywords=pickleball+grandma%0A%0Aaxolotl+teacher").await;
    assert!(fragment.contains("outcome ok") && fragment.contains("Imported 2 trends"), "{fragment}");
    let (_, _, fragment) = api.send("POST", "/trends/import", &form, "keywords=+%0A").await;
    assert!(fragment.contains("outcome err") && fragment.contains("at least one keyword"), "{fragment}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_shop_importing_the_same_list_gets_its_own_trends() {
    let api = Api::new().await;
    let list = "keyword,score\naxolotl teacher,71\nretro camping,64\n";
    let mut reports = Vec::new();
    for token in [&api.acme_editor, &api.beta_editor] {
        let auth = format!("Bearer {token}");
        let headers = [("authorization", auth.as_str()), ("content-type", "text/csv")];
        let (status, _, body) = api.send("POST", "/api/v1/trends/import", &headers, list).await;
        assert_eq!(status, axum::http::StatusCode::ACCEPTED, "{body}");
        reports.push(serde_json::from_str::<serde_json::Value>(&body).unwrap());
    }
    for r in &reports {
        assert_eq!((r["persisted"].as_u64(), r["duplicates"].as_u64()), (Some(2), Some(0)), "{r}");
    }
    assert_ne!(reports[0]["run"], reports[1]["run"], "each shop's import is its own run");
    api.project().await;
    let (_, _, beta) = api.call("GET", "/api/v1/trends?limit=200", Some(&api.beta_editor), &[]).await;
    assert!(beta.to_string().contains("axolotl teacher"), "{beta}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idempotency_key_is_scoped_to_its_shop_and_bound_to_its_request() {
    let api = Api::new().await;
    let acme = api.observe_trend("pickleball grandma").await;
    let beta = api.seeded.beta_trend;
    let ask = async |token: &str, trend: uuid::Uuid, body: &str| {
        let auth = format!("Bearer {token}");
        let headers =
            [("authorization", auth.as_str()), ("content-type", "application/json"), ("idempotency-key", "more-1")];
        api.send("POST", &format!("/api/v1/trends/{trend}/ideas"), &headers, body.to_owned()).await
    };
    let requested = async |tenant: &str, trend: uuid::Uuid| {
        api.log()
            .await
            .iter()
            .filter(|e| {
                e.event_type == "TrendIdeasRequested"
                    && e.tenant == tenant
                    && e.aggregate_id.ends_with(&trend.to_string())
            })
            .count()
    };
    let (status, _, body) = ask(&api.acme_editor, acme, r#"{"count": 2}"#).await;
    assert_eq!(status, axum::http::StatusCode::ACCEPTED, "{body}");
    // The same key and request again: the same command, recorded once.
    let (status, _, _) = ask(&api.acme_editor, acme, r#"{"count": 2}"#).await;
    assert_eq!(status, axum::http::StatusCode::ACCEPTED);
    assert_eq!(requested("acme", acme).await, 1);
    // The same key with another request: refused, as Stripe does.
    let (status, _, body) = ask(&api.acme_editor, acme, r#"{"count": 3}"#).await;
    assert_eq!(status, axum::http::StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let problem: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(problem["errors"][0]["field"], "Idempotency-Key");
    assert_eq!(requested("acme", acme).await, 1);
    // Another shop's use of the same key is its own command.
    let (status, _, body) = ask(&api.beta_editor, beta, r#"{"count": 2}"#).await;
    assert_eq!(status, axum::http::StatusCode::ACCEPTED, "{body}");
    assert_eq!(requested("beta", beta).await, 1, "beta's request was recorded, not taken for acme's");
}
