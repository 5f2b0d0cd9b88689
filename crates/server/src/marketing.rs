//! Marketing (SPEC "Marketing"): segments, campaigns, the contact settings and the
//! do-not-contact list. Each handler extracts, calls one use case of
//! `forecourt_app::{segments, campaigns, contact}` and answers with what it returns.

use crate::error::ApiResult;
use crate::extract::{ApiJson, Staff};
use crate::AppState;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use forecourt_app::campaigns::{self, CampaignBody};
use forecourt_app::contact::{self, MarketingSettings};
use forecourt_app::segments::{self, PreviewBody, SegmentBody};
use serde::Deserialize;

/// `POST /api/v1/segments` → `201 {id, size}`.
pub async fn post_segment(
    State(state): State<AppState>,
    Staff(me): Staff,
    ApiJson(body): ApiJson<SegmentBody>,
) -> ApiResult<Response> {
    let v = segments::create(state.app(), &me, body).await?;
    Ok((StatusCode::CREATED, Json(v)).into_response())
}

/// `GET /api/v1/segments`.
pub async fn get_segments(State(state): State<AppState>, Staff(me): Staff) -> ApiResult<Response> {
    Ok(Json(segments::list(state.app(), &me).await?).into_response())
}

/// `POST /api/v1/segments/preview` → `{size}`.
pub async fn post_preview(
    State(state): State<AppState>,
    Staff(me): Staff,
    ApiJson(body): ApiJson<PreviewBody>,
) -> ApiResult<Response> {
    Ok(Json(segments::preview(state.app(), &me, body).await?).into_response())
}

/// `GET /api/v1/segments/{id}`.
pub async fn get_segment(
    State(state): State<AppState>,
    Staff(me): Staff,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    Ok(Json(segments::get(state.app(), &me, &id).await?).into_response())
}

#[derive(Deserialize)]
pub struct PageQuery {
    page: Option<usize>,
}

/// `GET /api/v1/segments/{id}/members?page=`.
pub async fn get_members(
    State(state): State<AppState>,
    Staff(me): Staff,
    Path(id): Path<String>,
    Query(q): Query<PageQuery>,
) -> ApiResult<Response> {
    Ok(Json(segments::members(state.app(), &me, &id, q.page).await?).into_response())
}

/// `POST /api/v1/campaigns` → `201 {id, state: "draft"}`.
pub async fn post_campaign(
    State(state): State<AppState>,
    Staff(me): Staff,
    ApiJson(body): ApiJson<CampaignBody>,
) -> ApiResult<Response> {
    let v = campaigns::create(state.app(), &me, body).await?;
    Ok((StatusCode::CREATED, Json(v)).into_response())
}

/// `GET /api/v1/campaigns`.
pub async fn get_campaigns(State(state): State<AppState>, Staff(me): Staff) -> ApiResult<Response> {
    Ok(Json(campaigns::list(state.app(), &me).await?).into_response())
}

/// `GET /api/v1/campaigns/{id}`.
pub async fn get_campaign(
    State(state): State<AppState>,
    Staff(me): Staff,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    Ok(Json(campaigns::get(state.app(), &me, &id).await?).into_response())
}

/// `POST /api/v1/campaigns/{id}/launch` → `200`.
pub async fn post_launch(
    State(state): State<AppState>,
    Staff(me): Staff,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    Ok(Json(campaigns::launch(state.app(), &me, &id).await?).into_response())
}

/// `GET /api/v1/campaigns/{id}/results`.
pub async fn get_results(
    State(state): State<AppState>,
    Staff(me): Staff,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    Ok(Json(campaigns::results(state.app(), &me, &id).await?).into_response())
}

/// `GET /api/v1/marketing/settings`.
pub async fn get_settings(State(state): State<AppState>, Staff(me): Staff) -> ApiResult<Response> {
    Ok(Json(contact::get_settings(state.app(), &me).await?).into_response())
}

/// `PUT /api/v1/marketing/settings` (admins).
pub async fn put_settings(
    State(state): State<AppState>,
    Staff(me): Staff,
    ApiJson(body): ApiJson<MarketingSettings>,
) -> ApiResult<Response> {
    Ok(Json(contact::put_settings(state.app(), &me, body).await?).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DoNotContactBody {
    channel: String,
    reason: String,
}

/// `POST /api/v1/customers/{id}/do-not-contact` → `201 {entries}`.
pub async fn post_do_not_contact(
    State(state): State<AppState>,
    Staff(me): Staff,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<DoNotContactBody>,
) -> ApiResult<Response> {
    let v = contact::add_do_not_contact(state.app(), &me, &id, &b.channel, &b.reason).await?;
    Ok((StatusCode::CREATED, Json(v)).into_response())
}

/// `GET /api/v1/customers/{id}/do-not-contact` → `{entries}`.
pub async fn get_do_not_contact(
    State(state): State<AppState>,
    Staff(me): Staff,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    Ok(Json(contact::get_do_not_contact(state.app(), &me, &id).await?).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmailBody {
    email: Option<String>,
}

/// `PUT /api/v1/customers/{id}/email`.
pub async fn put_email(
    State(state): State<AppState>,
    Staff(me): Staff,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<EmailBody>,
) -> ApiResult<Response> {
    Ok(Json(contact::set_email(state.app(), &me, &id, b.email.as_deref()).await?).into_response())
}
