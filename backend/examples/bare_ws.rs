//! The baseline of `scripts/bench-events`: a bare axum WebSocket fan-out with no
//! authentication, filtering or PostgreSQL — `GET /ws` subscribes a socket to a broadcast,
//! `POST /broadcast` sends its body to every socket. What Nimbus's event path (NOTIFY, the
//! relay, per-event tenant and permission checks, bounded queues) costs is measured against it.
//!
//! Usage: `bare_ws ADDR`

use std::net::SocketAddr;

use axum::Router;
use axum::extract::State;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::response::Response;
use axum::routing::{get, post};
use tokio::sync::broadcast;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let Some(address) = std::env::args().nth(1) else {
        return Err("usage: bare_ws ADDR".into());
    };
    let address: SocketAddr = address.parse()?;
    let (sender, _) = broadcast::channel::<String>(64);
    let app = Router::new()
        .route("/ws", get(subscribe))
        .route("/broadcast", post(broadcast_body))
        .with_state(sender);
    let listener = tokio::net::TcpListener::bind(address).await?;
    axum::serve(listener, app).await?;
    Ok(())
}

async fn subscribe(
    State(sender): State<broadcast::Sender<String>>,
    upgrade: WebSocketUpgrade,
) -> Response {
    let receiver = sender.subscribe();
    upgrade.on_upgrade(move |socket| forward(socket, receiver))
}

async fn forward(mut socket: WebSocket, mut receiver: broadcast::Receiver<String>) {
    while let Ok(text) = receiver.recv().await {
        if socket.send(Message::Text(text.into())).await.is_err() {
            return;
        }
    }
}

async fn broadcast_body(State(sender): State<broadcast::Sender<String>>, body: String) {
    // No subscriber is not an error for a benchmark.
    let _ = sender.send(body);
}
