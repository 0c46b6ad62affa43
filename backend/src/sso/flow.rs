//! The relying party (SECURITY.md 14–16): `GET /api/v1/auth/sso/start` sends the browser to
//! the tenant's provider with the authorization-code flow, PKCE S256, and a `state` and
//! `nonce` that are single-use, expire within ten minutes and are bound to the browser by a
//! cookie; the sign-in in flight is a row of `sso_logins`, found again by the hash of `state`.
//! The provider's discovery document comes through the outbound policy, and its issuer must
//! be exactly the configured one (`openidconnect` checks it).

use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use nimbus_api_types::ErrorCode;
use nimbus_api_types::ids::{IdentityProviderId, TenantId};
use nimbus_api_types::sso::same_site_path;
use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreProviderMetadata};
use openidconnect::{
    ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce, PkceCodeChallenge, RedirectUrl, Scope,
};
use serde::Deserialize;

use super::providers::{self, CALLBACK_PATH};
use crate::auth::secret::{NewSecret, SecretHash, SecretKind};
use crate::db;
use crate::error::AppError;
use crate::http::extract::Query;
use crate::state::AppState;

/// How long a sign-in may take at the provider.
const LOGIN_LIFETIME: Duration = Duration::from_secs(600);
/// Discovery and token calls to a provider.
const PROVIDER_TIMEOUT: Duration = Duration::from_secs(10);
/// The cookie that binds a sign-in in flight to the browser that started it.
pub const BROWSER_COOKIE: &str = "__Host-nimbus_sso";

/// `openidconnect`'s HTTP client: the outbound policy's, with a deadline.
pub struct ProviderHttp(pub reqwest::Client);

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ProviderHttpError(String);

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
            let body = answer.bytes().await.map_err(failed)?.to_vec();
            let mut response = openidconnect::HttpResponse::new(body);
            *response.status_mut() = status;
            *response.headers_mut() = headers;
            Ok(response)
        })
    }
}

/// Where a sign-in starts.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct StartQuery {
    /// The tenant's slug.
    pub tenant: String,
    /// One of the tenant's enabled providers.
    pub provider: IdentityProviderId,
    /// A path of this site to return to (default `/`).
    pub next: Option<String>,
}

fn unavailable(message: String) -> AppError {
    AppError::new(ErrorCode::ServiceUnavailable, message)
}

/// Sends the browser to the provider's sign-in.
#[utoipa::path(get, path = "/api/v1/auth/sso/start", tag = "sso", params(StartQuery),
    responses(
        (status = 303, description = "To the provider; `Set-Cookie` binds the sign-in to this browser"),
        (status = 404, description = "No such tenant, or no such enabled provider", body = nimbus_api_types::ErrorBody),
        (status = 422, description = "`next` is not a path of this site", body = nimbus_api_types::ErrorBody),
        (status = 503, description = "The provider cannot be reached", body = nimbus_api_types::ErrorBody),
    ))]
pub async fn start(
    State(state): State<AppState>,
    Query(query): Query<StartQuery>,
) -> Result<Response, AppError> {
    let next = query.next.as_deref().unwrap_or("/");
    if !same_site_path(next) {
        return Err(AppError::new(
            ErrorCode::ValidationFailed,
            "next: a path of this site, such as /clusters",
        ));
    }
    let no_provider = || AppError::new(ErrorCode::NotFound, "no such sign-in provider");
    let tenant = sqlx::query_scalar!("SELECT id FROM tenants WHERE slug = $1", query.tenant)
        .fetch_optional(&state.db)
        .await?
        .map(TenantId)
        .ok_or_else(no_provider)?;
    let provider = {
        let mut tx = db::begin_for_tenant(&state.db, tenant).await?;
        let provider = providers::sign_in_settings(&mut tx, &state, tenant, query.provider).await?;
        db::finish_read(tx);
        provider
            .filter(|provider| provider.enabled)
            .ok_or_else(no_provider)?
    };
    let outbound = state
        .outbound
        .as_deref()
        .ok_or_else(|| unavailable("outbound HTTP calls are unavailable on this server".into()))?;
    let http = ProviderHttp(
        outbound
            .builder()
            .build()
            .map_err(|err| unavailable(format!("cannot set up TLS: {err}")))?,
    );
    let Some(issuer) = provider.issuer.clone() else {
        return Err(AppError::new(
            ErrorCode::ValidationFailed,
            "sign-in with GitHub is not available yet; use an OpenID Connect provider",
        ));
    };
    let issuer = IssuerUrl::new(issuer)
        .map_err(|err| unavailable(format!("the provider's issuer: {err}")))?;
    let metadata = CoreProviderMetadata::discover_async(issuer, &http)
        .await
        .map_err(|err| {
            unavailable(format!(
                "{} cannot be reached to sign in ({err}); try again later or sign in with a password",
                provider.name
            ))
        })?;
    let redirect = RedirectUrl::new(format!("{}{CALLBACK_PATH}", state.config.base_url()))
        .map_err(AppError::internal)?;
    let client = CoreClient::from_provider_metadata(
        metadata,
        ClientId::new(provider.client_id.clone()),
        provider.client_secret.clone().map(ClientSecret::new),
    )
    .set_redirect_uri(redirect);
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let mut request = client
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .set_pkce_challenge(challenge);
    for scope in &provider.scopes {
        request = request.add_scope(Scope::new(scope.clone()));
    }
    let (url, csrf, nonce) = request.url();
    let browser = NewSecret::generate(SecretKind::SsoBrowser).map_err(AppError::internal)?;
    let mut tx = db::begin_for_tenant(&state.db, tenant).await?;
    // Sign-ins abandoned at the provider are never called back: each new one of the tenant
    // sweeps its tenant's.
    sqlx::query!(
        "DELETE FROM sso_logins WHERE tenant_id = $1 AND expires_at < now()",
        tenant.0
    )
    .execute(&mut *tx)
    .await?;
    let state_hash = SecretHash::of(csrf.secret());
    sqlx::query!(
        "INSERT INTO sso_logins (state_hash, browser_hash, tenant_id, provider_id, nonce,
                                 pkce_verifier, next, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, now() + make_interval(secs => $8))",
        state_hash.as_bytes(),
        browser.hash.as_bytes(),
        tenant.0,
        provider.id.0,
        nonce.secret(),
        verifier.secret(),
        next,
        LOGIN_LIFETIME.as_secs_f64(),
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    let cookie = HeaderValue::from_str(&format!(
        "{BROWSER_COOKIE}={}; Path=/; Secure; HttpOnly; SameSite=Lax; Max-Age={}",
        browser.plaintext,
        LOGIN_LIFETIME.as_secs()
    ))
    .map_err(AppError::internal)?;
    let location = HeaderValue::from_str(url.as_str()).map_err(AppError::internal)?;
    Ok((
        StatusCode::SEE_OTHER,
        [(header::LOCATION, location), (header::SET_COOKIE, cookie)],
    )
        .into_response())
}
