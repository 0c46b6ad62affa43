//! What the native-format converters (`aws`, `azure`, `oracle`) share: finding their columns,
//! reading a value (empty means none), tag columns, extensions and their errors.

use std::borrow::Cow;
use std::collections::HashMap;

use chrono::NaiveDate;
use nimbus_api_types::cost::ImportIssue;
use rust_decimal::Decimal;

use super::focus::{Row, is_null};

/// A file's columns by name (as the converter spells them) → position.
#[derive(Debug, Default)]
pub struct Columns(HashMap<String, usize>);

impl Columns {
    pub fn insert(&mut self, name: String, position: usize) {
        self.0.insert(name, position);
    }

    #[must_use]
    pub fn contains(&self, name: &str) -> bool {
        self.0.contains_key(name)
    }

    /// The value of `name` in `record`; `None` when the column is absent or the value empty.
    #[must_use]
    pub fn get<'r>(&self, record: &'r csv::StringRecord, name: &str) -> Option<&'r str> {
        self.0
            .get(name)
            .and_then(|position| record.get(*position))
            .filter(|value| !is_null(value))
    }

    /// The columns of a header (without the byte-order mark some exports put before the first
    /// name), or an error for each `required` column it lacks.
    pub fn of_header<'h>(
        header: impl IntoIterator<Item = &'h str>,
        required: &[&str],
        message: &str,
    ) -> Result<Self, Vec<ImportIssue>> {
        let mut columns = Self::default();
        for (position, name) in header.into_iter().enumerate() {
            columns.insert(
                name.strip_prefix('\u{feff}').unwrap_or(name).to_owned(),
                position,
            );
        }
        let missing = columns.missing(required, message);
        if missing.is_empty() {
            Ok(columns)
        } else {
            Err(missing)
        }
    }

    /// Errors for the `required` columns the header lacks.
    #[must_use]
    pub fn missing(&self, required: &[&str], message: &str) -> Vec<ImportIssue> {
        required
            .iter()
            .filter(|name| !self.contains(name))
            .flat_map(|name| issue(1, name, message.to_owned()))
            .collect()
    }
}

/// Whether a header (or a JSON row's names) has every one of `names`.
pub fn has_all<'h>(header: impl IntoIterator<Item = &'h str>, names: &[&str]) -> bool {
    let header: Vec<&str> = header.into_iter().collect();
    names.iter().all(|name| header.contains(name))
}

/// One error of a row, naming the native column.
#[must_use]
pub fn issue(row: u64, column: &str, message: String) -> Vec<ImportIssue> {
    vec![ImportIssue {
        row: Some(row),
        column: Some(column.to_owned()),
        message,
        count: 1,
    }]
}

/// Tag columns (position, key) of a record as one JSON object; `None` when all are empty.
#[must_use]
pub fn tags(record: &csv::StringRecord, columns: &[(usize, String)]) -> Option<String> {
    let object: serde_json::Map<String, serde_json::Value> = columns
        .iter()
        .filter_map(|(position, key)| {
            record
                .get(*position)
                .filter(|value| !value.is_empty())
                .map(|value| (key.clone(), serde_json::Value::from(value)))
        })
        .collect();
    (!object.is_empty()).then(|| serde_json::Value::Object(object).to_string())
}

/// Keeps native columns as `x_` extensions: (native column, extension name) pairs.
pub fn keep<'r>(
    row: &mut Row<'r>,
    columns: &Columns,
    record: &'r csv::StringRecord,
    pairs: &[(&str, &'static str)],
) {
    for (name, extension) in pairs {
        if let Some(value) = columns.get(record, name) {
            row.extensions
                .push((Cow::Borrowed(*extension), Cow::Borrowed(value)));
        }
    }
}

/// A decimal as the exports write them (plain or E-notation); `None` when absent or not one.
#[must_use]
pub fn number(value: Option<&str>) -> Option<Decimal> {
    let value = value?;
    Decimal::from_str_exact(value)
        .or_else(|_| Decimal::from_scientific(value))
        .ok()
}

/// An amount column of a row: zero when empty, an error naming the column when not a number.
pub fn amount(value: Option<&str>, line: u64, column: &str) -> Result<Decimal, Vec<ImportIssue>> {
    match value {
        None => Ok(Decimal::ZERO),
        Some(text) => number(Some(text))
            .ok_or_else(|| issue(line, column, format!("`{text}` is not a number"))),
    }
}

/// The start of `day` (UTC) as FOCUS writes it.
#[must_use]
pub fn midnight(day: NaiveDate) -> String {
    format!("{}T00:00:00Z", day.format("%Y-%m-%d"))
}
