//! The care automations' routes (SPEC F7): their settings, what each sent, and a run
//! for a day. Each handler extracts, calls one use case of `forecourt_app::care` and
//! answers with what it returns.

use crate::error::ApiResult;
use crate::extract::{ApiJson, Staff};
use crate::AppState;
use axum::extract::{Path, Query, State};
use axum::Json;
use forecourt_app::care::{self, AutomationBody, AutomationView, CareRun, SentView};
use forecourt_app::error::AppError;
use serde::Deserialize;
use serde_json::{json, Value};

/// `GET /api/v1/care/automations`.
pub async fn get_automations(
    State(state): State<AppState>,
    Staff(me): Staff,
) -> ApiResult<Json<Value>> {
    let list = care::automations(state.app(), &me).await?;
    Ok(Json(json!({ "automations": list })))
}

/// `PATCH /api/v1/care/automations/{kind}`.
pub async fn patch_automation(
    State(state): State<AppState>,
    Staff(me): Staff,
    Path(kind): Path<String>,
    ApiJson(body): ApiJson<AutomationBody>,
) -> ApiResult<Json<AutomationView>> {
    Ok(Json(
        care::update_automation(state.app(), &me, &kind, &body).await?,
    ))
}

#[derive(Deserialize)]
pub struct PageQuery {
    #[serde(default)]
    page: i64,
}

/// `GET /api/v1/care/automations/{kind}/messages?page=`.
pub async fn get_messages(
    State(state): State<AppState>,
    Staff(me): Staff,
    Path(kind): Path<String>,
    Query(q): Query<PageQuery>,
) -> ApiResult<Json<Value>> {
    let list: Vec<SentView> = care::sent(state.app(), &me, &kind, q.page).await?;
    Ok(Json(json!({ "messages": list, "page": q.page })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunBody {
    /// The day to run for (the network's date); today when absent.
    date: Option<String>,
}

/// `POST /api/v1/care/runs`: runs every enabled automation for a day.
pub async fn post_run(
    State(state): State<AppState>,
    Staff(me): Staff,
    ApiJson(body): ApiJson<RunBody>,
) -> ApiResult<Json<CareRun>> {
    let day = match body.date.as_deref() {
        Some(d) => chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d")
            .map_err(|_| AppError::validation("date", "a date YYYY-MM-DD"))?,
        None => {
            forecourt_app::clock::local(
                forecourt_app::clock::NETWORK_TZ,
                state.app().clock().now_us(),
            )
            .date
        }
    };
    Ok(Json(care::run_as(state.app(), &me, day).await?))
}
