//! The budgets API: `/api/v1/budgets`.

use axum::extract::State;
use axum::http::StatusCode;
use nimbus_api_types::ErrorCode;
use nimbus_api_types::cost::{Budget, BudgetAlert, BudgetInput};
use nimbus_api_types::ids::BudgetId;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::budgets;
use crate::audit;
use crate::auth::extract::{Can, CanInScope, perm};
use crate::db;
use crate::error::AppError;
use crate::http::extract::{Json, Path};
use crate::state::AppState;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(get, replace, delete))
        .routes(routes!(alerts))
}

/// The tenant's budgets by name, each with its current period's actual and forecast spend (a
/// token limited to one project sees that project's).
#[utoipa::path(get, path = "/api/v1/budgets", tag = "budgets",
    security(("session" = ["cost:read"]), ("bearer" = ["cost:read"])),
    responses((status = 200, description = "The budgets", body = Vec<Budget>)))]
pub async fn list(
    State(state): State<AppState>,
    caller: CanInScope<perm::CostRead>,
) -> Result<Json<Vec<Budget>>, AppError> {
    let mut tx = db::begin_for_tenant(&state.db, caller.tenant).await?;
    let budgets = budgets::list(&mut tx, caller.tenant, caller.project).await?;
    db::finish_read(tx);
    Ok(Json(budgets))
}

#[utoipa::path(get, path = "/api/v1/budgets/{id}", tag = "budgets",
    params(("id" = BudgetId, Path, description = "The budget")),
    security(("session" = ["cost:read"]), ("bearer" = ["cost:read"])),
    responses((status = 200, description = "The budget", body = Budget), (status = 404, description = "No such budget", body = nimbus_api_types::ErrorBody)))]
pub async fn get(
    State(state): State<AppState>,
    caller: CanInScope<perm::CostRead>,
    Path(id): Path<BudgetId>,
) -> Result<Json<Budget>, AppError> {
    let mut tx = db::begin_for_tenant(&state.db, caller.tenant).await?;
    let budget = budgets::get(&mut tx, caller.tenant, id, caller.project).await?;
    db::finish_read(tx);
    Ok(Json(budget))
}

/// Saves a budget and evaluates the tenant's budgets at once, in the same transaction: a
/// threshold already crossed alerts right away.
async fn save(
    state: &AppState,
    caller: &Can<perm::BudgetsWrite>,
    id: Option<BudgetId>,
    input: &BudgetInput,
) -> Result<Budget, AppError> {
    let outbound = state.outbound.as_deref().ok_or_else(|| {
        AppError::new(
            ErrorCode::ServiceUnavailable,
            "outbound HTTP calls are unavailable on this server",
        )
    })?;
    let checked = budgets::check(input, outbound)?;
    let mut tx = db::begin_for_tenant(&state.db, caller.tenant).await?;
    let id_saved = budgets::save(&mut tx, caller.tenant, id, &checked).await?;
    budgets::evaluate(&mut tx, caller.tenant).await?;
    let budget = budgets::get(&mut tx, caller.tenant, id_saved, None).await?;
    let action = if id.is_some() {
        "budget.update"
    } else {
        "budget.create"
    };
    let mut entry = caller.audit(action, format!("budget:{id_saved}"));
    // The webhook URL may carry a secret: the audit keeps its host only, as answers do.
    entry.details = serde_json::json!({
        "name": budget.name,
        "project_id": budget.project_id,
        "period": budget.period,
        "amount": budget.amount,
        "currency": budget.currency,
        "thresholds": budget.thresholds,
        "webhook_host": budget.webhook_host,
    });
    audit::record(&mut tx, &entry).await?;
    tx.commit().await?;
    Ok(budget)
}

/// Creates a budget (`budgets:write`); thresholds default to 50, 80 and 100 %.
#[utoipa::path(post, path = "/api/v1/budgets", tag = "budgets", request_body = BudgetInput,
    security(("session" = ["budgets:write"]), ("bearer" = ["budgets:write"])),
    responses(
        (status = 201, description = "Created", body = Budget),
        (status = 409, description = "The name is taken", body = nimbus_api_types::ErrorBody),
        (status = 422, description = "Invalid budget", body = nimbus_api_types::ErrorBody),
    ))]
pub async fn create(
    State(state): State<AppState>,
    caller: Can<perm::BudgetsWrite>,
    Json(input): Json<BudgetInput>,
) -> Result<(StatusCode, Json<Budget>), AppError> {
    let budget = save(&state, &caller, None, &input).await?;
    Ok((StatusCode::CREATED, Json(budget)))
}

#[utoipa::path(put, path = "/api/v1/budgets/{id}", tag = "budgets", request_body = BudgetInput,
    params(("id" = BudgetId, Path, description = "The budget")),
    security(("session" = ["budgets:write"]), ("bearer" = ["budgets:write"])),
    responses((status = 200, description = "Replaced", body = Budget), (status = 404, description = "No such budget", body = nimbus_api_types::ErrorBody)))]
pub async fn replace(
    State(state): State<AppState>,
    caller: Can<perm::BudgetsWrite>,
    Path(id): Path<BudgetId>,
    Json(input): Json<BudgetInput>,
) -> Result<Json<Budget>, AppError> {
    Ok(Json(save(&state, &caller, Some(id), &input).await?))
}

#[utoipa::path(delete, path = "/api/v1/budgets/{id}", tag = "budgets",
    params(("id" = BudgetId, Path, description = "The budget")),
    security(("session" = ["budgets:write"]), ("bearer" = ["budgets:write"])),
    responses((status = 204, description = "Deleted, with its alerts"), (status = 404, description = "No such budget", body = nimbus_api_types::ErrorBody)))]
pub async fn delete(
    State(state): State<AppState>,
    caller: Can<perm::BudgetsWrite>,
    Path(id): Path<BudgetId>,
) -> Result<StatusCode, AppError> {
    let mut tx = db::begin_for_tenant(&state.db, caller.tenant).await?;
    budgets::delete(&mut tx, caller.tenant, id).await?;
    audit::record(
        &mut tx,
        &caller.audit("budget.delete", format!("budget:{id}")),
    )
    .await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The alerts a budget fired, newest first, with their delivery state.
#[utoipa::path(get, path = "/api/v1/budgets/{id}/alerts", tag = "budgets",
    params(("id" = BudgetId, Path, description = "The budget")),
    security(("session" = ["cost:read"]), ("bearer" = ["cost:read"])),
    responses((status = 200, description = "The alerts", body = Vec<BudgetAlert>), (status = 404, description = "No such budget", body = nimbus_api_types::ErrorBody)))]
pub async fn alerts(
    State(state): State<AppState>,
    caller: CanInScope<perm::CostRead>,
    Path(id): Path<BudgetId>,
) -> Result<Json<Vec<BudgetAlert>>, AppError> {
    let mut tx = db::begin_for_tenant(&state.db, caller.tenant).await?;
    // The budget must be visible to the caller (its project, for a limited token).
    budgets::get(&mut tx, caller.tenant, id, caller.project).await?;
    let alerts = budgets::alerts(&mut tx, caller.tenant, id).await?;
    db::finish_read(tx);
    Ok(Json(alerts))
}
