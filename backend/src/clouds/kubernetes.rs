//! The Kubernetes connector: any conformant API server (OpenShift, RKE, k3s, bare metal, or a
//! managed cluster's endpoint), read with a bearer token or a client certificate. Lists go
//! through `limit`/`continue` pages; each page is stored as it arrives.

use std::sync::Arc;

use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use nimbus_api_types::clouds::{ConnectionCheck, ConnectionTest, KubernetesSettings, WorkloadKind};
use nimbus_api_types::ids::CloudAccountId;
use reqwest::Url;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use tokio::sync::mpsc;

use super::breaker::{Breakers, Circuit};
use super::connector::{
    ClusterRecord, Connector, ConnectorError, NamespaceRecord, NodeRecord, Page, Scope, ScopeKind,
    WorkloadRecord,
};
use super::kubeconfig::{ClientAuth, Resolved};
use super::rest::{Dialect, Rest};
use crate::config::CloudsConfig;
use crate::http::outbound::Outbound;

/// Items per page of a list call.
const PAGE_SIZE: u32 = 500;
/// The circuit service name.
const SERVICE: &str = "kubernetes";
/// Labels that name a workload's application, most specific first.
const APP_LABELS: [&str; 3] = ["app.kubernetes.io/part-of", "app.kubernetes.io/name", "app"];

/// What the connector needs of an account.
pub struct KubernetesAccount {
    pub id: CloudAccountId,
    /// Shown as the cluster's name.
    pub name: String,
    pub settings: KubernetesSettings,
    pub auth: ClientAuth,
}

pub struct KubernetesConnector {
    server: Url,
    /// The cluster's id in the inventory: its API server URL.
    cluster: String,
    name: String,
    region: String,
    token: Option<String>,
    rest: Rest,
}

impl KubernetesConnector {
    pub fn new(
        account: KubernetesAccount,
        outbound: &Outbound,
        limits: &CloudsConfig,
        breakers: Arc<Breakers>,
    ) -> Result<Self, ConnectorError> {
        let misconfigured = |why: String| ConnectorError::Misconfigured(why);
        let raw = account
            .settings
            .api_server
            .as_deref()
            .ok_or_else(|| misconfigured("the account has no API server URL".into()))?;
        let server = outbound
            .check_url(raw)
            .map_err(|err| misconfigured(format!("api_server: {err}")))?;
        // The cluster's own authority only: a public CA cannot vouch for it.
        let mut builder = match &account.settings.ca_certificate {
            Some(pem) => outbound
                .builder_trusting_only(pem.as_bytes())
                .map_err(|_| misconfigured("ca_certificate is not a PEM certificate".into()))?,
            None => outbound.builder(),
        };
        let token = match account.auth {
            ClientAuth::Token(token) => Some(token),
            ClientAuth::Certificate { certificate, key } => {
                let identity =
                    reqwest::Identity::from_pem(format!("{certificate}\n{key}").as_bytes())
                        .map_err(|_| {
                            misconfigured(
                                "the kubeconfig's client certificate or key is not valid PEM"
                                    .into(),
                            )
                        })?;
                builder = builder.identity(identity);
                None
            }
        };
        let client = builder
            .build()
            .map_err(|err| misconfigured(format!("cannot set up TLS: {err}")))?;
        Ok(Self {
            cluster: server.as_str().trim_end_matches('/').to_owned(),
            server,
            name: account.name,
            region: account.settings.region.unwrap_or_default(),
            token,
            rest: Rest::new(client, account.id, breakers, limits),
        })
    }

    /// Reads a managed cluster that the cloud account `account` listed, through the API
    /// server and credential its cloud gave; the rows belong to that cluster.
    pub fn managed(
        account: CloudAccountId,
        cluster: &ClusterRecord,
        access: Resolved,
        outbound: &Outbound,
        limits: &CloudsConfig,
        breakers: Arc<Breakers>,
    ) -> Result<Self, ConnectorError> {
        let settings = KubernetesSettings {
            api_server: Some(access.server),
            ca_certificate: access.ca_certificate,
            region: Some(cluster.region.clone()),
        };
        let account = KubernetesAccount {
            id: account,
            name: cluster.name.clone(),
            settings,
            auth: access.auth,
        };
        Ok(Self {
            cluster: cluster.external_id.clone(),
            ..Self::new(account, outbound, limits, breakers)?
        })
    }

    /// One circuit per cluster: a cloud account reaches many through one connector each.
    fn circuit(&self) -> Circuit {
        self.rest.circuit(SERVICE, &self.cluster)
    }

    async fn get<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<T, ConnectorError> {
        let url = self
            .server
            .join(path)
            .map_err(|err| ConnectorError::Misconfigured(format!("{path}: {err}")))?;
        self.rest
            .json(&self.circuit(), Dialect::Http, |client| {
                let request = client.get(url.clone()).query(query);
                match &self.token {
                    Some(token) => request.bearer_auth(token),
                    None => request,
                }
            })
            .await
    }

    /// Every page of a list, each turned into records and sent on as it arrives.
    async fn list_pages<T: DeserializeOwned>(
        &self,
        path: &str,
        pages: &mpsc::Sender<Page>,
        to_page: impl Fn(Vec<T>) -> Page,
    ) -> Result<(), ConnectorError> {
        let mut resume: Option<String> = None;
        loop {
            let mut query = vec![("limit", PAGE_SIZE.to_string())];
            if let Some(token) = &resume {
                query.push(("continue", token.clone()));
            }
            let list: List<T> = self.get(path, &query).await?;
            if pages.send(to_page(list.items)).await.is_err() {
                return Err(ConnectorError::Unavailable("the sync was stopped".into()));
            }
            match list
                .metadata
                .continue_token
                .filter(|token| !token.is_empty())
            {
                Some(token) => resume = Some(token),
                None => return Ok(()),
            }
        }
    }

    async fn version(&self) -> Result<Version, ConnectorError> {
        self.get("/version", &[]).await
    }

    fn cluster_record(&self, version: &Version) -> ClusterRecord {
        ClusterRecord {
            external_id: self.cluster.clone(),
            name: self.name.clone(),
            distribution: distribution(&version.git_version),
            region: self.region.clone(),
            version: Some(version.git_version.clone()),
            status: Some("Reachable".into()),
            node_count: None,
            node_pools: Vec::new(),
            labels: serde_json::Map::new(),
            api_server: None,
        }
    }

    async fn list_workloads(
        &self,
        kind: WorkloadKind,
        pages: &mpsc::Sender<Page>,
    ) -> Result<(), ConnectorError> {
        let path = match kind {
            WorkloadKind::Deployment => "/apis/apps/v1/deployments",
            WorkloadKind::StatefulSet => "/apis/apps/v1/statefulsets",
            WorkloadKind::DaemonSet => "/apis/apps/v1/daemonsets",
            WorkloadKind::Job => "/apis/batch/v1/jobs",
            WorkloadKind::CronJob => "/apis/batch/v1/cronjobs",
        };
        self.list_pages(path, pages, |items: Vec<Object>| {
            Page::Workloads(
                items
                    .into_iter()
                    .map(|item| workload(&self.cluster, kind, item))
                    .collect(),
            )
        })
        .await
    }
}

impl Connector for KubernetesConnector {
    fn test(&self) -> BoxFuture<'_, ConnectionTest> {
        async move {
            let identity = match self.version().await {
                Ok(version) => Some(format!("{} ({})", self.cluster, version.git_version)),
                Err(err) => {
                    return ConnectionTest {
                        ok: false,
                        identity: None,
                        checks: vec![ConnectionCheck {
                            action: format!("GET {}/version", self.cluster),
                            ok: false,
                            message: Some(err.to_string()),
                        }],
                    };
                }
            };
            let mut checks = Vec::new();
            for (resource, path) in CHECKS {
                let outcome = self
                    .get::<List<IgnoredItem>>(path, &[("limit", "1".into())])
                    .await;
                checks.push(ConnectionCheck {
                    action: format!("list {resource}"),
                    ok: outcome.is_ok(),
                    message: outcome.err().map(|err| match err {
                        ConnectorError::Forbidden(_) => format!(
                            "grant `list` on {resource} cluster-wide (e.g. bind the `view` \
                             ClusterRole, plus nodes and namespaces) to Nimbus's service account"
                        ),
                        other => other.to_string(),
                    }),
                });
            }
            ConnectionTest {
                ok: checks.iter().all(|check| check.ok),
                identity,
                checks,
            }
        }
        .boxed()
    }

    fn authenticate(&self) -> BoxFuture<'_, Result<String, ConnectorError>> {
        async move {
            // `/version` is often public: a namespaces list proves the credential itself.
            let version = self.version().await?;
            self.get::<List<IgnoredItem>>("/api/v1/namespaces", &[("limit", "1".into())])
                .await?;
            Ok(format!("{} ({})", self.cluster, version.git_version))
        }
        .boxed()
    }

    fn scopes(&self) -> Vec<Scope> {
        // The cluster first: the rows of every other listing belong to it.
        let mut scopes = vec![Scope::of(ScopeKind::Clusters)];
        scopes.extend(Scope::in_cluster());
        scopes
    }

    fn list<'a>(
        &'a self,
        scope: &'a Scope,
        pages: mpsc::Sender<Page>,
    ) -> BoxFuture<'a, Result<(), ConnectorError>> {
        async move {
            match scope.kind {
                ScopeKind::Clusters => {
                    let version = self.version().await?;
                    pages
                        .send(Page::Clusters(vec![self.cluster_record(&version)]))
                        .await
                        .map_err(|_| ConnectorError::Unavailable("the sync was stopped".into()))
                }
                ScopeKind::Nodes => {
                    self.list_pages("/api/v1/nodes", &pages, |items: Vec<Object>| {
                        Page::Nodes(
                            items
                                .into_iter()
                                .map(|item| node(&self.cluster, item))
                                .collect(),
                        )
                    })
                    .await
                }
                ScopeKind::Namespaces => {
                    self.list_pages("/api/v1/namespaces", &pages, |items: Vec<Object>| {
                        Page::Namespaces(
                            items
                                .into_iter()
                                .map(|item| NamespaceRecord {
                                    cluster: self.cluster.clone(),
                                    name: item.metadata.name,
                                    status: item.status.phase,
                                    labels: item.metadata.labels,
                                })
                                .collect(),
                        )
                    })
                    .await
                }
                ScopeKind::Workloads(kind) => self.list_workloads(kind, &pages).await,
                ScopeKind::Vms => Err(ConnectorError::Misconfigured(
                    "Kubernetes lists no virtual machines".into(),
                )),
            }
        }
        .boxed()
    }
}

/// What "test connection" lists, with the resource named for the user.
const CHECKS: [(&str, &str); 4] = [
    ("nodes", "/api/v1/nodes"),
    ("namespaces", "/api/v1/namespaces"),
    (
        "deployments, statefulsets and daemonsets",
        "/apis/apps/v1/deployments",
    ),
    ("jobs and cronjobs", "/apis/batch/v1/jobs"),
];

/// The distribution, from the version string vendors tag (`v1.29.3-eks-…`, `+k3s1`, …).
fn distribution(git_version: &str) -> &'static str {
    let tagged = [
        ("-eks-", "eks"),
        ("-gke.", "gke"),
        ("-aliyun.", "ack"),
        ("+k3s", "k3s"),
        ("+rke2", "rke2"),
        ("+vmware", "tkg"),
        ("+openshift", "openshift"),
        ("-cce", "cce"),
        ("-tke.", "tke"),
    ];
    tagged
        .into_iter()
        .find(|(tag, _)| git_version.contains(tag))
        .map_or("kubernetes", |(_, name)| name)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Version {
    git_version: String,
}

#[derive(Deserialize)]
struct List<T> {
    #[serde(default = "Vec::new")]
    items: Vec<T>,
    #[serde(default)]
    metadata: ListMeta,
}

#[derive(Deserialize, Default)]
struct ListMeta {
    #[serde(default, rename = "continue")]
    continue_token: Option<String>,
}

/// An item whose content does not matter (permission probes).
#[derive(Deserialize)]
struct IgnoredItem {}

/// The fields Nimbus reads of any object; the rest is skipped while parsing.
#[derive(Deserialize, Default)]
#[serde(default)]
struct Object {
    metadata: Metadata,
    spec: serde_json::Value,
    status: Status,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Metadata {
    name: String,
    namespace: String,
    labels: serde_json::Map<String, serde_json::Value>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct Status {
    phase: Option<String>,
    conditions: Vec<Condition>,
    capacity: serde_json::Map<String, serde_json::Value>,
    node_info: Option<NodeInfo>,
    ready_replicas: Option<i32>,
    desired_number_scheduled: Option<i32>,
    number_ready: Option<i32>,
    succeeded: Option<i32>,
    active: Option<serde_json::Value>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Condition {
    #[serde(rename = "type")]
    kind: String,
    status: String,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct NodeInfo {
    kubelet_version: Option<String>,
}

fn label(labels: &serde_json::Map<String, serde_json::Value>, key: &str) -> Option<String> {
    labels
        .get(key)
        .and_then(serde_json::Value::as_str)
        .map(str::to_owned)
}

fn node(cluster: &str, item: Object) -> NodeRecord {
    let labels = item.metadata.labels;
    let status = match item.status.conditions.iter().find(|c| c.kind == "Ready") {
        Some(ready) if ready.status == "True" => "Ready",
        Some(ready) if ready.status == "False" => "NotReady",
        _ => "Unknown",
    };
    let mut roles: Vec<String> = labels
        .keys()
        .filter_map(|key| key.strip_prefix("node-role.kubernetes.io/"))
        .filter(|role| !role.is_empty())
        .map(str::to_owned)
        .collect();
    roles.sort();
    let capacity = |key: &str| {
        item.status
            .capacity
            .get(key)
            .and_then(serde_json::Value::as_str)
            .map(str::to_owned)
    };
    NodeRecord {
        cluster: cluster.to_owned(),
        name: item.metadata.name,
        status: status.to_owned(),
        roles,
        kubelet_version: item.status.node_info.and_then(|info| info.kubelet_version),
        instance_type: label(&labels, "node.kubernetes.io/instance-type")
            .or_else(|| label(&labels, "beta.kubernetes.io/instance-type")),
        zone: label(&labels, "topology.kubernetes.io/zone"),
        cpu: capacity("cpu"),
        memory: capacity("memory"),
        labels,
    }
}

fn workload(cluster: &str, kind: WorkloadKind, item: Object) -> WorkloadRecord {
    let spec = &item.spec;
    let int = |value: &serde_json::Value| value.as_i64().and_then(|n| i32::try_from(n).ok());
    let status = &item.status;
    let (desired, ready) = match kind {
        // An unset `replicas` means one.
        WorkloadKind::Deployment | WorkloadKind::StatefulSet => (
            Some(spec.get("replicas").and_then(int).unwrap_or(1)),
            Some(status.ready_replicas.unwrap_or(0)),
        ),
        WorkloadKind::DaemonSet => (
            Some(status.desired_number_scheduled.unwrap_or(0)),
            Some(status.number_ready.unwrap_or(0)),
        ),
        WorkloadKind::Job => (
            Some(spec.get("completions").and_then(int).unwrap_or(1)),
            Some(status.succeeded.unwrap_or(0)),
        ),
        // `status.active` lists the running jobs.
        WorkloadKind::CronJob => (
            None,
            Some(
                status
                    .active
                    .as_ref()
                    .and_then(serde_json::Value::as_array)
                    .map_or(0, |jobs| i32::try_from(jobs.len()).unwrap_or(i32::MAX)),
            ),
        ),
    };
    let pod_spec = match kind {
        WorkloadKind::CronJob => spec.pointer("/jobTemplate/spec/template/spec"),
        _ => spec.pointer("/template/spec"),
    };
    let mut images: Vec<String> = pod_spec
        .into_iter()
        .flat_map(|pod| {
            ["initContainers", "containers"]
                .into_iter()
                .filter_map(|field| pod.get(field)?.as_array())
                .flatten()
        })
        .filter_map(|container| container.get("image")?.as_str().map(str::to_owned))
        .collect();
    images.dedup();
    let labels = item.metadata.labels;
    WorkloadRecord {
        cluster: cluster.to_owned(),
        kind,
        namespace: item.metadata.namespace,
        name: item.metadata.name,
        replicas_desired: desired,
        replicas_ready: ready,
        images,
        app: APP_LABELS.iter().find_map(|key| label(&labels, key)),
        labels,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distributions_are_told_from_the_version_tag() {
        assert_eq!(distribution("v1.29.3-eks-adc7111"), "eks");
        assert_eq!(distribution("v1.30.5-gke.1014001"), "gke");
        assert_eq!(distribution("v1.28.3+k3s2"), "k3s");
        assert_eq!(distribution("v1.31.0"), "kubernetes");
    }

    #[test]
    fn a_deployment_reads_replicas_images_and_its_app() {
        let item: Object = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "web", "namespace": "shop",
                         "labels": {"app.kubernetes.io/name": "web", "app.kubernetes.io/part-of": "shop"}},
            "spec": {"replicas": 3, "template": {"spec": {"containers": [
                {"name": "web", "image": "nginx:1.27"}, {"name": "log", "image": "fluent-bit:3"}]}}},
            "status": {"readyReplicas": 2}
        }))
        .unwrap();
        let record = workload("c", WorkloadKind::Deployment, item);
        assert_eq!(
            (record.replicas_desired, record.replicas_ready),
            (Some(3), Some(2))
        );
        assert_eq!(record.images, ["nginx:1.27", "fluent-bit:3"]);
        assert_eq!(record.app.as_deref(), Some("shop"));
    }

    #[test]
    fn a_node_reads_readiness_roles_and_capacity() {
        let item: Object = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "n1", "labels": {"node-role.kubernetes.io/control-plane": "",
                         "topology.kubernetes.io/zone": "eu-west-1a"}},
            "status": {"conditions": [{"type": "Ready", "status": "False"}],
                       "capacity": {"cpu": "4", "memory": "16Gi"},
                       "nodeInfo": {"kubeletVersion": "v1.31.0"}}
        }))
        .unwrap();
        let record = node("c", item);
        assert_eq!(record.status, "NotReady");
        assert_eq!(record.roles, ["control-plane"]);
        assert_eq!(record.cpu.as_deref(), Some("4"));
        assert_eq!(record.zone.as_deref(), Some("eu-west-1a"));
    }
}
