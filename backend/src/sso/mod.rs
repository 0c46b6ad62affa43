//! Single sign-on (issue 7): each tenant's identity providers — OpenID Connect (presets for
//! Microsoft Entra ID, Google, Okta, Keycloak) or GitHub — in `providers.rs`; the relying
//! party's sign-in in `flow.rs`.

pub mod flow;
pub mod providers;

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::state::AppState;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(providers::list, providers::create))
        .routes(routes!(
            providers::read,
            providers::replace,
            providers::delete
        ))
        .routes(routes!(flow::start))
}
