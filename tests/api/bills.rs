//! The monthly bill: exact totals by charge category, provider and service, project and billing
//! account, per currency; the printable page; one project's bill.

use axum::http::Method;
use nimbus_api_types::rbac::BuiltinRole;
use nimbus_tests::TestApp;
use rust_decimal::Decimal;
use serde_json::{Value, json};

const HEADER: &str = "BilledCost,BillingAccountId,BillingAccountName,BillingCurrency,BillingPeriodEnd,BillingPeriodStart,ChargeCategory,ChargeClass,ChargeDescription,ChargePeriodEnd,ChargePeriodStart,ContractedCost,EffectiveCost,InvoiceIssuerName,ListCost,PricingQuantity,PricingUnit,ProviderName,PublisherName,ServiceCategory,ServiceName,SubAccountId";

/// September 2024 in USD (AWS) and EUR (Azure), with a tax and a credit, and one October line
/// that is not September's bill.
fn bill_file() -> String {
    let line = |cost: &str,
                account: &str,
                currency: &str,
                period: (&str, &str),
                category: &str,
                provider: &str,
                service: &str,
                sub: &str| {
        format!(
            "{cost},{account},{account},{currency},{end}T00:00:00Z,{start}T00:00:00Z,{category},,x,{start_next}T00:00:00Z,{start}T00:00:00Z,{cost},{cost},{provider},{cost},1,Hours,{provider},{provider},Compute,{service},{sub}\n",
            start = period.0,
            end = period.1,
            start_next = next_day(period.0),
        )
    };
    let september = ("2024-09-01", "2024-10-01");
    let october = ("2024-10-01", "2024-11-01");
    let mut out = format!("{HEADER}\n");
    for row in [
        line(
            "100.10", "aws-1", "USD", september, "Usage", "AWS", "EC2", "team-a",
        ),
        line(
            "50.05", "aws-1", "USD", september, "Usage", "AWS", "EC2", "team-b",
        ),
        line(
            "20", "aws-1", "USD", september, "Usage", "AWS", "S3", "team-a",
        ),
        line(
            "12.34", "aws-1", "USD", september, "Tax", "AWS", "EC2", "team-b",
        ),
        line(
            "-10", "aws-1", "USD", september, "Credit", "AWS", "EC2", "team-b",
        ),
        line(
            "1000",
            "az-1",
            "EUR",
            september,
            "Usage",
            "Microsoft",
            "Virtual Machines",
            "sub-1",
        ),
        line(
            "999", "aws-1", "USD", october, "Usage", "AWS", "EC2", "team-a",
        ),
    ] {
        out.push_str(&row);
    }
    out
}

fn next_day(day: &str) -> String {
    day.parse::<chrono::NaiveDate>()
        .unwrap()
        .succ_opt()
        .unwrap()
        .to_string()
}

fn amount(value: &Value) -> Decimal {
    value.as_str().unwrap().parse().unwrap()
}

/// `name → billed` of a list of bill lines.
fn billed(lines: &Value) -> Vec<(String, Decimal)> {
    lines
        .as_array()
        .unwrap()
        .iter()
        .map(|line| {
            (
                line["name"].as_str().unwrap().to_owned(),
                amount(&line["billed"]),
            )
        })
        .collect()
}

fn d(text: &str) -> Decimal {
    text.parse().unwrap()
}

#[tokio::test]
async fn the_monthly_bill_totals_exactly_by_category_provider_service_project_and_account() {
    let app = TestApp::new().await;
    let tenant = app.tenant("billed").await;
    let owner = app.member(tenant, BuiltinRole::Owner).await;
    let viewer = app.member(tenant, BuiltinRole::Viewer).await;
    let project = app
        .call(
            &owner.token,
            Method::POST,
            "/api/v1/projects",
            Some(json!({"name": "alpha"})),
        )
        .await
        .json()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let rule = app
        .call(
            &owner.token,
            Method::POST,
            "/api/v1/cost/allocation-rules",
            Some(json!({"name": "team a", "priority": 1,
                "match": {"field": "sub_account", "value": "team-a"},
                "target": {"kind": "project", "project_id": project}})),
        )
        .await;
    assert_eq!(rule.status, 201, "{}", rule.text());
    let imported = app
        .upload_bill(&owner.token, "bill.csv", bill_file().as_bytes())
        .await;
    assert_eq!(imported.status, 201, "{}", imported.text());

    let response = app
        .call(&viewer.token, Method::GET, "/api/v1/bills/2024-09", None)
        .await;
    assert_eq!(response.status, 200, "{}", response.text());
    let bill = response.json();
    assert_eq!(bill["month"], "2024-09");
    let currencies = bill["currencies"].as_array().unwrap();
    assert_eq!(currencies.len(), 2, "EUR and USD apart");
    let (eur, usd) = (&currencies[0], &currencies[1]);
    assert_eq!(eur["currency"], "EUR");
    assert_eq!(amount(&eur["billed"]), d("1000"));
    assert_eq!(usd["currency"], "USD");
    assert_eq!(amount(&usd["billed"]), d("172.49"), "October is not in it");
    assert_eq!(
        billed(&usd["charge_categories"]),
        [
            ("Usage".to_owned(), d("170.15")),
            ("Tax".to_owned(), d("12.34")),
            ("Credit".to_owned(), d("-10"))
        ]
    );
    let aws = &usd["providers"][0];
    assert_eq!(aws["provider"], "AWS");
    assert_eq!(amount(&aws["billed"]), d("172.49"));
    assert_eq!(
        billed(&aws["services"]),
        [("EC2".to_owned(), d("152.49")), ("S3".to_owned(), d("20"))]
    );
    assert_eq!(
        billed(&usd["projects"]),
        [
            ("alpha".to_owned(), d("120.10")),
            ("Unallocated".to_owned(), d("52.39"))
        ]
    );
    assert_eq!(usd["projects"][0]["project_id"], project.as_str());
    assert_eq!(
        billed(&usd["billing_accounts"]),
        [("aws-1".to_owned(), d("172.49"))]
    );

    // The printable page shows the same figures, grouped and rounded.
    let page = app
        .call(
            &viewer.token,
            Method::GET,
            "/api/v1/bills/2024-09?format=html",
            None,
        )
        .await;
    assert_eq!(page.status, 200);
    assert!(
        page.header("content-type")
            .unwrap()
            .starts_with("text/html")
    );
    let html = page.text();
    for expected in [
        "Cloud bill 2024-09",
        "1,000.00 EUR",
        "172.49 USD",
        "Credit",
        "-10.00",
        "alpha",
        "Unallocated",
        "@page",
    ] {
        assert!(html.contains(expected), "{expected} missing from the page");
    }

    // One project's bill: its allocated costs only, no allocation section.
    let alpha = app
        .call(
            &viewer.token,
            Method::GET,
            &format!("/api/v1/bills/2024-09?project={project}"),
            None,
        )
        .await
        .json();
    assert_eq!(alpha["project_name"], "alpha");
    assert_eq!(alpha["currencies"].as_array().unwrap().len(), 1);
    assert_eq!(amount(&alpha["currencies"][0]["billed"]), d("120.10"));
    assert_eq!(alpha["currencies"][0]["projects"], json!([]));

    // Bad input is named; an empty month is an empty bill.
    for (path, status) in [
        ("/api/v1/bills/2024-13", 422),
        ("/api/v1/bills/2024-09?format=pdf", 422),
        (
            &format!("/api/v1/bills/2024-09?project={}", uuid::Uuid::new_v4()) as &str,
            404,
        ),
    ] {
        let response = app.call(&viewer.token, Method::GET, path, None).await;
        assert_eq!(response.status, status, "{path}: {}", response.text());
    }
    let empty = app
        .call(&viewer.token, Method::GET, "/api/v1/bills/2023-01", None)
        .await;
    assert_eq!(empty.json()["currencies"], json!([]));
}
