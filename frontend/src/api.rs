//! Calls to the Nimbus REST API from the browser.

use nimbus_api_types::ErrorBody;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// `POST`s `body` as JSON to `path`; the decoded answer, or the API's error message for people.
pub async fn post<B: Serialize, R: DeserializeOwned>(path: &str, body: &B) -> Result<R, String> {
    let response = send(path, body).await?;
    response
        .json::<R>()
        .await
        .map_err(|err| format!("Unexpected answer: {err}"))
}

/// `POST`s `body` as JSON to `path`, for operations that answer without a body.
pub async fn post_no_content<B: Serialize>(path: &str, body: &B) -> Result<(), String> {
    send(path, body).await.map(drop)
}

async fn send<B: Serialize>(path: &str, body: &B) -> Result<gloo_net::http::Response, String> {
    let unreachable = |err: gloo_net::Error| format!("Nimbus could not be reached: {err}");
    let response = gloo_net::http::Request::post(path)
        .json(body)
        .map_err(unreachable)?
        .send()
        .await
        .map_err(unreachable)?;
    if response.ok() {
        return Ok(response);
    }
    let message = response
        .json::<ErrorBody>()
        .await
        .map(|body| body.error.message)
        .unwrap_or_else(|_| format!("the server answered {}", response.status()));
    Err(sentence(&message))
}

/// The secret of a single-use link: the URL fragment, which browsers never send to servers.
#[must_use]
pub fn link_secret() -> String {
    leptos::prelude::window()
        .location()
        .hash()
        .unwrap_or_default()
        .trim_start_matches('#')
        .to_owned()
}

/// Capitalizes the first letter: API messages are lower-case clauses.
fn sentence(message: &str) -> String {
    let mut chars = message.chars();
    chars
        .next()
        .map(|first| first.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}
