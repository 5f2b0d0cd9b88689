//! The POS API: quotes, sales, recharges, refunds and pump authorisations.
//!
//! Each write follows one pattern: parse the body into domain values; open a
//! transaction; replay the stored answer if this `pos_txn_id` was seen; lock the cards
//! involved (ascending id order); read the snapshot; let `forecourt-core` decide; post
//! the balanced transfers and the records; store the answer under the `pos_txn_id`;
//! commit. A refusal rolls everything back, so it changes nothing, with one deliberate
//! exception: a wrong PIN is counted (in its own transaction), or PINs could be guessed.

use crate::clock::{self, Local, TillTime};
use crate::error::from_value;
use crate::error::{AppError, AppResult};
use crate::guard;
use crate::loyalty;
use crate::spend::Presented;
use crate::App;
use forecourt_core::coupons::Applied;
use forecourt_core::ledger::Policy;
use forecourt_core::ledger::{account, split_card_debit, Transfer, Unit};
use forecourt_core::limits::{first_hard, Breach, RuleContext, RuleLine, Usage};
use forecourt_core::pricing::{self, LineInput, PricedSale, ProductKind, TierBenefit};
use forecourt_core::sale::{
    self, AuthorizationFacts, CardFacts, CardSnap, CouponFacts, CreditFacts, Method, PaymentIn,
    PaymentsSnapshot, PAYMENTS_MAX,
};
use forecourt_core::{CardKind, CardNo, CardState, DomainError, Fen, Phone, Plate};
use forecourt_store::ledger::NewJournal;
use forecourt_store::BoxFuture;
use forecourt_store::{
    new_id, now_us, Card, Customer, PosRequest, SaleLineRecord, SalePaymentRecord, Station,
    StoreError, Tier, Tx,
};
use forecourt_store::{Guesses, NewSale};
use serde::Deserialize;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

/// The most one recharge may add, whatever the card's cap.
const RECHARGE_FEN_MAX: i64 = 100_000_000;
const RETRIES_MAX: usize = 20;

#[derive(Debug, Clone, Deserialize, Default)]
pub struct CustomerRef {
    pub card_no: Option<String>,
    pub phone: Option<String>,
    pub plate: Option<String>,
    pub member_code: Option<String>,
    /// The PIN of `card_no`, when the sale spends the member's coupons or credit and no
    /// card payment gives it.
    pub pin: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct LineBody {
    pub product_code: String,
    pub volume_ml: Option<i64>,
    pub quantity: Option<i64>,
    pub unit_price_fen: i64,
    pub amount_fen: Option<i64>,
    pub pump_no: Option<i64>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct PaymentBody {
    pub method: String,
    pub amount_fen: i64,
    pub card_no: Option<String>,
    pub pin: Option<String>,
    pub coupon_code: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct SaleBody {
    #[serde(default)]
    pub pos_txn_id: String,
    pub station_code: String,
    pub occurred_at: String,
    pub customer: Option<CustomerRef>,
    pub lines: Vec<LineBody>,
    #[serde(default)]
    pub payments: Vec<PaymentBody>,
    pub authorization_id: Option<String>,
    /// Discount coupons (from templates) to apply, in order.
    #[serde(default)]
    pub coupons: Vec<String>,
    /// The plate of the vehicle being filled, for plate-bound cards.
    pub plate: Option<String>,
    pub odometer_km: Option<i64>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct RechargeBody {
    pub pos_txn_id: String,
    pub station_code: String,
    pub occurred_at: String,
    pub card_no: String,
    pub amount_fen: i64,
    pub payments: Vec<PaymentBody>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct RefundLine {
    pub line_no: i64,
    pub amount_fen: Option<i64>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct RefundBody {
    pub pos_txn_id: String,
    pub station_code: String,
    pub occurred_at: String,
    pub sale_id: String,
    pub lines: Option<Vec<RefundLine>>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct AuthorizationBody {
    pub pos_txn_id: String,
    pub station_code: String,
    pub occurred_at: Option<String>,
    pub card_no: String,
    pub pin: Option<String>,
    pub pump_no: Option<i64>,
    pub max_amount_fen: i64,
    pub plate: Option<String>,
}

/// Why a planned write did not happen.
enum Refusal {
    Api(AppError),
    /// A concurrent request with the same `pos_txn_id` committed first.
    Raced,
}

impl<E: Into<AppError>> From<E> for Refusal {
    fn from(e: E) -> Self {
        Refusal::Api(e.into())
    }
}

type Planned<T> = Result<T, Refusal>;

fn validate_txn_id(id: &str) -> AppResult<()> {
    if id.is_empty() || id.len() > 64 || !id.chars().all(|c| c.is_ascii_graphic()) {
        return Err(AppError::validation(
            "pos_txn_id",
            "1 to 64 printable ASCII characters",
        ));
    }
    Ok(())
}

/// The station of the request must exist and be the token's.
async fn check_station(state: &App, pos: &Station, code: &str) -> AppResult<()> {
    if code == pos.code {
        return Ok(());
    }
    match state.store().station_by_code(code).await? {
        None => Err(AppError::new(
            "unknown_station",
            format!("no station {code}"),
        )),
        Some(_) => Err(AppError::new(
            "wrong_station",
            "this POS token belongs to another station",
        )),
    }
}

fn request_hash(kind: &str, body: &Value) -> String {
    hex::encode(Sha256::digest(format!("{kind}:{body}").as_bytes()))
}

fn replay(prev: &PosRequest, kind: &str, hash: &str) -> AppResult<Answer> {
    if prev.kind != kind || prev.request_hash != hash {
        return Err(AppError::new(
            "idempotency_conflict",
            "this pos_txn_id was used before for another request; use a new pos_txn_id",
        ));
    }
    let body: Value = serde_json::from_str(&prev.response).map_err(AppError::internal)?;
    Ok(Answer::ok(body))
}

fn parse_card_no(field: &'static str, s: &str) -> AppResult<CardNo> {
    CardNo::parse(s).map_err(|e| match e {
        DomainError::Invalid { message, .. } => AppError::validation(field, message),
        other => other.into(),
    })
}

pub(crate) fn tier_benefit(t: &Tier) -> TierBenefit {
    TierBenefit {
        code: t.code.clone(),
        name: t.name.clone(),
        discount_fen_per_litre: t.discount_fen_per_litre,
        points_multiplier_permille: t.points_multiplier_permille,
    }
}

/// The card whose balance a card spends: its main card when it is a pooled sub-card.
async fn funding_card(tx: &mut Tx, card: &Card) -> Result<Card, StoreError> {
    if card.kind == CardKind::FleetSub.as_str() {
        if let Some(main_id) = &card.main_card_id {
            let main = tx
                .card_by_id(main_id)
                .await?
                .ok_or(StoreError::NotFound("card"))?;
            if main.balance_mode == "pool" {
                return Ok(main);
            }
        }
    }
    Ok(card.clone())
}

/// The id of the card whose balance `card` spends (its pooled main card, or itself).
fn funding_id(locked: &BTreeMap<String, Card>, card: &Card) -> String {
    match &card.main_card_id {
        Some(main)
            if card.kind == CardKind::FleetSub.as_str()
                && locked.get(main).is_some_and(|m| m.balance_mode == "pool") =>
        {
            main.clone()
        }
        _ => card.card_id.clone(),
    }
}

/// What the payment decision needs of a card row.
pub(crate) fn card_facts(card: &Card) -> Result<CardFacts, DomainError> {
    Ok(CardFacts {
        card_id: card.card_id.clone(),
        customer_id: card.customer_id.clone(),
        kind: CardKind::parse(&card.kind)?,
        state: CardState::parse(&card.state)?,
        main_card_id: card.main_card_id.clone(),
        pooled: card.balance_mode == "pool",
        has_pin: card.pin_hash.is_some(),
        pin_failures: card.pin_failures.try_into().unwrap_or(u32::MAX),
        rules: card.rules.clone(),
    })
}

/// Checks the card's state and PIN ([`sale::check_card`]): whether a verified PIN was
/// given. [`judge_pins`] judged the PINs before the transaction began, with each try
/// counted on its own; `verified` holds the cards whose PIN it found right.
fn check_card(
    state: &App,
    card: &Card,
    pin: Option<&str>,
    verified: &BTreeSet<String>,
) -> Planned<bool> {
    let tries_max = state.config().pin_tries_max.try_into().unwrap_or(u32::MAX);
    Ok(sale::check_card(
        &card_facts(card)?,
        verified,
        tries_max,
        pin.is_some(),
    )?)
}

/// Judges the PINs a write carries (card number, PIN) before its transaction begins:
/// each try is reserved on the card's counter and committed on its own first (see
/// `guard`), so that neither parallel sales nor the rollback of a refused sale can let
/// more than `Config::pin_tries_max` wrong PINs be judged. Returns the ids of the cards
/// whose PIN is right, or the answer already given to this `pos_txn_id` (a replay
/// judges nothing).
async fn judge_pins(
    state: &App,
    station: &Station,
    key: Key<'_>,
    given: &[(&str, Option<&str>)],
) -> AppResult<Result<BTreeSet<String>, Answer>> {
    let mut verified = BTreeSet::new();
    if given.iter().all(|(_, pin)| pin.is_none()) {
        return Ok(Ok(verified));
    }
    let store = state.store();
    {
        let mut tx = store.begin_read().await?;
        if let Some(prev) = tx.pos_request(key.station_id, key.pos_txn_id).await? {
            return replay(&prev, key.kind, key.hash).map(Err);
        }
    }
    let actor = format!("pos:{}", station.code);
    let attempt = guard::Attempt {
        actor: &actor,
        source: None,
    };
    let max = state.config().pin_tries_max;
    for (no, pin) in given {
        let Some(pin) = pin else { continue };
        // A malformed or unknown number is refused inside the transaction.
        let Ok(no) = CardNo::parse(no) else { continue };
        let Some(card) = store.card_by_no(no.as_str()).await? else {
            continue;
        };
        let Some(hash) = &card.pin_hash else { continue };
        if verified.contains(&card.card_id) {
            continue;
        }
        let judged = guard::judge(state, Guesses::CardPin, &card.card_id, &attempt, || {
            state.secret().pin_matches(&card.card_id, pin, hash)
        })
        .await?;
        match judged {
            guard::Judged::Right => {
                verified.insert(card.card_id.clone());
            }
            guard::Judged::Wrong(r) if !r.locks => {
                return Err(DomainError::PinIncorrect {
                    tries_left: (max - r.count) as u32,
                }
                .into())
            }
            guard::Judged::Wrong(_) | guard::Judged::Locked => {
                return Err(DomainError::PinLocked.into())
            }
        }
    }
    Ok(Ok(verified))
}

/// The one idempotency combinator of every POS write. It runs `decide` as one unit of
/// the store's writer (on SQLite committed with the units of concurrent tills, on
/// PostgreSQL a transaction of its own): first the stored answer of this
/// `(station, pos_txn_id)` is replayed (`200`, or `idempotency_conflict` for another
/// body); otherwise `decide` reads its snapshot, decides and writes, and its answer is
/// stored under the key in the same unit and returned as `201` after the commit. A
/// serialisation failure or busy database retries the whole unit; a twin with the same
/// key that committed first is answered with its result.
async fn idempotent<C>(
    state: &App,
    key: Key<'_>,
    ctx: C,
    decide: for<'t> fn(&'t App, &'t mut Tx, &'t C) -> BoxFuture<'t, Planned<Value>>,
) -> AppResult<Answer>
where
    C: Send + Sync + 'static,
{
    let ctx = Arc::new(ctx);
    for n in 0..RETRIES_MAX {
        let unit = (
            state.clone(),
            ctx.clone(),
            key.station_id.to_string(),
            key.pos_txn_id.to_string(),
            key.kind.to_string(),
            key.hash.to_string(),
        );
        let posted = state
            .store()
            .write(move |tx| {
                Box::pin(async move {
                    let (state, ctx, station_id, pos_txn_id, kind, hash) = unit;
                    if let Some(prev) = tx.pos_request(&station_id, &pos_txn_id).await? {
                        return Ok(replay(&prev, &kind, &hash)?);
                    }
                    let response = decide(&state, tx, &ctx).await?;
                    let stored = PosRequest {
                        kind,
                        request_hash: hash,
                        status: 201,
                        response: response.to_string(),
                    };
                    tx.save_pos_request(&station_id, &pos_txn_id, &stored)
                        .await?;
                    // The writes a unit deferred go now, in one statement; a twin that
                    // committed first shows here as a broken unique key.
                    tx.flush().await.map_err(raced)?;
                    Ok(Answer::created(response))
                })
            })
            .await;
        match posted {
            Ok(answer) => return Ok(answer),
            Err(Refusal::Api(e)) if e.code == "unavailable" && n + 1 < RETRIES_MAX => {
                tokio::time::sleep(std::time::Duration::from_millis(2 + 3 * n as u64)).await;
            }
            Err(Refusal::Raced) => match stored_answer(state, key).await? {
                Some(answer) => return Ok(answer),
                None => continue,
            },
            Err(Refusal::Api(e)) => {
                // A twin request with the same key may have committed while this one
                // waited for the card's lock, and then seen the balance it left: the
                // answer is the twin's, not a refusal.
                return match stored_answer(state, key).await? {
                    Some(answer) => Ok(answer),
                    None => Err(e),
                };
            }
        }
    }
    Err(AppError::new("unavailable", "the database is busy; retry"))
}

/// The stored answer of this key, replayed, if a request with it committed.
/// A unique key broken by a twin request that committed first.
fn raced(e: StoreError) -> Refusal {
    match e {
        StoreError::Conflict(_) => Refusal::Raced,
        e => e.into(),
    }
}

async fn stored_answer(state: &App, key: Key<'_>) -> AppResult<Option<Answer>> {
    let mut tx = state.store().begin_read().await?;
    match tx.pos_request(key.station_id, key.pos_txn_id).await? {
        Some(prev) => Ok(Some(replay(&prev, key.kind, key.hash)?)),
        None => Ok(None),
    }
}

/// The idempotency key of a POS write and the hash of its body.
#[derive(Clone, Copy)]
struct Key<'a> {
    station_id: &'a str,
    pos_txn_id: &'a str,
    kind: &'a str,
    hash: &'a str,
}

/// Who the sale is for, identified by card, phone, plate or member code.
#[derive(Clone)]
struct Identified {
    customer: Option<Customer>,
    card: Option<Card>,
    plate: Option<String>,
    messages: Vec<String>,
    /// How the member was identified: only a presented card (with its PIN) spends.
    presented: Presented,
}

/// Reads who the sale is for before the transaction starts: a transaction must never wait
/// for a second pooled connection (on PostgreSQL both come from one pool, so concurrent
/// sales could each hold one and wait for another).
async fn identify(state: &App, r: Option<&CustomerRef>) -> Planned<Identified> {
    let mut out = Identified {
        customer: None,
        card: None,
        plate: None,
        messages: Vec::new(),
        presented: Presented::Nobody,
    };
    let Some(r) = r else { return Ok(out) };
    let store = state.store();
    let ids: Vec<String> = if let Some(no) = &r.card_no {
        let no = parse_card_no("customer.card_no", no)?;
        // The card and its holder in one read.
        let (card, holder) = store
            .card_and_holder_by_no(no.as_str())
            .await?
            .ok_or_else(|| AppError::new("card_not_found", "no card with this number"))?;
        out.presented = Presented::card(card.pin_hash.is_some(), false);
        out.card = Some(card);
        if let Some(holder) = holder {
            out.customer = Some(holder);
            return Ok(out);
        }
        Vec::new()
    } else if let Some(phone) = &r.phone {
        let phone = Phone::parse(phone).map_err(AppError::from)?;
        store.customer_ids_by_phone(phone.as_str()).await?
    } else if let Some(plate) = &r.plate {
        let plate = Plate::parse(plate).map_err(AppError::from)?;
        out.plate = Some(plate.as_str().to_string());
        store.customer_ids_by_plate(plate.as_str()).await?
    } else if let Some(code) = &r.member_code {
        store
            .customer_by_member_code(code)
            .await?
            .map(|c| c.customer_id)
            .into_iter()
            .collect()
    } else {
        Vec::new()
    };
    match ids.as_slice() {
        [] if r.card_no.is_none()
            && (r.phone.is_some() || r.plate.is_some() || r.member_code.is_some()) =>
        {
            out.messages
                .push("no member found: sold as a walk-in sale".into());
        }
        [one] => {
            out.customer = store.customer(one).await?;
            if out.card.is_none() {
                out.presented = Presented::Named;
            }
        }
        [_, _, ..] => out
            .messages
            .push("several members match: identify by card or member code to earn points".into()),
        [] => {}
    }
    Ok(out)
}

/// A line is measured in millilitres (fuel) or in units (goods, services, watt-hours of
/// charging), never both: with both, which one the price, the points and the fleet limits
/// were computed on would depend on the product, and a till sending both most likely
/// means something else than what would be charged. Shared by the quote, the sale and
/// the bulk import so that they refuse the same lines.
pub fn one_measure(
    i: usize,
    volume_ml: Option<i64>,
    quantity: Option<i64>,
) -> Result<(), AppError> {
    if volume_ml.is_some() && quantity.is_some() {
        return Err(AppError::validation(
            &format!("lines[{i}]"),
            "send volume_ml or quantity, not both",
        ));
    }
    Ok(())
}

async fn line_inputs(state: &App, lines: &[LineBody]) -> Planned<Vec<LineInput>> {
    let mut out = Vec::with_capacity(lines.len());
    if lines.len() > pricing::LINES_MAX {
        return Err(
            AppError::validation("lines", format!("at most {} lines", pricing::LINES_MAX)).into(),
        );
    }
    for (i, l) in lines.iter().enumerate() {
        one_measure(i, l.volume_ml, l.quantity)?;
        let p = state
            .cache()
            .product(state.store(), &l.product_code)
            .await?
            .ok_or_else(|| {
                AppError::new("unknown_product", format!("no product {}", l.product_code))
            })?;
        out.push(LineInput {
            product_code: p.code,
            kind: ProductKind::parse(&p.kind)?,
            category: p.category,
            volume_ml: l.volume_ml,
            quantity: l.quantity,
            unit_price_fen: l.unit_price_fen,
            amount_fen: l.amount_fen,
        });
    }
    Ok(out)
}

/// The card rules' view of a sale at `station` at local time `local`; the amount and
/// whether a PIN was given are set per payment.
pub(crate) fn rule_context(
    station: &Station,
    local: &Local,
    plate: Option<String>,
    odometer_km: Option<i64>,
    lines: Vec<RuleLine>,
) -> RuleContext {
    RuleContext {
        station_code: station.code.clone(),
        region_code: station.region_code.clone(),
        province: station.province.clone(),
        weekday: local.weekday,
        minute_of_day: local.minute_of_day,
        plate,
        odometer_km,
        pin_given: false,
        lines,
        amount_fen: 0,
    }
}

pub(crate) fn rule_lines(priced: &PricedSale) -> Vec<RuleLine> {
    priced
        .lines
        .iter()
        .map(|l| RuleLine {
            product_code: l.product_code.clone(),
            category: if l.kind == ProductKind::NonFuel {
                l.category.clone().or_else(|| Some("other".into()))
            } else {
                None
            },
            is_fuel: l.kind == ProductKind::Fuel,
            volume_ml: l.volume_ml,
        })
        .collect()
}

pub(crate) fn fuel_volume(priced: &PricedSale) -> i64 {
    priced
        .lines
        .iter()
        .filter(|l| l.kind == ProductKind::Fuel)
        .map(|l| l.volume_ml)
        .sum()
}

/// What the card used today and this month; not read when no rule of the card depends
/// on it (most cards have no such rule).
async fn usage(tx: &mut Tx, card: &Card, local: &Local) -> Result<Usage, StoreError> {
    if !card.rules.depends_on_usage() {
        return Ok(Usage::default());
    }
    let card_id = card.card_id.as_str();
    let (sales_today, amount_today_fen, volume_today_ml) = tx
        .card_usage(card_id, local.day_start_us, local.day_end_us)
        .await?;
    let (_, amount_month_fen, _) = tx
        .card_usage(card_id, local.month_start_us, local.month_end_us)
        .await?;
    Ok(Usage {
        sales_today,
        amount_today_fen,
        amount_month_fen,
        volume_today_ml,
    })
}

fn discounts_json(plan: &SalePlan) -> Value {
    let coupons: i64 = plan.applied.iter().map(|a| a.amount_fen).sum();
    let tier_fen = plan.priced.discount_fen.0 - coupons;
    let mut out = Vec::new();
    if let (Some(t), true) = (&plan.tier, tier_fen > 0) {
        out.push(json!({
            "kind": "tier",
            "description": format!("{} {} fen/L", t.name, t.discount_fen_per_litre),
            "amount_fen": tier_fen,
        }));
    }
    for a in &plan.applied {
        out.push(json!({
            "kind": "coupon",
            "coupon_code": a.code,
            "description": a.kind.as_str(),
            "amount_fen": a.amount_fen,
        }));
    }
    Value::Array(out)
}

fn points_detail(plan: &SalePlan) -> Value {
    match &plan.points_plan {
        Some(p) => json!(p.earned.lines),
        None => json!([]),
    }
}

fn lines_json(priced: &PricedSale) -> Value {
    Value::Array(
        priced
            .lines
            .iter()
            .enumerate()
            .map(|(i, l)| {
                json!({
                    "line_no": i + 1, "product_code": l.product_code, "volume_ml": l.volume_ml, "quantity": l.quantity,
                    "unit_price_fen": l.unit_price_fen, "gross_fen": l.gross_fen.0, "discount_fen": l.discount_fen.0, "net_fen": l.net_fen.0,
                })
            })
            .collect(),
    )
}

fn tier_json(t: Option<&TierBenefit>) -> Value {
    t.map(|t| json!({"code": t.code, "name": t.name}))
        .unwrap_or(Value::Null)
}

/// Everything a sale decided, ready to post.
struct SalePlan {
    priced: PricedSale,
    identified: Identified,
    tier: Option<TierBenefit>,
    transfers: Vec<Transfer>,
    payments: Vec<SalePaymentRecord>,
    usage_rows: Vec<(String, i64)>,
    coupons: Vec<String>,
    /// Discount coupons applied, in order.
    applied: Vec<Applied>,
    points: i64,
    points_plan: Option<loyalty::PointsPlan>,
    local: Local,
    flags: Vec<Breach>,
    balance_card: Option<String>,
    authorization_id: Option<String>,
}

/// What a sale needs that is read before its transaction: the products of its lines
/// and who it is for.
#[derive(Clone)]
struct Prepared {
    lines: Vec<LineInput>,
    identified: Identified,
    loyalty: Arc<loyalty::LoyaltyConfig>,
    /// The cards whose PIN was judged right before the transaction (`judge_pins`).
    pins: BTreeSet<String>,
}

async fn prepare(state: &App, body: &SaleBody) -> AppResult<Prepared> {
    let unplanned = |r: Refusal| match r {
        Refusal::Api(e) => e,
        Refusal::Raced => AppError::new("unavailable", "a concurrent request is in flight; retry"),
    };
    Ok(Prepared {
        lines: line_inputs(state, &body.lines).await.map_err(unplanned)?,
        identified: identify(state, body.customer.as_ref())
            .await
            .map_err(unplanned)?,
        loyalty: loyalty::config(state).await?,
        pins: BTreeSet::new(),
    })
}

/// Decides a sale. With `post == false` (a quote) nothing is locked and payments are not
/// looked at.
async fn plan_sale(
    state: &App,
    tx: &mut Tx,
    station: &Station,
    body: &SaleBody,
    at: i64,
    post: bool,
    pre: &Prepared,
) -> Planned<SalePlan> {
    let lines = pre.lines.clone();
    let identified = pre.identified.clone();
    // Tiers come with the loyalty configuration (cached as the points rules are).
    let tier = match &identified.customer {
        Some(c) => pre
            .loyalty
            .tiers
            .iter()
            .find(|t| t.code == c.tier_code)
            .map(tier_benefit),
        None => None,
    };
    let mut priced = pricing::price_sale(&lines, tier.as_ref())?;
    let applied = loyalty::apply_coupons(
        tx,
        &body.coupons,
        identified.customer.as_ref(),
        at,
        &mut priced,
    )
    .await?;
    let multiplier = tier
        .as_ref()
        .map(|t| t.points_multiplier_permille)
        .unwrap_or(1000);
    let local = clock::local(&station.time_zone, at);
    let mut plan = SalePlan {
        priced,
        identified,
        tier,
        transfers: Vec::new(),
        payments: Vec::new(),
        usage_rows: Vec::new(),
        coupons: applied.iter().map(|a| a.code.clone()).collect(),
        applied,
        points: 0,
        points_plan: None,
        local,
        flags: Vec::new(),
        balance_card: None,
        authorization_id: None,
    };
    let net = plan.priced.net_fen.0;
    let owned = owned_coupons(tx, &plan.coupons).await?;
    if !post {
        if owned && !plan.identified.presented.may_see_codes() {
            return Err(plan
                .identified
                .presented
                .require_spend("the member's coupons")
                .unwrap_err()
                .into());
        }
        if let Some(c) = &plan.identified.customer {
            let p = loyalty::plan_points(
                tx,
                &pre.loyalty,
                &station.code,
                &plan.local,
                at,
                c,
                multiplier,
                &plan.priced,
                0,
                false,
            )
            .await?;
            plan.points = p.earned.total;
            plan.points_plan = Some(p);
        }
        plan.balance_card = match &plan.identified.card {
            Some(c) => Some(funding_card(tx, c).await?.card_id),
            None => None,
        };
        return Ok(plan);
    }

    // Payments: shape and sum first, before anything is read.
    let methods = body
        .payments
        .iter()
        .map(|p| Method::parse(&p.method))
        .collect::<Result<Vec<_>, _>>()?;
    let amounts: Vec<i64> = body.payments.iter().map(|p| p.amount_fen).collect();
    sale::check_amounts(net, &amounts)?;

    // The snapshot: every card involved, locked in ascending id order, with what the
    // decision needs of it; then the credit account, the authorisation and the coupons.
    let mut card_nos: Vec<Option<String>> = Vec::new();
    for (p, m) in body.payments.iter().zip(&methods) {
        card_nos.push(if *m == Method::Card {
            let no = match (&p.card_no, &plan.identified.card) {
                (Some(no), _) => parse_card_no("payments.card_no", no)?.as_str().to_string(),
                (None, Some(c)) => c.card_no.clone(),
                (None, None) => {
                    return Err(AppError::validation(
                        "payments.card_no",
                        "a card payment names its card",
                    )
                    .into())
                }
            };
            Some(no)
        } else {
            None
        });
    }
    let mut to_lock = BTreeSet::new();
    let mut card_ids: BTreeMap<String, String> = BTreeMap::new();
    let mut locked: BTreeMap<String, Card> = BTreeMap::new();
    let numbers: Vec<&String> = card_nos.iter().flatten().collect();
    if let [no] = numbers.as_slice() {
        // One card: read and locked in one statement (the ascending-id order of several
        // locks does not arise); its pooled main card, if any, after it.
        let card = tx
            .lock_card_by_no(no)
            .await?
            .ok_or_else(|| AppError::new("card_not_found", "no card with this number"))?;
        card_ids.insert((*no).clone(), card.card_id.clone());
        if let Some(main) = card.main_card_id.clone() {
            let m = tx.lock_card(&main).await?;
            locked.insert(main, m);
        }
        locked.insert(card.card_id.clone(), card);
    } else {
        for no in &numbers {
            let card = tx
                .card_by_no(no)
                .await?
                .ok_or_else(|| AppError::new("card_not_found", "no card with this number"))?;
            to_lock.insert(card.card_id.clone());
            if let Some(main) = &card.main_card_id {
                to_lock.insert(main.clone());
            }
            if card_ids.insert((*no).clone(), card.card_id).is_some() {
                return Err(AppError::validation("payments", "one payment per card").into());
            }
        }
        for id in &to_lock {
            let c = tx.lock_card(id).await?;
            locked.insert(id.clone(), c);
        }
    }
    let local = plan.local;
    let mut cards = BTreeMap::new();
    let paying: BTreeSet<&String> = card_ids.values().collect();
    let funding: BTreeSet<String> = paying
        .iter()
        .map(|id| funding_id(&locked, &locked[*id]))
        .collect();
    // The balances decided on, read with the other accounts a sale's journal moves (in
    // one statement; `post` reads them no more).
    let mut names = vec![
        account::SALES_REVENUE.to_string(),
        account::POINTS_ISSUED.to_string(),
    ];
    for id in &funding {
        names.extend([account::card_paid(id), account::card_bonus(id)]);
    }
    if let Some(c) = &plan.identified.customer {
        names.push(account::customer_points(&c.customer_id));
    }
    let balances = tx.read_accounts(&names).await?;
    for (id, card) in &locked {
        let (paid_fen, bonus_fen) = if funding.contains(id) {
            (
                balances[&account::card_paid(id)].available(),
                balances[&account::card_bonus(id)].available(),
            )
        } else {
            (0, 0)
        };
        let usage = if paying.contains(id) {
            usage(tx, card, &local).await?
        } else {
            Usage::default()
        };
        cards.insert(
            id.clone(),
            CardSnap {
                facts: card_facts(card)?,
                paid_fen,
                bonus_fen,
                usage,
            },
        );
    }
    let customer_id = plan
        .identified
        .customer
        .as_ref()
        .map(|c| c.customer_id.clone());
    let credit = match (&customer_id, methods.contains(&Method::Credit)) {
        (Some(id), true) => match tx.credit_limit(id).await? {
            Some(limit) => Some(CreditFacts {
                policy: Policy::CreditLimit(limit),
                totals: tx.account_totals(&account::customer_credit(id)).await?,
            }),
            None => None,
        },
        _ => None,
    };
    let authorization = match &body.authorization_id {
        Some(id) => Some(tx.authorization(id).await?.map(|a| AuthorizationFacts {
            authorization_id: a.authorization_id,
            card_id: a.card_id,
            station_id: a.station_id,
            state: a.state,
            expires_at: a.expires_at,
            held_fen: a.held_fen,
            journal_id: a.journal_id,
        })),
        None => None,
    };
    // What the sale's own pump authorisation holds is the sale's to spend: the
    // capture releases the hold.
    if let Some(Some(auth)) = &authorization {
        if auth.state == "pending" {
            for (name, amount) in tx.held_by(&auth.journal_id).await? {
                for snap in cards.values_mut() {
                    if name == account::card_paid(&snap.facts.card_id) {
                        snap.paid_fen += amount;
                    } else if name == account::card_bonus(&snap.facts.card_id) {
                        snap.bonus_fen += amount;
                    }
                }
            }
        }
    }
    let mut coupons = BTreeMap::new();
    for code in body
        .payments
        .iter()
        .filter_map(|p| p.coupon_code.as_deref())
    {
        if let Some(c) = tx.member_coupon(code).await? {
            coupons.insert(
                code.to_string(),
                CouponFacts {
                    code: c.code,
                    kind: c.kind,
                    owner: c.customer_id,
                    state: c.state,
                    valid_from: c.valid_from,
                    valid_until: c.valid_until,
                    value_fen: c.value,
                },
            );
        }
    }
    // The PIN of the presented card, when the sale gives it beside the customer.
    let mut presented = plan.identified.presented;
    if let (Some(_), Some(card)) = (
        body.customer.as_ref().and_then(|c| c.pin.as_deref()),
        &plan.identified.card,
    ) {
        // The PIN was judged (and its try counted) before the transaction began.
        if card.pin_hash.is_some() {
            presented = Presented::card(true, pre.pins.contains(&card.card_id));
        }
    }
    let snapshot = PaymentsSnapshot {
        net_fen: net,
        at,
        now: now_us(),
        station_id: station.station_id.clone(),
        customer_id,
        shown_card: plan
            .identified
            .card
            .as_ref()
            .map(|c| (c.card_id.clone(), c.customer_id.clone())),
        presented,
        cards,
        pins_verified: pre.pins.clone(),
        pin_tries_max: state.config().pin_tries_max.try_into().unwrap_or(u32::MAX),
        credit,
        authorization,
        coupons,
        discount_coupons: plan.coupons.clone(),
        discount_coupons_owned: owned_coupons(tx, &plan.coupons).await?,
        rule_context: rule_context(
            station,
            &local,
            body.plate.clone().or_else(|| plan.identified.plate.clone()),
            body.odometer_km,
            rule_lines(&plan.priced),
        ),
    };
    let payments: Vec<PaymentIn> = body
        .payments
        .iter()
        .zip(&methods)
        .zip(&card_nos)
        .map(|((p, m), no)| PaymentIn {
            method: *m,
            amount_fen: p.amount_fen,
            card_id: no.as_ref().map(|no| card_ids[no].clone()),
            pin_sent: p.pin.is_some(),
            coupon_code: p.coupon_code.clone(),
        })
        .collect();

    // The decision, pure; then its one effect outside the sale's own rows.
    let decided = sale::decide_payments(&snapshot, &payments)?;
    if let Some((auth_id, journal_id)) = &decided.authorization {
        tx.release(journal_id).await?;
        plan.authorization_id = Some(auth_id.clone());
    }
    plan.transfers = decided.transfers;
    plan.payments = decided
        .records
        .into_iter()
        .map(|r| SalePaymentRecord {
            payment_no: r.payment_no,
            method: r.method.as_str().to_string(),
            amount_fen: r.amount_fen,
            card_id: r.card_id,
            funding_card_id: r.funding_card_id,
            coupon_code: r.coupon_code,
            from_paid_fen: r.from_paid_fen,
            from_bonus_fen: r.from_bonus_fen,
            refunded_fen: 0,
        })
        .collect();
    plan.usage_rows = decided.usage;
    plan.flags = decided.flags;
    plan.coupons = decided.coupons;
    plan.balance_card = decided.balance_card;
    let coupon_total = decided.coupon_total_fen;
    if let Some(c) = plan.identified.customer.clone() {
        let p = loyalty::plan_points(
            tx,
            &pre.loyalty,
            &station.code,
            &plan.local,
            at,
            &c,
            multiplier,
            &plan.priced,
            coupon_total,
            true,
        )
        .await?;
        plan.points = p.earned.total;
        plan.transfers
            .extend(loyalty::points_transfers(&c.customer_id, &p));
        plan.points_plan = Some(p);
    }
    if plan.balance_card.is_none() {
        plan.balance_card = match &plan.identified.card {
            Some(c) => Some(funding_card(tx, c).await?.card_id),
            None => None,
        };
    }
    Ok(plan)
}

/// Whether any of these coupons belongs to a member (a bearer coupon belongs to nobody).
async fn owned_coupons(tx: &mut Tx, codes: &[String]) -> Planned<bool> {
    for code in codes {
        if let Some(c) = tx.member_coupon(code).await? {
            if c.customer_id.is_some() {
                return Ok(true);
            }
        }
    }
    Ok(false)
}

/// The member's card presented for spending their points or coupons outside a sale (a
/// redemption): it must be the member's and usable, and its PIN, where it has one, is
/// checked and a wrong one counted as at the till.
pub async fn present_card(
    state: &App,
    actor: &str,
    card_no: Option<&str>,
    pin: Option<&str>,
    customer_id: &str,
) -> AppResult<Presented> {
    let Some(no) = card_no else {
        return Ok(Presented::Named);
    };
    let no = parse_card_no("card_no", no)?;
    let card = state
        .store()
        .card_by_no(no.as_str())
        .await?
        .filter(|c| c.customer_id.as_deref() == Some(customer_id))
        .ok_or_else(|| AppError::validation("card_no", "not a card of this member"))?;
    CardState::parse(&card.state)?.check_usable()?;
    let Some(hash) = &card.pin_hash else {
        return Ok(Presented::card(false, false));
    };
    let Some(pin) = pin else {
        return Err(DomainError::PinRequired.into());
    };
    // Judged like a PIN at the till: the try is reserved and counted first.
    let attempt = guard::Attempt {
        actor,
        source: None,
    };
    let judged = guard::judge(state, Guesses::CardPin, &card.card_id, &attempt, || {
        state.secret().pin_matches(&card.card_id, pin, hash)
    })
    .await?;
    let max = state.config().pin_tries_max;
    match judged {
        guard::Judged::Right => Ok(Presented::card(true, true)),
        guard::Judged::Wrong(r) if !r.locks => Err(DomainError::PinIncorrect {
            tries_left: (max - r.count) as u32,
        }
        .into()),
        guard::Judged::Wrong(_) | guard::Judged::Locked => Err(DomainError::PinLocked.into()),
    }
}

async fn balance_of(tx: &mut Tx, card_id: Option<&str>) -> Result<Value, StoreError> {
    Ok(match card_id {
        Some(id) => json!(tx.card_balance(id).await?.available_fen()),
        None => Value::Null,
    })
}

/// `POST /api/v1/pos/quotes`: what the sale would cost now; changes nothing.
pub async fn quote(state: &App, pos: Station, raw: Value) -> AppResult<Answer> {
    let body: SaleBody = from_value(raw)?;
    check_station(state, &pos, &body.station_code).await?;
    // The business day (limits, promotions, coupon validity) is the server's.
    let at = state
        .till_time("occurred_at", &body.occurred_at)?
        .business_at;
    let pre = prepare(state, &body).await?;
    let mut tx = state.store().begin_read().await?;
    let plan = match plan_sale(state, &mut tx, &pos, &body, at, false, &pre).await {
        Ok(p) => p,
        Err(Refusal::Api(e)) => return Err(e),
        Err(Refusal::Raced) => return Err(AppError::new("unavailable", "retry")),
    };
    let balance = balance_of(&mut tx, plan.balance_card.as_deref()).await?;
    drop(tx);
    // The member's coupons that could be used now, for the cashier to offer.
    let held: Vec<Value> = match &plan.identified.customer {
        Some(c) => state
            .store()
            .coupons_of(&c.customer_id)
            .await?
            .into_iter()
            .filter(|k| {
                k.state == "issued" && k.valid_from <= at && k.valid_until.is_none_or(|u| u > at)
            })
            .filter(|k| !plan.coupons.contains(&k.code))
            .map(|k| json!({"code": k.code, "kind": k.kind, "name": k.name, "value": k.value, "valid_until": k.valid_until.map(clock::rfc3339)}))
            .collect(),
        None => Vec::new(),
    };
    // A member named only by phone, plate or member code is told that coupons exist,
    // never their codes: the codes are what spends them.
    let mut messages = plan.identified.messages.clone();
    let coupons_held = held.len();
    let available = if plan.identified.presented.may_see_codes() {
        held
    } else {
        if coupons_held > 0 {
            messages.push(format!(
                "the member holds {coupons_held} coupon(s): present the member's card to use them"
            ));
        }
        Vec::new()
    };
    Ok(Answer::ok(json!({
        "station_code": pos.code,
        "gross_amount_fen": plan.priced.gross_fen.0,
        "discount_fen": plan.priced.discount_fen.0,
        "net_amount_fen": plan.priced.net_fen.0,
        "discounts": discounts_json(&plan),
        "lines": lines_json(&plan.priced),
        "points_earned": plan.points,
        "points_detail": points_detail(&plan),
        "coupons_applied": plan.applied,
        "coupons_available": available,
        "coupons_held": coupons_held,
        "tier": tier_json(plan.tier.as_ref()),
        "customer": plan.identified.customer.as_ref().map(|c| json!({"id": c.customer_id, "member_code": c.member_code})),
        "card_balance_fen": balance,
        "messages": messages,
    })))
}

/// `POST /api/v1/pos/sales`.
pub async fn sale(state: &App, pos: Station, raw: Value) -> AppResult<Answer> {
    let hash = request_hash("sale", &raw);
    let body: SaleBody = from_value(raw)?;
    validate_txn_id(&body.pos_txn_id)?;
    check_station(state, &pos, &body.station_code).await?;
    let at = match till_time_or_replay(
        state,
        &pos.station_id,
        &body.pos_txn_id,
        "sale",
        &hash,
        &body.occurred_at,
    )
    .await?
    {
        Ok(t) => t,
        Err(replayed) => return Ok(replayed),
    };
    let key = Key {
        station_id: &pos.station_id,
        pos_txn_id: &body.pos_txn_id,
        kind: "sale",
        hash: &hash,
    };
    // The PINs the sale carries: each card payment's, and the presented member card's
    // (`customer.pin`, which lets the sale spend the member's coupons or credit).
    let mut given: Vec<(&str, Option<&str>)> = body
        .payments
        .iter()
        .filter(|p| p.method == "card")
        .filter_map(|p| Some((p.card_no.as_deref()?, p.pin.as_deref())))
        .collect();
    if let Some(c) = &body.customer {
        if let (Some(no), Some(pin)) = (c.card_no.as_deref(), c.pin.as_deref()) {
            given.push((no, Some(pin)));
        }
    }
    let pins = match judge_pins(state, &pos, key, &given).await {
        Ok(Ok(pins)) => pins,
        Ok(Err(replayed)) => return Ok(replayed),
        Err(e) => return Err(e),
    };
    let mut pre = prepare(state, &body).await?;
    pre.pins = pins;
    idempotent(state, key, (pos.clone(), body.clone(), at, pre), sale_unit).await
}

type SaleUnit = (Station, SaleBody, TillTime, Prepared);

fn sale_unit<'t>(
    state: &'t App,
    tx: &'t mut Tx,
    (station, body, time, pre): &'t SaleUnit,
) -> BoxFuture<'t, Planned<Value>> {
    Box::pin(post_sale(state, tx, station, body, *time, pre))
}

/// The sale's decision and writes, inside the unit of [`idempotent`].
async fn post_sale(
    state: &App,
    tx: &mut Tx,
    station: &Station,
    body: &SaleBody,
    time: TillTime,
    pre: &Prepared,
) -> Planned<Value> {
    // Decisions and usage counters take the server's business time; the sale and its
    // journal record the till's time as sent.
    let at = time.business_at;
    let plan = plan_sale(state, tx, station, body, at, true, pre).await?;
    let customer_id = plan
        .identified
        .customer
        .as_ref()
        .map(|c| c.customer_id.clone());
    // Decided. From here the writes are deferred (on PostgreSQL they go to the database
    // as one statement when the answer is stored); what is read from here on is read
    // before any of them and reads nothing they change.
    tx.defer_writes();
    let volume = fuel_volume(&plan.priced);
    let mut tier_after = None;
    if let (Some(id), Some(points)) = (&customer_id, &plan.points_plan) {
        let this_sale = loyalty::SaleFigures {
            spend_fen: plan.priced.net_fen.0,
            volume_ml: volume,
        };
        tier_after =
            loyalty::record_points(tx, &pre.loyalty, id, at, &plan.local, points, this_sale)
                .await?;
    }
    let journal = NewJournal {
        idempotency_key: format!("sale:{}:{}", station.station_id, body.pos_txn_id),
        kind: "sale",
        station_id: Some(&station.station_id),
        occurred_at: time.occurred_at,
        memo: None,
    };
    // The balances the answer shows, read with the accounts the journal moves.
    let mut shown = Vec::new();
    if let Some(card) = &plan.balance_card {
        shown.extend([account::card_paid(card), account::card_bonus(card)]);
    }
    if let Some(id) = &customer_id {
        shown.push(account::customer_points(id));
    }
    let (journal_id, totals) = tx
        .post_reading(&journal, &plan.transfers, false, &shown)
        .await
        // A twin with the same key committed first: answered with its result once
        // this unit is undone.
        .map_err(raced)?;
    let sale_id = new_id();
    let flags = serde_json::to_string(&plan.flags).map_err(AppError::internal)?;
    let lines: Vec<SaleLineRecord> = plan
        .priced
        .lines
        .iter()
        .zip(&body.lines)
        .enumerate()
        .map(|(i, (l, b))| SaleLineRecord {
            line_no: i as i64 + 1,
            product_code: l.product_code.clone(),
            kind: l.kind.as_str().to_string(),
            category: l.category.clone(),
            volume_ml: l.volume_ml,
            quantity: l.quantity,
            unit_price_fen: l.unit_price_fen,
            gross_fen: l.gross_fen.0,
            discount_fen: l.discount_fen.0,
            net_fen: l.net_fen.0,
            refunded_fen: 0,
            pump_no: b.pump_no,
        })
        .collect();
    let card_id = plan
        .payments
        .iter()
        .find_map(|p| p.card_id.clone())
        .or_else(|| plan.identified.card.as_ref().map(|c| c.card_id.clone()));
    tx.insert_sale(&NewSale {
        sale_id: sale_id.clone(),
        station_id: station.station_id.clone(),
        pos_txn_id: body.pos_txn_id.clone(),
        journal_id,
        customer_id: customer_id.clone(),
        card_id,
        occurred_at: time.occurred_at,
        gross_fen: plan.priced.gross_fen.0,
        discount_fen: plan.priced.discount_fen.0,
        net_fen: plan.priced.net_fen.0,
        points_earned: plan.points,
        tier_code: plan.tier.as_ref().map(|t| t.code.clone()),
        authorization_id: plan.authorization_id.clone(),
        flags,
        points_detail: points_detail(&plan).to_string(),
        lines,
        payments: plan.payments.clone(),
    })
    .await?;
    for (card_id, amount) in &plan.usage_rows {
        tx.add_usage(card_id, at, 1, *amount, volume, &sale_id)
            .await?;
    }
    // Coupons and the authorisation point at the sale; their guards (still issued,
    // still pending) refuse the unit if another sale got there first.
    for code in &plan.coupons {
        tx.redeem_coupon_for_sale(code, &sale_id).await?;
    }
    if let Some(auth) = &plan.authorization_id {
        tx.capture_authorization(auth, &sale_id).await?;
    }
    let available = |name: String| totals.get(&name).map(|t| t.available()).unwrap_or(0);
    let card_balance = match &plan.balance_card {
        Some(card) => {
            json!(available(account::card_paid(card)) + available(account::card_bonus(card)))
        }
        None => Value::Null,
    };
    let points_balance = match &customer_id {
        Some(id) => json!(available(account::customer_points(id))),
        None => Value::Null,
    };
    let mut messages = plan.identified.messages.clone();
    messages.extend(
        plan.flags
            .iter()
            .map(|b| format!("flagged ({}): {}", b.rule, b.message)),
    );
    let response = json!({
        "sale_id": sale_id,
        "pos_txn_id": body.pos_txn_id,
        "station_code": station.code,
        "occurred_at": clock::rfc3339(time.occurred_at),
        "gross_amount_fen": plan.priced.gross_fen.0,
        "discount_fen": plan.priced.discount_fen.0,
        "net_amount_fen": plan.priced.net_fen.0,
        "discounts": discounts_json(&plan),
        "lines": lines_json(&plan.priced),
        "points_earned": plan.points,
        "points_detail": points_detail(&plan),
        "coupons_applied": plan.applied,
        "tier_after": tier_after,
        "points_balance": points_balance,
        "card_balance_fen": card_balance,
        "tier": tier_json(plan.tier.as_ref()),
        "customer": plan.identified.customer.as_ref().map(|c| json!({"id": c.customer_id, "member_code": c.member_code})),
        "authorization_id": plan.authorization_id,
        "flags": plan.flags,
        "messages": messages,
    });
    Ok(response)
}

/// The card with this number, read in the transaction.
async fn card_in_tx(tx: &mut Tx, card_no: &CardNo) -> Planned<Card> {
    Ok(tx
        .card_by_no(card_no.as_str())
        .await?
        .ok_or_else(|| AppError::new("card_not_found", "no card with this number"))?)
}

fn check_tender_payments(payments: &[PaymentBody], amount: i64) -> AppResult<()> {
    if payments.is_empty() || payments.len() > PAYMENTS_MAX {
        return Err(AppError::validation(
            "payments",
            format!("1 to {PAYMENTS_MAX} payments"),
        ));
    }
    let mut sum = 0i64;
    for p in payments {
        if !matches!(
            p.method.as_str(),
            "cash" | "wechat" | "alipay" | "bank_card"
        ) {
            return Err(AppError::validation(
                "payments.method",
                "a recharge is paid by cash, wechat, alipay or bank_card",
            ));
        }
        if p.amount_fen <= 0 {
            return Err(AppError::validation(
                "payments.amount_fen",
                "a payment is a positive amount",
            ));
        }
        sum = sum.checked_add(p.amount_fen).ok_or(DomainError::Overflow)?;
    }
    if sum != amount {
        return Err(DomainError::PaymentMismatch {
            net: Fen(amount),
            paid: Fen(sum),
        }
        .into());
    }
    Ok(())
}

/// The time of a live till write, or, when it lies outside the accepted skew, the answer
/// already given to this `pos_txn_id`: a till that retries long after an outage must
/// learn what became of its sale, not be refused for the time it first sent.
async fn till_time_or_replay(
    state: &App,
    station_id: &str,
    pos_txn_id: &str,
    kind: &str,
    hash: &str,
    occurred_at: &str,
) -> AppResult<Result<TillTime, Answer>> {
    match state.till_time("occurred_at", occurred_at) {
        Ok(t) => Ok(Ok(t)),
        Err(e) => {
            let mut tx = state.store().begin_read().await?;
            match tx.pos_request(station_id, pos_txn_id).await? {
                Some(prev) => replay(&prev, kind, hash).map(Err),
                None => Err(e),
            }
        }
    }
}

/// `POST /api/v1/pos/recharges`.
pub async fn recharge(state: &App, pos: Station, raw: Value) -> AppResult<Answer> {
    let hash = request_hash("recharge", &raw);
    let body: RechargeBody = from_value(raw)?;
    validate_txn_id(&body.pos_txn_id)?;
    check_station(state, &pos, &body.station_code).await?;
    let at = match till_time_or_replay(
        state,
        &pos.station_id,
        &body.pos_txn_id,
        "recharge",
        &hash,
        &body.occurred_at,
    )
    .await?
    {
        Ok(t) => t,
        Err(replayed) => return Ok(replayed),
    };
    let card_no = parse_card_no("card_no", &body.card_no)?;
    if body.amount_fen <= 0 || body.amount_fen > RECHARGE_FEN_MAX {
        return Err(AppError::validation(
            "amount_fen",
            format!("a recharge is 1 to {RECHARGE_FEN_MAX} fen"),
        ));
    }
    check_tender_payments(&body.payments, body.amount_fen)?;
    let key = Key {
        station_id: &pos.station_id,
        pos_txn_id: &body.pos_txn_id,
        kind: "recharge",
        hash: &hash,
    };
    idempotent(
        state,
        key,
        (pos.clone(), body.clone(), card_no, at),
        recharge_unit,
    )
    .await
}

type RechargeUnit = (Station, RechargeBody, CardNo, TillTime);

fn recharge_unit<'t>(
    _state: &'t App,
    tx: &'t mut Tx,
    (station, body, card_no, time): &'t RechargeUnit,
) -> BoxFuture<'t, Planned<Value>> {
    Box::pin(post_recharge(tx, station, body, card_no, *time))
}

/// The recharge's decision and writes, inside the unit of [`idempotent`].
async fn post_recharge(
    tx: &mut Tx,
    station: &Station,
    body: &RechargeBody,
    card_no: &CardNo,
    time: TillTime,
) -> Planned<Value> {
    let at = time.occurred_at;
    let found = card_in_tx(tx, card_no).await?;
    let card = tx.lock_card(&found.card_id).await?;
    CardState::parse(&card.state)?.check_usable()?;
    if card.kind == CardKind::FleetSub.as_str()
        && funding_card(tx, &card).await?.card_id != card.card_id
    {
        return Err(AppError::new(
            "card_not_usable",
            "a pooled sub-card spends its main card's balance: recharge the main card",
        )
        .into());
    }
    // Which promotion runs is the server's business time, not the till's.
    let promotion = tx.best_promotion(body.amount_fen, time.business_at).await?;
    let bonus = promotion.as_ref().map(|p| p.bonus_fen).unwrap_or(0);
    let balance = tx.card_balance(&card.card_id).await?;
    let cap = card.cap_fen.or_else(|| {
        CardKind::parse(&card.kind)
            .ok()
            .and_then(|k| k.default_cap())
            .map(|f| f.0)
    });
    let would_be = balance.available_fen() + balance.held_fen + body.amount_fen + bonus;
    if let Some(cap) = cap {
        if would_be > cap {
            return Err(DomainError::FaceValueCap {
                cap: Fen(cap),
                would_be: Fen(would_be),
            }
            .into());
        }
    }
    let mut transfers: Vec<Transfer> = body
        .payments
        .iter()
        .map(|p| {
            Transfer::new(
                account::tender(&p.method),
                account::card_paid(&card.card_id),
                p.amount_fen,
                Unit::Fen,
            )
        })
        .collect();
    if bonus > 0 {
        transfers.push(Transfer::new(
            account::RECHARGE_BONUS_EXPENSE,
            account::card_bonus(&card.card_id),
            bonus,
            Unit::Fen,
        ));
    }
    let journal = NewJournal {
        idempotency_key: format!("recharge:{}:{}", station.station_id, body.pos_txn_id),
        kind: "recharge",
        station_id: Some(&station.station_id),
        occurred_at: at,
        memo: promotion.as_ref().map(|p| p.name.clone()),
    };
    let posted = tx.post(&journal, &transfers, false).await;
    let journal_id = match posted {
        Err(StoreError::Conflict(_)) => {
            // Give the connection back before taking another one for the replay.
            return Err(Refusal::Raced);
        }
        other => other?,
    };
    let recharge_id = new_id();
    tx.insert_recharge(
        &recharge_id,
        &station.station_id,
        &body.pos_txn_id,
        &journal_id,
        &card.card_id,
        body.amount_fen,
        bonus,
        promotion.as_ref().map(|p| p.promotion_id.as_str()),
        at,
    )
    .await?;
    let after = tx.card_balance(&card.card_id).await?;
    let response = json!({
        "recharge_id": recharge_id,
        "pos_txn_id": body.pos_txn_id,
        "card_no": CardNo::parse(&card.card_no).map(|c| c.masked()).unwrap_or_default(),
        "amount_fen": body.amount_fen,
        "bonus_fen": bonus,
        "promotion": promotion.as_ref().map(|p| p.name.clone()),
        "card_balance_fen": after.available_fen(),
        "paid_fen": after.paid_fen,
        "bonus_balance_fen": after.bonus_fen,
    });
    Ok(response)
}

/// `POST /api/v1/pos/refunds`.
pub async fn refund(state: &App, pos: Station, raw: Value) -> AppResult<Answer> {
    let hash = request_hash("refund", &raw);
    let body: RefundBody = from_value(raw)?;
    validate_txn_id(&body.pos_txn_id)?;
    check_station(state, &pos, &body.station_code).await?;
    let at = match till_time_or_replay(
        state,
        &pos.station_id,
        &body.pos_txn_id,
        "refund",
        &hash,
        &body.occurred_at,
    )
    .await?
    {
        Ok(t) => t.occurred_at,
        Err(replayed) => return Ok(replayed),
    };
    idempotent(
        state,
        Key {
            station_id: &pos.station_id,
            pos_txn_id: &body.pos_txn_id,
            kind: "refund",
            hash: &hash,
        },
        (pos.clone(), body.clone(), at),
        refund_unit,
    )
    .await
}

/// The part of `total` that falls due once `done_after` of `whole` is done, minus what
/// fell due before: cumulative flooring, so that the parts of many partial refunds add
/// up exactly to `total` when everything is refunded.
fn cumulative_share(total: i64, done_before: i64, done_after: i64, whole: i64) -> i64 {
    if whole <= 0 {
        return 0;
    }
    let f = |done: i64| (i128::from(total) * i128::from(done) / i128::from(whole)) as i64;
    f(done_after) - f(done_before)
}

type RefundUnit = (Station, RefundBody, i64);

fn refund_unit<'t>(
    _state: &'t App,
    tx: &'t mut Tx,
    (station, body, at): &'t RefundUnit,
) -> BoxFuture<'t, Planned<Value>> {
    Box::pin(post_refund(tx, station, body, *at))
}

/// The refund's decision and writes, inside the unit of [`idempotent`].
async fn post_refund(tx: &mut Tx, station: &Station, body: &RefundBody, at: i64) -> Planned<Value> {
    let found = tx
        .sale(&body.sale_id)
        .await?
        .filter(|s| s.station_id == station.station_id);
    let Some(found) = found else {
        return Err(AppError::new("sale_not_found", "no such sale at this station").into());
    };
    // Lock the cards the sale was paid with, then the sale itself.
    let payments = tx.sale_payments(&found.sale_id).await?;
    let card_ids: BTreeSet<String> = payments
        .iter()
        .filter_map(|p| p.funding_card_id.clone())
        .chain(payments.iter().filter_map(|p| p.card_id.clone()))
        .collect();
    for id in &card_ids {
        tx.lock_card(id).await?;
    }
    let sale = tx.lock_sale(&found.sale_id).await?;
    let lines = tx.sale_lines(&sale.sale_id).await?;
    let mut line_parts: Vec<(i64, i64)> = Vec::new();
    match &body.lines {
        None => {
            for l in &lines {
                let left = l.net_fen - l.refunded_fen;
                if left > 0 {
                    line_parts.push((l.line_no, left));
                }
            }
        }
        Some(wanted) => {
            for w in wanted {
                let l = lines
                    .iter()
                    .find(|l| l.line_no == w.line_no)
                    .ok_or_else(|| {
                        AppError::validation(
                            "lines.line_no",
                            format!("the sale has no line {}", w.line_no),
                        )
                    })?;
                let left = l.net_fen - l.refunded_fen;
                let amount = w.amount_fen.unwrap_or(left);
                if amount <= 0 {
                    return Err(AppError::validation(
                        "lines.amount_fen",
                        "a refund is a positive amount",
                    )
                    .into());
                }
                if amount > left || line_parts.iter().any(|(n, _)| *n == w.line_no) {
                    return Err(AppError::new(
                        "refund_exceeds_sale",
                        format!(
                            "line {} has {} CNY left to refund",
                            w.line_no,
                            Fen(left).yuan()
                        ),
                    )
                    .into());
                }
                line_parts.push((w.line_no, amount));
            }
        }
    }
    let amount: i64 = line_parts.iter().map(|(_, a)| a).sum();
    if amount <= 0 {
        return Err(AppError::new(
            "refund_exceeds_sale",
            "nothing is left to refund on this sale",
        )
        .into());
    }
    // Back to each payment in proportion to what is left of it.
    let weights: Vec<i64> = payments
        .iter()
        .map(|p| p.amount_fen - p.refunded_fen)
        .collect();
    let parts = pricing::split_proportionally(amount, &weights);
    let mut transfers = Vec::new();
    let mut payment_parts = Vec::new();
    let mut balance_card = None;
    let mut usage_rows: Vec<(String, i64)> = Vec::new();
    for (p, part) in payments.iter().zip(parts) {
        if part == 0 {
            continue;
        }
        payment_parts.push((p.payment_no, part));
        match p.method.as_str() {
            "card" => {
                let funding = p
                    .funding_card_id
                    .clone()
                    .or_else(|| p.card_id.clone())
                    .ok_or_else(|| AppError::internal("card payment without card"))?;
                let bonus = cumulative_share(
                    p.from_bonus_fen,
                    p.refunded_fen,
                    p.refunded_fen + part,
                    p.amount_fen,
                );
                let paid = part - bonus;
                if paid > 0 {
                    transfers.push(Transfer::new(
                        account::SALES_REVENUE,
                        account::card_paid(&funding),
                        paid,
                        Unit::Fen,
                    ));
                }
                if bonus > 0 {
                    transfers.push(Transfer::new(
                        account::SALES_REVENUE,
                        account::card_bonus(&funding),
                        bonus,
                        Unit::Fen,
                    ));
                }
                if let Some(card) = &p.card_id {
                    usage_rows.push((card.clone(), part));
                }
                balance_card.get_or_insert(funding);
            }
            "credit" => {
                let customer = sale
                    .customer_id
                    .as_deref()
                    .ok_or_else(|| AppError::internal("credit payment without customer"))?;
                transfers.push(Transfer::new(
                    account::SALES_REVENUE,
                    account::customer_credit(customer),
                    part,
                    Unit::Fen,
                ));
            }
            "coupon" => transfers.push(Transfer::new(
                account::SALES_REVENUE,
                account::COUPON_EXPENSE,
                part,
                Unit::Fen,
            )),
            method => transfers.push(Transfer::new(
                account::SALES_REVENUE,
                account::tender(method),
                part,
                Unit::Fen,
            )),
        }
    }
    // Points come back in proportion; what was already spent is recorded as shortfall.
    let due = cumulative_share(
        sale.points_earned,
        sale.refunded_fen,
        sale.refunded_fen + amount,
        sale.net_fen,
    );
    let mut reversed = 0;
    if let (Some(customer), true) = (&sale.customer_id, due > 0) {
        let available = tx
            .account_totals(&account::customer_points(customer))
            .await?
            .available();
        reversed = due.min(available.max(0));
        if reversed > 0 {
            transfers.push(Transfer::new(
                account::customer_points(customer),
                account::POINTS_ISSUED,
                reversed,
                Unit::Points,
            ));
        }
    }
    let journal = NewJournal {
        idempotency_key: format!("refund:{}:{}", station.station_id, body.pos_txn_id),
        kind: "refund",
        station_id: Some(&station.station_id),
        occurred_at: at,
        memo: Some(format!("refund of sale {}", sale.sale_id)),
    };
    let posted = tx.post(&journal, &transfers, false).await;
    let journal_id = match posted {
        Err(StoreError::Conflict(_)) => {
            // Give the connection back before taking another one for the replay.
            return Err(Refusal::Raced);
        }
        other => other?,
    };
    let refund_id = new_id();
    tx.insert_refund(
        &refund_id,
        &sale.sale_id,
        &station.station_id,
        &body.pos_txn_id,
        &journal_id,
        amount,
        due,
        due - reversed,
        at,
        &line_parts,
        &payment_parts,
    )
    .await?;
    if let (Some(customer), true) = (&sale.customer_id, reversed > 0) {
        let day = clock::local(&station.time_zone, sale.occurred_at)
            .date
            .to_string();
        loyalty::take_points(tx, customer, reversed, Some(&day)).await?;
    }
    // A sale refunded in full gives its discount coupons back to the member.
    if sale.refunded_fen + amount >= sale.net_fen {
        tx.unredeem_coupons(&sale.sale_id).await?;
    }
    for (card_id, part) in &usage_rows {
        let volume: i64 = line_parts
            .iter()
            .filter_map(|(n, a)| {
                lines.iter().find(|l| l.line_no == *n).map(|l| {
                    if l.net_fen > 0 {
                        l.volume_ml * a / l.net_fen
                    } else {
                        0
                    }
                })
            })
            .sum();
        tx.add_usage(card_id, sale.occurred_at, 0, -part, -volume, &refund_id)
            .await?;
    }
    let card_balance = balance_of(tx, balance_card.as_deref()).await?;
    let response = json!({
        "refund_id": refund_id,
        "sale_id": sale.sale_id,
        "pos_txn_id": body.pos_txn_id,
        "amount_fen": amount,
        "points_reversed": reversed,
        "points_shortfall": due - reversed,
        "card_balance_fen": card_balance,
    });
    Ok(response)
}

/// `POST /api/v1/pos/authorizations`: holds money on a card before the pump runs.
pub async fn authorize(state: &App, pos: Station, raw: Value) -> AppResult<Answer> {
    let hash = request_hash("authorization", &raw);
    let body: AuthorizationBody = from_value(raw)?;
    validate_txn_id(&body.pos_txn_id)?;
    check_station(state, &pos, &body.station_code).await?;
    let at = match &body.occurred_at {
        Some(t) => {
            match till_time_or_replay(
                state,
                &pos.station_id,
                &body.pos_txn_id,
                "authorization",
                &hash,
                t,
            )
            .await?
            {
                Ok(t) => t,
                Err(replayed) => return Ok(replayed),
            }
        }
        None => {
            let now = state.clock().now_us();
            TillTime {
                occurred_at: now,
                business_at: now,
            }
        }
    };
    let card_no = parse_card_no("card_no", &body.card_no)?;
    if body.max_amount_fen <= 0 || body.max_amount_fen > pricing::LINE_AMOUNT_FEN_MAX {
        return Err(AppError::validation("max_amount_fen", "a positive amount"));
    }
    let key = Key {
        station_id: &pos.station_id,
        pos_txn_id: &body.pos_txn_id,
        kind: "authorization",
        hash: &hash,
    };
    let pins =
        match judge_pins(state, &pos, key, &[(card_no.as_str(), body.pin.as_deref())]).await? {
            Ok(pins) => pins,
            Err(replayed) => return Ok(replayed),
        };
    idempotent(
        state,
        key,
        (pos.clone(), body.clone(), card_no, at, pins),
        authorization_unit,
    )
    .await
}

type AuthorizationUnit = (
    Station,
    AuthorizationBody,
    CardNo,
    TillTime,
    BTreeSet<String>,
);

fn authorization_unit<'t>(
    state: &'t App,
    tx: &'t mut Tx,
    (station, body, card_no, time, pins): &'t AuthorizationUnit,
) -> BoxFuture<'t, Planned<Value>> {
    Box::pin(post_authorization(
        state, tx, station, body, card_no, *time, pins,
    ))
}

/// The hold's decision and writes, inside the unit of [`idempotent`].
async fn post_authorization(
    state: &App,
    tx: &mut Tx,
    station: &Station,
    body: &AuthorizationBody,
    card_no: &CardNo,
    time: TillTime,
    pins: &BTreeSet<String>,
) -> Planned<Value> {
    let at = time.occurred_at;
    let found = card_in_tx(tx, card_no).await?;
    let mut ids = BTreeSet::from([found.card_id.clone()]);
    ids.extend(found.main_card_id.clone());
    let mut locked = BTreeMap::new();
    for id in &ids {
        locked.insert(id.clone(), tx.lock_card(id).await?);
    }
    let card = locked[&found.card_id].clone();
    let pin_given = check_card(state, &card, body.pin.as_deref(), pins)?;
    let funding = funding_card(tx, &card).await?;
    CardState::parse(&funding.state)?.check_usable()?;
    let local = clock::local(&station.time_zone, time.business_at);
    let used = usage(tx, &card, &local).await?;
    // Rules that do not depend on the amount are checked now; amount limits lower the
    // hold instead, so that the pump stops where the card's limits stop.
    let ctx = RuleContext {
        pin_given,
        ..rule_context(station, &local, body.plate.clone(), Some(0), Vec::new())
    };
    let breaches = card.rules.check(&ctx, &used);
    if let Some(refusal) = first_hard(&breaches) {
        return Err(refusal.into());
    }
    let balance = tx.card_balance(&funding.card_id).await?;
    let mut held = body.max_amount_fen.min(balance.available_fen());
    let r = &card.rules;
    for limit in [
        r.amount_per_sale_fen
            .as_ref()
            .filter(|x| x.hard)
            .map(|x| x.value),
        r.amount_per_day_fen
            .as_ref()
            .filter(|x| x.hard)
            .map(|x| x.value - used.amount_today_fen),
        r.amount_per_month_fen
            .as_ref()
            .filter(|x| x.hard)
            .map(|x| x.value - used.amount_month_fen),
    ]
    .into_iter()
    .flatten()
    {
        held = held.min(limit);
    }
    if held <= 0 {
        return Err(if balance.available_fen() <= 0 {
            DomainError::InsufficientBalance {
                available: Fen(0),
                needed: Fen(body.max_amount_fen),
            }
            .into()
        } else {
            AppError::new(
                "limit_exceeded",
                "limit exceeded: the card's amount limits leave nothing to authorise",
            )
            .into()
        });
    }
    let (from_paid, from_bonus) = split_card_debit(balance.paid_fen, balance.bonus_fen, held)?;
    let mut transfers = Vec::new();
    if from_paid > 0 {
        transfers.push(Transfer::new(
            account::card_paid(&funding.card_id),
            account::HOLDS,
            from_paid,
            Unit::Fen,
        ));
    }
    if from_bonus > 0 {
        transfers.push(Transfer::new(
            account::card_bonus(&funding.card_id),
            account::HOLDS,
            from_bonus,
            Unit::Fen,
        ));
    }
    let journal = NewJournal {
        idempotency_key: format!("hold:{}:{}", station.station_id, body.pos_txn_id),
        kind: "hold",
        station_id: Some(&station.station_id),
        occurred_at: at,
        memo: body.pump_no.map(|p| format!("pump {p}")),
    };
    let posted = tx.post(&journal, &transfers, true).await;
    let journal_id = match posted {
        Err(StoreError::Conflict(_)) => return Err(Refusal::Raced),
        other => other?,
    };
    let id = new_id();
    let expires_at = now_us() + state.config().hold_ttl_secs * 1_000_000;
    tx.insert_authorization(
        &id,
        &station.station_id,
        &body.pos_txn_id,
        &journal_id,
        &card.card_id,
        body.pump_no,
        held,
        expires_at,
    )
    .await?;
    let response = json!({
        "authorization_id": id,
        "pos_txn_id": body.pos_txn_id,
        "held_fen": held,
        "expires_at": clock::rfc3339(expires_at),
        "card_balance_fen": tx.card_balance(&funding.card_id).await?.available_fen(),
    });
    Ok(response)
}

/// Releases a pending hold as `voided` or `expired`. Returns the state it ends in.
pub async fn close_authorization(
    state: &App,
    id: &str,
    station_id: Option<&str>,
    to: &str,
) -> AppResult<String> {
    for _ in 0..RETRIES_MAX {
        let attempt: Result<String, AppError> = async {
            let mut tx = state.store().begin().await?;
            let auth = tx
                .authorization(id)
                .await?
                .filter(|a| station_id.is_none_or(|s| s == a.station_id))
                .ok_or_else(|| {
                    AppError::new(
                        "authorization_not_found",
                        "no such pump authorisation at this station",
                    )
                })?;
            tx.lock_card(&auth.card_id).await?;
            let auth = tx
                .authorization(id)
                .await?
                .ok_or_else(|| AppError::new("authorization_not_found", "gone"))?;
            if auth.state != "pending" {
                return Ok(auth.state);
            }
            tx.release(&auth.journal_id).await?;
            tx.finish_authorization(id, to, None).await?;
            tx.commit().await?;
            Ok(to.to_string())
        }
        .await;
        match attempt {
            Err(e) if e.code == "unavailable" => {
                tokio::time::sleep(std::time::Duration::from_millis(5)).await
            }
            other => return other,
        }
    }
    Err(AppError::new("unavailable", "the database is busy; retry"))
}

/// `POST /api/v1/pos/authorizations/{id}/void`.
pub async fn void_authorization(state: &App, pos: Station, id: &str) -> AppResult<Answer> {
    let end = close_authorization(state, id, Some(&pos.station_id), "voided").await?;
    if end == "captured" {
        return Err(AppError::new(
            "authorization_closed",
            "the authorisation was captured by a sale",
        ));
    }
    Ok(Answer::ok(json!({"authorization_id": id, "state": end})))
}

/// Releases every hold that expired. Run periodically by the server.
pub async fn expire_holds(state: &App) -> AppResult<usize> {
    let ids = state.store().expired_authorizations(now_us(), 500).await?;
    for id in &ids {
        close_authorization(state, id, None, "expired").await?;
    }
    Ok(ids.len())
}

#[cfg(test)]
mod tests {
    use super::cumulative_share;

    #[test]
    fn cumulative_shares_add_up_over_partial_refunds() {
        // 333 points over a sale of 1000 fen refunded in three steps.
        let steps = [0, 100, 450, 1000];
        let total: i64 = steps
            .windows(2)
            .map(|w| cumulative_share(333, w[0], w[1], 1000))
            .sum();
        assert_eq!(total, 333);
        assert_eq!(cumulative_share(5, 0, 0, 0), 0);
    }
}

/// What a POS write answers: 201 with the new record, or 200 with the stored answer of a
/// `pos_txn_id` seen before (a retry), and the JSON body either way.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    pub status: u16,
    pub body: Value,
}

impl Answer {
    pub fn ok(body: Value) -> Self {
        Self { status: 200, body }
    }

    pub fn created(body: Value) -> Self {
        Self { status: 201, body }
    }
}
