//! API tests through the real router, on a fresh database per test. The backend is
//! chosen by `FORECOURT_TEST_BACKEND` (see `forecourt_store::testing`).

mod analytics;
mod console;
mod export;
mod harness;
mod import;
mod ledger_ops;
mod loyalty;
mod portal;
mod pos;
mod rules;
mod security;
mod spending;
mod staff;
mod till_clock;
