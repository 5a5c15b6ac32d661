//! Sign-in through an OpenID Connect provider, against a provider speaking
//! the protocol on 127.0.0.1 (discovery, authorize, token with PKCE S256,
//! userinfo), driven through the dashboard's routes.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::{Form, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine;
use sha2::Digest;

use crate::support::{Api, PASSWORD};

#[derive(Default)]
struct Provider {
    base: String,
    /// code → (PKCE challenge, redirect URI)
    codes: HashMap<String, (String, String)>,
    /// What userinfo says.
    sub: String,
    email: String,
    verified: bool,
    /// Every token request, as the provider saw it.
    token_requests: Vec<HashMap<String, String>>,
}

type Shared = Arc<Mutex<Provider>>;

async fn discovery(State(p): State<Shared>) -> Json<serde_json::Value> {
    let base = p.lock().unwrap().base.clone();
    Json(serde_json::json!({
        "issuer": base,
        "authorization_endpoint": format!("{base}/authorize"),
        "token_endpoint": format!("{base}/token"),
        "userinfo_endpoint": format!("{base}/userinfo"),
    }))
}

async fn authorize(State(p): State<Shared>, Query(q): Query<HashMap<String, String>>) -> Response {
    assert_eq!(q["response_type"], "code");
    assert_eq!(q["client_id"], "pod-dashboard");
    assert_eq!(q["code_challenge_method"], "S256", "PKCE with S256");
    assert!(q["scope"].split(' ').any(|s| s == "openid"), "{q:?}");
    let code = format!("code-{}", uuid::Uuid::new_v4().simple());
    let redirect = q["redirect_uri"].clone();
    p.lock().unwrap().codes.insert(code.clone(), (q["code_challenge"].clone(), redirect.clone()));
    Redirect::to(&format!("{redirect}?code={code}&state={}", q["state"])).into_response()
}

async fn token(State(p): State<Shared>, headers: HeaderMap, Form(f): Form<HashMap<String, String>>) -> Response {
    let mut p = p.lock().unwrap();
    p.token_requests.push(f.clone());
    let basic = base64::engine::general_purpose::STANDARD.encode("pod-dashboard:s3cret");
    let client_ok = headers.get("authorization").and_then(|v| v.to_str().ok()) == Some(&format!("Basic {basic}"));
    let Some((challenge, redirect)) = p.codes.remove(f.get("code").map(String::as_str).unwrap_or_default()) else {
        return (StatusCode::BAD_REQUEST, Json(serde_json::json!({"error": "invalid_grant"}))).into_response();
    };
    let verifier = f.get("code_verifier").cloned().unwrap_or_default();
    let derived = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(verifier.as_bytes()));
    if !client_ok || derived != challenge || f.get("redirect_uri") != Some(&redirect) {
        let body = serde_json::json!({"error": "invalid_grant", "error_description": "PKCE or client check failed"});
        return (StatusCode::BAD_REQUEST, Json(body)).into_response();
    }
    Json(serde_json::json!({"access_token": "at-123", "token_type": "Bearer", "expires_in": 300})).into_response()
}

async fn userinfo(State(p): State<Shared>, headers: HeaderMap) -> Response {
    if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some("Bearer at-123") {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    let p = p.lock().unwrap();
    Json(serde_json::json!({"sub": p.sub, "email": p.email, "email_verified": p.verified, "name": "Ana"}))
        .into_response()
}

async fn provider() -> Shared {
    let shared: Shared = Arc::default();
    let app = Router::new()
        .route("/.well-known/openid-configuration", get(discovery))
        .route("/authorize", get(authorize))
        .route("/token", post(token))
        .route("/userinfo", get(userinfo))
        .with_state(shared.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    shared.lock().unwrap().base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    shared
}

fn header<'a>(h: &'a HeaderMap, name: &str) -> &'a str {
    h.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default()
}

/// Follows a login: start → the provider → back to us. Returns the callback's answer.
async fn sign_in(api: &Api, router: &Router, next: &str) -> (StatusCode, HeaderMap, String) {
    let start = format!("/auth/acmeid/start?next={next}");
    let (status, h, _) = send(router, "GET", &start, &[]).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    through_the_provider(api, router, &h).await
}

/// From our redirect to the provider, through it, and back to our callback.
async fn through_the_provider(api: &Api, router: &Router, h: &HeaderMap) -> (StatusCode, HeaderMap, String) {
    let to_provider = header(h, "location").to_owned();
    assert!(to_provider.contains("code_challenge=") && to_provider.contains("state="), "{to_provider}");
    let state_cookie = header(h, "set-cookie").split(';').next().unwrap().to_owned();
    assert!(state_cookie.starts_with("pod_oauth_state="));
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let back = client.get(&to_provider).send().await.unwrap();
    let back = back.headers()["location"].to_str().unwrap().to_owned();
    let path = back.trim_start_matches(&api.state.public_url).to_owned();
    assert!(path.starts_with("/auth/acmeid/callback?code="), "{back}");
    send(router, "GET", &path, &[("cookie", &state_cookie)]).await
}

/// This dashboard's client registration at the provider.
fn client() -> pod_api::auth::oidc::ProviderSettings {
    pod_api::auth::oidc::ProviderSettings {
        client_id: "pod-dashboard".into(),
        client_secret: Some("s3cret".into()),
        ..Default::default()
    }
}

async fn send(router: &Router, method: &str, uri: &str, headers: &[(&str, &str)]) -> (StatusCode, HeaderMap, String) {
    request(router, method, uri, headers, "").await
}

/// A form post, as a browser sends it.
async fn send_form(
    router: &Router,
    uri: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (StatusCode, HeaderMap, String) {
    let mut headers = headers.to_vec();
    headers.push(("content-type", "application/x-www-form-urlencoded"));
    request(router, "POST", uri, &headers, body).await
}

async fn request(
    router: &Router,
    method: &str,
    uri: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (StatusCode, HeaderMap, String) {
    use http_body_util::BodyExt;
    use tower::ServiceExt;
    let mut req = axum::http::Request::builder().method(method).uri(uri);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = router.clone().oneshot(req.body(axum::body::Body::from(body.to_owned())).unwrap()).await.unwrap();
    let (status, h) = (resp.status(), resp.headers().clone());
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    (status, h, String::from_utf8_lossy(&bytes).into_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_signs_in_through_an_openid_provider_with_pkce_and_state() {
    let api = Api::new().await;
    let idp = provider().await;
    let issuer = idp.lock().unwrap().base.clone();
    let settings = pod_api::auth::oidc::ProviderSettings {
        label: "Acme ID".into(),
        issuer: Some(issuer),
        link_by_email: true,
        ..client()
    };
    let resolved = pod_api::auth::oidc::Provider::resolve("acmeid", &settings).await.unwrap();
    assert!(resolved.token_url.ends_with("/token"), "endpoints come from discovery");
    let state = api.state.clone().with_identity_providers(vec![resolved], "http://127.0.0.1:8080");
    let router = pod_api::router(state);
    pod_api::auth::create_user(
        &api.pool,
        "acme",
        "ana@acme.example",
        "Ana Lima",
        PASSWORD,
        pod_api::auth::Role::Editor,
    )
    .await
    .unwrap();

    let (_, _, login) = send(&router, "GET", "/login", &[]).await;
    assert!(login.contains("Continue with Acme ID"), "{login}");

    // Unknown to us: refused, nothing created.
    {
        let mut p = idp.lock().unwrap();
        (p.sub, p.email, p.verified) = ("sub-1".into(), "stranger@acme.example".into(), true);
    }
    let (status, h, page) = sign_in(&api, &router, "/ideas").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(page.contains("no account for stranger@acme.example"), "{page}");
    assert!(!header(&h, "set-cookie").contains("pod_session="), "no session");

    // An unverified email does not link an account.
    {
        let mut p = idp.lock().unwrap();
        (p.sub, p.email, p.verified) = ("sub-2".into(), "ana@acme.example".into(), false);
    }
    let (status, _, page) = sign_in(&api, &router, "/ideas").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(page.contains("has not verified"), "{page}");

    // Verified: linked to Ana and signed in, sent where she was going.
    idp.lock().unwrap().verified = true;
    let (status, h, _) = sign_in(&api, &router, "/ideas%3Fview%3Dall").await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(header(&h, "location"), "/ideas?view=all");
    let cookies: Vec<&str> = h.get_all("set-cookie").iter().filter_map(|v| v.to_str().ok()).collect();
    let session = cookies.iter().find(|c| c.starts_with("pod_session=")).expect("a session cookie");
    assert!(cookies.iter().any(|c| c.starts_with("pod_oauth_state=") && c.contains("Max-Age=0")), "{cookies:?}");
    let session = session.split(';').next().unwrap();
    let (status, _, page) = send(&router, "GET", "/ideas?view=all", &[("cookie", session)]).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("Ana Lima"));
    let requests = idp.lock().unwrap().token_requests.clone();
    let last = requests.last().unwrap();
    assert_eq!(last["grant_type"], "authorization_code");
    assert!(last["code_verifier"].len() >= 43, "a PKCE verifier was sent: {last:?}");

    // Later the provider account alone finds her, whatever email it carries.
    idp.lock().unwrap().email = "ana.lima@elsewhere.example".into();
    let (status, _, _) = sign_in(&api, &router, "/").await;
    assert_eq!(status, StatusCode::SEE_OTHER);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_email_trust_a_person_links_the_account_from_a_signed_in_session() {
    let api = Api::new().await;
    let idp = provider().await;
    let issuer = idp.lock().unwrap().base.clone();
    let settings = pod_api::auth::oidc::ProviderSettings { label: "Acme ID".into(), issuer: Some(issuer), ..client() };
    let resolved = pod_api::auth::oidc::Provider::resolve("acmeid", &settings).await.unwrap();
    assert!(!resolved.link_by_email, "email trust is off unless configured");
    let router = pod_api::router(api.state.clone().with_identity_providers(vec![resolved], "http://127.0.0.1:8080"));
    let ana = api.person("acme", pod_api::auth::Role::Editor).await;
    {
        let mut p = idp.lock().unwrap();
        (p.sub, p.email, p.verified) = ("sub-ana".into(), ana.email.clone(), true);
    }
    // Her verified email alone does not sign her in.
    let (status, h, page) = sign_in(&api, &router, "/").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{page}");
    assert!(page.contains("not linked to anyone here yet") && page.contains("Integrations"), "{page}");
    assert!(!header(&h, "set-cookie").contains("pod_session="));

    // Linking needs this site's form: its token and origin.
    let site = [("host", "127.0.0.1:8080"), ("origin", "http://127.0.0.1:8080")];
    let form = ("content-type", "application/x-www-form-urlencoded");
    let (status, _, _) =
        send(&router, "POST", "/auth/acmeid/link", &[("cookie", &ana.cookie), site[0], site[1], form]).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "no token, no link");
    let (_, _, page) = send(&router, "GET", "/integrations", &[("cookie", &ana.cookie)]).await;
    assert!(page.contains("Link your Acme ID account"), "{page}");
    let (status, h, _) = send_form(
        &router,
        "/auth/acmeid/link",
        &[("cookie", &ana.cookie), site[0], site[1]],
        &format!("csrf={}", ana.csrf),
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (status, h, _) = through_the_provider(&api, &router, &h).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(header(&h, "location"), "/integrations");
    let (_, _, page) = send(&router, "GET", "/integrations", &[("cookie", &ana.cookie)]).await;
    assert!(page.contains("your account is linked"), "{page}");
    // From now on the provider account signs her in.
    let (status, h, _) = sign_in(&api, &router, "/").await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert!(h.get_all("set-cookie").iter().any(|c| c.to_str().unwrap().starts_with("pod_session=")));

    // Someone else cannot link the same provider account to themselves.
    let bruno = api.person("acme", pod_api::auth::Role::Editor).await;
    let (_, h, _) = send_form(
        &router,
        "/auth/acmeid/link",
        &[("cookie", &bruno.cookie), site[0], site[1]],
        &format!("csrf={}", bruno.csrf),
    )
    .await;
    let (status, _, page) = through_the_provider(&api, &router, &h).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(page.contains("already linked to someone else"), "{page}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_state_is_used_once_and_only_by_the_browser_that_started_it() {
    let api = Api::new().await;
    let idp = provider().await;
    let base = idp.lock().unwrap().base.clone();
    let settings = pod_api::auth::oidc::ProviderSettings {
        authorize_url: Some(format!("{base}/authorize")),
        token_url: Some(format!("{base}/token")),
        userinfo_url: Some(format!("{base}/userinfo")),
        link_by_email: true,
        ..client()
    };
    let resolved = pod_api::auth::oidc::Provider::resolve("acmeid", &settings).await.unwrap();
    let router = pod_api::router(api.state.clone().with_identity_providers(vec![resolved], "http://127.0.0.1:8080"));
    pod_api::auth::create_user(&api.pool, "acme", "ana@acme.example", "Ana", PASSWORD, pod_api::auth::Role::Viewer)
        .await
        .unwrap();
    {
        let mut p = idp.lock().unwrap();
        (p.sub, p.email, p.verified) = ("sub-9".into(), "ana@acme.example".into(), true);
    }
    let (_, h, _) = send(&router, "GET", "/auth/acmeid/start", &[]).await;
    let state_cookie = header(&h, "set-cookie").split(';').next().unwrap().to_owned();
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let back = client.get(header(&h, "location")).send().await.unwrap();
    let path = back.headers()["location"].to_str().unwrap().trim_start_matches("http://127.0.0.1:8080").to_owned();

    // Another browser (an attacker's link, a different cookie) is refused.
    let (status, _, page) = send(&router, "GET", &path, &[("cookie", "pod_oauth_state=someone-elses")]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(page.contains("another browser"), "{page}");
    let (status, _, _) = send(&router, "GET", &path, &[]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    // The right browser gets in once; the same answer again is refused.
    let (status, _, _) = send(&router, "GET", &path, &[("cookie", &state_cookie)]).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (status, _, page) = send(&router, "GET", &path, &[("cookie", &state_cookie)]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(page.contains("expired or was already used"), "{page}");
    // The provider's own refusal is shown, not swallowed.
    let (status, _, page) =
        send(&router, "GET", "/auth/acmeid/callback?error=access_denied&error_description=you+said+no", &[]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(page.contains("you said no"), "{page}");
    let (status, _, _) = send(&router, "GET", "/auth/nobody/start", &[("accept", "text/html")]).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // A misconfigured provider is named at start-up.
    let broken = pod_api::auth::oidc::ProviderSettings { client_id: "x".into(), ..Default::default() };
    let err = pod_api::auth::oidc::Provider::resolve("broken", &broken).await.unwrap_err().to_string();
    assert!(err.contains("broken") && err.contains("authorize_url"), "{err}");
}
