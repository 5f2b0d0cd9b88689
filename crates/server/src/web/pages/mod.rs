//! The console's pages, one module per area, and the member portal.

mod admin;
mod analytics;
pub(super) mod auth;
mod cards;
mod care;
mod customers;
mod dashboard;
mod desk_admin;
mod loyalty;
mod marketing;
mod surveys;
mod tickets;

use super::{html, layout, ApiFailure, Console};
use crate::AppState;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use maud::html as m;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(dashboard::page))
        .route("/login", get(auth::form).post(auth::submit))
        .route("/logout", post(auth::logout))
        .route("/customers", get(customers::search).post(customers::create))
        .route("/customers/{id}", get(customers::profile))
        .route("/customers/{id}/tier", post(customers::tier_override))
        .route("/customers/{id}/coupons", post(customers::issue_coupon))
        .route("/cards", get(cards::lookup).post(cards::issue))
        .route("/cards/{no}", get(cards::card))
        .route("/cards/{no}/recharge", post(cards::recharge))
        .route("/cards/{no}/state", post(cards::set_state))
        .route("/cards/{no}/replace", post(cards::replace))
        .route("/cards/{no}/limits", post(cards::limits))
        .route("/cards/{no}/allocate", post(cards::allocate))
        .route("/loyalty", get(loyalty::overview))
        .route("/loyalty/rules/new", get(loyalty::new_rule))
        .route("/loyalty/rules/new-rule", post(loyalty::save_new_rule))
        .route(
            "/loyalty/rules/{id}",
            get(loyalty::edit_rule).post(loyalty::save_rule),
        )
        .route("/loyalty/tiers/{code}", post(loyalty::save_tier))
        .route("/loyalty/templates", post(loyalty::save_template))
        .route("/loyalty/catalogue", post(loyalty::save_item))
        .route("/tickets", get(tickets::queue))
        .route("/tickets/new", get(tickets::new).post(tickets::create))
        .route("/tickets/{id}", get(tickets::ticket))
        .route("/tickets/{id}/events", post(tickets::step))
        .route("/surveys", get(surveys::index).post(surveys::create))
        .route("/surveys/{id}", get(surveys::results))
        .route("/surveys/{id}/invitations", post(surveys::invite))
        .route("/admin/service-desk", get(desk_admin::settings))
        .route(
            "/admin/service-desk/calendars",
            post(desk_admin::save_calendar),
        )
        .route("/admin/service-desk/stations", post(desk_admin::assign))
        .route(
            "/admin/service-desk/policies",
            post(desk_admin::save_policy),
        )
        .route("/care", get(care::index))
        .route("/care/run", post(care::run))
        .route("/care/{kind}", get(care::sent).post(care::save))
        .route("/leaflets", get(marketing::index).post(marketing::create))
        .route("/leaflets/{id}", get(marketing::batch))
        .route(
            "/partners",
            get(marketing::partners_index).post(marketing::partner_create),
        )
        .route("/partners/{id}", get(marketing::partner))
        .route("/partners/{id}/offers", post(marketing::offer_create))
        .route("/partners/{id}/key", post(marketing::new_key))
        .route("/partners/{id}/active", post(marketing::set_active))
        .route("/analytics", get(analytics::index))
        .route("/analytics/{view}", get(analytics::view))
        .route("/admin/users", get(admin::users).post(admin::add_user))
        .route("/admin/audit", get(admin::audit))
        .merge(super::portal::routes())
}

/// The words for an API error: the catalogue's text for its code, with the API's own
/// message (which names the field) when the code is a validation error or unknown.
pub fn failure_text(c: &Console, f: &ApiFailure) -> String {
    let key = format!("err.{}", f.code);
    match super::i18n::lookup(c.lang(), &key) {
        Some(text) if f.code == "face_value_cap" => {
            // The cap is the card's own (personal and anonymous cards differ, a
            // company card may have one by contract): the figures come with the error.
            let yuan = |k: &str| f.details[k].as_i64().map(super::yuan).unwrap_or_default();
            super::i18n::fill(
                text,
                &[
                    ("cap", &yuan("cap_fen")),
                    ("would_be", &yuan("would_be_fen")),
                ],
            )
        }
        Some(text) if f.code != "validation_failed" => text.to_string(),
        Some(text) => format!("{text} {}", f.message),
        None if f.message.is_empty() => c.t("err.unknown").to_string(),
        None => f.message.clone(),
    }
}

/// A page that could not be shown: the error in the frame, with the right status.
pub fn failed(c: &Console, title: &str, f: &ApiFailure) -> Response {
    let status = if f.status.is_client_error() || f.status.is_server_error() {
        f.status
    } else {
        StatusCode::BAD_GATEWAY
    };
    html(
        status,
        layout::page(
            c,
            title,
            m! { (layout::notice("error", &failure_text(c, f))) },
        ),
    )
}

/// The page's action is not the user's role's: the same answer the API would give,
/// before any work.
pub fn deny(c: &Console, action: crate::access::Action) -> Option<Response> {
    if c.may(action) {
        return None;
    }
    Some(failed(
        c,
        c.t("err.title"),
        &ApiFailure {
            status: StatusCode::FORBIDDEN,
            code: "forbidden".into(),
            message: String::new(),
            details: serde_json::Value::Null,
        },
    ))
}

/// A form that was not ours (wrong or missing CSRF token).
pub fn forbidden(c: &Console) -> Response {
    html(
        StatusCode::FORBIDDEN,
        layout::page(
            c,
            c.t("err.title"),
            m! { (layout::notice("error", c.t("err.csrf"))) },
        ),
    )
}

/// `?page=` as a number from 1.
pub fn page_no(q: &std::collections::HashMap<String, String>) -> i64 {
    q.get("page")
        .and_then(|p| p.parse::<i64>().ok())
        .filter(|p| (1..=100_000).contains(p))
        .unwrap_or(1)
}
