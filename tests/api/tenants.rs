//! Platform administration of tenants: settings of any tenant, suspension and resumption.

use axum::http::Method;
use nimbus_api_types::rbac::BuiltinRole;
use nimbus_tests::{Actor, PASSWORD, TestApp};
use serde_json::json;

/// An Owner of a tenant of its own who is also a platform administrator, with an access token.
async fn platform_admin(app: &TestApp) -> String {
    let ops = app.tenant("ops").await;
    let admin = app.member(ops, BuiltinRole::Owner).await;
    sqlx::query("UPDATE users SET platform_admin = true WHERE id = $1")
        .bind(admin.user.0)
        .execute(&mut app.owner().await)
        .await
        .unwrap();
    let token = app
        .post_json(
            "/api/v1/auth/token",
            json!({"grant_type": "password", "email": admin.email, "password": PASSWORD, "tenant": "ops"}),
        )
        .await;
    assert_eq!(token.status, 200, "{}", token.text());
    token.json()["access_token"].as_str().unwrap().to_owned()
}

async fn actions_in_trail(app: &TestApp, owner: &Actor) -> Vec<String> {
    let trail = app
        .call(
            &owner.token,
            Method::GET,
            "/api/v1/audit?action=tenant.",
            None,
        )
        .await;
    assert_eq!(trail.status, 200, "{}", trail.text());
    trail.json()["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|entry| entry["action"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn a_platform_admin_changes_the_settings_of_a_tenant_it_does_not_belong_to() {
    let app = TestApp::new().await;
    let admin = platform_admin(&app).await;
    let customer = app.tenant("customer").await;
    let owner = app.member(customer, BuiltinRole::Owner).await;
    let renamed = app
        .call(
            &admin,
            Method::PATCH,
            &format!("/api/v1/tenants/{customer}"),
            Some(json!({"name": "Customer Ltd", "reporting_currency": "EUR"})),
        )
        .await;
    assert_eq!(renamed.status, 200, "{}", renamed.text());
    assert_eq!(renamed.json()["name"], "Customer Ltd");
    let seen = app
        .call(
            &owner.token,
            Method::GET,
            &format!("/api/v1/tenants/{customer}"),
            None,
        )
        .await;
    assert_eq!(seen.json()["name"], "Customer Ltd");
    assert_eq!(seen.json()["reporting_currency"], "EUR");
    // The change is in the customer's own trail, where its Owner can see who made it.
    assert_eq!(actions_in_trail(&app, &owner).await, ["tenant.update"]);

    let unknown = app
        .call(
            &admin,
            Method::PATCH,
            &format!("/api/v1/tenants/{}", uuid::Uuid::new_v4()),
            Some(json!({"name": "Nobody"})),
        )
        .await;
    assert_eq!(unknown.status, 404, "{}", unknown.text());
}

#[tokio::test]
async fn a_suspended_tenant_refuses_its_members_until_it_is_resumed() {
    let app = TestApp::new().await;
    let admin = platform_admin(&app).await;
    let customer = app.tenant("customer").await;
    let owner = app.member(customer, BuiltinRole::Owner).await;
    let projects = |token: String| {
        let app = &app;
        async move {
            app.call(&token, Method::GET, "/api/v1/projects", None)
                .await
                .status
        }
    };
    assert_eq!(projects(owner.token.clone()).await, 200);

    let suspend_path = format!("/api/v1/tenants/{customer}/suspend");
    let by_owner = app
        .call(&owner.token, Method::POST, &suspend_path, None)
        .await;
    assert_eq!(
        by_owner.status, 403,
        "a tenant Owner cannot suspend its tenant"
    );
    let suspended = app.call(&admin, Method::POST, &suspend_path, None).await;
    assert_eq!(suspended.status, 200, "{}", suspended.text());
    let since = suspended.json()["suspended_at"].clone();
    assert!(since.is_string(), "{since}");

    // The Owner's API token (bound to the tenant) and a new sign-in say so.
    let refused = app
        .call(&owner.token, Method::GET, "/api/v1/projects", None)
        .await;
    assert_eq!(refused.status, 401, "{}", refused.text());
    assert!(refused.text().contains("suspended"), "{}", refused.text());
    let sign_in = app
        .post_json(
            "/api/v1/auth/token",
            json!({"grant_type": "password", "email": owner.email, "password": PASSWORD, "tenant": "customer"}),
        )
        .await;
    assert_eq!(sign_in.status, 403, "{}", sign_in.text());
    assert!(sign_in.text().contains("suspended"), "{}", sign_in.text());
    let resume_path = format!("/api/v1/tenants/{customer}/resume");
    assert_eq!(
        app.call(&owner.token, Method::POST, &resume_path, None)
            .await
            .status,
        401,
        "the suspended tenant's Owner cannot resume it"
    );
    // Suspending again keeps the first time.
    let again = app.call(&admin, Method::POST, &suspend_path, None).await;
    assert_eq!(again.json()["suspended_at"], since);

    let resumed = app.call(&admin, Method::POST, &resume_path, None).await;
    assert_eq!(resumed.status, 200, "{}", resumed.text());
    assert!(resumed.json()["suspended_at"].is_null());
    assert_eq!(
        projects(owner.token.clone()).await,
        200,
        "the same token works again"
    );
    assert_eq!(
        actions_in_trail(&app, &owner).await,
        ["tenant.resume", "tenant.suspend", "tenant.suspend"]
    );
    // The platform admin's own tenant was never touched.
    assert_eq!(projects(admin).await, 200);
}
