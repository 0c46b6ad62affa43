//! Sign-in, sessions and CSRF, access and refresh tokens, forged tokens, revocation, setup,
//! invitations and passwords.

use axum::body::Body;
use axum::http::Method;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use nimbus_api_types::rbac::BuiltinRole;
use nimbus_tests::{Actor, PASSWORD, TestApp, TestResponse, request};
use serde_json::{Value, json};

async fn login(app: &TestApp, email: &str, password: &str) -> TestResponse {
    app.post_json(
        "/api/v1/auth/login",
        json!({"email": email, "password": password}),
    )
    .await
}

/// The session cookie (`name=value`) and CSRF token of a successful sign-in.
fn session_of(response: &TestResponse) -> (String, String) {
    assert_eq!(response.status, 200, "{}", response.text());
    let set_cookie = response.header("set-cookie").unwrap();
    let cookie = set_cookie.split(';').next().unwrap().to_owned();
    (
        cookie,
        response.json()["csrf_token"].as_str().unwrap().to_owned(),
    )
}

async fn with_cookie(
    app: &TestApp,
    method: Method,
    path: &str,
    cookie: &str,
    headers: &[(&str, &str)],
    body: Option<Value>,
) -> TestResponse {
    let mut builder = request(method, path).header("cookie", cookie);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    let request = match body {
        Some(body) => builder
            .header("content-type", "application/json")
            .body(Body::from(body.to_string())),
        None => builder.body(Body::empty()),
    };
    app.request(request.unwrap()).await
}

async fn token_pair(app: &TestApp, actor: &Actor, tenant: &str) -> (String, String) {
    let response = app
        .post_json("/api/v1/auth/token", json!({"grant_type": "password", "email": actor.email, "password": PASSWORD, "tenant": tenant}))
        .await;
    assert_eq!(response.status, 200, "{}", response.text());
    let body = response.json();
    (
        body["access_token"].as_str().unwrap().to_owned(),
        body["refresh_token"].as_str().unwrap().to_owned(),
    )
}

#[tokio::test]
async fn a_browser_session_is_a_host_only_secure_cookie_and_unsafe_requests_need_its_csrf_token() {
    let app = TestApp::new().await;
    let tenant = app.tenant("browser").await;
    let owner = app.member(tenant, BuiltinRole::Owner).await;
    let response = login(&app, &owner.email, PASSWORD).await;
    let set_cookie = response.header("set-cookie").unwrap().to_owned();
    for attribute in [
        "__Host-nimbus_session=",
        "Path=/",
        "Secure",
        "HttpOnly",
        "SameSite=Lax",
    ] {
        assert!(
            set_cookie.contains(attribute),
            "{set_cookie} lacks {attribute}"
        );
    }
    assert!(!set_cookie.contains("Domain"), "{set_cookie}");
    // The dashboard's scripts read the CSRF token from a host-only, same-site cookie after a
    // reload; the server still compares it with the session's own.
    let csrf_cookie = response
        .headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .find(|value| value.starts_with("__Host-nimbus_csrf="))
        .unwrap();
    for attribute in ["Path=/", "Secure", "SameSite=Strict"] {
        assert!(
            csrf_cookie.contains(attribute),
            "{csrf_cookie} lacks {attribute}"
        );
    }
    assert!(
        !csrf_cookie.contains("HttpOnly") && !csrf_cookie.contains("Domain"),
        "{csrf_cookie}"
    );
    assert!(
        csrf_cookie.contains(response.json()["csrf_token"].as_str().unwrap()),
        "{csrf_cookie}"
    );
    assert_eq!(response.json()["tenant"]["slug"], "browser");
    let (cookie, csrf) = session_of(&response);

    let me = with_cookie(&app, Method::GET, "/api/v1/me", &cookie, &[], None).await;
    assert_eq!(me.status, 200);
    assert_eq!(me.json()["user"]["email"], owner.email.as_str());
    assert!(
        me.json().get("csrf_token").is_none(),
        "no answer repeats the token"
    );

    let project = Some(json!({"name": "web"}));
    let no_token = with_cookie(
        &app,
        Method::POST,
        "/api/v1/projects",
        &cookie,
        &[],
        project.clone(),
    )
    .await;
    assert_eq!(no_token.status, 403, "{}", no_token.text());
    let wrong = with_cookie(
        &app,
        Method::POST,
        "/api/v1/projects",
        &cookie,
        &[("x-csrf-token", "nimbus_csrf_guess")],
        project.clone(),
    )
    .await;
    assert_eq!(wrong.status, 403);
    let cross_site = with_cookie(
        &app,
        Method::POST,
        "/api/v1/projects",
        &cookie,
        &[("x-csrf-token", &csrf), ("sec-fetch-site", "cross-site")],
        project.clone(),
    )
    .await;
    assert_eq!(cross_site.status, 403);
    let ok = with_cookie(
        &app,
        Method::POST,
        "/api/v1/projects",
        &cookie,
        &[("x-csrf-token", &csrf), ("sec-fetch-site", "same-origin")],
        project,
    )
    .await;
    assert_eq!(ok.status, 201, "{}", ok.text());

    let logout = with_cookie(
        &app,
        Method::POST,
        "/api/v1/auth/logout",
        &cookie,
        &[("x-csrf-token", &csrf)],
        None,
    )
    .await;
    assert_eq!(logout.status, 200);
    assert_eq!(logout.json(), json!({ "provider_logout_url": null }));
    assert!(logout.header("set-cookie").unwrap().contains("Max-Age=0"));
    let after = with_cookie(&app, Method::GET, "/api/v1/me", &cookie, &[], None).await;
    assert_eq!(after.status, 401);
}

#[tokio::test]
async fn a_failed_sign_in_says_the_same_whether_or_not_the_account_exists_and_is_audited() {
    let app = TestApp::new().await;
    let owner = app
        .member(app.tenant("generic").await, BuiltinRole::Owner)
        .await;
    let wrong_password = login(&app, &owner.email, "not the password at all").await;
    let unknown = login(&app, "nobody@example.com", PASSWORD).await;
    assert_eq!(wrong_password.status, 401);
    assert_eq!(wrong_password.status, unknown.status);
    assert_eq!(wrong_password.json(), unknown.json());
    let failures: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM audit_log WHERE action = 'auth.login' AND outcome = 'failure'",
    )
    .fetch_one(&mut app.owner().await)
    .await
    .unwrap();
    assert_eq!(failures, 2);
}

#[tokio::test]
async fn sign_in_attempts_beyond_the_limit_get_429_with_retry_after() {
    let app = TestApp::new().await;
    let owner = app
        .member(app.tenant("limited").await, BuiltinRole::Owner)
        .await;
    let limit = nimbus::config::Config::default()
        .auth
        .attempts_per_minute_per_account;
    for _ in 0..limit {
        assert_eq!(
            login(&app, &owner.email, "wrong password here")
                .await
                .status,
            401
        );
    }
    let limited = login(&app, &owner.email, PASSWORD).await;
    assert_eq!(limited.status, 429);
    assert!(
        limited
            .header("retry-after")
            .unwrap()
            .parse::<u64>()
            .unwrap()
            >= 1
    );
    assert_eq!(limited.error_code(), "rate_limited");
}

#[tokio::test]
async fn an_access_token_works_until_its_session_ends_and_reusing_a_refresh_token_ends_the_family()
{
    let app = TestApp::new().await;
    let owner = app
        .member(app.tenant("tokens").await, BuiltinRole::Owner)
        .await;
    let (access, refresh) = token_pair(&app, &owner, "tokens").await;
    assert_eq!(
        app.call(&access, Method::GET, "/api/v1/projects", None)
            .await
            .status,
        200
    );

    let rotated = app
        .post_json(
            "/api/v1/auth/token",
            json!({"grant_type": "refresh_token", "refresh_token": refresh}),
        )
        .await;
    assert_eq!(rotated.status, 200, "{}", rotated.text());
    let new_refresh = rotated.json()["refresh_token"].as_str().unwrap().to_owned();
    let new_access = rotated.json()["access_token"].as_str().unwrap().to_owned();
    assert_ne!(new_refresh, refresh);
    assert_eq!(
        app.call(&new_access, Method::GET, "/api/v1/me", None)
            .await
            .status,
        200
    );

    let reused = app
        .post_json(
            "/api/v1/auth/token",
            json!({"grant_type": "refresh_token", "refresh_token": refresh}),
        )
        .await;
    assert_eq!(reused.status, 401);
    let after_reuse = app
        .post_json(
            "/api/v1/auth/token",
            json!({"grant_type": "refresh_token", "refresh_token": new_refresh}),
        )
        .await;
    assert_eq!(after_reuse.status, 401, "the family is revoked");
    assert_eq!(
        app.call(&new_access, Method::GET, "/api/v1/me", None)
            .await
            .status,
        401
    );
    assert_eq!(
        app.call(&access, Method::GET, "/api/v1/me", None)
            .await
            .status,
        401
    );
}

/// Signs `claims` with the server's own current key (read from the database): only the claims
/// can make such a token invalid.
async fn signed_by_server(app: &TestApp, header_typ: Option<&str>, claims: &Value) -> String {
    let (kid, private_key): (String, Vec<u8>) = sqlx::query_as("SELECT kid, private_key FROM signing_keys WHERE retired_at IS NULL ORDER BY created_at DESC LIMIT 1")
        .fetch_one(&mut app.owner().await)
        .await
        .unwrap();
    let mut header = Header::new(Algorithm::EdDSA);
    header.kid = Some(kid);
    header.typ = header_typ.map(str::to_owned);
    jsonwebtoken::encode(&header, claims, &EncodingKey::from_ed_der(&private_key)).unwrap()
}

fn part(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(value.to_string())
}

#[tokio::test]
async fn forged_and_misused_tokens_are_all_refused_with_401() {
    let app = TestApp::new().await;
    let owner = app
        .member(app.tenant("forgery").await, BuiltinRole::Owner)
        .await;
    let (access, refresh) = token_pair(&app, &owner, "forgery").await;
    assert_eq!(
        app.call(&access, Method::GET, "/api/v1/me", None)
            .await
            .status,
        200
    );

    let [header, payload, _] = access.split('.').collect::<Vec<_>>()[..] else {
        panic!("a JWT")
    };
    let header: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).unwrap()).unwrap();
    let claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
    let kid = header["kid"].as_str().unwrap().to_owned();
    let now = chrono::Utc::now().timestamp();
    let with = |changes: Value| {
        let mut claims = claims.clone();
        for (key, value) in changes.as_object().unwrap() {
            claims[key] = value.clone();
        }
        claims
    };

    let mut forged: Vec<(&str, String)> = Vec::new();
    forged.push((
        "alg none",
        format!(
            "{}.{}.",
            part(&json!({"alg": "none", "typ": "at+jwt", "kid": kid})),
            part(&claims)
        ),
    ));
    let jwks = app.get("/.well-known/jwks.json").await.json();
    let public_key = URL_SAFE_NO_PAD
        .decode(jwks["keys"][0]["x"].as_str().unwrap())
        .unwrap();
    let mut hs = Header::new(Algorithm::HS256);
    hs.kid = Some(kid.clone());
    hs.typ = Some("at+jwt".into());
    forged.push((
        "HS256 keyed with the public key",
        jsonwebtoken::encode(&hs, &claims, &EncodingKey::from_secret(&public_key)).unwrap(),
    ));
    let stranger =
        ring::signature::Ed25519KeyPair::generate_pkcs8(&ring::rand::SystemRandom::new()).unwrap();
    let mut unknown = Header::new(Algorithm::EdDSA);
    unknown.kid = Some("unknown-kid".into());
    unknown.typ = Some("at+jwt".into());
    unknown.jku = Some("https://evil.example/jwks.json".into());
    forged.push((
        "unknown kid (with a jku)",
        jsonwebtoken::encode(
            &unknown,
            &claims,
            &EncodingKey::from_ed_der(stranger.as_ref()),
        )
        .unwrap(),
    ));
    let mut mine_under_their_kid = unknown.clone();
    mine_under_their_kid.kid = Some(kid.clone());
    forged.push((
        "a stranger's key under our kid",
        jsonwebtoken::encode(
            &mine_under_their_kid,
            &claims,
            &EncodingKey::from_ed_der(stranger.as_ref()),
        )
        .unwrap(),
    ));
    forged.push((
        "wrong aud",
        signed_by_server(&app, Some("at+jwt"), &with(json!({"aud": "another-api"}))).await,
    ));
    forged.push((
        "wrong iss",
        signed_by_server(
            &app,
            Some("at+jwt"),
            &with(json!({"iss": "https://evil.example"})),
        )
        .await,
    ));
    forged.push((
        "expired",
        signed_by_server(
            &app,
            Some("at+jwt"),
            &with(json!({"exp": now - 3600, "iat": now - 7200, "nbf": now - 7200})),
        )
        .await,
    ));
    forged.push((
        "not yet valid",
        signed_by_server(&app, Some("at+jwt"), &with(json!({"nbf": now + 3600}))).await,
    ));
    forged.push((
        "string nbf",
        signed_by_server(
            &app,
            Some("at+jwt"),
            &with(json!({"nbf": (now + 3600).to_string()})),
        )
        .await,
    ));
    forged.push((
        "string exp",
        signed_by_server(
            &app,
            Some("at+jwt"),
            &with(json!({"exp": (now - 3600).to_string()})),
        )
        .await,
    ));
    let mut without_exp = claims.clone();
    without_exp.as_object_mut().unwrap().remove("exp");
    forged.push((
        "no exp",
        signed_by_server(&app, Some("at+jwt"), &without_exp).await,
    ));
    forged.push(("no typ", signed_by_server(&app, None, &claims).await));
    forged.push((
        "another session id",
        signed_by_server(
            &app,
            Some("at+jwt"),
            &with(json!({"sid": uuid::Uuid::new_v4()})),
        )
        .await,
    ));
    forged.push(("refresh token as access token", refresh.clone()));
    forged.push((
        "tampered payload",
        format!(
            "{}.{}.{}",
            access.split('.').next().unwrap(),
            part(&with(json!({"tid": uuid::Uuid::new_v4()}))),
            access.split('.').nth(2).unwrap()
        ),
    ));
    forged.push((
        "API token prefix with a random secret",
        "nimbus_pat_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA".into(),
    ));

    for (name, token) in forged {
        let response = app.call(&token, Method::GET, "/api/v1/me", None).await;
        assert_eq!(response.status, 401, "{name}: {}", response.text());
        assert_eq!(response.error_code(), "unauthenticated", "{name}");
    }
}

#[tokio::test]
async fn the_jwks_publishes_the_signing_key_and_a_rotation_keeps_old_tokens_valid() {
    let app = TestApp::new().await;
    let owner = app
        .member(app.tenant("jwks").await, BuiltinRole::Owner)
        .await;
    let (access, _) = token_pair(&app, &owner, "jwks").await;
    let jwks = app.get("/.well-known/jwks.json").await.json();
    let key = &jwks["keys"][0];
    assert_eq!(key["kty"], "OKP");
    assert_eq!(key["crv"], "Ed25519");
    assert_eq!(key["alg"], "EdDSA");
    assert!(key.get("d").is_none(), "no private part");
    nimbus::auth::jwt::rotate(&app.db.pool).await.unwrap();
    assert_eq!(
        app.call(&access, Method::GET, "/api/v1/me", None)
            .await
            .status,
        200
    );

    // Another replica starting after the rotation signs with the new key; this server picks the
    // key up on first sight of its kid, and keeps accepting tokens of the old one.
    let replica = nimbus::router(
        nimbus::state::AppState::new(nimbus_tests::test_config(None), app.db.pool.clone()).unwrap(),
    )
    .unwrap();
    let issued = nimbus_tests::send(
        &replica,
        request(Method::POST, "/api/v1/auth/token")
            .header("content-type", "application/json")
            .body(Body::from(
                json!({"grant_type": "password", "email": owner.email, "password": PASSWORD, "tenant": "jwks"})
                    .to_string(),
            ))
            .unwrap(),
    )
    .await;
    assert_eq!(issued.status, 200, "{}", issued.text());
    let rotated = issued.json()["access_token"].as_str().unwrap().to_owned();
    let kid = |token: &str| {
        let header = URL_SAFE_NO_PAD
            .decode(token.split('.').next().unwrap())
            .unwrap();
        serde_json::from_slice::<Value>(&header).unwrap()["kid"].clone()
    };
    assert_ne!(
        kid(&rotated),
        kid(&access),
        "the replica signs with the new key"
    );
    assert_eq!(
        app.call(&rotated, Method::GET, "/api/v1/me", None)
            .await
            .status,
        200
    );
    assert_eq!(
        app.call(&access, Method::GET, "/api/v1/me", None)
            .await
            .status,
        200
    );
    let keys = app.get("/.well-known/jwks.json").await.json()["keys"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(keys, 2, "both keys are published");
}

#[tokio::test]
async fn disabling_a_member_ends_its_api_tokens_access_tokens_and_session_access_to_the_tenant() {
    let app = TestApp::new().await;
    let tenant = app.tenant("disable").await;
    let owner = app.member(tenant, BuiltinRole::Owner).await;
    let viewer = app.member(tenant, BuiltinRole::Viewer).await;
    let (access, refresh) = token_pair(&app, &viewer, "disable").await;
    let (cookie, _) = session_of(&login(&app, &viewer.email, PASSWORD).await);
    for credential in [&viewer.token, &access] {
        assert_eq!(
            app.call(credential, Method::GET, "/api/v1/projects", None)
                .await
                .status,
            200
        );
    }
    let disabled = app
        .call(
            &owner.token,
            Method::PATCH,
            &format!("/api/v1/users/{}", viewer.user),
            Some(json!({"disabled": true})),
        )
        .await;
    assert_eq!(disabled.status, 200, "{}", disabled.text());
    assert_eq!(disabled.json()["disabled"], true);

    assert_eq!(
        app.call(&viewer.token, Method::GET, "/api/v1/projects", None)
            .await
            .status,
        401
    );
    assert_eq!(
        app.call(&access, Method::GET, "/api/v1/projects", None)
            .await
            .status,
        401
    );
    assert_eq!(
        with_cookie(&app, Method::GET, "/api/v1/projects", &cookie, &[], None)
            .await
            .status,
        403
    );
    let refreshed = app
        .post_json(
            "/api/v1/auth/token",
            json!({"grant_type": "refresh_token", "refresh_token": refresh}),
        )
        .await;
    assert_eq!(
        refreshed.status, 200,
        "the account lives on; the new token has no tenant access"
    );
    let new_access = refreshed.json()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        app.call(&new_access, Method::GET, "/api/v1/projects", None)
            .await
            .status,
        401
    );
}

#[tokio::test]
async fn a_revoked_credential_keeps_working_no_longer_than_the_cache_window() {
    let mut config = nimbus_tests::test_config(None);
    config.auth.principal_cache_ttl = std::time::Duration::from_millis(600);
    let app = TestApp::with_config(config).await;
    let tenant = app.tenant("cache").await;
    let owner = app.member(tenant, BuiltinRole::Owner).await;
    let other = app.member(tenant, BuiltinRole::Operator).await;
    assert_eq!(
        app.call(&other.token, Method::GET, "/api/v1/projects", None)
            .await
            .status,
        200
    );
    let removed = app
        .call(
            &owner.token,
            Method::DELETE,
            &format!("/api/v1/users/{}", other.user),
            None,
        )
        .await;
    assert_eq!(removed.status, 204);
    // Inside the window the cached principal still answers: the cache is really in the path...
    assert_eq!(
        app.call(&other.token, Method::GET, "/api/v1/projects", None)
            .await
            .status,
        200
    );
    // ...and past it the removal has reached the credential.
    tokio::time::sleep(std::time::Duration::from_millis(700)).await;
    assert_eq!(
        app.call(&other.token, Method::GET, "/api/v1/projects", None)
            .await
            .status,
        401
    );
}

#[tokio::test]
async fn api_tokens_are_scoped_no_wider_than_their_creator_and_die_when_revoked() {
    let app = TestApp::new().await;
    let tenant = app.tenant("api-tokens").await;
    let operator = app.member(tenant, BuiltinRole::Operator).await;
    let wide = app
        .call(
            &operator.token,
            Method::POST,
            "/api/v1/api-tokens",
            Some(json!({"name": "wide", "permissions": ["cost:write"]})),
        )
        .await;
    assert_eq!(wide.status, 403);
    let created = app
        .call(
            &operator.token,
            Method::POST,
            "/api/v1/api-tokens",
            Some(json!({"name": "read", "permissions": ["clouds:read"], "expires_in_days": 30})),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text());
    let body = created.json();
    let secret = body["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("nimbus_pat_"));
    assert!(secret.starts_with(body["token"]["display_prefix"].as_str().unwrap()));
    let me = app
        .call(&secret, Method::GET, "/api/v1/me", None)
        .await
        .json();
    assert_eq!(me["permissions"], json!(["clouds:read"]));
    let cannot = app
        .call(
            &secret,
            Method::POST,
            "/api/v1/api-tokens",
            Some(json!({"name": "x"})),
        )
        .await;
    assert_eq!(cannot.status, 403, "the narrow token lacks tokens:manage");
    let listed = app
        .call(&operator.token, Method::GET, "/api/v1/api-tokens", None)
        .await;
    assert!(!listed.text().contains(&secret));
    let id = body["token"]["id"].as_str().unwrap();
    assert_eq!(
        app.call(
            &operator.token,
            Method::DELETE,
            &format!("/api/v1/api-tokens/{id}"),
            None
        )
        .await
        .status,
        204
    );
    assert_eq!(
        app.call(&secret, Method::GET, "/api/v1/me", None)
            .await
            .status,
        401
    );
    // Tokens are never accepted in the URL.
    let in_query = app
        .get(&format!("/api/v1/me?access_token={}", operator.token))
        .await;
    assert_eq!(in_query.status, 401);
}

#[tokio::test]
async fn the_setup_link_creates_the_first_platform_admin_once() {
    let app = TestApp::new().await;
    let link = nimbus::users::links::create_setup_if_needed(
        &app.db.pool,
        std::time::Duration::from_secs(60),
    )
    .await
    .unwrap()
    .unwrap();
    let setup = json!({"token": link.plaintext, "email": "Root@Example.com", "display_name": "Root", "password": PASSWORD});
    let weak = app.post_json("/api/v1/auth/setup", json!({"token": link.plaintext, "email": "root@example.com", "display_name": "Root", "password": "password1234"})).await;
    assert_eq!(weak.status, 422, "{}", weak.text());
    let created = app.post_json("/api/v1/auth/setup", setup.clone()).await;
    assert_eq!(created.status, 201, "{}", created.text());
    assert_eq!(created.json()["email"], "root@example.com");
    assert_eq!(
        app.post_json("/api/v1/auth/setup", setup).await.status,
        401,
        "single use"
    );
    assert!(
        nimbus::users::links::create_setup_if_needed(
            &app.db.pool,
            std::time::Duration::from_secs(60)
        )
        .await
        .unwrap()
        .is_none()
    );

    let (cookie, csrf) = session_of(&login(&app, "root@example.com", PASSWORD).await);
    assert_eq!(
        with_cookie(&app, Method::GET, "/api/v1/me", &cookie, &[], None)
            .await
            .json()["platform_admin"],
        true
    );
    let tenant = with_cookie(&app, Method::POST, "/api/v1/tenants", &cookie, &[("x-csrf-token", &csrf)], Some(json!({"slug": "acme", "name": "Acme", "reporting_currency": "EUR", "time_zone": "Europe/Paris"}))).await;
    assert_eq!(tenant.status, 201, "{}", tenant.text());
    let bad_zone = with_cookie(
        &app,
        Method::POST,
        "/api/v1/tenants",
        &cookie,
        &[("x-csrf-token", &csrf)],
        Some(json!({"slug": "acme2", "name": "Acme", "time_zone": "Mars/Olympus"})),
    )
    .await;
    assert_eq!(bad_zone.status, 422);
    let switched = with_cookie(
        &app,
        Method::PUT,
        "/api/v1/me/tenant",
        &cookie,
        &[("x-csrf-token", &csrf)],
        Some(json!({"tenant": "acme"})),
    )
    .await;
    assert_eq!(switched.status, 200, "{}", switched.text());
    assert_eq!(switched.json()["tenant"]["slug"], "acme");
    assert!(
        switched.json()["permissions"]
            .as_array()
            .unwrap()
            .contains(&json!("tenant:settings"))
    );
}

#[tokio::test]
async fn an_invitation_link_makes_a_member_with_the_invited_role_exactly_once() {
    let app = TestApp::new().await;
    let tenant = app.tenant("invites").await;
    let admin = app.member(tenant, BuiltinRole::Admin).await;
    let created = app
        .call(
            &admin.token,
            Method::POST,
            "/api/v1/invitations",
            Some(json!({"email": "New.Person@example.com", "role": "finance"})),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text());
    let link = created.json()["link"].as_str().unwrap().to_owned();
    let secret = link.split_once('#').unwrap().1.to_owned();
    let accept = json!({"token": secret, "display_name": "New Person", "password": PASSWORD});
    let joined = app
        .post_json("/api/v1/invitations/accept", accept.clone())
        .await;
    assert_eq!(joined.status, 200, "{}", joined.text());
    assert_eq!(joined.json()["slug"], "invites");
    assert_eq!(
        app.post_json("/api/v1/invitations/accept", accept)
            .await
            .status,
        401
    );
    let me = login(&app, "new.person@example.com", PASSWORD).await.json();
    assert!(
        me["permissions"]
            .as_array()
            .unwrap()
            .contains(&json!("budgets:write"))
    );
    let listed = app
        .call(&admin.token, Method::GET, "/api/v1/invitations", None)
        .await
        .json();
    assert!(listed["items"][0]["accepted_at"].is_string());
}

#[tokio::test]
async fn changing_the_password_checks_the_old_one_and_ends_the_other_sessions() {
    let app = TestApp::new().await;
    let owner = app
        .member(app.tenant("passwords").await, BuiltinRole::Owner)
        .await;
    let (first, csrf) = session_of(&login(&app, &owner.email, PASSWORD).await);
    let (second, _) = session_of(&login(&app, &owner.email, PASSWORD).await);
    let new_password = "quiet orchard lantern 7";
    let wrong = with_cookie(
        &app,
        Method::POST,
        "/api/v1/auth/password",
        &first,
        &[("x-csrf-token", &csrf)],
        Some(json!({"current_password": "nope nope nope", "new_password": new_password})),
    )
    .await;
    assert_eq!(wrong.status, 401);
    let changed = with_cookie(
        &app,
        Method::POST,
        "/api/v1/auth/password",
        &first,
        &[("x-csrf-token", &csrf)],
        Some(json!({"current_password": PASSWORD, "new_password": new_password})),
    )
    .await;
    assert_eq!(changed.status, 204, "{}", changed.text());
    assert_eq!(
        with_cookie(&app, Method::GET, "/api/v1/me", &first, &[], None)
            .await
            .status,
        200
    );
    assert_eq!(
        with_cookie(&app, Method::GET, "/api/v1/me", &second, &[], None)
            .await
            .status,
        401
    );
    assert_eq!(login(&app, &owner.email, new_password).await.status, 200);
}

/// The code an authenticator app shows for `secret` (base32) at `time`.
fn totp_code(secret: &str, time: u64) -> String {
    let bytes = totp_rs::Secret::try_from_base32(secret).unwrap();
    totp_rs::Builder::new()
        .with_secret(bytes)
        .build()
        .unwrap()
        .generate(time)
        .to_string()
}

#[tokio::test]
async fn a_second_factor_is_asked_for_at_sign_in_and_a_code_works_only_once() {
    let app = TestApp::new().await;
    let owner = app
        .member(app.tenant("totp").await, BuiltinRole::Owner)
        .await;
    let (cookie, csrf) = session_of(&login(&app, &owner.email, PASSWORD).await);
    let headers = [("x-csrf-token", csrf.as_str())];
    let enrollment = with_cookie(
        &app,
        Method::POST,
        "/api/v1/me/totp",
        &cookie,
        &headers,
        None,
    )
    .await;
    assert_eq!(enrollment.status, 200, "{}", enrollment.text());
    let secret = enrollment.json()["secret"].as_str().unwrap().to_owned();
    assert!(
        enrollment.json()["otpauth_url"]
            .as_str()
            .unwrap()
            .starts_with("otpauth://totp/Nimbus:")
    );
    let now = u64::try_from(chrono::Utc::now().timestamp()).unwrap();
    let wrong = with_cookie(
        &app,
        Method::POST,
        "/api/v1/me/totp/confirm",
        &cookie,
        &headers,
        Some(json!({"code": "000000"})),
    )
    .await;
    assert_eq!(wrong.status, 422);
    // The step before now: still inside the accepted skew, and older than the sign-in code below.
    let confirm = with_cookie(
        &app,
        Method::POST,
        "/api/v1/me/totp/confirm",
        &cookie,
        &headers,
        Some(json!({"code": totp_code(&secret, now - 30)})),
    )
    .await;
    assert_eq!(confirm.status, 204, "{}", confirm.text());

    let without = login(&app, &owner.email, PASSWORD).await;
    assert_eq!(without.status, 401);
    assert_eq!(without.error_code(), "second_factor_required");
    let code = totp_code(&secret, now);
    let with_code = app
        .post_json(
            "/api/v1/auth/login",
            json!({"email": owner.email, "password": PASSWORD, "totp_code": code}),
        )
        .await;
    assert_eq!(with_code.status, 200, "{}", with_code.text());
    let replayed = app
        .post_json(
            "/api/v1/auth/login",
            json!({"email": owner.email, "password": PASSWORD, "totp_code": code}),
        )
        .await;
    assert_eq!(replayed.status, 401, "a used code is refused");
    assert_eq!(replayed.error_code(), "unauthenticated");
    let token = app.post_json("/api/v1/auth/token", json!({"grant_type": "password", "email": owner.email, "password": PASSWORD, "tenant": "totp"})).await;
    assert_eq!(
        token.error_code(),
        "second_factor_required",
        "the token endpoint asks too"
    );
    let by_api_token = app
        .call(
            &owner.token,
            Method::POST,
            "/api/v1/me/totp/disable",
            Some(json!({"password": PASSWORD})),
        )
        .await;
    assert_eq!(by_api_token.status, 400, "API tokens cannot turn it off");
    let off = with_cookie(
        &app,
        Method::POST,
        "/api/v1/me/totp/disable",
        &cookie,
        &headers,
        Some(json!({"password": PASSWORD})),
    )
    .await;
    assert_eq!(off.status, 204);
    assert_eq!(login(&app, &owner.email, PASSWORD).await.status, 200);
}
