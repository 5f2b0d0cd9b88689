//! Extractors at the HTTP edge: JSON bodies whose rejections use our error format, and
//! the callers: staff by bearer token or console session cookie, POS by station token.

use crate::access::{self, Action};
use crate::error::ApiError;
use crate::secret::token_hash;
use crate::AppState;
use axum::extract::rejection::JsonRejection;
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::Method;
use forecourt_store::Station;
use serde::de::DeserializeOwned;
use std::net::SocketAddr;

/// The name of the console's session cookie.
pub const SESSION_COOKIE: &str = "fc_session";
/// The header that carries the CSRF token of a cookie session on unsafe methods.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// A JSON body. Malformed JSON, a wrong content type or a missing field is refused
/// with our error format instead of axum's plain text.
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        // PostgreSQL cannot store U+0000 in text (it answers "invalid byte sequence"),
        // and no field of ours has a use for it: a body that carries one anywhere is
        // refused here, the same on both databases, before anything reads it.
        let (parts, body) = req.into_parts();
        let bytes =
            match axum::body::Bytes::from_request(Request::from_parts(parts.clone(), body), state)
                .await
            {
                Ok(b) => b,
                Err(e) if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE => {
                    return Err(ApiError::new("payload_too_large", "the body is too large"))
                }
                Err(e) => return Err(ApiError::new("invalid_json", e.body_text())),
            };
        if json_has_nul(&bytes) {
            return Err(ApiError::validation(
                "body",
                "text may not contain the NUL character (U+0000)",
            ));
        }
        let req = Request::from_parts(parts, axum::body::Body::from(bytes));
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

/// Whether JSON text holds the escape `\u0000` in a string (a raw NUL is not valid JSON
/// and is refused by the parser anyway). Each escape is skipped whole, so an escaped
/// backslash followed by the text `u0000` is not taken for one.
fn json_has_nul(json: &[u8]) -> bool {
    let mut i = 0;
    while i < json.len() {
        if json[i] == b'\\' {
            if json.get(i + 1) == Some(&b'u') && json.get(i + 2..i + 6) == Some(b"0000") {
                return true;
            }
            i += 2;
        } else {
            i += 1;
        }
    }
    false
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

fn cookie<'a>(parts: &'a Parts, name: &str) -> Option<&'a str> {
    parts
        .headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// The client's address, when the server knows it.
pub fn source(parts: &Parts) -> Option<String> {
    parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip().to_string())
}

pub use forecourt_app::access::Actor;

/// A signed-in staff member.
pub struct Staff(pub Actor);

/// A POS (forecourt controller or till) of one station: a station's POS token, or a
/// staff member of one station (a cashier at the console's till).
pub struct Pos(pub Station);

/// Either kind of caller, for the calls both may make.
pub enum Caller {
    Staff(Actor),
    Pos(Station),
}

async fn caller(parts: &Parts, state: &AppState) -> Result<Caller, ApiError> {
    let now = forecourt_store::now_us();
    let idle_us = state.config().session_idle_secs * 1_000_000;
    if let Some(token) = bearer(parts) {
        let hash = token_hash(token);
        if token.starts_with("fcp_") {
            if let Some(station) = state.cache().pos_station(state.store(), &hash).await? {
                return Ok(Caller::Pos(station));
            }
        } else if let Some(user) = state.store().session_user(&hash, now, idle_us).await? {
            return Ok(Caller::Staff(Actor {
                user,
                source: source(parts),
            }));
        }
        return Err(ApiError::new(
            "unauthorized",
            "the token is unknown, expired or revoked",
        ));
    }
    if let Some(token) = cookie(parts, SESSION_COOKIE) {
        // A browser sends cookies on its own, so a change made with one must also carry
        // the CSRF token that only our pages can read.
        if !matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS) {
            let sent = parts
                .headers
                .get(CSRF_HEADER)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            if !state.secret().csrf_matches(token, sent) {
                return Err(ApiError::forbidden("missing or wrong CSRF token"));
            }
        }
        if let Some(user) = state
            .store()
            .session_user(&token_hash(token), now, idle_us)
            .await?
        {
            return Ok(Caller::Staff(Actor {
                user,
                source: source(parts),
            }));
        }
        return Err(ApiError::new(
            "unauthorized",
            "the session has ended; sign in again",
        ));
    }
    Err(ApiError::new(
        "unauthorized",
        "send Authorization: Bearer <token>",
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
            Caller::Staff(a) => Ok(Staff(a)),
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
            Caller::Staff(a) => {
                access::require(&a, Action::Sell)?;
                match access::Scope::of(&a) {
                    access::Scope::Station(code) => state
                        .store()
                        .station_by_code(&code)
                        .await?
                        .map(Pos)
                        .ok_or_else(|| ApiError::forbidden("the user's station does not exist")),
                    _ => Err(ApiError::forbidden(
                        "POS calls need the station's POS token or a user of one station",
                    )),
                }
            }
        }
    }
}

/// The client's address, for calls made before sign-in.
pub struct Source(pub Option<String>);

impl<S: Send + Sync> FromRequestParts<S> for Source {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Source(source(parts)))
    }
}

#[cfg(test)]
mod tests {
    use super::json_has_nul;

    #[test]
    fn nul_escapes_are_found_and_escaped_backslashes_are_not() {
        assert!(json_has_nul(br#"{"name": "a\u0000b"}"#));
        assert!(json_has_nul(br#"{"a\u0000": 1}"#));
        assert!(!json_has_nul(br#"{"name": "a\\u0000b"}"#));
        assert!(json_has_nul(br#"{"name": "\u00001"}"#));
        assert!(!json_has_nul(br#"{"name": "plain"}"#));
    }
}
