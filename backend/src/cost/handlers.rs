//! The cost API: bill imports and the explorer.

use std::io::Write;
use std::sync::Arc;

use askama::Template;
use axum::extract::{Multipart, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use nimbus_api_types::ErrorCode;
use nimbus_api_types::cost::{
    AllocationRule, AllocationRuleInput, AllocationRun, Bill, CostImport, CostReport, CostSettings,
    ForecastReport, ImportStatus,
};
use nimbus_api_types::identity::Page;
use nimbus_api_types::ids::{AllocationRuleId, CostImportId, ProjectId};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::bills::{self, BillPage, Month};
use super::dimensions::{self, TagKeys};
use super::explorer::{self, ExplorerQuery};
use super::import::{self, BillFile, Importer, Quiet};
use super::{allocation, forecast, rates, repo, watch};
use crate::audit;
use crate::auth::extract::{Can, CanInScope, perm};
use crate::db;
use crate::error::AppError;
use crate::http::extract::{Json, Path, Query};
use crate::http::paging::PageQuery;
use crate::state::AppState;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(explore))
        .routes(routes!(list_imports))
        .routes(routes!(get_import))
        .routes(routes!(rates::import_rates, rates::list_rates))
        .routes(routes!(list_rules, create_rule))
        .routes(routes!(replace_rule, delete_rule))
        .routes(routes!(run_allocation))
        .routes(routes!(get_settings, change_settings))
        .routes(routes!(forecasts))
        .routes(routes!(monthly_bill))
}

/// Routes that take bill files: layered with their own body limit and deadline (`cost.*`).
pub fn upload_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(upload))
}

fn no_such_import() -> AppError {
    AppError::new(ErrorCode::NotFound, "no such import")
}

/// The upload form: one `file` part, a bill in any format the import reads (docs/cost/LEDGER.md),
/// optionally gzip-compressed.
#[derive(utoipa::ToSchema)]
#[expect(
    dead_code,
    reason = "documents the multipart form; axum reads it part by part"
)]
struct BillUpload {
    #[schema(value_type = String, format = Binary)]
    file: Vec<u8>,
}

/// Imports a bill file and answers when it is done: `201` with the import when its billing
/// periods now show the file, `200` when they already did (nothing changed), `422
/// bill_rejected` with the import (each error's row and column) in `details`, `409` while
/// another import of the same billing period runs. Progress shows in `GET /api/v1/cost/imports`.
#[utoipa::path(post, path = "/api/v1/cost/imports", tag = "cost",
    request_body(content = BillUpload, content_type = "multipart/form-data"),
    security(("session" = ["cost:write"]), ("bearer" = ["cost:write"])),
    responses(
        (status = 201, description = "Imported", body = CostImport),
        (status = 200, description = "Already imported: nothing changed", body = CostImport),
        (status = 409, description = "Another import of the same billing period is running", body = nimbus_api_types::ErrorBody),
        (status = 422, description = "Rejected (`bill_rejected`); `details` is the import", body = nimbus_api_types::ErrorBody),
    ))]
pub async fn upload(
    State(state): State<AppState>,
    caller: Can<perm::CostWrite>,
    multipart: Multipart,
) -> Result<Response, AppError> {
    let (spool, file) = spool_upload(multipart).await?;
    let importer = Importer {
        tenant: caller.tenant,
        entry: caller.audit("cost.import", String::new()),
        statement_timeout: state.config.cost.import_timeout,
    };
    // The import runs to its end even if the client goes away: it is one transaction either
    // way, and its row must not be left `running`.
    let pool = state.db.clone();
    let import = tokio::spawn(async move {
        let result = import::import(&pool, &importer, file, Arc::new(Quiet)).await;
        drop(spool);
        result
    })
    .await
    .map_err(AppError::internal)??;
    let status = if import.status == ImportStatus::Unchanged {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok((status, Json(import)).into_response())
}

/// Streams the `file` part to a temporary file, hashing it on the way.
async fn spool_upload(
    mut multipart: Multipart,
) -> Result<(tempfile::TempPath, BillFile), AppError> {
    let bad = |message: &'static str| AppError::new(ErrorCode::BadRequest, message);
    while let Some(mut field) = multipart.next_field().await.map_err(|err| {
        AppError::new(
            ErrorCode::BadRequest,
            format!("the upload is not a valid form: {err}"),
        )
    })? {
        if field.name() != Some("file") {
            continue;
        }
        let name = field.file_name().map_or_else(
            || "upload.csv".to_owned(),
            |name| name.chars().take(255).collect(),
        );
        let (mut out, path) = tempfile::NamedTempFile::new()
            .map_err(AppError::internal)?
            .into_parts();
        let mut context = ring::digest::Context::new(&ring::digest::SHA256);
        let mut bytes = 0_u64;
        while let Some(chunk) = field.chunk().await.map_err(|err| {
            AppError::new(
                ErrorCode::BadRequest,
                format!("the upload was interrupted: {err}"),
            )
        })? {
            context.update(&chunk);
            bytes += chunk.len() as u64;
            // Small synchronous writes to a local file; a blocking-pool hop per chunk would
            // cost more than it saves.
            out.write_all(&chunk).map_err(AppError::internal)?;
        }
        out.flush().map_err(AppError::internal)?;
        if bytes == 0 {
            return Err(bad("the file is empty"));
        }
        let file = BillFile {
            path: path.to_path_buf(),
            name,
            sha256: import::digest_bytes(context.finish()),
            bytes,
        };
        return Ok((path, file));
    }
    Err(bad("send the bill as a multipart form part named `file`"))
}

/// The tenant's imports, newest first, with their progress, warnings and errors.
#[utoipa::path(get, path = "/api/v1/cost/imports", tag = "cost", params(PageQuery),
    security(("session" = ["cost:read"]), ("bearer" = ["cost:read"])),
    responses((status = 200, description = "One page of imports", body = Page<CostImport>)))]
pub async fn list_imports(
    State(state): State<AppState>,
    caller: Can<perm::CostRead>,
    Query(paging): Query<PageQuery>,
) -> Result<Json<Page<CostImport>>, AppError> {
    let imports = repo::list(
        &state.db,
        caller.tenant,
        paging.after_key::<uuid::Uuid>()?,
        paging.fetch_limit()?,
    )
    .await?;
    Ok(Json(paging.page(imports, |import| import.id.to_string())?))
}

/// One import: while it runs, `rows_done` of `rows_total` tell how far it got.
#[utoipa::path(get, path = "/api/v1/cost/imports/{id}", tag = "cost",
    params(("id" = CostImportId, Path, description = "The import")),
    security(("session" = ["cost:read"]), ("bearer" = ["cost:read"])),
    responses((status = 200, description = "The import", body = CostImport), (status = 404, description = "No such import", body = nimbus_api_types::ErrorBody)))]
pub async fn get_import(
    State(state): State<AppState>,
    caller: Can<perm::CostRead>,
    Path(id): Path<CostImportId>,
) -> Result<Json<CostImport>, AppError> {
    repo::get(&state.db, caller.tenant, id)
        .await?
        .map(Json)
        .ok_or_else(no_such_import)
}

/// Costs over time from the daily rollups: `from`/`to` (half-open dates, days in the tenant's
/// time zone), `granularity`, `metric`, up to two `group_by` dimensions, one filter value per
/// dimension, `format=csv` to download. Each row is in one currency: costs in different
/// currencies are never added together. A token limited to one project sees that project's
/// allocated costs only.
#[utoipa::path(get, path = "/api/v1/cost", tag = "cost", params(ExplorerQuery),
    security(("session" = ["cost:read"]), ("bearer" = ["cost:read"])),
    responses((status = 200, description = "The costs (JSON, or CSV with format=csv)", body = CostReport)))]
pub async fn explore(
    State(state): State<AppState>,
    caller: CanInScope<perm::CostRead>,
    Query(query): Query<ExplorerQuery>,
) -> Result<Response, AppError> {
    let view = query.view()?;
    let report = explorer::report(&state.db, caller.tenant, caller.project, &view).await?;
    if query.wants_csv() {
        explorer::to_csv(&report)
    } else {
        Ok(Json(report).into_response())
    }
}

fn no_such_rule() -> AppError {
    AppError::new(ErrorCode::NotFound, "no such allocation rule")
}

/// The tenant's allocation rules in the order they are tried (lowest priority number first).
#[utoipa::path(get, path = "/api/v1/cost/allocation-rules", tag = "cost", params(PageQuery),
    security(("session" = ["cost:read"]), ("bearer" = ["cost:read"])),
    responses((status = 200, description = "One page of rules", body = Page<AllocationRule>)))]
pub async fn list_rules(
    State(state): State<AppState>,
    caller: Can<perm::CostRead>,
    Query(paging): Query<PageQuery>,
) -> Result<Json<Page<AllocationRule>>, AppError> {
    let mut tx = db::begin_for_tenant(&state.db, caller.tenant).await?;
    let rules = allocation::list(
        &mut tx,
        caller.tenant,
        paging.after_key::<i32>()?,
        paging.fetch_limit()?,
    )
    .await?;
    db::finish_read(tx);
    Ok(Json(paging.page(rules, |rule| rule.priority.to_string())?))
}

/// Saves a rule and reallocates every month of the ledger in the same transaction, so the
/// explorer never shows costs allocated by a rule set that no longer exists.
async fn save_rule(
    state: &AppState,
    caller: &Can<perm::CostWrite>,
    id: Option<AllocationRuleId>,
    input: &AllocationRuleInput,
) -> Result<AllocationRule, AppError> {
    let checked = allocation::check(input)?;
    let mut tx = db::begin_for_tenant(&state.db, caller.tenant).await?;
    allocation::lock(&mut tx, caller.tenant).await?;
    let rule = allocation::save(&mut tx, caller.tenant, id, &checked)
        .await?
        .ok_or_else(no_such_rule)?;
    let run = allocation::run_all(&mut tx, caller.tenant).await?;
    watch::evaluate(&mut tx, caller.tenant).await?;
    let action = if id.is_some() {
        "cost.allocation_rule.update"
    } else {
        "cost.allocation_rule.create"
    };
    let mut entry = caller.audit(action, format!("allocation_rule:{}", rule.id));
    entry.details = serde_json::json!({ "rule": rule, "run": run });
    audit::record(&mut tx, &entry).await?;
    tx.commit().await?;
    Ok(rule)
}

/// Creates a rule; the ledger is reallocated with it before the answer.
#[utoipa::path(post, path = "/api/v1/cost/allocation-rules", tag = "cost",
    request_body = AllocationRuleInput,
    security(("session" = ["cost:write"]), ("bearer" = ["cost:write"])),
    responses(
        (status = 201, description = "Created, and the ledger reallocated", body = AllocationRule),
        (status = 409, description = "Another rule has this priority", body = nimbus_api_types::ErrorBody),
        (status = 422, description = "Invalid rule or unknown project", body = nimbus_api_types::ErrorBody),
    ))]
pub async fn create_rule(
    State(state): State<AppState>,
    caller: Can<perm::CostWrite>,
    Json(input): Json<AllocationRuleInput>,
) -> Result<(StatusCode, Json<AllocationRule>), AppError> {
    let rule = save_rule(&state, &caller, None, &input).await?;
    Ok((StatusCode::CREATED, Json(rule)))
}

/// Replaces a rule's definition; the ledger is reallocated before the answer.
#[utoipa::path(put, path = "/api/v1/cost/allocation-rules/{id}", tag = "cost",
    request_body = AllocationRuleInput,
    params(("id" = AllocationRuleId, Path, description = "The rule")),
    security(("session" = ["cost:write"]), ("bearer" = ["cost:write"])),
    responses(
        (status = 200, description = "Replaced, and the ledger reallocated", body = AllocationRule),
        (status = 404, description = "No such rule", body = nimbus_api_types::ErrorBody),
        (status = 409, description = "Another rule has this priority", body = nimbus_api_types::ErrorBody),
    ))]
pub async fn replace_rule(
    State(state): State<AppState>,
    caller: Can<perm::CostWrite>,
    Path(id): Path<AllocationRuleId>,
    Json(input): Json<AllocationRuleInput>,
) -> Result<Json<AllocationRule>, AppError> {
    Ok(Json(save_rule(&state, &caller, Some(id), &input).await?))
}

/// Deletes a rule; what it allocated is reallocated by the remaining rules before the answer.
#[utoipa::path(delete, path = "/api/v1/cost/allocation-rules/{id}", tag = "cost",
    params(("id" = AllocationRuleId, Path, description = "The rule")),
    security(("session" = ["cost:write"]), ("bearer" = ["cost:write"])),
    responses((status = 204, description = "Deleted"), (status = 404, description = "No such rule", body = nimbus_api_types::ErrorBody)))]
pub async fn delete_rule(
    State(state): State<AppState>,
    caller: Can<perm::CostWrite>,
    Path(id): Path<AllocationRuleId>,
) -> Result<StatusCode, AppError> {
    let mut tx = db::begin_for_tenant(&state.db, caller.tenant).await?;
    allocation::lock(&mut tx, caller.tenant).await?;
    if !allocation::delete(&mut tx, caller.tenant, id).await? {
        return Err(no_such_rule());
    }
    let run = allocation::run_all(&mut tx, caller.tenant).await?;
    watch::evaluate(&mut tx, caller.tenant).await?;
    let mut entry = caller.audit(
        "cost.allocation_rule.delete",
        format!("allocation_rule:{id}"),
    );
    entry.details = serde_json::json!({ "run": run });
    audit::record(&mut tx, &entry).await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Reallocates every month of the ledger with the current rules. Idempotent: a second run
/// writes the same rollups.
#[utoipa::path(post, path = "/api/v1/cost/allocation-rules/run", tag = "cost",
    security(("session" = ["cost:write"]), ("bearer" = ["cost:write"])),
    responses((status = 200, description = "What the run recomputed", body = AllocationRun)))]
pub async fn run_allocation(
    State(state): State<AppState>,
    caller: Can<perm::CostWrite>,
) -> Result<Json<AllocationRun>, AppError> {
    let mut tx = db::begin_for_tenant(&state.db, caller.tenant).await?;
    allocation::lock(&mut tx, caller.tenant).await?;
    let run = allocation::run_all(&mut tx, caller.tenant).await?;
    watch::evaluate(&mut tx, caller.tenant).await?;
    let mut entry = caller.audit("cost.allocation.run", String::new());
    entry.details = serde_json::json!({ "run": run });
    audit::record(&mut tx, &entry).await?;
    tx.commit().await?;
    Ok(Json(run))
}

/// The tenant's cost settings.
#[utoipa::path(get, path = "/api/v1/cost/settings", tag = "cost",
    security(("session" = ["cost:read"]), ("bearer" = ["cost:read"])),
    responses((status = 200, description = "The settings", body = CostSettings)))]
pub async fn get_settings(
    State(state): State<AppState>,
    caller: Can<perm::CostRead>,
) -> Result<Json<CostSettings>, AppError> {
    let mut tx = db::begin_for_tenant(&state.db, caller.tenant).await?;
    let tag_keys = dimensions::tag_keys(&mut tx, caller.tenant).await?;
    db::finish_read(tx);
    Ok(Json(CostSettings {
        tag_keys: tag_keys.as_slice().to_vec(),
    }))
}

/// Replaces the tenant's cost settings. The tag keys become explorer dimensions (`tag:KEY`):
/// every month's rollups are recomputed with them before the answer.
#[utoipa::path(put, path = "/api/v1/cost/settings", tag = "cost", request_body = CostSettings,
    security(("session" = ["cost:write"]), ("bearer" = ["cost:write"])),
    responses(
        (status = 200, description = "Saved, and the rollups recomputed", body = CostSettings),
        (status = 422, description = "Too many, empty, repeated keys or keys with a comma", body = nimbus_api_types::ErrorBody),
    ))]
pub async fn change_settings(
    State(state): State<AppState>,
    caller: Can<perm::CostWrite>,
    Json(settings): Json<CostSettings>,
) -> Result<Json<CostSettings>, AppError> {
    let tag_keys = TagKeys::new(settings.tag_keys.clone())?;
    let mut tx = db::begin_for_tenant(&state.db, caller.tenant).await?;
    allocation::lock(&mut tx, caller.tenant).await?;
    dimensions::save_tag_keys(&mut tx, caller.tenant, &tag_keys).await?;
    let run = allocation::run_all(&mut tx, caller.tenant).await?;
    let mut entry = caller.audit("cost.settings.update", String::new());
    entry.details = serde_json::json!({ "settings": settings, "run": run });
    audit::record(&mut tx, &entry).await?;
    tx.commit().await?;
    Ok(Json(settings))
}

/// `?project=`: one project's costs instead of the whole tenant's.
#[derive(Debug, Default, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ScopeQuery {
    /// A project of the tenant [default: the whole tenant; for a token limited to one project,
    /// that project].
    pub project: Option<ProjectId>,
}

impl ScopeQuery {
    /// The project asked for, within what the caller may see.
    fn project<P>(&self, caller: &CanInScope<P>) -> Result<Option<ProjectId>, AppError> {
        match (caller.project, self.project) {
            (Some(only), Some(asked)) if only != asked => {
                Err(AppError::new(ErrorCode::NotFound, "no such project"))
            }
            (Some(only), _) => Ok(Some(only)),
            (None, asked) => Ok(asked),
        }
    }
}

/// Month-end and next-month spend forecasts (effective cost) of the tenant or one project, one
/// per billing currency: each weekday's mean spend over the last four weeks, from the day after
/// the last billed day.
#[utoipa::path(get, path = "/api/v1/forecasts", tag = "cost", params(ScopeQuery),
    security(("session" = ["cost:read"]), ("bearer" = ["cost:read"])),
    responses((status = 200, description = "The forecasts", body = ForecastReport)))]
pub async fn forecasts(
    State(state): State<AppState>,
    caller: CanInScope<perm::CostRead>,
    Query(query): Query<ScopeQuery>,
) -> Result<Json<ForecastReport>, AppError> {
    let project = query.project(&caller)?;
    let mut tx = db::begin_for_tenant(&state.db, caller.tenant).await?;
    let today = repo::today(&mut tx, caller.tenant).await?;
    let history = forecast::history(&mut tx, caller.tenant, project).await?;
    db::finish_read(tx);
    Ok(Json(ForecastReport {
        project_id: project,
        method: "weekday_seasonal".to_owned(),
        forecasts: history
            .iter()
            .map(|(currency, daily)| {
                forecast::forecast(currency, daily, forecast::as_of(daily, today))
            })
            .collect(),
    }))
}

#[derive(Debug, Default, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct BillQuery {
    /// A project of the tenant: its allocated costs [default: the whole tenant; for a token
    /// limited to one project, that project].
    pub project: Option<ProjectId>,
    /// `html` for the printable page [default: JSON].
    pub format: Option<String>,
}

/// The monthly bill of the tenant or one project: the costs of the billing periods that start
/// in `month`, per billing currency, by charge category (credits and taxes apart), provider and
/// service, project and billing account. `?format=html` is the printable page.
#[utoipa::path(get, path = "/api/v1/bills/{month}", tag = "cost", params(
        ("month" = String, Path, description = "The month, `YYYY-MM`"), BillQuery),
    security(("session" = ["cost:read"]), ("bearer" = ["cost:read"])),
    responses(
        (status = 200, description = "The bill (JSON, or HTML with `format=html`)", body = Bill),
        (status = 404, description = "No such project", body = nimbus_api_types::ErrorBody),
    ))]
pub async fn monthly_bill(
    State(state): State<AppState>,
    caller: CanInScope<perm::CostRead>,
    Path(month): Path<String>,
    Query(query): Query<BillQuery>,
) -> Result<Response, AppError> {
    let month: Month = month.parse()?;
    let html = match query.format.as_deref() {
        None | Some("json") => false,
        Some("html") => true,
        Some(other) => {
            return Err(AppError::new(
                ErrorCode::ValidationFailed,
                format!("format must be `json` or `html`, not `{other}`"),
            ));
        }
    };
    let project = ScopeQuery {
        project: query.project,
    }
    .project(&caller)?;
    let mut tx = db::begin_for_tenant(&state.db, caller.tenant).await?;
    let bill = bills::bill(&mut tx, caller.tenant, month, project).await?;
    db::finish_read(tx);
    if html {
        let page = BillPage::from(&bill).render().map_err(AppError::internal)?;
        Ok(axum::response::Html(page).into_response())
    } else {
        Ok(Json(bill).into_response())
    }
}
