//! The client of `scripts/bench-events`: opens SOCKETS WebSockets to URL, reads the server's
//! resident memory (from `/proc/PID/status`) before and after, then fires EVENTS events one at
//! a time and times each socket's delivery from the moment this process fired it. Prints one
//! line: sockets, deliveries, latency p50 / p99 / max and resident memory per socket.
//!
//! Usage: `ws_fanout URL SOCKETS EVENTS SERVER_PID TRIGGER [BEARER]`, where TRIGGER is
//! `post:URL` (the body goes to every socket: the bare baseline) or
//! `notify:DATABASE_URL:TENANT_ID` (a `sync.finished` event for that tenant, sent with
//! PostgreSQL `NOTIFY` as Nimbus publishes every event).

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use sqlx::Connection;
use tokio::sync::{Semaphore, mpsc};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

/// Connections being opened at once (a burst of 10,000 SYNs overflows the listen backlog).
const OPENING_AT_ONCE: usize = 256;

enum Trigger {
    Post(String),
    Notify(sqlx::PgConnection, String),
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [url, sockets, events, pid, trigger, rest @ ..] = args.as_slice() else {
        return Err("usage: ws_fanout URL SOCKETS EVENTS SERVER_PID TRIGGER [BEARER]".into());
    };
    let sockets: usize = sockets.parse()?;
    let events: usize = events.parse()?;
    let bearer = rest.first().cloned();
    let mut trigger = match trigger.split_once(':') {
        Some(("post", target)) => Trigger::Post(target.to_owned()),
        Some(("notify", spec)) => {
            let (database, tenant) = spec
                .rsplit_once(':')
                .ok_or("notify:DATABASE_URL:TENANT_ID")?;
            Trigger::Notify(
                sqlx::PgConnection::connect(database).await?,
                tenant.to_owned(),
            )
        }
        _ => return Err("TRIGGER is post:URL or notify:DATABASE_URL:TENANT_ID".into()),
    };

    let before = resident_kib(pid)?;
    // Each socket reports (event number, arrival) for every event it receives.
    let (arrivals, mut arrived) = mpsc::unbounded_channel::<(usize, Instant)>();
    let opening = Arc::new(Semaphore::new(OPENING_AT_ONCE));
    let (ready, mut all_ready) = mpsc::unbounded_channel::<Result<(), String>>();
    for _ in 0..sockets {
        let mut request = url.as_str().into_client_request()?;
        if let Some(token) = &bearer {
            request
                .headers_mut()
                .insert("authorization", format!("Bearer {token}").parse()?);
        }
        let (opening, ready, arrivals) = (Arc::clone(&opening), ready.clone(), arrivals.clone());
        tokio::spawn(async move {
            let permit = opening.acquire_owned().await;
            let connected = tokio_tungstenite::connect_async(request).await;
            drop(permit);
            let mut stream = match connected {
                Ok((stream, _)) => {
                    let _ = ready.send(Ok(()));
                    stream
                }
                Err(err) => {
                    let _ = ready.send(Err(err.to_string()));
                    return;
                }
            };
            while let Some(Ok(message)) = stream.next().await {
                if let Message::Text(text) = message
                    && let Some(number) = event_number(&text)
                {
                    let _ = arrivals.send((number, Instant::now()));
                }
            }
        });
    }
    drop(ready);
    let mut connected = 0;
    while connected < sockets {
        match all_ready.recv().await {
            Some(Ok(())) => connected += 1,
            Some(Err(err)) => return Err(format!("a socket did not open: {err}").into()),
            None => return Err("the sockets' tasks ended".into()),
        }
    }
    // Let the server settle (buffers allocated on first use) before reading its memory.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = resident_kib(pid)?;

    let mut latencies = Vec::with_capacity(sockets * events);
    let http = reqwest::Client::new();
    for number in 0..events {
        let fired = Instant::now();
        match &mut trigger {
            Trigger::Post(target) => {
                http.post(target.as_str())
                    .body(format!("{{\"seq\":{number}}}"))
                    .send()
                    .await?
                    .error_for_status()?;
            }
            Trigger::Notify(conn, tenant) => {
                let event = serde_json::json!({
                    "kind": "sync.finished", "tenant_id": tenant, "project_id": null,
                    "at": chrono::Utc::now(), "data": { "seq": number },
                });
                sqlx::query("SELECT pg_notify('nimbus_events', $1)")
                    .bind(event.to_string())
                    .execute(&mut *conn)
                    .await?;
            }
        }
        let mut delivered = 0;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        while delivered < connected {
            match tokio::time::timeout_at(deadline, arrived.recv()).await {
                Ok(Some((got, at))) if got == number => {
                    latencies.push(at.duration_since(fired));
                    delivered += 1;
                }
                Ok(Some(_)) => {}
                Ok(None) | Err(_) => break,
            }
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    latencies.sort_unstable();
    let quantile = |q: f64| {
        latencies
            .get(((latencies.len() as f64 * q).ceil() as usize).saturating_sub(1))
            .map_or(f64::NAN, |latency| latency.as_secs_f64() * 1000.0)
    };
    println!(
        "sockets={connected} delivered={}/{} p50_ms={:.2} p99_ms={:.2} max_ms={:.2} rss_per_socket_kib={:.1}",
        latencies.len(),
        connected * events,
        quantile(0.50),
        quantile(0.99),
        quantile(1.0),
        (after.saturating_sub(before)) as f64 / connected.max(1) as f64,
    );
    Ok(())
}

/// The event number carried as `"seq"` (top level, or in a Nimbus event's `data`).
fn event_number(text: &str) -> Option<usize> {
    let json: serde_json::Value = serde_json::from_str(text).ok()?;
    let seq = json.get("seq").or_else(|| json.pointer("/data/seq"))?;
    usize::try_from(seq.as_u64()?).ok()
}

fn resident_kib(pid: &str) -> Result<u64, Box<dyn std::error::Error>> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or_else(|| "no VmRSS".into())
}
