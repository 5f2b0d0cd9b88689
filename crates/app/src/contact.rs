//! The one way a message reaches a member: [`send`] applies the contact rules of
//! `forecourt_core::contact` (do-not-contact list, marketing consent, frequency cap,
//! quiet hours, expiry) at the moment the message is enqueued, inside the caller's
//! transaction and under the member's row lock, and either enqueues it (marketing
//! messages with their unsubscribe link) or records why not. The worker asks again just
//! before each delivery ([`still_allowed`]): a member who unsubscribed meanwhile gets
//! nothing, and a message past its `expires_at` is dropped.
//!
//! Callers (campaigns, the service desk's surveys, care automations):
//!
//! ```ignore
//! let policy = contact::policy(app).await?;
//! let mut tx = app.store().begin().await?;
//! let done = contact::send(app, &mut tx, &policy, &contact::Outgoing {
//!     customer_id, channel: Channel::Sms, kind: Kind::Marketing,
//!     subject: None, body, cause: format!("care:birthday:{member}:{year}"),
//!     not_before: None, expires_at: Some(end_of_day),
//! }, now).await?;
//! tx.commit().await?;
//! ```
//!
//! A second `send` with the same cause, member and channel answers what the first did
//! and writes nothing, so a re-run of a job sends nothing twice.

use crate::access::{require, Action, Actor};
use crate::clock::NETWORK_TZ;
use crate::error::{AppError, AppResult};
use crate::App;
use forecourt_core::contact::{decide, parse_hhmm, Facts, Kind, Policy, Suppression};
use forecourt_store::audit::AuditEntry;
use forecourt_store::outbox::{Channel, Delivery, Message, NewMessage};
use forecourt_store::Tx;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// The setting holding the contact policy and the global hold-out, as JSON.
const SETTING: &str = "marketing.contact_policy";

/// The contact policy and the global hold-out, as stored and as the API shows them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MarketingSettings {
    /// Marketing messages per member and channel within `frequency_cap_days`.
    pub frequency_cap: u32,
    pub frequency_cap_days: u32,
    /// Quiet hours in the member's home station's time, `HH:MM`.
    pub quiet_start: String,
    pub quiet_end: String,
    /// The share of members (%) that no campaign touches.
    pub global_holdout_percent: u32,
}

impl Default for MarketingSettings {
    fn default() -> Self {
        Self {
            frequency_cap: 2,
            frequency_cap_days: 7,
            quiet_start: "21:00".into(),
            quiet_end: "08:00".into(),
            global_holdout_percent: 0,
        }
    }
}

impl MarketingSettings {
    fn check(&self) -> AppResult<Policy> {
        if !(1..=100).contains(&self.frequency_cap) {
            return Err(AppError::validation("frequency_cap", "1 to 100 messages"));
        }
        if !(1..=90).contains(&self.frequency_cap_days) {
            return Err(AppError::validation("frequency_cap_days", "1 to 90 days"));
        }
        if self.global_holdout_percent > 50 {
            return Err(AppError::validation(
                "global_holdout_percent",
                "0 to 50 per cent",
            ));
        }
        let start = parse_hhmm(&self.quiet_start)
            .ok_or_else(|| AppError::validation("quiet_start", "a time HH:MM"))?;
        let end = parse_hhmm(&self.quiet_end)
            .ok_or_else(|| AppError::validation("quiet_end", "a time HH:MM"))?;
        Ok(Policy {
            cap_per_window: self.frequency_cap,
            cap_window_days: self.frequency_cap_days,
            quiet_start: start,
            quiet_end: end,
        })
    }
}

/// The settings in force (the defaults until someone sets them).
pub async fn settings(app: &App) -> AppResult<MarketingSettings> {
    match app.store().setting_value(SETTING).await? {
        Some(v) => serde_json::from_str(&v).map_err(AppError::internal),
        None => Ok(MarketingSettings::default()),
    }
}

/// The contact policy in force.
pub async fn policy(app: &App) -> AppResult<Policy> {
    settings(app).await?.check()
}

/// `GET /api/v1/marketing/settings`.
pub async fn get_settings(app: &App, me: &Actor) -> AppResult<MarketingSettings> {
    require(me, Action::Market)?;
    settings(app).await
}

/// `PUT /api/v1/marketing/settings` (admins: they bind every station).
pub async fn put_settings(
    app: &App,
    me: &Actor,
    body: MarketingSettings,
) -> AppResult<MarketingSettings> {
    require(me, Action::ManageNetwork)?;
    body.check()?;
    let value = serde_json::to_string(&body).map_err(AppError::internal)?;
    let mut tx = app.store().begin().await?;
    tx.put_setting_value(SETTING, &value).await?;
    tx.audit(&AuditEntry {
        actor: &me.audit_name(),
        action: "marketing.settings",
        target_kind: "setting",
        target_id: Some(SETTING),
        source: me.source.as_deref(),
        detail: serde_json::to_value(&body).map_err(AppError::internal)?,
    })
    .await?;
    tx.commit().await?;
    Ok(body)
}

/// A message for a member.
#[derive(Debug, Clone)]
pub struct Outgoing {
    pub customer_id: String,
    pub channel: Channel,
    pub kind: Kind,
    /// Email only.
    pub subject: Option<String>,
    /// The text; a marketing message gets its unsubscribe link or text appended.
    pub body: String,
    /// What caused it; with the member and channel it identifies the message.
    pub cause: String,
    /// Not before this moment (default: now).
    pub not_before: Option<i64>,
    /// Dropped when it could not go before this moment.
    pub expires_at: Option<i64>,
}

/// What [`send`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Contacted {
    /// In the outbox, to go at `at` (µs); `new` is false when it was there already.
    Queued {
        message_id: String,
        at: i64,
        new: bool,
    },
    Suppressed(Suppression),
}

/// The link a member follows to unsubscribe from a channel.
pub fn unsubscribe_url(app: &App, customer_id: &str, channel: Channel) -> String {
    format!(
        "{}/u/{}",
        app.config().outbox.public_url.trim_end_matches('/'),
        app.secret()
            .unsubscribe_token(customer_id, channel.as_str())
    )
}

/// The opt-out every commercial message carries: the link (email, inbox) or, in an
/// SMS, the reply-to-unsubscribe text of MIIT's rules.
fn with_opt_out(app: &App, customer_id: &str, channel: Channel, body: &str) -> String {
    match channel {
        Channel::Sms => format!("{body} 回复TD退订"),
        Channel::Email | Channel::Inbox => {
            let url = unsubscribe_url(app, customer_id, channel);
            format!("{body}\n\n退订 / Unsubscribe: {url}")
        }
    }
}

/// Applies the contact rules to one message inside `tx` and enqueues it or records
/// why not (in `message_suppression`, under its cause). Takes the member's row lock
/// until `tx` ends, so that concurrent senders count and insert one after the other
/// and the frequency cap holds. Callers that send to many members in one transaction
/// send in the order of customer ids, so that their locks never cross.
pub async fn send(
    app: &App,
    tx: &mut Tx,
    policy: &Policy,
    o: &Outgoing,
    now: i64,
) -> AppResult<Contacted> {
    let Some(member) = tx.lock_member_for_contact(&o.customer_id).await? else {
        return Err(AppError::new(
            "customer_not_found",
            "no customer with this id",
        ));
    };
    if let Some(done) = tx
        .contact_outcome(&o.cause, &o.customer_id, o.channel.as_str())
        .await?
    {
        return Ok(match done {
            Ok((message_id, at)) => Contacted::Queued {
                message_id,
                at,
                new: false,
            },
            Err(reason) => Contacted::Suppressed(
                Suppression::parse(&reason).unwrap_or(Suppression::DoNotContact),
            ),
        });
    }
    let do_not_contact = tx
        .on_do_not_contact(&o.customer_id, o.channel.as_str())
        .await?;
    let in_window = match o.kind {
        Kind::Marketing => {
            tx.marketing_messages_since(
                &o.customer_id,
                o.channel.as_str(),
                now - policy.cap_window_us(),
            )
            .await?
        }
        Kind::Transactional => 0,
    };
    let address = match o.channel {
        Channel::Email => member.email.clone(),
        Channel::Sms => member.phone.clone(),
        Channel::Inbox => None,
    };
    let facts = Facts {
        kind: o.kind,
        consent_marketing: member.consent_marketing,
        do_not_contact,
        anonymized: member.anonymized,
        has_address: o.channel == Channel::Inbox || address.is_some(),
        marketing_in_window: u32::try_from(in_window).unwrap_or(u32::MAX),
        not_before: o.not_before.unwrap_or(now).max(now),
        expires_at: o.expires_at,
    };
    // The inbox is read when the member opens it: no quiet hours there.
    let channel_policy = match o.channel {
        Channel::Inbox => Policy {
            quiet_end: policy.quiet_start,
            ..*policy
        },
        _ => *policy,
    };
    let tz = crate::clock::tz(member.time_zone.as_deref().unwrap_or(NETWORK_TZ));
    match decide(&facts, &channel_policy, tz) {
        Ok(at) => {
            let body = match o.kind {
                Kind::Marketing => with_opt_out(app, &o.customer_id, o.channel, &o.body),
                Kind::Transactional => o.body.clone(),
            };
            let done = tx
                .enqueue_message_with(
                    &NewMessage {
                        channel: o.channel,
                        recipient: o.customer_id.clone(),
                        customer_id: Some(o.customer_id.clone()),
                        address,
                        subject: (o.channel != Channel::Sms)
                            .then(|| o.subject.clone())
                            .flatten(),
                        body,
                        cause: o.cause.clone(),
                        max_attempts: app.config().outbox.max_attempts,
                    },
                    &Delivery {
                        kind: o.kind.as_str(),
                        not_before: at,
                        expires_at: o.expires_at,
                    },
                    now,
                )
                .await?;
            Ok(Contacted::Queued {
                message_id: done.id,
                at,
                new: done.inserted,
            })
        }
        Err(reason) => {
            tx.record_suppression(
                &o.cause,
                &o.customer_id,
                o.channel.as_str(),
                reason.as_str(),
                now,
            )
            .await?;
            Ok(Contacted::Suppressed(reason))
        }
    }
}

/// Whether a claimed message may still go now: `Err(reason)` when its member is on
/// the channel's do-not-contact list or it expired. Messages to staff and bare
/// addresses always may.
pub async fn still_allowed(app: &App, m: &Message, now: i64) -> AppResult<Result<(), Suppression>> {
    if m.expires_at.is_some_and(|e| e <= now) {
        return Ok(Err(Suppression::Expired));
    }
    if let Some(customer) = &m.customer_id {
        if app
            .store()
            .is_do_not_contact(customer, m.channel.as_str())
            .await?
        {
            return Ok(Err(Suppression::DoNotContact));
        }
    }
    Ok(Ok(()))
}

/// The customer `customer_id`, if the caller may take `action` on them (in scope).
async fn customer_for(app: &App, me: &Actor, action: Action, customer_id: &str) -> AppResult<()> {
    require(me, action)?;
    let c = app
        .store()
        .customer(customer_id)
        .await?
        .ok_or_else(|| AppError::new("customer_not_found", "no customer with this id"))?;
    crate::access::require_customer(app, me, &c).await
}

/// A reason staff may put a member on the do-not-contact list with.
const STAFF_REASONS: &[&str] = &["manual", "bounced", "complained"];

/// `POST /api/v1/customers/{id}/do-not-contact` `{channel, reason}`: staff record a
/// member's wish (or a bounce, a complaint) not to be contacted on a channel.
pub async fn add_do_not_contact(
    app: &App,
    me: &Actor,
    customer_id: &str,
    channel: &str,
    reason: &str,
) -> AppResult<Value> {
    customer_for(app, me, Action::ManageConsent, customer_id).await?;
    let ch = Channel::parse(channel)
        .ok_or_else(|| AppError::validation("channel", "sms, email or inbox"))?;
    if !STAFF_REASONS.contains(&reason) {
        return Err(AppError::validation(
            "reason",
            "manual, bounced or complained",
        ));
    }
    let now = app.clock().now_us();
    let mut tx = app.store().begin().await?;
    let new = tx
        .add_do_not_contact(customer_id, ch.as_str(), reason, &me.audit_name(), now)
        .await?;
    tx.audit(&AuditEntry {
        actor: &me.audit_name(),
        action: "contact.do_not_contact",
        target_kind: "customer",
        target_id: Some(customer_id),
        source: me.source.as_deref(),
        detail: json!({"channel": ch.as_str(), "reason": reason, "new": new}),
    })
    .await?;
    tx.commit().await?;
    do_not_contact_of(app, customer_id).await
}

/// A member's do-not-contact entries as `{entries: [{channel, reason, recorded_by, at}]}`.
async fn do_not_contact_of(app: &App, customer_id: &str) -> AppResult<Value> {
    let rows = app.store().do_not_contact_of(customer_id).await?;
    Ok(json!({"entries": rows.iter().map(|r| json!({
        "channel": r.channel, "reason": r.reason, "recorded_by": r.recorded_by,
        "at": crate::clock::rfc3339(r.created_at),
    })).collect::<Vec<_>>()}))
}

/// `GET /api/v1/customers/{id}/do-not-contact`.
pub async fn get_do_not_contact(app: &App, me: &Actor, customer_id: &str) -> AppResult<Value> {
    customer_for(app, me, Action::ViewCustomer, customer_id).await?;
    do_not_contact_of(app, customer_id).await
}

/// `PUT /api/v1/customers/{id}/email` `{email}`: the address of the email channel
/// (null clears it).
pub async fn set_email(
    app: &App,
    me: &Actor,
    customer_id: &str,
    email: Option<&str>,
) -> AppResult<Value> {
    customer_for(app, me, Action::CreateCustomer, customer_id).await?;
    let email = email.map(str::trim).filter(|e| !e.is_empty());
    if let Some(e) = email {
        e.parse::<lettre::message::Mailbox>()
            .map_err(|_| AppError::validation("email", "an email address"))?;
    }
    let now = app.clock().now_us();
    let mut tx = app.store().begin().await?;
    if !tx.set_customer_email(customer_id, email, now).await? {
        return Err(AppError::new(
            "customer_not_found",
            "no customer with this id",
        ));
    }
    tx.audit(&AuditEntry {
        actor: &me.audit_name(),
        action: "customer.email",
        target_kind: "customer",
        target_id: Some(customer_id),
        source: me.source.as_deref(),
        detail: json!({"set": email.is_some()}),
    })
    .await?;
    tx.commit().await?;
    Ok(json!({"customer_id": customer_id, "email_set": email.is_some()}))
}

/// What the unsubscribe page shows: the channel of a genuine token. Changes nothing
/// (a link scanner's GET must not unsubscribe anyone).
pub fn unsubscribe_channel(app: &App, token: &str) -> Option<Channel> {
    let (_, channel) = app.secret().unsubscribe_parse(token)?;
    Channel::parse(&channel)
}

/// `POST /u/{token}` (RFC 8058 one-click): puts the token's member on its channel's
/// do-not-contact list. `None` for a token that is not genuine or names no member.
pub async fn unsubscribe(app: &App, token: &str) -> AppResult<Option<Channel>> {
    let Some((customer_id, channel)) = app.secret().unsubscribe_parse(token) else {
        return Ok(None);
    };
    let Some(ch) = Channel::parse(&channel) else {
        return Ok(None);
    };
    if app.store().customer(&customer_id).await?.is_none() {
        return Ok(None);
    }
    let now = app.clock().now_us();
    let mut tx = app.store().begin().await?;
    let new = tx
        .add_do_not_contact(&customer_id, ch.as_str(), "unsubscribed", "member", now)
        .await?;
    if new {
        tx.audit(&AuditEntry {
            actor: "member",
            action: "contact.unsubscribe",
            target_kind: "customer",
            target_id: Some(&customer_id),
            source: None,
            detail: json!({"channel": ch.as_str()}),
        })
        .await?;
    }
    tx.commit().await?;
    Ok(Some(ch))
}
