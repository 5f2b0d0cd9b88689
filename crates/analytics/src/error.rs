//! The errors at this crate's boundary: bad input files and models that cannot be fitted.

/// A transactions file that cannot be read. Every variant about a row names its line
/// (the header is line 1) and, where one is at fault, the column.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("the file is empty: line 1 should be a header naming the columns")]
    NoHeader,
    #[error("line 1: no column named {column:?} (the header has {header})")]
    MissingColumn { column: String, header: String },
    #[error("line {line}: the file has a header but no transactions")]
    NoRows { line: u64 },
    #[error("line {line}: {message}")]
    Malformed { line: u64, message: String },
    #[error("line {line}, column {column:?}: the customer id is empty")]
    EmptyCustomer { line: u64, column: String },
    #[error(
        "line {line}, column {column:?}: cannot read {value:?} as a date or date-time \
         (YYYY-MM-DD, YYYY-MM-DD HH:MM:SS or RFC 3339)"
    )]
    BadTime {
        line: u64,
        column: String,
        value: String,
    },
    #[error("line {line}, column {column:?}: cannot read {value:?} as a number")]
    BadNumber {
        line: u64,
        column: String,
        value: String,
    },
}

/// A model that cannot be fitted or evaluated on the data given.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FitError {
    #[error("no customers to fit the model on")]
    NoCustomers,
    #[error("no customer made a repeat purchase, so the model cannot be fitted")]
    NoRepeatCustomers,
    #[error("columns of different lengths ({0})")]
    Lengths(String),
    #[error("customer {index}: {message}")]
    BadCustomer { index: usize, message: String },
    #[error("the likelihood could not be maximised: {0}")]
    NotConverged(String),
    #[error("{0}")]
    BadArgument(String),
}
