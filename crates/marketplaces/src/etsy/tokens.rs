//! A connected Etsy shop's tokens: an access token that works now, refreshed
//! ahead of its expiry. Etsy rotates the refresh token on every refresh and
//! takes the old one no more, so a refresh happens under a per-shop
//! advisory lock (two processes never refresh one shop at once: the second
//! finds the first's tokens) and the new refresh token is stored, in the
//! lock's transaction, before the new access token is used.
//!
//! The one window left is Etsy's: if the process dies after Etsy rotated
//! the token and before the commit, the new refresh token is lost and the
//! next refresh is refused (`invalid_grant`); the shop then needs
//! reconnecting, which the seller is told.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use pod_events::{TenantId, Transient};
use sqlx::PgPool;
use uuid::Uuid;

use super::oauth::{EtsyOAuth, OAuthError, Tokens};
use crate::credentials::{self, Credential, CredentialError, Kind};
use crate::{Keyring, Secret};

/// An access token to send now.
#[derive(Debug, Clone)]
pub struct Access {
    pub token: Secret,
    /// Set when this call refreshed the tokens: until when they now work
    /// (the caller records `ShopCommand::RecordTokenRefresh`).
    pub refreshed_until: Option<DateTime<Utc>>,
}

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("shop {shop_id} has no Etsy tokens: connect it")]
    NotConnected { shop_id: Uuid },
    /// Etsy refused the refresh token for good: the seller must connect the
    /// shop again (`ShopCommand::MarkNeedsReconnect`).
    #[error("Etsy no longer accepts shop {shop_id}'s tokens: {reason}")]
    NeedsReconnect { shop_id: Uuid, reason: String },
    #[error("refreshing shop {shop_id}'s tokens: {source}")]
    Refresh { shop_id: Uuid, source: OAuthError },
    #[error(transparent)]
    Credentials(#[from] CredentialError),
    #[error("the token lock: {0}")]
    Lock(#[from] sqlx::Error),
    #[error("the refresh task ended early: {0}")]
    Interrupted(String),
}

impl Transient for TokenError {
    fn is_transient(&self) -> bool {
        match self {
            Self::NotConnected { .. } | Self::NeedsReconnect { .. } => false,
            Self::Refresh { source, .. } => matches!(source, OAuthError::Unavailable(_)),
            Self::Credentials(e) => e.is_transient(),
            Self::Lock(_) | Self::Interrupted(_) => true,
        }
    }
}

/// Keeps the tokens a shop was just connected with (the refresh token
/// first: without it the access token is an hour's worth).
pub async fn keep(
    pool: &PgPool,
    keys: &Keyring,
    tenant: &TenantId,
    shop_id: Uuid,
    tokens: &Tokens,
) -> Result<(), TokenError> {
    let mut tx = pool.begin().await?;
    // A refresh in flight with the grant being replaced must not overwrite
    // the new tokens with the old grant's.
    lock_shop(&mut tx, tenant, shop_id).await?;
    keep_in(&mut tx, keys, tenant, shop_id, tokens, None).await?;
    tx.commit().await?;
    Ok(())
}

/// How long a process waits for another's refresh of the same shop.
const LOCK_WAIT: &str = "20s";

/// Takes the shop's token lock for the transaction (waiting at most
/// [`LOCK_WAIT`]: a stuck refresh must not pin connections for good).
async fn lock_shop(tx: &mut sqlx::PgConnection, tenant: &TenantId, shop_id: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query(sqlx::AssertSqlSafe(format!("SET LOCAL lock_timeout = '{LOCK_WAIT}'"))).execute(&mut *tx).await?;
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
        .bind(format!("pod/shop-tokens/{tenant}/{shop_id}"))
        .execute(&mut *tx)
        .await?;
    Ok(())
}

async fn keep_in(
    tx: &mut sqlx::PgConnection,
    keys: &Keyring,
    tenant: &TenantId,
    shop_id: Uuid,
    tokens: &Tokens,
    old_refresh: Option<Credential>,
) -> Result<(), TokenError> {
    let refresh = match (&tokens.refresh, old_refresh) {
        (Some(new), _) => Credential { secret: new.clone(), expires_at: None },
        (None, Some(old)) => old,
        (None, None) => return Err(TokenError::NotConnected { shop_id }),
    };
    credentials::store(&mut *tx, keys, tenant, shop_id, Kind::RefreshToken, &refresh).await?;
    let access = Credential { secret: tokens.access.clone(), expires_at: Some(tokens.expires_at) };
    credentials::store(&mut *tx, keys, tenant, shop_id, Kind::AccessToken, &access).await?;
    Ok(())
}

/// A shop's Etsy tokens, refreshed `ahead` of their expiry.
#[derive(Debug, Clone)]
pub struct ShopTokens {
    pool: PgPool,
    keys: Arc<Keyring>,
    oauth: EtsyOAuth,
    ahead: chrono::Duration,
}

impl ShopTokens {
    pub fn new(pool: PgPool, keys: Arc<Keyring>, oauth: EtsyOAuth, ahead: chrono::Duration) -> Self {
        Self { pool, keys, oauth, ahead }
    }

    /// An access token that works for at least `ahead` more.
    pub async fn access(&self, tenant: &TenantId, shop_id: Uuid) -> Result<Access, TokenError> {
        self.fresh(tenant, shop_id, None).await
    }

    /// A token other than `rejected`, which Etsy just refused as expired
    /// or invalid (a token that expired mid-publish): refreshed unless
    /// another process has refreshed it meanwhile. Retry once with it.
    pub async fn after_rejection(
        &self,
        tenant: &TenantId,
        shop_id: Uuid,
        rejected: &Secret,
    ) -> Result<Access, TokenError> {
        self.fresh(tenant, shop_id, Some(rejected)).await
    }

    async fn fresh(&self, tenant: &TenantId, shop_id: Uuid, rejected: Option<&Secret>) -> Result<Access, TokenError> {
        let stored = credentials::load(&self.pool, &self.keys, tenant, shop_id, Kind::AccessToken).await?;
        if let Some(c) = stored.filter(|c| self.usable(c, rejected)) {
            return Ok(Access { token: c.secret, refreshed_until: None });
        }
        // Once Etsy has rotated the refresh token, the new one must be
        // committed even if the caller stops waiting (a timeout, a dropped
        // request): the refresh runs as a task of its own.
        let (this, tenant, rejected) = (self.clone(), tenant.clone(), rejected.cloned());
        tokio::spawn(async move { this.refresh(&tenant, shop_id, rejected.as_ref()).await })
            .await
            .map_err(|e| TokenError::Interrupted(e.to_string()))?
    }

    fn usable(&self, c: &Credential, rejected: Option<&Secret>) -> bool {
        rejected != Some(&c.secret) && c.expires_at.is_some_and(|at| at > Utc::now() + self.ahead)
    }

    async fn refresh(&self, tenant: &TenantId, shop_id: Uuid, rejected: Option<&Secret>) -> Result<Access, TokenError> {
        let usable = |c: &Credential| self.usable(c, rejected);
        let mut tx = self.pool.begin().await?;
        lock_shop(&mut tx, tenant, shop_id).await?;
        // Another process may have refreshed while this one waited.
        let stored = credentials::load(&mut *tx, &self.keys, tenant, shop_id, Kind::AccessToken).await?;
        if let Some(c) = stored.filter(usable) {
            tx.commit().await?;
            return Ok(Access { token: c.secret, refreshed_until: None });
        }
        let refresh = credentials::load(&mut *tx, &self.keys, tenant, shop_id, Kind::RefreshToken)
            .await?
            .ok_or(TokenError::NotConnected { shop_id })?;
        let tokens = match self.oauth.refresh(&refresh.secret).await {
            Ok(tokens) => tokens,
            Err(e) if e.is_invalid_grant() => {
                return Err(TokenError::NeedsReconnect { shop_id, reason: e.to_string() });
            }
            Err(source) => return Err(TokenError::Refresh { shop_id, source }),
        };
        keep_in(&mut tx, &self.keys, tenant, shop_id, &tokens, Some(refresh)).await?;
        tx.commit().await?;
        Ok(Access { token: tokens.access, refreshed_until: Some(tokens.expires_at) })
    }
}
