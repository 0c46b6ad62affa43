//! The relying party (SECURITY.md 14–16). `GET /api/v1/auth/sso/start` sends the browser to
//! the tenant's provider with the authorization-code flow, PKCE S256, and a `state` and
//! `nonce` that are single-use, expire within ten minutes and are bound to the browser by a
//! cookie; the sign-in in flight is a row of `sso_logins`, found again by the hash of `state`.
//! `GET /api/v1/auth/sso/callback` consumes that row, checks the answer comes from the provider
//! the sign-in started with, trades the code (with the PKCE verifier) for an ID token that
//! `openidconnect` validates in full, and signs the person in (`accounts.rs`).
//!
//! The callback is a browser navigation: whatever happens, it answers with a redirect — to
//! `next` with a session, to the sign-in page to link an existing account, or to the sign-in
//! page with a sentence saying what failed.

use std::collections::HashMap;
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{AppendHeaders, IntoResponse, Response};
use nimbus_api_types::ErrorCode;
use nimbus_api_types::ids::{IdentityProviderId, TenantId};
use nimbus_api_types::sso::{ProviderKind, ProviderPreset, same_site_path};
use openidconnect::core::{
    CoreAuthDisplay, CoreAuthPrompt, CoreAuthenticationFlow, CoreClientAuthMethod,
    CoreErrorResponseType, CoreGenderClaim, CoreJsonWebKey, CoreJweContentEncryptionAlgorithm,
    CoreJwsSigningAlgorithm, CoreRevocableToken, CoreRevocationErrorResponse,
    CoreTokenIntrospectionResponse, CoreTokenType,
};
use openidconnect::{
    AdditionalClaims, AuthType, AuthorizationCode, ClaimsVerificationError, Client, ClientId,
    ClientSecret, CsrfToken, EmptyExtraTokenFields, EndpointMaybeSet, EndpointNotSet, EndpointSet,
    ErrorResponseType, IdTokenClaims, IdTokenFields, IssuerUrl, LogoutRequest, Nonce,
    PkceCodeChallenge, PkceCodeVerifier, PostLogoutRedirectUrl, RedirectUrl, RequestTokenError,
    Scope, SignatureVerificationError, StandardErrorResponse, StandardTokenResponse,
    TokenResponse as _,
};
use serde::{Deserialize, Serialize};

use super::accounts::{self, Account, ProvenIdentity};
use super::discovery::{Metadata, ProviderHttp};
use super::github;
use super::providers::{self, CALLBACK_PATH, POST_LOGOUT_PATH, SignInSettings};
use crate::audit::{self, Outcome};
use crate::auth::extract::RequestMeta;
use crate::auth::principal::cookie;
use crate::auth::secret::{NewSecret, SecretHash, SecretKind};
use crate::auth::session;
use crate::db;
use crate::error::AppError;
use crate::http::extract::Query;
use crate::http::outbound::describe;
use crate::state::AppState;
use crate::users::Email;

/// How long a sign-in may take at the provider, and a link may wait for its password.
pub const LOGIN_LIFETIME: Duration = Duration::from_secs(600);
/// The cookie that binds a sign-in in flight (then a link waiting for its password) to the
/// browser that started it.
pub const BROWSER_COOKIE: &str = "__Host-nimbus_sso";
/// The claim that lists a person's groups when the provider sets none.
const DEFAULT_GROUPS_CLAIM: &str = "groups";

/// Claims beyond the standard ones; the provider's groups claim is among them.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct OtherClaims {
    #[serde(flatten)]
    claims: HashMap<String, serde_json::Value>,
}

impl AdditionalClaims for OtherClaims {}

type TokenResponse = StandardTokenResponse<
    IdTokenFields<
        OtherClaims,
        EmptyExtraTokenFields,
        CoreGenderClaim,
        CoreJweContentEncryptionAlgorithm,
        CoreJwsSigningAlgorithm,
    >,
    CoreTokenType,
>;

/// `openidconnect`'s client with our claims, as discovery sets it up.
type RelyingParty = Client<
    OtherClaims,
    CoreAuthDisplay,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJsonWebKey,
    CoreAuthPrompt,
    StandardErrorResponse<CoreErrorResponseType>,
    TokenResponse,
    CoreTokenIntrospectionResponse,
    CoreRevocableToken,
    CoreRevocationErrorResponse,
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

fn unavailable(message: String) -> AppError {
    AppError::new(ErrorCode::ServiceUnavailable, message)
}

pub(super) fn unreachable(settings: &SignInSettings, err: &dyn std::fmt::Display) -> AppError {
    unavailable(format!(
        "{} cannot be reached to sign in ({err}); try again later or sign in with a password",
        settings.provider.name
    ))
}

/// Why a code was not traded for tokens: the provider refused it, or could not be reached.
pub(super) fn exchange_failed<RE, T>(
    settings: &SignInSettings,
    err: &RequestTokenError<RE, StandardErrorResponse<T>>,
) -> AppError
where
    RE: std::error::Error + 'static,
    T: ErrorResponseType + std::fmt::Display + 'static,
{
    let name = &settings.provider.name;
    match err {
        RequestTokenError::ServerResponse(answer) => refused(format!(
            "{name} did not accept the sign-in ({}); sign in again",
            answer
                .error_description()
                .cloned()
                .unwrap_or_else(|| answer.error().to_string())
        )),
        // An answer that is no token (GitHub refuses a code with 200 and an error object).
        RequestTokenError::Parse(..) => {
            refused(format!("{name} did not accept the sign-in; sign in again"))
        }
        _ => unreachable(settings, &describe(err)),
    }
}

/// The outbound policy's client, for talking to providers.
pub fn provider_http(state: &AppState) -> Result<ProviderHttp, AppError> {
    let outbound = state
        .outbound
        .as_deref()
        .ok_or_else(|| unavailable("outbound HTTP calls are unavailable on this server".into()))?;
    outbound
        .builder()
        .build()
        .map(ProviderHttp)
        .map_err(|err| unavailable(format!("cannot set up TLS: {err}")))
}

/// An OpenID provider's issuer (the table requires one for them).
fn issuer_of(settings: &SignInSettings) -> Result<IssuerUrl, AppError> {
    let issuer = settings
        .provider
        .issuer
        .clone()
        .ok_or_else(|| AppError::internal("an OpenID provider without an issuer"))?;
    IssuerUrl::new(issuer).map_err(|err| unavailable(format!("the provider's issuer: {err}")))
}

/// The client for `settings` at the provider `metadata` describes, calling back to us.
fn relying_party(
    state: &AppState,
    metadata: &Metadata,
    settings: &SignInSettings,
) -> Result<RelyingParty, AppError> {
    let redirect = RedirectUrl::new(format!("{}{CALLBACK_PATH}", state.config.base_url()))
        .map_err(AppError::internal)?;
    // Discovery's default is client_secret_basic; some providers take the secret only in the body.
    let posts_secret = metadata
        .token_endpoint_auth_methods_supported()
        .is_some_and(|methods| {
            !methods.contains(&CoreClientAuthMethod::ClientSecretBasic)
                && methods.contains(&CoreClientAuthMethod::ClientSecretPost)
        });
    let client = RelyingParty::from_provider_metadata(
        metadata.clone(),
        ClientId::new(settings.provider.client_id.clone()),
        settings.client_secret.clone().map(ClientSecret::new),
    )
    .set_redirect_uri(redirect);
    Ok(if posts_secret {
        client.set_auth_type(AuthType::RequestBody)
    } else {
        client
    })
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

/// Sends the browser to the provider's sign-in.
#[utoipa::path(get, path = "/api/v1/auth/sso/start", tag = "sso", params(StartQuery),
    responses(
        (status = 303, description = "To the provider; `Set-Cookie` binds the sign-in to this browser"),
        (status = 404, description = "No such tenant, or no such enabled provider", body = nimbus_api_types::ErrorBody),
        (status = 422, description = "`next` is not a path of this site", body = nimbus_api_types::ErrorBody),
        (status = 429, description = "Too many attempts", body = nimbus_api_types::ErrorBody),
        (status = 503, description = "The provider cannot be reached", body = nimbus_api_types::ErrorBody),
    ))]
pub async fn start(
    State(state): State<AppState>,
    meta: RequestMeta,
    Query(query): Query<StartQuery>,
) -> Result<Response, AppError> {
    // Each start asks the provider for its discovery document: limited like sign-in attempts,
    // so Nimbus cannot be turned into a way of hammering a provider.
    state.auth.limits.check(meta.source_ip, None)?;
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
    let settings = {
        let mut tx = db::begin_for_tenant(&state.db, tenant).await?;
        let settings = providers::sign_in_settings(&mut tx, &state, tenant, query.provider).await?;
        db::finish_read(tx);
        settings
            .filter(|settings| settings.provider.enabled)
            .ok_or_else(no_provider)?
    };
    let (url, csrf, nonce, verifier) = match settings.provider.kind {
        ProviderKind::Oidc => {
            let http = provider_http(&state)?;
            let issuer = issuer_of(&settings)?;
            let metadata = state
                .sso
                .metadata(&http, &issuer)
                .await
                .map_err(|err| unreachable(&settings, &err))?;
            let client = relying_party(&state, &metadata, &settings)?;
            let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
            let mut request = client
                .authorize_url(
                    CoreAuthenticationFlow::AuthorizationCode,
                    CsrfToken::new_random,
                    Nonce::new_random,
                )
                .set_pkce_challenge(challenge);
            for scope in &settings.provider.scopes {
                request = request.add_scope(Scope::new(scope.clone()));
            }
            let (url, csrf, nonce) = request.url();
            (url, csrf, nonce.secret().clone(), verifier)
        }
        ProviderKind::Github => {
            let (url, csrf, verifier) = github::authorization(&state, &settings)?;
            // No ID token comes back to carry a nonce: the state alone binds the answer.
            (url, csrf, String::new(), verifier)
        }
    };
    let browser = NewSecret::generate(SecretKind::SsoBrowser).map_err(AppError::internal)?;
    let mut tx = db::begin_for_tenant(&state.db, tenant).await?;
    // Sign-ins abandoned at the provider are never called back: each new one of the tenant
    // sweeps its tenant's, and the links never completed.
    sqlx::query!(
        "DELETE FROM sso_logins WHERE tenant_id = $1 AND expires_at < now()",
        tenant.0
    )
    .execute(&mut *tx)
    .await?;
    sqlx::query!(
        "DELETE FROM sso_pending_links WHERE tenant_id = $1 AND expires_at < now()",
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
        settings.provider.id.0,
        nonce,
        verifier.secret(),
        next,
        LOGIN_LIFETIME.as_secs_f64(),
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    let location = HeaderValue::from_str(url.as_str()).map_err(AppError::internal)?;
    Ok((
        StatusCode::SEE_OTHER,
        [
            (header::LOCATION, location),
            (header::SET_COOKIE, browser_cookie(&browser.plaintext)?),
        ],
    )
        .into_response())
}

fn browser_cookie(secret: &str) -> Result<HeaderValue, AppError> {
    HeaderValue::from_str(&format!(
        "{BROWSER_COOKIE}={secret}; Path=/; Secure; HttpOnly; SameSite=Lax; Max-Age={}",
        LOGIN_LIFETIME.as_secs()
    ))
    .map_err(AppError::internal)
}

/// `Set-Cookie` that removes [`BROWSER_COOKIE`].
pub fn clear_browser_cookie() -> HeaderValue {
    HeaderValue::from_static(
        "__Host-nimbus_sso=; Path=/; Secure; HttpOnly; SameSite=Lax; Max-Age=0",
    )
}

/// What the provider sends the browser back with (RFC 6749 4.1.2, RFC 9207).
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CallbackQuery {
    pub state: Option<String>,
    pub code: Option<String>,
    /// The provider's issuer (RFC 9207): must be the one the sign-in started with.
    pub iss: Option<String>,
    pub error: Option<String>,
    pub error_description: Option<String>,
}

/// What the callback learned before it failed, for the audit trail and the way back.
#[derive(Default)]
struct Progress {
    tenant: Option<(TenantId, String)>,
    provider: Option<IdentityProviderId>,
}

/// How a callback that did not fail ends.
enum Finished {
    SignedIn {
        session: session::BrowserSession,
        next: String,
    },
    /// A link waits for the existing account's password on the sign-in page.
    LinkRequired { next: String },
}

/// Where the provider sends the browser back: signs in and redirects to `next`, or redirects
/// to the sign-in page with what went wrong (`sso_error`) or to link an existing account.
#[utoipa::path(get, path = "/api/v1/auth/sso/callback", tag = "sso", params(CallbackQuery),
    responses(
        (status = 303, description = "To `next` with a session; to `/sign-in?link=1` to link an existing account by its password; or to `/sign-in?sso_error=…` saying why the sign-in failed"),
    ))]
pub async fn callback(
    State(state): State<AppState>,
    meta: RequestMeta,
    headers: HeaderMap,
    Query(query): Query<CallbackQuery>,
) -> Response {
    let browser = cookie(&headers, BROWSER_COOKIE).map(SecretHash::of);
    let mut progress = Progress::default();
    // Made-up states cost a lookup and an audit row each: limited like sign-in attempts.
    let outcome = match state.auth.limits.check(meta.source_ip, None) {
        Ok(()) => finish(&state, &meta, browser, query, &mut progress).await,
        Err(limited) => Err(limited),
    };
    let slug = progress.tenant.as_ref().map(|(_, slug)| slug.clone());
    let sign_in_page = |params: &[(&str, &str)]| {
        let mut url = url::form_urlencoded::Serializer::new(String::new());
        if let Some(slug) = &slug {
            url.append_pair("tenant", slug);
        }
        url.extend_pairs(params);
        format!("/sign-in?{}", url.finish())
    };
    let redirect = |location: String, cookies: Vec<HeaderValue>| -> Response {
        match HeaderValue::from_str(&location) {
            Ok(location) => (
                StatusCode::SEE_OTHER,
                [(header::LOCATION, location)],
                AppendHeaders(cookies.into_iter().map(|value| (header::SET_COOKIE, value))),
            )
                .into_response(),
            Err(err) => AppError::internal(err).into_response(),
        }
    };
    let lifetime = state.config.auth.session_lifetime;
    match outcome {
        Ok(Finished::SignedIn { session, next }) => {
            match session::sign_in_cookies(&session, lifetime) {
                Ok([session, csrf]) => redirect(next, vec![session, csrf, clear_browser_cookie()]),
                Err(err) => err.into_response(),
            }
        }
        Ok(Finished::LinkRequired { next }) => {
            redirect(sign_in_page(&[("link", "1"), ("next", &next)]), Vec::new())
        }
        Err(err) => {
            if err.code() == ErrorCode::Internal {
                tracing::error!(error = %err, "single sign-on callback failed");
            }
            let tenant = progress.tenant.map(|(tenant, _)| tenant);
            if err.code() != ErrorCode::RateLimited
                && let Err(audit_err) =
                    audit_refusal(&state, &meta, tenant, progress.provider, &err).await
            {
                tracing::error!(error = %audit_err, "could not audit a refused single sign-on");
            }
            redirect(
                sign_in_page(&[("sso_error", err.message())]),
                vec![clear_browser_cookie()],
            )
        }
    }
}

async fn audit_refusal(
    state: &AppState,
    meta: &RequestMeta,
    tenant: Option<TenantId>,
    provider: Option<IdentityProviderId>,
    err: &AppError,
) -> Result<(), AppError> {
    // Unknown or replayed states name no tenant: the platform's trail keeps them.
    let mut tx = db::begin_scoped(&state.db, tenant).await?;
    let mut entry = meta.entry(
        tenant,
        "anonymous".into(),
        "auth.sso_login",
        provider.map_or_else(
            || "identity_provider:unknown".into(),
            |id| format!("identity_provider:{id}"),
        ),
        Outcome::Failure,
    );
    entry.details = serde_json::json!({ "reason": err.message() });
    audit::record(&mut tx, &entry).await?;
    tx.commit().await?;
    Ok(())
}

pub(super) fn refused(message: impl Into<std::borrow::Cow<'static, str>>) -> AppError {
    AppError::new(ErrorCode::Unauthenticated, message)
}

/// The sign-in in flight, consumed: whatever follows, its `state` cannot be presented again.
struct Login {
    tenant: TenantId,
    provider: IdentityProviderId,
    browser_hash: Vec<u8>,
    nonce: String,
    pkce_verifier: String,
    next: String,
    expires_at: chrono::DateTime<chrono::Utc>,
    expired: bool,
}

async fn consume_login(state: &AppState, presented: &str) -> Result<Option<Login>, AppError> {
    let hash = SecretHash::of(presented);
    let mut tx = state.db.begin().await?;
    db::present_credential(&mut tx, &hash.to_hex()).await?;
    let login = sqlx::query!(
        r#"DELETE FROM sso_logins WHERE state_hash = $1
           RETURNING tenant_id, provider_id, browser_hash, nonce, pkce_verifier, next,
                     expires_at, expires_at < now() AS "expired!""#,
        hash.as_bytes()
    )
    .fetch_optional(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(login.map(|row| Login {
        tenant: TenantId(row.tenant_id),
        provider: IdentityProviderId(row.provider_id),
        browser_hash: row.browser_hash,
        nonce: row.nonce,
        pkce_verifier: row.pkce_verifier,
        next: row.next,
        expires_at: row.expires_at,
        expired: row.expired,
    }))
}

async fn finish(
    state: &AppState,
    meta: &RequestMeta,
    browser: Option<SecretHash>,
    query: CallbackQuery,
    progress: &mut Progress,
) -> Result<Finished, AppError> {
    let start_again = "this sign-in was already used or has expired; sign in again";
    let presented = query.state.as_deref().ok_or_else(|| refused(start_again))?;
    let login = consume_login(state, presented)
        .await?
        .ok_or_else(|| refused(start_again))?;
    let slug = sqlx::query_scalar!("SELECT slug FROM tenants WHERE id = $1", login.tenant.0)
        .fetch_one(&state.db)
        .await?;
    progress.tenant = Some((login.tenant, slug));
    progress.provider = Some(login.provider);
    if browser.is_none_or(|browser| browser.as_bytes() != login.browser_hash.as_slice()) {
        return Err(refused(
            "this sign-in was started in another browser; sign in again from this one",
        ));
    }
    if login.expired {
        return Err(refused(start_again));
    }
    let settings = {
        let mut tx = db::begin_for_tenant(&state.db, login.tenant).await?;
        let settings =
            providers::sign_in_settings(&mut tx, state, login.tenant, login.provider).await?;
        db::finish_read(tx);
        settings
            .filter(|settings| settings.provider.enabled)
            .ok_or_else(|| refused("this sign-in provider was removed or turned off"))?
    };
    if let Some(error) = &query.error {
        return Err(refused(format!(
            "{} did not sign you in: {}",
            settings.provider.name,
            query.error_description.as_deref().unwrap_or(error)
        )));
    }
    let http = provider_http(state)?;
    let code = query
        .code
        .ok_or_else(|| refused("the provider's answer carries no authorization code"))?;
    let identity = match settings.provider.kind {
        ProviderKind::Oidc => {
            oidc_identity(state, &settings, &http, &login, query.iss.as_deref(), code).await?
        }
        ProviderKind::Github => {
            // GitHub never names itself (no RFC 9207): an answer that does came from elsewhere.
            if let Some(iss) = &query.iss {
                return Err(refused(format!(
                    "the answer came from {iss}, not from {}, where this sign-in started; sign in again",
                    settings.provider.name
                )));
            }
            github::identity(state, &settings, &http, code, login.pkce_verifier.clone()).await?
        }
    };
    sign_in(state, meta, &login, &settings, &identity, browser).await
}

/// The person an OpenID provider's answer proves: the mix-up check, the code traded with the
/// PKCE verifier, and the ID token validated in full.
async fn oidc_identity(
    state: &AppState,
    settings: &SignInSettings,
    http: &ProviderHttp,
    login: &Login,
    iss: Option<&str>,
    code: String,
) -> Result<ProvenIdentity, AppError> {
    let issuer = issuer_of(settings)?;
    let metadata = state
        .sso
        .metadata(http, &issuer)
        .await
        .map_err(|err| unreachable(settings, &err))?;
    // Mix-up defence (RFC 9700 4.4.2): the answer must come from the provider this sign-in
    // started with; one that names itself must name exactly that issuer.
    match iss {
        Some(iss) if iss != issuer.as_str() => {
            return Err(refused(format!(
                "the answer came from {iss}, not from {}, where this sign-in started; sign in again",
                settings.provider.name
            )));
        }
        None if metadata
            .additional_metadata()
            .additional_metadata
            .authorization_response_iss_parameter_supported =>
        {
            return Err(refused(format!(
                "the answer does not name {} as its issuer; sign in again",
                settings.provider.name
            )));
        }
        _ => {}
    }
    let client = relying_party(state, &metadata, settings)?;
    let tokens = client
        .exchange_code(AuthorizationCode::new(code))
        .map_err(AppError::internal)?
        .set_pkce_verifier(PkceCodeVerifier::new(login.pkce_verifier.clone()))
        .request_async(http)
        .await
        .map_err(|err| exchange_failed(settings, &err))?;
    let id_token = tokens.id_token().ok_or_else(|| {
        refused(format!(
            "{} answered without an ID token; is the openid scope set?",
            settings.provider.name
        ))
    })?;
    let nonce = Nonce::new(login.nonce.clone());
    let invalid = |err: &ClaimsVerificationError| {
        refused(format!(
            "the ID token from {} is not valid ({err}); sign in again",
            settings.provider.name
        ))
    };
    let claims = match id_token.claims(&client.id_token_verifier(), &nonce) {
        Ok(claims) => claims.clone(),
        // The provider may have rotated its keys since the start fetched them.
        Err(ClaimsVerificationError::SignatureVerification(
            SignatureVerificationError::NoMatchingKey,
        )) => {
            let renewed = state
                .sso
                .refetch_keys(http, &metadata)
                .await
                .map_err(|err| unreachable(settings, &err))?
                .ok_or_else(|| {
                    invalid(&ClaimsVerificationError::SignatureVerification(
                        SignatureVerificationError::NoMatchingKey,
                    ))
                })?;
            let client = relying_party(state, &renewed, settings)?;
            id_token
                .claims(&client.id_token_verifier(), &nonce)
                .map_err(|err| invalid(&err))?
                .clone()
        }
        Err(err) => return Err(invalid(&err)),
    };
    // OIDC Core 3.1.3.7 step 5, which `openidconnect` leaves to its users: a token issued to
    // another party is not ours, even when it lists us among its audiences.
    if let Some(party) = claims.authorized_party()
        && party.as_str() != settings.provider.client_id
    {
        return Err(invalid(&ClaimsVerificationError::InvalidAudience(format!(
            "its authorized party is {}, not this client",
            party.as_str()
        ))));
    }
    Ok(proven_identity(
        &claims,
        settings,
        logout_url(state, &metadata, settings),
    ))
}

/// Where to send the browser to end its session at the provider too (OpenID Connect
/// RP-Initiated Logout 1.0), back to `/sign-in` afterwards — when the provider supports it.
fn logout_url(state: &AppState, metadata: &Metadata, settings: &SignInSettings) -> Option<String> {
    let endpoint = metadata
        .additional_metadata()
        .end_session_endpoint
        .clone()?;
    let back = PostLogoutRedirectUrl::new(format!("{}{POST_LOGOUT_PATH}", state.config.base_url()))
        .ok()?;
    Some(
        LogoutRequest::from(endpoint)
            .set_client_id(ClientId::new(settings.provider.client_id.clone()))
            .set_post_logout_redirect_uri(back)
            .http_get_url()
            .to_string(),
    )
}

/// Whether the provider vouches for the token's address: `email_verified` — or, for Microsoft
/// Entra ID, which never sends that claim, its optional `xms_edov` ("the e-mail domain's owner
/// verified it"; Microsoft's advice for trusting `email`).
fn email_verified(
    claims: &IdTokenClaims<OtherClaims, CoreGenderClaim>,
    settings: &SignInSettings,
) -> bool {
    claims.email_verified() == Some(true)
        || (settings.provider.preset == Some(ProviderPreset::EntraId)
            && claims.additional_claims().claims.get("xms_edov")
                == Some(&serde_json::Value::Bool(true)))
}

/// What the validated ID token says about the person.
fn proven_identity(
    claims: &IdTokenClaims<OtherClaims, CoreGenderClaim>,
    settings: &SignInSettings,
    provider_logout_url: Option<String>,
) -> ProvenIdentity {
    let groups_claim = settings
        .provider
        .groups_claim
        .as_deref()
        .unwrap_or(DEFAULT_GROUPS_CLAIM);
    // A list of names, or one name alone.
    let groups = match claims.additional_claims().claims.get(groups_claim) {
        Some(serde_json::Value::Array(items)) => items
            .iter()
            .filter_map(|item| item.as_str().map(str::to_owned))
            .collect(),
        Some(serde_json::Value::String(group)) => vec![group.clone()],
        _ => Vec::new(),
    };
    ProvenIdentity {
        issuer: claims.issuer().to_string(),
        subject: claims.subject().to_string(),
        verified_email: claims
            .email()
            .filter(|_| email_verified(claims, settings))
            .and_then(|email| Email::parse(email).ok()),
        name: claims
            .name()
            .and_then(|name| name.get(None))
            .map(|name| name.to_string()),
        groups,
        provider_logout_url,
    }
}

async fn sign_in(
    state: &AppState,
    meta: &RequestMeta,
    login: &Login,
    settings: &SignInSettings,
    identity: &ProvenIdentity,
    browser: Option<SecretHash>,
) -> Result<Finished, AppError> {
    let mut tx = db::begin_for_tenant(&state.db, login.tenant).await?;
    match accounts::find_or_provision(&mut tx, login.tenant, &settings.provider, identity).await? {
        Account::SignIn { user, provisioned } => {
            let session = accounts::open_session(
                &mut tx,
                state,
                meta,
                "auth.sso_login",
                login.tenant,
                &settings.provider,
                user,
                identity,
                provisioned,
            )
            .await?;
            tx.commit().await?;
            Ok(Finished::SignedIn {
                session,
                next: login.next.clone(),
            })
        }
        Account::LinkRequired { user } => {
            let browser = browser.ok_or_else(|| refused("this browser sent no sign-in cookie"))?;
            // One link at a time per browser (the row is keyed by its cookie): a newer
            // replaces an older. The link lives as long as the sign-in would have.
            db::present_credential(&mut tx, &browser.to_hex()).await?;
            sqlx::query!(
                "DELETE FROM sso_pending_links WHERE secret_hash = $1",
                browser.as_bytes()
            )
            .execute(&mut *tx)
            .await?;
            sqlx::query!(
                "INSERT INTO sso_pending_links (secret_hash, tenant_id, provider_id, user_id,
                                                issuer, subject, groups, next, expires_at,
                                                provider_logout_url)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                browser.as_bytes(),
                login.tenant.0,
                settings.provider.id.0,
                user.0,
                identity.issuer,
                identity.subject,
                &identity.groups,
                login.next,
                login.expires_at,
                identity.provider_logout_url,
            )
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(Finished::LinkRequired {
                next: login.next.clone(),
            })
        }
    }
}
