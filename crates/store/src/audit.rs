//! The audit log: who read or changed which customer, card, balance, rule or user, when
//! and from where. Append-only (the database refuses updates and deletes) and
//! hash-chained: each row's hash covers its fields and the previous row's hash, so
//! changing, removing or reordering any past row breaks the chain, which
//! [`Store::verify_audit`] finds.

use crate::{now_us, Store, StoreError, Tx};
use serde::Serialize;
use sha2::{Digest, Sha256};
use sqlx::Row;

/// One thing to record. `detail` is JSON and must hold no personal data.
#[derive(Debug, Clone)]
pub struct AuditEntry<'a> {
    pub actor: &'a str,
    pub action: &'a str,
    pub target_kind: &'a str,
    pub target_id: Option<&'a str>,
    pub source: Option<&'a str>,
    pub detail: serde_json::Value,
}

/// A stored row.
#[derive(Debug, Clone, Serialize)]
pub struct AuditRow {
    pub seq: i64,
    pub at: i64,
    pub actor: String,
    pub action: String,
    pub target_kind: String,
    pub target_id: Option<String>,
    pub source: Option<String>,
    pub detail: String,
    pub prev_hash: String,
    pub hash: String,
}

/// What `audit verify` found.
#[derive(Debug, Clone, Serialize)]
pub struct AuditReport {
    pub rows: i64,
    /// The first row whose hash or link does not match, and why.
    pub broken_at: Option<(i64, String)>,
}

#[allow(clippy::too_many_arguments)]
fn chain_hash(
    prev: &str,
    seq: i64,
    at: i64,
    actor: &str,
    action: &str,
    kind: &str,
    id: Option<&str>,
    source: Option<&str>,
    detail: &str,
) -> String {
    let mut h = Sha256::new();
    // Length-prefixed fields, so that no two different rows hash the same input.
    for field in [
        prev,
        &seq.to_string(),
        &at.to_string(),
        actor,
        action,
        kind,
        id.unwrap_or("\u{0}"),
        source.unwrap_or("\u{0}"),
        detail,
    ] {
        h.update((field.len() as u64).to_be_bytes());
        h.update(field.as_bytes());
    }
    hex::encode(h.finalize())
}

impl Tx {
    /// Appends an entry in this transaction, so that it commits or rolls back with the
    /// change it records.
    pub async fn audit(&mut self, e: &AuditEntry<'_>) -> Result<i64, StoreError> {
        // Taking the head row's lock serialises appends.
        sqlx::query("update audit_head set seq = seq + 1 where id = 1")
            .execute(&mut *self.tx)
            .await?;
        let head = sqlx::query("select seq, hash from audit_head where id = 1")
            .fetch_one(&mut *self.tx)
            .await?;
        let seq: i64 = head.try_get(0)?;
        let prev: String = head.try_get(1)?;
        let at = now_us();
        let detail = e.detail.to_string();
        let hash = chain_hash(
            &prev,
            seq,
            at,
            e.actor,
            e.action,
            e.target_kind,
            e.target_id,
            e.source,
            &detail,
        );
        sqlx::query(
            "insert into audit_log (seq, at, actor, action, target_kind, target_id, source, detail, prev_hash, hash) values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(seq)
        .bind(at)
        .bind(e.actor)
        .bind(e.action)
        .bind(e.target_kind)
        .bind(e.target_id)
        .bind(e.source)
        .bind(&detail)
        .bind(&prev)
        .bind(&hash)
        .execute(&mut *self.tx)
        .await?;
        sqlx::query("update audit_head set hash = $1 where id = 1")
            .bind(&hash)
            .execute(&mut *self.tx)
            .await?;
        Ok(seq)
    }
}

impl Store {
    /// Appends an entry in its own transaction (for reads, which change nothing else).
    pub async fn audit(&self, e: &AuditEntry<'_>) -> Result<i64, StoreError> {
        for _ in 0..20 {
            let attempt = async {
                let mut tx = self.begin().await?;
                let seq = tx.audit(e).await?;
                tx.commit().await?;
                Ok::<_, StoreError>(seq)
            };
            match attempt.await {
                Err(StoreError::Retry) => tokio::task::yield_now().await,
                other => return other,
            }
        }
        Err(StoreError::Retry)
    }

    /// The newest rows, newest first, optionally of one target.
    pub async fn audit_rows(
        &self,
        target_id: Option<&str>,
        limit: i64,
    ) -> Result<Vec<AuditRow>, StoreError> {
        self.audit_page(target_id, None, limit).await
    }

    /// The newest entries before sequence number `before` (all when `None`).
    pub async fn audit_page(
        &self,
        target_id: Option<&str>,
        before: Option<i64>,
        limit: i64,
    ) -> Result<Vec<AuditRow>, StoreError> {
        let rows = sqlx::query(
            "select seq, at, actor, action, target_kind, target_id, source, detail, prev_hash, hash from audit_log \
             where ($1 = '' or target_id = $1) and seq < $3 order by seq desc limit $2",
        )
        .bind(target_id.unwrap_or(""))
        .bind(limit)
        .bind(before.unwrap_or(i64::MAX))
        .fetch_all(self.read())
        .await?;
        rows.iter().map(row).collect()
    }

    /// Walks the whole chain in order and reports the first row that does not match.
    pub async fn verify_audit(&self) -> Result<AuditReport, StoreError> {
        const PAGE: i64 = 5_000;
        let mut prev = "0".repeat(64);
        let mut expected_seq = 1;
        let mut rows_seen = 0;
        loop {
            let page = sqlx::query(
                "select seq, at, actor, action, target_kind, target_id, source, detail, prev_hash, hash from audit_log where seq >= $1 order by seq limit $2",
            )
            .bind(expected_seq)
            .bind(PAGE)
            .fetch_all(self.read())
            .await?;
            if page.is_empty() {
                break;
            }
            for r in page.iter().map(row) {
                let r = r?;
                rows_seen += 1;
                let broken = |why: &str| {
                    Ok(AuditReport {
                        rows: rows_seen,
                        broken_at: Some((r.seq, why.to_string())),
                    })
                };
                if r.seq != expected_seq {
                    return broken("a row is missing before this one");
                }
                if r.prev_hash != prev {
                    return broken("it does not link to the row before");
                }
                let want = chain_hash(
                    &prev,
                    r.seq,
                    r.at,
                    &r.actor,
                    &r.action,
                    &r.target_kind,
                    r.target_id.as_deref(),
                    r.source.as_deref(),
                    &r.detail,
                );
                if want != r.hash {
                    return broken("its content does not match its hash");
                }
                prev = r.hash;
                expected_seq += 1;
            }
        }
        let head = sqlx::query("select seq, hash from audit_head where id = 1")
            .fetch_one(self.read())
            .await?;
        let (head_seq, head_hash): (i64, String) = (head.try_get(0)?, head.try_get(1)?);
        if head_seq != expected_seq - 1 || head_hash != prev {
            return Ok(AuditReport {
                rows: rows_seen,
                broken_at: Some((expected_seq, "rows after this point are missing".into())),
            });
        }
        Ok(AuditReport {
            rows: rows_seen,
            broken_at: None,
        })
    }
}

fn row(r: &sqlx::any::AnyRow) -> Result<AuditRow, StoreError> {
    Ok(AuditRow {
        seq: r.try_get(0)?,
        at: r.try_get(1)?,
        actor: r.try_get(2)?,
        action: r.try_get(3)?,
        target_kind: r.try_get(4)?,
        target_id: r.try_get(5)?,
        source: r.try_get(6)?,
        detail: r.try_get(7)?,
        prev_hash: r.try_get(8)?,
        hash: r.try_get(9)?,
    })
}
