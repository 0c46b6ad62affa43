//! Sign-in, sign-out, the token endpoint, setup, passwords, the caller (`/me`) and its sessions.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use nimbus_api_types::ErrorCode;
use nimbus_api_types::identity::{
    ChangePassword, Login, Me, PasswordReset, PasswordResetRequest, PlatformSetup, Session,
    SessionKind, SignedOut, SwitchTenant, TokenRequest, TokenResponse, User,
};
use nimbus_api_types::ids::{SessionId, TenantId, UserId};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::extract::{Authenticated, RequestMeta};
use super::password::{self, Password, PasswordHashString};
use super::principal::{Credential, Principal, session_cookie, tenant_authority};
use super::secret::SecretHash;
use super::session::{self, Refresh};
use crate::audit::{self, Outcome};
use crate::db;
use crate::error::AppError;
use crate::http::extract::{Json, Path};
use crate::sso::policy::{self, PasswordSignIn};
use crate::state::AppState;
use crate::users::{self, Email, repo as users_repo};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(login))
        .routes(routes!(logout))
        .routes(routes!(token))
        .routes(routes!(setup))
        .routes(routes!(change_password))
        .routes(routes!(reset_password))
        .routes(routes!(request_password_reset))
        .routes(routes!(jwks))
        .routes(routes!(me))
        .routes(routes!(switch_tenant))
        .routes(routes!(list_sessions))
        .routes(routes!(revoke_session))
}

/// One message for every failed sign-in: it never says whether the account exists.
pub(crate) fn bad_credentials() -> AppError {
    AppError::new(
        ErrorCode::Unauthenticated,
        "the e-mail address or password is wrong",
    )
}

/// Checks a password for an e-mail address; unknown addresses cost the same as known ones.
pub(crate) async fn check_password(
    email: &Email,
    password: String,
    state: &AppState,
) -> Result<Option<users_repo::LoginAccount>, AppError> {
    let account = users_repo::find_for_login(&state.db, email).await?;
    let stored = account
        .as_ref()
        .and_then(|account| account.password_hash.clone())
        .map(PasswordHashString);
    let matches = password::verify(Password::new(password), stored)
        .await
        .map_err(AppError::internal)?;
    Ok(account.filter(|account| matches && !account.disabled))
}

/// The second factor of an account whose password was right: a missing code asks for one; a
/// wrong or reused code is a failed sign-in.
pub(crate) async fn check_second_factor(
    state: &AppState,
    meta: &RequestMeta,
    action: &'static str,
    email: &Email,
    user: UserId,
    code: Option<&str>,
) -> Result<(), AppError> {
    match super::totp::check(&state.db, user, code).await? {
        super::totp::SecondFactor::Passed => Ok(()),
        super::totp::SecondFactor::Missing => Err(AppError::new(
            ErrorCode::SecondFactorRequired,
            "enter the current code from your authenticator app",
        )),
        super::totp::SecondFactor::Refused => {
            audit_failed_sign_in(state, meta, action, email).await?;
            Err(AppError::new(
                ErrorCode::Unauthenticated,
                "the code is wrong or was already used",
            ))
        }
    }
}

/// Records a refused sign-in in its own transaction (there is no change to roll back).
pub(crate) async fn audit_failed_sign_in(
    state: &AppState,
    meta: &RequestMeta,
    action: &'static str,
    email: &Email,
) -> Result<(), AppError> {
    let mut tx = state.db.begin().await?;
    audit::record(
        &mut tx,
        &meta.entry(
            None,
            "anonymous".into(),
            action,
            format!("email:{}", email.as_str()),
            Outcome::Failure,
        ),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// The tenant a sign-in works in: the one asked for, else the user's first; `None` when the
/// user belongs to none. Asking for a tenant the user is not in is an error.
async fn pick_tenant(
    state: &AppState,
    user: UserId,
    slug: Option<&str>,
) -> Result<Option<TenantId>, AppError> {
    let tenants = users_repo::tenants_of(&state.db, user).await?;
    let Some(slug) = slug else {
        return Ok(tenants
            .iter()
            .find(|tenant| !tenant.suspended)
            .map(|tenant| tenant.id));
    };
    let tenant = tenants
        .iter()
        .find(|tenant| tenant.slug == slug)
        .ok_or_else(|| AppError::new(ErrorCode::NotFound, "you are not a member of that tenant"))?;
    if tenant.suspended {
        return Err(AppError::new(
            ErrorCode::Forbidden,
            "that tenant is suspended; ask your platform administrator",
        ));
    }
    Ok(Some(tenant.id))
}

/// The tenant a password sign-in works in (as [`pick_tenant`]) and whether its break-glass
/// Owner is using the way in. Without a tenant asked for, tenants that require single sign-on
/// are passed over; when every one does, the first one's refusal says where to sign in.
async fn password_tenant(
    state: &AppState,
    user: UserId,
    slug: Option<&str>,
) -> Result<(Option<TenantId>, bool), AppError> {
    let candidates = match slug {
        Some(_) => pick_tenant(state, user, slug).await?.into_iter().collect(),
        None => users_repo::tenants_of(&state.db, user)
            .await?
            .into_iter()
            .filter(|tenant| !tenant.suspended)
            .map(|tenant| tenant.id)
            .collect::<Vec<_>>(),
    };
    let mut refusal = None;
    for tenant in candidates {
        match policy::password_sign_in(&state.db, tenant, user).await {
            Ok(allowed) => return Ok((Some(tenant), allowed == PasswordSignIn::BreakGlass)),
            Err(err) if err.code() == ErrorCode::Forbidden => {
                refusal.get_or_insert(err);
            }
            Err(err) => return Err(err),
        }
    }
    refusal.map_or(Ok((None, false)), Err)
}

/// Signs in to the dashboard: sets the session cookie and returns the caller with its CSRF token
/// (also set as a cookie the dashboard's scripts read after a reload).
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth", request_body = Login,
    responses(
        (status = 200, description = "Signed in; `Set-Cookie` carries the session", body = Me),
        (status = 401, description = "Wrong e-mail address or password", body = nimbus_api_types::ErrorBody),
        (status = 429, description = "Too many attempts", body = nimbus_api_types::ErrorBody),
    ))]
pub async fn login(
    State(state): State<AppState>,
    meta: RequestMeta,
    Json(body): Json<Login>,
) -> Result<Response, AppError> {
    let email = Email::parse(&body.email).map_err(|_| bad_credentials())?;
    state
        .auth
        .limits
        .check(meta.source_ip, Some(email.as_str()))?;
    let Some(account) = check_password(&email, body.password, &state).await? else {
        audit_failed_sign_in(&state, &meta, "auth.login", &email).await?;
        return Err(bad_credentials());
    };
    check_second_factor(
        &state,
        &meta,
        "auth.login",
        &email,
        account.id,
        body.totp_code.as_deref(),
    )
    .await?;
    let (tenant, break_glass) = password_tenant(&state, account.id, body.tenant.as_deref()).await?;
    let lifetime = state.config.auth.session_lifetime;
    let mut tx = db::begin_scoped(&state.db, tenant).await?;
    let started =
        session::start_browser(&mut tx, account.id, tenant, &meta, lifetime, None).await?;
    let mut entry = meta.entry(
        tenant,
        format!("user:{}", account.id),
        "auth.login",
        format!("session:{}", started.id),
        Outcome::Success,
    );
    entry.details = serde_json::json!({ "kind": "browser", "break_glass": break_glass });
    audit::record(&mut tx, &entry).await?;
    tx.commit().await?;
    signed_in(&state, account.id, account.platform_admin, tenant, started).await
}

/// The answer to a browser sign-in: the caller with its CSRF token, and the cookies of the
/// session just started (the CSRF token also as a cookie the dashboard's scripts read after a
/// reload).
pub async fn signed_in(
    state: &AppState,
    user: UserId,
    platform_admin: bool,
    tenant: Option<TenantId>,
    started: session::BrowserSession,
) -> Result<Response, AppError> {
    let (tenant, authority) = tenant_authority(&state.db, user, tenant).await?;
    let principal = Principal {
        user,
        platform_admin,
        tenant,
        authority,
        credential: Credential::Session { id: started.id },
        project: None,
    };
    let mut me = users::me(state, &principal).await?;
    let cookies = session::sign_in_cookies(&started, state.config.auth.session_lifetime)?;
    me.csrf_token = Some(started.csrf_token);
    Ok((
        axum::response::AppendHeaders(cookies.map(|cookie| (header::SET_COOKIE, cookie))),
        axum::Json(me),
    )
        .into_response())
}

/// Signs out: ends the session behind the cookie or access token, and clears the cookie. A
/// session signed in through an identity provider that supports RP-initiated logout also gets
/// the URL that ends the provider's session.
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth",
    security(("session" = []), ("bearer" = [])),
    responses((status = 200, description = "Signed out", body = SignedOut)))]
pub async fn logout(
    State(state): State<AppState>,
    caller: Authenticated,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let session = caller.principal.session().ok_or_else(|| {
        AppError::new(
            ErrorCode::BadRequest,
            "API tokens have no session; revoke the token instead",
        )
    })?;
    let mut tx = db::begin_scoped(&state.db, caller.principal.tenant).await?;
    let provider_logout_url = session::provider_of(&mut tx, session)
        .await?
        .and_then(|signed_in| signed_in.logout_url);
    session::revoke(&mut tx, session).await?;
    audit::record(
        &mut tx,
        &caller.audit("auth.logout", format!("session:{session}")),
    )
    .await?;
    tx.commit().await?;
    if let Some(cookie) = session_cookie(&headers) {
        state.auth.cache.forget(cookie);
    }
    Ok((
        axum::response::AppendHeaders([
            (header::SET_COOKIE, session::clear_cookie()),
            (header::SET_COOKIE, session::clear_csrf_cookie()),
        ]),
        axum::Json(SignedOut {
            provider_logout_url,
        }),
    )
        .into_response())
}

/// Issues a short-lived JWT access token and a single-use refresh token: sign in with a
/// password (`grant_type=password`) or trade a refresh token (`grant_type=refresh_token`).
/// Presenting a refresh token twice ends its session.
#[utoipa::path(post, path = "/api/v1/auth/token", tag = "auth", request_body = TokenRequest,
    responses(
        (status = 200, description = "A new access and refresh token", body = TokenResponse),
        (status = 401, description = "Wrong credentials, or an invalid or reused refresh token", body = nimbus_api_types::ErrorBody),
        (status = 429, description = "Too many attempts", body = nimbus_api_types::ErrorBody),
    ))]
pub async fn token(
    State(state): State<AppState>,
    meta: RequestMeta,
    Json(body): Json<TokenRequest>,
) -> Result<Json<TokenResponse>, AppError> {
    let keys = state.auth.keys(&state.db).await?;
    let auth = &state.config.auth;
    let (user, session, tenant, refresh) = match body {
        TokenRequest::Password {
            email,
            password,
            tenant,
            totp_code,
        } => {
            let email = Email::parse(&email).map_err(|_| bad_credentials())?;
            state
                .auth
                .limits
                .check(meta.source_ip, Some(email.as_str()))?;
            let Some(account) = check_password(&email, password, &state).await? else {
                audit_failed_sign_in(&state, &meta, "auth.token", &email).await?;
                return Err(bad_credentials());
            };
            check_second_factor(
                &state,
                &meta,
                "auth.token",
                &email,
                account.id,
                totp_code.as_deref(),
            )
            .await?;
            let tenant = pick_tenant(&state, account.id, Some(&tenant))
                .await?
                .ok_or_else(bad_credentials)?;
            let break_glass = policy::password_sign_in(&state.db, tenant, account.id).await?
                == PasswordSignIn::BreakGlass;
            let mut tx = db::begin_for_tenant(&state.db, tenant).await?;
            let (session, refresh) = session::start_token_session(
                &mut tx,
                account.id,
                tenant,
                &meta,
                auth.session_lifetime,
            )
            .await?;
            let mut entry = meta.entry(
                Some(tenant),
                format!("user:{}", account.id),
                "auth.token",
                format!("session:{session}"),
                Outcome::Success,
            );
            entry.details =
                serde_json::json!({ "grant_type": "password", "break_glass": break_glass });
            audit::record(&mut tx, &entry).await?;
            tx.commit().await?;
            (account.id, session, tenant, refresh)
        }
        TokenRequest::RefreshToken { refresh_token } => {
            state.auth.limits.check(meta.source_ip, None)?;
            let mut tx = state.db.begin().await?;
            match session::rotate(&mut tx, &refresh_token).await? {
                Refresh::Rotated {
                    session,
                    user,
                    tenant,
                    refresh,
                } => {
                    db::set_tenant(&mut tx, tenant).await?;
                    let mut entry = meta.entry(
                        Some(tenant),
                        format!("user:{user}"),
                        "auth.refresh",
                        format!("session:{session}"),
                        Outcome::Success,
                    );
                    entry.details = serde_json::json!({ "grant_type": "refresh_token" });
                    audit::record(&mut tx, &entry).await?;
                    tx.commit().await?;
                    (user, session, tenant, refresh)
                }
                Refresh::Reused { session, user } => {
                    let mut entry = meta.entry(
                        None,
                        format!("user:{user}"),
                        "auth.refresh_reuse",
                        format!("session:{session}"),
                        Outcome::Denied,
                    );
                    entry.details = serde_json::json!({ "revoked": "session" });
                    audit::record(&mut tx, &entry).await?;
                    tx.commit().await?;
                    tracing::warn!(%session, "a used refresh token was presented again; the session is revoked");
                    return Err(AppError::new(
                        ErrorCode::Unauthenticated,
                        "invalid refresh token",
                    ));
                }
                Refresh::Invalid => {
                    return Err(AppError::new(
                        ErrorCode::Unauthenticated,
                        "invalid refresh token",
                    ));
                }
            }
        }
    };
    let access_token = keys
        .issue(
            user,
            session,
            tenant,
            chrono::Utc::now(),
            auth.access_token_lifetime,
        )
        .map_err(AppError::internal)?;
    Ok(Json(TokenResponse {
        access_token,
        token_type: "Bearer".to_owned(),
        expires_in: auth.access_token_lifetime.as_secs(),
        refresh_token: refresh.plaintext,
    }))
}

/// Creates the first platform administrator with the one-time link printed at first start.
#[utoipa::path(post, path = "/api/v1/auth/setup", tag = "auth", request_body = PlatformSetup,
    responses(
        (status = 201, description = "The platform administrator; sign in next", body = User),
        (status = 401, description = "The link is invalid, used or expired", body = nimbus_api_types::ErrorBody),
        (status = 422, description = "The e-mail address or password is not acceptable", body = nimbus_api_types::ErrorBody),
    ))]
pub async fn setup(
    State(state): State<AppState>,
    meta: RequestMeta,
    Json(body): Json<PlatformSetup>,
) -> Result<(StatusCode, Json<User>), AppError> {
    state.auth.limits.check(meta.source_ip, None)?;
    let email = Email::parse(&body.email)?;
    let password = Password::new_for_account(body.password, email.as_str())
        .map_err(|err| AppError::new(ErrorCode::ValidationFailed, err.to_string()))?;
    let display_name = users::display_name(&body.display_name)?;
    let hash = password::hash(password).await.map_err(AppError::internal)?;
    let mut tx = state.db.begin().await?;
    if !users::links::consume_setup(&mut tx, &SecretHash::of(&body.token)).await? {
        return Err(AppError::new(
            ErrorCode::Unauthenticated,
            "this setup link is invalid, used or expired",
        ));
    }
    let user = users_repo::create(&mut tx, &email, display_name, Some(&hash.0), true)
        .await
        .map_err(users::conflict_on_duplicate)?;
    audit::record(
        &mut tx,
        &meta.entry(
            None,
            format!("user:{user}"),
            "platform.setup",
            format!("user:{user}"),
            Outcome::Success,
        ),
    )
    .await?;
    let created = users_repo::get(&mut tx, user).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(created)))
}

/// Changes the caller's password; every other session of the caller ends.
#[utoipa::path(post, path = "/api/v1/auth/password", tag = "auth", request_body = ChangePassword,
    security(("session" = []), ("bearer" = [])),
    responses(
        (status = 204, description = "Changed"),
        (status = 401, description = "The current password is wrong", body = nimbus_api_types::ErrorBody),
    ))]
pub async fn change_password(
    State(state): State<AppState>,
    caller: Authenticated,
    Json(body): Json<ChangePassword>,
) -> Result<StatusCode, AppError> {
    let user = caller.principal.user;
    let email = users_repo::email_of(&mut *state.db.acquire().await?, user).await?;
    state
        .auth
        .limits
        .check(caller.meta.source_ip, Some(&email))?;
    let stored = users_repo::password_hash_of(&mut *state.db.acquire().await?, user).await?;
    let matches = password::verify(
        Password::new(body.current_password),
        stored.map(PasswordHashString),
    )
    .await
    .map_err(AppError::internal)?;
    if !matches {
        return Err(AppError::new(
            ErrorCode::Unauthenticated,
            "the current password is wrong",
        ));
    }
    let new = Password::new_for_account(body.new_password, &email)
        .map_err(|err| AppError::new(ErrorCode::ValidationFailed, err.to_string()))?;
    let hash = password::hash(new).await.map_err(AppError::internal)?;
    let mut tx = db::begin_scoped(&state.db, caller.principal.tenant).await?;
    users_repo::set_password(&mut tx, user, &hash.0).await?;
    session::revoke_all_of(&mut tx, user, caller.principal.session()).await?;
    audit::record(
        &mut tx,
        &caller.audit("user.password_change", format!("user:{user}")),
    )
    .await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Sets a new password with a reset link (from `nimbus admin reset-password`); every session
/// of the account ends.
#[utoipa::path(post, path = "/api/v1/auth/password-reset", tag = "auth", request_body = PasswordReset,
    responses(
        (status = 204, description = "The password is set; sign in with it"),
        (status = 401, description = "The link is invalid, used or expired", body = nimbus_api_types::ErrorBody),
    ))]
pub async fn reset_password(
    State(state): State<AppState>,
    meta: RequestMeta,
    Json(body): Json<PasswordReset>,
) -> Result<StatusCode, AppError> {
    state.auth.limits.check(meta.source_ip, None)?;
    let invalid = || {
        AppError::new(
            ErrorCode::Unauthenticated,
            "this reset link is invalid, used or expired",
        )
    };
    let mut tx = state.db.begin().await?;
    let user = users::links::consume_reset(&mut tx, &SecretHash::of(&body.token))
        .await?
        .ok_or_else(invalid)?;
    let email = users_repo::email_of(&mut tx, user).await?;
    let new = Password::new_for_account(body.new_password, &email)
        .map_err(|err| AppError::new(ErrorCode::ValidationFailed, err.to_string()))?;
    let hash = password::hash(new).await.map_err(AppError::internal)?;
    users_repo::set_password(&mut tx, user, &hash.0).await?;
    session::revoke_all_of(&mut tx, user, None).await?;
    audit::record(
        &mut tx,
        &meta.entry(
            None,
            format!("user:{user}"),
            "user.password_reset",
            format!("user:{user}"),
            Outcome::Success,
        ),
    )
    .await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Mails a single-use password-reset link when the address has an account. The answer is the
/// same whether or not it has one.
#[utoipa::path(post, path = "/api/v1/auth/password-reset/request", tag = "auth", request_body = PasswordResetRequest,
    responses(
        (status = 202, description = "If the address has an account, a link is on its way"),
        (status = 429, description = "Too many attempts", body = nimbus_api_types::ErrorBody),
        (status = 503, description = "No mail server is configured; ask an administrator", body = nimbus_api_types::ErrorBody),
    ))]
pub async fn request_password_reset(
    State(state): State<AppState>,
    meta: RequestMeta,
    Json(body): Json<PasswordResetRequest>,
) -> Result<StatusCode, AppError> {
    let Some(mailer) = state.mailer.clone() else {
        return Err(AppError::new(
            ErrorCode::ServiceUnavailable,
            "password resets by e-mail are not set up here; ask an administrator for a reset link",
        ));
    };
    let email = Email::parse(&body.email)?;
    state
        .auth
        .limits
        .check(meta.source_ip, Some(email.as_str()))?;
    let account = users_repo::find_for_login(&state.db, &email)
        .await?
        .filter(|account| !account.disabled);
    let lifetime = state.config.auth.link_lifetime;
    let mut tx = state.db.begin().await?;
    let link = match &account {
        Some(account) => Some(
            users::links::create_reset(&mut tx, account.id, lifetime)
                .await
                .map_err(AppError::internal)?,
        ),
        None => None,
    };
    let mut entry = meta.entry(
        None,
        "anonymous".into(),
        "user.password_reset_request",
        format!("email:{}", email.as_str()),
        Outcome::Success,
    );
    entry.details = serde_json::json!({ "account": account.is_some() });
    audit::record(&mut tx, &entry).await?;
    tx.commit().await?;
    if let Some(secret) = link {
        let link = format!(
            "{}/reset-password#{}",
            state.config.base_url(),
            secret.plaintext
        );
        let expires = (chrono::Utc::now()
            + chrono::Duration::from_std(lifetime).unwrap_or_default())
        .to_rfc2822();
        if let Err(err) = mailer
            .send(
                email.as_str(),
                &crate::mail::PasswordResetMail {
                    link: &link,
                    expires,
                },
            )
            .await
        {
            tracing::warn!(error = %err, "password-reset mail not sent");
        }
    }
    Ok(StatusCode::ACCEPTED)
}

/// The public keys access tokens are signed with (JSON Web Key Set).
#[utoipa::path(get, path = "/.well-known/jwks.json", tag = "auth",
    responses((status = 200, description = "A JSON Web Key Set of Ed25519 keys", body = Object)))]
pub async fn jwks(
    State(state): State<AppState>,
) -> Result<axum::Json<serde_json::Value>, AppError> {
    Ok(axum::Json(state.auth.keys(&state.db).await?.jwks()))
}

/// The caller: its account, current tenant, permissions there and every tenant it belongs to.
#[utoipa::path(get, path = "/api/v1/me", tag = "auth",
    security(("session" = []), ("bearer" = [])),
    responses((status = 200, description = "The caller", body = Me)))]
pub async fn me(
    State(state): State<AppState>,
    caller: Authenticated,
) -> Result<Json<Me>, AppError> {
    Ok(Json(users::me(&state, &caller.principal).await?))
}

/// Switches the browser session to another tenant the caller belongs to.
#[utoipa::path(put, path = "/api/v1/me/tenant", tag = "auth", request_body = SwitchTenant,
    security(("session" = [])),
    responses(
        (status = 200, description = "Switched", body = Me),
        (status = 404, description = "The caller is not a member of that tenant", body = nimbus_api_types::ErrorBody),
    ))]
pub async fn switch_tenant(
    State(state): State<AppState>,
    caller: Authenticated,
    headers: HeaderMap,
    Json(body): Json<SwitchTenant>,
) -> Result<Json<Me>, AppError> {
    let Credential::Session { id } = caller.principal.credential else {
        return Err(AppError::new(
            ErrorCode::BadRequest,
            "only browser sessions switch tenants; tokens are issued for one tenant",
        ));
    };
    let tenant = pick_tenant(&state, caller.principal.user, Some(&body.tenant)).await?;
    let tenant = tenant
        .ok_or_else(|| AppError::new(ErrorCode::NotFound, "you are not a member of that tenant"))?;
    let mut tx = db::begin_for_tenant(&state.db, tenant).await?;
    let provider = session::provider_of(&mut tx, id).await?;
    policy::session_may_enter(
        &mut tx,
        tenant,
        caller.principal.user,
        provider.map(|signed_in| signed_in.provider),
    )
    .await?;
    session::switch_tenant(&mut tx, id, tenant).await?;
    let mut entry = caller.audit("session.switch_tenant", format!("session:{id}"));
    entry.tenant = Some(tenant);
    audit::record(&mut tx, &entry).await?;
    tx.commit().await?;
    if let Some(cookie) = session_cookie(&headers) {
        state.auth.cache.forget(cookie);
    }
    let (tenant, authority) =
        tenant_authority(&state.db, caller.principal.user, Some(tenant)).await?;
    let principal = Principal {
        tenant,
        authority,
        ..caller.principal
    };
    Ok(Json(users::me(&state, &principal).await?))
}

/// The caller's own live sessions.
#[utoipa::path(get, path = "/api/v1/sessions", tag = "auth",
    security(("session" = []), ("bearer" = [])),
    responses((status = 200, description = "Live sessions, newest first", body = Vec<Session>)))]
pub async fn list_sessions(
    State(state): State<AppState>,
    caller: Authenticated,
) -> Result<Json<Vec<Session>>, AppError> {
    let current = caller.principal.session();
    let rows = sqlx::query!(
        r#"SELECT id, kind, created_at, last_seen_at, expires_at, source_ip, user_agent FROM sessions
           WHERE user_id = $1 AND revoked_at IS NULL AND expires_at > now()
           ORDER BY created_at DESC LIMIT 200"#,
        caller.principal.user.0
    )
    .fetch_all(&state.db)
    .await?;
    Ok(Json(
        rows.into_iter()
            .map(|row| Session {
                id: SessionId(row.id),
                kind: if row.kind == "browser" {
                    SessionKind::Browser
                } else {
                    SessionKind::Token
                },
                created_at: row.created_at,
                last_seen_at: row.last_seen_at,
                expires_at: row.expires_at,
                source_ip: row.source_ip.map(|ip| ip.addr().to_string()),
                user_agent: row.user_agent,
                current: current == Some(SessionId(row.id)),
            })
            .collect(),
    ))
}

/// Ends one of the caller's sessions (sign out elsewhere).
#[utoipa::path(delete, path = "/api/v1/sessions/{id}", tag = "auth",
    params(("id" = SessionId, Path, description = "The session")),
    security(("session" = []), ("bearer" = [])),
    responses(
        (status = 204, description = "Ended"),
        (status = 404, description = "No such session of the caller", body = nimbus_api_types::ErrorBody),
    ))]
pub async fn revoke_session(
    State(state): State<AppState>,
    caller: Authenticated,
    Path(id): Path<SessionId>,
) -> Result<StatusCode, AppError> {
    let mut tx = db::begin_scoped(&state.db, caller.principal.tenant).await?;
    let done = sqlx::query!(
        "UPDATE sessions SET revoked_at = now() WHERE id = $1 AND user_id = $2 AND revoked_at IS NULL",
        id.0,
        caller.principal.user.0
    )
    .execute(&mut *tx)
    .await?;
    if done.rows_affected() == 0 {
        return Err(AppError::new(ErrorCode::NotFound, "no such session"));
    }
    audit::record(
        &mut tx,
        &caller.audit("session.revoke", format!("session:{id}")),
    )
    .await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}
