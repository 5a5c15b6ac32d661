//! Signing in and out, and the first run: on a fresh install the first
//! person creates the shop and its owner account (argon2 password), so the
//! offline default needs no identity provider.

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::CookieJar;

use super::render;
use crate::AppState;
use crate::auth::sessions::{self, check_origin};
use crate::auth::{AccountError, FirstRun, create_owner, has_users, oidc, verify_login};
use crate::problem::Problem;

#[derive(Template, Default)]
#[template(path = "setup.html")]
struct SetupPage {
    shop_name: String,
    tenant: String,
    display_name: String,
    email: String,
    error: Option<(String, String)>,
}

#[derive(Template, Default)]
#[template(path = "login.html")]
struct LoginPage {
    email: String,
    next: String,
    error: Option<String>,
    /// `(name, label)` of each identity provider.
    providers: Vec<(String, String)>,
}

fn providers_of(s: &AppState) -> Vec<(String, String)> {
    s.providers.iter().map(|p| (p.name.clone(), p.label.clone())).collect()
}

#[derive(Debug, Default, serde::Deserialize)]
pub struct SetupForm {
    #[serde(default)]
    shop_name: String,
    #[serde(default)]
    tenant: String,
    #[serde(default)]
    display_name: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
}

#[derive(Debug, Default, serde::Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    next: String,
}

#[derive(Debug, Default, serde::Deserialize)]
pub struct Next {
    next: Option<String>,
}

/// Only a path on this site: never `//other.example`, a full URL, or
/// anything with whitespace or control characters (browsers drop a tab from
/// `/\t/evil.example`, which would make it `//evil.example`).
fn safe_next(next: &str) -> &str {
    let bytes = next.as_bytes();
    let clean = next.starts_with('/')
        && !matches!(bytes.get(1), Some(b'/' | b'\\'))
        && !next.contains('\\')
        && !next.chars().any(|c| c.is_whitespace() || c.is_control());
    if clean { next } else { "/" }
}

/// Signs the person in to their first shop and sends them on.
async fn sign_in(s: &AppState, jar: CookieJar, user: &crate::auth::User, next: &str) -> Result<Response, Problem> {
    let Some((tenant, _)) = user.memberships.first() else {
        return Err(Problem::forbidden("this account belongs to no shop yet; ask an owner to add you"));
    };
    let secret = sessions::start(&s.pool, &s.sessions, user.user_id, tenant).await?;
    let jar = jar.add(s.sessions.cookie(secret));
    Ok((jar, Redirect::to(safe_next(next))).into_response())
}

pub async fn setup_page(State(s): State<AppState>) -> Result<Response, Problem> {
    if has_users(&s.pool).await? {
        return Ok(Redirect::to("/login").into_response());
    }
    Ok(render(&SetupPage { tenant: s.home_tenant.clone(), ..Default::default() }))
}

pub async fn setup(
    State(s): State<AppState>,
    headers: HeaderMap,
    jar: CookieJar,
    Form(f): Form<SetupForm>,
) -> Result<Response, Problem> {
    check_origin(&headers)?;
    // A finished first run refuses at once, before any password is hashed.
    if has_users(&s.pool).await? {
        return Ok(Redirect::to("/login").into_response());
    }
    let first = FirstRun {
        tenant: f.tenant.trim().to_owned(),
        shop_name: f.shop_name.clone(),
        email: f.email.clone(),
        display_name: f.display_name.clone(),
        password: f.password.clone(),
    };
    let refused = |field: &str, reason: String| {
        let page = SetupPage {
            shop_name: f.shop_name.clone(),
            tenant: f.tenant.clone(),
            display_name: f.display_name.clone(),
            email: f.email.clone(),
            error: Some((field.to_owned(), reason)),
        };
        (StatusCode::UNPROCESSABLE_ENTITY, render(&page)).into_response()
    };
    match create_owner(&s.pool, &first).await {
        Ok(user) => sign_in(&s, jar, &user, "/").await,
        Err(AccountError::Invalid { field, reason }) => Ok(refused(field, reason)),
        Err(AccountError::Taken("email")) => Ok(refused("email", "already has an account".into())),
        Err(AccountError::Taken(_)) => Ok(Redirect::to("/login").into_response()),
        Err(e) => Err(Problem::internal(e)),
    }
}

pub async fn login_page(State(s): State<AppState>, Query(q): Query<Next>) -> Result<Response, Problem> {
    if !has_users(&s.pool).await? {
        return Ok(Redirect::to("/setup").into_response());
    }
    Ok(render(&LoginPage { next: q.next.unwrap_or_default(), providers: providers_of(&s), ..Default::default() }))
}

pub async fn login(
    State(s): State<AppState>,
    peer: Option<axum::Extension<axum::extract::ConnectInfo<std::net::SocketAddr>>>,
    headers: HeaderMap,
    jar: CookieJar,
    Form(f): Form<LoginForm>,
) -> Result<Response, Problem> {
    use crate::auth::throttle::{Limited, client_address};
    check_origin(&headers)?;
    let address = client_address(peer.map(|p| p.0.0), &headers, s.trusted_proxies);
    if let Err(limited) = s.login_throttle.allows(address, &f.email) {
        let why = match limited {
            Limited::Email => "Too many attempts for this email; wait a minute and try again.",
            Limited::Address => "Too many sign-in attempts from this address; wait a minute and try again.",
        };
        let page = LoginPage { email: f.email, next: f.next, error: Some(why.into()), providers: providers_of(&s) };
        return Ok((StatusCode::TOO_MANY_REQUESTS, render(&page)).into_response());
    }
    match verify_login(&s.pool, &f.email, &f.password).await? {
        Some(user) => sign_in(&s, jar, &user, &f.next).await,
        None => {
            let page = LoginPage {
                email: f.email,
                next: f.next,
                error: Some("That email and password do not match an account.".into()),
                providers: providers_of(&s),
            };
            Ok((StatusCode::UNAUTHORIZED, render(&page)).into_response())
        }
    }
}

fn redirect_uri(s: &AppState, provider: &str) -> String {
    format!("{}/auth/{provider}/callback", s.public_url)
}

/// The cookie binding a provider login to this browser: sent back on the
/// provider's redirect (a top-level navigation, so `SameSite=Lax` allows it).
fn state_cookie(s: &AppState, state: String) -> axum_extra::extract::cookie::Cookie<'static> {
    let mut c = axum_extra::extract::cookie::Cookie::new(oidc::STATE_COOKIE, state);
    c.set_http_only(true);
    c.set_same_site(axum_extra::extract::cookie::SameSite::Lax);
    c.set_path("/auth/");
    c.set_secure(s.sessions.secure);
    c.set_max_age(cookie::time::Duration::seconds(oidc::LOGIN_TTL_SECS));
    c
}

/// Sends the browser to the provider, with a one-time state and a PKCE challenge.
pub async fn provider_start(
    State(s): State<AppState>,
    Path(name): Path<String>,
    Query(q): Query<Next>,
    jar: CookieJar,
) -> Result<Response, super::PageError> {
    let Some(p) = s.providers.iter().find(|p| p.name == name) else {
        return Err(Problem::not_found("such identity provider").into());
    };
    let next = safe_next(q.next.as_deref().unwrap_or("/")).to_owned();
    let (url, state) =
        oidc::start(&s.pool, p, &redirect_uri(&s, &name), &next, None).await.map_err(Problem::internal)?;
    Ok((jar.add(state_cookie(&s, state)), Redirect::to(&url)).into_response())
}

/// A signed-in person links a provider account to themselves: the same
/// round trip as signing in, started from this site's own form (its CSRF
/// token and origin), so no other site can link an account of its choosing.
pub async fn provider_link(
    State(s): State<AppState>,
    Path(name): Path<String>,
    super::Person(session): super::Person,
    headers: HeaderMap,
    jar: CookieJar,
    Form(f): Form<CsrfForm>,
) -> Result<Response, super::PageError> {
    check_origin(&headers)?;
    if !session.csrf_matches(&f.csrf) {
        return Err(Problem::forbidden("link accounts from the dashboard's own button").into());
    }
    let Some(p) = s.providers.iter().find(|p| p.name == name) else {
        return Err(Problem::not_found("such identity provider").into());
    };
    let redirect = redirect_uri(&s, &name);
    let (url, state) =
        oidc::start(&s.pool, p, &redirect, "/integrations", Some(session.user_id)).await.map_err(Problem::internal)?;
    Ok((jar.add(state_cookie(&s, state)), Redirect::to(&url)).into_response())
}

#[derive(Debug, Default, serde::Deserialize)]
pub struct Callback {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

/// The provider sends the browser back here with a code (or an error).
pub async fn provider_callback(
    State(s): State<AppState>,
    Path(name): Path<String>,
    Query(q): Query<Callback>,
    jar: CookieJar,
) -> Result<Response, super::PageError> {
    let Some(p) = s.providers.iter().find(|p| p.name == name) else {
        return Err(Problem::not_found("such identity provider").into());
    };
    let refuse = |status: StatusCode, message: String| {
        let page = LoginPage { error: Some(message), providers: providers_of(&s), ..Default::default() };
        (status, render(&page)).into_response()
    };
    if let Some(error) = q.error {
        let why = q.error_description.unwrap_or(error);
        return Ok(refuse(StatusCode::UNAUTHORIZED, format!("{} did not sign you in: {why}", p.label)));
    }
    let (Some(code), Some(state)) = (q.code, q.state) else {
        return Ok(refuse(StatusCode::BAD_REQUEST, "the provider's answer lacked its code or state".into()));
    };
    // The state must be the one this browser was given.
    let mine = jar.get(oidc::STATE_COOKIE).map(|c| c.value().to_owned()).unwrap_or_default();
    if mine.is_empty() || !crate::auth::same_bytes(&crate::auth::sha256(&mine), &crate::auth::sha256(&state)) {
        return Ok(refuse(StatusCode::BAD_REQUEST, "this sign-in was started in another browser; start again".into()));
    }
    let mut gone = state_cookie(&s, String::new());
    gone.make_removal();
    let jar = jar.add(gone);
    match oidc::finish(&s.pool, p, &redirect_uri(&s, &name), &state, &code).await {
        Ok(person) => {
            let secret = sessions::start(&s.pool, &s.sessions, person.user_id, &person.tenant).await?;
            Ok((jar.add(s.sessions.cookie(secret)), Redirect::to(safe_next(&person.next))).into_response())
        }
        Err(oidc::OidcError::Db(e)) => Err(Problem::from(e).into()),
        Err(
            e @ (oidc::OidcError::NoAccount { .. }
            | oidc::OidcError::NoShop
            | oidc::OidcError::NotLinked { .. }
            | oidc::OidcError::LinkedToAnother { .. }),
        ) => Ok((jar, refuse(StatusCode::FORBIDDEN, e.to_string())).into_response()),
        Err(e) => Ok((jar, refuse(StatusCode::BAD_REQUEST, e.to_string())).into_response()),
    }
}

#[derive(Debug, Default, serde::Deserialize)]
pub struct SwitchForm {
    #[serde(default)]
    tenant: String,
    #[serde(default)]
    csrf: String,
}

/// Works in another of the person's shops (same session, same sign-in).
pub async fn switch_shop(
    State(s): State<AppState>,
    headers: HeaderMap,
    Form(f): Form<SwitchForm>,
) -> Result<Response, Problem> {
    check_origin(&headers)?;
    let secret = sessions::secret_from(&headers, &s.sessions).unwrap_or_default();
    let Some(session) = sessions::lookup(&s.pool, &secret).await? else {
        return Ok(Redirect::to("/login").into_response());
    };
    if !session.csrf_matches(&f.csrf) {
        return Err(Problem::forbidden("switch shops from the dashboard's own menu"));
    }
    if !sessions::switch(&s.pool, &secret, &f.tenant).await? {
        return Err(Problem::forbidden("you do not belong to that shop"));
    }
    Ok(Redirect::to("/").into_response())
}

#[derive(Debug, Default, serde::Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

pub async fn logout(
    State(s): State<AppState>,
    headers: HeaderMap,
    jar: CookieJar,
    Form(f): Form<CsrfForm>,
) -> Result<Response, Problem> {
    check_origin(&headers)?;
    if let Some(secret) = sessions::secret_from(&headers, &s.sessions) {
        // Signing out needs the page's token, so another site cannot sign a person out.
        if let Some(session) = sessions::lookup(&s.pool, &secret).await? {
            if !session.csrf_matches(&f.csrf) {
                return Err(Problem::forbidden("sign out from the dashboard's own button"));
            }
            sessions::end(&s.pool, &secret).await?;
        }
    }
    Ok((jar.add(s.sessions.removal()), Redirect::to("/login")).into_response())
}

#[cfg(test)]
mod tests {
    #[test]
    fn next_stays_on_this_site() {
        assert_eq!(super::safe_next("/ideas?status=screened"), "/ideas?status=screened");
        for bad in ["//evil.example", "https://evil.example", "/\\evil.example", "", "/\t/evil.example", "/\n", "/ x"] {
            assert_eq!(super::safe_next(bad), "/", "{bad}");
        }
    }
}
