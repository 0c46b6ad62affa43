//! Members of the tenant and invitations to join it.

use axum::extract::State;
use axum::http::StatusCode;
use nimbus_api_types::ErrorCode;
use nimbus_api_types::identity::{
    AcceptInvitation, CreatedInvitation, Invitation, NewInvitation, Page, TenantSummary, User,
    UserChange,
};
use nimbus_api_types::ids::{InvitationId, ProjectId, TenantId, UserId};
use serde::Deserialize;
use sqlx::PgConnection;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{Email, repo};
use crate::audit::{self, Outcome};
use crate::auth::extract::{Can, RequestMeta, perm};
use crate::auth::password::{self, Password, PasswordHashString};
use crate::auth::secret::{NewSecret, SecretHash, SecretKind};
use crate::db;
use crate::error::AppError;
use crate::http::extract::{Json, Path, Query};
use crate::http::paging::PageQuery;
use crate::mail::InvitationMail;
use crate::rbac::repo as rbac_repo;
use crate::rbac::{Grant, Scope};
use crate::state::AppState;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_users))
        .routes(routes!(get_user, change_user, remove_user))
        .routes(routes!(list_invitations, create_invitation))
        .routes(routes!(revoke_invitation))
        .routes(routes!(accept_invitation))
}

async fn tenant_name(state: &AppState, tenant: TenantId) -> Result<String, AppError> {
    Ok(
        sqlx::query_scalar!("SELECT name FROM tenants WHERE id = $1", tenant.0)
            .fetch_one(&state.db)
            .await?,
    )
}

fn no_such_user() -> AppError {
    AppError::new(ErrorCode::NotFound, "no such user in this tenant")
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UserFilter {
    /// Part of an e-mail address or name.
    pub q: Option<String>,
    pub limit: Option<u32>,
    pub cursor: Option<String>,
}

/// The tenant's members, by e-mail address.
#[utoipa::path(get, path = "/api/v1/users", tag = "users", params(UserFilter),
    security(("session" = ["users:manage"]), ("bearer" = ["users:manage"])),
    responses((status = 200, description = "One page of members", body = Page<User>)))]
pub async fn list_users(
    State(state): State<AppState>,
    caller: Can<perm::UsersManage>,
    Query(filter): Query<UserFilter>,
) -> Result<Json<Page<User>>, AppError> {
    let paging = PageQuery {
        limit: filter.limit,
        cursor: filter.cursor,
    };
    let pattern = filter.q.as_deref().map(db::contains_pattern);
    let mut tx = db::begin_for_tenant(&state.db, caller.tenant).await?;
    let rows = sqlx::query!(
        r#"SELECT u.id, u.email, u.display_name, (u.disabled_at IS NOT NULL OR m.disabled_at IS NOT NULL) AS "disabled!", u.created_at
           FROM memberships m JOIN users u ON u.id = m.user_id
           WHERE m.tenant_id = $1 AND ($2::text IS NULL OR u.email > $2)
             AND ($3::text IS NULL OR u.email ILIKE $3 OR u.display_name ILIKE $3)
           ORDER BY u.email LIMIT $4"#,
        caller.tenant.0,
        paging.after()?,
        pattern,
        paging.fetch_limit()?,
    )
    .fetch_all(&mut *tx)
    .await?;
    db::finish_read(tx);
    let users = rows
        .into_iter()
        .map(|row| User {
            id: UserId(row.id),
            email: row.email,
            display_name: row.display_name,
            disabled: row.disabled,
            created_at: row.created_at,
        })
        .collect();
    Ok(Json(paging.page(users, |user| user.email.clone())?))
}

async fn member(conn: &mut PgConnection, tenant: TenantId, user: UserId) -> Result<User, AppError> {
    let row = sqlx::query!(
        r#"SELECT u.id, u.email, u.display_name, (u.disabled_at IS NOT NULL OR m.disabled_at IS NOT NULL) AS "disabled!", u.created_at
           FROM memberships m JOIN users u ON u.id = m.user_id WHERE m.tenant_id = $1 AND m.user_id = $2"#,
        tenant.0,
        user.0
    )
    .fetch_optional(conn)
    .await?
    .ok_or_else(no_such_user)?;
    Ok(User {
        id: UserId(row.id),
        email: row.email,
        display_name: row.display_name,
        disabled: row.disabled,
        created_at: row.created_at,
    })
}

/// One member.
#[utoipa::path(get, path = "/api/v1/users/{id}", tag = "users",
    params(("id" = UserId, Path, description = "The user")),
    security(("session" = ["users:manage"]), ("bearer" = ["users:manage"])),
    responses((status = 200, description = "The member", body = User), (status = 404, description = "Not a member of this tenant", body = nimbus_api_types::ErrorBody)))]
pub async fn get_user(
    State(state): State<AppState>,
    caller: Can<perm::UsersManage>,
    Path(id): Path<UserId>,
) -> Result<Json<User>, AppError> {
    let mut tx = db::begin_for_tenant(&state.db, caller.tenant).await?;
    let user = member(&mut tx, caller.tenant, id).await?;
    db::finish_read(tx);
    Ok(Json(user))
}

/// Checks that the caller may act on `target`'s membership: not itself, and only on members
/// whose permissions it holds all of (an Admin cannot lock out an Owner).
async fn check_may_manage(
    conn: &mut PgConnection,
    caller: &Can<perm::UsersManage>,
    target: UserId,
) -> Result<(), AppError> {
    if target == caller.principal.user {
        return Err(AppError::new(
            ErrorCode::ValidationFailed,
            "you cannot disable or remove yourself",
        ));
    }
    let theirs = rbac_repo::authority_of(conn, caller.tenant, target)
        .await?
        .unwrap_or_default();
    if !caller.principal.authority.covers(&theirs) {
        return Err(AppError::new(
            ErrorCode::Forbidden,
            "this member holds permissions you do not; ask an Owner",
        ));
    }
    Ok(())
}

/// Disables or re-enables a member in this tenant. Disabling ends its API tokens here at once and
/// its sessions' and access tokens' access to this tenant within the principal cache window.
#[utoipa::path(patch, path = "/api/v1/users/{id}", tag = "users", request_body = UserChange,
    params(("id" = UserId, Path, description = "The user")),
    security(("session" = ["users:manage"]), ("bearer" = ["users:manage"])),
    responses((status = 200, description = "The member", body = User), (status = 404, description = "Not a member of this tenant", body = nimbus_api_types::ErrorBody)))]
pub async fn change_user(
    State(state): State<AppState>,
    caller: Can<perm::UsersManage>,
    Path(id): Path<UserId>,
    Json(change): Json<UserChange>,
) -> Result<Json<User>, AppError> {
    let mut tx = db::begin_for_tenant(&state.db, caller.tenant).await?;
    member(&mut tx, caller.tenant, id).await?;
    if let Some(disabled) = change.disabled {
        check_may_manage(&mut tx, &caller, id).await?;
        sqlx::query!(
            "UPDATE memberships SET disabled_at = CASE WHEN $3 THEN coalesce(disabled_at, now()) END WHERE tenant_id = $1 AND user_id = $2",
            caller.tenant.0,
            id.0,
            disabled
        )
        .execute(&mut *tx)
        .await?;
        if disabled {
            sqlx::query!(
                "UPDATE api_tokens SET revoked_at = now() WHERE tenant_id = $1 AND user_id = $2 AND revoked_at IS NULL",
                caller.tenant.0,
                id.0
            )
            .execute(&mut *tx)
            .await?;
        }
        let action = if disabled {
            "user.disable"
        } else {
            "user.enable"
        };
        audit::record(&mut tx, &caller.audit(action, format!("user:{id}"))).await?;
    }
    let user = member(&mut tx, caller.tenant, id).await?;
    tx.commit().await?;
    Ok(Json(user))
}

/// Removes a member from this tenant with its role bindings and API tokens here. The account
/// itself stays (it may belong to other tenants).
#[utoipa::path(delete, path = "/api/v1/users/{id}", tag = "users",
    params(("id" = UserId, Path, description = "The user")),
    security(("session" = ["users:manage"]), ("bearer" = ["users:manage"])),
    responses((status = 204, description = "Removed"), (status = 404, description = "Not a member of this tenant", body = nimbus_api_types::ErrorBody)))]
pub async fn remove_user(
    State(state): State<AppState>,
    caller: Can<perm::UsersManage>,
    Path(id): Path<UserId>,
) -> Result<StatusCode, AppError> {
    let mut tx = db::begin_for_tenant(&state.db, caller.tenant).await?;
    member(&mut tx, caller.tenant, id).await?;
    check_may_manage(&mut tx, &caller, id).await?;
    sqlx::query!(
        "DELETE FROM memberships WHERE tenant_id = $1 AND user_id = $2",
        caller.tenant.0,
        id.0
    )
    .execute(&mut *tx)
    .await?;
    audit::record(&mut tx, &caller.audit("user.remove", format!("user:{id}"))).await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

fn invitation_from(row: InvitationRow) -> Result<Invitation, AppError> {
    Ok(Invitation {
        id: InvitationId(row.id),
        email: row.email,
        role: rbac_repo::role_ref(row.builtin_role.as_deref(), row.role_id).ok_or_else(|| {
            AppError::internal(std::io::Error::other("invitation without a role"))
        })?,
        project_id: row.project_id.map(ProjectId),
        created_at: row.created_at,
        expires_at: row.expires_at,
        accepted_at: row.accepted_at,
        revoked_at: row.revoked_at,
    })
}

struct InvitationRow {
    id: uuid::Uuid,
    email: String,
    builtin_role: Option<String>,
    role_id: Option<uuid::Uuid>,
    project_id: Option<uuid::Uuid>,
    created_at: chrono::DateTime<chrono::Utc>,
    expires_at: chrono::DateTime<chrono::Utc>,
    accepted_at: Option<chrono::DateTime<chrono::Utc>>,
    revoked_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// Invitations of this tenant, newest first.
#[utoipa::path(get, path = "/api/v1/invitations", tag = "users", params(PageQuery),
    security(("session" = ["users:manage"]), ("bearer" = ["users:manage"])),
    responses((status = 200, description = "One page of invitations", body = Page<Invitation>)))]
pub async fn list_invitations(
    State(state): State<AppState>,
    caller: Can<perm::UsersManage>,
    Query(paging): Query<PageQuery>,
) -> Result<Json<Page<Invitation>>, AppError> {
    let after = paging.after_key::<uuid::Uuid>()?;
    let mut tx = db::begin_for_tenant(&state.db, caller.tenant).await?;
    let rows = sqlx::query_as!(
        InvitationRow,
        "SELECT id, email, builtin_role, role_id, project_id, created_at, expires_at, accepted_at, revoked_at
         FROM invitations WHERE tenant_id = $1
           AND ($2::uuid IS NULL OR (created_at, id) < (SELECT created_at, id FROM invitations WHERE id = $2))
         ORDER BY created_at DESC, id DESC LIMIT $3",
        caller.tenant.0,
        after,
        paging.fetch_limit()?,
    )
    .fetch_all(&mut *tx)
    .await?;
    db::finish_read(tx);
    let items = rows
        .into_iter()
        .map(invitation_from)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Json(
        paging.page(items, |invitation| invitation.id.to_string())?,
    ))
}

/// Invites someone to this tenant with a role. The single-use link is returned this once; the
/// inviter must be able to grant the role (`roles:manage` and every permission in it).
#[utoipa::path(post, path = "/api/v1/invitations", tag = "users", request_body = NewInvitation,
    security(("session" = ["users:manage"]), ("bearer" = ["users:manage"])),
    responses(
        (status = 201, description = "Invited; share the link", body = CreatedInvitation),
        (status = 403, description = "The role is wider than the inviter's own", body = nimbus_api_types::ErrorBody),
        (status = 429, description = "Too many invitations", body = nimbus_api_types::ErrorBody),
    ))]
pub async fn create_invitation(
    State(state): State<AppState>,
    caller: Can<perm::UsersManage>,
    Json(body): Json<NewInvitation>,
) -> Result<(StatusCode, Json<CreatedInvitation>), AppError> {
    state
        .auth
        .limits
        .check(caller.meta.source_ip, Some(&caller.principal.actor()))?;
    let email = Email::parse(&body.email)?;
    let mut tx = db::begin_for_tenant(&state.db, caller.tenant).await?;
    let permissions = rbac_repo::role_permissions(&mut tx, caller.tenant, body.role)
        .await?
        .ok_or_else(|| AppError::new(ErrorCode::ValidationFailed, "no such role in this tenant"))?;
    let scope = body.project_id.map_or(Scope::Tenant, Scope::Project);
    if !caller
        .principal
        .authority
        .may_grant(&Grant { scope, permissions })
    {
        return Err(AppError::new(
            ErrorCode::Forbidden,
            "you can only invite with a role you could grant yourself",
        ));
    }
    let secret = NewSecret::generate(SecretKind::Link).map_err(AppError::internal)?;
    let (builtin_role, role_id) = rbac_repo::role_columns(body.role);
    let row = sqlx::query_as!(
        InvitationRow,
        "INSERT INTO invitations (id, tenant_id, email, builtin_role, role_id, project_id, secret_hash, invited_by, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, now() + make_interval(secs => $9))
         RETURNING id, email, builtin_role, role_id, project_id, created_at, expires_at, accepted_at, revoked_at",
        uuid::Uuid::new_v4(),
        caller.tenant.0,
        email.as_str(),
        builtin_role,
        role_id,
        body.project_id.map(|p| p.0),
        secret.hash.as_bytes(),
        caller.principal.user.0,
        state.config.auth.link_lifetime.as_secs_f64(),
    )
    .fetch_one(&mut *tx)
    .await
    .map_err(|err| AppError::constraint(err, None, Some("no such project in this tenant")))?;
    let invitation = invitation_from(row)?;
    let mut entry = caller.audit("invitation.create", format!("invitation:{}", invitation.id));
    entry.details = serde_json::json!({ "email": invitation.email, "role": invitation.role });
    audit::record(&mut tx, &entry).await?;
    tx.commit().await?;
    let link = format!(
        "{}/invitation#{}",
        state.config.base_url(),
        secret.plaintext
    );
    let emailed = match &state.mailer {
        Some(mailer) => {
            let tenant = tenant_name(&state, caller.tenant).await?;
            let inviter =
                repo::email_of(&mut *state.db.acquire().await?, caller.principal.user).await?;
            let mail = InvitationMail {
                tenant: &tenant,
                inviter: &inviter,
                link: &link,
                expires: invitation.expires_at.to_rfc2822(),
            };
            match mailer.send(&invitation.email, &mail).await {
                Ok(()) => true,
                Err(err) => {
                    // Nothing is lost: the inviter gets the link to pass on.
                    tracing::warn!(error = %err, invitation = %invitation.id, "invitation mail not sent");
                    false
                }
            }
        }
        None => false,
    };
    let link = (!emailed).then_some(link);
    Ok((
        StatusCode::CREATED,
        Json(CreatedInvitation {
            invitation,
            emailed,
            link,
        }),
    ))
}

/// Withdraws an invitation that has not been accepted.
#[utoipa::path(delete, path = "/api/v1/invitations/{id}", tag = "users",
    params(("id" = InvitationId, Path, description = "The invitation")),
    security(("session" = ["users:manage"]), ("bearer" = ["users:manage"])),
    responses((status = 204, description = "Withdrawn"), (status = 404, description = "No such pending invitation", body = nimbus_api_types::ErrorBody)))]
pub async fn revoke_invitation(
    State(state): State<AppState>,
    caller: Can<perm::UsersManage>,
    Path(id): Path<InvitationId>,
) -> Result<StatusCode, AppError> {
    let mut tx = db::begin_for_tenant(&state.db, caller.tenant).await?;
    let done = sqlx::query!(
        "UPDATE invitations SET revoked_at = now() WHERE tenant_id = $1 AND id = $2 AND accepted_at IS NULL AND revoked_at IS NULL",
        caller.tenant.0,
        id.0
    )
    .execute(&mut *tx)
    .await?;
    if done.rows_affected() == 0 {
        return Err(AppError::new(
            ErrorCode::NotFound,
            "no such pending invitation",
        ));
    }
    audit::record(
        &mut tx,
        &caller.audit("invitation.revoke", format!("invitation:{id}")),
    )
    .await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Accepts an invitation: creates the account (or checks the existing account's password),
/// joins the tenant with the invited role, and uses up the link.
#[utoipa::path(post, path = "/api/v1/invitations/accept", tag = "users", request_body = AcceptInvitation,
    responses(
        (status = 200, description = "Joined; sign in to the tenant", body = TenantSummary),
        (status = 401, description = "The link is invalid, used or expired, or the password is wrong", body = nimbus_api_types::ErrorBody),
        (status = 429, description = "Too many attempts", body = nimbus_api_types::ErrorBody),
    ))]
pub async fn accept_invitation(
    State(state): State<AppState>,
    meta: RequestMeta,
    Json(body): Json<AcceptInvitation>,
) -> Result<Json<TenantSummary>, AppError> {
    state.auth.limits.check(meta.source_ip, None)?;
    let invalid = || {
        AppError::new(
            ErrorCode::Unauthenticated,
            "this invitation is invalid, used, withdrawn or expired",
        )
    };
    let hash = SecretHash::of(&body.token);
    let mut tx = state.db.begin().await?;
    crate::db::present_credential(&mut tx, &hash.to_hex()).await?;
    let invitation = sqlx::query!(
        r#"SELECT i.id, i.tenant_id, i.email, i.builtin_role, i.role_id, i.project_id, t.slug, t.name,
                  t.suspended_at IS NOT NULL AS "suspended!"
           FROM invitations i JOIN tenants t ON t.id = i.tenant_id
           WHERE i.secret_hash = $1 AND i.accepted_at IS NULL AND i.revoked_at IS NULL AND i.expires_at > now()
           FOR UPDATE OF i"#,
        hash.as_bytes()
    )
    .fetch_optional(&mut *tx)
    .await?
    .ok_or_else(invalid)?;
    let tenant = TenantId(invitation.tenant_id);
    db::set_tenant(&mut tx, tenant).await?;
    let email = Email::parse(&invitation.email)?;
    let user = match repo::find_for_login(&state.db, &email).await? {
        Some(account) => {
            let stored = account.password_hash.map(PasswordHashString);
            let matches = password::verify(Password::new(body.password), stored)
                .await
                .map_err(AppError::internal)?;
            if !matches || account.disabled {
                return Err(AppError::new(
                    ErrorCode::Unauthenticated,
                    "the password of the existing account is wrong",
                ));
            }
            account.id
        }
        None => {
            let password = Password::new_for_account(body.password, email.as_str())
                .map_err(|err| AppError::new(ErrorCode::ValidationFailed, err.to_string()))?;
            let name = super::display_name(body.display_name.as_deref().unwrap_or(email.as_str()))?;
            let hash = password::hash(password).await.map_err(AppError::internal)?;
            repo::create(&mut tx, &email, name, Some(&hash.0), false)
                .await
                .map_err(super::conflict_on_duplicate)?
        }
    };
    repo::add_member(&mut tx, tenant, user).await?;
    sqlx::query!(
        "INSERT INTO role_bindings (id, tenant_id, user_id, builtin_role, role_id, project_id)
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
        uuid::Uuid::new_v4(),
        tenant.0,
        user.0,
        invitation.builtin_role,
        invitation.role_id,
        invitation.project_id,
    )
    .execute(&mut *tx)
    .await?;
    sqlx::query!(
        "UPDATE invitations SET accepted_at = now() WHERE id = $1",
        invitation.id
    )
    .execute(&mut *tx)
    .await?;
    audit::record(
        &mut tx,
        &meta.entry(
            Some(tenant),
            format!("user:{user}"),
            "invitation.accept",
            format!("invitation:{}", invitation.id),
            Outcome::Success,
        ),
    )
    .await?;
    tx.commit().await?;
    Ok(Json(TenantSummary {
        id: tenant,
        slug: invitation.slug,
        name: invitation.name,
        suspended: invitation.suspended,
    }))
}
