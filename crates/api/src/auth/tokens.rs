//! API tokens for programs: `pod_<token id>_<secret>`. Only the secret's
//! SHA-256 is stored; a token is shown once, when it is created.

use sqlx::PgPool;
use uuid::Uuid;

use super::{AccountError, Caller, Principal, Role, random_secret, same_bytes, sha256};

/// Issues a token; returns it in full (the only time it is seen).
pub async fn issue_token(pool: &PgPool, tenant: &str, name: &str, role: Role) -> Result<String, AccountError> {
    let name = super::people::check_display_name("name", name)?;
    let exists: Option<String> =
        sqlx::query_scalar("SELECT tenant FROM tenants WHERE tenant = $1").bind(tenant).fetch_optional(pool).await?;
    if exists.is_none() {
        return Err(AccountError::NoTenant(tenant.into()));
    }
    let id = Uuid::new_v4();
    let secret = random_secret();
    sqlx::query("INSERT INTO api_tokens (token_id, tenant, name, role, secret_sha256) VALUES ($1, $2, $3, $4, $5)")
        .bind(id)
        .bind(tenant)
        .bind(name)
        .bind(role.as_str())
        .bind(sha256(&secret))
        .execute(pool)
        .await?;
    Ok(format!("pod_{}_{secret}", id.simple()))
}

/// The caller a bearer token stands for, if it is valid and not revoked.
pub async fn authenticate(pool: &PgPool, token: &str) -> Result<Option<Caller>, sqlx::Error> {
    let Some((id, secret)) = token.strip_prefix("pod_").and_then(|t| t.split_once('_')) else {
        return Ok(None);
    };
    let Ok(token_id) = Uuid::parse_str(id) else {
        return Ok(None);
    };
    let row: Option<(pod_events::TenantId, String, Vec<u8>, bool)> = sqlx::query_as(
        "SELECT tenant, role, secret_sha256,
                last_used_at IS NULL OR last_used_at < now() - interval '1 minute'
         FROM api_tokens WHERE token_id = $1 AND revoked_at IS NULL",
    )
    .bind(token_id)
    .fetch_optional(pool)
    .await?;
    let Some((tenant, role, stored, stale)) = row else { return Ok(None) };
    if !same_bytes(&sha256(secret), &stored) {
        return Ok(None);
    }
    // last_used_at is written at most once a minute per token, not per request.
    if stale {
        sqlx::query("UPDATE api_tokens SET last_used_at = now() WHERE token_id = $1")
            .bind(token_id)
            .execute(pool)
            .await?;
    }
    match Role::parse(&role) {
        Some(role) => Ok(Some(Caller { tenant, role, principal: Principal::Token { token_id } })),
        _ => Ok(None),
    }
}
