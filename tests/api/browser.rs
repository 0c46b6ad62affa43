//! The real dashboard in a real browser: the WebAssembly app loads under the server's
//! Content-Security-Policy and renders. (The dashboard's own flows have their own suite.)

use std::path::PathBuf;
use std::time::Duration;

use nimbus_tests::{TestApp, spawn_server, test_config};

/// The dashboard built by `scripts/build-web` (the README's test command runs it first).
fn built_web_dir() -> PathBuf {
    let dir = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../dist/web"));
    assert!(
        dir.join("index.html").is_file(),
        "{} has no built dashboard: run scripts/test (or scripts/build-web first)",
        dir.display()
    );
    dir
}

/// The page's DOM after its scripts ran, from headless Chromium.
async fn rendered_dom(url: &str) -> String {
    let profile = tempfile::tempdir().unwrap();
    let output = tokio::time::timeout(
        Duration::from_secs(60),
        tokio::process::Command::new("chromium")
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--virtual-time-budget=10000",
                "--dump-dom",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg(url)
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("chromium finishes")
    .expect("chromium is installed (scripts/test installs it)");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

#[tokio::test]
async fn the_webassembly_app_sends_signed_out_visitors_to_sign_in_under_the_csp() {
    let app = TestApp::with_config(test_config(Some(&built_web_dir()))).await;
    let address = spawn_server(app.router.clone()).await;
    let dom = rendered_dom(&format!("http://{address}/")).await;
    // index.html has an empty body: this text exists only if the wasm app mounted.
    assert!(dom.contains(r#"<main class="landing">"#), "{dom}");
    assert!(dom.contains(r#"aria-label="Sign in""#), "{dom}");
    assert!(
        dom.contains("Every cloud's clusters, apps and real bills, in one place."),
        "{dom}"
    );
}

#[tokio::test]
async fn the_api_reference_renders_swagger_ui_from_local_assets() {
    let app = TestApp::with_config(test_config(Some(&built_web_dir()))).await;
    let address = spawn_server(app.router.clone()).await;
    let dom = rendered_dom(&format!("http://{address}/api/docs")).await;
    assert!(dom.contains("swagger-ui"), "{dom}");
    assert!(
        dom.contains("/readyz"),
        "the operations from openapi.json are listed: {dom}"
    );
}

#[tokio::test]
async fn the_pages_of_single_use_links_render_their_forms() {
    let app = TestApp::with_config(test_config(Some(&built_web_dir()))).await;
    let address = spawn_server(app.router.clone()).await;
    for (path, title, fields) in [
        (
            "/setup",
            "Create the first administrator",
            &["email", "name", "password"][..],
        ),
        (
            "/invitation",
            "Join your team on Nimbus",
            &["name", "password"][..],
        ),
        (
            "/reset-password",
            "Choose a new password",
            &["password"][..],
        ),
    ] {
        let dom = rendered_dom(&format!("http://{address}{path}#nimbus_link_example")).await;
        assert!(dom.contains(title), "{path}: {dom}");
        for field in fields {
            assert!(
                dom.contains(&format!(r#"name="{field}""#)),
                "{path}: {field} missing: {dom}"
            );
        }
    }
}
