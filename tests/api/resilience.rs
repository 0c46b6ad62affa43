//! PostgreSQL restarted under a running server: requests fail fast with 503 + Retry-After,
//! readiness follows the database, and the pool heals without a process restart.

use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{Request, StatusCode};
use axum::routing::get;
use nimbus::error::AppError;
use nimbus::state::AppState;
use nimbus_tests::{ThrowawayCluster, send, test_config};

async fn count_tenants(State(state): State<AppState>) -> Result<String, AppError> {
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM tenants")
        .fetch_one(&state.db)
        .await?;
    Ok(count.to_string())
}

fn get_request(path: &str) -> Request<Body> {
    Request::get(path).body(Body::empty()).unwrap()
}

#[tokio::test]
async fn a_database_restart_gives_fast_503s_then_recovers_without_a_server_restart() {
    // A cluster of its own: this test stops it.
    let throwaway = ThrowawayCluster::start().await;
    let cluster = &throwaway.cluster;
    let mut config = test_config(None);
    config.database.acquire_timeout = Duration::from_millis(500);
    nimbus_tests::migrate(&cluster.connect_options("nimbus")).await;
    let pool = nimbus::db::app_pool(cluster.connect_options("nimbus"), &config.database);
    let state = AppState::new(config, pool).unwrap();
    let probe = Router::new()
        .route("/api/test/tenants", get(count_tenants))
        .with_state(state.clone());
    let app = nimbus::router(state.clone())
        .unwrap()
        .merge(nimbus::http::apply_layers(
            probe,
            axum::Router::new(),
            &state,
        ));

    assert_eq!(
        send(&app, get_request("/api/test/tenants")).await.status,
        StatusCode::OK
    );
    assert_eq!(
        send(&app, get_request("/readyz")).await.status,
        StatusCode::OK
    );

    cluster.stop().await.unwrap();

    for _ in 0..3 {
        let started = Instant::now();
        let response = send(&app, get_request("/api/test/tenants")).await;
        let elapsed = started.elapsed();
        assert_eq!(
            response.status,
            StatusCode::SERVICE_UNAVAILABLE,
            "{}",
            response.text()
        );
        assert_eq!(response.error_code(), "service_unavailable");
        assert_eq!(response.header("retry-after"), Some("2"));
        assert!(
            elapsed < Duration::from_secs(2),
            "a request took {elapsed:?} to fail"
        );
    }
    let not_ready = send(&app, get_request("/readyz")).await;
    assert_eq!(not_ready.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(not_ready.json()["checks"]["database"], "fail");
    assert!(not_ready.header("retry-after").is_some());
    // The liveness probe does not depend on the database.
    assert_eq!(
        send(&app, get_request("/healthz")).await.status,
        StatusCode::OK
    );

    cluster.start().await.unwrap();

    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let ready = send(&app, get_request("/readyz")).await.status == StatusCode::OK;
        let served = send(&app, get_request("/api/test/tenants")).await;
        if ready && served.status == StatusCode::OK {
            assert_eq!(served.text(), "0");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the server did not recover: {}",
            served.text()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    state.db.close().await;
    cluster.stop().await.unwrap();
}
