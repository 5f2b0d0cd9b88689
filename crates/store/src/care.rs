//! Storage of the care automations (关怀): their settings, the members each one is due
//! for, and the tier each member had when the tier-change automation last looked. The
//! messages are outbox messages (`outbox.rs`) whose cause starts with `care:`.

use crate::personal::unseal;
use crate::{Store, StoreError, Tx};
use sqlx::Row;

/// One automation's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CareAutomationRow {
    pub kind: String,
    pub enabled: bool,
    /// inbox | sms
    pub channel: String,
    pub message: String,
    pub threshold: Option<i64>,
    pub updated_by: Option<String>,
    pub updated_at: i64,
}

/// A member a care message may go to: not erased, with marketing consent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CareRecipient {
    pub customer_id: String,
    pub name: String,
}

/// A card whose balance is under a threshold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LowCard {
    pub customer_id: String,
    pub card_id: String,
    pub card_no: String,
    pub balance_fen: i64,
}

/// A coupon of a member that lapses soon.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpiringCoupon {
    pub customer_id: String,
    pub coupon_id: String,
    pub amount_fen: i64,
    pub valid_until: i64,
}

/// A message a care automation sent (or queued).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CareMessageRow {
    pub customer_id: Option<String>,
    pub channel: String,
    pub state: String,
    pub cause: String,
    pub created_at: i64,
    pub sent_at: Option<i64>,
}

/// How many messages an automation sent, and when it last did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CareCount {
    pub kind: String,
    pub messages: i64,
    pub last_at: Option<i64>,
}

const COLS: &str = "kind, enabled, channel, message, threshold, updated_by, updated_at";

fn automation(r: &sqlx::any::AnyRow) -> Result<CareAutomationRow, StoreError> {
    Ok(CareAutomationRow {
        kind: r.try_get("kind")?,
        enabled: r.try_get::<i64, _>("enabled")? != 0,
        channel: r.try_get("channel")?,
        message: r.try_get("message")?,
        threshold: r.try_get("threshold")?,
        updated_by: r.try_get("updated_by")?,
        updated_at: r.try_get("updated_at")?,
    })
}

/// `$first, $first+1, …` for `n` values.
fn placeholders(first: usize, n: usize) -> String {
    (first..first + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

impl Store {
    /// Every automation's settings, in the order of their kinds.
    pub async fn care_automations(&self) -> Result<Vec<CareAutomationRow>, StoreError> {
        let sql = format!("select {COLS} from care_automation order by kind");
        let rows = sqlx::query(&sql).fetch_all(self.read()).await?;
        rows.iter().map(automation).collect()
    }

    /// The messages of each automation (by the prefix of their cause).
    pub async fn care_counts(&self) -> Result<Vec<CareCount>, StoreError> {
        let rows = sqlx::query(
            "select a.kind, count(m.message_id) as messages, max(m.created_at) as last_at \
             from care_automation a left join message m \
               on m.cause like 'care:' || a.kind || ':%' \
             group by a.kind order by a.kind",
        )
        .fetch_all(self.read())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(CareCount {
                    kind: r.try_get("kind")?,
                    messages: r.try_get("messages")?,
                    last_at: r.try_get("last_at")?,
                })
            })
            .collect()
    }

    /// The latest messages whose cause starts with `prefix`, newest first.
    pub async fn care_messages(
        &self,
        prefix: &str,
        limit: i64,
        offset: i64,
    ) -> Result<Vec<CareMessageRow>, StoreError> {
        let rows = sqlx::query(
            "select customer_id, channel, state, cause, created_at, sent_at from message \
             where cause like $1 order by created_at desc, message_id limit $2 offset $3",
        )
        .bind(format!("{prefix}%"))
        .bind(limit)
        .bind(offset)
        .fetch_all(self.read())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(CareMessageRow {
                    customer_id: r.try_get("customer_id")?,
                    channel: r.try_get("channel")?,
                    state: r.try_get("state")?,
                    cause: r.try_get("cause")?,
                    created_at: r.try_get("created_at")?,
                    sent_at: r.try_get("sent_at")?,
                })
            })
            .collect()
    }

    /// Members born on one of the `(month, day)` pairs (the year does not matter).
    pub async fn care_birthday_members(
        &self,
        days: &[(u32, u32)],
    ) -> Result<Vec<String>, StoreError> {
        if days.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "select customer_id from customer where birthday is not null \
             and substr(birthday, 6, 5) in ({}) order by customer_id",
            placeholders(1, days.len())
        );
        let mut q = sqlx::query_scalar(&sql);
        for (m, d) in days {
            q = q.bind(format!("{m:02}-{d:02}"));
        }
        Ok(q.fetch_all(self.read()).await?)
    }

    /// Members whose first sale was in `[from_us, until_us)`.
    pub async fn care_first_sales(
        &self,
        from_us: i64,
        until_us: i64,
    ) -> Result<Vec<String>, StoreError> {
        Ok(sqlx::query_scalar(
            "select customer_id from sale where customer_id is not null \
             group by customer_id having min(occurred_at) >= $1 and min(occurred_at) < $2 \
             order by customer_id",
        )
        .bind(from_us)
        .bind(until_us)
        .fetch_all(self.read())
        .await?)
    }

    /// Active personal cards, once recharged, whose balance (paid and bonus, less what
    /// is held) is under `below_fen`.
    pub async fn care_low_balances(&self, below_fen: i64) -> Result<Vec<LowCard>, StoreError> {
        let rows = sqlx::query(
            "select c.customer_id, c.card_id, c.card_no, \
                    cast(sum(a.credits_posted - a.debits_posted - a.debits_pending) as bigint) as balance \
             from card c join account a \
               on a.account_id = 'card:' || c.card_id || ':paid' \
               or a.account_id = 'card:' || c.card_id || ':bonus' \
             where c.kind = 'personal' and c.state = 'active' and c.customer_id is not null \
             group by c.customer_id, c.card_id, c.card_no \
             having sum(a.credits_posted) > 0 \
                and sum(a.credits_posted - a.debits_posted - a.debits_pending) < $1 \
             order by c.card_id",
        )
        .bind(below_fen)
        .fetch_all(self.read())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(LowCard {
                    customer_id: r.try_get("customer_id")?,
                    card_id: r.try_get("card_id")?,
                    card_no: r.try_get("card_no")?,
                    balance_fen: r.try_get("balance")?,
                })
            })
            .collect()
    }

    /// Members' unused coupons whose end falls in `(from_us, until_us]` (a coupon
    /// valid until midnight is still valid on the day before).
    pub async fn care_expiring_coupons(
        &self,
        from_us: i64,
        until_us: i64,
    ) -> Result<Vec<ExpiringCoupon>, StoreError> {
        let rows = sqlx::query(
            "select customer_id, coupon_id, amount_fen, valid_until from coupon \
             where state = 'issued' and customer_id is not null \
               and valid_until > $1 and valid_until <= $2 order by coupon_id",
        )
        .bind(from_us)
        .bind(until_us)
        .fetch_all(self.read())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(ExpiringCoupon {
                    customer_id: r.try_get("customer_id")?,
                    coupon_id: r.try_get("coupon_id")?,
                    amount_fen: r.try_get("amount_fen")?,
                    valid_until: r.try_get("valid_until")?,
                })
            })
            .collect()
    }

    /// Members whose tier differs from the one last seen, with that one (`None`: never
    /// seen).
    pub async fn care_tier_changes(
        &self,
    ) -> Result<Vec<(String, String, Option<String>)>, StoreError> {
        let rows = sqlx::query(
            "select c.customer_id, c.tier_code, s.tier_code as seen from customer c \
             left join care_tier_seen s on s.customer_id = c.customer_id \
             where c.anonymized_at is null and (s.tier_code is null or s.tier_code <> c.tier_code) \
             order by c.customer_id",
        )
        .fetch_all(self.read())
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?)))
            .collect()
    }

    /// Of `ids`, the members a care message may go to (not erased, with marketing
    /// consent), with their names opened (the contact rules read the address).
    pub async fn care_recipients(&self, ids: &[String]) -> Result<Vec<CareRecipient>, StoreError> {
        let mut out = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(500) {
            let sql = format!(
                "select customer_id, name_enc from customer \
                 where consent_marketing <> 0 and anonymized_at is null \
                 and customer_id in ({}) order by customer_id",
                placeholders(1, chunk.len())
            );
            let mut q = sqlx::query(&sql);
            for id in chunk {
                q = q.bind(id);
            }
            for r in q.fetch_all(self.read()).await? {
                let id: String = r.try_get(0)?;
                out.push(CareRecipient {
                    name: unseal(
                        self.vault(),
                        "customer.name",
                        &id,
                        &r.try_get::<String, _>(1)?,
                    )?,
                    customer_id: id,
                });
            }
        }
        Ok(out)
    }
}

impl Tx {
    /// Replaces an automation's settings; false when there is no such kind.
    pub async fn set_care_automation(&mut self, a: &CareAutomationRow) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "update care_automation set enabled = $2, channel = $3, message = $4, threshold = $5, \
             updated_by = $6, updated_at = $7 where kind = $1",
        )
        .bind(&a.kind)
        .bind(i64::from(a.enabled))
        .bind(&a.channel)
        .bind(&a.message)
        .bind(a.threshold)
        .bind(&a.updated_by)
        .bind(a.updated_at)
        .execute(&mut *self.tx)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Records the tier a member has now, as seen by the tier-change automation.
    pub async fn care_tier_seen(
        &mut self,
        customer_id: &str,
        tier_code: &str,
        now: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "insert into care_tier_seen (customer_id, tier_code, seen_at) values ($1, $2, $3) \
             on conflict (customer_id) do update set tier_code = excluded.tier_code, seen_at = excluded.seen_at",
        )
        .bind(customer_id)
        .bind(tier_code)
        .bind(now)
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }
}
