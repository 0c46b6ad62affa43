//! The cluster and tag dimensions of the explorer: clusters worked out from the tags and
//! resource ids managed Kubernetes services write, tag keys a tenant makes dimensions, and the
//! same sums whether the rollups were made while reading a file or recomputed in SQL.

use std::collections::BTreeMap;

use axum::http::Method;
use nimbus_tests::{Actor, TestApp};
use rust_decimal::Decimal;
use serde_json::{Value, json};

use crate::cost::{decimal, explore, finance};

const HEADER: &str = "BilledCost,BillingAccountId,BillingAccountName,BillingCurrency,BillingPeriodEnd,BillingPeriodStart,ChargeCategory,ChargeClass,ChargeDescription,ChargePeriodEnd,ChargePeriodStart,ContractedCost,EffectiveCost,InvoiceIssuerName,ListCost,PricingQuantity,PricingUnit,ProviderName,PublisherName,RegionId,ServiceCategory,ServiceName,SubAccountId,ResourceId,Tags";

/// One line item's cluster-bearing fields, the cluster and team it must count for, and its cost.
struct Item {
    resource: &'static str,
    tags: &'static str,
    cluster: Option<&'static str>,
    team: Option<&'static str>,
    billed: Decimal,
}

/// Line items of September 2024 in `account`: an EKS node (its cluster tag), a kops volume
/// (`kubernetes.io/cluster/NAME`), the EKS control plane (its ARN, a team value with a trailing
/// space kept verbatim), and an untagged VM.
fn items(count: usize) -> Vec<Item> {
    (0..count)
        .map(|i| {
            let billed = Decimal::new(1_000_001 * (i as i64 + 1), 6);
            match i % 4 {
                0 => Item {
                    resource: "i-0node",
                    tags: r#"{"aws:eks:cluster-name": "prod-eks", "team": "data"}"#,
                    cluster: Some("prod-eks"),
                    team: Some("data"),
                    billed,
                },
                1 => Item {
                    resource: "vol-0kops",
                    tags: r#"{"kubernetes.io/cluster/kops-a": "owned", "team": "web"}"#,
                    cluster: Some("kops-a"),
                    team: Some("web"),
                    billed,
                },
                2 => Item {
                    resource: "arn:aws:eks:eu-west-1:111122223333:cluster/prod-eks",
                    tags: r#"{"team": "data "}"#,
                    cluster: Some("prod-eks"),
                    team: Some("data "),
                    billed,
                },
                _ => Item {
                    resource: "i-0vm",
                    tags: "",
                    cluster: None,
                    team: None,
                    billed,
                },
            }
        })
        .collect()
}

fn focus_csv(account: &str, items: &[Item]) -> Vec<u8> {
    let mut out = format!("{HEADER}\n");
    for (i, item) in items.iter().enumerate() {
        let day = 1 + i % 28;
        let tags = item.tags.replace('"', "\"\"");
        out.push_str(&format!(
            "{billed},{account},Example Co,USD,2024-10-01T00:00:00Z,2024-09-01T00:00:00Z,Usage,,Compute,2024-09-{day:02}T11:00:00Z,2024-09-{day:02}T10:00:00Z,{billed},{billed},AWS,{billed},1,Hours,AWS,AWS,eu-west-1,Compute,{service},sub-1,{resource},\"{tags}\"\n",
            billed = item.billed,
            service = ["Amazon EC2", "Amazon EKS"][i % 2],
            resource = item.resource,
        ));
    }
    out.into_bytes()
}

/// Expected billed cost by a key of each item (`None`: no value).
fn expected(
    items: &[Item],
    key: impl Fn(&Item) -> Option<&'static str>,
) -> BTreeMap<Option<String>, Decimal> {
    let mut totals = BTreeMap::new();
    for item in items {
        *totals
            .entry(key(item).map(str::to_owned))
            .or_insert(Decimal::ZERO) += item.billed;
    }
    totals
}

/// The month's billed cost by the view's one group-by.
async fn monthly_by(
    app: &TestApp,
    actor: &Actor,
    query: &str,
) -> BTreeMap<Option<String>, Decimal> {
    let report = explore(app, actor, &format!("metric=billed&{query}")).await;
    let mut totals = BTreeMap::new();
    for row in report["rows"].as_array().unwrap() {
        let value = row["group"][0].as_str().map(str::to_owned);
        *totals.entry(value).or_insert(Decimal::ZERO) += decimal(row["amount"].as_str().unwrap());
    }
    totals
}

async fn put_settings(app: &TestApp, actor: &Actor, body: Value) -> nimbus_tests::TestResponse {
    app.call(
        &actor.token,
        Method::PUT,
        "/api/v1/cost/settings",
        Some(body),
    )
    .await
}

#[tokio::test]
async fn costs_group_and_filter_by_cluster_exactly() {
    let app = TestApp::new().await;
    let finance = finance(&app, "dims").await;
    let items = items(40);
    let response = app
        .upload_bill(
            &finance.token,
            "eks.csv",
            &focus_csv("111122223333", &items),
        )
        .await;
    assert_eq!(response.status, 201, "{}", response.text());

    assert_eq!(
        monthly_by(&app, &finance, "group_by=cluster").await,
        expected(&items, |item| item.cluster)
    );
    let filtered = explore(
        &app,
        &finance,
        "metric=billed&cluster=kops-a&group_by=service",
    )
    .await;
    assert_eq!(
        decimal(filtered["totals"][0]["amount"].as_str().unwrap()),
        expected(&items, |item| item.cluster)[&Some("kops-a".to_owned())]
    );
    let stored: Vec<Option<String>> =
        sqlx::query_scalar("SELECT DISTINCT cluster FROM cost_line_items ORDER BY 1")
            .fetch_all(&mut app.owner().await)
            .await
            .unwrap();
    assert_eq!(
        stored,
        [Some("kops-a".to_owned()), Some("prod-eks".to_owned()), None],
        "each line item keeps its cluster"
    );
}

#[tokio::test]
async fn tag_keys_made_dimensions_group_and_filter_the_same_from_either_rollup() {
    let app = TestApp::new().await;
    let finance = finance(&app, "tags").await;
    let first = items(40);
    let response = app
        .upload_bill(&finance.token, "a.csv", &focus_csv("111122223333", &first))
        .await;
    assert_eq!(response.status, 201, "{}", response.text());

    // A tag key is a dimension only once the tenant names it.
    let response = app
        .call(
            &finance.token,
            Method::GET,
            "/api/v1/cost?from=2024-09-01&to=2024-10-01&group_by=tag:team",
            None,
        )
        .await;
    assert_eq!(response.status, 422, "{}", response.text());
    assert!(response.text().contains("not a cost dimension"));
    for bad in [
        json!({"tag_keys": ["a", "a"]}),
        json!({"tag_keys": ["a,b"]}),
        json!({"tag_keys": [""]}),
        json!({"tag_keys": ["1", "2", "3", "4", "5", "6"]}),
    ] {
        let response = put_settings(&app, &finance, bad.clone()).await;
        assert_eq!(response.status, 422, "{bad}: {}", response.text());
    }

    // Naming it recomputes the existing rollups (in SQL)…
    let response = put_settings(&app, &finance, json!({"tag_keys": ["team", "env"]})).await;
    assert_eq!(response.status, 200, "{}", response.text());
    let settings = app
        .call(&finance.token, Method::GET, "/api/v1/cost/settings", None)
        .await
        .json();
    assert_eq!(settings, json!({"tag_keys": ["team", "env"]}));
    assert_eq!(
        monthly_by(&app, &finance, "group_by=tag:team").await,
        expected(&first, |item| item.team),
        "untagged costs are their own bucket, values verbatim"
    );

    // …and a file imported afterwards is rolled up while it is read.
    let second = items(24);
    let response = app
        .upload_bill(&finance.token, "b.csv", &focus_csv("444455556666", &second))
        .await;
    assert_eq!(response.status, 201, "{}", response.text());
    let mut both = expected(&first, |item| item.team);
    for (team, amount) in expected(&second, |item| item.team) {
        *both.entry(team).or_default() += amount;
    }
    let streamed = explore(
        &app,
        &finance,
        "metric=billed&granularity=day&group_by=tag:team,billing_account",
    )
    .await;
    assert_eq!(monthly_by(&app, &finance, "group_by=tag:team").await, both);

    // Recomputing every rollup in SQL gives the very rows the import made.
    let response = put_settings(&app, &finance, json!({"tag_keys": ["team", "env"]})).await;
    assert_eq!(response.status, 200);
    let recomputed = explore(
        &app,
        &finance,
        "metric=billed&granularity=day&group_by=tag:team,billing_account",
    )
    .await;
    assert_eq!(streamed["rows"], recomputed["rows"]);

    // Filters and CSV export.
    let data = explore(
        &app,
        &finance,
        "metric=billed&tag_key=team&tag_value=data&group_by=cluster",
    )
    .await;
    assert_eq!(
        decimal(data["totals"][0]["amount"].as_str().unwrap()),
        both[&Some("data".to_owned())]
    );
    let response = app
        .call(
            &finance.token,
            Method::GET,
            "/api/v1/cost?from=2024-09-01&to=2024-10-01&group_by=tag:team&format=csv",
            None,
        )
        .await;
    assert_eq!(response.status, 200);
    assert!(
        response
            .text()
            .starts_with("period,tag:team,currency,amount")
    );
    let response = app
        .call(
            &finance.token,
            Method::GET,
            "/api/v1/cost?from=2024-09-01&to=2024-10-01&tag_key=team",
            None,
        )
        .await;
    assert_eq!(response.status, 422, "a tag filter needs its value");

    // Dropping the keys drops the dimension; every change is audited.
    let response = put_settings(&app, &finance, json!({"tag_keys": []})).await;
    assert_eq!(response.status, 200);
    let rows_with_tags: i64 =
        sqlx::query_scalar("SELECT count(*) FROM cost_daily WHERE tags IS NOT NULL")
            .fetch_one(&mut app.owner().await)
            .await
            .unwrap();
    assert_eq!(rows_with_tags, 0);
    let audited: i64 =
        sqlx::query_scalar("SELECT count(*) FROM audit_log WHERE action = 'cost.settings.update'")
            .fetch_one(&mut app.owner().await)
            .await
            .unwrap();
    assert_eq!(
        audited, 3,
        "one row per accepted change, none for rejected ones"
    );
}
