//! Campaigns (SPEC "Marketing"): a segment, a channel, a message with the member's name
//! and the offer, a hold-out group, and results against it.
//!
//! At launch the segment is evaluated and every member it holds is stored with the
//! campaign (`campaign_member`), so that results are explained by who was targeted,
//! not by who matches today. Each member is assigned by a stable hash: to the global
//! hold-out (a setting; no campaign touches them), to this campaign's hold-out
//! (`holdout_percent`, by campaign and member), or treated; treated members get the
//! message through the contact rules (`crate::contact::send`), which may suppress it.
//! Launching is a conditional update of the campaign's state in the launch's own
//! transaction: a second or concurrent launch finds it launched and sends nothing.
//!
//! Results count conversions (a sale within `attribution_days` after the launch) and
//! spend in both groups, with the uplift's Wald interval and Welch's interval for the
//! spend per member (`forecourt_core::uplift`).

use crate::access::{require, Action, Actor};
use crate::clock::rfc3339;
use crate::contact::{self, Contacted, Outgoing};
use crate::error::{AppError, AppResult};
use crate::input::text;
use crate::App;
use forecourt_core::contact::{in_campaign_holdout, in_global_holdout, Kind, Suppression};
use forecourt_core::uplift::{conversion_uplift, welch_difference, SMALL_GROUP};
use forecourt_store::audit::AuditEntry;
use forecourt_store::marketing::{CampaignMember, CampaignRow};
use forecourt_store::outbox::Channel;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};

const NAME_CHARS_MAX: usize = 200;
const MESSAGE_CHARS_MAX: usize = 500;
const DAY_US: i64 = 86_400_000_000;

/// What a campaign offers; at most one of the three.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Offer {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub coupon_template_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bonus_points: Option<i64>,
    /// A points multiplier for the period, in ‰ (1500 = ×1.5).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub multiplier_permille: Option<i64>,
    /// The offer's last day, `YYYY-MM-DD`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<String>,
}

/// `POST /campaigns`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CampaignBody {
    pub name: String,
    pub segment_id: String,
    #[serde(default = "ten")]
    pub holdout_percent: u32,
    pub channel: String,
    pub message: String,
    pub offer: Option<Offer>,
    /// RFC 3339; not sent before (default: at launch).
    pub send_at: Option<String>,
    #[serde(default = "fourteen")]
    pub attribution_days: u32,
}

fn ten() -> u32 {
    10
}

fn fourteen() -> u32 {
    14
}

fn not_found() -> AppError {
    AppError::new("campaign_not_found", "no campaign with this id")
}

/// The offer as the message's `{offer}` says it.
async fn offer_text(app: &App, offer: &Option<Offer>) -> AppResult<String> {
    let Some(o) = offer else {
        return Ok(String::new());
    };
    let until = o
        .until
        .as_deref()
        .map(|d| format!("，{d} 前有效"))
        .unwrap_or_default();
    let what = if let Some(t) = &o.coupon_template_id {
        let t = app.store().coupon_template(t).await?.ok_or_else(|| {
            AppError::validation("offer.coupon_template_id", "no such coupon template")
        })?;
        format!("优惠券「{}」", t.name)
    } else if let Some(p) = o.bonus_points {
        format!("赠送 {p} 积分")
    } else if let Some(m) = o.multiplier_permille {
        format!("积分 {} 倍", m as f64 / 1000.0)
    } else {
        String::new()
    };
    Ok(format!("{what}{until}"))
}

fn check_offer(o: &Offer) -> AppResult<()> {
    let given = [
        o.coupon_template_id.is_some(),
        o.bonus_points.is_some(),
        o.multiplier_permille.is_some(),
    ]
    .iter()
    .filter(|g| **g)
    .count();
    if given > 1 {
        return Err(AppError::validation(
            "offer",
            "one of coupon_template_id, bonus_points or multiplier_permille",
        ));
    }
    if o.bonus_points.is_some_and(|p| !(1..=100_000).contains(&p)) {
        return Err(AppError::validation(
            "offer.bonus_points",
            "1 to 100,000 points",
        ));
    }
    if o.multiplier_permille
        .is_some_and(|m| !(1001..=10_000).contains(&m))
    {
        return Err(AppError::validation(
            "offer.multiplier_permille",
            "1001 to 10000 (×1.001 to ×10)",
        ));
    }
    if let Some(d) = &o.until {
        chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d")
            .map_err(|_| AppError::validation("offer.until", "a date YYYY-MM-DD"))?;
    }
    Ok(())
}

/// The message of one member: `{name}` and `{offer}` filled in.
pub fn render(template: &str, name: &str, offer: &str) -> String {
    template.replace("{name}", name).replace("{offer}", offer)
}

/// `POST /api/v1/campaigns` → `201 {id, state: "draft"}`.
pub async fn create(app: &App, me: &Actor, body: CampaignBody) -> AppResult<Value> {
    require(me, Action::Market)?;
    let name = text("name", &body.name, NAME_CHARS_MAX)?;
    let (segment, _) = crate::segments::visible(app, me, &body.segment_id).await?;
    if body.holdout_percent > 50 {
        return Err(AppError::validation("holdout_percent", "0 to 50 per cent"));
    }
    let channel = Channel::parse(&body.channel)
        .ok_or_else(|| AppError::validation("channel", "sms, email or inbox"))?;
    let message = body.message.trim();
    if message.is_empty() || message.chars().count() > MESSAGE_CHARS_MAX {
        return Err(AppError::validation(
            "message",
            format!(
                "1 to {MESSAGE_CHARS_MAX} characters, with {{name}} and {{offer}} where they go"
            ),
        ));
    }
    if let Some(o) = &body.offer {
        check_offer(o)?;
        offer_text(app, &body.offer).await?;
    }
    if !(1..=90).contains(&body.attribution_days) {
        return Err(AppError::validation("attribution_days", "1 to 90 days"));
    }
    let send_at = body
        .send_at
        .as_deref()
        .map(|s| {
            chrono::DateTime::parse_from_rfc3339(s)
                .map(|t| t.timestamp_micros())
                .map_err(|_| AppError::validation("send_at", "an RFC 3339 time"))
        })
        .transpose()?;
    let now = app.clock().now_us();
    let row = CampaignRow {
        campaign_id: String::new(),
        name: name.clone(),
        segment_id: segment.segment_id.clone(),
        holdout_percent: i64::from(body.holdout_percent),
        channel: channel.as_str().to_string(),
        message: message.to_string(),
        offer: body
            .offer
            .as_ref()
            .map(serde_json::to_string)
            .transpose()
            .map_err(AppError::internal)?,
        send_at,
        attribution_days: i64::from(body.attribution_days),
        state: "draft".into(),
        scope: segment.scope.clone(),
        created_by: me.audit_name(),
        created_at: now,
        launched_at: None,
        launched_by: None,
    };
    let mut tx = app.store().begin().await?;
    let id = tx.create_campaign(&row).await?;
    tx.audit(&AuditEntry {
        actor: &me.audit_name(),
        action: "campaign.create",
        target_kind: "campaign",
        target_id: Some(&id),
        source: me.source.as_deref(),
        detail: json!({"name": name, "segment_id": row.segment_id, "channel": row.channel, "holdout_percent": row.holdout_percent}),
    })
    .await?;
    tx.commit().await?;
    Ok(json!({"id": id, "state": "draft"}))
}

/// A campaign the caller may see, else `campaign_not_found`.
async fn visible(app: &App, me: &Actor, id: &str) -> AppResult<CampaignRow> {
    require(me, Action::Market)?;
    let c = app.store().campaign(id).await?.ok_or_else(not_found)?;
    // Its segment's visibility is the campaign's.
    crate::segments::visible(app, me, &c.segment_id)
        .await
        .map_err(|_| not_found())?;
    Ok(c)
}

/// The offer as stored with the campaign.
fn stored_offer(c: &CampaignRow) -> AppResult<Option<Offer>> {
    c.offer
        .as_deref()
        .map(serde_json::from_str)
        .transpose()
        .map_err(AppError::internal)
}

fn campaign_json(c: &CampaignRow) -> AppResult<Value> {
    let offer = stored_offer(c)?;
    Ok(json!({
        "id": c.campaign_id, "name": c.name, "segment_id": c.segment_id,
        "holdout_percent": c.holdout_percent, "channel": c.channel, "message": c.message,
        "offer": offer, "send_at": c.send_at.map(rfc3339), "attribution_days": c.attribution_days,
        "state": c.state, "created_by": c.created_by, "created_at": rfc3339(c.created_at),
        "launched_at": c.launched_at.map(rfc3339), "launched_by": c.launched_by,
    }))
}

/// `GET /api/v1/campaigns/{id}`.
pub async fn get(app: &App, me: &Actor, id: &str) -> AppResult<Value> {
    campaign_json(&visible(app, me, id).await?)
}

/// `GET /api/v1/campaigns` → `{campaigns: [...]}` the caller may see, newest first.
pub async fn list(app: &App, me: &Actor) -> AppResult<Value> {
    require(me, Action::Market)?;
    let mut out = Vec::new();
    for c in app.store().campaigns().await? {
        if crate::segments::visible(app, me, &c.segment_id)
            .await
            .is_ok()
        {
            out.push(campaign_json(&c)?);
        }
    }
    Ok(json!({ "campaigns": out }))
}

/// `POST /api/v1/campaigns/{id}/launch` → `200` the campaign with what the launch did.
/// A campaign launched already answers the same without sending anything.
pub async fn launch(app: &App, me: &Actor, id: &str) -> AppResult<Value> {
    let c = visible(app, me, id).await?;
    if c.state == "draft" {
        launch_draft(app, me, &c).await?;
    }
    let c = app.store().campaign(id).await?.ok_or_else(not_found)?;
    let members = app.store().campaign_members(id).await?;
    let mut out = campaign_json(&c)?;
    out["targeted"] = json!(members.len());
    out["queued"] = json!(members.iter().filter(|m| m.outcome == "queued").count());
    Ok(out)
}

async fn launch_draft(app: &App, me: &Actor, c: &CampaignRow) -> AppResult<()> {
    let (segment, filter) = crate::segments::visible(app, me, &c.segment_id).await?;
    let ids = crate::segments::members_now(app, &segment, &filter).await?;
    let settings = contact::settings(app).await?;
    let policy = contact::policy(app).await?;
    let channel = Channel::parse(&c.channel).ok_or_else(|| {
        AppError::internal(format!(
            "campaign {} has channel {}",
            c.campaign_id, c.channel
        ))
    })?;
    let offer = stored_offer(c)?;
    let offer = offer_text(app, &offer).await?;
    let cause = format!("campaign:{}", c.campaign_id);
    let now = app.clock().now_us();
    let percent = u32::try_from(c.holdout_percent).unwrap_or(0);
    let mut tx = app.store().begin().await?;
    if !tx
        .claim_campaign_launch(&c.campaign_id, &me.audit_name(), now)
        .await?
    {
        // Launched by someone else meanwhile: nothing more to do.
        return Ok(());
    }
    let mut tally: BTreeMap<String, usize> = BTreeMap::new();
    // `ids` come sorted by customer id: every launch takes the members' locks in that
    // order, so that concurrent launches never wait on each other in a cycle.
    for customer_id in &ids {
        let (group, outcome, message_id) =
            if in_global_holdout(customer_id, settings.global_holdout_percent) {
                ("global_holdout", "held_out".to_string(), None)
            } else if in_campaign_holdout(&c.campaign_id, customer_id, percent) {
                ("holdout", "held_out".to_string(), None)
            } else {
                let name = app
                    .store()
                    .customer(customer_id)
                    .await?
                    .map(|m| m.name)
                    .unwrap_or_default();
                let done = contact::send(
                    app,
                    &mut tx,
                    &policy,
                    &Outgoing {
                        customer_id: customer_id.clone(),
                        channel,
                        kind: Kind::Marketing,
                        subject: Some(c.name.clone()),
                        body: render(&c.message, &name, &offer),
                        cause: cause.clone(),
                        not_before: c.send_at,
                        expires_at: None,
                    },
                    now,
                )
                .await?;
                match done {
                    Contacted::Queued { message_id, .. } => {
                        ("treated", "queued".to_string(), Some(message_id))
                    }
                    Contacted::Suppressed(r) => ("treated", r.as_str().to_string(), None),
                }
            };
        *tally.entry(format!("{group}:{outcome}")).or_default() += 1;
        tx.add_campaign_member(
            &c.campaign_id,
            &CampaignMember {
                customer_id: customer_id.clone(),
                group: group.into(),
                outcome,
                message_id,
            },
        )
        .await?;
    }
    tx.audit(&AuditEntry {
        actor: &me.audit_name(),
        action: "campaign.launch",
        target_kind: "campaign",
        target_id: Some(&c.campaign_id),
        source: me.source.as_deref(),
        detail: json!({"targeted": ids.len(), "outcomes": tally}),
    })
    .await?;
    tx.commit().await?;
    Ok(())
}

/// One group's figures.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct GroupResult {
    pub members: usize,
    pub converted: usize,
    pub spend_fen: i64,
    /// Fewer than 30 members: the intervals are rough.
    pub small: bool,
}

/// `GET /api/v1/campaigns/{id}/results`.
pub async fn results(app: &App, me: &Actor, id: &str) -> AppResult<Value> {
    let c = visible(app, me, id).await?;
    let members = app.store().campaign_members(id).await?;
    let launched = c.launched_at.unwrap_or(c.created_at);
    let window_end = launched + c.attribution_days * DAY_US;
    let bought: HashMap<String, (i64, i64)> = app
        .store()
        .campaign_purchases(id, launched, window_end)
        .await?
        .into_iter()
        .map(|(cid, n, fen)| (cid, (n, fen)))
        .collect();
    let mut treated = GroupResult::default();
    let mut control = GroupResult::default();
    let (mut spend_t, mut spend_c) = (Vec::new(), Vec::new());
    for m in &members {
        let (g, spend) = match m.group.as_str() {
            "treated" => (&mut treated, &mut spend_t),
            "holdout" => (&mut control, &mut spend_c),
            _ => continue,
        };
        let (sales, fen) = bought.get(&m.customer_id).copied().unwrap_or((0, 0));
        g.members += 1;
        g.converted += usize::from(sales > 0);
        g.spend_fen += fen;
        spend.push(fen as f64);
    }
    treated.small = (treated.members as u64) < SMALL_GROUP;
    control.small = (control.members as u64) < SMALL_GROUP;
    let mut suppressed: BTreeMap<&str, i64> =
        Suppression::ALL.iter().map(|r| (r.as_str(), 0)).collect();
    for (reason, n) in app
        .store()
        .suppressions_of(&format!("campaign:{id}"))
        .await?
    {
        if let Some(r) = Suppression::parse(&reason) {
            *suppressed.entry(r.as_str()).or_default() += n;
        }
    }
    let states: HashMap<String, i64> = app
        .store()
        .campaign_message_states(id)
        .await?
        .into_iter()
        .collect();
    let uplift = conversion_uplift(
        treated.converted as u64,
        treated.members as u64,
        control.converted as u64,
        control.members as u64,
    );
    let spend = welch_difference(&spend_t, &spend_c);
    Ok(json!({
        "id": c.campaign_id,
        "state": c.state,
        "launched_at": c.launched_at.map(rfc3339),
        "attribution_ends_at": c.launched_at.map(|_| rfc3339(window_end)),
        "targeted": members.len(),
        "holdout": control.members,
        "global_holdout": members.iter().filter(|m| m.group == "global_holdout").count(),
        "sent": states.get("sent").copied().unwrap_or(0),
        "queued": states.get("queued").copied().unwrap_or(0) + states.get("sending").copied().unwrap_or(0) + states.get("failed").copied().unwrap_or(0),
        "suppressed": suppressed,
        "treated": treated,
        "control": control,
        "uplift": uplift.map(|u| u.estimate),
        "uplift_ci95": uplift.map(|u| [u.low, u.high]),
        "spend_per_member_diff_fen": spend.map(|s| s.estimate),
        "spend_per_member_diff_ci95": spend.map(|s| [s.low, s.high]),
    }))
}
