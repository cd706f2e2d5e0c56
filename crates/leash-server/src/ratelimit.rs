//! Brute-force protection for the login endpoints.
//!
//! Failed logins are counted per source address and per identity with
//! `governor`'s GCRA limiter. When a key runs out, it is blocked until the
//! limiter would allow one more attempt: every login from that address (or
//! for that identity) answers 429 with `Retry-After` meanwhile, whether the
//! credentials are right or not. Successful logins cost nothing. The per-address
//! budget is smaller than the per-identity one, so one noisy address cannot
//! lock a service out from everywhere else.

use std::collections::HashMap;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

/// Failed attempts allowed in a burst per source address, and the refill period.
const ADDRESS_BURST: u32 = 10;
const ADDRESS_REFILL: Duration = Duration::from_secs(6);
/// Failed attempts allowed in a burst per identity, and the refill period.
const IDENTITY_BURST: u32 = 30;
const IDENTITY_REFILL: Duration = Duration::from_secs(2);
const MAX_TRACKED: usize = 100_000;

/// The failure limiters and the keys currently blocked.
pub struct LoginLimiter {
    by_address: DefaultKeyedRateLimiter<IpAddr>,
    by_identity: DefaultKeyedRateLimiter<String>,
    blocked: Mutex<HashMap<String, Instant>>,
    clock: DefaultClock,
}

/// A refused attempt: how long to wait.
#[derive(Debug, Clone, Copy)]
pub struct Blocked {
    pub retry_after: Duration,
}

fn quota(burst: u32, refill: Duration) -> Quota {
    Quota::with_period(refill)
        .expect("refill periods are non-zero constants")
        .allow_burst(NonZeroU32::new(burst).expect("bursts are non-zero constants"))
}

impl Default for LoginLimiter {
    fn default() -> Self {
        Self {
            by_address: RateLimiter::keyed(quota(ADDRESS_BURST, ADDRESS_REFILL)),
            by_identity: RateLimiter::keyed(quota(IDENTITY_BURST, IDENTITY_REFILL)),
            blocked: Mutex::new(HashMap::new()),
            clock: DefaultClock::default(),
        }
    }
}

fn address_key(ip: IpAddr) -> String {
    format!("addr:{ip}")
}

fn identity_key(identity: &str) -> String {
    format!("identity:{identity}")
}

impl LoginLimiter {
    /// Refuses the attempt if its address or identity is blocked.
    pub fn check(&self, ip: IpAddr, identity: &str) -> Result<(), Blocked> {
        let now = Instant::now();
        let mut blocked = self.blocked.lock().unwrap_or_else(|p| p.into_inner());
        blocked.retain(|_, until| *until > now);
        let longest = [address_key(ip), identity_key(identity)]
            .iter()
            .filter_map(|k| blocked.get(k))
            .max()
            .copied();
        match longest {
            Some(until) => Err(Blocked {
                retry_after: until.saturating_duration_since(now).max(Duration::from_secs(1)),
            }),
            None => Ok(()),
        }
    }

    /// Counts a failed attempt; blocks the address or identity whose budget ran out.
    pub fn record_failure(&self, ip: IpAddr, identity: &str) {
        if self.by_address.len() > MAX_TRACKED {
            self.by_address.retain_recent();
        }
        if self.by_identity.len() > MAX_TRACKED {
            self.by_identity.retain_recent();
        }
        let now = self.clock.now();
        let mut block = Vec::new();
        if let Err(not_until) = self.by_address.check_key(&ip) {
            block.push((address_key(ip), not_until.wait_time_from(now)));
        }
        if let Err(not_until) = self.by_identity.check_key(&identity.to_owned()) {
            block.push((identity_key(identity), not_until.wait_time_from(now)));
        }
        if !block.is_empty() {
            let mut blocked = self.blocked.lock().unwrap_or_else(|p| p.into_inner());
            for (key, wait) in block {
                tracing::warn!(key = %key, wait_secs = wait.as_secs(), "too many failed logins; blocking");
                blocked.insert(key, Instant::now() + wait);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_is_blocked_after_its_burst_but_others_are_not() {
        let limiter = LoginLimiter::default();
        let noisy: IpAddr = "127.0.0.1".parse().unwrap();
        let quiet: IpAddr = "127.0.0.2".parse().unwrap();
        for _ in 0..=ADDRESS_BURST {
            assert!(limiter.check(noisy, "svc").is_ok());
            limiter.record_failure(noisy, "svc");
        }
        let blocked = limiter.check(noisy, "svc").unwrap_err();
        assert!(blocked.retry_after >= Duration::from_secs(1));
        assert!(limiter.check(quiet, "svc").is_ok(), "the identity's budget is larger");
        assert!(
            limiter.check(noisy, "other").is_err(),
            "the address is blocked for every identity"
        );
    }
}
