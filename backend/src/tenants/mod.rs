//! Tenants (organizations) and the projects inside them.

mod handlers;
mod projects;

use utoipa_axum::router::OpenApiRouter;

use crate::state::AppState;

pub use handlers::create as create_tenant_in;

pub fn routes() -> OpenApiRouter<AppState> {
    handlers::routes().merge(projects::routes())
}
