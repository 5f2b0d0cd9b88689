//! Forecourt's use cases, without HTTP: the POS (quote, sale, recharge, refund, hold),
//! cards, customers, loyalty, ledger operations, bulk posting and import, privacy and
//! the daily jobs. Each use case reads a snapshot, lets `forecourt-core` decide and
//! applies the decision through `forecourt-store`.
//!
//! This crate never speaks HTTP: no axum, no status codes beyond the error table's
//! numbers, no request or response types of a web framework. The server and the CLI
//! are adapters over it.

pub mod access;
pub mod analytics;
pub mod audit;
pub mod bulk;
pub mod cache;
pub mod campaigns;
pub mod cards;
pub mod care;
pub mod clock;
pub mod contact;
pub mod customers;
pub mod daily;
pub mod dashboard;
pub mod error;
pub mod export;
pub mod guard;
pub mod import;
pub mod input;
pub mod leaflets;
pub mod ledger_ops;
pub mod loyalty;
pub mod loyalty_admin;
pub mod network;
pub mod outbox;
pub mod partners;
pub mod portal;
pub mod pos;
pub mod privacy;
pub mod promotions;
pub mod secret;
pub mod segments;
pub mod service_desk;
pub mod spend;
pub mod surveys;

pub use access::Actor;
pub use error::{AppError, AppResult};
pub use secret::Secret;

use forecourt_store::Store;
use std::sync::Arc;

/// What a staff use case that makes or changes a record answers: the record made, the
/// record as it stands (a change, or the replay of a retried request), or a request
/// held until a second person approves it. The server answers 201, 200 and 202.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Created(serde_json::Value),
    Done(serde_json::Value),
    Pending(serde_json::Value),
}

/// Settings the application reads at start-up.
#[derive(Debug, Clone)]
pub struct Config {
    /// Wrong PINs before a card locks.
    pub pin_tries_max: i64,
    /// Absolute lifetime of a staff session.
    pub session_ttl_secs: i64,
    /// A session unused for this long ends.
    pub session_idle_secs: i64,
    /// Customer lookups a user may make per minute (a burst of this many, refilled
    /// evenly), against scraping the customer base.
    pub lookups_per_minute: u32,
    /// Login attempts per minute from one address.
    pub logins_per_minute: u32,
    /// Mark the session cookie `Secure` (behind TLS).
    pub secure_cookies: bool,
    /// How long a pump authorisation holds money if no sale captures it.
    pub hold_ttl_secs: i64,
    /// Wrong passwords before a staff account locks, and for how long.
    pub login_failures_max: i64,
    pub lockout_secs: i64,
    pub body_bytes_max: usize,
    /// Absolute lifetime of a member's portal session.
    pub member_session_ttl_secs: i64,
    /// A portal session unused for this long ends.
    pub member_session_idle_secs: i64,
    /// The most one coupon issued by staff other than an admin may be worth.
    pub coupon_staff_max_fen: i64,
    /// A coupon worth more than this, issued by staff other than an admin, waits for a
    /// second person's approval before any till takes it.
    pub coupon_approval_above_fen: i64,
    /// The server's clock (the system time; tests set one by hand).
    pub clock: clock::Clock,
    /// How far a live till's `occurred_at` may be behind or ahead of the server's clock
    /// (default 5 minutes behind, 1 minute ahead); the bulk import is not bound by it.
    pub till_skew: clock::Skew,
    /// Where messages go (SMTP, the SMS gateway) and how the worker retries.
    pub outbox: outbox::Settings,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            pin_tries_max: 5,
            session_ttl_secs: 12 * 3600,
            session_idle_secs: 30 * 60,
            lookups_per_minute: 120,
            logins_per_minute: 30,
            secure_cookies: false,
            hold_ttl_secs: 30 * 60,
            login_failures_max: 10,
            lockout_secs: 30 * 60,
            body_bytes_max: 256 * 1024,
            member_session_ttl_secs: 30 * 86_400,
            member_session_idle_secs: 7 * 86_400,
            coupon_staff_max_fen: 50_000,
            coupon_approval_above_fen: 10_000,
            clock: clock::Clock::system(),
            till_skew: clock::Skew::default(),
            outbox: outbox::Settings::default(),
        }
    }
}

struct Inner {
    store: Store,
    secret: Secret,
    config: Config,
    cache: cache::Cache,
}

/// The application: the store, the secret, the settings and the caches every use case
/// reads. Cheap to clone.
#[derive(Clone)]
pub struct App(Arc<Inner>);

impl App {
    pub fn new(store: Store, secret: Secret, config: Config) -> Self {
        Self(Arc::new(Inner {
            store,
            secret,
            config,
            cache: Default::default(),
        }))
    }

    /// The same application with another clock (the sales import's, which stands at
    /// each past sale's time).
    pub fn with_clock(&self, clock: clock::Clock) -> Self {
        let mut config = self.0.config.clone();
        config.clock = clock;
        Self::new(self.0.store.clone(), self.0.secret.clone(), config)
    }

    pub fn store(&self) -> &Store {
        &self.0.store
    }

    pub fn secret(&self) -> &Secret {
        &self.0.secret
    }

    pub fn config(&self) -> &Config {
        &self.0.config
    }

    /// The application's clock.
    pub fn clock(&self) -> &clock::Clock {
        &self.0.config.clock
    }

    /// A live till's `occurred_at`, checked against the clock.
    pub fn till_time(&self, field: &str, s: &str) -> AppResult<clock::TillTime> {
        clock::till_time(&self.0.config.clock, self.0.config.till_skew, field, s)
    }

    pub fn cache(&self) -> &cache::Cache {
        &self.0.cache
    }
}
