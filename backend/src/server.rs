//! Running the HTTP server and shutting it down gracefully.
//!
//! On the shutdown signal: readiness turns false first, then after `readiness_grace` the
//! listener closes and in-flight requests get `drain_timeout` to finish; connections still open
//! after that are dropped.

use std::future::{Future, IntoFuture};
use std::net::SocketAddr;

use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

use crate::config::HttpConfig;
use crate::state::{AppState, Lifecycle};

/// The server's work besides answering requests: budget alerts, cloud syncs and the live
/// events relay. Stopped when dropped.
pub struct Background {
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Background {
    #[must_use]
    pub fn start(state: &AppState) -> Self {
        Self {
            tasks: vec![
                tokio::spawn(crate::cost::watch::run(state.clone())),
                tokio::spawn(crate::clouds::sync::run_workers(state.clone())),
                tokio::spawn(crate::events::relay(state.clone())),
            ],
        }
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

pub async fn serve(
    listener: TcpListener,
    app: Router,
    lifecycle: Lifecycle,
    http: &HttpConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let (drain_started, drain_begun) = oneshot::channel::<()>();
    let readiness_grace = http.readiness_grace;
    let graceful = async move {
        shutdown.await;
        tracing::info!("shutting down: readiness is now false");
        lifecycle.begin_draining();
        tokio::time::sleep(readiness_grace).await;
        tracing::info!("closing the listener and draining in-flight requests");
        let _ = drain_started.send(());
    };
    let service = app.into_make_service_with_connect_info::<SocketAddr>();
    let mut server = tokio::spawn(
        axum::serve(listener, service)
            .with_graceful_shutdown(graceful)
            .into_future(),
    );
    tokio::select! {
        finished = &mut server => return finished.map_err(std::io::Error::other)?,
        _ = drain_begun => {}
    }
    match tokio::time::timeout(http.drain_timeout, &mut server).await {
        Ok(finished) => finished.map_err(std::io::Error::other)?,
        Err(_deadline) => {
            tracing::warn!(
                deadline = %humantime::format_duration(http.drain_timeout),
                "drain deadline passed; closing the remaining connections"
            );
            server.abort();
            Ok(())
        }
    }
}

/// Resolves on SIGINT (Ctrl-C) or SIGTERM.
pub async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(err) => {
                tracing::error!(error = %err, "cannot listen for SIGTERM; only Ctrl-C stops the server");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        _ = interrupt => {}
        () = terminate => {}
    }
}
