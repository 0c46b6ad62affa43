//! Nimbus: a multi-cloud management portal. This crate is the server and its CLI.
//!
//! [`router`] is the whole HTTP surface on one screen; [`cli`] is the composition root that
//! loads the configuration, opens the database and serves it.

pub mod audit;
pub mod auth;
pub mod cli;
pub mod config;
pub mod db;
pub mod error;
pub mod http;
pub mod ops;
pub mod rbac;
pub mod server;
pub mod state;
pub mod telemetry;

use axum::{Extension, Router};
use nimbus_api_types::{ErrorBody, ErrorCode, ErrorDetail};
use utoipa::OpenApi;
use utoipa::openapi::OpenApi as OpenApiDoc;
use utoipa_axum::router::OpenApiRouter;

use crate::http::api_docs::OpenApiDocument;
use crate::state::AppState;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Nimbus API",
        description = "Clusters, apps and bills from every cloud. Errors share one shape: \
                       `{\"error\":{\"code\":…,\"message\":…,\"details\":…}}` with stable codes.",
        license(name = "Apache-2.0", identifier = "Apache-2.0"),
    ),
    tags(
        (name = "operations", description = "Liveness, readiness and metrics"),
        (name = "meta", description = "This API's own description"),
    ),
    components(schemas(ErrorBody, ErrorDetail, ErrorCode)),
)]
struct ApiDoc;

/// Every documented route with its OpenAPI description. Each domain adds its `routes()` here.
fn documented_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(ops::routes())
        .merge(http::api_docs::routes())
}

/// The OpenAPI document of this build.
#[must_use]
pub fn openapi() -> OpenApiDoc {
    documented_routes().into_openapi()
}

/// The complete HTTP application: API, operations endpoints and the dashboard, wrapped in the
/// middleware stack.
pub fn router(state: AppState) -> Result<Router, serde_json::Error> {
    let (api, openapi) = documented_routes().split_for_parts();
    let document = OpenApiDocument::new(&openapi)?;
    let app = api
        .merge(http::frontend::routes(&state.config.web_dir))
        .layer(Extension(document))
        .with_state(state.clone());
    Ok(http::apply_layers(app, &state))
}
