//! App rules: a tenant names the app of the workloads a rule matches, beyond what their labels
//! say (legacy workloads without labels, or several labels that are one product). Rules are
//! tried in priority order; the first match wins, else the labels. Every change regroups the
//! tenant's workloads in its own transaction, under the lock the sync's upserts share, so no
//! workload keeps an app from a rule set that no longer exists.

use axum::extract::State;
use axum::http::StatusCode;
use nimbus_api_types::ErrorCode;
use nimbus_api_types::clouds::{AppRule, AppRuleInput, AppRuleMatch, LabelMatch};
use nimbus_api_types::identity::Page;
use nimbus_api_types::ids::{AppRuleId, TenantId};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::audit;
use crate::auth::extract::{Can, perm};
use crate::db;
use crate::error::AppError;
use crate::http::extract::{Json, Path, Query};
use crate::http::paging::PageQuery;
use crate::state::AppState;

/// Most rules of one tenant: each is tried for every workload at sync.
const MAX_RULES: i64 = 200;

fn invalid(message: impl Into<std::borrow::Cow<'static, str>>) -> AppError {
    AppError::new(ErrorCode::ValidationFailed, message)
}

fn no_such_rule() -> AppError {
    AppError::new(ErrorCode::NotFound, "no such app rule")
}

/// Checks a rule as given: a name, a priority in range, at least one condition, and patterns
/// of a sensible length.
fn check(input: &AppRuleInput) -> Result<(), AppError> {
    let app = input.app.trim();
    if app.is_empty() || app.len() > 253 || app != input.app {
        return Err(invalid(
            "app: 1 to 253 characters, without leading or trailing spaces",
        ));
    }
    if !(1..=10_000).contains(&input.priority) {
        return Err(invalid("priority: 1 to 10000 (lower is tried first)"));
    }
    let rule = &input.matches;
    if rule.cluster_id.is_none()
        && rule.namespace.is_none()
        && rule.name.is_none()
        && rule.label.is_none()
    {
        return Err(invalid(
            "match: give at least one of cluster_id, namespace, name, label",
        ));
    }
    for (field, pattern) in [("namespace", &rule.namespace), ("name", &rule.name)] {
        if let Some(pattern) = pattern
            && (pattern.is_empty() || pattern.len() > 253)
        {
            return Err(invalid(format!(
                "match.{field}: 1 to 253 characters (* and ? are wildcards)"
            )));
        }
    }
    if let Some(label) = &rule.label
        && (label.key.is_empty() || label.key.len() > 317 || label.value.len() > 63)
    {
        return Err(invalid(
            "match.label: a label key (at most 317 characters) and its value (at most 63)",
        ));
    }
    Ok(())
}

/// Takes the tenant's app-grouping lock: exclusive for a rule change, shared for a sync's
/// workload upsert, so an upsert never computes apps from a rule set being replaced.
pub async fn lock(
    conn: &mut PgConnection,
    tenant: TenantId,
    exclusive: bool,
) -> Result<(), AppError> {
    if exclusive {
        sqlx::query!(
            "SELECT pg_advisory_xact_lock(hashtext('app_rules'), hashtext($1::uuid::text))",
            tenant.0
        )
        .execute(conn)
        .await?;
    } else {
        sqlx::query!(
            "SELECT pg_advisory_xact_lock_shared(hashtext('app_rules'), hashtext($1::uuid::text))",
            tenant.0
        )
        .execute(conn)
        .await?;
    }
    Ok(())
}

/// Recomputes the app of every workload of the tenant whose app the rules now change; how many.
async fn regroup(conn: &mut PgConnection, tenant: TenantId) -> Result<u64, AppError> {
    Ok(sqlx::query!(
        "UPDATE workloads w
         SET app = app_of_workload(w.tenant_id, w.cluster_id, w.namespace, w.name, w.labels,
                                   w.label_app)
         WHERE w.tenant_id = $1
           AND w.app IS DISTINCT FROM app_of_workload(w.tenant_id, w.cluster_id, w.namespace,
                                                      w.name, w.labels, w.label_app)",
        tenant.0
    )
    .execute(conn)
    .await?
    .rows_affected())
}

struct RuleRow {
    id: Uuid,
    app: String,
    priority: i32,
    cluster_id: Option<Uuid>,
    namespace: Option<String>,
    name: Option<String>,
    label_key: Option<String>,
    label_value: Option<String>,
    created_at: chrono::DateTime<chrono::Utc>,
}

impl From<RuleRow> for AppRule {
    fn from(row: RuleRow) -> Self {
        Self {
            id: AppRuleId(row.id),
            app: row.app,
            priority: row.priority,
            matches: AppRuleMatch {
                cluster_id: row.cluster_id.map(nimbus_api_types::ids::ClusterId),
                namespace: row.namespace,
                name: row.name,
                label: row
                    .label_key
                    .zip(row.label_value)
                    .map(|(key, value)| LabelMatch { key, value }),
            },
            created_at: row.created_at,
        }
    }
}

fn constraint(err: sqlx::Error) -> AppError {
    AppError::constraint(err, Some("another app rule has this priority"), None)
}

/// Creates the rule (`id` none) or replaces rule `id`; `None` if there is no such rule.
async fn save(
    conn: &mut PgConnection,
    tenant: TenantId,
    id: Option<AppRuleId>,
    input: &AppRuleInput,
) -> Result<Option<AppRule>, AppError> {
    let rule = &input.matches;
    if let Some(cluster) = rule.cluster_id {
        let known = sqlx::query_scalar!(
            r#"SELECT EXISTS (SELECT 1 FROM clusters WHERE tenant_id = $1 AND id = $2) AS "known!""#,
            tenant.0,
            cluster.0
        )
        .fetch_one(&mut *conn)
        .await?;
        if !known {
            return Err(invalid("match.cluster_id: no such cluster in this tenant"));
        }
    }
    if id.is_none() {
        let count = sqlx::query_scalar!(
            r#"SELECT count(*) AS "count!" FROM app_rules WHERE tenant_id = $1"#,
            tenant.0
        )
        .fetch_one(&mut *conn)
        .await?;
        if count >= MAX_RULES {
            return Err(invalid(format!(
                "a tenant has at most {MAX_RULES} app rules"
            )));
        }
    }
    let (label_key, label_value) = rule
        .label
        .as_ref()
        .map(|label| (label.key.as_str(), label.value.as_str()))
        .unzip();
    let (cluster_id, rule_id) = (rule.cluster_id.map(|cluster| cluster.0), id.map(|id| id.0));
    let saved = match rule_id {
        None => {
            sqlx::query_as!(
                RuleRow,
                "INSERT INTO app_rules (id, tenant_id, app, priority, cluster_id, namespace, name,
                                   label_key, label_value)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
             RETURNING id, app, priority, cluster_id, namespace, name, label_key, label_value,
                       created_at",
                Uuid::now_v7(),
                tenant.0,
                input.app,
                input.priority,
                cluster_id,
                rule.namespace,
                rule.name,
                label_key,
                label_value,
            )
            .fetch_optional(&mut *conn)
            .await
        }
        Some(rule_id) => {
            sqlx::query_as!(
                RuleRow,
                "UPDATE app_rules
             SET app = $3, priority = $4, cluster_id = $5, namespace = $6, name = $7,
                 label_key = $8, label_value = $9
             WHERE tenant_id = $1 AND id = $2
             RETURNING id, app, priority, cluster_id, namespace, name, label_key, label_value,
                       created_at",
                tenant.0,
                rule_id,
                input.app,
                input.priority,
                cluster_id,
                rule.namespace,
                rule.name,
                label_key,
                label_value,
            )
            .fetch_optional(&mut *conn)
            .await
        }
    }
    .map_err(constraint)?;
    Ok(saved.map(AppRule::from))
}

/// The tenant's app rules in the order they are tried.
#[utoipa::path(get, path = "/api/v1/app-rules", tag = "inventory", params(PageQuery),
    security(("session" = ["apps:read"]), ("bearer" = ["apps:read"])),
    responses((status = 200, description = "One page of rules, lowest priority first", body = Page<AppRule>)))]
pub async fn list(
    State(state): State<AppState>,
    caller: Can<perm::AppsRead>,
    Query(paging): Query<PageQuery>,
) -> Result<Json<Page<AppRule>>, AppError> {
    let mut tx = db::begin_for_tenant(&state.db, caller.tenant).await?;
    let rules = sqlx::query_as!(
        RuleRow,
        "SELECT id, app, priority, cluster_id, namespace, name, label_key, label_value, created_at
         FROM app_rules
         WHERE tenant_id = $1 AND ($2::int4 IS NULL OR priority > $2)
         ORDER BY priority
         LIMIT $3",
        caller.tenant.0,
        paging.after_key::<i32>()?,
        paging.fetch_limit()?,
    )
    .fetch_all(&mut *tx)
    .await?;
    db::finish_read(tx);
    let rules = rules.into_iter().map(AppRule::from).collect();
    Ok(Json(
        paging.page(rules, |rule: &AppRule| rule.priority.to_string())?,
    ))
}

/// Saves a rule and regroups the tenant's workloads in the same transaction.
async fn save_and_regroup(
    state: &AppState,
    caller: &Can<perm::AppsWrite>,
    id: Option<AppRuleId>,
    input: &AppRuleInput,
) -> Result<AppRule, AppError> {
    check(input)?;
    let mut tx = db::begin_for_tenant(&state.db, caller.tenant).await?;
    lock(&mut tx, caller.tenant, true).await?;
    let rule = save(&mut tx, caller.tenant, id, input)
        .await?
        .ok_or_else(no_such_rule)?;
    let regrouped = regroup(&mut tx, caller.tenant).await?;
    let action = if id.is_some() {
        "apps.rule.update"
    } else {
        "apps.rule.create"
    };
    let mut entry = caller.audit(action, format!("app_rule:{}", rule.id));
    entry.details = serde_json::json!({ "rule": rule, "workloads_regrouped": regrouped });
    audit::record(&mut tx, &entry).await?;
    tx.commit().await?;
    Ok(rule)
}

/// Creates a rule; the workloads it matches belong to its app before the answer.
#[utoipa::path(post, path = "/api/v1/app-rules", tag = "inventory", request_body = AppRuleInput,
    security(("session" = ["apps:write"]), ("bearer" = ["apps:write"])),
    responses(
        (status = 201, description = "Created, and the workloads regrouped", body = AppRule),
        (status = 409, description = "Another rule has this priority", body = nimbus_api_types::ErrorBody),
        (status = 422, description = "Invalid rule or unknown cluster", body = nimbus_api_types::ErrorBody),
    ))]
pub async fn create(
    State(state): State<AppState>,
    caller: Can<perm::AppsWrite>,
    Json(input): Json<AppRuleInput>,
) -> Result<(StatusCode, Json<AppRule>), AppError> {
    let rule = save_and_regroup(&state, &caller, None, &input).await?;
    Ok((StatusCode::CREATED, Json(rule)))
}

/// Replaces a rule; the workloads are regrouped before the answer.
#[utoipa::path(put, path = "/api/v1/app-rules/{id}", tag = "inventory", request_body = AppRuleInput,
    params(("id" = AppRuleId, Path, description = "The rule")),
    security(("session" = ["apps:write"]), ("bearer" = ["apps:write"])),
    responses(
        (status = 200, description = "Replaced, and the workloads regrouped", body = AppRule),
        (status = 404, description = "No such rule", body = nimbus_api_types::ErrorBody),
        (status = 409, description = "Another rule has this priority", body = nimbus_api_types::ErrorBody),
    ))]
pub async fn replace(
    State(state): State<AppState>,
    caller: Can<perm::AppsWrite>,
    Path(id): Path<AppRuleId>,
    Json(input): Json<AppRuleInput>,
) -> Result<Json<AppRule>, AppError> {
    Ok(Json(
        save_and_regroup(&state, &caller, Some(id), &input).await?,
    ))
}

/// Deletes a rule; its workloads fall back to the next matching rule or their labels.
#[utoipa::path(delete, path = "/api/v1/app-rules/{id}", tag = "inventory",
    params(("id" = AppRuleId, Path, description = "The rule")),
    security(("session" = ["apps:write"]), ("bearer" = ["apps:write"])),
    responses((status = 204, description = "Deleted, and the workloads regrouped"),
              (status = 404, description = "No such rule", body = nimbus_api_types::ErrorBody)))]
pub async fn delete(
    State(state): State<AppState>,
    caller: Can<perm::AppsWrite>,
    Path(id): Path<AppRuleId>,
) -> Result<StatusCode, AppError> {
    let mut tx = db::begin_for_tenant(&state.db, caller.tenant).await?;
    lock(&mut tx, caller.tenant, true).await?;
    let deleted = sqlx::query!(
        "DELETE FROM app_rules WHERE tenant_id = $1 AND id = $2",
        caller.tenant.0,
        id.0
    )
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if deleted == 0 {
        return Err(no_such_rule());
    }
    let regrouped = regroup(&mut tx, caller.tenant).await?;
    let mut entry = caller.audit("apps.rule.delete", format!("app_rule:{id}"));
    entry.details = serde_json::json!({ "workloads_regrouped": regrouped });
    audit::record(&mut tx, &entry).await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(matches: AppRuleMatch) -> AppRuleInput {
        AppRuleInput {
            app: "billing".into(),
            priority: 10,
            matches,
        }
    }

    #[test]
    fn a_rule_needs_a_condition_a_name_and_a_priority_in_range() {
        assert!(check(&input(AppRuleMatch::default())).is_err());
        let by_namespace = AppRuleMatch {
            namespace: Some("billing-*".into()),
            ..AppRuleMatch::default()
        };
        assert!(check(&input(by_namespace.clone())).is_ok());
        let mut unnamed = input(by_namespace.clone());
        unnamed.app = " billing".into();
        assert!(check(&unnamed).is_err());
        let mut out_of_range = input(by_namespace);
        out_of_range.priority = 0;
        assert!(check(&out_of_range).is_err());
        let empty_pattern = AppRuleMatch {
            name: Some(String::new()),
            ..AppRuleMatch::default()
        };
        assert!(check(&input(empty_pattern)).is_err());
    }
}
