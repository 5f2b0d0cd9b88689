//! Care automations (关怀): each automation with a form to switch it on or off and set
//! its channel, text and threshold (in 元, %, days as people think of them), what it has
//! sent, and a button that runs today's care now. Every save is one use case of
//! `forecourt_app::care`.

use super::tickets::failure;
use super::{failed, failure_text, forbidden};
use crate::access::Action;
use crate::web::{html, layout, see_other, when, Console, Shown};
use axum::extract::{Path, Query};
use axum::http::StatusCode;
use axum::response::Response;
use axum::Form;
use forecourt_app::care::{self, AutomationBody, AutomationView};
use maud::{html as m, Markup};
use std::collections::HashMap;

const TZ: &str = crate::clock::NETWORK_TZ;

/// The signed-in user as the use cases take them.
fn actor(c: &Console) -> forecourt_app::access::Actor {
    forecourt_app::access::Actor {
        user: c.user.clone(),
        source: c.ctx.source.clone(),
    }
}

/// How a threshold is typed and shown: the stored value from what was typed, and the
/// other way round.
fn threshold_in(kind: &str, typed: &str) -> Option<i64> {
    let t = typed.trim();
    match kind {
        // 元, with up to two decimals.
        "low_balance" => crate::web::parse_yuan(t),
        // %, as a whole number or with one decimal.
        "win_back" => t
            .parse::<f64>()
            .ok()
            .filter(|p| p.is_finite())
            .map(|p| (p * 10.0).round() as i64),
        _ => t.parse().ok(),
    }
}

fn threshold_out(kind: &str, v: i64) -> String {
    match kind {
        "low_balance" => format!("{}.{:02}", v / 100, v % 100),
        "win_back" => {
            if v % 10 == 0 {
                (v / 10).to_string()
            } else {
                format!("{}.{}", v / 10, v % 10)
            }
        }
        _ => v.to_string(),
    }
}

fn automation(c: &Console, a: &AutomationView) -> Markup {
    let k = &a.kind;
    m! {
        section.card id=(format!("care-{k}")) {
            h2 { (c.t(&format!("care.kind.{k}"))) }
            p.hint { (c.t(&format!("care.about.{k}"))) }
            p {
                (c.t("care.sent")) " " strong.sent-count { (a.messages) }
                @if let Some(t) = a.last_message_at {
                    " · " (c.t("care.last")) " " (when(c.lang(), t, TZ, Shown::Minute))
                }
                @if a.messages > 0 {
                    " · " a href=(format!("/care/{k}")) { (c.t("care.show_sent")) }
                }
            }
            form.stack method="post" action=(format!("/care/{k}")) {
                (layout::csrf(c))
                label.check {
                    input type="checkbox" name="enabled" value="1" checked[a.enabled];
                    " " (c.t("care.enabled"))
                }
                label { (c.t("care.channel"))
                    select name="channel" {
                        option value="inbox" selected[a.channel == "inbox"] { (c.t("care.channel.inbox")) }
                        option value="sms" selected[a.channel == "sms"] { (c.t("care.channel.sms")) }
                        option value="email" selected[a.channel == "email"] { (c.t("care.channel.email")) }
                    }
                }
                label { (c.t("care.message"))
                    textarea name="message" rows="2" maxlength="300" required { (a.message) }
                    small.hint { (c.t("care.message_hint")) }
                }
                @if let Some(t) = a.threshold {
                    label { (c.t(&format!("care.threshold.{k}")))
                        input type="text" inputmode="decimal" name="threshold" value=(threshold_out(k, t)) required;
                    }
                }
                button type="submit" { (c.t("form.save")) }
            }
        }
    }
}

fn body(c: &Console, list: &[AutomationView], done: Option<&str>, error: Option<&str>) -> Markup {
    // `done` is the notice's text, in the page's language.
    m! {
        h1 { (c.t("care.title")) }
        @if let Some(e) = error { (layout::notice("error", e)) }
        @if let Some(d) = done { (layout::notice("ok", d)) }
        p.hint { (c.t("care.intro")) }
        form.row method="post" action="/care/run" {
            (layout::csrf(c))
            button.primary type="submit" id="care-run" { (c.t("care.run_now")) }
        }
        @for a in list { (automation(c, a)) }
    }
}

async fn page(
    c: &Console,
    done: Option<&str>,
    error: Option<&str>,
    status: StatusCode,
) -> Response {
    let title = c.t("care.title");
    match care::automations(c.ctx.state.app(), &actor(c)).await {
        Ok(list) => html(status, layout::page(c, title, body(c, &list, done, error))),
        Err(e) => failed(c, title, &failure(e)),
    }
}

/// `GET /care`.
pub async fn index(c: Console, Query(q): Query<HashMap<String, String>>) -> Response {
    if let Some(r) = super::deny(&c, Action::ManagePromotions) {
        return r;
    }
    let done = (q.get("done").map(String::as_str) == Some("saved")).then(|| c.t("care.done.saved"));
    page(&c, done, None, StatusCode::OK).await
}

/// `POST /care/{kind}`: saves one automation.
pub async fn save(
    c: Console,
    Path(kind): Path<String>,
    Form(f): Form<HashMap<String, String>>,
) -> Response {
    if !c.csrf_ok(&f) {
        return forbidden(&c);
    }
    let threshold = match f.get("threshold") {
        None => None,
        Some(t) => match threshold_in(&kind, t) {
            Some(v) => Some(v),
            None => {
                return page(
                    &c,
                    None,
                    Some(c.t(&format!("care.bad_threshold.{kind}"))),
                    StatusCode::UNPROCESSABLE_ENTITY,
                )
                .await
            }
        },
    };
    let body = AutomationBody {
        enabled: Some(f.get("enabled").is_some_and(|v| v == "1")),
        channel: f.get("channel").cloned(),
        message: f.get("message").cloned(),
        threshold,
    };
    match care::update_automation(c.ctx.state.app(), &actor(&c), &kind, &body).await {
        Ok(_) => see_other("/care?done=saved"),
        Err(e) => {
            let f = failure(e);
            page(&c, None, Some(&failure_text(&c, &f)), f.status).await
        }
    }
}

/// `POST /care/run`: runs today's care now.
pub async fn run(c: Console, Form(f): Form<HashMap<String, String>>) -> Response {
    if !c.csrf_ok(&f) {
        return forbidden(&c);
    }
    let today = crate::clock::local(TZ, c.ctx.state.app().clock().now_us()).date;
    match care::run_as(c.ctx.state.app(), &actor(&c), today).await {
        Ok(r) => {
            let text = c.t("care.done.run").replace("{n}", &r.queued().to_string());
            page(&c, Some(&text), None, StatusCode::OK).await
        }
        Err(e) => {
            let f = failure(e);
            page(&c, None, Some(&failure_text(&c, &f)), f.status).await
        }
    }
}

/// `GET /care/{kind}`: what one automation sent, newest first.
pub async fn sent(
    c: Console,
    Path(kind): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    if let Some(r) = super::deny(&c, Action::ManagePromotions) {
        return r;
    }
    let page_no = super::page_no(&q);
    let title = c.t("care.title");
    match care::sent(c.ctx.state.app(), &actor(&c), &kind, page_no - 1).await {
        Ok(list) => html(
            StatusCode::OK,
            layout::page(
                &c,
                title,
                m! {
                    p { a href="/care" { "← " (c.t("care.title")) } }
                    h1 { (c.t(&format!("care.kind.{kind}"))) }
                    @if list.is_empty() {
                        p id="care-sent-empty" { (c.t("care.none_sent")) }
                    } @else {
                        table.list id="care-sent" {
                            thead { tr {
                                th { (c.t("care.member")) }
                                th { (c.t("care.channel")) }
                                th { (c.t("care.state")) }
                                th { (c.t("care.when")) }
                            } }
                            tbody { @for s in &list { tr {
                                td { @if let (Some(id), Some(code)) = (&s.customer_id, &s.member_code) {
                                    a href=(format!("/customers/{id}")) { (code) }
                                } }
                                td { (c.t(&format!("care.channel.{}", s.channel))) }
                                td { (c.t(&format!("care.state.{}", s.state))) }
                                td { (when(c.lang(), s.sent_at.unwrap_or(s.created_at), TZ, Shown::Minute)) }
                            } } }
                        }
                    }
                },
            ),
        ),
        Err(e) => failed(&c, title, &failure(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_read_as_people_type_them() {
        assert_eq!(threshold_in("low_balance", "100"), Some(10_000));
        assert_eq!(threshold_in("low_balance", "99.5"), Some(9_950));
        assert_eq!(threshold_in("low_balance", "abc"), None);
        assert_eq!(threshold_in("win_back", "70"), Some(700));
        assert_eq!(threshold_in("win_back", "72.5"), Some(725));
        assert_eq!(threshold_in("coupon_expiring", "3"), Some(3));
        for (k, v) in [
            ("low_balance", 10_000),
            ("low_balance", 9_950),
            ("win_back", 700),
            ("win_back", 725),
            ("coupon_expiring", 3),
        ] {
            assert_eq!(threshold_in(k, &threshold_out(k, v)), Some(v), "{k} {v}");
        }
    }
}
