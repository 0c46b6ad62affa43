//! A small JSON client for cloud APIs without a good Rust SDK (Kubernetes, Azure Resource
//! Manager, Google Cloud, Alibaba Cloud). Every call: the outbound policy's checked resolver,
//! a deadline with the retries inside it (capped, jittered back-off; `Retry-After` honoured),
//! statuses classified into what the sync engine does about them, and the circuit breaker of
//! (account, service, region). Messages name the path, never the query (signatures live
//! there) or a header.

use std::sync::Arc;
use std::time::{Duration, Instant};

use nimbus_api_types::ids::CloudAccountId;
use reqwest::{RequestBuilder, Response, StatusCode};
use serde::de::DeserializeOwned;

use super::breaker::{Breakers, Circuit};
use super::connector::ConnectorError;
use crate::config::CloudsConfig;
use crate::http::outbound::describe;

/// The first back-off; each retry doubles it up to [`MAX_BACKOFF`], fully jittered.
const FIRST_BACKOFF: Duration = Duration::from_millis(200);
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// Most bytes read of one answer (a page of a listing is far smaller).
const MAX_BODY_BYTES: usize = 32 * 1024 * 1024;
/// Most characters of a provider's error message quoted back.
const MAX_QUOTE: usize = 300;

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
        build: impl Fn(&reqwest::Client) -> RequestBuilder,
    ) -> Result<T, ConnectorError> {
        if let Err(wait) = self.breakers.check(circuit) {
            return Err(ConnectorError::Unavailable(format!(
                "{} calls are paused for {}s after repeated failures",
                circuit.service,
                wait.as_secs().max(1)
            )));
        }
        let result = self.call(build).await;
        let transient = matches!(result, Err(ConnectorError::Unavailable(_)));
        self.breakers.record(circuit, !transient);
        let (path, body) = result?;
        serde_json::from_slice(&body).map_err(|err| {
            ConnectorError::Unavailable(format!("{path} answered something unreadable: {err}"))
        })
    }

    async fn call(
        &self,
        build: impl Fn(&reqwest::Client) -> RequestBuilder,
    ) -> Result<(String, Vec<u8>), ConnectorError> {
        let deadline = Instant::now() + self.call_timeout;
        let mut backoff = FIRST_BACKOFF;
        let mut attempt = 1;
        loop {
            let request = build(&self.client)
                .build()
                .map_err(|err| ConnectorError::Misconfigured(format!("a bad request: {err}")))?;
            let path = request.url().path().to_owned();
            let left = deadline.saturating_duration_since(Instant::now());
            let outcome = match tokio::time::timeout(left, self.client.execute(request)).await {
                Err(_) => Attempt::Retry(format!("{path} did not answer in time"), None),
                Ok(Err(err)) => {
                    Attempt::Retry(format!("{path}: {}", describe(&err.without_url())), None)
                }
                Ok(Ok(response)) => classify(&path, response, deadline).await,
            };
            let (why, asked_wait) = match outcome {
                Attempt::Done(body) => return Ok((path, body)),
                Attempt::Fail(err) => return Err(err),
                Attempt::Retry(why, asked_wait) => (why, asked_wait),
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

enum Attempt {
    Done(Vec<u8>),
    /// Worth another try, after the server's `Retry-After` when it gave one.
    Retry(String, Option<Duration>),
    Fail(ConnectorError),
}

async fn classify(path: &str, response: Response, deadline: Instant) -> Attempt {
    let status = response.status();
    let retry_after = retry_after(&response);
    let body = match read_capped(response, deadline).await {
        Ok(body) => body,
        Err(why) => return Attempt::Retry(format!("{path}: {why}"), None),
    };
    if status.is_success() {
        return Attempt::Done(body);
    }
    let said = quote(&body);
    match status {
        StatusCode::TOO_MANY_REQUESTS
        | StatusCode::INTERNAL_SERVER_ERROR
        | StatusCode::BAD_GATEWAY
        | StatusCode::SERVICE_UNAVAILABLE
        | StatusCode::GATEWAY_TIMEOUT => {
            Attempt::Retry(format!("{path} answered {status}{said}"), retry_after)
        }
        StatusCode::UNAUTHORIZED => Attempt::Fail(ConnectorError::Rejected(format!(
            "the credential was refused ({status}){said}"
        ))),
        StatusCode::FORBIDDEN => Attempt::Fail(ConnectorError::Forbidden(format!(
            "{path}: permission denied{said}"
        ))),
        _ => Attempt::Fail(ConnectorError::Misconfigured(format!(
            "{path} answered {status}{said}"
        ))),
    }
}

/// The server's `Retry-After` in seconds (the HTTP-date form is rare on APIs and ignored).
fn retry_after(response: &Response) -> Option<Duration> {
    response
        .headers()
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

/// `: <the provider's message>` from an error answer (JSON `message` / `error.message`, or
/// the start of the text).
fn quote(body: &[u8]) -> String {
    let message = serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|json| {
            json.get("message")
                .or_else(|| json.pointer("/error/message"))
                .or_else(|| json.get("Message"))
                .and_then(serde_json::Value::as_str)
                .map(str::to_owned)
        })
        .unwrap_or_else(|| String::from_utf8_lossy(body).trim().to_owned());
    if message.is_empty() {
        String::new()
    } else {
        format!(": {}", message.chars().take(MAX_QUOTE).collect::<String>())
    }
}

/// A random wait between half of `backoff` and all of it.
fn jittered(backoff: Duration) -> Duration {
    backoff / 2 + backoff.mul_f64(fastrand::f64() / 2.0)
}
