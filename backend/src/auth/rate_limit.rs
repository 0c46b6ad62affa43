//! Abuse limits on the endpoints that take guesses: sign-in, tokens, password resets,
//! invitations and setup (SECURITY.md 7). Two keyed GCRA limiters (governor): one per client IP,
//! one per account, so neither a botnet on one account nor one client on many accounts gets far.

use std::net::IpAddr;
use std::num::NonZeroU32;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::config::AuthConfig;
use crate::error::AppError;

/// Keys kept before stale ones are swept.
const SWEEP_ABOVE: usize = 10_000;

pub struct RateLimits {
    per_ip: DefaultKeyedRateLimiter<IpAddr>,
    per_account: DefaultKeyedRateLimiter<String>,
}

impl RateLimits {
    #[must_use]
    pub fn new(config: &AuthConfig) -> Self {
        let quota = |per_minute: u32| {
            Quota::per_minute(NonZeroU32::new(per_minute).unwrap_or(NonZeroU32::MIN))
        };
        Self {
            per_ip: RateLimiter::keyed(quota(config.attempts_per_minute_per_ip)),
            per_account: RateLimiter::keyed(quota(config.attempts_per_minute_per_account)),
        }
    }

    /// Counts one attempt; `429` with `Retry-After` when either budget is spent.
    pub fn check(&self, ip: Option<IpAddr>, account: Option<&str>) -> Result<(), AppError> {
        let clock = DefaultClock::default();
        if let Some(ip) = ip {
            sweep(&self.per_ip);
            if let Err(not_until) = self.per_ip.check_key(&ip) {
                return Err(AppError::rate_limited(
                    not_until.wait_time_from(clock.now()),
                ));
            }
        }
        if let Some(account) = account {
            sweep(&self.per_account);
            if let Err(not_until) = self.per_account.check_key(&account.to_lowercase()) {
                return Err(AppError::rate_limited(
                    not_until.wait_time_from(clock.now()),
                ));
            }
        }
        Ok(())
    }
}

fn sweep<K: std::hash::Hash + Eq + Clone>(limiter: &DefaultKeyedRateLimiter<K>) {
    if limiter.len() > SWEEP_ABOVE {
        limiter.retain_recent();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    #[test]
    fn an_account_is_limited_whatever_the_ip() {
        let mut config = Config::default().auth;
        config.attempts_per_minute_per_account = 2;
        let limits = RateLimits::new(&config);
        let ip = |n| Some(IpAddr::from([10, 0, 0, n]));
        assert!(limits.check(ip(1), Some("a@example.com")).is_ok());
        assert!(limits.check(ip(2), Some("A@example.com")).is_ok());
        assert!(limits.check(ip(3), Some("a@example.com")).is_err());
        assert!(limits.check(ip(4), Some("b@example.com")).is_ok());
    }

    #[test]
    fn an_ip_is_limited_whatever_the_account() {
        let mut config = Config::default().auth;
        config.attempts_per_minute_per_ip = 1;
        let limits = RateLimits::new(&config);
        let ip = Some(IpAddr::from([10, 0, 0, 1]));
        assert!(limits.check(ip, Some("a@example.com")).is_ok());
        assert!(limits.check(ip, Some("b@example.com")).is_err());
    }
}
