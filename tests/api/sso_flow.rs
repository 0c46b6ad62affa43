//! Single sign-on end to end: the full code flow with PKCE against a real OpenID provider
//! (npm `oidc-provider`) driven by an HTTP client, accounts (just-in-time, linking by password,
//! identities by issuer and subject), group-to-role mapping, and every refusal — replayed state,
//! another browser, a wrong verifier, a code from another provider, and ID tokens a real
//! provider never issues (from an in-process forging provider) — each without a session.

use std::collections::BTreeMap;

use axum::body::Body;
use axum::http::Method;
use nimbus_api_types::rbac::BuiltinRole;
use nimbus_tests::oidc::{FORGER_KID, Forgery, ForgingProvider, sign_in_at_provider};
use nimbus_tests::{Actor, PASSWORD, TestApp, TestResponse, request, test_config};
use serde_json::{Value, json};

const SECRET: &str = "sso-flow-client-secret";

/// The app, allowed to reach providers on 127.0.0.1 over http.
async fn app() -> TestApp {
    app_with(|_| {}).await
}

async fn app_with(change: impl FnOnce(&mut nimbus::config::Config)) -> TestApp {
    let mut config = test_config(None);
    config.outbound.allow_http = true;
    config.outbound.allow_private_networks = true;
    change(&mut config);
    TestApp::with_config(config).await
}

fn callback_url(app: &TestApp) -> String {
    format!("{}/api/v1/auth/sso/callback", app.state.config.base_url())
}

/// The callback URL carrying `parameters`, as a provider's answer would.
fn answer(app: &TestApp, parameters: &[(&str, &str)]) -> String {
    reqwest::Url::parse_with_params(&callback_url(app), parameters)
        .unwrap()
        .to_string()
}

/// A real provider that knows the app as client `nimbus`.
async fn real_provider(app: &TestApp) -> nimbus_tests::oidc::OidcProvider {
    nimbus_tests::oidc::start(&json!([{
        "client_id": "nimbus", "client_secret": SECRET, "redirect_uris": [callback_url(app)],
        "post_logout_redirect_uris": [format!("{}/sign-in", app.state.config.base_url())],
    }]))
    .await
}

/// Adds an OpenID Connect provider at `issuer` admitting acme.example, `platform` → Operator.
async fn add_provider(app: &TestApp, owner: &Actor, name: &str, issuer: &str) -> String {
    app.create_ok(
        owner,
        "/api/v1/identity-providers",
        json!({
            "name": name,
            "kind": "oidc",
            "issuer": issuer,
            "client_id": "nimbus",
            "client_secret": SECRET,
            "scopes": ["email", "profile", "groups"],
            "allowed_domains": ["acme.example"],
            "role_mappings": [{ "group": "platform", "role": "operator" }],
        }),
    )
    .await
}

/// The query of `url`, by name.
fn query_of(url: &str) -> BTreeMap<String, String> {
    reqwest::Url::parse(url)
        .unwrap()
        .query_pairs()
        .map(|(name, value)| (name.into_owned(), value.into_owned()))
        .collect()
}

/// Replaces the PKCE verifier kept for the sign-in in flight (there is one at a time here).
async fn tamper_with_verifier(app: &TestApp, verifier: &str) {
    sqlx::query("UPDATE sso_logins SET pkce_verifier = $1")
        .bind(verifier)
        .execute(&mut app.owner().await)
        .await
        .unwrap();
}

/// A sign-in started in a browser: where the provider is, and the browser's cookie.
struct Started {
    location: String,
    query: BTreeMap<String, String>,
    /// `__Host-nimbus_sso=…`, as the browser sends it back.
    browser: String,
}

async fn start(app: &TestApp, provider: &str, next: &str) -> Started {
    let started = app
        .get(&format!(
            "/api/v1/auth/sso/start?tenant=acme&provider={provider}&next={next}"
        ))
        .await;
    assert_eq!(started.status, 303, "{}", started.text());
    let location = started.header("location").unwrap().to_owned();
    let query = query_of(&location);
    let browser = started
        .header("set-cookie")
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    Started {
        location,
        query,
        browser,
    }
}

/// The browser arriving at the callback `url` (as the provider redirected it).
async fn arrive(app: &TestApp, url: &str, browser: Option<&str>) -> TestResponse {
    let url = reqwest::Url::parse(url).unwrap();
    let path = format!("{}?{}", url.path(), url.query().unwrap_or_default());
    let mut builder = request(Method::GET, &path);
    if let Some(browser) = browser {
        builder = builder.header("cookie", browser);
    }
    app.request(builder.body(Body::empty()).unwrap()).await
}

fn set_cookies(response: &TestResponse) -> Vec<String> {
    response
        .headers
        .get_all("set-cookie")
        .iter()
        .map(|value| value.to_str().unwrap().to_owned())
        .collect()
}

/// The session cookie a response sets, as a browser sends it back.
fn session_of(response: &TestResponse) -> Option<String> {
    set_cookies(response)
        .into_iter()
        .map(|cookie| cookie.split(';').next().unwrap().to_owned())
        .find(|pair| pair.starts_with("__Host-nimbus_session=") && pair.len() > 22)
}

/// The CSRF token a sign-in's answer sets beside the session.
fn csrf_of(response: &TestResponse) -> String {
    set_cookies(response)
        .into_iter()
        .find_map(|cookie| {
            cookie
                .split(';')
                .next()
                .unwrap()
                .strip_prefix("__Host-nimbus_csrf=")
                .map(str::to_owned)
        })
        .expect("the CSRF cookie")
}

/// A refused callback: back to the sign-in page with a sentence, and no session. Returns it.
fn refusal(response: &TestResponse) -> String {
    assert_eq!(response.status, 303, "{}", response.text());
    assert_eq!(
        session_of(response),
        None,
        "a refused sign-in got a session"
    );
    let location = response.header("location").unwrap();
    assert!(location.starts_with("/sign-in?"), "{location}");
    let query = query_of(&format!("https://nimbus.example{location}"));
    // The tenant's page again, when the sign-in was known (a replayed state is not).
    if let Some(tenant) = query.get("tenant") {
        assert_eq!(tenant, "acme", "{location}");
    }
    query["sso_error"].clone()
}

async fn me(app: &TestApp, session: &str) -> Value {
    let me = app
        .request(
            request(Method::GET, "/api/v1/me")
                .header("cookie", session)
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(me.status, 200, "{}", me.text());
    me.json()
}

/// The built-in roles `email` holds in the tenant, by name.
async fn roles_of(app: &TestApp, email: &str) -> Vec<String> {
    sqlx::query_scalar(
        "SELECT b.builtin_role FROM role_bindings b JOIN users u ON u.id = b.user_id
         WHERE u.email = $1 ORDER BY 1",
    )
    .bind(email)
    .fetch_all(&mut app.owner().await)
    .await
    .unwrap()
}

async fn last_audit(app: &TestApp, action: &str) -> (String, Value) {
    sqlx::query_as(
        "SELECT outcome, details FROM audit_log WHERE action = $1 ORDER BY id DESC LIMIT 1",
    )
    .bind(action)
    .fetch_one(&mut app.owner().await)
    .await
    .unwrap()
}

#[tokio::test]
async fn a_person_signs_in_through_a_real_provider_and_the_state_cannot_be_replayed() {
    let app = app().await;
    let idp = real_provider(&app).await;
    let tenant = app.tenant("acme").await;
    let owner = app.member(tenant, BuiltinRole::Owner).await;
    let provider = add_provider(&app, &owner, "Acme SSO", &idp.issuer).await;

    let started = start(&app, &provider, "/clusters%3Fprovider%3Daws").await;
    let back = sign_in_at_provider(&started.location, "alice").await;
    assert!(back.starts_with(&callback_url(&app)), "{back}");
    let signed_in = arrive(&app, &back, Some(&started.browser)).await;
    assert_eq!(signed_in.status, 303, "{}", signed_in.text());
    assert_eq!(signed_in.header("location"), Some("/clusters?provider=aws"));
    let cookies = set_cookies(&signed_in);
    assert!(
        cookies
            .iter()
            .any(|cookie| cookie.starts_with("__Host-nimbus_sso=;") && cookie.contains("Max-Age=0")),
        "the sign-in cookie is cleared: {cookies:?}"
    );
    let session = session_of(&signed_in).expect("a session");
    let me = me(&app, &session).await;
    assert_eq!(me["user"]["email"], "alice@acme.example");
    assert_eq!(me["tenant"]["slug"], "acme");
    // Provisioned just in time (acme.example is admitted), with the mapped role only.
    assert_eq!(roles_of(&app, "alice@acme.example").await, ["operator"]);
    let (issuer, subject, has_password): (String, String, bool) = sqlx::query_as(
        "SELECT i.issuer, i.subject, u.password_hash IS NOT NULL
         FROM user_identities i JOIN users u ON u.id = i.user_id",
    )
    .fetch_one(&mut app.owner().await)
    .await
    .unwrap();
    assert_eq!(
        (issuer.as_str(), subject.as_str()),
        (idp.issuer.as_str(), "alice")
    );
    assert!(!has_password, "a provisioned account has no local password");
    let (outcome, details) = last_audit(&app, "auth.sso_login").await;
    assert_eq!(outcome, "success");
    assert_eq!(details["provisioned"], true);
    assert_eq!(details["roles_granted"], json!(["operator"]));

    // The same answer again — a replayed state — signs nobody in.
    let replayed = arrive(&app, &back, Some(&started.browser)).await;
    assert!(
        refusal(&replayed).contains("already used or has expired"),
        "{}",
        refusal(&replayed)
    );
    let (outcome, _) = last_audit(&app, "auth.sso_login").await;
    assert_eq!(outcome, "failure");

    // The tenant maps the group to another role: the next sign-in applies it, audited.
    let mut input = app
        .get_ok(&owner, &format!("/api/v1/identity-providers/{provider}"))
        .await;
    for field in [
        "id",
        "has_client_secret",
        "redirect_uri",
        "post_logout_redirect_uri",
        "created_at",
        "updated_at",
    ] {
        input.as_object_mut().unwrap().remove(field);
    }
    input["role_mappings"] = json!([{ "group": "platform", "role": "admin" }]);
    let changed = app
        .call(
            &owner.token,
            Method::PUT,
            &format!("/api/v1/identity-providers/{provider}"),
            Some(input),
        )
        .await;
    assert_eq!(changed.status, 200, "{}", changed.text());
    assert_eq!(
        roles_of(&app, "alice@acme.example").await,
        ["operator"],
        "nothing changes before the next sign-in"
    );
    let again = start(&app, &provider, "/").await;
    let back = sign_in_at_provider(&again.location, "alice").await;
    let signed_in = arrive(&app, &back, Some(&again.browser)).await;
    assert!(
        session_of(&signed_in).is_some(),
        "{:?}",
        signed_in.header("location")
    );
    assert_eq!(roles_of(&app, "alice@acme.example").await, ["admin"]);
    let (_, details) = last_audit(&app, "auth.sso_login").await;
    assert_eq!(details["provisioned"], false);
    assert_eq!(details["roles_granted"], json!(["admin"]));
    assert_eq!(details["roles_revoked"], json!(["operator"]));
    let identities = app.count("SELECT count(*) FROM user_identities").await;
    assert_eq!(identities, 1, "the second sign-in is the same identity");
}

#[tokio::test]
async fn a_callback_in_another_browser_too_late_with_a_wrong_verifier_or_a_provider_error_gets_no_session()
 {
    let app = app().await;
    let idp = real_provider(&app).await;
    let tenant = app.tenant("acme").await;
    let owner = app.member(tenant, BuiltinRole::Owner).await;
    let provider = add_provider(&app, &owner, "Acme SSO", &idp.issuer).await;

    // Another browser (no cookie, or another sign-in's cookie) cannot finish this sign-in.
    let started = start(&app, &provider, "/").await;
    let other = start(&app, &provider, "/").await;
    let back = sign_in_at_provider(&started.location, "alice").await;
    assert!(refusal(&arrive(&app, &back, None).await).contains("another browser"));
    let started = start(&app, &provider, "/").await;
    let back = sign_in_at_provider(&started.location, "alice").await;
    assert!(refusal(&arrive(&app, &back, Some(&other.browser)).await).contains("another browser"));

    // Ten minutes at most: an answer after the sign-in expired is refused.
    let started = start(&app, &provider, "/").await;
    let back = sign_in_at_provider(&started.location, "alice").await;
    sqlx::query("UPDATE sso_logins SET expires_at = now() - interval '1 second'")
        .execute(&mut app.owner().await)
        .await
        .unwrap();
    let refused = refusal(&arrive(&app, &back, Some(&started.browser)).await);
    assert!(refused.contains("already used or has expired"), "{refused}");

    // A verifier that does not match the challenge, or none: the provider refuses the code.
    for verifier in ["x".repeat(43), String::new()] {
        let started = start(&app, &provider, "/").await;
        let back = sign_in_at_provider(&started.location, "alice").await;
        tamper_with_verifier(&app, &verifier).await;
        let refused = refusal(&arrive(&app, &back, Some(&started.browser)).await);
        assert!(
            refused.contains("Acme SSO did not accept the sign-in"),
            "{verifier:?}: {refused}"
        );
    }

    // The provider answers with an error instead of a code.
    let started = start(&app, &provider, "/").await;
    let denied = answer(
        &app,
        &[
            ("error", "access_denied"),
            ("error_description", "The user cancelled"),
            ("state", &started.query["state"]),
            ("iss", &idp.issuer),
        ],
    );
    let refused = refusal(&arrive(&app, &denied, Some(&started.browser)).await);
    assert_eq!(refused, "Acme SSO did not sign you in: The user cancelled");

    let sessions = app
        .count("SELECT count(*) FROM sessions WHERE kind = 'browser'")
        .await;
    assert_eq!(sessions, 0);
}

#[tokio::test]
async fn a_code_from_another_provider_is_refused_on_this_providers_sign_in() {
    let app = app().await;
    let idp_a = real_provider(&app).await;
    let idp_b = real_provider(&app).await;
    let tenant = app.tenant("acme").await;
    let owner = app.member(tenant, BuiltinRole::Owner).await;
    let provider_a = add_provider(&app, &owner, "Provider A", &idp_a.issuer).await;
    let provider_b = add_provider(&app, &owner, "Provider B", &idp_b.issuer).await;

    let at_a = start(&app, &provider_a, "/").await;
    let at_b = start(&app, &provider_b, "/").await;
    let from_b = sign_in_at_provider(&at_b.location, "alice").await;
    let code_b = query_of(&from_b);
    assert_eq!(code_b["iss"], idp_b.issuer);

    // B's answer (its code, naming B) on A's sign-in: the issuer gives it away.
    let mixed = answer(
        &app,
        &[
            ("code", &code_b["code"]),
            ("state", &at_a.query["state"]),
            ("iss", &idp_b.issuer),
        ],
    );
    let refused = refusal(&arrive(&app, &mixed, Some(&at_a.browser)).await);
    assert!(refused.contains("not from Provider A"), "{refused}");

    // Claiming A as the issuer does not help: the code goes only to A, which never issued it.
    let at_a = start(&app, &provider_a, "/").await;
    let claimed = answer(
        &app,
        &[
            ("code", &code_b["code"]),
            ("state", &at_a.query["state"]),
            ("iss", &idp_a.issuer),
        ],
    );
    let refused = refusal(&arrive(&app, &claimed, Some(&at_a.browser)).await);
    assert!(
        refused.starts_with("Provider A did not accept the sign-in"),
        "{refused}"
    );

    // A provider that names itself in its answers (RFC 9207) must have named itself.
    let at_a = start(&app, &provider_a, "/").await;
    let unnamed = answer(
        &app,
        &[("code", &code_b["code"]), ("state", &at_a.query["state"])],
    );
    let refused = refusal(&arrive(&app, &unnamed, Some(&at_a.browser)).await);
    assert!(refused.contains("does not name Provider A"), "{refused}");
}

#[tokio::test]
async fn an_address_outside_the_allowed_domains_needs_an_invitation_which_then_lets_it_in() {
    let app = app().await;
    let idp = real_provider(&app).await;
    let tenant = app.tenant("acme").await;
    let owner = app.member(tenant, BuiltinRole::Owner).await;
    let provider = add_provider(&app, &owner, "Acme SSO", &idp.issuer).await;

    let started = start(&app, &provider, "/").await;
    let back = sign_in_at_provider(&started.location, "mallory").await;
    let refused = refusal(&arrive(&app, &back, Some(&started.browser)).await);
    assert!(
        refused.contains("ask one of its administrators for an invitation"),
        "{refused}"
    );
    let accounts = app
        .count("SELECT count(*) FROM users WHERE email LIKE 'mallory%'")
        .await;
    assert_eq!(accounts, 0, "nothing provisioned");

    // Invited, the same person signs in through the provider and gets the invited role.
    let invited = app
        .call(
            &owner.token,
            Method::POST,
            "/api/v1/invitations",
            Some(json!({ "email": "mallory@evil.example", "role": "finance" })),
        )
        .await;
    assert_eq!(invited.status, 201, "{}", invited.text());
    let started = start(&app, &provider, "/").await;
    let back = sign_in_at_provider(&started.location, "mallory").await;
    let signed_in = arrive(&app, &back, Some(&started.browser)).await;
    let session = session_of(&signed_in).expect("a session for the invited address");
    assert_eq!(
        me(&app, &session).await["user"]["email"],
        "mallory@evil.example"
    );
    // The invited role, and the provider's default for people in no mapped group.
    assert_eq!(
        roles_of(&app, "mallory@evil.example").await,
        ["finance", "viewer"]
    );
    let (_, details) = last_audit(&app, "auth.sso_login").await;
    assert!(details["invitation_accepted"].is_string(), "{details}");
    let open = app
        .count("SELECT count(*) FROM invitations WHERE accepted_at IS NULL")
        .await;
    assert_eq!(open, 0, "the invitation is used");
}

#[tokio::test]
async fn an_existing_account_is_linked_only_by_its_password_and_two_providers_are_two_identities() {
    let app = app().await;
    let idp_a = real_provider(&app).await;
    let idp_b = real_provider(&app).await;
    let tenant = app.tenant("acme").await;
    let owner = app.member(tenant, BuiltinRole::Owner).await;
    let provider_a = add_provider(&app, &owner, "Provider A", &idp_a.issuer).await;
    let provider_b = add_provider(&app, &owner, "Provider B", &idp_b.issuer).await;
    // Bob has a local account (with its password) and is a Finance member.
    let bob = app.member(tenant, BuiltinRole::Finance).await;
    sqlx::query("UPDATE users SET email = 'bob@acme.example' WHERE id = $1")
        .bind(bob.user.0)
        .execute(&mut app.owner().await)
        .await
        .unwrap();

    // Both providers call their person "bob" with bob@acme.example: the same subject and
    // address, yet each is its own identity, and neither links on the address alone.
    for (provider, name) in [(&provider_a, "Provider A"), (&provider_b, "Provider B")] {
        let started = start(&app, provider, "/costs").await;
        let back = sign_in_at_provider(&started.location, "bob").await;
        let arrived = arrive(&app, &back, Some(&started.browser)).await;
        assert_eq!(arrived.status, 303);
        assert_eq!(session_of(&arrived), None);
        assert_eq!(
            arrived.header("location"),
            Some("/sign-in?tenant=acme&link=1&next=%2Fcosts")
        );
        let link = |method: Method, body: Option<Value>| {
            let mut builder =
                request(method, "/api/v1/auth/sso/link").header("cookie", &started.browser);
            let body = match body {
                Some(body) => {
                    builder = builder.header("content-type", "application/json");
                    Body::from(body.to_string())
                }
                None => Body::empty(),
            };
            app.request(builder.body(body).unwrap())
        };
        let pending = link(Method::GET, None).await;
        assert_eq!(pending.status, 200, "{}", pending.text());
        assert_eq!(
            pending.json(),
            json!({ "email": "bob@acme.example", "provider": name, "tenant": "acme" })
        );
        let wrong = link(
            Method::POST,
            Some(json!({ "password": "not bob's password" })),
        )
        .await;
        assert_eq!(wrong.status, 401, "{}", wrong.text());
        assert_eq!(session_of(&wrong), None);
        let linked = link(Method::POST, Some(json!({ "password": PASSWORD }))).await;
        assert_eq!(linked.status, 200, "{}", linked.text());
        let session = session_of(&linked).expect("a session");
        assert_eq!(
            me(&app, &session).await["user"]["email"],
            "bob@acme.example"
        );
        // Single use.
        assert_eq!(link(Method::GET, None).await.status, 404);
    }
    let identities: Vec<(String, String)> = sqlx::query_as(
        "SELECT issuer, subject FROM user_identities WHERE user_id = $1 ORDER BY issuer",
    )
    .bind(bob.user.0)
    .fetch_all(&mut app.owner().await)
    .await
    .unwrap();
    let mut expected = vec![
        (idp_a.issuer.clone(), "bob".to_owned()),
        (idp_b.issuer.clone(), "bob".to_owned()),
    ];
    expected.sort();
    assert_eq!(identities, expected);
    // The hand-granted role stays; the mapping adds its own (bob's group is unmapped: Viewer).
    assert_eq!(
        roles_of(&app, "bob@acme.example").await,
        ["finance", "viewer"]
    );
    let (outcome, details) = last_audit(&app, "auth.sso_link").await;
    assert_eq!(outcome, "success");
    assert_eq!(details["subject"], "bob");

    // Linked: the next sign-in through A goes straight in.
    let started = start(&app, &provider_a, "/").await;
    let back = sign_in_at_provider(&started.location, "bob").await;
    let arrived = arrive(&app, &back, Some(&started.browser)).await;
    assert!(
        session_of(&arrived).is_some(),
        "{:?}",
        arrived.header("location")
    );
}

/// What a test changes in a genuine token before the forging provider issues it.
type Tamper = fn(&mut Forgery);

/// A forging provider configured for the tenant, and a sign-in started at it.
async fn forged_sign_in(
    app: &TestApp,
    forger: &ForgingProvider,
    provider: &str,
    forgery: impl FnOnce(&mut Forgery),
) -> TestResponse {
    let started = start(app, provider, "/").await;
    let mut issued = Forgery {
        claims: forger.genuine_claims("nimbus", &started.query["nonce"], "carol"),
        kid: FORGER_KID.to_owned(),
        break_signature: false,
    };
    forgery(&mut issued);
    forger.issue(issued);
    let back = answer(
        app,
        &[
            ("code", "forged-code"),
            ("state", &started.query["state"]),
            ("iss", &forger.issuer),
        ],
    );
    arrive(app, &back, Some(&started.browser)).await
}

#[tokio::test]
async fn id_tokens_a_real_provider_never_issues_are_refused() {
    let refetch_interval = std::time::Duration::from_secs(1);
    let app = app_with(|config| config.auth.sso_key_refetch_interval = refetch_interval).await;
    let forger = ForgingProvider::start().await;
    let tenant = app.tenant("acme").await;
    let owner = app.member(tenant, BuiltinRole::Owner).await;
    let provider = add_provider(&app, &owner, "Forger", &forger.issuer).await;

    let cases: [(&str, Tamper, &str); 7] = [
        (
            "wrong issuer",
            |forged| forged.claims["iss"] = json!("https://evil.example"),
            "issuer",
        ),
        (
            "wrong audience",
            |forged| forged.claims["aud"] = json!("someone-else"),
            "audience",
        ),
        (
            "expired",
            |forged| {
                let past = chrono::Utc::now().timestamp() - 3600;
                forged.claims["iat"] = json!(past - 300);
                forged.claims["exp"] = json!(past);
            },
            "expired",
        ),
        (
            "bad signature",
            |forged| forged.break_signature = true,
            "signature",
        ),
        (
            "wrong nonce",
            |forged| forged.claims["nonce"] = json!("another-sign-ins-nonce"),
            "nonce",
        ),
        (
            "another audience besides",
            |forged| forged.claims["aud"] = json!(["nimbus", "other-app"]),
            "audience",
        ),
        (
            "another party's token",
            |forged| forged.claims["azp"] = json!("other-app"),
            "authorized party",
        ),
    ];
    for (case, forgery, says) in cases {
        let refused = refusal(&forged_sign_in(&app, &forger, &provider, forgery).await);
        assert!(
            refused.starts_with("the ID token from Forger is not valid")
                && refused.to_lowercase().contains(says),
            "{case}: {refused}"
        );
    }

    // A key id the provider never published: once the kept keys are older than the refetch
    // interval, the first such token fetches them again — and the next ones do not.
    assert_eq!(
        forger.jwks_fetches(),
        1,
        "the keys are kept after the first start"
    );
    tokio::time::sleep(refetch_interval + std::time::Duration::from_millis(100)).await;
    for _ in 0..3 {
        let refused = refusal(
            &forged_sign_in(&app, &forger, &provider, |forged| {
                forged.kid = "made-up".into()
            })
            .await,
        );
        assert!(refused.contains("not valid"), "{refused}");
    }
    assert_eq!(
        forger.jwks_fetches(),
        2,
        "one refetch for three unknown keys"
    );

    // The control: the same provider's genuine token signs in.
    let genuine = forged_sign_in(&app, &forger, &provider, |_| {}).await;
    assert!(
        session_of(&genuine).is_some(),
        "{:?}",
        genuine.header("location")
    );
    let sessions = app.count("SELECT count(*) FROM sessions").await;
    assert_eq!(sessions, 1, "only the genuine token opened a session");
}

#[tokio::test]
async fn the_provider_going_down_keeps_sessions_and_new_sign_ins_fail_clearly() {
    let app = app().await;
    let forger = ForgingProvider::start().await;
    let tenant = app.tenant("acme").await;
    let owner = app.member(tenant, BuiltinRole::Owner).await;
    let provider = add_provider(&app, &owner, "Acme SSO", &forger.issuer).await;
    let signed_in = forged_sign_in(&app, &forger, &provider, |_| {}).await;
    let session = session_of(&signed_in).expect("a session");

    forger.stop();
    assert_eq!(
        me(&app, &session).await["user"]["email"],
        "carol@acme.example"
    );
    let refused = app
        .get(&format!(
            "/api/v1/auth/sso/start?tenant=acme&provider={provider}"
        ))
        .await;
    assert_eq!(refused.status, 503, "{}", refused.text());
    assert!(
        refused.json()["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("Acme SSO cannot be reached to sign in"),
        "{}",
        refused.text()
    );
    // Signing out still ends the session and offers the provider's logout, worked out when
    // the session began.
    let signed_out = as_browser(
        &app,
        &(session, csrf_of(&signed_in)),
        Method::POST,
        "/api/v1/auth/logout",
        json!({}),
    )
    .await;
    assert_eq!(signed_out.status, 200, "{}", signed_out.text());
    let url = signed_out.json()["provider_logout_url"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        url.starts_with(&format!("{}/logout?", forger.issuer)),
        "{url}"
    );
}

#[tokio::test]
async fn the_sign_in_page_finds_a_tenants_providers_by_slug_or_by_e_mail_domain() {
    let app = app().await;
    let acme = app.tenant("acme").await;
    let globex = app.tenant("globex").await;
    let acme_owner = app.member(acme, BuiltinRole::Owner).await;
    let globex_owner = app.member(globex, BuiltinRole::Owner).await;
    add_provider(&app, &acme_owner, "Acme SSO", "https://sso.acme.example").await;
    let off = json!({
        "name": "Old SSO", "kind": "oidc", "issuer": "https://old.acme.example",
        "client_id": "nimbus", "client_secret": SECRET, "enabled": false,
        "allowed_domains": ["acme.example"],
    });
    app.create_ok(&acme_owner, "/api/v1/identity-providers", off)
        .await;
    let globex_sso = json!({
        "name": "Globex SSO", "kind": "oidc", "issuer": "https://sso.globex.example",
        "client_id": "nimbus", "client_secret": SECRET, "allowed_domains": ["globex.example"],
    });
    app.create_ok(&globex_owner, "/api/v1/identity-providers", globex_sso)
        .await;

    let names = |response: TestResponse| -> Vec<(String, String)> {
        assert_eq!(response.status, 200, "{}", response.text());
        response
            .json()
            .as_array()
            .unwrap()
            .iter()
            .map(|button| {
                (
                    button["tenant"].as_str().unwrap().to_owned(),
                    button["name"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    };
    let acme_sso = vec![("acme".to_owned(), "Acme SSO".to_owned())];
    assert_eq!(
        names(app.get("/api/v1/auth/sso/providers?tenant=acme").await),
        acme_sso
    );
    assert_eq!(
        names(
            app.get("/api/v1/auth/sso/providers?email=Dana%40ACME.example")
                .await
        ),
        acme_sso
    );
    assert_eq!(
        names(
            app.get("/api/v1/auth/sso/providers?email=dana%40globex.example")
                .await
        ),
        vec![("globex".to_owned(), "Globex SSO".to_owned())]
    );
    assert!(
        names(
            app.get("/api/v1/auth/sso/providers?email=dana%40other.example")
                .await
        )
        .is_empty()
    );
    assert!(names(app.get("/api/v1/auth/sso/providers?tenant=nobody").await).is_empty());
    assert_eq!(app.get("/api/v1/auth/sso/providers").await.status, 422);
}

/// A password sign-in in the browser: the answer, and the session cookie and CSRF token.
async fn password_sign_in(
    app: &TestApp,
    email: &str,
    tenant: Option<&str>,
) -> (TestResponse, Option<(String, String)>) {
    let answer = app
        .post_json(
            "/api/v1/auth/login",
            json!({ "email": email, "password": PASSWORD, "tenant": tenant }),
        )
        .await;
    let session = session_of(&answer).map(|cookie| {
        let csrf = answer.json()["csrf_token"].as_str().unwrap().to_owned();
        (cookie, csrf)
    });
    (answer, session)
}

/// An unsafe request of a browser session.
async fn as_browser(
    app: &TestApp,
    (cookie, csrf): &(String, String),
    method: Method,
    path: &str,
    body: Value,
) -> TestResponse {
    app.request(
        request(method, path)
            .header("cookie", cookie)
            .header("x-csrf-token", csrf)
            .header("sec-fetch-site", "same-origin")
            .header("content-type", "application/json")
            .body(Body::from(body.to_string()))
            .unwrap(),
    )
    .await
}

#[tokio::test]
async fn a_tenant_that_requires_single_sign_on_refuses_passwords_except_its_break_glass_owner() {
    let app = app().await;
    let forger = ForgingProvider::start().await;
    let acme = app.tenant("acme").await;
    let globex = app.tenant("globex").await;
    let owner = app.member(acme, BuiltinRole::Owner).await;
    let other_owner = app.member(acme, BuiltinRole::Owner).await;
    let viewer = app.member(acme, BuiltinRole::Viewer).await;
    // The viewer also works in globex, which keeps passwords.
    let mut db = app.owner().await;
    sqlx::query("INSERT INTO memberships (tenant_id, user_id) VALUES ($1, $2)")
        .bind(globex.0)
        .bind(viewer.user.0)
        .execute(&mut db)
        .await
        .unwrap();
    let set_policy =
        |body: Value| app.call(&owner.token, Method::PUT, "/api/v1/sso-policy", Some(body));
    let required = |break_glass: &Actor| json!({ "sso_required": true, "break_glass_owner": break_glass.user });

    // Refused while it would lock people out, each with what to do.
    let no_provider = set_policy(required(&owner)).await;
    assert_eq!(no_provider.status, 422);
    assert!(
        no_provider
            .text()
            .contains("add and enable an identity provider first")
    );
    let provider = add_provider(&app, &owner, "Acme SSO", &forger.issuer).await;
    let nobody = set_policy(json!({ "sso_required": true })).await;
    assert_eq!(nobody.status, 422);
    assert!(
        nobody.text().contains("break_glass_owner"),
        "{}",
        nobody.text()
    );
    let not_an_owner = set_policy(required(&viewer)).await;
    assert_eq!(not_an_owner.status, 422);
    assert!(
        not_an_owner
            .text()
            .contains("an enabled Owner of this tenant who has a password")
    );
    // An Owner signed in with a password proves the provider works first (or keeps the way in).
    let (_, other_session) = password_sign_in(&app, &other_owner.email, Some("acme")).await;
    let unproven = as_browser(
        &app,
        other_session.as_ref().unwrap(),
        Method::PUT,
        "/api/v1/sso-policy",
        required(&owner),
    )
    .await;
    assert_eq!(unproven.status, 422);
    assert!(
        unproven
            .text()
            .contains("sign in through one of the tenant's providers first")
    );

    let (_, viewer_session) = password_sign_in(&app, &viewer.email, Some("acme")).await;
    let turned_on = set_policy(required(&owner)).await;
    assert_eq!(turned_on.status, 200, "{}", turned_on.text());
    let (_, details) = last_audit(&app, "sso_policy.update").await;
    assert_eq!(
        details["sessions_ended"], 2,
        "the viewer's and the other Owner's: {details}"
    );
    let ended = app
        .request(
            request(Method::GET, "/api/v1/me")
                .header("cookie", &viewer_session.unwrap().0)
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(ended.status, 401);

    // Passwords are refused in acme, and say where to sign in instead.
    let (refused, session) = password_sign_in(&app, &viewer.email, Some("acme")).await;
    assert_eq!(refused.status, 403, "{}", refused.text());
    assert!(session.is_none());
    assert!(
        refused
            .text()
            .contains("signs in through single sign-on only")
            && refused.text().contains("/sign-in?tenant=acme"),
        "{}",
        refused.text()
    );
    let token = app
        .post_json(
            "/api/v1/auth/token",
            json!({ "grant_type": "password", "email": viewer.email, "password": PASSWORD, "tenant": "acme" }),
        )
        .await;
    assert_eq!(token.status, 403, "{}", token.text());
    // Without a tenant asked for, the password signs in where it still works — and cannot be
    // carried into acme.
    let (elsewhere, session) = password_sign_in(&app, &viewer.email, None).await;
    assert_eq!(
        elsewhere.json()["tenant"]["slug"],
        "globex",
        "{}",
        elsewhere.text()
    );
    let switched = as_browser(
        &app,
        session.as_ref().unwrap(),
        Method::PUT,
        "/api/v1/me/tenant",
        json!({ "tenant": "acme" }),
    )
    .await;
    assert_eq!(switched.status, 403, "{}", switched.text());

    // The break-glass Owner still signs in with the password, and the trail says so.
    let (break_glass, break_glass_session) =
        password_sign_in(&app, &owner.email, Some("acme")).await;
    assert_eq!(break_glass.status, 200, "{}", break_glass.text());
    let (break_glass_cookie, _) = break_glass_session.expect("a session");
    let (_, details) = last_audit(&app, "auth.login").await;
    assert_eq!(details["break_glass"], true);
    // Single sign-on works as before.
    let signed_in = forged_sign_in(&app, &forger, &provider, |_| {}).await;
    let session = session_of(&signed_in).expect("a session through the provider");
    assert_eq!(me(&app, &session).await["tenant"]["slug"], "acme");
    assert_eq!(
        app.get_ok(&owner, "/api/v1/sso-policy").await,
        json!({ "sso_required": true, "break_glass_owner": owner.user })
    );
    // Another Owner takes over the way in: the former one's password session ends, the
    // session through the provider stays.
    let handed_over = set_policy(required(&other_owner)).await;
    assert_eq!(handed_over.status, 200, "{}", handed_over.text());
    let ended = app
        .request(
            request(Method::GET, "/api/v1/me")
                .header("cookie", &break_glass_cookie)
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(ended.status, 401);
    assert_eq!(me(&app, &session).await["tenant"]["slug"], "acme");
}

#[tokio::test]
async fn signing_out_of_a_single_sign_on_session_ends_it_and_offers_the_providers_logout() {
    let app = app().await;
    let idp = real_provider(&app).await;
    let tenant = app.tenant("acme").await;
    let owner = app.member(tenant, BuiltinRole::Owner).await;
    let provider = add_provider(&app, &owner, "Acme SSO", &idp.issuer).await;
    let started = start(&app, &provider, "/").await;
    let back = sign_in_at_provider(&started.location, "alice").await;
    let signed_in = arrive(&app, &back, Some(&started.browser)).await;
    let session = session_of(&signed_in).expect("a session");
    let csrf = csrf_of(&signed_in);

    let signed_out = as_browser(
        &app,
        &(session.clone(), csrf),
        Method::POST,
        "/api/v1/auth/logout",
        json!({}),
    )
    .await;
    assert_eq!(signed_out.status, 200, "{}", signed_out.text());
    let url = signed_out.json()["provider_logout_url"]
        .as_str()
        .expect("the provider supports RP-initiated logout")
        .to_owned();
    let query = query_of(&url);
    assert!(
        url.starts_with(&format!("{}/session/end?", idp.issuer)),
        "{url}"
    );
    assert_eq!(query["client_id"], "nimbus");
    assert_eq!(
        query["post_logout_redirect_uri"],
        format!("{}/sign-in", app.state.config.base_url())
    );
    // The Nimbus session is over at once; the provider takes the request (its confirmation).
    let me = app
        .request(
            request(Method::GET, "/api/v1/me")
                .header("cookie", &session)
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(me.status, 401);
    let at_provider = reqwest::get(&url).await.unwrap();
    let status = at_provider.status();
    let page = at_provider.text().await.unwrap();
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("logout"), "{page}");
}

#[tokio::test]
async fn a_person_signs_in_with_github_as_their_user_id_with_organization_and_team_groups() {
    use nimbus_tests::github_stub::{CLIENT_ID, CLIENT_SECRET, GithubStub};
    let app = app().await;
    let github = GithubStub::start().await;
    let tenant = app.tenant("acme").await;
    let owner = app.member(tenant, BuiltinRole::Owner).await;
    let provider = app
        .create_ok(
            &owner,
            "/api/v1/identity-providers",
            json!({
                "name": "Acme GitHub", "kind": "github", "issuer": github.url,
                "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET,
                "allowed_domains": ["acme.example"],
                "role_mappings": [{ "group": "acme/platform", "role": "operator" }],
            }),
        )
        .await;

    let started = start(&app, &provider, "/apps").await;
    assert!(
        started
            .location
            .starts_with(&format!("{}/login/oauth/authorize?", github.url)),
        "{}",
        started.location
    );
    assert_eq!(started.query["code_challenge_method"], "S256");
    assert_eq!(started.query["scope"], "read:user user:email read:org");

    // An address GitHub has not verified does not make an account.
    github.set_primary_verified(false);
    let back = github.approve(&started.location).await;
    let refused = refusal(&arrive(&app, &back, Some(&started.browser)).await);
    assert!(
        refused.contains("did not give a verified e-mail address"),
        "{refused}"
    );

    // A code traded with another verifier is refused by GitHub.
    github.set_primary_verified(true);
    let started = start(&app, &provider, "/apps").await;
    let back = github.approve(&started.location).await;
    tamper_with_verifier(&app, &"x".repeat(43)).await;
    let refused = refusal(&arrive(&app, &back, Some(&started.browser)).await);
    assert!(
        refused.starts_with("Acme GitHub did not accept the sign-in"),
        "{refused}"
    );

    let started = start(&app, &provider, "/apps").await;
    let back = github.approve(&started.location).await;
    let signed_in = arrive(&app, &back, Some(&started.browser)).await;
    assert_eq!(
        signed_in.header("location"),
        Some("/apps"),
        "{:?}",
        signed_in.header("location")
    );
    let session = session_of(&signed_in).expect("a session");
    let me = me(&app, &session).await;
    assert_eq!(me["user"]["email"], "octocat@acme.example");
    assert_eq!(me["user"]["display_name"], "monalisa octocat");
    assert_eq!(roles_of(&app, "octocat@acme.example").await, ["operator"]);
    let identity: (String, String) = sqlx::query_as("SELECT issuer, subject FROM user_identities")
        .fetch_one(&mut app.owner().await)
        .await
        .unwrap();
    assert_eq!(
        identity,
        (github.url.clone(), "1".to_owned()),
        "GitHub's user id, not the login"
    );
    let (_, details) = last_audit(&app, "auth.sso_login").await;
    assert_eq!(details["groups"], json!(["acme", "acme/platform"]));
    // The code works once.
    let refused = refusal(&arrive(&app, &back, Some(&started.browser)).await);
    assert!(refused.contains("already used"), "{refused}");
}

#[tokio::test]
async fn a_provider_that_answers_with_too_much_is_not_read_into_memory() {
    let app = app().await;
    // A discovery document padded to 2 MiB.
    let padded = format!(
        "{{\"issuer\": \"x\", \"padding\": \"{}\"}}",
        "a".repeat(2 << 20)
    );
    let address = nimbus_tests::spawn_server(axum::Router::new().route(
        "/.well-known/openid-configuration",
        axum::routing::get(move || {
            let padded = padded.clone();
            async move { padded }
        }),
    ))
    .await;
    let tenant = app.tenant("acme").await;
    let owner = app.member(tenant, BuiltinRole::Owner).await;
    let provider = add_provider(&app, &owner, "Chatty SSO", &format!("http://{address}")).await;
    let refused = app
        .get(&format!(
            "/api/v1/auth/sso/start?tenant=acme&provider={provider}"
        ))
        .await;
    assert_eq!(refused.status, 503, "{}", refused.text());
    assert!(
        refused.text().contains("exceeds 1048576 bytes"),
        "{}",
        refused.text()
    );
}

#[tokio::test]
async fn an_entra_id_address_counts_as_verified_only_with_xms_edov() {
    let app = app().await;
    let forger = ForgingProvider::start().await;
    let tenant = app.tenant("acme").await;
    let owner = app.member(tenant, BuiltinRole::Owner).await;
    let provider = app
        .create_ok(
            &owner,
            "/api/v1/identity-providers",
            json!({
                "name": "Acme Entra", "kind": "oidc", "preset": "entra_id",
                "issuer": forger.issuer, "client_id": "nimbus", "client_secret": SECRET,
                "allowed_domains": ["acme.example"],
            }),
        )
        .await;
    // Entra ID sends no email_verified: without xms_edov the address is not trusted.
    let unverified = forged_sign_in(&app, &forger, &provider, |forged| {
        forged
            .claims
            .as_object_mut()
            .unwrap()
            .remove("email_verified");
    })
    .await;
    assert!(refusal(&unverified).contains("did not give a verified e-mail address"));
    let verified = forged_sign_in(&app, &forger, &provider, |forged| {
        forged
            .claims
            .as_object_mut()
            .unwrap()
            .remove("email_verified");
        forged.claims["xms_edov"] = json!(true);
    })
    .await;
    let session = session_of(&verified).expect("a session");
    assert_eq!(
        me(&app, &session).await["user"]["email"],
        "carol@acme.example"
    );
}
