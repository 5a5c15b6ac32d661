//! Connections a person started and has not finished: the OAuth `state`
//! (kept hashed, used once, within ten minutes) and its PKCE verifier, bound
//! to the person and the shop they started in. A callback is honoured only
//! for that person in that shop, so no other site or person can finish a
//! connection of their own choosing into someone's shop.

use pod_events::TenantId;
use ring::digest::{SHA256, digest};
use sqlx::PgPool;
use uuid::Uuid;

use crate::Secret;
use crate::etsy::Authorization;

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
        "DELETE FROM marketplace_connections WHERE state_sha256 = $1
         RETURNING tenant, user_id, marketplace, expires_at > now(), pkce_verifier",
    )
    .bind(hashed(state))
    .fetch_optional(pool)
    .await?;
    Ok(row.and_then(|(t, u, m, in_time, verifier)| {
        (t == *tenant && u == user_id && m == marketplace && in_time).then(|| Secret::new(verifier))
    }))
}
