//! The sync engine: a PostgreSQL job queue shared by every server replica.
//!
//! Due accounts are queued by `enqueue_due_syncs` (jittered intervals); workers claim jobs with
//! `claim_sync_job` (`FOR UPDATE SKIP LOCKED`, a lease, a global cap) and renew the lease while
//! they work; a killed worker's job is claimed again when its lease runs out. Each scope is
//! reconciled on its own: pages upserted as they arrive, leftovers deleted only after the
//! listing completed, a failed listing kept and marked stale. A credential the cloud rejects
//! pauses the account — no retries until someone fixes it.

use std::sync::Arc;
use std::time::Duration;

use nimbus_api_types::ErrorCode;
use nimbus_api_types::clouds::{AccountStatus, SyncJob, SyncState};
use nimbus_api_types::events::EventKind;
use nimbus_api_types::ids::{CloudAccountId, ProjectId, SyncJobId, TenantId, UserId};
use sqlx::{PgConnection, PgPool};
use tokio::sync::{Semaphore, mpsc};

use super::accounts;
use super::bill_exports;
use super::connector::{ClusterRecord, Connector, ConnectorError, Page, Scope, ScopeKind};
use super::inventory;
use super::kubernetes::KubernetesConnector;
use crate::db;
use crate::error::AppError;
use crate::state::AppState;
use crate::{events, notifications};

/// The channel that wakes workers when a sync is asked for.
const WAKE_CHANNEL: &str = "nimbus_sync";
/// Accounts queued per scheduling round.
const ENQUEUE_BATCH: i32 = 100;
/// Pages buffered between a connector and the database.
const PAGE_BUFFER: usize = 4;
/// A job claimed this many times without finishing is given up.
const MAX_ATTEMPTS: i32 = 3;

/// A claimed job.
#[derive(Debug, Clone, Copy)]
pub struct Claimed {
    pub job: SyncJobId,
    pub tenant: TenantId,
    pub account: CloudAccountId,
    pub attempts: i32,
}

/// Where a running sync reports how far it got (the CLI draws it).
pub trait Progress: Send + Sync {
    fn scope_started(&self, scope: &str, done: usize, total: usize);
    fn listed(&self, resources: u64);
}

/// Nobody watches (server workers: progress is in the job row).
pub struct Quiet;

impl Progress for Quiet {
    fn scope_started(&self, _scope: &str, _done: usize, _total: usize) {}
    fn listed(&self, _resources: u64) {}
}

/// Queues a manual sync of the account, or returns the one already queued or running.
pub async fn request(
    conn: &mut PgConnection,
    tenant: TenantId,
    account: CloudAccountId,
    requested_by: Option<UserId>,
) -> Result<SyncJob, AppError> {
    accounts::get(conn, tenant, account).await?;
    let queued = sqlx::query_scalar!(
        "INSERT INTO sync_jobs (id, tenant_id, account_id, trigger, requested_by)
         VALUES ($1, $2, $3, 'manual', $4)
         ON CONFLICT (account_id) WHERE state IN ('queued', 'running') DO NOTHING
         RETURNING id",
        uuid::Uuid::now_v7(),
        tenant.0,
        account.0,
        requested_by.map(|user| user.0),
    )
    .fetch_optional(&mut *conn)
    .await?;
    let id = match queued {
        Some(id) => {
            sqlx::query!("SELECT pg_notify($1, '')", WAKE_CHANNEL)
                .execute(&mut *conn)
                .await?;
            id
        }
        None => {
            sqlx::query_scalar!(
                "SELECT id FROM sync_jobs
             WHERE tenant_id = $1 AND account_id = $2 AND state IN ('queued', 'running')",
                tenant.0,
                account.0,
            )
            .fetch_one(&mut *conn)
            .await?
        }
    };
    job(conn, tenant, SyncJobId(id)).await
}

struct JobRow {
    id: uuid::Uuid,
    account_id: uuid::Uuid,
    state: String,
    trigger: String,
    attempts: i32,
    scopes_done: i32,
    scopes_total: Option<i32>,
    resources: i64,
    error: Option<String>,
    queued_at: chrono::DateTime<chrono::Utc>,
    started_at: Option<chrono::DateTime<chrono::Utc>>,
    finished_at: Option<chrono::DateTime<chrono::Utc>>,
}

impl JobRow {
    fn into_job(self) -> Result<SyncJob, AppError> {
        Ok(SyncJob {
            id: SyncJobId(self.id),
            account_id: CloudAccountId(self.account_id),
            state: SyncState::from_name(&self.state)
                .ok_or_else(|| AppError::internal(format!("unknown sync state {}", self.state)))?,
            trigger: self.trigger,
            attempts: self.attempts,
            scopes_done: self.scopes_done,
            scopes_total: self.scopes_total,
            resources: self.resources,
            error: self.error,
            queued_at: self.queued_at,
            started_at: self.started_at,
            finished_at: self.finished_at,
        })
    }
}

pub async fn job(
    conn: &mut PgConnection,
    tenant: TenantId,
    id: SyncJobId,
) -> Result<SyncJob, AppError> {
    sqlx::query_as!(
        JobRow,
        "SELECT id, account_id, state, trigger, attempts, scopes_done, scopes_total, resources,
                error, queued_at, started_at, finished_at
         FROM sync_jobs WHERE tenant_id = $1 AND id = $2",
        tenant.0,
        id.0,
    )
    .fetch_optional(&mut *conn)
    .await?
    .ok_or_else(|| AppError::new(ErrorCode::NotFound, "no such sync"))?
    .into_job()
}

/// The account's latest syncs, newest first.
pub async fn jobs(
    conn: &mut PgConnection,
    tenant: TenantId,
    account: CloudAccountId,
    limit: i64,
) -> Result<Vec<SyncJob>, AppError> {
    accounts::get(conn, tenant, account).await?;
    sqlx::query_as!(
        JobRow,
        "SELECT id, account_id, state, trigger, attempts, scopes_done, scopes_total, resources,
                error, queued_at, started_at, finished_at
         FROM sync_jobs WHERE tenant_id = $1 AND account_id = $2
         ORDER BY queued_at DESC LIMIT $3",
        tenant.0,
        account.0,
        limit,
    )
    .fetch_all(&mut *conn)
    .await?
    .into_iter()
    .map(JobRow::into_job)
    .collect()
}

/// Claims the oldest claimable job (or exactly `only`), within the global cap.
pub async fn claim(
    state: &AppState,
    worker: uuid::Uuid,
    only: Option<SyncJobId>,
) -> Result<Option<Claimed>, AppError> {
    let clouds = &state.config.clouds;
    let row = sqlx::query!(
        r#"SELECT job_id AS "job_id!", tenant_id AS "tenant_id!", account_id AS "account_id!",
                  attempts AS "attempts!"
           FROM claim_sync_job($1, make_interval(secs => $2), $3, $4)"#,
        worker,
        clouds.lease.as_secs_f64(),
        i32::try_from(clouds.max_running).unwrap_or(i32::MAX),
        only.map(|job| job.0),
    )
    .fetch_optional(&state.db)
    .await?;
    Ok(row.map(|row| Claimed {
        job: SyncJobId(row.job_id),
        tenant: TenantId(row.tenant_id),
        account: CloudAccountId(row.account_id),
        attempts: row.attempts,
    }))
}

/// The server's workers: schedule due accounts, claim jobs up to `clouds.workers` at once,
/// and wake early when a sync is asked for. Runs until the server drains.
pub async fn run_workers(state: AppState) {
    let worker = uuid::Uuid::new_v4();
    let slots = Arc::new(Semaphore::new(
        usize::try_from(state.config.clouds.workers).unwrap_or(1),
    ));
    // A finished sync frees a slot: the next queued job starts at once, not at the next poll.
    let slot_freed = Arc::new(tokio::sync::Notify::new());
    let mut listener = match sqlx::postgres::PgListener::connect_with(&state.db).await {
        Ok(mut listener) => match listener.listen(WAKE_CHANNEL).await {
            Ok(()) => Some(listener),
            Err(err) => {
                tracing::warn!(error = %err, "sync workers poll only");
                None
            }
        },
        Err(err) => {
            tracing::warn!(error = %err, "sync workers poll only");
            None
        }
    };
    while !state.lifecycle.is_draining() {
        if let Err(err) = sqlx::query_scalar!("SELECT enqueue_due_syncs($1)", ENQUEUE_BATCH)
            .fetch_one(&state.db)
            .await
        {
            tracing::warn!(error = %err, "due syncs were not queued");
        }
        while let Ok(slot) = Arc::clone(&slots).try_acquire_owned() {
            match claim(&state, worker, None).await {
                Ok(Some(claimed)) => {
                    let (state, slot_freed) = (state.clone(), Arc::clone(&slot_freed));
                    tokio::spawn(async move {
                        run(&state, claimed, worker, &Quiet).await;
                        drop(slot);
                        slot_freed.notify_one();
                    });
                }
                Ok(None) => break,
                Err(err) => {
                    tracing::warn!(error = %err, "no sync job could be claimed");
                    break;
                }
            }
        }
        let pause = state.config.clouds.poll_interval;
        let requested = async {
            match listener.as_mut() {
                // A broken listener reconnects inside `recv`.
                Some(listener) => drop(tokio::time::timeout(pause, listener.recv()).await),
                None => tokio::time::sleep(pause).await,
            }
        };
        // Woken by a request, a freed slot, or the poll interval.
        tokio::select! {
            () = requested => {}
            () = slot_freed.notified() => {}
        }
    }
}

/// Runs a claimed job to its end, renewing its lease meanwhile; a job whose lease was taken
/// over (this worker stalled) stops without finishing it. Returns the final state.
pub async fn run(
    state: &AppState,
    claimed: Claimed,
    worker: uuid::Uuid,
    progress: &dyn Progress,
) -> SyncState {
    let work = async {
        if claimed.attempts > MAX_ATTEMPTS {
            return finish(
                state,
                claimed,
                SyncState::Failed,
                Some(format!("gave up after {MAX_ATTEMPTS} interrupted attempts")),
            )
            .await;
        }
        match sync(state, claimed, progress).await {
            Ok((outcome, error)) => finish(state, claimed, outcome, error).await,
            Err(err) => {
                tracing::warn!(job = %claimed.job, error = %err, "sync interrupted");
                // The lease runs out and the job is claimed again.
                Err(err)
            }
        }
    };
    let result = tokio::select! {
        result = work => result,
        () = keep_lease(state, claimed, worker) => {
            tracing::warn!(job = %claimed.job, "sync lease lost to another worker");
            return SyncState::Running;
        }
    };
    result.unwrap_or(SyncState::Running)
}

/// Renews the lease every third of its length; returns when it was lost.
async fn keep_lease(state: &AppState, claimed: Claimed, worker: uuid::Uuid) {
    let lease = state.config.clouds.lease;
    loop {
        tokio::time::sleep(lease / 3).await;
        let renewed = async {
            let mut tx = db::begin_for_tenant(&state.db, claimed.tenant).await?;
            let done = sqlx::query!(
                "UPDATE sync_jobs SET lease_expires_at = now() + make_interval(secs => $3)
                 WHERE tenant_id = $1 AND id = $2 AND lease_owner = $4 AND state = 'running'",
                claimed.tenant.0,
                claimed.job.0,
                lease.as_secs_f64(),
                worker,
            )
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok::<bool, AppError>(done.rows_affected() == 1)
        }
        .await;
        match renewed {
            Ok(true) => {}
            Ok(false) => return,
            // The database is away: keep trying while the lease may still hold.
            Err(err) => tracing::warn!(job = %claimed.job, error = %err, "lease not renewed"),
        }
    }
}

/// What happened to each scope of a sync.
#[derive(Default)]
struct Tally {
    succeeded: usize,
    failed: Vec<ConnectorError>,
}

impl Tally {
    fn add_to(self, total: &mut Self) {
        total.succeeded += self.succeeded;
        total.failed.extend(self.failed);
    }
}

/// Lists every scope of the account. `Err` only for database failures (the job is retried).
async fn sync(
    state: &AppState,
    claimed: Claimed,
    progress: &dyn Progress,
) -> Result<(SyncState, Option<String>), AppError> {
    let connector = {
        let mut tx = db::begin_for_tenant(&state.db, claimed.tenant).await?;
        let connector =
            accounts::connector(&mut tx, state, claimed.tenant, claimed.account).await?;
        db::finish_read(tx);
        connector
    };
    let connector = match connector {
        Ok(connector) => connector,
        Err(err) => {
            set_account_status(
                state,
                claimed,
                AccountStatus::Paused,
                Some(&err.to_string()),
                false,
            )
            .await?;
            return Ok((SyncState::Failed, Some(err.to_string())));
        }
    };
    if let Err(err) = connector.authenticate().await {
        let status = match err {
            ConnectorError::Unavailable(_) => AccountStatus::Lost,
            _ => AccountStatus::Paused,
        };
        set_account_status(state, claimed, status, Some(&err.to_string()), false).await?;
        return Ok((SyncState::Failed, Some(err.to_string())));
    }
    let scopes = connector.scopes();
    let mut total = scopes.len() + usize::from(connector.bill_exports().is_some());
    set_total(state, claimed, total, true).await?;
    let mut tally = Tally::default();
    let mut clusters = Vec::new();
    let mut every_cluster_listed = true;
    for (done, scope) in scopes.iter().enumerate() {
        progress.scope_started(&scope.name(), done, total);
        match sync_scope(
            state,
            claimed,
            connector.as_ref(),
            scope,
            progress,
            &mut clusters,
        )
        .await?
        {
            Ok(()) => tally.succeeded += 1,
            Err(ConnectorError::Rejected(reason)) => {
                // The credential went bad mid-sync: stop here, keep everything.
                set_account_status(state, claimed, AccountStatus::Paused, Some(&reason), true)
                    .await?;
                return Ok((SyncState::Failed, Some(reason)));
            }
            Err(err) => {
                every_cluster_listed &= scope.kind != ScopeKind::Clusters;
                tally.failed.push(err);
            }
        }
        scopes_done(state, claimed, 1).await?;
    }
    let mut done = scopes.len();
    if connector.lists_cluster_contents() {
        total += clusters.len() * Scope::in_cluster().len();
        set_total(state, claimed, total, false).await?;
        for cluster in &clusters {
            let at = (done, total);
            sync_cluster_contents(state, claimed, connector.as_ref(), cluster, progress, at)
                .await?
                .add_to(&mut tally);
            done += Scope::in_cluster().len();
        }
    }
    if every_cluster_listed {
        // Contents of clusters that are gone, or of every cluster once the account stops
        // listing contents, would otherwise stay forever: no later listing sweeps them.
        let kept: Vec<String> = match connector.lists_cluster_contents() {
            true => clusters.iter().map(|c| c.external_id.clone()).collect(),
            false => Vec::new(),
        };
        let mut tx = db::begin_for_tenant(&state.db, claimed.tenant).await?;
        inventory::forget_cluster_contents(&mut tx, claimed.account, &kept).await?;
        tx.commit().await?;
    }
    if let Some(store) = connector.bill_exports() {
        progress.scope_started(bill_exports::SCOPE, done, total);
        match bill_exports::pull(state, claimed, store).await? {
            Ok(()) => tally.succeeded += 1,
            Err(err) => tally.failed.push(err),
        }
        scopes_done(state, claimed, 1).await?;
    }
    let error = (!tally.failed.is_empty()).then(|| {
        tally
            .failed
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("; ")
    });
    let (job_state, status) = if tally.failed.is_empty() {
        (SyncState::Succeeded, AccountStatus::Connected)
    } else if tally.succeeded > 0 {
        (SyncState::Partial, AccountStatus::Degraded)
    } else if tally
        .failed
        .iter()
        .all(|err| matches!(err, ConnectorError::Forbidden(_)))
    {
        // Reachable, but allowed to list nothing: retrying changes nothing until the
        // permissions do.
        (SyncState::Failed, AccountStatus::Paused)
    } else {
        (SyncState::Failed, AccountStatus::Lost)
    };
    set_account_status(state, claimed, status, error.as_deref(), true).await?;
    Ok((job_state, error))
}

/// Lists a managed cluster's nodes, namespaces and workloads through its own API server.
/// Whatever fails there is the cluster's: its scopes go stale, the account stays unpaused
/// (the cloud accepted the credential; the cluster just does not grant it enough).
async fn sync_cluster_contents(
    state: &AppState,
    claimed: Claimed,
    connector: &dyn Connector,
    cluster: &ClusterRecord,
    progress: &dyn Progress,
    (done, total): (usize, usize),
) -> Result<Tally, AppError> {
    let mut tally = Tally::default();
    let scopes = Scope::in_managed_cluster(&cluster.external_id);
    let reader = match (
        connector.cluster_access(cluster).await,
        state.outbound.as_deref(),
    ) {
        (Ok(access), Some(outbound)) => KubernetesConnector::managed(
            claimed.account,
            cluster,
            access,
            outbound,
            &state.config.clouds,
            Arc::clone(&state.breakers),
        ),
        (Err(err), _) => Err(err),
        (Ok(_), None) => Err(ConnectorError::Misconfigured(
            "outbound HTTP calls are unavailable on this server".into(),
        )),
    };
    let reader = match reader {
        Ok(reader) => reader,
        Err(err) => {
            let err = in_cluster(cluster, err);
            let mut tx = db::begin_for_tenant(&state.db, claimed.tenant).await?;
            for scope in &scopes {
                inventory::stale_scope(
                    &mut tx,
                    claimed.tenant,
                    claimed.account,
                    &scope.name(),
                    &err.to_string(),
                )
                .await?;
            }
            tx.commit().await?;
            scopes_done(state, claimed, scopes.len()).await?;
            tally.failed.push(err);
            return Ok(tally);
        }
    };
    let mut no_clusters = Vec::new();
    for (index, scope) in scopes.iter().enumerate() {
        progress.scope_started(&scope.name(), done + index, total);
        match sync_scope(state, claimed, &reader, scope, progress, &mut no_clusters).await? {
            Ok(()) => tally.succeeded += 1,
            Err(err) => tally.failed.push(in_cluster(cluster, err)),
        }
        scopes_done(state, claimed, 1).await?;
    }
    Ok(tally)
}

/// A failure inside a managed cluster, worded for it. A refused credential there means the
/// cluster does not admit the account's identity — not that the cloud revoked it.
fn in_cluster(cluster: &ClusterRecord, err: ConnectorError) -> ConnectorError {
    match err {
        ConnectorError::Rejected(reason) | ConnectorError::Forbidden(reason) => {
            ConnectorError::Forbidden(format!(
                "cluster {}: {reason} — grant the account's identity read access in the \
                 cluster (see docs/clouds/README.md, \"Cluster contents\")",
                cluster.name
            ))
        }
        ConnectorError::Unavailable(reason) => {
            ConnectorError::Unavailable(format!("cluster {}: {reason}", cluster.name))
        }
        ConnectorError::Misconfigured(reason) => {
            ConnectorError::Misconfigured(format!("cluster {}: {reason}", cluster.name))
        }
    }
}

/// Lists one scope into the inventory, keeping the clusters it lists in `clusters`. The outer
/// `Err` is the database's; the inner one the cloud's (the scope is then stale, its rows kept).
async fn sync_scope(
    state: &AppState,
    claimed: Claimed,
    connector: &dyn Connector,
    scope: &Scope,
    progress: &dyn Progress,
    clusters: &mut Vec<ClusterRecord>,
) -> Result<Result<(), ConnectorError>, AppError> {
    let name = scope.name();
    let (sender, mut pages) = mpsc::channel(PAGE_BUFFER);
    let listing = connector.list(scope, sender);
    let storing = async {
        let mut resources = 0_i32;
        let mut orphans = 0_u64;
        while let Some(page) = pages.recv().await {
            if let Page::Clusters(listed) = &page {
                clusters.extend(listed.iter().cloned());
            }
            let stored = inventory::store_page(
                &state.db,
                claimed.tenant,
                claimed.account,
                claimed.job,
                &name,
                &page,
            )
            .await?;
            let count = page.len();
            orphans += (count as u64).saturating_sub(stored);
            resources = resources.saturating_add(i32::try_from(count).unwrap_or(i32::MAX));
            progress.listed(count as u64);
            add_resources(state, claimed, count).await?;
        }
        Ok::<(i32, u64), AppError>((resources, orphans))
    };
    let (listed, stored) = tokio::join!(listing, storing);
    let (resources, orphans) = stored?;
    // Rows of a cluster the inventory lacks were not stored: sweeping now would delete what
    // they replace.
    let listed = listed.and_then(|()| match orphans {
        0 => Ok(()),
        _ => Err(ConnectorError::Unavailable(format!(
            "{orphans} resources belong to a cluster that was not listed"
        ))),
    });
    let mut tx = db::begin_for_tenant(&state.db, claimed.tenant).await?;
    let outcome = match listed {
        Ok(()) => {
            inventory::complete_scope(
                &mut tx,
                claimed.tenant,
                claimed.account,
                claimed.job,
                &name,
                resources,
            )
            .await?;
            Ok(())
        }
        Err(err) => {
            inventory::stale_scope(
                &mut tx,
                claimed.tenant,
                claimed.account,
                &name,
                &err.to_string(),
            )
            .await?;
            Err(err)
        }
    };
    tx.commit().await?;
    Ok(outcome)
}

/// Sets the number of scopes; `restart` also zeroes the counters (a job claimed again after
/// an interrupted attempt counts from the start).
async fn set_total(
    state: &AppState,
    claimed: Claimed,
    total: usize,
    restart: bool,
) -> Result<(), AppError> {
    let mut tx = db::begin_for_tenant(&state.db, claimed.tenant).await?;
    sqlx::query!(
        "UPDATE sync_jobs
         SET scopes_total = $3,
             scopes_done = CASE WHEN $4 THEN 0 ELSE scopes_done END,
             resources = CASE WHEN $4 THEN 0 ELSE resources END
         WHERE tenant_id = $1 AND id = $2",
        claimed.tenant.0,
        claimed.job.0,
        i32::try_from(total).unwrap_or(i32::MAX),
        restart,
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

async fn scopes_done(state: &AppState, claimed: Claimed, count: usize) -> Result<(), AppError> {
    let mut tx = db::begin_for_tenant(&state.db, claimed.tenant).await?;
    sqlx::query!(
        "UPDATE sync_jobs SET scopes_done = scopes_done + $3 WHERE tenant_id = $1 AND id = $2",
        claimed.tenant.0,
        claimed.job.0,
        i32::try_from(count).unwrap_or(i32::MAX),
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

async fn add_resources(state: &AppState, claimed: Claimed, count: usize) -> Result<(), AppError> {
    let mut tx = db::begin_for_tenant(&state.db, claimed.tenant).await?;
    sqlx::query!(
        "UPDATE sync_jobs SET resources = resources + $3 WHERE tenant_id = $1 AND id = $2",
        claimed.tenant.0,
        claimed.job.0,
        i64::try_from(count).unwrap_or(i64::MAX),
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Records how the account answered; a change of status is announced, and an account that
/// stopped answering raises a notification for its clusters.
async fn set_account_status(
    state: &AppState,
    claimed: Claimed,
    status: AccountStatus,
    reason: Option<&str>,
    contacted: bool,
) -> Result<(), AppError> {
    let mut tx = db::begin_for_tenant(&state.db, claimed.tenant).await?;
    let before = sqlx::query!(
        "SELECT name, status, project_id FROM cloud_accounts
         WHERE tenant_id = $1 AND id = $2 FOR UPDATE",
        claimed.tenant.0,
        claimed.account.0,
    )
    .fetch_optional(&mut *tx)
    .await?;
    let Some(before) = before else {
        // Deleted while it synced: nothing to record.
        return Ok(());
    };
    sqlx::query!(
        "UPDATE cloud_accounts
         SET status = $3, status_reason = $4,
             last_contact_at = CASE WHEN $5 THEN now() ELSE last_contact_at END,
             last_success_at = CASE WHEN $3 = 'connected' THEN now() ELSE last_success_at END
         WHERE tenant_id = $1 AND id = $2",
        claimed.tenant.0,
        claimed.account.0,
        status.as_str(),
        reason,
        contacted,
    )
    .execute(&mut *tx)
    .await?;
    if before.status != status.as_str() {
        let project = before.project_id.map(ProjectId);
        events::publish(
            &mut tx,
            claimed.tenant,
            project,
            EventKind::HealthChanged,
            serde_json::json!({
                "account_id": claimed.account,
                "status": status,
                "previous": before.status,
                "reason": reason,
            }),
        )
        .await?;
        if status == AccountStatus::Lost {
            let clusters = sqlx::query_scalar!(
                r#"SELECT count(*) AS "count!" FROM clusters WHERE tenant_id = $1 AND account_id = $2"#,
                claimed.tenant.0,
                claimed.account.0,
            )
            .fetch_one(&mut *tx)
            .await?;
            notifications::publish(
                &mut tx,
                claimed.tenant,
                project,
                EventKind::ClusterLost,
                &format!("{} stopped answering", before.name),
                &format!(
                    "Nimbus could not reach the cloud account {} ({clusters} clusters): {}. Its \
                     inventory is kept as it was last seen.",
                    before.name,
                    reason.unwrap_or("no answer"),
                ),
                &serde_json::json!({ "account_id": claimed.account, "clusters": clusters }),
            )
            .await?;
        }
    }
    tx.commit().await?;
    Ok(())
}

async fn finish(
    state: &AppState,
    claimed: Claimed,
    outcome: SyncState,
    error: Option<String>,
) -> Result<SyncState, AppError> {
    let mut tx = db::begin_for_tenant(&state.db, claimed.tenant).await?;
    let finished = sqlx::query!(
        "UPDATE sync_jobs j SET state = $3, error = $4, finished_at = now(), lease_owner = NULL,
                                lease_expires_at = NULL
         FROM cloud_accounts a
         WHERE j.tenant_id = $1 AND j.id = $2 AND a.id = j.account_id
         RETURNING j.resources, a.project_id",
        claimed.tenant.0,
        claimed.job.0,
        outcome.as_str(),
        error,
    )
    .fetch_optional(&mut *tx)
    .await?;
    if let Some(finished) = finished {
        let project = finished.project_id.map(ProjectId);
        let data = serde_json::json!({
            "account_id": claimed.account,
            "job_id": claimed.job,
            "state": outcome,
            "resources": finished.resources,
        });
        if outcome != SyncState::Failed {
            events::publish(
                &mut tx,
                claimed.tenant,
                project,
                EventKind::InventoryChanged,
                data.clone(),
            )
            .await?;
        }
        events::publish(
            &mut tx,
            claimed.tenant,
            project,
            EventKind::SyncFinished,
            data,
        )
        .await?;
    }
    tx.commit().await?;
    Ok(outcome)
}

/// How long a CLI run waits between looks at a job another worker runs.
pub const FOLLOW_INTERVAL: Duration = Duration::from_millis(500);

/// Waits for a job run elsewhere to finish.
pub async fn wait_for(pool: &PgPool, tenant: TenantId, id: SyncJobId) -> Result<SyncJob, AppError> {
    loop {
        let mut tx = db::begin_for_tenant(pool, tenant).await?;
        let current = job(&mut tx, tenant, id).await?;
        db::finish_read(tx);
        if current.state.is_finished() {
            return Ok(current);
        }
        tokio::time::sleep(FOLLOW_INTERVAL).await;
    }
}
