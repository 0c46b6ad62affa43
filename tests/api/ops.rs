use axum::http::StatusCode;
use nimbus_tests::{TestApp, postgres, test_config};

#[tokio::test]
async fn healthz_reports_the_process_alive_with_its_version() {
    let app = TestApp::new().await;
    let response = app.get("/healthz").await;
    assert_eq!(response.status, StatusCode::OK);
    assert_eq!(response.json()["status"], "ok");
    assert_eq!(response.json()["version"], env!("CARGO_PKG_VERSION"));
}

#[tokio::test]
async fn readyz_is_ready_on_a_migrated_database() {
    let app = TestApp::new().await;
    let response = app.get("/readyz").await;
    assert_eq!(response.status, StatusCode::OK);
    assert_eq!(
        response.json(),
        serde_json::json!({"ready": true, "checks": {
            "database": "pass", "migrations": "pass", "accepting_traffic": "pass"}})
    );
}

#[tokio::test]
async fn readyz_is_not_ready_before_migrations_ran() {
    let db = postgres().await.empty_database().await;
    let state = nimbus::state::AppState::new(test_config(None), db.pool.clone()).unwrap();
    let router = nimbus::router(state).unwrap();
    let response = nimbus_tests::send(
        &router,
        axum::http::Request::get("/readyz")
            .body(axum::body::Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(response.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(response.header("retry-after"), Some("1"));
    assert_eq!(response.json()["ready"], false);
}

#[tokio::test]
async fn readyz_is_not_ready_once_draining_begins() {
    let app = TestApp::new().await;
    app.state.lifecycle.begin_draining();
    let response = app.get("/readyz").await;
    assert_eq!(response.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(response.json()["checks"]["accepting_traffic"], "fail");
    assert_eq!(response.json()["checks"]["database"], "pass");
}

#[tokio::test]
async fn metrics_count_requests_by_route_template_and_report_the_pool() {
    let app = TestApp::new().await;
    app.get("/healthz").await;
    app.get("/api/v1/no-such-thing").await;
    let response = app.get("/metrics").await;
    assert_eq!(response.status, StatusCode::OK);
    let text = response.text();
    assert!(
        text.contains(
            r#"nimbus_http_requests_total{method="GET",route="/healthz",status="200"} 1"#
        ),
        "{text}"
    );
    // Unknown paths are counted under one label, so scanners cannot explode cardinality.
    assert!(
        text.contains(r#"route="unmatched",status="404"} 1"#),
        "{text}"
    );
    assert!(!text.contains("no-such-thing"));
    let max = nimbus::config::Config::default().database.max_connections;
    assert!(
        text.contains(&format!("nimbus_db_pool_max {max}")),
        "{text}"
    );
    assert!(text.contains("nimbus_db_pool_connections"), "{text}");
}

#[tokio::test]
async fn pooled_connections_carry_the_server_side_timeouts() {
    let app = TestApp::new().await;
    let config = &app.state.config.database;
    let mut conn = app.db.pool.acquire().await.unwrap();
    let statement: String = sqlx::query_scalar("SHOW statement_timeout")
        .fetch_one(&mut *conn)
        .await
        .unwrap();
    let idle: String = sqlx::query_scalar("SHOW idle_in_transaction_session_timeout")
        .fetch_one(&mut *conn)
        .await
        .unwrap();
    assert_eq!(
        statement,
        format!("{}s", config.statement_timeout.as_secs())
    );
    assert_eq!(
        idle,
        format!("{}s", config.idle_in_transaction_timeout.as_secs())
    );
}
