//! The per-tenant monthly budget of paid provider calls: checked before a
//! paid call, charged after it. An exhausted budget pauses paid calls (the
//! event is retried later, then dead-lettered where a person sees it).

use std::time::Duration;

use chrono::{DateTime, Datelike, TimeZone, Utc};
use pod_events::domain::budget::{BudgetCommand, BudgetError};
use pod_events::{AggregateId, EventMeta, TenantId};

use crate::pipeline::{Pipeline, settle, store_failure};
use crate::runtime::HandlerError;

/// The budget of `tenant` for the month of `now`.
pub fn budget_id(tenant: &TenantId, now: DateTime<Utc>) -> AggregateId {
    AggregateId::derived(tenant.clone(), "budget", &now.format("%Y-%m").to_string())
}

/// The start of the month after `now`'s.
pub fn next_month(now: DateTime<Utc>) -> DateTime<Utc> {
    let (y, m) = if now.month() == 12 { (now.year() + 1, 1) } else { (now.year(), now.month() + 1) };
    Utc.with_ymd_and_hms(y, m, 1, 0, 0, 0).single().unwrap_or(now)
}

/// Fails (transiently, until the month ends) when the budget is spent.
pub async fn ensure_allowed(
    pipeline: &Pipeline,
    tenant: &TenantId,
    now: DateTime<Utc>,
    limit_micros: u64,
) -> Result<(), HandlerError> {
    if limit_micros == 0 {
        return Ok(());
    }
    let budget = pipeline.budgets.store().load(&budget_id(tenant, now)).await.map_err(store_failure)?.aggregate;
    if budget.allows(limit_micros) {
        return Ok(());
    }
    let wait = (next_month(now) - now).to_std().unwrap_or(Duration::from_secs(3600));
    Err(HandlerError::Transient {
        reason: format!(
            "paid calls paused: tenant {tenant} spent ${:.2} of its ${:.2} monthly budget",
            budget.total_micros as f64 / 1e6,
            limit_micros as f64 / 1e6
        ),
        retry_after: Some(wait),
    })
}

/// Records what a paid call cost.
pub async fn charge(
    pipeline: &Pipeline,
    tenant: &TenantId,
    now: DateTime<Utc>,
    what: &str,
    cost_micros: u64,
    limit_micros: u64,
    meta: &EventMeta,
) -> Result<(), HandlerError> {
    if cost_micros == 0 {
        return Ok(());
    }
    let command = BudgetCommand::Charge { provider: "openai".into(), what: what.into(), cost_micros, limit_micros };
    settle(&pipeline.budgets, &budget_id(tenant, now), command, meta, |e| *e == BudgetError::ZeroCharge).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months_roll_over() {
        let t = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().to_utc();
        assert_eq!(next_month(t("2026-11-27T12:00:00Z")), t("2026-12-01T00:00:00Z"));
        assert_eq!(next_month(t("2026-12-31T23:59:59Z")), t("2027-01-01T00:00:00Z"));
        let tenant = TenantId::parse("acme").unwrap();
        assert_eq!(budget_id(&tenant, t("2026-11-01T00:00:00Z")), budget_id(&tenant, t("2026-11-30T23:00:00Z")));
        assert_ne!(budget_id(&tenant, t("2026-11-01T00:00:00Z")), budget_id(&tenant, t("2026-12-01T00:00:00Z")));
    }
}
