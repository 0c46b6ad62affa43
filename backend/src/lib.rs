//! Nimbus: a multi-cloud management portal. This crate is the server and its CLI.
//!
//! [`router`] is the whole HTTP surface on one screen; [`cli`] is the composition root that
//! loads the configuration, opens the database and serves it.

pub mod admin;
pub mod apps;
pub mod audit;
pub mod auth;
pub mod cli;
pub mod clouds;
pub mod config;
pub mod cost;
pub mod db;
pub mod error;
pub mod events;
pub mod http;
pub mod mail;
pub mod notifications;
pub mod ops;
pub mod rbac;
pub mod secrets;
pub mod server;
pub mod sso;
pub mod state;
pub mod telemetry;
pub mod tenants;
pub mod users;

use axum::{Extension, Router};
use nimbus_api_types::{ErrorBody, ErrorCode, ErrorDetail};
use utoipa::openapi::OpenApi as OpenApiDoc;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
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
        (name = "auth", description = "Sign-in, tokens, the caller and its sessions"),
        (name = "tenants", description = "Organizations and their settings"),
        (name = "projects", description = "Groups of resources and costs inside a tenant"),
        (name = "users", description = "Members of the tenant and invitations"),
        (name = "roles", description = "Built-in and custom roles, and who holds them where"),
        (name = "api-tokens", description = "Tokens for integrations"),
        (name = "audit", description = "Who did what, when"),
        (name = "cost", description = "Bills from every cloud in one FOCUS ledger: imports, the explorer, allocation, forecasts"),
        (name = "clouds", description = "Connected cloud accounts: credentials, connection tests, syncs"),
        (name = "inventory", description = "Clusters, nodes, namespaces, workloads, apps and virtual machines from every connected cloud"),
        (name = "budgets", description = "Spending limits with alerts on actual and forecast spend"),
        (name = "notifications", description = "Messages shown in the portal"),
        (name = "sso", description = "Single sign-on: the tenant's identity providers"),
        (name = "events", description = "Live events over a WebSocket"),
        (name = "operations", description = "Liveness, readiness and metrics"),
        (name = "meta", description = "This API's own description"),
    ),
    components(schemas(ErrorBody, ErrorDetail, ErrorCode)),
    modifiers(&SecuritySchemes),
)]
struct ApiDoc;

/// The two ways to authenticate. An operation's security requirement lists, as scopes, the
/// permission it needs in the caller's tenant (none: any signed-in caller).
struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut OpenApiDoc) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("API token (nimbus_pat_…) or JWT access token")
                    .build(),
            ),
        );
        components.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                auth::principal::SESSION_COOKIE,
                "Browser session from POST /api/v1/auth/login; unsafe methods also need X-CSRF-Token",
            ))),
        );
    }
}

/// Every documented route with its OpenAPI description, except bill uploads. Each domain adds
/// its `routes()` here.
fn documented_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(auth::handlers::routes())
        .merge(auth::api_tokens::routes())
        .merge(auth::totp::routes())
        .merge(tenants::routes())
        .merge(users::handlers::routes())
        .merge(rbac::handlers::routes())
        .merge(audit::handlers::routes())
        .merge(cost::handlers::routes())
        .merge(cost::budget_handlers::routes())
        .merge(cost::anomaly_handlers::routes())
        .merge(clouds::handlers::routes())
        .merge(apps::routes())
        .merge(sso::routes())
        .merge(notifications::routes())
        .merge(events::routes())
        .merge(ops::routes())
        .merge(http::api_docs::routes())
}

/// The OpenAPI document of this build.
#[must_use]
pub fn openapi() -> OpenApiDoc {
    documented_routes()
        .merge(cost::handlers::upload_routes())
        .into_openapi()
}

/// The complete HTTP application: API, operations endpoints and the dashboard, wrapped in the
/// middleware stack.
pub fn router(state: AppState) -> Result<Router, serde_json::Error> {
    let (api, mut openapi) = documented_routes().split_for_parts();
    // Uploads get their own body limit and deadline, so they are layered apart.
    let (uploads, uploads_openapi) = cost::handlers::upload_routes().split_for_parts();
    openapi.merge(uploads_openapi);
    let document = OpenApiDocument::new(&openapi)?;
    let app = api
        .merge(http::frontend::routes(&state.config.web_dir))
        .layer(Extension(document))
        .with_state(state.clone());
    Ok(http::apply_layers(
        app,
        uploads.with_state(state.clone()),
        &state,
    ))
}
