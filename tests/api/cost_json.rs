//! Bills that come as JSON rows: Google Cloud's billing export (newline-delimited JSON, here
//! gzip-compressed) and Alibaba Cloud's `QueryInstanceBill` answers, each converted to FOCUS
//! with the native file's own totals.

use std::io::Write;

use serde_json::{Value, json};

use crate::cost::{decimal, explore, finance};
use nimbus_tests::TestApp;

fn total(report: &Value, currency: &str) -> rust_decimal::Decimal {
    let total = report["totals"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["currency"] == currency)
        .unwrap_or_else(|| panic!("no {currency} total in {report}"));
    decimal(total["amount"].as_str().unwrap())
}

fn gcp_row(
    service: &str,
    start: &str,
    end: &str,
    project: &str,
    cost: f64,
    credits: Value,
    cost_type: &str,
) -> Value {
    json!({
        "billing_account_id": "01A2B3-C4D5E6-F7G8H9",
        "service": {"id": "6F81-5844-456A", "description": service},
        "sku": {"id": "2E27-4F75-95CD", "description": "N1 Predefined Instance Core"},
        "usage_start_time": start, "usage_end_time": end,
        "project": {"id": project, "number": "123456789012", "name": project, "labels": [], "ancestry_numbers": "/1/"},
        "labels": [{"key": "team", "value": "web"}],
        "system_labels": [],
        "location": {"location": "us-central1", "country": "US", "region": "us-central1", "zone": "us-central1-a"},
        "resource": {"name": "vm-1", "global_name": "//compute.googleapis.com/projects/p/zones/us-central1-a/instances/1"},
        "export_time": "2024-10-01 05:00:00.123 UTC",
        "cost": cost, "currency": "USD", "currency_conversion_rate": 1,
        "usage": {"amount": 3600, "unit": "seconds", "amount_in_pricing_units": 1, "pricing_unit": "hour"},
        "credits": credits,
        "invoice": {"month": "202409"},
        "cost_type": cost_type,
        "adjustment_info": null,
        "cost_at_list": cost,
    })
}

#[tokio::test]
async fn a_google_cloud_billing_export_converts_with_its_own_cost_plus_credits() {
    let app = TestApp::new().await;
    let actor = finance(&app, "gcp").await;
    let rows = [
        gcp_row(
            "Compute Engine",
            "2024-09-01 00:00:00 UTC",
            "2024-09-01 01:00:00 UTC",
            "web-prod",
            1.234567,
            json!([{"name": "Sustained Usage Discount", "amount": -0.2, "type": "SUSTAINED_USAGE_DISCOUNT"}]),
            "regular",
        ),
        gcp_row(
            "Cloud Storage",
            "2024-09-02 00:00:00 UTC",
            "2024-09-03 00:00:00 UTC",
            "web-prod",
            0.05,
            json!([]),
            "regular",
        ),
        gcp_row(
            "Invoice",
            "2024-09-01 00:00:00 UTC",
            "2024-10-01 00:00:00 UTC",
            "web-prod",
            0.13,
            json!([]),
            "tax",
        ),
        gcp_row(
            "Compute Engine",
            "2024-09-30 23:00:00 UTC",
            "2024-10-01 00:00:00 UTC",
            "data-prod",
            2.5,
            json!([{"name": "Committed use discount", "amount": -0.1}, {"name": "Free tier", "amount": -0.15}]),
            "regular",
        ),
    ];
    let mut ndjson = String::new();
    for row in &rows {
        ndjson.push_str(&row.to_string());
        ndjson.push('\n');
    }
    let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gzip.write_all(ndjson.as_bytes()).unwrap();
    let response = app
        .upload_bill(&actor.token, "gcp-export.json.gz", &gzip.finish().unwrap())
        .await;
    assert_eq!(response.status, 201, "{}", response.text());
    let import = response.json();
    assert_eq!(import["source"], "gcp");
    assert_eq!(import["units"], 1);
    assert_eq!(import["rows_total"], 4);

    // The export's own sums: cost, and cost plus credits (what the invoice charges).
    let cost = decimal("1.234567") + decimal("0.05") + decimal("0.13") + decimal("2.5");
    let credits = decimal("-0.2") + decimal("-0.1") + decimal("-0.15");
    let billed = explore(&app, &actor, "metric=billed&group_by=charge_category").await;
    assert_eq!(total(&billed, "USD"), cost + credits);
    assert_eq!(
        total(&explore(&app, &actor, "metric=contracted").await, "USD"),
        cost
    );
    let categories: Vec<&str> = billed["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| row["group"][0].as_str().unwrap())
        .collect();
    assert_eq!(categories, ["Tax", "Usage"]);
    let by_project = explore(&app, &actor, "metric=billed&group_by=sub_account").await;
    let data = by_project["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|row| row["group"][0] == "data-prod")
        .unwrap();
    assert_eq!(decimal(data["amount"].as_str().unwrap()), decimal("2.25"));

    let (tags, resource, category): (Value, String, String) = sqlx::query_as(
        "SELECT tags, resource_id, service_category FROM cost_line_items WHERE sub_account_id = 'data-prod'",
    )
    .fetch_one(&mut app.owner().await)
    .await
    .unwrap();
    assert_eq!(tags, json!({"team": "web"}));
    assert!(resource.starts_with("//compute.googleapis.com/"));
    assert_eq!(category, "Compute");
}

fn alibaba_item(
    day: &str,
    product: (&str, &str),
    instance: &str,
    gross: f64,
    pretax: f64,
    kind: (&str, &str),
) -> Value {
    json!({
        "BillingDate": day, "InstanceID": instance, "ProductCode": product.0, "ProductName": product.1,
        "ProductType": "", "SubscriptionType": kind.0, "Item": kind.1,
        "Region": "China (Hangzhou)", "Zone": "cn-hangzhou-h", "OwnerID": "1234567890",
        "BillAccountID": "1234567890", "BillAccountName": "acme",
        "BillingItem": "Instance type", "BillingItemCode": "instance_type",
        "ListPrice": "0.5", "ListPriceUnit": "CNY/hour", "Usage": "24", "UsageUnit": "Hour",
        "PretaxGrossAmount": gross, "InvoiceDiscount": 0, "DeductedByCoupons": 0,
        "PretaxAmount": pretax, "PaymentAmount": pretax, "OutstandingAmount": 0,
        "Currency": "CNY", "Tag": "key:team value:web; key:env value:prod", "CostUnit": "web",
        "ResourceGroup": "default", "NickName": "",
    })
}

fn alibaba_page(items: Vec<Value>) -> String {
    json!({"Code": "Success", "Message": "Successful!", "RequestId": "6000EE23-274B-4E07-A697-FF2E999520A4",
        "Success": true,
        "Data": {"BillingCycle": "2024-09", "AccountID": "1234567890", "AccountName": "acme@example.com",
                 "TotalCount": 3, "MaxResults": 2, "Items": items}})
    .to_string()
}

#[tokio::test]
async fn alibaba_cloud_instance_bill_pages_convert_with_their_own_pretax_totals() {
    let app = TestApp::new().await;
    let actor = finance(&app, "alibaba").await;
    let pay_as_you_go = ("PayAsYouGo", "PayAsYouGoBill");
    let pages = [
        alibaba_page(vec![
            alibaba_item(
                "2024-09-01",
                ("ecs", "Elastic Compute Service"),
                "i-bp1",
                12.0,
                10.8,
                pay_as_you_go,
            ),
            alibaba_item(
                "2024-09-01",
                ("oss", "Object Storage Service"),
                "bucket-1",
                0.33,
                0.33,
                pay_as_you_go,
            ),
        ]),
        alibaba_page(vec![alibaba_item(
            "2024-09-02",
            ("ecs", "Elastic Compute Service"),
            "i-bp2",
            350.0,
            300.0,
            ("Subscription", "SubscriptionOrder"),
        )]),
    ];
    // Pages one after another, as a pager writes them.
    let file = format!("{}\n{}\n", pages[0], pages[1]);
    let response = app
        .upload_bill(&actor.token, "alibaba-2024-09.json", file.as_bytes())
        .await;
    assert_eq!(response.status, 201, "{}", response.text());
    assert_eq!(response.json()["source"], "alibaba");
    assert_eq!(response.json()["rows_total"], 3);

    let billed = explore(&app, &actor, "metric=billed&group_by=charge_category").await;
    assert_eq!(
        total(&billed, "CNY"),
        decimal("311.13"),
        "the PretaxAmount sum"
    );
    assert_eq!(
        total(&explore(&app, &actor, "metric=list").await, "CNY"),
        decimal("362.33"),
        "the PretaxGrossAmount sum"
    );
    let categories: Vec<(String, rust_decimal::Decimal)> = billed["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| {
            (
                row["group"][0].as_str().unwrap().to_owned(),
                decimal(row["amount"].as_str().unwrap()),
            )
        })
        .collect();
    assert_eq!(
        categories,
        [
            ("Purchase".to_owned(), decimal("300")),
            ("Usage".to_owned(), decimal("11.13"))
        ]
    );
    let (tags, region_name, region_id): (Value, String, Option<String>) = sqlx::query_as(
        "SELECT tags, region_name, region_id FROM cost_line_items WHERE resource_id = 'i-bp1'",
    )
    .fetch_one(&mut app.owner().await)
    .await
    .unwrap();
    assert_eq!(tags, json!({"team": "web", "env": "prod"}));
    assert_eq!(region_name, "China (Hangzhou)");
    assert_eq!(region_id, None, "a display name is not a region id");

    // A bad amount rejects the file, naming the item and the field; nothing of it shows.
    let mut bad = alibaba_item("2024-10-01", ("ecs", "ECS"), "i-x", 1.0, 1.0, pay_as_you_go);
    bad["PretaxAmount"] = json!("ten");
    let rejected = app
        .upload_bill(
            &actor.token,
            "bad.json",
            alibaba_page(vec![bad.clone(), bad]).as_bytes(),
        )
        .await;
    assert_eq!(rejected.status, 422, "{}", rejected.text());
    let errors = rejected.json()["error"]["details"]["errors"].clone();
    assert_eq!(errors[0]["row"], 1, "{errors}");
    assert_eq!(errors[0]["column"], "PretaxAmount");
    let october = app
        .call(
            &actor.token,
            axum::http::Method::GET,
            "/api/v1/cost?from=2024-10-01&to=2024-11-01",
            None,
        )
        .await
        .json();
    assert_eq!(october["totals"], json!([]));
    let unknown = app
        .upload_bill(&actor.token, "other.json", br#"{"hello": "world"}"#)
        .await;
    assert_eq!(unknown.status, 422);
    assert!(
        unknown.text().contains("not a known bill"),
        "{}",
        unknown.text()
    );
}
