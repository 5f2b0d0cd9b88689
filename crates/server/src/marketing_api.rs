//! Leaflet batches and partner merchants (SPEC F7, issue 17 items 5-6): the staff
//! routes, and the partner's own routes reached with its API key (`fpk_…`). Each
//! handler extracts, calls one use case of `forecourt_app::leaflets` or
//! `forecourt_app::partners` and answers with what it returns.

use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, Staff};
use crate::AppState;
use axum::extract::{FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use forecourt_app::leaflets::{self, BatchBody};
use forecourt_app::partners::{self, OfferBody, PartnerBody, RedeemBody};
use forecourt_store::promo::PartnerRow;
use serde::Deserialize;
use serde_json::json;

/// A partner merchant, by its API key: it reaches the partner routes and nothing else.
pub struct Partner(pub PartnerRow);

impl FromRequestParts<AppState> for Partner {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let key = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .ok_or_else(|| {
                ApiError::new("unauthorized", "send Authorization: Bearer <partner key>")
            })?;
        match partners::partner_by_key(state.app(), key).await? {
            Some(p) => Ok(Partner(p)),
            None => Err(ApiError::new(
                "unauthorized",
                "the partner key is unknown or revoked",
            )),
        }
    }
}

fn csv(name: &str, text: String) -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
        ],
        text,
    )
        .into_response()
}

/// `POST /api/v1/leaflets` → `201` the batch with its (empty) funnel.
pub async fn post_leaflet(
    State(state): State<AppState>,
    Staff(me): Staff,
    ApiJson(body): ApiJson<BatchBody>,
) -> ApiResult<Response> {
    let v = leaflets::create_batch(state.app(), &me, body).await?;
    Ok((StatusCode::CREATED, Json(v)).into_response())
}

/// `GET /api/v1/leaflets`: the batches in scope, each with its funnel.
pub async fn get_leaflets(State(state): State<AppState>, Staff(me): Staff) -> ApiResult<Response> {
    let v = leaflets::list_batches(state.app(), &me).await?;
    Ok(Json(json!({ "leaflets": v })).into_response())
}

/// `GET /api/v1/leaflets/{id}`: one batch with its funnel.
pub async fn get_leaflet(
    State(state): State<AppState>,
    Staff(me): Staff,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    Ok(Json(leaflets::get_batch(state.app(), &me, &id).await?).into_response())
}

/// `GET /api/v1/leaflets/{id}/codes.csv`: the codes for the printer.
pub async fn get_codes(
    State(state): State<AppState>,
    Staff(me): Staff,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let text = leaflets::codes_csv(state.app(), &me, &id).await?;
    Ok(csv("leaflet-codes.csv", text))
}

/// `POST /api/v1/partners` → `201` the partner with its API key (shown once).
pub async fn post_partner(
    State(state): State<AppState>,
    Staff(me): Staff,
    ApiJson(body): ApiJson<PartnerBody>,
) -> ApiResult<Response> {
    Ok(crate::reply(
        partners::create_partner(state.app(), &me, body).await?,
    ))
}

/// `GET /api/v1/partners`.
pub async fn get_partners(State(state): State<AppState>, Staff(me): Staff) -> ApiResult<Response> {
    let v = partners::list_partners(state.app(), &me).await?;
    Ok(Json(json!({ "partners": v })).into_response())
}

/// `GET /api/v1/partners/{id}`.
pub async fn get_partner(
    State(state): State<AppState>,
    Staff(me): Staff,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    Ok(Json(partners::get_partner(state.app(), &me, &id).await?).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActiveBody {
    active: bool,
}

/// `PUT /api/v1/partners/{id}/active`.
pub async fn put_active(
    State(state): State<AppState>,
    Staff(me): Staff,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<ActiveBody>,
) -> ApiResult<Response> {
    let v = partners::set_active(state.app(), &me, &id, body.active).await?;
    Ok(Json(v).into_response())
}

/// `POST /api/v1/partners/{id}/key`: a new API key; the old one stops working.
pub async fn post_key(
    State(state): State<AppState>,
    Staff(me): Staff,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    Ok(Json(partners::rotate_key(state.app(), &me, &id).await?).into_response())
}

/// `POST /api/v1/partners/{id}/offers` → `201` the offer.
pub async fn post_offer(
    State(state): State<AppState>,
    Staff(me): Staff,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<OfferBody>,
) -> ApiResult<Response> {
    let v = partners::create_offer(state.app(), &me, &id, body).await?;
    Ok((StatusCode::CREATED, Json(v)).into_response())
}

/// A month segment, `YYYY-MM` or `YYYY-MM.csv`.
fn month_of(seg: &str) -> (&str, bool) {
    match seg.strip_suffix(".csv") {
        Some(m) => (m, true),
        None => (seg, false),
    }
}

fn statement_reply(v: serde_json::Value, as_csv: bool, month: &str) -> Response {
    if as_csv {
        csv(
            &format!("partner-statement-{month}.csv"),
            partners::statement_csv(&v),
        )
    } else {
        Json(v).into_response()
    }
}

/// `GET /api/v1/partners/{id}/statements/{YYYY-MM}` (or `….csv`).
pub async fn get_statement(
    State(state): State<AppState>,
    Staff(me): Staff,
    Path((id, seg)): Path<(String, String)>,
) -> ApiResult<Response> {
    let (month, as_csv) = month_of(&seg);
    let v = partners::statement(state.app(), &me, &id, month).await?;
    Ok(statement_reply(v, as_csv, month))
}

/// `POST /api/v1/partner/redemptions` (partner key): redeems a member's code once.
pub async fn post_redemption(
    State(state): State<AppState>,
    Partner(p): Partner,
    ApiJson(body): ApiJson<RedeemBody>,
) -> ApiResult<Response> {
    Ok(Json(partners::redeem(state.app(), &p, body).await?).into_response())
}

/// `GET /api/v1/partner/statements/{YYYY-MM}` (or `….csv`, partner key): the
/// partner's own statement.
pub async fn get_own_statement(
    State(state): State<AppState>,
    Partner(p): Partner,
    Path(seg): Path<String>,
) -> ApiResult<Response> {
    let (month, as_csv) = month_of(&seg);
    let v = partners::own_statement(state.app(), &p, month).await?;
    Ok(statement_reply(v, as_csv, month))
}
