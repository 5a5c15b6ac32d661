//! A marketplace's budgets: per shop (Printify: requests per minute,
//! publishes per half hour, each shop having its own token) or per app
//! (Etsy: requests a second and a day, all shops together). A call that would overspend waits here when the wait is
//! short (at most [`INLINE_WAIT`] per call); otherwise the event is
//! deferred until the budget allows it, so queued work waits instead of
//! failing and one shop's spent budget does not hold a handler slot for
//! longer than that.

use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, DefaultKeyedRateLimiter, NotUntil, Quota, RateLimiter};
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
        let reason = || format!("shop {shop}'s {} budget of {what} is spent for now", self.marketplace);
        spend_with(&self.clock, || limiter.check_key(&key), reason).await
    }
}

/// Takes one from a limiter, waiting out a short wait and deferring a long one.
async fn spend_with(
    clock: &DefaultClock,
    check: impl Fn() -> Result<(), NotUntil<<DefaultClock as Clock>::Instant>>,
    reason: impl Fn() -> String,
) -> Result<(), HandlerError> {
    loop {
        match check() {
            Ok(()) => return Ok(()),
            Err(not_until) => {
                let wait = not_until.wait_time_from(clock.now());
                if wait > INLINE_WAIT {
                    return Err(HandlerError::deferred(reason(), wait));
                }
                tokio::time::sleep(wait).await;
            }
        }
    }
}

/// Budgets of a marketplace's app, shared by all its shops, in this
/// process: requests a second (waited out) and a day (deferred).
pub struct AppLimits {
    marketplace: &'static str,
    per_second: DefaultDirectRateLimiter,
    per_day: DefaultDirectRateLimiter,
    clock: DefaultClock,
}

impl AppLimits {
    pub fn new(marketplace: &'static str, per_second: u32, per_day: u32) -> Self {
        let second = Budget { n: per_second, period: Duration::from_secs(1) };
        let day = Budget { n: per_day, period: Duration::from_secs(24 * 3600) };
        // The second's requests evenly spaced, no burst: however the
        // marketplace counts its second (a sliding window, a bucket), no
        // second then holds more than its limit.
        let even = second.quota().allow_burst(NonZeroU32::MIN);
        Self {
            marketplace,
            per_second: RateLimiter::direct(even),
            per_day: RateLimiter::direct(day.quota()),
            clock: DefaultClock::default(),
        }
    }

    /// Spends one request of the day's and the second's budget: the day's
    /// first, so a deferral for the day does not waste a second's.
    pub async fn request(&self) -> Result<(), HandlerError> {
        let day = || format!("the {} app's requests for today are spent", self.marketplace);
        spend_with(&self.clock, || self.per_day.check(), day).await?;
        let second = || format!("the {} app's requests per second are spent", self.marketplace);
        spend_with(&self.clock, || self.per_second.check(), second).await
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
    async fn an_apps_requests_are_paced_per_second_and_deferred_when_the_day_is_spent() {
        let limits = AppLimits::new("Etsy", 10, 25);
        let started = std::time::Instant::now();
        for _ in 0..20 {
            limits.request().await.unwrap();
        }
        // One every 100 ms, no burst.
        let took = started.elapsed();
        assert!(took >= Duration::from_millis(1800) && took < Duration::from_secs(4), "{took:?}");
        for _ in 0..5 {
            limits.request().await.unwrap();
        }
        match limits.request().await {
            Err(HandlerError::Deferred { wait, .. }) => assert!(wait > Duration::from_secs(3000), "{wait:?}"),
            other => panic!("expected a deferral for the day, got {other:?}"),
        }
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
