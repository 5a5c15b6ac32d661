//! The dashboard through its HTTP surface: the first run, signing in and
//! out, sessions and CSRF, tenant scoping for people, the listing editor's
//! live checks and saves, and design images.

use axum::http::StatusCode;
use pod_api::auth::Role;

use crate::support::{Api, PASSWORD, TINY_PNG};

const FORM: &str = "application/x-www-form-urlencoded";

fn set_cookie(headers: &axum::http::HeaderMap) -> String {
    headers.get("set-cookie").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned()
}

fn location(headers: &axum::http::HeaderMap) -> &str {
    headers.get("location").and_then(|v| v.to_str().ok()).unwrap_or_default()
}

fn csrf_in(html: &str) -> String {
    let at = html.find("name=\"csrf\" value=\"").expect("the page carries its CSRF token") + 19;
    html[at..at + 64].to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_run_creates_the_owner_once_and_signs_them_in() {
    let api = Api::new().await;
    let (status, headers, _) = api.send("GET", "/", &[], "").await;
    assert_eq!((status, location(&headers)), (StatusCode::SEE_OTHER, "/setup"), "no one yet: set up first");
    let (status, _, page) = api.send("GET", "/setup", &[], "").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("value=\"demo\""), "the shop the trends worker feeds is offered");

    let bad = "shop_name=Acme+Prints&tenant=acme&display_name=Ana&email=ana%40acme.example&password=short";
    let (status, _, page) = api.send("POST", "/setup", &[("content-type", FORM)], bad).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.contains("at least 8 characters") && page.contains("Acme Prints"), "the form keeps what was typed");

    let form = format!(
        "shop_name=Acme+Prints&tenant=acme&display_name=Ana+Lima&email=Ana%40Acme.example&password={}",
        PASSWORD.replace(' ', "+")
    );
    let (status, headers, _) = api.send("POST", "/setup", &[("content-type", FORM)], form.clone()).await;
    assert_eq!((status, location(&headers)), (StatusCode::SEE_OTHER, "/"));
    let cookie = set_cookie(&headers);
    for part in ["pod_session=", "HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(cookie.contains(part), "{cookie} lacks {part}");
    }
    let session = cookie.split(';').next().unwrap().to_owned();
    let (status, headers, page) = api.send("GET", "/", &[("cookie", &session)], "").await;
    assert_eq!(status, StatusCode::OK);
    let csp = headers["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("frame-ancestors 'none'") && csp.contains("script-src 'self'"), "{csp}");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert!(page.contains("Good to see you, Ana Lima") && page.contains("ana@acme.example"), "{page}");

    // A second first run (another browser, later): no second owner.
    let other = form.replace("Ana%40Acme.example", "mallory%40evil.example");
    let (status, headers, _) = api.send("POST", "/setup", &[("content-type", FORM)], other).await;
    assert_eq!((status, location(&headers)), (StatusCode::SEE_OTHER, "/login"));
    assert!(set_cookie(&headers).is_empty(), "no session for the late comer");
    let users: i64 = sqlx::query_scalar("SELECT count(*) FROM users").fetch_one(&api.pool).await.unwrap();
    assert_eq!(users, 1);
    let role: String = sqlx::query_scalar("SELECT role FROM memberships").fetch_one(&api.pool).await.unwrap();
    assert_eq!(role, "owner");
    let (status, headers, _) = api.send("GET", "/setup", &[], "").await;
    assert_eq!((status, location(&headers)), (StatusCode::SEE_OTHER, "/login"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signing_in_checks_the_password_and_signing_out_ends_the_session() {
    let api = Api::new().await;
    let ana = api.person("acme", Role::Editor).await;
    let (status, headers, _) = api.send("GET", "/ideas?view=all", &[], "").await;
    assert_eq!((status, location(&headers)), (StatusCode::SEE_OTHER, "/login?next=/ideas%3Fview%3Dall"));

    let wrong = format!("email={}&password=nope-nope-nope&next=/ideas", ana.email);
    let (status, headers, page) = api.send("POST", "/login", &[("content-type", FORM)], wrong).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(set_cookie(&headers).is_empty());
    assert!(page.contains("do not match"), "{page}");
    let unknown = "email=nobody%40acme.example&password=whatever-it-is";
    let (status, _, page_unknown) = api.send("POST", "/login", &[("content-type", FORM)], unknown).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(page_unknown.contains("do not match"), "an unknown email reads the same as a wrong password");

    let right = format!("email={}&password={}&next=/ideas", ana.email.to_uppercase(), PASSWORD.replace(' ', "+"));
    let (status, headers, _) = api.send("POST", "/login", &[("content-type", FORM)], right.clone()).await;
    assert_eq!((status, location(&headers)), (StatusCode::SEE_OTHER, "/ideas"));
    let session = set_cookie(&headers).split(';').next().unwrap().to_owned();
    let (status, _, page) = api.send("GET", "/ideas?view=all", &[("cookie", &session)], "").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("Proud Cat Mom"), "the tenant's idea is listed");

    // Another site cannot sign in on the person's behalf.
    let cross = [("content-type", FORM), ("host", "127.0.0.1:8080"), ("origin", "https://evil.example")];
    assert_eq!(api.send("POST", "/login", &cross, right).await.0, StatusCode::FORBIDDEN);

    let (status, _, _) = api.send("POST", "/logout", &[("cookie", &session), ("content-type", FORM)], "").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "signing out needs the page's token");
    let form = format!("csrf={}", csrf_in(&page));
    let (status, headers, _) = api.send("POST", "/logout", &[("cookie", &session), ("content-type", FORM)], form).await;
    assert_eq!((status, location(&headers)), (StatusCode::SEE_OTHER, "/login"));
    assert!(set_cookie(&headers).contains("Max-Age=0"), "the cookie is cleared");
    let (status, headers, _) = api.send("GET", "/ideas", &[("cookie", &session)], "").await;
    assert_eq!(status, StatusCode::SEE_OTHER, "the old cookie names no session");
    assert!(location(&headers).starts_with("/login"));
    let (status, _, _) = api.send("GET", "/api/v1/ideas", &[("cookie", &session)], "").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_persons_changes_need_the_sessions_csrf_token_and_this_sites_origin() {
    let api = Api::new().await;
    let ana = api.person("acme", Role::Editor).await;
    let reject = format!("/api/v1/ideas/{}/reject", api.seeded.acme_idea);
    let cookie = ("cookie", ana.cookie.as_str());
    let host = ("host", "127.0.0.1:8080");
    let wrong = "0".repeat(64);
    for headers in [
        vec![cookie, host],
        vec![cookie, host, ("x-csrf-token", wrong.as_str())],
        vec![cookie, host, ("x-csrf-token", ana.csrf.as_str()), ("origin", "https://evil.example")],
        vec![cookie, host, ("x-csrf-token", ana.csrf.as_str()), ("sec-fetch-site", "cross-site")],
    ] {
        let (status, h, body) = api.send("POST", &reject, &headers, "").await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{headers:?}: {body}");
        assert_eq!(h["content-type"], "application/problem+json");
    }
    // Reading needs no token.
    let (status, _, _) = api.send("GET", "/api/v1/ideas", &[cookie], "").await;
    assert_eq!(status, StatusCode::OK);
    let ok = [cookie, host, ("x-csrf-token", ana.csrf.as_str()), ("origin", "http://127.0.0.1:8080")];
    let (status, _, body) = api.send("POST", &reject, &ok, "").await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    api.project().await;
    let (_, _, idea) =
        api.call("GET", &format!("/api/v1/ideas/{}", api.seeded.acme_idea), Some(&api.acme_viewer), &[]).await;
    assert_eq!(idea["status"], "rejected");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_sees_only_their_shop_and_viewers_cannot_change_it() {
    let api = Api::new().await;
    let bo = api.person("beta", Role::Owner).await;
    let cookie = ("cookie", bo.cookie.as_str());
    for page in [
        format!("/trends/{}", api.seeded.acme_trends[0]),
        format!("/listings/{}", api.seeded.acme_listing),
        format!("/api/v1/ideas/{}", api.seeded.acme_idea),
        format!("/api/v1/designs/{}/preview.png", api.seeded.acme_design),
    ] {
        let (status, _, body) = api.send("GET", &page, &[cookie, ("accept", "text/html")], "").await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{page} as beta's owner");
        assert!(!body.contains("Proud Cat Mom"), "{page} leaks acme");
    }
    for page in ["/", "/ideas?view=all", "/listings", "/designs", "/trends"] {
        let (status, _, body) = api.send("GET", page, &[cookie], "").await;
        assert_eq!(status, StatusCode::OK, "{page}");
        assert!(!body.contains("Proud Cat Mom"), "{page} leaks acme's idea");
    }
    let approve = format!("/ideas/{}/approve", api.seeded.acme_idea);
    let (_, _, fragment) = api.send("POST", &approve, &[cookie, ("x-csrf-token", bo.csrf.as_str())], "").await;
    assert!(fragment.contains("outcome err") && fragment.contains("no idea here"), "{fragment}");

    let vic = api.person("acme", Role::Viewer).await;
    let save = format!("/listings/{}", api.seeded.acme_listing);
    let form = "title=Anything&description=A&tags=cat+mom&price=20";
    let headers = [("cookie", vic.cookie.as_str()), ("x-csrf-token", vic.csrf.as_str()), ("content-type", FORM)];
    let (status, _, _) = api.send("POST", &save, &headers, form).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (_, _, page) = api.send("GET", &save, &[("cookie", vic.cookie.as_str())], "").await;
    assert!(page.contains("readonly") && !page.contains("Save revision"), "viewers get a read-only editor");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_listing_editor_checks_as_one_types_and_saves_revisions() {
    let api = Api::new().await;
    let ana = api.person("acme", Role::Editor).await;
    let id = api.seeded.acme_listing;
    let headers = [("cookie", ana.cookie.as_str()), ("x-csrf-token", ana.csrf.as_str()), ("content-type", FORM)];
    let (status, _, page) = api.send("GET", &format!("/listings/{id}"), &headers[..1], "").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(page.matches("name=\"tags\"").count(), 13, "thirteen tag boxes");

    let form = |tag: &str, price: &str, expected: u32| {
        format!(
            "expected_revisions={expected}&title=Proud+Cat+Mom+Shirt%2C+Cat+Mom+Gift&description=A+shirt.&tags=cat+mom&tags={}&tags=&price={price}",
            tag.replace(' ', "+")
        )
    };
    let check = format!("/listings/{id}/check");
    let (status, _, fragment) =
        api.send("POST", &check, &headers, form("a tag far longer than twenty", "19.99", 0)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(fragment.contains("data-invalid=\"tags[1]\""), "{fragment}");
    assert!(fragment.contains("data-error-for=\"tags[1]\""), "{fragment}");
    let (_, _, fragment) = api.send("POST", &check, &headers, form("cat lover", "19,99", 0)).await;
    assert!(fragment.contains("data-invalid=\"price\"") && fragment.contains("like 24.99"), "{fragment}");
    let (_, _, fragment) = api.send("POST", &check, &headers, form("cat lover", "21.50", 0)).await;
    assert!(fragment.contains("data-invalid=\"\"") && !fragment.contains("data-error-for"), "{fragment}");
    assert!(fragment.contains("Looks good"), "{fragment}");

    // Nothing was recorded by checking.
    api.project().await;
    let (_, _, listing) = api.call("GET", &format!("/api/v1/listings/{id}"), Some(&api.acme_viewer), &[]).await;
    assert_eq!(listing["revisions"], 0);

    let save = format!("/listings/{id}");
    let (status, _, fragment) = api.send("POST", &save, &headers, form("cat lover", "21.50", 0)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(fragment.contains("Saved as revision 1"), "{fragment}");
    assert!(fragment.contains("id=\"expected_revisions\"") && fragment.contains("value=\"1\""), "{fragment}");
    api.project().await;
    let (_, _, listing) = api.call("GET", &format!("/api/v1/listings/{id}"), Some(&api.acme_viewer), &[]).await;
    assert_eq!(listing["tags"], serde_json::json!(["cat mom", "cat lover"]));
    assert_eq!(listing["price_cents"], 2150);
    assert_eq!(listing["revisions"], 1);
    let (status, _, history) =
        api.call("GET", &format!("/api/v1/listings/{id}/revisions"), Some(&api.acme_viewer), &[]).await;
    assert_eq!(status, StatusCode::OK);
    let steps: Vec<&str> = history.as_array().unwrap().iter().filter_map(|r| r["event_type"].as_str()).collect();
    assert_eq!(steps, ["ListingDrafted", "ListingRevised"]);
    assert_eq!(history[1]["changes"]["tags"], serde_json::json!(["cat mom", "cat lover"]));
    assert_eq!(history[1]["changes"]["by"]["kind"], "user", "a person's edit is recorded as theirs");
    assert!(history[1]["changes"]["title"].is_null(), "an unchanged field is not in the revision");
    let (_, _, page) = api.send("GET", &format!("/listings/{id}"), &headers[..1], "").await;
    assert!(page.contains("Edited tags, price") && page.contains("by you"), "the editor shows the history");

    // A save made on what the page showed before someone else's save.
    let (_, _, fragment) = api.send("POST", &save, &headers, form("kitten", "21.50", 0)).await;
    assert!(fragment.contains("revision 1 now"), "{fragment}");
    api.project().await;
    let (_, _, listing) = api.call("GET", &format!("/api/v1/listings/{id}"), Some(&api.acme_viewer), &[]).await;
    assert_eq!(listing["tags"], serde_json::json!(["cat mom", "cat lover"]), "nothing was overwritten");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn design_images_come_from_the_blob_store_and_assets_are_served() {
    let api = Api::new().await;
    let uri = format!("/api/v1/designs/{}/artwork.png", api.seeded.acme_design);
    let (status, headers, _) =
        api.send("GET", &uri, &[("authorization", &format!("Bearer {}", api.acme_viewer))], "").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["content-type"], "image/png");
    let req = axum::http::Request::get(&uri)
        .header("authorization", format!("Bearer {}", api.acme_viewer))
        .body(axum::body::Body::empty())
        .unwrap();
    let resp = tower::ServiceExt::oneshot(api.router.clone(), req).await.unwrap();
    let bytes = http_body_util::BodyExt::collect(resp.into_body()).await.unwrap().to_bytes();
    assert_eq!(&bytes[..], TINY_PNG, "the stored bytes, unchanged");

    for (asset, kind) in [
        ("/assets/htmx-2.0.11.min.js", "text/javascript; charset=utf-8"),
        ("/assets/uPlot-1.6.32.iife.min.js", "text/javascript; charset=utf-8"),
        ("/assets/app.css", "text/css; charset=utf-8"),
    ] {
        let (status, headers, body) = api.send("GET", asset, &[], "").await;
        assert_eq!((status, headers["content-type"].to_str().unwrap()), (StatusCode::OK, kind), "{asset}");
        assert!(body.len() > 1000, "{asset} is the real file");
    }
    let (status, _, _) = api.send("GET", "/assets/../Cargo.toml", &[], "").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, headers, page) = api.send("GET", "/no-such-page", &[("accept", "text/html")], "").await;
    assert_eq!(
        (status, headers["content-type"].to_str().unwrap()),
        (StatusCode::NOT_FOUND, "text/html; charset=utf-8")
    );
    assert!(page.contains("Nothing here"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_design_is_taken_again_in_the_next_layout_or_a_named_one() {
    let api = Api::new().await;
    let uri = format!("/api/v1/designs/{}/regenerate", api.seeded.acme_design);
    let auth = format!("Bearer {}", api.acme_editor);
    let json = [("authorization", auth.as_str()), ("content-type", "application/json")];
    // The gallery offers another take of a rendered design to editors, not to viewers.
    let ana = api.person("acme", Role::Editor).await;
    let vic = api.person("acme", Role::Viewer).await;
    let (_, _, page) = api.send("GET", "/designs", &[("cookie", ana.cookie.as_str())], "").await;
    assert!(page.contains("Try another take"), "{page}");
    let (_, _, page) = api.send("GET", "/designs", &[("cookie", vic.cookie.as_str())], "").await;
    assert!(!page.contains("Try another take"));

    let (status, _, body) = api.send("POST", &uri, &json, r#"{"layout": "comic sans"}"#).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(body.contains("\"field\":\"layout\"") && body.contains("stacked, retro"), "{body}");
    let (status, h, body) = api.send("POST", &uri, &json, "").await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert_eq!(h["location"], format!("/api/v1/designs/{}", api.seeded.acme_design));
    // While it renders, another take waits.
    let (status, _, body) = api.send("POST", &uri, &json, "").await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(body.contains("still being rendered"), "{body}");
    api.project().await;
    let (_, _, design) =
        api.call("GET", &format!("/api/v1/designs/{}", api.seeded.acme_design), Some(&api.acme_viewer), &[]).await;
    // The seed was "classic" in "pawprint": the next of each, round.
    assert_eq!(
        (design["status"].as_str(), design["layout"].as_str(), design["palette"].as_str()),
        (Some("requested"), Some("stacked"), Some("uniform"))
    );

    let (_, _, page) = api.send("GET", "/designs", &[("cookie", ana.cookie.as_str())], "").await;
    assert!(!page.contains("Try another take"), "a design being rendered offers no other take yet");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_in_two_shops_switches_between_them_and_nowhere_else() {
    let api = Api::new().await;
    let ana = api.person("acme", Role::Editor).await;
    let cookie = ("cookie", ana.cookie.as_str());
    let (_, _, page) = api.send("GET", "/", &[cookie], "").await;
    assert!(!page.contains("/switch-shop"), "one shop: no switcher");
    pod_api::auth::add_member(&api.pool, &ana.email, "beta", Role::Viewer).await.unwrap();
    let (_, _, page) = api.send("GET", "/ideas?view=all", &[cookie], "").await;
    assert!(page.contains("action=\"/switch-shop\"") && page.contains("Proud Cat Mom"), "two shops: a switcher");

    let switch = |tenant: &str, csrf: &str| format!("tenant={tenant}&csrf={csrf}");
    let form = [cookie, ("content-type", FORM)];
    let (status, _, _) = api.send("POST", "/switch-shop", &form, switch("beta", &"0".repeat(64))).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "the page's token is needed");
    let (status, _, _) = api.send("POST", "/switch-shop", &form, switch("nowhere", &ana.csrf)).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "only a shop of one's own");
    let (status, h, _) = api.send("POST", "/switch-shop", &form, switch("beta", &ana.csrf)).await;
    assert_eq!((status, location(&h)), (StatusCode::SEE_OTHER, "/"));

    // Now beta's: acme's idea is gone from pages and API, and the role is beta's.
    let (_, _, page) = api.send("GET", "/ideas?view=all", &[cookie], "").await;
    assert!(!page.contains("Proud Cat Mom"), "{page}");
    let (status, _, _) = api.send("GET", &format!("/api/v1/ideas/{}", api.seeded.acme_idea), &[cookie], "").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, _, trends) = api.send("GET", "/api/v1/trends", &[cookie], "").await;
    assert!(trends.contains("secret beta trend"), "{trends}");
    let reject = format!("/api/v1/ideas/{}/reject", api.seeded.acme_idea);
    let (status, _, _) = api.send("POST", &reject, &[cookie, ("x-csrf-token", ana.csrf.as_str())], "").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "a viewer in beta");
}

/// Guessing across many emails from one address is slowed too; behind a
/// trusted proxy the address is the one it saw, not what the client claims.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_attempts_are_limited_per_address_behind_a_trusted_proxy() {
    use tower::ServiceExt;
    let api = Api::new().await;
    // Three attempts a minute per address here (one comes back every 20 s,
    // far longer than the test takes; the default is 30 a minute).
    let mut state = api.state.clone().with_trusted_proxies(1);
    let per = |n| std::num::NonZeroU32::new(n).unwrap();
    state.login_throttle = std::sync::Arc::new(pod_api::auth::throttle::LoginThrottle::new(per(10), per(3)));
    let router = pod_api::router(state);
    let attempt = |email: String, forwarded: &'static str| {
        let router = router.clone();
        async move {
            let req = axum::http::Request::post("/login")
                .header("content-type", FORM)
                .header("x-forwarded-for", forwarded)
                .body(axum::body::Body::from(format!("email={email}&password=wrong-wrong")))
                .unwrap();
            let resp = router.oneshot(req).await.unwrap();
            let status = resp.status();
            let bytes = http_body_util::BodyExt::collect(resp.into_body()).await.unwrap().to_bytes();
            (status, String::from_utf8_lossy(&bytes).into_owned())
        }
    };
    // Three different emails from one address: each a wrong password.
    for n in 0..3 {
        let (status, _) = attempt(format!("guess{n}@acme.example"), "203.0.113.50, 198.51.100.7").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "attempt {n}");
    }
    let (status, page) = attempt("guess3@acme.example".into(), "203.0.113.51, 198.51.100.7").await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "the client's own claim changed, the proxy's did not");
    assert!(page.contains("from this address"), "{page}");
    let (status, _) = attempt("guess4@acme.example".into(), "198.51.100.8").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "another address has its own allowance");
}
