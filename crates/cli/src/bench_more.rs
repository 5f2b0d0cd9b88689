//! `forecourt bench import`, `forecourt bench lookup` and `forecourt bench group-commit`.

use crate::simulate;
use anyhow::{bail, Context};
use forecourt_app::bulk::Poster;
use forecourt_app::{Config, Secret};
use forecourt_store::{DbUrl, Store, Vault};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::io::Write;
use std::time::{Duration, Instant};

/// A fresh database for a benchmark: the URL given (which must be empty) or a
/// temporary SQLite file. Returns the directory to remove afterwards.
async fn fresh(
    db: Option<String>,
    what: &str,
) -> anyhow::Result<(DbUrl, Store, std::path::PathBuf)> {
    let dir = std::env::temp_dir().join(format!("forecourt-bench-{what}-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let url = match db {
        Some(u) => DbUrl::parse(&u)?,
        None => DbUrl::parse(&format!("sqlite://{}/bench.db", dir.display()))?,
    };
    let key_file = dir.join("bench.keys");
    let vault = Vault::load_or_create(&key_file)?;
    let store = Store::open(&url, vault).await?;
    if !store.stations().await?.is_empty() {
        bail!("the benchmark needs an empty database; {url} has stations");
    }
    Ok((url, store, dir))
}

/// A percentile in milliseconds.
fn ms(sorted: &[Duration], p: f64) -> f64 {
    crate::bench::percentile(sorted, p).as_secs_f64() * 1e3
}

pub async fn import(db: Option<String>, sales: usize, customers: usize) -> anyhow::Result<()> {
    let (url, store, dir) = fresh(db, "import").await?;
    let end = chrono::Utc::now().date_naive() - chrono::Duration::days(1);
    let mut params = simulate::params(10, customers, 1, 1, Some(end));
    params.walk_ins_per_station_day = 0;
    eprintln!("a network of 10 stations and {customers} customers…");
    simulate::populate(&store, params).await?;
    let world = forecourt_sim::world(params);
    // Fund every personal card as a till would (two recharges of 2,000 CNY with their
    // promotion), so that card sales can be paid.
    let mut poster = Poster::live(&store).await?;
    let station = world.stations[0].code.clone();
    let at = forecourt_sim::local_us(end, 6 * 60);
    let mut cards = Vec::new();
    for (i, c) in world.customers.iter().enumerate() {
        for card in c.cards.iter().filter(|k| k.kind == "personal") {
            for k in 0..2 {
                match poster
                    .recharge(
                        &station,
                        &format!("BR{i}-{k}"),
                        at,
                        &card.card_no,
                        200_000,
                        "wechat",
                    )
                    .await
                {
                    // Full already (the simulated day topped it up).
                    Ok(_) => {}
                    Err(e) if e.code == "face_value_cap" => {}
                    Err(e) => bail!("{}: {}", e.code, e.message),
                }
            }
            cards.push((card.card_no.clone(), c.vehicles[0].product.clone()));
        }
        if poster.pending() >= 10_000 {
            poster.flush().await?;
        }
    }
    poster.flush().await?;
    drop(poster);

    // The file: 60 % card sales by members, the rest walk-ins paying at the till; one
    // fuel line, a shop item in one sale of seven.
    let file = dir.join("sales.csv");
    let mut out = std::io::BufWriter::new(std::fs::File::create(&file)?);
    writeln!(out, "pos_txn_id,station_code,occurred_at,card_no,product_code,volume_ml,quantity,unit_price_fen,payment_method,payment_amount_fen,payment_card_no")?;
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let day = forecourt_sim::local_us(end + chrono::Duration::days(1), 0);
    let mut rows = 0;
    for n in 0..sales {
        let s = rng.gen_range(0..world.stations.len());
        let code = &world.stations[s].code;
        let t = day + rng.gen_range(0..20 * 3_600) * 1_000_000;
        let when = chrono::DateTime::from_timestamp_micros(t)
            .context("time")?
            .to_rfc3339();
        let member = rng.gen_range(0..10) < 6 && !cards.is_empty();
        let (card_no, product) = if member {
            let (no, p) = &cards[rng.gen_range(0..cards.len())];
            (no.clone(), p.clone())
        } else {
            (String::new(), "GASOLINE_92".to_string())
        };
        let price = world.price_at(s, &product, t).context("a price")?;
        let ml = rng.gen_range(15_000..40_000);
        let fuel = (ml * price + 500) / 1000;
        let item = (rng.gen_range(0..7) == 0).then_some(450i64);
        let total = fuel + item.unwrap_or(0);
        let (method, pay_card) = if member {
            ("card", card_no.as_str())
        } else {
            ("wechat", "")
        };
        // The payment goes on the last row of the sale.
        if let Some(fen) = item {
            writeln!(
                out,
                "B{n},{code},{when},{card_no},{product},{ml},,{price},,,"
            )?;
            writeln!(
                out,
                "B{n},{code},{when},{card_no},TEA_500,,1,{fen},{method},{total},{pay_card}"
            )?;
            rows += 2;
        } else {
            writeln!(
                out,
                "B{n},{code},{when},{card_no},{product},{ml},,{price},{method},{total},{pay_card}"
            )?;
            rows += 1;
        }
    }
    out.flush()?;
    drop(out);

    let app = forecourt_app::App::new(
        store.clone(),
        Secret::from_bytes(rand::random()),
        Config::default(),
    );
    eprintln!(
        "importing {sales} sales ({rows} rows) into {}…",
        store.backend().name()
    );
    let started = Instant::now();
    let report =
        forecourt_app::import::import_sales(&app, std::fs::File::open(&file)?, |_, _| {}).await?;
    let first = started.elapsed();
    let started = Instant::now();
    let again =
        forecourt_app::import::import_sales(&app, std::fs::File::open(&file)?, |_, _| {}).await?;
    let second = started.elapsed();
    let check = store.check().await?;
    println!("bulk import of sales ({}, {url})", store.backend().name());
    println!(
        "sales:        {sales} in {rows} rows; {} imported, {} rejected",
        report.sales_imported,
        report.rejected.len()
    );
    println!(
        "throughput:   {:.0} sales/s ({:.1} s)",
        report.sales_imported as f64 / first.as_secs_f64(),
        first.as_secs_f64()
    );
    println!(
        "again:        {} already present, {} imported, in {:.1} s",
        again.sales_already_present,
        again.sales_imported,
        second.as_secs_f64()
    );
    for r in report.rejected.iter().take(5) {
        println!("  rejected line {}: {} {}", r.line, r.code, r.message);
    }
    println!(
        "check:        {}",
        if check.is_clean() {
            "clean"
        } else {
            "NOT clean"
        }
    );
    store.close().await;
    let _ = std::fs::remove_dir_all(&dir);
    if !check.is_clean()
        || again.sales_imported > 0
        || report.sales_imported + report.rejected.len() != sales
    {
        std::process::exit(1);
    }
    Ok(())
}

/// The resident and peak memory of a process, in MiB, from /proc.
fn memory_mib(pid: u32) -> (f64, f64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|r| r.split_whitespace().next())
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
            / 1024.0
    };
    (field("VmRSS:"), field("VmHWM:"))
}

pub async fn lookup(db: Option<String>, customers: usize, lookups: usize) -> anyhow::Result<()> {
    let (url, store, dir) = fresh(db, "lookup").await?;
    let end = chrono::Utc::now().date_naive() - chrono::Duration::days(1);
    let mut params = simulate::params(10, customers, 1, 3, Some(end));
    params.walk_ins_per_station_day = 0;
    eprintln!("a network of 10 stations and {customers} customers…");
    let started = Instant::now();
    simulate::populate(&store, params).await?;
    eprintln!("written in {:.0} s", started.elapsed().as_secs_f64());
    let password = "Bench-pass-12345";
    forecourt_app::network::create_user(&store, "bench", "cashier", None, password)
        .await
        .map_err(|e| anyhow::anyhow!(e.message))?;
    store.close().await;
    let world = forecourt_sim::world(params);

    // The server in its own process, so that its memory is its own.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0")?;
        l.local_addr()?.port()
    };
    let exe = std::env::current_exe()?;
    let mut child = std::process::Command::new(exe)
        .args([
            "serve",
            "--db",
            url.expose(),
            "--listen",
            &format!("127.0.0.1:{port}"),
        ])
        .env("FORECOURT_DATA_KEY_FILE", dir.join("bench.keys"))
        .env("FORECOURT_SECRET_FILE", dir.join("bench.secret"))
        .env("FORECOURT_LOOKUPS_PER_MINUTE", "100000000")
        .env("FORECOURT_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .spawn()?;
    let result = async {
        let addr = format!("127.0.0.1:{port}");
        let mut conn = None;
        for _ in 0..300 {
            if let Ok(s) = tokio::net::TcpStream::connect(&addr).await {
                conn = Some(crate::bench::Conn::new(s));
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let mut conn = conn.context("the server did not start")?;
        let (rss_idle, _) = memory_mib(child.id());
        // Log in.
        let body = format!(r#"{{"username":"bench","password":"{password}"}}"#);
        let token = {
            let (status, body) = conn
                .request("POST", "/api/v1/auth/login", "", Some(&body))
                .await?;
            if status != 200 {
                bail!("login: {status} {body}");
            }
            let v: serde_json::Value = serde_json::from_str(&body)?;
            v["token"].as_str().context("token")?.to_string()
        };
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        println!("till lookups through HTTP ({}, {customers} customers, {lookups} of each kind, one connection)", store.backend().name());
        for kind in ["phone", "plate", "card"] {
            let mut latencies = Vec::with_capacity(lookups);
            for _ in 0..lookups {
                let c = &world.customers[rng.gen_range(0..world.customers.len())];
                let q = match kind {
                    "phone" => c.phone.clone(),
                    "plate" => c.vehicles[0].plate.clone(),
                    _ => c.cards[0].card_no.clone(),
                };
                let path = format!("/api/v1/customers?q={}", percent(&q));
                let t = Instant::now();
                let (status, body) = conn.request("GET", &path, &token, None).await?;
                latencies.push(t.elapsed());
                if status != 200 || !body.contains(&c.member_code) {
                    bail!("lookup by {kind} {q}: {status} {body}");
                }
            }
            latencies.sort();
            println!(
                "{kind:<6} p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
                ms(&latencies, 0.5),
                ms(&latencies, 0.99),
                ms(&latencies, 1.0)
            );
        }
        let (rss, peak) = memory_mib(child.id());
        println!("server memory: {rss:.0} MiB resident after the lookups ({rss_idle:.0} MiB at start, peak {peak:.0} MiB)");
        Ok(())
    }
    .await;
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&dir);
    result
}

/// Percent-encodes a query value (plates carry a Chinese character).
fn percent(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// How rows were written in one phase of `bench group-commit`.
#[derive(Clone, Copy, PartialEq)]
enum Path {
    /// `Store::begin`, one row, `commit`: one transaction (one fsync on SQLite) a row.
    Begin,
    /// `Store::write`: the group-commit writer on SQLite.
    Write,
}

/// One phase: `rows` small rows by `tasks` concurrent tasks. Returns the elapsed time
/// and the latency of every write, sorted.
async fn write_rows(
    store: &Store,
    path: Path,
    rows: usize,
    tasks: usize,
) -> anyhow::Result<(Duration, Vec<Duration>)> {
    let prefix = match path {
        Path::Begin => "gc-begin",
        Path::Write => "gc-write",
    };
    let started = Instant::now();
    let mut handles = Vec::with_capacity(tasks);
    for t in 0..tasks {
        let store = store.clone();
        handles.push(tokio::spawn(async move {
            let mut latencies = Vec::with_capacity(rows / tasks + 1);
            for i in (t..rows).step_by(tasks) {
                let key = format!("{prefix}-{i}");
                let t0 = Instant::now();
                match path {
                    Path::Begin => {
                        let mut tx = store.begin().await?;
                        tx.set_loyalty_setting(&key, "bench").await?;
                        tx.commit().await?;
                    }
                    Path::Write => {
                        store
                            .write(move |tx| {
                                Box::pin(async move { tx.set_loyalty_setting(&key, "bench").await })
                            })
                            .await?;
                    }
                }
                latencies.push(t0.elapsed());
            }
            Ok::<_, forecourt_store::StoreError>(latencies)
        }));
    }
    let mut latencies = Vec::with_capacity(rows);
    for h in handles {
        latencies.extend(h.await??);
    }
    let elapsed = started.elapsed();
    latencies.sort();
    Ok((elapsed, latencies))
}

/// `forecourt bench group-commit`: small rows written by concurrent tasks, each in a
/// transaction of its own (`begin`/`commit`, the reference of the same run), then
/// through the group-commit writer (`Store::write`), on the same database.
pub async fn group_commit(db: Option<String>, rows: usize, tasks: usize) -> anyhow::Result<()> {
    let (url, store, dir) = fresh(db, "group-commit").await?;
    println!(
        "small rows written by {tasks} concurrent tasks ({}, {url}{})",
        store.backend().name(),
        match store.backend() {
            forecourt_store::Backend::Sqlite => ", synchronous=FULL",
            forecourt_store::Backend::Postgres => "",
        }
    );
    let mut rates = Vec::new();
    for (path, name) in [(Path::Begin, "begin/commit"), (Path::Write, "Store::write")] {
        let before = store.write_stats();
        eprintln!("{name}: {rows} rows…");
        let (elapsed, latencies) = write_rows(&store, path, rows, tasks).await?;
        let after = store.write_stats();
        let rate = rows as f64 / elapsed.as_secs_f64();
        rates.push(rate);
        let commits = match path {
            Path::Begin => rows as u64,
            Path::Write => after.batches - before.batches,
        };
        println!(
            "{name:<13} {rate:>8.0} rows/s ({:.1} s), {commits} commits ({:.1} rows each), latency p50 {:.2} ms, p99 {:.2} ms",
            elapsed.as_secs_f64(),
            rows as f64 / commits.max(1) as f64,
            ms(&latencies, 0.5),
            ms(&latencies, 0.99),
        );
        if path == Path::Write {
            println!(
                "               largest batch {} units, failed batches {}",
                after.largest_batch,
                after.failed_batches - before.failed_batches
            );
        }
    }
    println!("Store::write / begin: {:.1}×", rates[1] / rates[0]);
    // Every row is there: spot-check both ends of each phase.
    for prefix in ["gc-begin", "gc-write"] {
        for i in [0, rows - 1] {
            if store
                .loyalty_setting(&format!("{prefix}-{i}"))
                .await?
                .is_none()
            {
                bail!("row {prefix}-{i} is missing");
            }
        }
    }
    store.close().await;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
