//! Cloud accounts: settings checked on the way in, credentials sealed (`secrets.rs`) and never
//! read back out except to build a connector.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use nimbus_api_types::ErrorCode;
use nimbus_api_types::clouds::{
    AccountStatus, CloudAccount, CloudAccountInput, CloudCredentials, CloudProvider, CloudSettings,
    KubernetesSettings,
};
use nimbus_api_types::ids::{CloudAccountId, ProjectId, TenantId};
use sqlx::PgConnection;

use super::alibaba::{self, AlibabaConnector};
use super::aws::{AccessKey, AwsConnector};
use super::azure::{self, AzureAccount, AzureConnector, ClientCredential};
use super::connector::{Connector, ConnectorError};
use super::gcp::{self, GcpConnector};
use super::kubeconfig::{self, ClientAuth};
use super::kubernetes::{KubernetesAccount, KubernetesConnector};
use crate::error::AppError;
use crate::http::outbound::Outbound;
use crate::secrets::{Binding, Sealed};
use crate::state::AppState;

/// What the credential of an account is bound to.
const PURPOSE: &str = "cloud-account-credential";
const DEFAULT_INTERVAL_MINUTES: u32 = 15;

fn binding(tenant: TenantId, id: CloudAccountId) -> Binding<'static> {
    Binding {
        purpose: PURPOSE,
        tenant,
        record: id.0,
    }
}

fn invalid(message: impl Into<String>) -> AppError {
    AppError::new(ErrorCode::ValidationFailed, message.into())
}

/// An input whose settings passed every check, with the settings as they are stored (a
/// kubeconfig's server and authority filled in).
pub struct Checked<'a> {
    input: &'a CloudAccountInput,
    settings: CloudSettings,
    interval_seconds: i32,
}

/// Checks names, regions, ARNs and endpoints (against the outbound policy), and that the
/// credential fits the provider.
pub fn check<'a>(
    input: &'a CloudAccountInput,
    outbound: &Outbound,
    creating: bool,
) -> Result<Checked<'a>, AppError> {
    let name = input.name.trim();
    if name.is_empty() || name.chars().count() > 200 || name != input.name {
        return Err(invalid(
            "name: 1 to 200 characters without leading or trailing spaces",
        ));
    }
    let minutes = input
        .sync_interval_minutes
        .unwrap_or(DEFAULT_INTERVAL_MINUTES);
    if !(5..=1440).contains(&minutes) {
        return Err(invalid("sync_interval_minutes: between 5 and 1440"));
    }
    let mut settings = input.settings.clone();
    match &mut settings {
        CloudSettings::Aws(aws) => {
            check_regions(&aws.regions, "an AWS region name, e.g. eu-west-1")?;
            if let Some(role) = &aws.role_arn {
                let parts: Vec<&str> = role.split(':').collect();
                let well_formed = parts.len() == 6
                    && parts[0] == "arn"
                    && parts[2] == "iam"
                    && parts[4].len() == 12
                    && parts[4].chars().all(|c| c.is_ascii_digit())
                    && parts[5].starts_with("role/");
                if !well_formed {
                    return Err(invalid(
                        "role_arn: expected arn:aws:iam::123456789012:role/NAME",
                    ));
                }
            }
            check_endpoint(outbound, "endpoint_url", aws.endpoint_url.as_deref())?;
            if let Some(export) = &aws.bill_export {
                check_bucket(
                    "bill_export.bucket",
                    &export.bucket,
                    63,
                    "an S3 bucket name",
                )?;
            }
        }
        CloudSettings::Azure(azure) => {
            let guid = |text: &str| uuid::Uuid::parse_str(text).is_ok();
            if !guid(&azure.directory_id) {
                return Err(invalid(
                    "directory_id: the Microsoft Entra tenant id, a GUID such as \
                     72f988bf-86f1-41af-91ab-2d7cd011db47",
                ));
            }
            if azure.subscription_ids.is_empty() || azure.subscription_ids.len() > 100 {
                return Err(invalid("subscription_ids: name 1 to 100 subscriptions"));
            }
            if let Some(bad) = azure.subscription_ids.iter().find(|id| !guid(id)) {
                return Err(invalid(format!(
                    "subscription_ids: {bad:?} is not a subscription id (a GUID)"
                )));
            }
            check_endpoint(outbound, "authority_url", azure.authority_url.as_deref())?;
            check_endpoint(
                outbound,
                "resource_manager_url",
                azure.resource_manager_url.as_deref(),
            )?;
            if let Some(export) = &azure.bill_export {
                check_endpoint(
                    outbound,
                    "bill_export.storage_url",
                    Some(&export.storage_url),
                )?;
                check_bucket(
                    "bill_export.container",
                    &export.container,
                    63,
                    "a Blob container name",
                )?;
            }
        }
        CloudSettings::Gcp(gcp) => {
            if gcp.project_ids.len() > 100 {
                return Err(invalid("project_ids: at most 100 projects"));
            }
            // Project ids: 6 to 30 lowercase letters, digits and hyphens, starting with a letter.
            let plausible = |id: &String| {
                (6..=30).contains(&id.len())
                    && id.starts_with(|c: char| c.is_ascii_lowercase())
                    && id
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            };
            if let Some(bad) = gcp.project_ids.iter().find(|id| !plausible(id)) {
                return Err(invalid(format!(
                    "project_ids: {bad:?} is not a Google Cloud project id"
                )));
            }
            check_endpoint(outbound, "endpoint_url", gcp.endpoint_url.as_deref())?;
            if let Some(export) = &gcp.bill_export {
                check_endpoint(
                    outbound,
                    "bill_export.storage_url",
                    export.storage_url.as_deref(),
                )?;
                check_bucket(
                    "bill_export.bucket",
                    &export.bucket,
                    222,
                    "a Cloud Storage bucket name",
                )?;
            }
            if let Some(CloudCredentials::GcpServiceAccountKey { key }) = &input.credentials {
                let key = gcp::ServiceAccountKey::parse(key)
                    .map_err(|why| invalid(format!("credentials: {why}")))?;
                outbound
                    .check_url(&key.token_uri)
                    .map_err(|err| invalid(format!("credentials: the key's token_uri: {err}")))?;
                if gcp.project_ids.is_empty() {
                    gcp.project_ids.extend(key.project_id);
                }
            }
            if gcp.project_ids.is_empty() {
                return Err(invalid("project_ids: name the projects to list"));
            }
        }
        CloudSettings::Alibaba(alibaba) => {
            check_regions(
                &alibaba.regions,
                "an Alibaba Cloud region name, e.g. cn-hangzhou",
            )?;
            check_endpoint(outbound, "endpoint_url", alibaba.endpoint_url.as_deref())?;
        }
        CloudSettings::Kubernetes(kubernetes) => {
            check_kubernetes(kubernetes, input.credentials.as_ref(), outbound)?;
        }
    }
    match &input.credentials {
        None if creating => {
            return Err(invalid("credentials: required to connect an account"));
        }
        None => {}
        Some(credentials) => {
            if credentials.provider() != input.settings.provider() {
                return Err(invalid(format!(
                    "credentials: not a credential for {}",
                    input.settings.provider().as_str()
                )));
            }
            match credentials {
                CloudCredentials::AwsAccessKey {
                    access_key_id,
                    secret_access_key,
                } => {
                    if access_key_id.len() < 16 || secret_access_key.len() < 16 {
                        return Err(invalid("credentials: an AWS access key id and its secret"));
                    }
                }
                CloudCredentials::KubernetesToken { token } => {
                    if token.trim().is_empty() || token.len() > 16 * 1024 {
                        return Err(invalid("credentials: a service-account token"));
                    }
                }
                CloudCredentials::AzureClientSecret {
                    client_id,
                    client_secret,
                } => {
                    check_client_id(client_id)?;
                    if client_secret.trim().is_empty() || client_secret.len() > 1024 {
                        return Err(invalid("credentials: the app's client secret (its value)"));
                    }
                }
                CloudCredentials::AzureClientCertificate {
                    client_id,
                    certificate,
                    private_key,
                } => {
                    check_client_id(client_id)?;
                    if azure::certificate_der(certificate).is_none() {
                        return Err(invalid("credentials: certificate is not a PEM certificate"));
                    }
                    if jsonwebtoken::EncodingKey::from_rsa_pem(private_key.as_bytes()).is_err() {
                        return Err(invalid(
                            "credentials: private_key is not an RSA private key in PEM",
                        ));
                    }
                }
                CloudCredentials::AlibabaAccessKey {
                    access_key_id,
                    access_key_secret,
                } => {
                    let printable = |text: &str| text.chars().all(|c| c.is_ascii_graphic());
                    if !(16..=128).contains(&access_key_id.len())
                        || !printable(access_key_id)
                        || !(16..=128).contains(&access_key_secret.len())
                        || !printable(access_key_secret)
                    {
                        return Err(invalid(
                            "credentials: an Alibaba Cloud AccessKey id and its secret",
                        ));
                    }
                }
                // Checked with the settings they fill in.
                CloudCredentials::Kubeconfig { .. }
                | CloudCredentials::GcpServiceAccountKey { .. } => {}
            }
        }
    }
    Ok(Checked {
        input,
        settings,
        interval_seconds: i32::try_from(minutes * 60).unwrap_or(900),
    })
}

fn check_regions(regions: &[String], what: &str) -> Result<(), AppError> {
    if regions.is_empty() || regions.len() > 40 {
        return Err(invalid(format!("regions: name 1 to 40 regions ({what})")));
    }
    for region in regions {
        let plausible = !region.is_empty()
            && region.len() <= 30
            && region
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if !plausible {
            return Err(invalid(format!("regions: {region:?} is not {what}")));
        }
    }
    Ok(())
}

/// An endpoint override must pass the outbound policy like any user-supplied URL.
fn check_endpoint(outbound: &Outbound, field: &str, given: Option<&str>) -> Result<(), AppError> {
    match given {
        Some(url) => outbound
            .check_url(url)
            .map(drop)
            .map_err(|err| invalid(format!("{field}: {err}"))),
        None => Ok(()),
    }
}

/// Bucket and container names: lowercase letters, digits, `-`, `.` and `_`, 3 to `max` long.
fn check_bucket(field: &str, name: &str, max: usize, what: &str) -> Result<(), AppError> {
    let plausible = (3..=max).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '.' | '_'));
    if plausible {
        Ok(())
    } else {
        Err(invalid(format!("{field}: {name:?} is not {what}")))
    }
}

fn check_client_id(client_id: &str) -> Result<(), AppError> {
    if uuid::Uuid::parse_str(client_id).is_err() {
        return Err(invalid(
            "credentials: client_id is the app's Application (client) ID, a GUID",
        ));
    }
    Ok(())
}

/// A Kubernetes account needs an API server (given, or from the kubeconfig) the outbound
/// policy allows, and a CA that parses; a kubeconfig must pass `kubeconfig::resolve`.
fn check_kubernetes(
    settings: &mut KubernetesSettings,
    credentials: Option<&CloudCredentials>,
    outbound: &Outbound,
) -> Result<(), AppError> {
    if let Some(CloudCredentials::Kubeconfig {
        kubeconfig,
        context,
    }) = credentials
    {
        let resolved = kubeconfig::resolve(kubeconfig, context.as_deref())
            .map_err(|why| invalid(format!("credentials: {why}")))?;
        settings.api_server.get_or_insert(resolved.server);
        if settings.ca_certificate.is_none() {
            settings.ca_certificate = resolved.ca_certificate;
        }
    }
    let server = settings.api_server.as_deref().ok_or_else(|| {
        invalid(
            "api_server: the URL of the cluster's API server, e.g. https://k8s.example.com:6443",
        )
    })?;
    outbound
        .check_url(server)
        .map_err(|err| invalid(format!("api_server: {err}")))?;
    if let Some(pem) = &settings.ca_certificate {
        let parsed = reqwest::Certificate::from_pem_bundle(pem.as_bytes());
        if !parsed.is_ok_and(|certificates| !certificates.is_empty()) {
            return Err(invalid("ca_certificate: one or more PEM certificates"));
        }
    }
    if let Some(region) = &settings.region
        && (region.trim().is_empty() || region.chars().count() > 64)
    {
        return Err(invalid("region: 1 to 64 characters"));
    }
    Ok(())
}

/// Creates the account with its sealed credential.
pub async fn create(
    conn: &mut PgConnection,
    state: &AppState,
    tenant: TenantId,
    checked: &Checked<'_>,
) -> Result<CloudAccountId, AppError> {
    let id = CloudAccountId(uuid::Uuid::now_v7());
    let input = checked.input;
    let settings = serde_json::to_value(&checked.settings).map_err(AppError::internal)?;
    sqlx::query!(
        "INSERT INTO cloud_accounts (id, tenant_id, project_id, name, provider, settings,
                                     sync_interval_seconds)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
        id.0,
        tenant.0,
        input.project_id.map(|p| p.0),
        input.name,
        input.settings.provider().as_str(),
        settings,
        checked.interval_seconds,
    )
    .execute(&mut *conn)
    .await
    .map_err(|err| {
        AppError::constraint(
            err,
            Some("a cloud account with this name exists"),
            Some("project_id: no such project in this tenant"),
        )
    })?;
    if let Some(credentials) = &input.credentials {
        store_credential(conn, state, tenant, id, credentials).await?;
    }
    Ok(id)
}

/// Replaces settings (and the credential when one is given). A changed account is synced
/// anew: its pause is lifted and its next sync is due now.
pub async fn update(
    conn: &mut PgConnection,
    state: &AppState,
    tenant: TenantId,
    id: CloudAccountId,
    checked: &Checked<'_>,
) -> Result<(), AppError> {
    let input = checked.input;
    let current = get(conn, tenant, id).await?;
    if current.provider != input.settings.provider() {
        return Err(invalid(
            "settings: the provider of an account cannot change",
        ));
    }
    let settings = serde_json::to_value(&checked.settings).map_err(AppError::internal)?;
    sqlx::query!(
        "UPDATE cloud_accounts
         SET name = $3, project_id = $4, settings = $5, sync_interval_seconds = $6,
             status = CASE WHEN status = 'paused' THEN 'pending' ELSE status END,
             status_reason = CASE WHEN status = 'paused' THEN NULL ELSE status_reason END,
             next_sync_at = now(), updated_at = now()
         WHERE tenant_id = $1 AND id = $2",
        tenant.0,
        id.0,
        input.name,
        input.project_id.map(|p| p.0),
        settings,
        checked.interval_seconds,
    )
    .execute(&mut *conn)
    .await
    .map_err(|err| {
        AppError::constraint(
            err,
            Some("a cloud account with this name exists"),
            Some("project_id: no such project in this tenant"),
        )
    })?;
    if let Some(credentials) = &input.credentials {
        store_credential(conn, state, tenant, id, credentials).await?;
    }
    Ok(())
}

async fn store_credential(
    conn: &mut PgConnection,
    state: &AppState,
    tenant: TenantId,
    id: CloudAccountId,
    credentials: &CloudCredentials,
) -> Result<(), AppError> {
    let plaintext = serde_json::to_vec(credentials).map_err(AppError::internal)?;
    let sealed = state
        .secrets
        .seal(&plaintext, binding(tenant, id))
        .map_err(AppError::internal)?;
    sqlx::query!(
        "UPDATE cloud_accounts
         SET credential_key_version = $3, credential_wrapped_key = $4, credential = $5,
             credential_updated_at = now()
         WHERE tenant_id = $1 AND id = $2",
        tenant.0,
        id.0,
        sealed.key_version,
        sealed.wrapped_key,
        sealed.ciphertext,
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// The account's sealed credential, if it has one.
async fn sealed_credential(
    conn: &mut PgConnection,
    tenant: TenantId,
    id: CloudAccountId,
) -> Result<Option<Sealed>, AppError> {
    let row = sqlx::query!(
        r#"SELECT credential_key_version AS "key_version?", credential_wrapped_key AS "wrapped_key?",
                  credential AS "ciphertext?"
           FROM cloud_accounts WHERE tenant_id = $1 AND id = $2"#,
        tenant.0,
        id.0,
    )
    .fetch_optional(&mut *conn)
    .await?
    .ok_or_else(not_found)?;
    Ok(match (row.key_version, row.wrapped_key, row.ciphertext) {
        (Some(key_version), Some(wrapped_key), Some(ciphertext)) => Some(Sealed {
            key_version,
            wrapped_key,
            ciphertext,
        }),
        _ => None,
    })
}

pub fn not_found() -> AppError {
    AppError::new(ErrorCode::NotFound, "no such cloud account")
}

struct AccountRow {
    id: uuid::Uuid,
    name: String,
    provider: String,
    project_id: Option<uuid::Uuid>,
    settings: serde_json::Value,
    external_id: String,
    credential_updated_at: Option<DateTime<Utc>>,
    status: String,
    status_reason: Option<String>,
    sync_interval_seconds: i32,
    last_contact_at: Option<DateTime<Utc>>,
    last_success_at: Option<DateTime<Utc>>,
    next_sync_at: DateTime<Utc>,
    created_at: DateTime<Utc>,
}

impl AccountRow {
    fn into_account(self) -> Result<CloudAccount, AppError> {
        let provider = CloudProvider::from_name(&self.provider)
            .ok_or_else(|| AppError::internal(format!("unknown provider {}", self.provider)))?;
        Ok(CloudAccount {
            id: CloudAccountId(self.id),
            name: self.name,
            provider,
            project_id: self.project_id.map(ProjectId),
            settings: serde_json::from_value(self.settings).map_err(AppError::internal)?,
            external_id: (provider == CloudProvider::Aws).then_some(self.external_id),
            credential_updated_at: self.credential_updated_at,
            status: AccountStatus::from_name(&self.status)
                .ok_or_else(|| AppError::internal(format!("unknown status {}", self.status)))?,
            status_reason: self.status_reason,
            sync_interval_minutes: u32::try_from(self.sync_interval_seconds / 60).unwrap_or(0),
            last_contact_at: self.last_contact_at,
            last_success_at: self.last_success_at,
            next_sync_at: self.next_sync_at,
            created_at: self.created_at,
        })
    }
}

pub async fn list(
    conn: &mut PgConnection,
    tenant: TenantId,
) -> Result<Vec<CloudAccount>, AppError> {
    sqlx::query_as!(
        AccountRow,
        "SELECT a.id, a.name, a.provider, a.project_id, a.settings, t.aws_external_id AS external_id,
                a.credential_updated_at, a.status, a.status_reason, a.sync_interval_seconds,
                a.last_contact_at, a.last_success_at, a.next_sync_at, a.created_at
         FROM cloud_accounts a JOIN tenants t ON t.id = a.tenant_id
         WHERE a.tenant_id = $1 ORDER BY a.name",
        tenant.0,
    )
    .fetch_all(&mut *conn)
    .await?
    .into_iter()
    .map(AccountRow::into_account)
    .collect()
}

pub async fn get(
    conn: &mut PgConnection,
    tenant: TenantId,
    id: CloudAccountId,
) -> Result<CloudAccount, AppError> {
    sqlx::query_as!(
        AccountRow,
        "SELECT a.id, a.name, a.provider, a.project_id, a.settings, t.aws_external_id AS external_id,
                a.credential_updated_at, a.status, a.status_reason, a.sync_interval_seconds,
                a.last_contact_at, a.last_success_at, a.next_sync_at, a.created_at
         FROM cloud_accounts a JOIN tenants t ON t.id = a.tenant_id
         WHERE a.tenant_id = $1 AND a.id = $2",
        tenant.0,
        id.0,
    )
    .fetch_optional(&mut *conn)
    .await?
    .ok_or_else(not_found)?
    .into_account()
}

pub async fn delete(
    conn: &mut PgConnection,
    tenant: TenantId,
    id: CloudAccountId,
) -> Result<(), AppError> {
    let deleted = sqlx::query!(
        "DELETE FROM cloud_accounts WHERE tenant_id = $1 AND id = $2",
        tenant.0,
        id.0,
    )
    .execute(&mut *conn)
    .await?;
    if deleted.rows_affected() == 0 {
        return Err(not_found());
    }
    Ok(())
}

/// A connector for the account with its credential opened — checked anew on every use (the
/// caller has just proven its access to the account in `conn`'s tenant).
pub async fn connector(
    conn: &mut PgConnection,
    state: &AppState,
    tenant: TenantId,
    id: CloudAccountId,
) -> Result<Result<Box<dyn Connector>, ConnectorError>, AppError> {
    let account = get(conn, tenant, id).await?;
    let Some(sealed) = sealed_credential(conn, tenant, id).await? else {
        return Ok(Err(ConnectorError::Misconfigured(
            "the account has no credential".into(),
        )));
    };
    // A credential that does not open (another row's ciphertext, a damaged byte, a retired
    // master key) is the account's problem, not the server's: the sync says so.
    let opened = state
        .secrets
        .open(&sealed, binding(tenant, id))
        .ok()
        .and_then(|plaintext| serde_json::from_slice::<CloudCredentials>(&plaintext).ok());
    let Some(credentials) = opened else {
        return Ok(Err(ConnectorError::Misconfigured(
            "the stored credential could not be decrypted: enter it again".into(),
        )));
    };
    let Some(outbound) = state.outbound.as_deref() else {
        return Ok(Err(ConnectorError::Misconfigured(
            "outbound HTTP calls are unavailable on this server".into(),
        )));
    };
    let limits = &state.config.clouds;
    let breakers = Arc::clone(&state.breakers);
    Ok(match (account.settings, credentials) {
        (
            CloudSettings::Aws(settings),
            CloudCredentials::AwsAccessKey {
                access_key_id,
                secret_access_key,
            },
        ) => AwsConnector::new(
            id,
            settings,
            account.external_id.unwrap_or_default(),
            AccessKey {
                id: access_key_id,
                secret: secret_access_key,
            },
            outbound,
            limits,
            breakers,
        )
        .map(|connector| Box::new(connector) as Box<dyn Connector>),
        (CloudSettings::Kubernetes(settings), credentials) => {
            let auth = match credentials {
                CloudCredentials::KubernetesToken { token } => Ok(ClientAuth::Token(token)),
                CloudCredentials::Kubeconfig {
                    kubeconfig,
                    context,
                } => kubeconfig::resolve(&kubeconfig, context.as_deref())
                    .map(|resolved| resolved.auth)
                    .map_err(ConnectorError::Misconfigured),
                _ => Err(mismatched()),
            };
            auth.and_then(|auth| {
                KubernetesConnector::new(
                    KubernetesAccount {
                        id,
                        name: account.name,
                        settings,
                        auth,
                    },
                    outbound,
                    limits,
                    breakers,
                )
            })
            .map(|connector| Box::new(connector) as Box<dyn Connector>)
        }
        (CloudSettings::Azure(settings), credentials) => {
            let (client_id, credential) = match credentials {
                CloudCredentials::AzureClientSecret {
                    client_id,
                    client_secret,
                } => (client_id, ClientCredential::Secret(client_secret)),
                CloudCredentials::AzureClientCertificate {
                    client_id,
                    certificate,
                    private_key,
                } => (
                    client_id,
                    ClientCredential::Certificate {
                        certificate,
                        private_key,
                    },
                ),
                _ => return Ok(Err(mismatched())),
            };
            AzureConnector::new(
                AzureAccount {
                    id,
                    settings,
                    client_id,
                    credential,
                },
                outbound,
                limits,
                breakers,
            )
            .map(|connector| Box::new(connector) as Box<dyn Connector>)
        }
        (CloudSettings::Gcp(settings), CloudCredentials::GcpServiceAccountKey { key }) => {
            gcp::ServiceAccountKey::parse(&key)
                .map_err(ConnectorError::Misconfigured)
                .and_then(|key| GcpConnector::new(id, settings, key, outbound, limits, breakers))
                .map(|connector| Box::new(connector) as Box<dyn Connector>)
        }
        (
            CloudSettings::Alibaba(settings),
            CloudCredentials::AlibabaAccessKey {
                access_key_id,
                access_key_secret,
            },
        ) => AlibabaConnector::new(
            id,
            settings,
            alibaba::AccessKey {
                id: access_key_id,
                secret: access_key_secret,
            },
            outbound,
            limits,
            breakers,
        )
        .map(|connector| Box::new(connector) as Box<dyn Connector>),
        (CloudSettings::Aws(_) | CloudSettings::Gcp(_) | CloudSettings::Alibaba(_), _) => {
            Err(mismatched())
        }
    })
}

fn mismatched() -> ConnectorError {
    ConnectorError::Misconfigured(
        "the stored credential is for another provider: enter it again".into(),
    )
}

/// Cloud credentials, as `nimbus admin rewrap-secrets` re-wraps them.
pub struct Credentials;

impl crate::admin::SealedSecrets for Credentials {
    type Id = CloudAccountId;
    const ACTION: &'static str = "cloud_account.rewrap";
    const TARGET: &'static str = "cloud_account";

    fn binding(tenant: TenantId, id: CloudAccountId) -> Binding<'static> {
        binding(tenant, id)
    }

    async fn stale(
        conn: &mut PgConnection,
        tenant: TenantId,
        current: i32,
    ) -> Result<Vec<(CloudAccountId, Sealed)>, sqlx::Error> {
        let rows = sqlx::query!(
            r#"SELECT id, credential_key_version AS "key_version!", credential_wrapped_key AS "wrapped_key!",
                      credential AS "ciphertext!"
               FROM cloud_accounts
               WHERE tenant_id = $1 AND credential IS NOT NULL AND credential_key_version <> $2
               FOR UPDATE"#,
            tenant.0,
            current,
        )
        .fetch_all(conn)
        .await?;
        Ok(rows
            .into_iter()
            .map(|row| {
                let sealed = Sealed {
                    key_version: row.key_version,
                    wrapped_key: row.wrapped_key,
                    ciphertext: row.ciphertext,
                };
                (CloudAccountId(row.id), sealed)
            })
            .collect())
    }

    async fn store(
        conn: &mut PgConnection,
        tenant: TenantId,
        id: CloudAccountId,
        fresh: &Sealed,
    ) -> Result<(), sqlx::Error> {
        sqlx::query!(
            "UPDATE cloud_accounts SET credential_key_version = $3, credential_wrapped_key = $4
             WHERE tenant_id = $1 AND id = $2",
            tenant.0,
            id.0,
            fresh.key_version,
            fresh.wrapped_key,
        )
        .execute(conn)
        .await?;
        Ok(())
    }
}
