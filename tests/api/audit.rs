//! The audit log: written in the transaction of the change, append-only at the database
//! level, isolated per tenant.

use nimbus::audit::{Entry, Outcome, record};
use nimbus::db::begin_for_tenant;
use nimbus_api_types::ids::TenantId;
use nimbus_tests::{create_tenant, postgres};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

fn entry(tenant: Option<TenantId>, action: &'static str, target: &str) -> Entry {
    Entry {
        tenant,
        actor: "cli".to_owned(),
        action,
        target: target.to_owned(),
        outcome: Outcome::Success,
        source_ip: Some("127.0.0.1".parse().unwrap()),
        request_id: Some("req-1".to_owned()),
        details: serde_json::json!({"name": "payments"}),
    }
}

/// A mutation as every repository function will write it: the change and its audit row in one
/// transaction, the audit error propagated.
async fn create_project_audited(
    pool: &PgPool,
    tenant: TenantId,
    name: &str,
    action: &'static str,
) -> Result<Uuid, sqlx::Error> {
    let id = Uuid::new_v4();
    let mut tx = begin_for_tenant(pool, tenant).await?;
    sqlx::query("INSERT INTO projects (id, tenant_id, name) VALUES ($1, $2, $3)")
        .bind(id)
        .bind(tenant.0)
        .bind(name)
        .execute(&mut *tx)
        .await?;
    record(
        &mut tx,
        &entry(Some(tenant), action, &format!("project:{id}")),
    )
    .await?;
    tx.commit().await?;
    Ok(id)
}

async fn count(conn: &mut PgConnection, table: &str) -> i64 {
    sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT count(*) FROM {table}")))
        .fetch_one(conn)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_change_and_its_audit_row_commit_together() {
    let db = postgres().await.fresh_database().await;
    let tenant = create_tenant(&db.pool, "acme").await;
    let project = create_project_audited(&db.pool, tenant, "payments", "project.create")
        .await
        .unwrap();

    let mut tx = begin_for_tenant(&db.pool, tenant).await.unwrap();
    let (actor, action, target, outcome, ip, request_id): (
        String,
        String,
        String,
        String,
        String,
        String,
    ) = sqlx::query_as(
        "SELECT actor, action, target, outcome, host(source_ip), request_id FROM audit_log",
    )
    .fetch_one(&mut *tx)
    .await
    .unwrap();
    assert_eq!(
        (
            actor.as_str(),
            action.as_str(),
            outcome.as_str(),
            ip.as_str(),
            request_id.as_str()
        ),
        ("cli", "project.create", "success", "127.0.0.1", "req-1")
    );
    assert_eq!(target, format!("project:{project}"));
}

#[tokio::test]
async fn a_failed_audit_insert_rolls_the_change_back() {
    let db = postgres().await.fresh_database().await;
    let tenant = create_tenant(&db.pool, "acme").await;
    // An action name the audit log refuses makes the audit insert fail.
    let result = create_project_audited(&db.pool, tenant, "payments", "Not A Valid Action").await;
    assert!(result.is_err());
    let mut tx = begin_for_tenant(&db.pool, tenant).await.unwrap();
    assert_eq!(
        count(&mut tx, "projects").await,
        0,
        "the change was rolled back"
    );
    assert_eq!(count(&mut tx, "audit_log").await, 0);
}

#[tokio::test]
async fn the_audit_log_is_append_only_even_for_its_owner() {
    let db = postgres().await.fresh_database().await;
    let tenant = create_tenant(&db.pool, "acme").await;
    create_project_audited(&db.pool, tenant, "payments", "project.create")
        .await
        .unwrap();

    let owner = PgPool::connect_with(db.options.clone()).await.unwrap();
    for statement in [
        "UPDATE audit_log SET outcome = 'failure'",
        "DELETE FROM audit_log",
        "TRUNCATE audit_log",
    ] {
        let err = sqlx::query(statement).execute(&owner).await.unwrap_err();
        let code = err
            .as_database_error()
            .and_then(|e| e.code())
            .map(|c| c.into_owned());
        assert_eq!(code.as_deref(), Some("42501"), "{statement}: {err}");
    }
    let mut tx = begin_for_tenant(&db.pool, tenant).await.unwrap();
    let err = sqlx::query("UPDATE audit_log SET outcome = 'failure'")
        .execute(&mut *tx)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("permission denied"), "{err}");
    drop(tx);
    let mut tx = begin_for_tenant(&db.pool, tenant).await.unwrap();
    assert_eq!(count(&mut tx, "audit_log").await, 1, "the entry is intact");
}

#[tokio::test]
async fn each_tenant_sees_only_its_own_audit_rows() {
    let db = postgres().await.fresh_database().await;
    let a = create_tenant(&db.pool, "tenant-a").await;
    let b = create_tenant(&db.pool, "tenant-b").await;
    create_project_audited(&db.pool, a, "a-project", "project.create")
        .await
        .unwrap();
    create_project_audited(&db.pool, b, "b-project", "project.create")
        .await
        .unwrap();

    // A platform-level event is written outside any tenant transaction.
    let mut conn = db.pool.acquire().await.unwrap();
    record(
        &mut conn,
        &entry(None, "tenant.create", &format!("tenant:{}", a.0)),
    )
    .await
    .unwrap();
    drop(conn);

    let mut tx = begin_for_tenant(&db.pool, a).await.unwrap();
    let targets: Vec<String> = sqlx::query_scalar("SELECT target FROM audit_log")
        .fetch_all(&mut *tx)
        .await
        .unwrap();
    assert_eq!(targets.len(), 1, "{targets:?}");
    assert!(targets[0].starts_with("project:"));

    // Writing into another tenant's trail is refused.
    let err = record(&mut tx, &entry(Some(b), "project.delete", "project:x"))
        .await
        .unwrap_err();
    let code = err
        .as_database_error()
        .and_then(|e| e.code())
        .map(|c| c.into_owned());
    assert_eq!(code.as_deref(), Some("42501"), "{err}");
}
