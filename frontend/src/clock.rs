//! The browser's clock, in UTC like every date of the API.

use chrono::{DateTime, NaiveDate, Utc};

/// Now, from the browser's clock.
#[must_use]
pub fn now() -> DateTime<Utc> {
    // `Date.now()` is milliseconds since the epoch, exact in an f64 until the year 287,396.
    #[allow(clippy::cast_possible_truncation)]
    let millis = js_sys::Date::now() as i64;
    DateTime::from_timestamp_millis(millis).unwrap_or_default()
}

/// Today's date in UTC.
#[must_use]
pub fn today() -> NaiveDate {
    now().date_naive()
}
