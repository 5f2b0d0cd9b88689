//! Surveys: the list, the builder (administrators), the results (NPS and CSAT overall,
//! per station, per region and per month, each with its sample size and margin, small
//! samples marked, and a chart), and inviting a station's recent customers.
//! Each read and write is one use case of `forecourt_app::surveys`.

use super::tickets::failure;
use super::{failed, failure_text, forbidden};
use crate::access::{Action, Scope};
use crate::web::{charts, html, i18n::fill, layout, percent_encode, see_other, Console};
use axum::extract::{Path, Query};
use axum::http::StatusCode;
use axum::response::Response;
use axum::Form;
use forecourt_app::surveys::{self, InvitationsBody, QuestionBody, SurveyBody};
use maud::{html as m, Markup};
use serde_json::Value;
use std::collections::HashMap;

/// Question rows the builder offers (empty rows are left out).
const QUESTION_ROWS: usize = 6;
const KINDS: [&str; 4] = ["nps", "rating", "choice", "text"];
/// How far back "recent customers" of a station reach.
const RECENT_DAYS: i64 = 30;

fn builder(c: &Console, f: &HashMap<String, String>, error: Option<&str>) -> Markup {
    let v = |k: &str| f.get(k).cloned().unwrap_or_default();
    m! {
        section.card id="survey-builder" {
            h2 { (c.t("survey.new")) }
            @if let Some(e) = error { (layout::notice("error", e)) }
            form.stack method="post" action="/surveys" id="survey-form" {
                (layout::csrf(c))
                label { (c.t("survey.name")) input type="text" name="name" id="survey-name" value=(v("name")) required maxlength="200"; }
                table.list {
                    thead { tr { th { "#" } th { (c.t("survey.kind")) } th { (c.t("survey.question")) } th { (c.t("survey.options")) } } }
                    tbody { @for i in 0..QUESTION_ROWS {
                        @let kind = v(&format!("kind_{i}"));
                        tr {
                            td { (i + 1) }
                            td { select name={ "kind_" (i) } aria-label=(c.t("survey.kind")) {
                                option value="" { "—" }
                                @for k in KINDS { option value=(k) selected[kind == k] { (c.t(&format!("survey.kind_{k}"))) } }
                            } }
                            td { input type="text" name={ "text_" (i) } value=(v(&format!("text_{i}"))) maxlength="500" aria-label=(c.t("survey.question")); }
                            td { input type="text" name={ "options_" (i) } value=(v(&format!("options_{i}"))) maxlength="500" aria-label=(c.t("survey.options")) placeholder=(c.t("survey.options_hint")); }
                        }
                    } }
                }
                label.check { input type="checkbox" name="after_ticket_close" value="1" checked[f.contains_key("after_ticket_close")]; (c.t("survey.after_close")) }
                button.primary type="submit" id="survey-create" { (c.t("survey.create")) }
            }
        }
    }
}

async fn list_page(
    c: &Console,
    f: &HashMap<String, String>,
    error: Option<&str>,
    status: StatusCode,
) -> Response {
    let title = c.t("survey.title");
    let list = match surveys::list_surveys(c.ctx.state.app(), &c.user).await {
        Ok(l) => l,
        Err(e) => return failed(c, title, &failure(e)),
    };
    let body = m! {
        section.card id="surveys" {
            @if list.is_empty() {
                (layout::empty(c.t("survey.none"), None))
            } @else {
                table.list {
                    thead { tr { th { (c.t("survey.name")) } th.num { (c.t("survey.questions")) } th { (c.t("survey.created")) } th {} } }
                    tbody { @for s in &list {
                        tr {
                            td { a.survey-link href={ "/surveys/" (percent_encode(&s.id)) } { (s.name) } }
                            td.num { (s.questions.len()) }
                            td { (c.when(&Value::String(s.created_at.clone()), crate::clock::NETWORK_TZ)) }
                            td { @if s.after_ticket_close { small.muted { (c.t("survey.after_close_short")) } } }
                        }
                    } }
                }
            }
        }
        @if c.may(Action::ManageServiceDesk) { (builder(c, f, error)) }
    };
    html(status, layout::page(c, title, body))
}

/// `GET /surveys`.
pub async fn index(c: Console) -> Response {
    if let Some(r) = super::deny(&c, Action::ViewTickets) {
        return r;
    }
    list_page(&c, &HashMap::new(), None, StatusCode::OK).await
}

/// `POST /surveys`: creates a survey, then shows its (empty) results.
pub async fn create(c: Console, Form(f): Form<HashMap<String, String>>) -> Response {
    if !c.csrf_ok(&f) {
        return forbidden(&c);
    }
    let get = |k: &str| f.get(k).map(|v| v.trim()).unwrap_or("");
    let questions: Vec<QuestionBody> = (0..QUESTION_ROWS)
        .filter(|i| !get(&format!("kind_{i}")).is_empty())
        .map(|i| QuestionBody {
            kind: get(&format!("kind_{i}")).to_string(),
            text: get(&format!("text_{i}")).to_string(),
            options: get(&format!("options_{i}"))
                .split([',', '，', '、', ';', '；'])
                .map(str::trim)
                .filter(|o| !o.is_empty())
                .map(str::to_string)
                .collect(),
        })
        .collect();
    let body = SurveyBody {
        name: get("name").to_string(),
        questions,
        after_ticket_close: f.contains_key("after_ticket_close"),
    };
    match surveys::create_survey(c.ctx.state.app(), &c.user, c.ctx.source.as_deref(), body).await {
        Ok(v) => see_other(&format!(
            "/surveys/{}?done=created",
            percent_encode(v["id"].as_str().unwrap_or(""))
        )),
        Err(e) => {
            let e = failure(e);
            list_page(&c, &f, Some(&failure_text(&c, &e)), e.status).await
        }
    }
}

fn num(v: &Value) -> Option<f64> {
    v.as_f64()
}

fn nps_text(c: &Console, g: &Value) -> String {
    match (num(&g["nps"]), num(&g["nps_margin"])) {
        (Some(n), Some(m)) => fill(
            c.t("survey.nps_value"),
            &[("nps", &format!("{n:.1}")), ("margin", &format!("{m:.1}"))],
        ),
        (Some(n), None) => format!("{n:.1}"),
        _ => "—".into(),
    }
}

fn csat_text(c: &Console, g: &Value) -> String {
    match (num(&g["csat"]), g["csat_ci95"].as_array()) {
        (Some(x), Some(ci)) if ci.len() == 2 => fill(
            c.t("survey.csat_value"),
            &[
                ("csat", &format!("{x:.1}")),
                ("low", &format!("{:.1}", ci[0].as_f64().unwrap_or(0.0))),
                ("high", &format!("{:.1}", ci[1].as_f64().unwrap_or(0.0))),
            ],
        ),
        (Some(x), _) => format!("{x:.1}%"),
        _ => "—".into(),
    }
}

fn group_table(c: &Console, id: &str, head: &str, rows: &[(String, Value)]) -> Markup {
    if rows.is_empty() {
        return m! { div id=(id) { (layout::empty(c.t("survey.no_answers"), None)) } };
    }
    m! {
        table.list id=(id) {
            thead { tr { th { (head) } th.num { (c.t("survey.responses")) } th { (c.t("survey.nps")) } th { (c.t("survey.csat")) } th {} } }
            tbody { @for (label, g) in rows {
                tr {
                    td { (label) }
                    td.num { (g["responses"].as_u64().unwrap_or(0)) }
                    td { (nps_text(c, g)) }
                    td { (csat_text(c, g)) }
                    td { @if g["small_sample"] == Value::Bool(true) { span.state.lost title=(c.t("survey.small_hint")) { (c.t("survey.small")) } } }
                }
            } }
        }
    }
}

/// `GET /surveys/{id}`: the results in the user's scope, and the invitation form.
pub async fn results(
    c: Console,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    if let Some(r) = super::deny(&c, Action::ViewTickets) {
        return r;
    }
    show(
        &c,
        &id,
        q.get("done").map(String::as_str),
        None,
        StatusCode::OK,
    )
    .await
}

async fn show(
    c: &Console,
    id: &str,
    done: Option<&str>,
    error: Option<&str>,
    status: StatusCode,
) -> Response {
    let title = c.t("survey.results");
    let v = match surveys::results(c.ctx.state.app(), &c.user, id).await {
        Ok(v) => v,
        Err(e) => return failed(c, title, &failure(e)),
    };
    let stations: HashMap<String, String> = c
        .ctx
        .state
        .store()
        .stations()
        .await
        .unwrap_or_default()
        .into_iter()
        .map(|s| (s.code, s.name))
        .collect();
    let rows = |key: &str, label: &dyn Fn(&str) -> String| -> Vec<(String, Value)> {
        v[key]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .map(|g| {
                let k = g[key_of(key)].as_str().unwrap_or("").to_string();
                (label(&k), g)
            })
            .collect()
    };
    let by_station = rows("by_station", &|k| {
        stations.get(k).cloned().unwrap_or_else(|| k.to_string())
    });
    let regions: HashMap<String, String> = c
        .ctx
        .state
        .store()
        .regions()
        .await
        .unwrap_or_default()
        .into_iter()
        .map(|r| (r.code, r.name))
        .collect();
    let by_region = rows("by_region", &|k| {
        regions.get(k).cloned().unwrap_or_else(|| k.to_string())
    });
    let by_month = rows("by_month", &|k| month_label(c, k));
    let chart = charts::bars(
        c.t("survey.chart"),
        &by_station
            .iter()
            .filter_map(|(l, g)| {
                let x = num(&g["csat"])?;
                Some((
                    l.clone(),
                    x,
                    fill(
                        c.t("survey.chart_value"),
                        &[
                            ("csat", &format!("{x:.1}")),
                            ("n", &g["responses"].as_u64().unwrap_or(0).to_string()),
                        ],
                    ),
                ))
            })
            .collect::<Vec<_>>(),
    );
    let my_stations: Vec<(String, String)> = {
        let mut l: Vec<(String, String)> = c
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
        l.sort();
        l
    };
    let overall: Value = v.clone();
    let body = m! {
        @if let Some(d) = done { (layout::notice("ok", c.t(&format!("survey.done_{d}")))) }
        @if let Some(e) = error { (layout::notice("error", e)) }
        section.card id="survey-overall" {
            h2 { (v["name"].as_str().unwrap_or("")) }
            (layout::facts(&[
                (c.t("survey.responses"), m! { span id="survey-n" { (overall["responses"].as_u64().unwrap_or(0)) } }),
                ("NPS", m! { (nps_text(c, &overall)) }),
                ("CSAT", m! { (csat_text(c, &overall)) }),
            ]))
            @if overall["small_sample"] == Value::Bool(true) { (layout::notice("warn", c.t("survey.small_hint"))) }
            p.muted.small { (c.t("survey.margin_hint")) }
        }
        @if !by_station.is_empty() {
            section.card id="survey-chart" { figure { (layout::raw(chart)) } }
        }
        section.card {
            h3 { (c.t("survey.by_station")) }
            (group_table(c, "survey-by-station", c.t("ticket.station"), &by_station))
        }
        section.card {
            h3 { (c.t("survey.by_region")) }
            (group_table(c, "survey-by-region", c.t("survey.region"), &by_region))
        }
        section.card {
            h3 { (c.t("survey.by_month")) }
            (group_table(c, "survey-by-month", c.t("survey.month"), &by_month))
        }
        @if c.may(Action::WorkTickets) && !my_stations.is_empty() {
            section.card id="survey-invite" {
                h3 { (c.t("survey.invite")) }
                p.muted { (fill(c.t("survey.invite_hint"), &[("days", &RECENT_DAYS.to_string())])) }
                form.row method="post" action={ "/surveys/" (percent_encode(id)) "/invitations" } id="invite-form" {
                    (layout::csrf(c))
                    @if matches!(Scope::of(&c.user), Scope::Station(_)) && my_stations.len() == 1 {
                        input type="hidden" name="station" value=(my_stations[0].0);
                        span { (my_stations[0].1) }
                    } @else {
                        select name="station" aria-label=(c.t("ticket.station")) {
                            @for (code, name) in &my_stations { option value=(code) { (name) } }
                        }
                    }
                    button type="submit" id="invite-submit" { (c.t("survey.invite_submit")) }
                }
            }
        }
        p { a href="/surveys" { (c.t("survey.back")) } }
    };
    html(status, layout::page(c, title, body))
}

/// A result month (`YYYY-MM`) as readers write it: 2026年11月, or 2026-11 in English.
fn month_label(c: &Console, ym: &str) -> String {
    match ym.split_once('-') {
        Some((y, m)) => c
            .t("survey.month_label")
            .replace("{y}", y)
            .replace("{m}", m.trim_start_matches('0')),
        None => ym.to_string(),
    }
}

fn key_of(group: &str) -> &'static str {
    match group {
        "by_station" => "station_code",
        "by_region" => "region_code",
        _ => "month",
    }
}

/// `POST /surveys/{id}/invitations`: invites the customers who bought at the station
/// in the last [`RECENT_DAYS`] days (the rules skip whoever answered or declined
/// lately, or is invited already).
pub async fn invite(
    c: Console,
    Path(id): Path<String>,
    Form(f): Form<HashMap<String, String>>,
) -> Response {
    if !c.csrf_ok(&f) {
        return forbidden(&c);
    }
    let app = c.ctx.state.app();
    let station = f.get("station").cloned().unwrap_or_default();
    let customers = match surveys::recent_customers(app, &c.user, &station, RECENT_DAYS).await {
        Ok(x) => x,
        Err(e) => {
            let e = failure(e);
            return show(&c, &id, None, Some(&failure_text(&c, &e)), e.status).await;
        }
    };
    if customers.is_empty() {
        return show(&c, &id, None, Some(c.t("survey.no_recent")), StatusCode::OK).await;
    }
    let body = InvitationsBody {
        customer_ids: customers,
    };
    match surveys::invite(app, &c.user, c.ctx.source.as_deref(), &id, body).await {
        Ok(v) => {
            let list = v["invitations"].as_array().cloned().unwrap_or_default();
            let invited = list.iter().filter(|x| x["token"].is_string()).count();
            let skipped = list.len() - invited;
            let text = fill(
                c.t("survey.invited"),
                &[
                    ("n", &invited.to_string()),
                    ("skipped", &skipped.to_string()),
                ],
            );
            let body = m! {
                (layout::notice("ok", &text))
                p { a href={ "/surveys/" (percent_encode(&id)) } { (c.t("survey.back_results")) } }
            };
            html(StatusCode::OK, layout::page(&c, c.t("survey.invite"), body))
        }
        Err(e) => {
            let e = failure(e);
            show(&c, &id, None, Some(&failure_text(&c, &e)), e.status).await
        }
    }
}
