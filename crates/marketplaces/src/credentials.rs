//! A shop's credentials in `shop_credentials`: each sealed by the vault,
//! bound to its tenant, shop and kind, and kept with the key it was sealed
//! under and when it expires. Every read and write names the tenant, so one
//! shop's credentials are never another's.

use chrono::{DateTime, Utc};
use pod_events::TenantId;
use sqlx::PgPool;
use uuid::Uuid;

use crate::vault::{Keyring, Sealed, Secret, VaultError};

/// What a credential is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// An OAuth access token (Etsy).
    AccessToken,
    /// An OAuth refresh token (Etsy rotates it on every use).
    RefreshToken,
    /// A personal access token (Printify).
    ApiToken,
    /// The secret a marketplace signs its webhooks with.
    WebhookSecret,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AccessToken => "access_token",
            Self::RefreshToken => "refresh_token",
            Self::ApiToken => "api_token",
            Self::WebhookSecret => "webhook_secret",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CredentialError {
    #[error("the credentials store: {0}")]
    Store(#[from] sqlx::Error),
    #[error("{kind} of shop {shop_id}: {source}")]
    Vault { kind: &'static str, shop_id: Uuid, source: VaultError },
}

impl pod_events::Transient for CredentialError {
    /// The store's trouble may pass; a value that does not open will not.
    fn is_transient(&self) -> bool {
        matches!(self, Self::Store(_))
    }
}

/// A credential as it was stored: the secret and when it stops working.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credential {
    pub secret: Secret,
    pub expires_at: Option<DateTime<Utc>>,
}

/// Where a credential belongs: what its seal is bound to.
fn bound_to(tenant: &TenantId, shop_id: Uuid, kind: Kind) -> String {
    format!("pod/shop-credential/v1/{tenant}/{shop_id}/{}", kind.as_str())
}

/// Stores (or replaces) a shop's credential, sealed under the current key.
pub async fn store(
    db: impl sqlx::PgExecutor<'_>,
    keys: &Keyring,
    tenant: &TenantId,
    shop_id: Uuid,
    kind: Kind,
    credential: &Credential,
) -> Result<(), CredentialError> {
    put(db, keys, tenant, shop_id, kind, credential, true).await.map(drop)
}

/// Stores a shop's credential unless it has one of that kind already (a
/// webhook secret kept across reconnections); whether it was stored.
pub async fn store_if_absent(
    db: impl sqlx::PgExecutor<'_>,
    keys: &Keyring,
    tenant: &TenantId,
    shop_id: Uuid,
    kind: Kind,
    credential: &Credential,
) -> Result<bool, CredentialError> {
    put(db, keys, tenant, shop_id, kind, credential, false).await
}

async fn put(
    db: impl sqlx::PgExecutor<'_>,
    keys: &Keyring,
    tenant: &TenantId,
    shop_id: Uuid,
    kind: Kind,
    credential: &Credential,
    replace: bool,
) -> Result<bool, CredentialError> {
    let sealed = keys
        .seal(&credential.secret, &bound_to(tenant, shop_id, kind))
        .map_err(|source| CredentialError::Vault { kind: kind.as_str(), shop_id, source })?;
    let on_conflict = if replace {
        "DO UPDATE SET key_id = EXCLUDED.key_id, nonce = EXCLUDED.nonce, ciphertext = EXCLUDED.ciphertext,
             expires_at = EXCLUDED.expires_at, updated_at = now()"
    } else {
        "DO NOTHING"
    };
    let done = sqlx::query(sqlx::AssertSqlSafe(format!(
        "INSERT INTO shop_credentials (tenant, shop_id, kind, key_id, nonce, ciphertext, expires_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, now())
         ON CONFLICT (tenant, shop_id, kind) {on_conflict}"
    )))
    .bind(tenant)
    .bind(shop_id)
    .bind(kind.as_str())
    .bind(&sealed.key_id)
    .bind(&sealed.nonce)
    .bind(&sealed.ciphertext)
    .bind(credential.expires_at)
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// A shop's credential of `kind`, if the tenant's shop has one.
pub async fn load(
    db: impl sqlx::PgExecutor<'_>,
    keys: &Keyring,
    tenant: &TenantId,
    shop_id: Uuid,
    kind: Kind,
) -> Result<Option<Credential>, CredentialError> {
    type Row = (String, Vec<u8>, Vec<u8>, Option<DateTime<Utc>>);
    let row: Option<Row> = sqlx::query_as(
        "SELECT key_id, nonce, ciphertext, expires_at FROM shop_credentials
         WHERE tenant = $1 AND shop_id = $2 AND kind = $3",
    )
    .bind(tenant)
    .bind(shop_id)
    .bind(kind.as_str())
    .fetch_optional(db)
    .await?;
    let Some((key_id, nonce, ciphertext, expires_at)) = row else { return Ok(None) };
    let sealed = Sealed { key_id, nonce, ciphertext };
    let secret = keys.open(&sealed, &bound_to(tenant, shop_id, kind)).map_err(|source| CredentialError::Vault {
        kind: kind.as_str(),
        shop_id,
        source,
    })?;
    Ok(Some(Credential { secret, expires_at }))
}

/// Erases every credential of a tenant's shop (on disconnecting it); how
/// many there were.
pub async fn forget(pool: &PgPool, tenant: &TenantId, shop_id: Uuid) -> Result<u64, CredentialError> {
    let done = sqlx::query("DELETE FROM shop_credentials WHERE tenant = $1 AND shop_id = $2")
        .bind(tenant)
        .bind(shop_id)
        .execute(pool)
        .await?;
    Ok(done.rows_affected())
}

/// What a `rekey` did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rekeyed {
    /// Credentials now sealed under the current key.
    pub moved: u64,
    /// Credentials under an older key of the keyring that did not open
    /// (altered, or bound elsewhere): left as they are, named here.
    pub unopenable: Vec<(TenantId, Uuid, &'static str)>,
    /// Credentials under keys the keyring does not hold at all.
    pub under_unknown_keys: u64,
}

/// Re-seals every credential sealed under an older key of the keyring
/// with the current one, a batch at a time in key order, each batch in the
/// transaction that locks it (waiting for a token refresh that holds a row,
/// so nothing is skipped). A value that does not open is reported, not
/// retried; values under keys the keyring lacks are counted. When `moved`
/// is done and nothing else is reported, the older keys can go.
pub async fn rekey(pool: &PgPool, keys: &Keyring) -> Result<Rekeyed, CredentialError> {
    type Row = (TenantId, Uuid, String, String, Vec<u8>, Vec<u8>);
    let older = keys.older();
    let mut report = Rekeyed::default();
    let mut after: (String, Uuid, String) = (String::new(), Uuid::nil(), String::new());
    loop {
        let mut tx = pool.begin().await?;
        let rows: Vec<Row> = sqlx::query_as(
            "SELECT tenant, shop_id, kind, key_id, nonce, ciphertext FROM shop_credentials
             WHERE key_id = ANY($1) AND (tenant, shop_id, kind) > ($2, $3, $4)
             ORDER BY tenant, shop_id, kind LIMIT 100 FOR UPDATE",
        )
        .bind(&older)
        .bind(&after.0)
        .bind(after.1)
        .bind(&after.2)
        .fetch_all(&mut *tx)
        .await?;
        let Some(last) = rows.last() else { break };
        after = (last.0.to_string(), last.1, last.2.clone());
        for (tenant, shop_id, kind, key_id, nonce, ciphertext) in rows {
            let Some(kind) = kind_named(&kind) else { continue };
            let place = bound_to(&tenant, shop_id, kind);
            let resealed =
                keys.open(&Sealed { key_id, nonce, ciphertext }, &place).and_then(|secret| keys.seal(&secret, &place));
            let sealed = match resealed {
                Ok(sealed) => sealed,
                Err(_) => {
                    report.unopenable.push((tenant, shop_id, kind.as_str()));
                    continue;
                }
            };
            sqlx::query(
                "UPDATE shop_credentials SET key_id = $4, nonce = $5, ciphertext = $6
                 WHERE tenant = $1 AND shop_id = $2 AND kind = $3",
            )
            .bind(&tenant)
            .bind(shop_id)
            .bind(kind.as_str())
            .bind(&sealed.key_id)
            .bind(&sealed.nonce)
            .bind(&sealed.ciphertext)
            .execute(&mut *tx)
            .await?;
            report.moved += 1;
        }
        tx.commit().await?;
    }
    let mut held = older;
    held.push(keys.current().to_owned());
    report.under_unknown_keys =
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM shop_credentials WHERE NOT (key_id = ANY($1))")
            .bind(&held)
            .fetch_one(pool)
            .await?
            .try_into()
            .unwrap_or_default();
    Ok(report)
}

/// How many credentials each key seals, by key id.
pub async fn count_by_key(pool: &PgPool) -> Result<Vec<(String, i64)>, CredentialError> {
    Ok(sqlx::query_as("SELECT key_id, count(*) FROM shop_credentials GROUP BY key_id ORDER BY key_id")
        .fetch_all(pool)
        .await?)
}

fn kind_named(name: &str) -> Option<Kind> {
    [Kind::AccessToken, Kind::RefreshToken, Kind::ApiToken, Kind::WebhookSecret]
        .into_iter()
        .find(|k| k.as_str() == name)
}
