//! The cost ledger end to end: FOCUS files generated here with known totals, imported through
//! the API, read back through the explorer and straight from the database.

use std::collections::BTreeMap;
use std::io::Write;

use axum::http::Method;
use nimbus_api_types::rbac::BuiltinRole;
use nimbus_tests::{Actor, TestApp};
use rust_decimal::Decimal;
use serde_json::Value;

const HEADER: &str = "BilledCost,BillingAccountId,BillingAccountName,BillingCurrency,BillingPeriodEnd,BillingPeriodStart,ChargeCategory,ChargeClass,ChargeDescription,ChargePeriodEnd,ChargePeriodStart,ContractedCost,EffectiveCost,InvoiceIssuerName,ListCost,PricingQuantity,PricingUnit,ProviderName,PublisherName,RegionId,ServiceCategory,ServiceName,SubAccountId,Tags,x_Note";

/// One generated line item, and the values the totals are computed from.
struct Charge {
    provider: &'static str,
    account: &'static str,
    service: &'static str,
    day: u32,
    billed: String,
    effective: String,
}

/// `rows` charges of September 2024 over two providers (one billing account each), three
/// services and thirty days, with amounts in plain and E notation, both date-time forms, tags
/// with a leading space, an empty region and a quoted comma: what real files contain.
fn charges(rows: usize, scale: u32) -> Vec<Charge> {
    (0..rows)
        .map(|i| {
            let (provider, account) = if i % 2 == 0 {
                ("AWS", "111122223333")
            } else {
                ("Microsoft", "ms-billing-1")
            };
            let cents = (i as u64 * 7919 + 13) % 1_000_003;
            let billed = if i % 5 == 0 {
                format!("{}E-7", cents * u64::from(scale))
            } else {
                format!("{}.{:07}", i % 17, cents * u64::from(scale) % 10_000_000)
            };
            Charge {
                provider,
                account,
                service: ["Virtual Machines", "Object Storage", "Managed Database"][i % 3],
                day: 1 + (i as u32 % 30),
                effective: format!("-0.{:04}", i % 10_000),
                billed,
            }
        })
        .collect()
}

fn focus_csv(charges: &[Charge]) -> Vec<u8> {
    let mut out = String::from(HEADER);
    out.push('\n');
    for (i, c) in charges.iter().enumerate() {
        let (start, end) = if i % 2 == 0 {
            (
                format!("2024-09-{:02}T10:00:00Z", c.day),
                format!("2024-09-{:02}T11:00:00Z", c.day),
            )
        } else {
            (
                format!("2024-09-{:02} 10:00:00", c.day),
                format!("2024-09-{:02} 11:00:00", c.day),
            )
        };
        let region = if i % 7 == 0 { "" } else { "eu-west-1" };
        out.push_str(&format!(
            "{billed},{account},Example Co,USD,2024-10-01T00:00:00Z,2024-09-01T00:00:00Z,Usage,,\"Compute, hourly\",{end},{start},{billed},{effective},{provider} Inc.,{billed},1,Hours,{provider},{provider},{region},Compute,{service},sub-{sub},\"{{\"\" team\"\":\"\"a\"\",\"\"env\"\":\"\"prod\"\"}}\",row {i}\n",
            billed = c.billed,
            account = c.account,
            effective = c.effective,
            provider = c.provider,
            service = c.service,
            sub = i % 4,
        ));
    }
    out.into_bytes()
}

pub(crate) fn decimal(value: &str) -> Decimal {
    Decimal::from_scientific(value)
        .or_else(|_| value.parse())
        .unwrap_or_else(|err| panic!("{value}: {err}"))
}

/// Expected billed totals by (day, provider, service).
fn expected_by_day(charges: &[Charge]) -> BTreeMap<(String, String, String), Decimal> {
    let mut totals = BTreeMap::new();
    for c in charges {
        *totals
            .entry((
                format!("2024-09-{:02}", c.day),
                c.provider.to_owned(),
                c.service.to_owned(),
            ))
            .or_insert(Decimal::ZERO) += decimal(&c.billed);
    }
    totals
}

pub(crate) async fn explore(app: &TestApp, actor: &Actor, query: &str) -> Value {
    let response = app
        .call(
            &actor.token,
            Method::GET,
            &format!("/api/v1/cost?from=2024-09-01&to=2024-10-01&{query}"),
            None,
        )
        .await;
    assert_eq!(response.status, 200, "{}", response.text());
    response.json()
}

/// The explorer's rows as (period, group…) → amount.
fn by_group(report: &Value) -> BTreeMap<(String, String, String), Decimal> {
    report["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| {
            let group: Vec<String> = row["group"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_str().unwrap_or("").to_owned())
                .collect();
            assert_eq!(row["currency"], "USD");
            (
                (
                    row["period"].as_str().unwrap().to_owned(),
                    group.first().cloned().unwrap_or_default(),
                    group.get(1).cloned().unwrap_or_default(),
                ),
                decimal(row["amount"].as_str().unwrap()),
            )
        })
        .collect()
}

/// Uploads a bill that must import (201).
async fn import_ok(app: &TestApp, actor: &Actor, name: &str, file: &[u8]) {
    let response = app.upload_bill(&actor.token, name, file).await;
    assert_eq!(response.status, 201, "{name}: {}", response.text());
}

/// Billed cost by day, provider and service: the view compared with `expected_by_day`.
async fn daily_billed(app: &TestApp, actor: &Actor) -> Value {
    explore(
        app,
        actor,
        "granularity=day&metric=billed&group_by=provider,service",
    )
    .await
}

async fn line_items(app: &TestApp) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM cost_line_items")
        .fetch_one(&mut app.owner().await)
        .await
        .unwrap()
}

pub(crate) async fn finance(app: &TestApp, slug: &str) -> Actor {
    app.member(app.tenant(slug).await, BuiltinRole::Finance)
        .await
}

#[tokio::test]
async fn a_generated_focus_file_imports_to_exactly_its_totals_by_provider_service_and_day() {
    let app = TestApp::new().await;
    let actor = finance(&app, "ledger").await;
    let charges = charges(600, 1);
    let imported = app
        .upload_bill(&actor.token, "september.csv", &focus_csv(&charges))
        .await;
    assert_eq!(imported.status, 201, "{}", imported.text());
    let import = imported.json();
    assert_eq!(import["status"], "succeeded");
    assert_eq!(import["rows_total"], 600);
    assert_eq!(import["units"], 2, "two billing accounts, one period");
    let warnings = import["warnings"].as_array().unwrap();
    assert!(
        warnings.iter().any(|w| w["column"] == "ChargeClass"),
        "empty strings are reported: {warnings:?}"
    );

    let report = daily_billed(&app, &actor).await;
    assert_eq!(by_group(&report), expected_by_day(&charges));
    let total: Decimal = charges.iter().map(|c| decimal(&c.billed)).sum();
    assert_eq!(
        decimal(report["totals"][0]["amount"].as_str().unwrap()),
        total
    );
    let effective = explore(&app, &actor, "metric=effective").await;
    let effective_total: Decimal = charges.iter().map(|c| decimal(&c.effective)).sum();
    assert_eq!(
        decimal(effective["totals"][0]["amount"].as_str().unwrap()),
        effective_total
    );
    let aws = explore(&app, &actor, "metric=billed&provider=AWS&group_by=service").await;
    let aws_total: Decimal = charges
        .iter()
        .filter(|c| c.provider == "AWS")
        .map(|c| decimal(&c.billed))
        .sum();
    assert_eq!(
        decimal(aws["totals"][0]["amount"].as_str().unwrap()),
        aws_total
    );

    // Tags are kept verbatim, leading space included; unknown x_ columns are kept too.
    let (tags, extensions): (Value, Value) = sqlx::query_as(
        "SELECT tags, extensions FROM cost_line_items ORDER BY charge_period_start LIMIT 1",
    )
    .fetch_one(&mut app.owner().await)
    .await
    .unwrap();
    assert_eq!(tags[" team"], "a");
    assert!(extensions["x_Note"].as_str().unwrap().starts_with("row "));
}

#[tokio::test]
async fn importing_the_same_file_twice_leaves_totals_and_rows_unchanged() {
    let app = TestApp::new().await;
    let actor = finance(&app, "twice").await;
    let file = focus_csv(&charges(300, 1));
    import_ok(&app, &actor, "a.csv", &file).await;
    let before = explore(&app, &actor, "metric=billed&group_by=service").await;
    let again = app.upload_bill(&actor.token, "a-again.csv", &file).await;
    assert_eq!(again.status, 200, "{}", again.text());
    assert_eq!(again.json()["status"], "unchanged");
    assert_eq!(line_items(&app).await, 300);
    assert_eq!(
        explore(&app, &actor, "metric=billed&group_by=service").await,
        before
    );
    let history = app
        .call(&actor.token, Method::GET, "/api/v1/cost/imports", None)
        .await
        .json();
    let statuses: Vec<&str> = history["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["unchanged", "succeeded"], "newest first");
}

#[tokio::test]
async fn a_restated_file_replaces_its_billing_period_atomically() {
    let app = TestApp::new().await;
    let actor = finance(&app, "restated").await;
    import_ok(&app, &actor, "v1.csv", &focus_csv(&charges(300, 1))).await;
    let restated = charges(200, 3);
    let response = app
        .upload_bill(&actor.token, "v2.csv", &focus_csv(&restated))
        .await;
    assert_eq!(response.status, 201, "{}", response.text());
    assert_eq!(
        line_items(&app).await,
        200,
        "the old rows of both units are gone"
    );
    let report = daily_billed(&app, &actor).await;
    assert_eq!(by_group(&report), expected_by_day(&restated));
    // Whole-month views read the monthly rollups, which follow the replacement too.
    let monthly = explore(
        &app,
        &actor,
        "granularity=month&metric=billed&group_by=service",
    )
    .await;
    let mut expected: BTreeMap<(String, String, String), Decimal> = BTreeMap::new();
    for ((_, _, service), amount) in expected_by_day(&restated) {
        *expected
            .entry(("2024-09-01".to_owned(), service, String::new()))
            .or_default() += amount;
    }
    assert_eq!(by_group(&monthly), expected);
}

#[tokio::test]
async fn a_bad_header_number_or_timestamp_is_rejected_with_its_row_and_column_and_nothing_shows() {
    let app = TestApp::new().await;
    let actor = finance(&app, "rejects").await;
    let good = charges(50, 1);
    import_ok(&app, &actor, "good.csv", &focus_csv(&good)).await;
    let before = daily_billed(&app, &actor).await;

    let text = String::from_utf8(focus_csv(&charges(50, 2))).unwrap();
    let bad_header = text.replacen("BilledCost", "Billed Cost", 1);
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    lines[3] = lines[3].replacen(&charges(50, 2)[2].billed, "$1.50", 1);
    let bad_number = lines.join("\n");
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    lines[40] = lines[40].replace("2024-09-10", "10/09/2024");
    let bad_time = lines.join("\n");

    for (file, row, column) in [
        (bad_header, 1, "BilledCost"),
        (bad_number, 4, "BilledCost"),
        (bad_time, 41, "ChargePeriodEnd"),
    ] {
        let response = app
            .upload_bill(&actor.token, "bad.csv", file.as_bytes())
            .await;
        assert_eq!(response.status, 422, "{}", response.text());
        assert_eq!(response.error_code(), "bill_rejected");
        let import = &response.json()["error"]["details"];
        assert_eq!(import["status"], "failed");
        let first = &import["errors"][0];
        assert_eq!(
            (first["row"].as_u64(), first["column"].as_str()),
            (Some(row), Some(column)),
            "{import}"
        );
    }
    assert_eq!(
        line_items(&app).await,
        50,
        "nothing of the rejected files is visible"
    );
    assert_eq!(daily_billed(&app, &actor).await, before);
}

#[tokio::test]
async fn concurrent_imports_of_the_same_billing_period_apply_once() {
    let app = TestApp::new().await;
    let actor = finance(&app, "race").await;
    let file = focus_csv(&charges(20_000, 1));
    let one = nimbus_tests::send(
        &app.router,
        nimbus_tests::bill_upload(&actor.token, "one.csv", &file),
    );
    let two = nimbus_tests::send(
        &app.router,
        nimbus_tests::bill_upload(&actor.token, "two.csv", &file),
    );
    let (one, two) = tokio::join!(one, two);
    let mut statuses = [one.status.as_u16(), two.status.as_u16()];
    statuses.sort_unstable();
    assert!(
        statuses == [200, 201] || statuses == [201, 409],
        "one import applies, the other finds it done or busy: {statuses:?} {} {}",
        one.text(),
        two.text()
    );
    assert_eq!(line_items(&app).await, 20_000);
}

#[tokio::test]
async fn gzip_compressed_files_import_like_plain_ones() {
    let app = TestApp::new().await;
    let actor = finance(&app, "gzip").await;
    let charges = charges(100, 1);
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(&focus_csv(&charges)).unwrap();
    let response = app
        .upload_bill(&actor.token, "bill.csv.gz", &encoder.finish().unwrap())
        .await;
    assert_eq!(response.status, 201, "{}", response.text());
    let report = daily_billed(&app, &actor).await;
    assert_eq!(by_group(&report), expected_by_day(&charges));
}

#[tokio::test]
async fn the_explorer_exports_csv_and_refuses_views_it_cannot_answer() {
    let app = TestApp::new().await;
    let actor = finance(&app, "explorer").await;
    let charges = charges(60, 1);
    import_ok(&app, &actor, "b.csv", &focus_csv(&charges)).await;
    let csv = app
        .call(
            &actor.token,
            Method::GET,
            "/api/v1/cost?from=2024-09-01&to=2024-10-01&metric=billed&group_by=provider&format=csv",
            None,
        )
        .await;
    assert_eq!(csv.status, 200);
    assert_eq!(csv.header("content-type"), Some("text/csv; charset=utf-8"));
    let text = csv.text();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("period,provider,currency,amount"));
    let sum: Decimal = lines
        .map(|line| decimal(line.rsplit(',').next().unwrap()))
        .sum();
    assert_eq!(
        sum,
        charges.iter().map(|c| decimal(&c.billed)).sum::<Decimal>()
    );
    for bad in [
        "group_by=provider,service,region",
        "group_by=colour",
        "from=2024-10-01&to=2024-09-01",
        "metric=guess",
    ] {
        let response = app
            .call(
                &actor.token,
                Method::GET,
                &format!("/api/v1/cost?{bad}"),
                None,
            )
            .await;
        assert!(
            matches!(response.status.as_u16(), 400 | 422),
            "{bad}: {}",
            response.status
        );
    }
    // Another tenant sees none of it.
    let other = finance(&app, "explorer-other").await;
    assert_eq!(
        explore(&app, &other, "metric=billed").await["rows"],
        serde_json::json!([])
    );
}

#[tokio::test]
async fn an_import_cut_short_by_a_crash_shows_as_failed_once_its_deadline_passed() {
    let app = TestApp::new().await;
    let actor = finance(&app, "crashed").await;
    sqlx::query(
        "INSERT INTO cost_imports (id, tenant_id, source, file_name, file_sha256, file_bytes, status, created_by, started_at)
         VALUES ($1, $2, 'focus', 'crashed.csv', '\\x00', 1, 'running', 'cli', now() - interval '2 hours')",
    )
    .bind(uuid::Uuid::now_v7())
    .bind(actor.tenant.0)
    .execute(&mut app.owner().await)
    .await
    .unwrap();
    import_ok(&app, &actor, "next.csv", &focus_csv(&charges(10, 1))).await;
    let history = app
        .call(&actor.token, Method::GET, "/api/v1/cost/imports", None)
        .await
        .json();
    let crashed = history["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["file_name"] == "crashed.csv")
        .unwrap()
        .clone();
    assert_eq!(crashed["status"], "failed");
    assert!(
        crashed["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("interrupted")
    );
}

#[tokio::test]
async fn numbers_and_times_are_stored_exactly_as_postgresql_reads_their_text() {
    let app = TestApp::new().await;
    let actor = finance(&app, "exact").await;
    let numbers = [
        "1.50",
        "0.00000352",
        "35.2E-7",
        "1e3",
        "-12345.678",
        "-0.0E-10",
        "0.00000080000",
        ".5",
        "2.",
        "100000000",
        "98765432109876543210.0123456789",
        "1E-30",
        "-7",
    ];
    let mut charges = charges(numbers.len(), 1);
    for (charge, number) in charges.iter_mut().zip(numbers) {
        charge.billed = number.to_owned();
    }
    let response = app
        .upload_bill(&actor.token, "exact.csv", &focus_csv(&charges))
        .await;
    assert_eq!(response.status, 201, "{}", response.text());
    let mut owner = app.owner().await;
    for (i, number) in numbers.iter().enumerate() {
        let (stored, expected): (String, String) = sqlx::query_as(
            "SELECT li.billed_cost::text, $2::numeric::text FROM cost_line_items li
             WHERE li.extensions->>'x_Note' = $1",
        )
        .bind(format!("row {i}"))
        .bind(number)
        .fetch_one(&mut owner)
        .await
        .unwrap();
        assert_eq!(stored, expected, "{number}");
    }
    // 1E-30 is beyond an exact sum in Rust: the rollup was summed in SQL, and still matches.
    let (items, daily): (String, String) = sqlx::query_as(
        "SELECT (SELECT sum(billed_cost) FROM cost_line_items)::text, (SELECT sum(billed_cost) FROM cost_daily)::text",
    )
    .fetch_one(&mut owner)
    .await
    .unwrap();
    assert_eq!(items, daily);
    let (start, text): (chrono::DateTime<chrono::Utc>, String) = sqlx::query_as(
        "SELECT charge_period_start, charge_period_start::text FROM cost_line_items WHERE extensions->>'x_Note' = 'row 1'",
    )
    .fetch_one(&mut owner)
    .await
    .unwrap();
    assert_eq!(
        start,
        "2024-09-02T10:00:00Z"
            .parse::<chrono::DateTime<chrono::Utc>>()
            .unwrap(),
        "{text}"
    );
}

/// A Cost and Usage Report in the legacy column names of the CUR data dictionary: one line of
/// each kind a month with a Savings Plan, a Reserved Instance, tax and a credit produces.
const CUR_HEADER: &str = "identity/LineItemId,bill/InvoiceId,bill/InvoicingEntity,bill/BillingEntity,bill/PayerAccountId,bill/BillingPeriodStartDate,bill/BillingPeriodEndDate,lineItem/UsageAccountId,lineItem/LineItemType,lineItem/UsageStartDate,lineItem/UsageEndDate,lineItem/ProductCode,lineItem/UsageType,lineItem/Operation,lineItem/AvailabilityZone,lineItem/ResourceId,lineItem/UsageAmount,lineItem/CurrencyCode,lineItem/UnblendedRate,lineItem/UnblendedCost,lineItem/LineItemDescription,lineItem/LegalEntity,product/ProductName,product/regionCode,product/location,pricing/publicOnDemandCost,pricing/publicOnDemandRate,pricing/term,pricing/unit,reservation/EffectiveCost,reservation/UnusedAmortizedUpfrontFeeForBillingPeriod,reservation/UnusedRecurringFee,savingsPlan/SavingsPlanARN,savingsPlan/SavingsPlanEffectiveCost,savingsPlan/TotalCommitmentToDate,savingsPlan/UsedCommitment,resourceTags/user:team,resourceTags/aws:createdBy";

/// (line type, product code, product name, unblended cost, expected amortized cost, rest of the row)
const CUR_LINES: [(&str, &str, &str, &str, &str, &str); 8] = [
    (
        "Usage",
        "AmazonEC2",
        "Amazon Elastic Compute Cloud",
        "10.00",
        "10.00",
        "12.00,0.12,OnDemand,Hrs,,,,,,,,web,alice",
    ),
    (
        "SavingsPlanCoveredUsage",
        "AmazonEC2",
        "Amazon Elastic Compute Cloud",
        "5.00",
        "3.00",
        "5.00,0.05,OnDemand,Hrs,,,,arn:aws:savingsplans::111111111111:savingsplan/sp-1,3.00,,,web,",
    ),
    (
        "SavingsPlanNegation",
        "AmazonEC2",
        "Amazon Elastic Compute Cloud",
        "-5.00",
        "0",
        ",,,,,,,arn:aws:savingsplans::111111111111:savingsplan/sp-1,,,,,",
    ),
    (
        "SavingsPlanRecurringFee",
        "ComputeSavingsPlans",
        "Savings Plans for AWS Compute usage",
        "4.00",
        "1.00",
        ",,,,,,,arn:aws:savingsplans::111111111111:savingsplan/sp-1,,4.00,3.00,,",
    ),
    (
        "DiscountedUsage",
        "AmazonRDS",
        "Amazon Relational Database Service",
        "0",
        "2.50",
        "4.00,0.40,Reserved,Hrs,2.50,,,,,,,db,",
    ),
    (
        "RIFee",
        "AmazonRDS",
        "Amazon Relational Database Service",
        "3.00",
        "0.50",
        ",,Reserved,Hrs,,0.25,0.25,,,,,,",
    ),
    (
        "Tax",
        "AmazonEC2",
        "Amazon Elastic Compute Cloud",
        "1.30",
        "1.30",
        ",,,,,,,,,,,,",
    ),
    (
        "Credit",
        "AmazonEC2",
        "Amazon Elastic Compute Cloud",
        "-2.00",
        "-2.00",
        ",,,,,,,,,,,,",
    ),
];

fn cur_file() -> Vec<u8> {
    let mut out = format!("{CUR_HEADER}\n");
    for (i, (line_type, code, name, unblended, _, rest)) in CUR_LINES.iter().enumerate() {
        out.push_str(&format!(
            "li-{i},inv-1,Amazon Web Services EMEA SARL,AWS,111111111111,2024-09-01T00:00:00.000Z,2024-10-01T00:00:00.000Z,222222222222,{line_type},2024-09-0{day}T00:00:00.000Z,2024-09-0{day}T01:00:00.000Z,{code},EU-BoxUsage,RunInstances,eu-west-1a,i-{i},1.0,EUR,0.1,{unblended},\"{line_type} line, described\",Amazon Web Services EMEA SARL,{name},eu-west-1,EU (Ireland),{rest}\n",
            day = 1 + i % 3,
        ));
    }
    out.into_bytes()
}

#[tokio::test]
async fn an_aws_cost_and_usage_report_converts_to_focus_with_the_reports_own_totals() {
    let app = TestApp::new().await;
    let actor = finance(&app, "aws-cur").await;
    let response = app.upload_bill(&actor.token, "cur.csv", &cur_file()).await;
    assert_eq!(response.status, 201, "{}", response.text());
    assert_eq!(response.json()["source"], "aws-cur");

    // Billed: exactly the report's own UnblendedCost column; effective: AWS's amortized cost.
    let unblended: Decimal = CUR_LINES.iter().map(|line| decimal(line.3)).sum();
    let amortized: Decimal = CUR_LINES.iter().map(|line| decimal(line.4)).sum();
    let billed = explore(&app, &actor, "metric=billed").await;
    assert_eq!(billed["totals"][0]["currency"], "EUR");
    assert_eq!(
        decimal(billed["totals"][0]["amount"].as_str().unwrap()),
        unblended
    );
    let effective = explore(&app, &actor, "metric=effective").await;
    assert_eq!(
        decimal(effective["totals"][0]["amount"].as_str().unwrap()),
        amortized
    );

    let by_category = explore(&app, &actor, "metric=billed&group_by=charge_category").await;
    let categories: BTreeMap<String, Decimal> = by_category["rows"]
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
    assert_eq!(categories["Usage"], decimal("10.00"));
    assert_eq!(categories["Purchase"], decimal("7.00"));
    assert_eq!(categories["Tax"], decimal("1.30"));
    assert_eq!(categories["Credit"], decimal("-2.00"));
    let providers = explore(
        &app,
        &actor,
        "metric=billed&group_by=provider,service_category",
    )
    .await;
    let groups: Vec<Value> = providers["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| row["group"].clone())
        .collect();
    assert!(
        groups.contains(&serde_json::json!(["AWS", "Compute"])),
        "{groups:?}"
    );
    assert!(
        groups.contains(&serde_json::json!(["AWS", "Databases"])),
        "{groups:?}"
    );

    let (tags, account, sub_account, commitment): (Value, String, String, Option<String>) = sqlx::query_as(
        "SELECT tags, billing_account_id, sub_account_id, commitment_discount_id FROM cost_line_items
         WHERE extensions->>'x_LineItemId' = 'li-1'",
    )
    .fetch_one(&mut app.owner().await)
    .await
    .unwrap();
    assert_eq!(
        tags,
        serde_json::json!({"team": "web"}),
        "user tags lose their user: prefix"
    );
    assert_eq!(
        (account.as_str(), sub_account.as_str()),
        ("111111111111", "222222222222")
    );
    assert!(commitment.unwrap().contains("savingsplan/sp-1"));

    // The same report in CUR 2.0 column names restates the same month: nothing doubles.
    let cur2 = String::from_utf8(cur_file()).unwrap().replacen(
        CUR_HEADER,
        &CUR_HEADER
            .split(',')
            .map(|name| match name {
                "resourceTags/user:team" => "resource_tags".to_owned(),
                "resourceTags/aws:createdBy" => "x_unused".to_owned(),
                name => name.chars().fold(String::new(), |mut out, c| {
                    if c == '/' {
                        out.push('_');
                    } else if c.is_ascii_uppercase() {
                        if !out.is_empty() && !out.ends_with('_') {
                            out.push('_');
                        }
                        out.push(c.to_ascii_lowercase());
                    } else {
                        out.push(c);
                    }
                    out
                }),
            })
            .collect::<Vec<_>>()
            .join(","),
        1,
    );
    let cur2 = cur2
        .replace(",web,alice\n", ",\"{\"\"user_team\"\":\"\"web\"\"}\",\n")
        .replace(",web,\n", ",,\n")
        .replace(",db,\n", ",,\n");
    let restated = app
        .upload_bill(&actor.token, "cur2.csv", cur2.as_bytes())
        .await;
    assert_eq!(restated.status, 201, "{}", restated.text());
    assert_eq!(line_items(&app).await, 8);
    let billed = explore(&app, &actor, "metric=billed").await;
    assert_eq!(
        decimal(billed["totals"][0]["amount"].as_str().unwrap()),
        unblended
    );
}

const EA_HEADER: &str = "InvoiceSectionName,AccountName,SubscriptionId,SubscriptionName,ResourceGroup,ResourceLocation,Date,ProductName,MeterCategory,MeterSubCategory,MeterId,MeterName,UnitOfMeasure,Quantity,EffectivePrice,CostInBillingCurrency,ResourceId,Tags,ResourceName,ReservationId,ReservationName,UnitPrice,PayGPrice,ChargeType,Frequency,PricingModel,BillingAccountId,BillingAccountName,BillingCurrencyCode,BillingPeriodStartDate,BillingPeriodEndDate,ServiceFamily,PublisherType,PublisherName";

/// An EA actual-cost export: (charge type, pricing model, frequency, cost, expected effective cost).
const EA_LINES: [(&str, &str, &str, &str, &str); 5] = [
    ("Usage", "OnDemand", "UsageBased", "1.50", "1.50"),
    ("Usage", "Spot", "UsageBased", "0.30", "0.30"),
    ("Usage", "Reservation", "UsageBased", "0", "0"),
    ("Purchase", "Reservation", "OneTime", "100.00", "0"),
    ("Refund", "Reservation", "OneTime", "-5.00", "0"),
];

fn ea_file() -> Vec<u8> {
    let mut out = format!("\u{feff}{EA_HEADER}\n");
    for (i, (charge_type, model, frequency, cost, _)) in EA_LINES.iter().enumerate() {
        out.push_str(&format!(
            "Dept,example.com,e18e1552-c6dd-45d1-973c-{i:012},Production,rg-web,CentralUS,9/{day}/2024,Virtual Machines D2s v3,Virtual Machines,Dv3 Series,m-{i},D2s v3,1 Hour,10,0.15,{cost},/subscriptions/x/resourceGroups/rg-web/providers/Microsoft.Compute/virtualMachines/vm{i},\"\"\"team\"\": \"\"web\"\",\"\"env\"\": \"\"prod\"\"\",vm{i},{reservation},{reservation},0.15,0.20,{charge_type},{frequency},{model},12345678,Contoso,CAD,9/1/2024,9/30/2024,Compute,Azure,\n",
            day = 1 + i,
            reservation = if *model == "Reservation" { "r-1" } else { "" },
        ));
    }
    out.into_bytes()
}

#[tokio::test]
async fn azure_cost_details_convert_to_focus_with_the_exports_own_totals() {
    let app = TestApp::new().await;
    let actor = finance(&app, "azure").await;
    let response = app
        .upload_bill(&actor.token, "ea-actual.csv", &ea_file())
        .await;
    assert_eq!(response.status, 201, "{}", response.text());
    assert_eq!(response.json()["source"], "azure");
    // An actual-cost export: BilledCost is its CostInBillingCurrency, to the cent.
    let cost: Decimal = EA_LINES.iter().map(|line| decimal(line.3)).sum();
    let effective: Decimal = EA_LINES.iter().map(|line| decimal(line.4)).sum();
    let billed = explore(&app, &actor, "metric=billed").await;
    assert_eq!(billed["totals"][0]["currency"], "CAD");
    assert_eq!(
        decimal(billed["totals"][0]["amount"].as_str().unwrap()),
        cost
    );
    let amortized = explore(&app, &actor, "metric=effective").await;
    assert_eq!(
        decimal(amortized["totals"][0]["amount"].as_str().unwrap()),
        effective
    );
    let list = explore(&app, &actor, "metric=list&charge_category=Usage").await;
    assert_eq!(
        decimal(list["totals"][0]["amount"].as_str().unwrap()),
        decimal("6.0"),
        "PayGPrice × Quantity"
    );

    let (tags, start, end, period_end): (Value, String, String, String) = sqlx::query_as(
        "SELECT tags, charge_period_start::text, charge_period_end::text, billing_period_end::text
         FROM cost_line_items WHERE resource_name = 'vm0'",
    )
    .fetch_one(&mut app.owner().await)
    .await
    .unwrap();
    assert_eq!(tags, serde_json::json!({"team": "web", "env": "prod"}));
    assert_eq!(
        (start.as_str(), end.as_str()),
        ("2024-09-01 00:00:00+00", "2024-09-02 00:00:00+00")
    );
    assert_eq!(
        period_end, "2024-10-01 00:00:00+00",
        "the inclusive end date becomes exclusive"
    );

    // An MCA amortized export (ISO dates, billing profiles, JSON tags): EffectiveCost is its cost.
    let mca = "BillingProfileId,BillingProfileName,BillingCurrency,BillingPeriodStartDate,BillingPeriodEndDate,Date,SubscriptionId,MeterCategory,ServiceFamily,ResourceLocation,Quantity,UnitOfMeasure,CostInBillingCurrency,ChargeType,PricingModel,Frequency,benefitId,Tags\n\
        bp-1,Fabrikam,EUR,2024-09-01,2024-09-30,2024-09-03,sub-1,Virtual Machines,Compute,westeurope,24,1 Hour,2.00,Usage,OnDemand,UsageBased,,\"{\"\"team\"\":\"\"api\"\"}\"\n\
        bp-1,Fabrikam,EUR,2024-09-01,2024-09-30,2024-09-03,sub-1,Virtual Machines,Compute,westeurope,24,1 Hour,0.70,Usage,SavingsPlan,UsageBased,/providers/Microsoft.BillingBenefits/savingsPlanOrders/1,\n\
        bp-1,Fabrikam,EUR,2024-09-01,2024-09-30,2024-09-03,,Savings Plan,Compute,,,,0.30,UnusedSavingsPlan,SavingsPlan,UsageBased,/providers/Microsoft.BillingBenefits/savingsPlanOrders/1,\n";
    let response = app
        .upload_bill(&actor.token, "mca-amortized.csv", mca.as_bytes())
        .await;
    assert_eq!(response.status, 201, "{}", response.text());
    let euros = |report: Value| {
        let total = report["totals"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["currency"] == "EUR")
            .unwrap()
            .clone();
        decimal(total["amount"].as_str().unwrap())
    };
    assert_eq!(
        euros(explore(&app, &actor, "metric=effective").await),
        decimal("3.00")
    );
    assert_eq!(
        euros(explore(&app, &actor, "metric=billed").await),
        decimal("2.00"),
        "commitment usage is billed through the commitment"
    );
}

#[tokio::test]
async fn an_oracle_cost_report_converts_to_focus_with_the_reports_own_totals() {
    let app = TestApp::new().await;
    let actor = finance(&app, "oracle").await;
    let report = "lineItem/referenceNo,lineItem/tenantId,lineItem/intervalUsageStart,lineItem/intervalUsageEnd,product/service,product/compartmentId,product/compartmentName,product/region,product/availabilityDomain,product/resourceId,usage/billedQuantity,usage/billedQuantityOverage,cost/subscriptionId,cost/productSku,product/Description,cost/unitPrice,cost/unitPriceOverage,cost/myCost,cost/myCostOverage,cost/currencyCode,cost/billingUnitReadable,cost/skuUnitDescription,cost/overageFlag,lineItem/isCorrection,lineItem/backreferenceNo,tags/Oracle-Tags.CreatedBy,tags/team.name\n\
        r1,ocid1.tenancy.oc1..t,2024-09-13T10:00Z,2024-09-13T11:00:00Z,COMPUTE,ocid1.compartment.oc1..c,apps,us-sanjose-1,sj-1,ocid1.instance.oc1..i,1.5,,sub,B1,Standard E4 OCPU,0.025,,0.0375,,USD,1 OCPU HOURS,OCPU Hours,false,false,,alice,web\n\
        r2,ocid1.tenancy.oc1..t,2024-09-13T10:00Z,2024-09-13T11:00:00Z,DATABASE,ocid1.compartment.oc1..c,apps,us-sanjose-1,sj-1,ocid1.db.oc1..d,1,0.5,sub,B2,Autonomous DB,0.10,0.12,0.10,0.06,USD,1 ECPU HOURS,ECPU Hours,true,false,,,\n\
        r3,ocid1.tenancy.oc1..t,2024-09-30T23:00Z,2024-10-01T00:00:00Z,OBJECT_STORAGE,ocid1.compartment.oc1..c,apps,us-sanjose-1,,ocid1.bucket.oc1..b,10,,sub,B3,Object Storage,0.0255,,0.255,,USD,GB MONTHS,GB Months,false,true,r0,,\n";
    let response = app
        .upload_bill(&actor.token, "oci.csv", report.as_bytes())
        .await;
    assert_eq!(response.status, 201, "{}", response.text());
    let import = response.json();
    assert_eq!(import["source"], "oracle");
    assert_eq!(
        import["units"], 1,
        "every line is in September's billing period"
    );
    // The report's own cost columns: myCost plus myCostOverage.
    let billed = explore(&app, &actor, "metric=billed&group_by=service_category").await;
    let total = decimal("0.0375") + decimal("0.10") + decimal("0.06") + decimal("0.255");
    assert_eq!(
        decimal(billed["totals"][0]["amount"].as_str().unwrap()),
        total
    );
    let groups: Vec<Value> = billed["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| row["group"][0].clone())
        .collect();
    assert_eq!(groups, ["Compute", "Databases", "Storage"]);
    let (tags, class): (Value, Option<String>) = sqlx::query_as(
        "SELECT tags, charge_class FROM cost_line_items WHERE extensions->>'x_ReferenceNo' = 'r1'",
    )
    .fetch_one(&mut app.owner().await)
    .await
    .unwrap();
    assert_eq!(
        tags,
        serde_json::json!({"Oracle-Tags.CreatedBy": "alice", "team.name": "web"})
    );
    assert_eq!(class, None);
    let correction: Option<String> = sqlx::query_scalar(
        "SELECT charge_class FROM cost_line_items WHERE extensions->>'x_ReferenceNo' = 'r3'",
    )
    .fetch_one(&mut app.owner().await)
    .await
    .unwrap();
    assert_eq!(correction.as_deref(), Some("Correction"));
}

#[tokio::test]
async fn the_same_month_imported_from_two_formats_is_flagged_as_counted_twice() {
    let app = TestApp::new().await;
    let actor = finance(&app, "twice-over").await;
    let focus = String::from_utf8(focus_csv(&charges(4, 1)))
        .unwrap()
        .replace("111122223333", "111111111111");
    import_ok(&app, &actor, "focus.csv", focus.as_bytes()).await;
    let cur = app.upload_bill(&actor.token, "cur.csv", &cur_file()).await;
    assert_eq!(cur.status, 201, "{}", cur.text());
    let warnings = cur.json()["warnings"].clone();
    assert!(
        warnings.as_array().unwrap().iter().any(|w| w["message"]
            .as_str()
            .unwrap()
            .contains("also imported from `focus`")),
        "{warnings}"
    );
}

async fn post_rates(app: &TestApp, actor: &Actor, csv: &'static str) -> nimbus_tests::TestResponse {
    app.request(
        nimbus_tests::request(Method::POST, "/api/v1/cost/rates")
            .header("authorization", format!("Bearer {}", actor.token))
            .header("content-type", "text/csv")
            .body(axum::body::Body::from(csv))
            .unwrap(),
    )
    .await
}

#[tokio::test]
async fn costs_in_several_currencies_convert_to_the_reporting_currency_only_with_rates() {
    let app = TestApp::new().await;
    let actor = finance(&app, "currencies").await;
    let usd = charges(50, 1);
    for (name, file) in [
        ("usd.csv", focus_csv(&usd)),
        ("eur.csv", cur_file()),
        ("cad.csv", ea_file()),
    ] {
        let response = app.upload_bill(&actor.token, name, &file).await;
        assert_eq!(response.status, 201, "{name}: {}", response.text());
    }
    let by_currency = explore(&app, &actor, "metric=billed").await;
    assert_eq!(
        by_currency["totals"].as_array().unwrap().len(),
        3,
        "never added together unconverted"
    );

    let missing = app
        .call(
            &actor.token,
            Method::GET,
            "/api/v1/cost?from=2024-09-01&to=2024-10-01&metric=billed&currency=reporting",
            None,
        )
        .await;
    assert_eq!(missing.status, 422, "{}", missing.text());
    assert_eq!(
        missing.json()["error"]["details"]["missing_rates"],
        serde_json::json!(["CAD in 2024-09", "EUR in 2024-09"])
    );

    let bad = post_rates(
        &app,
        &actor,
        "month,from_currency,to_currency,rate\n2024-09,EUR,USD,zero\n",
    )
    .await;
    assert_eq!(bad.status, 422);
    assert_eq!(
        bad.json()["error"]["details"]["errors"][0]["column"],
        "rate"
    );
    let rates = "month,from_currency,to_currency,rate\n2024-09,EUR,USD,1.1\n2024-09,CAD,USD,0.75\n2024-08,CAD,USD,0.7\n";
    let imported = post_rates(&app, &actor, rates).await;
    assert_eq!(imported.status, 200, "{}", imported.text());
    assert_eq!(imported.json()["rates"], 3);
    let listed = app
        .call(
            &actor.token,
            Method::GET,
            "/api/v1/cost/rates?limit=2",
            None,
        )
        .await
        .json();
    assert_eq!(listed["items"].as_array().unwrap().len(), 2);
    assert!(listed["next_cursor"].is_string());

    let converted = explore(&app, &actor, "metric=billed&currency=reporting").await;
    let totals = converted["totals"].as_array().unwrap();
    assert_eq!(totals.len(), 1);
    assert_eq!(totals[0]["currency"], "USD");
    let usd_total: Decimal = usd.iter().map(|c| decimal(&c.billed)).sum();
    let eur_total: Decimal = CUR_LINES.iter().map(|line| decimal(line.3)).sum();
    let cad_total: Decimal = EA_LINES.iter().map(|line| decimal(line.3)).sum();
    let expected = usd_total + eur_total * decimal("1.1") + cad_total * decimal("0.75");
    assert_eq!(decimal(totals[0]["amount"].as_str().unwrap()), expected);
}

#[tokio::test]
async fn imports_asking_for_the_same_new_month_at_once_all_get_its_partition() {
    let app = TestApp::new().await;
    for month in 1..=4 {
        let calls = (0..6).map(|_| {
            let pool = app.db.pool.clone();
            tokio::spawn(async move {
                sqlx::query("SELECT cost_line_items_partition_for($1)")
                    .bind(
                        format!("2031-{month:02}-15T00:00:00Z")
                            .parse::<chrono::DateTime<chrono::Utc>>()
                            .unwrap(),
                    )
                    .execute(&pool)
                    .await
            })
        });
        for call in calls.collect::<Vec<_>>() {
            call.await
                .unwrap()
                .unwrap_or_else(|err| panic!("2031-{month:02}: {err}"));
        }
    }
    let partitions: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE c.relkind = 'r' AND c.relname LIKE 'cost_line_items_2031_%'",
    )
    .fetch_one(&mut app.owner().await)
    .await
    .unwrap();
    assert_eq!(partitions, 4);
}
