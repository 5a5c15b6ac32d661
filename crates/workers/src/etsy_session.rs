//! Requests to Etsy on a shop's behalf, as the publishing and sync workers
//! make them: within the app's budgets (Etsy's limits are per app:
//! requests a second, evenly spaced, and a day; a day Etsy says is spent
//! waits) and, for publishing, the tenant's share of the day (counted in
//! Postgres across processes; a sync's requests are not counted, so
//! orders always come back), with the shop's token refreshed ahead of its expiry, and,
//! when Etsy refuses the token sent (it expired mid-run, or was refreshed
//! by another process), refreshed and the request tried once more. What
//! Etsy says is left of the day is kept for the Integrations page.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use pod_events::{TenantId, Transient};
use pod_marketplaces::etsy::api::{ApiError, EtsyApi, Headroom};
use pod_marketplaces::etsy::tokens::{ShopTokens, TokenError};
use pod_marketplaces::etsy::{EtsyOAuth, OAuthError};
use pod_marketplaces::{EtsySettings, Keyring, Secret};
use sqlx::PgPool;
use uuid::Uuid;

use crate::publishing::limits::AppLimits;
use crate::runtime::HandlerError;

/// How long to wait when Etsy said the app's requests for the day are spent.
pub const DAY_SPENT_WAIT: Duration = Duration::from_secs(15 * 60);

/// How often, at most, this process writes down the headroom Etsy reports.
const KEEP_HEADROOM_EVERY: Duration = Duration::from_secs(10);

/// The longest a spent share defers work before the share is looked at
/// again (the day's end by the database's clock may come sooner than by
/// this process's).
const SHARE_LOOKED_AT_AGAIN: Duration = Duration::from_secs(3600);

/// Days of each tenant's counts kept.
const USAGE_KEPT_DAYS: i32 = 7;

/// The app at Etsy, in this process: its client, its shops' tokens, its budgets.
pub struct EtsyApp {
    pub api: EtsyApi,
    pub settings: EtsySettings,
    tokens: ShopTokens,
    limits: AppLimits,
    pool: PgPool,
    /// When this process last wrote down the headroom.
    headroom_kept: Mutex<Option<Instant>>,
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
            tokens: ShopTokens::new(pool.clone(), keys, oauth, ahead),
            limits: AppLimits::new("Etsy", settings.requests_per_second, settings.requests_per_day),
            pool,
            headroom_kept: Mutex::new(None),
        })
    }

    /// Requests on behalf of one shop, to publish: within the tenant's
    /// share of the day.
    pub fn session<'a>(&'a self, tenant: &'a TenantId, shop_id: Uuid) -> Session<'a> {
        Session {
            app: self,
            tenant,
            shop_id,
            token: Mutex::new(None),
            refreshed_until: Mutex::new(None),
            counts_share: true,
        }
    }

    /// Requests on behalf of one shop, to sync it: as many as changed on
    /// Etsy since the last sync, however much the tenant publishes, not
    /// counted in its share, so its orders come back even when its share is
    /// spent.
    pub fn sync_session<'a>(&'a self, tenant: &'a TenantId, shop_id: Uuid) -> Session<'a> {
        Session { counts_share: false, ..self.session(tenant, shop_id) }
    }

    /// Spends one request of the tenant's share of the app's day, counted
    /// in Postgres so every process counts together; a spent share defers
    /// the tenant's work to the next UTC day (looked at again within the
    /// hour). No share is kept when the share is the whole day.
    /// Whether a share is kept (one less than the whole day).
    fn keeps_shares(&self) -> bool {
        self.settings.tenant_requests_per_day < self.settings.requests_per_day
    }

    async fn spend_share(&self, tenant: &TenantId) -> Result<(), SessionError> {
        let share = self.settings.tenant_requests_per_day;
        if !self.keeps_shares() {
            return Ok(());
        }
        let counting = |e: sqlx::Error| {
            SessionError::Budget(HandlerError::transient(format!("counting the tenant's Etsy requests: {e}")))
        };
        let spent: Option<i64> = if share == 0 {
            None
        } else {
            sqlx::query_scalar(
                "INSERT INTO marketplace_usage (tenant, marketplace, day, requests)
                 VALUES ($1, 'etsy', (now() AT TIME ZONE 'UTC')::date, 1)
                 ON CONFLICT (tenant, marketplace, day) DO UPDATE SET requests = marketplace_usage.requests + 1
                 WHERE marketplace_usage.requests < $2
                 RETURNING requests",
            )
            .bind(tenant)
            .bind(i64::from(share))
            .fetch_optional(&self.pool)
            .await
            .map_err(counting)?
        };
        match spent {
            // The tenant's first request of the day: its old counts go.
            Some(1) => {
                sqlx::query(
                    "DELETE FROM marketplace_usage WHERE tenant = $1 AND marketplace = 'etsy'
                     AND day < (now() AT TIME ZONE 'UTC')::date - $2",
                )
                .bind(tenant)
                .bind(USAGE_KEPT_DAYS)
                .execute(&self.pool)
                .await
                .map_err(counting)?;
                Ok(())
            }
            Some(_) => Ok(()),
            None => {
                let why = format!("tenant {tenant} has spent its share of the Etsy app's requests for today ({share})");
                let wait = until_next_utc_day(Utc::now()).min(SHARE_LOOKED_AT_AGAIN);
                Err(SessionError::Budget(HandlerError::deferred(why, wait)))
            }
        }
    }

    /// Gives back a request of the tenant's share that was counted and then
    /// not made (the app's own budgets deferred it).
    async fn refund_share(&self, tenant: &TenantId) {
        if !self.keeps_shares() {
            return;
        }
        let refunded = sqlx::query(
            "UPDATE marketplace_usage SET requests = requests - 1
             WHERE tenant = $1 AND marketplace = 'etsy' AND day = (now() AT TIME ZONE 'UTC')::date AND requests > 0",
        )
        .bind(tenant)
        .execute(&self.pool)
        .await;
        if let Err(e) = refunded {
            tracing::warn!(%tenant, error = %e, "a request counted in the tenant's Etsy share and not made was not given back");
        }
    }

    /// Writes down what Etsy last said is left of the app's day, at most
    /// every [`KEEP_HEADROOM_EVERY`] per process; a failure to is logged,
    /// never in the way of the request.
    async fn keep_headroom(&self) {
        let Some(seen) = self.api.headroom() else { return };
        {
            let mut kept = self.headroom_kept.lock().unwrap_or_else(|p| p.into_inner());
            if kept.is_some_and(|at| at.elapsed() < KEEP_HEADROOM_EVERY) {
                return;
            }
            *kept = Some(Instant::now());
        }
        if let Err(e) = keep_headroom(&self.pool, &seen).await {
            tracing::warn!(error = %e, "Etsy's headroom was not written down");
        }
    }
}

/// Upserts the app's headroom unless a newer one is kept already.
async fn keep_headroom(pool: &PgPool, seen: &Headroom) -> Result<(), sqlx::Error> {
    let number = |n: Option<u64>| n.map(|n| i64::try_from(n).unwrap_or(i64::MAX));
    sqlx::query(
        "INSERT INTO marketplace_quota (marketplace, remaining_today, limit_per_day, seen_at)
         VALUES ('etsy', $1, $2, $3)
         ON CONFLICT (marketplace) DO UPDATE
         SET remaining_today = COALESCE($1, marketplace_quota.remaining_today),
             limit_per_day = COALESCE($2, marketplace_quota.limit_per_day), seen_at = $3
         WHERE marketplace_quota.seen_at <= $3",
    )
    .bind(number(seen.remaining_today))
    .bind(number(seen.limit_per_day))
    .bind(seen.seen_at)
    .execute(pool)
    .await?;
    Ok(())
}

/// How long until the next UTC day begins (a minute at least).
fn until_next_utc_day(now: DateTime<Utc>) -> Duration {
    let tomorrow = now.date_naive().succ_opt().and_then(|d| d.and_hms_opt(0, 0, 0)).map(|t| t.and_utc());
    let wait = tomorrow.map(|t| t - now).and_then(|d| d.to_std().ok()).unwrap_or(Duration::from_secs(3600));
    wait.max(Duration::from_secs(60))
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
    /// Its requests count in the tenant's share of the day.
    counts_share: bool,
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
        let answer = match request(token.clone()).await {
            Err(ApiError::Unauthorized) => {
                let fresh = self.token(Some(&token)).await?;
                self.spend().await?;
                request(fresh).await
            }
            other => other,
        };
        self.app.keep_headroom().await;
        Ok(answer?)
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
        if !self.counts_share {
            return self.app.limits.request().await.map_err(SessionError::Budget);
        }
        self.app.spend_share(self.tenant).await?;
        if let Err(deferred) = self.app.limits.request().await {
            self.app.refund_share(self.tenant).await;
            return Err(SessionError::Budget(deferred));
        }
        Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_spent_share_waits_for_the_next_utc_day() {
        let at = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
        assert_eq!(until_next_utc_day(at("2026-12-03T18:00:00Z")), Duration::from_secs(6 * 3600));
        assert_eq!(until_next_utc_day(at("2026-12-03T23:59:50Z")), Duration::from_secs(60), "a minute at least");
    }
}
