//! Plan quotas: how many ideas, images and approved listings a shop's plan
//! (or its own agreed limit, `tenants.*_quota`) allows per calendar month
//! (UTC). A command that would go past one is
//! answered 402 with a problem body saying which quota, how much of it is
//! used, and when it resets. Counted from the read models, plus the units
//! held by commands on their way there (`reserve`), so that requests at the
//! same time cannot together go past a limit.

use axum::http::StatusCode;
use chrono::{DateTime, Datelike, TimeZone, Utc};
use pod_events::TenantId;
use pod_projections::read::usage::{self, Counted};
use sqlx::PgPool;

use crate::problem::Problem;

/// What a quota counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resource {
    /// Ideas generated (a trend import leads to them).
    Ideas,
    /// Designs (approving an idea leads to one, and so does another take
    /// of a design): counted by approvals and regenerations, so approvals
    /// made faster than designs render still count at once.
    Images,
    /// Listings approved for publishing.
    Listings,
}

impl Resource {
    /// What the read models count of it.
    fn counted(self) -> Counted {
        match self {
            Self::Ideas => Counted::Ideas,
            Self::Images => Counted::Images,
            Self::Listings => Counted::Listings,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ideas => "ideas",
            Self::Images => "images",
            Self::Listings => "listings",
        }
    }
}

/// A plan's monthly allowances (`None`: unlimited).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Plan {
    pub name: &'static str,
    pub ideas: Option<i64>,
    pub images: Option<i64>,
    pub listings: Option<i64>,
}

pub const PLANS: &[Plan] = &[
    Plan { name: "free", ideas: Some(300), images: Some(150), listings: Some(50) },
    Plan { name: "pro", ideas: Some(5_000), images: Some(2_000), listings: Some(1_000) },
    Plan { name: "unlimited", ideas: None, images: None, listings: None },
];

/// The plan by name; an unknown name is the free plan.
pub fn plan(name: &str) -> Plan {
    PLANS.iter().copied().find(|p| p.name == name).unwrap_or(PLANS[0])
}

impl Plan {
    pub fn limit(&self, r: Resource) -> Option<i64> {
        match r {
            Resource::Ideas => self.ideas,
            Resource::Images => self.images,
            Resource::Listings => self.listings,
        }
    }
}

/// The first instant of the month after `now`'s.
pub fn next_month(now: DateTime<Utc>) -> DateTime<Utc> {
    let (y, m) = if now.month() == 12 { (now.year() + 1, 1) } else { (now.year(), now.month() + 1) };
    Utc.with_ymd_and_hms(y, m, 1, 0, 0, 0).single().unwrap_or(now)
}

/// The refusal for a quota that is used up, or `None` while there is room.
pub fn refusal(plan: Plan, r: Resource, used: i64, now: DateTime<Utc>) -> Option<Problem> {
    let limit = plan.limit(r)?;
    (used >= limit).then(|| {
        let resets = next_month(now);
        Problem::new(
            StatusCode::PAYMENT_REQUIRED,
            format!(
                "this month's {} are used up: {used} of {limit} on the {} plan; upgrade the plan or wait until {}",
                r.as_str(),
                plan.name,
                resets.format("%B %-d")
            ),
        )
        .with("quota", r.as_str())
        .with("plan", plan.name)
        .with("limit", limit)
        .with("used", used)
        .with("resets_at", resets.to_rfc3339())
    })
}

/// How long a hold counts at most: by then its effect is in the read models
/// (or it never will be: the command failed and the process died).
pub const HOLD_TTL_SECS: i64 = 300;

/// The tenant's plan with its own limits applied.
async fn plan_of(conn: &mut sqlx::PgConnection, tenant: &TenantId) -> Result<Plan, sqlx::Error> {
    type Row = (String, Option<i32>, Option<i32>, Option<i32>);
    let row: Option<Row> =
        sqlx::query_as("SELECT plan, ideas_quota, images_quota, listings_quota FROM tenants WHERE tenant = $1")
            .bind(tenant)
            .fetch_optional(&mut *conn)
            .await?;
    let (name, ideas, images, listings) = row.unwrap_or_else(|| ("free".into(), None, None, None));
    let mut plan = plan(&name);
    // A shop's own limit, where one was agreed, wins over its plan's.
    plan.ideas = ideas.map(i64::from).or(plan.ideas);
    plan.images = images.map(i64::from).or(plan.images);
    plan.listings = listings.map(i64::from).or(plan.listings);
    Ok(plan)
}

/// This month's use of `r`: what the read models show, plus the units held
/// by commands whose effect they do not show yet.
async fn used(conn: &mut sqlx::PgConnection, tenant: &TenantId, r: Resource) -> Result<i64, sqlx::Error> {
    let counted = usage::this_month(conn, tenant, r.counted()).await?;
    let holds: Vec<(uuid::Uuid, i32)> = sqlx::query_as(
        "SELECT aggregate_id, units FROM quota_holds
         WHERE tenant = $1 AND resource = $2 AND held_at > now() - make_interval(secs => $3)",
    )
    .bind(tenant)
    .bind(r.as_str())
    .bind(HOLD_TTL_SECS as f64)
    .fetch_all(&mut *conn)
    .await?;
    let named: Vec<uuid::Uuid> = holds.iter().map(|(id, _)| *id).collect();
    let shown = usage::counted_already(conn, tenant, r.counted(), &named).await?;
    let held: i64 = holds.iter().filter(|(id, _)| !shown.contains(id)).map(|(_, units)| i64::from(*units)).sum();
    Ok(counted + held)
}

/// Refuses (402) when the tenant's plan has no room left for `r` this month
/// (for a command whose size is not known yet, like a trend import).
pub async fn check(pool: &PgPool, tenant: &TenantId, r: Resource) -> Result<(), Problem> {
    let mut conn = pool.acquire().await?;
    let plan = plan_of(&mut conn, tenant).await?;
    if plan.limit(r).is_none() {
        return Ok(());
    }
    let used = used(&mut conn, tenant, r).await?;
    match refusal(plan, r, used, Utc::now()) {
        Some(p) => Err(p),
        None => Ok(()),
    }
}

/// Units of a quota held for one command until its effect shows.
#[derive(Debug)]
#[must_use = "release the hold if the command does not go through"]
pub struct Hold(Option<uuid::Uuid>);

impl Hold {
    /// Kept when the command changed something; released when it did not
    /// (refused, failed, or a repeat of one already done).
    pub async fn settle<E>(self, pool: &PgPool, outcome: &Result<pod_events::store::Outcome, E>) {
        if !matches!(outcome, Ok(pod_events::store::Outcome::Committed { .. })) {
            self.release(pool).await;
        }
    }

    /// The command did not go through: its units are free again.
    pub async fn release(self, pool: &PgPool) {
        if let Some(id) = self.0
            && let Err(e) = sqlx::query("DELETE FROM quota_holds WHERE hold_id = $1").bind(id).execute(pool).await
        {
            // It runs out by itself after HOLD_TTL_SECS.
            tracing::warn!(error = %e, "could not release a quota hold");
        }
    }
}

/// Holds `units` of `r` for a command on `aggregate`, or refuses (402) when
/// the plan has no room for them. Checking and holding happen under a lock
/// per tenant and quota, so requests at the same time cannot together go
/// past the limit.
pub async fn reserve(
    pool: &PgPool,
    tenant: &TenantId,
    r: Resource,
    aggregate: uuid::Uuid,
    units: i64,
) -> Result<Hold, Problem> {
    let mut tx = pool.begin().await?;
    let plan = plan_of(&mut tx, tenant).await?;
    let Some(limit) = plan.limit(r) else { return Ok(Hold(None)) };
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
        .bind(format!("quota:{tenant}:{}", r.as_str()))
        .execute(&mut *tx)
        .await?;
    let used = used(&mut tx, tenant, r).await?;
    if used + units > limit {
        // Refused as if already at the limit: the refusal reports what is used.
        let shown = used.max(limit);
        return Err(refusal(plan, r, shown, Utc::now()).unwrap_or_else(|| Problem::internal("quota arithmetic")));
    }
    let id = uuid::Uuid::now_v7();
    sqlx::query("INSERT INTO quota_holds (hold_id, tenant, resource, aggregate_id, units) VALUES ($1, $2, $3, $4, $5)")
        .bind(id)
        .bind(tenant)
        .bind(r.as_str())
        .bind(aggregate)
        .bind(i32::try_from(units).unwrap_or(i32::MAX))
        .execute(&mut *tx)
        .await?;
    sqlx::query("DELETE FROM quota_holds WHERE tenant = $1 AND held_at < now() - make_interval(secs => $2)")
        .bind(tenant)
        .bind(HOLD_TTL_SECS as f64 * 2.0)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(Hold(Some(id)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_used_up_quota_says_which_how_much_and_until_when() {
        let now = Utc.with_ymd_and_hms(2026, 12, 14, 9, 0, 0).unwrap();
        assert!(refusal(plan("free"), Resource::Images, 149, now).is_none());
        let p = refusal(plan("free"), Resource::Images, 150, now).expect("refused at the limit");
        let d = p.details();
        assert_eq!(d.status, 402);
        assert_eq!(d.extensions["quota"], "images");
        assert_eq!(d.extensions["limit"], 150);
        assert_eq!(d.extensions["resets_at"], "2027-01-01T00:00:00+00:00");
        assert!(d.detail.contains("150 of 150 on the free plan"), "{}", d.detail);
        assert!(refusal(plan("unlimited"), Resource::Ideas, 1_000_000, now).is_none());
        assert_eq!(plan("no such plan").name, "free");
    }
}
