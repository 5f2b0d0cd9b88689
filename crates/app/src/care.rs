//! Care automations (关怀, SPEC F7): birthday greetings, the refuel-day reminder, the
//! first-visit thank-you, low card balance, win-back for a high churn risk, tier
//! changes and coupons about to lapse. A run for a day finds the members each enabled
//! automation is due for, keeps those with marketing consent who are not erased, and
//! queues one message each through the outbox, with the cause
//! `care:{automation}:{period}:{member}`. The outbox keeps one message per cause,
//! recipient and channel, so a second run of the day (or two at once) sends nothing
//! twice. The rules of which day and which period are `forecourt_core::care`.

use crate::access::{require, Action, Actor};
use crate::analytics::transactions;
use crate::audit::audit;
use crate::contact::{self, Contacted, Outgoing};
use crate::error::{AppError, AppResult};
use crate::{clock, App};
use chrono::NaiveDate;
use forecourt_analytics::churn::{self, ChurnParams};
use forecourt_analytics::refuel::{refuel_cycles, RefuelParams};
use forecourt_analytics::summary::{default_as_of, Histories};
use forecourt_analytics::transactions::date_of;
use forecourt_core::care::{self as rules, Automation};
use forecourt_core::contact::Kind;
use forecourt_store::care::{CareAutomationRow, CareRecipient};
use forecourt_store::outbox::Channel;
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::collections::{BTreeMap, HashMap};

const DAY_US: i64 = 86_400_000_000;

/// The longest message template.
pub const MESSAGE_CHARS_MAX: usize = 300;

/// One automation as the console and the API show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AutomationView {
    pub kind: String,
    pub enabled: bool,
    /// inbox | sms | email
    pub channel: String,
    pub message: String,
    pub threshold: Option<i64>,
    /// Messages it has queued or sent, ever.
    pub messages: i64,
    /// When it last queued one (µs).
    pub last_message_at: Option<i64>,
    pub updated_at: Option<i64>,
}

/// A change to an automation; what is absent stays.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AutomationBody {
    pub enabled: Option<bool>,
    pub channel: Option<String>,
    pub message: Option<String>,
    pub threshold: Option<i64>,
}

/// What one automation did in a run.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct AutomationRun {
    pub kind: String,
    /// Members it was due for.
    pub due: usize,
    /// Messages queued by this run.
    pub queued: usize,
    /// Due members a message had already gone to for the period.
    pub already_sent: usize,
    /// Due members without marketing consent (or erased): nothing sent.
    pub no_consent: usize,
    /// Due members the contact rules held back, by reason (`do_not_contact`,
    /// `frequency_cap`, `expired`, `no_address`, …).
    pub suppressed: BTreeMap<String, usize>,
}

/// What a run did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CareRun {
    pub date: String,
    pub automations: Vec<AutomationRun>,
}

impl CareRun {
    pub fn queued(&self) -> usize {
        self.automations.iter().map(|a| a.queued).sum()
    }
}

/// A message an automation sent, as its list shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SentView {
    pub customer_id: Option<String>,
    pub member_code: Option<String>,
    pub channel: String,
    pub state: String,
    pub created_at: i64,
    pub sent_at: Option<i64>,
}

fn not_found(kind: &str) -> AppError {
    AppError::new(
        "automation_not_found",
        format!("no care automation {kind:?}"),
    )
}

fn parse_kind(kind: &str) -> AppResult<Automation> {
    Automation::parse(kind).ok_or_else(|| not_found(kind))
}

/// Every automation with what it has sent.
pub async fn automations(app: &App, me: &Actor) -> AppResult<Vec<AutomationView>> {
    require(me, Action::ManagePromotions)?;
    let store = app.store();
    let counts: HashMap<String, (i64, Option<i64>)> = store
        .care_counts()
        .await?
        .into_iter()
        .map(|c| (c.kind, (c.messages, c.last_at)))
        .collect();
    let rows = store.care_automations().await?;
    // In the order of `Automation::ALL`, which is the order people read them in.
    Ok(Automation::ALL
        .iter()
        .filter_map(|a| rows.iter().find(|r| r.kind == a.code()))
        .map(|r| view(r, counts.get(&r.kind).copied().unwrap_or((0, None))))
        .collect())
}

fn view(r: &CareAutomationRow, (messages, last): (i64, Option<i64>)) -> AutomationView {
    AutomationView {
        kind: r.kind.clone(),
        enabled: r.enabled,
        channel: r.channel.clone(),
        message: r.message.clone(),
        threshold: r.threshold,
        messages,
        last_message_at: last,
        updated_at: (r.updated_at > 0).then_some(r.updated_at),
    }
}

/// Changes an automation: switches it on or off, its channel, its text, its threshold.
pub async fn update_automation(
    app: &App,
    me: &Actor,
    kind: &str,
    body: &AutomationBody,
) -> AppResult<AutomationView> {
    require(me, Action::ManagePromotions)?;
    let a = parse_kind(kind)?;
    let store = app.store();
    let mut row = store
        .care_automations()
        .await?
        .into_iter()
        .find(|r| r.kind == a.code())
        .ok_or_else(|| not_found(kind))?;
    if let Some(e) = body.enabled {
        row.enabled = e;
    }
    if let Some(c) = &body.channel {
        if !matches!(c.as_str(), "inbox" | "sms" | "email") {
            return Err(AppError::validation("channel", "inbox, sms or email"));
        }
        row.channel = c.clone();
    }
    if let Some(m) = &body.message {
        row.message = crate::input::long_text("message", m.trim(), MESSAGE_CHARS_MAX)?;
        if row.message.is_empty() {
            return Err(AppError::validation("message", "must not be empty"));
        }
    }
    if let Some(t) = body.threshold {
        let Some((lo, hi)) = a.threshold_bounds() else {
            return Err(AppError::validation(
                "threshold",
                format!("the {} automation has no threshold", a.code()),
            ));
        };
        if !(lo..=hi).contains(&t) {
            return Err(AppError::validation(
                "threshold",
                format!("is between {lo} and {hi}"),
            ));
        }
        row.threshold = Some(t);
    }
    row.updated_by = Some(me.username.clone());
    row.updated_at = app.clock().now_us();
    let mut tx = store.begin().await?;
    if !tx.set_care_automation(&row).await? {
        return Err(not_found(kind));
    }
    crate::audit::audit_in(
        &mut tx,
        me,
        "care.automation_update",
        "care_automation",
        Some(a.code()),
        json!({"enabled": row.enabled, "channel": row.channel, "threshold": row.threshold}),
    )
    .await?;
    tx.commit().await?;
    let counts = store
        .care_counts()
        .await?
        .into_iter()
        .find(|c| c.kind == row.kind)
        .map(|c| (c.messages, c.last_at))
        .unwrap_or((0, None));
    Ok(view(&row, counts))
}

/// The latest messages of one automation, 50 a page.
pub async fn sent(app: &App, me: &Actor, kind: &str, page: i64) -> AppResult<Vec<SentView>> {
    require(me, Action::ManagePromotions)?;
    let a = parse_kind(kind)?;
    const PAGE: i64 = 50;
    let rows = app
        .store()
        .care_messages(&a.cause_prefix(), PAGE, page.max(0).saturating_mul(PAGE))
        .await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let member_code = match &r.customer_id {
            Some(id) => app.store().customer(id).await?.map(|c| c.member_code),
            None => None,
        };
        out.push(SentView {
            customer_id: r.customer_id,
            member_code,
            channel: r.channel,
            state: r.state,
            created_at: r.created_at,
            sent_at: r.sent_at,
        });
    }
    Ok(out)
}

/// A run for `day` asked for by a staff member (the console's "run now"), audited.
pub async fn run_as(app: &App, me: &Actor, day: NaiveDate) -> AppResult<CareRun> {
    require(me, Action::ManagePromotions)?;
    let r = run(app, day).await?;
    audit(
        app,
        me,
        "care.run",
        "care_automation",
        None,
        json!({"date": r.date, "queued": r.queued()}),
    )
    .await?;
    Ok(r)
}

/// One due member: the period the message is for and what it says about them.
struct Due {
    customer_id: String,
    period: String,
    detail: String,
}

/// Runs every enabled automation for `day` (in the network's time zone). Idempotent:
/// a second run of the same day queues nothing that the first queued.
pub async fn run(app: &App, day: NaiveDate) -> AppResult<CareRun> {
    let store = app.store();
    let settings = store.care_automations().await?;
    let day_start = clock::network_day_end_us(day.pred_opt().unwrap_or(day));
    let day_end = clock::network_day_end_us(day);
    let enabled = |a: Automation| settings.iter().find(|r| r.kind == a.code() && r.enabled);
    let predictions = if enabled(Automation::RefuelReminder).is_some()
        || enabled(Automation::WinBack).is_some()
    {
        predictions(app).await?
    } else {
        HashMap::new()
    };
    let mut report = CareRun {
        date: day.to_string(),
        automations: Vec::new(),
    };
    for a in Automation::ALL {
        let Some(setting) = enabled(a) else { continue };
        let due: Vec<Due> = match a {
            Automation::Birthday => store
                .care_birthday_members(&rules::birthdays_greeted_on(day))
                .await?
                .into_iter()
                .map(|customer_id| Due {
                    customer_id,
                    period: day.format("%Y").to_string(),
                    detail: String::new(),
                })
                .collect(),
            Automation::FirstVisit => store
                // Yesterday's first visits and today's so far: a run early in the day
                // thanks those of the evening before.
                .care_first_sales(day_start - DAY_US, day_end)
                .await?
                .into_iter()
                .map(|customer_id| Due {
                    customer_id,
                    period: "once".into(),
                    detail: String::new(),
                })
                .collect(),
            Automation::LowBalance => store
                .care_low_balances(setting.threshold.unwrap_or(10_000))
                .await?
                .into_iter()
                .map(|c| Due {
                    customer_id: c.customer_id,
                    period: format!("{}:{}", c.card_id, rules::month(day)),
                    detail: format!(
                        "（尾号{}）余额仅剩{}元",
                        tail(&c.card_no),
                        yuan(c.balance_fen)
                    ),
                })
                .collect(),
            Automation::CouponExpiring => {
                let days = setting.threshold.unwrap_or(3);
                store
                    .care_expiring_coupons(day_start, day_start + days * DAY_US)
                    .await?
                    .into_iter()
                    .map(|c| Due {
                        customer_id: c.customer_id,
                        period: c.coupon_id,
                        detail: format!(
                            "（{}元）将于{}到期",
                            yuan(c.amount_fen),
                            clock::local(clock::NETWORK_TZ, c.valid_until - 1)
                                .date
                                .format("%Y年%-m月%-d日")
                        ),
                    })
                    .collect()
            }
            Automation::TierChange => tier_changes(app, day).await?,
            Automation::RefuelReminder => predictions
                .iter()
                .filter_map(|(id, p)| {
                    let next = p.next_visit?;
                    rules::refuel_reminder_due(next, day).then(|| Due {
                        customer_id: id.clone(),
                        period: next.to_string(),
                        detail: "明天".into(),
                    })
                })
                .collect(),
            Automation::WinBack => {
                let at_least = setting.threshold.unwrap_or(700) as f64 / 1000.0;
                predictions
                    .iter()
                    .filter(|(_, p)| p.churn_probability.is_some_and(|c| c >= at_least))
                    .map(|(id, _)| Due {
                        customer_id: id.clone(),
                        period: rules::quarter(day),
                        detail: String::new(),
                    })
                    .collect()
            }
        };
        report
            .automations
            .push(send(app, a, setting, due, day_end).await?);
    }
    Ok(report)
}

/// Queues the messages of one automation to the due members with marketing consent,
/// through the contact rules (`contact::send`): the do-not-contact list, the frequency
/// cap, quiet hours and the message's expiry decide the rest, and what they refuse is
/// counted by reason.
async fn send(
    app: &App,
    a: Automation,
    setting: &CareAutomationRow,
    mut due: Vec<Due>,
    day_end: i64,
) -> AppResult<AutomationRun> {
    // In member order: the contact rules lock each member's row.
    due.sort_by(|x, y| x.customer_id.cmp(&y.customer_id));
    let mut out = AutomationRun {
        kind: a.code().into(),
        due: due.len(),
        ..AutomationRun::default()
    };
    let mut ids: Vec<String> = due.iter().map(|d| d.customer_id.clone()).collect();
    ids.dedup();
    let recipients: BTreeMap<String, CareRecipient> = app
        .store()
        .care_recipients(&ids)
        .await?
        .into_iter()
        .map(|r| (r.customer_id.clone(), r))
        .collect();
    let channel = Channel::parse(&setting.channel).unwrap_or(Channel::Inbox);
    let policy = contact::policy(app).await?;
    // A run for a past day (a catch-up) still stamps the day itself.
    let now = app.clock().now_us().max(day_end - DAY_US);
    for chunk in due.chunks(500) {
        let mut tx = app.store().begin().await?;
        for d in chunk {
            let Some(r) = recipients.get(&d.customer_id) else {
                out.no_consent += 1;
                continue;
            };
            let done = contact::send(
                app,
                &mut tx,
                &policy,
                &Outgoing {
                    customer_id: d.customer_id.clone(),
                    channel,
                    kind: Kind::Marketing,
                    subject: Some(subject(a).to_string()),
                    body: rules::render(&setting.message, &r.name, &d.detail),
                    cause: format!("{}:{}", a.cause(&d.period), d.customer_id),
                    not_before: None,
                    // A greeting or a reminder for a day is worth nothing after it.
                    expires_at: matches!(a, Automation::Birthday | Automation::RefuelReminder)
                        .then_some(day_end),
                },
                now,
            )
            .await?;
            match done {
                Contacted::Queued { new: true, .. } => out.queued += 1,
                Contacted::Queued { new: false, .. } => out.already_sent += 1,
                Contacted::Suppressed(why) => {
                    *out.suppressed.entry(why.as_str().to_string()).or_default() += 1
                }
            }
        }
        tx.commit().await?;
    }
    Ok(out)
}

/// The inbox title of each automation's messages.
fn subject(a: Automation) -> &'static str {
    match a {
        Automation::Birthday => "生日祝福",
        Automation::RefuelReminder => "加油提醒",
        Automation::FirstVisit => "感谢光临",
        Automation::LowBalance => "余额提醒",
        Automation::WinBack => "欢迎回来",
        Automation::TierChange => "会员等级变更",
        Automation::CouponExpiring => "优惠券到期提醒",
    }
}

/// Members whose tier changed since the automation last looked. The first look at a
/// member records their tier without a message (nothing changed that we saw); every
/// look records the tier it saw, in the same run, so a change is announced once.
async fn tier_changes(app: &App, day: NaiveDate) -> AppResult<Vec<Due>> {
    let store = app.store();
    let names: HashMap<String, String> = store
        .tiers()
        .await?
        .into_iter()
        .map(|t| (t.code, t.name))
        .collect();
    let changes = store.care_tier_changes().await?;
    let now = app.clock().now_us();
    let mut due = Vec::new();
    for chunk in changes.chunks(500) {
        let mut tx = store.begin().await?;
        for (id, tier, seen) in chunk {
            tx.care_tier_seen(id, tier, now).await?;
            if seen.is_some() {
                due.push(Due {
                    customer_id: id.clone(),
                    period: format!("{tier}:{day}"),
                    detail: names.get(tier).cloned().unwrap_or_else(|| tier.clone()),
                });
            }
        }
        tx.commit().await?;
    }
    Ok(due)
}

/// A member's predictions the automations use.
#[derive(Debug, Clone, Default)]
struct Prediction {
    next_visit: Option<NaiveDate>,
    churn_probability: Option<f64>,
}

/// The next visit (refuel cycle) and churn risk of every member, fitted on the
/// network's member sales.
async fn predictions(app: &App) -> AppResult<HashMap<String, Prediction>> {
    let data = app.cache().member_sales(app.store()).await?;
    tokio::task::spawn_blocking(move || {
        let tx = transactions(&data.0, &data.1);
        let mut out: HashMap<String, Prediction> = HashMap::new();
        let Some(as_of) = default_as_of(&tx) else {
            return out;
        };
        let h = Histories::new(&tx);
        for r in refuel_cycles(&tx, &h, as_of, &RefuelParams::default()) {
            out.entry(tx.name(r.customer).to_string())
                .or_default()
                .next_visit = r.next_visit.map(date_of);
        }
        let params = ChurnParams::default();
        let horizon = params.horizon_days as forecourt_analytics::transactions::Day;
        if let Ok((model, _)) = churn::fit_at(&tx, &h, as_of - horizon, &params) {
            for f in churn::dataset(&tx, &h, as_of, &params).features {
                out.entry(tx.name(f.customer).to_string())
                    .or_default()
                    .churn_probability = Some(model.probability(&f));
            }
        }
        out
    })
    .await
    .map_err(AppError::internal)
}

fn tail(card_no: &str) -> &str {
    &card_no[card_no.len().saturating_sub(4)..]
}

fn yuan(fen: i64) -> String {
    format!("{}.{:02}", fen / 100, (fen % 100).abs())
}
