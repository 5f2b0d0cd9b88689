//! Storage of the loyalty engine: versioned points rules, settings, the explanation
//! lines of each sale's points, points lots, tier state, coupon templates, the
//! catalogue and its redemptions, referrals. The decisions live in
//! `forecourt_core::{loyalty, points_expiry, coupons, tiers}`.

use crate::deferred::Expect;
use crate::queries::{tier, TIER_COLS};
use crate::{new_id, now_us, Store, StoreError, Tier, Tx};
use forecourt_core::loyalty::PointsLine;
use forecourt_core::points_expiry::Lot;
use serde::Serialize;
use sqlx::any::AnyRow;
use sqlx::Row;
use std::collections::BTreeMap;

/// Settings every database starts with (JSON values).
pub(crate) const DEFAULT_SETTINGS: &[(&str, &str)] = &[
    ("expiry", r#"{"kind":"never"}"#),
    (
        "tiers",
        r#"{"metric":"spend","window_days":365,"grace_days":30}"#,
    ),
    (
        "referral",
        r#"{"referrer_points":200,"referee_points":100,"min_net_fen":10000}"#,
    ),
];

/// A stored version of a points rule.
#[derive(Debug, Clone, Serialize)]
pub struct StoredRule {
    pub rule_id: String,
    pub version: i64,
    /// earn | bonus | milestone
    pub kind: String,
    pub name: String,
    pub body: serde_json::Value,
    pub active: bool,
    pub created_by: Option<String>,
    pub created_at: i64,
}

fn stored_rule(r: &AnyRow) -> Result<StoredRule, StoreError> {
    let body: String = r.try_get(4)?;
    Ok(StoredRule {
        rule_id: r.try_get(0)?,
        version: r.try_get(1)?,
        kind: r.try_get(2)?,
        name: r.try_get(3)?,
        body: serde_json::from_str(&body)?,
        active: r.try_get::<i64, _>(5)? != 0,
        created_by: r.try_get(6)?,
        created_at: r.try_get(7)?,
    })
}

const RULE_COLS: &str = "rule_id, version, kind, name, body, active, created_by, created_at";

/// The loyalty state of a member beside the profile.
#[derive(Debug, Clone, Default, Serialize)]
pub struct MemberLoyalty {
    pub tier_code: String,
    pub tier_override: Option<String>,
    pub tier_override_reason: Option<String>,
    pub tier_below_since: Option<i64>,
    pub referred_by: Option<String>,
    pub referral_rewarded_at: Option<i64>,
    pub birthday: Option<String>,
    pub tags: Vec<String>,
}

/// A coupon template.
#[derive(Debug, Clone, Serialize)]
pub struct CouponTemplate {
    pub template_id: String,
    pub name: String,
    pub kind: String,
    pub value: i64,
    pub min_amount_fen: i64,
    pub products: Vec<String>,
    pub valid_days: i64,
    pub active: bool,
}

const TEMPLATE_COLS: &str =
    "template_id, name, kind, coupon_value, min_amount_fen, products, valid_days, active";

fn template(r: &AnyRow) -> Result<CouponTemplate, StoreError> {
    let products: String = r.try_get(5)?;
    Ok(CouponTemplate {
        template_id: r.try_get(0)?,
        name: r.try_get(1)?,
        kind: r.try_get(2)?,
        value: r.try_get(3)?,
        min_amount_fen: r.try_get(4)?,
        products: serde_json::from_str(&products)?,
        valid_days: r.try_get(6)?,
        active: r.try_get::<i64, _>(7)? != 0,
    })
}

/// A coupon with what its template says.
#[derive(Debug, Clone, Serialize)]
pub struct MemberCoupon {
    pub code: String,
    pub customer_id: Option<String>,
    /// payment | amount_off | per_litre_off | percent_off_non_fuel | free_car_wash
    pub kind: String,
    pub name: Option<String>,
    /// Fen for payment and amount_off, fen per litre, percent, or washes.
    pub value: i64,
    pub min_amount_fen: i64,
    pub products: Vec<String>,
    pub valid_from: i64,
    pub valid_until: Option<i64>,
    pub state: String,
    pub sale_id: Option<String>,
}

const MEMBER_COUPON_SELECT: &str = "select c.code, c.customer_id, c.kind, t.name, c.amount_fen, coalesce(t.min_amount_fen, 0), coalesce(t.products, '[]'), c.valid_from, c.valid_until, c.state, c.sale_id from coupon c left join coupon_template t on t.template_id = c.template_id";

fn member_coupon(r: &AnyRow) -> Result<MemberCoupon, StoreError> {
    let products: String = r.try_get(6)?;
    Ok(MemberCoupon {
        code: r.try_get(0)?,
        customer_id: r.try_get(1)?,
        kind: r.try_get(2)?,
        name: r.try_get(3)?,
        value: r.try_get(4)?,
        min_amount_fen: r.try_get(5)?,
        products: serde_json::from_str(&products)?,
        valid_from: r.try_get(7)?,
        valid_until: r.try_get(8)?,
        state: r.try_get(9)?,
        sale_id: r.try_get(10)?,
    })
}

/// An item of the redemption catalogue.
#[derive(Debug, Clone, Serialize)]
pub struct CatalogueItem {
    pub item_id: String,
    pub name: String,
    /// gift | coupon | car_wash
    pub kind: String,
    pub points_cost: i64,
    pub stock: Option<i64>,
    pub template_id: Option<String>,
    pub active: bool,
}

const ITEM_COLS: &str = "item_id, name, kind, points_cost, stock, template_id, active";

fn item(r: &AnyRow) -> Result<CatalogueItem, StoreError> {
    Ok(CatalogueItem {
        item_id: r.try_get(0)?,
        name: r.try_get(1)?,
        kind: r.try_get(2)?,
        points_cost: r.try_get(3)?,
        stock: r.try_get(4)?,
        template_id: r.try_get(5)?,
        active: r.try_get::<i64, _>(6)? != 0,
    })
}

/// A redemption of points for a catalogue item.
#[derive(Debug, Clone, Serialize)]
pub struct Redemption {
    pub redemption_id: String,
    pub item_id: String,
    pub customer_id: String,
    pub points: i64,
    pub state: String,
    pub coupon_code: Option<String>,
    /// `(earned_on, points)` taken from the member's lots.
    pub takes: Vec<(String, i64)>,
    pub created_at: i64,
    pub cancelled_at: Option<i64>,
}

const REDEMPTION_COLS: &str = "redemption_id, item_id, customer_id, points, state, coupon_code, takes, created_at, cancelled_at";

fn redemption(r: &AnyRow) -> Result<Redemption, StoreError> {
    let takes: String = r.try_get(6)?;
    Ok(Redemption {
        redemption_id: r.try_get(0)?,
        item_id: r.try_get(1)?,
        customer_id: r.try_get(2)?,
        points: r.try_get(3)?,
        state: r.try_get(4)?,
        coupon_code: r.try_get(5)?,
        takes: serde_json::from_str(&takes)?,
        created_at: r.try_get(7)?,
        cancelled_at: r.try_get(8)?,
    })
}

/// A line of a member's points history.
#[derive(Debug, Clone, Serialize)]
pub struct PointsMovement {
    pub occurred_at: i64,
    /// The journal's kind: sale, refund, points_redeem, points_expire, adjustment, …
    pub kind: String,
    pub points: i64,
    pub memo: Option<String>,
    pub sale_id: Option<String>,
    /// Why a sale earned its points, rule by rule.
    pub reasons: Vec<PointsLine>,
}

/// A member's loyalty state from the first eight columns of `r` (`tier_code,
/// tier_override, tier_override_reason, tier_below_since, referred_by,
/// referral_rewarded_at, birthday, tags`).
fn member_loyalty(r: &AnyRow) -> Result<MemberLoyalty, StoreError> {
    let tags: String = r.try_get(7)?;
    Ok(MemberLoyalty {
        tier_code: r.try_get(0)?,
        tier_override: r.try_get(1)?,
        tier_override_reason: r.try_get(2)?,
        tier_below_since: r.try_get(3)?,
        referred_by: r.try_get(4)?,
        referral_rewarded_at: r.try_get(5)?,
        birthday: r.try_get(6)?,
        tags: serde_json::from_str(&tags)?,
    })
}

/// Rolling-window figures of one member, for tier qualification.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WindowMetric {
    pub spend_fen: i64,
    pub volume_ml: i64,
    pub visits: i64,
}

impl Store {
    /// The newest version of every rule, active or not.
    pub async fn loyalty_rules(&self) -> Result<Vec<StoredRule>, StoreError> {
        let sql = format!("select {RULE_COLS} from loyalty_rule r where version = (select max(version) from loyalty_rule x where x.rule_id = r.rule_id) order by kind, rule_id");
        let rows = sqlx::query(&sql).fetch_all(self.read()).await?;
        rows.iter().map(stored_rule).collect()
    }

    /// Every version of a rule, newest first.
    pub async fn rule_versions(&self, rule_id: &str) -> Result<Vec<StoredRule>, StoreError> {
        let sql = format!(
            "select {RULE_COLS} from loyalty_rule where rule_id = $1 order by version desc"
        );
        let rows = sqlx::query(&sql)
            .bind(rule_id)
            .fetch_all(self.read())
            .await?;
        rows.iter().map(stored_rule).collect()
    }

    pub async fn loyalty_setting(&self, key: &str) -> Result<Option<String>, StoreError> {
        Ok(
            sqlx::query_scalar("select setting_value from loyalty_setting where setting_key = $1")
                .bind(key)
                .fetch_optional(self.read())
                .await?,
        )
    }

    pub async fn coupon_templates(&self) -> Result<Vec<CouponTemplate>, StoreError> {
        let sql = format!("select {TEMPLATE_COLS} from coupon_template order by created_at");
        let rows = sqlx::query(&sql).fetch_all(self.read()).await?;
        rows.iter().map(template).collect()
    }

    pub async fn coupon_template(&self, id: &str) -> Result<Option<CouponTemplate>, StoreError> {
        let sql = format!("select {TEMPLATE_COLS} from coupon_template where template_id = $1");
        let row = sqlx::query(&sql)
            .bind(id)
            .fetch_optional(self.read())
            .await?;
        row.as_ref().map(template).transpose()
    }

    /// A member's coupons, newest first.
    pub async fn coupons_of(&self, customer_id: &str) -> Result<Vec<MemberCoupon>, StoreError> {
        let sql =
            format!("{MEMBER_COUPON_SELECT} where c.customer_id = $1 order by c.created_at desc");
        let rows = sqlx::query(&sql)
            .bind(customer_id)
            .fetch_all(self.read())
            .await?;
        rows.iter().map(member_coupon).collect()
    }

    pub async fn catalogue(&self) -> Result<Vec<CatalogueItem>, StoreError> {
        let sql = format!("select {ITEM_COLS} from catalogue_item order by points_cost, name");
        let rows = sqlx::query(&sql).fetch_all(self.read()).await?;
        rows.iter().map(item).collect()
    }

    pub async fn redemptions_of(&self, customer_id: &str) -> Result<Vec<Redemption>, StoreError> {
        let sql = format!(
            "select {REDEMPTION_COLS} from redemption where customer_id = $1 order by created_at desc"
        );
        let rows = sqlx::query(&sql)
            .bind(customer_id)
            .fetch_all(self.read())
            .await?;
        rows.iter().map(redemption).collect()
    }

    /// A member's points lots with points left, oldest first.
    pub async fn points_lots(&self, customer_id: &str) -> Result<Vec<Lot>, StoreError> {
        lots(self.read(), customer_id).await
    }

    /// Every lot with points left, for the expiry run: `(customer_id, lot)`.
    pub async fn all_open_lots(&self) -> Result<Vec<(String, Lot)>, StoreError> {
        let rows = sqlx::query("select customer_id, earned_on, remaining, points from points_lot where remaining > 0 order by customer_id, earned_on")
            .fetch_all(self.read())
            .await?;
        rows.iter()
            .map(|r| {
                let day: String = r.try_get(1)?;
                Ok((
                    r.try_get::<String, _>(0)?,
                    Lot {
                        earned_on: parse_day(&day)?,
                        lot_id: day,
                        remaining: r.try_get(2)?,
                        points: r.try_get(3)?,
                    },
                ))
            })
            .collect()
    }

    /// A member's points history, newest first: every movement of the points account
    /// with its journal, and for sales the reason of every point.
    pub async fn points_history(
        &self,
        customer_id: &str,
        limit: i64,
    ) -> Result<Vec<PointsMovement>, StoreError> {
        self.points_history_page(customer_id, limit, 0).await
    }

    /// [`Store::points_history`] a page at a time: `limit` movements after the newest
    /// `offset`.
    pub async fn points_history_page(
        &self,
        customer_id: &str,
        limit: i64,
        offset: i64,
    ) -> Result<Vec<PointsMovement>, StoreError> {
        let acct = forecourt_core::ledger::account::customer_points(customer_id);
        let rows = sqlx::query(
            "select j.occurred_at, j.kind, cast(sum(case when t.credit_account_id = $1 then t.amount else -t.amount end) as bigint), j.memo, s.sale_id, j.journal_id, s.points_detail from transfer t join journal j on j.journal_id = t.journal_id left join sale s on s.journal_id = j.journal_id where (t.credit_account_id = $1 or t.debit_account_id = $1) and t.state = 'posted' group by j.journal_id, j.occurred_at, j.kind, j.memo, s.sale_id, s.points_detail order by j.occurred_at desc, j.journal_id desc limit $2 offset $3",
        )
        .bind(&acct)
        .bind(limit)
        .bind(offset)
        .fetch_all(self.read())
        .await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            let sale_id: Option<String> = r.try_get(4)?;
            let detail: Option<String> = r.try_get(6)?;
            let reasons = match &detail {
                Some(d) => serde_json::from_str(d)?,
                None => Vec::new(),
            };
            out.push(PointsMovement {
                occurred_at: r.try_get(0)?,
                kind: r.try_get(1)?,
                points: r.try_get(2)?,
                memo: r.try_get(3)?,
                sale_id,
                reasons,
            });
        }
        Ok(out)
    }

    /// Members' figures over the window from `from_us`, for the daily tier review:
    /// `(customer_id, current tier, override, below since, metric)` of every member
    /// who is not in the lowest tier or bought in the window.
    pub async fn tier_review_rows(
        &self,
        from_us: i64,
    ) -> Result<Vec<(String, String, Option<String>, Option<i64>, WindowMetric)>, StoreError> {
        let rows = sqlx::query(
            "select c.customer_id, c.tier_code, c.tier_override, c.tier_below_since, cast(coalesce(m.spend, 0) as bigint), cast(coalesce(m.visits, 0) as bigint), cast(coalesce(v.ml, 0) as bigint) from customer c left join (select customer_id, sum(net_fen - refunded_fen) spend, count(*) visits from sale where occurred_at >= $1 and customer_id is not null group by customer_id) m on m.customer_id = c.customer_id left join (select s.customer_id, sum(l.volume_ml) ml from sale s join sale_line l on l.sale_id = s.sale_id where s.occurred_at >= $1 and s.customer_id is not null group by s.customer_id) v on v.customer_id = c.customer_id where c.anonymized_at is null and (m.customer_id is not null or c.tier_code <> (select code from tier order by rank limit 1) or c.tier_below_since is not null)",
        )
        .bind(from_us)
        .fetch_all(self.read())
        .await?;
        rows.iter()
            .map(|r| {
                Ok((
                    r.try_get(0)?,
                    r.try_get(1)?,
                    r.try_get(2)?,
                    r.try_get(3)?,
                    WindowMetric {
                        spend_fen: r.try_get(4)?,
                        visits: r.try_get(5)?,
                        volume_ml: r.try_get(6)?,
                    },
                ))
            })
            .collect()
    }

    /// Members of tiers with monthly car washes: `(customer_id, washes a month)`.
    pub async fn car_wash_members(&self) -> Result<Vec<(String, i64)>, StoreError> {
        let rows = sqlx::query("select c.customer_id, t.monthly_car_washes from customer c join tier t on t.code = c.tier_code where t.monthly_car_washes > 0 and c.anonymized_at is null order by c.customer_id")
            .fetch_all(self.read())
            .await?;
        rows.iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect()
    }

    /// Member sales and the points lines they hold (how many rules fired), for the
    /// benchmark's report.
    pub async fn points_lines_count(&self) -> Result<(i64, i64), StoreError> {
        let rows: Vec<String> =
            sqlx::query_scalar("select points_detail from sale where customer_id is not null")
                .fetch_all(self.read())
                .await?;
        let mut lines = 0i64;
        for d in &rows {
            lines += serde_json::from_str::<Vec<PointsLine>>(d)?.len() as i64;
        }
        Ok((rows.len() as i64, lines))
    }

    /// For analytics: every member sale as `(customer_id, occurred_at, net fen less
    /// refunds, fuel and other volume ml)`, by member and time; and the members who never
    /// bought.
    pub async fn member_sales(
        &self,
    ) -> Result<(Vec<(String, i64, i64, i64)>, Vec<String>), StoreError> {
        let sales = sqlx::query_as::<_, (String, i64, i64, i64)>(
            "select s.customer_id, s.occurred_at, s.net_fen - s.refunded_fen, \
             cast(coalesce((select sum(l.volume_ml) from sale_line l where l.sale_id = s.sale_id), 0) as bigint) \
             from sale s where s.customer_id is not null order by s.customer_id, s.occurred_at",
        )
        .fetch_all(self.read())
        .await?;
        let never: Vec<String> = sqlx::query_scalar(
            "select c.customer_id from customer c where c.anonymized_at is null and not exists (select 1 from sale s where s.customer_id = c.customer_id) order by c.customer_id",
        )
        .fetch_all(self.read())
        .await?;
        Ok((sales, never))
    }

    /// What [`Store::member_sales`] depends on, cheaply: sales, their newest write,
    /// refunds and customers. Equal versions mean equal member sales, so a cache of
    /// them can be kept until the version moves.
    pub async fn member_sales_version(&self) -> Result<(i64, i64, i64, i64), StoreError> {
        let r = sqlx::query(
            "select (select count(*) from sale), (select coalesce(max(created_at), 0) from sale), \
             (select count(*) from refund), (select count(*) from customer where anonymized_at is null)",
        )
        .fetch_one(self.read())
        .await?;
        Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?, r.try_get(3)?))
    }

    /// Customer ids carrying a tag (a segment).
    pub async fn customers_tagged(&self, tag: &str) -> Result<Vec<String>, StoreError> {
        let needle = serde_json::to_string(tag)?;
        Ok(sqlx::query_scalar(
            "select customer_id from customer where anonymized_at is null and tags like $1 order by customer_id",
        )
        .bind(format!("%{needle}%"))
        .fetch_all(self.read())
        .await?)
    }
}

pub(crate) fn parse_day(s: &str) -> Result<chrono::NaiveDate, StoreError> {
    chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .map_err(|e| StoreError::Corrupt(format!("bad lot date {s}: {e}")))
}

async fn lots<'e, E: sqlx::Executor<'e, Database = sqlx::Any>>(
    db: E,
    customer_id: &str,
) -> Result<Vec<Lot>, StoreError> {
    let rows = sqlx::query(
        "select earned_on, remaining, points from points_lot where customer_id = $1 and remaining > 0 order by earned_on",
    )
    .bind(customer_id)
    .fetch_all(db)
    .await?;
    rows.iter()
        .map(|r| {
            let day: String = r.try_get(0)?;
            Ok(Lot {
                earned_on: parse_day(&day)?,
                lot_id: day,
                remaining: r.try_get(1)?,
                points: r.try_get(2)?,
            })
        })
        .collect()
}

impl Tx {
    /// Adds a version of a rule; the first version is 1. Returns the version.
    pub async fn save_rule(
        &mut self,
        rule_id: &str,
        kind: &str,
        name: &str,
        body: &serde_json::Value,
        active: bool,
        created_by: Option<&str>,
    ) -> Result<i64, StoreError> {
        let last: Option<i64> =
            sqlx::query_scalar("select max(version) from loyalty_rule where rule_id = $1")
                .bind(rule_id)
                .fetch_one(&mut *self.tx)
                .await?;
        let version = last.unwrap_or(0) + 1;
        sqlx::query("insert into loyalty_rule (rule_id, version, kind, name, body, active, created_by, created_at) values ($1, $2, $3, $4, $5, $6, $7, $8)")
            .bind(rule_id)
            .bind(version)
            .bind(kind)
            .bind(name)
            .bind(body.to_string())
            .bind(i64::from(active))
            .bind(created_by)
            .bind(now_us())
            .execute(&mut *self.tx)
            .await?;
        Ok(version)
    }

    pub async fn set_loyalty_setting(&mut self, key: &str, value: &str) -> Result<(), StoreError> {
        sqlx::query("insert into loyalty_setting (setting_key, setting_value, updated_at) values ($1, $2, $3) on conflict (setting_key) do update set setting_value = excluded.setting_value, updated_at = excluded.updated_at")
            .bind(key)
            .bind(value)
            .bind(now_us())
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }

    /// [`Tx::member_loyalty`] and the member's figures since `from_us` (the tier
    /// window; litres only when `litres`), in one statement. A member whose tier is
    /// set by hand or is `top_tier` has no review to make: their window is not summed
    /// (zeros).
    pub async fn member_loyalty_with_window(
        &mut self,
        customer_id: &str,
        from_us: i64,
        litres: bool,
        top_tier: &str,
    ) -> Result<(MemberLoyalty, WindowMetric), StoreError> {
        let reviewed = "tier_override is null and tier_code <> $3";
        let volume = if litres {
            format!("case when {reviewed} then (select cast(coalesce(sum(l.volume_ml), 0) as bigint) from sale s join sale_line l on l.sale_id = s.sale_id where s.customer_id = $1 and s.occurred_at >= $2) else cast(0 as bigint) end")
        } else {
            "cast(0 as bigint)".to_string()
        };
        let sql = format!(
            "select tier_code, tier_override, tier_override_reason, tier_below_since, referred_by, referral_rewarded_at, birthday, tags, \
             case when {reviewed} then (select cast(coalesce(sum(net_fen - refunded_fen), 0) as bigint) from sale where customer_id = $1 and occurred_at >= $2) else cast(0 as bigint) end, \
             case when {reviewed} then (select count(*) from sale where customer_id = $1 and occurred_at >= $2) else cast(0 as bigint) end, {volume} \
             from customer where customer_id = $1"
        );
        let r = sqlx::query(&sql)
            .bind(customer_id)
            .bind(from_us)
            .bind(top_tier)
            .fetch_optional(&mut *self.tx)
            .await?
            .ok_or(StoreError::NotFound("customer"))?;
        Ok((
            member_loyalty(&r)?,
            WindowMetric {
                spend_fen: r.try_get(8)?,
                visits: r.try_get(9)?,
                volume_ml: r.try_get(10)?,
            },
        ))
    }

    pub async fn member_loyalty(&mut self, customer_id: &str) -> Result<MemberLoyalty, StoreError> {
        let r = sqlx::query("select tier_code, tier_override, tier_override_reason, tier_below_since, referred_by, referral_rewarded_at, birthday, tags from customer where customer_id = $1")
            .bind(customer_id)
            .fetch_optional(&mut *self.tx)
            .await?
            .ok_or(StoreError::NotFound("customer"))?;
        member_loyalty(&r)
    }

    pub async fn tiers(&mut self) -> Result<Vec<Tier>, StoreError> {
        let sql = format!("select {TIER_COLS} from tier order by rank");
        let rows = sqlx::query(&sql).fetch_all(&mut *self.tx).await?;
        rows.iter().map(tier).collect()
    }

    /// Creates or changes a tier.
    pub async fn upsert_tier(&mut self, t: &Tier) -> Result<(), StoreError> {
        sqlx::query("insert into tier (code, name, rank, discount_fen_per_litre, points_multiplier_permille, qualify_spend_fen, qualify_litres_ml, qualify_visits, monthly_car_washes, created_at) values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) on conflict (code) do update set name = excluded.name, rank = excluded.rank, discount_fen_per_litre = excluded.discount_fen_per_litre, points_multiplier_permille = excluded.points_multiplier_permille, qualify_spend_fen = excluded.qualify_spend_fen, qualify_litres_ml = excluded.qualify_litres_ml, qualify_visits = excluded.qualify_visits, monthly_car_washes = excluded.monthly_car_washes")
            .bind(&t.code)
            .bind(&t.name)
            .bind(t.rank)
            .bind(t.discount_fen_per_litre)
            .bind(t.points_multiplier_permille)
            .bind(t.qualify_spend_fen)
            .bind(t.qualify_litres_ml)
            .bind(t.qualify_visits)
            .bind(t.monthly_car_washes)
            .bind(now_us())
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }

    /// Sets the member's tier and the start of a downgrade's grace period.
    pub async fn set_tier_state(
        &mut self,
        customer_id: &str,
        tier_code: &str,
        below_since: Option<i64>,
    ) -> Result<(), StoreError> {
        self.exec(
            "update customer set tier_code = $1, tier_below_since = $2, updated_at = $3 where customer_id = $4",
            vec![tier_code.into(), below_since.into(), now_us().into(), customer_id.into()],
            Expect::Any,
        )
        .await
    }

    /// Sets (or with `None` lifts) a manual tier.
    pub async fn set_tier_override(
        &mut self,
        customer_id: &str,
        tier_code: Option<&str>,
        reason: Option<&str>,
    ) -> Result<(), StoreError> {
        sqlx::query("update customer set tier_override = $1, tier_override_reason = $2, tier_code = coalesce($1, tier_code), tier_below_since = null, updated_at = $3 where customer_id = $4")
            .bind(tier_code)
            .bind(reason)
            .bind(now_us())
            .bind(customer_id)
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }

    /// The member's figures since `from_us`; litres only when `litres` (a second query).
    pub async fn window_metric(
        &mut self,
        customer_id: &str,
        from_us: i64,
        litres: bool,
    ) -> Result<WindowMetric, StoreError> {
        let r = sqlx::query("select cast(coalesce(sum(net_fen - refunded_fen), 0) as bigint), count(*) from sale where customer_id = $1 and occurred_at >= $2")
            .bind(customer_id)
            .bind(from_us)
            .fetch_one(&mut *self.tx)
            .await?;
        let ml: Option<i64> = if litres {
            sqlx::query_scalar("select cast(sum(l.volume_ml) as bigint) from sale s join sale_line l on l.sale_id = s.sale_id where s.customer_id = $1 and s.occurred_at >= $2")
                .bind(customer_id)
                .bind(from_us)
                .fetch_one(&mut *self.tx)
                .await?
        } else {
            None
        };
        Ok(WindowMetric {
            spend_fen: r.try_get(0)?,
            visits: r.try_get(1)?,
            volume_ml: ml.unwrap_or(0),
        })
    }

    /// How many sales the member had before.
    pub async fn visits_before(&mut self, customer_id: &str) -> Result<i64, StoreError> {
        Ok(
            sqlx::query_scalar("select count(*) from sale where customer_id = $1")
                .bind(customer_id)
                .fetch_one(&mut *self.tx)
                .await?,
        )
    }

    /// Millilitres the member bought in `[from, to)`, by product.
    pub async fn volume_by_product(
        &mut self,
        customer_id: &str,
        from_us: i64,
        to_us: i64,
    ) -> Result<BTreeMap<String, i64>, StoreError> {
        let rows = sqlx::query("select l.product_code, cast(sum(l.volume_ml) as bigint) from sale s join sale_line l on l.sale_id = s.sale_id where s.customer_id = $1 and s.occurred_at >= $2 and s.occurred_at < $3 group by l.product_code")
            .bind(customer_id)
            .bind(from_us)
            .bind(to_us)
            .fetch_all(&mut *self.tx)
            .await?;
        rows.iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect()
    }

    /// Points each capped rule gave the member on the local days `[from, to)`
    /// (`YYYY-MM-DD`), by rule id.
    pub async fn points_by_rule(
        &mut self,
        customer_id: &str,
        from_day: &str,
        to_day: &str,
    ) -> Result<BTreeMap<String, i64>, StoreError> {
        let rows = sqlx::query("select rule_id, cast(sum(points) as bigint) from points_cap where customer_id = $1 and day >= $2 and day < $3 group by rule_id")
            .bind(customer_id)
            .bind(from_day)
            .bind(to_day)
            .fetch_all(&mut *self.tx)
            .await?;
        rows.iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect()
    }

    /// Counts what capped rules gave the member on a local day.
    pub async fn add_cap_usage(
        &mut self,
        customer_id: &str,
        day: &str,
        points: &[(&str, i64)],
    ) -> Result<(), StoreError> {
        for (rule_id, p) in points {
            self.exec(
                "insert into points_cap (customer_id, rule_id, day, points) values ($1, $2, $3, $4) on conflict (customer_id, rule_id, day) do update set points = points_cap.points + excluded.points",
                vec![customer_id.into(), (*rule_id).into(), day.into(), (*p).into()],
                Expect::Any,
            )
            .await?;
        }
        Ok(())
    }

    /// Adds earned points to the member's lot of the day.
    pub async fn add_to_lot(
        &mut self,
        customer_id: &str,
        earned_on: &str,
        points: i64,
    ) -> Result<(), StoreError> {
        if points <= 0 {
            return Ok(());
        }
        self.exec(
            "insert into points_lot (customer_id, earned_on, points, remaining) values ($1, $2, $3, $3) on conflict (customer_id, earned_on) do update set points = points_lot.points + excluded.points, remaining = points_lot.remaining + excluded.remaining",
            vec![customer_id.into(), earned_on.into(), points.into()],
            Expect::Any,
        )
        .await
    }

    /// The member's lots with points left, oldest first.
    pub async fn points_lots(&mut self, customer_id: &str) -> Result<Vec<Lot>, StoreError> {
        lots(&mut *self.tx, customer_id).await
    }

    /// Takes points from lots; a conflict if a lot no longer holds what it held when
    /// read (a concurrent use): the caller retries.
    pub async fn take_from_lots(
        &mut self,
        customer_id: &str,
        takes: &[(String, i64)],
        expire: bool,
    ) -> Result<(), StoreError> {
        let sql = if expire {
            "update points_lot set remaining = remaining - $1, expired = expired + $1 where customer_id = $2 and earned_on = $3 and remaining >= $1"
        } else {
            "update points_lot set remaining = remaining - $1 where customer_id = $2 and earned_on = $3 and remaining >= $1"
        };
        for (day, points) in takes {
            let n = sqlx::query(sql)
                .bind(*points)
                .bind(customer_id)
                .bind(day)
                .execute(&mut *self.tx)
                .await?
                .rows_affected();
            if n != 1 {
                return Err(StoreError::Conflict(format!(
                    "points lot {customer_id} {day} changed"
                )));
            }
        }
        Ok(())
    }

    /// Gives points back to the lots they came from.
    pub async fn restore_lots(
        &mut self,
        customer_id: &str,
        takes: &[(String, i64)],
    ) -> Result<(), StoreError> {
        for (day, points) in takes {
            sqlx::query("update points_lot set remaining = remaining + $1 where customer_id = $2 and earned_on = $3")
                .bind(*points)
                .bind(customer_id)
                .bind(day)
                .execute(&mut *self.tx)
                .await?;
        }
        Ok(())
    }

    /// Records that the member's referral was rewarded; false when it was already, or
    /// there is none. Returns the referrer.
    pub async fn claim_referral(
        &mut self,
        customer_id: &str,
        at: i64,
    ) -> Result<Option<String>, StoreError> {
        let referrer: Option<Option<String>> = sqlx::query_scalar(
            "select referred_by from customer where customer_id = $1 and referral_rewarded_at is null",
        )
        .bind(customer_id)
        .fetch_optional(&mut *self.tx)
        .await?;
        let Some(Some(referrer)) = referrer else {
            return Ok(None);
        };
        let n = sqlx::query("update customer set referral_rewarded_at = $1 where customer_id = $2 and referral_rewarded_at is null")
            .bind(at)
            .bind(customer_id)
            .execute(&mut *self.tx)
            .await?
            .rows_affected();
        Ok((n == 1).then_some(referrer))
    }

    pub async fn set_referrer(
        &mut self,
        customer_id: &str,
        referrer_id: &str,
    ) -> Result<(), StoreError> {
        sqlx::query("update customer set referred_by = $1 where customer_id = $2")
            .bind(referrer_id)
            .bind(customer_id)
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }

    pub async fn create_coupon_template(&mut self, t: &CouponTemplate) -> Result<(), StoreError> {
        sqlx::query("insert into coupon_template (template_id, name, kind, coupon_value, min_amount_fen, products, valid_days, active, created_at) values ($1, $2, $3, $4, $5, $6, $7, $8, $9)")
            .bind(&t.template_id)
            .bind(&t.name)
            .bind(&t.kind)
            .bind(t.value)
            .bind(t.min_amount_fen)
            .bind(serde_json::to_string(&t.products)?)
            .bind(t.valid_days)
            .bind(i64::from(t.active))
            .bind(now_us())
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }

    /// Issues a coupon of a template; false if the code exists (issuing again with the
    /// same code is a no-op, which makes issuance by rule idempotent).
    pub async fn issue_template_coupon(
        &mut self,
        code: &str,
        t: &CouponTemplate,
        customer_id: Option<&str>,
        valid_from: i64,
    ) -> Result<bool, StoreError> {
        let until = valid_from.saturating_add(t.valid_days.saturating_mul(86_400_000_000));
        let n = sqlx::query("insert into coupon (coupon_id, code, customer_id, amount_fen, valid_from, valid_until, state, created_at, template_id, kind) values ($1, $2, $3, $4, $5, $6, 'issued', $7, $8, $9) on conflict (code) do nothing")
            .bind(new_id())
            .bind(code)
            .bind(customer_id)
            .bind(t.value)
            .bind(valid_from)
            .bind(until)
            .bind(now_us())
            .bind(&t.template_id)
            .bind(&t.kind)
            .execute(&mut *self.tx)
            .await?
            .rows_affected();
        Ok(n == 1)
    }

    pub async fn coupon_template(
        &mut self,
        id: &str,
    ) -> Result<Option<CouponTemplate>, StoreError> {
        let sql = format!("select {TEMPLATE_COLS} from coupon_template where template_id = $1");
        let row = sqlx::query(&sql)
            .bind(id)
            .fetch_optional(&mut *self.tx)
            .await?;
        row.as_ref().map(template).transpose()
    }

    /// A coupon with its template's terms.
    pub async fn member_coupon(&mut self, code: &str) -> Result<Option<MemberCoupon>, StoreError> {
        let sql = format!("{MEMBER_COUPON_SELECT} where c.code = $1");
        let row = sqlx::query(&sql)
            .bind(code)
            .fetch_optional(&mut *self.tx)
            .await?;
        row.as_ref().map(member_coupon).transpose()
    }

    /// Voids an issued coupon (a cancelled redemption); false if it was used.
    pub async fn void_coupon(&mut self, code: &str) -> Result<bool, StoreError> {
        let n =
            sqlx::query("update coupon set state = 'void' where code = $1 and state = 'issued'")
                .bind(code)
                .execute(&mut *self.tx)
                .await?
                .rows_affected();
        Ok(n == 1)
    }

    /// Gives back the coupons a refunded sale redeemed.
    pub async fn unredeem_coupons(&mut self, sale_id: &str) -> Result<u64, StoreError> {
        Ok(sqlx::query("update coupon set state = 'issued', sale_id = null where sale_id = $1 and state = 'redeemed' and kind <> 'payment'")
            .bind(sale_id)
            .execute(&mut *self.tx)
            .await?
            .rows_affected())
    }

    pub async fn create_catalogue_item(&mut self, i: &CatalogueItem) -> Result<(), StoreError> {
        sqlx::query("insert into catalogue_item (item_id, name, kind, points_cost, stock, template_id, active, created_at) values ($1, $2, $3, $4, $5, $6, $7, $8)")
            .bind(&i.item_id)
            .bind(&i.name)
            .bind(&i.kind)
            .bind(i.points_cost)
            .bind(i.stock)
            .bind(&i.template_id)
            .bind(i64::from(i.active))
            .bind(now_us())
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }

    pub async fn catalogue_item(&mut self, id: &str) -> Result<Option<CatalogueItem>, StoreError> {
        let sql = format!("select {ITEM_COLS} from catalogue_item where item_id = $1");
        let row = sqlx::query(&sql)
            .bind(id)
            .fetch_optional(&mut *self.tx)
            .await?;
        row.as_ref().map(item).transpose()
    }

    /// Takes one from stock (unlimited stock always succeeds); false when none is left.
    pub async fn take_stock(&mut self, item_id: &str) -> Result<bool, StoreError> {
        let n = sqlx::query("update catalogue_item set stock = case when stock is null then null else stock - 1 end where item_id = $1 and (stock is null or stock > 0)")
            .bind(item_id)
            .execute(&mut *self.tx)
            .await?
            .rows_affected();
        Ok(n == 1)
    }

    pub async fn return_stock(&mut self, item_id: &str) -> Result<(), StoreError> {
        sqlx::query(
            "update catalogue_item set stock = stock + 1 where item_id = $1 and stock is not null",
        )
        .bind(item_id)
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    pub async fn insert_redemption(
        &mut self,
        redemption_id: &str,
        idempotency_key: &str,
        item_id: &str,
        customer_id: &str,
        points: i64,
        journal_id: &str,
        coupon_code: Option<&str>,
        takes: &[(String, i64)],
        created_by: Option<&str>,
    ) -> Result<(), StoreError> {
        sqlx::query("insert into redemption (redemption_id, idempotency_key, item_id, customer_id, points, state, journal_id, coupon_code, takes, created_by, created_at) values ($1, $2, $3, $4, $5, 'redeemed', $6, $7, $8, $9, $10)")
            .bind(redemption_id)
            .bind(idempotency_key)
            .bind(item_id)
            .bind(customer_id)
            .bind(points)
            .bind(journal_id)
            .bind(coupon_code)
            .bind(serde_json::to_string(takes)?)
            .bind(created_by)
            .bind(now_us())
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }

    pub async fn redemption_by_key(&mut self, key: &str) -> Result<Option<Redemption>, StoreError> {
        let sql = format!("select {REDEMPTION_COLS} from redemption where idempotency_key = $1");
        let row = sqlx::query(&sql)
            .bind(key)
            .fetch_optional(&mut *self.tx)
            .await?;
        row.as_ref().map(redemption).transpose()
    }

    pub async fn redemption(&mut self, id: &str) -> Result<Option<Redemption>, StoreError> {
        let sql = format!("select {REDEMPTION_COLS} from redemption where redemption_id = $1");
        let row = sqlx::query(&sql)
            .bind(id)
            .fetch_optional(&mut *self.tx)
            .await?;
        row.as_ref().map(redemption).transpose()
    }

    /// Marks a redemption cancelled; false if it was already.
    pub async fn cancel_redemption(
        &mut self,
        id: &str,
        journal_id: &str,
    ) -> Result<bool, StoreError> {
        let n = sqlx::query("update redemption set state = 'cancelled', cancel_journal_id = $1, cancelled_at = $2 where redemption_id = $3 and state = 'redeemed'")
            .bind(journal_id)
            .bind(now_us())
            .bind(id)
            .execute(&mut *self.tx)
            .await?
            .rows_affected();
        Ok(n == 1)
    }
}
