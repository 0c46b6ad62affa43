//! Tenants, projects, users, roles, tokens, sessions and the audit log on the wire.
//!
//! Request types name exactly the fields a caller may set (no mass assignment): a field that is
//! not here cannot be changed through the API, whatever the body says.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::ids::{
    ApiTokenId, InvitationId, ProjectId, RoleBindingId, RoleId, SessionId, TenantId, UserId,
};
use crate::rbac::{BuiltinRole, Permission};

#[cfg(feature = "server")]
use utoipa::ToSchema;

/// One page of a list, newest first. Pass `next_cursor` back as `cursor` for the next page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(ToSchema))]
pub struct Page<T> {
    pub items: Vec<T>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(ToSchema))]
pub struct Tenant {
    pub id: TenantId,
    pub slug: String,
    pub name: String,
    /// ISO 4217 code costs are reported in.
    pub reporting_currency: String,
    /// IANA time zone days and months are cut in.
    pub time_zone: String,
    pub created_at: DateTime<Utc>,
    /// Set while a platform administrator has suspended the tenant: nobody acts in it until it
    /// is resumed.
    pub suspended_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewTenant {
    /// Lower-case letters, digits and dashes; 2–63 characters; used in URLs.
    pub slug: String,
    pub name: String,
    #[serde(default)]
    pub reporting_currency: Option<String>,
    #[serde(default)]
    pub time_zone: Option<String>,
}

/// The tenant settings a tenant Owner may change. The slug is fixed once created.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct TenantSettingsChange {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub reporting_currency: Option<String>,
    #[serde(default)]
    pub time_zone: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(ToSchema))]
pub struct TenantSummary {
    pub id: TenantId,
    pub slug: String,
    pub name: String,
    /// A platform administrator suspended the tenant: nobody can work in it for now.
    pub suspended: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(ToSchema))]
pub struct Project {
    pub id: ProjectId,
    pub name: String,
    pub created_at: DateTime<Utc>,
}

/// Creates a project, or renames one (`PATCH`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ProjectInput {
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(ToSchema))]
pub struct User {
    pub id: UserId,
    pub email: String,
    pub display_name: String,
    pub disabled: bool,
    pub created_at: DateTime<Utc>,
}

/// What a tenant administrator may change about a member.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct UserChange {
    /// Disabling ends every session and token of the user at once.
    #[serde(default)]
    pub disabled: Option<bool>,
}

/// The caller: who it is, where it works and what it may do there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(ToSchema))]
pub struct Me {
    pub user: User,
    pub platform_admin: bool,
    /// The tenant requests work in; `None` until the user belongs to one.
    pub tenant: Option<TenantSummary>,
    /// Tenant-wide permissions in that tenant.
    pub permissions: Vec<Permission>,
    /// Every tenant the user belongs to.
    pub tenants: Vec<TenantSummary>,
    /// Browser sessions only: send it back as `X-CSRF-Token` on every unsafe request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub csrf_token: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct SwitchTenant {
    /// The tenant's slug.
    pub tenant: String,
}

/// A role: built-in by name (`"admin"`) or custom by id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(ToSchema))]
#[serde(untagged)]
pub enum RoleRef {
    Builtin(BuiltinRole),
    Custom(RoleId),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(ToSchema))]
pub struct Role {
    pub role: RoleRef,
    pub name: String,
    pub description: String,
    pub builtin: bool,
    pub permissions: Vec<Permission>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewRole {
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub permissions: Vec<Permission>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(ToSchema))]
pub struct RoleBinding {
    pub id: RoleBindingId,
    pub user_id: UserId,
    pub role: RoleRef,
    /// `None`: the whole tenant.
    pub project_id: Option<ProjectId>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewRoleBinding {
    pub user_id: UserId,
    pub role: RoleRef,
    #[serde(default)]
    pub project_id: Option<ProjectId>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(ToSchema))]
pub struct Invitation {
    pub id: InvitationId,
    pub email: String,
    pub role: RoleRef,
    pub project_id: Option<ProjectId>,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub accepted_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewInvitation {
    pub email: String,
    pub role: RoleRef,
    #[serde(default)]
    pub project_id: Option<ProjectId>,
}

/// A new invitation. Its single-use link went out by e-mail, or — when no mail server is
/// configured or it refused — is here, this once, for the inviter to pass on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(ToSchema))]
pub struct CreatedInvitation {
    pub invitation: Invitation,
    pub emailed: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct AcceptInvitation {
    /// The secret from the invitation link.
    pub token: String,
    /// For a new account; ignored when the address already has one.
    #[serde(default)]
    pub display_name: Option<String>,
    /// A new account's password, or the existing account's current password.
    pub password: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(ToSchema))]
pub struct ApiToken {
    pub id: ApiTokenId,
    pub user_id: UserId,
    pub name: String,
    /// The token's first characters, to tell tokens apart; never enough to use it.
    pub display_prefix: String,
    pub permissions: Vec<Permission>,
    pub project_id: Option<ProjectId>,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewApiToken {
    pub name: String,
    /// At most the creator's own permissions; omitted: all of them.
    #[serde(default)]
    pub permissions: Option<Vec<Permission>>,
    /// Limits the token to one project.
    #[serde(default)]
    pub project_id: Option<ProjectId>,
    /// Days until the token expires; omitted: it never expires.
    #[serde(default)]
    pub expires_in_days: Option<u32>,
}

/// A new API token with its secret, shown this once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(ToSchema))]
pub struct CreatedApiToken {
    pub token: ApiToken,
    pub secret: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum SessionKind {
    /// Signed in through the dashboard (cookie).
    Browser,
    /// Signed in through `POST /api/v1/auth/token` (access and refresh tokens).
    Token,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(ToSchema))]
pub struct Session {
    pub id: SessionId,
    pub kind: SessionKind,
    pub created_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub source_ip: Option<String>,
    pub user_agent: Option<String>,
    /// Whether this is the session making the request.
    pub current: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Login {
    pub email: String,
    pub password: String,
    /// The tenant's slug to work in; omitted: the first one the user belongs to.
    #[serde(default)]
    pub tenant: Option<String>,
    /// The current code of the user's authenticator, when it has turned on a second factor.
    #[serde(default)]
    pub totp_code: Option<String>,
}

/// `POST /api/v1/auth/logout`: the Nimbus session has ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(ToSchema))]
pub struct SignedOut {
    /// For a session signed in through an identity provider that supports RP-initiated logout:
    /// where to send the browser to end the provider's session too (it comes back to
    /// `/sign-in`).
    pub provider_logout_url: Option<String>,
}

/// `POST /api/v1/auth/token`: sign in, or trade a refresh token for a new pair.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(ToSchema))]
#[serde(tag = "grant_type", rename_all = "snake_case", deny_unknown_fields)]
pub enum TokenRequest {
    Password {
        email: String,
        password: String,
        /// The tenant's slug the access token works in.
        tenant: String,
        /// The authenticator's current code, when the user has a second factor.
        #[serde(default)]
        totp_code: Option<String>,
    },
    RefreshToken {
        refresh_token: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(ToSchema))]
pub struct TokenResponse {
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: String,
    /// Seconds until the access token expires.
    pub expires_in: u64,
    /// Single use: each refresh returns a new one; presenting a used one ends the session.
    pub refresh_token: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ChangePassword {
    pub current_password: String,
    pub new_password: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PasswordResetRequest {
    pub email: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PasswordReset {
    /// The secret from the reset link.
    pub token: String,
    pub new_password: String,
}

/// Creates the first platform administrator with the link printed at first start.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PlatformSetup {
    pub token: String,
    pub email: String,
    pub display_name: String,
    pub password: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(ToSchema))]
pub struct AuditEntry {
    pub id: i64,
    pub actor: String,
    pub action: String,
    pub target: String,
    /// `success`, `failure` or `denied`.
    pub outcome: String,
    pub source_ip: Option<String>,
    pub request_id: Option<String>,
    pub details: serde_json::Value,
    pub occurred_at: DateTime<Utc>,
}

/// A second factor being set up: add the secret to an authenticator app, then confirm a code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(ToSchema))]
pub struct TotpEnrollment {
    /// Base32, for typing into an authenticator.
    pub secret: String,
    /// `otpauth://` URI, for a QR code.
    pub otpauth_url: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct TotpCode {
    pub code: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct TotpDisable {
    /// The account's password.
    pub password: String,
}
