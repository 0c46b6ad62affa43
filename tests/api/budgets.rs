//! Budgets end to end: thresholds on actual and forecast spend fire once per period, as an
//! in-app notification, a Slack-compatible webhook and an e-mail.

use std::sync::{Arc, Mutex};

use axum::http::Method;
use chrono::{Days, Utc};
use nimbus_api_types::rbac::BuiltinRole;
use nimbus_tests::{Actor, SmtpStub, TestApp, test_config, weekly_bill};
use rust_decimal::Decimal;
use serde_json::{Value, json};

/// A local receiver that keeps every JSON body posted to it.
async fn webhook_receiver() -> (String, Arc<Mutex<Vec<Value>>>) {
    let received = Arc::new(Mutex::new(Vec::new()));
    let kept = Arc::clone(&received);
    let router = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |axum::Json(body): axum::Json<Value>| {
            let kept = Arc::clone(&kept);
            async move {
                kept.lock().unwrap().push(body);
                "ok"
            }
        }),
    );
    let address = nimbus_tests::spawn_server(router).await;
    (format!("http://{address}/hook"), received)
}

/// Sends the alerts due, as the server's loop does; how many went out.
async fn deliver(app: &TestApp) -> usize {
    nimbus::cost::budgets::deliver_due(
        &app.state.db,
        app.state.outbound.as_deref(),
        app.state.mailer.as_deref(),
    )
    .await
    .unwrap()
}

async fn alerts_of(app: &TestApp, actor: &Actor, budget: &str) -> Value {
    let response = app
        .call(
            &actor.token,
            Method::GET,
            &format!("/api/v1/budgets/{budget}/alerts"),
            None,
        )
        .await;
    assert_eq!(response.status, 200, "{}", response.text());
    response.json()
}

/// Test configuration whose outbound calls may reach a receiver on 127.0.0.1 over http
/// (refused by default).
fn local_targets() -> nimbus::config::Config {
    let mut config = test_config(None);
    config.outbound.allow_http = true;
    config.outbound.allow_private_networks = true;
    config
}

fn decimal(value: &Value) -> Decimal {
    value.as_str().unwrap().parse().unwrap()
}

#[tokio::test]
async fn thresholds_fire_once_per_period_to_notifications_webhooks_and_mail() {
    let smtp = SmtpStub::start().await;
    let mut config = local_targets();
    config.mail.smtp_url = Some(smtp.url.clone().try_into().unwrap());
    let app = TestApp::with_config(config).await;
    let tenant = app.tenant("budgets").await;
    let finance = app.member(tenant, BuiltinRole::Finance).await;
    let viewer = app.member(tenant, BuiltinRole::Viewer).await;

    // Five weeks of spend up to yesterday (UTC, the tenant's time zone).
    let today = Utc::now().date_naive();
    let bill = weekly_bill(
        today.checked_sub_days(Days::new(35)).unwrap(),
        today,
        "100",
        "40",
    );
    let imported = app
        .upload_bill(&finance.token, "recent.csv", bill.as_bytes())
        .await;
    assert_eq!(imported.status, 201, "{}", imported.text());

    let (hook, received) = webhook_receiver().await;
    let mut budget = json!({"name": "cloud", "period": "month", "amount": "1000000",
        "currency": "USD", "notify_emails": ["finops@example.com"], "webhook_url": hook});
    let created = app
        .call(
            &finance.token,
            Method::POST,
            "/api/v1/budgets",
            Some(budget.clone()),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text());
    let created = created.json();
    assert_eq!(
        created["webhook_host"], "127.0.0.1",
        "the URL itself is never shown"
    );
    assert!(!created.to_string().contains("/hook"));
    assert_eq!(created["thresholds"], json!(["50", "80", "100"]));
    let id = created["id"].as_str().unwrap().to_owned();
    let status = &created["status"];
    let actual = decimal(&status["actual"]);
    let forecast = decimal(&status["forecast"]);
    assert!(
        forecast > actual,
        "the rest of the month is forecast: {status}"
    );

    // An amount the forecast overshoots by a quarter: every forecast threshold fires, and the
    // actual ones the spend so far reached.
    let amount = (forecast / Decimal::new(125, 2)).round_dp(2);
    budget["amount"] = json!(amount.to_string());
    let replaced = app
        .call(
            &finance.token,
            Method::PUT,
            &format!("/api/v1/budgets/{id}"),
            Some(budget.clone()),
        )
        .await;
    assert_eq!(replaced.status, 200, "{}", replaced.text());
    let actual_percent = decimal(&replaced.json()["status"]["actual_percent"]);
    let expected_actual = [50, 80, 100]
        .into_iter()
        .filter(|t| actual_percent >= Decimal::from(*t))
        .count();
    let alerts = alerts_of(&app, &viewer, &id).await;
    let fired = alerts.as_array().unwrap();
    assert_eq!(fired.len(), 3 + expected_actual, "{alerts}");
    assert_eq!(fired.iter().filter(|a| a["basis"] == "forecast").count(), 3);
    assert!(
        fired.iter().all(|a| a["delivered_at"].is_null()),
        "not sent yet"
    );

    // Saving it again, or a new import, fires nothing new in this period.
    let again = app
        .call(
            &finance.token,
            Method::PUT,
            &format!("/api/v1/budgets/{id}"),
            Some(budget),
        )
        .await;
    assert_eq!(again.status, 200);
    let alerts_again = alerts_of(&app, &viewer, &id).await;
    assert_eq!(alerts_again.as_array().unwrap().len(), fired.len());

    // In-app notifications, one per alert.
    let notifications = app
        .call(&viewer.token, Method::GET, "/api/v1/notifications", None)
        .await
        .json();
    let items = notifications["items"].as_array().unwrap();
    assert_eq!(items.len(), fired.len());
    assert!(items.iter().all(|n| n["kind"] == "budget.alert"));
    assert!(
        items
            .iter()
            .any(|n| n["title"] == "Budget cloud: forecast to reach 100%"),
        "{notifications}"
    );
    let first = items[0]["id"].as_str().unwrap();
    let read = app
        .call(
            &viewer.token,
            Method::POST,
            &format!("/api/v1/notifications/{first}/read"),
            None,
        )
        .await;
    assert_eq!(read.status, 204);

    // The outbox: each alert to the webhook and by mail, once.
    let sent = deliver(&app).await;
    assert_eq!(sent, fired.len());
    let bodies = received.lock().unwrap().clone();
    assert_eq!(bodies.len(), fired.len());
    assert!(
        bodies
            .iter()
            .all(|b| b["text"].as_str().unwrap().starts_with("Budget cloud: "))
    );
    assert_eq!(smtp.messages().len(), fired.len());
    let resent = deliver(&app).await;
    assert_eq!(resent, 0, "delivered alerts are not sent again");
    let delivered = alerts_of(&app, &viewer, &id).await;
    assert!(
        delivered
            .as_array()
            .unwrap()
            .iter()
            .all(|a| !a["delivered_at"].is_null())
    );
}

#[tokio::test]
async fn a_failing_webhook_is_retried_later_and_unsafe_targets_are_refused() {
    let app = TestApp::with_config(local_targets()).await;
    let tenant = app.tenant("budget-retries").await;
    let finance = app.member(tenant, BuiltinRole::Finance).await;
    let today = Utc::now().date_naive();
    let bill = weekly_bill(
        today.checked_sub_days(Days::new(10)).unwrap(),
        today,
        "100",
        "100",
    );
    assert_eq!(
        app.upload_bill(&finance.token, "b.csv", bill.as_bytes())
            .await
            .status,
        201
    );
    // Nothing listens on this port: the delivery fails and is rescheduled.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let created = app
        .call(
            &finance.token,
            Method::POST,
            "/api/v1/budgets",
            Some(json!({
            "name": "tiny", "period": "month", "amount": "1", "currency": "USD",
            "thresholds": ["100"], "webhook_url": format!("http://127.0.0.1:{port}/x")})),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text());
    let id = created.json()["id"].as_str().unwrap().to_owned();
    let sent = deliver(&app).await;
    assert_eq!(sent, 0);
    let alerts = alerts_of(&app, &finance, &id).await;
    let alert = &alerts[0];
    assert_eq!(alert["delivery_attempts"], 1);
    assert!(alert["delivered_at"].is_null());
    assert!(
        alert["delivery_error"]
            .as_str()
            .unwrap()
            .starts_with("webhook: "),
        "{alert}"
    );
    let retried_at_once = deliver(&app).await;
    assert_eq!(retried_at_once, 0, "the retry waits for its backoff");
    let attempts: i32 = sqlx::query_scalar("SELECT delivery_attempts FROM budget_alerts")
        .fetch_one(&mut app.owner().await)
        .await
        .unwrap();
    assert_eq!(attempts, 1);

    // With the default policy, metadata and plain-http targets are refused when saved.
    let strict = TestApp::new().await;
    let owner = strict
        .member(strict.tenant("strict").await, BuiltinRole::Owner)
        .await;
    for url in [
        "http://hooks.example.com/x",
        "https://169.254.169.254/latest",
        "https://[::1]/x",
    ] {
        let refused = strict
            .call(&owner.token, Method::POST, "/api/v1/budgets", Some(json!({
                "name": "b", "period": "month", "amount": "10", "currency": "USD", "webhook_url": url})))
            .await;
        assert_eq!(refused.status, 422, "{url}: {}", refused.text());
    }
}
