//! Analytics: RFM, ABC, lifecycle, CLV and the demand forecast.

use crate::web::{html, layout, Console};
use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::Response;
use maud::html as m;

pub async fn index(c: Console) -> Response {
    html(
        StatusCode::OK,
        layout::page(&c, c.t("nav.analytics"), m! {}),
    )
}
pub async fn view(c: Console, Path(_v): Path<String>) -> Response {
    index(c).await
}
