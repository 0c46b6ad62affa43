//! Support library of the Nimbus test suites: a real PostgreSQL, a fresh migrated database per
//! test, the application driven in-process or on a real socket.
//!
//! PostgreSQL is the server at `DATABASE_URL` when that is set; otherwise a throwaway cluster
//! this process starts (with the same code as the embedded default) and a watchdog removes when
//! the process exits, however it exits.

pub mod browser;
pub mod cloud_stub;
pub mod github_stub;
pub mod kube_stub;
pub mod object_stores;
pub mod oidc;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::BodyExt;
use nimbus::config::Config;
use nimbus::db::embedded::EmbeddedCluster;
use nimbus::state::AppState;
use sqlx::postgres::PgConnectOptions;
use sqlx::{Connection, PgConnection, PgPool};
use tokio::sync::OnceCell;
use tower::ServiceExt;

/// Settings that make a throwaway cluster fast; durability is worthless in a test.
pub const FAST_SETTINGS: &[(&str, &str)] = &[
    ("fsync", "off"),
    ("synchronous_commit", "off"),
    ("full_page_writes", "off"),
    ("max_connections", "300"),
    ("shared_buffers", "128MB"),
];

/// The PostgreSQL server all tests of this process share, with a migrated template database.
pub struct TestPostgres {
    /// Options for the maintenance database, for CREATE DATABASE.
    admin: PgConnectOptions,
    template: String,
    /// Keeps the throwaway cluster's directory alive as long as the process.
    _cluster: Option<ThrowawayCluster>,
}

static POSTGRES: OnceCell<TestPostgres> = OnceCell::const_new();

/// The shared PostgreSQL server, started on first use.
pub async fn postgres() -> &'static TestPostgres {
    POSTGRES.get_or_init(TestPostgres::start).await
}

impl TestPostgres {
    async fn start() -> Self {
        let (admin, cluster) = match std::env::var("DATABASE_URL") {
            Ok(url) => (
                PgConnectOptions::from_str(&url).expect("DATABASE_URL is not a valid URL"),
                None,
            ),
            Err(_) => {
                let cluster = ThrowawayCluster::start().await;
                (cluster.cluster.connect_options("postgres"), Some(cluster))
            }
        };
        let template = format!("nimbus_template_{}", uuid::Uuid::new_v4().simple());
        let mut conn = PgConnection::connect_with(&admin)
            .await
            .expect("connect to PostgreSQL");
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {template}")))
            .execute(&mut conn)
            .await
            .unwrap();
        conn.close().await.unwrap();
        migrate(&admin.clone().database(&template)).await;
        Self {
            admin,
            template,
            _cluster: cluster,
        }
    }

    /// A new database with the schema applied, for one test.
    pub async fn fresh_database(&self) -> TestDatabase {
        self.create_database(Some(&self.template)).await
    }

    /// A new database with no schema at all.
    pub async fn empty_database(&self) -> TestDatabase {
        self.create_database(None).await
    }

    async fn create_database(&self, template: Option<&str>) -> TestDatabase {
        let name = format!("nimbus_test_{}", uuid::Uuid::new_v4().simple());
        let statement = match template {
            Some(template) => format!("CREATE DATABASE {name} TEMPLATE {template}"),
            None => format!("CREATE DATABASE {name}"),
        };
        let mut conn = PgConnection::connect_with(&self.admin).await.unwrap();
        sqlx::raw_sql(sqlx::AssertSqlSafe(statement))
            .execute(&mut conn)
            .await
            .unwrap();
        conn.close().await.unwrap();
        let options = self.admin.clone().database(&name);
        let pool = nimbus::db::app_pool(options.clone(), &Config::default().database);
        TestDatabase { pool, options }
    }
}

/// Applies the migrations as the owner, over one connection (a template must have none left).
pub async fn migrate(owner: &PgConnectOptions) {
    let mut conn = PgConnection::connect_with(owner).await.unwrap();
    nimbus::db::MIGRATOR
        .run(&mut conn)
        .await
        .expect("migrations apply");
    conn.close().await.unwrap();
}

/// Inserts a tenant directly (tenants are not tenant-scoped rows), for tests that need one.
pub async fn create_tenant(pool: &PgPool, slug: &str) -> nimbus_api_types::ids::TenantId {
    let id = uuid::Uuid::new_v4();
    sqlx::query("INSERT INTO tenants (id, slug, name) VALUES ($1, $2, $2)")
        .bind(id)
        .bind(slug)
        .execute(pool)
        .await
        .unwrap();
    nimbus_api_types::ids::TenantId(id)
}

/// A database of one test.
pub struct TestDatabase {
    /// The application pool: queries run as the application role, under row-level security.
    pub pool: PgPool,
    /// The owner's options: for setup that must bypass the application role.
    pub options: PgConnectOptions,
}

/// A PostgreSQL cluster in a temporary directory, stopped and removed by a watchdog process
/// when the test process ends (even when it is killed), so no test run leaves servers behind.
pub struct ThrowawayCluster {
    pub cluster: EmbeddedCluster,
    _dir: tempfile::TempDir,
}

impl ThrowawayCluster {
    pub async fn start() -> Self {
        let dir = reachable_tempdir("nimbus-test-");
        let cluster = EmbeddedCluster::locate(dir.path())
            .expect("PostgreSQL server programs are installed")
            .with_settings(FAST_SETTINGS)
            .without_durable_init();
        spawn_watchdog(dir.path());
        cluster
            .ensure_running()
            .await
            .expect("the throwaway cluster starts");
        Self { cluster, _dir: dir }
    }
}

/// A temporary directory for an embedded cluster: a short path under /tmp (the socket path
/// fits) that the `postgres` account can enter when the tests run as root.
pub fn reachable_tempdir(prefix: &str) -> tempfile::TempDir {
    let dir = tempfile::Builder::new()
        .prefix(prefix)
        .tempdir_in("/tmp")
        .unwrap();
    std::fs::set_permissions(
        dir.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o711),
    )
    .unwrap();
    dir
}

/// Once this process is gone, stops the postmaster (immediate shutdown) and removes the
/// directory. It ignores the terminal's Ctrl-C so it outlives the process it watches.
#[expect(
    clippy::zombie_processes,
    reason = "the watchdog must outlive this process"
)]
fn spawn_watchdog(dir: &Path) {
    let script = r#"trap '' INT HUP TERM
while kill -0 "$1" 2>/dev/null; do sleep 0.5; done
if [ -f "$2/postgres/postmaster.pid" ]; then kill -QUIT "$(head -n 1 "$2/postgres/postmaster.pid")" 2>/dev/null; sleep 1; fi
rm -rf "$2""#;
    std::process::Command::new("sh")
        .arg("-c")
        .arg(script)
        .arg("watchdog")
        .arg(std::process::id().to_string())
        .arg(dir)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn the cluster watchdog");
}

/// Configuration for tests: defaults, with the web directory given (or none that exists).
pub fn test_config(web_dir: Option<&Path>) -> Config {
    let mut auth = Config::default().auth;
    // Revocations must show at once in tests; the cache window is tested on its own.
    auth.principal_cache_ttl = std::time::Duration::ZERO;
    Config {
        auth,
        // A fixed test key: nothing is written to a data directory.
        secrets: nimbus::config::SecretsConfig {
            master_keys: vec![
                "1:bmltYnVzLXRlc3QtbWFzdGVyLWtleS0wMDAwMDAwMDA="
                    .to_owned()
                    .try_into()
                    .expect("the test master key is valid"),
            ],
        },
        web_dir: web_dir.map_or_else(
            || PathBuf::from("/nonexistent/nimbus-web"),
            Path::to_path_buf,
        ),
        ..Config::default()
    }
}

/// The master keys after a rotation: the test key with a version 2 beside it, and version 2
/// alone (what is left once key 1 is retired).
pub fn rotated_master_keys() -> (nimbus::secrets::MasterKeys, nimbus::secrets::MasterKeys) {
    let version_2 = || {
        format!(
            "2:{}",
            base64::Engine::encode(&base64::engine::general_purpose::STANDARD, [9u8; 32])
        )
        .try_into()
        .expect("a valid master key")
    };
    let both = nimbus::secrets::MasterKeys::new(&[
        test_config(None).secrets.master_keys[0].clone(),
        version_2(),
    ])
    .expect("two master keys");
    let only_new = nimbus::secrets::MasterKeys::new(&[version_2()]).expect("one master key");
    (both, only_new)
}

/// The application over a fresh database, driven in-process.
pub struct TestApp {
    pub state: AppState,
    pub router: Router,
    pub db: TestDatabase,
}

impl TestApp {
    pub async fn new() -> Self {
        Self::with_config(test_config(None)).await
    }

    pub async fn with_config(config: Config) -> Self {
        // Server errors log their cause: shown with a failing test's output.
        let _ = tracing_subscriber::fmt()
            .with_env_filter("nimbus=warn")
            .with_test_writer()
            .try_init();
        let db = postgres().await.fresh_database().await;
        let state = AppState::new(config, db.pool.clone()).expect("the master key loads");
        let router = nimbus::router(state.clone()).expect("the router builds");
        Self { state, router, db }
    }

    pub async fn get(&self, path: &str) -> TestResponse {
        self.request(Request::get(path).body(Body::empty()).unwrap())
            .await
    }

    /// Sends a request in-process. Every successful mutation under `/api/` must have written
    /// exactly one audit row (DESIGN.md §4.4): this checks it for every test of the suite.
    pub async fn request(&self, request: Request<Body>) -> TestResponse {
        let method = request.method().clone();
        let path = request.uri().path().to_owned();
        let mutating = !matches!(method, Method::GET | Method::HEAD | Method::OPTIONS)
            && path.starts_with("/api/");
        let before = if mutating {
            Some(self.audit_rows().await)
        } else {
            None
        };
        let response = send(&self.router, request).await;
        if let Some(before) = before.filter(|_| response.status.is_success()) {
            let written = self.audit_rows().await - before;
            assert_eq!(
                written, 1,
                "{method} {path} succeeded ({}) and wrote {written} audit rows",
                response.status
            );
        }
        response
    }
}

/// Sends one request through a router in-process.
pub async fn send(router: &Router, request: Request<Body>) -> TestResponse {
    let response = router.clone().oneshot(request).await.expect("infallible");
    let status = response.status();
    let headers = response.headers().clone();
    let body = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes()
        .to_vec();
    TestResponse {
        status,
        headers,
        body,
    }
}

/// A FOCUS bill of one service with a weekly rhythm: `weekday` on Monday to Friday, `weekend`
/// on Saturday and Sunday, every day of `[from, to)` (midnight UTC charges, monthly periods).
pub fn weekly_bill(
    from: chrono::NaiveDate,
    to: chrono::NaiveDate,
    weekday: &str,
    weekend: &str,
) -> String {
    use chrono::Datelike;
    let mut out = String::from(
        "BilledCost,BillingAccountId,BillingAccountName,BillingCurrency,BillingPeriodEnd,BillingPeriodStart,ChargeCategory,ChargeClass,ChargeDescription,ChargePeriodEnd,ChargePeriodStart,ContractedCost,EffectiveCost,InvoiceIssuerName,ListCost,PricingQuantity,PricingUnit,ProviderName,PublisherName,ServiceCategory,ServiceName\n",
    );
    for day in from.iter_days().take_while(|day| *day < to) {
        let cost = if day.weekday().num_days_from_monday() >= 5 {
            weekend
        } else {
            weekday
        };
        let period = day.with_day(1).unwrap();
        let period_end = period.checked_add_months(chrono::Months::new(1)).unwrap();
        let next = day.succ_opt().unwrap();
        out.push_str(&format!(
            "{cost},acct-w,W,USD,{period_end}T00:00:00Z,{period}T00:00:00Z,Usage,,VM,{next}T00:00:00Z,{day}T00:00:00Z,{cost},{cost},W,{cost},24,Hours,AWS,AWS,Compute,EC2\n"
        ));
    }
    out
}

/// A `POST /api/v1/cost/imports` request carrying `bytes` as the form's `file` part.
pub fn bill_upload(token: &str, file_name: &str, bytes: &[u8]) -> Request<Body> {
    let boundary = "nimbus-test-boundary-7d1f";
    let mut body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{file_name}\"\r\nContent-Type: text/csv\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(bytes);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    request(Method::POST, "/api/v1/cost/imports")
        .header("authorization", format!("Bearer {token}"))
        .header(
            "content-type",
            format!("multipart/form-data; boundary={boundary}"),
        )
        .body(Body::from(body))
        .unwrap()
}

/// A request builder shortcut: `request(Method::POST, "/x").header(..).body(..)`.
pub fn request(method: Method, path: &str) -> axum::http::request::Builder {
    Request::builder().method(method).uri(path)
}

#[derive(Debug)]
pub struct TestResponse {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl TestResponse {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|err| {
            panic!(
                "body is not JSON ({err}): {}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|value| value.to_str().ok())
    }

    /// The stable error code of an error body.
    pub fn error_code(&self) -> String {
        self.json()["error"]["code"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }
}

/// Serves `router` on a real socket on 127.0.0.1; the server lives until the runtime ends.
pub async fn spawn_server(router: Router) -> SocketAddr {
    spawn_server_at(router, SocketAddr::from(([127, 0, 0, 1], 0))).await
}

/// Serves `router` at `address` (its `listen`, when the app must know its own URL).
pub async fn spawn_server_at(router: Router, address: SocketAddr) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind(address).await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(
            listener,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .unwrap();
    });
    address
}

/// The status of a GET to a server on a real socket.
pub async fn status_of(url: &str) -> u16 {
    reqwest::get(url)
        .await
        .expect("the server answers")
        .status()
        .as_u16()
}

/// A minimal built web directory (what `scripts/build-web` produces), for serving tests.
pub fn fake_web_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir_all(root.join("assets")).unwrap();
    std::fs::create_dir_all(root.join("static")).unwrap();
    std::fs::create_dir_all(root.join("vendor/swagger-ui")).unwrap();
    std::fs::write(
        root.join("index.html"),
        "<!doctype html><title>Nimbus</title><body></body>",
    )
    .unwrap();
    std::fs::write(
        root.join("assets/app-0123456789abcdef.js"),
        "export default 1;",
    )
    .unwrap();
    std::fs::write(root.join("static/api-docs.js"), "// init").unwrap();
    std::fs::write(
        root.join("vendor/swagger-ui/swagger-ui-bundle.js"),
        "// bundle",
    )
    .unwrap();
    dir
}

/// A password every test account shares; strong enough for the policy.
pub const PASSWORD: &str = "plum tractor velvet 42";

/// A member of a tenant created for a test, with an API token holding its role's permissions.
#[derive(Debug, Clone)]
pub struct Actor {
    pub user: nimbus_api_types::ids::UserId,
    pub tenant: nimbus_api_types::ids::TenantId,
    pub email: String,
    pub token: String,
}

/// The argon2 hash of [`PASSWORD`], computed once per process.
async fn password_hash() -> &'static str {
    static HASH: OnceCell<String> = OnceCell::const_new();
    HASH.get_or_init(|| async {
        nimbus::auth::password::hash(nimbus::auth::password::Password::new(PASSWORD.into()))
            .await
            .unwrap()
            .0
    })
    .await
}

impl TestApp {
    /// A connection as the database owner, outside row-level security (to count audit rows or
    /// set up what the API cannot).
    pub async fn owner(&self) -> PgConnection {
        PgConnection::connect_with(&self.db.options).await.unwrap()
    }

    /// A tenant with this slug.
    pub async fn tenant(&self, slug: &str) -> nimbus_api_types::ids::TenantId {
        create_tenant(&self.db.pool, slug).await
    }

    /// A new account with [`PASSWORD`], member of `tenant` with `role` tenant-wide, and an API
    /// token holding all of it.
    pub async fn member(
        &self,
        tenant: nimbus_api_types::ids::TenantId,
        role: nimbus_api_types::rbac::BuiltinRole,
    ) -> Actor {
        let user = uuid::Uuid::new_v4();
        let email = format!("{}-{}@example.com", role.as_str(), user.simple());
        let mut owner = self.owner().await;
        sqlx::query(
            "INSERT INTO users (id, email, display_name, password_hash) VALUES ($1, $2, $2, $3)",
        )
        .bind(user)
        .bind(&email)
        .bind(password_hash().await)
        .execute(&mut owner)
        .await
        .unwrap();
        sqlx::query("INSERT INTO memberships (tenant_id, user_id) VALUES ($1, $2)")
            .bind(tenant.0)
            .bind(user)
            .execute(&mut owner)
            .await
            .unwrap();
        sqlx::query("INSERT INTO role_bindings (id, tenant_id, user_id, builtin_role) VALUES ($1, $2, $3, $4)")
            .bind(uuid::Uuid::new_v4())
            .bind(tenant.0)
            .bind(user)
            .bind(role.as_str())
            .execute(&mut owner)
            .await
            .unwrap();
        let user = nimbus_api_types::ids::UserId(user);
        let token = self.token_for(tenant, user).await;
        Actor {
            user,
            tenant,
            email,
            token,
        }
    }

    /// A new API token of `user` in `tenant` with everything the user holds there.
    pub async fn token_for(
        &self,
        tenant: nimbus_api_types::ids::TenantId,
        user: nimbus_api_types::ids::UserId,
    ) -> String {
        let mut tx = nimbus::db::begin_for_tenant(&self.db.pool, tenant)
            .await
            .unwrap();
        let authority = nimbus::rbac::repo::authority_of(&mut tx, tenant, user)
            .await
            .unwrap()
            .unwrap();
        let request = nimbus_api_types::identity::NewApiToken {
            name: "test".into(),
            permissions: None,
            project_id: None,
            expires_in_days: None,
        };
        let mut entry = nimbus::audit::Entry {
            tenant: Some(tenant),
            actor: "test".into(),
            action: "api_token.create",
            target: String::new(),
            outcome: nimbus::audit::Outcome::Success,
            source_ip: None,
            request_id: None,
            details: serde_json::json!({}),
        };
        let created = nimbus::auth::api_tokens::create(
            &mut tx, tenant, user, &authority, &request, &mut entry,
        )
        .await
        .unwrap();
        tx.commit().await.unwrap();
        created.secret
    }

    /// Sends a request with `Authorization: Bearer token` and an optional JSON body.
    pub async fn call(
        &self,
        token: &str,
        method: Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> TestResponse {
        let builder = request(method, path).header("authorization", format!("Bearer {token}"));
        let request = match body {
            Some(body) => builder
                .header("content-type", "application/json")
                .body(Body::from(body.to_string())),
            None => builder.body(Body::empty()),
        };
        self.request(request.unwrap()).await
    }

    /// Uploads a bill file to `POST /api/v1/cost/imports` as a multipart form.
    pub async fn upload_bill(&self, token: &str, file_name: &str, bytes: &[u8]) -> TestResponse {
        self.request(bill_upload(token, file_name, bytes)).await
    }

    /// Sends a JSON request without credentials.
    pub async fn post_json(&self, path: &str, body: serde_json::Value) -> TestResponse {
        self.request(
            request(Method::POST, path)
                .header("content-type", "application/json")
                .body(Body::from(body.to_string()))
                .unwrap(),
        )
        .await
    }

    /// A `GET` by `actor` that must answer 200; its JSON.
    pub async fn get_ok(&self, actor: &Actor, path: &str) -> serde_json::Value {
        let response = self.call(&actor.token, Method::GET, path, None).await;
        assert_eq!(response.status, 200, "{path}: {}", response.text());
        response.json()
    }

    /// A `POST` of `body` by `actor` that must create (201); the new object's id.
    pub async fn create_ok(&self, actor: &Actor, path: &str, body: serde_json::Value) -> String {
        let response = self
            .call(&actor.token, Method::POST, path, Some(body))
            .await;
        assert_eq!(response.status, 201, "{path}: {}", response.text());
        response.json()["id"].as_str().unwrap().to_owned()
    }

    /// Asks for a sync of `account` as `actor` (202); the queued job's id.
    pub async fn queue_sync(&self, actor: &Actor, account: &str) -> String {
        let queued = self
            .call(
                &actor.token,
                Method::POST,
                &format!("/api/v1/cloud-accounts/{account}/syncs"),
                None,
            )
            .await;
        assert_eq!(queued.status, 202, "{}", queued.text());
        queued.json()["id"].as_str().unwrap().to_owned()
    }

    /// Asks for a sync and runs it as a server's worker would; the finished job.
    pub async fn sync(&self, actor: &Actor, account: &str) -> serde_json::Value {
        let job = self.queue_sync(actor, account).await;
        self.run_queued_syncs().await;
        self.get_ok(actor, &format!("/api/v1/sync-jobs/{job}"))
            .await
    }

    /// Runs every queued sync to its end, as a server's worker does.
    pub async fn run_queued_syncs(&self) {
        let worker = uuid::Uuid::new_v4();
        while let Some(claimed) = nimbus::clouds::sync::claim(&self.state, worker, None)
            .await
            .unwrap()
        {
            nimbus::clouds::sync::run(&self.state, claimed, worker, &nimbus::clouds::sync::Quiet)
                .await;
        }
    }

    /// The number of audit rows, every tenant and platform row included.
    pub async fn audit_rows(&self) -> i64 {
        self.count("SELECT count(*) FROM audit_log").await
    }

    /// The answer of a `SELECT count(*)` over every tenant (as the database owner).
    pub async fn count(&self, query: &'static str) -> i64 {
        sqlx::query_scalar(query)
            .fetch_one(&mut self.owner().await)
            .await
            .unwrap()
    }
}

/// A local SMTP server that accepts every message and keeps it (no TLS, no auth): enough of
/// RFC 5321 for a real client library to deliver to it.
pub struct SmtpStub {
    pub url: String,
    messages: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl SmtpStub {
    pub async fn start() -> Self {
        use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("smtp://{}", listener.local_addr().unwrap());
        let messages = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let store = messages.clone();
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                let store = store.clone();
                tokio::spawn(async move {
                    let (read, mut write) = socket.into_split();
                    let mut lines = BufReader::new(read).lines();
                    write.write_all(b"220 stub ESMTP\r\n").await.unwrap();
                    let mut data: Option<String> = None;
                    while let Ok(Some(line)) = lines.next_line().await {
                        if let Some(body) = data.as_mut() {
                            if line == "." {
                                store.lock().unwrap().push(std::mem::take(body));
                                data = None;
                                write.write_all(b"250 queued\r\n").await.unwrap();
                            } else {
                                body.push_str(&line);
                                body.push('\n');
                            }
                            continue;
                        }
                        let verb = line
                            .split_whitespace()
                            .next()
                            .unwrap_or_default()
                            .to_uppercase();
                        let reply: &[u8] = match verb.as_str() {
                            "EHLO" => b"250-stub\r\n250 8BITMIME\r\n",
                            "DATA" => {
                                data = Some(String::new());
                                b"354 go on\r\n"
                            }
                            "QUIT" => {
                                write.write_all(b"221 bye\r\n").await.unwrap();
                                break;
                            }
                            _ => b"250 ok\r\n",
                        };
                        write.write_all(reply).await.unwrap();
                    }
                });
            }
        });
        Self { url, messages }
    }

    /// Every message received so far, headers and body.
    pub fn messages(&self) -> Vec<String> {
        self.messages.lock().unwrap().clone()
    }
}

/// The `moto` AWS emulator (PyPI `moto[server]`), started once per test binary on 127.0.0.1
/// and stopped by a watchdog when the binary exits. Tests keep apart by working in their own
/// AWS account (moto keeps state per account: assume a role in a fresh account id).
pub struct Moto {
    pub endpoint: String,
}

static MOTO: OnceCell<Moto> = OnceCell::const_new();

pub async fn moto() -> &'static Moto {
    MOTO.get_or_init(|| async {
        let port = free_port();
        let endpoint = format!("http://127.0.0.1:{port}");
        start_watched(&format!("moto_server -H 127.0.0.1 -p {port}"), port).await;
        Moto { endpoint }
    })
    .await
}

/// A port nobody listens on now.
#[must_use]
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts `command` (a server of this test binary: an emulator) in the background, stopped by
/// a watchdog shell once this binary is gone, and waits until it listens on `port`.
// The shell outlives the tests on purpose: it stops the server once this binary is gone.
#[allow(clippy::zombie_processes)]
pub async fn start_watched(command: &str, port: u16) {
    let script = format!(
        "{command} >/dev/null 2>&1 & server=$!; \
         while kill -0 {parent} 2>/dev/null; do sleep 1; done; kill $server",
        parent = std::process::id()
    );
    std::process::Command::new("sh")
        .args(["-c", &script])
        .stdin(std::process::Stdio::null())
        .spawn()
        .unwrap_or_else(|err| panic!("{command}: {err}"));
    for _ in 0..300 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("{command} did not start listening on port {port} (scripts/test installs it)");
}

impl Moto {
    /// SDK configuration for a fresh AWS account of the emulator (the role is assumed there).
    pub async fn account(&self, account_id: &str, region: &str) -> aws_types::SdkConfig {
        let base = self.config(
            aws_credential_types::Credentials::new(
                "AKIAMOTOTESTSEED0001",
                "seed-secret-key-000000",
                None,
                None,
                "test",
            ),
            region,
        );
        let assumed = aws_sdk_sts::Client::new(&base)
            .assume_role()
            .role_arn(format!("arn:aws:iam::{account_id}:role/seed"))
            .role_session_name("seed")
            .send()
            .await
            .unwrap()
            .credentials
            .unwrap();
        self.config(
            aws_credential_types::Credentials::new(
                assumed.access_key_id,
                assumed.secret_access_key,
                Some(assumed.session_token),
                None,
                "test",
            ),
            region,
        )
    }

    fn config(
        &self,
        credentials: aws_credential_types::Credentials,
        region: &str,
    ) -> aws_types::SdkConfig {
        aws_types::SdkConfig::builder()
            .behavior_version(
                aws_smithy_runtime_api::client::behavior_version::BehaviorVersion::latest(),
            )
            .http_client(
                aws_smithy_http_client::Builder::new()
                    .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
                        aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
                    ))
                    .build_https(),
            )
            .credentials_provider(
                aws_credential_types::provider::SharedCredentialsProvider::new(credentials),
            )
            .region(aws_types::region::Region::new(region.to_owned()))
            .endpoint_url(self.endpoint.clone())
            .build()
    }
}
