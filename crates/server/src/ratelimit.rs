//! Rate limits per key (a user, a client address): `rate` requests a minute, with a
//! burst of the same size, by governor's keyed GCRA limiter. In memory: a limit per
//! server process, which is what matters against one client scraping or guessing.
//!
//! Memory is bounded without ever refusing a key for being new: keys whose state is
//! back to that of a fresh key are forgotten by [`RateLimiter::sweep`] (on a timer in
//! `serve`) and whenever a limiter reaches [`KEYS_MAX`]; a limiter still full of keys
//! active within the last minute after that starts afresh, which costs the active keys
//! their spent burst but never locks anyone out.

use governor::clock::{Clock, DefaultClock};
use governor::middleware::NoOpMiddleware;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::Quota;
use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};

/// The most keys one limiter (one rate) keeps.
pub const KEYS_MAX: usize = 100_000;

type Keyed<C> = governor::RateLimiter<
    String,
    DefaultKeyedStateStore<String>,
    C,
    NoOpMiddleware<<C as Clock>::Instant>,
>;

/// Keyed limiters, one per rate (the call sites ask for a few fixed rates).
pub struct RateLimiter<C: Clock + Clone = DefaultClock> {
    clock: C,
    limiters: Mutex<HashMap<u32, Arc<Keyed<C>>>>,
}

impl Default for RateLimiter {
    fn default() -> Self {
        Self::with_clock(DefaultClock::default())
    }
}

impl<C: Clock + Clone> RateLimiter<C> {
    pub fn with_clock(clock: C) -> Self {
        Self {
            clock,
            limiters: Mutex::new(HashMap::new()),
        }
    }

    fn fresh(&self, per_minute: u32) -> Arc<Keyed<C>> {
        let rate = NonZeroU32::new(per_minute.max(1)).unwrap_or(NonZeroU32::MIN);
        Arc::new(governor::RateLimiter::dashmap_with_clock(
            Quota::per_minute(rate),
            self.clock.clone(),
        ))
    }

    /// Takes one request from `key`'s allowance of `per_minute`; false when it is spent.
    pub fn allow(&self, key: &str, per_minute: u32) -> bool {
        let limiter = {
            let mut limiters = self.limiters.lock().unwrap_or_else(|e| e.into_inner());
            let mut limiter = match limiters.get(&per_minute) {
                Some(l) => l.clone(),
                None => {
                    let l = self.fresh(per_minute);
                    limiters.insert(per_minute, l.clone());
                    l
                }
            };
            if limiter.len() >= KEYS_MAX {
                limiter.retain_recent();
                if limiter.len() >= KEYS_MAX {
                    tracing::warn!(
                        keys = limiter.len(),
                        per_minute,
                        "rate limiter full of active keys; starting afresh"
                    );
                    limiter = self.fresh(per_minute);
                    limiters.insert(per_minute, limiter.clone());
                }
            }
            limiter
        };
        limiter.check_key(&key.to_string()).is_ok()
    }

    /// Forgets every key whose allowance is whole again, and gives the memory back.
    pub fn sweep(&self) {
        let limiters: Vec<_> = self
            .limiters
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .cloned()
            .collect();
        for l in limiters {
            l.retain_recent();
            l.shrink_to_fit();
        }
    }

    /// Keys held over all rates.
    pub fn stored_keys(&self) -> usize {
        self.limiters
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .map(|l| l.len())
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use governor::clock::FakeRelativeClock;
    use std::time::Duration;

    #[test]
    fn a_burst_then_a_steady_rate() {
        let clock = FakeRelativeClock::default();
        let l = RateLimiter::with_clock(clock.clone());
        for _ in 0..60 {
            assert!(l.allow("u", 60));
        }
        assert!(!l.allow("u", 60), "the burst is spent");
        assert!(l.allow("other", 60), "keys are separate");
        assert!(l.allow("u", 30), "rates are separate");
        clock.advance(Duration::from_secs(1));
        assert!(l.allow("u", 60), "one request a second comes back");
        assert!(!l.allow("u", 60));
    }

    #[test]
    fn many_distinct_keys_never_lock_out_a_new_one_and_are_forgotten() {
        let clock = FakeRelativeClock::default();
        let l = RateLimiter::with_clock(clock.clone());
        for i in 0..200_000 {
            assert!(l.allow(&format!("login:10.{i}"), 30), "key {i} refused");
        }
        assert!(l.allow("login:newcomer", 30), "a new key locked out");
        assert!(
            l.stored_keys() <= KEYS_MAX,
            "{} keys stored",
            l.stored_keys()
        );
        // A key still inside its minute keeps its spent allowance through a sweep.
        for _ in 0..30 {
            l.allow("login:busy", 30);
        }
        l.sweep();
        assert!(!l.allow("login:busy", 30), "a sweep forgave a spent key");
        // Two minutes later every allowance is whole again and nothing needs keeping.
        clock.advance(Duration::from_secs(120));
        l.sweep();
        assert_eq!(l.stored_keys(), 0);
        assert!(l.allow("login:busy", 30));
    }
}
