//! What every provider's connector does, and what it hands the sync engine.

use futures_util::future::BoxFuture;
use nimbus_api_types::clouds::{ConnectionTest, NodePool, WorkloadKind};
use tokio::sync::mpsc;

use super::kubeconfig::{ClientAuth, Resolved};

/// One listing of an account: a resource type in a region (`clusters/eu-west-1`), or of a
/// cluster (`workloads/StatefulSet`). Its rows are replaced as a whole when the listing
/// completes, and kept (stale) when it does not.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Scope {
    pub kind: ScopeKind,
    /// The region, or for Kubernetes listings nothing ("").
    pub region: String,
    /// The managed cluster (its `external_id`) whose contents a cloud account lists through
    /// the cluster's own API server; `None` for the account's own listings.
    pub cluster: Option<String>,
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
            cluster: None,
        }
    }

    /// What a cluster's API server lists: nodes, namespaces and each kind of workload.
    #[must_use]
    pub fn in_cluster() -> Vec<Self> {
        [ScopeKind::Nodes, ScopeKind::Namespaces]
            .into_iter()
            .chain(WorkloadKind::ALL.into_iter().map(ScopeKind::Workloads))
            .map(Self::of)
            .collect()
    }

    /// [`Scope::in_cluster`] of a managed cluster that a cloud account listed.
    #[must_use]
    pub fn in_managed_cluster(cluster: &str) -> Vec<Self> {
        Self::in_cluster()
            .into_iter()
            .map(|scope| Self {
                cluster: Some(cluster.to_owned()),
                ..scope
            })
            .collect()
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
                    cluster: None,
                })
            })
            .collect()
    }

    /// The stored name, e.g. `clusters/eu-west-1`, `nodes`, `workloads/Deployment`, or for a
    /// managed cluster's contents `nodes@arn:aws:eks:eu-west-1:…:cluster/shop`.
    #[must_use]
    pub fn name(&self) -> String {
        let mut name = match self.kind {
            ScopeKind::Clusters => "clusters".to_owned(),
            ScopeKind::Vms => "vms".to_owned(),
            ScopeKind::Nodes => "nodes".to_owned(),
            ScopeKind::Namespaces => "namespaces".to_owned(),
            ScopeKind::Workloads(kind) => format!("workloads/{}", kind.as_str()),
        };
        if !self.region.is_empty() {
            name = format!("{name}/{}", self.region);
        }
        if let Some(cluster) = &self.cluster {
            name = format!("{name}@{cluster}");
        }
        name
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
    /// The cluster's own API server, where the cloud's listing tells it.
    pub api_server: Option<ApiServer>,
}

impl ClusterRecord {
    /// The API server with the credential `auth`; an error when the cloud did not say where
    /// the server is (a cluster still provisioning, or with only a private endpoint).
    pub fn access(&self, auth: ClientAuth) -> Result<Resolved, ConnectorError> {
        let server = self.api_server.as_ref().ok_or_else(|| {
            ConnectorError::Unavailable(format!(
                "the cloud did not say where the API server of {} is",
                self.name
            ))
        })?;
        Ok(Resolved {
            server: server.url.clone(),
            ca_certificate: server.ca_certificate.clone(),
            auth,
        })
    }
}

/// A managed cluster's API server, as its cloud describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiServer {
    pub url: String,
    /// PEM certificate(s) of the authority that signed the server's certificate.
    pub ca_certificate: Option<String>,
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

    /// Whether the sync also lists each managed cluster's nodes, namespaces and workloads,
    /// through [`Connector::cluster_access`] (the account's `cluster_contents` setting).
    fn lists_cluster_contents(&self) -> bool {
        false
    }

    /// The API server of a managed cluster this account listed, with a credential for it
    /// made from the account's own.
    fn cluster_access<'a>(
        &'a self,
        cluster: &'a ClusterRecord,
    ) -> BoxFuture<'a, Result<Resolved, ConnectorError>> {
        let unsupported = ConnectorError::Misconfigured(format!(
            "{}: this account cannot reach into its clusters",
            cluster.name
        ));
        Box::pin(std::future::ready(Err(unsupported)))
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
