//! Google Cloud billing export rows (the BigQuery standard or detailed usage cost export, as
//! newline-delimited JSON or as CSV with the same dotted names) converted to FOCUS. The mapping
//! and its sources: docs/cost/gcp.md.

use std::borrow::Cow;

use chrono::{Datelike, Months, NaiveDate, NaiveDateTime};
use nimbus_api_types::cost::ImportIssue;
use rust_decimal::Decimal;

use super::focus::{Converter, Row, parse_timestamp};
use super::native::{self, Columns, midnight};
use crate::focus_column;

pub const SOURCE: &str = "gcp";

/// The export's fields (flattened), as Google documents the standard and detailed schemas.
pub const FIELDS: &[&str] = &[
    "billing_account_id",
    "service.id",
    "service.description",
    "sku.id",
    "sku.description",
    "usage_start_time",
    "usage_end_time",
    "project.id",
    "project.number",
    "project.name",
    "labels",
    "system_labels",
    "location.location",
    "location.country",
    "location.region",
    "location.zone",
    "resource.name",
    "resource.global_name",
    "cost",
    "currency",
    "currency_conversion_rate",
    "usage.amount",
    "usage.unit",
    "usage.amount_in_pricing_units",
    "usage.pricing_unit",
    "credits",
    "invoice.month",
    "cost_type",
    "adjustment_info.id",
    "adjustment_info.description",
    "cost_at_list",
    "transaction_type",
    "seller_name",
];

/// Whether a header (or a JSON row's names) is a Google Cloud billing export's.
pub fn is_billing_export<'h>(header: impl IntoIterator<Item = &'h str>) -> bool {
    native::has_all(header, &["billing_account_id", "service.description"])
}

#[derive(Debug)]
pub struct Layout {
    columns: Columns,
}

impl Layout {
    pub fn from_header<'h>(
        header: impl IntoIterator<Item = &'h str>,
    ) -> Result<Self, Vec<ImportIssue>> {
        let columns = Columns::of_header(
            header,
            &[
                "billing_account_id",
                "service.description",
                "usage_start_time",
                "usage_end_time",
                "cost",
                "currency",
            ],
            "this billing export field is missing",
        )?;
        Ok(Self { columns })
    }
}

/// BigQuery writes timestamps as `2024-09-01 07:00:00 UTC` (and `…T07:00:00Z` elsewhere).
fn time(value: &str) -> Option<String> {
    let at = value
        .strip_suffix(" UTC")
        .and_then(|v| NaiveDateTime::parse_from_str(v, "%Y-%m-%d %H:%M:%S%.f").ok())
        .map(|naive| naive.and_utc())
        .or_else(|| parse_timestamp(value).map(|(at, _)| at))?;
    Some(at.format("%Y-%m-%dT%H:%M:%SZ").to_string())
}

/// `invoice.month`, `202409`, as the first day of the month.
fn invoice_month(value: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(&format!("{value}01"), "%Y%m%d").ok()
}

/// The sum of the `amount`s of the `credits` array (JSON text); credits are negative.
fn credits(value: &str) -> Option<Decimal> {
    let credits: Vec<serde_json::Value> = serde_json::from_str(value).ok()?;
    credits.iter().try_fold(Decimal::ZERO, |sum, credit| {
        let amount = match credit.get("amount")? {
            serde_json::Value::String(text) => native::number(Some(text)),
            number @ serde_json::Value::Number(_) => native::number(Some(&number.to_string())),
            _ => None,
        }?;
        Some(sum + amount)
    })
}

/// The `labels` array (`[{"key": …, "value": …}]`) as a FOCUS tags object.
fn labels(value: &str) -> Option<String> {
    let labels: Vec<serde_json::Value> = serde_json::from_str(value).ok()?;
    let object = labels
        .iter()
        .map(|label| {
            let key = label.get("key")?.as_str()?.to_owned();
            Some((key, label.get("value").cloned().unwrap_or_default()))
        })
        .collect::<Option<serde_json::Map<_, _>>>()?;
    Some(serde_json::Value::Object(object).to_string())
}

impl Converter for Layout {
    /// One export row as a FOCUS row. Errors name the export's field.
    fn row<'r>(
        &self,
        record: &'r csv::StringRecord,
        line: u64,
    ) -> Result<Row<'r>, Vec<ImportIssue>> {
        let get = |name: &str| self.columns.get(record, name);
        let borrowed = |name: &str| get(name).map(Cow::Borrowed);
        let instant = |name: &'static str| -> Result<String, Vec<ImportIssue>> {
            let value = get(name).unwrap_or_default();
            time(value)
                .ok_or_else(|| native::issue(line, name, format!("`{value}` is not a timestamp")))
        };
        let mut row = Row::new();
        let start = instant("usage_start_time")?;
        let end = instant("usage_end_time")?;
        // The invoice month is the billing period; rows without one bill in their usage month.
        let month = match get("invoice.month") {
            Some(value) => invoice_month(value).ok_or_else(|| {
                native::issue(
                    line,
                    "invoice.month",
                    format!("`{value}` is not a month (YYYYMM)"),
                )
            })?,
            None => NaiveDate::parse_from_str(&start[..10], "%Y-%m-%d")
                .map_err(|_| native::issue(line, "usage_start_time", "no date".into()))?,
        };
        let month = month.with_day(1).unwrap_or(month);
        row.set(focus_column!("ChargePeriodStart"), Some(Cow::Owned(start)));
        row.set(focus_column!("ChargePeriodEnd"), Some(Cow::Owned(end)));
        row.set(
            focus_column!("BillingPeriodStart"),
            Some(Cow::Owned(midnight(month))),
        );
        row.set(
            focus_column!("BillingPeriodEnd"),
            Some(Cow::Owned(midnight(
                month.checked_add_months(Months::new(1)).unwrap_or(month),
            ))),
        );

        // `cost` is before credits; the invoice charges cost plus the (negative) credits.
        let cost = native::amount(get("cost"), line, "cost")?;
        let credited = match get("credits") {
            None => Decimal::ZERO,
            Some(value) => credits(value).ok_or_else(|| {
                native::issue(
                    line,
                    "credits",
                    "the credits are not a list of {name, amount}".into(),
                )
            })?,
        };
        let net = Some(Cow::Owned((cost + credited).to_string()));
        row.set(focus_column!("BilledCost"), net.clone());
        row.set(focus_column!("EffectiveCost"), net);
        row.set(focus_column!("ContractedCost"), borrowed("cost"));
        row.set(focus_column!("ListCost"), borrowed("cost_at_list"));
        row.set(focus_column!("BillingCurrency"), borrowed("currency"));
        row.set(
            focus_column!("BillingAccountId"),
            borrowed("billing_account_id"),
        );
        row.set(focus_column!("SubAccountId"), borrowed("project.id"));
        row.set(focus_column!("SubAccountName"), borrowed("project.name"));

        let category = match get("cost_type") {
            None | Some("regular") => "Usage",
            Some("tax") => "Tax",
            Some(_) => "Adjustment", // adjustment, rounding_error
        };
        row.set(
            focus_column!("ChargeCategory"),
            Some(Cow::Borrowed(category)),
        );
        row.set(
            focus_column!("ChargeClass"),
            get("adjustment_info.id").map(|_| Cow::Borrowed("Correction")),
        );
        row.set(
            focus_column!("ChargeFrequency"),
            Some(Cow::Borrowed(if category == "Usage" {
                "Usage-Based"
            } else {
                "One-Time"
            })),
        );
        row.set(
            focus_column!("PricingCategory"),
            (category == "Usage").then_some(Cow::Borrowed("Standard")),
        );
        row.set(
            focus_column!("ChargeDescription"),
            borrowed("sku.description"),
        );
        let service = get("service.description").unwrap_or("Unknown");
        row.set(focus_column!("ServiceName"), Some(Cow::Borrowed(service)));
        row.set(
            focus_column!("ServiceCategory"),
            Some(Cow::Borrowed(service_category(service))),
        );
        row.set(focus_column!("SkuId"), borrowed("sku.id"));
        row.set(focus_column!("RegionId"), borrowed("location.region"));
        row.set(focus_column!("RegionName"), borrowed("location.region"));
        row.set(focus_column!("AvailabilityZone"), borrowed("location.zone"));
        row.set(
            focus_column!("ResourceId"),
            borrowed("resource.global_name").or_else(|| borrowed("resource.name")),
        );
        row.set(focus_column!("ResourceName"), borrowed("resource.name"));
        if category == "Usage" {
            let pricing = get("usage.amount_in_pricing_units").zip(get("usage.pricing_unit"));
            row.set(
                focus_column!("PricingQuantity"),
                pricing.map(|(quantity, _)| Cow::Borrowed(quantity)),
            );
            row.set(
                focus_column!("PricingUnit"),
                pricing.map(|(_, unit)| Cow::Borrowed(unit)),
            );
            let consumed = get("usage.amount").zip(get("usage.unit"));
            row.set(
                focus_column!("ConsumedQuantity"),
                consumed.map(|(quantity, _)| Cow::Borrowed(quantity)),
            );
            row.set(
                focus_column!("ConsumedUnit"),
                consumed.map(|(_, unit)| Cow::Borrowed(unit)),
            );
        }
        let tags = match get("labels") {
            None => None,
            Some(value) => Some(Cow::Owned(labels(value).ok_or_else(|| {
                native::issue(
                    line,
                    "labels",
                    "the labels are not a list of {key, value}".into(),
                )
            })?)),
        };
        row.set(focus_column!("Tags"), tags);
        for column in [
            focus_column!("ProviderName"),
            focus_column!("InvoiceIssuerName"),
        ] {
            row.set(column, Some(Cow::Borrowed("Google Cloud")));
        }
        row.set(
            focus_column!("PublisherName"),
            Some(borrowed("seller_name").unwrap_or(Cow::Borrowed("Google Cloud"))),
        );
        native::keep(
            &mut row,
            &self.columns,
            record,
            &[
                ("service.id", "x_ServiceId"),
                ("project.number", "x_ProjectNumber"),
                ("credits", "x_Credits"),
                ("cost_type", "x_CostType"),
                ("currency_conversion_rate", "x_CurrencyConversionRate"),
                ("transaction_type", "x_TransactionType"),
            ],
        );
        Ok(row)
    }
}

/// The FOCUS service category of a Google Cloud service (by its description); `Other` for
/// the ones not listed.
fn service_category(service: &str) -> &'static str {
    match service {
        "Compute Engine" | "Kubernetes Engine" | "Cloud Run" | "Cloud Functions" | "App Engine" => {
            "Compute"
        }
        "Cloud Storage" | "Filestore" | "Artifact Registry" => "Storage",
        "Cloud SQL" | "Cloud Spanner" | "Cloud Bigtable" | "Firestore" | "Cloud Memorystore"
        | "AlloyDB" => "Databases",
        "Networking" | "Cloud DNS" | "Cloud CDN" | "Cloud Load Balancing" | "Cloud NAT" => {
            "Networking"
        }
        "BigQuery" | "Dataflow" | "Dataproc" | "Pub/Sub" | "Looker" => "Analytics",
        "Vertex AI" | "Cloud AutoML" | "Cloud Vision API" | "Gemini API" => {
            "AI and Machine Learning"
        }
        "Cloud Logging" | "Cloud Monitoring" | "Cloud Trace" => "Management and Governance",
        "Secret Manager" | "Cloud Key Management Service (KMS)" | "Security Command Center" => {
            "Security"
        }
        "Identity Platform" => "Identity",
        "Support" => "Support",
        _ => "Other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bigquery_timestamps_and_invoice_months_are_read() {
        assert_eq!(
            time("2024-09-01 07:00:00 UTC").as_deref(),
            Some("2024-09-01T07:00:00Z")
        );
        assert_eq!(
            time("2024-09-01T07:00:00Z").as_deref(),
            Some("2024-09-01T07:00:00Z")
        );
        assert_eq!(time("yesterday"), None);
        assert_eq!(invoice_month("202409"), NaiveDate::from_ymd_opt(2024, 9, 1));
        assert_eq!(invoice_month("2024-09"), None);
    }

    #[test]
    fn credits_sum_and_labels_become_tags() {
        assert_eq!(
            credits(r#"[{"name": "SUD", "amount": -1.25}, {"name": "FT", "amount": "-0.5"}]"#),
            Some(Decimal::new(-175, 2))
        );
        assert_eq!(credits("[]"), Some(Decimal::ZERO));
        assert_eq!(credits(r#"[{"name": "x"}]"#), None);
        assert_eq!(
            labels(r#"[{"key": "team", "value": "data "}]"#).as_deref(),
            Some(r#"{"team":"data "}"#),
            "values verbatim"
        );
    }
}
