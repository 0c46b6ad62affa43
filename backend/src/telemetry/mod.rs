//! Logs, traces and metrics: how the server reports on itself.

mod metrics;

pub use metrics::{HttpLabels, Metrics};

use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

/// The filter used by the server when `RUST_LOG` is not set.
const SERVER_FILTER: &str = "info,sqlx=warn,tower_http=info";
/// One-off commands keep stderr for their one line of outcome: only problems are logged.
const COMMAND_FILTER: &str = "warn";

/// Who logs: the long-running server, or a one-off command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Process {
    Server,
    Command,
}

/// Installs the global `tracing` subscriber. Logs go to stderr, so stdout stays free for the
/// output of CLI commands that scripts read (such as `admin create-token`).
pub fn init(format: LogFormat, process: Process) {
    let default = match process {
        Process::Server => SERVER_FILTER,
        Process::Command => COMMAND_FILTER,
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    // A second initialisation (tests, embedded use) keeps the first subscriber: ignoring is right.
    let _already_set = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .try_init(),
    };
}
