//! The service desk's routes (SPEC "Service desk"): calendars, SLA policies, tickets
//! and their events, the callback work list, breaches per station, staff contacts and
//! surveys. Each handler extracts, calls one use case of
//! `forecourt_app::service_desk` and answers with what it returns.

use crate::error::ApiResult;
use crate::extract::{ApiJson, Staff};
use crate::AppState;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use forecourt_app::service_desk::{
    self as desk, CalendarBody, CallbackQuery, ContactBody, EventBody, PolicyBody, TicketBody,
    TicketQuery,
};
use forecourt_app::surveys::{self, AnswerBody, InvitationsBody, SurveyBody};
use serde::Deserialize;
use serde_json::json;

/// `PUT /api/v1/calendars/{code}` (admins).
pub async fn put_calendar(
    State(state): State<AppState>,
    Staff(me): Staff,
    Path(code): Path<String>,
    ApiJson(body): ApiJson<CalendarBody>,
) -> ApiResult<Response> {
    let v = desk::put_calendar(state.app(), &me, me.source.as_deref(), &code, body).await?;
    Ok(Json(v).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StationCalendarBody {
    calendar: String,
}

/// `PUT /api/v1/stations/{code}/calendar` (admins).
pub async fn put_station_calendar(
    State(state): State<AppState>,
    Staff(me): Staff,
    Path(code): Path<String>,
    ApiJson(body): ApiJson<StationCalendarBody>,
) -> ApiResult<Response> {
    let v = desk::assign_calendar(
        state.app(),
        &me,
        me.source.as_deref(),
        &code,
        &body.calendar,
    )
    .await?;
    Ok(Json(v).into_response())
}

/// `PUT /api/v1/sla-policies/{severity}` (admins).
pub async fn put_policy(
    State(state): State<AppState>,
    Staff(me): Staff,
    Path(severity): Path<String>,
    ApiJson(body): ApiJson<PolicyBody>,
) -> ApiResult<Response> {
    let v = desk::put_policy(state.app(), &me, me.source.as_deref(), &severity, body).await?;
    Ok(Json(v).into_response())
}

/// `POST /api/v1/tickets` → `201` the ticket.
pub async fn post_ticket(
    State(state): State<AppState>,
    Staff(me): Staff,
    ApiJson(body): ApiJson<TicketBody>,
) -> ApiResult<Response> {
    let v = desk::open_ticket(state.app(), &me, me.source.as_deref(), body).await?;
    Ok((StatusCode::CREATED, Json(v)).into_response())
}

/// `POST /api/v1/tickets/{id}/events` → the ticket after the step.
pub async fn post_event(
    State(state): State<AppState>,
    Staff(me): Staff,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<EventBody>,
) -> ApiResult<Response> {
    let v = desk::apply_event(state.app(), &me, me.source.as_deref(), &id, body).await?;
    Ok(Json(v).into_response())
}

/// `GET /api/v1/tickets/{id}`.
pub async fn get_ticket(
    State(state): State<AppState>,
    Staff(me): Staff,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let v = desk::get_ticket(state.app(), &me, &id).await?;
    Ok(Json(v).into_response())
}

/// `GET /api/v1/tickets?station=&state=&breached=true`.
pub async fn get_tickets(
    State(state): State<AppState>,
    Staff(me): Staff,
    Query(q): Query<TicketQuery>,
) -> ApiResult<Response> {
    let tickets = desk::list_tickets(state.app(), &me, q).await?;
    Ok(Json(json!({ "tickets": tickets })).into_response())
}

/// `GET /api/v1/callbacks?station=`: the callback (回访) work list.
pub async fn get_callbacks(
    State(state): State<AppState>,
    Staff(me): Staff,
    Query(q): Query<CallbackQuery>,
) -> ApiResult<Response> {
    let callbacks = desk::callbacks(state.app(), &me, q).await?;
    Ok(Json(json!({ "callbacks": callbacks })).into_response())
}

/// `GET /api/v1/ticket-breaches?station=`: open, breached and escalated tickets per
/// station.
pub async fn get_breaches(
    State(state): State<AppState>,
    Staff(me): Staff,
    Query(q): Query<CallbackQuery>,
) -> ApiResult<Response> {
    let stations = desk::breaches(state.app(), &me, q).await?;
    Ok(Json(json!({ "stations": stations })).into_response())
}

/// `PUT /api/v1/users/{username}/contact`: where the user receives alerts.
pub async fn put_contact(
    State(state): State<AppState>,
    Staff(me): Staff,
    Path(username): Path<String>,
    ApiJson(body): ApiJson<ContactBody>,
) -> ApiResult<Response> {
    let v =
        desk::set_staff_contact(state.app(), &me, me.source.as_deref(), &username, body).await?;
    Ok(Json(v).into_response())
}

/// `POST /api/v1/surveys` → `201 {id}`.
pub async fn post_survey(
    State(state): State<AppState>,
    Staff(me): Staff,
    ApiJson(body): ApiJson<SurveyBody>,
) -> ApiResult<Response> {
    let v = surveys::create_survey(state.app(), &me, me.source.as_deref(), body).await?;
    Ok((StatusCode::CREATED, Json(v)).into_response())
}

/// `POST /api/v1/surveys/{id}/invitations` → `201 {invitations}`.
pub async fn post_invitations(
    State(state): State<AppState>,
    Staff(me): Staff,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<InvitationsBody>,
) -> ApiResult<Response> {
    let v = surveys::invite(state.app(), &me, me.source.as_deref(), &id, body).await?;
    Ok((StatusCode::CREATED, Json(v)).into_response())
}

/// `GET /api/v1/surveys/{id}/results`.
pub async fn get_results(
    State(state): State<AppState>,
    Staff(me): Staff,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let v = surveys::results(state.app(), &me, &id).await?;
    Ok(Json(v).into_response())
}

/// `POST /api/v1/survey-responses/{token}` (no sign-in: the token is the authority)
/// → `201`; a second time `409`.
pub async fn post_response(
    State(state): State<AppState>,
    Path(token): Path<String>,
    ApiJson(body): ApiJson<AnswerBody>,
) -> ApiResult<Response> {
    let v = surveys::answer(state.app(), &token, body).await?;
    Ok((StatusCode::CREATED, Json(v)).into_response())
}

/// `POST /api/v1/survey-responses/{token}/decline` (no sign-in).
pub async fn post_decline(
    State(state): State<AppState>,
    Path(token): Path<String>,
) -> ApiResult<Response> {
    let v = surveys::decline(state.app(), &token).await?;
    Ok(Json(v).into_response())
}
