//! A small JSON client for cloud APIs without a good Rust SDK (Kubernetes, Azure Resource
//! Manager, Google Cloud, Alibaba Cloud). Every call: the outbound policy's checked resolver,
//! a deadline with the retries inside it (capped, jittered back-off; `Retry-After` honoured),
//! statuses classified into what the sync engine does about them, and the circuit breaker of
//! (account, service, region). Messages name the path, never the query (signatures live
//! there) or a header.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use nimbus_api_types::ids::CloudAccountId;
use reqwest::{RequestBuilder, Response, StatusCode, Url};
use serde::de::DeserializeOwned;
use tokio::io::AsyncWriteExt;

use super::breaker::{Breakers, Circuit};
use super::connector::ConnectorError;
use crate::config::CloudsConfig;
use crate::http::outbound::{Outbound, describe};

/// The first back-off; each retry doubles it up to [`MAX_BACKOFF`], fully jittered.
const FIRST_BACKOFF: Duration = Duration::from_millis(200);
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// Most bytes read of one answer (a page of a listing is far smaller).
const MAX_BODY_BYTES: usize = 32 * 1024 * 1024;
/// Most characters of a provider's error message quoted back.
const MAX_QUOTE: usize = 300;

/// How a provider says what went wrong beyond the HTTP status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// The status says it all (Kubernetes, Azure Resource Manager).
    Http,
    /// Google APIs: a `403` whose reason is a rate limit is throttling.
    Google,
    /// Alibaba Cloud: the JSON `Code` decides (`Throttling.*` answers `400`, an unknown
    /// AccessKey `404`).
    Alibaba,
    /// An OAuth 2.0 token endpoint: `400 invalid_grant` / `401 invalid_client` refuse the
    /// credential itself.
    OAuthToken,
}

/// What to do about one answer.
enum Verdict {
    Done,
    Retry,
    Rejected,
    Forbidden,
    Misconfigured,
}

impl Dialect {
    fn verdict(self, status: StatusCode, body: &[u8]) -> Verdict {
        if status.is_success() {
            return Verdict::Done;
        }
        match self {
            Self::Google if status == StatusCode::FORBIDDEN => {
                let reason = json_field(body, "/error/errors/0/reason");
                if reason.is_some_and(|reason| reason.contains("ateLimitExceeded")) {
                    return Verdict::Retry;
                }
            }
            Self::Alibaba => {
                if let Some(code) = json_field(body, "/Code").or_else(|| json_field(body, "/code"))
                {
                    if code.starts_with("Throttling") || code.starts_with("ServiceUnavailable") {
                        return Verdict::Retry;
                    }
                    if code.starts_with("InvalidAccessKeyId")
                        || code.starts_with("SignatureDoesNotMatch")
                        || code.starts_with("InvalidAccessKeySecret")
                        || code == "InvalidSecurityToken.Expired"
                    {
                        return Verdict::Rejected;
                    }
                    if code.starts_with("Forbidden") || code.starts_with("NoPermission") {
                        return Verdict::Forbidden;
                    }
                }
            }
            Self::OAuthToken
                if status == StatusCode::BAD_REQUEST || status == StatusCode::UNAUTHORIZED =>
            {
                return Verdict::Rejected;
            }
            _ => {}
        }
        match status {
            StatusCode::TOO_MANY_REQUESTS
            | StatusCode::INTERNAL_SERVER_ERROR
            | StatusCode::BAD_GATEWAY
            | StatusCode::SERVICE_UNAVAILABLE
            | StatusCode::GATEWAY_TIMEOUT => Verdict::Retry,
            StatusCode::UNAUTHORIZED => Verdict::Rejected,
            StatusCode::FORBIDDEN => Verdict::Forbidden,
            _ => Verdict::Misconfigured,
        }
    }
}

/// An answer that was not worth retrying (any status but throttling and server errors).
pub struct Answer {
    /// The request's path, for messages.
    pub path: String,
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Vec<u8>,
}

/// The client of one account.
pub struct Rest {
    client: reqwest::Client,
    account: CloudAccountId,
    breakers: Arc<Breakers>,
    call_timeout: Duration,
    max_attempts: u32,
}

impl Rest {
    #[must_use]
    pub fn new(
        client: reqwest::Client,
        account: CloudAccountId,
        breakers: Arc<Breakers>,
        limits: &CloudsConfig,
    ) -> Self {
        Self {
            client,
            account,
            breakers,
            call_timeout: limits.call_timeout,
            max_attempts: limits.max_attempts.max(1),
        }
    }

    /// The circuit of one service and region of this account.
    #[must_use]
    pub fn circuit(&self, service: &'static str, region: &str) -> Circuit {
        Circuit {
            account: self.account,
            service,
            region: region.to_owned(),
        }
    }

    /// Sends the request `build` makes (anew for each attempt) and reads the JSON answer.
    pub async fn json<T: DeserializeOwned>(
        &self,
        circuit: &Circuit,
        dialect: Dialect,
        build: impl Fn(&reqwest::Client) -> RequestBuilder,
    ) -> Result<T, ConnectorError> {
        let (path, body) = self.body(circuit, dialect, build).await?;
        serde_json::from_slice(&body).map_err(|err| {
            ConnectorError::Unavailable(format!("{path} answered something unreadable: {err}"))
        })
    }

    /// Sends the request like [`Rest::json`] and returns the path and the successful answer's
    /// body as it came (XML, text).
    pub async fn body(
        &self,
        circuit: &Circuit,
        dialect: Dialect,
        build: impl Fn(&reqwest::Client) -> RequestBuilder,
    ) -> Result<(String, Vec<u8>), ConnectorError> {
        let answer = self.send(circuit, dialect, build).await?;
        if answer.status.is_success() {
            Ok((answer.path, answer.body))
        } else {
            Err(refusal(&answer, dialect))
        }
    }

    /// Sends the request, retrying what `dialect` calls transient, and returns the first
    /// other answer — success or not — for the caller to read.
    pub async fn send(
        &self,
        circuit: &Circuit,
        dialect: Dialect,
        build: impl Fn(&reqwest::Client) -> RequestBuilder,
    ) -> Result<Answer, ConnectorError> {
        match self
            .guarded(circuit, self.call(dialect, build, false))
            .await?
        {
            Received::Read(answer) => Ok(answer),
            // Not asked for: a successful answer is read whole unless streaming was asked.
            Received::Streaming(response) => Err(ConnectorError::Misconfigured(format!(
                "{} answered a stream",
                response.url().path()
            ))),
        }
    }

    /// Sends the request like [`Rest::send`] and streams a successful answer's body into the
    /// file `to` (an object of any size never sits in memory); each chunk must arrive within
    /// the call deadline. Returns the bytes written.
    pub async fn download(
        &self,
        circuit: &Circuit,
        dialect: Dialect,
        build: impl Fn(&reqwest::Client) -> RequestBuilder,
        to: &Path,
    ) -> Result<u64, ConnectorError> {
        let mut response = match self
            .guarded(circuit, self.call(dialect, build, true))
            .await?
        {
            Received::Streaming(response) => response,
            Received::Read(answer) => return Err(refusal(&answer, dialect)),
        };
        let path = response.url().path().to_owned();
        let unsaved = |err: std::io::Error| {
            ConnectorError::Unavailable(format!("{path} was not saved: {err}"))
        };
        let mut file = tokio::fs::File::create(to).await.map_err(unsaved)?;
        let mut written = 0;
        loop {
            let chunk = match tokio::time::timeout(self.call_timeout, response.chunk()).await {
                Err(_) => {
                    return Err(ConnectorError::Unavailable(format!(
                        "{path} stalled after {written} bytes"
                    )));
                }
                Ok(Err(err)) => {
                    return Err(ConnectorError::Unavailable(format!(
                        "{path}: {}",
                        describe(&err.without_url())
                    )));
                }
                Ok(Ok(None)) => break,
                Ok(Ok(Some(chunk))) => chunk,
            };
            file.write_all(&chunk).await.map_err(unsaved)?;
            written += chunk.len() as u64;
        }
        file.flush().await.map_err(unsaved)?;
        Ok(written)
    }

    /// Runs `call` unless the circuit is open, and records how it went.
    async fn guarded<T>(
        &self,
        circuit: &Circuit,
        call: impl Future<Output = Result<T, ConnectorError>>,
    ) -> Result<T, ConnectorError> {
        if let Err(wait) = self.breakers.check(circuit) {
            return Err(ConnectorError::Unavailable(format!(
                "{} calls are paused for {}s after repeated failures",
                circuit.service,
                wait.as_secs().max(1)
            )));
        }
        let result = call.await;
        let transient = matches!(result, Err(ConnectorError::Unavailable(_)));
        self.breakers.record(circuit, !transient);
        result
    }

    /// One call with its retries. A successful answer is left unread when `stream_success`.
    async fn call(
        &self,
        dialect: Dialect,
        build: impl Fn(&reqwest::Client) -> RequestBuilder,
        stream_success: bool,
    ) -> Result<Received, ConnectorError> {
        let deadline = Instant::now() + self.call_timeout;
        let mut backoff = FIRST_BACKOFF;
        let mut attempt = 1;
        loop {
            let request = build(&self.client)
                .build()
                .map_err(|err| ConnectorError::Misconfigured(format!("a bad request: {err}")))?;
            let path = request.url().path().to_owned();
            let left = deadline.saturating_duration_since(Instant::now());
            let (why, asked_wait) =
                match tokio::time::timeout(left, self.client.execute(request)).await {
                    Err(_) => (format!("{path} did not answer in time"), None),
                    Ok(Err(err)) => (format!("{path}: {}", describe(&err.without_url())), None),
                    Ok(Ok(response)) if stream_success && response.status().is_success() => {
                        return Ok(Received::Streaming(response));
                    }
                    Ok(Ok(response)) => {
                        let status = response.status();
                        let headers = response.headers().clone();
                        match read_capped(response, deadline).await {
                            Err(why) => (format!("{path}: {why}"), None),
                            Ok(body) => {
                                if !matches!(dialect.verdict(status, &body), Verdict::Retry) {
                                    return Ok(Received::Read(Answer {
                                        path,
                                        status,
                                        headers,
                                        body,
                                    }));
                                }
                                let said = quote(&body);
                                (
                                    format!("{path} answered {status}{said}"),
                                    retry_after(&headers),
                                )
                            }
                        }
                    }
                };
            let wait = asked_wait.unwrap_or_else(|| jittered(backoff));
            backoff = (backoff * 2).min(MAX_BACKOFF);
            if attempt >= self.max_attempts || Instant::now() + wait >= deadline {
                return Err(ConnectorError::Unavailable(format!(
                    "{why} (gave up after {attempt} attempts)"
                )));
            }
            tokio::time::sleep(wait).await;
            attempt += 1;
        }
    }
}

/// What one call brought back.
enum Received {
    /// A successful answer whose body is still to be read.
    Streaming(Response),
    /// Any other answer, read whole.
    Read(Answer),
}

/// What an unsuccessful answer means for the sync, in the provider's words.
fn refusal(answer: &Answer, dialect: Dialect) -> ConnectorError {
    let (path, status, said) = (&answer.path, answer.status, quote(&answer.body));
    match dialect.verdict(status, &answer.body) {
        Verdict::Rejected => {
            ConnectorError::Rejected(format!("the credential was refused ({status}){said}"))
        }
        Verdict::Forbidden => ConnectorError::Forbidden(format!("{path}: permission denied{said}")),
        Verdict::Done | Verdict::Retry | Verdict::Misconfigured => {
            ConnectorError::Misconfigured(format!("{path} answered {status}{said}"))
        }
    }
}

fn json_field(body: &[u8], pointer: &str) -> Option<String> {
    serde_json::from_slice::<serde_json::Value>(body)
        .ok()?
        .pointer(pointer)?
        .as_str()
        .map(str::to_owned)
}

/// The server's `Retry-After` in seconds (the HTTP-date form is rare on APIs and ignored).
fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse::<u64>()
        .ok()
        .map(Duration::from_secs)
}

async fn read_capped(mut response: Response, deadline: Instant) -> Result<Vec<u8>, String> {
    let mut body = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, response.chunk()).await {
            Err(_) => return Err("the answer did not arrive in time".into()),
            Ok(Err(err)) => return Err(describe(&err.without_url())),
            Ok(Ok(None)) => return Ok(body),
            Ok(Ok(Some(chunk))) => {
                if body.len() + chunk.len() > MAX_BODY_BYTES {
                    return Err(format!("the answer exceeds {MAX_BODY_BYTES} bytes"));
                }
                body.extend_from_slice(&chunk);
            }
        }
    }
}

/// `: <code>: <the provider's message>` from an error answer — each provider's JSON error
/// shape (Kubernetes and Alibaba `message`/`Message` with `Code`, Azure and Google `error`
/// objects, OAuth `error` + `error_description`), or the start of the text.
fn quote(body: &[u8]) -> String {
    let said = serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|json| {
            let text = |pointers: &[&str]| {
                pointers
                    .iter()
                    .find_map(|pointer| json.pointer(pointer)?.as_str())
                    .map(str::to_owned)
            };
            let message = text(&[
                "/message",
                "/error/message",
                "/Message",
                "/error_description",
            ])?;
            Some(
                match text(&["/Code", "/error/status", "/error/code", "/error"]) {
                    Some(code) if !message.starts_with(&code) => format!("{code}: {message}"),
                    _ => message,
                },
            )
        })
        .unwrap_or_else(|| String::from_utf8_lossy(body).trim().to_owned());
    if said.is_empty() {
        String::new()
    } else {
        format!(": {}", said.chars().take(MAX_QUOTE).collect::<String>())
    }
}

/// A random wait between half of `backoff` and all of it.
fn jittered(backoff: Duration) -> Duration {
    backoff / 2 + backoff.mul_f64(fastrand::f64() / 2.0)
}

/// A bearer token shared by the calls of one connector, fetched again shortly before it
/// expires.
#[derive(Default)]
pub struct TokenCache(tokio::sync::Mutex<Option<(String, Instant)>>);

impl TokenCache {
    /// The cached token, or a fresh one from `fetch` (token, lifetime).
    pub async fn get<F>(&self, fetch: impl FnOnce() -> F) -> Result<String, ConnectorError>
    where
        F: Future<Output = Result<(String, Duration), ConnectorError>>,
    {
        let mut slot = self.0.lock().await;
        if let Some((token, until)) = slot.as_ref()
            && Instant::now() < *until
        {
            return Ok(token.clone());
        }
        let (token, lifetime) = fetch().await?;
        // Renewed early, so that no call carries a token that expires on the way.
        let margin = (lifetime / 10).min(Duration::from_secs(300));
        *slot = Some((token.clone(), Instant::now() + lifetime - margin));
        Ok(token)
    }
}

/// A provider's "next page" link, followed only on the origin the listing started on: the
/// call carries the account's token, which must never reach another host.
pub fn next_link(base: &Url, link: &str) -> Result<Url, ConnectorError> {
    let next = base.join(link).map_err(|err| {
        ConnectorError::Unavailable(format!("an unreadable next-page link: {err}"))
    })?;
    if next.origin() == base.origin() {
        Ok(next)
    } else {
        Err(ConnectorError::Misconfigured(format!(
            "a next-page link points to another host ({}); not followed",
            next.host_str().unwrap_or("?")
        )))
    }
}

/// Lowercase hexadecimal, as signatures and digests are written.
#[must_use]
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::new(), |mut out, byte| {
        let _ = write!(out, "{byte:02x}");
        out
    })
}

/// A provider's default base URL, or the account's override once the outbound policy allows
/// it (sovereign clouds, private endpoints, emulators).
pub fn base_url(outbound: &Outbound, given: Option<&str>, default: &str) -> Result<Url, String> {
    let mut url = match given {
        Some(raw) => outbound.check_url(raw).map_err(|err| err.to_string())?,
        None => Url::parse(default).map_err(|err| err.to_string())?,
    };
    // A base: relative paths join below it, not beside its last segment.
    if !url.path().ends_with('/') {
        let path = format!("{}/", url.path());
        url.set_path(&path);
    }
    Ok(url)
}
