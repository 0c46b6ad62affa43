//! Cloud accounts against the `moto` AWS emulator: connect with role assumption, test the
//! connection, sync EKS clusters, EC2 instances and the S3 bill export, and find them through
//! the API — with the credential never shown and other tenants kept out.

use axum::http::Method;
use nimbus_api_types::rbac::BuiltinRole;
use nimbus_tests::{Actor, TestApp, moto, test_config, weekly_bill};
use serde_json::{Value, json};

const REGION: &str = "eu-west-1";
const SECRET_CANARY: &str = "canary-secret-key-7c1e0b9a55";

/// A fresh emulated AWS account id, so tests never see each other's resources.
fn account_id() -> String {
    format!("{:012}", uuid::Uuid::new_v4().as_u128() % 1_000_000_000_000)
}

/// The emulator is on 127.0.0.1 over http, which the default outbound policy refuses.
async fn app() -> TestApp {
    let mut config = test_config(None);
    config.outbound.allow_http = true;
    config.outbound.allow_private_networks = true;
    TestApp::with_config(config).await
}

/// An EKS cluster with a node group, an EC2 instance and a FOCUS bill in S3.
async fn seed(account: &str) {
    let config = moto().await.account(account, REGION).await;
    let eks = aws_sdk_eks::Client::new(&config);
    eks.create_cluster()
        .name("prod-eu")
        .version("1.31")
        .role_arn(format!("arn:aws:iam::{account}:role/eks"))
        .resources_vpc_config(
            aws_sdk_eks::types::VpcConfigRequest::builder()
                .subnet_ids("subnet-0001")
                .build(),
        )
        .tags("team", "payments")
        .send()
        .await
        .unwrap();
    eks.create_nodegroup()
        .cluster_name("prod-eu")
        .nodegroup_name("general")
        .node_role(format!("arn:aws:iam::{account}:role/node"))
        .subnets("subnet-0001")
        .instance_types("m6i.large")
        .scaling_config(
            aws_sdk_eks::types::NodegroupScalingConfig::builder()
                .min_size(1)
                .max_size(5)
                .desired_size(3)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let ec2 = aws_sdk_ec2::Client::new(&config);
    ec2.run_instances()
        .image_id("ami-12c6146b")
        .instance_type(aws_sdk_ec2::types::InstanceType::T3Micro)
        .min_count(1)
        .max_count(1)
        .tag_specifications(
            aws_sdk_ec2::types::TagSpecification::builder()
                .resource_type(aws_sdk_ec2::types::ResourceType::Instance)
                .tags(
                    aws_sdk_ec2::types::Tag::builder()
                        .key("Name")
                        .value("bastion")
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&config)
            .force_path_style(true)
            .build(),
    );
    let bucket = format!("bills-{account}");
    s3.create_bucket()
        .bucket(&bucket)
        .create_bucket_configuration(
            aws_sdk_s3::types::CreateBucketConfiguration::builder()
                .location_constraint(aws_sdk_s3::types::BucketLocationConstraint::EuWest1)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let bill = weekly_bill(
        chrono::NaiveDate::from_ymd_opt(2026, 10, 1).unwrap(),
        chrono::NaiveDate::from_ymd_opt(2026, 11, 1).unwrap(),
        "10.00",
        "4.00",
    );
    for (key, body) in [
        ("focus/2026-10/bill.csv", bill.into_bytes()),
        ("focus/2026-10/manifest.json", b"{}".to_vec()),
    ] {
        s3.put_object()
            .bucket(&bucket)
            .key(key)
            .body(body.into())
            .send()
            .await
            .unwrap();
    }
}

async fn connect(app: &TestApp, actor: &Actor, account: &str) -> Value {
    let response = app
        .call(
            &actor.token,
            Method::POST,
            "/api/v1/cloud-accounts",
            Some(json!({
                "name": "production",
                "settings": {
                    "provider": "aws",
                    "role_arn": format!("arn:aws:iam::{account}:role/nimbus"),
                    "regions": [REGION],
                    "endpoint_url": moto().await.endpoint,
                    "bill_export": { "bucket": format!("bills-{account}"), "prefix": "focus/" },
                },
                "credentials": {
                    "kind": "aws_access_key",
                    "access_key_id": "AKIAIOSFODNN7EXAMPLE",
                    "secret_access_key": SECRET_CANARY,
                },
            })),
        )
        .await;
    assert_eq!(response.status, 201, "{}", response.text());
    response.json()
}

#[tokio::test]
async fn an_aws_account_syncs_clusters_vms_and_bills_from_moto() {
    let account = account_id();
    seed(&account).await;
    let app = app().await;
    let tenant = app.tenant("acme").await;
    let owner = app.member(tenant, BuiltinRole::Owner).await;
    let created = connect(&app, &owner, &account).await;
    let id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(created["status"], "pending");
    assert!(
        created["external_id"]
            .as_str()
            .unwrap()
            .starts_with("nimbus-")
    );
    assert!(!created.to_string().contains(SECRET_CANARY));

    // Test connection: the role is assumed in the customer's account, every check passes.
    let tested = app
        .call(
            &owner.token,
            Method::POST,
            &format!("/api/v1/cloud-accounts/{id}/test"),
            None,
        )
        .await;
    assert_eq!(tested.status, 200, "{}", tested.text());
    let tested = tested.json();
    assert_eq!(tested["ok"], true, "{tested}");
    assert!(
        tested["identity"].as_str().unwrap().contains(&account),
        "{tested}"
    );
    let actions: Vec<&str> = tested["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|check| check["action"].as_str().unwrap())
        .collect();
    assert!(actions.contains(&"sts:AssumeRole"), "{actions:?}");
    assert!(
        actions.iter().any(|a| a.starts_with("eks:ListClusters")),
        "{actions:?}"
    );

    // Sync: asked twice, queued once.
    let first = app
        .call(
            &owner.token,
            Method::POST,
            &format!("/api/v1/cloud-accounts/{id}/syncs"),
            None,
        )
        .await;
    assert_eq!(first.status, 202, "{}", first.text());
    let again = app
        .call(
            &owner.token,
            Method::POST,
            &format!("/api/v1/cloud-accounts/{id}/syncs"),
            None,
        )
        .await;
    assert_eq!(again.json()["id"], first.json()["id"]);
    app.run_queued_syncs().await;
    let job = app
        .get_ok(
            &owner,
            &format!("/api/v1/sync-jobs/{}", first.json()["id"].as_str().unwrap()),
        )
        .await;
    assert_eq!(job["state"], "succeeded", "{job}");
    assert_eq!(job["scopes_done"], job["scopes_total"], "{job}");

    let clusters = app.get_ok(&owner, "/api/v1/clusters?provider=aws").await;
    let items = clusters["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{clusters}");
    let cluster = &items[0];
    assert_eq!(cluster["name"], "prod-eu");
    assert_eq!(cluster["distribution"], "eks");
    assert_eq!(cluster["version"], "1.31");
    assert_eq!(cluster["region"], REGION);
    assert_eq!(cluster["health"], "connected");
    assert_eq!(cluster["labels"]["team"], "payments");
    assert_eq!(cluster["node_pools"][0]["name"], "general");
    assert_eq!(cluster["node_pools"][0]["desired"], 3);
    assert_eq!(cluster["node_count"], 3);
    // Filters and search.
    assert_eq!(
        app.get_ok(&owner, "/api/v1/clusters?q=PROD").await["items"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        app.get_ok(&owner, "/api/v1/clusters?label=team%3Dpayments")
            .await["items"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        app.get_ok(&owner, "/api/v1/clusters?region=us-east-1")
            .await["items"]
            .as_array()
            .unwrap()
            .len(),
        0
    );

    let vms = app.get_ok(&owner, "/api/v1/vms?q=bastion").await;
    let vm = &vms["items"][0];
    assert_eq!(vm["instance_type"], "t3.micro", "{vms}");
    assert_eq!(vm["state"], "running");
    assert!(vm["external_id"].as_str().unwrap().starts_with("i-"));

    // The bill export was imported (the manifest beside it was not), exactly once.
    let imports = app.get_ok(&owner, "/api/v1/cost/imports").await;
    let imports = imports["items"].as_array().unwrap();
    assert_eq!(imports.len(), 1, "{imports:?}");
    assert_eq!(imports[0]["status"], "succeeded");
    assert_eq!(imports[0]["file_name"], "bill.csv");
    let account_now = app
        .get_ok(&owner, &format!("/api/v1/cloud-accounts/{id}"))
        .await;
    assert_eq!(account_now["status"], "connected", "{account_now}");
    let scopes = app
        .get_ok(&owner, &format!("/api/v1/cloud-accounts/{id}/scopes"))
        .await;
    let names: Vec<&str> = scopes
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["scope"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["bill-export", "clusters/eu-west-1", "vms/eu-west-1"]
    );
    assert!(
        scopes
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["stale"] == false)
    );

    // The cluster is deleted in AWS: the next complete listing sweeps it; the bill is not
    // imported again.
    let config = moto().await.account(&account, REGION).await;
    aws_sdk_eks::Client::new(&config)
        .delete_nodegroup()
        .cluster_name("prod-eu")
        .nodegroup_name("general")
        .send()
        .await
        .unwrap();
    aws_sdk_eks::Client::new(&config)
        .delete_cluster()
        .name("prod-eu")
        .send()
        .await
        .unwrap();
    app.call(
        &owner.token,
        Method::POST,
        &format!("/api/v1/cloud-accounts/{id}/syncs"),
        None,
    )
    .await;
    app.run_queued_syncs().await;
    assert_eq!(
        app.get_ok(&owner, "/api/v1/clusters").await["items"]
            .as_array()
            .unwrap()
            .len(),
        0
    );
    assert_eq!(
        app.get_ok(&owner, "/api/v1/vms").await["items"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        app.get_ok(&owner, "/api/v1/cost/imports").await["items"]
            .as_array()
            .unwrap()
            .len(),
        1
    );

    // The credential is in no answer, no audit row and no column in clear.
    for path in [
        "/api/v1/cloud-accounts",
        &format!("/api/v1/cloud-accounts/{id}"),
        "/api/v1/audit",
    ] {
        assert!(
            !app.get_ok(&owner, path)
                .await
                .to_string()
                .contains(SECRET_CANARY),
            "{path}"
        );
    }
    let dumped: String =
        sqlx::query_scalar("SELECT string_agg(t::text, '') FROM (SELECT * FROM cloud_accounts) t")
            .fetch_one(&mut app.owner().await)
            .await
            .unwrap();
    assert!(!dumped.contains(SECRET_CANARY) && !dumped.contains("AKIAIOSFODNN7EXAMPLE"));
}

#[tokio::test]
async fn another_tenant_can_neither_see_test_nor_sync_an_account() {
    let app = app().await;
    let tenant_a = app.tenant("alpha").await;
    let tenant_b = app.tenant("bravo").await;
    let owner_a = app.member(tenant_a, BuiltinRole::Owner).await;
    let owner_b = app.member(tenant_b, BuiltinRole::Owner).await;
    let created = connect(&app, &owner_a, &account_id()).await;
    let id = created["id"].as_str().unwrap();
    for (method, path) in [
        (Method::GET, format!("/api/v1/cloud-accounts/{id}")),
        (Method::POST, format!("/api/v1/cloud-accounts/{id}/test")),
        (Method::POST, format!("/api/v1/cloud-accounts/{id}/syncs")),
        (Method::GET, format!("/api/v1/cloud-accounts/{id}/scopes")),
        (Method::DELETE, format!("/api/v1/cloud-accounts/{id}")),
    ] {
        let response = app.call(&owner_b.token, method.clone(), &path, None).await;
        assert_eq!(response.status, 404, "{method} {path}: {}", response.text());
    }
    assert_eq!(
        app.get_ok(&owner_b, "/api/v1/cloud-accounts").await,
        json!([])
    );
    // Nothing was queued for tenant A's account by B.
    let queued: i64 = sqlx::query_scalar("SELECT count(*) FROM sync_jobs")
        .fetch_one(&mut app.owner().await)
        .await
        .unwrap();
    assert_eq!(queued, 0);
}

#[tokio::test]
async fn settings_that_point_at_forbidden_addresses_or_lack_a_credential_are_refused() {
    // The default outbound policy: https only, no private or metadata addresses.
    let app = TestApp::new().await;
    let tenant = app.tenant("acme").await;
    let owner = app.member(tenant, BuiltinRole::Owner).await;
    let settings = |endpoint: &str| {
        json!({
            "name": "x",
            "settings": { "provider": "aws", "regions": [REGION], "endpoint_url": endpoint },
            "credentials": { "kind": "aws_access_key", "access_key_id": "AKIAIOSFODNN7EXAMPLE", "secret_access_key": SECRET_CANARY },
        })
    };
    for endpoint in [
        "http://169.254.169.254/",
        "https://169.254.169.254/",
        "http://127.0.0.1:9/",
    ] {
        let response = app
            .call(
                &owner.token,
                Method::POST,
                "/api/v1/cloud-accounts",
                Some(settings(endpoint)),
            )
            .await;
        assert_eq!(response.status, 422, "{endpoint}: {}", response.text());
        assert!(!response.text().contains(SECRET_CANARY));
    }
    let mut without_key = settings("https://aws.example.com");
    without_key.as_object_mut().unwrap().remove("credentials");
    let response = app
        .call(
            &owner.token,
            Method::POST,
            "/api/v1/cloud-accounts",
            Some(without_key),
        )
        .await;
    assert_eq!(response.status, 422, "{}", response.text());
    // A Viewer reads accounts but connects none.
    let viewer = app.member(tenant, BuiltinRole::Viewer).await;
    let response = app
        .call(
            &viewer.token,
            Method::POST,
            "/api/v1/cloud-accounts",
            Some(settings("https://aws.example.com")),
        )
        .await;
    assert_eq!(response.status, 403);
}

#[tokio::test]
async fn a_credential_moved_to_another_row_or_damaged_does_not_open_and_rewrap_moves_keys() {
    let app = app().await;
    let tenant_a = app.tenant("alpha").await;
    let tenant_b = app.tenant("bravo").await;
    let owner_a = app.member(tenant_a, BuiltinRole::Owner).await;
    let owner_b = app.member(tenant_b, BuiltinRole::Owner).await;
    let a = connect(&app, &owner_a, &account_id()).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let b = connect(&app, &owner_b, &account_id()).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut owner = app.owner().await;
    // A's ciphertext copied onto B's row (another tenant) opens nowhere.
    sqlx::query(
        "UPDATE cloud_accounts SET (credential_key_version, credential_wrapped_key, credential) =
             (SELECT credential_key_version, credential_wrapped_key, credential FROM cloud_accounts WHERE id = $1)
         WHERE id = $2",
    )
    .bind(uuid::Uuid::parse_str(&a).unwrap())
    .bind(uuid::Uuid::parse_str(&b).unwrap())
    .execute(&mut owner)
    .await
    .unwrap();
    let tested = app
        .call(
            &owner_b.token,
            Method::POST,
            &format!("/api/v1/cloud-accounts/{b}/test"),
            None,
        )
        .await;
    assert_eq!(tested.status, 200, "{}", tested.text());
    assert_eq!(tested.json()["ok"], false);
    assert!(
        tested.text().contains("could not be decrypted"),
        "{}",
        tested.text()
    );
    // One flipped byte of A's own ciphertext: the same.
    sqlx::query(
        "UPDATE cloud_accounts SET credential = set_byte(credential, 20, get_byte(credential, 20) # 1) WHERE id = $1",
    )
    .bind(uuid::Uuid::parse_str(&a).unwrap())
    .execute(&mut owner)
    .await
    .unwrap();
    let tested = app
        .call(
            &owner_a.token,
            Method::POST,
            &format!("/api/v1/cloud-accounts/{a}/test"),
            None,
        )
        .await;
    assert!(
        tested.text().contains("could not be decrypted"),
        "{}",
        tested.text()
    );

    // Rotation: with a version 2 key added, rewrap moves every data key to it, audited.
    sqlx::query("UPDATE cloud_accounts SET name = 'damaged' WHERE id = $1")
        .bind(uuid::Uuid::parse_str(&a).unwrap())
        .execute(&mut owner)
        .await
        .unwrap();
    let c = connect(&app, &owner_a, &account_id()).await;
    let c = c["id"].as_str().unwrap();
    let (keys, only_new) = nimbus_tests::rotated_master_keys();
    let outcome =
        nimbus::admin::rewrap_all::<nimbus::clouds::accounts::Credentials>(&app.state.db, &keys)
            .await
            .unwrap();
    // A's damaged ciphertext still has a sound data key; the copy on B's row has none.
    assert_eq!(outcome.rewrapped, 2);
    assert_eq!(outcome.unreadable.len(), 1);
    assert_eq!(outcome.unreadable[0].to_string(), b);
    let versions: Vec<i32> =
        sqlx::query_scalar("SELECT DISTINCT credential_key_version FROM cloud_accounts ORDER BY 1")
            .fetch_all(&mut owner)
            .await
            .unwrap();
    assert_eq!(versions, [1, 2]);
    let audited: i64 =
        sqlx::query_scalar("SELECT count(*) FROM audit_log WHERE action = 'cloud_account.rewrap'")
            .fetch_one(&mut owner)
            .await
            .unwrap();
    assert_eq!(audited, 2);
    // The re-wrapped, undamaged credential opens with key 2 alone: key 1 can be retired.
    let (key_version, wrapped_key, ciphertext): (i32, Vec<u8>, Vec<u8>) = sqlx::query_as(
        "SELECT credential_key_version, credential_wrapped_key, credential FROM cloud_accounts WHERE id = $1",
    )
    .bind(uuid::Uuid::parse_str(c).unwrap())
    .fetch_one(&mut owner)
    .await
    .unwrap();
    let opened = only_new
        .open(
            &nimbus::secrets::Sealed {
                key_version,
                wrapped_key,
                ciphertext,
            },
            nimbus::secrets::Binding {
                purpose: "cloud-account-credential",
                tenant: tenant_a,
                record: uuid::Uuid::parse_str(c).unwrap(),
            },
        )
        .unwrap();
    assert!(String::from_utf8(opened).unwrap().contains(SECRET_CANARY));
}
