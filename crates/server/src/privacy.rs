//! PIPL rights and the audit trail: adapters over `forecourt_app::privacy` (export,
//! anonymisation, consent, the audit log and the ledger check).

use crate::error::ApiResult;
use crate::extract::{ApiJson, Staff};
use crate::AppState;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use forecourt_app::privacy::{self, AuditQuery, ConsentBody};

pub use forecourt_app::audit::{audit, audit_in};

/// `GET /api/v1/customers/{id}/export`: everything held about the person, unmasked
/// (the PIPL access right), as JSON.
pub async fn export(
    State(state): State<AppState>,
    Staff(me): Staff,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    Ok(Json(privacy::export(state.app(), &me, &id).await?).into_response())
}

/// `POST /api/v1/customers/{id}/anonymize`: erases the person's personal data (the PIPL
/// deletion right).
pub async fn anonymize(
    State(state): State<AppState>,
    Staff(me): Staff,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    Ok(Json(privacy::anonymize(state.app(), &me, &id).await?).into_response())
}

/// `POST /api/v1/customers/{id}/consents`: records consent to a purpose or its
/// withdrawal.
pub async fn post_consent(
    State(state): State<AppState>,
    Staff(me): Staff,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<ConsentBody>,
) -> ApiResult<Response> {
    Ok(Json(privacy::record_consent(state.app(), &me, &id, b).await?).into_response())
}

/// `GET /api/v1/audit`: the newest audit entries in the caller's scope.
pub async fn get_audit(
    State(state): State<AppState>,
    Staff(me): Staff,
    Query(q): Query<AuditQuery>,
) -> ApiResult<Response> {
    Ok(Json(privacy::audit_entries(state.app(), &me, q).await?).into_response())
}

/// `GET /api/v1/ledger/check`: the same check as `forecourt check`, for monitoring.
pub async fn get_check(State(state): State<AppState>, Staff(me): Staff) -> ApiResult<Response> {
    Ok(Json(privacy::check(state.app(), &me).await?).into_response())
}
