//! What every provider's connector does, and what it hands the sync engine.

use futures_util::future::BoxFuture;
use nimbus_api_types::clouds::{ConnectionTest, NodePool, WorkloadKind};
use tokio::sync::mpsc;

/// One listing of an account: a resource type in a region (`clusters/eu-west-1`), or of a
/// cluster (`workloads/StatefulSet`). Its rows are replaced as a whole when the listing
/// completes, and kept (stale) when it does not.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Scope {
    pub kind: ScopeKind,
    /// The region, or for Kubernetes listings nothing ("").
    pub region: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ScopeKind {
    Clusters,
    Vms,
    Nodes,
    Namespaces,
    Workloads(WorkloadKind),
}

impl Scope {
    #[must_use]
    pub fn of(kind: ScopeKind) -> Self {
        Self {
            kind,
            region: String::new(),
        }
    }

    /// The cluster and VM listings of each location (region, subscription or project) — what
    /// every cloud connector syncs.
    #[must_use]
    pub fn clusters_and_vms<'a>(locations: impl IntoIterator<Item = &'a String>) -> Vec<Self> {
        locations
            .into_iter()
            .flat_map(|location| {
                [ScopeKind::Clusters, ScopeKind::Vms].map(|kind| Self {
                    kind,
                    region: location.clone(),
                })
            })
            .collect()
    }

    /// The stored name, e.g. `clusters/eu-west-1`, `nodes` or `workloads/Deployment`.
    #[must_use]
    pub fn name(&self) -> String {
        let kind = match self.kind {
            ScopeKind::Clusters => "clusters",
            ScopeKind::Vms => "vms",
            ScopeKind::Nodes => "nodes",
            ScopeKind::Namespaces => "namespaces",
            ScopeKind::Workloads(kind) => return format!("workloads/{}", kind.as_str()),
        };
        if self.region.is_empty() {
            kind.to_owned()
        } else {
            format!("{kind}/{}", self.region)
        }
    }
}

/// A cluster as a connector found it.
#[derive(Debug, Clone)]
pub struct ClusterRecord {
    pub external_id: String,
    pub name: String,
    pub distribution: &'static str,
    pub region: String,
    pub version: Option<String>,
    pub status: Option<String>,
    pub node_count: Option<i32>,
    pub node_pools: Vec<NodePool>,
    pub labels: serde_json::Map<String, serde_json::Value>,
}

/// A virtual machine as a connector found it.
#[derive(Debug, Clone)]
pub struct VmRecord {
    pub external_id: String,
    pub name: Option<String>,
    pub region: String,
    pub zone: Option<String>,
    pub instance_type: Option<String>,
    pub state: Option<String>,
    pub private_ip: Option<String>,
    pub labels: serde_json::Map<String, serde_json::Value>,
}

/// A node of a cluster (the cluster named by its `external_id` in the same account).
#[derive(Debug, Clone)]
pub struct NodeRecord {
    pub cluster: String,
    pub name: String,
    pub status: String,
    pub roles: Vec<String>,
    pub kubelet_version: Option<String>,
    pub instance_type: Option<String>,
    pub zone: Option<String>,
    pub cpu: Option<String>,
    pub memory: Option<String>,
    pub labels: serde_json::Map<String, serde_json::Value>,
}

/// A namespace of a cluster.
#[derive(Debug, Clone)]
pub struct NamespaceRecord {
    pub cluster: String,
    pub name: String,
    pub status: Option<String>,
    pub labels: serde_json::Map<String, serde_json::Value>,
}

/// A workload of a cluster.
#[derive(Debug, Clone)]
pub struct WorkloadRecord {
    pub cluster: String,
    pub kind: WorkloadKind,
    pub namespace: String,
    pub name: String,
    pub replicas_desired: Option<i32>,
    pub replicas_ready: Option<i32>,
    pub images: Vec<String>,
    pub app: Option<String>,
    pub labels: serde_json::Map<String, serde_json::Value>,
}

/// One page of a listing, stored as soon as it arrives.
#[derive(Debug)]
pub enum Page {
    Clusters(Vec<ClusterRecord>),
    Vms(Vec<VmRecord>),
    Nodes(Vec<NodeRecord>),
    Namespaces(Vec<NamespaceRecord>),
    Workloads(Vec<WorkloadRecord>),
}

impl Page {
    #[must_use]
    pub fn len(&self) -> usize {
        match self {
            Self::Clusters(items) => items.len(),
            Self::Vms(items) => items.len(),
            Self::Nodes(items) => items.len(),
            Self::Namespaces(items) => items.len(),
            Self::Workloads(items) => items.len(),
        }
    }

    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Why a call to a cloud failed, by what the sync engine does about it.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ConnectorError {
    /// The cloud rejected the credential itself (invalid, expired, revoked, role not
    /// assumable): the account is paused — retrying would only storm the provider.
    #[error("{0}")]
    Rejected(String),
    /// The credential lacks a permission this listing needs: the scope is stale.
    #[error("{0}")]
    Forbidden(String),
    /// Timeouts, throttling and server errors that outlived their retries, an open circuit:
    /// the scope is stale and the next sync tries again.
    #[error("{0}")]
    Unavailable(String),
    /// The account's settings cannot work (e.g. an endpoint the policy refuses).
    #[error("{0}")]
    Misconfigured(String),
}

/// A provider's connector for one account with its opened credential. Object-safe, so the
/// engine holds any provider's as `Box<dyn Connector>`.
pub trait Connector: Send + Sync {
    /// Checks the credential and each permission the syncs need.
    fn test(&self) -> BoxFuture<'_, ConnectionTest>;

    /// Proves the credential works (e.g. assumes the role) before any listing.
    fn authenticate(&self) -> BoxFuture<'_, Result<String, ConnectorError>>;

    /// The listings of the account.
    fn scopes(&self) -> Vec<Scope>;

    /// Lists one scope page by page into `pages`; returns once the listing is complete.
    fn list<'a>(
        &'a self,
        scope: &'a Scope,
        pages: mpsc::Sender<Page>,
    ) -> BoxFuture<'a, Result<(), ConnectorError>>;

    /// Where the account's bill exports land, when it has them.
    fn bill_exports(&self) -> Option<&dyn BillExportStore> {
        None
    }
}

/// An object of a bill export location.
#[derive(Debug, Clone)]
pub struct ExportObject {
    pub key: String,
    /// Changes whenever the object's content does.
    pub etag: String,
}

/// The object storage bill exports are written to (an S3 prefix, a Blob container, a GCS
/// bucket).
pub trait BillExportStore: Send + Sync {
    /// Every object under the location.
    fn objects(&self) -> BoxFuture<'_, Result<Vec<ExportObject>, ConnectorError>>;

    /// Copies one object into `to`.
    fn download<'a>(
        &'a self,
        key: &'a str,
        to: &'a std::path::Path,
    ) -> BoxFuture<'a, Result<(), ConnectorError>>;
}
