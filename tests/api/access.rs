//! Access control over the whole API, generated from the OpenAPI document: every route × every
//! built-in role, and every route with an id used across tenants.

use std::collections::BTreeMap;

use axum::http::Method;
use nimbus_api_types::rbac::{BuiltinRole, Permission};
use nimbus_tests::{Actor, TestApp};
use serde_json::{Value, json};

/// Every documented operation that needs a credential: (method, path, permissions it needs).
fn secured_operations() -> Vec<(Method, String, Vec<Permission>, bool)> {
    let document = serde_json::to_value(nimbus::openapi()).unwrap();
    let mut operations = Vec::new();
    for (path, item) in document["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let Some(security) = operation.get("security").and_then(Value::as_array) else {
                continue;
            };
            let bearer = security
                .iter()
                .find_map(|requirement| requirement.get("bearer"));
            let session = security
                .iter()
                .find_map(|requirement| requirement.get("session"));
            let scopes = bearer.or(session).unwrap().as_array().unwrap();
            let permissions = scopes
                .iter()
                .map(|scope| Permission::from_name(scope.as_str().unwrap()).unwrap())
                .collect();
            let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            operations.push((method, path.clone(), permissions, bearer.is_some()));
        }
    }
    operations
}

fn concrete(path: &str, id: &str) -> String {
    path.replace("{id}", id)
}

fn body_for(method: &Method) -> Option<Value> {
    matches!(*method, Method::POST | Method::PUT | Method::PATCH).then(|| json!({}))
}

#[tokio::test]
async fn every_route_admits_exactly_the_roles_holding_its_permission_and_gives_the_rest_403() {
    let app = TestApp::new().await;
    let tenant = app.tenant("matrix").await;
    let mut actors: Vec<(BuiltinRole, Actor)> = Vec::new();
    for role in BuiltinRole::ALL {
        actors.push((role, app.member(tenant, role).await));
    }
    let operations = secured_operations();
    assert!(
        operations.len() >= 25,
        "only {} secured operations",
        operations.len()
    );
    let mut checked = 0;
    for (method, path, permissions, accepts_bearer) in &operations {
        let url = concrete(path, &uuid::Uuid::new_v4().to_string());
        let anonymous = app
            .request(
                nimbus_tests::request(method.clone(), &url)
                    .body(axum::body::Body::empty())
                    .unwrap(),
            )
            .await;
        assert_eq!(anonymous.status, 401, "{method} {path} without credentials");
        if !accepts_bearer {
            continue;
        }
        for (role, actor) in &actors {
            let allowed = permissions.iter().all(|p| role.permissions().contains(p));
            let response = app
                .call(&actor.token, method.clone(), &url, body_for(method))
                .await;
            if allowed {
                assert!(
                    !matches!(response.status.as_u16(), 401 | 403),
                    "{method} {path} as {role:?} should be allowed, got {} {}",
                    response.status,
                    response.text()
                );
            } else {
                assert_eq!(
                    response.status,
                    403,
                    "{method} {path} as {role:?}: {}",
                    response.text()
                );
                assert_eq!(response.error_code(), "forbidden");
            }
            checked += 1;
        }
    }
    assert!(checked >= 125, "checked {checked} route × role pairs");
}

/// The smallest FOCUS file: the mandatory columns and one charge.
const MINIMAL_BILL: &str = "BilledCost,BillingAccountId,BillingAccountName,BillingCurrency,BillingPeriodEnd,BillingPeriodStart,ChargeCategory,ChargeClass,ChargeDescription,ChargePeriodEnd,ChargePeriodStart,ContractedCost,EffectiveCost,InvoiceIssuerName,ListCost,PricingQuantity,PricingUnit,ProviderName,PublisherName,ServiceCategory,ServiceName
1.25,b-account,B,USD,2024-10-01T00:00:00Z,2024-09-01T00:00:00Z,Usage,,VM,2024-09-02T00:00:00Z,2024-09-01T00:00:00Z,1.25,1.25,Example,1.25,1,Hours,Example,Example,Compute,VMs
";

/// Objects of tenant B, by the collection their id is used under.
async fn objects_of_b(
    app: &TestApp,
    owner: &Actor,
    member: &Actor,
) -> BTreeMap<&'static str, String> {
    let created = |response: nimbus_tests::TestResponse, pointer: &str| {
        assert!(response.status.is_success(), "{}", response.text());
        response
            .json()
            .pointer(pointer)
            .unwrap()
            .as_str()
            .unwrap()
            .to_owned()
    };
    let project = created(
        app.call(
            &owner.token,
            Method::POST,
            "/api/v1/projects",
            Some(json!({"name": "b-project"})),
        )
        .await,
        "/id",
    );
    let role = created(
        app.call(
            &owner.token,
            Method::POST,
            "/api/v1/roles",
            Some(json!({"name": "b-role", "permissions": ["cost:read"]})),
        )
        .await,
        "/role",
    );
    let invitation = created(
        app.call(
            &owner.token,
            Method::POST,
            "/api/v1/invitations",
            Some(json!({"email": "invitee@example.com", "role": "viewer"})),
        )
        .await,
        "/invitation/id",
    );
    let binding = created(
        app.call(
            &owner.token,
            Method::POST,
            "/api/v1/role-bindings",
            Some(json!({"user_id": member.user, "role": "finance", "project_id": project})),
        )
        .await,
        "/id",
    );
    let token = created(
        app.call(
            &owner.token,
            Method::POST,
            "/api/v1/api-tokens",
            Some(json!({"name": "b-token"})),
        )
        .await,
        "/token/id",
    );
    let import = created(
        app.upload_bill(&owner.token, "b.csv", MINIMAL_BILL.as_bytes())
            .await,
        "/id",
    );
    let rule = created(
        app.call(
            &owner.token,
            Method::POST,
            "/api/v1/cost/allocation-rules",
            Some(valid_body("cost/allocation-rules", &project).unwrap()),
        )
        .await,
        "/id",
    );
    let budget = created(
        app.call(
            &owner.token,
            Method::POST,
            "/api/v1/budgets",
            Some(valid_body("budgets", &project).unwrap()),
        )
        .await,
        "/id",
    );
    let app_rule = created(
        app.call(
            &owner.token,
            Method::POST,
            "/api/v1/app-rules",
            Some(valid_body("app-rules", &project).unwrap()),
        )
        .await,
        "/id",
    );
    let identity_provider = created(
        app.call(
            &owner.token,
            Method::POST,
            "/api/v1/identity-providers",
            Some(valid_body("identity-providers", &project).unwrap()),
        )
        .await,
        "/id",
    );
    let cloud_account = created(
        app.call(
            &owner.token,
            Method::POST,
            "/api/v1/cloud-accounts",
            Some(valid_body("cloud-accounts", &project).unwrap()),
        )
        .await,
        "/id",
    );
    let sync_job = created(
        app.call(
            &owner.token,
            Method::POST,
            &format!("/api/v1/cloud-accounts/{cloud_account}/syncs"),
            None,
        )
        .await,
        "/id",
    );
    // Notifications come from events (a budget alert); one is written directly here.
    let notification = uuid::Uuid::new_v4();
    sqlx::query(
        "INSERT INTO notifications (id, tenant_id, kind, title, body) VALUES ($1, $2, 'test', 't', 'b')",
    )
    .bind(notification)
    .bind(owner.tenant.0)
    .execute(&mut app.owner().await)
    .await
    .unwrap();
    // Anomalies come from detection over weeks of history; one is written directly here.
    let anomaly = uuid::Uuid::new_v4();
    sqlx::query(
        "INSERT INTO cost_anomalies (id, tenant_id, provider, service_name, currency, day, spend, baseline, score, severity)
         VALUES ($1, $2, 'AWS', 'EC2', 'USD', '2024-09-01', 500, 100, 40, 'high')",
    )
    .bind(anomaly)
    .bind(owner.tenant.0)
    .execute(&mut app.owner().await)
    .await
    .unwrap();
    let jwt = app.post_json("/api/v1/auth/token", json!({"grant_type": "password", "email": owner.email, "password": nimbus_tests::PASSWORD, "tenant": "tenant-b"})).await;
    let access = jwt.json()["access_token"].as_str().unwrap().to_owned();
    let sessions = app
        .call(&access, Method::GET, "/api/v1/sessions", None)
        .await
        .json();
    let session = sessions[0]["id"].as_str().unwrap().to_owned();
    BTreeMap::from([
        ("projects", project),
        ("roles", role),
        ("invitations", invitation),
        ("role-bindings", binding),
        ("api-tokens", token),
        ("sessions", session),
        ("users", member.user.to_string()),
        ("tenants", owner.tenant.to_string()),
        ("cost/imports", import),
        ("cost/allocation-rules", rule),
        ("budgets", budget),
        ("app-rules", app_rule),
        ("identity-providers", identity_provider),
        ("notifications", notification.to_string()),
        ("anomalies", anomaly.to_string()),
        ("cloud-accounts", cloud_account),
        ("sync-jobs", sync_job),
    ])
}

/// What B's owner sees of B, to compare before and after A's attempts.
async fn snapshot(app: &TestApp, owner: &Actor) -> Vec<Value> {
    let mut seen = Vec::new();
    for path in [
        "/api/v1/projects",
        "/api/v1/roles",
        "/api/v1/invitations",
        "/api/v1/role-bindings",
        "/api/v1/users",
        "/api/v1/api-tokens",
        "/api/v1/cost/allocation-rules",
        "/api/v1/budgets",
        "/api/v1/app-rules",
        "/api/v1/identity-providers",
        "/api/v1/notifications",
        "/api/v1/anomalies",
        "/api/v1/cloud-accounts",
    ] {
        let response = app.call(&owner.token, Method::GET, path, None).await;
        assert_eq!(response.status, 200, "{path}");
        seen.push(response.json());
    }
    seen.push(
        app.call(
            &owner.token,
            Method::GET,
            &format!("/api/v1/tenants/{}", owner.tenant),
            None,
        )
        .await
        .json(),
    );
    seen
}

/// A body the route would accept, so that only the id can make it fail.
fn valid_body(collection: &str, project: &str) -> Option<Value> {
    Some(match collection {
        "projects" | "tenants" => json!({"name": "hijacked"}),
        "users" => json!({"disabled": true}),
        "anomalies" => json!({"status": "dismissed"}),
        "budgets" => {
            json!({"name": "b-budget", "period": "month", "amount": "100", "currency": "USD"})
        }
        "cost/allocation-rules" => json!({"name": "b-rule", "priority": 1,
            "match": {"field": "sub_account", "value": "b"},
            "target": {"kind": "project", "project_id": project}}),
        "app-rules" => json!({"app": "b-app", "priority": 1, "match": {"namespace": "b-*"}}),
        "identity-providers" => json!({"name": "b-sso", "kind": "oidc",
            "issuer": "https://sso.b.example", "client_id": "b", "client_secret": "b-secret"}),
        "cloud-accounts" => json!({"name": "b-cloud",
            "settings": {"provider": "aws", "regions": ["eu-west-1"],
                         "endpoint_url": "https://aws.example.com"},
            "credentials": {"kind": "aws_access_key", "access_key_id": "AKIAIOSFODNN7EXAMPLE",
                            "secret_access_key": "b-secret-access-key-0000"}}),
        _ => json!({}),
    })
}

#[tokio::test]
async fn tenant_a_using_tenant_b_ids_gets_404_on_every_route_and_b_is_unchanged() {
    let app = TestApp::new().await;
    let a = app
        .member(app.tenant("tenant-a").await, BuiltinRole::Owner)
        .await;
    let b_tenant = app.tenant("tenant-b").await;
    let b = app.member(b_tenant, BuiltinRole::Owner).await;
    let b_member = app.member(b_tenant, BuiltinRole::Viewer).await;
    let ids = objects_of_b(&app, &b, &b_member).await;
    let before = snapshot(&app, &b).await;
    let mut checked = 0;
    for (method, path, permissions, _) in secured_operations() {
        if !path.contains("{id}") {
            continue;
        }
        // Platform routes (suspend a tenant) refuse every tenant role whatever the id: 403 there
        // tells nothing about B, and the matrix test above proves it.
        let expected = if permissions.contains(&Permission::TenantsManage) {
            403
        } else {
            404
        };
        let collection = path
            .trim_start_matches("/api/v1/")
            .split("/{id}")
            .next()
            .unwrap();
        let id = ids
            .get(collection)
            .unwrap_or_else(|| panic!("add an object of tenant B for {path} to this test"));
        let body = matches!(method, Method::PATCH | Method::PUT | Method::POST)
            .then(|| valid_body(collection, &ids["projects"]))
            .flatten();
        let response = app
            .call(&a.token, method.clone(), &concrete(&path, id), body)
            .await;
        assert_eq!(
            response.status,
            expected,
            "{method} {path} with B's id as A: {}",
            response.text()
        );
        checked += 1;
    }
    assert!(checked >= 12, "checked {checked}");
    assert_eq!(snapshot(&app, &b).await, before, "tenant B changed");
}

#[tokio::test]
async fn an_admin_cannot_grant_owner_nor_lock_out_an_owner() {
    let app = TestApp::new().await;
    let tenant = app.tenant("escalation").await;
    let admin = app.member(tenant, BuiltinRole::Admin).await;
    let owner = app.member(tenant, BuiltinRole::Owner).await;
    let viewer = app.member(tenant, BuiltinRole::Viewer).await;
    let grant = app
        .call(
            &admin.token,
            Method::POST,
            "/api/v1/role-bindings",
            Some(json!({"user_id": viewer.user, "role": "owner"})),
        )
        .await;
    assert_eq!(grant.status, 403);
    let custom = app
        .call(
            &admin.token,
            Method::POST,
            "/api/v1/roles",
            Some(json!({"name": "wide", "permissions": ["tenant:settings"]})),
        )
        .await;
    assert_eq!(custom.status, 403, "a custom role wider than the admin");
    let invite = app
        .call(
            &admin.token,
            Method::POST,
            "/api/v1/invitations",
            Some(json!({"email": "x@example.com", "role": "owner"})),
        )
        .await;
    assert_eq!(invite.status, 403);
    let disable = app
        .call(
            &admin.token,
            Method::PATCH,
            &format!("/api/v1/users/{}", owner.user),
            Some(json!({"disabled": true})),
        )
        .await;
    assert_eq!(disable.status, 403);
    let token = app
        .call(&viewer.token, Method::GET, "/api/v1/me", None)
        .await;
    assert_eq!(
        token.json()["permissions"],
        json!(["clouds:read", "inventory:read", "apps:read", "cost:read"])
    );
    // Admin may grant what it holds.
    let ok = app
        .call(
            &admin.token,
            Method::POST,
            "/api/v1/role-bindings",
            Some(json!({"user_id": viewer.user, "role": "operator"})),
        )
        .await;
    assert_eq!(ok.status, 201, "{}", ok.text());
}

#[tokio::test]
async fn request_bodies_cannot_set_fields_the_route_does_not_name() {
    let app = TestApp::new().await;
    let tenant = app.tenant("mass-assignment").await;
    let admin = app.member(tenant, BuiltinRole::Admin).await;
    let viewer = app.member(tenant, BuiltinRole::Viewer).await;
    let response = app
        .call(
            &admin.token,
            Method::PATCH,
            &format!("/api/v1/users/{}", viewer.user),
            Some(json!({"role": "owner", "platform_admin": true})),
        )
        .await;
    assert_eq!(response.status, 422, "{}", response.text());
    let me = app
        .call(&viewer.token, Method::GET, "/api/v1/me", None)
        .await
        .json();
    assert_eq!(me["platform_admin"], false);
    assert!(
        !me["permissions"]
            .as_array()
            .unwrap()
            .contains(&json!("users:manage"))
    );
}

#[tokio::test]
async fn the_last_owner_of_a_tenant_cannot_be_unbound() {
    let app = TestApp::new().await;
    let tenant = app.tenant("last-owner").await;
    let owner = app.member(tenant, BuiltinRole::Owner).await;
    let bindings = app
        .call(
            &owner.token,
            Method::GET,
            &format!("/api/v1/role-bindings?user_id={}", owner.user),
            None,
        )
        .await
        .json();
    let id = bindings["items"][0]["id"].as_str().unwrap().to_owned();
    let response = app
        .call(
            &owner.token,
            Method::DELETE,
            &format!("/api/v1/role-bindings/{id}"),
            None,
        )
        .await;
    assert_eq!(response.status, 409, "{}", response.text());
}
