//! The `nimbus` binary as an operator meets it: exit codes, one-line errors, and the embedded
//! PostgreSQL's lifecycle (started with the server, stopped with it, reused next time).

use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use nimbus::db::embedded::EmbeddedCluster;
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

/// Starts `nimbus serve` on an ephemeral port and returns it with its base URL.
async fn spawn_serve(data_dir: &Path) -> (Child, String) {
    let mut child = nimbus()
        .await
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
            if let Some(rest) = line.strip_prefix("Nimbus is ready at ") {
                return rest.split_whitespace().next().unwrap().to_owned();
            }
        }
        panic!("nimbus serve exited before it was ready");
    })
    .await
    .expect("nimbus serve becomes ready");
    // Keep draining stderr so the server never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    (child, base)
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
    let (child, base) = spawn_serve(dir.path()).await;
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

    let (child, base) = spawn_serve(dir.path()).await;
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
    let (child, base) = spawn_serve(dir.path()).await;
    migrate_successfully(dir.path()).await;
    assert_eq!(
        status_of(&format!("{base}/readyz")).await,
        200,
        "the server lost its database"
    );
    terminate(child).await;
}
