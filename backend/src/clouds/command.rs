//! `nimbus sync --tenant SLUG ACCOUNT_ID`: syncs one account now, with a progress bar on
//! stderr and a summary line on stdout (the operator contract, DESIGN.md §5). When a server's
//! worker already runs that account's sync, the command follows it instead.

use std::sync::atomic::{AtomicU64, Ordering};

use indicatif::{ProgressBar, ProgressStyle};
use nimbus_api_types::clouds::SyncJob;
use nimbus_api_types::ids::CloudAccountId;

use super::sync::{self, Progress};
use crate::admin;
use crate::cli::Failure;
use crate::db;
use crate::error::AppError;
use crate::state::AppState;

struct Bar {
    bar: ProgressBar,
    resources: AtomicU64,
}

impl Progress for Bar {
    fn scope_started(&self, scope: &str, done: usize, total: usize) {
        self.bar.set_length(total as u64);
        self.bar.set_position(done as u64);
        self.bar.set_message(scope.to_owned());
    }

    fn listed(&self, resources: u64) {
        let seen = self.resources.fetch_add(resources, Ordering::Relaxed) + resources;
        self.bar.set_prefix(format!("{seen} resources"));
    }
}

pub async fn sync_account(
    state: &AppState,
    tenant: &str,
    account: CloudAccountId,
) -> Result<(), Failure> {
    let tenant = admin::tenant_by_slug(&state.db, tenant).await?;
    let requested = {
        let mut tx = db::begin_for_tenant(&state.db, tenant)
            .await
            .map_err(runtime)?;
        let job = sync::request(&mut tx, tenant, account, None)
            .await
            .map_err(runtime)?;
        let mut entry = admin::entry(
            Some(tenant),
            "cloud_account.sync",
            format!("cloud_account:{account}"),
        );
        entry.details = serde_json::json!({ "sync_job_id": job.id });
        crate::audit::record(&mut tx, &entry)
            .await
            .map_err(runtime)?;
        tx.commit().await.map_err(runtime)?;
        job
    };
    let worker = uuid::Uuid::new_v4();
    let job = match sync::claim(state, worker, Some(requested.id))
        .await
        .map_err(runtime)?
    {
        Some(claimed) => {
            let bar = ProgressBar::new(0);
            if let Ok(style) =
                ProgressStyle::with_template("{msg:20} [{bar:30}] {pos}/{len} scopes, {prefix}")
            {
                bar.set_style(style.progress_chars("=> "));
            }
            bar.set_prefix("0 resources");
            let progress = Bar {
                bar,
                resources: AtomicU64::new(0),
            };
            sync::run(state, claimed, worker, &progress).await;
            progress.bar.finish_and_clear();
            let mut tx = db::begin_for_tenant(&state.db, tenant)
                .await
                .map_err(runtime)?;
            let job = sync::job(&mut tx, tenant, requested.id)
                .await
                .map_err(runtime)?;
            db::finish_read(tx);
            job
        }
        None => {
            eprintln!("another worker runs this account's sync; following it");
            sync::wait_for(&state.db, tenant, requested.id)
                .await
                .map_err(runtime)?
        }
    };
    println!("{}", summary(&job));
    if job.state == nimbus_api_types::clouds::SyncState::Succeeded {
        Ok(())
    } else {
        Err(Failure::Runtime(format!(
            "the sync did not complete: {}",
            job.error.as_deref().unwrap_or("see the account's scopes")
        )))
    }
}

fn runtime(err: impl Into<AppError>) -> Failure {
    Failure::Runtime(err.into().to_string())
}

fn summary(job: &SyncJob) -> String {
    format!(
        "sync {}: {}, {} of {} scopes, {} resources",
        job.id,
        job.state.as_str(),
        job.scopes_done,
        job.scopes_total.unwrap_or(0),
        job.resources
    )
}
