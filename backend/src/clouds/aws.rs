//! The AWS connector, on the official SDK (decision 0010): the role is assumed with the
//! tenant's external id, then EKS clusters (with their node groups) and EC2 instances are
//! listed per region. The SDK's retries (jittered, capped) and timeouts come from
//! `clouds.*`; its HTTP client resolves names through the outbound policy (SECURITY.md 19).

use std::sync::Arc;
use std::time::Duration;

use aws_credential_types::Credentials;
use aws_credential_types::provider::{ProvideCredentials as _, SharedCredentialsProvider};
use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};
use aws_smithy_runtime_api::client::behavior_version::BehaviorVersion;
use aws_smithy_runtime_api::client::dns::{DnsFuture, ResolveDns, ResolveDnsError};
use aws_smithy_runtime_api::client::http::SharedHttpClient;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use aws_smithy_types::retry::RetryConfig;
use aws_smithy_types::timeout::TimeoutConfig;
use aws_types::SdkConfig;
use aws_types::region::Region;
use base64::Engine as _;
use futures_util::FutureExt as _;
use futures_util::future::BoxFuture;
use nimbus_api_types::clouds::{AwsSettings, ConnectionCheck, ConnectionTest, NodePool};
use nimbus_api_types::ids::CloudAccountId;
use tokio::sync::{OnceCell, mpsc};

use super::breaker::{Breakers, Circuit};
use super::connector::{
    ApiServer, BillExportStore, ClusterRecord, Connector, ConnectorError, ExportObject, Page,
    Scope, ScopeKind, VmRecord,
};
use super::kubeconfig::{self, ClientAuth, Resolved};
use crate::config::CloudsConfig;
use crate::http::outbound::{self, Outbound};

/// STS is global; its calls go to this region (or the account's endpoint).
const STS_REGION: &str = "us-east-1";
/// EC2 instances per page (the API's maximum).
const EC2_PAGE: i32 = 1000;

/// The SDK's DNS resolver, through the outbound policy.
#[derive(Debug, Clone)]
struct CheckedDns {
    allow_private: bool,
}

impl ResolveDns for CheckedDns {
    fn resolve_dns<'a>(&'a self, name: &'a str) -> DnsFuture<'a> {
        let allow_private = self.allow_private;
        DnsFuture::new(async move {
            outbound::resolve_checked(name, allow_private)
                .await
                .map(|found| found.into_iter().map(|addr| addr.ip()).collect())
                .map_err(ResolveDnsError::new)
        })
    }
}

/// The HTTP client every AWS call of this process goes through.
#[must_use]
pub fn http_client(outbound: &Outbound) -> SharedHttpClient {
    let mut trust = tls::TrustStore::default();
    if !outbound.extra_authorities().is_empty() {
        trust = trust.with_pem_certificate(outbound.extra_authorities());
    }
    // `build` cannot fail in this version (it only moves the parts into place).
    let context = tls::TlsContext::builder()
        .with_trust_store(trust)
        .build()
        .unwrap_or_default();
    aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
        .tls_context(context)
        .build_with_resolver(CheckedDns {
            allow_private: outbound.allows_private_networks(),
        })
}

/// The key the account was given.
pub struct AccessKey {
    pub id: String,
    pub secret: String,
}

pub struct AwsConnector {
    account: CloudAccountId,
    settings: AwsSettings,
    external_id: String,
    key: AccessKey,
    http: SharedHttpClient,
    limits: CloudsConfig,
    breakers: Arc<Breakers>,
    /// The assumed role's credentials (or the key itself), fetched once per sync.
    session: OnceCell<(SharedCredentialsProvider, String)>,
}

impl AwsConnector {
    /// Refuses an endpoint the outbound policy refuses.
    pub fn new(
        account: CloudAccountId,
        settings: AwsSettings,
        external_id: String,
        key: AccessKey,
        outbound: &Outbound,
        limits: &CloudsConfig,
        breakers: Arc<Breakers>,
    ) -> Result<Self, ConnectorError> {
        if let Some(endpoint) = &settings.endpoint_url {
            outbound
                .check_url(endpoint)
                .map_err(|err| ConnectorError::Misconfigured(format!("endpoint_url: {err}")))?;
        }
        Ok(Self {
            account,
            settings,
            external_id,
            key,
            http: http_client(outbound),
            limits: limits.clone(),
            breakers,
            session: OnceCell::new(),
        })
    }

    fn sdk_config(&self, region: &str, credentials: SharedCredentialsProvider) -> SdkConfig {
        let mut builder = SdkConfig::builder()
            .behavior_version(BehaviorVersion::latest())
            .http_client(self.http.clone())
            .credentials_provider(credentials)
            .region(Region::new(region.to_owned()))
            .retry_config(RetryConfig::standard().with_max_attempts(self.limits.max_attempts))
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(Duration::from_secs(10).min(self.limits.call_timeout))
                    .operation_timeout(self.limits.call_timeout)
                    .build(),
            );
        if let Some(endpoint) = &self.settings.endpoint_url {
            builder = builder.endpoint_url(endpoint.clone());
        }
        builder.build()
    }

    /// Assumes the role (or checks the key); the identity's ARN.
    async fn session(&self) -> Result<&(SharedCredentialsProvider, String), ConnectorError> {
        self.session
            .get_or_try_init(|| async {
                let key = SharedCredentialsProvider::new(Credentials::new(
                    self.key.id.clone(),
                    self.key.secret.clone(),
                    None,
                    None,
                    "nimbus-account",
                ));
                let sts = aws_sdk_sts::Client::new(&self.sdk_config(STS_REGION, key.clone()));
                let Some(role) = &self.settings.role_arn else {
                    let me =
                        sts.get_caller_identity().send().await.map_err(|err| {
                            rejected_unless_transient(&err, "sts:GetCallerIdentity")
                        })?;
                    return Ok((key, me.arn.unwrap_or_default()));
                };
                let assumed = sts
                    .assume_role()
                    .role_arn(role)
                    .role_session_name("nimbus-sync")
                    .external_id(&self.external_id)
                    .duration_seconds(3600)
                    .send()
                    .await
                    .map_err(|err| rejected_unless_transient(&err, "sts:AssumeRole"))?;
                let (Some(credentials), identity) = (
                    assumed.credentials,
                    assumed.assumed_role_user.map(|user| user.arn),
                ) else {
                    return Err(ConnectorError::Rejected(
                        "sts:AssumeRole answered without credentials".into(),
                    ));
                };
                let provider = SharedCredentialsProvider::new(Credentials::new(
                    credentials.access_key_id,
                    credentials.secret_access_key,
                    Some(credentials.session_token),
                    None,
                    "nimbus-assumed-role",
                ));
                Ok((provider, identity.unwrap_or_else(|| role.clone())))
            })
            .await
    }

    /// Runs one call through the circuit of (account, service, region).
    async fn guarded<T, E, F>(
        &self,
        service: &'static str,
        region: &str,
        action: &str,
        call: F,
    ) -> Result<T, ConnectorError>
    where
        F: Future<Output = Result<T, SdkError<E, aws_smithy_runtime_api::http::Response>>>,
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        let circuit = Circuit {
            account: self.account,
            service,
            region: region.to_owned(),
        };
        if let Err(wait) = self.breakers.check(&circuit) {
            return Err(ConnectorError::Unavailable(format!(
                "{action} in {region} is paused for {}s after repeated failures",
                wait.as_secs() + 1
            )));
        }
        let result = call.await.map_err(|err| classify(&err, action, region));
        let transient = matches!(result, Err(ConnectorError::Unavailable(_)));
        self.breakers.record(&circuit, !transient);
        result
    }

    async fn list_clusters(
        &self,
        region: &str,
        pages: &mpsc::Sender<Page>,
    ) -> Result<(), ConnectorError> {
        let (credentials, _) = self.session().await?;
        let eks = aws_sdk_eks::Client::new(&self.sdk_config(region, credentials.clone()));
        let mut next_token = None;
        loop {
            let listed = self
                .guarded(
                    "eks",
                    region,
                    "eks:ListClusters",
                    eks.list_clusters().set_next_token(next_token.take()).send(),
                )
                .await?;
            let mut page = Vec::new();
            for name in listed.clusters.unwrap_or_default() {
                page.push(self.describe_cluster(&eks, region, &name).await?);
            }
            send(pages, Page::Clusters(page)).await?;
            match listed.next_token {
                Some(token) => next_token = Some(token),
                None => return Ok(()),
            }
        }
    }

    async fn describe_cluster(
        &self,
        eks: &aws_sdk_eks::Client,
        region: &str,
        name: &str,
    ) -> Result<ClusterRecord, ConnectorError> {
        let described = self
            .guarded(
                "eks",
                region,
                "eks:DescribeCluster",
                eks.describe_cluster().name(name).send(),
            )
            .await?;
        let Some(cluster) = described.cluster else {
            return Err(ConnectorError::Unavailable(format!(
                "eks:DescribeCluster in {region} answered without the cluster {name}"
            )));
        };
        let mut node_pools = Vec::new();
        let mut next_token = None;
        loop {
            let groups = self
                .guarded(
                    "eks",
                    region,
                    "eks:ListNodegroups",
                    eks.list_nodegroups()
                        .cluster_name(name)
                        .set_next_token(next_token.take())
                        .send(),
                )
                .await?;
            for group in groups.nodegroups.unwrap_or_default() {
                let described = self
                    .guarded(
                        "eks",
                        region,
                        "eks:DescribeNodegroup",
                        eks.describe_nodegroup()
                            .cluster_name(name)
                            .nodegroup_name(&group)
                            .send(),
                    )
                    .await?;
                let Some(group) = described.nodegroup else {
                    continue;
                };
                let scaling = group.scaling_config;
                node_pools.push(NodePool {
                    name: group.nodegroup_name.unwrap_or_default(),
                    instance_types: group.instance_types.unwrap_or_default(),
                    desired: scaling.as_ref().and_then(|s| s.desired_size),
                    min: scaling.as_ref().and_then(|s| s.min_size),
                    max: scaling.as_ref().and_then(|s| s.max_size),
                    status: group.status.map(|status| status.as_str().to_owned()),
                });
            }
            match groups.next_token {
                Some(token) => next_token = Some(token),
                None => break,
            }
        }
        let node_count = node_pools
            .iter()
            .map(|pool| pool.desired.unwrap_or(0))
            .sum::<i32>();
        Ok(ClusterRecord {
            external_id: cluster.arn.unwrap_or_else(|| name.to_owned()),
            name: cluster.name.unwrap_or_else(|| name.to_owned()),
            distribution: "eks",
            region: region.to_owned(),
            version: cluster.version,
            status: cluster.status.map(|status| status.as_str().to_owned()),
            node_count: (!node_pools.is_empty()).then_some(node_count),
            node_pools,
            labels: cluster
                .tags
                .unwrap_or_default()
                .into_iter()
                .map(|(key, value)| (key, serde_json::Value::String(value)))
                .collect(),
            api_server: cluster.endpoint.map(|url| ApiServer {
                url,
                ca_certificate: cluster
                    .certificate_authority
                    .and_then(|authority| authority.data)
                    .and_then(|data| kubeconfig::decode_pem(&data, "certificateAuthority").ok()),
            }),
        })
    }

    async fn list_vms(
        &self,
        region: &str,
        pages: &mpsc::Sender<Page>,
    ) -> Result<(), ConnectorError> {
        let (credentials, _) = self.session().await?;
        let ec2 = aws_sdk_ec2::Client::new(&self.sdk_config(region, credentials.clone()));
        let mut next_token = None;
        loop {
            let described = self
                .guarded(
                    "ec2",
                    region,
                    "ec2:DescribeInstances",
                    ec2.describe_instances()
                        .max_results(EC2_PAGE)
                        .set_next_token(next_token.take())
                        .send(),
                )
                .await?;
            let page = described
                .reservations
                .unwrap_or_default()
                .into_iter()
                .flat_map(|reservation| reservation.instances.unwrap_or_default())
                .map(|instance| vm_record(instance, region))
                .collect();
            send(pages, Page::Vms(page)).await?;
            match described.next_token {
                Some(token) => next_token = Some(token),
                None => return Ok(()),
            }
        }
    }

    /// One check per permission the syncs need, in the first region (permissions are not
    /// regional in IAM).
    async fn checks(&self) -> Vec<ConnectionCheck> {
        let Some(region) = self.settings.regions.first() else {
            return vec![failed_check("regions", "name at least one region to list")];
        };
        let credentials = match self.session().await {
            Ok((credentials, _)) => credentials.clone(),
            Err(_) => return Vec::new(),
        };
        let config = self.sdk_config(region, credentials);
        let eks = aws_sdk_eks::Client::new(&config);
        let ec2 = aws_sdk_ec2::Client::new(&config);
        let mut checks = vec![
            check(
                "eks:ListClusters",
                region,
                eks.list_clusters().max_results(1).send().await,
            ),
            check(
                "ec2:DescribeInstances",
                region,
                ec2.describe_instances().max_results(5).send().await,
            ),
        ];
        if let Some(export) = &self.settings.bill_export {
            let s3 = aws_sdk_s3::Client::new(&config);
            checks.push(check(
                "s3:ListBucket",
                &export.bucket,
                s3.list_objects_v2()
                    .bucket(&export.bucket)
                    .prefix(&export.prefix)
                    .max_keys(1)
                    .send()
                    .await,
            ));
        }
        checks
    }

    /// The S3 client of the account's bill exports, in its first region.
    async fn s3(&self) -> Result<aws_sdk_s3::Client, ConnectorError> {
        let (credentials, _) = self.session().await?;
        let region = self
            .settings
            .regions
            .first()
            .map_or(STS_REGION, String::as_str);
        let config =
            aws_sdk_s3::config::Builder::from(&self.sdk_config(region, credentials.clone()))
                // Emulators and private endpoints serve buckets by path, not by host name.
                .force_path_style(self.settings.endpoint_url.is_some())
                .build();
        Ok(aws_sdk_s3::Client::from_conf(config))
    }
}

impl BillExportStore for AwsConnector {
    fn objects(&self) -> BoxFuture<'_, Result<Vec<ExportObject>, ConnectorError>> {
        async move {
            let Some(export) = &self.settings.bill_export else {
                return Ok(Vec::new());
            };
            let s3 = self.s3().await?;
            let mut objects = Vec::new();
            let mut token = None;
            loop {
                let listed = self
                    .guarded(
                        "s3",
                        &export.bucket,
                        "s3:ListBucket",
                        s3.list_objects_v2()
                            .bucket(&export.bucket)
                            .prefix(&export.prefix)
                            .set_continuation_token(token.take())
                            .send(),
                    )
                    .await?;
                objects.extend(listed.contents.unwrap_or_default().into_iter().filter_map(
                    |object| {
                        Some(ExportObject {
                            key: object.key?,
                            etag: object.e_tag.unwrap_or_default(),
                        })
                    },
                ));
                match listed.next_continuation_token {
                    Some(next) => token = Some(next),
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
            let s3 = self.s3().await?;
            let object = self
                .guarded(
                    "s3",
                    &export.bucket,
                    "s3:GetObject",
                    s3.get_object().bucket(&export.bucket).key(key).send(),
                )
                .await?;
            let failed = |err: std::io::Error| {
                ConnectorError::Unavailable(format!("{key} could not be saved: {err}"))
            };
            let mut file = tokio::fs::File::create(to).await.map_err(failed)?;
            // Streamed to disk: an export of any size never sits in memory.
            let mut body = object.body.into_async_read();
            tokio::io::copy(&mut body, &mut file)
                .await
                .map_err(failed)?;
            tokio::io::AsyncWriteExt::flush(&mut file)
                .await
                .map_err(failed)?;
            Ok(())
        }
        .boxed()
    }
}

impl Connector for AwsConnector {
    fn test(&self) -> BoxFuture<'_, ConnectionTest> {
        async move {
            let action = if self.settings.role_arn.is_some() {
                "sts:AssumeRole"
            } else {
                "sts:GetCallerIdentity"
            };
            let (identity, mut checks) = match self.session().await {
                Ok((_, identity)) => (
                    Some(identity.clone()),
                    vec![ConnectionCheck {
                        action: action.to_owned(),
                        ok: true,
                        message: None,
                    }],
                ),
                Err(err) => (None, vec![failed_check(action, &err.to_string())]),
            };
            if identity.is_some() {
                checks.extend(self.checks().await);
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
        async move { self.session().await.map(|(_, identity)| identity.clone()) }.boxed()
    }

    fn scopes(&self) -> Vec<Scope> {
        Scope::clusters_and_vms(&self.settings.regions)
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
                    ConnectorError::Misconfigured(format!("AWS does not list {}", scope.name())),
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
        async move {
            let (provider, _) = self.session().await?;
            let credentials = provider
                .provide_credentials()
                .await
                .map_err(|err| ConnectorError::Rejected(format!("AWS credentials: {err}")))?;
            let sts = match &self.settings.endpoint_url {
                Some(endpoint) => endpoint.clone(),
                None => format!("https://sts.{}.amazonaws.com/", cluster.region),
            };
            let token = eks_token(
                &credentials,
                &sts,
                &cluster.region,
                &cluster.name,
                std::time::SystemTime::now(),
            )?;
            cluster.access(ClientAuth::Token(token))
        }
        .boxed()
    }
}

/// How long an EKS token is good for; EKS itself accepts them for 15 minutes at most.
const EKS_TOKEN_LIFETIME: Duration = Duration::from_secs(60);

/// The bearer token EKS API servers take (as `aws eks get-token` makes it): `k8s-aws-v1.`
/// and the base64url of an STS `GetCallerIdentity` URL presigned with the credentials, the
/// cluster's name signed in as the `x-k8s-aws-id` header. The API server calls that URL to
/// learn who is asking; the secret never leaves Nimbus.
pub fn eks_token(
    credentials: &Credentials,
    sts_endpoint: &str,
    region: &str,
    cluster_name: &str,
    now: std::time::SystemTime,
) -> Result<String, ConnectorError> {
    use aws_sigv4::http_request::{
        SignableBody, SignableRequest, SignatureLocation, SigningSettings, sign,
    };
    let failed = |err: &dyn std::fmt::Display| {
        ConnectorError::Misconfigured(format!("cannot presign the EKS token: {err}"))
    };
    let mut url = reqwest::Url::parse(sts_endpoint).map_err(|err| failed(&err))?;
    url.query_pairs_mut()
        .append_pair("Action", "GetCallerIdentity")
        .append_pair("Version", "2011-06-15");
    let mut settings = SigningSettings::default();
    settings.signature_location = SignatureLocation::QueryParams;
    settings.expires_in = Some(EKS_TOKEN_LIFETIME);
    let identity = credentials.clone().into();
    let params = aws_sigv4::sign::v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name("sts")
        .time(now)
        .settings(settings)
        .build()
        .map_err(|err| failed(&err))?
        .into();
    let request = SignableRequest::new(
        "GET",
        url.as_str(),
        [("x-k8s-aws-id", cluster_name)].into_iter(),
        SignableBody::Bytes(&[]),
    )
    .map_err(|err| failed(&err))?;
    let (instructions, _signature) = sign(request, &params)
        .map_err(|err| failed(&err))?
        .into_parts();
    {
        let mut query = url.query_pairs_mut();
        for (name, value) in instructions.params() {
            query.append_pair(name, value);
        }
    }
    Ok(format!(
        "k8s-aws-v1.{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(url.as_str())
    ))
}

fn vm_record(instance: aws_sdk_ec2::types::Instance, region: &str) -> VmRecord {
    let tags = instance.tags.unwrap_or_default();
    let name = tags
        .iter()
        .find(|tag| tag.key.as_deref() == Some("Name"))
        .and_then(|tag| tag.value.clone());
    VmRecord {
        external_id: instance.instance_id.unwrap_or_default(),
        name,
        region: region.to_owned(),
        zone: instance
            .placement
            .and_then(|placement| placement.availability_zone),
        instance_type: instance.instance_type.map(|kind| kind.as_str().to_owned()),
        state: instance
            .state
            .and_then(|state| state.name)
            .map(|name| name.as_str().to_owned()),
        private_ip: instance.private_ip_address,
        labels: tags
            .into_iter()
            .filter_map(|tag| {
                Some((
                    tag.key?,
                    serde_json::Value::String(tag.value.unwrap_or_default()),
                ))
            })
            .collect(),
    }
}

async fn send(pages: &mpsc::Sender<Page>, page: Page) -> Result<(), ConnectorError> {
    pages
        .send(page)
        .await
        .map_err(|_| ConnectorError::Unavailable("the sync was stopped".into()))
}

/// Error codes by which AWS says the credential itself is no good.
const REJECTED_CODES: &[&str] = &[
    "InvalidClientTokenId",
    "UnrecognizedClientException",
    "AuthFailure",
    "SignatureDoesNotMatch",
    "ExpiredToken",
    "ExpiredTokenException",
    "InvalidAccessKeyId",
];

/// Error codes by which AWS says a permission is missing.
const FORBIDDEN_CODES: &[&str] = &[
    "AccessDenied",
    "AccessDeniedException",
    "UnauthorizedOperation",
    "UnauthorizedException",
];

fn classify<E: ProvideErrorMetadata + std::error::Error + 'static>(
    err: &SdkError<E, aws_smithy_runtime_api::http::Response>,
    action: &str,
    region: &str,
) -> ConnectorError {
    match err {
        SdkError::ServiceError(context) => {
            let code = context.err().code().unwrap_or("");
            let status = context.raw().status().as_u16();
            let message = context.err().message().map(shorten).unwrap_or_default();
            if REJECTED_CODES.contains(&code) || status == 401 {
                ConnectorError::Rejected(format!(
                    "AWS rejected the credential ({code}): replace the access key or check \
                     the role's trust policy"
                ))
            } else if FORBIDDEN_CODES.contains(&code) || status == 403 {
                ConnectorError::Forbidden(format!(
                    "missing permission {action} in {region}: allow it for Nimbus's role \
                     ({code}: {message})"
                ))
            } else {
                ConnectorError::Unavailable(format!(
                    "{action} in {region} failed with HTTP {status} {code}: {message}"
                ))
            }
        }
        SdkError::TimeoutError(_) => {
            ConnectorError::Unavailable(format!("{action} in {region} timed out"))
        }
        SdkError::DispatchFailure(failure) => ConnectorError::Unavailable(format!(
            "{action} in {region} could not reach AWS{}",
            if failure.is_timeout() {
                " (timeout)"
            } else {
                ""
            }
        )),
        _ => ConnectorError::Unavailable(format!(
            "{action} in {region} failed: {}",
            shorten(&err.to_string())
        )),
    }
}

/// At the identity step a refusal of any kind means the account cannot be used.
fn rejected_unless_transient<E: ProvideErrorMetadata + std::error::Error + 'static>(
    err: &SdkError<E, aws_smithy_runtime_api::http::Response>,
    action: &str,
) -> ConnectorError {
    match classify(err, action, "the account") {
        ConnectorError::Forbidden(message) => ConnectorError::Rejected(format!(
            "{action} was refused: the role must trust Nimbus's key and require the tenant's \
             external id ({message})"
        )),
        other => other,
    }
}

fn check<T, E: ProvideErrorMetadata + std::error::Error + 'static>(
    action: &str,
    region: &str,
    result: Result<T, SdkError<E, aws_smithy_runtime_api::http::Response>>,
) -> ConnectionCheck {
    match result {
        Ok(_) => ConnectionCheck {
            action: format!("{action} in {region}"),
            ok: true,
            message: None,
        },
        Err(err) => failed_check(
            &format!("{action} in {region}"),
            &classify(&err, action, region).to_string(),
        ),
    }
}

fn failed_check(action: &str, message: &str) -> ConnectionCheck {
    ConnectionCheck {
        action: action.to_owned(),
        ok: false,
        message: Some(message.to_owned()),
    }
}

/// Error messages are shown to users; keep them to a line.
fn shorten(message: &str) -> String {
    message.chars().take(300).collect()
}
