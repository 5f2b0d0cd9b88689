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
    /// The database did not answer: no connection could be had in time, or the one in
    /// use broke (the server stopped or restarted, the network went away). Unlike
    /// [`StoreError::Retry`] this is no conflict between requests: trying again at once
    /// is pointless, trying again in a few seconds may succeed.
    #[error("the database is unavailable: {0}")]
    Unavailable(String),
    #[error("the database schema is version {found}, newer than this binary's {known}: upgrade forecourt")]
    SchemaTooNew { found: i64, known: i64 },
    #[error("configuration: {0}")]
    Config(String),
    /// A command that works on an existing database was given one that does not exist
    /// or was never migrated (most often a typo in the URL).
    #[error("{0}; check the --db URL (`forecourt migrate --db URL` creates a new database)")]
    NoDatabase(String),
    #[error("stored data is inconsistent: {0}")]
    Corrupt(String),
    #[error("database: {0}")]
    Database(sqlx::Error),
    /// A unit of [`crate::Store::write`] panicked (a bug); its writes were rolled back
    /// and the other units were not affected.
    #[error("a write unit panicked: {0}")]
    Panicked(String),
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        if let sqlx::Error::Database(db) = &e {
            let code = db.code().map(|c| c.to_string()).unwrap_or_default();
            // PostgreSQL: serialization_failure, deadlock_detected. SQLite: busy, locked.
            if matches!(code.as_str(), "40001" | "40P01" | "5" | "6" | "517") {
                return StoreError::Retry;
            }
            // PostgreSQL: the connection_exception class (08…), and the server shutting
            // down or starting up (admin_shutdown, crash_shutdown, cannot_connect_now),
            // which is what in-flight queries get from `pg_ctl stop -m immediate`.
            if code.starts_with("08") || matches!(code.as_str(), "57P01" | "57P02" | "57P03") {
                return StoreError::Unavailable(db.message().to_string());
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
        match e {
            // A pool that found no connection in its acquire time-out: the database is
            // away (or saturated); either way not a serialisation failure.
            sqlx::Error::PoolTimedOut => {
                StoreError::Unavailable("no connection within the pool's time-out".into())
            }
            sqlx::Error::PoolClosed => StoreError::Unavailable("the pool is closed".into()),
            // The socket failed: refused, reset or closed under a query.
            sqlx::Error::Io(io) => StoreError::Unavailable(io.to_string()),
            e => StoreError::Database(e),
        }
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

    /// The database did not answer (see [`StoreError::Unavailable`]).
    pub fn is_unavailable(&self) -> bool {
        matches!(self, StoreError::Unavailable(_))
    }
}
