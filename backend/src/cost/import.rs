//! Importing a bill file into the ledger (DESIGN.md §4.5, docs/cost/LEDGER.md).
//!
//! 1. A `cost_imports` row records the attempt (committed at once, so progress can be watched).
//!    A file whose every unit (billing account × billing period) already shows it stops here.
//! 2. One transaction, scoped to the tenant. One pass over the file: each row is checked and
//!    encoded (in PostgreSQL's binary format) on a blocking thread and streamed by `COPY` into a
//!    session-private staging table
//!    while PostgreSQL ingests (PostgreSQL refuses `COPY` into a table under row-level security;
//!    the staging table is the one place without it, and only this session sees it). Errors
//!    stop the stream and reject the file with their rows and columns.
//! 3. The months' partitions are made (each in its own short transaction, on another
//!    connection), every unit is try-locked (a concurrent import of the same unit gets `409`),
//!    the staged rows go into the ledger through row-level security, the units' previous rows
//!    are deleted, their daily rollups rebuilt, the import and its audit entry finished, and the
//!    transaction commits. A failure anywhere leaves the previous version visible.

use std::collections::{BTreeSet, HashMap};
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use chrono::{DateTime, Datelike, TimeZone, Utc};
use nimbus_api_types::ErrorCode;
use nimbus_api_types::cost::{CostImport, ImportIssue, ImportStatus};
use nimbus_api_types::ids::{CostImportId, TenantId};
use sqlx::PgPool;

use super::focus::{COLUMN_COUNT, Converter, Encoder, Layout, Parsed, RowErrors, Unit, Warnings};
use super::pgcopy;
use super::records::Records;
use super::repo;
use super::rollup::Rollup;
use super::{alibaba, aws, azure, gcp, oracle};
use super::{allocation, dimensions, watch};
use crate::audit::{Entry, Outcome};
use crate::db;
use crate::error::AppError;

/// The source name of FOCUS files (native formats have their own, e.g. `aws::SOURCE`).
pub const FOCUS: &str = "focus";

/// How a file's rows become FOCUS rows, decided by its header.
enum Format {
    Focus(Box<Layout>),
    Native(Box<dyn Converter>),
}

impl Format {
    fn native(converter: impl Converter + 'static) -> Self {
        Self::Native(Box::new(converter))
    }

    fn from_header(
        header: &csv::StringRecord,
        warnings: &mut Warnings,
    ) -> Result<Self, Vec<ImportIssue>> {
        match source_of(header) {
            aws::SOURCE => aws::Layout::from_header(header.iter()).map(Self::native),
            azure::SOURCE => azure::Layout::from_header(header.iter()).map(Self::native),
            oracle::SOURCE => oracle::Layout::from_header(header.iter()).map(Self::native),
            gcp::SOURCE => gcp::Layout::from_header(header.iter()).map(Self::native),
            alibaba::SOURCE => alibaba::Layout::from_header(header.iter()).map(Self::native),
            _ => Layout::from_header(header.iter(), warnings)
                .map(|layout| Self::Focus(Box::new(layout))),
        }
    }
}

/// The format a header belongs to, as the import's source name.
fn source_of(header: &csv::StringRecord) -> &'static str {
    if aws::is_cur(header.iter()) {
        aws::SOURCE
    } else if azure::is_cost_details(header.iter()) {
        azure::SOURCE
    } else if oracle::is_cost_report(header.iter()) {
        oracle::SOURCE
    } else if gcp::is_billing_export(header.iter()) {
        gcp::SOURCE
    } else if alibaba::is_instance_bill(header.iter()) {
        alibaba::SOURCE
    } else {
        FOCUS
    }
}

/// The source of a file, from its header (FOCUS when it cannot be read: the import then reports
/// why).
fn sniff_source(path: &Path) -> &'static str {
    Records::open(path, None)
        .ok()
        .and_then(|mut records| records.header(json_fields).ok())
        .map_or(FOCUS, |header| source_of(&header))
}

/// The documented fields of the JSON bill format whose first row has these names.
fn json_fields(names: &[&str]) -> Option<&'static [&'static str]> {
    if gcp::is_billing_export(names.iter().copied()) {
        Some(gcp::FIELDS)
    } else if alibaba::is_instance_bill(names.iter().copied()) {
        Some(alibaba::FIELDS)
    } else {
        None
    }
}

/// Errors listed before the first pass stops reading.
const MAX_ERRORS: usize = 100;
const BUSY: &str =
    "another import of the same billing period is running; retry when it has finished";
/// COPY data is sent in chunks of about this size.
const CHUNK_BYTES: usize = 1 << 20;
/// How often progress is written for others to see.
const PROGRESS_EVERY: Duration = Duration::from_secs(1);

/// A bill file on local disk (an upload is spooled to a temporary file first).
#[derive(Debug, Clone)]
pub struct BillFile {
    pub path: PathBuf,
    /// The name shown in the import history.
    pub name: String,
    pub sha256: [u8; 32],
    pub bytes: u64,
}

impl BillFile {
    /// Hashes a file already on disk (the CLI's case).
    pub fn from_path(path: &Path) -> std::io::Result<Self> {
        let mut file = File::open(path)?;
        let mut context = ring::digest::Context::new(&ring::digest::SHA256);
        let mut buffer = vec![0; 1 << 16];
        let mut bytes = 0_u64;
        loop {
            let read = file.read(&mut buffer)?;
            if read == 0 {
                break;
            }
            context.update(&buffer[..read]);
            bytes += read as u64;
        }
        Ok(Self {
            path: path.to_owned(),
            name: path.file_name().map_or_else(
                || path.display().to_string(),
                |n| n.to_string_lossy().into_owned(),
            ),
            sha256: digest_bytes(context.finish()),
            bytes,
        })
    }
}

pub fn digest_bytes(digest: ring::digest::Digest) -> [u8; 32] {
    let mut out = [0; 32];
    out.copy_from_slice(digest.as_ref());
    out
}

/// Where a long import reports how far it got (the CLI draws a progress bar from it).
pub trait Progress: Send + Sync {
    /// A phase starts: `reading` counts bytes of the file; `writing` (into the ledger) has no
    /// count (`total` 0).
    fn phase(&self, name: &'static str, total: u64);
    fn advance(&self, done: u64);
}

/// No one is watching (the API: progress is in the import row).
pub struct Quiet;

impl Progress for Quiet {
    fn phase(&self, _name: &'static str, _total: u64) {}
    fn advance(&self, _done: u64) {}
}

/// Who imports, for the import row and the audit entry.
pub struct Importer {
    pub tenant: TenantId,
    /// The audit entry template: actor, source IP, request id.
    pub entry: Entry,
    /// Limit on each SQL statement of the import (they can run long for big files).
    pub statement_timeout: Duration,
}

/// Imports `file` for the importer's tenant. `Ok` for `succeeded` and `unchanged`; a rejected
/// file is `bill_rejected` with the failed import in `details`; a concurrent import of the same
/// unit is `409 conflict`.
pub async fn import(
    pool: &PgPool,
    importer: &Importer,
    file: BillFile,
    progress: Arc<dyn Progress>,
) -> Result<CostImport, AppError> {
    // Time-ordered, so the import history pages by id.
    let id = CostImportId(uuid::Uuid::now_v7());
    let source = {
        let path = file.path.clone();
        tokio::task::spawn_blocking(move || sniff_source(&path))
            .await
            .map_err(AppError::internal)?
    };
    repo::start(pool, importer, id, source, &file).await?;
    match run(pool, importer, id, source, &file, progress).await {
        Ok(done) => {
            if done.status == ImportStatus::Succeeded {
                // New costs may cross budget thresholds; the import itself is already committed.
                watch::evaluate_after_change(pool, importer.tenant).await;
            }
            Ok(done)
        }
        Err(failure) => {
            let (errors, warnings, error) = match failure {
                Failure::Rejected { errors, warnings } => (
                    errors,
                    warnings,
                    AppError::new(
                        ErrorCode::BillRejected,
                        "the bill file was rejected; see details.errors",
                    ),
                ),
                Failure::Busy => (
                    vec![plain_issue(BUSY)],
                    Vec::new(),
                    AppError::new(ErrorCode::Conflict, BUSY),
                ),
                Failure::Fault(err) => {
                    tracing::error!(import = %id, error = ?err, "bill import failed");
                    (
                        vec![plain_issue(
                            "the import was interrupted by a server error; nothing changed",
                        )],
                        Vec::new(),
                        err,
                    )
                }
            };
            let failed = repo::fail(pool, importer, id, &errors, &warnings).await?;
            let details = serde_json::to_value(&failed).map_err(AppError::internal)?;
            Err(error.with_details(details))
        }
    }
}

fn plain_issue(message: &str) -> ImportIssue {
    ImportIssue {
        row: None,
        column: None,
        message: message.to_owned(),
        count: 1,
    }
}

enum Failure {
    Rejected {
        errors: Vec<ImportIssue>,
        warnings: Vec<ImportIssue>,
    },
    Busy,
    Fault(AppError),
}

impl<E: Into<AppError>> From<E> for Failure {
    fn from(err: E) -> Self {
        Self::Fault(err.into())
    }
}

/// What the pass over a valid file learned.
struct Staged {
    rows: u64,
    units: HashMap<Unit, i64>,
    rollup: Rollup,
    warnings: Vec<ImportIssue>,
}

async fn run(
    pool: &PgPool,
    importer: &Importer,
    id: CostImportId,
    source: &'static str,
    file: &BillFile,
    progress: Arc<dyn Progress>,
) -> Result<CostImport, Failure> {
    if let Some(earlier) =
        repo::current_import_of(pool, importer.tenant, source, &file.sha256).await?
    {
        let import = repo::finish(
            pool,
            importer,
            id,
            ImportStatus::Unchanged,
            earlier.rows,
            earlier.units,
            &[],
            0,
        )
        .await?;
        return Ok(import);
    }
    let mut tx = db::begin_for_tenant(pool, importer.tenant).await?;
    repo::set_statement_timeout(&mut tx, importer.statement_timeout).await?;
    repo::create_stage(&mut tx).await?;
    let tag_keys = dimensions::tag_keys(&mut tx, importer.tenant).await?;

    progress.phase("reading", file.bytes);
    // Rows go out in the stream; the ledger is written after it, in one statement.
    let read = Arc::new(AtomicU64::new(0));
    let reporter = spawn_progress_writer(pool.clone(), importer.tenant, id, Arc::clone(&read));
    let encoder = Encoder::new(importer.tenant.0, id.0, source, tag_keys.clone());
    let staged = stage_rows(&mut tx, encoder, &file.path, read, progress.as_ref()).await;
    reporter.abort();
    let _ = reporter.await;
    let staged = staged?;

    let units: Vec<(&Unit, i64)> = staged
        .units
        .iter()
        .map(|(unit, rows)| (unit, *rows))
        .collect();
    let months: Vec<DateTime<Utc>> = units
        .iter()
        .filter_map(|(unit, _)| month_of(unit.billing_period_start))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    for &month in &months {
        repo::ensure_partition(pool, month).await?;
    }
    if !repo::try_lock_units(&mut tx, importer.tenant, source, &units).await? {
        return Err(Failure::Busy);
    }
    if repo::all_units_show(&mut tx, importer.tenant, source, &units, &file.sha256).await? {
        drop(tx);
        let import = repo::finish(
            pool,
            importer,
            id,
            ImportStatus::Unchanged,
            staged.rows,
            units.len(),
            &staged.warnings,
            0,
        )
        .await?;
        return Ok(import);
    }
    let mut warnings = staged.warnings;
    warnings.extend(
        repo::other_sources_of(&mut tx, importer.tenant, source, &units)
            .await?
            .into_iter()
            .map(|other| ImportIssue {
                row: None,
                column: None,
                message: format!(
                    "these billing periods were also imported from `{other}` files: their costs count twice until one of the two is removed"
                ),
                count: 1,
            }),
    );
    progress.phase("writing", 0);
    repo::insert_staged(&mut tx).await?;
    let replaced =
        repo::replace_units(&mut tx, importer.tenant, source, id, &units, &file.sha256).await?;
    // With allocation rules, the months' rollups are recomputed with the rules (a shared cost
    // split in proportion depends on every unit of the month); without, the sums made while
    // reading are the rollups.
    allocation::lock(&mut tx, importer.tenant).await?;
    if allocation::has_rules(&mut tx, importer.tenant).await? {
        allocation::run(&mut tx, importer.tenant, &months).await?;
    } else {
        let time_zone = repo::time_zone(&mut tx, importer.tenant).await?;
        repo::delete_rollups(&mut tx, importer.tenant, source, &units).await?;
        // The tag dimensions may have changed while the file was read (under the lock now held).
        let current_keys = dimensions::tag_keys(&mut tx, importer.tenant).await?;
        if staged.rollup.is_exact() && current_keys == tag_keys {
            repo::insert_rollups(&mut tx, importer.tenant, source, &staged.rollup, &time_zone)
                .await?;
        } else {
            repo::rollups_from_stage(&mut tx, &time_zone, &current_keys).await?;
        }
    }
    let import = repo::finish_in(
        &mut tx,
        importer,
        id,
        ImportStatus::Succeeded,
        staged.rows,
        units.len(),
        &warnings,
        replaced,
    )
    .await?;
    tx.commit().await?;
    Ok(import)
}

/// The first day (UTC) of the month holding `at`.
fn month_of(at: DateTime<Utc>) -> Option<DateTime<Utc>> {
    Utc.with_ymd_and_hms(at.year(), at.month(), 1, 0, 0, 0)
        .single()
}

/// What the reading thread found, besides the rows it sent.
struct Scan {
    rows: u64,
    units: HashMap<Unit, i64>,
    rollup: Rollup,
    warnings: Warnings,
    errors: Vec<ImportIssue>,
}

/// Reads, checks and encodes every row of the file on a blocking thread, sending COPY chunks to
/// `chunks` until the first error (then it only looks for more errors, up to a limit).
fn read_rows(
    path: &Path,
    encoder: &Encoder,
    bytes_read: Arc<AtomicU64>,
    chunks: &tokio::sync::mpsc::Sender<Vec<u8>>,
) -> Result<Scan, AppError> {
    let mut read = Scan {
        rows: 0,
        units: HashMap::new(),
        rollup: Rollup::default(),
        warnings: Warnings::default(),
        errors: Vec::new(),
    };
    let mut records = Records::open(path, Some(bytes_read)).map_err(AppError::internal)?;
    let format = match records.header(json_fields) {
        Ok(header) => Format::from_header(&header, &mut read.warnings),
        Err(err) => Err(vec![err]),
    };
    let format = match format {
        Ok(format) => format,
        Err(errors) => {
            read.errors = errors;
            return Ok(read);
        }
    };
    let mut record = csv::StringRecord::new();
    let mut chunk = Vec::with_capacity(CHUNK_BYTES + 8192);
    chunk.extend_from_slice(pgcopy::HEADER);
    loop {
        let line = match records.read(&mut record) {
            Ok(None) => break,
            Ok(Some(line)) => line,
            Err(err) => {
                read.errors.push(err);
                break;
            }
        };
        read.rows += 1;
        let mut sink = Sink {
            encoder,
            rollup: &mut read.rollup,
            warnings: &mut read.warnings,
            chunk: &mut chunk,
            line,
        };
        let encoded = match &format {
            Format::Focus(layout) => {
                sink.encode(&layout.values(&record), layout.extensions(&record))
            }
            Format::Native(converter) => converter
                .row(&record, line)
                .and_then(|row| sink.encode(&row.view(), row.extensions())),
        };
        match encoded {
            Ok(parsed) => *read.units.entry(parsed.unit).or_default() += 1,
            Err(row_errors) => {
                read.errors.extend(row_errors);
                if read.errors.len() >= MAX_ERRORS {
                    read.errors.truncate(MAX_ERRORS);
                    read.errors
                        .push(plain_issue(&format!("stopped after {MAX_ERRORS} errors")));
                    break;
                }
            }
        }
        if !read.errors.is_empty() {
            // The file is rejected: nothing more is sent, the rest is only checked.
            chunk.clear();
        } else if chunk.len() >= CHUNK_BYTES {
            let full = std::mem::replace(&mut chunk, Vec::with_capacity(CHUNK_BYTES + 8192));
            if chunks.blocking_send(full).is_err() {
                break; // the COPY side stopped; its error is the one to report
            }
        }
    }
    if read.errors.is_empty() {
        chunk.extend_from_slice(pgcopy::TRAILER);
        let _ = chunks.blocking_send(chunk);
    }
    if read.rows == 0 && read.errors.is_empty() {
        read.errors
            .push(plain_issue("the file has a header but no rows"));
    }
    Ok(read)
}

/// Where one checked row goes: its COPY tuple into the chunk, its amounts into the rollup.
struct Sink<'a> {
    encoder: &'a Encoder,
    rollup: &'a mut Rollup,
    warnings: &'a mut Warnings,
    chunk: &'a mut Vec<u8>,
    line: u64,
}

impl Sink<'_> {
    fn encode<'v>(
        &mut self,
        values: &[Option<&str>; COLUMN_COUNT],
        extensions: impl Iterator<Item = (&'v str, &'v str)>,
    ) -> Result<Parsed, RowErrors> {
        let parsed =
            self.encoder
                .encode(self.line, values, extensions, self.warnings, self.chunk)?;
        self.rollup.add(values, &parsed);
        Ok(parsed)
    }
}

/// Streams the file's rows into the staging table; `Rejected` with every error found.
async fn stage_rows(
    conn: &mut sqlx::PgConnection,
    encoder: Encoder,
    path: &Path,
    bytes_read: Arc<AtomicU64>,
    progress: &dyn Progress,
) -> Result<Staged, Failure> {
    let (sender, mut receiver) = tokio::sync::mpsc::channel::<Vec<u8>>(4);
    let reading = {
        let (path, bytes_read) = (path.to_owned(), Arc::clone(&bytes_read));
        tokio::task::spawn_blocking(move || read_rows(&path, &encoder, bytes_read, &sender))
    };
    let mut copy = conn.copy_in_raw(&repo::stage_copy_statement()).await?;
    let mut sent = Ok(());
    while let Some(chunk) = receiver.recv().await {
        if sent.is_ok() {
            sent = copy.send(chunk).await.map(|_| ());
        }
        progress.advance(bytes_read.load(Ordering::Relaxed));
    }
    let read = reading.await.map_err(AppError::internal)??;
    progress.advance(bytes_read.load(Ordering::Relaxed));
    if !read.errors.is_empty() {
        let _ = copy.abort("the bill file was rejected").await;
        return Err(Failure::Rejected {
            errors: read.errors,
            warnings: read.warnings.into_list(),
        });
    }
    sent?;
    copy.finish().await?;
    Ok(Staged {
        rows: read.rows,
        units: read.units,
        rollup: read.rollup,
        warnings: read.warnings.into_list(),
    })
}

/// Writes how many bytes of the file were read, every second, from its own connection.
fn spawn_progress_writer(
    pool: PgPool,
    tenant: TenantId,
    id: CostImportId,
    written: Arc<AtomicU64>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(PROGRESS_EVERY);
        ticker.tick().await;
        loop {
            ticker.tick().await;
            let done = written.load(Ordering::Relaxed);
            if let Err(err) = repo::set_bytes_done(&pool, tenant, id, done).await {
                tracing::warn!(import = %id, error = %err, "import progress not recorded");
            }
        }
    })
}

/// Outcome of an import in the audit log.
pub fn audit_entry(
    importer: &Importer,
    id: CostImportId,
    outcome: Outcome,
    details: serde_json::Value,
) -> Entry {
    Entry {
        tenant: Some(importer.tenant),
        action: "cost.import",
        target: format!("cost_import:{id}"),
        outcome,
        details,
        ..importer.entry.clone()
    }
}
