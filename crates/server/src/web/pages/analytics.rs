//! Analytics on live data: RFM, ABC with its 55/85 % curve, lifecycle, CLV, churn risk
//! and the demand forecast, as charts and paged tables with a CSV download. The figures
//! come from `GET /api/v1/analytics/{view}` (company-wide roles).

use super::{deny, failed, page_no};
use crate::access::Action;
use crate::web::charts::{self, Series};
use crate::web::i18n::{fill, lookup};
use crate::web::{html, layout, percent_encode, Console};
use axum::extract::{Path, Query};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use maud::{html as m, Markup};
use serde_json::Value;
use std::collections::HashMap;

const VIEWS: &[&str] = &["rfm", "abc", "lifecycle", "clv", "churn", "forecast"];
const PER_PAGE: usize = 50;

fn tabs(c: &Console, current: &str) -> Markup {
    m! {
        nav.tabs id="analytics-tabs" {
            @for v in VIEWS {
                a href={ "/analytics/" (v) } class=[(*v == current).then_some("active")] { (c.t(&format!("an.view_{v}"))) }
            }
        }
    }
}

/// `GET /analytics`: what each analysis is for.
pub async fn index(c: Console) -> Response {
    if let Some(r) = deny(&c, Action::ViewAnalytics) {
        return r;
    }
    let body = m! {
        (tabs(&c, ""))
        div.grid {
            @for v in VIEWS {
                section.card {
                    h3 { a href={ "/analytics/" (v) } { (c.t(&format!("an.view_{v}"))) } }
                    p.muted { (c.t(&format!("an.about_{v}"))) }
                }
            }
        }
    };
    html(StatusCode::OK, layout::page(&c, c.t("an.title"), body))
}

fn cell(v: &Value) -> String {
    match v {
        Value::Null => "—".into(),
        Value::String(s) => s.clone(),
        Value::Number(n) if n.is_f64() => {
            let x = n.as_f64().unwrap_or(0.0);
            if x.abs() >= 100.0 {
                format!("{x:.0}")
            } else {
                format!("{x:.2}")
            }
        }
        other => other.to_string(),
    }
}

/// A table of the rows, one column per field, the customer linked to the profile.
fn table(c: &Console, rows: &[Value]) -> Markup {
    let Some(first) = rows.first().and_then(Value::as_object) else {
        return layout::empty(c.t("an.no_rows"), None);
    };
    let mut cols: Vec<&String> = first.keys().collect();
    cols.sort_by_key(|k| {
        (
            k.as_str() != "customer",
            k.as_str() != "station",
            k.as_str() != "product",
        )
    });
    m! {
        div.scroll {
            table.list id="analytics-rows" {
                thead { tr { @for k in &cols { th { (lookup(c.lang(), &format!("an.col_{k}")).unwrap_or(k.as_str())) } } } }
                tbody { @for r in rows { tr {
                    @for k in &cols {
                        @if k.as_str() == "customer" {
                            td { a href={ "/customers/" (percent_encode(r[k.as_str()].as_str().unwrap_or(""))) } { (cell(&r[k.as_str()])) } }
                        } @else if r[k.as_str()].is_object() || r[k.as_str()].is_array() {
                            td { small.muted { (r[k.as_str()].to_string().chars().take(60).collect::<String>()) } }
                        } @else {
                            td.num[r[k.as_str()].is_number()] { (cell(&r[k.as_str()])) }
                        }
                    }
                } } }
            }
        }
    }
}

fn chart(c: &Console, view: &str, v: &Value) -> Markup {
    let none = vec![];
    let svg = match view {
        "rfm" => charts::bars(
            c.t("an.chart_segments"),
            &v["segments"]
                .as_array()
                .unwrap_or(&none)
                .iter()
                .map(|s| {
                    let n = s["customers"].as_f64().unwrap_or(0.0);
                    let name = s["segment"].as_str().unwrap_or("");
                    (
                        lookup(c.lang(), &format!("an.segment_{name}"))
                            .unwrap_or(name)
                            .to_string(),
                        n,
                        format!("{n:.0}"),
                    )
                })
                .collect::<Vec<_>>(),
        ),
        "lifecycle" => charts::bars(
            c.t("an.chart_stages"),
            &v["stages"]
                .as_array()
                .unwrap_or(&none)
                .iter()
                .map(|s| {
                    let n = s["customers"].as_f64().unwrap_or(0.0);
                    let name = s["stage"].as_str().unwrap_or("");
                    (
                        lookup(c.lang(), &format!("an.stage_{name}"))
                            .unwrap_or(name)
                            .to_string(),
                        n,
                        format!("{n:.0}"),
                    )
                })
                .collect::<Vec<_>>(),
        ),
        "abc" => {
            let curve = v["curve"].as_array().unwrap_or(&none);
            let labels: Vec<String> = curve
                .iter()
                .map(|p| {
                    format!(
                        "{:.0}%",
                        p["customer_share"].as_f64().unwrap_or(0.0) * 100.0
                    )
                })
                .collect();
            let values: Vec<f64> = curve
                .iter()
                .map(|p| p["contribution_share"].as_f64().unwrap_or(0.0) * 100.0)
                .collect();
            charts::line(
                c.t("an.chart_abc"),
                &labels,
                &[Series {
                    name: c.t("an.chart_abc").into(),
                    values,
                }],
                &[(55.0, "55% · A"), (85.0, "85% · B")],
                true,
            )
        }
        "clv" => charts::bars(
            c.t("an.chart_clv"),
            &v["rows"]
                .as_array()
                .unwrap_or(&none)
                .iter()
                .take(12)
                .map(|r| {
                    let x = r["expected_value"].as_f64().unwrap_or(0.0);
                    (
                        r["customer"]
                            .as_str()
                            .unwrap_or("")
                            .chars()
                            .take(14)
                            .collect(),
                        x,
                        format!("¥{x:.0}"),
                    )
                })
                .collect::<Vec<_>>(),
        ),
        "churn" => {
            let rows = v["rows"].as_array().unwrap_or(&none);
            let mut buckets = [0.0f64; 10];
            for r in rows {
                let p = r["churn_probability"].as_f64().unwrap_or(0.0);
                buckets[((p * 10.0) as usize).min(9)] += 1.0;
            }
            charts::columns(
                c.t("an.chart_churn"),
                &(0..10).map(|i| format!("{}%", i * 10)).collect::<Vec<_>>(),
                &[Series {
                    name: c.t("an.chart_churn").into(),
                    values: buckets.to_vec(),
                }],
            )
        }
        "forecast" => {
            let rows = v["rows"].as_array().unwrap_or(&none);
            let first = rows
                .first()
                .and_then(|r| r["first_day"].as_i64())
                .unwrap_or(0);
            let len = rows
                .first()
                .and_then(|r| r["litres"].as_array())
                .map_or(0, Vec::len);
            let labels: Vec<String> = (0..len as i64)
                .map(|d| crate::web::chart_day(first + d))
                .collect();
            let series: Vec<Series> = rows
                .iter()
                .take(8)
                .map(|r| Series {
                    name: format!(
                        "{} · {}",
                        r["station"].as_str().unwrap_or(""),
                        r["product"].as_str().unwrap_or("")
                    ),
                    values: r["litres"]
                        .as_array()
                        .map(|a| a.iter().map(|x| x.as_f64().unwrap_or(0.0)).collect())
                        .unwrap_or_default(),
                })
                .collect();
            charts::line(c.t("an.chart_forecast"), &labels, &series, &[], false)
        }
        _ => String::new(),
    };
    m! { figure.card id="analytics-chart" { figcaption { (c.t(&format!("an.view_{view}"))) } (layout::raw(svg)) } }
}

fn summary(c: &Console, view: &str, v: &Value) -> Markup {
    match view {
        "clv" => layout::facts(&[
            (
                "BG/NBD",
                m! { code { "r=" (cell(&v["bgnbd"]["r"])) " α=" (cell(&v["bgnbd"]["alpha"])) " a=" (cell(&v["bgnbd"]["a"])) " b=" (cell(&v["bgnbd"]["b"])) } },
            ),
            (
                "Gamma-Gamma",
                m! { code { "p=" (cell(&v["gamma_gamma"]["p"])) " q=" (cell(&v["gamma_gamma"]["q"])) " γ=" (cell(&v["gamma_gamma"]["gamma"])) } },
            ),
            (
                c.t("an.calibration_end"),
                m! { (cell(&v["calibration_end"])) },
            ),
        ]),
        "abc" => m! {
            table.list { thead { tr { th { (c.t("an.class")) } th.num { (c.t("an.customers")) } th.num { (c.t("an.share")) } } }
                tbody { @for k in v["classes"].as_array().cloned().unwrap_or_default() {
                    tr { td { (cell(&k["class"])) } td.num { (cell(&k["customers"])) } td.num { (format!("{:.1}%", k["contribution_share"].as_f64().or(k["share"].as_f64()).unwrap_or(0.0) * 100.0)) } }
                } } }
        },
        "churn" | "forecast" => match &v["evaluation"] {
            Value::Null => m! {},
            e => {
                m! { p.muted id="analytics-evaluation" { (c.t("an.evaluation")) ": " code { (e.to_string().chars().take(300).collect::<String>()) } } }
            }
        },
        _ => m! {},
    }
}

/// `GET /analytics/{view}?page=` (or `?format=csv` for every row as a file).
pub async fn view(
    c: Console,
    Path(view): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    if let Some(r) = deny(&c, Action::ViewAnalytics) {
        return r;
    }
    let title = c.t("an.title");
    if !VIEWS.contains(&view.as_str()) {
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
    }
    if q.get("format").map(String::as_str) == Some("csv") {
        return match c
            .get_raw(&format!(
                "/api/v1/analytics/{view}?format=csv{}",
                clv_extra(&view)
            ))
            .await
        {
            Ok((headers, bytes)) => {
                let mut res = bytes.into_response();
                for h in [header::CONTENT_TYPE, header::CONTENT_DISPOSITION] {
                    if let Some(v) = headers.get(&h) {
                        res.headers_mut().insert(h, v.clone());
                    }
                }
                res
            }
            Err(f) => failed(&c, title, &f),
        };
    }
    let page = page_no(&q);
    let offset = (page as usize - 1) * PER_PAGE;
    let v = match c
        .get(&format!(
            "/api/v1/analytics/{view}?offset={offset}&limit={PER_PAGE}{}",
            clv_extra(&view)
        ))
        .await
        .into_result()
    {
        Ok(v) => v,
        Err(f) => return failed(&c, title, &f),
    };
    let rows = v["rows"].as_array().cloned().unwrap_or_default();
    let total = v["customers_total"].as_u64();
    let has_more = match total {
        Some(t) => (offset + rows.len()) < t as usize && rows.len() == PER_PAGE,
        None => rows.len() == PER_PAGE,
    };
    let body = m! {
        (tabs(&c, &view))
        p.muted { (c.t(&format!("an.about_{view}")))
            @if let Some(a) = v["as_of"].as_str() { " " (fill(c.t("an.as_of"), &[("d", a)])) }
            @if let Some(t) = total { " · " (fill(c.t("an.total"), &[("n", &t.to_string())])) } }
        p { a.button id="csv-download" href={ "/analytics/" (view) "?format=csv" } download { (c.t("an.csv")) } }
        @if rows.is_empty() && page == 1 {
            (layout::empty(c.t("an.no_data"), None))
        } @else {
            (chart(&c, &view, &v))
            (summary(&c, &view, &v))
            section.card { (table(&c, &rows)) (layout::pager(&c, &format!("/analytics/{view}"), page, has_more)) }
        }
    };
    html(
        StatusCode::OK,
        layout::page(
            &c,
            &format!("{title} · {}", c.t(&format!("an.view_{view}"))),
            body,
        ),
    )
}

/// The console predicts from every sale it has: CLV calibrates up to the as-of day.
fn clv_extra(view: &str) -> &'static str {
    if view == "clv" {
        "&calibration_end=as_of"
    } else {
        ""
    }
}
