//! Health and readiness reports.

use serde::{Deserialize, Serialize};

/// `GET /healthz`: the process is alive and serving.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct Health {
    pub status: HealthStatus,
    /// The server's version (the `nimbus` crate version).
    pub version: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum HealthStatus {
    Ok,
}

/// `GET /readyz`: whether this replica should receive traffic, and why not.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct Readiness {
    pub ready: bool,
    pub checks: ReadinessChecks,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct ReadinessChecks {
    pub database: CheckState,
    pub migrations: CheckState,
    /// `fail` once the server has begun shutting down.
    pub accepting_traffic: CheckState,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum CheckState {
    Pass,
    Fail,
}

impl From<bool> for CheckState {
    fn from(pass: bool) -> Self {
        if pass { Self::Pass } else { Self::Fail }
    }
}
