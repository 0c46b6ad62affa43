//! The database: where it is (external `DATABASE_URL` or the embedded cluster), the pool,
//! migrations, and how connection failures are recognised.

pub mod embedded;

use std::time::Duration;

use nimbus_api_types::ids::{TenantId, UserId};
use sqlx::ConnectOptions;
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Connection, PgConnection, PgPool, Postgres, Transaction};

use crate::config::{Config, ConfigError, DatabaseConfig};
use embedded::{EmbeddedCluster, EmbeddedError, Started};

/// The schema, embedded in the binary from `migrations/`.
pub static MIGRATOR: Migrator = sqlx::migrate!("../migrations");

/// The database the embedded cluster serves Nimbus from.
pub const EMBEDDED_DATABASE: &str = "nimbus";

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Embedded(#[from] EmbeddedError),
    #[error("cannot connect to the database at {target}: {source}")]
    Unreachable { target: String, source: sqlx::Error },
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("unsafe database role: {0}")]
    UnsafeAppRole(String),
}

impl DbError {
    /// Whether the operator must change the configuration or machine (exit code 2) rather than
    /// retry (exit code 1).
    #[must_use]
    pub fn is_configuration(&self) -> bool {
        match self {
            Self::Config(_) => true,
            Self::Embedded(err) => err.is_configuration(),
            Self::Unreachable { .. } | Self::Migrate(_) => false,
            Self::UnsafeAppRole(_) => true,
        }
    }
}

/// Who stops the embedded cluster when the database is closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClusterOwnership {
    /// The server owns the cluster for its lifetime: stop it on close, even when it found the
    /// cluster already running (left over from a killed process).
    Own,
    /// A one-off command: stop the cluster only if this command started it, so a running
    /// server keeps its database.
    Borrow,
}

/// An open database: the owner's connection options (for migrations), the application pool
/// and, when embedded, the cluster behind it.
pub struct Database {
    /// Connections of the application role: row-level security applies to every query.
    pub pool: PgPool,
    /// A human description for logs: the embedded data directory or the redacted URL.
    pub description: String,
    owner: PgConnectOptions,
    cluster: Option<(EmbeddedCluster, bool)>,
}

impl Database {
    /// Opens the configured database, starting the embedded cluster when no URL is set, and
    /// checks that it answers. The pool connects lazily: its role exists once migrations ran.
    pub async fn open(config: &Config, ownership: ClusterOwnership) -> Result<Self, DbError> {
        let (owner, description, cluster) = match &config.database_url {
            Some(url) => (url.connect_options()?, url.redacted(), None),
            None => {
                let cluster = EmbeddedCluster::locate(&config.data_dir)?;
                let started = cluster.ensure_running().await?;
                let stop_on_close = ownership == ClusterOwnership::Own || started == Started::Now;
                let description =
                    format!("embedded PostgreSQL in {}", cluster.data_dir().display());
                (
                    cluster.connect_options(EMBEDDED_DATABASE),
                    description,
                    Some((cluster, stop_on_close)),
                )
            }
        };
        let database = Self {
            pool: app_pool(owner.clone(), &config.database),
            description,
            owner,
            cluster,
        };
        if let Err(source) = database.owner_connection().await {
            let target = database.description.clone();
            database.close().await;
            return Err(DbError::Unreachable { target, source });
        }
        Ok(database)
    }

    async fn owner_connection(&self) -> Result<PgConnection, sqlx::Error> {
        PgConnection::connect_with(&self.owner).await
    }

    /// Applies pending migrations as the owner, then checks the application role.
    pub async fn migrate(&self) -> Result<(), DbError> {
        let mut conn = self
            .owner_connection()
            .await
            .map_err(|source| DbError::Unreachable {
                target: self.description.clone(),
                source,
            })?;
        let migrated = MIGRATOR.run(&mut conn).await;
        conn.close().await.ok();
        migrated?;
        check_app_role(&self.pool).await
    }

    /// Closes the pool, then stops the embedded cluster if this process owns it.
    pub async fn close(self) {
        self.pool.close().await;
        if let Some((cluster, true)) = self.cluster
            && let Err(err) = cluster.stop().await
        {
            tracing::error!(error = %err, "could not stop the embedded PostgreSQL");
        }
    }
}

/// The role every application query runs as: it owns no table and cannot bypass row-level
/// security (created by the migrations; see docs/decisions/0004-row-level-security.md).
pub const APP_ROLE: &str = "nimbus_app";

/// The application pool over the owner's connection options: each new connection switches to
/// [`APP_ROLE`] and carries the server-side timeouts every request relies on. Connects lazily.
#[must_use]
pub fn app_pool(owner: PgConnectOptions, config: &DatabaseConfig) -> PgPool {
    let options = owner
        .application_name("nimbus")
        .options([
            ("statement_timeout", millis(config.statement_timeout)),
            (
                "idle_in_transaction_session_timeout",
                millis(config.idle_in_transaction_timeout),
            ),
            // List queries take optional filters as `$n IS NULL OR …`: a cached generic plan
            // cannot use the index that fits the filters actually given (a million-workload
            // list by namespace took seconds), so each execution is planned with its values.
            ("plan_cache_mode", "force_custom_plan".to_owned()),
        ])
        // Bill imports run statements of seconds by design: slow statements are information,
        // `statement_timeout` is the guard.
        .log_slow_statements(log::LevelFilter::Info, Duration::from_secs(1));
    PgPoolOptions::new()
        .max_connections(config.max_connections)
        .acquire_timeout(config.acquire_timeout)
        // No ping before each use: it would cost a round trip on every request. A connection
        // broken by a database restart fails its next query (503 + Retry-After) and is dropped,
        // so the pool heals by itself once the database is back.
        .test_before_acquire(false)
        .idle_timeout(Duration::from_secs(300))
        .after_connect(|conn, _meta| {
            Box::pin(async move {
                sqlx::raw_sql("SET ROLE nimbus_app").execute(conn).await?;
                Ok(())
            })
        })
        .connect_lazy_with(options)
}

fn millis(duration: Duration) -> String {
    format!("{}ms", duration.as_millis())
}

/// The start-up self-check of the second wall: the pool's role must be the application role,
/// not a superuser, without `BYPASSRLS`, and owner of no table (owners skip RLS unless forced).
pub async fn check_app_role(pool: &PgPool) -> Result<(), DbError> {
    let role = sqlx::query!(
        r#"SELECT current_user AS "name!", r.rolsuper AS "superuser!", r.rolbypassrls AS "bypass_rls!",
                  (SELECT count(*) FROM pg_class c WHERE c.relowner = r.oid) AS "owned!"
           FROM pg_roles r WHERE r.rolname = current_user"#
    )
    .fetch_one(pool)
    .await
    .map_err(|source| DbError::Unreachable { target: "the application pool".to_owned(), source })?;
    if role.name != APP_ROLE || role.superuser || role.bypass_rls || role.owned > 0 {
        return Err(DbError::UnsafeAppRole(format!(
            "queries run as `{}` (superuser: {}, bypassrls: {}, owns {} relations); expected `{APP_ROLE}` \
             without privileges that skip row-level security",
            role.name, role.superuser, role.bypass_rls, role.owned
        )));
    }
    Ok(())
}

/// Opens a transaction scoped to one tenant: row-level security shows and accepts only that
/// tenant's rows. `set_config(…, true)` is transaction-local, so a pooled connection never
/// carries a tenant into its next use. Every repository function goes through this.
pub async fn begin_for_tenant(
    pool: &PgPool,
    tenant: TenantId,
) -> Result<Transaction<'static, Postgres>, sqlx::Error> {
    // One round trip for BEGIN and the setting: this runs on every request. The value is a
    // formatted `Uuid` (hex digits and dashes only), so inlining it cannot inject SQL.
    let begin = format!(
        "BEGIN; SELECT set_config('app.tenant_id', '{}', true)",
        tenant.0.hyphenated()
    );
    pool.begin_with(sqlx::AssertSqlSafe(begin)).await
}

/// `text` with the `LIKE` wildcards and the escape character escaped, to match literally.
#[must_use]
pub fn like_escape(text: &str) -> String {
    text.replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}

/// An `ILIKE` pattern matching values that contain `text`.
#[must_use]
pub fn contains_pattern(text: &str) -> String {
    format!("%{}%", like_escape(text))
}

/// Ends a transaction that only read. Dropping it queues its `ROLLBACK`, which goes out with the
/// pool's check of the returned connection in one round trip, where `COMMIT` costs one of its own
/// (a quarter of a list request's round trips; `scripts/bench-api` measures the difference).
pub fn finish_read(tx: Transaction<'_, Postgres>) {
    drop(tx);
}

/// A transaction scoped to `tenant` when there is one; otherwise outside every tenant (where only
/// platform rows, such as platform audit entries, can be written).
pub async fn begin_scoped(
    pool: &PgPool,
    tenant: Option<TenantId>,
) -> Result<Transaction<'static, Postgres>, sqlx::Error> {
    match tenant {
        Some(tenant) => begin_for_tenant(pool, tenant).await,
        None => pool.begin().await,
    }
}

/// Scopes an open transaction to `tenant` (for code that learns the tenant mid-transaction,
/// such as an API token lookup).
pub async fn set_tenant(conn: &mut PgConnection, tenant: TenantId) -> Result<(), sqlx::Error> {
    sqlx::query_scalar!(
        r#"SELECT set_config('app.tenant_id', $1, true) AS "tenant!""#,
        tenant.to_string()
    )
    .fetch_one(conn)
    .await?;
    Ok(())
}

/// Lets an open transaction see the rows whose secret the caller presents (`hash_hex`, the
/// lower-case hex SHA-256 the policies compare) before any tenant is known.
pub async fn present_credential(
    conn: &mut PgConnection,
    hash_hex: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query_scalar!(
        r#"SELECT set_config('app.credential_hash', $1, true) AS "set!""#,
        hash_hex
    )
    .fetch_one(conn)
    .await?;
    Ok(())
}

/// Lets an open transaction see `user`'s own memberships in every tenant (to list or pick one).
pub async fn set_user(conn: &mut PgConnection, user: UserId) -> Result<(), sqlx::Error> {
    sqlx::query_scalar!(
        r#"SELECT set_config('app.user_id', $1, true) AS "user!""#,
        user.to_string()
    )
    .fetch_one(conn)
    .await?;
    Ok(())
}

/// The newest migration version this binary knows.
#[must_use]
pub fn latest_known_migration() -> i64 {
    MIGRATOR
        .iter()
        .map(|migration| migration.version)
        .max()
        .unwrap_or(0)
}

/// Whether every migration this binary knows has been applied successfully.
pub async fn is_migrated(pool: &PgPool) -> Result<bool, sqlx::Error> {
    let applied = sqlx::query_scalar!(
        r#"SELECT max(version) AS "version" FROM _sqlx_migrations WHERE success"#
    )
    .fetch_one(pool)
    .await?;
    Ok(applied == Some(latest_known_migration()))
}

/// Whether an error means the database cannot be reached (as opposed to a bad query): these
/// become 503 with `Retry-After`, and the pool replaces the connection.
#[must_use]
pub fn is_unavailable(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => true,
        sqlx::Error::Tls(_) | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db_err) => db_err.code().is_some_and(|code| {
            // 08xxx connection exceptions, 57P01..57P03 shutdown / cannot connect now,
            // 25006 read-only transaction (a demoted primary during failover).
            code.starts_with("08") || matches!(code.as_ref(), "57P01" | "57P02" | "57P03" | "25006")
        }),
        _ => false,
    }
}
