//! The member's service desk: a complaint, suggestion, praise or question sent from the
//! portal, the member's own tickets with their progress, and the in-app inbox. What
//! they show is read by `forecourt_app::service_desk` and `forecourt_app::portal`, keyed
//! by the session's customer id (another member's ticket or message answers 404); the
//! pages word and lay it out.
//!
//! A ticket's history shows each step and when it happened, in the station's time, as
//! 「客服」 ("Staff") or 「您」 ("You"): never a staff member's name, never a note
//! (notes are staff's working notes, and no note is marked for the customer), never an
//! escalation (the service desk's own alarm).

use super::{empty, Member, Tab};
use crate::error::ApiError;
use crate::web::i18n::{fill, lookup};
use crate::web::layout::notice;
use crate::web::{html, see_other, when, Shown};
use axum::extract::{Path, Query};
use axum::http::StatusCode;
use axum::response::Response;
use axum::Form;
use forecourt_app::error::AppError;
use forecourt_app::portal;
use forecourt_app::service_desk::{self, MemberTicketBody};
use forecourt_store::outbox::InboxItem;
use forecourt_store::Station;
use maud::{html as m, Markup};
use std::collections::HashMap;

/// A catalogue text chosen by a value from the data (`{prefix}.{value}`), or `other`.
fn label(mb: &Member, prefix: &str, value: &str, other: &str) -> String {
    lookup(mb.lang(), &format!("{prefix}.{value}"))
        .map(str::to_string)
        .unwrap_or_else(|| other.to_string())
}

/// A ticket's state as the member reads it: accepted, being handled, waiting for the
/// member, the callback, closed. The steps staff tell apart (investigating, solution
/// proposed, implementing) are one for the member.
pub fn state_key(state: &str) -> &'static str {
    match state {
        "accepted" => "portal.ticket.state.accepted",
        "waiting_customer" => "portal.ticket.state.waiting",
        "callback" => "portal.ticket.state.callback",
        "closed" => "portal.ticket.state.closed",
        _ => "portal.ticket.state.working",
    }
}

/// The class of a state's badge.
fn state_class(state: &str) -> &'static str {
    match state {
        "closed" => "state done",
        "waiting_customer" | "callback" => "state wait",
        _ => "state open",
    }
}

fn state_badge(mb: &Member, state: &str) -> Markup {
    m! { span class=(state_class(state)) data-state=(state) { (mb.t(state_key(state))) } }
}

/// A moment of a ticket in its station's time.
fn station_time(mb: &Member, us: i64, station: Option<&Station>) -> String {
    let zone = station
        .map(|s| s.time_zone.as_str())
        .unwrap_or(crate::clock::NETWORK_TZ);
    when(mb.lang(), us, zone, Shown::Minute)
}

// ---------------------------------------------------------------- a new ticket

/// What the form shows again after a refusal.
#[derive(Default)]
struct Typed {
    kind: String,
    category: String,
    station_code: String,
    description: String,
}

async fn new_ticket_page(
    mb: &Member,
    typed: &Typed,
    error: Option<&str>,
) -> Result<Markup, ApiError> {
    let (stations, _) =
        portal::stations_and_fuel_prices(mb.ctx.state.app(), forecourt_store::now_us()).await?;
    let home = mb.customer.home_station_id.as_deref();
    let chosen = |s: &Station| {
        if typed.station_code.is_empty() {
            home == Some(s.station_id.as_str())
        } else {
            typed.station_code == s.code
        }
    };
    let kind = if typed.kind.is_empty() {
        "suggestion"
    } else {
        typed.kind.as_str()
    };
    let body = m! {
        h1 { (mb.t("portal.ticket.new.title")) }
        p.muted { (mb.t("portal.ticket.new.lead")) }
        @if let Some(e) = error { (notice("error", e)) }
        section.card {
            form.stack method="post" action="/m/tickets/new" id="portal-ticket-form" {
                input type="hidden" name="_csrf" value=(mb.csrf());
                label { (mb.t("portal.ticket.kind"))
                    select name="kind" id="portal-ticket-kind" required {
                        @for k in service_desk::MEMBER_KINDS {
                            option value=(k) selected[*k == kind] { (label(mb, "portal.ticket.kind", k, k)) }
                        }
                    }
                }
                label { (mb.t("portal.ticket.category"))
                    select name="category" id="portal-ticket-category" required {
                        @for c in service_desk::CATEGORIES {
                            option value=(c) selected[*c == typed.category] { (label(mb, "portal.ticket.category", c, c)) }
                        }
                    }
                }
                label { (mb.t("portal.ticket.station"))
                    select name="station_code" id="portal-ticket-station" required {
                        @if !stations.iter().any(chosen) {
                            option value="" selected { (mb.t("portal.ticket.station_choose")) }
                        }
                        @for s in &stations {
                            option value=(s.code) selected[chosen(s)] {
                                (s.name)
                                @if home == Some(s.station_id.as_str()) { " " (mb.t("portal.ticket.station_home")) }
                            }
                        }
                    }
                }
                label { (mb.t("portal.ticket.description"))
                    textarea name="description" id="portal-ticket-description" rows="6" maxlength="2000" required
                        placeholder=(mb.t("portal.ticket.description_hint")) { (typed.description) }
                }
                button.primary type="submit" id="portal-ticket-submit" { (mb.t("portal.ticket.submit")) }
            }
            p.muted.small { (fill(mb.t("portal.ticket.limit_note"), &[("n", &service_desk::MEMBER_TICKETS_PER_DAY.to_string())])) }
        }
        p { a href="/m/tickets" { "‹ " (mb.t("portal.tickets.title")) } }
    };
    Ok(mb.page(
        mb.t("portal.ticket.new.title"),
        "portal-ticket-new",
        Some(Tab::Service),
        body,
    ))
}

/// `GET /m/tickets/new`: the form to send a complaint, suggestion, praise or question.
pub async fn new_form(mb: Member, Query(q): Query<HashMap<String, String>>) -> Response {
    let typed = Typed {
        kind: q
            .get("kind")
            .filter(|k| service_desk::MEMBER_KINDS.contains(&k.as_str()))
            .cloned()
            .unwrap_or_default(),
        ..Typed::default()
    };
    match new_ticket_page(&mb, &typed, None).await {
        Ok(page) => html(StatusCode::OK, page),
        Err(e) => mb.failed(&e),
    }
}

/// What a refused ticket says, in the member's words.
fn refusal_text(mb: &Member, e: &AppError) -> Option<String> {
    let field = e.message.split(':').next().unwrap_or("");
    Some(match (e.code, field) {
        ("rate_limited", _) => fill(
            mb.t("portal.ticket.err.limit"),
            &[("n", &service_desk::MEMBER_TICKETS_PER_DAY.to_string())],
        ),
        ("validation_failed", "description") => mb.t("portal.ticket.err.description").into(),
        ("validation_failed", "station_code") => mb.t("portal.ticket.err.station").into(),
        ("validation_failed", _) => mb.t("portal.ticket.err.choice").into(),
        _ => return None,
    })
}

/// `POST /m/tickets/new`: opens the ticket (channel portal, the member as its
/// customer) and shows it; a refusal shows the form again with what was typed.
pub async fn new_submit(mb: Member, Form(f): Form<HashMap<String, String>>) -> Response {
    if !mb.csrf_ok(&f) {
        return mb.forbidden();
    }
    let field = |k: &str| f.get(k).cloned().unwrap_or_default();
    let typed = Typed {
        kind: field("kind"),
        category: field("category"),
        station_code: field("station_code"),
        description: field("description").chars().take(2_000).collect(),
    };
    let body = MemberTicketBody {
        kind: typed.kind.clone(),
        category: typed.category.clone(),
        station_code: Some(typed.station_code.clone()).filter(|c| !c.is_empty()),
        description: field("description"),
    };
    let state = &mb.ctx.state;
    match service_desk::open_member_ticket(state.app(), mb.id(), mb.ctx.source.as_deref(), body)
        .await
    {
        Ok(id) => see_other(&format!(
            "/m/tickets/{}?done=opened",
            crate::web::percent_encode(&id)
        )),
        Err(e) => match refusal_text(&mb, &e) {
            Some(text) => {
                let status = ApiError::from(e).status();
                match new_ticket_page(&mb, &typed, Some(&text)).await {
                    Ok(page) => html(status, page),
                    Err(e) => mb.failed(&e),
                }
            }
            None => mb.failed(&e.into()),
        },
    }
}

// ---------------------------------------------------------------- my tickets

/// `GET /m/tickets`: the member's own tickets, newest first, each with its state.
pub async fn list(mb: Member) -> Response {
    match list_page(&mb).await {
        Ok(page) => html(StatusCode::OK, page),
        Err(e) => mb.failed(&e),
    }
}

async fn list_page(mb: &Member) -> Result<Markup, ApiError> {
    let (tickets, stations) = service_desk::member_tickets(mb.ctx.state.app(), mb.id()).await?;
    let body = m! {
        h1 { (mb.t("portal.tickets.title")) }
        p { a.button.wide href="/m/tickets/new" id="portal-ticket-new" { (mb.t("portal.ticket.new.title")) } }
        section.card id="portal-tickets" {
            @if tickets.is_empty() {
                (empty(mb.t("portal.tickets.empty"), None))
            } @else {
                ul.rows {
                    @for t in &tickets {
                        @let station = stations.get(&t.station_id);
                        li.row.ticket {
                            div.l {
                                a.ticket-link href={ "/m/tickets/" (crate::web::percent_encode(&t.ticket_id)) } {
                                    b { (label(mb, "portal.ticket.kind", &t.kind, &t.kind)) " · " (label(mb, "portal.ticket.category", &t.category, &t.category)) }
                                }
                                span.muted.small.excerpt { (excerpt(&t.description)) }
                                span.muted.small {
                                    (station.map(|s| s.name.as_str()).unwrap_or(""))
                                    " · " (station_time(mb, t.opened_at, station))
                                }
                            }
                            div.r { (state_badge(mb, &t.state)) }
                        }
                    }
                }
            }
        }
    };
    Ok(mb.page(
        mb.t("portal.tickets.title"),
        "portal-tickets-page",
        Some(Tab::Service),
        body,
    ))
}

/// The start of a description, for the list.
fn excerpt(text: &str) -> String {
    const CHARS: usize = 40;
    let line = text.lines().next().unwrap_or("").trim();
    if line.chars().count() > CHARS || text.lines().nth(1).is_some() {
        let cut: String = line.chars().take(CHARS).collect();
        format!("{cut}…")
    } else {
        line.to_string()
    }
}

/// `GET /m/tickets/{id}`: one of the member's own tickets and its public history;
/// another member's (or an unknown id) answers 404.
pub async fn show(
    mb: Member,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let (t, station, steps) =
        match service_desk::member_ticket(mb.ctx.state.app(), mb.id(), &id).await {
            Ok(found) => found,
            Err(e) if e.code == "ticket_not_found" => {
                return not_found(&mb, "portal.ticket.not_found", "/m/tickets")
            }
            Err(e) => return mb.failed(&e.into()),
        };
    let done = q.get("done").map(String::as_str) == Some("opened");
    let st = Some(&station);
    let body = m! {
        @if done { (notice("ok", mb.t("portal.ticket.opened"))) }
        h1 { (label(&mb, "portal.ticket.kind", &t.kind, &t.kind)) }
        section.card id="portal-ticket" {
            div.total {
                span.muted { (mb.t("portal.ticket.state")) }
                span id="portal-ticket-state" { (state_badge(&mb, &t.state)) }
            }
            dl.facts {
                dt { (mb.t("portal.ticket.category")) } dd { (label(&mb, "portal.ticket.category", &t.category, &t.category)) }
                dt { (mb.t("portal.ticket.station")) } dd { (station.name) }
                dt { (mb.t("portal.ticket.opened_at")) } dd { (station_time(&mb, t.opened_at, st)) }
            }
            p.description { (t.description) }
        }
        section.card id="portal-ticket-history" {
            h2 { (mb.t("portal.ticket.history")) }
            ul.rows {
                @for s in &steps {
                    li.row.step {
                        div.l {
                            b { (label(&mb, "portal.ticket.step", &s.action, mb.t("portal.ticket.step.other"))) }
                            span.muted.small {
                                (mb.t(if s.by_member { "portal.ticket.by_you" } else { "portal.ticket.by_staff" }))
                                " · " (station_time(&mb, s.at, st))
                            }
                        }
                    }
                }
            }
            @if t.state == "waiting_customer" {
                p.muted.small { (mb.t("portal.ticket.waiting_hint")) }
            }
        }
        p { a href="/m/tickets" { "‹ " (mb.t("portal.tickets.title")) } }
    };
    html(
        StatusCode::OK,
        mb.page(
            &label(&mb, "portal.ticket.kind", &t.kind, &t.kind),
            "portal-ticket-page",
            Some(Tab::Service),
            body,
        ),
    )
}

/// A page of the member's that is not there (or is another member's): 404.
fn not_found(mb: &Member, key: &str, back: &str) -> Response {
    html(
        StatusCode::NOT_FOUND,
        mb.page(
            mb.t("portal.err.title"),
            "portal-not-found",
            None,
            m! {
                (notice("error", mb.t(key)))
                p { a href=(back) { "‹ " (mb.t("portal.back_list")) } }
            },
        ),
    )
}

// ---------------------------------------------------------------- messages

/// A survey link in a line of a message: the text before it, the link (`/s/{token}`)
/// and the text after it.
fn survey_link(line: &str) -> Option<(&str, &str, &str)> {
    let at = line.find("/s/")?;
    let rest = &line[at + 3..];
    let len = rest
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-'))
        .unwrap_or(rest.len());
    if len == 0 {
        return None;
    }
    let end = at + 3 + len;
    Some((&line[..at], &line[at..end], &line[end..]))
}

/// A message's text with its survey link (`/s/{token}`) shown as a button, not as
/// the link's characters: once, after the last line that names it (the messages say
/// the same thing in Chinese and in English, each line with the link).
fn message_body(mb: &Member, body: &str) -> Markup {
    let lines: Vec<&str> = body.lines().collect();
    let last_link = lines.iter().rposition(|l| survey_link(l).is_some());
    m! {
        @for (i, line) in lines.iter().enumerate() {
            @match survey_link(line) {
                Some((before, link, after)) => {
                    p {
                        (before.trim_end_matches(['：', ':', ' ']))
                        @if !after.trim().is_empty() { " " (after.trim()) }
                    }
                    @if Some(i) == last_link {
                        p { a.button.survey-link href=(link) { (mb.t("portal.messages.survey")) } }
                    }
                }
                None => p { (line) },
            }
        }
    }
}

/// `GET /m/messages`: the member's in-app inbox, newest first, unread ones marked.
pub async fn messages(mb: Member) -> Response {
    let items = match portal::inbox(mb.ctx.state.app(), mb.id()).await {
        Ok(items) => items,
        Err(e) => return mb.failed(&e.into()),
    };
    let unread = items.iter().filter(|i| i.read_at.is_none()).count();
    let body = m! {
        h1 { (mb.t("portal.messages.title")) }
        section.card id="portal-messages" {
            @if unread > 0 {
                p.muted.small { (fill(mb.t("portal.messages.unread"), &[("n", &unread.to_string())])) }
            }
            @if items.is_empty() {
                (empty(mb.t("portal.messages.empty"), None))
            } @else {
                ul.rows {
                    @for i in &items {
                        (message_row(&mb, i))
                    }
                }
            }
        }
    };
    html(
        StatusCode::OK,
        mb.page(
            mb.t("portal.messages.title"),
            "portal-messages-page",
            Some(Tab::Messages),
            body,
        ),
    )
}

fn subject(mb: &Member, i: &InboxItem) -> String {
    i.subject
        .clone()
        .filter(|s| !s.trim().is_empty())
        .unwrap_or_else(|| mb.t("portal.messages.no_subject").to_string())
}

fn message_row(mb: &Member, i: &InboxItem) -> Markup {
    let unread = i.read_at.is_none();
    m! {
        li.row.message.unread[unread] {
            div.l {
                a.message-link href={ "/m/messages/" (crate::web::percent_encode(&i.message_id)) } {
                    @if unread { span.dot aria-hidden="true" {} }
                    b { (subject(mb, i)) }
                }
                span.muted.small { (super::pages::network_time(mb, i.created_at)) }
            }
            div.r.small {
                @if unread { span.badge { (mb.t("portal.messages.new")) } }
            }
        }
    }
}

/// `GET /m/messages/{id}`: one message of the member's own inbox, marked read when
/// opened; another member's (or an unknown id) answers 404 and marks nothing.
pub async fn message(mb: Member, Path(id): Path<String>) -> Response {
    let item = match portal::open_message(mb.ctx.state.app(), mb.id(), &id).await {
        Ok(i) => i,
        Err(e) if e.code == "not_found" => {
            return not_found(&mb, "portal.messages.not_found", "/m/messages")
        }
        Err(e) => return mb.failed(&e.into()),
    };
    let body = m! {
        h1 { (subject(&mb, &item)) }
        section.card id="portal-message" {
            p.muted.small { (super::pages::network_time(&mb, item.created_at)) }
            div.message-body { (message_body(&mb, &item.body)) }
        }
        p { a href="/m/messages" { "‹ " (mb.t("portal.messages.title")) } }
    };
    html(
        StatusCode::OK,
        mb.page(
            &subject(&mb, &item),
            "portal-message-page",
            Some(Tab::Messages),
            body,
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn survey_links_are_found_in_a_line() {
        let line = "感谢您的光临，请告诉我们您的感受：/s/fsv_Ab-9_x\tthanks";
        let (before, link, after) = survey_link(line).unwrap();
        assert_eq!(before, "感谢您的光临，请告诉我们您的感受：");
        assert_eq!(link, "/s/fsv_Ab-9_x");
        assert_eq!(after, "\tthanks");
        assert_eq!(survey_link("no link here"), None);
        assert_eq!(survey_link("an empty one: /s/ then"), None);
    }

    #[test]
    fn every_state_has_a_member_label() {
        for s in service_desk::STATES {
            let key = state_key(s);
            for lang in [crate::web::i18n::Lang::Zh, crate::web::i18n::Lang::En] {
                assert!(lookup(lang, key).is_some(), "{s}: {key}");
            }
        }
        assert_eq!(state_key("solution_proposed"), state_key("implementing"));
    }

    #[test]
    fn every_kind_category_and_step_has_words() {
        use crate::web::i18n::Lang;
        for lang in [Lang::Zh, Lang::En] {
            for k in service_desk::KINDS {
                assert!(
                    lookup(lang, &format!("portal.ticket.kind.{k}")).is_some(),
                    "{k}"
                );
            }
            for c in service_desk::CATEGORIES {
                assert!(
                    lookup(lang, &format!("portal.ticket.category.{c}")).is_some(),
                    "{c}"
                );
            }
            for a in service_desk::ACTIONS.iter().chain(&["open"]) {
                assert!(
                    lookup(lang, &format!("portal.ticket.step.{a}")).is_some(),
                    "{a}"
                );
            }
        }
    }
}
