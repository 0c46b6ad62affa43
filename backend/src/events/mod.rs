//! Live events (SECURITY.md 22). A change publishes its event with `NOTIFY` inside its own
//! transaction, so the event leaves at commit and a rollback announces nothing; one `LISTEN`
//! per server process relays every replica's events into a bounded broadcast ([`Hub`]); each
//! WebSocket ([`ws`]) forwards the events its caller may see.

mod hub;
pub mod ws;

use chrono::Utc;
use nimbus_api_types::events::{EventKind, LiveEvent};
use nimbus_api_types::ids::{ProjectId, TenantId};
use sqlx::PgConnection;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub use hub::{Hub, relay};

use crate::error::AppError;
use crate::state::AppState;

/// The channel live events travel on between server replicas.
pub const CHANNEL: &str = "nimbus_events";
/// PostgreSQL refuses `NOTIFY` payloads from 8000 bytes on.
const MAX_PAYLOAD: usize = 7900;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(ws::events))
}

/// Publishes an event when the caller's transaction commits. `data` names the affected
/// objects by id; it is dropped (with a warning) if it would not fit a notification.
pub async fn publish(
    conn: &mut PgConnection,
    tenant: TenantId,
    project: Option<ProjectId>,
    kind: EventKind,
    data: serde_json::Value,
) -> Result<(), AppError> {
    let mut event = LiveEvent {
        kind,
        tenant_id: tenant,
        project_id: project,
        at: Utc::now(),
        data,
    };
    let mut payload = serde_json::to_string(&event).map_err(AppError::internal)?;
    if payload.len() > MAX_PAYLOAD {
        tracing::warn!(
            kind = kind.as_str(),
            bytes = payload.len(),
            "event data dropped: too large"
        );
        event.data = serde_json::json!({ "truncated": true });
        payload = serde_json::to_string(&event).map_err(AppError::internal)?;
    }
    sqlx::query!("SELECT pg_notify($1, $2)", CHANNEL, payload)
        .execute(conn)
        .await?;
    Ok(())
}
