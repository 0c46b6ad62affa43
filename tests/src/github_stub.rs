//! A stand-in GitHub for the GitHub sign-in tests, laid out as a GitHub Enterprise Server
//! (`/login/oauth/*`, `/api/v3/*`) and answering with the examples of GitHub's REST and OAuth
//! documentation. It checks what GitHub checks: the client's id and secret, single-use codes,
//! the PKCE verifier against the challenge, the bearer token on every API call. Its authorize
//! endpoint approves at once, as a person who already authorized the app would.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::{Form, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine as _;
use serde_json::json;

pub const CLIENT_ID: &str = "Iv1.8a61f9b3a7aba766";
pub const CLIENT_SECRET: &str = "github-stub-client-secret-4f1b";
/// GitHub's documented example access token.
const ACCESS_TOKEN: &str = "gho_16C7e42F292c6912E7710c838347Ae178B4a";

#[derive(Default)]
struct Inner {
    /// Codes handed out and not yet traded: code → PKCE challenge.
    codes: HashMap<String, String>,
    issued: u64,
    /// Whether the user's primary address is verified.
    unverified: bool,
}

#[derive(Clone)]
struct Stub(Arc<Mutex<Inner>>);

pub struct GithubStub {
    /// The server's URL, to configure as the provider's `issuer`.
    pub url: String,
    stub: Stub,
    server: tokio::task::JoinHandle<()>,
}

impl GithubStub {
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let stub = Stub(Arc::default());
        let router = Router::new()
            .route("/login/oauth/authorize", get(authorize))
            .route("/login/oauth/access_token", post(access_token))
            .route("/api/v3/user", get(user))
            .route("/api/v3/user/emails", get(emails))
            .route("/api/v3/user/orgs", get(orgs))
            .route("/api/v3/user/teams", get(teams))
            .with_state(stub.clone());
        let server = tokio::spawn(async move {
            axum::serve(listener, router).await.unwrap();
        });
        Self { url, stub, server }
    }

    /// The user's primary address is (not) verified from now on.
    pub fn set_primary_verified(&self, verified: bool) {
        self.stub.0.lock().unwrap().unverified = !verified;
    }

    /// Follows the authorization URL as the person's browser: where GitHub sends it back.
    pub async fn approve(&self, authorization_url: &str) -> String {
        let answer = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap()
            .get(authorization_url)
            .send()
            .await
            .unwrap();
        assert!(answer.status().is_redirection(), "{answer:?}");
        answer.headers()["location"].to_str().unwrap().to_owned()
    }
}

impl Drop for GithubStub {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn authorize(
    State(stub): State<Stub>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    if query.get("client_id").map(String::as_str) != Some(CLIENT_ID)
        || query.get("code_challenge_method").map(String::as_str) != Some("S256")
    {
        return (StatusCode::BAD_REQUEST, "unknown client or no PKCE").into_response();
    }
    let mut inner = stub.0.lock().unwrap();
    inner.issued += 1;
    let code = format!("stub-code-{}", inner.issued);
    inner
        .codes
        .insert(code.clone(), query["code_challenge"].clone());
    let back = reqwest::Url::parse_with_params(
        &query["redirect_uri"],
        [("code", code.as_str()), ("state", query["state"].as_str())],
    )
    .unwrap();
    Redirect::to(back.as_str()).into_response()
}

/// GitHub answers a refused code with 200 and an error object (its documented behaviour).
fn bad_code() -> Response {
    Json(json!({
        "error": "bad_verification_code",
        "error_description": "The code passed is incorrect or expired.",
        "error_uri": "https://docs.github.com/apps/managing-oauth-apps/troubleshooting-oauth-app-access-token-request-errors/#bad-verification-code"
    }))
    .into_response()
}

async fn access_token(
    State(stub): State<Stub>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    if form.get("client_id").map(String::as_str) != Some(CLIENT_ID)
        || form.get("client_secret").map(String::as_str) != Some(CLIENT_SECRET)
    {
        return Json(json!({ "error": "incorrect_client_credentials" })).into_response();
    }
    let Some(challenge) = form
        .get("code")
        .and_then(|code| stub.0.lock().unwrap().codes.remove(code))
    else {
        return bad_code();
    };
    let verifier = form.get("code_verifier").cloned().unwrap_or_default();
    let computed = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(ring::digest::digest(
        &ring::digest::SHA256,
        verifier.as_bytes(),
    ));
    if computed != challenge {
        return bad_code();
    }
    Json(json!({
        "access_token": ACCESS_TOKEN,
        "scope": "read:org,read:user,user:email",
        "token_type": "bearer"
    }))
    .into_response()
}

/// The API's answer without the access token: `None` when the request carries it.
fn unauthenticated(headers: &HeaderMap) -> Option<Response> {
    let expected = format!("Bearer {ACCESS_TOKEN}");
    let carried = headers
        .get("authorization")
        .is_some_and(|value| value.to_str().is_ok_and(|value| value == expected));
    (!carried).then(|| {
        (
            StatusCode::UNAUTHORIZED,
            Json(json!({ "message": "Requires authentication" })),
        )
            .into_response()
    })
}

async fn user(headers: HeaderMap) -> Response {
    if let Some(refused) = unauthenticated(&headers) {
        return refused;
    }
    Json(json!({
        "login": "octocat", "id": 1, "node_id": "MDQ6VXNlcjE=", "type": "User",
        "name": "monalisa octocat", "company": "GitHub", "email": "octocat@github.com",
    }))
    .into_response()
}

async fn emails(State(stub): State<Stub>, headers: HeaderMap) -> Response {
    if let Some(refused) = unauthenticated(&headers) {
        return refused;
    }
    let verified = !stub.0.lock().unwrap().unverified;
    Json(json!([
        { "email": "octocat@acme.example", "verified": verified, "primary": true, "visibility": "public" },
        { "email": "octocat@users.noreply.github.com", "verified": true, "primary": false, "visibility": null },
    ]))
    .into_response()
}

async fn orgs(headers: HeaderMap) -> Response {
    if let Some(refused) = unauthenticated(&headers) {
        return refused;
    }
    Json(json!([{ "login": "acme", "id": 1, "node_id": "MDEyOk9yZ2FuaXphdGlvbjE=" }]))
        .into_response()
}

async fn teams(headers: HeaderMap) -> Response {
    if let Some(refused) = unauthenticated(&headers) {
        return refused;
    }
    Json(json!([{
        "id": 1, "name": "Platform", "slug": "platform",
        "organization": { "login": "acme", "id": 1 }
    }]))
    .into_response()
}
