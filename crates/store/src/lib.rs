//! Forecourt's storage: the schema, its migrations and every query, for the embedded
//! SQLite file and for PostgreSQL.
//!
//! Both backends run the same statements: the schema keeps to a portable subset (text
//! ids, BIGINT integers, `$n` placeholders), and where the two differ (connection
//! settings, how writers are serialised) the code says so by matching on [`Backend`].
//! Every write that touches money or points happens inside a [`Tx`], which
//! applies ledger transfers with conditional updates so that no balance can go below
//! zero and no credit account above its limit, whatever the callers do concurrently.
//! A `Tx` comes either from [`Store::begin`] (a transaction of the caller's own) or,
//! for short frequent writes such as a till's sale, from [`Store::write`], which on
//! SQLite group-commits the units of concurrent callers: one writer task runs them in
//! one transaction, each in its own savepoint, pays one fsync for all of them
//! (`synchronous = full` is kept) and answers each caller only after that commit.
//!
//! This crate must never decide business rules (that is `forecourt-core`) nor know about
//! HTTP.

pub mod audit;
pub mod bulk;
pub mod care;
pub mod dashboard;
mod deferred;
mod error;
mod guess;
pub mod ledger;
pub mod loyalty;
pub mod marketing;
mod migrate;
pub mod model;
pub mod network;
pub mod outbox;
mod personal;
pub mod portal;
pub mod promo;
mod queries;
mod sales_export;
pub mod surveys;
#[doc(hidden)]
pub mod testing;
pub mod tickets;
mod writer;
pub use forecourt_privacy::Vault;
pub use personal::normalise_name;
pub use queries::{AccountMovement, Adjustment, Consent, CreditMovement, NewSale};
pub use sales_export::{ExportedLine, ExportedPayment, ExportedSale, SalesCursor, SalesFilter};

pub use error::StoreError;
pub use guess::{Guesses, Reserved};
pub use ledger::CheckReport;
pub use migrate::SCHEMA_VERSION;
pub use model::*;
pub use writer::{BoxFuture, WriteStats, BATCH_UNITS_MAX, BATCH_WORK_MAX, QUEUE_UNITS_MAX};

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, Executor};
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

/// The `setting` that holds the fingerprint of the data key.
pub(crate) const VAULT_FINGERPRINT: &str = "vault_fingerprint";

/// Which database a [`Store`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "SQLite",
            Backend::Postgres => "PostgreSQL",
        }
    }
}

/// A database URL whose `Debug` and `Display` never show a password.
#[derive(Clone, PartialEq, Eq)]
pub struct DbUrl(String);

impl DbUrl {
    pub fn parse(url: &str) -> Result<Self, StoreError> {
        if url.starts_with("sqlite:")
            || url.starts_with("postgres://")
            || url.starts_with("postgresql://")
        {
            Ok(Self(url.to_string()))
        } else {
            Err(StoreError::Config(
                "the database URL is sqlite://PATH or postgres://USER@HOST/DB".into(),
            ))
        }
    }

    pub fn backend(&self) -> Backend {
        if self.0.starts_with("sqlite:") {
            Backend::Sqlite
        } else {
            Backend::Postgres
        }
    }

    /// The URL with its secret part (if any) intact: only for connecting.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The SQLite file path, for a `sqlite://PATH` URL.
    pub fn sqlite_path(&self) -> Option<&str> {
        let rest = self
            .0
            .strip_prefix("sqlite://")
            .or_else(|| self.0.strip_prefix("sqlite:"))?;
        Some(rest.split('?').next().unwrap_or(rest))
    }

    /// Where the database is, for messages: `host:port/database` of a PostgreSQL URL
    /// (no user, no password, no parameters), the file of an SQLite one.
    pub fn target(&self) -> String {
        if let Some(path) = self.sqlite_path() {
            return path.to_string();
        }
        let rest = self.0.split_once("://").map_or(self.0.as_str(), |(_, r)| r);
        let rest = rest.split('?').next().unwrap_or(rest);
        let rest = rest.rsplit_once('@').map_or(rest, |(_, r)| r);
        let (host, db) = rest.split_once('/').unwrap_or((rest, ""));
        let host = if host.is_empty() { "localhost" } else { host };
        // A bracketed IPv6 address holds colons of its own; the port follows `]`.
        let has_port = match host.rfind(']') {
            Some(end) => host[end..].contains(':'),
            None => host.contains(':'),
        };
        if has_port {
            format!("{host}/{db}")
        } else {
            format!("{host}:5432/{db}")
        }
    }

    fn redacted(&self) -> String {
        match (self.0.find("://"), self.0.rfind('@')) {
            (Some(s), Some(at)) if at > s => {
                let userinfo = &self.0[s + 3..at];
                let user = userinfo.split(':').next().unwrap_or("");
                let masked = if userinfo.contains(':') {
                    format!("{user}:***")
                } else {
                    user.to_string()
                };
                format!("{}{}{}", &self.0[..s + 3], masked, &self.0[at..])
            }
            _ => self.0.clone(),
        }
    }
}

impl fmt::Debug for DbUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DbUrl({})", self.redacted())
    }
}

impl fmt::Display for DbUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

/// How long a request waits for a PostgreSQL connection before it is told the database
/// is unavailable (503 with `Retry-After`). Short, so that while the database is away
/// requests are answered in seconds rather than hanging (it was 30 s); long enough that
/// a burst queued on one row lock (64 parallel sales on one card, 32 connections, on a
/// loaded machine) still gets its connections: at 5 s that burst saw 503s.
pub const PG_ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);

/// The figures of one connection pool, for the metrics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolStats {
    /// `read` and `write` on SQLite; `main` on PostgreSQL, where both are one pool.
    pub name: &'static str,
    pub in_use: u32,
    pub idle: u32,
    pub max: u32,
}

/// The handle to the database: a pool for reads and a pool for writes.
///
/// On SQLite the write pool has one connection: SQLite allows one writer at a time, and
/// queueing writers in the process is cheaper and fairer than letting them collide on
/// the file lock. On PostgreSQL both pools are the same and writers serialise on row
/// locks.
///
/// Writes come in two forms. [`Store::begin`] hands the caller a transaction of its
/// own, which holds the SQLite write connection until it is committed or dropped.
/// [`Store::write`] hands a unit of work to the group-commit writer, which on SQLite
/// runs many callers' units in one transaction and pays one fsync for all of them.
/// Both take the one write connection in turn (see [`Store::write`]).
#[derive(Clone)]
pub struct Store {
    backend: Backend,
    read: AnyPool,
    write: AnyPool,
    vault: Arc<Vault>,
    /// The queue of the SQLite writer task; `None` on PostgreSQL, where a unit runs in
    /// a transaction of its own.
    writer: Option<writer::Queue>,
    write_counters: Arc<writer::Counters>,
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Store")
            .field("backend", &self.backend)
            .finish()
    }
}

impl Store {
    /// Connects without migrating. Use [`Store::open`] for the usual start-up.
    pub async fn connect(url: &DbUrl, vault: Vault) -> Result<Self, StoreError> {
        let vault = Arc::new(vault);
        sqlx::any::install_default_drivers();
        match url.backend() {
            Backend::Sqlite => {
                let mut raw = url.expose().to_string();
                if !raw.contains("mode=") {
                    raw.push_str(if raw.contains('?') {
                        "&mode=rwc"
                    } else {
                        "?mode=rwc"
                    });
                }
                let opts = AnyConnectOptions::from_str(&raw)?;
                let write = AnyPoolOptions::new()
                    .max_connections(1)
                    .acquire_timeout(Duration::from_secs(60))
                    .after_connect(|conn, _meta| Box::pin(sqlite_setup(conn)))
                    .connect_with(opts.clone())
                    .await?;
                let read = AnyPoolOptions::new()
                    .max_connections(8)
                    .acquire_timeout(Duration::from_secs(30))
                    .after_connect(|conn, _meta| Box::pin(sqlite_setup(conn)))
                    .connect_with(opts)
                    .await?;
                let write_counters = Arc::new(writer::Counters::default());
                let writer = writer::spawn(write.clone(), vault.clone(), write_counters.clone());
                Ok(Self {
                    backend: Backend::Sqlite,
                    read,
                    write,
                    vault,
                    writer: Some(writer),
                    write_counters,
                })
            }
            Backend::Postgres => {
                let opts = AnyConnectOptions::from_str(url.expose())?;
                let pool = AnyPoolOptions::new()
                    .max_connections(32)
                    .acquire_timeout(PG_ACQUIRE_TIMEOUT)
                    .connect_with(opts)
                    .await?;
                Ok(Self {
                    backend: Backend::Postgres,
                    read: pool.clone(),
                    write: pool,
                    vault,
                    writer: None,
                    write_counters: Arc::default(),
                })
            }
        }
    }

    /// Connects, applies pending migrations and the default data, and refuses a
    /// database whose schema is newer than this binary.
    pub async fn open(url: &DbUrl, vault: Vault) -> Result<Self, StoreError> {
        let store = Self::connect(url, vault).await?;
        store.migrate().await?;
        store.build_bulk_indexes().await?;
        store.check_vault().await?;
        Ok(store)
    }

    /// Opens a database that must exist already and hold a Forecourt schema, for the
    /// commands that read or change an existing network (`check`, `audit verify`,
    /// `users`, `export`, …). A mistyped path or database name is refused instead of
    /// being created empty, which would answer a check of nothing with "clean".
    /// Pending migrations are applied as by [`Store::open`].
    pub async fn open_existing(url: &DbUrl, vault: Vault) -> Result<Self, StoreError> {
        if let Some(path) = url.sqlite_path() {
            if !std::path::Path::new(path).is_file() {
                return Err(StoreError::NoDatabase(format!(
                    "no database file at {path}"
                )));
            }
        }
        let store = Self::connect(url, vault).await?;
        if !store.has_schema().await? {
            return Err(StoreError::NoDatabase(format!(
                "{url} holds no Forecourt schema"
            )));
        }
        store.migrate().await?;
        store.build_bulk_indexes().await?;
        store.check_vault().await?;
        Ok(store)
    }

    /// Whether the database has the migrations table, that is, was ever migrated.
    async fn has_schema(&self) -> Result<bool, StoreError> {
        let sql = match self.backend {
            Backend::Sqlite => {
                "select count(*) from sqlite_master where type = 'table' and name = 'schema_migration'"
            }
            Backend::Postgres => {
                "select count(*) from information_schema.tables where table_schema = current_schema() and table_name = 'schema_migration'"
            }
        };
        let n: i64 = sqlx::query_scalar(sql).fetch_one(&self.read).await?;
        Ok(n > 0)
    }

    /// Refuses a data key other than the one the database was written with (its
    /// fingerprint is kept in `setting`), instead of writing data nobody can read.
    async fn check_vault(&self) -> Result<(), StoreError> {
        let fingerprint = self.vault_fingerprint();
        self.check_fingerprint(
            VAULT_FINGERPRINT,
            &fingerprint,
            "the data key (FORECOURT_DATA_KEY or its key file)",
        )
        .await
    }

    /// The fingerprint of the data key, as kept in `setting` under [`VAULT_FINGERPRINT`].
    pub(crate) fn vault_fingerprint(&self) -> String {
        self.vault.blind_index("vault-check", "forecourt")
    }

    /// Records the fingerprint of a key the first time, and refuses another key later:
    /// a database must always be opened with the keys it was written with.
    pub async fn check_fingerprint(
        &self,
        name: &str,
        fingerprint: &str,
        what: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "insert into setting (name, value) values ($1, $2) on conflict (name) do nothing",
        )
        .bind(name)
        .bind(fingerprint)
        .execute(&self.write)
        .await?;
        let stored: String = sqlx::query_scalar("select value from setting where name = $1")
            .bind(name)
            .fetch_one(&self.read)
            .await?;
        if stored != fingerprint {
            return Err(StoreError::Config(format!(
                "{what} is not the one this database was written with"
            )));
        }
        Ok(())
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Connections in use, idle and at most, per pool.
    pub fn pool_stats(&self) -> Vec<PoolStats> {
        let stats = |name, pool: &AnyPool| {
            let size = pool.size();
            let idle = u32::try_from(pool.num_idle()).unwrap_or(u32::MAX).min(size);
            PoolStats {
                name,
                in_use: size - idle,
                idle,
                max: pool.options().get_max_connections(),
            }
        };
        match self.backend {
            Backend::Sqlite => vec![stats("read", &self.read), stats("write", &self.write)],
            Backend::Postgres => vec![stats("main", &self.write)],
        }
    }

    pub(crate) fn read(&self) -> &AnyPool {
        &self.read
    }

    pub(crate) fn vault(&self) -> &Vault {
        &self.vault
    }

    /// Starts a write transaction. On SQLite it holds the one write connection until
    /// it is committed or dropped: never hold one while waiting for [`Store::write`],
    /// whose batch needs that connection.
    pub async fn begin(&self) -> Result<Tx, StoreError> {
        if self.writer.is_some() {
            writer::assert_not_in_writer("Store::begin");
        }
        let tx = self.write.begin().await?;
        Ok(Tx {
            tx,
            backend: self.backend,
            vault: self.vault.clone(),
            deferred: None,
            accounts_read: Default::default(),
        })
    }

    /// Runs `unit` in a write transaction and answers with its result once that
    /// transaction is committed: the group-commit path for short, frequent writes
    /// (a till's sale).
    ///
    /// On SQLite the unit is handed to the store's one writer task, which runs every
    /// unit queued at that moment (at most [`BATCH_UNITS_MAX`], taking no more once
    /// [`BATCH_WORK_MAX`] has passed) in one transaction, each unit inside its own
    /// savepoint, and commits once. So:
    /// - a unit that returns `Err` has its savepoint rolled back and gets its own error;
    ///   the other units of the batch are not affected;
    /// - a unit that panics is treated the same way and gets [`StoreError::Panicked`];
    ///   the writer goes on;
    /// - every answer, `Ok` or `Err`, is sent only after the batch's COMMIT returned
    ///   (with `synchronous = full`: after the fsync). If the commit fails, every unit
    ///   of the batch gets that error ([`StoreError::Retry`] stays a retry, anything
    ///   else becomes [`StoreError::Unavailable`]) and nothing of them was written;
    /// - a unit sees the writes of the units before it in its batch, as it would if
    ///   they had committed one after another;
    /// - once handed in, a unit runs even if the caller stops waiting for it.
    ///
    /// The writer takes the write pool's one connection per batch, the same way
    /// [`Store::begin`] does, so batches and transactions of `begin` take turns on it,
    /// first come first served; neither waits for anything but that connection. A unit
    /// must therefore not call `begin` or `write` itself (it would wait for its own
    /// batch: this is asserted), and a caller must not hold a `Tx` of `begin` while it
    /// waits for `write`.
    ///
    /// On PostgreSQL the unit runs in a transaction of its own on the pool (begin, the
    /// unit, commit; rolled back on `Err` or panic), so that callers have one interface.
    ///
    /// The unit must own what it uses (`move` it in) since it may run on another task;
    /// it writes the body of a transaction as usual, through the `&mut Tx`:
    ///
    /// ```no_run
    /// # async fn example(store: forecourt_store::Store) -> Result<(), forecourt_store::StoreError> {
    /// use forecourt_store::StoreError;
    /// let key = String::from("points_name");
    /// let version = store
    ///     .write(move |tx| {
    ///         Box::pin(async move {
    ///             tx.set_loyalty_setting(&key, "积分").await?;
    ///             Ok::<_, StoreError>(1)
    ///         })
    ///     })
    ///     .await?;
    /// # let _ = version;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn write<R, E, F>(&self, unit: F) -> Result<R, E>
    where
        F: for<'t> FnOnce(&'t mut Tx) -> BoxFuture<'t, Result<R, E>> + Send + 'static,
        R: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        match &self.writer {
            Some(queue) => writer::submit(queue, &self.write_counters, unit).await,
            None => writer::run_alone(self, &self.write_counters, unit).await,
        }
    }

    /// What [`Store::write`] has done since the store was opened: units, batches
    /// (commits), the largest batch and the units waiting.
    pub fn write_stats(&self) -> WriteStats {
        self.write_counters.snapshot()
    }

    /// Starts a read-only transaction on the read pool: a consistent snapshot that never
    /// waits for the writer (a quote runs in one). Writing through it is a bug.
    pub async fn begin_read(&self) -> Result<Tx, StoreError> {
        let tx = self.read.begin().await?;
        Ok(Tx {
            tx,
            backend: self.backend,
            vault: self.vault.clone(),
            deferred: None,
            accounts_read: Default::default(),
        })
    }

    pub async fn close(&self) {
        self.write.close().await;
        self.read.close().await;
    }
}

/// A transaction. Dropping it without [`Tx::commit`] rolls everything back.
pub struct Tx {
    pub(crate) tx: sqlx::Transaction<'static, sqlx::Any>,
    pub(crate) backend: Backend,
    pub(crate) vault: Arc<Vault>,
    /// Writes queued by [`Tx::defer_writes`] until [`Tx::flush`].
    pub(crate) deferred: Option<Vec<deferred::Deferred>>,
    /// Accounts read by [`Tx::read_accounts`] for the next `post`.
    pub(crate) accounts_read: std::collections::BTreeMap<String, ledger::AccountRow>,
}

impl Tx {
    pub async fn commit(self) -> Result<(), StoreError> {
        self.tx.commit().await?;
        Ok(())
    }
}

/// Settings of every SQLite connection. WAL lets readers run beside the writer;
/// `synchronous = full` makes a commit durable at power loss, which a ledger needs;
/// foreign keys are off by default in SQLite. Reads go through a memory map of the file
/// (shared by every connection through the page cache) and each connection caches 64 MiB
/// of pages, with sorts in memory: the default 2 MB cache made a year of a ten-station
/// network (a few GB) spend most of its time in `read` calls.
async fn sqlite_setup(conn: &mut sqlx::AnyConnection) -> Result<(), sqlx::Error> {
    conn.execute("pragma journal_mode = wal").await?;
    conn.execute("pragma synchronous = full").await?;
    conn.execute("pragma foreign_keys = on").await?;
    conn.execute("pragma busy_timeout = 10000").await?;
    conn.execute("pragma mmap_size = 2147418112").await?;
    conn.execute("pragma cache_size = -65536").await?;
    conn.execute("pragma temp_store = memory").await?;
    Ok(())
}

/// The current time as microseconds since the Unix epoch.
pub fn now_us() -> i64 {
    chrono::Utc::now().timestamp_micros()
}

/// A new time-ordered id.
pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_debug_redacts_the_password() {
        let u = DbUrl::parse("postgres://fc:s3cret@db.example/forecourt").unwrap();
        assert_eq!(
            format!("{u:?}"),
            "DbUrl(postgres://fc:***@db.example/forecourt)"
        );
        assert!(!u.to_string().contains("s3cret"));
        assert_eq!(
            DbUrl::parse("sqlite://a/b.db?x=1").unwrap().sqlite_path(),
            Some("a/b.db")
        );
        assert!(DbUrl::parse("mysql://x").is_err());
    }

    #[test]
    fn url_target_names_host_port_and_database_only() {
        let t = |u: &str| DbUrl::parse(u).unwrap().target();
        assert_eq!(
            t("postgres://fc:s3cret@db.example/forecourt?sslmode=require"),
            "db.example:5432/forecourt"
        );
        assert_eq!(t("postgresql://fc@127.0.0.1:55432/x"), "127.0.0.1:55432/x");
        assert_eq!(t("postgres://[::1]/x"), "[::1]:5432/x");
        assert_eq!(t("postgres://u:p@[::1]:6000/x"), "[::1]:6000/x");
        assert_eq!(t("sqlite:///var/lib/fc.db?mode=rwc"), "/var/lib/fc.db");
    }
}
