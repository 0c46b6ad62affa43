//! The apps query: workloads grouped by their app, with clusters and the month's tagged cost.

use chrono::NaiveDate;
use nimbus_api_types::clouds::{App, AppCluster, AppCost};
use nimbus_api_types::ids::{ProjectId, TenantId};
use sqlx::PgConnection;

use crate::db;
use crate::error::AppError;

pub struct Filter {
    pub project: Option<ProjectId>,
    pub search: Option<String>,
    /// Only apps with a workload short of ready replicas.
    pub only_unhealthy: bool,
    /// Resume after this app name.
    pub after: Option<String>,
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub limit: i64,
}

pub async fn list(
    conn: &mut PgConnection,
    tenant: TenantId,
    filter: &Filter,
) -> Result<Vec<App>, AppError> {
    let search = filter.search.as_deref().map(db::contains_pattern);
    let rows = sqlx::query!(
        r#"WITH apps AS (
               SELECT w.app AS name, count(*) AS workloads,
                      sum(coalesce(w.replicas_desired, 0))::int8 AS desired,
                      sum(coalesce(w.replicas_ready, 0))::int8 AS ready,
                      count(*) FILTER (WHERE coalesce(w.replicas_ready, 0)
                                             < coalesce(w.replicas_desired, 0)) AS unhealthy,
                      count(DISTINCT w.cluster_id) AS cluster_count,
                      array_agg(DISTINCT w.cluster_id) AS cluster_ids
               FROM workloads w
               JOIN cloud_accounts a ON a.id = w.account_id
               WHERE w.tenant_id = $1 AND w.app IS NOT NULL
                 AND ($2::uuid IS NULL OR a.project_id = $2)
                 AND ($3::text IS NULL OR w.app ILIKE $3)
                 AND ($4::text IS NULL OR w.app > $4)
               GROUP BY w.app
               HAVING NOT $8 OR count(*) FILTER (WHERE coalesce(w.replicas_ready, 0)
                                                       < coalesce(w.replicas_desired, 0)) > 0
               ORDER BY w.app
               LIMIT $5
           )
           SELECT apps.name AS "name!", apps.workloads AS "workloads!", apps.desired AS "desired!",
                  apps.ready AS "ready!", apps.unhealthy AS "unhealthy!",
                  apps.cluster_count AS "cluster_count!",
                  coalesce((SELECT jsonb_agg(jsonb_build_object('cluster_id', c.id, 'name', c.name,
                                                                'provider', ca.provider)
                                             ORDER BY c.name)
                            FROM (SELECT * FROM clusters c WHERE c.id = ANY (apps.cluster_ids)
                                  ORDER BY c.name LIMIT 20) c
                            JOIN cloud_accounts ca ON ca.id = c.account_id), '[]') AS "clusters!",
                  coalesce((SELECT jsonb_agg(jsonb_build_object('currency', d.billing_currency,
                                                                'effective_cost', d.cost::text)
                                             ORDER BY d.billing_currency)
                            FROM (SELECT billing_currency, sum(effective_cost) AS cost
                                  FROM cost_daily
                                  WHERE tenant_id = $1 AND day >= $6 AND day < $7
                                    AND tags IS NOT NULL
                                    AND (tags ->> 'app.kubernetes.io/part-of' = apps.name
                                         OR tags ->> 'app.kubernetes.io/name' = apps.name
                                         OR tags ->> 'app' = apps.name)
                                    AND ($2::uuid IS NULL OR project_id = $2)
                                  GROUP BY billing_currency) d), '[]') AS "cost!"
           FROM apps
           ORDER BY apps.name"#,
        tenant.0,
        filter.project.map(|p| p.0),
        search,
        filter.after,
        filter.limit,
        filter.from,
        filter.to,
        filter.only_unhealthy,
    )
    .fetch_all(&mut *conn)
    .await?;
    rows.into_iter()
        .map(|row| {
            let clusters: Vec<AppCluster> =
                serde_json::from_value(row.clusters).map_err(AppError::internal)?;
            let cost: Vec<AppCost> =
                serde_json::from_value(row.cost).map_err(AppError::internal)?;
            Ok(App {
                name: row.name,
                workloads: row.workloads,
                replicas_desired: row.desired,
                replicas_ready: row.ready,
                unhealthy_workloads: row.unhealthy,
                cluster_count: row.cluster_count,
                clusters,
                cost,
            })
        })
        .collect()
}
