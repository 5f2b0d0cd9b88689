//! Token buckets per key (a user, a client address): `rate` requests a minute, with a
//! burst of the same size. In memory: a limit per server process, which is what
//! matters against one client scraping or guessing.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

/// The most keys kept; beyond it, full (idle) buckets are dropped first.
const KEYS_MAX: usize = 100_000;

#[derive(Default)]
pub struct RateLimiter {
    buckets: Mutex<HashMap<String, (f64, Instant)>>,
}

impl RateLimiter {
    /// Takes one token from `key`'s bucket; false when it is empty.
    pub fn allow(&self, key: &str, per_minute: u32) -> bool {
        self.allow_at(key, per_minute, Instant::now())
    }

    fn allow_at(&self, key: &str, per_minute: u32, now: Instant) -> bool {
        let capacity = f64::from(per_minute.max(1));
        let per_second = capacity / 60.0;
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        if buckets.len() >= KEYS_MAX && !buckets.contains_key(key) {
            buckets.retain(|_, (tokens, at)| {
                *tokens + now.duration_since(*at).as_secs_f64() * per_second < capacity
            });
            if buckets.len() >= KEYS_MAX {
                return false;
            }
        }
        let (tokens, at) = buckets.entry(key.to_string()).or_insert((capacity, now));
        *tokens = (*tokens + now.duration_since(*at).as_secs_f64() * per_second).min(capacity);
        *at = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_burst_then_a_steady_rate() {
        let l = RateLimiter::default();
        let t0 = Instant::now();
        for _ in 0..60 {
            assert!(l.allow_at("u", 60, t0));
        }
        assert!(!l.allow_at("u", 60, t0), "the burst is spent");
        assert!(l.allow_at("other", 60, t0), "keys are separate");
        assert!(
            l.allow_at("u", 60, t0 + Duration::from_secs(1)),
            "one token a second comes back"
        );
        assert!(!l.allow_at("u", 60, t0 + Duration::from_secs(1)));
    }
}
