//! Graceful shutdown: readiness turns false first, in-flight requests finish within the drain
//! deadline, and the process does not wait past it.

use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::get;
use nimbus::state::AppState;
use nimbus_tests::{postgres, status_of, test_config};
use tokio::sync::oneshot;

struct RunningServer {
    address: std::net::SocketAddr,
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

async fn start_server(grace: Duration, drain: Duration, slow_for: Duration) -> RunningServer {
    let mut config = test_config(None);
    config.http.readiness_grace = grace;
    config.http.drain_timeout = drain;
    let http = config.http.clone();
    let db = postgres().await.fresh_database().await;
    let state = AppState::new(config, db.pool.clone()).unwrap();
    let slow = Router::new().route(
        "/api/test/slow",
        get(move || async move {
            tokio::time::sleep(slow_for).await;
            "done"
        }),
    );
    let app = nimbus::router(state.clone()).unwrap().merge(slow);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let lifecycle = state.lifecycle.clone();
    let task = tokio::spawn(async move {
        nimbus::server::serve(listener, app, lifecycle, &http, async {
            stopped.await.ok();
        })
        .await
    });
    RunningServer {
        address,
        stop,
        task,
    }
}

#[tokio::test]
async fn shutdown_turns_readiness_off_first_then_lets_in_flight_requests_finish() {
    let server = start_server(
        Duration::from_millis(800),
        Duration::from_secs(10),
        Duration::from_millis(1500),
    )
    .await;
    let base = format!("http://{}", server.address);
    assert_eq!(status_of(&format!("{base}/readyz")).await, 200);

    let in_flight = tokio::spawn(reqwest::get(format!("{base}/api/test/slow")));
    tokio::time::sleep(Duration::from_millis(200)).await;
    server.stop.send(()).unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;

    // Within the readiness grace the listener is still open and says "not ready".
    let readiness = reqwest::Client::new()
        .get(format!("{base}/readyz"))
        .send()
        .await
        .unwrap();
    assert_eq!(readiness.status(), 503);
    let body: serde_json::Value = readiness.json().await.unwrap();
    assert_eq!(body["checks"]["accepting_traffic"], "fail");

    let response = in_flight
        .await
        .unwrap()
        .expect("the in-flight request completes");
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.unwrap(), "done");

    let finished = tokio::time::timeout(Duration::from_secs(5), server.task).await;
    finished
        .expect("the server stops once drained")
        .unwrap()
        .unwrap();
    let refused = reqwest::Client::new()
        .get(format!("{base}/healthz"))
        .send()
        .await;
    assert!(refused.is_err(), "the listener is closed after shutdown");
}

/// Past the drain deadline `serve` returns with requests still open; the process then exits,
/// which ends them.
#[tokio::test]
async fn serve_returns_at_the_drain_deadline_even_with_requests_in_flight() {
    let server = start_server(
        Duration::ZERO,
        Duration::from_millis(300),
        Duration::from_secs(30),
    )
    .await;
    let url = format!("http://{}/api/test/slow", server.address);
    let in_flight = tokio::spawn(reqwest::get(url));
    tokio::time::sleep(Duration::from_millis(200)).await;
    let started = Instant::now();
    server.stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(3), server.task)
        .await
        .expect("exit by the deadline")
        .unwrap()
        .unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "took {:?}",
        started.elapsed()
    );
    assert!(
        !in_flight.is_finished(),
        "the slow request was still running at the deadline"
    );
    in_flight.abort();
}
