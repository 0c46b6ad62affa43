//! Single sign-on configuration: a tenant's identity providers through
//! `/api/v1/identity-providers` — the client secret sealed and never shown, every change
//! audited without it, settings checked with a sentence saying what to enter.

use axum::http::Method;
use nimbus_api_types::rbac::BuiltinRole;
use nimbus_tests::{TestApp, test_config};
use serde_json::{Value, json};

const SECRET: &str = "sso-client-secret-canary-8e41d0";

fn keycloak() -> Value {
    json!({
        "name": "Acme Keycloak",
        "kind": "oidc",
        "preset": "keycloak",
        "issuer": "https://sso.acme.example/realms/acme",
        "client_id": "nimbus",
        "client_secret": SECRET,
        "scopes": ["email", "profile", "groups"],
        "groups_claim": "groups",
        "allowed_domains": ["acme.example"],
        "role_mappings": [{ "group": "platform", "role": "operator" },
                          { "group": "finops", "role": "finance" }],
    })
}

#[tokio::test]
async fn an_owner_adds_changes_and_removes_a_provider_whose_secret_never_comes_back() {
    let app = TestApp::new().await;
    let tenant = app.tenant("acme").await;
    let owner = app.member(tenant, BuiltinRole::Owner).await;

    let created = app
        .call(
            &owner.token,
            Method::POST,
            "/api/v1/identity-providers",
            Some(keycloak()),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text());
    assert!(!created.text().contains(SECRET));
    let provider = created.json();
    let id = provider["id"].as_str().unwrap().to_owned();
    assert_eq!(provider["has_client_secret"], true);
    assert_eq!(provider["default_role"], "viewer");
    assert_eq!(provider["enabled"], true);
    assert!(
        provider["redirect_uri"]
            .as_str()
            .unwrap()
            .ends_with("/api/v1/auth/sso/callback"),
        "{provider}"
    );
    assert_eq!(provider["role_mappings"][1]["role"], "finance");

    // The stored secret is ciphertext that opens only as this provider's.
    let (key_version, wrapped_key, ciphertext): (i32, Vec<u8>, Vec<u8>) = sqlx::query_as(
        "SELECT secret_key_version, secret_wrapped_key, client_secret FROM identity_providers",
    )
    .fetch_one(&mut app.owner().await)
    .await
    .unwrap();
    assert!(
        !ciphertext
            .windows(SECRET.len())
            .any(|window| window == SECRET.as_bytes())
    );
    let sealed = nimbus::secrets::Sealed {
        key_version,
        wrapped_key,
        ciphertext,
    };
    let binding = |record| nimbus::secrets::Binding {
        purpose: "identity-provider-client-secret",
        tenant,
        record,
    };
    let opened = app
        .state
        .secrets
        .open(&sealed, binding(id.parse().unwrap()))
        .unwrap();
    assert_eq!(opened, SECRET.as_bytes());
    assert!(
        app.state
            .secrets
            .open(&sealed, binding(uuid::Uuid::new_v4()))
            .is_err()
    );

    // A change without a secret keeps the stored one.
    let mut change = keycloak();
    change["name"] = json!("Keycloak");
    change["enabled"] = json!(false);
    change.as_object_mut().unwrap().remove("client_secret");
    let changed = app
        .call(
            &owner.token,
            Method::PUT,
            &format!("/api/v1/identity-providers/{id}"),
            Some(change),
        )
        .await;
    assert_eq!(changed.status, 200, "{}", changed.text());
    let changed = changed.json();
    assert_eq!(changed["name"], "Keycloak");
    assert_eq!(changed["enabled"], false);
    assert_eq!(changed["has_client_secret"], true);

    // Two providers cannot share a name.
    let mut twin = keycloak();
    twin["name"] = json!("Keycloak");
    let conflict = app
        .call(
            &owner.token,
            Method::POST,
            "/api/v1/identity-providers",
            Some(twin),
        )
        .await;
    assert_eq!(conflict.status, 409, "{}", conflict.text());

    let listed = app.get_ok(&owner, "/api/v1/identity-providers").await;
    assert_eq!(listed.as_array().unwrap().len(), 1, "{listed}");
    assert!(!listed.to_string().contains(SECRET));

    let removed = app
        .call(
            &owner.token,
            Method::DELETE,
            &format!("/api/v1/identity-providers/{id}"),
            None,
        )
        .await;
    assert_eq!(removed.status, 204);
    let gone = app
        .call(
            &owner.token,
            Method::GET,
            &format!("/api/v1/identity-providers/{id}"),
            None,
        )
        .await;
    assert_eq!(gone.status, 404);

    // Audited, each in the change's own transaction, never with the secret.
    let trail: Vec<(String, String)> = sqlx::query_as(
        "SELECT action, details::text FROM audit_log
         WHERE action LIKE 'identity_provider.%' ORDER BY id",
    )
    .fetch_all(&mut app.owner().await)
    .await
    .unwrap();
    let actions: Vec<&str> = trail.iter().map(|(action, _)| action.as_str()).collect();
    assert_eq!(
        actions,
        [
            "identity_provider.create",
            "identity_provider.update",
            "identity_provider.delete"
        ]
    );
    assert!(trail.iter().all(|(_, details)| !details.contains(SECRET)));
    assert!(
        trail[0].1.contains("\"client_secret_changed\": true"),
        "{}",
        trail[0].1
    );
}

#[tokio::test]
async fn settings_that_cannot_work_are_refused_with_what_to_enter() {
    let app = TestApp::with_config(test_config(None)).await;
    let tenant = app.tenant("acme").await;
    let owner = app.member(tenant, BuiltinRole::Owner).await;
    let refused = |change: Value, says: &'static str| {
        let app = &app;
        let owner = &owner;
        async move {
            let mut input = keycloak();
            for (key, value) in change.as_object().unwrap() {
                match value {
                    Value::Null => {
                        input.as_object_mut().unwrap().remove(key);
                    }
                    value => input[key] = value.clone(),
                }
            }
            let response = app
                .call(
                    &owner.token,
                    Method::POST,
                    "/api/v1/identity-providers",
                    Some(input),
                )
                .await;
            assert_eq!(response.status, 422, "{says}: {}", response.text());
            let message = response.json()["error"]["message"]
                .as_str()
                .unwrap()
                .to_owned();
            assert!(message.contains(says), "{message} lacks {says}");
        }
    };
    refused(json!({ "issuer": null }), "https://{host}/realms/{realm}").await;
    refused(
        json!({ "issuer": null, "preset": "entra_id" }),
        "login.microsoftonline.com",
    )
    .await;
    // The outbound policy: no plain http, no private addresses for a provider.
    refused(json!({ "issuer": "http://sso.acme.example" }), "issuer:").await;
    refused(
        json!({ "issuer": "https://127.0.0.1:8443/realms/a" }),
        "issuer:",
    )
    .await;
    refused(json!({ "client_secret": null }), "client_secret").await;
    // A GitHub Enterprise Server's URL passes the same policy.
    refused(
        json!({ "kind": "github", "preset": null, "issuer": "http://github.acme.example" }),
        "issuer:",
    )
    .await;
    refused(
        json!({ "allowed_domains": ["@acme.example"] }),
        "allowed_domains",
    )
    .await;
    refused(json!({ "scopes": ["email profile"] }), "scopes").await;
    refused(json!({ "name": " Keycloak" }), "name").await;
    refused(
        json!({ "role_mappings": [{ "group": "", "role": "owner" }] }),
        "role_mappings",
    )
    .await;
    let none = app.get_ok(&owner, "/api/v1/identity-providers").await;
    assert_eq!(none, json!([]));

    // GitHub needs no issuer.
    let github = app
        .call(
            &owner.token,
            Method::POST,
            "/api/v1/identity-providers",
            Some(json!({ "name": "GitHub", "kind": "github", "client_id": "Iv1.0123456789abcdef",
                         "client_secret": SECRET, "role_mappings": [{ "group": "acme/platform", "role": "operator" }] })),
        )
        .await;
    assert_eq!(github.status, 201, "{}", github.text());
}

/// The app (reaching providers on 127.0.0.1 over http) and a provider that knows it.
async fn app_and_provider() -> (TestApp, nimbus_tests::oidc::OidcProvider) {
    let mut config = test_config(None);
    config.outbound.allow_http = true;
    config.outbound.allow_private_networks = true;
    let app = TestApp::with_config(config).await;
    let redirect = format!("{}/api/v1/auth/sso/callback", app.state.config.base_url());
    let provider = nimbus_tests::oidc::start(&json!([{
        "client_id": "nimbus", "client_secret": SECRET, "redirect_uris": [redirect]
    }]))
    .await;
    (app, provider)
}

fn query_of(location: &str) -> std::collections::BTreeMap<String, String> {
    reqwest::Url::parse(location)
        .unwrap()
        .query_pairs()
        .map(|(name, value)| (name.into_owned(), value.into_owned()))
        .collect()
}

#[tokio::test]
async fn a_sign_in_starts_at_the_provider_with_pkce_and_a_state_bound_to_the_browser() {
    let (app, idp) = app_and_provider().await;
    let tenant = app.tenant("acme").await;
    let owner = app.member(tenant, BuiltinRole::Owner).await;
    let mut input = keycloak();
    input["issuer"] = json!(idp.issuer);
    input["client_id"] = json!("nimbus");
    input["scopes"] = json!(["email", "groups"]);
    let id = app
        .create_ok(&owner, "/api/v1/identity-providers", input)
        .await;

    let started = app
        .get(&format!(
            "/api/v1/auth/sso/start?tenant=acme&provider={id}&next=/clusters%3Fprovider%3Daws"
        ))
        .await;
    assert_eq!(started.status, 303, "{}", started.text());
    let location = started.headers["location"].to_str().unwrap().to_owned();
    assert!(
        location.starts_with(&format!("{}/auth?", idp.issuer)),
        "{location}"
    );
    let query = query_of(&location);
    assert_eq!(query["response_type"], "code");
    assert_eq!(query["client_id"], "nimbus");
    assert_eq!(
        query["redirect_uri"],
        format!("{}/api/v1/auth/sso/callback", app.state.config.base_url())
    );
    assert_eq!(query["code_challenge_method"], "S256");
    assert_eq!(query["code_challenge"].len(), 43, "{query:?}");
    let scopes: Vec<&str> = query["scope"].split(' ').collect();
    assert!(
        scopes.contains(&"openid") && scopes.contains(&"groups"),
        "{scopes:?}"
    );

    // The browser binding: an HttpOnly host cookie whose hash, with the state's, is stored.
    let cookie = started.headers["set-cookie"].to_str().unwrap().to_owned();
    assert!(
        cookie.starts_with("__Host-nimbus_sso=nimbus_sso_"),
        "{cookie}"
    );
    for attribute in [
        "Path=/",
        "Secure",
        "HttpOnly",
        "SameSite=Lax",
        "Max-Age=600",
    ] {
        assert!(cookie.contains(attribute), "{cookie}");
    }
    let browser = cookie
        .split(';')
        .next()
        .unwrap()
        .split_once('=')
        .unwrap()
        .1
        .to_owned();
    let sha256 = |text: &str| {
        ring::digest::digest(&ring::digest::SHA256, text.as_bytes())
            .as_ref()
            .to_vec()
    };
    let (browser_hash, nonce, verifier, next, seconds_left): (
        Vec<u8>,
        String,
        String,
        String,
        f64,
    ) = sqlx::query_as(
        "SELECT browser_hash, nonce, pkce_verifier, next,
                    extract(epoch FROM expires_at - now())::float8
             FROM sso_logins WHERE state_hash = $1",
    )
    .bind(sha256(&query["state"]))
    .fetch_one(&mut app.owner().await)
    .await
    .unwrap();
    assert_eq!(browser_hash, sha256(&browser));
    assert_eq!(nonce, query["nonce"]);
    assert_eq!(next, "/clusters?provider=aws");
    assert!((590.0..=600.0).contains(&seconds_left), "{seconds_left}");
    // The challenge is the S256 of the stored verifier.
    use base64::Engine as _;
    assert_eq!(
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha256(&verifier)),
        query["code_challenge"]
    );

    // The provider takes the request: it asks for a login, not back with an error.
    let answer = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(&location)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 303, "{:?}", answer.text().await);
    let interaction = answer.headers()["location"].to_str().unwrap();
    assert!(interaction.starts_with("/interaction/"), "{interaction}");
}

#[tokio::test]
async fn a_sign_in_does_not_start_for_another_site_a_disabled_or_foreign_provider_or_one_that_is_down()
 {
    let (app, idp) = app_and_provider().await;
    let tenant = app.tenant("acme").await;
    let owner = app.member(tenant, BuiltinRole::Owner).await;
    let add = |issuer: String, name: &'static str, enabled: bool| {
        let app = &app;
        let owner = &owner;
        async move {
            let mut input = keycloak();
            input["issuer"] = json!(issuer);
            input["name"] = json!(name);
            input["enabled"] = json!(enabled);
            app.create_ok(owner, "/api/v1/identity-providers", input)
                .await
        }
    };
    let live = add(idp.issuer.clone(), "Live", true).await;
    let off = add(idp.issuer.clone(), "Off", false).await;
    let down = add(
        format!("http://127.0.0.1:{}", nimbus_tests::free_port()),
        "Down",
        true,
    )
    .await;
    let start = |tenant: &str, provider: &str, next: &str| {
        format!("/api/v1/auth/sso/start?tenant={tenant}&provider={provider}&next={next}")
    };

    for outside in [
        "//evil.example",
        "/%5Cevil.example",
        "https://evil.example/",
    ] {
        let refused = app.get(&start("acme", &live, outside)).await;
        assert_eq!(refused.status, 422, "{outside}: {}", refused.text());
    }
    assert_eq!(app.get(&start("acme", &off, "/")).await.status, 404);
    assert_eq!(app.get(&start("nobody", &live, "/")).await.status, 404);
    // Another tenant's slug with this tenant's provider: not found there.
    app.tenant("globex").await;
    assert_eq!(app.get(&start("globex", &live, "/")).await.status, 404);
    let unreachable = app.get(&start("acme", &down, "/")).await;
    assert_eq!(unreachable.status, 503, "{}", unreachable.text());
    assert!(
        unreachable.text().contains("Down cannot be reached"),
        "{}",
        unreachable.text()
    );
    // Nothing was left in flight by the refusals.
    let in_flight = app.count("SELECT count(*) FROM sso_logins").await;
    assert_eq!(in_flight, 0);
}

#[tokio::test]
async fn a_master_key_rotation_rewraps_client_secrets_which_still_open() {
    let app = TestApp::new().await;
    let tenant = app.tenant("acme").await;
    let owner = app.member(tenant, BuiltinRole::Owner).await;
    let id = app
        .create_ok(&owner, "/api/v1/identity-providers", keycloak())
        .await;
    let (keys, only_new) = nimbus_tests::rotated_master_keys();
    let outcome =
        nimbus::admin::rewrap_all::<nimbus::sso::providers::ClientSecrets>(&app.state.db, &keys)
            .await
            .unwrap();
    assert_eq!(outcome.rewrapped, 1);
    assert!(outcome.unreadable.is_empty());
    let mut db = app.owner().await;
    let (key_version, wrapped_key, ciphertext): (i32, Vec<u8>, Vec<u8>) = sqlx::query_as(
        "SELECT secret_key_version, secret_wrapped_key, client_secret FROM identity_providers",
    )
    .fetch_one(&mut db)
    .await
    .unwrap();
    assert_eq!(key_version, 2);
    // Key 2 alone opens it: key 1 can be retired.
    let opened = only_new
        .open(
            &nimbus::secrets::Sealed {
                key_version,
                wrapped_key,
                ciphertext,
            },
            nimbus::secrets::Binding {
                purpose: "identity-provider-client-secret",
                tenant,
                record: uuid::Uuid::parse_str(&id).unwrap(),
            },
        )
        .unwrap();
    assert_eq!(opened, SECRET.as_bytes());
    let audited = app
        .count("SELECT count(*) FROM audit_log WHERE action = 'identity_provider.rewrap'")
        .await;
    assert_eq!(audited, 1);
}
