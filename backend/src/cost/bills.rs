//! The monthly bill of a tenant or project: the costs of the billing periods that start in the
//! month, per billing currency, by provider and service, charge category (credits and taxes
//! apart), project and billing account — as data, and as the printable page (askama) a finance
//! team forwards.

use std::collections::BTreeMap;

use askama::Template;
use chrono::{Months, NaiveDate, Utc};
use nimbus_api_types::ErrorCode;
use nimbus_api_types::cost::{Bill, BillCurrency, BillLine, BillProvider};
use nimbus_api_types::ids::{ProjectId, TenantId};
use rust_decimal::Decimal;
use sqlx::PgConnection;

use crate::error::AppError;

/// A calendar month, written `YYYY-MM`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Month(NaiveDate);

impl std::str::FromStr for Month {
    type Err = AppError;

    fn from_str(text: &str) -> Result<Self, AppError> {
        NaiveDate::parse_from_str(&format!("{text}-01"), "%Y-%m-%d")
            .ok()
            .filter(|_| text.len() == 7)
            .map(Self)
            .ok_or_else(|| {
                AppError::new(
                    ErrorCode::ValidationFailed,
                    format!("`{text}` is not a month (YYYY-MM)"),
                )
            })
    }
}

impl std::fmt::Display for Month {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0.format("%Y-%m"))
    }
}

/// Sums of one name.
#[derive(Debug, Default, Clone, Copy)]
struct Sums {
    billed: Decimal,
    effective: Decimal,
}

impl Sums {
    fn add(&mut self, billed: Decimal, effective: Decimal) {
        self.billed += billed;
        self.effective += effective;
    }
}

/// Lines by name, the largest billed first.
fn lines<K: Ord>(sums: BTreeMap<K, Sums>, line: impl Fn(K, Sums) -> BillLine) -> Vec<BillLine> {
    let mut lines: Vec<BillLine> = sums.into_iter().map(|(k, s)| line(k, s)).collect();
    lines.sort_by(|a, b| b.billed.cmp(&a.billed).then_with(|| a.name.cmp(&b.name)));
    lines
}

fn named(name: String, sums: Sums) -> BillLine {
    BillLine {
        name,
        project_id: None,
        billed: sums.billed,
        effective: sums.effective,
    }
}

/// Everything of one currency while summing.
#[derive(Debug, Default)]
struct Collect {
    total: Sums,
    categories: BTreeMap<String, Sums>,
    services: BTreeMap<String, BTreeMap<String, Sums>>,
    projects: BTreeMap<Option<(String, uuid::Uuid)>, Sums>,
    accounts: BTreeMap<String, Sums>,
}

/// The bill of `month` for the tenant, or for one project (its allocated costs).
pub async fn bill(
    conn: &mut PgConnection,
    tenant: TenantId,
    month: Month,
    project: Option<ProjectId>,
) -> Result<Bill, AppError> {
    let start = month.0.and_time(chrono::NaiveTime::MIN).and_utc();
    let end = start.checked_add_months(Months::new(1)).unwrap_or(start);
    let tenant_name = sqlx::query_scalar!("SELECT name FROM tenants WHERE id = $1", tenant.0)
        .fetch_one(&mut *conn)
        .await?;
    let project_name = match project {
        None => None,
        Some(project) => Some(
            sqlx::query_scalar!(
                "SELECT name FROM projects WHERE tenant_id = $1 AND id = $2",
                tenant.0,
                project.0
            )
            .fetch_optional(&mut *conn)
            .await?
            .ok_or_else(|| AppError::new(ErrorCode::NotFound, "no such project"))?,
        ),
    };
    let rows = sqlx::query!(
        r#"SELECT d.billing_currency, d.provider, d.service_name, d.charge_category, d.billing_account_id,
                  d.project_id, p.name AS "project_name?",
                  sum(d.billed_cost) AS "billed!", sum(d.effective_cost) AS "effective!"
           FROM cost_daily d LEFT JOIN projects p ON p.tenant_id = d.tenant_id AND p.id = d.project_id
           WHERE d.tenant_id = $1 AND d.billing_period_start >= $2 AND d.billing_period_start < $3
             AND ($4::uuid IS NULL OR d.project_id = $4)
           GROUP BY 1, 2, 3, 4, 5, 6, 7"#,
        tenant.0,
        start,
        end,
        project.map(|p| p.0),
    )
    .fetch_all(&mut *conn)
    .await?;
    let mut currencies: BTreeMap<String, Collect> = BTreeMap::new();
    for row in rows {
        let collect = currencies.entry(row.billing_currency).or_default();
        let (billed, effective) = (row.billed, row.effective);
        collect.total.add(billed, effective);
        for sums in [
            collect.categories.entry(row.charge_category).or_default(),
            collect
                .services
                .entry(row.provider)
                .or_default()
                .entry(row.service_name)
                .or_default(),
            collect
                .projects
                .entry(row.project_name.zip(row.project_id))
                .or_default(),
            collect.accounts.entry(row.billing_account_id).or_default(),
        ] {
            sums.add(billed, effective);
        }
    }
    let currencies = currencies
        .into_iter()
        .map(|(currency, collect)| {
            let mut providers: Vec<BillProvider> = collect
                .services
                .into_iter()
                .map(|(provider, services)| {
                    let services = lines(services, named);
                    BillProvider {
                        provider,
                        billed: services.iter().map(|s| s.billed).sum(),
                        effective: services.iter().map(|s| s.effective).sum(),
                        services,
                    }
                })
                .collect();
            providers.sort_by_key(|provider| std::cmp::Reverse(provider.billed));
            BillCurrency {
                currency,
                billed: collect.total.billed,
                effective: collect.total.effective,
                charge_categories: lines(collect.categories, named),
                providers,
                projects: if project.is_some() {
                    Vec::new()
                } else {
                    lines(collect.projects, |key, sums| match key {
                        Some((name, id)) => BillLine {
                            project_id: Some(ProjectId(id)),
                            ..named(name, sums)
                        },
                        None => named("Unallocated".to_owned(), sums),
                    })
                },
                billing_accounts: lines(collect.accounts, named),
            }
        })
        .collect();
    Ok(Bill {
        month: month.to_string(),
        tenant_name,
        project_id: project,
        project_name,
        currencies,
        generated_at: Utc::now(),
    })
}

/// An amount as a bill shows it: two decimals, thousands grouped (`-1,234.50`).
#[must_use]
pub fn money(amount: Decimal) -> String {
    let text = format!("{:.2}", amount.round_dp(2));
    let (sign, digits) = text
        .strip_prefix('-')
        .map_or(("", text.as_str()), |rest| ("-", rest));
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, "00"));
    let mut grouped = String::with_capacity(whole.len() + whole.len() / 3);
    for (position, digit) in whole.chars().enumerate() {
        if position > 0 && (whole.len() - position) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    format!("{sign}{grouped}.{fraction}")
}

/// A bill line as the page shows it.
pub struct LineView {
    name: String,
    billed: String,
    effective: String,
}

impl From<&BillLine> for LineView {
    fn from(line: &BillLine) -> Self {
        Self {
            name: line.name.clone(),
            billed: money(line.billed),
            effective: money(line.effective),
        }
    }
}

pub struct ProviderView {
    line: LineView,
    services: Vec<LineView>,
}

pub struct CurrencyView {
    currency: String,
    billed: String,
    effective: String,
    charge_categories: Vec<LineView>,
    providers: Vec<ProviderView>,
    projects: Vec<LineView>,
    billing_accounts: Vec<LineView>,
}

/// The printable bill.
#[derive(Template)]
#[template(path = "bill.html")]
pub struct BillPage {
    title: String,
    month: String,
    generated_at: String,
    currencies: Vec<CurrencyView>,
}

impl From<&Bill> for BillPage {
    fn from(bill: &Bill) -> Self {
        let all = |lines: &[BillLine]| lines.iter().map(LineView::from).collect();
        Self {
            title: match &bill.project_name {
                Some(project) => format!("{} — {project}", bill.tenant_name),
                None => bill.tenant_name.clone(),
            },
            month: bill.month.clone(),
            generated_at: bill.generated_at.format("%Y-%m-%d %H:%M UTC").to_string(),
            currencies: bill
                .currencies
                .iter()
                .map(|currency| CurrencyView {
                    currency: currency.currency.clone(),
                    billed: money(currency.billed),
                    effective: money(currency.effective),
                    charge_categories: all(&currency.charge_categories),
                    providers: currency
                        .providers
                        .iter()
                        .map(|provider| ProviderView {
                            line: LineView {
                                name: provider.provider.clone(),
                                billed: money(provider.billed),
                                effective: money(provider.effective),
                            },
                            services: all(&provider.services),
                        })
                        .collect(),
                    projects: all(&currency.projects),
                    billing_accounts: all(&currency.billing_accounts),
                })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_rounds_to_cents_and_groups_thousands() {
        assert_eq!(money(Decimal::new(123_456_789, 3)), "123,456.79");
        assert_eq!(money(Decimal::new(-12_345, 1)), "-1,234.50");
        assert_eq!(money(Decimal::ZERO), "0.00");
        assert_eq!(money(Decimal::new(999, 0)), "999.00");
        assert_eq!(money(Decimal::new(1_000_000, 0)), "1,000,000.00");
    }

    #[test]
    fn months_are_year_and_month_only() {
        assert_eq!("2024-09".parse::<Month>().unwrap().to_string(), "2024-09");
        for bad in ["2024-13", "2024-9", "2024-09-01", "sept"] {
            assert!(bad.parse::<Month>().is_err(), "{bad}");
        }
    }
}
