//! The one error shape of the API and its stable codes.
//!
//! Clients branch on [`ErrorCode`], never on the message: codes are part of the API contract and
//! are only ever added, never renamed.

use serde::{Deserialize, Serialize};

/// A stable, machine-readable error code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ErrorCode {
    /// The request is malformed: bad JSON, a bad query string or path parameter.
    BadRequest,
    /// The request is well-formed but a field is invalid; `details` names the fields.
    ValidationFailed,
    /// A bill file was rejected; `details` is the import with each error's row and column.
    BillRejected,
    /// No valid credentials were presented.
    Unauthenticated,
    /// The password was right; the account also needs its authenticator's code (`totp_code`).
    SecondFactorRequired,
    /// The caller is authenticated but lacks the permission.
    Forbidden,
    /// The object does not exist, or belongs to another tenant.
    NotFound,
    /// No API route has this path.
    RouteNotFound,
    /// The route exists but not with this method.
    MethodNotAllowed,
    /// The request conflicts with the current state (duplicate, concurrent change).
    Conflict,
    /// The request body is larger than the limit.
    PayloadTooLarge,
    /// The request body has a content type this route does not accept.
    UnsupportedMediaType,
    /// Too many requests; retry after the `Retry-After` header's delay.
    RateLimited,
    /// The request did not complete within the server's deadline.
    RequestTimeout,
    /// A dependency (the database) is unavailable; retry after `Retry-After`.
    ServiceUnavailable,
    /// An unexpected server error; the cause is in the server log under the request id.
    Internal,
}

impl ErrorCode {
    /// The HTTP status this code is sent with.
    #[must_use]
    pub const fn http_status(self) -> u16 {
        match self {
            Self::BadRequest => 400,
            Self::ValidationFailed | Self::BillRejected => 422,
            Self::Unauthenticated | Self::SecondFactorRequired => 401,
            Self::Forbidden => 403,
            Self::NotFound | Self::RouteNotFound => 404,
            Self::MethodNotAllowed => 405,
            Self::Conflict => 409,
            Self::PayloadTooLarge => 413,
            Self::UnsupportedMediaType => 415,
            Self::RateLimited => 429,
            Self::RequestTimeout => 408,
            Self::ServiceUnavailable => 503,
            Self::Internal => 500,
        }
    }

    /// The code that best describes a bare HTTP status produced outside our handlers
    /// (by a middleware layer or the router itself).
    #[must_use]
    pub const fn for_status(status: u16) -> Self {
        match status {
            401 => Self::Unauthenticated,
            403 => Self::Forbidden,
            404 => Self::RouteNotFound,
            405 => Self::MethodNotAllowed,
            408 => Self::RequestTimeout,
            409 => Self::Conflict,
            413 => Self::PayloadTooLarge,
            415 => Self::UnsupportedMediaType,
            422 => Self::ValidationFailed,
            429 => Self::RateLimited,
            503 => Self::ServiceUnavailable,
            400..=499 => Self::BadRequest,
            _ => Self::Internal,
        }
    }

    /// The snake_case wire name of the code.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::BadRequest => "bad_request",
            Self::ValidationFailed => "validation_failed",
            Self::BillRejected => "bill_rejected",
            Self::Unauthenticated => "unauthenticated",
            Self::SecondFactorRequired => "second_factor_required",
            Self::Forbidden => "forbidden",
            Self::NotFound => "not_found",
            Self::RouteNotFound => "route_not_found",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::Conflict => "conflict",
            Self::PayloadTooLarge => "payload_too_large",
            Self::UnsupportedMediaType => "unsupported_media_type",
            Self::RateLimited => "rate_limited",
            Self::RequestTimeout => "request_timeout",
            Self::ServiceUnavailable => "service_unavailable",
            Self::Internal => "internal",
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The body of every error response: `{"error":{"code":…,"message":…,"details":…}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct ErrorDetail {
    pub code: ErrorCode,
    /// A sentence for people; it may change between versions.
    pub message: String,
    /// Structured context, such as the fields that failed validation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<serde_json::Value>,
}

impl ErrorBody {
    #[must_use]
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            error: ErrorDetail {
                code,
                message: message.into(),
                details: None,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_names_match_serde() {
        let all = [
            ErrorCode::BadRequest,
            ErrorCode::ValidationFailed,
            ErrorCode::BillRejected,
            ErrorCode::Unauthenticated,
            ErrorCode::SecondFactorRequired,
            ErrorCode::Forbidden,
            ErrorCode::NotFound,
            ErrorCode::RouteNotFound,
            ErrorCode::MethodNotAllowed,
            ErrorCode::Conflict,
            ErrorCode::PayloadTooLarge,
            ErrorCode::UnsupportedMediaType,
            ErrorCode::RateLimited,
            ErrorCode::RequestTimeout,
            ErrorCode::ServiceUnavailable,
            ErrorCode::Internal,
        ];
        for code in all {
            let json = serde_json::to_value(code).unwrap();
            assert_eq!(json, serde_json::Value::String(code.as_str().to_owned()));
        }
    }

    #[test]
    fn bare_statuses_map_to_codes_with_the_same_status_class() {
        for status in [
            400, 401, 403, 404, 405, 408, 409, 413, 415, 418, 422, 429, 500, 502, 503,
        ] {
            let code = ErrorCode::for_status(status);
            assert_eq!(code.http_status() / 100, status / 100, "{status} -> {code}");
        }
    }

    #[test]
    fn error_body_omits_absent_details() {
        let body = ErrorBody::new(ErrorCode::NotFound, "no such cluster");
        assert_eq!(
            serde_json::to_string(&body).unwrap(),
            r#"{"error":{"code":"not_found","message":"no such cluster"}}"#
        );
    }
}
