//! One process's share of the live events: a `LISTEN` on [`super::CHANNEL`] feeding a bounded
//! broadcast that every WebSocket of the process subscribes to.

use std::sync::Arc;
use std::time::Duration;

use nimbus_api_types::events::LiveEvent;
use sqlx::postgres::PgListener;
use tokio::sync::broadcast;

use crate::state::AppState;

/// How long the relay waits before listening again after the database went away.
const RECONNECT_PAUSE: Duration = Duration::from_secs(1);

/// The fan-out of events to this process's sockets. The broadcast's ring is the only queue:
/// its size bounds memory whatever the number of sockets, and a socket that falls a whole ring
/// behind is told so (and closed) instead of buffering.
pub struct Hub {
    sender: broadcast::Sender<Arc<LiveEvent>>,
}

impl Hub {
    #[must_use]
    pub fn new(queue: usize) -> Self {
        let (sender, _) = broadcast::channel(queue.max(1));
        Self { sender }
    }

    #[must_use]
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<LiveEvent>> {
        self.sender.subscribe()
    }

    /// Sockets listening now.
    #[must_use]
    pub fn sockets(&self) -> usize {
        self.sender.receiver_count()
    }

    fn deliver(&self, event: LiveEvent) {
        // No socket open: nobody to tell.
        let _ = self.sender.send(Arc::new(event));
    }
}

/// Relays every replica's events to this process's sockets until the server drains. A lost
/// connection is opened again; events published meanwhile are missed (clients refetch when
/// they reconnect, so the dashboard never shows less than the API).
pub async fn relay(state: AppState) {
    let draining = state.lifecycle.clone();
    tokio::select! {
        () = listen(&state) => {}
        () = draining.draining() => {}
    }
}

async fn listen(state: &AppState) {
    loop {
        let mut listener = match PgListener::connect_with(&state.db).await {
            Ok(listener) => listener,
            Err(err) => {
                tracing::warn!(error = %err, "live events paused: cannot listen");
                tokio::time::sleep(RECONNECT_PAUSE).await;
                continue;
            }
        };
        if let Err(err) = listener.listen(super::CHANNEL).await {
            tracing::warn!(error = %err, "live events paused: cannot listen");
            tokio::time::sleep(RECONNECT_PAUSE).await;
            continue;
        }
        loop {
            match listener.recv().await {
                Ok(notification) => match serde_json::from_str(notification.payload()) {
                    Ok(event) => state.events.deliver(event),
                    Err(err) => {
                        tracing::warn!(error = %err, "an unreadable live event was skipped")
                    }
                },
                Err(err) => {
                    tracing::warn!(error = %err, "live events interrupted; listening again");
                    tokio::time::sleep(RECONNECT_PAUSE).await;
                    break;
                }
            }
        }
    }
}
