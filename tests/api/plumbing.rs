//! The middleware every response passes through.

use axum::body::Body;
use axum::http::{Method, StatusCode};
use nimbus::config::{Origin, PublicUrl};
use nimbus_tests::{TestApp, request, test_config};

#[tokio::test]
async fn every_response_carries_a_request_id_and_security_headers() {
    let app = TestApp::new().await;
    for path in [
        "/healthz",
        "/api/v1/missing",
        "/some/page",
        "/api/v1/openapi.json",
    ] {
        let response = app.get(path).await;
        let id = response.header("x-request-id").unwrap_or_default();
        assert_eq!(id.len(), 36, "{path}: request id {id:?}");
        let csp = response
            .header("content-security-policy")
            .unwrap_or_default();
        assert!(csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
        assert!(
            csp.contains("script-src 'self' 'wasm-unsafe-eval'"),
            "{path}: {csp}"
        );
        assert_eq!(
            response.header("x-content-type-options"),
            Some("nosniff"),
            "{path}"
        );
        assert_eq!(
            response.header("referrer-policy"),
            Some("no-referrer"),
            "{path}"
        );
        // Plain HTTP: HSTS would be wrong (and ignored) here.
        assert_eq!(response.header("strict-transport-security"), None, "{path}");
    }
}

#[tokio::test]
async fn request_ids_are_unique_and_a_callers_id_is_kept() {
    let app = TestApp::new().await;
    let first = app.get("/healthz").await;
    let second = app.get("/healthz").await;
    assert_ne!(first.header("x-request-id"), second.header("x-request-id"));
    let traced = app
        .request(
            request(Method::GET, "/healthz")
                .header("x-request-id", "trace-me-42")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(traced.header("x-request-id"), Some("trace-me-42"));
}

#[tokio::test]
async fn hsts_is_sent_when_users_reach_nimbus_over_https() {
    let config = nimbus::config::Config {
        public_url: Some(PublicUrl::try_from("https://nimbus.example.com".to_owned()).unwrap()),
        ..test_config(None)
    };
    let app = TestApp::with_config(config).await;
    let response = app.get("/healthz").await;
    assert_eq!(
        response.header("strict-transport-security"),
        Some("max-age=63072000; includeSubDomains")
    );
}

#[tokio::test]
async fn cors_answers_configured_origins_only() {
    let config = nimbus::config::Config {
        cors_allowed_origins: vec![
            Origin::try_from("https://console.example.com".to_owned()).unwrap(),
        ],
        ..test_config(None)
    };
    let app = TestApp::with_config(config).await;
    let preflight = |origin: &str| {
        request(Method::OPTIONS, "/api/v1/openapi.json")
            .header("origin", origin)
            .header("access-control-request-method", "GET")
            .body(Body::empty())
            .unwrap()
    };
    let allowed = app.request(preflight("https://console.example.com")).await;
    assert_eq!(
        allowed.header("access-control-allow-origin"),
        Some("https://console.example.com")
    );
    let other = app.request(preflight("https://evil.example")).await;
    assert_eq!(other.header("access-control-allow-origin"), None);
}

#[tokio::test]
async fn without_configured_origins_no_cors_headers_are_sent() {
    let app = TestApp::new().await;
    let response = app
        .request(
            request(Method::GET, "/healthz")
                .header("origin", "https://evil.example")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(response.status, StatusCode::OK);
    assert_eq!(response.header("access-control-allow-origin"), None);
}

#[tokio::test]
async fn responses_are_compressed_when_the_client_accepts_it() {
    let app = TestApp::new().await;
    let response = app
        .request(
            request(Method::GET, "/api/v1/openapi.json")
                .header("accept-encoding", "gzip")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(response.status, StatusCode::OK);
    assert_eq!(response.header("content-encoding"), Some("gzip"));
}

#[tokio::test]
async fn api_responses_are_never_cached_by_default() {
    let app = TestApp::new().await;
    let response = app.get("/api/v1/unknown").await;
    assert_eq!(response.header("cache-control"), Some("no-store"));
}
