//! Who is calling: one [`Principal`] resolved per request from exactly one credential.
//!
//! Credentials, in the order they are looked for: `Authorization: Bearer` with an API token
//! (`nimbus_pat_…`) or a JWT access token; otherwise the `__Host-nimbus_session` cookie, which
//! must come with the session's CSRF token on unsafe methods. Credentials are never read from the
//! URL. A resolved principal is cached for `auth.principal_cache_ttl`, keyed by the credential's
//! hash: that is the longest a revocation takes to reach this server.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, Method, header};
use nimbus_api_types::ErrorCode;
use nimbus_api_types::ids::{ApiTokenId, ProjectId, SessionId, TenantId, UserId};
use nimbus_api_types::rbac::Permission;
use sqlx::PgPool;

use super::secret::{SecretHash, SecretKind};
use crate::error::AppError;
use crate::rbac::policy::{Authority, PermissionSet, Scope};
use crate::rbac::repo as rbac_repo;
use crate::state::AppState;

/// The browser session cookie. `__Host-`: Secure, `Path=/`, no `Domain` — it cannot be set or
/// shadowed by a sibling subdomain.
pub const SESSION_COOKIE: &str = "__Host-nimbus_session";
/// The cookie that hands the session's CSRF token to the dashboard's scripts.
pub const CSRF_COOKIE: &str = "__Host-nimbus_csrf";
/// The header the dashboard echoes the session's CSRF token in.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// How the principal proved itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    /// A browser session (cookie).
    Session {
        id: SessionId,
    },
    /// A JWT access token of a token session.
    AccessToken {
        session: SessionId,
    },
    ApiToken {
        id: ApiTokenId,
    },
}

/// An authenticated caller and what it may do in its current tenant.
#[derive(Debug, Clone)]
pub struct Principal {
    pub user: UserId,
    pub platform_admin: bool,
    /// The tenant requests act in; `None` when the user belongs to none (or was removed).
    pub tenant: Option<TenantId>,
    /// Tenant-wide and per-project permissions in `tenant` (already narrowed for API tokens).
    pub authority: Authority,
    pub credential: Credential,
    /// For API tokens restricted to one project.
    pub project: Option<ProjectId>,
}

impl Principal {
    /// The audit log's name for this caller.
    #[must_use]
    pub fn actor(&self) -> String {
        format!("user:{}", self.user)
    }

    /// The session behind the credential, if any (API tokens have none).
    #[must_use]
    pub fn session(&self) -> Option<SessionId> {
        match self.credential {
            Credential::Session { id } | Credential::AccessToken { session: id } => Some(id),
            Credential::ApiToken { .. } => None,
        }
    }

    #[must_use]
    pub fn allows(&self, permission: Permission) -> bool {
        self.authority.allows(permission, Scope::Tenant)
    }
}

fn unauthenticated() -> AppError {
    AppError::new(
        ErrorCode::Unauthenticated,
        "sign in, or send a valid token in the Authorization header",
    )
}

/// A token bound to a tenant where its user can no longer act.
fn inactive_membership() -> AppError {
    AppError::new(
        ErrorCode::Unauthenticated,
        "this token's tenant membership is not active: it was disabled or removed, or the tenant \
         is suspended",
    )
}

/// Resolves the request's credential. `401` when there is none or it is not valid; a
/// cookie-authenticated unsafe request without its CSRF token is refused with `403`.
pub async fn authenticate(
    state: &AppState,
    method: &Method,
    headers: &HeaderMap,
) -> Result<Principal, AppError> {
    let auth = &state.auth;
    if let Some(value) = headers.get(header::AUTHORIZATION) {
        let presented = value
            .to_str()
            .ok()
            .and_then(|value| value.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|token| !token.is_empty())
            .ok_or_else(unauthenticated)?;
        let hash = SecretHash::of(presented);
        if let Some(principal) = auth.cache.get(&hash) {
            return Ok(principal);
        }
        let (principal, valid_for) = if presented.starts_with(SecretKind::ApiToken.prefix()) {
            (resolve_api_token(&state.db, &hash).await?, None)
        } else {
            resolve_access_token(state, presented).await?
        };
        auth.cache.put(hash, &principal, valid_for);
        return Ok(principal);
    }
    let cookie = session_cookie(headers).ok_or_else(unauthenticated)?;
    let hash = SecretHash::of(cookie);
    let (principal, csrf_token) = match auth.cache.get_with_csrf(&hash) {
        Some(hit) => hit,
        None => {
            let (principal, csrf) =
                resolve_session(&state.db, &hash, state.config.auth.session_idle_timeout).await?;
            auth.cache.put_with_csrf(hash, &principal, csrf.clone());
            (principal, csrf)
        }
    };
    if !method.is_safe() {
        check_csrf(headers, &csrf_token)?;
    }
    Ok(principal)
}

/// Cross-site request defence for cookie sessions (SECURITY.md 8): the session's own token in a
/// custom header (a cross-site form cannot set one), and a browser-reported same-origin request.
fn check_csrf(headers: &HeaderMap, expected: &str) -> Result<(), AppError> {
    let refused = || {
        AppError::new(
            ErrorCode::Forbidden,
            "cross-site request refused: send the session's CSRF token in X-CSRF-Token",
        )
    };
    let site = headers
        .get("sec-fetch-site")
        .map(axum::http::HeaderValue::as_bytes);
    if site.is_some_and(|site| !matches!(site, b"same-origin" | b"none")) {
        return Err(refused());
    }
    let presented = headers
        .get(CSRF_HEADER)
        .and_then(|value| value.to_str().ok())
        .ok_or_else(refused)?;
    // Comparing digests keeps the comparison's timing independent of how much of the token
    // was guessed right.
    if SecretHash::of(presented) != SecretHash::of(expected) {
        return Err(refused());
    }
    Ok(())
}

/// The session cookie's value, if the request carries one.
#[must_use]
pub fn session_cookie(headers: &HeaderMap) -> Option<&str> {
    cookie(headers, SESSION_COOKIE)
}

/// The value of the cookie `wanted`, when the request carries a non-empty one.
pub fn cookie<'h>(headers: &'h HeaderMap, wanted: &str) -> Option<&'h str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == wanted)
        .map(|(_, value)| value)
        .filter(|value| !value.is_empty())
}

async fn resolve_session(
    pool: &PgPool,
    hash: &SecretHash,
    idle_timeout: Duration,
) -> Result<(Principal, String), AppError> {
    let row = sqlx::query!(
        r#"SELECT s.id, s.user_id, s.csrf_token AS "csrf_token!", s.current_tenant_id,
                  u.platform_admin, (s.last_seen_at < now() - interval '1 minute') AS "stale!"
           FROM sessions s JOIN users u ON u.id = s.user_id
           WHERE s.secret_hash = $1 AND s.kind = 'browser' AND s.revoked_at IS NULL
             AND s.expires_at > now() AND s.last_seen_at > now() - make_interval(secs => $2)
             AND u.disabled_at IS NULL"#,
        hash.as_bytes(),
        idle_timeout.as_secs_f64(),
    )
    .fetch_optional(pool)
    .await?
    .ok_or_else(unauthenticated)?;
    if row.stale {
        // Idle expiry counts from the last request; minute granularity keeps writes rare.
        sqlx::query!(
            "UPDATE sessions SET last_seen_at = now() WHERE id = $1",
            row.id
        )
        .execute(pool)
        .await?;
    }
    let user = UserId(row.user_id);
    let tenant = row.current_tenant_id.map(TenantId);
    let (tenant, authority) = tenant_authority(pool, user, tenant).await?;
    let principal = Principal {
        user,
        platform_admin: row.platform_admin,
        tenant,
        authority,
        credential: Credential::Session {
            id: SessionId(row.id),
        },
        project: None,
    };
    Ok((principal, row.csrf_token))
}

async fn resolve_access_token(
    state: &AppState,
    token: &str,
) -> Result<(Principal, Option<Duration>), AppError> {
    let keys = state.auth.keys(&state.db).await?;
    let claims = keys.verify(token, &state.db).await.map_err(|err| {
        tracing::debug!(reason = %err, "access token refused");
        match err {
            super::jwt::TokenRejected::Keys(err) => AppError::from(err),
            _ => unauthenticated(),
        }
    })?;
    let row = sqlx::query!(
        r#"SELECT u.platform_admin FROM sessions s JOIN users u ON u.id = s.user_id
           WHERE s.id = $1 AND s.user_id = $2 AND s.kind = 'token' AND s.revoked_at IS NULL
             AND s.expires_at > now() AND u.disabled_at IS NULL"#,
        claims.sid.0,
        claims.sub.0,
    )
    .fetch_optional(&state.db)
    .await?
    .ok_or_else(unauthenticated)?;
    let (tenant, authority) = tenant_authority(&state.db, claims.sub, Some(claims.tid)).await?;
    if tenant.is_none() {
        return Err(inactive_membership());
    }
    let remaining = claims.exp.saturating_sub(chrono::Utc::now().timestamp());
    let principal = Principal {
        user: claims.sub,
        platform_admin: row.platform_admin,
        tenant,
        authority,
        credential: Credential::AccessToken {
            session: claims.sid,
        },
        project: None,
    };
    Ok((
        principal,
        Some(Duration::from_secs(u64::try_from(remaining).unwrap_or(0))),
    ))
}

async fn resolve_api_token(pool: &PgPool, hash: &SecretHash) -> Result<Principal, AppError> {
    let mut tx = pool.begin().await?;
    // Row-level security shows a token row to whoever presents its secret.
    crate::db::present_credential(&mut tx, &hash.to_hex()).await?;
    let token = sqlx::query!(
        r#"SELECT t.id, t.tenant_id, t.user_id, t.permissions, t.project_id,
                  (t.last_used_at IS NULL OR t.last_used_at < now() - interval '1 minute') AS "stale!"
           FROM api_tokens t JOIN users u ON u.id = t.user_id
           WHERE t.secret_hash = $1 AND t.revoked_at IS NULL
             AND (t.expires_at IS NULL OR t.expires_at > now()) AND u.disabled_at IS NULL"#,
        hash.as_bytes()
    )
    .fetch_optional(&mut *tx)
    .await?
    .ok_or_else(unauthenticated)?;
    let tenant = TenantId(token.tenant_id);
    crate::db::set_tenant(&mut tx, tenant).await?;
    if token.stale {
        sqlx::query!(
            "UPDATE api_tokens SET last_used_at = now() WHERE id = $1",
            token.id
        )
        .execute(&mut *tx)
        .await?;
    }
    let user = UserId(token.user_id);
    let creator = rbac_repo::authority_of(&mut tx, tenant, user)
        .await?
        .ok_or_else(inactive_membership)?;
    tx.commit().await?;
    let project = token.project_id.map(ProjectId);
    let scope = project.map_or(Scope::Tenant, Scope::Project);
    let permissions = PermissionSet::of(
        &token
            .permissions
            .iter()
            .filter_map(|name| Permission::from_name(name))
            .collect::<Vec<_>>(),
    );
    Ok(Principal {
        user,
        // API tokens act in their tenant only; platform administration needs a signed-in person.
        platform_admin: false,
        tenant: Some(tenant),
        // The token holds its recorded permissions, but never more than its creator holds now.
        authority: creator.narrowed(scope, permissions),
        credential: Credential::ApiToken {
            id: ApiTokenId(token.id),
        },
        project,
    })
}

/// The user's authority in `tenant`, or no tenant when it is not an enabled member there.
pub async fn tenant_authority(
    pool: &PgPool,
    user: UserId,
    tenant: Option<TenantId>,
) -> Result<(Option<TenantId>, Authority), AppError> {
    let Some(tenant) = tenant else {
        return Ok((None, Authority::default()));
    };
    let mut tx = crate::db::begin_for_tenant(pool, tenant).await?;
    let authority = rbac_repo::authority_of(&mut tx, tenant, user).await?;
    tx.commit().await?;
    Ok(match authority {
        Some(authority) => (Some(tenant), authority),
        None => (None, Authority::default()),
    })
}

/// Resolved principals, briefly. Bounded: when full, expired entries go, then everything.
#[derive(Default)]
pub struct PrincipalCache {
    ttl: Duration,
    entries: Mutex<HashMap<SecretHash, CacheEntry>>,
}

struct CacheEntry {
    until: Instant,
    principal: Principal,
    csrf_token: Option<String>,
}

const CACHE_CAPACITY: usize = 10_000;

impl PrincipalCache {
    #[must_use]
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            entries: Mutex::default(),
        }
    }

    fn get(&self, hash: &SecretHash) -> Option<Principal> {
        self.lookup(hash).map(|(principal, _)| principal)
    }

    fn get_with_csrf(&self, hash: &SecretHash) -> Option<(Principal, String)> {
        self.lookup(hash)
            .and_then(|(principal, csrf)| Some((principal, csrf?)))
    }

    fn lookup(&self, hash: &SecretHash) -> Option<(Principal, Option<String>)> {
        if self.ttl.is_zero() {
            return None;
        }
        let entries = self.entries.lock().ok()?;
        let entry = entries.get(hash)?;
        (entry.until > Instant::now()).then(|| (entry.principal.clone(), entry.csrf_token.clone()))
    }

    fn put(&self, hash: SecretHash, principal: &Principal, valid_for: Option<Duration>) {
        self.insert(hash, principal, None, valid_for);
    }

    fn put_with_csrf(&self, hash: SecretHash, principal: &Principal, csrf_token: String) {
        self.insert(hash, principal, Some(csrf_token), None);
    }

    fn insert(
        &self,
        hash: SecretHash,
        principal: &Principal,
        csrf_token: Option<String>,
        valid_for: Option<Duration>,
    ) {
        if self.ttl.is_zero() {
            return;
        }
        let Ok(mut entries) = self.entries.lock() else {
            return;
        };
        let now = Instant::now();
        if entries.len() >= CACHE_CAPACITY {
            entries.retain(|_, entry| entry.until > now);
            if entries.len() >= CACHE_CAPACITY {
                entries.clear();
            }
        }
        let ttl = valid_for.map_or(self.ttl, |valid_for| valid_for.min(self.ttl));
        entries.insert(
            hash,
            CacheEntry {
                until: now + ttl,
                principal: principal.clone(),
                csrf_token,
            },
        );
    }

    /// Forgets every credential at once (a tenant was suspended: nothing cached may act in it).
    pub fn clear(&self) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.clear();
        }
    }

    /// Forgets a credential at once (sign-out on this server).
    pub fn forget(&self, presented: &str) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.remove(&SecretHash::of(presented));
        }
    }
}
