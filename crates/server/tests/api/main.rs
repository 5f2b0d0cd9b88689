//! API tests through the real router, on a fresh database per test. The backend is
//! chosen by `FORECOURT_TEST_BACKEND` (see `forecourt_store::testing`).

mod analytics;
mod care;
mod console;
mod export;
mod guesses;
mod harness;
mod import;
mod inputs;
mod leaflets;
mod ledger_ops;
mod loyalty;
mod marketing;
mod one_decider;
mod openapi_check;
mod ops;
mod portal;
mod portal_desk;
mod pos;
mod rules;
mod scope;
mod security;
mod service_desk;
mod spending;
mod staff;
mod statements;
mod surveys;
mod till_clock;
