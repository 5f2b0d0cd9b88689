//! Signing in to the portal (a card and its PIN, or a phone and the portal password),
//! signing out, and setting the portal password.

use super::{frame, Member};
use crate::member::{self, Refusal, MEMBER_COOKIE};
use crate::web::i18n::fill;
use crate::web::layout::notice;
use crate::web::pages::auth::same_origin;
use crate::web::{cookie, html, see_other, Ctx};
use axum::extract::Query;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use axum::Form;
use forecourt_core::person::mask_phone;
use maud::{html as m, Markup};
use std::collections::HashMap;

/// Only a portal page may be where a sign-in leads (no way out of `/m/` by `..`).
fn portal_next(next: Option<&String>) -> String {
    let next = crate::web::safe_next_or(next.map(String::as_str).unwrap_or("/m/"), "/m/");
    if (next == "/m" || next.starts_with("/m/")) && !next.contains("..") {
        next.to_string()
    } else {
        "/m/".to_string()
    }
}

/// What the sign-in forms show again after a refusal.
#[derive(Default)]
struct Typed<'a> {
    card_no: &'a str,
    phone: &'a str,
    error: Option<String>,
}

fn login_page(ctx: &Ctx, next: &str, typed: &Typed) -> Markup {
    let body = m! {
        div.login {
            h1 { (ctx.t("portal.login.title")) }
            p.muted { (ctx.t("portal.login.lead")) }
            @if let Some(e) = &typed.error { (notice("error", e)) }
            section.card {
                h2 { (ctx.t("portal.login.by_card")) }
                form.stack method="post" action="/m/login" id="portal-card-form" {
                    input type="hidden" name="next" value=(next);
                    input type="hidden" name="via" value="card";
                    label { (ctx.t("portal.login.card_no"))
                        input type="text" name="card_no" id="portal-card-no" value=(typed.card_no)
                            inputmode="numeric" autocomplete="off" maxlength="40" required placeholder=(ctx.t("portal.login.card_no_hint")); }
                    label { (ctx.t("portal.login.pin"))
                        input type="password" name="pin" id="portal-pin" inputmode="numeric"
                            maxlength="6" autocomplete="current-password" required; }
                    button.primary type="submit" id="portal-card-login" { (ctx.t("portal.login.submit")) }
                }
            }
            section.card {
                h2 { (ctx.t("portal.login.by_phone")) }
                form.stack method="post" action="/m/login" id="portal-phone-form" {
                    input type="hidden" name="next" value=(next);
                    input type="hidden" name="via" value="phone";
                    label { (ctx.t("portal.login.phone"))
                        input type="tel" name="phone" id="portal-phone" value=(typed.phone)
                            inputmode="tel" autocomplete="tel" maxlength="20" required; }
                    label { (ctx.t("portal.login.password"))
                        input type="password" name="password" id="portal-password"
                            autocomplete="current-password" maxlength="200" required; }
                    button.primary type="submit" id="portal-phone-login" { (ctx.t("portal.login.submit")) }
                }
                p.muted.small { (ctx.t("portal.login.no_password")) }
            }
        }
    };
    frame(ctx, ctx.t("portal.login.title"), "portal-login", None, body)
}

/// `GET /m/login`: the sign-in forms, or home for a member already signed in.
pub async fn form(
    ctx: Ctx,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let next = portal_next(q.get("next"));
    if let Some(token) = cookie(&headers, MEMBER_COOKIE) {
        if let Ok(Some(_)) = member::session_member(&ctx.state, token).await {
            return see_other(&next);
        }
    }
    html(StatusCode::OK, login_page(&ctx, &next, &Typed::default()))
}

/// `POST /m/login`: either form. A success sets the session cookie and goes on to
/// `next`; a refusal shows the forms again with what went wrong.
pub async fn submit(
    ctx: Ctx,
    headers: HeaderMap,
    Form(f): Form<HashMap<String, String>>,
) -> Response {
    let next = portal_next(f.get("next"));
    let field = |k: &str| f.get(k).map(String::as_str).unwrap_or("");
    let via = field("via");
    let mut typed = Typed {
        card_no: field("card_no").trim(),
        phone: field("phone").trim(),
        error: None,
    };
    if typed.card_no.chars().count() > 40 {
        typed.card_no = "";
    }
    if typed.phone.chars().count() > 20 {
        typed.phone = "";
    }
    if !same_origin(&headers) {
        typed.error = Some(ctx.t("portal.err.csrf").to_string());
        return html(StatusCode::FORBIDDEN, login_page(&ctx, &next, &typed));
    }
    let state = &ctx.state;
    let source = ctx.source.as_deref();
    let result = if via == "phone" || (via.is_empty() && !typed.phone.is_empty()) {
        member::sign_in_phone(state, source, typed.phone, field("password")).await
    } else {
        member::sign_in_card(state, source, typed.card_no, field("pin")).await
    };
    let refusal = match result {
        Ok(customer_id) => match member::open_session(state, &customer_id).await {
            Ok(token) => {
                let mut res = see_other(&next);
                if let Ok(v) = HeaderValue::from_str(&member::session_cookie(state, &token)) {
                    res.headers_mut().insert(header::SET_COOKIE, v);
                }
                return res;
            }
            Err(e) => Refusal::Failed(e.into()),
        },
        Err(r) => r,
    };
    let cfg = state.config();
    let (status, text) = match refusal {
        Refusal::Invalid if via == "phone" => (
            StatusCode::UNAUTHORIZED,
            fill(
                ctx.t("portal.login.phone_invalid"),
                &[
                    ("n", &cfg.login_failures_max.to_string()),
                    ("m", &(cfg.lockout_secs / 60).to_string()),
                ],
            ),
        ),
        Refusal::Invalid => (
            StatusCode::UNAUTHORIZED,
            fill(
                ctx.t("portal.login.card_invalid"),
                &[("n", &cfg.pin_tries_max.to_string())],
            ),
        ),
        Refusal::RateLimited => (
            StatusCode::TOO_MANY_REQUESTS,
            ctx.t("portal.login.rate_limited").to_string(),
        ),
        Refusal::Failed(e) => {
            tracing::error!(error = %e.message, "portal sign-in failed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                ctx.t("portal.err.unknown").to_string(),
            )
        }
    };
    typed.error = Some(text);
    html(status, login_page(&ctx, &next, &typed))
}

/// `POST /m/logout`: ends the session (CSRF protected).
pub async fn logout(mb: Member, Form(f): Form<HashMap<String, String>>) -> Response {
    if !mb.csrf_ok(&f) {
        return mb.forbidden();
    }
    if let Err(e) = member::close_session(&mb.ctx.state, &mb.token).await {
        return mb.failed(&e.into());
    }
    let mut res = see_other("/m/login");
    if let Ok(v) = HeaderValue::from_str(&member::clear_cookie(&mb.ctx.state)) {
        res.headers_mut().insert(header::SET_COOKIE, v);
    }
    res
}

fn password_page(mb: &Member, has_password: bool, error: Option<&str>) -> Markup {
    let body = m! {
        h1 { (mb.t(if has_password { "portal.password.change" } else { "portal.password.set" })) }
        p.muted { (mb.t("portal.password.lead")) }
        @match &mb.customer.phone {
            Some(p) => p.muted { (fill(mb.t("portal.password.phone"), &[("phone", &mask_phone(p))])) },
            None => (notice("warn", mb.t("portal.password.no_phone"))),
        }
        @if let Some(e) = error { (notice("error", e)) }
        section.card {
            form.stack method="post" action="/m/password" id="portal-password-form" {
                input type="hidden" name="_csrf" value=(mb.csrf());
                label { (mb.t(if has_password { "portal.password.current" } else { "portal.password.current_pin" }))
                    input type="password" name="current" id="portal-current" autocomplete="current-password" maxlength="200" required; }
                label { (fill(mb.t("portal.password.new"), &[("n", &member::PASSWORD_CHARS_MIN.to_string())]))
                    input type="password" name="new_password" id="portal-new-password" autocomplete="new-password"
                        minlength=(member::PASSWORD_CHARS_MIN) maxlength=(member::PASSWORD_CHARS_MAX) required; }
                label { (mb.t("portal.password.confirm"))
                    input type="password" name="confirm" id="portal-confirm-password" autocomplete="new-password"
                        maxlength=(member::PASSWORD_CHARS_MAX) required; }
                button.primary type="submit" id="portal-password-save" { (mb.t("portal.password.save")) }
            }
        }
        p { a href="/m/" { "‹ " (mb.t("portal.back")) } }
    };
    mb.page(
        mb.t("portal.password.title"),
        "portal-password-page",
        None,
        body,
    )
}

async fn has_password(mb: &Member) -> Result<bool, crate::error::ApiError> {
    Ok(forecourt_app::portal::has_password(mb.ctx.state.app(), mb.id()).await?)
}

/// `GET /m/password`: the form to set or change the portal password.
pub async fn password_form(mb: Member) -> Response {
    match has_password(&mb).await {
        Ok(has) => html(StatusCode::OK, password_page(&mb, has, None)),
        Err(e) => mb.failed(&e),
    }
}

/// `POST /m/password`: with the current password or a card's PIN, sets the new one.
/// The member's other portal sessions end.
pub async fn password_submit(mb: Member, Form(f): Form<HashMap<String, String>>) -> Response {
    if !mb.csrf_ok(&f) {
        return mb.forbidden();
    }
    let has = match has_password(&mb).await {
        Ok(h) => h,
        Err(e) => return mb.failed(&e),
    };
    let field = |k: &str| f.get(k).map(String::as_str).unwrap_or("");
    let refuse = |status: StatusCode, text: &str| html(status, password_page(&mb, has, Some(text)));
    let state = &mb.ctx.state;
    if !state.limiter().allow(
        &format!("member-password:{}", mb.id()),
        state.config().logins_per_minute.min(10),
    ) {
        return refuse(
            StatusCode::TOO_MANY_REQUESTS,
            mb.t("portal.login.rate_limited"),
        );
    }
    let new = field("new_password");
    if new != field("confirm") {
        return refuse(
            StatusCode::UNPROCESSABLE_ENTITY,
            mb.t("portal.password.mismatch"),
        );
    }
    if member::check_password_rules(new).is_err() {
        let text = fill(
            mb.t("portal.password.rules"),
            &[
                ("n", &member::PASSWORD_CHARS_MIN.to_string()),
                ("max", &member::PASSWORD_CHARS_MAX.to_string()),
            ],
        );
        return refuse(StatusCode::UNPROCESSABLE_ENTITY, &text);
    }
    match member::current_secret_matches(state, &mb.customer, field("current")).await {
        Ok(true) => {}
        Ok(false) => {
            return refuse(StatusCode::FORBIDDEN, mb.t("portal.password.wrong_current"));
        }
        Err(e) => return mb.failed(&e.into()),
    }
    match member::change_password(state, mb.id(), new, &mb.token, mb.ctx.source.as_deref()).await {
        Ok(()) => see_other("/m/?done=password"),
        Err(e) => mb.failed(&e),
    }
}
