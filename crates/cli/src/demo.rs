//! `forecourt demo`: a fresh database filled by the simulator (a year of a network of
//! ten stations and twenty thousand customers), a staff login, a member's portal login,
//! and the server on it.

use crate::simulate;
use anyhow::{bail, Context};
use forecourt_app::{Config, Secret};
use forecourt_server::AppState;
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

/// The member the demo signs in to the portal as.
struct PortalMember {
    card_no: String,
    pin: String,
    phone: String,
    password: String,
    /// The code of the member's home station.
    station: Option<String>,
}

/// Gives the simulated member who bought the most a known PIN on their personal card
/// and a portal password (both random, like the staff password).
async fn portal_member(
    store: &Store,
    secret: &Secret,
    rng: &mut StdRng,
) -> anyhow::Result<Option<PortalMember>> {
    let Some((customer_id, card_no)) = store.busiest_member_with_personal_card().await? else {
        return Ok(None);
    };
    let Some(customer) = store.customer(&customer_id).await? else {
        return Ok(None);
    };
    let Some(phone) = customer.phone.clone() else {
        return Ok(None);
    };
    let station = match &customer.home_station_id {
        Some(id) => store.station_by_id(id).await?.map(|s| s.code),
        None => None,
    };
    let card = store
        .card_by_no(&card_no)
        .await?
        .context("the demo member's card")?;
    let pin = format!("{:06}", rng.gen_range(0..1_000_000u32));
    let password = random_password(rng);
    let hash = forecourt_app::secret::hash_password(&password)?;
    let mut tx = store.begin().await?;
    tx.set_card_pin(&card.card_id, Some(&secret.pin_hash(&card.card_id, &pin)))
        .await?;
    tx.set_member_password(&customer_id, Some(&hash)).await?;
    tx.commit().await?;
    Ok(Some(PortalMember {
        card_no,
        pin,
        phone,
        password,
        station,
    }))
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
    forecourt_app::network::create_user(&store, "admin", "admin", None, &password)
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
    // Yesterday's loyalty run, as the server does every night: members whose year of
    // sales qualifies them move up a tier, points past their date expire, the month's
    // car-wash coupons are issued. Without it every simulated member would still be
    // in the tier they joined in.
    let yesterday = forecourt_app::clock::network_today()
        .pred_opt()
        .context("no yesterday")?;
    let run = forecourt_app::daily::daily_run(&store, yesterday)
        .await
        .map_err(|e| anyhow::anyhow!("loyalty run: {}: {}", e.code, e.message))?;
    eprintln!(
        "loyalty run for {}: {} members up a tier, {} points expired, {} car-wash coupons",
        run.date, run.tiers_up, run.points_expired, run.car_wash_coupons
    );
    let member = portal_member(&store, &secret, &mut entropy).await?;
    // A station manager and a cashier of the demo member's station, to try the console
    // as they see it (their own station's figures, masked phones for the cashier).
    let mut station_logins = Vec::new();
    if let Some(code) = member.as_ref().and_then(|m| m.station.clone()) {
        for (username, role) in [("manager", "station_manager"), ("cashier", "cashier")] {
            let pw = random_password(&mut entropy);
            forecourt_app::network::create_user(
                &store,
                username,
                role,
                Some(&format!("station:{code}")),
                &pw,
            )
            .await
            .map_err(|e| anyhow::anyhow!(e.message))?;
            station_logins.push((role, username, pw, code.clone()));
        }
    }
    // Every other station has its manager too: they work their station's tickets.
    let mut handlers = std::collections::BTreeMap::new();
    for (_, username, _, code) in station_logins.iter().filter(|l| l.0 == "station_manager") {
        handlers.insert(code.clone(), username.to_string());
    }
    for station in store.stations().await? {
        if handlers.contains_key(&station.code) {
            continue;
        }
        let username = format!("manager-{}", station.code.to_lowercase());
        forecourt_app::network::create_user(
            &store,
            &username,
            "station_manager",
            Some(&format!("station:{}", station.code)),
            &random_password(&mut entropy),
        )
        .await
        .map_err(|e| anyhow::anyhow!(e.message))?;
        handlers.insert(station.code, username);
    }
    let config = Config {
        outbox: crate::outbox_settings()?,
        ..Config::default()
    };
    let state = AppState::new(store.clone(), secret, config);
    let t = std::time::Instant::now();
    let desk = crate::desk_sim::run(
        state.app(),
        &summary.desk,
        "admin",
        &handlers,
        seed,
        forecourt_app::clock::Clock::system().now_us(),
    )
    .await
    .context("simulating the service desk")?;
    eprintln!(
        "service desk: {} tickets ({} open, {} steps), {} survey invitations, {} answers, in {:.1} s",
        desk.tickets,
        desk.open,
        desk.steps,
        desk.invited,
        desk.answered,
        t.elapsed().as_secs_f64()
    );
    let t = std::time::Instant::now();
    let leaflet_station = match member.as_ref().and_then(|m| m.station.clone()) {
        Some(code) => code,
        None => store
            .stations()
            .await?
            .first()
            .map(|s| s.code.clone())
            .context("the demo has no station")?,
    };
    // Members who visited lately claim the partners' offers.
    let mut visitors: Vec<String> = summary
        .desk
        .days
        .values()
        .flat_map(|d| d.members.iter().map(|m| m.0.clone()))
        .collect();
    visitors.sort();
    visitors.dedup();
    let marketing = crate::marketing_sim::run(
        state.app(),
        "admin",
        &leaflet_station,
        &visitors,
        seed,
        forecourt_app::clock::Clock::system().now_us(),
    )
    .await
    .context("simulating leaflets and partners")?;
    eprintln!(
        "leaflets and partners: 600 leaflets, {} sign-ups, {} first sales; {} offer claims, {} redemptions, in {:.1} s",
        marketing.signed_up,
        marketing.first_sales,
        marketing.claims,
        marketing.redemptions,
        t.elapsed().as_secs_f64()
    );
    // The ledger check reads every transfer; it runs beside the server rather than
    // keeping the console waiting (after the last writes of the demo's data, so that it
    // reads them whole).
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
    crate::start_outbox_worker(&state)?;
    println!("username: admin");
    println!("password: {password}");
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("listening on {listen}"))?;
    if let Some(m) = &member {
        println!("member card: {}", m.card_no);
        println!("member pin: {}", m.pin);
        println!("member phone: {}", m.phone);
        println!("member password: {}", m.password);
    }
    for (role, username, pw, code) in &station_logins {
        println!("{} of {code}: {username} / {pw}", role.replace('_', " "));
    }
    let mut addr = listener.local_addr()?;
    if addr.ip().is_unspecified() {
        addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    println!("portal: http://{addr}/m/");
    eprintln!(
        "forecourt demo on http://{} ({})",
        listener.local_addr()?,
        url
    );
    forecourt_server::serve(state, listener).await
}
