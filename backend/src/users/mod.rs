//! People: accounts, their memberships in tenants, invitations and single-use links.

pub mod handlers;
pub mod links;
pub mod repo;

use nimbus_api_types::ErrorCode;
use nimbus_api_types::identity::{Me, TenantSummary};

use crate::auth::principal::Principal;
use crate::error::AppError;
use crate::state::AppState;

/// An e-mail address used as a login name: trimmed and lower-cased, one `@`, no spaces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    pub fn parse(raw: &str) -> Result<Self, AppError> {
        let email = raw.trim().to_lowercase();
        let valid = email.len() <= 254
            && !email.chars().any(char::is_whitespace)
            && email.split_once('@').is_some_and(|(local, domain)| {
                !local.is_empty() && !domain.is_empty() && !domain.contains('@')
            });
        if valid {
            Ok(Self(email))
        } else {
            Err(AppError::new(
                ErrorCode::ValidationFailed,
                "that is not an e-mail address",
            ))
        }
    }

    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A person's name as shown in the dashboard: 1–200 characters after trimming.
pub fn display_name(raw: &str) -> Result<&str, AppError> {
    crate::http::validate::bounded_name(raw, 200)
}

/// A unique-constraint violation as `409`; anything else as usual.
pub fn conflict_on_duplicate(err: sqlx::Error) -> AppError {
    AppError::constraint(
        err,
        Some("an account with this e-mail address already exists"),
        None,
    )
}

/// The caller's view of itself.
pub async fn me(state: &AppState, principal: &Principal) -> Result<Me, AppError> {
    let user = repo::get(&mut *state.db.acquire().await?, principal.user).await?;
    let tenants = repo::tenants_of(&state.db, principal.user).await?;
    let tenant: Option<TenantSummary> = principal
        .tenant
        .and_then(|id| tenants.iter().find(|tenant| tenant.id == id).cloned());
    Ok(Me {
        user,
        platform_admin: principal.platform_admin,
        tenant,
        permissions: principal
            .authority
            .at(crate::rbac::Scope::Tenant)
            .iter()
            .collect(),
        tenants,
        csrf_token: None,
    })
}
