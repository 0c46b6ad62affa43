//! The clouds API: `/api/v1/cloud-accounts` (connect, change, test, sync), `/api/v1/sync-jobs`,
//! and the inventory lists `/api/v1/clusters`, `/api/v1/vms`, `/api/v1/nodes`,
//! `/api/v1/namespaces` and `/api/v1/workloads`.

use axum::extract::State;
use axum::http::StatusCode;
use nimbus_api_types::ErrorCode;
use nimbus_api_types::clouds::{
    CloudAccount, CloudAccountInput, CloudProvider, Cluster, ClusterHealthSummary, ConnectionTest,
    Namespace, Node, SyncJob, SyncScope, Vm, Workload, WorkloadKind,
};
use nimbus_api_types::identity::Page;
use nimbus_api_types::ids::{CloudAccountId, ClusterId, ProjectId, SyncJobId};
use serde::Deserialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{accounts, inventory, sync};
use crate::audit;
use crate::auth::extract::{Can, CanInScope, perm};
use crate::db;
use crate::error::AppError;
use crate::http::extract::{Json, Path, Query};
use crate::http::outbound::Outbound;
use crate::http::paging::PageQuery;
use crate::state::AppState;

/// Syncs listed per account.
const JOBS_SHOWN: i64 = 20;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(get, replace, delete))
        .routes(routes!(test))
        .routes(routes!(request_sync, list_syncs))
        .routes(routes!(scopes))
        .routes(routes!(sync_job))
        .routes(routes!(clusters))
        .routes(routes!(cluster_health))
        .routes(routes!(vms))
        .routes(routes!(nodes))
        .routes(routes!(namespaces))
        .routes(routes!(workloads))
}

fn outbound(state: &AppState) -> Result<&Outbound, AppError> {
    state.outbound.as_deref().ok_or_else(|| {
        AppError::new(
            ErrorCode::ServiceUnavailable,
            "outbound HTTP calls are unavailable on this server",
        )
    })
}

/// What the audit keeps of an account: never its credential.
fn audit_details(input: &CloudAccountInput) -> serde_json::Value {
    serde_json::json!({
        "name": input.name,
        "provider": input.settings.provider(),
        "project_id": input.project_id,
        "settings": input.settings,
        "credential_replaced": input.credentials.is_some(),
    })
}

/// The tenant's cloud accounts by name.
#[utoipa::path(get, path = "/api/v1/cloud-accounts", tag = "clouds",
    security(("session" = ["clouds:read"]), ("bearer" = ["clouds:read"])),
    responses((status = 200, description = "The accounts", body = Vec<CloudAccount>)))]
pub async fn list(
    State(state): State<AppState>,
    caller: Can<perm::CloudsRead>,
) -> Result<Json<Vec<CloudAccount>>, AppError> {
    let mut tx = db::begin_for_tenant(&state.db, caller.tenant).await?;
    let accounts = accounts::list(&mut tx, caller.tenant).await?;
    db::finish_read(tx);
    Ok(Json(accounts))
}

/// Connects an account (`clouds:write`). The credential is stored encrypted and never shown
/// again; the first sync is due at once.
#[utoipa::path(post, path = "/api/v1/cloud-accounts", tag = "clouds", request_body = CloudAccountInput,
    security(("session" = ["clouds:write"]), ("bearer" = ["clouds:write"])),
    responses(
        (status = 201, description = "Connected", body = CloudAccount),
        (status = 409, description = "The name is taken", body = nimbus_api_types::ErrorBody),
        (status = 422, description = "Invalid settings or credential", body = nimbus_api_types::ErrorBody),
    ))]
pub async fn create(
    State(state): State<AppState>,
    caller: Can<perm::CloudsWrite>,
    Json(input): Json<CloudAccountInput>,
) -> Result<(StatusCode, Json<CloudAccount>), AppError> {
    let checked = accounts::check(&input, outbound(&state)?, true)?;
    let mut tx = db::begin_for_tenant(&state.db, caller.tenant).await?;
    let id = accounts::create(&mut tx, &state, caller.tenant, &checked).await?;
    let mut entry = caller.audit("cloud_account.create", format!("cloud_account:{id}"));
    entry.details = audit_details(&input);
    audit::record(&mut tx, &entry).await?;
    let account = accounts::get(&mut tx, caller.tenant, id).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(account)))
}

#[utoipa::path(get, path = "/api/v1/cloud-accounts/{id}", tag = "clouds",
    params(("id" = CloudAccountId, Path, description = "The account")),
    security(("session" = ["clouds:read"]), ("bearer" = ["clouds:read"])),
    responses((status = 200, description = "The account", body = CloudAccount), (status = 404, description = "No such account", body = nimbus_api_types::ErrorBody)))]
pub async fn get(
    State(state): State<AppState>,
    caller: Can<perm::CloudsRead>,
    Path(id): Path<CloudAccountId>,
) -> Result<Json<CloudAccount>, AppError> {
    let mut tx = db::begin_for_tenant(&state.db, caller.tenant).await?;
    let account = accounts::get(&mut tx, caller.tenant, id).await?;
    db::finish_read(tx);
    Ok(Json(account))
}

/// Replaces the account's settings; `credentials` absent keeps the stored one. A paused
/// account is un-paused and synced again.
#[utoipa::path(put, path = "/api/v1/cloud-accounts/{id}", tag = "clouds", request_body = CloudAccountInput,
    params(("id" = CloudAccountId, Path, description = "The account")),
    security(("session" = ["clouds:write"]), ("bearer" = ["clouds:write"])),
    responses((status = 200, description = "Replaced", body = CloudAccount), (status = 404, description = "No such account", body = nimbus_api_types::ErrorBody), (status = 422, description = "Invalid settings or credential", body = nimbus_api_types::ErrorBody)))]
pub async fn replace(
    State(state): State<AppState>,
    caller: Can<perm::CloudsWrite>,
    Path(id): Path<CloudAccountId>,
    Json(input): Json<CloudAccountInput>,
) -> Result<Json<CloudAccount>, AppError> {
    let checked = accounts::check(&input, outbound(&state)?, false)?;
    let mut tx = db::begin_for_tenant(&state.db, caller.tenant).await?;
    accounts::update(&mut tx, &state, caller.tenant, id, &checked).await?;
    let mut entry = caller.audit("cloud_account.update", format!("cloud_account:{id}"));
    entry.details = audit_details(&input);
    audit::record(&mut tx, &entry).await?;
    let account = accounts::get(&mut tx, caller.tenant, id).await?;
    tx.commit().await?;
    Ok(Json(account))
}

/// Disconnects the account: its credential, syncs and inventory are deleted; imported costs
/// stay in the ledger.
#[utoipa::path(delete, path = "/api/v1/cloud-accounts/{id}", tag = "clouds",
    params(("id" = CloudAccountId, Path, description = "The account")),
    security(("session" = ["clouds:write"]), ("bearer" = ["clouds:write"])),
    responses((status = 204, description = "Disconnected"), (status = 404, description = "No such account", body = nimbus_api_types::ErrorBody)))]
pub async fn delete(
    State(state): State<AppState>,
    caller: Can<perm::CloudsWrite>,
    Path(id): Path<CloudAccountId>,
) -> Result<StatusCode, AppError> {
    let mut tx = db::begin_for_tenant(&state.db, caller.tenant).await?;
    accounts::delete(&mut tx, caller.tenant, id).await?;
    audit::record(
        &mut tx,
        &caller.audit("cloud_account.delete", format!("cloud_account:{id}")),
    )
    .await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Tests the stored credential: who Nimbus is in the cloud, and each permission a sync needs,
/// with what to change when one is missing.
#[utoipa::path(post, path = "/api/v1/cloud-accounts/{id}/test", tag = "clouds",
    params(("id" = CloudAccountId, Path, description = "The account")),
    security(("session" = ["clouds:write"]), ("bearer" = ["clouds:write"])),
    responses((status = 200, description = "The checks and their outcomes", body = ConnectionTest), (status = 404, description = "No such account", body = nimbus_api_types::ErrorBody)))]
pub async fn test(
    State(state): State<AppState>,
    caller: Can<perm::CloudsWrite>,
    Path(id): Path<CloudAccountId>,
) -> Result<Json<ConnectionTest>, AppError> {
    let connector = {
        let mut tx = db::begin_for_tenant(&state.db, caller.tenant).await?;
        let connector = accounts::connector(&mut tx, &state, caller.tenant, id).await?;
        db::finish_read(tx);
        connector
    };
    let outcome = match connector {
        Ok(connector) => connector.test().await,
        Err(err) => ConnectionTest {
            ok: false,
            identity: None,
            checks: vec![nimbus_api_types::clouds::ConnectionCheck {
                action: "configuration".to_owned(),
                ok: false,
                message: Some(err.to_string()),
            }],
        },
    };
    let mut tx = db::begin_for_tenant(&state.db, caller.tenant).await?;
    let mut entry = caller.audit("cloud_account.test", format!("cloud_account:{id}"));
    entry.details = serde_json::json!({ "ok": outcome.ok });
    audit::record(&mut tx, &entry).await?;
    tx.commit().await?;
    Ok(Json(outcome))
}

/// Asks for a sync now (`202`): the queued or running one when there is one already. Follow
/// it at `GET /api/v1/sync-jobs/{id}`.
#[utoipa::path(post, path = "/api/v1/cloud-accounts/{id}/syncs", tag = "clouds",
    params(("id" = CloudAccountId, Path, description = "The account")),
    security(("session" = ["clouds:write"]), ("bearer" = ["clouds:write"])),
    responses((status = 202, description = "Queued (or already queued)", body = SyncJob), (status = 404, description = "No such account", body = nimbus_api_types::ErrorBody)))]
pub async fn request_sync(
    State(state): State<AppState>,
    caller: Can<perm::CloudsWrite>,
    Path(id): Path<CloudAccountId>,
) -> Result<(StatusCode, Json<SyncJob>), AppError> {
    let mut tx = db::begin_for_tenant(&state.db, caller.tenant).await?;
    let job = sync::request(&mut tx, caller.tenant, id, Some(caller.principal.user)).await?;
    let mut entry = caller.audit("cloud_account.sync", format!("cloud_account:{id}"));
    entry.details = serde_json::json!({ "sync_job_id": job.id });
    audit::record(&mut tx, &entry).await?;
    tx.commit().await?;
    Ok((StatusCode::ACCEPTED, Json(job)))
}

/// The account's latest syncs, newest first.
#[utoipa::path(get, path = "/api/v1/cloud-accounts/{id}/syncs", tag = "clouds",
    params(("id" = CloudAccountId, Path, description = "The account")),
    security(("session" = ["clouds:read"]), ("bearer" = ["clouds:read"])),
    responses((status = 200, description = "Up to 20 syncs", body = Vec<SyncJob>), (status = 404, description = "No such account", body = nimbus_api_types::ErrorBody)))]
pub async fn list_syncs(
    State(state): State<AppState>,
    caller: Can<perm::CloudsRead>,
    Path(id): Path<CloudAccountId>,
) -> Result<Json<Vec<SyncJob>>, AppError> {
    let mut tx = db::begin_for_tenant(&state.db, caller.tenant).await?;
    let jobs = sync::jobs(&mut tx, caller.tenant, id, JOBS_SHOWN).await?;
    db::finish_read(tx);
    Ok(Json(jobs))
}

/// Each listing of the account (resource type × region, bill exports) as of its last sync:
/// stale ones kept their rows and say why.
#[utoipa::path(get, path = "/api/v1/cloud-accounts/{id}/scopes", tag = "clouds",
    params(("id" = CloudAccountId, Path, description = "The account")),
    security(("session" = ["clouds:read"]), ("bearer" = ["clouds:read"])),
    responses((status = 200, description = "The scopes", body = Vec<SyncScope>), (status = 404, description = "No such account", body = nimbus_api_types::ErrorBody)))]
pub async fn scopes(
    State(state): State<AppState>,
    caller: Can<perm::CloudsRead>,
    Path(id): Path<CloudAccountId>,
) -> Result<Json<Vec<SyncScope>>, AppError> {
    let mut tx = db::begin_for_tenant(&state.db, caller.tenant).await?;
    accounts::get(&mut tx, caller.tenant, id).await?;
    let scopes = inventory::scopes(&mut tx, caller.tenant, id).await?;
    db::finish_read(tx);
    Ok(Json(scopes))
}

#[utoipa::path(get, path = "/api/v1/sync-jobs/{id}", tag = "clouds",
    params(("id" = SyncJobId, Path, description = "The sync")),
    security(("session" = ["clouds:read"]), ("bearer" = ["clouds:read"])),
    responses((status = 200, description = "The sync and its progress", body = SyncJob), (status = 404, description = "No such sync", body = nimbus_api_types::ErrorBody)))]
pub async fn sync_job(
    State(state): State<AppState>,
    caller: Can<perm::CloudsRead>,
    Path(id): Path<SyncJobId>,
) -> Result<Json<SyncJob>, AppError> {
    let mut tx = db::begin_for_tenant(&state.db, caller.tenant).await?;
    let job = sync::job(&mut tx, caller.tenant, id).await?;
    db::finish_read(tx);
    Ok(Json(job))
}

/// Filters of the inventory lists.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct InventoryQuery {
    pub provider: Option<CloudProvider>,
    pub account_id: Option<CloudAccountId>,
    pub region: Option<String>,
    pub project_id: Option<ProjectId>,
    /// The provider's status, e.g. `ACTIVE` or `running` (case-insensitive).
    pub status: Option<String>,
    /// A label (tag) as `key=value`.
    pub label: Option<String>,
    /// Part of the name or provider id (case-insensitive); workloads: of `namespace/name`.
    pub q: Option<String>,
    /// Only this cluster's (nodes, namespaces, workloads).
    pub cluster_id: Option<ClusterId>,
    /// Workloads: only this namespace's.
    pub namespace: Option<String>,
    /// Workloads: only this kind.
    pub kind: Option<WorkloadKind>,
    pub limit: Option<u32>,
    pub cursor: Option<String>,
}

impl InventoryQuery {
    fn paging(&self) -> PageQuery {
        PageQuery {
            limit: self.limit,
            cursor: self.cursor.clone(),
        }
    }

    /// The filter, in `project` (the caller's confinement of `project_id`).
    fn filter(&self, project: Option<ProjectId>) -> Result<inventory::Filter, AppError> {
        let invalid =
            |message: &str| AppError::new(ErrorCode::ValidationFailed, message.to_owned());
        let label = self
            .label
            .as_deref()
            .map(|label| {
                label
                    .split_once('=')
                    .map(|(key, value)| (key.to_owned(), value.to_owned()))
                    .ok_or_else(|| invalid("label: expected key=value"))
            })
            .transpose()?;
        let paging = self.paging();
        let after = paging
            .after()?
            .map(|key| {
                inventory::parse_sort_key(&key)
                    .ok_or_else(|| AppError::new(ErrorCode::BadRequest, "the cursor is not valid"))
            })
            .transpose()?;
        Ok(inventory::Filter {
            provider: self.provider,
            account: self.account_id,
            region: self.region.clone(),
            project,
            status: self.status.clone(),
            label,
            cluster: self.cluster_id,
            namespace: self.namespace.clone(),
            kind: self.kind,
            search: self.q.clone().filter(|text| !text.is_empty()),
            after,
            limit: paging.fetch_limit()?,
        })
    }
}

/// Clusters from every cloud, by name, with their health (connected / degraded / lost) and
/// last contact. Server-side paged and filtered.
#[utoipa::path(get, path = "/api/v1/clusters", tag = "inventory", params(InventoryQuery),
    security(("session" = ["inventory:read"]), ("bearer" = ["inventory:read"])),
    responses((status = 200, description = "A page of clusters", body = Page<Cluster>)))]
pub async fn clusters(
    State(state): State<AppState>,
    caller: CanInScope<perm::InventoryRead>,
    Query(query): Query<InventoryQuery>,
) -> Result<Json<Page<Cluster>>, AppError> {
    let filter = query.filter(caller.confine(query.project_id)?)?;
    let mut tx = db::begin_for_tenant(&state.db, caller.tenant).await?;
    let rows = inventory::clusters(&mut tx, caller.tenant, &filter).await?;
    db::finish_read(tx);
    Ok(Json(
        query
            .paging()
            .page(rows, |c| inventory::sort_key(c.id.0, &c.name))?,
    ))
}

/// Query of `GET /api/v1/clusters/health`.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct HealthQuery {
    pub project_id: Option<ProjectId>,
}

/// Clusters by health (connected / degraded / lost) per provider, counted by the database.
#[utoipa::path(get, path = "/api/v1/clusters/health", tag = "inventory", params(HealthQuery),
    security(("session" = ["inventory:read"]), ("bearer" = ["inventory:read"])),
    responses((status = 200, description = "Clusters by health", body = ClusterHealthSummary)))]
pub async fn cluster_health(
    State(state): State<AppState>,
    caller: CanInScope<perm::InventoryRead>,
    Query(query): Query<HealthQuery>,
) -> Result<Json<ClusterHealthSummary>, AppError> {
    let project = caller.confine(query.project_id)?;
    let mut tx = db::begin_for_tenant(&state.db, caller.tenant).await?;
    let summary = inventory::cluster_health(&mut tx, caller.tenant, project).await?;
    db::finish_read(tx);
    Ok(Json(summary))
}

/// Virtual machines from every cloud, by name. Server-side paged and filtered (`status`
/// matches the machine's state).
#[utoipa::path(get, path = "/api/v1/vms", tag = "inventory", params(InventoryQuery),
    security(("session" = ["inventory:read"]), ("bearer" = ["inventory:read"])),
    responses((status = 200, description = "A page of virtual machines", body = Page<Vm>)))]
pub async fn vms(
    State(state): State<AppState>,
    caller: CanInScope<perm::InventoryRead>,
    Query(query): Query<InventoryQuery>,
) -> Result<Json<Page<Vm>>, AppError> {
    let filter = query.filter(caller.confine(query.project_id)?)?;
    let mut tx = db::begin_for_tenant(&state.db, caller.tenant).await?;
    let rows = inventory::vms(&mut tx, caller.tenant, &filter).await?;
    db::finish_read(tx);
    Ok(Json(query.paging().page(rows, |vm| {
        inventory::sort_key(vm.id.0, vm.name.as_deref().unwrap_or(""))
    })?))
}

/// Nodes of Kubernetes clusters, by name (`status`: `Ready`, `NotReady` or `Unknown`).
#[utoipa::path(get, path = "/api/v1/nodes", tag = "inventory", params(InventoryQuery),
    security(("session" = ["inventory:read"]), ("bearer" = ["inventory:read"])),
    responses((status = 200, description = "A page of nodes", body = Page<Node>)))]
pub async fn nodes(
    State(state): State<AppState>,
    caller: CanInScope<perm::InventoryRead>,
    Query(query): Query<InventoryQuery>,
) -> Result<Json<Page<Node>>, AppError> {
    let filter = query.filter(caller.confine(query.project_id)?)?;
    let mut tx = db::begin_for_tenant(&state.db, caller.tenant).await?;
    let rows = inventory::nodes(&mut tx, caller.tenant, &filter).await?;
    db::finish_read(tx);
    Ok(Json(
        query
            .paging()
            .page(rows, |n| inventory::sort_key(n.id.0, &n.name))?,
    ))
}

/// Namespaces of Kubernetes clusters, by name (`status`: `Active` or `Terminating`).
#[utoipa::path(get, path = "/api/v1/namespaces", tag = "inventory", params(InventoryQuery),
    security(("session" = ["inventory:read"]), ("bearer" = ["inventory:read"])),
    responses((status = 200, description = "A page of namespaces", body = Page<Namespace>)))]
pub async fn namespaces(
    State(state): State<AppState>,
    caller: CanInScope<perm::InventoryRead>,
    Query(query): Query<InventoryQuery>,
) -> Result<Json<Page<Namespace>>, AppError> {
    let filter = query.filter(caller.confine(query.project_id)?)?;
    let mut tx = db::begin_for_tenant(&state.db, caller.tenant).await?;
    let rows = inventory::namespaces(&mut tx, caller.tenant, &filter).await?;
    db::finish_read(tx);
    Ok(Json(
        query
            .paging()
            .page(rows, |n| inventory::sort_key(n.id.0, &n.name))?,
    ))
}

/// Deployments, StatefulSets, DaemonSets, Jobs and CronJobs of every cluster, by name, with
/// replicas desired / ready and images (`status`: `ready` or `unready`; `q` matches
/// `namespace/name`).
#[utoipa::path(get, path = "/api/v1/workloads", tag = "inventory", params(InventoryQuery),
    security(("session" = ["inventory:read"]), ("bearer" = ["inventory:read"])),
    responses((status = 200, description = "A page of workloads", body = Page<Workload>)))]
pub async fn workloads(
    State(state): State<AppState>,
    caller: CanInScope<perm::InventoryRead>,
    Query(query): Query<InventoryQuery>,
) -> Result<Json<Page<Workload>>, AppError> {
    let filter = query.filter(caller.confine(query.project_id)?)?;
    let mut tx = db::begin_for_tenant(&state.db, caller.tenant).await?;
    let rows = inventory::workloads(&mut tx, caller.tenant, &filter).await?;
    db::finish_read(tx);
    Ok(Json(
        query
            .paging()
            .page(rows, |w| inventory::sort_key(w.id.0, &w.name))?,
    ))
}
