//! Invitations and password resets by e-mail, through a real SMTP client to a local SMTP stub.

use axum::http::Method;
use nimbus_api_types::rbac::BuiltinRole;
use nimbus_tests::{PASSWORD, SmtpStub, TestApp, test_config};
use serde_json::json;

async fn app_with_mail() -> (TestApp, SmtpStub) {
    let smtp = SmtpStub::start().await;
    let mut config = test_config(None);
    config.mail.smtp_url = Some(smtp.url.clone().try_into().unwrap());
    config.mail.from = Some("Nimbus <nimbus@example.com>".into());
    (TestApp::with_config(config).await, smtp)
}

/// The secret of the link in a mail (`…#nimbus_link_…`), undoing quoted-printable soft breaks.
fn link_secret(message: &str, path: &str) -> String {
    let message = message.replace("=\n", "");
    let start = message
        .find(&format!("{path}#"))
        .unwrap_or_else(|| panic!("no {path} link in {message}"));
    message[start + path.len() + 1..]
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn an_invitation_goes_out_by_mail_and_its_link_is_not_in_the_response() {
    let (app, smtp) = app_with_mail().await;
    let tenant = app.tenant("mailed").await;
    let admin = app.member(tenant, BuiltinRole::Admin).await;
    let created = app
        .call(
            &admin.token,
            Method::POST,
            "/api/v1/invitations",
            Some(json!({"email": "guest@example.com", "role": "viewer"})),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text());
    assert_eq!(created.json()["emailed"], true);
    assert!(created.json().get("link").is_none());
    let messages = smtp.messages();
    assert_eq!(messages.len(), 1);
    assert!(
        messages[0].contains("To: guest@example.com"),
        "{}",
        messages[0]
    );
    assert!(
        messages[0].contains("Subject: You are invited to mailed on Nimbus"),
        "{}",
        messages[0]
    );
    let secret = link_secret(&messages[0], "/invitation");
    let joined = app
        .post_json(
            "/api/v1/invitations/accept",
            json!({"token": secret, "display_name": "Guest", "password": PASSWORD}),
        )
        .await;
    assert_eq!(joined.status, 200, "{}", joined.text());
}

#[tokio::test]
async fn a_password_reset_request_mails_a_working_link_and_answers_the_same_for_unknown_addresses()
{
    let (app, smtp) = app_with_mail().await;
    let owner = app
        .member(app.tenant("resets").await, BuiltinRole::Owner)
        .await;
    let unknown = app
        .post_json(
            "/api/v1/auth/password-reset/request",
            json!({"email": "nobody@example.com"}),
        )
        .await;
    let known = app
        .post_json(
            "/api/v1/auth/password-reset/request",
            json!({"email": owner.email}),
        )
        .await;
    assert_eq!(unknown.status, 202);
    assert_eq!(known.status, 202);
    assert_eq!(unknown.body, known.body);
    let messages = smtp.messages();
    assert_eq!(messages.len(), 1, "only the existing account gets mail");
    let secret = link_secret(&messages[0], "/reset-password");
    let new_password = "amber harbour compass 3";
    let reset = app
        .post_json(
            "/api/v1/auth/password-reset",
            json!({"token": secret, "new_password": new_password}),
        )
        .await;
    assert_eq!(reset.status, 204, "{}", reset.text());
    let login = app
        .post_json(
            "/api/v1/auth/login",
            json!({"email": owner.email, "password": new_password}),
        )
        .await;
    assert_eq!(login.status, 200);
}

#[tokio::test]
async fn without_a_mail_server_invitations_show_their_link_and_reset_requests_say_to_ask_an_administrator()
 {
    let app = TestApp::new().await;
    let admin = app
        .member(app.tenant("no-mail").await, BuiltinRole::Admin)
        .await;
    let created = app
        .call(
            &admin.token,
            Method::POST,
            "/api/v1/invitations",
            Some(json!({"email": "guest@example.com", "role": "viewer"})),
        )
        .await;
    assert_eq!(created.json()["emailed"], false);
    assert!(
        created.json()["link"]
            .as_str()
            .unwrap()
            .contains("/invitation#nimbus_link_")
    );
    let request = app
        .post_json(
            "/api/v1/auth/password-reset/request",
            json!({"email": admin.email}),
        )
        .await;
    assert_eq!(request.status, 503);
    assert!(request.header("retry-after").is_none());
}
