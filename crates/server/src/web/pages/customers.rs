//! Customer search and the 360° profile.

use super::{failed, failure_text, forbidden};
use crate::access::Action;
use crate::clock::NETWORK_TZ;
use crate::web::scores::Lookup;
use crate::web::{
    html, i, i18n::fill, int, layout, percent_encode, s, see_other, yuan, Console, Zones,
};
use axum::extract::{Path, Query};
use axum::http::{Method, StatusCode};
use axum::response::Response;
use axum::Form;
use maud::{html as m, Markup};
use serde_json::{json, Value};
use std::collections::HashMap;

/// `GET /customers?q=`: one box for phone, plate, card number, member code or name.
/// A single match opens the profile at once.
pub async fn search(c: Console, Query(q): Query<HashMap<String, String>>) -> Response {
    let title = c.t("cust.title");
    let query = q.get("q").map(|s| s.trim().to_string()).unwrap_or_default();
    let form = m! {
        form.search method="get" action="/customers" role="search" {
            input type="search" name="q" id="customer-q" value=(query) placeholder=(c.t("cust.search_hint")) maxlength="64" autofocus aria-label=(c.t("cust.search_hint"));
            button.primary type="submit" id="customer-search" { (c.t("cust.search")) }
        }
    };
    if query.is_empty() {
        let body = m! {
            (form)
            (layout::empty(c.t("cust.search_empty"), None))
            @if c.may(Action::CreateCustomer) { (new_customer_form(&c, &HashMap::new(), None)) }
        };
        return html(StatusCode::OK, layout::page(&c, title, body));
    }
    let reply = c
        .get(&format!("/api/v1/customers?q={}", percent_encode(&query)))
        .await;
    let found = match reply.into_result() {
        Ok(v) => v,
        Err(f) if f.status == StatusCode::UNPROCESSABLE_ENTITY || f.code == "rate_limited" => {
            let body = m! { (form) (layout::notice("error", &failure_text(&c, &f))) };
            return html(f.status, layout::page(&c, title, body));
        }
        Err(f) => return failed(&c, title, &f),
    };
    let list = found["customers"].as_array().cloned().unwrap_or_default();
    // A match outside the user's scope comes without an id: it is listed, masked,
    // and leads nowhere.
    if list.len() == 1 && list[0]["id"].is_string() {
        return see_other(&format!("/customers/{}", s(&list[0], "id")));
    }
    let matched = s(&found, "matched_by");
    let body = m! {
        (form)
        @if list.is_empty() {
            (layout::empty(&fill(c.t("cust.none"), &[("q", &query)]), None))
        } @else {
            p.muted { (fill(c.t("cust.found"), &[("n", &list.len().to_string()), ("by", c.t(&format!("cust.by_{matched}")))])) }
            table.list id="customer-results" {
                thead { tr { th { (c.t("cust.member_code")) } th { (c.t("cust.name")) } th { (c.t("cust.phone")) } th { (c.t("cust.plates")) } th { (c.t("cust.tier")) } } }
                tbody {
                    @for r in &list {
                        tr {
                            td { @if r["id"].is_string() { a href={ "/customers/" (s(r, "id")) } { (s(r, "member_code")) } } @else { span.muted { (c.t("cust.out_of_scope")) } } }
                            td { (s(r, "name")) }
                            td.phone { (s(r, "phone")) }
                            td { (r["plates"].as_array().map(|p| p.iter().filter_map(|x| x.as_str()).collect::<Vec<_>>().join(", ")).unwrap_or_default()) }
                            td { (s(r, "tier_code")) }
                        }
                    }
                }
            }
        }
    };
    html(StatusCode::OK, layout::page(&c, title, body))
}

/// The form that registers a member at the counter: who, how to reach them, the car,
/// and consent to marketing.
fn new_customer_form(c: &Console, f: &HashMap<String, String>, error: Option<&str>) -> Markup {
    let v = |k: &str| f.get(k).cloned().unwrap_or_default();
    m! {
        section.card id="new-customer" {
            h3 { (c.t("cust.new")) }
            @if let Some(e) = error { (layout::notice("error", e)) }
            form.stack method="post" action="/customers" id="new-customer-form" {
                (layout::csrf(c))
                label { (c.t("cust.kind"))
                    select name="kind" { @for k in ["individual", "company"] { option value=(k) selected[v("kind") == k] { (c.t(&format!("cust.kind_{k}"))) } } } }
                label { (c.t("cust.name")) input type="text" name="name" value=(v("name")) required maxlength="100"; }
                label { (c.t("cust.phone")) input type="tel" name="phone" value=(v("phone")) inputmode="tel" maxlength="20" placeholder="13800000000"; }
                label { (c.t("cust.plate")) input type="text" name="plate" value=(v("plate")) maxlength="10" placeholder="京A12345"; }
                label { (c.t("cust.promo_code")) input type="text" name="promo_code" id="new-customer-promo" value=(v("promo_code")) maxlength="20" autocomplete="off" placeholder=(c.t("cust.promo_code_hint")); }
                label.check { input type="checkbox" name="consent_marketing" value="1" checked[f.contains_key("consent_marketing")]; (c.t("cust.consent_marketing")) }
                button.primary type="submit" id="new-customer-submit" { (c.t("cust.create")) }
            }
        }
    }
}

/// `POST /customers`: registers a member (at the user's station by default) and opens
/// the profile.
pub async fn create(c: Console, Form(f): Form<HashMap<String, String>>) -> Response {
    if !c.csrf_ok(&f) {
        return forbidden(&c);
    }
    let get = |k: &str| f.get(k).map(|v| v.trim()).filter(|v| !v.is_empty());
    let mut body = json!({
        "kind": get("kind").unwrap_or("individual"),
        "name": get("name").unwrap_or(""),
        "consent_marketing": f.contains_key("consent_marketing"),
        "source": "walk_in",
    });
    if let Some(p) = get("phone") {
        body["phone"] = json!(p);
    }
    if let Some(p) = get("plate") {
        body["vehicles"] = json!([{"plate": p}]);
    }
    if let Some(code) = get("promo_code") {
        body["promo_code"] = json!(code);
        body["source"] = json!("leaflet");
    }
    match c
        .api(Method::POST, "/api/v1/customers", Some(body))
        .await
        .into_result()
    {
        Ok(v) => see_other(&format!(
            "/customers/{}?done=customer",
            percent_encode(&s(&v, "id"))
        )),
        Err(e) => {
            let page = m! { (new_customer_form(&c, &f, Some(&failure_text(&c, &e)))) };
            html(e.status, layout::page(&c, c.t("cust.title"), page))
        }
    }
}

fn prediction(c: &Console, customer_id: &str) -> Markup {
    match c.ctx.state.scores().get(&c.ctx.state, customer_id) {
        Lookup::Computing => m! { p.muted id="predictions" { (c.t("cust.pred_computing")) } },
        Lookup::Ready(None) => m! { p.muted id="predictions" { (c.t("cust.pred_none")) } },
        Lookup::Ready(Some(p)) => {
            let risk = p.churn_probability.map(|x| {
                let level = if x >= 0.6 {
                    "high"
                } else if x >= 0.3 {
                    "medium"
                } else {
                    "low"
                };
                (format!("{:.0}%", x * 100.0), level)
            });
            layout::facts(&[
                (
                    c.t("cust.next_visit"),
                    m! { (p.next_visit.clone().unwrap_or_else(|| c.t("cust.unknown").into()))
                    @if let Some(late) = overdue_days(p.next_visit.as_deref()) { " " span.risk.medium { (fill(c.t("cust.overdue"), &[("n", &late.to_string())])) } }
                    @if let Some(d) = p.typical_interval_days { " " small.muted { (fill(c.t("cust.every_days"), &[("n", &format!("{d:.1}"))])) } } },
                ),
                (
                    c.t("cust.churn_risk"),
                    m! { @match &risk { Some((pct, level)) => span class={ "risk " (level) } { (pct) " · " (c.t(&format!("cust.risk_{level}"))) }, None => (c.t("cust.unknown")) } },
                ),
                (
                    c.t("cust.clv"),
                    m! { (p.clv_yuan.map(|v| yuan((v * 100.0).round() as i64)).unwrap_or_else(|| c.t("cust.unknown").into())) },
                ),
                (
                    c.t("cust.p_alive"),
                    m! { (p.p_alive.map(|v| format!("{:.0}%", v * 100.0)).unwrap_or_else(|| c.t("cust.unknown").into())) },
                ),
            ])
        }
    }
}

const HISTORY_PAGE: usize = 15;

/// Days since an expected visit that has not happened (none when it is still ahead).
fn overdue_days(next_visit: Option<&str>) -> Option<i64> {
    let d = chrono::NaiveDate::parse_from_str(next_visit?, "%Y-%m-%d").ok()?;
    let late = (crate::clock::network_today() - d).num_days();
    (late > 0).then_some(late)
}

/// `GET /customers/{id}`: cards and balances, points, tier, coupons, recent sales and
/// the predictions.
pub async fn profile(
    c: Console,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let title = c.t("cust.profile");
    let p = match c
        .get(&format!("/api/v1/customers/{}", percent_encode(&id)))
        .await
        .into_result()
    {
        Ok(v) => v,
        Err(f) => return failed(&c, title, &f),
    };
    let points = c
        .get(&format!("/api/v1/customers/{}/points", percent_encode(&id)))
        .await
        .into_result()
        .unwrap_or(Value::Null);
    let coupons = c
        .get(&format!(
            "/api/v1/customers/{}/coupons",
            percent_encode(&id)
        ))
        .await
        .into_result()
        .unwrap_or(Value::Null);
    let templates = if c.may(Action::ManagePromotions) {
        c.get("/api/v1/loyalty/coupon-templates")
            .await
            .into_result()
            .unwrap_or(Value::Null)
    } else {
        Value::Null
    };
    let tiers = c
        .get("/api/v1/tiers")
        .await
        .into_result()
        .unwrap_or(Value::Null);
    let done = q.get("done").map(|d| c.t(&format!("done.{d}")));
    let name = s(&p, "name");
    let empty_vec = vec![];
    let cards = p["cards"].as_array().unwrap_or(&empty_vec);
    let history = points["history"].as_array().unwrap_or(&empty_vec);
    // The points history a page at a time (the API gives the newest 200 lines).
    let page = super::page_no(&q);
    let hist_from = (page as usize - 1) * HISTORY_PAGE;
    let lots = points["lots"].as_array().unwrap_or(&empty_vec);
    let coupon_list = coupons["coupons"].as_array().unwrap_or(&empty_vec);
    let sales = p["recent_sales"].as_array().unwrap_or(&empty_vec);
    // Each sale in its station's time, the membership in the home station's.
    let zones = Zones::load(&c.ctx.state).await;
    let body = m! {
        @if let Some(d) = done { (layout::notice("ok", d)) }
        section.card id="profile-head" {
            h2 { (name) " " small.muted { (s(&p, "member_code")) } }
            (layout::facts(&[
                (c.t("cust.phone"), m! { span.phone id="profile-phone" { (s(&p, "phone")) } }),
                (c.t("cust.kind"), m! { (c.t(&format!("cust.kind_{}", s(&p, "kind")))) }),
                (c.t("cust.tier"), m! { b id="profile-tier" { (s(&p["tier"], "name")) } }),
                (c.t("cust.points"), m! { b id="profile-points" { (int(i(&p, "points_balance"))) } }),
                (c.t("cust.plates"), m! { (p["vehicles"].as_array().map(|v| v.iter().map(|x| s(x, "plate")).collect::<Vec<_>>().join(", ")).unwrap_or_default()) }),
                (c.t("cust.since"), m! { (c.day(&p["created_at"], zones.of_id(p["home_station_id"].as_str()))) }),
                (c.t("cust.tags"), m! { (p["tags"].as_array().map(|v| v.iter().filter_map(|x| x.as_str()).collect::<Vec<_>>().join(", ")).unwrap_or_default()) }),
            ]))
        }
        div.grid {
            section.card {
                h3 { (c.t("cust.predictions")) }
                (prediction(&c, &id))
            }
            section.card id="profile-cards" {
                h3 { (c.t("cust.cards")) }
                @if cards.is_empty() {
                    (layout::empty(c.t("cust.no_cards"), None))
                } @else {
                    table.list {
                        thead { tr { th { (c.t("card.no")) } th { (c.t("card.kind")) } th { (c.t("card.state")) } th.num { (c.t("card.balance")) } } }
                        tbody { @for card in cards {
                            tr {
                                td { a href={ "/cards/" (s(card, "card_no")) } { (s(card, "card_no")) } }
                                td { (c.t(&format!("card.kind_{}", s(card, "kind")))) }
                                td { span class={ "state " (s(card, "state")) } { (c.t(&format!("card.state_{}", s(card, "state")))) } }
                                td.num { (yuan(i(card, "balance_fen"))) }
                            }
                        } }
                    }
                }
                @if c.may(Action::IssueCard) {
                    details {
                        summary { (c.t("card.issue")) }
                        (super::cards::issue_form(&c, Some(&id), cards))
                    }
                }
            }
        }
        div.grid {
            section.card id="profile-points-history" {
                h3 { (c.t("cust.points_history")) }
                @if !lots.is_empty() {
                    p.muted { (c.t("cust.lots")) }
                    ul.lots { @for l in lots.iter().take(6) {
                        li { (s(l, "earned_on")) ": " (int(i(l, "remaining"))) " / " (int(i(l, "points")))
                            @if !s(l, "expires_after").is_empty() { " · " (fill(c.t("cust.expires"), &[("d", &s(l, "expires_after"))])) } }
                    } }
                }
                @if history.is_empty() {
                    (layout::empty(c.t("cust.no_points"), None))
                } @else {
                    table.list {
                        thead { tr { th { (c.t("cust.when")) } th { (c.t("cust.what")) } th.num { (c.t("cust.points")) } } }
                        tbody { @for h in history.iter().skip(hist_from).take(HISTORY_PAGE) {
                            tr {
                                td { (c.when(&h["occurred_at"], NETWORK_TZ)) }
                                td { (c.t(&format!("points.kind_{}", s(h, "kind"))))
                                    @if let Some(r) = h["reasons"].as_array() { @if !r.is_empty() { br; small.muted { (r.iter().filter_map(|x| x["reason"].as_str().or(x.as_str())).collect::<Vec<_>>().join("; ")) } } } }
                                td.num { (int(i(h, "points"))) }
                            }
                        } }
                    }
                    (layout::pager(&c, &format!("/customers/{}", percent_encode(&id)), page, history.len() > hist_from + HISTORY_PAGE))
                }
            }
            section.card id="profile-sales" {
                h3 { (c.t("cust.recent_sales")) }
                @if sales.is_empty() {
                    (layout::empty(c.t("cust.no_sales"), None))
                } @else {
                    table.list {
                        thead { tr { th { (c.t("cust.when")) } th { (c.t("cust.station")) } th.num { (c.t("cust.amount")) } th.num { (c.t("cust.points")) } } }
                        tbody { @for x in sales {
                            tr {
                                td { (c.when(&x["occurred_at"], zones.of_code(&s(x, "station_code")))) }
                                td { (s(x, "station_code")) }
                                td.num { (yuan(i(x, "net_fen")))
                                    @if i(x, "refunded_fen") > 0 { br; small.muted { (c.t("cust.refunded")) " " (yuan(i(x, "refunded_fen"))) } } }
                                td.num { (int(i(x, "points_earned"))) }
                            }
                        } }
                    }
                }
            }
        }
        div.grid {
            section.card id="profile-coupons" {
                h3 { (c.t("cust.coupons")) }
                @if coupon_list.is_empty() {
                    (layout::empty(c.t("cust.no_coupons"), None))
                } @else {
                    table.list {
                        thead { tr { th { (c.t("coupon.code")) } th { (c.t("coupon.name")) } th { (c.t("coupon.state")) } th { (c.t("coupon.until")) } } }
                        tbody { @for x in coupon_list {
                            tr { td { code { (s(x, "code")) } } td { (s(x, "name")) } td { (c.t(&format!("coupon.state_{}", s(x, "state")))) } td { (c.when(&x["valid_until"], NETWORK_TZ)) } }
                        } }
                    }
                }
                @if let Some(list) = templates["templates"].as_array() {
                    @if !list.is_empty() {
                        form.row method="post" action={ "/customers/" (id) "/coupons" } {
                            (layout::csrf(&c))
                            select name="template_id" aria-label=(c.t("coupon.template")) { @for t in list { option value=(s(t, "template_id")) { (s(t, "name")) } } }
                            button type="submit" { (c.t("coupon.issue")) }
                        }
                    }
                }
            }
            @if c.may(Action::ManagePromotions) {
                section.card id="profile-tier-override" {
                    h3 { (c.t("cust.tier_override")) }
                    form method="post" action={ "/customers/" (id) "/tier" } {
                        (layout::csrf(&c))
                        label { (c.t("cust.tier"))
                            select name="tier_code" {
                                option value="" { (c.t("cust.tier_auto")) }
                                @for t in tiers["tiers"].as_array().unwrap_or(&empty_vec) { option value=(s(t, "code")) selected[s(t, "code") == s(&p["tier"], "code")] { (s(t, "name")) } }
                            }
                        }
                        label { (c.t("cust.reason")) input type="text" name="reason" maxlength="200" required; }
                        button type="submit" { (c.t("form.save")) }
                    }
                }
            }
        }
    };
    html(
        StatusCode::OK,
        layout::page(&c, &format!("{title} · {name}"), body),
    )
}

/// After a form on the profile: back to it with a notice, or the error.
async fn after(c: &Console, id: &str, reply: crate::web::ApiReply, done: &str) -> Response {
    match reply.into_result() {
        Ok(_) => see_other(&format!("/customers/{}?done={done}", percent_encode(id))),
        Err(f) => {
            let body = m! {
                (layout::notice("error", &failure_text(c, &f)))
                p { a href={ "/customers/" (percent_encode(id)) } { (c.t("form.back")) } }
            };
            html(f.status, layout::page(c, c.t("err.title"), body))
        }
    }
}

/// `POST /customers/{id}/tier`: a manual tier, with the reason (empty: automatic again).
pub async fn tier_override(
    c: Console,
    Path(id): Path<String>,
    Form(f): Form<HashMap<String, String>>,
) -> Response {
    if !c.csrf_ok(&f) {
        return forbidden(&c);
    }
    let tier = f
        .get("tier_code")
        .map(|s| s.trim())
        .filter(|s| !s.is_empty());
    let body =
        json!({"tier_code": tier, "reason": f.get("reason").map(|s| s.trim()).unwrap_or("")});
    let reply = c
        .api(
            Method::POST,
            &format!("/api/v1/customers/{}/tier", percent_encode(&id)),
            Some(body),
        )
        .await;
    after(&c, &id, reply, "tier").await
}

/// `POST /customers/{id}/coupons`: issues one coupon of a template to this member.
pub async fn issue_coupon(
    c: Console,
    Path(id): Path<String>,
    Form(f): Form<HashMap<String, String>>,
) -> Response {
    if !c.csrf_ok(&f) {
        return forbidden(&c);
    }
    let body = json!({"template_id": f.get("template_id").cloned().unwrap_or_default(), "customer_id": id});
    let reply = c
        .api(Method::POST, "/api/v1/loyalty/coupons", Some(body))
        .await;
    after(&c, &id, reply, "coupon").await
}
