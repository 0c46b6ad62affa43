//! The live events WebSocket (SECURITY.md 22): authenticated at the upgrade, `Origin` checked,
//! each event delivered only to callers of its tenant holding its permission, a client that
//! does not read cut off with bounded memory, revoked access and shutdown closing the socket.

use std::time::Duration;

use futures_util::StreamExt;
use nimbus::state::AppState;
use nimbus_api_types::events::EventKind;
use nimbus_api_types::ids::{ProjectId, TenantId};
use nimbus_api_types::rbac::BuiltinRole;
use nimbus_tests::{TestApp, spawn_server, test_config};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{Error, Message};

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// The app on a real socket with its events relay running.
async fn serve(app: &TestApp) -> std::net::SocketAddr {
    tokio::spawn(nimbus::events::relay(app.state.clone()));
    spawn_server(app.router.clone()).await
}

async fn open(
    address: std::net::SocketAddr,
    token: Option<&str>,
    origin: Option<&str>,
) -> Result<Socket, Error> {
    let mut request = format!("ws://{address}/api/v1/events")
        .into_client_request()
        .unwrap();
    if let Some(token) = token {
        request
            .headers_mut()
            .insert("authorization", format!("Bearer {token}").parse().unwrap());
    }
    if let Some(origin) = origin {
        request
            .headers_mut()
            .insert("origin", origin.parse().unwrap());
    }
    tokio_tungstenite::connect_async(request)
        .await
        .map(|(socket, _)| socket)
}

/// Publishes as a change would: inside a committed transaction of the tenant.
async fn publish(
    state: &AppState,
    tenant: TenantId,
    project: Option<ProjectId>,
    kind: EventKind,
    data: Value,
) {
    let mut tx = nimbus::db::begin_for_tenant(&state.db, tenant)
        .await
        .unwrap();
    nimbus::events::publish(&mut tx, tenant, project, kind, data)
        .await
        .unwrap();
    tx.commit().await.unwrap();
}

/// The next event, or `None` when nothing arrives within `wait`.
async fn next_event(socket: &mut Socket, wait: Duration) -> Option<Value> {
    loop {
        match tokio::time::timeout(wait, socket.next()).await {
            Err(_) => return None,
            Ok(Some(Ok(Message::Text(text)))) => return Some(serde_json::from_str(&text).unwrap()),
            Ok(Some(Ok(Message::Ping(_) | Message::Pong(_)))) => {}
            Ok(other) => panic!("expected an event, got {other:?}"),
        }
    }
}

/// The close code the server ends the socket with.
async fn close_code(socket: &mut Socket, wait: Duration) -> Option<CloseCode> {
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        match tokio::time::timeout_at(deadline, socket.next()).await {
            Err(_) => panic!("the socket stayed open"),
            Ok(Some(Ok(Message::Close(frame)))) => return frame.map(|frame| frame.code),
            Ok(Some(Ok(_))) => {}
            Ok(Some(Err(_)) | None) => return None,
        }
    }
}

#[tokio::test]
async fn events_reach_exactly_the_sockets_of_their_tenant_holding_their_permission() {
    let app = TestApp::new().await;
    let address = serve(&app).await;
    let acme = app.tenant("acme").await;
    let other = app.tenant("other").await;
    let owner = app.member(acme, BuiltinRole::Owner).await;
    // A dashboard token that may read cloud accounts only.
    let created = app
        .call(
            &owner.token,
            axum::http::Method::POST,
            "/api/v1/api-tokens",
            Some(json!({ "name": "ops board", "permissions": ["clouds:read"] })),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text());
    let clouds_only = created.json()["secret"].as_str().unwrap().to_owned();
    let stranger = app.member(other, BuiltinRole::Owner).await;
    let mut owner_socket = open(address, Some(&owner.token), None).await.unwrap();
    let mut clouds_only_socket = open(address, Some(&clouds_only), None).await.unwrap();
    let mut stranger_socket = open(address, Some(&stranger.token), None).await.unwrap();
    // Subscribed once the upgrade is through; give the relay its LISTEN.
    tokio::time::sleep(Duration::from_millis(300)).await;

    publish(
        &app.state,
        acme,
        None,
        EventKind::SyncFinished,
        json!({ "state": "succeeded" }),
    )
    .await;
    publish(
        &app.state,
        acme,
        None,
        EventKind::BudgetAlert,
        json!({ "threshold": 80 }),
    )
    .await;
    publish(
        &app.state,
        other,
        None,
        EventKind::BudgetAlert,
        json!({ "threshold": 50 }),
    )
    .await;

    let wait = Duration::from_secs(5);
    let first = next_event(&mut owner_socket, wait).await.unwrap();
    assert_eq!(first["kind"], "sync.finished");
    assert_eq!(first["tenant_id"], json!(acme));
    assert_eq!(first["data"]["state"], "succeeded");
    assert_eq!(
        next_event(&mut owner_socket, wait).await.unwrap()["kind"],
        "budget.alert"
    );
    // The clouds-only token sees syncs but not costs.
    assert_eq!(
        next_event(&mut clouds_only_socket, wait).await.unwrap()["kind"],
        "sync.finished"
    );
    // The other tenant's owner sees its own alert only.
    let theirs = next_event(&mut stranger_socket, wait).await.unwrap();
    assert_eq!(theirs["data"]["threshold"], 50);
    let quiet = Duration::from_millis(500);
    assert!(next_event(&mut owner_socket, quiet).await.is_none());
    assert!(next_event(&mut clouds_only_socket, quiet).await.is_none());
    assert!(next_event(&mut stranger_socket, quiet).await.is_none());

    // A rolled-back change announces nothing.
    let mut tx = nimbus::db::begin_for_tenant(&app.state.db, acme)
        .await
        .unwrap();
    nimbus::events::publish(&mut tx, acme, None, EventKind::SyncFinished, json!({}))
        .await
        .unwrap();
    tx.rollback().await.unwrap();
    assert!(next_event(&mut owner_socket, quiet).await.is_none());
    owner_socket.close(None).await.unwrap();
}

#[tokio::test]
async fn the_upgrade_needs_a_credential_and_a_page_of_the_portals_origin() {
    let app = TestApp::new().await;
    let address = serve(&app).await;
    let acme = app.tenant("acme").await;
    let owner = app.member(acme, BuiltinRole::Viewer).await;
    let status = |result: Result<Socket, Error>| match result {
        Err(Error::Http(response)) => response.status().as_u16(),
        Err(other) => panic!("{other}"),
        Ok(_) => 101,
    };
    assert_eq!(status(open(address, None, None).await), 401);
    assert_eq!(
        status(open(address, Some("nimbus_pat_forged"), None).await),
        401
    );
    assert_eq!(
        status(open(address, Some(&owner.token), Some("https://evil.example")).await),
        403
    );
    let own = format!("http://{address}");
    assert_eq!(
        status(open(address, Some(&owner.token), Some(&own)).await),
        101
    );
    assert_eq!(status(open(address, Some(&owner.token), None).await), 101);
}

#[tokio::test]
async fn revoked_access_and_shutdown_close_the_socket() {
    let app = TestApp::new().await;
    let address = serve(&app).await;
    let acme = app.tenant("acme").await;
    let leaving = app.member(acme, BuiltinRole::Admin).await;
    let staying = app.member(acme, BuiltinRole::Admin).await;
    let mut leaving_socket = open(address, Some(&leaving.token), None).await.unwrap();
    let mut staying_socket = open(address, Some(&staying.token), None).await.unwrap();

    let mut owner_db = app.owner().await;
    sqlx::query("DELETE FROM memberships WHERE user_id = $1")
        .bind(leaving.user.0)
        .execute(&mut owner_db)
        .await
        .unwrap();
    // Checked again every principal-cache window (at least a second).
    assert_eq!(
        close_code(&mut leaving_socket, Duration::from_secs(5)).await,
        Some(CloseCode::Policy)
    );

    app.state.lifecycle.begin_draining();
    assert_eq!(
        close_code(&mut staying_socket, Duration::from_secs(5)).await,
        Some(CloseCode::Away)
    );
}

#[tokio::test]
async fn a_client_that_never_reads_is_cut_off_and_its_memory_freed() {
    let mut config = test_config(None);
    config.events.queue = 8;
    config.events.send_timeout = Duration::from_millis(500);
    let app = TestApp::with_config(config).await;
    let address = serve(&app).await;
    let acme = app.tenant("acme").await;
    let owner = app.member(acme, BuiltinRole::Owner).await;
    let mut socket = open(address, Some(&owner.token), None).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(app.state.events.sockets(), 1);

    // ~12 MB of events, far beyond what the socket buffers hold; the client reads none.
    let padding = "x".repeat(4000);
    let published = 3000;
    for batch in 0..published / 100 {
        let mut tx = nimbus::db::begin_for_tenant(&app.state.db, acme)
            .await
            .unwrap();
        for i in 0..100 {
            nimbus::events::publish(
                &mut tx,
                acme,
                None,
                EventKind::InventoryChanged,
                json!({ "n": batch * 100 + i, "padding": padding }),
            )
            .await
            .unwrap();
        }
        tx.commit().await.unwrap();
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while app.state.events.sockets() > 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the slow socket is still subscribed"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // What it finally reads is a part of the stream, then the end.
    let mut received = 0;
    loop {
        match tokio::time::timeout(Duration::from_secs(5), socket.next())
            .await
            .unwrap()
        {
            Some(Ok(Message::Text(_))) => received += 1,
            Some(Ok(Message::Close(frame))) => {
                assert_eq!(frame.unwrap().code, CloseCode::Again);
                break;
            }
            Some(Ok(_)) => {}
            Some(Err(_)) | None => break,
        }
    }
    assert!(received < published, "received {received} of {published}");
}
