//! The analytics crate's integration tests, one binary: the published CDNOW results
//! reproduced from the raw sample, and the models recovering the parameters of data
//! drawn from them.

mod cdnow;
mod generated;
