//! Partner merchants (商户联盟, SPEC F7, issue 17 item 6): partners and their offers to
//! members (办油卡送保险, 洗车8折, …), members' claims with a redemption code each, the
//! partner's redemption by code with its own API key, and the monthly statement.
//!
//! A partner's key (`fpk_` and 256 random bits, shown once, stored as its SHA-256)
//! reaches only the partner routes and only the partner's own codes: another partner's
//! code answers `redemption_not_found`, exactly like a code that does not exist. A code
//! is redeemed by one conditional update, so of two parallel redemptions exactly one
//! succeeds. Partners and offers are headquarters' (`ManagePartners`).

use crate::access::{require, Action, Actor};
use crate::audit::audit_in;
use crate::clock::{local, network_day_end_us, rfc3339, NETWORK_TZ};
use crate::error::{AppError, AppResult};
use crate::input::{long_text, opt_text, text};
use crate::secret::{new_token, token_hash};
use crate::{App, Outcome};
use chrono::NaiveDate;
use forecourt_core::promo::{self, PARTNER_CATEGORIES};
use forecourt_store::promo::{ClaimRow, NewClaim, NewOffer, OfferRow, PartnerRow};
use serde::Deserialize;
use serde_json::{json, Value};

/// The prefix of a partner's API key.
pub const KEY_PREFIX: &str = "fpk_";
const LIMIT_MAX: i64 = 100;

/// `POST /api/v1/partners`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PartnerBody {
    pub name: String,
    pub category: String,
    #[serde(default)]
    pub contact: Option<String>,
}

/// `POST /api/v1/partners/{id}/offers`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OfferBody {
    pub title: String,
    pub description: String,
    /// YYYY-MM-DD, both days included.
    pub valid_from: String,
    pub valid_until: String,
    #[serde(default = "one")]
    pub per_member_limit: i64,
    /// Tier codes that qualify; empty: every member holding a usable card.
    #[serde(default)]
    pub tiers: Vec<String>,
}

fn one() -> i64 {
    1
}

/// `POST /api/v1/partner/redemptions` (the partner's key).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedeemBody {
    pub code: String,
}

fn not_found() -> AppError {
    AppError::new("partner_not_found", "no partner with this id")
}

fn offer_not_found() -> AppError {
    AppError::new("partner_not_found", "no offer with this id")
}

fn redemption_not_found() -> AppError {
    AppError::new(
        "redemption_not_found",
        "no redemption code of yours matches; check it and type it again",
    )
}

fn date(field: &'static str, s: &str) -> AppResult<NaiveDate> {
    NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d")
        .map_err(|_| AppError::validation(field, "a date YYYY-MM-DD"))
}

fn partner_json(p: &PartnerRow, offers: &[OfferRow]) -> Value {
    json!({
        "id": p.partner_id,
        "name": p.name,
        "category": p.category,
        "contact": p.contact,
        "active": p.active,
        "has_key": p.has_key,
        "created_at": rfc3339(p.created_at),
        "offers": offers.iter().map(offer_json).collect::<Vec<_>>(),
    })
}

fn tiers_of(o: &OfferRow) -> Vec<String> {
    serde_json::from_str(&o.tiers).unwrap_or_default()
}

fn offer_json(o: &OfferRow) -> Value {
    json!({
        "id": o.offer_id,
        "partner_id": o.partner_id,
        "title": o.title,
        "description": o.description,
        "valid_from": o.valid_from,
        "valid_until": o.valid_until,
        "per_member_limit": o.per_member_limit,
        "tiers": tiers_of(o),
        "active": o.active,
    })
}

/// Creates a partner and its API key (shown once). Answers the partner with `api_key`.
pub async fn create_partner(app: &App, me: &Actor, b: PartnerBody) -> AppResult<Outcome> {
    require(me, Action::ManagePartners)?;
    let name = text("name", &b.name, 100)?;
    if !PARTNER_CATEGORIES.contains(&b.category.as_str()) {
        return Err(AppError::validation(
            "category",
            format!("one of {}", PARTNER_CATEGORIES.join(", ")),
        ));
    }
    let contact = opt_text("contact", &b.contact, 200)?;
    let key = new_token(KEY_PREFIX);
    let now = app.clock().now_us();
    let mut tx = app.store().begin().await?;
    let id = tx
        .create_partner(
            &name,
            &b.category,
            contact.as_deref(),
            &token_hash(&key),
            now,
        )
        .await?;
    audit_in(
        &mut tx,
        me,
        "partner.create",
        "partner",
        Some(&id),
        json!({"name": name, "category": b.category}),
    )
    .await?;
    tx.commit().await?;
    let p = app.store().partner(&id).await?.ok_or_else(not_found)?;
    let mut v = partner_json(&p, &[]);
    v["api_key"] = json!(key);
    Ok(Outcome::Created(v))
}

/// Replaces a partner's API key; the old one stops working at once. Answers `api_key`.
pub async fn rotate_key(app: &App, me: &Actor, id: &str) -> AppResult<Value> {
    require(me, Action::ManagePartners)?;
    let key = new_token(KEY_PREFIX);
    let mut tx = app.store().begin().await?;
    if !tx.set_partner_key(id, &token_hash(&key)).await? {
        return Err(not_found());
    }
    audit_in(&mut tx, me, "partner.key", "partner", Some(id), json!({})).await?;
    tx.commit().await?;
    Ok(json!({ "api_key": key }))
}

/// Switches a partner on or off (an inactive partner's key is refused and its offers
/// are not shown to members).
pub async fn set_active(app: &App, me: &Actor, id: &str, active: bool) -> AppResult<Value> {
    require(me, Action::ManagePartners)?;
    let mut tx = app.store().begin().await?;
    if !tx.set_partner_active(id, active).await? {
        return Err(not_found());
    }
    audit_in(
        &mut tx,
        me,
        "partner.active",
        "partner",
        Some(id),
        json!({ "active": active }),
    )
    .await?;
    tx.commit().await?;
    get_partner(app, me, id).await
}

pub async fn list_partners(app: &App, me: &Actor) -> AppResult<Vec<Value>> {
    require(me, Action::ManagePartners)?;
    let offers = app.store().partner_offers(None).await?;
    Ok(app
        .store()
        .partners()
        .await?
        .iter()
        .map(|p| {
            let mine: Vec<OfferRow> = offers
                .iter()
                .filter(|o| o.partner_id == p.partner_id)
                .cloned()
                .collect();
            partner_json(p, &mine)
        })
        .collect())
}

pub async fn get_partner(app: &App, me: &Actor, id: &str) -> AppResult<Value> {
    require(me, Action::ManagePartners)?;
    let p = app.store().partner(id).await?.ok_or_else(not_found)?;
    let offers = app.store().partner_offers(Some(id)).await?;
    Ok(partner_json(&p, &offers))
}

pub async fn create_offer(
    app: &App,
    me: &Actor,
    partner_id: &str,
    b: OfferBody,
) -> AppResult<Value> {
    require(me, Action::ManagePartners)?;
    app.store()
        .partner(partner_id)
        .await?
        .ok_or_else(not_found)?;
    let title = text("title", &b.title, 100)?;
    let description = long_text("description", &b.description, 1000)?;
    let from = date("valid_from", &b.valid_from)?;
    let until = date("valid_until", &b.valid_until)?;
    if until < from {
        return Err(AppError::validation(
            "valid_until",
            "the last day comes on or after the first",
        ));
    }
    if !(1..=LIMIT_MAX).contains(&b.per_member_limit) {
        return Err(AppError::validation(
            "per_member_limit",
            format!("1 to {LIMIT_MAX} claims per member"),
        ));
    }
    let tiers = app.store().tiers().await?;
    for t in &b.tiers {
        if !tiers.iter().any(|x| &x.code == t) {
            return Err(AppError::validation("tiers", format!("no tier {t}")));
        }
    }
    let tiers_json = serde_json::to_string(&b.tiers).map_err(AppError::internal)?;
    let mut tx = app.store().begin().await?;
    let id = tx
        .create_offer(&NewOffer {
            partner_id,
            title: &title,
            description: &description,
            valid_from: &from.format("%Y-%m-%d").to_string(),
            valid_until: &until.format("%Y-%m-%d").to_string(),
            per_member_limit: b.per_member_limit,
            tiers: &tiers_json,
            created_at: app.clock().now_us(),
        })
        .await?;
    audit_in(
        &mut tx,
        me,
        "partner.offer",
        "partner",
        Some(partner_id),
        json!({"offer_id": id, "title": title}),
    )
    .await?;
    tx.commit().await?;
    let o = app
        .store()
        .partner_offer(&id)
        .await?
        .ok_or_else(offer_not_found)?;
    Ok(offer_json(&o))
}

/// An offer as a member sees it: whether they may claim it now and how many claims
/// they have left.
#[derive(Debug, Clone)]
pub struct MemberOffer {
    pub offer: OfferRow,
    pub claimed: i64,
    pub left: i64,
}

/// What a member qualifies for today, and whether they hold a usable card.
async fn member_terms(
    app: &App,
    customer_id: &str,
) -> AppResult<(forecourt_store::Customer, bool)> {
    let c = app
        .store()
        .customer(customer_id)
        .await?
        .filter(|c| c.anonymized_at.is_none())
        .ok_or_else(|| AppError::new("customer_not_found", "no customer with this id"))?;
    let holds_card = app
        .store()
        .cards_of_customer(customer_id)
        .await?
        .iter()
        .any(|card| card.state == "active");
    Ok((c, holds_card))
}

fn offer_open(o: &OfferRow, today: &str) -> bool {
    o.active
        && o.partner_active
        && o.valid_from.as_str() <= today
        && today <= o.valid_until.as_str()
}

/// The offers open to a member today, with what they claimed of each.
pub async fn member_offers(app: &App, customer_id: &str) -> AppResult<Vec<MemberOffer>> {
    let (c, holds_card) = member_terms(app, customer_id).await?;
    let today = local(NETWORK_TZ, app.clock().now_us())
        .date
        .format("%Y-%m-%d")
        .to_string();
    let claims = app.store().claims_of_customer(customer_id).await?;
    Ok(app
        .store()
        .partner_offers(None)
        .await?
        .into_iter()
        .filter(|o| offer_open(o, &today))
        .filter(|o| promo::offer_qualifies(&tiers_of(o), Some(&c.tier_code), holds_card))
        .map(|o| {
            let claimed = claims.iter().filter(|x| x.offer_id == o.offer_id).count() as i64;
            MemberOffer {
                left: (o.per_member_limit - claimed).max(0),
                claimed,
                offer: o,
            }
        })
        .collect())
}

/// A member claims an offer: a redemption code, good until the offer's last day. Two
/// parallel claims of one member decide one after the other (the member's row is
/// locked), so the per-member limit holds.
pub async fn claim(app: &App, customer_id: &str, offer_id: &str) -> AppResult<ClaimRow> {
    let (c, holds_card) = member_terms(app, customer_id).await?;
    let o = app
        .store()
        .partner_offer(offer_id)
        .await?
        .ok_or_else(offer_not_found)?;
    let now = app.clock().now_us();
    let today = local(NETWORK_TZ, now).date;
    if !offer_open(&o, &today.format("%Y-%m-%d").to_string())
        || !promo::offer_qualifies(&tiers_of(&o), Some(&c.tier_code), holds_card)
    {
        return Err(AppError::new(
            "offer_unavailable",
            "this offer is not open to you today",
        ));
    }
    let until = date("valid_until", &o.valid_until)?;
    let expires_at = network_day_end_us(until);
    let mut tx = app.store().begin().await?;
    tx.lock_customer_for_survey(customer_id).await?;
    if tx.claims_count(customer_id, offer_id).await? >= o.per_member_limit {
        return Err(AppError::new(
            "offer_limit_reached",
            "you have claimed this offer as often as it allows",
        ));
    }
    for _ in 0..5 {
        let code = crate::leaflets::new_code();
        if let Some(_id) = tx
            .insert_claim(&NewClaim {
                offer_id,
                partner_id: &o.partner_id,
                customer_id,
                code: &code,
                claimed_at: now,
                expires_at,
            })
            .await?
        {
            let row = tx
                .claim_by_code(&code)
                .await?
                .ok_or_else(|| AppError::internal("claim vanished"))?;
            tx.commit().await?;
            return Ok(row);
        }
    }
    Err(AppError::internal("could not draw a free redemption code"))
}

/// A member's claims, newest first.
pub async fn member_claims(app: &App, customer_id: &str) -> AppResult<Vec<ClaimRow>> {
    Ok(app.store().claims_of_customer(customer_id).await?)
}

/// The partner whose key this is (active partners only).
pub async fn partner_by_key(app: &App, key: &str) -> AppResult<Option<PartnerRow>> {
    if !key.starts_with(KEY_PREFIX) {
        return Ok(None);
    }
    Ok(app.store().partner_by_key(&token_hash(key)).await?)
}

fn redemption_json(c: &ClaimRow) -> Value {
    json!({
        "code": c.code,
        "offer_id": c.offer_id,
        "offer_title": c.offer_title,
        "claimed_at": rfc3339(c.claimed_at),
        "redeemed_at": c.redeemed_at.map(rfc3339),
    })
}

/// The partner redeems a member's code: once. Answers the redemption.
pub async fn redeem(app: &App, partner: &PartnerRow, b: RedeemBody) -> AppResult<Value> {
    let code = promo::parse_code(&b.code).ok_or_else(redemption_not_found)?;
    let now = app.clock().now_us();
    let mut tx = app.store().begin().await?;
    let done = tx.redeem_claim(&partner.partner_id, &code, now).await?;
    let row = tx.claim_by_code(&code).await?;
    let row = match row {
        Some(r) if r.partner_id == partner.partner_id => r,
        _ => return Err(redemption_not_found()),
    };
    if !done {
        return Err(if row.state == "redeemed" {
            AppError::new("redemption_used", "this code was redeemed already")
        } else {
            AppError::new("redemption_expired", "this code has expired")
        });
    }
    tx.audit(&forecourt_store::audit::AuditEntry {
        actor: &format!("partner:{}", partner.partner_id),
        action: "partner.redeem",
        target_kind: "partner",
        target_id: Some(&partner.partner_id),
        source: None,
        detail: json!({"offer_id": row.offer_id}),
    })
    .await?;
    tx.commit().await?;
    Ok(redemption_json(&row))
}

/// `YYYY-MM` as the instants that bound the month in the network's time zone.
fn month_bounds(month: &str) -> AppResult<(i64, i64)> {
    let first = NaiveDate::parse_from_str(&format!("{}-01", month.trim()), "%Y-%m-%d")
        .map_err(|_| AppError::validation("month", "a month YYYY-MM"))?;
    let last = first
        .checked_add_months(chrono::Months::new(1))
        .and_then(|d| d.pred_opt())
        .ok_or_else(|| AppError::validation("month", "a month YYYY-MM"))?;
    let before = first
        .pred_opt()
        .ok_or_else(|| AppError::validation("month", "a month YYYY-MM"))?;
    Ok((network_day_end_us(before), network_day_end_us(last)))
}

/// A partner's statement of one month: every redemption, and the count per offer.
async fn statement_of(app: &App, p: &PartnerRow, month: &str) -> AppResult<Value> {
    let (from, to) = month_bounds(month)?;
    let rows = app
        .store()
        .partner_redemptions(&p.partner_id, from, to)
        .await?;
    let mut by_offer: Vec<(String, String, i64)> = Vec::new();
    for r in &rows {
        match by_offer.iter_mut().find(|x| x.0 == r.offer_id) {
            Some(x) => x.2 += 1,
            None => by_offer.push((r.offer_id.clone(), r.offer_title.clone(), 1)),
        }
    }
    Ok(json!({
        "partner": {"id": p.partner_id, "name": p.name},
        "month": month.trim(),
        "redemptions": rows.iter().map(redemption_json).collect::<Vec<_>>(),
        "by_offer": by_offer.iter().map(|(id, t, n)| json!({"offer_id": id, "title": t, "redemptions": n})).collect::<Vec<_>>(),
        "total": rows.len(),
    }))
}

/// The statement as CSV: one line per redemption.
pub fn statement_csv(v: &Value) -> String {
    let mut out = String::from("redeemed_at,code,offer\n");
    for r in v["redemptions"].as_array().into_iter().flatten() {
        let title = r["offer_title"].as_str().unwrap_or("").replace('"', "\"\"");
        out.push_str(&format!(
            "{},{},\"{}\"\n",
            r["redeemed_at"].as_str().unwrap_or(""),
            r["code"].as_str().unwrap_or(""),
            title
        ));
    }
    out
}

/// Headquarters read a partner's statement.
pub async fn statement(app: &App, me: &Actor, partner_id: &str, month: &str) -> AppResult<Value> {
    require(me, Action::ManagePartners)?;
    let p = app
        .store()
        .partner(partner_id)
        .await?
        .ok_or_else(not_found)?;
    statement_of(app, &p, month).await
}

/// The partner reads its own statement.
pub async fn own_statement(app: &App, p: &PartnerRow, month: &str) -> AppResult<Value> {
    statement_of(app, p, month).await
}
