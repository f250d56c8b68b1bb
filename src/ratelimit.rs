//! Rate limits as token buckets: per client address for the public endpoints (tracking, pixel,
//! short links, webhooks), so a flood from one address cannot grow the database without
//! bound; per deploy key for the API's analytics, so a narrow key cannot keep the server
//! busy summarising. In memory; a restart forgives.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Instant;

/// At most `burst` requests at once, refilled at `per_minute`.
pub struct RateLimiter<K = IpAddr> {
    burst: f64,
    per_second: f64,
    buckets: Mutex<HashMap<K, (f64, Instant)>>,
}

/// Buckets kept at most; past this, full (idle) buckets are forgotten first.
const MAX_CLIENTS: usize = 50_000;

impl RateLimiter<IpAddr> {
    /// Takes one token for `ip` (by `client_key`); `false` when its bucket is empty (answer
    /// 429).
    pub fn allow(&self, ip: IpAddr) -> bool {
        self.allow_key(client_key(ip))
    }
}

impl<K: Hash + Eq> RateLimiter<K> {
    pub fn new(per_minute: u32, burst: u32) -> RateLimiter<K> {
        RateLimiter {
            burst: f64::from(burst.max(1)),
            per_second: f64::from(per_minute.max(1)) / 60.0,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one token for `key`; `false` when its bucket is empty (answer 429).
    pub fn allow_key(&self, key: K) -> bool {
        let now = Instant::now();
        let mut map = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= MAX_CLIENTS && !map.contains_key(&key) {
            let (burst, rate) = (self.burst, self.per_second);
            map.retain(|_, (tokens, at)| {
                *tokens + now.duration_since(*at).as_secs_f64() * rate < burst
            });
            if map.len() >= MAX_CLIENTS {
                return false;
            }
        }
        let (tokens, at) = map.entry(key).or_insert((self.burst, now));
        *tokens =
            (*tokens + now.duration_since(*at).as_secs_f64() * self.per_second).min(self.burst);
        *at = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// IPv4 addresses one by one; IPv6 by /64, which one household or server usually holds whole.
pub fn client_key(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => {
            let s = v6.segments();
            IpAddr::V6(std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
        }
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_then_refusals_per_client() {
        let l = RateLimiter::new(60, 5);
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        for _ in 0..5 {
            assert!(l.allow(a));
        }
        assert!(!l.allow(a));
        assert!(l.allow("10.0.0.2".parse().unwrap()));
        let v6 = RateLimiter::new(60, 1);
        assert!(v6.allow("2001:db8::1".parse().unwrap()));
        assert!(!v6.allow("2001:db8::2".parse().unwrap()), "same /64");
    }
}
