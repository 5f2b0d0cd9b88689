//! Signing in and out of the console.

use crate::web::{call, html, layout, safe_next, see_other, Console, Ctx};
use axum::extract::Query;
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Form;
use maud::html as m;
use serde_json::json;
use std::collections::HashMap;

fn login_page(ctx: &Ctx, next: &str, username: &str, error: Option<&str>) -> maud::Markup {
    let body = m! {
        div.login {
            img src="/assets/logo.svg" alt="" width="48" height="48";
            h1 { (ctx.t("app.name")) }
            p.muted { (ctx.t("login.lead")) }
            @if let Some(e) = error { (layout::notice("error", e)) }
            form method="post" action="/login" id="login-form" {
                input type="hidden" name="next" value=(next);
                label { (ctx.t("login.username"))
                    input type="text" name="username" id="username" value=(username) required autocomplete="username" autofocus; }
                label { (ctx.t("login.password"))
                    input type="password" name="password" id="password" required autocomplete="current-password"; }
                button.primary type="submit" id="login-submit" { (ctx.t("login.submit")) }
            }
            p.muted.small { a href="/m/" { (ctx.t("login.portal_link")) } }
        }
    };
    layout::bare(ctx.lang, &ctx.path, ctx.t("login.title"), body)
}

/// `GET /login`.
pub async fn form(ctx: Ctx, Query(q): Query<HashMap<String, String>>) -> Response {
    let next = safe_next(q.get("next").map(String::as_str).unwrap_or("/"));
    html(StatusCode::OK, login_page(&ctx, next, "", None))
}

/// A browser's form from another site carries its own `Origin`; ours matches `Host`.
pub fn same_origin(headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return true;
    };
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    origin
        .split_once("://")
        .is_some_and(|(_, rest)| rest == host)
}

/// `POST /login`: signs in through the API, which sets the session cookie.
pub async fn submit(
    ctx: Ctx,
    headers: HeaderMap,
    Form(f): Form<HashMap<String, String>>,
) -> Response {
    let next = safe_next(f.get("next").map(String::as_str).unwrap_or("/")).to_string();
    let username = f.get("username").cloned().unwrap_or_default();
    if !same_origin(&headers) {
        return html(
            StatusCode::FORBIDDEN,
            login_page(&ctx, &next, &username, Some(ctx.t("err.csrf"))),
        );
    }
    let password = f.get("password").cloned().unwrap_or_default();
    let reply = call(
        &ctx,
        Method::POST,
        "/api/v1/auth/login",
        Some(json!({"username": username, "password": password})),
        None,
    )
    .await;
    if reply.ok() {
        let mut res = see_other(&next);
        if let Some(cookie) = reply.headers.get(header::SET_COOKIE) {
            res.headers_mut().insert(header::SET_COOKIE, cookie.clone());
        }
        return res;
    }
    let code = reply.body["error"]["code"].as_str().unwrap_or("");
    let text = match code {
        "rate_limited" => ctx.t("login.rate_limited"),
        "invalid_credentials" | "validation_failed" | "invalid_json" => ctx.t("login.invalid"),
        _ => ctx.t("err.unknown"),
    };
    html(
        StatusCode::UNAUTHORIZED,
        login_page(&ctx, &next, &username, Some(text)),
    )
}

/// `POST /logout`.
pub async fn logout(c: Console, Form(f): Form<HashMap<String, String>>) -> Response {
    if !c.csrf_ok(&f) {
        return super::forbidden(&c);
    }
    let reply = c.api(Method::POST, "/api/v1/auth/logout", None).await;
    let mut res = see_other("/login").into_response();
    if let Some(cookie) = reply.headers.get(header::SET_COOKIE) {
        res.headers_mut().insert(header::SET_COOKIE, cookie.clone());
    }
    res
}
