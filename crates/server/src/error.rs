//! The one place errors are named: every API error is `{"error": {"code", "message"}}`
//! with a code from [`ERROR_TABLE`] and the HTTP status the table gives it.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use forecourt_app::error::AppError;
use forecourt_core::DomainError;
use forecourt_store::StoreError;

pub use forecourt_app::error::{status_of, DATABASE_RETRY_AFTER_SECS, ERROR_TABLE};

/// An API error: a use case's [`AppError`] (a code from the table, a message for people
/// and, for some codes, the figures behind the refusal) in its HTTP form. It derefs to
/// the `AppError`, so `e.code` and `e.message` read the same on both sides.
#[derive(Debug)]
pub struct ApiError(pub AppError);

impl std::ops::Deref for ApiError {
    type Target = AppError;

    fn deref(&self) -> &AppError {
        &self.0
    }
}

impl ApiError {
    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        Self(AppError::new(code, message))
    }

    /// The same error with the figures behind it.
    pub fn with_details(self, details: serde_json::Value) -> Self {
        Self(self.0.with_details(details))
    }

    pub fn validation(field: &str, message: impl std::fmt::Display) -> Self {
        Self(AppError::validation(field, message))
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self(AppError::forbidden(message))
    }

    pub fn status(&self) -> StatusCode {
        StatusCode::from_u16(self.0.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    /// The database does not answer; the client retries after `Retry-After`.
    pub fn database_unavailable() -> Self {
        Self(AppError::database_unavailable())
    }

    pub fn internal(err: impl std::fmt::Display) -> Self {
        Self(AppError::internal(err))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let AppError {
            code,
            message,
            details,
        } = self.0;
        let mut error = serde_json::json!({"code": code, "message": message});
        if let Some(details) = details {
            error["details"] = details;
        }
        let body = serde_json::json!({ "error": error });
        let mut res = (status, axum::Json(body)).into_response();
        // Every 503 says when to come back: a conflict clears at once, a database that
        // does not answer needs a few seconds.
        let retry_after = match code {
            "database_unavailable" => Some(DATABASE_RETRY_AFTER_SECS),
            "unavailable" => Some(1),
            _ => None,
        };
        if let Some(secs) = retry_after {
            res.headers_mut()
                .insert(axum::http::header::RETRY_AFTER, secs.into());
        }
        res
    }
}

impl From<AppError> for ApiError {
    fn from(e: AppError) -> Self {
        Self(e)
    }
}

impl From<DomainError> for ApiError {
    fn from(e: DomainError) -> Self {
        AppError::from(e).into()
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        AppError::from(e).into()
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_and_statuses_valid() {
        let mut seen = std::collections::HashSet::new();
        for (code, status, _) in ERROR_TABLE {
            assert!(seen.insert(code), "duplicate code {code}");
            assert!(StatusCode::from_u16(*status).is_ok());
            assert!((400..600).contains(status));
        }
    }

    #[test]
    fn domain_errors_map_to_table_codes() {
        let e: ApiError = DomainError::PaymentMismatch {
            net: forecourt_core::Fen(1),
            paid: forecourt_core::Fen(2),
        }
        .into();
        assert_eq!(e.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(e.code, "payment_mismatch");
        let e: ApiError = DomainError::InsufficientBalance {
            available: forecourt_core::Fen(1),
            needed: forecourt_core::Fen(2),
        }
        .into();
        assert_eq!(e.status(), StatusCode::PAYMENT_REQUIRED);
    }
}
