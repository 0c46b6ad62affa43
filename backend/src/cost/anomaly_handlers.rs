//! The anomalies API: `/api/v1/anomalies`.

use axum::extract::State;
use chrono::NaiveDate;
use nimbus_api_types::ErrorCode;
use nimbus_api_types::cost::{Anomaly, AnomalySeverity, AnomalyStatus, AnomalyStatusInput};
use nimbus_api_types::identity::Page;
use nimbus_api_types::ids::{AnomalyId, ProjectId};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::anomalies::{self, Filter};
use crate::audit;
use crate::auth::extract::{CanInScope, perm};
use crate::db;
use crate::error::AppError;
use crate::http::extract::{Json, Path, Query};
use crate::http::paging::PageQuery;
use crate::state::AppState;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(set_status))
}

fn no_such_anomaly() -> AppError {
    AppError::new(ErrorCode::NotFound, "no such anomaly")
}

#[derive(Debug, Default, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AnomalyQuery {
    /// A project of the tenant [default: all; for a token limited to one project, that project].
    pub project: Option<ProjectId>,
    pub status: Option<AnomalyStatus>,
    /// The least severity listed.
    pub severity: Option<AnomalySeverity>,
    /// First day listed (inclusive).
    pub from: Option<NaiveDate>,
    /// Day after the last listed (exclusive).
    pub to: Option<NaiveDate>,
    pub limit: Option<u32>,
    pub cursor: Option<String>,
}

/// The tenant's cost anomalies, newest day first: days whose usage spend of one series
/// (project, provider, sub-account, service, currency) stood far above the median of the four
/// weeks before, with their severity and the resources, regions and SKUs that rose the most.
#[utoipa::path(get, path = "/api/v1/anomalies", tag = "cost", params(AnomalyQuery),
    security(("session" = ["cost:read"]), ("bearer" = ["cost:read"])),
    responses((status = 200, description = "One page of anomalies", body = Page<Anomaly>)))]
pub async fn list(
    State(state): State<AppState>,
    caller: CanInScope<perm::CostRead>,
    Query(query): Query<AnomalyQuery>,
) -> Result<Json<Page<Anomaly>>, AppError> {
    let project = match (caller.project, query.project) {
        (Some(only), Some(asked)) if only != asked => {
            return Err(AppError::new(ErrorCode::NotFound, "no such project"));
        }
        (only, asked) => only.or(asked),
    };
    let paging = PageQuery {
        limit: query.limit,
        cursor: query.cursor.clone(),
    };
    let filter = Filter {
        project,
        status: query.status,
        min_severity: query.severity,
        from: query.from,
        to: query.to,
    };
    let mut tx = db::begin_for_tenant(&state.db, caller.tenant).await?;
    let items = anomalies::list(
        &mut tx,
        caller.tenant,
        &filter,
        paging.after_key::<AnomalyId>()?,
        paging.fetch_limit()?,
    )
    .await?;
    db::finish_read(tx);
    Ok(Json(paging.page(items, |a: &Anomaly| a.id.to_string())?))
}

/// Acknowledges or dismisses an anomaly (or opens it again). Audited.
#[utoipa::path(put, path = "/api/v1/anomalies/{id}/status", tag = "cost",
    params(("id" = AnomalyId, Path, description = "The anomaly")),
    request_body = AnomalyStatusInput,
    security(("session" = ["cost:write"]), ("bearer" = ["cost:write"])),
    responses((status = 200, description = "The new status", body = AnomalyStatusInput),
               (status = 404, description = "No such anomaly", body = nimbus_api_types::ErrorBody)))]
pub async fn set_status(
    State(state): State<AppState>,
    caller: CanInScope<perm::CostWrite>,
    Path(id): Path<AnomalyId>,
    Json(input): Json<AnomalyStatusInput>,
) -> Result<Json<AnomalyStatusInput>, AppError> {
    let mut tx = db::begin_for_tenant(&state.db, caller.tenant).await?;
    if !anomalies::set_status(&mut tx, caller.tenant, caller.project, id, input.status).await? {
        return Err(no_such_anomaly());
    }
    let mut entry = caller.audit("cost.anomaly.status", format!("anomaly:{id}"));
    entry.details = serde_json::json!({ "status": input.status });
    audit::record(&mut tx, &entry).await?;
    tx.commit().await?;
    Ok(Json(input))
}
