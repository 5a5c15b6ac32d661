//! Connections a person started and has not finished: the OAuth `state`
//! (kept hashed, used once, within ten minutes) and its PKCE verifier, bound
//! to the person and the shop they started in. A callback is honoured only
//! for that person in that shop, so no other site or person can finish a
//! connection of their own choosing into someone's shop.
//!
//! A Printify connection whose token has several shops waits here too, its
//! token sealed, while the owner chooses: the page carries only the state.

use pod_events::TenantId;
use ring::digest::{SHA256, digest};
use sqlx::PgPool;
use uuid::Uuid;

use crate::Secret;
use crate::etsy::Authorization;
use crate::vault::{Keyring, Sealed, VaultError};

/// How long a person may take to consent.
pub const CONNECT_TTL_SECS: i64 = 600;

fn hashed(state: &str) -> Vec<u8> {
    digest(&SHA256, state.as_bytes()).as_ref().to_vec()
}

/// Remembers a started connection (and forgets those that expired).
pub async fn begin(
    pool: &PgPool,
    tenant: &TenantId,
    user_id: Uuid,
    marketplace: &str,
    started: &Authorization,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO marketplace_connections (state_sha256, tenant, user_id, marketplace, pkce_verifier, expires_at)
         VALUES ($1, $2, $3, $4, $5, now() + make_interval(secs => $6))",
    )
    .bind(hashed(started.state.expose()))
    .bind(tenant)
    .bind(user_id)
    .bind(marketplace)
    .bind(started.verifier.expose())
    .bind(CONNECT_TTL_SECS as f64)
    .execute(pool)
    .await?;
    sqlx::query("DELETE FROM marketplace_connections WHERE expires_at < now()").execute(pool).await?;
    Ok(())
}

/// The verifier of the connection `state` names, if this person started it
/// in this shop for this marketplace and in time; it is used up either way.
pub async fn finish(
    pool: &PgPool,
    tenant: &TenantId,
    user_id: Uuid,
    marketplace: &str,
    state: &str,
) -> Result<Option<Secret>, sqlx::Error> {
    let row: Option<(TenantId, Uuid, String, bool, String)> = sqlx::query_as(
        "DELETE FROM marketplace_connections WHERE state_sha256 = $1 AND pkce_verifier IS NOT NULL
         RETURNING tenant, user_id, marketplace, expires_at > now(), pkce_verifier",
    )
    .bind(hashed(state))
    .fetch_optional(pool)
    .await?;
    Ok(row.and_then(|(t, u, m, in_time, verifier)| {
        (t == *tenant && u == user_id && m == marketplace && in_time).then(|| Secret::new(verifier))
    }))
}

/// Where a held token's seal is bound: its connection, person and shop.
fn held_at(tenant: &TenantId, user_id: Uuid, state: &str) -> String {
    format!("pod/held-token/v1/{tenant}/{user_id}/{}", hex::encode(hashed(state)))
}

#[derive(Debug, thiserror::Error)]
pub enum HoldError {
    #[error("the held token: {0}")]
    Store(#[from] sqlx::Error),
    #[error("the held token: {0}")]
    Vault(#[from] VaultError),
}

/// Holds a Printify `token`, sealed, while its owner chooses a shop; the
/// state that names it (for the page to send back).
pub async fn hold_token(
    pool: &PgPool,
    keys: &Keyring,
    tenant: &TenantId,
    user_id: Uuid,
    token: &Secret,
) -> Result<Secret, HoldError> {
    let held = crate::vault::random_secret()?;
    let state = held.expose();
    let sealed = keys.seal(token, &held_at(tenant, user_id, state))?;
    sqlx::query(
        "INSERT INTO marketplace_connections
             (state_sha256, tenant, user_id, marketplace, token_key_id, token_nonce, token_sealed, expires_at)
         VALUES ($1, $2, $3, 'printify', $4, $5, $6, now() + make_interval(secs => $7))",
    )
    .bind(hashed(state))
    .bind(tenant)
    .bind(user_id)
    .bind(&sealed.key_id)
    .bind(&sealed.nonce)
    .bind(&sealed.ciphertext)
    .bind(CONNECT_TTL_SECS as f64)
    .execute(pool)
    .await?;
    sqlx::query("DELETE FROM marketplace_connections WHERE expires_at < now()").execute(pool).await?;
    Ok(held)
}

/// The token held under `state`, if this person held it in this shop and
/// in time; it is used up either way.
pub async fn take_token(
    pool: &PgPool,
    keys: &Keyring,
    tenant: &TenantId,
    user_id: Uuid,
    state: &str,
) -> Result<Option<Secret>, HoldError> {
    type Row = (TenantId, Uuid, bool, Option<String>, Option<Vec<u8>>, Option<Vec<u8>>);
    let row: Option<Row> = sqlx::query_as(
        "DELETE FROM marketplace_connections WHERE state_sha256 = $1 AND marketplace = 'printify'
         RETURNING tenant, user_id, expires_at > now(), token_key_id, token_nonce, token_sealed",
    )
    .bind(hashed(state))
    .fetch_optional(pool)
    .await?;
    let Some((t, u, in_time, Some(key_id), Some(nonce), Some(ciphertext))) = row else { return Ok(None) };
    if t != *tenant || u != user_id || !in_time {
        return Ok(None);
    }
    Ok(Some(keys.open(&Sealed { key_id, nonce, ciphertext }, &held_at(tenant, user_id, state))?))
}
