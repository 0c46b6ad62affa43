//! Spend forecasts: a daily run-rate with weekday seasonality, and its backtest.
//!
//! A day's forecast is the mean spend of the same weekday over the last four weeks before the
//! forecast date — the run-rate (mean of all those days) times a weekday factor. With less than
//! two weeks of history weekdays are not told apart and every day is the run-rate. Amounts stay
//! decimals; the forecast is an estimate, shown to 6 decimal places.

use std::collections::BTreeMap;

use chrono::{Datelike, Days, Months, NaiveDate};
use nimbus_api_types::cost::{BacktestReport, DailyAmount, Forecast};
use nimbus_api_types::ids::{ProjectId, TenantId};
use rust_decimal::Decimal;
use sqlx::PgConnection;

use crate::error::AppError;

/// Days of history the model looks at.
const WINDOW_DAYS: u64 = 28;
/// Fewer days than this and weekdays are not told apart.
const SEASONAL_MIN_DAYS: usize = 14;
const SHOWN_SCALE: u32 = 6;

/// Daily spend of one scope in one currency; days without costs are absent (zero).
pub type Daily = BTreeMap<NaiveDate, Decimal>;

/// Which model a forecast uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// Level × weekday factor (the forecast the API serves).
    WeekdaySeasonal,
    /// Level only: the baseline the backtest compares against.
    FlatRunRate,
}

/// The model fitted on the history before `as_of`: the expected spend of each weekday.
#[derive(Debug, Clone)]
pub struct Model {
    per_weekday: [Decimal; 7],
}

impl Model {
    #[must_use]
    pub fn fit(history: &Daily, as_of: NaiveDate, method: Method) -> Self {
        let first_seen = history.keys().next().copied().unwrap_or(as_of);
        let window_start = as_of
            .checked_sub_days(Days::new(WINDOW_DAYS))
            .unwrap_or(as_of)
            .max(first_seen);
        let days: Vec<NaiveDate> = window_start
            .iter_days()
            .take_while(|day| *day < as_of)
            .collect();
        let amount = |day: &NaiveDate| history.get(day).copied().unwrap_or_default();
        let mean = |amounts: Vec<Decimal>| {
            if amounts.is_empty() {
                None
            } else {
                Some(amounts.iter().sum::<Decimal>() / Decimal::from(amounts.len()))
            }
        };
        let level = mean(days.iter().map(amount).collect()).unwrap_or_default();
        let mut per_weekday = [level; 7];
        if method == Method::WeekdaySeasonal && days.len() >= SEASONAL_MIN_DAYS {
            for (weekday, expected) in per_weekday.iter_mut().enumerate() {
                let same = days
                    .iter()
                    .filter(|day| day.weekday().num_days_from_monday() as usize == weekday)
                    .map(amount)
                    .collect();
                if let Some(weekday_mean) = mean(same) {
                    *expected = weekday_mean;
                }
            }
        }
        Self { per_weekday }
    }

    #[must_use]
    pub fn day(&self, day: NaiveDate) -> Decimal {
        self.per_weekday[day.weekday().num_days_from_monday() as usize]
    }

    /// The forecast of every day in `[from, to)`.
    #[must_use]
    pub fn sum(&self, from: NaiveDate, to: NaiveDate) -> Decimal {
        from.iter_days()
            .take_while(|day| *day < to)
            .map(|day| self.day(day))
            .sum()
    }
}

fn month_start(day: NaiveDate) -> NaiveDate {
    day.with_day(1).unwrap_or(day)
}

fn next_month(day: NaiveDate) -> NaiveDate {
    let first = month_start(day);
    first.checked_add_months(Months::new(1)).unwrap_or(first)
}

fn actual(history: &Daily, from: NaiveDate, to: NaiveDate) -> Decimal {
    history.range(from..to).map(|(_, amount)| *amount).sum()
}

/// The forecast for the month of `as_of` and the next: actual spend before `as_of`, the model
/// from `as_of` on.
#[must_use]
pub fn forecast(currency: &str, history: &Daily, as_of: NaiveDate) -> Forecast {
    let model = Model::fit(history, as_of, Method::WeekdaySeasonal);
    let start = month_start(as_of);
    let next = next_month(as_of);
    let after_next = next_month(next);
    let month_to_date = actual(history, start, as_of);
    let shown = |amount: Decimal| amount.round_dp(SHOWN_SCALE);
    Forecast {
        currency: currency.to_owned(),
        as_of,
        month_to_date,
        month_end: shown(month_to_date + model.sum(as_of, next)),
        next_month: shown(model.sum(next, after_next)),
        daily: as_of
            .iter_days()
            .take_while(|day| *day < after_next)
            .map(|day| DailyAmount {
                day,
                amount: shown(model.day(day)),
            })
            .collect(),
    }
}

/// The day a forecast starts from: today, or the day after the last one with costs if the bills
/// lag behind (so that days not billed yet do not read as days without spend).
#[must_use]
pub fn as_of(history: &Daily, today: NaiveDate) -> NaiveDate {
    history
        .keys()
        .next_back()
        .and_then(|last| last.checked_add_days(Days::new(1)))
        .map_or(today, |after| after.min(today))
}

/// Mean absolute percentage error of `pairs` (forecast, actual), over actuals that are not zero.
fn mape(pairs: &[(Decimal, Decimal)]) -> Option<Decimal> {
    let errors: Vec<Decimal> = pairs
        .iter()
        .filter(|(_, actual)| !actual.is_zero())
        .map(|(forecast, actual)| ((*forecast - *actual) / *actual).abs())
        .collect();
    (!errors.is_empty()).then(|| {
        (errors.iter().sum::<Decimal>() / Decimal::from(errors.len()) * Decimal::ONE_HUNDRED)
            .round_dp(2)
    })
}

/// Replays the forecast over `history`: each day after the first four weeks forecast from the
/// days before it, each whole month from its first day (next month) and from its 15th (month end),
/// with the flat run-rate beside it as the baseline.
#[must_use]
pub fn backtest(currency: &str, history: &Daily) -> BacktestReport {
    let (Some(&first), Some(&last)) = (history.keys().next(), history.keys().next_back()) else {
        return BacktestReport::empty(currency);
    };
    let warm = first
        .checked_add_days(Days::new(WINDOW_DAYS))
        .unwrap_or(last);
    let mut daily = (Vec::new(), Vec::new());
    for day in warm.iter_days().take_while(|day| *day <= last) {
        let actual = history.get(&day).copied().unwrap_or_default();
        let seasonal = Model::fit(history, day, Method::WeekdaySeasonal).day(day);
        let flat = Model::fit(history, day, Method::FlatRunRate).day(day);
        daily.0.push((seasonal, actual));
        daily.1.push((flat, actual));
    }
    let mut next_month_pairs = Vec::new();
    let mut month_end_pairs = Vec::new();
    let mut month = next_month(warm.checked_sub_days(Days::new(1)).unwrap_or(warm));
    while next_month(month) <= last.checked_add_days(Days::new(1)).unwrap_or(last) {
        let end = next_month(month);
        let total = actual(history, month, end);
        let ahead = Model::fit(history, month, Method::WeekdaySeasonal).sum(month, end);
        next_month_pairs.push((ahead, total));
        if let Some(mid) = month.checked_add_days(Days::new(14)) {
            let model = Model::fit(history, mid, Method::WeekdaySeasonal);
            month_end_pairs.push((actual(history, month, mid) + model.sum(mid, end), total));
        }
        month = end;
    }
    BacktestReport {
        currency: currency.to_owned(),
        days_evaluated: daily.0.len(),
        months_evaluated: next_month_pairs.len(),
        daily_mape: mape(&daily.0),
        daily_mape_flat: mape(&daily.1),
        next_month_mape: mape(&next_month_pairs),
        month_end_mape: mape(&month_end_pairs),
    }
}

/// Daily effective cost of the tenant (or one project) per currency, days in the tenant's time
/// zone as the rollups cut them.
pub async fn history(
    conn: &mut PgConnection,
    tenant: TenantId,
    project: Option<ProjectId>,
) -> Result<BTreeMap<String, Daily>, AppError> {
    let rows = sqlx::query!(
        r#"SELECT billing_currency, day, sum(effective_cost) AS "amount!"
           FROM cost_daily WHERE tenant_id = $1 AND ($2::uuid IS NULL OR project_id = $2)
           GROUP BY 1, 2 ORDER BY 1, 2"#,
        tenant.0,
        project.map(|p| p.0)
    )
    .fetch_all(conn)
    .await?;
    let mut series: BTreeMap<String, Daily> = BTreeMap::new();
    for row in rows {
        series
            .entry(row.billing_currency)
            .or_default()
            .insert(row.day, row.amount);
    }
    Ok(series)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(text: &str) -> NaiveDate {
        text.parse().unwrap()
    }

    /// Weekdays cost 100, weekends 40, from 2024-01-01 (a Monday) for `days` days.
    fn weekly(days: u64) -> Daily {
        date("2024-01-01")
            .iter_days()
            .take(days as usize)
            .map(|day| {
                let amount = if day.weekday().num_days_from_monday() >= 5 {
                    40
                } else {
                    100
                };
                (day, Decimal::from(amount))
            })
            .collect()
    }

    #[test]
    fn a_weekly_pattern_is_forecast_exactly_by_weekday() {
        let history = weekly(56);
        let model = Model::fit(&history, date("2024-02-26"), Method::WeekdaySeasonal);
        assert_eq!(model.day(date("2024-02-26")), Decimal::from(100), "Monday");
        assert_eq!(model.day(date("2024-03-02")), Decimal::from(40), "Saturday");
        let flat = Model::fit(&history, date("2024-02-26"), Method::FlatRunRate);
        assert_eq!(
            flat.day(date("2024-03-02")),
            Decimal::from(580) / Decimal::from(7)
        );
    }

    #[test]
    fn month_end_adds_the_forecast_of_the_remaining_days_to_what_was_spent() {
        let history = weekly(45); // to 2024-02-14
        let as_of = as_of(&history, date("2024-02-20"));
        assert_eq!(
            as_of,
            date("2024-02-15"),
            "bills lag: forecast from the last billed day"
        );
        let forecast = forecast("USD", &history, as_of);
        // 1–14 Feb: 10 weekdays, 4 weekend days = 1160; 15–29 Feb: 11 weekdays, 4 weekend days.
        assert_eq!(forecast.month_to_date, Decimal::from(1160));
        assert_eq!(forecast.month_end, Decimal::from(1160 + 1100 + 160));
        // March 2024: 21 weekdays, 10 weekend days.
        assert_eq!(forecast.next_month, Decimal::from(2100 + 400));
    }

    #[test]
    fn the_backtest_scores_the_seasonal_model_better_than_the_flat_one_on_seasonal_spend() {
        let report = backtest("USD", &weekly(120));
        assert_eq!(report.daily_mape, Some(Decimal::ZERO));
        assert!(report.daily_mape_flat.unwrap() > Decimal::from(10));
        assert_eq!(
            report.months_evaluated, 2,
            "February and March are whole after warm-up"
        );
        assert!(report.next_month_mape.unwrap() < Decimal::ONE);
    }

    #[test]
    fn no_history_forecasts_nothing() {
        let forecast = forecast("USD", &Daily::new(), date("2024-02-10"));
        assert_eq!(forecast.month_end, Decimal::ZERO);
        assert_eq!(backtest("USD", &Daily::new()).days_evaluated, 0);
    }
}
