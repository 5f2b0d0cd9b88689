//! Cards: issue, read (as the caller's role, scope or till may see them), state
//! changes, replacement, registration of an anonymous card, rules, PINs and the
//! allocations between a fleet main card and its sub-cards.

use crate::access::{require, Action, Actor, CardReader, CardView};
use crate::audit::audit;
use crate::clock;
use crate::customers::mask_plate;
use crate::error::{AppError, AppResult};
use crate::input::{opt_long_text, text};
use crate::secret::valid_pin;
use crate::{App, Outcome};
use forecourt_core::ledger::{account, split_card_debit, Transfer, Unit};
use forecourt_core::limits::CardRules;
use forecourt_core::{CardKind, CardNo, CardState, Fen};
use forecourt_store::audit::AuditEntry;
use forecourt_store::ledger::NewJournal;
use forecourt_store::{now_us, Card, NewCard, StaffUser, StoreError};
use rand::Rng;
use serde::Deserialize;
use serde_json::{json, Value};

/// The view of a card to staff who passed the card's scope check (a manager sees the
/// whole number, the other roles the first 6 and last 4 digits).
pub(crate) fn in_scope_card_view(me: &StaffUser) -> CardView {
    if crate::access::allowed(&me.role, Action::ManageCard) {
        CardView::Full
    } else {
        CardView::Masked
    }
}

pub(crate) fn card_no_in(view: CardView, no: &str) -> String {
    match CardNo::parse(no) {
        Ok(c) if view.full_number() => c.as_str().to_string(),
        Ok(c) => c.masked(),
        Err(_) => no.to_string(),
    }
}

/// A card as `view` allows: a till of another station learns what a sale needs and
/// neither the customer nor a plate.
pub(crate) async fn card_summary(app: &App, view: CardView, c: &Card) -> AppResult<Value> {
    let store = app.store();
    let funding = match (&c.main_card_id, c.kind.as_str()) {
        (Some(main), "fleet_sub") => match store.card_by_id(main).await? {
            Some(m) if m.balance_mode == "pool" => m,
            _ => c.clone(),
        },
        _ => c.clone(),
    };
    let b = store.card_balance(&funding.card_id).await?;
    let main_no = match &c.main_card_id {
        Some(id) => store
            .card_by_id(id)
            .await?
            .map(|m| card_no_in(view, &m.card_no)),
        None => None,
    };
    let mut limits = json!(c.rules);
    if view == CardView::Till {
        if let Some(plate) = limits.pointer_mut("/plate/value") {
            *plate = json!(plate.as_str().map(mask_plate));
        }
    }
    Ok(json!({
        "card_no": card_no_in(view, &c.card_no),
        "card_no_masked": CardNo::parse(&c.card_no).map(|n| n.masked()).unwrap_or_default(),
        "kind": c.kind,
        "state": c.state,
        "customer_id": if view == CardView::Till { None } else { c.customer_id.clone() },
        "main_card_no": main_no,
        "balance_mode": c.balance_mode,
        "balance_fen": b.available_fen(),
        "paid_fen": b.paid_fen,
        "bonus_fen": b.bonus_fen,
        "held_fen": b.held_fen,
        "shares_main_balance": funding.card_id != c.card_id,
        "cap_fen": c.cap_fen.or_else(|| CardKind::parse(&c.kind).ok().and_then(|k| k.default_cap()).map(|f| f.0)),
        "pin_set": c.pin_hash.is_some(),
        "pin_locked": c.pin_failures >= app.config().pin_tries_max,
        "limits": limits,
        "replaced_by": match &c.replaced_by_card_id { Some(id) => store.card_by_id(id).await?.map(|r| card_no_in(view, &r.card_no)), None => None },
    }))
}

#[derive(Deserialize)]
pub struct CardBody {
    pub customer_id: Option<String>,
    pub kind: String,
    pub main_card_no: Option<String>,
    pub limits: Option<CardRules>,
    pub pin: Option<String>,
    pub cap_fen: Option<i64>,
    pub balance_mode: Option<String>,
    /// The issuing station (the scope of an anonymous card); by default the user's.
    pub station_code: Option<String>,
}

fn card_body(kind: CardKind) -> &'static str {
    match kind {
        CardKind::Personal => "01",
        CardKind::Company => "02",
        CardKind::FleetMain => "03",
        CardKind::FleetSub => "04",
        CardKind::Anonymous => "05",
    }
}

/// A new card number: issuer `1000`, two digits of kind, 12 random digits, check digit.
fn new_card_no(kind: CardKind) -> CardNo {
    let random: u64 = rand::thread_rng().gen_range(0..1_000_000_000_000);
    CardNo::from_body(&format!("1000{}{random:012}", card_body(kind))).expect("18 digits")
}

/// `POST /api/v1/cards`: issues a card.
pub async fn issue_card(app: &App, me: &Actor, b: CardBody) -> AppResult<Outcome> {
    require(me, Action::IssueCard)?;
    let kind = CardKind::parse(&b.kind)?;
    let store = app.store();
    let customer = match &b.customer_id {
        Some(id) => Some(
            store
                .customer(id)
                .await?
                .ok_or_else(|| AppError::new("customer_not_found", "no such customer"))?,
        ),
        None => None,
    };
    let main =
        match &b.main_card_no {
            Some(no) => {
                let no = CardNo::parse(no)?;
                Some(store.card_by_no(no.as_str()).await?.ok_or_else(|| {
                    AppError::new("card_not_found", "no main card with this number")
                })?)
            }
            None => None,
        };
    match (kind, &customer, &main) {
        (CardKind::Anonymous, Some(_), _) => {
            return Err(AppError::validation(
                "customer_id",
                "an anonymous card has no customer; register it later",
            ))
        }
        (CardKind::Personal, Some(c), _) if c.kind != "individual" => {
            return Err(AppError::validation(
                "kind",
                "a personal card is for an individual",
            ))
        }
        (CardKind::Company | CardKind::FleetMain, Some(c), _) if c.kind != "company" => {
            return Err(AppError::validation(
                "kind",
                "company and fleet cards are for companies",
            ))
        }
        (CardKind::Personal | CardKind::Company | CardKind::FleetMain, None, _) => {
            return Err(AppError::validation(
                "customer_id",
                "this card kind needs a customer",
            ))
        }
        (CardKind::FleetSub, _, None) => {
            return Err(AppError::validation(
                "main_card_no",
                "a sub-card names its fleet main card",
            ))
        }
        (CardKind::FleetSub, _, Some(m)) if m.kind != "fleet_main" => {
            return Err(AppError::validation(
                "main_card_no",
                "the main card is not a fleet main card",
            ))
        }
        (CardKind::FleetSub, Some(c), Some(m))
            if m.customer_id.as_deref() != Some(c.customer_id.as_str()) =>
        {
            return Err(AppError::validation(
                "customer_id",
                "a sub-card belongs to its main card's customer",
            ))
        }
        (k, _, Some(_)) if k != CardKind::FleetSub => {
            return Err(AppError::validation(
                "main_card_no",
                "only sub-cards have a main card",
            ))
        }
        _ => {}
    }
    if let Some(m) = &main {
        CardState::parse(&m.state)?.check_usable()?;
    }
    let rules = b.limits.unwrap_or_default();
    rules.validate()?;
    if let Some(pin) = &b.pin {
        if !valid_pin(pin) {
            return Err(AppError::validation("pin", "a PIN is 6 digits"));
        }
    }
    if b.cap_fen.is_some_and(|c| c <= 0) {
        return Err(AppError::validation("cap_fen", "a positive amount"));
    }
    if b.cap_fen.is_some() && matches!(kind, CardKind::Anonymous | CardKind::Personal) {
        return Err(AppError::validation(
            "cap_fen",
            "personal and anonymous cards follow the prepaid-card caps",
        ));
    }
    let balance_mode = b.balance_mode.clone().unwrap_or_else(|| "pool".into());
    if balance_mode != "pool" && balance_mode != "allocated" {
        return Err(AppError::validation("balance_mode", "pool or allocated"));
    }
    if let Some(c) = &customer {
        crate::access::require_customer(app, me, c).await?;
    }
    if let Some(m) = &main {
        crate::access::require_card(app, me, m).await?;
    }
    let issued_code = match (&b.station_code, crate::access::Scope::of(me)) {
        (Some(code), _) => Some(code.clone()),
        (None, crate::access::Scope::Station(code)) => Some(code),
        _ => None,
    };
    let issued_station_id = match &issued_code {
        Some(code) => {
            let s = store
                .station_by_code(code)
                .await?
                .ok_or_else(|| AppError::new("station_not_found", format!("no station {code}")))?;
            crate::access::require_station(me, &s)?;
            Some(s.station_id)
        }
        None if customer.is_none()
            && main.is_none()
            && crate::access::Scope::of(me) != crate::access::Scope::Company =>
        {
            return Err(AppError::validation(
                "station_code",
                "name the station that issues the card",
            ));
        }
        None => None,
    };
    let customer_id = customer
        .map(|c| c.customer_id)
        .or_else(|| main.as_ref().and_then(|m| m.customer_id.clone()));
    for _ in 0..5 {
        let no = new_card_no(kind);
        let mut tx = store.begin().await?;
        let new = NewCard {
            card_no: no.as_str().to_string(),
            kind: kind.as_str().to_string(),
            customer_id: customer_id.clone(),
            main_card_id: main.as_ref().map(|m| m.card_id.clone()),
            balance_mode: balance_mode.clone(),
            cap_fen: b.cap_fen,
            rules: rules.clone(),
            pin_hash: None,
            issued_station_id: issued_station_id.clone(),
        };
        match tx.create_card(&new).await {
            Ok(id) => {
                if let Some(pin) = &b.pin {
                    tx.set_card_pin(&id, Some(&app.secret().pin_hash(&id, pin)))
                        .await?;
                }
                let actor = me.audit_name();
                tx.audit(&AuditEntry {
                    actor: &actor,
                    action: "card.issue",
                    target_kind: "card",
                    target_id: Some(&id),
                    source: me.source.as_deref(),
                    detail: json!({"kind": kind.as_str()}),
                })
                .await?;
                tx.commit().await?;
                let card = store
                    .card_by_id(&id)
                    .await?
                    .ok_or_else(|| AppError::internal("card vanished"))?;
                let mut out = card_summary(app, in_scope_card_view(me), &card).await?;
                // The issuing clerk sees the full number once, to hand the card over.
                out["card_no"] = json!(card.card_no);
                out["id"] = json!(id);
                return Ok(Outcome::Created(out));
            }
            Err(StoreError::Conflict(_)) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(AppError::internal("could not draw a free card number"))
}

/// A card the caller may manage: it exists and is in the caller's scope.
async fn managed_card(app: &App, me: &StaffUser, no: &str) -> AppResult<Card> {
    let card = card_by_path(app, no).await?;
    crate::access::require_card(app, me, &card).await?;
    Ok(card)
}

async fn card_by_path(app: &App, no: &str) -> AppResult<Card> {
    let no = CardNo::parse(no)
        .map_err(|_| AppError::new("card_not_found", "no card with this number"))?;
    app.store()
        .card_by_no(no.as_str())
        .await?
        .ok_or_else(|| AppError::new("card_not_found", "no card with this number"))
}

/// The sales a card's answer lists for staff.
const RECENT_CARD_SALES: i64 = 10;

/// `GET /api/v1/cards/{card_no}` (staff or POS): state, balance, limits and usage; for
/// staff also the card's last sales.
pub async fn card(app: &App, reader: CardReader<'_>, no: String) -> AppResult<Value> {
    if let CardReader::Staff(u) = reader {
        require(u, Action::ViewCard)?;
    }
    let card = card_by_path(app, &no).await?;
    let view = crate::access::read_card(app, reader, &card).await?;
    let mut out = card_summary(app, view, &card).await?;
    let tz = match reader {
        CardReader::Pos(s) => s.time_zone.clone(),
        CardReader::Staff(_) => "Asia/Shanghai".to_string(),
    };
    let local = clock::local(&tz, now_us());
    let (sales_today, amount_today, volume_today) = app
        .store()
        .card_usage(&card.card_id, local.day_start_us, local.day_end_us)
        .await?;
    let (_, amount_month, _) = app
        .store()
        .card_usage(&card.card_id, local.month_start_us, local.month_end_us)
        .await?;
    out["usage"] = json!({"sales_today": sales_today, "amount_today_fen": amount_today, "volume_today_ml": volume_today, "amount_month_fen": amount_month});
    // Staff see the card's last sales, each with its station (whose time zone the
    // console shows it in); a till needs none of them to sell.
    if matches!(reader, CardReader::Staff(_)) {
        let recent: Vec<Value> = app
            .store()
            .recent_card_sales(&card.card_id, RECENT_CARD_SALES)
            .await?
            .into_iter()
            .map(|s| json!({"sale_id": s.sale_id, "station_code": s.station_code, "occurred_at": clock::rfc3339(s.occurred_at), "net_fen": s.net_fen, "points_earned": s.points_earned, "refunded_fen": s.refunded_fen}))
            .collect();
        out["recent_sales"] = json!(recent);
    }
    if card.kind == "fleet_main" {
        let mut subs = Vec::new();
        for s in app.store().sub_cards(&card.card_id).await? {
            subs.push(card_summary(app, view, &s).await?);
        }
        out["sub_cards"] = json!(subs);
    }
    Ok(out)
}

#[derive(Deserialize)]
pub struct StateBody {
    pub state: String,
    pub reason: Option<String>,
}

/// `POST /api/v1/cards/{card_no}/state`: freeze, unfreeze, report lost, cancel.
pub async fn set_card_state(app: &App, me: &Actor, no: String, b: StateBody) -> AppResult<Value> {
    require(me, Action::ManageCard)?;
    let to = CardState::parse(&b.state)?;
    if to == CardState::Replaced {
        return Err(AppError::validation(
            "state",
            "replace a card with POST /api/v1/cards/{card_no}/replace",
        ));
    }
    opt_long_text("reason", &b.reason, 200)?;
    let found = managed_card(app, me, &no).await?;
    let mut tx = app.store().begin().await?;
    let card = tx.lock_card(&found.card_id).await?;
    let from = CardState::parse(&card.state)?;
    if from == to {
        return Ok(
            json!({"card_no": card_no_in(in_scope_card_view(me), &card.card_no), "state": to.as_str()}),
        );
    }
    if !from.can_become(to) {
        return Err(AppError::new(
            "card_not_usable",
            format!("a {} card cannot become {}", from.as_str(), to.as_str()),
        ));
    }
    if to == CardState::Cancelled {
        let b = tx.card_balance(&card.card_id).await?;
        if b.available_fen() + b.held_fen > 0 {
            return Err(AppError::new(
                "card_has_balance",
                format!(
                    "the card holds {} CNY: refund or move it first",
                    Fen(b.available_fen() + b.held_fen).yuan()
                ),
            ));
        }
    }
    tx.set_card_state(&card.card_id, to.as_str(), None).await?;
    if to == CardState::Active {
        tx.reset_pin_failures(&card.card_id).await?;
    }
    tx.commit().await?;
    audit(
        app,
        me,
        "card.state",
        "card",
        Some(&found.card_id),
        json!({}),
    )
    .await?;
    Ok(json!({"card_no": card_no_in(in_scope_card_view(me), &card.card_no), "state": to.as_str()}))
}

/// `POST /api/v1/cards/{card_no}/replace`: a new card that carries the balance, rules,
/// PIN-less state and sub-cards; the old one becomes `replaced`.
pub async fn replace_card(app: &App, me: &Actor, no: String) -> AppResult<Outcome> {
    require(me, Action::ManageCard)?;
    let found = managed_card(app, me, &no).await?;
    let kind = CardKind::parse(&found.kind)?;
    let mut tx = app.store().begin().await?;
    let old = tx.lock_card(&found.card_id).await?;
    let from = CardState::parse(&old.state)?;
    if !from.can_become(CardState::Replaced) {
        return Err(AppError::new(
            "card_not_usable",
            format!("a {} card cannot be replaced", from.as_str()),
        ));
    }
    let b = tx.card_balance(&old.card_id).await?;
    if b.held_fen > 0 {
        return Err(AppError::new(
            "card_not_usable",
            "a pump authorisation is pending on the card; wait for it to finish",
        ));
    }
    let new_no = new_card_no(kind);
    let new_id = tx
        .create_card(&NewCard {
            card_no: new_no.as_str().to_string(),
            kind: old.kind.clone(),
            customer_id: old.customer_id.clone(),
            main_card_id: old.main_card_id.clone(),
            balance_mode: old.balance_mode.clone(),
            cap_fen: old.cap_fen,
            rules: old.rules.clone(),
            pin_hash: None,
            issued_station_id: old.issued_station_id.clone(),
        })
        .await?;
    let mut transfers = Vec::new();
    if b.paid_fen > 0 {
        transfers.push(Transfer::new(
            account::card_paid(&old.card_id),
            account::card_paid(&new_id),
            b.paid_fen,
            Unit::Fen,
        ));
    }
    if b.bonus_fen > 0 {
        transfers.push(Transfer::new(
            account::card_bonus(&old.card_id),
            account::card_bonus(&new_id),
            b.bonus_fen,
            Unit::Fen,
        ));
    }
    tx.post(
        &NewJournal {
            idempotency_key: format!("replace:{}", old.card_id),
            kind: "allocation",
            station_id: None,
            occurred_at: now_us(),
            memo: Some("card replacement".into()),
        },
        &transfers,
        false,
    )
    .await?;
    tx.set_card_state(&old.card_id, CardState::Replaced.as_str(), Some(&new_id))
        .await?;
    tx.move_sub_cards(&old.card_id, &new_id).await?;
    tx.commit().await?;
    let card = app
        .store()
        .card_by_id(&new_id)
        .await?
        .ok_or_else(|| AppError::internal("card vanished"))?;
    let mut out = card_summary(app, in_scope_card_view(me), &card).await?;
    out["card_no"] = json!(card.card_no);
    out["replaces"] = json!(card_no_in(in_scope_card_view(me), &old.card_no));
    audit(
        app,
        me,
        "card.replace",
        "card",
        Some(&old.card_id),
        json!({}),
    )
    .await?;
    Ok(Outcome::Created(out))
}

#[derive(Deserialize)]
pub struct RegisterBody {
    pub customer_id: String,
}

/// `POST /api/v1/cards/{card_no}/register`: an anonymous card becomes a personal card
/// of a customer (转卡).
pub async fn register_card(app: &App, me: &Actor, no: String, b: RegisterBody) -> AppResult<Value> {
    require(me, Action::ManageCard)?;
    let found = managed_card(app, me, &no).await?;
    let customer = app
        .store()
        .customer(&b.customer_id)
        .await?
        .ok_or_else(|| AppError::new("customer_not_found", "no such customer"))?;
    crate::access::require_customer(app, me, &customer).await?;
    if customer.kind != "individual" {
        return Err(AppError::validation(
            "customer_id",
            "an anonymous card is registered to an individual",
        ));
    }
    let mut tx = app.store().begin().await?;
    let card = tx.lock_card(&found.card_id).await?;
    if card.kind != "anonymous" {
        return Err(AppError::new(
            "card_not_usable",
            "only anonymous cards are registered",
        ));
    }
    CardState::parse(&card.state)?.check_usable()?;
    tx.register_card(&card.card_id, &customer.customer_id, None)
        .await?;
    tx.commit().await?;
    let card = app
        .store()
        .card_by_id(&card.card_id)
        .await?
        .ok_or_else(|| AppError::internal("card vanished"))?;
    audit(
        app,
        me,
        "card.register",
        "card",
        Some(&found.card_id),
        json!({}),
    )
    .await?;
    card_summary(app, in_scope_card_view(me), &card).await
}

/// `PUT /api/v1/cards/{card_no}/limits`: replaces the card's rules.
pub async fn set_limits(app: &App, me: &Actor, no: String, rules: CardRules) -> AppResult<Value> {
    require(me, Action::ManageCard)?;
    rules.validate()?;
    let found = managed_card(app, me, &no).await?;
    let mut tx = app.store().begin().await?;
    tx.lock_card(&found.card_id).await?;
    tx.set_card_rules(&found.card_id, &rules).await?;
    tx.commit().await?;
    audit(
        app,
        me,
        "card.limits",
        "card",
        Some(&found.card_id),
        json!({}),
    )
    .await?;
    Ok(json!({"card_no": card_no_in(in_scope_card_view(me), &found.card_no), "limits": rules}))
}

#[derive(Deserialize)]
pub struct PinBody {
    pub pin: Option<String>,
}

/// `PUT /api/v1/cards/{card_no}/pin`: sets, changes or (with `null`) removes the PIN, and
/// unlocks a card locked by wrong PINs.
pub async fn set_pin(app: &App, me: &Actor, no: String, b: PinBody) -> AppResult<Value> {
    require(me, Action::ManageCard)?;
    if let Some(p) = &b.pin {
        if !valid_pin(p) {
            return Err(AppError::validation("pin", "a PIN is 6 digits"));
        }
    }
    let found = managed_card(app, me, &no).await?;
    let mut tx = app.store().begin().await?;
    tx.lock_card(&found.card_id).await?;
    let hash = b
        .pin
        .as_ref()
        .map(|p| app.secret().pin_hash(&found.card_id, p));
    tx.set_card_pin(&found.card_id, hash.as_deref()).await?;
    tx.commit().await?;
    audit(app, me, "card.pin", "card", Some(&found.card_id), json!({})).await?;
    Ok(
        json!({"card_no": card_no_in(in_scope_card_view(me), &found.card_no), "pin_set": hash.is_some()}),
    )
}

#[derive(Deserialize)]
pub struct AllocationBody {
    pub sub_card_no: String,
    /// Positive: from the main card to the sub-card (圈存); negative: back.
    pub amount_fen: i64,
    #[serde(default)]
    pub request_id: Option<String>,
}

/// `POST /api/v1/cards/{main_card_no}/allocations`: moves money between a fleet main
/// card in allocated mode and one of its sub-cards.
pub async fn allocate(app: &App, me: &Actor, no: String, b: AllocationBody) -> AppResult<Outcome> {
    require(me, Action::ManageCard)?;
    if b.amount_fen == 0 || b.amount_fen.abs() > 100_000_000 {
        return Err(AppError::validation(
            "amount_fen",
            "a non-zero amount up to 1,000,000 CNY",
        ));
    }
    let main = managed_card(app, me, &no).await?;
    let sub = card_by_path(app, &b.sub_card_no).await?;
    if main.kind != "fleet_main" || main.balance_mode != "allocated" {
        return Err(AppError::new(
            "card_not_usable",
            "allocation needs a fleet main card in allocated mode",
        ));
    }
    if sub.main_card_id.as_deref() != Some(main.card_id.as_str()) {
        return Err(AppError::validation(
            "sub_card_no",
            "the card is not a sub-card of this main card",
        ));
    }
    let key = match &b.request_id {
        Some(k) => format!("allocation:{}:{}", main.card_id, text("request_id", k, 64)?),
        None => format!("allocation:{}", forecourt_store::new_id()),
    };
    let mut tx = app.store().begin().await?;
    let mut ids = [main.card_id.clone(), sub.card_id.clone()];
    ids.sort();
    for id in &ids {
        let c = tx.lock_card(id).await?;
        CardState::parse(&c.state)?.check_usable()?;
    }
    let (from, to) = if b.amount_fen > 0 {
        (&main.card_id, &sub.card_id)
    } else {
        (&sub.card_id, &main.card_id)
    };
    let amount = b.amount_fen.abs();
    let bal = tx.card_balance(from).await?;
    let (p, bonus) = split_card_debit(bal.paid_fen, bal.bonus_fen, amount)?;
    let mut transfers = Vec::new();
    if p > 0 {
        transfers.push(Transfer::new(
            account::card_paid(from),
            account::card_paid(to),
            p,
            Unit::Fen,
        ));
    }
    if bonus > 0 {
        transfers.push(Transfer::new(
            account::card_bonus(from),
            account::card_bonus(to),
            bonus,
            Unit::Fen,
        ));
    }
    match tx
        .post(
            &NewJournal {
                idempotency_key: key,
                kind: "allocation",
                station_id: None,
                occurred_at: now_us(),
                memo: None,
            },
            &transfers,
            false,
        )
        .await
    {
        Err(StoreError::Conflict(_)) => {
            return Err(AppError::new("conflict", "this request_id was used before"))
        }
        other => other?,
    };
    let main_after = tx.card_balance(&main.card_id).await?;
    let sub_after = tx.card_balance(&sub.card_id).await?;
    tx.commit().await?;
    audit(
        app,
        me,
        "card.allocation",
        "card",
        Some(&main.card_id),
        json!({}),
    )
    .await?;
    Ok(Outcome::Created(
        json!({"main_balance_fen": main_after.available_fen(), "sub_balance_fen": sub_after.available_fen()}),
    ))
}
