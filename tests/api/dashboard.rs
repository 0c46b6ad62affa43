//! The dashboard end to end: the real WebAssembly app in headless Chromium (through
//! chromedriver) against a real server, with data seeded through the API — a FOCUS bill import
//! and two Kubernetes clusters synced from the stand-in API server. Each journey saves a
//! screenshot when it fails (`target/e2e-screenshots/`).

use std::time::{Duration, Instant};

use axum::http::Method;
use chrono::{Datelike, Utc};
use fantoccini::key::Key;
use nimbus_api_types::rbac::BuiltinRole;
use nimbus_tests::browser::Browser;
use nimbus_tests::kube_stub::{self, KubeStub};
use nimbus_tests::{
    Actor, PASSWORD, TestApp, spawn_server, spawn_server_at, test_config, weekly_bill,
};
use serde_json::json;

const KUBE_TOKEN: &str = "dashboard-kube-token-3e1f";

/// The dashboard built by `scripts/build-web` (the README's test command runs it first).
fn built_web_dir() -> std::path::PathBuf {
    let dir = std::path::PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../dist/web"));
    assert!(
        dir.join("index.html").is_file(),
        "{} has no built dashboard: run scripts/test (or scripts/build-web first)",
        dir.display()
    );
    dir
}

/// A served portal with a tenant, its owner, this month's bill and two synced clusters.
struct Site {
    app: TestApp,
    base: String,
    owner: Actor,
    /// The month-to-date total of the imported bills, in whole dollars.
    month_to_date: i64,
    /// The AWS bill's part of it.
    aws_month_to_date: i64,
    /// The imported AWS bill.
    bill: String,
    _stubs: Vec<KubeStub>,
}

async fn site() -> Site {
    let mut config = test_config(Some(&built_web_dir()));
    config.outbound.allow_http = true;
    config.outbound.allow_private_networks = true;
    let app = TestApp::with_config(config).await;
    // Live events travel from PostgreSQL to the sockets through the relay, as in `serve`.
    tokio::spawn(nimbus::events::relay(app.state.clone()));
    let address = spawn_server(app.router.clone()).await;
    let tenant = app.tenant("acme").await;
    let owner = app.member(tenant, BuiltinRole::Owner).await;

    let today = Utc::now().date_naive();
    let month_start = today.with_day(1).unwrap();
    let tomorrow = today.succ_opt().unwrap();
    // Two providers' bills: AWS at 100 a weekday and 50 a weekend day, Azure at 60 and 40.
    let bill = weekly_bill(month_start, tomorrow, "100", "50");
    let azure_bill = weekly_bill(month_start, tomorrow, "60", "40")
        .replace("acct-w,W,", "acct-z,Z,")
        .replace(
            ",AWS,AWS,Compute,EC2",
            ",Microsoft,Microsoft,Compute,Virtual Machines",
        );
    let (weekdays, weekend_days) = month_start
        .iter_days()
        .take_while(|day| *day < tomorrow)
        .fold((0, 0), |(weekdays, weekend_days), day| {
            if day.weekday().num_days_from_monday() >= 5 {
                (weekdays, weekend_days + 1)
            } else {
                (weekdays + 1, weekend_days)
            }
        });
    let aws_month_to_date = 100 * weekdays + 50 * weekend_days;
    let month_to_date = aws_month_to_date + 60 * weekdays + 40 * weekend_days;
    for (name, file) in [("bill.csv", &bill), ("azure.csv", &azure_bill)] {
        let imported = app.upload_bill(&owner.token, name, file.as_bytes()).await;
        assert_eq!(imported.status, 201, "{}", imported.text());
    }

    let mut stubs = Vec::new();
    for (name, ready) in [("edge-fra", 3), ("edge-ams", 1)] {
        let stub = KubeStub::start(KUBE_TOKEN).await;
        stub.set_items(
            kube_stub::NODES,
            vec![kube_stub::node(&format!("{name}-node"), true, "zone-a")],
        );
        stub.set_items(kube_stub::NAMESPACES, vec![kube_stub::namespace("shop")]);
        stub.set_items(
            kube_stub::DEPLOYMENTS,
            vec![kube_stub::deployment("shop", "cart", "shop", 3, ready)],
        );
        let created = app
            .call(
                &owner.token,
                Method::POST,
                "/api/v1/cloud-accounts",
                Some(json!({
                    "name": name,
                    "settings": { "provider": "kubernetes" },
                    "credentials": { "kind": "kubeconfig", "kubeconfig": stub.kubeconfig(KUBE_TOKEN) },
                })),
            )
            .await;
        assert_eq!(created.status, 201, "{}", created.text());
        let account = created.json()["id"].as_str().unwrap().to_owned();
        app.queue_sync(&owner, &account).await;
        stubs.push(stub);
    }
    app.run_queued_syncs().await;
    Site {
        app,
        base: format!("http://{address}"),
        owner,
        month_to_date,
        aws_month_to_date,
        bill,
        _stubs: stubs,
    }
}

/// `$1,234.00` for whole dollars.
fn dollars(amount: i64) -> String {
    let digits = amount.to_string();
    let mut grouped = String::new();
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    format!("${grouped}.00")
}

async fn sign_in(browser: &Browser, email: &str) {
    browser.open("/sign-in").await;
    browser.fill("input[name=email]", email).await;
    browser.fill("input[name=password]", PASSWORD).await;
    browser
        .click("form[aria-label='Sign in'] button[type=submit]")
        .await;
    browser.wait_for_text("main h1", "Overview").await;
}

async fn sign_out(browser: &Browser) {
    browser.click("details.usermenu summary").await;
    browser.click(".usermenu__panel button").await;
    browser.find("form[aria-label='Sign in']").await;
}

#[tokio::test]
async fn an_owner_signs_in_sees_the_overview_filters_clusters_opens_an_app_explores_costs_and_signs_out()
 {
    let site = site().await;
    let browser = Browser::start(&site.base).await;
    browser
        .journey("owner_journey", async {
            // Signed out, every page leads to the sign-in page.
            browser.open("/clusters").await;
            browser.find("form[aria-label='Sign in']").await;
            // A budget, for the overview's budget card.
            let budget = site
                .app
                .call(
                    &site.owner.token,
                    Method::POST,
                    "/api/v1/budgets",
                    Some(json!({"name": "Cloud", "period": "month", "amount": "12000", "currency": "USD"})),
                )
                .await;
            assert_eq!(budget.status, 201, "{}", budget.text());
            // Signed in from there, the page asked for comes back.
            browser.fill("input[name=email]", &site.owner.email).await;
            browser.fill("input[name=password]", PASSWORD).await;
            browser.click("form[aria-label='Sign in'] button[type=submit]").await;
            browser.wait_for_text("main h1", "Clusters").await;
            browser.click("nav a[href='/']").await;
            browser.wait_for_text("main h1", "Overview").await;

            // The overview: the bills' month to date, the budget, clusters by health, the
            // unhealthy app.
            browser
                .wait_for_text("[data-testid=month-to-date]", &dollars(site.month_to_date))
                .await;
            browser
                .wait_for_text("section[aria-labelledby=cluster-health]", "kubernetes")
                .await;
            browser
                .wait_for_text("section[aria-labelledby=unhealthy-apps]", "shop")
                .await;
            let services = browser
                .wait_for_text("section[aria-labelledby=top-services]", "EC2")
                .await;
            assert!(services.contains("Virtual Machines"), "{services}");
            browser.wait_for_text("section.cards", "Budget: Cloud").await;
            assert!(
                browser.has("figure.chart svg").await,
                "the spend chart is drawn"
            );
            browser.save_page_screenshot("overview").await;

            // Clusters: both, then filtered by a search the server runs.
            browser.click("nav a[href='/clusters']").await;
            let table = browser
                .wait_for_text("table[aria-label=Clusters] tbody", "edge-fra")
                .await;
            assert!(table.contains("edge-ams"), "{table}");
            browser
                .fill("input[name=q]", &format!("ams{}", char::from(Key::Enter)))
                .await;
            browser
                .wait_until_gone("table[aria-label=Clusters] tbody tr:nth-child(2)")
                .await;
            let table = browser
                .wait_for_text("table[aria-label=Clusters] tbody", "edge-ams")
                .await;
            assert!(!table.contains("edge-fra"), "{table}");
            browser.save_page_screenshot("clusters").await;

            // An app across both clusters, with its replica health.
            browser.click("nav a[href='/apps']").await;
            browser
                .wait_for_text("table[aria-label=Apps]", "1 unhealthy")
                .await;
            browser.save_page_screenshot("apps").await;
            browser.click("a[href='/apps/shop']").await;
            browser.wait_for_text("main h1", "shop").await;
            let facts = browser.wait_for_text("dl.facts", "4 of 6").await;
            assert!(facts.contains("1 unhealthy"), "{facts}");
            let clusters = browser
                .wait_for_text("table[aria-label='Clusters of the app']", "edge-ams")
                .await;
            assert!(clusters.contains("edge-fra"), "{clusters}");
            browser.save_page_screenshot("app").await;

            // Costs grouped by service, and the same view as CSV.
            browser.click("nav a[href='/costs']").await;
            browser.find("table[aria-label=Costs]").await;
            browser.choose("select[name=group_by]", "service").await;
            browser
                .wait_for_text("table[aria-label=Costs] thead", "service")
                .await;
            browser
                .wait_for_text("table[aria-label=Costs] tbody", "EC2")
                .await;
            browser
                .wait_for_text("[data-testid=cost-totals]", &dollars(site.month_to_date))
                .await;
            browser.save_page_screenshot("costs").await;
            let link = browser.find("a[download]").await;
            let href = link.attr("href").await.unwrap().unwrap();
            assert!(
                href.contains("format=csv") && href.contains("group_by=service"),
                "{href}"
            );
            let csv = browser
                .client
                .execute_async(
                    "const [href, done] = arguments; fetch(href).then(r => r.text()).then(done);",
                    vec![json!(href)],
                )
                .await
                .unwrap();
            let csv = csv.as_str().unwrap();
            assert!(csv.lines().count() > 1 && csv.contains("EC2"), "{csv}");
            // A value in the table narrows the view to its costs.
            browser
                .client
                .find(fantoccini::Locator::XPath(
                    "//table[@aria-label='Costs']//button[text()='EC2']",
                ))
                .await
                .unwrap()
                .click()
                .await
                .unwrap();
            browser.wait_for_text(".chips", "Service: EC2").await;
            browser
                .wait_for_text("[data-testid=cost-totals]", &dollars(site.aws_month_to_date))
                .await;

            sign_out(&browser).await;
            browser.open("/").await;
            browser.find("form[aria-label='Sign in']").await;
        })
        .await;
}

#[tokio::test]
async fn a_budget_alert_arrives_live_and_an_api_token_is_shown_once_and_revoked() {
    let site = site().await;
    let browser = Browser::start(&site.base).await;
    browser
        .journey("budget_and_token_journey", async {
            sign_in(&browser, &site.owner.email).await;
            // A full page load: unsafe requests now take the CSRF token from its cookie.
            browser.open("/budgets").await;
            browser.find("form[aria-label='New budget']").await;
            // A budget the month's spend has already passed: its thresholds fire at once, and
            // the alert comes over the WebSocket (the page is never reloaded).
            browser.fill("input[name=name]", "Platform").await;
            browser.fill("input[name=amount]", "10").await;
            browser
                .click("form[aria-label='New budget'] button[type=submit]")
                .await;
            browser
                .wait_for_text("table[aria-label=Budgets]", "Platform")
                .await;
            browser.wait_for_text(".toast", "Platform").await;
            // Edited in place: the form takes the budget's values.
            browser.click("button[aria-label='Edit Platform']").await;
            browser.find("form[aria-label='Edit budget']").await;
            browser.fill("input[name=amount]", "20000").await;
            browser
                .click("form[aria-label='Edit budget'] button[type=submit]")
                .await;
            browser
                .wait_for_text("table[aria-label=Budgets]", "$20,000.00")
                .await;
            browser.find("form[aria-label='New budget']").await;

            // A bill upload through the imports page: the same file again changes nothing.
            browser.click("nav a[href='/costs/imports']").await;
            let file = tempfile::Builder::new().suffix(".csv").tempfile().unwrap();
            std::fs::write(file.path(), &site.bill).unwrap();
            browser
                .find("input[type=file]")
                .await
                .send_keys(&file.path().display().to_string())
                .await
                .unwrap();
            browser
                .click("form[aria-label='Upload a bill'] button[type=submit]")
                .await;
            browser
                .wait_for_text("[data-testid=import-result]", "Already imported")
                .await;
            browser
                .wait_for_text("table[aria-label=Imports]", "bill.csv")
                .await;

            browser.click("nav a[href='/admin/tokens']").await;
            browser.fill("input[name=token_name]", "ci").await;
            browser
                .click("form[aria-label='New API token'] button[type=submit]")
                .await;
            let secret = browser
                .find("[data-testid=token-secret]")
                .await
                .text()
                .await
                .unwrap();
            let me = site
                .app
                .call(&secret, Method::GET, "/api/v1/me", None)
                .await;
            assert_eq!(me.status, 200, "the token shown works: {}", me.text());
            browser
                .wait_for_text("table[aria-label='API tokens']", "ci")
                .await;
            browser.click("button[aria-label='Revoke ci']").await;
            browser
                .wait_until_gone("button[aria-label='Revoke ci']")
                .await;
            assert!(
                !browser.has("[data-testid=token-secret]").await,
                "a revoked token's secret is not shown any more"
            );
            let me = site
                .app
                .call(&secret, Method::GET, "/api/v1/me", None)
                .await;
            assert_eq!(me.status, 401, "{}", me.text());
        })
        .await;
}

#[tokio::test]
async fn a_viewer_sees_no_administration_actions() {
    let site = site().await;
    let viewer = site
        .app
        .member(site.owner.tenant, BuiltinRole::Viewer)
        .await;
    let browser = Browser::start(&site.base).await;
    browser
        .journey("viewer_journey", async {
            sign_in(&browser, &viewer.email).await;
            browser
                .wait_for_text("section[aria-labelledby=cluster-health]", "kubernetes")
                .await;
            assert!(!browser.has("a[href='/admin/tokens']").await);
            browser.click("nav a[href='/budgets']").await;
            browser.wait_for_text("main h1", "Budgets").await;
            browser
                .find("main .state--empty, table[aria-label=Budgets]")
                .await;
            assert!(!browser.has("form[aria-label='New budget']").await);
            sign_out(&browser).await;
        })
        .await;
}

#[tokio::test]
async fn the_clusters_table_shows_its_first_page_fast_with_10000_clusters() {
    let site = site().await;
    let mut owner = site.app.owner().await;
    sqlx::query(
        "INSERT INTO clusters (id, tenant_id, account_id, scope, external_id, name, distribution,
                               region, version, status, seen_by)
         SELECT gen_random_uuid(), a.tenant_id, a.id, 'clusters', 'https://c' || g || '.example.com',
                'fleet-' || lpad(g::text, 5, '0'), 'kubernetes', 'region-' || (g % 16), 'v1.31.2',
                'Reachable', gen_random_uuid()
         FROM cloud_accounts a, generate_series(1, 10000) g
         WHERE a.name = 'edge-fra'",
    )
    .execute(&mut owner)
    .await
    .unwrap();
    sqlx::query("ANALYZE clusters")
        .execute(&mut owner)
        .await
        .unwrap();
    let browser = Browser::start(&site.base).await;
    browser
        .journey("clusters_first_page", async {
            sign_in(&browser, &site.owner.email).await;
            // A full page load each time: WebAssembly start-up, session and the first page of
            // the table. The best of three, as the machine may be busy with other tests.
            let mut best = Duration::MAX;
            for _ in 0..3 {
                let started = Instant::now();
                browser.open("/clusters").await;
                browser
                    .wait_for_text("table[aria-label=Clusters] tbody", "edge-ams")
                    .await;
                best = best.min(started.elapsed());
                browser.open("/budgets").await;
                browser.wait_for_text("main h1", "Budgets").await;
            }
            eprintln!(
                "clusters table, first page of 50 with 10,002 clusters: {} ms (best of 3, full page load)",
                best.as_millis()
            );
            assert!(
                best < Duration::from_millis(1500),
                "the first page took {} ms",
                best.as_millis()
            );
        })
        .await;
}

#[tokio::test]
async fn an_owner_tests_and_syncs_an_account_sees_members_searches_the_audit_log_and_renames_the_tenant()
 {
    let site = site().await;
    let browser = Browser::start(&site.base).await;
    browser
        .journey("administration_journey", async {
            sign_in(&browser, &site.owner.email).await;
            browser.click("nav a[href='/admin/accounts']").await;
            let accounts = browser
                .wait_for_text("table[aria-label='Cloud accounts']", "edge-fra")
                .await;
            assert!(accounts.contains("connected"), "{accounts}");
            browser.click("button[aria-label='Test edge-fra']").await;
            browser
                .wait_for_text("section[aria-label='Connection test']", "everything works")
                .await;
            browser
                .click("button[aria-label='Sync edge-ams now']")
                .await;
            browser
                .wait_for_text("main [role=status]", "is queued")
                .await;
            // The connect form asks for what each provider needs.
            browser.choose("select[name=provider]", "azure").await;
            browser
                .wait_for_text(
                    "form[aria-label='Connect an account']",
                    "Directory (tenant) id",
                )
                .await;

            browser.click("nav a[href='/admin/users']").await;
            browser
                .wait_for_text("table[aria-label=Members]", &site.owner.email)
                .await;
            browser
                .wait_for_text("table[aria-label='Role bindings']", "owner")
                .await;

            browser.click("nav a[href='/admin/audit']").await;
            // The whole log first, then only sign-ins once the filter applies.
            browser
                .wait_for_text("table[aria-label='Audit log']", "cloud_account.create")
                .await;
            browser
                .fill(
                    "input[name=action]",
                    &format!("auth.login{}", char::from(Key::Enter)),
                )
                .await;
            let log = browser
                .wait_for_text_without("table[aria-label='Audit log']", "cloud_account.create")
                .await;
            assert!(log.contains("auth.login"), "filtered: {log}");

            browser.click("nav a[href='/admin/settings']").await;
            browser
                .fill("input[name=tenant_name]", "Acme Industries")
                .await;
            browser
                .click("form[aria-label='Tenant settings'] button[type=submit]")
                .await;
            browser.wait_for_text("main [role=status]", "Saved").await;
            browser
                .wait_for_text("header.topbar", "Acme Industries")
                .await;
        })
        .await;
}

#[tokio::test]
async fn an_owner_sets_up_single_sign_on_and_a_person_signs_in_through_the_openid_provider() {
    let mut config = test_config(Some(&built_web_dir()));
    config.outbound.allow_http = true;
    config.outbound.allow_private_networks = true;
    // The provider sends the browser back to the app's own URL: it must be the served one.
    config.listen = std::net::SocketAddr::from(([127, 0, 0, 1], nimbus_tests::free_port()));
    let app = TestApp::with_config(config).await;
    let base = format!(
        "http://{}",
        spawn_server_at(app.router.clone(), app.state.config.listen).await
    );
    let idp = nimbus_tests::oidc::start(&json!([{
        "client_id": "nimbus", "client_secret": "browser-sso-secret",
        "redirect_uris": [format!("{base}/api/v1/auth/sso/callback")],
        "post_logout_redirect_uris": [format!("{base}/sign-in")],
    }]))
    .await;
    let tenant = app.tenant("acme").await;
    let owner = app.member(tenant, BuiltinRole::Owner).await;

    let browser = Browser::start(&base).await;
    browser
        .journey("single_sign_on_journey", async {
            // The Owner adds the provider and requires single sign-on, keeping the way in.
            sign_in(&browser, &owner.email).await;
            browser.click("nav a[href='/admin/sso']").await;
            browser.wait_for_text("main h1", "Single sign-on").await;
            browser.fill("input[name=provider_name]", "Acme SSO").await;
            browser
                .fill("input[name=provider_issuer]", &idp.issuer)
                .await;
            browser
                .fill("input[name=provider_client_id]", "nimbus")
                .await;
            browser
                .fill("input[name=provider_client_secret]", "browser-sso-secret")
                .await;
            browser
                .fill("input[name=provider_domains]", "acme.example")
                .await;
            browser
                .fill("textarea[name=provider_mappings]", "platform = operator")
                .await;
            browser
                .click("form[aria-label='Identity provider settings'] button[type=submit]")
                .await;
            let providers = browser
                .wait_for_text("table[aria-label='Identity providers']", "Acme SSO")
                .await;
            assert!(
                providers.contains("enabled") && providers.contains("platform = operator"),
                "{providers}"
            );
            // Changed: the form comes back with its settings; the secret stays stored.
            browser.click("button[aria-label='Change Acme SSO']").await;
            browser
                .wait_for_text(
                    "form[aria-label='Identity provider settings'] h3",
                    "Change Acme SSO",
                )
                .await;
            browser
                .fill("textarea[name=provider_mappings]", "platform = admin")
                .await;
            browser
                .click("form[aria-label='Identity provider settings'] button[type=submit]")
                .await;
            browser
                .wait_for_text("table[aria-label='Identity providers']", "platform = admin")
                .await;
            browser.click("input[name=sso_required]").await;
            browser
                .choose("select[name=break_glass_owner]", &owner.user.0.to_string())
                .await;
            browser
                .click("form[aria-label='Single sign-on policy'] button[type=submit]")
                .await;
            browser
                .wait_for_text(
                    "form[aria-label='Single sign-on policy'] ~ p[role=status]",
                    "Saved",
                )
                .await;
            sign_out(&browser).await;

            // Without the tenant in the URL, the address's domain finds its buttons.
            browser.open("/sign-in").await;
            browser
                .fill(
                    "input[name=email]",
                    &format!("alice@acme.example{}", char::from(Key::Tab)),
                )
                .await;
            browser
                .wait_for_text("nav[aria-label='Single sign-on']", "Sign in with Acme SSO")
                .await;

            browser.open("/sign-in?tenant=acme&next=/clusters").await;
            browser
                .wait_for_text("nav[aria-label='Single sign-on']", "Sign in with Acme SSO")
                .await;
            browser.click("a.sso__button").await;
            // The provider's own pages: its development login form, then its consent.
            browser.fill("input[name=login]", "alice").await;
            browser.fill("input[name=password]", "any").await;
            browser.click("button[type=submit]").await;
            browser.find("input[name=prompt][value=consent]").await;
            browser.click("button[type=submit]").await;
            // Back at Nimbus, signed in, where the sign-in was asked for.
            browser.wait_for_text("main h1", "Clusters").await;
            browser.click("details.usermenu summary").await;
            browser
                .wait_for_text(".usermenu__email", "alice@acme.example")
                .await;
            let roles: Vec<String> = sqlx::query_scalar(
                "SELECT b.builtin_role FROM role_bindings b JOIN users u ON u.id = b.user_id
                 WHERE u.email = 'alice@acme.example'",
            )
            .fetch_all(&mut app.owner().await)
            .await
            .unwrap();
            assert_eq!(roles, ["admin"], "the mapping as changed in the dashboard");

            // Signing out ends the provider's session too: it asks, then sends the browser back.
            browser.click(".usermenu__panel button").await;
            browser.click("button[name=logout][value=yes]").await;
            browser.find("form[aria-label='Sign in']").await;
            assert!(
                browser
                    .client
                    .current_url()
                    .await
                    .unwrap()
                    .as_str()
                    .starts_with(&format!("{base}/sign-in")),
                "back at Nimbus's sign-in page"
            );
            // A failed single sign-on says why on the sign-in page.
            browser
                .open("/api/v1/auth/sso/callback?state=made-up&code=made-up")
                .await;
            browser
                .wait_for_text("p[role=alert]", "already used or has expired")
                .await;
        })
        .await;
}
