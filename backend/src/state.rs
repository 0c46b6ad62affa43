//! The application state shared by every handler: built once in the composition root.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use sqlx::PgPool;

use crate::auth::AuthState;
use crate::config::Config;
use crate::http::outbound::Outbound;
use crate::mail::Mailer;
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
}

impl AppState {
    #[must_use]
    pub fn new(config: Config, db: PgPool) -> Self {
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
        Self {
            mailer,
            outbound,
            auth: Arc::new(AuthState::new(&config)),
            config: Arc::new(config),
            db,
            metrics: Arc::new(Metrics::new()),
            lifecycle: Lifecycle::default(),
        }
    }
}

/// Whether the server still takes new work. Set once, on the way down, before the listener
/// closes, so `/readyz` turns load balancers away first.
#[derive(Clone, Default)]
pub struct Lifecycle {
    draining: Arc<AtomicBool>,
}

impl Lifecycle {
    pub fn begin_draining(&self) {
        self.draining.store(true, Ordering::SeqCst);
    }

    #[must_use]
    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::SeqCst)
    }
}
