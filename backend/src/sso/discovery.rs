//! What the relying party knows of a provider (SECURITY.md 15): its discovery document,
//! fetched at every start and callback through the outbound policy (one small request that
//! also tells a person at once when the provider is down, and follows moved endpoints), and
//! its signing keys, kept per key-set URL. An ID token naming a key the kept set lacks
//! refetches the keys at most once per `sso_key_refetch_interval`, so forged tokens with
//! made-up key ids cannot make Nimbus hammer the provider.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use openidconnect::core::{
    CoreAuthDisplay, CoreClaimName, CoreClaimType, CoreClientAuthMethod, CoreGrantType,
    CoreJsonWebKey, CoreJsonWebKeySet, CoreJweContentEncryptionAlgorithm,
    CoreJweKeyManagementAlgorithm, CoreResponseMode, CoreResponseType, CoreSubjectIdentifierType,
};
use openidconnect::{
    AdditionalProviderMetadata, IssuerUrl, JsonWebKeySet, LogoutProviderMetadata, ProviderMetadata,
};
use serde::{Deserialize, Serialize};

use crate::http::outbound::describe;

/// Discovery and token calls to a provider.
const PROVIDER_TIMEOUT: Duration = Duration::from_secs(10);
/// The most read back from a provider: discovery documents, key sets, token and API answers
/// are a few KiB; a provider that sends more is not read into memory.
const MAX_ANSWER_BYTES: usize = 1024 * 1024;

/// Discovery fields beyond OIDC Discovery 1.0 that the relying party uses.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct IssParameter {
    /// RFC 9207: the provider names itself in every authorization response (`iss`).
    #[serde(default)]
    pub authorization_response_iss_parameter_supported: bool,
}

impl AdditionalProviderMetadata for IssParameter {}

/// A provider's discovery document, with RP-initiated logout's `end_session_endpoint`.
pub type Metadata = ProviderMetadata<
    LogoutProviderMetadata<IssParameter>,
    CoreAuthDisplay,
    CoreClientAuthMethod,
    CoreClaimName,
    CoreClaimType,
    CoreGrantType,
    CoreJweContentEncryptionAlgorithm,
    CoreJweKeyManagementAlgorithm,
    CoreJsonWebKey,
    CoreResponseMode,
    CoreResponseType,
    CoreSubjectIdentifierType,
>;

/// `openidconnect`'s HTTP client: the outbound policy's, with a deadline.
pub struct ProviderHttp(pub reqwest::Client);

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ProviderHttpError(String);

/// A provider's answer, read up to [`MAX_ANSWER_BYTES`].
pub async fn body_of(mut answer: reqwest::Response) -> Result<Vec<u8>, ProviderHttpError> {
    let mut body = Vec::new();
    while let Some(chunk) = answer
        .chunk()
        .await
        .map_err(|err| ProviderHttpError(err.without_url().to_string()))?
    {
        if body.len() + chunk.len() > MAX_ANSWER_BYTES {
            return Err(ProviderHttpError(format!(
                "the answer exceeds {MAX_ANSWER_BYTES} bytes"
            )));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

impl<'c> openidconnect::AsyncHttpClient<'c> for ProviderHttp {
    type Error = ProviderHttpError;
    type Future = std::pin::Pin<
        Box<dyn Future<Output = Result<openidconnect::HttpResponse, Self::Error>> + Send + 'c>,
    >;

    fn call(&'c self, request: openidconnect::HttpRequest) -> Self::Future {
        Box::pin(async move {
            let failed = |err: reqwest::Error| ProviderHttpError(err.without_url().to_string());
            let answer = self
                .0
                .request(request.method().clone(), request.uri().to_string())
                .headers(request.headers().clone())
                .body(request.body().clone())
                .timeout(PROVIDER_TIMEOUT)
                .send()
                .await
                .map_err(failed)?;
            let status = answer.status();
            let headers = answer.headers().clone();
            let body = body_of(answer).await?;
            let mut response = openidconnect::HttpResponse::new(body);
            *response.status_mut() = status;
            *response.headers_mut() = headers;
            Ok(response)
        })
    }
}

/// Why a provider's documents could not be had; the text names what failed.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct DiscoveryError(String);

struct KeptKeys {
    keys: CoreJsonWebKeySet,
    fetched_at: Instant,
}

/// The signing keys of every provider this process has talked to, by key-set URL.
pub struct Discovery {
    keys_lifetime: Duration,
    refetch_interval: Duration,
    kept: Mutex<HashMap<String, KeptKeys>>,
}

impl Discovery {
    #[must_use]
    pub fn new(keys_lifetime: Duration, refetch_interval: Duration) -> Self {
        Self {
            keys_lifetime,
            refetch_interval,
            kept: Mutex::default(),
        }
    }

    fn kept(&self) -> std::sync::MutexGuard<'_, HashMap<String, KeptKeys>> {
        self.kept.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The provider's discovery document, which must name exactly `issuer`, with its keys.
    pub async fn metadata(
        &self,
        http: &ProviderHttp,
        issuer: &IssuerUrl,
    ) -> Result<Metadata, DiscoveryError> {
        let url = format!(
            "{}/.well-known/openid-configuration",
            issuer.as_str().trim_end_matches('/')
        );
        let failed = |err: reqwest::Error| DiscoveryError(describe(&err.without_url()));
        let answer = http
            .0
            .get(&url)
            .timeout(PROVIDER_TIMEOUT)
            .send()
            .await
            .map_err(failed)?
            .error_for_status()
            .map_err(failed)?;
        let document = body_of(answer)
            .await
            .map_err(|err| DiscoveryError(err.to_string()))?;
        let metadata: Metadata = serde_json::from_slice(&document)
            .map_err(|err| DiscoveryError(format!("its discovery document is not valid: {err}")))?;
        if metadata.issuer() != issuer {
            return Err(DiscoveryError(format!(
                "its discovery document names the issuer {}, not {}",
                metadata.issuer().as_str(),
                issuer.as_str()
            )));
        }
        let jwks_uri = metadata.jwks_uri().to_string();
        let kept = self.kept().get(&jwks_uri).and_then(|kept| {
            (kept.fetched_at.elapsed() < self.keys_lifetime).then(|| kept.keys.clone())
        });
        let keys = match kept {
            Some(keys) => keys,
            None => self.fetch_keys(http, &metadata).await?,
        };
        Ok(metadata.set_jwks(keys))
    }

    async fn fetch_keys(
        &self,
        http: &ProviderHttp,
        metadata: &Metadata,
    ) -> Result<CoreJsonWebKeySet, DiscoveryError> {
        let keys = JsonWebKeySet::fetch_async(metadata.jwks_uri(), http)
            .await
            .map_err(|err| DiscoveryError(describe(&err)))?;
        let now = Instant::now();
        let mut kept = self.kept();
        kept.retain(|_, kept| now.duration_since(kept.fetched_at) < self.keys_lifetime);
        kept.insert(
            metadata.jwks_uri().to_string(),
            KeptKeys {
                keys: keys.clone(),
                fetched_at: now,
            },
        );
        Ok(keys)
    }

    /// `metadata` with its keys fetched again after a token named a key they lack — or `None`
    /// when they were fetched less than the refetch interval ago.
    pub async fn refetch_keys(
        &self,
        http: &ProviderHttp,
        metadata: &Metadata,
    ) -> Result<Option<Metadata>, DiscoveryError> {
        {
            let mut kept = self.kept();
            let jwks_uri = metadata.jwks_uri().to_string();
            if let Some(kept) = kept.get_mut(&jwks_uri) {
                if kept.fetched_at.elapsed() < self.refetch_interval {
                    return Ok(None);
                }
                // Claimed before the fetch, so concurrent callbacks do not fetch side by side.
                kept.fetched_at = Instant::now();
            }
        }
        let keys = self.fetch_keys(http, metadata).await?;
        Ok(Some(metadata.clone().set_jwks(keys)))
    }
}
