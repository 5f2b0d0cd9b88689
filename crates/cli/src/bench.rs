//! `forecourt bench pos`: POS card sales through HTTP at a number of concurrent
//! connections, with the full ledger and loyalty path, then `check`. Prints sales/s and
//! latency percentiles.

use anyhow::{bail, Context};
use axum::body::Body;
use axum::http::Request;
use forecourt_app::{Config, Secret};
use forecourt_server::AppState;
use forecourt_store::{DbUrl, Store, Vault};
use http_body_util::BodyExt;
use serde_json::{json, Value};
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tower::ServiceExt;

pub struct PosBench {
    pub db: Option<String>,
    pub connections: usize,
    pub seconds: u64,
    pub cards: usize,
    pub pgbench: bool,
    /// Active bonus rules installed before the run (the loyalty engine's load).
    pub rules: usize,
}

pub(crate) async fn oneshot(
    app: &axum::Router,
    method: &str,
    path: &str,
    token: &str,
    body: Value,
) -> anyhow::Result<Value> {
    let req = Request::builder()
        .method(method)
        .uri(path)
        .header("content-type", "application/json")
        .header("authorization", format!("Bearer {token}"))
        .body(Body::from(body.to_string()))?;
    let res = app.clone().oneshot(req).await?;
    let status = res.status();
    let bytes = res.into_body().collect().await?.to_bytes();
    let v: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    if !status.is_success() {
        bail!("{method} {path}: {status} {v}");
    }
    Ok(v)
}

/// A bench network: an admin, station B001 with a POS token, `cards_n` customers each
/// with a card funded with 5,000 CNY, and `rules` active bonus rules.
pub(crate) struct Setup {
    pub state: AppState,
    pub app: axum::Router,
    pub pos: String,
    pub cards: Vec<String>,
}

pub(crate) async fn setup(store: &Store, cards_n: usize, rules: usize) -> anyhow::Result<Setup> {
    let password = "Bench-pass-12345";
    forecourt_app::network::create_user(store, "bench", "admin", None, password)
        .await
        .map_err(|e| anyhow::anyhow!(e.message))?;
    let state = AppState::new(
        store.clone(),
        Secret::from_bytes(rand::random()),
        Config::default(),
    );
    let app = forecourt_server::router(state.clone());
    let staff = oneshot(
        &app,
        "POST",
        "/api/v1/auth/login",
        "",
        json!({"username": "bench", "password": password}),
    )
    .await?["token"]
        .as_str()
        .context("token")?
        .to_string();
    oneshot(
        &app,
        "POST",
        "/api/v1/stations",
        &staff,
        json!({"code": "B001", "name": "Bench"}),
    )
    .await?;
    let pos = forecourt_app::secret::new_token("fcp_");
    let s = store.station_by_code("B001").await?.context("station")?;
    let mut tx = store.begin().await?;
    tx.create_pos_token(
        &forecourt_app::secret::token_hash(&pos),
        &s.station_id,
        None,
    )
    .await?;
    tx.commit().await?;
    eprintln!("creating {} customers with funded cards…", cards_n);
    let mut cards = Vec::with_capacity(cards_n);
    for i in 0..cards_n {
        let c = oneshot(&app, "POST", "/api/v1/customers", &staff, json!({"kind": "individual", "name": "压测", "phone": format!("13{:09}", 200_000_000 + i)})).await?;
        let card = oneshot(
            &app,
            "POST",
            "/api/v1/cards",
            &staff,
            json!({"customer_id": c["id"], "kind": "personal"}),
        )
        .await?;
        let no = card["card_no"].as_str().context("card_no")?.to_string();
        oneshot(&app, "POST", "/api/v1/pos/recharges", &pos, json!({"pos_txn_id": format!("R{i}"), "station_code": "B001", "occurred_at": chrono::Utc::now().to_rfc3339(), "card_no": no, "amount_fen": 500_000, "payments": [{"method": "cash", "amount_fen": 500_000}]})).await?;
        cards.push(no);
    }
    if rules > 0 {
        eprintln!("installing {} active bonus rules…", rules);
    }
    for i in 0..rules {
        // A network's usual mix: promotions at other stations, on other days and hours,
        // on one grade, for tagged members, over amounts; one in ten capped per day
        // (which reads what the member earned today).
        let conditions = match i % 6 {
            0 => json!({"stations": [format!("X{i:03}")]}),
            1 => json!({"weekdays": [1 + (i % 7) as u8]}),
            2 => json!({"hours": [(i * 37) % 1440, ((i * 37) + 120) % 1440]}),
            3 => {
                let grade = ["GASOLINE_92", "GASOLINE_95", "DIESEL_0"][i % 3];
                json!({"products": [grade], "min_volume_ml": 20_000})
            }
            4 => json!({"tags": [format!("segment{i}")]}),
            _ => json!({"min_amount_fen": 10_000 + i as i64 * 100}),
        };
        let mut rule =
            json!({"conditions": conditions, "bonus": {"kind": "fixed", "points": 1 + (i % 20)}});
        if i % 10 == 0 {
            rule["cap_per_day"] = json!(50);
        }
        oneshot(&app, "POST", "/api/v1/loyalty/rules", &staff, json!({"rule_id": format!("bench{i}"), "kind": "bonus", "name": format!("bench {i}"), "rule": rule})).await?;
    }
    Ok(Setup {
        state,
        app,
        pos,
        cards,
    })
}

/// A minimal HTTP/1.1 keep-alive client: one request at a time on one connection.
pub(crate) struct Conn {
    reader: BufReader<TcpStream>,
}

impl Conn {
    pub(crate) fn new(stream: TcpStream) -> Self {
        let _ = stream.set_nodelay(true);
        Self {
            reader: BufReader::new(stream),
        }
    }

    async fn post(&mut self, path: &str, token: &str, body: &str) -> anyhow::Result<u16> {
        Ok(self.request("POST", path, token, Some(body)).await?.0)
    }

    /// Sends a request (with a bearer token unless it is empty, and a JSON body if
    /// given) and reads the status and body of the answer.
    pub(crate) async fn request(
        &mut self,
        method: &str,
        path: &str,
        token: &str,
        body: Option<&str>,
    ) -> anyhow::Result<(u16, String)> {
        let mut head = format!("{method} {path} HTTP/1.1\r\nHost: bench\r\n");
        if !token.is_empty() {
            head.push_str(&format!("Authorization: Bearer {token}\r\n"));
        }
        if let Some(b) = body {
            head.push_str(&format!(
                "Content-Type: application/json\r\nContent-Length: {}\r\n",
                b.len()
            ));
        }
        head.push_str("\r\n");
        // One write: a body sent apart from its head would wait behind Nagle's
        // algorithm for the server's delayed ACK (40 ms), as a careless till would.
        head.push_str(body.unwrap_or(""));
        self.reader.get_mut().write_all(head.as_bytes()).await?;
        let mut line = String::new();
        self.reader.read_line(&mut line).await?;
        let status: u16 = line
            .split_whitespace()
            .nth(1)
            .context("status line")?
            .parse()?;
        let mut length = 0usize;
        loop {
            line.clear();
            self.reader.read_line(&mut line).await?;
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            if let Some((k, v)) = l.split_once(':') {
                if k.eq_ignore_ascii_case("content-length") {
                    length = v.trim().parse()?;
                }
            }
        }
        let mut buf = vec![0; length];
        self.reader.read_exact(&mut buf).await?;
        Ok((status, String::from_utf8_lossy(&buf).into_owned()))
    }
}

pub(crate) fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

pub async fn run(b: PosBench) -> anyhow::Result<()> {
    let dir = std::env::temp_dir().join(format!("forecourt-bench-{}", std::process::id()));
    let url = match &b.db {
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
        state, pos, cards, ..
    } = setup(&store, b.cards, b.rules).await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let server = tokio::spawn(forecourt_server::serve(state, listener));
    eprintln!(
        "{} connections for {} s against {} ({})…",
        b.connections,
        b.seconds,
        addr,
        store.backend().name()
    );
    let deadline = Instant::now() + Duration::from_secs(b.seconds);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..b.connections {
        // Each connection has its own cards, as tills serve different drivers.
        let mine: Vec<String> = cards
            .iter()
            .skip(c)
            .step_by(b.connections)
            .cloned()
            .collect();
        let pos = pos.clone();
        tasks.push(tokio::spawn(async move {
            let mut conn = Conn::new(TcpStream::connect(addr).await?);
            let mut latencies = Vec::new();
            let mut failures = 0u64;
            let mut n = 0usize;
            let at = chrono::Utc::now().to_rfc3339();
            while Instant::now() < deadline && !mine.is_empty() {
                let card = &mine[n % mine.len()];
                // 1 to 2 litres of 92# at 7.42 CNY/L: a card lasts the whole run.
                let ml = 1_000 + (n % 1_000) as i64;
                let net = (ml * 742 + 500) / 1_000;
                let body = json!({"pos_txn_id": format!("B{c}-{n}"), "station_code": "B001", "occurred_at": at, "customer": {"card_no": card},
                    "lines": [{"product_code": "GASOLINE_92", "volume_ml": ml, "unit_price_fen": 742}],
                    "payments": [{"method": "card", "card_no": card, "amount_fen": net}]})
                .to_string();
                let t = Instant::now();
                let status = conn.post("/api/v1/pos/sales", &pos, &body).await?;
                latencies.push(t.elapsed());
                if status != 201 {
                    failures += 1;
                }
                n += 1;
            }
            Ok::<_, anyhow::Error>((latencies, failures))
        }));
    }
    let mut latencies = Vec::new();
    let mut failures = 0;
    for t in tasks {
        let (l, f) = t.await??;
        latencies.extend(l);
        failures += f;
    }
    let elapsed = started.elapsed();
    server.abort();
    latencies.sort();
    let report = store.check().await?;
    println!("backend:      {}", store.backend().name());
    println!("connections:  {}", b.connections);
    println!(
        "sales:        {} in {:.1} s, {} refused or failed",
        latencies.len(),
        elapsed.as_secs_f64(),
        failures
    );
    println!(
        "throughput:   {:.0} sales/s",
        latencies.len() as f64 / elapsed.as_secs_f64()
    );
    println!(
        "latency:      p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        percentile(&latencies, 0.50).as_secs_f64() * 1e3,
        percentile(&latencies, 0.99).as_secs_f64() * 1e3,
        latencies.last().copied().unwrap_or_default().as_secs_f64() * 1e3
    );
    let (member_sales, lines) = store.points_lines_count().await?;
    println!(
        "loyalty:      {} active bonus rules; {:.1} points lines per member sale",
        b.rules,
        lines as f64 / member_sales.max(1) as f64
    );
    println!(
        "check:        {}",
        if report.is_clean() {
            "clean"
        } else {
            "NOT clean"
        }
    );
    if b.pgbench {
        match store.backend() {
            forecourt_store::Backend::Postgres => {
                let url =
                    b.db.as_deref()
                        .context("--pgbench needs --db postgres://…")?;
                let tps = pgbench(url, b.seconds)?;
                println!("pgbench TPC-B (32 clients, same server, same run): {tps:.0} tps");
                println!(
                    "POS/pgbench:  {:.2}",
                    latencies.len() as f64 / elapsed.as_secs_f64() / tps
                );
            }
            forecourt_store::Backend::Sqlite => println!("pgbench: only on PostgreSQL"),
        }
    }
    store.close().await;
    let _ = std::fs::remove_dir_all(&dir);
    if failures > 0 || !report.is_clean() {
        std::process::exit(1);
    }
    Ok(())
}

/// The `pgbench` binary: on the PATH, or the newest of Debian's PostgreSQL packages.
fn pgbench_binary() -> std::path::PathBuf {
    let mut dirs: Vec<std::path::PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|d| d.flatten().map(|e| e.path().join("bin/pgbench")).collect())
        .unwrap_or_default();
    dirs.retain(|p| p.exists());
    dirs.sort();
    dirs.pop().unwrap_or_else(|| "pgbench".into())
}

/// Runs pgbench's TPC-B in the bench database (its tables are dropped afterwards) and
/// returns its transactions per second.
fn pgbench(url: &str, seconds: u64) -> anyhow::Result<f64> {
    let bin = pgbench_binary();
    let run = |args: &[&str]| -> anyhow::Result<String> {
        let out = std::process::Command::new(&bin)
            .args(args)
            .arg(url)
            .output()
            .with_context(|| format!("running {}", bin.display()))?;
        if !out.status.success() {
            bail!("pgbench {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    };
    eprintln!("pgbench TPC-B: initialising scale 10…");
    run(&["-q", "-i", "-s", "10"])?;
    eprintln!("pgbench TPC-B: 32 clients for {seconds} s…");
    let out = run(&["-c", "32", "-j", "2", "-T", &seconds.to_string()]);
    let _ = run(&["-i", "-I", "d"]);
    let out = out?;
    out.lines()
        .find_map(|l| {
            l.strip_prefix("tps = ")
                .and_then(|r| r.split_whitespace().next())
                .and_then(|v| v.parse::<f64>().ok())
        })
        .with_context(|| format!("no tps in pgbench's output: {out}"))
}
