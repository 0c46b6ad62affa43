//! The `nimbus` binary as an operator meets it: exit codes, one-line errors, and the embedded
//! PostgreSQL's lifecycle (started with the server, stopped with it, reused next time).

use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use nimbus::db::embedded::EmbeddedCluster;
use nimbus_tests::cloud_stub::{self, CloudStub};
use nimbus_tests::status_of;
use sqlx::{Connection, PgConnection};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// The `nimbus` binary of this workspace, beside this test binary's `deps/` directory. The
/// README's test command (`scripts/test`) builds it first; a binary older than the `nimbus`
/// library these tests were linked with is stale, and the suite says so instead of testing it.
fn nimbus_binary() -> &'static Path {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY.get_or_init(|| {
        let test_exe = std::env::current_exe().unwrap();
        let deps = test_exe.parent().unwrap();
        let binary = deps.parent().unwrap().join("nimbus");
        let modified = |path: &Path| std::fs::metadata(path).and_then(|m| m.modified()).ok();
        let newest_library = std::fs::read_dir(deps)
            .unwrap()
            .flatten()
            .map(|entry| entry.path())
            .filter(|path| {
                let name = path.file_name().unwrap_or_default().to_string_lossy();
                name.starts_with("libnimbus-") && name.ends_with(".rlib")
            })
            .filter_map(|path| modified(&path))
            .max();
        let built = modified(&binary);
        assert!(
            built.is_some() && built >= newest_library,
            "{} is missing or older than the code under test: run scripts/test \
             (or `cargo build --workspace --all-targets` before `cargo test`)",
            binary.display()
        );
        binary
    })
}

/// A `nimbus` command with a clean environment: no configuration leaks in from the caller.
async fn nimbus() -> Command {
    let binary = tokio::task::spawn_blocking(nimbus_binary).await.unwrap();
    let mut command = Command::new(binary);
    command
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .kill_on_drop(true);
    command
}

async fn run(command: &mut Command) -> Output {
    tokio::time::timeout(
        Duration::from_secs(60),
        command.stdin(Stdio::null()).output(),
    )
    .await
    .expect("the command finishes")
    .unwrap()
}

fn assert_one_line_failure(output: &Output, code: i32, mentions: &str) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(code), "stderr: {stderr}");
    assert_eq!(
        stderr.trim_end().lines().count(),
        1,
        "not one line: {stderr}"
    );
    assert!(stderr.starts_with("nimbus: "), "{stderr}");
    assert!(
        stderr.contains(mentions),
        "{stderr:?} does not mention {mentions:?}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}

/// A data directory the `postgres` account can reach when the tests run as root.
fn data_dir() -> tempfile::TempDir {
    nimbus_tests::reachable_tempdir("nimbus-cli-")
}

#[tokio::test]
async fn an_unknown_configuration_field_is_named_with_exit_code_2() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("nimbus.toml");
    std::fs::write(&file, "lisen = \"127.0.0.1:9000\"\n").unwrap();
    let output = run(nimbus().await.arg("serve").arg("--config").arg(&file)).await;
    assert_one_line_failure(&output, 2, "lisen");
}

#[tokio::test]
async fn a_bad_environment_value_names_its_key_with_exit_code_2() {
    let cases = [
        ("NIMBUS_LISTEN", "127.0.0.1:99999", "listen"),
        (
            "NIMBUS_HTTP__REQUEST_TIMEOUT",
            "soon",
            "http.request_timeout",
        ),
        ("NIMBUS_LOG_FORMAT", "xml", "log_format"),
        (
            "NIMBUS_CORS_ALLOWED_ORIGINS",
            "[\"https://a.example/path\"]",
            "cors_allowed_origins",
        ),
    ];
    for (variable, value, key) in cases {
        let output = run(nimbus().await.arg("serve").env(variable, value)).await;
        assert_one_line_failure(&output, 2, key);
    }
}

#[tokio::test]
async fn a_database_url_of_another_kind_is_a_configuration_error() {
    let output = run(nimbus()
        .await
        .arg("migrate")
        .env("DATABASE_URL", "mysql://root:pw@db/nimbus"))
    .await;
    assert_one_line_failure(&output, 2, "postgres://");
    assert!(
        !String::from_utf8_lossy(&output.stderr).contains(":pw@"),
        "the password is not echoed"
    );
}

#[tokio::test]
async fn an_unreachable_database_fails_with_one_line_and_no_password() {
    let output = run(nimbus()
        .await
        .arg("serve")
        .env("NIMBUS_LISTEN", "127.0.0.1:0")
        .env(
            "DATABASE_URL",
            "postgres://nimbus:hunter2@127.0.0.1:1/nimbus",
        ))
    .await;
    assert_one_line_failure(
        &output,
        1,
        "cannot connect to the database at postgres://nimbus:***@127.0.0.1:1/nimbus",
    );
    assert!(!String::from_utf8_lossy(&output.stderr).contains("hunter2"));
}

#[tokio::test]
async fn an_unknown_subcommand_is_a_usage_error() {
    let output = run(nimbus().await.arg("serv")).await;
    assert_eq!(output.status.code(), Some(2));
}

/// Everything a server wrote to stderr so far.
type Log = std::sync::Arc<std::sync::Mutex<String>>;

/// Starts `nimbus serve` on an ephemeral port and returns it with its base URL and its stderr.
async fn spawn_serve(data_dir: &Path) -> (Child, String, Log) {
    spawn_serve_with(data_dir, &[]).await
}

async fn spawn_serve_with(data_dir: &Path, env: &[(&str, &str)]) -> (Child, String, Log) {
    let log = Log::default();
    let mut child = nimbus()
        .await
        .envs(env.iter().copied())
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data_dir)
        .env("NIMBUS_WEB_DIR", "/nonexistent")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let base = tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            log.lock().unwrap().push_str(&format!("{line}\n"));
            if let Some(rest) = line.strip_prefix("Nimbus is ready at ") {
                return rest.split_whitespace().next().unwrap().to_owned();
            }
        }
        panic!("nimbus serve exited before it was ready");
    })
    .await
    .expect("nimbus serve becomes ready");
    // Keep draining stderr so the server never blocks on a full pipe.
    let sink = log.clone();
    tokio::spawn(async move {
        while let Ok(Some(line)) = lines.next_line().await {
            sink.lock().unwrap().push_str(&format!("{line}\n"));
        }
    });
    (child, base, log)
}

async fn terminate(mut child: Child) {
    let pid = nix::unistd::Pid::from_raw(i32::try_from(child.id().unwrap()).unwrap());
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
    let status = tokio::time::timeout(Duration::from_secs(30), child.wait())
        .await
        .expect("exits")
        .unwrap();
    assert!(status.success(), "nimbus serve exited with {status}");
}

#[tokio::test]
async fn serve_runs_on_its_own_postgres_stops_it_on_sigterm_and_reuses_its_data() {
    let dir = data_dir();
    let (child, base, _) = spawn_serve(dir.path()).await;
    for path in ["/healthz", "/readyz", "/api/v1/openapi.json", "/api/docs"] {
        assert_eq!(status_of(&format!("{base}{path}")).await, 200, "{path}");
    }
    // `/` answers even before the dashboard is built, saying how to build it.
    assert_eq!(status_of(&format!("{base}/")).await, 503);

    let cluster = EmbeddedCluster::locate(dir.path()).unwrap();
    let mut conn = PgConnection::connect_with(&cluster.connect_options("nimbus"))
        .await
        .unwrap();
    sqlx::raw_sql(
        "CREATE TABLE survives_restart (note text); INSERT INTO survives_restart VALUES ('kept')",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    conn.close().await.unwrap();

    terminate(child).await;
    assert!(
        !cluster.is_running().await.unwrap(),
        "PostgreSQL still runs after nimbus stopped"
    );
    assert!(!dir.path().join("postgres/postmaster.pid").exists());

    let (child, base, _) = spawn_serve(dir.path()).await;
    assert_eq!(status_of(&format!("{base}/readyz")).await, 200);
    let mut conn = PgConnection::connect_with(&cluster.connect_options("nimbus"))
        .await
        .unwrap();
    let note: String = sqlx::query_scalar("SELECT note FROM survives_restart")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(note, "kept");
    conn.close().await.unwrap();
    terminate(child).await;
    assert!(!cluster.is_running().await.unwrap());
}

/// Runs `nimbus migrate` on a data directory and expects it to succeed.
async fn migrate_successfully(data_dir: &Path) -> Output {
    let output = run(nimbus()
        .await
        .arg("migrate")
        .arg("--data-dir")
        .arg(data_dir))
    .await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    output
}

#[tokio::test]
async fn migrate_starts_the_embedded_database_only_for_its_own_duration() {
    let dir = data_dir();
    let output = migrate_successfully(dir.path()).await;
    assert!(String::from_utf8_lossy(&output.stdout).contains("up to date"));
    let cluster = EmbeddedCluster::locate(dir.path()).unwrap();
    assert!(
        !cluster.is_running().await.unwrap(),
        "migrate left PostgreSQL running"
    );
}

#[tokio::test]
async fn migrate_leaves_a_running_servers_database_running() {
    let dir = data_dir();
    let (child, base, _) = spawn_serve(dir.path()).await;
    migrate_successfully(dir.path()).await;
    assert_eq!(
        status_of(&format!("{base}/readyz")).await,
        200,
        "the server lost its database"
    );
    terminate(child).await;
}

/// Runs a command with `input` on stdin.
async fn run_with_stdin(command: &mut Command, input: &str) -> Output {
    use tokio::io::AsyncWriteExt;
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(input.as_bytes()).await.unwrap();
    drop(stdin);
    tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
        .await
        .expect("the command finishes")
        .unwrap()
}

fn stdout_line(output: &Output) -> String {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8(output.stdout.clone()).unwrap();
    assert_eq!(stdout.lines().count(), 1, "stdout is one line: {stdout:?}");
    stdout.trim_end().to_owned()
}

#[tokio::test]
async fn admin_commands_make_a_tenant_an_owner_and_a_token_the_server_accepts() {
    let dir = data_dir();
    let admin = |args: &[&str]| {
        let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
        let dir = dir.path().to_owned();
        async move {
            let mut command = nimbus().await;
            command.arg("admin").args(&args).arg("--data-dir").arg(&dir);
            command
        }
    };
    let tenant = stdout_line(
        &run(&mut admin(&["create-tenant", "--slug", "acme", "--name", "Acme"]).await).await,
    );
    assert!(uuid::Uuid::parse_str(&tenant).is_ok(), "{tenant}");
    let weak = run_with_stdin(
        &mut admin(&[
            "create-user",
            "--email",
            "owner@acme.test",
            "--password-stdin",
            "--tenant",
            "acme",
        ])
        .await,
        "password1234\n",
    )
    .await;
    assert_one_line_failure(&weak, 2, "too common");
    let user = run_with_stdin(
        &mut admin(&[
            "create-user",
            "--email",
            "owner@acme.test",
            "--password-stdin",
            "--tenant",
            "acme",
            "--role",
            "owner",
        ])
        .await,
        &format!("{}\n", nimbus_tests::PASSWORD),
    )
    .await;
    stdout_line(&user);
    let token = stdout_line(
        &run(&mut admin(&[
            "create-token",
            "--email",
            "owner@acme.test",
            "--tenant",
            "acme",
            "--expires-in",
            "30d",
        ])
        .await)
        .await,
    );
    assert!(token.starts_with("nimbus_pat_"), "{token}");
    let unknown = run(&mut admin(&[
        "create-token",
        "--email",
        "owner@acme.test",
        "--tenant",
        "nope",
    ])
    .await)
    .await;
    assert_one_line_failure(&unknown, 2, "no tenant");

    let (child, base, log) = spawn_serve(dir.path()).await;
    let client = reqwest::Client::new();
    let projects = client
        .get(format!("{base}/api/v1/projects"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(projects.status(), 200);
    // No platform administrator yet: the server printed a one-time setup link.
    let printed = log.lock().unwrap().clone();
    let link = printed
        .lines()
        .find_map(|line| line.trim().strip_prefix(&format!("{base}/setup#")))
        .expect("a setup link")
        .to_owned();
    let setup = client
        .post(format!("{base}/api/v1/auth/setup"))
        .json(&serde_json::json!({"token": link, "email": "root@acme.test", "display_name": "Root", "password": nimbus_tests::PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(setup.status(), 201);
    terminate(child).await;
}

/// A secret and the one response allowed to contain it.
struct Canary {
    secret: String,
    created_by: usize,
}

#[tokio::test]
async fn no_secret_appears_in_any_response_but_the_one_creating_it_nor_in_the_logs() {
    let dir = data_dir();
    let mut create_tenant = nimbus().await;
    create_tenant
        .args([
            "admin",
            "create-tenant",
            "--slug",
            "canary",
            "--name",
            "Canary",
            "--data-dir",
        ])
        .arg(dir.path());
    stdout_line(&run(&mut create_tenant).await);
    let password = format!("velvet {} lantern", uuid::Uuid::new_v4().simple());
    let mut create_user = nimbus().await;
    create_user
        .args([
            "admin",
            "create-user",
            "--email",
            "canary@example.com",
            "--password-stdin",
            "--platform-admin",
            "--tenant",
            "canary",
            "--data-dir",
        ])
        .arg(dir.path());
    stdout_line(&run_with_stdin(&mut create_user, &format!("{password}\n")).await);

    // The clouds' stand-in listens on 127.0.0.1 over plain HTTP.
    let (child, base, log) = spawn_serve_with(
        dir.path(),
        &[
            ("RUST_LOG", "debug"),
            ("NIMBUS_OUTBOUND__ALLOW_HTTP", "true"),
            ("NIMBUS_OUTBOUND__ALLOW_PRIVATE_NETWORKS", "true"),
        ],
    )
    .await;
    let client = reqwest::Client::new();
    let mut bodies: Vec<String> = Vec::new();
    let mut canaries = vec![Canary {
        secret: password.clone(),
        created_by: usize::MAX,
    }];
    let mut record = |body: String| {
        bodies.push(body);
        bodies.len() - 1
    };

    let login = client
        .post(format!("{base}/api/v1/auth/login"))
        .json(&serde_json::json!({"email": "canary@example.com", "password": password}))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 200);
    let cookie = login.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let login_body = login.text().await.unwrap();
    let csrf = serde_json::from_str::<serde_json::Value>(&login_body).unwrap()["csrf_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let at = record(login_body);
    canaries.push(Canary {
        secret: cookie.split_once('=').unwrap().1.to_owned(),
        created_by: usize::MAX,
    });
    canaries.push(Canary {
        secret: csrf.clone(),
        created_by: at,
    });

    let token = client.post(format!("{base}/api/v1/auth/token")).json(&serde_json::json!({"grant_type": "password", "email": "canary@example.com", "password": password, "tenant": "canary"})).send().await.unwrap().text().await.unwrap();
    let pair: serde_json::Value = serde_json::from_str(&token).unwrap();
    let at = record(token.clone());
    let access = pair["access_token"].as_str().unwrap().to_owned();
    let refresh = pair["refresh_token"].as_str().unwrap().to_owned();
    canaries.push(Canary {
        secret: access.clone(),
        created_by: at,
    });
    canaries.push(Canary {
        secret: refresh.clone(),
        created_by: at,
    });

    let rotated = client
        .post(format!("{base}/api/v1/auth/token"))
        .json(&serde_json::json!({"grant_type": "refresh_token", "refresh_token": refresh}))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let at = record(rotated.clone());
    let rotated: serde_json::Value = serde_json::from_str(&rotated).unwrap();
    canaries.push(Canary {
        secret: rotated["refresh_token"].as_str().unwrap().to_owned(),
        created_by: at,
    });

    let created = client
        .post(format!("{base}/api/v1/api-tokens"))
        .header("cookie", &cookie)
        .header("x-csrf-token", &csrf)
        .json(&serde_json::json!({"name": "canary"}))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let at = record(created.clone());
    let secret = serde_json::from_str::<serde_json::Value>(&created).unwrap()["secret"]
        .as_str()
        .unwrap()
        .to_owned();
    canaries.push(Canary {
        secret: secret.clone(),
        created_by: at,
    });

    let invitation = client
        .post(format!("{base}/api/v1/invitations"))
        .bearer_auth(&secret)
        .json(&serde_json::json!({"email": "guest@example.com", "role": "viewer"}))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let at = record(invitation.clone());
    let link = serde_json::from_str::<serde_json::Value>(&invitation).unwrap()["link"]
        .as_str()
        .unwrap()
        .to_owned();
    canaries.push(Canary {
        secret: link.split_once('#').unwrap().1.to_owned(),
        created_by: at,
    });

    let wrong = client
        .post(format!("{base}/api/v1/auth/login"))
        .json(
            &serde_json::json!({"email": "canary@example.com", "password": format!("{password}x")}),
        )
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    record(wrong);

    // Cloud credentials: connected, tested and synced by the server's workers; neither the
    // answers nor the debug log may ever show them (not even the answer that created them).
    let azure_secret = format!("azure-{}", uuid::Uuid::new_v4().simple());
    let alibaba_secret = format!("alibaba-{}", uuid::Uuid::new_v4().simple());
    let stub = CloudStub::start(&azure_secret, &alibaba_secret).await;
    let key_line = cloud_stub::test_key()
        .private_pem
        .lines()
        .nth(5)
        .unwrap()
        .to_owned();
    for secret in [&azure_secret, &alibaba_secret, &key_line] {
        canaries.push(Canary {
            secret: secret.clone(),
            created_by: usize::MAX,
        });
    }
    let accounts = [
        serde_json::json!({"name": "azure", "settings": {"provider": "azure",
            "directory_id": cloud_stub::AZURE_DIRECTORY, "subscription_ids": [cloud_stub::AZURE_SUBSCRIPTION],
            "authority_url": stub.url, "resource_manager_url": stub.url},
            "credentials": {"kind": "azure_client_secret", "client_id": cloud_stub::AZURE_CLIENT_ID,
                            "client_secret": azure_secret}}),
        serde_json::json!({"name": "alibaba", "settings": {"provider": "alibaba",
            "regions": [cloud_stub::ALIBABA_REGION], "endpoint_url": stub.url},
            "credentials": {"kind": "alibaba_access_key", "access_key_id": cloud_stub::ALIBABA_KEY_ID,
                            "access_key_secret": alibaba_secret}}),
        serde_json::json!({"name": "gcp", "settings": {"provider": "gcp", "endpoint_url": stub.url},
            "credentials": {"kind": "gcp_service_account_key", "key": stub.gcp_key_file()}}),
    ];
    let mut cloud_paths = vec!["/api/v1/cloud-accounts".to_owned()];
    for account in accounts {
        let created = client
            .post(format!("{base}/api/v1/cloud-accounts"))
            .bearer_auth(&secret)
            .json(&account)
            .send()
            .await
            .unwrap();
        assert_eq!(created.status(), 201);
        let created = created.text().await.unwrap();
        record(created.clone());
        let id = serde_json::from_str::<serde_json::Value>(&created).unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned();
        for action in ["test", "syncs"] {
            let response = client
                .post(format!("{base}/api/v1/cloud-accounts/{id}/{action}"))
                .bearer_auth(&secret)
                .send()
                .await
                .unwrap();
            assert!(response.status().is_success(), "{action}");
            let body = response.text().await.unwrap();
            if action == "syncs" {
                let job = serde_json::from_str::<serde_json::Value>(&body).unwrap()["id"]
                    .as_str()
                    .unwrap()
                    .to_owned();
                cloud_paths.push(format!("/api/v1/sync-jobs/{job}"));
            }
            record(body);
        }
        cloud_paths.push(format!("/api/v1/cloud-accounts/{id}"));
        cloud_paths.push(format!("/api/v1/cloud-accounts/{id}/scopes"));
    }
    // The server's workers run the three syncs.
    for path in cloud_paths.iter().filter(|path| path.contains("sync-jobs")) {
        let mut finished = false;
        for _ in 0..200 {
            let job: serde_json::Value = client
                .get(format!("{base}{path}"))
                .bearer_auth(&secret)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            if job["finished_at"].is_string() {
                assert_eq!(job["state"], "succeeded", "{job}");
                finished = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(finished, "{path} did not finish");
    }
    for path in &cloud_paths {
        let response = client
            .get(format!("{base}{path}"))
            .bearer_auth(&secret)
            .send()
            .await
            .unwrap();
        assert!(response.status().is_success(), "{path}");
        record(response.text().await.unwrap());
    }

    for path in [
        "/api/v1/me",
        "/api/v1/sessions",
        "/api/v1/api-tokens",
        "/api/v1/invitations",
        "/api/v1/users",
        "/api/v1/audit",
        "/api/v1/audit?format=csv",
        "/api/v1/role-bindings",
    ] {
        for credential in [&access, &secret] {
            let response = client
                .get(format!("{base}{path}"))
                .bearer_auth(credential)
                .send()
                .await
                .unwrap();
            assert!(response.status().is_success(), "{path}");
            record(response.text().await.unwrap());
        }
        let response = client
            .get(format!("{base}{path}"))
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap();
        record(response.text().await.unwrap());
    }
    terminate(child).await;

    let log = log.lock().unwrap().clone();
    assert!(log.contains("DEBUG"), "the server logged at debug level");
    for canary in &canaries {
        assert!(!log.contains(&canary.secret), "a secret reached the log");
        for (index, body) in bodies.iter().enumerate() {
            if index != canary.created_by {
                assert!(
                    !body.contains(&canary.secret),
                    "response {index} echoes a secret: {body}"
                );
            }
        }
    }
}

/// `nimbus ARGS --data-dir DIR`.
fn in_data_dir(
    dir: &tempfile::TempDir,
    args: &[&str],
) -> impl std::future::Future<Output = Command> + use<> {
    let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    let dir = dir.path().to_owned();
    async move {
        let mut command = nimbus().await;
        command.args(&args).arg("--data-dir").arg(&dir);
        command
    }
}

/// Creates the tenant `acme` in the embedded cluster of `dir`.
async fn create_acme(dir: &tempfile::TempDir) {
    let created = run(&mut in_data_dir(
        dir,
        &["admin", "create-tenant", "--slug", "acme", "--name", "Acme"],
    )
    .await)
    .await;
    assert!(created.status.success());
}

#[tokio::test]
async fn import_bill_prints_a_line_per_file_and_exits_1_when_one_is_rejected() {
    let dir = data_dir();
    let command = |args: &[&str]| in_data_dir(&dir, args);
    create_acme(&dir).await;
    let header = "BilledCost,BillingAccountId,BillingAccountName,BillingCurrency,BillingPeriodEnd,BillingPeriodStart,ChargeCategory,ChargeClass,ChargeDescription,ChargePeriodEnd,ChargePeriodStart,ContractedCost,EffectiveCost,InvoiceIssuerName,ListCost,PricingQuantity,PricingUnit,ProviderName,PublisherName,ServiceCategory,ServiceName";
    let row = |cost: &str| {
        format!(
            "{cost},acct,A,USD,2024-10-01T00:00:00Z,2024-09-01T00:00:00Z,Usage,,VM,2024-09-02T00:00:00Z,2024-09-01T00:00:00Z,1,1,X,1,1,Hours,X,X,Compute,VMs"
        )
    };
    let good = dir.path().join("good.csv");
    std::fs::write(
        &good,
        format!("{header}\n{}\n{}\n", row("1.5"), row("2.25")),
    )
    .unwrap();
    let bad = dir.path().join("bad.csv");
    std::fs::write(&bad, format!("{header}\n{}\n", row("1;5"))).unwrap();
    let (good, bad) = (good.to_str().unwrap(), bad.to_str().unwrap());

    let output = run(&mut command(&["import-bill", "--tenant", "acme", good, bad]).await).await;
    assert_one_line_failure(&output, 1, "1 file(s) not imported");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(
        lines[0].starts_with(&format!("{good}: imported: 2 rows, 1 billing period(s)")),
        "{stdout}"
    );
    assert!(
        lines[1].starts_with(&format!("{bad}: failed: bill_rejected")),
        "{stdout}"
    );
    assert!(lines[2].contains("row 2 BilledCost"), "{stdout}");

    let again = run(&mut command(&["import-bill", "--tenant", "acme", good]).await).await;
    assert!(
        again.status.success(),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    assert!(String::from_utf8_lossy(&again.stdout).contains("already imported, nothing changed"));
    let unknown = run(&mut command(&["import-bill", "--tenant", "nobody", good]).await).await;
    assert_one_line_failure(&unknown, 2, "no tenant has the slug `nobody`");
}

#[tokio::test]
async fn forecast_backtest_prints_the_forecasts_error_on_the_tenants_history() {
    let dir = data_dir();
    let command = |args: &[&str]| in_data_dir(&dir, args);
    create_acme(&dir).await;
    let empty = run(&mut command(&["forecast-backtest", "--tenant", "acme"]).await).await;
    assert_one_line_failure(&empty, 1, "no costs to backtest");
    let bill = dir.path().join("history.csv");
    let day = |text: &str| text.parse::<chrono::NaiveDate>().unwrap();
    std::fs::write(
        &bill,
        nimbus_tests::weekly_bill(day("2024-07-01"), day("2024-10-01"), "100", "40"),
    )
    .unwrap();
    let imported =
        run(&mut command(&["import-bill", "--tenant", "acme", bill.to_str().unwrap()]).await).await;
    assert!(
        imported.status.success(),
        "{}",
        String::from_utf8_lossy(&imported.stderr)
    );
    let output = run(&mut command(&["forecast-backtest", "--tenant", "acme"]).await).await;
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    // 92 days from 1 July; each day after 28 days of warm-up is forecast: 64 days, and August
    // and September are whole months after it. A weekly rhythm is forecast exactly; a flat
    // run-rate misses it.
    assert_eq!(
        stdout,
        "USD: 64 days, 2 months; daily MAPE 0% (flat run-rate 42.46%); next month MAPE 0%; month end (from the 15th) MAPE 0%\n"
    );
}

/// `DATABASE_URL` of a test database (the owner's role, over the throwaway cluster's socket).
fn database_url(options: &sqlx::postgres::PgConnectOptions) -> String {
    let host = options.get_socket().map_or_else(
        || options.get_host().to_owned(),
        |socket| socket.display().to_string(),
    );
    format!(
        "postgres://{}@localhost:{}/{}?host={host}",
        options.get_username(),
        options.get_port(),
        options.get_database().unwrap()
    )
}

#[tokio::test]
async fn two_servers_on_one_database_run_each_sync_once_and_relay_each_others_events() {
    use futures_util::StreamExt;
    use nimbus_api_types::rbac::BuiltinRole;
    use nimbus_tests::kube_stub::{self, KubeStub};
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;

    let app = nimbus_tests::TestApp::new().await;
    let acme = app.tenant("acme").await;
    let owner = app.member(acme, BuiltinRole::Owner).await;
    let url = database_url(&app.db.options);
    let env = [
        ("DATABASE_URL", url.as_str()),
        (
            "NIMBUS_SECRETS__MASTER_KEYS",
            r#"["1:bmltYnVzLXRlc3QtbWFzdGVyLWtleS0wMDAwMDAwMDA="]"#,
        ),
        ("NIMBUS_OUTBOUND__ALLOW_HTTP", "true"),
        ("NIMBUS_OUTBOUND__ALLOW_PRIVATE_NETWORKS", "true"),
        ("NIMBUS_CLOUDS__POLL_INTERVAL", "300ms"),
    ];
    let (dir_a, dir_b) = (data_dir(), data_dir());
    let (server_a, base_a, _) = spawn_serve_with(dir_a.path(), &env).await;
    let (server_b, base_b, _) = spawn_serve_with(dir_b.path(), &env).await;

    // A live-events client on server B.
    let mut request = format!("{}/api/v1/events", base_b.replace("http://", "ws://"))
        .into_client_request()
        .unwrap();
    request.headers_mut().insert(
        "authorization",
        format!("Bearer {}", owner.token).parse().unwrap(),
    );
    let (mut events, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;

    // Six clusters, connected and synced through server A; both servers' workers compete.
    let http = reqwest::Client::new();
    let mut stubs = Vec::new();
    let mut jobs = Vec::new();
    for n in 0..6 {
        let stub = KubeStub::start("replica-token").await;
        stub.set_items(
            kube_stub::NODES,
            vec![kube_stub::node(&format!("node-{n}"), true, "z")],
        );
        let created: serde_json::Value = http
            .post(format!("{base_a}/api/v1/cloud-accounts"))
            .bearer_auth(&owner.token)
            .json(&serde_json::json!({
                "name": format!("cluster-{n}"),
                "settings": { "provider": "kubernetes" },
                "credentials": { "kind": "kubeconfig", "kubeconfig": stub.kubeconfig("replica-token") },
            }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let id = created["id"]
            .as_str()
            .unwrap_or_else(|| panic!("{created}"))
            .to_owned();
        let job: serde_json::Value = http
            .post(format!("{base_a}/api/v1/cloud-accounts/{id}/syncs"))
            .bearer_auth(&owner.token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        jobs.push(job["id"].as_str().unwrap().to_owned());
        stubs.push(stub);
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    for job in &jobs {
        loop {
            let state: serde_json::Value = http
                .get(format!("{base_b}/api/v1/sync-jobs/{job}"))
                .bearer_auth(&owner.token)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            if state["state"] == "succeeded" {
                assert_eq!(state["attempts"], 1, "{state}");
                break;
            }
            assert!(tokio::time::Instant::now() < deadline, "{state}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    // Each cluster was listed by exactly one worker of one server.
    for stub in &stubs {
        let listings = stub
            .calls()
            .iter()
            .filter(|call| call.path == kube_stub::NODES)
            .count();
        assert_eq!(listings, 1, "nodes listed {listings} times");
    }

    // An import through server A is announced on server B's socket.
    let bill = nimbus_tests::weekly_bill(
        chrono::NaiveDate::from_ymd_opt(2026, 10, 1).unwrap(),
        chrono::NaiveDate::from_ymd_opt(2026, 10, 8).unwrap(),
        "3.00",
        "1.00",
    );
    let form = reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::bytes(bill.into_bytes()).file_name("week.csv"),
    );
    let uploaded = http
        .post(format!("{base_a}/api/v1/cost/imports"))
        .bearer_auth(&owner.token)
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(uploaded.status(), 201);
    let announced = tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(message) = events.next().await {
            if let Ok(tokio_tungstenite::tungstenite::Message::Text(text)) = message {
                let event: serde_json::Value = serde_json::from_str(&text).unwrap();
                if event["kind"] == "import.finished" {
                    return event;
                }
            }
        }
        panic!("the socket closed");
    })
    .await
    .expect("server B relays the import server A finished");
    assert_eq!(announced["data"]["status"], "succeeded");
    terminate(server_a).await;
    terminate(server_b).await;
}
