//! Bulk writes: many rows per statement and many sales per transaction (group commit).
//!
//! The simulator, the demo and `forecourt import` decide each sale with the same rules
//! as the POS and collect the rows in a [`Batch`]; [`Tx::write_batch`] then writes the
//! whole batch with multi-row `insert`s and one multi-row conditional `update` of the
//! customer-facing accounts. The condition repeats the policy of every account (no
//! overdraft, credit limit) as in [`Tx::post`](crate::Tx::post): if any account would
//! break it, the statement updates fewer rows than it was given and the batch is refused
//! whole, so that a decision taken on a stale balance can never overdraw.
//!
//! Architecture invariant: nothing here decides anything; it writes what it is given,
//! atomically, or refuses.

use crate::personal::{name_index, phone_index, plate_index, seal};
use crate::{Backend, StoreError, Tx};
use std::collections::BTreeMap;

/// A value of a row: typed, so that a null has the column's type on PostgreSQL.
#[derive(Debug, Clone, PartialEq)]
pub enum Val {
    I(Option<i64>),
    T(Option<String>),
    F(Option<f64>),
}

impl From<i64> for Val {
    fn from(v: i64) -> Self {
        Val::I(Some(v))
    }
}
impl From<Option<i64>> for Val {
    fn from(v: Option<i64>) -> Self {
        Val::I(v)
    }
}
impl From<String> for Val {
    fn from(v: String) -> Self {
        Val::T(Some(v))
    }
}
impl From<&str> for Val {
    fn from(v: &str) -> Self {
        Val::T(Some(v.to_string()))
    }
}
impl From<Option<String>> for Val {
    fn from(v: Option<String>) -> Self {
        Val::T(v)
    }
}
impl From<Option<&str>> for Val {
    fn from(v: Option<&str>) -> Self {
        Val::T(v.map(str::to_string))
    }
}
impl From<f64> for Val {
    fn from(v: f64) -> Self {
        Val::F(Some(v))
    }
}

/// The most bind parameters in one statement: below SQLite's 32,766 and PostgreSQL's
/// 65,535.
const PARAMS_MAX: usize = 30_000;
/// The most rows in one statement; beyond this a statement only gets longer to parse.
const ROWS_PER_STATEMENT_MAX: usize = 200;

/// What the bulk poster needs of a member.
#[derive(Debug, Clone)]
pub struct MemberRow {
    pub customer_id: String,
    pub tier_code: String,
    pub tags: Vec<String>,
    pub birthday: Option<String>,
    /// Referred, and the referral not yet rewarded.
    pub referral_pending: bool,
}

/// Rows for one table, in the order of `columns`.
#[derive(Debug, Clone)]
pub struct Rows {
    table: &'static str,
    columns: &'static [&'static str],
    vals: Vec<Val>,
    /// What follows the values (an `on conflict` clause).
    suffix: &'static str,
}

impl Rows {
    pub fn new(table: &'static str, columns: &'static [&'static str]) -> Self {
        Self {
            table,
            columns,
            vals: Vec::new(),
            suffix: "",
        }
    }

    /// Adds a row; it must have one value per column.
    pub fn push<const N: usize>(&mut self, row: [Val; N]) {
        assert_eq!(
            N,
            self.columns.len(),
            "a row of {} has {} columns",
            self.table,
            self.columns.len()
        );
        self.vals.extend(row);
    }

    pub fn len(&self) -> usize {
        self.vals.len() / self.columns.len()
    }

    pub fn is_empty(&self) -> bool {
        self.vals.is_empty()
    }

    pub fn clear(&mut self) {
        self.vals.clear();
    }
}

fn placeholders(backend: Backend, rows: usize, cols: usize) -> String {
    let mut s = String::with_capacity(rows * cols * 6);
    for r in 0..rows {
        if r > 0 {
            s.push_str(", ");
        }
        s.push('(');
        for c in 0..cols {
            if c > 0 {
                s.push_str(", ");
            }
            match backend {
                // Anonymous parameters: SQLite (through sqlx) binds numbered ones in time
                // that grows with their number, which made a 400-row statement 30
                // times slower per row than a 16-row one.
                Backend::Sqlite => s.push('?'),
                Backend::Postgres => {
                    s.push('$');
                    s.push_str(&(r * cols + c + 1).to_string());
                }
            }
        }
        s.push(')');
    }
    s
}

pub(crate) fn bind_all<'q>(
    mut q: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
    vals: &'q [Val],
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
    for v in vals {
        q = match v {
            Val::I(x) => q.bind(*x),
            Val::T(x) => q.bind(x.as_deref()),
            Val::F(x) => q.bind(*x),
        };
    }
    q
}

/// `n` parameters for an `in (…)` list.
fn in_list(backend: Backend, n: usize) -> String {
    placeholders(backend, n, 1).replace(['(', ')'], "")
}

/// Whether the ledger keeps a cached, policed balance for the account (cards and
/// customers); house accounts are derived from the transfers only.
pub fn is_constrained(account: &str) -> bool {
    account.starts_with("card:") || account.starts_with("customer:")
}

/// Everything a batch of sales and recharges writes.
#[derive(Debug, Clone)]
pub struct Batch {
    pub journal: Rows,
    pub transfer: Rows,
    pub sale: Rows,
    pub sale_line: Rows,
    pub sale_payment: Rows,
    pub card_usage: Rows,
    pub recharge: Rows,
    /// Points earned by member and local day, added to the member's lot of the day.
    pub lots: BTreeMap<(String, String), i64>,
    /// The net movement of every customer-facing account: (debits, credits).
    pub moves: BTreeMap<String, (i64, i64)>,
    /// Sales and recharges in the batch.
    pub events: usize,
}

impl Default for Batch {
    fn default() -> Self {
        Self::new()
    }
}

impl Batch {
    pub fn new() -> Self {
        Self {
            journal: Rows::new(
                "journal",
                &[
                    "journal_id",
                    "idempotency_key",
                    "kind",
                    "station_id",
                    "occurred_at",
                    "memo",
                    "created_at",
                ],
            ),
            transfer: Rows::new(
                "transfer",
                &[
                    "transfer_id",
                    "journal_id",
                    "debit_account_id",
                    "credit_account_id",
                    "amount",
                    "unit",
                    "state",
                    "kind",
                    "created_at",
                ],
            ),
            sale: Rows::new(
                "sale",
                &[
                    "sale_id",
                    "station_id",
                    "pos_txn_id",
                    "journal_id",
                    "customer_id",
                    "card_id",
                    "occurred_at",
                    "gross_fen",
                    "discount_fen",
                    "net_fen",
                    "points_earned",
                    "tier_code",
                    "flags",
                    "created_at",
                    "points_detail",
                ],
            ),
            sale_line: Rows::new(
                "sale_line",
                &[
                    "sale_id",
                    "line_no",
                    "product_code",
                    "kind",
                    "category",
                    "volume_ml",
                    "quantity",
                    "unit_price_fen",
                    "gross_fen",
                    "discount_fen",
                    "net_fen",
                    "pump_no",
                ],
            ),
            sale_payment: Rows::new(
                "sale_payment",
                &[
                    "sale_id",
                    "payment_no",
                    "method",
                    "amount_fen",
                    "card_id",
                    "funding_card_id",
                    "coupon_code",
                    "from_paid_fen",
                    "from_bonus_fen",
                ],
            ),
            card_usage: Rows::new(
                "card_usage",
                &[
                    "card_id",
                    "occurred_at",
                    "sales",
                    "amount_fen",
                    "volume_ml",
                    "ref_id",
                ],
            ),
            recharge: Rows::new(
                "recharge",
                &[
                    "recharge_id",
                    "station_id",
                    "pos_txn_id",
                    "journal_id",
                    "card_id",
                    "amount_fen",
                    "bonus_fen",
                    "promotion_id",
                    "occurred_at",
                    "created_at",
                ],
            ),
            lots: BTreeMap::new(),
            moves: BTreeMap::new(),
            events: 0,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.journal.is_empty() && self.sale.is_empty()
    }

    pub fn clear(&mut self) {
        for rows in [
            &mut self.journal,
            &mut self.transfer,
            &mut self.sale,
            &mut self.sale_line,
            &mut self.sale_payment,
            &mut self.card_usage,
            &mut self.recharge,
        ] {
            rows.clear();
        }
        self.lots.clear();
        self.moves.clear();
        self.events = 0;
    }

    /// Adds a posted transfer and, for a customer-facing account, its movement.
    #[allow(clippy::too_many_arguments)]
    pub fn transfer(
        &mut self,
        transfer_id: String,
        journal_id: &str,
        debit: &str,
        credit: &str,
        amount: i64,
        unit: &str,
        kind: &str,
        created_at: i64,
    ) {
        self.transfer.push([
            transfer_id.into(),
            journal_id.into(),
            debit.into(),
            credit.into(),
            amount.into(),
            unit.into(),
            "posted".into(),
            kind.into(),
            created_at.into(),
        ]);
        if is_constrained(debit) {
            self.moves.entry(debit.to_string()).or_default().0 += amount;
        }
        if is_constrained(credit) {
            self.moves.entry(credit.to_string()).or_default().1 += amount;
        }
    }
}

/// A customer to create in bulk, with the id and time the caller chose.
#[derive(Debug, Clone)]
pub struct BulkCustomer {
    pub customer_id: String,
    pub created_at: i64,
    pub customer: crate::NewCustomer,
}

/// The id of a customer's `k`th vehicle written in bulk: a UUIDv7 of the customer's
/// creation time, like the ids of vehicles added one by one, whose random bits come from
/// the customer's id and `k`, so that it is as reproducible as the customer's id.
fn bulk_vehicle_id(customer_id: &str, k: usize, created_at_us: i64) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::new()
        .chain_update(b"vehicle\0")
        .chain_update(customer_id.as_bytes())
        .chain_update((k as u64).to_le_bytes())
        .finalize();
    let mut random = [0u8; 10];
    random.copy_from_slice(&digest[..10]);
    let ms = u64::try_from(created_at_us / 1000).unwrap_or(0);
    uuid::Builder::from_unix_timestamp_millis(ms, &random)
        .into_uuid()
        .to_string()
}

/// A card to create in bulk.
#[derive(Debug, Clone)]
pub struct BulkCard {
    pub card_id: String,
    pub created_at: i64,
    pub card: crate::NewCard,
}

impl Tx {
    /// Inserts rows with as few statements as the parameter limits allow.
    pub async fn insert_rows(&mut self, rows: &Rows) -> Result<u64, StoreError> {
        let cols = rows.columns.len();
        let per = (PARAMS_MAX / cols).min(ROWS_PER_STATEMENT_MAX);
        let mut done = 0;
        let head = format!(
            "insert into {} ({}) values ",
            rows.table,
            rows.columns.join(", ")
        );
        let mut full_sql: Option<String> = None;
        for chunk in rows.vals.chunks(per * cols) {
            let n = chunk.len() / cols;
            let sql = if n == per {
                full_sql
                    .get_or_insert_with(|| {
                        format!(
                            "{head}{}{}",
                            placeholders(self.backend, per, cols),
                            rows.suffix
                        )
                    })
                    .clone()
            } else {
                format!(
                    "{head}{}{}",
                    placeholders(self.backend, n, cols),
                    rows.suffix
                )
            };
            done += bind_all(sqlx::query(&sql), chunk)
                .execute(&mut *self.tx)
                .await?
                .rows_affected();
        }
        Ok(done)
    }

    /// Applies the net movements to the cached totals of customer-facing accounts, each
    /// only if the account keeps its policy; refuses the whole batch otherwise.
    async fn apply_moves(
        &mut self,
        moves: &BTreeMap<String, (i64, i64)>,
    ) -> Result<(), StoreError> {
        let entries: Vec<(&String, &(i64, i64))> = moves.iter().collect();
        for chunk in entries.chunks(PARAMS_MAX / 3) {
            let sql = format!(
                "with d (account_id, dr, cr) as (values {}) \
                 update account set debits_posted = account.debits_posted + d.dr, credits_posted = account.credits_posted + d.cr \
                 from d where account.account_id = d.account_id and account.policy <> 'unrestricted' \
                 and (account.policy <> 'no_overdraft' or account.credits_posted + d.cr - account.debits_posted - account.debits_pending >= d.dr) \
                 and (account.policy <> 'credit_limit' or account.debits_posted + account.debits_pending - account.credits_posted - d.cr + d.dr <= account.credit_limit)",
                placeholders(self.backend, chunk.len(), 3)
            );
            let mut q = sqlx::query(&sql);
            for (name, (dr, cr)) in chunk {
                q = q.bind(name.as_str()).bind(*dr).bind(*cr);
            }
            let n = q.execute(&mut *self.tx).await?.rows_affected();
            if n != chunk.len() as u64 {
                return Err(StoreError::Conflict(format!(
                    "{} of {} accounts in the batch would break their policy or do not exist",
                    chunk.len() as u64 - n,
                    chunk.len()
                )));
            }
        }
        Ok(())
    }

    /// Writes a batch: every row, then the account movements. Call inside the batch's
    /// own transaction; on an error, drop the transaction (nothing of the batch stays).
    pub async fn write_batch(&mut self, b: &Batch) -> Result<(), StoreError> {
        for rows in [
            &b.journal,
            &b.transfer,
            &b.sale,
            &b.sale_line,
            &b.sale_payment,
            &b.card_usage,
            &b.recharge,
        ] {
            let t = std::time::Instant::now();
            self.insert_rows(rows).await?;
            tracing::debug!(
                table = rows.table,
                rows = rows.len(),
                ms = t.elapsed().as_millis() as u64,
                "bulk insert"
            );
        }
        let mut lots = Rows::new(
            "points_lot",
            &["customer_id", "earned_on", "points", "remaining"],
        );
        lots.suffix = " on conflict (customer_id, earned_on) do update set points = points_lot.points + excluded.points, remaining = points_lot.remaining + excluded.remaining";
        for ((customer, day), points) in &b.lots {
            lots.push([
                customer.as_str().into(),
                day.as_str().into(),
                (*points).into(),
                (*points).into(),
            ]);
        }
        self.insert_rows(&lots).await?;
        let t = std::time::Instant::now();
        self.apply_moves(&b.moves).await?;
        tracing::debug!(
            accounts = b.moves.len(),
            ms = t.elapsed().as_millis() as u64,
            "bulk account update"
        );
        Ok(())
    }

    /// Creates customers with their vehicles and points accounts, with the ids and times
    /// given. Personal data is sealed and indexed as by [`Tx::create_customer`].
    pub async fn create_customers_bulk(&mut self, list: &[BulkCustomer]) -> Result<(), StoreError> {
        let v = self.vault.clone();
        let mut customers = Rows::new(
            "customer",
            &[
                "customer_id",
                "member_code",
                "kind",
                "name_enc",
                "name_idx",
                "phone_enc",
                "phone_idx",
                "industry",
                "birthday",
                "occupation",
                "home_station_id",
                "source",
                "source_code",
                "tier_code",
                "consent_marketing",
                "consent_sensitive",
                "tags",
                "account_manager_id",
                "created_at",
                "updated_at",
            ],
        );
        let mut vehicles = Rows::new(
            "vehicle",
            &[
                "vehicle_id",
                "customer_id",
                "plate_enc",
                "plate_idx",
                "model",
                "colour",
                "fuel_type",
                "tank_capacity_ml",
                "created_at",
            ],
        );
        let mut accounts = Rows::new(
            "account",
            &["account_id", "unit", "policy", "credit_limit", "created_at"],
        );
        for b in list {
            let c = &b.customer;
            let id = b.customer_id.as_str();
            if c.id_number.is_some()
                || c.address.is_some()
                || c.notes.is_some()
                || !c.contacts.is_empty()
            {
                return Err(StoreError::Config(
                    "bulk customers carry no ID number, address, notes or contacts".into(),
                ));
            }
            customers.push([
                id.into(),
                c.member_code.as_str().into(),
                c.kind.as_str().into(),
                seal(&v, "customer.name", id, &c.name).into(),
                name_index(&v, &c.name).into(),
                c.phone
                    .as_deref()
                    .map(|p| seal(&v, "customer.phone", id, p))
                    .into(),
                c.phone.as_deref().map(|p| phone_index(&v, p)).into(),
                c.industry.as_deref().into(),
                c.birthday.as_deref().into(),
                c.occupation.as_deref().into(),
                c.home_station_id.as_deref().into(),
                c.source.as_deref().into(),
                c.source_code.as_deref().into(),
                "standard".into(),
                i64::from(c.consent_marketing).into(),
                i64::from(c.consent_sensitive).into(),
                serde_json::to_string(&c.tags)?.into(),
                c.account_manager_id.as_deref().into(),
                b.created_at.into(),
                b.created_at.into(),
            ]);
            for (k, vh) in c.vehicles.iter().enumerate() {
                let vehicle_id = bulk_vehicle_id(id, k, b.created_at);
                vehicles.push([
                    vehicle_id.as_str().into(),
                    id.into(),
                    seal(&v, "vehicle.plate", &vehicle_id, &vh.plate).into(),
                    plate_index(&v, &vh.plate).into(),
                    vh.model.as_deref().into(),
                    vh.colour.as_deref().into(),
                    vh.fuel_type.as_deref().into(),
                    vh.tank_capacity_ml.into(),
                    b.created_at.into(),
                ]);
            }
            accounts.push([
                forecourt_core::ledger::account::customer_points(id).into(),
                "points".into(),
                "no_overdraft".into(),
                0i64.into(),
                b.created_at.into(),
            ]);
        }
        self.insert_rows(&customers).await?;
        self.insert_rows(&vehicles).await?;
        self.insert_rows(&accounts).await?;
        Ok(())
    }

    /// Issues cards with the ids and times given, and opens their accounts. Main cards
    /// must come before their sub-cards.
    pub async fn create_cards_bulk(&mut self, list: &[BulkCard]) -> Result<(), StoreError> {
        let mut cards = Rows::new(
            "card",
            &[
                "card_id",
                "card_no",
                "kind",
                "state",
                "customer_id",
                "main_card_id",
                "balance_mode",
                "cap_fen",
                "rules",
                "pin_hash",
                "issued_station_id",
                "created_at",
                "updated_at",
            ],
        );
        let mut accounts = Rows::new(
            "account",
            &["account_id", "unit", "policy", "credit_limit", "created_at"],
        );
        for b in list {
            let c = &b.card;
            let id = b.card_id.as_str();
            cards.push([
                id.into(),
                c.card_no.as_str().into(),
                c.kind.as_str().into(),
                "active".into(),
                c.customer_id.as_deref().into(),
                c.main_card_id.as_deref().into(),
                c.balance_mode.as_str().into(),
                c.cap_fen.into(),
                crate::queries::sealed_rules(&self.vault, id, &c.rules)?.into(),
                c.pin_hash.as_deref().into(),
                c.issued_station_id.as_deref().into(),
                b.created_at.into(),
                b.created_at.into(),
            ]);
            for name in [
                forecourt_core::ledger::account::card_paid(id),
                forecourt_core::ledger::account::card_bonus(id),
            ] {
                accounts.push([
                    name.into(),
                    "fen".into(),
                    "no_overdraft".into(),
                    0i64.into(),
                    b.created_at.into(),
                ]);
            }
        }
        self.insert_rows(&cards).await?;
        self.insert_rows(&accounts).await?;
        Ok(())
    }
}

impl crate::Store {
    /// Every usage row of a card: (occurred_at, sales, amount_fen, volume_ml).
    pub async fn card_usage_rows(
        &self,
        card_id: &str,
    ) -> Result<Vec<(i64, i64, i64, i64)>, StoreError> {
        Ok(sqlx::query_as(
            "select occurred_at, sales, amount_fen, volume_ml from card_usage where card_id = $1 order by occurred_at",
        )
        .bind(card_id)
        .fetch_all(self.read())
        .await?)
    }

    /// The cards with these numbers or ids (`by` is `card_no` or `card_id`).
    pub async fn cards_where_in(
        &self,
        by: &str,
        values: &[String],
    ) -> Result<Vec<crate::Card>, StoreError> {
        let by = if by == "card_id" {
            "card_id"
        } else {
            "card_no"
        };
        let mut out = Vec::new();
        for chunk in values.chunks(PARAMS_MAX) {
            let sql = format!(
                "select {} from card where {by} in ({})",
                crate::queries::CARD_COLS,
                in_list(self.backend, chunk.len())
            );
            let mut q = sqlx::query(&sql);
            for v in chunk {
                q = q.bind(v.as_str());
            }
            for r in q.fetch_all(self.read()).await? {
                out.push(crate::queries::card(&r, self.vault())?);
            }
        }
        Ok(out)
    }

    /// The policy and totals of these accounts (those that exist).
    pub async fn accounts_where_in(
        &self,
        names: &[String],
    ) -> Result<
        Vec<(
            String,
            forecourt_core::ledger::Policy,
            forecourt_core::ledger::Totals,
        )>,
        StoreError,
    > {
        use sqlx::Row;
        let mut out = Vec::new();
        for chunk in names.chunks(PARAMS_MAX) {
            let sql = format!(
                "select account_id, policy, credit_limit, debits_posted, credits_posted, debits_pending, credits_pending from account where account_id in ({})",
                in_list(self.backend, chunk.len())
            );
            let mut q = sqlx::query(&sql);
            for v in chunk {
                q = q.bind(v.as_str());
            }
            for r in q.fetch_all(self.read()).await? {
                out.push((
                    r.try_get(0)?,
                    crate::ledger::policy_of(&r.try_get::<String, _>(1)?, r.try_get(2)?),
                    forecourt_core::ledger::Totals {
                        debits_posted: r.try_get(3)?,
                        credits_posted: r.try_get(4)?,
                        debits_pending: r.try_get(5)?,
                        credits_pending: r.try_get(6)?,
                    },
                ));
            }
        }
        Ok(out)
    }

    /// The tier of each of these customers.
    pub async fn member_rows(&self, ids: &[String]) -> Result<Vec<MemberRow>, StoreError> {
        let mut out = Vec::new();
        for chunk in ids.chunks(PARAMS_MAX) {
            let sql = format!(
                "select customer_id, tier_code, tags, birthday, case when referred_by is not null and referral_rewarded_at is null then 1 else 0 end from customer where customer_id in ({})",
                in_list(self.backend, chunk.len())
            );
            let mut q = sqlx::query_as::<_, (String, String, String, Option<String>, i64)>(&sql);
            for v in chunk {
                q = q.bind(v.as_str());
            }
            for (customer_id, tier_code, tags, birthday, pending) in
                q.fetch_all(self.read()).await?
            {
                out.push(MemberRow {
                    customer_id,
                    tier_code,
                    tags: serde_json::from_str(&tags)?,
                    birthday,
                    referral_pending: pending != 0,
                });
            }
        }
        Ok(out)
    }

    /// Which of these idempotency keys have a journal.
    pub async fn existing_journal_keys(&self, keys: &[String]) -> Result<Vec<String>, StoreError> {
        let mut found = Vec::new();
        for chunk in keys.chunks(PARAMS_MAX) {
            let sql = format!(
                "select idempotency_key from journal where idempotency_key in ({})",
                in_list(self.backend, chunk.len())
            );
            let mut q = sqlx::query_scalar::<_, String>(&sql);
            for k in chunk {
                q = q.bind(k.as_str());
            }
            found.extend(q.fetch_all(self.read()).await?);
        }
        Ok(found)
    }
}

/// Secondary indexes of the tables a bulk fill writes most. An index built once over
/// sorted keys costs a fraction of the same index kept up row by row at random places,
/// so a fill of an empty database drops them first and builds them at the end.
const BULK_INDEXES: &[(&str, &str)] = &[
    ("customer_phone", "customer (phone_idx)"),
    ("customer_name", "customer (name_idx)"),
    ("vehicle_plate", "vehicle (plate_idx)"),
    ("vehicle_customer", "vehicle (customer_id)"),
    ("card_customer", "card (customer_id)"),
    ("card_main", "card (main_card_id)"),
    ("transfer_journal", "transfer (journal_id)"),
    ("transfer_debit", "transfer (debit_account_id)"),
    ("transfer_credit", "transfer (credit_account_id)"),
    ("sale_customer", "sale (customer_id, occurred_at)"),
    ("sale_card", "sale (card_id, occurred_at)"),
    ("sale_station_time", "sale (station_id, occurred_at)"),
    ("sale_journal", "sale (journal_id)"),
    ("sale_time", "sale (occurred_at, sale_id)"),
    ("card_usage_card_time", "card_usage (card_id, occurred_at)"),
    ("recharge_card", "recharge (card_id, occurred_at)"),
];

impl crate::Store {
    /// Drops the indexes of [`BULK_INDEXES`] for a fill of an empty database. Nothing
    /// may read the database by them until [`Store::build_bulk_indexes`]; `Store::open`
    /// builds any that are missing, so a fill that dies half way leaves no database
    /// without them.
    pub async fn drop_bulk_indexes(&self) -> Result<(), StoreError> {
        for (name, _) in BULK_INDEXES {
            sqlx::query(&format!("drop index if exists {name}"))
                .execute(&self.write)
                .await?;
        }
        Ok(())
    }

    /// Builds the indexes of [`BULK_INDEXES`] that are missing.
    /// Returns how many it built. On PostgreSQL, the planner's statistics are refreshed
    /// after a build (a fill has just changed every table), and only then: a database
    /// that has its indexes opens without reading its tables.
    pub async fn build_bulk_indexes(&self) -> Result<usize, StoreError> {
        let exists = match self.backend {
            Backend::Sqlite => "select count(*) from sqlite_master where type = 'index' and name = $1",
            Backend::Postgres => "select count(*) from pg_indexes where schemaname = current_schema() and indexname = $1",
        };
        let mut built = 0;
        for (name, on) in BULK_INDEXES {
            let n: i64 = sqlx::query_scalar(exists)
                .bind(*name)
                .fetch_one(&self.write)
                .await?;
            if n > 0 {
                continue;
            }
            sqlx::query(&format!("create index if not exists {name} on {on}"))
                .execute(&self.write)
                .await?;
            built += 1;
        }
        if built > 0 && self.backend == Backend::Postgres {
            sqlx::query("analyze").execute(&self.write).await?;
        }
        Ok(built)
    }
}

#[cfg(test)]
mod tests {
    use super::bulk_vehicle_id;

    #[test]
    fn bulk_vehicle_ids_are_reproducible_uuids() {
        let customer = "0192f0c4-7c1e-7a51-9a2e-3f6a1b2c3d4e";
        let at_us = 1_763_598_600_000_000;
        let first = bulk_vehicle_id(customer, 0, at_us);
        let id = uuid::Uuid::parse_str(&first).expect("a UUID");
        assert_eq!(id.get_version_num(), 7);
        assert_eq!(first, bulk_vehicle_id(customer, 0, at_us));
        assert_ne!(first, bulk_vehicle_id(customer, 1, at_us));
        assert_ne!(
            first,
            bulk_vehicle_id("0192f0c4-7c1e-7a51-9a2e-3f6a1b2c3d4f", 0, at_us)
        );
    }
}
