//! The `forecourt` command: thin wiring of the store and the server.

mod analytics_cmd;
mod analytics_db;
mod bench;
mod bench_more;
mod bench_segments;
mod bench_statements;
mod demo;
mod desk_sim;
mod exchange;
mod marketing_sim;
mod progress;
mod simulate;

use anyhow::{bail, Context};
use clap::{Args, Parser, Subcommand};
use forecourt_app::{Config, Secret};
use forecourt_server::AppState;
use forecourt_store::{DbUrl, Store, Vault};
use std::io::Read;
use std::path::PathBuf;

const DEFAULT_DB: &str = "sqlite://forecourt.db";

#[derive(Parser)]
#[command(
    name = "forecourt",
    version,
    about = "Customer relationship, fuel-card and loyalty platform for fuel-station networks"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Args, Clone)]
struct DbArgs {
    /// Database URL: sqlite://PATH (embedded, the default) or postgres://USER@HOST/DB.
    #[arg(long, env = "FORECOURT_DB", default_value = DEFAULT_DB)]
    db: String,
}

#[derive(Args, Clone)]
struct SecretArgs {
    /// File holding the server secret (64 hex digits) that keys card PINs; created when
    /// missing. Defaults to the SQLite file's path plus `.secret`, or ./forecourt.secret.
    #[arg(long, env = "FORECOURT_SECRET_FILE")]
    secret_file: Option<PathBuf>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the HTTP server (API, POS API, OpenAPI, health, metrics).
    Serve {
        #[command(flatten)]
        db: DbArgs,
        #[command(flatten)]
        secret: SecretArgs,
        /// Address to listen on.
        #[arg(long, env = "FORECOURT_LISTEN", default_value = "127.0.0.1:8080")]
        listen: String,
    },
    /// A fresh database filled with demonstration data, and the server on it.
    Demo {
        /// Database URL; by default a new embedded file ./forecourt-demo.db.
        #[arg(long, env = "FORECOURT_DEMO_DB")]
        db: Option<String>,
        #[arg(long, env = "FORECOURT_LISTEN", default_value = "127.0.0.1:8080")]
        listen: String,
        /// Seed of the generated data.
        #[arg(long, default_value_t = 42)]
        seed: u64,
    },
    /// Fill an empty database with a simulated network: stations with prices, customers
    /// with cards, and days of sales and recharges, all through the POS rules.
    Simulate {
        #[command(flatten)]
        db: DbArgs,
        #[arg(long, default_value_t = 3)]
        stations: usize,
        #[arg(long, default_value_t = 1_000)]
        customers: usize,
        #[arg(long, default_value_t = 60)]
        days: u32,
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// The last simulated day (YYYY-MM-DD); yesterday by default. Give it to get the
        /// same data on another day.
        #[arg(long)]
        end: Option<chrono::NaiveDate>,
        /// Anonymous walk-in sales per station on an ordinary day.
        #[arg(long, default_value_t = 30)]
        walk_ins: u32,
    },
    /// Apply pending schema migrations.
    Migrate {
        #[command(flatten)]
        db: DbArgs,
    },
    /// The loyalty engine's daily run: points expiry, tier review, monthly car-wash
    /// coupons. Idempotent: a second run for the same day changes nothing.
    Loyalty {
        #[command(flatten)]
        db: DbArgs,
        /// The local day to run for (YYYY-MM-DD); by default yesterday.
        #[arg(long)]
        date: Option<String>,
    },
    /// Recompute every balance from the ledger; exit 0 only if all match.
    Check {
        #[command(flatten)]
        db: DbArgs,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Stations of the network.
    Stations {
        #[command(subcommand)]
        command: StationsCommand,
    },
    /// Tokens that POS systems use to post sales for one station.
    #[command(name = "pos-token")]
    PosToken {
        #[command(subcommand)]
        command: PosTokenCommand,
    },
    /// Staff users.
    Users {
        #[command(subcommand)]
        command: UsersCommand,
    },
    /// Import data from files.
    Import {
        #[command(subcommand)]
        command: ImportCommand,
    },
    /// Export data to files: a whole network, or sales as CSV.
    Export {
        #[command(subcommand)]
        command: exchange::ExportCommand,
    },
    /// Benchmarks that print their figures.
    Bench {
        #[command(subcommand)]
        command: BenchCommand,
    },
    /// Customer analytics on a CSV file of transactions: CLV (BG/NBD and Gamma-Gamma),
    /// RFM, ABC, lifecycle, refuel cycle and 5S.
    Analytics {
        #[command(subcommand)]
        command: analytics_cmd::AnalyticsCommand,
    },
    /// Privacy housekeeping (PIPL retention).
    Privacy {
        #[command(subcommand)]
        command: PrivacyCommand,
    },
    /// The notification outbox: what waits, and a test batch of emails.
    Outbox {
        #[command(subcommand)]
        command: OutboxCommand,
    },
    /// The keys that encrypt personal data at rest.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// The audit log of who saw or changed what.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Add a new data key version to the key file and re-encrypt all personal data
    /// under it. Older versions stay in the file, so backups remain readable.
    Rotate {
        #[command(flatten)]
        db: DbArgs,
    },
    /// Re-encrypt personal data under the newest key version (after the key material
    /// was rotated elsewhere, e.g. in FORECOURT_DATA_KEY).
    Reencrypt {
        #[command(flatten)]
        db: DbArgs,
    },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Check the hash chain of the whole audit log; exit 0 only if it is unbroken.
    Verify {
        #[command(flatten)]
        db: DbArgs,
    },
}

#[derive(Subcommand)]
enum StationsCommand {
    /// Add a station.
    Add {
        #[command(flatten)]
        db: DbArgs,
        #[arg(long)]
        code: String,
        #[arg(long)]
        name: String,
        /// Region code; the region is created when new.
        #[arg(long)]
        region: Option<String>,
        /// IANA time zone of the station.
        #[arg(long, default_value = "Asia/Shanghai")]
        time_zone: String,
        /// Province as its plate character (京, 粤, …).
        #[arg(long)]
        province: Option<String>,
    },
    /// List stations.
    List {
        #[command(flatten)]
        db: DbArgs,
    },
}

#[derive(Subcommand)]
enum PosTokenCommand {
    /// Create a token for a station; prints it alone on the last line.
    Create {
        #[command(flatten)]
        db: DbArgs,
        #[arg(long)]
        station: String,
        #[arg(long)]
        label: Option<String>,
    },
    /// Revoke every POS token of a station (a stolen or retired till).
    Revoke {
        #[command(flatten)]
        db: DbArgs,
        #[arg(long)]
        station: String,
    },
}

#[derive(Subcommand)]
enum UsersCommand {
    /// Add a staff user; the password is read from standard input.
    Add {
        #[command(flatten)]
        db: DbArgs,
        #[arg(long)]
        username: String,
        /// admin, analyst, region_manager, station_manager, account_manager or cashier.
        #[arg(long)]
        role: String,
        /// company, own, region:CODE or station:CODE.
        #[arg(long)]
        scope: Option<String>,
        /// Read the password from standard input (its first line).
        #[arg(long, required = true)]
        password_stdin: bool,
    },
    /// Disable a user and end their sessions (`--enable` to undo).
    Disable {
        #[command(flatten)]
        db: DbArgs,
        #[arg(long)]
        username: String,
        #[arg(long)]
        enable: bool,
    },
    /// Set a new password (read from standard input), unlock the user and end their
    /// sessions.
    Password {
        #[command(flatten)]
        db: DbArgs,
        #[arg(long)]
        username: String,
        #[arg(long, required = true)]
        password_stdin: bool,
    },
}

#[derive(Subcommand)]
enum ImportCommand {
    /// Import sales from a CSV file through the POS rules; idempotent on
    /// (station_code, pos_txn_id). The format is described in `docs/import.md`.
    Sales {
        /// The CSV file.
        file: PathBuf,
        #[command(flatten)]
        db: DbArgs,
        #[command(flatten)]
        secret: SecretArgs,
    },
    /// Load a network written by `forecourt export network` into an empty database,
    /// in one transaction, then check the ledger and the audit log.
    Network(exchange::ImportNetworkArgs),
}

#[derive(Subcommand)]
enum BenchCommand {
    /// POS card sales through HTTP at concurrent connections (full ledger and loyalty),
    /// then `check`: sales/s and latency p50/p99.
    Pos {
        /// An empty database; by default a temporary SQLite file.
        #[arg(long)]
        db: Option<String>,
        #[arg(long, default_value_t = 32)]
        connections: usize,
        #[arg(long, default_value_t = 10)]
        seconds: u64,
        /// Funded cards the sales are spread over.
        #[arg(long, default_value_t = 1_000)]
        cards: usize,
        /// Also run PostgreSQL's own pgbench TPC-B (`pgbench -i -s 10`, then 32 clients
        /// for the same time) on the same database as the reference (PostgreSQL only).
        #[arg(long)]
        pgbench: bool,
        /// Active bonus rules to install first (the loyalty engine's share of a sale).
        #[arg(long, default_value_t = 0)]
        rules: usize,
    },
    /// `forecourt import sales` of a generated CSV into a simulated network (full
    /// accounting), then `check`: sales/s; then the same file again (idempotency).
    Import {
        /// An empty database; by default a temporary SQLite file.
        #[arg(long)]
        db: Option<String>,
        #[arg(long, default_value_t = 200_000)]
        sales: usize,
        #[arg(long, default_value_t = 20_000)]
        customers: usize,
    },
    /// Small rows written by concurrent tasks, each in its own transaction
    /// (`begin`/`commit`) and then through the group-commit writer (`Store::write`):
    /// rows/s of both, commits, latency p50/p99.
    GroupCommit {
        /// An empty database; by default a temporary SQLite file.
        #[arg(long)]
        db: Option<String>,
        /// Rows written by each of the two ways.
        #[arg(long, default_value_t = 20_000)]
        rows: usize,
        /// Concurrent writing tasks (tills).
        #[arg(long, default_value_t = 32)]
        tasks: usize,
    },
    /// SQL statements per member card sale: PostgreSQL's own statement log (with
    /// `--pg-log`) and sqlx's count on both databases.
    Statements {
        /// An empty database; by default a temporary SQLite file. On PostgreSQL the user
        /// must be a superuser (the run switches `log_statement` on and off).
        #[arg(long)]
        db: Option<String>,
        #[arg(long, default_value_t = 100)]
        sales: usize,
        /// The PostgreSQL server's log file (where `log_statement` lines go).
        #[arg(long)]
        pg_log: Option<String>,
    },
    /// Segment evaluation on a network's live data (e.g. a `demo` or `simulate`
    /// database): the first evaluation and the median of the next, per kind of filter.
    Segments {
        #[command(flatten)]
        db: DbArgs,
        #[command(flatten)]
        secret: SecretArgs,
        #[arg(long, default_value_t = 5)]
        runs: usize,
    },
    /// Till lookups by phone, plate and card number through HTTP against `forecourt
    /// serve` on a network of many customers: p50/p99, and the server's memory.
    Lookup {
        /// An empty database; by default a temporary SQLite file.
        #[arg(long)]
        db: Option<String>,
        #[arg(long, default_value_t = 1_000_000)]
        customers: usize,
        /// Lookups of each kind.
        #[arg(long, default_value_t = 2_000)]
        lookups: usize,
    },
}

#[derive(Subcommand)]
enum OutboxCommand {
    /// Messages per channel and state, and whether email and SMS are configured.
    Status {
        #[command(flatten)]
        db: DbArgs,
        #[command(flatten)]
        secret: SecretArgs,
    },
    /// Enqueue COUNT test emails to one address, in one transaction; a running server
    /// (`serve`, `demo`) delivers them through FORECOURT_SMTP_URL.
    TestBatch {
        #[command(flatten)]
        db: DbArgs,
        #[command(flatten)]
        secret: SecretArgs,
        #[arg(long, default_value_t = 1)]
        count: i64,
        /// The address every test email goes to.
        #[arg(long)]
        to: String,
    },
}

#[derive(Subcommand)]
enum PrivacyCommand {
    /// Anonymise customers whose data is past retention: created more than YEARS ago,
    /// no sale in the last YEARS years and no money left on their cards.
    Retention {
        #[command(flatten)]
        db: DbArgs,
        #[arg(long)]
        years: u32,
        /// Only list how many would be anonymised.
        #[arg(long)]
        dry_run: bool,
    },
}

fn secret_path(url: &DbUrl, arg: &SecretArgs) -> PathBuf {
    if let Some(p) = &arg.secret_file {
        return p.clone();
    }
    match url.sqlite_path() {
        Some(p) => PathBuf::from(format!("{p}.secret")),
        None => PathBuf::from("forecourt.secret"),
    }
}

/// The vault that encrypts personal data: from `FORECOURT_DATA_KEY` (key material, lines
/// or comma-separated `index:HEX,v1:HEX,…`), or from a key file (`FORECOURT_DATA_KEY_FILE`,
/// by default the SQLite file's path plus `.keys`, or ./forecourt.keys), created when
/// missing.
pub fn vault_for(url: &DbUrl) -> anyhow::Result<Vault> {
    if let Ok(material) = std::env::var("FORECOURT_DATA_KEY") {
        return Vault::from_key_material(&material.replace(',', "\n"))
            .context("FORECOURT_DATA_KEY");
    }
    let path = data_key_path(url);
    Vault::load_or_create(&path).with_context(|| format!("data key file {}", path.display()))
}

pub fn data_key_path(url: &DbUrl) -> PathBuf {
    if let Ok(p) = std::env::var("FORECOURT_DATA_KEY_FILE") {
        return PathBuf::from(p);
    }
    match url.sqlite_path() {
        Some(p) => PathBuf::from(format!("{p}.keys")),
        None => PathBuf::from("forecourt.keys"),
    }
}

/// Records an administration command in the audit log, as done from the command line.
async fn cli_audit(
    store: &Store,
    action: &str,
    kind: &str,
    id: &str,
    detail: serde_json::Value,
) -> anyhow::Result<()> {
    let actor = format!(
        "cli:{}",
        std::env::var("USER").unwrap_or_else(|_| "unknown".into())
    );
    store
        .audit(&forecourt_store::audit::AuditEntry {
            actor: &actor,
            action,
            target_kind: kind,
            target_id: Some(id),
            source: None,
            detail,
        })
        .await?;
    Ok(())
}

/// Replaces a key file atomically, readable by its owner only.
fn write_key_file(path: &std::path::Path, content: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let tmp = path.with_extension("keys.new");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut f = options.open(&tmp)?;
    f.write_all(content.as_bytes())?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)?;
    Ok(())
}

/// Opens a database, creating and migrating it when it does not exist yet: for the
/// commands that make a database (`migrate`, `serve`, `demo`, `simulate`, imports).
async fn open(db: &str) -> anyhow::Result<(DbUrl, Store)> {
    let url = DbUrl::parse(db)?;
    let store = Store::open(&url, vault_for(&url)?)
        .await
        .with_context(|| format!("opening {url}"))?;
    Ok((url, store))
}

/// Refuses a SQLite URL whose file does not exist, before a key file is made for it.
fn require_database_file(url: &DbUrl) -> anyhow::Result<()> {
    if let Some(path) = url.sqlite_path() {
        if !std::path::Path::new(path).is_file() {
            bail!(
                "no database file at {path}; check the --db URL (`forecourt migrate --db URL` creates a new database)"
            );
        }
    }
    Ok(())
}

/// Opens a database that must exist already: every other command. A missing SQLite
/// file is refused before anything is created (not even its key file), and a
/// database that was never migrated is refused by the store.
pub async fn open_existing(db: &str) -> anyhow::Result<(DbUrl, Store)> {
    let url = DbUrl::parse(db)?;
    require_database_file(&url)?;
    let store = Store::open_existing(&url, vault_for(&url)?)
        .await
        .with_context(|| format!("opening {url}"))?;
    Ok((url, store))
}

/// Opens the database for `serve`, waiting while it does not answer rather than failing
/// after one silent time-out: every try is logged with where the database is
/// (`host:port/database`, never the password) and the waits grow from one second to
/// thirty. Any other error (a wrong password, a schema too new, another data key) ends
/// the start at once.
async fn open_waiting(db: &str) -> anyhow::Result<(DbUrl, Store)> {
    let url = DbUrl::parse(db)?;
    let target = url.target();
    tracing::info!(database = %target, "connecting to the database");
    let mut wait = std::time::Duration::from_secs(1);
    let mut attempt: u32 = 1;
    loop {
        match Store::open(&url, vault_for(&url)?).await {
            Ok(store) => {
                if attempt > 1 {
                    tracing::info!(database = %target, attempt, "the database answers");
                }
                return Ok((url, store));
            }
            Err(e) if e.is_unavailable() => {
                tracing::warn!(
                    database = %target,
                    attempt,
                    retry_in_secs = wait.as_secs(),
                    error = %e,
                    "the database is unreachable; trying again"
                );
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = tokio::signal::ctrl_c() => {
                        bail!("stopped while waiting for the database at {target}")
                    }
                }
                wait = (wait * 2).min(std::time::Duration::from_secs(30));
                attempt = attempt.saturating_add(1);
            }
            Err(e) => return Err(anyhow::Error::new(e).context(format!("opening {url}"))),
        }
    }
}

fn load_secret(url: &DbUrl, arg: &SecretArgs) -> anyhow::Result<Secret> {
    if let Ok(hex) = std::env::var("FORECOURT_SECRET") {
        return Secret::from_hex(&hex).context("FORECOURT_SECRET");
    }
    let path = secret_path(url, arg);
    Secret::load_or_create(&path).with_context(|| format!("server secret {}", path.display()))
}

async fn serve(store: Store, secret: Secret, listen: &str) -> anyhow::Result<()> {
    store
        .check_fingerprint(
            "secret_fingerprint",
            &secret.fingerprint(),
            "the server secret (FORECOURT_SECRET or its file)",
        )
        .await?;
    let config = Config {
        secure_cookies: std::env::var("FORECOURT_SECURE_COOKIES")
            .is_ok_and(|v| v == "1" || v == "true"),
        lookups_per_minute: std::env::var("FORECOURT_LOOKUPS_PER_MINUTE")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(Config::default().lookups_per_minute),
        outbox: outbox_settings()?,
        ..Config::default()
    };
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("listening on {listen}"))?;
    let state = AppState::new(store.clone(), secret, config);
    start_outbox_worker(&state)?;
    tracing::info!(address = %listener.local_addr()?, database = store.backend().name(), "serving");
    eprintln!(
        "forecourt listening on http://{} ({})",
        listener.local_addr()?,
        store.backend().name()
    );
    forecourt_server::serve(state, listener).await
}

/// The outbox's settings from `FORECOURT_SMTP_URL`, `FORECOURT_SMTP_FROM`,
/// `FORECOURT_SMS_URL`, `FORECOURT_PUBLIC_URL` (the base of unsubscribe links) and the worker's `FORECOURT_OUTBOX_CONCURRENCY`,
/// `FORECOURT_OUTBOX_LEASE_SECS`, `FORECOURT_OUTBOX_MAX_ATTEMPTS`.
pub fn outbox_settings() -> anyhow::Result<forecourt_app::outbox::Settings> {
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
    let number = |name: &str| -> anyhow::Result<Option<u64>> {
        var(name)
            .map(|v| {
                v.trim()
                    .parse::<u64>()
                    .with_context(|| format!("{name} is a whole number"))
            })
            .transpose()
    };
    let mut s = forecourt_app::outbox::Settings {
        smtp: var("FORECOURT_SMTP_URL")
            .map(|u| forecourt_app::outbox::SmtpSettings::parse(&u))
            .transpose()
            .map_err(api_error)?,
        smtp_from: var("FORECOURT_SMTP_FROM"),
        sms_url: var("FORECOURT_SMS_URL"),
        ..Default::default()
    };
    if let Some(url) = var("FORECOURT_PUBLIC_URL") {
        s.public_url = url;
    }
    if let Some(n) = number("FORECOURT_OUTBOX_CONCURRENCY")? {
        s.concurrency = usize::try_from(n.clamp(1, 256))?;
    }
    if let Some(n) = number("FORECOURT_OUTBOX_LEASE_SECS")? {
        s.lease = std::time::Duration::from_secs(n.max(1));
    }
    if let Some(n) = number("FORECOURT_OUTBOX_MAX_ATTEMPTS")? {
        s.max_attempts = i64::try_from(n.max(1))?;
    }
    Ok(s)
}

/// Starts the outbox worker (message delivery and the job runner) beside the server.
pub fn start_outbox_worker(state: &AppState) -> anyhow::Result<()> {
    forecourt_app::outbox::Worker::new(state.app().clone(), Default::default())
        .map_err(api_error)?
        .spawn();
    Ok(())
}

fn api_error(e: forecourt_app::AppError) -> anyhow::Error {
    anyhow::anyhow!("{}: {}", e.code, e.message)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    // `bench statements` installs its own subscriber, which counts sqlx's statements.
    if !matches!(
        cli.command,
        Command::Bench {
            command: BenchCommand::Statements { .. }
        }
    ) {
        forecourt_server::logging::init()?;
    }
    match cli.command {
        Command::Serve { db, secret, listen } => {
            let (url, store) = open_waiting(&db.db).await?;
            let secret = load_secret(&url, &secret)?;
            serve(store, secret, &listen).await
        }
        Command::Demo { db, listen, seed } => demo::run(db, &listen, seed).await,
        Command::Simulate {
            db,
            stations,
            customers,
            days,
            seed,
            end,
            walk_ins,
        } => {
            let mut p = simulate::params(stations, customers, days, seed, end);
            p.walk_ins_per_station_day = walk_ins;
            p.validate().map_err(|e| anyhow::anyhow!(e))?;
            let (url, store) = open(&db.db).await?;
            let summary = simulate::populate(&store, p).await?;
            let report = store.check().await?;
            println!(
                "simulated {}; ledger {}",
                summary.line(),
                if report.is_clean() {
                    "clean"
                } else {
                    "NOT clean"
                }
            );
            for (reason, n) in &summary.declined {
                println!("  declined {n}: {reason}");
            }
            if !report.is_clean() {
                bail!("the ledger check of {url} found problems");
            }
            Ok(())
        }
        Command::Outbox { command } => match command {
            OutboxCommand::Status { db, secret } => {
                let (url, store) = open_existing(&db.db).await?;
                let secret = load_secret(&url, &secret)?;
                let config = Config {
                    outbox: outbox_settings()?,
                    ..Config::default()
                };
                let app = forecourt_app::App::new(store, secret, config);
                let status = app.outbox_status().await.map_err(api_error)?;
                let said = |on: bool| if on { "configured" } else { "not configured" };
                println!("email: {}", said(status.email_configured));
                println!("sms: {}", said(status.sms_configured));
                for (channel, state, n) in status.counts {
                    println!("{channel} {state}: {n}");
                }
                Ok(())
            }
            OutboxCommand::TestBatch {
                db,
                secret,
                count,
                to,
            } => {
                let (url, store) = open_existing(&db.db).await?;
                let secret = load_secret(&url, &secret)?;
                let app = forecourt_app::App::new(store, secret, Config::default());
                let batch = app
                    .enqueue_test_batch(&to, count)
                    .await
                    .map_err(api_error)?;
                println!("enqueued {count} test emails to {to}: batch {batch}");
                Ok(())
            }
        },
        Command::Migrate { db } => {
            let (url, store) = open(&db.db).await?;
            println!("{url}: schema version {}", store.schema_version().await?);
            Ok(())
        }
        Command::Loyalty { db, date } => {
            let (_, store) = open_existing(&db.db).await?;
            let day = match date {
                Some(d) => chrono::NaiveDate::parse_from_str(&d, "%Y-%m-%d")
                    .with_context(|| format!("--date {d}: expected YYYY-MM-DD"))?,
                None => forecourt_app::clock::network_today()
                    .pred_opt()
                    .context("no yesterday")?,
            };
            let report = forecourt_app::daily::daily_run(&store, day)
                .await
                .map_err(|e| anyhow::anyhow!("{}: {}", e.code, e.message))?;
            println!("{}", serde_json::to_string_pretty(&report)?);
            Ok(())
        }
        Command::Check { db, json } => {
            let (_, store) = open_existing(&db.db).await?;
            let report = store.check().await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                println!(
                    "checked {} accounts, {} journal entries, {} transfers, {} sales",
                    report.accounts, report.journals, report.transfers, report.sales
                );
                for p in &report.problems {
                    println!("DIFFERENCE: {p}");
                }
                println!(
                    "{}",
                    if report.is_clean() {
                        "ledger clean: every balance matches"
                    } else {
                        "ledger NOT clean"
                    }
                );
            }
            if !report.is_clean() {
                std::process::exit(1);
            }
            Ok(())
        }
        Command::Stations { command } => match command {
            StationsCommand::Add {
                db,
                code,
                name,
                region,
                time_zone,
                province,
            } => {
                let (_, store) = open_existing(&db.db).await?;
                forecourt_app::network::create_station(
                    &store,
                    forecourt_store::NewStation {
                        code: code.clone(),
                        name,
                        region_code: region,
                        time_zone: Some(time_zone),
                        province,
                        ..Default::default()
                    },
                )
                .await
                .map_err(api_error)?;
                cli_audit(
                    &store,
                    "station.create",
                    "station",
                    &code,
                    serde_json::json!({}),
                )
                .await?;
                println!("station {code} added");
                Ok(())
            }
            StationsCommand::List { db } => {
                let (_, store) = open_existing(&db.db).await?;
                for s in store.stations().await? {
                    println!(
                        "{}\t{}\t{}\t{}",
                        s.code,
                        s.name,
                        s.region_code.unwrap_or_default(),
                        s.time_zone
                    );
                }
                Ok(())
            }
        },
        Command::PosToken {
            command: PosTokenCommand::Create { db, station, label },
        } => {
            let (_, store) = open_existing(&db.db).await?;
            let Some(s) = store.station_by_code(&station).await? else {
                bail!("no station {station}")
            };
            let token = forecourt_app::secret::new_token("fcp_");
            let mut tx = store.begin().await?;
            tx.create_pos_token(
                &forecourt_app::secret::token_hash(&token),
                &s.station_id,
                label.as_deref(),
            )
            .await?;
            tx.commit().await?;
            println!(
                "POS token for station {} (shown once; store it in the POS):",
                s.code
            );
            cli_audit(
                &store,
                "pos_token.create",
                "station",
                &s.code,
                serde_json::json!({}),
            )
            .await?;
            println!("{token}");
            Ok(())
        }
        Command::Import {
            command: ImportCommand::Sales { file, db, secret },
        } => {
            let (url, store) = open(&db.db).await?;
            let secret = load_secret(&url, &secret)?;
            store
                .check_fingerprint(
                    "secret_fingerprint",
                    &secret.fingerprint(),
                    "the server secret (FORECOURT_SECRET or its file)",
                )
                .await?;
            let app = forecourt_app::App::new(store, secret, Config::default());
            let input = std::fs::File::open(&file)
                .with_context(|| format!("reading {}", file.display()))?;
            let report = forecourt_app::import::import_sales(
                &app,
                std::io::BufReader::new(input),
                |done, total| {
                    if done % 500 == 0 || done == total {
                        eprint!("\rimporting sales: {done}/{total}");
                    }
                },
            )
            .await?;
            eprintln!();
            for r in &report.rejected {
                println!(
                    "line {}: {} ({}): {}",
                    r.line, r.pos_txn_id, r.code, r.message
                );
            }
            println!(
                "{} rows: {} sales imported, {} already present, {} rejected",
                report.rows,
                report.sales_imported,
                report.sales_already_present,
                report.rejected.len()
            );
            if !report.rejected.is_empty() {
                std::process::exit(1);
            }
            Ok(())
        }
        Command::Export { command } => exchange::export(command).await,
        Command::Import {
            command: ImportCommand::Network(args),
        } => exchange::import_network(args).await,
        Command::Bench {
            command:
                BenchCommand::Pos {
                    db,
                    connections,
                    seconds,
                    cards,
                    pgbench,
                    rules,
                },
        } => {
            bench::run(bench::PosBench {
                db,
                connections: connections.max(1),
                seconds,
                cards: cards.max(1),
                pgbench,
                rules,
            })
            .await
        }
        Command::Bench {
            command:
                BenchCommand::Import {
                    db,
                    sales,
                    customers,
                },
        } => bench_more::import(db, sales, customers.max(10)).await,
        Command::Bench {
            command: BenchCommand::Statements { db, sales, pg_log },
        } => bench_statements::run(db, sales.max(1), pg_log).await,
        Command::Bench {
            command: BenchCommand::GroupCommit { db, rows, tasks },
        } => bench_more::group_commit(db, rows.max(1), tasks.max(1)).await,
        Command::Bench {
            command:
                BenchCommand::Lookup {
                    db,
                    customers,
                    lookups,
                },
        } => bench_more::lookup(db, customers.max(10), lookups.max(10)).await,
        Command::Bench {
            command: BenchCommand::Segments { db, secret, runs },
        } => {
            let (url, store) = open_existing(&db.db).await?;
            let secret = load_secret(&url, &secret)?;
            let app = forecourt_app::App::new(store, secret, Config::default());
            bench_segments::run(&app, runs.max(1)).await
        }
        Command::Analytics { command } => analytics_cmd::run(command),
        Command::Privacy {
            command: PrivacyCommand::Retention { db, years, dry_run },
        } => {
            if years == 0 {
                bail!("--years must be at least 1");
            }
            let (_, store) = open_existing(&db.db).await?;
            let cutoff = (chrono::Utc::now() - chrono::Duration::days(i64::from(years) * 365))
                .timestamp_micros();
            let mut total = 0;
            loop {
                let ids = store.customers_past_retention(cutoff, 500).await?;
                if dry_run || ids.is_empty() {
                    total += ids.len();
                    break;
                }
                for id in &ids {
                    let mut tx = store.begin().await?;
                    tx.anonymize_customer(id).await?;
                    tx.audit(&forecourt_store::audit::AuditEntry {
                        actor: "system",
                        action: "customer.anonymize",
                        target_kind: "customer",
                        target_id: Some(id),
                        source: None,
                        detail: serde_json::json!({"reason": "retention", "years": years}),
                    })
                    .await?;
                    tx.commit().await?;
                }
                total += ids.len();
            }
            println!(
                "{} {total} customers past {years} years of retention",
                if dry_run {
                    "would anonymise"
                } else {
                    "anonymised"
                }
            );
            Ok(())
        }
        Command::Keys { command } => {
            let (db, rotate) = match command {
                KeysCommand::Rotate { db } => (db, true),
                KeysCommand::Reencrypt { db } => (db, false),
            };
            let url = DbUrl::parse(&db.db)?;
            require_database_file(&url)?;
            if rotate {
                if std::env::var("FORECOURT_DATA_KEY").is_ok() {
                    bail!("the data key comes from FORECOURT_DATA_KEY: add a version there, then run `forecourt keys reencrypt`");
                }
                let path = data_key_path(&url);
                let old = Vault::load_or_create(&path)?;
                let material = old.rotated_key_material();
                write_key_file(&path, &material)?;
                println!(
                    "{}: added data key version {}",
                    path.display(),
                    old.current_version() + 1
                );
            }
            let store = Store::open_existing(&url, vault_for(&url)?).await?;
            let n = store.reencrypt_personal_data().await?;
            println!("re-encrypted {n} values under the newest key");
            Ok(())
        }
        Command::Audit {
            command: AuditCommand::Verify { db },
        } => {
            let (_, store) = open_existing(&db.db).await?;
            let report = store.verify_audit().await?;
            match report.broken_at {
                None => {
                    println!("audit log intact: {} entries, chain unbroken", report.rows);
                    Ok(())
                }
                Some((seq, why)) => {
                    println!("audit log BROKEN at entry {seq}: {why}");
                    std::process::exit(1);
                }
            }
        }
        Command::PosToken {
            command: PosTokenCommand::Revoke { db, station },
        } => {
            let (_, store) = open_existing(&db.db).await?;
            let Some(s) = store.station_by_code(&station).await? else {
                bail!("no station {station}")
            };
            let mut tx = store.begin().await?;
            let n = tx.revoke_pos_tokens(&s.station_id).await?;
            tx.commit().await?;
            cli_audit(
                &store,
                "pos_token.revoke",
                "station",
                &station,
                serde_json::json!({"revoked": n}),
            )
            .await?;
            println!("revoked {n} POS tokens of station {station}");
            Ok(())
        }
        Command::Users {
            command:
                UsersCommand::Disable {
                    db,
                    username,
                    enable,
                },
        } => {
            let (_, store) = open_existing(&db.db).await?;
            let mut tx = store.begin().await?;
            if !tx.set_user_disabled(&username, !enable).await? {
                bail!("no user {username}");
            }
            tx.commit().await?;
            cli_audit(
                &store,
                if enable {
                    "user.enable"
                } else {
                    "user.disable"
                },
                "user",
                &username,
                serde_json::json!({}),
            )
            .await?;
            println!(
                "user {username} {}",
                if enable {
                    "enabled"
                } else {
                    "disabled; sessions ended"
                }
            );
            Ok(())
        }
        Command::Users {
            command:
                UsersCommand::Password {
                    db,
                    username,
                    password_stdin: _,
                },
        } => {
            let mut input = String::new();
            std::io::stdin().read_to_string(&mut input)?;
            let password = input.lines().next().unwrap_or("").to_string();
            forecourt_app::secret::check_password_rules(&password)
                .map_err(|m| anyhow::anyhow!("password: {m}"))?;
            let hash = forecourt_app::secret::hash_password(&password)?;
            let (_, store) = open_existing(&db.db).await?;
            let mut tx = store.begin().await?;
            if !tx.set_password(&username, &hash).await? {
                bail!("no user {username}");
            }
            tx.commit().await?;
            cli_audit(
                &store,
                "user.password",
                "user",
                &username,
                serde_json::json!({}),
            )
            .await?;
            println!("password of {username} changed; sessions ended");
            Ok(())
        }
        Command::Users {
            command:
                UsersCommand::Add {
                    db,
                    username,
                    role,
                    scope,
                    password_stdin: _,
                },
        } => {
            let mut input = String::new();
            std::io::stdin().read_to_string(&mut input)?;
            let password = input.lines().next().unwrap_or("").to_string();
            let (_, store) = open_existing(&db.db).await?;
            forecourt_app::network::create_user(
                &store,
                &username,
                &role,
                scope.as_deref(),
                &password,
            )
            .await
            .map_err(api_error)?;
            cli_audit(
                &store,
                "user.create",
                "user",
                &username,
                serde_json::json!({"role": role}),
            )
            .await?;
            println!("user {username} added with role {role}");
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    /// `forecourt check --db sqlite:///no/such/dir/x.db` must fail without creating the
    /// directory, the database or its key file.
    #[tokio::test]
    async fn commands_on_an_existing_database_refuse_a_missing_file() {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let dir =
            std::env::temp_dir().join(format!("forecourt-missing-{}-{nanos}", std::process::id()));
        let url = format!("sqlite://{}/x.db", dir.join("no/such").display());
        let err = super::open_existing(&url).await.expect_err("refused");
        assert!(
            err.to_string().contains("no database file at"),
            "unexpected error: {err:#}"
        );
        assert!(
            !dir.exists(),
            "nothing may be created for a missing database"
        );
    }
}
