//! Anomaly detection over an imported history: a spike is found with its top contributors,
//! announced once, follows a restated bill, and can be acknowledged.

use axum::http::Method;
use chrono::{Datelike, Days, NaiveDate, Utc};
use nimbus_api_types::rbac::BuiltinRole;
use nimbus_tests::TestApp;
use rust_decimal::Decimal;
use serde_json::{Value, json};

/// Six weeks of two instances up to yesterday — `i-steady` at 50 a day, `i-batch` at 30 — with
/// `i-batch` at `spike` three days ago.
fn bill(today: NaiveDate, spike: &str) -> (String, NaiveDate) {
    let spike_day = today.checked_sub_days(Days::new(3)).unwrap();
    let mut out = String::from(
        "BilledCost,BillingAccountId,BillingAccountName,BillingCurrency,BillingPeriodEnd,BillingPeriodStart,ChargeCategory,ChargeClass,ChargeDescription,ChargePeriodEnd,ChargePeriodStart,ContractedCost,EffectiveCost,InvoiceIssuerName,ListCost,PricingQuantity,PricingUnit,ProviderName,PublisherName,RegionId,ResourceId,ServiceCategory,ServiceName,SubAccountId\n",
    );
    let from = today.checked_sub_days(Days::new(42)).unwrap();
    for day in from.iter_days().take_while(|day| *day < today) {
        let period = day.with_day(1).unwrap();
        let period_end = period.checked_add_months(chrono::Months::new(1)).unwrap();
        let next = day.succ_opt().unwrap();
        for (resource, cost) in [
            ("i-steady", "50"),
            ("i-batch", if day == spike_day { spike } else { "30" }),
        ] {
            out.push_str(&format!(
                "{cost},acct-a,A,USD,{period_end}T00:00:00Z,{period}T00:00:00Z,Usage,,VM,{next}T00:00:00Z,{day}T00:00:00Z,{cost},{cost},AWS,{cost},24,Hours,AWS,AWS,eu-west-1,{resource},Compute,EC2,111122223333\n"
            ));
        }
    }
    (out, spike_day)
}

fn decimal(value: &Value) -> Decimal {
    value.as_str().unwrap().parse().unwrap()
}

async fn anomaly_notifications(app: &TestApp, token: &str) -> usize {
    let response = app
        .call(token, Method::GET, "/api/v1/notifications", None)
        .await;
    assert_eq!(response.status, 200);
    response.json()["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["kind"] == "cost.anomaly")
        .count()
}

#[tokio::test]
async fn a_spike_is_found_with_its_contributors_announced_once_and_follows_a_restated_bill() {
    let app = TestApp::new().await;
    let tenant = app.tenant("anomalies").await;
    let finance = app.member(tenant, BuiltinRole::Finance).await;
    let viewer = app.member(tenant, BuiltinRole::Viewer).await;
    let today = Utc::now().date_naive();
    let (file, spike_day) = bill(today, "330");
    let imported = app
        .upload_bill(&finance.token, "history.csv", file.as_bytes())
        .await;
    assert_eq!(imported.status, 201, "{}", imported.text());

    let list = app
        .call(&viewer.token, Method::GET, "/api/v1/anomalies", None)
        .await;
    assert_eq!(list.status, 200, "{}", list.text());
    let items = list.json()["items"].as_array().unwrap().clone();
    assert_eq!(items.len(), 1, "only the spike: {items:?}");
    let anomaly = &items[0];
    assert_eq!(anomaly["day"], spike_day.to_string());
    assert_eq!(anomaly["service_name"], "EC2");
    assert_eq!(anomaly["provider"], "AWS");
    assert_eq!(anomaly["sub_account_id"], "111122223333");
    assert_eq!(anomaly["project_id"], Value::Null);
    assert_eq!(decimal(&anomaly["spend"]), Decimal::from(380));
    assert_eq!(decimal(&anomaly["baseline"]), Decimal::from(80));
    assert_eq!(decimal(&anomaly["impact"]), Decimal::from(300));
    assert_eq!(anomaly["severity"], "high");
    assert_eq!(anomaly["status"], "open");
    let top_resource = anomaly["contributors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["dimension"] == "resource_id")
        .expect("a resource contributor");
    assert_eq!(top_resource["value"], "i-batch");
    assert_eq!(decimal(&top_resource["spend"]), Decimal::from(330));
    assert_eq!(decimal(&top_resource["baseline"]), Decimal::from(30));
    assert_eq!(anomaly_notifications(&app, &viewer.token).await, 1);

    // The same file again changes nothing; a restated one updates the anomaly, not announcing
    // it twice.
    let again = app
        .upload_bill(&finance.token, "history.csv", file.as_bytes())
        .await;
    assert_eq!(again.status, 200);
    let (restated, _) = bill(today, "530");
    let replaced = app
        .upload_bill(&finance.token, "restated.csv", restated.as_bytes())
        .await;
    assert_eq!(replaced.status, 201, "{}", replaced.text());
    let after = app
        .call(&viewer.token, Method::GET, "/api/v1/anomalies", None)
        .await
        .json();
    assert_eq!(after["items"].as_array().unwrap().len(), 1);
    assert_eq!(after["items"][0]["id"], anomaly["id"]);
    assert_eq!(decimal(&after["items"][0]["spend"]), Decimal::from(580));
    assert_eq!(anomaly_notifications(&app, &viewer.token).await, 1);

    // Acknowledging needs `cost:write`, is audited, and filters apply.
    let path = format!(
        "/api/v1/anomalies/{}/status",
        anomaly["id"].as_str().unwrap()
    );
    let refused = app
        .call(
            &viewer.token,
            Method::PUT,
            &path,
            Some(json!({"status": "acknowledged"})),
        )
        .await;
    assert_eq!(refused.status, 403);
    let audit_before = app.audit_rows().await;
    let acknowledged = app
        .call(
            &finance.token,
            Method::PUT,
            &path,
            Some(json!({"status": "acknowledged"})),
        )
        .await;
    assert_eq!(acknowledged.status, 200, "{}", acknowledged.text());
    assert_eq!(app.audit_rows().await, audit_before + 1);
    for (query, expected) in [
        ("?status=open", 0),
        ("?status=acknowledged", 1),
        ("?severity=high", 1),
        (&format!("?from={}", today) as &str, 0),
        (&format!("?from={spike_day}&to={today}"), 1),
    ] {
        let page = app
            .call(
                &viewer.token,
                Method::GET,
                &format!("/api/v1/anomalies{query}"),
                None,
            )
            .await;
        assert_eq!(page.status, 200, "{query}: {}", page.text());
        assert_eq!(
            page.json()["items"].as_array().unwrap().len(),
            expected,
            "{query}"
        );
    }
}

#[tokio::test]
async fn steady_spend_has_no_anomalies() {
    let app = TestApp::new().await;
    let tenant = app.tenant("steady").await;
    let finance = app.member(tenant, BuiltinRole::Finance).await;
    let (file, _) = bill(Utc::now().date_naive(), "30");
    let imported = app
        .upload_bill(&finance.token, "steady.csv", file.as_bytes())
        .await;
    assert_eq!(imported.status, 201, "{}", imported.text());
    let list = app
        .call(&finance.token, Method::GET, "/api/v1/anomalies", None)
        .await;
    assert_eq!(list.json()["items"], json!([]));
    assert_eq!(anomaly_notifications(&app, &finance.token).await, 0);
}
