//! API tokens for integrations (SECURITY.md 12): scoped to at most the creator's permissions and
//! optionally one project, expiring, revocable; the secret is shown once and stored as SHA-256.
//! A token also never outgrows its creator later: each use narrows it to what the creator holds
//! then ([`crate::rbac::Authority::narrowed`]).

use axum::extract::State;
use axum::http::StatusCode;
use nimbus_api_types::ErrorCode;
use nimbus_api_types::identity::{ApiToken, CreatedApiToken, NewApiToken, Page};
use nimbus_api_types::ids::{ApiTokenId, ProjectId, TenantId, UserId};
use sqlx::PgConnection;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::extract::{Can, perm};
use super::secret::{NewSecret, SecretKind};
use crate::audit::{self, Entry};
use crate::db;
use crate::error::AppError;
use crate::http::extract::{Json, Path, Query};
use crate::http::paging::PageQuery;
use crate::http::validate::bounded_name;
use crate::rbac::repo::{permission_names, permission_set};
use crate::rbac::{Authority, PermissionSet, Scope};
use crate::state::AppState;

/// Longest lifetime a token may be given, in days.
const MAX_DAYS: u32 = 3650;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create_route))
        .routes(routes!(revoke))
}

struct TokenRow {
    id: uuid::Uuid,
    user_id: uuid::Uuid,
    name: String,
    display_prefix: String,
    permissions: Vec<String>,
    project_id: Option<uuid::Uuid>,
    created_at: chrono::DateTime<chrono::Utc>,
    expires_at: Option<chrono::DateTime<chrono::Utc>>,
    last_used_at: Option<chrono::DateTime<chrono::Utc>>,
    revoked_at: Option<chrono::DateTime<chrono::Utc>>,
}

impl From<TokenRow> for ApiToken {
    fn from(row: TokenRow) -> Self {
        Self {
            id: ApiTokenId(row.id),
            user_id: UserId(row.user_id),
            name: row.name,
            display_prefix: row.display_prefix,
            permissions: permission_set(&row.permissions).iter().collect(),
            project_id: row.project_id.map(ProjectId),
            created_at: row.created_at,
            expires_at: row.expires_at,
            last_used_at: row.last_used_at,
            revoked_at: row.revoked_at,
        }
    }
}

/// Creates a token for `user` holding `authority` in `tenant`, in the caller's tenant-scoped
/// transaction, and audits it with `entry`. Refuses permissions beyond `authority`.
pub async fn create(
    conn: &mut PgConnection,
    tenant: TenantId,
    user: UserId,
    authority: &Authority,
    request: &NewApiToken,
    entry: &mut Entry,
) -> Result<CreatedApiToken, AppError> {
    let name = bounded_name(&request.name, 100)?;
    if request
        .expires_in_days
        .is_some_and(|days| days == 0 || days > MAX_DAYS)
    {
        return Err(AppError::new(
            ErrorCode::ValidationFailed,
            format!("expires_in_days must be between 1 and {MAX_DAYS}"),
        ));
    }
    let scope = request.project_id.map_or(Scope::Tenant, Scope::Project);
    let held = authority.at(scope);
    let permissions = match &request.permissions {
        Some(asked) => PermissionSet::of(asked),
        None => held,
    };
    if !permissions.is_subset_of(held) {
        return Err(AppError::new(
            ErrorCode::Forbidden,
            "a token cannot hold permissions you do not hold there",
        ));
    }
    let secret = NewSecret::generate(SecretKind::ApiToken).map_err(AppError::internal)?;
    let row = sqlx::query_as!(
        TokenRow,
        "INSERT INTO api_tokens (id, tenant_id, user_id, name, display_prefix, secret_hash, permissions, project_id, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, now() + make_interval(days => $9))
         RETURNING id, user_id, name, display_prefix, permissions, project_id, created_at, expires_at, last_used_at, revoked_at",
        uuid::Uuid::new_v4(),
        tenant.0,
        user.0,
        name,
        secret.display_prefix(),
        secret.hash.as_bytes(),
        &permission_names(permissions),
        request.project_id.map(|p| p.0),
        request.expires_in_days.map(|days| i32::try_from(days).unwrap_or(i32::MAX)),
    )
    .fetch_one(&mut *conn)
    .await
    .map_err(|err| AppError::constraint(err, None, Some("no such project in this tenant")))?;
    let token = ApiToken::from(row);
    entry.target = format!("api_token:{}", token.id);
    entry.details = serde_json::json!({ "name": token.name, "permissions": token.permissions, "project": token.project_id });
    audit::record(conn, entry).await?;
    Ok(CreatedApiToken {
        token,
        secret: secret.plaintext,
    })
}

/// The caller's own tokens in this tenant, newest first (revoked ones included).
#[utoipa::path(get, path = "/api/v1/api-tokens", tag = "api-tokens", params(PageQuery),
    security(("session" = ["tokens:manage"]), ("bearer" = ["tokens:manage"])),
    responses((status = 200, description = "One page of tokens; never their secrets", body = Page<ApiToken>)))]
pub async fn list(
    State(state): State<AppState>,
    caller: Can<perm::TokensManage>,
    Query(paging): Query<PageQuery>,
) -> Result<Json<Page<ApiToken>>, AppError> {
    let after = paging.after_key::<uuid::Uuid>()?;
    let mut tx = db::begin_for_tenant(&state.db, caller.tenant).await?;
    let rows = sqlx::query_as!(
        TokenRow,
        "SELECT id, user_id, name, display_prefix, permissions, project_id, created_at, expires_at, last_used_at, revoked_at
         FROM api_tokens WHERE tenant_id = $1 AND user_id = $2
           AND ($3::uuid IS NULL OR (created_at, id) < (SELECT created_at, id FROM api_tokens WHERE id = $3))
         ORDER BY created_at DESC, id DESC LIMIT $4",
        caller.tenant.0,
        caller.principal.user.0,
        after,
        paging.fetch_limit()?,
    )
    .fetch_all(&mut *tx)
    .await?;
    db::finish_read(tx);
    Ok(Json(paging.page(
        rows.into_iter().map(ApiToken::from).collect(),
        |token| token.id.to_string(),
    )?))
}

/// Creates a token; its secret is in this response only.
#[utoipa::path(post, path = "/api/v1/api-tokens", tag = "api-tokens", request_body = NewApiToken,
    security(("session" = ["tokens:manage"]), ("bearer" = ["tokens:manage"])),
    responses(
        (status = 201, description = "Created; store the secret now", body = CreatedApiToken),
        (status = 403, description = "A permission the caller does not hold", body = nimbus_api_types::ErrorBody),
    ))]
pub async fn create_route(
    State(state): State<AppState>,
    caller: Can<perm::TokensManage>,
    Json(body): Json<NewApiToken>,
) -> Result<(StatusCode, Json<CreatedApiToken>), AppError> {
    let mut tx = db::begin_for_tenant(&state.db, caller.tenant).await?;
    let mut entry = caller.audit("api_token.create", String::new());
    let created = create(
        &mut tx,
        caller.tenant,
        caller.principal.user,
        &caller.principal.authority,
        &body,
        &mut entry,
    )
    .await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(created)))
}

/// Revokes one of the caller's tokens at once on this server (others: within the cache window).
#[utoipa::path(delete, path = "/api/v1/api-tokens/{id}", tag = "api-tokens",
    params(("id" = ApiTokenId, Path, description = "The token")),
    security(("session" = ["tokens:manage"]), ("bearer" = ["tokens:manage"])),
    responses((status = 204, description = "Revoked"), (status = 404, description = "No such live token of the caller", body = nimbus_api_types::ErrorBody)))]
pub async fn revoke(
    State(state): State<AppState>,
    caller: Can<perm::TokensManage>,
    Path(id): Path<ApiTokenId>,
) -> Result<StatusCode, AppError> {
    let mut tx = db::begin_for_tenant(&state.db, caller.tenant).await?;
    let done = sqlx::query!(
        "UPDATE api_tokens SET revoked_at = now() WHERE tenant_id = $1 AND id = $2 AND user_id = $3 AND revoked_at IS NULL",
        caller.tenant.0,
        id.0,
        caller.principal.user.0
    )
    .execute(&mut *tx)
    .await?;
    if done.rows_affected() == 0 {
        return Err(AppError::new(ErrorCode::NotFound, "no such live token"));
    }
    audit::record(
        &mut tx,
        &caller.audit("api_token.revoke", format!("api_token:{id}")),
    )
    .await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}
