//! Single sign-on: a tenant's identity providers (OpenID Connect, or GitHub's OAuth 2.0) and
//! how their people become members with roles.
//!
//! Client secrets are write-only: they go in with [`IdentityProviderInput`] and never come
//! back out ([`IdentityProvider::has_client_secret`] says whether one is stored).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::ids::IdentityProviderId;
use crate::rbac::BuiltinRole;

#[cfg(feature = "server")]
use utoipa::ToSchema;

/// How the provider signs people in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ProviderKind {
    /// Any OpenID Connect provider, found through its issuer's discovery document.
    Oidc,
    /// GitHub (plain OAuth 2.0): the user and their organization / team memberships come from
    /// GitHub's API.
    Github,
}

impl ProviderKind {
    pub const ALL: [Self; 2] = [Self::Oidc, Self::Github];

    /// The stable wire name, such as `oidc`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Oidc => "oidc",
            Self::Github => "github",
        }
    }

    /// The kind with this wire name.
    #[must_use]
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.as_str() == name)
    }
}

/// Where an OpenID Connect provider's settings came from; the issuer is what counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ProviderPreset {
    /// Microsoft Entra ID: issuer `https://login.microsoftonline.com/{directory}/v2.0`,
    /// groups in the `groups` claim.
    EntraId,
    /// Google: issuer `https://accounts.google.com` (no group claim).
    Google,
    /// Okta: issuer `https://{your-domain}.okta.com` (or an authorization server), groups in
    /// `groups`.
    Okta,
    /// Keycloak: issuer `https://{host}/realms/{realm}`, groups in `groups`.
    Keycloak,
}

impl ProviderPreset {
    pub const ALL: [Self; 4] = [Self::EntraId, Self::Google, Self::Okta, Self::Keycloak];

    /// The stable wire name, such as `entra_id`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::EntraId => "entra_id",
            Self::Google => "google",
            Self::Okta => "okta",
            Self::Keycloak => "keycloak",
        }
    }

    /// The preset with this wire name.
    #[must_use]
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|preset| preset.as_str() == name)
    }
}

/// A provider group (or GitHub `org` / `org/team`) whose members get a role.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RoleMapping {
    pub group: String,
    pub role: BuiltinRole,
}

/// What an administrator sets for a provider.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct IdentityProviderInput {
    /// Shown on the sign-in button ("Sign in with …").
    pub name: String,
    pub kind: ProviderKind,
    #[serde(default)]
    pub preset: Option<ProviderPreset>,
    /// OpenID Connect: the issuer, exactly as the provider's ID tokens carry it. GitHub: a
    /// GitHub Enterprise Server's URL, or none for github.com.
    #[serde(default)]
    pub issuer: Option<String>,
    pub client_id: String,
    /// Write-only; omitted on a change: the stored one is kept.
    #[serde(default)]
    pub client_secret: Option<String>,
    /// Scopes asked for besides `openid` (OIDC), e.g. `["email", "profile", "groups"]`.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// The ID-token claim holding the user's groups (OIDC), e.g. `groups` or `roles`.
    #[serde(default)]
    pub groups_claim: Option<String>,
    /// People with a verified e-mail address in these domains become members at their first
    /// sign-in; everyone else needs an invitation.
    #[serde(default)]
    pub allowed_domains: Vec<String>,
    /// Groups whose members get a role, evaluated at every sign-in.
    #[serde(default)]
    pub role_mappings: Vec<RoleMapping>,
    /// The role of a member no mapping matches (default: viewer).
    #[serde(default)]
    pub default_role: Option<BuiltinRole>,
    /// Off: the provider is kept but nobody signs in with it.
    #[serde(default = "enabled")]
    pub enabled: bool,
}

fn enabled() -> bool {
    true
}

/// A configured provider as administrators see it (never its secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(ToSchema))]
pub struct IdentityProvider {
    pub id: IdentityProviderId,
    pub name: String,
    pub kind: ProviderKind,
    pub preset: Option<ProviderPreset>,
    pub issuer: Option<String>,
    pub client_id: String,
    pub has_client_secret: bool,
    pub scopes: Vec<String>,
    pub groups_claim: Option<String>,
    pub allowed_domains: Vec<String>,
    pub role_mappings: Vec<RoleMapping>,
    pub default_role: BuiltinRole,
    pub enabled: bool,
    /// The redirect URI to register at the provider, exactly.
    pub redirect_uri: String,
    /// Where the provider sends people back after signing out of it (RP-initiated logout), to
    /// register there as the post-logout redirect URI.
    pub post_logout_redirect_uri: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A tenant's single sign-on policy (`/api/v1/sso-policy`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct SsoPolicy {
    /// Password sign-ins into the tenant are refused (API tokens keep working), except for
    /// `break_glass_owner`. While it is on, saving ends every password session in the tenant
    /// but the break-glass Owner's.
    pub sso_required: bool,
    /// An Owner with a password who may still sign in with it, for when the provider fails.
    /// Required while `sso_required` is on.
    #[serde(default)]
    pub break_glass_owner: Option<crate::ids::UserId>,
}

/// A button of the sign-in page: `GET /api/v1/auth/sso/providers` lists a tenant's enabled
/// providers, found by the tenant's slug or by an e-mail domain one of them admits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(ToSchema))]
pub struct SignInProvider {
    pub id: IdentityProviderId,
    /// "Sign in with {name}".
    pub name: String,
    pub kind: ProviderKind,
    /// The tenant's slug, to pass to `/api/v1/auth/sso/start`.
    pub tenant: String,
    pub tenant_name: String,
}

/// A provider identity waiting to be linked to the existing account with its e-mail address
/// (`GET /api/v1/auth/sso/link`, for the browser that signed in at the provider).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(ToSchema))]
pub struct PendingLink {
    /// The existing account's address.
    pub email: String,
    /// The provider's name.
    pub provider: String,
    pub tenant: String,
}

/// `POST /api/v1/auth/sso/link`: the existing account's password (and its authenticator code
/// when it has a second factor) proves the person owns it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct LinkAccount {
    pub password: String,
    #[serde(default)]
    pub totp_code: Option<String>,
}

/// Whether `path` is a path of this site to return to after signing in: it must start with one
/// `/`; anything that could leave the site (`//host`, `/\host`, `https://…`, a header break)
/// is not one.
#[must_use]
pub fn same_site_path(path: &str) -> bool {
    path.starts_with('/')
        && !path.starts_with("//")
        && !path.starts_with("/\\")
        && !path.contains(['\r', '\n'])
}
