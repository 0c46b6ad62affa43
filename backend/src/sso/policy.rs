//! A tenant's single sign-on policy (`/api/v1/sso-policy`, `identity-providers:manage`). With
//! `sso_required`, password sign-ins into the tenant are refused except for one break-glass
//! Owner, and a browser session enters it only when signed in through one of its providers.
//! API tokens are not sign-ins and keep working.

use axum::extract::State;
use nimbus_api_types::ErrorCode;
use nimbus_api_types::ids::{IdentityProviderId, TenantId, UserId};
use nimbus_api_types::sso::SsoPolicy;
use sqlx::{PgConnection, PgPool};

use crate::audit;
use crate::auth::extract::{Can, perm};
use crate::db;
use crate::error::AppError;
use crate::http::extract::Json;
use crate::state::AppState;

/// How a password sign-in into a tenant goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PasswordSignIn {
    Allowed,
    /// The tenant requires single sign-on; this is its break-glass Owner.
    BreakGlass,
}

/// What a sign-in into a tenant must respect.
struct Requirement {
    name: String,
    slug: String,
    sso_required: bool,
    /// The user is the break-glass Owner (and still an Owner).
    break_glass: bool,
    /// The session's provider is one of the tenant's.
    own_provider: bool,
}

impl Requirement {
    fn refusal(&self) -> AppError {
        AppError::new(
            ErrorCode::Forbidden,
            format!(
                "{} signs in through single sign-on only: use its button on /sign-in?tenant={}",
                self.name, self.slug
            ),
        )
    }
}

async fn requirement(
    conn: &mut PgConnection,
    tenant: TenantId,
    user: UserId,
    provider: Option<IdentityProviderId>,
) -> Result<Requirement, AppError> {
    let row = sqlx::query!(
        r#"SELECT t.name, t.slug, t.sso_required,
                  (t.break_glass_owner IS NOT DISTINCT FROM $2 AND EXISTS (
                       SELECT 1 FROM role_bindings b
                       WHERE b.tenant_id = t.id AND b.user_id = $2 AND b.builtin_role = 'owner'
                         AND b.project_id IS NULL)) AS "break_glass!",
                  EXISTS (SELECT 1 FROM identity_providers p
                          WHERE p.tenant_id = t.id AND p.id = $3) AS "own_provider!"
           FROM tenants t WHERE t.id = $1"#,
        tenant.0,
        user.0,
        provider.map(|id| id.0),
    )
    .fetch_one(conn)
    .await?;
    Ok(Requirement {
        name: row.name,
        slug: row.slug,
        sso_required: row.sso_required,
        break_glass: row.break_glass,
        own_provider: row.own_provider,
    })
}

/// Whether `user` may sign in to `tenant` with a password.
pub async fn password_sign_in(
    pool: &PgPool,
    tenant: TenantId,
    user: UserId,
) -> Result<PasswordSignIn, AppError> {
    let mut tx = db::begin_for_tenant(pool, tenant).await?;
    let requirement = requirement(&mut tx, tenant, user, None).await?;
    db::finish_read(tx);
    match (requirement.sso_required, requirement.break_glass) {
        (false, _) => Ok(PasswordSignIn::Allowed),
        (true, true) => Ok(PasswordSignIn::BreakGlass),
        (true, false) => Err(requirement.refusal()),
    }
}

/// Whether a session of `user` signed in through `provider` (`None`: a password) may work in
/// `tenant`. Runs in the tenant's transaction.
pub async fn session_may_enter(
    conn: &mut PgConnection,
    tenant: TenantId,
    user: UserId,
    provider: Option<IdentityProviderId>,
) -> Result<(), AppError> {
    let requirement = requirement(conn, tenant, user, provider).await?;
    if requirement.sso_required && !requirement.break_glass && !requirement.own_provider {
        return Err(requirement.refusal());
    }
    Ok(())
}

async fn current(conn: &mut PgConnection, tenant: TenantId) -> Result<SsoPolicy, AppError> {
    let row = sqlx::query!(
        "SELECT sso_required, break_glass_owner FROM tenants WHERE id = $1",
        tenant.0
    )
    .fetch_one(conn)
    .await?;
    Ok(SsoPolicy {
        sso_required: row.sso_required,
        break_glass_owner: row.break_glass_owner.map(UserId),
    })
}

#[utoipa::path(get, path = "/api/v1/sso-policy", tag = "sso",
    security(("session" = ["identity-providers:manage"]), ("bearer" = ["identity-providers:manage"])),
    responses((status = 200, description = "The tenant's policy", body = SsoPolicy)))]
pub async fn read(
    State(state): State<AppState>,
    caller: Can<perm::IdentityProvidersManage>,
) -> Result<Json<SsoPolicy>, AppError> {
    let mut tx = db::begin_for_tenant(&state.db, caller.tenant).await?;
    let policy = current(&mut tx, caller.tenant).await?;
    db::finish_read(tx);
    Ok(Json(policy))
}

fn invalid(message: &'static str) -> AppError {
    AppError::new(ErrorCode::ValidationFailed, message)
}

/// Sets the policy. With `sso_required` on, the tenant's sessions that were not signed in
/// through one of its providers end (the break-glass Owner's excepted).
#[utoipa::path(put, path = "/api/v1/sso-policy", tag = "sso", request_body = SsoPolicy,
    security(("session" = ["identity-providers:manage"]), ("bearer" = ["identity-providers:manage"])),
    responses(
        (status = 200, description = "The tenant's policy", body = SsoPolicy),
        (status = 422, description = "The policy would lock people out", body = nimbus_api_types::ErrorBody),
    ))]
pub async fn replace(
    State(state): State<AppState>,
    caller: Can<perm::IdentityProvidersManage>,
    Json(policy): Json<SsoPolicy>,
) -> Result<Json<SsoPolicy>, AppError> {
    let tenant = caller.tenant;
    let mut tx = db::begin_for_tenant(&state.db, tenant).await?;
    if let Some(owner) = policy.break_glass_owner {
        let usable = sqlx::query_scalar!(
            r#"SELECT EXISTS (
                   SELECT 1 FROM role_bindings b JOIN users u ON u.id = b.user_id
                   JOIN memberships m ON m.tenant_id = b.tenant_id AND m.user_id = b.user_id
                   WHERE b.tenant_id = $1 AND b.user_id = $2 AND b.builtin_role = 'owner'
                     AND b.project_id IS NULL AND u.password_hash IS NOT NULL
                     AND u.disabled_at IS NULL AND m.disabled_at IS NULL) AS "usable!""#,
            tenant.0,
            owner.0
        )
        .fetch_one(&mut *tx)
        .await?;
        if !usable {
            return Err(invalid(
                "break_glass_owner: an enabled Owner of this tenant who has a password",
            ));
        }
    }
    let mut sessions_ended = 0;
    if policy.sso_required {
        let break_glass = policy.break_glass_owner.ok_or_else(|| {
            invalid(
                "break_glass_owner: an Owner with a password who may still sign in with it when \
                 the provider fails",
            )
        })?;
        let providers = sqlx::query_scalar!(
            r#"SELECT count(*) AS "count!" FROM identity_providers
               WHERE tenant_id = $1 AND enabled"#,
            tenant.0
        )
        .fetch_one(&mut *tx)
        .await?;
        if providers == 0 {
            return Err(invalid(
                "sso_required: add and enable an identity provider first",
            ));
        }
        // Whoever turns it on proves a sign-in through the provider works first — unless they
        // keep the way in themselves.
        if let Some(session) = caller.principal.session()
            && caller.principal.user != break_glass
        {
            let own = sqlx::query_scalar!(
                r#"SELECT EXISTS (SELECT 1 FROM sessions s JOIN identity_providers p
                                    ON p.id = s.identity_provider_id AND p.tenant_id = $2
                                  WHERE s.id = $1) AS "own!""#,
                session.0,
                tenant.0
            )
            .fetch_one(&mut *tx)
            .await?;
            if !own {
                return Err(invalid(
                    "sso_required: sign in through one of the tenant's providers first (so you \
                     know it works), or name yourself the break-glass Owner",
                ));
            }
        }
        // Every password session but the break-glass Owner's ends — also a former break-glass
        // Owner's when another takes over.
        sessions_ended = sqlx::query!(
            "UPDATE sessions s SET revoked_at = now()
             WHERE s.current_tenant_id = $1 AND s.revoked_at IS NULL AND s.user_id <> $2
               AND NOT EXISTS (SELECT 1 FROM identity_providers p
                               WHERE p.tenant_id = $1 AND p.id = s.identity_provider_id)",
            tenant.0,
            break_glass.0
        )
        .execute(&mut *tx)
        .await?
        .rows_affected();
    }
    sqlx::query!(
        "UPDATE tenants SET sso_required = $2, break_glass_owner = $3 WHERE id = $1",
        tenant.0,
        policy.sso_required,
        policy.break_glass_owner.map(|owner| owner.0)
    )
    .execute(&mut *tx)
    .await?;
    let mut entry = caller.audit("sso_policy.update", format!("tenant:{tenant}"));
    entry.details = serde_json::json!({
        "sso_required": policy.sso_required,
        "break_glass_owner": policy.break_glass_owner,
        "sessions_ended": sessions_ended,
    });
    audit::record(&mut tx, &entry).await?;
    tx.commit().await?;
    Ok(Json(policy))
}
