//! The sync benchmark (issue 5): CLUSTERS Kubernetes clusters (default 1,000), each an account of
//! its own on one stand-in API server (`kube_stub`) serving WORKLOADS Deployments (default 100),
//! 3 nodes and 5 namespaces in pages of up to 500, synced by the server's own workers
//! (`sync::run_workers` at the default `clouds.workers`: the PostgreSQL queue, leases, per-scope
//! reconcile). The baseline: the same requests made by a bare HTTP client with as many clusters
//! at once, nothing stored. Prints both, their ratio, and a second sync of everything (the rows
//! are all there: updates, no sweep).
//!
//! Usage: `scripts/bench-sync [CLUSTERS] [WORKLOADS]`

use std::time::{Duration, Instant};

use axum::http::Method;
use futures_util::StreamExt;
use nimbus::config::Config;
use nimbus_api_types::rbac::BuiltinRole;
use nimbus_tests::kube_stub::{self, KubeStub};
use nimbus_tests::{Actor, TestApp, test_config};
use serde_json::json;

const TOKEN: &str = "bench-sync-token";

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let clusters: usize = args.next().map_or(1000, |n| n.parse().expect("CLUSTERS"));
    let workloads: usize = args.next().map_or(100, |n| n.parse().expect("WORKLOADS"));

    let mut config = test_config(None);
    config.outbound.allow_http = true;
    config.outbound.allow_private_networks = true;
    // As shipped: the number of syncs one server runs at once, and across servers.
    config.clouds.workers = Config::default().clouds.workers;
    config.clouds.max_running = Config::default().clouds.max_running;
    let workers = config.clouds.workers as usize;
    let app = TestApp::with_config(config).await;
    let tenant = app.tenant("bench").await;
    let owner = app.member(tenant, BuiltinRole::Owner).await;

    let stub = KubeStub::start(TOKEN).await;
    stub.set_page_size(500);
    stub.set_items(
        kube_stub::NODES,
        (0..3)
            .map(|n| kube_stub::node(&format!("node-{n}"), true, "zone-a"))
            .collect(),
    );
    stub.set_items(
        kube_stub::NAMESPACES,
        (0..5)
            .map(|n| kube_stub::namespace(&format!("ns-{n}")))
            .collect(),
    );
    stub.set_items(
        kube_stub::DEPLOYMENTS,
        (0..workloads)
            .map(|n| {
                kube_stub::deployment(
                    &format!("ns-{}", n % 5),
                    &format!("svc-{n}"),
                    &format!("app-{}", n % 20),
                    3,
                    3,
                )
            })
            .collect(),
    );

    let started = Instant::now();
    // One at a time: the harness checks each request's audit row.
    let mut accounts = Vec::with_capacity(clusters);
    for n in 0..clusters {
        accounts.push(connect(&app, &owner, &stub, n).await);
    }
    eprintln!("{clusters} accounts connected in {:.1?}", started.elapsed());

    let baseline = fetch_everything(&stub, clusters, workers).await;
    let first = sync_all(&app, &owner, &accounts, 1).await;
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM workloads")
        .fetch_one(&mut app.owner().await)
        .await
        .unwrap();
    assert_eq!(stored, i64::try_from(clusters * workloads).unwrap());
    let second = sync_all(&app, &owner, &accounts, 2).await;

    let total = clusters * workloads;
    println!(
        "{clusters} clusters × {workloads} workloads (+3 nodes, 5 namespaces each), {workers} workers, {} cores",
        std::thread::available_parallelism().map_or(1, usize::from)
    );
    println!(
        "{:<44} {:>9} {:>13} {:>13}",
        "", "seconds", "clusters/s", "workloads/s"
    );
    for (name, took) in [
        ("bare HTTP fetch of the same lists", baseline),
        ("first sync (every row new)", first),
        ("second sync (every row there)", second),
    ] {
        let seconds = took.as_secs_f64();
        println!(
            "{name:<44} {seconds:>9.2} {:>13.0} {:>13.0}",
            clusters as f64 / seconds,
            total as f64 / seconds
        );
    }
    println!(
        "first sync / bare fetch: {:.2}; second sync / bare fetch: {:.2}",
        first.as_secs_f64() / baseline.as_secs_f64(),
        second.as_secs_f64() / baseline.as_secs_f64()
    );
}

async fn connect(app: &TestApp, owner: &Actor, stub: &KubeStub, n: usize) -> String {
    let created = app
        .call(
            &owner.token,
            Method::POST,
            "/api/v1/cloud-accounts",
            Some(json!({
                "name": format!("cluster-{n:05}"),
                // No scheduled sync during the measurement.
                "sync_interval_minutes": 1440,
                "settings": { "provider": "kubernetes", "region": format!("region-{}", n % 16) },
                "credentials": { "kind": "kubeconfig", "kubeconfig": stub.kubeconfig(TOKEN) },
            })),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text());
    created.json()["id"].as_str().unwrap().to_owned()
}

/// Every list of every cluster, `at_once` clusters at a time, read and dropped.
async fn fetch_everything(stub: &KubeStub, clusters: usize, at_once: usize) -> Duration {
    let client = reqwest::Client::new();
    let paths = [
        kube_stub::VERSION,
        kube_stub::NODES,
        kube_stub::NAMESPACES,
        kube_stub::DEPLOYMENTS,
        kube_stub::STATEFULSETS,
        kube_stub::DAEMONSETS,
        kube_stub::JOBS,
        kube_stub::CRONJOBS,
    ];
    let started = Instant::now();
    futures_util::stream::iter(0..clusters)
        .for_each_concurrent(at_once, |_| {
            let client = client.clone();
            async move {
                for path in paths {
                    let body = client
                        .get(format!("{}{path}?limit=500", stub.url))
                        .bearer_auth(TOKEN)
                        .send()
                        .await
                        .unwrap()
                        .error_for_status()
                        .unwrap()
                        .bytes()
                        .await
                        .unwrap();
                    let _: serde_json::Value = serde_json::from_slice(&body).unwrap();
                }
            }
        })
        .await;
    started.elapsed()
}

/// Asks for a sync of every account and lets the server's workers run them all; the time
/// from the first request until the `round`-th job of every account finished.
async fn sync_all(app: &TestApp, owner: &Actor, accounts: &[String], round: i64) -> Duration {
    let started = Instant::now();
    for account in accounts {
        let queued = app
            .call(
                &owner.token,
                Method::POST,
                &format!("/api/v1/cloud-accounts/{account}/syncs"),
                None,
            )
            .await;
        assert_eq!(queued.status, 202, "{}", queued.text());
    }
    let workers = tokio::spawn(nimbus::clouds::sync::run_workers(app.state.clone()));
    let expected = i64::try_from(accounts.len()).unwrap() * round;
    let mut owner_db = app.owner().await;
    loop {
        let (finished, failed): (i64, i64) = sqlx::query_as(
            "SELECT count(*) FILTER (WHERE finished_at IS NOT NULL),
                    count(*) FILTER (WHERE state <> 'succeeded' AND finished_at IS NOT NULL)
             FROM sync_jobs",
        )
        .fetch_one(&mut owner_db)
        .await
        .unwrap();
        assert_eq!(failed, 0, "a sync did not succeed");
        if finished >= expected {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let took = started.elapsed();
    workers.abort();
    took
}
