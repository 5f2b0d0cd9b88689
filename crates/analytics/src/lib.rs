//! Customer analytics for Forecourt (SPEC F6): pure functions over columns of
//! transactions.
//!
//! - [`transactions`]: purchases in columns, read from CSV with the column names given.
//! - [`summary`]: each customer's history and the calibration summary (x, t_x, T, z̄)
//!   of Fader, Hardie & Lee (2005).
//! - [`bgnbd`] and [`gamma_gamma`]: the probabilistic models fitted by maximum
//!   likelihood, and [`clv`] combining them into lifetime value; [`generate`] draws
//!   transactions from the models for tests and benchmarks.
//! - [`rfm`], [`abc`], [`lifecycle`], [`five_s`] and [`refuel`]: descriptive views of
//!   each customer as of a day, with their rules in each module's documentation.
//!
//! This crate never writes the ledger and does no IO but reading and writing CSV; it
//! depends on no other Forecourt crate. Amounts are floating point here on purpose: they
//! are statistics, not money that is posted anywhere.

pub mod abc;
pub mod bgnbd;
pub mod churn;
pub mod clv;
pub mod error;
pub mod five_s;
pub mod forecast;
pub mod gamma_gamma;
pub mod generate;
pub mod lifecycle;
pub mod optim;
pub mod parquet_out;
pub mod price;
pub mod refuel;
pub mod reports;
pub mod rfm;
pub mod sales;
pub mod special;
pub mod summary;
pub mod transactions;

pub use error::{FitError, InputError};
