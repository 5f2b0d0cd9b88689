//! The daily jobs of the loyalty programme: points expiry, the tier review and the
//! tiers' monthly car-wash coupons, each idempotent for its day.

use crate::error::AppError;
use crate::{clock, loyalty};
use chrono::{Datelike, NaiveDate};
use forecourt_core::ledger::{account, Transfer, Unit};
use forecourt_core::points_expiry::{self, ExpiryPolicy};
use forecourt_core::tiers::{self, Figures};
use forecourt_store::ledger::NewJournal;
use forecourt_store::{Store, StoreError};
use std::collections::BTreeMap;

const DAY_US: i64 = 86_400_000_000;

/// What a daily run did.
#[derive(Debug, Default, Clone, serde::Serialize, PartialEq, Eq)]
pub struct RunReport {
    pub date: String,
    pub members_expired: usize,
    pub points_expired: i64,
    pub tiers_up: usize,
    pub tiers_down: usize,
    pub grace_started: usize,
    pub car_wash_coupons: usize,
}

use clock::network_day_end_us as end_of_day_us;

/// Expiry, then the tier review, then the month's car-wash coupons. Every part is
/// idempotent: running it again for the same day changes nothing.
pub async fn daily_run(store: &Store, day: NaiveDate) -> Result<RunReport, AppError> {
    let cfg = loyalty::load_config(store).await?;
    let mut report = RunReport {
        date: day.to_string(),
        ..RunReport::default()
    };
    let (members, points) = expire(store, &cfg.expiry, day).await?;
    report.members_expired = members;
    report.points_expired = points;

    // Tiers: figures over the window ending with the day.
    let now = end_of_day_us(day) - 1;
    let q = &cfg.qualification;
    let levels = cfg.levels();
    let rows = store
        .tier_review_rows(now - i64::from(q.window_days) * DAY_US)
        .await?;
    let mut changes = Vec::new();
    for (id, tier, overridden, below, m) in rows {
        let f = Figures {
            spend_fen: m.spend_fen,
            volume_ml: m.volume_ml,
            visits: m.visits,
        };
        let d = tiers::review(
            q,
            &levels,
            &tier,
            overridden.is_some(),
            below,
            &f,
            now,
            true,
        );
        if d.tier != tier || d.below_since_us != below {
            let rank = |c: &str| {
                levels
                    .iter()
                    .find(|l| l.code == c)
                    .map(|l| l.rank)
                    .unwrap_or(0)
            };
            if d.tier != tier {
                if rank(&d.tier) > rank(&tier) {
                    report.tiers_up += 1;
                } else {
                    report.tiers_down += 1;
                }
            } else if d.below_since_us.is_some() {
                report.grace_started += 1;
            }
            changes.push((id, d));
        }
    }
    for chunk in changes.chunks(500) {
        let mut tx = store.begin().await?;
        for (id, d) in chunk {
            tx.set_tier_state(id, &d.tier, d.below_since_us).await?;
        }
        tx.commit().await?;
    }

    // The month's free car washes of the tiers that give them.
    if let Some(t) = store.coupon_template(CAR_WASH_TEMPLATE).await? {
        let month = format!("{:04}{:02}", day.year(), day.month());
        let first = NaiveDate::from_ymd_opt(day.year(), day.month(), 1).unwrap_or(day);
        let from = end_of_day_us(first) - DAY_US;
        let members = store.car_wash_members().await?;
        for chunk in members.chunks(500) {
            let mut tx = store.begin().await?;
            for (id, washes) in chunk {
                for n in 1..=*washes {
                    let code = format!("WASH-{month}-{n}-{id}");
                    if tx.issue_template_coupon(&code, &t, Some(id), from).await? {
                        report.car_wash_coupons += 1;
                    }
                }
            }
            tx.commit().await?;
        }
    }
    Ok(report)
}

/// The built-in template of the tiers' monthly car wash.
pub const CAR_WASH_TEMPLATE: &str = "tier-car-wash";

/// Lapses what the policy says has lapsed by the end of `day`: one journal per member
/// a day, the lots' remainders set to zero. Returns (members, points).
pub async fn expire(
    store: &Store,
    policy: &ExpiryPolicy,
    day: NaiveDate,
) -> Result<(usize, i64), AppError> {
    if *policy == ExpiryPolicy::Never {
        return Ok((0, 0));
    }
    let mut by_member: BTreeMap<String, Vec<points_expiry::Lot>> = BTreeMap::new();
    for (id, lot) in store.all_open_lots().await? {
        if points_expiry::last_valid_day(policy, lot.earned_on).is_some_and(|d| d <= day) {
            by_member.entry(id).or_default().push(lot);
        }
    }
    let ids: Vec<String> = by_member.keys().cloned().collect();
    let mut members = 0;
    let mut points = 0;
    for chunk in ids.chunks(200) {
        let mut attempt = 0;
        loop {
            attempt += 1;
            match expire_chunk(store, policy, day, chunk).await {
                Ok((m, p)) => {
                    members += m;
                    points += p;
                    break;
                }
                Err(StoreError::Conflict(_) | StoreError::Retry) if attempt < 5 => continue,
                Err(e) => return Err(e.into()),
            }
        }
    }
    Ok((members, points))
}

async fn expire_chunk(
    store: &Store,
    policy: &ExpiryPolicy,
    day: NaiveDate,
    ids: &[String],
) -> Result<(usize, i64), StoreError> {
    let keys: Vec<String> = ids
        .iter()
        .map(|id| format!("points_expire:{id}:{day}"))
        .collect();
    let done = store.existing_journal_keys(&keys).await?;
    let mut tx = store.begin().await?;
    let mut members = 0;
    let mut total = 0;
    for (id, key) in ids.iter().zip(&keys) {
        if done.contains(key) {
            continue;
        }
        // Read again in the transaction: a spend may have taken from a lot meanwhile.
        let lots = tx.points_lots(id).await?;
        let takes = points_expiry::lapsing(policy, &lots, day);
        let sum: i64 = takes.iter().map(|t| t.points).sum();
        if sum <= 0 {
            continue;
        }
        let journal = NewJournal {
            idempotency_key: key.clone(),
            kind: "points_expire",
            station_id: None,
            occurred_at: end_of_day_us(day) - 1,
            memo: Some(format!("points expired ({} lots)", takes.len())),
        };
        tx.post(
            &journal,
            &[Transfer::new(
                account::customer_points(id),
                account::POINTS_EXPIRED,
                sum,
                Unit::Points,
            )],
            false,
        )
        .await?;
        let takes: Vec<(String, i64)> = takes.into_iter().map(|t| (t.lot_id, t.points)).collect();
        tx.take_from_lots(id, &takes, true).await?;
        members += 1;
        total += sum;
    }
    tx.commit().await?;
    Ok((members, total))
}
