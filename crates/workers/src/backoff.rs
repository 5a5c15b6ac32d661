//! How long to wait before the next delivery of a message whose handler
//! failed transiently. Pure, so the policy is tested without a clock.

use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Backoff {
    /// Wait after the first failed delivery.
    pub base: Duration,
    /// Longest wait the policy itself chooses (a provider's `retry-after`
    /// may ask for longer, up to `max_retry_after`).
    pub max: Duration,
    /// Longest `retry-after` honoured; beyond it the wait is capped here.
    pub max_retry_after: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            base: Duration::from_millis(500),
            max: Duration::from_secs(60),
            max_retry_after: Duration::from_secs(3600),
        }
    }
}

impl Backoff {
    /// The wait after delivery number `delivered` (1 = the first) failed.
    /// `jitter` in 0..1 spreads replicas out ("equal jitter": half fixed,
    /// half random). A provider's `retry-after` is a floor: never retry sooner.
    pub fn delay(&self, delivered: u64, retry_after: Option<Duration>, jitter: f64) -> Duration {
        let exp = delivered.saturating_sub(1).min(20) as u32;
        let full = self.base.saturating_mul(2u32.saturating_pow(exp)).min(self.max);
        let jitter = jitter.clamp(0.0, 1.0);
        let jittered = full.mul_f64(0.5 + jitter / 2.0);
        match retry_after {
            Some(ra) => jittered.max(ra.min(self.max_retry_after)),
            None => jittered,
        }
    }
}

/// Parses an HTTP `retry-after` value: delta-seconds or an HTTP date.
pub fn parse_retry_after(value: &str, now: chrono::DateTime<chrono::Utc>) -> Option<Duration> {
    let v = value.trim();
    if let Ok(secs) = v.parse::<f64>() {
        return Duration::try_from_secs_f64(secs).ok();
    }
    let at = chrono::DateTime::parse_from_rfc2822(v).ok()?.to_utc();
    Some((at - now).to_std().unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_grow_exponentially_up_to_the_cap() {
        let b = Backoff { base: Duration::from_secs(1), max: Duration::from_secs(10), ..Default::default() };
        assert_eq!(b.delay(1, None, 1.0), Duration::from_secs(1));
        assert_eq!(b.delay(2, None, 1.0), Duration::from_secs(2));
        assert_eq!(b.delay(4, None, 1.0), Duration::from_secs(8));
        assert_eq!(b.delay(5, None, 1.0), Duration::from_secs(10));
        assert_eq!(b.delay(500, None, 1.0), Duration::from_secs(10));
        // Jitter takes at most half away.
        assert_eq!(b.delay(4, None, 0.0), Duration::from_secs(4));
    }

    #[test]
    fn retry_after_is_a_floor_not_a_suggestion() {
        let b = Backoff { base: Duration::from_secs(1), max: Duration::from_secs(10), ..Default::default() };
        assert_eq!(b.delay(1, Some(Duration::from_secs(30)), 0.0), Duration::from_secs(30));
        // A shorter retry-after does not shorten the policy's own wait.
        assert_eq!(b.delay(4, Some(Duration::from_secs(1)), 1.0), Duration::from_secs(8));
        // An absurd one is capped.
        assert_eq!(b.delay(1, Some(Duration::from_secs(86_400 * 7)), 0.0), Duration::from_secs(3600));
    }

    #[test]
    fn retry_after_parses_seconds_and_dates() {
        let now = chrono::DateTime::parse_from_rfc3339("2026-11-27T12:00:00Z").unwrap().to_utc();
        assert_eq!(parse_retry_after("7", now), Some(Duration::from_secs(7)));
        assert_eq!(parse_retry_after("Fri, 27 Nov 2026 12:00:30 GMT", now), Some(Duration::from_secs(30)));
        assert_eq!(parse_retry_after("Fri, 27 Nov 2026 11:00:00 GMT", now), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-3", now), None);
        assert_eq!(parse_retry_after("1e20", now), None, "absurd, and no panic");
        assert_eq!(parse_retry_after("NaN", now), None);
    }
}
