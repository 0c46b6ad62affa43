//! Live events: what `GET /api/v1/events` (a WebSocket) sends, one JSON text message each.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::ids::{ProjectId, TenantId};
use crate::rbac::Permission;

macro_rules! event_kinds {
    ($($variant:ident => $name:literal, $permission:ident: $doc:literal,)+) => {
        /// What happened. Each kind is delivered only to callers holding its permission.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
        pub enum EventKind {
            $(#[doc = $doc] #[serde(rename = $name)] $variant,)+
        }

        impl EventKind {
            /// Every kind.
            pub const ALL: &'static [EventKind] = &[$(EventKind::$variant,)+];

            /// The stable wire name, such as `sync.finished`.
            #[must_use]
            pub const fn as_str(self) -> &'static str {
                match self { $(EventKind::$variant => $name,)+ }
            }

            /// The permission a caller needs to receive events of this kind.
            #[must_use]
            pub const fn permission(self) -> Permission {
                match self { $(EventKind::$variant => Permission::$permission,)+ }
            }
        }
    };
}

event_kinds! {
    SyncFinished => "sync.finished", CloudsRead: "A sync of a cloud account ended (any outcome).",
    HealthChanged => "health.changed", CloudsRead: "A cloud account's connection status changed.",
    InventoryChanged => "inventory.changed", InventoryRead: "A sync stored new or changed inventory.",
    ClusterLost => "cluster.lost", InventoryRead: "Clusters stopped answering.",
    ImportFinished => "import.finished", CostRead: "A bill import ended (any outcome).",
    BudgetAlert => "budget.alert", CostRead: "A budget threshold was crossed.",
    CostAnomaly => "cost.anomaly", CostRead: "Unusually high spend was detected.",
}

/// One live event. `data` depends on the kind and names the affected objects by id (for
/// example `account_id` and `state` for `sync.finished`); fetch them for details.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct LiveEvent {
    pub kind: EventKind,
    pub tenant_id: TenantId,
    /// Set when the event concerns one project; callers holding the permission only in that
    /// project receive it too.
    pub project_id: Option<ProjectId>,
    pub at: DateTime<Utc>,
    pub data: serde_json::Value,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip_through_their_wire_names() {
        for kind in EventKind::ALL {
            let json = serde_json::to_value(kind).unwrap();
            assert_eq!(json, kind.as_str());
            assert_eq!(serde_json::from_value::<EventKind>(json).unwrap(), *kind);
        }
    }
}
