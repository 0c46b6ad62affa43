//! Single sign-on (issue 7): each tenant's identity providers — OpenID Connect (presets for
//! Microsoft Entra ID, Google, Okta, Keycloak) or GitHub — in `providers.rs`; the relying
//! party's sign-in in `flow.rs`, with the providers' documents kept in `discovery.rs`; who an
//! identity is in Nimbus in `accounts.rs`; what the sign-in page asks in `page.rs`; the
//! tenant's `sso_required` policy in `policy.rs`.

pub mod accounts;
pub mod discovery;
pub mod flow;
pub mod github;
pub mod page;
pub mod policy;
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
        .routes(routes!(flow::callback))
        .routes(routes!(page::sign_in_providers))
        .routes(routes!(page::pending_link, page::link))
        .routes(routes!(policy::read, policy::replace))
}
