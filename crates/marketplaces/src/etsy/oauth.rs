//! Etsy's OAuth 2: the authorization-code grant with PKCE (S256) that
//! connects a shop, and the refresh grant that keeps it connected. Etsy
//! apps are public clients: the keystring is the client id and no secret
//! is sent to the token endpoint. Etsy rotates the refresh token on every
//! refresh; [`super::tokens`] stores the new one before it is used.

use std::time::Duration;

use chrono::{DateTime, Utc};
use oauth2::basic::{BasicClient, BasicErrorResponse, BasicTokenResponse};
use oauth2::{
    AuthType, AuthUrl, AuthorizationCode, ClientId, CsrfToken, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl,
    RefreshToken, RequestTokenError, Scope, TokenResponse, TokenUrl,
};

use crate::Secret;
use crate::http::{CodeClient, OAuthHttp, client, one_line};
use crate::settings::EtsySettings;

/// What Etsy says an access token lasts when it does not say.
const DEFAULT_LIFETIME_SECS: u64 = 3600;
/// The lifetimes believed: a token said to last less is refreshed no more
/// than once a minute; one said to last longer than a day is refreshed daily.
const LIFETIME_SECS: std::ops::RangeInclusive<u64> = 60..=86_400;

/// How long a token lasts, as the endpoint says, within [`LIFETIME_SECS`].
fn lifetime(said: Option<Duration>) -> chrono::Duration {
    let secs = said.map_or(DEFAULT_LIFETIME_SECS, |d| d.as_secs());
    let secs = secs.clamp(*LIFETIME_SECS.start(), *LIFETIME_SECS.end());
    chrono::Duration::seconds(secs as i64)
}

#[derive(Debug, thiserror::Error)]
pub enum OAuthError {
    #[error("marketplaces.etsy.{field}: {reason}")]
    Settings { field: &'static str, reason: String },
    /// The token endpoint answered with an OAuth error (RFC 6749 §5.2).
    #[error("Etsy refused: {code}{}", if description.is_empty() { String::new() } else { format!(" ({description})") })]
    Refused { code: String, description: String },
    /// Etsy could not be reached, failed, or answered nonsense: try later.
    #[error("Etsy's token endpoint is unavailable: {0}")]
    Unavailable(String),
}

impl OAuthError {
    /// The grant (a code, a refresh token) is no longer good: a refresh
    /// token revoked, expired or already used. Only the seller can mend
    /// that, by connecting again.
    pub fn is_invalid_grant(&self) -> bool {
        matches!(self, Self::Refused { code, .. } if code == "invalid_grant")
    }
}

/// Tokens as the token endpoint issued them.
#[derive(Debug, Clone)]
pub struct Tokens {
    pub access: Secret,
    /// A new refresh token; `None` if the endpoint kept the old one.
    pub refresh: Option<Secret>,
    pub expires_at: DateTime<Utc>,
}

/// A started connection: where to send the seller, and what to keep
/// (server-side) until they come back.
#[derive(Debug)]
pub struct Authorization {
    pub url: String,
    pub state: Secret,
    pub verifier: Secret,
}

/// Etsy's OAuth endpoints for this app.
#[derive(Debug, Clone)]
pub struct EtsyOAuth {
    client: CodeClient,
    http: OAuthHttp,
    scopes: Vec<String>,
}

impl EtsyOAuth {
    /// The client for `settings`, sending sellers back to `redirect`.
    pub fn new(settings: &EtsySettings, redirect: &str) -> Result<Self, OAuthError> {
        let bad = |field: &'static str| {
            move |e: oauth2::url::ParseError| OAuthError::Settings { field, reason: e.to_string() }
        };
        let keystring =
            settings.keystring.as_deref().map(str::trim).filter(|k| !k.is_empty()).ok_or(OAuthError::Settings {
                field: "keystring",
                reason: "is required to connect Etsy shops".into(),
            })?;
        let client = BasicClient::new(ClientId::new(keystring.to_owned()))
            .set_auth_type(AuthType::RequestBody)
            .set_auth_uri(AuthUrl::new(settings.authorize_url.clone()).map_err(bad("authorize_url"))?)
            .set_token_uri(TokenUrl::new(settings.token_url.clone()).map_err(bad("token_url"))?)
            .set_redirect_uri(RedirectUrl::new(redirect.to_owned()).map_err(bad("redirect"))?);
        let http = client_for_tokens().map_err(|e| OAuthError::Settings { field: "http", reason: e.to_string() })?;
        Ok(Self { client, http, scopes: settings.scopes.clone() })
    }

    /// A new authorization: a random one-time `state` and a PKCE verifier
    /// whose S256 challenge goes in the URL.
    pub fn authorize(&self) -> Authorization {
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let (url, state) = self
            .client
            .authorize_url(CsrfToken::new_random)
            .add_scopes(self.scopes.iter().cloned().map(Scope::new))
            .set_pkce_challenge(challenge)
            .url();
        Authorization {
            url: url.to_string(),
            state: Secret::new(state.secret().clone()),
            verifier: Secret::new(verifier.secret().clone()),
        }
    }

    /// Exchanges the code the seller came back with, proving with the
    /// verifier that this app started the authorization.
    pub async fn exchange(&self, code: &str, verifier: &Secret) -> Result<Tokens, OAuthError> {
        let answer = self
            .client
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .set_pkce_verifier(PkceCodeVerifier::new(verifier.expose().to_owned()))
            .request_async(&self.http)
            .await;
        tokens(answer, Utc::now())
    }

    /// New tokens for a refresh token (which Etsy then no longer takes).
    pub async fn refresh(&self, refresh: &Secret) -> Result<Tokens, OAuthError> {
        let answer = self
            .client
            .exchange_refresh_token(&RefreshToken::new(refresh.expose().to_owned()))
            .request_async(&self.http)
            .await;
        tokens(answer, Utc::now())
    }
}

fn client_for_tokens() -> Result<OAuthHttp, reqwest::Error> {
    Ok(OAuthHttp(client(Duration::from_secs(15))?))
}

fn tokens(
    answer: Result<BasicTokenResponse, RequestTokenError<reqwest::Error, BasicErrorResponse>>,
    now: DateTime<Utc>,
) -> Result<Tokens, OAuthError> {
    let answer = answer.map_err(|e| match e {
        RequestTokenError::ServerResponse(r) => OAuthError::Refused {
            code: one_line(r.error().as_ref()),
            description: one_line(r.error_description().map(String::as_str).unwrap_or_default()),
        },
        other => OAuthError::Unavailable(one_line(&other.to_string())),
    })?;
    Ok(Tokens {
        access: Secret::new(answer.access_token().secret().clone()),
        refresh: answer.refresh_token().map(|r| Secret::new(r.secret().clone())),
        expires_at: now + lifetime(answer.expires_in()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> EtsySettings {
        EtsySettings { keystring: Some("app-keystring".into()), ..EtsySettings::default() }
    }

    #[test]
    fn an_authorization_asks_for_the_shop_scopes_with_a_s256_challenge() {
        let oauth = EtsyOAuth::new(&settings(), "https://pod.example/connect/etsy/callback").unwrap();
        let a = oauth.authorize();
        let url = reqwest::Url::parse(&a.url).unwrap();
        let q: std::collections::HashMap<_, _> = url.query_pairs().into_owned().collect();
        assert_eq!(url.host_str(), Some("www.etsy.com"));
        assert_eq!(q["response_type"], "code");
        assert_eq!(q["client_id"], "app-keystring");
        assert_eq!(q["scope"], "listings_r listings_w shops_r transactions_r");
        assert_eq!(q["code_challenge_method"], "S256");
        assert_eq!(q["state"], a.state.expose());
        assert_eq!(q["redirect_uri"], "https://pod.example/connect/etsy/callback");
        assert!(a.verifier.expose().len() >= 43, "RFC 7636 §4.1: at least 43 characters");
        assert!(!a.url.contains(a.verifier.expose()), "the verifier never leaves the server");
        assert_ne!(oauth.authorize().state, a.state, "a state is used once");
    }

    #[test]
    fn a_lifetime_is_believed_within_a_minute_and_a_day() {
        assert_eq!(lifetime(None), chrono::Duration::hours(1));
        assert_eq!(lifetime(Some(Duration::ZERO)), chrono::Duration::minutes(1));
        assert_eq!(lifetime(Some(Duration::from_secs(u64::MAX))), chrono::Duration::days(1));
        assert_eq!(lifetime(Some(Duration::from_secs(3600))), chrono::Duration::hours(1));
    }

    #[test]
    fn without_a_keystring_nothing_connects() {
        let e = EtsyOAuth::new(&EtsySettings::default(), "https://pod.example/cb").unwrap_err();
        assert!(e.to_string().contains("marketplaces.etsy.keystring"), "{e}");
        let bad = EtsySettings { token_url: "not a url".into(), ..settings() };
        let e = EtsyOAuth::new(&bad, "https://pod.example/cb").unwrap_err();
        assert!(e.to_string().contains("marketplaces.etsy.token_url"), "{e}");
    }
}
