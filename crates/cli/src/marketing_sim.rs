//! Leaflets and partners in the demo (issue 17 items 5-6), written through the
//! application's own use cases and deterministic from the simulation seed:
//!
//! - Six weeks before the end, 600 leaflets with single-use codes are handed out around
//!   one station at 0.50 元 each (seed 001). A few people (3 to 5) come to register
//!   with their leaflet's code in the weeks after; all but one or two of them buy, in
//!   cash at the till, some days later: the funnel reads 600 → a few sign-ups (about
//!   0.5 %) → fewer first sales, with the cost per new card.
//! - Two partner merchants (an insurer, 办油卡送保险, and a car wash, 洗车8折) with one
//!   offer each; members who visited lately claim them, and the partners redeem most
//!   of the codes a few hours to days later with their own keys.

use crate::desk_sim::app_err;
use anyhow::Context;
use chrono::TimeZone;
use forecourt_app::access::Actor;
use forecourt_app::clock::{rfc3339, Clock};
use forecourt_app::customers::CustomerBody;
use forecourt_app::leaflets::{self, BatchBody};
use forecourt_app::partners::{self, OfferBody, PartnerBody, RedeemBody};
use forecourt_app::{App, Outcome};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::json;

const DAY: i64 = 86_400_000_000;
const HOUR: i64 = 3_600_000_000;
/// Leaflets of the drop, and their printing cost in fen (0.50 元 each).
const LEAFLETS: i64 = 600;
const LEAFLET_COST_FEN: i64 = 50;
/// Members who claim a partner offer.
const CLAIMS: usize = 14;

/// What the simulation wrote.
#[derive(Debug, Default)]
pub struct MarketingSummary {
    pub signed_up: usize,
    pub first_sales: usize,
    pub claims: usize,
    pub redemptions: usize,
}

/// The network-local date of a moment, `YYYY-MM-DD`.
fn day_of(us: i64) -> String {
    forecourt_app::clock::local(forecourt_app::clock::NETWORK_TZ, us)
        .date
        .format("%Y-%m-%d")
        .to_string()
}

/// Moves a moment to the same day at `hour`:`minute` network time.
fn at_hour(us: i64, hour: u32, minute: u32) -> i64 {
    let tz = forecourt_app::clock::tz(forecourt_app::clock::NETWORK_TZ);
    let date = forecourt_app::clock::local(forecourt_app::clock::NETWORK_TZ, us).date;
    date.and_hms_opt(hour, minute, 0)
        .and_then(|n| tz.from_local_datetime(&n).single())
        .map_or(us, |t| t.timestamp_micros())
}

const NAMES: &[&str] = &["陈静", "刘洋", "黄磊", "吴敏", "郑凯", "林芳", "何涛"];

/// Writes the leaflet drop at `station` (a code) and the partners. `members` are
/// customers who visited lately (they claim the partner offers); `admin` is the
/// headquarters user.
pub async fn run(
    app: &App,
    admin: &str,
    station: &str,
    members: &[String],
    seed: u64,
    now_us: i64,
) -> anyhow::Result<MarketingSummary> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x1eaf_1e75);
    let user = app
        .store()
        .user_by_username(admin)
        .await?
        .with_context(|| format!("no user {admin}"))?;
    let me = Actor { user, source: None };
    let mut summary = MarketingSummary::default();

    // The leaflet drop, six weeks ago.
    let dropped = at_hour(now_us - 42 * DAY, 10, 0);
    let batch = leaflets::create_batch(
        &app.with_clock(Clock::fixed(dropped)),
        &me,
        BatchBody {
            name: "社区传单派发（600张）".into(),
            stations: vec![station.to_string()],
            dropped_on: day_of(dropped),
            quantity: LEAFLETS,
            cost_fen: LEAFLETS * LEAFLET_COST_FEN,
            code_kind: Some("unique".into()),
            public_code: None,
            coupon_template_id: None,
        },
    )
    .await
    .map_err(app_err("leaflet batch"))?;
    let batch_id = batch["id"].as_str().unwrap_or_default().to_string();
    let codes: Vec<String> = app
        .store()
        .leaflet_codes(&batch_id)
        .await?
        .into_iter()
        .map(|c| c.0)
        .collect();
    let pos = app
        .store()
        .station_by_code(station)
        .await?
        .with_context(|| format!("no station {station}"))?;
    let signups = rng.gen_range(3..=5);
    // Fewer buy than sign up: one or two of them never come back.
    let buyers = (signups - rng.gen_range(1..=2)).max(1);
    for i in 0..signups {
        let at = at_hour(
            dropped + rng.gen_range(1..21) * DAY,
            rng.gen_range(8..20),
            rng.gen_range(0..60),
        );
        let code = &codes[rng.gen_range(0..codes.len())];
        let phone = format!("139{:08}", rng.gen_range(0..100_000_000u32));
        let created = forecourt_app::customers::create_customer(
            &app.with_clock(Clock::fixed(at)),
            &me,
            CustomerBody {
                kind: "individual".into(),
                name: NAMES[i % NAMES.len()].into(),
                phone: Some(phone),
                vehicles: Vec::new(),
                contacts: Vec::new(),
                industry: None,
                birthday: None,
                occupation: None,
                home_station: Some(station.to_string()),
                source: None,
                source_code: None,
                consent_marketing: rng.gen_bool(0.6),
                consent_sensitive: false,
                tags: Vec::new(),
                notes: None,
                id_number: None,
                address: None,
                account_manager_id: None,
                referred_by: None,
                promo_code: Some(code.clone()),
            },
        )
        .await;
        let v = match created {
            Ok(Outcome::Created(v)) | Ok(Outcome::Done(v)) => v,
            Ok(Outcome::Pending(_)) => continue,
            // Two sign-ups drew the same code: the second one's leaflet was used.
            Err(e) if e.code == "promo_code_used" => continue,
            Err(e) => return Err(app_err("leaflet sign-up")(e)),
        };
        summary.signed_up += 1;
        // Most come back to fill up a few days later, paying cash.
        if summary.signed_up <= buyers {
            let sale_at = at + rng.gen_range(1..9) * DAY + rng.gen_range(0..6) * HOUR;
            if sale_at >= now_us {
                continue;
            }
            let till = app.with_clock(Clock::fixed(sale_at));
            let mut body = json!({
                "pos_txn_id": format!("LEAFLET-{batch_id}-{i}"),
                "station_code": station,
                "occurred_at": rfc3339(sale_at),
                "customer": {"member_code": v["member_code"]},
                "lines": [{"product_code": "GASOLINE_92", "volume_ml": rng.gen_range(25..55) * 1000, "unit_price_fen": 789}],
            });
            let q = forecourt_app::pos::quote(&till, pos.clone(), body.clone())
                .await
                .map_err(app_err("leaflet quote"))?;
            body["payments"] = json!([{"method": "cash", "amount_fen": q.body["net_amount_fen"]}]);
            forecourt_app::pos::sale(&till, pos.clone(), body)
                .await
                .map_err(app_err("leaflet sale"))?;
            summary.first_sales += 1;
        }
    }

    // Two partner merchants with one offer each.
    let start = now_us - 30 * DAY;
    let at_start = app.with_clock(Clock::fixed(start));
    let mut offers = Vec::new();
    for (name, category, contact, title, description) in [
        (
            "平安车险（城区营业部）",
            "insurance",
            "赵经理 010-6555 0101",
            "办油卡送保险：交强险九折",
            "持本站油卡的会员投保交强险享九折，另赠道路救援一年。",
        ),
        (
            "洁车坊洗车",
            "car_wash",
            "钱店长 010-6555 0202",
            "洗车8折",
            "持卡会员凭优惠码精致洗车享8折，每位会员限领一次。",
        ),
    ] {
        let created = partners::create_partner(
            &at_start,
            &me,
            PartnerBody {
                name: name.into(),
                category: category.into(),
                contact: Some(contact.into()),
            },
        )
        .await
        .map_err(app_err("partner"))?;
        let (Outcome::Created(p) | Outcome::Done(p) | Outcome::Pending(p)) = created;
        let id = p["id"].as_str().unwrap_or_default().to_string();
        let o = partners::create_offer(
            &at_start,
            &me,
            &id,
            OfferBody {
                title: title.into(),
                description: description.into(),
                valid_from: day_of(start),
                valid_until: day_of(now_us + 60 * DAY),
                per_member_limit: 1,
                tiers: Vec::new(),
            },
        )
        .await
        .map_err(app_err("partner offer"))?;
        let row = app
            .store()
            .partner(&id)
            .await?
            .context("the partner just made")?;
        offers.push((o["id"].as_str().unwrap_or_default().to_string(), row));
    }
    if offers.is_empty() || members.is_empty() {
        return Ok(summary);
    }
    let mut chosen: Vec<&String> = Vec::new();
    while chosen.len() < CLAIMS.min(members.len()) {
        let m = &members[rng.gen_range(0..members.len())];
        if !chosen.contains(&m) {
            chosen.push(m);
        }
    }
    for m in chosen {
        let (offer_id, partner) = &offers[rng.gen_range(0..offers.len())];
        let claimed_at = at_hour(
            start + rng.gen_range(1..28) * DAY,
            rng.gen_range(8..21),
            rng.gen_range(0..60),
        );
        let claim = match partners::claim(&app.with_clock(Clock::fixed(claimed_at)), m, offer_id)
            .await
        {
            Ok(c) => c,
            // A member without a usable card does not qualify.
            Err(e) if e.code == "offer_unavailable" || e.code == "customer_not_found" => continue,
            Err(e) => return Err(app_err("partner claim")(e)),
        };
        summary.claims += 1;
        let redeemed_at = claimed_at + rng.gen_range(2..120) * HOUR;
        if rng.gen_bool(0.75) && redeemed_at < now_us {
            partners::redeem(
                &app.with_clock(Clock::fixed(redeemed_at)),
                partner,
                RedeemBody { code: claim.code },
            )
            .await
            .map_err(app_err("partner redemption"))?;
            summary.redemptions += 1;
        }
    }
    Ok(summary)
}
