//! A tenant's identity providers: `/api/v1/identity-providers` (`identity-providers:manage`,
//! every change audited in its own transaction). Client secrets are sealed like cloud
//! credentials (bound to tenant and provider) and never leave the server.

use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use nimbus_api_types::ErrorCode;
use nimbus_api_types::ids::{IdentityProviderId, TenantId};
use nimbus_api_types::rbac::BuiltinRole;
use nimbus_api_types::sso::{
    IdentityProvider, IdentityProviderInput, ProviderKind, ProviderPreset, RoleMapping,
};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::audit;
use crate::auth::extract::{Can, perm};
use crate::db;
use crate::error::AppError;
use crate::http::extract::{Json, Path};
use crate::secrets::{Binding, Sealed};
use crate::state::AppState;

const PURPOSE: &str = "identity-provider-client-secret";
/// More would not fit on a sign-in page.
const MAX_PROVIDERS: i64 = 20;
/// Where every provider sends people back (registered at the provider exactly so).
pub const CALLBACK_PATH: &str = "/api/v1/auth/sso/callback";
/// Where providers send people back after signing them out (registered there exactly so).
pub const POST_LOGOUT_PATH: &str = "/sign-in";

fn binding(tenant: TenantId, id: IdentityProviderId) -> Binding<'static> {
    Binding {
        purpose: PURPOSE,
        tenant,
        record: id.0,
    }
}

fn invalid(message: impl Into<std::borrow::Cow<'static, str>>) -> AppError {
    AppError::new(ErrorCode::ValidationFailed, message)
}

fn no_such_provider() -> AppError {
    AppError::new(ErrorCode::NotFound, "no such identity provider")
}

/// Checks a provider as given; `creating` requires a client secret.
fn check(state: &AppState, input: &IdentityProviderInput, creating: bool) -> Result<(), AppError> {
    let name = input.name.trim();
    if name.is_empty() || name.len() > 100 || name != input.name {
        return Err(invalid(
            "name: 1 to 100 characters, without leading or trailing spaces",
        ));
    }
    if input.client_id.trim().is_empty() || input.client_id.len() > 500 {
        return Err(invalid(
            "client_id: the client (application) id the provider issued",
        ));
    }
    match (&input.client_secret, creating) {
        (None, true) => return Err(invalid("client_secret: the secret the provider issued")),
        (Some(secret), _) if secret.is_empty() || secret.len() > 4096 => {
            return Err(invalid("client_secret: 1 to 4096 characters"));
        }
        _ => {}
    }
    match (input.kind, &input.issuer) {
        (ProviderKind::Oidc, None) => {
            return Err(invalid(issuer_hint(input.preset)));
        }
        // GitHub's is optional: a GitHub Enterprise Server's URL.
        (_, Some(issuer)) => {
            let outbound = state.outbound.as_deref().ok_or_else(|| {
                AppError::new(
                    ErrorCode::ServiceUnavailable,
                    "outbound HTTP calls are unavailable on this server",
                )
            })?;
            outbound
                .check_url(issuer)
                .map_err(|err| invalid(format!("issuer: {err}")))?;
        }
        (ProviderKind::Github, None) => {}
    }
    if input.kind == ProviderKind::Github && input.preset.is_some() {
        return Err(invalid("preset: presets are OpenID Connect providers"));
    }
    let words = |items: &[String], max: usize| {
        items.len() <= 50
            && items.iter().all(|item| {
                !item.is_empty() && item.len() <= max && !item.contains(char::is_whitespace)
            })
    };
    if !words(&input.scopes, 200) {
        return Err(invalid("scopes: at most 50, each one word"));
    }
    if !words(&input.allowed_domains, 253)
        || input
            .allowed_domains
            .iter()
            .any(|d| d.contains('@') || *d != d.to_lowercase())
    {
        return Err(invalid(
            "allowed_domains: at most 50 lower-case domains, e.g. \"example.com\"",
        ));
    }
    if input.role_mappings.len() > 100
        || input
            .role_mappings
            .iter()
            .any(|mapping| mapping.group.is_empty() || mapping.group.len() > 500)
    {
        return Err(invalid("role_mappings: at most 100, each naming a group"));
    }
    if input
        .groups_claim
        .as_ref()
        .is_some_and(|claim| claim.is_empty() || claim.len() > 200)
    {
        return Err(invalid(
            "groups_claim: the name of the claim, e.g. \"groups\"",
        ));
    }
    Ok(())
}

/// What to enter as the issuer, for the preset chosen.
fn issuer_hint(preset: Option<ProviderPreset>) -> &'static str {
    match preset {
        Some(ProviderPreset::EntraId) => {
            "issuer: https://login.microsoftonline.com/{directory id}/v2.0"
        }
        Some(ProviderPreset::Google) => "issuer: https://accounts.google.com",
        Some(ProviderPreset::Okta) => "issuer: https://{your domain}.okta.com",
        Some(ProviderPreset::Keycloak) => "issuer: https://{host}/realms/{realm}",
        None => "issuer: the provider's issuer URL (its discovery document is read from there)",
    }
}

struct ProviderRow {
    id: Uuid,
    name: String,
    kind: String,
    preset: Option<String>,
    issuer: Option<String>,
    client_id: String,
    has_client_secret: bool,
    scopes: Vec<String>,
    groups_claim: Option<String>,
    allowed_domains: Vec<String>,
    role_mappings: serde_json::Value,
    default_role: String,
    enabled: bool,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

/// A name the table's CHECK admits but this build does not know: a newer build wrote it.
fn unknown(column: &str, name: &str) -> AppError {
    AppError::internal(format!("identity_providers.{column}: unknown {name:?}"))
}

impl ProviderRow {
    fn into_wire(self, base_url: &str) -> Result<IdentityProvider, AppError> {
        Ok(IdentityProvider {
            id: IdentityProviderId(self.id),
            name: self.name,
            kind: ProviderKind::from_name(&self.kind).ok_or_else(|| unknown("kind", &self.kind))?,
            preset: self
                .preset
                .map(|name| {
                    ProviderPreset::from_name(&name).ok_or_else(|| unknown("preset", &name))
                })
                .transpose()?,
            issuer: self.issuer,
            client_id: self.client_id,
            has_client_secret: self.has_client_secret,
            scopes: self.scopes,
            groups_claim: self.groups_claim,
            allowed_domains: self.allowed_domains,
            role_mappings: serde_json::from_value::<Vec<RoleMapping>>(self.role_mappings)
                .map_err(AppError::internal)?,
            default_role: BuiltinRole::from_name(&self.default_role)
                .ok_or_else(|| unknown("default_role", &self.default_role))?,
            enabled: self.enabled,
            redirect_uri: format!("{base_url}{CALLBACK_PATH}"),
            post_logout_redirect_uri: format!("{base_url}{POST_LOGOUT_PATH}"),
            created_at: self.created_at,
            updated_at: self.updated_at,
        })
    }
}

/// The tenant's providers by name, or only `id`.
async fn rows(
    conn: &mut PgConnection,
    state: &AppState,
    tenant: TenantId,
    id: Option<IdentityProviderId>,
) -> Result<Vec<IdentityProvider>, AppError> {
    let rows = sqlx::query_as!(
        ProviderRow,
        r#"SELECT id, name, kind, preset, issuer, client_id,
                  client_secret IS NOT NULL AS "has_client_secret!", scopes, groups_claim,
                  allowed_domains, role_mappings, default_role, enabled, created_at, updated_at
           FROM identity_providers
           WHERE tenant_id = $1 AND ($2::uuid IS NULL OR id = $2)
           ORDER BY name"#,
        tenant.0,
        id.map(|id| id.0),
    )
    .fetch_all(&mut *conn)
    .await?;
    let base_url = state.config.base_url();
    rows.into_iter()
        .map(|row| row.into_wire(&base_url))
        .collect()
}

pub async fn get(
    conn: &mut PgConnection,
    state: &AppState,
    tenant: TenantId,
    id: IdentityProviderId,
) -> Result<IdentityProvider, AppError> {
    rows(conn, state, tenant, Some(id))
        .await?
        .pop()
        .ok_or_else(no_such_provider)
}

/// Inserts (`id` absent) or replaces a provider, sealing a client secret when one is given.
async fn save(
    conn: &mut PgConnection,
    state: &AppState,
    tenant: TenantId,
    id: Option<IdentityProviderId>,
    input: &IdentityProviderInput,
) -> Result<IdentityProviderId, AppError> {
    let mappings = serde_json::to_value(&input.role_mappings).map_err(AppError::internal)?;
    let kind = input.kind.as_str();
    let preset = input.preset.map(ProviderPreset::as_str);
    let default_role = input.default_role.unwrap_or(BuiltinRole::Viewer).as_str();
    let constraint =
        |err| AppError::constraint(err, Some("a provider with this name exists"), None);
    let id = match id {
        None => {
            let count = sqlx::query_scalar!(
                r#"SELECT count(*) AS "count!" FROM identity_providers WHERE tenant_id = $1"#,
                tenant.0
            )
            .fetch_one(&mut *conn)
            .await?;
            if count >= MAX_PROVIDERS {
                return Err(invalid(format!(
                    "a tenant has at most {MAX_PROVIDERS} identity providers"
                )));
            }
            let id = IdentityProviderId(Uuid::now_v7());
            sqlx::query!(
                "INSERT INTO identity_providers
                     (id, tenant_id, name, kind, preset, issuer, client_id, scopes, groups_claim,
                      allowed_domains, role_mappings, default_role, enabled)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
                id.0,
                tenant.0,
                input.name,
                kind,
                preset,
                input.issuer,
                input.client_id,
                &input.scopes,
                input.groups_claim,
                &input.allowed_domains,
                mappings,
                default_role,
                input.enabled,
            )
            .execute(&mut *conn)
            .await
            .map_err(constraint)?;
            id
        }
        Some(id) => {
            let updated = sqlx::query!(
                "UPDATE identity_providers
                 SET name = $3, kind = $4, preset = $5, issuer = $6, client_id = $7, scopes = $8,
                     groups_claim = $9, allowed_domains = $10, role_mappings = $11,
                     default_role = $12, enabled = $13, updated_at = now()
                 WHERE tenant_id = $1 AND id = $2",
                tenant.0,
                id.0,
                input.name,
                kind,
                preset,
                input.issuer,
                input.client_id,
                &input.scopes,
                input.groups_claim,
                &input.allowed_domains,
                mappings,
                default_role,
                input.enabled,
            )
            .execute(&mut *conn)
            .await
            .map_err(constraint)?;
            if updated.rows_affected() == 0 {
                return Err(no_such_provider());
            }
            id
        }
    };
    if let Some(secret) = &input.client_secret {
        let sealed = state
            .secrets
            .seal(secret.as_bytes(), binding(tenant, id))
            .map_err(AppError::internal)?;
        sqlx::query!(
            "UPDATE identity_providers
             SET secret_key_version = $3, secret_wrapped_key = $4, client_secret = $5
             WHERE tenant_id = $1 AND id = $2",
            tenant.0,
            id.0,
            sealed.key_version,
            sealed.wrapped_key,
            sealed.ciphertext,
        )
        .execute(&mut *conn)
        .await?;
    }
    Ok(id)
}

/// What the audit trail keeps of a change: everything but the secret.
fn audit_details(input: &IdentityProviderInput) -> serde_json::Value {
    let mut details = serde_json::to_value(input).unwrap_or_default();
    if let Some(object) = details.as_object_mut() {
        object.remove("client_secret");
        object.insert(
            "client_secret_changed".into(),
            input.client_secret.is_some().into(),
        );
    }
    details
}

#[utoipa::path(get, path = "/api/v1/identity-providers", tag = "sso",
    security(("session" = ["identity-providers:manage"]), ("bearer" = ["identity-providers:manage"])),
    responses((status = 200, description = "The tenant's providers, by name", body = Vec<IdentityProvider>)))]
pub async fn list(
    State(state): State<AppState>,
    caller: Can<perm::IdentityProvidersManage>,
) -> Result<Json<Vec<IdentityProvider>>, AppError> {
    let mut tx = db::begin_for_tenant(&state.db, caller.tenant).await?;
    let providers = rows(&mut tx, &state, caller.tenant, None).await?;
    db::finish_read(tx);
    Ok(Json(providers))
}

#[utoipa::path(post, path = "/api/v1/identity-providers", tag = "sso", request_body = IdentityProviderInput,
    security(("session" = ["identity-providers:manage"]), ("bearer" = ["identity-providers:manage"])),
    responses(
        (status = 201, description = "Added; register its redirect_uri at the provider", body = IdentityProvider),
        (status = 409, description = "Another provider has this name", body = nimbus_api_types::ErrorBody),
        (status = 422, description = "Invalid settings", body = nimbus_api_types::ErrorBody),
    ))]
pub async fn create(
    State(state): State<AppState>,
    caller: Can<perm::IdentityProvidersManage>,
    Json(input): Json<IdentityProviderInput>,
) -> Result<(StatusCode, Json<IdentityProvider>), AppError> {
    check(&state, &input, true)?;
    let mut tx = db::begin_for_tenant(&state.db, caller.tenant).await?;
    let id = save(&mut tx, &state, caller.tenant, None, &input).await?;
    let mut entry = caller.audit(
        "identity_provider.create",
        format!("identity_provider:{id}"),
    );
    entry.details = audit_details(&input);
    audit::record(&mut tx, &entry).await?;
    let provider = get(&mut tx, &state, caller.tenant, id).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(provider)))
}

#[utoipa::path(get, path = "/api/v1/identity-providers/{id}", tag = "sso",
    params(("id" = IdentityProviderId, Path, description = "The provider")),
    security(("session" = ["identity-providers:manage"]), ("bearer" = ["identity-providers:manage"])),
    responses((status = 200, description = "The provider", body = IdentityProvider), (status = 404, description = "No such provider", body = nimbus_api_types::ErrorBody)))]
pub async fn read(
    State(state): State<AppState>,
    caller: Can<perm::IdentityProvidersManage>,
    Path(id): Path<IdentityProviderId>,
) -> Result<Json<IdentityProvider>, AppError> {
    let mut tx = db::begin_for_tenant(&state.db, caller.tenant).await?;
    let provider = get(&mut tx, &state, caller.tenant, id).await?;
    db::finish_read(tx);
    Ok(Json(provider))
}

/// Replaces the provider's settings; `client_secret` absent keeps the stored one.
#[utoipa::path(put, path = "/api/v1/identity-providers/{id}", tag = "sso", request_body = IdentityProviderInput,
    params(("id" = IdentityProviderId, Path, description = "The provider")),
    security(("session" = ["identity-providers:manage"]), ("bearer" = ["identity-providers:manage"])),
    responses((status = 200, description = "Replaced", body = IdentityProvider), (status = 404, description = "No such provider", body = nimbus_api_types::ErrorBody), (status = 422, description = "Invalid settings", body = nimbus_api_types::ErrorBody)))]
pub async fn replace(
    State(state): State<AppState>,
    caller: Can<perm::IdentityProvidersManage>,
    Path(id): Path<IdentityProviderId>,
    Json(input): Json<IdentityProviderInput>,
) -> Result<Json<IdentityProvider>, AppError> {
    check(&state, &input, false)?;
    let mut tx = db::begin_for_tenant(&state.db, caller.tenant).await?;
    save(&mut tx, &state, caller.tenant, Some(id), &input).await?;
    let mut entry = caller.audit(
        "identity_provider.update",
        format!("identity_provider:{id}"),
    );
    entry.details = audit_details(&input);
    audit::record(&mut tx, &entry).await?;
    let provider = get(&mut tx, &state, caller.tenant, id).await?;
    tx.commit().await?;
    Ok(Json(provider))
}

#[utoipa::path(delete, path = "/api/v1/identity-providers/{id}", tag = "sso",
    params(("id" = IdentityProviderId, Path, description = "The provider")),
    security(("session" = ["identity-providers:manage"]), ("bearer" = ["identity-providers:manage"])),
    responses((status = 204, description = "Removed"), (status = 404, description = "No such provider", body = nimbus_api_types::ErrorBody)))]
pub async fn delete(
    State(state): State<AppState>,
    caller: Can<perm::IdentityProvidersManage>,
    Path(id): Path<IdentityProviderId>,
) -> Result<StatusCode, AppError> {
    let mut tx = db::begin_for_tenant(&state.db, caller.tenant).await?;
    let deleted = sqlx::query!(
        "DELETE FROM identity_providers WHERE tenant_id = $1 AND id = $2",
        caller.tenant.0,
        id.0
    )
    .execute(&mut *tx)
    .await?;
    if deleted.rows_affected() == 0 {
        return Err(no_such_provider());
    }
    audit::record(
        &mut tx,
        &caller.audit(
            "identity_provider.delete",
            format!("identity_provider:{id}"),
        ),
    )
    .await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

/// What a sign-in needs of a provider: its settings and its client secret, opened.
pub struct SignInSettings {
    pub provider: IdentityProvider,
    pub client_secret: Option<String>,
}

/// The provider `id` of `tenant` for a sign-in, or `None` when there is no such provider.
pub async fn sign_in_settings(
    conn: &mut PgConnection,
    state: &AppState,
    tenant: TenantId,
    id: IdentityProviderId,
) -> Result<Option<SignInSettings>, AppError> {
    let Some(provider) = rows(conn, state, tenant, Some(id)).await?.pop() else {
        return Ok(None);
    };
    let sealed = sqlx::query!(
        "SELECT secret_key_version, secret_wrapped_key, client_secret
         FROM identity_providers WHERE tenant_id = $1 AND id = $2",
        tenant.0,
        id.0,
    )
    .fetch_one(&mut *conn)
    .await?;
    let client_secret = match (
        sealed.secret_key_version,
        sealed.secret_wrapped_key,
        sealed.client_secret,
    ) {
        (Some(key_version), Some(wrapped_key), Some(ciphertext)) => {
            let sealed = Sealed {
                key_version,
                wrapped_key,
                ciphertext,
            };
            let plaintext = state.secrets.open(&sealed, binding(tenant, id)).map_err(|_| {
                AppError::new(
                    ErrorCode::ServiceUnavailable,
                    "the provider's client secret does not open: an administrator must enter it again",
                )
            })?;
            Some(String::from_utf8(plaintext).map_err(AppError::internal)?)
        }
        _ => None,
    };
    Ok(Some(SignInSettings {
        provider,
        client_secret,
    }))
}

/// Identity providers' client secrets, as `nimbus admin rewrap-secrets` re-wraps them.
pub struct ClientSecrets;

impl crate::admin::SealedSecrets for ClientSecrets {
    type Id = IdentityProviderId;
    const ACTION: &'static str = "identity_provider.rewrap";
    const TARGET: &'static str = "identity_provider";

    fn binding(tenant: TenantId, id: IdentityProviderId) -> Binding<'static> {
        binding(tenant, id)
    }

    async fn stale(
        conn: &mut PgConnection,
        tenant: TenantId,
        current: i32,
    ) -> Result<Vec<(IdentityProviderId, Sealed)>, sqlx::Error> {
        let rows = sqlx::query!(
            r#"SELECT id, secret_key_version AS "key_version!", secret_wrapped_key AS "wrapped_key!",
                      client_secret AS "ciphertext!"
               FROM identity_providers
               WHERE tenant_id = $1 AND client_secret IS NOT NULL AND secret_key_version <> $2
               FOR UPDATE"#,
            tenant.0,
            current,
        )
        .fetch_all(conn)
        .await?;
        Ok(rows
            .into_iter()
            .map(|row| {
                let sealed = Sealed {
                    key_version: row.key_version,
                    wrapped_key: row.wrapped_key,
                    ciphertext: row.ciphertext,
                };
                (IdentityProviderId(row.id), sealed)
            })
            .collect())
    }

    async fn store(
        conn: &mut PgConnection,
        tenant: TenantId,
        id: IdentityProviderId,
        fresh: &Sealed,
    ) -> Result<(), sqlx::Error> {
        sqlx::query!(
            "UPDATE identity_providers SET secret_key_version = $3, secret_wrapped_key = $4
             WHERE tenant_id = $1 AND id = $2",
            tenant.0,
            id.0,
            fresh.key_version,
            fresh.wrapped_key,
        )
        .execute(conn)
        .await?;
        Ok(())
    }
}
