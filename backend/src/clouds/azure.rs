//! The Azure connector: a service principal signs in to Microsoft Entra ID with the OAuth 2.0
//! client-credentials grant (the `oauth2` crate; a client secret, or a certificate's signed
//! assertion), then lists each subscription's AKS clusters (with their agent pools) and
//! virtual machines through Azure Resource Manager, following `nextLink` pages.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use nimbus_api_types::clouds::{
    AzureBillExport, AzureSettings, ConnectionCheck, ConnectionTest, NodePool,
};
use nimbus_api_types::ids::CloudAccountId;
use oauth2::basic::{BasicClient, BasicErrorResponse};
use oauth2::{AuthType, ClientId, ClientSecret, RequestTokenError, TokenResponse, TokenUrl};
use reqwest::Url;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use tokio::sync::mpsc;

use super::breaker::{Breakers, Circuit};
use super::connector::{
    BillExportStore, ClusterRecord, Connector, ConnectorError, ExportObject, Page, Scope,
    ScopeKind, VmRecord,
};
use super::kubeconfig::{self, ClientAuth, Resolved};
use super::rest::{Dialect, Rest, TokenCache, base_url, next_link};
use crate::config::CloudsConfig;
use crate::http::outbound::Outbound;

const DEFAULT_AUTHORITY: &str = "https://login.microsoftonline.com/";
const DEFAULT_RESOURCE_MANAGER: &str = "https://management.azure.com/";
const CLUSTERS_API: &str = "2024-09-01";
const VMS_API: &str = "2024-07-01";
const STORAGE_SCOPE: &str = "https://storage.azure.com/.default";
/// The scope of tokens that Entra ID-integrated AKS API servers admit (the AKS server app,
/// the same in every Azure cloud).
const AKS_SCOPE: &str = "6dae42f8-4368-4678-94ff-3960e28e3630/.default";
/// The Blob service version Nimbus speaks (bearer tokens need 2017-11-09 or later).
const STORAGE_VERSION: &str = "2024-11-04";
/// How long a signed client assertion is good for.
const ASSERTION_LIFETIME_SECS: i64 = 600;

/// What proves the service principal's identity.
pub enum ClientCredential {
    Secret(String),
    /// A certificate registered on the app (PEM) and its private key (PKCS#8 PEM).
    Certificate {
        certificate: String,
        private_key: String,
    },
}

pub struct AzureAccount {
    pub id: CloudAccountId,
    pub settings: AzureSettings,
    pub client_id: String,
    pub credential: ClientCredential,
}

pub struct AzureConnector {
    settings: AzureSettings,
    client_id: String,
    credential: ClientCredential,
    token_url: Url,
    resource_manager: Url,
    /// The storage account's Blob endpoint of the cost exports, checked by the outbound policy.
    storage: Option<Url>,
    rest: Rest,
    /// Tokens for Resource Manager, and for Blob storage (the cost exports).
    management_token: TokenCache,
    storage_token: TokenCache,
    cluster_token: TokenCache,
}

impl AzureConnector {
    pub fn new(
        account: AzureAccount,
        outbound: &Outbound,
        limits: &CloudsConfig,
        breakers: Arc<Breakers>,
    ) -> Result<Self, ConnectorError> {
        let misconfigured = ConnectorError::Misconfigured;
        let authority = base_url(
            outbound,
            account.settings.authority_url.as_deref(),
            DEFAULT_AUTHORITY,
        )
        .map_err(|err| misconfigured(format!("authority_url: {err}")))?;
        let resource_manager = base_url(
            outbound,
            account.settings.resource_manager_url.as_deref(),
            DEFAULT_RESOURCE_MANAGER,
        )
        .map_err(|err| misconfigured(format!("resource_manager_url: {err}")))?;
        let token_url = authority
            .join(&format!(
                "{}/oauth2/v2.0/token",
                account.settings.directory_id
            ))
            .map_err(|err| misconfigured(format!("directory_id: {err}")))?;
        let storage = match &account.settings.bill_export {
            Some(export) => Some(
                base_url(outbound, Some(&export.storage_url), "")
                    .map_err(|err| misconfigured(format!("bill_export.storage_url: {err}")))?,
            ),
            None => None,
        };
        let client = outbound
            .builder()
            .build()
            .map_err(|err| misconfigured(format!("cannot set up TLS: {err}")))?;
        Ok(Self {
            settings: account.settings,
            client_id: account.client_id,
            credential: account.credential,
            token_url,
            resource_manager,
            storage,
            rest: Rest::new(client, account.id, breakers, limits),
            management_token: TokenCache::default(),
            storage_token: TokenCache::default(),
            cluster_token: TokenCache::default(),
        })
    }

    /// An access token for Resource Manager, signed in anew when the cached one runs out.
    async fn access_token(&self) -> Result<String, ConnectorError> {
        // Resource Manager's scope: its origin with `/.default`.
        let scope = format!(
            "{}/.default",
            self.resource_manager.as_str().trim_end_matches('/')
        );
        self.management_token.get(|| self.sign_in(scope)).await
    }

    /// An access token for Blob storage (the same audience in every Azure cloud).
    async fn storage_token(&self) -> Result<String, ConnectorError> {
        self.storage_token
            .get(|| self.sign_in(STORAGE_SCOPE.to_owned()))
            .await
    }

    /// A managed cluster's kubeconfig for this identity (`listClusterUserCredential`), as
    /// the server, its authority and a credential: the kubeconfig's own (local accounts), or
    /// for Entra ID-integrated clusters — whose kubeconfig runs a sign-in plugin — a token
    /// of the AKS server app, which is what that plugin would fetch.
    async fn cluster_kubeconfig(
        &self,
        cluster: &ClusterRecord,
    ) -> Result<Resolved, ConnectorError> {
        let id = cluster.external_id.trim_start_matches('/');
        let mut url = self
            .resource_manager
            .join(&format!("{id}/listClusterUserCredential"))
            .map_err(|err| ConnectorError::Misconfigured(format!("cluster {id}: {err}")))?;
        url.query_pairs_mut()
            .append_pair("api-version", CLUSTERS_API);
        let subscription = id.split('/').nth(1).unwrap_or_default();
        let token = self.access_token().await?;
        let answer: CredentialResults = self
            .rest
            .json(
                &self.rest.circuit("resource-manager", subscription),
                Dialect::Http,
                |client| client.post(url.clone()).bearer_auth(&token),
            )
            .await?;
        let kubeconfig = answer
            .kubeconfigs
            .into_iter()
            .next()
            .and_then(|named| STANDARD.decode(named.value).ok())
            .and_then(|bytes| String::from_utf8(bytes).ok())
            .ok_or_else(|| {
                ConnectorError::Unavailable(format!(
                    "listClusterUserCredential of {} answered without a kubeconfig",
                    cluster.name
                ))
            })?;
        let resolved = match kubeconfig::resolve(&kubeconfig, None) {
            Ok(resolved) => Ok(resolved),
            Err(_) => {
                let token = self
                    .cluster_token
                    .get(|| self.sign_in(AKS_SCOPE.to_owned()))
                    .await?;
                kubeconfig::resolve_server(&kubeconfig, ClientAuth::Token(token))
            }
        };
        resolved.map_err(|why| {
            ConnectorError::Misconfigured(format!(
                "the kubeconfig Azure gave for {}: {why}",
                cluster.name
            ))
        })
    }

    async fn sign_in(&self, scope: String) -> Result<(String, Duration), ConnectorError> {
        let token_url = TokenUrl::from_url(self.token_url.clone());
        let mut client = BasicClient::new(ClientId::new(self.client_id.clone()))
            .set_token_uri(token_url)
            .set_auth_type(AuthType::RequestBody);
        if let ClientCredential::Secret(secret) = &self.credential {
            client = client.set_client_secret(ClientSecret::new(secret.clone()));
        }
        let mut request = client
            .exchange_client_credentials()
            .add_scope(oauth2::Scope::new(scope));
        if let ClientCredential::Certificate {
            certificate,
            private_key,
        } = &self.credential
        {
            request = request
                .add_extra_param(
                    "client_assertion_type",
                    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                )
                .add_extra_param(
                    "client_assertion",
                    client_assertion(
                        &self.client_id,
                        self.token_url.as_str(),
                        certificate,
                        private_key,
                    )?,
                );
        }
        let http = TokenClient {
            connector: self,
            circuit: self.rest.circuit("entra-id", ""),
        };
        let token = request
            .request_async(&http)
            .await
            .map_err(|err| match err {
                RequestTokenError::ServerResponse(refusal) => refused(&refusal),
                RequestTokenError::Request(err) => err,
                RequestTokenError::Parse(err, _) => ConnectorError::Unavailable(format!(
                    "Microsoft Entra ID answered something unreadable: {err}"
                )),
                RequestTokenError::Other(why) => ConnectorError::Unavailable(why),
            })?;
        let lifetime = token.expires_in().unwrap_or(Duration::from_secs(3600));
        Ok((token.access_token().secret().clone(), lifetime))
    }

    /// The HTTP client the `oauth2` crate sends the token request through: the account's
    /// outbound client with its deadline, retries and circuit.
    async fn token_call(
        &self,
        circuit: &Circuit,
        request: oauth2::HttpRequest,
    ) -> Result<oauth2::HttpResponse, ConnectorError> {
        let url = request.uri().to_string();
        let answer = self
            .rest
            .send(circuit, Dialect::OAuthToken, |client| {
                client
                    .request(request.method().clone(), &url)
                    .headers(request.headers().clone())
                    .body(request.body().clone())
            })
            .await?;
        let mut response = oauth2::HttpResponse::new(answer.body);
        *response.status_mut() = answer.status;
        *response.headers_mut() = answer.headers;
        Ok(response)
    }

    async fn get<T: DeserializeOwned>(
        &self,
        url: &Url,
        subscription: &str,
    ) -> Result<T, ConnectorError> {
        let token = self.access_token().await?;
        self.rest
            .json(
                &self.rest.circuit("resource-manager", subscription),
                Dialect::Http,
                |client| client.get(url.clone()).bearer_auth(&token),
            )
            .await
    }

    fn list_url(
        &self,
        subscription: &str,
        resource: &str,
        api: &str,
    ) -> Result<Url, ConnectorError> {
        let mut url = self
            .resource_manager
            .join(&format!(
                "subscriptions/{subscription}/providers/{resource}"
            ))
            .map_err(|err| ConnectorError::Misconfigured(format!("subscription: {err}")))?;
        url.query_pairs_mut().append_pair("api-version", api);
        Ok(url)
    }

    /// Every page of an ARM list, each turned into records and sent on as it arrives.
    async fn list_pages<T: DeserializeOwned>(
        &self,
        subscription: &str,
        first: Url,
        pages: &mpsc::Sender<Page>,
        to_page: impl Fn(Vec<T>) -> Page,
    ) -> Result<(), ConnectorError> {
        let mut url = first;
        loop {
            let list: ArmList<T> = self.get(&url, subscription).await?;
            if pages.send(to_page(list.value)).await.is_err() {
                return Err(ConnectorError::Unavailable("the sync was stopped".into()));
            }
            match list.next_link.filter(|link| !link.is_empty()) {
                Some(link) => url = next_link(&self.resource_manager, &link)?,
                None => return Ok(()),
            }
        }
    }

    async fn list_clusters(
        &self,
        subscription: &str,
        pages: &mpsc::Sender<Page>,
    ) -> Result<(), ConnectorError> {
        let url = self.list_url(
            subscription,
            "Microsoft.ContainerService/managedClusters",
            CLUSTERS_API,
        )?;
        self.list_pages(subscription, url, pages, |items: Vec<ManagedCluster>| {
            Page::Clusters(items.into_iter().map(cluster).collect())
        })
        .await
    }

    async fn list_vms(
        &self,
        subscription: &str,
        pages: &mpsc::Sender<Page>,
    ) -> Result<(), ConnectorError> {
        let mut url = self.list_url(subscription, "Microsoft.Compute/virtualMachines", VMS_API)?;
        // The power state comes with the instance view.
        url.query_pairs_mut().append_pair("statusOnly", "true");
        self.list_pages(subscription, url, pages, |items: Vec<VirtualMachine>| {
            Page::Vms(items.into_iter().map(vm).collect())
        })
        .await
    }
}

impl Connector for AzureConnector {
    fn test(&self) -> BoxFuture<'_, ConnectionTest> {
        async move {
            if let Err(err) = self.access_token().await {
                return ConnectionTest {
                    ok: false,
                    identity: None,
                    checks: vec![ConnectionCheck {
                        action: format!("sign in to Microsoft Entra ID as app {}", self.client_id),
                        ok: false,
                        message: Some(err.to_string()),
                    }],
                };
            }
            let mut checks = Vec::new();
            for subscription in &self.settings.subscription_ids {
                for (what, resource, api) in [
                    (
                        "AKS clusters",
                        "Microsoft.ContainerService/managedClusters",
                        CLUSTERS_API,
                    ),
                    (
                        "virtual machines",
                        "Microsoft.Compute/virtualMachines",
                        VMS_API,
                    ),
                ] {
                    let outcome = match self.list_url(subscription, resource, api) {
                        Ok(url) => self
                            .get::<ArmList<serde::de::IgnoredAny>>(&url, subscription)
                            .await
                            .map(drop),
                        Err(err) => Err(err),
                    };
                    checks.push(ConnectionCheck {
                        action: format!("list {what} of subscription {subscription}"),
                        ok: outcome.is_ok(),
                        message: outcome.err().map(|err| match err {
                            ConnectorError::Forbidden(_) => format!(
                                "assign the Reader role on subscription {subscription} to the \
                                 app {} (Access control (IAM) → Add role assignment)",
                                self.client_id
                            ),
                            other => other.to_string(),
                        }),
                    });
                }
            }
            if let Some(export) = &self.settings.bill_export {
                let listed = self.objects().await.map(drop);
                checks.push(ConnectionCheck {
                    action: format!("list the cost exports in container {}", export.container),
                    ok: listed.is_ok(),
                    message: listed.err().map(|err| match err {
                        ConnectorError::Forbidden(_) => format!(
                            "assign the Storage Blob Data Reader role on container {} to the \
                             app {}",
                            export.container, self.client_id
                        ),
                        other => other.to_string(),
                    }),
                });
            }
            ConnectionTest {
                ok: checks.iter().all(|check| check.ok),
                identity: Some(format!(
                    "app {} in directory {}",
                    self.client_id, self.settings.directory_id
                )),
                checks,
            }
        }
        .boxed()
    }

    fn authenticate(&self) -> BoxFuture<'_, Result<String, ConnectorError>> {
        async move {
            self.access_token().await?;
            Ok(format!(
                "app {} in directory {}",
                self.client_id, self.settings.directory_id
            ))
        }
        .boxed()
    }

    fn scopes(&self) -> Vec<Scope> {
        Scope::clusters_and_vms(&self.settings.subscription_ids)
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
                ScopeKind::Nodes | ScopeKind::Namespaces | ScopeKind::Workloads(_) => Err(
                    ConnectorError::Misconfigured(format!("Azure does not list {}", scope.name())),
                ),
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

    fn cluster_access<'a>(
        &'a self,
        cluster: &'a ClusterRecord,
    ) -> BoxFuture<'a, Result<Resolved, ConnectorError>> {
        self.cluster_kubeconfig(cluster).boxed()
    }
}

impl AzureConnector {
    /// The export's container URL, or a blob's below it.
    fn blob_url(
        &self,
        export: &AzureBillExport,
        blob: Option<&str>,
    ) -> Result<Url, ConnectorError> {
        let mut url = self.storage.clone().ok_or_else(|| {
            ConnectorError::Misconfigured("the account has no bill_export".into())
        })?;
        url.path_segments_mut()
            .map_err(|()| {
                ConnectorError::Misconfigured("bill_export.storage_url is not a base URL".into())
            })?
            .pop_if_empty()
            .push(&export.container)
            .extend(blob.into_iter().flat_map(|name| name.split('/')));
        Ok(url)
    }

    /// A GET of Blob storage with the storage token.
    fn blob_request(client: &reqwest::Client, url: &Url, token: &str) -> reqwest::RequestBuilder {
        client
            .get(url.clone())
            .bearer_auth(token)
            .header("x-ms-version", STORAGE_VERSION)
    }
}

impl BillExportStore for AzureConnector {
    fn objects(&self) -> BoxFuture<'_, Result<Vec<ExportObject>, ConnectorError>> {
        async move {
            let Some(export) = &self.settings.bill_export else {
                return Ok(Vec::new());
            };
            let token = self.storage_token().await?;
            let circuit = self.rest.circuit("blob", &export.container);
            let mut objects = Vec::new();
            let mut marker: Option<String> = None;
            loop {
                let mut url = self.blob_url(export, None)?;
                url.query_pairs_mut()
                    .append_pair("restype", "container")
                    .append_pair("comp", "list")
                    .append_pair("prefix", &export.prefix);
                if let Some(marker) = &marker {
                    url.query_pairs_mut().append_pair("marker", marker);
                }
                let (path, body) = self
                    .rest
                    .body(&circuit, Dialect::Http, |client| {
                        Self::blob_request(client, &url, &token)
                    })
                    .await?;
                let listing: BlobList = std::str::from_utf8(&body)
                    .map_err(|err| err.to_string())
                    .and_then(|xml| quick_xml::de::from_str(xml).map_err(|err| err.to_string()))
                    .map_err(|err| {
                        ConnectorError::Unavailable(format!(
                            "{path} answered a listing that does not read: {err}"
                        ))
                    })?;
                objects.extend(listing.blobs.blob.into_iter().map(|blob| ExportObject {
                    key: blob.name,
                    etag: blob.properties.etag,
                }));
                match listing.next_marker.filter(|next| !next.is_empty()) {
                    Some(next) => marker = Some(next),
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
            let token = self.storage_token().await?;
            let url = self.blob_url(export, Some(key))?;
            self.rest
                .download(
                    &self.rest.circuit("blob", &export.container),
                    Dialect::Http,
                    |client| Self::blob_request(client, &url, &token),
                    to,
                )
                .await
                .map(drop)
        }
        .boxed()
    }
}

/// The parts of a List Blobs answer Nimbus reads.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct BlobList {
    #[serde(default)]
    blobs: BlobItems,
    next_marker: Option<String>,
}

#[derive(Deserialize, Default)]
struct BlobItems {
    #[serde(rename = "Blob", default)]
    blob: Vec<BlobItem>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct BlobItem {
    name: String,
    properties: BlobProperties,
}

#[derive(Deserialize)]
struct BlobProperties {
    #[serde(rename = "Etag")]
    etag: String,
}

/// The HTTP client the `oauth2` crate sends through (a named type: its future must be `Send`
/// for every lifetime, which a closure's cannot promise).
struct TokenClient<'a> {
    connector: &'a AzureConnector,
    circuit: Circuit,
}

impl<'c> oauth2::AsyncHttpClient<'c> for TokenClient<'_> {
    type Error = ConnectorError;
    type Future = std::pin::Pin<
        Box<dyn Future<Output = Result<oauth2::HttpResponse, ConnectorError>> + Send + 'c>,
    >;

    fn call(&'c self, request: oauth2::HttpRequest) -> Self::Future {
        Box::pin(self.connector.token_call(&self.circuit, request))
    }
}

/// Entra ID's refusal, in words: `AADSTS7000215: Invalid client secret provided…`.
fn refused(refusal: &BasicErrorResponse) -> ConnectorError {
    let description = refusal
        .error_description()
        .map(|text| text.lines().next().unwrap_or_default().to_owned())
        .unwrap_or_default();
    ConnectorError::Rejected(format!(
        "Microsoft Entra ID refused the service principal ({}){}",
        refusal.error(),
        if description.is_empty() {
            String::new()
        } else {
            format!(": {description}")
        }
    ))
}

#[derive(serde::Serialize)]
struct AssertionClaims<'a> {
    aud: &'a str,
    iss: &'a str,
    sub: &'a str,
    jti: String,
    nbf: i64,
    iat: i64,
    exp: i64,
}

/// A client assertion (RFC 7523) signed with the certificate's key, naming the certificate by
/// its SHA-256 thumbprint (`x5t#S256`), as Entra ID expects of certificate credentials.
fn client_assertion(
    client_id: &str,
    token_url: &str,
    certificate: &str,
    private_key: &str,
) -> Result<String, ConnectorError> {
    let der = certificate_der(certificate).ok_or_else(|| {
        ConnectorError::Misconfigured("the certificate is not a PEM certificate".into())
    })?;
    let key = jsonwebtoken::EncodingKey::from_rsa_pem(private_key.as_bytes()).map_err(|_| {
        ConnectorError::Misconfigured("the private key is not an RSA key in PEM".into())
    })?;
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
    header.x5t_s256 =
        Some(URL_SAFE_NO_PAD.encode(ring::digest::digest(&ring::digest::SHA256, &der)));
    let now = chrono::Utc::now().timestamp();
    let claims = AssertionClaims {
        aud: token_url,
        iss: client_id,
        sub: client_id,
        jti: uuid::Uuid::new_v4().to_string(),
        nbf: now,
        iat: now,
        exp: now + ASSERTION_LIFETIME_SECS,
    };
    jsonwebtoken::encode(&header, &claims, &key)
        .map_err(|err| ConnectorError::Misconfigured(format!("cannot sign the assertion: {err}")))
}

/// The DER bytes of the first certificate in a PEM text.
pub fn certificate_der(pem: &str) -> Option<Vec<u8>> {
    let body = pem
        .split("-----BEGIN CERTIFICATE-----")
        .nth(1)?
        .split("-----END CERTIFICATE-----")
        .next()?;
    let base64: String = body.chars().filter(|c| !c.is_whitespace()).collect();
    STANDARD.decode(base64).ok().filter(|der| !der.is_empty())
}

#[derive(Deserialize)]
struct ArmList<T> {
    #[serde(default = "Vec::new")]
    value: Vec<T>,
    #[serde(rename = "nextLink")]
    next_link: Option<String>,
}

#[derive(Deserialize)]
struct CredentialResults {
    #[serde(default)]
    kubeconfigs: Vec<CredentialResult>,
}

#[derive(Deserialize)]
struct CredentialResult {
    /// Base64 of the kubeconfig.
    value: String,
}

#[derive(Deserialize)]
struct ManagedCluster {
    id: String,
    name: String,
    location: String,
    #[serde(default)]
    tags: serde_json::Map<String, serde_json::Value>,
    #[serde(default)]
    properties: ClusterProperties,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct ClusterProperties {
    provisioning_state: Option<String>,
    kubernetes_version: Option<String>,
    current_kubernetes_version: Option<String>,
    power_state: Option<PowerState>,
    #[serde(default)]
    agent_pool_profiles: Vec<AgentPool>,
}

#[derive(Deserialize)]
struct PowerState {
    code: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AgentPool {
    name: String,
    count: Option<i32>,
    vm_size: Option<String>,
    min_count: Option<i32>,
    max_count: Option<i32>,
    provisioning_state: Option<String>,
    power_state: Option<PowerState>,
}

fn cluster(item: ManagedCluster) -> ClusterRecord {
    let properties = item.properties;
    // `Running` / `Stopped` once provisioned; the provisioning state while it changes.
    let status = match (&properties.provisioning_state, &properties.power_state) {
        (Some(state), Some(power)) if state == "Succeeded" => Some(power.code.clone()),
        (Some(state), _) => Some(state.clone()),
        (None, power) => power.as_ref().map(|power| power.code.clone()),
    };
    let node_pools: Vec<NodePool> = properties
        .agent_pool_profiles
        .into_iter()
        .map(|pool| NodePool {
            status: match (pool.provisioning_state, pool.power_state) {
                (Some(state), Some(power)) if state == "Succeeded" => Some(power.code),
                (state, _) => state,
            },
            name: pool.name,
            instance_types: pool.vm_size.into_iter().collect(),
            desired: pool.count,
            min: pool.min_count,
            max: pool.max_count,
        })
        .collect();
    ClusterRecord {
        external_id: item.id,
        name: item.name,
        distribution: "aks",
        region: item.location,
        version: properties
            .current_kubernetes_version
            .or(properties.kubernetes_version),
        status,
        node_count: node_pools
            .iter()
            .map(|pool| pool.desired)
            .sum::<Option<i32>>(),
        node_pools,
        labels: item.tags,
        // Where the server is and who signed its certificate come with the kubeconfig.
        api_server: None,
    }
}

#[derive(Deserialize)]
struct VirtualMachine {
    id: String,
    name: String,
    location: String,
    #[serde(default)]
    zones: Vec<String>,
    #[serde(default)]
    tags: serde_json::Map<String, serde_json::Value>,
    #[serde(default)]
    properties: VmProperties,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct VmProperties {
    hardware_profile: Option<HardwareProfile>,
    instance_view: Option<InstanceView>,
    provisioning_state: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct HardwareProfile {
    vm_size: Option<String>,
}

#[derive(Deserialize)]
struct InstanceView {
    #[serde(default)]
    statuses: Vec<InstanceStatus>,
}

#[derive(Deserialize)]
struct InstanceStatus {
    code: String,
}

fn vm(item: VirtualMachine) -> VmRecord {
    let properties = item.properties;
    let power = properties.instance_view.and_then(|view| {
        view.statuses
            .into_iter()
            .find_map(|status| status.code.strip_prefix("PowerState/").map(str::to_owned))
    });
    VmRecord {
        external_id: item.id,
        name: Some(item.name),
        zone: item
            .zones
            .first()
            .map(|zone| format!("{}-{zone}", item.location)),
        region: item.location,
        instance_type: properties
            .hardware_profile
            .and_then(|profile| profile.vm_size),
        state: power.or(properties.provisioning_state),
        private_ip: None,
        labels: item.tags,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pem_certificate_is_read_to_its_der_bytes() {
        let pem = "junk\n-----BEGIN CERTIFICATE-----\nAQID\nBA==\n-----END CERTIFICATE-----\n";
        assert_eq!(certificate_der(pem), Some(vec![1, 2, 3, 4]));
        assert_eq!(certificate_der("-----BEGIN PRIVATE KEY-----\nAQID\n"), None);
        assert_eq!(
            certificate_der("-----BEGIN CERTIFICATE-----\n%%%\n-----END CERTIFICATE-----"),
            None
        );
    }

    #[test]
    fn a_cluster_reads_its_version_status_and_agent_pools() {
        let item: ManagedCluster = serde_json::from_value(serde_json::json!({
            "id": "/subscriptions/s/resourcegroups/rg1/providers/Microsoft.ContainerService/managedClusters/c1",
            "name": "c1", "location": "westeurope", "tags": { "tier": "production" },
            "properties": {
                "provisioningState": "Succeeded", "kubernetesVersion": "1.30",
                "currentKubernetesVersion": "1.30.4", "powerState": { "code": "Running" },
                "agentPoolProfiles": [
                    { "name": "system", "count": 3, "vmSize": "Standard_DS2_v2",
                      "provisioningState": "Succeeded", "powerState": { "code": "Running" } },
                    { "name": "user", "count": 2, "vmSize": "Standard_D8s_v5", "minCount": 1,
                      "maxCount": 5, "provisioningState": "Scaling" }
                ]
            }
        }))
        .unwrap();
        let record = cluster(item);
        assert_eq!(record.version.as_deref(), Some("1.30.4"));
        assert_eq!(record.status.as_deref(), Some("Running"));
        assert_eq!(record.node_count, Some(5));
        assert_eq!(record.node_pools[1].status.as_deref(), Some("Scaling"));
        assert_eq!(record.node_pools[1].max, Some(5));
    }
}
