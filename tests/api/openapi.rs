//! The OpenAPI document matches the router: everything documented is served, and everything
//! served under the API is documented.

use std::path::Path;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use nimbus_tests::{TestApp, fake_web_dir, test_config};

#[tokio::test]
async fn the_document_is_openapi_3_1_and_describes_the_error_shape() {
    let app = TestApp::new().await;
    let response = app.get("/api/v1/openapi.json").await;
    assert_eq!(response.status, StatusCode::OK);
    let doc = response.json();
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3.1"),
        "{}",
        doc["openapi"]
    );
    assert_eq!(doc["info"]["title"], "Nimbus API");
    let codes = doc["components"]["schemas"]["ErrorCode"]["enum"]
        .as_array()
        .unwrap();
    assert!(codes.iter().any(|code| code == "route_not_found"));
    // The served document is the one the code generates.
    assert_eq!(doc, serde_json::to_value(nimbus::openapi()).unwrap());
}

#[tokio::test]
async fn every_documented_operation_is_routed() {
    let web = fake_web_dir();
    let app = TestApp::with_config(test_config(Some(web.path()))).await;
    let doc = serde_json::to_value(nimbus::openapi()).unwrap();
    let paths = doc["paths"].as_object().unwrap();
    assert!(paths.len() >= 5, "{:?}", paths.keys());
    for (path, operations) in paths {
        // Path parameters get a syntactically valid id: routing, not the handler, is under test.
        let concrete = path
            .split('/')
            .map(|segment| {
                if segment.starts_with('{') {
                    "00000000-0000-0000-0000-000000000000"
                } else {
                    segment
                }
            })
            .collect::<Vec<_>>()
            .join("/");
        for method in operations.as_object().unwrap().keys() {
            let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let response = app
                .request(
                    Request::builder()
                        .method(method.clone())
                        .uri(&concrete)
                        .body(Body::empty())
                        .unwrap(),
                )
                .await;
            assert_ne!(
                response.status,
                StatusCode::METHOD_NOT_ALLOWED,
                "{method} {path}"
            );
            // The metrics label each request with the route template that matched it; the
            // dashboard fallback (which answers any GET) is labelled `unmatched`.
            let metrics = app.get("/metrics").await.text();
            let label = format!(r#"method="{method}",route="{path}","#);
            assert!(
                metrics.contains(&label),
                "{method} {path} is documented but not routed to that template"
            );
        }
    }
}

/// Routes are registered only through `utoipa_axum::routes!`, which refuses a handler without
/// `#[utoipa::path]`. Plain axum registration is allowed only where the dashboard is served.
#[test]
fn every_route_is_registered_through_the_documenting_router() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../backend/src");
    let allowed = ["http/frontend.rs"];
    let mut offenders = Vec::new();
    visit(&src, &mut |file, text| {
        let relative = file
            .strip_prefix(&src)
            .unwrap()
            .to_string_lossy()
            .replace('\\', "/");
        if allowed.contains(&relative.as_str()) {
            return;
        }
        for (number, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or_default();
            for call in [
                ".route(",
                ".route_service(",
                ".nest_service(",
                ".fallback(",
                "axum::routing::",
            ] {
                if code.contains(call) {
                    offenders.push(format!("{relative}:{}: {}", number + 1, line.trim()));
                }
            }
        }
    });
    assert!(
        offenders.is_empty(),
        "routes registered outside utoipa_axum::routes!:\n{}",
        offenders.join("\n")
    );
}

fn visit(dir: &Path, check: &mut dyn FnMut(&Path, &str)) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            visit(&path, check);
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            check(&path, &std::fs::read_to_string(&path).unwrap());
        }
    }
}
