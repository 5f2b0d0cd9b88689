//! Cards: look one up, issue, recharge at the user's station, freeze, report lost,
//! replace, set a fleet sub-card's limits, move money between a main card and its
//! sub-cards.

use super::{failed, failure_text, forbidden};
use crate::access::{Action, Scope};
use crate::web::{
    html, i, i18n::fill, int, layout, parse_yuan, percent_encode, s, see_other, yuan, Console,
    Zones,
};
use axum::extract::{Path, Query};
use axum::http::{Method, StatusCode};
use axum::response::Response;
use axum::Form;
use maud::{html as m, Markup};
use serde_json::{json, Map, Value};
use std::collections::HashMap;

const KINDS: &[&str] = &[
    "personal",
    "company",
    "fleet_main",
    "fleet_sub",
    "anonymous",
];

/// The issue form, on the cards page and on a customer's profile.
pub fn issue_form(c: &Console, customer_id: Option<&str>, cards: &[Value]) -> Markup {
    let mains: Vec<String> = cards
        .iter()
        .filter(|x| s(x, "kind") == "fleet_main" && !s(x, "card_no").contains('*'))
        .map(|x| s(x, "card_no"))
        .collect();
    m! {
        form.stack method="post" action="/cards" id="issue-card-form" {
            (layout::csrf(c))
            @if let Some(id) = customer_id { input type="hidden" name="customer_id" value=(id); }
            label { (c.t("card.kind"))
                select name="kind" id="issue-kind" {
                    @for k in KINDS { @if customer_id.is_some() != (*k == "anonymous") {
                        option value=(k) { (c.t(&format!("card.kind_{k}"))) }
                    } }
                }
            }
            @if !mains.is_empty() {
                label { (c.t("card.main")) " " small.muted { (c.t("card.main_hint")) }
                    select name="main_card_no" { option value="" { "—" } @for no in &mains { option value=(no) { (no) } } }
                }
                label { (c.t("card.balance_mode"))
                    select name="balance_mode" { option value="" { "—" } option value="pool" { (c.t("card.mode_pool")) } option value="allocated" { (c.t("card.mode_allocated")) } }
                }
            }
            label { (c.t("card.pin")) " " small.muted { (c.t("card.pin_hint")) }
                input type="password" name="pin" inputmode="numeric" pattern="[0-9]{6}" maxlength="6" autocomplete="new-password"; }
            button.primary type="submit" id="issue-card" { (c.t("card.issue")) }
        }
    }
}

/// `GET /cards?no=`: a card by its number, or the form to issue an anonymous card.
pub async fn lookup(c: Console, Query(q): Query<HashMap<String, String>>) -> Response {
    if let Some(no) = q.get("no").map(|n| n.trim()).filter(|n| !n.is_empty()) {
        let no: String = no.chars().filter(|ch| !ch.is_whitespace()).collect();
        return see_other(&format!("/cards/{}", percent_encode(&no)));
    }
    let body = m! {
        form.search method="get" action="/cards" role="search" {
            input type="search" name="no" id="card-no" placeholder=(c.t("card.lookup_hint")) inputmode="numeric" maxlength="32" aria-label=(c.t("card.lookup_hint"));
            button.primary type="submit" { (c.t("card.lookup")) }
        }
        (layout::empty(c.t("card.lookup_empty"), Some(("/customers", c.t("nav.customers")))))
        @if c.may(Action::IssueCard) {
            section.card { h3 { (c.t("card.issue_anonymous")) } (issue_form(&c, None, &[])) }
        }
    };
    html(StatusCode::OK, layout::page(&c, c.t("card.title"), body))
}

fn error_page(c: &Console, back: &str, f: &crate::web::ApiFailure) -> Response {
    let body = m! {
        (layout::notice("error", &failure_text(c, f)))
        p { a href=(back) { (c.t("form.back")) } }
    };
    html(f.status, layout::page(c, c.t("err.title"), body))
}

/// `POST /cards`: issues a card (to the customer of the form, or anonymous).
pub async fn issue(c: Console, Form(f): Form<HashMap<String, String>>) -> Response {
    if !c.csrf_ok(&f) {
        return forbidden(&c);
    }
    let get = |k: &str| f.get(k).map(|v| v.trim()).filter(|v| !v.is_empty());
    let mut body = Map::new();
    body.insert("kind".into(), json!(get("kind").unwrap_or("")));
    for k in ["customer_id", "main_card_no", "pin", "balance_mode"] {
        if let Some(v) = get(k) {
            body.insert(k.into(), json!(v));
        }
    }
    let back = get("customer_id")
        .map(|id| format!("/customers/{}", percent_encode(id)))
        .unwrap_or_else(|| "/cards".into());
    match c
        .api(Method::POST, "/api/v1/cards", Some(Value::Object(body)))
        .await
        .into_result()
    {
        Ok(v) => see_other(&format!(
            "/cards/{}?done=issued",
            percent_encode(&s(&v, "card_no"))
        )),
        Err(e) => error_page(&c, &back, &e),
    }
}

fn limits_form(c: &Console, no: &str, limits: &Value) -> Markup {
    let val = |k: &str| limits[k]["value"].clone();
    let fen = |k: &str| {
        val(k)
            .as_i64()
            .map(|f| format!("{}.{:02}", f / 100, f % 100))
            .unwrap_or_default()
    };
    let ml = |k: &str| {
        val(k)
            .as_i64()
            .map(|v| format!("{}", v as f64 / 1000.0))
            .unwrap_or_default()
    };
    let list = |k: &str| {
        val(k)
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|x| x.as_str())
                    .collect::<Vec<_>>()
                    .join(",")
            })
            .unwrap_or_default()
    };
    let soft = limits
        .as_object()
        .is_some_and(|o| o.values().any(|r| r["hard"] == json!(false)));
    m! {
        form.stack method="post" action={ "/cards/" (no) "/limits" } id="limits-form" {
            (layout::csrf(c))
            label { (c.t("limit.plate")) input type="text" name="plate" value=(val("plate").as_str().unwrap_or("")) maxlength="10"; }
            label { (c.t("limit.per_sale")) input type="text" name="amount_per_sale" value=(fen("amount_per_sale_fen")) inputmode="decimal"; }
            label { (c.t("limit.per_day")) input type="text" name="amount_per_day" value=(fen("amount_per_day_fen")) inputmode="decimal"; }
            label { (c.t("limit.per_month")) input type="text" name="amount_per_month" value=(fen("amount_per_month_fen")) inputmode="decimal"; }
            label { (c.t("limit.litres_per_day")) input type="text" name="litres_per_day" value=(ml("volume_per_day_ml")) inputmode="decimal"; }
            label { (c.t("limit.sales_per_day")) input type="number" name="sales_per_day" min="1" max="100" value=(val("sales_per_day").as_i64().map(|v| v.to_string()).unwrap_or_default()); }
            label { (c.t("limit.products")) input type="text" name="products" value=(list("products")) placeholder="DIESEL_0"; }
            label.check { input type="checkbox" name="soft" value="1" checked[soft]; (c.t("limit.soft")) }
            button type="submit" { (c.t("form.save")) }
        }
    }
}

/// `GET /cards/{no}`: the card, its balance, today's use, sub-cards and the actions.
pub async fn card(
    c: Console,
    Path(no): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let title = c.t("card.title_one");
    let v = match c
        .get(&format!("/api/v1/cards/{}", percent_encode(&no)))
        .await
        .into_result()
    {
        Ok(v) => v,
        Err(f) => return failed(&c, title, &f),
    };
    let done = q.get("done").map(|d| c.t(&format!("done.{d}")));
    let state = s(&v, "state");
    let kind = s(&v, "kind");
    let manage = c.may(Action::ManageCard);
    let my_station = matches!(Scope::of(&c.user), Scope::Station(_));
    let subs = v["sub_cards"].as_array().cloned().unwrap_or_default();
    let request_id = uuid::Uuid::now_v7().to_string();
    let sales = recent_sales(&c, &v).await;
    let body = m! {
        @if let Some(d) = done { (layout::notice("ok", d)) }
        section.card id="card-head" {
            h2 { code id="card-number" { (s(&v, "card_no")) } " " span class={ "state " (state) } id="card-state" { (c.t(&format!("card.state_{state}"))) } }
            (layout::facts(&[
                (c.t("card.kind"), m! { (c.t(&format!("card.kind_{kind}"))) }),
                (c.t("card.balance"), m! { b id="card-balance" { (yuan(i(&v, "balance_fen"))) } }),
                (c.t("card.paid_bonus"), m! { (yuan(i(&v, "paid_fen"))) " / " (yuan(i(&v, "bonus_fen"))) }),
                (c.t("card.held"), m! { (yuan(i(&v, "held_fen"))) }),
                (c.t("card.today"), m! { (fill(c.t("card.usage"), &[("n", &int(i(&v["usage"], "sales_today"))), ("amount", &yuan(i(&v["usage"], "amount_today_fen"))), ("month", &yuan(i(&v["usage"], "amount_month_fen")))])) }),
                (c.t("card.owner"), m! { @if v["customer_id"].is_string() { a href={ "/customers/" (s(&v, "customer_id")) } { (c.t("card.open_profile")) } } @else { (c.t("card.kind_anonymous")) } }),
                (c.t("card.main"), m! { @if v["main_card_no"].is_string() && !s(&v, "main_card_no").contains('*') { a href={ "/cards/" (s(&v, "main_card_no")) } { (s(&v, "main_card_no")) } } @else if v["main_card_no"].is_string() { (s(&v, "main_card_no")) } @else { "—" } }),
            ]))
        }
        div.grid {
            @if c.may(Action::Sell) && my_station && state == "active" && kind != "fleet_sub" {
                section.card id="recharge" {
                    h3 { (c.t("card.recharge")) }
                    form.stack method="post" action={ "/cards/" (no) "/recharge" } id="recharge-form" {
                        (layout::csrf(&c))
                        input type="hidden" name="request_id" value=(request_id);
                        label { (c.t("card.amount")) input type="text" name="amount" id="recharge-amount" inputmode="decimal" required placeholder="500.00"; }
                        label { (c.t("card.pay_method"))
                            select name="method" { @for p in ["cash", "wechat", "alipay", "bank_card"] { option value=(p) { (c.t(&format!("pay.{p}"))) } } }
                        }
                        button.primary type="submit" id="recharge-submit" { (c.t("card.recharge")) }
                    }
                }
            }
            @if manage {
                section.card id="card-actions" {
                    h3 { (c.t("card.actions")) }
                    form.stack method="post" action={ "/cards/" (no) "/state" } {
                        (layout::csrf(&c))
                        label { (c.t("card.reason")) input type="text" name="reason" maxlength="200"; }
                        div.row {
                            @if state == "active" {
                                button type="submit" name="state" value="frozen" id="freeze" { (c.t("card.freeze")) }
                                button type="submit" name="state" value="lost" id="report-lost" { (c.t("card.report_lost")) }
                            }
                            @if state == "frozen" { button type="submit" name="state" value="active" id="unfreeze" { (c.t("card.unfreeze")) } }
                        }
                    }
                    @if state == "active" || state == "lost" || state == "frozen" {
                        form method="post" action={ "/cards/" (no) "/replace" } {
                            (layout::csrf(&c))
                            button type="submit" id="replace" { (c.t("card.replace")) }
                            small.muted { " " (c.t("card.replace_hint")) }
                        }
                    }
                }
                @if kind == "fleet_sub" {
                    section.card id="card-limits" { h3 { (c.t("card.limits")) } (limits_form(&c, &no, &v["limits"])) }
                }
            }
        }
        @if kind == "fleet_main" {
            section.card id="sub-cards" {
                h3 { (c.t("card.sub_cards")) }
                @if subs.is_empty() {
                    (layout::empty(c.t("card.no_subs"), None))
                } @else {
                    table.list {
                        thead { tr { th { (c.t("card.no")) } th { (c.t("card.state")) } th.num { (c.t("card.balance")) } th { (c.t("card.limits")) } } }
                        tbody { @for sub in &subs {
                            tr {
                                td { a href={ "/cards/" (s(sub, "card_no")) } { (s(sub, "card_no")) } }
                                td { (c.t(&format!("card.state_{}", s(sub, "state")))) }
                                td.num { (yuan(i(sub, "balance_fen"))) }
                                td { small { (limits_text(&sub["limits"])) } }
                            }
                        } }
                    }
                }
                @if manage && s(&v, "balance_mode") == "allocated" && !subs.is_empty() {
                    h4 { (c.t("card.allocate")) }
                    form.row method="post" action={ "/cards/" (no) "/allocate" } id="allocate-form" {
                        (layout::csrf(&c))
                        input type="hidden" name="request_id" value=(request_id);
                        select name="sub_card_no" aria-label=(c.t("card.sub_cards")) { @for sub in &subs { option value=(s(sub, "card_no")) { (s(sub, "card_no")) } } }
                        select name="direction" aria-label=(c.t("card.direction")) { option value="to_sub" { (c.t("card.to_sub")) } option value="to_main" { (c.t("card.to_main")) } }
                        input type="text" name="amount" inputmode="decimal" required placeholder="100.00" aria-label=(c.t("card.amount"));
                        button type="submit" { (c.t("card.allocate")) }
                    }
                }
            }
        }
        (sales)
    };
    html(StatusCode::OK, layout::page(&c, title, body))
}

/// The card's last sales, each in its station's time, the same as on the customer's
/// profile and in the member portal.
async fn recent_sales(c: &Console, v: &Value) -> Markup {
    let Some(sales) = v["recent_sales"].as_array() else {
        return m! {};
    };
    let zones = Zones::load(&c.ctx.state).await;
    m! {
        section.card id="card-sales" {
            h3 { (c.t("card.recent_sales")) }
            @if sales.is_empty() {
                (layout::empty(c.t("card.no_sales"), None))
            } @else {
                table.list {
                    thead { tr { th { (c.t("cust.when")) } th { (c.t("cust.station")) } th.num { (c.t("cust.amount")) } } }
                    tbody { @for x in sales {
                        tr {
                            td { (c.when(&x["occurred_at"], zones.of_code(&s(x, "station_code")))) }
                            td { (s(x, "station_code")) }
                            td.num { (yuan(i(x, "net_fen")))
                                @if i(x, "refunded_fen") > 0 { br; small.muted { (c.t("cust.refunded")) " " (yuan(i(x, "refunded_fen"))) } } }
                        }
                    } }
                }
            }
        }
    }
}

fn limits_text(l: &Value) -> String {
    l.as_object()
        .map(|o| {
            o.iter()
                .map(|(k, v)| format!("{k}={}", v["value"]))
                .collect::<Vec<_>>()
                .join("; ")
        })
        .unwrap_or_default()
}

async fn back_to_card(c: &Console, no: &str, reply: crate::web::ApiReply, done: &str) -> Response {
    let back = format!("/cards/{}", percent_encode(no));
    match reply.into_result() {
        Ok(_) => see_other(&format!("{back}?done={done}")),
        Err(f) => error_page(c, &back, &f),
    }
}

fn amount_error(c: &Console, no: &str) -> Response {
    let f = crate::web::ApiFailure {
        status: StatusCode::UNPROCESSABLE_ENTITY,
        code: "amount".into(),
        message: String::new(),
        details: serde_json::Value::Null,
    };
    let body = m! {
        (layout::notice("error", c.t("form.bad_amount")))
        p { a href={ "/cards/" (percent_encode(no)) } { (c.t("form.back")) } }
    };
    html(f.status, layout::page(c, c.t("err.title"), body))
}

/// `POST /cards/{no}/recharge`: a recharge at the user's own station, through the POS
/// API (idempotent by the form's request id: a double click posts once).
pub async fn recharge(
    c: Console,
    Path(no): Path<String>,
    Form(f): Form<HashMap<String, String>>,
) -> Response {
    if !c.csrf_ok(&f) {
        return forbidden(&c);
    }
    let Some(amount) = f
        .get("amount")
        .and_then(|a| parse_yuan(a))
        .filter(|a| *a > 0)
    else {
        return amount_error(&c, &no);
    };
    let Scope::Station(station) = Scope::of(&c.user) else {
        return error_page(
            &c,
            &format!("/cards/{no}"),
            &crate::web::ApiFailure {
                status: StatusCode::FORBIDDEN,
                code: "forbidden".into(),
                message: String::new(),
                details: serde_json::Value::Null,
            },
        );
    };
    let request = f.get("request_id").cloned().unwrap_or_default();
    let body = json!({
        "pos_txn_id": format!("console-{}", request.chars().filter(|ch| ch.is_ascii_alphanumeric() || *ch == '-').take(40).collect::<String>()),
        "station_code": station,
        "occurred_at": crate::clock::rfc3339(c.ctx.state.clock().now_us()),
        "card_no": no,
        "amount_fen": amount,
        "payments": [{"method": f.get("method").map(String::as_str).unwrap_or("cash"), "amount_fen": amount}],
    });
    let reply = c
        .api(Method::POST, "/api/v1/pos/recharges", Some(body))
        .await;
    back_to_card(&c, &no, reply, "recharged").await
}

/// `POST /cards/{no}/state`: freeze, unfreeze, report lost.
pub async fn set_state(
    c: Console,
    Path(no): Path<String>,
    Form(f): Form<HashMap<String, String>>,
) -> Response {
    if !c.csrf_ok(&f) {
        return forbidden(&c);
    }
    let to = f.get("state").cloned().unwrap_or_default();
    let reason = f.get("reason").map(|r| r.trim()).filter(|r| !r.is_empty());
    let reply = c
        .api(
            Method::POST,
            &format!("/api/v1/cards/{}/state", percent_encode(&no)),
            Some(json!({"state": to, "reason": reason})),
        )
        .await;
    back_to_card(&c, &no, reply, &format!("state_{to}")).await
}

/// `POST /cards/{no}/replace`: a new card with the balance; goes to the new card.
pub async fn replace(
    c: Console,
    Path(no): Path<String>,
    Form(f): Form<HashMap<String, String>>,
) -> Response {
    if !c.csrf_ok(&f) {
        return forbidden(&c);
    }
    match c
        .api(
            Method::POST,
            &format!("/api/v1/cards/{}/replace", percent_encode(&no)),
            Some(json!({})),
        )
        .await
        .into_result()
    {
        Ok(v) => {
            let new_no = v["new_card"]["card_no"]
                .as_str()
                .or(v["card_no"].as_str())
                .unwrap_or(&no)
                .to_string();
            see_other(&format!("/cards/{}?done=replaced", percent_encode(&new_no)))
        }
        Err(e) => error_page(&c, &format!("/cards/{}", percent_encode(&no)), &e),
    }
}

/// `POST /cards/{no}/limits`: a fleet sub-card's rules (all hard, or all soft).
pub async fn limits(
    c: Console,
    Path(no): Path<String>,
    Form(f): Form<HashMap<String, String>>,
) -> Response {
    if !c.csrf_ok(&f) {
        return forbidden(&c);
    }
    let hard = !f.contains_key("soft");
    let get = |k: &str| f.get(k).map(|v| v.trim()).filter(|v| !v.is_empty());
    let mut rules = Map::new();
    let rule = |v: Value| json!({"value": v, "hard": hard});
    if let Some(p) = get("plate") {
        rules.insert("plate".into(), rule(json!(p)));
    }
    for (field, key) in [
        ("amount_per_sale", "amount_per_sale_fen"),
        ("amount_per_day", "amount_per_day_fen"),
        ("amount_per_month", "amount_per_month_fen"),
    ] {
        if let Some(v) = get(field) {
            let Some(fen) = parse_yuan(v).filter(|x| *x > 0) else {
                return amount_error(&c, &no);
            };
            rules.insert(key.into(), rule(json!(fen)));
        }
    }
    if let Some(v) = get("litres_per_day") {
        let Some(ml) = v.parse::<f64>().ok().filter(|x| *x > 0.0 && *x < 100_000.0) else {
            return amount_error(&c, &no);
        };
        rules.insert(
            "volume_per_day_ml".into(),
            rule(json!((ml * 1000.0).round() as i64)),
        );
    }
    if let Some(v) = get("sales_per_day") {
        let Some(n) = v.parse::<u32>().ok() else {
            return amount_error(&c, &no);
        };
        rules.insert("sales_per_day".into(), rule(json!(n)));
    }
    if let Some(v) = get("products") {
        let list: Vec<String> = v
            .split([',', '，', ' '])
            .map(str::trim)
            .filter(|x| !x.is_empty())
            .map(str::to_uppercase)
            .collect();
        rules.insert("products".into(), rule(json!(list)));
    }
    let reply = c
        .api(
            Method::PUT,
            &format!("/api/v1/cards/{}/limits", percent_encode(&no)),
            Some(Value::Object(rules)),
        )
        .await;
    back_to_card(&c, &no, reply, "limits").await
}

/// `POST /cards/{no}/allocate`: money from the main card to a sub-card or back.
pub async fn allocate(
    c: Console,
    Path(no): Path<String>,
    Form(f): Form<HashMap<String, String>>,
) -> Response {
    if !c.csrf_ok(&f) {
        return forbidden(&c);
    }
    let Some(amount) = f
        .get("amount")
        .and_then(|a| parse_yuan(a))
        .filter(|a| *a > 0)
    else {
        return amount_error(&c, &no);
    };
    let signed = if f.get("direction").map(String::as_str) == Some("to_main") {
        -amount
    } else {
        amount
    };
    let body = json!({
        "sub_card_no": f.get("sub_card_no").cloned().unwrap_or_default(),
        "amount_fen": signed,
        "request_id": f.get("request_id").cloned(),
    });
    let reply = c
        .api(
            Method::POST,
            &format!("/api/v1/cards/{}/allocations", percent_encode(&no)),
            Some(body),
        )
        .await;
    back_to_card(&c, &no, reply, "allocated").await
}
