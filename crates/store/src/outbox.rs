//! The job runner's and the outbox's tables: background work (`job`) and outgoing
//! messages (`message`).
//!
//! Both are written through the caller's [`Tx`], in the same transaction as the change
//! that causes them, so that a committed change always has its jobs and messages and a
//! rolled-back one has none. Workers take due rows with a *claim*: one statement that
//! moves the rows to `running`/`sending`, counts the attempt and stamps a fresh lease
//! token and a lease end. Only the holder of the current token may finish a row; a row
//! whose lease ran out (its worker died) is claimable again. On PostgreSQL the claim's
//! inner select takes `for update skip locked`, so concurrent workers pass each other
//! instead of waiting; SQLite has one writer, which serialises claims by itself.

use crate::personal::{seal, unseal, unseal_opt};
use crate::{new_id, now_us, Backend, Store, StoreError, Tx};
use sqlx::Row;
use std::fmt;

/// How a message travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Channel {
    Email,
    Sms,
    /// The member portal's inbox: a message is delivered by being there.
    Inbox,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Email => "email",
            Channel::Sms => "sms",
            Channel::Inbox => "inbox",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "email" => Some(Channel::Email),
            "sms" => Some(Channel::Sms),
            "inbox" => Some(Channel::Inbox),
            _ => None,
        }
    }
}

impl fmt::Display for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A message to enqueue.
#[derive(Debug, Clone)]
pub struct NewMessage {
    pub channel: Channel,
    /// Whom it is for: a customer id, `staff:{user_id}`, or `address:{address}` for a
    /// bare address (the operator's test batch). With `cause` and `channel`
    /// it identifies the message: enqueuing the same three again is a no-op.
    pub recipient: String,
    /// The customer, when the recipient is one (needed for the inbox).
    pub customer_id: Option<String>,
    /// The email address or phone number; none for the inbox.
    pub address: Option<String>,
    pub subject: Option<String>,
    pub body: String,
    /// What caused it, e.g. `ticket:ID:escalation:2`.
    pub cause: String,
    /// Attempts before the message is `dead`.
    pub max_attempts: i64,
}

/// What enqueuing a message did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Enqueued {
    pub id: String,
    /// False when the (cause, recipient, channel) was there already: nothing was
    /// written and `id` is the existing message's.
    pub inserted: bool,
}

/// A message as stored, personal fields opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// The stable id: the email's Message-ID and the SMS gateway's `id`.
    pub message_id: String,
    pub channel: Channel,
    pub recipient: String,
    pub customer_id: Option<String>,
    pub address: Option<String>,
    pub subject: Option<String>,
    pub body: String,
    pub cause: String,
    /// queued | sending | sent | failed | dead
    pub state: String,
    pub attempts: i64,
    pub max_attempts: i64,
    pub next_attempt_at: i64,
    /// The token of the claim that holds it (while `sending`).
    pub lease_token: Option<String>,
    pub last_error: Option<String>,
    pub provider_id: Option<String>,
    pub sent_at: Option<i64>,
    pub read_at: Option<i64>,
    pub created_at: i64,
    /// marketing | transactional (the contact rules, `forecourt_core::contact`).
    pub kind: String,
    /// Not delivered after this moment: dropped with the reason `expired`.
    pub expires_at: Option<i64>,
}

/// How a message is to be delivered: what it is for, when first, and until when.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delivery {
    /// `marketing` or `transactional`.
    pub kind: &'static str,
    /// Not claimed before this moment (µs).
    pub not_before: i64,
    pub expires_at: Option<i64>,
}

/// A job to enqueue.
#[derive(Debug, Clone)]
pub struct NewJob {
    /// Selects the handler.
    pub kind: String,
    /// JSON for the handler.
    pub payload: String,
    /// Not run before this moment (µs).
    pub run_at: i64,
    /// Enqueuing the same key again is a no-op.
    pub unique_key: Option<String>,
    pub max_attempts: i64,
}

/// A claimed job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    pub job_id: String,
    pub kind: String,
    pub payload: String,
    /// Attempts including this one.
    pub attempts: i64,
    pub max_attempts: i64,
    pub lease_token: String,
}

/// How many messages are in one channel and state, for the console.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxCount {
    pub channel: String,
    pub state: String,
    pub count: i64,
}

/// A message of a member's inbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboxItem {
    pub message_id: String,
    pub subject: Option<String>,
    pub body: String,
    pub created_at: i64,
    pub read_at: Option<i64>,
}

const MESSAGE_COLS: &str = "message_id, channel, recipient, customer_id, address_enc, subject_enc, body_enc, cause, state, attempts, max_attempts, next_attempt_at, lease_token, last_error, provider_id, sent_at, read_at, created_at, kind, expires_at";

fn message_row(store_vault: &crate::Vault, r: &sqlx::any::AnyRow) -> Result<Message, StoreError> {
    let id: String = r.try_get(0)?;
    let channel: String = r.try_get(1)?;
    Ok(Message {
        channel: Channel::parse(&channel)
            .ok_or_else(|| StoreError::Corrupt(format!("message {id} has channel {channel}")))?,
        recipient: r.try_get(2)?,
        customer_id: r.try_get(3)?,
        address: unseal_opt(store_vault, "message.address", &id, r.try_get(4)?)?,
        subject: unseal_opt(store_vault, "message.subject", &id, r.try_get(5)?)?,
        body: unseal(
            store_vault,
            "message.body",
            &id,
            &r.try_get::<String, _>(6)?,
        )?,
        cause: r.try_get(7)?,
        state: r.try_get(8)?,
        attempts: r.try_get(9)?,
        max_attempts: r.try_get(10)?,
        next_attempt_at: r.try_get(11)?,
        lease_token: r.try_get(12)?,
        last_error: r.try_get(13)?,
        provider_id: r.try_get(14)?,
        sent_at: r.try_get(15)?,
        read_at: r.try_get(16)?,
        created_at: r.try_get(17)?,
        kind: r.try_get(18)?,
        expires_at: r.try_get(19)?,
        message_id: id,
    })
}

/// `$first, $first+1, …` for `n` values.
fn placeholders(first: usize, n: usize) -> String {
    (first..first + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Longest error text kept on a row: a gateway may answer with a whole page.
const ERROR_MAX: usize = 500;

fn clip(error: &str) -> String {
    error.chars().take(ERROR_MAX).collect()
}

impl Tx {
    /// Enqueues a message in this transaction, once per (cause, recipient, channel):
    /// the second time nothing is written and the first message's id is returned.
    /// Inbox messages are delivered by being stored: they are `sent` at once.
    pub async fn enqueue_message(
        &mut self,
        m: &NewMessage,
        now: i64,
    ) -> Result<Enqueued, StoreError> {
        self.enqueue_message_with(
            m,
            &Delivery {
                kind: "transactional",
                not_before: now,
                expires_at: None,
            },
            now,
        )
        .await
    }

    /// [`Tx::enqueue_message`] with its kind, its first moment and its expiry. Callers
    /// other than the contact rules (`forecourt_app::contact`) use `enqueue_message`.
    pub async fn enqueue_message_with(
        &mut self,
        m: &NewMessage,
        d: &Delivery,
        now: i64,
    ) -> Result<Enqueued, StoreError> {
        let id = new_id();
        let vault = self.vault.clone();
        let inbox = m.channel == Channel::Inbox;
        let n = sqlx::query(
            "insert into message (message_id, channel, recipient, customer_id, address_enc, subject_enc, body_enc, cause, state, attempts, max_attempts, next_attempt_at, sent_at, created_at, kind, expires_at) \
             values ($1, $2, $3, $4, $5, $6, $7, $8, $9, 0, $10, $11, $12, $13, $14, $15) on conflict (cause, recipient, channel) do nothing",
        )
        .bind(&id)
        .bind(m.channel.as_str())
        .bind(&m.recipient)
        .bind(&m.customer_id)
        .bind(m.address.as_deref().map(|a| seal(&vault, "message.address", &id, a)))
        .bind(m.subject.as_deref().map(|s| seal(&vault, "message.subject", &id, s)))
        .bind(seal(&vault, "message.body", &id, &m.body))
        .bind(&m.cause)
        .bind(if inbox { "sent" } else { "queued" })
        .bind(m.max_attempts)
        .bind(d.not_before.max(now))
        .bind(inbox.then_some(now))
        .bind(now)
        .bind(d.kind)
        .bind(d.expires_at)
        .execute(&mut *self.tx)
        .await?
        .rows_affected();
        if n == 1 {
            return Ok(Enqueued { id, inserted: true });
        }
        let existing: String = sqlx::query_scalar(
            "select message_id from message where cause = $1 and recipient = $2 and channel = $3",
        )
        .bind(&m.cause)
        .bind(&m.recipient)
        .bind(m.channel.as_str())
        .fetch_one(&mut *self.tx)
        .await?;
        Ok(Enqueued {
            id: existing,
            inserted: false,
        })
    }

    /// Enqueues a job in this transaction; with a `unique_key` already used, nothing is
    /// written and the existing job's id is returned (with `false`).
    pub async fn enqueue_job(
        &mut self,
        job: &NewJob,
        now: i64,
    ) -> Result<(String, bool), StoreError> {
        let id = new_id();
        let n = sqlx::query(
            "insert into job (job_id, kind, payload, unique_key, state, run_at, attempts, max_attempts, created_at, updated_at) \
             values ($1, $2, $3, $4, 'queued', $5, 0, $6, $7, $8) on conflict (unique_key) do nothing",
        )
        .bind(&id)
        .bind(&job.kind)
        .bind(&job.payload)
        .bind(&job.unique_key)
        .bind(job.run_at)
        .bind(job.max_attempts)
        .bind(now)
        .bind(now)
        .execute(&mut *self.tx)
        .await?
        .rows_affected();
        if n == 1 {
            return Ok((id, true));
        }
        let existing: String = sqlx::query_scalar("select job_id from job where unique_key = $1")
            .bind(&job.unique_key)
            .fetch_one(&mut *self.tx)
            .await?;
        Ok((existing, false))
    }

    /// Marks a claimed job done in the transaction of its effects, so that both commit
    /// or neither does. False when the claim is no longer the job's (its lease ran out
    /// and another worker took it): the caller must roll back.
    pub async fn finish_job(
        &mut self,
        job_id: &str,
        lease_token: &str,
        now: i64,
    ) -> Result<bool, StoreError> {
        let n = sqlx::query(
            "update job set state = 'done', finished_at = $1, updated_at = $2, lease_token = null, locked_until = null, last_error = null \
             where job_id = $3 and lease_token = $4 and state = 'running'",
        )
        .bind(now)
        .bind(now)
        .bind(job_id)
        .bind(lease_token)
        .execute(&mut *self.tx)
        .await?
        .rows_affected();
        Ok(n == 1)
    }
}

impl Store {
    /// Claims up to `limit` due messages of the given channels for `lease_us`: queued
    /// ones and failed ones whose next attempt is due, oldest due first, and those
    /// whose claim's lease ran out. Each claim counts an attempt. A message whose lease
    /// ran out on its last attempt is `dead` instead.
    pub async fn claim_messages(
        &self,
        channels: &[Channel],
        limit: i64,
        lease_us: i64,
        now: i64,
    ) -> Result<Vec<Message>, StoreError> {
        if channels.is_empty() || limit <= 0 {
            return Ok(Vec::new());
        }
        let mut tx = self.begin().await?;
        sqlx::query(
            "update message set state = 'dead', lease_token = null, locked_until = null, last_error = 'its worker stopped during the last attempt' \
             where state = 'sending' and locked_until <= $1 and attempts >= max_attempts",
        )
        .bind(now)
        .execute(&mut *tx.tx)
        .await?;
        let skip_locked = match self.backend() {
            Backend::Postgres => "for update skip locked",
            Backend::Sqlite => "",
        };
        let sql = format!(
            "update message set state = 'sending', attempts = attempts + 1, lease_token = $1, locked_until = $2 \
             where message_id in (select message_id from message \
               where channel in ({}) and ((state in ('queued', 'failed') and next_attempt_at <= $3) or (state = 'sending' and locked_until <= $4)) \
               order by next_attempt_at, message_id limit $5 {skip_locked}) \
             returning {MESSAGE_COLS}",
            placeholders(6, channels.len())
        );
        let token = new_id();
        let mut q = sqlx::query(&sql)
            .bind(&token)
            .bind(now + lease_us)
            .bind(now)
            .bind(now)
            .bind(limit);
        for c in channels {
            q = q.bind(c.as_str());
        }
        let rows = q.fetch_all(&mut *tx.tx).await?;
        tx.commit().await?;
        let mut out = rows
            .iter()
            .map(|r| message_row(self.vault(), r))
            .collect::<Result<Vec<_>, _>>()?;
        out.sort_by(|a, b| {
            (a.next_attempt_at, &a.message_id).cmp(&(b.next_attempt_at, &b.message_id))
        });
        Ok(out)
    }

    /// Records a delivery under the claim `lease_token`. False when the claim is no
    /// longer the message's (a later claim will send it again, with the same id).
    pub async fn message_sent(
        &self,
        message_id: &str,
        lease_token: &str,
        provider_id: Option<&str>,
        now: i64,
    ) -> Result<bool, StoreError> {
        let n = sqlx::query(
            "update message set state = 'sent', sent_at = $1, provider_id = $2, lease_token = null, locked_until = null, last_error = null \
             where message_id = $3 and lease_token = $4 and state = 'sending'",
        )
        .bind(now)
        .bind(provider_id)
        .bind(message_id)
        .bind(lease_token)
        .execute(&self.write)
        .await?
        .rows_affected();
        Ok(n == 1)
    }

    /// Records a failed attempt under the claim `lease_token`: the message is tried
    /// again at `retry_at`, or is `dead` when that is `None`.
    pub async fn message_failed(
        &self,
        message_id: &str,
        lease_token: &str,
        error: &str,
        retry_at: Option<i64>,
    ) -> Result<bool, StoreError> {
        let (state, next) = match retry_at {
            Some(at) => ("failed", at),
            None => ("dead", now_us()),
        };
        let n = sqlx::query(
            "update message set state = $1, next_attempt_at = $2, last_error = $3, lease_token = null, locked_until = null \
             where message_id = $4 and lease_token = $5 and state = 'sending'",
        )
        .bind(state)
        .bind(next)
        .bind(clip(error))
        .bind(message_id)
        .bind(lease_token)
        .execute(&self.write)
        .await?
        .rows_affected();
        Ok(n == 1)
    }

    /// One message by its id.
    pub async fn message(&self, message_id: &str) -> Result<Option<Message>, StoreError> {
        let sql = format!("select {MESSAGE_COLS} from message where message_id = $1");
        let row = sqlx::query(&sql)
            .bind(message_id)
            .fetch_optional(self.read())
            .await?;
        row.as_ref()
            .map(|r| message_row(self.vault(), r))
            .transpose()
    }

    /// The messages of one cause (one per recipient and channel), by recipient.
    pub async fn messages_of_cause(&self, cause: &str) -> Result<Vec<Message>, StoreError> {
        let sql = format!(
            "select {MESSAGE_COLS} from message where cause = $1 order by recipient, channel"
        );
        let rows = sqlx::query(&sql).bind(cause).fetch_all(self.read()).await?;
        rows.iter().map(|r| message_row(self.vault(), r)).collect()
    }

    /// Messages per channel and state.
    pub async fn outbox_counts(&self) -> Result<Vec<OutboxCount>, StoreError> {
        let rows = sqlx::query(
            "select channel, state, count(*) from message group by channel, state order by channel, state",
        )
        .fetch_all(self.read())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(OutboxCount {
                    channel: r.try_get(0)?,
                    state: r.try_get(1)?,
                    count: r.try_get(2)?,
                })
            })
            .collect()
    }

    /// A member's inbox, newest first.
    pub async fn inbox(&self, customer_id: &str, limit: i64) -> Result<Vec<InboxItem>, StoreError> {
        let rows = sqlx::query(
            "select message_id, subject_enc, body_enc, created_at, read_at from message \
             where customer_id = $1 and channel = 'inbox' order by created_at desc, message_id desc limit $2",
        )
        .bind(customer_id)
        .bind(limit)
        .fetch_all(self.read())
        .await?;
        rows.iter()
            .map(|r| {
                let id: String = r.try_get(0)?;
                Ok(InboxItem {
                    subject: unseal_opt(self.vault(), "message.subject", &id, r.try_get(1)?)?,
                    body: unseal(
                        self.vault(),
                        "message.body",
                        &id,
                        &r.try_get::<String, _>(2)?,
                    )?,
                    created_at: r.try_get(3)?,
                    read_at: r.try_get(4)?,
                    message_id: id,
                })
            })
            .collect()
    }

    /// One message of a member's own inbox; `None` when it is not theirs or not an
    /// inbox message.
    pub async fn inbox_item(
        &self,
        customer_id: &str,
        message_id: &str,
    ) -> Result<Option<InboxItem>, StoreError> {
        let row = sqlx::query(
            "select message_id, subject_enc, body_enc, created_at, read_at from message \
             where message_id = $1 and customer_id = $2 and channel = 'inbox'",
        )
        .bind(message_id)
        .bind(customer_id)
        .fetch_optional(self.read())
        .await?;
        row.map(|r| {
            let id: String = r.try_get(0)?;
            Ok(InboxItem {
                subject: unseal_opt(self.vault(), "message.subject", &id, r.try_get(1)?)?,
                body: unseal(
                    self.vault(),
                    "message.body",
                    &id,
                    &r.try_get::<String, _>(2)?,
                )?,
                created_at: r.try_get(3)?,
                read_at: r.try_get(4)?,
                message_id: id,
            })
        })
        .transpose()
    }

    /// How many messages of a member's inbox are unread.
    pub async fn inbox_unread(&self, customer_id: &str) -> Result<i64, StoreError> {
        let n: i64 = sqlx::query_scalar(
            "select count(*) from message where customer_id = $1 and channel = 'inbox' and read_at is null",
        )
        .bind(customer_id)
        .fetch_one(self.read())
        .await?;
        Ok(n)
    }

    /// Marks a message of a member's own inbox read (the first time only). False when
    /// it is not theirs or not an inbox message.
    pub async fn mark_inbox_read(
        &self,
        customer_id: &str,
        message_id: &str,
        now: i64,
    ) -> Result<bool, StoreError> {
        let n = sqlx::query(
            "update message set read_at = coalesce(read_at, $1) where message_id = $2 and customer_id = $3 and channel = 'inbox'",
        )
        .bind(now)
        .bind(message_id)
        .bind(customer_id)
        .execute(&self.write)
        .await?
        .rows_affected();
        Ok(n == 1)
    }

    /// Claims up to `limit` due jobs of the given kinds for `lease_us`, like
    /// [`Store::claim_messages`].
    pub async fn claim_jobs(
        &self,
        kinds: &[&str],
        limit: i64,
        lease_us: i64,
        now: i64,
    ) -> Result<Vec<Job>, StoreError> {
        if kinds.is_empty() || limit <= 0 {
            return Ok(Vec::new());
        }
        let mut tx = self.begin().await?;
        sqlx::query(
            "update job set state = 'dead', lease_token = null, locked_until = null, updated_at = $1, last_error = 'its worker stopped during the last attempt' \
             where state = 'running' and locked_until <= $2 and attempts >= max_attempts",
        )
        .bind(now)
        .bind(now)
        .execute(&mut *tx.tx)
        .await?;
        let skip_locked = match self.backend() {
            Backend::Postgres => "for update skip locked",
            Backend::Sqlite => "",
        };
        let sql = format!(
            "update job set state = 'running', attempts = attempts + 1, lease_token = $1, locked_until = $2, updated_at = $3 \
             where job_id in (select job_id from job \
               where kind in ({}) and ((state = 'queued' and run_at <= $4) or (state = 'running' and locked_until <= $5)) \
               order by run_at, job_id limit $6 {skip_locked}) \
             returning job_id, kind, payload, attempts, max_attempts, run_at",
            placeholders(7, kinds.len())
        );
        let token = new_id();
        let mut q = sqlx::query(&sql)
            .bind(&token)
            .bind(now + lease_us)
            .bind(now)
            .bind(now)
            .bind(now)
            .bind(limit);
        for k in kinds {
            q = q.bind(*k);
        }
        let rows = q.fetch_all(&mut *tx.tx).await?;
        tx.commit().await?;
        let mut jobs = rows
            .iter()
            .map(|r| {
                Ok((
                    r.try_get::<i64, _>(5)?,
                    Job {
                        job_id: r.try_get(0)?,
                        kind: r.try_get(1)?,
                        payload: r.try_get(2)?,
                        attempts: r.try_get(3)?,
                        max_attempts: r.try_get(4)?,
                        lease_token: token.clone(),
                    },
                ))
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        jobs.sort_by(|a, b| (a.0, &a.1.job_id).cmp(&(b.0, &b.1.job_id)));
        Ok(jobs.into_iter().map(|(_, j)| j).collect())
    }

    /// Records a failed run under the claim `lease_token`: the job runs again at
    /// `retry_at`, or is `dead` when that is `None`.
    pub async fn job_failed(
        &self,
        job_id: &str,
        lease_token: &str,
        error: &str,
        retry_at: Option<i64>,
        now: i64,
    ) -> Result<bool, StoreError> {
        let (state, run_at) = match retry_at {
            Some(at) => ("queued", Some(at)),
            None => ("dead", None),
        };
        let n = sqlx::query(
            "update job set state = $1, run_at = coalesce($2, run_at), last_error = $3, updated_at = $4, lease_token = null, locked_until = null, \
             finished_at = case when $5 = 'dead' then $6 else null end \
             where job_id = $7 and lease_token = $8 and state = 'running'",
        )
        .bind(state)
        .bind(run_at)
        .bind(clip(error))
        .bind(now)
        .bind(state)
        .bind(now)
        .bind(job_id)
        .bind(lease_token)
        .execute(&self.write)
        .await?
        .rows_affected();
        Ok(n == 1)
    }

    /// A job's state, attempts and last error.
    pub async fn job_state(
        &self,
        job_id: &str,
    ) -> Result<Option<(String, i64, Option<String>)>, StoreError> {
        let row = sqlx::query("select state, attempts, last_error from job where job_id = $1")
            .bind(job_id)
            .fetch_optional(self.read())
            .await?;
        row.map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?)))
            .transpose()
    }
}
