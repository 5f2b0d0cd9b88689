//! Deferred writes: on PostgreSQL the writes of a sale are sent as one statement.
//!
//! Between [`Tx::defer_writes`] and [`Tx::flush`], the write methods that support it
//! (the journal, its transfers and account updates, the sale and its lines and
//! payments, points lots and caps, card usage, the stored POS answer) do not run:
//! they are queued. `flush` sends the queue as one statement of data-modifying CTEs
//! (`with w0 as (insert … returning 1), w1 as (update … returning 1), … select
//! count(*) of each`) and checks the rows each one touched, as the method would have
//! checked them when run alone. One round trip replaces a dozen.
//!
//! On SQLite, which runs in-process and has no data-modifying CTEs, nothing is
//! deferred: each write runs at once, as before.
//!
//! The caller's contract: between `defer_writes` and `flush` it reads nothing that the
//! queued writes change (every statement of one PostgreSQL statement sees the same
//! snapshot), and it calls `flush` before the transaction commits. Writes queued in one
//! statement must not touch the same row twice.

use crate::bulk::{bind_all, Val};
use crate::{Backend, StoreError, Tx};
use forecourt_core::DomainError;
use sqlx::Row;

/// What a write must have touched, and the error when it did not.
#[derive(Debug, Clone)]
pub(crate) enum Expect {
    /// Any number of rows.
    Any,
    /// Exactly this many rows, else an account would break its policy (the callers'
    /// row locks make this unreachable; refused rather than overdrawn).
    Balance { rows: u64, needed: i64 },
    /// Exactly one row, else the unit is refused with this code: the row's guard (a
    /// coupon still issued, an authorisation still pending) no longer held because
    /// another unit got there first.
    One {
        code: &'static str,
        message: &'static str,
    },
}

#[derive(Debug, Clone)]
pub(crate) struct Deferred {
    sql: String,
    binds: Vec<Val>,
    expect: Expect,
}

fn check(expect: &Expect, rows: u64) -> Result<(), StoreError> {
    match expect {
        Expect::Any => Ok(()),
        Expect::Balance { rows: want, .. } if *want == rows => Ok(()),
        Expect::One { .. } if rows == 1 => Ok(()),
        Expect::One { code, message } => {
            Err(StoreError::Domain(DomainError::refused(code, *message)))
        }
        Expect::Balance { needed, .. } => {
            Err(StoreError::Domain(DomainError::InsufficientBalance {
                available: forecourt_core::Fen(0),
                needed: forecourt_core::Fen(*needed),
            }))
        }
    }
}

/// `sql` with every `$N` placeholder moved up by `offset`.
fn renumber(sql: &str, offset: usize) -> String {
    let mut out = String::with_capacity(sql.len() + 16);
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        out.push(c);
        if c == '$' {
            let mut n = String::new();
            while let Some(d) = chars.peek().filter(|d| d.is_ascii_digit()) {
                n.push(*d);
                chars.next();
            }
            match n.parse::<usize>() {
                Ok(n) => out.push_str(&(n + offset).to_string()),
                Err(_) => out.push_str(&n),
            }
        }
    }
    out
}

impl Tx {
    /// Queues the writes that support it until [`Tx::flush`] (PostgreSQL only; on
    /// SQLite writes run at once).
    pub fn defer_writes(&mut self) {
        if self.backend == Backend::Postgres {
            self.deferred.get_or_insert_with(Vec::new);
        }
    }

    /// Runs a write now, or queues it while writes are deferred.
    pub(crate) async fn exec(
        &mut self,
        sql: impl Into<String>,
        binds: Vec<Val>,
        expect: Expect,
    ) -> Result<(), StoreError> {
        let sql = sql.into();
        if let Some(queue) = &mut self.deferred {
            queue.push(Deferred { sql, binds, expect });
            return Ok(());
        }
        let rows = bind_all(sqlx::query(&sql), &binds)
            .execute(&mut *self.tx)
            .await?
            .rows_affected();
        check(&expect, rows)
    }

    /// Sends the queued writes as one statement and ends deferring.
    pub async fn flush(&mut self) -> Result<(), StoreError> {
        let Some(queue) = self.deferred.take() else {
            return Ok(());
        };
        match queue.len() {
            0 => Ok(()),
            1 => {
                let d = queue.into_iter().next().expect("one write");
                self.exec(d.sql, d.binds, d.expect).await
            }
            _ => {
                let mut ctes = Vec::with_capacity(queue.len());
                let mut counts = Vec::with_capacity(queue.len());
                let mut offset = 0;
                for (i, d) in queue.iter().enumerate() {
                    ctes.push(format!(
                        "w{i} as ({} returning 1)",
                        renumber(&d.sql, offset)
                    ));
                    counts.push(format!("(select count(*) from w{i})"));
                    offset += d.binds.len();
                }
                let sql = format!("with {} select {}", ctes.join(", "), counts.join(", "));
                let binds: Vec<Val> = queue.iter().flat_map(|d| d.binds.clone()).collect();
                let row = bind_all(sqlx::query(&sql), &binds)
                    .fetch_one(&mut *self.tx)
                    .await?;
                for (i, d) in queue.iter().enumerate() {
                    let n: i64 = row.try_get(i)?;
                    check(&d.expect, n as u64)?;
                }
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::renumber;

    #[test]
    fn placeholders_move_up_and_nothing_else_changes() {
        assert_eq!(
            renumber("insert into t (a, b) values ($1, $2), ($3, 'x$')", 10),
            "insert into t (a, b) values ($11, $12), ($13, 'x$')"
        );
        assert_eq!(renumber("select 1", 5), "select 1");
    }
}
