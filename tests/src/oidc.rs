//! A real OpenID provider for the single sign-on tests: npm `oidc-provider` (pinned in
//! `tools/package.json`) run by `tests/oidc/provider.mjs` on 127.0.0.1 — discovery, JWKS,
//! authorization code with PKCE required, and its development login form (any user name; the
//! script's accounts give e-mails and groups) — and a forging provider in this process for
//! the ID tokens a real one never issues.

use std::sync::{Arc, Mutex};

use axum::response::IntoResponse as _;
use axum::routing::{get, post};
use axum::{Json, Router};

use crate::{free_port, start_watched};

pub struct OidcProvider {
    /// `http://127.0.0.1:PORT`, exactly as its tokens carry it.
    pub issuer: String,
}

/// Starts a provider of its own that knows `clients` (`[{"client_id", "client_secret",
/// "redirect_uris": [...]}]`).
pub async fn start(clients: &serde_json::Value) -> OidcProvider {
    let port = free_port();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/oidc/provider.mjs");
    // JSON holds no single quote: it goes through the shell as one word.
    start_watched(&format!("node {script} {port} '{clients}'"), port).await;
    OidcProvider {
        issuer: format!("http://127.0.0.1:{port}"),
    }
}

/// Signs in at a provider started by [`start`] as a browser without scripts would: follows the
/// authorization URL, fills the development login form with `login` (an account of
/// `provider.mjs`), confirms the consent page, and returns the URL the provider sends the
/// browser back to (the relying party's callback, with `code`, `state` and `iss`).
pub async fn sign_in_at_provider(authorization_url: &str, login: &str) -> String {
    let browser = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let mut url = reqwest::Url::parse(authorization_url).unwrap();
    let mut answer = browser.get(url.clone()).send().await.unwrap();
    for _ in 0..12 {
        if answer.status().is_redirection() {
            let location = answer.headers()["location"].to_str().unwrap().to_owned();
            let next = url.join(&location).unwrap();
            if next.path().ends_with("/api/v1/auth/sso/callback") {
                return next.to_string();
            }
            url = next;
            answer = browser.get(url.clone()).send().await.unwrap();
            continue;
        }
        let status = answer.status();
        let page = answer.text().await.unwrap();
        assert_eq!(status, 200, "the provider answered {status}: {page}");
        let action = between(&page, "action=\"", "\"");
        let prompt = between(&page, "name=\"prompt\" value=\"", "\"");
        let form: Vec<(&str, &str)> = match prompt {
            "login" => vec![("prompt", "login"), ("login", login), ("password", "any")],
            "consent" => vec![("prompt", "consent")],
            other => panic!("an unexpected interaction {other}: {page}"),
        };
        url = url.join(action).unwrap();
        answer = browser.post(url.clone()).form(&form).send().await.unwrap();
    }
    panic!("the provider never sent the browser back")
}

fn between<'p>(page: &'p str, before: &str, after: &str) -> &'p str {
    let start = page
        .find(before)
        .unwrap_or_else(|| panic!("no {before} in {page}"))
        + before.len();
    let length = page[start..].find(after).unwrap();
    &page[start..start + length]
}

/// What the forging provider's token endpoint answers next: an ID token with `claims`, signed
/// by the provider's key under `kid` — or with its signature broken.
#[derive(Clone, Debug)]
pub struct Forgery {
    pub claims: serde_json::Value,
    pub kid: String,
    pub break_signature: bool,
}

/// The key id the forging provider publishes.
pub const FORGER_KID: &str = "forger-1";

#[derive(Default)]
struct ForgerState {
    next: Option<Forgery>,
    jwks_fetches: usize,
}

/// An OpenID provider in this process that issues whatever ID token a test asks for — the
/// only way to check that the relying party refuses tokens a real provider never issues
/// (wrong issuer, audience or nonce, expired, badly signed, unknown key). Discovery, keys and
/// the token endpoint only: tests take `state` and `nonce` from the start's redirect.
pub struct ForgingProvider {
    pub issuer: String,
    state: Arc<Mutex<ForgerState>>,
    server: tokio::task::JoinHandle<()>,
}

impl ForgingProvider {
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let issuer = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new(Mutex::new(ForgerState::default()));
        let discovery = serde_json::json!({
            "issuer": issuer,
            "authorization_endpoint": format!("{issuer}/authorize"),
            "token_endpoint": format!("{issuer}/token"),
            "jwks_uri": format!("{issuer}/jwks"),
            "end_session_endpoint": format!("{issuer}/logout"),
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "authorization_response_iss_parameter_supported": true,
        });
        let router = Router::new()
            .route(
                "/.well-known/openid-configuration",
                get(move || async move { Json(discovery) }),
            )
            .route(
                "/jwks",
                get({
                    let state = Arc::clone(&state);
                    move || async move {
                        state.lock().unwrap().jwks_fetches += 1;
                        Json(public_keys())
                    }
                }),
            )
            .route(
                "/token",
                post({
                    let state = Arc::clone(&state);
                    move || async move {
                        let forgery = state.lock().unwrap().next.clone();
                        match forgery {
                            Some(forgery) => Json(serde_json::json!({
                                "access_token": "forged-access-token",
                                "token_type": "Bearer",
                                "expires_in": 300,
                                "id_token": forge(&forgery),
                            }))
                            .into_response(),
                            None => (
                                axum::http::StatusCode::BAD_REQUEST,
                                Json(serde_json::json!({ "error": "invalid_grant" })),
                            )
                                .into_response(),
                        }
                    }
                }),
            );
        let server = tokio::spawn(async move {
            axum::serve(listener, router).await.unwrap();
        });
        Self {
            issuer,
            state,
            server,
        }
    }

    /// The token endpoint answers every code with this forgery from now on.
    pub fn issue(&self, forgery: Forgery) {
        self.state.lock().unwrap().next = Some(forgery);
    }

    /// How often the relying party fetched the keys.
    pub fn jwks_fetches(&self) -> usize {
        self.state.lock().unwrap().jwks_fetches
    }

    /// The provider goes down: nothing listens at its address any more.
    pub fn stop(&self) {
        self.server.abort();
    }

    /// The claims a genuine ID token for `client_id` and `nonce` would carry.
    pub fn genuine_claims(&self, client_id: &str, nonce: &str, subject: &str) -> serde_json::Value {
        let now = chrono::Utc::now().timestamp();
        serde_json::json!({
            "iss": self.issuer,
            "sub": subject,
            "aud": client_id,
            "iat": now,
            "exp": now + 300,
            "nonce": nonce,
            "email": format!("{subject}@acme.example"),
            "email_verified": true,
            "groups": ["platform"],
        })
    }
}

impl Drop for ForgingProvider {
    fn drop(&mut self) {
        self.server.abort();
    }
}

fn public_keys() -> serde_json::Value {
    use base64::Engine as _;
    use rsa::pkcs8::DecodePublicKey as _;
    use rsa::traits::PublicKeyParts as _;
    let key =
        rsa::RsaPublicKey::from_public_key_pem(&crate::cloud_stub::test_key().public_pem).unwrap();
    let b64 = |bytes: Vec<u8>| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    serde_json::json!({ "keys": [{
        "kty": "RSA", "use": "sig", "alg": "RS256", "kid": FORGER_KID,
        "n": b64(key.n().to_bytes_be()), "e": b64(key.e().to_bytes_be()),
    }]})
}

fn forge(forgery: &Forgery) -> String {
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
    header.kid = Some(forgery.kid.clone());
    let key = jsonwebtoken::EncodingKey::from_rsa_pem(
        crate::cloud_stub::test_key().private_pem.as_bytes(),
    )
    .unwrap();
    let token = jsonwebtoken::encode(&header, &forgery.claims, &key).unwrap();
    if !forgery.break_signature {
        return token;
    }
    // The same header and claims under another signature.
    let (signed, signature) = token.rsplit_once('.').unwrap();
    let mut broken: Vec<char> = signature.chars().collect();
    broken[10] = if broken[10] == 'A' { 'B' } else { 'A' };
    format!("{signed}.{}", broken.into_iter().collect::<String>())
}
