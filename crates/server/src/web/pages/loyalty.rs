//! Loyalty: rules, tiers, coupon templates and the catalogue.

use crate::web::{html, layout, Console};
use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::Response;
use axum::Form;
use maud::html as m;
use std::collections::HashMap;

pub async fn overview(c: Console) -> Response {
    html(StatusCode::OK, layout::page(&c, c.t("nav.loyalty"), m! {}))
}
pub async fn new_rule(c: Console) -> Response {
    overview(c).await
}
pub async fn edit_rule(c: Console, Path(_id): Path<String>) -> Response {
    overview(c).await
}
pub async fn save_rule(
    c: Console,
    Path(_id): Path<String>,
    Form(_f): Form<HashMap<String, String>>,
) -> Response {
    overview(c).await
}
pub async fn save_tier(
    c: Console,
    Path(_id): Path<String>,
    Form(_f): Form<HashMap<String, String>>,
) -> Response {
    overview(c).await
}
pub async fn save_template(c: Console, Form(_f): Form<HashMap<String, String>>) -> Response {
    overview(c).await
}
pub async fn save_item(c: Console, Form(_f): Form<HashMap<String, String>>) -> Response {
    overview(c).await
}
