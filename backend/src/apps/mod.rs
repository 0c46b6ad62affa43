//! Apps: the workloads of every cluster and cloud that share an application identity (the
//! first of the tenant's app rules that matches — `rules.rs` —, else the
//! `app.kubernetes.io/part-of`, `app.kubernetes.io/name` or `app` label read at sync), with
//! their replica health and — from bills tagged with the app — their cost.

mod repo;
pub mod rules;

use axum::extract::State;
use chrono::{Datelike, NaiveDate, Utc};
use nimbus_api_types::ErrorCode;
use nimbus_api_types::clouds::App;
use nimbus_api_types::identity::Page;
use nimbus_api_types::ids::ProjectId;
use serde::Deserialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::extract::{CanInScope, perm};
use crate::db;
use crate::error::AppError;
use crate::http::extract::{Json, Query};
use crate::http::paging::PageQuery;
use crate::state::AppState;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(rules::list, rules::create))
        .routes(routes!(rules::replace, rules::delete))
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AppQuery {
    /// Only apps with workloads in this project's accounts.
    pub project_id: Option<ProjectId>,
    /// Part of the app's name (case-insensitive).
    pub q: Option<String>,
    /// `YYYY-MM`: the month whose cost is shown (default: the current month, UTC).
    pub month: Option<String>,
    /// `true`: only apps with a workload short of ready replicas.
    pub unhealthy: Option<bool>,
    pub limit: Option<u32>,
    pub cursor: Option<String>,
}

/// The first day of the month asked for, and of the next.
fn month_range(month: Option<&str>) -> Result<(NaiveDate, NaiveDate), AppError> {
    let start = match month {
        None => {
            let today = Utc::now().date_naive();
            NaiveDate::from_ymd_opt(today.year(), today.month(), 1)
        }
        Some(text) => NaiveDate::parse_from_str(&format!("{text}-01"), "%Y-%m-%d").ok(),
    }
    .ok_or_else(|| AppError::new(ErrorCode::ValidationFailed, "month: expected YYYY-MM"))?;
    let end = start
        .checked_add_months(chrono::Months::new(1))
        .ok_or_else(|| AppError::new(ErrorCode::ValidationFailed, "month: out of range"))?;
    Ok((start, end))
}

/// Apps across every cluster and cloud, by name, with their clusters, replica health and the
/// month's cost from bill lines tagged with the app (name `app` or `app.kubernetes.io/name` as a
/// cost tag key in the cost settings for bills to count).
#[utoipa::path(get, path = "/api/v1/apps", tag = "inventory", params(AppQuery),
    security(("session" = ["apps:read"]), ("bearer" = ["apps:read"])),
    responses((status = 200, description = "A page of apps", body = Page<App>)))]
pub async fn list(
    State(state): State<AppState>,
    caller: CanInScope<perm::AppsRead>,
    Query(query): Query<AppQuery>,
) -> Result<Json<Page<App>>, AppError> {
    let paging = PageQuery {
        limit: query.limit,
        cursor: query.cursor.clone(),
    };
    let project = caller.confine(query.project_id)?;
    let (from, to) = month_range(query.month.as_deref())?;
    let filter = repo::Filter {
        project,
        search: query.q.clone().filter(|text| !text.is_empty()),
        only_unhealthy: query.unhealthy.unwrap_or(false),
        after: paging.after()?,
        from,
        to,
        limit: paging.fetch_limit()?,
    };
    let mut tx = db::begin_for_tenant(&state.db, caller.tenant).await?;
    let apps = repo::list(&mut tx, caller.tenant, &filter).await?;
    db::finish_read(tx);
    Ok(Json(paging.page(apps, |app| app.name.clone())?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months_are_read_as_year_and_month() {
        let (from, to) = month_range(Some("2026-12")).unwrap();
        assert_eq!(from.to_string(), "2026-12-01");
        assert_eq!(to.to_string(), "2027-01-01");
        assert!(month_range(Some("2026-13")).is_err());
        assert!(month_range(Some("last month")).is_err());
    }
}
