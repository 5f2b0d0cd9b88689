//! `forecourt demo`: a fresh database with a small network, customers, cards and sales
//! posted through the real API (so they follow the same ledger rules as live sales),
//! then the server on it.

use anyhow::{bail, Context};
use axum::body::Body;
use axum::http::{Request, StatusCode};
use forecourt_server::{AppState, Config, Secret};
use forecourt_store::{DbUrl, Store};
use http_body_util::BodyExt;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};
use tower::ServiceExt;

const STATIONS: &[(&str, &str, &str, &str)] = &[
    ("BJ001", "北京朝阳路加油站", "BJ", "京"),
    ("BJ002", "北京望京加油站", "BJ", "京"),
    ("TJ001", "天津滨海加油站", "TJ", "津"),
];
/// The size of the demo's network.
pub const DEMO: SimParams = SimParams {
    stations: 3,
    customers: 1_000,
    days: 60,
    seed: 42,
};

/// The size and seed of a simulated network.
#[derive(Debug, Clone, Copy)]
pub struct SimParams {
    pub stations: usize,
    pub customers: usize,
    pub days: i64,
    pub seed: u64,
}

/// Code, name, region and province of the `i`th simulated station.
fn station(i: usize) -> (String, String, String, String) {
    match STATIONS.get(i) {
        Some((code, name, region, province)) => (
            code.to_string(),
            name.to_string(),
            region.to_string(),
            province.to_string(),
        ),
        None => {
            let (region, province) = [("BJ", "京"), ("TJ", "津"), ("HE", "冀")][i % 3];
            (
                format!("{region}{:03}", i + 1),
                format!("第{}加油站", i + 1),
                region.to_string(),
                province.to_string(),
            )
        }
    }
}

struct Client {
    app: axum::Router,
}

impl Client {
    async fn call(
        &self,
        method: &str,
        path: &str,
        token: &str,
        body: Value,
    ) -> anyhow::Result<(StatusCode, Value)> {
        let req = Request::builder()
            .method(method)
            .uri(path)
            .header("content-type", "application/json")
            .header("authorization", format!("Bearer {token}"))
            .body(Body::from(body.to_string()))?;
        let res = self.app.clone().oneshot(req).await?;
        let status = res.status();
        let bytes = res.into_body().collect().await?.to_bytes();
        Ok((
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        ))
    }

    async fn ok(
        &self,
        method: &str,
        path: &str,
        token: &str,
        body: Value,
    ) -> anyhow::Result<Value> {
        let (status, v) = self.call(method, path, token, body).await?;
        if !status.is_success() {
            bail!("{method} {path}: {status} {v}");
        }
        Ok(v)
    }
}

fn random_password(rng: &mut StdRng) -> String {
    const CHARS: &[u8] = b"abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let s: String = (0..14)
        .map(|_| char::from(CHARS[rng.gen_range(0..CHARS.len())]))
        .collect();
    format!("{s}7a")
}

/// Fills an empty database through the API: stations with prices, a recharge
/// promotion, customers with cards, and `days` of sales and recharges. Returns the number
/// of sales.
async fn fill(store: &Store, client: &Client, staff: &str, p: SimParams) -> anyhow::Result<u64> {
    eprintln!(
        "simulating {} stations, {} customers, {} days…",
        p.stations, p.customers, p.days
    );
    let mut rng = StdRng::seed_from_u64(p.seed);
    let now = chrono::Utc::now();
    let start = now - chrono::Duration::days(p.days);
    let mut pos_tokens = Vec::new();
    for (code, name, region, province) in (0..p.stations).map(station) {
        client
            .ok(
                "POST",
                "/api/v1/stations",
                staff,
                json!({"code": code, "name": name, "region": region, "province": province}),
            )
            .await?;
        for (product, price) in [
            ("GASOLINE_92", 742),
            ("GASOLINE_95", 789),
            ("GASOLINE_98", 869),
            ("DIESEL_0", 718),
        ] {
            client
                .ok("POST", &format!("/api/v1/stations/{code}/prices"), staff, json!({"product_code": product, "unit_price_fen": price, "effective_from": (start - chrono::Duration::days(1)).to_rfc3339()}))
                .await?;
        }
        let token = forecourt_server::secret::new_token("fcp_");
        let s = store.station_by_code(&code).await?.context("station")?;
        let mut tx = store.begin().await?;
        tx.create_pos_token(
            &forecourt_server::secret::token_hash(&token),
            &s.station_id,
            Some("simulator"),
        )
        .await?;
        tx.commit().await?;
        pos_tokens.push((code, province, token));
    }
    client.ok("POST", "/api/v1/recharge-promotions", staff, json!({"name": "充1000送30", "min_amount_fen": 100_000, "bonus_fen": 3_000, "valid_from": start.to_rfc3339()})).await?;

    let surnames = ["王", "李", "张", "刘", "陈", "杨", "赵", "黄", "周", "吴"];
    let given = [
        "伟", "芳", "娜", "敏", "静", "强", "磊", "军", "洋", "勇", "艳", "杰",
    ];
    let letters = b"ABCDEFGHJKLMNPQRSTUVWXYZ";
    let mut cards: Vec<(String, usize)> = Vec::new();
    for i in 0..p.customers {
        let name = format!(
            "{}{}",
            surnames[rng.gen_range(0..surnames.len())],
            given[rng.gen_range(0..given.len())]
        );
        let phone = format!("13{:09}", 100_000_000 + i);
        let home = rng.gen_range(0..pos_tokens.len());
        let plate = format!(
            "{}{}{:05}",
            pos_tokens[home].1,
            char::from(letters[rng.gen_range(0..letters.len())]),
            rng.gen_range(0..100_000)
        );
        let c = client
            .ok("POST", "/api/v1/customers", staff, json!({"kind": "individual", "name": name, "phone": phone, "vehicles": [{"plate": plate, "tank_capacity_l": 55}], "home_station": pos_tokens[home].0, "source": "walk_in"}))
            .await?;
        let card = client
            .ok(
                "POST",
                "/api/v1/cards",
                staff,
                json!({"customer_id": c["id"], "kind": "personal"}),
            )
            .await?;
        cards.push((
            card["card_no"].as_str().context("card_no")?.to_string(),
            home,
        ));
    }
    let mut txn = 0u64;
    let mut sales = 0u64;
    for day in 0..p.days {
        let date = start + chrono::Duration::days(day);
        for (card_no, home) in &cards {
            // Each customer fills up about once a week, usually at the home station.
            if rng.gen_range(0..7) != 0 {
                continue;
            }
            let station = if rng.gen_range(0..10) < 8 {
                *home
            } else {
                rng.gen_range(0..pos_tokens.len())
            };
            let (code, _, token) = &pos_tokens[station];
            let at =
                (date + chrono::Duration::minutes(rng.gen_range(6 * 60..22 * 60))).to_rfc3339();
            let card: Value = client
                .ok(
                    "GET",
                    &format!("/api/v1/cards/{card_no}"),
                    token,
                    Value::Null,
                )
                .await?;
            let ml = rng.gen_range(20_000..50_000);
            let gross = (ml * 789 + 500) / 1000;
            if card["balance_fen"].as_i64().unwrap_or(0) < gross {
                txn += 1;
                client
                    .ok("POST", "/api/v1/pos/recharges", token, json!({"pos_txn_id": format!("D{txn}"), "station_code": code, "occurred_at": at, "card_no": card_no, "amount_fen": 100_000, "payments": [{"method": "wechat", "amount_fen": 100_000}]}))
                    .await?;
            }
            txn += 1;
            let body = json!({"pos_txn_id": format!("D{txn}"), "station_code": code, "occurred_at": at, "customer": {"card_no": card_no},
                "lines": [{"product_code": "GASOLINE_95", "volume_ml": ml, "unit_price_fen": 789, "pump_no": rng.gen_range(1..9)}]});
            let quote = client
                .ok("POST", "/api/v1/pos/quotes", token, body.clone())
                .await?;
            let mut sale = body;
            sale["payments"] = json!([{"method": "card", "card_no": card_no, "amount_fen": quote["net_amount_fen"]}]);
            client.ok("POST", "/api/v1/pos/sales", token, sale).await?;
            sales += 1;
        }
        if day % 10 == 9 || day + 1 == p.days {
            eprint!("\r  day {}/{}: {sales} sales", day + 1, p.days);
        }
    }
    eprintln!();
    // The simulator's token posted as a POS of each station; revoke them.
    for (code, _, _) in &pos_tokens {
        if let Some(s) = store.station_by_code(code).await? {
            let mut tx = store.begin().await?;
            tx.revoke_pos_tokens_labelled(&s.station_id, "simulator")
                .await?;
            tx.commit().await?;
        }
    }
    Ok(sales)
}

/// `forecourt simulate`: a simulated network in an empty database.
pub async fn simulate(db: &str, p: SimParams) -> anyhow::Result<()> {
    let url = DbUrl::parse(db)?;
    let store = Store::open(&url, crate::vault_for(&url)?)
        .await
        .with_context(|| format!("opening {url}"))?;
    if !store.stations().await?.is_empty() {
        bail!("the simulator needs an empty database; {url} has stations");
    }
    let started = std::time::Instant::now();
    // A staff user for the simulator's own calls, disabled when it is done.
    let password = random_password(&mut StdRng::from_entropy());
    forecourt_server::api::create_user(&store, "simulator", "admin", None, &password)
        .await
        .map_err(|e| anyhow::anyhow!(e.message))?;
    let secret = match url.sqlite_path() {
        Some(path) => Secret::load_or_create(std::path::Path::new(&format!("{path}.secret")))?,
        None => Secret::load_or_create(std::path::Path::new(
            &std::env::var("FORECOURT_SECRET_FILE").unwrap_or_else(|_| "forecourt.secret".into()),
        ))?,
    };
    store
        .check_fingerprint(
            "secret_fingerprint",
            &secret.fingerprint(),
            "the server secret",
        )
        .await?;
    let state = AppState::new(store.clone(), secret, Config::default());
    let client = Client {
        app: forecourt_server::router(state),
    };
    let login = client
        .ok(
            "POST",
            "/api/v1/auth/login",
            "",
            json!({"username": "simulator", "password": password}),
        )
        .await?;
    let staff = login["token"].as_str().context("login token")?.to_string();
    let sales = fill(&store, &client, &staff, p).await?;
    let mut tx = store.begin().await?;
    tx.set_user_disabled("simulator", true).await?;
    tx.commit().await?;
    let report = store.check().await?;
    println!(
        "simulated {} stations, {} customers, {} days: {sales} sales in {:.1} s; ledger {}",
        p.stations,
        p.customers,
        p.days,
        started.elapsed().as_secs_f64(),
        if report.is_clean() {
            "clean"
        } else {
            "NOT clean"
        }
    );
    Ok(())
}

pub async fn run(db: Option<String>, listen: &str, seed: u64) -> anyhow::Result<()> {
    let url = match db {
        Some(u) => DbUrl::parse(&u)?,
        None => {
            for suffix in ["", "-wal", "-shm", ".secret", ".keys"] {
                let _ = std::fs::remove_file(format!("forecourt-demo.db{suffix}"));
            }
            DbUrl::parse("sqlite://forecourt-demo.db")?
        }
    };
    let started = std::time::Instant::now();
    let store = Store::open(&url, crate::vault_for(&url)?)
        .await
        .with_context(|| format!("opening {url}"))?;
    if !store.stations().await?.is_empty() {
        bail!("the demo needs an empty database; {url} has stations");
    }
    let mut rng = StdRng::seed_from_u64(seed);
    // The data follow the seed; the password must not.
    let password = random_password(&mut StdRng::from_entropy());
    forecourt_server::api::create_user(&store, "admin", "admin", None, &password)
        .await
        .map_err(|e| anyhow::anyhow!(e.message))?;
    // The secret keys card PINs; keep it beside the database so `serve` can use it later.
    let secret = match url.sqlite_path() {
        Some(path) => Secret::load_or_create(std::path::Path::new(&format!("{path}.secret")))?,
        None => Secret::from_bytes(rng.gen()),
    };
    let state = AppState::new(store.clone(), secret.clone(), Config::default());
    let client = Client {
        app: forecourt_server::router(state.clone()),
    };
    let login = client
        .ok(
            "POST",
            "/api/v1/auth/login",
            "",
            json!({"username": "admin", "password": password}),
        )
        .await?;
    let staff = login["token"].as_str().context("login token")?.to_string();

    let sales = fill(&store, &client, &staff, SimParams { seed, ..DEMO }).await?;
    let report = store.check().await?;
    eprintln!(
        "demo data ready in {:.1} s: {} stations, {} customers, {} sales; ledger {}",
        started.elapsed().as_secs_f64(),
        DEMO.stations,
        DEMO.customers,
        sales,
        if report.is_clean() {
            "clean"
        } else {
            "NOT clean"
        }
    );
    println!("username: admin");
    println!("password: {password}");
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("listening on {listen}"))?;
    eprintln!(
        "forecourt demo on http://{} ({})",
        listener.local_addr()?,
        url
    );
    forecourt_server::serve(state, listener).await
}
