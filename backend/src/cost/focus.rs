//! The FOCUS schema as data: the columns the ledger stores, which of them a file must carry,
//! and how each value is checked and written in PostgreSQL's COPY text format
//! (../shared/FOCUS.md §1–§5, docs/cost/FOCUS.md).

use std::borrow::Cow;
use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDateTime, Utc};
use nimbus_api_types::cost::ImportIssue;

use super::dimensions::{self, TagKeys};
use super::pgcopy;

/// How a column's values are checked and stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Text,
    /// FOCUS NumericFormat, stored as `numeric` exactly as written.
    Decimal,
    /// UTC date-time, `YYYY-MM-DDTHH:mm:ssZ` (or the `YYYY-MM-DD HH:mm:ss` real exports use).
    Timestamp,
    /// A flat JSON object (KeyValueFormat), kept verbatim.
    Json,
}

/// What FOCUS 1.0–1.2 require of a column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Presence {
    /// The header must be there and every value set.
    Required,
    /// The header must be there and values should be set; real exports leave some empty (Oracle's
    /// ContractedCost), which is kept as null with a warning.
    Expected,
    /// The header must be there; values may be null.
    Nullable,
    /// Conditional or recommended, or new in a later version.
    Optional,
}

#[derive(Debug)]
pub struct Column {
    pub name: &'static str,
    pub kind: Kind,
    pub presence: Presence,
}

impl Column {
    const fn new(name: &'static str, kind: Kind, presence: Presence) -> Self {
        Self {
            name,
            kind,
            presence,
        }
    }

    /// The ledger column: the FOCUS id in snake case.
    #[must_use]
    pub fn db_name(&self) -> String {
        let mut out = String::with_capacity(self.name.len() + 8);
        for (i, c) in self.name.chars().enumerate() {
            if c.is_ascii_uppercase() {
                if i > 0 {
                    out.push('_');
                }
                out.push(c.to_ascii_lowercase());
            } else {
                out.push(c);
            }
        }
        out
    }
}

/// Every FOCUS column the ledger stores, in the order of `COPY_COLUMNS`: the 57 of FOCUS 1.2, then
/// the 1.3 additions.
pub const COLUMNS: [Column; COLUMN_COUNT] = [
    Column::new("AvailabilityZone", Kind::Text, Presence::Optional),
    Column::new("BilledCost", Kind::Decimal, Presence::Required),
    Column::new("BillingAccountId", Kind::Text, Presence::Required),
    Column::new("BillingAccountName", Kind::Text, Presence::Nullable),
    Column::new("BillingAccountType", Kind::Text, Presence::Optional),
    Column::new("BillingCurrency", Kind::Text, Presence::Required),
    Column::new("BillingPeriodEnd", Kind::Timestamp, Presence::Required),
    Column::new("BillingPeriodStart", Kind::Timestamp, Presence::Required),
    Column::new("CapacityReservationId", Kind::Text, Presence::Optional),
    Column::new("CapacityReservationStatus", Kind::Text, Presence::Optional),
    Column::new("ChargeCategory", Kind::Text, Presence::Required),
    Column::new("ChargeClass", Kind::Text, Presence::Nullable),
    Column::new("ChargeDescription", Kind::Text, Presence::Nullable),
    Column::new("ChargeFrequency", Kind::Text, Presence::Optional),
    Column::new("ChargePeriodEnd", Kind::Timestamp, Presence::Required),
    Column::new("ChargePeriodStart", Kind::Timestamp, Presence::Required),
    Column::new("CommitmentDiscountCategory", Kind::Text, Presence::Optional),
    Column::new("CommitmentDiscountId", Kind::Text, Presence::Optional),
    Column::new("CommitmentDiscountName", Kind::Text, Presence::Optional),
    Column::new(
        "CommitmentDiscountQuantity",
        Kind::Decimal,
        Presence::Optional,
    ),
    Column::new("CommitmentDiscountStatus", Kind::Text, Presence::Optional),
    Column::new("CommitmentDiscountType", Kind::Text, Presence::Optional),
    Column::new("CommitmentDiscountUnit", Kind::Text, Presence::Optional),
    Column::new("ConsumedQuantity", Kind::Decimal, Presence::Optional),
    Column::new("ConsumedUnit", Kind::Text, Presence::Optional),
    Column::new("ContractedCost", Kind::Decimal, Presence::Expected),
    Column::new("ContractedUnitPrice", Kind::Decimal, Presence::Optional),
    Column::new("EffectiveCost", Kind::Decimal, Presence::Required),
    Column::new("InvoiceId", Kind::Text, Presence::Optional),
    Column::new("InvoiceIssuerName", Kind::Text, Presence::Nullable),
    Column::new("ListCost", Kind::Decimal, Presence::Expected),
    Column::new("ListUnitPrice", Kind::Decimal, Presence::Optional),
    Column::new("PricingCategory", Kind::Text, Presence::Optional),
    Column::new("PricingCurrency", Kind::Text, Presence::Optional),
    Column::new(
        "PricingCurrencyContractedUnitPrice",
        Kind::Decimal,
        Presence::Optional,
    ),
    Column::new(
        "PricingCurrencyEffectiveCost",
        Kind::Decimal,
        Presence::Optional,
    ),
    Column::new(
        "PricingCurrencyListUnitPrice",
        Kind::Decimal,
        Presence::Optional,
    ),
    Column::new("PricingQuantity", Kind::Decimal, Presence::Nullable),
    Column::new("PricingUnit", Kind::Text, Presence::Nullable),
    Column::new("ProviderName", Kind::Text, Presence::Nullable),
    Column::new("PublisherName", Kind::Text, Presence::Nullable),
    Column::new("RegionId", Kind::Text, Presence::Optional),
    Column::new("RegionName", Kind::Text, Presence::Optional),
    Column::new("ResourceId", Kind::Text, Presence::Optional),
    Column::new("ResourceName", Kind::Text, Presence::Optional),
    Column::new("ResourceType", Kind::Text, Presence::Optional),
    Column::new("ServiceCategory", Kind::Text, Presence::Required),
    Column::new("ServiceName", Kind::Text, Presence::Required),
    Column::new("ServiceSubcategory", Kind::Text, Presence::Optional),
    Column::new("SkuId", Kind::Text, Presence::Optional),
    Column::new("SkuMeter", Kind::Text, Presence::Optional),
    Column::new("SkuPriceDetails", Kind::Json, Presence::Optional),
    Column::new("SkuPriceId", Kind::Text, Presence::Optional),
    Column::new("SubAccountId", Kind::Text, Presence::Optional),
    Column::new("SubAccountName", Kind::Text, Presence::Optional),
    Column::new("SubAccountType", Kind::Text, Presence::Optional),
    Column::new("Tags", Kind::Json, Presence::Optional),
    Column::new("AllocatedMethodId", Kind::Text, Presence::Optional),
    Column::new("AllocatedMethodDetails", Kind::Json, Presence::Optional),
    Column::new("AllocatedResourceId", Kind::Text, Presence::Optional),
    Column::new("AllocatedResourceName", Kind::Text, Presence::Optional),
    Column::new("AllocatedTags", Kind::Json, Presence::Optional),
    Column::new("ContractApplied", Kind::Json, Presence::Optional),
    Column::new("HostProviderName", Kind::Text, Presence::Optional),
    Column::new("ServiceProviderName", Kind::Text, Presence::Optional),
];
pub const COLUMN_COUNT: usize = 65;

/// The position of a FOCUS column in [`COLUMNS`]; `COLUMN_COUNT` when there is none. Use it
/// through [`focus_column!`](crate::focus_column), which evaluates it at compile time.
#[must_use]
pub const fn position(name: &str) -> usize {
    let mut index = 0;
    while index < COLUMN_COUNT {
        if same(COLUMNS[index].name.as_bytes(), name.as_bytes()) {
            return index;
        }
        index += 1;
    }
    COLUMN_COUNT
}

const fn same(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

/// The position of a FOCUS column, checked at compile time: a misspelt name does not build.
#[macro_export]
macro_rules! focus_column {
    ($name:literal) => {{
        const INDEX: usize = $crate::cost::focus::position($name);
        const _: () = assert!(
            INDEX < $crate::cost::focus::COLUMN_COUNT,
            "not a FOCUS column"
        );
        INDEX
    }};
}

/// A provider's own bill format, converted to FOCUS row by row.
pub trait Converter: Send {
    /// One line of the file (`line` for messages) as a FOCUS row, or its errors.
    fn row<'r>(
        &self,
        record: &'r csv::StringRecord,
        line: u64,
    ) -> Result<Row<'r>, Vec<ImportIssue>>;
}

/// A row converted from another format: FOCUS values (owned where computed) and extensions.
#[derive(Debug)]
pub struct Row<'r> {
    values: [Option<Cow<'r, str>>; COLUMN_COUNT],
    pub extensions: Vec<(Cow<'r, str>, Cow<'r, str>)>,
}

impl<'r> Row<'r> {
    #[must_use]
    pub fn new() -> Self {
        Self {
            values: std::array::from_fn(|_| None),
            extensions: Vec::new(),
        }
    }

    /// Sets the column at `index` (from [`focus_column!`](crate::focus_column)).
    pub fn set(&mut self, index: usize, value: Option<Cow<'r, str>>) {
        if let Some(slot) = self.values.get_mut(index) {
            *slot = value;
        }
    }

    /// The values as the encoder reads them.
    #[must_use]
    pub fn view(&self) -> [Option<&str>; COLUMN_COUNT] {
        std::array::from_fn(|index| self.values[index].as_deref())
    }

    pub fn extensions(&self) -> impl Iterator<Item = (&str, &str)> {
        self.extensions
            .iter()
            .map(|(name, value)| (name.as_ref(), value.as_ref()))
    }
}

impl Default for Row<'_> {
    fn default() -> Self {
        Self::new()
    }
}

/// Positions in [`COLUMNS`] the importer reads itself.
pub mod col {
    pub const BILLED_COST: usize = 1;
    pub const BILLING_ACCOUNT_ID: usize = 2;
    pub const BILLING_CURRENCY: usize = 5;
    pub const BILLING_PERIOD_END: usize = 6;
    pub const BILLING_PERIOD_START: usize = 7;
    pub const CAPACITY_RESERVATION_STATUS: usize = 9;
    pub const CHARGE_CATEGORY: usize = 10;
    pub const CHARGE_CLASS: usize = 11;
    pub const CHARGE_FREQUENCY: usize = 13;
    pub const CHARGE_PERIOD_END: usize = 14;
    pub const CHARGE_PERIOD_START: usize = 15;
    pub const COMMITMENT_DISCOUNT_CATEGORY: usize = 16;
    pub const COMMITMENT_DISCOUNT_STATUS: usize = 20;
    pub const PRICING_CATEGORY: usize = 32;
    pub const SERVICE_CATEGORY: usize = 46;
    pub const CONTRACTED_COST: usize = 25;
    pub const EFFECTIVE_COST: usize = 27;
    pub const LIST_COST: usize = 30;
    pub const PROVIDER_NAME: usize = 39;
    pub const REGION_ID: usize = 41;
    pub const RESOURCE_ID: usize = 43;
    pub const SERVICE_NAME: usize = 47;
    pub const SUB_ACCOUNT_ID: usize = 53;
    pub const TAGS: usize = 56;
    pub const SERVICE_PROVIDER_NAME: usize = 64;
}

/// The `COPY table (…) FROM STDIN` statement the encoded rows (after `pgcopy::HEADER`) are written for (`table` has the
/// ledger's columns).
#[must_use]
pub fn copy_statement(table: &str) -> String {
    let columns: Vec<String> = COLUMNS.iter().map(Column::db_name).collect();
    format!(
        "COPY {table} (tenant_id, import_id, source, {}, extensions, cluster) FROM STDIN WITH (FORMAT binary)",
        columns.join(", ")
    )
}

const CHARGE_CATEGORIES: [&str; 5] = ["Usage", "Purchase", "Tax", "Credit", "Adjustment"];
const SERVICE_CATEGORIES: [&str; 19] = [
    "AI and Machine Learning",
    "Analytics",
    "Business Applications",
    "Compute",
    "Databases",
    "Developer Tools",
    "Multicloud",
    "Identity",
    "Integration",
    "Internet of Things",
    "Management and Governance",
    "Media",
    "Migration",
    "Mobile",
    "Networking",
    "Security",
    "Storage",
    "Web",
    "Other",
];

/// Which file column feeds each FOCUS column, and which file columns are kept as extensions.
#[derive(Debug)]
pub struct Layout {
    positions: [Option<usize>; COLUMN_COUNT],
    extensions: Vec<(usize, String)>,
}

impl Layout {
    /// Matches a header exactly (case and spelling; a UTF-8 byte-order mark is ignored). Missing
    /// FOCUS columns and repeated names are errors; columns FOCUS does not define are kept in
    /// `extensions`, with a warning unless they carry the `x_` prefix FOCUS reserves for them.
    pub fn from_header<'h>(
        header: impl IntoIterator<Item = &'h str>,
        warnings: &mut Warnings,
    ) -> Result<Self, Vec<ImportIssue>> {
        let mut positions = [None; COLUMN_COUNT];
        let mut extensions = Vec::new();
        let mut errors = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for (position, name) in header.into_iter().enumerate() {
            let name = name.strip_prefix('\u{feff}').unwrap_or(name);
            if !seen.insert(name.to_owned()) {
                errors.push(issue(
                    Some(1),
                    Some(name),
                    "the column appears twice in the header",
                ));
                continue;
            }
            match COLUMNS.iter().position(|column| column.name == name) {
                Some(index) => positions[index] = Some(position),
                None => {
                    if !name.starts_with("x_") {
                        warnings.add(
                            "unknown_column",
                            Some(name),
                            1,
                            "not a FOCUS column and without the x_ prefix; kept as an extension",
                        );
                    }
                    extensions.push((position, name.to_owned()));
                }
            }
        }
        for (index, column) in COLUMNS.iter().enumerate() {
            if column.presence != Presence::Optional && positions[index].is_none() {
                errors.push(issue(
                    Some(1),
                    Some(column.name),
                    "this FOCUS column is mandatory and missing from the header (names must match exactly)",
                ));
            }
        }
        if errors.is_empty() {
            Ok(Self {
                positions,
                extensions,
            })
        } else {
            Err(errors)
        }
    }

    /// The values of one record in catalog order (`None` where the file has no such column).
    pub fn values<'r>(&self, record: &'r csv::StringRecord) -> [Option<&'r str>; COLUMN_COUNT] {
        self.positions
            .map(|position| position.and_then(|position| record.get(position)))
    }

    pub fn extensions<'s, 'r>(
        &'s self,
        record: &'r csv::StringRecord,
    ) -> impl Iterator<Item = (&'s str, &'r str)> + use<'s, 'r> {
        self.extensions.iter().filter_map(|(position, name)| {
            record
                .get(*position)
                .filter(|value| !is_null(value))
                .map(|value| (name.as_str(), value))
        })
    }
}

fn issue(row: Option<u64>, column: Option<&str>, message: &str) -> ImportIssue {
    ImportIssue {
        row,
        column: column.map(str::to_owned),
        message: message.to_owned(),
        count: 1,
    }
}

/// Rule violations real exports commit: counted per rule and column, with the first row.
#[derive(Debug, Default)]
pub struct Warnings {
    by_rule: BTreeMap<(&'static str, Option<String>), ImportIssue>,
}

impl Warnings {
    pub fn add(&mut self, rule: &'static str, column: Option<&str>, row: u64, message: &str) {
        self.by_rule
            .entry((rule, column.map(str::to_owned)))
            .and_modify(|warning| warning.count += 1)
            .or_insert_with(|| issue(Some(row), column, message));
    }

    #[must_use]
    pub fn into_list(self) -> Vec<ImportIssue> {
        self.by_rule.into_values().collect()
    }
}

/// The unit a row belongs to: what one import replaces as a whole.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Unit {
    pub billing_account_id: String,
    pub billing_period_start: DateTime<Utc>,
}

/// What the importer needs to know of a valid row beyond its encoding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed {
    pub unit: Unit,
    pub charge_period_start: DateTime<Utc>,
    /// The Kubernetes cluster of the row (`dimensions::cluster`).
    pub cluster: Option<String>,
    /// The values of the tenant's tag dimensions, as JSON (`TagKeys::project`).
    pub tags: Option<String>,
}

/// FOCUS null: no value. Empty strings and the `NULL` placeholder of SQL dumps (the FOCUS sample
/// data uses it) are read as null too, with a warning, since FOCUS forbids both.
pub fn is_null(value: &str) -> bool {
    value.is_empty() || value == "NULL"
}

/// Checks and encodes rows: one binary COPY tuple per valid row (`pgcopy`).
pub struct Encoder {
    /// The field count, tenant, import and source: the same for every row.
    prefix: Vec<u8>,
    tag_keys: TagKeys,
}

/// Fields of a ledger row: tenant, import, source, the FOCUS columns, extensions, cluster.
const FIELDS: i16 = 3 + COLUMN_COUNT as i16 + 2;

/// Errors of one row, each with its column.
pub type RowErrors = Vec<ImportIssue>;

impl Encoder {
    #[must_use]
    pub fn new(tenant: uuid::Uuid, import: uuid::Uuid, source: &str, tag_keys: TagKeys) -> Self {
        let mut prefix = Vec::new();
        pgcopy::row(&mut prefix, FIELDS);
        pgcopy::uuid(&mut prefix, tenant);
        pgcopy::uuid(&mut prefix, import);
        pgcopy::bytes(&mut prefix, source.as_bytes());
        Self { prefix, tag_keys }
    }

    /// Appends the row's COPY tuple to `out` and returns its unit, or returns every error of the
    /// row (and leaves `out` as it was). `row` is the line's number in the file, for messages.
    pub fn encode<'v>(
        &self,
        row: u64,
        values: &[Option<&str>; COLUMN_COUNT],
        extensions: impl Iterator<Item = (&'v str, &'v str)>,
        warnings: &mut Warnings,
        out: &mut Vec<u8>,
    ) -> Result<Parsed, RowErrors> {
        let start = out.len();
        let mut errors = Vec::new();
        let mut timestamps: [Option<DateTime<Utc>>; 4] = [None; 4];
        let mut tags = None;
        out.extend_from_slice(&self.prefix);
        for (index, column) in COLUMNS.iter().enumerate() {
            let value = match values[index] {
                Some(value) if is_null(value) => {
                    if column.presence != Presence::Optional || !value.is_empty() {
                        warnings.add(
                            "null_placeholder",
                            Some(column.name),
                            row,
                            "empty strings and NULL placeholders are read as null",
                        );
                    }
                    None
                }
                other => other,
            };
            match value {
                None => {
                    match column.presence {
                        Presence::Required => {
                            errors.push(issue(Some(row), Some(column.name), "a value is required"));
                        }
                        Presence::Expected => warnings.add(
                            "missing_value",
                            Some(column.name),
                            row,
                            "a value FOCUS requires is missing; the row is kept and left out of sums of this metric",
                        ),
                        Presence::Nullable | Presence::Optional => {}
                    }
                    pgcopy::null(out);
                }
                Some(value) if value.contains('\0') => errors.push(issue(
                    Some(row),
                    Some(column.name),
                    "the value contains a NUL character",
                )),
                Some(value) => match column.kind {
                    Kind::Text => {
                        check_allowed(index, value, row, warnings, &mut errors);
                        pgcopy::bytes(out, value.as_bytes());
                    }
                    Kind::Decimal => {
                        let written = is_focus_number(value) && pgcopy::numeric(out, value).is_some();
                        if !written {
                            errors.push(issue(
                                Some(row),
                                Some(column.name),
                                &format!(
                                    "`{}` is not a FOCUS number (digits, an optional leading minus, decimal point and exponent)",
                                    shorten(value)
                                ),
                            ));
                        }
                    }
                    Kind::Timestamp => match parse_timestamp(value) {
                        Some((at, utc)) => {
                            if !utc {
                                warnings.add(
                                    "non_utc_time",
                                    Some(column.name),
                                    row,
                                    "date-times must be UTC; offsets were converted",
                                );
                            }
                            if let Some(slot) = timestamp_slot(index) {
                                timestamps[slot] = Some(at);
                            }
                            pgcopy::timestamptz(out, at);
                        }
                        None => errors.push(issue(
                            Some(row),
                            Some(column.name),
                            &format!(
                                "`{}` is not a date-time (YYYY-MM-DDTHH:mm:ssZ or YYYY-MM-DD HH:mm:ss)",
                                shorten(value)
                            ),
                        )),
                    },
                    Kind::Json => match serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(value) {
                        Ok(object) => {
                            if object.values().any(|v| v.is_object() || v.is_array()) {
                                warnings.add(
                                    "nested_json",
                                    Some(column.name),
                                    row,
                                    "key-value columns must be flat; nested values were kept",
                                );
                            }
                            pgcopy::jsonb(out, value);
                            if index == col::TAGS {
                                tags = Some(object);
                            }
                        }
                        Err(_) => errors.push(issue(
                            Some(row),
                            Some(column.name),
                            "not a JSON object",
                        )),
                    },
                },
            }
        }
        write_extensions(extensions, out);
        let resource_id = values[col::RESOURCE_ID].filter(|v| !is_null(v));
        let cluster = dimensions::cluster(tags.as_ref(), resource_id);
        match &cluster {
            Some(name) => pgcopy::bytes(out, name.as_bytes()),
            None => pgcopy::null(out),
        }
        let [billing_start, billing_end, charge_start, charge_end] = timestamps;
        if let (Some(start), Some(end)) = (charge_start, charge_end)
            && start >= end
        {
            warnings.add(
                "charge_period_order",
                Some("ChargePeriodEnd"),
                row,
                "ChargePeriodEnd must be after ChargePeriodStart",
            );
        }
        if let (Some(start), Some(end)) = (billing_start, billing_end)
            && start >= end
        {
            warnings.add(
                "billing_period_order",
                Some("BillingPeriodEnd"),
                row,
                "BillingPeriodEnd must be after BillingPeriodStart",
            );
        }
        match (
            errors.is_empty(),
            billing_start,
            charge_start,
            values[col::BILLING_ACCOUNT_ID],
        ) {
            (true, Some(billing_period_start), Some(charge_period_start), Some(account)) => {
                Ok(Parsed {
                    unit: Unit {
                        billing_account_id: account.to_owned(),
                        billing_period_start,
                    },
                    charge_period_start,
                    tags: self.tag_keys.project(tags.as_ref()),
                    cluster,
                })
            }
            _ => {
                out.truncate(start);
                Err(errors)
            }
        }
    }
}

fn timestamp_slot(index: usize) -> Option<usize> {
    match index {
        col::BILLING_PERIOD_START => Some(0),
        col::BILLING_PERIOD_END => Some(1),
        col::CHARGE_PERIOD_START => Some(2),
        col::CHARGE_PERIOD_END => Some(3),
        _ => None,
    }
}

/// Allowed values: a charge category decides how a row counts, so an unknown one is an error;
/// the others are rules real exports break, so they warn.
fn check_allowed(
    index: usize,
    value: &str,
    row: u64,
    warnings: &mut Warnings,
    errors: &mut RowErrors,
) {
    let column = COLUMNS[index].name;
    let allowed: &[&str] = match index {
        col::CHARGE_CATEGORY => {
            if !CHARGE_CATEGORIES.contains(&value) {
                errors.push(issue(
                    Some(row),
                    Some(column),
                    &format!(
                        "`{}` is not a charge category (Usage, Purchase, Tax, Credit, Adjustment)",
                        shorten(value)
                    ),
                ));
            }
            return;
        }
        col::BILLING_CURRENCY => {
            if !(value.len() == 3 && value.bytes().all(|b| b.is_ascii_uppercase())) {
                errors.push(issue(
                    Some(row),
                    Some(column),
                    &format!("`{}` is not an ISO 4217 currency code", shorten(value)),
                ));
            }
            return;
        }
        col::CHARGE_CLASS => &["Correction"],
        col::CHARGE_FREQUENCY => &["One-Time", "Recurring", "Usage-Based"],
        col::PRICING_CATEGORY => &["Standard", "Dynamic", "Committed", "Other"],
        col::COMMITMENT_DISCOUNT_CATEGORY => &["Spend", "Usage"],
        col::COMMITMENT_DISCOUNT_STATUS | col::CAPACITY_RESERVATION_STATUS => &["Used", "Unused"],
        col::SERVICE_CATEGORY => &SERVICE_CATEGORIES,
        _ => return,
    };
    if !allowed.contains(&value) {
        warnings.add(
            "allowed_values",
            Some(column),
            row,
            "a value outside the column's allowed values was kept",
        );
    }
}

fn write_extensions<'v>(extensions: impl Iterator<Item = (&'v str, &'v str)>, out: &mut Vec<u8>) {
    let object: serde_json::Map<String, serde_json::Value> = extensions
        .map(|(name, value)| (name.to_owned(), serde_json::Value::from(value)))
        .collect();
    if object.is_empty() {
        pgcopy::null(out);
    } else {
        pgcopy::jsonb(out, &serde_json::Value::Object(object).to_string());
    }
}

/// FOCUS NumericFormat: an optional leading minus, digits with at most one decimal point, and an
/// optional exponent with an optional minus (no `+`, no thousands separators, no symbols). The
/// exponent is bounded so PostgreSQL's `numeric` always accepts the value.
#[must_use]
pub fn is_focus_number(value: &str) -> bool {
    let bytes = value.as_bytes();
    if bytes.len() > 64 {
        return false;
    }
    let (mantissa, exponent) = match bytes.iter().position(|&b| b == b'e' || b == b'E') {
        Some(at) => (&bytes[..at], Some(&bytes[at + 1..])),
        None => (bytes, None),
    };
    let mantissa = mantissa.strip_prefix(b"-").unwrap_or(mantissa);
    let mut digits = 0;
    let mut points = 0;
    for &b in mantissa {
        match b {
            b'0'..=b'9' => digits += 1,
            b'.' => points += 1,
            _ => return false,
        }
    }
    if digits == 0 || points > 1 {
        return false;
    }
    match exponent {
        None => true,
        Some(exponent) => {
            let exponent = exponent.strip_prefix(b"-").unwrap_or(exponent);
            !exponent.is_empty() && exponent.len() <= 3 && exponent.iter().all(u8::is_ascii_digit)
        }
    }
}

/// A FOCUS date-time and whether it was written in UTC.
#[must_use]
pub fn parse_timestamp(value: &str) -> Option<(DateTime<Utc>, bool)> {
    if let Some(naive) = value
        .strip_suffix('Z')
        .and_then(|v| NaiveDateTime::parse_from_str(v, "%Y-%m-%dT%H:%M:%S%.f").ok())
    {
        return Some((naive.and_utc(), true));
    }
    if let Ok(naive) = NaiveDateTime::parse_from_str(value, "%Y-%m-%d %H:%M:%S%.f") {
        return Some((naive.and_utc(), true));
    }
    DateTime::parse_from_rfc3339(value)
        .ok()
        .map(|at| (at.with_timezone(&Utc), at.offset().local_minus_utc() == 0))
}

fn shorten(value: &str) -> String {
    const MAX: usize = 40;
    match value.char_indices().nth(MAX) {
        Some((at, _)) => format!("{}…", &value[..at]),
        None => value.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_catalog_positions_name_the_columns_the_importer_reads() {
        assert_eq!(COLUMNS[col::BILLED_COST].name, "BilledCost");
        assert_eq!(COLUMNS[col::BILLING_ACCOUNT_ID].name, "BillingAccountId");
        assert_eq!(COLUMNS[col::BILLING_CURRENCY].name, "BillingCurrency");
        assert_eq!(COLUMNS[col::BILLING_PERIOD_END].name, "BillingPeriodEnd");
        assert_eq!(
            COLUMNS[col::BILLING_PERIOD_START].name,
            "BillingPeriodStart"
        );
        assert_eq!(
            COLUMNS[col::CAPACITY_RESERVATION_STATUS].name,
            "CapacityReservationStatus"
        );
        assert_eq!(COLUMNS[col::CHARGE_CATEGORY].name, "ChargeCategory");
        assert_eq!(COLUMNS[col::CHARGE_CLASS].name, "ChargeClass");
        assert_eq!(COLUMNS[col::CHARGE_FREQUENCY].name, "ChargeFrequency");
        assert_eq!(COLUMNS[col::CHARGE_PERIOD_END].name, "ChargePeriodEnd");
        assert_eq!(COLUMNS[col::CHARGE_PERIOD_START].name, "ChargePeriodStart");
        assert_eq!(
            COLUMNS[col::COMMITMENT_DISCOUNT_CATEGORY].name,
            "CommitmentDiscountCategory"
        );
        assert_eq!(
            COLUMNS[col::COMMITMENT_DISCOUNT_STATUS].name,
            "CommitmentDiscountStatus"
        );
        assert_eq!(COLUMNS[col::PRICING_CATEGORY].name, "PricingCategory");
        assert_eq!(COLUMNS[col::SERVICE_CATEGORY].name, "ServiceCategory");
        assert_eq!(COLUMNS[col::CONTRACTED_COST].name, "ContractedCost");
        assert_eq!(COLUMNS[col::EFFECTIVE_COST].name, "EffectiveCost");
        assert_eq!(COLUMNS[col::LIST_COST].name, "ListCost");
        assert_eq!(COLUMNS[col::PROVIDER_NAME].name, "ProviderName");
        assert_eq!(COLUMNS[col::REGION_ID].name, "RegionId");
        assert_eq!(COLUMNS[col::SERVICE_NAME].name, "ServiceName");
        assert_eq!(COLUMNS[col::SUB_ACCOUNT_ID].name, "SubAccountId");
        assert_eq!(COLUMNS[col::RESOURCE_ID].name, "ResourceId");
        assert_eq!(COLUMNS[col::TAGS].name, "Tags");
        assert_eq!(
            COLUMNS[col::SERVICE_PROVIDER_NAME].name,
            "ServiceProviderName"
        );
        let required = COLUMNS
            .iter()
            .filter(|c| c.presence != Presence::Optional)
            .count();
        assert_eq!(required, 21, "FOCUS 1.2 has 21 mandatory columns");
    }

    #[test]
    fn database_names_are_the_focus_ids_in_snake_case() {
        assert_eq!(COLUMNS[0].db_name(), "availability_zone");
        let long = COLUMNS
            .iter()
            .find(|c| c.name == "PricingCurrencyContractedUnitPrice")
            .unwrap();
        assert_eq!(long.db_name(), "pricing_currency_contracted_unit_price");
        assert!(
            copy_statement("cost_line_items")
                .contains("sku_price_details, sku_price_id, sub_account_id")
        );
    }

    #[test]
    fn focus_numbers_are_plain_or_e_notation_without_plus_signs_or_separators() {
        for good in [
            "0",
            "-1.5",
            "0.00000080000",
            "35.2E-7",
            "1e3",
            ".5",
            "2.",
            "-0.0E-10",
        ] {
            assert!(is_focus_number(good), "{good}");
        }
        for bad in [
            "", "-", "1,000.00", "$5", "+1", "1E+3", "1.2.3", "NaN", "Infinity", "1e", "1 ",
            "1e12345",
        ] {
            assert!(!is_focus_number(bad), "{bad}");
        }
    }

    #[test]
    fn both_date_time_forms_are_read_as_utc_and_offsets_are_converted_with_a_flag() {
        let expected = "2024-09-18T22:00:00Z".parse::<DateTime<Utc>>().unwrap();
        assert_eq!(
            parse_timestamp("2024-09-18T22:00:00Z"),
            Some((expected, true))
        );
        assert_eq!(
            parse_timestamp("2024-09-18 22:00:00"),
            Some((expected, true))
        );
        assert_eq!(
            parse_timestamp("2024-09-19T00:00:00+02:00"),
            Some((expected, false))
        );
        for bad in [
            "2024-09-18",
            "18/09/2024 22:00",
            "2024-13-01T00:00:00Z",
            "yesterday",
        ] {
            assert_eq!(parse_timestamp(bad), None, "{bad}");
        }
    }

    fn header() -> Vec<&'static str> {
        COLUMNS
            .iter()
            .filter(|c| c.presence != Presence::Optional)
            .map(|c| c.name)
            .chain(["Tags", "x_Custom", "Id"])
            .collect()
    }

    #[test]
    fn a_header_missing_a_mandatory_column_is_refused_by_name() {
        let mut warnings = Warnings::default();
        let mut names = header();
        names.retain(|name| *name != "BilledCost");
        let errors = Layout::from_header(names.iter().copied(), &mut warnings).unwrap_err();
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].column.as_deref(), Some("BilledCost"));
        let mut lower = header();
        lower[0] = "billedcost";
        assert!(
            Layout::from_header(lower.iter().copied(), &mut warnings).is_err(),
            "names match exactly"
        );
    }

    #[test]
    fn unknown_columns_are_kept_and_only_unprefixed_ones_warn() {
        let mut warnings = Warnings::default();
        Layout::from_header(header().iter().copied(), &mut warnings).unwrap();
        let list = warnings.into_list();
        assert_eq!(list.len(), 1);
        assert_eq!(list[0].column.as_deref(), Some("Id"));
    }

    fn encode_one(
        fields: &[(&str, &str)],
    ) -> (Result<Parsed, RowErrors>, Vec<u8>, Vec<ImportIssue>) {
        let mut warnings = Warnings::default();
        let names: Vec<&str> = header();
        let layout = Layout::from_header(names.iter().copied(), &mut warnings).unwrap();
        let mut warnings = Warnings::default();
        let base = [
            ("BilledCost", "1.50"),
            ("BillingAccountId", "acct-1"),
            ("BillingAccountName", ""),
            ("BillingCurrency", "USD"),
            ("BillingPeriodEnd", "2024-10-01T00:00:00Z"),
            ("BillingPeriodStart", "2024-09-01T00:00:00Z"),
            ("ChargeCategory", "Usage"),
            ("ChargeClass", ""),
            ("ChargeDescription", "tab\there"),
            ("ChargePeriodEnd", "2024-09-02T00:00:00Z"),
            ("ChargePeriodStart", "2024-09-01T00:00:00Z"),
            ("ContractedCost", "1.50"),
            ("EffectiveCost", "1.50"),
            ("InvoiceIssuerName", "Example"),
            ("ListCost", "2"),
            ("PricingQuantity", "1"),
            ("PricingUnit", "Hours"),
            ("ProviderName", "Example"),
            ("PublisherName", "Example"),
            ("ServiceCategory", "Compute"),
            ("ServiceName", "VMs"),
            ("Tags", r#"{" org":"a","env":"prod"}"#),
            ("x_Custom", "kept"),
            ("Id", ""),
        ];
        let values: Vec<String> = names
            .iter()
            .map(|name| {
                fields
                    .iter()
                    .chain(base.iter())
                    .find(|(n, _)| n == name)
                    .map(|(_, v)| (*v).to_owned())
                    .unwrap_or_default()
            })
            .collect();
        let record = csv::StringRecord::from(values);
        let encoder = Encoder::new(
            uuid::Uuid::nil(),
            uuid::Uuid::nil(),
            "focus",
            TagKeys::default(),
        );
        let mut out = Vec::new();
        let result = encoder.encode(
            2,
            &layout.values(&record),
            layout.extensions(&record),
            &mut warnings,
            &mut out,
        );
        (result, out, warnings.into_list())
    }

    #[test]
    fn a_valid_row_becomes_one_binary_copy_tuple_with_its_unit() {
        let (parsed, tuple, warnings) = encode_one(&[]);
        let unit = parsed.unwrap().unit;
        assert_eq!(unit.billing_account_id, "acct-1");
        // Walk the tuple: a field count, then each field's length and bytes.
        let fields = i16::from_be_bytes([tuple[0], tuple[1]]);
        assert_eq!(usize::try_from(fields).unwrap(), 3 + COLUMN_COUNT + 2);
        let mut at = 2;
        let mut values: Vec<Option<&[u8]>> = Vec::new();
        while at < tuple.len() {
            let len = i32::from_be_bytes(tuple[at..at + 4].try_into().unwrap());
            at += 4;
            if len < 0 {
                values.push(None);
            } else {
                let len = usize::try_from(len).unwrap();
                values.push(Some(&tuple[at..at + len]));
                at += len;
            }
        }
        assert_eq!(
            values.len(),
            3 + COLUMN_COUNT + 2,
            "the tuple ends with its last field"
        );
        let column = |name: &str| values[3 + COLUMNS.iter().position(|c| c.name == name).unwrap()];
        assert_eq!(column("ChargeDescription"), Some(&b"tab\there"[..]));
        let jsonb = |text: &[u8]| [&[1_u8][..], text].concat();
        assert_eq!(
            column("Tags"),
            Some(&jsonb(br#"{" org":"a","env":"prod"}"#)[..]),
            "tags verbatim"
        );
        assert_eq!(
            column("BillingAccountName"),
            None,
            "an empty string is null"
        );
        assert_eq!(
            values[3 + COLUMN_COUNT],
            Some(&jsonb(br#"{"x_Custom":"kept"}"#)[..])
        );
        assert_eq!(
            values[3 + COLUMN_COUNT + 1],
            None,
            "no cluster in these tags"
        );
        // BillingAccountName and ChargeClass were empty strings.
        assert_eq!(warnings.iter().map(|w| w.count).sum::<u64>(), 2);
    }

    #[test]
    fn bad_numbers_times_categories_and_missing_values_are_errors_naming_their_column() {
        let (result, line, _) = encode_one(&[
            ("BilledCost", "1,50"),
            ("ChargePeriodStart", "01/09/2024"),
            ("ChargeCategory", "Discount"),
            ("ServiceName", ""),
            ("Tags", "env=prod"),
        ]);
        let errors = result.unwrap_err();
        let columns: Vec<_> = errors.iter().map(|e| e.column.clone().unwrap()).collect();
        assert_eq!(
            columns,
            [
                "BilledCost",
                "ChargeCategory",
                "ChargePeriodStart",
                "ServiceName",
                "Tags"
            ]
        );
        assert!(errors.iter().all(|e| e.row == Some(2)));
        assert!(line.is_empty(), "nothing of a bad row is written");
    }
}
