//! The clouds module's wire types: cloud accounts, their syncs, and the inventory they fill.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::ids::{
    AppRuleId, CloudAccountId, ClusterId, NamespaceId, NodeId, ProjectId, SyncJobId, VmId,
    WorkloadId,
};

/// A cloud Nimbus can connect to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum CloudProvider {
    Aws,
    Azure,
    Gcp,
    Alibaba,
    Kubernetes,
}

impl CloudProvider {
    /// Every provider.
    pub const ALL: [Self; 5] = [
        Self::Aws,
        Self::Azure,
        Self::Gcp,
        Self::Alibaba,
        Self::Kubernetes,
    ];

    /// The stable wire name, such as `aws`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Aws => "aws",
            Self::Azure => "azure",
            Self::Gcp => "gcp",
            Self::Alibaba => "alibaba",
            Self::Kubernetes => "kubernetes",
        }
    }

    /// The provider with this wire name.
    #[must_use]
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|provider| provider.as_str() == name)
    }
}

/// Where bill exports land in the account's object storage; each new object under the prefix
/// is imported into the cost ledger when the account syncs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct BillExportLocation {
    pub bucket: String,
    /// Only objects whose key starts with this are read ("" for the whole bucket).
    #[serde(default)]
    pub prefix: String,
}

/// How to reach an AWS account. Nothing here is secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct AwsSettings {
    /// The role Nimbus assumes (preferred): `arn:aws:iam::ACCOUNT:role/NAME`, trusting Nimbus
    /// with the tenant's external id as `sts:ExternalId`. Without it, the access key is used
    /// as it is.
    #[serde(default)]
    pub role_arn: Option<String>,
    /// Regions to list, e.g. `["eu-west-1", "us-east-1"]`.
    pub regions: Vec<String>,
    /// Another endpoint for every AWS API (private endpoints, sovereign partitions,
    /// emulators).
    #[serde(default)]
    pub endpoint_url: Option<String>,
    /// The S3 location of the account's bill exports (Data Exports / CUR 2.0, or FOCUS).
    #[serde(default)]
    pub bill_export: Option<BillExportLocation>,
    /// Also list each managed cluster's nodes, namespaces and workloads through its own API server,
    /// signed in with this account's identity (which the cluster must grant read access: an EKS
    /// access entry with the `AmazonEKSViewPolicy`, or an `aws-auth` mapping). Off by default: the
    /// cluster list itself needs none of that.
    #[serde(default)]
    pub cluster_contents: bool,
}

/// How to reach Azure subscriptions through a service principal. Nothing here is secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct AzureSettings {
    /// The Microsoft Entra tenant (directory) id the service principal belongs to.
    pub directory_id: String,
    /// Subscriptions to list, e.g. `["00000000-0000-0000-0000-000000000000"]`.
    pub subscription_ids: Vec<String>,
    /// Another sign-in authority (sovereign clouds: `https://login.microsoftonline.us`,
    /// `https://login.chinacloudapi.cn`; emulators). Default `https://login.microsoftonline.com`.
    #[serde(default)]
    pub authority_url: Option<String>,
    /// Another Resource Manager endpoint (`https://management.usgovcloudapi.net`,
    /// `https://management.chinacloudapi.cn`; private endpoints; emulators). Default
    /// `https://management.azure.com`.
    #[serde(default)]
    pub resource_manager_url: Option<String>,
    /// The Blob container Cost Management exports land in; the service principal needs the
    /// Storage Blob Data Reader role on it.
    #[serde(default)]
    pub bill_export: Option<AzureBillExport>,
    /// Also list each managed cluster's nodes, namespaces and workloads through its own API server,
    /// signed in with this account's identity (which the cluster must grant read access:
    /// `listClusterUserCredential` on the cluster, plus Kubernetes RBAC for Entra ID clusters). Off
    /// by default: the cluster list itself needs none of that.
    #[serde(default)]
    pub cluster_contents: bool,
}

/// Where an Azure cost export (Cost Management → Exports) is written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct AzureBillExport {
    /// The storage account's Blob endpoint, e.g. `https://acmebilling.blob.core.windows.net`.
    pub storage_url: String,
    pub container: String,
    /// Only blobs whose name starts with this are read (the export's directory; "" for all).
    #[serde(default)]
    pub prefix: String,
}

/// How to reach Google Cloud projects through a service account. Nothing here is secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct GcpSettings {
    /// Projects to list, e.g. `["shop-prod-4821"]`. Default: the key's own project.
    #[serde(default)]
    pub project_ids: Vec<String>,
    /// One base URL serving the GKE and Compute Engine APIs in place of
    /// `https://container.googleapis.com` and `https://compute.googleapis.com` (proxies,
    /// emulators). The token endpoint is the key's `token_uri`.
    #[serde(default)]
    pub endpoint_url: Option<String>,
    /// The Cloud Storage bucket bill files land in (billing export rows or FOCUS files
    /// exported from BigQuery); the service account needs Storage Object Viewer on it.
    #[serde(default)]
    pub bill_export: Option<GcsBillExport>,
    /// Also list each managed cluster's nodes, namespaces and workloads through its own API server,
    /// signed in with this account's identity (which the cluster must grant read access:
    /// `container.viewer`, plus the `userinfo.email` scope Nimbus requests). Off by default: the
    /// cluster list itself needs none of that.
    #[serde(default)]
    pub cluster_contents: bool,
}

/// Where Google Cloud bill files are written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct GcsBillExport {
    pub bucket: String,
    /// Only objects whose name starts with this are read ("" for the whole bucket).
    #[serde(default)]
    pub prefix: String,
    /// Another Cloud Storage endpoint than `https://storage.googleapis.com` (Private Service
    /// Connect, emulators).
    #[serde(default)]
    pub storage_url: Option<String>,
}

/// How to reach an Alibaba Cloud account. Nothing here is secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct AlibabaSettings {
    /// Regions to list, e.g. `["cn-hangzhou", "eu-central-1"]`.
    pub regions: Vec<String>,
    /// One base URL serving the Container Service (ACK) and ECS APIs in place of
    /// `https://cs.REGION.aliyuncs.com` and `https://ecs.REGION.aliyuncs.com` (VPC endpoints,
    /// proxies, emulators).
    #[serde(default)]
    pub endpoint_url: Option<String>,
    /// Also list each managed cluster's nodes, namespaces and workloads through its own API server,
    /// signed in with this account's identity (which the cluster must grant read access:
    /// `cs:DescribeClusterUserKubeconfig` and a RAM read-only cluster role). Off by default: the
    /// cluster list itself needs none of that.
    #[serde(default)]
    pub cluster_contents: bool,
}

/// How to reach a Kubernetes cluster of any distribution (OpenShift, RKE, k3s, bare metal…).
/// Nothing here is secret: the credential (a kubeconfig or a token) is given apart.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct KubernetesSettings {
    /// The API server, e.g. `https://k8s.example.com:6443`. Taken from the kubeconfig's
    /// context when absent; given, it overrides the kubeconfig's.
    #[serde(default)]
    pub api_server: Option<String>,
    /// PEM certificate(s) of the authority that signed the API server's certificate. Taken
    /// from the kubeconfig when absent; absent there too, public authorities are trusted.
    #[serde(default)]
    pub ca_certificate: Option<String>,
    /// Where the cluster runs, shown and filtered on as its region (e.g. `fra-dc1`).
    #[serde(default)]
    pub region: Option<String>,
}

/// A cloud account's connection settings, by provider. Nothing here is secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
#[serde(tag = "provider", rename_all = "snake_case")]
pub enum CloudSettings {
    Aws(AwsSettings),
    Azure(AzureSettings),
    Gcp(GcpSettings),
    Alibaba(AlibabaSettings),
    Kubernetes(KubernetesSettings),
}

impl CloudSettings {
    #[must_use]
    pub const fn provider(&self) -> CloudProvider {
        match self {
            Self::Aws(_) => CloudProvider::Aws,
            Self::Azure(_) => CloudProvider::Azure,
            Self::Gcp(_) => CloudProvider::Gcp,
            Self::Alibaba(_) => CloudProvider::Alibaba,
            Self::Kubernetes(_) => CloudProvider::Kubernetes,
        }
    }
}

/// A credential, as given once. Stored encrypted; no answer ever contains it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum CloudCredentials {
    /// An IAM access key: of a user allowed to assume the account's role, or of the account
    /// itself when no role is set.
    AwsAccessKey {
        access_key_id: String,
        secret_access_key: String,
    },
    /// An Azure service principal's client secret.
    AzureClientSecret {
        client_id: String,
        client_secret: String,
    },
    /// An Azure service principal's certificate (PEM) and its private key (PKCS#8 PEM).
    AzureClientCertificate {
        client_id: String,
        certificate: String,
        private_key: String,
    },
    /// A Google Cloud service account's JSON key file, as downloaded.
    GcpServiceAccountKey { key: String },
    /// An Alibaba Cloud AccessKey pair (of a RAM user with read-only access).
    AlibabaAccessKey {
        access_key_id: String,
        access_key_secret: String,
    },
    /// A kubeconfig (YAML or JSON) with a bearer token or a client certificate inline.
    /// Refused: `exec` and `auth-provider` plugins, file paths, proxies, skipped TLS checks.
    Kubeconfig {
        kubeconfig: String,
        /// The context to use (default: the kubeconfig's current context).
        #[serde(default)]
        context: Option<String>,
    },
    /// A service-account token (the API server and its CA are in the settings).
    KubernetesToken { token: String },
}

impl CloudCredentials {
    /// The provider the credential is for.
    #[must_use]
    pub const fn provider(&self) -> CloudProvider {
        match self {
            Self::AwsAccessKey { .. } => CloudProvider::Aws,
            Self::AzureClientSecret { .. } | Self::AzureClientCertificate { .. } => {
                CloudProvider::Azure
            }
            Self::GcpServiceAccountKey { .. } => CloudProvider::Gcp,
            Self::AlibabaAccessKey { .. } => CloudProvider::Alibaba,
            Self::Kubeconfig { .. } | Self::KubernetesToken { .. } => CloudProvider::Kubernetes,
        }
    }
}

/// Never prints a secret.
impl std::fmt::Debug for CloudCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::AwsAccessKey { access_key_id, .. } => f
                .debug_struct("AwsAccessKey")
                .field("access_key_id", access_key_id)
                .finish_non_exhaustive(),
            Self::AzureClientSecret { client_id, .. } => f
                .debug_struct("AzureClientSecret")
                .field("client_id", client_id)
                .finish_non_exhaustive(),
            Self::AzureClientCertificate { client_id, .. } => f
                .debug_struct("AzureClientCertificate")
                .field("client_id", client_id)
                .finish_non_exhaustive(),
            Self::GcpServiceAccountKey { .. } => f
                .debug_struct("GcpServiceAccountKey")
                .finish_non_exhaustive(),
            Self::AlibabaAccessKey { access_key_id, .. } => f
                .debug_struct("AlibabaAccessKey")
                .field("access_key_id", access_key_id)
                .finish_non_exhaustive(),
            Self::Kubeconfig { context, .. } => f
                .debug_struct("Kubeconfig")
                .field("context", context)
                .finish_non_exhaustive(),
            Self::KubernetesToken { .. } => {
                f.debug_struct("KubernetesToken").finish_non_exhaustive()
            }
        }
    }
}

/// What a caller sends to connect or change an account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CloudAccountInput {
    pub name: String,
    /// The project the account's inventory belongs to, if any.
    #[serde(default)]
    pub project_id: Option<ProjectId>,
    pub settings: CloudSettings,
    /// Required when connecting; when changing an account, absent keeps the stored one.
    #[serde(default)]
    pub credentials: Option<CloudCredentials>,
    /// Minutes between scheduled syncs (5 to 1440; default 15).
    #[serde(default)]
    pub sync_interval_minutes: Option<u32>,
}

/// Whether Nimbus can reach an account, from its last contact.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum AccountStatus {
    /// Not synced yet.
    Pending,
    /// The last sync listed everything.
    Connected,
    /// The last sync listed only part of the account; the rest is stale.
    Degraded,
    /// The cloud refused the credential: scheduled syncs stop until it is fixed
    /// (`status_reason` says why); the inventory is kept.
    Paused,
    /// The last sync reached nothing.
    Lost,
}

impl AccountStatus {
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Connected => "connected",
            Self::Degraded => "degraded",
            Self::Paused => "paused",
            Self::Lost => "lost",
        }
    }

    #[must_use]
    pub fn from_name(name: &str) -> Option<Self> {
        [
            Self::Pending,
            Self::Connected,
            Self::Degraded,
            Self::Paused,
            Self::Lost,
        ]
        .into_iter()
        .find(|status| status.as_str() == name)
    }
}

/// A connected cloud account. Its credential is never shown, only when it was set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct CloudAccount {
    pub id: CloudAccountId,
    pub name: String,
    pub provider: CloudProvider,
    pub project_id: Option<ProjectId>,
    pub settings: CloudSettings,
    /// AWS: the `sts:ExternalId` the account's role must require (the same for every AWS
    /// account of the tenant).
    pub external_id: Option<String>,
    pub credential_updated_at: Option<DateTime<Utc>>,
    pub status: AccountStatus,
    pub status_reason: Option<String>,
    pub sync_interval_minutes: u32,
    /// The last time a call to the cloud succeeded.
    pub last_contact_at: Option<DateTime<Utc>>,
    /// The last time a sync listed the whole account.
    pub last_success_at: Option<DateTime<Utc>>,
    pub next_sync_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
}

/// One check of "test connection".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct ConnectionCheck {
    /// What was tried, e.g. `eks:ListClusters in eu-west-1`.
    pub action: String,
    pub ok: bool,
    /// On failure, what to change, in words.
    pub message: Option<String>,
}

/// The outcome of "test connection".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct ConnectionTest {
    /// Every check passed.
    pub ok: bool,
    /// Who Nimbus is in the cloud, e.g. the assumed role's ARN.
    pub identity: Option<String>,
    pub checks: Vec<ConnectionCheck>,
}

/// Where a sync stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum SyncState {
    Queued,
    Running,
    /// Every scope was listed.
    Succeeded,
    /// Some scopes failed: their rows were kept and marked stale.
    Partial,
    /// Nothing was listed (see `error`).
    Failed,
}

impl SyncState {
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Running => "running",
            Self::Succeeded => "succeeded",
            Self::Partial => "partial",
            Self::Failed => "failed",
        }
    }

    #[must_use]
    pub fn from_name(name: &str) -> Option<Self> {
        [
            Self::Queued,
            Self::Running,
            Self::Succeeded,
            Self::Partial,
            Self::Failed,
        ]
        .into_iter()
        .find(|state| state.as_str() == name)
    }

    /// Whether the sync is over.
    #[must_use]
    pub const fn is_finished(self) -> bool {
        matches!(self, Self::Succeeded | Self::Partial | Self::Failed)
    }
}

/// One sync of one account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct SyncJob {
    pub id: SyncJobId,
    pub account_id: CloudAccountId,
    pub state: SyncState,
    /// `schedule` or `manual`.
    pub trigger: String,
    pub attempts: i32,
    pub scopes_done: i32,
    pub scopes_total: Option<i32>,
    /// Resources listed so far.
    pub resources: i64,
    pub error: Option<String>,
    pub queued_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
}

/// One listing of an account (a resource type in a region), as of its last sync.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct SyncScope {
    /// E.g. `eks/eu-west-1`.
    pub scope: String,
    /// The last listing failed: its rows are as of `last_success_at`.
    pub stale: bool,
    pub error: Option<String>,
    pub resources: i32,
    pub last_attempt_at: DateTime<Utc>,
    pub last_success_at: Option<DateTime<Utc>>,
}

/// Whether a cluster answers, from the age of its last contact.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Health {
    /// Seen by the last sync.
    Connected,
    /// The last sync of its scope failed; last seen `last_contact_at`.
    Degraded,
    /// Not seen for more than three sync intervals, or its account's last sync reached
    /// nothing.
    Lost,
}

/// How many clusters of one provider are in each health.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct ProviderClusterHealth {
    pub provider: CloudProvider,
    pub connected: i64,
    pub degraded: i64,
    pub lost: i64,
}

/// Clusters by health across every cloud, for the overview (counted in the database: the
/// overview never loads the whole inventory).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct ClusterHealthSummary {
    pub connected: i64,
    pub degraded: i64,
    pub lost: i64,
    /// Providers with at least one cluster, by name.
    pub by_provider: Vec<ProviderClusterHealth>,
}

/// A group of like nodes of a managed cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct NodePool {
    pub name: String,
    pub instance_types: Vec<String>,
    pub desired: Option<i32>,
    pub min: Option<i32>,
    pub max: Option<i32>,
    pub status: Option<String>,
}

/// A Kubernetes cluster from any cloud.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct Cluster {
    pub id: ClusterId,
    pub account_id: CloudAccountId,
    pub provider: CloudProvider,
    /// The provider's id, e.g. the EKS cluster ARN.
    pub external_id: String,
    pub name: String,
    /// `eks`, `aks`, `gke`, `ack` or `kubernetes`.
    pub distribution: String,
    pub region: Option<String>,
    pub version: Option<String>,
    /// As the provider says, e.g. `ACTIVE`.
    pub status: Option<String>,
    pub node_count: Option<i32>,
    pub node_pools: Vec<NodePool>,
    pub labels: serde_json::Map<String, serde_json::Value>,
    pub project_id: Option<ProjectId>,
    pub health: Health,
    pub last_contact_at: DateTime<Utc>,
}

/// A virtual machine from any cloud.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct Vm {
    pub id: VmId,
    pub account_id: CloudAccountId,
    pub provider: CloudProvider,
    /// The provider's id, e.g. `i-0abc…`.
    pub external_id: String,
    pub name: Option<String>,
    pub region: Option<String>,
    pub zone: Option<String>,
    pub instance_type: Option<String>,
    /// As the provider says, e.g. `running`.
    pub state: Option<String>,
    pub private_ip: Option<String>,
    pub labels: serde_json::Map<String, serde_json::Value>,
    pub project_id: Option<ProjectId>,
    pub health: Health,
    pub last_contact_at: DateTime<Utc>,
}

/// A node of a Kubernetes cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct Node {
    pub id: NodeId,
    pub cluster_id: ClusterId,
    pub cluster_name: String,
    pub account_id: CloudAccountId,
    pub provider: CloudProvider,
    pub name: String,
    /// `Ready`, `NotReady` or `Unknown` (the node's Ready condition).
    pub status: String,
    /// From the `node-role.kubernetes.io/*` labels.
    pub roles: Vec<String>,
    pub kubelet_version: Option<String>,
    pub instance_type: Option<String>,
    pub zone: Option<String>,
    /// Capacity as Kubernetes writes it, e.g. `4` and `16318504Ki`.
    pub cpu: Option<String>,
    pub memory: Option<String>,
    pub labels: serde_json::Map<String, serde_json::Value>,
    pub health: Health,
    pub last_contact_at: DateTime<Utc>,
}

/// A namespace of a Kubernetes cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct Namespace {
    pub id: NamespaceId,
    pub cluster_id: ClusterId,
    pub cluster_name: String,
    pub account_id: CloudAccountId,
    pub provider: CloudProvider,
    pub name: String,
    /// `Active` or `Terminating`.
    pub status: Option<String>,
    pub labels: serde_json::Map<String, serde_json::Value>,
    pub health: Health,
    pub last_contact_at: DateTime<Utc>,
}

/// What kind of controller a workload is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub enum WorkloadKind {
    Deployment,
    StatefulSet,
    DaemonSet,
    Job,
    CronJob,
}

impl WorkloadKind {
    pub const ALL: [Self; 5] = [
        Self::Deployment,
        Self::StatefulSet,
        Self::DaemonSet,
        Self::Job,
        Self::CronJob,
    ];

    /// The Kubernetes kind, e.g. `StatefulSet`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Deployment => "Deployment",
            Self::StatefulSet => "StatefulSet",
            Self::DaemonSet => "DaemonSet",
            Self::Job => "Job",
            Self::CronJob => "CronJob",
        }
    }

    #[must_use]
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.as_str() == name)
    }
}

/// A Deployment, StatefulSet, DaemonSet, Job or CronJob of a Kubernetes cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct Workload {
    pub id: WorkloadId,
    pub cluster_id: ClusterId,
    pub cluster_name: String,
    pub account_id: CloudAccountId,
    pub provider: CloudProvider,
    pub kind: WorkloadKind,
    pub namespace: String,
    pub name: String,
    /// Replicas asked for (DaemonSets: nodes to run on; Jobs: completions; CronJobs: none).
    pub replicas_desired: Option<i32>,
    /// Replicas ready (Jobs: succeeded; CronJobs: running jobs).
    pub replicas_ready: Option<i32>,
    pub images: Vec<String>,
    /// The app it belongs to (`app.kubernetes.io/part-of`, `app.kubernetes.io/name` or `app`
    /// label).
    pub app: Option<String>,
    pub labels: serde_json::Map<String, serde_json::Value>,
    pub project_id: Option<ProjectId>,
    pub health: Health,
    pub last_contact_at: DateTime<Utc>,
}

/// A cluster an app runs in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct AppCluster {
    pub cluster_id: ClusterId,
    pub name: String,
    pub provider: CloudProvider,
}

/// An app's cost in one billing currency.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct AppCost {
    pub currency: String,
    /// Effective cost (FOCUS `EffectiveCost`).
    pub effective_cost: rust_decimal::Decimal,
}

/// A rule that names the app of the workloads it matches, tried in priority order (lowest
/// first) before their labels.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct AppRule {
    pub id: AppRuleId,
    pub app: String,
    pub priority: i32,
    #[serde(rename = "match")]
    pub matches: AppRuleMatch,
    pub created_at: DateTime<Utc>,
}

/// What a caller may set of an app rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct AppRuleInput {
    /// The app the matching workloads belong to, e.g. `checkout`.
    pub app: String,
    /// Unique in the tenant, 1 to 10000; lower is tried first.
    pub priority: i32,
    #[serde(rename = "match")]
    pub matches: AppRuleMatch,
}

/// The conditions of an app rule: at least one; every one given must hold.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct AppRuleMatch {
    /// Only workloads of this cluster.
    #[serde(default)]
    pub cluster_id: Option<ClusterId>,
    /// The namespace, `*` and `?` as wildcards, e.g. `billing-*`.
    #[serde(default)]
    pub namespace: Option<String>,
    /// The workload's name, `*` and `?` as wildcards.
    #[serde(default)]
    pub name: Option<String>,
    /// A label the workload carries with exactly this value.
    #[serde(default)]
    pub label: Option<LabelMatch>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct LabelMatch {
    pub key: String,
    pub value: String,
}

/// The workloads of every cluster and cloud that share an application identity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct App {
    pub name: String,
    pub workloads: i64,
    pub replicas_desired: i64,
    pub replicas_ready: i64,
    /// Workloads with fewer ready replicas than desired.
    pub unhealthy_workloads: i64,
    pub cluster_count: i64,
    /// The first clusters by name (at most 20).
    pub clusters: Vec<AppCluster>,
    /// Effective cost in the month asked for, per billing currency, from bill lines tagged with
    /// the app (empty when no bill carries the tag).
    pub cost: Vec<AppCost>,
}
