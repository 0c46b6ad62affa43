//! Single-use links that are not invitations: password resets and the first administrator's
//! setup. Stored as hashes, expiring, consumed under a row lock so a link works exactly once.

use std::time::Duration;

use nimbus_api_types::ids::UserId;
use sqlx::{PgConnection, PgPool};

use crate::auth::secret::{NewSecret, RandomUnavailable, SecretHash, SecretKind};

#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    #[error(transparent)]
    Random(#[from] RandomUnavailable),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// A password-reset link's secret for `user`; earlier unused reset links of the user stop working.
pub async fn create_reset(
    conn: &mut PgConnection,
    user: UserId,
    lifetime: Duration,
) -> Result<NewSecret, LinkError> {
    sqlx::query!(
        "UPDATE one_time_links SET used_at = now() WHERE purpose = 'password_reset' AND user_id = $1 AND used_at IS NULL",
        user.0
    )
    .execute(&mut *conn)
    .await?;
    insert(conn, "password_reset", Some(user), lifetime).await
}

/// A setup link's secret, when no platform administrator exists yet (`None` otherwise).
/// Earlier setup links stop working: only the newest printed one is valid.
pub async fn create_setup_if_needed(
    pool: &PgPool,
    lifetime: Duration,
) -> Result<Option<NewSecret>, LinkError> {
    let mut tx = pool.begin().await?;
    // One server at a time decides, so two replicas starting together print one valid link each
    // in turn rather than racing.
    sqlx::query!("SELECT pg_advisory_xact_lock(7243350001)")
        .execute(&mut *tx)
        .await?;
    let has_admin = sqlx::query_scalar!(
        r#"SELECT EXISTS (SELECT 1 FROM users WHERE platform_admin) AS "exists!""#
    )
    .fetch_one(&mut *tx)
    .await?;
    if has_admin {
        return Ok(None);
    }
    sqlx::query!("UPDATE one_time_links SET used_at = now() WHERE purpose = 'platform_setup' AND used_at IS NULL")
        .execute(&mut *tx)
        .await?;
    let secret = insert(&mut tx, "platform_setup", None, lifetime).await?;
    tx.commit().await?;
    Ok(Some(secret))
}

async fn insert(
    conn: &mut PgConnection,
    purpose: &str,
    user: Option<UserId>,
    lifetime: Duration,
) -> Result<NewSecret, LinkError> {
    let secret = NewSecret::generate(SecretKind::Link)?;
    sqlx::query!(
        "INSERT INTO one_time_links (id, purpose, user_id, secret_hash, expires_at)
         VALUES ($1, $2, $3, $4, now() + make_interval(secs => $5))",
        uuid::Uuid::new_v4(),
        purpose,
        user.map(|u| u.0),
        secret.hash.as_bytes(),
        lifetime.as_secs_f64(),
    )
    .execute(conn)
    .await?;
    Ok(secret)
}

/// Marks a live link of `purpose` used; its user when it was valid.
async fn consume(
    conn: &mut PgConnection,
    purpose: &str,
    hash: &SecretHash,
) -> Result<Option<Option<uuid::Uuid>>, sqlx::Error> {
    let row = sqlx::query!(
        "UPDATE one_time_links SET used_at = now()
         WHERE secret_hash = $1 AND purpose = $2 AND used_at IS NULL AND expires_at > now()
         RETURNING user_id",
        hash.as_bytes(),
        purpose
    )
    .fetch_optional(conn)
    .await?;
    Ok(row.map(|row| row.user_id))
}

/// Uses a setup link; whether it was valid. Refused once a platform administrator exists.
pub async fn consume_setup(
    conn: &mut PgConnection,
    hash: &SecretHash,
) -> Result<bool, sqlx::Error> {
    sqlx::query!("SELECT pg_advisory_xact_lock(7243350001)")
        .execute(&mut *conn)
        .await?;
    let has_admin = sqlx::query_scalar!(
        r#"SELECT EXISTS (SELECT 1 FROM users WHERE platform_admin) AS "exists!""#
    )
    .fetch_one(&mut *conn)
    .await?;
    Ok(!has_admin && consume(conn, "platform_setup", hash).await?.is_some())
}

/// Uses a password-reset link; the account it resets when it was valid.
pub async fn consume_reset(
    conn: &mut PgConnection,
    hash: &SecretHash,
) -> Result<Option<UserId>, sqlx::Error> {
    Ok(consume(conn, "password_reset", hash)
        .await?
        .flatten()
        .map(UserId))
}
