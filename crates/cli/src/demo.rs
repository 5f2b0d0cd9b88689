//! `forecourt demo`: a fresh database filled by the simulator (a year of a network of
//! ten stations and twenty thousand customers), a staff login, and the server on it.

use crate::simulate;
use anyhow::{bail, Context};
use forecourt_server::{AppState, Config, Secret};
use forecourt_store::{DbUrl, Store};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// The size of the demo's network.
pub const STATIONS: usize = 10;
pub const CUSTOMERS: usize = 20_000;
pub const DAYS: u32 = 365;
/// Anonymous sales per station and day, on top of the members'.
pub const WALK_INS: u32 = 15;

fn random_password(rng: &mut StdRng) -> String {
    const CHARS: &[u8] = b"abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let s: String = (0..14)
        .map(|_| char::from(CHARS[rng.gen_range(0..CHARS.len())]))
        .collect();
    format!("{s}7a")
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
    // The data follow the seed; the password and the secret must not.
    let mut entropy = StdRng::from_entropy();
    let password = random_password(&mut entropy);
    forecourt_server::api::create_user(&store, "admin", "admin", None, &password)
        .await
        .map_err(|e| anyhow::anyhow!(e.message))?;
    // The secret keys card PINs and sessions; keep it beside the database so that
    // `serve` can use it later.
    let secret = match url.sqlite_path() {
        Some(path) => Secret::load_or_create(std::path::Path::new(&format!("{path}.secret")))?,
        None => Secret::from_bytes(entropy.gen()),
    };
    let mut params = simulate::params(STATIONS, CUSTOMERS, DAYS, seed, None);
    params.walk_ins_per_station_day = WALK_INS;
    let summary = simulate::populate(&store, params).await?;
    eprintln!(
        "demo data ready in {:.1} s: {}",
        started.elapsed().as_secs_f64(),
        summary.line(),
    );
    // The ledger check reads every transfer; it runs beside the server rather than
    // keeping the console waiting.
    let checked = store.clone();
    tokio::spawn(async move {
        match checked.check().await {
            Ok(r) if r.is_clean() => eprintln!(
                "ledger check: clean ({} sales, {} transfers)",
                r.sales, r.transfers
            ),
            Ok(r) => eprintln!("ledger check: NOT clean: {:?}", r.problems),
            Err(e) => eprintln!("ledger check failed: {e}"),
        }
    });
    let state = AppState::new(store.clone(), secret, Config::default());
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
