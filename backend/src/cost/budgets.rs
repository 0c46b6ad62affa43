//! Budgets: a spending limit per tenant or project and period, with thresholds on actual and
//! forecast spend. `evaluate` fires each threshold once per period (the alert's unique key),
//! writes an in-app notification and a live event in the same transaction; `deliver_due` then
//! sends the alert to the budget's webhook and e-mail addresses from an outbox, retrying with
//! backoff, so a slow or failing receiver never holds up an import.

use std::time::Duration;

use chrono::{Datelike, Days, Months, NaiveDate};
use nimbus_api_types::ErrorCode;
use nimbus_api_types::cost::{
    AlertBasis, Budget, BudgetAlert, BudgetInput, BudgetPeriod, BudgetStatus,
};
use nimbus_api_types::events::EventKind;
use nimbus_api_types::ids::{BudgetAlertId, BudgetId, ProjectId, TenantId};
use rust_decimal::Decimal;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::forecast::{self, Daily, Method, Model};
use crate::db;
use crate::error::AppError;
use crate::http::outbound::Outbound;
use crate::http::validate::bounded_name;
use crate::mail::{BudgetAlertMail, Mailer};
use crate::notifications;

const MAX_THRESHOLDS: usize = 10;
const MAX_EMAILS: usize = 20;
/// Deliveries are tried this many times, backing off from a minute to an hour.
const MAX_ATTEMPTS: i32 = 10;
/// How long a claimed delivery is left to its sender before another may take it.
const DELIVERY_LEASE: Duration = Duration::from_secs(5 * 60);

fn invalid(message: impl Into<std::borrow::Cow<'static, str>>) -> AppError {
    AppError::new(ErrorCode::ValidationFailed, message)
}

fn no_such_budget() -> AppError {
    AppError::new(ErrorCode::NotFound, "no such budget")
}

/// A budget's input, checked and normalized (thresholds ascending and distinct).
pub struct Checked<'a> {
    pub input: &'a BudgetInput,
    pub name: &'a str,
    pub thresholds: Vec<Decimal>,
}

pub fn check<'a>(input: &'a BudgetInput, outbound: &Outbound) -> Result<Checked<'a>, AppError> {
    let name = bounded_name(&input.name, 200)?;
    if input.amount <= Decimal::ZERO {
        return Err(invalid("amount must be more than zero"));
    }
    if !(input.currency.len() == 3 && input.currency.bytes().all(|b| b.is_ascii_uppercase())) {
        return Err(invalid("currency must be an ISO 4217 code such as USD"));
    }
    let mut thresholds = if input.thresholds.is_empty() {
        vec![Decimal::from(50), Decimal::from(80), Decimal::ONE_HUNDRED]
    } else {
        input.thresholds.clone()
    };
    thresholds.sort();
    thresholds.dedup();
    if thresholds.len() > MAX_THRESHOLDS
        || thresholds
            .iter()
            .any(|t| *t <= Decimal::ZERO || *t > Decimal::from(1000))
    {
        return Err(invalid(format!(
            "thresholds are up to {MAX_THRESHOLDS} percentages above 0 and at most 1000"
        )));
    }
    if input.notify_emails.len() > MAX_EMAILS
        || input
            .notify_emails
            .iter()
            .any(|email| email.parse::<lettre::Address>().is_err())
    {
        return Err(invalid(format!(
            "notify_emails holds up to {MAX_EMAILS} valid e-mail addresses"
        )));
    }
    if let Some(url) = &input.webhook_url {
        outbound
            .check_url(url)
            .map_err(|err| invalid(format!("webhook_url: {err}")))?;
    }
    Ok(Checked {
        input,
        name,
        thresholds,
    })
}

/// The period of `period` length holding `day`: its first day and the first day after it.
#[must_use]
pub fn period_bounds(period: BudgetPeriod, day: NaiveDate) -> (NaiveDate, NaiveDate) {
    let (start, months) = match period {
        BudgetPeriod::Month => (day.with_day(1), 1),
        BudgetPeriod::Quarter => (
            NaiveDate::from_ymd_opt(day.year(), (day.month0() / 3) * 3 + 1, 1),
            3,
        ),
        BudgetPeriod::Year => (NaiveDate::from_ymd_opt(day.year(), 1, 1), 12),
    };
    let start = start.unwrap_or(day);
    (
        start,
        start
            .checked_add_months(Months::new(months))
            .unwrap_or(start),
    )
}

struct BudgetRow {
    id: Uuid,
    name: String,
    project_id: Option<Uuid>,
    period: String,
    amount: Decimal,
    currency: String,
    /// As PostgreSQL writes them (sqlx has no `numeric[]` decoding for `Decimal`).
    thresholds: Vec<String>,
    notify_emails: Vec<String>,
    webhook_url: Option<String>,
    created_at: chrono::DateTime<chrono::Utc>,
    updated_at: chrono::DateTime<chrono::Utc>,
}

impl BudgetRow {
    fn period(&self) -> BudgetPeriod {
        match self.period.as_str() {
            "quarter" => BudgetPeriod::Quarter,
            "year" => BudgetPeriod::Year,
            _ => BudgetPeriod::Month,
        }
    }

    fn thresholds(&self) -> Vec<Decimal> {
        self.thresholds
            .iter()
            .filter_map(|t| t.parse().ok())
            .collect()
    }

    fn into_budget(self, status: BudgetStatus) -> Budget {
        let period = self.period();
        let thresholds = self.thresholds();
        Budget {
            id: BudgetId(self.id),
            name: self.name,
            project_id: self.project_id.map(ProjectId),
            period,
            amount: self.amount,
            currency: self.currency,
            thresholds,
            notify_emails: self.notify_emails,
            webhook_host: self
                .webhook_url
                .as_deref()
                .and_then(|url| url::Url::parse(url).ok())
                .and_then(|url| url.host_str().map(str::to_owned)),
            status,
            created_at: self.created_at,
            updated_at: self.updated_at,
        }
    }
}

async fn rows(
    conn: &mut PgConnection,
    tenant: TenantId,
    only: Option<BudgetId>,
    project: Option<ProjectId>,
) -> Result<Vec<BudgetRow>, AppError> {
    Ok(sqlx::query_as!(
        BudgetRow,
        r#"SELECT id, name, project_id, period, amount, currency, thresholds::text[] AS "thresholds!",
                notify_emails, webhook_url, created_at, updated_at
         FROM budgets WHERE tenant_id = $1 AND ($2::uuid IS NULL OR id = $2)
           AND ($3::uuid IS NULL OR project_id = $3)
         ORDER BY name"#,
        tenant.0,
        only.map(|b| b.0),
        project.map(|p| p.0),
    )
    .fetch_all(conn)
    .await?)
}

/// Daily effective cost of the budget's scope in its currency over `[from, to)`, other
/// currencies converted with the month's rate; those without one are named, not counted.
async fn spend(
    conn: &mut PgConnection,
    tenant: TenantId,
    budget: &BudgetRow,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<(Daily, Vec<String>), AppError> {
    let rows = sqlx::query!(
        r#"SELECT d.day, sum(d.effective_cost * CASE WHEN d.billing_currency = $5 THEN 1 ELSE r.rate END) AS "amount!"
           FROM cost_daily d
           LEFT JOIN cost_rates r ON r.tenant_id = d.tenant_id AND r.from_currency = d.billing_currency
                                 AND r.to_currency = $5 AND r.month = date_trunc('month', d.day)::date
           WHERE d.tenant_id = $1 AND ($2::uuid IS NULL OR d.project_id = $2) AND d.day >= $3 AND d.day < $4
             AND (d.billing_currency = $5 OR r.rate IS NOT NULL)
           GROUP BY d.day"#,
        tenant.0,
        budget.project_id,
        from,
        to,
        budget.currency,
    )
    .fetch_all(&mut *conn)
    .await?;
    let unconverted = sqlx::query_scalar!(
        r#"SELECT DISTINCT d.billing_currency FROM cost_daily d
           LEFT JOIN cost_rates r ON r.tenant_id = d.tenant_id AND r.from_currency = d.billing_currency
                                 AND r.to_currency = $5 AND r.month = date_trunc('month', d.day)::date
           WHERE d.tenant_id = $1 AND ($2::uuid IS NULL OR d.project_id = $2) AND d.day >= $3 AND d.day < $4
             AND d.billing_currency <> $5 AND r.rate IS NULL
           ORDER BY 1"#,
        tenant.0,
        budget.project_id,
        from,
        to,
        budget.currency,
    )
    .fetch_all(conn)
    .await?;
    Ok((
        rows.into_iter().map(|row| (row.day, row.amount)).collect(),
        unconverted,
    ))
}

fn percent(part: Decimal, whole: Decimal) -> Decimal {
    (part * Decimal::ONE_HUNDRED / whole).round_dp(2)
}

async fn status(
    conn: &mut PgConnection,
    tenant: TenantId,
    budget: &BudgetRow,
    today: NaiveDate,
) -> Result<BudgetStatus, AppError> {
    let (start, end) = period_bounds(budget.period(), today);
    // Four weeks before the period feed the forecast of its first days.
    let history_start = start.checked_sub_days(Days::new(28)).unwrap_or(start);
    let (daily, unconverted_currencies) = spend(conn, tenant, budget, history_start, end).await?;
    let actual: Decimal = daily.range(start..end).map(|(_, amount)| *amount).sum();
    let as_of = forecast::as_of(&daily, today).max(start);
    let remaining = Model::fit(&daily, as_of, Method::WeekdaySeasonal).sum(as_of, end);
    let forecast = (actual + remaining).round_dp(6);
    Ok(BudgetStatus {
        period_start: start,
        period_end: end,
        actual_percent: percent(actual, budget.amount),
        forecast_percent: percent(forecast, budget.amount),
        actual,
        forecast,
        unconverted_currencies,
    })
}

/// The tenant's budgets (those of `project` only, if set) with their status today.
pub async fn list(
    conn: &mut PgConnection,
    tenant: TenantId,
    project: Option<ProjectId>,
) -> Result<Vec<Budget>, AppError> {
    let today = super::repo::today(conn, tenant).await?;
    let mut budgets = Vec::new();
    for row in rows(conn, tenant, None, project).await? {
        let status = status(conn, tenant, &row, today).await?;
        budgets.push(row.into_budget(status));
    }
    Ok(budgets)
}

pub async fn get(
    conn: &mut PgConnection,
    tenant: TenantId,
    id: BudgetId,
    project: Option<ProjectId>,
) -> Result<Budget, AppError> {
    let today = super::repo::today(conn, tenant).await?;
    let row = rows(conn, tenant, Some(id), project)
        .await?
        .into_iter()
        .next()
        .ok_or_else(no_such_budget)?;
    let status = status(conn, tenant, &row, today).await?;
    Ok(row.into_budget(status))
}

/// Creates (`id` none) or replaces a budget. A replaced budget keeps the alerts it fired.
pub async fn save(
    conn: &mut PgConnection,
    tenant: TenantId,
    id: Option<BudgetId>,
    budget: &Checked<'_>,
) -> Result<BudgetId, AppError> {
    let input = budget.input;
    let conflict = |err| {
        AppError::constraint(
            err,
            Some("a budget with this name exists"),
            Some("no such project in this tenant"),
        )
    };
    let thresholds: Vec<String> = budget.thresholds.iter().map(Decimal::to_string).collect();
    let saved = match id {
        None => sqlx::query_scalar!(
            "INSERT INTO budgets (id, tenant_id, name, project_id, period, amount, currency, thresholds,
                                  notify_emails, webhook_url)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8::text[]::numeric[], $9, $10) RETURNING id",
            Uuid::now_v7(),
            tenant.0,
            budget.name,
            input.project_id.map(|p| p.0),
            input.period.as_str(),
            input.amount,
            input.currency,
            &thresholds,
            &input.notify_emails,
            input.webhook_url,
        )
        .fetch_optional(conn)
        .await
        .map_err(conflict)?,
        Some(id) => sqlx::query_scalar!(
            "UPDATE budgets SET name = $3, project_id = $4, period = $5, amount = $6, currency = $7,
                                thresholds = $8::text[]::numeric[], notify_emails = $9, webhook_url = $10, updated_at = now()
             WHERE tenant_id = $1 AND id = $2 RETURNING id",
            tenant.0,
            id.0,
            budget.name,
            input.project_id.map(|p| p.0),
            input.period.as_str(),
            input.amount,
            input.currency,
            &thresholds,
            &input.notify_emails,
            input.webhook_url,
        )
        .fetch_optional(conn)
        .await
        .map_err(conflict)?,
    };
    saved.map(BudgetId).ok_or_else(no_such_budget)
}

pub async fn delete(
    conn: &mut PgConnection,
    tenant: TenantId,
    id: BudgetId,
) -> Result<(), AppError> {
    let done = sqlx::query!(
        "DELETE FROM budgets WHERE tenant_id = $1 AND id = $2",
        tenant.0,
        id.0
    )
    .execute(conn)
    .await?;
    if done.rows_affected() == 0 {
        return Err(no_such_budget());
    }
    Ok(())
}

/// Checks every budget of the tenant against today's spend and fires the thresholds crossed
/// for the first time this period: the alert, its notification and its live event, in the
/// caller's transaction. Returns how many fired.
pub async fn evaluate(conn: &mut PgConnection, tenant: TenantId) -> Result<usize, AppError> {
    let today = super::repo::today(conn, tenant).await?;
    let mut fired = 0;
    for row in rows(conn, tenant, None, None).await? {
        let status = status(conn, tenant, &row, today).await?;
        let nothing_to_deliver = row.webhook_url.is_none() && row.notify_emails.is_empty();
        for threshold in row.thresholds() {
            for (basis, spend, percent) in [
                (AlertBasis::Actual, status.actual, status.actual_percent),
                (
                    AlertBasis::Forecast,
                    status.forecast,
                    status.forecast_percent,
                ),
            ] {
                if percent < threshold {
                    continue;
                }
                let basis_name = match basis {
                    AlertBasis::Actual => "actual",
                    AlertBasis::Forecast => "forecast",
                };
                let alert = sqlx::query_scalar!(
                    "INSERT INTO budget_alerts (id, tenant_id, budget_id, period_start, threshold, basis, spend,
                                                budget_amount, currency, delivered_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, CASE WHEN $10 THEN now() END)
                     ON CONFLICT (budget_id, period_start, threshold, basis) DO NOTHING
                     RETURNING id",
                    Uuid::now_v7(),
                    tenant.0,
                    row.id,
                    status.period_start,
                    threshold,
                    basis_name,
                    spend,
                    row.amount,
                    row.currency,
                    nothing_to_deliver,
                )
                .fetch_optional(&mut *conn)
                .await?;
                let Some(alert) = alert else { continue };
                fired += 1;
                let title = alert_title(&row.name, threshold, basis);
                let body = format!(
                    "{spend} {currency} of {amount} {currency} ({percent}%) for the {period} from {start}.",
                    spend = spend.round_dp(2),
                    currency = row.currency,
                    amount = row.amount,
                    period = row.period,
                    start = status.period_start,
                );
                let details = serde_json::json!({
                    "alert_id": alert,
                    "budget_id": row.id,
                    "threshold": threshold,
                    "basis": basis,
                    "spend": spend,
                    "amount": row.amount,
                    "currency": row.currency,
                    "period_start": status.period_start,
                });
                notifications::publish(
                    conn,
                    tenant,
                    row.project_id.map(ProjectId),
                    EventKind::BudgetAlert,
                    &title,
                    &body,
                    &details,
                )
                .await?;
            }
        }
    }
    Ok(fired)
}

fn alert_title(budget: &str, threshold: Decimal, basis: AlertBasis) -> String {
    match basis {
        AlertBasis::Actual => format!("Budget {budget}: {threshold}% spent"),
        AlertBasis::Forecast => format!("Budget {budget}: forecast to reach {threshold}%"),
    }
}

pub async fn alerts(
    conn: &mut PgConnection,
    tenant: TenantId,
    budget: BudgetId,
) -> Result<Vec<BudgetAlert>, AppError> {
    let rows = sqlx::query!(
        "SELECT a.id, a.budget_id, b.name, a.period_start, a.threshold, a.basis, a.spend, a.budget_amount,
                a.currency, a.fired_at, a.delivered_at, a.delivery_attempts, a.delivery_error
         FROM budget_alerts a JOIN budgets b ON b.id = a.budget_id
         WHERE a.tenant_id = $1 AND a.budget_id = $2 ORDER BY a.fired_at DESC, a.threshold DESC LIMIT 500",
        tenant.0,
        budget.0
    )
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|row| BudgetAlert {
            id: BudgetAlertId(row.id),
            budget_id: BudgetId(row.budget_id),
            budget_name: row.name,
            period_start: row.period_start,
            threshold: row.threshold,
            basis: if row.basis == "forecast" {
                AlertBasis::Forecast
            } else {
                AlertBasis::Actual
            },
            spend: row.spend,
            budget_amount: row.budget_amount,
            currency: row.currency,
            fired_at: row.fired_at,
            delivered_at: row.delivered_at,
            delivery_attempts: row.delivery_attempts,
            delivery_error: row.delivery_error,
        })
        .collect())
}

/// One alert to send, claimed for [`DELIVERY_LEASE`].
struct Due {
    id: Uuid,
    name: String,
    threshold: Decimal,
    basis: String,
    spend: Decimal,
    budget_amount: Decimal,
    currency: String,
    period_start: NaiveDate,
    notify_emails: Vec<String>,
    webhook_url: Option<String>,
    delivery_attempts: i32,
}

/// Sends every alert due: claims a batch per tenant, sends outside any transaction, records
/// the outcome. Several servers may run this at once; a claim keeps an alert to one of them.
pub async fn deliver_due(
    pool: &PgPool,
    outbound: Option<&Outbound>,
    mailer: Option<&Mailer>,
) -> Result<usize, AppError> {
    let tenants = sqlx::query_scalar!("SELECT id FROM tenants WHERE suspended_at IS NULL")
        .fetch_all(pool)
        .await?;
    let mut sent = 0;
    for tenant in tenants.into_iter().map(TenantId) {
        let mut tx = db::begin_for_tenant(pool, tenant).await?;
        let due = sqlx::query_as!(
            Due,
            "WITH claimed AS (
                 UPDATE budget_alerts SET next_attempt_at = now() + make_interval(secs => $2)
                 WHERE id IN (SELECT id FROM budget_alerts
                              WHERE tenant_id = $1 AND delivered_at IS NULL AND next_attempt_at <= now()
                              ORDER BY next_attempt_at LIMIT 20 FOR UPDATE SKIP LOCKED)
                 RETURNING id, budget_id, threshold, basis, spend, budget_amount, currency, period_start,
                           delivery_attempts)
             SELECT c.id, b.name, c.threshold, c.basis, c.spend, c.budget_amount, c.currency, c.period_start,
                    b.notify_emails, b.webhook_url, c.delivery_attempts
             FROM claimed c JOIN budgets b ON b.id = c.budget_id",
            tenant.0,
            DELIVERY_LEASE.as_secs_f64(),
        )
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        for alert in due {
            let outcome = deliver(&alert, outbound, mailer).await;
            let mut tx = db::begin_for_tenant(pool, tenant).await?;
            match outcome {
                Ok(()) => {
                    sent += 1;
                    sqlx::query!(
                        "UPDATE budget_alerts SET delivered_at = now(), delivery_error = NULL,
                                delivery_attempts = delivery_attempts + 1 WHERE id = $1",
                        alert.id
                    )
                    .execute(&mut *tx)
                    .await?;
                }
                Err(error) => {
                    let attempts = alert.delivery_attempts + 1;
                    // 1, 2, 4 … minutes, at most an hour; after the last attempt, never again.
                    let wait = if attempts >= MAX_ATTEMPTS {
                        None
                    } else {
                        Some((60_f64 * 2_f64.powi(attempts - 1)).min(3600.0))
                    };
                    tracing::warn!(alert = %alert.id, attempts, %error, "budget alert not delivered");
                    sqlx::query!(
                        "UPDATE budget_alerts SET delivery_attempts = $2, delivery_error = $3,
                                next_attempt_at = CASE WHEN $4::float8 IS NULL THEN 'infinity'
                                                       ELSE now() + make_interval(secs => $4) END
                         WHERE id = $1",
                        alert.id,
                        attempts,
                        error,
                        wait,
                    )
                    .execute(&mut *tx)
                    .await?;
                }
            }
            tx.commit().await?;
        }
    }
    Ok(sent)
}

async fn deliver(
    alert: &Due,
    outbound: Option<&Outbound>,
    mailer: Option<&Mailer>,
) -> Result<(), String> {
    let basis = if alert.basis == "forecast" {
        AlertBasis::Forecast
    } else {
        AlertBasis::Actual
    };
    let title = alert_title(&alert.name, alert.threshold, basis);
    let text = format!(
        "{title}: {} {currency} of {} {currency} for the period from {}.",
        alert.spend.round_dp(2),
        alert.budget_amount,
        alert.period_start,
        currency = alert.currency,
    );
    if let Some(url) = &alert.webhook_url {
        let outbound = outbound.ok_or("outbound HTTP calls are unavailable on this server")?;
        // Slack reads `text`; other receivers get the same facts as fields.
        let body = serde_json::json!({
            "text": text,
            "budget": alert.name,
            "threshold": alert.threshold,
            "basis": basis,
            "spend": alert.spend,
            "amount": alert.budget_amount,
            "currency": alert.currency,
            "period_start": alert.period_start,
        });
        let (status, answer) = outbound
            .post_json(url, &body)
            .await
            .map_err(|err| format!("webhook: {err}"))?;
        if !(200..300).contains(&status) {
            let answer: String = answer.chars().take(200).collect();
            return Err(format!("webhook answered {status}: {answer}"));
        }
    }
    if !alert.notify_emails.is_empty() {
        let mailer = mailer.ok_or("no mail server is configured (mail.smtp_url)")?;
        let mail = BudgetAlertMail {
            title: &title,
            text: &text,
        };
        for to in &alert.notify_emails {
            mailer
                .send(to, &mail)
                .await
                .map_err(|err| format!("e-mail to {to}: {err}"))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(text: &str) -> NaiveDate {
        text.parse().unwrap()
    }

    #[test]
    fn periods_are_calendar_months_quarters_and_years() {
        let day = date("2024-08-17");
        assert_eq!(
            period_bounds(BudgetPeriod::Month, day),
            (date("2024-08-01"), date("2024-09-01"))
        );
        assert_eq!(
            period_bounds(BudgetPeriod::Quarter, day),
            (date("2024-07-01"), date("2024-10-01"))
        );
        assert_eq!(
            period_bounds(BudgetPeriod::Year, day),
            (date("2024-01-01"), date("2025-01-01"))
        );
        assert_eq!(
            period_bounds(BudgetPeriod::Quarter, date("2024-12-31")),
            (date("2024-10-01"), date("2025-01-01"))
        );
    }
}
