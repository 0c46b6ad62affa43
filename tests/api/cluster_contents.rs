//! Managed clusters' own nodes, namespaces and workloads, read through each cluster's API
//! server with a credential made from the cloud account's (`cluster_contents`): AKS through
//! `listClusterUserCredential` (a local-account kubeconfig, or an Entra ID token for clusters
//! whose kubeconfig runs a sign-in plugin), GKE with the service account's access token, ACK
//! through `DescribeClusterUserKubeconfig`; EKS with a presigned STS token (its signature
//! recomputed from the secret, as STS does) against a moto cluster whose endpoint is out of
//! reach.

use std::time::Duration;

use axum::http::Method;
use nimbus_api_types::rbac::BuiltinRole;
use nimbus_tests::cloud_stub::{self as stub, CloudStub};
use nimbus_tests::kube_stub::{self, KubeStub};
use nimbus_tests::{Actor, TestApp, test_config};
use serde_json::{Value, json};

const AZURE_SECRET: &str = "azure-secret-canary-3d1f0b~Lm2";
const ALIBABA_SECRET: &str = "alibaba-secret-canary-9a7e55Qp";
/// What the cluster stand-in admits; the clouds hand it out (or put it in their kubeconfig).
const CLUSTER_TOKEN: &str = "cluster-token-canary-51b0c7";

async fn app() -> TestApp {
    let mut config = test_config(None);
    config.outbound.allow_http = true;
    config.outbound.allow_private_networks = true;
    config.clouds.call_timeout = Duration::from_secs(3);
    config.clouds.max_attempts = 2;
    TestApp::with_config(config).await
}

/// A cluster with two nodes, two namespaces and two deployments (one short of replicas).
async fn cluster() -> KubeStub {
    let cluster = KubeStub::start(CLUSTER_TOKEN).await;
    cluster.set_items(
        kube_stub::NODES,
        vec![
            kube_stub::node("node-a", true, "zone-a"),
            kube_stub::node("node-b", true, "zone-b"),
        ],
    );
    cluster.set_items(
        kube_stub::NAMESPACES,
        ["default", "shop"].map(kube_stub::namespace).to_vec(),
    );
    cluster.set_items(
        kube_stub::DEPLOYMENTS,
        vec![
            kube_stub::deployment("shop", "checkout", "shop", 3, 3),
            kube_stub::deployment("shop", "cart", "shop", 2, 1),
        ],
    );
    cluster
}

/// One cluster per cloud, each pointing at `cluster` for its contents.
async fn clouds(cluster: &KubeStub) -> CloudStub {
    let clouds = CloudStub::start(AZURE_SECRET, ALIBABA_SECRET).await;
    let pools = [("system", 2, "Standard_D4s_v5")];
    clouds.set_items(
        stub::AKS_CLUSTERS,
        vec![stub::aks_cluster(
            "aks-shop",
            "westeurope",
            "1.30.4",
            &pools,
        )],
    );
    let mut gke = stub::gke_cluster("gke-shop", "europe-west1", "1.30.5-gke.1", &[]);
    gke["endpoint"] = json!(cluster.url);
    clouds.set_items(stub::GKE_CLUSTERS, vec![gke]);
    clouds.set_items(
        stub::ACK_CLUSTERS,
        vec![stub::ack_cluster(
            "c0ffee82f9a1b2c3d4",
            "ack-shop",
            "1.30.1-aliyun.1",
        )],
    );
    clouds.set_cluster_kubeconfig(&cluster.kubeconfig(CLUSTER_TOKEN));
    clouds.fix_token("gcp", CLUSTER_TOKEN);
    clouds
}

fn account_input(provider: &str, clouds: &CloudStub, cluster_contents: bool) -> Value {
    match provider {
        "azure" => json!({
            "name": "azure-shop",
            "settings": { "provider": "azure", "directory_id": stub::AZURE_DIRECTORY,
                          "subscription_ids": [stub::AZURE_SUBSCRIPTION],
                          "authority_url": clouds.url, "resource_manager_url": clouds.url,
                          "cluster_contents": cluster_contents },
            "credentials": { "kind": "azure_client_secret", "client_id": stub::AZURE_CLIENT_ID,
                             "client_secret": AZURE_SECRET },
        }),
        "gcp" => json!({
            "name": "gcp-shop",
            "settings": { "provider": "gcp", "endpoint_url": clouds.url, "project_ids": [stub::GCP_PROJECT],
                          "cluster_contents": cluster_contents },
            "credentials": { "kind": "gcp_service_account_key", "key": clouds.gcp_key_file() },
        }),
        _ => json!({
            "name": "alibaba-shop",
            "settings": { "provider": "alibaba", "regions": [stub::ALIBABA_REGION],
                          "endpoint_url": clouds.url, "cluster_contents": cluster_contents },
            "credentials": { "kind": "alibaba_access_key", "access_key_id": stub::ALIBABA_KEY_ID,
                             "access_key_secret": ALIBABA_SECRET },
        }),
    }
}

/// The account's only cluster and what the inventory shows inside it.
async fn contents(app: &TestApp, owner: &Actor, account: &str) -> (Value, Vec<Value>, Vec<Value>) {
    let clusters = app
        .get_ok(owner, &format!("/api/v1/clusters?account_id={account}"))
        .await;
    let items = clusters["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{clusters}");
    let cluster = items[0].clone();
    let id = cluster["id"].as_str().unwrap();
    let list = |kind: &str| format!("/api/v1/{kind}?cluster_id={id}&limit=50");
    let nodes = app.get_ok(owner, &list("nodes")).await["items"]
        .as_array()
        .unwrap()
        .clone();
    let workloads = app.get_ok(owner, &list("workloads")).await["items"]
        .as_array()
        .unwrap()
        .clone();
    (cluster, nodes, workloads)
}

async fn scopes(app: &TestApp, owner: &Actor, account: &str) -> Vec<Value> {
    app.get_ok(owner, &format!("/api/v1/cloud-accounts/{account}/scopes"))
        .await
        .as_array()
        .unwrap()
        .clone()
}

#[tokio::test]
async fn aks_gke_and_ack_clusters_are_read_inside_with_the_accounts_credential() {
    let cluster = cluster().await;
    let clouds = clouds(&cluster).await;
    let app = app().await;
    let tenant = app.tenant("acme").await;
    let owner = app.member(tenant, BuiltinRole::Owner).await;
    for provider in ["azure", "gcp", "alibaba"] {
        let account = app
            .create_ok(
                &owner,
                "/api/v1/cloud-accounts",
                account_input(provider, &clouds, true),
            )
            .await;
        let job = app.sync(&owner, &account).await;
        assert_eq!(job["state"], "succeeded", "{provider}: {job}");
        // The cluster, then 2 nodes + 2 namespaces + 2 deployments from inside it.
        assert_eq!(
            job["resources"],
            7,
            "{provider}: {job} {:?}",
            scopes(&app, &owner, &account).await
        );
        assert_eq!(job["scopes_done"], job["scopes_total"], "{job}");

        let (listed, nodes, workloads) = contents(&app, &owner, &account).await;
        assert_eq!(listed["health"], "connected", "{listed}");
        let mut node_names: Vec<_> = nodes.iter().map(|n| n["name"].clone()).collect();
        node_names.sort_by_key(ToString::to_string);
        assert_eq!(node_names, [json!("node-a"), json!("node-b")], "{provider}");
        let cart = workloads
            .iter()
            .find(|w| w["name"] == "cart")
            .unwrap_or_else(|| panic!("{provider}: {workloads:?}"));
        assert_eq!(cart["cluster_name"], listed["name"]);
        assert_eq!(cart["provider"], provider);
        assert_eq!(cart["replicas_ready"], 1);
        assert_eq!(cart["app"], "shop");

        let scopes = scopes(&app, &owner, &account).await;
        let external_id = listed["external_id"].as_str().unwrap();
        let nodes_scope = scopes
            .iter()
            .find(|s| s["scope"] == format!("nodes@{external_id}"))
            .unwrap_or_else(|| panic!("{provider}: {scopes:?}"));
        assert_eq!(nodes_scope["stale"], false);
        assert_eq!(nodes_scope["resources"], 2);
    }
    // The apps view gathers the same app across the three clouds' clusters.
    let apps = app.get_ok(&owner, "/api/v1/apps?q=shop").await;
    let shop = &apps["items"][0];
    assert_eq!(shop["name"], "shop", "{apps}");
    assert_eq!(shop["clusters"].as_array().unwrap().len(), 3, "{shop}");

    // Free-text search (through `search_workload_ids`, outside the row policy) finds this
    // tenant's three `cart`s and nothing of them for another tenant.
    let carts = app.get_ok(&owner, "/api/v1/workloads?q=shop/cart").await;
    assert_eq!(carts["items"].as_array().unwrap().len(), 3, "{carts}");
    let other = app.tenant("globex").await;
    let outsider = app.member(other, BuiltinRole::Owner).await;
    let none = app.get_ok(&outsider, "/api/v1/workloads?q=shop/cart").await;
    assert_eq!(none["items"], json!([]), "{none}");

    // Each cloud was asked for its credential, and the cluster saw only the one it admits.
    assert_eq!(clouds.calls_to(stub::AKS_USER_CREDENTIAL).len(), 1);
    assert_eq!(clouds.calls_to(stub::ACK_USER_KUBECONFIG).len(), 1);
    assert!(!cluster.calls().is_empty());
    let mut db = app.owner().await;
    for canary in [CLUSTER_TOKEN, AZURE_SECRET, ALIBABA_SECRET] {
        let leaked: i64 = sqlx::query_scalar(
            "SELECT (SELECT count(*) FROM sync_scopes WHERE coalesce(error, '') LIKE '%' || $1 || '%')
                  + (SELECT count(*) FROM sync_jobs WHERE coalesce(error, '') LIKE '%' || $1 || '%')
                  + (SELECT count(*) FROM cloud_accounts WHERE coalesce(status_reason, '') LIKE '%' || $1 || '%')",
        )
        .bind(canary)
        .fetch_one(&mut db)
        .await
        .unwrap();
        assert_eq!(leaked, 0, "{canary}");
    }
}

#[tokio::test]
async fn an_entra_id_aks_cluster_is_read_with_a_token_for_the_aks_server_app() {
    let cluster = cluster().await;
    let clouds = clouds(&cluster).await;
    // The kubeconfig of an Entra ID-integrated cluster signs in through kubelogin.
    let plugin = cluster.kubeconfig(CLUSTER_TOKEN).replace(
        &format!("    token: {CLUSTER_TOKEN}\n"),
        "    exec:\n      apiVersion: client.authentication.k8s.io/v1beta1\n      command: kubelogin\n      args: [get-token, --server-id, 6dae42f8-4368-4678-94ff-3960e28e3630]\n",
    );
    assert!(plugin.contains("kubelogin"), "{plugin}");
    clouds.set_cluster_kubeconfig(&plugin);
    clouds.fix_token("aks", CLUSTER_TOKEN);
    let app = app().await;
    let tenant = app.tenant("acme").await;
    let owner = app.member(tenant, BuiltinRole::Owner).await;
    let account = app
        .create_ok(
            &owner,
            "/api/v1/cloud-accounts",
            account_input("azure", &clouds, true),
        )
        .await;
    let job = app.sync(&owner, &account).await;
    assert_eq!(job["state"], "succeeded", "{job}");
    let (_, nodes, workloads) = contents(&app, &owner, &account).await;
    assert_eq!(nodes.len(), 2);
    assert_eq!(workloads.len(), 2);
}

#[tokio::test]
async fn a_cluster_refusing_the_identity_degrades_the_account_and_switching_off_forgets_contents() {
    let cluster = cluster().await;
    let clouds = clouds(&cluster).await;
    let app = app().await;
    let tenant = app.tenant("acme").await;
    let owner = app.member(tenant, BuiltinRole::Owner).await;
    let account = app
        .create_ok(
            &owner,
            "/api/v1/cloud-accounts",
            account_input("gcp", &clouds, true),
        )
        .await;
    assert_eq!(app.sync(&owner, &account).await["state"], "succeeded");

    // The cluster stops admitting the account's identity (its RBAC binding was removed).
    cluster.set_token("someone-else");
    let job = app.sync(&owner, &account).await;
    assert_eq!(job["state"], "partial", "{job}");
    let status = app
        .get_ok(&owner, &format!("/api/v1/cloud-accounts/{account}"))
        .await;
    // Degraded, not paused: Google still accepts the credential.
    assert_eq!(status["status"], "degraded", "{status}");
    let reason = status["status_reason"].as_str().unwrap();
    assert!(reason.contains("cluster gke-shop"), "{reason}");
    assert!(
        reason.contains("grant the account's identity read access"),
        "{reason}"
    );
    let (listed, nodes, workloads) = contents(&app, &owner, &account).await;
    assert_eq!(
        listed["health"], "connected",
        "the cloud still lists it: {listed}"
    );
    assert_eq!((nodes.len(), workloads.len()), (2, 2), "kept, not swept");
    assert!(
        workloads.iter().all(|w| w["health"] == "degraded"),
        "{workloads:?}"
    );
    let stale: Vec<_> = scopes(&app, &owner, &account)
        .await
        .into_iter()
        .filter(|s| s["stale"] == true)
        .collect();
    assert_eq!(
        stale.len(),
        7,
        "every listing inside the cluster: {stale:?}"
    );

    // Switched off: the contents go, the cluster stays.
    let mut input = account_input("gcp", &clouds, false);
    input.as_object_mut().unwrap().remove("credentials");
    let response = app
        .call(
            &owner.token,
            Method::PUT,
            &format!("/api/v1/cloud-accounts/{account}"),
            Some(input),
        )
        .await;
    assert_eq!(response.status, 200, "{}", response.text());
    let job = app.sync(&owner, &account).await;
    assert_eq!(job["state"], "succeeded", "{job}");
    let (_, nodes, workloads) = contents(&app, &owner, &account).await;
    assert_eq!((nodes.len(), workloads.len()), (0, 0));
    let left: Vec<_> = scopes(&app, &owner, &account)
        .await
        .into_iter()
        .filter(|s| s["scope"].as_str().unwrap().contains('@'))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

#[tokio::test]
async fn an_eks_token_is_an_sts_call_presigned_for_that_cluster_alone() {
    use base64::Engine as _;
    let credentials = aws_credential_types::Credentials::new(
        "AKIAIOSFODNN7EXAMPLE",
        "eks-token-secret-canary",
        None,
        None,
        "test",
    );
    let token = nimbus::clouds::aws::eks_token(
        &credentials,
        "https://sts.eu-west-1.amazonaws.com/",
        "eu-west-1",
        "prod-eu",
        std::time::SystemTime::now(),
    )
    .unwrap();
    let encoded = token.strip_prefix("k8s-aws-v1.").expect(&token);
    let url = String::from_utf8(
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(encoded)
            .unwrap(),
    )
    .unwrap();
    assert!(!url.contains("eks-token-secret-canary"), "{url}");
    for part in [
        "Action=GetCallerIdentity",
        "X-Amz-Algorithm=AWS4-HMAC-SHA256",
        "X-Amz-Expires=60",
        "X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F",
        "%2Feu-west-1%2Fsts%2Faws4_request",
        // The cluster's name is signed in, so the token opens no other cluster.
        "X-Amz-SignedHeaders=host%3Bx-k8s-aws-id",
        "X-Amz-Signature=",
    ] {
        assert!(url.contains(part), "{part} missing from {url}");
    }
    // What STS checks when the EKS API server hands it the URL: the signature over the
    // query, the host and the cluster's name, recomputed here from the secret.
    let url = reqwest::Url::parse(&url).unwrap();
    assert_eq!(url.host_str(), Some("sts.eu-west-1.amazonaws.com"));
    let signature = sigv4_query_signature(&url, "prod-eu", "eks-token-secret-canary");
    let given = url
        .query_pairs()
        .find(|(name, _)| name == "X-Amz-Signature")
        .unwrap()
        .1
        .into_owned();
    assert_eq!(given, signature);
    // Another cluster's name does not match the signature.
    assert_ne!(
        given,
        sigv4_query_signature(&url, "another-cluster", "eks-token-secret-canary")
    );
}

#[tokio::test]
async fn an_eks_cluster_whose_api_server_is_out_of_reach_is_kept_and_the_reason_shown() {
    let moto = nimbus_tests::moto().await;
    let aws_account = format!("{:012}", uuid::Uuid::new_v4().as_u128() % 1_000_000_000_000);
    let config = moto.account(&aws_account, "eu-west-1").await;
    aws_sdk_eks::Client::new(&config)
        .create_cluster()
        .name("prod-eu")
        .version("1.31")
        .role_arn(format!("arn:aws:iam::{aws_account}:role/eks"))
        .resources_vpc_config(
            aws_sdk_eks::types::VpcConfigRequest::builder()
                .subnet_ids("subnet-0001")
                .build(),
        )
        .send()
        .await
        .unwrap();
    let mut config = test_config(None);
    config.outbound.allow_http = true;
    config.outbound.allow_private_networks = true;
    config.clouds.call_timeout = Duration::from_secs(2);
    config.clouds.max_attempts = 1;
    let app = TestApp::with_config(config).await;
    let tenant = app.tenant("acme").await;
    let owner = app.member(tenant, BuiltinRole::Owner).await;
    let account = app
        .create_ok(
            &owner,
            "/api/v1/cloud-accounts",
            json!({
                "name": "production",
                "settings": { "provider": "aws", "regions": ["eu-west-1"],
                              "role_arn": format!("arn:aws:iam::{aws_account}:role/nimbus"),
                              "endpoint_url": moto.endpoint, "cluster_contents": true },
                "credentials": { "kind": "aws_access_key", "access_key_id": "AKIAIOSFODNN7EXAMPLE",
                                 "secret_access_key": "eks-secret-canary" },
            }),
        )
        .await;
    // moto names an `…eks.amazonaws.com` endpoint that no one answers here.
    let job = app.sync(&owner, &account).await;
    assert_eq!(job["state"], "partial", "{job}");
    let error = job["error"].as_str().unwrap();
    assert!(error.contains("cluster prod-eu"), "{error}");
    assert!(!error.contains("eks-secret-canary"), "{error}");
    let clusters = app
        .get_ok(&owner, &format!("/api/v1/clusters?account_id={account}"))
        .await;
    assert_eq!(clusters["items"][0]["name"], "prod-eu", "{clusters}");
    let arn = clusters["items"][0]["external_id"].as_str().unwrap();
    let scopes = scopes(&app, &owner, &account).await;
    let nodes = scopes
        .iter()
        .find(|s| s["scope"] == format!("nodes@{arn}"))
        .unwrap_or_else(|| panic!("{scopes:?}"));
    assert_eq!(nodes["stale"], true, "{nodes}");
    let status = app
        .get_ok(&owner, &format!("/api/v1/cloud-accounts/{account}"))
        .await;
    assert_eq!(status["status"], "degraded", "{status}");
}

/// The SigV4 signature of a presigned `GET` (AWS's published algorithm: canonical request,
/// string to sign, derived key) with the signed headers `host` and `x-k8s-aws-id`.
fn sigv4_query_signature(url: &reqwest::Url, cluster: &str, secret: &str) -> String {
    use ring::{digest, hmac};
    let hex = |bytes: &[u8]| bytes.iter().map(|b| format!("{b:02x}")).collect::<String>();
    let encode = |text: &str| {
        text.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                    (b as char).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect::<String>()
    };
    let mut pairs: Vec<(String, String)> = url
        .query_pairs()
        .filter(|(name, _)| name != "X-Amz-Signature")
        .map(|(name, value)| (encode(&name), encode(&value)))
        .collect();
    pairs.sort();
    let query = pairs
        .iter()
        .map(|(name, value)| format!("{name}={value}"))
        .collect::<Vec<_>>()
        .join("&");
    let param = |wanted: &str| {
        url.query_pairs()
            .find(|(name, _)| name == wanted)
            .unwrap()
            .1
            .into_owned()
    };
    let amz_date = param("X-Amz-Date");
    let scope = param("X-Amz-Credential")
        .split_once('/')
        .unwrap()
        .1
        .to_owned();
    let canonical = format!(
        "GET\n{}\n{query}\nhost:{}\nx-k8s-aws-id:{cluster}\n\nhost;x-k8s-aws-id\n{}",
        url.path(),
        url.host_str().unwrap(),
        hex(digest::digest(&digest::SHA256, b"").as_ref()),
    );
    let to_sign = format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
        hex(digest::digest(&digest::SHA256, canonical.as_bytes()).as_ref())
    );
    let sign = |key: &[u8], data: &str| {
        hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, key), data.as_bytes())
            .as_ref()
            .to_vec()
    };
    let mut key = format!("AWS4{secret}").into_bytes();
    for part in scope.split('/') {
        key = sign(&key, part);
    }
    hex(&sign(&key, &to_sign))
}
