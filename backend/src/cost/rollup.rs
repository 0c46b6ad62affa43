//! Daily rollups summed while the file is read, so the database never scans the rows again.
//!
//! Rows are grouped by unit, dimension and 15-minute UTC bucket of `ChargePeriodStart` (every
//! time zone's offset is a multiple of 15 minutes); PostgreSQL then cuts the buckets into days of
//! the tenant's time zone. Sums are exact decimals: a value `rust_decimal` cannot hold exactly
//! (more than 28 digits), or a sum that would overflow, makes the rollup `inexact`, and the
//! importer sums in SQL instead.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

use super::focus::{COLUMN_COUNT, Parsed, col, is_null};

const BUCKET_SECONDS: i64 = 15 * 60;
/// Marks a null dimension in a key.
const NULL: u32 = u32::MAX;

/// The dimensions of `cost_daily`, in its column order.
const DIMENSIONS: [usize; 6] = [
    col::SUB_ACCOUNT_ID,
    col::SERVICE_NAME,
    col::SERVICE_CATEGORY,
    col::REGION_ID,
    col::CHARGE_CATEGORY,
    col::BILLING_CURRENCY,
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Key {
    account: u32,
    period: DateTime<Utc>,
    bucket: i64,
    provider: u32,
    dimensions: [u32; 6],
    cluster: u32,
    tags: u32,
}

#[derive(Debug, Clone, Default)]
pub struct Sums {
    pub billed: Decimal,
    pub effective: Decimal,
    pub list: Option<Decimal>,
    pub contracted: Option<Decimal>,
    pub line_items: i64,
}

/// One group of the rollup, with its dimension values.
#[derive(Debug)]
pub struct Group<'r> {
    pub billing_account_id: &'r str,
    pub billing_period_start: DateTime<Utc>,
    pub bucket: DateTime<Utc>,
    pub provider: &'r str,
    /// Sub-account, service, service category, region, charge category, currency.
    pub dimensions: [Option<&'r str>; 6],
    pub cluster: Option<&'r str>,
    /// The tenant's tag dimensions, as JSON.
    pub tags: Option<&'r str>,
    pub sums: &'r Sums,
}

#[derive(Debug, Default)]
pub struct Rollup {
    /// Each distinct text once; keys hold their index.
    names: HashMap<String, u32>,
    texts: Vec<String>,
    groups: HashMap<Key, Sums>,
    inexact: bool,
}

impl Rollup {
    fn intern(&mut self, value: &str) -> u32 {
        if let Some(&index) = self.names.get(value) {
            return index;
        }
        let index = u32::try_from(self.texts.len()).unwrap_or(NULL - 1);
        self.names.insert(value.to_owned(), index);
        self.texts.push(value.to_owned());
        index
    }

    fn text(&self, index: u32) -> Option<&str> {
        (index != NULL)
            .then(|| self.texts.get(index as usize).map(String::as_str))
            .flatten()
    }

    /// Adds a valid row (as checked by the encoder).
    pub fn add(&mut self, values: &[Option<&str>; COLUMN_COUNT], parsed: &Parsed) {
        if self.inexact {
            return;
        }
        let value = |index: usize| values[index].filter(|v| !is_null(v));
        let provider = value(col::SERVICE_PROVIDER_NAME)
            .or_else(|| value(col::PROVIDER_NAME))
            .unwrap_or("Unknown");
        let mut dimensions = [NULL; 6];
        for (slot, index) in dimensions.iter_mut().zip(DIMENSIONS) {
            if let Some(v) = value(index) {
                *slot = self.intern(v);
            }
        }
        let cluster = parsed.cluster.as_deref().map_or(NULL, |c| self.intern(c));
        let tags = parsed.tags.as_deref().map_or(NULL, |t| self.intern(t));
        let key = Key {
            account: self.intern(&parsed.unit.billing_account_id),
            period: parsed.unit.billing_period_start,
            bucket: parsed
                .charge_period_start
                .timestamp()
                .div_euclid(BUCKET_SECONDS),
            provider: self.intern(provider),
            dimensions,
            cluster,
            tags,
        };
        let amounts = (
            value(col::BILLED_COST).and_then(exact),
            value(col::EFFECTIVE_COST).and_then(exact),
            value(col::LIST_COST).map(exact),
            value(col::CONTRACTED_COST).map(exact),
        );
        let (Some(billed), Some(effective), list, contracted) = amounts else {
            self.inexact = true;
            return;
        };
        if list == Some(None) || contracted == Some(None) {
            self.inexact = true;
            return;
        }
        let sums = self.groups.entry(key).or_default();
        let added = (|| {
            sums.billed = sums.billed.checked_add(billed)?;
            sums.effective = sums.effective.checked_add(effective)?;
            if let Some(Some(list)) = list {
                sums.list = Some(sums.list.unwrap_or_default().checked_add(list)?);
            }
            if let Some(Some(contracted)) = contracted {
                sums.contracted = Some(
                    sums.contracted
                        .unwrap_or_default()
                        .checked_add(contracted)?,
                );
            }
            sums.line_items += 1;
            Some(())
        })();
        if added.is_none() {
            self.inexact = true;
        }
    }

    /// Whether the sums are exact; otherwise they must be computed in SQL.
    #[must_use]
    pub fn is_exact(&self) -> bool {
        !self.inexact
    }

    pub fn groups(&self) -> impl Iterator<Item = Group<'_>> {
        self.groups.iter().map(|(key, sums)| Group {
            billing_account_id: self.text(key.account).unwrap_or_default(),
            billing_period_start: key.period,
            bucket: DateTime::from_timestamp(key.bucket * BUCKET_SECONDS, 0).unwrap_or_default(),
            provider: self.text(key.provider).unwrap_or_default(),
            dimensions: key.dimensions.map(|index| self.text(index)),
            cluster: self.text(key.cluster),
            tags: self.text(key.tags),
            sums,
        })
    }
}

/// A FOCUS number as an exact decimal, if `Decimal` holds it without rounding.
fn exact(value: &str) -> Option<Decimal> {
    match value.find(['e', 'E']) {
        None => Decimal::from_str_exact(value).ok(),
        Some(at) => {
            let parsed = Decimal::from_scientific(value).ok()?;
            // `from_scientific` may round digits beyond its scale away: keep only a whole read.
            (significant(&value[..at]) == significant(&parsed.normalize().to_string()))
                .then_some(parsed)
        }
    }
}

/// The significant digits of a decimal's text.
fn significant(text: &str) -> String {
    let digits: String = text.chars().filter(char::is_ascii_digit).collect();
    digits.trim_matches('0').to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cost::focus::Unit;

    fn row<'a>(billed: &'a str, region: Option<&'a str>) -> [Option<&'a str>; COLUMN_COUNT] {
        let mut values = [None; COLUMN_COUNT];
        values[col::BILLED_COST] = Some(billed);
        values[col::EFFECTIVE_COST] = Some("1");
        values[col::LIST_COST] = Some("");
        values[col::CONTRACTED_COST] = Some("2.5");
        values[col::PROVIDER_NAME] = Some("AWS");
        values[col::SERVICE_NAME] = Some("EC2");
        values[col::SERVICE_CATEGORY] = Some("Compute");
        values[col::CHARGE_CATEGORY] = Some("Usage");
        values[col::BILLING_CURRENCY] = Some("USD");
        values[col::REGION_ID] = region;
        values
    }

    fn parsed(minute: u32) -> Parsed {
        Parsed {
            unit: Unit {
                billing_account_id: "acct".into(),
                billing_period_start: "2024-09-01T00:00:00Z".parse().unwrap(),
            },
            charge_period_start: format!("2024-09-03T10:{minute:02}:00Z").parse().unwrap(),
            cluster: None,
            tags: None,
        }
    }

    #[test]
    fn rows_of_one_bucket_and_dimension_sum_exactly_into_one_group() {
        let mut rollup = Rollup::default();
        rollup.add(&row("0.1", Some("eu")), &parsed(0));
        rollup.add(&row("0.2", Some("eu")), &parsed(14));
        rollup.add(&row("35.2E-7", Some("eu")), &parsed(15));
        rollup.add(&row("1", None), &parsed(0));
        assert!(rollup.is_exact());
        let mut groups: Vec<_> = rollup.groups().collect();
        groups.sort_by_key(|g| (g.bucket, g.dimensions[3].map(str::to_owned)));
        assert_eq!(groups.len(), 3);
        assert_eq!(
            groups[1].sums.billed,
            "0.3".parse::<Decimal>().unwrap(),
            "0.1 + 0.2, exactly"
        );
        assert_eq!(groups[1].sums.line_items, 2);
        assert_eq!(groups[1].sums.list, None, "an empty ListCost is left out");
        assert_eq!(groups[1].sums.contracted, Some("5.0".parse().unwrap()));
        assert_eq!(groups[0].dimensions[3], None);
        assert_eq!(
            groups[2].sums.billed,
            "0.00000352".parse::<Decimal>().unwrap()
        );
        assert_eq!(groups[2].provider, "AWS");
    }

    #[test]
    fn a_number_too_precise_for_an_exact_sum_hands_the_rollup_to_sql() {
        let mut rollup = Rollup::default();
        rollup.add(&row("0.1234567890123456789012345678901", None), &parsed(0));
        assert!(!rollup.is_exact());
        let mut tiny = Rollup::default();
        tiny.add(&row("1E-30", None), &parsed(0));
        assert!(!tiny.is_exact());
        let mut huge = Rollup::default();
        huge.add(&row("70000000000000000000000000000", None), &parsed(0));
        huge.add(&row("70000000000000000000000000000", None), &parsed(0));
        assert!(!huge.is_exact(), "the sum overflows");
    }
}
