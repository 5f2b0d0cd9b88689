//! Forecourt's domain: money and volume units, fuel cards, card rules, pricing, the
//! double-entry ledger model, loyalty, and the service desk's business time and SLAs.
//!
//! This crate is pure: no IO, no async, no clock, no database, no HTTP. Every decision
//! about money or points is a function here, so that it can be tested exhaustively and
//! the quote and the sale can never disagree. Time is always an argument: a due time is
//! computed from the `now` the caller passes, never from a clock read here. It must
//! never format data for the wire (the server owns DTOs) nor read configuration.

pub mod business_time;
pub mod card;
pub mod care;
pub mod contact;
pub mod coupons;
pub mod error;
pub mod geo;
pub mod ledger;
pub mod limits;
pub mod loyalty;
pub mod money;
pub mod person;
pub mod points_expiry;
pub mod pricing;
pub mod promo;
pub mod sale;
pub mod sla;
pub mod survey;
pub mod text;
pub mod tiers;
pub mod uplift;

pub use card::{CardKind, CardNo, CardState};
pub use error::DomainError;
pub use money::{Fen, Millilitres, Points};
pub use person::{Phone, Plate};
