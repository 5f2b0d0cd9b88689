//! Surveys (SPEC "Service desk", issue 16 item 5): questionnaires, single-use
//! invitations by token, answers and declines without signing in, and results (NPS and
//! CSAT per station, region and month, each with its sample size and 95 % margin).
//!
//! Invitations go out to a list of customers (`invite`) or by themselves when a ticket
//! with a customer closes (`invite_after_close`, inside the closing transaction), each
//! with a message in the customer's in-app inbox through the outbox. Nobody is invited
//! within 90 days of answering or 30 days of declining any survey. A token is 256
//! random bits, shown once and stored as its SHA-256; it is spent by the first answer
//! or decline.
//!
//! The maths and the rules are `forecourt_core::survey`.

use crate::access::{self, require, Action, Scope};
use crate::clock::{local, rfc3339, NETWORK_TZ};
use crate::error::{AppError, AppResult};
use crate::input::text;
use crate::secret::{new_token, token_hash};
use crate::App;
use forecourt_core::survey::{
    check_answers, check_questions, invitation_blocked, round2, small_sample, Answer, CsatTally,
    NpsTally, Question, QuestionKind,
};
use forecourt_store::audit::AuditEntry;
use forecourt_store::outbox::Channel;
use forecourt_store::surveys::{InvitationRow, NewInvitation, NewSurvey, ResponseRow, SurveyRow};
use forecourt_store::{StaffUser, Tx};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// How long an invitation's token may be used.
pub const INVITATION_DAYS: i64 = 30;
/// The most customers one invitation request names.
pub const INVITE_MAX: usize = 1_000;
const NAME_CHARS_MAX: usize = 200;
const DAY_US: i64 = 86_400_000_000;

/// One question as the API takes and shows it.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct QuestionBody {
    pub kind: String,
    pub text: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub options: Vec<String>,
}

/// `POST /surveys`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SurveyBody {
    pub name: String,
    pub questions: Vec<QuestionBody>,
    /// Send this survey by itself to the customer of every ticket that closes (the
    /// newest survey so marked is the one sent).
    #[serde(default)]
    pub after_ticket_close: bool,
}

/// `POST /surveys/{id}/invitations`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InvitationsBody {
    pub customer_ids: Vec<String>,
}

/// `POST /survey-responses/{token}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnswerBody {
    pub answers: Vec<Value>,
}

fn questions_of(body: &[QuestionBody]) -> AppResult<Vec<Question>> {
    let qs = body
        .iter()
        .map(|q| {
            Ok(Question {
                kind: QuestionKind::parse(&q.kind)?,
                text: q.text.trim().to_string(),
                options: q.options.iter().map(|o| o.trim().to_string()).collect(),
            })
        })
        .collect::<AppResult<Vec<_>>>()?;
    check_questions(&qs)?;
    Ok(qs)
}

fn stored_questions(s: &SurveyRow) -> AppResult<Vec<Question>> {
    let body: Vec<QuestionBody> = serde_json::from_str(&s.questions).map_err(AppError::internal)?;
    questions_of(&body)
}

fn survey_not_found() -> AppError {
    AppError::new("survey_not_found", "no survey with this id")
}

fn token_not_found() -> AppError {
    AppError::new("survey_not_found", "no invitation with this token")
}

/// Creates a survey (admins: `ManageServiceDesk`). Answers `{id}`.
pub async fn create_survey(
    app: &App,
    me: &StaffUser,
    source: Option<&str>,
    body: SurveyBody,
) -> AppResult<Value> {
    require(me, Action::ManageServiceDesk)?;
    let name = text("name", &body.name, NAME_CHARS_MAX)?;
    let qs = questions_of(&body.questions)?;
    let stored: Vec<QuestionBody> = qs
        .iter()
        .map(|q| QuestionBody {
            kind: q.kind.as_str().to_string(),
            text: q.text.clone(),
            options: q.options.clone(),
        })
        .collect();
    let questions = serde_json::to_string(&stored).map_err(AppError::internal)?;
    let actor = format!("user:{}", me.username);
    let now = app.clock().now_us();
    let mut tx = app.store().begin().await?;
    let id = tx
        .create_survey(&NewSurvey {
            name: &name,
            questions: &questions,
            after_ticket_close: body.after_ticket_close,
            created_by: &actor,
            created_at: now,
        })
        .await?;
    tx.audit(&AuditEntry {
        actor: &actor,
        action: "survey.create",
        target_kind: "survey",
        target_id: Some(&id),
        source,
        detail: json!({"name": name, "questions": qs.len(), "after_ticket_close": body.after_ticket_close}),
    })
    .await?;
    tx.commit().await?;
    Ok(json!({ "id": id }))
}

/// A survey in the list of surveys.
#[derive(Debug, Clone, Serialize)]
pub struct SurveySummary {
    pub id: String,
    pub name: String,
    pub questions: Vec<QuestionBody>,
    pub after_ticket_close: bool,
    pub created_at: String,
}

/// Every survey, newest first (whoever may read results).
pub async fn list_surveys(app: &App, me: &StaffUser) -> AppResult<Vec<SurveySummary>> {
    require(me, Action::ViewTickets)?;
    app.store()
        .surveys()
        .await?
        .into_iter()
        .map(|s| {
            Ok(SurveySummary {
                questions: serde_json::from_str(&s.questions).map_err(AppError::internal)?,
                id: s.survey_id,
                name: s.name,
                after_ticket_close: s.after_ticket_close,
                created_at: rfc3339(s.created_at),
            })
        })
        .collect()
}

/// The customers of a station (in the caller's scope) who bought there in the last
/// `days` days, at most [`INVITE_MAX`], for inviting them to a survey.
pub async fn recent_customers(
    app: &App,
    me: &StaffUser,
    station_code: &str,
    days: i64,
) -> AppResult<Vec<String>> {
    require(me, Action::WorkTickets)?;
    let station = app
        .store()
        .station_by_code(station_code)
        .await?
        .ok_or_else(|| AppError::new("station_not_found", "no station with this code"))?;
    access::require_station(me, &station)?;
    let since = app.clock().now_us() - days.clamp(1, 365) * DAY_US;
    Ok(app
        .store()
        .recent_customers_at(&station.station_id, since, INVITE_MAX as i64)
        .await?)
}

/// What inviting one customer gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Invited {
    /// The token, to be shown once.
    Token(String),
    Skipped(&'static str),
}

/// Invites one customer inside `tx` if the rules allow: no answer to any survey within
/// 90 days, no decline within 30, no pending invitation to this survey. Writes the
/// invitation and the inbox message (one per invitation) in `tx`.
async fn invite_one(
    app: &App,
    tx: &mut Tx,
    survey: &SurveyRow,
    customer_id: &str,
    station_id: Option<&str>,
    ticket_id: Option<&str>,
    now: i64,
) -> AppResult<Invited> {
    if !tx.lock_customer_for_survey(customer_id).await? {
        return Ok(Invited::Skipped("not_found"));
    }
    let h = tx
        .survey_history(customer_id, &survey.survey_id, now)
        .await?;
    if let Some(why) = invitation_blocked(h.last_answered_at, h.last_declined_at, now) {
        return Ok(Invited::Skipped(why));
    }
    if h.pending_same_survey {
        return Ok(Invited::Skipped("already_invited"));
    }
    let token = new_token("fsv_");
    let invitation_id = tx
        .create_invitation(&NewInvitation {
            survey_id: &survey.survey_id,
            customer_id,
            token_hash: &token_hash(&token),
            station_id,
            ticket_id,
            created_at: now,
            expires_at: now + INVITATION_DAYS * DAY_US,
        })
        .await?;
    // A survey of the service desk is transactional: no consent needed, no cap, but
    // never past the member's do-not-contact list of the inbox.
    crate::contact::send(
        app,
        tx,
        &forecourt_core::contact::Policy::default(),
        &crate::contact::Outgoing {
            customer_id: customer_id.to_string(),
            channel: Channel::Inbox,
            kind: forecourt_core::contact::Kind::Transactional,
            subject: Some(format!("邀请您参与调查 / A short survey: {}", survey.name)),
            body: format!(
                "感谢您的光临，请花一分钟告诉我们您的感受：/s/{token}\nThank you for your visit. Tell us how we did: /s/{token}\n(链接 {INVITATION_DAYS} 天内有效 / valid for {INVITATION_DAYS} days)"
            ),
            cause: format!("survey:{}:invitation:{invitation_id}", survey.survey_id),
            not_before: None,
            expires_at: None,
        },
        now,
    )
    .await?;
    Ok(Invited::Token(token))
}

/// `POST /surveys/{id}/invitations`: invites each customer in the caller's scope, or
/// says why not (`not_found`, `outside_scope`, `anonymized`, `duplicate`,
/// `answered_recently`, `declined_recently`, `already_invited`). One transaction.
pub async fn invite(
    app: &App,
    me: &StaffUser,
    source: Option<&str>,
    survey_id: &str,
    body: InvitationsBody,
) -> AppResult<Value> {
    require(me, Action::WorkTickets)?;
    if body.customer_ids.is_empty() || body.customer_ids.len() > INVITE_MAX {
        return Err(AppError::validation(
            "customer_ids",
            format!("1 to {INVITE_MAX} customer ids"),
        ));
    }
    let survey = app
        .store()
        .survey(survey_id)
        .await?
        .ok_or_else(survey_not_found)?;
    // Decided outside the transaction: who exists and is in scope.
    let mut plan: Vec<(String, Result<Option<String>, &'static str>)> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for id in &body.customer_ids {
        let decision = if !seen.insert(id.clone()) {
            Err("duplicate")
        } else {
            match app.store().customer(id).await? {
                None => Err("not_found"),
                Some(c) if c.anonymized_at.is_some() => Err("anonymized"),
                Some(c) if !access::customer_in_scope(app, me, &c).await? => Err("outside_scope"),
                Some(c) => Ok(c.home_station_id),
            }
        };
        plan.push((id.clone(), decision));
    }
    let now = app.clock().now_us();
    let actor = format!("user:{}", me.username);
    let mut out = Vec::new();
    let mut invited = 0;
    let mut tx = app.store().begin().await?;
    for (customer_id, decision) in plan {
        let result = match decision {
            Err(why) => Invited::Skipped(why),
            Ok(station) => {
                invite_one(
                    app,
                    &mut tx,
                    &survey,
                    &customer_id,
                    station.as_deref(),
                    None,
                    now,
                )
                .await?
            }
        };
        out.push(match result {
            Invited::Token(token) => {
                invited += 1;
                json!({"customer_id": customer_id, "token": token})
            }
            Invited::Skipped(why) => json!({"customer_id": customer_id, "skipped": why}),
        });
    }
    tx.audit(&AuditEntry {
        actor: &actor,
        action: "survey.invite",
        target_kind: "survey",
        target_id: Some(&survey.survey_id),
        source,
        detail: json!({"asked": body.customer_ids.len(), "invited": invited}),
    })
    .await?;
    tx.commit().await?;
    Ok(json!({ "invitations": out }))
}

/// Inside the transaction that closes a ticket: invites its customer to the survey
/// marked `after_ticket_close`, if there is one and the rules allow. Returns what it
/// did (`None`: no survey, or no customer).
pub async fn invite_after_close(
    app: &App,
    tx: &mut Tx,
    ticket_id: &str,
    customer_id: Option<&str>,
    station_id: &str,
    now: i64,
) -> AppResult<Option<Invited>> {
    let Some(customer_id) = customer_id else {
        return Ok(None);
    };
    let Some(survey) = tx.survey_after_ticket_close().await? else {
        return Ok(None);
    };
    invite_one(
        app,
        tx,
        &survey,
        customer_id,
        Some(station_id),
        Some(ticket_id),
        now,
    )
    .await
    .map(Some)
}

/// The invitation of a token that may still be used, read inside `tx`.
async fn usable_invitation(tx: &mut Tx, token: &str, now: i64) -> AppResult<InvitationRow> {
    let inv = tx
        .invitation_by_token_hash(&token_hash(token))
        .await?
        .ok_or_else(token_not_found)?;
    if inv.state != "pending" {
        return Err(spent(&inv.state));
    }
    if inv.expires_at <= now {
        return Err(AppError::new(
            "survey_expired",
            format!("the invitation expired at {}", rfc3339(inv.expires_at)),
        ));
    }
    Ok(inv)
}

/// A survey as its invitation shows it: its name and questions.
#[derive(Debug, Clone)]
pub struct SurveyForm {
    pub name: String,
    pub questions: Vec<Question>,
}

/// The survey of a token that may still be used, read without spending it (the page
/// at `/s/{token}` shows it before the answer). Refused as [`answer`] would refuse:
/// `survey_not_found`, `survey_already_answered` (used) or `survey_expired`.
pub async fn survey_by_token(app: &App, token: &str) -> AppResult<SurveyForm> {
    let now = app.clock().now_us();
    let mut tx = app.store().begin_read().await?;
    let inv = usable_invitation(&mut tx, token, now).await?;
    let survey = tx
        .survey(&inv.survey_id)
        .await?
        .ok_or_else(|| AppError::internal("an invitation without its survey"))?;
    Ok(SurveyForm {
        questions: stored_questions(&survey)?,
        name: survey.name,
    })
}

fn spent(state: &str) -> AppError {
    AppError::new(
        "survey_already_answered",
        format!("this invitation was {state} already; a token is used once"),
    )
}

fn answer_of(i: usize, v: &Value) -> AppResult<Answer> {
    match v {
        Value::Number(n) => n.as_i64().map(Answer::Number).ok_or_else(|| {
            AppError::validation("answers", format!("answer {}: a whole number", i + 1))
        }),
        Value::String(s) => Ok(Answer::Text(s.clone())),
        _ => Err(AppError::validation(
            "answers",
            format!("answer {}: a number or a text", i + 1),
        )),
    }
}

/// `POST /survey-responses/{token}` (no sign-in: the token is the authority). The first
/// answer is stored (`201`); any later one, concurrent or not, is `409`.
pub async fn answer(app: &App, token: &str, body: AnswerBody) -> AppResult<Value> {
    let now = app.clock().now_us();
    let answers = body
        .answers
        .iter()
        .enumerate()
        .map(|(i, v)| answer_of(i, v))
        .collect::<AppResult<Vec<_>>>()?;
    let mut tx = app.store().begin().await?;
    let inv = usable_invitation(&mut tx, token, now).await?;
    let survey = tx
        .survey(&inv.survey_id)
        .await?
        .ok_or_else(|| AppError::internal("an invitation without its survey"))?;
    let questions = stored_questions(&survey)?;
    let (nps, rating) = check_answers(&questions, &answers)?;
    if !tx.spend_invitation(&inv.invitation_id, true, now).await? {
        return Err(spent("used"));
    }
    let stored = serde_json::to_string(&body.answers).map_err(AppError::internal)?;
    tx.insert_survey_response(
        &inv,
        nps.map(i64::from),
        rating.map(i64::from),
        &stored,
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(json!({"survey_id": inv.survey_id, "state": "answered", "at": rfc3339(now)}))
}

/// `POST /survey-responses/{token}/decline`: the customer does not want to answer; the
/// token is spent and no survey reaches them for 30 days.
pub async fn decline(app: &App, token: &str) -> AppResult<Value> {
    let now = app.clock().now_us();
    let mut tx = app.store().begin().await?;
    let inv = usable_invitation(&mut tx, token, now).await?;
    if !tx.spend_invitation(&inv.invitation_id, false, now).await? {
        return Err(spent("used"));
    }
    tx.commit().await?;
    Ok(json!({"survey_id": inv.survey_id, "state": "declined", "at": rfc3339(now)}))
}

// ---------------------------------------------------------------- results

/// NPS and CSAT of one group of answers.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Figures {
    /// The sample size: answers in the group.
    pub responses: u64,
    /// NPS (−100..100, two decimals), `null` without NPS answers.
    pub nps: Option<f64>,
    /// Half the width of the NPS's 95 % interval, in NPS points.
    pub nps_margin: Option<f64>,
    /// The share of ratings 4–5, in percent (two decimals).
    pub csat: Option<f64>,
    /// The CSAT's 95 % Wilson interval, in percent.
    pub csat_ci95: Option<[f64; 2]>,
    /// Fewer than 30 answers.
    pub small_sample: bool,
}

#[derive(Debug, Clone, Default)]
struct Tally {
    n: u64,
    nps: NpsTally,
    csat: CsatTally,
}

impl Tally {
    fn add(&mut self, r: &ResponseRow) {
        self.n += 1;
        if let Some(v) = r.nps.and_then(|v| u8::try_from(v).ok()) {
            self.nps.add(v);
        }
        if let Some(v) = r.rating.and_then(|v| u8::try_from(v).ok()) {
            self.csat.add(v);
        }
    }

    fn figures(&self) -> Figures {
        Figures {
            responses: self.n,
            nps: self.nps.nps().map(round2),
            nps_margin: self.nps.margin95().map(round2),
            csat: self.csat.csat().map(round2),
            csat_ci95: self.csat.wilson95().map(|(l, h)| [round2(l), round2(h)]),
            small_sample: small_sample(self.n),
        }
    }
}

/// The results of a survey over the answers the caller's scope holds (answers counted
/// for a station outside it are left out; answers of no station only at company scope).
pub async fn results(app: &App, me: &StaffUser, survey_id: &str) -> AppResult<Value> {
    require(me, Action::ViewTickets)?;
    let survey = app
        .store()
        .survey(survey_id)
        .await?
        .ok_or_else(survey_not_found)?;
    let scope = Scope::of(me);
    let stations: std::collections::HashMap<String, forecourt_store::Station> = app
        .store()
        .stations()
        .await?
        .into_iter()
        .map(|s| (s.station_id.clone(), s))
        .collect();
    let rows = app.store().survey_responses(&survey.survey_id).await?;
    let mut all = Tally::default();
    let mut by_station: BTreeMap<String, Tally> = BTreeMap::new();
    let mut by_region: BTreeMap<String, Tally> = BTreeMap::new();
    let mut by_month: BTreeMap<String, Tally> = BTreeMap::new();
    for r in &rows {
        let visible = match (
            &scope,
            r.station_id.as_ref().and_then(|id| stations.get(id)),
        ) {
            (Scope::Company, _) => true,
            (_, Some(s)) => access::station_in_scope(me, s),
            (_, None) => false,
        };
        if !visible {
            continue;
        }
        all.add(r);
        if let Some(code) = &r.station_code {
            by_station.entry(code.clone()).or_default().add(r);
        }
        if let Some(code) = &r.region_code {
            by_region.entry(code.clone()).or_default().add(r);
        }
        let d = local(NETWORK_TZ, r.answered_at).date;
        by_month
            .entry(d.format("%Y-%m").to_string())
            .or_default()
            .add(r);
    }
    let group = |key: &str, m: &BTreeMap<String, Tally>| -> Vec<Value> {
        m.iter()
            .map(|(k, t)| {
                let mut v = serde_json::to_value(t.figures()).unwrap_or_default();
                v[key] = json!(k);
                v
            })
            .collect()
    };
    let mut v = serde_json::to_value(all.figures()).map_err(AppError::internal)?;
    v["survey_id"] = json!(survey.survey_id);
    v["name"] = json!(survey.name);
    v["by_station"] = json!(group("station_code", &by_station));
    v["by_region"] = json!(group("region_code", &by_region));
    v["by_month"] = json!(group("month", &by_month));
    Ok(v)
}
