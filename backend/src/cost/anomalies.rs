//! Cost anomaly detection: days whose usage spend of one series — (project, provider,
//! sub-account, service, currency) — stands far above a robust baseline.
//!
//! The baseline of a day is the four weeks before it: their median, and their median absolute
//! deviation scaled to a standard deviation (×1.4826), floored at 5 % of the median so that a
//! perfectly flat series does not make every cent an anomaly. A day is an anomaly when its
//! excess over the median is at least 3.5 of those deviations (the Iglewicz–Hoaglin cut-off for
//! the modified z-score), at least 20 % of the median and at least one currency unit. Only
//! series that had spend on at least half of the baseline days are judged: one-off and monthly
//! charges are not anomalies of a daily pattern. Only usage counts (`ChargeCategory = Usage`);
//! purchases, taxes and credits are not anomalies of consumption.

use std::collections::{BTreeMap, HashMap};

use chrono::{Days, NaiveDate};
use nimbus_api_types::cost::{Anomaly, AnomalyContributor, AnomalySeverity, AnomalyStatus};
use nimbus_api_types::events::EventKind;
use nimbus_api_types::ids::{AnomalyId, ProjectId, TenantId};
use rust_decimal::Decimal;
use sqlx::PgConnection;
use uuid::Uuid;

use super::forecast::Daily;
use crate::error::AppError;
use crate::notifications;

/// Days of baseline before the day judged.
const BASELINE_DAYS: u64 = 28;
/// Fewer baseline days than this and a day is not judged.
const MIN_BASELINE_DAYS: usize = 14;
/// How far back each run judges days (so a backfilled history shows its anomalies too).
const JUDGED_DAYS: u64 = 90;
/// Anomalies on days older than this (from today) are recorded without a notification.
const NOTIFY_WITHIN_DAYS: u64 = 14;
/// Line-item scans for contributors per run; the rest are worked out by later runs.
const CONTRIBUTOR_SCANS_PER_RUN: usize = 50;
/// Values per dimension listed as contributors.
const CONTRIBUTORS_PER_DIMENSION: i64 = 3;

const MIN_SCORE: Decimal = Decimal::from_parts(35, 0, 0, false, 1);
const MEDIUM_SCORE: Decimal = Decimal::from_parts(6, 0, 0, false, 0);
const HIGH_SCORE: Decimal = Decimal::from_parts(10, 0, 0, false, 0);
/// Scales a median absolute deviation to a standard deviation of normal data.
const MAD_TO_SIGMA: Decimal = Decimal::from_parts(14826, 0, 0, false, 4);
const MIN_SCALE_OF_MEDIAN: Decimal = Decimal::from_parts(5, 0, 0, false, 2);
const MIN_EXCESS_OF_MEDIAN: Decimal = Decimal::from_parts(2, 0, 0, false, 1);
const MIN_EXCESS: Decimal = Decimal::ONE;

/// What the baseline says about one day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub day: NaiveDate,
    pub spend: Decimal,
    pub baseline: Decimal,
    pub score: Decimal,
    pub severity: AnomalySeverity,
}

fn median(sorted: &[Decimal]) -> Decimal {
    match sorted.len() {
        0 => Decimal::ZERO,
        n if n % 2 == 1 => sorted[n / 2],
        n => (sorted[n / 2 - 1] + sorted[n / 2]) / Decimal::TWO,
    }
}

/// Judges `day` of `series` against the four weeks before it (days before the series' first
/// are not part of its history; days after it without costs are zero).
#[must_use]
pub fn judge(series: &Daily, day: NaiveDate) -> Option<Finding> {
    let first_seen = *series.keys().next()?;
    let start = day
        .checked_sub_days(Days::new(BASELINE_DAYS))?
        .max(first_seen);
    let mut baseline: Vec<Decimal> = start
        .iter_days()
        .take_while(|d| *d < day)
        .map(|d| series.get(&d).copied().unwrap_or_default())
        .collect();
    let with_spend = baseline.iter().filter(|amount| !amount.is_zero()).count();
    if baseline.len() < MIN_BASELINE_DAYS || with_spend * 2 < baseline.len() {
        return None;
    }
    baseline.sort_unstable();
    let middle = median(&baseline);
    let mut deviations: Vec<Decimal> = baseline.iter().map(|v| (*v - middle).abs()).collect();
    deviations.sort_unstable();
    let scale = (median(&deviations) * MAD_TO_SIGMA).max(middle * MIN_SCALE_OF_MEDIAN);
    let spend = series.get(&day).copied().unwrap_or_default();
    let excess = spend - middle;
    if scale <= Decimal::ZERO || excess < MIN_EXCESS || excess < middle * MIN_EXCESS_OF_MEDIAN {
        return None;
    }
    let score = (excess / scale).round_dp(2);
    let severity = if score >= HIGH_SCORE {
        AnomalySeverity::High
    } else if score >= MEDIUM_SCORE {
        AnomalySeverity::Medium
    } else if score >= MIN_SCORE {
        AnomalySeverity::Low
    } else {
        return None;
    };
    Some(Finding {
        day,
        spend,
        baseline: middle,
        score,
        severity,
    })
}

/// One series' identity.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
struct SeriesKey {
    project: Option<Uuid>,
    provider: String,
    sub_account: Option<String>,
    service: String,
    currency: String,
}

fn severity_name(severity: AnomalySeverity) -> &'static str {
    match severity {
        AnomalySeverity::Low => "low",
        AnomalySeverity::Medium => "medium",
        AnomalySeverity::High => "high",
    }
}

fn severity_from(name: &str) -> AnomalySeverity {
    match name {
        "high" => AnomalySeverity::High,
        "medium" => AnomalySeverity::Medium,
        _ => AnomalySeverity::Low,
    }
}

pub fn status_name(status: AnomalyStatus) -> &'static str {
    match status {
        AnomalyStatus::Open => "open",
        AnomalyStatus::Acknowledged => "acknowledged",
        AnomalyStatus::Dismissed => "dismissed",
    }
}

fn status_from(name: &str) -> AnomalyStatus {
    match name {
        "acknowledged" => AnomalyStatus::Acknowledged,
        "dismissed" => AnomalyStatus::Dismissed,
        _ => AnomalyStatus::Open,
    }
}

/// Judges the last [`JUDGED_DAYS`] of every series of the tenant and records what it finds, in
/// the caller's transaction. A new anomaly on a recent day publishes a notification; one found
/// again keeps its id and status, and only its figures follow a restated bill. Returns how many
/// anomalies were new.
pub async fn detect(conn: &mut PgConnection, tenant: TenantId) -> Result<usize, AppError> {
    let Some(last_day) = sqlx::query_scalar!(
        "SELECT max(day) FROM cost_daily WHERE tenant_id = $1 AND charge_category = 'Usage'",
        tenant.0
    )
    .fetch_one(&mut *conn)
    .await?
    else {
        return Ok(0);
    };
    let from = last_day
        .checked_sub_days(Days::new(JUDGED_DAYS + BASELINE_DAYS))
        .unwrap_or(last_day);
    let rows = sqlx::query!(
        r#"SELECT project_id, provider, sub_account_id, service_name, billing_currency, day,
                  sum(effective_cost) AS "spend!"
           FROM cost_daily WHERE tenant_id = $1 AND charge_category = 'Usage' AND day >= $2
           GROUP BY 1, 2, 3, 4, 5, 6"#,
        tenant.0,
        from,
    )
    .fetch_all(&mut *conn)
    .await?;
    let mut series: BTreeMap<SeriesKey, Daily> = BTreeMap::new();
    for row in rows {
        let key = SeriesKey {
            project: row.project_id,
            provider: row.provider,
            sub_account: row.sub_account_id,
            service: row.service_name,
            currency: row.billing_currency,
        };
        series.entry(key).or_default().insert(row.day, row.spend);
    }
    let known: HashMap<(SeriesKey, NaiveDate), (Decimal, bool)> = sqlx::query!(
        "SELECT project_id, provider, sub_account_id, service_name, currency, day, spend,
                contributors IS NOT NULL AS \"explained!\"
         FROM cost_anomalies WHERE tenant_id = $1 AND day >= $2",
        tenant.0,
        from,
    )
    .fetch_all(&mut *conn)
    .await?
    .into_iter()
    .map(|row| {
        let key = SeriesKey {
            project: row.project_id,
            provider: row.provider,
            sub_account: row.sub_account_id,
            service: row.service_name,
            currency: row.currency,
        };
        ((key, row.day), (row.spend, row.explained))
    })
    .collect();
    let today = super::repo::today(conn, tenant).await?;
    let notify_from = today
        .checked_sub_days(Days::new(NOTIFY_WITHIN_DAYS))
        .unwrap_or(today);
    let time_zone = super::repo::time_zone(conn, tenant).await?;
    let judged_from = last_day
        .checked_sub_days(Days::new(JUDGED_DAYS))
        .unwrap_or(last_day);
    let mut scans = 0;
    let mut new = 0;
    for (key, daily) in &series {
        for day in judged_from.iter_days().take_while(|d| *d <= last_day) {
            let Some(finding) = judge(daily, day) else {
                continue;
            };
            let previous = known.get(&(key.clone(), day));
            if previous.is_some_and(|(spend, explained)| *spend == finding.spend && *explained) {
                continue;
            }
            let contributors = if scans < CONTRIBUTOR_SCANS_PER_RUN {
                scans += 1;
                Some(contributors(conn, tenant, &time_zone, key, day).await?)
            } else {
                None
            };
            let inserted = record(conn, tenant, key, &finding, contributors.as_deref()).await?;
            if let Some(id) = inserted {
                new += 1;
                if day >= notify_from {
                    announce(conn, tenant, id, key, &finding).await?;
                }
            }
        }
    }
    Ok(new)
}

/// Inserts or updates the anomaly; `Some(id)` when it is new.
async fn record(
    conn: &mut PgConnection,
    tenant: TenantId,
    key: &SeriesKey,
    finding: &Finding,
    contributors: Option<&[AnomalyContributor]>,
) -> Result<Option<Uuid>, AppError> {
    let contributors = contributors
        .map(serde_json::to_value)
        .transpose()
        .map_err(AppError::internal)?;
    let row = sqlx::query!(
        r#"INSERT INTO cost_anomalies (id, tenant_id, project_id, provider, sub_account_id, service_name,
                                       currency, day, spend, baseline, score, severity, contributors)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
           ON CONFLICT (tenant_id, project_id, provider, sub_account_id, service_name, currency, day)
           DO UPDATE SET spend = EXCLUDED.spend, baseline = EXCLUDED.baseline, score = EXCLUDED.score,
                         severity = EXCLUDED.severity,
                         contributors = coalesce(EXCLUDED.contributors, cost_anomalies.contributors),
                         updated_at = now()
           RETURNING id, (xmax = 0) AS "inserted!""#,
        Uuid::now_v7(),
        tenant.0,
        key.project,
        key.provider,
        key.sub_account,
        key.service,
        key.currency,
        finding.day,
        finding.spend,
        finding.baseline,
        finding.score,
        severity_name(finding.severity),
        contributors,
    )
    .fetch_one(&mut *conn)
    .await?;
    Ok(row.inserted.then_some(row.id))
}

async fn announce(
    conn: &mut PgConnection,
    tenant: TenantId,
    id: Uuid,
    key: &SeriesKey,
    finding: &Finding,
) -> Result<(), AppError> {
    let impact = (finding.spend - finding.baseline).round_dp(2);
    let title = format!(
        "Cost anomaly: {service} on {day}",
        service = key.service,
        day = finding.day
    );
    let body = format!(
        "{spend} {currency} spent on {service} ({provider}{account}) on {day}: {impact} {currency} above \
         the usual {baseline} {currency} a day ({severity} severity).",
        spend = finding.spend.round_dp(2),
        currency = key.currency,
        service = key.service,
        provider = key.provider,
        account = key
            .sub_account
            .as_deref()
            .map(|account| format!(", account {account}"))
            .unwrap_or_default(),
        day = finding.day,
        baseline = finding.baseline.round_dp(2),
        severity = severity_name(finding.severity),
    );
    let details = serde_json::json!({
        "anomaly_id": id,
        "service_name": key.service,
        "provider": key.provider,
        "sub_account_id": key.sub_account,
        "day": finding.day,
        "spend": finding.spend,
        "baseline": finding.baseline,
        "impact": impact,
        "currency": key.currency,
        "severity": finding.severity,
    });
    notifications::publish(
        conn,
        tenant,
        key.project.map(ProjectId),
        EventKind::CostAnomaly,
        &title,
        &body,
        &details,
    )
    .await?;
    Ok(())
}

/// The resources, regions and SKUs of the series' account and service whose spend on `day`
/// rose the most above their mean of the baseline days. Read from the line items, which carry
/// no project: for a project's series these are its account's and service's.
async fn contributors(
    conn: &mut PgConnection,
    tenant: TenantId,
    time_zone: &str,
    key: &SeriesKey,
    day: NaiveDate,
) -> Result<Vec<AnomalyContributor>, AppError> {
    let rows = sqlx::query!(
        r#"WITH items AS (
               SELECT (charge_period_start AT TIME ZONE $7)::date AS day, resource_id, region_id, sku_id,
                      effective_cost
               FROM cost_line_items
               WHERE tenant_id = $1 AND coalesce(service_provider_name, provider_name, 'Unknown') = $2
                 AND sub_account_id IS NOT DISTINCT FROM $3 AND service_name = $4 AND billing_currency = $5
                 AND charge_category = 'Usage'
                 AND billing_period_start >= date_trunc('month', ($6::date - $8::int)::timestamp) - interval '1 month'
                 AND billing_period_start < ($6::date + 1)::timestamp + interval '1 day'
                 AND charge_period_start >= ($6::date - $8::int)::timestamp AT TIME ZONE $7
                 AND charge_period_start < ($6::date + 1)::timestamp AT TIME ZONE $7),
           sums AS (
               SELECT d.dimension, d.value,
                      coalesce(sum(i.effective_cost) FILTER (WHERE i.day = $6), 0) AS spend,
                      coalesce(sum(i.effective_cost) FILTER (WHERE i.day < $6), 0) / $8::int AS baseline
               FROM items i,
                    LATERAL (VALUES ('resource_id', i.resource_id), ('region', i.region_id), ('sku_id', i.sku_id))
                        AS d(dimension, value)
               WHERE d.value IS NOT NULL
               GROUP BY 1, 2),
           ranked AS (
               SELECT *, row_number() OVER (PARTITION BY dimension ORDER BY spend - baseline DESC, value) AS rank
               FROM sums WHERE spend > baseline)
           SELECT dimension AS "dimension!", value AS "value!", spend AS "spend!", baseline AS "baseline!"
           FROM ranked WHERE rank <= $9 ORDER BY dimension, rank"#,
        tenant.0,
        key.provider,
        key.sub_account,
        key.service,
        key.currency,
        day,
        time_zone,
        i32::try_from(BASELINE_DAYS).unwrap_or(28),
        CONTRIBUTORS_PER_DIMENSION,
    )
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|row| AnomalyContributor {
            dimension: row.dimension,
            value: row.value,
            spend: row.spend,
            baseline: row.baseline.round_dp(6),
        })
        .collect())
}

/// Filters of the anomaly list.
#[derive(Debug, Default)]
pub struct Filter {
    pub project: Option<ProjectId>,
    pub status: Option<AnomalyStatus>,
    pub min_severity: Option<AnomalySeverity>,
    pub from: Option<NaiveDate>,
    pub to: Option<NaiveDate>,
}

/// The tenant's anomalies, newest day first, after the anomaly `after` in that order.
pub async fn list(
    conn: &mut PgConnection,
    tenant: TenantId,
    filter: &Filter,
    after: Option<AnomalyId>,
    limit: i64,
) -> Result<Vec<Anomaly>, AppError> {
    let min_rank = match filter.min_severity {
        None | Some(AnomalySeverity::Low) => 0,
        Some(AnomalySeverity::Medium) => 1,
        Some(AnomalySeverity::High) => 2,
    };
    let rows = sqlx::query!(
        r#"SELECT id, project_id, provider, sub_account_id, service_name, currency, day, spend, baseline, score,
                  severity, contributors, status, detected_at, updated_at
           FROM cost_anomalies a
           WHERE tenant_id = $1 AND ($2::uuid IS NULL OR project_id = $2) AND ($3::text IS NULL OR status = $3)
             AND array_position(ARRAY['low', 'medium', 'high'], severity) > $4
             AND ($5::date IS NULL OR day >= $5) AND ($6::date IS NULL OR day < $6)
             AND ($7::uuid IS NULL OR (day, id) < (SELECT day, id FROM cost_anomalies WHERE id = $7))
           ORDER BY day DESC, id DESC LIMIT $8"#,
        tenant.0,
        filter.project.map(|p| p.0),
        filter.status.map(status_name),
        min_rank,
        filter.from,
        filter.to,
        after.map(|a| a.0),
        limit,
    )
    .fetch_all(conn)
    .await?;
    rows.into_iter()
        .map(|row| {
            let contributors = row
                .contributors
                .map(serde_json::from_value)
                .transpose()
                .map_err(AppError::internal)?
                .unwrap_or_default();
            Ok(Anomaly {
                id: AnomalyId(row.id),
                project_id: row.project_id.map(ProjectId),
                provider: row.provider,
                sub_account_id: row.sub_account_id,
                service_name: row.service_name,
                currency: row.currency,
                day: row.day,
                impact: row.spend - row.baseline,
                spend: row.spend,
                baseline: row.baseline,
                score: row.score,
                severity: severity_from(&row.severity),
                contributors,
                status: status_from(&row.status),
                detected_at: row.detected_at,
                updated_at: row.updated_at,
            })
        })
        .collect()
}

/// Sets an anomaly's status; `false` when the tenant (or the project) has no such anomaly.
pub async fn set_status(
    conn: &mut PgConnection,
    tenant: TenantId,
    project: Option<ProjectId>,
    id: AnomalyId,
    status: AnomalyStatus,
) -> Result<bool, AppError> {
    let done = sqlx::query!(
        "UPDATE cost_anomalies SET status = $4, updated_at = now()
         WHERE tenant_id = $1 AND id = $2 AND ($3::uuid IS NULL OR project_id = $3)",
        tenant.0,
        id.0,
        project.map(|p| p.0),
        status_name(status),
    )
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(text: &str) -> NaiveDate {
        text.parse().unwrap()
    }

    /// `days` days of spend from 2024-01-01, cycling through `pattern`.
    fn series(days: usize, pattern: &[i64]) -> Daily {
        date("2024-01-01")
            .iter_days()
            .take(days)
            .zip(pattern.iter().cycle())
            .map(|(day, amount)| (day, Decimal::from(*amount)))
            .collect()
    }

    #[test]
    fn a_spike_far_above_a_noisy_baseline_is_an_anomaly_with_its_severity() {
        let mut daily = series(40, &[100, 104, 96, 102, 98]);
        let day = date("2024-02-09");
        daily.insert(day, Decimal::from(130));
        let found = judge(&daily, day).expect("a spike");
        assert_eq!(found.baseline, Decimal::from(100));
        // Deviations 0, 2 and 4: MAD 2, ×1.4826 ≈ 2.97, below the floor of 5 % of the median.
        assert_eq!(found.score, Decimal::from(6), "30 above, in fives");
        assert_eq!(found.severity, AnomalySeverity::Medium);
        daily.insert(day, Decimal::from(400));
        assert_eq!(judge(&daily, day).unwrap().severity, AnomalySeverity::High);
    }

    #[test]
    fn ordinary_noise_and_small_excesses_are_not_anomalies() {
        let daily = series(40, &[100, 104, 96, 102, 98]);
        for day in date("2024-01-20").iter_days().take(20) {
            assert_eq!(judge(&daily, day), None, "{day}");
        }
        // A flat series: a 10 % rise is below the 20 % floor; 40 cents is below one unit.
        let mut flat = series(40, &[10]);
        flat.insert(date("2024-02-05"), Decimal::from(11));
        assert_eq!(judge(&flat, date("2024-02-05")), None);
        let mut tiny: Daily = series(40, &[1])
            .into_keys()
            .map(|day| (day, Decimal::new(1, 1)))
            .collect();
        tiny.insert(date("2024-02-05"), Decimal::new(5, 1));
        assert_eq!(judge(&tiny, date("2024-02-05")), None);
    }

    #[test]
    fn short_or_sparse_histories_are_not_judged() {
        let mut young = series(10, &[100]);
        young.insert(date("2024-01-11"), Decimal::from(1000));
        assert_eq!(
            judge(&young, date("2024-01-11")),
            None,
            "ten days of history"
        );
        // A monthly charge: spend on one day in thirty.
        let mut monthly = series(1, &[500]);
        monthly.insert(date("2024-01-20"), Decimal::from(1));
        monthly.insert(date("2024-01-31"), Decimal::from(500));
        assert_eq!(judge(&monthly, date("2024-01-31")), None);
    }

    #[test]
    fn median_of_even_and_odd_counts() {
        assert_eq!(median(&[]), Decimal::ZERO);
        assert_eq!(
            median(&[Decimal::new(1, 0), Decimal::new(5, 0), Decimal::new(9, 0)]),
            Decimal::new(5, 0)
        );
        assert_eq!(
            median(&[
                Decimal::new(1, 0),
                Decimal::new(2, 0),
                Decimal::new(4, 0),
                Decimal::new(9, 0)
            ]),
            Decimal::new(3, 0)
        );
    }
}
