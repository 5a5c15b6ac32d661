//! Invitations: an owner invites a person to their shop with a role. The
//! link carries a one-time secret (stored as its SHA-256, valid seven days).
//! Someone new sets their name and password; someone who already has an
//! account confirms it with their password and joins with the role.

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

use super::people::{
    User, add_membership, check_name, check_password, hash_password, insert_user, normalize_email, password_matches,
};
use super::{AccountError, Role, random_secret, sha256};

/// How long an invitation link works.
pub const INVITATION_DAYS: i64 = 7;

/// An invitation as its link shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct Invitation {
    pub tenant: String,
    pub shop_name: String,
    pub email: String,
    pub role: Role,
    /// The email already has an account: joining needs its password.
    pub existing: bool,
    pub expires_at: DateTime<Utc>,
}

/// An invitation not yet accepted, for the team page.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Pending {
    pub email: String,
    pub role: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

fn invalid(field: &'static str, reason: impl Into<String>) -> AccountError {
    AccountError::Invalid { field, reason: reason.into() }
}

/// Invites `email` to `tenant` as `role`; returns the link's secret (shown
/// once). A newer invitation of the same person replaces an older one.
pub async fn invite(pool: &PgPool, tenant: &str, email: &str, role: Role, by: Uuid) -> Result<String, AccountError> {
    let email = normalize_email(email)?;
    let member: Option<String> = sqlx::query_scalar(
        "SELECT m.role FROM memberships m JOIN users u ON u.user_id = m.user_id WHERE u.email = $1 AND m.tenant = $2",
    )
    .bind(&email)
    .bind(tenant)
    .fetch_optional(pool)
    .await?;
    if let Some(role) = member {
        return Err(invalid("email", format!("{email} is already in this shop ({role})")));
    }
    let secret = random_secret();
    let mut tx = pool.begin().await?;
    sqlx::query("DELETE FROM invitations WHERE tenant = $1 AND email = $2 AND accepted_at IS NULL")
        .bind(tenant)
        .bind(&email)
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "INSERT INTO invitations (token_sha256, tenant, email, role, invited_by, expires_at)
         VALUES ($1, $2, $3, $4, $5, now() + make_interval(days => $6))",
    )
    .bind(sha256(&secret))
    .bind(tenant)
    .bind(&email)
    .bind(role.as_str())
    .bind(by)
    .bind(INVITATION_DAYS as i32)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(secret)
}

/// The shop's invitations still waiting, newest first.
pub async fn pending(pool: &PgPool, tenant: &str) -> Result<Vec<Pending>, sqlx::Error> {
    sqlx::query_as(
        "SELECT email, role, created_at, expires_at FROM invitations
         WHERE tenant = $1 AND accepted_at IS NULL AND expires_at > now() ORDER BY created_at DESC LIMIT 200",
    )
    .bind(tenant)
    .fetch_all(pool)
    .await
}

/// The invitation a link's secret names, while it still works.
pub async fn lookup(pool: &PgPool, secret: &str) -> Result<Option<Invitation>, sqlx::Error> {
    let row: Option<(String, String, String, String, DateTime<Utc>, bool)> = sqlx::query_as(
        "SELECT i.tenant, t.name, i.email, i.role, i.expires_at,
                EXISTS (SELECT 1 FROM users u WHERE u.email = i.email)
         FROM invitations i JOIN tenants t ON t.tenant = i.tenant
         WHERE i.token_sha256 = $1 AND i.accepted_at IS NULL AND i.expires_at > now()",
    )
    .bind(sha256(secret))
    .fetch_optional(pool)
    .await?;
    Ok(row.and_then(|(tenant, shop_name, email, role, expires_at, existing)| {
        Some(Invitation { tenant, shop_name, email, role: Role::parse(&role)?, existing, expires_at })
    }))
}

/// What an invitation's form says when what was entered does not do: the
/// same words whether or not an account exists for the email, so the page
/// does not tell.
pub const ACCEPT_REFUSED: &str = "Enter your name and a password of at least 8 characters, or, if you already have an account with this email, that account's password.";

/// Accepts an invitation: a new person with `display_name` and `password`,
/// or an existing one whose `password` matches. Works once.
pub async fn accept(pool: &PgPool, secret: &str, display_name: &str, password: &str) -> Result<User, AccountError> {
    let gone = || invalid("invitation", "this invitation has expired or was already used; ask for a new one");
    let refused = || invalid("password", ACCEPT_REFUSED);
    let found = lookup(pool, secret).await?.ok_or_else(gone)?;
    let existing: Option<(Uuid, String, Option<String>)> =
        sqlx::query_as("SELECT user_id, display_name, password_hash FROM users WHERE email = $1")
            .bind(&found.email)
            .fetch_optional(pool)
            .await?;
    // Hash (or check) before taking the row lock: argon2 takes a while.
    let new_account = match &existing {
        Some((_, _, hash)) => {
            let ok = match hash {
                Some(h) => password_matches(password, h).await,
                None => false,
            };
            if !ok {
                return Err(refused());
            }
            None
        }
        None => {
            let name = check_name(display_name).map_err(|_| refused())?;
            check_password(password).map_err(|_| refused())?;
            Some((name, hash_password(password).await?))
        }
    };
    let mut tx = pool.begin().await?;
    let claimed = sqlx::query(
        "UPDATE invitations SET accepted_at = now()
         WHERE token_sha256 = $1 AND accepted_at IS NULL AND expires_at > now()",
    )
    .bind(sha256(secret))
    .execute(&mut *tx)
    .await?;
    if claimed.rows_affected() == 0 {
        return Err(gone());
    }
    let (user_id, display_name) = match (existing, new_account) {
        (Some((id, name, _)), _) => (id, name),
        (None, Some((name, hash))) => (insert_user(&mut tx, &found.email, &name, &hash).await?, name),
        (None, None) => return Err(gone()),
    };
    add_membership(&mut tx, user_id, &found.tenant, found.role).await?;
    tx.commit().await?;
    let memberships = vec![(found.tenant, found.role)];
    Ok(User { user_id, email: found.email, display_name, memberships })
}
