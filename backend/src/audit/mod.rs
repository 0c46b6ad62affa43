//! The audit log: who did what to what, with which outcome — recorded in the transaction of the
//! change itself, so a change without its audit row cannot commit (DESIGN.md §4.4).
//!
//! Every mutation calls [`record`] with the transaction it runs in. Entries never carry secrets:
//! targets are ids and names, details are chosen fields, never request bodies.

pub mod handlers;

use std::net::IpAddr;

use nimbus_api_types::ids::TenantId;
use sqlx::PgConnection;

/// What an entry says about the result of the attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Success,
    /// The attempt failed (bad password, invalid input).
    Failure,
    /// The attempt was refused for lack of permission.
    Denied,
}

impl Outcome {
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Failure => "failure",
            Self::Denied => "denied",
        }
    }
}

/// One audit entry. `action` is a dotted, lower-case name such as `tenant.create`.
#[derive(Debug, Clone)]
pub struct Entry {
    /// `None` for platform-level events.
    pub tenant: Option<TenantId>,
    /// Who acted: `user:<id>`, `token:<id>`, `cli` or `system`.
    pub actor: String,
    pub action: &'static str,
    /// What was acted on: `tenant:<id>`, `project:<id>`, …
    pub target: String,
    pub outcome: Outcome,
    pub source_ip: Option<IpAddr>,
    pub request_id: Option<String>,
    pub details: serde_json::Value,
}

/// Appends `entry` in the caller's transaction. If it fails, the caller's change must fail
/// with it: propagate the error, never ignore it.
pub async fn record(conn: &mut PgConnection, entry: &Entry) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "INSERT INTO audit_log (tenant_id, actor, action, target, outcome, source_ip, request_id, details)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        entry.tenant.map(|tenant| tenant.0),
        entry.actor,
        entry.action,
        entry.target,
        entry.outcome.as_str(),
        entry.source_ip.map(ipnet::IpNet::from),
        entry.request_id,
        entry.details,
    )
    .execute(conn)
    .await?;
    Ok(())
}
