//! Azure, Google Cloud and Alibaba Cloud accounts against a stand-in of their APIs
//! (`nimbus_tests::cloud_stub`): real sign-in (client secret or certificate assertion, JWT
//! bearer grant, V3 signatures), AKS / GKE / ACK clusters with node pools and VMs through each
//! provider's paging, and the faults every test of the Kubernetes connector throws — per cloud.

use std::time::Duration;

use axum::http::Method;
use nimbus_api_types::rbac::BuiltinRole;
use nimbus_tests::cloud_stub::{self as stub, CloudStub, Fault};
use nimbus_tests::{Actor, TestApp, test_config};
use serde_json::{Value, json};

const AZURE_SECRET: &str = "azure-secret-canary-7f3e9d~Qx8";
const ALIBABA_SECRET: &str = "alibaba-secret-canary-4c2b81Zk";

/// One cloud as the tests drive it.
#[derive(Clone, Copy, Debug)]
struct Cloud {
    provider: &'static str,
    clusters: &'static str,
    vms: &'static str,
    /// What a scope is per: subscription, project or region.
    scope: &'static str,
    /// Seeded clusters (GKE lists all at once; the others page).
    cluster_count: usize,
    /// Its throttling answer carries `Retry-After: 1`.
    retry_after: bool,
    /// Words of "test connection" when a permission is missing.
    grant_hint: &'static str,
    /// Part of the identity "test connection" reports.
    identity: &'static str,
}

const CLOUDS: [Cloud; 3] = [
    Cloud {
        provider: "azure",
        clusters: stub::AKS_CLUSTERS,
        vms: stub::AZURE_VMS,
        scope: stub::AZURE_SUBSCRIPTION,
        cluster_count: 5,
        retry_after: true,
        grant_hint: "Reader role",
        identity: stub::AZURE_CLIENT_ID,
    },
    Cloud {
        provider: "gcp",
        clusters: stub::GKE_CLUSTERS,
        vms: stub::GCE_INSTANCES,
        scope: stub::GCP_PROJECT,
        cluster_count: 3,
        retry_after: true,
        grant_hint: "roles/container.viewer",
        identity: stub::GCP_CLIENT_EMAIL,
    },
    Cloud {
        provider: "alibaba",
        clusters: stub::ACK_CLUSTERS,
        vms: stub::ECS_INSTANCES,
        scope: stub::ALIBABA_REGION,
        cluster_count: 5,
        retry_after: false,
        grant_hint: "AliyunCSReadOnlyAccess",
        identity: "acs:ram::1968132000120000:user/nimbus-reader",
    },
];

async fn app() -> TestApp {
    let mut config = test_config(None);
    config.outbound.allow_http = true;
    config.outbound.allow_private_networks = true;
    config.clouds.call_timeout = Duration::from_secs(3);
    config.clouds.max_attempts = 3;
    TestApp::with_config(config).await
}

/// Five VMs per cloud (three pages of two), and clusters with two node pools.
async fn seeded_stub() -> CloudStub {
    let stub = CloudStub::start(AZURE_SECRET, ALIBABA_SECRET).await;
    let pools = [
        ("system", 3, "Standard_D4s_v5"),
        ("user", 2, "Standard_D8s_v5"),
    ];
    stub.set_items(
        stub::AKS_CLUSTERS,
        (1..=5)
            .map(|n| stub::aks_cluster(&format!("aks-{n}"), "westeurope", "1.30.4", &pools))
            .collect(),
    );
    stub.set_items(
        stub::AZURE_VMS,
        (1..=5)
            .map(|n| {
                let power = if n == 5 { "deallocated" } else { "running" };
                stub::azure_vm(&format!("vm-{n}"), "westeurope", "Standard_B2s", power)
            })
            .collect(),
    );
    let gke_pools = [
        ("default-pool", 3, "e2-standard-4"),
        ("gpu", 1, "g2-standard-8"),
    ];
    stub.set_items(
        stub::GKE_CLUSTERS,
        vec![
            stub::gke_cluster("gke-eu", "europe-west1", "1.30.5-gke.1014001", &gke_pools),
            stub::gke_cluster("gke-us", "us-central1-a", "1.30.5-gke.1014001", &gke_pools),
            stub::gke_cluster("gke-asia", "asia-east1", "1.29.9-gke.1541000", &gke_pools),
        ],
    );
    stub.set_items(
        stub::GCE_INSTANCES,
        (1..=5)
            .map(|n| {
                let zone = if n % 2 == 0 {
                    "europe-west1-b"
                } else {
                    "us-central1-a"
                };
                stub::gce_instance(
                    1000 + n,
                    &format!("gce-{n}"),
                    zone,
                    "e2-medium",
                    "RUNNING",
                    &format!("10.128.0.{n}"),
                )
            })
            .collect(),
    );
    stub.set_items(
        stub::ACK_CLUSTERS,
        (1..=5)
            .map(|n| {
                stub::ack_cluster(
                    &format!("c{n}82f9a1b2c3d4e5f6"),
                    &format!("ack-{n}"),
                    "1.30.1-aliyun.1",
                )
            })
            .collect(),
    );
    stub.set_items(
        stub::ACK_NODE_POOLS,
        vec![
            stub::ack_node_pool("default-nodepool", "ecs.g7.xlarge", 3),
            stub::ack_node_pool("spot", "ecs.c7.large", 2),
        ],
    );
    stub.set_items(
        stub::ECS_INSTANCES,
        (1..=5)
            .map(|n| {
                stub::ecs_instance(
                    &format!("i-bp67acfmxazb4p{n:04}"),
                    &format!("ecs-{n}"),
                    "ecs.g7.large",
                    "Running",
                    &format!("172.17.0.{n}"),
                )
            })
            .collect(),
    );
    stub
}

fn account_input(cloud: &Cloud, stub: &CloudStub) -> Value {
    match cloud.provider {
        "azure" => json!({
            "name": "azure-prod",
            "settings": { "provider": "azure", "directory_id": stub::AZURE_DIRECTORY,
                          "subscription_ids": [stub::AZURE_SUBSCRIPTION],
                          "authority_url": stub.url, "resource_manager_url": stub.url },
            "credentials": { "kind": "azure_client_secret", "client_id": stub::AZURE_CLIENT_ID,
                             "client_secret": AZURE_SECRET },
        }),
        "gcp" => json!({
            "name": "gcp-prod",
            "settings": { "provider": "gcp", "endpoint_url": stub.url },
            "credentials": { "kind": "gcp_service_account_key", "key": stub.gcp_key_file() },
        }),
        _ => json!({
            "name": "alibaba-prod",
            "settings": { "provider": "alibaba", "regions": [stub::ALIBABA_REGION],
                          "endpoint_url": stub.url },
            "credentials": { "kind": "alibaba_access_key", "access_key_id": stub::ALIBABA_KEY_ID,
                             "access_key_secret": ALIBABA_SECRET },
        }),
    }
}

/// The secrets of every cloud's credential, none of which may ever be shown.
fn canaries() -> Vec<String> {
    let private_key = &stub::test_key().private_pem;
    // A line from the middle of the key: the base64 body, not the PEM markers.
    let key_line = private_key.lines().nth(5).unwrap().to_owned();
    vec![AZURE_SECRET.into(), ALIBABA_SECRET.into(), key_line]
}

async fn connect(app: &TestApp, actor: &Actor, cloud: &Cloud, stub: &CloudStub) -> String {
    let response = app
        .call(
            &actor.token,
            Method::POST,
            "/api/v1/cloud-accounts",
            Some(account_input(cloud, stub)),
        )
        .await;
    assert_eq!(
        response.status,
        201,
        "{}: {}",
        cloud.provider,
        response.text()
    );
    let account = response.json();
    for canary in canaries() {
        assert!(!response.text().contains(&canary), "{account}");
    }
    account["id"].as_str().unwrap().to_owned()
}

async fn test_connection(app: &TestApp, actor: &Actor, account: &str) -> Value {
    app.call(
        &actor.token,
        Method::POST,
        &format!("/api/v1/cloud-accounts/{account}/test"),
        None,
    )
    .await
    .json()
}

async fn count(app: &TestApp, actor: &Actor, path: &str) -> usize {
    app.get_ok(actor, path).await["items"]
        .as_array()
        .unwrap()
        .len()
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
async fn every_cloud_syncs_its_clusters_node_pools_and_vms_page_by_page() {
    let stub = seeded_stub().await;
    let app = app().await;
    let tenant = app.tenant("acme").await;
    let owner = app.member(tenant, BuiltinRole::Owner).await;
    for cloud in CLOUDS {
        let account = connect(&app, &owner, &cloud, &stub).await;
        let tested = test_connection(&app, &owner, &account).await;
        assert_eq!(tested["ok"], true, "{cloud:?}: {tested}");
        assert_eq!(tested["checks"].as_array().unwrap().len(), 2, "{tested}");
        let identity = tested["identity"].as_str().unwrap();
        assert!(identity.contains(cloud.identity), "{cloud:?}: {tested}");

        let vm_calls_before = stub.calls_to(cloud.vms).len();
        let job = app.sync(&owner, &account).await;
        assert_eq!(job["state"], "succeeded", "{cloud:?}: {job}");
        assert_eq!(job["resources"], cloud.cluster_count + 5, "{job}");
        // Five VMs in pages of two: three calls, each after the page before.
        assert_eq!(
            stub.calls_to(cloud.vms).len() - vm_calls_before,
            3,
            "{cloud:?}"
        );

        let clusters = app
            .get_ok(
                &owner,
                &format!("/api/v1/clusters?provider={}&limit=50", cloud.provider),
            )
            .await;
        let items = clusters["items"].as_array().unwrap();
        assert_eq!(items.len(), cloud.cluster_count, "{clusters}");
        let first = &items[0];
        assert_eq!(first["health"], "connected");
        assert_eq!(first["node_pools"].as_array().unwrap().len(), 2, "{first}");
        assert!(
            first["version"].as_str().unwrap().starts_with("1."),
            "{first}"
        );

        let vms = app
            .get_ok(
                &owner,
                &format!("/api/v1/vms?provider={}&limit=50", cloud.provider),
            )
            .await;
        assert_eq!(vms["items"].as_array().unwrap().len(), 5, "{vms}");
        let account_json = app
            .get_ok(&owner, &format!("/api/v1/cloud-accounts/{account}"))
            .await;
        assert_eq!(account_json["status"], "connected", "{account_json}");
    }

    // What each provider said, read into the common shape.
    let aks = app
        .get_ok(&owner, "/api/v1/clusters?provider=azure&q=aks-1")
        .await;
    let aks = &aks["items"][0];
    assert_eq!(aks["distribution"], "aks");
    assert_eq!(aks["region"], "westeurope");
    assert_eq!(aks["version"], "1.30.4");
    assert_eq!(aks["status"], "Running");
    assert_eq!(aks["node_count"], 5);
    assert_eq!(
        aks["node_pools"][1]["instance_types"],
        json!(["Standard_D8s_v5"])
    );
    assert_eq!(aks["labels"]["tier"], "production");
    let gke = app
        .get_ok(&owner, "/api/v1/clusters?provider=gcp&q=gke-us")
        .await;
    let gke = &gke["items"][0];
    assert_eq!(gke["distribution"], "gke");
    assert_eq!(
        gke["region"], "us-central1",
        "a zonal cluster's region: {gke}"
    );
    assert_eq!(gke["node_count"], 4);
    assert_eq!(gke["node_pools"][0]["max"], 6);
    let ack = app
        .get_ok(&owner, "/api/v1/clusters?provider=alibaba&q=ack-2")
        .await;
    let ack = &ack["items"][0];
    assert_eq!(ack["distribution"], "ack");
    assert_eq!(ack["region"], stub::ALIBABA_REGION);
    assert_eq!(ack["status"], "running");
    assert_eq!(
        ack["node_pools"][0]["instance_types"],
        json!(["ecs.g7.xlarge"])
    );
    assert_eq!(ack["node_pools"][1]["desired"], 2);
    assert_eq!(ack["labels"]["env"], "prod");

    let stopped = app
        .get_ok(&owner, "/api/v1/vms?provider=azure&q=vm-5")
        .await;
    assert_eq!(stopped["items"][0]["state"], "deallocated", "{stopped}");
    assert_eq!(stopped["items"][0]["instance_type"], "Standard_B2s");
    let gce = app.get_ok(&owner, "/api/v1/vms?provider=gcp&q=gce-2").await;
    assert_eq!(gce["items"][0]["zone"], "europe-west1-b", "{gce}");
    assert_eq!(gce["items"][0]["region"], "europe-west1");
    assert_eq!(gce["items"][0]["instance_type"], "e2-medium");
    assert_eq!(gce["items"][0]["private_ip"], "10.128.0.2");
    let ecs = app
        .get_ok(&owner, "/api/v1/vms?provider=alibaba&q=ecs-3")
        .await;
    assert_eq!(ecs["items"][0]["private_ip"], "172.17.0.3", "{ecs}");
    assert_eq!(ecs["items"][0]["state"], "Running");

    // The project came from the key file when none was named.
    let accounts = app.get_ok(&owner, "/api/v1/cloud-accounts").await;
    let gcp = accounts
        .as_array()
        .or_else(|| accounts["items"].as_array())
        .unwrap()
        .iter()
        .find(|account| account["provider"] == "gcp")
        .unwrap()
        .clone();
    assert_eq!(gcp["settings"]["project_ids"], json!([stub::GCP_PROJECT]));

    // No secret in any answer, audit row or stored setting.
    let mut owner_db = app.owner().await;
    for canary in canaries() {
        assert!(!accounts.to_string().contains(&canary));
        let leaked: i64 = sqlx::query_scalar(
            "SELECT (SELECT count(*) FROM audit_log WHERE details::text LIKE '%' || $1 || '%')
                  + (SELECT count(*) FROM cloud_accounts WHERE settings::text LIKE '%' || $1 || '%')
                  + (SELECT count(*) FROM sync_jobs WHERE coalesce(error, '') LIKE '%' || $1 || '%')",
        )
        .bind(&canary)
        .fetch_one(&mut owner_db)
        .await
        .unwrap();
        assert_eq!(leaked, 0, "{canary}");
    }
}

#[tokio::test]
async fn a_failing_page_a_throttle_a_server_error_and_a_slow_answer_on_every_cloud() {
    let stub = seeded_stub().await;
    let app = app().await;
    let tenant = app.tenant("acme").await;
    let owner = app.member(tenant, BuiltinRole::Owner).await;
    for cloud in CLOUDS {
        let account = connect(&app, &owner, &cloud, &stub).await;
        assert_eq!(app.sync(&owner, &account).await["state"], "succeeded");
        let vms_path = format!("/api/v1/vms?provider={}&limit=50", cloud.provider);
        let vms_scope = format!("vms/{}", cloud.scope);
        let clusters_scope = format!("clusters/{}", cloud.scope);

        // One VM is gone and page 2 of 3 fails every time: nothing may be deleted.
        let mut fewer = match cloud.provider {
            "azure" => (1..=4)
                .map(|n| {
                    stub::azure_vm(&format!("vm-{n}"), "westeurope", "Standard_B2s", "running")
                })
                .collect::<Vec<_>>(),
            "gcp" => (1..=4)
                .map(|n| {
                    stub::gce_instance(
                        1000 + n,
                        &format!("gce-{n}"),
                        "us-central1-a",
                        "e2-medium",
                        "RUNNING",
                        "10.0.0.1",
                    )
                })
                .collect(),
            _ => (1..=4)
                .map(|n| {
                    stub::ecs_instance(
                        &format!("i-bp67acfmxazb4p{n:04}"),
                        &format!("ecs-{n}"),
                        "ecs.g7.large",
                        "Running",
                        "172.17.0.9",
                    )
                })
                .collect(),
        };
        stub.set_items(cloud.vms, fewer.clone());
        stub.set_fault(cloud.vms, Fault::FailPage { index: 1 });
        let job = app.sync(&owner, &account).await;
        assert_eq!(job["state"], "partial", "{cloud:?}: {job}");
        assert!(job["error"].as_str().unwrap().contains("500"), "{job}");
        assert_eq!(
            count(&app, &owner, &vms_path).await,
            5,
            "{cloud:?}: nothing deleted"
        );
        let scopes = app
            .get_ok(&owner, &format!("/api/v1/cloud-accounts/{account}/scopes"))
            .await;
        assert_eq!(scope(&scopes, &vms_scope)["stale"], true, "{scopes}");
        assert!(scope(&scopes, &vms_scope)["last_success_at"].is_string());
        assert_eq!(scope(&scopes, &clusters_scope)["stale"], false, "{scopes}");
        let status = app
            .get_ok(&owner, &format!("/api/v1/cloud-accounts/{account}"))
            .await;
        assert_eq!(status["status"], "degraded");

        // Healed: the listing completes and what is gone is swept.
        stub.clear_faults();
        assert_eq!(app.sync(&owner, &account).await["state"], "succeeded");
        assert_eq!(count(&app, &owner, &vms_path).await, 4, "{cloud:?}");

        // Throttled once, then two server errors: both retried inside one sync.
        stub.set_fault(
            cloud.clusters,
            Fault::Throttle {
                times: 1,
                retry_after_secs: 1,
            },
        );
        stub.set_fault(cloud.vms, Fault::ServerError { times: 2 });
        let before = stub.calls_to(cloud.clusters).len();
        let job = app.sync(&owner, &account).await;
        assert_eq!(job["state"], "succeeded", "{cloud:?}: {job}");
        let calls = stub.calls_to(cloud.clusters);
        let throttled = &calls[before..];
        assert!(throttled.len() >= 2, "{cloud:?}: {throttled:?}");
        if cloud.retry_after {
            let waited = throttled[1].at - throttled[0].at;
            assert!(
                waited >= Duration::from_millis(950),
                "{cloud:?}: retried after {waited:?}"
            );
        }
        assert_eq!(count(&app, &owner, &vms_path).await, 4);

        // A slow answer meets the call deadline: that scope is stale, the others are not.
        stub.clear_faults();
        stub.set_fault(cloud.clusters, Fault::Slow(Duration::from_secs(10)));
        let started = std::time::Instant::now();
        let job = app.sync(&owner, &account).await;
        assert!(
            started.elapsed() < Duration::from_secs(9),
            "{:?}",
            started.elapsed()
        );
        assert_eq!(job["state"], "partial", "{cloud:?}: {job}");
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
        assert_eq!(scope(&scopes, &clusters_scope)["stale"], true);
        assert_eq!(scope(&scopes, &vms_scope)["stale"], false);
        stub.clear_faults();
        fewer.clear();
    }
}

#[tokio::test]
async fn refused_permissions_or_credentials_pause_every_cloud_and_keep_its_inventory() {
    let stub = seeded_stub().await;
    let app = app().await;
    let tenant = app.tenant("acme").await;
    let owner = app.member(tenant, BuiltinRole::Owner).await;
    let mut accounts = Vec::new();
    for cloud in CLOUDS {
        let account = connect(&app, &owner, &cloud, &stub).await;
        assert_eq!(app.sync(&owner, &account).await["state"], "succeeded");
        accounts.push((cloud, account));
    }
    for (cloud, account) in &accounts {
        stub.set_fault(cloud.clusters, Fault::Forbidden);
        stub.set_fault(cloud.vms, Fault::Forbidden);
        let job = app.sync(&owner, account).await;
        assert_eq!(job["state"], "failed", "{cloud:?}: {job}");
        let status = app
            .get_ok(&owner, &format!("/api/v1/cloud-accounts/{account}"))
            .await;
        assert_eq!(status["status"], "paused", "{status}");
        assert!(
            status["status_reason"]
                .as_str()
                .unwrap()
                .contains("permission denied"),
            "{status}"
        );
        assert_eq!(
            count(
                &app,
                &owner,
                &format!("/api/v1/vms?provider={}&limit=50", cloud.provider)
            )
            .await,
            5,
            "{cloud:?}: inventory kept"
        );
        let tested = test_connection(&app, &owner, account).await;
        assert_eq!(tested["ok"], false);
        let message = tested["checks"][0]["message"].as_str().unwrap();
        assert!(message.contains(cloud.grant_hint), "{tested}");
        stub.clear_faults();
    }

    // The secret rotated, the key deleted: each cloud refuses the credential itself.
    stub.revoke_credentials();
    for (cloud, account) in &accounts {
        let job = app.sync(&owner, account).await;
        assert_eq!(job["state"], "failed", "{cloud:?}: {job}");
        let status = app
            .get_ok(&owner, &format!("/api/v1/cloud-accounts/{account}"))
            .await;
        assert_eq!(status["status"], "paused", "{status}");
        let reason = status["status_reason"].as_str().unwrap();
        let expected = match cloud.provider {
            "azure" => "AADSTS7000215",
            "gcp" => "invalid_grant",
            _ => "refused",
        };
        assert!(reason.contains(expected), "{cloud:?}: {reason}");
        for canary in canaries() {
            assert!(!reason.contains(&canary));
        }
        assert_eq!(
            count(
                &app,
                &owner,
                &format!("/api/v1/clusters?provider={}&limit=50", cloud.provider)
            )
            .await,
            cloud.cluster_count,
            "{cloud:?}: inventory kept"
        );
    }
}

#[tokio::test]
async fn an_azure_certificate_signs_in_and_bad_credentials_are_refused_with_the_reason() {
    let stub = seeded_stub().await;
    let app = app().await;
    let tenant = app.tenant("acme").await;
    let owner = app.member(tenant, BuiltinRole::Owner).await;
    let mut input = account_input(&CLOUDS[0], &stub);
    input["credentials"] = json!({
        "kind": "azure_client_certificate", "client_id": stub::AZURE_CLIENT_ID,
        "certificate": stub::AZURE_CERTIFICATE, "private_key": stub::test_key().private_pem,
    });
    let created = app
        .call(
            &owner.token,
            Method::POST,
            "/api/v1/cloud-accounts",
            Some(input.clone()),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text());
    let account = created.json()["id"].as_str().unwrap().to_owned();
    let tested = test_connection(&app, &owner, &account).await;
    assert_eq!(tested["ok"], true, "{tested}");
    assert_eq!(app.sync(&owner, &account).await["state"], "succeeded");
    let assertion_calls = stub.calls_to(stub::AZURE_TOKEN).len();
    assert!(assertion_calls >= 2, "signed in for the test and the sync");

    // Refused on the way in, each with what to fix, and never echoing the secret.
    let bad = [
        (
            json!({ "directory_id": "contoso.onmicrosoft.com" }),
            json!(null),
            "directory_id",
        ),
        (
            json!({ "subscription_ids": ["prod"] }),
            json!(null),
            "subscription_ids",
        ),
        (
            json!({}),
            json!({ "kind": "azure_client_secret", "client_id": "my-app", "client_secret": AZURE_SECRET }),
            "client_id",
        ),
        (
            json!({}),
            json!({ "kind": "azure_client_certificate", "client_id": stub::AZURE_CLIENT_ID,
                            "certificate": "not pem", "private_key": stub::test_key().private_pem }),
            "certificate",
        ),
        (
            json!({}),
            json!({ "kind": "gcp_service_account_key", "key": "{}" }),
            "not a credential for azure",
        ),
    ];
    for (settings_patch, credentials, field) in bad {
        let mut body = account_input(&CLOUDS[0], &stub);
        body["name"] = json!("another");
        for (key, value) in settings_patch.as_object().unwrap() {
            body["settings"][key] = value.clone();
        }
        if !credentials.is_null() {
            body["credentials"] = credentials;
        }
        let refused = app
            .call(
                &owner.token,
                Method::POST,
                "/api/v1/cloud-accounts",
                Some(body),
            )
            .await;
        assert_eq!(refused.status, 422, "{field}: {}", refused.text());
        assert!(
            refused.text().contains(field),
            "{field}: {}",
            refused.text()
        );
        assert!(!refused.text().contains(AZURE_SECRET));
    }
    let mut gcp = account_input(&CLOUDS[1], &stub);
    gcp["credentials"]["key"] = json!(
        stub.gcp_key_file()
            .replace("service_account", "authorized_user")
    );
    let refused = app
        .call(
            &owner.token,
            Method::POST,
            "/api/v1/cloud-accounts",
            Some(gcp),
        )
        .await;
    assert_eq!(refused.status, 422, "{}", refused.text());
    assert!(
        refused.text().contains("authorized_user"),
        "{}",
        refused.text()
    );
    assert!(!refused.text().contains(&canaries()[2]));
    let mut alibaba = account_input(&CLOUDS[2], &stub);
    alibaba["settings"]["regions"] = json!(["Hangzhou"]);
    let refused = app
        .call(
            &owner.token,
            Method::POST,
            "/api/v1/cloud-accounts",
            Some(alibaba),
        )
        .await;
    assert_eq!(refused.status, 422);
    assert!(
        refused.text().contains("Alibaba Cloud region"),
        "{}",
        refused.text()
    );

    // Another tenant cannot test, sync or read the account, and the cloud sees no call.
    let other = app.tenant("globex").await;
    let intruder = app.member(other, BuiltinRole::Owner).await;
    let calls = stub.calls().len();
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
    app.run_queued_syncs().await;
    assert_eq!(stub.calls().len(), calls, "the stub saw no call");
}
