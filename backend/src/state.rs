//! The application state shared by every handler: built once in the composition root.

use std::sync::Arc;

use sqlx::PgPool;
use tokio::sync::watch;

use crate::auth::AuthState;
use crate::config::Config;
use crate::http::outbound::Outbound;
use crate::mail::Mailer;
use crate::secrets::{MasterKeys, SecretError};
use crate::telemetry::Metrics;

#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub db: PgPool,
    pub metrics: Arc<Metrics>,
    pub lifecycle: Lifecycle,
    pub auth: Arc<AuthState>,
    /// Set when an SMTP server is configured.
    pub mailer: Option<Arc<Mailer>>,
    /// The client for user-chosen targets (alert webhooks); none if it could not be built.
    pub outbound: Option<Arc<Outbound>>,
    /// The master keys that open stored credentials.
    pub secrets: Arc<MasterKeys>,
    /// Open circuits of cloud APIs, shared by every sync of this process.
    pub breakers: Arc<crate::clouds::breaker::Breakers>,
    /// Live events of every replica, fanned out to this process's WebSockets.
    pub events: Arc<crate::events::Hub>,
    /// Identity providers' discovery documents and signing keys, by issuer.
    pub sso: Arc<crate::sso::discovery::Discovery>,
}

impl AppState {
    /// Fails only when no master key can be loaded.
    pub fn new(config: Config, db: PgPool) -> Result<Self, SecretError> {
        let secrets = Arc::new(MasterKeys::load(
            &config.secrets.master_keys,
            &config.data_dir,
        )?);
        // The configuration was validated when it was loaded, mail settings included.
        let mailer = match Mailer::from_config(&config.mail) {
            Ok(mailer) => mailer.map(Arc::new),
            Err(err) => {
                tracing::error!(error = %err, "mail is off");
                None
            }
        };
        let outbound = match Outbound::new(&config.outbound) {
            Ok(outbound) => Some(Arc::new(outbound)),
            Err(err) => {
                tracing::error!(error = %err, "outbound HTTP calls are off");
                None
            }
        };
        Ok(Self {
            mailer,
            outbound,
            secrets,
            breakers: Arc::default(),
            sso: Arc::new(crate::sso::discovery::Discovery::new(
                config.auth.sso_keys_lifetime,
                config.auth.sso_key_refetch_interval,
            )),
            events: Arc::new(crate::events::Hub::new(config.events.queue)),
            auth: Arc::new(AuthState::new(&config)),
            config: Arc::new(config),
            db,
            metrics: Arc::new(Metrics::new()),
            lifecycle: Lifecycle::default(),
        })
    }
}

/// Whether the server still takes new work. Set once, on the way down, before the listener
/// closes, so `/readyz` turns load balancers away first.
#[derive(Clone)]
pub struct Lifecycle {
    draining: Arc<watch::Sender<bool>>,
}

impl Default for Lifecycle {
    fn default() -> Self {
        Self {
            draining: Arc::new(watch::Sender::new(false)),
        }
    }
}

impl Lifecycle {
    pub fn begin_draining(&self) {
        self.draining.send_replace(true);
    }

    #[must_use]
    pub fn is_draining(&self) -> bool {
        *self.draining.borrow()
    }

    /// Resolves once the server begins draining (at once if it already has): long-lived
    /// connections such as WebSockets close then.
    pub async fn draining(&self) {
        let mut changes = self.draining.subscribe();
        // The sender lives in `self`, so waiting cannot fail.
        let _ = changes.wait_for(|draining| *draining).await;
    }
}
