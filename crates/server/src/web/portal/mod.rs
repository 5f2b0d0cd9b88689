//! The member portal (`/m/`): a phone-first site where members sign in with a card and
//! its PIN or with their phone and a portal password, and see their tier, cards,
//! points, coupons, purchases and the network's stations and prices.
//!
//! Unlike the console, the portal does not call the staff API: a member is not a staff
//! user. Every read goes to the store directly and is keyed by the customer id of the
//! member's session ([`Member`]), never by anything the request names, so a member can
//! only ever see their own data. Pages are server-rendered, with no script; the frame
//! fits a 390 px wide screen.
//!
//! The member's service desk is here too: complaints and suggestions sent from the
//! portal, the member's tickets, the in-app inbox (`desk`), and the survey page of an
//! invitation (`/s/{token}`, `survey`), which needs no sign-in: its token is the
//! authority.

mod auth;
mod desk;
mod offers;
mod pages;
mod survey;
mod unsubscribe;

use super::i18n::{self, Lang};
use super::layout::{lang_switch, notice};
use super::{cookie, html, percent_encode, Ctx};
use crate::member::{self, MEMBER_COOKIE};
use crate::AppState;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use forecourt_store::Customer;
use maud::{html as m, Markup, DOCTYPE};
use std::collections::HashMap;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/m", get(|| async { Redirect::permanent("/m/") }))
        .route("/m/", get(pages::home))
        .route("/m/points", get(pages::points))
        .route("/m/stations", get(pages::stations))
        .route("/m/tickets", get(desk::list))
        .route("/m/tickets/new", get(desk::new_form).post(desk::new_submit))
        .route("/m/tickets/{id}", get(desk::show))
        .route("/m/messages", get(desk::messages))
        .route("/m/offers", get(offers::list))
        .route("/m/offers/{id}/claim", post(offers::claim))
        .route("/m/messages/{id}", get(desk::message))
        .route("/s/{token}", get(survey::show).post(survey::submit))
        .route("/s/{token}/decline", post(survey::decline))
        .route(
            "/u/{token}",
            get(unsubscribe::show).post(unsubscribe::submit),
        )
        .route("/m/login", get(auth::form).post(auth::submit))
        .route("/m/logout", post(auth::logout))
        .route(
            "/m/password",
            get(auth::password_form).post(auth::password_submit),
        )
}

/// A signed-in member: the request's context, the member's record and the session's
/// token (which only the cookie carries).
pub struct Member {
    pub ctx: Ctx,
    pub customer: Customer,
    token: String,
}

impl Member {
    pub fn t(&self, key: &str) -> &'static str {
        self.ctx.t(key)
    }

    pub fn lang(&self) -> Lang {
        self.ctx.lang
    }

    pub fn id(&self) -> &str {
        &self.customer.customer_id
    }

    /// The token every form of this session carries.
    pub fn csrf(&self) -> String {
        member::csrf_token(&self.ctx.state, &self.token)
    }

    /// Whether a form's CSRF token belongs to this session.
    pub fn csrf_ok(&self, form: &HashMap<String, String>) -> bool {
        let sent = form.get("_csrf").map(String::as_str).unwrap_or("");
        member::csrf_matches(&self.ctx.state, &self.token, sent)
    }

    /// A page of the portal in the member's frame.
    pub fn page(&self, title: &str, main_id: &str, tab: Option<Tab>, content: Markup) -> Markup {
        frame(&self.ctx, title, main_id, Some((self, tab)), content)
    }

    /// A page that could not be shown: what happened, in the frame.
    pub fn failed(&self, e: &crate::error::ApiError) -> Response {
        let status = if e.status() == StatusCode::SERVICE_UNAVAILABLE {
            StatusCode::SERVICE_UNAVAILABLE
        } else {
            StatusCode::INTERNAL_SERVER_ERROR
        };
        html(
            status,
            self.page(
                self.t("portal.err.title"),
                "portal-error",
                None,
                m! { (notice("error", self.t("portal.err.unknown"))) },
            ),
        )
    }

    /// A form that was not ours (wrong or missing CSRF token).
    pub fn forbidden(&self) -> Response {
        html(
            StatusCode::FORBIDDEN,
            self.page(
                self.t("portal.err.title"),
                "portal-error",
                None,
                m! { (notice("error", self.t("portal.err.csrf"))) },
            ),
        )
    }
}

/// Not signed in (or the session ended): to the sign-in page, then back here.
pub struct ToLogin {
    next: String,
    clear: Option<String>,
}

impl IntoResponse for ToLogin {
    fn into_response(self) -> Response {
        let to = format!("/m/login?next={}", percent_encode(&self.next));
        let mut res = Redirect::to(&to).into_response();
        if let Some(c) = self.clear.and_then(|c| c.parse().ok()) {
            res.headers_mut().insert(header::SET_COOKIE, c);
        }
        res
    }
}

impl FromRequestParts<AppState> for Member {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let ctx = Ctx::from_request_parts(parts, state)
            .await
            .unwrap_or_else(|e| match e {});
        let next = if parts.method == axum::http::Method::GET {
            ctx.path.clone()
        } else {
            "/m/".to_string()
        };
        let Some(token) = cookie(&parts.headers, MEMBER_COOKIE).map(str::to_string) else {
            return Err(ToLogin { next, clear: None }.into_response());
        };
        match member::session_member(state, &token).await {
            Ok(Some(customer)) => Ok(Member {
                ctx,
                customer,
                token,
            }),
            Ok(None) => Err(ToLogin {
                next,
                clear: Some(member::clear_cookie(state)),
            }
            .into_response()),
            Err(e) => {
                let e = crate::error::ApiError::from(e);
                tracing::error!(error = %e.message, "portal session lookup failed");
                Err(html(
                    StatusCode::SERVICE_UNAVAILABLE,
                    frame(
                        &ctx,
                        ctx.t("portal.err.title"),
                        "portal-error",
                        None,
                        m! { (notice("error", ctx.t("portal.err.unknown"))) },
                    ),
                ))
            }
        }
    }
}

/// The tabs of the bottom bar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tab {
    Home,
    Points,
    Stations,
    Service,
    Messages,
}

const TABS: &[(Tab, &str, &str, &str)] = &[
    (Tab::Home, "/m/", "portal.tab.home", "portal-tab-home"),
    (
        Tab::Points,
        "/m/points",
        "portal.tab.points",
        "portal-tab-points",
    ),
    (
        Tab::Stations,
        "/m/stations",
        "portal.tab.stations",
        "portal-tab-stations",
    ),
    (
        Tab::Service,
        "/m/tickets",
        "portal.tab.service",
        "portal-tab-service",
    ),
    (
        Tab::Messages,
        "/m/messages",
        "portal.tab.messages",
        "portal-tab-messages",
    ),
];

/// A small line icon of a tab (inline SVG: no request, no style attribute).
fn tab_icon(tab: Tab) -> Markup {
    let path = match tab {
        Tab::Home => "M3 11.5 12 4l9 7.5M5.5 9.5V20h13V9.5M10 20v-5.5h4V20",
        Tab::Points => "M12 3.5l2.6 5.3 5.9.9-4.3 4.1 1 5.8-5.2-2.7-5.2 2.7 1-5.8-4.3-4.1 5.9-.9z",
        Tab::Stations => "M5 20V5.5A1.5 1.5 0 0 1 6.5 4h6A1.5 1.5 0 0 1 14 5.5V20M3.5 20h12M7.5 8h4M14 10h2.5a1.5 1.5 0 0 1 1.5 1.5V16a1.5 1.5 0 0 0 3 0V8.5L18.5 6",
        Tab::Service => "M4 5.5A1.5 1.5 0 0 1 5.5 4h13A1.5 1.5 0 0 1 20 5.5v9a1.5 1.5 0 0 1-1.5 1.5H10l-4.5 4v-4h0A1.5 1.5 0 0 1 4 14.5zM8 8.5h8M8 12h5",
        Tab::Messages => "M3.5 6.5A1.5 1.5 0 0 1 5 5h14a1.5 1.5 0 0 1 1.5 1.5v11A1.5 1.5 0 0 1 19 19H5a1.5 1.5 0 0 1-1.5-1.5zM4 6.5l8 6 8-6",
    };
    m! {
        svg.icon viewBox="0 0 24 24" width="24" height="24" aria-hidden="true" focusable="false" {
            path d=(path) fill="none" stroke="currentColor" stroke-width="1.8" stroke-linecap="round" stroke-linejoin="round" {}
        }
    }
}

/// The portal's frame: a top bar (name, language, sign-out), the page, and for a
/// signed-in member the tab bar at the bottom.
fn frame(
    ctx: &Ctx,
    title: &str,
    main_id: &str,
    member: Option<(&Member, Option<Tab>)>,
    content: Markup,
) -> Markup {
    let lang = ctx.lang;
    m! {
        (DOCTYPE)
        html lang=(lang.code()) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1, viewport-fit=cover";
                meta name="theme-color" content="#0b5cad";
                meta name="format-detection" content="telephone=no";
                title { (title) " · " (i18n::t(lang, "portal.title")) }
                link rel="stylesheet" href="/assets/portal.css";
                link rel="icon" href="/assets/logo.svg" type="image/svg+xml";
            }
            body.portal.signed-in[member.is_some()] {
                header.bar {
                    a.brand href="/m/" {
                        img src="/assets/logo.svg" alt="" width="24" height="24";
                        span { (i18n::t(lang, "portal.title")) }
                    }
                    div.tools {
                        (lang_switch(lang, &ctx.path))
                        @if let Some((mb, _)) = member {
                            form.inline method="post" action="/m/logout" {
                                input type="hidden" name="_csrf" value=(mb.csrf());
                                button.link type="submit" id="portal-logout" { (i18n::t(lang, "portal.logout")) }
                            }
                        }
                    }
                }
                main id=(main_id) {
                    (content)
                }
                @if let Some((_, tab)) = member {
                    nav.tabs aria-label=(i18n::t(lang, "portal.tab.label")) {
                        @for (t, href, key, id) in TABS {
                            a href=(href) id=(id) class=[(tab == Some(*t)).then_some("active")] aria-current=[(tab == Some(*t)).then_some("page")] {
                                (tab_icon(*t))
                                span { (i18n::t(lang, key)) }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// What to show when a list is empty: what it means and what to do next.
pub fn empty(text: &str, next: Option<(&str, &str)>) -> Markup {
    m! {
        div.empty {
            p { (text) }
            @if let Some((href, label)) = next { a.button href=(href) { (label) } }
        }
    }
}
