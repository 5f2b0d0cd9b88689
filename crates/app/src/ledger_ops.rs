//! Back-office ledger operations: maker-checker adjustments of card balances and points,
//! and credit (挂账) accounts' payments received and monthly statements.

use crate::access::{require, Action, Actor};
use crate::clock;
use crate::error::{AppError, AppResult};
use crate::{App, Outcome};
use chrono::{Datelike, NaiveDate, TimeZone};
use forecourt_core::ledger::{account, Transfer, Unit};
use forecourt_core::{CardKind, CardNo, DomainError, Fen};
use forecourt_store::ledger::NewJournal;
use forecourt_store::{now_us, Adjustment, StoreError};
use serde::Deserialize;
use serde_json::{json, Value};

const REASON_CHARS_MAX: usize = 500;
const ADJUSTMENT_FEN_MAX: i64 = 10_000_000;
const ADJUSTMENT_POINTS_MAX: i64 = 10_000_000;
/// The newest adjustments listed, and how many are read to find them in a scope.
const ADJUSTMENTS_LISTED: usize = 200;
const ADJUSTMENTS_SCANNED: i64 = 2_000;

#[derive(Deserialize)]
pub struct AdjustmentBody {
    /// A card's paid balance, in fen…
    pub card_no: Option<String>,
    pub amount_fen: Option<i64>,
    /// …or a customer's points.
    pub customer_id: Option<String>,
    pub points: Option<i64>,
    pub reason: String,
}

fn adjustment_json(a: &Adjustment) -> Value {
    json!({
        "id": a.adjustment_id,
        "target": a.target,
        "card_id": a.card_id,
        "customer_id": a.customer_id,
        "amount": a.amount,
        "unit": if a.target == "points" { "points" } else { "fen" },
        "reason": a.reason,
        "maker_user_id": a.maker_user_id,
        "checker_user_id": a.checker_user_id,
        "state": a.state,
        "created_at": clock::rfc3339(a.created_at),
        "decided_at": a.decided_at.map(clock::rfc3339),
    })
}

/// `POST /api/v1/adjustments`: asks for a manual adjustment; nothing moves until a
/// second person approves it.
pub async fn request_adjustment(app: &App, me: &Actor, b: AdjustmentBody) -> AppResult<Outcome> {
    require(me, Action::RequestAdjustment)?;
    // The reason is free text that may span lines, but it reaches the audit log and the
    // approver's screen, so it holds no NUL or bidirectional control.
    let reason = &crate::input::long_text("reason", &b.reason, REASON_CHARS_MAX)?;
    if reason.chars().count() < 4 {
        return Err(AppError::validation(
            "reason",
            "say why, in 4 to 500 characters",
        ));
    }
    let store = app.store();
    let (target, card_id, customer_id, amount) =
        match (&b.card_no, b.amount_fen, &b.customer_id, b.points) {
            (Some(no), Some(amount), None, None) => {
                let no = CardNo::parse(no)?;
                let card = store
                    .card_by_no(no.as_str())
                    .await?
                    .ok_or_else(|| AppError::new("card_not_found", "no card with this number"))?;
                crate::access::require_card(app, me, &card).await?;
                if amount == 0 || amount.abs() > ADJUSTMENT_FEN_MAX {
                    return Err(AppError::validation(
                        "amount_fen",
                        "a non-zero amount up to 100,000 CNY",
                    ));
                }
                ("card", Some(card.card_id), None, amount)
            }
            (None, None, Some(id), Some(points)) => {
                let c = store
                    .customer(id)
                    .await?
                    .ok_or_else(|| AppError::new("customer_not_found", "no such customer"))?;
                crate::access::require_customer(app, me, &c).await?;
                if points == 0 || points.abs() > ADJUSTMENT_POINTS_MAX {
                    return Err(AppError::validation(
                        "points",
                        "a non-zero number of points up to 10,000,000",
                    ));
                }
                ("points", None, Some(id.clone()), points)
            }
            _ => {
                return Err(AppError::validation(
                    "card_no/customer_id",
                    "either card_no with amount_fen, or customer_id with points",
                ))
            }
        };
    let mut tx = store.begin().await?;
    let id = tx
        .create_adjustment(
            target,
            card_id.as_deref(),
            customer_id.as_deref(),
            amount,
            reason,
            &me.user_id,
        )
        .await?;
    crate::audit::audit_in(
        &mut tx,
        me,
        "adjustment.request",
        "adjustment",
        Some(&id),
        json!({"target": target, "amount": amount}),
    )
    .await?;
    tx.commit().await?;
    let a = store
        .adjustment(&id)
        .await?
        .ok_or_else(|| AppError::internal("adjustment vanished"))?;
    Ok(Outcome::Created(adjustment_json(&a)))
}

#[derive(Deserialize)]
pub struct AdjustmentQuery {
    pub state: Option<String>,
}

pub async fn adjustments(app: &App, me: &Actor, q: AdjustmentQuery) -> AppResult<Value> {
    require(me, Action::RequestAdjustment)?;
    if q.state
        .as_deref()
        .is_some_and(|s| !matches!(s, "pending" | "approved" | "rejected"))
    {
        return Err(AppError::validation(
            "state",
            "pending, approved or rejected",
        ));
    }
    // Only the adjustments of cards and customers in the caller's scope are listed.
    let mut list = Vec::new();
    for a in app
        .store()
        .adjustments(q.state.as_deref(), ADJUSTMENTS_SCANNED)
        .await?
    {
        if list.len() >= ADJUSTMENTS_LISTED {
            break;
        }
        if crate::access::adjustment_in_scope(app, me, &a).await? {
            list.push(adjustment_json(&a));
        }
    }
    Ok(json!({ "adjustments": list }))
}

/// `POST /api/v1/adjustments/{id}/approve` or `/reject`: the second person decides;
/// an approval posts the adjustment to the ledger.
pub async fn decide_adjustment(
    app: &App,
    me: &Actor,
    id: String,
    decision: String,
) -> AppResult<Value> {
    require(me, Action::ApproveAdjustment)?;
    if decision != "approve" && decision != "reject" {
        return Err(AppError::new("not_found", "approve or reject"));
    }
    let store = app.store();
    // The scope checks read with other connections, so they come before the
    // transaction (its target never changes).
    let target = store
        .adjustment(&id)
        .await?
        .ok_or_else(|| AppError::new("not_found", "no such adjustment"))?;
    // A coupon held for approval is decided by someone who may issue coupons.
    if target.target == "coupon" {
        require(me, Action::ManagePromotions)?;
    }
    if let Some(card) = &target.card_id {
        let card = store
            .card_by_id(card)
            .await?
            .ok_or_else(|| AppError::internal("adjustment card vanished"))?;
        crate::access::require_card(app, me, &card).await?;
    }
    if let Some(customer) = &target.customer_id {
        let c = store
            .customer(customer)
            .await?
            .ok_or_else(|| AppError::internal("adjustment customer vanished"))?;
        crate::access::require_customer(app, me, &c).await?;
    }
    let mut tx = store.begin().await?;
    let a = tx
        .lock_adjustment(&id)
        .await?
        .ok_or_else(|| AppError::new("not_found", "no such adjustment"))?;
    if a.state != "pending" {
        return Err(AppError::new(
            "conflict",
            format!("the adjustment is already {}", a.state),
        ));
    }
    if a.maker_user_id == me.user_id {
        return Err(AppError::forbidden(
            "an adjustment is approved by someone other than who asked for it",
        ));
    }
    let mut journal_id = None;
    if a.target == "coupon" {
        // A coupon moves no money until a till takes it: the decision releases it or
        // voids it.
        if !tx
            .decide_held_coupon(&a.adjustment_id, decision == "approve")
            .await?
        {
            return Err(AppError::new(
                "conflict",
                "the coupon is no longer waiting for approval",
            ));
        }
    } else if decision == "approve" {
        let (customer_account, house, unit) = match (&a.card_id, &a.customer_id) {
            (Some(card), _) => {
                let card = tx.lock_card(card).await?;
                // An addition respects the card's face-value cap like a recharge does:
                // a second approval is no way around it.
                if a.amount > 0 {
                    let cap = card.cap_fen.or_else(|| {
                        CardKind::parse(&card.kind)
                            .ok()
                            .and_then(|k| k.default_cap())
                            .map(|f| f.0)
                    });
                    let b = tx.card_balance(&card.card_id).await?;
                    let would_be = b.available_fen() + b.held_fen + a.amount;
                    if let Some(cap) = cap.filter(|cap| would_be > *cap) {
                        return Err(DomainError::FaceValueCap {
                            cap: Fen(cap),
                            would_be: Fen(would_be),
                        }
                        .into());
                    }
                }
                (
                    account::card_paid(&card.card_id),
                    account::ADJUSTMENT.to_string(),
                    Unit::Fen,
                )
            }
            (None, Some(customer)) => (
                account::customer_points(customer),
                "equity:points_adjustment".to_string(),
                Unit::Points,
            ),
            (None, None) => return Err(AppError::internal("adjustment without target")),
        };
        let transfer = if a.amount > 0 {
            Transfer::new(house, customer_account, a.amount, unit)
        } else {
            Transfer::new(customer_account, house, -a.amount, unit)
        };
        let journal = NewJournal {
            idempotency_key: format!("adjustment:{}", a.adjustment_id),
            kind: "adjustment",
            station_id: None,
            occurred_at: now_us(),
            memo: Some(a.reason.clone()),
        };
        journal_id = Some(tx.post(&journal, &[transfer], false).await?);
        // Points live in lots: an addition is a lot of today, a deduction takes from
        // the oldest lots first.
        if let (None, Some(customer)) = (&a.card_id, &a.customer_id) {
            if a.amount > 0 {
                let today = crate::clock::network_today().to_string();
                tx.add_to_lot(customer, &today, a.amount).await?;
            } else {
                crate::loyalty::take_points(&mut tx, customer, -a.amount, None).await?;
            }
        }
    }
    let to = if decision == "approve" {
        "approved"
    } else {
        "rejected"
    };
    tx.decide_adjustment(&id, to, &me.user_id, journal_id.as_deref())
        .await?;
    crate::audit::audit_in(
        &mut tx,
        me,
        if decision == "approve" {
            "adjustment.approve"
        } else {
            "adjustment.reject"
        },
        "adjustment",
        Some(&id),
        json!({"target": a.target, "amount": a.amount, "maker_user_id": a.maker_user_id, "journal_id": journal_id}),
    )
    .await?;
    tx.commit().await?;
    let a = store
        .adjustment(&id)
        .await?
        .ok_or_else(|| AppError::internal("adjustment vanished"))?;
    Ok(adjustment_json(&a))
}

#[derive(Deserialize)]
pub struct CreditPaymentBody {
    pub amount_fen: i64,
    pub method: String,
    pub reference: Option<String>,
    pub received_at: Option<String>,
    /// Makes a retried request post once.
    pub request_id: Option<String>,
}

/// `POST /api/v1/customers/{id}/credit/payments`: money received against what the
/// customer owes on account.
pub async fn receive_credit_payment(
    app: &App,
    me: &Actor,
    id: String,
    b: CreditPaymentBody,
) -> AppResult<Outcome> {
    require(me, Action::ReceiveCreditPayment)?;
    if !matches!(
        b.method.as_str(),
        "cash" | "wechat" | "alipay" | "bank_card" | "bank_transfer"
    ) {
        return Err(AppError::validation(
            "method",
            "cash, wechat, alipay, bank_card or bank_transfer",
        ));
    }
    if b.amount_fen <= 0 || b.amount_fen > 1_000_000_000 {
        return Err(AppError::validation(
            "amount_fen",
            "a positive amount up to 10,000,000 CNY",
        ));
    }
    let at = match &b.received_at {
        Some(t) => clock::parse_time("received_at", t)?,
        None => now_us(),
    };
    let store = app.store();
    let customer = store
        .customer(&id)
        .await?
        .ok_or_else(|| AppError::new("customer_not_found", "no such customer"))?;
    crate::access::require_customer(app, me, &customer).await?;
    if store.credit_agreement(&id).await?.is_none() {
        return Err(AppError::new(
            "no_credit_account",
            "the customer has no credit (挂账) agreement",
        ));
    }
    let key = match &b.request_id {
        Some(k) if !k.trim().is_empty() && k.len() <= 64 => format!("credit_payment:{id}:{k}"),
        Some(_) => return Err(AppError::validation("request_id", "1 to 64 characters")),
        None => format!("credit_payment:{}", forecourt_store::new_id()),
    };
    let name = account::customer_credit(&id);
    // A retried request answers what the first one recorded.
    if let Some((payment_id, amount)) = store.credit_payment_by_key(&key).await? {
        if amount != b.amount_fen {
            return Err(AppError::new(
                "conflict",
                "this request_id was recorded before with another amount",
            ));
        }
        let owed = store.account_totals(&name).await?.owed();
        return Ok(Outcome::Done(
            json!({"id": payment_id, "customer_id": id, "amount_fen": amount, "owed_fen": owed}),
        ));
    }
    let mut tx = store.begin().await?;
    let owed = tx.account_totals(&name).await?.owed();
    if b.amount_fen > owed {
        return Err(AppError::validation(
            "amount_fen",
            format!(
                "the customer owes {} CNY; record no more than that",
                Fen(owed).yuan()
            ),
        ));
    }
    // Money arrives in a tender and the customer owes less.
    let tender = if b.method == "bank_transfer" {
        account::tender("bank_card")
    } else {
        account::tender(&b.method)
    };
    let journal = NewJournal {
        idempotency_key: key,
        kind: "credit_payment",
        station_id: None,
        occurred_at: at,
        memo: b.reference.clone(),
    };
    let journal_id = match tx
        .post(
            &journal,
            &[Transfer::new(tender, name.clone(), b.amount_fen, Unit::Fen)],
            false,
        )
        .await
    {
        Err(StoreError::Conflict(_)) => {
            return Err(AppError::new(
                "conflict",
                "this request_id was recorded before",
            ))
        }
        other => other?,
    };
    let payment_id = tx
        .insert_credit_payment(
            &id,
            &journal_id,
            &b.method,
            b.amount_fen,
            b.reference.as_deref(),
            at,
            &me.user_id,
        )
        .await?;
    let owed_after = tx.account_totals(&name).await?.owed();
    crate::audit::audit_in(
        &mut tx,
        me,
        "credit.payment",
        "customer",
        Some(&id),
        json!({"amount_fen": b.amount_fen, "method": b.method, "payment_id": payment_id}),
    )
    .await?;
    tx.commit().await?;
    Ok(Outcome::Created(
        json!({"id": payment_id, "customer_id": id, "amount_fen": b.amount_fen, "owed_fen": owed_after}),
    ))
}

#[derive(Deserialize)]
pub struct StatementQuery {
    /// `YYYY-MM`.
    pub month: Option<String>,
}

/// `GET /api/v1/customers/{id}/statement?month=YYYY-MM`: the monthly statement of a
/// credit customer: opening balance, every sale, refund and payment, closing balance.
pub async fn statement(app: &App, me: &Actor, id: String, q: StatementQuery) -> AppResult<Value> {
    require(me, Action::ManageCredit)?;
    let month = q.month.as_deref().unwrap_or("").trim();
    let first = NaiveDate::parse_from_str(&format!("{month}-01"), "%Y-%m-%d")
        .map_err(|_| AppError::validation("month", "YYYY-MM"))?;
    let next = if first.month() == 12 {
        NaiveDate::from_ymd_opt(first.year() + 1, 1, 1)
    } else {
        NaiveDate::from_ymd_opt(first.year(), first.month() + 1, 1)
    }
    .ok_or_else(|| AppError::validation("month", "YYYY-MM"))?;
    let store = app.store();
    let customer = store
        .customer(&id)
        .await?
        .ok_or_else(|| AppError::new("customer_not_found", "no such customer"))?;
    crate::access::require_customer(app, me, &customer).await?;
    let (limit, billing_day) = store.credit_agreement(&id).await?.ok_or_else(|| {
        AppError::new(
            "no_credit_account",
            "the customer has no credit (挂账) agreement",
        )
    })?;
    let tz = clock::tz("Asia/Shanghai");
    let at = |d: NaiveDate| {
        tz.from_local_datetime(&d.and_hms_opt(0, 0, 0).expect("midnight"))
            .earliest()
            .map(|t| t.timestamp_micros())
            .unwrap_or(0)
    };
    let (from, to) = (at(first), at(next));
    let opening = store.credit_owed_at(&id, from).await?;
    let movements = store.credit_movements(&id, from, to).await?;
    let mut running = opening;
    let lines: Vec<Value> = movements
        .iter()
        .map(|m| {
            running += m.amount_fen;
            json!({"occurred_at": clock::rfc3339(m.occurred_at), "kind": m.kind, "reference": m.reference, "station_code": m.station_code, "amount_fen": m.amount_fen, "balance_fen": running})
        })
        .collect();
    let charges: i64 = movements
        .iter()
        .filter(|m| m.amount_fen > 0)
        .map(|m| m.amount_fen)
        .sum();
    let credits: i64 = -movements
        .iter()
        .filter(|m| m.amount_fen < 0)
        .map(|m| m.amount_fen)
        .sum::<i64>();
    Ok(json!({
        "customer_id": id,
        "member_code": customer.member_code,
        "name": customer.name,
        "month": month,
        "credit_limit_fen": limit,
        "billing_day": billing_day,
        "opening_balance_fen": opening,
        "charges_fen": charges,
        "payments_and_refunds_fen": credits,
        "closing_balance_fen": running,
        "lines": lines,
    }))
}
