//! The service desk at the station: the ticket queue with its SLA colours, the
//! callback (回访) work list and the breaches per station, a new ticket taken at the
//! counter, and one ticket with its history and the steps its state allows.
//!
//! Every read and write is one use case of `forecourt_app::service_desk`, called as the
//! signed-in user: the use case decides scope and the workflow, the page formats.

use super::{failed, failure_text, forbidden};
use crate::access::{Action, Scope};
use crate::web::{html, i18n::fill, layout, percent_encode, see_other, ApiFailure, Console, Zones};
use axum::extract::{Path, Query};
use axum::http::StatusCode;
use axum::response::Response;
use axum::Form;
use chrono::TimeZone;
use forecourt_app::error::AppError;
use forecourt_app::service_desk::{
    self as desk, CallbackQuery, EventBody, TicketBody, TicketQuery, TicketView,
};
use maud::{html as m, Markup};
use serde_json::Value;
use std::collections::HashMap;

/// An error of a use case as the pages show it.
pub(super) fn failure(e: AppError) -> ApiFailure {
    ApiFailure {
        status: StatusCode::from_u16(e.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        code: e.code.to_string(),
        message: e.message,
        details: e.details.unwrap_or(Value::Null),
    }
}

/// A moment as a use case gives it (RFC 3339), in the station's zone.
fn at(c: &Console, t: &str, zone: &str) -> String {
    c.when(&Value::String(t.to_string()), zone)
}

/// The stations in the user's scope: code and name.
pub(super) async fn my_stations(c: &Console) -> Vec<(String, String)> {
    let mut list: Vec<(String, String)> = c
        .ctx
        .state
        .store()
        .stations()
        .await
        .unwrap_or_default()
        .into_iter()
        .filter(|s| forecourt_app::access::station_in_scope(&c.user, s))
        .map(|s| (s.code, s.name))
        .collect();
    list.sort();
    list
}

/// The class of a due time: `overdue` (red), `soon` (75 % used, amber), `paused`
/// (grey), `done` (the clock stopped in time) or plain.
fn due_class(stopped: bool, breached: bool, paused: bool, permille: u64) -> &'static str {
    if breached {
        "due overdue"
    } else if stopped {
        "due done"
    } else if paused {
        "due paused"
    } else if permille >= 750 {
        "due soon"
    } else {
        "due"
    }
}

fn due_cells(c: &Console, t: &TicketView, zone: &str) -> (Markup, Markup) {
    let closed = t.state == "closed";
    let fr = m! {
        span class=(due_class(t.first_response_at.is_some(), t.sla.first_response_breached, t.sla.paused, t.sla.first_response_used_permille)) {
            (at(c, &t.sla.first_response_due_at, zone))
        }
    };
    let res = m! {
        span class=(due_class(t.resolved_at.is_some() || closed, t.sla.resolution_breached, t.sla.paused, t.sla.resolution_used_permille)) {
            (at(c, &t.sla.resolution_due_at, zone))
        }
    };
    (fr, res)
}

/// The nearest due time still running (open tickets first, soonest first).
fn sort_key(t: &TicketView) -> (bool, String) {
    let next = if t.first_response_at.is_none() {
        t.sla
            .first_response_due_at
            .clone()
            .min(t.sla.resolution_due_at.clone())
    } else {
        t.sla.resolution_due_at.clone()
    };
    (t.state == "closed", next)
}

fn customer_cell(c: &Console, names: &HashMap<String, String>, id: Option<&str>) -> String {
    match id {
        Some(id) => names
            .get(id)
            .cloned()
            .unwrap_or_else(|| c.t("ticket.customer_gone").to_string()),
        None => c.t("ticket.no_customer").to_string(),
    }
}

fn option_list(c: &Console, prefix: &str, values: &[&str], chosen: &str) -> Markup {
    m! {
        @for v in values {
            option value=(v) selected[*v == chosen] { (c.t(&format!("{prefix}{v}"))) }
        }
    }
}

/// `GET /tickets?station=&state=&kind=&breached=1`: the queue, the callback work list
/// and (above a station) the breaches per station.
pub async fn queue(c: Console, Query(q): Query<HashMap<String, String>>) -> Response {
    let title = c.t("ticket.title");
    if let Some(r) = super::deny(&c, Action::ViewTickets) {
        return r;
    }
    let get = |k: &str| q.get(k).map(|v| v.trim()).filter(|v| !v.is_empty());
    let station = get("station").map(str::to_string);
    let state = get("state").filter(|s| desk::STATES.contains(s));
    let kind = get("kind").filter(|k| desk::KINDS.contains(k));
    let breached = get("breached").is_some();
    let app = c.ctx.state.app();
    let tickets = desk::list_tickets(
        app,
        &c.user,
        TicketQuery {
            station: station.clone(),
            state: state.map(str::to_string),
            kind: kind.map(str::to_string),
            breached: Some(breached),
            limit: Some(200),
        },
    )
    .await;
    let mut tickets = match tickets {
        Ok(t) => t,
        Err(e) => return failed(&c, title, &failure(e)),
    };
    tickets.sort_by_key(sort_key);
    let callbacks = match desk::callbacks(
        app,
        &c.user,
        CallbackQuery {
            station: station.clone(),
        },
    )
    .await
    {
        Ok(x) => x,
        Err(e) => return failed(&c, title, &failure(e)),
    };
    let above_station = !matches!(Scope::of(&c.user), Scope::Station(_));
    let breaches = if above_station {
        match desk::breaches(
            app,
            &c.user,
            CallbackQuery {
                station: station.clone(),
            },
        )
        .await
        {
            Ok(x) => x,
            Err(e) => return failed(&c, title, &failure(e)),
        }
    } else {
        Vec::new()
    };
    let ids: Vec<&str> = tickets
        .iter()
        .filter_map(|t| t.customer_id.as_deref())
        .chain(callbacks.iter().filter_map(|t| t.customer_id.as_deref()))
        .collect();
    let names = match desk::customer_names(app, &c.user, &ids).await {
        Ok(n) => n,
        Err(e) => return failed(&c, title, &failure(e)),
    };
    let zones = Zones::load(&c.ctx.state).await;
    let stations = if above_station {
        my_stations(&c).await
    } else {
        Vec::new()
    };
    let body = m! {
        @if c.may(Action::WorkTickets) {
            p { a.button.primary href="/tickets/new" id="new-ticket" { (c.t("ticket.new")) } }
        }
        form.row method="get" action="/tickets" id="ticket-filters" {
            @if above_station {
                select name="station" aria-label=(c.t("ticket.station")) {
                    option value="" { (c.t("ticket.all_stations")) }
                    @for (code, name) in &stations {
                        option value=(code) selected[station.as_deref() == Some(code.as_str())] { (name) }
                    }
                }
            }
            select name="state" aria-label=(c.t("ticket.state")) {
                option value="" { (c.t("ticket.all_states")) }
                (option_list(&c, "ticket.state_", desk::STATES, state.unwrap_or("")))
            }
            select name="kind" aria-label=(c.t("ticket.kind")) {
                option value="" { (c.t("ticket.all_kinds")) }
                (option_list(&c, "ticket.kind_", desk::KINDS, kind.unwrap_or("")))
            }
            label.check { input type="checkbox" name="breached" value="1" checked[breached]; " " (c.t("ticket.breached_only")) }
            button type="submit" id="ticket-filter" { (c.t("ticket.filter")) }
        }
        section.card id="ticket-queue" {
            @if tickets.is_empty() {
                (layout::empty(c.t("ticket.none"), None))
            } @else {
                table.list {
                    thead { tr {
                        th { (c.t("ticket.kind")) } th { (c.t("ticket.category")) } th { (c.t("ticket.severity")) }
                        th { (c.t("ticket.customer")) }
                        @if above_station { th { (c.t("ticket.station")) } }
                        th { (c.t("ticket.opened")) } th { (c.t("ticket.state")) }
                        th { (c.t("ticket.first_response_due")) } th { (c.t("ticket.resolution_due")) }
                    } }
                    tbody { @for t in &tickets {
                        @let zone = zones.of_code(&t.station_code);
                        @let (fr, res) = due_cells(&c, t, zone);
                        tr {
                            td { a.ticket-link href={ "/tickets/" (percent_encode(&t.id)) } { (c.t(&format!("ticket.kind_{}", t.kind))) } }
                            td { (c.t(&format!("ticket.category_{}", t.category))) }
                            td { (c.t(&format!("ticket.severity_{}", t.severity))) }
                            td { (customer_cell(&c, &names, t.customer_id.as_deref())) }
                            @if above_station { td { (station_name(&stations, &t.station_code)) } }
                            td { (at(&c, &t.opened_at, zone)) }
                            td { span class={ "state " (t.state) } { (c.t(&format!("ticket.state_{}", t.state))) } }
                            td { (fr) } td { (res) }
                        }
                    } }
                }
                p.muted.small { (c.t("ticket.legend")) }
            }
        }
        section.card id="callbacks" {
            h3 { (c.t("ticket.callbacks")) }
            @if callbacks.is_empty() {
                (layout::empty(c.t("ticket.no_callbacks"), None))
            } @else {
                table.list {
                    thead { tr {
                        th { (c.t("ticket.category")) } th { (c.t("ticket.severity")) } th { (c.t("ticket.customer")) }
                        th { (c.t("ticket.state")) } th.num { (c.t("ticket.attempts")) } th { (c.t("ticket.callback_due")) }
                    } }
                    tbody { @for x in &callbacks {
                        @let zone = zones.of_code(&x.station_code);
                        tr {
                            td { a href={ "/tickets/" (percent_encode(&x.ticket_id)) } { (c.t(&format!("ticket.category_{}", x.category))) } }
                            td { (c.t(&format!("ticket.severity_{}", x.severity))) }
                            td { (customer_cell(&c, &names, x.customer_id.as_deref())) }
                            td { (c.t(&format!("ticket.state_{}", x.state))) }
                            td.num { (x.attempts) }
                            td { span class=(if x.overdue { "due overdue" } else { "due" }) { (at(&c, &x.due_at, zone)) } }
                        }
                    } }
                }
            }
        }
        @if above_station {
            section.card id="breaches" {
                h3 { (c.t("ticket.breaches")) }
                @if breaches.is_empty() {
                    (layout::empty(c.t("ticket.no_open"), None))
                } @else {
                    table.list {
                        thead { tr { th { (c.t("ticket.station")) } th.num { (c.t("ticket.open")) } th.num { (c.t("ticket.breached")) } th.num { (c.t("ticket.escalated")) } } }
                        tbody { @for b in &breaches {
                            tr {
                                td { a href={ "/tickets?station=" (percent_encode(&b.station_code)) } { (station_name(&stations, &b.station_code)) } }
                                td.num { (b.open) }
                                td.num { span class=(if b.breached > 0 { "due overdue" } else { "due" }) { (b.breached) } }
                                td.num { (b.escalated) }
                            }
                        } }
                    }
                }
            }
        }
    };
    html(StatusCode::OK, layout::page(&c, title, body))
}

fn station_name(stations: &[(String, String)], code: &str) -> String {
    stations
        .iter()
        .find(|(c, _)| c == code)
        .map(|(_, n)| n.clone())
        .unwrap_or_else(|| code.to_string())
}

fn new_form(
    c: &Console,
    stations: &[(String, String)],
    f: &HashMap<String, String>,
    error: Option<&str>,
) -> Markup {
    let v = |k: &str| f.get(k).cloned().unwrap_or_default();
    let or = |k: &str, d: &str| {
        f.get(k)
            .filter(|x| !x.is_empty())
            .cloned()
            .unwrap_or_else(|| d.to_string())
    };
    m! {
        section.card id="new-ticket-card" {
            @if let Some(e) = error { (layout::notice("error", e)) }
            form.stack method="post" action="/tickets/new" id="new-ticket-form" {
                (layout::csrf(c))
                @if stations.len() == 1 {
                    input type="hidden" name="station" value=(stations[0].0);
                    p.muted { (c.t("ticket.station")) ": " (stations[0].1) }
                } @else {
                    label { (c.t("ticket.station"))
                        select name="station" id="ticket-station" required {
                            @for (code, name) in stations { option value=(code) selected[v("station") == *code] { (name) } }
                        }
                    }
                }
                label { (c.t("ticket.kind"))
                    select name="kind" id="ticket-kind" { (option_list(c, "ticket.kind_", desk::KINDS, &or("kind", "complaint"))) } }
                label { (c.t("ticket.channel"))
                    select name="channel" id="ticket-channel" { (option_list(c, "ticket.channel_", desk::CHANNELS, &or("channel", "counter"))) } }
                label { (c.t("ticket.category"))
                    select name="category" id="ticket-category" { (option_list(c, "ticket.category_", desk::CATEGORIES, &or("category", "other"))) } }
                label { (c.t("ticket.severity"))
                    select name="severity" id="ticket-severity" { (option_list(c, "ticket.severity_", &["low", "normal", "high", "critical"], &or("severity", "normal"))) } }
                label { (c.t("ticket.customer_phone")) " " small.muted { (c.t("ticket.customer_phone_hint")) }
                    input type="tel" name="phone" id="ticket-phone" value=(v("phone")) inputmode="tel" maxlength="20"; }
                label { (c.t("ticket.description"))
                    textarea name="description" id="ticket-description" required maxlength="2000" rows="4" { (v("description")) } }
                label { (c.t("ticket.received_at")) " " small.muted { (c.t("ticket.received_at_hint")) }
                    input type="datetime-local" name="received_at" id="ticket-received-at" value=(v("received_at")); }
                button.primary type="submit" id="new-ticket-submit" { (c.t("ticket.create")) }
            }
        }
    }
}

/// `GET /tickets/new`: the form for a ticket taken at the counter (or by phone).
pub async fn new(c: Console) -> Response {
    if let Some(r) = super::deny(&c, Action::WorkTickets) {
        return r;
    }
    let stations = my_stations(&c).await;
    let body = new_form(&c, &stations, &HashMap::new(), None);
    html(StatusCode::OK, layout::page(&c, c.t("ticket.new"), body))
}

/// A local time typed into a form (`2026-11-20T08:00`) at a station, as RFC 3339.
fn local_input(text: &str, zone: &str) -> Option<String> {
    let naive = chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M")
        .or_else(|_| chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S"))
        .ok()?;
    let local = crate::clock::tz(zone)
        .from_local_datetime(&naive)
        .earliest()?;
    Some(crate::clock::rfc3339(local.timestamp_micros()))
}

/// `POST /tickets/new`: opens the ticket, then shows it.
pub async fn create(c: Console, Form(f): Form<HashMap<String, String>>) -> Response {
    if !c.csrf_ok(&f) {
        return forbidden(&c);
    }
    let stations = my_stations(&c).await;
    let again = |status: StatusCode, text: &str| {
        html(
            status,
            layout::page(
                &c,
                c.t("ticket.new"),
                new_form(&c, &stations, &f, Some(text)),
            ),
        )
    };
    let get = |k: &str| f.get(k).map(|v| v.trim()).filter(|v| !v.is_empty());
    let station = get("station").unwrap_or("").to_string();
    let app = c.ctx.state.app();
    let customer_id = match get("phone") {
        Some(p) => match desk::customer_by_phone(app, &c.user, p).await {
            Ok(id) => Some(id),
            Err(e) => {
                let e = failure(e);
                return again(e.status, &failure_text(&c, &e));
            }
        },
        None => None,
    };
    let opened_at = match get("received_at") {
        Some(t) => {
            let zone = Zones::load(&c.ctx.state).await;
            match local_input(t, zone.of_code(&station)) {
                Some(x) => Some(x),
                None => return again(StatusCode::UNPROCESSABLE_ENTITY, c.t("ticket.bad_time")),
            }
        }
        None => None,
    };
    let body = TicketBody {
        kind: get("kind").unwrap_or("").to_string(),
        channel: get("channel").unwrap_or("counter").to_string(),
        station_code: station,
        category: get("category").unwrap_or("").to_string(),
        severity: get("severity").unwrap_or("normal").to_string(),
        customer_id,
        description: f.get("description").cloned().unwrap_or_default(),
        opened_at,
    };
    match desk::open_ticket(app, &c.user, c.ctx.source.as_deref(), body).await {
        Ok(t) => see_other(&format!("/tickets/{}?done=opened", percent_encode(&t.id))),
        Err(e) => {
            let e = failure(e);
            again(e.status, &failure_text(&c, &e))
        }
    }
}

/// The ticket, or the page's answer: another station's ticket is not found here, as a
/// ticket that does not exist.
async fn read(c: &Console, id: &str) -> Result<TicketView, Response> {
    match desk::get_ticket(c.ctx.state.app(), &c.user, id).await {
        Ok(t) => Ok(t),
        Err(e) if e.code == "forbidden" && c.may(Action::ViewTickets) => Err(failed(
            c,
            c.t("err.title"),
            &failure(AppError::new("ticket_not_found", "no ticket with this id")),
        )),
        Err(e) => Err(failed(c, c.t("err.title"), &failure(e))),
    }
}

fn author(c: &Console, a: &str) -> String {
    match a.strip_prefix("user:") {
        Some(name) => name.to_string(),
        None if a == desk::SYSTEM_AUTHOR => c.t("ticket.author_system").to_string(),
        // A member who wrote from the portal: the customer, not their id.
        None if a.starts_with("member:") => c.t("ticket.author_member").to_string(),
        None => a.to_string(),
    }
}

/// `GET /tickets/{id}`: the facts, the clocks, the history and the steps allowed now.
pub async fn ticket(
    c: Console,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let t = match read(&c, &id).await {
        Ok(t) => t,
        Err(r) => return r,
    };
    show(
        &c,
        &t,
        q.get("done").map(String::as_str),
        None,
        StatusCode::OK,
    )
    .await
}

async fn show(
    c: &Console,
    t: &TicketView,
    done: Option<&str>,
    error: Option<&str>,
    status: StatusCode,
) -> Response {
    let app = c.ctx.state.app();
    let ids: Vec<&str> = t.customer_id.as_deref().into_iter().collect();
    let names = desk::customer_names(app, &c.user, &ids)
        .await
        .unwrap_or_default();
    let zones = Zones::load(&c.ctx.state).await;
    let zone = zones.of_code(&t.station_code);
    let stations = my_stations(c).await;
    let now = c.ctx.state.clock().now_us();
    let closed_at = t
        .closed_at
        .as_deref()
        .and_then(|x| crate::web::instant(&Value::String(x.to_string())));
    let offered = if c.may(Action::WorkTickets) {
        desk::offered_actions(&t.state, closed_at, now)
    } else {
        Vec::new()
    };
    let (fr, res) = due_cells(c, t, zone);
    let title = c.t(&format!("ticket.kind_{}", t.kind));
    let action = format!("/tickets/{}/events", percent_encode(&t.id));
    let simple: Vec<&str> = offered
        .iter()
        .copied()
        .filter(|a| *a != "callback" && *a != "unreachable")
        .collect();
    let events = t.events.as_deref().unwrap_or_default();
    let body = m! {
        @if let Some(d) = done { (layout::notice("ok", c.t(&format!("ticket.done_{d}")))) }
        @if let Some(e) = error { (layout::notice("error", e)) }
        section.card id="ticket-head" {
            h2 { (c.t(&format!("ticket.category_{}", t.category))) " "
                span class={ "state " (t.state) } id="ticket-state" { (c.t(&format!("ticket.state_{}", t.state))) } }
            (layout::facts(&[
                (c.t("ticket.station"), m! { (station_name(&stations, &t.station_code)) }),
                (c.t("ticket.channel"), m! { (c.t(&format!("ticket.channel_{}", t.channel))) }),
                (c.t("ticket.severity"), m! { (c.t(&format!("ticket.severity_{}", t.severity))) }),
                (c.t("ticket.customer"), m! { (customer_cell(c, &names, t.customer_id.as_deref())) }),
                (c.t("ticket.description"), m! { span id="ticket-description-text" { (t.description) } }),
                (c.t("ticket.opened"), m! { (at(c, &t.opened_at, zone)) " · " (author(c, &t.opened_by)) }),
                (c.t("ticket.assignee"), m! { (t.assignee.clone().unwrap_or_else(|| "—".into())) }),
            ]))
        }
        section.card id="ticket-sla" {
            h3 { (c.t("ticket.sla")) }
            (layout::facts(&[
                (c.t("ticket.first_response_due"), m! { (fr) @if let Some(x) = &t.first_response_at { " · " (fill(c.t("ticket.answered_at"), &[("at", &at(c, x, zone))])) } }),
                (c.t("ticket.resolution_due"), m! { (res) @if let Some(x) = &t.resolved_at { " · " (fill(c.t("ticket.resolved_at"), &[("at", &at(c, x, zone))])) } }),
                (c.t("ticket.targets"), m! { (fill(c.t("ticket.targets_text"), &[("fr", &t.first_response_minutes.to_string()), ("res", &t.resolution_minutes.to_string())])) }),
                (c.t("ticket.paused_minutes"), m! { span id="ticket-paused" { (t.sla.paused_business_minutes) } @if t.sla.paused { " · " (c.t("ticket.paused_now")) } }),
                (c.t("ticket.escalation"), m! { span id="ticket-escalation" { (c.t(&format!("ticket.level_{}", t.sla.escalation_level))) } }),
                (c.t("ticket.breached"), m! { span id="ticket-breached" class=(if t.sla.breached { "due overdue" } else { "due" }) { (c.t(if t.sla.breached { "ticket.yes" } else { "ticket.no" })) } }),
                (c.t("ticket.attempts"), m! { (t.callback_attempts) }),
            ]))
        }
        @if !offered.is_empty() {
            section.card id="ticket-actions" {
                h3 { (c.t("ticket.next_steps")) }
                @if !simple.is_empty() {
                    form.stack method="post" action=(action) id="step-form" {
                        (layout::csrf(c))
                        label { (c.t("ticket.note")) textarea name="note" id="step-note" maxlength="2000" rows="2" {} }
                        div.row {
                            @for a in &simple {
                                button type="submit" name="action" value=(a) id={ "step-" (a) } class=[(*a == "close").then_some("primary")] { (c.t(&format!("ticket.do_{a}"))) }
                            }
                        }
                    }
                }
                @if offered.contains(&"callback") {
                    h4 { (c.t("ticket.callback")) }
                    form.stack method="post" action=(action) id="callback-form" {
                        (layout::csrf(c))
                        input type="hidden" name="action" value="callback";
                        label { (c.t("ticket.csat"))
                            select name="csat" id="callback-csat" required {
                                @for n in (1..=5).rev() { option value=(n) { (c.t(&format!("ticket.csat_{n}"))) } }
                            }
                        }
                        label { (c.t("ticket.callback_note")) textarea name="note" id="callback-note" required maxlength="2000" rows="2" {} }
                        div.row {
                            button.primary type="submit" id="step-callback" { (c.t("ticket.do_callback")) }
                        }
                    }
                    form.inline method="post" action=(action) id="unreachable-form" {
                        (layout::csrf(c))
                        input type="hidden" name="action" value="unreachable";
                        button type="submit" id="step-unreachable" { (c.t("ticket.do_unreachable")) }
                        small.muted { " " (c.t("ticket.unreachable_hint")) }
                    }
                }
            }
        }
        section.card id="ticket-history" {
            h3 { (c.t("ticket.history")) }
            table.list {
                thead { tr { th { (c.t("ticket.when")) } th { (c.t("ticket.who")) } th { (c.t("ticket.step")) } th { (c.t("ticket.note")) } } }
                tbody { @for e in events {
                    tr {
                        td { (at(c, &e.at, zone)) }
                        td { (author(c, &e.author)) }
                        td { (c.t(&format!("ticket.action_{}", e.action)))
                            @if e.from_state != e.to_state && !e.from_state.is_empty() { " → " (c.t(&format!("ticket.state_{}", e.to_state))) } }
                        td { @if let Some(n) = e.csat { (fill(c.t("ticket.csat_shown"), &[("n", &n.to_string())])) " " }
                            (e.note.clone().unwrap_or_default()) }
                    }
                } }
            }
        }
        p { a href="/tickets" { (c.t("ticket.back")) } }
    };
    html(status, layout::page(c, title, body))
}

/// `POST /tickets/{id}/events`: one step; a refused step shows the ticket again with
/// the reason, and nothing changed.
pub async fn step(
    c: Console,
    Path(id): Path<String>,
    Form(f): Form<HashMap<String, String>>,
) -> Response {
    if !c.csrf_ok(&f) {
        return forbidden(&c);
    }
    let action = f.get("action").cloned().unwrap_or_default();
    // Not a number reads as none: the use case then asks for a satisfaction 1 to 5.
    let csat = f
        .get("csat")
        .map(|x| x.trim())
        .filter(|x| !x.is_empty())
        .and_then(|x| x.parse::<i64>().ok());
    let body = EventBody {
        action: action.clone(),
        note: f.get("note").cloned().filter(|n| !n.trim().is_empty()),
        assignee: None,
        csat,
        at: None,
    };
    match desk::apply_event(
        c.ctx.state.app(),
        &c.user,
        c.ctx.source.as_deref(),
        &id,
        body,
    )
    .await
    {
        Ok(t) => see_other(&format!(
            "/tickets/{}?done={}",
            percent_encode(&t.id),
            percent_encode(&action)
        )),
        Err(e) => {
            let e = failure(e);
            let t = match read(&c, &id).await {
                Ok(t) => t,
                Err(r) => return r,
            };
            let text = failure_text(&c, &e);
            show(&c, &t, None, Some(&text), e.status).await
        }
    }
}
