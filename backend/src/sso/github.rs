//! Sign-in with GitHub (plain OAuth 2.0 through the `oauth2` crate): GitHub issues no ID
//! token, so who signed in comes from its API with the access token the code is traded for —
//! the user (its numeric id is the subject), its primary verified address, and its
//! organizations and teams as groups (`org` and `org/team`). GitHub Enterprise Server works
//! the same at its own URL (the provider's `issuer`).

use std::time::Duration;

use nimbus_api_types::ErrorCode;
use oauth2::basic::BasicClient;
use oauth2::{
    AuthType, AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, PkceCodeChallenge,
    PkceCodeVerifier, RedirectUrl, Scope, TokenResponse as _, TokenUrl,
};
use serde::Deserialize;
use serde::de::DeserializeOwned;

use super::accounts::ProvenIdentity;
use super::discovery::{ProviderHttp, body_of};
use super::flow::{exchange_failed, refused, unreachable};
use super::providers::{CALLBACK_PATH, SignInSettings};
use crate::error::AppError;
use crate::state::AppState;
use crate::users::Email;

/// github.com; a provider with an `issuer` is a GitHub Enterprise Server there.
pub const GITHUB: &str = "https://github.com";
/// What Nimbus asks GitHub for: the profile, the addresses, the organizations and teams.
const SCOPES: [&str; 3] = ["read:user", "user:email", "read:org"];
const API_TIMEOUT: Duration = Duration::from_secs(10);

/// Where a GitHub provider lives.
struct Endpoints {
    /// The identity's issuer: `https://github.com` or the Enterprise Server's URL.
    base: String,
    api: String,
}

fn endpoints(settings: &SignInSettings) -> Endpoints {
    match settings.provider.issuer.as_deref() {
        None => Endpoints {
            base: GITHUB.to_owned(),
            api: "https://api.github.com".to_owned(),
        },
        Some(server) => {
            let base = server.trim_end_matches('/').to_owned();
            Endpoints {
                api: format!("{base}/api/v3"),
                base,
            }
        }
    }
}

type GithubClient = BasicClient<
    oauth2::EndpointSet,
    oauth2::EndpointNotSet,
    oauth2::EndpointNotSet,
    oauth2::EndpointNotSet,
    oauth2::EndpointSet,
>;

fn client(state: &AppState, settings: &SignInSettings) -> Result<GithubClient, AppError> {
    let base = endpoints(settings).base;
    Ok(
        BasicClient::new(ClientId::new(settings.provider.client_id.clone()))
            .set_client_secret(ClientSecret::new(
                settings.client_secret.clone().unwrap_or_default(),
            ))
            .set_auth_uri(
                AuthUrl::new(format!("{base}/login/oauth/authorize"))
                    .map_err(AppError::internal)?,
            )
            .set_token_uri(
                TokenUrl::new(format!("{base}/login/oauth/access_token"))
                    .map_err(AppError::internal)?,
            )
            // GitHub reads the client's credentials from the form, not from Basic authentication.
            .set_auth_type(AuthType::RequestBody)
            .set_redirect_uri(
                RedirectUrl::new(format!("{}{CALLBACK_PATH}", state.config.base_url()))
                    .map_err(AppError::internal)?,
            ),
    )
}

/// The authorization URL for a sign-in, its `state`, and the PKCE verifier to keep.
pub fn authorization(
    state: &AppState,
    settings: &SignInSettings,
) -> Result<(oauth2::url::Url, CsrfToken, PkceCodeVerifier), AppError> {
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let client = client(state, settings)?;
    let mut request = client
        .authorize_url(CsrfToken::new_random)
        .set_pkce_challenge(challenge);
    for scope in SCOPES
        .iter()
        .map(|scope| (*scope).to_owned())
        .chain(settings.provider.scopes.iter().cloned())
    {
        request = request.add_scope(Scope::new(scope));
    }
    let (url, csrf) = request.url();
    Ok((url, csrf, verifier))
}

#[derive(Deserialize)]
struct User {
    id: u64,
    login: String,
    name: Option<String>,
}

#[derive(Deserialize)]
struct Address {
    email: String,
    primary: bool,
    verified: bool,
}

#[derive(Deserialize)]
struct Organization {
    login: String,
}

#[derive(Deserialize)]
struct Team {
    slug: String,
    organization: Organization,
}

/// Trades `code` for an access token and asks GitHub's API who it belongs to.
pub async fn identity(
    state: &AppState,
    settings: &SignInSettings,
    http: &ProviderHttp,
    code: String,
    verifier: String,
) -> Result<ProvenIdentity, AppError> {
    let name = &settings.provider.name;
    let unreachable = |err: &dyn std::fmt::Display| unreachable(settings, err);
    let token = client(state, settings)?
        .exchange_code(AuthorizationCode::new(code))
        .set_pkce_verifier(PkceCodeVerifier::new(verifier))
        .request_async(http)
        .await
        .map_err(|err| exchange_failed(settings, &err))?;
    let api = endpoints(settings);
    let get = |path: &'static str| {
        let url = format!("{}{path}", api.api);
        let token = token.access_token().secret().clone();
        async move {
            let answer = http
                .0
                .get(&url)
                .bearer_auth(token)
                .header("Accept", "application/vnd.github+json")
                .header("X-GitHub-Api-Version", "2022-11-28")
                .header("User-Agent", "Nimbus")
                .timeout(API_TIMEOUT)
                .send()
                .await
                .map_err(|err| unreachable(&err.without_url()))?;
            if !answer.status().is_success() {
                return Err(refused(format!(
                    "{name} refused to say who signed in ({} on {path}); sign in again",
                    answer.status()
                )));
            }
            body_of(answer).await.map_err(|err| unreachable(&err))
        }
    };
    let user: User = decode(&get("/user").await?, name)?;
    let addresses: Vec<Address> = decode(&get("/user/emails").await?, name)?;
    let organizations: Vec<Organization> = decode(&get("/user/orgs?per_page=100").await?, name)?;
    let teams: Vec<Team> = decode(&get("/user/teams?per_page=100").await?, name)?;
    let verified_email = addresses
        .iter()
        .find(|address| address.primary && address.verified)
        .and_then(|address| Email::parse(&address.email).ok());
    let groups = organizations
        .into_iter()
        .map(|organization| organization.login)
        .chain(
            teams
                .into_iter()
                .map(|team| format!("{}/{}", team.organization.login, team.slug)),
        )
        .collect();
    Ok(ProvenIdentity {
        issuer: api.base,
        subject: user.id.to_string(),
        verified_email,
        name: user.name.or(Some(user.login)),
        groups,
        // GitHub has no RP-initiated logout.
        provider_logout_url: None,
    })
}

fn decode<T: DeserializeOwned>(body: &[u8], provider: &str) -> Result<T, AppError> {
    serde_json::from_slice(body).map_err(|err| {
        AppError::new(
            ErrorCode::ServiceUnavailable,
            format!("{provider} answered something unexpected ({err}); try again later"),
        )
    })
}
