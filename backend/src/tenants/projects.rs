//! Projects group a tenant's cloud accounts, clusters, budgets and costs.

use axum::extract::State;
use axum::http::StatusCode;
use nimbus_api_types::ErrorCode;
use nimbus_api_types::identity::{Page, Project, ProjectInput};
use nimbus_api_types::ids::ProjectId;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::audit;
use crate::auth::extract::{Can, Member, perm};
use crate::db;
use crate::error::AppError;
use crate::http::extract::{Json, Path, Query};
use crate::http::paging::PageQuery;
use crate::http::validate::bounded_name;
use crate::state::AppState;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(get, rename, delete))
}

fn no_such_project() -> AppError {
    AppError::new(ErrorCode::NotFound, "no such project")
}

fn duplicate_name(err: sqlx::Error) -> AppError {
    AppError::constraint(err, Some("a project with this name exists"), None)
}

struct ProjectRow {
    id: uuid::Uuid,
    name: String,
    created_at: chrono::DateTime<chrono::Utc>,
}

impl From<ProjectRow> for Project {
    fn from(row: ProjectRow) -> Self {
        Self {
            id: ProjectId(row.id),
            name: row.name,
            created_at: row.created_at,
        }
    }
}

/// The tenant's projects by name (for a token limited to one project, that one).
#[utoipa::path(get, path = "/api/v1/projects", tag = "projects", params(PageQuery),
    security(("session" = []), ("bearer" = [])),
    responses((status = 200, description = "One page of projects", body = Page<Project>)))]
pub async fn list(
    State(state): State<AppState>,
    caller: Member,
    Query(paging): Query<PageQuery>,
) -> Result<Json<Page<Project>>, AppError> {
    let mut tx = db::begin_for_tenant(&state.db, caller.tenant).await?;
    let rows = sqlx::query_as!(
        ProjectRow,
        "SELECT id, name, created_at FROM projects
         WHERE tenant_id = $1 AND ($2::uuid IS NULL OR id = $2) AND ($3::text IS NULL OR name > $3)
         ORDER BY name LIMIT $4",
        caller.tenant.0,
        caller.principal.project.map(|p| p.0),
        paging.after()?,
        paging.fetch_limit()?,
    )
    .fetch_all(&mut *tx)
    .await?;
    db::finish_read(tx);
    Ok(Json(paging.page(
        rows.into_iter().map(Project::from).collect(),
        |project| project.name.clone(),
    )?))
}

#[utoipa::path(post, path = "/api/v1/projects", tag = "projects", request_body = ProjectInput,
    security(("session" = ["projects:manage"]), ("bearer" = ["projects:manage"])),
    responses((status = 201, description = "Created", body = Project), (status = 409, description = "The name is taken", body = nimbus_api_types::ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    caller: Can<perm::ProjectsManage>,
    Json(body): Json<ProjectInput>,
) -> Result<(StatusCode, Json<Project>), AppError> {
    let name = bounded_name(&body.name, 200)?;
    let mut tx = db::begin_for_tenant(&state.db, caller.tenant).await?;
    let row = sqlx::query_as!(
        ProjectRow,
        "INSERT INTO projects (id, tenant_id, name) VALUES ($1, $2, $3) RETURNING id, name, created_at",
        uuid::Uuid::new_v4(),
        caller.tenant.0,
        name
    )
    .fetch_one(&mut *tx)
    .await
    .map_err(duplicate_name)?;
    let project = Project::from(row);
    let mut entry = caller.audit("project.create", format!("project:{}", project.id));
    entry.details = serde_json::json!({ "name": project.name });
    audit::record(&mut tx, &entry).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(project)))
}

#[utoipa::path(get, path = "/api/v1/projects/{id}", tag = "projects",
    params(("id" = ProjectId, Path, description = "The project")),
    security(("session" = []), ("bearer" = [])),
    responses((status = 200, description = "The project", body = Project), (status = 404, description = "No such project", body = nimbus_api_types::ErrorBody)))]
pub async fn get(
    State(state): State<AppState>,
    caller: Member,
    Path(id): Path<ProjectId>,
) -> Result<Json<Project>, AppError> {
    if caller.principal.project.is_some_and(|only| only != id) {
        return Err(no_such_project());
    }
    let mut tx = db::begin_for_tenant(&state.db, caller.tenant).await?;
    let row = sqlx::query_as!(
        ProjectRow,
        "SELECT id, name, created_at FROM projects WHERE tenant_id = $1 AND id = $2",
        caller.tenant.0,
        id.0
    )
    .fetch_optional(&mut *tx)
    .await?
    .ok_or_else(no_such_project)?;
    db::finish_read(tx);
    Ok(Json(row.into()))
}

#[utoipa::path(patch, path = "/api/v1/projects/{id}", tag = "projects", request_body = ProjectInput,
    params(("id" = ProjectId, Path, description = "The project")),
    security(("session" = ["projects:manage"]), ("bearer" = ["projects:manage"])),
    responses((status = 200, description = "Renamed", body = Project), (status = 404, description = "No such project", body = nimbus_api_types::ErrorBody)))]
pub async fn rename(
    State(state): State<AppState>,
    caller: Can<perm::ProjectsManage>,
    Path(id): Path<ProjectId>,
    Json(body): Json<ProjectInput>,
) -> Result<Json<Project>, AppError> {
    let name = bounded_name(&body.name, 200)?;
    let mut tx = db::begin_for_tenant(&state.db, caller.tenant).await?;
    let row = sqlx::query_as!(
        ProjectRow,
        "UPDATE projects SET name = $3 WHERE tenant_id = $1 AND id = $2 RETURNING id, name, created_at",
        caller.tenant.0,
        id.0,
        name
    )
    .fetch_optional(&mut *tx)
    .await
    .map_err(duplicate_name)?
    .ok_or_else(no_such_project)?;
    let mut entry = caller.audit("project.rename", format!("project:{id}"));
    entry.details = serde_json::json!({ "name": name });
    audit::record(&mut tx, &entry).await?;
    tx.commit().await?;
    Ok(Json(row.into()))
}

#[utoipa::path(delete, path = "/api/v1/projects/{id}", tag = "projects",
    params(("id" = ProjectId, Path, description = "The project")),
    security(("session" = ["projects:manage"]), ("bearer" = ["projects:manage"])),
    responses((status = 204, description = "Deleted"), (status = 404, description = "No such project", body = nimbus_api_types::ErrorBody)))]
pub async fn delete(
    State(state): State<AppState>,
    caller: Can<perm::ProjectsManage>,
    Path(id): Path<ProjectId>,
) -> Result<StatusCode, AppError> {
    let mut tx = db::begin_for_tenant(&state.db, caller.tenant).await?;
    let done = sqlx::query!(
        "DELETE FROM projects WHERE tenant_id = $1 AND id = $2",
        caller.tenant.0,
        id.0
    )
    .execute(&mut *tx)
    .await
    .map_err(|err| match &err {
        sqlx::Error::Database(db) if db.is_foreign_key_violation() => AppError::new(
            ErrorCode::Conflict,
            "the project is the target of a cost allocation rule; change or delete the rule first",
        ),
        _ => err.into(),
    })?;
    if done.rows_affected() == 0 {
        return Err(no_such_project());
    }
    audit::record(
        &mut tx,
        &caller.audit("project.delete", format!("project:{id}")),
    )
    .await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}
