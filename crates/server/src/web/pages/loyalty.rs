//! Loyalty: points rules (versioned, linted), tiers, coupon templates and the
//! catalogue. Every change goes through the loyalty API, which lints rules and audits.

use super::{deny, failed, failure_text, forbidden};
use crate::access::Action;
use crate::web::{
    html, i, i18n::fill, int, layout, parse_yuan, percent_encode, s, see_other, yuan, Console,
};
use axum::extract::{Path, Query};
use axum::http::{Method, StatusCode};
use axum::response::Response;
use axum::Form;
use maud::{html as m, Markup};
use serde_json::{json, Value};
use std::collections::HashMap;

/// A starting body for a new rule of each kind, as an operator would fill it in.
fn example(kind: &str) -> Value {
    match kind {
        "earn" => json!({"products": ["DIESEL_0"], "basis": "per_litre", "points_per_unit": 2}),
        "milestone" => json!({"milestone": {"kind": "every_nth_visit", "n": 10, "points": 100}}),
        _ => {
            json!({"conditions": {"weekdays": [3]}, "bonus": {"kind": "multiplier", "permille": 1000}, "cap_per_day": 500})
        }
    }
}

fn rule_summary(r: &Value) -> String {
    let b = &r["body"];
    let mut out = vec![];
    if let Some(bonus) = b["bonus"].as_object() {
        out.push(format!("{}", Value::Object(bonus.clone())));
    }
    if let Some(c) = b["conditions"].as_object() {
        if !c.is_empty() {
            out.push(format!("{}", Value::Object(c.clone())));
        }
    }
    if b["basis"].is_string() {
        out.push(format!("{} × {}", s(b, "basis"), i(b, "points_per_unit")));
    }
    if b["milestone"].is_object() {
        out.push(b["milestone"].to_string());
    }
    let text = out.join(" · ");
    if text.chars().count() > 120 {
        format!("{}…", text.chars().take(120).collect::<String>())
    } else {
        text
    }
}

/// `GET /loyalty`.
pub async fn overview(c: Console, Query(q): Query<HashMap<String, String>>) -> Response {
    if let Some(r) = deny(&c, Action::ManagePromotions) {
        return r;
    }
    let title = c.t("loy.title");
    let rules = match c.get("/api/v1/loyalty/rules").await.into_result() {
        Ok(v) => v,
        Err(f) => return failed(&c, title, &f),
    };
    let tiers = c
        .get("/api/v1/tiers")
        .await
        .into_result()
        .unwrap_or(Value::Null);
    let templates = c
        .get("/api/v1/loyalty/coupon-templates")
        .await
        .into_result()
        .unwrap_or(Value::Null);
    let items = c
        .get("/api/v1/loyalty/catalogue")
        .await
        .into_result()
        .unwrap_or(Value::Null);
    let none = vec![];
    let rule_list = rules["rules"].as_array().unwrap_or(&none);
    let lint = rules["lint"].as_array().unwrap_or(&none);
    let done = q.get("done").map(|d| c.t(&format!("done.{d}")));
    let warnings: Vec<String> = q
        .get("warnings")
        .map(|w| {
            w.split('\n')
                .map(str::to_string)
                .filter(|x| !x.is_empty())
                .collect()
        })
        .unwrap_or_default();
    let body = m! {
        @if let Some(d) = done { (layout::notice("ok", d)) }
        @for w in &warnings { (layout::notice("warn", w)) }
        nav.tabs { a href="#rules-section" { (c.t("loy.rules")) } a href="#tiers-section" { (c.t("loy.tiers")) } a href="#templates-section" { (c.t("loy.templates")) } a href="#catalogue-section" { (c.t("loy.catalogue")) } }
        section.card id="rules-section" {
            h2 { (c.t("loy.rules")) }
            p.muted { (c.t("loy.rules_hint")) }
            @for l in lint { (layout::notice("warn", l.as_str().unwrap_or(""))) }
            @if rule_list.is_empty() {
                (layout::empty(c.t("loy.no_rules"), Some(("/loyalty/rules/new", c.t("loy.new_rule")))))
            } @else {
                table.list id="rules" {
                    thead { tr { th { (c.t("loy.name")) } th { (c.t("loy.kind")) } th.num { (c.t("loy.version")) } th { (c.t("loy.active")) } th { (c.t("loy.what")) } th { (c.t("loy.changed")) } } }
                    tbody { @for r in rule_list {
                        tr {
                            td { a.rule-link href={ "/loyalty/rules/" (percent_encode(&s(r, "rule_id"))) } { (s(r, "name")) } }
                            td { (c.t(&format!("loy.kind_{}", s(r, "kind")))) }
                            td.num { "v" (i(r, "version")) }
                            td { @if r["active"] == json!(true) { span.state.active { (c.t("loy.on")) } } @else { span.state { (c.t("loy.off")) } } }
                            td { small.muted { (rule_summary(r)) } }
                            td { small { (c.when(&r["created_at"], crate::clock::NETWORK_TZ)) } }
                        }
                    } }
                }
                p { a.button href="/loyalty/rules/new" id="new-rule" { (c.t("loy.new_rule")) } }
            }
        }
        section.card id="tiers-section" {
            h2 { (c.t("loy.tiers")) }
            table.list id="tiers" {
                thead { tr { th { (c.t("loy.tier")) } th.num { (c.t("loy.rank")) } th.num { (c.t("loy.discount")) } th.num { (c.t("loy.multiplier")) } th.num { (c.t("loy.qualify_spend")) } th.num { (c.t("loy.qualify_litres")) } th.num { (c.t("loy.qualify_visits")) } th.num { (c.t("loy.car_washes")) } th {} } }
                tbody { @for t in tiers["tiers"].as_array().unwrap_or(&none) {
                    // One form per row, joined to its inputs by `form=` (a form may not
                    // wrap table cells).
                    @let f = format!("tier-{}", s(t, "code"));
                    tr {
                        td { input type="text" form=(f) name="name" value=(s(t, "name")) size="8" required aria-label=(c.t("loy.tier")); br; small.muted { (s(t, "code")) } }
                        td.num { input type="number" form=(f) name="rank" value=(i(t, "rank")) min="0" max="100" aria-label=(c.t("loy.rank")); }
                        td.num { input type="text" form=(f) name="discount" value=(fen_text(i(t, "discount_fen_per_litre"))) size="5" inputmode="decimal" aria-label=(c.t("loy.discount")); }
                        td.num { input type="number" form=(f) name="multiplier" value=(i(t, "points_multiplier_permille")) min="0" max="10000" step="50" aria-label=(c.t("loy.multiplier")); }
                        td.num { input type="text" form=(f) name="qualify_spend" value=(fen_text(i(t, "qualify_spend_fen"))) size="8" inputmode="decimal" aria-label=(c.t("loy.qualify_spend")); }
                        td.num { input type="number" form=(f) name="qualify_litres" value=(i(t, "qualify_litres_ml") / 1000) min="0" aria-label=(c.t("loy.qualify_litres")); }
                        td.num { input type="number" form=(f) name="qualify_visits" value=(i(t, "qualify_visits")) min="0" aria-label=(c.t("loy.qualify_visits")); }
                        td.num { input type="number" form=(f) name="car_washes" value=(i(t, "monthly_car_washes")) min="0" max="31" aria-label=(c.t("loy.car_washes")); }
                        td { form id=(f) method="post" action={ "/loyalty/tiers/" (percent_encode(&s(t, "code"))) } { (layout::csrf(&c)) button type="submit" { (c.t("form.save")) } } }
                    }
                } }
            }
        }
        div.grid {
            section.card id="templates-section" {
                h2 { (c.t("loy.templates")) }
                @let list = templates["templates"].as_array().unwrap_or(&none);
                @if list.is_empty() { (layout::empty(c.t("loy.no_templates"), None)) } @else {
                    table.list { thead { tr { th { (c.t("loy.name")) } th { (c.t("loy.kind")) } th.num { (c.t("loy.value")) } th.num { (c.t("loy.valid_days")) } } }
                        tbody { @for t in list { tr { td { (s(t, "name")) } td { (c.t(&format!("coupon.kind_{}", s(t, "kind")))) } td.num { (template_value(t)) } td.num { (i(t, "valid_days")) } } } } }
                }
                h3 { (c.t("loy.new_template")) }
                form.stack method="post" action="/loyalty/templates" id="template-form" {
                    (layout::csrf(&c))
                    label { (c.t("loy.name")) input type="text" name="name" required maxlength="100"; }
                    label { (c.t("loy.kind")) select name="kind" { @for k in ["amount_off", "per_litre_off", "percent_off_non_fuel", "free_car_wash"] { option value=(k) { (c.t(&format!("coupon.kind_{k}"))) } } } }
                    label { (c.t("loy.value")) " " small.muted { (c.t("loy.value_hint")) } input type="text" name="value" required inputmode="decimal"; }
                    label { (c.t("loy.min_amount")) input type="text" name="min_amount" inputmode="decimal" placeholder="0"; }
                    label { (c.t("loy.valid_days")) input type="number" name="valid_days" value="30" min="1" max="3660" required; }
                    button type="submit" { (c.t("form.save")) }
                }
            }
            section.card id="catalogue-section" {
                h2 { (c.t("loy.catalogue")) }
                @let list = items["items"].as_array().unwrap_or(&none);
                @if list.is_empty() { (layout::empty(c.t("loy.no_items"), None)) } @else {
                    table.list { thead { tr { th { (c.t("loy.name")) } th { (c.t("loy.kind")) } th.num { (c.t("loy.points_cost")) } th.num { (c.t("loy.stock")) } } }
                        tbody { @for t in list { tr { td { (s(t, "name")) } td { (c.t(&format!("loy.item_{}", s(t, "kind")))) } td.num { (int(i(t, "points_cost"))) } td.num { @if t["stock"].is_null() { "∞" } @else { (int(i(t, "stock"))) } } } } } }
                }
                h3 { (c.t("loy.new_item")) }
                form.stack method="post" action="/loyalty/catalogue" id="item-form" {
                    (layout::csrf(&c))
                    label { (c.t("loy.name")) input type="text" name="name" required maxlength="100"; }
                    label { (c.t("loy.kind")) select name="kind" { @for k in ["gift", "coupon", "car_wash"] { option value=(k) { (c.t(&format!("loy.item_{k}"))) } } } }
                    label { (c.t("loy.template_for_coupon")) select name="template_id" { option value="" { "—" } @for t in templates["templates"].as_array().unwrap_or(&none) { option value=(s(t, "template_id")) { (s(t, "name")) } } } }
                    label { (c.t("loy.points_cost")) input type="number" name="points_cost" min="1" required; }
                    label { (c.t("loy.stock")) " " small.muted { (c.t("loy.stock_hint")) } input type="number" name="stock" min="0"; }
                    button type="submit" { (c.t("form.save")) }
                }
            }
        }
    };
    html(StatusCode::OK, layout::page(&c, title, body))
}

fn fen_text(fen: i64) -> String {
    format!("{}.{:02}", fen / 100, fen % 100)
}

fn template_value(t: &Value) -> String {
    let v = i(t, "value");
    match s(t, "kind").as_str() {
        "amount_off" => yuan(v),
        "per_litre_off" => format!("{}/L", yuan(v)),
        "percent_off_non_fuel" => format!("{v}%"),
        _ => int(v),
    }
}

fn rule_form(
    c: &Console,
    id: Option<&str>,
    kind: &str,
    name: &str,
    active: bool,
    body: &Value,
    (error, history): (Option<&str>, Markup),
) -> Markup {
    let action = match id {
        Some(id) => format!("/loyalty/rules/{}", percent_encode(id)),
        None => "/loyalty/rules/new-rule".to_string(),
    };
    let pretty = serde_json::to_string_pretty(body).unwrap_or_default();
    m! {
        @if let Some(e) = error { (layout::notice("error", e)) }
        section.card {
            form.stack method="post" action=(action) id="rule-form" {
                (layout::csrf(c))
                label { (c.t("loy.name")) input type="text" name="name" id="rule-name" value=(name) required maxlength="100"; }
                @if id.is_some() {
                    input type="hidden" name="kind" value=(kind);
                    p.muted { (c.t("loy.kind")) ": " (c.t(&format!("loy.kind_{kind}"))) }
                } @else {
                    label { (c.t("loy.kind")) select name="kind" id="rule-kind" { @for k in ["bonus", "earn", "milestone"] { option value=(k) selected[k == kind] { (c.t(&format!("loy.kind_{k}"))) } } } }
                }
                label.check { input type="checkbox" name="active" value="1" checked[active]; (c.t("loy.active")) }
                label { (c.t("loy.body")) " " small.muted { (c.t("loy.body_hint")) }
                    textarea name="rule" id="rule-json" rows="12" spellcheck="false" { (pretty) } }
                div.row {
                    button.primary type="submit" id="rule-save" { (c.t("loy.save_version")) }
                    button type="submit" name="dry_run" value="1" id="rule-check" { (c.t("loy.check_only")) }
                    a href="/loyalty" { (c.t("form.back")) }
                }
            }
        }
        section.card {
            h3 { (c.t("loy.help_title")) }
            pre.json { (c.t("loy.help")) }
        }
        (history)
    }
}

/// `GET /loyalty/rules/new?kind=`.
pub async fn new_rule(c: Console, Query(q): Query<HashMap<String, String>>) -> Response {
    if let Some(r) = deny(&c, Action::ManagePromotions) {
        return r;
    }
    let kind = q
        .get("kind")
        .map(String::as_str)
        .filter(|k| ["earn", "bonus", "milestone"].contains(k))
        .unwrap_or("bonus");
    let body = m! {
        nav.tabs { @for k in ["bonus", "earn", "milestone"] { a href={ "/loyalty/rules/new?kind=" (k) } class=[(k == kind).then_some("active")] { (c.t(&format!("loy.kind_{k}"))) } } }
        (rule_form(&c, None, kind, "", true, &example(kind), (None, m! {})))
    };
    html(StatusCode::OK, layout::page(&c, c.t("loy.new_rule"), body))
}

/// `GET /loyalty/rules/{id}`: the newest version in a form, and every version.
pub async fn edit_rule(c: Console, Path(id): Path<String>) -> Response {
    if let Some(r) = deny(&c, Action::ManagePromotions) {
        return r;
    }
    let title = c.t("loy.edit_rule");
    let v = match c
        .get(&format!("/api/v1/loyalty/rules/{}", percent_encode(&id)))
        .await
        .into_result()
    {
        Ok(v) => v,
        Err(f) => return failed(&c, title, &f),
    };
    let none = vec![];
    let versions = v["versions"].as_array().unwrap_or(&none);
    let Some(newest) = versions.iter().max_by_key(|r| i(r, "version")) else {
        return failed(
            &c,
            title,
            &crate::web::ApiFailure {
                status: StatusCode::NOT_FOUND,
                code: "not_found".into(),
                message: String::new(),
                details: serde_json::Value::Null,
            },
        );
    };
    let mut body = newest["body"].clone();
    if let Some(o) = body.as_object_mut() {
        for k in ["id", "version", "name"] {
            o.remove(k);
        }
    }
    let history = m! {
        section.card id="rule-versions" {
            h3 { (c.t("loy.versions")) }
            table.list { thead { tr { th { (c.t("loy.version")) } th { (c.t("loy.name")) } th { (c.t("loy.active")) } th { (c.t("loy.changed")) } } }
                tbody { @for r in versions.iter().rev() { tr { td { "v" (i(r, "version")) } td { (s(r, "name")) } td { @if r["active"] == json!(true) { (c.t("loy.on")) } @else { (c.t("loy.off")) } } td { (c.when(&r["created_at"], crate::clock::NETWORK_TZ)) } } } } }
        }
    };
    let page = rule_form(
        &c,
        Some(&id),
        &s(newest, "kind"),
        &s(newest, "name"),
        newest["active"] == json!(true),
        &body,
        (None, history),
    );
    html(
        StatusCode::OK,
        layout::page(&c, &format!("{title} · {}", s(newest, "name")), page),
    )
}

/// `POST /loyalty/rules/{id}` (`new-rule` for a new one): saves a new version, or with
/// `dry_run` only lints it.
pub async fn save_rule(
    c: Console,
    Path(id): Path<String>,
    Form(f): Form<HashMap<String, String>>,
) -> Response {
    if !c.csrf_ok(&f) {
        return forbidden(&c);
    }
    let is_new = id == "new-rule";
    let kind = f.get("kind").cloned().unwrap_or_default();
    let name = f
        .get("name")
        .map(|n| n.trim().to_string())
        .unwrap_or_default();
    let active = f.contains_key("active");
    let dry_run = f.contains_key("dry_run");
    let text = f.get("rule").cloned().unwrap_or_default();
    let title = if is_new {
        c.t("loy.new_rule")
    } else {
        c.t("loy.edit_rule")
    };
    let show = |error: String, body: Value| {
        let page = rule_form(
            &c,
            (!is_new).then_some(id.as_str()),
            &kind,
            &name,
            active,
            &body,
            (Some(&error), m! {}),
        );
        html(
            StatusCode::UNPROCESSABLE_ENTITY,
            layout::page(&c, title, page),
        )
    };
    let mut rule: Value = match serde_json::from_str(&text) {
        Ok(v @ Value::Object(_)) => v,
        Ok(_) => {
            return show(
                c.t("loy.body_not_object").to_string(),
                Value::Object(Default::default()),
            )
        }
        Err(e) => {
            return show(
                fill(c.t("loy.body_not_json"), &[("why", &e.to_string())]),
                json!({}),
            );
        }
    };
    rule["name"] = json!(name);
    let mut req =
        json!({"kind": kind, "name": name, "active": active, "rule": rule, "dry_run": dry_run});
    if !is_new {
        req["rule_id"] = json!(id);
    }
    match c
        .api(Method::POST, "/api/v1/loyalty/rules", Some(req))
        .await
        .into_result()
    {
        Ok(v) => {
            let warnings: Vec<String> = v["warnings"]
                .as_array()
                .map(|w| {
                    w.iter()
                        .filter_map(|x| x.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default();
            if dry_run {
                let mut body = rule.clone();
                if let Some(o) = body.as_object_mut() {
                    o.remove("name");
                }
                let notes = m! {
                    (layout::notice("ok", c.t("loy.check_ok")))
                    @for w in &warnings { (layout::notice("warn", w)) }
                };
                let page = m! { (notes) (rule_form(&c, (!is_new).then_some(id.as_str()), &kind, &name, active, &body, (None, m! {}))) };
                return html(StatusCode::OK, layout::page(&c, title, page));
            }
            see_other(&format!(
                "/loyalty?done=rule&warnings={}",
                percent_encode(&warnings.join("\n"))
            ))
        }
        Err(e) => {
            let mut body = rule.clone();
            if let Some(o) = body.as_object_mut() {
                o.remove("name");
            }
            show(failure_text(&c, &e), body)
        }
    }
}

fn back_to_overview(c: &Console, reply: crate::web::ApiReply, done: &str) -> Response {
    match reply.into_result() {
        Ok(_) => see_other(&format!("/loyalty?done={done}")),
        Err(f) => {
            let body = m! { (layout::notice("error", &failure_text(c, &f))) p { a href="/loyalty" { (c.t("form.back")) } } };
            html(f.status, layout::page(c, c.t("err.title"), body))
        }
    }
}

fn bad_number(c: &Console) -> Response {
    let body = m! { (layout::notice("error", c.t("form.bad_number"))) p { a href="/loyalty" { (c.t("form.back")) } } };
    html(
        StatusCode::UNPROCESSABLE_ENTITY,
        layout::page(c, c.t("err.title"), body),
    )
}

fn number(f: &HashMap<String, String>, k: &str) -> Option<i64> {
    match f.get(k).map(|v| v.trim()).filter(|v| !v.is_empty()) {
        None => Some(0),
        Some(v) => v.parse().ok(),
    }
}

fn money(f: &HashMap<String, String>, k: &str) -> Option<i64> {
    match f.get(k).map(|v| v.trim()).filter(|v| !v.is_empty()) {
        None => Some(0),
        Some("0") => Some(0),
        Some(v) => parse_yuan(v),
    }
}

/// `POST /loyalty/tiers/{code}`.
pub async fn save_tier(
    c: Console,
    Path(code): Path<String>,
    Form(f): Form<HashMap<String, String>>,
) -> Response {
    if !c.csrf_ok(&f) {
        return forbidden(&c);
    }
    let (
        Some(rank),
        Some(discount),
        Some(mult),
        Some(spend),
        Some(litres),
        Some(visits),
        Some(washes),
    ) = (
        number(&f, "rank"),
        money(&f, "discount"),
        number(&f, "multiplier"),
        money(&f, "qualify_spend"),
        number(&f, "qualify_litres"),
        number(&f, "qualify_visits"),
        number(&f, "car_washes"),
    )
    else {
        return bad_number(&c);
    };
    let body = json!({
        "name": f.get("name").map(|n| n.trim()).unwrap_or(""), "rank": rank, "discount_fen_per_litre": discount,
        "points_multiplier_permille": mult, "qualify_spend_fen": spend, "qualify_litres_ml": litres.saturating_mul(1000),
        "qualify_visits": visits, "monthly_car_washes": washes,
    });
    let reply = c
        .api(
            Method::PUT,
            &format!("/api/v1/tiers/{}", percent_encode(&code)),
            Some(body),
        )
        .await;
    back_to_overview(&c, reply, "tier_saved")
}

/// `POST /loyalty/templates`: a coupon template. The value is yuan for money off, yuan
/// per litre, per cent, or washes.
pub async fn save_template(c: Console, Form(f): Form<HashMap<String, String>>) -> Response {
    if !c.csrf_ok(&f) {
        return forbidden(&c);
    }
    let kind = f.get("kind").cloned().unwrap_or_default();
    let value = match kind.as_str() {
        "amount_off" | "per_litre_off" => money(&f, "value"),
        _ => number(&f, "value"),
    };
    let (Some(value), Some(min), Some(days)) =
        (value, money(&f, "min_amount"), number(&f, "valid_days"))
    else {
        return bad_number(&c);
    };
    let body = json!({"name": f.get("name").map(|n| n.trim()).unwrap_or(""), "kind": kind, "value": value, "min_amount_fen": min, "valid_days": days});
    let reply = c
        .api(Method::POST, "/api/v1/loyalty/coupon-templates", Some(body))
        .await;
    back_to_overview(&c, reply, "template")
}

/// `POST /loyalty/catalogue`: an item members can redeem points for.
pub async fn save_item(c: Console, Form(f): Form<HashMap<String, String>>) -> Response {
    if !c.csrf_ok(&f) {
        return forbidden(&c);
    }
    let Some(cost) = number(&f, "points_cost") else {
        return bad_number(&c);
    };
    let stock = match f.get("stock").map(|v| v.trim()).filter(|v| !v.is_empty()) {
        None => None,
        Some(v) => match v.parse::<i64>() {
            Ok(n) => Some(n),
            Err(_) => return bad_number(&c),
        },
    };
    let template = f
        .get("template_id")
        .map(|v| v.trim())
        .filter(|v| !v.is_empty());
    let body = json!({"name": f.get("name").map(|n| n.trim()).unwrap_or(""), "kind": f.get("kind").cloned().unwrap_or_default(), "points_cost": cost, "stock": stock, "template_id": template});
    let reply = c
        .api(Method::POST, "/api/v1/loyalty/catalogue", Some(body))
        .await;
    back_to_overview(&c, reply, "item")
}

/// `POST /loyalty/rules/new-rule`.
pub async fn save_new_rule(c: Console, f: Form<HashMap<String, String>>) -> Response {
    save_rule(c, Path("new-rule".to_string()), f).await
}
