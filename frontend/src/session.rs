//! Who is signed in, in which tenant and project, and the live events of that tenant: shared by
//! every page through Leptos context.

use futures_util::StreamExt;
use gloo_net::websocket::Message;
use gloo_net::websocket::futures::WebSocket;
use leptos::prelude::*;
use leptos::task::spawn_local;
use nimbus_api_types::events::{EventKind, LiveEvent};
use nimbus_api_types::identity::Me;
use nimbus_api_types::ids::ProjectId;
use nimbus_api_types::rbac::Permission;

use crate::api;

/// Where the session stands.
#[derive(Debug, Clone, PartialEq)]
pub enum SessionState {
    Loading,
    SignedOut,
    SignedIn(Box<Me>),
}

/// The dashboard's session: the caller, the project the pages are narrowed to, and counters
/// that live events bump so pages refetch what changed.
#[derive(Clone, Copy)]
pub struct Session {
    pub state: RwSignal<SessionState>,
    /// The project filter of the top bar; `None`: the whole tenant.
    pub project: RwSignal<Option<ProjectId>>,
    /// Bumped by inventory, sync and health events.
    pub inventory_changes: RwSignal<u64>,
    /// Bumped by import, budget and anomaly events.
    pub cost_changes: RwSignal<u64>,
    /// The newest budget alert or anomaly, shown as a toast until dismissed.
    pub alert: RwSignal<Option<LiveEvent>>,
    /// Bumped at each sign-in, tenant switch and sign-out: an events socket of an earlier
    /// generation belongs to another session or tenant and stops delivering.
    generation: StoredValue<u64>,
}

impl Session {
    /// Creates the session, asks the server who is signed in, and provides it to every page.
    pub fn provide() -> Self {
        let session = Self {
            state: RwSignal::new(SessionState::Loading),
            project: RwSignal::new(None),
            inventory_changes: RwSignal::new(0),
            cost_changes: RwSignal::new(0),
            alert: RwSignal::new(None),
            generation: StoredValue::new(0),
        };
        provide_context(session);
        spawn_local(async move {
            match api::get::<Me>("/api/v1/me").await {
                Ok(me) => session.signed_in(me),
                Err(_) => session.state.set(SessionState::SignedOut),
            }
        });
        session
    }

    /// Starts using `me` (after sign-in, reload or a tenant switch).
    pub fn signed_in(self, me: Me) {
        if me.csrf_token.is_some() {
            api::set_csrf_token(me.csrf_token.clone());
        }
        self.project.set(None);
        self.alert.set(None);
        self.state.set(SessionState::SignedIn(Box::new(me)));
        self.listen(self.next_generation());
    }

    /// Shows the caller's changed details (a renamed tenant) without starting over.
    pub fn refreshed(self, me: Me) {
        self.state.set(SessionState::SignedIn(Box::new(me)));
    }

    /// Forgets the caller (after sign-out or an expired session).
    pub fn signed_out(self) {
        api::set_csrf_token(None);
        self.next_generation();
        self.alert.set(None);
        self.state.set(SessionState::SignedOut);
    }

    fn next_generation(self) -> u64 {
        self.generation.update_value(|generation| *generation += 1);
        self.generation.get_value()
    }

    /// The signed-in caller (tracked).
    #[must_use]
    pub fn me(self) -> Option<Me> {
        self.state.with(|state| match state {
            SessionState::SignedIn(me) => Some((**me).clone()),
            _ => None,
        })
    }

    /// Whether the caller holds `permission` tenant-wide (tracked: re-evaluated on change).
    #[must_use]
    pub fn can(self, permission: Permission) -> bool {
        self.state.with(|state| match state {
            SessionState::SignedIn(me) => me.permissions.contains(&permission),
            _ => false,
        })
    }

    /// The `project_id` query value of the project filter ("" for the whole tenant).
    #[must_use]
    pub fn project_param(self) -> String {
        self.project
            .get()
            .map(|project| project.0.to_string())
            .unwrap_or_default()
    }

    /// Follows `GET /api/v1/events` for this generation of the session, reconnecting after a
    /// pause when the socket drops (server restart, network change).
    fn listen(self, generation: u64) {
        let current = move || self.generation.get_value() == generation;
        spawn_local(async move {
            while current() {
                if let Ok(socket) = WebSocket::open(&events_url()) {
                    // Dropping the stream closes the socket.
                    let (_, mut incoming) = socket.split();
                    while let Some(Ok(message)) = incoming.next().await {
                        if !current() {
                            break;
                        }
                        if let Message::Text(text) = message
                            && let Ok(event) = serde_json::from_str::<LiveEvent>(&text)
                        {
                            self.receive(event);
                        }
                    }
                }
                sleep(5_000).await;
            }
        });
    }

    fn receive(self, event: LiveEvent) {
        match event.kind {
            EventKind::SyncFinished
            | EventKind::HealthChanged
            | EventKind::InventoryChanged
            | EventKind::ClusterLost => self.inventory_changes.update(|n| *n += 1),
            EventKind::ImportFinished => self.cost_changes.update(|n| *n += 1),
            EventKind::BudgetAlert | EventKind::CostAnomaly => {
                self.cost_changes.update(|n| *n += 1);
                self.alert.set(Some(event));
            }
        }
    }
}

/// The session of the page.
#[must_use]
pub fn use_session() -> Session {
    expect_context::<Session>()
}

/// The events socket on this page's origin.
fn events_url() -> String {
    let location = window().location();
    let scheme = match location.protocol().as_deref() {
        Ok("https:") => "wss",
        _ => "ws",
    };
    format!(
        "{scheme}://{}/api/v1/events",
        location.host().unwrap_or_default()
    )
}

/// Waits `millis` on the browser's timer.
async fn sleep(millis: i32) {
    let promise = js_sys::Promise::new(&mut |resolve, _| {
        let _ = window().set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, millis);
    });
    let _ = wasm_bindgen_futures::JsFuture::from(promise).await;
}
