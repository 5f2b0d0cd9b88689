//! The operators' loyalty administration: points rules (versioned, linted), settings, tiers and
//! overrides, coupon templates and issuance, the catalogue and redemptions, a member's
//! points with the reason of every line, and the daily run (expiry, tier review,
//! monthly car washes).

use crate::access::{require, require_customer, Action, Actor};
use crate::audit::audit;
use crate::daily::daily_run;
use crate::error::{AppError, AppResult};
use crate::input::text;
use crate::loyalty::{self, Referral};
use crate::{clock, App, Outcome};
use chrono::NaiveDate;
use forecourt_core::coupons::CouponKind;
use forecourt_core::ledger::{account, Transfer, Unit};
use forecourt_core::loyalty::{BonusRule, EarnRule, MilestoneRule};
use forecourt_core::points_expiry::{self, ExpiryPolicy};
use forecourt_core::tiers::Qualification;
use forecourt_store::ledger::NewJournal;
use forecourt_store::loyalty::{CatalogueItem, CouponTemplate, StoredRule};
use forecourt_store::{new_id, now_us, Customer, StoreError, Tier};
use serde::Deserialize;
use serde_json::{json, Value};

async fn customer(app: &App, id: &str) -> AppResult<Customer> {
    app.store()
        .customer(id)
        .await?
        .ok_or_else(|| AppError::new("customer_not_found", "no such customer"))
}

fn not_found(what: &str) -> AppError {
    AppError::new("loyalty_not_found", format!("no such {what}"))
}

fn product_codes(products: &[forecourt_store::Product]) -> Vec<String> {
    products.iter().map(|p| p.code.clone()).collect()
}

/// `GET /api/v1/loyalty/rules`: the rules (newest version of each) and what the lint
/// finds in the active set.
pub async fn rules(app: &App, me: &Actor) -> AppResult<Value> {
    require(me, Action::ViewNetwork)?;
    let cfg = loyalty::load_config(app.store()).await?;
    let products = product_codes(&app.store().products().await?);
    Ok(json!({
        "rules": cfg.stored,
        "lint": forecourt_core::loyalty::lint(&cfg.rules, &products),
    }))
}

/// `GET /api/v1/loyalty/rules/{id}`: every version of a rule.
pub async fn rule(app: &App, me: &Actor, id: String) -> AppResult<Value> {
    require(me, Action::ViewNetwork)?;
    let versions = app.store().rule_versions(&id).await?;
    if versions.is_empty() {
        return Err(not_found("points rule"));
    }
    Ok(json!({"rule_id": id, "versions": versions}))
}

#[derive(Deserialize)]
pub struct RuleBody {
    pub rule_id: Option<String>,
    /// earn | bonus | milestone
    pub kind: String,
    pub name: String,
    #[serde(default = "yes")]
    pub active: bool,
    pub rule: Value,
    /// Only lint, store nothing.
    #[serde(default)]
    pub dry_run: bool,
}

fn yes() -> bool {
    true
}

/// `POST /api/v1/loyalty/rules`: adds a rule, or a version of one. A rule that can
/// never fire is refused; overlaps with other rules are reported as warnings.
pub async fn save_rule(app: &App, me: &Actor, b: RuleBody) -> AppResult<Outcome> {
    require(me, Action::ManagePromotions)?;
    let name = &text("name", &b.name, 100)?;
    let rule_id = match &b.rule_id {
        Some(id) => {
            let id = id.trim();
            if id.is_empty()
                || id.len() > 64
                || !id
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_".contains(c))
            {
                return Err(AppError::validation(
                    "rule_id",
                    "1 to 64 letters, digits, - or _",
                ));
            }
            id.to_string()
        }
        None => new_id(),
    };
    if ["tier", "referral"].contains(&rule_id.as_str()) {
        return Err(AppError::validation("rule_id", "a reserved name"));
    }
    // The body must parse as its kind; id and version are the store's.
    let mut body = b.rule.clone();
    if let Value::Object(m) = &mut body {
        m.insert("id".into(), json!(rule_id));
        m.insert("version".into(), json!(0));
        m.entry("name").or_insert(json!(name));
    } else {
        return Err(AppError::validation("rule", "a JSON object"));
    }
    let invalid = |e: serde_json::Error| AppError::validation("rule", e);
    match b.kind.as_str() {
        "earn" => drop(serde_json::from_value::<EarnRule>(body.clone()).map_err(invalid)?),
        "bonus" => drop(serde_json::from_value::<BonusRule>(body.clone()).map_err(invalid)?),
        "milestone" => {
            drop(serde_json::from_value::<MilestoneRule>(body.clone()).map_err(invalid)?)
        }
        _ => return Err(AppError::validation("kind", "earn, bonus or milestone")),
    }
    // The set as it would be, linted.
    let mut stored: Vec<StoredRule> = app
        .store()
        .loyalty_rules()
        .await?
        .into_iter()
        .filter(|r| r.rule_id != rule_id)
        .collect();
    let candidate = StoredRule {
        rule_id: rule_id.clone(),
        version: 0,
        kind: b.kind.clone(),
        name: name.to_string(),
        body: body.clone(),
        active: b.active,
        created_by: None,
        created_at: 0,
    };
    let own = loyalty::rule_set(std::slice::from_ref(&StoredRule {
        active: true,
        ..candidate.clone()
    }))
    .map_err(|e| AppError::validation("rule", e))?;
    stored.push(candidate);
    let set = loyalty::rule_set(&stored).map_err(|e| AppError::validation("rule", e))?;
    let products = product_codes(&app.store().products().await?);
    let findings = forecourt_core::loyalty::lint(&set, &products);
    let own_findings = forecourt_core::loyalty::lint(&own, &products);
    let never: Vec<&String> = own_findings
        .iter()
        .filter(|f| f.contains("never") || f.contains("no product") || f.contains("below zero"))
        .collect();
    if !never.is_empty() {
        return Err(AppError::new(
            "rule_never_fires",
            never
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join("; "),
        ));
    }
    let warnings: Vec<&String> = findings
        .iter()
        .filter(|f| f.contains(&rule_id) || f.contains("more than one earn rule"))
        .collect();
    if b.dry_run {
        return Ok(Outcome::Done(
            json!({"rule_id": rule_id, "warnings": warnings}),
        ));
    }
    let mut tx = app.store().begin().await?;
    let version = tx
        .save_rule(&rule_id, &b.kind, name, &body, b.active, Some(&me.user_id))
        .await?;
    tx.commit().await?;
    app.cache().loyalty.invalidate();
    audit(
        app,
        me,
        "loyalty.rule_saved",
        "loyalty_rule",
        Some(&rule_id),
        json!({"version": version, "kind": b.kind, "active": b.active}),
    )
    .await?;
    Ok(Outcome::Created(
        json!({"rule_id": rule_id, "version": version, "warnings": warnings}),
    ))
}

/// `GET /api/v1/loyalty/settings`.
pub async fn settings(app: &App, me: &Actor) -> AppResult<Value> {
    require(me, Action::ViewNetwork)?;
    let cfg = loyalty::load_config(app.store()).await?;
    Ok(json!({
        "expiry": cfg.expiry,
        "tiers": cfg.qualification,
        "referral": cfg.referral,
    }))
}

/// `PUT /api/v1/loyalty/settings/{key}`: `expiry`, `tiers` or `referral`.
pub async fn put_setting(app: &App, me: &Actor, key: String, v: Value) -> AppResult<Value> {
    require(me, Action::ManagePromotions)?;
    let bad = |e: serde_json::Error| AppError::validation(&key, e);
    let value = match key.as_str() {
        "expiry" => {
            let p: ExpiryPolicy = serde_json::from_value(v).map_err(bad)?;
            if let ExpiryPolicy::FixedClearing { days, .. } = &p {
                if days.is_empty()
                    || days
                        .iter()
                        .any(|(m, d)| NaiveDate::from_ymd_opt(2025, *m, *d).is_none())
                {
                    return Err(AppError::validation(
                        "expiry.days",
                        "one or more (month, day) pairs of real dates",
                    ));
                }
            }
            serde_json::to_string(&p)
        }
        "tiers" => {
            let q: Qualification = serde_json::from_value(v).map_err(bad)?;
            if q.window_days == 0 || q.window_days > 3660 || q.grace_days > 3660 {
                return Err(AppError::validation(
                    "tiers",
                    "window_days 1 to 3660, grace_days up to 3660",
                ));
            }
            serde_json::to_string(&q)
        }
        "referral" => {
            let r: Referral = serde_json::from_value(v).map_err(bad)?;
            if r.referee_points < 0 || r.referrer_points < 0 || r.min_net_fen < 0 {
                return Err(AppError::validation("referral", "no negative values"));
            }
            serde_json::to_string(&r)
        }
        _ => return Err(not_found("setting")),
    }
    .map_err(AppError::internal)?;
    let mut tx = app.store().begin().await?;
    tx.set_loyalty_setting(&key, &value).await?;
    tx.commit().await?;
    app.cache().loyalty.invalidate();
    audit(
        app,
        me,
        "loyalty.setting_changed",
        "loyalty_setting",
        Some(&key),
        serde_json::from_str(&value).unwrap_or(Value::Null),
    )
    .await?;
    Ok(json!({"key": key, "value": serde_json::from_str::<Value>(&value).unwrap_or(Value::Null)}))
}

#[derive(Deserialize)]
pub struct TierBody {
    pub name: String,
    pub rank: i64,
    #[serde(default)]
    pub discount_fen_per_litre: i64,
    #[serde(default = "thousand")]
    pub points_multiplier_permille: i64,
    #[serde(default)]
    pub qualify_spend_fen: i64,
    #[serde(default)]
    pub qualify_litres_ml: i64,
    #[serde(default)]
    pub qualify_visits: i64,
    #[serde(default)]
    pub monthly_car_washes: i64,
}

fn thousand() -> i64 {
    1000
}

/// `PUT /api/v1/tiers/{code}`: creates or changes a tier.
pub async fn put_tier(app: &App, me: &Actor, code: String, b: TierBody) -> AppResult<Value> {
    require(me, Action::ManagePromotions)?;
    if code.is_empty()
        || code.len() > 32
        || !code.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    {
        return Err(AppError::validation("code", "1 to 32 letters, digits or _"));
    }
    let name = &text("name", &b.name, 40)?;
    if !(0..=100).contains(&b.rank)
        || !(0..=500).contains(&b.discount_fen_per_litre)
        || !(0..=10_000).contains(&b.points_multiplier_permille)
        || b.qualify_spend_fen < 0
        || b.qualify_litres_ml < 0
        || b.qualify_visits < 0
        || !(0..=31).contains(&b.monthly_car_washes)
    {
        return Err(AppError::validation(
            "tier",
            "rank 0–100, discount 0–500 fen/L, multiplier 0–10000 ‰, thresholds ≥ 0, car washes 0–31",
        ));
    }
    let t = Tier {
        code: code.clone(),
        name: name.to_string(),
        rank: b.rank,
        discount_fen_per_litre: b.discount_fen_per_litre,
        points_multiplier_permille: b.points_multiplier_permille,
        qualify_spend_fen: b.qualify_spend_fen,
        qualify_litres_ml: b.qualify_litres_ml,
        qualify_visits: b.qualify_visits,
        monthly_car_washes: b.monthly_car_washes,
    };
    let mut tx = app.store().begin().await?;
    if tx
        .tiers()
        .await?
        .iter()
        .any(|o| o.rank == t.rank && o.code != t.code)
    {
        return Err(AppError::new("conflict", "another tier has this rank"));
    }
    tx.upsert_tier(&t).await?;
    tx.commit().await?;
    app.cache().loyalty.invalidate();
    audit(
        app,
        me,
        "loyalty.tier_saved",
        "tier",
        Some(&code),
        json!({"rank": t.rank}),
    )
    .await?;
    Ok(json!(t))
}

#[derive(Deserialize)]
pub struct TierOverrideBody {
    /// The tier to hold the member at; null lifts the override.
    pub tier_code: Option<String>,
    pub reason: String,
}

/// `POST /api/v1/customers/{id}/tier`: sets a tier by hand, with a reason.
pub async fn override_tier(
    app: &App,
    me: &Actor,
    id: String,
    b: TierOverrideBody,
) -> AppResult<Value> {
    require(me, Action::ManagePromotions)?;
    let c = customer(app, &id).await?;
    require_customer(app, me, &c).await?;
    let reason = &crate::input::long_text("reason", &b.reason, 200)?;
    if let Some(code) = &b.tier_code {
        if app.store().tier(code).await?.is_none() {
            return Err(not_found("tier"));
        }
    }
    let mut tx = app.store().begin().await?;
    tx.set_tier_override(&id, b.tier_code.as_deref(), Some(reason))
        .await?;
    tx.commit().await?;
    audit(
        app,
        me,
        "loyalty.tier_override",
        "customer",
        Some(&id),
        json!({"tier_code": b.tier_code, "reason": reason}),
    )
    .await?;
    let c = customer(app, &id).await?;
    Ok(json!({"customer_id": id, "tier_code": c.tier_code, "override": b.tier_code}))
}

/// `GET /api/v1/loyalty/coupon-templates`.
pub async fn templates(app: &App, me: &Actor) -> AppResult<Value> {
    require(me, Action::ViewNetwork)?;
    Ok(json!({"templates": app.store().coupon_templates().await?}))
}

#[derive(Deserialize)]
pub struct TemplateBody {
    pub name: String,
    pub kind: String,
    pub value: i64,
    #[serde(default)]
    pub min_amount_fen: i64,
    #[serde(default)]
    pub products: Vec<String>,
    pub valid_days: i64,
}

/// `POST /api/v1/loyalty/coupon-templates`.
pub async fn create_template(app: &App, me: &Actor, b: TemplateBody) -> AppResult<Outcome> {
    require(me, Action::ManagePromotions)?;
    let name = &text("name", &b.name, 100)?;
    let kind = CouponKind::parse(&b.kind).ok_or_else(|| {
        AppError::validation(
            "kind",
            "amount_off, per_litre_off, percent_off_non_fuel or free_car_wash",
        )
    })?;
    let max = match kind {
        CouponKind::AmountOff => 10_000_000,
        CouponKind::PerLitreOff => 500,
        CouponKind::PercentOffNonFuel => 100,
        CouponKind::FreeCarWash => 1,
    };
    if b.value <= 0 || b.value > max {
        return Err(AppError::validation(
            "value",
            format!("1 to {max} for {}", b.kind),
        ));
    }
    if b.min_amount_fen < 0 || !(1..=3660).contains(&b.valid_days) {
        return Err(AppError::validation(
            "valid_days",
            "1 to 3660 days, and a minimum amount of 0 or more",
        ));
    }
    let known = product_codes(&app.store().products().await?);
    if let Some(p) = b.products.iter().find(|p| !known.contains(p)) {
        return Err(AppError::new("unknown_product", format!("no product {p}")));
    }
    let t = CouponTemplate {
        template_id: new_id(),
        name: name.to_string(),
        kind: kind.as_str().to_string(),
        value: b.value,
        min_amount_fen: b.min_amount_fen,
        products: b.products,
        valid_days: b.valid_days,
        active: true,
    };
    let mut tx = app.store().begin().await?;
    tx.create_coupon_template(&t).await?;
    tx.commit().await?;
    Ok(Outcome::Created(json!(t)))
}

#[derive(Deserialize)]
pub struct IssueBody {
    pub template_id: String,
    /// To one member…
    pub customer_id: Option<String>,
    /// …to every member with this tag (a segment)…
    pub tag: Option<String>,
    /// …or as a public code anyone may present (one use).
    pub code: Option<String>,
    pub valid_from: Option<String>,
}

pub(crate) fn coupon_code() -> String {
    // 12 characters from an alphabet without look-alikes.
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let bytes: [u8; 12] = rand::random();
    bytes
        .iter()
        .map(|b| ALPHABET[(*b as usize) % ALPHABET.len()] as char)
        .collect()
}

/// `POST /api/v1/loyalty/coupons`: issues coupons of a template.
pub async fn issue_coupons(app: &App, me: &Actor, b: IssueBody) -> AppResult<Outcome> {
    require(me, Action::ManagePromotions)?;
    let t = app
        .store()
        .coupon_template(&b.template_id)
        .await?
        .filter(|t| t.active)
        .ok_or_else(|| not_found("coupon template"))?;
    let from = match &b.valid_from {
        Some(s) => clock::parse_moment("valid_from", s)?,
        None => now_us(),
    };
    let targets: Vec<(String, Option<String>)> = match (&b.customer_id, &b.tag, &b.code) {
        (Some(id), None, None) => {
            let c = customer(app, id).await?;
            require_customer(app, me, &c).await?;
            vec![(coupon_code(), Some(c.customer_id))]
        }
        (None, Some(tag), None) => {
            // A segment spans the network: only a company-wide user issues to it.
            if crate::access::Scope::of(me) != crate::access::Scope::Company {
                return Err(AppError::forbidden(
                    "issuing to a segment needs a company-wide scope",
                ));
            }
            app.store()
                .customers_tagged(tag)
                .await?
                .into_iter()
                .map(|id| (coupon_code(), Some(id)))
                .collect()
        }
        (None, None, Some(code)) => {
            let code = code.trim().to_ascii_uppercase();
            if code.len() < 4 || code.len() > 32 || !code.chars().all(|c| c.is_ascii_alphanumeric())
            {
                return Err(AppError::validation("code", "4 to 32 letters or digits"));
            }
            vec![(code, None)]
        }
        _ => {
            return Err(AppError::validation(
                "customer_id",
                "exactly one of customer_id, tag or code",
            ))
        }
    };
    // The same rules as any coupon staff issue: a fixed-amount coupon's value is
    // limited, and above the threshold each one waits for a second person. (A
    // customer named here passed the scope check above; a segment is company-wide.)
    let value = (t.kind == CouponKind::AmountOff.as_str()).then_some(t.value);
    let how = crate::access::coupon_issue(app, me, b.code.is_none().then_some(true), value)?;
    let mut tx = app.store().begin().await?;
    let mut issued = Vec::new();
    for (code, owner) in &targets {
        if tx
            .issue_template_coupon(code, &t, owner.as_deref(), from)
            .await?
        {
            let approval = match how {
                crate::access::CouponIssue::Now => None,
                crate::access::CouponIssue::NeedsApproval => Some(
                    tx.hold_coupon_for_approval(
                        code,
                        &format!("coupon {code} of template {}", t.name),
                        &me.user_id,
                    )
                    .await?,
                ),
            };
            let state = if approval.is_some() {
                "pending"
            } else {
                "issued"
            };
            issued.push(json!({"code": code, "customer_id": owner, "state": state, "approval_id": approval}));
        } else if b.code.is_some() {
            return Err(AppError::new("conflict", format!("coupon {code} exists")));
        }
    }
    let pending = how == crate::access::CouponIssue::NeedsApproval;
    crate::audit::audit_in(
        &mut tx,
        me,
        "loyalty.coupons_issued",
        "coupon_template",
        Some(&t.template_id),
        json!({"count": issued.len(), "pending": pending}),
    )
    .await?;
    tx.commit().await?;
    let body = json!({"issued": issued.len(), "coupons": issued});
    Ok(if pending {
        Outcome::Pending(body)
    } else {
        Outcome::Created(body)
    })
}

/// `GET /api/v1/customers/{id}/coupons`.
pub async fn member_coupons(app: &App, me: &Actor, id: String) -> AppResult<Value> {
    require(me, Action::ViewCustomer)?;
    let c = customer(app, &id).await?;
    require_customer(app, me, &c).await?;
    Ok(json!({"coupons": app.store().coupons_of(&id).await?}))
}

/// `GET /api/v1/loyalty/catalogue`.
pub async fn catalogue(app: &App, me: &Actor) -> AppResult<Value> {
    require(me, Action::ViewNetwork)?;
    Ok(json!({"items": app.store().catalogue().await?}))
}

#[derive(Deserialize)]
pub struct ItemBody {
    pub name: String,
    /// gift | coupon | car_wash
    pub kind: String,
    pub points_cost: i64,
    pub stock: Option<i64>,
    pub template_id: Option<String>,
}

/// `POST /api/v1/loyalty/catalogue`.
pub async fn create_item(app: &App, me: &Actor, b: ItemBody) -> AppResult<Outcome> {
    require(me, Action::ManagePromotions)?;
    let name = &text("name", &b.name, 100)?;
    if !(1..=100_000_000).contains(&b.points_cost) || b.stock.is_some_and(|s| s < 0) {
        return Err(AppError::validation(
            "points_cost",
            "1 to 100,000,000 points, and a stock of 0 or more",
        ));
    }
    match (b.kind.as_str(), &b.template_id) {
        ("gift", None) => {}
        ("coupon" | "car_wash", Some(id)) => {
            let t = app
                .store()
                .coupon_template(id)
                .await?
                .ok_or_else(|| not_found("coupon template"))?;
            if b.kind == "car_wash" && t.kind != "free_car_wash" {
                return Err(AppError::validation(
                    "template_id",
                    "a car wash item needs a free_car_wash template",
                ));
            }
        }
        _ => {
            return Err(AppError::validation(
                "kind",
                "gift (without template) or coupon / car_wash (with template_id)",
            ))
        }
    }
    let item = CatalogueItem {
        item_id: new_id(),
        name: name.to_string(),
        kind: b.kind,
        points_cost: b.points_cost,
        stock: b.stock,
        template_id: b.template_id,
        active: true,
    };
    let mut tx = app.store().begin().await?;
    tx.create_catalogue_item(&item).await?;
    tx.commit().await?;
    Ok(Outcome::Created(json!(item)))
}

#[derive(Deserialize)]
pub struct RedeemBody {
    pub item_id: String,
    /// Makes a retried request redeem once.
    pub request_id: String,
    /// The member's card, presented to spend their points, and its PIN where it has one.
    pub card_no: Option<String>,
    pub pin: Option<String>,
}

/// `POST /api/v1/customers/{id}/redemptions`: spends points on a catalogue item.
pub async fn redeem(app: &App, me: &Actor, id: String, b: RedeemBody) -> AppResult<Outcome> {
    require(me, Action::Sell)?;
    let c = customer(app, &id).await?;
    require_customer(app, me, &c).await?;
    if b.request_id.is_empty() || b.request_id.len() > 64 {
        return Err(AppError::validation("request_id", "1 to 64 characters"));
    }
    // Knowing the member (by phone, say) never spends their points: the card does.
    let actor = format!("user:{}", me.username);
    crate::pos::present_card(app, &actor, b.card_no.as_deref(), b.pin.as_deref(), &id)
        .await?
        .require_spend("the member's points")?;
    let key = format!("redeem:{id}:{}", b.request_id);
    for _ in 0..5 {
        let mut tx = app.store().begin().await?;
        if let Some(prev) = tx.redemption_by_key(&key).await? {
            return Ok(Outcome::Done(json!(prev)));
        }
        let item = tx
            .catalogue_item(&b.item_id)
            .await?
            .filter(|i| i.active)
            .ok_or_else(|| not_found("catalogue item"))?;
        if !tx.take_stock(&item.item_id).await? {
            return Err(AppError::new(
                "out_of_stock",
                format!("{} is out of stock", item.name),
            ));
        }
        let available = tx
            .account_totals(&account::customer_points(&id))
            .await?
            .available();
        if available < item.points_cost {
            return Err(AppError::new(
                "insufficient_points",
                format!(
                    "{} needs {} points; the member has {available}",
                    item.name, item.points_cost
                ),
            ));
        }
        let journal = NewJournal {
            idempotency_key: key.clone(),
            kind: "points_redeem",
            station_id: None,
            occurred_at: now_us(),
            memo: Some(format!("redeemed: {}", item.name)),
        };
        let transfer = Transfer::new(
            account::customer_points(&id),
            account::POINTS_REDEEMED,
            item.points_cost,
            Unit::Points,
        );
        let journal_id = match tx.post(&journal, &[transfer], false).await {
            Err(StoreError::Conflict(_)) | Err(StoreError::Retry) => continue,
            other => other?,
        };
        let takes = match loyalty::take_points(&mut tx, &id, item.points_cost, None).await {
            Err(e) if e.code == "unavailable" => continue,
            other => other?,
        };
        let coupon = match &item.template_id {
            Some(t) => {
                let t = tx
                    .coupon_template(t)
                    .await?
                    .ok_or_else(|| not_found("coupon template"))?;
                let code = coupon_code();
                tx.issue_template_coupon(&code, &t, Some(&id), now_us())
                    .await?;
                Some(code)
            }
            None => None,
        };
        let redemption_id = new_id();
        tx.insert_redemption(
            &redemption_id,
            &key,
            &item.item_id,
            &id,
            item.points_cost,
            &journal_id,
            coupon.as_deref(),
            &takes,
            Some(&me.user_id),
        )
        .await?;
        let r = tx
            .redemption(&redemption_id)
            .await?
            .ok_or_else(|| AppError::internal("redemption vanished"))?;
        crate::audit::audit_in(
            &mut tx,
            me,
            "loyalty.redemption",
            "customer",
            Some(&id),
            json!({"redemption_id": redemption_id, "item_id": item.item_id, "points": item.points_cost, "coupon_code": coupon}),
        )
        .await?;
        tx.commit().await?;
        return Ok(Outcome::Created(json!(r)));
    }
    Err(AppError::new(
        "unavailable",
        "the member's points changed meanwhile; retry",
    ))
}

/// `POST /api/v1/redemptions/{id}/cancel`: gives the points back (to the lots they
/// came from) and the item back to stock; a coupon it gave must be unused.
pub async fn cancel_redemption(app: &App, me: &Actor, id: String) -> AppResult<Value> {
    require(me, Action::ApproveAdjustment)?;
    let owner = {
        let mut tx = app.store().begin_read().await?;
        tx.redemption(&id)
            .await?
            .ok_or_else(|| not_found("redemption"))?
            .customer_id
    };
    let c = customer(app, &owner).await?;
    require_customer(app, me, &c).await?;
    let mut tx = app.store().begin().await?;
    let r = tx
        .redemption(&id)
        .await?
        .ok_or_else(|| not_found("redemption"))?;
    if r.state != "redeemed" {
        return Err(AppError::new(
            "conflict",
            format!("the redemption is {}", r.state),
        ));
    }
    if let Some(code) = &r.coupon_code {
        if !tx.void_coupon(code).await? {
            return Err(AppError::new(
                "conflict",
                "the coupon of this redemption was used: it cannot be cancelled",
            ));
        }
    }
    let journal = NewJournal {
        idempotency_key: format!("redeem_cancel:{id}"),
        kind: "points_return",
        station_id: None,
        occurred_at: now_us(),
        memo: Some("redemption cancelled".into()),
    };
    let journal_id = tx
        .post(
            &journal,
            &[Transfer::new(
                account::POINTS_REDEEMED,
                account::customer_points(&r.customer_id),
                r.points,
                Unit::Points,
            )],
            false,
        )
        .await?;
    tx.restore_lots(&r.customer_id, &r.takes).await?;
    tx.return_stock(&r.item_id).await?;
    if !tx.cancel_redemption(&id, &journal_id).await? {
        return Err(AppError::new(
            "conflict",
            "the redemption was cancelled meanwhile",
        ));
    }
    let r = tx
        .redemption(&id)
        .await?
        .ok_or_else(|| AppError::internal("redemption vanished"))?;
    // Under the customer, so that the entry is seen within the customer's scope.
    crate::audit::audit_in(
        &mut tx,
        me,
        "loyalty.redemption_cancelled",
        "customer",
        Some(&r.customer_id),
        json!({"redemption_id": id}),
    )
    .await?;
    tx.commit().await?;
    Ok(json!(r))
}

/// `GET /api/v1/customers/{id}/points`: balance, lots with their expiry, history with
/// the reason of every line, and redemptions.
pub async fn points(app: &App, me: &Actor, id: String) -> AppResult<Value> {
    require(me, Action::ViewCustomer)?;
    let c = customer(app, &id).await?;
    require_customer(app, me, &c).await?;
    let store = app.store();
    let cfg = loyalty::config(app).await?;
    let lots: Vec<Value> = store
        .points_lots(&id)
        .await?
        .iter()
        .map(|l| {
            json!({
                "earned_on": l.lot_id, "points": l.points, "remaining": l.remaining,
                "expires_after": points_expiry::last_valid_day(&cfg.expiry, l.earned_on).map(|d| d.to_string()),
            })
        })
        .collect();
    let history: Vec<Value> = store
        .points_history(&id, 200)
        .await?
        .into_iter()
        .map(|m| {
            json!({
                "occurred_at": clock::rfc3339(m.occurred_at), "kind": m.kind, "points": m.points,
                "memo": m.memo, "sale_id": m.sale_id, "reasons": m.reasons,
            })
        })
        .collect();
    Ok(json!({
        "customer_id": id,
        "balance": store.points_balance(&id).await?,
        "tier_code": c.tier_code,
        "lots": lots,
        "history": history,
        "redemptions": store.redemptions_of(&id).await?,
    }))
}

#[derive(Deserialize)]
pub struct RunBody {
    /// The local day to run for (default today).
    pub date: Option<String>,
}

/// `POST /api/v1/loyalty/run`: the daily run (expiry, tier review, monthly car washes).
pub async fn run(app: &App, me: &Actor, b: RunBody) -> AppResult<Value> {
    require(me, Action::ManagePromotions)?;
    let day = match &b.date {
        Some(d) => NaiveDate::parse_from_str(d, "%Y-%m-%d")
            .map_err(|_| AppError::validation("date", "YYYY-MM-DD"))?,
        None => clock::network_today(),
    };
    let report = daily_run(app.store(), day).await?;
    app.cache().loyalty.invalidate();
    audit(app, me, "loyalty.daily_run", "loyalty", None, json!(report)).await?;
    Ok(json!(report))
}
