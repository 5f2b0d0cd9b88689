//! PIPL rights and the audit trail: export of everything held about a person,
//! anonymisation that keeps the ledger whole, consent records, the audit log and the
//! ledger check.

use crate::access::{require, require_customer, Action, Actor};
use crate::audit::audit;
use crate::clock;
use crate::error::{AppError, AppResult};
use crate::App;
use forecourt_core::ledger::account;
use forecourt_store::audit::AuditEntry;
use forecourt_store::Customer;
use serde::Deserialize;
use serde_json::{json, Value};

async fn customer_for(app: &App, me: &Actor, id: &str, action: Action) -> AppResult<Customer> {
    require(me, action)?;
    let c = app
        .store()
        .customer(id)
        .await?
        .ok_or_else(|| AppError::new("customer_not_found", "no such customer"))?;
    require_customer(app, me, &c).await?;
    Ok(c)
}

/// `GET /api/v1/customers/{id}/export`: everything held about the person, unmasked
/// (the PIPL access right), as JSON.
pub async fn export(app: &App, me: &Actor, id: &str) -> AppResult<Value> {
    let id = id.to_string();
    let c = customer_for(app, me, &id, Action::ExportPersonalData).await?;
    let store = app.store();
    let cards = store.cards_of_customer(&id).await?;
    let mut card_json = Vec::new();
    let mut accounts = vec![account::customer_points(&id), account::customer_credit(&id)];
    for card in &cards {
        let b = store.card_balance(&card.card_id).await?;
        card_json.push(json!({"card_no": card.card_no, "kind": card.kind, "state": card.state, "balance_fen": b.available_fen(), "paid_fen": b.paid_fen, "bonus_fen": b.bonus_fen, "limits": card.rules, "issued_at": clock::rfc3339(card.created_at)}));
        accounts.push(account::card_paid(&card.card_id));
        accounts.push(account::card_bonus(&card.card_id));
    }
    let movements: Vec<Value> = store
        .account_movements(&accounts, 100_000)
        .await?
        .into_iter()
        .map(|m| json!({"occurred_at": clock::rfc3339(m.occurred_at), "kind": m.kind, "account": m.account, "amount": m.amount, "unit": m.unit, "memo": m.memo}))
        .collect();
    let sales: Vec<Value> = store
        .recent_sales(&id, 100_000)
        .await?
        .into_iter()
        .map(|s| json!({"sale_id": s.sale_id, "station_code": s.station_code, "occurred_at": clock::rfc3339(s.occurred_at), "net_fen": s.net_fen, "points_earned": s.points_earned, "refunded_fen": s.refunded_fen}))
        .collect();
    let consents: Vec<Value> = store
        .consents(&id)
        .await?
        .into_iter()
        .map(|k| json!({"purpose": k.purpose, "channel": k.channel, "granted_at": clock::rfc3339(k.granted_at), "withdrawn_at": k.withdrawn_at.map(clock::rfc3339)}))
        .collect();
    let audit_rows: Vec<Value> = store
        .audit_rows(Some(&id), 10_000)
        .await?
        .into_iter()
        .map(|a| json!({"at": clock::rfc3339(a.at), "actor": a.actor, "action": a.action}))
        .collect();
    let tickets: Vec<Value> = store
        .tickets_of_customer(&id, 10_000)
        .await?
        .into_iter()
        .map(|t| json!({"kind": t.kind, "channel": t.channel, "station_code": t.station_code, "category": t.category, "state": t.state, "opened_at": clock::rfc3339(t.opened_at), "closed_at": t.closed_at.map(clock::rfc3339), "description": t.description}))
        .collect();
    let answers: Vec<Value> = store
        .answers_of_customer(&id)
        .await?
        .into_iter()
        .map(|a| json!({"survey": a.survey_name, "answered_at": clock::rfc3339(a.answered_at), "answers": serde_json::from_str::<Value>(&a.answers).unwrap_or(Value::String(a.answers))}))
        .collect();
    let inbox: Vec<Value> = store
        .inbox(&id, 10_000)
        .await?
        .into_iter()
        .map(|m| json!({"subject": m.subject, "body": m.body, "sent_at": clock::rfc3339(m.created_at), "read_at": m.read_at.map(clock::rfc3339)}))
        .collect();
    audit(app, me, "customer.export", "customer", Some(&id), json!({})).await?;
    Ok(json!({
        "exported_at": clock::rfc3339(forecourt_store::now_us()),
        "customer": {
            "id": c.customer_id, "member_code": c.member_code, "kind": c.kind, "name": c.name, "phone": c.phone,
            "id_number": c.id_number, "address": c.address, "birthday": c.birthday, "occupation": c.occupation,
            "industry": c.industry, "source": c.source, "source_code": c.source_code, "tier_code": c.tier_code,
            "tags": c.tags, "notes": c.notes, "created_at": clock::rfc3339(c.created_at),
            "anonymized_at": c.anonymized_at.map(clock::rfc3339),
        },
        "vehicles": store.vehicles(&id).await?,
        "contacts": store.contacts(&id).await?,
        "cards": card_json,
        "points_balance": store.points_balance(&id).await?,
        "sales": sales,
        "ledger_movements": movements,
        "consents": consents,
        "tickets": tickets,
        "survey_answers": answers,
        "messages": inbox,
        "access_log": audit_rows,
    }))
}

/// `POST /api/v1/customers/{id}/anonymize`: erases the person's personal data (the PIPL
/// deletion right). Cards, sales and the ledger stay, tied only to the customer id, so
/// every balance and report still adds up.
pub async fn anonymize(app: &App, me: &Actor, id: &str) -> AppResult<Value> {
    let id = id.to_string();
    let c = customer_for(app, me, &id, Action::Anonymize).await?;
    if c.anonymized_at.is_some() {
        return Ok(json!({"id": id, "anonymized_at": c.anonymized_at.map(clock::rfc3339)}));
    }
    let mut tx = app.store().begin().await?;
    tx.anonymize_customer(&id).await?;
    let actor = me.audit_name();
    tx.audit(&AuditEntry {
        actor: &actor,
        action: "customer.anonymize",
        target_kind: "customer",
        target_id: Some(&id),
        source: me.source.as_deref(),
        detail: json!({}),
    })
    .await?;
    tx.commit().await?;
    let c = app
        .store()
        .customer(&id)
        .await?
        .ok_or_else(|| AppError::internal("customer vanished"))?;
    Ok(json!({"id": id, "anonymized_at": c.anonymized_at.map(clock::rfc3339)}))
}

#[derive(Deserialize)]
pub struct ConsentBody {
    pub purpose: String,
    pub channel: String,
    pub granted: bool,
}

const PURPOSES: &[&str] = &["marketing", "sensitive", "data_transfer", "location"];
const CHANNELS: &[&str] = &["counter", "app", "paper", "phone", "import"];

/// `POST /api/v1/customers/{id}/consents`: records consent to a purpose or its
/// withdrawal (withdrawing `sensitive` erases the ID number).
pub async fn record_consent(app: &App, me: &Actor, id: &str, b: ConsentBody) -> AppResult<Value> {
    let id = id.to_string();
    customer_for(app, me, &id, Action::ManageConsent).await?;
    if !PURPOSES.contains(&b.purpose.as_str()) {
        return Err(AppError::validation(
            "purpose",
            format!("one of {}", PURPOSES.join(", ")),
        ));
    }
    if !CHANNELS.contains(&b.channel.as_str()) {
        return Err(AppError::validation(
            "channel",
            format!("one of {}", CHANNELS.join(", ")),
        ));
    }
    let mut tx = app.store().begin().await?;
    tx.record_consent(&id, &b.purpose, &b.channel, b.granted, &me.audit_name())
        .await?;
    let actor = me.audit_name();
    tx.audit(&AuditEntry {
        actor: &actor,
        action: if b.granted {
            "consent.grant"
        } else {
            "consent.withdraw"
        },
        target_kind: "customer",
        target_id: Some(&id),
        source: me.source.as_deref(),
        detail: json!({"purpose": b.purpose, "channel": b.channel}),
    })
    .await?;
    tx.commit().await?;
    let consents: Vec<Value> = app
        .store()
        .consents(&id)
        .await?
        .into_iter()
        .map(|k| json!({"purpose": k.purpose, "channel": k.channel, "granted_at": clock::rfc3339(k.granted_at), "withdrawn_at": k.withdrawn_at.map(clock::rfc3339)}))
        .collect();
    Ok(json!({"customer_id": id, "consents": consents}))
}

#[derive(Deserialize)]
pub struct AuditQuery {
    pub target: Option<String>,
    pub limit: Option<i64>,
    /// Only entries older than this sequence number (the next page).
    pub before: Option<i64>,
}

/// How many pages a scoped audit listing reads at most to fill one answer.
const AUDIT_SCAN_PAGES: usize = 20;

/// `GET /api/v1/audit`: the newest audit entries in the caller's scope, optionally of
/// one target.
pub async fn audit_entries(app: &App, me: &Actor, q: AuditQuery) -> AppResult<Value> {
    require(me, Action::ViewAudit)?;
    let limit = q.limit.unwrap_or(100).clamp(1, 1_000);
    let scoped = crate::access::Scope::of(me) != crate::access::Scope::Company;
    // Out of a company-wide scope, entries about customers, cards, adjustments and
    // stations outside it are left out: pages are read on until `limit` entries in
    // scope are found (a bounded number of pages, so that a request stays cheap).
    let mut kept = Vec::new();
    let mut before = q.before;
    for _ in 0..if scoped { AUDIT_SCAN_PAGES } else { 1 } {
        let page = app
            .store()
            .audit_page(q.target.as_deref(), before, limit)
            .await?;
        let exhausted = (page.len() as i64) < limit;
        before = page.last().map(|a| a.seq);
        for a in page {
            if kept.len() as i64 >= limit {
                break;
            }
            if !scoped || crate::access::audit_in_scope(app, me, &a).await? {
                kept.push(a);
            }
        }
        if exhausted || kept.len() as i64 >= limit {
            break;
        }
    }
    let rows: Vec<Value> = kept
        .into_iter()
        .map(|a| json!({"seq": a.seq, "at": clock::rfc3339(a.at), "actor": a.actor, "action": a.action, "target_kind": a.target_kind, "target_id": a.target_id, "source": a.source, "detail": serde_json::from_str::<Value>(&a.detail).unwrap_or(Value::Null)}))
        .collect();
    Ok(json!({"entries": rows}))
}

/// `GET /api/v1/ledger/check`: the same check as `forecourt check`, for monitoring.
pub async fn check(app: &App, me: &Actor) -> AppResult<Value> {
    require(me, Action::RunCheck)?;
    let report = app.store().check().await?;
    Ok(json!({"clean": report.is_clean(), "report": report}))
}
