//! Password guessing is slowed per login name: a handful of attempts a
//! minute for each email, whoever sends them (governor's GCRA).

use std::num::NonZeroU32;

use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

pub struct LoginThrottle {
    limiter: DefaultKeyedRateLimiter<String>,
}

impl LoginThrottle {
    /// `per_minute` attempts per email, all at once if need be.
    pub fn new(per_minute: NonZeroU32) -> Self {
        Self { limiter: RateLimiter::keyed(Quota::per_minute(per_minute)) }
    }

    /// Whether one more attempt for `email` may be checked now.
    pub fn allows(&self, email: &str) -> bool {
        // No address is longer (RFC 5321); a longer key is refused, not stored.
        if email.len() > 254 {
            return false;
        }
        let key = email.trim().to_lowercase();
        let ok = self.limiter.check_key(&key).is_ok();
        // Forget emails that have recovered their full quota.
        if self.limiter.len() > 10_000 {
            self.limiter.retain_recent();
        }
        ok
    }
}

impl Default for LoginThrottle {
    fn default() -> Self {
        Self::new(NonZeroU32::new(10).unwrap_or(NonZeroU32::MIN))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_email_has_its_own_allowance() {
        let t = LoginThrottle::new(NonZeroU32::new(3).unwrap());
        assert!((0..3).all(|_| t.allows("Ana@Example.com")));
        assert!(!t.allows("ana@example.com "), "a fourth attempt within the minute is refused, whatever the case");
        assert!(t.allows("bo@example.com"), "another email is not slowed");
    }
}
