//! Requests to Etsy on a shop's behalf, as the publishing and sync workers
//! make them: within the app's budgets (Etsy's limits are per app:
//! requests a second, evenly spaced, and a day; a day Etsy says is spent
//! waits), with the shop's token refreshed ahead of its expiry, and, when
//! Etsy refuses the token sent (it expired mid-run, or was refreshed by
//! another process), refreshed and the request tried once more.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use pod_events::{TenantId, Transient};
use pod_marketplaces::etsy::api::{ApiError, EtsyApi};
use pod_marketplaces::etsy::tokens::{ShopTokens, TokenError};
use pod_marketplaces::etsy::{EtsyOAuth, OAuthError};
use pod_marketplaces::{EtsySettings, Keyring, Secret};
use sqlx::PgPool;
use uuid::Uuid;

use crate::publishing::limits::AppLimits;
use crate::runtime::HandlerError;

/// How long to wait when Etsy said the app's requests for the day are spent.
pub const DAY_SPENT_WAIT: Duration = Duration::from_secs(15 * 60);

/// The app at Etsy, in this process: its client, its shops' tokens, its budgets.
pub struct EtsyApp {
    pub api: EtsyApi,
    pub settings: EtsySettings,
    tokens: ShopTokens,
    limits: AppLimits,
}

impl EtsyApp {
    /// `redirect` is where the app's OAuth client sends sellers back (the
    /// same as the API's; a refresh does not use it, but the client is one).
    pub fn new(settings: &EtsySettings, redirect: &str, pool: PgPool, keys: Arc<Keyring>) -> Result<Self, String> {
        let api = EtsyApi::new(settings).map_err(|e| e.to_string())?;
        let oauth = EtsyOAuth::new(settings, redirect).map_err(|e: OAuthError| e.to_string())?;
        let ahead = chrono::Duration::seconds(settings.refresh_ahead_secs.into());
        Ok(Self {
            api,
            settings: settings.clone(),
            tokens: ShopTokens::new(pool, keys, oauth, ahead),
            limits: AppLimits::new("Etsy", settings.requests_per_second, settings.requests_per_day),
        })
    }

    /// Requests on behalf of one shop.
    pub fn session<'a>(&'a self, tenant: &'a TenantId, shop_id: Uuid) -> Session<'a> {
        Session { app: self, tenant, shop_id, token: Mutex::new(None), refreshed_until: Mutex::new(None) }
    }
}

/// Why a request was not answered.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// Etsy's own answer (after one more try with a fresh token, where it
    /// refused the first).
    #[error(transparent)]
    Api(#[from] ApiError),
    /// Etsy refused the shop's refresh token for good (`invalid_grant`).
    #[error("Etsy no longer takes the shop's tokens: {0}")]
    NeedsReconnect(String),
    #[error("no Etsy tokens are kept for the shop")]
    NotConnected,
    /// Reading, locking or refreshing the tokens failed.
    #[error(transparent)]
    Tokens(TokenError),
    /// A budget is spent: carry on after the deferral's wait.
    #[error("{0}")]
    Budget(HandlerError),
}

impl Transient for SessionError {
    fn is_transient(&self) -> bool {
        match self {
            Self::Api(e) => e.is_transient(),
            Self::Tokens(e) => e.is_transient(),
            Self::Budget(_) => true,
            Self::NeedsReconnect(_) | Self::NotConnected => false,
        }
    }
}

/// One run's requests for one shop; the token is loaded once.
pub struct Session<'a> {
    app: &'a EtsyApp,
    tenant: &'a TenantId,
    shop_id: Uuid,
    token: Mutex<Option<Secret>>,
    refreshed_until: Mutex<Option<DateTime<Utc>>>,
}

impl Session<'_> {
    /// One request, made with the token: within the budgets, tried once
    /// more with a fresh token if Etsy refuses the one sent.
    pub async fn call<T, F, Fut>(&self, request: F) -> Result<T, SessionError>
    where
        F: Fn(Secret) -> Fut,
        Fut: Future<Output = Result<T, ApiError>>,
    {
        let token = self.token(None).await?;
        self.spend().await?;
        match request(token.clone()).await {
            Err(ApiError::Unauthorized) => {
                let fresh = self.token(Some(&token)).await?;
                self.spend().await?;
                Ok(request(fresh).await?)
            }
            other => Ok(other?),
        }
    }

    /// Until when the tokens now work, if this session refreshed them
    /// (once: the caller records it on the Shop).
    pub fn take_refresh(&self) -> Option<DateTime<Utc>> {
        self.refreshed_until.lock().unwrap_or_else(|p| p.into_inner()).take()
    }

    async fn spend(&self) -> Result<(), SessionError> {
        if self.app.api.headroom().is_some_and(|h| h.day_spent(Utc::now(), DAY_SPENT_WAIT)) {
            let why = "Etsy says the app's requests for today are spent";
            return Err(SessionError::Budget(HandlerError::deferred(why, DAY_SPENT_WAIT)));
        }
        self.app.limits.request().await.map_err(SessionError::Budget)
    }

    /// The token to send: the one in use, or (after `rejected` was
    /// refused) a fresh one.
    async fn token(&self, rejected: Option<&Secret>) -> Result<Secret, SessionError> {
        let in_use = self.token.lock().unwrap_or_else(|p| p.into_inner()).clone();
        if let (Some(t), None) = (&in_use, rejected) {
            return Ok(t.clone());
        }
        let got = match rejected {
            None => self.app.tokens.access(self.tenant, self.shop_id).await,
            Some(r) => self.app.tokens.after_rejection(self.tenant, self.shop_id, r).await,
        };
        let access = match got {
            Ok(a) => a,
            Err(TokenError::NeedsReconnect { reason, .. }) => return Err(SessionError::NeedsReconnect(reason)),
            Err(TokenError::NotConnected { .. }) => return Err(SessionError::NotConnected),
            Err(e) => return Err(SessionError::Tokens(e)),
        };
        if let Some(until) = access.refreshed_until {
            *self.refreshed_until.lock().unwrap_or_else(|p| p.into_inner()) = Some(until);
        }
        *self.token.lock().unwrap_or_else(|p| p.into_inner()) = Some(access.token.clone());
        Ok(access.token)
    }
}
