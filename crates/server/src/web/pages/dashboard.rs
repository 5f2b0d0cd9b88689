//! The dashboard: the last 30 days of the stations (or customers) the user may see, in
//! figures and charts.

use crate::clock;
use crate::web::charts::{self, Series};
use crate::web::{html, i18n::fill, int, layout, yuan, Console};
use axum::http::StatusCode;
use axum::response::Response;
use chrono::{Offset, TimeZone};
use forecourt_store::dashboard::DashScope;
use maud::html as m;

const WINDOW_DAYS: i64 = 30;
/// A member lapses when the last visit is this many days old (and under 90).
const LAPSE_DAYS: i64 = 45;

/// `GET /`.
pub async fn page(c: Console) -> Response {
    let title = c.t("dash.title");
    let today = clock::network_today();
    let to_us = clock::network_day_end_us(today);
    let from_us = to_us - WINDOW_DAYS * 86_400_000_000;
    let tz = clock::tz(clock::NETWORK_TZ);
    let offset_us = tz.offset_from_utc_date(&today).fix().local_minus_utc() as i64 * 1_000_000;
    let figures = forecourt_app::dashboard::figures(
        c.ctx.state.app(),
        &c.user,
        from_us,
        to_us,
        offset_us,
        LAPSE_DAYS,
    )
    .await;
    let (scope, d) = match figures {
        Ok(x) => x,
        Err(e) => {
            tracing::error!(error = %e, "dashboard");
            return html(
                StatusCode::INTERNAL_SERVER_ERROR,
                layout::page(
                    &c,
                    title,
                    m! { (layout::notice("error", c.t("err.unknown"))) },
                ),
            );
        }
    };
    let first_day = (from_us + offset_us).div_euclid(86_400_000_000);
    let labels: Vec<String> = (0..WINDOW_DAYS)
        .map(|i| crate::web::chart_day(first_day + i))
        .collect();
    let mut member = vec![0.0; WINDOW_DAYS as usize];
    let mut walk_in = vec![0.0; WINDOW_DAYS as usize];
    let mut joined = vec![0.0; WINDOW_DAYS as usize];
    for f in &d.days {
        if let Some(i) = usize::try_from(f.day - first_day)
            .ok()
            .filter(|i| *i < member.len())
        {
            member[i] = f.member_net_fen as f64 / 100.0;
            walk_in[i] = (f.net_fen - f.member_net_fen) as f64 / 100.0;
        }
    }
    for (day, n) in &d.new_members {
        if let Some(i) = usize::try_from(day - first_day)
            .ok()
            .filter(|i| *i < joined.len())
        {
            joined[i] = *n as f64;
        }
    }
    let net: i64 = d.days.iter().map(|f| f.net_fen).sum();
    let member_net: i64 = d.days.iter().map(|f| f.member_net_fen).sum();
    let sales: i64 = d.days.iter().map(|f| f.sales).sum();
    let new_members: i64 = d.new_members.iter().map(|x| x.1).sum();
    let share = if net > 0 {
        member_net as f64 / net as f64 * 100.0
    } else {
        0.0
    };
    // Names for the labels: display only.
    let store = c.ctx.state.store();
    let products = store.products().await.unwrap_or_default();
    let product_name = |code: &str| {
        products
            .iter()
            .find(|p| p.code == code)
            .map(|p| p.name.clone())
            .unwrap_or_else(|| code.to_string())
    };
    let tiers = store.tiers().await.unwrap_or_default();
    let tier_name = |code: &str| {
        tiers
            .iter()
            .find(|t| t.code == code)
            .map(|t| t.name.clone())
            .unwrap_or_else(|| code.to_string())
    };
    let scope_text = match &scope {
        DashScope::All => c.t("dash.scope_all").to_string(),
        DashScope::Manager(_) => c.t("dash.scope_own").to_string(),
        DashScope::Stations(_) => fill(c.t("dash.scope_stations"), &[("scope", &c.user.scope)]),
    };
    let body = m! {
        p.muted id="dash-scope" { (scope_text) " · " (fill(c.t("dash.window"), &[("n", &WINDOW_DAYS.to_string())])) }
        @if sales == 0 && d.members == 0 {
            (layout::empty(c.t("dash.empty"), None))
        }
        section.kpis {
            div.kpi { span { (c.t("dash.net")) } b id="kpi-net" { (yuan(net)) } }
            div.kpi { span { (c.t("dash.sales")) } b { (int(sales)) } }
            div.kpi { span { (c.t("dash.member_share")) } b { (format!("{share:.1}%")) } }
            div.kpi { span { (c.t("dash.new_members")) } b { (int(new_members)) } }
            div.kpi { span { (c.t("dash.lapsing")) } b { (int(d.lapsing)) } small { (fill(c.t("dash.lapsing_hint"), &[("n", &LAPSE_DAYS.to_string()), ("base", &int(d.active_before))])) } }
            div.kpi { span { (c.t("dash.members")) } b { (int(d.members)) } }
        }
        div.grid {
            figure.card.wide id="chart-sales" {
                figcaption { (c.t("dash.chart_sales")) }
                (layout::raw(charts::columns(c.t("dash.chart_sales"), &labels, &[
                    Series { name: c.t("dash.members_sales").into(), values: member.clone() },
                    Series { name: c.t("dash.walk_in_sales").into(), values: walk_in.clone() },
                ])))
            }
            figure.card id="chart-products" {
                figcaption { (c.t("dash.chart_products")) }
                (layout::raw(charts::bars(c.t("dash.chart_products"), &d.products.iter()
                    .map(|(code, fen, ml, _)| (product_name(code), *fen as f64, if *ml > 0 { format!("{} · {}", yuan(*fen), crate::web::litres(*ml)) } else { yuan(*fen) }))
                    .collect::<Vec<_>>())))
            }
            figure.card id="chart-share" {
                figcaption { (c.t("dash.chart_share")) }
                (layout::raw(charts::donut(c.t("dash.chart_share"), &[
                    (c.t("dash.members_sales").to_string(), member_net as f64),
                    (c.t("dash.walk_in_sales").to_string(), (net - member_net) as f64),
                ])))
            }
            figure.card id="chart-new" {
                figcaption { (c.t("dash.chart_new")) }
                (layout::raw(charts::columns(c.t("dash.chart_new"), &labels, &[
                    Series { name: c.t("dash.new_members").into(), values: joined.clone() },
                ])))
            }
            figure.card id="chart-tiers" {
                figcaption { (c.t("dash.chart_tiers")) }
                (layout::raw(charts::donut(c.t("dash.chart_tiers"), &d.tiers.iter()
                    .map(|(code, n)| (tier_name(code), *n as f64)).collect::<Vec<_>>())))
            }
        }
    };
    html(StatusCode::OK, layout::page(&c, title, body))
}
