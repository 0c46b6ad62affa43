//! Azure Cost Management "cost details" exports (EA and MCA, actual and amortized) converted to
//! FOCUS, after the FinOps toolkit's conversion guidance. The mapping and its sources:
//! docs/cost/azure.md.

use std::borrow::Cow;

use chrono::{Days, NaiveDate};
use nimbus_api_types::cost::ImportIssue;
use rust_decimal::Decimal;

use super::focus::{Converter, Row};
use super::native::{self, Columns, midnight, number};
use crate::focus_column;

pub const SOURCE: &str = "azure";

/// Whether a header is a cost details export's (EA and MCA both have `CostInBillingCurrency`;
/// names are matched without regard to case, as the two spell some differently).
pub fn is_cost_details<'h>(header: impl IntoIterator<Item = &'h str>) -> bool {
    header.into_iter().any(|name| {
        name.strip_prefix('\u{feff}')
            .unwrap_or(name)
            .eq_ignore_ascii_case("CostInBillingCurrency")
    })
}

#[derive(Debug)]
pub struct Layout {
    /// By lower-cased name.
    columns: Columns,
}

/// `9/2/2023` (EA) or `2023-09-02` (MCA, and EA in newer exports).
fn date(value: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(value, "%m/%d/%Y")
        .ok()
        .or_else(|| NaiveDate::parse_from_str(value.get(..10)?, "%Y-%m-%d").ok())
}

impl Layout {
    pub fn from_header<'h>(
        header: impl IntoIterator<Item = &'h str>,
    ) -> Result<Self, Vec<ImportIssue>> {
        let mut columns = Columns::default();
        for (position, name) in header.into_iter().enumerate() {
            let name = name.strip_prefix('\u{feff}').unwrap_or(name);
            columns.insert(name.to_ascii_lowercase(), position);
        }
        let mut missing = columns.missing(
            &[
                "costinbillingcurrency",
                "date",
                "billingperiodstartdate",
                "billingperiodenddate",
            ],
            "this cost details column is missing from the header",
        );
        if !["billingcurrencycode", "billingcurrency"]
            .iter()
            .any(|name| columns.contains(name))
        {
            missing.extend(native::issue(
                1,
                "BillingCurrencyCode",
                "the billing currency column is missing".into(),
            ));
        }
        if missing.is_empty() {
            Ok(Self { columns })
        } else {
            Err(missing)
        }
    }
}

impl Converter for Layout {
    /// One export line as a FOCUS row. Errors name the export's column.
    fn row<'r>(
        &self,
        record: &'r csv::StringRecord,
        line: u64,
    ) -> Result<Row<'r>, Vec<ImportIssue>> {
        let get = |name: &str| self.columns.get(record, name);
        let borrowed = |name: &str| get(name).map(Cow::Borrowed);
        let day = |name: &'static str| -> Result<NaiveDate, Vec<ImportIssue>> {
            let value = get(name).unwrap_or_default();
            date(value).ok_or_else(|| {
                native::issue(
                    line,
                    name,
                    format!("`{value}` is not a date (M/D/YYYY or YYYY-MM-DD)"),
                )
            })
        };
        let next_day = |day: NaiveDate| day.checked_add_days(Days::new(1)).unwrap_or(day);
        let mut row = Row::new();

        let charge_type = get("chargetype").unwrap_or("Usage");
        let pricing_model = get("pricingmodel").unwrap_or_default();
        let commitment = matches!(pricing_model, "Reservation" | "SavingsPlan");
        let cost = get("costinbillingcurrency");
        // Usage a commitment covers is paid by the commitment's purchase; the purchase itself is
        // spread over that usage.
        let covered = commitment
            && matches!(
                charge_type,
                "Usage" | "UnusedReservation" | "UnusedSavingsPlan"
            );
        let purchase = commitment && matches!(charge_type, "Purchase" | "Refund");
        row.set(
            focus_column!("BilledCost"),
            if covered {
                Some(Cow::Borrowed("0"))
            } else {
                cost.map(Cow::Borrowed)
            },
        );
        row.set(
            focus_column!("EffectiveCost"),
            if purchase {
                Some(Cow::Borrowed("0"))
            } else {
                cost.map(Cow::Borrowed)
            },
        );

        let quantity = number(get("quantity"));
        let exchange = number(get("exchangeratepricingtobilling")).unwrap_or(Decimal::ONE);
        let times_quantity =
            |column: &'static str| -> Result<Option<Cow<'r, str>>, Vec<ImportIssue>> {
                match (get(column), quantity) {
                    (Some(price), Some(quantity)) => number(Some(price))
                        .and_then(|price| price.checked_mul(quantity)?.checked_mul(exchange))
                        .map(|cost| Some(Cow::Owned(cost.normalize().to_string())))
                        .ok_or_else(|| {
                            native::issue(line, column, format!("`{price}` is not a number"))
                        }),
                    _ => Ok(None),
                }
            };
        row.set(
            focus_column!("ListCost"),
            times_quantity("paygprice")?.or(cost.map(Cow::Borrowed)),
        );
        row.set(
            focus_column!("ContractedCost"),
            times_quantity("unitprice")?.or(cost.map(Cow::Borrowed)),
        );
        row.set(focus_column!("ListUnitPrice"), borrowed("paygprice"));
        row.set(focus_column!("ContractedUnitPrice"), borrowed("unitprice"));

        // MCA bills per billing profile; EA per enrollment (its billing account).
        row.set(
            focus_column!("BillingAccountId"),
            get("billingprofileid")
                .or_else(|| get("billingaccountid"))
                .map(Cow::Borrowed),
        );
        row.set(
            focus_column!("BillingAccountName"),
            get("billingprofilename")
                .or_else(|| get("billingaccountname"))
                .map(Cow::Borrowed),
        );
        row.set(
            focus_column!("BillingCurrency"),
            get("billingcurrencycode")
                .or_else(|| get("billingcurrency"))
                .map(Cow::Borrowed),
        );
        let period_start = day("billingperiodstartdate")?;
        let period_end = next_day(day("billingperiodenddate")?);
        row.set(
            focus_column!("BillingPeriodStart"),
            Some(Cow::Owned(midnight(period_start))),
        );
        row.set(
            focus_column!("BillingPeriodEnd"),
            Some(Cow::Owned(midnight(period_end))),
        );
        let charge_day = day("date")?;
        row.set(
            focus_column!("ChargePeriodStart"),
            Some(Cow::Owned(midnight(charge_day))),
        );
        row.set(
            focus_column!("ChargePeriodEnd"),
            Some(Cow::Owned(midnight(next_day(charge_day)))),
        );
        row.set(
            focus_column!("ChargeCategory"),
            Some(Cow::Borrowed(charge_category(charge_type))),
        );
        row.set(
            focus_column!("ChargeFrequency"),
            get("frequency").map(|f| Cow::Borrowed(charge_frequency(f))),
        );
        row.set(
            focus_column!("PricingCategory"),
            pricing_category(pricing_model, charge_type).map(Cow::Borrowed),
        );
        row.set(focus_column!("ChargeDescription"), borrowed("productname"));

        row.set(focus_column!("SubAccountId"), borrowed("subscriptionid"));
        row.set(
            focus_column!("SubAccountName"),
            borrowed("subscriptionname"),
        );
        row.set(
            focus_column!("ServiceName"),
            get("metercategory")
                .or_else(|| get("consumedservice"))
                .or(Some("Unknown"))
                .map(Cow::Borrowed),
        );
        row.set(
            focus_column!("ServiceCategory"),
            Some(Cow::Borrowed(service_category(
                get("servicefamily").unwrap_or_default(),
            ))),
        );
        row.set(
            focus_column!("RegionId"),
            get("resourcelocation").map(|r| Cow::Owned(r.to_ascii_lowercase())),
        );
        row.set(focus_column!("RegionName"), borrowed("resourcelocation"));
        row.set(
            focus_column!("AvailabilityZone"),
            borrowed("availabilityzone"),
        );
        row.set(
            focus_column!("ResourceId"),
            get("resourceid")
                .or_else(|| get("instanceid"))
                .map(Cow::Borrowed),
        );
        row.set(focus_column!("ResourceName"), borrowed("resourcename"));
        row.set(
            focus_column!("PricingQuantity"),
            get("quantity")
                .filter(|_| get("unitofmeasure").is_some())
                .map(Cow::Borrowed),
        );
        row.set(
            focus_column!("PricingUnit"),
            get("unitofmeasure")
                .filter(|_| get("quantity").is_some())
                .map(Cow::Borrowed),
        );
        if charge_type == "Usage" {
            row.set(focus_column!("ConsumedQuantity"), borrowed("quantity"));
            row.set(focus_column!("ConsumedUnit"), borrowed("unitofmeasure"));
        }
        row.set(
            focus_column!("SkuId"),
            borrowed("productid").or_else(|| borrowed("meterid")),
        );
        row.set(focus_column!("SkuPriceId"), borrowed("partnumber"));
        row.set(focus_column!("InvoiceId"), borrowed("invoiceid"));
        row.set(
            focus_column!("InvoiceIssuerName"),
            Some(get("partnername").map_or(Cow::Borrowed("Microsoft"), Cow::Borrowed)),
        );
        row.set(
            focus_column!("ProviderName"),
            Some(Cow::Borrowed("Microsoft")),
        );
        row.set(
            focus_column!("PublisherName"),
            Some(get("publishername").map_or(Cow::Borrowed("Microsoft"), Cow::Borrowed)),
        );
        let benefit = get("benefitid").or_else(|| get("reservationid"));
        row.set(
            focus_column!("CommitmentDiscountId"),
            benefit.map(Cow::Borrowed),
        );
        row.set(
            focus_column!("CommitmentDiscountName"),
            get("benefitname")
                .or_else(|| get("reservationname"))
                .map(Cow::Borrowed),
        );
        row.set(
            focus_column!("CommitmentDiscountCategory"),
            benefit.and_then(commitment_category).map(Cow::Borrowed),
        );
        // EA writes tags as `"k": "v","k2": "v2"`, MCA as a JSON object.
        row.set(
            focus_column!("Tags"),
            get("tags").map(|tags| {
                if tags.trim_start().starts_with('{') {
                    Cow::Borrowed(tags)
                } else {
                    Cow::Owned(format!("{{{tags}}}"))
                }
            }),
        );
        native::keep(
            &mut row,
            &self.columns,
            record,
            &[
                ("chargetype", "x_ChargeType"),
                ("pricingmodel", "x_PricingModel"),
                ("resourcegroup", "x_ResourceGroup"),
                ("metersubcategory", "x_MeterSubCategory"),
                ("metername", "x_MeterName"),
            ],
        );
        Ok(row)
    }
}

fn charge_category(charge_type: &str) -> &'static str {
    match charge_type {
        "Usage" | "UnusedReservation" | "UnusedSavingsPlan" => "Usage",
        "Purchase" => "Purchase",
        "Tax" => "Tax",
        "Refund" => "Credit",
        _ => "Adjustment",
    }
}

fn charge_frequency(frequency: &str) -> &'static str {
    match frequency {
        "OneTime" => "One-Time",
        "Recurring" => "Recurring",
        _ => "Usage-Based",
    }
}

fn pricing_category(pricing_model: &str, charge_type: &str) -> Option<&'static str> {
    match (pricing_model, charge_type) {
        (_, "Tax") => None,
        ("Reservation" | "SavingsPlan", "Usage") => Some("Committed"),
        ("Spot", _) => Some("Dynamic"),
        ("OnDemand" | "", _) => Some("Standard"),
        _ => Some("Other"),
    }
}

fn commitment_category(benefit: &str) -> Option<&'static str> {
    let benefit = benefit.to_ascii_lowercase();
    if benefit.contains("/microsoft.capacity/") {
        Some("Usage")
    } else if benefit.contains("/microsoft.billingbenefits/") {
        Some("Spend")
    } else {
        None
    }
}

/// The FOCUS service category of an Azure service family.
fn service_category(family: &str) -> &'static str {
    match family {
        "Compute" | "Containers" => "Compute",
        "Storage" => "Storage",
        "Networking" => "Networking",
        "Databases" => "Databases",
        "Analytics" => "Analytics",
        "AI + Machine Learning" => "AI and Machine Learning",
        "Security" => "Security",
        "Management and Governance" => "Management and Governance",
        "Integration" => "Integration",
        "Internet of Things" | "IoT" => "Internet of Things",
        "Web" => "Web",
        "Developer Tools" => "Developer Tools",
        "Identity" => "Identity",
        "Media" => "Media",
        "Migration" => "Migration",
        "Mobile" => "Mobile",
        _ => "Other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_date_forms_of_the_exports_are_read() {
        assert_eq!(date("9/2/2023"), NaiveDate::from_ymd_opt(2023, 9, 2));
        assert_eq!(date("2023-09-02"), NaiveDate::from_ymd_opt(2023, 9, 2));
        assert_eq!(
            date("2023-09-02T00:00:00.0000000Z"),
            NaiveDate::from_ymd_opt(2023, 9, 2)
        );
        assert_eq!(date("02.09.2023"), None);
    }

    #[test]
    fn charge_types_and_benefits_map_as_the_finops_toolkit_says() {
        assert_eq!(charge_category("UnusedSavingsPlan"), "Usage");
        assert_eq!(charge_category("RoundingAdjustment"), "Adjustment");
        assert_eq!(
            commitment_category("/providers/Microsoft.Capacity/reservationOrders/1"),
            Some("Usage")
        );
        assert_eq!(
            commitment_category("/providers/Microsoft.BillingBenefits/savingsPlanOrders/1"),
            Some("Spend")
        );
        assert_eq!(pricing_category("Spot", "Usage"), Some("Dynamic"));
    }
}
