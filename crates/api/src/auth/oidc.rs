//! Sign-in through OAuth 2 / OpenID Connect providers (Google, Microsoft,
//! Okta, Keycloak, …), configured by settings or environment
//! (`POD__OIDC__<NAME>__CLIENT_ID`, …). The authorization-code flow with
//! PKCE (S256) and a one-time `state`: the state is stored hashed with the
//! PKCE verifier and bound to the browser by a short-lived cookie; the
//! person is read from the provider's userinfo endpoint with the access
//! token. A provider account signs in the person it was linked to, or the
//! person whose verified email it carries (then it is linked); it never
//! creates an account on its own.

use std::time::Duration;

use oauth2::basic::BasicClient;
use oauth2::{
    AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl,
    Scope, TokenResponse, TokenUrl,
};
use pod_marketplaces::http::{CodeClient, OAuthHttp};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use uuid::Uuid;

use super::{Role, sha256};

/// How long a started login may take.
pub const LOGIN_TTL_SECS: i64 = 600;
/// The cookie that binds a login to the browser that started it.
pub const STATE_COOKIE: &str = "pod_oauth_state";

/// One provider as configured.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ProviderSettings {
    /// The button's words: "Google", "Okta", …
    pub label: String,
    /// With an issuer, the endpoints come from its discovery document.
    pub issuer: Option<String>,
    pub authorize_url: Option<String>,
    pub token_url: Option<String>,
    pub userinfo_url: Option<String>,
    pub client_id: String,
    pub client_secret: Option<String>,
    /// Default: `openid email profile`.
    pub scopes: Vec<String>,
    /// Whether a first sign-in may find its person by the email this
    /// provider says it verified. Only for providers that own their users'
    /// addresses (a company's own directory, Google Workspace); off by
    /// default: people then link the account once from a signed-in session.
    pub link_by_email: bool,
}

/// A provider ready to use: its endpoints resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct Provider {
    pub name: String,
    pub label: String,
    pub authorize_url: String,
    pub token_url: String,
    pub userinfo_url: String,
    pub client_id: String,
    pub client_secret: Option<String>,
    pub scopes: Vec<String>,
    pub link_by_email: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum OidcError {
    #[error("identity provider {provider}: {field}: {reason}")]
    Settings { provider: String, field: &'static str, reason: String },
    #[error("identity provider {provider}: discovery at {url}: {reason}")]
    Discovery { provider: String, url: String, reason: String },
    #[error("this sign-in link has expired or was already used; start again")]
    UnknownState,
    #[error("the identity provider refused the sign-in: {0}")]
    Exchange(String),
    #[error("the identity provider's answer about you was unusable: {0}")]
    Userinfo(String),
    #[error("no account for {email}: ask your shop's owner to add you (`pod users create`), then sign in again")]
    NoAccount { email: String },
    #[error("this account belongs to no shop yet; ask an owner to add you")]
    NoShop,
    #[error(
        "this {provider} account is not linked to anyone here yet: sign in with your password, then link it \
         under Integrations"
    )]
    NotLinked { provider: String },
    #[error("this {provider} account is already linked to someone else")]
    LinkedToAnother { provider: String },
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

#[derive(Debug, Deserialize)]
struct Discovery {
    authorization_endpoint: String,
    token_endpoint: String,
    userinfo_endpoint: String,
}

fn http_client() -> Result<reqwest::Client, reqwest::Error> {
    pod_marketplaces::http::client(Duration::from_secs(15))
}

impl Provider {
    /// Resolves a configured provider, fetching its discovery document when
    /// it names an issuer and leaves endpoints out.
    pub async fn resolve(name: &str, s: &ProviderSettings) -> Result<Self, OidcError> {
        let bad = |field: &'static str, reason: &str| OidcError::Settings {
            provider: name.into(),
            field,
            reason: reason.into(),
        };
        if s.client_id.trim().is_empty() {
            return Err(bad("client_id", "is required"));
        }
        let (mut authorize, mut token, mut userinfo) =
            (s.authorize_url.clone(), s.token_url.clone(), s.userinfo_url.clone());
        if (authorize.is_none() || token.is_none() || userinfo.is_none())
            && let Some(issuer) = &s.issuer
        {
            let url = format!("{}/.well-known/openid-configuration", issuer.trim_end_matches('/'));
            let fail = |reason: String| OidcError::Discovery { provider: name.into(), url: url.clone(), reason };
            let client = http_client().map_err(|e| fail(e.to_string()))?;
            let resp = client.get(&url).send().await.map_err(|e| fail(e.to_string()))?;
            if !resp.status().is_success() {
                return Err(fail(format!("answered {}", resp.status())));
            }
            let d: Discovery = resp.json().await.map_err(|e| fail(e.to_string()))?;
            authorize = authorize.or(Some(d.authorization_endpoint));
            token = token.or(Some(d.token_endpoint));
            userinfo = userinfo.or(Some(d.userinfo_endpoint));
        }
        let provider = Self {
            name: name.into(),
            label: if s.label.is_empty() { name.into() } else { s.label.clone() },
            authorize_url: authorize.ok_or_else(|| bad("authorize_url", "is required without an issuer"))?,
            token_url: token.ok_or_else(|| bad("token_url", "is required without an issuer"))?,
            userinfo_url: userinfo.ok_or_else(|| bad("userinfo_url", "is required without an issuer"))?,
            client_id: s.client_id.clone(),
            client_secret: s.client_secret.clone().filter(|c| !c.is_empty()),
            scopes: if s.scopes.is_empty() {
                vec!["openid".into(), "email".into(), "profile".into()]
            } else {
                s.scopes.clone()
            },
            link_by_email: s.link_by_email,
        };
        for (field, url) in [
            ("authorize_url", &provider.authorize_url),
            ("token_url", &provider.token_url),
            ("userinfo_url", &provider.userinfo_url),
        ] {
            reqwest::Url::parse(url).map_err(|e| bad(field, &e.to_string()))?;
        }
        Ok(provider)
    }

    fn client(&self, redirect: &str) -> Result<CodeClient, OidcError> {
        let bad = |field: &'static str, e: oauth2::url::ParseError| OidcError::Settings {
            provider: self.name.clone(),
            field,
            reason: e.to_string(),
        };
        let mut client = BasicClient::new(ClientId::new(self.client_id.clone()))
            .set_auth_uri(AuthUrl::new(self.authorize_url.clone()).map_err(|e| bad("authorize_url", e))?)
            .set_token_uri(TokenUrl::new(self.token_url.clone()).map_err(|e| bad("token_url", e))?)
            .set_redirect_uri(RedirectUrl::new(redirect.to_owned()).map_err(|e| bad("redirect", e))?);
        if let Some(secret) = &self.client_secret {
            client = client.set_client_secret(ClientSecret::new(secret.clone()));
        }
        Ok(client)
    }
}

/// Starts a login: where to send the browser, and the state its cookie keeps.
/// Starts a sign-in with `p`; with `link_user`, a signed-in person linking
/// the provider account to themselves.
pub async fn start(
    pool: &PgPool,
    p: &Provider,
    redirect: &str,
    next: &str,
    link_user: Option<Uuid>,
) -> Result<(String, String), OidcError> {
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, state) = p
        .client(redirect)?
        .authorize_url(CsrfToken::new_random)
        .add_scopes(p.scopes.iter().cloned().map(Scope::new))
        .set_pkce_challenge(challenge)
        .url();
    sqlx::query(
        "INSERT INTO oauth_logins (state_sha256, provider, pkce_verifier, next, expires_at, link_user_id)
         VALUES ($1, $2, $3, $4, now() + make_interval(secs => $5), $6)",
    )
    .bind(sha256(state.secret()))
    .bind(&p.name)
    .bind(verifier.secret())
    .bind(next)
    .bind(LOGIN_TTL_SECS as f64)
    .bind(link_user)
    .execute(pool)
    .await?;
    sqlx::query("DELETE FROM oauth_logins WHERE expires_at < now()").execute(pool).await?;
    Ok((url.to_string(), state.secret().clone()))
}

/// Who the provider says the person is.
#[derive(Debug, Clone, Deserialize)]
pub struct Claims {
    pub sub: String,
    pub email: Option<String>,
    #[serde(default)]
    pub email_verified: Option<bool>,
    pub name: Option<String>,
}

/// The person signing in, and where they were going.
#[derive(Debug, Clone, PartialEq)]
pub struct SignedInPerson {
    pub user_id: Uuid,
    pub tenant: String,
    pub role: Role,
    pub next: String,
}

/// Finishes a login: the state must be one we issued (once, in time, for
/// this provider), the code is exchanged with the PKCE verifier, and the
/// person is found by their provider account or verified email.
pub async fn finish(
    pool: &PgPool,
    p: &Provider,
    redirect: &str,
    state: &str,
    code: &str,
) -> Result<SignedInPerson, OidcError> {
    let row: Option<(String, String, Option<Uuid>)> = sqlx::query_as(
        "DELETE FROM oauth_logins WHERE state_sha256 = $1 AND provider = $2 AND expires_at > now()
         RETURNING pkce_verifier, next, link_user_id",
    )
    .bind(sha256(state))
    .bind(&p.name)
    .fetch_optional(pool)
    .await?;
    let (verifier, next, link_user) = row.ok_or(OidcError::UnknownState)?;
    let http = OAuthHttp(http_client().map_err(|e| OidcError::Exchange(e.to_string()))?);
    let token = p
        .client(redirect)?
        .exchange_code(AuthorizationCode::new(code.to_owned()))
        .set_pkce_verifier(PkceCodeVerifier::new(verifier))
        .request_async(&http)
        .await
        .map_err(|e| OidcError::Exchange(describe_token_error(&e)))?;
    let resp = http
        .0
        .get(&p.userinfo_url)
        .bearer_auth(token.access_token().secret())
        .send()
        .await
        .map_err(|e| OidcError::Userinfo(e.to_string()))?;
    if !resp.status().is_success() {
        return Err(OidcError::Userinfo(format!("userinfo answered {}", resp.status())));
    }
    let claims: Claims = resp.json().await.map_err(|e| OidcError::Userinfo(e.to_string()))?;
    let how = if let Some(user) = link_user {
        Finding::LinkTo(user)
    } else if p.link_by_email {
        Finding::ByVerifiedEmail
    } else {
        Finding::LinkedOnly
    };
    let person = person_for(pool, &p.name, &claims, how).await?;
    Ok(SignedInPerson { next, ..person })
}

fn describe_token_error<RE: std::error::Error + 'static>(
    e: &oauth2::RequestTokenError<RE, oauth2::basic::BasicErrorResponse>,
) -> String {
    match e {
        oauth2::RequestTokenError::ServerResponse(r) => {
            let detail = r.error_description().cloned().unwrap_or_default();
            format!("{} {detail}", r.error()).trim().to_owned()
        }
        other => other.to_string(),
    }
}

/// How a provider account that is not linked yet finds its person.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Finding {
    /// It is not: only linked accounts sign in.
    LinkedOnly,
    /// By the email the provider verified (then it is linked).
    ByVerifiedEmail,
    /// It is linked to this signed-in person.
    LinkTo(Uuid),
}

/// The person a provider account stands for, in their first shop.
pub async fn person_for(pool: &PgPool, provider: &str, c: &Claims, how: Finding) -> Result<SignedInPerson, OidcError> {
    if c.sub.trim().is_empty() {
        return Err(OidcError::Userinfo("no `sub`".into()));
    }
    let linked: Option<Uuid> =
        sqlx::query_scalar("SELECT user_id FROM user_identities WHERE provider = $1 AND subject = $2")
            .bind(provider)
            .bind(&c.sub)
            .fetch_optional(pool)
            .await?;
    let user_id = match (linked, how) {
        (Some(id), Finding::LinkTo(me)) if id != me => {
            return Err(OidcError::LinkedToAnother { provider: provider.into() });
        }
        (Some(id), _) => id,
        (None, Finding::LinkedOnly) => return Err(OidcError::NotLinked { provider: provider.into() }),
        (None, Finding::LinkTo(me)) => {
            let email = c.email.as_deref().map(|e| e.trim().to_lowercase()).unwrap_or_default();
            let linked = sqlx::query(
                "INSERT INTO user_identities (provider, subject, user_id, email) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (provider, subject) DO NOTHING",
            )
            .bind(provider)
            .bind(&c.sub)
            .bind(me)
            .bind(&email)
            .execute(pool)
            .await?;
            if linked.rows_affected() == 0 {
                // Linked meanwhile by another sign-in: fine if to this person.
                let owner: Option<Uuid> =
                    sqlx::query_scalar("SELECT user_id FROM user_identities WHERE provider = $1 AND subject = $2")
                        .bind(provider)
                        .bind(&c.sub)
                        .fetch_optional(pool)
                        .await?;
                if owner != Some(me) {
                    return Err(OidcError::LinkedToAnother { provider: provider.into() });
                }
            }
            me
        }
        (None, Finding::ByVerifiedEmail) => {
            let email = c.email.as_deref().map(|e| e.trim().to_lowercase()).unwrap_or_default();
            if email.is_empty() {
                return Err(OidcError::Userinfo("no email to find your account by".into()));
            }
            if c.email_verified != Some(true) {
                return Err(OidcError::Userinfo(format!("the provider has not verified {email}")));
            }
            let id: Option<Uuid> = sqlx::query_scalar("SELECT user_id FROM users WHERE email = $1")
                .bind(&email)
                .fetch_optional(pool)
                .await?;
            let id = id.ok_or(OidcError::NoAccount { email: email.clone() })?;
            sqlx::query(
                "INSERT INTO user_identities (provider, subject, user_id, email) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (provider, subject) DO NOTHING",
            )
            .bind(provider)
            .bind(&c.sub)
            .bind(id)
            .bind(&email)
            .execute(pool)
            .await?;
            id
        }
    };
    sqlx::query("UPDATE user_identities SET last_login_at = now() WHERE provider = $1 AND subject = $2")
        .bind(provider)
        .bind(&c.sub)
        .execute(pool)
        .await?;
    sqlx::query("UPDATE users SET last_login_at = now() WHERE user_id = $1").bind(user_id).execute(pool).await?;
    let first: Option<(String, String)> =
        sqlx::query_as("SELECT tenant, role FROM memberships WHERE user_id = $1 ORDER BY created_at, tenant LIMIT 1")
            .bind(user_id)
            .fetch_optional(pool)
            .await?;
    let (tenant, role) = first.ok_or(OidcError::NoShop)?;
    let role = Role::parse(&role).ok_or(OidcError::NoShop)?;
    Ok(SignedInPerson { user_id, tenant, role, next: "/".into() })
}
