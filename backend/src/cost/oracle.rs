//! Oracle Cloud Infrastructure cost reports converted to FOCUS. The mapping and its sources:
//! docs/cost/oracle.md.

use std::borrow::Cow;

use chrono::{DateTime, Datelike, Months, NaiveDateTime, TimeZone, Utc};
use nimbus_api_types::cost::ImportIssue;

use super::focus::{Converter, Row, parse_timestamp};
use super::native::{self, Columns};
use crate::focus_column;

pub const SOURCE: &str = "oracle";

/// Whether a header is an OCI cost report's.
pub fn is_cost_report<'h>(header: impl IntoIterator<Item = &'h str>) -> bool {
    header.into_iter().any(|name| name == "cost/myCost")
}

#[derive(Debug)]
pub struct Layout {
    columns: Columns,
    /// `tags/Namespace.Key` columns: the key after `tags/`.
    tags: Vec<(usize, String)>,
}

/// OCI writes interval times as `2023-11-13T10:00Z` (no seconds) as well as with them.
fn time(value: &str) -> Option<DateTime<Utc>> {
    parse_timestamp(value).map(|(at, _)| at).or_else(|| {
        NaiveDateTime::parse_from_str(value, "%Y-%m-%dT%H:%MZ")
            .ok()
            .map(|naive| naive.and_utc())
    })
}

fn text(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

impl Layout {
    pub fn from_header<'h>(
        header: impl IntoIterator<Item = &'h str>,
    ) -> Result<Self, Vec<ImportIssue>> {
        let mut columns = Columns::default();
        let mut tags = Vec::new();
        for (position, name) in header.into_iter().enumerate() {
            let name = name.strip_prefix('\u{feff}').unwrap_or(name);
            match name.strip_prefix("tags/") {
                Some(key) => tags.push((position, key.to_owned())),
                None => {
                    columns.insert(name.to_owned(), position);
                }
            }
        }
        let missing = columns.missing(
            &[
                "lineItem/tenantId",
                "lineItem/intervalUsageStart",
                "lineItem/intervalUsageEnd",
                "cost/myCost",
                "cost/currencyCode",
            ],
            "this cost report column is missing from the header",
        );
        if missing.is_empty() {
            Ok(Self { columns, tags })
        } else {
            Err(missing)
        }
    }
}

impl Converter for Layout {
    /// One report line as a FOCUS row. Errors name the report's column.
    fn row<'r>(
        &self,
        record: &'r csv::StringRecord,
        line: u64,
    ) -> Result<Row<'r>, Vec<ImportIssue>> {
        let get = |name: &str| self.columns.get(record, name);
        let borrowed = |name: &str| get(name).map(Cow::Borrowed);
        let instant = |name: &'static str| -> Result<DateTime<Utc>, Vec<ImportIssue>> {
            let value = get(name).unwrap_or_default();
            time(value)
                .ok_or_else(|| native::issue(line, name, format!("`{value}` is not a date-time")))
        };
        let amount = |name: &str| native::amount(get(name), line, name);
        let mut row = Row::new();
        // Overage is billed on its own line item columns: the charge is both together.
        let cost = match get("cost/myCostOverage") {
            None => borrowed("cost/myCost"),
            Some(_) => Some(Cow::Owned(
                (amount("cost/myCost")? + amount("cost/myCostOverage")?).to_string(),
            )),
        };
        row.set(focus_column!("BilledCost"), cost.clone());
        row.set(focus_column!("EffectiveCost"), cost.clone());
        row.set(focus_column!("ContractedCost"), cost);
        row.set(
            focus_column!("ContractedUnitPrice"),
            borrowed("cost/unitPrice"),
        );
        row.set(
            focus_column!("BillingAccountId"),
            borrowed("lineItem/tenantId"),
        );
        row.set(
            focus_column!("SubAccountId"),
            borrowed("product/compartmentId"),
        );
        row.set(
            focus_column!("SubAccountName"),
            borrowed("product/compartmentName"),
        );
        row.set(
            focus_column!("BillingCurrency"),
            borrowed("cost/currencyCode"),
        );
        let start = instant("lineItem/intervalUsageStart")?;
        let end = instant("lineItem/intervalUsageEnd")?;
        row.set(
            focus_column!("ChargePeriodStart"),
            Some(Cow::Owned(text(start))),
        );
        row.set(
            focus_column!("ChargePeriodEnd"),
            Some(Cow::Owned(text(end))),
        );
        // OCI bills by calendar month: the billing period is the usage's month.
        let month = Utc
            .with_ymd_and_hms(start.year(), start.month(), 1, 0, 0, 0)
            .single()
            .ok_or_else(|| {
                native::issue(
                    line,
                    "lineItem/intervalUsageStart",
                    "the month is out of range".into(),
                )
            })?;
        row.set(
            focus_column!("BillingPeriodStart"),
            Some(Cow::Owned(text(month))),
        );
        row.set(
            focus_column!("BillingPeriodEnd"),
            Some(Cow::Owned(text(
                month.checked_add_months(Months::new(1)).unwrap_or(month),
            ))),
        );
        row.set(
            focus_column!("ChargeCategory"),
            Some(Cow::Borrowed("Usage")),
        );
        row.set(
            focus_column!("ChargeClass"),
            (get("lineItem/isCorrection") == Some("true")).then_some(Cow::Borrowed("Correction")),
        );
        row.set(
            focus_column!("ChargeFrequency"),
            Some(Cow::Borrowed("Usage-Based")),
        );
        row.set(
            focus_column!("PricingCategory"),
            Some(Cow::Borrowed("Standard")),
        );
        row.set(
            focus_column!("ChargeDescription"),
            borrowed("product/Description"),
        );
        let service = get("product/service");
        row.set(
            focus_column!("ServiceName"),
            Some(Cow::Borrowed(service.unwrap_or("Unknown"))),
        );
        row.set(
            focus_column!("ServiceCategory"),
            Some(Cow::Borrowed(service_category(service.unwrap_or_default()))),
        );
        row.set(focus_column!("RegionId"), borrowed("product/region"));
        row.set(
            focus_column!("AvailabilityZone"),
            borrowed("product/availabilityDomain"),
        );
        row.set(focus_column!("ResourceId"), borrowed("product/resourceId"));
        row.set(focus_column!("SkuId"), borrowed("cost/productSku"));
        let unit = get("cost/skuUnitDescription");
        let quantity = get("usage/billedQuantity").filter(|_| unit.is_some());
        row.set(
            focus_column!("PricingQuantity"),
            quantity.map(Cow::Borrowed),
        );
        row.set(
            focus_column!("PricingUnit"),
            unit.filter(|_| quantity.is_some()).map(Cow::Borrowed),
        );
        row.set(
            focus_column!("ConsumedQuantity"),
            quantity.map(Cow::Borrowed),
        );
        row.set(
            focus_column!("ConsumedUnit"),
            unit.filter(|_| quantity.is_some()).map(Cow::Borrowed),
        );
        for column in [
            focus_column!("ProviderName"),
            focus_column!("PublisherName"),
            focus_column!("InvoiceIssuerName"),
        ] {
            row.set(column, Some(Cow::Borrowed("Oracle")));
        }
        row.set(
            focus_column!("Tags"),
            native::tags(record, &self.tags).map(Cow::Owned),
        );
        native::keep(
            &mut row,
            &self.columns,
            record,
            &[
                ("lineItem/referenceNo", "x_ReferenceNo"),
                ("cost/subscriptionId", "x_SubscriptionId"),
                ("cost/billingUnitReadable", "x_BillingUnitReadable"),
            ],
        );
        Ok(row)
    }
}

/// The FOCUS service category of an OCI service name; `Other` for the ones not listed.
fn service_category(service: &str) -> &'static str {
    match service {
        "COMPUTE" | "CONTAINER_ENGINE" | "FUNCTIONS" => "Compute",
        "BLOCK_STORAGE" | "OBJECT_STORAGE" | "FILE_STORAGE" | "ARCHIVE_STORAGE" => "Storage",
        "DATABASE" | "MYSQL" | "NOSQL" | "AUTONOMOUS_DATABASE" => "Databases",
        "NETWORK" | "VIRTUAL_CLOUD_NETWORK" | "LOAD_BALANCER" | "DNS" | "FASTCONNECT" => {
            "Networking"
        }
        "TELEMETRY" | "MONITORING" | "LOGGING" | "NOTIFICATIONS" => "Management and Governance",
        "DATA_SCIENCE" | "AI_SERVICES" | "GENERATIVE_AI" => "AI and Machine Learning",
        "ANALYTICS" | "DATA_FLOW" | "STREAMING" => "Analytics",
        "VAULT" | "KEY_MANAGEMENT" | "CLOUD_GUARD" => "Security",
        "IDENTITY" => "Identity",
        _ => "Other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interval_times_without_seconds_are_read() {
        assert_eq!(
            time("2023-11-13T10:00Z"),
            Some(Utc.with_ymd_and_hms(2023, 11, 13, 10, 0, 0).unwrap())
        );
        assert_eq!(
            time("2023-11-13T11:00:00Z"),
            Some(Utc.with_ymd_and_hms(2023, 11, 13, 11, 0, 0).unwrap())
        );
        assert_eq!(time("13/11/2023"), None);
    }
}
