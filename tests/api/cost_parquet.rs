//! Parquet bills: a FOCUS export written here as Parquet — amounts as doubles and as decimals,
//! timestamps as UTC microseconds, optional columns with nulls, Snappy-compressed, two row
//! groups — imports to exactly the totals it was written with; a damaged file is refused.

use std::sync::Arc;

use parquet::basic::Compression;
use parquet::data_type::{ByteArray, ByteArrayType, DoubleType, Int64Type};
use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::parser::parse_message_type;
use rust_decimal::Decimal;

use crate::cost::{decimal, explore, finance};
use nimbus_tests::TestApp;

const SCHEMA: &str = "message focus {
    REQUIRED DOUBLE BilledCost;
    REQUIRED BYTE_ARRAY BillingAccountId (UTF8);
    OPTIONAL BYTE_ARRAY BillingAccountName (UTF8);
    REQUIRED BYTE_ARRAY BillingCurrency (UTF8);
    REQUIRED INT64 BillingPeriodEnd (TIMESTAMP(MICROS,true));
    REQUIRED INT64 BillingPeriodStart (TIMESTAMP(MICROS,true));
    REQUIRED BYTE_ARRAY ChargeCategory (UTF8);
    OPTIONAL BYTE_ARRAY ChargeClass (UTF8);
    OPTIONAL BYTE_ARRAY ChargeDescription (UTF8);
    REQUIRED INT64 ChargePeriodEnd (TIMESTAMP(MICROS,true));
    REQUIRED INT64 ChargePeriodStart (TIMESTAMP(MICROS,true));
    OPTIONAL INT64 ContractedCost (DECIMAL(18,7));
    REQUIRED INT64 EffectiveCost (DECIMAL(18,7));
    OPTIONAL BYTE_ARRAY InvoiceIssuerName (UTF8);
    OPTIONAL INT64 ListCost (DECIMAL(18,7));
    OPTIONAL DOUBLE PricingQuantity;
    OPTIONAL BYTE_ARRAY PricingUnit (UTF8);
    REQUIRED BYTE_ARRAY ProviderName (UTF8);
    OPTIONAL BYTE_ARRAY PublisherName (UTF8);
    OPTIONAL BYTE_ARRAY RegionId (UTF8);
    REQUIRED BYTE_ARRAY ServiceCategory (UTF8);
    REQUIRED BYTE_ARRAY ServiceName (UTF8);
    OPTIONAL BYTE_ARRAY SubAccountId (UTF8);
    OPTIONAL BYTE_ARRAY Tags (UTF8);
}";

/// One line item: its billed cost (a double with a short decimal form) and effective cost
/// (a decimal of scale 7, unscaled).
struct Item {
    billed: f64,
    effective: i64,
    service: &'static str,
    day: i64,
    region: Option<&'static str>,
}

fn items(count: usize) -> Vec<Item> {
    (0..count)
        .map(|i| Item {
            billed: (i as f64 * 1.25 + 0.5).round() / 4.0 + 0.0625,
            effective: 1_234_567 * (i as i64 + 1) - 89,
            service: ["Amazon EC2", "Amazon S3"][i % 2],
            day: 1 + (i as i64 % 30),
            region: (i % 5 != 0).then_some("eu-west-1"),
        })
        .collect()
}

/// Microseconds since the epoch of 2024-09-DAY at HOUR, UTC.
fn micros(day: i64, hour: i64) -> i64 {
    const SEPTEMBER_1: i64 = 1_725_148_800;
    (SEPTEMBER_1 + (day - 1) * 86_400 + hour * 3600) * 1_000_000
}

/// The text of a string column for an item (`None`: null).
fn text(column: &str, item: &Item) -> Option<String> {
    match column {
        "BillingAccountId" => Some("123456789012".into()),
        "BillingAccountName" => Some("Example Co".into()),
        "BillingCurrency" => Some("USD".into()),
        "ChargeCategory" => Some("Usage".into()),
        "ChargeClass" => None,
        "ChargeDescription" => Some(format!("{} usage", item.service)),
        "InvoiceIssuerName" | "ProviderName" | "PublisherName" => Some("AWS".into()),
        "PricingUnit" => Some("Hours".into()),
        "RegionId" => item.region.map(str::to_owned),
        "ServiceCategory" => Some("Compute".into()),
        "ServiceName" => Some(item.service.into()),
        "SubAccountId" => Some("210987654321".into()),
        "Tags" => Some(r#"{"team": "data "}"#.into()),
        unknown => panic!("no value for {unknown}"),
    }
}

/// Definition levels of an optional column: 1 where a value is present.
fn levels<T>(values: &[Option<T>]) -> Vec<i16> {
    values.iter().map(|v| i16::from(v.is_some())).collect()
}

fn write_parquet(items: &[Item]) -> Vec<u8> {
    let schema = Arc::new(parse_message_type(SCHEMA).unwrap());
    let columns: Vec<(String, bool)> = schema
        .get_fields()
        .iter()
        .map(|field| (field.name().to_owned(), field.is_optional()))
        .collect();
    let properties = Arc::new(
        WriterProperties::builder()
            .set_compression(Compression::SNAPPY)
            .build(),
    );
    let mut out = Vec::new();
    let mut writer = SerializedFileWriter::new(&mut out, schema, properties).unwrap();
    // Two row groups: the reader must go on to the second.
    for group in items.chunks(items.len().div_ceil(2)) {
        let mut row_group = writer.next_row_group().unwrap();
        for (name, optional) in &columns {
            let mut column = row_group.next_column().unwrap().unwrap();
            let name = name.as_str();
            match name {
                "BilledCost" => {
                    let values: Vec<f64> = group.iter().map(|item| item.billed).collect();
                    column
                        .typed::<DoubleType>()
                        .write_batch(&values, None, None)
                        .unwrap();
                }
                "PricingQuantity" => {
                    let values = vec![1.5; group.len()];
                    let levels = vec![1; group.len()];
                    column
                        .typed::<DoubleType>()
                        .write_batch(&values, Some(&levels), None)
                        .unwrap();
                }
                "BillingPeriodEnd" | "BillingPeriodStart" | "ChargePeriodEnd"
                | "ChargePeriodStart" => {
                    let values: Vec<i64> = group
                        .iter()
                        .map(|item| match name {
                            "BillingPeriodStart" => micros(1, 0),
                            "BillingPeriodEnd" => micros(31, 0),
                            "ChargePeriodStart" => micros(item.day, 10),
                            _ => micros(item.day, 11),
                        })
                        .collect();
                    column
                        .typed::<Int64Type>()
                        .write_batch(&values, None, None)
                        .unwrap();
                }
                "EffectiveCost" | "ContractedCost" | "ListCost" => {
                    // List cost is left out (null) on every third row.
                    let values: Vec<Option<i64>> = group
                        .iter()
                        .enumerate()
                        .map(|(i, item)| {
                            (name != "ListCost" || i % 3 != 0).then_some(item.effective)
                        })
                        .collect();
                    let present: Vec<i64> = values.iter().flatten().copied().collect();
                    let levels = levels(&values);
                    column
                        .typed::<Int64Type>()
                        .write_batch(&present, optional.then_some(&levels[..]), None)
                        .unwrap();
                }
                _ => {
                    let values: Vec<Option<String>> =
                        group.iter().map(|item| text(name, item)).collect();
                    let present: Vec<ByteArray> = values
                        .iter()
                        .flatten()
                        .map(|v| ByteArray::from(v.as_str()))
                        .collect();
                    let levels = levels(&values);
                    column
                        .typed::<ByteArrayType>()
                        .write_batch(&present, optional.then_some(&levels[..]), None)
                        .unwrap();
                }
            }
            column.close().unwrap();
        }
        row_group.close().unwrap();
    }
    writer.close().unwrap();
    out
}

/// The exact decimal of an unscaled scale-7 value.
fn scaled(unscaled: i64) -> Decimal {
    Decimal::new(unscaled, 7)
}

fn total(report: &serde_json::Value) -> Decimal {
    decimal(report["totals"][0]["amount"].as_str().unwrap())
}

#[tokio::test]
async fn a_parquet_focus_export_imports_to_exactly_its_totals() {
    let app = TestApp::new().await;
    let actor = finance(&app, "parquet").await;
    let items = items(500);
    let response = app
        .upload_bill(&actor.token, "focus.parquet", &write_parquet(&items))
        .await;
    assert_eq!(response.status, 201, "{}", response.text());
    let import = response.json();
    assert_eq!(import["source"], "focus");
    assert_eq!(import["rows_done"], 500);

    let billed: Decimal = items
        .iter()
        .map(|item| decimal(&item.billed.to_string()))
        .sum();
    let effective: Decimal = items.iter().map(|item| scaled(item.effective)).sum();
    let list: Decimal = items
        .iter()
        .enumerate()
        .filter(|(i, _)| (i % 250) % 3 != 0)
        .map(|(_, item)| scaled(item.effective))
        .sum();
    assert_eq!(total(&explore(&app, &actor, "metric=billed").await), billed);
    assert_eq!(
        total(&explore(&app, &actor, "metric=effective").await),
        effective
    );
    assert_eq!(total(&explore(&app, &actor, "metric=list").await), list);
    // Timestamps read as UTC, null regions stay null, tags verbatim.
    let day_one = explore(
        &app,
        &actor,
        "granularity=day&metric=effective&group_by=region",
    )
    .await;
    let first = &day_one["rows"][0];
    assert_eq!(first["period"], "2024-09-01");
    let tags: serde_json::Value = sqlx::query_scalar("SELECT tags FROM cost_line_items LIMIT 1")
        .fetch_one(&mut app.owner().await)
        .await
        .unwrap();
    assert_eq!(tags, serde_json::json!({"team": "data "}));
    let regions: i64 =
        sqlx::query_scalar("SELECT count(*) FROM cost_line_items WHERE region_id IS NULL")
            .fetch_one(&mut app.owner().await)
            .await
            .unwrap();
    assert_eq!(regions, 100);
}

#[tokio::test]
async fn a_damaged_parquet_file_is_refused_with_a_reason_and_nothing_shows() {
    let app = TestApp::new().await;
    let actor = finance(&app, "broken-parquet").await;
    let mut file = write_parquet(&items(20));
    file.truncate(file.len() / 2);
    let response = app.upload_bill(&actor.token, "cut.parquet", &file).await;
    assert_eq!(response.status, 422, "{}", response.text());
    let errors = &response.json()["error"]["details"]["errors"];
    assert!(
        errors[0]["message"].as_str().unwrap().contains("Parquet"),
        "{errors}"
    );
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM cost_line_items")
        .fetch_one(&mut app.owner().await)
        .await
        .unwrap();
    assert_eq!(rows, 0);
}
