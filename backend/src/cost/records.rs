//! A bill file as a header and rows of text, whatever it is written in: CSV, or JSON rows
//! (Google Cloud's billing export as newline-delimited JSON, Alibaba Cloud's `QueryInstanceBill`
//! answers), either gzip-compressed, or Parquet (AWS Data Exports, FOCUS exports). The
//! converters see one shape — a `csv::StringRecord` per row under a header — so each format is
//! mapped once.
//!
//! Parquet columns become text as an export would write them in CSV: timestamps in RFC 3339 UTC,
//! decimals exactly, maps, lists and groups (CUR 2.0's `resource_tags`) as JSON. Rows stream one
//! row group at a time (the record reader holds one group's column chunks).
//!
//! JSON rows are flattened: nested objects become dotted names (`service.description`), arrays
//! stay JSON text (`labels`, `credits`). The header is the format's documented fields plus the
//! first row's, so a field a later row adds is read when the format knows it. Numbers come
//! through `f64` and are written back in their shortest exact form — lossless for the float
//! amounts these exports write. Rows stream: one JSON value is in memory at a time (an
//! Alibaba answer page holds at most a few hundred items).

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use nimbus_api_types::cost::ImportIssue;
use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet::record::Field;
use parquet::record::reader::RowIter;
use serde_json::{Map, Value};

type Source = Box<dyn Read + Send>;
type JsonStream = serde_json::StreamDeserializer<'static, serde_json::de::IoRead<Source>, Value>;

/// The rows of a bill file.
pub enum Records {
    Csv(csv::Reader<Source>),
    Json(JsonRows),
    /// A Parquet file, or why it cannot be read.
    Parquet(Result<ParquetRows, String>),
}

pub struct ParquetRows {
    rows: RowIter<'static>,
    header: Vec<String>,
    rows_total: u64,
    rows_done: u64,
    file_bytes: u64,
    /// Progress: the share of the file's bytes as the share of its rows read.
    counter: Option<Arc<AtomicU64>>,
}

const PARQUET_MAGIC: &[u8; 4] = b"PAR1";

pub struct JsonRows {
    stream: JsonStream,
    header: Vec<String>,
    /// Rows of the current value not yet handed out (an answer page holds many), with the
    /// fields of its envelope that every row carries.
    pending: std::vec::IntoIter<Map<String, Value>>,
    first: Option<Map<String, Value>>,
    rows: u64,
}

fn issue(row: Option<u64>, message: String) -> ImportIssue {
    ImportIssue {
        row,
        column: None,
        message,
        count: 1,
    }
}

impl Records {
    /// Opens `path` (gzip or not), counting the bytes read from disk into `counter`.
    pub fn open(path: &Path, counter: Option<Arc<AtomicU64>>) -> std::io::Result<Self> {
        let mut probe = [0_u8; 4];
        let read = File::open(path)?.read(&mut probe)?;
        if read == 4 && &probe == PARQUET_MAGIC {
            return Ok(Self::Parquet(ParquetRows::open(path, counter)));
        }
        let gzip = read >= 2 && probe[..2] == [0x1f, 0x8b];
        let open = || -> std::io::Result<Source> {
            let file = CountingReader {
                inner: File::open(path)?,
                counter: counter.clone(),
            };
            Ok(if gzip {
                Box::new(flate2::read::MultiGzDecoder::new(BufReader::new(file)))
            } else {
                Box::new(BufReader::with_capacity(1 << 16, file))
            })
        };
        // JSON starts with `{` (after any blank space); the first CSV byte never does.
        let mut head = [0_u8; 64];
        let mut source = open()?;
        let read = source.read(&mut head)?;
        let json = head[..read]
            .iter()
            .find(|byte| !byte.is_ascii_whitespace())
            .is_some_and(|byte| *byte == b'{');
        let source = open()?;
        Ok(if json {
            Self::Json(JsonRows {
                stream: serde_json::Deserializer::from_reader(source).into_iter(),
                header: Vec::new(),
                pending: Vec::new().into_iter(),
                first: None,
                rows: 0,
            })
        } else {
            Self::Csv(
                csv::ReaderBuilder::new()
                    .has_headers(true)
                    .buffer_capacity(1 << 16)
                    .from_reader(source),
            )
        })
    }

    /// The header: the CSV's first line, or for JSON the fields `known_fields` gives for the
    /// first row's names (the format's documented fields), then the first row's others.
    pub fn header(
        &mut self,
        known_fields: impl Fn(&[&str]) -> Option<&'static [&'static str]>,
    ) -> Result<csv::StringRecord, ImportIssue> {
        match self {
            Self::Csv(reader) => reader.headers().cloned().map_err(|err| csv_error(&err)),
            Self::Parquet(Ok(rows)) => Ok(rows.header.iter().collect()),
            Self::Parquet(Err(message)) => Err(issue(None, message.clone())),
            Self::Json(rows) => {
                let first = rows
                    .next_row()?
                    .ok_or_else(|| issue(None, "the file holds no bill rows".to_owned()))?;
                let names: Vec<&str> = first.keys().map(String::as_str).collect();
                let fields = known_fields(&names).ok_or_else(|| {
                    issue(
                        Some(1),
                        "these JSON rows are not a known bill: expected Google Cloud billing \
                             export rows (newline-delimited JSON) or Alibaba Cloud \
                             QueryInstanceBill answers"
                            .to_owned(),
                    )
                })?;
                let mut header: Vec<String> = fields.iter().map(|f| (*f).to_owned()).collect();
                for key in first.keys() {
                    if !header.iter().any(|known| known == key) {
                        header.push(key.clone());
                    }
                }
                rows.header = header;
                rows.first = Some(first);
                Ok(rows.header.iter().collect())
            }
        }
    }

    /// Reads the next row into `record`; its row number (CSV: the line; JSON: the row's
    /// ordinal), or `None` at the end.
    pub fn read(&mut self, record: &mut csv::StringRecord) -> Result<Option<u64>, ImportIssue> {
        match self {
            Self::Csv(reader) => match reader.read_record(record) {
                Ok(false) => Ok(None),
                Ok(true) => Ok(Some(
                    record
                        .position()
                        .map_or(reader.position().line(), csv::Position::line),
                )),
                Err(err) => Err(csv_error(&err)),
            },
            Self::Parquet(Ok(rows)) => rows.read(record),
            Self::Parquet(Err(message)) => Err(issue(None, message.clone())),
            Self::Json(rows) => {
                let row = match rows.first.take() {
                    Some(first) => Some(first),
                    None => rows.next_row()?,
                };
                let Some(row) = row else { return Ok(None) };
                record.clear();
                for name in &rows.header {
                    match row.get(name) {
                        None | Some(Value::Null) => record.push_field(""),
                        Some(Value::String(text)) => record.push_field(text),
                        Some(other) => record.push_field(&other.to_string()),
                    }
                }
                Ok(Some(rows.rows))
            }
        }
    }
}

impl ParquetRows {
    fn open(path: &Path, counter: Option<Arc<AtomicU64>>) -> Result<Self, String> {
        let unreadable = |err: parquet::errors::ParquetError| {
            format!("the file is not a Parquet file Nimbus can read: {err}")
        };
        let file = File::open(path).map_err(|err| format!("the file could not be read: {err}"))?;
        let file_bytes = file.metadata().map_or(0, |m| m.len());
        let reader = SerializedFileReader::new(file).map_err(unreadable)?;
        let metadata = reader.metadata().file_metadata();
        let header = metadata
            .schema_descr()
            .root_schema()
            .get_fields()
            .iter()
            .map(|field| field.name().to_owned())
            .collect();
        let rows_total = u64::try_from(metadata.num_rows()).unwrap_or_default();
        Ok(Self {
            rows: RowIter::from_file_into(Box::new(reader)),
            header,
            rows_total,
            rows_done: 0,
            file_bytes,
            counter,
        })
    }

    fn read(&mut self, record: &mut csv::StringRecord) -> Result<Option<u64>, ImportIssue> {
        let row = match self.rows.next() {
            None => return Ok(None),
            Some(Ok(row)) => row,
            Some(Err(err)) => {
                return Err(issue(
                    Some(self.rows_done + 1),
                    format!("the Parquet file could not be read: {err}"),
                ));
            }
        };
        self.rows_done += 1;
        record.clear();
        for (_, field) in row.get_column_iter() {
            record.push_field(&parquet_text(field));
        }
        if let Some(counter) = &self.counter
            && self.rows_done.is_multiple_of(4096)
        {
            let share = self.file_bytes.saturating_mul(self.rows_done) / self.rows_total.max(1);
            counter.store(share.min(self.file_bytes), Ordering::Relaxed);
        }
        Ok(Some(self.rows_done))
    }
}

/// A Parquet value as a CSV export would write it.
fn parquet_text(field: &Field) -> String {
    let instant = |at: Option<chrono::DateTime<chrono::Utc>>| {
        at.map(|at| at.format("%Y-%m-%dT%H:%M:%S%.fZ").to_string())
            .unwrap_or_default()
    };
    match field {
        Field::Null => String::new(),
        Field::Str(text) => text.clone(),
        // Shortest text that reads back as the same number, never in exponent form.
        Field::Double(number) => number.to_string(),
        Field::Float(number) => number.to_string(),
        Field::TimestampMillis(ms) => instant(chrono::DateTime::from_timestamp_millis(*ms)),
        Field::TimestampMicros(us) => instant(chrono::DateTime::from_timestamp_micros(*us)),
        Field::Date(days) => chrono::NaiveDate::from_num_days_from_ce_opt(
            // Parquet dates count days from 1970-01-01.
            i32::try_from(i64::from(*days) + 719_163).unwrap_or(i32::MAX),
        )
        .map(|day| day.to_string())
        .unwrap_or_default(),
        other => match other.to_json_value() {
            Value::String(text) => text,
            Value::Null => String::new(),
            value => value.to_string(),
        },
    }
}

impl JsonRows {
    /// The next row, flattened.
    fn next_row(&mut self) -> Result<Option<Map<String, Value>>, ImportIssue> {
        loop {
            if let Some(row) = self.pending.next() {
                self.rows += 1;
                return Ok(Some(row));
            }
            let value = match self.stream.next() {
                None => return Ok(None),
                Some(Ok(value)) => value,
                Some(Err(err)) => {
                    return Err(issue(
                        Some(self.rows + 1),
                        format!("the file is not valid JSON: {err}"),
                    ));
                }
            };
            self.pending = rows_of(value)
                .map_err(|message| issue(Some(self.rows + 1), message))?
                .into_iter();
        }
    }
}

/// The rows of one JSON value: an answer page of `QueryInstanceBill` (its `Data.Items`, each
/// with the page's `BillingCycle` and `AccountID`), or one row.
fn rows_of(value: Value) -> Result<Vec<Map<String, Value>>, String> {
    let Value::Object(mut object) = value else {
        return Err("each JSON value must be an object (one row, or one answer page)".to_owned());
    };
    let Some(Value::Object(mut data)) = object.remove("Data") else {
        let mut flat = Map::new();
        flatten("", object, &mut flat);
        return Ok(vec![flat]);
    };
    let items = match data.remove("Items") {
        Some(Value::Array(items)) => items,
        // The XML-shaped rendering: `"Items": {"Item": […]}`.
        Some(Value::Object(mut wrapper)) => match wrapper.remove("Item") {
            Some(Value::Array(items)) => items,
            _ => Vec::new(),
        },
        _ => return Err("the answer's `Data` has no `Items`".to_owned()),
    };
    items
        .into_iter()
        .map(|item| {
            let Value::Object(item) = item else {
                return Err("an item of `Data.Items` is not an object".to_owned());
            };
            let mut flat = Map::new();
            for envelope in ["BillingCycle", "AccountID", "AccountName"] {
                if let Some(value) = data.get(envelope) {
                    flat.insert(envelope.to_owned(), value.clone());
                }
            }
            flatten("", item, &mut flat);
            Ok(flat)
        })
        .collect()
}

/// Nested objects become dotted names; everything else is kept as it is.
fn flatten(prefix: &str, object: Map<String, Value>, into: &mut Map<String, Value>) {
    for (key, value) in object {
        let name = if prefix.is_empty() {
            key
        } else {
            format!("{prefix}.{key}")
        };
        match value {
            Value::Object(inner) => flatten(&name, inner, into),
            other => {
                into.insert(name, other);
            }
        }
    }
}

/// Counts the bytes read from the file on disk (the reading phase's progress).
struct CountingReader {
    inner: File,
    counter: Option<Arc<AtomicU64>>,
}

impl Read for CountingReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let read = self.inner.read(buf)?;
        if let Some(counter) = &self.counter {
            counter.fetch_add(read as u64, Ordering::Relaxed);
        }
        Ok(read)
    }
}

fn csv_error(err: &csv::Error) -> ImportIssue {
    let row = err.position().map(csv::Position::line);
    let message = match err.kind() {
        csv::ErrorKind::Utf8 { .. } => "the file is not UTF-8 text".to_owned(),
        csv::ErrorKind::UnequalLengths {
            expected_len, len, ..
        } => {
            format!("the row has {len} fields where the header has {expected_len}")
        }
        csv::ErrorKind::Io(err) => format!("the file could not be read: {err}"),
        _ => "the file is not valid CSV".to_owned(),
    };
    issue(row, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parquet_values_read_as_a_csv_export_writes_them() {
        let ten = 1_725_184_800_i64; // 2024-09-01T10:00:00Z
        assert_eq!(
            parquet_text(&Field::TimestampMicros(ten * 1_000_000)),
            "2024-09-01T10:00:00Z"
        );
        assert_eq!(
            parquet_text(&Field::TimestampMillis(ten * 1000 + 500)),
            "2024-09-01T10:00:00.500Z"
        );
        assert_eq!(parquet_text(&Field::Date(19_967)), "2024-09-01");
        assert_eq!(parquet_text(&Field::Double(0.000_000_1)), "0.0000001");
        assert_eq!(parquet_text(&Field::Double(12.25)), "12.25");
        assert_eq!(parquet_text(&Field::Null), "");
        assert_eq!(parquet_text(&Field::Str("a b".into())), "a b");
    }

    #[test]
    fn nested_objects_flatten_to_dotted_names_and_arrays_stay_json() {
        let value = serde_json::json!({"cost": 1.5, "service": {"id": "6F81", "description": "Compute Engine"},
            "labels": [{"key": "team", "value": "a"}]});
        let rows = rows_of(value).unwrap();
        assert_eq!(rows[0]["service.description"], "Compute Engine");
        assert_eq!(rows[0]["cost"], 1.5);
        assert!(rows[0]["labels"].is_array());
    }

    #[test]
    fn an_answer_page_gives_its_items_with_the_billing_cycle() {
        for items in [
            serde_json::json!([{"PretaxAmount": 1}, {"PretaxAmount": 2}]),
            serde_json::json!({"Item": [{"PretaxAmount": 1}, {"PretaxAmount": 2}]}),
        ] {
            let page = serde_json::json!({"Code": "Success",
                "Data": {"BillingCycle": "2024-09", "AccountID": "1234", "Items": items}});
            let rows = rows_of(page).unwrap();
            assert_eq!(rows.len(), 2);
            assert_eq!(rows[1]["BillingCycle"], "2024-09");
            assert_eq!(rows[1]["PretaxAmount"], 2);
        }
        assert!(rows_of(serde_json::json!([1, 2])).is_err());
    }
}
