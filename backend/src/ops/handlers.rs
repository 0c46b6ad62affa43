use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use nimbus_api_types::ops::{CheckState, Health, HealthStatus, Readiness, ReadinessChecks};

use crate::db;
use crate::error::AppError;
use crate::state::AppState;

/// A readiness probe must answer quickly even when the database hangs.
const READINESS_DB_TIMEOUT: Duration = Duration::from_secs(2);

/// Liveness: the process is up and serving HTTP. Never touches the database, so a database
/// outage does not get healthy replicas restarted.
#[utoipa::path(get, path = "/healthz", tag = "operations",
    responses((status = 200, description = "The process is alive", body = Health)))]
pub async fn healthz() -> Json<Health> {
    Json(Health {
        status: HealthStatus::Ok,
        version: env!("CARGO_PKG_VERSION").to_owned(),
    })
}

/// Readiness: the database answers, the schema is current and the server is not shutting down.
#[utoipa::path(get, path = "/readyz", tag = "operations",
    responses(
        (status = 200, description = "Ready for traffic", body = Readiness),
        (status = 503, description = "Not ready; `Retry-After` says when to look again", body = Readiness),
    ))]
pub async fn readyz(State(state): State<AppState>) -> Response {
    let migrated = tokio::time::timeout(READINESS_DB_TIMEOUT, db::is_migrated(&state.db)).await;
    let (database, migrations) = match migrated {
        Ok(Ok(current)) => (true, current),
        Ok(Err(err)) => {
            tracing::warn!(error = %err, "readiness: database check failed");
            (false, false)
        }
        Err(_elapsed) => {
            tracing::warn!("readiness: database check timed out");
            (false, false)
        }
    };
    let accepting = !state.lifecycle.is_draining();
    let ready = database && migrations && accepting;
    let body = Readiness {
        ready,
        checks: ReadinessChecks {
            database: database.into(),
            migrations: migrations.into(),
            accepting_traffic: CheckState::from(accepting),
        },
    };
    if ready {
        (StatusCode::OK, Json(body)).into_response()
    } else {
        let mut response = (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response();
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        response
    }
}

/// Prometheus metrics in the text exposition format.
#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "Prometheus text format", content_type = "text/plain")))]
pub async fn metrics(State(state): State<AppState>) -> Result<Response, AppError> {
    let text = state
        .metrics
        .render(&state.db)
        .map_err(AppError::internal)?;
    Ok((
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        text,
    )
        .into_response())
}
