//! Password guessing is slowed per login name and per address: a handful
//! of attempts a minute for each email, whoever sends them, and a few dozen
//! from each address, whatever emails it tries (governor's GCRA).

use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;

use axum::http::HeaderMap;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

/// Which allowance an attempt ran out of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limited {
    Email,
    Address,
}

pub struct LoginThrottle {
    per_email: DefaultKeyedRateLimiter<String>,
    per_address: DefaultKeyedRateLimiter<IpAddr>,
}

impl LoginThrottle {
    /// `per_minute` attempts per email and `per_address` per client address
    /// a minute, all at once if need be.
    pub fn new(per_minute: NonZeroU32, per_address: NonZeroU32) -> Self {
        Self {
            per_email: RateLimiter::keyed(Quota::per_minute(per_minute)),
            per_address: RateLimiter::keyed(Quota::per_minute(per_address)),
        }
    }

    /// Whether one more attempt for `email` from `address` may be checked now.
    pub fn allows(&self, address: Option<IpAddr>, email: &str) -> Result<(), Limited> {
        if let Some(ip) = address
            && self.per_address.check_key(&ip).is_err()
        {
            return Err(Limited::Address);
        }
        // No address is longer (RFC 5321); a longer key is refused, not stored.
        if email.len() > 254 {
            return Err(Limited::Email);
        }
        let key = email.trim().to_lowercase();
        let ok = self.per_email.check_key(&key).is_ok();
        // Forget keys that have recovered their full quota.
        if self.per_email.len() > 10_000 {
            self.per_email.retain_recent();
        }
        if self.per_address.len() > 10_000 {
            self.per_address.retain_recent();
        }
        if ok { Ok(()) } else { Err(Limited::Email) }
    }
}

impl Default for LoginThrottle {
    fn default() -> Self {
        let n = |v| NonZeroU32::new(v).unwrap_or(NonZeroU32::MIN);
        Self::new(n(10), n(30))
    }
}

/// The client's address: the connection's peer, or, behind `trusted_proxies`
/// reverse proxies, the address the outermost of them saw (each appends the
/// peer it saw to `X-Forwarded-For`, so it is that many entries from the
/// right; entries further left are the client's own claims and not trusted).
pub fn client_address(peer: Option<SocketAddr>, headers: &HeaderMap, trusted_proxies: u8) -> Option<IpAddr> {
    if trusted_proxies == 0 {
        return peer.map(|p| p.ip());
    }
    let entries: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .collect();
    let n = usize::from(trusted_proxies);
    if entries.len() < n {
        return peer.map(|p| p.ip());
    }
    entries[entries.len() - n].parse().ok().or_else(|| peer.map(|p| p.ip()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_email_and_each_address_has_its_own_allowance() {
        let t = LoginThrottle::new(NonZeroU32::new(3).unwrap(), NonZeroU32::new(5).unwrap());
        let home: IpAddr = "192.0.2.1".parse().unwrap();
        assert!((0..3).all(|_| t.allows(Some(home), "Ana@Example.com").is_ok()));
        assert_eq!(t.allows(Some(home), "ana@example.com "), Err(Limited::Email), "whatever the case");
        assert!(t.allows(Some(home), "bo@example.com").is_ok(), "another email is not slowed");
        // Five from one address in all: the sixth is refused whatever the email.
        assert_eq!(t.allows(Some(home), "cy@example.com"), Err(Limited::Address));
        assert!(t.allows(Some("192.0.2.2".parse().unwrap()), "cy@example.com").is_ok());
        assert!(t.allows(None, "dee@example.com").is_ok(), "no address known: the email's allowance alone");
    }

    #[test]
    fn the_address_is_the_one_the_trusted_proxy_saw() {
        let peer: SocketAddr = "10.0.0.5:4431".parse().unwrap();
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", "203.0.113.9, 198.51.100.7".parse().unwrap());
        assert_eq!(client_address(Some(peer), &h, 0), Some(peer.ip()), "no proxy trusted: the peer");
        assert_eq!(client_address(Some(peer), &h, 1), Some("198.51.100.7".parse().unwrap()), "what our proxy saw");
        assert_eq!(client_address(Some(peer), &h, 2), Some("203.0.113.9".parse().unwrap()));
        assert_eq!(client_address(Some(peer), &h, 3), Some(peer.ip()), "fewer entries than proxies: the peer");
        h.insert("x-forwarded-for", "not-an-address".parse().unwrap());
        assert_eq!(client_address(Some(peer), &h, 1), Some(peer.ip()));
    }
}
