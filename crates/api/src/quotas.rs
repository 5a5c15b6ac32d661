//! Plan quotas: how many ideas, images and approved listings a shop's plan
//! (or its own agreed limit, `tenants.*_quota`) allows per calendar month
//! (UTC). A command that would go past one is
//! answered 402 with a problem body saying which quota, how much of it is
//! used, and when it resets. Counted from the read models.

use axum::http::StatusCode;
use chrono::{DateTime, Datelike, TimeZone, Utc};
use sqlx::PgPool;

use crate::problem::Problem;

/// What a quota counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resource {
    /// Ideas generated (a trend import leads to them).
    Ideas,
    /// Designs (approving an idea leads to one): counted by approvals, so
    /// approvals made faster than designs render still count at once.
    Images,
    /// Listings approved for publishing.
    Listings,
}

impl Resource {
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

/// Refuses (402) when the tenant's plan has no room left for `r` this month.
pub async fn check(pool: &PgPool, tenant: &str, r: Resource) -> Result<(), Problem> {
    type Row = (String, Option<i32>, Option<i32>, Option<i32>);
    let row: Option<Row> =
        sqlx::query_as("SELECT plan, ideas_quota, images_quota, listings_quota FROM tenants WHERE tenant = $1")
            .bind(tenant)
            .fetch_optional(pool)
            .await?;
    let (name, ideas, images, listings) = row.unwrap_or_else(|| ("free".into(), None, None, None));
    let mut plan = plan(&name);
    // A shop's own limit, where one was agreed, wins over its plan's.
    plan.ideas = ideas.map(i64::from).or(plan.ideas);
    plan.images = images.map(i64::from).or(plan.images);
    plan.listings = listings.map(i64::from).or(plan.listings);
    if plan.limit(r).is_none() {
        return Ok(());
    }
    let sql = match r {
        Resource::Ideas => "SELECT count(*) FROM ideas WHERE tenant = $1 AND created_at >= date_trunc('month', now())",
        Resource::Images => {
            "SELECT count(*) FROM ideas WHERE tenant = $1 AND status = 'approved'
             AND updated_at >= date_trunc('month', now())"
        }
        Resource::Listings => {
            "SELECT count(*) FROM listings WHERE tenant = $1 AND status IN ('approved', 'queued', 'published')
             AND updated_at >= date_trunc('month', now())"
        }
    };
    let used: i64 = sqlx::query_scalar(sql).bind(tenant).fetch_one(pool).await?;
    match refusal(plan, r, used, Utc::now()) {
        Some(p) => Err(p),
        None => Ok(()),
    }
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
