//! Analytics on live data (SPEC F6): the adapter over `forecourt_app::analytics`, which
//! answers JSON, or CSV for a download.

use crate::error::{ApiError, ApiResult};
use crate::extract::Staff;
use crate::AppState;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use forecourt_app::analytics::{self, ViewQuery};
use serde_json::Value;

pub use forecourt_app::analytics::transactions;

/// The rows of a view's answer as CSV: one column per field of the first row, nested
/// values as JSON text.
pub fn rows_csv(rows: &[Value]) -> Result<String, csv::Error> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let Some(first) = rows.first().and_then(Value::as_object) else {
        return Ok(String::new());
    };
    let columns: Vec<&String> = first.keys().collect();
    w.write_record(columns.iter().map(|c| c.as_str()))?;
    for r in rows {
        w.write_record(columns.iter().map(|c| match &r[c.as_str()] {
            Value::Null => String::new(),
            Value::String(s) => s.clone(),
            other => other.to_string(),
        }))?;
    }
    String::from_utf8(w.into_inner().map_err(|e| e.into_error())?)
        .map_err(|e| csv::Error::from(std::io::Error::other(e)))
}

/// `GET /api/v1/analytics/{view}`: `rfm`, `abc`, `lifecycle`, `refuel`, `5s`, `clv`.
pub async fn get_view(
    State(state): State<AppState>,
    Staff(me): Staff,
    Path(view): Path<String>,
    Query(q): Query<ViewQuery>,
) -> ApiResult<Response> {
    let csv = q.csv();
    respond(analytics::view(state.app(), &me, view, q).await?, csv)
}

fn respond(out: Value, csv: bool) -> ApiResult<Response> {
    if !csv {
        return Ok(Json(out).into_response());
    }
    let rows = out["rows"].as_array().cloned().unwrap_or_default();
    let text = rows_csv(&rows).map_err(ApiError::internal)?;
    let name = format!(
        "attachment; filename=\"{}-{}.csv\"",
        out["view"].as_str().unwrap_or("analytics"),
        out["as_of"].as_str().unwrap_or("")
    );
    Ok((
        [
            (
                axum::http::header::CONTENT_TYPE,
                "text/csv; charset=utf-8".to_string(),
            ),
            (axum::http::header::CONTENT_DISPOSITION, name),
        ],
        text,
    )
        .into_response())
}
