//! Tenants: platform administrators create, suspend and resume them; a tenant's Owner (or a
//! platform administrator) changes its settings.

use axum::extract::State;
use axum::http::StatusCode;
use nimbus_api_types::ErrorCode;
use nimbus_api_types::identity::{NewTenant, Page, Tenant, TenantSettingsChange};
use nimbus_api_types::ids::{TenantId, UserId};
use nimbus_api_types::rbac::BuiltinRole;
use sqlx::PgConnection;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::audit::{self, Entry};
use crate::auth::extract::{Authenticated, Can, PlatformAdmin, perm};
use crate::db;
use crate::error::AppError;
use crate::http::extract::{Json, Path, Query};
use crate::http::paging::PageQuery;
use crate::http::validate::bounded_name;
use crate::state::AppState;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create_route))
        .routes(routes!(get, change_settings))
        .routes(routes!(suspend))
        .routes(routes!(resume))
}

fn no_such_tenant() -> AppError {
    AppError::new(ErrorCode::NotFound, "no such tenant")
}

fn invalid(message: &'static str) -> AppError {
    AppError::new(ErrorCode::ValidationFailed, message)
}

fn check_slug(slug: &str) -> Result<(), AppError> {
    let valid = (2..=63).contains(&slug.len())
        && slug
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !slug.starts_with('-');
    if valid {
        Ok(())
    } else {
        Err(invalid(
            "the slug must be 2–63 lower-case letters, digits and dashes, not starting with a dash",
        ))
    }
}

fn check_currency(code: &str) -> Result<(), AppError> {
    if code.len() == 3 && code.chars().all(|c| c.is_ascii_uppercase()) {
        Ok(())
    } else {
        Err(invalid(
            "the reporting currency must be an ISO 4217 code such as USD or EUR",
        ))
    }
}

async fn check_time_zone(conn: &mut PgConnection, zone: &str) -> Result<(), AppError> {
    let known = sqlx::query_scalar!(
        r#"SELECT EXISTS (SELECT 1 FROM pg_timezone_names WHERE name = $1) AS "known!""#,
        zone
    )
    .fetch_one(conn)
    .await?;
    if known {
        Ok(())
    } else {
        Err(invalid(
            "the time zone must be an IANA name such as Europe/Paris or UTC",
        ))
    }
}

struct TenantRow {
    id: uuid::Uuid,
    slug: String,
    name: String,
    reporting_currency: String,
    time_zone: String,
    created_at: chrono::DateTime<chrono::Utc>,
    suspended_at: Option<chrono::DateTime<chrono::Utc>>,
}

impl From<TenantRow> for Tenant {
    fn from(row: TenantRow) -> Self {
        Self {
            id: TenantId(row.id),
            slug: row.slug,
            name: row.name,
            reporting_currency: row.reporting_currency,
            time_zone: row.time_zone,
            created_at: row.created_at,
            suspended_at: row.suspended_at,
        }
    }
}

/// Tenants the caller belongs to; every tenant for platform administrators. By slug.
#[utoipa::path(get, path = "/api/v1/tenants", tag = "tenants", params(PageQuery),
    security(("session" = []), ("bearer" = [])),
    responses((status = 200, description = "One page of tenants", body = Page<Tenant>)))]
pub async fn list(
    State(state): State<AppState>,
    caller: Authenticated,
    Query(paging): Query<PageQuery>,
) -> Result<Json<Page<Tenant>>, AppError> {
    let mut tx = state.db.begin().await?;
    db::set_user(&mut tx, caller.principal.user).await?;
    let rows = sqlx::query_as!(
        TenantRow,
        "SELECT id, slug, name, reporting_currency, time_zone, created_at, suspended_at FROM tenants t
         WHERE ($1 OR EXISTS (SELECT 1 FROM memberships m WHERE m.tenant_id = t.id AND m.user_id = $2 AND m.disabled_at IS NULL))
           AND ($3::text IS NULL OR slug > $3)
         ORDER BY slug LIMIT $4",
        caller.principal.platform_admin,
        caller.principal.user.0,
        paging.after()?,
        paging.fetch_limit()?,
    )
    .fetch_all(&mut *tx)
    .await?;
    db::finish_read(tx);
    Ok(Json(paging.page(
        rows.into_iter().map(Tenant::from).collect(),
        |tenant| tenant.slug.clone(),
    )?))
}

/// Creates a tenant with its first Owner, in the caller's transaction (`owner` joins it).
pub async fn create(
    conn: &mut PgConnection,
    body: &NewTenant,
    owner: Option<UserId>,
    entry: &mut Entry,
) -> Result<Tenant, AppError> {
    check_slug(&body.slug)?;
    let name = bounded_name(&body.name, 200)?;
    let currency = body
        .reporting_currency
        .clone()
        .unwrap_or_else(|| "USD".to_owned());
    check_currency(&currency)?;
    let zone = body.time_zone.clone().unwrap_or_else(|| "UTC".to_owned());
    check_time_zone(conn, &zone).await?;
    let row = sqlx::query_as!(
        TenantRow,
        "INSERT INTO tenants (id, slug, name, reporting_currency, time_zone) VALUES ($1, $2, $3, $4, $5)
         RETURNING id, slug, name, reporting_currency, time_zone, created_at, suspended_at",
        uuid::Uuid::new_v4(),
        body.slug,
        name,
        currency,
        zone,
    )
    .fetch_one(&mut *conn)
    .await
    .map_err(|err| AppError::constraint(err, Some("a tenant with this slug exists"), None))?;
    let tenant = Tenant::from(row);
    db::set_tenant(conn, tenant.id).await?;
    if let Some(owner) = owner {
        crate::users::repo::add_member(conn, tenant.id, owner).await?;
        sqlx::query!(
            "INSERT INTO role_bindings (id, tenant_id, user_id, builtin_role) VALUES ($1, $2, $3, $4)",
            uuid::Uuid::new_v4(),
            tenant.id.0,
            owner.0,
            BuiltinRole::Owner.as_str()
        )
        .execute(&mut *conn)
        .await?;
    }
    entry.tenant = Some(tenant.id);
    entry.target = format!("tenant:{}", tenant.id);
    entry.details = serde_json::json!({ "slug": tenant.slug });
    audit::record(conn, entry).await?;
    Ok(tenant)
}

/// Creates a tenant; the platform administrator creating it becomes its first Owner.
#[utoipa::path(post, path = "/api/v1/tenants", tag = "tenants", request_body = NewTenant,
    security(("session" = ["tenants:manage"]), ("bearer" = ["tenants:manage"])),
    responses(
        (status = 201, description = "Created", body = Tenant),
        (status = 409, description = "The slug is taken", body = nimbus_api_types::ErrorBody),
    ))]
pub async fn create_route(
    State(state): State<AppState>,
    caller: PlatformAdmin,
    Json(body): Json<NewTenant>,
) -> Result<(StatusCode, Json<Tenant>), AppError> {
    let mut tx = state.db.begin().await?;
    let mut entry = caller.meta.entry(
        None,
        caller.principal.actor(),
        "tenant.create",
        String::new(),
        audit::Outcome::Success,
    );
    let tenant = create(&mut tx, &body, Some(caller.principal.user), &mut entry).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(tenant)))
}

/// The caller's current tenant (any tenant for platform administrators).
#[utoipa::path(get, path = "/api/v1/tenants/{id}", tag = "tenants",
    params(("id" = TenantId, Path, description = "The tenant")),
    security(("session" = []), ("bearer" = [])),
    responses((status = 200, description = "The tenant", body = Tenant), (status = 404, description = "No such tenant of the caller", body = nimbus_api_types::ErrorBody)))]
pub async fn get(
    State(state): State<AppState>,
    caller: Authenticated,
    Path(id): Path<TenantId>,
) -> Result<Json<Tenant>, AppError> {
    if caller.principal.tenant != Some(id) && !caller.principal.platform_admin {
        return Err(no_such_tenant());
    }
    let row = sqlx::query_as!(TenantRow, "SELECT id, slug, name, reporting_currency, time_zone, created_at, suspended_at FROM tenants WHERE id = $1", id.0)
        .fetch_optional(&state.db)
        .await?
        .ok_or_else(no_such_tenant)?;
    Ok(Json(row.into()))
}

/// Changes a tenant's name, reporting currency or time zone (the slug is fixed): its members
/// holding `tenant:settings` for their current tenant, platform administrators for any tenant.
#[utoipa::path(patch, path = "/api/v1/tenants/{id}", tag = "tenants", request_body = TenantSettingsChange,
    params(("id" = TenantId, Path, description = "The tenant")),
    security(("session" = ["tenant:settings"]), ("bearer" = ["tenant:settings"])),
    responses((status = 200, description = "The tenant", body = Tenant), (status = 404, description = "Not the caller's tenant", body = nimbus_api_types::ErrorBody)))]
pub async fn change_settings(
    State(state): State<AppState>,
    caller: Authenticated,
    Path(id): Path<TenantId>,
    Json(change): Json<TenantSettingsChange>,
) -> Result<Json<Tenant>, AppError> {
    let principal = &caller.principal;
    if !principal.platform_admin {
        // The same answers `Can<perm::TenantSettings>` gives, then another tenant's id is unknown.
        Can::<perm::TenantSettings>::check(principal)?;
        if principal.tenant != Some(id) {
            return Err(no_such_tenant());
        }
    }
    let name = change
        .name
        .as_deref()
        .map(|name| bounded_name(name, 200))
        .transpose()?;
    if let Some(currency) = &change.reporting_currency {
        check_currency(currency)?;
    }
    let mut tx = db::begin_for_tenant(&state.db, id).await?;
    if let Some(zone) = &change.time_zone {
        check_time_zone(&mut tx, zone).await?;
    }
    let row = sqlx::query_as!(
        TenantRow,
        "UPDATE tenants SET name = coalesce($2, name), reporting_currency = coalesce($3, reporting_currency), time_zone = coalesce($4, time_zone)
         WHERE id = $1 RETURNING id, slug, name, reporting_currency, time_zone, created_at, suspended_at",
        id.0,
        name,
        change.reporting_currency,
        change.time_zone,
    )
    .fetch_optional(&mut *tx)
    .await?
    .ok_or_else(no_such_tenant)?;
    let mut entry = caller.audit_in(id, "tenant.update", format!("tenant:{id}"));
    entry.details = serde_json::to_value(&change).map_err(AppError::internal)?;
    audit::record(&mut tx, &entry).await?;
    tx.commit().await?;
    Ok(Json(row.into()))
}

/// Suspends a tenant: until it is resumed, no session, access token or API token acts in it
/// (within the principal cache window on other replicas). Its data stays as it is.
#[utoipa::path(post, path = "/api/v1/tenants/{id}/suspend", tag = "tenants",
    params(("id" = TenantId, Path, description = "The tenant")),
    security(("session" = ["tenants:manage"]), ("bearer" = ["tenants:manage"])),
    responses((status = 200, description = "The suspended tenant", body = Tenant), (status = 404, description = "No such tenant", body = nimbus_api_types::ErrorBody)))]
pub async fn suspend(
    State(state): State<AppState>,
    caller: PlatformAdmin,
    Path(id): Path<TenantId>,
) -> Result<Json<Tenant>, AppError> {
    set_suspended(&state, &caller, id, true).await
}

/// Resumes a suspended tenant: every membership and credential works again as before.
#[utoipa::path(post, path = "/api/v1/tenants/{id}/resume", tag = "tenants",
    params(("id" = TenantId, Path, description = "The tenant")),
    security(("session" = ["tenants:manage"]), ("bearer" = ["tenants:manage"])),
    responses((status = 200, description = "The tenant", body = Tenant), (status = 404, description = "No such tenant", body = nimbus_api_types::ErrorBody)))]
pub async fn resume(
    State(state): State<AppState>,
    caller: PlatformAdmin,
    Path(id): Path<TenantId>,
) -> Result<Json<Tenant>, AppError> {
    set_suspended(&state, &caller, id, false).await
}

async fn set_suspended(
    state: &AppState,
    caller: &PlatformAdmin,
    id: TenantId,
    suspended: bool,
) -> Result<Json<Tenant>, AppError> {
    let mut tx = db::begin_for_tenant(&state.db, id).await?;
    // Suspending twice keeps the first time; resuming an active tenant changes nothing.
    let row = sqlx::query_as!(
        TenantRow,
        "UPDATE tenants SET suspended_at = CASE WHEN $2 THEN coalesce(suspended_at, now()) END
         WHERE id = $1 RETURNING id, slug, name, reporting_currency, time_zone, created_at, suspended_at",
        id.0,
        suspended,
    )
    .fetch_optional(&mut *tx)
    .await?
    .ok_or_else(no_such_tenant)?;
    let action = if suspended {
        "tenant.suspend"
    } else {
        "tenant.resume"
    };
    let entry = caller.meta.entry(
        Some(id),
        caller.principal.actor(),
        action,
        format!("tenant:{id}"),
        audit::Outcome::Success,
    );
    audit::record(&mut tx, &entry).await?;
    tx.commit().await?;
    // This replica stops serving the tenant's members at once; others within the cache window.
    state.auth.cache.clear();
    Ok(Json(row.into()))
}
