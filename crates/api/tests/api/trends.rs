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
