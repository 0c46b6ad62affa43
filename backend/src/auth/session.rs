//! Server-side sessions: browser sessions behind the `__Host-` cookie, and token sessions whose
//! refresh tokens rotate on every use. A session is a refresh-token family: presenting a refresh
//! token that was already used revokes the whole session (RFC 9700 §4.14.2), and with it every
//! access token that names it.

use std::time::Duration;

use axum::http::HeaderValue;
use nimbus_api_types::ids::{IdentityProviderId, SessionId, TenantId, UserId};
use sqlx::PgConnection;

use super::extract::RequestMeta;
use super::principal::{CSRF_COOKIE, SESSION_COOKIE};
use super::secret::{NewSecret, SecretHash, SecretKind};
use crate::error::AppError;

/// A new browser session: the cookie value goes out once in `Set-Cookie`.
pub struct BrowserSession {
    pub id: SessionId,
    pub cookie: NewSecret,
    pub csrf_token: String,
}

fn lifetime_secs(lifetime: Duration) -> f64 {
    lifetime.as_secs_f64()
}

/// How a session that began at an identity provider is tied to it.
pub struct ProviderSignIn {
    pub provider: IdentityProviderId,
    /// Where signing out sends the browser to end the provider's session too.
    pub logout_url: Option<String>,
}

pub async fn start_browser(
    conn: &mut PgConnection,
    user: UserId,
    tenant: Option<TenantId>,
    meta: &RequestMeta,
    lifetime: Duration,
    provider: Option<&ProviderSignIn>,
) -> Result<BrowserSession, AppError> {
    let cookie = NewSecret::generate(SecretKind::SessionCookie).map_err(AppError::internal)?;
    let csrf = NewSecret::generate(SecretKind::Csrf).map_err(AppError::internal)?;
    let id = SessionId(uuid::Uuid::new_v4());
    sqlx::query!(
        "INSERT INTO sessions (id, user_id, kind, secret_hash, csrf_token, current_tenant_id, expires_at, source_ip, user_agent,
                               identity_provider_id, provider_logout_url)
         VALUES ($1, $2, 'browser', $3, $4, $5, now() + make_interval(secs => $6), $7, $8, $9, $10)",
        id.0,
        user.0,
        cookie.hash.as_bytes(),
        csrf.plaintext,
        tenant.map(|t| t.0),
        lifetime_secs(lifetime),
        meta.source_ip.map(ipnet::IpNet::from),
        meta.user_agent,
        provider.map(|signed_in| signed_in.provider.0),
        provider.and_then(|signed_in| signed_in.logout_url.as_deref()),
    )
    .execute(conn)
    .await?;
    Ok(BrowserSession {
        id,
        cookie,
        csrf_token: csrf.plaintext,
    })
}

/// A token session and its first refresh token.
pub async fn start_token_session(
    conn: &mut PgConnection,
    user: UserId,
    tenant: TenantId,
    meta: &RequestMeta,
    lifetime: Duration,
) -> Result<(SessionId, NewSecret), AppError> {
    let id = SessionId(uuid::Uuid::new_v4());
    sqlx::query!(
        "INSERT INTO sessions (id, user_id, kind, current_tenant_id, expires_at, source_ip, user_agent)
         VALUES ($1, $2, 'token', $3, now() + make_interval(secs => $4), $5, $6)",
        id.0,
        user.0,
        tenant.0,
        lifetime_secs(lifetime),
        meta.source_ip.map(ipnet::IpNet::from),
        meta.user_agent,
    )
    .execute(&mut *conn)
    .await?;
    let refresh = issue_refresh(conn, id).await?;
    Ok((id, refresh))
}

async fn issue_refresh(conn: &mut PgConnection, session: SessionId) -> Result<NewSecret, AppError> {
    let refresh = NewSecret::generate(SecretKind::RefreshToken).map_err(AppError::internal)?;
    sqlx::query!(
        "INSERT INTO refresh_tokens (id, session_id, secret_hash, expires_at)
         SELECT $1, id, $3, expires_at FROM sessions WHERE id = $2",
        uuid::Uuid::new_v4(),
        session.0,
        refresh.hash.as_bytes(),
    )
    .execute(conn)
    .await?;
    Ok(refresh)
}

/// The outcome of presenting a refresh token.
pub enum Refresh {
    /// A new refresh token for the same live session.
    Rotated {
        session: SessionId,
        user: UserId,
        tenant: TenantId,
        refresh: NewSecret,
    },
    /// The token had been used before: the session is now revoked.
    Reused { session: SessionId, user: UserId },
    /// Unknown, expired, or its session is over.
    Invalid,
}

/// Trades a refresh token for a new one, in the caller's transaction. The row lock makes two
/// concurrent uses of one token count as a reuse, never as two rotations.
pub async fn rotate(conn: &mut PgConnection, presented: &str) -> Result<Refresh, AppError> {
    let hash = SecretHash::of(presented);
    let Some(row) = sqlx::query!(
        r#"SELECT r.id, r.used_at IS NOT NULL AS "used!", r.expires_at > now() AS "fresh!",
                  s.id AS session_id, s.user_id, s.current_tenant_id,
                  (s.revoked_at IS NULL AND s.expires_at > now() AND u.disabled_at IS NULL) AS "live!"
           FROM refresh_tokens r JOIN sessions s ON s.id = r.session_id JOIN users u ON u.id = s.user_id
           WHERE r.secret_hash = $1 AND s.kind = 'token'
           FOR UPDATE OF r, s"#,
        hash.as_bytes()
    )
    .fetch_optional(&mut *conn)
    .await?
    else {
        return Ok(Refresh::Invalid);
    };
    let session = SessionId(row.session_id);
    let user = UserId(row.user_id);
    if row.used {
        revoke(conn, session).await?;
        return Ok(Refresh::Reused { session, user });
    }
    let (true, true, Some(tenant)) = (row.live, row.fresh, row.current_tenant_id) else {
        return Ok(Refresh::Invalid);
    };
    sqlx::query!(
        "UPDATE refresh_tokens SET used_at = now() WHERE id = $1",
        row.id
    )
    .execute(&mut *conn)
    .await?;
    let refresh = issue_refresh(conn, session).await?;
    Ok(Refresh::Rotated {
        session,
        user,
        tenant: TenantId(tenant),
        refresh,
    })
}

pub async fn revoke(conn: &mut PgConnection, session: SessionId) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "UPDATE sessions SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL",
        session.0
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// Revokes every session of `user` except `keep` (after a password change or reset).
pub async fn revoke_all_of(
    conn: &mut PgConnection,
    user: UserId,
    keep: Option<SessionId>,
) -> Result<u64, sqlx::Error> {
    let done = sqlx::query!(
        "UPDATE sessions SET revoked_at = now()
         WHERE user_id = $1 AND revoked_at IS NULL AND id IS DISTINCT FROM $2",
        user.0,
        keep.map(|s| s.0)
    )
    .execute(conn)
    .await?;
    Ok(done.rows_affected())
}

/// The identity provider `session` was signed in through (`None`: a password).
pub async fn provider_of(
    conn: &mut PgConnection,
    session: SessionId,
) -> Result<Option<ProviderSignIn>, sqlx::Error> {
    let row = sqlx::query!(
        "SELECT identity_provider_id, provider_logout_url FROM sessions WHERE id = $1",
        session.0
    )
    .fetch_one(conn)
    .await?;
    Ok(row.identity_provider_id.map(|provider| ProviderSignIn {
        provider: IdentityProviderId(provider),
        logout_url: row.provider_logout_url,
    }))
}

pub async fn switch_tenant(
    conn: &mut PgConnection,
    session: SessionId,
    tenant: TenantId,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "UPDATE sessions SET current_tenant_id = $2 WHERE id = $1 AND kind = 'browser'",
        session.0,
        tenant.0
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// `Set-Cookie` for a new browser session: host-only, HTTPS-only, invisible to scripts, not sent
/// on cross-site subrequests. Chromium and Firefox treat `http://localhost` as secure, so local
/// installations work without TLS.
pub fn set_cookie(cookie: &str, lifetime: Duration) -> Result<HeaderValue, AppError> {
    HeaderValue::from_str(&format!(
        "{SESSION_COOKIE}={cookie}; Path=/; Secure; HttpOnly; SameSite=Lax; Max-Age={}",
        lifetime.as_secs()
    ))
    .map_err(AppError::internal)
}

/// `Set-Cookie` values of a new browser session: the session itself, then its CSRF token.
pub fn sign_in_cookies(
    session: &BrowserSession,
    lifetime: Duration,
) -> Result<[HeaderValue; 2], AppError> {
    Ok([
        set_cookie(&session.cookie.plaintext, lifetime)?,
        set_csrf_cookie(&session.csrf_token, lifetime)?,
    ])
}

#[must_use]
pub fn clear_cookie() -> HeaderValue {
    HeaderValue::from_static(
        "__Host-nimbus_session=; Path=/; Secure; HttpOnly; SameSite=Lax; Max-Age=0",
    )
}

/// `Set-Cookie` carrying the session's CSRF token to the dashboard's scripts, so that a page
/// reload keeps working without any answer repeating the token: readable by this site's scripts
/// only (host-only, never sent cross-site), and still compared with the token stored with the
/// session, never with itself.
pub fn set_csrf_cookie(token: &str, lifetime: Duration) -> Result<HeaderValue, AppError> {
    HeaderValue::from_str(&format!(
        "{CSRF_COOKIE}={token}; Path=/; Secure; SameSite=Strict; Max-Age={}",
        lifetime.as_secs()
    ))
    .map_err(AppError::internal)
}

#[must_use]
pub fn clear_csrf_cookie() -> HeaderValue {
    HeaderValue::from_static("__Host-nimbus_csrf=; Path=/; Secure; SameSite=Strict; Max-Age=0")
}
