//! The ledger's SQL: import rows, units, partitions, rollups.

use chrono::{DateTime, NaiveDate, Utc};
use nimbus_api_types::cost::{CostImport, ImportIssue, ImportStatus};
use nimbus_api_types::events::EventKind;
use nimbus_api_types::ids::{CostImportId, TenantId};
use sqlx::{PgConnection, PgPool};

use super::dimensions::TagKeys;
use super::focus::Unit;
use super::import::{BillFile, Importer, audit_entry};
use super::rollup::Rollup;
use crate::audit::{self, Outcome};
use crate::error::AppError;
use crate::{db, events};

pub struct ImportRow {
    pub id: uuid::Uuid,
    pub source: String,
    pub file_name: String,
    pub file_sha256: Vec<u8>,
    pub file_bytes: i64,
    pub status: String,
    pub bytes_done: i64,
    pub rows_total: Option<i64>,
    pub rows_done: i64,
    pub units: i32,
    pub warnings: serde_json::Value,
    pub errors: serde_json::Value,
    pub created_by: String,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
}

impl TryFrom<ImportRow> for CostImport {
    type Error = AppError;

    fn try_from(row: ImportRow) -> Result<Self, AppError> {
        let status = match row.status.as_str() {
            "running" => ImportStatus::Running,
            "succeeded" => ImportStatus::Succeeded,
            "unchanged" => ImportStatus::Unchanged,
            _ => ImportStatus::Failed,
        };
        Ok(Self {
            id: CostImportId(row.id),
            source: row.source,
            file_name: row.file_name,
            file_sha256: hex(&row.file_sha256),
            file_bytes: row.file_bytes,
            status,
            bytes_done: row.bytes_done,
            rows_total: row.rows_total,
            rows_done: row.rows_done,
            units: row.units,
            warnings: serde_json::from_value(row.warnings).map_err(AppError::internal)?,
            errors: serde_json::from_value(row.errors).map_err(AppError::internal)?,
            created_by: row.created_by,
            started_at: row.started_at,
            finished_at: row.finished_at,
        })
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn status_name(status: ImportStatus) -> &'static str {
    match status {
        ImportStatus::Running => "running",
        ImportStatus::Succeeded => "succeeded",
        ImportStatus::Unchanged => "unchanged",
        ImportStatus::Failed => "failed",
    }
}

fn to_json(issues: &[ImportIssue]) -> Result<serde_json::Value, AppError> {
    serde_json::to_value(issues).map_err(AppError::internal)
}

/// Records a new attempt as `running` (committed at once). Attempts of the tenant still
/// `running` past the import deadline were cut short (a crash, a killed process): their
/// transaction rolled back, so they are marked failed.
pub async fn start(
    pool: &PgPool,
    importer: &Importer,
    id: CostImportId,
    source: &str,
    file: &BillFile,
) -> Result<(), AppError> {
    let mut tx = db::begin_for_tenant(pool, importer.tenant).await?;
    let interrupted = serde_json::json!([{
        "row": null, "column": null, "count": 1,
        "message": "the import was interrupted (the server stopped); nothing of it was kept",
    }]);
    sqlx::query!(
        "UPDATE cost_imports SET status = 'failed', errors = $3, finished_at = now()
         WHERE tenant_id = $1 AND status = 'running' AND started_at < now() - make_interval(secs => $2)",
        importer.tenant.0,
        importer.statement_timeout.as_secs_f64(),
        interrupted,
    )
    .execute(&mut *tx)
    .await?;
    sqlx::query!(
        "INSERT INTO cost_imports (id, tenant_id, source, file_name, file_sha256, file_bytes, status, created_by)
         VALUES ($1, $2, $3, $4, $5, $6, 'running', $7)",
        id.0,
        importer.tenant.0,
        source,
        file.name,
        &file.sha256[..],
        i64::try_from(file.bytes).unwrap_or(i64::MAX),
        importer.entry.actor,
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

pub async fn set_bytes_done(
    pool: &PgPool,
    tenant: TenantId,
    id: CostImportId,
    bytes: u64,
) -> Result<(), AppError> {
    let mut tx = db::begin_for_tenant(pool, tenant).await?;
    sqlx::query!(
        "UPDATE cost_imports SET bytes_done = $2 WHERE id = $1 AND status = 'running'",
        id.0,
        i64::try_from(bytes).unwrap_or(i64::MAX)
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Marks the attempt failed, with its audit entry, in a transaction of its own.
pub async fn fail(
    pool: &PgPool,
    importer: &Importer,
    id: CostImportId,
    errors: &[ImportIssue],
    warnings: &[ImportIssue],
) -> Result<CostImport, AppError> {
    let mut tx = db::begin_for_tenant(pool, importer.tenant).await?;
    let row = sqlx::query_as!(
        ImportRow,
        "UPDATE cost_imports SET status = 'failed', errors = $2, warnings = $3, finished_at = now()
         WHERE id = $1
         RETURNING id, source, file_name, file_sha256, file_bytes, status, bytes_done, rows_total, rows_done, units,
                   warnings, errors, created_by, started_at, finished_at",
        id.0,
        to_json(errors)?,
        to_json(warnings)?,
    )
    .fetch_one(&mut *tx)
    .await?;
    let entry = audit_entry(
        importer,
        id,
        Outcome::Failure,
        serde_json::json!({ "file_name": row.file_name, "errors": errors.len() }),
    );
    audit::record(&mut tx, &entry).await?;
    import_finished(&mut tx, importer, id, "failed").await?;
    tx.commit().await?;
    CostImport::try_from(row)
}

/// Finishes the attempt in its own transaction (an unchanged file changes nothing else).
#[expect(
    clippy::too_many_arguments,
    reason = "one import's outcome, field by field"
)]
pub async fn finish(
    pool: &PgPool,
    importer: &Importer,
    id: CostImportId,
    status: ImportStatus,
    rows: u64,
    units: usize,
    warnings: &[ImportIssue],
    replaced: u64,
) -> Result<CostImport, AppError> {
    let mut tx = db::begin_for_tenant(pool, importer.tenant).await?;
    let import = finish_in(
        &mut tx, importer, id, status, rows, units, warnings, replaced,
    )
    .await?;
    tx.commit().await?;
    Ok(import)
}

/// Finishes the attempt and writes its audit entry in the caller's transaction.
#[expect(
    clippy::too_many_arguments,
    reason = "one import's outcome, field by field"
)]
pub async fn finish_in(
    conn: &mut PgConnection,
    importer: &Importer,
    id: CostImportId,
    status: ImportStatus,
    rows: u64,
    units: usize,
    warnings: &[ImportIssue],
    replaced: u64,
) -> Result<CostImport, AppError> {
    let rows = i64::try_from(rows).unwrap_or(i64::MAX);
    let row = sqlx::query_as!(
        ImportRow,
        "UPDATE cost_imports
         SET status = $2, rows_total = $3, rows_done = $3, bytes_done = file_bytes, units = $4, warnings = $5,
             finished_at = now()
         WHERE id = $1
         RETURNING id, source, file_name, file_sha256, file_bytes, status, bytes_done, rows_total, rows_done, units,
                   warnings, errors, created_by, started_at, finished_at",
        id.0,
        status_name(status),
        rows,
        i32::try_from(units).unwrap_or(i32::MAX),
        to_json(warnings)?,
    )
    .fetch_one(&mut *conn)
    .await?;
    let entry = audit_entry(
        importer,
        id,
        Outcome::Success,
        serde_json::json!({
            "file_name": row.file_name,
            "status": status_name(status),
            "rows": rows,
            "units": units,
            "replaced_rows": replaced,
        }),
    );
    audit::record(&mut *conn, &entry).await?;
    import_finished(conn, importer, id, status_name(status)).await?;
    CostImport::try_from(row)
}

/// Announces the end of an import to the tenant's live dashboards.
async fn import_finished(
    conn: &mut PgConnection,
    importer: &Importer,
    id: CostImportId,
    status: &str,
) -> Result<(), AppError> {
    events::publish(
        conn,
        importer.tenant,
        None,
        EventKind::ImportFinished,
        serde_json::json!({ "import_id": id, "status": status }),
    )
    .await
}

/// What an earlier import of this very file left: its rows and units, when every unit it
/// imported still shows it (then importing it again changes nothing).
pub struct CurrentImport {
    pub rows: u64,
    pub units: usize,
}

pub async fn current_import_of(
    pool: &PgPool,
    tenant: TenantId,
    source: &str,
    sha256: &[u8; 32],
) -> Result<Option<CurrentImport>, AppError> {
    let mut tx = db::begin_for_tenant(pool, tenant).await?;
    let found = sqlx::query!(
        r#"SELECT i.rows_total AS "rows!", i.units FROM cost_imports i
           WHERE i.tenant_id = $1 AND i.source = $2 AND i.file_sha256 = $3 AND i.status = 'succeeded'
             AND i.units = (SELECT count(*) FROM cost_units u WHERE u.tenant_id = $1 AND u.import_id = i.id)
           ORDER BY i.id DESC LIMIT 1"#,
        tenant.0,
        source,
        &sha256[..],
    )
    .fetch_optional(&mut *tx)
    .await?;
    db::finish_read(tx);
    Ok(found.map(|row| CurrentImport {
        rows: u64::try_from(row.rows).unwrap_or(0),
        units: usize::try_from(row.units).unwrap_or(0),
    }))
}

/// The session-private table rows are `COPY`ed into before they enter the ledger (PostgreSQL
/// refuses `COPY` into a table under row-level security). Dropped at commit.
pub async fn create_stage(conn: &mut PgConnection) -> Result<(), AppError> {
    sqlx::query!(
        "CREATE TEMPORARY TABLE cost_import_stage (LIKE cost_line_items INCLUDING DEFAULTS) ON COMMIT DROP"
    )
    .execute(conn)
    .await?;
    Ok(())
}

#[must_use]
pub fn stage_copy_statement() -> String {
    super::focus::copy_statement("cost_import_stage")
}

/// Moves the staged rows into the ledger, through its row-level security.
pub async fn insert_staged(conn: &mut PgConnection) -> Result<u64, AppError> {
    Ok(
        // Not `query!`: the temporary table exists only inside the import's session.
        sqlx::query("INSERT INTO cost_line_items SELECT * FROM cost_import_stage")
            .execute(conn)
            .await?
            .rows_affected(),
    )
}

/// Raises the statement timeout for the rest of the caller's transaction.
pub async fn set_statement_timeout(
    conn: &mut PgConnection,
    limit: std::time::Duration,
) -> Result<(), AppError> {
    let millis = limit.as_millis().to_string();
    sqlx::query_scalar!(
        r#"SELECT set_config('statement_timeout', $1, true) AS "set!""#,
        millis
    )
    .fetch_one(conn)
    .await?;
    Ok(())
}

/// Makes the partition of `month` if it is missing (its own short transaction; see the
/// migration's `cost_line_items_partition_for`).
pub async fn ensure_partition(pool: &PgPool, month: DateTime<Utc>) -> Result<(), AppError> {
    sqlx::query!("SELECT cost_line_items_partition_for($1)", month)
        .execute(pool)
        .await?;
    Ok(())
}

/// The unit keys as two parallel arrays, for `unnest`.
fn unit_arrays(units: &[(&Unit, i64)]) -> (Vec<String>, Vec<DateTime<Utc>>, Vec<i64>) {
    let accounts = units
        .iter()
        .map(|(unit, _)| unit.billing_account_id.clone())
        .collect();
    let periods = units
        .iter()
        .map(|(unit, _)| unit.billing_period_start)
        .collect();
    let rows = units.iter().map(|(_, rows)| *rows).collect();
    (accounts, periods, rows)
}

/// Takes every unit's transaction lock without waiting; `false` when another import holds one.
pub async fn try_lock_units(
    conn: &mut PgConnection,
    tenant: TenantId,
    source: &str,
    units: &[(&Unit, i64)],
) -> Result<bool, AppError> {
    let (accounts, periods, _) = unit_arrays(units);
    // Sorted, so two imports sharing units cannot each hold what the other wants.
    let taken = sqlx::query_scalar!(
        r#"SELECT coalesce(bool_and(taken), true) AS "taken!" FROM (
               SELECT pg_try_advisory_xact_lock(hashtextextended($1::text || '|' || $2 || '|' || u.account || '|' || u.period::text, 0)) AS taken
               FROM unnest($3::text[], $4::timestamptz[]) AS u(account, period)
               ORDER BY u.account, u.period) locks"#,
        tenant.0.to_string(),
        source,
        &accounts,
        &periods,
    )
    .fetch_one(&mut *conn)
    .await?;
    Ok(taken)
}

/// Other sources that hold any of these billing accounts' periods (a FOCUS export and a native
/// report of the same month would count it twice).
pub async fn other_sources_of(
    conn: &mut PgConnection,
    tenant: TenantId,
    source: &str,
    units: &[(&Unit, i64)],
) -> Result<Vec<String>, AppError> {
    let (accounts, periods, _) = unit_arrays(units);
    Ok(sqlx::query_scalar!(
        r#"SELECT DISTINCT c.source AS "source!" FROM cost_units c
           JOIN unnest($3::text[], $4::timestamptz[]) AS u(account, period)
             ON c.billing_account_id = u.account AND c.billing_period_start = u.period
           WHERE c.tenant_id = $1 AND c.source <> $2
           ORDER BY 1"#,
        tenant.0,
        source,
        &accounts,
        &periods,
    )
    .fetch_all(&mut *conn)
    .await?)
}

/// Whether every unit of the file already shows this very file.
pub async fn all_units_show(
    conn: &mut PgConnection,
    tenant: TenantId,
    source: &str,
    units: &[(&Unit, i64)],
    sha256: &[u8; 32],
) -> Result<bool, AppError> {
    let (accounts, periods, _) = unit_arrays(units);
    let showing = sqlx::query_scalar!(
        r#"SELECT count(*) AS "count!" FROM cost_units c
           JOIN unnest($3::text[], $4::timestamptz[]) AS u(account, period)
             ON c.billing_account_id = u.account AND c.billing_period_start = u.period
           WHERE c.tenant_id = $1 AND c.source = $2 AND c.file_sha256 = $5"#,
        tenant.0,
        source,
        &accounts,
        &periods,
        &sha256[..],
    )
    .fetch_one(&mut *conn)
    .await?;
    Ok(usize::try_from(showing).is_ok_and(|showing| showing == units.len()))
}

/// Deletes the units' rows of earlier imports and points the units at this one. Returns how many
/// earlier rows were replaced.
pub async fn replace_units(
    conn: &mut PgConnection,
    tenant: TenantId,
    source: &str,
    import: CostImportId,
    units: &[(&Unit, i64)],
    sha256: &[u8; 32],
) -> Result<u64, AppError> {
    let (accounts, periods, rows) = unit_arrays(units);
    let replaced = sqlx::query!(
        "DELETE FROM cost_line_items li USING unnest($3::text[], $4::timestamptz[]) AS u(account, period)
         WHERE li.tenant_id = $1 AND li.source = $2 AND li.billing_account_id = u.account
           AND li.billing_period_start = u.period AND li.import_id <> $5",
        tenant.0,
        source,
        &accounts,
        &periods,
        import.0,
    )
    .execute(&mut *conn)
    .await?
    .rows_affected();
    sqlx::query!(
        "INSERT INTO cost_units (tenant_id, source, billing_account_id, billing_period_start, import_id, file_sha256, line_items)
         SELECT $1, $2, u.account, u.period, $5, $6, u.rows
         FROM unnest($3::text[], $4::timestamptz[], $7::bigint[]) AS u(account, period, rows)
         ON CONFLICT (tenant_id, source, billing_account_id, billing_period_start) DO UPDATE
         SET import_id = excluded.import_id, file_sha256 = excluded.file_sha256,
             line_items = excluded.line_items, replaced_at = now()",
        tenant.0,
        source,
        &accounts,
        &periods,
        import.0,
        &sha256[..],
        &rows,
    )
    .execute(&mut *conn)
    .await?;
    Ok(replaced)
}

pub async fn time_zone(conn: &mut PgConnection, tenant: TenantId) -> Result<String, AppError> {
    Ok(
        sqlx::query_scalar!("SELECT time_zone FROM tenants WHERE id = $1", tenant.0)
            .fetch_one(conn)
            .await?,
    )
}

/// Today's date in the tenant's time zone.
pub async fn today(conn: &mut PgConnection, tenant: TenantId) -> Result<NaiveDate, AppError> {
    Ok(sqlx::query_scalar!(
        r#"SELECT (now() AT TIME ZONE time_zone)::date AS "today!" FROM tenants WHERE id = $1"#,
        tenant.0
    )
    .fetch_one(conn)
    .await?)
}

/// Deletes the units' daily rollups (before their new ones are written).
pub async fn delete_rollups(
    conn: &mut PgConnection,
    tenant: TenantId,
    source: &str,
    units: &[(&Unit, i64)],
) -> Result<(), AppError> {
    let (accounts, periods, _) = unit_arrays(units);
    sqlx::query!(
        "DELETE FROM cost_daily d USING unnest($3::text[], $4::timestamptz[]) AS u(account, period)
         WHERE d.tenant_id = $1 AND d.source = $2 AND d.billing_account_id = u.account
           AND d.billing_period_start = u.period",
        tenant.0,
        source,
        &accounts,
        &periods,
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Writes the rollup summed while reading: its 15-minute buckets cut into days of `time_zone`.
pub async fn insert_rollups(
    conn: &mut PgConnection,
    tenant: TenantId,
    source: &str,
    rollup: &Rollup,
    time_zone: &str,
) -> Result<(), AppError> {
    let mut accounts = Vec::new();
    let mut periods = Vec::new();
    let mut buckets = Vec::new();
    let mut providers = Vec::new();
    let mut dimensions: [Vec<Option<&str>>; 6] = Default::default();
    let mut clusters = Vec::new();
    let mut tags = Vec::new();
    let mut billed = Vec::new();
    let mut effective = Vec::new();
    let mut list = Vec::new();
    let mut contracted = Vec::new();
    let mut line_items = Vec::new();
    for group in rollup.groups() {
        accounts.push(group.billing_account_id);
        periods.push(group.billing_period_start);
        buckets.push(group.bucket);
        providers.push(group.provider);
        for (column, value) in dimensions.iter_mut().zip(group.dimensions) {
            column.push(value);
        }
        clusters.push(group.cluster);
        tags.push(group.tags);
        billed.push(group.sums.billed);
        effective.push(group.sums.effective);
        list.push(group.sums.list);
        contracted.push(group.sums.contracted);
        line_items.push(group.sums.line_items);
    }
    let [
        sub_accounts,
        services,
        categories,
        regions,
        charges,
        currencies,
    ] = dimensions;
    sqlx::query!(
        r#"INSERT INTO cost_daily (tenant_id, source, billing_account_id, billing_period_start, day, provider,
                                   sub_account_id, service_name, service_category, region_id, charge_category,
                                   billing_currency, project_id, cluster, tags, billed_cost, effective_cost,
                                   list_cost, contracted_cost, line_items)
           SELECT $1, $2, g.account, g.period, (g.bucket AT TIME ZONE $3)::date, g.provider, g.sub_account,
                  g.service, g.category, g.region, g.charge, g.currency, NULL::uuid, g.cluster, g.tags::jsonb,
                  sum(g.billed), sum(g.effective), sum(g.list), sum(g.contracted), sum(g.line_items)
           FROM unnest($4::text[], $5::timestamptz[], $6::timestamptz[], $7::text[], $8::text[], $9::text[],
                       $10::text[], $11::text[], $12::text[], $13::text[], $14::text[], $15::text[],
                       $16::numeric[], $17::numeric[], $18::numeric[], $19::numeric[], $20::bigint[])
                AS g(account, period, bucket, provider, sub_account, service, category, region, charge,
                     currency, cluster, tags, billed, effective, list, contracted, line_items)
           GROUP BY g.account, g.period, (g.bucket AT TIME ZONE $3)::date, g.provider, g.sub_account,
                    g.service, g.category, g.region, g.charge, g.currency, g.cluster, g.tags"#,
        tenant.0,
        source,
        time_zone,
        &accounts as &[&str],
        &periods,
        &buckets,
        &providers as &[&str],
        &sub_accounts as &[Option<&str>],
        &services as &[Option<&str>],
        &categories as &[Option<&str>],
        &regions as &[Option<&str>],
        &charges as &[Option<&str>],
        &currencies as &[Option<&str>],
        &clusters as &[Option<&str>],
        &tags as &[Option<&str>],
        &billed,
        &effective,
        &list as &[Option<rust_decimal::Decimal>],
        &contracted as &[Option<rust_decimal::Decimal>],
        &line_items,
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Sums the staged rows (the units' rows now) into daily rollups in SQL, days cut in
/// `time_zone`, with the tenant's tag dimensions `tag_keys`: for files whose numbers are too
/// precise for an exact sum in Rust, or whose tag dimensions changed while they were read.
pub async fn rollups_from_stage(
    conn: &mut PgConnection,
    time_zone: &str,
    tag_keys: &TagKeys,
) -> Result<(), AppError> {
    // Not `query!`: the stage exists only inside the import's session. The provider is
    // ServiceProviderName when present (FOCUS 1.3), else ProviderName.
    sqlx::query(
        "INSERT INTO cost_daily (tenant_id, source, billing_account_id, billing_period_start, day, provider,
                                 sub_account_id, service_name, service_category, region_id, charge_category,
                                 billing_currency, project_id, cluster, tags, billed_cost, effective_cost,
                                 list_cost, contracted_cost, line_items)
         SELECT tenant_id, source, billing_account_id, billing_period_start,
                (charge_period_start AT TIME ZONE $1)::date,
                coalesce(service_provider_name, provider_name, 'Unknown'),
                sub_account_id, service_name, service_category, region_id, charge_category,
                billing_currency, NULL::uuid, cluster, cost_tag_dimensions(tags, $2),
                sum(billed_cost), sum(effective_cost), sum(list_cost), sum(contracted_cost), count(*)
         FROM cost_import_stage
         GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 14, 15",
    )
    .bind(time_zone)
        .bind(tag_keys.as_slice())
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// One import of the tenant.
pub async fn get(
    pool: &PgPool,
    tenant: TenantId,
    id: CostImportId,
) -> Result<Option<CostImport>, AppError> {
    let mut tx = db::begin_for_tenant(pool, tenant).await?;
    let row = sqlx::query_as!(
        ImportRow,
        "SELECT id, source, file_name, file_sha256, file_bytes, status, bytes_done, rows_total, rows_done, units,
                warnings, errors, created_by, started_at, finished_at
         FROM cost_imports WHERE tenant_id = $1 AND id = $2",
        tenant.0,
        id.0,
    )
    .fetch_optional(&mut *tx)
    .await?;
    db::finish_read(tx);
    row.map(CostImport::try_from).transpose()
}

/// The tenant's imports, newest first (their ids are time-ordered UUIDv7), after `after`.
pub async fn list(
    pool: &PgPool,
    tenant: TenantId,
    after: Option<uuid::Uuid>,
    limit: i64,
) -> Result<Vec<CostImport>, AppError> {
    let mut tx = db::begin_for_tenant(pool, tenant).await?;
    let rows = sqlx::query_as!(
        ImportRow,
        "SELECT id, source, file_name, file_sha256, file_bytes, status, bytes_done, rows_total, rows_done, units,
                warnings, errors, created_by, started_at, finished_at
         FROM cost_imports
         WHERE tenant_id = $1 AND ($2::uuid IS NULL OR id < $2)
         ORDER BY id DESC LIMIT $3",
        tenant.0,
        after,
        limit,
    )
    .fetch_all(&mut *tx)
    .await?;
    db::finish_read(tx);
    rows.into_iter().map(CostImport::try_from).collect()
}
