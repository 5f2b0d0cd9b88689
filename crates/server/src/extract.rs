//! Extractors at the HTTP edge: JSON bodies whose rejections use our error format, and
//! the callers (staff by session token, POS by station token).

use crate::error::ApiError;
use crate::secret::token_hash;
use crate::AppState;
use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use forecourt_store::{StaffUser, Station};
use serde::de::DeserializeOwned;

/// A JSON body. Malformed JSON, a wrong content type or a missing field is refused
/// with our error format instead of axum's plain text.
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(ApiJson(v)),
            Err(JsonRejection::MissingJsonContentType(_)) => Err(ApiError::new(
                "unsupported_media_type",
                "send the body as JSON with Content-Type: application/json",
            )),
            Err(JsonRejection::BytesRejection(e))
                if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE =>
            {
                Err(ApiError::new("payload_too_large", "the body is too large"))
            }
            Err(e) => Err(ApiError::new("invalid_json", e.body_text())),
        }
    }
}

/// Parses a JSON value into a request type, with the same error as [`ApiJson`].
pub fn from_value<T: DeserializeOwned>(v: serde_json::Value) -> Result<T, ApiError> {
    serde_json::from_value(v).map_err(|e| {
        ApiError::new(
            "invalid_json",
            format!("the body does not match the request: {e}"),
        )
    })
}

fn bearer(parts: &Parts) -> Option<&str> {
    parts
        .headers
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(str::trim)
}

/// A signed-in staff member.
pub struct Staff(pub StaffUser);

/// A POS (forecourt controller or till) of one station.
pub struct Pos(pub Station);

/// Either kind of caller, for the calls both may make.
pub enum Caller {
    Staff(StaffUser),
    Pos(Station),
}

async fn caller(parts: &Parts, state: &AppState) -> Result<Caller, ApiError> {
    let token = bearer(parts)
        .ok_or_else(|| ApiError::new("unauthorized", "send Authorization: Bearer <token>"))?;
    let hash = token_hash(token);
    if token.starts_with("fcp_") {
        if let Some(station) = state.store().pos_token_station(&hash).await? {
            return Ok(Caller::Pos(station));
        }
    } else if let Some(user) = state
        .store()
        .session_user(&hash, forecourt_store::now_us())
        .await?
    {
        return Ok(Caller::Staff(user));
    }
    Err(ApiError::new(
        "unauthorized",
        "the token is unknown, expired or revoked",
    ))
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        caller(parts, state).await
    }
}

impl FromRequestParts<AppState> for Staff {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        match caller(parts, state).await? {
            Caller::Staff(u) => Ok(Staff(u)),
            Caller::Pos(_) => Err(ApiError::forbidden("a POS token cannot make staff calls")),
        }
    }
}

impl FromRequestParts<AppState> for Pos {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        match caller(parts, state).await? {
            Caller::Pos(s) => Ok(Pos(s)),
            Caller::Staff(_) => Err(ApiError::forbidden(
                "POS calls need the station's POS token",
            )),
        }
    }
}
