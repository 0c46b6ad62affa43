//! Typed ids: a `ProjectId` cannot be passed where a `TenantId` is expected.

use serde::{Deserialize, Serialize};

macro_rules! typed_id {
    ($($name:ident: $doc:literal,)+) => {$(
        #[doc = $doc]
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
        #[serde(transparent)]
        pub struct $name(pub uuid::Uuid);

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.fmt(f)
            }
        }

        impl std::str::FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                uuid::Uuid::parse_str(s).map(Self)
            }
        }
    )+};
}

typed_id! {
    TenantId: "An organization served by this installation.",
    ProjectId: "A group of resources and costs inside a tenant.",
    UserId: "A person who signs in.",
    RoleId: "A tenant's custom role.",
    RoleBindingId: "One role given to one member, tenant-wide or in one project.",
    InvitationId: "An invitation to join a tenant.",
    ApiTokenId: "An API token (never its secret).",
    SessionId: "A signed-in session of a user.",
    CostImportId: "One attempt to import a bill file.",
    AllocationRuleId: "A rule that allocates matching costs to projects.",
    BudgetId: "A spending limit of a tenant or project per period.",
    BudgetAlertId: "One threshold of a budget crossed in one period.",
    NotificationId: "A message shown in the portal.",
    AnomalyId: "A day of unusually high spend of one cost series.",
    CloudAccountId: "A connected cloud account (or Kubernetes cluster credential).",
    SyncJobId: "One sync of one cloud account.",
    ClusterId: "A Kubernetes cluster found by a sync.",
    VmId: "A virtual machine found by a sync.",
    NodeId: "A node of a Kubernetes cluster.",
    NamespaceId: "A namespace of a Kubernetes cluster.",
    WorkloadId: "A Deployment, StatefulSet, DaemonSet, Job or CronJob.",
    AppRuleId: "A rule that names the app of the workloads it matches.",
    IdentityProviderId: "A single sign-on provider of a tenant.",
}
