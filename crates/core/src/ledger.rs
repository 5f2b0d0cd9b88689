//! The double-entry ledger: accounts, transfers and the invariants they keep.
//!
//! Every movement of money or points is a transfer of a positive amount from one
//! account (debited) to another (credited) in one unit, so every posting balances by
//! construction: per unit, the sum of all debits equals the sum of all credits. A
//! transfer is either posted, or pending (a hold) until it is captured, voided or
//! expires. Accounts keep four running totals, as TigerBeetle does; a balance is always
//! derived from them and the check recomputes them from the transfers.
//!
//! This module is the reference model: the store applies the same rules in SQL with
//! conditional updates, and property tests drive this model with random operations.

use crate::DomainError;
use crate::Fen;
use std::collections::BTreeMap;

/// What a transfer counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Unit {
    Fen,
    Points,
}

impl Unit {
    pub fn as_str(self) -> &'static str {
        match self {
            Unit::Fen => "fen",
            Unit::Points => "points",
        }
    }
}

/// The constraint an account's balance obeys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    /// Money or points held for a customer (a liability): credits minus debits, less
    /// what is held, never goes below zero.
    NoOverdraft,
    /// Money a customer owes on account (挂账): debits minus credits, plus what is
    /// held, never exceeds the credit limit.
    CreditLimit(i64),
    /// House accounts (tenders, revenue, expenses): no constraint.
    Unrestricted,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Totals {
    pub debits_posted: i64,
    pub credits_posted: i64,
    pub debits_pending: i64,
    pub credits_pending: i64,
}

impl Totals {
    /// What a customer account can still spend.
    pub fn available(&self) -> i64 {
        self.credits_posted - self.debits_posted - self.debits_pending
    }

    /// What a credit account owes, holds included.
    pub fn owed(&self) -> i64 {
        self.debits_posted + self.debits_pending - self.credits_posted
    }
}

/// Checks that debiting `amount` (posted or held) keeps the policy.
pub fn check_debit(policy: Policy, totals: &Totals, amount: i64) -> Result<(), DomainError> {
    match policy {
        Policy::NoOverdraft if totals.available() < amount => {
            Err(DomainError::InsufficientBalance {
                available: Fen(totals.available().max(0)),
                needed: Fen(amount),
            })
        }
        Policy::CreditLimit(limit) if totals.owed() + amount > limit => {
            Err(DomainError::CreditLimitExceeded {
                available: Fen((limit - totals.owed()).max(0)),
                needed: Fen(amount),
            })
        }
        _ => Ok(()),
    }
}

/// A movement of `amount` from `debit` to `credit`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transfer {
    pub debit: String,
    pub credit: String,
    pub amount: i64,
    pub unit: Unit,
}

impl Transfer {
    pub fn new(
        debit: impl Into<String>,
        credit: impl Into<String>,
        amount: i64,
        unit: Unit,
    ) -> Self {
        Self {
            debit: debit.into(),
            credit: credit.into(),
            amount,
            unit,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransferState {
    Posted,
    Pending,
    /// A hold that was released, by capture, void or expiry.
    Released,
}

/// The names of accounts. Customer-facing accounts carry the id of their card or
/// customer; house accounts are fixed names.
pub mod account {
    pub fn card_paid(card_id: &str) -> String {
        format!("card:{card_id}:paid")
    }
    pub fn card_bonus(card_id: &str) -> String {
        format!("card:{card_id}:bonus")
    }
    pub fn customer_points(customer_id: &str) -> String {
        format!("customer:{customer_id}:points")
    }
    pub fn customer_credit(customer_id: &str) -> String {
        format!("customer:{customer_id}:credit")
    }
    /// Money received by a tender (cash, wechat, alipay, bank_card).
    pub fn tender(method: &str) -> String {
        format!("tender:{method}")
    }
    pub const SALES_REVENUE: &str = "revenue:sales";
    pub const RECHARGE_BONUS_EXPENSE: &str = "expense:recharge_bonus";
    pub const COUPON_EXPENSE: &str = "expense:coupon";
    pub const POINTS_ISSUED: &str = "expense:points";
    pub const POINTS_REDEEMED: &str = "income:points_redeemed";
    pub const POINTS_EXPIRED: &str = "income:points_expired";
    pub const ADJUSTMENT: &str = "equity:adjustment";
    /// The other side of pump pre-authorisation holds.
    pub const HOLDS: &str = "clearing:holds";
}

/// Takes `amount` from a card's paid money first, then its bonus money, and says how
/// much comes from each. Paid money goes first so that a refund of a recharge can be
/// served from it as long as possible; bonus money is promotional and is spent last.
pub fn split_card_debit(
    paid_available: i64,
    bonus_available: i64,
    amount: i64,
) -> Result<(i64, i64), DomainError> {
    let total = paid_available.max(0) + bonus_available.max(0);
    if amount > total {
        return Err(DomainError::InsufficientBalance {
            available: Fen(total),
            needed: Fen(amount),
        });
    }
    let from_paid = amount.min(paid_available.max(0));
    Ok((from_paid, amount - from_paid))
}

/// An in-memory ledger with the same rules as the store: the reference model for
/// property tests.
#[derive(Debug, Default, Clone)]
pub struct Ledger {
    accounts: BTreeMap<String, (Unit, Policy, Totals)>,
    transfers: Vec<(Transfer, TransferState)>,
}

impl Ledger {
    pub fn open(&mut self, name: &str, unit: Unit, policy: Policy) {
        self.accounts
            .entry(name.to_string())
            .or_insert((unit, policy, Totals::default()));
    }

    pub fn totals(&self, name: &str) -> Totals {
        self.accounts.get(name).map(|a| a.2).unwrap_or_default()
    }

    /// Applies a batch of transfers atomically: all of them or none.
    pub fn post(&mut self, batch: &[Transfer]) -> Result<(), DomainError> {
        let mut next = self.accounts.clone();
        for t in batch {
            Self::apply(&mut next, t, false)?;
        }
        self.accounts = next;
        self.transfers
            .extend(batch.iter().cloned().map(|t| (t, TransferState::Posted)));
        Ok(())
    }

    /// Places a hold; returns its index for release.
    pub fn hold(&mut self, t: Transfer) -> Result<usize, DomainError> {
        let mut next = self.accounts.clone();
        Self::apply(&mut next, &t, true)?;
        self.accounts = next;
        self.transfers.push((t, TransferState::Pending));
        Ok(self.transfers.len() - 1)
    }

    /// Releases a hold (capture, void or expiry all release it; a capture then posts
    /// the amount taken as ordinary transfers). Releasing twice is an error.
    pub fn release(&mut self, index: usize) -> Result<(), DomainError> {
        let (t, state) = self
            .transfers
            .get(index)
            .cloned()
            .ok_or_else(|| DomainError::invalid("hold", "no such hold"))?;
        if state != TransferState::Pending {
            return Err(DomainError::invalid(
                "hold",
                "the hold was already released",
            ));
        }
        let d = &mut self
            .accounts
            .get_mut(&t.debit)
            .expect("held account exists")
            .2;
        d.debits_pending -= t.amount;
        let c = &mut self
            .accounts
            .get_mut(&t.credit)
            .expect("held account exists")
            .2;
        c.credits_pending -= t.amount;
        self.transfers[index].1 = TransferState::Released;
        Ok(())
    }

    fn apply(
        accounts: &mut BTreeMap<String, (Unit, Policy, Totals)>,
        t: &Transfer,
        pending: bool,
    ) -> Result<(), DomainError> {
        if t.amount <= 0 {
            return Err(DomainError::invalid(
                "amount",
                "a transfer moves a positive amount",
            ));
        }
        if t.debit == t.credit {
            return Err(DomainError::invalid(
                "account",
                "a transfer moves between two accounts",
            ));
        }
        let (unit, policy, totals) = *accounts
            .get(&t.debit)
            .ok_or_else(|| DomainError::invalid("account", format!("no account {}", t.debit)))?;
        let credit_unit = accounts
            .get(&t.credit)
            .ok_or_else(|| DomainError::invalid("account", format!("no account {}", t.credit)))?
            .0;
        if unit != t.unit || credit_unit != t.unit {
            return Err(DomainError::invalid(
                "unit",
                "both accounts of a transfer count the same unit",
            ));
        }
        check_debit(policy, &totals, t.amount)?;
        let d = &mut accounts.get_mut(&t.debit).expect("checked above").2;
        if pending {
            d.debits_pending += t.amount;
        } else {
            d.debits_posted += t.amount;
        }
        let c = &mut accounts.get_mut(&t.credit).expect("checked above").2;
        if pending {
            c.credits_pending += t.amount;
        } else {
            c.credits_posted += t.amount;
        }
        Ok(())
    }

    /// Every broken invariant, as text; empty when the ledger is sound.
    pub fn check(&self) -> Vec<String> {
        let mut recomputed: BTreeMap<&str, Totals> = BTreeMap::new();
        for (t, state) in &self.transfers {
            let (dp, pp) = match state {
                TransferState::Posted => (t.amount, 0),
                TransferState::Pending => (0, t.amount),
                TransferState::Released => (0, 0),
            };
            let d = recomputed.entry(&t.debit).or_default();
            d.debits_posted += dp;
            d.debits_pending += pp;
            let c = recomputed.entry(&t.credit).or_default();
            c.credits_posted += dp;
            c.credits_pending += pp;
        }
        let mut problems = Vec::new();
        let mut per_unit: BTreeMap<Unit, (i64, i64)> = BTreeMap::new();
        for (name, (unit, policy, totals)) in &self.accounts {
            let want = recomputed.get(name.as_str()).copied().unwrap_or_default();
            if want != *totals {
                problems.push(format!(
                    "{name}: cached {totals:?} but transfers give {want:?}"
                ));
            }
            match policy {
                Policy::NoOverdraft if totals.available() < 0 => {
                    problems.push(format!("{name}: below zero"))
                }
                Policy::CreditLimit(l) if totals.owed() > *l => {
                    problems.push(format!("{name}: over its credit limit"))
                }
                _ => {}
            }
            let u = per_unit.entry(*unit).or_default();
            u.0 += totals.debits_posted;
            u.1 += totals.credits_posted;
        }
        for (unit, (d, c)) in per_unit {
            if d != c {
                problems.push(format!("{}: debits {d} != credits {c}", unit.as_str()));
            }
        }
        problems
    }
}

#[cfg(test)]
mod tests {
    use super::account::*;
    use super::*;
    use proptest::prelude::*;

    #[derive(Debug, Clone)]
    enum Op {
        Recharge {
            card: usize,
            amount: i64,
            bonus: i64,
        },
        Sale {
            card: usize,
            amount: i64,
        },
        CreditSale {
            amount: i64,
        },
        Refund {
            card: usize,
            amount: i64,
        },
        Allocate {
            from: usize,
            to: usize,
            amount: i64,
        },
        Hold {
            card: usize,
            amount: i64,
        },
        Release {
            nth: usize,
        },
        Earn {
            points: i64,
        },
        Redeem {
            points: i64,
        },
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (0..3usize, 1..200_000i64, 0..5_000i64).prop_map(|(card, amount, bonus)| {
                Op::Recharge {
                    card,
                    amount,
                    bonus,
                }
            }),
            (0..3usize, 1..150_000i64).prop_map(|(card, amount)| Op::Sale { card, amount }),
            (1..150_000i64).prop_map(|amount| Op::CreditSale { amount }),
            (0..3usize, 1..50_000i64).prop_map(|(card, amount)| Op::Refund { card, amount }),
            (0..3usize, 0..3usize, 1..100_000i64).prop_map(|(from, to, amount)| Op::Allocate {
                from,
                to,
                amount
            }),
            (0..3usize, 1..80_000i64).prop_map(|(card, amount)| Op::Hold { card, amount }),
            (0..8usize).prop_map(|nth| Op::Release { nth }),
            (1..500i64).prop_map(|points| Op::Earn { points }),
            (1..500i64).prop_map(|points| Op::Redeem { points }),
        ]
    }

    fn ledger() -> Ledger {
        let mut l = Ledger::default();
        for c in ["a", "b", "c"] {
            l.open(&card_paid(c), Unit::Fen, Policy::NoOverdraft);
            l.open(&card_bonus(c), Unit::Fen, Policy::NoOverdraft);
        }
        l.open(
            &customer_credit("x"),
            Unit::Fen,
            Policy::CreditLimit(300_000),
        );
        l.open(&customer_points("x"), Unit::Points, Policy::NoOverdraft);
        for h in [
            tender("cash").as_str(),
            SALES_REVENUE,
            RECHARGE_BONUS_EXPENSE,
            HOLDS,
        ] {
            l.open(h, Unit::Fen, Policy::Unrestricted);
        }
        l.open(POINTS_ISSUED, Unit::Points, Policy::Unrestricted);
        l.open(POINTS_REDEEMED, Unit::Points, Policy::Unrestricted);
        l
    }

    const CARDS: [&str; 3] = ["a", "b", "c"];

    fn run(l: &mut Ledger, holds: &mut Vec<usize>, op: &Op) -> Result<(), DomainError> {
        match *op {
            Op::Recharge {
                card,
                amount,
                bonus,
            } => {
                let c = CARDS[card];
                let mut batch = vec![Transfer::new(
                    tender("cash"),
                    card_paid(c),
                    amount,
                    Unit::Fen,
                )];
                if bonus > 0 {
                    batch.push(Transfer::new(
                        RECHARGE_BONUS_EXPENSE,
                        card_bonus(c),
                        bonus,
                        Unit::Fen,
                    ));
                }
                l.post(&batch)
            }
            Op::Sale { card, amount } => {
                let c = CARDS[card];
                let (p, b) = split_card_debit(
                    l.totals(&card_paid(c)).available(),
                    l.totals(&card_bonus(c)).available(),
                    amount,
                )?;
                let mut batch = Vec::new();
                if p > 0 {
                    batch.push(Transfer::new(card_paid(c), SALES_REVENUE, p, Unit::Fen));
                }
                if b > 0 {
                    batch.push(Transfer::new(card_bonus(c), SALES_REVENUE, b, Unit::Fen));
                }
                l.post(&batch)
            }
            Op::CreditSale { amount } => l.post(&[Transfer::new(
                customer_credit("x"),
                SALES_REVENUE,
                amount,
                Unit::Fen,
            )]),
            Op::Refund { card, amount } => l.post(&[Transfer::new(
                SALES_REVENUE,
                card_paid(CARDS[card]),
                amount,
                Unit::Fen,
            )]),
            Op::Allocate { from, to, amount } => {
                if from == to {
                    return Err(DomainError::invalid("to", "same card"));
                }
                l.post(&[Transfer::new(
                    card_paid(CARDS[from]),
                    card_paid(CARDS[to]),
                    amount,
                    Unit::Fen,
                )])
            }
            Op::Hold { card, amount } => {
                let i = l.hold(Transfer::new(
                    card_paid(CARDS[card]),
                    HOLDS,
                    amount,
                    Unit::Fen,
                ))?;
                holds.push(i);
                Ok(())
            }
            Op::Release { nth } => {
                if holds.is_empty() {
                    return Ok(());
                }
                let i = holds.remove(nth % holds.len());
                l.release(i)
            }
            Op::Earn { points } => l.post(&[Transfer::new(
                POINTS_ISSUED,
                customer_points("x"),
                points,
                Unit::Points,
            )]),
            Op::Redeem { points } => l.post(&[Transfer::new(
                customer_points("x"),
                POINTS_REDEEMED,
                points,
                Unit::Points,
            )]),
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]
        /// Any sequence of operations, accepted or refused, leaves every invariant intact:
        /// balanced per unit, cached totals equal to the transfers, nothing below zero,
        /// no credit account over its limit; and a refused operation changes nothing.
        #[test]
        fn any_sequence_keeps_every_invariant(ops in proptest::collection::vec(op(), 1..60)) {
            let mut l = ledger();
            let mut holds = Vec::new();
            for op in &ops {
                let before = l.clone();
                let before_holds = holds.clone();
                if run(&mut l, &mut holds, op).is_err() {
                    prop_assert_eq!(format!("{:?}", before.accounts), format!("{:?}", l.accounts));
                    prop_assert_eq!(before.transfers.len(), l.transfers.len());
                    prop_assert_eq!(&before_holds, &holds);
                }
                let problems = l.check();
                prop_assert!(problems.is_empty(), "{:?} after {:?}", problems, op);
            }
        }

        #[test]
        fn card_debit_split_is_exact(paid in 0i64..1_000_000, bonus in 0i64..1_000_000, amount in 1i64..2_000_000) {
            match split_card_debit(paid, bonus, amount) {
                Ok((p, b)) => {
                    prop_assert_eq!(p + b, amount);
                    prop_assert!(p <= paid && b <= bonus && p >= 0 && b >= 0);
                    prop_assert!(b == 0 || p == paid, "bonus is spent only after paid money");
                }
                Err(_) => prop_assert!(amount > paid + bonus),
            }
        }
    }

    #[test]
    fn overdraft_and_credit_limit_are_refused() {
        let mut l = ledger();
        assert!(matches!(
            l.post(&[Transfer::new(card_paid("a"), SALES_REVENUE, 1, Unit::Fen)]),
            Err(DomainError::InsufficientBalance { .. })
        ));
        assert!(l
            .post(&[Transfer::new(
                customer_credit("x"),
                SALES_REVENUE,
                300_000,
                Unit::Fen
            )])
            .is_ok());
        assert!(matches!(
            l.post(&[Transfer::new(
                customer_credit("x"),
                SALES_REVENUE,
                1,
                Unit::Fen
            )]),
            Err(DomainError::CreditLimitExceeded { .. })
        ));
    }

    #[test]
    fn holds_reduce_what_can_be_spent_until_released() {
        let mut l = ledger();
        l.post(&[Transfer::new(
            tender("cash"),
            card_paid("a"),
            10_000,
            Unit::Fen,
        )])
        .unwrap();
        let h = l
            .hold(Transfer::new(card_paid("a"), HOLDS, 8_000, Unit::Fen))
            .unwrap();
        assert_eq!(l.totals(&card_paid("a")).available(), 2_000);
        assert!(l
            .post(&[Transfer::new(
                card_paid("a"),
                SALES_REVENUE,
                3_000,
                Unit::Fen
            )])
            .is_err());
        l.release(h).unwrap();
        assert!(l.release(h).is_err(), "a hold is released once");
        assert_eq!(l.totals(&card_paid("a")).available(), 10_000);
        assert!(l.check().is_empty());
    }

    #[test]
    fn a_batch_is_all_or_nothing() {
        let mut l = ledger();
        l.post(&[Transfer::new(
            tender("cash"),
            card_paid("a"),
            100,
            Unit::Fen,
        )])
        .unwrap();
        let r = l.post(&[
            Transfer::new(card_paid("a"), SALES_REVENUE, 100, Unit::Fen),
            Transfer::new(card_paid("b"), SALES_REVENUE, 1, Unit::Fen),
        ]);
        assert!(r.is_err());
        assert_eq!(l.totals(&card_paid("a")).available(), 100);
    }
}
