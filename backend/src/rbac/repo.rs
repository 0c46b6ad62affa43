//! Role bindings and custom roles in the database, and the [`Authority`] they add up to.

use nimbus_api_types::identity::RoleRef;
use nimbus_api_types::ids::{ProjectId, TenantId, UserId};
use nimbus_api_types::rbac::{BuiltinRole, Permission};
use sqlx::PgConnection;

use super::policy::{Authority, PermissionSet, Scope};

/// Permission names as stored in `text[]` columns; unknown names (from a newer version) are
/// ignored, never widened into something else.
#[must_use]
pub fn permission_set(names: &[String]) -> PermissionSet {
    PermissionSet::of(
        &names
            .iter()
            .filter_map(|name| Permission::from_name(name))
            .collect::<Vec<_>>(),
    )
}

#[must_use]
pub fn permission_names(set: PermissionSet) -> Vec<String> {
    set.iter().map(|p| p.as_str().to_owned()).collect()
}

/// What `user` may do in `tenant`: the union of its role bindings. `None` when it is not a
/// member there, or its membership is disabled. Runs in a transaction scoped to `tenant`.
pub async fn authority_of(
    conn: &mut PgConnection,
    tenant: TenantId,
    user: UserId,
) -> Result<Option<Authority>, sqlx::Error> {
    let active = sqlx::query_scalar!(
        r#"SELECT m.disabled_at IS NULL AND t.suspended_at IS NULL AS "active!"
           FROM memberships m JOIN tenants t ON t.id = m.tenant_id
           WHERE m.tenant_id = $1 AND m.user_id = $2"#,
        tenant.0,
        user.0
    )
    .fetch_optional(&mut *conn)
    .await?;
    if active != Some(true) {
        return Ok(None);
    }
    let bindings = sqlx::query!(
        r#"SELECT b.builtin_role, r.permissions AS "custom_permissions?", b.project_id
           FROM role_bindings b LEFT JOIN roles r ON r.tenant_id = b.tenant_id AND r.id = b.role_id
           WHERE b.tenant_id = $1 AND b.user_id = $2"#,
        tenant.0,
        user.0
    )
    .fetch_all(&mut *conn)
    .await?;
    let mut authority = Authority::default();
    for binding in bindings {
        let permissions = match (&binding.builtin_role, &binding.custom_permissions) {
            (Some(name), _) => {
                BuiltinRole::from_name(name).map_or(PermissionSet::EMPTY, PermissionSet::role)
            }
            (None, Some(names)) => permission_set(names),
            (None, None) => PermissionSet::EMPTY,
        };
        let scope = binding
            .project_id
            .map_or(Scope::Tenant, |id| Scope::Project(ProjectId(id)));
        authority.bind(scope, permissions);
    }
    Ok(Some(authority))
}

/// The permissions a role grants; `None` for a custom role this tenant does not have.
pub async fn role_permissions(
    conn: &mut PgConnection,
    tenant: TenantId,
    role: RoleRef,
) -> Result<Option<PermissionSet>, sqlx::Error> {
    match role {
        RoleRef::Builtin(role) => Ok(Some(PermissionSet::role(role))),
        RoleRef::Custom(id) => {
            let names = sqlx::query_scalar!(
                "SELECT permissions FROM roles WHERE tenant_id = $1 AND id = $2",
                tenant.0,
                id.0
            )
            .fetch_optional(conn)
            .await?;
            Ok(names.map(|names| permission_set(&names)))
        }
    }
}

/// A role reference as stored in `(builtin_role, role_id)` columns.
#[must_use]
pub fn role_columns(role: RoleRef) -> (Option<&'static str>, Option<uuid::Uuid>) {
    match role {
        RoleRef::Builtin(role) => (Some(role.as_str()), None),
        RoleRef::Custom(id) => (None, Some(id.0)),
    }
}

/// The role reference stored in `(builtin_role, role_id)` columns.
#[must_use]
pub fn role_ref(builtin: Option<&str>, custom: Option<uuid::Uuid>) -> Option<RoleRef> {
    match (builtin.and_then(BuiltinRole::from_name), custom) {
        (Some(role), _) => Some(RoleRef::Builtin(role)),
        (None, Some(id)) => Some(RoleRef::Custom(nimbus_api_types::ids::RoleId(id))),
        (None, None) => None,
    }
}
