//! Searching and exporting the tenant's audit trail.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use nimbus_api_types::identity::{AuditEntry, Page};
use serde::Deserialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::extract::{Can, perm};
use crate::db;
use crate::error::AppError;
use crate::http::csv as csv_export;
use crate::http::extract::{Json, Query};
use crate::http::paging::PageQuery;
use crate::state::AppState;

/// Rows in one CSV export; narrow the time range for more.
const CSV_MAX_ROWS: i64 = 100_000;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(search))
}

#[derive(Debug, Clone, Copy, Default, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    #[default]
    Json,
    Csv,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditFilter {
    /// Exactly this actor, e.g. `user:<id>`.
    pub actor: Option<String>,
    /// Exactly this action (`project.create`), or a prefix ending in a dot (`project.`).
    pub action: Option<String>,
    /// Exactly this target, e.g. `project:<id>`.
    pub target: Option<String>,
    /// From this instant (inclusive, RFC 3339).
    pub from: Option<DateTime<Utc>>,
    /// Up to this instant (exclusive, RFC 3339).
    pub to: Option<DateTime<Utc>>,
    pub limit: Option<u32>,
    pub cursor: Option<String>,
    /// `csv` exports every matching row (up to 100,000) as a file instead of a page.
    #[param(inline)]
    pub format: Option<Format>,
}

/// The tenant's audit trail, newest first, filtered; or a CSV export of it.
#[utoipa::path(get, path = "/api/v1/audit", tag = "audit", params(AuditFilter),
    security(("session" = ["audit:read"]), ("bearer" = ["audit:read"])),
    responses(
        (status = 200, description = "One page of entries, or `text/csv` with every match", body = Page<AuditEntry>),
    ))]
pub async fn search(
    State(state): State<AppState>,
    caller: Can<perm::AuditRead>,
    Query(filter): Query<AuditFilter>,
) -> Result<Response, AppError> {
    let csv = matches!(filter.format, Some(Format::Csv));
    let paging = PageQuery {
        limit: filter.limit,
        cursor: filter.cursor.clone(),
    };
    let before = paging.after_key::<i64>()?;
    let (action, action_prefix) = match filter.action.as_deref() {
        Some(prefix) if prefix.ends_with('.') => {
            (None, Some(format!("{}%", db::like_escape(prefix))))
        }
        other => (other.map(str::to_owned), None),
    };
    let limit = if csv {
        CSV_MAX_ROWS
    } else {
        paging.fetch_limit()?
    };
    let mut tx = db::begin_for_tenant(&state.db, caller.tenant).await?;
    let rows = sqlx::query!(
        r#"SELECT id, actor, action, target, outcome, host(source_ip) AS source_ip, request_id, details, occurred_at
           FROM audit_log
           WHERE tenant_id = $1
             AND ($2::text IS NULL OR actor = $2) AND ($3::text IS NULL OR action = $3)
             AND ($4::text IS NULL OR action LIKE $4) AND ($5::text IS NULL OR target = $5)
             AND ($6::timestamptz IS NULL OR occurred_at >= $6) AND ($7::timestamptz IS NULL OR occurred_at < $7)
             AND ($8::bigint IS NULL OR id < $8)
           ORDER BY id DESC LIMIT $9"#,
        caller.tenant.0,
        filter.actor,
        action,
        action_prefix,
        filter.target,
        filter.from,
        filter.to,
        before,
        limit,
    )
    .fetch_all(&mut *tx)
    .await?;
    db::finish_read(tx);
    let entries: Vec<AuditEntry> = rows
        .into_iter()
        .map(|row| AuditEntry {
            id: row.id,
            actor: row.actor,
            action: row.action,
            target: row.target,
            outcome: row.outcome,
            source_ip: row.source_ip,
            request_id: row.request_id,
            details: row.details,
            occurred_at: row.occurred_at,
        })
        .collect();
    if csv {
        return to_csv(&entries);
    }
    Ok(Json(paging.page(entries, |entry| entry.id.to_string())?).into_response())
}

fn to_csv(entries: &[AuditEntry]) -> Result<Response, AppError> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    writer
        .write_record([
            "id",
            "occurred_at",
            "actor",
            "action",
            "target",
            "outcome",
            "source_ip",
            "request_id",
            "details",
        ])
        .map_err(AppError::internal)?;
    for entry in entries {
        writer
            .write_record([
                entry.id.to_string(),
                entry.occurred_at.to_rfc3339(),
                csv_export::neutralize(&entry.actor),
                csv_export::neutralize(&entry.action),
                csv_export::neutralize(&entry.target),
                entry.outcome.clone(),
                entry.source_ip.clone().unwrap_or_default(),
                entry
                    .request_id
                    .clone()
                    .map(|id| csv_export::neutralize(&id))
                    .unwrap_or_default(),
                csv_export::neutralize(&entry.details.to_string()),
            ])
            .map_err(AppError::internal)?;
    }
    csv_export::attachment("nimbus-audit.csv", writer)
}
