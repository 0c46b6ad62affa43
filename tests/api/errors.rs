//! One error shape everywhere: `{"error":{"code","message","details"}}` with stable codes.

use axum::Router;
use axum::body::Body;
use axum::http::{Method, StatusCode};
use axum::routing::post;
use nimbus::error::AppError;
use nimbus::http::extract::{Json, Path, Query};
use nimbus_tests::{TestApp, request, send};

#[derive(serde::Deserialize, serde::Serialize)]
struct Echo {
    name: String,
    count: u32,
}

#[derive(serde::Deserialize)]
struct Paging {
    #[allow(dead_code)]
    per_page: u32,
}

async fn echo(
    Path(id): Path<uuid::Uuid>,
    Query(_paging): Query<Paging>,
    Json(body): Json<Echo>,
) -> Result<Json<Echo>, AppError> {
    let _ = id;
    Ok(Json(body))
}

async fn slow() -> &'static str {
    tokio::time::sleep(std::time::Duration::from_secs(5)).await;
    "too late"
}

async fn failing() -> Result<(), AppError> {
    Err(AppError::internal(std::io::Error::other(
        "connection to 10.0.0.7 refused, password=hunter2",
    )))
}

/// The real middleware stack around handlers that use the server's extractors.
async fn app_with_test_routes() -> (TestApp, Router) {
    let app = TestApp::new().await;
    let routes = Router::new()
        .route("/api/test/echo/{id}", post(echo))
        .route("/api/test/failing", post(failing))
        .route("/api/test/slow", post(slow))
        .with_state(app.state.clone());
    let router = nimbus::http::apply_layers(routes, axum::Router::new(), &app.state);
    (app, router)
}

fn post_json(path: &str, body: &str) -> axum::http::Request<Body> {
    request(Method::POST, path)
        .header("content-type", "application/json")
        .body(Body::from(body.to_owned()))
        .unwrap()
}

const ID: &str = "3f1c1d2e-7a7b-4c1e-9d3a-0a1b2c3d4e5f";

#[tokio::test]
async fn a_valid_request_passes_the_extractors() {
    let (_app, router) = app_with_test_routes().await;
    let response = send(
        &router,
        post_json(
            &format!("/api/test/echo/{ID}?per_page=5"),
            r#"{"name":"a","count":1}"#,
        ),
    )
    .await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.text());
    assert_eq!(response.json()["name"], "a");
}

#[tokio::test]
async fn malformed_json_is_a_bad_request_in_the_error_shape() {
    let (_app, router) = app_with_test_routes().await;
    let response = send(
        &router,
        post_json(&format!("/api/test/echo/{ID}?per_page=5"), "{not json"),
    )
    .await;
    assert_eq!(response.status, StatusCode::BAD_REQUEST);
    assert_eq!(response.error_code(), "bad_request");
    assert!(response.json()["error"]["message"].as_str().unwrap().len() > 5);
}

#[tokio::test]
async fn json_of_the_wrong_shape_fails_validation() {
    let (_app, router) = app_with_test_routes().await;
    let response = send(
        &router,
        post_json(
            &format!("/api/test/echo/{ID}?per_page=5"),
            r#"{"name":"a","count":-1}"#,
        ),
    )
    .await;
    assert_eq!(response.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(response.error_code(), "validation_failed");
}

#[tokio::test]
async fn a_body_without_json_content_type_is_unsupported_media() {
    let (_app, router) = app_with_test_routes().await;
    let request = request(Method::POST, &format!("/api/test/echo/{ID}?per_page=5"))
        .body(Body::from(r#"{"name":"a","count":1}"#))
        .unwrap();
    let response = send(&router, request).await;
    assert_eq!(response.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(response.error_code(), "unsupported_media_type");
}

#[tokio::test]
async fn bad_path_and_query_parameters_are_bad_requests() {
    let (_app, router) = app_with_test_routes().await;
    let bad_path = send(
        &router,
        post_json(
            "/api/test/echo/not-a-uuid?per_page=5",
            r#"{"name":"a","count":1}"#,
        ),
    )
    .await;
    assert_eq!(bad_path.status, StatusCode::BAD_REQUEST);
    assert_eq!(bad_path.error_code(), "bad_request");
    let bad_query = send(
        &router,
        post_json(
            &format!("/api/test/echo/{ID}?per_page=many"),
            r#"{"name":"a","count":1}"#,
        ),
    )
    .await;
    assert_eq!(bad_query.status, StatusCode::BAD_REQUEST);
    assert_eq!(bad_query.error_code(), "bad_request");
}

#[tokio::test]
async fn a_body_over_the_limit_is_rejected_with_413_in_the_error_shape() {
    let (app, router) = app_with_test_routes().await;
    let limit = app.state.config.http.body_limit_bytes;
    let huge = format!(r#"{{"name":"{}","count":1}}"#, "x".repeat(limit + 1));
    let response = send(
        &router,
        post_json(&format!("/api/test/echo/{ID}?per_page=5"), &huge),
    )
    .await;
    assert_eq!(response.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(response.error_code(), "payload_too_large");
}

#[tokio::test]
async fn a_server_fault_returns_a_generic_message_and_never_its_cause() {
    let (_app, router) = app_with_test_routes().await;
    let response = send(&router, post_json("/api/test/failing", "{}")).await;
    assert_eq!(response.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(response.error_code(), "internal");
    let text = response.text();
    assert!(
        !text.contains("hunter2") && !text.contains("10.0.0.7"),
        "{text}"
    );
}

#[tokio::test]
async fn unknown_api_paths_get_a_json_404() {
    let app = TestApp::new().await;
    for path in ["/api/v1/nothing-here", "/api/v2", "/api"] {
        let response = app.get(path).await;
        assert_eq!(response.status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(response.error_code(), "route_not_found", "{path}");
    }
}

#[tokio::test]
async fn a_wrong_method_on_an_api_route_gets_a_json_405() {
    let app = TestApp::new().await;
    let response = app
        .request(
            request(Method::DELETE, "/api/v1/openapi.json")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(response.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(response.error_code(), "method_not_allowed");
}

#[tokio::test]
async fn a_request_past_the_deadline_gets_408_in_the_error_shape() {
    let mut config = nimbus_tests::test_config(None);
    config.http.request_timeout = std::time::Duration::from_millis(200);
    let app = TestApp::with_config(config).await;
    let routes = Router::new()
        .route("/api/test/slow", post(slow))
        .with_state(app.state.clone());
    let router = nimbus::http::apply_layers(routes, axum::Router::new(), &app.state);
    let started = std::time::Instant::now();
    let response = send(&router, post_json("/api/test/slow", "{}")).await;
    assert_eq!(response.status, StatusCode::REQUEST_TIMEOUT);
    assert_eq!(response.error_code(), "request_timeout");
    assert!(started.elapsed() < std::time::Duration::from_secs(2));
}
