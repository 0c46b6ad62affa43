//! Extractors that prove a handler's preconditions before it runs: [`Authenticated`] (any valid
//! credential), [`Can`] (a permission in the current tenant) and [`PlatformAdmin`]. A route's
//! required permission is its handler's signature; the route × role matrix test checks each
//! against the OpenAPI document.

use std::marker::PhantomData;
use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::header;
use axum::http::request::Parts;
use nimbus_api_types::ErrorCode;
use nimbus_api_types::ids::{ProjectId, TenantId};
use nimbus_api_types::rbac::Permission;

use super::principal::{self, Principal};
use crate::audit::{Entry, Outcome};
use crate::error::AppError;
use crate::http::REQUEST_ID;
use crate::rbac::policy::Scope;
use crate::state::AppState;

/// Where a request came from, for the audit log and the rate limiters.
#[derive(Debug, Clone, Default)]
pub struct RequestMeta {
    pub source_ip: Option<IpAddr>,
    pub request_id: Option<String>,
    pub user_agent: Option<String>,
}

impl<S: Send + Sync> FromRequestParts<S> for RequestMeta {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let header = |name| {
            parts
                .headers
                .get(name)
                .and_then(|value: &axum::http::HeaderValue| value.to_str().ok())
                .map(|value| value.chars().take(300).collect::<String>())
        };
        Ok(Self {
            source_ip: parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|info| info.0.ip()),
            request_id: header(REQUEST_ID),
            user_agent: header(header::USER_AGENT),
        })
    }
}

impl RequestMeta {
    /// An audit entry for an action without a signed-in actor (sign-in attempts, setup).
    #[must_use]
    pub fn entry(
        &self,
        tenant: Option<TenantId>,
        actor: String,
        action: &'static str,
        target: String,
        outcome: Outcome,
    ) -> Entry {
        Entry {
            tenant,
            actor,
            action,
            target,
            outcome,
            source_ip: self.source_ip,
            request_id: self.request_id.clone(),
            details: serde_json::Value::Object(serde_json::Map::new()),
        }
    }
}

/// Any authenticated caller, in a tenant or not.
pub struct Authenticated {
    pub principal: Principal,
    pub meta: RequestMeta,
}

impl FromRequestParts<AppState> for Authenticated {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        let principal = principal::authenticate(state, &parts.method, &parts.headers).await?;
        let Ok(meta) = RequestMeta::from_request_parts(parts, state).await;
        Ok(Self { principal, meta })
    }
}

impl Authenticated {
    /// A successful audit entry by this caller, in its tenant.
    #[must_use]
    pub fn audit(&self, action: &'static str, target: String) -> Entry {
        self.meta.entry(
            self.principal.tenant,
            self.principal.actor(),
            action,
            target,
            Outcome::Success,
        )
    }

    /// A successful audit entry by this caller in `tenant`'s trail (a platform administrator
    /// acting on a tenant it is not working in).
    #[must_use]
    pub fn audit_in(&self, tenant: TenantId, action: &'static str, target: String) -> Entry {
        self.meta.entry(
            Some(tenant),
            self.principal.actor(),
            action,
            target,
            Outcome::Success,
        )
    }
}

/// A permission as a type, so a handler's signature names what it requires.
pub trait RequiredPermission: Send + Sync + 'static {
    const PERMISSION: Permission;
}

/// Marker types for [`Can`], one per tenant permission.
pub mod perm {
    use super::{Permission, RequiredPermission};

    macro_rules! markers {
        ($($name:ident),+ $(,)?) => {$(
            #[doc = concat!("Requires `", stringify!($name), "`.")]
            pub struct $name;
            impl RequiredPermission for $name {
                const PERMISSION: Permission = Permission::$name;
            }
        )+};
    }

    markers!(
        TenantSettings,
        ProjectsManage,
        UsersManage,
        RolesManage,
        CloudsRead,
        CloudsWrite,
        InventoryRead,
        AppsRead,
        AppsWrite,
        CostRead,
        CostWrite,
        BudgetsWrite,
        AuditRead,
        TokensManage,
        IdentityProvidersManage,
    );
}

/// A caller holding `P` across its current tenant. Without a tenant: `403`; without `P`: `403`.
pub struct Can<P> {
    pub principal: Principal,
    pub tenant: TenantId,
    pub meta: RequestMeta,
    required: PhantomData<P>,
}

impl<P: RequiredPermission> FromRequestParts<AppState> for Can<P> {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        let Authenticated { principal, meta } =
            Authenticated::from_request_parts(parts, state).await?;
        let tenant = Self::check(&principal)?;
        Ok(Self {
            principal,
            tenant,
            meta,
            required: PhantomData,
        })
    }
}

impl<P: RequiredPermission> Can<P> {
    /// The caller's current tenant when it holds `P` across it; otherwise the `403` the
    /// extractor answers (for handlers that also admit platform administrators).
    pub fn check(principal: &Principal) -> Result<TenantId, AppError> {
        require(principal, P::PERMISSION, Scope::Tenant)
    }
}

/// The caller's current tenant when it holds `permission` at `scope` there; otherwise `403`.
fn require(
    principal: &Principal,
    permission: Permission,
    scope: Scope,
) -> Result<TenantId, AppError> {
    let tenant = principal.tenant.ok_or_else(no_tenant)?;
    if !principal.authority.allows(permission, scope) {
        return Err(AppError::new(
            ErrorCode::Forbidden,
            format!("this needs the `{permission}` permission"),
        ));
    }
    Ok(tenant)
}

/// `audit`: a successful audit entry by the caller in its tenant, for the extractors that
/// prove one.
macro_rules! audit_in_tenant {
    ($($extractor:ty $(, $generic:ident)?;)+) => {$(
        impl$(<$generic>)? $extractor {
            /// A successful audit entry by this caller in its tenant.
            #[must_use]
            pub fn audit(&self, action: &'static str, target: String) -> Entry {
                self.meta.entry(
                    Some(self.tenant),
                    self.principal.actor(),
                    action,
                    target,
                    Outcome::Success,
                )
            }
        }
    )+};
}

audit_in_tenant! {
    Can<P>, P;
    CanInScope<P>, P;
    Member;
}

/// A caller holding `P` across its tenant, or — for an API token limited to one project —
/// in that project. The handler must confine what it reads to `project` when it is set.
pub struct CanInScope<P> {
    pub principal: Principal,
    pub tenant: TenantId,
    /// The one project the caller is limited to, if any.
    pub project: Option<ProjectId>,
    pub meta: RequestMeta,
    required: PhantomData<P>,
}

impl<P: RequiredPermission> FromRequestParts<AppState> for CanInScope<P> {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        let Authenticated { principal, meta } =
            Authenticated::from_request_parts(parts, state).await?;
        let project = principal.project;
        let scope = project.map_or(Scope::Tenant, Scope::Project);
        let tenant = require(&principal, P::PERMISSION, scope)?;
        Ok(Self {
            principal,
            tenant,
            project,
            meta,
            required: PhantomData,
        })
    }
}

impl<P> CanInScope<P> {
    /// The project a list is confined to: the caller's one project when it is limited to one
    /// (asking for another is `403`), otherwise the one asked for, if any.
    pub fn confine(&self, asked: Option<ProjectId>) -> Result<Option<ProjectId>, AppError> {
        match (self.project, asked) {
            (Some(only), Some(asked)) if only != asked => Err(AppError::new(
                ErrorCode::Forbidden,
                "this token is limited to another project",
            )),
            (only, asked) => Ok(only.or(asked)),
        }
    }
}

/// Any member of the current tenant, whatever its permissions (to list projects or roles).
pub struct Member {
    pub principal: Principal,
    pub tenant: TenantId,
    pub meta: RequestMeta,
}

impl FromRequestParts<AppState> for Member {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        let Authenticated { principal, meta } =
            Authenticated::from_request_parts(parts, state).await?;
        let tenant = principal.tenant.ok_or_else(no_tenant)?;
        Ok(Self {
            principal,
            tenant,
            meta,
        })
    }
}

fn no_tenant() -> AppError {
    AppError::new(
        ErrorCode::Forbidden,
        "you have no active membership in a tenant: accept an invitation, switch tenants, or ask \
         an administrator (your membership or the tenant may be suspended)",
    )
}

/// A platform administrator signed in as a person (never through an API token).
pub struct PlatformAdmin {
    pub principal: Principal,
    pub meta: RequestMeta,
}

impl FromRequestParts<AppState> for PlatformAdmin {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        let Authenticated { principal, meta } =
            Authenticated::from_request_parts(parts, state).await?;
        if !principal.platform_admin {
            return Err(AppError::new(
                ErrorCode::Forbidden,
                format!("this needs the `{}` permission", Permission::TenantsManage),
            ));
        }
        Ok(Self { principal, meta })
    }
}
