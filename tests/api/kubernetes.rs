//! Kubernetes accounts against a stand-in API server (`nimbus_tests::kube_stub`): a kubeconfig
//! upload, `continue` paging of nodes, namespaces and workloads, and the faults a real cluster
//! throws — throttling, server errors, a failing page, refused permissions, slow answers —
//! with nothing lost and every failure said.

use std::time::Duration;

use axum::http::Method;
use nimbus_api_types::rbac::BuiltinRole;
use nimbus_tests::kube_stub::{self, Fault, KubeStub};
use nimbus_tests::{Actor, TestApp, test_config};
use serde_json::{Value, json};

const TOKEN_CANARY: &str = "eyJhbGciOiJSUzI1NiJ9.kube-canary-token-5d1f0c";

async fn app() -> TestApp {
    let mut config = test_config(None);
    config.outbound.allow_http = true;
    config.outbound.allow_private_networks = true;
    // Faults must resolve within a test: short deadlines, few attempts.
    config.clouds.call_timeout = Duration::from_secs(3);
    config.clouds.max_attempts = 3;
    TestApp::with_config(config).await
}

/// A cluster like a small real one: three nodes, four namespaces, five Deployments (more than
/// two pages of the stub's page size), a CronJob.
async fn seeded_stub() -> KubeStub {
    let stub = KubeStub::start(TOKEN_CANARY).await;
    stub.set_items(
        kube_stub::NODES,
        vec![
            kube_stub::node("node-a", true, "fra-1a"),
            kube_stub::node("node-b", true, "fra-1b"),
            kube_stub::node("node-c", false, "fra-1c"),
        ],
    );
    stub.set_items(
        kube_stub::NAMESPACES,
        ["default", "kube-system", "shop", "monitoring"]
            .map(kube_stub::namespace)
            .to_vec(),
    );
    stub.set_items(
        kube_stub::DEPLOYMENTS,
        vec![
            kube_stub::deployment("shop", "cart", "shop", 3, 3),
            kube_stub::deployment("shop", "checkout", "shop", 2, 1),
            kube_stub::deployment("shop", "web", "shop", 4, 4),
            kube_stub::deployment("monitoring", "grafana", "grafana", 1, 1),
            kube_stub::deployment("kube-system", "coredns", "coredns", 2, 2),
        ],
    );
    stub.set_items(
        kube_stub::CRONJOBS,
        vec![kube_stub::cronjob("default", "hello")],
    );
    stub
}

async fn connect(app: &TestApp, actor: &Actor, stub: &KubeStub) -> String {
    let response = app
        .call(
            &actor.token,
            Method::POST,
            "/api/v1/cloud-accounts",
            Some(json!({
                "name": "edge-fra",
                "settings": { "provider": "kubernetes", "region": "fra-dc1" },
                "credentials": { "kind": "kubeconfig", "kubeconfig": stub.kubeconfig(TOKEN_CANARY) },
            })),
        )
        .await;
    assert_eq!(response.status, 201, "{}", response.text());
    let account = response.json();
    assert_eq!(
        account["settings"]["api_server"],
        stub.url.as_str(),
        "{account}"
    );
    assert!(!account.to_string().contains(TOKEN_CANARY));
    account["id"].as_str().unwrap().to_owned()
}

fn names(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item["name"].as_str().unwrap().to_owned())
        .collect()
}

/// Every item of a list, following its cursors.
async fn all(app: &TestApp, actor: &Actor, path: &str) -> Vec<Value> {
    let mut items = Vec::new();
    let mut next = Some(path.to_owned());
    while let Some(url) = next {
        let page = app.get_ok(actor, &url).await;
        items.extend(page["items"].as_array().unwrap().iter().cloned());
        let separator = if path.contains('?') { '&' } else { '?' };
        next = page["next_cursor"]
            .as_str()
            .map(|cursor| format!("{path}{separator}cursor={cursor}"));
    }
    items
}

fn scope<'a>(scopes: &'a Value, name: &str) -> &'a Value {
    scopes
        .as_array()
        .unwrap()
        .iter()
        .find(|scope| scope["scope"] == name)
        .unwrap_or_else(|| panic!("no scope {name} in {scopes}"))
}

#[tokio::test]
async fn a_kubeconfig_account_syncs_nodes_namespaces_and_workloads_page_by_page() {
    let stub = seeded_stub().await;
    let app = app().await;
    let tenant = app.tenant("acme").await;
    let owner = app.member(tenant, BuiltinRole::Owner).await;
    let account = connect(&app, &owner, &stub).await;

    let tested = app
        .call(
            &owner.token,
            Method::POST,
            &format!("/api/v1/cloud-accounts/{account}/test"),
            None,
        )
        .await
        .json();
    assert_eq!(tested["ok"], true, "{tested}");
    assert!(
        tested["identity"]
            .as_str()
            .unwrap()
            .contains("v1.31.2+k3s1")
    );

    let job = app.sync(&owner, &account).await;
    assert_eq!(job["state"], "succeeded", "{job}");
    assert_eq!(job["resources"], 1 + 3 + 4 + 5 + 1, "{job}");

    // The cluster itself, its version and distribution, and its node count from the nodes.
    let clusters = app
        .get_ok(&owner, "/api/v1/clusters?provider=kubernetes")
        .await;
    let cluster = &clusters["items"][0];
    assert_eq!(cluster["name"], "edge-fra");
    assert_eq!(cluster["distribution"], "k3s");
    assert_eq!(cluster["region"], "fra-dc1");
    assert_eq!(cluster["node_count"], 3);
    assert_eq!(cluster["health"], "connected");
    let cluster_id = cluster["id"].as_str().unwrap();

    let nodes = app
        .get_ok(&owner, &format!("/api/v1/nodes?cluster_id={cluster_id}"))
        .await;
    assert_eq!(names(&nodes), ["node-a", "node-b", "node-c"]);
    assert_eq!(nodes["items"][2]["status"], "NotReady");
    assert_eq!(nodes["items"][0]["zone"], "fra-1a");
    assert_eq!(nodes["items"][0]["roles"], json!(["worker"]));
    assert_eq!(
        names(&app.get_ok(&owner, "/api/v1/nodes?status=notready").await),
        ["node-c"]
    );
    assert_eq!(
        all(&app, &owner, "/api/v1/namespaces?limit=2").await.len(),
        4
    );

    // Five Deployments came in three pages of the stub; every one is here.
    let deployments = all(&app, &owner, "/api/v1/workloads?kind=Deployment&limit=2").await;
    assert_eq!(deployments.len(), 5);
    let continued: Vec<_> = stub
        .calls()
        .into_iter()
        .filter(|call| call.path == kube_stub::DEPLOYMENTS)
        .filter_map(|call| call.query.get("continue").cloned())
        .collect();
    assert!(continued.contains(&"page-1".to_owned()) && continued.contains(&"page-2".to_owned()));
    let checkout = deployments
        .iter()
        .find(|w| w["name"] == "checkout")
        .unwrap();
    assert_eq!(checkout["replicas_desired"], 2);
    assert_eq!(checkout["replicas_ready"], 1);
    assert_eq!(checkout["images"], json!(["nginx:1.14.2"]));
    assert_eq!(checkout["app"], "shop");
    assert_eq!(checkout["cluster_name"], "edge-fra");
    // Filters: namespace, readiness, free text over namespace/name, labels.
    assert_eq!(
        names(&app.get_ok(&owner, "/api/v1/workloads?namespace=shop").await),
        ["cart", "checkout", "web"]
    );
    assert_eq!(
        names(&app.get_ok(&owner, "/api/v1/workloads?status=unready").await),
        ["checkout"]
    );
    assert_eq!(
        names(&app.get_ok(&owner, "/api/v1/workloads?q=SHOP%2Fw").await),
        ["web"]
    );
    assert_eq!(
        names(
            &app.get_ok(&owner, "/api/v1/workloads?label=app%3Dgrafana")
                .await
        ),
        ["grafana"]
    );
    let cron = app.get_ok(&owner, "/api/v1/workloads?kind=CronJob").await;
    assert_eq!(cron["items"][0]["images"], json!(["busybox:1.28"]));
    assert_eq!(cron["items"][0]["replicas_ready"], 1);
    let bad = app
        .call(
            &owner.token,
            Method::GET,
            "/api/v1/workloads?status=sleepy",
            None,
        )
        .await;
    assert_eq!(bad.status, 422, "{}", bad.text());

    // Gone from the cluster → gone after the next complete listing.
    stub.set_items(
        kube_stub::DEPLOYMENTS,
        vec![kube_stub::deployment("shop", "cart", "shop", 3, 3)],
    );
    assert_eq!(app.sync(&owner, &account).await["state"], "succeeded");
    assert_eq!(
        names(
            &app.get_ok(&owner, "/api/v1/workloads?kind=Deployment")
                .await
        ),
        ["cart"]
    );

    // The token never shows: answers, audit rows, stored rows.
    let mut owner_db = app.owner().await;
    let leaked: i64 = sqlx::query_scalar(
        "SELECT (SELECT count(*) FROM audit_log WHERE details::text LIKE '%' || $1 || '%')
              + (SELECT count(*) FROM cloud_accounts WHERE settings::text LIKE '%' || $1 || '%')",
    )
    .bind("kube-canary-token")
    .fetch_one(&mut owner_db)
    .await
    .unwrap();
    assert_eq!(leaked, 0);
    let accounts = app.get_ok(&owner, "/api/v1/cloud-accounts").await;
    assert!(!accounts.to_string().contains("kube-canary-token"));
}

#[tokio::test]
async fn a_failing_second_page_keeps_every_row_and_marks_only_that_scope_stale() {
    let stub = seeded_stub().await;
    let app = app().await;
    let tenant = app.tenant("acme").await;
    let owner = app.member(tenant, BuiltinRole::Owner).await;
    let account = connect(&app, &owner, &stub).await;
    assert_eq!(app.sync(&owner, &account).await["state"], "succeeded");

    // One Deployment is gone, and page 2 of 3 fails every time: nothing may be deleted.
    stub.set_items(
        kube_stub::DEPLOYMENTS,
        vec![
            kube_stub::deployment("shop", "cart", "shop", 3, 3),
            kube_stub::deployment("shop", "checkout", "shop", 2, 2),
            kube_stub::deployment("shop", "web", "shop", 4, 4),
            kube_stub::deployment("monitoring", "grafana", "grafana", 1, 1),
            kube_stub::deployment("kube-system", "metrics-server", "metrics", 1, 1),
        ],
    );
    stub.set_fault(kube_stub::DEPLOYMENTS, Fault::FailPage { index: 1 });
    let job = app.sync(&owner, &account).await;
    assert_eq!(job["state"], "partial", "{job}");
    assert!(
        job["error"].as_str().unwrap().contains("leader changed"),
        "{job}"
    );
    let kept = names(
        &app.get_ok(&owner, "/api/v1/workloads?kind=Deployment")
            .await,
    );
    assert!(
        kept.contains(&"coredns".to_owned()),
        "nothing deleted: {kept:?}"
    );
    // Page 1 was stored as it arrived (checkout is ready now).
    let checkout = app.get_ok(&owner, "/api/v1/workloads?q=checkout").await;
    assert_eq!(checkout["items"][0]["replicas_ready"], 2);
    assert_eq!(checkout["items"][0]["health"], "degraded");

    let scopes = app
        .get_ok(&owner, &format!("/api/v1/cloud-accounts/{account}/scopes"))
        .await;
    let deployments = scope(&scopes, "workloads/Deployment");
    assert_eq!(deployments["stale"], true);
    assert!(deployments["last_success_at"].is_string(), "{deployments}");
    assert_eq!(scope(&scopes, "nodes")["stale"], false);
    let status = app
        .get_ok(&owner, &format!("/api/v1/cloud-accounts/{account}"))
        .await;
    assert_eq!(status["status"], "degraded");

    // Healed: the next sync completes the listing and sweeps what is gone.
    stub.clear_faults();
    assert_eq!(app.sync(&owner, &account).await["state"], "succeeded");
    let now = names(
        &app.get_ok(&owner, "/api/v1/workloads?kind=Deployment")
            .await,
    );
    assert_eq!(
        now,
        ["cart", "checkout", "grafana", "metrics-server", "web"]
    );
}

#[tokio::test]
async fn throttling_and_server_errors_are_retried_with_retry_after_honoured() {
    let stub = seeded_stub().await;
    let app = app().await;
    let tenant = app.tenant("acme").await;
    let owner = app.member(tenant, BuiltinRole::Owner).await;
    let account = connect(&app, &owner, &stub).await;
    stub.set_fault(
        kube_stub::NODES,
        Fault::Throttle {
            times: 1,
            retry_after_secs: 1,
        },
    );
    stub.set_fault(kube_stub::NAMESPACES, Fault::ServerError { times: 2 });

    let job = app.sync(&owner, &account).await;
    assert_eq!(job["state"], "succeeded", "{job}");
    let node_calls: Vec<_> = stub
        .calls()
        .into_iter()
        .filter(|call| call.path == kube_stub::NODES && !call.query.contains_key("continue"))
        .collect();
    // authenticate() does not list nodes: the throttled call and its retry.
    assert_eq!(node_calls.len(), 2, "{node_calls:?}");
    let waited = node_calls[1].at - node_calls[0].at;
    assert!(
        waited >= Duration::from_millis(950),
        "retried after {waited:?}"
    );
    assert_eq!(all(&app, &owner, "/api/v1/namespaces").await.len(), 4);
}

#[tokio::test]
async fn refused_permissions_pause_the_account_and_keep_its_inventory() {
    let stub = seeded_stub().await;
    let app = app().await;
    let tenant = app.tenant("acme").await;
    let owner = app.member(tenant, BuiltinRole::Owner).await;
    let account = connect(&app, &owner, &stub).await;
    assert_eq!(app.sync(&owner, &account).await["state"], "succeeded");

    // RBAC taken away: every list is forbidden.
    for path in [
        kube_stub::NODES,
        kube_stub::NAMESPACES,
        kube_stub::DEPLOYMENTS,
    ] {
        stub.set_fault(path, Fault::Forbidden);
    }
    let job = app.sync(&owner, &account).await;
    assert_eq!(job["state"], "failed", "{job}");
    let status = app
        .get_ok(&owner, &format!("/api/v1/cloud-accounts/{account}"))
        .await;
    assert_eq!(status["status"], "paused", "{status}");
    assert!(
        status["status_reason"]
            .as_str()
            .unwrap()
            .contains("forbidden"),
        "{status}"
    );
    assert_eq!(
        all(&app, &owner, "/api/v1/nodes").await.len(),
        3,
        "inventory kept"
    );
    let tested = app
        .call(
            &owner.token,
            Method::POST,
            &format!("/api/v1/cloud-accounts/{account}/test"),
            None,
        )
        .await
        .json();
    assert_eq!(tested["ok"], false);
    let message = tested["checks"][0]["message"].as_str().unwrap();
    assert!(message.contains("grant `list` on nodes"), "{tested}");

    // A revoked token pauses it too; a paused account is not scheduled again.
    stub.clear_faults();
    stub.set_token("rotated");
    let job = app.sync(&owner, &account).await;
    assert_eq!(job["state"], "failed");
    let status = app
        .get_ok(&owner, &format!("/api/v1/cloud-accounts/{account}"))
        .await;
    assert_eq!(status["status"], "paused");
    assert!(
        status["status_reason"]
            .as_str()
            .unwrap()
            .contains("refused"),
        "{status}"
    );
    assert_eq!(
        all(&app, &owner, "/api/v1/workloads").await.len(),
        6,
        "inventory kept"
    );
}

#[tokio::test]
async fn a_slow_api_server_hits_the_call_deadline_and_leaves_the_scope_stale() {
    let stub = seeded_stub().await;
    let app = app().await;
    let tenant = app.tenant("acme").await;
    let owner = app.member(tenant, BuiltinRole::Owner).await;
    let account = connect(&app, &owner, &stub).await;
    stub.set_fault(kube_stub::DAEMONSETS, Fault::Slow(Duration::from_secs(10)));
    let started = std::time::Instant::now();
    let job = app.sync(&owner, &account).await;
    assert!(
        started.elapsed() < Duration::from_secs(9),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(job["state"], "partial", "{job}");
    assert!(
        job["error"]
            .as_str()
            .unwrap()
            .contains("did not answer in time"),
        "{job}"
    );
    let scopes = app
        .get_ok(&owner, &format!("/api/v1/cloud-accounts/{account}/scopes"))
        .await;
    assert_eq!(scope(&scopes, "workloads/DaemonSet")["stale"], true);
    assert_eq!(scope(&scopes, "workloads/Deployment")["stale"], false);
}

#[tokio::test]
async fn a_cluster_that_stops_answering_is_lost_once_with_an_event_and_a_notification() {
    let stub = seeded_stub().await;
    let app = app().await;
    let tenant = app.tenant("acme").await;
    let owner = app.member(tenant, BuiltinRole::Owner).await;
    let account = connect(&app, &owner, &stub).await;
    assert_eq!(app.sync(&owner, &account).await["state"], "succeeded");
    let by_health = |connected: i64, lost: i64| {
        json!({
            "connected": connected, "degraded": 0, "lost": lost,
            "by_provider": [{ "provider": "kubernetes", "connected": connected, "degraded": 0, "lost": lost }],
        })
    };
    assert_eq!(
        app.get_ok(&owner, "/api/v1/clusters/health").await,
        by_health(1, 0)
    );

    let mut events = sqlx::postgres::PgListener::connect_with(&app.state.db)
        .await
        .unwrap();
    events.listen(nimbus::events::CHANNEL).await.unwrap();
    stub.set_fault(kube_stub::VERSION, Fault::ServerError { times: 1000 });
    assert_eq!(app.sync(&owner, &account).await["state"], "failed");
    let status = app
        .get_ok(&owner, &format!("/api/v1/cloud-accounts/{account}"))
        .await;
    assert_eq!(status["status"], "lost", "{status}");
    assert_eq!(
        all(&app, &owner, "/api/v1/nodes").await.len(),
        3,
        "inventory kept"
    );

    let mut kinds = Vec::new();
    while let Ok(Ok(notification)) =
        tokio::time::timeout(Duration::from_millis(500), events.recv()).await
    {
        let event: Value = serde_json::from_str(notification.payload()).unwrap();
        kinds.push(event["kind"].as_str().unwrap().to_owned());
    }
    for kind in ["health.changed", "cluster.lost", "sync.finished"] {
        assert!(kinds.iter().any(|k| k == kind), "{kind} in {kinds:?}");
    }
    let lost = |notifications: &Value| {
        notifications["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|n| n["kind"] == "cluster.lost")
            .cloned()
            .collect::<Vec<_>>()
    };
    let notifications = app.get_ok(&owner, "/api/v1/notifications").await;
    let raised = lost(&notifications);
    assert_eq!(raised.len(), 1, "{notifications}");
    assert!(
        raised[0]["title"].as_str().unwrap().contains("edge-fra"),
        "{notifications}"
    );
    assert_eq!(raised[0]["details"]["clusters"], 1);
    assert_eq!(
        app.get_ok(&owner, "/api/v1/clusters/health").await,
        by_health(0, 1),
        "the overview counts it lost"
    );
    let other = app.tenant("other").await;
    let outsider = app.member(other, BuiltinRole::Owner).await;
    assert_eq!(
        app.get_ok(&outsider, "/api/v1/clusters/health").await,
        json!({ "connected": 0, "degraded": 0, "lost": 0, "by_provider": [] }),
        "another tenant counts none of them"
    );

    // Still unreachable: no second notification.
    assert_eq!(app.sync(&owner, &account).await["state"], "failed");
    assert_eq!(
        lost(&app.get_ok(&owner, "/api/v1/notifications").await).len(),
        1
    );
}

#[tokio::test]
async fn kubeconfigs_that_run_commands_or_read_files_are_refused_and_other_tenants_see_nothing() {
    let stub = seeded_stub().await;
    let app = app().await;
    let tenant = app.tenant("acme").await;
    let owner = app.member(tenant, BuiltinRole::Owner).await;
    let exec = stub.kubeconfig(TOKEN_CANARY).replace(
        &format!("    token: {TOKEN_CANARY}\n"),
        "    exec:\n      apiVersion: client.authentication.k8s.io/v1beta1\n      command: /bin/sh\n      args: [-c, 'cat /etc/shadow']\n",
    );
    let refused = app
        .call(
            &owner.token,
            Method::POST,
            "/api/v1/cloud-accounts",
            Some(json!({
                "name": "evil",
                "settings": { "provider": "kubernetes" },
                "credentials": { "kind": "kubeconfig", "kubeconfig": exec },
            })),
        )
        .await;
    assert_eq!(refused.status, 422, "{}", refused.text());
    assert!(
        refused.text().contains("runs a command"),
        "{}",
        refused.text()
    );

    // Tenant B cannot test, sync or read tenant A's account, and the cluster hears nothing.
    let account = connect(&app, &owner, &stub).await;
    let other = app.tenant("other").await;
    let intruder = app.member(other, BuiltinRole::Owner).await;
    let before = stub.calls().len();
    for (method, path) in [
        (
            Method::POST,
            format!("/api/v1/cloud-accounts/{account}/test"),
        ),
        (
            Method::POST,
            format!("/api/v1/cloud-accounts/{account}/syncs"),
        ),
        (Method::GET, format!("/api/v1/cloud-accounts/{account}")),
    ] {
        let response = app.call(&intruder.token, method, &path, None).await;
        assert_eq!(response.status, 404, "{path}");
    }
    assert_eq!(stub.calls().len(), before, "the stub saw no call");
}

/// A FOCUS bill of October 2026 with lines tagged by app.
fn tagged_bill() -> String {
    let header = "BilledCost,BillingAccountId,BillingAccountName,BillingCurrency,BillingPeriodEnd,BillingPeriodStart,ChargeCategory,ChargeClass,ChargeDescription,ChargePeriodEnd,ChargePeriodStart,ContractedCost,EffectiveCost,InvoiceIssuerName,ListCost,PricingQuantity,PricingUnit,ProviderName,PublisherName,ServiceCategory,ServiceName,Tags";
    let line = |cost: &str, day: u32, tags: &str| {
        format!(
            "{cost},acct-k,K,USD,2026-11-01T00:00:00Z,2026-10-01T00:00:00Z,Usage,,VM,2026-10-{:02}T00:00:00Z,2026-10-{day:02}T00:00:00Z,{cost},{cost},K,{cost},1,Hours,AWS,AWS,Compute,EC2,\"{tags}\"",
            day + 1
        )
    };
    [
        header.to_owned(),
        line("1.50", 3, r#"{""app"":""shop""}"#),
        line("2.25", 4, r#"{""app"":""shop"",""team"":""web""}"#),
        line("9.00", 4, r#"{""app"":""grafana""}"#),
        line("4.00", 5, r#"{""team"":""ops""}"#),
    ]
    .join("\n")
        + "\n"
}

#[tokio::test]
async fn apps_gather_workloads_across_clusters_with_health_and_tagged_cost() {
    let app = app().await;
    let tenant = app.tenant("acme").await;
    let owner = app.member(tenant, BuiltinRole::Owner).await;
    let first = seeded_stub().await;
    let second = KubeStub::start(TOKEN_CANARY).await;
    second.set_items(
        kube_stub::DEPLOYMENTS,
        vec![kube_stub::deployment("shop", "web", "shop", 2, 0)],
    );
    for (name, stub) in [("edge-fra", &first), ("edge-ams", &second)] {
        let response = app
            .call(
                &owner.token,
                Method::POST,
                "/api/v1/cloud-accounts",
                Some(json!({
                    "name": name,
                    "settings": { "provider": "kubernetes" },
                    "credentials": { "kind": "kubeconfig", "kubeconfig": stub.kubeconfig(TOKEN_CANARY) },
                })),
            )
            .await;
        assert_eq!(response.status, 201, "{}", response.text());
        let id = response.json()["id"].as_str().unwrap().to_owned();
        assert_eq!(app.sync(&owner, &id).await["state"], "succeeded");
    }
    let settings = app
        .call(
            &owner.token,
            Method::PUT,
            "/api/v1/cost/settings",
            Some(json!({ "tag_keys": ["app"] })),
        )
        .await;
    assert!(settings.status.is_success(), "{}", settings.text());
    let uploaded = app
        .upload_bill(&owner.token, "tagged.csv", tagged_bill().as_bytes())
        .await;
    assert_eq!(uploaded.status, 201, "{}", uploaded.text());

    let apps = app.get_ok(&owner, "/api/v1/apps?month=2026-10").await;
    assert_eq!(names(&apps), ["coredns", "grafana", "shop"]);
    let shop = &apps["items"][2];
    assert_eq!(shop["workloads"], 4);
    assert_eq!(shop["cluster_count"], 2);
    let clusters: Vec<&str> = shop["clusters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(clusters, ["edge-ams", "edge-fra"]);
    assert_eq!(shop["replicas_desired"], 3 + 2 + 4 + 2);
    assert_eq!(shop["replicas_ready"], 3 + 1 + 4);
    assert_eq!(shop["unhealthy_workloads"], 2);
    assert_eq!(
        shop["cost"],
        json!([{ "currency": "USD", "effective_cost": "3.75" }])
    );
    assert_eq!(apps["items"][1]["cost"][0]["effective_cost"], "9.00");
    assert_eq!(apps["items"][0]["cost"], json!([]));
    // Another month has no cost; search and paging.
    assert_eq!(
        app.get_ok(&owner, "/api/v1/apps?month=2026-09&q=sho").await["items"][0]["cost"],
        json!([])
    );
    // Only the apps short of ready replicas.
    assert_eq!(
        names(&app.get_ok(&owner, "/api/v1/apps?unhealthy=true").await),
        ["shop"]
    );
    let page = app.get_ok(&owner, "/api/v1/apps?limit=2").await;
    assert_eq!(names(&page), ["coredns", "grafana"]);
    let cursor = page["next_cursor"].as_str().unwrap();
    assert_eq!(
        names(
            &app.get_ok(&owner, &format!("/api/v1/apps?limit=2&cursor={cursor}"))
                .await
        ),
        ["shop"]
    );
}

#[tokio::test]
async fn a_worker_starts_the_next_queued_sync_as_soon_as_one_finishes() {
    let mut config = test_config(None);
    config.outbound.allow_http = true;
    config.outbound.allow_private_networks = true;
    // One sync at a time, and a poll interval no test would wait out.
    config.clouds.workers = 1;
    config.clouds.poll_interval = Duration::from_secs(300);
    let app = TestApp::with_config(config).await;
    let tenant = app.tenant("acme").await;
    let owner = app.member(tenant, BuiltinRole::Owner).await;
    let stub = seeded_stub().await;
    let mut jobs = Vec::new();
    for n in 0..3 {
        let created = app
            .call(
                &owner.token,
                Method::POST,
                "/api/v1/cloud-accounts",
                Some(json!({
                    "name": format!("edge-{n}"),
                    "settings": { "provider": "kubernetes" },
                    "credentials": { "kind": "kubeconfig", "kubeconfig": stub.kubeconfig(TOKEN_CANARY) },
                })),
            )
            .await;
        assert_eq!(created.status, 201, "{}", created.text());
        let account = created.json()["id"].as_str().unwrap().to_owned();
        jobs.push(app.queue_sync(&owner, &account).await);
    }
    let workers = tokio::spawn(nimbus::clouds::sync::run_workers(app.state.clone()));
    let all_done = async {
        for job in &jobs {
            loop {
                let state = app
                    .get_ok(&owner, &format!("/api/v1/sync-jobs/{job}"))
                    .await;
                if state["state"] == "succeeded" {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    };
    let finished = tokio::time::timeout(Duration::from_secs(60), all_done).await;
    workers.abort();
    assert!(
        finished.is_ok(),
        "the queued syncs waited for the poll interval"
    );
}
