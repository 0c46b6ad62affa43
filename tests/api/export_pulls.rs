//! The scheduled pull of bill exports from Azure Blob storage (the Azurite emulator, over
//! HTTPS with OAuth bearer tokens) and Google Cloud Storage (gcp-storage-emulator): each sync
//! imports the new and changed bill files under the prefix once, skips manifests, and a
//! restated file replaces its month. Sign-in goes through the clouds' stand-in
//! (`cloud_stub`).

use std::time::Duration;

use axum::http::Method;
use chrono::NaiveDate;
use nimbus_api_types::rbac::BuiltinRole;
use nimbus_tests::cloud_stub::{self as stub, CloudStub};
use nimbus_tests::object_stores::{self, azurite, gcs};
use nimbus_tests::{Actor, TestApp, test_config, weekly_bill};
use serde_json::{Value, json};

const AZURE_SECRET: &str = "azure-secret-canary-2b9d0e";

async fn app() -> TestApp {
    let mut config = test_config(None);
    config.outbound.allow_http = true;
    config.outbound.allow_private_networks = true;
    // Azurite's certificate comes from the tests' own authority, as a private endpoint's would.
    config.outbound.extra_ca_file = Some(object_stores::test_ca().ca_file.clone());
    config.clouds.call_timeout = Duration::from_secs(5);
    TestApp::with_config(config).await
}

fn october(weekday: &str) -> Vec<u8> {
    weekly_bill(
        NaiveDate::from_ymd_opt(2026, 10, 1).unwrap(),
        NaiveDate::from_ymd_opt(2026, 11, 1).unwrap(),
        weekday,
        "1.00",
    )
    .into_bytes()
}

/// October's billed total: 22 weekdays at `weekday` and 9 weekend days at 1.00.
async fn october_total(app: &TestApp, actor: &Actor) -> String {
    let report = app
        .get_ok(
            actor,
            "/api/v1/cost?from=2026-10-01&to=2026-11-01&metric=billed&granularity=month",
        )
        .await;
    report["totals"][0]["amount"].as_str().unwrap().to_owned()
}

async fn imports(app: &TestApp, actor: &Actor) -> Vec<Value> {
    app.get_ok(actor, "/api/v1/cost/imports").await["items"]
        .as_array()
        .unwrap()
        .clone()
}

/// Connects the account, then: the export is imported once (manifest and objects outside the
/// prefix left alone), a second sync imports nothing, a restated file replaces the month.
async fn pull_and_restate(
    app: &TestApp,
    owner: &Actor,
    input: Value,
    put: impl AsyncFn(&str, Vec<u8>),
) {
    put(
        "exports/nimbus/20261001-20261031/part_0_0001.csv",
        october("10.00"),
    )
    .await;
    put(
        "exports/nimbus/20261001-20261031/manifest.json",
        br#"{"manifestVersion": "2024-04-01"}"#.to_vec(),
    )
    .await;
    put("elsewhere/other.csv", october("99.00")).await;

    let created = app
        .call(
            &owner.token,
            Method::POST,
            "/api/v1/cloud-accounts",
            Some(input),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text());
    let account = created.json()["id"].as_str().unwrap().to_owned();
    let tested = app
        .call(
            &owner.token,
            Method::POST,
            &format!("/api/v1/cloud-accounts/{account}/test"),
            None,
        )
        .await
        .json();
    let export_check = tested["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|check| {
            check["action"].as_str().unwrap().contains("export")
                || check["action"].as_str().unwrap().contains("bill files")
        })
        .unwrap_or_else(|| panic!("no export check: {tested}"));
    assert_eq!(export_check["ok"], true, "{tested}");

    let job = app.sync(owner, &account).await;
    assert_eq!(job["state"], "succeeded", "{job}");
    let pulled = imports(app, owner).await;
    assert_eq!(pulled.len(), 1, "{pulled:?}");
    assert_eq!(pulled[0]["status"], "succeeded");
    assert_eq!(pulled[0]["file_name"], "part_0_0001.csv");
    // 22 weekdays × 10.00 + 9 weekend days × 1.00.
    assert_eq!(october_total(app, owner).await, "229.00");

    // Nothing changed: nothing is imported again.
    assert_eq!(app.sync(owner, &account).await["state"], "succeeded");
    assert_eq!(imports(app, owner).await.len(), 1);

    // The provider restates October: the month is replaced, not added to.
    put(
        "exports/nimbus/20261001-20261031/part_0_0001.csv",
        october("20.00"),
    )
    .await;
    assert_eq!(app.sync(owner, &account).await["state"], "succeeded");
    assert_eq!(imports(app, owner).await.len(), 2);
    assert_eq!(october_total(app, owner).await, "449.00");
    let scopes = app
        .get_ok(owner, &format!("/api/v1/cloud-accounts/{account}/scopes"))
        .await;
    let export_scope = scopes
        .as_array()
        .unwrap()
        .iter()
        .find(|scope| scope["scope"] == "bill-export")
        .unwrap();
    assert_eq!(export_scope["stale"], false, "{scopes}");
}

#[tokio::test]
async fn an_azure_cost_export_is_pulled_from_blob_storage_once_and_restated() {
    let stub = CloudStub::start(AZURE_SECRET, "unused-alibaba-secret").await;
    let azurite = azurite().await;
    let app = app().await;
    let tenant = app.tenant("acme").await;
    let owner = app.member(tenant, BuiltinRole::Owner).await;
    let container = format!("costs-{}", uuid::Uuid::new_v4().simple());
    let input = json!({
        "name": "azure-billing",
        "settings": { "provider": "azure", "directory_id": stub::AZURE_DIRECTORY,
                      "subscription_ids": [stub::AZURE_SUBSCRIPTION],
                      "authority_url": stub.url, "resource_manager_url": stub.url,
                      "bill_export": { "storage_url": azurite.account_url,
                                       "container": container, "prefix": "exports/" } },
        "credentials": { "kind": "azure_client_secret", "client_id": stub::AZURE_CLIENT_ID,
                         "client_secret": AZURE_SECRET },
    });
    pull_and_restate(&app, &owner, input, async |name, bytes| {
        azurite.put(&container, name, bytes).await;
    })
    .await;
}

#[tokio::test]
async fn google_cloud_bill_files_are_pulled_from_a_bucket_once_and_restated() {
    let stub = CloudStub::start(AZURE_SECRET, "unused-alibaba-secret").await;
    let gcs = gcs().await;
    let app = app().await;
    let tenant = app.tenant("acme").await;
    let owner = app.member(tenant, BuiltinRole::Owner).await;
    let bucket = format!("bills-{}", uuid::Uuid::new_v4().simple());
    let input = json!({
        "name": "gcp-billing",
        "settings": { "provider": "gcp", "endpoint_url": stub.url,
                      "bill_export": { "bucket": bucket, "prefix": "exports/",
                                       "storage_url": gcs.url } },
        "credentials": { "kind": "gcp_service_account_key", "key": stub.gcp_key_file() },
    });
    pull_and_restate(&app, &owner, input, async |name, bytes| {
        gcs.put(&bucket, name, bytes).await;
    })
    .await;
}

#[tokio::test]
async fn an_untrusted_private_endpoint_and_a_bad_container_name_are_refused() {
    let stub = CloudStub::start(AZURE_SECRET, "unused-alibaba-secret").await;
    let azurite = azurite().await;
    // No extra authority: Azurite's certificate is not trusted, and the pull says so.
    let mut config = test_config(None);
    config.outbound.allow_http = true;
    config.outbound.allow_private_networks = true;
    config.clouds.call_timeout = Duration::from_secs(5);
    let app = TestApp::with_config(config).await;
    let tenant = app.tenant("acme").await;
    let owner = app.member(tenant, BuiltinRole::Owner).await;
    let mut input = json!({
        "name": "azure-billing",
        "settings": { "provider": "azure", "directory_id": stub::AZURE_DIRECTORY,
                      "subscription_ids": [stub::AZURE_SUBSCRIPTION],
                      "authority_url": stub.url, "resource_manager_url": stub.url,
                      "bill_export": { "storage_url": azurite.account_url,
                                       "container": "Cost_Exports!" } },
        "credentials": { "kind": "azure_client_secret", "client_id": stub::AZURE_CLIENT_ID,
                         "client_secret": AZURE_SECRET },
    });
    let refused = app
        .call(
            &owner.token,
            Method::POST,
            "/api/v1/cloud-accounts",
            Some(input.clone()),
        )
        .await;
    assert_eq!(refused.status, 422, "{}", refused.text());
    assert!(
        refused.text().contains("bill_export.container"),
        "{}",
        refused.text()
    );

    input["settings"]["bill_export"]["container"] = json!("costs");
    let created = app
        .call(
            &owner.token,
            Method::POST,
            "/api/v1/cloud-accounts",
            Some(input),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text());
    let account = created.json()["id"].as_str().unwrap().to_owned();
    let job = app.sync(&owner, &account).await;
    assert_eq!(
        job["state"], "partial",
        "the inventory synced, the pull did not: {job}"
    );
    let scopes = app
        .get_ok(&owner, &format!("/api/v1/cloud-accounts/{account}/scopes"))
        .await;
    let export_scope = scopes
        .as_array()
        .unwrap()
        .iter()
        .find(|scope| scope["scope"] == "bill-export")
        .unwrap();
    assert_eq!(export_scope["stale"], true, "{scopes}");
    assert!(
        export_scope["error"]
            .as_str()
            .unwrap()
            .contains("certificate"),
        "{scopes}"
    );
    assert!(imports(&app, &owner).await.is_empty());
}
