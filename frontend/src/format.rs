//! What the pages show people: money, ages, date ranges and chart series. Plain functions with
//! no browser in them, so they are unit-tested natively (`cargo test -p nimbus-frontend`).

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, Months, NaiveDate, Utc};
use nimbus_api_types::cost::CostRow;
use rust_decimal::{Decimal, RoundingStrategy};

/// An amount in its currency for people: `$1,234.56`, `-€12.00`, `¥1,235`, `CHF 3.50`.
#[must_use]
pub fn money(amount: Decimal, currency: &str) -> String {
    let places = minor_units(currency);
    let rounded = amount.round_dp_with_strategy(places, RoundingStrategy::MidpointAwayFromZero);
    let sign = if rounded.is_sign_negative() && !rounded.is_zero() {
        "-"
    } else {
        ""
    };
    let digits = format!("{:.*}", places as usize, rounded.abs());
    let (whole, fraction) = digits.split_once('.').unwrap_or((&digits, ""));
    let grouped = group_thousands(whole);
    let number = if fraction.is_empty() {
        grouped
    } else {
        format!("{grouped}.{fraction}")
    };
    match symbol(currency) {
        Some(symbol) => format!("{sign}{symbol}{number}"),
        None => format!("{sign}{currency} {number}"),
    }
}

/// A percentage with at most one decimal: `80%`, `12.5%`.
#[must_use]
pub fn percent(value: Decimal) -> String {
    let rounded = value
        .round_dp_with_strategy(1, RoundingStrategy::MidpointAwayFromZero)
        .normalize();
    format!("{rounded}%")
}

fn minor_units(currency: &str) -> u32 {
    match currency {
        "JPY" | "KRW" | "VND" | "CLP" | "ISK" => 0,
        _ => 2,
    }
}

fn symbol(currency: &str) -> Option<&'static str> {
    Some(match currency {
        "USD" => "$",
        "EUR" => "€",
        "GBP" => "£",
        "JPY" => "¥",
        "CNY" => "CN¥",
        "INR" => "₹",
        _ => return None,
    })
}

fn group_thousands(digits: &str) -> String {
    let mut grouped = String::with_capacity(digits.len() + digits.len() / 3);
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    grouped
}

/// How long ago `then` was, for a "last contact" column: `just now`, `5 min ago`, `3 h ago`,
/// `2 days ago`.
#[must_use]
pub fn age(then: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let seconds = (now - then).num_seconds().max(0);
    match seconds {
        0..45 => "just now".to_owned(),
        45..5_400 => format!("{} min ago", (seconds + 30) / 60),
        5_400..129_600 => format!("{} h ago", (seconds + 1_800) / 3_600),
        _ => format!("{} days ago", (seconds + 43_200) / 86_400),
    }
}

/// The explorer's preset time ranges.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeRange {
    ThisMonth,
    LastMonth,
    LastThreeMonths,
    YearToDate,
}

impl TimeRange {
    pub const ALL: [Self; 4] = [
        Self::ThisMonth,
        Self::LastMonth,
        Self::LastThreeMonths,
        Self::YearToDate,
    ];

    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::ThisMonth => "this-month",
            Self::LastMonth => "last-month",
            Self::LastThreeMonths => "last-3-months",
            Self::YearToDate => "year-to-date",
        }
    }

    #[must_use]
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|range| range.as_str() == name)
    }

    #[must_use]
    pub const fn label(self) -> &'static str {
        match self {
            Self::ThisMonth => "This month",
            Self::LastMonth => "Last month",
            Self::LastThreeMonths => "Last 3 months",
            Self::YearToDate => "Year to date",
        }
    }

    /// The first day and the day after the last, as the API takes them (`from`, `to`).
    #[must_use]
    pub fn bounds(self, today: NaiveDate) -> (NaiveDate, NaiveDate) {
        let this_month = month_start(today);
        let next_month = this_month + Months::new(1);
        match self {
            Self::ThisMonth => (this_month, next_month),
            Self::LastMonth => (this_month - Months::new(1), this_month),
            Self::LastThreeMonths => (this_month - Months::new(2), next_month),
            Self::YearToDate => (this_month.with_month(1).unwrap_or(this_month), next_month),
        }
    }
}

/// The first day of `day`'s month.
#[must_use]
pub fn month_start(day: NaiveDate) -> NaiveDate {
    day.with_day(1).unwrap_or(day)
}

/// One line of a chart: a group's amount in each period of [`Chart::periods`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Series {
    pub name: String,
    pub amounts: Vec<Decimal>,
    pub total: Decimal,
}

/// Explorer rows of one currency laid out for a chart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chart {
    pub currency: String,
    pub periods: Vec<NaiveDate>,
    /// Largest total first; past `max_series`, the rest are summed as "Other".
    pub series: Vec<Series>,
    /// Other currencies in the rows, which a single axis cannot show.
    pub left_out_currencies: Vec<String>,
}

/// Lays explorer rows out by period and by their first group value, in the currency with the
/// largest total (amounts of different currencies are never added together).
#[must_use]
pub fn chart(rows: &[CostRow], max_series: usize) -> Option<Chart> {
    let mut by_currency: BTreeMap<&str, Decimal> = BTreeMap::new();
    for row in rows {
        *by_currency.entry(&row.currency).or_default() += row.amount;
    }
    let currency = by_currency
        .iter()
        .max_by(|a, b| a.1.abs().cmp(&b.1.abs()).then(b.0.cmp(a.0)))
        .map(|(currency, _)| (*currency).to_owned())?;
    let rows: Vec<&CostRow> = rows.iter().filter(|row| row.currency == currency).collect();
    let periods: Vec<NaiveDate> = rows
        .iter()
        .map(|row| row.period)
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    let mut groups: BTreeMap<String, Vec<Decimal>> = BTreeMap::new();
    for row in &rows {
        let name = row
            .group
            .first()
            .cloned()
            .flatten()
            .unwrap_or_else(|| "(none)".to_owned());
        let amounts = groups
            .entry(name)
            .or_insert_with(|| vec![Decimal::ZERO; periods.len()]);
        if let Ok(index) = periods.binary_search(&row.period) {
            amounts[index] += row.amount;
        }
    }
    let mut series: Vec<Series> = groups
        .into_iter()
        .map(|(name, amounts)| Series {
            total: amounts.iter().sum(),
            name,
            amounts,
        })
        .collect();
    series.sort_by(|a, b| b.total.cmp(&a.total).then_with(|| a.name.cmp(&b.name)));
    if series.len() > max_series && max_series > 0 {
        let rest = series.split_off(max_series - 1);
        let mut other = Series {
            name: "Other".to_owned(),
            amounts: vec![Decimal::ZERO; periods.len()],
            total: Decimal::ZERO,
        };
        for series in rest {
            for (sum, amount) in other.amounts.iter_mut().zip(series.amounts) {
                *sum += amount;
            }
            other.total += series.total;
        }
        series.push(other);
    }
    Some(Chart {
        left_out_currencies: by_currency
            .into_keys()
            .filter(|other| *other != currency)
            .map(str::to_owned)
            .collect(),
        currency,
        periods,
        series,
    })
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use super::*;

    fn dec(text: &str) -> Decimal {
        Decimal::from_str(text).unwrap()
    }

    fn day(text: &str) -> NaiveDate {
        NaiveDate::from_str(text).unwrap()
    }

    fn row(period: &str, group: Option<&str>, currency: &str, amount: &str) -> CostRow {
        CostRow {
            period: day(period),
            group: vec![group.map(str::to_owned)],
            currency: currency.to_owned(),
            amount: dec(amount),
        }
    }

    #[test]
    fn money_groups_thousands_rounds_half_away_from_zero_and_keeps_the_sign() {
        assert_eq!(money(dec("1234567.891"), "USD"), "$1,234,567.89");
        assert_eq!(money(dec("0.005"), "EUR"), "€0.01");
        assert_eq!(money(dec("-12"), "GBP"), "-£12.00");
        assert_eq!(money(dec("999.995"), "USD"), "$1,000.00");
        assert_eq!(money(dec("1234.5"), "JPY"), "¥1,235");
        assert_eq!(money(dec("3.5"), "CHF"), "CHF 3.50");
        assert_eq!(money(dec("-0.001"), "USD"), "$0.00");
        assert_eq!(money(dec("1.2E+3"), "USD"), "$1,200.00");
    }

    #[test]
    fn percentages_keep_one_decimal_at_most() {
        assert_eq!(percent(dec("80.000")), "80%");
        assert_eq!(percent(dec("12.46")), "12.5%");
        assert_eq!(percent(dec("0")), "0%");
    }

    #[test]
    fn ages_read_like_a_person_would_say_them() {
        let now = DateTime::parse_from_rfc3339("2026-12-04T12:00:00Z")
            .unwrap()
            .to_utc();
        let ago = |seconds| age(now - chrono::Duration::seconds(seconds), now);
        assert_eq!(ago(10), "just now");
        assert_eq!(ago(-30), "just now", "clock skew is not the future");
        assert_eq!(ago(100), "2 min ago");
        assert_eq!(ago(3 * 3_600), "3 h ago");
        assert_eq!(ago(3 * 86_400), "3 days ago");
    }

    #[test]
    fn time_ranges_are_half_open_month_bounds() {
        let today = day("2026-03-31");
        let bounds = |range: TimeRange| range.bounds(today);
        assert_eq!(
            bounds(TimeRange::ThisMonth),
            (day("2026-03-01"), day("2026-04-01"))
        );
        assert_eq!(
            bounds(TimeRange::LastMonth),
            (day("2026-02-01"), day("2026-03-01"))
        );
        assert_eq!(
            bounds(TimeRange::LastThreeMonths),
            (day("2026-01-01"), day("2026-04-01"))
        );
        assert_eq!(
            bounds(TimeRange::YearToDate),
            (day("2026-01-01"), day("2026-04-01"))
        );
        assert_eq!(
            TimeRange::LastMonth.bounds(day("2026-01-15")),
            (day("2025-12-01"), day("2026-01-01"))
        );
        for range in TimeRange::ALL {
            assert_eq!(TimeRange::from_name(range.as_str()), Some(range));
        }
    }

    #[test]
    fn a_chart_lays_rows_out_by_period_and_group_in_one_currency() {
        let rows = [
            row("2026-01-01", Some("aws"), "USD", "10"),
            row("2026-01-02", Some("aws"), "USD", "5"),
            row("2026-01-02", Some("azure"), "USD", "30"),
            row("2026-01-02", None, "USD", "1"),
            row("2026-01-01", Some("gcp"), "EUR", "2"),
        ];
        let chart = chart(&rows, 5).unwrap();
        assert_eq!(chart.currency, "USD");
        assert_eq!(chart.left_out_currencies, ["EUR"]);
        assert_eq!(chart.periods, [day("2026-01-01"), day("2026-01-02")]);
        let names: Vec<&str> = chart.series.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["azure", "aws", "(none)"]);
        assert_eq!(chart.series[0].amounts, [dec("0"), dec("30")]);
        assert_eq!(chart.series[1].amounts, [dec("10"), dec("5")]);
        assert_eq!(chart.series[1].total, dec("15"));
    }

    #[test]
    fn groups_past_the_limit_are_summed_as_other() {
        let rows: Vec<CostRow> = (1..=5)
            .map(|n| row("2026-01-01", Some(&format!("s{n}")), "USD", &n.to_string()))
            .collect();
        let chart = chart(&rows, 3).unwrap();
        let names: Vec<&str> = chart.series.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["s5", "s4", "Other"]);
        assert_eq!(chart.series[2].total, dec("6"));
        assert_eq!(chart.series[2].amounts, [dec("6")]);
    }

    #[test]
    fn no_rows_make_no_chart() {
        assert_eq!(chart(&[], 5), None);
    }
}
