//! The API reference: the OpenAPI 3.1 document generated from the code, and a browsable page
//! (Swagger UI, its assets served by Nimbus itself so it works offline).

use std::path::Path;
use std::sync::Arc;

use askama::Template;
use axum::extract::State;
use axum::http::header;
use axum::response::{Html, IntoResponse, Response};
use axum::{Extension, Json};
use utoipa::openapi::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::AppError;
use crate::state::AppState;

/// Where the build puts Swagger UI's files, under the web directory.
const SWAGGER_UI_DIR: &str = "vendor/swagger-ui";

/// The generated document, serialised once when the router is built.
#[derive(Clone)]
pub struct OpenApiDocument(Arc<serde_json::Value>);

impl OpenApiDocument {
    pub fn new(openapi: &OpenApi) -> Result<Self, serde_json::Error> {
        Ok(Self(Arc::new(serde_json::to_value(openapi)?)))
    }
}

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(openapi_json))
        .routes(routes!(api_reference))
}

/// This OpenAPI 3.1 document.
#[utoipa::path(get, path = "/api/v1/openapi.json", tag = "meta",
    responses((status = 200, description = "The OpenAPI 3.1 document", content_type = "application/json")))]
pub async fn openapi_json(Extension(document): Extension<OpenApiDocument>) -> Response {
    // The document changes only with the binary: let clients cache it briefly.
    (
        [(header::CACHE_CONTROL, "public, max-age=300")],
        Json(document.0),
    )
        .into_response()
}

#[derive(Template)]
#[template(path = "api_reference.html")]
struct ApiReferencePage {
    assets_built: bool,
    version: &'static str,
}

/// A browsable API reference (Swagger UI) over the OpenAPI document.
#[utoipa::path(get, path = "/api/docs", tag = "meta",
    responses((status = 200, description = "The API reference page", content_type = "text/html")))]
pub async fn api_reference(State(state): State<AppState>) -> Result<Response, AppError> {
    let bundle = Path::new(&state.config.web_dir)
        .join(SWAGGER_UI_DIR)
        .join("swagger-ui-bundle.js");
    let page = ApiReferencePage {
        assets_built: tokio::fs::try_exists(&bundle).await.unwrap_or(false),
        version: env!("CARGO_PKG_VERSION"),
    };
    let html = page.render().map_err(AppError::internal)?;
    Ok(([(header::CACHE_CONTROL, "no-cache")], Html(html)).into_response())
}
