//! Serving the dashboard and the API reference page.

use axum::http::StatusCode;
use nimbus_tests::{TestApp, fake_web_dir, test_config};

#[tokio::test]
async fn the_dashboard_is_served_at_the_root_and_for_every_page_path() {
    let web = fake_web_dir();
    let app = TestApp::with_config(test_config(Some(web.path()))).await;
    for path in ["/", "/clusters", "/clusters/3f1c/nodes"] {
        let response = app.get(path).await;
        assert_eq!(response.status, StatusCode::OK, "{path}");
        assert!(response.text().contains("<title>Nimbus</title>"), "{path}");
        assert_eq!(response.header("cache-control"), Some("no-cache"), "{path}");
    }
}

#[tokio::test]
async fn hashed_assets_are_cached_for_a_year() {
    let web = fake_web_dir();
    let app = TestApp::with_config(test_config(Some(web.path()))).await;
    let response = app.get("/assets/app-0123456789abcdef.js").await;
    assert_eq!(response.status, StatusCode::OK);
    assert_eq!(
        response.header("cache-control"),
        Some("public, max-age=31536000, immutable")
    );
    assert!(
        response
            .header("content-type")
            .unwrap()
            .contains("javascript")
    );
}

#[tokio::test]
async fn a_missing_asset_is_a_404_not_the_app_page() {
    let web = fake_web_dir();
    let app = TestApp::with_config(test_config(Some(web.path()))).await;
    let response = app.get("/assets/gone-0000000000000000.js").await;
    assert_eq!(response.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn without_a_built_dashboard_the_root_explains_how_to_build_it() {
    let app = TestApp::new().await;
    let response = app.get("/").await;
    assert_eq!(response.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        response.text().contains("scripts/build-web"),
        "{}",
        response.text()
    );
}

#[tokio::test]
async fn the_api_reference_page_loads_swagger_ui_from_this_server() {
    let web = fake_web_dir();
    let app = TestApp::with_config(test_config(Some(web.path()))).await;
    let response = app.get("/api/docs").await;
    assert_eq!(response.status, StatusCode::OK);
    let html = response.text();
    assert!(
        html.contains(r#"src="/vendor/swagger-ui/swagger-ui-bundle.js""#),
        "{html}"
    );
    assert!(html.contains(r#"src="/static/api-docs.js""#), "{html}");
    // Offline by construction: no asset comes from another host.
    assert!(
        !html.contains("https://") && !html.contains("//cdn"),
        "{html}"
    );
    let bundle = app.get("/vendor/swagger-ui/swagger-ui-bundle.js").await;
    assert_eq!(bundle.status, StatusCode::OK);
}

#[tokio::test]
async fn the_api_reference_page_points_to_the_document_when_assets_are_missing() {
    let app = TestApp::new().await;
    let response = app.get("/api/docs").await;
    assert_eq!(response.status, StatusCode::OK);
    assert!(response.text().contains(r#"href="/api/v1/openapi.json""#));
    assert!(!response.text().contains("swagger-ui-bundle.js"));
}
