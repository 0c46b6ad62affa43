//! The cost API: bill imports and the explorer.

use std::io::Write;
use std::sync::Arc;

use axum::extract::{Multipart, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use nimbus_api_types::ErrorCode;
use nimbus_api_types::cost::{CostImport, CostReport, ImportStatus};
use nimbus_api_types::identity::Page;
use nimbus_api_types::ids::CostImportId;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::explorer::{self, ExplorerQuery};
use super::import::{self, BillFile, Importer, Quiet};
use super::{rates, repo};
use crate::auth::extract::{Can, perm};
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
}

/// Routes that take bill files: layered with their own body limit and deadline (`cost.*`).
pub fn upload_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(upload))
}

fn no_such_import() -> AppError {
    AppError::new(ErrorCode::NotFound, "no such import")
}

/// The upload form: one `file` part (CSV or gzip-compressed CSV in FOCUS 1.0–1.3).
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
/// currencies are never added together.
#[utoipa::path(get, path = "/api/v1/cost", tag = "cost", params(ExplorerQuery),
    security(("session" = ["cost:read"]), ("bearer" = ["cost:read"])),
    responses((status = 200, description = "The costs (JSON, or CSV with format=csv)", body = CostReport)))]
pub async fn explore(
    State(state): State<AppState>,
    caller: Can<perm::CostRead>,
    Query(query): Query<ExplorerQuery>,
) -> Result<Response, AppError> {
    let view = query.view()?;
    let report =
        explorer::report(&state.db, caller.tenant, caller.principal.project, &view).await?;
    if query.wants_csv() {
        explorer::to_csv(&report)
    } else {
        Ok(Json(report).into_response())
    }
}
