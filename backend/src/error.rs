//! The one error type at the HTTP boundary.
//!
//! Handlers return `Result<_, AppError>`. An error carries a stable [`ErrorCode`] (defined in
//! `api-types`), and a message for people. Server faults keep their cause for
//! the log and send only a generic message: internals never reach the client.

use std::borrow::Cow;
use std::error::Error as StdError;

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use nimbus_api_types::{ErrorBody, ErrorCode, ErrorDetail};

use crate::db;

type Cause = Box<dyn StdError + Send + Sync + 'static>;

/// Seconds a client should wait before retrying when the database is unavailable.
const RETRY_AFTER_UNAVAILABLE_SECS: u32 = 2;

#[derive(Debug)]
pub struct AppError {
    code: ErrorCode,
    message: Cow<'static, str>,
    details: Option<serde_json::Value>,
    retry_after_secs: Option<u32>,
    cause: Option<Cause>,
}

impl AppError {
    pub fn new(code: ErrorCode, message: impl Into<Cow<'static, str>>) -> Self {
        Self {
            code,
            message: message.into(),
            details: None,
            retry_after_secs: None,
            cause: None,
        }
    }

    /// The stable code.
    #[must_use]
    pub fn code(&self) -> ErrorCode {
        self.code
    }

    /// The sentence sent as `error.message`.
    #[must_use]
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The structured context sent as `error.details`, if any.
    #[must_use]
    pub fn details(&self) -> Option<&serde_json::Value> {
        self.details.as_ref()
    }

    /// Structured context for the client (sent as `error.details`).
    #[must_use]
    pub fn with_details(mut self, details: serde_json::Value) -> Self {
        self.details = Some(details);
        self
    }

    /// The database cannot be reached right now: 503 with `Retry-After`.
    pub fn unavailable(cause: impl Into<Cause>) -> Self {
        Self {
            retry_after_secs: Some(RETRY_AFTER_UNAVAILABLE_SECS),
            cause: Some(cause.into()),
            ..Self::new(
                ErrorCode::ServiceUnavailable,
                "the service is temporarily unavailable; retry shortly",
            )
        }
    }

    /// A database error whose constraint violations are the request's fault: a duplicate is
    /// `409 conflict`, a reference to a row that does not exist `422 validation_failed`, each with
    /// its message when given; anything else converts as usual.
    pub fn constraint(
        err: sqlx::Error,
        duplicate: Option<&'static str>,
        missing: Option<&'static str>,
    ) -> Self {
        if let sqlx::Error::Database(db) = &err {
            match (duplicate, missing) {
                (Some(message), _) if db.is_unique_violation() => {
                    return Self::new(ErrorCode::Conflict, message);
                }
                (_, Some(message)) if db.is_foreign_key_violation() => {
                    return Self::new(ErrorCode::ValidationFailed, message);
                }
                _ => {}
            }
        }
        Self::from(err)
    }

    /// Too many attempts: 429 with `Retry-After` (whole seconds, at least one).
    pub fn rate_limited(wait: std::time::Duration) -> Self {
        let secs = u32::try_from(wait.as_secs().saturating_add(1)).unwrap_or(u32::MAX);
        Self {
            retry_after_secs: Some(secs),
            ..Self::new(ErrorCode::RateLimited, "too many attempts; retry later")
        }
    }

    /// An unexpected fault. The cause is logged; the client sees a generic message.
    pub fn internal(cause: impl Into<Cause>) -> Self {
        Self {
            cause: Some(cause.into()),
            ..Self::new(ErrorCode::Internal, "an unexpected error occurred")
        }
    }

    /// Whether the caller's request was at fault (a 4xx).
    #[must_use]
    pub fn is_client_error(&self) -> bool {
        self.status().is_client_error()
    }

    fn status(&self) -> StatusCode {
        StatusCode::from_u16(self.code.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }
}

impl std::fmt::Display for AppError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() {
            match &self.cause {
                Some(cause) => tracing::error!(code = %self.code, cause = %cause, "request failed"),
                None => tracing::error!(code = %self.code, "request failed"),
            }
        }
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code,
                message: self.message.into_owned(),
                details: self.details,
            },
        };
        let mut response = (status, axum::Json(body)).into_response();
        if let Some(secs) = self.retry_after_secs {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

impl From<sqlx::Error> for AppError {
    fn from(err: sqlx::Error) -> Self {
        match err {
            sqlx::Error::RowNotFound => Self::new(ErrorCode::NotFound, "not found"),
            err if db::is_unavailable(&err) => Self::unavailable(err),
            err => Self::internal(err),
        }
    }
}

impl From<JsonRejection> for AppError {
    fn from(rejection: JsonRejection) -> Self {
        let code = match &rejection {
            JsonRejection::MissingJsonContentType(_) => ErrorCode::UnsupportedMediaType,
            JsonRejection::JsonDataError(_) => ErrorCode::ValidationFailed,
            JsonRejection::BytesRejection(_)
                if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE =>
            {
                ErrorCode::PayloadTooLarge
            }
            _ => ErrorCode::BadRequest,
        };
        Self::new(code, rejection.body_text())
    }
}

impl From<PathRejection> for AppError {
    fn from(rejection: PathRejection) -> Self {
        Self::new(ErrorCode::BadRequest, rejection.body_text())
    }
}

impl From<QueryRejection> for AppError {
    fn from(rejection: QueryRejection) -> Self {
        Self::new(ErrorCode::BadRequest, rejection.body_text())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    async fn body_of(response: Response) -> ErrorBody {
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        serde_json::from_slice(&bytes).unwrap()
    }

    #[tokio::test]
    async fn internal_errors_hide_their_cause() {
        let err = AppError::internal(std::io::Error::other("disk /secret/path is full"));
        let response = err.into_response();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let body = body_of(response).await;
        assert_eq!(body.error.code, ErrorCode::Internal);
        assert!(!body.error.message.contains("secret"));
    }

    #[tokio::test]
    async fn unavailable_sets_retry_after() {
        let response = AppError::from(sqlx::Error::PoolTimedOut).into_response();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers()[header::RETRY_AFTER], "2");
        assert_eq!(
            body_of(response).await.error.code,
            ErrorCode::ServiceUnavailable
        );
    }

    #[tokio::test]
    async fn missing_rows_are_not_found() {
        let response = AppError::from(sqlx::Error::RowNotFound).into_response();
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
    }
}
