/// What can go wrong in the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{0} not found")]
    NotFound(&'static str),
    /// A uniqueness rule would be broken (a username taken, a card number in use).
    #[error("conflict: {0}")]
    Conflict(String),
    /// A business rule refused the write; nothing was changed.
    #[error(transparent)]
    Domain(#[from] forecourt_core::DomainError),
    /// A concurrent transaction won (serialisation failure or deadlock): retry.
    #[error("the database asked to retry the transaction")]
    Retry,
    #[error("the database schema is version {found}, newer than this binary's {known}: upgrade forecourt")]
    SchemaTooNew { found: i64, known: i64 },
    #[error("configuration: {0}")]
    Config(String),
    #[error("stored data is inconsistent: {0}")]
    Corrupt(String),
    #[error("database: {0}")]
    Database(sqlx::Error),
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        if let sqlx::Error::Database(db) = &e {
            let code = db.code().map(|c| c.to_string()).unwrap_or_default();
            // PostgreSQL: serialization_failure, deadlock_detected. SQLite: busy, locked.
            if matches!(code.as_str(), "40001" | "40P01" | "5" | "6" | "517") {
                return StoreError::Retry;
            }
            if db.is_unique_violation() {
                return StoreError::Conflict(db.message().to_string());
            }
            // PostgreSQL: character_not_in_repertoire (a NUL in text, which it cannot
            // store) and untranslatable_character. The input is at fault, not the
            // server: whatever path a NUL took to the database (a query string, a path,
            // a field the API edge did not see), it is refused as invalid.
            if matches!(code.as_str(), "22021" | "22P05") {
                return StoreError::Domain(forecourt_core::DomainError::invalid(
                    "text",
                    "text may not contain the NUL character (U+0000)",
                ));
            }
        }
        if matches!(e, sqlx::Error::PoolTimedOut) {
            return StoreError::Retry;
        }
        StoreError::Database(e)
    }
}

impl From<serde_json::Error> for StoreError {
    fn from(e: serde_json::Error) -> Self {
        StoreError::Corrupt(e.to_string())
    }
}

impl StoreError {
    pub fn is_retry(&self) -> bool {
        matches!(self, StoreError::Retry)
    }
}
