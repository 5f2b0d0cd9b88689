//! The payments of a sale: one pure decision shared by the live POS and the bulk poster.
//!
//! The caller loads a [`PaymentsSnapshot`] (the cards involved, locked, with their
//! balances and usage; the credit account; the pump authorisation; the coupons paid
//! with) and calls [`decide_payments`], which returns every transfer, payment record,
//! usage row and flag of the sale, or the refusal. Nothing here reads a database or a
//! clock: `now` is an argument. The store applies the decision with its own guards
//! (every account's policy is checked again when the transfers are written), so a
//! snapshot that went stale can only make the write fail, never overdraw.

use crate::card::{CardKind, CardState};
use crate::error::DomainError;
use crate::ledger::{account, check_debit, split_card_debit, Policy, Totals, Transfer, Unit};
use crate::limits::{first_hard, Breach, CardRules, RuleContext, Usage};
use crate::money::Fen;
use crate::pricing::LINE_AMOUNT_FEN_MAX;
use std::collections::{BTreeMap, BTreeSet};

/// Payments a sale may carry.
pub const PAYMENTS_MAX: usize = 10;

/// How the member of a sale, quote or redemption was identified (SPEC F10).
///
/// A phone number, plate or member code is known to many people (a neighbour, a fleet
/// dispatcher, anyone who saw the plate), so it only identifies: the sale earns points
/// and the member's tier discount. Spending the member's coupons, points, credit or
/// money needs the member's card, with its PIN where the card has one, or the member's
/// own portal session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Presented {
    /// No member (a walk-in sale).
    Nobody,
    /// Named by phone number, plate or member code only.
    Named,
    /// The member's card was presented; `pin_checked` is true when its PIN was verified
    /// or the card has none.
    Card { pin_checked: bool },
    /// The member's own portal session.
    Portal,
}

impl Presented {
    /// A card presented, its PIN verified in this request (or the card has no PIN).
    pub fn card(has_pin: bool, pin_verified: bool) -> Self {
        Presented::Card {
            pin_checked: !has_pin || pin_verified,
        }
    }

    /// Whether the member's coupons, points, credit or money may be spent.
    pub fn may_spend(self) -> bool {
        matches!(
            self,
            Presented::Card { pin_checked: true } | Presented::Portal
        )
    }

    /// Whether the coupon codes of the member may be shown (to offer them): the card is
    /// in the cashier's hand (its PIN is asked when the sale spends them) or the member
    /// is signed in. A phone number alone never shows a code.
    pub fn may_see_codes(self) -> bool {
        matches!(self, Presented::Card { .. } | Presented::Portal)
    }

    /// Refuses spending `what` unless the member authorised it.
    pub fn require_spend(self, what: &str) -> Result<(), DomainError> {
        if self.may_spend() {
            return Ok(());
        }
        let why = match self {
            Presented::Card { .. } => "the card's PIN",
            _ => "the member's card (and its PIN) or the member's own portal session; a phone number, plate or member code only identifies",
        };
        Err(DomainError::refused(
            "cardholder_required",
            format!("spending {what} needs {why}"),
        ))
    }
}

/// How a payment is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Card,
    Cash,
    Wechat,
    Alipay,
    BankCard,
    Credit,
    Coupon,
}

impl Method {
    pub fn parse(s: &str) -> Result<Self, DomainError> {
        Ok(match s {
            "card" => Method::Card,
            "cash" => Method::Cash,
            "wechat" => Method::Wechat,
            "alipay" => Method::Alipay,
            "bank_card" => Method::BankCard,
            "credit" => Method::Credit,
            "coupon" => Method::Coupon,
            _ => {
                return Err(DomainError::invalid(
                    "payments.method",
                    "one of card, cash, wechat, alipay, bank_card, credit, coupon",
                ))
            }
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Method::Card => "card",
            Method::Cash => "cash",
            Method::Wechat => "wechat",
            Method::Alipay => "alipay",
            Method::BankCard => "bank_card",
            Method::Credit => "credit",
            Method::Coupon => "coupon",
        }
    }
}

/// What the decision needs of a card.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardFacts {
    pub card_id: String,
    pub customer_id: Option<String>,
    pub kind: CardKind,
    pub state: CardState,
    pub main_card_id: Option<String>,
    /// The card's balance is shared by its sub-cards (`balance_mode = pool`).
    pub pooled: bool,
    pub has_pin: bool,
    pub pin_failures: u32,
    pub rules: CardRules,
}

/// A card as the sale finds it: locked, with what it can spend and what it used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardSnap {
    pub facts: CardFacts,
    /// Paid and bonus money available now (holds deducted). Read only for the card
    /// that funds a payment.
    pub paid_fen: i64,
    pub bonus_fen: i64,
    /// Today's and this month's use; default when no rule of the card depends on it.
    pub usage: Usage,
}

/// A coupon paid with (a payment coupon; a discount coupon is priced, not paid with).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CouponFacts {
    pub code: String,
    /// `payment` for a coupon that is money.
    pub kind: String,
    pub owner: Option<String>,
    /// `issued`, `redeemed`, `expired`, …
    pub state: String,
    pub valid_from: i64,
    pub valid_until: Option<i64>,
    pub value_fen: i64,
}

/// A pump authorisation the sale captures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizationFacts {
    pub authorization_id: String,
    pub card_id: String,
    pub station_id: String,
    pub state: String,
    pub expires_at: i64,
    pub held_fen: i64,
    pub journal_id: String,
}

/// The customer's credit (挂账) account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CreditFacts {
    pub policy: Policy,
    pub totals: Totals,
}

/// One payment as the till sent it, its card resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentIn {
    pub method: Method,
    pub amount_fen: i64,
    /// The card of a card payment (its number resolved by the caller).
    pub card_id: Option<String>,
    /// A PIN came with the payment (judged before the decision: see `pins_verified`).
    pub pin_sent: bool,
    /// The coupon of a coupon payment; `None` for an unknown code.
    pub coupon_code: Option<String>,
}

/// Everything the payments of one sale are decided on.
#[derive(Debug, Clone)]
pub struct PaymentsSnapshot {
    /// The sale's net amount, which the payments must add up to.
    pub net_fen: i64,
    /// When the sale is decided (business time).
    pub at: i64,
    /// The clock now (an authorisation expires by it).
    pub now: i64,
    pub station_id: String,
    /// The customer of the sale, when identified.
    pub customer_id: Option<String>,
    /// The card shown to identify the customer: its id and its holder.
    pub shown_card: Option<(String, Option<String>)>,
    /// How the customer was identified before the payments are looked at.
    pub presented: Presented,
    /// Every card the payments name and their main cards, by id.
    pub cards: BTreeMap<String, CardSnap>,
    /// The cards whose PIN was judged right before the decision.
    pub pins_verified: BTreeSet<String>,
    pub pin_tries_max: u32,
    /// The customer's credit account; `None` when there is no credit agreement.
    pub credit: Option<CreditFacts>,
    /// The pump authorisation named by the sale: `Some(None)` when it names one that
    /// does not exist.
    pub authorization: Option<Option<AuthorizationFacts>>,
    /// The payment coupons named, by code (unknown codes are absent).
    pub coupons: BTreeMap<String, CouponFacts>,
    /// Discount coupons the sale's pricing applied, and whether any belongs to a member.
    pub discount_coupons: Vec<String>,
    pub discount_coupons_owned: bool,
    /// The rule context of the sale; `amount_fen` and `pin_given` are set per payment.
    pub rule_context: RuleContext,
}

/// One payment as it is recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentRecord {
    pub payment_no: i64,
    pub method: Method,
    pub amount_fen: i64,
    pub card_id: Option<String>,
    pub funding_card_id: Option<String>,
    pub coupon_code: Option<String>,
    pub from_paid_fen: i64,
    pub from_bonus_fen: i64,
}

/// The decision on a sale's payments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentsDecision {
    pub transfers: Vec<Transfer>,
    pub records: Vec<PaymentRecord>,
    /// (card, amount) for each card payment: the card's usage counters.
    pub usage: Vec<(String, i64)>,
    pub flags: Vec<Breach>,
    /// Who is presented once the payments are counted (paying with the member's own
    /// card, its PIN given, presents it).
    pub presented: Presented,
    /// The funding card of the first card payment (whose balance the answer shows).
    pub balance_card: Option<String>,
    /// Every coupon the sale uses: the discount coupons, then the payment coupons.
    pub coupons: Vec<String>,
    /// What payment coupons paid (no points are earned on it).
    pub coupon_total_fen: i64,
    /// The authorisation captured and the journal of its hold, released by the sale.
    pub authorization: Option<(String, String)>,
}

/// The card's state and PIN: whether a PIN was given (and verified) for it. A PIN is
/// needed when the card has one or its rules demand the driver's PIN; it is never
/// compared here: the caller judged it before the decision (counting the try on its
/// own), and `pins_verified` holds the cards whose PIN it found right.
pub fn check_card(
    card: &CardFacts,
    pins_verified: &BTreeSet<String>,
    pin_tries_max: u32,
    pin_sent: bool,
) -> Result<bool, DomainError> {
    card.state.check_usable()?;
    let needed = card.has_pin || card.rules.driver_pin_required();
    if !needed {
        return Ok(false);
    }
    if pins_verified.contains(&card.card_id) {
        return Ok(true);
    }
    if card.pin_failures >= pin_tries_max {
        return Err(DomainError::PinLocked);
    }
    if !pin_sent {
        return Err(DomainError::PinRequired);
    }
    Err(if card.has_pin {
        // The card took a PIN after the PINs were judged: the till sends the sale again.
        DomainError::invalid(
            "pin",
            "the card changed while the sale was checked; send it again",
        )
    } else {
        // The rules demand a PIN the holder never set.
        DomainError::invalid("pin", "the card has no PIN set; set one before using it")
    })
}

fn card_of<'s>(s: &'s PaymentsSnapshot, id: &str) -> Result<&'s CardSnap, DomainError> {
    s.cards
        .get(id)
        .ok_or_else(|| DomainError::refused("card_not_found", "no card with this number"))
}

/// The shape of a sale's payments: how many, each positive, adding up to the net amount.
/// Checked before anything is read, and again by [`decide_payments`].
pub fn check_amounts(net_fen: i64, amounts: &[i64]) -> Result<(), DomainError> {
    if amounts.len() > PAYMENTS_MAX {
        return Err(DomainError::invalid(
            "payments",
            format!("at most {PAYMENTS_MAX} payments"),
        ));
    }
    let mut paid = 0i64;
    for &a in amounts {
        if a <= 0 || a > LINE_AMOUNT_FEN_MAX {
            return Err(DomainError::invalid(
                "payments.amount_fen",
                "a payment is a positive amount",
            ));
        }
        paid = paid.checked_add(a).ok_or(DomainError::Overflow)?;
    }
    if paid != net_fen {
        return Err(DomainError::PaymentMismatch {
            net: Fen(net_fen),
            paid: Fen(paid),
        });
    }
    Ok(())
}

/// Decides the payments of a sale: a refusal, or every transfer and record.
pub fn decide_payments(
    s: &PaymentsSnapshot,
    payments: &[PaymentIn],
) -> Result<PaymentsDecision, DomainError> {
    let amounts: Vec<i64> = payments.iter().map(|p| p.amount_fen).collect();
    check_amounts(s.net_fen, &amounts)?;
    let mut seen_cards = BTreeSet::new();
    for p in payments.iter().filter(|p| p.method == Method::Card) {
        let id = p.card_id.as_deref().ok_or_else(|| {
            DomainError::invalid("payments.card_no", "a card payment names its card")
        })?;
        if !seen_cards.insert(id) {
            return Err(DomainError::invalid("payments", "one payment per card"));
        }
    }

    let mut d = PaymentsDecision {
        transfers: Vec::new(),
        records: Vec::new(),
        usage: Vec::new(),
        flags: Vec::new(),
        presented: s.presented,
        balance_card: None,
        coupons: s.discount_coupons.clone(),
        coupon_total_fen: 0,
        authorization: None,
    };
    let mut spends_credit = false;
    let mut payment_coupon_owned = false;
    let mut credit_used = 0i64;
    // What the sale has taken from each funding card so far (paid, bonus).
    let mut spent: BTreeMap<&str, (i64, i64)> = BTreeMap::new();
    for (i, p) in payments.iter().enumerate() {
        let mut record = PaymentRecord {
            payment_no: i as i64 + 1,
            method: p.method,
            amount_fen: p.amount_fen,
            card_id: None,
            funding_card_id: None,
            coupon_code: None,
            from_paid_fen: 0,
            from_bonus_fen: 0,
        };
        match p.method {
            Method::Card => {
                let snap = card_of(s, p.card_id.as_deref().unwrap_or_default())?;
                let card = &snap.facts;
                let pin_given = check_card(card, &s.pins_verified, s.pin_tries_max, p.pin_sent)?;
                // The member's own card, paid with (and its PIN given): the card is
                // presented.
                if card.customer_id.is_some()
                    && card.customer_id == s.customer_id
                    && !d.presented.may_spend()
                {
                    d.presented = Presented::card(card.has_pin, pin_given);
                }
                let funding = match &card.main_card_id {
                    Some(main) if card.kind == CardKind::FleetSub => {
                        let main = card_of(s, main)?;
                        if main.facts.pooled {
                            main.facts.state.check_usable()?;
                            main
                        } else {
                            snap
                        }
                    }
                    _ => snap,
                };
                if let Some(found) = &s.authorization {
                    let auth = found.as_ref().ok_or_else(|| {
                        DomainError::refused(
                            "authorization_not_found",
                            "no such pump authorisation",
                        )
                    })?;
                    if auth.card_id != card.card_id || auth.station_id != s.station_id {
                        return Err(DomainError::invalid(
                            "authorization_id",
                            "the authorisation is for another card or station",
                        ));
                    }
                    if auth.state != "pending" || auth.expires_at <= s.now {
                        return Err(DomainError::refused(
                            "authorization_closed",
                            format!(
                                "the authorisation is {}",
                                if auth.state == "pending" {
                                    "expired"
                                } else {
                                    &auth.state
                                }
                            ),
                        ));
                    }
                    if p.amount_fen > auth.held_fen {
                        return Err(DomainError::refused(
                            "authorization_exceeded",
                            format!(
                                "the sale takes {} CNY but the pump authorisation holds {} CNY",
                                Fen(p.amount_fen).yuan(),
                                Fen(auth.held_fen).yuan()
                            ),
                        ));
                    }
                    d.authorization =
                        Some((auth.authorization_id.clone(), auth.journal_id.clone()));
                }
                let ctx = RuleContext {
                    pin_given,
                    amount_fen: p.amount_fen,
                    ..s.rule_context.clone()
                };
                let breaches = card.rules.check(&ctx, &snap.usage);
                if let Some(refusal) = first_hard(&breaches) {
                    return Err(refusal);
                }
                d.flags.extend(breaches);
                let fid = funding.facts.card_id.as_str();
                let used = spent.entry(fid).or_default();
                let (from_paid, from_bonus) = split_card_debit(
                    funding.paid_fen - used.0,
                    funding.bonus_fen - used.1,
                    p.amount_fen,
                )?;
                used.0 += from_paid;
                used.1 += from_bonus;
                if from_paid > 0 {
                    d.transfers.push(Transfer::new(
                        account::card_paid(fid),
                        account::SALES_REVENUE,
                        from_paid,
                        Unit::Fen,
                    ));
                }
                if from_bonus > 0 {
                    d.transfers.push(Transfer::new(
                        account::card_bonus(fid),
                        account::SALES_REVENUE,
                        from_bonus,
                        Unit::Fen,
                    ));
                }
                record.from_paid_fen = from_paid;
                record.from_bonus_fen = from_bonus;
                record.card_id = Some(card.card_id.clone());
                record.funding_card_id = Some(fid.to_string());
                d.usage.push((card.card_id.clone(), p.amount_fen));
                d.balance_card.get_or_insert_with(|| fid.to_string());
            }
            Method::Credit => {
                let customer = s.customer_id.as_deref().ok_or_else(|| {
                    DomainError::invalid(
                        "payments",
                        "a credit payment needs an identified customer",
                    )
                })?;
                // A phone number, plate or member code identifies a customer for points,
                // but never authorises spending: credit needs the customer's card.
                if s.shown_card
                    .as_ref()
                    .and_then(|(_, holder)| holder.as_deref())
                    != Some(customer)
                {
                    return Err(DomainError::invalid(
                        "customer.card_no",
                        "a credit payment needs the customer's card, not only a phone number, plate or member code",
                    ));
                }
                spends_credit = true;
                let credit = s.credit.ok_or_else(|| {
                    DomainError::refused(
                        "no_credit_account",
                        "the customer has no credit (挂账) agreement",
                    )
                })?;
                let mut totals = credit.totals;
                totals.debits_posted += credit_used;
                check_debit(credit.policy, &totals, p.amount_fen)?;
                credit_used += p.amount_fen;
                d.transfers.push(Transfer::new(
                    account::customer_credit(customer),
                    account::SALES_REVENUE,
                    p.amount_fen,
                    Unit::Fen,
                ));
            }
            Method::Coupon => {
                let code = p.coupon_code.as_deref().ok_or_else(|| {
                    DomainError::invalid(
                        "payments.coupon_code",
                        "a coupon payment names its coupon",
                    )
                })?;
                let coupon = s
                    .coupons
                    .get(code)
                    .ok_or_else(|| DomainError::refused("coupon_invalid", "no such coupon"))?;
                // A discount coupon (from a template) is not money: it goes in the sale's
                // `coupons`, where the quote applies it.
                if coupon.kind != "payment" {
                    return Err(DomainError::refused(
                        "coupon_invalid",
                        "a discount coupon is named in the sale's coupons, not paid with",
                    ));
                }
                let owner_ok = match (&coupon.owner, &s.customer_id) {
                    (None, _) => true,
                    (Some(owner), Some(c)) => owner == c,
                    (Some(_), None) => false,
                };
                if coupon.state != "issued"
                    || coupon.valid_from > s.at
                    || coupon.valid_until.is_some_and(|u| u <= s.at)
                    || !owner_ok
                {
                    return Err(DomainError::refused(
                        "coupon_invalid",
                        "the coupon is used, expired, not yet valid or not this customer's",
                    ));
                }
                if p.amount_fen > coupon.value_fen {
                    return Err(DomainError::refused(
                        "coupon_invalid",
                        format!("the coupon is worth {} CNY", Fen(coupon.value_fen).yuan()),
                    ));
                }
                if d.coupons.contains(&coupon.code) {
                    return Err(DomainError::refused(
                        "coupon_invalid",
                        "a coupon is used once",
                    ));
                }
                payment_coupon_owned |= coupon.owner.is_some();
                d.coupons.push(coupon.code.clone());
                record.coupon_code = Some(coupon.code.clone());
                d.coupon_total_fen += p.amount_fen;
                d.transfers.push(Transfer::new(
                    account::COUPON_EXPENSE,
                    account::SALES_REVENUE,
                    p.amount_fen,
                    Unit::Fen,
                ));
            }
            Method::Cash | Method::Wechat | Method::Alipay | Method::BankCard => {
                d.transfers.push(Transfer::new(
                    account::tender(p.method.as_str()),
                    account::SALES_REVENUE,
                    p.amount_fen,
                    Unit::Fen,
                ));
            }
        }
        d.records.push(record);
    }
    // One rule for every way a sale spends what the member holds (SPEC F10).
    if spends_credit {
        d.presented.require_spend("the member's credit")?;
    }
    if s.discount_coupons_owned || payment_coupon_owned {
        d.presented.require_spend("the member's coupons")?;
    }
    if s.authorization.is_some() && d.authorization.is_none() {
        return Err(DomainError::invalid(
            "authorization_id",
            "a sale that captures an authorisation pays by the authorised card",
        ));
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn card(id: &str, customer: Option<&str>, paid: i64, bonus: i64) -> CardSnap {
        CardSnap {
            facts: CardFacts {
                card_id: id.into(),
                customer_id: customer.map(Into::into),
                kind: CardKind::Personal,
                state: CardState::Active,
                main_card_id: None,
                pooled: false,
                has_pin: false,
                pin_failures: 0,
                rules: CardRules::default(),
            },
            paid_fen: paid,
            bonus_fen: bonus,
            usage: Usage::default(),
        }
    }

    fn snapshot(net: i64, cards: Vec<CardSnap>) -> PaymentsSnapshot {
        PaymentsSnapshot {
            net_fen: net,
            at: 1_000,
            now: 1_000,
            station_id: "s1".into(),
            customer_id: Some("c1".into()),
            shown_card: Some(("k1".into(), Some("c1".into()))),
            presented: Presented::card(false, false),
            cards: cards
                .into_iter()
                .map(|c| (c.facts.card_id.clone(), c))
                .collect(),
            pins_verified: BTreeSet::new(),
            pin_tries_max: 5,
            credit: None,
            authorization: None,
            coupons: BTreeMap::new(),
            discount_coupons: Vec::new(),
            discount_coupons_owned: false,
            rule_context: RuleContext {
                station_code: "BJ001".into(),
                region_code: None,
                province: None,
                weekday: 1,
                minute_of_day: 600,
                plate: None,
                odometer_km: None,
                pin_given: false,
                lines: Vec::new(),
                amount_fen: 0,
            },
        }
    }

    fn pay_card(id: &str, amount: i64) -> PaymentIn {
        PaymentIn {
            method: Method::Card,
            amount_fen: amount,
            card_id: Some(id.into()),
            pin_sent: false,
            coupon_code: None,
        }
    }

    fn pay(method: Method, amount: i64) -> PaymentIn {
        PaymentIn {
            method,
            amount_fen: amount,
            card_id: None,
            pin_sent: false,
            coupon_code: None,
        }
    }

    #[test]
    fn a_card_sale_takes_paid_money_before_bonus_and_moves_nothing_else() {
        let s = snapshot(1_000, vec![card("k1", Some("c1"), 700, 500)]);
        let d = decide_payments(&s, &[pay_card("k1", 1_000)]).unwrap();
        assert_eq!(
            d.records[0].from_paid_fen + d.records[0].from_bonus_fen,
            1_000
        );
        assert_eq!(d.transfers.iter().map(|t| t.amount).sum::<i64>(), 1_000);
        assert_eq!(d.usage, vec![("k1".to_string(), 1_000)]);
        assert_eq!(d.balance_card.as_deref(), Some("k1"));
    }

    #[test]
    fn payments_must_add_up_and_a_card_must_hold_enough() {
        let s = snapshot(1_000, vec![card("k1", Some("c1"), 300, 0)]);
        assert!(matches!(
            decide_payments(&s, &[pay(Method::Cash, 999)]),
            Err(DomainError::PaymentMismatch { .. })
        ));
        assert!(matches!(
            decide_payments(&s, &[pay_card("k1", 1_000)]),
            Err(DomainError::InsufficientBalance { .. })
        ));
        assert!(decide_payments(&s, &[pay_card("k1", 300), pay(Method::Cash, 700)]).is_ok());
    }

    #[test]
    fn two_payments_on_one_card_are_refused() {
        let s = snapshot(1_000, vec![card("k1", Some("c1"), 5_000, 0)]);
        let e = decide_payments(&s, &[pay_card("k1", 500), pay_card("k1", 500)]).unwrap_err();
        assert!(matches!(
            e,
            DomainError::Invalid {
                field: "payments",
                ..
            }
        ));
    }

    #[test]
    fn a_pin_card_needs_its_verified_pin() {
        let mut k = card("k1", Some("c1"), 5_000, 0);
        k.facts.has_pin = true;
        let mut s = snapshot(1_000, vec![k]);
        assert_eq!(
            decide_payments(&s, &[pay_card("k1", 1_000)]).unwrap_err(),
            DomainError::PinRequired
        );
        s.pins_verified.insert("k1".into());
        let d = decide_payments(&s, &[pay_card("k1", 1_000)]).unwrap();
        assert!(d.presented.may_spend());
    }

    #[test]
    fn credit_needs_the_members_card_an_agreement_and_room_under_the_limit() {
        let mut s = snapshot(1_000, vec![]);
        s.presented = Presented::card(false, false);
        assert_eq!(
            decide_payments(&s, &[pay(Method::Credit, 1_000)])
                .unwrap_err()
                .code(),
            Some("no_credit_account")
        );
        s.credit = Some(CreditFacts {
            policy: Policy::CreditLimit(1_500),
            totals: Totals {
                debits_posted: 600,
                ..Totals::default()
            },
        });
        assert!(matches!(
            decide_payments(&s, &[pay(Method::Credit, 1_000)]),
            Err(DomainError::CreditLimitExceeded { .. })
        ));
        s.net_fen = 900;
        assert!(decide_payments(&s, &[pay(Method::Credit, 900)]).is_ok());
        // Named by phone only: the credit is not spent.
        s.shown_card = None;
        s.presented = Presented::Named;
        assert!(decide_payments(&s, &[pay(Method::Credit, 900)]).is_err());
    }

    #[test]
    fn a_pooled_sub_card_spends_its_main_cards_balance() {
        let mut main = card("m1", None, 5_000, 0);
        main.facts.pooled = true;
        main.facts.kind = CardKind::FleetMain;
        let mut sub = card("k2", None, 0, 0);
        sub.facts.kind = CardKind::FleetSub;
        sub.facts.main_card_id = Some("m1".into());
        let mut s = snapshot(1_000, vec![main, sub]);
        s.customer_id = None;
        s.presented = Presented::Nobody;
        let d = decide_payments(&s, &[pay_card("k2", 1_000)]).unwrap();
        assert_eq!(d.records[0].funding_card_id.as_deref(), Some("m1"));
        assert_eq!(d.transfers[0].debit, account::card_paid("m1"));
    }

    #[test]
    fn a_payment_coupon_is_used_once_and_only_by_its_owner() {
        let mut s = snapshot(1_000, vec![]);
        s.coupons.insert(
            "P1".into(),
            CouponFacts {
                code: "P1".into(),
                kind: "payment".into(),
                owner: Some("c1".into()),
                state: "issued".into(),
                valid_from: 0,
                valid_until: None,
                value_fen: 2_000,
            },
        );
        let coupon = |amount| PaymentIn {
            coupon_code: Some("P1".into()),
            ..pay(Method::Coupon, amount)
        };
        let d = decide_payments(&s, &[coupon(1_000)]).unwrap();
        assert_eq!(d.coupon_total_fen, 1_000);
        assert_eq!(d.coupons, vec!["P1".to_string()]);
        assert_eq!(
            decide_payments(&s, &[coupon(500), coupon(500)])
                .unwrap_err()
                .code(),
            Some("coupon_invalid")
        );
        s.presented = Presented::Named;
        assert_eq!(
            decide_payments(&s, &[coupon(1_000)]).unwrap_err().code(),
            Some("cardholder_required")
        );
    }
}
