//! Accounts and memberships in the database.

use nimbus_api_types::identity::{TenantSummary, User};
use nimbus_api_types::ids::{TenantId, UserId};
use sqlx::{PgConnection, PgPool};

use super::Email;

/// What sign-in needs to know about an account.
pub struct LoginAccount {
    pub id: UserId,
    pub password_hash: Option<String>,
    pub disabled: bool,
    pub platform_admin: bool,
}

pub async fn find_for_login(
    pool: &PgPool,
    email: &Email,
) -> Result<Option<LoginAccount>, sqlx::Error> {
    let row = sqlx::query!(
        "SELECT id, password_hash, disabled_at IS NOT NULL AS \"disabled!\", platform_admin
         FROM users WHERE email = $1",
        email.as_str()
    )
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|row| LoginAccount {
        id: UserId(row.id),
        password_hash: row.password_hash,
        disabled: row.disabled,
        platform_admin: row.platform_admin,
    }))
}

pub async fn password_hash_of(
    conn: &mut PgConnection,
    user: UserId,
) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar!("SELECT password_hash FROM users WHERE id = $1", user.0)
        .fetch_one(conn)
        .await
}

/// A new account; `password_hash` is `None` for one that signs in through a provider only.
pub async fn create(
    conn: &mut PgConnection,
    email: &Email,
    display_name: &str,
    password_hash: Option<&str>,
    platform_admin: bool,
) -> Result<UserId, sqlx::Error> {
    let id = UserId(uuid::Uuid::new_v4());
    sqlx::query!(
        "INSERT INTO users (id, email, display_name, password_hash, platform_admin) VALUES ($1, $2, $3, $4, $5)",
        id.0,
        email.as_str(),
        display_name,
        password_hash,
        platform_admin,
    )
    .execute(conn)
    .await?;
    Ok(id)
}

pub async fn set_password(
    conn: &mut PgConnection,
    user: UserId,
    password_hash: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "UPDATE users SET password_hash = $2 WHERE id = $1",
        user.0,
        password_hash
    )
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn get(conn: &mut PgConnection, user: UserId) -> Result<User, sqlx::Error> {
    let row = sqlx::query!(
        r#"SELECT id, email, display_name, disabled_at IS NOT NULL AS "disabled!", created_at
           FROM users WHERE id = $1"#,
        user.0
    )
    .fetch_one(conn)
    .await?;
    Ok(User {
        id: UserId(row.id),
        email: row.email,
        display_name: row.display_name,
        disabled: row.disabled,
        created_at: row.created_at,
    })
}

pub async fn email_of(conn: &mut PgConnection, user: UserId) -> Result<String, sqlx::Error> {
    sqlx::query_scalar!("SELECT email FROM users WHERE id = $1", user.0)
        .fetch_one(conn)
        .await
}

/// Every tenant `user` is an enabled member of, by name.
pub async fn tenants_of(pool: &PgPool, user: UserId) -> Result<Vec<TenantSummary>, sqlx::Error> {
    let mut tx = pool.begin().await?;
    crate::db::set_user(&mut tx, user).await?;
    let rows = sqlx::query!(
        r#"SELECT t.id, t.slug, t.name, t.suspended_at IS NOT NULL AS "suspended!"
         FROM memberships m JOIN tenants t ON t.id = m.tenant_id
         WHERE m.user_id = $1 AND m.disabled_at IS NULL ORDER BY t.name, t.slug"#,
        user.0
    )
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(rows
        .into_iter()
        .map(|row| TenantSummary {
            id: TenantId(row.id),
            slug: row.slug,
            name: row.name,
            suspended: row.suspended,
        })
        .collect())
}

/// Adds `user` to `tenant` (no roles yet). A transaction scoped to `tenant`.
pub async fn add_member(
    conn: &mut PgConnection,
    tenant: TenantId,
    user: UserId,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "INSERT INTO memberships (tenant_id, user_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        tenant.0,
        user.0
    )
    .execute(conn)
    .await?;
    Ok(())
}
