//! The optional second factor of local accounts (SECURITY.md 13): TOTP per RFC 6238 — HMAC-SHA-1,
//! 6 digits, 30-second steps, one step of clock skew either way — which every authenticator app
//! speaks. A code is accepted once: the step of the last accepted code is stored and only a later
//! step passes, so a code seen over a shoulder or in a log cannot be replayed.

use axum::extract::State;
use axum::http::StatusCode;
use nimbus_api_types::ErrorCode;
use nimbus_api_types::identity::{TotpCode, TotpDisable, TotpEnrollment};
use nimbus_api_types::ids::UserId;
use ring::rand::{SecureRandom, SystemRandom};
use sqlx::PgPool;
use totp_rs::{Builder, Secret, Totp};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::extract::Authenticated;
use super::password::{self, Password, PasswordHashString};
use super::principal::Credential;
use crate::audit;
use crate::db;
use crate::error::AppError;
use crate::http::extract::Json;
use crate::state::AppState;
use crate::users::repo as users_repo;

/// 160 bits, the size RFC 4226 recommends for HMAC-SHA-1 secrets.
const SECRET_BYTES: usize = 20;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(enroll))
        .routes(routes!(confirm))
        .routes(routes!(disable))
}

fn generator(secret: Vec<u8>) -> Result<Totp, AppError> {
    Builder::new()
        .with_secret(secret)
        .build()
        .map_err(|err| AppError::internal(std::io::Error::other(err.to_string())))
}

fn now_secs() -> u64 {
    u64::try_from(chrono::Utc::now().timestamp()).unwrap_or(0)
}

/// What the second factor says about a sign-in whose password was right.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecondFactor {
    /// The account has none, or the code is right and fresh.
    Passed,
    /// The account has one and no code came.
    Missing,
    /// Wrong, expired or already used.
    Refused,
}

/// Checks `code` for `user` at sign-in and uses it up.
pub async fn check(
    pool: &PgPool,
    user: UserId,
    code: Option<&str>,
) -> Result<SecondFactor, AppError> {
    let secret = sqlx::query_scalar!("SELECT totp_secret FROM users WHERE id = $1", user.0)
        .fetch_one(pool)
        .await?;
    let Some(secret) = secret else {
        return Ok(SecondFactor::Passed);
    };
    let Some(code) = code else {
        return Ok(SecondFactor::Missing);
    };
    let Some(counter) = generator(secret)?.check(code.trim(), now_secs()) else {
        return Ok(SecondFactor::Refused);
    };
    let counter = i64::try_from(counter).unwrap_or(i64::MAX);
    // Only a later step than the last accepted one passes: concurrent or repeated uses of one
    // code cannot both win.
    let used = sqlx::query!(
        "UPDATE users SET totp_last_counter = $2
         WHERE id = $1 AND (totp_last_counter IS NULL OR totp_last_counter < $2)",
        user.0,
        counter
    )
    .execute(pool)
    .await?;
    Ok(if used.rows_affected() == 1 {
        SecondFactor::Passed
    } else {
        SecondFactor::Refused
    })
}

fn person_only(caller: &Authenticated) -> Result<(), AppError> {
    match caller.principal.credential {
        Credential::ApiToken { .. } => Err(AppError::new(
            ErrorCode::BadRequest,
            "API tokens cannot change a second factor; sign in as the person",
        )),
        _ => Ok(()),
    }
}

/// Starts turning on the second factor: a new secret to add to an authenticator app. It takes
/// effect once a code from it is confirmed.
#[utoipa::path(post, path = "/api/v1/me/totp", tag = "auth",
    security(("session" = []), ("bearer" = [])),
    responses((status = 200, description = "The secret, shown this once", body = TotpEnrollment)))]
pub async fn enroll(
    State(state): State<AppState>,
    caller: Authenticated,
) -> Result<Json<TotpEnrollment>, AppError> {
    person_only(&caller)?;
    let mut secret = vec![0; SECRET_BYTES];
    SystemRandom::new()
        .fill(&mut secret)
        .map_err(|_| AppError::internal(std::io::Error::other("random source failed")))?;
    let user = caller.principal.user;
    let mut tx = db::begin_scoped(&state.db, caller.principal.tenant).await?;
    let email = users_repo::email_of(&mut tx, user).await?;
    sqlx::query!(
        "UPDATE users SET totp_pending_secret = $2 WHERE id = $1",
        user.0,
        &secret
    )
    .execute(&mut *tx)
    .await?;
    audit::record(
        &mut tx,
        &caller.audit("user.totp_enroll", format!("user:{user}")),
    )
    .await?;
    tx.commit().await?;
    let encoded = Secret::from(secret).to_base32();
    let otpauth_url = format!(
        "otpauth://totp/Nimbus:{email}?secret={encoded}&issuer=Nimbus&algorithm=SHA1&digits=6&period=30"
    );
    Ok(Json(TotpEnrollment {
        secret: encoded,
        otpauth_url,
    }))
}

/// Turns the second factor on with a code from the new secret; sign-ins then need a code.
#[utoipa::path(post, path = "/api/v1/me/totp/confirm", tag = "auth", request_body = TotpCode,
    security(("session" = []), ("bearer" = [])),
    responses(
        (status = 204, description = "On"),
        (status = 422, description = "No enrollment in progress, or the code is wrong", body = nimbus_api_types::ErrorBody),
    ))]
pub async fn confirm(
    State(state): State<AppState>,
    caller: Authenticated,
    Json(body): Json<TotpCode>,
) -> Result<StatusCode, AppError> {
    person_only(&caller)?;
    let user = caller.principal.user;
    let wrong = || {
        AppError::new(
            ErrorCode::ValidationFailed,
            "the code does not match; start again or wait for the next code",
        )
    };
    let mut tx = db::begin_scoped(&state.db, caller.principal.tenant).await?;
    let pending = sqlx::query_scalar!(
        "SELECT totp_pending_secret FROM users WHERE id = $1 FOR UPDATE",
        user.0
    )
    .fetch_one(&mut *tx)
    .await?
    .ok_or_else(wrong)?;
    let counter = generator(pending.clone())?
        .check(body.code.trim(), now_secs())
        .ok_or_else(wrong)?;
    sqlx::query!(
        "UPDATE users SET totp_secret = totp_pending_secret, totp_pending_secret = NULL, totp_last_counter = $2 WHERE id = $1",
        user.0,
        i64::try_from(counter).unwrap_or(i64::MAX)
    )
    .execute(&mut *tx)
    .await?;
    audit::record(
        &mut tx,
        &caller.audit("user.totp_enable", format!("user:{user}")),
    )
    .await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Turns the second factor off; needs the account's password.
#[utoipa::path(post, path = "/api/v1/me/totp/disable", tag = "auth", request_body = TotpDisable,
    security(("session" = []), ("bearer" = [])),
    responses(
        (status = 204, description = "Off"),
        (status = 401, description = "The password is wrong", body = nimbus_api_types::ErrorBody),
    ))]
pub async fn disable(
    State(state): State<AppState>,
    caller: Authenticated,
    Json(body): Json<TotpDisable>,
) -> Result<StatusCode, AppError> {
    person_only(&caller)?;
    let user = caller.principal.user;
    let stored = users_repo::password_hash_of(&mut *state.db.acquire().await?, user).await?;
    let matches = password::verify(Password::new(body.password), stored.map(PasswordHashString))
        .await
        .map_err(AppError::internal)?;
    if !matches {
        return Err(AppError::new(
            ErrorCode::Unauthenticated,
            "the password is wrong",
        ));
    }
    let mut tx = db::begin_scoped(&state.db, caller.principal.tenant).await?;
    sqlx::query!(
        "UPDATE users SET totp_secret = NULL, totp_pending_secret = NULL, totp_last_counter = NULL WHERE id = $1",
        user.0
    )
    .execute(&mut *tx)
    .await?;
    audit::record(
        &mut tx,
        &caller.audit("user.totp_disable", format!("user:{user}")),
    )
    .await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}
