//! PostgreSQL's binary `COPY` format, for the values a bill has: the server stores these bytes
//! without parsing text, which is most of what a text `COPY` costs it.
//! Format: <https://www.postgresql.org/docs/current/sql-copy.html#id-1.9.3.55.9.4>; the value
//! layouts are those of each type's `*_send` function.

use chrono::{DateTime, Utc};

/// The file header: signature, flags, header-extension length.
pub const HEADER: &[u8] = b"PGCOPY\n\xff\r\n\0\0\0\0\0\0\0\0\0";
/// The end-of-data marker: a field count of -1.
pub const TRAILER: &[u8] = &[0xff, 0xff];

/// Microseconds from the Unix epoch to PostgreSQL's (2000-01-01T00:00:00Z).
const POSTGRES_EPOCH_MICROS: i64 = 946_684_800_000_000;
const NUMERIC_NEGATIVE: u16 = 0x4000;

/// Starts a row of `fields` values.
pub fn row(out: &mut Vec<u8>, fields: i16) {
    out.extend_from_slice(&fields.to_be_bytes());
}

pub fn null(out: &mut Vec<u8>) {
    out.extend_from_slice(&(-1_i32).to_be_bytes());
}

/// A value of `bytes.len()` bytes (text is its UTF-8 bytes).
pub fn bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    let len = i32::try_from(bytes.len()).unwrap_or(i32::MAX);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(bytes);
}

pub fn uuid(out: &mut Vec<u8>, id: uuid::Uuid) {
    bytes(out, id.as_bytes());
}

/// `timestamptz`: microseconds since 2000-01-01 UTC (rounded to the microsecond, as PostgreSQL
/// rounds text input).
pub fn timestamptz(out: &mut Vec<u8>, at: DateTime<Utc>) {
    let micros = at.timestamp() * 1_000_000
        + i64::from(at.timestamp_subsec_nanos().saturating_add(500) / 1_000)
        - POSTGRES_EPOCH_MICROS;
    bytes(out, &micros.to_be_bytes());
}

/// `jsonb`: a version byte, then the JSON text.
pub fn jsonb(out: &mut Vec<u8>, json: &str) {
    let len = i32::try_from(json.len() + 1).unwrap_or(i32::MAX);
    out.extend_from_slice(&len.to_be_bytes());
    out.push(1);
    out.extend_from_slice(json.as_bytes());
}

/// `numeric` from a decimal in FOCUS NumericFormat (see `focus::is_focus_number`; anything else
/// gives `None`), with the value and display scale PostgreSQL's own text input gives it.
pub fn numeric(out: &mut Vec<u8>, value: &str) -> Option<()> {
    let parts = Numeric::parse(value)?;
    let len = 8 + 2 * parts.digits.len();
    out.extend_from_slice(&i32::try_from(len).ok()?.to_be_bytes());
    out.extend_from_slice(&i16::try_from(parts.digits.len()).ok()?.to_be_bytes());
    out.extend_from_slice(&parts.weight.to_be_bytes());
    out.extend_from_slice(&parts.sign.to_be_bytes());
    out.extend_from_slice(&parts.scale.to_be_bytes());
    for digit in parts.digits {
        out.extend_from_slice(&digit.to_be_bytes());
    }
    Some(())
}

/// A number as PostgreSQL stores it: base-10000 digits, the power of 10000 of the first one,
/// the sign and the number of decimal digits shown after the point.
#[derive(Debug, PartialEq, Eq)]
struct Numeric {
    digits: Vec<i16>,
    weight: i16,
    sign: u16,
    scale: u16,
}

impl Numeric {
    fn parse(value: &str) -> Option<Self> {
        let (negative, unsigned) = match value.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, value),
        };
        let (mantissa, exponent) = match unsigned.find(['e', 'E']) {
            Some(at) => (&unsigned[..at], unsigned[at + 1..].parse::<i32>().ok()?),
            None => (unsigned, 0),
        };
        let (integer, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
        if !(integer.bytes().chain(fraction.bytes())).all(|b| b.is_ascii_digit())
            || integer.len() + fraction.len() == 0
        {
            return None;
        }
        let scale = u16::try_from((i32::try_from(fraction.len()).ok()? - exponent).max(0)).ok()?;
        // The digits d1 d2 … with d1 at the decimal position 10^(point - 1).
        let all = integer.bytes().chain(fraction.bytes()).map(|b| b - b'0');
        let mut point = i32::try_from(integer.len()).ok()? + exponent;
        let mut significant: Vec<u8> = Vec::with_capacity(integer.len() + fraction.len());
        for digit in all {
            if significant.is_empty() && digit == 0 {
                point -= 1;
            } else {
                significant.push(digit);
            }
        }
        while significant.last() == Some(&0) {
            significant.pop();
        }
        if significant.is_empty() {
            return Some(Self {
                digits: Vec::new(),
                weight: 0,
                sign: 0,
                scale,
            });
        }
        // Group by base-10000 position: the group of decimal position p is p.div_euclid(4).
        let first = point - 1;
        let weight = i16::try_from(first.div_euclid(4)).ok()?;
        let mut padded = vec![0_u8; usize::try_from(3 - first.rem_euclid(4)).ok()?];
        padded.extend_from_slice(&significant);
        padded.resize(padded.len().div_ceil(4) * 4, 0);
        let mut digits: Vec<i16> = padded
            .chunks(4)
            .map(|group| group.iter().fold(0_i16, |acc, d| acc * 10 + i16::from(*d)))
            .collect();
        while digits.last() == Some(&0) {
            digits.pop();
        }
        Some(Self {
            digits,
            weight,
            sign: if negative { NUMERIC_NEGATIVE } else { 0 },
            scale,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(value: &str) -> (Vec<i16>, i16, u16, u16) {
        let n = Numeric::parse(value).unwrap();
        (n.digits, n.weight, n.sign, n.scale)
    }

    #[test]
    fn numerics_have_the_digits_weight_and_scale_postgres_gives_their_text() {
        assert_eq!(parts("1.50"), (vec![1, 5000], 0, 0, 2));
        assert_eq!(parts("0.00000352"), (vec![352], -2, 0, 8));
        assert_eq!(parts("35.2E-7"), (vec![352], -2, 0, 8));
        assert_eq!(parts("1e3"), (vec![1000], 0, 0, 0));
        assert_eq!(parts("12345.678"), (vec![1, 2345, 6780], 1, 0, 3));
        assert_eq!(parts("-0.0001"), (vec![1], -1, NUMERIC_NEGATIVE, 4));
        assert_eq!(parts("100000000"), (vec![1], 2, 0, 0));
        assert_eq!(parts(".5"), (vec![5000], -1, 0, 1));
        assert_eq!(parts("2."), (vec![2], 0, 0, 0));
        assert_eq!(
            parts("-0.0E-10"),
            (vec![], 0, 0, 11),
            "zero keeps its scale and loses its sign"
        );
        assert_eq!(parts("0.00000080000"), (vec![80], -2, 0, 11));
        assert_eq!(Numeric::parse("1,5"), None);
        assert_eq!(Numeric::parse("-"), None);
    }

    #[test]
    fn timestamps_count_microseconds_from_the_year_2000() {
        let mut out = Vec::new();
        timestamptz(&mut out, "2000-01-01T00:00:01.0000005Z".parse().unwrap());
        assert_eq!(
            out,
            [&8_i32.to_be_bytes()[..], &1_000_001_i64.to_be_bytes()].concat()
        );
    }
}
