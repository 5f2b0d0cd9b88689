//! Leaflet batches with their funnels (and the form that records a drop), and partner
//! merchants (商户联盟) with their offers, keys and monthly statements. Each read and
//! write is one use case of `forecourt_app::leaflets` or `forecourt_app::partners`.

use super::tickets::{failure, my_stations};
use super::{failed, failure_text, forbidden};
use crate::access::{Action, Scope};
use crate::web::{
    charts, html, i, i18n::fill, layout, parse_yuan, percent_encode, s, see_other, yuan, Console,
};
use axum::extract::{Path, Query};
use axum::http::StatusCode;
use axum::response::Response;
use axum::Form;
use forecourt_app::leaflets::{self, BatchBody};
use forecourt_app::partners::{self, OfferBody, PartnerBody};
use forecourt_core::promo::PARTNER_CATEGORIES;
use maud::{html as m, Markup};
use serde_json::Value;
use std::collections::HashMap;

fn percent(v: &Value) -> String {
    v.as_f64()
        .map(|x| format!("{x:.2}%"))
        .unwrap_or_else(|| "—".into())
}

fn money(v: &Value) -> String {
    v.as_i64().map(yuan).unwrap_or_else(|| "—".into())
}

fn station_names(b: &Value) -> String {
    b["stations"]
        .as_array()
        .map(|l| {
            l.iter()
                .filter_map(|s| s["name"].as_str())
                .collect::<Vec<_>>()
                .join("、")
        })
        .unwrap_or_default()
}

// ---------------------------------------------------------------- leaflets

async fn batch_form(c: &Console, f: &HashMap<String, String>, error: Option<&str>) -> Markup {
    let v = |k: &str| f.get(k).cloned().unwrap_or_default();
    let stations = my_stations(c).await;
    let templates = c
        .ctx
        .state
        .store()
        .coupon_templates()
        .await
        .unwrap_or_default();
    let one_station = matches!(Scope::of(&c.user), Scope::Station(_)) && stations.len() == 1;
    let kind = if v("code_kind").is_empty() {
        "unique".to_string()
    } else {
        v("code_kind")
    };
    m! {
        section.card id="leaflet-new" {
            h2 { (c.t("leaf.new")) }
            @if let Some(e) = error { (layout::notice("error", e)) }
            form.stack method="post" action="/leaflets" id="leaflet-form" {
                (layout::csrf(c))
                label { (c.t("leaf.name")) input type="text" name="name" id="leaflet-name" value=(v("name")) required maxlength="200" placeholder=(c.t("leaf.name_hint")); }
                @if one_station {
                    input type="hidden" name={ "station_" (stations[0].0) } value="1";
                    p { (c.t("leaf.stations")) ": " (stations[0].1) }
                } @else {
                    fieldset {
                        legend { (c.t("leaf.stations")) }
                        @for (code, name) in &stations {
                            label.check { input type="checkbox" name={ "station_" (code) } value="1" checked[f.contains_key(&format!("station_{code}"))]; (name) }
                        }
                    }
                }
                label { (c.t("leaf.dropped_on")) input type="date" name="dropped_on" id="leaflet-date" value=(v("dropped_on")) required; }
                label { (c.t("leaf.quantity")) input type="number" name="quantity" id="leaflet-quantity" value=(v("quantity")) min="1" max="10000000" required; }
                label { (c.t("leaf.cost")) input type="text" name="cost" id="leaflet-cost" value=(v("cost")) inputmode="decimal" placeholder="300.00"; }
                label { (c.t("leaf.code_kind"))
                    select name="code_kind" id="leaflet-kind" {
                        @for k in ["unique", "public"] { option value=(k) selected[kind == k] { (c.t(&format!("leaf.kind_{k}"))) } }
                    }
                }
                label { (c.t("leaf.public_code")) input type="text" name="public_code" value=(v("public_code")) maxlength="16" placeholder=(c.t("leaf.public_code_hint")); }
                label { (c.t("leaf.coupon"))
                    select name="coupon_template_id" {
                        option value="" { (c.t("leaf.no_coupon")) }
                        @for t in templates.iter().filter(|t| t.active) {
                            option value=(t.template_id) selected[v("coupon_template_id") == t.template_id] { (t.name) }
                        }
                    }
                }
                button.primary type="submit" id="leaflet-create" { (c.t("leaf.create")) }
            }
        }
    }
}

async fn leaflets_page(
    c: &Console,
    f: &HashMap<String, String>,
    error: Option<&str>,
    status: StatusCode,
) -> Response {
    let title = c.t("leaf.title");
    let list = match leaflets::list_batches(c.ctx.state.app(), &c.actor()).await {
        Ok(l) => l,
        Err(e) => return failed(c, title, &failure(e)),
    };
    let body = m! {
        p.muted { (c.t("leaf.lead")) }
        section.card id="leaflets" {
            @if list.is_empty() {
                (layout::empty(c.t("leaf.none"), None))
            } @else {
                table.list {
                    thead { tr {
                        th { (c.t("leaf.name")) } th { (c.t("leaf.stations")) } th { (c.t("leaf.dropped_on")) }
                        th.num { (c.t("leaf.quantity")) } th.num { (c.t("leaf.signed_up")) } th.num { (c.t("leaf.conversion")) } th.num { (c.t("leaf.cost_per_card")) }
                    } }
                    tbody { @for b in &list {
                        tr {
                            td { a.leaflet-link href={ "/leaflets/" (percent_encode(&s(b, "id"))) } { (s(b, "name")) } }
                            td { (station_names(b)) }
                            td { (s(b, "dropped_on")) }
                            td.num { (crate::web::int(i(b, "quantity"))) }
                            td.num { (i(&b["funnel"], "signed_up")) }
                            td.num { (percent(&b["funnel"]["conversion_percent"])) }
                            td.num { (money(&b["funnel"]["cost_per_new_card_fen"])) }
                        }
                    } }
                }
            }
        }
        (batch_form(c, f, error).await)
    };
    html(status, layout::page(c, title, body))
}

/// `GET /leaflets`.
pub async fn index(c: Console) -> Response {
    if let Some(r) = super::deny(&c, Action::ManageLeaflets) {
        return r;
    }
    leaflets_page(&c, &HashMap::new(), None, StatusCode::OK).await
}

/// `POST /leaflets`: records a drop, then shows its funnel.
pub async fn create(c: Console, Form(f): Form<HashMap<String, String>>) -> Response {
    if !c.csrf_ok(&f) {
        return forbidden(&c);
    }
    let get = |k: &str| f.get(k).map(|v| v.trim()).unwrap_or("");
    let cost = match get("cost") {
        "" => Some(0),
        t => parse_yuan(t),
    };
    let Some(cost_fen) = cost else {
        return leaflets_page(
            &c,
            &f,
            Some(c.t("leaf.err_cost")),
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    };
    let Ok(quantity) = get("quantity").parse::<i64>() else {
        return leaflets_page(
            &c,
            &f,
            Some(c.t("leaf.err_quantity")),
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    };
    let mut stations: Vec<String> = f
        .keys()
        .filter_map(|k| k.strip_prefix("station_"))
        .map(str::to_string)
        .collect();
    stations.sort();
    let body = BatchBody {
        name: get("name").to_string(),
        stations,
        dropped_on: get("dropped_on").to_string(),
        quantity,
        cost_fen,
        code_kind: Some(get("code_kind").to_string()).filter(|k| !k.is_empty()),
        public_code: Some(get("public_code").to_string()).filter(|k| !k.is_empty()),
        coupon_template_id: Some(get("coupon_template_id").to_string()).filter(|k| !k.is_empty()),
    };
    match leaflets::create_batch(c.ctx.state.app(), &c.actor(), body).await {
        Ok(v) => see_other(&format!(
            "/leaflets/{}?done=created",
            percent_encode(&s(&v, "id"))
        )),
        Err(e) => {
            let e = failure(e);
            leaflets_page(&c, &f, Some(&failure_text(&c, &e)), e.status).await
        }
    }
}

/// `GET /leaflets/{id}`: one batch's funnel, with a chart.
pub async fn batch(
    c: Console,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    if let Some(r) = super::deny(&c, Action::ManageLeaflets) {
        return r;
    }
    let title = c.t("leaf.funnel");
    let b = match leaflets::get_batch(c.ctx.state.app(), &c.actor(), &id).await {
        Ok(v) => v,
        Err(e) => return failed(&c, title, &failure(e)),
    };
    let f = &b["funnel"];
    let steps = [
        ("leaf.distributed", i(f, "distributed")),
        ("leaf.signed_up", i(f, "signed_up")),
        ("leaf.first_sale", i(f, "first_sale")),
    ];
    let chart = charts::bars(
        c.t("leaf.chart"),
        &steps
            .iter()
            .map(|(k, n)| (c.t(k).to_string(), *n as f64, crate::web::int(*n)))
            .collect::<Vec<_>>(),
    );
    let kind = s(&b, "code_kind");
    let done = q.get("done").map(String::as_str) == Some("created");
    let body = m! {
        @if done { (layout::notice("ok", c.t("leaf.created"))) }
        section.card id="leaflet-batch" {
            h2 { (s(&b, "name")) }
            (layout::facts(&[
                (c.t("leaf.stations"), m! { (station_names(&b)) }),
                (c.t("leaf.dropped_on"), m! { (s(&b, "dropped_on")) }),
                (c.t("leaf.code_kind"), m! { (c.t(&format!("leaf.kind_{kind}"))) }),
                (c.t("leaf.cost"), m! { (money(&b["cost_fen"])) }),
            ]))
            @if kind == "public" {
                p { (c.t("leaf.public_code")) ": " strong id="leaflet-public-code" { (s(&b, "public_code")) } }
            } @else {
                p { a.button href={ "/api/v1/leaflets/" (percent_encode(&id)) "/codes.csv" } id="leaflet-codes" { (c.t("leaf.download_codes")) } }
            }
        }
        section.card id="leaflet-funnel" {
            h3 { (c.t("leaf.funnel")) }
            figure { (layout::raw(chart)) }
            (layout::facts(&[
                (c.t("leaf.distributed"), m! { span id="funnel-distributed" { (crate::web::int(i(f, "distributed"))) } }),
                (c.t("leaf.signed_up"), m! { span id="funnel-signed-up" { (i(f, "signed_up")) } }),
                (c.t("leaf.conversion"), m! { span id="funnel-conversion" { (percent(&f["conversion_percent"])) } }),
                (c.t("leaf.first_sale"), m! { (i(f, "first_sale")) " (" (percent(&f["first_sale_percent"])) ")" }),
                (c.t("leaf.spend"), m! { (money(&f["spend_fen"])) }),
                (c.t("leaf.cost_per_card"), m! { span id="funnel-cost-per-card" { (money(&f["cost_per_new_card_fen"])) } }),
                (c.t("leaf.return"), m! { (f["return_on_cost"].as_f64().map(|x| format!("{x:.2}")).unwrap_or_else(|| "—".into())) }),
            ]))
            p.muted.small { (c.t("leaf.funnel_hint")) }
        }
        p { a href="/leaflets" { (c.t("leaf.back")) } }
    };
    html(StatusCode::OK, layout::page(&c, title, body))
}

// ---------------------------------------------------------------- partners

fn category(c: &Console, v: &str) -> &'static str {
    c.t(&format!("partner.cat_{v}"))
}

fn partner_form(c: &Console, f: &HashMap<String, String>, error: Option<&str>) -> Markup {
    let v = |k: &str| f.get(k).cloned().unwrap_or_default();
    m! {
        section.card id="partner-new" {
            h2 { (c.t("partner.new")) }
            @if let Some(e) = error { (layout::notice("error", e)) }
            form.stack method="post" action="/partners" id="partner-form" {
                (layout::csrf(c))
                label { (c.t("partner.name")) input type="text" name="name" id="partner-name" value=(v("name")) required maxlength="100"; }
                label { (c.t("partner.category"))
                    select name="category" id="partner-category" {
                        @for k in PARTNER_CATEGORIES { option value=(k) selected[v("category") == *k] { (category(c, k)) } }
                    }
                }
                label { (c.t("partner.contact")) input type="text" name="contact" value=(v("contact")) maxlength="200" placeholder=(c.t("partner.contact_hint")); }
                button.primary type="submit" id="partner-create" { (c.t("partner.create")) }
            }
        }
    }
}

async fn partners_page(
    c: &Console,
    f: &HashMap<String, String>,
    error: Option<&str>,
    status: StatusCode,
) -> Response {
    let title = c.t("partner.title");
    let list = match partners::list_partners(c.ctx.state.app(), &c.actor()).await {
        Ok(l) => l,
        Err(e) => return failed(c, title, &failure(e)),
    };
    let body = m! {
        section.card id="partners" {
            @if list.is_empty() {
                (layout::empty(c.t("partner.none"), None))
            } @else {
                table.list {
                    thead { tr { th { (c.t("partner.name")) } th { (c.t("partner.category")) } th.num { (c.t("partner.offers")) } th { (c.t("partner.state")) } } }
                    tbody { @for p in &list {
                        tr {
                            td { a.partner-link href={ "/partners/" (percent_encode(&s(p, "id"))) } { (s(p, "name")) } }
                            td { (category(c, &s(p, "category"))) }
                            td.num { (p["offers"].as_array().map(Vec::len).unwrap_or(0)) }
                            td { (active_badge(c, p)) }
                        }
                    } }
                }
            }
        }
        (partner_form(c, f, error))
    };
    html(status, layout::page(c, title, body))
}

fn active_badge(c: &Console, p: &Value) -> Markup {
    if p["active"] == Value::Bool(true) {
        m! { span.state.done { (c.t("partner.active")) } }
    } else {
        m! { span.state.lost { (c.t("partner.inactive")) } }
    }
}

/// `GET /partners`.
pub async fn partners_index(c: Console) -> Response {
    if let Some(r) = super::deny(&c, Action::ManagePartners) {
        return r;
    }
    partners_page(&c, &HashMap::new(), None, StatusCode::OK).await
}

/// `POST /partners`: adds a partner and shows its key once.
pub async fn partner_create(c: Console, Form(f): Form<HashMap<String, String>>) -> Response {
    if !c.csrf_ok(&f) {
        return forbidden(&c);
    }
    let get = |k: &str| f.get(k).map(|v| v.trim().to_string()).unwrap_or_default();
    let body = PartnerBody {
        name: get("name"),
        category: get("category"),
        contact: Some(get("contact")).filter(|x| !x.is_empty()),
    };
    match partners::create_partner(c.ctx.state.app(), &c.actor(), body).await {
        Ok(forecourt_app::Outcome::Created(v)) | Ok(forecourt_app::Outcome::Done(v)) => {
            let key = s(&v, "api_key");
            partner_page(
                &c,
                &s(&v, "id"),
                PageNote::Key(&key),
                &HashMap::new(),
                StatusCode::CREATED,
            )
            .await
        }
        Ok(_) => see_other("/partners"),
        Err(e) => {
            let e = failure(e);
            partners_page(&c, &f, Some(&failure_text(&c, &e)), e.status).await
        }
    }
}

enum PageNote<'a> {
    None,
    Done(&'a str),
    Key(&'a str),
    Error(&'a str),
}

/// The month shown by default: the current one in the network's time zone.
fn this_month(c: &Console) -> String {
    let now = c.ctx.state.app().clock().now_us();
    forecourt_app::clock::local(forecourt_app::clock::NETWORK_TZ, now)
        .date
        .format("%Y-%m")
        .to_string()
}

async fn partner_page(
    c: &Console,
    id: &str,
    note: PageNote<'_>,
    f: &HashMap<String, String>,
    status: StatusCode,
) -> Response {
    let title = c.t("partner.title");
    let app = c.ctx.state.app();
    let p = match partners::get_partner(app, &c.actor(), id).await {
        Ok(v) => v,
        Err(e) => return failed(c, title, &failure(e)),
    };
    let month = f
        .get("month")
        .filter(|m| m.len() == 7)
        .cloned()
        .unwrap_or_else(|| this_month(c));
    let statement = partners::statement(app, &c.actor(), id, &month).await.ok();
    let tiers = c.ctx.state.store().tiers().await.unwrap_or_default();
    let tier_name = |code: &str| {
        tiers
            .iter()
            .find(|t| t.code == code)
            .map(|t| t.name.clone())
            .unwrap_or_else(|| code.to_string())
    };
    let v = |k: &str| f.get(k).cloned().unwrap_or_default();
    let offers = p["offers"].as_array().cloned().unwrap_or_default();
    let tz = crate::clock::NETWORK_TZ;
    let base = format!("/partners/{}", percent_encode(id));
    let body = m! {
        @match note {
            PageNote::Done(k) => (layout::notice("ok", c.t(&format!("partner.done_{k}")))),
            PageNote::Key(key) => div.notice.ok role="status" id="partner-key" {
                p { (c.t("partner.key_once")) }
                p { code { (key) } }
            },
            PageNote::Error(e) => (layout::notice("error", e)),
            PageNote::None => {},
        }
        section.card id="partner" {
            h2 { (s(&p, "name")) " " (active_badge(c, &p)) }
            (layout::facts(&[
                (c.t("partner.category"), m! { (category(c, &s(&p, "category"))) }),
                (c.t("partner.contact"), m! { (p["contact"].as_str().unwrap_or("—")) }),
            ]))
            div.row {
                form.inline method="post" action={ (base) "/key" } {
                    (layout::csrf(c))
                    button type="submit" id="partner-new-key" { (c.t("partner.new_key")) }
                }
                form.inline method="post" action={ (base) "/active" } {
                    (layout::csrf(c))
                    @if p["active"] == Value::Bool(true) {
                        input type="hidden" name="active" value="0";
                        button type="submit" { (c.t("partner.switch_off")) }
                    } @else {
                        input type="hidden" name="active" value="1";
                        button type="submit" { (c.t("partner.switch_on")) }
                    }
                }
            }
        }
        section.card id="partner-offers" {
            h3 { (c.t("partner.offers")) }
            @if offers.is_empty() {
                (layout::empty(c.t("partner.no_offers"), None))
            } @else {
                table.list {
                    thead { tr { th { (c.t("offer.title")) } th { (c.t("offer.description")) } th { (c.t("offer.valid")) } th.num { (c.t("offer.limit")) } th { (c.t("offer.who")) } } }
                    tbody { @for o in &offers {
                        tr {
                            td { (s(o, "title")) }
                            td { (s(o, "description")) }
                            td { (s(o, "valid_from")) " – " (s(o, "valid_until")) }
                            td.num { (i(o, "per_member_limit")) }
                            td { @let ts = o["tiers"].as_array().cloned().unwrap_or_default();
                                @if ts.is_empty() { (c.t("offer.all_holders")) }
                                @else { (ts.iter().filter_map(|t| t.as_str()).map(tier_name).collect::<Vec<_>>().join("、")) } }
                        }
                    } }
                }
            }
            h3 { (c.t("offer.new")) }
            form.stack method="post" action={ (base) "/offers" } id="offer-form" {
                (layout::csrf(c))
                label { (c.t("offer.title")) input type="text" name="title" value=(v("title")) required maxlength="100" placeholder=(c.t("offer.title_hint")); }
                label { (c.t("offer.description")) textarea name="description" rows="3" maxlength="1000" required { (v("description")) } }
                label { (c.t("offer.valid_from")) input type="date" name="valid_from" value=(v("valid_from")) required; }
                label { (c.t("offer.valid_until")) input type="date" name="valid_until" value=(v("valid_until")) required; }
                label { (c.t("offer.limit")) input type="number" name="per_member_limit" value=(if v("per_member_limit").is_empty() { "1".to_string() } else { v("per_member_limit") }) min="1" max="100"; }
                fieldset {
                    legend { (c.t("offer.who")) }
                    p.muted.small { (c.t("offer.who_hint")) }
                    @for t in &tiers {
                        label.check { input type="checkbox" name={ "tier_" (t.code) } value="1" checked[f.contains_key(&format!("tier_{}", t.code))]; (t.name) }
                    }
                }
                button.primary type="submit" id="offer-create" { (c.t("offer.create")) }
            }
        }
        section.card id="partner-statement" {
            h3 { (c.t("partner.statement")) }
            form.row method="get" action=(base) {
                label { (c.t("partner.month")) input type="month" name="month" value=(month); }
                button type="submit" { (c.t("partner.show")) }
            }
            @match &statement {
                Some(st) => {
                    @let rows = st["redemptions"].as_array().cloned().unwrap_or_default();
                    p { (fill(c.t("partner.total"), &[("n", &i(st, "total").to_string())])) }
                    @if !rows.is_empty() {
                        table.list id="statement-by-offer" {
                            thead { tr { th { (c.t("offer.title")) } th.num { (c.t("partner.redemptions")) } } }
                            tbody { @for b in st["by_offer"].as_array().cloned().unwrap_or_default() {
                                tr { td { (s(&b, "title")) } td.num { (i(&b, "redemptions")) } }
                            } }
                        }
                        table.list id="statement-lines" {
                            thead { tr { th { (c.t("partner.redeemed_at")) } th { (c.t("offer.title")) } } }
                            tbody { @for r in &rows {
                                tr { td { (c.when(&r["redeemed_at"], tz)) } td { (s(r, "offer_title")) } }
                            } }
                        }
                    }
                    p { a.button href={ "/api/v1/partners/" (percent_encode(id)) "/statements/" (month) ".csv" } { (c.t("partner.download")) } }
                }
                None => { (layout::notice("error", c.t("partner.err_month"))) }
            }
        }
        p { a href="/partners" { (c.t("partner.back")) } }
    };
    html(status, layout::page(c, title, body))
}

/// `GET /partners/{id}?month=`.
pub async fn partner(
    c: Console,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    if let Some(r) = super::deny(&c, Action::ManagePartners) {
        return r;
    }
    let done = q.get("done").cloned();
    let note = match done.as_deref() {
        Some(d @ ("offer" | "active")) => PageNote::Done(d),
        _ => PageNote::None,
    };
    partner_page(&c, &id, note, &q, StatusCode::OK).await
}

/// `POST /partners/{id}/offers`.
pub async fn offer_create(
    c: Console,
    Path(id): Path<String>,
    Form(f): Form<HashMap<String, String>>,
) -> Response {
    if !c.csrf_ok(&f) {
        return forbidden(&c);
    }
    let get = |k: &str| f.get(k).map(|v| v.trim().to_string()).unwrap_or_default();
    let mut tiers: Vec<String> = f
        .keys()
        .filter_map(|k| k.strip_prefix("tier_"))
        .map(str::to_string)
        .collect();
    tiers.sort();
    let body = OfferBody {
        title: get("title"),
        description: get("description"),
        valid_from: get("valid_from"),
        valid_until: get("valid_until"),
        per_member_limit: get("per_member_limit").parse().unwrap_or(0),
        tiers,
    };
    match partners::create_offer(c.ctx.state.app(), &c.actor(), &id, body).await {
        Ok(_) => see_other(&format!("/partners/{}?done=offer", percent_encode(&id))),
        Err(e) => {
            let e = failure(e);
            let text = failure_text(&c, &e);
            partner_page(&c, &id, PageNote::Error(&text), &f, e.status).await
        }
    }
}

/// `POST /partners/{id}/key`: a new key, shown once; the old one stops working.
pub async fn new_key(
    c: Console,
    Path(id): Path<String>,
    Form(f): Form<HashMap<String, String>>,
) -> Response {
    if !c.csrf_ok(&f) {
        return forbidden(&c);
    }
    match partners::rotate_key(c.ctx.state.app(), &c.actor(), &id).await {
        Ok(v) => {
            let key = s(&v, "api_key");
            partner_page(
                &c,
                &id,
                PageNote::Key(&key),
                &HashMap::new(),
                StatusCode::OK,
            )
            .await
        }
        Err(e) => failed(&c, c.t("partner.title"), &failure(e)),
    }
}

/// `POST /partners/{id}/active`.
pub async fn set_active(
    c: Console,
    Path(id): Path<String>,
    Form(f): Form<HashMap<String, String>>,
) -> Response {
    if !c.csrf_ok(&f) {
        return forbidden(&c);
    }
    let active = f.get("active").map(String::as_str) == Some("1");
    match partners::set_active(c.ctx.state.app(), &c.actor(), &id, active).await {
        Ok(_) => see_other(&format!("/partners/{}?done=active", percent_encode(&id))),
        Err(e) => failed(&c, c.t("partner.title"), &failure(e)),
    }
}
