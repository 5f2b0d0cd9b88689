//! The ledger in the database: accounts, journals and transfers, and the check that
//! recomputes every balance.
//!
//! A batch of transfers is applied by first reading the accounts it touches, then
//! adding each account's net movement with one conditional `update` per constrained
//! account, in account-id order (so that two transactions always lock rows in the same
//! order and cannot deadlock). The condition repeats the policy of
//! [`forecourt_core::ledger::check_debit`], so even a caller that skipped the check
//! cannot overdraw an account: the update matches no row and the batch is refused.

use crate::bulk::Val;
use crate::deferred::Expect;
use crate::{new_id, now_us, Store, StoreError, Tx};
use forecourt_core::ledger::{check_debit, Policy, Totals, Transfer, Unit};
use serde::Serialize;
use sqlx::Row;
use std::collections::BTreeMap;

/// A journal entry to write with its transfers.
#[derive(Debug, Clone)]
pub struct NewJournal<'a> {
    pub idempotency_key: String,
    pub kind: &'a str,
    pub station_id: Option<&'a str>,
    pub occurred_at: i64,
    pub memo: Option<String>,
}

#[derive(Debug, Clone)]
pub(crate) struct AccountRow {
    unit: String,
    policy: Policy,
    totals: Totals,
}

pub(crate) fn policy_of(name: &str, limit: i64) -> Policy {
    match name {
        "no_overdraft" => Policy::NoOverdraft,
        "credit_limit" => Policy::CreditLimit(limit),
        _ => Policy::Unrestricted,
    }
}

fn policy_name(p: Policy) -> (&'static str, i64) {
    match p {
        Policy::NoOverdraft => ("no_overdraft", 0),
        Policy::CreditLimit(l) => ("credit_limit", l),
        Policy::Unrestricted => ("unrestricted", 0),
    }
}

async fn totals_of<'e, E: sqlx::Executor<'e, Database = sqlx::Any>>(
    db: E,
    name: &str,
) -> Result<Totals, StoreError> {
    let row = sqlx::query("select debits_posted, credits_posted, debits_pending, credits_pending from account where account_id = $1")
        .bind(name)
        .fetch_optional(db)
        .await?;
    Ok(match row {
        Some(r) => Totals {
            debits_posted: r.try_get(0)?,
            credits_posted: r.try_get(1)?,
            debits_pending: r.try_get(2)?,
            credits_pending: r.try_get(3)?,
        },
        None => Totals::default(),
    })
}

impl Tx {
    /// Opens an account if it does not exist yet.
    pub async fn ensure_account(
        &mut self,
        name: &str,
        unit: Unit,
        policy: Policy,
    ) -> Result<(), StoreError> {
        let (p, limit) = policy_name(policy);
        sqlx::query(
            "insert into account (account_id, unit, policy, credit_limit, created_at) values ($1, $2, $3, $4, $5) on conflict (account_id) do nothing",
        )
        .bind(name)
        .bind(unit.as_str())
        .bind(p)
        .bind(limit)
        .bind(now_us())
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }

    /// Changes the limit of a credit account.
    pub async fn set_credit_limit(&mut self, name: &str, limit: i64) -> Result<(), StoreError> {
        self.accounts_read.clear();
        sqlx::query("update account set credit_limit = $1 where account_id = $2 and policy = 'credit_limit'")
            .bind(limit)
            .bind(name)
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }

    /// Reads the accounts a batch touches, in one statement.
    /// Reads accounts for the next [`Tx::post`] of this transaction, which then reads
    /// them no more, and answers their totals (zero for an account not opened). A sale
    /// reads the balances it decides on and the accounts its journal moves in one
    /// statement. Anything that changes an account in between (`release`) drops them.
    pub async fn read_accounts(
        &mut self,
        names: &[String],
    ) -> Result<BTreeMap<String, Totals>, StoreError> {
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        let rows = self.load_accounts(&names, &[]).await?;
        let totals = names
            .iter()
            .map(|n| {
                (
                    n.to_string(),
                    rows.get(*n).map(|a| a.totals).unwrap_or_default(),
                )
            })
            .collect();
        self.accounts_read = rows;
        Ok(totals)
    }

    /// Reads the accounts `names` (those read by [`Tx::read_accounts`] from what it
    /// read, once); each of `required` must exist.
    async fn load_accounts(
        &mut self,
        names: &[&str],
        required: &[&str],
    ) -> Result<BTreeMap<String, AccountRow>, StoreError> {
        let mut known = std::mem::take(&mut self.accounts_read);
        let mut out = BTreeMap::new();
        let unique: std::collections::BTreeSet<&str> = names
            .iter()
            .copied()
            .filter(|n| {
                if out.contains_key(*n) {
                    return false;
                }
                match known.remove(*n) {
                    Some(row) => {
                        out.insert(n.to_string(), row);
                        false
                    }
                    None => true,
                }
            })
            .collect();
        if unique.is_empty() {
            if let Some(missing) = required.iter().find(|n| !out.contains_key(**n)) {
                return Err(StoreError::Corrupt(format!("no ledger account {missing}")));
            }
            return Ok(out);
        }
        let placeholders: Vec<String> = (1..=unique.len()).map(|i| format!("${i}")).collect();
        let sql = format!(
            "select account_id, unit, policy, credit_limit, debits_posted, credits_posted, debits_pending, credits_pending from account where account_id in ({})",
            placeholders.join(", ")
        );
        let mut query = sqlx::query(&sql);
        for name in &unique {
            query = query.bind(*name);
        }
        for row in query.fetch_all(&mut *self.tx).await? {
            out.insert(
                row.try_get::<String, _>(0)?,
                AccountRow {
                    unit: row.try_get(1)?,
                    policy: policy_of(&row.try_get::<String, _>(2)?, row.try_get(3)?),
                    totals: Totals {
                        debits_posted: row.try_get(4)?,
                        credits_posted: row.try_get(5)?,
                        debits_pending: row.try_get(6)?,
                        credits_pending: row.try_get(7)?,
                    },
                },
            );
        }
        if let Some(missing) = required.iter().find(|n| !out.contains_key(**n)) {
            return Err(StoreError::Corrupt(format!("no ledger account {missing}")));
        }
        Ok(out)
    }

    /// The totals of an account, read inside the transaction; zero for an account not
    /// opened yet.
    pub async fn account_totals(&mut self, name: &str) -> Result<Totals, StoreError> {
        totals_of(&mut *self.tx, name).await
    }

    async fn insert_journal(&mut self, j: &NewJournal<'_>) -> Result<String, StoreError> {
        let journal_id = new_id();
        self.exec(
            "insert into journal (journal_id, idempotency_key, kind, station_id, occurred_at, memo, created_at) values ($1, $2, $3, $4, $5, $6, $7)",
            vec![
                journal_id.as_str().into(),
                j.idempotency_key.as_str().into(),
                j.kind.into(),
                j.station_id.into(),
                j.occurred_at.into(),
                j.memo.as_deref().into(),
                now_us().into(),
            ],
            Expect::Any,
        )
        .await?;
        Ok(journal_id)
    }

    /// Writes a journal entry and its transfers, posted (`pending == false`) or held.
    /// Refuses the whole batch, changing nothing, if any constrained account would break
    /// its policy. Returns the journal id.
    pub async fn post(
        &mut self,
        journal: &NewJournal<'_>,
        transfers: &[Transfer],
        pending: bool,
    ) -> Result<String, StoreError> {
        Ok(self.post_reading(journal, transfers, pending, &[]).await?.0)
    }

    /// [`Tx::post`], which also answers the totals of the accounts it moved and of the
    /// existing accounts named in `also`, as they are once the journal is written. The
    /// accounts are read in the statement that reads the moved ones, so a sale learns
    /// the balances it answers with without reading again.
    pub async fn post_reading(
        &mut self,
        journal: &NewJournal<'_>,
        transfers: &[Transfer],
        pending: bool,
        also: &[String],
    ) -> Result<(String, BTreeMap<String, Totals>), StoreError> {
        let names: Vec<&str> = transfers
            .iter()
            .flat_map(|t| [t.debit.as_str(), t.credit.as_str()])
            .collect();
        let mut wanted = names.clone();
        wanted.extend(also.iter().map(String::as_str));
        let mut accounts = self.load_accounts(&wanted, &names).await?;
        // Net movement per account, checked against the policies in the model first so
        // that the refusal carries a clear reason.
        let mut movement: BTreeMap<&str, (i64, i64)> = BTreeMap::new();
        for t in transfers {
            if t.amount <= 0 || t.debit == t.credit {
                return Err(StoreError::Corrupt(format!("malformed transfer {t:?}")));
            }
            for (name, side) in [(&t.debit, 0), (&t.credit, 1)] {
                let a = &accounts[name.as_str()];
                if a.unit != t.unit.as_str() {
                    return Err(StoreError::Corrupt(format!(
                        "transfer in {} on account {name} of {}",
                        t.unit.as_str(),
                        a.unit
                    )));
                }
                let m = movement.entry(name.as_str()).or_default();
                if side == 0 {
                    m.0 += t.amount;
                } else {
                    m.1 += t.amount;
                }
            }
        }
        for (name, (debit, credit)) in &movement {
            let a = &accounts[*name];
            // Credits in the same batch may fund its debits (a capture releases and
            // re-debits), so check the debit net of them.
            let mut totals = a.totals;
            if !pending {
                totals.credits_posted += credit;
            }
            check_debit(a.policy, &totals, *debit)?;
        }
        let journal_id = self.insert_journal(journal).await?;
        let now = now_us();
        let state = if pending { "pending" } else { "posted" };
        // All transfers of the batch in one statement.
        if !transfers.is_empty() {
            let rows: Vec<String> = (0..transfers.len())
                .map(|i| {
                    let b = i * 9;
                    format!(
                        "(${}, ${}, ${}, ${}, ${}, ${}, ${}, ${}, ${})",
                        b + 1,
                        b + 2,
                        b + 3,
                        b + 4,
                        b + 5,
                        b + 6,
                        b + 7,
                        b + 8,
                        b + 9
                    )
                })
                .collect();
            let sql = format!(
                "insert into transfer (transfer_id, journal_id, debit_account_id, credit_account_id, amount, unit, state, kind, created_at) values {}",
                rows.join(", ")
            );
            let mut binds = Vec::with_capacity(transfers.len() * 9);
            for t in transfers {
                binds.extend([
                    Val::from(new_id()),
                    journal_id.as_str().into(),
                    t.debit.as_str().into(),
                    t.credit.as_str().into(),
                    t.amount.into(),
                    t.unit.as_str().into(),
                    state.into(),
                    journal.kind.into(),
                    now.into(),
                ]);
            }
            self.exec(sql, binds, Expect::Any).await?;
        }
        for (name, (debit, credit)) in movement {
            if let Some(a) = accounts.get_mut(name) {
                let t = &mut a.totals;
                if pending {
                    t.debits_pending += debit;
                    t.credits_pending += credit;
                } else {
                    t.debits_posted += debit;
                    t.credits_posted += credit;
                }
            }
            if accounts[name].policy == Policy::Unrestricted {
                continue;
            }
            let sql = if pending {
                "update account set debits_pending = debits_pending + $1, credits_pending = credits_pending + $2 \
                 where account_id = $3 \
                 and (policy <> 'no_overdraft' or credits_posted - debits_posted - debits_pending >= $1) \
                 and (policy <> 'credit_limit' or debits_posted + debits_pending - credits_posted + $1 <= credit_limit)"
            } else {
                "update account set debits_posted = debits_posted + $1, credits_posted = credits_posted + $2 \
                 where account_id = $3 \
                 and (policy <> 'no_overdraft' or credits_posted + $2 - debits_posted - debits_pending >= $1) \
                 and (policy <> 'credit_limit' or debits_posted + debits_pending - credits_posted - $2 + $1 <= credit_limit)"
            };
            // Only short when the account changed after it was read, which the callers'
            // row locks prevent; refused rather than overdrawn.
            self.exec(
                sql,
                vec![debit.into(), credit.into(), name.into()],
                Expect::Balance {
                    rows: 1,
                    needed: debit,
                },
            )
            .await?;
        }
        let totals = accounts.into_iter().map(|(k, a)| (k, a.totals)).collect();
        Ok((journal_id, totals))
    }

    /// What a hold still holds: (debited account, amount) of each pending transfer of the
    /// journal.
    pub async fn held_by(&mut self, journal_id: &str) -> Result<Vec<(String, i64)>, StoreError> {
        let rows = sqlx::query(
            "select debit_account_id, amount from transfer where journal_id = $1 and state = 'pending'",
        )
        .bind(journal_id)
        .fetch_all(&mut *self.tx)
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect()
    }

    /// Releases every pending transfer of a journal (a hold): capture, void and expiry
    /// all release the hold; a capture then posts what it takes as a new journal.
    /// Returns the amount released, 0 if it was already released.
    pub async fn release(&mut self, journal_id: &str) -> Result<i64, StoreError> {
        self.accounts_read.clear();
        let rows = sqlx::query("select transfer_id, debit_account_id, credit_account_id, amount from transfer where journal_id = $1 and state = 'pending' order by debit_account_id")
            .bind(journal_id)
            .fetch_all(&mut *self.tx)
            .await?;
        let mut released = 0;
        for row in rows {
            let id: String = row.try_get(0)?;
            let debit: String = row.try_get(1)?;
            let credit: String = row.try_get(2)?;
            let amount: i64 = row.try_get(3)?;
            let n = sqlx::query("update transfer set state = 'released' where transfer_id = $1 and state = 'pending'")
                .bind(&id)
                .execute(&mut *self.tx)
                .await?
                .rows_affected();
            if n != 1 {
                continue;
            }
            sqlx::query("update account set debits_pending = debits_pending - $1 where account_id = $2 and policy <> 'unrestricted'")
                .bind(amount)
                .bind(&debit)
                .execute(&mut *self.tx)
                .await?;
            sqlx::query("update account set credits_pending = credits_pending - $1 where account_id = $2 and policy <> 'unrestricted'")
                .bind(amount)
                .bind(&credit)
                .execute(&mut *self.tx)
                .await?;
            released += amount;
        }
        Ok(released)
    }
}

/// What `forecourt check` found.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CheckReport {
    pub accounts: i64,
    pub transfers: i64,
    pub journals: i64,
    pub sales: i64,
    pub problems: Vec<String>,
}

impl CheckReport {
    pub fn is_clean(&self) -> bool {
        self.problems.is_empty()
    }
}

impl Store {
    /// Reads an account's totals; zero for an account not opened yet.
    pub async fn account_totals(&self, name: &str) -> Result<Totals, StoreError> {
        totals_of(self.read(), name).await
    }

    /// Recomputes every cached balance from the transfers and checks every invariant
    /// of the ledger and of the records that refer to it.
    pub async fn check(&self) -> Result<CheckReport, StoreError> {
        let db = self.read();
        let mut report = CheckReport::default();
        let count = |sql: &'static str| async move {
            sqlx::query_scalar::<_, i64>(sql).fetch_one(db).await
        };
        report.accounts = count("select count(*) from account").await?;
        report.transfers = count("select count(*) from transfer").await?;
        report.journals = count("select count(*) from journal").await?;
        report.sales = count("select count(*) from sale").await?;

        // 1. Cached totals of constrained accounts equal the sums of their transfers.
        let mut recomputed: BTreeMap<String, Totals> = BTreeMap::new();
        let sums = sqlx::query(
            "select debit_account_id, credit_account_id, state, cast(sum(amount) as bigint) from transfer where state <> 'released' group by debit_account_id, credit_account_id, state",
        )
        .fetch_all(db)
        .await?;
        for r in sums {
            let (d, c, state, amount): (String, String, String, i64) =
                (r.try_get(0)?, r.try_get(1)?, r.try_get(2)?, r.try_get(3)?);
            let posted = state == "posted";
            let dt = recomputed.entry(d).or_default();
            if posted {
                dt.debits_posted += amount
            } else {
                dt.debits_pending += amount
            }
            let ct = recomputed.entry(c).or_default();
            if posted {
                ct.credits_posted += amount
            } else {
                ct.credits_pending += amount
            }
        }
        let accounts = sqlx::query(
            "select account_id, policy, credit_limit, debits_posted, credits_posted, debits_pending, credits_pending from account",
        )
        .fetch_all(db)
        .await?;
        for r in accounts {
            let name: String = r.try_get(0)?;
            let policy = policy_of(&r.try_get::<String, _>(1)?, r.try_get(2)?);
            let cached = Totals {
                debits_posted: r.try_get(3)?,
                credits_posted: r.try_get(4)?,
                debits_pending: r.try_get(5)?,
                credits_pending: r.try_get(6)?,
            };
            let want = recomputed.get(&name).copied().unwrap_or_default();
            if policy != Policy::Unrestricted && cached != want {
                report.problems.push(format!(
                    "account {name}: cached {cached:?}, transfers give {want:?}"
                ));
            }
            match policy {
                Policy::NoOverdraft if want.available() < 0 => report.problems.push(format!(
                    "account {name}: balance below zero ({})",
                    want.available()
                )),
                Policy::CreditLimit(limit) if want.owed() > limit => report.problems.push(format!(
                    "account {name}: owes {} over its limit {limit}",
                    want.owed()
                )),
                _ => {}
            }
        }

        // 2. Every transfer is well formed and moves one unit between accounts of it.
        let bad: i64 = sqlx::query_scalar(
            "select count(*) from transfer t join account d on d.account_id = t.debit_account_id join account c on c.account_id = t.credit_account_id \
             where t.amount <= 0 or t.debit_account_id = t.credit_account_id or d.unit <> t.unit or c.unit <> t.unit",
        )
        .fetch_one(db)
        .await?;
        if bad > 0 {
            report.problems.push(format!(
                "{bad} transfers are malformed (amount, accounts or unit)"
            ));
        }
        // Per unit, debits equal credits over the whole ledger.
        for unit in ["fen", "points"] {
            let r = sqlx::query("select cast(coalesce(sum(amount), 0) as bigint) from transfer where unit = $1 and state = 'posted'")
                .bind(unit)
                .fetch_one(db)
                .await?;
            let total: i64 = r.try_get(0)?;
            let sides = sqlx::query(
                "select cast(coalesce(sum(debits_posted), 0) as bigint), cast(coalesce(sum(credits_posted), 0) as bigint) from account where unit = $1 and policy <> 'unrestricted'",
            )
            .bind(unit)
            .fetch_one(db)
            .await?;
            let (d, c): (i64, i64) = (sides.try_get(0)?, sides.try_get(1)?);
            if d > total || c > total {
                report.problems.push(format!(
                    "{unit}: customer accounts move more than the ledger holds"
                ));
            }
        }

        // 3. Sales add up: lines to the net amount, payments to the net amount,
        //    refunds to no more than was paid.
        let lines: i64 = sqlx::query_scalar(
            "select count(*) from sale s where s.net_fen <> (select cast(coalesce(sum(net_fen), 0) as bigint) from sale_line l where l.sale_id = s.sale_id) \
             or s.net_fen <> s.gross_fen - s.discount_fen",
        )
        .fetch_one(db)
        .await?;
        if lines > 0 {
            report.problems.push(format!(
                "{lines} sales whose lines do not add up to the net amount"
            ));
        }
        let pays: i64 = sqlx::query_scalar(
            "select count(*) from sale s where s.net_fen <> (select cast(coalesce(sum(amount_fen), 0) as bigint) from sale_payment p where p.sale_id = s.sale_id)",
        )
        .fetch_one(db)
        .await?;
        if pays > 0 {
            report.problems.push(format!(
                "{pays} sales whose payments do not add up to the net amount"
            ));
        }
        let over: i64 = sqlx::query_scalar("select count(*) from sale where refunded_fen > net_fen or refunded_fen < 0 or points_reversed > points_earned")
            .fetch_one(db)
            .await?;
        if over > 0 {
            report
                .problems
                .push(format!("{over} sales refunded beyond what was paid"));
        }
        let refunds: i64 = sqlx::query_scalar(
            "select count(*) from sale s where s.refunded_fen <> (select cast(coalesce(sum(amount_fen), 0) as bigint) from refund r where r.sale_id = s.sale_id)",
        )
        .fetch_one(db)
        .await?;
        if refunds > 0 {
            report.problems.push(format!(
                "{refunds} sales whose refunded amount differs from their refunds"
            ));
        }
        // 4. Card payments equal what the ledger took from cards for the sale.
        let card_mismatch: i64 = sqlx::query_scalar(
            "select count(*) from sale s where \
             (select cast(coalesce(sum(amount_fen), 0) as bigint) from sale_payment p where p.sale_id = s.sale_id and p.method = 'card') <> \
             (select cast(coalesce(sum(t.amount), 0) as bigint) from transfer t where t.journal_id = s.journal_id and t.state = 'posted' and t.debit_account_id like 'card:%')",
        )
        .fetch_one(db)
        .await?;
        if card_mismatch > 0 {
            report.problems.push(format!(
                "{card_mismatch} sales whose card payments differ from the ledger"
            ));
        }
        // 5. Holds: a pending authorisation has its transfers pending, and no other
        //    transfer is pending.
        let holds: i64 = sqlx::query_scalar(
            "select count(*) from transfer t where t.state = 'pending' and not exists \
             (select 1 from authorization_hold a where a.journal_id = t.journal_id and a.state = 'pending')",
        )
        .fetch_one(db)
        .await?;
        if holds > 0 {
            report.problems.push(format!(
                "{holds} pending transfers without a pending authorisation"
            ));
        }
        // 6. A member's points lots hold exactly the member's points balance.
        // Compared in memory: a join on a computed account name would scan.
        let balances: Vec<(String, i64)> = sqlx::query_as(
            "select account_id, credits_posted - debits_posted from account where account_id like 'customer:%:points'",
        )
        .fetch_all(db)
        .await?;
        let mut lot_sums: BTreeMap<String, i64> = sqlx::query_as::<_, (String, i64)>(
            "select customer_id, cast(sum(remaining) as bigint) from points_lot group by customer_id",
        )
        .fetch_all(db)
        .await?
        .into_iter()
        .collect();
        let mut lots = 0i64;
        for (account_id, balance) in &balances {
            let customer = account_id
                .strip_prefix("customer:")
                .and_then(|s| s.strip_suffix(":points"))
                .unwrap_or_default();
            if lot_sums.remove(customer).unwrap_or(0) != *balance {
                lots += 1;
            }
        }
        // Lots of members without a points account.
        let orphan_lots = lot_sums.values().filter(|rem| **rem != 0).count() as i64;
        if lots + orphan_lots > 0 {
            report.problems.push(format!(
                "{} members whose points lots differ from their points balance",
                lots + orphan_lots
            ));
        }
        // 7. Every point a sale earned is explained by its points lines.
        let mut unexplained = 0i64;
        {
            use futures_util::TryStreamExt;
            let mut rows = sqlx::query_as::<_, (i64, String)>(
                "select points_earned, points_detail from sale where points_earned <> 0 or points_detail <> '[]'",
            )
            .fetch(db);
            while let Some((earned, detail)) = rows.try_next().await? {
                let lines: Vec<forecourt_core::loyalty::PointsLine> =
                    serde_json::from_str(&detail)?;
                if lines.iter().map(|l| l.points).sum::<i64>() != earned
                    || lines.iter().any(|l| l.points <= 0)
                {
                    unexplained += 1;
                }
            }
        }
        if unexplained > 0 {
            report.problems.push(format!(
                "{unexplained} sales whose points are not explained by their points lines"
            ));
        }
        Ok(report)
    }
}
