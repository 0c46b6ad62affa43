//! `GET /api/v1/events`: the WebSocket. The caller is authenticated and its `Origin` checked
//! at the upgrade; afterwards its credential is checked again every principal-cache window, so
//! a signed-out session or revoked token loses the stream as it loses the API.

use std::time::Duration;

use axum::extract::State;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade, close_code};
use axum::http::{HeaderMap, Method, header};
use axum::response::Response;
use nimbus_api_types::ErrorCode;
use nimbus_api_types::events::LiveEvent;
use nimbus_api_types::ids::TenantId;
use tokio::sync::broadcast::error::RecvError;

use crate::auth::extract::Member;
use crate::auth::principal::{self, Principal};
use crate::config::Config;
use crate::error::AppError;
use crate::rbac::policy::Scope;
use crate::state::AppState;

/// The shortest time between two checks of a socket's credential.
const MIN_RECHECK: Duration = Duration::from_secs(1);
/// Clients only answer pings and close: a small read buffer (tungstenite's default, 128 KiB a
/// socket, is most of what 10,000 idle sockets would weigh).
const READ_BUFFER: usize = 4 * 1024;

/// Live events of the caller's tenant, one JSON `LiveEvent` per text message, only of the
/// kinds its permissions cover (each kind names its permission). Browsers authenticate with
/// the session cookie and must come from the portal's origin (or a configured CORS origin);
/// other clients send `Authorization: Bearer`. Close codes: 1001 the server is shutting down
/// (reconnect to another replica), 1008 the credential stopped being valid, 1013 the client
/// fell too far behind (reconnect and refetch).
#[utoipa::path(get, path = "/api/v1/events", tag = "events",
    security(("session" = []), ("bearer" = [])),
    responses(
        (status = 101, description = "Switched to the WebSocket protocol; messages are events", body = LiveEvent),
        (status = 401, description = "No valid credential", body = nimbus_api_types::ErrorBody),
        (status = 403, description = "The page's origin may not open the stream, or the caller has no tenant", body = nimbus_api_types::ErrorBody),
    ))]
pub async fn events(
    State(state): State<AppState>,
    caller: Member,
    headers: HeaderMap,
    upgrade: WebSocketUpgrade,
) -> Result<Response, AppError> {
    check_origin(&state.config, &headers)?;
    let credential = credential_headers(&headers);
    // Events are small and sent one at a time: each is written out at once, not buffered.
    let upgrade = upgrade.read_buffer_size(READ_BUFFER).write_buffer_size(0);
    Ok(upgrade.on_upgrade(move |socket| {
        stream(socket, state, caller.principal, caller.tenant, credential)
    }))
}

/// A browser's page must be the portal's own (or a configured CORS origin): a page elsewhere
/// could otherwise open the stream with the user's cookie. Clients that are not browsers send
/// no `Origin` and authenticate with a bearer token, which no page can attach for them.
fn check_origin(config: &Config, headers: &HeaderMap) -> Result<(), AppError> {
    let Some(origin) = headers.get(header::ORIGIN) else {
        return Ok(());
    };
    let origin = origin.to_str().unwrap_or_default();
    let configured = config
        .cors_allowed_origins
        .iter()
        .any(|allowed| allowed.as_str() == origin);
    let own = match &config.public_url {
        Some(public) => url::Url::parse(public.as_str())
            .is_ok_and(|url| url.origin().ascii_serialization() == origin),
        // Without a configured address, the portal is wherever the browser reached it.
        None => {
            let host = headers
                .get(header::HOST)
                .and_then(|host| host.to_str().ok())
                .unwrap_or_default();
            url::Url::parse(origin).is_ok_and(|url| {
                let port = url
                    .port()
                    .map(|port| format!(":{port}"))
                    .unwrap_or_default();
                !host.is_empty() && format!("{}{port}", url.host_str().unwrap_or_default()) == host
            })
        }
    };
    if configured || own {
        Ok(())
    } else {
        Err(AppError::new(
            ErrorCode::Forbidden,
            format!("pages from {origin} may not open the event stream"),
        ))
    }
}

/// The headers that carry the caller's credential, to check it again later.
fn credential_headers(headers: &HeaderMap) -> HeaderMap {
    let mut kept = HeaderMap::new();
    for name in [header::AUTHORIZATION, header::COOKIE] {
        for value in headers.get_all(&name) {
            kept.append(name.clone(), value.clone());
        }
    }
    kept
}

/// Whether the caller may see the event: its tenant, and the kind's permission where the
/// event happened (tenant-wide, or in its project).
fn visible(principal: &Principal, tenant: TenantId, event: &LiveEvent) -> bool {
    if event.tenant_id != tenant {
        return false;
    }
    if principal.project.is_some() && principal.project != event.project_id {
        return false;
    }
    let scope = event.project_id.map_or(Scope::Tenant, Scope::Project);
    principal.authority.allows(event.kind.permission(), scope)
}

fn close(code: u16, reason: &'static str) -> Message {
    Message::Close(Some(CloseFrame {
        code,
        reason: reason.into(),
    }))
}

/// Why a socket ends.
enum End {
    /// Send this close frame (best effort) and stop.
    Close(Message),
    /// The client left or the connection broke.
    Gone,
}

async fn stream(
    mut socket: WebSocket,
    state: AppState,
    mut principal: Principal,
    tenant: TenantId,
    credential: HeaderMap,
) {
    let mut events = state.events.subscribe();
    let send_timeout = state.config.events.send_timeout;
    let mut recheck = tokio::time::interval(state.config.auth.principal_cache_ttl.max(MIN_RECHECK));
    recheck.tick().await;
    let end = loop {
        tokio::select! {
            () = state.lifecycle.draining() => {
                break End::Close(close(close_code::AWAY, "the server is shutting down"));
            }
            received = events.recv() => match received {
                Ok(event) => {
                    if !visible(&principal, tenant, &event) {
                        continue;
                    }
                    let Ok(text) = serde_json::to_string(&*event) else { continue };
                    match tokio::time::timeout(send_timeout, socket.send(Message::Text(text.into()))).await {
                        Ok(Ok(())) => {}
                        Ok(Err(_)) => break End::Gone,
                        // The client stopped reading: nothing more is buffered for it.
                        Err(_) => break End::Close(close(close_code::AGAIN, "not reading: reconnect")),
                    }
                }
                Err(RecvError::Lagged(_)) => {
                    break End::Close(close(close_code::AGAIN, "too far behind: reconnect and refetch"));
                }
                Err(RecvError::Closed) => break End::Gone,
            },
            _ = recheck.tick() => {
                match principal::authenticate(&state, &Method::GET, &credential).await {
                    Ok(current) if current.tenant == Some(tenant) => principal = current,
                    _ => break End::Close(close(close_code::POLICY, "signed out or access revoked")),
                }
                // Also keeps idle connections (and the proxies on their way) alive.
                let ping = socket.send(Message::Ping(Vec::new().into()));
                if !matches!(tokio::time::timeout(send_timeout, ping).await, Ok(Ok(()))) {
                    break End::Gone;
                }
            }
            incoming = socket.recv() => match incoming {
                // Clients have nothing to say; pings are answered by the protocol layer.
                Some(Ok(Message::Close(_)) | Err(_)) | None => break End::Gone,
                Some(Ok(_)) => {}
            },
        }
    };
    if let End::Close(frame) = end {
        let _ = tokio::time::timeout(send_timeout, socket.send(frame)).await;
    }
}
