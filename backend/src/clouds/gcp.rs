//! The Google Cloud connector: a service account's key signs a JWT assertion (RFC 7523,
//! `jsonwebtoken`) traded at the key's `token_uri` for a read-only access token; then each
//! project's GKE clusters (with node pools) and Compute Engine instances (`pageToken` pages).

use std::sync::Arc;
use std::time::Duration;

use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use nimbus_api_types::clouds::{
    ConnectionCheck, ConnectionTest, GcpSettings, GcsBillExport, NodePool,
};
use nimbus_api_types::ids::CloudAccountId;
use reqwest::Url;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use tokio::sync::mpsc;

use super::breaker::Breakers;
use super::connector::{
    ApiServer, BillExportStore, ClusterRecord, Connector, ConnectorError, ExportObject, Page,
    Scope, ScopeKind, VmRecord,
};
use super::kubeconfig::{self, ClientAuth, Resolved};
use super::rest::{Dialect, Rest, TokenCache, base_url};
use crate::config::CloudsConfig;
use crate::http::outbound::Outbound;

const CONTAINER_API: &str = "https://container.googleapis.com/";
const COMPUTE_API: &str = "https://compute.googleapis.com/";
const STORAGE_API: &str = "https://storage.googleapis.com/";
/// Reading is all Nimbus does; GKE API servers admit a token by the e-mail it carries.
const SCOPE: &str = "https://www.googleapis.com/auth/cloud-platform.read-only \
                     https://www.googleapis.com/auth/userinfo.email";
const ASSERTION_LIFETIME_SECS: i64 = 3600;
const PAGE_SIZE: u32 = 500;

/// The fields of a service account's JSON key file that Nimbus uses.
#[derive(Deserialize)]
pub struct ServiceAccountKey {
    #[serde(rename = "type")]
    pub kind: String,
    pub project_id: Option<String>,
    pub private_key_id: Option<String>,
    pub private_key: String,
    pub client_email: String,
    pub token_uri: String,
}

impl ServiceAccountKey {
    /// Reads a key file, saying what is wrong with it (never quoting it).
    pub fn parse(text: &str) -> Result<Self, String> {
        let key: Self = serde_json::from_str(text).map_err(|err| {
            format!(
                "not a service account key file (line {}, column {})",
                err.line(),
                err.column()
            )
        })?;
        if key.kind != "service_account" {
            return Err(format!(
                "a key of type {:?}; create a key for a service account",
                key.kind
            ));
        }
        if jsonwebtoken::EncodingKey::from_rsa_pem(key.private_key.as_bytes()).is_err() {
            return Err("the key file's private_key is not an RSA key in PEM".into());
        }
        Ok(key)
    }
}

pub struct GcpConnector {
    settings: GcpSettings,
    key: ServiceAccountKey,
    signing_key: jsonwebtoken::EncodingKey,
    token_url: Url,
    container: Url,
    compute: Url,
    /// The Cloud Storage endpoint of the bill export, when the account has one.
    storage: Option<Url>,
    rest: Rest,
    token: TokenCache,
}

impl GcpConnector {
    pub fn new(
        id: CloudAccountId,
        settings: GcpSettings,
        key: ServiceAccountKey,
        outbound: &Outbound,
        limits: &CloudsConfig,
        breakers: Arc<Breakers>,
    ) -> Result<Self, ConnectorError> {
        let misconfigured = ConnectorError::Misconfigured;
        // The token endpoint comes from the uploaded key: the outbound policy vets it like
        // any URL a user gives.
        let token_url = outbound
            .check_url(&key.token_uri)
            .map_err(|err| misconfigured(format!("the key's token_uri: {err}")))?;
        let endpoint = settings.endpoint_url.as_deref();
        let container = base_url(outbound, endpoint, CONTAINER_API)
            .map_err(|err| misconfigured(format!("endpoint_url: {err}")))?;
        let compute = base_url(outbound, endpoint, COMPUTE_API)
            .map_err(|err| misconfigured(format!("endpoint_url: {err}")))?;
        let storage = match &settings.bill_export {
            Some(export) => Some(
                base_url(outbound, export.storage_url.as_deref(), STORAGE_API)
                    .map_err(|err| misconfigured(format!("bill_export.storage_url: {err}")))?,
            ),
            None => None,
        };
        let signing_key = jsonwebtoken::EncodingKey::from_rsa_pem(key.private_key.as_bytes())
            .map_err(|_| misconfigured("the key's private_key is not an RSA key in PEM".into()))?;
        let client = outbound
            .builder()
            .build()
            .map_err(|err| misconfigured(format!("cannot set up TLS: {err}")))?;
        Ok(Self {
            settings,
            key,
            signing_key,
            token_url,
            container,
            compute,
            storage,
            rest: Rest::new(client, id, breakers, limits),
            token: TokenCache::default(),
        })
    }

    fn projects(&self) -> Vec<String> {
        if self.settings.project_ids.is_empty() {
            self.key.project_id.iter().cloned().collect()
        } else {
            self.settings.project_ids.clone()
        }
    }

    async fn access_token(&self) -> Result<String, ConnectorError> {
        self.token.get(|| self.sign_in()).await
    }

    /// Trades a signed assertion for an access token (RFC 7523 §2.1).
    async fn sign_in(&self) -> Result<(String, Duration), ConnectorError> {
        let now = chrono::Utc::now().timestamp();
        let claims = AssertionClaims {
            iss: &self.key.client_email,
            scope: SCOPE,
            aud: self.key.token_uri.as_str(),
            iat: now,
            exp: now + ASSERTION_LIFETIME_SECS,
        };
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
        header.kid.clone_from(&self.key.private_key_id);
        let assertion =
            jsonwebtoken::encode(&header, &claims, &self.signing_key).map_err(|err| {
                ConnectorError::Misconfigured(format!("cannot sign the assertion: {err}"))
            })?;
        let form = [
            ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
            ("assertion", assertion.as_str()),
        ];
        let answer: TokenAnswer = self
            .rest
            .json(
                &self.rest.circuit("oauth2", ""),
                Dialect::OAuthToken,
                |client| client.post(self.token_url.clone()).form(&form),
            )
            .await
            .map_err(|err| match err {
                ConnectorError::Rejected(why) => ConnectorError::Rejected(format!(
                    "Google refused the service account {}: {why}",
                    self.key.client_email
                )),
                other => other,
            })?;
        Ok((
            answer.access_token,
            Duration::from_secs(answer.expires_in.unwrap_or(3600)),
        ))
    }

    async fn get<T: DeserializeOwned>(
        &self,
        url: &Url,
        service: &'static str,
        project: &str,
    ) -> Result<T, ConnectorError> {
        let token = self.access_token().await?;
        self.rest
            .json(
                &self.rest.circuit(service, project),
                Dialect::Google,
                |client| client.get(url.clone()).bearer_auth(&token),
            )
            .await
    }

    fn clusters_url(&self, project: &str) -> Result<Url, ConnectorError> {
        self.container
            .join(&format!("v1/projects/{project}/locations/-/clusters"))
            .map_err(|err| ConnectorError::Misconfigured(format!("project {project}: {err}")))
    }

    fn instances_url(&self, project: &str) -> Result<Url, ConnectorError> {
        let mut url = self
            .compute
            .join(&format!(
                "compute/v1/projects/{project}/aggregated/instances"
            ))
            .map_err(|err| ConnectorError::Misconfigured(format!("project {project}: {err}")))?;
        url.query_pairs_mut()
            .append_pair("maxResults", &PAGE_SIZE.to_string())
            .append_pair("returnPartialSuccess", "true");
        Ok(url)
    }

    async fn list_clusters(
        &self,
        project: &str,
        pages: &mpsc::Sender<Page>,
    ) -> Result<(), ConnectorError> {
        let list: ClusterList = self
            .get(&self.clusters_url(project)?, "container", project)
            .await?;
        // A zone that did not answer leaves the listing incomplete: nothing may be swept.
        if !list.missing_zones.is_empty() {
            return Err(ConnectorError::Unavailable(format!(
                "GKE did not answer for zones {}",
                list.missing_zones.join(", ")
            )));
        }
        let records = list
            .clusters
            .into_iter()
            .map(|item| cluster(project, item))
            .collect();
        pages
            .send(Page::Clusters(records))
            .await
            .map_err(|_| ConnectorError::Unavailable("the sync was stopped".into()))
    }

    async fn list_vms(
        &self,
        project: &str,
        pages: &mpsc::Sender<Page>,
    ) -> Result<(), ConnectorError> {
        let first = self.instances_url(project)?;
        let mut page_token: Option<String> = None;
        loop {
            let mut url = first.clone();
            if let Some(token) = &page_token {
                url.query_pairs_mut().append_pair("pageToken", token);
            }
            let list: AggregatedInstances = self.get(&url, "compute", project).await?;
            if let Some(unreachable) = list.unreachables.first() {
                return Err(ConnectorError::Unavailable(format!(
                    "Compute Engine did not answer for {unreachable}"
                )));
            }
            let records = list
                .items
                .into_values()
                .flat_map(|scoped| scoped.instances)
                .map(vm)
                .collect();
            if pages.send(Page::Vms(records)).await.is_err() {
                return Err(ConnectorError::Unavailable("the sync was stopped".into()));
            }
            match list.next_page_token.filter(|token| !token.is_empty()) {
                Some(token) => page_token = Some(token),
                None => return Ok(()),
            }
        }
    }
}

impl Connector for GcpConnector {
    fn test(&self) -> BoxFuture<'_, ConnectionTest> {
        async move {
            let identity = Some(self.key.client_email.clone());
            if let Err(err) = self.access_token().await {
                return ConnectionTest {
                    ok: false,
                    identity,
                    checks: vec![ConnectionCheck {
                        action: "sign in as the service account".into(),
                        ok: false,
                        message: Some(err.to_string()),
                    }],
                };
            }
            let mut checks = Vec::new();
            let projects = self.projects();
            if projects.is_empty() {
                checks.push(ConnectionCheck {
                    action: "find the projects to list".into(),
                    ok: false,
                    message: Some("name the projects in project_ids".into()),
                });
            }
            for project in &projects {
                let clusters = match self.clusters_url(project) {
                    Ok(url) => self
                        .get::<serde::de::IgnoredAny>(&url, "container", project)
                        .await
                        .map(drop),
                    Err(err) => Err(err),
                };
                checks.push(check(
                    format!("list GKE clusters of project {project}"),
                    clusters,
                    format!(
                        "grant {} the Kubernetes Engine Viewer role (roles/container.viewer) \
                         on project {project}, and enable the Kubernetes Engine API there",
                        self.key.client_email
                    ),
                ));
                let instances = match self.instances_url(project) {
                    Ok(url) => self
                        .get::<serde::de::IgnoredAny>(&url, "compute", project)
                        .await
                        .map(drop),
                    Err(err) => Err(err),
                };
                checks.push(check(
                    format!("list Compute Engine instances of project {project}"),
                    instances,
                    format!(
                        "grant {} the Compute Viewer role (roles/compute.viewer) on project \
                         {project}, and enable the Compute Engine API there",
                        self.key.client_email
                    ),
                ));
            }
            if let Some(export) = &self.settings.bill_export {
                checks.push(check(
                    format!("list the bill files in bucket {}", export.bucket),
                    self.objects().await.map(drop),
                    format!(
                        "grant {} the Storage Object Viewer role (roles/storage.objectViewer) \
                         on bucket {}",
                        self.key.client_email, export.bucket
                    ),
                ));
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
            self.access_token().await?;
            Ok(self.key.client_email.clone())
        }
        .boxed()
    }

    fn scopes(&self) -> Vec<Scope> {
        Scope::clusters_and_vms(&self.projects())
    }

    fn list<'a>(
        &'a self,
        scope: &'a Scope,
        pages: mpsc::Sender<Page>,
    ) -> BoxFuture<'a, Result<(), ConnectorError>> {
        async move {
            match scope.kind {
                ScopeKind::Clusters => self.list_clusters(&scope.region, &pages).await,
                ScopeKind::Vms => self.list_vms(&scope.region, &pages).await,
                ScopeKind::Nodes | ScopeKind::Namespaces | ScopeKind::Workloads(_) => {
                    Err(ConnectorError::Misconfigured(format!(
                        "Google Cloud does not list {}",
                        scope.name()
                    )))
                }
            }
        }
        .boxed()
    }

    fn bill_exports(&self) -> Option<&dyn BillExportStore> {
        self.settings
            .bill_export
            .is_some()
            .then_some(self as &dyn BillExportStore)
    }

    fn lists_cluster_contents(&self) -> bool {
        self.settings.cluster_contents
    }

    /// GKE admits the service account's own access token.
    fn cluster_access<'a>(
        &'a self,
        cluster: &'a ClusterRecord,
    ) -> BoxFuture<'a, Result<Resolved, ConnectorError>> {
        async move { cluster.access(ClientAuth::Token(self.access_token().await?)) }.boxed()
    }
}

impl GcpConnector {
    /// `…/storage/v1/b/BUCKET/o`, or an object's URL below it.
    fn object_url(
        &self,
        export: &GcsBillExport,
        object: Option<&str>,
    ) -> Result<Url, ConnectorError> {
        let mut url = self.storage.clone().ok_or_else(|| {
            ConnectorError::Misconfigured("the account has no bill_export".into())
        })?;
        {
            let mut path = url.path_segments_mut().map_err(|()| {
                ConnectorError::Misconfigured("bill_export.storage_url is not a base URL".into())
            })?;
            path.pop_if_empty()
                .extend(["storage", "v1", "b", export.bucket.as_str(), "o"]);
            // The whole name is one segment: its slashes are encoded.
            path.extend(object);
        }
        Ok(url)
    }
}

impl BillExportStore for GcpConnector {
    fn objects(&self) -> BoxFuture<'_, Result<Vec<ExportObject>, ConnectorError>> {
        async move {
            let Some(export) = &self.settings.bill_export else {
                return Ok(Vec::new());
            };
            let mut objects = Vec::new();
            let mut page_token: Option<String> = None;
            loop {
                let mut url = self.object_url(export, None)?;
                url.query_pairs_mut().append_pair("prefix", &export.prefix);
                if let Some(token) = &page_token {
                    url.query_pairs_mut().append_pair("pageToken", token);
                }
                let list: ObjectList = self.get(&url, "storage", &export.bucket).await?;
                objects.extend(list.items.into_iter().map(|object| {
                    ExportObject {
                        // A new generation whenever the content is replaced.
                        etag: object
                            .generation
                            .or(object.md5_hash)
                            .or(object.etag)
                            .unwrap_or_default(),
                        key: object.name,
                    }
                }));
                match list.next_page_token.filter(|token| !token.is_empty()) {
                    Some(token) => page_token = Some(token),
                    None => return Ok(objects),
                }
            }
        }
        .boxed()
    }

    fn download<'a>(
        &'a self,
        key: &'a str,
        to: &'a std::path::Path,
    ) -> BoxFuture<'a, Result<(), ConnectorError>> {
        async move {
            let Some(export) = &self.settings.bill_export else {
                return Ok(());
            };
            let token = self.access_token().await?;
            let mut url = self.object_url(export, Some(key))?;
            url.query_pairs_mut().append_pair("alt", "media");
            self.rest
                .download(
                    &self.rest.circuit("storage", &export.bucket),
                    Dialect::Google,
                    |client| client.get(url.clone()).bearer_auth(&token),
                    to,
                )
                .await
                .map(drop)
        }
        .boxed()
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ObjectList {
    #[serde(default)]
    items: Vec<StoredObject>,
    next_page_token: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct StoredObject {
    name: String,
    generation: Option<String>,
    md5_hash: Option<String>,
    etag: Option<String>,
}

/// A check of "test connection"; a refusal says which role to grant.
fn check(action: String, outcome: Result<(), ConnectorError>, grant: String) -> ConnectionCheck {
    ConnectionCheck {
        action,
        ok: outcome.is_ok(),
        message: outcome.err().map(|err| match err {
            ConnectorError::Forbidden(_) => grant,
            other => other.to_string(),
        }),
    }
}

#[derive(serde::Serialize)]
struct AssertionClaims<'a> {
    iss: &'a str,
    scope: &'a str,
    aud: &'a str,
    iat: i64,
    exp: i64,
}

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
    expires_in: Option<u64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ClusterList {
    #[serde(default)]
    clusters: Vec<GkeCluster>,
    #[serde(default)]
    missing_zones: Vec<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct GkeCluster {
    name: String,
    location: String,
    current_master_version: Option<String>,
    current_node_count: Option<i32>,
    status: Option<String>,
    #[serde(default)]
    resource_labels: serde_json::Map<String, serde_json::Value>,
    #[serde(default)]
    node_pools: Vec<GkeNodePool>,
    /// The API server's address (an IP address; `https` implied).
    endpoint: Option<String>,
    master_auth: Option<MasterAuth>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct MasterAuth {
    /// Base64 of the PEM.
    cluster_ca_certificate: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct GkeNodePool {
    name: String,
    config: Option<NodeConfig>,
    initial_node_count: Option<i32>,
    autoscaling: Option<Autoscaling>,
    status: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct NodeConfig {
    machine_type: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Autoscaling {
    #[serde(default)]
    enabled: bool,
    min_node_count: Option<i32>,
    max_node_count: Option<i32>,
}

fn cluster(project: &str, item: GkeCluster) -> ClusterRecord {
    let node_pools = item
        .node_pools
        .into_iter()
        .map(|pool| {
            let scaling = pool.autoscaling.filter(|scaling| scaling.enabled);
            NodePool {
                name: pool.name,
                instance_types: pool
                    .config
                    .and_then(|config| config.machine_type)
                    .into_iter()
                    .collect(),
                desired: pool.initial_node_count,
                min: scaling.as_ref().and_then(|scaling| scaling.min_node_count),
                max: scaling.and_then(|scaling| scaling.max_node_count),
                status: pool.status,
            }
        })
        .collect();
    ClusterRecord {
        external_id: format!(
            "projects/{project}/locations/{}/clusters/{}",
            item.location, item.name
        ),
        name: item.name,
        distribution: "gke",
        // A zonal cluster's location is a zone (`europe-west1-b`): its region is the rest.
        region: region_of(&item.location),
        version: item.current_master_version,
        status: item.status,
        node_count: item.current_node_count,
        node_pools,
        labels: item.resource_labels,
        api_server: item.endpoint.map(|endpoint| ApiServer {
            // Emulators and proxies name their scheme.
            url: if endpoint.contains("://") {
                endpoint
            } else {
                format!("https://{endpoint}")
            },
            ca_certificate: item
                .master_auth
                .and_then(|auth| auth.cluster_ca_certificate)
                .and_then(|data| kubeconfig::decode_pem(&data, "clusterCaCertificate").ok()),
        }),
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AggregatedInstances {
    #[serde(default)]
    items: std::collections::BTreeMap<String, ScopedInstances>,
    next_page_token: Option<String>,
    #[serde(default)]
    unreachables: Vec<String>,
}

#[derive(Deserialize)]
struct ScopedInstances {
    #[serde(default)]
    instances: Vec<Instance>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Instance {
    id: String,
    name: String,
    zone: String,
    machine_type: Option<String>,
    status: Option<String>,
    #[serde(default)]
    network_interfaces: Vec<NetworkInterface>,
    #[serde(default)]
    labels: serde_json::Map<String, serde_json::Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct NetworkInterface {
    #[serde(rename = "networkIP")]
    network_ip: Option<String>,
}

/// The last segment of a Compute Engine resource URL (`…/zones/us-central1-a`).
fn last_segment(url: &str) -> &str {
    url.rsplit('/').next().unwrap_or(url)
}

fn region_of(location: &str) -> String {
    let is_zone = location.rsplit_once('-').is_some_and(|(_, suffix)| {
        suffix.len() == 1 && suffix.chars().all(|c| c.is_ascii_lowercase())
    });
    match location.rsplit_once('-') {
        Some((region, _)) if is_zone => region.to_owned(),
        _ => location.to_owned(),
    }
}

fn vm(item: Instance) -> VmRecord {
    let zone = last_segment(&item.zone).to_owned();
    VmRecord {
        external_id: item.id,
        name: Some(item.name),
        region: region_of(&zone),
        zone: Some(zone),
        instance_type: item
            .machine_type
            .as_deref()
            .map(|url| last_segment(url).to_owned()),
        state: item.status,
        private_ip: item
            .network_interfaces
            .into_iter()
            .find_map(|interface| interface.network_ip),
        labels: item.labels,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_zone_belongs_to_its_region() {
        assert_eq!(region_of("europe-west1-b"), "europe-west1");
        assert_eq!(region_of("europe-west1"), "europe-west1");
        assert_eq!(region_of("us-central1"), "us-central1");
    }

    #[test]
    fn a_key_file_of_another_kind_is_refused_without_being_quoted() {
        let err = ServiceAccountKey::parse(
            r#"{"type": "authorized_user", "private_key": "x",
            "client_email": "a@b", "token_uri": "https://oauth2.googleapis.com/token"}"#,
        )
        .err()
        .unwrap();
        assert!(err.contains("authorized_user"), "{err}");
        let err = ServiceAccountKey::parse("{\"secret\": ").err().unwrap();
        assert!(!err.contains("secret"), "{err}");
    }
}
