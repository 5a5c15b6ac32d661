//! API tokens: `pod_<token id>_<secret>`. Only the secret's SHA-256 is
//! stored; a token is shown once, when it is created. Every request names
//! its caller — a tenant and a role — and every query takes that tenant.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use rand::RngCore;
use sha2::{Digest, Sha256};
use sqlx::PgPool;
use uuid::Uuid;

use crate::AppState;
use crate::problem::Problem;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Viewer,
    Editor,
    Owner,
}

impl Role {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "viewer" => Some(Self::Viewer),
            "editor" => Some(Self::Editor),
            "owner" => Some(Self::Owner),
            _ => None,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Viewer => "viewer",
            Self::Editor => "editor",
            Self::Owner => "owner",
        }
    }
}

/// Who is calling: their tenant and role.
#[derive(Debug, Clone, PartialEq)]
pub struct Caller {
    pub tenant: String,
    pub role: Role,
    pub token_id: Uuid,
}

impl Caller {
    /// Refuses callers below `role` (403).
    pub fn require(&self, role: Role) -> Result<(), Problem> {
        if self.role >= role {
            Ok(())
        } else {
            Err(Problem::forbidden(format!(
                "this needs the {} role; the token has {}",
                role.as_str(),
                self.role.as_str()
            )))
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error("tenant {0:?} does not exist (create it with `pod tenants create`)")]
    NoTenant(String),
    #[error("{field}: {reason}")]
    Invalid { field: &'static str, reason: String },
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

fn sha256(secret: &str) -> Vec<u8> {
    Sha256::digest(secret.as_bytes()).to_vec()
}

/// Creates a tenant (idempotent: an existing one keeps its name).
pub async fn create_tenant(pool: &PgPool, tenant: &str, name: &str) -> Result<(), AccountError> {
    pod_events::TenantId::parse(tenant)
        .map_err(|e| AccountError::Invalid { field: "tenant", reason: e.to_string() })?;
    sqlx::query("INSERT INTO tenants (tenant, name) VALUES ($1, $2) ON CONFLICT (tenant) DO NOTHING")
        .bind(tenant)
        .bind(name)
        .execute(pool)
        .await?;
    Ok(())
}

/// Issues a token; returns it in full (the only time it is seen).
pub async fn issue_token(pool: &PgPool, tenant: &str, name: &str, role: Role) -> Result<String, AccountError> {
    let exists: Option<String> =
        sqlx::query_scalar("SELECT tenant FROM tenants WHERE tenant = $1").bind(tenant).fetch_optional(pool).await?;
    if exists.is_none() {
        return Err(AccountError::NoTenant(tenant.into()));
    }
    let id = Uuid::new_v4();
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let secret = hex::encode(bytes);
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
    let row: Option<(String, String, Vec<u8>)> = sqlx::query_as(
        "UPDATE api_tokens SET last_used_at = now() WHERE token_id = $1 AND revoked_at IS NULL
         RETURNING tenant, role, secret_sha256",
    )
    .bind(token_id)
    .fetch_optional(pool)
    .await?;
    let Some((tenant, role, stored)) = row else { return Ok(None) };
    // Constant-time comparison of the hashes.
    let given = sha256(secret);
    let same = given.len() == stored.len() && given.iter().zip(&stored).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0;
    match (same, Role::parse(&role)) {
        (true, Some(role)) => Ok(Some(Caller { tenant, role, token_id })),
        _ => Ok(None),
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Problem> {
        let header =
            parts.headers.get(axum::http::header::AUTHORIZATION).and_then(|v| v.to_str().ok()).ok_or_else(|| {
                Problem::unauthorized("send `Authorization: Bearer <token>` (create one with `pod tokens create`)")
            })?;
        let token = header
            .strip_prefix("Bearer ")
            .ok_or_else(|| Problem::unauthorized("the Authorization header must be `Bearer <token>`"))?;
        authenticate(&state.pool, token.trim())
            .await?
            .ok_or_else(|| Problem::unauthorized("the token is unknown or revoked"))
    }
}
