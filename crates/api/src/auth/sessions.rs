//! Browser sessions. The cookie carries a random secret (HTTP-only,
//! SameSite=Lax, Secure and `__Host-` prefixed when the site is served over
//! HTTPS); the table keeps its SHA-256, the person, the tenant they are
//! working in and a CSRF token that every state-changing request must
//! echo — in the `X-CSRF-Token` header (htmx and scripts) or a form's
//! `csrf` field. Requests whose `Origin` names another site are refused too.

use axum::http::{HeaderMap, header};
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};
use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

use super::{Caller, Principal, Role, random_secret, same_bytes, sha256};
use crate::AppState;
use crate::problem::Problem;

pub const CSRF_HEADER: &str = "x-csrf-token";
pub const CSRF_FIELD: &str = "csrf";

/// How sessions are kept.
#[derive(Debug, Clone)]
pub struct SessionSettings {
    /// Secure, `__Host-` cookies (sites served over HTTPS).
    pub secure: bool,
    /// How long a sign-in lasts.
    pub ttl: chrono::Duration,
}

impl Default for SessionSettings {
    fn default() -> Self {
        Self { secure: true, ttl: chrono::Duration::days(7) }
    }
}

impl SessionSettings {
    pub fn cookie_name(&self) -> &'static str {
        if self.secure { "__Host-pod_session" } else { "pod_session" }
    }

    /// The cookie that carries `secret`.
    pub fn cookie(&self, secret: String) -> Cookie<'static> {
        let mut c = Cookie::new(self.cookie_name(), secret);
        c.set_http_only(true);
        c.set_same_site(SameSite::Lax);
        c.set_path("/");
        c.set_secure(self.secure);
        c.set_max_age(time_duration(self.ttl));
        c
    }

    /// A cookie that clears the session's.
    pub fn removal(&self) -> Cookie<'static> {
        let mut c = self.cookie(String::new());
        c.make_removal();
        c
    }
}

fn time_duration(d: chrono::Duration) -> cookie::time::Duration {
    cookie::time::Duration::seconds(d.num_seconds())
}

/// A signed-in person working in one tenant.
#[derive(Debug, Clone, PartialEq)]
pub struct Session {
    pub user_id: Uuid,
    pub email: String,
    pub display_name: String,
    pub tenant: pod_events::TenantId,
    pub tenant_name: String,
    pub role: Role,
    pub csrf: String,
    pub expires_at: DateTime<Utc>,
}

impl Session {
    pub fn caller(&self) -> Caller {
        Caller {
            tenant: self.tenant.clone(),
            role: self.role,
            principal: Principal::Person {
                user_id: self.user_id,
                display_name: self.display_name.clone(),
                email: self.email.clone(),
                csrf: self.csrf.clone(),
            },
        }
    }

    pub fn csrf_matches(&self, sent: &str) -> bool {
        !sent.is_empty() && same_bytes(&sha256(sent), &sha256(&self.csrf))
    }
}

/// Starts a session for a person in a tenant they belong to; returns the
/// cookie's secret.
pub async fn start(
    pool: &PgPool,
    settings: &SessionSettings,
    user_id: Uuid,
    tenant: &str,
) -> Result<String, sqlx::Error> {
    let secret = random_secret();
    let csrf = random_secret();
    sqlx::query(
        "INSERT INTO sessions (session_sha256, user_id, tenant, csrf_token, expires_at)
         VALUES ($1, $2, $3, $4, now() + make_interval(secs => $5))",
    )
    .bind(sha256(&secret))
    .bind(user_id)
    .bind(tenant)
    .bind(&csrf)
    .bind(settings.ttl.num_seconds() as f64)
    .execute(pool)
    .await?;
    // Expired sessions go as new ones arrive.
    sqlx::query("DELETE FROM sessions WHERE expires_at < now()").execute(pool).await?;
    Ok(secret)
}

/// Moves a session to another shop of the same person. `false` when the
/// person does not belong to that shop (nothing changes).
pub async fn switch(pool: &PgPool, secret: &str, tenant: &str) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE sessions s SET tenant = $2
         WHERE s.session_sha256 = $1 AND s.expires_at > now()
           AND EXISTS (SELECT 1 FROM memberships m WHERE m.user_id = s.user_id AND m.tenant = $2)",
    )
    .bind(sha256(secret))
    .bind(tenant)
    .execute(pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// The shops a person belongs to: `(tenant, name)`, in joining order.
pub async fn shops_of(pool: &PgPool, user_id: Uuid) -> Result<Vec<(String, String)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT m.tenant, t.name FROM memberships m JOIN tenants t ON t.tenant = m.tenant
         WHERE m.user_id = $1 ORDER BY m.created_at, m.tenant",
    )
    .bind(user_id)
    .fetch_all(pool)
    .await
}

/// Ends the session whose cookie secret this is.
pub async fn end(pool: &PgPool, secret: &str) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM sessions WHERE session_sha256 = $1").bind(sha256(secret)).execute(pool).await?;
    Ok(())
}

/// The session a cookie secret stands for: live, and its person still a
/// member of its tenant.
pub async fn lookup(pool: &PgPool, secret: &str) -> Result<Option<Session>, sqlx::Error> {
    type Row = (Uuid, String, String, pod_events::TenantId, String, String, String, DateTime<Utc>, bool);
    let row: Option<Row> = sqlx::query_as(
        "SELECT u.user_id, u.email, u.display_name, s.tenant, t.name, m.role, s.csrf_token, s.expires_at,
                s.last_seen_at < now() - interval '1 minute'
         FROM sessions s
         JOIN users u ON u.user_id = s.user_id
         JOIN memberships m ON m.user_id = s.user_id AND m.tenant = s.tenant
         JOIN tenants t ON t.tenant = s.tenant
         WHERE s.session_sha256 = $1 AND s.expires_at > now()",
    )
    .bind(sha256(secret))
    .fetch_optional(pool)
    .await?;
    let Some((user_id, email, display_name, tenant, tenant_name, role, csrf, expires_at, stale)) = row else {
        return Ok(None);
    };
    let Some(role) = Role::parse(&role) else { return Ok(None) };
    if stale {
        sqlx::query("UPDATE sessions SET last_seen_at = now() WHERE session_sha256 = $1")
            .bind(sha256(secret))
            .execute(pool)
            .await?;
    }
    Ok(Some(Session { user_id, email, display_name, tenant, tenant_name, role, csrf, expires_at }))
}

/// The cookie's secret, if the request carries one.
pub fn secret_from(headers: &HeaderMap, settings: &SessionSettings) -> Option<String> {
    CookieJar::from_headers(headers).get(settings.cookie_name()).map(|c| c.value().to_owned())
}

/// The request's session, if it carries a live one.
pub async fn from_cookies(headers: &HeaderMap, state: &AppState) -> Result<Option<Session>, sqlx::Error> {
    match secret_from(headers, &state.sessions) {
        Some(secret) if !secret.is_empty() => lookup(&state.pool, &secret).await,
        _ => Ok(None),
    }
}

/// Refuses a state-changing request another site started: a browser names
/// the page's origin in `Origin` (and `Sec-Fetch-Site`), which must be this
/// host.
pub fn check_origin(headers: &HeaderMap) -> Result<(), Problem> {
    if headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) == Some("cross-site") {
        return Err(Problem::forbidden("cross-site requests cannot change anything here"));
    }
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return Ok(());
    };
    let host = headers
        .get("x-forwarded-host")
        .or_else(|| headers.get(header::HOST))
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let origin_host = origin.split_once("://").map(|(_, rest)| rest).unwrap_or(origin);
    // An Origin with nothing to compare it to (HTTP/2 without a Host) is refused.
    if !host.is_empty() && origin_host.eq_ignore_ascii_case(host) {
        Ok(())
    } else {
        Err(Problem::forbidden(format!("a request from {origin} cannot change anything here")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn origin_must_be_this_host() {
        assert!(check_origin(&headers(&[("host", "127.0.0.1:8080")])).is_ok());
        assert!(check_origin(&headers(&[("host", "127.0.0.1:8080"), ("origin", "http://127.0.0.1:8080")])).is_ok());
        assert!(check_origin(&headers(&[("host", "127.0.0.1:8080"), ("origin", "https://evil.example")])).is_err());
        assert!(check_origin(&headers(&[("host", "shop.example"), ("origin", "http://shop.example:81")])).is_err());
        assert!(check_origin(&headers(&[("host", "a"), ("sec-fetch-site", "cross-site")])).is_err());
        assert!(check_origin(&headers(&[("origin", "http://127.0.0.1:8080")])).is_err(), "no host to compare with");
    }

    #[test]
    fn cookies_are_http_only_and_secure_over_https() {
        let secure = SessionSettings::default().cookie("s".into()).to_string();
        assert!(secure.starts_with("__Host-pod_session=s"), "{secure}");
        for part in ["HttpOnly", "SameSite=Lax", "Secure", "Path=/"] {
            assert!(secure.contains(part), "{secure} lacks {part}");
        }
        let plain = SessionSettings { secure: false, ..Default::default() }.cookie("s".into()).to_string();
        assert!(plain.starts_with("pod_session=s") && plain.contains("HttpOnly") && !plain.contains("Secure"));
    }
}
