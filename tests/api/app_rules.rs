//! App rules: a tenant names the app of workloads their labels do not (or wrongly) group, in
//! priority order before the labels — applied at once to what is stored, and by every sync.

use axum::http::Method;
use nimbus_api_types::rbac::BuiltinRole;
use nimbus_tests::kube_stub::{self, KubeStub};
use nimbus_tests::{Actor, TestApp, test_config};
use serde_json::{Value, json};

const TOKEN: &str = "app-rules-stub-token";

async fn synced_cluster(app: &TestApp, owner: &Actor, stub: &KubeStub) -> String {
    let created = app
        .call(
            &owner.token,
            Method::POST,
            "/api/v1/cloud-accounts",
            Some(json!({
                "name": "edge-fra",
                "settings": { "provider": "kubernetes" },
                "credentials": { "kind": "kubeconfig", "kubeconfig": stub.kubeconfig(TOKEN) },
            })),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text());
    let account = created.json()["id"].as_str().unwrap().to_owned();
    app.sync(owner, &account).await;
    account
}

/// App name → its workloads' `namespace/name`, sorted.
async fn apps(app: &TestApp, actor: &Actor) -> Vec<(String, i64)> {
    app.get_ok(actor, "/api/v1/apps?limit=50").await["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| {
            (
                item["name"].as_str().unwrap().to_owned(),
                item["workloads"].as_i64().unwrap(),
            )
        })
        .collect()
}

async fn app_of(app: &TestApp, actor: &Actor, workload: &str) -> Value {
    let found = app
        .get_ok(actor, &format!("/api/v1/workloads?q={workload}"))
        .await;
    found["items"][0]["app"].clone()
}

fn pairs(expected: &[(&str, i64)]) -> Vec<(String, i64)> {
    expected
        .iter()
        .map(|(name, count)| ((*name).to_owned(), *count))
        .collect()
}

#[tokio::test]
async fn app_rules_group_unlabelled_workloads_override_labels_and_hold_through_syncs() {
    let mut config = test_config(None);
    config.outbound.allow_http = true;
    config.outbound.allow_private_networks = true;
    let app = TestApp::with_config(config).await;
    let tenant = app.tenant("acme").await;
    let owner = app.member(tenant, BuiltinRole::Owner).await;
    let viewer = app.member(tenant, BuiltinRole::Viewer).await;
    let stub = KubeStub::start(TOKEN).await;
    stub.set_items(
        kube_stub::DEPLOYMENTS,
        vec![
            kube_stub::deployment("shop", "checkout-api", "checkout", 2, 2),
            kube_stub::deployment("shop", "checkout-worker", "checkout", 1, 1),
            kube_stub::deployment("monitoring", "grafana", "grafana", 1, 1),
        ],
    );
    // Legacy batch jobs without any app label.
    stub.set_items(
        kube_stub::CRONJOBS,
        vec![
            kube_stub::cronjob("billing", "invoice-run"),
            kube_stub::cronjob("billing-eu", "dunning"),
        ],
    );
    let account = synced_cluster(&app, &owner, &stub).await;
    assert_eq!(
        apps(&app, &owner).await,
        pairs(&[("checkout", 2), ("grafana", 1)])
    );

    // Unlabelled workloads get an app by namespace.
    let billing = app
        .call(
            &owner.token,
            Method::POST,
            "/api/v1/app-rules",
            Some(json!({ "app": "billing", "priority": 20, "match": { "namespace": "billing*" } })),
        )
        .await;
    assert_eq!(billing.status, 201, "{}", billing.text());
    let billing = billing.json();
    assert_eq!(billing["match"]["namespace"], "billing*");
    assert_eq!(
        apps(&app, &owner).await,
        pairs(&[("billing", 2), ("checkout", 2), ("grafana", 1)])
    );

    // A rule tried earlier wins over the labels: the checkout API belongs to "shop".
    let shop = app
        .call(
            &owner.token,
            Method::POST,
            "/api/v1/app-rules",
            Some(json!({ "app": "shop", "priority": 10,
                         "match": { "name": "checkout-?pi",
                                    "label": { "key": "app.kubernetes.io/name", "value": "checkout" } } })),
        )
        .await;
    assert_eq!(shop.status, 201, "{}", shop.text());
    let shop_id = shop.json()["id"].as_str().unwrap().to_owned();
    assert_eq!(
        apps(&app, &owner).await,
        pairs(&[("billing", 2), ("checkout", 1), ("grafana", 1), ("shop", 1)])
    );
    assert_eq!(app_of(&app, &owner, "checkout-api").await, "shop");

    // Syncs apply the rules to what they store, new workloads included.
    stub.set_items(
        kube_stub::CRONJOBS,
        vec![
            kube_stub::cronjob("billing", "invoice-run"),
            kube_stub::cronjob("billing-eu", "dunning"),
            kube_stub::cronjob("billing", "tax-export"),
        ],
    );
    app.sync(&owner, &account).await;
    assert_eq!(
        apps(&app, &owner).await,
        pairs(&[("billing", 3), ("checkout", 1), ("grafana", 1), ("shop", 1)])
    );

    // Rules are listed in the order they are tried; priorities are unique.
    let listed = app.get_ok(&viewer, "/api/v1/app-rules").await;
    let order: Vec<&str> = listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|rule| rule["app"].as_str().unwrap())
        .collect();
    assert_eq!(order, ["shop", "billing"]);
    let taken = app
        .call(
            &owner.token,
            Method::POST,
            "/api/v1/app-rules",
            Some(json!({ "app": "other", "priority": 10, "match": { "namespace": "x" } })),
        )
        .await;
    assert_eq!(taken.status, 409, "{}", taken.text());
    for bad in [
        json!({ "app": "empty", "priority": 30, "match": {} }),
        json!({ "app": "far", "priority": 30, "match": { "cluster_id": uuid::Uuid::new_v4() } }),
    ] {
        let refused = app
            .call(&owner.token, Method::POST, "/api/v1/app-rules", Some(bad))
            .await;
        assert_eq!(refused.status, 422, "{}", refused.text());
    }

    // A viewer reads rules but cannot change them.
    let denied = app
        .call(
            &viewer.token,
            Method::DELETE,
            &format!("/api/v1/app-rules/{shop_id}"),
            None,
        )
        .await;
    assert_eq!(denied.status, 403);

    // Replacing and deleting regroup at once; each change is audited.
    let narrowed = app
        .call(
            &owner.token,
            Method::PUT,
            &format!("/api/v1/app-rules/{}", billing["id"].as_str().unwrap()),
            Some(json!({ "app": "billing", "priority": 20, "match": { "namespace": "billing" } })),
        )
        .await;
    assert_eq!(narrowed.status, 200, "{}", narrowed.text());
    let deleted = app
        .call(
            &owner.token,
            Method::DELETE,
            &format!("/api/v1/app-rules/{shop_id}"),
            None,
        )
        .await;
    assert_eq!(deleted.status, 204);
    assert_eq!(
        apps(&app, &owner).await,
        pairs(&[("billing", 2), ("checkout", 2), ("grafana", 1)])
    );
    assert!(app_of(&app, &owner, "dunning").await.is_null());
    let audit = app
        .get_ok(&owner, "/api/v1/audit?action=apps.rule.delete")
        .await;
    let entry = &audit["items"][0];
    assert_eq!(entry["target"], format!("app_rule:{shop_id}"), "{audit}");
    assert_eq!(entry["details"]["workloads_regrouped"], 1, "{audit}");
}
