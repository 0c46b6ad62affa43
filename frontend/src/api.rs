//! Calls to the Nimbus REST API from the browser. The session cookie rides along on its own;
//! unsafe methods also carry the session's CSRF token, which the server hands out at sign-in
//! and from `GET /api/v1/me`.

use std::cell::RefCell;
use std::fmt;

use gloo_net::http::{Request, RequestBuilder, Response};
use nimbus_api_types::{ErrorBody, ErrorCode};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// The header the server expects the CSRF token in.
const CSRF_HEADER: &str = "X-CSRF-Token";
/// The cookie the server hands the token to scripts in.
const CSRF_COOKIE: &str = "__Host-nimbus_csrf";

thread_local! {
    // The browser runs the app on one thread; the token lives as long as the page.
    static CSRF_TOKEN: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Remembers (or forgets) the session's CSRF token.
pub fn set_csrf_token(token: Option<String>) {
    CSRF_TOKEN.with(|cell| *cell.borrow_mut() = token);
}

/// A failed call: the API's stable code (none when the server could not be reached) and its
/// message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub code: Option<ErrorCode>,
    pub message: String,
}

impl ApiError {
    /// Whether the caller must sign in (again).
    #[must_use]
    pub fn is_unauthenticated(&self) -> bool {
        self.code == Some(ErrorCode::Unauthenticated)
    }
}

impl fmt::Display for ApiError {
    /// What went wrong in words, by the stable code; the server's message adds the detail.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Some(code) = self.code else {
            return write!(
                f,
                "Nimbus could not be reached. Check your connection and try again. ({})",
                self.message
            );
        };
        let summary = match code {
            ErrorCode::Unauthenticated => "Please sign in again.",
            ErrorCode::SecondFactorRequired => "Enter the code from your authenticator app.",
            ErrorCode::Forbidden => "Your role does not allow this.",
            ErrorCode::NotFound | ErrorCode::RouteNotFound => "This no longer exists.",
            ErrorCode::ValidationFailed | ErrorCode::BadRequest => "Please check the form.",
            ErrorCode::BillRejected => "The bill was rejected.",
            ErrorCode::Conflict => "Someone changed this at the same time.",
            ErrorCode::PayloadTooLarge => "The file is too large.",
            ErrorCode::RateLimited => "Too many attempts; wait a moment and try again.",
            ErrorCode::RequestTimeout | ErrorCode::ServiceUnavailable => {
                "Nimbus is busy; try again in a moment."
            }
            _ => "Something went wrong on our side.",
        };
        write!(f, "{summary} {}", sentence(&self.message))
    }
}

/// `GET`s `path` and decodes its JSON answer.
pub async fn get<R: DeserializeOwned>(path: &str) -> Result<R, ApiError> {
    decode(send(Request::get(path).build()).await?).await
}

/// `POST`s `body` as JSON to `path` and decodes the answer.
pub async fn post<B: Serialize, R: DeserializeOwned>(path: &str, body: &B) -> Result<R, ApiError> {
    decode(send(with_body(Request::post(path), body)).await?).await
}

/// `POST`s `body` as JSON to `path`, for operations that answer without a body.
pub async fn post_no_content<B: Serialize>(path: &str, body: &B) -> Result<(), ApiError> {
    send(with_body(Request::post(path), body)).await.map(drop)
}

/// `PUT`s `body` as JSON to `path` and decodes the answer.
pub async fn put<B: Serialize, R: DeserializeOwned>(path: &str, body: &B) -> Result<R, ApiError> {
    decode(send(with_body(Request::put(path), body)).await?).await
}

/// `PATCH`es `path` with `body` as JSON and decodes the answer.
pub async fn patch<B: Serialize, R: DeserializeOwned>(path: &str, body: &B) -> Result<R, ApiError> {
    decode(send(with_body(Request::patch(path), body)).await?).await
}

/// `DELETE`s `path`.
pub async fn delete(path: &str) -> Result<(), ApiError> {
    send(csrf(Request::delete(path)).build()).await.map(drop)
}

/// The session's CSRF token, when signed in through the dashboard: from the sign-in answer, or
/// after a reload from the cookie the server set beside the session.
#[must_use]
pub fn csrf_token() -> Option<String> {
    CSRF_TOKEN
        .with(|cell| cell.borrow().clone())
        .or_else(csrf_cookie)
}

fn csrf_cookie() -> Option<String> {
    use wasm_bindgen::JsCast;
    let cookies = leptos::prelude::document()
        .dyn_into::<web_sys::HtmlDocument>()
        .ok()?
        .cookie()
        .ok()?;
    cookie_value(&cookies, CSRF_COOKIE)
}

/// The value of cookie `name` in a `document.cookie` string.
fn cookie_value(cookies: &str, name: &str) -> Option<String> {
    cookies
        .split(';')
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.to_owned())
        .filter(|value| !value.is_empty())
}

fn csrf(request: RequestBuilder) -> RequestBuilder {
    match csrf_token() {
        Some(token) => request.header(CSRF_HEADER, &token),
        None => request,
    }
}

fn with_body<B: Serialize>(request: RequestBuilder, body: &B) -> Result<Request, gloo_net::Error> {
    csrf(request).json(body)
}

async fn send(request: Result<Request, gloo_net::Error>) -> Result<Response, ApiError> {
    let unreachable = |err: gloo_net::Error| ApiError {
        code: None,
        message: err.to_string(),
    };
    let response = request
        .map_err(unreachable)?
        .send()
        .await
        .map_err(unreachable)?;
    if response.ok() {
        return Ok(response);
    }
    let status = response.status();
    Err(match response.json::<ErrorBody>().await {
        Ok(body) => ApiError {
            code: Some(body.error.code),
            message: body.error.message,
        },
        Err(_) => ApiError {
            code: Some(ErrorCode::for_status(status)),
            message: format!("the server answered {status}"),
        },
    })
}

async fn decode<R: DeserializeOwned>(response: Response) -> Result<R, ApiError> {
    response.json::<R>().await.map_err(|err| ApiError {
        code: Some(ErrorCode::Internal),
        message: format!("unexpected answer: {err}"),
    })
}

/// A query string from pairs, leaving out empty values: `?q=web&limit=50`.
#[must_use]
pub fn query(pairs: &[(&str, String)]) -> String {
    let encoded: Vec<String> = pairs
        .iter()
        .filter(|(_, value)| !value.is_empty())
        .map(|(key, value)| {
            format!(
                "{key}={}",
                String::from(js_sys::encode_uri_component(value))
            )
        })
        .collect();
    if encoded.is_empty() {
        String::new()
    } else {
        format!("?{}", encoded.join("&"))
    }
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

/// Capitalizes the first letter and ends with a full stop: API messages are lower-case clauses.
fn sentence(message: &str) -> String {
    let mut chars = message.chars();
    let mut text: String = chars
        .next()
        .map(|first| first.to_uppercase().chain(chars).collect())
        .unwrap_or_default();
    if !text.is_empty() && !text.ends_with(['.', '!', '?']) {
        text.push('.');
    }
    text
}

#[cfg(test)]
mod tests {
    use super::cookie_value;

    #[test]
    fn the_csrf_cookie_is_found_among_the_others() {
        let cookies = "theme=dark; __Host-nimbus_csrf=nimbus_csrf_abc; other=1";
        assert_eq!(
            cookie_value(cookies, "__Host-nimbus_csrf").as_deref(),
            Some("nimbus_csrf_abc")
        );
        assert_eq!(
            cookie_value("__Host-nimbus_csrf=", "__Host-nimbus_csrf"),
            None
        );
        assert_eq!(cookie_value("", "__Host-nimbus_csrf"), None);
    }
}
