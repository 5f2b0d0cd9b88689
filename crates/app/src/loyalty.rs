//! The loyalty engine at the till: the rules in force (cached), what a sale earns and
//! why, discount coupons, referral rewards and the tier review on each sale. The
//! quote and the sale call the same functions on the same snapshot, so the quote
//! promises exactly what the sale gives.

use crate::clock::Local;
use crate::error::AppError;
use crate::App;
use forecourt_core::coupons::{self, Applied, CouponKind, CouponOffer};
use forecourt_core::ledger::{account, Transfer, Unit};
use forecourt_core::loyalty::{
    self, BonusRule, EarnRule, Earned, FactLine, MilestoneRule, PointsLine, RuleSet, SaleFacts,
};
use forecourt_core::points_expiry::ExpiryPolicy;
use forecourt_core::pricing::{split_proportionally, PricedSale, ProductKind};
use forecourt_core::tiers::{self, Figures, Level, Qualification};
use forecourt_store::loyalty::{MemberLoyalty, StoredRule, WindowMetric};
use forecourt_store::{Customer, Store, StoreError, Tier, Tx};
use serde::{Deserialize, Serialize};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long the rules in force are cached. A change made through this server is seen
/// at once (the cache is dropped); one made through another server within this time.
const CONFIG_TTL: Duration = Duration::from_secs(2);

const DAY_US: i64 = 86_400_000_000;

/// Referral rewards (以老带新).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Referral {
    pub referrer_points: i64,
    pub referee_points: i64,
    /// The referee's first sale of at least this net amount qualifies.
    pub min_net_fen: i64,
}

/// Everything the engine needs, read once and shared.
#[derive(Debug)]
pub struct LoyaltyConfig {
    pub rules: RuleSet,
    pub stored: Vec<StoredRule>,
    pub expiry: ExpiryPolicy,
    pub qualification: Qualification,
    pub referral: Referral,
    pub tiers: Vec<Tier>,
}

impl LoyaltyConfig {
    pub fn levels(&self) -> Vec<Level> {
        self.tiers
            .iter()
            .map(|t| Level {
                code: t.code.clone(),
                rank: t.rank,
                spend_fen: t.qualify_spend_fen,
                volume_ml: t.qualify_litres_ml,
                visits: t.qualify_visits,
            })
            .collect()
    }

    fn top_rank(&self) -> i64 {
        self.tiers.iter().map(|t| t.rank).max().unwrap_or(0)
    }
}

/// The cache of the configuration.
#[derive(Default)]
pub struct ConfigCache(Mutex<Option<(Arc<LoyaltyConfig>, Instant)>>);

impl ConfigCache {
    pub fn invalidate(&self) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }
}

/// The rule set of the active rules among the stored ones.
pub fn rule_set(stored: &[StoredRule]) -> Result<RuleSet, String> {
    let mut set = RuleSet::default();
    for r in stored.iter().filter(|r| r.active) {
        let bad = |e: serde_json::Error| format!("rule {} v{}: {e}", r.rule_id, r.version);
        match r.kind.as_str() {
            "earn" => {
                let mut e: EarnRule = serde_json::from_value(r.body.clone()).map_err(bad)?;
                e.id.clone_from(&r.rule_id);
                e.version = r.version;
                set.earn.push(e);
            }
            "bonus" => {
                let mut b: BonusRule = serde_json::from_value(r.body.clone()).map_err(bad)?;
                b.id.clone_from(&r.rule_id);
                b.version = r.version;
                set.bonuses.push(b);
            }
            "milestone" => {
                let mut m: MilestoneRule = serde_json::from_value(r.body.clone()).map_err(bad)?;
                m.id.clone_from(&r.rule_id);
                m.version = r.version;
                set.milestones.push(m);
            }
            other => return Err(format!("rule {}: unknown kind {other}", r.rule_id)),
        }
    }
    // Rules with products come before the generic one, so the most specific applies.
    set.earn.sort_by_key(|e| e.products.is_none());
    Ok(set)
}

async fn setting<T: for<'de> Deserialize<'de>>(
    store: &Store,
    key: &str,
    default: T,
) -> Result<T, AppError> {
    match store.loyalty_setting(key).await? {
        Some(v) => serde_json::from_str(&v)
            .map_err(|e| AppError::internal(format!("loyalty setting {key}: {e}"))),
        None => Ok(default),
    }
}

/// Reads the configuration from the store.
pub async fn load_config(store: &Store) -> Result<LoyaltyConfig, AppError> {
    let stored = store.loyalty_rules().await?;
    let rules = rule_set(&stored).map_err(AppError::internal)?;
    Ok(LoyaltyConfig {
        rules,
        stored,
        expiry: setting(store, "expiry", ExpiryPolicy::Never).await?,
        qualification: setting(store, "tiers", Qualification::default()).await?,
        referral: setting(
            store,
            "referral",
            Referral {
                referrer_points: 0,
                referee_points: 0,
                min_net_fen: 0,
            },
        )
        .await?,
        tiers: store.tiers().await?,
    })
}

/// The configuration in force (cached for a moment).
pub async fn config(state: &App) -> Result<Arc<LoyaltyConfig>, AppError> {
    let cache = &state.cache().loyalty;
    if let Some((c, at)) = cache.0.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
        if at.elapsed() < CONFIG_TTL {
            return Ok(c.clone());
        }
    }
    let c = Arc::new(load_config(state.store()).await?);
    *cache.0.lock().unwrap_or_else(|e| e.into_inner()) = Some((c.clone(), Instant::now()));
    Ok(c)
}

/// The discount coupons a sale names, applied to the priced sale.
pub async fn apply_coupons(
    tx: &mut Tx,
    codes: &[String],
    customer: Option<&Customer>,
    at: i64,
    priced: &mut PricedSale,
) -> Result<Vec<Applied>, AppError> {
    if codes.is_empty() {
        return Ok(Vec::new());
    }
    if codes.len() > 5 {
        return Err(AppError::validation("coupons", "at most 5 coupons a sale"));
    }
    let mut offers = Vec::with_capacity(codes.len());
    for code in codes {
        if offers.iter().any(|o: &CouponOffer| &o.code == code) {
            return Err(AppError::new("coupon_invalid", "a coupon is used once"));
        }
        let c = tx
            .member_coupon(code)
            .await?
            .ok_or_else(|| AppError::new("coupon_invalid", format!("no coupon {code}")))?;
        let owner_ok = match (&c.customer_id, customer) {
            (None, _) => true,
            (Some(owner), Some(cu)) => owner == &cu.customer_id,
            (Some(_), None) => false,
        };
        if c.state != "issued"
            || c.valid_from > at
            || c.valid_until.is_some_and(|u| u <= at)
            || !owner_ok
        {
            return Err(AppError::new(
                "coupon_invalid",
                format!("the coupon {code} is used, expired, not yet valid or not this customer's"),
            ));
        }
        let kind = CouponKind::parse(&c.kind).ok_or_else(|| {
            AppError::new(
                "coupon_invalid",
                format!("the coupon {code} is a voucher: take it as a payment"),
            )
        })?;
        offers.push(CouponOffer {
            code: c.code,
            kind,
            value: c.value,
            min_amount_fen: c.min_amount_fen,
            products: c.products,
        });
    }
    coupons::apply(priced, &offers).map_err(|e| {
        AppError::new(
            "coupon_not_applicable",
            format!("coupon {}: {}", e.code, e.reason),
        )
    })
}

/// What a member's sale earns, and the referral reward it triggers.
#[derive(Debug, Clone, Default)]
pub struct PointsPlan {
    pub earned: Earned,
    /// The referrer's reward when this sale qualifies the member's referral.
    pub referrer: Option<(String, i64)>,
    pub loyalty: MemberLoyalty,
    /// The member's tier figures over the qualification window, before this sale (read
    /// for a sale to be posted only).
    pub window: Option<WindowMetric>,
}

fn birthday_month(birthday: Option<&str>, local: &Local) -> bool {
    use chrono::Datelike;
    birthday
        .and_then(|b| chrono::NaiveDate::parse_from_str(b, "%Y-%m-%d").ok())
        .is_some_and(|b| b.month() == local.date.month())
}

/// What the rules need to know of a sale that is not the member's history; each line
/// earns on its net less its share of any voucher payment. The POS and the bulk poster
/// both start from this.
#[allow(clippy::too_many_arguments)]
pub fn sale_facts(
    at: i64,
    local: &Local,
    station_code: &str,
    priced: &PricedSale,
    voucher_fen: i64,
    multiplier_permille: i64,
    tags: &[String],
    birthday: Option<&str>,
) -> SaleFacts {
    let weights: Vec<i64> = priced.lines.iter().map(|l| l.net_fen.0).collect();
    let voucher_parts = split_proportionally(voucher_fen.min(priced.net_fen.0), &weights);
    SaleFacts {
        at_us: at,
        weekday: local.weekday,
        minute_of_day: local.minute_of_day,
        station_code: station_code.to_string(),
        lines: priced
            .lines
            .iter()
            .zip(&voucher_parts)
            .map(|(l, v)| FactLine {
                product_code: l.product_code.clone(),
                is_fuel: l.kind == ProductKind::Fuel,
                net_fen: l.net_fen.0 - v,
                volume_ml: l.volume_ml,
            })
            .collect(),
        tier_multiplier_permille: multiplier_permille,
        tags: tags.to_vec(),
        birthday_month: birthday_month(birthday, local),
        ..SaleFacts::default()
    }
}

/// Decides the points of a member's sale. `points_net` is what each line earns on (its
/// net, less its share of any voucher payment). `review_tier`: the sale will be
/// posted, so the member's figures over the tier window are read with the member (a
/// quote reviews no tier and skips them).
#[allow(clippy::too_many_arguments)]
pub async fn plan_points(
    tx: &mut Tx,
    cfg: &LoyaltyConfig,
    station_code: &str,
    local: &Local,
    at: i64,
    customer: &Customer,
    multiplier_permille: i64,
    priced: &PricedSale,
    voucher_fen: i64,
    review_tier: bool,
) -> Result<PointsPlan, StoreError> {
    let rules = &cfg.rules;
    let id = customer.customer_id.as_str();
    let (ml, window) = if review_tier {
        let window_from = at - i64::from(cfg.qualification.window_days) * DAY_US;
        let top = cfg
            .tiers
            .iter()
            .max_by_key(|t| t.rank)
            .map(|t| t.code.as_str())
            .unwrap_or_default();
        let (ml, w) = tx
            .member_loyalty_with_window(
                id,
                window_from,
                cfg.qualification.metric == tiers::Metric::Litres,
                top,
            )
            .await?;
        (ml, Some(w))
    } else {
        (tx.member_loyalty(id).await?, None)
    };
    let visits_before = if rules.needs_visits() {
        tx.visits_before(id).await?
    } else {
        0
    };
    let base = sale_facts(
        at,
        local,
        station_code,
        priced,
        voucher_fen,
        multiplier_permille,
        &ml.tags,
        ml.birthday.as_deref(),
    );
    let facts = SaleFacts {
        first_visit: visits_before == 0 && rules.needs_visits(),
        visits_before: u32::try_from(visits_before).unwrap_or(u32::MAX),
        month_volume_ml: if rules.needs_month_volume() {
            tx.volume_by_product(id, local.month_start_us, local.month_end_us)
                .await?
        } else {
            Default::default()
        },
        earned_today: if rules.needs_day_points() {
            let day = local.date.to_string();
            let next = local.date.succ_opt().unwrap_or(local.date).to_string();
            tx.points_by_rule(id, &day, &next).await?
        } else {
            Default::default()
        },
        earned_month: if rules.needs_month_points() {
            let (from, to) = month_days(local.date);
            tx.points_by_rule(id, &from, &to).await?
        } else {
            Default::default()
        },
        ..base
    };
    let mut earned = loyalty::evaluate(rules, &facts);
    let mut referrer = None;
    let r = &cfg.referral;
    let net = priced.net_fen.0 - voucher_fen;
    if let (Some(by), None) = (&ml.referred_by, ml.referral_rewarded_at) {
        if net >= r.min_net_fen && (r.referee_points > 0 || r.referrer_points > 0) {
            if r.referee_points > 0 {
                earned.total += r.referee_points;
                earned.lines.push(PointsLine {
                    rule_id: "referral".into(),
                    version: 1,
                    kind: "referral".into(),
                    points: r.referee_points,
                    reason: "first qualifying sale of a referred member".into(),
                });
            }
            referrer = Some((by.clone(), r.referrer_points));
        }
    }
    Ok(PointsPlan {
        earned,
        referrer,
        loyalty: ml,
        window,
    })
}

/// The first day of the date's month and of the next, as `YYYY-MM-DD`.
fn month_days(d: chrono::NaiveDate) -> (String, String) {
    use chrono::Datelike;
    let first = chrono::NaiveDate::from_ymd_opt(d.year(), d.month(), 1).unwrap_or(d);
    let next = if d.month() == 12 {
        chrono::NaiveDate::from_ymd_opt(d.year() + 1, 1, 1)
    } else {
        chrono::NaiveDate::from_ymd_opt(d.year(), d.month() + 1, 1)
    }
    .unwrap_or(d);
    (first.to_string(), next.to_string())
}

/// The transfers of a member's points.
pub fn points_transfers(customer_id: &str, plan: &PointsPlan) -> Vec<Transfer> {
    let mut out = Vec::new();
    if plan.earned.total > 0 {
        out.push(Transfer::new(
            account::POINTS_ISSUED,
            account::customer_points(customer_id),
            plan.earned.total,
            Unit::Points,
        ));
    }
    if let Some((referrer, points)) = &plan.referrer {
        if *points > 0 {
            out.push(Transfer::new(
                account::POINTS_ISSUED,
                account::customer_points(referrer),
                *points,
                Unit::Points,
            ));
        }
    }
    out
}

/// Records the points of a posted sale (whose row holds their explanation): the caps'
/// counters, the lots, the referral, and the member's tier review. Returns the member's
/// new tier if it moved up.
pub async fn record_points(
    tx: &mut Tx,
    cfg: &LoyaltyConfig,
    customer_id: &str,
    at: i64,
    local: &Local,
    plan: &PointsPlan,
    this_sale: SaleFigures,
) -> Result<Option<String>, AppError> {
    // Reads first, before the sale is written (its writes may be deferred): the
    // referral's claim and the tier review's window.
    let referrer = match &plan.referrer {
        Some((_, points)) => match tx.claim_referral(customer_id, at).await? {
            Some(referrer) => Some((referrer, *points)),
            // Another sale of the member claimed it first: retry the whole sale.
            None => return Err(StoreError::Retry.into()),
        },
        None => None,
    };
    let tier_after = review_on_sale(tx, cfg, customer_id, plan, at, this_sale).await?;
    let day = local.date.to_string();
    // What capped rules gave, for their caps per day and month.
    let capped: Vec<(&str, i64)> = plan
        .earned
        .lines
        .iter()
        .filter(|l| {
            l.kind == "bonus"
                && cfg.rules.bonuses.iter().any(|b| {
                    b.id == l.rule_id && (b.cap_per_day.is_some() || b.cap_per_month.is_some())
                })
        })
        .map(|l| (l.rule_id.as_str(), l.points))
        .collect();
    if !capped.is_empty() {
        tx.add_cap_usage(customer_id, &day, &capped).await?;
    }
    tx.add_to_lot(customer_id, &day, plan.earned.total).await?;
    if let Some((referrer, points)) = &referrer {
        tx.add_to_lot(referrer, &day, *points).await?;
    }
    Ok(tier_after)
}

/// What the sale being written adds to the member's tier figures.
#[derive(Debug, Clone, Copy)]
pub struct SaleFigures {
    pub spend_fen: i64,
    pub volume_ml: i64,
}

/// Moves a member up at once when this sale makes the figures reach a higher tier.
async fn review_on_sale(
    tx: &mut Tx,
    cfg: &LoyaltyConfig,
    customer_id: &str,
    plan: &PointsPlan,
    at: i64,
    this_sale: SaleFigures,
) -> Result<Option<String>, AppError> {
    let ml = &plan.loyalty;
    let current_rank = cfg
        .tiers
        .iter()
        .find(|t| t.code == ml.tier_code)
        .map(|t| t.rank)
        .unwrap_or(0);
    if ml.tier_override.is_some() || current_rank >= cfg.top_rank() {
        return Ok(None);
    }
    let q = &cfg.qualification;
    // The window was read with the member, before this sale was written: the sale is
    // added.
    let Some(m) = plan.window else {
        return Err(AppError::internal(
            "a sale's points were planned without the tier window",
        ));
    };
    let f = Figures {
        spend_fen: m.spend_fen + this_sale.spend_fen,
        volume_ml: m.volume_ml + this_sale.volume_ml,
        visits: m.visits + 1,
    };
    let d = tiers::review(
        q,
        &cfg.levels(),
        &ml.tier_code,
        false,
        ml.tier_below_since,
        &f,
        at,
        false,
    );
    if d.tier != ml.tier_code || d.below_since_us != ml.tier_below_since {
        tx.set_tier_state(customer_id, &d.tier, d.below_since_us)
            .await?;
    }
    Ok((d.tier != ml.tier_code).then_some(d.tier))
}

/// Takes `amount` points from the member's lots, the lot of `first_day` first (a refund
/// takes back from the day of its sale) and then the oldest first. The lots must hold
/// them: the points account and the lots hold the same total, and the ledger refuses
/// to overdraw the account in the same transaction.
pub async fn take_points(
    tx: &mut Tx,
    customer_id: &str,
    amount: i64,
    first_day: Option<&str>,
) -> Result<Vec<(String, i64)>, AppError> {
    if amount <= 0 {
        return Ok(Vec::new());
    }
    let mut lots = tx.points_lots(customer_id).await?;
    if let Some(day) = first_day {
        lots.sort_by_key(|l| l.lot_id != day);
    }
    let mut left = amount;
    let mut takes = Vec::new();
    for l in &lots {
        if left == 0 {
            break;
        }
        let t = left.min(l.remaining);
        if t > 0 {
            takes.push((l.lot_id.clone(), t));
            left -= t;
        }
    }
    if left > 0 {
        return Err(AppError::new(
            "insufficient_points",
            format!("the member has {} points", amount - left),
        ));
    }
    tx.take_from_lots(customer_id, &takes, false).await?;
    Ok(takes)
}
