//! `forecourt bench statements`: how many SQL statements one member card sale costs.
//!
//! A bench network is set up (as for `bench pos`), 20 sales warm the caches, then
//! `--sales` member card sales (one fuel line, paid by the member's card, default
//! rules) go one after another through the POS router. Two counts are printed:
//!
//! - on PostgreSQL, the server's own: `log_statement = all` is switched on for the run
//!   (`ALTER SYSTEM`, reloaded, reset afterwards; a superuser is needed) and the
//!   `LOG:  statement:` and `LOG:  execute` lines between two marker statements of the
//!   file given by `--pg-log` are counted (BEGIN and COMMIT included);
//! - on both databases, the client's: every statement sqlx executes (its `sqlx::query`
//!   events), on SQLite including the savepoints of the group-commit writer and its
//!   share of the batch's BEGIN and COMMIT.

use crate::bench::{setup, Setup};
use anyhow::{bail, Context};
use axum::body::Body;
use axum::http::Request;
use forecourt_store::{DbUrl, Store, Vault};
use serde_json::json;
use sqlx::Connection;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tower::ServiceExt;
use tracing_subscriber::layer::SubscriberExt;

/// Counts the statements sqlx executes (its `sqlx::query` events).
struct Counter(Arc<AtomicU64>);

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Counter {
    fn on_event(
        &self,
        event: &tracing::Event<'_>,
        _ctx: tracing_subscriber::layer::Context<'_, S>,
    ) {
        if event.metadata().target().starts_with("sqlx::query") {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }
}

pub async fn run(db: Option<String>, sales: usize, pg_log: Option<String>) -> anyhow::Result<()> {
    let counted = Arc::new(AtomicU64::new(0));
    let subscriber = tracing_subscriber::registry().with(Counter(counted.clone()));
    tracing::subscriber::set_global_default(subscriber)?;

    let dir = std::env::temp_dir().join(format!("forecourt-stmts-{}", std::process::id()));
    let url = match &db {
        Some(u) => DbUrl::parse(u)?,
        None => {
            std::fs::create_dir_all(&dir)?;
            DbUrl::parse(&format!("sqlite://{}/bench.db", dir.display()))?
        }
    };
    let vault = Vault::from_key_material(&Vault::generate_key_material())?;
    let store = Store::open(&url, vault).await?;
    if !store.stations().await?.is_empty() {
        bail!("the benchmark needs an empty database; {url} has stations");
    }
    let Setup {
        app, pos, cards, ..
    } = setup(&store, 20, 0).await?;
    let sale = |n: usize, card: &str| {
        let ml = 30_000 + (n % 1_000) as i64;
        let net = (ml * 742 + 500) / 1_000;
        json!({"pos_txn_id": format!("S{n}"), "station_code": "B001",
            "occurred_at": chrono::Utc::now().to_rfc3339(), "customer": {"card_no": card},
            "lines": [{"product_code": "GASOLINE_92", "volume_ml": ml, "unit_price_fen": 742}],
            "payments": [{"method": "card", "card_no": card, "amount_fen": net}]})
    };
    let post = |n: usize| {
        let body = sale(n, &cards[n % cards.len()]).to_string();
        let app = app.clone();
        let pos = pos.clone();
        async move {
            let req = Request::builder()
                .method("POST")
                .uri("/api/v1/pos/sales")
                .header("content-type", "application/json")
                .header("authorization", format!("Bearer {pos}"))
                .body(Body::from(body))?;
            let status = app.oneshot(req).await?.status();
            if status.as_u16() != 201 {
                bail!("sale {n}: {status}");
            }
            Ok::<_, anyhow::Error>(())
        }
    };
    for n in 0..20 {
        post(n).await?;
    }

    let pg = match store.backend() {
        forecourt_store::Backend::Postgres => db.clone(),
        forecourt_store::Backend::Sqlite => None,
    };
    let marker = format!("forecourt-statements-{}", std::process::id());
    let mut admin = match &pg {
        Some(u) => {
            let mut c = sqlx::PgConnection::connect(u).await?;
            sqlx::query("alter system set log_statement = 'all'")
                .execute(&mut c)
                .await?;
            sqlx::query("select pg_reload_conf()")
                .execute(&mut c)
                .await?;
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
            sqlx::query(&format!("select '{marker}-start'"))
                .execute(&mut c)
                .await?;
            Some(c)
        }
        None => None,
    };
    let before = counted.load(Ordering::Relaxed);
    for n in 20..20 + sales {
        post(n).await?;
    }
    let client = counted.load(Ordering::Relaxed) - before;
    let mut server = None;
    if let Some(c) = admin.as_mut() {
        sqlx::query(&format!("select '{marker}-end'"))
            .execute(&mut *c)
            .await?;
        sqlx::query("alter system reset log_statement")
            .execute(&mut *c)
            .await?;
        sqlx::query("select pg_reload_conf()")
            .execute(&mut *c)
            .await?;
        if let Some(path) = &pg_log {
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
            let log = std::fs::read_to_string(path).with_context(|| format!("reading {path}"))?;
            let start = log
                .find(&format!("{marker}-start"))
                .context("the start marker is not in the log: is --pg-log the server's log and the user a superuser?")?;
            let end = log[start..]
                .find(&format!("{marker}-end"))
                .context("the end marker is not in the log")?;
            let between = &log[start..start + end];
            let n = between
                .lines()
                .skip(1)
                .filter(|l| l.contains("LOG:  statement: ") || l.contains("LOG:  execute "))
                // The run's own statements (markers, switching the log on and off).
                .filter(|l| {
                    !l.contains(&marker)
                        && !l.contains("pg_reload_conf()")
                        && !l.contains("alter system")
                })
                .count();
            server = Some(n);
        }
    }
    let report = store.check().await?;
    println!("backend:      {}", store.backend().name());
    println!("sales:        {sales} member card sales, one after another, after 20 warm-up sales");
    println!(
        "client:       {:.2} statements per sale (sqlx's own count)",
        client as f64 / sales as f64
    );
    match (server, &pg) {
        (Some(n), _) => println!(
            "server:       {:.2} statements per sale (PostgreSQL's log_statement = all; target ≤ 8; pgbench TPC-B: 7)",
            n as f64 / sales as f64
        ),
        (None, Some(_)) => println!("server:       give --pg-log FILE to count in PostgreSQL's log"),
        (None, None) => {}
    }
    println!(
        "check:        {}",
        if report.is_clean() {
            "clean"
        } else {
            "NOT clean"
        }
    );
    store.close().await;
    let _ = std::fs::remove_dir_all(&dir);
    if !report.is_clean() {
        std::process::exit(1);
    }
    Ok(())
}
