//! The simulator of a fuel-station network (SPEC F12): regions and stations with
//! coordinates, price lists that move every ten working days, customers with behaviours
//! and vehicles, fleets with sub-cards and rules, and day after day of visits with the
//! seasons of the Chinese calendar.
//!
//! Deterministic: everything comes from one ChaCha stream seeded by the caller, ids
//! included (UUIDv7 built from the simulated time and the stream), so the same
//! parameters give the same world and the same visits, bit for bit.
//!
//! Pure: no IO, no clock, no database. What a visit costs, whether a card can pay and
//! what it earns is not decided here: the caller posts every visit through the same
//! ledger rules as live sales, and tops a card up when it is short.

mod calendar;
mod names;

pub use calendar::{day_factor, Season};

use chrono::{Datelike, Duration, NaiveDate, NaiveTime};
use forecourt_core::card::CardNo;
use forecourt_core::limits::{CardRules, Rule};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Microseconds in a day.
const DAY_US: i64 = 86_400_000_000;
/// China Standard Time is UTC+8 all year (no daylight saving).
const LOCAL_OFFSET_US: i64 = 8 * 3_600_000_000;

/// The most of everything, so that a typo cannot ask for a billion rows.
pub const STATIONS_MAX: usize = 10_000;
pub const CUSTOMERS_MAX: usize = 5_000_000;
pub const DAYS_MAX: u32 = 3_660;

/// What to simulate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Params {
    pub stations: usize,
    pub customers: usize,
    pub days: u32,
    pub seed: u64,
    /// The last simulated day (local date), inclusive.
    pub end: NaiveDate,
    /// Anonymous walk-in sales per station on an ordinary day.
    pub walk_ins_per_station_day: u32,
}

impl Params {
    pub fn validate(&self) -> Result<(), String> {
        if self.stations == 0 || self.stations > STATIONS_MAX {
            return Err(format!("stations: 1 to {STATIONS_MAX}"));
        }
        if self.customers > CUSTOMERS_MAX {
            return Err(format!("customers: at most {CUSTOMERS_MAX}"));
        }
        if self.days == 0 || self.days > DAYS_MAX {
            return Err(format!("days: 1 to {DAYS_MAX}"));
        }
        if self.walk_ins_per_station_day > 5_000 {
            return Err("walk-ins: at most 5000 per station and day".into());
        }
        Ok(())
    }

    /// The first simulated day.
    pub fn start(&self) -> NaiveDate {
        self.end - Duration::days(i64::from(self.days) - 1)
    }
}

/// UTC microseconds of a local date and time.
pub fn local_us(date: NaiveDate, minute_of_day: u32) -> i64 {
    let t = date.and_time(NaiveTime::MIN).and_utc().timestamp_micros();
    t + i64::from(minute_of_day) * 60_000_000 - LOCAL_OFFSET_US
}

#[derive(Debug, Clone)]
pub struct Region {
    pub code: String,
    pub name: String,
    /// The province as its plate character.
    pub province: String,
}

#[derive(Debug, Clone)]
pub struct Station {
    pub code: String,
    pub name: String,
    pub region: usize,
    pub address: String,
    pub lat: f64,
    pub lon: f64,
}

/// A product the simulator sells beyond the built-in fuel grades and services.
#[derive(Debug, Clone)]
pub struct Product {
    pub code: String,
    pub name: String,
    /// fuel | ev | service | non_fuel
    pub kind: &'static str,
    pub category: Option<String>,
}

/// A price taking effect at a station.
#[derive(Debug, Clone)]
pub struct Price {
    pub station: usize,
    pub product: String,
    pub unit_price_fen: i64,
    pub effective_from_us: i64,
}

#[derive(Debug, Clone)]
pub struct Promotion {
    pub name: String,
    pub min_amount_fen: i64,
    pub bonus_fen: i64,
    pub valid_from_us: i64,
}

/// How a customer buys fuel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behaviour {
    /// Drives to work; fills up about once a week, mostly at the home station, at rush
    /// hours on working days.
    Commuter,
    /// A taxi or ride-hailing driver: daily, at any hour.
    Taxi,
    /// A company with a fleet of trucks: sub-cards limited to diesel, bound plates, daily
    /// amount limits; fills during working hours.
    Fleet,
    /// Comes now and then, anywhere.
    Occasional,
    /// Watches the announced price adjustments: fills up the day before a rise, waits
    /// for a cut.
    PriceSensitive,
    /// Like a commuter until the day they stop coming.
    Churner,
}

impl Behaviour {
    pub fn as_str(self) -> &'static str {
        match self {
            Behaviour::Commuter => "commuter",
            Behaviour::Taxi => "taxi",
            Behaviour::Fleet => "fleet",
            Behaviour::Occasional => "occasional",
            Behaviour::PriceSensitive => "price_sensitive",
            Behaviour::Churner => "churner",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Vehicle {
    pub plate: String,
    pub model: String,
    pub colour: String,
    pub fuel_type: String,
    pub tank_capacity_ml: i64,
    /// The grade this vehicle takes.
    pub product: String,
}

#[derive(Debug, Clone)]
pub struct Card {
    pub id: String,
    pub card_no: String,
    /// personal | company | fleet_main | fleet_sub
    pub kind: &'static str,
    /// Index of the main card in the customer's cards, for a sub-card.
    pub main: Option<usize>,
    /// Index of the vehicle the card is for.
    pub vehicle: Option<usize>,
    pub rules: CardRules,
}

#[derive(Debug, Clone)]
pub struct Customer {
    pub id: String,
    pub member_code: String,
    /// individual | company
    pub kind: &'static str,
    pub name: String,
    pub phone: String,
    pub birthday: Option<String>,
    pub occupation: Option<String>,
    pub industry: Option<String>,
    pub home_station: usize,
    /// walk_in | leaflet | referral | partner | census
    pub source: &'static str,
    pub behaviour: Behaviour,
    pub joined_us: i64,
    pub consent_marketing: bool,
    pub vehicles: Vec<Vehicle>,
    pub cards: Vec<Card>,
    /// Mean days between fills, per vehicle.
    pub interval_days: f64,
    /// The day index (from the start) after which a churner never comes back.
    pub churn_day: Option<u32>,
    /// Pays by card most of the time (else shows the card for points and pays by
    /// phone).
    pub pays_by_card: bool,
}

/// The network and its people.
#[derive(Debug, Clone)]
pub struct World {
    pub params: Params,
    pub regions: Vec<Region>,
    pub stations: Vec<Station>,
    pub products: Vec<Product>,
    pub prices: Vec<Price>,
    pub promotions: Vec<Promotion>,
    pub customers: Vec<Customer>,
}

/// One line of a visit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    pub product: String,
    pub volume_ml: i64,
    pub quantity: i64,
    pub unit_price_fen: i64,
    pub pump_no: Option<i64>,
}

/// How a visit pays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pay {
    Card,
    Cash,
    Wechat,
    Alipay,
    BankCard,
}

impl Pay {
    pub fn method(self) -> &'static str {
        match self {
            Pay::Card => "card",
            Pay::Cash => "cash",
            Pay::Wechat => "wechat",
            Pay::Alipay => "alipay",
            Pay::BankCard => "bank_card",
        }
    }
}

/// A visit to a station: a sale, with who it is for and how it pays.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Visit {
    pub at_us: i64,
    pub station: usize,
    pub pos_txn_id: String,
    /// (customer index, card index) of a member; `None` for a walk-in.
    pub member: Option<(usize, usize)>,
    pub lines: Vec<Line>,
    pub pay: Pay,
    /// What the customer tops the paying card up by when it cannot cover the sale.
    pub top_up_fen: i64,
}

/// Fuel grades with their base pump prices (fen per litre) at the start.
const FUEL_PRICES: &[(&str, i64)] = &[
    ("GASOLINE_92", 742),
    ("GASOLINE_95", 789),
    ("GASOLINE_98", 869),
    ("DIESEL_0", 718),
];

/// Shop items: code, name, category, price in fen.
const SHOP: &[(&str, &str, &str, i64)] = &[
    ("WATER_550", "矿泉水 550ml", "drinks", 300),
    ("TEA_500", "冰红茶 500ml", "drinks", 450),
    ("SNACK_CHIPS", "薯片", "snacks", 850),
    ("INSTANT_NOODLES", "方便面", "snacks", 550),
    ("ENGINE_OIL_4L", "机油 4L", "car_care", 26_800),
    ("WASHER_FLUID", "玻璃水", "car_care", 1_500),
];

/// A UUIDv7 from the simulated time and the stream: time-ordered like the ids of live
/// rows, and reproducible.
pub fn sim_id(rng: &mut ChaCha8Rng, at_us: i64) -> String {
    let random: [u8; 10] = rng.gen();
    uuid::Builder::from_unix_timestamp_millis((at_us / 1000).max(0) as u64, &random)
        .into_uuid()
        .to_string()
}

fn pick<'a, T>(rng: &mut ChaCha8Rng, xs: &'a [T]) -> &'a T {
    &xs[rng.gen_range(0..xs.len())]
}

/// Builds the network and its customers.
pub fn world(params: Params) -> World {
    let mut rng = ChaCha8Rng::seed_from_u64(params.seed);
    let start = params.start();
    let start_us = local_us(start, 0);
    let regions: Vec<Region> = names::REGIONS
        .iter()
        .take(params.stations.div_ceil(4).clamp(1, names::REGIONS.len()))
        .map(|(code, name, province, _, _)| Region {
            code: code.to_string(),
            name: name.to_string(),
            province: province.to_string(),
        })
        .collect();
    let stations: Vec<Station> = (0..params.stations)
        .map(|i| {
            let region = i % regions.len();
            let (code, city, _, lat, lon) = names::REGIONS[region];
            let road = pick(&mut rng, names::ROADS);
            Station {
                code: format!("{code}{:03}", i / regions.len() + 1),
                name: format!("{city}{road}加油站"),
                region,
                address: format!("{city}{road}{}号", rng.gen_range(1..400)),
                lat: lat + rng.gen_range(-0.15..0.15),
                lon: lon + rng.gen_range(-0.15..0.15),
            }
        })
        .collect();
    let products = SHOP
        .iter()
        .map(|(code, name, category, _)| Product {
            code: code.to_string(),
            name: name.to_string(),
            kind: "non_fuel",
            category: Some(category.to_string()),
        })
        .collect();
    let prices = price_history(&mut rng, &params, &stations);
    let promotions = vec![
        Promotion {
            name: "充500送10".into(),
            min_amount_fen: 50_000,
            bonus_fen: 1_000,
            valid_from_us: start_us - DAY_US,
        },
        Promotion {
            name: "充1000送30".into(),
            min_amount_fen: 100_000,
            bonus_fen: 3_000,
            valid_from_us: start_us - DAY_US,
        },
        Promotion {
            name: "充2000送80".into(),
            min_amount_fen: 200_000,
            bonus_fen: 8_000,
            valid_from_us: start_us - DAY_US,
        },
    ];
    let mut customers = Vec::with_capacity(params.customers);
    for i in 0..params.customers {
        customers.push(customer(&mut rng, &params, &stations, &regions, i));
    }
    World {
        params,
        regions,
        stations,
        products,
        prices,
        promotions,
        customers,
    }
}

/// Pump prices: a national move every ten working days (up, down or unchanged), the
/// same for every station of a region, each region a few fen apart.
fn price_history(rng: &mut ChaCha8Rng, params: &Params, stations: &[Station]) -> Vec<Price> {
    let start = params.start();
    let mut out = Vec::new();
    let region_offset: Vec<i64> = (0..names::REGIONS.len())
        .map(|_| rng.gen_range(-6..=6))
        .collect();
    let mut base: Vec<i64> = FUEL_PRICES.iter().map(|(_, p)| *p).collect();
    let emit = |out: &mut Vec<Price>, base: &[i64], from_us: i64| {
        for (s, st) in stations.iter().enumerate() {
            for (k, (code, _)) in FUEL_PRICES.iter().enumerate() {
                out.push(Price {
                    station: s,
                    product: code.to_string(),
                    unit_price_fen: base[k] + region_offset[st.region],
                    effective_from_us: from_us,
                });
            }
            out.push(Price {
                station: s,
                product: "CAR_WASH".into(),
                unit_price_fen: 2_500,
                effective_from_us: from_us,
            });
            for (code, _, _, fen) in SHOP {
                out.push(Price {
                    station: s,
                    product: code.to_string(),
                    unit_price_fen: *fen,
                    effective_from_us: from_us,
                });
            }
        }
    };
    emit(&mut out, &base, local_us(start, 0) - DAY_US);
    let mut working = 0;
    for d in 0..params.days {
        let date = start + Duration::days(i64::from(d));
        if calendar::is_working_day(date) {
            working += 1;
        }
        if working == 10 {
            working = 0;
            // Adjustments take effect at midnight; about one in five is skipped because
            // the move is under the 50 CNY/tonne threshold.
            if rng.gen_range(0..5) == 0 {
                continue;
            }
            let step: i64 = rng.gen_range(-22..=22);
            if step == 0 {
                continue;
            }
            for (k, b) in base.iter_mut().enumerate() {
                // Diesel moves a little less than gasoline per litre.
                let s = if FUEL_PRICES[k].0.starts_with("DIESEL") {
                    step * 9 / 10
                } else {
                    step
                };
                *b = (*b + s).clamp(550, 1_100);
            }
            emit(&mut out, &base, local_us(date + Duration::days(1), 0));
        }
    }
    out
}

fn plate(rng: &mut ChaCha8Rng, province: &str) -> String {
    const LETTERS: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ";
    const TAIL: &[u8] = b"0123456789ABCDEFGHJKLMNPQRSTUVWXYZ";
    let mut s = String::from(province);
    s.push(char::from(LETTERS[rng.gen_range(0..12)]));
    for k in 0..5 {
        let set = if k < 2 { TAIL } else { &TAIL[..10] };
        s.push(char::from(set[rng.gen_range(0..set.len())]));
    }
    s
}

fn card_no(rng: &mut ChaCha8Rng, kind: &str, serial: usize) -> String {
    let kind_digits = match kind {
        "personal" => "01",
        "company" => "02",
        "fleet_main" => "03",
        "fleet_sub" => "04",
        _ => "05",
    };
    // The serial keeps numbers unique; the random digits keep them unguessable.
    let random: u32 = rng.gen_range(0..1_000);
    let body = format!("1000{kind_digits}{serial:09}{random:03}");
    CardNo::from_body(&body)
        .expect("18 digits")
        .as_str()
        .to_string()
}

fn customer(
    rng: &mut ChaCha8Rng,
    params: &Params,
    stations: &[Station],
    regions: &[Region],
    i: usize,
) -> Customer {
    let start_us = local_us(params.start(), 0);
    let roll = rng.gen_range(0..1000);
    let behaviour = match roll {
        // Most members of a loyalty scheme come now and then; regulars are a minority.
        0..=119 => Behaviour::Commuter,
        120..=126 => Behaviour::Taxi,
        127..=130 => Behaviour::Fleet,
        131..=749 => Behaviour::Occasional,
        750..=829 => Behaviour::PriceSensitive,
        _ => Behaviour::Churner,
    };
    let home_station = rng.gen_range(0..stations.len());
    let province = regions[stations[home_station].region].province.clone();
    // Most members joined before the simulated period; some join during it.
    let joined_us = if rng.gen_range(0..100) < 82 {
        start_us - rng.gen_range(1..1_000) * DAY_US + rng.gen_range(8..20) * 3_600_000_000
    } else {
        start_us
            + rng.gen_range(0..i64::from(params.days)) * DAY_US
            + rng.gen_range(8..20) * 3_600_000_000
    };
    let id = sim_id(rng, joined_us);
    let member_code = format!("8{:09}", 100_000_000 + i);
    let phone = format!(
        "1{}{:09}",
        pick(rng, &[3, 5, 7, 8, 9]),
        rng.gen_range(0..1_000_000_000u32)
    );
    let source = *pick(
        rng,
        &[
            "walk_in", "walk_in", "walk_in", "leaflet", "referral", "partner", "census",
        ],
    );
    let churn_day = (behaviour == Behaviour::Churner).then(|| rng.gen_range(0..params.days));
    let serial = i * 64;
    if behaviour == Behaviour::Fleet {
        let name = format!(
            "{}{}{}",
            regions[stations[home_station].region].name,
            pick(rng, names::COMPANY_WORDS),
            pick(rng, names::COMPANY_KINDS)
        );
        let industry = *pick(rng, &["logistics", "construction", "car_rental", "bus"]);
        let trucks = rng.gen_range(2..=8);
        let mut vehicles = Vec::new();
        let mut cards = vec![Card {
            id: sim_id(rng, joined_us),
            card_no: card_no(rng, "fleet_main", serial),
            kind: "fleet_main",
            main: None,
            vehicle: None,
            rules: CardRules::default(),
        }];
        for t in 0..trucks {
            let plate = plate(rng, &province);
            vehicles.push(Vehicle {
                plate: plate.clone(),
                model: pick(rng, names::TRUCKS).to_string(),
                colour: pick(rng, names::COLOURS).to_string(),
                fuel_type: "diesel".into(),
                tank_capacity_ml: rng.gen_range(20..=40) * 10_000,
                product: "DIESEL_0".into(),
            });
            let rules = CardRules {
                plate: Some(Rule {
                    value: plate,
                    hard: true,
                }),
                products: Some(Rule {
                    value: vec!["DIESEL_0".into()],
                    hard: true,
                }),
                categories: Some(Rule {
                    value: vec!["drinks".into(), "snacks".into()],
                    hard: true,
                }),
                amount_per_day_fen: Some(Rule {
                    value: 500_000,
                    hard: true,
                }),
                sales_per_day: Some(Rule {
                    value: 3,
                    hard: false,
                }),
                ..CardRules::default()
            };
            cards.push(Card {
                id: sim_id(rng, joined_us),
                card_no: card_no(rng, "fleet_sub", serial + 1 + t),
                kind: "fleet_sub",
                main: Some(0),
                vehicle: Some(t),
                rules,
            });
        }
        return Customer {
            id,
            member_code,
            kind: "company",
            name,
            phone,
            birthday: None,
            occupation: None,
            industry: Some(industry.into()),
            home_station,
            source: if rng.gen_bool(0.5) { "census" } else { source },
            behaviour,
            joined_us,
            consent_marketing: true,
            vehicles,
            cards,
            interval_days: rng.gen_range(2.5..4.5),
            churn_day,
            pays_by_card: true,
        };
    }
    let name = format!(
        "{}{}",
        pick(rng, names::SURNAMES),
        pick(rng, names::GIVEN_NAMES)
    );
    let (model, tank_l, product) = match behaviour {
        Behaviour::Taxi => (
            *pick(rng, names::TAXIS),
            rng.gen_range(45..=60),
            "GASOLINE_92",
        ),
        _ => {
            let (m, t, p) = *pick(rng, names::CARS);
            (m, t, p)
        }
    };
    let vehicle = Vehicle {
        plate: plate(rng, &province),
        model: model.to_string(),
        colour: pick(rng, names::COLOURS).to_string(),
        fuel_type: "gasoline".into(),
        tank_capacity_ml: tank_l * 1_000,
        product: product.to_string(),
    };
    let year = rng.gen_range(1960..=2003);
    let birthday = format!(
        "{year}-{:02}-{:02}",
        rng.gen_range(1..=12),
        rng.gen_range(1..=28)
    );
    let interval_days = match behaviour {
        Behaviour::Commuter | Behaviour::Churner => rng.gen_range(6.0..12.0),
        Behaviour::Taxi => rng.gen_range(1.0..1.6),
        Behaviour::Occasional => rng.gen_range(30.0..120.0),
        Behaviour::PriceSensitive => rng.gen_range(6.0..12.0),
        Behaviour::Fleet => unreachable!("fleets are built above"),
    };
    Customer {
        id,
        member_code,
        kind: "individual",
        name,
        phone,
        birthday: Some(birthday),
        occupation: Some(
            if behaviour == Behaviour::Taxi {
                "出租车司机"
            } else {
                pick(rng, names::OCCUPATIONS)
            }
            .to_string(),
        ),
        industry: None,
        home_station,
        source,
        behaviour,
        joined_us,
        consent_marketing: rng.gen_bool(0.7),
        vehicles: vec![vehicle],
        cards: vec![Card {
            id: sim_id(rng, joined_us),
            card_no: card_no(rng, "personal", serial),
            kind: "personal",
            main: None,
            vehicle: Some(0),
            rules: CardRules::default(),
        }],
        interval_days,
        churn_day,
        pays_by_card: rng.gen_bool(0.75),
    }
}

/// The visits of the simulated period, one day at a time.
pub struct Days<'w> {
    world: &'w World,
    rng: ChaCha8Rng,
    day: u32,
    /// Per customer and card: the day index of the next fill.
    next_fill: Vec<Vec<f64>>,
    /// Per station, the number of sales so far today (for pos_txn_id).
    seq: Vec<u32>,
    /// Days (indexes) on which a price rise takes effect, for price-sensitive drivers.
    rises: Vec<u32>,
}

impl World {
    /// The day-by-day visits of this world.
    pub fn days(&self) -> Days<'_> {
        // A stream of its own, so that the visits do not depend on how many draws the
        // world took.
        let mut rng = ChaCha8Rng::seed_from_u64(self.params.seed ^ 0x005e_ed0f_da75);
        let start_us = local_us(self.params.start(), 0);
        let next_fill = self
            .customers
            .iter()
            .map(|c| {
                c.cards
                    .iter()
                    .map(|card| {
                        if card.kind == "fleet_main" {
                            return f64::INFINITY;
                        }
                        let joined_day = ((c.joined_us - start_us) as f64 / DAY_US as f64).ceil();
                        joined_day.max(0.0) + rng.gen_range(0.0..c.interval_days)
                    })
                    .collect()
            })
            .collect();
        Days {
            world: self,
            rng,
            day: 0,
            next_fill,
            seq: vec![0; self.stations.len()],
            rises: self.price_rises(),
        }
    }

    /// Day indexes on which a gasoline 92# price rise takes effect (any station; the
    /// moves are national).
    fn price_rises(&self) -> Vec<u32> {
        let start_us = local_us(self.params.start(), 0);
        let mut last: Option<i64> = None;
        let mut out = Vec::new();
        for p in self
            .prices
            .iter()
            .filter(|p| p.station == 0 && p.product == "GASOLINE_92")
        {
            if let Some(prev) = last {
                if p.unit_price_fen > prev && p.effective_from_us >= start_us {
                    out.push(((p.effective_from_us - start_us) / DAY_US) as u32);
                }
            }
            last = Some(p.unit_price_fen);
        }
        out
    }

    /// The price of a product at a station at a time.
    pub fn price_at(&self, station: usize, product: &str, at_us: i64) -> Option<i64> {
        self.prices
            .iter()
            .filter(|p| {
                p.station == station && p.product == product && p.effective_from_us <= at_us
            })
            .max_by_key(|p| p.effective_from_us)
            .map(|p| p.unit_price_fen)
    }
}

impl Days<'_> {
    fn minute(&mut self, behaviour: Option<Behaviour>, working: bool) -> u32 {
        let r = &mut self.rng;
        match behaviour {
            Some(Behaviour::Commuter | Behaviour::Churner | Behaviour::PriceSensitive)
                if working =>
            {
                // Rush hours, with the evening peak the larger.
                match r.gen_range(0..10) {
                    0..=3 => r.gen_range(7 * 60..9 * 60 + 30),
                    4..=8 => r.gen_range(17 * 60..20 * 60),
                    _ => r.gen_range(10 * 60..22 * 60),
                }
            }
            Some(Behaviour::Taxi) => {
                // Shift changes at 4 and 16; some fill at night.
                match r.gen_range(0..10) {
                    0..=2 => r.gen_range(3 * 60 + 30..5 * 60 + 30),
                    3..=5 => r.gen_range(15 * 60 + 30..17 * 60),
                    6 => r.gen_range(0..3 * 60),
                    _ => r.gen_range(6 * 60..23 * 60 + 59),
                }
            }
            Some(Behaviour::Fleet) => r.gen_range(6 * 60..18 * 60),
            _ => {
                // Walk-ins and weekend drivers: a broad day with a midday bulge.
                if r.gen_bool(0.3) {
                    r.gen_range(10 * 60..15 * 60)
                } else {
                    r.gen_range(6 * 60..23 * 60)
                }
            }
        }
    }

    fn shop_lines(&mut self, lines: &mut Vec<Line>, car_wash_ok: bool) {
        if self.rng.gen_range(0..100) < 14 {
            for _ in 0..self.rng.gen_range(1..=2) {
                let (code, _, _, fen) = *pick(&mut self.rng, SHOP);
                if lines.iter().any(|l| l.product == code) {
                    continue;
                }
                lines.push(Line {
                    product: code.into(),
                    volume_ml: 0,
                    quantity: self.rng.gen_range(1..=3),
                    unit_price_fen: fen,
                    pump_no: None,
                });
            }
        }
        if car_wash_ok && self.rng.gen_range(0..100) < 4 {
            lines.push(Line {
                product: "CAR_WASH".into(),
                volume_ml: 0,
                quantity: 1,
                unit_price_fen: 2_500,
                pump_no: None,
            });
        }
    }

    fn txn_id(&mut self, station: usize, date: NaiveDate) -> String {
        self.seq[station] += 1;
        format!("SIM{}-{:05}", date.format("%Y%m%d"), self.seq[station])
    }
}

impl Iterator for Days<'_> {
    type Item = (NaiveDate, Vec<Visit>);

    fn next(&mut self) -> Option<Self::Item> {
        let w = self.world;
        if self.day >= w.params.days {
            return None;
        }
        let d = self.day;
        self.day += 1;
        let date = w.params.start() + Duration::days(i64::from(d));
        let working = calendar::is_working_day(date);
        let season = calendar::season(date);
        let day_us = local_us(date, 0);
        self.seq.iter_mut().for_each(|s| *s = 0);
        let rise_tomorrow = self.rises.contains(&(d + 1));
        let rise_soon = self.rises.iter().any(|r| *r > d && *r <= d + 4);
        let mut visits = Vec::new();

        for ci in 0..w.customers.len() {
            let c = &w.customers[ci];
            if c.joined_us >= day_us + DAY_US {
                continue;
            }
            if c.churn_day.is_some_and(|cd| d > cd) {
                continue;
            }
            for ki in 0..c.cards.len() {
                let due = self.next_fill[ci][ki];
                if !due.is_finite() {
                    continue;
                }
                let mut go = f64::from(d) + 1.0 > due;
                // Price-sensitive drivers pull a fill forward before a rise and put it off
                // while one is unlikely.
                if c.behaviour == Behaviour::PriceSensitive {
                    if rise_tomorrow && due < f64::from(d) + 4.0 {
                        go = true;
                    } else if go && !rise_soon && self.rng.gen_bool(0.25) {
                        go = false;
                    }
                }
                if !go {
                    continue;
                }
                let factor = calendar::day_factor(c.behaviour, season, working);
                let interval = c.interval_days * self.rng.gen_range(0.7..1.3) / factor.max(0.2);
                self.next_fill[ci][ki] = f64::from(d) + interval.max(0.8);
                // A holiday away from home: the fill happens elsewhere, not here.
                if self.rng.gen::<f64>() > factor.min(1.0) {
                    continue;
                }
                let card = &c.cards[ki];
                let vehicle = &c.vehicles[card.vehicle.unwrap_or(0)];
                let station = match c.behaviour {
                    Behaviour::Occasional | Behaviour::Taxi => {
                        if self.rng.gen_bool(0.5) {
                            c.home_station
                        } else {
                            self.rng.gen_range(0..w.stations.len())
                        }
                    }
                    _ => {
                        if self.rng.gen_range(0..100) < 85 {
                            c.home_station
                        } else {
                            self.rng.gen_range(0..w.stations.len())
                        }
                    }
                };
                let minute = self.minute(Some(c.behaviour), working);
                let at_us =
                    day_us + i64::from(minute) * 60_000_000 + self.rng.gen_range(0..60_000_000);
                let fill = match c.behaviour {
                    Behaviour::Taxi => self.rng.gen_range(0.45..0.8),
                    Behaviour::PriceSensitive if rise_tomorrow => self.rng.gen_range(0.8..0.98),
                    _ => self.rng.gen_range(0.5..0.95),
                };
                let volume_ml = ((vehicle.tank_capacity_ml as f64 * fill) as i64 / 10) * 10;
                let Some(price) = w.price_at(station, &vehicle.product, at_us) else {
                    continue;
                };
                let mut lines = vec![Line {
                    product: vehicle.product.clone(),
                    volume_ml: volume_ml.max(1_000),
                    quantity: 0,
                    unit_price_fen: price,
                    pump_no: Some(self.rng.gen_range(1..=12)),
                }];
                if c.behaviour != Behaviour::Fleet {
                    self.shop_lines(&mut lines, true);
                } else if self.rng.gen_range(0..100) < 10 {
                    self.shop_lines(&mut lines, false);
                }
                let pay = if c.pays_by_card || self.rng.gen_range(0..100) < 30 {
                    Pay::Card
                } else {
                    *pick(
                        &mut self.rng,
                        &[Pay::Wechat, Pay::Wechat, Pay::Alipay, Pay::Cash],
                    )
                };
                let top_up_fen = match c.behaviour {
                    Behaviour::Fleet => *pick(&mut self.rng, &[2_000_000, 3_000_000, 5_000_000]),
                    Behaviour::Taxi => *pick(&mut self.rng, &[100_000, 200_000]),
                    _ => *pick(&mut self.rng, &[50_000, 100_000, 100_000, 200_000]),
                };
                let pos_txn_id = self.txn_id(station, date);
                visits.push(Visit {
                    at_us,
                    station,
                    pos_txn_id,
                    member: Some((ci, ki)),
                    lines,
                    pay,
                    top_up_fen,
                });
            }
        }

        // Walk-ins: anonymous drivers paying at the till.
        let walk_factor = calendar::walk_in_factor(season, working);
        for s in 0..w.stations.len() {
            let mean = f64::from(w.params.walk_ins_per_station_day) * walk_factor;
            let n = (mean * self.rng.gen_range(0.8..1.2)).round() as u32;
            for _ in 0..n {
                let minute = self.minute(None, working);
                let at_us =
                    day_us + i64::from(minute) * 60_000_000 + self.rng.gen_range(0..60_000_000);
                let (product, litres) = match self.rng.gen_range(0..100) {
                    0..=54 => ("GASOLINE_92", self.rng.gen_range(15..55)),
                    55..=84 => ("GASOLINE_95", self.rng.gen_range(15..55)),
                    85..=89 => ("GASOLINE_98", self.rng.gen_range(20..60)),
                    _ => ("DIESEL_0", self.rng.gen_range(30..150)),
                };
                let Some(price) = w.price_at(s, product, at_us) else {
                    continue;
                };
                let mut lines = Vec::new();
                if self.rng.gen_range(0..100) < 92 {
                    lines.push(Line {
                        product: product.into(),
                        volume_ml: litres * 1_000 + self.rng.gen_range(0..100) * 10,
                        quantity: 0,
                        unit_price_fen: price,
                        pump_no: Some(self.rng.gen_range(1..=12)),
                    });
                    self.shop_lines(&mut lines, true);
                } else {
                    // Shop only.
                    while lines.is_empty() {
                        self.shop_lines(&mut lines, true);
                    }
                }
                let pay = *pick(
                    &mut self.rng,
                    &[
                        Pay::Wechat,
                        Pay::Wechat,
                        Pay::Wechat,
                        Pay::Alipay,
                        Pay::Alipay,
                        Pay::Cash,
                        Pay::BankCard,
                    ],
                );
                let pos_txn_id = self.txn_id(s, date);
                visits.push(Visit {
                    at_us,
                    station: s,
                    pos_txn_id,
                    member: None,
                    lines,
                    pay,
                    top_up_fen: 0,
                });
            }
        }
        visits.sort_by(|a, b| {
            a.at_us
                .cmp(&b.at_us)
                .then(a.station.cmp(&b.station))
                .then(a.pos_txn_id.cmp(&b.pos_txn_id))
        });
        Some((date, visits))
    }
}

/// The weekday of a date, 1 = Monday.
pub fn weekday(date: NaiveDate) -> u32 {
    date.weekday().number_from_monday()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(seed: u64) -> Params {
        Params {
            stations: 4,
            customers: 300,
            days: 60,
            seed,
            end: NaiveDate::from_ymd_opt(2026, 3, 1).unwrap(),
            walk_ins_per_station_day: 20,
        }
    }

    fn everything(p: Params) -> String {
        let w = world(p);
        let mut out = format!("{:?}\n", w);
        for (date, visits) in w.days() {
            out.push_str(&format!("{date} {visits:?}\n"));
        }
        out
    }

    #[test]
    fn the_same_seed_gives_the_same_world_and_visits() {
        let a = everything(params(7));
        assert_eq!(a, everything(params(7)));
        assert_ne!(a, everything(params(8)));
    }

    #[test]
    fn card_numbers_are_valid_and_unique_and_ids_unique() {
        let w = world(params(1));
        let mut nos = std::collections::HashSet::new();
        let mut ids = std::collections::HashSet::new();
        for c in &w.customers {
            assert!(ids.insert(c.id.clone()));
            for card in &c.cards {
                CardNo::parse(&card.card_no).expect("valid card number");
                assert!(nos.insert(card.card_no.clone()), "{}", card.card_no);
                assert!(ids.insert(card.id.clone()));
            }
        }
    }

    #[test]
    fn prices_move_about_every_ten_working_days() {
        let w = world(Params {
            days: 365,
            ..params(3)
        });
        let moves = w
            .prices
            .iter()
            .filter(|p| p.station == 0 && p.product == "GASOLINE_92")
            .count()
            - 1;
        // About 25 windows a year, some skipped.
        assert!((12..=26).contains(&moves), "{moves} moves");
    }

    #[test]
    fn the_spring_festival_changes_how_much_is_sold() {
        let w = world(Params {
            customers: 2_000,
            days: 60,
            end: NaiveDate::from_ymd_opt(2026, 3, 10).unwrap(),
            ..params(5)
        });
        let per_day: Vec<(NaiveDate, usize)> = w
            .days()
            .map(|(d, v)| (d, v.iter().filter(|v| v.member.is_some()).count()))
            .collect();
        let festival = NaiveDate::from_ymd_opt(2026, 2, 17).unwrap();
        let avg = |from: i64, to: i64| {
            let xs: Vec<usize> = per_day
                .iter()
                .filter(|(d, _)| {
                    let k = (*d - festival).num_days();
                    k >= from && k < to
                })
                .map(|(_, n)| *n)
                .collect();
            xs.iter().sum::<usize>() as f64 / xs.len() as f64
        };
        let before = avg(-10, -1);
        let during = avg(0, 6);
        assert!(before > during * 1.3, "before {before}, during {during}");
    }

    #[test]
    fn churners_stop_and_walk_ins_are_anonymous() {
        let p = params(11);
        let w = world(p);
        let mut last_visit = vec![0u32; w.customers.len()];
        let mut walk_ins = 0;
        for (i, (_, visits)) in w.days().enumerate() {
            for v in visits {
                match v.member {
                    Some((c, _)) => last_visit[c] = i as u32,
                    None => walk_ins += 1,
                }
            }
        }
        assert!(walk_ins > 0);
        for (c, cust) in w.customers.iter().enumerate() {
            if let Some(day) = cust.churn_day {
                assert!(last_visit[c] <= day, "customer {c} came after churning");
            }
        }
    }
}
