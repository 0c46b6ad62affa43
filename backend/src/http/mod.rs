//! Cross-cutting HTTP plumbing: the middleware stack, extractors that speak our error shape,
//! the API reference pages and dashboard serving. No domain logic lives here.

pub mod api_docs;
pub mod csv;
pub mod extract;
pub mod frontend;
mod middleware;
pub mod outbound;
pub mod paging;
pub mod validate;

use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::header::{AUTHORIZATION, COOKIE, SET_COOKIE};
use axum::http::{HeaderName, HeaderValue, Method, Request, StatusCode};
use axum::response::IntoResponse;
use nimbus_api_types::ErrorCode;
use tower::ServiceBuilder;
use tower::util::option_layer;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::compression::{CompressionLayer, CompressionLevel};
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::sensitive_headers::SetSensitiveHeadersLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

use crate::error::AppError;
use crate::state::AppState;

pub use middleware::SecurityHeaders;

/// The header carrying the request id, set on every response and in every log line.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Wraps the router in the middleware stack every request passes through.
/// `uploads` are the routes that take bill files: their own body limit and deadline.
pub fn apply_layers(router: Router, uploads: Router, state: &AppState) -> Router {
    let config = &state.config;
    let cors = (!config.cors_allowed_origins.is_empty()).then(|| {
        let origins = config
            .cors_allowed_origins
            .iter()
            .filter_map(|origin| HeaderValue::from_str(origin.as_str()).ok())
            .collect::<Vec<_>>();
        CorsLayer::new()
            .allow_origin(AllowOrigin::list(origins))
            .allow_methods([
                Method::GET,
                Method::POST,
                Method::PUT,
                Method::PATCH,
                Method::DELETE,
            ])
            .allow_headers([AUTHORIZATION, axum::http::header::CONTENT_TYPE])
            .allow_credentials(true)
            .max_age(Duration::from_secs(600))
    });
    let security_headers = SecurityHeaders::new(config.serves_https());
    // Each `Router::layer` call normalises bodies back to axum's, so middleware functions and
    // tower-http layers with their own body types compose without friction.
    let limits = |body_limit: usize, timeout: Duration| {
        ServiceBuilder::new()
            // Responses are compressed on the fly, per request: the fastest level keeps most of
            // the saving on JSON (it is repetitive) for a fraction of the default level's CPU.
            .layer(CompressionLayer::new().quality(CompressionLevel::Fastest))
            .layer(RequestBodyLimitLayer::new(body_limit))
            .layer(TimeoutLayer::with_status_code(
                StatusCode::REQUEST_TIMEOUT,
                timeout,
            ))
            .layer(DefaultBodyLimit::max(body_limit))
    };
    let upload_limit = usize::try_from(config.cost.max_upload_bytes).unwrap_or(usize::MAX);
    let tracing = ServiceBuilder::new()
        .layer(SetSensitiveHeadersLayer::new([AUTHORIZATION, COOKIE, SET_COOKIE]))
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
        .layer(TraceLayer::new_for_http().make_span_with(|request: &Request<_>| {
            let request_id =
                request.headers().get(REQUEST_ID).and_then(|id| id.to_str().ok()).unwrap_or("-");
            // The path only: query strings may carry values that do not belong in logs.
            tracing::info_span!("http", method = %request.method(), path = %request.uri().path(), request_id)
        }))
        .layer(PropagateRequestIdLayer::new(REQUEST_ID));
    // Innermost first: the last layer added sees the request first.
    router
        .layer(limits(
            config.http.body_limit_bytes,
            config.http.request_timeout,
        ))
        .merge(uploads.layer(limits(upload_limit, config.cost.import_timeout)))
        .layer(option_layer(cors))
        .layer(axum::middleware::from_fn(middleware::api_boundary))
        .layer(axum::middleware::map_response(move |response| {
            let headers = security_headers.clone();
            async move { headers.apply(response) }
        }))
        .layer(CatchPanicLayer::custom(|_panic| {
            AppError::internal(std::io::Error::other("handler panicked")).into_response()
        }))
        .layer(axum::middleware::from_fn_with_state(
            state.metrics.clone(),
            middleware::record_metrics,
        ))
        .layer(tracing)
}

/// The message sent with a bare status that no handler explained.
fn default_message(code: ErrorCode) -> &'static str {
    match code {
        ErrorCode::RouteNotFound => "no API route matches this path",
        ErrorCode::MethodNotAllowed => "this route does not accept this method",
        ErrorCode::PayloadTooLarge => "the request body is larger than the server accepts",
        ErrorCode::RequestTimeout => "the request did not complete within the server's deadline",
        ErrorCode::UnsupportedMediaType => "this content type is not accepted here",
        ErrorCode::ServiceUnavailable => "the service is temporarily unavailable; retry shortly",
        ErrorCode::Internal => "an unexpected error occurred",
        _ => "the request could not be processed",
    }
}
