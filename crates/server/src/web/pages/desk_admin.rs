//! The service desk's settings (administrators): business calendars (time zone, hours
//! per weekday, holidays and make-up working days 调休), which calendar each station's
//! tickets run on, and the SLA targets of each severity. Forms only; each save is one
//! use case of `forecourt_app::service_desk`.

use super::tickets::failure;
use super::{failed, failure_text, forbidden};
use crate::access::Action;
use crate::web::{html, layout, see_other, zone_name, Console};
use axum::extract::Query;
use axum::http::StatusCode;
use axum::response::Response;
use axum::Form;
use forecourt_app::service_desk::{self as desk, CalendarBody, CalendarView, PolicyBody};
use maud::{html as m, Markup};
use serde_json::{json, Map, Value};
use std::collections::HashMap;

const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
/// The zones offered for a calendar: the network's and the ones stations use.
const ZONES: &[&str] = &[
    "Asia/Shanghai",
    "Asia/Urumqi",
    "Asia/Hong_Kong",
    "Asia/Macau",
    "Asia/Taipei",
];

/// A day's hours as the form shows them: mode (`closed`, `hours`, `24h`), open, close.
fn day_hours(cal: Option<&CalendarView>, day: &str) -> (&'static str, String, String) {
    let Some(cal) = cal else {
        return ("hours", "06:00".into(), "22:00".into());
    };
    let v = if cal.hours.as_str() == Some("24h") {
        Value::String("24h".into())
    } else {
        cal.hours[day].clone()
    };
    if v.as_str() == Some("24h") {
        return ("24h", String::new(), String::new());
    }
    match v
        .as_array()
        .and_then(|l| l.first())
        .and_then(|p| p.as_array())
    {
        Some(p) if p.len() == 2 => (
            "hours",
            p[0].as_str().unwrap_or("").to_string(),
            p[1].as_str().unwrap_or("").to_string(),
        ),
        _ => ("closed", String::new(), String::new()),
    }
}

/// A calendar as people call it: the default one by its name in the page's language.
fn cal_name(c: &Console, code: &str) -> String {
    if code == forecourt_store::tickets::DEFAULT_CALENDAR {
        c.t("desk.calendar_default").to_string()
    } else {
        code.to_string()
    }
}

fn calendar_form(c: &Console, cal: Option<&CalendarView>) -> Markup {
    let code = cal.map(|x| x.code.clone()).unwrap_or_default();
    let form_id = if cal.is_some() {
        format!("calendar-{code}")
    } else {
        "calendar-new".to_string()
    };
    let tz = cal
        .map(|x| x.timezone.clone())
        .unwrap_or_else(|| crate::clock::NETWORK_TZ.to_string());
    let dates = |l: Option<&Vec<String>>| l.map(|d| d.join("\n")).unwrap_or_default();
    m! {
        form.stack method="post" action="/admin/service-desk/calendars" id=(form_id) {
            (layout::csrf(c))
            @if cal.is_some() {
                input type="hidden" name="code" value=(code);
            } @else {
                label { (c.t("desk.calendar_code")) " " small.muted { (c.t("desk.calendar_code_hint")) }
                    input type="text" name="code" required maxlength="32" pattern="[A-Za-z0-9_-]+"; }
            }
            label { (c.t("desk.timezone"))
                select name="timezone" {
                    @for z in ZONES { option value=(z) selected[tz == *z] { (zone_name(c.lang(), z)) } }
                    @if !ZONES.contains(&tz.as_str()) { option value=(tz) selected { (zone_name(c.lang(), &tz)) } }
                }
            }
            table.list {
                thead { tr { th { (c.t("desk.weekday")) } th { (c.t("desk.open_mode")) } th { (c.t("desk.opens")) } th { (c.t("desk.closes")) } } }
                tbody { @for d in DAYS {
                    @let (mode, open, close) = day_hours(cal, d);
                    tr {
                        td { (c.t(&format!("desk.day_{d}"))) }
                        td { select name={ "mode_" (d) } aria-label=(c.t("desk.open_mode")) {
                            @for k in ["hours", "24h", "closed"] { option value=(k) selected[mode == k] { (c.t(&format!("desk.mode_{k}"))) } }
                        } }
                        td { input type="time" name={ "open_" (d) } value=(open) aria-label=(c.t("desk.opens")); }
                        td { input type="time" name={ "close_" (d) } value=(close) aria-label=(c.t("desk.closes")); }
                    }
                } }
            }
            label { (c.t("desk.holidays")) " " small.muted { (c.t("desk.dates_hint")) }
                textarea name="holidays" rows="3" { (dates(cal.map(|x| &x.holidays))) } }
            label { (c.t("desk.workdays")) " " small.muted { (c.t("desk.dates_hint")) }
                textarea name="workdays" rows="2" { (dates(cal.map(|x| &x.workdays))) } }
            button.primary type="submit" { (c.t("form.save")) }
        }
    }
}

fn body(c: &Console, s: &desk::DeskSettings, done: Option<&str>, error: Option<&str>) -> Markup {
    let hm = |minutes: u32| (minutes / 60, minutes % 60);
    m! {
        @if let Some(d) = done { (layout::notice("ok", c.t(&format!("desk.done_{d}")))) }
        @if let Some(e) = error { (layout::notice("error", e)) }
        section.card id="sla-policies" {
            h2 { (c.t("desk.policies")) }
            p.muted { (c.t("desk.policies_hint")) }
            @for (sev, fr, res) in &s.policies {
                @let (frh, frm) = hm(*fr);
                @let (rh, rm) = hm(*res);
                form.row method="post" action="/admin/service-desk/policies" id={ "policy-" (sev) } {
                    (layout::csrf(c))
                    input type="hidden" name="severity" value=(sev);
                    b { (c.t(&format!("ticket.severity_{sev}"))) }
                    span { (c.t("ticket.first_response_due")) }
                    input type="number" name="fr_hours" min="0" max="8760" value=(frh) aria-label=(c.t("desk.hours")); (c.t("desk.hours"))
                    input type="number" name="fr_minutes" min="0" max="59" value=(frm) aria-label=(c.t("desk.minutes")); (c.t("desk.minutes"))
                    span { (c.t("ticket.resolution_due")) }
                    input type="number" name="res_hours" min="0" max="8760" value=(rh) aria-label=(c.t("desk.hours")); (c.t("desk.hours"))
                    input type="number" name="res_minutes" min="0" max="59" value=(rm) aria-label=(c.t("desk.minutes")); (c.t("desk.minutes"))
                    button type="submit" { (c.t("form.save")) }
                }
            }
        }
        section.card id="station-calendars" {
            h2 { (c.t("desk.stations")) }
            table.list {
                thead { tr { th { (c.t("ticket.station")) } th { (c.t("desk.calendar")) } } }
                tbody { @for (code, name, cal) in &s.stations {
                    tr {
                        td { (name) }
                        td { form.row method="post" action="/admin/service-desk/stations" {
                            (layout::csrf(c))
                            input type="hidden" name="station" value=(code);
                            select name="calendar" aria-label=(c.t("desk.calendar")) {
                                @for x in &s.calendars { option value=(x.code) selected[x.code == *cal] { (cal_name(c, &x.code)) } }
                            }
                            button type="submit" { (c.t("form.save")) }
                        } }
                    }
                } }
            }
        }
        @for cal in &s.calendars {
            section.card {
                h2 { (c.t("desk.calendar")) " · " (cal_name(c, &cal.code)) }
                (calendar_form(c, Some(cal)))
            }
        }
        section.card id="new-calendar" {
            h2 { (c.t("desk.new_calendar")) }
            (calendar_form(c, None))
        }
    }
}

async fn page(
    c: &Console,
    done: Option<&str>,
    error: Option<&str>,
    status: StatusCode,
) -> Response {
    let title = c.t("desk.title");
    match desk::settings(c.ctx.state.app(), &c.user).await {
        Ok(s) => html(status, layout::page(c, title, body(c, &s, done, error))),
        Err(e) => failed(c, title, &failure(e)),
    }
}

/// `GET /admin/service-desk`.
pub async fn settings(c: Console, Query(q): Query<HashMap<String, String>>) -> Response {
    if let Some(r) = super::deny(&c, Action::ManageServiceDesk) {
        return r;
    }
    page(&c, q.get("done").map(String::as_str), None, StatusCode::OK).await
}

async fn saved(c: &Console, r: Result<(), forecourt_app::error::AppError>, done: &str) -> Response {
    match r {
        Ok(()) => see_other(&format!("/admin/service-desk?done={done}")),
        Err(e) => {
            let f = failure(e);
            page(c, None, Some(&failure_text(c, &f)), f.status).await
        }
    }
}

fn date_list(text: &str) -> Vec<String> {
    text.split(|ch: char| ch.is_whitespace() || ch == ',' || ch == '，' || ch == '、')
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .map(str::to_string)
        .collect()
}

/// `POST /admin/service-desk/calendars`: creates or replaces a calendar.
pub async fn save_calendar(c: Console, Form(f): Form<HashMap<String, String>>) -> Response {
    if !c.csrf_ok(&f) {
        return forbidden(&c);
    }
    let get = |k: &str| f.get(k).map(|v| v.trim()).unwrap_or("");
    let mut hours = Map::new();
    for d in DAYS {
        match get(&format!("mode_{d}")) {
            "24h" => {
                hours.insert(d.into(), json!("24h"));
            }
            "closed" => {
                hours.insert(d.into(), json!([]));
            }
            _ => {
                hours.insert(
                    d.into(),
                    json!([[get(&format!("open_{d}")), get(&format!("close_{d}"))]]),
                );
            }
        }
    }
    let all_day = DAYS.iter().all(|d| hours[*d] == json!("24h"));
    let body = CalendarBody {
        timezone: get("timezone").to_string(),
        hours: if all_day {
            json!("24h")
        } else {
            Value::Object(hours)
        },
        holidays: date_list(get("holidays")),
        workdays: date_list(get("workdays")),
        workday_hours: None,
    };
    let r = desk::put_calendar(
        c.ctx.state.app(),
        &c.user,
        c.ctx.source.as_deref(),
        get("code"),
        body,
    )
    .await
    .map(|_| ());
    saved(&c, r, "calendar").await
}

/// `POST /admin/service-desk/stations`: a station's tickets run on a calendar.
pub async fn assign(c: Console, Form(f): Form<HashMap<String, String>>) -> Response {
    if !c.csrf_ok(&f) {
        return forbidden(&c);
    }
    let get = |k: &str| f.get(k).map(|v| v.trim()).unwrap_or("");
    let r = desk::assign_calendar(
        c.ctx.state.app(),
        &c.user,
        c.ctx.source.as_deref(),
        get("station"),
        get("calendar"),
    )
    .await
    .map(|_| ());
    saved(&c, r, "station").await
}

/// `POST /admin/service-desk/policies`: the targets of one severity.
pub async fn save_policy(c: Console, Form(f): Form<HashMap<String, String>>) -> Response {
    if !c.csrf_ok(&f) {
        return forbidden(&c);
    }
    let n = |k: &str| -> Option<u32> {
        let v = f.get(k).map(|v| v.trim()).unwrap_or("");
        if v.is_empty() {
            Some(0)
        } else {
            v.parse().ok()
        }
    };
    let minutes = |h: &str, m: &str| -> Option<u32> {
        n(h)?
            .checked_mul(60)?
            .checked_add(n(m).filter(|m| *m < 60)?)
    };
    let (Some(fr), Some(res)) = (
        minutes("fr_hours", "fr_minutes"),
        minutes("res_hours", "res_minutes"),
    ) else {
        return page(
            &c,
            None,
            Some(c.t("desk.bad_minutes")),
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    };
    let severity = f.get("severity").cloned().unwrap_or_default();
    let r = desk::put_policy(
        c.ctx.state.app(),
        &c.user,
        c.ctx.source.as_deref(),
        &severity,
        PolicyBody {
            first_response_minutes: fr,
            resolution_minutes: res,
        },
    )
    .await
    .map(|_| ());
    saved(&c, r, "policy").await
}
