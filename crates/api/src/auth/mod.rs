//! Who is calling. Programs send an API token (`Authorization: Bearer`);
//! people sign in (a password or an identity provider) and carry a session
//! cookie, and every state-changing request of theirs must echo the
//! session's CSRF token. Either way a request names a tenant and a role,
//! and every query and command takes that tenant.

pub mod invitations;
pub mod oidc;
pub mod people;
pub mod sessions;
pub mod throttle;
pub mod tokens;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{Method, header};
use pod_events::domain::Actor;
use sha2::{Digest, Sha256};
use sqlx::PgPool;
use uuid::Uuid;

pub use people::{FirstRun, User, add_member, create_owner, create_user, has_users, verify_login};
pub use sessions::{CSRF_FIELD, CSRF_HEADER, Session};
pub use tokens::{authenticate, issue_token};

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

/// What stands behind a request.
#[derive(Debug, Clone, PartialEq)]
pub enum Principal {
    /// A program, by token id.
    Token { token_id: Uuid },
    /// A signed-in person.
    Person { user_id: Uuid, display_name: String, email: String, csrf: String },
}

/// Who is calling: their tenant and role.
#[derive(Debug, Clone, PartialEq)]
pub struct Caller {
    pub tenant: pod_events::TenantId,
    pub role: Role,
    pub principal: Principal,
}

impl Caller {
    /// Refuses callers below `role` (403).
    pub fn require(&self, role: Role) -> Result<(), Problem> {
        if self.role >= role {
            Ok(())
        } else {
            Err(Problem::forbidden(format!("this needs the {} role; you have {}", role.as_str(), self.role.as_str())))
        }
    }

    /// Who the events record: a person by id, a token as a policy (so what
    /// needs a person — an amber idea, say — still needs one).
    pub fn actor(&self) -> Actor {
        match &self.principal {
            Principal::Person { user_id, .. } => Actor::User { user_id: *user_id },
            Principal::Token { token_id } => Actor::Policy { name: format!("api-token:{token_id}") },
        }
    }

    /// A thing of the caller's tenant by its id: commands address aggregates
    /// this way, so another tenant's id names nothing here.
    pub fn owns(&self, id: Uuid) -> pod_events::AggregateId {
        pod_events::AggregateId::new(self.tenant.clone(), id)
    }

    /// Whether this caller may still act as it did when it was let in: the
    /// token not revoked; the person's session unexpired and their
    /// membership of the tenant kept. For long-lived connections (feeds).
    pub async fn still_allowed(&self, pool: &sqlx::PgPool) -> Result<bool, sqlx::Error> {
        match &self.principal {
            Principal::Token { token_id } => sqlx::query_scalar(
                "SELECT EXISTS (SELECT 1 FROM api_tokens WHERE token_id = $1 AND tenant = $2 AND revoked_at IS NULL)",
            )
            .bind(token_id)
            .bind(&self.tenant)
            .fetch_one(pool)
            .await,
            Principal::Person { user_id, csrf, .. } => sqlx::query_scalar(
                "SELECT EXISTS (SELECT 1 FROM sessions s JOIN memberships m ON m.user_id = s.user_id AND m.tenant = $2
                                    WHERE s.user_id = $1 AND s.csrf_token = $3 AND s.expires_at > now())",
            )
            .bind(user_id)
            .bind(&self.tenant)
            .bind(csrf)
            .fetch_one(pool)
            .await,
        }
    }

    /// Who this caller is, as one key (a token, or a person).
    pub fn key(&self) -> String {
        match &self.principal {
            Principal::Token { token_id } => format!("token:{token_id}"),
            Principal::Person { user_id, .. } => format!("user:{user_id}"),
        }
    }

    /// The person calling, if a person is (not a token).
    pub fn user_id(&self) -> Option<uuid::Uuid> {
        match &self.principal {
            Principal::Person { user_id, .. } => Some(*user_id),
            Principal::Token { .. } => None,
        }
    }

    pub fn person(&self) -> Option<(&str, &str)> {
        match &self.principal {
            Principal::Person { display_name, email, .. } => Some((display_name, email)),
            Principal::Token { .. } => None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error("tenant {0:?} does not exist (create it with `pod tenants create`)")]
    NoTenant(String),
    #[error("{field}: {reason}")]
    Invalid { field: &'static str, reason: String },
    #[error("{0} is already taken")]
    Taken(&'static str),
    #[error("hashing the password: {0}")]
    Hash(String),
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

pub(crate) fn sha256(secret: &str) -> Vec<u8> {
    Sha256::digest(secret.as_bytes()).to_vec()
}

/// Equal without a timing side channel (both sides are hashes of equal length).
pub(crate) fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A random secret: 32 bytes as hex.
pub(crate) fn random_secret() -> String {
    use rand::RngCore;
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// Creates a tenant (idempotent: an existing one keeps its name).
pub async fn create_tenant(pool: &PgPool, tenant: &str, name: &str) -> Result<(), AccountError> {
    pod_events::TenantId::parse(tenant)
        .map_err(|e| AccountError::Invalid { field: "tenant", reason: e.to_string() })?;
    let name = people::check_display_name("name", name)?;
    sqlx::query("INSERT INTO tenants (tenant, name) VALUES ($1, $2) ON CONFLICT (tenant) DO NOTHING")
        .bind(tenant)
        .bind(name)
        .execute(pool)
        .await?;
    Ok(())
}

fn is_unsafe(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Problem> {
        if let Some(value) = parts.headers.get(header::AUTHORIZATION) {
            let token = value
                .to_str()
                .ok()
                .and_then(|v| v.strip_prefix("Bearer "))
                .ok_or_else(|| Problem::unauthorized("the Authorization header must be `Bearer <token>`"))?;
            return authenticate(&state.pool, token.trim())
                .await?
                .ok_or_else(|| Problem::unauthorized("the token is unknown or revoked"));
        }
        let Some(session) = sessions::from_cookies(&parts.headers, state).await? else {
            return Err(Problem::unauthorized(
                "sign in, or send `Authorization: Bearer <token>` (create one with `pod tokens create`)",
            ));
        };
        if is_unsafe(&parts.method) {
            sessions::check_origin(&parts.headers)?;
            let sent = parts.headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok()).unwrap_or_default();
            if !session.csrf_matches(sent) {
                return Err(Problem::forbidden(format!("send the page's CSRF token in the {CSRF_HEADER} header")));
            }
        }
        Ok(session.caller())
    }
}
