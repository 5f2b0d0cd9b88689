//! Recharge promotions ("top up 1000, get 30"), the tiers, and the amount-off coupons
//! staff issue (within the limits of `access::coupon_issue`).

use crate::access::{require, Action, Actor};
use crate::clock;
use crate::error::{AppError, AppResult};
use crate::input::{text, NAME_CHARS_MAX};
use crate::{App, Outcome};
use forecourt_core::Fen;
use forecourt_store::audit::AuditEntry;
use forecourt_store::{now_us, StoreError};
use serde::Deserialize;
use serde_json::{json, Value};

#[derive(Deserialize)]
pub struct PromotionBody {
    pub name: String,
    pub min_amount_fen: i64,
    pub bonus_fen: i64,
    pub valid_from: Option<String>,
    pub valid_until: Option<String>,
}

/// `POST /api/v1/recharge-promotions`: "top up 1000, get 30".
pub async fn create_promotion(app: &App, me: &Actor, b: PromotionBody) -> AppResult<Outcome> {
    require(me, Action::ManagePromotions)?;
    let name = text("name", &b.name, NAME_CHARS_MAX)?;
    if b.min_amount_fen <= 0 || b.bonus_fen < 0 || b.bonus_fen > b.min_amount_fen {
        return Err(AppError::validation(
            "min_amount_fen/bonus_fen",
            "a positive minimum and a bonus between 0 and the minimum",
        ));
    }
    let from = match &b.valid_from {
        Some(t) => clock::parse_moment("valid_from", t)?,
        None => now_us(),
    };
    let until = match &b.valid_until {
        Some(t) => Some(clock::parse_moment("valid_until", t)?),
        None => None,
    };
    if until.is_some_and(|u| u <= from) {
        return Err(AppError::validation("valid_until", "after valid_from"));
    }
    let mut tx = app.store().begin().await?;
    let id = tx
        .create_promotion(&name, b.min_amount_fen, b.bonus_fen, from, until)
        .await?;
    crate::audit::audit_in(
        &mut tx,
        me,
        "promotion.create",
        "promotion",
        Some(&id),
        json!({"min_amount_fen": b.min_amount_fen, "bonus_fen": b.bonus_fen, "valid_from": from, "valid_until": until}),
    )
    .await?;
    tx.commit().await?;
    Ok(Outcome::Created(
        json!({"id": id, "name": name, "min_amount_fen": b.min_amount_fen, "bonus_fen": b.bonus_fen}),
    ))
}

pub async fn promotions(app: &App, me: &Actor) -> AppResult<Value> {
    require(me, Action::ViewNetwork)?;
    let promotions: Vec<Value> = app
        .store()
        .recharge_promotions()
        .await?
        .into_iter()
        .map(|p| {
            json!({
                "promotion_id": p.promotion_id,
                "name": p.name,
                "min_amount_fen": p.min_amount_fen,
                "bonus_fen": p.bonus_fen,
                "valid_from": clock::rfc3339(p.valid_from),
                "valid_until": p.valid_until.map(clock::rfc3339),
            })
        })
        .collect();
    Ok(json!({ "promotions": promotions }))
}

pub async fn tiers(app: &App, me: &Actor) -> AppResult<Value> {
    require(me, Action::ViewNetwork)?;
    Ok(json!({"tiers": app.store().tiers().await?}))
}

#[derive(Deserialize)]
pub struct CouponBody {
    pub code: String,
    pub customer_id: Option<String>,
    pub amount_fen: i64,
    pub valid_from: Option<String>,
    pub valid_until: Option<String>,
}

/// `POST /api/v1/coupons`: issues an amount-off coupon the POS takes as payment.
pub async fn issue_coupon(app: &App, me: &Actor, b: CouponBody) -> AppResult<Outcome> {
    require(me, Action::ManagePromotions)?;
    let code = text("code", &b.code, 32)?;
    if b.amount_fen <= 0 || b.amount_fen > 10_000_000 {
        return Err(AppError::validation("amount_fen", "1 fen to 100,000 CNY"));
    }
    let in_scope = match &b.customer_id {
        Some(id) => {
            let c = app
                .store()
                .customer(id)
                .await?
                .ok_or_else(|| AppError::new("customer_not_found", "no such customer"))?;
            Some(crate::access::customer_in_scope(app, me, &c).await?)
        }
        None => None,
    };
    let how = crate::access::coupon_issue(app, me, in_scope, Some(b.amount_fen))?;
    let from = match &b.valid_from {
        Some(t) => clock::parse_moment("valid_from", t)?,
        None => now_us(),
    };
    let until = match &b.valid_until {
        Some(t) => Some(clock::parse_moment("valid_until", t)?),
        None => None,
    };
    if until.is_some_and(|u| u <= from) {
        return Err(AppError::validation("valid_until", "after valid_from"));
    }
    let mut tx = app.store().begin().await?;
    match tx
        .issue_coupon(&code, b.customer_id.as_deref(), b.amount_fen, from, until)
        .await
    {
        Err(StoreError::Conflict(_)) => {
            return Err(AppError::new("conflict", format!("coupon {code} exists")))
        }
        other => other?,
    };
    let approval = match how {
        crate::access::CouponIssue::Now => None,
        crate::access::CouponIssue::NeedsApproval => Some(
            tx.hold_coupon_for_approval(
                &code,
                &format!("coupon {code} of {} CNY", Fen(b.amount_fen).yuan()),
                &me.user_id,
            )
            .await?,
        ),
    };
    // The coupon and its audit entry are one write: neither stands without the other.
    let actor = me.audit_name();
    tx.audit(&AuditEntry {
        actor: &actor,
        action: if approval.is_some() {
            "coupon.request"
        } else {
            "coupon.issue"
        },
        target_kind: if b.customer_id.is_some() {
            "customer"
        } else {
            "coupon"
        },
        target_id: Some(b.customer_id.as_deref().unwrap_or(&code)),
        source: me.source.as_deref(),
        detail: json!({"code": code, "amount_fen": b.amount_fen, "approval_id": approval}),
    })
    .await?;
    tx.commit().await?;
    Ok(match approval {
        None => {
            Outcome::Created(json!({"code": code, "amount_fen": b.amount_fen, "state": "issued"}))
        }
        Some(id) => Outcome::Pending(
            json!({"code": code, "amount_fen": b.amount_fen, "state": "pending", "approval_id": id}),
        ),
    })
}
