//! A marketplace's budgets per shop: requests per minute, publishes per
//! half hour. A call that would overspend waits here when the wait is
//! short (at most [`INLINE_WAIT`] per call); otherwise the event is
//! deferred until the budget allows it, so queued work waits instead of
//! failing and one shop's spent budget does not hold a handler slot for
//! longer than that.

use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use pod_events::TenantId;
use uuid::Uuid;

use crate::runtime::HandlerError;

/// Waits up to this long in the handler; longer waits defer the event.
pub const INLINE_WAIT: Duration = Duration::from_secs(2);

/// A budget: `n` per `period`, spent evenly (a burst of `n` at most).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    pub n: u32,
    pub period: Duration,
}

impl Budget {
    fn quota(self) -> Quota {
        let n = NonZeroU32::new(self.n).unwrap_or(NonZeroU32::MIN);
        let every = (self.period / n.get()).max(Duration::from_micros(1));
        Quota::with_period(every).unwrap_or_else(|| Quota::per_second(NonZeroU32::MAX)).allow_burst(n)
    }
}

/// Per-shop budgets of one marketplace, in this process.
pub struct ShopLimits {
    marketplace: &'static str,
    requests: DefaultKeyedRateLimiter<(TenantId, Uuid)>,
    publishes: DefaultKeyedRateLimiter<(TenantId, Uuid)>,
    clock: DefaultClock,
}

impl ShopLimits {
    pub fn new(marketplace: &'static str, requests: Budget, publishes: Budget) -> Self {
        Self {
            marketplace,
            requests: RateLimiter::keyed(requests.quota()),
            publishes: RateLimiter::keyed(publishes.quota()),
            clock: DefaultClock::default(),
        }
    }

    /// Spends one request of the shop's budget, waiting briefly if need be.
    pub async fn request(&self, tenant: &TenantId, shop: Uuid) -> Result<(), HandlerError> {
        self.spend(&self.requests, tenant, shop, "requests").await
    }

    /// Spends one publish of the shop's budget, waiting briefly if need be.
    pub async fn publish(&self, tenant: &TenantId, shop: Uuid) -> Result<(), HandlerError> {
        self.spend(&self.publishes, tenant, shop, "publishes").await
    }

    async fn spend(
        &self,
        limiter: &DefaultKeyedRateLimiter<(TenantId, Uuid)>,
        tenant: &TenantId,
        shop: Uuid,
        what: &str,
    ) -> Result<(), HandlerError> {
        let key = (tenant.clone(), shop);
        loop {
            match limiter.check_key(&key) {
                Ok(()) => return Ok(()),
                Err(not_until) => {
                    let wait = not_until.wait_time_from(self.clock.now());
                    if wait > INLINE_WAIT {
                        let reason = format!("shop {shop}'s {} budget of {what} is spent for now", self.marketplace);
                        return Err(HandlerError::deferred(reason, wait));
                    }
                    tokio::time::sleep(wait).await;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tenant(t: &str) -> TenantId {
        TenantId::parse(t.to_owned()).unwrap()
    }

    #[tokio::test]
    async fn a_spent_budget_defers_for_as_long_as_it_needs_to_refill() {
        let limits = ShopLimits::new(
            "Printify",
            Budget { n: 600, period: Duration::from_secs(60) },
            Budget { n: 2, period: Duration::from_secs(1800) },
        );
        let (acme, shop) = (tenant("acme"), Uuid::from_u128(1));
        limits.publish(&acme, shop).await.unwrap();
        limits.publish(&acme, shop).await.unwrap();
        match limits.publish(&acme, shop).await {
            Err(HandlerError::Deferred { wait, .. }) => {
                assert!(wait > Duration::from_secs(800) && wait <= Duration::from_secs(900), "{wait:?}")
            }
            other => panic!("expected a deferral, got {other:?}"),
        }
        // Another shop, and the same shop id of another tenant, have their own.
        limits.publish(&acme, Uuid::from_u128(2)).await.unwrap();
        limits.publish(&tenant("globex"), shop).await.unwrap();
    }

    #[tokio::test]
    async fn a_short_wait_is_waited_out_in_place() {
        let limits = ShopLimits::new(
            "Printify",
            Budget { n: 1, period: Duration::from_millis(200) },
            Budget { n: 1, period: Duration::from_secs(1) },
        );
        let (acme, shop) = (tenant("acme"), Uuid::from_u128(1));
        limits.request(&acme, shop).await.unwrap();
        let started = std::time::Instant::now();
        limits.request(&acme, shop).await.unwrap();
        assert!(started.elapsed() >= Duration::from_millis(150), "{:?}", started.elapsed());
    }
}
