//! Marketing's tables (SPEC F7): segments, campaigns and the members each targeted,
//! the do-not-contact list, suppressed messages, and what the contact rules read about
//! a member under their lock.

use crate::personal::{seal, unseal_opt};
use crate::{new_id, Store, StoreError, Tx};
use sqlx::Row;

/// What the contact rules need about one member, read under the member's row lock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContactFacts {
    pub consent_marketing: bool,
    pub anonymized: bool,
    pub phone: Option<String>,
    pub email: Option<String>,
    /// The home station's time zone, when the member has one.
    pub time_zone: Option<String>,
}

/// One member as segments see them (profile fields; behaviour and analytics come from
/// the sales).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberRow {
    pub customer_id: String,
    pub tier_code: String,
    pub tags: Vec<String>,
    pub home_station_id: Option<String>,
    pub station_code: Option<String>,
    pub region_code: Option<String>,
    pub consent_marketing: bool,
    pub account_manager_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentRow {
    pub segment_id: String,
    pub name: String,
    pub filter: String,
    pub scope: String,
    pub created_by: String,
    pub created_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CampaignRow {
    pub campaign_id: String,
    pub name: String,
    pub segment_id: String,
    pub holdout_percent: i64,
    pub channel: String,
    pub message: String,
    pub offer: Option<String>,
    pub send_at: Option<i64>,
    pub attribution_days: i64,
    pub state: String,
    pub scope: String,
    pub created_by: String,
    pub created_at: i64,
    pub launched_at: Option<i64>,
    pub launched_by: Option<String>,
}

/// A member targeted by a campaign.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CampaignMember {
    pub customer_id: String,
    /// treated | holdout | global_holdout
    pub group: String,
    /// queued | held_out | a suppression reason
    pub outcome: String,
    pub message_id: Option<String>,
}

/// A do-not-contact entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DoNotContact {
    pub channel: String,
    pub reason: String,
    pub recorded_by: String,
    pub created_at: i64,
}

/// Whether a member is on a channel's do-not-contact list: `$1` customer, `$2` channel.
const ON_DO_NOT_CONTACT: &str =
    "select count(*) from do_not_contact where customer_id = $1 and channel = $2";

const CAMPAIGN_COLS: &str = "campaign_id, name, segment_id, holdout_percent, channel, message, offer, send_at, attribution_days, state, scope, created_by, created_at, launched_at, launched_by";

fn campaign_row(r: &sqlx::any::AnyRow) -> Result<CampaignRow, StoreError> {
    Ok(CampaignRow {
        campaign_id: r.try_get(0)?,
        name: r.try_get(1)?,
        segment_id: r.try_get(2)?,
        holdout_percent: r.try_get(3)?,
        channel: r.try_get(4)?,
        message: r.try_get(5)?,
        offer: r.try_get(6)?,
        send_at: r.try_get(7)?,
        attribution_days: r.try_get(8)?,
        state: r.try_get(9)?,
        scope: r.try_get(10)?,
        created_by: r.try_get(11)?,
        created_at: r.try_get(12)?,
        launched_at: r.try_get(13)?,
        launched_by: r.try_get(14)?,
    })
}

fn segment_row(r: &sqlx::any::AnyRow) -> Result<SegmentRow, StoreError> {
    Ok(SegmentRow {
        segment_id: r.try_get(0)?,
        name: r.try_get(1)?,
        filter: r.try_get(2)?,
        scope: r.try_get(3)?,
        created_by: r.try_get(4)?,
        created_at: r.try_get(5)?,
    })
}

impl Tx {
    /// Takes the member's row lock (held to the end of the transaction, so that the
    /// frequency cap's count and the message's insert cannot be raced by another
    /// transaction) and reads what the contact rules need. `None`: no such member.
    pub async fn lock_member_for_contact(
        &mut self,
        customer_id: &str,
    ) -> Result<Option<ContactFacts>, StoreError> {
        let n = sqlx::query("update customer set kind = kind where customer_id = $1")
            .bind(customer_id)
            .execute(&mut *self.tx)
            .await?
            .rows_affected();
        if n != 1 {
            return Ok(None);
        }
        let r = sqlx::query(
            "select c.consent_marketing, c.anonymized_at, c.phone_enc, c.email_enc, s.time_zone \
             from customer c left join station s on s.station_id = c.home_station_id where c.customer_id = $1",
        )
        .bind(customer_id)
        .fetch_one(&mut *self.tx)
        .await?;
        let v = self.vault.clone();
        Ok(Some(ContactFacts {
            consent_marketing: r.try_get::<i64, _>(0)? != 0,
            anonymized: r.try_get::<Option<i64>, _>(1)?.is_some(),
            phone: unseal_opt(&v, "customer.phone", customer_id, r.try_get(2)?)?,
            email: unseal_opt(&v, "customer.email", customer_id, r.try_get(3)?)?,
            time_zone: r.try_get(4)?,
        }))
    }

    /// What an earlier send of this cause to the member on the channel did: the
    /// message and its first moment, or the reason it was suppressed.
    #[allow(clippy::type_complexity)]
    pub async fn contact_outcome(
        &mut self,
        cause: &str,
        customer_id: &str,
        channel: &str,
    ) -> Result<Option<Result<(String, i64), String>>, StoreError> {
        let m = sqlx::query_as::<_, (String, i64)>(
            "select message_id, next_attempt_at from message where cause = $1 and recipient = $2 and channel = $3",
        )
        .bind(cause)
        .bind(customer_id)
        .bind(channel)
        .fetch_optional(&mut *self.tx)
        .await?;
        if let Some(m) = m {
            return Ok(Some(Ok(m)));
        }
        let reason: Option<String> = sqlx::query_scalar(
            "select reason from message_suppression where cause = $1 and customer_id = $2 and channel = $3",
        )
        .bind(cause)
        .bind(customer_id)
        .bind(channel)
        .fetch_optional(&mut *self.tx)
        .await?;
        Ok(reason.map(Err))
    }

    /// Whether the member is on the do-not-contact list of the channel.
    pub async fn on_do_not_contact(
        &mut self,
        customer_id: &str,
        channel: &str,
    ) -> Result<bool, StoreError> {
        let n: i64 = sqlx::query_scalar(ON_DO_NOT_CONTACT)
            .bind(customer_id)
            .bind(channel)
            .fetch_one(&mut *self.tx)
            .await?;
        Ok(n > 0)
    }

    /// Marketing messages to the member on the channel created since `since` and not
    /// suppressed (what the frequency cap counts).
    pub async fn marketing_messages_since(
        &mut self,
        customer_id: &str,
        channel: &str,
        since: i64,
    ) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar(
            "select count(*) from message where customer_id = $1 and channel = $2 and kind = 'marketing' \
             and created_at >= $3 and state <> 'suppressed'",
        )
        .bind(customer_id)
        .bind(channel)
        .bind(since)
        .fetch_one(&mut *self.tx)
        .await?)
    }

    /// Records why a message was not sent (once per cause, member and channel).
    pub async fn record_suppression(
        &mut self,
        cause: &str,
        customer_id: &str,
        channel: &str,
        reason: &str,
        now: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "insert into message_suppression (cause, customer_id, channel, reason, created_at) values ($1, $2, $3, $4, $5) \
             on conflict (cause, customer_id, channel) do nothing",
        )
        .bind(cause)
        .bind(customer_id)
        .bind(channel)
        .bind(reason)
        .bind(now)
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }

    /// Puts the member on the channel's do-not-contact list; the first entry and its
    /// reason stay. True when it was new.
    pub async fn add_do_not_contact(
        &mut self,
        customer_id: &str,
        channel: &str,
        reason: &str,
        recorded_by: &str,
        now: i64,
    ) -> Result<bool, StoreError> {
        let n = sqlx::query(
            "insert into do_not_contact (customer_id, channel, reason, recorded_by, created_at) values ($1, $2, $3, $4, $5) \
             on conflict (customer_id, channel) do nothing",
        )
        .bind(customer_id)
        .bind(channel)
        .bind(reason)
        .bind(recorded_by)
        .bind(now)
        .execute(&mut *self.tx)
        .await?
        .rows_affected();
        Ok(n == 1)
    }

    /// Sets (or clears) the member's email address.
    pub async fn set_customer_email(
        &mut self,
        customer_id: &str,
        email: Option<&str>,
        now: i64,
    ) -> Result<bool, StoreError> {
        let v = self.vault.clone();
        let n = sqlx::query(
            "update customer set email_enc = $1, updated_at = $2 where customer_id = $3 and anonymized_at is null",
        )
        .bind(email.map(|e| seal(&v, "customer.email", customer_id, e)))
        .bind(now)
        .bind(customer_id)
        .execute(&mut *self.tx)
        .await?
        .rows_affected();
        Ok(n == 1)
    }

    pub async fn create_segment(
        &mut self,
        name: &str,
        filter: &str,
        scope: &str,
        created_by: &str,
        now: i64,
    ) -> Result<String, StoreError> {
        let id = new_id();
        sqlx::query(
            "insert into segment (segment_id, name, filter, scope, created_by, created_at) values ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&id)
        .bind(name)
        .bind(filter)
        .bind(scope)
        .bind(created_by)
        .bind(now)
        .execute(&mut *self.tx)
        .await?;
        Ok(id)
    }

    /// Writes a draft campaign (its id, state and launch fields are the store's).
    pub async fn create_campaign(&mut self, c: &CampaignRow) -> Result<String, StoreError> {
        let id = new_id();
        sqlx::query(
            "insert into campaign (campaign_id, name, segment_id, holdout_percent, channel, message, offer, send_at, attribution_days, state, scope, created_by, created_at) \
             values ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'draft', $10, $11, $12)",
        )
        .bind(&id)
        .bind(&c.name)
        .bind(&c.segment_id)
        .bind(c.holdout_percent)
        .bind(&c.channel)
        .bind(&c.message)
        .bind(&c.offer)
        .bind(c.send_at)
        .bind(c.attribution_days)
        .bind(&c.scope)
        .bind(&c.created_by)
        .bind(c.created_at)
        .execute(&mut *self.tx)
        .await?;
        Ok(id)
    }

    /// Moves a draft campaign to `launched` with a conditional update (taking its row
    /// lock). False when it is launched already: the caller writes nothing more.
    pub async fn claim_campaign_launch(
        &mut self,
        campaign_id: &str,
        launched_by: &str,
        now: i64,
    ) -> Result<bool, StoreError> {
        let n = sqlx::query(
            "update campaign set state = 'launched', launched_at = $1, launched_by = $2 where campaign_id = $3 and state = 'draft'",
        )
        .bind(now)
        .bind(launched_by)
        .bind(campaign_id)
        .execute(&mut *self.tx)
        .await?
        .rows_affected();
        Ok(n == 1)
    }

    pub async fn add_campaign_member(
        &mut self,
        campaign_id: &str,
        m: &CampaignMember,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "insert into campaign_member (campaign_id, customer_id, grp, outcome, message_id) values ($1, $2, $3, $4, $5)",
        )
        .bind(campaign_id)
        .bind(&m.customer_id)
        .bind(&m.group)
        .bind(&m.outcome)
        .bind(&m.message_id)
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }
}

impl Store {
    /// Every member who is not anonymized, with the profile fields segments filter on.
    pub async fn segment_members(&self) -> Result<Vec<MemberRow>, StoreError> {
        let rows = sqlx::query(
            "select c.customer_id, c.tier_code, c.tags, c.home_station_id, s.code, r.code, c.consent_marketing, c.account_manager_id \
             from customer c left join station s on s.station_id = c.home_station_id left join region r on r.region_id = s.region_id \
             where c.anonymized_at is null order by c.customer_id",
        )
        .fetch_all(self.read())
        .await?;
        rows.iter()
            .map(|r| {
                let tags: String = r.try_get(2)?;
                Ok(MemberRow {
                    customer_id: r.try_get(0)?,
                    tier_code: r.try_get(1)?,
                    tags: serde_json::from_str(&tags)?,
                    home_station_id: r.try_get(3)?,
                    station_code: r.try_get(4)?,
                    region_code: r.try_get(5)?,
                    consent_marketing: r.try_get::<i64, _>(6)? != 0,
                    account_manager_id: r.try_get(7)?,
                })
            })
            .collect()
    }

    pub async fn segment(&self, id: &str) -> Result<Option<SegmentRow>, StoreError> {
        let r = sqlx::query(
            "select segment_id, name, filter, scope, created_by, created_at from segment where segment_id = $1",
        )
        .bind(id)
        .fetch_optional(self.read())
        .await?;
        r.as_ref().map(segment_row).transpose()
    }

    /// Every segment, newest first.
    pub async fn segments(&self) -> Result<Vec<SegmentRow>, StoreError> {
        let rows = sqlx::query(
            "select segment_id, name, filter, scope, created_by, created_at from segment order by created_at desc, segment_id",
        )
        .fetch_all(self.read())
        .await?;
        rows.iter().map(segment_row).collect()
    }

    pub async fn campaign(&self, id: &str) -> Result<Option<CampaignRow>, StoreError> {
        let sql = format!("select {CAMPAIGN_COLS} from campaign where campaign_id = $1");
        let r = sqlx::query(&sql)
            .bind(id)
            .fetch_optional(self.read())
            .await?;
        r.as_ref().map(campaign_row).transpose()
    }

    /// Every campaign, newest first.
    pub async fn campaigns(&self) -> Result<Vec<CampaignRow>, StoreError> {
        let sql =
            format!("select {CAMPAIGN_COLS} from campaign order by created_at desc, campaign_id");
        let rows = sqlx::query(&sql).fetch_all(self.read()).await?;
        rows.iter().map(campaign_row).collect()
    }

    /// The members a campaign targeted, by customer id.
    pub async fn campaign_members(
        &self,
        campaign_id: &str,
    ) -> Result<Vec<CampaignMember>, StoreError> {
        let rows = sqlx::query(
            "select customer_id, grp, outcome, message_id from campaign_member where campaign_id = $1 order by customer_id",
        )
        .bind(campaign_id)
        .fetch_all(self.read())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(CampaignMember {
                    customer_id: r.try_get(0)?,
                    group: r.try_get(1)?,
                    outcome: r.try_get(2)?,
                    message_id: r.try_get(3)?,
                })
            })
            .collect()
    }

    /// Per targeted member who bought in `[from, to)`: their sales and net spend (fen,
    /// less refunds).
    pub async fn campaign_purchases(
        &self,
        campaign_id: &str,
        from: i64,
        to: i64,
    ) -> Result<Vec<(String, i64, i64)>, StoreError> {
        Ok(sqlx::query_as::<_, (String, i64, i64)>(
            "select s.customer_id, count(*), cast(sum(s.net_fen - s.refunded_fen) as bigint) from sale s \
             join campaign_member m on m.customer_id = s.customer_id and m.campaign_id = $1 \
             where s.occurred_at >= $2 and s.occurred_at < $3 group by s.customer_id",
        )
        .bind(campaign_id)
        .bind(from)
        .bind(to)
        .fetch_all(self.read())
        .await?)
    }

    /// How many messages of this state each outbox message of a campaign's members is in
    /// (`sent` counts deliveries so far).
    pub async fn campaign_message_states(
        &self,
        campaign_id: &str,
    ) -> Result<Vec<(String, i64)>, StoreError> {
        Ok(sqlx::query_as::<_, (String, i64)>(
            "select g.state, count(*) from campaign_member m join message g on g.message_id = m.message_id \
             where m.campaign_id = $1 group by g.state order by g.state",
        )
        .bind(campaign_id)
        .fetch_all(self.read())
        .await?)
    }

    /// The member's do-not-contact entries.
    pub async fn do_not_contact_of(
        &self,
        customer_id: &str,
    ) -> Result<Vec<DoNotContact>, StoreError> {
        let rows = sqlx::query(
            "select channel, reason, recorded_by, created_at from do_not_contact where customer_id = $1 order by channel",
        )
        .bind(customer_id)
        .fetch_all(self.read())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(DoNotContact {
                    channel: r.try_get(0)?,
                    reason: r.try_get(1)?,
                    recorded_by: r.try_get(2)?,
                    created_at: r.try_get(3)?,
                })
            })
            .collect()
    }

    /// Whether the member is on the channel's do-not-contact list (the worker asks
    /// again just before each delivery).
    pub async fn is_do_not_contact(
        &self,
        customer_id: &str,
        channel: &str,
    ) -> Result<bool, StoreError> {
        let n: i64 = sqlx::query_scalar(ON_DO_NOT_CONTACT)
            .bind(customer_id)
            .bind(channel)
            .fetch_one(self.read())
            .await?;
        Ok(n > 0)
    }

    /// Drops a claimed message that may no longer go (its member is on the
    /// do-not-contact list now, or it expired) under the claim `lease_token`, and
    /// records why.
    pub async fn message_suppressed(
        &self,
        message_id: &str,
        lease_token: &str,
        reason: &str,
        now: i64,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin().await?;
        let row = sqlx::query(
            "update message set state = 'suppressed', last_error = $1, lease_token = null, locked_until = null \
             where message_id = $2 and lease_token = $3 and state = 'sending' returning cause, customer_id, channel",
        )
        .bind(reason)
        .bind(message_id)
        .bind(lease_token)
        .fetch_optional(&mut *tx.tx)
        .await?;
        let Some(row) = row else {
            return Ok(false);
        };
        let customer: Option<String> = row.try_get(1)?;
        if let Some(customer) = customer {
            tx.record_suppression(
                &row.try_get::<String, _>(0)?,
                &customer,
                &row.try_get::<String, _>(2)?,
                reason,
                now,
            )
            .await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    /// Suppressions of one cause prefix by reason (e.g. `campaign:ID:`).
    pub async fn suppressions_of(&self, cause: &str) -> Result<Vec<(String, i64)>, StoreError> {
        Ok(sqlx::query_as::<_, (String, i64)>(
            "select reason, count(*) from message_suppression where cause = $1 group by reason order by reason",
        )
        .bind(cause)
        .fetch_all(self.read())
        .await?)
    }

    /// A setting of the database (`setting` table).
    pub async fn setting_value(&self, name: &str) -> Result<Option<String>, StoreError> {
        Ok(
            sqlx::query_scalar("select value from setting where name = $1")
                .bind(name)
                .fetch_optional(self.read())
                .await?,
        )
    }
}

impl Tx {
    pub async fn put_setting_value(&mut self, name: &str, value: &str) -> Result<(), StoreError> {
        sqlx::query(
            "insert into setting (name, value) values ($1, $2) on conflict (name) do update set value = excluded.value",
        )
        .bind(name)
        .bind(value)
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }
}
