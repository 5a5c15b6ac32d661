use axum::http::StatusCode;

use crate::support::Api;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cursors_walk_every_trend_once_in_order() {
    let api = Api::new().await;
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let uri = match &cursor {
            Some(c) => format!("/api/v1/trends?limit=2&cursor={c}"),
            None => "/api/v1/trends?limit=2".into(),
        };
        let (status, _, body) = api.call("GET", &uri, Some(&api.acme_viewer), &[]).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        pages += 1;
        for item in body["items"].as_array().unwrap() {
            seen.push((item["last_score"].as_f64().unwrap(), item["keyword"].as_str().unwrap().to_owned()));
        }
        match body["next"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    let keywords: Vec<&str> = seen.iter().map(|(_, k)| k.as_str()).collect();
    assert_eq!(keywords, ["fishing", "pickleball", "nurse life", "dog dad", "cat mom"], "best score first, each once");

    // Filters and paging together (the filters embed the page's parameters).
    let (status, _, body) = api.call("GET", "/api/v1/ideas?status=screened&limit=1", Some(&api.acme_viewer), &[]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["items"].as_array().unwrap().len(), 1);
    let (status, _, body) = api.call("GET", "/api/v1/listings?status=draft&limit=5", Some(&api.acme_viewer), &[]).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    for (uri, field) in [
        ("/api/v1/listings?limit=abc", "limit"),
        ("/api/v1/ideas?status=screened&status=approved", "query"),
        ("/api/v1/ideas?status=aproved", "status"),
        ("/api/v1/trends?limit=0", "limit"),
        ("/api/v1/trends?limit=1000", "limit"),
        ("/api/v1/trends?cursor=not-ours", "cursor"),
    ] {
        let (status, ct, body) = api.call("GET", uri, Some(&api.acme_viewer), &[]).await;
        assert_eq!((status, ct.as_str()), (StatusCode::BAD_REQUEST, "application/problem+json"), "{uri}");
        assert_eq!(body["errors"][0]["field"], field, "{uri}: {body}");
    }
}
