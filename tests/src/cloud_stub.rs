//! A stand-in for the Azure, Google Cloud and Alibaba Cloud APIs Nimbus reads, on one local
//! port: their sign-in (Entra ID client credentials, Google's JWT-bearer grant, Alibaba's V3
//! signatures — each checked for real), the cluster, node-pool and VM lists shaped like the
//! providers' published examples with their own paging (`nextLink`, `pageToken`,
//! `page_number`, `NextToken`; two items a page), and the fault knobs of `kube_stub`. Every
//! call is recorded so tests can prove what reached it.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;

use axum::Router;
use axum::extract::{Form, OriginalUri, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rsa::pkcs8::{EncodePrivateKey, EncodePublicKey, LineEnding};
use serde_json::{Value, json};

pub use crate::kube_stub::{Call, Fault};

/// Items the stub returns per page.
pub const PAGE_SIZE: usize = 2;

/// List keys (for items, faults and the call log).
pub const AZURE_TOKEN: &str = "azure/token";
pub const AKS_CLUSTERS: &str = "azure/managedClusters";
pub const AZURE_VMS: &str = "azure/virtualMachines";
pub const GCP_TOKEN: &str = "gcp/token";
pub const GKE_CLUSTERS: &str = "gcp/clusters";
pub const GCE_INSTANCES: &str = "gcp/instances";
pub const ACK_CLUSTERS: &str = "alibaba/DescribeClustersV1";
pub const ACK_NODE_POOLS: &str = "alibaba/DescribeClusterNodePools";
pub const ECS_INSTANCES: &str = "alibaba/DescribeInstances";
pub const ALIBABA_WHO_AM_I: &str = "alibaba/GetCallerIdentity";
pub const AKS_USER_CREDENTIAL: &str = "azure/listClusterUserCredential";
pub const ACK_USER_KUBECONFIG: &str = "alibaba/DescribeClusterUserKubeconfig";

pub const AZURE_DIRECTORY: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";
pub const AZURE_SUBSCRIPTION: &str = "6d2f7a8e-1c3b-4d5e-9f60-718293a4b5c6";
pub const AZURE_CLIENT_ID: &str = "0f5c3a1e-8d2b-4c7a-9e61-2b3c4d5e6f70";
pub const GCP_PROJECT: &str = "shop-prod-4821";
pub const GCP_CLIENT_EMAIL: &str = "nimbus-reader@shop-prod-4821.iam.gserviceaccount.com";
pub const ALIBABA_REGION: &str = "cn-hangzhou";
pub const ALIBABA_KEY_ID: &str = "LTAI5tStubAccessKeyId01";

/// An RSA key pair made once per test process (2048-bit generation is slow in debug builds).
pub struct TestKey {
    pub private_pem: String,
    pub public_pem: String,
}

pub fn test_key() -> &'static TestKey {
    static KEY: OnceLock<TestKey> = OnceLock::new();
    KEY.get_or_init(|| {
        let key = rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048).unwrap();
        TestKey {
            private_pem: key.to_pkcs8_pem(LineEnding::LF).unwrap().to_string(),
            public_pem: key
                .to_public_key()
                .to_public_key_pem(LineEnding::LF)
                .unwrap(),
        }
    })
}

/// A stand-in certificate for the Azure app: Entra ID knows a certificate by its thumbprint,
/// which is all the stub checks (the signature is checked with the key pair's public half).
pub const AZURE_CERTIFICATE: &str =
    "-----BEGIN CERTIFICATE-----\nTklNQlVTLVRFU1QtQ0VSVElGSUNBVEU=\n-----END CERTIFICATE-----\n";

#[derive(Default)]
struct Inner {
    url: String,
    azure_secret: String,
    alibaba_secret: String,
    /// Every credential refused (the secret rotated, the key deleted).
    revoked: bool,
    /// Access tokens handed out, by provider.
    issued: BTreeMap<&'static str, String>,
    /// Tokens to hand out instead of fresh ones, by provider (so a cluster stub can admit them).
    fixed_tokens: BTreeMap<&'static str, String>,
    /// The kubeconfig AKS and ACK issue for their clusters' users.
    cluster_kubeconfig: String,
    lists: BTreeMap<String, Vec<Value>>,
    faults: BTreeMap<String, Fault>,
    calls: Vec<Call>,
}

type Shared = Arc<Mutex<Inner>>;

#[derive(Clone)]
pub struct CloudStub {
    pub url: String,
    inner: Shared,
}

impl CloudStub {
    /// Accepts the Azure client secret `azure_secret` (or the test certificate), the test
    /// key's service account, and the Alibaba AccessKey secret `alibaba_secret`.
    pub async fn start(azure_secret: &str, alibaba_secret: &str) -> Self {
        let inner: Shared = Arc::new(Mutex::new(Inner {
            azure_secret: azure_secret.into(),
            alibaba_secret: alibaba_secret.into(),
            ..Inner::default()
        }));
        let app = Router::new()
            .route(
                "/{directory}/oauth2/v2.0/token",
                axum::routing::post(azure_token),
            )
            .route(
                "/subscriptions/{subscription}/providers/{namespace}/{resource}",
                axum::routing::get(arm_list),
            )
            .route(
                "/subscriptions/{subscription}/resourcegroups/{group}/providers/Microsoft.ContainerService/managedClusters/{name}/listClusterUserCredential",
                axum::routing::post(aks_user_credential),
            )
            .route("/token", axum::routing::post(gcp_token))
            .route(
                "/v1/projects/{project}/locations/{location}/clusters",
                axum::routing::get(gke_list),
            )
            .route(
                "/compute/v1/projects/{project}/aggregated/instances",
                axum::routing::get(gce_list),
            )
            .route("/api/v1/clusters", axum::routing::get(alibaba))
            .route("/clusters/{id}/nodepools", axum::routing::get(alibaba))
            .route("/k8s/{id}/user_config", axum::routing::get(alibaba))
            .route("/", axum::routing::get(alibaba))
            .with_state(Arc::clone(&inner));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address: SocketAddr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        let url = format!("http://{address}");
        inner.lock().unwrap().url.clone_from(&url);
        Self { url, inner }
    }

    pub fn set_items(&self, key: &str, items: Vec<Value>) {
        self.inner.lock().unwrap().lists.insert(key.into(), items);
    }

    pub fn set_fault(&self, key: &str, fault: Fault) {
        self.inner.lock().unwrap().faults.insert(key.into(), fault);
    }

    pub fn clear_faults(&self) {
        self.inner.lock().unwrap().faults.clear();
    }

    /// Refuses every credential from now on, as each cloud does once a secret is rotated
    /// or a key deleted.
    pub fn revoke_credentials(&self) {
        self.inner.lock().unwrap().revoked = true;
    }

    pub fn calls(&self) -> Vec<Call> {
        self.inner.lock().unwrap().calls.clone()
    }

    /// Hands out `token` as `provider`'s access token (`gcp`, `azure`, `aks` — the token for
    /// Entra ID-integrated AKS clusters) from now on.
    pub fn fix_token(&self, provider: &'static str, token: &str) {
        self.inner
            .lock()
            .unwrap()
            .fixed_tokens
            .insert(provider, token.into());
    }

    /// The kubeconfig `listClusterUserCredential` (AKS) and `DescribeClusterUserKubeconfig`
    /// (ACK) answer with.
    pub fn set_cluster_kubeconfig(&self, kubeconfig: &str) {
        self.inner.lock().unwrap().cluster_kubeconfig = kubeconfig.into();
    }

    pub fn calls_to(&self, key: &str) -> Vec<Call> {
        self.calls()
            .into_iter()
            .filter(|call| call.path == key)
            .collect()
    }

    /// A service-account key file for the test key pair whose `token_uri` is this stub.
    pub fn gcp_key_file(&self) -> String {
        json!({
            "type": "service_account",
            "project_id": GCP_PROJECT,
            "private_key_id": "4b1c1d2e3f4a5b6c7d8e9f000112233445566778",
            "private_key": test_key().private_pem,
            "client_email": GCP_CLIENT_EMAIL,
            "client_id": "109876543210987654321",
            "auth_uri": "https://accounts.google.com/o/oauth2/auth",
            "token_uri": format!("{}/token", self.url),
            "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
            "client_x509_cert_url": "https://www.googleapis.com/robot/v1/metadata/x509/nimbus-reader",
            "universe_domain": "googleapis.com"
        })
        .to_string()
    }
}

/// Records the call and returns the fault due on `page`, if any.
fn enter(
    inner: &Shared,
    key: &str,
    query: &BTreeMap<String, String>,
    page: usize,
) -> Option<Fault> {
    let mut inner = inner.lock().unwrap();
    inner.calls.push(Call {
        path: key.into(),
        query: query.clone(),
        at: Instant::now(),
    });
    let fault = inner.faults.get_mut(key)?;
    let current = fault.clone();
    match fault {
        Fault::Throttle { times, .. } | Fault::ServerError { times } => {
            if *times == 0 {
                return None;
            }
            *times -= 1;
        }
        Fault::FailPage { index } if *index != page => return None,
        _ => {}
    }
    Some(current)
}

#[derive(Clone, Copy)]
enum Dialect {
    Azure,
    Google,
    Alibaba,
}

/// The provider's answer to a fault, or `None` to answer normally (after any delay).
async fn faulted(fault: Option<Fault>, dialect: Dialect) -> Option<Response> {
    let (status, code, message) = match fault? {
        Fault::Slow(delay) => {
            tokio::time::sleep(delay).await;
            return None;
        }
        Fault::Throttle {
            retry_after_secs, ..
        } => {
            let mut response = match dialect {
                // Alibaba throttles with a 400 and a code, and no Retry-After.
                Dialect::Alibaba => {
                    return Some(error(
                        dialect,
                        StatusCode::BAD_REQUEST,
                        "Throttling.User",
                        "Request was denied due to user flow control.",
                    ));
                }
                Dialect::Azure => error(
                    dialect,
                    StatusCode::TOO_MANY_REQUESTS,
                    "TooManyRequests",
                    "The request is being throttled.",
                ),
                Dialect::Google => error(
                    dialect,
                    StatusCode::TOO_MANY_REQUESTS,
                    "RESOURCE_EXHAUSTED",
                    "Quota exceeded for quota metric 'Read requests'.",
                ),
            };
            response
                .headers_mut()
                .insert("retry-after", retry_after_secs.to_string().parse().unwrap());
            return Some(response);
        }
        Fault::ServerError { .. } | Fault::FailPage { .. } => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalError",
            "The server encountered an internal error. Please retry the request.",
        ),
        Fault::Forbidden => (
            StatusCode::FORBIDDEN,
            match dialect {
                Dialect::Azure => "AuthorizationFailed",
                Dialect::Google => "PERMISSION_DENIED",
                Dialect::Alibaba => "Forbidden.RAM",
            },
            "The client does not have authorization to perform this action.",
        ),
    };
    Some(error(dialect, status, code, message))
}

/// An error body as each provider writes it.
fn error(dialect: Dialect, status: StatusCode, code: &str, message: &str) -> Response {
    let body = match dialect {
        Dialect::Azure => json!({ "error": { "code": code, "message": message } }),
        Dialect::Google => json!({ "error": {
            "code": status.as_u16(), "message": message, "status": code,
            "errors": [{ "message": message, "domain": "global", "reason": "forbidden" }]
        } }),
        Dialect::Alibaba => json!({
            "RequestId": "6EF60BEC-0242-43AF-BB20-270359FB54A7", "Code": code, "Message": message,
            "HostId": "ecs.aliyuncs.com"
        }),
    };
    (status, axum::Json(body)).into_response()
}

fn page_of(items: &[Value], page: usize) -> (Vec<Value>, bool) {
    let start = page * PAGE_SIZE;
    let chunk = items.iter().skip(start).take(PAGE_SIZE).cloned().collect();
    (chunk, start + PAGE_SIZE < items.len())
}

fn page_index(token: Option<&String>) -> usize {
    token
        .and_then(|token| token.strip_prefix("page-"))
        .and_then(|index| index.parse().ok())
        .unwrap_or(0)
}

/// Records a call to `key` (its query and page), checks its bearer token — Azure's or
/// Google's, by `dialect` — and plays the fault due, if any: `Err` is the answer to give.
async fn admitted(
    inner: &Shared,
    (key, query, page): (&str, &BTreeMap<String, String>, usize),
    dialect: Dialect,
    headers: &HeaderMap,
) -> Result<(), Response> {
    let fault = enter(inner, key, query, page);
    let (provider, code, message) = match dialect {
        Dialect::Google => (
            "gcp",
            "UNAUTHENTICATED",
            "Request had invalid authentication credentials.",
        ),
        _ => (
            "azure",
            "InvalidAuthenticationToken",
            "The access token is invalid.",
        ),
    };
    if !bearer_ok(inner, provider, headers) {
        return Err(error(dialect, StatusCode::UNAUTHORIZED, code, message));
    }
    match faulted(fault, dialect).await {
        Some(response) => Err(response),
        None => Ok(()),
    }
}

fn bearer_ok(inner: &Shared, provider: &'static str, headers: &HeaderMap) -> bool {
    let inner = inner.lock().unwrap();
    let Some(token) = inner.issued.get(provider) else {
        return false;
    };
    headers
        .get("authorization")
        .is_some_and(|value| value.as_bytes() == format!("Bearer {token}").as_bytes())
}

fn issue(inner: &Shared, provider: &'static str) -> String {
    let mut inner = inner.lock().unwrap();
    let token = inner
        .fixed_tokens
        .get(provider)
        .cloned()
        .unwrap_or_else(|| format!("{provider}-access-{}", uuid::Uuid::new_v4().simple()));
    inner.issued.insert(provider, token.clone());
    token
}

fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    (
        status,
        axum::Json(json!({ "error": error, "error_description": description })),
    )
        .into_response()
}

// ---- Azure ----

async fn azure_token(
    State(inner): State<Shared>,
    Path(directory): Path<String>,
    Form(form): Form<BTreeMap<String, String>>,
) -> Response {
    if let Some(response) = faulted(
        enter(&inner, AZURE_TOKEN, &BTreeMap::new(), 0),
        Dialect::Azure,
    )
    .await
    {
        return response;
    }
    let (url, secret, revoked) = {
        let inner = inner.lock().unwrap();
        (inner.url.clone(), inner.azure_secret.clone(), inner.revoked)
    };
    if directory != AZURE_DIRECTORY {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            &format!("AADSTS90002: Tenant '{directory}' not found."),
        );
    }
    let field = |name: &str| form.get(name).map(String::as_str).unwrap_or_default();
    // Resource Manager's scope, or Blob storage's (the bill export pull).
    let storage = field("scope") == "https://storage.azure.com/.default";
    // The AKS server app: tokens Entra ID-integrated clusters admit.
    let aks = field("scope") == "6dae42f8-4368-4678-94ff-3960e28e3630/.default";
    if field("grant_type") != "client_credentials"
        || !(storage || aks || field("scope") == format!("{url}/.default"))
    {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_scope",
            "AADSTS70011: The provided request must include a 'scope' input parameter.",
        );
    }
    if field("client_id") != AZURE_CLIENT_ID {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "unauthorized_client",
            &format!(
                "AADSTS700016: Application with identifier '{}' was not found in the directory.",
                field("client_id")
            ),
        );
    }
    let authenticated = if let Some(assertion) = form.get("client_assertion") {
        field("client_assertion_type") == "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
            && azure_assertion_ok(
                assertion,
                &format!("{url}/{AZURE_DIRECTORY}/oauth2/v2.0/token"),
            )
    } else {
        field("client_secret") == secret
    } && !revoked;
    if !authenticated {
        return oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            &format!(
                "AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '{AZURE_CLIENT_ID}'.\r\nTrace ID: 0000"
            ),
        );
    }
    // A storage token is for Azurite: shaped like Entra ID's, which is what it checks.
    let token = if storage {
        crate::object_stores::storage_token()
    } else if aks {
        issue(&inner, "aks")
    } else {
        issue(&inner, "azure")
    };
    axum::Json(json!({ "token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599, "access_token": token }))
        .into_response()
}

/// Checks the signature (test key), the audience, issuer and subject, and the certificate's
/// SHA-256 thumbprint in `x5t#S256`.
fn azure_assertion_ok(assertion: &str, audience: &str) -> bool {
    let Ok(header) = jsonwebtoken::decode_header(assertion) else {
        return false;
    };
    let der = base64::engine::general_purpose::STANDARD
        .decode("TklNQlVTLVRFU1QtQ0VSVElGSUNBVEU=")
        .unwrap();
    let thumbprint = URL_SAFE_NO_PAD.encode(ring::digest::digest(&ring::digest::SHA256, &der));
    if header.x5t_s256.as_deref() != Some(thumbprint.as_str()) {
        return false;
    }
    let key = jsonwebtoken::DecodingKey::from_rsa_pem(test_key().public_pem.as_bytes()).unwrap();
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    validation.set_audience(&[audience]);
    validation.set_issuer(&[AZURE_CLIENT_ID]);
    validation.sub = Some(AZURE_CLIENT_ID.into());
    jsonwebtoken::decode::<Value>(assertion, &key, &validation).is_ok()
}

async fn arm_list(
    State(inner): State<Shared>,
    Path((subscription, namespace, resource)): Path<(String, String, String)>,
    Query(query): Query<BTreeMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let key = match (namespace.as_str(), resource.as_str()) {
        ("Microsoft.ContainerService", "managedClusters") => AKS_CLUSTERS,
        ("Microsoft.Compute", "virtualMachines") => AZURE_VMS,
        _ => {
            return error(
                Dialect::Azure,
                StatusCode::NOT_FOUND,
                "InvalidResourceType",
                "The resource type could not be found.",
            );
        }
    };
    let page = page_index(query.get("$skiptoken"));
    if let Err(response) = admitted(&inner, (key, &query, page), Dialect::Azure, &headers).await {
        return response;
    }
    if subscription != AZURE_SUBSCRIPTION {
        return error(
            Dialect::Azure,
            StatusCode::NOT_FOUND,
            "SubscriptionNotFound",
            &format!("The subscription '{subscription}' could not be found."),
        );
    }
    let (url, items) = {
        let inner = inner.lock().unwrap();
        (
            inner.url.clone(),
            inner.lists.get(key).cloned().unwrap_or_default(),
        )
    };
    let (value, more) = page_of(&items, page);
    let mut body = json!({ "value": value });
    if more {
        body["nextLink"] = json!(format!(
            "{url}/subscriptions/{subscription}/providers/{namespace}/{resource}?api-version={}&$skiptoken=page-{}",
            query.get("api-version").cloned().unwrap_or_default(),
            page + 1
        ));
    }
    axum::Json(body).into_response()
}

/// An AKS cluster like the "List Managed Clusters" example of the AKS REST reference.
pub fn aks_cluster(
    name: &str,
    location: &str,
    version: &str,
    pools: &[(&str, i32, &str)],
) -> Value {
    json!({
        "id": format!("/subscriptions/{AZURE_SUBSCRIPTION}/resourcegroups/rg1/providers/Microsoft.ContainerService/managedClusters/{name}"),
        "location": location,
        "name": name,
        "tags": { "archv2": "", "tier": "production" },
        "type": "Microsoft.ContainerService/ManagedClusters",
        "properties": {
            "provisioningState": "Succeeded",
            "kubernetesVersion": version,
            "currentKubernetesVersion": version,
            "maxAgentPools": 100,
            "dnsPrefix": format!("{name}-dns"),
            "fqdn": format!("{name}-dns-abcd1234.hcp.{location}.azmk8s.io"),
            "powerState": { "code": "Running" },
            "agentPoolProfiles": pools.iter().map(|(pool, count, size)| json!({
                "name": pool, "count": count, "vmSize": size, "maxPods": 110, "osType": "Linux",
                "type": "VirtualMachineScaleSets", "mode": "System",
                "provisioningState": "Succeeded", "orchestratorVersion": version,
                "currentOrchestratorVersion": version, "powerState": { "code": "Running" }
            })).collect::<Vec<_>>(),
            "linuxProfile": { "adminUsername": "azureuser", "ssh": { "publicKeys": [{ "keyData": "keydata" }] } },
            "servicePrincipalProfile": { "clientId": "clientid" },
            "nodeResourceGroup": format!("MC_rg1_{name}_{location}"),
            "enableRBAC": false
        }
    })
}

/// A virtual machine like the "VirtualMachine_ListAll_MaximumSet_Gen" example with
/// `statusOnly=true` (its instance view).
pub fn azure_vm(name: &str, location: &str, size: &str, power: &str) -> Value {
    json!({
        "name": name,
        "id": format!("/subscriptions/{AZURE_SUBSCRIPTION}/resourceGroups/rg1/providers/Microsoft.Compute/virtualMachines/{name}"),
        "type": "Microsoft.Compute/virtualMachines",
        "location": location,
        "zones": ["1"],
        "tags": { "environment": "production" },
        "properties": {
            "vmId": uuid::Uuid::new_v4(),
            "hardwareProfile": { "vmSize": size },
            "provisioningState": "Succeeded",
            "instanceView": { "statuses": [
                { "code": "ProvisioningState/succeeded", "level": "Info", "displayStatus": "Provisioning succeeded" },
                { "code": format!("PowerState/{power}"), "level": "Info", "displayStatus": format!("VM {power}") }
            ] }
        }
    })
}

/// `listClusterUserCredential` (the "Get Managed Cluster" credential example): the
/// kubeconfig, base64-encoded.
async fn aks_user_credential(State(inner): State<Shared>, headers: HeaderMap) -> Response {
    let call = (AKS_USER_CREDENTIAL, &BTreeMap::new(), 0);
    if let Err(response) = admitted(&inner, call, Dialect::Azure, &headers).await {
        return response;
    }
    let kubeconfig = inner.lock().unwrap().cluster_kubeconfig.clone();
    axum::Json(json!({ "kubeconfigs": [{
        "name": "clusterUser",
        "value": base64::engine::general_purpose::STANDARD.encode(kubeconfig)
    }] }))
    .into_response()
}

// ---- Google Cloud ----

async fn gcp_token(
    State(inner): State<Shared>,
    Form(form): Form<BTreeMap<String, String>>,
) -> Response {
    if let Some(response) = faulted(
        enter(&inner, GCP_TOKEN, &BTreeMap::new(), 0),
        Dialect::Google,
    )
    .await
    {
        return response;
    }
    let (url, revoked) = {
        let inner = inner.lock().unwrap();
        (inner.url.clone(), inner.revoked)
    };
    if revoked {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            "Invalid JWT Signature.",
        );
    }
    if form.get("grant_type").map(String::as_str)
        != Some("urn:ietf:params:oauth:grant-type:jwt-bearer")
    {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "Invalid grant_type: ",
        );
    }
    let key = jsonwebtoken::DecodingKey::from_rsa_pem(test_key().public_pem.as_bytes()).unwrap();
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    validation.set_audience(&[format!("{url}/token")]);
    validation.set_issuer(&[GCP_CLIENT_EMAIL]);
    let claims = match jsonwebtoken::decode::<Value>(
        form.get("assertion")
            .map(String::as_str)
            .unwrap_or_default(),
        &key,
        &validation,
    ) {
        Ok(data) => data.claims,
        Err(_) => {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_grant",
                "Invalid JWT Signature.",
            );
        }
    };
    // Read-only, plus the e-mail GKE API servers admit a token by.
    if claims["scope"]
        != "https://www.googleapis.com/auth/cloud-platform.read-only \
            https://www.googleapis.com/auth/userinfo.email"
    {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_scope",
            "Invalid OAuth scope.",
        );
    }
    let token = issue(&inner, "gcp");
    axum::Json(json!({ "access_token": token, "expires_in": 3599, "token_type": "Bearer" }))
        .into_response()
}

async fn gke_list(
    State(inner): State<Shared>,
    Path((project, location)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    if let Err(response) = admitted(
        &inner,
        (GKE_CLUSTERS, &BTreeMap::new(), 0),
        Dialect::Google,
        &headers,
    )
    .await
    {
        return response;
    }
    if project != GCP_PROJECT || location != "-" {
        return error(
            Dialect::Google,
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            "Project not found.",
        );
    }
    let clusters = inner
        .lock()
        .unwrap()
        .lists
        .get(GKE_CLUSTERS)
        .cloned()
        .unwrap_or_default();
    axum::Json(json!({ "clusters": clusters })).into_response()
}

async fn gce_list(
    State(inner): State<Shared>,
    Path(project): Path<String>,
    Query(query): Query<BTreeMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let page = page_index(query.get("pageToken"));
    if let Err(response) = admitted(
        &inner,
        (GCE_INSTANCES, &query, page),
        Dialect::Google,
        &headers,
    )
    .await
    {
        return response;
    }
    if project != GCP_PROJECT {
        return error(
            Dialect::Google,
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            "The resource 'projects/x' was not found",
        );
    }
    let items = inner
        .lock()
        .unwrap()
        .lists
        .get(GCE_INSTANCES)
        .cloned()
        .unwrap_or_default();
    let (instances, more) = page_of(&items, page);
    // Grouped by zone, as the aggregated list answers; an empty zone says so.
    let mut by_zone = serde_json::Map::new();
    for instance in instances {
        let zone = instance["zone"]
            .as_str()
            .unwrap()
            .rsplit('/')
            .next()
            .unwrap()
            .to_owned();
        by_zone
            .entry(format!("zones/{zone}"))
            .or_insert_with(|| json!({ "instances": [] }))["instances"]
            .as_array_mut()
            .unwrap()
            .push(instance);
    }
    by_zone.insert(
        "zones/asia-east1-a".into(),
        json!({ "warning": { "code": "NO_RESULTS_ON_PAGE", "message": "There are no results for scope 'zones/asia-east1-a' on this page.",
                             "data": [{ "key": "scope", "value": "zones/asia-east1-a" }] } }),
    );
    let mut body = json!({
        "kind": "compute#instanceAggregatedList",
        "id": format!("projects/{project}/aggregated/instances"),
        "items": by_zone,
        "selfLink": format!("https://www.googleapis.com/compute/v1/projects/{project}/aggregated/instances"),
    });
    if more {
        body["nextPageToken"] = json!(format!("page-{}", page + 1));
    }
    axum::Json(body).into_response()
}

/// A GKE cluster like the `projects.locations.clusters` resource reference.
pub fn gke_cluster(
    name: &str,
    location: &str,
    version: &str,
    pools: &[(&str, i32, &str)],
) -> Value {
    json!({
        "name": name,
        "nodeConfig": { "machineType": pools.first().map_or("e2-medium", |pool| pool.2), "diskSizeGb": 100 },
        "nodePools": pools.iter().map(|(pool, count, machine)| json!({
            "name": pool,
            "config": { "machineType": machine, "diskSizeGb": 100, "imageType": "COS_CONTAINERD" },
            "initialNodeCount": count,
            "autoscaling": { "enabled": true, "minNodeCount": 1, "maxNodeCount": 6 },
            "management": { "autoUpgrade": true, "autoRepair": true },
            "selfLink": format!("https://container.googleapis.com/v1/projects/{GCP_PROJECT}/locations/{location}/clusters/{name}/nodePools/{pool}"),
            "version": version,
            "status": "RUNNING"
        })).collect::<Vec<_>>(),
        "resourceLabels": { "team": "shop" },
        "network": "default",
        "endpoint": "34.76.10.20",
        "initialClusterVersion": version,
        "currentMasterVersion": version,
        "currentNodeVersion": version,
        "createTime": "2024-05-02T09:00:00+00:00",
        "status": "RUNNING",
        "selfLink": format!("https://container.googleapis.com/v1/projects/{GCP_PROJECT}/locations/{location}/clusters/{name}"),
        "zone": location,
        "location": location,
        "currentNodeCount": pools.iter().map(|pool| pool.1).sum::<i32>(),
        "id": uuid::Uuid::new_v4().simple().to_string()
    })
}

/// A Compute Engine instance like the `instances` resource reference.
pub fn gce_instance(
    id: u64,
    name: &str,
    zone: &str,
    machine: &str,
    status: &str,
    ip: &str,
) -> Value {
    json!({
        "kind": "compute#instance",
        "id": id.to_string(),
        "creationTimestamp": "2024-05-02T02:00:00.000-07:00",
        "name": name,
        "machineType": format!("https://www.googleapis.com/compute/v1/projects/{GCP_PROJECT}/zones/{zone}/machineTypes/{machine}"),
        "status": status,
        "zone": format!("https://www.googleapis.com/compute/v1/projects/{GCP_PROJECT}/zones/{zone}"),
        "networkInterfaces": [{ "network": "global/networks/default", "networkIP": ip, "name": "nic0" }],
        "labels": { "env": "prod" },
        "selfLink": format!("https://www.googleapis.com/compute/v1/projects/{GCP_PROJECT}/zones/{zone}/instances/{name}")
    })
}

// ---- Alibaba Cloud ----

async fn alibaba(
    State(inner): State<Shared>,
    OriginalUri(uri): OriginalUri,
    Query(query): Query<BTreeMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let action = headers
        .get("x-acs-action")
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let key = match action.as_str() {
        "DescribeClustersV1" => ACK_CLUSTERS,
        "DescribeClusterNodePools" => ACK_NODE_POOLS,
        "DescribeInstances" => ECS_INSTANCES,
        "GetCallerIdentity" => ALIBABA_WHO_AM_I,
        "DescribeClusterUserKubeconfig" => ACK_USER_KUBECONFIG,
        _ => {
            return error(
                Dialect::Alibaba,
                StatusCode::BAD_REQUEST,
                "InvalidAction.NotFound",
                "Specified api is not found, please check your url and method.",
            );
        }
    };
    let page = match key {
        ACK_CLUSTERS => query
            .get("page_number")
            .and_then(|number| number.parse::<usize>().ok())
            .map_or(0, |number| number.saturating_sub(1)),
        _ => page_index(query.get("NextToken")),
    };
    let fault = enter(&inner, key, &query, page);
    let (secret, revoked) = {
        let inner = inner.lock().unwrap();
        (inner.alibaba_secret.clone(), inner.revoked)
    };
    let verdict = if revoked {
        Err("InvalidAccessKeyId.NotFound")
    } else {
        alibaba_signature_ok(&uri, &headers, &secret)
    };
    if let Err(code) = verdict {
        let status = if code.starts_with("InvalidAccessKeyId") {
            StatusCode::NOT_FOUND
        } else {
            StatusCode::BAD_REQUEST
        };
        return error(
            Dialect::Alibaba,
            status,
            code,
            "The request signature does not conform to Aliyun standards.",
        );
    }
    if let Some(response) = faulted(fault, Dialect::Alibaba).await {
        return response;
    }
    let items = inner
        .lock()
        .unwrap()
        .lists
        .get(key)
        .cloned()
        .unwrap_or_default();
    match key {
        ACK_CLUSTERS => {
            let (clusters, _) = page_of(&items, page);
            axum::Json(json!({
                "clusters": clusters,
                "page_info": { "page_number": page + 1, "page_size": PAGE_SIZE, "total_count": items.len() }
            }))
            .into_response()
        }
        ACK_NODE_POOLS => axum::Json(json!({ "nodepools": items })).into_response(),
        // The `DescribeClusterUserKubeconfig` response example.
        ACK_USER_KUBECONFIG => axum::Json(json!({
            "config": inner.lock().unwrap().cluster_kubeconfig.clone(),
            "expiration": "2026-12-05T12:00:00Z"
        }))
        .into_response(),
        // The `GetCallerIdentity` response example.
        ALIBABA_WHO_AM_I => axum::Json(json!({
            "IdentityType": "RAMUser", "AccountId": "1968132000120000",
            "RequestId": "3C87BF47-3724-5443-ADC1-5AEAD9A03EB1", "PrincipalId": "288774244375210000",
            "UserId": "216959339000000", "Arn": "acs:ram::1968132000120000:user/nimbus-reader"
        }))
        .into_response(),
        _ => {
            let (instances, more) = page_of(&items, page);
            let mut body = json!({
                "RequestId": "473469C7-AA6F-4DC5-B3DB-A3DC0DE3C83E",
                "TotalCount": items.len(),
                "PageSize": PAGE_SIZE,
                "Instances": { "Instance": instances }
            });
            if more {
                body["NextToken"] = json!(format!("page-{}", page + 1));
            }
            axum::Json(body).into_response()
        }
    }
}

/// Recomputes the V3 signature (`ACS3-HMAC-SHA256`) from the request as received.
fn alibaba_signature_ok(
    uri: &axum::http::Uri,
    headers: &HeaderMap,
    secret: &str,
) -> Result<(), &'static str> {
    let authorization = headers
        .get("authorization")
        .and_then(|value| value.to_str().ok())
        .ok_or("MissingAuthorization")?;
    let rest = authorization
        .strip_prefix("ACS3-HMAC-SHA256 ")
        .ok_or("IncompleteSignature")?;
    let mut parts = BTreeMap::new();
    for part in rest.split(',') {
        let (name, value) = part.split_once('=').ok_or("IncompleteSignature")?;
        parts.insert(name.trim(), value.trim());
    }
    if parts.get("Credential") != Some(&ALIBABA_KEY_ID) {
        return Err("InvalidAccessKeyId.NotFound");
    }
    let signed_names = *parts.get("SignedHeaders").ok_or("IncompleteSignature")?;
    for required in [
        "host",
        "x-acs-action",
        "x-acs-date",
        "x-acs-signature-nonce",
        "x-acs-version",
    ] {
        if !signed_names.split(';').any(|name| name == required) {
            return Err("IncompleteSignature");
        }
    }
    let canonical_headers: String = signed_names
        .split(';')
        .map(|name| {
            let value = headers
                .get(name)
                .and_then(|value| value.to_str().ok())
                .unwrap_or_default();
            format!("{name}:{}\n", value.trim())
        })
        .collect();
    // The query sorted by its encoded names; the client sent it already encoded.
    let mut pairs: Vec<&str> = uri
        .query()
        .unwrap_or_default()
        .split('&')
        .filter(|pair| !pair.is_empty())
        .collect();
    pairs.sort_unstable();
    let hashed_payload = headers
        .get("x-acs-content-sha256")
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default();
    let canonical_request = format!(
        "GET\n{}\n{}\n{canonical_headers}\n{signed_names}\n{hashed_payload}",
        uri.path(),
        pairs.join("&")
    );
    let hex = |bytes: &[u8]| {
        bytes
            .iter()
            .map(|byte| format!("{byte:02x}"))
            .collect::<String>()
    };
    let to_sign = format!(
        "ACS3-HMAC-SHA256\n{}",
        hex(ring::digest::digest(&ring::digest::SHA256, canonical_request.as_bytes()).as_ref())
    );
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret.as_bytes());
    let expected = hex(ring::hmac::sign(&key, to_sign.as_bytes()).as_ref());
    if parts.get("Signature") == Some(&expected.as_str()) {
        Ok(())
    } else {
        Err("SignatureDoesNotMatch")
    }
}

/// An ACK cluster like the `DescribeClustersV1` response example.
pub fn ack_cluster(id: &str, name: &str, version: &str) -> Value {
    json!({
        "name": name,
        "cluster_id": id,
        "cluster_type": "ManagedKubernetes",
        "cluster_spec": "ack.pro.small",
        "profile": "Default",
        "region_id": ALIBABA_REGION,
        "zone_id": "cn-hangzhou-i",
        "state": "running",
        "size": 3,
        "current_version": version,
        "init_version": version,
        "vpc_id": "vpc-2zeg8nf1ukc0fcmvq****",
        "resource_group_id": "rg-acfmyvw3wjm****",
        "created": "2024-05-02T10:00:00+08:00",
        "tags": [{ "key": "env", "value": "prod" }]
    })
}

/// A node pool like the `DescribeClusterNodePools` response example.
pub fn ack_node_pool(name: &str, instance_type: &str, nodes: i32) -> Value {
    json!({
        "nodepool_info": { "nodepool_id": format!("np{}", uuid::Uuid::new_v4().simple()), "name": name,
                           "type": "ess", "is_default": true, "region_id": ALIBABA_REGION },
        "scaling_group": { "instance_types": [instance_type], "desired_size": nodes,
                           "system_disk_category": "cloud_essd", "vswitch_ids": ["vsw-wz9mfnhshf0f9gkz****"] },
        "auto_scaling": { "enable": true, "min_instances": 1, "max_instances": 10 },
        "status": { "total_nodes": nodes, "healthy_nodes": nodes, "state": "active" }
    })
}

/// An ECS instance like the `DescribeInstances` response example.
pub fn ecs_instance(id: &str, name: &str, instance_type: &str, status: &str, ip: &str) -> Value {
    json!({
        "InstanceId": id,
        "InstanceName": name,
        "RegionId": ALIBABA_REGION,
        "ZoneId": "cn-hangzhou-g",
        "InstanceType": instance_type,
        "Status": status,
        "Cpu": 2,
        "Memory": 8192,
        "OSName": "Alibaba Cloud Linux 3.2104 64 bit",
        "VpcAttributes": { "VpcId": "v-bp67acfmxazb4p****", "PrivateIpAddress": { "IpAddress": [ip] } },
        "Tags": { "Tag": [{ "TagKey": "env", "TagValue": "prod" }] },
        "CreationTime": "2024-05-02T08:00Z"
    })
}
