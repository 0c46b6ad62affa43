//! What the sign-in page needs of single sign-on, before anyone is signed in: the buttons of a
//! tenant's providers (`GET /api/v1/auth/sso/providers`, the tenant found by its slug or by an
//! e-mail domain), and linking a provider identity to the existing account with its address
//! (`GET`/`POST /api/v1/auth/sso/link`) — which takes that account's password, never the
//! address alone.

use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use nimbus_api_types::ErrorCode;
use nimbus_api_types::ids::{IdentityProviderId, TenantId, UserId};
use nimbus_api_types::sso::{LinkAccount, PendingLink, ProviderKind, SignInProvider};
use serde::Deserialize;
use sqlx::PgConnection;

use super::accounts::{self, ProvenIdentity};
use super::flow::{BROWSER_COOKIE, clear_browser_cookie};
use super::providers;
use crate::auth::extract::RequestMeta;
use crate::auth::handlers::{audit_failed_sign_in, check_password, check_second_factor, signed_in};
use crate::auth::principal::cookie;
use crate::auth::secret::SecretHash;
use crate::db;
use crate::error::AppError;
use crate::http::extract::{Json, Query};
use crate::state::AppState;
use crate::users::Email;

/// Whose sign-in buttons to show.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct SignInQuery {
    /// The tenant's slug (as in `/sign-in?tenant=acme`).
    pub tenant: Option<String>,
    /// An e-mail address: the tenants with a provider admitting its domain.
    pub email: Option<String>,
}

/// A tenant's enabled providers; only those admitting `domain` when one is given.
async fn buttons(
    state: &AppState,
    tenant: TenantId,
    domain: Option<&str>,
) -> Result<Vec<SignInProvider>, AppError> {
    let mut tx = db::begin_for_tenant(&state.db, tenant).await?;
    let rows = sqlx::query!(
        r#"SELECT p.id, p.name, p.kind, t.slug, t.name AS tenant_name
           FROM identity_providers p JOIN tenants t ON t.id = p.tenant_id
           WHERE p.tenant_id = $1 AND p.enabled AND t.suspended_at IS NULL
             AND ($2::text IS NULL OR p.allowed_domains @> ARRAY[$2])
           ORDER BY p.name"#,
        tenant.0,
        domain
    )
    .fetch_all(&mut *tx)
    .await?;
    db::finish_read(tx);
    Ok(rows
        .into_iter()
        .filter_map(|row| {
            Some(SignInProvider {
                id: IdentityProviderId(row.id),
                name: row.name,
                kind: ProviderKind::from_name(&row.kind)?,
                tenant: row.slug,
                tenant_name: row.tenant_name,
            })
        })
        .collect())
}

/// The sign-in buttons of a tenant (by slug), or of the tenants that admit an e-mail domain.
#[utoipa::path(get, path = "/api/v1/auth/sso/providers", tag = "sso", params(SignInQuery),
    responses(
        (status = 200, description = "The providers to offer (none for an unknown tenant or domain)", body = [SignInProvider]),
        (status = 422, description = "Neither a tenant nor an e-mail address", body = nimbus_api_types::ErrorBody),
    ))]
pub async fn sign_in_providers(
    State(state): State<AppState>,
    Query(query): Query<SignInQuery>,
) -> Result<Json<Vec<SignInProvider>>, AppError> {
    if let Some(slug) = &query.tenant {
        let tenant = sqlx::query_scalar!("SELECT id FROM tenants WHERE slug = $1", slug)
            .fetch_optional(&state.db)
            .await?;
        return Ok(Json(match tenant {
            Some(tenant) => buttons(&state, TenantId(tenant), None).await?,
            None => Vec::new(),
        }));
    }
    let Some(email) = &query.email else {
        return Err(AppError::new(
            ErrorCode::ValidationFailed,
            "tenant or email: which organization's sign-in to show",
        ));
    };
    let email = Email::parse(email)?;
    let Some((_, domain)) = email.as_str().rsplit_once('@') else {
        return Ok(Json(Vec::new()));
    };
    let tenants = sqlx::query_scalar!(
        r#"SELECT tenant AS "tenant!" FROM sign_in_tenants_for_domain($1) AS tenant"#,
        domain
    )
    .fetch_all(&state.db)
    .await?;
    let mut found = Vec::new();
    for tenant in tenants {
        found.extend(buttons(&state, TenantId(tenant), Some(domain)).await?);
    }
    Ok(Json(found))
}

fn no_link() -> AppError {
    AppError::new(
        ErrorCode::NotFound,
        "no sign-in is waiting to be linked in this browser; sign in with your provider again",
    )
}

/// A link waiting for this browser, with the account it would link to.
struct Waiting {
    tenant: TenantId,
    tenant_slug: String,
    provider: IdentityProviderId,
    provider_name: String,
    user: UserId,
    email: String,
    identity: ProvenIdentity,
}

/// The waiting link, read in its tenant's scope (the provider's row is the tenant's).
async fn waiting(conn: &mut PgConnection, browser: &SecretHash) -> Result<Waiting, AppError> {
    let row = sqlx::query!(
        r#"SELECT l.tenant_id, t.slug, l.provider_id, p.name AS provider_name, l.user_id,
                  u.email, l.issuer, l.subject, l.groups, l.provider_logout_url
           FROM sso_pending_links l
           JOIN tenants t ON t.id = l.tenant_id
           JOIN users u ON u.id = l.user_id
           JOIN identity_providers p ON p.tenant_id = l.tenant_id AND p.id = l.provider_id
           WHERE l.secret_hash = $1 AND l.expires_at > now()"#,
        browser.as_bytes()
    )
    .fetch_optional(&mut *conn)
    .await?
    .ok_or_else(no_link)?;
    Ok(Waiting {
        tenant: TenantId(row.tenant_id),
        tenant_slug: row.slug,
        provider: IdentityProviderId(row.provider_id),
        provider_name: row.provider_name,
        user: UserId(row.user_id),
        email: row.email,
        identity: ProvenIdentity {
            issuer: row.issuer,
            subject: row.subject,
            verified_email: None,
            name: None,
            groups: row.groups,
            provider_logout_url: row.provider_logout_url,
        },
    })
}

fn browser_of(headers: &HeaderMap) -> Result<SecretHash, AppError> {
    cookie(headers, BROWSER_COOKIE)
        .map(SecretHash::of)
        .ok_or_else(no_link)
}

/// The provider identity waiting in this browser to be linked, and the account it would join.
#[utoipa::path(get, path = "/api/v1/auth/sso/link", tag = "sso",
    responses(
        (status = 200, description = "What the password would link", body = PendingLink),
        (status = 404, description = "Nothing waits in this browser", body = nimbus_api_types::ErrorBody),
    ))]
pub async fn pending_link(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<PendingLink>, AppError> {
    let browser = browser_of(&headers)?;
    let mut tx = state.db.begin().await?;
    let waiting = waiting_in_tenant(&mut tx, &browser).await?;
    db::finish_read(tx);
    Ok(Json(PendingLink {
        email: waiting.email,
        provider: waiting.provider_name,
        tenant: waiting.tenant_slug,
    }))
}

/// Finds the waiting link by the cookie's secret (the only way its row shows before the
/// tenant is known), then scopes the transaction to its tenant.
async fn waiting_in_tenant(
    conn: &mut PgConnection,
    browser: &SecretHash,
) -> Result<Waiting, AppError> {
    db::present_credential(&mut *conn, &browser.to_hex()).await?;
    let tenant = sqlx::query_scalar!(
        "SELECT tenant_id FROM sso_pending_links WHERE secret_hash = $1",
        browser.as_bytes()
    )
    .fetch_optional(&mut *conn)
    .await?
    .ok_or_else(no_link)?;
    db::set_tenant(&mut *conn, TenantId(tenant)).await?;
    waiting(conn, browser).await
}

/// Links the provider identity waiting in this browser to the existing account with its
/// address, once that account's password (and second factor) is given, and signs in.
#[utoipa::path(post, path = "/api/v1/auth/sso/link", tag = "sso", request_body = LinkAccount,
    responses(
        (status = 200, description = "Linked and signed in; `Set-Cookie` carries the session", body = nimbus_api_types::identity::Me),
        (status = 401, description = "The password or code is wrong", body = nimbus_api_types::ErrorBody),
        (status = 404, description = "Nothing waits in this browser", body = nimbus_api_types::ErrorBody),
        (status = 429, description = "Too many attempts", body = nimbus_api_types::ErrorBody),
    ))]
pub async fn link(
    State(state): State<AppState>,
    meta: RequestMeta,
    headers: HeaderMap,
    Json(body): Json<LinkAccount>,
) -> Result<Response, AppError> {
    let browser = browser_of(&headers)?;
    let waiting = {
        let mut tx = state.db.begin().await?;
        let waiting = waiting_in_tenant(&mut tx, &browser).await?;
        db::finish_read(tx);
        waiting
    };
    let email = Email::parse(&waiting.email)?;
    state
        .auth
        .limits
        .check(meta.source_ip, Some(email.as_str()))?;
    let account = check_password(&email, body.password, &state)
        .await?
        .filter(|account| account.id == waiting.user);
    let Some(account) = account else {
        audit_failed_sign_in(&state, &meta, "auth.sso_link", &email).await?;
        return Err(AppError::new(
            ErrorCode::Unauthenticated,
            "the password is wrong",
        ));
    };
    check_second_factor(
        &state,
        &meta,
        "auth.sso_link",
        &email,
        account.id,
        body.totp_code.as_deref(),
    )
    .await?;
    let mut tx = db::begin_for_tenant(&state.db, waiting.tenant).await?;
    let provider = providers::get(&mut tx, &state, waiting.tenant, waiting.provider).await?;
    db::present_credential(&mut tx, &browser.to_hex()).await?;
    // Single use: a second request with the same cookie finds nothing.
    let consumed = sqlx::query!(
        "DELETE FROM sso_pending_links WHERE secret_hash = $1",
        browser.as_bytes()
    )
    .execute(&mut *tx)
    .await?;
    if consumed.rows_affected() == 0 {
        return Err(no_link());
    }
    accounts::link(&mut tx, &waiting.identity, account.id).await?;
    let session = accounts::open_session(
        &mut tx,
        &state,
        &meta,
        "auth.sso_link",
        waiting.tenant,
        &provider,
        account.id,
        &waiting.identity,
        false,
    )
    .await?;
    tx.commit().await?;
    let mut response = signed_in(
        &state,
        account.id,
        account.platform_admin,
        Some(waiting.tenant),
        session,
    )
    .await?;
    response
        .headers_mut()
        .append(header::SET_COOKIE, clear_browser_cookie());
    Ok(response.into_response())
}
