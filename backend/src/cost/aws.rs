//! AWS Cost and Usage Reports converted to FOCUS: the legacy CUR (`lineItem/UnblendedCost`) and
//! CUR 2.0 / Data Exports (`line_item_unblended_cost`) name the same columns, so both are read
//! through one canonical (CUR 2.0) spelling. The mapping and its sources: docs/cost/aws-cur.md.

use std::borrow::Cow;

use nimbus_api_types::cost::ImportIssue;
use rust_decimal::Decimal;

use super::focus::{Converter, Row, is_null};
use super::native::{self, Columns};
use crate::focus_column;

pub const SOURCE: &str = "aws-cur";

/// The CUR 2.0 name of a column: `lineItem/UnblendedCost` → `line_item_unblended_cost`
/// (`savingsPlan/SavingsPlanARN` → `savings_plan_savings_plan_a_r_n`, as CUR 2.0 spells it).
fn canonical(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 8);
    for c in name.chars() {
        match c {
            '/' => out.push('_'),
            c if c.is_ascii_uppercase() => {
                if !out.is_empty() && !out.ends_with('_') {
                    out.push('_');
                }
                out.push(c.to_ascii_lowercase());
            }
            c => out.push(c),
        }
    }
    out
}

/// Columns a report must have to be read at all.
const REQUIRED: [&str; 8] = [
    "bill_payer_account_id",
    "bill_billing_period_start_date",
    "bill_billing_period_end_date",
    "line_item_usage_start_date",
    "line_item_usage_end_date",
    "line_item_line_item_type",
    "line_item_unblended_cost",
    "line_item_currency_code",
];

/// Whether a header is a Cost and Usage Report's.
pub fn is_cur<'h>(header: impl IntoIterator<Item = &'h str>) -> bool {
    header
        .into_iter()
        .any(|name| matches!(name, "lineItem/UnblendedCost" | "line_item_unblended_cost"))
}

/// Where each CUR column is in the file, and its tag columns.
#[derive(Debug)]
pub struct Layout {
    columns: Columns,
    /// Legacy `resourceTags/user:Team` columns: the tag key (`user:` dropped, other prefixes kept).
    tags: Vec<(usize, String)>,
    /// CUR 2.0's `resource_tags`: one JSON object per row.
    tags_json: Option<usize>,
}

impl Layout {
    pub fn from_header<'h>(
        header: impl IntoIterator<Item = &'h str>,
    ) -> Result<Self, Vec<ImportIssue>> {
        let mut columns = Columns::default();
        let mut tags = Vec::new();
        let mut tags_json = None;
        for (position, name) in header.into_iter().enumerate() {
            let name = name.strip_prefix('\u{feff}').unwrap_or(name);
            if let Some(key) = name.strip_prefix("resourceTags/") {
                // FOCUS: user-defined keys carry no prefix; provider-defined ones keep theirs.
                tags.push((
                    position,
                    key.strip_prefix("user:").unwrap_or(key).to_owned(),
                ));
            } else if name == "resource_tags" {
                tags_json = Some(position);
            } else {
                columns.insert(canonical(name), position);
            }
        }
        let missing = columns.missing(
            &REQUIRED,
            "this Cost and Usage Report column is missing from the header",
        );
        if missing.is_empty() {
            Ok(Self {
                columns,
                tags,
                tags_json,
            })
        } else {
            Err(missing)
        }
    }

    fn tags(&self, record: &csv::StringRecord) -> Option<String> {
        if let Some(position) = self.tags_json {
            return record
                .get(position)
                .filter(|v| !is_null(v))
                .map(str::to_owned);
        }
        native::tags(record, &self.tags)
    }
}

impl Converter for Layout {
    /// One report line as a FOCUS row. Errors name the CUR column.
    fn row<'r>(
        &self,
        record: &'r csv::StringRecord,
        line: u64,
    ) -> Result<Row<'r>, Vec<ImportIssue>> {
        let get = |name: &str| self.columns.get(record, name);
        let mut row = Row::new();
        let borrowed = |name: &str| get(name).map(Cow::Borrowed);
        let line_type = get("line_item_line_item_type").unwrap_or_default();
        let unblended = get("line_item_unblended_cost");

        row.set(focus_column!("BilledCost"), unblended.map(Cow::Borrowed));
        let effective = effective_cost(line_type, &get).map_err(|(column, value)| {
            native::issue(line, column, format!("`{value}` is not a number"))
        })?;
        row.set(
            focus_column!("EffectiveCost"),
            effective.or(unblended.map(Cow::Borrowed)),
        );
        row.set(
            focus_column!("ListCost"),
            get("pricing_public_on_demand_cost")
                .or(unblended)
                .map(Cow::Borrowed),
        );
        row.set(
            focus_column!("ContractedCost"),
            get("line_item_net_unblended_cost")
                .or(unblended)
                .map(Cow::Borrowed),
        );
        row.set(
            focus_column!("ListUnitPrice"),
            borrowed("pricing_public_on_demand_rate"),
        );
        row.set(
            focus_column!("ContractedUnitPrice"),
            get("line_item_net_unblended_rate")
                .or_else(|| get("line_item_unblended_rate"))
                .map(Cow::Borrowed),
        );
        row.set(
            focus_column!("BillingAccountId"),
            borrowed("bill_payer_account_id"),
        );
        row.set(
            focus_column!("BillingAccountName"),
            borrowed("bill_payer_account_name"),
        );
        row.set(
            focus_column!("SubAccountId"),
            borrowed("line_item_usage_account_id"),
        );
        row.set(
            focus_column!("SubAccountName"),
            borrowed("line_item_usage_account_name"),
        );
        row.set(
            focus_column!("BillingCurrency"),
            borrowed("line_item_currency_code"),
        );
        row.set(
            focus_column!("BillingPeriodStart"),
            borrowed("bill_billing_period_start_date"),
        );
        row.set(
            focus_column!("BillingPeriodEnd"),
            borrowed("bill_billing_period_end_date"),
        );
        row.set(
            focus_column!("ChargePeriodStart"),
            borrowed("line_item_usage_start_date"),
        );
        row.set(
            focus_column!("ChargePeriodEnd"),
            borrowed("line_item_usage_end_date"),
        );
        row.set(
            focus_column!("ChargeCategory"),
            Some(Cow::Borrowed(charge_category(line_type))),
        );
        row.set(
            focus_column!("ChargeFrequency"),
            Some(Cow::Borrowed(charge_frequency(line_type))),
        );
        row.set(
            focus_column!("PricingCategory"),
            pricing_category(line_type, get("pricing_term")).map(Cow::Borrowed),
        );
        row.set(
            focus_column!("ChargeDescription"),
            borrowed("line_item_line_item_description"),
        );
        let product_code = get("line_item_product_code");
        row.set(
            focus_column!("ServiceName"),
            get("product_product_name")
                .or(product_code)
                .map(Cow::Borrowed),
        );
        row.set(
            focus_column!("ServiceCategory"),
            Some(Cow::Borrowed(service_category(
                product_code.unwrap_or_default(),
            ))),
        );
        row.set(focus_column!("RegionId"), borrowed("product_region_code"));
        row.set(focus_column!("RegionName"), borrowed("product_location"));
        row.set(
            focus_column!("AvailabilityZone"),
            borrowed("line_item_availability_zone"),
        );
        row.set(
            focus_column!("ResourceId"),
            borrowed("line_item_resource_id"),
        );
        let quantity = (line_type != "Tax")
            .then(|| get("line_item_usage_amount"))
            .flatten();
        let unit = quantity.and(get("pricing_unit"));
        row.set(
            focus_column!("PricingQuantity"),
            quantity.filter(|_| unit.is_some()).map(Cow::Borrowed),
        );
        row.set(focus_column!("PricingUnit"), unit.map(Cow::Borrowed));
        let usage = matches!(
            line_type,
            "Usage" | "DiscountedUsage" | "SavingsPlanCoveredUsage"
        );
        row.set(
            focus_column!("ConsumedQuantity"),
            quantity.filter(|_| usage).map(Cow::Borrowed),
        );
        row.set(
            focus_column!("ConsumedUnit"),
            unit.filter(|_| usage).map(Cow::Borrowed),
        );
        row.set(focus_column!("InvoiceId"), borrowed("bill_invoice_id"));
        row.set(
            focus_column!("InvoiceIssuerName"),
            borrowed("bill_invoicing_entity"),
        );
        row.set(focus_column!("ProviderName"), Some(Cow::Borrowed("AWS")));
        row.set(
            focus_column!("PublisherName"),
            get("line_item_legal_entity")
                .or_else(|| get("bill_billing_entity"))
                .map(Cow::Borrowed),
        );
        row.set(focus_column!("SkuId"), borrowed("product_sku"));
        row.set(focus_column!("SkuPriceId"), borrowed("pricing_rate_id"));
        row.set(
            focus_column!("CommitmentDiscountId"),
            get("savings_plan_savings_plan_a_r_n")
                .or_else(|| get("reservation_reservation_a_r_n"))
                .map(Cow::Borrowed),
        );
        row.set(focus_column!("Tags"), self.tags(record).map(Cow::Owned));
        native::keep(
            &mut row,
            &self.columns,
            record,
            &[
                ("identity_line_item_id", "x_LineItemId"),
                ("line_item_line_item_type", "x_LineItemType"),
                ("line_item_usage_type", "x_UsageType"),
                ("line_item_operation", "x_Operation"),
            ],
        );
        Ok(row)
    }
}

/// The amortized cost AWS defines per line type (docs/cost/aws-cur.md); `None` where it is the
/// unblended cost. `Err((column, value))` names a value that is not a number.
fn effective_cost<'r>(
    line_type: &str,
    get: &dyn Fn(&str) -> Option<&'r str>,
) -> Result<Option<Cow<'r, str>>, (&'static str, String)> {
    let number = |name: &'static str| -> Result<Decimal, (&'static str, String)> {
        match get(name) {
            None => Ok(Decimal::ZERO),
            Some(value) => Decimal::from_str_exact(value)
                .or_else(|_| Decimal::from_scientific(value))
                .map_err(|_| (name, value.to_owned())),
        }
    };
    Ok(match line_type {
        "SavingsPlanCoveredUsage" => {
            get("savings_plan_savings_plan_effective_cost").map(Cow::Borrowed)
        }
        "DiscountedUsage" => get("reservation_effective_cost").map(Cow::Borrowed),
        "SavingsPlanNegation" | "SavingsPlanUpfrontFee" => Some(Cow::Borrowed("0")),
        "SavingsPlanRecurringFee" => Some(Cow::Owned(
            (number("savings_plan_total_commitment_to_date")?
                - number("savings_plan_used_commitment")?)
            .to_string(),
        )),
        "RIFee" => Some(Cow::Owned(
            (number("reservation_unused_amortized_upfront_fee_for_billing_period")?
                + number("reservation_unused_recurring_fee")?)
            .to_string(),
        )),
        _ => None,
    })
}

fn charge_category(line_type: &str) -> &'static str {
    match line_type {
        "Usage" | "DiscountedUsage" | "SavingsPlanCoveredUsage" | "SavingsPlanNegation" => "Usage",
        "Tax" => "Tax",
        "Credit"
        | "Refund"
        | "BundledDiscount"
        | "Discount"
        | "PrivateRateDiscount"
        | "EdpDiscount"
        | "SppDiscount"
        | "DistributorDiscount" => "Credit",
        "Fee" | "RIFee" | "SavingsPlanUpfrontFee" | "SavingsPlanRecurringFee" => "Purchase",
        _ => "Adjustment",
    }
}

fn charge_frequency(line_type: &str) -> &'static str {
    match line_type {
        "RIFee" | "SavingsPlanRecurringFee" => "Recurring",
        "Fee" | "SavingsPlanUpfrontFee" => "One-Time",
        _ => "Usage-Based",
    }
}

fn pricing_category(line_type: &str, term: Option<&str>) -> Option<&'static str> {
    match line_type {
        "SavingsPlanCoveredUsage" | "DiscountedUsage" => Some("Committed"),
        "Tax" => None,
        _ if term == Some("Spot") => Some("Dynamic"),
        "Usage" | "Fee" | "RIFee" | "SavingsPlanUpfrontFee" | "SavingsPlanRecurringFee" => {
            Some("Standard")
        }
        _ => Some("Other"),
    }
}

/// The FOCUS service category of an AWS product code; `Other` for the ones not listed.
fn service_category(product_code: &str) -> &'static str {
    match product_code {
        "AmazonEC2" | "AWSLambda" | "AmazonECS" | "AmazonEKS" | "AmazonECR" | "AmazonLightsail"
        | "AWSBatch" | "AWSFargate" | "AWSELB" | "ElasticMapReduce" => "Compute",
        "AmazonS3"
        | "AmazonEFS"
        | "AmazonFSx"
        | "AmazonGlacier"
        | "AmazonS3GlacierDeepArchive"
        | "AWSBackup"
        | "AWSStorageGateway" => "Storage",
        "AmazonRDS" | "AmazonDynamoDB" | "AmazonElastiCache" | "AmazonDocDB" | "AmazonNeptune"
        | "AmazonMemoryDB" | "AmazonTimestream" | "AmazonKeyspaces" => "Databases",
        "AmazonCloudFront"
        | "AmazonVPC"
        | "AmazonRoute53"
        | "AWSDataTransfer"
        | "AWSDirectConnect"
        | "AmazonApiGateway"
        | "AWSGlobalAccelerator" => "Networking",
        "AmazonRedshift"
        | "AmazonAthena"
        | "AWSGlue"
        | "AmazonKinesis"
        | "AmazonKinesisFirehose"
        | "AmazonQuickSight"
        | "AmazonES"
        | "AmazonOpenSearchService"
        | "AmazonMSK" => "Analytics",
        "AmazonSageMaker" | "AmazonBedrock" | "AmazonRekognition" | "AmazonComprehend"
        | "AmazonTextract" | "AmazonPolly" | "transcribe" | "translate" => {
            "AI and Machine Learning"
        }
        "AmazonSQS" | "AmazonSNS" | "AWSEvents" | "AmazonStates" | "AmazonMQ" | "AmazonSES" => {
            "Integration"
        }
        "AWSCloudTrail"
        | "AmazonCloudWatch"
        | "AWSConfig"
        | "AWSCostExplorer"
        | "AWSSystemsManager"
        | "AWSCloudFormation"
        | "AWSSupportBusiness"
        | "AWSSupportEnterprise" => "Management and Governance",
        "awskms"
        | "AWSSecretsManager"
        | "AmazonGuardDuty"
        | "awswaf"
        | "AWSShield"
        | "AmazonInspector"
        | "AWSSecurityHub"
        | "AWSCertificateManager" => "Security",
        "AmazonCognito" | "AWSDirectoryService" | "AWSIAMIdentityCenter" => "Identity",
        "AWSCodeBuild" | "AWSCodePipeline" | "AWSCodeCommit" | "AWSCodeArtifact" | "AWSCloud9" => {
            "Developer Tools"
        }
        "AmazonWorkSpaces" | "AmazonConnect" | "AmazonChime" | "AmazonWorkDocs" => {
            "Business Applications"
        }
        "AWSIoT" | "AWSIoTAnalytics" | "AWSGreengrass" => "Internet of Things",
        "AWSElementalMediaConvert" | "AmazonIVS" => "Media",
        "AWSDatabaseMigrationSvc" | "AWSApplicationMigrationSvc" => "Migration",
        "AWSAmplify" | "AWSDeviceFarm" => "Mobile",
        _ => "Other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn legacy_and_cur2_names_meet_in_one_spelling() {
        assert_eq!(
            canonical("lineItem/UnblendedCost"),
            "line_item_unblended_cost"
        );
        assert_eq!(canonical("bill/PayerAccountId"), "bill_payer_account_id");
        assert_eq!(
            canonical("pricing/publicOnDemandCost"),
            "pricing_public_on_demand_cost"
        );
        assert_eq!(
            canonical("savingsPlan/SavingsPlanARN"),
            "savings_plan_savings_plan_a_r_n"
        );
        assert_eq!(
            canonical("line_item_unblended_cost"),
            "line_item_unblended_cost"
        );
        assert!(is_cur(["identity/LineItemId", "lineItem/UnblendedCost"]));
        assert!(!is_cur(["BilledCost"]));
    }

    #[test]
    fn line_types_map_to_focus_charge_categories() {
        assert_eq!(charge_category("SavingsPlanNegation"), "Usage");
        assert_eq!(charge_category("Refund"), "Credit");
        assert_eq!(charge_category("RIFee"), "Purchase");
        assert_eq!(charge_category("SomethingNew"), "Adjustment");
        assert_eq!(pricing_category("Tax", None), None);
        assert_eq!(pricing_category("Usage", Some("Spot")), Some("Dynamic"));
    }
}
