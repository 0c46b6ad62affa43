//! The cost explorer: sums of one metric over time, grouped by up to two dimensions, read from
//! the daily or monthly rollups (never the line items).

use std::collections::BTreeMap;

use axum::response::Response;
use chrono::{Datelike, Months, NaiveDate, Utc};
use nimbus_api_types::ErrorCode;
use nimbus_api_types::cost::{
    CostDimension, CostGrouping, CostMetric, CostReport, CostRow, CurrencyAmount, Granularity,
};
use nimbus_api_types::ids::{ProjectId, TenantId};
use rust_decimal::Decimal;
use serde::Deserialize;
use sqlx::{PgPool, Row};

use super::dimensions;
use crate::db;
use crate::error::AppError;
use crate::http::csv as csv_export;

/// Most rows one answer holds; a wider view must be narrowed.
const MAX_ROWS: i64 = 50_000;

/// `GET /api/v1/cost` parameters (DESIGN.md §5 names).
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ExplorerQuery {
    /// First day, inclusive (YYYY-MM-DD) [default: the first day of this month].
    pub from: Option<NaiveDate>,
    /// Last day, exclusive [default: the first day of next month].
    pub to: Option<NaiveDate>,
    /// `day`, `week` (from Monday) or `month` [default: month].
    pub granularity: Option<Granularity>,
    /// `billed`, `effective`, `list` or `contracted` [default: effective].
    pub metric: Option<CostMetric>,
    /// Up to two dimensions, comma-separated: provider, billing_account, sub_account, service,
    /// service_category, region, charge_category, project, cluster, or `tag:KEY` for a tag key
    /// the tenant made a cost dimension (`PUT /api/v1/cost/settings`).
    pub group_by: Option<String>,
    /// `csv` to download the rows.
    pub format: Option<String>,
    /// Convert every amount to this currency (an ISO 4217 code, or `reporting` for the tenant's
    /// reporting currency) with the imported monthly rates [default: each cost's own currency].
    pub currency: Option<String>,
    pub provider: Option<String>,
    pub billing_account: Option<String>,
    pub sub_account: Option<String>,
    pub service: Option<String>,
    pub service_category: Option<String>,
    pub region: Option<String>,
    pub charge_category: Option<String>,
    /// A project id, or `unallocated` for costs no allocation rule matched.
    pub project: Option<String>,
    pub cluster: Option<String>,
    /// With `tag_value`: only costs whose tag `tag_key` (a cost dimension) has that value.
    pub tag_key: Option<String>,
    pub tag_value: Option<String>,
}

/// A checked explorer request.
#[derive(Debug)]
pub struct View {
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub granularity: Granularity,
    pub metric: CostMetric,
    pub group_by: Vec<CostGrouping>,
    pub filters: Vec<(CostDimension, String)>,
    /// A tag key and the value costs must carry.
    pub tag: Option<(String, String)>,
    /// Convert to this ISO 4217 code, or to the tenant's reporting currency (`reporting`).
    pub currency: Option<String>,
}

impl View {
    /// Whole months by month read monthly rollups, the rest daily ones; views that group and
    /// filter only by coarse dimensions read the coarse rollups.
    fn rollups(&self) -> Rollups {
        let coarse = self.tag.is_none()
            && self.group_by.iter().all(|grouping| match grouping {
                CostGrouping::Dimension(dimension) => is_coarse(*dimension),
                CostGrouping::Tag(_) => false,
            })
            && self
                .filters
                .iter()
                .all(|(dimension, _)| is_coarse(*dimension));
        Rollups {
            monthly: self.granularity == Granularity::Month
                && self.from.day() == 1
                && self.to.day() == 1,
            coarse,
        }
    }

    /// The tag keys the view reads: they must be the tenant's tag dimensions.
    fn tag_keys(&self) -> impl Iterator<Item = &str> {
        self.group_by
            .iter()
            .filter_map(|grouping| match grouping {
                CostGrouping::Tag(key) => Some(key.as_str()),
                CostGrouping::Dimension(_) => None,
            })
            .chain(self.tag.as_ref().map(|(key, _)| key.as_str()))
    }
}

fn invalid(message: impl Into<std::borrow::Cow<'static, str>>) -> AppError {
    AppError::new(ErrorCode::ValidationFailed, message)
}

impl ExplorerQuery {
    pub fn wants_csv(&self) -> bool {
        self.format.as_deref() == Some("csv")
    }

    pub fn view(&self) -> Result<View, AppError> {
        if let Some(format) = self.format.as_deref()
            && !matches!(format, "csv" | "json")
        {
            return Err(invalid("format must be json or csv"));
        }
        let today = Utc::now().date_naive();
        let month_start = today.with_day(1).unwrap_or(today);
        let from = self.from.unwrap_or(month_start);
        let to = match self.to {
            Some(to) => to,
            None => from
                .with_day(1)
                .and_then(|first| first.checked_add_months(Months::new(1)))
                .ok_or_else(|| invalid("from is out of range"))?,
        };
        if from >= to {
            return Err(invalid("from must be before to (to is exclusive)"));
        }
        let group_by = match self.group_by.as_deref().filter(|g| !g.is_empty()) {
            None => Vec::new(),
            Some(list) => list
                .split(',')
                .map(|name| {
                    CostGrouping::from_name(name.trim()).ok_or_else(|| {
                        invalid(format!(
                            "unknown group_by dimension `{}`; use provider, billing_account, sub_account, service, service_category, region, charge_category, project, cluster or tag:KEY",
                            name.trim()
                        ))
                    })
                })
                .collect::<Result<Vec<_>, _>>()?,
        };
        if group_by.len() > 2 {
            return Err(invalid("group by at most two dimensions"));
        }
        if (1..group_by.len()).any(|i| group_by[..i].contains(&group_by[i])) {
            return Err(invalid("a dimension appears twice in group_by"));
        }
        let filters = [
            (CostDimension::Provider, &self.provider),
            (CostDimension::BillingAccount, &self.billing_account),
            (CostDimension::SubAccount, &self.sub_account),
            (CostDimension::Service, &self.service),
            (CostDimension::ServiceCategory, &self.service_category),
            (CostDimension::Region, &self.region),
            (CostDimension::ChargeCategory, &self.charge_category),
            (CostDimension::Project, &self.project),
            (CostDimension::Cluster, &self.cluster),
        ]
        .into_iter()
        .filter_map(|(dimension, value)| value.clone().map(|value| (dimension, value)))
        .collect();
        let tag = match (&self.tag_key, &self.tag_value) {
            (None, None) => None,
            (Some(key), Some(value)) => Some((key.clone(), value.clone())),
            _ => return Err(invalid("tag_key and tag_value go together")),
        };
        if let Some(code) = self.currency.as_deref()
            && code != "reporting"
            && !(code.len() == 3 && code.bytes().all(|b| b.is_ascii_uppercase()))
        {
            return Err(invalid(
                "currency must be an ISO 4217 code such as USD, or `reporting`",
            ));
        }
        Ok(View {
            currency: self.currency.clone(),
            from,
            to,
            granularity: self.granularity.unwrap_or_default(),
            metric: self.metric.unwrap_or_default(),
            group_by,
            filters,
            tag,
        })
    }
}

/// The rollup expression of a dimension, as text. Only these fixed names reach the SQL. Costs
/// no allocation rule matched are the project `unallocated`.
const fn column(dimension: CostDimension) -> &'static str {
    match dimension {
        CostDimension::Provider => "d.provider",
        CostDimension::BillingAccount => "d.billing_account_id",
        CostDimension::SubAccount => "d.sub_account_id",
        CostDimension::Service => "d.service_name",
        CostDimension::ServiceCategory => "d.service_category",
        CostDimension::Region => "d.region_id",
        CostDimension::ChargeCategory => "d.charge_category",
        CostDimension::Project => "coalesce(d.project_id::text, 'unallocated')",
        CostDimension::Cluster => "d.cluster",
    }
}

const fn metric_column(metric: CostMetric) -> &'static str {
    match metric {
        CostMetric::Billed => "billed_cost",
        CostMetric::Effective => "effective_cost",
        CostMetric::List => "list_cost",
        CostMetric::Contracted => "contracted_cost",
    }
}

/// The rollup table that answers a view: the smallest whose rows are fine enough in time and
/// dimensions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Rollups {
    /// Rows per month (`cost_monthly*`: whole months by month) or per day.
    monthly: bool,
    /// Only provider, service, service category, charge category, currency and project
    /// (`cost_*_services`), typically ten to a hundred times fewer rows.
    coarse: bool,
}

impl Rollups {
    const fn table(self) -> &'static str {
        match (self.monthly, self.coarse) {
            (false, false) => "cost_daily",
            (true, false) => "cost_monthly",
            (false, true) => "cost_daily_services",
            (true, true) => "cost_monthly_services",
        }
    }

    /// The column a row's date is in.
    const fn date(self) -> &'static str {
        if self.monthly { "d.month" } else { "d.day" }
    }

    /// The first day of a row's bucket (the cast to `timestamp` keeps the time zone out).
    const fn period(self, granularity: Granularity) -> &'static str {
        match (self.monthly, granularity) {
            (true, _) => "d.month",
            (false, Granularity::Day) => "d.day",
            (false, Granularity::Week) => "date_trunc('week', d.day::timestamp)::date",
            (false, Granularity::Month) => "date_trunc('month', d.day::timestamp)::date",
        }
    }
}

/// Whether the coarse rollups hold a dimension.
const fn is_coarse(dimension: CostDimension) -> bool {
    matches!(
        dimension,
        CostDimension::Provider
            | CostDimension::Service
            | CostDimension::ServiceCategory
            | CostDimension::ChargeCategory
            | CostDimension::Project
    )
}

/// The text parameters of a query after the five every explorer query binds (`$1` tenant,
/// `$2`/`$3` the days, `$4` the caller's only project, `$5` the conversion target). Values and
/// tag keys travel as parameters; only fixed column names reach the SQL text.
#[derive(Default)]
struct Params<'v> {
    texts: Vec<&'v str>,
}

impl<'v> Params<'v> {
    /// Adds a parameter and returns its placeholder.
    fn add(&mut self, value: &'v str) -> String {
        self.texts.push(value);
        format!("${}", self.texts.len() + 5)
    }

    /// The SQL of a grouping.
    fn grouping(&mut self, grouping: &'v CostGrouping) -> String {
        match grouping {
            CostGrouping::Dimension(dimension) => column(*dimension).to_owned(),
            CostGrouping::Tag(key) => format!("d.tags ->> {}", self.add(key)),
        }
    }

    /// The `WHERE` clause every explorer query shares.
    fn conditions(&mut self, view: &'v View) -> String {
        let date = view.rollups().date();
        let mut sql = format!(
            "d.tenant_id = $1 AND {date} >= $2 AND {date} < $3 AND ($4::uuid IS NULL OR d.project_id = $4)
             AND d.{} IS NOT NULL",
            metric_column(view.metric)
        );
        for (dimension, value) in &view.filters {
            let value = self.add(value);
            sql.push_str(&format!(" AND {} = {value}", column(*dimension)));
        }
        if let Some((key, value)) = &view.tag {
            let (key, value) = (self.add(key), self.add(value));
            sql.push_str(&format!(" AND d.tags ->> {key} = {value}"));
        }
        sql
    }

    /// `sql` with every parameter bound, in order.
    fn bind<'q>(
        &'q self,
        sql: &'q str,
        tenant: TenantId,
        project: Option<ProjectId>,
        target: Option<&'q str>,
        view: &'q View,
    ) -> sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments> {
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(tenant.0)
            .bind(view.from)
            .bind(view.to)
            .bind(project.map(|p| p.0))
            .bind(target);
        for value in &self.texts {
            query = query.bind(*value);
        }
        query
    }
}

/// Converted amounts keep this many decimal places (rates have their own; the product of two
/// long decimals would outgrow an exact decimal in Rust).
const CONVERTED_SCALE: u32 = 12;

/// Runs the view for `tenant` (limited to `project` for a caller restricted to one). With a
/// target currency, every amount is converted by the month's rate (`cost_rates`); a currency
/// and month without one is an error that names them, never a silent sum.
pub async fn report(
    pool: &PgPool,
    tenant: TenantId,
    project: Option<ProjectId>,
    view: &View,
) -> Result<CostReport, AppError> {
    let mut tx = db::begin_for_tenant(pool, tenant).await?;
    if view.tag_keys().next().is_some() {
        let dimensions = dimensions::tag_keys(&mut tx, tenant).await?;
        if let Some(key) = view.tag_keys().find(|key| !dimensions.contains(key)) {
            return Err(invalid(format!(
                "the tag key `{key}` is not a cost dimension; add it to tag_keys with PUT /api/v1/cost/settings"
            )));
        }
    }
    let target = match view.currency.as_deref() {
        None => None,
        Some("reporting") => Some(
            sqlx::query_scalar!(
                "SELECT reporting_currency FROM tenants WHERE id = $1",
                tenant.0
            )
            .fetch_one(&mut *tx)
            .await?,
        ),
        Some(code) => Some(code.to_owned()),
    };
    let rollups = view.rollups();
    let table = rollups.table();
    let month = rollups.period(Granularity::Month);
    let rate_join = format!(
        "LEFT JOIN cost_rates r ON r.tenant_id = d.tenant_id AND r.from_currency = d.billing_currency
                     AND r.to_currency = $5 AND r.month = {month}"
    );
    if target.is_some() {
        let mut params = Params::default();
        let sql = format!(
            "SELECT DISTINCT d.billing_currency, to_char({month}, 'YYYY-MM') AS month FROM {table} d {rate_join}
             WHERE {} AND d.billing_currency <> $5 AND r.rate IS NULL ORDER BY 2, 1 LIMIT 20",
            params.conditions(view)
        );
        let missing = params
            .bind(&sql, tenant, project, target.as_deref(), view)
            .fetch_all(&mut *tx)
            .await?;
        if !missing.is_empty() {
            let pairs = missing
                .iter()
                .map(|row| {
                    Ok(format!(
                        "{} in {}",
                        row.try_get::<String, _>(0)?,
                        row.try_get::<String, _>(1)?
                    ))
                })
                .collect::<Result<Vec<_>, sqlx::Error>>()?;
            return Err(invalid(format!(
                "no exchange rate to {} for {}; import rates with POST /api/v1/cost/rates",
                target.as_deref().unwrap_or_default(),
                pairs.join(", ")
            ))
            .with_details(serde_json::json!({ "missing_rates": pairs })));
        }
    }
    let mut params = Params::default();
    let groups: String = view
        .group_by
        .iter()
        .enumerate()
        .map(|(i, grouping)| format!(", {} AS g{i}", params.grouping(grouping)))
        .collect();
    let metric = format!("d.{}", metric_column(view.metric));
    let (currency, amount, join) = match target {
        Some(_) => (
            "$5::text".to_owned(),
            format!(
                "round(sum({metric} * CASE WHEN d.billing_currency = $5 THEN 1 ELSE r.rate END), {CONVERTED_SCALE})"
            ),
            rate_join.as_str(),
        ),
        None => (
            "d.billing_currency".to_owned(),
            format!("sum({metric})"),
            "",
        ),
    };
    let group_positions: String = (0..view.group_by.len())
        .map(|i| format!(", {}", i + 2))
        .collect();
    let currency_position = view.group_by.len() + 2;
    let sql = format!(
        "SELECT {} AS period{groups}, {currency} AS billing_currency, {amount} AS amount
         FROM {table} d {join} WHERE {}
         GROUP BY 1{group_positions}, {currency_position} ORDER BY 1{group_positions}, {currency_position} LIMIT {}",
        rollups.period(view.granularity),
        params.conditions(view),
        MAX_ROWS + 1
    );
    let fetched = params
        .bind(&sql, tenant, project, target.as_deref(), view)
        .fetch_all(&mut *tx)
        .await?;
    db::finish_read(tx);
    if i64::try_from(fetched.len()).unwrap_or(i64::MAX) > MAX_ROWS {
        return Err(invalid(format!(
            "the view has more than {MAX_ROWS} rows; narrow the time range, use a coarser granularity or group by fewer dimensions"
        )));
    }
    let mut rows = Vec::with_capacity(fetched.len());
    let mut totals: BTreeMap<String, Decimal> = BTreeMap::new();
    for row in fetched {
        let group = (0..view.group_by.len())
            .map(|i| row.try_get::<Option<String>, _>(i + 1))
            .collect::<Result<Vec<_>, _>>()?;
        let currency: String = row.try_get("billing_currency")?;
        let amount: Decimal = row.try_get("amount")?;
        *totals.entry(currency.clone()).or_default() += amount;
        rows.push(CostRow {
            period: row.try_get("period")?,
            group,
            currency,
            amount,
        });
    }
    Ok(CostReport {
        from: view.from,
        to: view.to,
        granularity: view.granularity,
        metric: view.metric,
        group_by: view.group_by.clone(),
        rows,
        totals: totals
            .into_iter()
            .map(|(currency, amount)| CurrencyAmount { currency, amount })
            .collect(),
    })
}

/// The report's rows as CSV: period, the group's dimensions, currency, amount.
pub fn to_csv(report: &CostReport) -> Result<Response, AppError> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    let mut header = vec!["period".to_owned()];
    header.extend(report.group_by.iter().map(CostGrouping::name));
    header.extend(["currency".to_owned(), "amount".to_owned()]);
    writer.write_record(&header).map_err(AppError::internal)?;
    for row in &report.rows {
        let mut record = vec![row.period.to_string()];
        record.extend(row.group.iter().map(|value| {
            value
                .as_deref()
                .map(csv_export::neutralize)
                .unwrap_or_default()
        }));
        record.extend([row.currency.clone(), row.amount.to_string()]);
        writer.write_record(&record).map_err(AppError::internal)?;
    }
    csv_export::attachment("nimbus-costs.csv", writer)
}
