//! Row-level security, the second wall of tenant isolation: it holds even when a query forgets
//! its tenant filter (these tests bypass the repository layer on purpose).

use nimbus::db::begin_for_tenant;
use nimbus_api_types::ids::TenantId;
use nimbus_tests::{create_tenant, postgres};
use sqlx::PgPool;
use uuid::Uuid;

async fn create_project(pool: &PgPool, tenant: TenantId, name: &str) -> Uuid {
    let id = Uuid::new_v4();
    let mut tx = begin_for_tenant(pool, tenant).await.unwrap();
    sqlx::query("INSERT INTO projects (id, tenant_id, name) VALUES ($1, $2, $3)")
        .bind(id)
        .bind(tenant.0)
        .bind(name)
        .execute(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    id
}

/// Two tenants: A with two projects, B with one.
async fn two_tenants(pool: &PgPool) -> (TenantId, TenantId) {
    let a = create_tenant(pool, "tenant-a").await;
    let b = create_tenant(pool, "tenant-b").await;
    create_project(pool, a, "a-one").await;
    create_project(pool, a, "a-two").await;
    create_project(pool, b, "b-one").await;
    (a, b)
}

/// Deliberately unfiltered: what a repository bug would run.
const ALL_PROJECTS: &str = "SELECT name FROM projects ORDER BY name";

/// The project names the unfiltered query returns in a transaction of `tenant`.
async fn names_seen_by(pool: &PgPool, tenant: TenantId) -> Vec<String> {
    let mut tx = begin_for_tenant(pool, tenant).await.unwrap();
    let names = sqlx::query_scalar(ALL_PROJECTS)
        .fetch_all(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    names
}

#[tokio::test]
async fn a_query_that_forgets_its_tenant_filter_sees_only_the_current_tenant() {
    let db = postgres().await.fresh_database().await;
    let (a, b) = two_tenants(&db.pool).await;

    assert_eq!(names_seen_by(&db.pool, a).await, ["a-one", "a-two"]);

    assert_eq!(names_seen_by(&db.pool, b).await, ["b-one"]);

    // No tenant at all: nothing, not everything.
    let names: Vec<String> = sqlx::query_scalar(ALL_PROJECTS)
        .fetch_all(&db.pool)
        .await
        .unwrap();
    assert!(names.is_empty(), "{names:?}");
}

#[tokio::test]
async fn one_pooled_connection_reused_across_two_tenants_leaks_nothing() {
    let db = postgres().await.fresh_database().await;
    let (a, b) = two_tenants(&db.pool).await;
    let mut config = nimbus::config::Config::default().database;
    config.max_connections = 1;
    let pool = nimbus::db::app_pool(db.options.clone(), &config);

    let mut tx = begin_for_tenant(&pool, a).await.unwrap();
    let backend: i32 = sqlx::query_scalar("SELECT pg_backend_pid()")
        .fetch_one(&mut *tx)
        .await
        .unwrap();
    assert_eq!(
        sqlx::query_scalar::<_, String>(ALL_PROJECTS)
            .fetch_all(&mut *tx)
            .await
            .unwrap()
            .len(),
        2
    );
    tx.commit().await.unwrap();

    // The same connection afterwards carries no tenant: the setting reads back empty.
    let mut conn = pool.acquire().await.unwrap();
    let same: i32 = sqlx::query_scalar("SELECT pg_backend_pid()")
        .fetch_one(&mut *conn)
        .await
        .unwrap();
    assert_eq!(same, backend, "the pool of one reused its connection");
    let setting: Option<String> =
        sqlx::query_scalar("SELECT current_setting('app.tenant_id', true)")
            .fetch_one(&mut *conn)
            .await
            .unwrap();
    assert_eq!(setting.as_deref().unwrap_or_default(), "");
    assert!(
        sqlx::query_scalar::<_, String>(ALL_PROJECTS)
            .fetch_all(&mut *conn)
            .await
            .unwrap()
            .is_empty()
    );
    drop(conn);

    let mut tx = begin_for_tenant(&pool, b).await.unwrap();
    let names: Vec<String> = sqlx::query_scalar(ALL_PROJECTS)
        .fetch_all(&mut *tx)
        .await
        .unwrap();
    assert_eq!(names, ["b-one"]);
}

#[tokio::test]
async fn a_row_for_another_tenant_cannot_be_written_or_changed() {
    let db = postgres().await.fresh_database().await;
    let (a, b) = two_tenants(&db.pool).await;
    let mut tx = begin_for_tenant(&db.pool, a).await.unwrap();
    let err = sqlx::query("INSERT INTO projects (id, tenant_id, name) VALUES ($1, $2, 'smuggled')")
        .bind(Uuid::new_v4())
        .bind(b.0)
        .execute(&mut *tx)
        .await
        .unwrap_err();
    assert_eq!(
        err.as_database_error().and_then(|e| e.code()).as_deref(),
        Some("42501"),
        "{err}"
    );
    drop(tx);

    let mut tx = begin_for_tenant(&db.pool, a).await.unwrap();
    let changed = sqlx::query("UPDATE projects SET name = 'renamed' WHERE name = 'b-one'")
        .execute(&mut *tx)
        .await
        .unwrap();
    assert_eq!(changed.rows_affected(), 0);
    let deleted = sqlx::query("DELETE FROM projects WHERE tenant_id = $1")
        .bind(b.0)
        .execute(&mut *tx)
        .await
        .unwrap();
    assert_eq!(deleted.rows_affected(), 0);
    tx.commit().await.unwrap();

    assert_eq!(
        names_seen_by(&db.pool, b).await,
        ["b-one"],
        "B's project is unchanged"
    );
}

#[tokio::test]
async fn the_application_role_passes_the_start_up_self_check() {
    let db = postgres().await.fresh_database().await;
    nimbus::db::check_app_role(&db.pool).await.unwrap();
    let role: String = sqlx::query_scalar("SELECT current_user::text")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(role, nimbus::db::APP_ROLE);
}

#[tokio::test]
async fn a_pool_that_runs_as_the_table_owner_is_refused_at_start() {
    let db = postgres().await.fresh_database().await;
    let owner_pool = PgPool::connect_with(db.options.clone()).await.unwrap();
    let err = nimbus::db::check_app_role(&owner_pool).await.unwrap_err();
    assert!(err.is_configuration());
    assert!(err.to_string().contains("row-level security"), "{err}");
}

#[tokio::test]
async fn every_table_with_a_tenant_id_has_forced_row_level_security() {
    let db = postgres().await.fresh_database().await;
    let owner_pool = PgPool::connect_with(db.options.clone()).await.unwrap();
    let tables: Vec<(String, bool, bool)> = sqlx::query_as(
        "SELECT c.relname::text, c.relrowsecurity, c.relforcerowsecurity
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')
           AND EXISTS (SELECT 1 FROM pg_attribute a
                       WHERE a.attrelid = c.oid AND a.attname = 'tenant_id' AND NOT a.attisdropped)",
    )
    .fetch_all(&owner_pool)
    .await
    .unwrap();
    assert!(!tables.is_empty(), "no tenant-owned tables found");
    let unprotected: Vec<_> = tables
        .iter()
        .filter(|(_, enabled, forced)| !(*enabled && *forced))
        .collect();
    assert!(
        unprotected.is_empty(),
        "tables without ENABLE + FORCE row-level security: {unprotected:?}"
    );
    let without_policy: Vec<String> = sqlx::query_scalar(
        "SELECT c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = 'public' AND c.relrowsecurity
           AND NOT EXISTS (SELECT 1 FROM pg_policy p WHERE p.polrelid = c.oid)",
    )
    .fetch_all(&owner_pool)
    .await
    .unwrap();
    assert!(without_policy.is_empty(), "{without_policy:?}");
}
