//! The member's pages: home (tier, cards, points, coupons, purchases), the points
//! history and the stations with their prices. What they show is read by
//! `forecourt_app::portal`, keyed by the session's customer id; the pages word and lay
//! it out.

use super::{empty, Member, Tab};
use crate::clock;
use crate::error::ApiError;
use crate::web::i18n::{fill, lookup};
use crate::web::layout::notice;
use crate::web::{html, int, litres, when, yuan, Shown};
use axum::extract::Query;
use axum::http::StatusCode;
use axum::response::Response;
use forecourt_app::portal;
use forecourt_core::tiers::{self, Metric};
use forecourt_core::CardNo;
use forecourt_store::{now_us, Station};
use maud::{html as m, Markup};
use std::collections::HashMap;

const DAY_US: i64 = 86_400_000_000;
/// Purchases on the home page.
const RECENT_SALES: i64 = 10;
/// Lines of the points history a page.
const POINTS_PAGE: i64 = 20;

/// A moment that belongs to no station (points, coupons, the page's own time) in the
/// network's time, to the minute.
pub(super) fn network_time(mb: &Member, us: i64) -> String {
    when(mb.lang(), us, clock::NETWORK_TZ, Shown::Minute)
}

fn network_date(mb: &Member, us: i64) -> String {
    when(mb.lang(), us, clock::NETWORK_TZ, Shown::Day)
}

/// A card number as the member sees it: masked like a receipt.
fn masked(no: &str) -> String {
    CardNo::parse(no)
        .map(|c| c.masked())
        .unwrap_or_else(|_| "*".repeat(no.len().min(19)))
}

/// A catalogue text chosen by a value from the data (`{prefix}.{value}`), or `other`.
fn label(mb: &Member, prefix: &str, value: &str, other: &str) -> String {
    lookup(mb.lang(), &format!("{prefix}.{value}"))
        .map(str::to_string)
        .unwrap_or_else(|| other.to_string())
}

fn render(mb: &Member, page: Result<Markup, ApiError>) -> Response {
    match page {
        Ok(markup) => html(StatusCode::OK, markup),
        Err(e) => mb.failed(&e),
    }
}

// ---------------------------------------------------------------- home

/// `GET /m/`: the member's home.
pub async fn home(mb: Member, Query(q): Query<HashMap<String, String>>) -> Response {
    let page = home_page(&mb, &q).await;
    render(&mb, page)
}

async fn home_page(mb: &Member, q: &HashMap<String, String>) -> Result<Markup, ApiError> {
    let done = match q.get("done").map(String::as_str) {
        Some("password") => Some(mb.t("portal.password.saved")),
        _ => None,
    };
    let body = m! {
        @if let Some(text) = done { (notice("ok", text)) }
        h1.greet { (fill(mb.t("portal.home.hello"), &[("name", &mb.customer.name)])) }
        (tier_section(mb).await?)
        (service_section(mb).await?)
        (cards_section(mb).await?)
        (points_section(mb).await?)
        (coupons_section(mb).await?)
        (sales_section(mb).await?)
        (account_section(mb).await?)
    };
    Ok(mb.page(
        mb.t("portal.home.title"),
        "portal-home",
        Some(Tab::Home),
        body,
    ))
}

/// Where the member stands against the next tier.
enum Standing {
    /// The top tier: nothing above.
    Top,
    /// A tier set by hand: qualification does not move it.
    SetByHand,
    /// The figures already reach a higher tier (it applies at the next sale or review).
    Reached(String),
    /// `have` of `goal` towards the next tier, and what is still needed, in words.
    Towards { have: i64, goal: i64, text: String },
}

async fn tier_section(mb: &Member) -> Result<Markup, ApiError> {
    let state = &mb.ctx.state;
    let cfg = crate::loyalty::config(state).await?;
    let q = cfg.qualification;
    let now = now_us();
    let (figures, overridden) = portal::tier_figures(
        state.app(),
        mb.id(),
        now - i64::from(q.window_days) * DAY_US,
    )
    .await?;
    let current = cfg.tiers.iter().find(|t| t.code == mb.customer.tier_code);
    let rank = current.map(|t| t.rank).unwrap_or(i64::MIN);
    let next = cfg
        .tiers
        .iter()
        .filter(|t| t.rank > rank)
        .min_by_key(|t| t.rank);
    let levels = cfg.levels();
    let best = tiers::qualified(
        &q,
        &levels,
        &tiers::Figures {
            spend_fen: figures.spend_fen,
            volume_ml: figures.volume_ml,
            visits: figures.visits,
        },
    )
    .filter(|l| l.rank > rank)
    .and_then(|l| cfg.tiers.iter().find(|t| t.code == l.code));
    let standing = match (next, best) {
        (None, _) => Standing::Top,
        _ if overridden => Standing::SetByHand,
        (_, Some(b)) => Standing::Reached(b.name.clone()),
        (Some(n), None) => {
            let (have, goal) = match q.metric {
                Metric::Spend => (figures.spend_fen, n.qualify_spend_fen),
                Metric::Litres => (figures.volume_ml, n.qualify_litres_ml),
                Metric::Visits => (figures.visits, n.qualify_visits),
            };
            let need = (goal - have).max(0);
            let (key, amount) = match q.metric {
                Metric::Spend => ("portal.tier.need_spend", yuan(need)),
                Metric::Litres => ("portal.tier.need_litres", litres(need)),
                Metric::Visits => ("portal.tier.need_visits", int(need)),
            };
            let goal = goal.max(1);
            Standing::Towards {
                have: have.clamp(0, goal),
                goal,
                text: fill(mb.t(key), &[("need", &amount), ("tier", &n.name)]),
            }
        }
    };
    let mut benefits = vec![];
    if let Some(t) = current {
        if t.discount_fen_per_litre > 0 {
            benefits.push(fill(
                mb.t("portal.tier.discount"),
                &[("amount", &yuan(t.discount_fen_per_litre))],
            ));
        }
        if t.points_multiplier_permille != 1000 {
            let x = format!(
                "{}.{:02}",
                t.points_multiplier_permille / 1000,
                (t.points_multiplier_permille % 1000) / 10
            );
            let x = x.trim_end_matches('0').trim_end_matches('.').to_string();
            benefits.push(fill(mb.t("portal.tier.multiplier"), &[("x", &x)]));
        }
        if t.monthly_car_washes > 0 {
            benefits.push(fill(
                mb.t("portal.tier.washes"),
                &[("n", &t.monthly_car_washes.to_string())],
            ));
        }
    }
    let figures_shown = [
        fill(
            mb.t("portal.tier.fig_spend"),
            &[("v", &yuan(figures.spend_fen))],
        ),
        fill(
            mb.t("portal.tier.fig_litres"),
            &[("v", &litres(figures.volume_ml))],
        ),
        fill(
            mb.t("portal.tier.fig_visits"),
            &[("v", &int(figures.visits))],
        ),
    ];
    Ok(m! {
        section.card.tier id="portal-tier" {
            div.tier-head {
                span.muted { (mb.t("portal.tier.label")) }
                b.tier-name id="portal-tier-name" { (current.map(|t| t.name.as_str()).unwrap_or(&mb.customer.tier_code)) }
            }
            @if !benefits.is_empty() {
                p.benefits { (benefits.join(" · ")) }
            }
            @match &standing {
                Standing::Towards { have, goal, text } => {
                    progress id="portal-tier-progress" max=(goal) value=(have) aria-label=(text) { (text) }
                    p.need { (text) }
                }
                Standing::Reached(name) => {
                    progress id="portal-tier-progress" max="1" value="1" { "100%" }
                    p.need { (fill(mb.t("portal.tier.reached"), &[("tier", name)])) }
                }
                Standing::SetByHand => p.need { (mb.t("portal.tier.set_by_hand")) },
                Standing::Top => p.need { (mb.t("portal.tier.top")) },
            }
            p.muted.small {
                span.window { (fill(mb.t("portal.tier.window"), &[("days", &q.window_days.to_string())])) }
                @for (i, f) in figures_shown.iter().enumerate() {
                    @if i > 0 { " · " }
                    span.fig { (f) }
                }
            }
        }
    })
}

async fn cards_section(mb: &Member) -> Result<Markup, ApiError> {
    let portal::MemberCards {
        rows,
        total_fen: total,
    } = portal::cards(mb.ctx.state.app(), mb.id()).await?;
    Ok(m! {
        section.card id="portal-cards" {
            h2 { (mb.t("portal.cards.title")) }
            div.total {
                span.muted { (mb.t("portal.cards.total")) }
                b.big id="portal-balance" { (yuan(total)) }
            }
            @if rows.is_empty() {
                (empty(mb.t("portal.cards.empty"), Some(("/m/stations", mb.t("portal.cards.empty_next")))))
            } @else {
                ul.cards {
                    @for r in &rows {
                        // Two lines: the number and the balance, then the kind and state
                        // and the bonus; each line wraps rather than widening the page.
                        li.cardrow {
                            div.line {
                                span.cardno { (masked(&r.card.card_no)) }
                                @match r.balance {
                                    Some(b) => b.bal { (yuan(b)) },
                                    None => span.muted.small { (mb.t("portal.cards.pooled")) },
                                }
                            }
                            div.line.muted.small {
                                span {
                                    (label(mb, "portal.card.kind", &r.card.kind, &r.card.kind))
                                    " "
                                    span class={ "state " (r.card.state) } { (label(mb, "portal.card.state", &r.card.state, &r.card.state)) }
                                }
                                @if r.bonus > 0 {
                                    span { (fill(mb.t("portal.cards.bonus"), &[("amount", &yuan(r.bonus))])) }
                                }
                            }
                        }
                    }
                }
                @if rows.iter().any(|r| r.card.state == "frozen") {
                    p.muted.small { (mb.t("portal.cards.frozen_note")) }
                }
            }
        }
    })
}

async fn points_section(mb: &Member) -> Result<Markup, ApiError> {
    let (balance, first_expiry) = portal::points_summary(mb.ctx.state.app(), mb.id()).await?;
    let expiry = match first_expiry {
        Some((day, n)) => Some(fill(
            mb.t("portal.points.expiry"),
            &[("n", &int(n)), ("date", &day.to_string())],
        )),
        None if balance > 0 => Some(mb.t("portal.points.no_expiry").to_string()),
        None => None,
    };
    Ok(m! {
        section.card id="portal-points-card" {
            h2 { (mb.t("portal.points.title")) }
            div.total {
                span.muted { (mb.t("portal.points.balance")) }
                b.big id="portal-points" { (int(balance)) }
            }
            @if let Some(e) = expiry { p.small id="portal-points-expiry" { (e) } }
            p { a href="/m/points" { (mb.t("portal.points.history_link")) " ›" } }
        }
    })
}

fn coupon_value(mb: &Member, kind: &str, value: i64) -> String {
    match kind {
        "per_litre_off" => fill(mb.t("portal.coupon.per_litre"), &[("amount", &yuan(value))]),
        "percent_off_non_fuel" => fill(mb.t("portal.coupon.percent"), &[("n", &value.to_string())]),
        "free_car_wash" => mb.t("portal.coupon.car_wash").to_string(),
        _ => fill(mb.t("portal.coupon.amount"), &[("amount", &yuan(value))]),
    }
}

async fn coupons_section(mb: &Member) -> Result<Markup, ApiError> {
    let now = now_us();
    let coupons = portal::usable_coupons(mb.ctx.state.app(), mb.id(), now).await?;
    Ok(m! {
        section.card id="portal-coupons" {
            h2 { (mb.t("portal.coupons.title")) @if !coupons.is_empty() { " " span.count { (coupons.len()) } } }
            @if coupons.is_empty() {
                (empty(mb.t("portal.coupons.empty"), None))
            } @else {
                ul.rows {
                    @for c in &coupons {
                        li.row {
                            div.l {
                                b { (c.name.clone().unwrap_or_else(|| label(mb, "portal.coupon.kind", &c.kind, mb.t("portal.coupon.kind.payment")))) }
                                span.muted.small {
                                    (coupon_value(mb, &c.kind, c.value))
                                    @if c.min_amount_fen > 0 { " · " (fill(mb.t("portal.coupon.min"), &[("amount", &yuan(c.min_amount_fen))])) }
                                }
                                span.code.small { (c.code) }
                            }
                            div.r.small {
                                @match c.valid_until {
                                    Some(u) => (fill(mb.t("portal.coupon.until"), &[("date", &network_date(mb, u))])),
                                    None => (mb.t("portal.coupon.no_end")),
                                }
                                @if c.valid_from > now {
                                    br;
                                    (fill(mb.t("portal.coupon.from"), &[("date", &network_date(mb, c.valid_from))]))
                                }
                            }
                        }
                    }
                }
            }
        }
    })
}

async fn sales_section(mb: &Member) -> Result<Markup, ApiError> {
    // Each sale under its station's name and in its station's time, as the receipt.
    let (sales, stations) = portal::recent_sales(mb.ctx.state.app(), mb.id(), RECENT_SALES).await?;
    Ok(m! {
        section.card id="portal-sales" {
            h2 { (mb.t("portal.sales.title")) }
            @if sales.is_empty() {
                (empty(mb.t("portal.sales.empty"), Some(("/m/stations", mb.t("portal.sales.empty_next")))))
            } @else {
                ul.rows {
                    @for s in &sales {
                        li.row {
                            div.l {
                                @let station = stations.get(&s.station_code);
                                b { (station.map(|x| x.name.as_str()).unwrap_or(&s.station_code)) }
                                span.muted.small { (when(mb.lang(), s.occurred_at, station.map(|x| x.time_zone.as_str()).unwrap_or(clock::NETWORK_TZ), Shown::Minute)) }
                            }
                            div.r {
                                b { (yuan(s.net_fen)) }
                                @if s.refunded_fen > 0 {
                                    span.muted.small { (fill(mb.t("portal.sales.refunded"), &[("amount", &yuan(s.refunded_fen))])) }
                                }
                                @if s.points_earned > 0 {
                                    span.plus.small { (fill(mb.t("portal.sales.points"), &[("n", &int(s.points_earned))])) }
                                }
                            }
                        }
                    }
                }
            }
        }
    })
}

/// The inbox's unread count and the way to the service desk.
async fn service_section(mb: &Member) -> Result<Markup, ApiError> {
    let unread = portal::unread_messages(mb.ctx.state.app(), mb.id()).await?;
    Ok(m! {
        section.card id="portal-service" {
            ul.rows {
                li.row {
                    div.l {
                        a href="/m/messages" id="portal-messages-link" { b { (mb.t("portal.messages.title")) } }
                        span.muted.small {
                            @if unread > 0 {
                                (fill(mb.t("portal.messages.unread"), &[("n", &int(unread))]))
                            } @else {
                                (mb.t("portal.messages.all_read"))
                            }
                        }
                    }
                    div.r {
                        @if unread > 0 { span.count.unread id="portal-unread" { (int(unread)) } }
                    }
                }
                li.row {
                    div.l {
                        a href="/m/tickets" id="portal-tickets-link" { b { (mb.t("portal.tickets.title")) } }
                        span.muted.small { (mb.t("portal.tickets.lead")) }
                    }
                    div.r {
                        a.button.small href="/m/tickets/new" id="portal-home-ticket-new" { (mb.t("portal.ticket.new.short")) }
                    }
                }
                li.row {
                    div.l {
                        a href="/m/offers" id="portal-offers-link" { b { (mb.t("portal.offers.title")) } }
                        span.muted.small { (mb.t("portal.offers.lead")) }
                    }
                }
            }
        }
    })
}

async fn account_section(mb: &Member) -> Result<Markup, ApiError> {
    let has_password = portal::has_password(mb.ctx.state.app(), mb.id()).await?;
    Ok(m! {
        section.card id="portal-account" {
            h2 { (mb.t("portal.account.title")) }
            dl.facts {
                dt { (mb.t("portal.account.member_code")) } dd { (mb.customer.member_code) }
                dt { (mb.t("portal.account.phone")) }
                dd { (mb.customer.phone.as_deref().map(forecourt_core::person::mask_phone).unwrap_or_else(|| "—".into())) }
                dt { (mb.t("portal.account.password")) }
                dd { (mb.t(if has_password { "portal.account.password_set" } else { "portal.account.password_unset" })) }
            }
            p { a.button href="/m/password" id="portal-password-link" {
                (mb.t(if has_password { "portal.password.change" } else { "portal.password.set" }))
            } }
        }
    })
}

// ---------------------------------------------------------------- points

/// `GET /m/points?page=`: the points history, 20 lines a page, with the reason of
/// every line.
pub async fn points(mb: Member, Query(q): Query<HashMap<String, String>>) -> Response {
    let result = points_page(&mb, crate::web::pages::page_no(&q)).await;
    render(&mb, result)
}

/// Why a sale's points were given, line by line, in the member's words.
fn reason_text(mb: &Member, kind: &str, reason: &str) -> String {
    match kind {
        "base" => mb.t("portal.reason.base").to_string(),
        "tier" => mb.t("portal.reason.tier").to_string(),
        "referral" => mb.t("portal.reason.referral").to_string(),
        // Bonus and milestone lines start with the rule's name, as the network wrote it.
        _ => {
            let name = reason.split(": ").next().unwrap_or(reason).trim();
            fill(mb.t("portal.reason.rule"), &[("name", name)])
        }
    }
}

async fn points_page(mb: &Member, page: i64) -> Result<Markup, ApiError> {
    let (balance, lines, has_more) = portal::points_history(
        mb.ctx.state.app(),
        mb.id(),
        POINTS_PAGE,
        (page - 1) * POINTS_PAGE,
    )
    .await?;
    let body = m! {
        h1 { (mb.t("portal.points.title")) }
        section.card {
            div.total {
                span.muted { (mb.t("portal.points.balance")) }
                b.big id="portal-points-balance" { (int(balance)) }
            }
        }
        section.card id="portal-points-history" {
            h2 { (mb.t("portal.points.history")) }
            @if lines.is_empty() {
                @if page == 1 {
                    (empty(mb.t("portal.points.empty"), Some(("/m/stations", mb.t("portal.sales.empty_next")))))
                } @else {
                    (empty(mb.t("portal.points.past_end"), Some(("/m/points", mb.t("portal.points.first_page")))))
                }
            } @else {
                ul.rows {
                    @for l in &lines {
                        li.row {
                            div.l {
                                b { (label(mb, "portal.kind", &l.kind, mb.t("portal.kind.other"))) }
                                span.muted.small { (network_time(mb, l.occurred_at)) }
                                @if !l.reasons.is_empty() {
                                    ul.reasons {
                                        @for r in &l.reasons {
                                            li { (reason_text(mb, &r.kind, &r.reason)) " " span.plus { "+" (int(r.points)) } }
                                        }
                                    }
                                }
                            }
                            div.r {
                                @if l.points >= 0 {
                                    b.plus { "+" (int(l.points)) }
                                } @else {
                                    b.minus { (int(l.points)) }
                                }
                            }
                        }
                    }
                }
            }
            @if page > 1 || has_more {
                nav.pager aria-label=(mb.t("portal.pager.label")) {
                    @if page > 1 {
                        a rel="prev" id="portal-prev" href={ "/m/points?page=" (page - 1) } { "‹ " (mb.t("portal.pager.prev")) }
                    }
                    span { (fill(mb.t("portal.pager.page"), &[("n", &page.to_string())])) }
                    @if has_more {
                        a rel="next" id="portal-next" href={ "/m/points?page=" (page + 1) } { (mb.t("portal.pager.next")) " ›" }
                    }
                }
            }
        }
    };
    Ok(mb.page(
        mb.t("portal.points.title"),
        "portal-points-page",
        Some(Tab::Points),
        body,
    ))
}

// ---------------------------------------------------------------- stations

/// Great-circle distance in kilometres.
fn distance_km(a: (f64, f64), b: (f64, f64)) -> f64 {
    let (lat1, lon1) = (a.0.to_radians(), a.1.to_radians());
    let (lat2, lon2) = (b.0.to_radians(), b.1.to_radians());
    let h = ((lat2 - lat1) / 2.0).sin().powi(2)
        + lat1.cos() * lat2.cos() * ((lon2 - lon1) / 2.0).sin().powi(2);
    2.0 * 6371.0 * h.sqrt().asin()
}

fn place(s: &Station) -> Option<(f64, f64)> {
    match (s.lat, s.lon) {
        (Some(lat), Some(lon)) if lat.is_finite() && lon.is_finite() => Some((lat, lon)),
        _ => None,
    }
}

fn km(d: f64) -> String {
    if d < 10.0 {
        format!("{d:.1} km")
    } else {
        format!("{d:.0} km")
    }
}

/// The unit a grade is priced in, when it is a liquid fuel.
fn per_unit(mb: &Member, code: &str) -> &'static str {
    if code.starts_with("GASOLINE_") || code.starts_with("DIESEL_") {
        mb.t("portal.stations.per_litre")
    } else {
        ""
    }
}

/// The order grades are listed in.
const GRADE_ORDER: &[&str] = &[
    "GASOLINE_92",
    "GASOLINE_95",
    "GASOLINE_98",
    "DIESEL_0",
    "DIESEL_M10",
    "LNG",
    "CNG",
];

/// `GET /m/stations`: the stations with today's prices, the member's home station and
/// its region first.
pub async fn stations(mb: Member) -> Response {
    let result = stations_page(&mb).await;
    render(&mb, result)
}

async fn stations_page(mb: &Member) -> Result<Markup, ApiError> {
    let (all, mut prices) = portal::stations_and_fuel_prices(mb.ctx.state.app(), now_us()).await?;
    // Petrol first, as the pumps show it, then diesel and gas.
    let order = |code: &str| {
        GRADE_ORDER
            .iter()
            .position(|g| *g == code)
            .unwrap_or(GRADE_ORDER.len())
    };
    for list in prices.values_mut() {
        list.sort_by(|a, b| {
            order(&a.product_code)
                .cmp(&order(&b.product_code))
                .then_with(|| a.product_code.cmp(&b.product_code))
        });
    }
    let home = mb
        .customer
        .home_station_id
        .as_deref()
        .and_then(|id| all.iter().find(|s| s.station_id == id));
    let origin = home.and_then(place);
    let mut with_distance: Vec<(&Station, Option<f64>)> = all
        .iter()
        .map(|s| (s, origin.zip(place(s)).map(|(a, b)| distance_km(a, b))))
        .collect();
    // Nearest first where distances are known, then by code.
    with_distance.sort_by(|a, b| match (a.1, b.1) {
        (Some(x), Some(y)) => x.total_cmp(&y).then_with(|| a.0.code.cmp(&b.0.code)),
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => a.0.code.cmp(&b.0.code),
    });
    let is_home = |s: &Station| home.is_some_and(|h| h.station_id == s.station_id);
    let nearby = |s: &Station| {
        home.is_some_and(|h| is_home(s) || (h.region_id.is_some() && h.region_id == s.region_id))
    };
    let mut near: Vec<_> = with_distance.iter().filter(|(s, _)| nearby(s)).collect();
    near.sort_by_key(|(s, _)| !is_home(s));
    let others: Vec<_> = with_distance.iter().filter(|(s, _)| !nearby(s)).collect();
    let station = |s: &Station, d: Option<f64>| {
        let list = prices.get(&s.station_id);
        m! {
            li.station id={ "portal-station-" (s.code) } {
                div.station-head {
                    b.name { (s.name) }
                    @if is_home(s) { span.badge { (mb.t("portal.stations.home")) } }
                    @if let Some(d) = d { @if !is_home(s) { span.dist.muted.small { (km(d)) } } }
                }
                @if let Some(a) = &s.address { p.addr.muted.small { (a) } }
                @if let Some(h) = &s.opening_hours { p.muted.small { (fill(mb.t("portal.stations.hours"), &[("hours", h)])) } }
                @match list {
                    Some(list) if !list.is_empty() => {
                        ul.prices {
                            @for p in list {
                                li {
                                    span.grade { (label(mb, "portal.grade", &p.product_code, &p.product_name)) }
                                    b.price { (yuan(p.unit_price_fen)) span.muted.small { (per_unit(mb, &p.product_code)) } }
                                }
                            }
                        }
                    }
                    _ => p.muted.small { (mb.t("portal.stations.no_prices")) },
                }
            }
        }
    };
    let body = m! {
        h1 { (mb.t("portal.stations.title")) }
        @if all.is_empty() {
            (empty(mb.t("portal.stations.empty"), Some(("/m/", mb.t("portal.back")))))
        } @else {
            @if home.is_none() {
                p.muted.small { (mb.t("portal.stations.no_home")) }
            }
            @if !near.is_empty() {
                section.card id="portal-nearby" {
                    h2 { (mb.t("portal.stations.nearby")) }
                    ul.stations { @for (s, d) in &near { (station(s, *d)) } }
                }
            }
            @if !others.is_empty() {
                section.card id="portal-other-stations" {
                    h2 { (mb.t(if near.is_empty() { "portal.stations.all" } else { "portal.stations.others" })) }
                    ul.stations { @for (s, d) in &others { (station(s, *d)) } }
                }
            }
            p.muted.small { (fill(mb.t("portal.stations.prices_at"), &[("time", &network_time(mb, now_us()))])) }
        }
    };
    Ok(mb.page(
        mb.t("portal.stations.title"),
        "portal-stations",
        Some(Tab::Stations),
        body,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distances() {
        // Beijing Tiananmen to Shanghai People's Square: about 1,070 km.
        let d = distance_km((39.9087, 116.3975), (31.2304, 121.4737));
        assert!((1050.0..1090.0).contains(&d), "{d}");
        assert_eq!(distance_km((30.0, 120.0), (30.0, 120.0)), 0.0);
        assert_eq!(km(3.24), "3.2 km");
        assert_eq!(km(42.4), "42 km");
    }

    #[test]
    fn card_numbers_are_masked() {
        let no = CardNo::from_body("100001000000000123").unwrap();
        let shown = masked(no.as_str());
        assert!(shown.contains('*'));
        assert!(!shown.contains(&no.as_str()[6..15]));
        assert_eq!(masked("12"), "**");
    }
}
