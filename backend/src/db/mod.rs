//! The database: where it is (external `DATABASE_URL` or the embedded cluster), the pool,
//! migrations, and how connection failures are recognised.

pub mod embedded;

use std::time::Duration;

use sqlx::PgPool;
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

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

/// An open database: the pool and, when embedded, the cluster behind it.
pub struct Database {
    pub pool: PgPool,
    /// A human description for logs: the embedded data directory or the redacted URL.
    pub description: String,
    cluster: Option<(EmbeddedCluster, bool)>,
}

impl Database {
    /// Opens the configured database, starting the embedded cluster when no URL is set.
    pub async fn open(config: &Config, ownership: ClusterOwnership) -> Result<Self, DbError> {
        match &config.database_url {
            Some(url) => {
                let options = url.connect_options()?;
                let pool = connect(options, &config.database).await.map_err(|source| {
                    DbError::Unreachable {
                        target: url.redacted(),
                        source,
                    }
                })?;
                Ok(Self {
                    pool,
                    description: url.redacted(),
                    cluster: None,
                })
            }
            None => {
                let cluster = EmbeddedCluster::locate(&config.data_dir)?;
                let started = cluster.ensure_running().await?;
                let stop_on_close = ownership == ClusterOwnership::Own || started == Started::Now;
                let description =
                    format!("embedded PostgreSQL in {}", cluster.data_dir().display());
                let options = cluster.connect_options(EMBEDDED_DATABASE);
                match connect(options, &config.database).await {
                    Ok(pool) => Ok(Self {
                        pool,
                        description,
                        cluster: Some((cluster, stop_on_close)),
                    }),
                    Err(source) => {
                        if stop_on_close {
                            cluster.stop().await.ok();
                        }
                        Err(DbError::Unreachable {
                            target: description,
                            source,
                        })
                    }
                }
            }
        }
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

/// Builds the pool with the timeouts every request relies on, and checks it can connect.
pub async fn connect(
    options: PgConnectOptions,
    config: &DatabaseConfig,
) -> Result<PgPool, sqlx::Error> {
    let options = options.application_name("nimbus").options([
        ("statement_timeout", millis(config.statement_timeout)),
        (
            "idle_in_transaction_session_timeout",
            millis(config.idle_in_transaction_timeout),
        ),
    ]);
    PgPoolOptions::new()
        .max_connections(config.max_connections)
        .acquire_timeout(config.acquire_timeout)
        // A connection that survived a server restart is checked before use, so the pool heals
        // by itself once the database is back.
        .test_before_acquire(true)
        .idle_timeout(Duration::from_secs(300))
        .connect_with(options)
        .await
}

fn millis(duration: Duration) -> String {
    format!("{}ms", duration.as_millis())
}

/// Applies pending migrations.
pub async fn migrate(pool: &PgPool) -> Result<(), sqlx::migrate::MigrateError> {
    MIGRATOR.run(pool).await
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
