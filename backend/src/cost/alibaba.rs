//! Alibaba Cloud instance bills (BSS OpenAPI `QueryInstanceBill` answers, daily or monthly)
//! converted to FOCUS. The mapping and its sources: docs/cost/alibaba.md.

use std::borrow::Cow;

use chrono::{Datelike, Days, Months, NaiveDate};
use nimbus_api_types::cost::ImportIssue;

use super::focus::{Converter, Row};
use super::native::{self, Columns, midnight};
use crate::focus_column;

pub const SOURCE: &str = "alibaba";

/// An item's fields, as `QueryInstanceBill` documents them, plus the answer's `BillingCycle`,
/// `AccountID` and `AccountName` that every item of a page carries.
pub const FIELDS: &[&str] = &[
    "BillingCycle",
    "AccountID",
    "AccountName",
    "BillingDate",
    "BillAccountID",
    "BillAccountName",
    "OwnerID",
    "InstanceID",
    "InstanceConfig",
    "InstanceSpec",
    "Item",
    "Tag",
    "ProductCode",
    "ProductName",
    "ProductType",
    "ProductDetail",
    "SubscriptionType",
    "PipCode",
    "Region",
    "Zone",
    "BillingItem",
    "BillingItemCode",
    "BillingType",
    "ListPrice",
    "ListPriceUnit",
    "Usage",
    "UsageUnit",
    "PretaxGrossAmount",
    "InvoiceDiscount",
    "DeductedByCoupons",
    "PretaxAmount",
    "DeductedByCashCoupons",
    "DeductedByPrepaidCard",
    "PaymentAmount",
    "OutstandingAmount",
    "Currency",
    "NickName",
    "ResourceGroup",
    "CostUnit",
    "ServicePeriod",
    "ServicePeriodUnit",
];

/// Whether a header (or a JSON row's names) is an instance bill's.
pub fn is_instance_bill<'h>(header: impl IntoIterator<Item = &'h str>) -> bool {
    native::has_all(header, &["PretaxAmount", "ProductCode"])
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
            &["PretaxAmount", "Currency", "ProductCode"],
            "this instance bill field is missing",
        )?;
        Ok(Self { columns })
    }
}

/// `Tag`: `key:env value:prod; key:team value:data` as a FOCUS tags object.
fn tags(value: &str) -> Option<String> {
    let object: serde_json::Map<String, serde_json::Value> = value
        .split(';')
        .filter(|pair| !pair.trim().is_empty())
        .map(|pair| {
            let rest = pair.trim_start().strip_prefix("key:")?;
            let (key, value) = rest.split_once(" value:").unwrap_or((rest, ""));
            Some((key.to_owned(), serde_json::Value::from(value)))
        })
        .collect::<Option<_>>()?;
    (!object.is_empty()).then(|| serde_json::Value::Object(object).to_string())
}

/// Region ids (`cn-hangzhou`) as opposed to display names (`China (Hangzhou)`).
fn is_region_id(region: &str) -> bool {
    region.contains('-')
        && region
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

impl Converter for Layout {
    /// One bill item as a FOCUS row. Errors name the item's field.
    fn row<'r>(
        &self,
        record: &'r csv::StringRecord,
        line: u64,
    ) -> Result<Row<'r>, Vec<ImportIssue>> {
        let get = |name: &str| self.columns.get(record, name);
        let borrowed = |name: &str| get(name).map(Cow::Borrowed);
        let mut row = Row::new();

        // Daily items carry their day; monthly ones cover their billing cycle.
        let cycle = match get("BillingCycle") {
            None => None,
            Some(value) => Some(
                NaiveDate::parse_from_str(&format!("{value}-01"), "%Y-%m-%d").map_err(|_| {
                    native::issue(
                        line,
                        "BillingCycle",
                        format!("`{value}` is not a month (YYYY-MM)"),
                    )
                })?,
            ),
        };
        let day = match get("BillingDate") {
            None => None,
            Some(value) => Some(NaiveDate::parse_from_str(value, "%Y-%m-%d").map_err(|_| {
                native::issue(
                    line,
                    "BillingDate",
                    format!("`{value}` is not a date (YYYY-MM-DD)"),
                )
            })?),
        };
        let month = match (cycle, day) {
            (Some(cycle), _) => cycle,
            (None, Some(day)) => day.with_day(1).unwrap_or(day),
            (None, None) => {
                return Err(native::issue(
                    line,
                    "BillingDate",
                    "an item needs its BillingDate or the answer's BillingCycle".into(),
                ));
            }
        };
        let next_month = month.checked_add_months(Months::new(1)).unwrap_or(month);
        let (start, end) = match day {
            Some(day) => (day, day.checked_add_days(Days::new(1)).unwrap_or(day)),
            None => (month, next_month),
        };
        row.set(
            focus_column!("ChargePeriodStart"),
            Some(Cow::Owned(midnight(start))),
        );
        row.set(
            focus_column!("ChargePeriodEnd"),
            Some(Cow::Owned(midnight(end))),
        );
        row.set(
            focus_column!("BillingPeriodStart"),
            Some(Cow::Owned(midnight(month))),
        );
        row.set(
            focus_column!("BillingPeriodEnd"),
            Some(Cow::Owned(midnight(next_month))),
        );

        // PretaxAmount is what the bill charges: the gross amount less discounts and coupons.
        native::amount(get("PretaxAmount"), line, "PretaxAmount")?;
        native::amount(get("PretaxGrossAmount"), line, "PretaxGrossAmount")?;
        let charged = borrowed("PretaxAmount");
        row.set(focus_column!("BilledCost"), charged.clone());
        row.set(focus_column!("EffectiveCost"), charged.clone());
        row.set(focus_column!("ContractedCost"), charged);
        row.set(focus_column!("ListCost"), borrowed("PretaxGrossAmount"));
        row.set(focus_column!("ListUnitPrice"), borrowed("ListPrice"));
        row.set(focus_column!("BillingCurrency"), borrowed("Currency"));
        let account = borrowed("BillAccountID").or_else(|| borrowed("AccountID"));
        if account.is_none() {
            return Err(native::issue(
                line,
                "BillAccountID",
                "an item needs its BillAccountID or the answer's AccountID".into(),
            ));
        }
        row.set(focus_column!("BillingAccountId"), account);
        row.set(
            focus_column!("BillingAccountName"),
            borrowed("BillAccountName").or_else(|| borrowed("AccountName")),
        );
        row.set(focus_column!("SubAccountId"), borrowed("OwnerID"));

        let subscription = get("SubscriptionType") == Some("Subscription");
        let (category, frequency) = match get("Item") {
            Some("Refund") => ("Credit", "One-Time"),
            Some("Adjustment") => ("Adjustment", "One-Time"),
            Some("SubscriptionOrder") => ("Purchase", "Recurring"),
            Some(_) | None if subscription => ("Purchase", "Recurring"),
            _ => ("Usage", "Usage-Based"),
        };
        row.set(
            focus_column!("ChargeCategory"),
            Some(Cow::Borrowed(category)),
        );
        row.set(
            focus_column!("ChargeFrequency"),
            Some(Cow::Borrowed(frequency)),
        );
        row.set(
            focus_column!("PricingCategory"),
            matches!(category, "Usage" | "Purchase").then_some(Cow::Borrowed(if subscription {
                "Committed"
            } else {
                "Standard"
            })),
        );
        row.set(
            focus_column!("ChargeDescription"),
            borrowed("BillingItem").or_else(|| borrowed("ProductDetail")),
        );
        let product = get("ProductCode").unwrap_or_default();
        row.set(
            focus_column!("ServiceName"),
            Some(borrowed("ProductName").unwrap_or(Cow::Borrowed(product))),
        );
        row.set(
            focus_column!("ServiceCategory"),
            Some(Cow::Borrowed(service_category(product))),
        );
        row.set(focus_column!("SkuId"), borrowed("BillingItemCode"));
        let region = get("Region");
        row.set(focus_column!("RegionName"), region.map(Cow::Borrowed));
        row.set(
            focus_column!("RegionId"),
            region.filter(|r| is_region_id(r)).map(Cow::Borrowed),
        );
        row.set(focus_column!("AvailabilityZone"), borrowed("Zone"));
        row.set(focus_column!("ResourceId"), borrowed("InstanceID"));
        row.set(focus_column!("ResourceType"), borrowed("ProductType"));
        if category == "Usage" {
            let usage = get("Usage").zip(get("UsageUnit"));
            row.set(
                focus_column!("PricingQuantity"),
                usage.map(|(quantity, _)| Cow::Borrowed(quantity)),
            );
            row.set(
                focus_column!("PricingUnit"),
                usage.map(|(_, unit)| Cow::Borrowed(unit)),
            );
        }
        let tags = match get("Tag") {
            None => None,
            Some(value) if value.trim().is_empty() => None,
            Some(value) => Some(Cow::Owned(tags(value).ok_or_else(|| {
                native::issue(
                    line,
                    "Tag",
                    "the tags are not `key:K value:V` pairs separated by `;`".into(),
                )
            })?)),
        };
        row.set(focus_column!("Tags"), tags);
        for column in [
            focus_column!("ProviderName"),
            focus_column!("PublisherName"),
            focus_column!("InvoiceIssuerName"),
        ] {
            row.set(column, Some(Cow::Borrowed("Alibaba Cloud")));
        }
        native::keep(
            &mut row,
            &self.columns,
            record,
            &[
                ("PaymentAmount", "x_PaymentAmount"),
                ("InvoiceDiscount", "x_InvoiceDiscount"),
                ("DeductedByCoupons", "x_DeductedByCoupons"),
                ("OutstandingAmount", "x_OutstandingAmount"),
                ("SubscriptionType", "x_SubscriptionType"),
                ("ResourceGroup", "x_ResourceGroup"),
                ("CostUnit", "x_CostUnit"),
                ("InstanceConfig", "x_InstanceConfig"),
            ],
        );
        Ok(row)
    }
}

/// The FOCUS service category of an Alibaba Cloud product code; `Other` for the ones not listed.
fn service_category(product_code: &str) -> &'static str {
    match product_code.to_ascii_lowercase().as_str() {
        "ecs" | "cs" | "ack" | "eci" | "fc" | "sae" | "ess" => "Compute",
        "oss" | "nas" | "ebs" | "disk" | "snapshot" => "Storage",
        "rds" | "polardb" | "redisa" | "kvstore" | "dds" | "mongodb" | "hbase" | "adb" => {
            "Databases"
        }
        "slb" | "alb" | "nlb" | "eip" | "cdn" | "vpc" | "nat" | "cbwp" | "cen" | "dns" | "ga" => {
            "Networking"
        }
        "sls" | "cms" | "arms" | "actiontrail" => "Management and Governance",
        "pai" | "dashscope" | "bailian" => "AI and Machine Learning",
        "maxcompute" | "odps" | "emr" | "dataworks" | "elasticsearch" => "Analytics",
        "kms" | "waf" | "ddos" | "sas" | "cas" => "Security",
        "ram" | "idaas" => "Identity",
        _ => "Other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_are_key_value_pairs_kept_verbatim() {
        assert_eq!(
            tags("key:env value:prod; key:team value:data ").as_deref(),
            Some(r#"{"env":"prod","team":"data "}"#)
        );
        assert_eq!(tags("env=prod"), None);
    }

    #[test]
    fn region_ids_are_told_from_display_names() {
        assert!(is_region_id("cn-hangzhou"));
        assert!(is_region_id("ap-southeast-1"));
        assert!(!is_region_id("China (Hangzhou)"));
    }
}
