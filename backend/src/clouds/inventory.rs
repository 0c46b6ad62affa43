//! The inventory's SQL: pages upserted by natural key as they arrive, a scope's leftovers
//! swept only after its listing completed (DESIGN.md invariant 6), and the paged reads.

use nimbus_api_types::clouds::{
    CloudProvider, Cluster, ClusterHealthSummary, Health, Namespace, Node, ProviderClusterHealth,
    SyncScope, Vm, Workload, WorkloadKind,
};
use nimbus_api_types::ids::{
    CloudAccountId, ClusterId, NamespaceId, NodeId, ProjectId, SyncJobId, TenantId, VmId,
    WorkloadId,
};
use sqlx::{PgConnection, PgPool};

use super::connector::{NamespaceRecord, NodeRecord, Page, WorkloadRecord};
use crate::db;
use crate::error::AppError;

/// Stores one page of a listing, stamped with the sync that saw it. Returns the rows stored:
/// fewer than the page's when some belong to a cluster the account's inventory lacks.
pub async fn store_page(
    pool: &PgPool,
    tenant: TenantId,
    account: CloudAccountId,
    job: SyncJobId,
    scope: &str,
    page: &Page,
) -> Result<u64, AppError> {
    let mut tx = db::begin_for_tenant(pool, tenant).await?;
    let stored = match page {
        Page::Clusters(clusters) => {
            let pools = clusters
                .iter()
                .map(|c| serde_json::to_value(&c.node_pools))
                .collect::<Result<Vec<_>, _>>()
                .map_err(AppError::internal)?;
            sqlx::query!(
                "INSERT INTO clusters (id, tenant_id, account_id, scope, external_id, name,
                                       distribution, region, version, status, node_count,
                                       node_pools, labels, seen_by)
                 SELECT gen_random_uuid(), $1, $2, $3, u.external_id, u.name, u.distribution,
                        u.region, u.version, u.status, u.node_count, u.node_pools, u.labels, $4
                 FROM UNNEST($5::text[], $6::text[], $7::text[], $8::text[], $9::text[],
                             $10::text[], $11::int4[], $12::jsonb[], $13::jsonb[])
                      AS u(external_id, name, distribution, region, version, status, node_count,
                           node_pools, labels)
                 ON CONFLICT (account_id, external_id) DO UPDATE
                 SET scope = EXCLUDED.scope, name = EXCLUDED.name,
                     distribution = EXCLUDED.distribution, region = EXCLUDED.region,
                     version = EXCLUDED.version, status = EXCLUDED.status,
                     node_count = EXCLUDED.node_count, node_pools = EXCLUDED.node_pools,
                     labels = EXCLUDED.labels, seen_by = EXCLUDED.seen_by,
                     last_contact_at = now()",
                tenant.0,
                account.0,
                scope,
                job.0,
                &clusters
                    .iter()
                    .map(|c| c.external_id.clone())
                    .collect::<Vec<_>>(),
                &clusters.iter().map(|c| c.name.clone()).collect::<Vec<_>>(),
                &clusters
                    .iter()
                    .map(|c| c.distribution.to_owned())
                    .collect::<Vec<_>>(),
                &clusters
                    .iter()
                    .map(|c| c.region.clone())
                    .collect::<Vec<_>>(),
                &clusters
                    .iter()
                    .map(|c| c.version.clone())
                    .collect::<Vec<_>>() as &[Option<String>],
                &clusters
                    .iter()
                    .map(|c| c.status.clone())
                    .collect::<Vec<_>>() as &[Option<String>],
                &clusters.iter().map(|c| c.node_count).collect::<Vec<_>>() as &[Option<i32>],
                &pools,
                &clusters
                    .iter()
                    .map(|c| serde_json::Value::Object(c.labels.clone()))
                    .collect::<Vec<_>>(),
            )
            .execute(&mut *tx)
            .await?
            .rows_affected()
        }
        Page::Vms(vms) => {
            sqlx::query!(
                "INSERT INTO vms (id, tenant_id, account_id, scope, external_id, name, region, zone,
                                  instance_type, state, private_ip, labels, seen_by)
                 SELECT gen_random_uuid(), $1, $2, $3, u.external_id, u.name, u.region, u.zone,
                        u.instance_type, u.state, u.private_ip, u.labels, $4
                 FROM UNNEST($5::text[], $6::text[], $7::text[], $8::text[], $9::text[],
                             $10::text[], $11::text[], $12::jsonb[])
                      AS u(external_id, name, region, zone, instance_type, state, private_ip, labels)
                 ON CONFLICT (account_id, external_id) DO UPDATE
                 SET scope = EXCLUDED.scope, name = EXCLUDED.name, region = EXCLUDED.region,
                     zone = EXCLUDED.zone, instance_type = EXCLUDED.instance_type,
                     state = EXCLUDED.state, private_ip = EXCLUDED.private_ip,
                     labels = EXCLUDED.labels, seen_by = EXCLUDED.seen_by,
                     last_contact_at = now()",
                tenant.0,
                account.0,
                scope,
                job.0,
                &vms.iter().map(|v| v.external_id.clone()).collect::<Vec<_>>(),
                &vms.iter().map(|v| v.name.clone()).collect::<Vec<_>>() as &[Option<String>],
                &vms.iter().map(|v| v.region.clone()).collect::<Vec<_>>(),
                &vms.iter().map(|v| v.zone.clone()).collect::<Vec<_>>() as &[Option<String>],
                &vms.iter().map(|v| v.instance_type.clone()).collect::<Vec<_>>() as &[Option<String>],
                &vms.iter().map(|v| v.state.clone()).collect::<Vec<_>>() as &[Option<String>],
                &vms.iter().map(|v| v.private_ip.clone()).collect::<Vec<_>>() as &[Option<String>],
                &vms.iter()
                    .map(|v| serde_json::Value::Object(v.labels.clone()))
                    .collect::<Vec<_>>(),
            )
            .execute(&mut *tx)
            .await?
            .rows_affected()
        }
        Page::Nodes(nodes) => store_nodes(&mut tx, tenant, account, job, scope, nodes).await?,
        Page::Namespaces(namespaces) => {
            store_namespaces(&mut tx, tenant, account, job, scope, namespaces).await?
        }
        Page::Workloads(workloads) => {
            store_workloads(&mut tx, tenant, account, job, scope, workloads).await?
        }
    };
    tx.commit().await?;
    Ok(stored)
}

fn labels_of<'a>(
    labels: impl Iterator<Item = &'a serde_json::Map<String, serde_json::Value>>,
) -> Vec<serde_json::Value> {
    labels
        .map(|map| serde_json::Value::Object(map.clone()))
        .collect()
}

fn strings<'a>(lists: impl Iterator<Item = &'a Vec<String>>) -> Vec<serde_json::Value> {
    lists.map(|list| serde_json::json!(list)).collect()
}

async fn store_nodes(
    conn: &mut PgConnection,
    tenant: TenantId,
    account: CloudAccountId,
    job: SyncJobId,
    scope: &str,
    nodes: &[NodeRecord],
) -> Result<u64, AppError> {
    let column = |get: fn(&NodeRecord) -> Option<String>| nodes.iter().map(get).collect::<Vec<_>>();
    Ok(sqlx::query!(
        "INSERT INTO nodes (id, tenant_id, account_id, cluster_id, scope, name, status, roles,
                            kubelet_version, instance_type, zone, cpu, memory, labels, seen_by)
         SELECT gen_random_uuid(), $1, $2, c.id, $3, u.name, u.status,
                ARRAY(SELECT jsonb_array_elements_text(u.roles)), u.kubelet_version,
                u.instance_type, u.zone, u.cpu, u.memory, u.labels, $4
         FROM UNNEST($5::text[], $6::text[], $7::text[], $8::jsonb[], $9::text[], $10::text[],
                     $11::text[], $12::text[], $13::text[], $14::jsonb[])
              AS u(cluster, name, status, roles, kubelet_version, instance_type, zone, cpu, memory,
                   labels)
         JOIN clusters c ON c.account_id = $2 AND c.external_id = u.cluster
         ON CONFLICT (cluster_id, name) DO UPDATE
         SET scope = EXCLUDED.scope, status = EXCLUDED.status, roles = EXCLUDED.roles,
             kubelet_version = EXCLUDED.kubelet_version, instance_type = EXCLUDED.instance_type,
             zone = EXCLUDED.zone, cpu = EXCLUDED.cpu, memory = EXCLUDED.memory,
             labels = EXCLUDED.labels, seen_by = EXCLUDED.seen_by, last_contact_at = now()",
        tenant.0,
        account.0,
        scope,
        job.0,
        &nodes.iter().map(|n| n.cluster.clone()).collect::<Vec<_>>(),
        &nodes.iter().map(|n| n.name.clone()).collect::<Vec<_>>(),
        &nodes.iter().map(|n| n.status.clone()).collect::<Vec<_>>(),
        &strings(nodes.iter().map(|n| &n.roles)),
        &column(|n| n.kubelet_version.clone()) as &[Option<String>],
        &column(|n| n.instance_type.clone()) as &[Option<String>],
        &column(|n| n.zone.clone()) as &[Option<String>],
        &column(|n| n.cpu.clone()) as &[Option<String>],
        &column(|n| n.memory.clone()) as &[Option<String>],
        &labels_of(nodes.iter().map(|n| &n.labels)),
    )
    .execute(conn)
    .await?
    .rows_affected())
}

async fn store_namespaces(
    conn: &mut PgConnection,
    tenant: TenantId,
    account: CloudAccountId,
    job: SyncJobId,
    scope: &str,
    namespaces: &[NamespaceRecord],
) -> Result<u64, AppError> {
    Ok(sqlx::query!(
        "INSERT INTO namespaces (id, tenant_id, account_id, cluster_id, scope, name, status, labels,
                                 seen_by)
         SELECT gen_random_uuid(), $1, $2, c.id, $3, u.name, u.status, u.labels, $4
         FROM UNNEST($5::text[], $6::text[], $7::text[], $8::jsonb[])
              AS u(cluster, name, status, labels)
         JOIN clusters c ON c.account_id = $2 AND c.external_id = u.cluster
         ON CONFLICT (cluster_id, name) DO UPDATE
         SET scope = EXCLUDED.scope, status = EXCLUDED.status, labels = EXCLUDED.labels,
             seen_by = EXCLUDED.seen_by, last_contact_at = now()",
        tenant.0,
        account.0,
        scope,
        job.0,
        &namespaces.iter().map(|n| n.cluster.clone()).collect::<Vec<_>>(),
        &namespaces.iter().map(|n| n.name.clone()).collect::<Vec<_>>(),
        &namespaces.iter().map(|n| n.status.clone()).collect::<Vec<_>>() as &[Option<String>],
        &labels_of(namespaces.iter().map(|n| &n.labels)),
    )
    .execute(conn)
    .await?
    .rows_affected())
}

async fn store_workloads(
    conn: &mut PgConnection,
    tenant: TenantId,
    account: CloudAccountId,
    job: SyncJobId,
    scope: &str,
    workloads: &[WorkloadRecord],
) -> Result<u64, AppError> {
    // Apps come from the tenant's app rules as they stand: none may change meanwhile.
    crate::apps::rules::lock(&mut *conn, tenant, false).await?;
    Ok(sqlx::query!(
        "INSERT INTO workloads (id, tenant_id, account_id, cluster_id, scope, kind, namespace, name,
                                replicas_desired, replicas_ready, images, app, label_app, labels,
                                seen_by)
         SELECT gen_random_uuid(), $1, $2, c.id, $3, u.kind, u.namespace, u.name, u.desired,
                u.ready, ARRAY(SELECT jsonb_array_elements_text(u.images)),
                app_of_workload($1, c.id, u.namespace, u.name, u.labels, u.app), u.app, u.labels,
                $4
         FROM UNNEST($5::text[], $6::text[], $7::text[], $8::text[], $9::int4[], $10::int4[],
                     $11::jsonb[], $12::text[], $13::jsonb[])
              AS u(cluster, kind, namespace, name, desired, ready, images, app, labels)
         JOIN clusters c ON c.account_id = $2 AND c.external_id = u.cluster
         ON CONFLICT (cluster_id, kind, namespace, name) DO UPDATE
         SET scope = EXCLUDED.scope, replicas_desired = EXCLUDED.replicas_desired,
             replicas_ready = EXCLUDED.replicas_ready, images = EXCLUDED.images,
             app = EXCLUDED.app, label_app = EXCLUDED.label_app, labels = EXCLUDED.labels,
             seen_by = EXCLUDED.seen_by,
             last_contact_at = now()",
        tenant.0,
        account.0,
        scope,
        job.0,
        &workloads.iter().map(|w| w.cluster.clone()).collect::<Vec<_>>(),
        &workloads
            .iter()
            .map(|w| w.kind.as_str().to_owned())
            .collect::<Vec<_>>(),
        &workloads.iter().map(|w| w.namespace.clone()).collect::<Vec<_>>(),
        &workloads.iter().map(|w| w.name.clone()).collect::<Vec<_>>(),
        &workloads.iter().map(|w| w.replicas_desired).collect::<Vec<_>>() as &[Option<i32>],
        &workloads.iter().map(|w| w.replicas_ready).collect::<Vec<_>>() as &[Option<i32>],
        &strings(workloads.iter().map(|w| &w.images)),
        &workloads.iter().map(|w| w.app.clone()).collect::<Vec<_>>() as &[Option<String>],
        &labels_of(workloads.iter().map(|w| &w.labels)),
    )
    .execute(conn)
    .await?
    .rows_affected())
}

/// The scope's listing completed: rows this sync did not see are gone from the cloud.
pub async fn complete_scope(
    conn: &mut PgConnection,
    tenant: TenantId,
    account: CloudAccountId,
    job: SyncJobId,
    scope: &str,
    resources: i32,
) -> Result<(), AppError> {
    sqlx::query!(
        "DELETE FROM clusters WHERE account_id = $1 AND scope = $2 AND seen_by <> $3",
        account.0,
        scope,
        job.0
    )
    .execute(&mut *conn)
    .await?;
    sqlx::query!(
        "DELETE FROM vms WHERE account_id = $1 AND scope = $2 AND seen_by <> $3",
        account.0,
        scope,
        job.0
    )
    .execute(&mut *conn)
    .await?;
    sqlx::query!(
        "DELETE FROM nodes WHERE account_id = $1 AND scope = $2 AND seen_by <> $3",
        account.0,
        scope,
        job.0
    )
    .execute(&mut *conn)
    .await?;
    sqlx::query!(
        "DELETE FROM namespaces WHERE account_id = $1 AND scope = $2 AND seen_by <> $3",
        account.0,
        scope,
        job.0
    )
    .execute(&mut *conn)
    .await?;
    sqlx::query!(
        "DELETE FROM workloads WHERE account_id = $1 AND scope = $2 AND seen_by <> $3",
        account.0,
        scope,
        job.0
    )
    .execute(&mut *conn)
    .await?;
    sqlx::query!(
        "INSERT INTO sync_scopes (tenant_id, account_id, scope, stale, error, resources,
                                  last_attempt_at, last_success_at)
         VALUES ($1, $2, $3, false, NULL, $4, now(), now())
         ON CONFLICT (account_id, scope) DO UPDATE
         SET stale = false, error = NULL, resources = $4, last_attempt_at = now(),
             last_success_at = now()",
        tenant.0,
        account.0,
        scope,
        resources,
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// The scope's listing failed: its rows stay as they were, marked stale with the reason.
/// Deletes what the account listed inside managed clusters other than `kept` (their
/// `external_id`s): nodes, namespaces, workloads and the scopes' records.
pub async fn forget_cluster_contents(
    conn: &mut PgConnection,
    account: CloudAccountId,
    kept: &[String],
) -> Result<(), AppError> {
    // Scope names of a managed cluster's contents end in `@` and the cluster's id.
    sqlx::query!(
        "WITH gone AS (
             SELECT scope FROM sync_scopes
             WHERE account_id = $1 AND position('@' IN scope) > 0
               AND NOT substr(scope, position('@' IN scope) + 1) = ANY($2)
         ), nodes_gone AS (
             DELETE FROM nodes WHERE account_id = $1 AND scope IN (SELECT scope FROM gone)
         ), namespaces_gone AS (
             DELETE FROM namespaces WHERE account_id = $1 AND scope IN (SELECT scope FROM gone)
         ), workloads_gone AS (
             DELETE FROM workloads WHERE account_id = $1 AND scope IN (SELECT scope FROM gone)
         )
         DELETE FROM sync_scopes WHERE account_id = $1 AND scope IN (SELECT scope FROM gone)",
        account.0,
        kept,
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}

pub async fn stale_scope(
    conn: &mut PgConnection,
    tenant: TenantId,
    account: CloudAccountId,
    scope: &str,
    error: &str,
) -> Result<(), AppError> {
    sqlx::query!(
        "INSERT INTO sync_scopes (tenant_id, account_id, scope, stale, error, last_attempt_at)
         VALUES ($1, $2, $3, true, $4, now())
         ON CONFLICT (account_id, scope) DO UPDATE
         SET stale = true, error = $4, last_attempt_at = now()",
        tenant.0,
        account.0,
        scope,
        error,
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}

pub async fn scopes(
    conn: &mut PgConnection,
    tenant: TenantId,
    account: CloudAccountId,
) -> Result<Vec<SyncScope>, AppError> {
    Ok(sqlx::query_as!(
        SyncScope,
        "SELECT scope, stale, error, resources, last_attempt_at, last_success_at
         FROM sync_scopes WHERE tenant_id = $1 AND account_id = $2 ORDER BY scope",
        tenant.0,
        account.0,
    )
    .fetch_all(&mut *conn)
    .await?)
}

/// Filters of the inventory lists; all optional, combined with AND.
#[derive(Debug, Default)]
pub struct Filter {
    pub provider: Option<CloudProvider>,
    pub account: Option<CloudAccountId>,
    pub region: Option<String>,
    pub project: Option<ProjectId>,
    /// The provider's status (`ACTIVE`, `running`…), case-insensitive.
    pub status: Option<String>,
    /// `key=value` of a label (tag).
    pub label: Option<(String, String)>,
    /// Nodes, namespaces and workloads of this cluster.
    pub cluster: Option<ClusterId>,
    /// Workloads of this namespace.
    pub namespace: Option<String>,
    pub kind: Option<WorkloadKind>,
    /// Part of the name or provider id, case-insensitive.
    pub search: Option<String>,
    /// Resume after this (name, id).
    pub after: Option<(String, uuid::Uuid)>,
    pub limit: i64,
}

fn health(lost: bool, degraded: bool) -> Health {
    if lost {
        Health::Lost
    } else if degraded {
        Health::Degraded
    } else {
        Health::Connected
    }
}

fn label_filter(filter: &Filter) -> Option<serde_json::Value> {
    filter
        .label
        .as_ref()
        .map(|(key, value)| serde_json::json!({ key: value }))
}

fn search_pattern(filter: &Filter) -> Option<String> {
    filter.search.as_deref().map(db::contains_pattern)
}

/// Clusters by health per provider, with the same health rules as the list.
pub async fn cluster_health(
    conn: &mut PgConnection,
    tenant: TenantId,
    project: Option<ProjectId>,
) -> Result<ClusterHealthSummary, AppError> {
    let rows = sqlx::query!(
        r#"SELECT provider AS "provider!",
                  count(*) FILTER (WHERE NOT lost AND NOT degraded) AS "connected!",
                  count(*) FILTER (WHERE NOT lost AND degraded) AS "degraded!",
                  count(*) FILTER (WHERE lost) AS "lost!"
           FROM (SELECT a.provider,
                        (c.last_contact_at < now() - make_interval(secs => 3 * a.sync_interval_seconds)
                         OR a.status = 'lost') AS lost,
                        (coalesce(s.stale, false) OR a.status = 'paused') AS degraded
                 FROM clusters c
                 JOIN cloud_accounts a ON a.id = c.account_id
                 LEFT JOIN sync_scopes s ON s.account_id = c.account_id AND s.scope = c.scope
                 WHERE c.tenant_id = $1 AND ($2::uuid IS NULL OR a.project_id = $2)) c
           GROUP BY provider
           ORDER BY provider"#,
        tenant.0,
        project.map(|p| p.0),
    )
    .fetch_all(&mut *conn)
    .await?;
    let by_provider = rows
        .into_iter()
        .map(|row| {
            Ok(ProviderClusterHealth {
                provider: provider(&row.provider)?,
                connected: row.connected,
                degraded: row.degraded,
                lost: row.lost,
            })
        })
        .collect::<Result<Vec<_>, AppError>>()?;
    Ok(ClusterHealthSummary {
        connected: by_provider.iter().map(|p| p.connected).sum(),
        degraded: by_provider.iter().map(|p| p.degraded).sum(),
        lost: by_provider.iter().map(|p| p.lost).sum(),
        by_provider,
    })
}

pub async fn clusters(
    conn: &mut PgConnection,
    tenant: TenantId,
    filter: &Filter,
) -> Result<Vec<Cluster>, AppError> {
    let rows = sqlx::query!(
        r#"SELECT c.id, c.account_id, a.provider, c.external_id, c.name, c.distribution, c.region,
                  c.version, c.status,
                  coalesce(c.node_count,
                           (SELECT count(*)::int4 FROM nodes n WHERE n.cluster_id = c.id)) AS node_count,
                  c.node_pools, c.labels, a.project_id,
                  c.last_contact_at,
                  (c.last_contact_at < now() - make_interval(secs => 3 * a.sync_interval_seconds)
                   OR a.status = 'lost') AS "lost!",
                  (coalesce(s.stale, false) OR a.status = 'paused') AS "degraded!"
           FROM clusters c
           JOIN cloud_accounts a ON a.id = c.account_id
           LEFT JOIN sync_scopes s ON s.account_id = c.account_id AND s.scope = c.scope
           WHERE c.tenant_id = $1
             AND ($2::text IS NULL OR a.provider = $2)
             AND ($3::uuid IS NULL OR c.account_id = $3)
             AND ($4::text IS NULL OR c.region = $4)
             AND ($5::uuid IS NULL OR a.project_id = $5)
             AND ($6::text IS NULL OR lower(c.status) = lower($6))
             AND ($7::jsonb IS NULL OR c.labels @> $7)
             AND ($8::text IS NULL OR c.name ILIKE $8 OR c.external_id ILIKE $8)
             AND ($9::text IS NULL OR (c.name, c.id) > ($9, $10::uuid))
             AND ($12::uuid IS NULL OR c.id = $12)
           ORDER BY c.name, c.id
           LIMIT $11"#,
        tenant.0,
        filter.provider.map(CloudProvider::as_str),
        filter.account.map(|a| a.0),
        filter.region,
        filter.project.map(|p| p.0),
        filter.status,
        label_filter(filter),
        search_pattern(filter),
        filter.after.as_ref().map(|(name, _)| name.clone()),
        filter.after.as_ref().map(|(_, id)| *id),
        filter.limit,
        filter.cluster.map(|c| c.0),
    )
    .fetch_all(&mut *conn)
    .await?;
    rows.into_iter()
        .map(|row| {
            Ok(Cluster {
                id: ClusterId(row.id),
                account_id: CloudAccountId(row.account_id),
                provider: provider(&row.provider)?,
                external_id: row.external_id,
                name: row.name,
                distribution: row.distribution,
                region: row.region,
                version: row.version,
                status: row.status,
                node_count: row.node_count,
                node_pools: serde_json::from_value(row.node_pools).map_err(AppError::internal)?,
                labels: object(row.labels),
                project_id: row.project_id.map(ProjectId),
                health: health(row.lost, row.degraded),
                last_contact_at: row.last_contact_at,
            })
        })
        .collect()
}

pub async fn vms(
    conn: &mut PgConnection,
    tenant: TenantId,
    filter: &Filter,
) -> Result<Vec<Vm>, AppError> {
    let rows = sqlx::query!(
        r#"SELECT v.id, v.account_id, a.provider, v.external_id, v.name, v.region, v.zone,
                  v.instance_type, v.state, v.private_ip, v.labels, a.project_id,
                  v.last_contact_at,
                  (v.last_contact_at < now() - make_interval(secs => 3 * a.sync_interval_seconds)
                   OR a.status = 'lost') AS "lost!",
                  (coalesce(s.stale, false) OR a.status = 'paused') AS "degraded!"
           FROM vms v
           JOIN cloud_accounts a ON a.id = v.account_id
           LEFT JOIN sync_scopes s ON s.account_id = v.account_id AND s.scope = v.scope
           WHERE v.tenant_id = $1
             AND ($2::text IS NULL OR a.provider = $2)
             AND ($3::uuid IS NULL OR v.account_id = $3)
             AND ($4::text IS NULL OR v.region = $4)
             AND ($5::uuid IS NULL OR a.project_id = $5)
             AND ($6::text IS NULL OR lower(v.state) = lower($6))
             AND ($7::jsonb IS NULL OR v.labels @> $7)
             AND ($8::text IS NULL OR v.name ILIKE $8 OR v.external_id ILIKE $8)
             AND ($9::text IS NULL OR (coalesce(v.name, ''), v.id) > ($9, $10::uuid))
           ORDER BY coalesce(v.name, ''), v.id
           LIMIT $11"#,
        tenant.0,
        filter.provider.map(CloudProvider::as_str),
        filter.account.map(|a| a.0),
        filter.region,
        filter.project.map(|p| p.0),
        filter.status,
        label_filter(filter),
        search_pattern(filter),
        filter.after.as_ref().map(|(name, _)| name.clone()),
        filter.after.as_ref().map(|(_, id)| *id),
        filter.limit,
    )
    .fetch_all(&mut *conn)
    .await?;
    rows.into_iter()
        .map(|row| {
            Ok(Vm {
                id: VmId(row.id),
                account_id: CloudAccountId(row.account_id),
                provider: provider(&row.provider)?,
                external_id: row.external_id,
                name: row.name,
                region: row.region,
                zone: row.zone,
                instance_type: row.instance_type,
                state: row.state,
                private_ip: row.private_ip,
                labels: object(row.labels),
                project_id: row.project_id.map(ProjectId),
                health: health(row.lost, row.degraded),
                last_contact_at: row.last_contact_at,
            })
        })
        .collect()
}

pub async fn nodes(
    conn: &mut PgConnection,
    tenant: TenantId,
    filter: &Filter,
) -> Result<Vec<Node>, AppError> {
    let rows = sqlx::query!(
        r#"SELECT n.id, n.cluster_id, c.name AS cluster_name, n.account_id, a.provider, n.name,
                  n.status, n.roles, n.kubelet_version, n.instance_type, n.zone, n.cpu, n.memory,
                  n.labels, n.last_contact_at,
                  (n.last_contact_at < now() - make_interval(secs => 3 * a.sync_interval_seconds)
                   OR a.status = 'lost') AS "lost!",
                  (coalesce(s.stale, false) OR a.status = 'paused') AS "degraded!"
           FROM nodes n
           JOIN clusters c ON c.id = n.cluster_id
           JOIN cloud_accounts a ON a.id = n.account_id
           LEFT JOIN sync_scopes s ON s.account_id = n.account_id AND s.scope = n.scope
           WHERE n.tenant_id = $1
             AND ($2::text IS NULL OR a.provider = $2)
             AND ($3::uuid IS NULL OR n.account_id = $3)
             AND ($4::text IS NULL OR c.region = $4)
             AND ($5::uuid IS NULL OR a.project_id = $5)
             AND ($6::text IS NULL OR lower(n.status) = lower($6))
             AND ($7::jsonb IS NULL OR n.labels @> $7)
             AND ($8::text IS NULL OR n.name ILIKE $8)
             AND ($9::text IS NULL OR (n.name, n.id) > ($9, $10::uuid))
             AND ($12::uuid IS NULL OR n.cluster_id = $12)
           ORDER BY n.name, n.id
           LIMIT $11"#,
        tenant.0,
        filter.provider.map(CloudProvider::as_str),
        filter.account.map(|a| a.0),
        filter.region,
        filter.project.map(|p| p.0),
        filter.status,
        label_filter(filter),
        search_pattern(filter),
        filter.after.as_ref().map(|(name, _)| name.clone()),
        filter.after.as_ref().map(|(_, id)| *id),
        filter.limit,
        filter.cluster.map(|c| c.0),
    )
    .fetch_all(&mut *conn)
    .await?;
    rows.into_iter()
        .map(|row| {
            Ok(Node {
                id: NodeId(row.id),
                cluster_id: ClusterId(row.cluster_id),
                cluster_name: row.cluster_name,
                account_id: CloudAccountId(row.account_id),
                provider: provider(&row.provider)?,
                name: row.name,
                status: row.status,
                roles: row.roles,
                kubelet_version: row.kubelet_version,
                instance_type: row.instance_type,
                zone: row.zone,
                cpu: row.cpu,
                memory: row.memory,
                labels: object(row.labels),
                health: health(row.lost, row.degraded),
                last_contact_at: row.last_contact_at,
            })
        })
        .collect()
}

pub async fn namespaces(
    conn: &mut PgConnection,
    tenant: TenantId,
    filter: &Filter,
) -> Result<Vec<Namespace>, AppError> {
    let rows = sqlx::query!(
        r#"SELECT n.id, n.cluster_id, c.name AS cluster_name, n.account_id, a.provider, n.name,
                  n.status, n.labels, n.last_contact_at,
                  (n.last_contact_at < now() - make_interval(secs => 3 * a.sync_interval_seconds)
                   OR a.status = 'lost') AS "lost!",
                  (coalesce(s.stale, false) OR a.status = 'paused') AS "degraded!"
           FROM namespaces n
           JOIN clusters c ON c.id = n.cluster_id
           JOIN cloud_accounts a ON a.id = n.account_id
           LEFT JOIN sync_scopes s ON s.account_id = n.account_id AND s.scope = n.scope
           WHERE n.tenant_id = $1
             AND ($2::text IS NULL OR a.provider = $2)
             AND ($3::uuid IS NULL OR n.account_id = $3)
             AND ($4::text IS NULL OR c.region = $4)
             AND ($5::uuid IS NULL OR a.project_id = $5)
             AND ($6::text IS NULL OR lower(n.status) = lower($6))
             AND ($7::jsonb IS NULL OR n.labels @> $7)
             AND ($8::text IS NULL OR n.name ILIKE $8)
             AND ($9::text IS NULL OR (n.name, n.id) > ($9, $10::uuid))
             AND ($12::uuid IS NULL OR n.cluster_id = $12)
           ORDER BY n.name, n.id
           LIMIT $11"#,
        tenant.0,
        filter.provider.map(CloudProvider::as_str),
        filter.account.map(|a| a.0),
        filter.region,
        filter.project.map(|p| p.0),
        filter.status,
        label_filter(filter),
        search_pattern(filter),
        filter.after.as_ref().map(|(name, _)| name.clone()),
        filter.after.as_ref().map(|(_, id)| *id),
        filter.limit,
        filter.cluster.map(|c| c.0),
    )
    .fetch_all(&mut *conn)
    .await?;
    rows.into_iter()
        .map(|row| {
            Ok(Namespace {
                id: NamespaceId(row.id),
                cluster_id: ClusterId(row.cluster_id),
                cluster_name: row.cluster_name,
                account_id: CloudAccountId(row.account_id),
                provider: provider(&row.provider)?,
                name: row.name,
                status: row.status,
                labels: object(row.labels),
                health: health(row.lost, row.degraded),
                last_contact_at: row.last_contact_at,
            })
        })
        .collect()
}

/// Workloads; `status` is `ready` (every desired replica ready) or `unready`; the free text
/// matches `namespace/name`.
pub async fn workloads(
    conn: &mut PgConnection,
    tenant: TenantId,
    filter: &Filter,
) -> Result<Vec<Workload>, AppError> {
    let ready = match filter
        .status
        .as_deref()
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        None => None,
        Some("ready") => Some(true),
        Some("unready") => Some(false),
        Some(_) => {
            return Err(AppError::new(
                nimbus_api_types::ErrorCode::ValidationFailed,
                "status: `ready` or `unready` for workloads",
            ));
        }
    };
    let search = search_pattern(filter);
    let matching_ids = match (filter.search.as_deref(), &search) {
        (Some(term), Some(pattern)) => rare_term_matches(conn, term, pattern).await?,
        _ => None,
    };
    let rows = sqlx::query!(
        r#"SELECT w.id, w.cluster_id, c.name AS cluster_name, w.account_id, a.provider, w.kind,
                  w.namespace, w.name, w.replicas_desired, w.replicas_ready, w.images, w.app,
                  w.labels, a.project_id, w.last_contact_at,
                  (w.last_contact_at < now() - make_interval(secs => 3 * a.sync_interval_seconds)
                   OR a.status = 'lost') AS "lost!",
                  (coalesce(s.stale, false) OR a.status = 'paused') AS "degraded!"
           FROM workloads w
           JOIN clusters c ON c.id = w.cluster_id
           JOIN cloud_accounts a ON a.id = w.account_id
           LEFT JOIN sync_scopes s ON s.account_id = w.account_id AND s.scope = w.scope
           WHERE w.tenant_id = $1
             AND ($2::text IS NULL OR a.provider = $2)
             AND ($3::uuid IS NULL OR w.account_id = $3)
             AND ($4::text IS NULL OR c.region = $4)
             AND ($5::uuid IS NULL OR a.project_id = $5)
             AND ($6::bool IS NULL
                  OR (coalesce(w.replicas_ready, 0) >= coalesce(w.replicas_desired, 0)) = $6)
             AND ($7::jsonb IS NULL OR w.labels @> $7)
             AND ($8::text IS NULL OR (w.namespace || '/' || w.name) ILIKE $8)
             AND ($9::text IS NULL OR (w.name, w.id) > ($9, $10::uuid))
             AND ($12::uuid IS NULL OR w.cluster_id = $12)
             AND ($13::text IS NULL OR w.namespace = $13)
             AND ($14::text IS NULL OR w.kind = $14)
             AND ($15::uuid[] IS NULL OR w.id = ANY($15))
           ORDER BY w.name, w.id
           LIMIT $11"#,
        tenant.0,
        filter.provider.map(CloudProvider::as_str),
        filter.account.map(|a| a.0),
        filter.region,
        filter.project.map(|p| p.0),
        ready,
        label_filter(filter),
        search,
        filter.after.as_ref().map(|(name, _)| name.clone()),
        filter.after.as_ref().map(|(_, id)| *id),
        filter.limit,
        filter.cluster.map(|c| c.0),
        filter.namespace,
        filter.kind.map(WorkloadKind::as_str),
        matching_ids.as_deref(),
    )
    .fetch_all(&mut *conn)
    .await?;
    rows.into_iter()
        .map(|row| {
            Ok(Workload {
                id: WorkloadId(row.id),
                cluster_id: ClusterId(row.cluster_id),
                cluster_name: row.cluster_name,
                account_id: CloudAccountId(row.account_id),
                provider: provider(&row.provider)?,
                kind: WorkloadKind::from_name(&row.kind)
                    .ok_or_else(|| AppError::internal(format!("unknown kind {}", row.kind)))?,
                namespace: row.namespace,
                name: row.name,
                replicas_desired: row.replicas_desired,
                replicas_ready: row.replicas_ready,
                images: row.images,
                app: row.app,
                labels: object(row.labels),
                project_id: row.project_id.map(ProjectId),
                health: health(row.lost, row.degraded),
                last_contact_at: row.last_contact_at,
            })
        })
        .collect()
}

/// At most this many ids come back for a rare search term; more make it a common one.
const RARE_TERM_MATCHES: i32 = 5_000;
/// Trigrams need three characters; a shorter term would make the lookup read every row.
const TRIGRAM_LENGTH: usize = 3;

/// The ids of the tenant's workloads whose `namespace/name` matches `pattern` when the term
/// is rare — found through the trigram index, which the row-level-security policy keeps the
/// list query itself from using (see the migration `search_workloads_by_trigram`). `None` for
/// a common or short term: walking the name index with the pattern as a filter then reaches
/// a page of matches sooner than any id list would.
async fn rare_term_matches(
    conn: &mut PgConnection,
    term: &str,
    pattern: &str,
) -> Result<Option<Vec<uuid::Uuid>>, AppError> {
    if term.chars().count() < TRIGRAM_LENGTH {
        return Ok(None);
    }
    Ok(sqlx::query_scalar!(
        "SELECT search_workload_ids($1, $2)",
        pattern,
        RARE_TERM_MATCHES
    )
    .fetch_one(&mut *conn)
    .await?)
}

fn provider(name: &str) -> Result<CloudProvider, AppError> {
    CloudProvider::from_name(name)
        .ok_or_else(|| AppError::internal(format!("unknown provider {name}")))
}

fn object(value: serde_json::Value) -> serde_json::Map<String, serde_json::Value> {
    match value {
        serde_json::Value::Object(map) => map,
        _ => serde_json::Map::new(),
    }
}

/// The sort key of a listed item (`id:name`), for the next page's cursor.
#[must_use]
pub fn sort_key(id: uuid::Uuid, name: &str) -> String {
    format!("{id}:{name}")
}

/// The (name, id) a cursor's sort key resumes after.
#[must_use]
pub fn parse_sort_key(key: &str) -> Option<(String, uuid::Uuid)> {
    let (id, name) = key.split_once(':')?;
    Some((name.to_owned(), id.parse().ok()?))
}
