//! Guess counters: the wrong-PIN count of a card and the wrong-password counts of staff
//! users and portal members, kept so that parallel attempts can never judge more secrets
//! than the limit.
//!
//! A try is *reserved* before its secret is judged: one conditional update that adds one
//! to the count only while the counter is open and returns the count, committed on its
//! own. Two attempts can never take the same place, because the row's write lock (on
//! PostgreSQL, where the second update waits and then re-checks its condition on the
//! row as the first left it) or the single writer (on SQLite) orders them. A try judged
//! wrong keeps its place; a try judged right gives back only its own place
//! ([`Store::release_guess`]), never the places of tries made before or beside it, so
//! no interleaving of attempts lets more than `max` wrong secrets be judged.

use crate::{Store, StoreError};

/// Which secret a counter counts guesses of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Guesses {
    /// A card's PIN (`card.pin_failures`, by card id). It stays locked at the limit until
    /// staff set or reset the PIN.
    CardPin,
    /// A staff user's password (`staff_user`, by user id), locked for a while at the
    /// limit.
    StaffPassword,
    /// A member's portal password (`member_credential`, by customer id), locked for a
    /// while at the limit.
    MemberPassword,
}

impl Guesses {
    /// The table, its key column and its count column.
    fn columns(self) -> (&'static str, &'static str, &'static str) {
        match self {
            Guesses::CardPin => ("card", "card_id", "pin_failures"),
            Guesses::StaffPassword => ("staff_user", "user_id", "failed_logins"),
            Guesses::MemberPassword => ("member_credential", "customer_id", "failed_logins"),
        }
    }
}

/// A reserved try.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reserved {
    /// The count with this try in it (1 for the first try since the count was cleared).
    pub count: i64,
    /// This try reached the limit: the counter is locked from now on (until it is
    /// cleared or, for passwords, until the lock's time runs out), whatever the judgement.
    pub locks: bool,
}

impl Store {
    /// Reserves one try of `id`'s secret, in its own committed transaction, before the
    /// secret is judged. `None` when the counter is locked: nothing may be judged.
    ///
    /// A PIN counter is open while its count is below `max`. A password counter is open
    /// while it is not locked; the try that reaches `max` locks it until `lock_until`,
    /// and the first try after a lock ran out (`locked_until <= now`) starts a new count.
    pub async fn reserve_guess(
        &self,
        counter: Guesses,
        id: &str,
        max: i64,
        now: i64,
        lock_until: i64,
    ) -> Result<Option<Reserved>, StoreError> {
        let (table, key, n) = counter.columns();
        let mut tx = self.begin().await?;
        let count: Option<i64> = match counter {
            Guesses::CardPin => {
                sqlx::query_scalar(&format!(
                    "update {table} set {n} = {n} + 1 where {key} = $1 and {n} < $2 returning {n}"
                ))
                .bind(id)
                .bind(max)
                .fetch_optional(&mut *tx.tx)
                .await?
            }
            Guesses::StaffPassword | Guesses::MemberPassword => {
                // Every expression of an update's `set` reads the row as it was, so
                // `next` is written twice rather than referred to.
                let next = format!(
                    "(case when locked_until is not null and locked_until <= $2 then 1 else {n} + 1 end)"
                );
                sqlx::query_scalar(&format!(
                    "update {table} set {n} = {next}, \
                     locked_until = case when {next} >= $3 then $4 else null end \
                     where {key} = $1 and (locked_until is null or locked_until <= $2) returning {n}"
                ))
                .bind(id)
                .bind(now)
                .bind(max)
                .bind(lock_until)
                .fetch_optional(&mut *tx.tx)
                .await?
            }
        };
        tx.commit().await?;
        Ok(count.map(|count| Reserved {
            count,
            locks: count >= max,
        }))
    }

    /// Gives back the one try a right secret reserved, in its own committed transaction:
    /// the count goes down by one (never below zero) and a password lock this try set is
    /// lifted, since the count is below `max` again. Tries made before or beside it stay
    /// counted.
    pub async fn release_guess(
        &self,
        counter: Guesses,
        id: &str,
        max: i64,
    ) -> Result<(), StoreError> {
        let (table, key, n) = counter.columns();
        let mut tx = self.begin().await?;
        match counter {
            Guesses::CardPin => {
                sqlx::query(&format!(
                    "update {table} set {n} = {n} - 1 where {key} = $1 and {n} > 0"
                ))
                .bind(id)
                .execute(&mut *tx.tx)
                .await?;
            }
            Guesses::StaffPassword | Guesses::MemberPassword => {
                sqlx::query(&format!(
                    "update {table} set {n} = {n} - 1, \
                     locked_until = case when {n} - 1 < $2 then null else locked_until end \
                     where {key} = $1 and {n} > 0"
                ))
                .bind(id)
                .bind(max)
                .execute(&mut *tx.tx)
                .await?;
            }
        }
        tx.commit().await
    }
}
