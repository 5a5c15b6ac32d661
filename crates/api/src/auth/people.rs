//! People: users with argon2 password hashes and a role in each tenant
//! they belong to. The first person to arrive on a fresh install becomes
//! the owner of its first shop (`create_owner`), so the offline default
//! works with no identity provider.

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use pod_events::domain::text::DisplayName;
use sqlx::PgPool;
use uuid::Uuid;

use super::{AccountError, Role};

/// Shortest password accepted (NIST SP 800-63B's floor for user-chosen secrets).
pub const MIN_PASSWORD_CHARS: usize = 8;

#[derive(Debug, Clone, PartialEq)]
pub struct User {
    pub user_id: Uuid,
    pub email: String,
    pub display_name: String,
    /// The tenants this person belongs to and their role in each, by tenant id.
    pub memberships: Vec<(String, Role)>,
}

/// What the first-run form asks for.
#[derive(Debug, Clone)]
pub struct FirstRun {
    pub tenant: String,
    pub shop_name: String,
    pub email: String,
    pub display_name: String,
    pub password: String,
}

fn invalid(field: &'static str, reason: impl Into<String>) -> AccountError {
    AccountError::Invalid { field, reason: reason.into() }
}

/// A login name: trimmed, lower-cased, one `@` with text either side.
pub fn normalize_email(raw: &str) -> Result<String, AccountError> {
    let email = raw.trim().to_lowercase();
    // No spaces or controls: an address goes into e-mail headers and logs.
    let plain = email.chars().all(|c| {
        !c.is_whitespace() && !c.is_control() && c != '\u{FFFD}' && !pod_events::domain::text::is_bidi_control(c)
    });
    match email.split_once('@') {
        Some((local, domain))
            if plain && !local.is_empty() && !domain.is_empty() && !domain.contains('@') && email.len() <= 254 =>
        {
            Ok(email)
        }
        _ => Err(invalid("email", "must look like name@example.com")),
    }
}

pub(crate) fn check_password(password: &str) -> Result<(), AccountError> {
    let n = password.chars().count();
    if n < MIN_PASSWORD_CHARS {
        return Err(invalid("password", format!("must be at least {MIN_PASSWORD_CHARS} characters")));
    }
    if n > 256 {
        return Err(invalid("password", "must be at most 256 characters"));
    }
    Ok(())
}

/// A person's, a shop's or a token's name (see [`DisplayName`]), reported under `field`.
pub fn check_display_name(field: &'static str, name: &str) -> Result<String, AccountError> {
    DisplayName::parse_as(field, name).map(DisplayName::into_string).map_err(|e| invalid(field, e.to_string()))
}

pub(crate) fn check_name(name: &str) -> Result<String, AccountError> {
    check_display_name("display_name", name)
}

/// Password hashes at once, process-wide: each takes ~19 MiB and a core
/// for a while, so a flood of sign-ins queues here instead of exhausting
/// the blocking pool.
static HASHING: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(4);

/// An argon2id hash in PHC form. Slow on purpose, so it runs off the
/// async threads.
pub async fn hash_password(password: &str) -> Result<String, AccountError> {
    let _permit = HASHING.acquire().await.map_err(|e| AccountError::Hash(e.to_string()))?;
    let password = password.to_owned();
    tokio::task::spawn_blocking(move || {
        let mut salt = [0u8; 16];
        rand::RngCore::fill_bytes(&mut rand::rng(), &mut salt);
        let salt = SaltString::encode_b64(&salt).map_err(|e| AccountError::Hash(e.to_string()))?;
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| AccountError::Hash(e.to_string()))
    })
    .await
    .map_err(|e| AccountError::Hash(e.to_string()))?
}

pub(crate) async fn password_matches(password: &str, phc: &str) -> bool {
    let Ok(_permit) = HASHING.acquire().await else { return false };
    let (password, phc) = (password.to_owned(), phc.to_owned());
    tokio::task::spawn_blocking(move || {
        PasswordHash::new(&phc).is_ok_and(|h| Argon2::default().verify_password(password.as_bytes(), &h).is_ok())
    })
    .await
    .unwrap_or(false)
}

/// Whether anyone has an account yet (no one: the first-run page is open).
pub async fn has_users(pool: &PgPool) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM users)").fetch_one(pool).await
}

async fn memberships(pool: &PgPool, user_id: Uuid) -> Result<Vec<(String, Role)>, sqlx::Error> {
    let rows: Vec<(String, String)> =
        sqlx::query_as("SELECT tenant, role FROM memberships WHERE user_id = $1 ORDER BY created_at, tenant")
            .bind(user_id)
            .fetch_all(pool)
            .await?;
    Ok(rows.into_iter().filter_map(|(t, r)| Role::parse(&r).map(|r| (t, r))).collect())
}

/// Creates a person with a password and gives them `role` in `tenant`.
pub async fn create_user(
    pool: &PgPool,
    tenant: &str,
    email: &str,
    display_name: &str,
    password: &str,
    role: Role,
) -> Result<User, AccountError> {
    let email = normalize_email(email)?;
    let display_name = check_name(display_name)?;
    check_password(password)?;
    let exists: Option<String> =
        sqlx::query_scalar("SELECT tenant FROM tenants WHERE tenant = $1").bind(tenant).fetch_optional(pool).await?;
    if exists.is_none() {
        return Err(AccountError::NoTenant(tenant.into()));
    }
    let hash = hash_password(password).await?;
    let mut tx = pool.begin().await?;
    let user_id = insert_user(&mut tx, &email, &display_name, &hash).await?;
    add_membership(&mut tx, user_id, tenant, role).await?;
    tx.commit().await?;
    Ok(User { user_id, email, display_name, memberships: vec![(tenant.to_owned(), role)] })
}

pub(crate) async fn insert_user(
    tx: &mut sqlx::PgConnection,
    email: &str,
    display_name: &str,
    hash: &str,
) -> Result<Uuid, AccountError> {
    let user_id = Uuid::now_v7();
    let inserted = sqlx::query(
        "INSERT INTO users (user_id, email, display_name, password_hash) VALUES ($1, $2, $3, $4)
         ON CONFLICT (email) DO NOTHING",
    )
    .bind(user_id)
    .bind(email)
    .bind(display_name)
    .bind(hash)
    .execute(&mut *tx)
    .await?;
    if inserted.rows_affected() == 0 {
        return Err(AccountError::Taken("email"));
    }
    Ok(user_id)
}

pub(crate) async fn add_membership(
    tx: &mut sqlx::PgConnection,
    user_id: Uuid,
    tenant: &str,
    role: Role,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO memberships (user_id, tenant, role) VALUES ($1, $2, $3)
         ON CONFLICT (user_id, tenant) DO UPDATE SET role = EXCLUDED.role",
    )
    .bind(user_id)
    .bind(tenant)
    .bind(role.as_str())
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// Gives an existing person `role` in another shop (or changes their role there).
pub async fn add_member(pool: &PgPool, email: &str, tenant: &str, role: Role) -> Result<(), AccountError> {
    let email = normalize_email(email)?;
    let user: Option<Uuid> =
        sqlx::query_scalar("SELECT user_id FROM users WHERE email = $1").bind(&email).fetch_optional(pool).await?;
    let user = user.ok_or(AccountError::Invalid { field: "email", reason: format!("no account for {email}") })?;
    let exists: Option<String> =
        sqlx::query_scalar("SELECT tenant FROM tenants WHERE tenant = $1").bind(tenant).fetch_optional(pool).await?;
    if exists.is_none() {
        return Err(AccountError::NoTenant(tenant.into()));
    }
    let mut conn = pool.acquire().await?;
    add_membership(&mut conn, user, tenant, role).await?;
    Ok(())
}

/// The first run: the first shop and its owner, only while no one has an
/// account (two browsers racing for it: one wins, the other is refused).
pub async fn create_owner(pool: &PgPool, first: &FirstRun) -> Result<User, AccountError> {
    pod_events::TenantId::parse(first.tenant.as_str()).map_err(|e| invalid("tenant", e.to_string()))?;
    let shop_name = check_display_name("shop_name", &first.shop_name)?;
    let email = normalize_email(&first.email)?;
    let display_name = check_name(&first.display_name)?;
    check_password(&first.password)?;
    let hash = hash_password(&first.password).await?;
    let mut tx = pool.begin().await?;
    sqlx::query("LOCK TABLE users IN SHARE ROW EXCLUSIVE MODE").execute(&mut *tx).await?;
    let anyone: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM users)").fetch_one(&mut *tx).await?;
    if anyone {
        return Err(AccountError::Taken("the first-run owner account"));
    }
    sqlx::query("INSERT INTO tenants (tenant, name) VALUES ($1, $2) ON CONFLICT (tenant) DO NOTHING")
        .bind(&first.tenant)
        .bind(&shop_name)
        .execute(&mut *tx)
        .await?;
    let user_id = insert_user(&mut tx, &email, &display_name, &hash).await?;
    add_membership(&mut tx, user_id, &first.tenant, Role::Owner).await?;
    tx.commit().await?;
    Ok(User { user_id, email, display_name, memberships: vec![(first.tenant.clone(), Role::Owner)] })
}

/// A known decoy hash, checked when the email is unknown so that a wrong
/// email and a wrong password take the same time.
const DECOY_PHC: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0c2FsdA$Wv0NB0DTLz3X0sX1yVwE0O8b6p1u3o1o0G1m5cS2yTQ";

/// The person these credentials belong to, or `None` (without saying which was wrong).
pub async fn verify_login(pool: &PgPool, email: &str, password: &str) -> Result<Option<User>, sqlx::Error> {
    let email = email.trim().to_lowercase();
    let row: Option<(Uuid, String, Option<String>)> =
        sqlx::query_as("SELECT user_id, display_name, password_hash FROM users WHERE email = $1")
            .bind(&email)
            .fetch_optional(pool)
            .await?;
    let Some((user_id, display_name, Some(hash))) = row else {
        let _ = password_matches(password, DECOY_PHC).await;
        return Ok(None);
    };
    if !password_matches(password, &hash).await {
        return Ok(None);
    }
    sqlx::query("UPDATE users SET last_login_at = now() WHERE user_id = $1").bind(user_id).execute(pool).await?;
    let memberships = memberships(pool, user_id).await?;
    Ok(Some(User { user_id, email, display_name, memberships }))
}
