//! The cost module's wire types: bill imports and the cost explorer.

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::ids::{
    AllocationRuleId, AnomalyId, BudgetAlertId, BudgetId, CostImportId, NotificationId, ProjectId,
};

/// Where an import stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ImportStatus {
    /// Being read and written; `bytes_done` of `file_bytes` so far.
    Running,
    /// Its billing periods now show this file's rows.
    Succeeded,
    /// Every billing period in the file already shows this very file: nothing changed.
    Unchanged,
    /// Rejected or interrupted; what was there before is still there.
    Failed,
}

/// An error or warning of an import. `row` is the line in the file (the header is line 1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct ImportIssue {
    pub row: Option<u64>,
    pub column: Option<String>,
    pub message: String,
    /// How many rows had it (warnings are counted, the first row is named).
    pub count: u64,
}

/// One import of a bill file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct CostImport {
    pub id: CostImportId,
    /// The file's format: `focus` (FOCUS 1.0–1.3 CSV, optionally gzip-compressed).
    pub source: String,
    pub file_name: String,
    /// Hex SHA-256 of the file as received.
    pub file_sha256: String,
    pub file_bytes: i64,
    pub status: ImportStatus,
    /// While running: how much of the file was read (progress is `bytes_done / file_bytes`).
    pub bytes_done: i64,
    /// Rows of the file, once it was read to the end.
    pub rows_total: Option<i64>,
    pub rows_done: i64,
    /// Billing periods (per billing account) the file covers.
    pub units: i32,
    pub warnings: Vec<ImportIssue>,
    pub errors: Vec<ImportIssue>,
    pub created_by: String,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
}

/// Which cost the explorer sums (FOCUS.md §2).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum CostMetric {
    /// As invoiced (cash basis).
    Billed,
    /// Amortized, after discounts (accrual basis): the default.
    #[default]
    Effective,
    /// At public list prices.
    List,
    /// At negotiated prices, before commitment discounts.
    Contracted,
}

/// The explorer's time buckets.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Granularity {
    Day,
    /// Weeks start on Monday.
    Week,
    #[default]
    Month,
}

/// A dimension costs can be grouped and filtered by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum CostDimension {
    Provider,
    BillingAccount,
    SubAccount,
    Service,
    ServiceCategory,
    Region,
    ChargeCategory,
    Project,
    /// The Kubernetes cluster, from the tags and resource ids of managed clusters.
    Cluster,
}

impl CostDimension {
    pub const ALL: [Self; 9] = [
        Self::Provider,
        Self::BillingAccount,
        Self::SubAccount,
        Self::Service,
        Self::ServiceCategory,
        Self::Region,
        Self::ChargeCategory,
        Self::Project,
        Self::Cluster,
    ];

    /// The wire name (`group_by=service,region`).
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Provider => "provider",
            Self::BillingAccount => "billing_account",
            Self::SubAccount => "sub_account",
            Self::Service => "service",
            Self::ServiceCategory => "service_category",
            Self::Region => "region",
            Self::ChargeCategory => "charge_category",
            Self::Project => "project",
            Self::Cluster => "cluster",
        }
    }

    #[must_use]
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|d| d.as_str() == name)
    }
}

/// What the explorer groups by: a dimension, or the values of one tag key the tenant made a
/// cost dimension. On the wire, the dimension's name or `tag:KEY` (`group_by=service,tag:team`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum CostGrouping {
    Dimension(CostDimension),
    Tag(String),
}

impl CostGrouping {
    const TAG_PREFIX: &'static str = "tag:";

    /// The wire name.
    #[must_use]
    pub fn name(&self) -> String {
        match self {
            Self::Dimension(dimension) => dimension.as_str().to_owned(),
            Self::Tag(key) => format!("{}{key}", Self::TAG_PREFIX),
        }
    }

    #[must_use]
    pub fn from_name(name: &str) -> Option<Self> {
        match name.strip_prefix(Self::TAG_PREFIX) {
            Some(key) if !key.is_empty() => Some(Self::Tag(key.to_owned())),
            Some(_) => None,
            None => CostDimension::from_name(name).map(Self::Dimension),
        }
    }
}

impl Serialize for CostGrouping {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.name())
    }
}

impl<'de> Deserialize<'de> for CostGrouping {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        Self::from_name(&name)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown cost grouping `{name}`")))
    }
}

/// One bucket of the explorer: a period, the group's values, a currency and the sum.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct CostRow {
    /// First day of the bucket.
    pub period: NaiveDate,
    /// The group-by dimensions' values, in the order asked (null: no value, such as costs
    /// without a region).
    pub group: Vec<Option<String>>,
    /// ISO 4217. Costs in different currencies are never summed together.
    pub currency: String,
    /// Exact decimal, as a string.
    #[cfg_attr(feature = "server", schema(value_type = String))]
    pub amount: Decimal,
}

/// The explorer's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct CostReport {
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub granularity: Granularity,
    pub metric: CostMetric,
    /// Dimension names, or `tag:KEY`.
    #[cfg_attr(feature = "server", schema(value_type = Vec<String>))]
    pub group_by: Vec<CostGrouping>,
    pub rows: Vec<CostRow>,
    /// Totals per currency over the whole range.
    pub totals: Vec<CurrencyAmount>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct CurrencyAmount {
    pub currency: String,
    #[cfg_attr(feature = "server", schema(value_type = String))]
    pub amount: Decimal,
}

/// One exchange rate: an amount in `from_currency` × `rate` is that amount in `to_currency`,
/// for costs of `month`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct CostRate {
    /// The first day of the month.
    pub month: NaiveDate,
    pub from_currency: String,
    pub to_currency: String,
    #[cfg_attr(feature = "server", schema(value_type = String))]
    pub rate: Decimal,
}

/// What a rates import did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct RatesImported {
    /// Rates added or replaced.
    pub rates: u64,
}

/// Which line items an allocation rule matches.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
#[serde(tag = "field", rename_all = "snake_case")]
pub enum AllocationMatch {
    /// `SubAccountId` equals `value`.
    SubAccount { value: String },
    /// `BillingAccountId` equals `value`.
    BillingAccount { value: String },
    /// The tag `key` has exactly `value` (tags are compared verbatim).
    Tag { key: String, value: String },
    /// `ResourceId` matches `pattern`: `*` is any text, `?` one character, the rest literal.
    ResourceId { pattern: String },
}

/// How a shared cost is divided between its projects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum SplitMethod {
    /// The same share to each project.
    Even,
    /// In proportion to each project's directly allocated cost of the same month and currency
    /// (evenly when none of them has any).
    Proportional,
}

/// Where a rule puts the cost it matches.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum AllocationTarget {
    /// All of it to one project.
    Project { project_id: ProjectId },
    /// Shared between two or more projects.
    Shared {
        method: SplitMethod,
        project_ids: Vec<ProjectId>,
    },
}

/// A rule to create or replace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct AllocationRuleInput {
    pub name: String,
    /// Rules are tried from the lowest priority number up; the first match wins.
    pub priority: i32,
    #[serde(rename = "match")]
    pub matches: AllocationMatch,
    pub target: AllocationTarget,
}

/// An allocation rule of the tenant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct AllocationRule {
    pub id: AllocationRuleId,
    pub name: String,
    pub priority: i32,
    #[serde(rename = "match")]
    pub matches: AllocationMatch,
    pub target: AllocationTarget,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// What one allocation run did: every daily rollup of the months it covered was recomputed
/// from the line items and the rules.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct AllocationRun {
    /// Billing months recomputed.
    pub months: i64,
    /// Daily rollup rows written.
    pub rollup_rows: i64,
    /// Line items no rule matched (shown as the `unallocated` project).
    pub unallocated_line_items: i64,
}

/// An amount on one day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct DailyAmount {
    pub day: NaiveDate,
    #[cfg_attr(feature = "server", schema(value_type = String))]
    pub amount: Decimal,
}

/// The spend forecast of one scope in one currency (effective cost).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct Forecast {
    pub currency: String,
    /// The first forecast day: today, or the day after the last billed day if bills lag.
    pub as_of: NaiveDate,
    /// Actual spend of the month before `as_of`.
    #[cfg_attr(feature = "server", schema(value_type = String))]
    pub month_to_date: Decimal,
    /// Month to date plus the forecast of the month's remaining days.
    #[cfg_attr(feature = "server", schema(value_type = String))]
    pub month_end: Decimal,
    #[cfg_attr(feature = "server", schema(value_type = String))]
    pub next_month: Decimal,
    /// The forecast of each day from `as_of` to the end of next month.
    pub daily: Vec<DailyAmount>,
}

/// Forecasts of a scope, one per currency its costs are billed in (never summed across them).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct ForecastReport {
    /// The project, or none for the whole tenant.
    pub project_id: Option<ProjectId>,
    /// `weekday_seasonal`: each weekday's mean spend over the last four weeks.
    pub method: String,
    pub forecasts: Vec<Forecast>,
}

/// How far the forecast was off on a scope's history: mean absolute percentage errors (percent),
/// `None` where nothing could be evaluated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct BacktestReport {
    pub currency: String,
    pub days_evaluated: usize,
    pub months_evaluated: usize,
    /// Each day forecast from the days before it.
    #[cfg_attr(feature = "server", schema(value_type = Option<String>))]
    pub daily_mape: Option<Decimal>,
    /// The same with a flat run-rate (no weekday seasonality): the baseline.
    #[cfg_attr(feature = "server", schema(value_type = Option<String>))]
    pub daily_mape_flat: Option<Decimal>,
    /// Each whole month forecast on its first day.
    #[cfg_attr(feature = "server", schema(value_type = Option<String>))]
    pub next_month_mape: Option<Decimal>,
    /// Each whole month's total forecast on its 15th.
    #[cfg_attr(feature = "server", schema(value_type = Option<String>))]
    pub month_end_mape: Option<Decimal>,
}

impl BacktestReport {
    /// Nothing to evaluate.
    #[must_use]
    pub fn empty(currency: &str) -> Self {
        Self {
            currency: currency.to_owned(),
            days_evaluated: 0,
            months_evaluated: 0,
            daily_mape: None,
            daily_mape_flat: None,
            next_month_mape: None,
            month_end_mape: None,
        }
    }
}

/// How long a budget's period is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum BudgetPeriod {
    Month,
    /// Calendar quarters (January, April, July, October).
    Quarter,
    Year,
}

impl BudgetPeriod {
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Month => "month",
            Self::Quarter => "quarter",
            Self::Year => "year",
        }
    }
}

/// A budget to create or replace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct BudgetInput {
    pub name: String,
    /// The project whose allocated costs count; none for the whole tenant.
    #[serde(default)]
    pub project_id: Option<ProjectId>,
    pub period: BudgetPeriod,
    #[cfg_attr(feature = "server", schema(value_type = String))]
    pub amount: Decimal,
    /// ISO 4217; costs in other currencies count through the imported monthly rates.
    pub currency: String,
    /// Percentages of the amount that alert when actual or forecast spend reaches them
    /// [default: 50, 80, 100].
    #[serde(default)]
    #[cfg_attr(feature = "server", schema(value_type = Vec<String>))]
    pub thresholds: Vec<Decimal>,
    /// Addresses alerted by e-mail (when the server has mail configured).
    #[serde(default)]
    pub notify_emails: Vec<String>,
    /// A Slack-compatible incoming webhook (`https://`); write-only: answers show its host.
    #[serde(default)]
    pub webhook_url: Option<String>,
}

/// Where a budget stands in its current period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct BudgetStatus {
    pub period_start: NaiveDate,
    /// Exclusive.
    pub period_end: NaiveDate,
    /// Effective cost so far in the budget's currency.
    #[cfg_attr(feature = "server", schema(value_type = String))]
    pub actual: Decimal,
    /// Actual plus the forecast of the period's remaining days.
    #[cfg_attr(feature = "server", schema(value_type = String))]
    pub forecast: Decimal,
    #[cfg_attr(feature = "server", schema(value_type = String))]
    pub actual_percent: Decimal,
    #[cfg_attr(feature = "server", schema(value_type = String))]
    pub forecast_percent: Decimal,
    /// Currencies with costs in the period but no rate to the budget's currency: not counted.
    pub unconverted_currencies: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct Budget {
    pub id: BudgetId,
    pub name: String,
    pub project_id: Option<ProjectId>,
    pub period: BudgetPeriod,
    #[cfg_attr(feature = "server", schema(value_type = String))]
    pub amount: Decimal,
    pub currency: String,
    #[cfg_attr(feature = "server", schema(value_type = Vec<String>))]
    pub thresholds: Vec<Decimal>,
    pub notify_emails: Vec<String>,
    /// The webhook's host, if one is set (the URL itself is never shown).
    pub webhook_host: Option<String>,
    pub status: BudgetStatus,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Whether an alert is about spend so far or spend forecast for the period.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum AlertBasis {
    Actual,
    Forecast,
}

/// A threshold a budget crossed in one period (each fires once).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct BudgetAlert {
    pub id: BudgetAlertId,
    pub budget_id: BudgetId,
    pub budget_name: String,
    pub period_start: NaiveDate,
    #[cfg_attr(feature = "server", schema(value_type = String))]
    pub threshold: Decimal,
    pub basis: AlertBasis,
    #[cfg_attr(feature = "server", schema(value_type = String))]
    pub spend: Decimal,
    #[cfg_attr(feature = "server", schema(value_type = String))]
    pub budget_amount: Decimal,
    pub currency: String,
    pub fired_at: DateTime<Utc>,
    /// When the webhook and e-mails went out (none configured: at once).
    pub delivered_at: Option<DateTime<Utc>>,
    pub delivery_attempts: i32,
    pub delivery_error: Option<String>,
}

/// A message in the portal's notification list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct Notification {
    pub id: NotificationId,
    /// `budget.alert`, …
    pub kind: String,
    pub project_id: Option<ProjectId>,
    pub title: String,
    pub body: String,
    pub details: serde_json::Value,
    pub created_at: DateTime<Utc>,
    pub read_at: Option<DateTime<Utc>>,
}

/// How far above its baseline an anomaly's day was.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum AnomalySeverity {
    Low,
    Medium,
    High,
}

/// Where a person has put an anomaly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum AnomalyStatus {
    Open,
    Acknowledged,
    Dismissed,
}

/// One line-item dimension value whose spend rose on the anomaly's day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct AnomalyContributor {
    /// `resource_id`, `region` or `sku_id`.
    pub dimension: String,
    pub value: String,
    /// Its spend on the day.
    #[cfg_attr(feature = "server", schema(value_type = String))]
    pub spend: Decimal,
    /// Its mean daily spend over the baseline days.
    #[cfg_attr(feature = "server", schema(value_type = String))]
    pub baseline: Decimal,
}

/// A day whose usage spend of one series (project, provider, sub-account, service, currency)
/// stood far above its robust baseline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct Anomaly {
    pub id: AnomalyId,
    /// `None`: costs no allocation rule matched.
    pub project_id: Option<ProjectId>,
    pub provider: String,
    pub sub_account_id: Option<String>,
    pub service_name: String,
    pub currency: String,
    pub day: NaiveDate,
    #[cfg_attr(feature = "server", schema(value_type = String))]
    pub spend: Decimal,
    /// The median daily spend of the four weeks before.
    #[cfg_attr(feature = "server", schema(value_type = String))]
    pub baseline: Decimal,
    /// Spend above the baseline.
    #[cfg_attr(feature = "server", schema(value_type = String))]
    pub impact: Decimal,
    /// Robust z-score: the excess in median absolute deviations (scaled to a standard deviation).
    #[cfg_attr(feature = "server", schema(value_type = String))]
    pub score: Decimal,
    pub severity: AnomalySeverity,
    pub contributors: Vec<AnomalyContributor>,
    pub status: AnomalyStatus,
    pub detected_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A new status for an anomaly.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct AnomalyStatusInput {
    pub status: AnomalyStatus,
}

/// One line of a bill: what a name (a service, a charge category, a project) cost.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct BillLine {
    pub name: String,
    /// The project's id, for allocation lines (`None`: unallocated).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project_id: Option<ProjectId>,
    /// What the invoice charges (BilledCost).
    #[cfg_attr(feature = "server", schema(value_type = String))]
    pub billed: Decimal,
    /// Amortized, after discounts (EffectiveCost).
    #[cfg_attr(feature = "server", schema(value_type = String))]
    pub effective: Decimal,
}

/// One provider's part of a bill, by service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct BillProvider {
    pub provider: String,
    #[cfg_attr(feature = "server", schema(value_type = String))]
    pub billed: Decimal,
    #[cfg_attr(feature = "server", schema(value_type = String))]
    pub effective: Decimal,
    pub services: Vec<BillLine>,
}

/// A bill's figures in one billing currency (never summed across currencies).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct BillCurrency {
    pub currency: String,
    #[cfg_attr(feature = "server", schema(value_type = String))]
    pub billed: Decimal,
    #[cfg_attr(feature = "server", schema(value_type = String))]
    pub effective: Decimal,
    /// Usage, purchases, taxes, credits and adjustments.
    pub charge_categories: Vec<BillLine>,
    pub providers: Vec<BillProvider>,
    /// Allocation to projects (the tenant's bill only).
    pub projects: Vec<BillLine>,
    pub billing_accounts: Vec<BillLine>,
}

/// The monthly bill of a tenant or project: the costs of the billing periods that start in the
/// month.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct Bill {
    /// `YYYY-MM`.
    pub month: String,
    pub tenant_name: String,
    pub project_id: Option<ProjectId>,
    pub project_name: Option<String>,
    pub currencies: Vec<BillCurrency>,
    pub generated_at: DateTime<Utc>,
}

/// A tenant's cost settings: the tag keys that are cost dimensions (grouped and filtered by
/// in the explorer, as `tag:KEY`). At most five; changing them recomputes the rollups.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct CostSettings {
    pub tag_keys: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groupings_travel_as_dimension_names_or_tag_keys() {
        for name in ["service", "cluster", "tag:team", "tag:aws:createdBy"] {
            let grouping = CostGrouping::from_name(name).unwrap();
            assert_eq!(grouping.name(), name);
            let json = serde_json::to_string(&grouping).unwrap();
            assert_eq!(
                serde_json::from_str::<CostGrouping>(&json).unwrap(),
                grouping
            );
        }
        assert_eq!(
            CostGrouping::from_name("tag:aws:createdBy"),
            Some(CostGrouping::Tag("aws:createdBy".into()))
        );
        assert_eq!(CostGrouping::from_name("tag:"), None);
        assert_eq!(CostGrouping::from_name("colour"), None);
    }
}
