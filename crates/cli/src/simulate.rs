//! `forecourt simulate`: writes a simulated network into an empty database.
//!
//! The world (regions, stations, prices, promotions, customers, vehicles, cards) comes
//! from `forecourt-sim` and is written with its own ids; every visit is then posted
//! through the bulk poster, which decides it with the POS rules (tier discount, card
//! state and rules, paid/bonus split, points, face-value caps) and writes many per
//! transaction. A driver short of balance tops the card up first, through the same
//! poster, as at the till.

use crate::progress::Progress;
use anyhow::{bail, Context};
use chrono::NaiveDate;
use forecourt_app::bulk::{PayIn, Poster, SaleIn, Who};
use forecourt_sim::{sim_id, Params, Pay, World};
use forecourt_store::bulk::{BulkCard, BulkCustomer, Rows};
use forecourt_store::{Card, NewCard, NewCustomer, NewVehicle, Store};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::collections::BTreeMap;

/// Sales and recharges per transaction.
const BATCH_EVENTS: usize = 20_000;

/// What a simulation wrote.
#[derive(Debug, Default)]
pub struct Summary {
    pub stations: usize,
    pub customers: usize,
    pub cards: usize,
    pub sales: u64,
    pub recharges: u64,
    /// Sales a till would have declined (card rules), by reason.
    pub declined: BTreeMap<String, u64>,
    pub seconds: f64,
    /// The last weeks' visits by station and day, for the service desk's simulation.
    pub desk: crate::desk_sim::Feed,
}

impl Summary {
    pub fn line(&self) -> String {
        let declined: u64 = self.declined.values().sum();
        format!(
            "{} stations, {} customers, {} cards: {} sales, {} recharges, {} declined at the till, in {:.1} s ({:.0} sales/s)",
            self.stations,
            self.customers,
            self.cards,
            self.sales,
            self.recharges,
            declined,
            self.seconds,
            self.sales as f64 / self.seconds.max(0.001)
        )
    }
}

/// Default parameters: the period ends yesterday.
pub fn params(
    stations: usize,
    customers: usize,
    days: u32,
    seed: u64,
    end: Option<NaiveDate>,
) -> Params {
    let end = end.unwrap_or_else(|| chrono::Utc::now().date_naive() - chrono::Duration::days(1));
    Params {
        stations,
        customers,
        days,
        seed,
        end,
        walk_ins_per_station_day: 30,
    }
}

/// Writes regions, stations, products, prices and promotions with the world's ids.
async fn network(store: &Store, w: &World, rng: &mut ChaCha8Rng) -> anyhow::Result<Vec<String>> {
    let start_us = forecourt_sim::local_us(w.params.start(), 0);
    let created = start_us - 400 * 86_400_000_000;
    let mut regions = Rows::new(
        "region",
        &["region_id", "code", "name", "province", "created_at"],
    );
    let region_ids: Vec<String> = w.regions.iter().map(|_| sim_id(rng, created)).collect();
    for (r, id) in w.regions.iter().zip(&region_ids) {
        regions.push([
            id.as_str().into(),
            r.code.as_str().into(),
            r.name.as_str().into(),
            r.province.as_str().into(),
            created.into(),
        ]);
    }
    let mut stations = Rows::new(
        "station",
        &[
            "station_id",
            "code",
            "name",
            "region_id",
            "address",
            "lat",
            "lon",
            "time_zone",
            "province",
            "opening_hours",
            "created_at",
        ],
    );
    let station_ids: Vec<String> = w.stations.iter().map(|_| sim_id(rng, created)).collect();
    for (s, id) in w.stations.iter().zip(&station_ids) {
        stations.push([
            id.as_str().into(),
            s.code.as_str().into(),
            s.name.as_str().into(),
            region_ids[s.region].as_str().into(),
            s.address.as_str().into(),
            s.lat.into(),
            s.lon.into(),
            "Asia/Shanghai".into(),
            w.regions[s.region].province.as_str().into(),
            "00:00-24:00".into(),
            created.into(),
        ]);
    }
    let mut products = Rows::new(
        "product",
        &[
            "product_id",
            "code",
            "name",
            "kind",
            "category",
            "created_at",
        ],
    );
    for p in &w.products {
        products.push([
            format!("product-{}", p.code.to_ascii_lowercase()).into(),
            p.code.as_str().into(),
            p.name.as_str().into(),
            p.kind.into(),
            p.category.clone().into(),
            created.into(),
        ]);
    }
    let mut prices = Rows::new(
        "price",
        &[
            "price_id",
            "station_id",
            "product_id",
            "unit_price_fen",
            "effective_from",
            "created_at",
        ],
    );
    for p in &w.prices {
        prices.push([
            sim_id(rng, p.effective_from_us).into(),
            station_ids[p.station].as_str().into(),
            format!("product-{}", p.product.to_ascii_lowercase()).into(),
            p.unit_price_fen.into(),
            p.effective_from_us.into(),
            (p.effective_from_us - 86_400_000_000).into(),
        ]);
    }
    let mut promotions = Rows::new(
        "recharge_promotion",
        &[
            "promotion_id",
            "name",
            "min_amount_fen",
            "bonus_fen",
            "valid_from",
            "valid_until",
            "created_at",
        ],
    );
    for p in &w.promotions {
        promotions.push([
            sim_id(rng, p.valid_from_us).into(),
            p.name.as_str().into(),
            p.min_amount_fen.into(),
            p.bonus_fen.into(),
            p.valid_from_us.into(),
            None::<i64>.into(),
            p.valid_from_us.into(),
        ]);
    }
    let mut tx = store.begin().await?;
    for rows in [&regions, &stations, &products, &prices, &promotions] {
        tx.insert_rows(rows).await?;
    }
    tx.commit().await?;
    Ok(station_ids)
}

/// Writes customers, vehicles and cards, and tells the poster about them.
async fn people(
    store: &Store,
    w: &World,
    station_ids: &[String],
    poster: &mut Poster,
    progress: &mut Progress,
) -> anyhow::Result<usize> {
    let mut cards_written = 0;
    for chunk in w.customers.chunks(2_000) {
        let mut customers = Vec::with_capacity(chunk.len());
        let mut cards = Vec::new();
        for c in chunk {
            customers.push(BulkCustomer {
                customer_id: c.id.clone(),
                created_at: c.joined_us,
                customer: NewCustomer {
                    member_code: c.member_code.clone(),
                    kind: c.kind.into(),
                    name: c.name.clone(),
                    phone: Some(c.phone.clone()),
                    industry: c.industry.clone(),
                    birthday: c.birthday.clone(),
                    occupation: c.occupation.clone(),
                    home_station_id: Some(station_ids[c.home_station].clone()),
                    source: Some(c.source.into()),
                    consent_marketing: c.consent_marketing,
                    tags: vec![c.behaviour.as_str().to_string()],
                    vehicles: c
                        .vehicles
                        .iter()
                        .map(|v| NewVehicle {
                            plate: v.plate.clone(),
                            model: Some(v.model.clone()),
                            colour: Some(v.colour.clone()),
                            fuel_type: Some(v.fuel_type.clone()),
                            tank_capacity_ml: Some(v.tank_capacity_ml),
                        })
                        .collect(),
                    ..NewCustomer::default()
                },
            });
            for card in &c.cards {
                let new = NewCard {
                    card_no: card.card_no.clone(),
                    kind: card.kind.into(),
                    customer_id: Some(c.id.clone()),
                    main_card_id: card.main.map(|m| c.cards[m].id.clone()),
                    balance_mode: "pool".into(),
                    cap_fen: None,
                    rules: card.rules.clone(),
                    pin_hash: None,
                    issued_station_id: Some(station_ids[c.home_station].clone()),
                };
                poster.know_new_card(Card {
                    card_id: card.id.clone(),
                    card_no: new.card_no.clone(),
                    kind: new.kind.clone(),
                    state: "active".into(),
                    customer_id: new.customer_id.clone(),
                    main_card_id: new.main_card_id.clone(),
                    balance_mode: new.balance_mode.clone(),
                    cap_fen: None,
                    rules: card.rules.clone(),
                    pin_hash: None,
                    pin_failures: 0,
                    replaced_by_card_id: None,
                    created_at: c.joined_us,
                    issued_station_id: new.issued_station_id.clone(),
                });
                cards.push(BulkCard {
                    card_id: card.id.clone(),
                    created_at: c.joined_us,
                    card: new,
                });
            }
            poster.know_new_customer(&c.id, "standard");
        }
        let mut tx = store.begin().await?;
        tx.create_customers_bulk(&customers).await?;
        tx.create_cards_bulk(&cards).await?;
        tx.commit().await?;
        cards_written += cards.len();
        progress.set_note(format!("{} customers", cards_written));
    }
    Ok(cards_written)
}

fn rfc_day(date: NaiveDate) -> String {
    date.format("%Y-%m-%d").to_string()
}

/// Fills an empty database with the simulated world and its visits.
pub async fn populate(store: &Store, p: Params) -> anyhow::Result<Summary> {
    p.validate().map_err(|e| anyhow::anyhow!(e))?;
    let started = std::time::Instant::now();
    if !store.stations().await?.is_empty() {
        bail!("the simulator needs an empty database; this one has stations");
    }
    let world = forecourt_sim::world(p);
    let mut rng = ChaCha8Rng::seed_from_u64(p.seed ^ 0x0005_7a71_0a5e);
    let station_ids = network(store, &world, &mut rng)
        .await
        .context("writing the network")?;
    let mut poster = Poster::seeded(store, p.seed ^ 0x00b0_1c00).await?;
    let mut progress = Progress::new("simulating", u64::from(p.days));
    // The poster is told of every card and account the fill writes, so nothing reads by
    // the secondary indexes until it is done.
    store.drop_bulk_indexes().await?;
    let cards = people(store, &world, &station_ids, &mut poster, &mut progress).await?;
    tracing::debug!(ms = started.elapsed().as_millis() as u64, "world written");
    let mut summary = Summary {
        stations: world.stations.len(),
        customers: world.customers.len(),
        cards,
        ..Summary::default()
    };
    summary.desk = crate::desk_sim::Feed::since(
        p.end - chrono::Duration::days(crate::desk_sim::DESK_DAYS - 1),
    );
    let mut flush_ms = 0;
    for (i, (date, visits)) in world.days().enumerate() {
        for v in visits {
            summary.desk.visit(
                date,
                &world.stations[v.station].code,
                v.member.map(|(c, _)| world.customers[c].id.as_str()),
                v.at_us,
                v.lines.iter().find_map(|l| l.pump_no),
            );
            post_visit(&world, &mut poster, &v, &mut summary).await?;
            if poster.pending() >= BATCH_EVENTS {
                let t = std::time::Instant::now();
                poster.flush_behind().await?;
                flush_ms += t.elapsed().as_millis() as u64;
            }
        }
        progress.set_note(format!("{} {} sales", rfc_day(date), summary.sales));
        progress.set(i as u64 + 1);
    }
    poster.flush().await?;
    progress.finish();
    tracing::debug!(
        flush_ms,
        ms = started.elapsed().as_millis() as u64,
        "visits posted"
    );
    let t = std::time::Instant::now();
    store.build_bulk_indexes().await?;
    eprintln!("indexes built in {:.1} s", t.elapsed().as_secs_f64());
    summary.seconds = started.elapsed().as_secs_f64();
    Ok(summary)
}

/// What a visit costs before any tier discount: enough to decide whether to top up.
fn estimate_fen(v: &forecourt_sim::Visit) -> i64 {
    v.lines
        .iter()
        .map(|l| {
            if l.volume_ml > 0 {
                forecourt_core::money::metered_amount(l.volume_ml, l.unit_price_fen)
                    .map(|f| f.0)
                    .unwrap_or(i64::MAX / 16)
            } else {
                l.quantity.saturating_mul(l.unit_price_fen)
            }
        })
        .sum()
}

async fn post_visit(
    w: &World,
    poster: &mut Poster,
    v: &forecourt_sim::Visit,
    summary: &mut Summary,
) -> anyhow::Result<()> {
    let station = &w.stations[v.station];
    let lines = v
        .lines
        .iter()
        .map(|l| forecourt_app::bulk::LineIn {
            product_code: l.product.clone(),
            volume_ml: (l.volume_ml > 0).then_some(l.volume_ml),
            quantity: (l.volume_ml == 0).then_some(l.quantity),
            unit_price_fen: l.unit_price_fen,
            amount_fen: None,
            pump_no: l.pump_no,
        })
        .collect::<Vec<_>>();
    let mut sale = SaleIn {
        station_code: station.code.clone(),
        pos_txn_id: v.pos_txn_id.clone(),
        occurred_at: v.at_us,
        who: None,
        plate: None,
        lines,
        payments: vec![PayIn {
            method: v.pay.method().into(),
            amount_fen: None,
            card_no: None,
        }],
    };
    let Some((ci, ki)) = v.member else {
        return record(poster.sale(&sale).await, summary);
    };
    let customer = &w.customers[ci];
    let card = &customer.cards[ki];
    sale.who = Some(Who::Card(card.card_no.clone()));
    sale.plate = card.vehicle.map(|k| customer.vehicles[k].plate.clone());
    if v.pay == Pay::Card {
        sale.payments[0].card_no = Some(card.card_no.clone());
        let funding = match card.main {
            Some(m) => &customer.cards[m],
            None => card,
        };
        let need = estimate_fen(v);
        let available = poster
            .available_fen(&card.card_no)
            .await
            .map_err(|e| anyhow::anyhow!(e.message))?;
        if available < need {
            let method = if customer.kind == "company" {
                "bank_card"
            } else {
                "wechat"
            };
            let mut topped = false;
            for amount in [v.top_up_fen, 100_000, 50_000, 20_000] {
                if amount < need - available || amount > v.top_up_fen {
                    continue;
                }
                let key = format!("R{}", v.pos_txn_id);
                match poster
                    .recharge(
                        &station.code,
                        &key,
                        v.at_us - 60_000_000,
                        &funding.card_no,
                        amount,
                        method,
                    )
                    .await
                {
                    Ok(_) => {
                        summary.recharges += 1;
                        topped = true;
                        break;
                    }
                    Err(e) if e.code == "face_value_cap" => continue,
                    Err(e) => bail!("recharge {key}: {} {}", e.code, e.message),
                }
            }
            if !topped {
                // The card cannot take enough: pay this one by phone.
                sale.payments[0] = PayIn {
                    method: "wechat".into(),
                    amount_fen: None,
                    card_no: None,
                };
            }
        }
    }
    record(poster.sale(&sale).await, summary)
}

fn record(
    result: Result<Option<forecourt_app::bulk::SaleOut>, forecourt_app::AppError>,
    summary: &mut Summary,
) -> anyhow::Result<()> {
    match result {
        Ok(_) => summary.sales += 1,
        // A till declines a sale that breaks a hard card rule; the simulator counts it.
        Err(e) if e.code == "limit_exceeded" => {
            let reason = e.message.split(':').next().unwrap_or_default().to_string();
            *summary.declined.entry(reason).or_default() += 1;
        }
        Err(e) => bail!("a simulated sale was refused: {} {}", e.code, e.message),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use forecourt_store::testing::fresh_db;
    use forecourt_store::Vault;

    fn small() -> Params {
        Params {
            stations: 3,
            customers: 400,
            days: 30,
            seed: 2026,
            end: NaiveDate::from_ymd_opt(2026, 2, 20).expect("a date"),
            walk_ins_per_station_day: 10,
        }
    }

    async fn simulated(p: Params) -> (Store, Summary) {
        let url = fresh_db().await.expect("a fresh database");
        let store = Store::open(&url, Vault::for_tests()).await.expect("open");
        let summary = populate(&store, p).await.expect("simulate");
        (store, summary)
    }

    /// Every row of the database but the ciphertexts (their nonces are random by
    /// design), plus every customer's personal data and every card's rules decrypted.
    async fn contents(store: &Store) -> String {
        let mut out = store.dump_for_comparison().await.expect("dump");
        for id in store.customer_ids().await.expect("ids") {
            let c = store.customer(&id).await.expect("read").expect("customer");
            out.push_str(&format!("{} {} {:?}\n", id, c.name, c.phone));
            for v in store.vehicles(&id).await.expect("vehicles") {
                out.push_str(&format!("  {} {:?}\n", v.plate, v.tank_capacity_ml));
            }
            for card in store.cards_of_customer(&id).await.expect("cards") {
                out.push_str(&format!("  {} {:?}\n", card.card_no, card.rules));
            }
        }
        out
    }

    #[tokio::test]
    async fn the_same_seed_writes_the_same_data() {
        let (a, sa) = simulated(small()).await;
        let (b, _) = simulated(small()).await;
        let (ca, cb) = (contents(&a).await, contents(&b).await);
        assert!(sa.sales > 1_000 && sa.recharges > 100, "{sa:?}");
        assert!(ca.lines().count() > 10_000, "the dump holds the data");
        if ca != cb {
            let first = ca
                .lines()
                .zip(cb.lines())
                .find(|(x, y)| x != y)
                .expect("a differing line");
            panic!("two runs differ first at\n{}\n{}", first.0, first.1);
        }
        assert!(a.check().await.expect("check").is_clean());
        // Another seed, other data.
        let (c, _) = simulated(Params { seed: 7, ..small() }).await;
        assert_ne!(ca, contents(&c).await);
    }

    #[tokio::test]
    async fn live_sales_feed_the_analytics_as_they_are_in_the_database() {
        let (store, summary) = simulated(Params {
            days: 20,
            customers: 200,
            ..small()
        })
        .await;
        let (sales, never) = store.member_sales().await.expect("member sales");
        let tx = crate::analytics_db::transactions(&sales, &never);
        // Every member sale, every registered member, amounts net of refunds in yuan.
        assert!(!sales.is_empty() && sales.len() < summary.sales as usize);
        assert_eq!(tx.len(), sales.len());
        assert_eq!(
            tx.customers(),
            store.customer_ids().await.expect("ids").len()
        );
        let fen: i64 = sales.iter().map(|s| s.2).sum();
        let yuan: f64 = tx.amount.iter().sum();
        assert!((yuan - fen as f64 / 100.0).abs() < 1e-6);
        let litres: f64 = tx.volume.as_ref().expect("volumes").iter().sum();
        assert!(litres > 0.0);
    }

    #[tokio::test]
    async fn the_simulator_refuses_a_database_with_a_network() {
        let (a, _) = simulated(Params {
            days: 2,
            customers: 20,
            ..small()
        })
        .await;
        let err = populate(&a, small()).await.expect_err("a second fill");
        assert!(err.to_string().contains("empty database"), "{err}");
    }
}
