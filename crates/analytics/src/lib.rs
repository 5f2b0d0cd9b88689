//! Customer analytics for Forecourt (SPEC F6): pure functions over columns of
//! transactions.
//!
//! - [`transactions`]: purchases in columns, read from CSV with the column names given.
//! - [`summary`]: each customer's history and the calibration summary (x, t_x, T, z̄)
//!   of Fader, Hardie & Lee (2005).
//! - [`bgnbd`] and [`gamma_gamma`]: the probabilistic models fitted by maximum
//!   likelihood, and [`clv`] combining them into lifetime value; [`generate`] draws
//!   transactions from the models for tests and benchmarks.
//!
//! This crate never writes the ledger and does no IO but reading and writing CSV; it
//! depends on no other Forecourt crate. Amounts are floating point here on purpose: they
//! are statistics, not money that is posted anywhere.

pub mod bgnbd;
pub mod clv;
pub mod error;
pub mod gamma_gamma;
pub mod generate;
pub mod optim;
pub mod special;
pub mod summary;
pub mod transactions;

pub use error::{FitError, InputError};
