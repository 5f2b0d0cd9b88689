//! The POS API's routes: each extracts the till and the body, calls its use case in
//! `forecourt_app::pos` and answers with what the use case returns.

use crate::error::ApiResult;
use crate::extract::{ApiJson, Pos};
use crate::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use forecourt_app::pos::{self, Answer};
use serde_json::Value;

fn respond(answer: Answer) -> Response {
    let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::OK);
    (status, Json(answer.body)).into_response()
}

/// `POST /api/v1/pos/quotes`.
pub async fn quote(
    State(state): State<AppState>,
    Pos(till): Pos,
    ApiJson(raw): ApiJson<Value>,
) -> ApiResult<Response> {
    Ok(respond(pos::quote(state.app(), till, raw).await?))
}

/// `POST /api/v1/pos/sales`.
pub async fn sale(
    State(state): State<AppState>,
    Pos(till): Pos,
    ApiJson(raw): ApiJson<Value>,
) -> ApiResult<Response> {
    let started = std::time::Instant::now();
    let result = pos::sale(state.app(), till, raw).await;
    state
        .metrics()
        .record_pos("sale", result.is_ok(), started.elapsed());
    Ok(respond(result?))
}

/// `POST /api/v1/pos/recharges`.
pub async fn recharge(
    State(state): State<AppState>,
    Pos(till): Pos,
    ApiJson(raw): ApiJson<Value>,
) -> ApiResult<Response> {
    let started = std::time::Instant::now();
    let result = pos::recharge(state.app(), till, raw).await;
    state
        .metrics()
        .record_pos("recharge", result.is_ok(), started.elapsed());
    Ok(respond(result?))
}

/// `POST /api/v1/pos/refunds`.
pub async fn refund(
    State(state): State<AppState>,
    Pos(till): Pos,
    ApiJson(raw): ApiJson<Value>,
) -> ApiResult<Response> {
    let started = std::time::Instant::now();
    let result = pos::refund(state.app(), till, raw).await;
    state
        .metrics()
        .record_pos("refund", result.is_ok(), started.elapsed());
    Ok(respond(result?))
}

/// `POST /api/v1/pos/authorizations`.
pub async fn authorize(
    State(state): State<AppState>,
    Pos(till): Pos,
    ApiJson(raw): ApiJson<Value>,
) -> ApiResult<Response> {
    Ok(respond(pos::authorize(state.app(), till, raw).await?))
}

/// `POST /api/v1/pos/authorizations/{id}/void`.
pub async fn void_authorization(
    State(state): State<AppState>,
    Pos(till): Pos,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    Ok(respond(
        pos::void_authorization(state.app(), till, &id).await?,
    ))
}
