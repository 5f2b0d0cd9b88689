//! Back-office ledger operations: adapters over `forecourt_app::ledger_ops`
//! (maker-checker adjustments, credit payments and statements).

use crate::error::ApiResult;
use crate::extract::{ApiJson, Staff};
use crate::AppState;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use forecourt_app::ledger_ops::{
    self as ops, AdjustmentBody, AdjustmentQuery, CreditPaymentBody, StatementQuery,
};

/// `POST /api/v1/adjustments`: asks for a manual adjustment; nothing moves until a
/// second person approves it.
pub async fn post_adjustment(
    State(state): State<AppState>,
    Staff(me): Staff,
    ApiJson(b): ApiJson<AdjustmentBody>,
) -> ApiResult<Response> {
    Ok(crate::reply(
        ops::request_adjustment(state.app(), &me, b).await?,
    ))
}

pub async fn get_adjustments(
    State(state): State<AppState>,
    Staff(me): Staff,
    Query(q): Query<AdjustmentQuery>,
) -> ApiResult<Response> {
    Ok(Json(ops::adjustments(state.app(), &me, q).await?).into_response())
}

/// `POST /api/v1/adjustments/{id}/approve` or `/reject`: the second person decides;
/// an approval posts the adjustment to the ledger.
pub async fn decide_adjustment(
    State(state): State<AppState>,
    Staff(me): Staff,
    Path((id, decision)): Path<(String, String)>,
) -> ApiResult<Response> {
    Ok(Json(ops::decide_adjustment(state.app(), &me, id, decision).await?).into_response())
}

/// `POST /api/v1/customers/{id}/credit/payments`: money received against what the
/// customer owes on account.
pub async fn post_credit_payment(
    State(state): State<AppState>,
    Staff(me): Staff,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<CreditPaymentBody>,
) -> ApiResult<Response> {
    Ok(crate::reply(
        ops::receive_credit_payment(state.app(), &me, id, b).await?,
    ))
}

/// `GET /api/v1/customers/{id}/statement?month=YYYY-MM`: the monthly statement of a
/// credit customer: opening balance, every sale, refund and payment, closing balance.
pub async fn get_statement(
    State(state): State<AppState>,
    Staff(me): Staff,
    Path(id): Path<String>,
    Query(q): Query<StatementQuery>,
) -> ApiResult<Response> {
    Ok(Json(ops::statement(state.app(), &me, id, q).await?).into_response())
}
