//! Roles (built-in and custom) and role bindings. Granting follows [`Authority::may_grant`]:
//! nobody grants a permission they do not hold where they would grant it.

use axum::extract::State;
use axum::http::StatusCode;
use nimbus_api_types::ErrorCode;
use nimbus_api_types::identity::{NewRole, NewRoleBinding, Page, Role, RoleBinding, RoleRef};
use nimbus_api_types::ids::{ProjectId, RoleBindingId, RoleId, UserId};
use nimbus_api_types::rbac::{BuiltinRole, Permission};
use serde::Deserialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::repo::{permission_names, permission_set, role_columns, role_permissions, role_ref};
use super::{Grant, PermissionSet, Scope};
use crate::audit;
use crate::auth::extract::{Can, Member, perm};
use crate::db;
use crate::error::AppError;
use crate::http::extract::{Json, Path, Query};
use crate::http::paging::PageQuery;
use crate::http::validate::bounded_name;
use crate::state::AppState;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_roles, create_role))
        .routes(routes!(delete_role))
        .routes(routes!(list_bindings, create_binding))
        .routes(routes!(delete_binding))
}

fn forbidden_wider() -> AppError {
    AppError::new(
        ErrorCode::Forbidden,
        "you cannot grant permissions you do not hold there",
    )
}

/// Built-in roles first, then the tenant's custom roles by name.
#[utoipa::path(get, path = "/api/v1/roles", tag = "roles",
    security(("session" = []), ("bearer" = [])),
    responses((status = 200, description = "Every role of the tenant", body = Vec<Role>)))]
pub async fn list_roles(
    State(state): State<AppState>,
    caller: Member,
) -> Result<Json<Vec<Role>>, AppError> {
    let mut roles: Vec<Role> = BuiltinRole::ALL
        .into_iter()
        .map(|role| Role {
            role: RoleRef::Builtin(role),
            name: role.as_str().to_owned(),
            description: String::new(),
            builtin: true,
            permissions: role.permissions().to_vec(),
        })
        .collect();
    let mut tx = db::begin_for_tenant(&state.db, caller.tenant).await?;
    let custom = sqlx::query!("SELECT id, name, description, permissions FROM roles WHERE tenant_id = $1 ORDER BY name LIMIT 500", caller.tenant.0)
        .fetch_all(&mut *tx)
        .await?;
    db::finish_read(tx);
    roles.extend(custom.into_iter().map(|row| Role {
        role: RoleRef::Custom(RoleId(row.id)),
        name: row.name,
        description: row.description,
        builtin: false,
        permissions: permission_set(&row.permissions).iter().collect(),
    }));
    Ok(Json(roles))
}

/// Defines a custom role from permissions the caller holds tenant-wide.
#[utoipa::path(post, path = "/api/v1/roles", tag = "roles", request_body = NewRole,
    security(("session" = ["roles:manage"]), ("bearer" = ["roles:manage"])),
    responses(
        (status = 201, description = "Created", body = Role),
        (status = 403, description = "A permission the caller does not hold", body = nimbus_api_types::ErrorBody),
        (status = 409, description = "The name is taken", body = nimbus_api_types::ErrorBody),
    ))]
pub async fn create_role(
    State(state): State<AppState>,
    caller: Can<perm::RolesManage>,
    Json(body): Json<NewRole>,
) -> Result<(StatusCode, Json<Role>), AppError> {
    let name = bounded_name(&body.name, 100)?;
    if body.description.chars().count() > 500 {
        return Err(AppError::new(
            ErrorCode::ValidationFailed,
            "the description must be at most 500 characters",
        ));
    }
    if body.permissions.contains(&Permission::TenantsManage) {
        return Err(AppError::new(
            ErrorCode::ValidationFailed,
            "tenants:manage belongs to platform administrators, not to tenant roles",
        ));
    }
    let permissions = PermissionSet::of(&body.permissions);
    if !permissions.is_subset_of(caller.principal.authority.at(Scope::Tenant)) {
        return Err(forbidden_wider());
    }
    let id = RoleId(uuid::Uuid::new_v4());
    let mut tx = db::begin_for_tenant(&state.db, caller.tenant).await?;
    sqlx::query!(
        "INSERT INTO roles (id, tenant_id, name, description, permissions) VALUES ($1, $2, $3, $4, $5)",
        id.0,
        caller.tenant.0,
        name,
        body.description,
        &permission_names(permissions),
    )
    .execute(&mut *tx)
    .await
    .map_err(|err| AppError::constraint(err, Some("a role with this name exists"), None))?;
    let mut entry = caller.audit("role.create", format!("role:{id}"));
    entry.details =
        serde_json::json!({ "name": name, "permissions": permission_names(permissions) });
    audit::record(&mut tx, &entry).await?;
    tx.commit().await?;
    Ok((
        StatusCode::CREATED,
        Json(Role {
            role: RoleRef::Custom(id),
            name: name.to_owned(),
            description: body.description,
            builtin: false,
            permissions: permissions.iter().collect(),
        }),
    ))
}

/// Deletes a custom role and every binding of it.
#[utoipa::path(delete, path = "/api/v1/roles/{id}", tag = "roles",
    params(("id" = RoleId, Path, description = "The custom role")),
    security(("session" = ["roles:manage"]), ("bearer" = ["roles:manage"])),
    responses((status = 204, description = "Deleted"), (status = 404, description = "No such role", body = nimbus_api_types::ErrorBody)))]
pub async fn delete_role(
    State(state): State<AppState>,
    caller: Can<perm::RolesManage>,
    Path(id): Path<RoleId>,
) -> Result<StatusCode, AppError> {
    let mut tx = db::begin_for_tenant(&state.db, caller.tenant).await?;
    let permissions = role_permissions(&mut tx, caller.tenant, RoleRef::Custom(id))
        .await?
        .ok_or_else(|| AppError::new(ErrorCode::NotFound, "no such role"))?;
    if !permissions.is_subset_of(caller.principal.authority.at(Scope::Tenant)) {
        return Err(forbidden_wider());
    }
    sqlx::query!(
        "DELETE FROM roles WHERE tenant_id = $1 AND id = $2",
        caller.tenant.0,
        id.0
    )
    .execute(&mut *tx)
    .await?;
    audit::record(&mut tx, &caller.audit("role.delete", format!("role:{id}"))).await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct BindingFilter {
    /// Only this member's bindings.
    pub user_id: Option<UserId>,
    pub limit: Option<u32>,
    pub cursor: Option<String>,
}

struct BindingRow {
    id: uuid::Uuid,
    user_id: uuid::Uuid,
    builtin_role: Option<String>,
    role_id: Option<uuid::Uuid>,
    project_id: Option<uuid::Uuid>,
    created_at: chrono::DateTime<chrono::Utc>,
}

fn binding_from(row: BindingRow) -> Option<RoleBinding> {
    Some(RoleBinding {
        id: RoleBindingId(row.id),
        user_id: UserId(row.user_id),
        role: role_ref(row.builtin_role.as_deref(), row.role_id)?,
        project_id: row.project_id.map(ProjectId),
        created_at: row.created_at,
    })
}

/// Role bindings of the tenant, oldest first.
#[utoipa::path(get, path = "/api/v1/role-bindings", tag = "roles", params(BindingFilter),
    security(("session" = ["roles:manage"]), ("bearer" = ["roles:manage"])),
    responses((status = 200, description = "One page of role bindings", body = Page<RoleBinding>)))]
pub async fn list_bindings(
    State(state): State<AppState>,
    caller: Can<perm::RolesManage>,
    Query(filter): Query<BindingFilter>,
) -> Result<Json<Page<RoleBinding>>, AppError> {
    let paging = PageQuery {
        limit: filter.limit,
        cursor: filter.cursor,
    };
    let after = paging.after_key::<uuid::Uuid>()?;
    let mut tx = db::begin_for_tenant(&state.db, caller.tenant).await?;
    let rows = sqlx::query_as!(
        BindingRow,
        "SELECT id, user_id, builtin_role, role_id, project_id, created_at FROM role_bindings
         WHERE tenant_id = $1 AND ($2::uuid IS NULL OR user_id = $2) AND ($3::uuid IS NULL OR id > $3)
         ORDER BY id LIMIT $4",
        caller.tenant.0,
        filter.user_id.map(|u| u.0),
        after,
        paging.fetch_limit()?,
    )
    .fetch_all(&mut *tx)
    .await?;
    db::finish_read(tx);
    Ok(Json(paging.page(
        rows.into_iter().filter_map(binding_from).collect(),
        |binding| binding.id.to_string(),
    )?))
}

/// Gives a member a role, tenant-wide or in one project — only a role the caller could hold
/// out itself there.
#[utoipa::path(post, path = "/api/v1/role-bindings", tag = "roles", request_body = NewRoleBinding,
    security(("session" = ["roles:manage"]), ("bearer" = ["roles:manage"])),
    responses(
        (status = 201, description = "Bound", body = RoleBinding),
        (status = 403, description = "The role is wider than the caller's own there", body = nimbus_api_types::ErrorBody),
        (status = 409, description = "The member already has this role there", body = nimbus_api_types::ErrorBody),
    ))]
pub async fn create_binding(
    State(state): State<AppState>,
    caller: Can<perm::RolesManage>,
    Json(body): Json<NewRoleBinding>,
) -> Result<(StatusCode, Json<RoleBinding>), AppError> {
    let mut tx = db::begin_for_tenant(&state.db, caller.tenant).await?;
    let permissions = role_permissions(&mut tx, caller.tenant, body.role)
        .await?
        .ok_or_else(|| AppError::new(ErrorCode::ValidationFailed, "no such role in this tenant"))?;
    let scope = body.project_id.map_or(Scope::Tenant, Scope::Project);
    if !caller
        .principal
        .authority
        .may_grant(&Grant { scope, permissions })
    {
        return Err(forbidden_wider());
    }
    let (builtin_role, role_id) = role_columns(body.role);
    let row = sqlx::query_as!(
        BindingRow,
        "INSERT INTO role_bindings (id, tenant_id, user_id, builtin_role, role_id, project_id) VALUES ($1, $2, $3, $4, $5, $6)
         RETURNING id, user_id, builtin_role, role_id, project_id, created_at",
        uuid::Uuid::new_v4(),
        caller.tenant.0,
        body.user_id.0,
        builtin_role,
        role_id,
        body.project_id.map(|p| p.0),
    )
    .fetch_one(&mut *tx)
    .await
    .map_err(|err| AppError::constraint(err, Some("the member already has this role there"), Some("no such member or project in this tenant")))?;
    let binding = binding_from(row)
        .ok_or_else(|| AppError::internal(std::io::Error::other("binding without a role")))?;
    let mut entry = caller.audit(
        "role_binding.create",
        format!("role_binding:{}", binding.id),
    );
    entry.details = serde_json::json!({ "user": binding.user_id, "role": binding.role, "project": binding.project_id });
    audit::record(&mut tx, &entry).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(binding)))
}

/// Takes a role away — one the caller could have granted. The tenant's last Owner binding stays.
#[utoipa::path(delete, path = "/api/v1/role-bindings/{id}", tag = "roles",
    params(("id" = RoleBindingId, Path, description = "The role binding")),
    security(("session" = ["roles:manage"]), ("bearer" = ["roles:manage"])),
    responses(
        (status = 204, description = "Removed"),
        (status = 404, description = "No such role binding", body = nimbus_api_types::ErrorBody),
        (status = 409, description = "The tenant's last Owner", body = nimbus_api_types::ErrorBody),
    ))]
pub async fn delete_binding(
    State(state): State<AppState>,
    caller: Can<perm::RolesManage>,
    Path(id): Path<RoleBindingId>,
) -> Result<StatusCode, AppError> {
    let mut tx = db::begin_for_tenant(&state.db, caller.tenant).await?;
    let row = sqlx::query_as!(
        BindingRow,
        "SELECT id, user_id, builtin_role, role_id, project_id, created_at FROM role_bindings WHERE tenant_id = $1 AND id = $2 FOR UPDATE",
        caller.tenant.0,
        id.0
    )
    .fetch_optional(&mut *tx)
    .await?;
    let binding = row
        .and_then(binding_from)
        .ok_or_else(|| AppError::new(ErrorCode::NotFound, "no such role binding"))?;
    let permissions = role_permissions(&mut tx, caller.tenant, binding.role)
        .await?
        .unwrap_or_default();
    let scope = binding.project_id.map_or(Scope::Tenant, Scope::Project);
    if !caller
        .principal
        .authority
        .may_grant(&Grant { scope, permissions })
    {
        return Err(forbidden_wider());
    }
    if binding.role == RoleRef::Builtin(BuiltinRole::Owner) && binding.project_id.is_none() {
        // Lock every Owner binding so two concurrent removals cannot both pass the count.
        let owners = sqlx::query_scalar!(
            "SELECT id FROM role_bindings WHERE tenant_id = $1 AND builtin_role = 'owner' AND project_id IS NULL FOR UPDATE",
            caller.tenant.0
        )
        .fetch_all(&mut *tx)
        .await?;
        if owners.len() <= 1 {
            return Err(AppError::new(
                ErrorCode::Conflict,
                "a tenant keeps at least one Owner; make someone else Owner first",
            ));
        }
    }
    sqlx::query!(
        "DELETE FROM role_bindings WHERE tenant_id = $1 AND id = $2",
        caller.tenant.0,
        id.0
    )
    .execute(&mut *tx)
    .await?;
    let mut entry = caller.audit("role_binding.delete", format!("role_binding:{id}"));
    entry.details = serde_json::json!({ "user": binding.user_id, "role": binding.role, "project": binding.project_id });
    audit::record(&mut tx, &entry).await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}
