//! Cost allocation end to end: rules through the API, the ledger reallocated, the explorer's
//! project view exact to the cent (and beyond), idempotent runs.

use std::collections::BTreeMap;

use axum::http::Method;
use nimbus_api_types::rbac::BuiltinRole;
use nimbus_tests::{Actor, TestApp};
use rust_decimal::Decimal;
use serde_json::{Value, json};

const HEADER: &str = "BilledCost,BillingAccountId,BillingAccountName,BillingCurrency,BillingPeriodEnd,BillingPeriodStart,ChargeCategory,ChargeClass,ChargeDescription,ChargePeriodEnd,ChargePeriodStart,ContractedCost,EffectiveCost,InvoiceIssuerName,ListCost,PricingQuantity,PricingUnit,ProviderName,PublisherName,RegionId,ResourceId,ServiceCategory,ServiceName,SubAccountId,Tags";

/// September 2024 for one account: (sub-account, resource, tags, cost).
fn bill(rows: &[(&str, &str, &str, &str)]) -> Vec<u8> {
    let mut out = format!("{HEADER}\n");
    for (i, (sub, resource, tags, cost)) in rows.iter().enumerate() {
        let day = 1 + i % 28;
        out.push_str(&format!(
            "{cost},acct-1,Example,USD,2024-10-01T00:00:00Z,2024-09-01T00:00:00Z,Usage,,x,2024-09-{day:02}T01:00:00Z,2024-09-{day:02}T00:00:00Z,{cost},{cost},Example,{cost},1,Hours,AWS,AWS,eu-west-1,{resource},Compute,EC2,{sub},\"{tags}\"\n",
            tags = tags.replace('"', "\"\""),
        ));
    }
    out.into_bytes()
}

/// Team a's VM (10), team b's bucket (20), a shared NAT gateway (9), and a cost nobody owns (5).
fn september(team_a_cost: &str) -> Vec<u8> {
    bill(&[
        ("sub-a", "i-1", r#"{"team":"a"}"#, team_a_cost),
        ("sub-b", "arn:aws:s3:::logs_bucket", r#"{"team":"b"}"#, "20"),
        ("shared", "nat-1", "{}", "9"),
        ("other", "vol-9", "", "5"),
    ])
}

async fn project(app: &TestApp, owner: &Actor, name: &str) -> String {
    let created = app
        .call(
            &owner.token,
            Method::POST,
            "/api/v1/projects",
            Some(json!({ "name": name })),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text());
    created.json()["id"].as_str().unwrap().to_owned()
}

fn decimal(value: &Value) -> Decimal {
    value.as_str().unwrap().parse().unwrap()
}

/// Billed cost of September by project (`unallocated` included).
async fn by_project(app: &TestApp, token: &str) -> BTreeMap<String, Decimal> {
    let response = app
        .call(
            token,
            Method::GET,
            "/api/v1/cost?from=2024-09-01&to=2024-10-01&metric=billed&group_by=project",
            None,
        )
        .await;
    assert_eq!(response.status, 200, "{}", response.text());
    response.json()["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| {
            (
                row["group"][0].as_str().unwrap().to_owned(),
                decimal(&row["amount"]),
            )
        })
        .collect()
}

fn amounts(pairs: &[(&str, &str)]) -> BTreeMap<String, Decimal> {
    pairs
        .iter()
        .map(|(project, amount)| ((*project).to_owned(), amount.parse().unwrap()))
        .collect()
}

async fn create_rule(app: &TestApp, actor: &Actor, rule: Value) -> Value {
    let response = app
        .call(
            &actor.token,
            Method::POST,
            "/api/v1/cost/allocation-rules",
            Some(rule),
        )
        .await;
    assert_eq!(response.status, 201, "{}", response.text());
    response.json()
}

#[tokio::test]
async fn rules_allocate_costs_to_projects_in_priority_order_and_split_shared_costs_exactly() {
    let app = TestApp::new().await;
    let tenant = app.tenant("allocation").await;
    let owner = app.member(tenant, BuiltinRole::Owner).await;
    let finance = app.member(tenant, BuiltinRole::Finance).await;
    let a = project(&app, &owner, "team-a").await;
    let b = project(&app, &owner, "team-b").await;
    let imported = app
        .upload_bill(&finance.token, "sep.csv", &september("10"))
        .await;
    assert_eq!(imported.status, 201, "{}", imported.text());
    assert_eq!(
        by_project(&app, &finance.token).await,
        amounts(&[("unallocated", "44")]),
        "before any rule, everything is unallocated"
    );

    create_rule(
        &app,
        &finance,
        json!({"name": "team a", "priority": 10,
        "match": {"field": "tag", "key": "team", "value": "a"},
        "target": {"kind": "project", "project_id": a}}),
    )
    .await;
    create_rule(
        &app,
        &finance,
        json!({"name": "team b account", "priority": 20,
        "match": {"field": "sub_account", "value": "sub-b"},
        "target": {"kind": "project", "project_id": b}}),
    )
    .await;
    let shared = create_rule(
        &app,
        &finance,
        json!({"name": "network", "priority": 30,
        "match": {"field": "resource_id", "pattern": "nat-*"},
        "target": {"kind": "shared", "method": "proportional", "project_ids": [a, b]}}),
    )
    .await;
    // The NAT gateway's 9 is split 10:20 between a and b; the rest follows the rules.
    assert_eq!(
        by_project(&app, &finance.token).await,
        amounts(&[(&a, "13"), (&b, "26"), ("unallocated", "5")])
    );

    // Running again changes nothing.
    let rollups = || async {
        sqlx::query_scalar::<_, String>(
            "SELECT string_agg(concat_ws('|', day, project_id, billed_cost, line_items), ',' ORDER BY day, project_id)
             FROM cost_daily",
        )
        .fetch_one(&mut app.owner().await)
        .await
        .unwrap()
    };
    let before = rollups().await;
    for _ in 0..2 {
        let run = app
            .call(
                &finance.token,
                Method::POST,
                "/api/v1/cost/allocation-rules/run",
                None,
            )
            .await;
        assert_eq!(run.status, 200, "{}", run.text());
        assert_eq!(run.json()["months"], 1);
        assert_eq!(run.json()["unallocated_line_items"], 1);
    }
    assert_eq!(
        rollups().await,
        before,
        "a second run writes the same rollups"
    );
    let counted: i64 = sqlx::query_scalar("SELECT sum(line_items)::bigint FROM cost_daily")
        .fetch_one(&mut app.owner().await)
        .await
        .unwrap();
    assert_eq!(counted, 4, "a shared line item is counted once");

    // A restated bill is allocated as it is imported; the weights follow it.
    let restated = app
        .upload_bill(&finance.token, "sep-v2.csv", &september("30"))
        .await;
    assert_eq!(restated.status, 201, "{}", restated.text());
    assert_eq!(
        by_project(&app, &finance.token).await,
        amounts(&[(&a, "35.4"), (&b, "23.6"), ("unallocated", "5")])
    );

    // Even split; three ways gives shares that still add up to the whole.
    let c = project(&app, &owner, "team-c").await;
    let shared_id = shared["id"].as_str().unwrap();
    let replaced = app
        .call(
            &finance.token,
            Method::PUT,
            &format!("/api/v1/cost/allocation-rules/{shared_id}"),
            Some(json!({"name": "network", "priority": 30,
                "match": {"field": "resource_id", "pattern": "nat-*"},
                "target": {"kind": "shared", "method": "even", "project_ids": [a, b, c]}})),
        )
        .await;
    assert_eq!(replaced.status, 200, "{}", replaced.text());
    let even = by_project(&app, &finance.token).await;
    assert_eq!(even.values().sum::<Decimal>(), "64".parse().unwrap());
    assert_eq!(even[&c], "3".parse().unwrap());

    // A rule with a lower number wins: `i-?` takes team a's VM for team b.
    create_rule(
        &app,
        &finance,
        json!({"name": "instances", "priority": 1,
        "match": {"field": "resource_id", "pattern": "i-?"},
        "target": {"kind": "project", "project_id": b}}),
    )
    .await;
    let overridden = by_project(&app, &finance.token).await;
    assert_eq!(overridden[&b], "53".parse().unwrap(), "20 + 30 + 3");
    // `?` is one character; `_` is literal, not SQL's any-character (`i_1` must not take `i-1`).
    create_rule(
        &app,
        &finance,
        json!({"name": "logs bucket", "priority": 2,
        "match": {"field": "resource_id", "pattern": "arn:aws:s3:::logs?bucket"},
        "target": {"kind": "project", "project_id": c}}),
    )
    .await;
    create_rule(
        &app,
        &finance,
        json!({"name": "literal underscore", "priority": 0,
        "match": {"field": "resource_id", "pattern": "i_1"},
        "target": {"kind": "project", "project_id": c}}),
    )
    .await;
    assert_eq!(
        by_project(&app, &finance.token).await[&c],
        "23".parse().unwrap()
    );

    // A token limited to project c sees c's costs only.
    let token = app
        .call(
            &finance.token,
            Method::POST,
            "/api/v1/api-tokens",
            Some(json!({"name": "c only", "project_id": c})),
        )
        .await;
    assert_eq!(token.status, 201, "{}", token.text());
    let scoped = token.json()["secret"].as_str().unwrap().to_owned();
    assert_eq!(
        by_project(&app, &scoped).await,
        BTreeMap::from([(c.clone(), "23".parse().unwrap())])
    );

    let refused = app
        .call(
            &scoped,
            Method::POST,
            "/api/v1/cost/allocation-rules/run",
            None,
        )
        .await;
    assert_eq!(
        refused.status, 403,
        "rules are tenant-wide: a project token cannot run them"
    );

    // Deleting a rule reallocates what it matched.
    let rules = app
        .call(
            &finance.token,
            Method::GET,
            "/api/v1/cost/allocation-rules",
            None,
        )
        .await
        .json();
    let priorities: Vec<i64> = rules["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["priority"].as_i64().unwrap())
        .collect();
    assert_eq!(priorities, [0, 1, 2, 10, 20, 30]);
    let first = rules["items"][1]["id"].as_str().unwrap();
    let deleted = app
        .call(
            &finance.token,
            Method::DELETE,
            &format!("/api/v1/cost/allocation-rules/{first}"),
            None,
        )
        .await;
    assert_eq!(deleted.status, 204);
    assert_eq!(
        by_project(&app, &finance.token).await[&a],
        "33".parse().unwrap()
    );
    let audited: i64 =
        sqlx::query_scalar("SELECT count(*) FROM audit_log WHERE action LIKE 'cost.allocation%'")
            .fetch_one(&mut app.owner().await)
            .await
            .unwrap();
    assert_eq!(
        audited,
        2 + 6 + 1 + 1,
        "two runs, six creations, one update, one deletion"
    );
}

#[tokio::test]
async fn invalid_rules_are_refused_with_reasons_and_a_rules_project_cannot_be_deleted() {
    let app = TestApp::new().await;
    let tenant = app.tenant("allocation-errors").await;
    let owner = app.member(tenant, BuiltinRole::Owner).await;
    let a = project(&app, &owner, "a").await;
    let post = |rule: Value| {
        app.call(
            &owner.token,
            Method::POST,
            "/api/v1/cost/allocation-rules",
            Some(rule),
        )
    };
    let one_project = post(json!({"name": "x", "priority": 1,
        "match": {"field": "sub_account", "value": "s"},
        "target": {"kind": "shared", "method": "even", "project_ids": [a, a]}}))
    .await;
    assert_eq!(one_project.status, 422, "{}", one_project.text());
    assert!(one_project.text().contains("2 to 100 distinct projects"));
    let unknown = post(json!({"name": "x", "priority": 1,
        "match": {"field": "sub_account", "value": "s"},
        "target": {"kind": "project", "project_id": uuid::Uuid::new_v4()}}))
    .await;
    assert_eq!(unknown.status, 422, "{}", unknown.text());
    let empty = post(json!({"name": "x", "priority": 1,
        "match": {"field": "tag", "key": "", "value": "v"},
        "target": {"kind": "project", "project_id": a}}))
    .await;
    assert_eq!(empty.status, 422, "{}", empty.text());
    let good = json!({"name": "x", "priority": 1,
        "match": {"field": "sub_account", "value": "s"},
        "target": {"kind": "project", "project_id": a}});
    assert_eq!(post(good.clone()).await.status, 201);
    let taken = post(good).await;
    assert_eq!(taken.status, 409, "{}", taken.text());
    let delete = app
        .call(
            &owner.token,
            Method::DELETE,
            &format!("/api/v1/projects/{a}"),
            None,
        )
        .await;
    assert_eq!(delete.status, 409, "{}", delete.text());
    assert!(delete.text().contains("allocation rule"));
    let missing = app
        .call(
            &owner.token,
            Method::DELETE,
            &format!("/api/v1/cost/allocation-rules/{}", uuid::Uuid::new_v4()),
            None,
        )
        .await;
    assert_eq!(missing.status, 404);
}
