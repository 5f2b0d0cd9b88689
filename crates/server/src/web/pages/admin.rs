//! Users and roles, and the audit log.

use crate::web::{html, layout, Console};
use axum::http::StatusCode;
use axum::response::Response;
use axum::Form;
use maud::html as m;
use std::collections::HashMap;

pub async fn users(c: Console) -> Response {
    html(StatusCode::OK, layout::page(&c, c.t("nav.users"), m! {}))
}
pub async fn add_user(c: Console, Form(_f): Form<HashMap<String, String>>) -> Response {
    users(c).await
}
pub async fn audit(c: Console) -> Response {
    html(StatusCode::OK, layout::page(&c, c.t("nav.audit"), m! {}))
}
