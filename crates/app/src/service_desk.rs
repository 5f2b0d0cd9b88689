//! The service desk (SPEC "Service desk", F8): business calendars, SLA policies,
//! tickets and their workflow, the SLA clocks read from a ticket's events, and what the
//! escalation job should notify.
//!
//! The workflow is seed 004's: accepted (受理) → investigating (调查) → solution
//! proposed (制定解决方案) → implementing (实施) → callback (回访) → closed, with
//! waiting-for-the-customer as a pause of the SLA clocks and a reopen within 7 days that
//! continues the same ticket and the same clocks. [`Flow`] is the whole rule: a ticket's
//! state, times, pauses and callback outcome are what replaying its events through
//! `Flow::apply` gives, and a new step is accepted exactly when `apply` accepts it.
//!
//! Business-time arithmetic is `forecourt_core::business_time` and
//! `forecourt_core::sla`; nothing here counts minutes itself.

use crate::access::{self, require, require_station, Action, Scope};
use crate::clock::{parse_time, rfc3339};
use crate::error::{AppError, AppResult};
use crate::input::{long_text, text};
use crate::App;
use chrono::{DateTime, NaiveDate, Utc, Weekday};
use forecourt_core::business_time::{BusinessTimeError, Calendar, OpeningInterval, WeekHours};
use forecourt_core::sla::{
    EscalationLadder, EscalationLevel, Pause, Severity, SlaClock, SlaPolicy,
};
use forecourt_store::audit::AuditEntry;
use forecourt_store::outbox::{Channel, NewMessage};
use forecourt_store::tickets::{
    CalendarRow, NewCalendar, NewTicket, NewTicketEvent, TicketEventRow, TicketFilter, TicketRow,
    TICKETS_PAGE_MAX,
};
use forecourt_store::{StaffUser, Station, StoreError, Tx};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// Ticket kinds (issue 16).
pub const KINDS: &[&str] = &[
    "complaint",
    "suggestion",
    "praise",
    "inquiry",
    "service_request",
];
/// Where a ticket came in.
pub const CHANNELS: &[&str] = &["counter", "phone", "portal", "wechat", "email"];
/// What a ticket is about.
pub const CATEGORIES: &[&str] = &[
    "attitude",
    "fuel_quality",
    "metering",
    "invoice",
    "waiting",
    "car_wash",
    "card",
    "points",
    "other",
];
/// The steps a ticket's events take (SPEC "Service desk").
pub const ACTIONS: &[&str] = &[
    "respond",
    "investigate",
    "propose",
    "implement",
    "wait_customer",
    "resume",
    "callback",
    "unreachable",
    "close",
    "reopen",
];
/// The states of a ticket.
pub const STATES: &[&str] = &[
    "accepted",
    "investigating",
    "solution_proposed",
    "implementing",
    "waiting_customer",
    "callback",
    "closed",
];

/// The steps that speak to the customer, so that the first of them is the first
/// response: an answer, a question (waiting for the customer), a proposed solution, a
/// callback, or the closing message itself.
const RESPONDING_ACTIONS: &[&str] = &["respond", "wait_customer", "propose", "callback", "close"];
/// The action of the event the escalation job records (author `system`); not a step
/// of the workflow, so replaying the events leaves it out.
pub const ESCALATE_ACTION: &str = "escalate";
/// The author of what the service desk's jobs record.
pub const SYSTEM_AUTHOR: &str = "system";
/// Failed callback attempts after which a complaint may be closed as unreachable.
pub const UNREACHABLE_ATTEMPTS_MIN: u32 = 3;
/// A closed ticket may be reopened within this long of its closing; later, the customer's
/// new contact is a new ticket.
pub const REOPEN_WITHIN_US: i64 = 7 * 86_400_000_000;
/// Notes and descriptions are at most this many characters.
const NOTE_CHARS_MAX: usize = 2_000;
/// The most open tickets one escalation run looks at.
pub const ESCALATION_SCAN_MAX: i64 = 500;
/// The most tickets `breached=true` looks through to find the breached ones.
const BREACHED_SCAN_MAX: i64 = 500;

// ---------------------------------------------------------------- calendars

/// `PUT /calendars/{code}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CalendarBody {
    pub timezone: String,
    /// `{"mon": [["08:00","18:00"]], …, "sun": []}` (a missing day is closed, a day may
    /// be `"24h"`), or `"24h"` for always open.
    pub hours: Value,
    #[serde(default)]
    pub holidays: Vec<String>,
    #[serde(default)]
    pub workdays: Vec<String>,
    pub workday_hours: Option<Value>,
}

/// A calendar as the API shows it.
#[derive(Debug, Serialize)]
pub struct CalendarView {
    pub code: String,
    pub timezone: String,
    pub hours: Value,
    pub holidays: Vec<String>,
    pub workdays: Vec<String>,
    pub workday_hours: Option<Value>,
}

const WEEKDAYS: [(&str, Weekday); 7] = [
    ("mon", Weekday::Mon),
    ("tue", Weekday::Tue),
    ("wed", Weekday::Wed),
    ("thu", Weekday::Thu),
    ("fri", Weekday::Fri),
    ("sat", Weekday::Sat),
    ("sun", Weekday::Sun),
];

fn intervals(field: &str, v: &Value) -> AppResult<Vec<OpeningInterval>> {
    if v.as_str() == Some("24h") {
        return Ok(vec![OpeningInterval::ALL_DAY]);
    }
    let bad = || AppError::validation(field, "a list of [\"HH:MM\", \"HH:MM\"] pairs, or \"24h\"");
    let list = v.as_array().ok_or_else(bad)?;
    list.iter()
        .map(|pair| {
            let pair = pair.as_array().filter(|p| p.len() == 2).ok_or_else(bad)?;
            let (Some(open), Some(close)) = (pair[0].as_str(), pair[1].as_str()) else {
                return Err(bad());
            };
            Ok(OpeningInterval::parse(open, close)?)
        })
        .collect()
}

fn week_hours(v: &Value) -> AppResult<WeekHours> {
    if v.as_str() == Some("24h") {
        return Ok(WeekHours::all_day());
    }
    let days = v.as_object().ok_or_else(|| {
        AppError::validation("hours", "an object of weekdays (mon … sun), or \"24h\"")
    })?;
    if let Some(k) = days.keys().find(|k| !WEEKDAYS.iter().any(|(d, _)| d == k)) {
        return Err(AppError::validation(
            "hours",
            format!("{k:?} is not a weekday (mon, tue, wed, thu, fri, sat, sun)"),
        ));
    }
    let mut week = WeekHours::closed();
    for (name, day) in WEEKDAYS {
        if let Some(v) = days.get(name) {
            week = week.with_day(day, &intervals(&format!("hours.{name}"), v)?)?;
        }
    }
    Ok(week)
}

fn dates(field: &str, list: &[String]) -> AppResult<Vec<NaiveDate>> {
    list.iter()
        .map(|d| {
            NaiveDate::parse_from_str(d, "%Y-%m-%d")
                .map_err(|_| AppError::validation(field, format!("{d:?} is not a date YYYY-MM-DD")))
        })
        .collect()
}

/// Builds a core calendar from the stored (or sent) parts; the one parser of both.
fn build_calendar(
    timezone: &str,
    hours: &Value,
    holidays: &[String],
    workdays: &[String],
    workday_hours: Option<&Value>,
) -> AppResult<Calendar> {
    let tz = Calendar::parse_time_zone(timezone)?;
    let mut cal = Calendar::new(tz, week_hours(hours)?)
        .with_holidays(dates("holidays", holidays)?)?
        .with_workdays(dates("workdays", workdays)?)?;
    if let Some(h) = workday_hours.filter(|v| !v.is_null()) {
        cal = cal.with_workday_hours(&intervals("workday_hours", h)?)?;
    }
    Ok(cal)
}

fn stored_json<T: serde::de::DeserializeOwned>(s: &str) -> AppResult<T> {
    serde_json::from_str(s).map_err(AppError::internal)
}

fn calendar_of(row: &CalendarRow) -> AppResult<Calendar> {
    let holidays: Vec<String> = stored_json(&row.holidays)?;
    let workdays: Vec<String> = stored_json(&row.workdays)?;
    let workday_hours: Option<Value> = row.workday_hours.as_deref().map(stored_json).transpose()?;
    build_calendar(
        &row.time_zone,
        &stored_json(&row.hours)?,
        &holidays,
        &workdays,
        workday_hours.as_ref(),
    )
}

fn calendar_view(row: &CalendarRow) -> AppResult<CalendarView> {
    Ok(CalendarView {
        code: row.code.clone(),
        timezone: row.time_zone.clone(),
        hours: stored_json(&row.hours)?,
        holidays: stored_json(&row.holidays)?,
        workdays: stored_json(&row.workdays)?,
        workday_hours: row.workday_hours.as_deref().map(stored_json).transpose()?,
    })
}

fn calendar_code(code: &str) -> AppResult<String> {
    let code = text("code", code, 32)?;
    if !code
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(AppError::validation(
            "code",
            "letters, digits, '-' and '_' only",
        ));
    }
    Ok(code)
}

fn audit_entry<'a>(
    actor: &'a str,
    source: Option<&'a str>,
    action: &'a str,
    kind: &'a str,
    id: Option<&'a str>,
    detail: Value,
) -> AuditEntry<'a> {
    AuditEntry {
        actor,
        action,
        target_kind: kind,
        target_id: id,
        source,
        detail,
    }
}

/// Creates or replaces a calendar (admins).
pub async fn put_calendar(
    app: &App,
    me: &StaffUser,
    source: Option<&str>,
    code: &str,
    body: CalendarBody,
) -> AppResult<CalendarView> {
    require(me, Action::ManageServiceDesk)?;
    let code = calendar_code(code)?;
    // Built once to validate: what is stored is exactly what parses.
    build_calendar(
        &body.timezone,
        &body.hours,
        &body.holidays,
        &body.workdays,
        body.workday_hours.as_ref(),
    )?;
    let norm = |d: Vec<NaiveDate>| -> Vec<String> {
        let mut d: Vec<String> = d.iter().map(|d| d.to_string()).collect();
        d.sort();
        d.dedup();
        d
    };
    let holidays = serde_json::to_string(&norm(dates("holidays", &body.holidays)?))
        .map_err(AppError::internal)?;
    let workdays = serde_json::to_string(&norm(dates("workdays", &body.workdays)?))
        .map_err(AppError::internal)?;
    let hours = body.hours.to_string();
    let workday_hours = body
        .workday_hours
        .as_ref()
        .filter(|v| !v.is_null())
        .map(Value::to_string);
    let actor = format!("user:{}", me.username);
    let mut tx = app.store().begin().await?;
    let (id, created) = tx
        .put_calendar(&NewCalendar {
            code: &code,
            time_zone: &body.timezone,
            hours: &hours,
            holidays: &holidays,
            workdays: &workdays,
            workday_hours: workday_hours.as_deref(),
        })
        .await?;
    tx.audit(&audit_entry(
        &actor,
        source,
        "calendar.put",
        "calendar",
        Some(&id),
        json!({"code": code, "created": created}),
    ))
    .await?;
    let row = tx
        .calendar_by_code(&code)
        .await?
        .ok_or(StoreError::NotFound("calendar"))?;
    tx.commit().await?;
    calendar_view(&row)
}

/// Makes a station's tickets run on a calendar (admins).
pub async fn assign_calendar(
    app: &App,
    me: &StaffUser,
    source: Option<&str>,
    station_code: &str,
    calendar: &str,
) -> AppResult<Value> {
    require(me, Action::ManageServiceDesk)?;
    let station = app
        .store()
        .station_by_code(station_code)
        .await?
        .ok_or_else(|| AppError::new("station_not_found", "no station with this code"))?;
    let actor = format!("user:{}", me.username);
    let mut tx = app.store().begin().await?;
    let cal = tx
        .calendar_by_code(calendar)
        .await?
        .ok_or_else(|| AppError::new("calendar_not_found", "no calendar with this code"))?;
    tx.set_station_calendar(&station.station_id, &cal.calendar_id)
        .await?;
    tx.audit(&audit_entry(
        &actor,
        source,
        "station.calendar",
        "station",
        Some(&station.station_id),
        json!({"calendar": cal.code}),
    ))
    .await?;
    tx.commit().await?;
    Ok(json!({"station_code": station.code, "calendar": cal.code}))
}

/// `PUT /sla-policies/{severity}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyBody {
    pub first_response_minutes: u32,
    pub resolution_minutes: u32,
}

/// Sets the targets of one severity (admins); tickets opened from now on take them.
pub async fn put_policy(
    app: &App,
    me: &StaffUser,
    source: Option<&str>,
    severity: &str,
    body: PolicyBody,
) -> AppResult<Value> {
    require(me, Action::ManageServiceDesk)?;
    let severity = Severity::parse(severity)?;
    let policy = SlaPolicy::new(body.first_response_minutes, body.resolution_minutes)?;
    let actor = format!("user:{}", me.username);
    let mut tx = app.store().begin().await?;
    tx.put_sla_policy(severity, policy).await?;
    let detail = json!({
        "severity": severity.as_str(),
        "first_response_minutes": policy.first_response_minutes(),
        "resolution_minutes": policy.resolution_minutes(),
    });
    tx.audit(&audit_entry(
        &actor,
        source,
        "sla_policy.put",
        "sla_policy",
        Some(severity.as_str()),
        detail.clone(),
    ))
    .await?;
    tx.commit().await?;
    Ok(detail)
}

// ---------------------------------------------------------------- the workflow

/// A step to apply.
#[derive(Debug, Clone)]
pub struct Step<'a> {
    pub action: &'a str,
    pub at: i64,
    pub csat: Option<i64>,
    pub has_note: bool,
}

/// A ticket's workflow state: what replaying its events gives. Pure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flow {
    pub state: &'static str,
    pub first_response_at: Option<i64>,
    /// When the resolution clock stopped (the callback stage began, or the ticket
    /// closed); cleared by a reopen.
    pub resolved_at: Option<i64>,
    pub closed_at: Option<i64>,
    /// Every pause of the clocks: waits for the customer, and the time a ticket stood
    /// resolved before it was reopened. The last may be open.
    pub pauses: Vec<(i64, Option<i64>)>,
    /// The state a wait for the customer returns to.
    before_wait: Option<&'static str>,
    /// A callback reached the customer since the last reopen.
    pub callback_done: bool,
    /// Failed callback attempts since the last reopen.
    pub unreachable_attempts: u32,
    pub last_at: i64,
}

impl Flow {
    /// A ticket just opened.
    pub fn opened(at: i64) -> Self {
        Flow {
            state: "accepted",
            first_response_at: None,
            resolved_at: None,
            closed_at: None,
            pauses: Vec::new(),
            before_wait: None,
            callback_done: false,
            unreachable_attempts: 0,
            last_at: at,
        }
    }

    /// Replays stored events (the first is the opening).
    pub fn replay(opened_at: i64, kind: &str, events: &[TicketEventRow]) -> AppResult<Self> {
        let mut flow = Flow::opened(opened_at);
        // The opening is the start; escalations are the job's records, not steps.
        for e in events
            .iter()
            .filter(|e| e.action != "open" && e.action != ESCALATE_ACTION)
        {
            flow.apply(
                kind,
                &Step {
                    action: &e.action,
                    at: e.at,
                    csat: e.csat,
                    has_note: e.note.is_some(),
                },
            )
            .map_err(|err| {
                AppError::internal(format!(
                    "stored ticket event {} does not replay: {err}",
                    e.seq
                ))
            })?;
        }
        Ok(flow)
    }

    /// Applies one step, or refuses it and leaves the flow as it was.
    pub fn apply(&mut self, kind: &str, step: &Step<'_>) -> AppResult<()> {
        if step.at < self.last_at {
            return Err(AppError::validation(
                "at",
                "a step cannot be earlier than the ticket's last step",
            ));
        }
        let refuse = || {
            AppError::new(
                "invalid_transition",
                format!(
                    "a ticket that is {} cannot take the step {}",
                    self.state, step.action
                ),
            )
        };
        let mut next = self.clone();
        let s = self.state;
        let working = matches!(
            s,
            "accepted" | "investigating" | "solution_proposed" | "implementing"
        );
        next.state = match step.action {
            "respond" if s != "closed" && s != "waiting_customer" => s,
            "investigate" if s == "accepted" => "investigating",
            "propose" if s == "accepted" || s == "investigating" => "solution_proposed",
            "implement" if s == "solution_proposed" => "implementing",
            "wait_customer" if working => {
                next.before_wait = Some(s);
                next.pauses.push((step.at, None));
                "waiting_customer"
            }
            "resume" if s == "waiting_customer" => {
                next.end_pause(step.at);
                next.before_wait.take().unwrap_or("investigating")
            }
            "callback" if s == "implementing" || s == "callback" => {
                match step.csat {
                    Some(1..=5) => {}
                    _ => {
                        return Err(AppError::validation(
                            "csat",
                            "a callback's satisfaction is 1 to 5",
                        ))
                    }
                }
                if !step.has_note {
                    return Err(AppError::validation(
                        "note",
                        "a callback needs a note of what the customer said",
                    ));
                }
                next.callback_done = true;
                next.resolved_at.get_or_insert(step.at);
                "callback"
            }
            "unreachable" if s == "implementing" || s == "callback" => {
                next.unreachable_attempts += 1;
                next.resolved_at.get_or_insert(step.at);
                "callback"
            }
            "close" if s != "closed" => {
                if kind == "complaint"
                    && !(self.callback_done
                        || self.unreachable_attempts >= UNREACHABLE_ATTEMPTS_MIN)
                {
                    return Err(AppError::new(
                        "callback_required",
                        format!(
                            "a complaint is closed after a callback: record `callback` with csat 1-5 and a note, or `unreachable` {UNREACHABLE_ATTEMPTS_MIN} times ({} so far)",
                            self.unreachable_attempts
                        ),
                    ));
                }
                if s == "waiting_customer" {
                    next.end_pause(step.at);
                    next.before_wait = None;
                }
                next.closed_at = Some(step.at);
                next.resolved_at.get_or_insert(step.at);
                "closed"
            }
            "reopen" if s == "closed" => {
                let closed = self.closed_at.unwrap_or(step.at);
                if step.at - closed > REOPEN_WITHIN_US {
                    return Err(AppError::new(
                        "invalid_transition",
                        "the ticket was closed more than 7 days ago: open a new ticket",
                    ));
                }
                // The same clock continues: the time it stood resolved is a pause.
                if let Some(r) = next.resolved_at.take() {
                    next.pauses.push((r, Some(step.at)));
                }
                next.closed_at = None;
                next.callback_done = false;
                next.unreachable_attempts = 0;
                "investigating"
            }
            a if ACTIONS.contains(&a) => return Err(refuse()),
            a => {
                return Err(AppError::validation(
                    "action",
                    format!("{a:?} is not one of {}", ACTIONS.join(", ")),
                ))
            }
        };
        if RESPONDING_ACTIONS.contains(&step.action) {
            next.first_response_at.get_or_insert(step.at);
        }
        next.last_at = step.at;
        *self = next;
        Ok(())
    }

    fn end_pause(&mut self, at: i64) {
        if let Some(p) = self.pauses.last_mut().filter(|p| p.1.is_none()) {
            p.1 = Some(at);
        }
    }
}

// ---------------------------------------------------------------- SLA reading

fn instant(us: i64) -> AppResult<DateTime<Utc>> {
    DateTime::<Utc>::from_timestamp_micros(us)
        .ok_or_else(|| AppError::internal(format!("time {us} out of range")))
}

fn bt(e: BusinessTimeError) -> AppError {
    AppError::internal(format!("business time: {e}"))
}

/// A ticket's two SLA clocks, read at one instant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SlaReading {
    pub first_response_due_at: String,
    pub resolution_due_at: String,
    pub paused_business_minutes: i64,
    /// The due escalation level (0 none, 1 station manager, 2 region manager, 3 HQ).
    pub escalation_level: u8,
    pub breached: bool,
    pub first_response_breached: bool,
    pub resolution_breached: bool,
    /// Whether the clocks stand still now (waiting for the customer, resolved, closed).
    pub paused: bool,
    /// The share of each target used, in thousandths (1000 at the due time), for the
    /// console's warning colours; not part of the API's answer.
    #[serde(skip)]
    pub first_response_used_permille: u64,
    #[serde(skip)]
    pub resolution_used_permille: u64,
}

struct Clocks<'c> {
    first_response: SlaClock<'c>,
    resolution: SlaClock<'c>,
}

fn clocks<'c>(cal: &'c Calendar, t: &TicketRow, flow: &Flow) -> AppResult<Clocks<'c>> {
    let pauses = flow
        .pauses
        .iter()
        .map(|&(from, until)| {
            Ok(Pause {
                from: instant(from)?,
                until: until.map(instant).transpose()?,
            })
        })
        .collect::<AppResult<Vec<_>>>()?;
    let opened = instant(t.opened_at)?;
    let minutes = |m: i64| u32::try_from(m).map_err(AppError::internal);
    let mut first_response =
        SlaClock::new(cal, opened, minutes(t.first_response_minutes)?, &pauses)?;
    if let Some(at) = flow.first_response_at {
        first_response = first_response.stopped_at(instant(at)?);
    }
    let mut resolution = SlaClock::new(cal, opened, minutes(t.resolution_minutes)?, &pauses)?;
    if let Some(at) = flow.resolved_at {
        resolution = resolution.stopped_at(instant(at)?);
    }
    Ok(Clocks {
        first_response,
        resolution,
    })
}

fn read_sla(cal: &Calendar, t: &TicketRow, flow: &Flow, now_us: i64) -> AppResult<SlaReading> {
    let now = instant(now_us)?;
    let c = clocks(cal, t, flow)?;
    let ladder = EscalationLadder::default();
    let level = |clock: &SlaClock<'_>| -> AppResult<u8> {
        Ok(ladder
            .level_at(clock, now)
            .map_err(bt)?
            .map_or(0, EscalationLevel::number))
    };
    let fr_breached = c.first_response.breached(now).map_err(bt)?;
    let res_breached = c.resolution.breached(now).map_err(bt)?;
    Ok(SlaReading {
        first_response_due_at: rfc3339(
            c.first_response.due_at(now).map_err(bt)?.timestamp_micros(),
        ),
        resolution_due_at: rfc3339(c.resolution.due_at(now).map_err(bt)?.timestamp_micros()),
        paused_business_minutes: c.resolution.paused(now).map_err(bt)?.num_minutes(),
        escalation_level: level(&c.first_response)?.max(level(&c.resolution)?),
        breached: fr_breached || res_breached,
        first_response_breached: fr_breached,
        resolution_breached: res_breached,
        paused: c.resolution.is_paused(now),
        first_response_used_permille: c.first_response.used_permille(now).map_err(bt)?,
        resolution_used_permille: c.resolution.used_permille(now).map_err(bt)?,
    })
}

// ---------------------------------------------------------------- tickets

/// `POST /tickets`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TicketBody {
    pub kind: String,
    pub channel: String,
    pub station_code: String,
    pub category: String,
    pub severity: String,
    pub customer_id: Option<String>,
    pub description: String,
    /// When the customer raised it (a complaint taken by phone earlier); default now,
    /// never in the future.
    pub opened_at: Option<String>,
}

/// `POST /tickets/{id}/events`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventBody {
    pub action: String,
    pub note: Option<String>,
    /// The username to assign the ticket to.
    pub assignee: Option<String>,
    pub csat: Option<i64>,
    /// When the step happened; default now, never in the future nor before the
    /// ticket's last step.
    pub at: Option<String>,
}

/// One step as the API shows it.
#[derive(Debug, Serialize)]
pub struct EventView {
    pub seq: i64,
    pub action: String,
    pub author: String,
    pub from_state: String,
    pub to_state: String,
    pub note: Option<String>,
    pub assignee: Option<String>,
    pub csat: Option<i64>,
    pub at: String,
    pub recorded_at: String,
}

/// A ticket as the API shows it; `events` only when one ticket is read.
#[derive(Debug, Serialize)]
pub struct TicketView {
    pub id: String,
    pub kind: String,
    pub channel: String,
    pub station_code: String,
    pub category: String,
    pub severity: String,
    pub customer_id: Option<String>,
    pub description: String,
    pub state: String,
    pub assignee: Option<String>,
    pub opened_by: String,
    pub opened_at: String,
    pub first_response_at: Option<String>,
    pub resolved_at: Option<String>,
    pub closed_at: Option<String>,
    pub first_response_minutes: i64,
    pub resolution_minutes: i64,
    pub callback_attempts: u32,
    #[serde(flatten)]
    pub sla: SlaReading,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub events: Option<Vec<EventView>>,
}

fn one_of(field: &str, value: &str, allowed: &[&str]) -> AppResult<()> {
    if allowed.contains(&value) {
        Ok(())
    } else {
        Err(AppError::validation(
            field,
            format!("{value:?} is not one of {}", allowed.join(", ")),
        ))
    }
}

/// A time sent by a client for something that already happened: RFC 3339, not after
/// the application's clock.
fn past_time(app: &App, field: &str, s: Option<&str>) -> AppResult<i64> {
    let now = app.clock().now_us();
    let Some(s) = s else { return Ok(now) };
    let at = parse_time(field, s)?;
    if at > now {
        return Err(AppError::validation(
            field,
            format!(
                "{} is in the future (the server's time is {})",
                rfc3339(at),
                rfc3339(now)
            ),
        ));
    }
    Ok(at)
}

fn ticket_not_found() -> AppError {
    AppError::new("ticket_not_found", "no ticket with this id")
}

/// The description of a ticket: trimmed of control characters, not empty, at most
/// [`NOTE_CHARS_MAX`] characters.
fn description_of(description: &str) -> AppResult<String> {
    let description = long_text("description", description, NOTE_CHARS_MAX)?;
    if description.trim().is_empty() {
        return Err(AppError::validation("description", "may not be empty"));
    }
    Ok(description)
}

/// A ticket to open, checked: what [`insert_ticket`] writes.
struct Opening<'a> {
    kind: &'a str,
    channel: &'a str,
    station: &'a Station,
    category: &'a str,
    severity: Severity,
    customer_id: Option<&'a str>,
    description: &'a str,
    opened_at: i64,
    /// The author, as the audit log names actors (`user:NAME`, `member:ID`).
    actor: &'a str,
    source: Option<&'a str>,
}

/// Writes a new ticket in `tx`: the severity's targets copied onto it, its opening
/// event, and the audit entry. The one writer of new tickets, for staff and members.
async fn insert_ticket(tx: &mut Tx, o: &Opening<'_>) -> AppResult<String> {
    // The severity's targets are copied onto the ticket: the promise made when it was
    // opened holds even if the policy changes later.
    let policy = match tx.sla_policy(o.severity.as_str()).await? {
        Some(p) => SlaPolicy::new(
            u32::try_from(p.first_response_minutes).map_err(AppError::internal)?,
            u32::try_from(p.resolution_minutes).map_err(AppError::internal)?,
        )?,
        None => SlaPolicy::default_for(o.severity),
    };
    let id = tx
        .create_ticket(&NewTicket {
            kind: o.kind,
            channel: o.channel,
            station_id: &o.station.station_id,
            category: o.category,
            severity: o.severity.as_str(),
            first_response_minutes: i64::from(policy.first_response_minutes()),
            resolution_minutes: i64::from(policy.resolution_minutes()),
            customer_id: o.customer_id,
            description: o.description,
            state: "accepted",
            opened_at: o.opened_at,
            opened_by: o.actor,
        })
        .await?;
    tx.append_ticket_event(
        &id,
        0,
        &NewTicketEvent {
            action: "open",
            author: o.actor,
            from_state: "",
            to_state: "accepted",
            note: None,
            assignee_id: None,
            csat: None,
            at: o.opened_at,
            first_response_at: None,
            resolved_at: None,
            closed_at: None,
            ticket_assignee_id: None,
        },
    )
    .await?;
    tx.audit(&audit_entry(
        o.actor,
        o.source,
        "ticket.open",
        "ticket",
        Some(&id),
        json!({"station": o.station.code, "kind": o.kind, "channel": o.channel, "severity": o.severity.as_str(), "opened_at": rfc3339(o.opened_at)}),
    ))
    .await?;
    Ok(id)
}

/// Opens a ticket at a station in the caller's scope.
pub async fn open_ticket(
    app: &App,
    me: &StaffUser,
    source: Option<&str>,
    body: TicketBody,
) -> AppResult<TicketView> {
    require(me, Action::WorkTickets)?;
    one_of("kind", &body.kind, KINDS)?;
    one_of("channel", &body.channel, CHANNELS)?;
    one_of("category", &body.category, CATEGORIES)?;
    let severity = Severity::parse(&body.severity)?;
    let description = description_of(&body.description)?;
    let opened_at = past_time(app, "opened_at", body.opened_at.as_deref())?;
    let station = app
        .store()
        .station_by_code(&body.station_code)
        .await?
        .ok_or_else(|| AppError::new("unknown_station", "station_code names no station"))?;
    require_station(me, &station)?;
    if let Some(c) = &body.customer_id {
        if app.store().customer(c).await?.is_none() {
            return Err(AppError::new(
                "customer_not_found",
                "no customer with this id",
            ));
        }
    }
    let actor = format!("user:{}", me.username);
    let mut tx = app.store().begin().await?;
    let id = insert_ticket(
        &mut tx,
        &Opening {
            kind: &body.kind,
            channel: &body.channel,
            station: &station,
            category: &body.category,
            severity,
            customer_id: body.customer_id.as_deref(),
            description: &description,
            opened_at,
            actor: &actor,
            source,
        },
    )
    .await?;
    tx.commit().await?;
    ticket_view(app, &id, true).await
}

// ---------------------------------------------------------------- the member's side

/// The kinds of ticket a member opens from the portal (a service request is staff's).
pub const MEMBER_KINDS: &[&str] = &["complaint", "suggestion", "praise", "inquiry"];
/// The most tickets one member opens from the portal in [`MEMBER_TICKETS_WINDOW_US`]:
/// a guard against floods, not a quota people meet (a member with more to say calls
/// the station or the hotline, which staff record).
pub const MEMBER_TICKETS_PER_DAY: i64 = 3;
/// The window of [`MEMBER_TICKETS_PER_DAY`]: the last 24 hours.
pub const MEMBER_TICKETS_WINDOW_US: i64 = 86_400_000_000;
/// The most tickets the member's list shows.
pub const MEMBER_TICKETS_SHOWN: i64 = 50;

/// A ticket a member opens from the portal.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemberTicketBody {
    pub kind: String,
    pub category: String,
    /// The station it is about; by default the member's home station.
    pub station_code: Option<String>,
    pub description: String,
}

/// The severity of a ticket a member opens: the member does not choose it. A complaint
/// about the fuel's quality or the pump's metering is `high` (it may concern every
/// customer of the station and is checked at once); everything else is `normal`. Staff
/// change nothing here; they work the ticket on its SLA.
pub fn member_severity(kind: &str, category: &str) -> Severity {
    if kind == "complaint" && matches!(category, "fuel_quality" | "metering") {
        Severity::High
    } else {
        Severity::Normal
    }
}

/// A member opens a ticket from the portal (channel `portal`, the member as its
/// customer, opened now): the same checks and the same writer as staff's
/// [`open_ticket`], and at most [`MEMBER_TICKETS_PER_DAY`] in 24 hours (refused as
/// `rate_limited`, changing nothing). The count and the opening run under a lock of
/// the member's row, so parallel requests cannot pass the limit together. Returns the
/// new ticket's id.
pub async fn open_member_ticket(
    app: &App,
    customer_id: &str,
    source: Option<&str>,
    body: MemberTicketBody,
) -> AppResult<String> {
    one_of("kind", &body.kind, MEMBER_KINDS)?;
    one_of("category", &body.category, CATEGORIES)?;
    let description = description_of(&body.description)?;
    let customer = app
        .store()
        .customer(customer_id)
        .await?
        .filter(|c| c.anonymized_at.is_none())
        .ok_or_else(|| AppError::new("customer_not_found", "no customer with this id"))?;
    let station = match body.station_code.as_deref().filter(|c| !c.is_empty()) {
        Some(code) => app.store().station_by_code(code).await?,
        None => match customer.home_station_id.as_deref() {
            Some(id) => app.store().station_by_id(id).await?,
            None => None,
        },
    }
    .ok_or_else(|| AppError::validation("station_code", "choose the station it is about"))?;
    let severity = member_severity(&body.kind, &body.category);
    let now = app.clock().now_us();
    let actor = format!("member:{customer_id}");
    let mut tx = app.store().begin().await?;
    if !tx.lock_customer_for_tickets(customer_id).await? {
        return Err(AppError::new(
            "customer_not_found",
            "no customer with this id",
        ));
    }
    let recent = tx
        .count_customer_tickets_since(customer_id, "portal", now - MEMBER_TICKETS_WINDOW_US)
        .await?;
    if recent >= MEMBER_TICKETS_PER_DAY {
        return Err(AppError::new(
            "rate_limited",
            format!("at most {MEMBER_TICKETS_PER_DAY} tickets a day from the portal"),
        ));
    }
    let id = insert_ticket(
        &mut tx,
        &Opening {
            kind: &body.kind,
            channel: "portal",
            station: &station,
            category: &body.category,
            severity,
            customer_id: Some(customer_id),
            description: &description,
            opened_at: now,
            actor: &actor,
            source,
        },
    )
    .await?;
    tx.commit().await?;
    Ok(id)
}

/// The member's own tickets, newest first, with the stations they are about (by id).
pub async fn member_tickets(
    app: &App,
    customer_id: &str,
) -> AppResult<(Vec<TicketRow>, std::collections::HashMap<String, Station>)> {
    let tickets = app
        .store()
        .tickets_of_customer(customer_id, MEMBER_TICKETS_SHOWN)
        .await?;
    let stations = if tickets.is_empty() {
        Default::default()
    } else {
        app.store()
            .stations()
            .await?
            .into_iter()
            .map(|s| (s.station_id.clone(), s))
            .collect()
    };
    Ok((tickets, stations))
}

/// One step of a ticket as its customer sees it: what happened and when, and whether
/// the customer took it. No notes (staff's working notes, and a callback's record of
/// what the customer said, are staff's), no names of staff, no escalations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberStep {
    pub action: String,
    pub to_state: String,
    pub by_member: bool,
    pub at: i64,
}

/// One of the member's own tickets, with its station and its public history (oldest
/// first). Another customer's ticket, or one of no customer, is `ticket_not_found`.
pub async fn member_ticket(
    app: &App,
    customer_id: &str,
    id: &str,
) -> AppResult<(TicketRow, Station, Vec<MemberStep>)> {
    let t = app
        .store()
        .ticket(id)
        .await?
        .filter(|t| t.customer_id.as_deref() == Some(customer_id))
        .ok_or_else(ticket_not_found)?;
    let station = app
        .store()
        .station_by_id(&t.station_id)
        .await?
        .ok_or_else(ticket_not_found)?;
    let member = format!("member:{customer_id}");
    let steps = app
        .store()
        .ticket_events(id)
        .await?
        .into_iter()
        .filter(|e| e.action != ESCALATE_ACTION)
        .map(|e| MemberStep {
            by_member: e.author == member,
            action: e.action,
            to_state: e.to_state,
            at: e.at,
        })
        .collect();
    Ok((t, station, steps))
}

/// The ticket, if the caller may read it: in scope of its station, else refused as the
/// other scoped reads are (403).
async fn ticket_in_scope(app: &App, me: &StaffUser, id: &str) -> AppResult<TicketRow> {
    let t = app.store().ticket(id).await?.ok_or_else(ticket_not_found)?;
    let station = app
        .store()
        .station_by_id(&t.station_id)
        .await?
        .ok_or_else(ticket_not_found)?;
    require_station(me, &station)?;
    Ok(t)
}

/// Applies one step to a ticket of a station in the caller's scope.
pub async fn apply_event(
    app: &App,
    me: &StaffUser,
    source: Option<&str>,
    id: &str,
    body: EventBody,
) -> AppResult<TicketView> {
    require(me, Action::WorkTickets)?;
    let note = body
        .note
        .as_deref()
        .map(|n| long_text("note", n, NOTE_CHARS_MAX))
        .transpose()?
        .filter(|n| !n.trim().is_empty());
    let at = past_time(app, "at", body.at.as_deref())?;
    ticket_in_scope(app, me, id).await?;
    let assignee = match &body.assignee {
        Some(name) => {
            let user = app
                .store()
                .user_by_username(name)
                .await?
                .filter(|u| !u.disabled)
                .ok_or_else(|| AppError::validation("assignee", "no such user"))?;
            // Work goes to someone who may do it at this ticket's station.
            Some(user)
        }
        None => None,
    };
    let actor = format!("user:{}", me.username);
    // A concurrent step that won is read again and decided on (at most a few times:
    // under the row lock the conditional update only fails on a real race).
    for _ in 0..5 {
        let mut tx = app.store().begin().await?;
        let t = tx.lock_ticket(id).await?.ok_or_else(ticket_not_found)?;
        if let Some(u) = &assignee {
            let station = tx
                .station_by_code(&t.station_code)
                .await?
                .ok_or_else(ticket_not_found)?;
            if !access::allowed(&u.role, Action::WorkTickets)
                || !access::station_in_scope(u, &station)
            {
                return Err(AppError::validation(
                    "assignee",
                    "the user cannot work tickets of this station",
                ));
            }
        }
        let events = tx.ticket_events(id).await?;
        let mut flow = Flow::replay(t.opened_at, &t.kind, &events)?;
        let from = flow.state;
        flow.apply(
            &t.kind,
            &Step {
                action: &body.action,
                at,
                csat: body.csat,
                has_note: note.is_some(),
            },
        )?;
        if body.csat.is_some() && body.action != "callback" {
            return Err(AppError::validation(
                "csat",
                "only a callback carries a satisfaction",
            ));
        }
        let assignee_id = assignee.as_ref().map(|u| u.user_id.as_str());
        let stored = tx
            .append_ticket_event(
                id,
                t.event_count,
                &NewTicketEvent {
                    action: &body.action,
                    author: &actor,
                    from_state: from,
                    to_state: flow.state,
                    note: note.as_deref(),
                    assignee_id,
                    csat: body.csat,
                    at,
                    first_response_at: flow.first_response_at,
                    resolved_at: flow.resolved_at,
                    closed_at: flow.closed_at,
                    ticket_assignee_id: assignee_id.or(t.assignee_id.as_deref()),
                },
            )
            .await;
        match stored {
            Err(StoreError::Retry) => continue,
            other => other?,
        };
        // The survey after a closed ticket leaves with the close or not at all.
        if body.action == "close" {
            crate::surveys::invite_after_close(
                app,
                &mut tx,
                id,
                t.customer_id.as_deref(),
                &t.station_id,
                app.clock().now_us(),
            )
            .await?;
        }
        tx.audit(&audit_entry(
            &actor,
            source,
            &format!("ticket.{}", body.action),
            "ticket",
            Some(id),
            json!({"from": from, "to": flow.state, "at": rfc3339(at), "csat": body.csat, "assignee": body.assignee}),
        ))
        .await?;
        match tx.commit().await {
            Err(StoreError::Retry) => continue,
            other => other?,
        }
        return ticket_view(app, id, true).await;
    }
    Err(AppError::new("unavailable", "the ticket is busy; retry"))
}

async fn ticket_view(app: &App, id: &str, with_events: bool) -> AppResult<TicketView> {
    let t = app.store().ticket(id).await?.ok_or_else(ticket_not_found)?;
    let cal = calendar_of(&app.store().station_calendar(&t.station_id).await?)?;
    view(app, &cal, t, with_events).await
}

async fn view(app: &App, cal: &Calendar, t: TicketRow, with_events: bool) -> AppResult<TicketView> {
    let events = app.store().ticket_events(&t.ticket_id).await?;
    let flow = Flow::replay(t.opened_at, &t.kind, &events)?;
    let sla = read_sla(cal, &t, &flow, app.clock().now_us())?;
    let events = with_events.then(|| {
        events
            .into_iter()
            .map(|e| EventView {
                seq: e.seq,
                action: e.action,
                author: e.author,
                from_state: e.from_state,
                to_state: e.to_state,
                note: e.note,
                assignee: e.assignee,
                csat: e.csat,
                at: rfc3339(e.at),
                recorded_at: rfc3339(e.created_at),
            })
            .collect()
    });
    Ok(TicketView {
        id: t.ticket_id,
        kind: t.kind,
        channel: t.channel,
        station_code: t.station_code,
        category: t.category,
        severity: t.severity,
        customer_id: t.customer_id,
        description: t.description,
        state: t.state,
        assignee: t.assignee,
        opened_by: t.opened_by,
        opened_at: rfc3339(t.opened_at),
        first_response_at: flow.first_response_at.map(rfc3339),
        resolved_at: flow.resolved_at.map(rfc3339),
        closed_at: flow.closed_at.map(rfc3339),
        first_response_minutes: t.first_response_minutes,
        resolution_minutes: t.resolution_minutes,
        callback_attempts: flow.unreachable_attempts + u32::from(flow.callback_done),
        sla,
        events,
    })
}

/// One ticket with its events, if it is of a station in the caller's scope.
pub async fn get_ticket(app: &App, me: &StaffUser, id: &str) -> AppResult<TicketView> {
    require(me, Action::ViewTickets)?;
    ticket_in_scope(app, me, id).await?;
    ticket_view(app, id, true).await
}

/// `GET /tickets?station=&state=&breached=true`.
#[derive(Debug, Default, Deserialize)]
pub struct TicketQuery {
    pub station: Option<String>,
    pub state: Option<String>,
    pub kind: Option<String>,
    pub breached: Option<bool>,
    pub limit: Option<i64>,
}

/// The stations in the caller's scope, by id (`None`: every station).
async fn scope_station_ids(app: &App, me: &StaffUser) -> AppResult<Option<Vec<String>>> {
    Ok(match Scope::of(me) {
        Scope::Company => None,
        _ => Some(
            app.store()
                .stations()
                .await?
                .into_iter()
                .filter(|s| access::station_in_scope(me, s))
                .map(|s| s.station_id)
                .collect(),
        ),
    })
}

/// Tickets of the stations in the caller's scope, newest first.
pub async fn list_tickets(app: &App, me: &StaffUser, q: TicketQuery) -> AppResult<Vec<TicketView>> {
    require(me, Action::ViewTickets)?;
    if let Some(s) = &q.state {
        one_of("state", s, STATES)?;
    }
    if let Some(k) = &q.kind {
        one_of("kind", k, KINDS)?;
    }
    let mut ids = scope_station_ids(app, me).await?;
    if let Some(code) = &q.station {
        let station: Station = app
            .store()
            .station_by_code(code)
            .await?
            .ok_or_else(|| AppError::new("station_not_found", "no station with this code"))?;
        require_station(me, &station)?;
        ids = Some(vec![station.station_id]);
    }
    let limit = q.limit.unwrap_or(100).clamp(1, TICKETS_PAGE_MAX);
    let breached_only = q.breached == Some(true);
    let filtered = breached_only || q.kind.is_some();
    let rows = app
        .store()
        .tickets(&TicketFilter {
            station_ids: ids.as_deref(),
            state: q.state.as_deref(),
            open_only: false,
            limit: if filtered { BREACHED_SCAN_MAX } else { limit },
        })
        .await?;
    let mut calendars: std::collections::HashMap<String, Calendar> = Default::default();
    let mut out = Vec::new();
    for t in rows {
        if q.kind.as_deref().is_some_and(|k| k != t.kind) {
            continue;
        }
        if !calendars.contains_key(&t.station_id) {
            let cal = calendar_of(&app.store().station_calendar(&t.station_id).await?)?;
            calendars.insert(t.station_id.clone(), cal);
        }
        let v = view(app, &calendars[&t.station_id], t, false).await?;
        if breached_only && !v.sla.breached {
            continue;
        }
        out.push(v);
        if out.len() as i64 >= limit {
            break;
        }
    }
    Ok(out)
}

// ---------------------------------------------------------------- escalation

/// One notification the escalation job should send: a ticket's breach reached `level`,
/// above the level already notified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EscalationDue {
    pub ticket_id: String,
    pub station_id: String,
    pub station_code: String,
    pub level: EscalationLevel,
    /// `first_response` or `resolution`: the target whose breach escalates.
    pub target: &'static str,
    /// When the level fell due.
    pub due_at: i64,
    /// A key for the outbox's one-message-per-cause rule.
    pub cause: String,
}

/// The open tickets the escalation and warning jobs look at (the newest
/// [`ESCALATION_SCAN_MAX`]), each with its workflow replayed, and the calendar of each
/// of their stations.
async fn open_tickets(
    app: &App,
) -> AppResult<(
    Vec<(TicketRow, Flow)>,
    std::collections::HashMap<String, Calendar>,
)> {
    let rows = app
        .store()
        .tickets(&TicketFilter {
            station_ids: None,
            state: None,
            open_only: true,
            limit: ESCALATION_SCAN_MAX,
        })
        .await?;
    let mut calendars: std::collections::HashMap<String, Calendar> = Default::default();
    let mut open = Vec::with_capacity(rows.len());
    for t in rows {
        if !calendars.contains_key(&t.station_id) {
            let cal = calendar_of(&app.store().station_calendar(&t.station_id).await?)?;
            calendars.insert(t.station_id.clone(), cal);
        }
        let events = app.store().ticket_events(&t.ticket_id).await?;
        let flow = Flow::replay(t.opened_at, &t.kind, &events)?;
        open.push((t, flow));
    }
    Ok((open, calendars))
}

/// What the escalation job should notify at `now`: for every open ticket, each ladder
/// level above the one it has notified (`ticket.escalation_level`) whose deadline has
/// passed, lowest first. A paused (waiting for the customer), resolved or closed ticket
/// gives nothing. Sends nothing and changes nothing: the job (with the outbox) sends,
/// then records the level with `Tx::raise_escalation_level` in the same transaction.
pub async fn escalations_due(app: &App, now_us: i64) -> AppResult<Vec<EscalationDue>> {
    let now = instant(now_us)?;
    let ladder = EscalationLadder::default();
    let (open, calendars) = open_tickets(app).await?;
    let mut out = Vec::new();
    for (t, flow) in open {
        let c = clocks(&calendars[&t.station_id], &t, &flow)?;
        let notified = EscalationLevel::ALL
            .into_iter()
            .filter(|l| i64::from(l.number()) <= t.escalation_level)
            .max();
        // The higher level of the two targets wins; each level is notified once.
        let mut best: Vec<(EscalationLevel, &'static str, DateTime<Utc>)> = Vec::new();
        for (target, clock) in [
            ("first_response", &c.first_response),
            ("resolution", &c.resolution),
        ] {
            let step = ladder.step(clock, now, notified).map_err(bt)?;
            for level in step.notify {
                let due = ladder.deadline(clock, level, now).map_err(bt)?;
                match best.iter_mut().find(|(l, _, _)| *l == level) {
                    Some(b) if due < b.2 => *b = (level, target, due),
                    Some(_) => {}
                    None => best.push((level, target, due)),
                }
            }
        }
        best.sort_by_key(|(l, _, _)| *l);
        for (level, target, due) in best {
            out.push(EscalationDue {
                cause: format!("ticket:{}:escalation:{}", t.ticket_id, level.as_str()),
                ticket_id: t.ticket_id.clone(),
                station_id: t.station_id.clone(),
                station_code: t.station_code.clone(),
                level,
                target,
                due_at: due.timestamp_micros(),
            });
        }
    }
    Ok(out)
}

// ---------------------------------------------------------------- the escalation job

/// How often the worker runs the escalation job (by the application's clock): well
/// within the minute each warning and level is promised in.
pub const ESCALATION_EVERY_US: i64 = 15_000_000;

/// A warning the job should send: a target of a ticket has used 75 % of its time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WarningDue {
    pub ticket_id: String,
    pub station_code: String,
    /// `first_response` or `resolution`.
    pub target: &'static str,
    pub warning_at: i64,
    pub due_at: i64,
    /// The staff user warned: the assignee, else whoever opened the ticket.
    pub user_id: Option<String>,
    /// A key for the outbox's one-message-per-cause rule.
    pub cause: String,
}

/// What the warning job should send at `now`: for every open ticket, each target whose
/// clock runs (not paused, not stopped), has used 75 % of its time and is not breached
/// yet (a breach escalates instead). Sends nothing.
pub async fn warnings_due(app: &App, now_us: i64) -> AppResult<Vec<WarningDue>> {
    let now = instant(now_us)?;
    let (open, calendars) = open_tickets(app).await?;
    let mut out = Vec::new();
    for (t, flow) in open {
        let c = clocks(&calendars[&t.station_id], &t, &flow)?;
        for (target, clock) in [
            ("first_response", &c.first_response),
            ("resolution", &c.resolution),
        ] {
            if clock.is_paused(now) || clock.breached(now).map_err(bt)? {
                continue;
            }
            let warning_at = clock.warning_at(now).map_err(bt)?;
            if now < warning_at {
                continue;
            }
            let user_id = match &t.assignee_id {
                Some(id) => Some(id.clone()),
                None => match t.opened_by.strip_prefix("user:") {
                    Some(name) => app.store().user_by_username(name).await?.map(|u| u.user_id),
                    None => None,
                },
            };
            out.push(WarningDue {
                cause: format!("ticket:{}:warning:{target}", t.ticket_id),
                ticket_id: t.ticket_id.clone(),
                station_code: t.station_code.clone(),
                target,
                warning_at: warning_at.timestamp_micros(),
                due_at: clock.due_at(now).map_err(bt)?.timestamp_micros(),
                user_id,
            });
        }
    }
    Ok(out)
}

/// The staff who hear of a breach at `level`: the station's managers, the managers of
/// its region, or headquarters (admins of company scope). Disabled users hear nothing.
pub fn escalation_recipients<'u>(
    users: &'u [StaffUser],
    station: &Station,
    level: EscalationLevel,
) -> Vec<&'u StaffUser> {
    users
        .iter()
        .filter(|u| !u.disabled)
        .filter(|u| match level {
            EscalationLevel::StationManager => {
                u.role == "station_manager" && u.scope == format!("station:{}", station.code)
            }
            EscalationLevel::RegionManager => {
                u.role == "region_manager"
                    && station
                        .region_code
                        .as_ref()
                        .is_some_and(|r| u.scope == format!("region:{r}"))
            }
            EscalationLevel::Headquarters => u.role == "admin" && u.scope == "company",
        })
        .collect()
}

/// Queues one message to a staff user per channel they can be reached on (email,
/// SMS), keyed by `cause`: a second call with the same cause writes nothing. Returns
/// how many messages were new.
async fn notify_staff(
    app: &App,
    tx: &mut forecourt_store::Tx,
    user: &StaffUser,
    cause: &str,
    subject: &str,
    body: &str,
    now: i64,
) -> AppResult<usize> {
    let contact = app.store().staff_contact(&user.user_id).await?;
    let mut new = 0;
    for (channel, address) in [
        (Channel::Email, contact.email),
        (Channel::Sms, contact.phone),
    ] {
        let Some(address) = address else { continue };
        let done = tx
            .enqueue_message(
                &NewMessage {
                    channel,
                    recipient: format!("staff:{}", user.user_id),
                    customer_id: None,
                    address: Some(address),
                    subject: (channel == Channel::Email).then(|| subject.to_string()),
                    body: if channel == Channel::Sms {
                        subject.to_string()
                    } else {
                        body.to_string()
                    },
                    cause: cause.to_string(),
                    max_attempts: app.config().outbox.max_attempts,
                },
                now,
            )
            .await?;
        new += usize::from(done.inserted);
    }
    Ok(new)
}

/// What one run of the escalation job did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct EscalationRun {
    /// Warnings that queued at least one new message.
    pub warnings: usize,
    /// Levels recorded on tickets.
    pub escalations: usize,
    /// Callback reminders that queued at least one new message.
    pub reminders: usize,
    /// New messages queued.
    pub messages: usize,
}

fn target_name(target: &str) -> &'static str {
    if target == "first_response" {
        "首次响应 / first response"
    } else {
        "解决 / resolution"
    }
}

fn level_name(level: EscalationLevel) -> &'static str {
    match level {
        EscalationLevel::StationManager => "站长 / station manager",
        EscalationLevel::RegionManager => "区域经理 / region manager",
        EscalationLevel::Headquarters => "总部 / headquarters",
    }
}

/// The escalation job at `now`: queues the 75 % warnings to each ticket's owner and,
/// for every breach level due, records the level on the ticket (with an `escalate`
/// event by `system`, audited) and queues its notices to that level's staff, in one
/// transaction per level. Run again, it changes and sends nothing more: levels only
/// rise and messages are one per (cause, recipient, channel).
pub async fn run_escalations(app: &App, now_us: i64) -> AppResult<EscalationRun> {
    let mut run = EscalationRun::default();
    let users = app.store().users().await?;
    for w in warnings_due(app, now_us).await? {
        let Some(user) = w
            .user_id
            .as_ref()
            .and_then(|id| users.iter().find(|u| &u.user_id == id && !u.disabled))
        else {
            continue;
        };
        let subject = format!(
            "[Forecourt] 工单即将超时 / Ticket due soon: {} {} {}",
            w.station_code,
            target_name(w.target),
            rfc3339(w.due_at)
        );
        let body = format!(
            "工单 / Ticket {id} ({station}) 的{target}时限已用去 75%，截止 / due at {due}.\n/console/tickets/{id}\n",
            id = w.ticket_id,
            station = w.station_code,
            target = target_name(w.target),
            due = rfc3339(w.due_at),
        );
        let mut tx = app.store().begin().await?;
        let n = notify_staff(app, &mut tx, user, &w.cause, &subject, &body, now_us).await?;
        tx.commit().await?;
        if n > 0 {
            run.warnings += 1;
            run.messages += n;
        }
    }
    let stations = app.store().stations().await?;
    for e in escalations_due(app, now_us).await? {
        let Some(station) = stations.iter().find(|s| s.station_id == e.station_id) else {
            continue;
        };
        let recipients = escalation_recipients(&users, station, e.level);
        for _ in 0..5 {
            let mut tx = app.store().begin().await?;
            let Some(t) = tx.lock_ticket(&e.ticket_id).await? else {
                break;
            };
            if !tx
                .raise_escalation_level(&e.ticket_id, i64::from(e.level.number()))
                .await?
            {
                // Recorded by a concurrent run already: nothing to do.
                break;
            }
            let note = format!(
                "{} — {} due {}",
                level_name(e.level),
                target_name(e.target),
                rfc3339(e.due_at)
            );
            let stored = tx
                .append_ticket_event(
                    &e.ticket_id,
                    t.event_count,
                    &NewTicketEvent {
                        action: ESCALATE_ACTION,
                        author: SYSTEM_AUTHOR,
                        from_state: &t.state,
                        to_state: &t.state,
                        note: Some(&note),
                        assignee_id: None,
                        csat: None,
                        at: now_us,
                        first_response_at: t.first_response_at,
                        resolved_at: t.resolved_at,
                        closed_at: t.closed_at,
                        ticket_assignee_id: t.assignee_id.as_deref(),
                    },
                )
                .await;
            match stored {
                Err(StoreError::Retry) => continue,
                other => other?,
            };
            let subject = format!(
                "[Forecourt] 工单超时升级 / Ticket escalated to {}: {} {}",
                e.level.as_str(),
                station.code,
                t.category
            );
            let body = format!(
                "工单 / Ticket {id} ({station}, {kind}, {category}, {severity}) 的{target}已超时（截止 {due}），升级至{level}。\nThe ticket missed its {target_en} target (due {due}) and is escalated to the {level_en}.\n/console/tickets/{id}\n",
                id = t.ticket_id,
                station = station.code,
                kind = t.kind,
                category = t.category,
                severity = t.severity,
                target = target_name(e.target),
                target_en = e.target,
                due = rfc3339(e.due_at),
                level = level_name(e.level),
                level_en = e.level.as_str(),
            );
            let mut sent = 0;
            for u in &recipients {
                sent += notify_staff(app, &mut tx, u, &e.cause, &subject, &body, now_us).await?;
            }
            tx.audit(&audit_entry(
                SYSTEM_AUTHOR,
                None,
                "ticket.escalate",
                "ticket",
                Some(&e.ticket_id),
                json!({"level": e.level.as_str(), "target": e.target, "due_at": rfc3339(e.due_at), "recipients": recipients.len(), "messages": sent}),
            ))
            .await?;
            match tx.commit().await {
                Err(StoreError::Retry) => continue,
                other => other?,
            }
            run.escalations += 1;
            run.messages += sent;
            break;
        }
    }
    // Callback reminders: a callback due within the hour (or overdue) reminds its
    // assignee, or else the station's managers, once per attempt.
    for task in callback_tasks(app, None, now_us).await? {
        let due = task.due_us;
        if due - CALLBACK_REMIND_BEFORE_US > now_us {
            continue;
        }
        let Some(station) = stations.iter().find(|s| s.code == task.station_code) else {
            continue;
        };
        let assignee = task
            .assignee
            .as_ref()
            .and_then(|name| users.iter().find(|u| &u.username == name && !u.disabled));
        let recipients = match assignee {
            Some(u) => vec![u],
            None => escalation_recipients(&users, station, EscalationLevel::StationManager),
        };
        let cause = format!("ticket:{}:callback:{}", task.ticket_id, task.attempts);
        let subject = format!(
            "[Forecourt] 回访提醒 / Callback due: {} {}",
            task.station_code,
            rfc3339(due)
        );
        let body = format!(
            "工单 / Ticket {id} ({station}, {category}) 需要回访客户，截止 / due at {due}。已尝试 / attempts so far: {attempts}.\n/console/tickets/{id}\n",
            id = task.ticket_id,
            station = task.station_code,
            category = task.category,
            due = rfc3339(due),
            attempts = task.attempts,
        );
        let mut tx = app.store().begin().await?;
        let mut sent = 0;
        for u in &recipients {
            sent += notify_staff(app, &mut tx, u, &cause, &subject, &body, now_us).await?;
        }
        tx.commit().await?;
        if sent > 0 {
            run.reminders += 1;
            run.messages += sent;
        }
    }
    Ok(run)
}

/// A callback reminder goes this long before the callback is due.
pub const CALLBACK_REMIND_BEFORE_US: i64 = 3_600_000_000;

// ---------------------------------------------------------------- callbacks and breaches

/// `GET /callbacks?station=`.
#[derive(Debug, Default, Deserialize)]
pub struct CallbackQuery {
    pub station: Option<String>,
}

/// One callback (回访) to make: a complaint whose solution is being implemented or
/// whose callback has not reached the customer yet.
#[derive(Debug, Serialize)]
pub struct CallbackTask {
    pub ticket_id: String,
    pub station_code: String,
    pub category: String,
    pub severity: String,
    pub customer_id: Option<String>,
    pub state: String,
    pub assignee: Option<String>,
    /// Failed attempts so far (three allow closing as unreachable).
    pub attempts: u32,
    pub last_attempt_at: Option<String>,
    /// The resolution due time (the callback stops the resolution clock); after a
    /// failed attempt, the next is due a day later.
    pub due_at: String,
    pub overdue: bool,
    #[serde(skip)]
    pub due_us: i64,
}

/// A retry of a callback that did not reach the customer is due this long after it.
pub const CALLBACK_RETRY_US: i64 = 86_400_000_000;

/// The stations a list covers: the one asked for (in scope) or all in scope.
async fn listed_stations(
    app: &App,
    me: &StaffUser,
    station: Option<&str>,
) -> AppResult<Option<Vec<String>>> {
    match station {
        Some(code) => {
            let station: Station =
                app.store().station_by_code(code).await?.ok_or_else(|| {
                    AppError::new("station_not_found", "no station with this code")
                })?;
            require_station(me, &station)?;
            Ok(Some(vec![station.station_id]))
        }
        None => scope_station_ids(app, me).await,
    }
}

/// The callback work list of the stations in the caller's scope, soonest due first.
pub async fn callbacks(
    app: &App,
    me: &StaffUser,
    q: CallbackQuery,
) -> AppResult<Vec<CallbackTask>> {
    require(me, Action::ViewTickets)?;
    let ids = listed_stations(app, me, q.station.as_deref()).await?;
    callback_tasks(app, ids.as_deref(), app.clock().now_us()).await
}

/// The callback tasks of these stations (`None`: all), soonest due first.
async fn callback_tasks(
    app: &App,
    ids: Option<&[String]>,
    now: i64,
) -> AppResult<Vec<CallbackTask>> {
    let mut out = Vec::new();
    for state in ["implementing", "callback"] {
        let rows = app
            .store()
            .tickets(&TicketFilter {
                station_ids: ids,
                state: Some(state),
                open_only: true,
                limit: TICKETS_PAGE_MAX,
            })
            .await?;
        for t in rows.into_iter().filter(|t| t.kind == "complaint") {
            let cal = calendar_of(&app.store().station_calendar(&t.station_id).await?)?;
            let events = app.store().ticket_events(&t.ticket_id).await?;
            let flow = Flow::replay(t.opened_at, &t.kind, &events)?;
            if flow.callback_done || flow.unreachable_attempts >= UNREACHABLE_ATTEMPTS_MIN {
                continue;
            }
            let last_attempt = events
                .iter()
                .filter(|e| e.action == "unreachable")
                .map(|e| e.at)
                .max();
            let c = clocks(&cal, &t, &flow)?;
            let due = match last_attempt {
                Some(at) => at + CALLBACK_RETRY_US,
                None => c
                    .resolution
                    .due_at(instant(now)?)
                    .map_err(bt)?
                    .timestamp_micros(),
            };
            out.push(CallbackTask {
                ticket_id: t.ticket_id,
                station_code: t.station_code,
                category: t.category,
                severity: t.severity,
                customer_id: t.customer_id,
                state: t.state,
                assignee: t.assignee,
                attempts: flow.unreachable_attempts,
                last_attempt_at: last_attempt.map(rfc3339),
                due_at: rfc3339(due),
                overdue: due < now,
                due_us: due,
            });
        }
    }
    out.sort_by(|a, b| (&a.due_at, &a.ticket_id).cmp(&(&b.due_at, &b.ticket_id)));
    Ok(out)
}

/// Open tickets and their breaches at one station.
#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct StationBreaches {
    pub station_code: String,
    pub open: u64,
    /// Open tickets past a due time now.
    pub breached: u64,
    /// Open tickets the escalation job has escalated.
    pub escalated: u64,
}

/// `GET /ticket-breaches?station=`: per station in the caller's scope, its open tickets
/// and how many are breached (read now) and escalated, over the newest
/// [`TICKETS_PAGE_MAX`] open tickets.
pub async fn breaches(
    app: &App,
    me: &StaffUser,
    q: CallbackQuery,
) -> AppResult<Vec<StationBreaches>> {
    require(me, Action::ViewTickets)?;
    let ids = listed_stations(app, me, q.station.as_deref()).await?;
    let rows = app
        .store()
        .tickets(&TicketFilter {
            station_ids: ids.as_deref(),
            state: None,
            open_only: true,
            limit: TICKETS_PAGE_MAX,
        })
        .await?;
    let mut calendars: std::collections::HashMap<String, Calendar> = Default::default();
    let mut by: std::collections::BTreeMap<String, StationBreaches> = Default::default();
    for t in rows {
        if !calendars.contains_key(&t.station_id) {
            let cal = calendar_of(&app.store().station_calendar(&t.station_id).await?)?;
            calendars.insert(t.station_id.clone(), cal);
        }
        let escalated = t.escalation_level > 0;
        let code = t.station_code.clone();
        let v = view(app, &calendars[&t.station_id], t, false).await?;
        let e = by.entry(code.clone()).or_insert(StationBreaches {
            station_code: code,
            open: 0,
            breached: 0,
            escalated: 0,
        });
        e.open += 1;
        e.breached += u64::from(v.sla.breached);
        e.escalated += u64::from(escalated);
    }
    Ok(by.into_values().collect())
}

// ---------------------------------------------------------------- for the console

/// The names of tickets' customers as the console shows them: in full when the role
/// may see personal data and the customer is in the caller's scope, masked otherwise.
/// Customers that no longer exist are left out.
pub async fn customer_names(
    app: &App,
    me: &StaffUser,
    ids: &[&str],
) -> AppResult<std::collections::HashMap<String, String>> {
    require(me, Action::ViewTickets)?;
    let mut out = std::collections::HashMap::new();
    for id in ids {
        if out.contains_key(*id) {
            continue;
        }
        if let Some(c) = app.store().customer(id).await? {
            let view = access::customer_view(app, me, &c).await?;
            let name = if view == access::CustomerView::Full {
                c.name.clone()
            } else {
                crate::customers::mask_name(&c.name)
            };
            out.insert((*id).to_string(), name);
        }
    }
    Ok(out)
}

/// The steps a ticket in `state` may be offered as buttons: the ones [`Flow::apply`]
/// accepts from that state, where a callback's satisfaction and note are asked by the
/// form. A complaint's close is offered even before its callback: the refusal then
/// says why. A reopen only within [`REOPEN_WITHIN_US`] of the close.
pub fn offered_actions(state: &str, closed_at_us: Option<i64>, now_us: i64) -> Vec<&'static str> {
    let working = matches!(
        state,
        "accepted" | "investigating" | "solution_proposed" | "implementing"
    );
    ACTIONS
        .iter()
        .copied()
        .filter(|a| match *a {
            "respond" => state != "closed" && state != "waiting_customer",
            "investigate" => state == "accepted",
            "propose" => state == "accepted" || state == "investigating",
            "implement" => state == "solution_proposed",
            "wait_customer" => working,
            "resume" => state == "waiting_customer",
            "callback" | "unreachable" => state == "implementing" || state == "callback",
            "close" => state != "closed",
            "reopen" => {
                state == "closed" && closed_at_us.is_some_and(|c| now_us - c <= REOPEN_WITHIN_US)
            }
            _ => false,
        })
        .collect()
}

/// The customer a ticket taken at the counter is for, by the phone the customer gives.
pub async fn customer_by_phone(app: &App, me: &StaffUser, phone: &str) -> AppResult<String> {
    require(me, Action::WorkTickets)?;
    let phone = forecourt_core::Phone::parse(phone.trim())?;
    app.store()
        .customer_ids_by_phone(phone.as_str())
        .await?
        .into_iter()
        .min()
        .ok_or_else(|| AppError::new("customer_not_found", "no customer with this phone"))
}

/// The service desk's settings for the administration page: every calendar, the
/// policy of each severity (the default where none is stored) and each station's
/// calendar code.
#[derive(Debug)]
pub struct DeskSettings {
    pub calendars: Vec<CalendarView>,
    /// Severity, first response minutes, resolution minutes.
    pub policies: Vec<(&'static str, u32, u32)>,
    /// Station code, name, calendar code.
    pub stations: Vec<(String, String, String)>,
}

/// Reads [`DeskSettings`] (admins).
pub async fn settings(app: &App, me: &StaffUser) -> AppResult<DeskSettings> {
    require(me, Action::ManageServiceDesk)?;
    let stored = app.store().sla_policies().await?;
    let policies = Severity::ALL
        .iter()
        .map(|s| {
            let p = stored
                .iter()
                .find(|p| p.severity == s.as_str())
                .and_then(|p| {
                    SlaPolicy::new(
                        u32::try_from(p.first_response_minutes).ok()?,
                        u32::try_from(p.resolution_minutes).ok()?,
                    )
                    .ok()
                })
                .unwrap_or_else(|| SlaPolicy::default_for(*s));
            (
                s.as_str(),
                p.first_response_minutes(),
                p.resolution_minutes(),
            )
        })
        .collect();
    let mut calendars: Vec<CalendarView> = Vec::new();
    let mut stations = Vec::new();
    for st in app.store().stations().await? {
        let row = app.store().station_calendar(&st.station_id).await?;
        if !calendars.iter().any(|c| c.code == row.code) {
            calendars.push(calendar_view(&row)?);
        }
        stations.push((st.code, st.name, row.code));
    }
    for row in app.store().calendars().await? {
        if !calendars.iter().any(|c| c.code == row.code) {
            calendars.push(calendar_view(&row)?);
        }
    }
    calendars.sort_by(|a, b| a.code.cmp(&b.code));
    Ok(DeskSettings {
        calendars,
        policies,
        stations,
    })
}

// ---------------------------------------------------------------- staff contact

/// `PUT /users/{username}/contact`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContactBody {
    pub email: Option<String>,
    pub phone: Option<String>,
}

/// Sets where a staff user receives the service desk's alerts (admins, or the user
/// themself). An email must parse as an address; a phone is digits with an optional
/// leading `+`.
pub async fn set_staff_contact(
    app: &App,
    me: &StaffUser,
    source: Option<&str>,
    username: &str,
    body: ContactBody,
) -> AppResult<Value> {
    // Another user's contact needs the right to manage users, checked before the
    // lookup so that the answer does not tell who exists.
    if username != me.username {
        require(me, Action::ManageUsers)?;
    }
    let user = app
        .store()
        .user_by_username(username)
        .await?
        .ok_or_else(|| AppError::new("not_found", "no staff user with this username"))?;
    let contact = check_contact(&body)?;
    let actor = format!("user:{}", me.username);
    let mut tx = app.store().begin().await?;
    tx.set_staff_contact(&user.user_id, &contact, app.clock().now_us())
        .await?;
    tx.audit(&audit_entry(
        &actor,
        source,
        "user.contact",
        "user",
        Some(&user.user_id),
        json!({"email": contact.email.is_some(), "phone": contact.phone.is_some()}),
    ))
    .await?;
    tx.commit().await?;
    Ok(json!({"username": user.username, "email": contact.email, "phone": contact.phone}))
}

/// Checks a staff contact: an email must parse as an address, a phone is 5 to 20
/// digits with an optional leading `+`; blanks are none.
pub fn check_contact(body: &ContactBody) -> AppResult<forecourt_store::surveys::StaffContact> {
    let email = body
        .email
        .as_deref()
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .map(|e| {
            e.parse::<lettre::Address>()
                .map(|_| e.to_string())
                .map_err(|err| AppError::validation("email", err))
        })
        .transpose()?;
    let phone = body
        .phone
        .as_deref()
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| {
            let digits = p.strip_prefix('+').unwrap_or(p);
            if (5..=20).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit()) {
                Ok(p.to_string())
            } else {
                Err(AppError::validation(
                    "phone",
                    "digits, optionally after a +",
                ))
            }
        })
        .transpose()?;
    Ok(forecourt_store::surveys::StaffContact { email, phone })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(action: &str, at: i64) -> Step<'_> {
        Step {
            action,
            at,
            csat: None,
            has_note: false,
        }
    }

    /// The buttons the console offers are exactly the steps the workflow takes.
    #[test]
    fn offered_actions_are_the_steps_the_flow_accepts() {
        let paths: &[&[&str]] = &[
            &[],
            &["investigate"],
            &["propose"],
            &["propose", "implement"],
            &["investigate", "wait_customer"],
            &["propose", "implement", "unreachable"],
            &["propose", "implement", "close"],
        ];
        for path in paths {
            let mut f = Flow::opened(0);
            for (i, a) in path.iter().enumerate() {
                f.apply("suggestion", &step(a, i as i64 + 1)).unwrap();
            }
            let now = 100;
            let offered = offered_actions(f.state, f.closed_at, now);
            for a in ACTIONS {
                let accepted = f
                    .clone()
                    .apply(
                        "suggestion",
                        &Step {
                            action: a,
                            at: now,
                            csat: Some(5),
                            has_note: true,
                        },
                    )
                    .is_ok();
                assert_eq!(
                    offered.contains(a),
                    accepted,
                    "{a} from {} (after {path:?})",
                    f.state
                );
            }
        }
        assert!(!offered_actions("closed", Some(0), REOPEN_WITHIN_US + 1).contains(&"reopen"));
    }

    #[test]
    fn the_workflow_of_seed_004() {
        let mut f = Flow::opened(0);
        for (a, s) in [
            ("investigate", "investigating"),
            ("propose", "solution_proposed"),
            ("implement", "implementing"),
        ] {
            f.apply("complaint", &step(a, 10)).unwrap();
            assert_eq!(f.state, s);
        }
        assert_eq!(
            f.first_response_at,
            Some(10),
            "a proposal speaks to the customer"
        );
        let e = f.apply("complaint", &step("close", 20)).unwrap_err();
        assert_eq!(e.code, "callback_required");
        let e = f
            .apply(
                "complaint",
                &Step {
                    action: "callback",
                    at: 20,
                    csat: Some(6),
                    has_note: true,
                },
            )
            .unwrap_err();
        assert_eq!(e.code, "validation_failed");
        f.apply(
            "complaint",
            &Step {
                action: "callback",
                at: 20,
                csat: Some(4),
                has_note: true,
            },
        )
        .unwrap();
        assert_eq!((f.state, f.resolved_at), ("callback", Some(20)));
        f.apply("complaint", &step("close", 30)).unwrap();
        assert_eq!((f.state, f.closed_at), ("closed", Some(30)));
        let e = f.apply("complaint", &step("close", 30)).unwrap_err();
        assert_eq!(e.code, "invalid_transition");
    }

    #[test]
    fn waits_pause_and_resume_returns_to_the_stage() {
        let mut f = Flow::opened(0);
        f.apply("inquiry", &step("investigate", 1)).unwrap();
        f.apply("inquiry", &step("wait_customer", 2)).unwrap();
        assert_eq!(
            f.apply("inquiry", &step("propose", 3)).unwrap_err().code,
            "invalid_transition"
        );
        f.apply("inquiry", &step("resume", 5)).unwrap();
        assert_eq!(f.state, "investigating");
        assert_eq!(f.pauses, vec![(2, Some(5))]);
        assert_eq!(
            f.apply("inquiry", &step("resume", 6)).unwrap_err().code,
            "invalid_transition"
        );
        assert_eq!(
            f.apply("inquiry", &step("respond", 4)).unwrap_err().code,
            "validation_failed"
        );
    }

    #[test]
    fn unreachable_three_times_allows_closing_and_reopen_keeps_the_clock() {
        let mut f = Flow::opened(0);
        for a in ["propose", "implement"] {
            f.apply("complaint", &step(a, 1)).unwrap();
        }
        for i in 0..2 {
            f.apply("complaint", &step("unreachable", 2 + i)).unwrap();
            assert_eq!(
                f.apply("complaint", &step("close", 2 + i))
                    .unwrap_err()
                    .code,
                "callback_required"
            );
        }
        f.apply("complaint", &step("unreachable", 5)).unwrap();
        f.apply("complaint", &step("close", 6)).unwrap();
        assert_eq!(f.resolved_at, Some(2));
        let reopen_at = 6 + REOPEN_WITHIN_US;
        f.apply("complaint", &step("reopen", reopen_at)).unwrap();
        assert_eq!(f.state, "investigating");
        assert_eq!(f.pauses, vec![(2, Some(reopen_at))]);
        assert_eq!(f.resolved_at, None);
        assert_eq!(
            f.unreachable_attempts, 0,
            "a reopened complaint needs a new callback"
        );
        for a in ["propose", "implement", "unreachable"] {
            f.apply("complaint", &step(a, reopen_at)).unwrap();
        }
        assert_eq!(
            f.apply("complaint", &step("close", reopen_at))
                .unwrap_err()
                .code,
            "callback_required"
        );

        let mut g = Flow::opened(0);
        g.apply("praise", &step("close", 1)).unwrap();
        let e = g
            .apply("praise", &step("reopen", 2 + REOPEN_WITHIN_US))
            .unwrap_err();
        assert_eq!(e.code, "invalid_transition");
    }

    #[test]
    fn an_unknown_action_is_a_validation_error() {
        let mut f = Flow::opened(0);
        assert_eq!(
            f.apply("inquiry", &step("dance", 1)).unwrap_err().code,
            "validation_failed"
        );
        assert_eq!(f, Flow::opened(0));
    }
}
