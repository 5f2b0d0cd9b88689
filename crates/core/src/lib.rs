//! Forecourt's domain: money and volume units, fuel cards, card rules, pricing and the
//! double-entry ledger model.
//!
//! This crate is pure: no IO, no async, no clock, no database, no HTTP. Every decision
//! about money or points is a function here, so that it can be tested exhaustively and
//! the quote and the sale can never disagree. It must never format data for the wire
//! (the server owns DTOs) nor read configuration.

pub mod card;
pub mod coupons;
pub mod error;
pub mod ledger;
pub mod limits;
pub mod loyalty;
pub mod money;
pub mod person;
pub mod points_expiry;
pub mod pricing;
pub mod text;
pub mod tiers;

pub use card::{CardKind, CardNo, CardState};
pub use error::DomainError;
pub use money::{Fen, Millilitres, Points};
pub use person::{Phone, Plate};
