//! Serving the dashboard: hashed assets with long cache lifetimes, hand-authored files under
//! `/static`, vendored assets under `/vendor`, and `index.html` for every other page path
//! (the single-page app routes in the browser). Unknown `/api/*` paths get a JSON 404 instead.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use askama::Template;
use axum::Router;
use axum::http::{HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{Html, IntoResponse, Response};
use nimbus_api_types::ErrorCode;
use tower::ServiceBuilder;
use tower_http::services::ServeDir;
use tower_http::set_header::SetResponseHeaderLayer;

use crate::error::AppError;
use crate::state::AppState;

/// File names under `/assets` carry a content hash, so they never change: cache for a year.
const IMMUTABLE: &str = "public, max-age=31536000, immutable";
const SHORT_LIVED: &str = "public, max-age=3600";

pub fn routes(web_dir: &Path) -> Router<AppState> {
    let web_dir: Arc<PathBuf> = Arc::new(web_dir.to_path_buf());
    let cached = |dir: &str, cache_control: &'static str| {
        ServiceBuilder::new()
            .layer(SetResponseHeaderLayer::overriding(
                header::CACHE_CONTROL,
                HeaderValue::from_static(cache_control),
            ))
            .service(ServeDir::new(web_dir.join(dir)))
    };
    let index_dir = Arc::clone(&web_dir);
    Router::new()
        .nest_service("/assets", cached("assets", IMMUTABLE))
        .nest_service("/static", cached("static", SHORT_LIVED))
        .nest_service("/vendor", cached("vendor", SHORT_LIVED))
        .fallback(move |method: Method, uri: Uri| {
            page_or_not_found(Arc::clone(&index_dir), method, uri)
        })
}

#[derive(Template)]
#[template(path = "frontend_missing.html")]
struct FrontendMissingPage<'a> {
    web_dir: &'a str,
}

async fn page_or_not_found(web_dir: Arc<PathBuf>, method: Method, uri: Uri) -> Response {
    let path = uri.path();
    if path == "/api" || path.starts_with("/api/") {
        return AppError::new(ErrorCode::RouteNotFound, "no API route matches this path")
            .into_response();
    }
    if method != Method::GET && method != Method::HEAD {
        return StatusCode::NOT_FOUND.into_response();
    }
    let no_cache = [(header::CACHE_CONTROL, "no-cache")];
    match tokio::fs::read_to_string(web_dir.join("index.html")).await {
        Ok(index) => (no_cache, Html(index)).into_response(),
        Err(_) => {
            let page = FrontendMissingPage {
                web_dir: &web_dir.to_string_lossy(),
            };
            match page.render() {
                Ok(html) => (StatusCode::SERVICE_UNAVAILABLE, no_cache, Html(html)).into_response(),
                Err(err) => AppError::internal(err).into_response(),
            }
        }
    }
}
