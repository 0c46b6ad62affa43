//! `nimbus import-bill --tenant SLUG FILE…`: imports bill files with a progress bar on stderr
//! and one summary line per file on stdout (the operator contract, DESIGN.md §5).
//! `nimbus forecast-backtest --tenant SLUG`: the forecast's error on the tenant's history.

use std::path::PathBuf;
use std::sync::Arc;

use indicatif::{ProgressBar, ProgressStyle};
use nimbus_api_types::cost::{CostImport, ImportStatus};
use nimbus_api_types::ids::ProjectId;
use rust_decimal::Decimal;
use sqlx::PgPool;

use super::forecast;
use super::import::{self, BillFile, Importer, Progress};
use crate::admin;
use crate::cli::Failure;
use crate::config::Config;
use crate::db;

/// Draws the import's phases on stderr (nothing when stderr is not a terminal).
struct Bar {
    bar: ProgressBar,
    file: String,
}

impl Progress for Bar {
    fn phase(&self, name: &'static str, total: u64) {
        let template = if total == 0 {
            "{prefix} {msg} {spinner} {elapsed}"
        } else {
            "{prefix} {msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec}"
        };
        if let Ok(style) = ProgressStyle::with_template(template) {
            self.bar.set_style(style.progress_chars("=> "));
        }
        self.bar.set_prefix(self.file.clone());
        self.bar.set_message(name);
        self.bar.set_length(total);
        self.bar.set_position(0);
        if total == 0 {
            self.bar
                .enable_steady_tick(std::time::Duration::from_millis(120));
        }
    }

    fn advance(&self, done: u64) {
        self.bar.set_position(done);
    }
}

/// Imports each file in turn; every file is tried even when one fails, and the command fails
/// (exit 1) if any did.
pub async fn import_bill(
    config: &Config,
    pool: &PgPool,
    tenant: &str,
    files: Vec<PathBuf>,
) -> Result<(), Failure> {
    let tenant = admin::tenant_by_slug(pool, tenant).await?;
    let mut failed = 0;
    for path in files {
        let shown = path.display().to_string();
        let file = BillFile::from_path(&path)
            .map_err(|err| Failure::Runtime(format!("cannot read {shown}: {err}")))?;
        let importer = Importer {
            tenant,
            entry: admin::entry(Some(tenant), "cost.import", String::new()),
            statement_timeout: config.cost.import_timeout,
        };
        let bar = Arc::new(Bar {
            bar: ProgressBar::new(0),
            file: file.name.clone(),
        });
        let result =
            import::import(pool, &importer, file, Arc::clone(&bar) as Arc<dyn Progress>).await;
        bar.bar.finish_and_clear();
        match result {
            Ok(import) => println!("{shown}: {}", summary(&import)),
            Err(err) => {
                failed += 1;
                println!("{shown}: failed: {err}");
                if let Some(import) = err
                    .details()
                    .and_then(|d| serde_json::from_value::<CostImport>(d.clone()).ok())
                {
                    for issue in import.errors.iter().take(20) {
                        let row = issue.row.map(|r| format!("row {r}")).unwrap_or_default();
                        let column = issue.column.clone().unwrap_or_default();
                        println!("  {row} {column}: {}", issue.message);
                    }
                }
            }
        }
    }
    if failed > 0 {
        return Err(Failure::Runtime(format!("{failed} file(s) not imported")));
    }
    Ok(())
}

fn summary(import: &CostImport) -> String {
    let status = match import.status {
        ImportStatus::Unchanged => "already imported, nothing changed",
        ImportStatus::Succeeded => "imported",
        ImportStatus::Running => "running",
        ImportStatus::Failed => "failed",
    };
    let warnings: u64 = import.warnings.iter().map(|w| w.count).sum();
    format!(
        "{status}: {} rows, {} billing period(s), {warnings} warning(s) (import {})",
        import.rows_total.unwrap_or(0),
        import.units,
        import.id
    )
}

/// Prints the backtest of each billing currency's history: one line each on stdout.
pub async fn forecast_backtest(
    pool: &PgPool,
    tenant: &str,
    project: Option<ProjectId>,
) -> Result<(), Failure> {
    let tenant = admin::tenant_by_slug(pool, tenant).await?;
    let runtime = |err: &dyn std::fmt::Display| Failure::Runtime(err.to_string());
    let mut tx = db::begin_for_tenant(pool, tenant)
        .await
        .map_err(|err| runtime(&err))?;
    let history = forecast::history(&mut tx, tenant, project)
        .await
        .map_err(|err| runtime(&err))?;
    db::finish_read(tx);
    if history.is_empty() {
        return Err(Failure::Runtime(
            "no costs to backtest: import bills first".to_owned(),
        ));
    }
    let percent =
        |mape: Option<Decimal>| mape.map_or_else(|| "n/a".to_owned(), |m| format!("{m}%"));
    for (currency, daily) in &history {
        let report = forecast::backtest(currency, daily);
        println!(
            "{currency}: {} days, {} months; daily MAPE {} (flat run-rate {}); next month MAPE {}; month end (from the 15th) MAPE {}",
            report.days_evaluated,
            report.months_evaluated,
            percent(report.daily_mape),
            percent(report.daily_mape_flat),
            percent(report.next_month_mape),
            percent(report.month_end_mape),
        );
    }
    Ok(())
}
