//! In-app notifications; each one also publishes its live event (`events::publish`, delivered
//! at commit, so a rolled-back change announces nothing).

use axum::extract::State;
use axum::http::StatusCode;
use nimbus_api_types::ErrorCode;
use nimbus_api_types::cost::Notification;
use nimbus_api_types::events::EventKind;
use nimbus_api_types::identity::Page;
use nimbus_api_types::ids::{NotificationId, ProjectId, TenantId};
use sqlx::PgConnection;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::audit;
use crate::auth::extract::Member;
use crate::db;
use crate::error::AppError;
use crate::events;
use crate::http::extract::{Json, Path, Query};
use crate::http::paging::PageQuery;
use crate::state::AppState;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(mark_read))
}

/// Records a notification for the tenant (or one of its projects) and publishes its event, in
/// the caller's transaction.
pub async fn publish(
    conn: &mut PgConnection,
    tenant: TenantId,
    project: Option<ProjectId>,
    kind: EventKind,
    title: &str,
    body: &str,
    details: &serde_json::Value,
) -> Result<NotificationId, AppError> {
    let id = sqlx::query_scalar!(
        "INSERT INTO notifications (id, tenant_id, project_id, kind, title, body, details)
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
        uuid::Uuid::now_v7(),
        tenant.0,
        project.map(|p| p.0),
        kind.as_str(),
        title,
        body,
        details,
    )
    .fetch_one(&mut *conn)
    .await?;
    events::publish(
        conn,
        tenant,
        project,
        kind,
        serde_json::json!({ "notification_id": id, "title": title, "details": details }),
    )
    .await?;
    Ok(NotificationId(id))
}

/// The tenant's notifications, newest first (a token limited to one project sees that
/// project's only).
#[utoipa::path(get, path = "/api/v1/notifications", tag = "notifications", params(PageQuery),
    security(("session" = []), ("bearer" = [])),
    responses((status = 200, description = "One page of notifications", body = Page<Notification>)))]
pub async fn list(
    State(state): State<AppState>,
    caller: Member,
    Query(paging): Query<PageQuery>,
) -> Result<Json<Page<Notification>>, AppError> {
    let mut tx = db::begin_for_tenant(&state.db, caller.tenant).await?;
    let rows = sqlx::query!(
        "SELECT id, kind, project_id, title, body, details, created_at, read_at FROM notifications
         WHERE tenant_id = $1 AND ($2::uuid IS NULL OR project_id = $2) AND ($3::uuid IS NULL OR id < $3)
         ORDER BY id DESC LIMIT $4",
        caller.tenant.0,
        caller.principal.project.map(|p| p.0),
        paging.after_key::<uuid::Uuid>()?,
        paging.fetch_limit()?,
    )
    .fetch_all(&mut *tx)
    .await?;
    db::finish_read(tx);
    let items = rows
        .into_iter()
        .map(|row| Notification {
            id: NotificationId(row.id),
            kind: row.kind,
            project_id: row.project_id.map(ProjectId),
            title: row.title,
            body: row.body,
            details: row.details,
            created_at: row.created_at,
            read_at: row.read_at,
        })
        .collect();
    Ok(Json(
        paging.page(items, |n: &Notification| n.id.to_string())?,
    ))
}

/// Marks a notification read (for everyone in the tenant).
#[utoipa::path(post, path = "/api/v1/notifications/{id}/read", tag = "notifications",
    params(("id" = NotificationId, Path, description = "The notification")),
    security(("session" = []), ("bearer" = [])),
    responses((status = 204, description = "Marked read"), (status = 404, description = "No such notification", body = nimbus_api_types::ErrorBody)))]
pub async fn mark_read(
    State(state): State<AppState>,
    caller: Member,
    Path(id): Path<NotificationId>,
) -> Result<StatusCode, AppError> {
    let mut tx = db::begin_for_tenant(&state.db, caller.tenant).await?;
    let done = sqlx::query!(
        "UPDATE notifications SET read_at = coalesce(read_at, now())
         WHERE tenant_id = $1 AND id = $2 AND ($3::uuid IS NULL OR project_id = $3)",
        caller.tenant.0,
        id.0,
        caller.principal.project.map(|p| p.0),
    )
    .execute(&mut *tx)
    .await?;
    if done.rows_affected() == 0 {
        return Err(AppError::new(ErrorCode::NotFound, "no such notification"));
    }
    audit::record(
        &mut tx,
        &caller.audit("notification.read", format!("notification:{id}")),
    )
    .await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}
