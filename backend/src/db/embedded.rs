//! The embedded PostgreSQL cluster: Nimbus's zero-configuration database.
//!
//! With no `DATABASE_URL`, Nimbus creates a private cluster in `<data-dir>/postgres` with the
//! PostgreSQL programs already on the machine, reachable only through a Unix socket in a
//! directory of its own (mode 0700, no TCP listener). PostgreSQL refuses to run as root; when
//! Nimbus runs as root the cluster runs as the `postgres` system account, which owns its
//! directories. See `docs/decisions/0001-embedded-postgresql.md`.

use std::ffi::OsStr;
use std::fmt::Write as _;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Stdio;

use nix::unistd::{Gid, Uid, User};
use sqlx::Connection;
use sqlx::postgres::{PgConnectOptions, PgConnection};
use tokio::process::Command;

/// The cluster's bootstrap superuser. Only reachable through the private socket.
const SUPERUSER: &str = "nimbus";
/// Unix socket paths are limited to 107 bytes; the socket file adds `/.s.PGSQL.5432`.
const MAX_SOCKET_DIR_LEN: usize = 107 - ".s.PGSQL.5432".len() - 1;
/// Seconds `pg_ctl` waits for start and stop.
const PG_CTL_WAIT_SECS: &str = "60";

#[derive(Debug, thiserror::Error)]
pub enum EmbeddedError {
    #[error(
        "the PostgreSQL server programs (initdb, pg_ctl, postgres) were not found on PATH or \
         through pg_config: install them (Debian/Ubuntu: apt-get install postgresql) or set \
         DATABASE_URL to use an existing PostgreSQL server"
    )]
    ProgramsNotFound,
    #[error(
        "Nimbus runs as root and PostgreSQL refuses to, but there is no `postgres` system \
         account to run it as: install the postgresql package (which creates it) or set DATABASE_URL"
    )]
    NoServiceAccount,
    #[error(
        "the embedded PostgreSQL runs as `{account}`, which cannot enter {}: choose a --data-dir \
         outside that directory (for example /var/lib/nimbus) or set DATABASE_URL",
        path.display()
    )]
    DirectoryNotReachable { account: String, path: PathBuf },
    #[error("cannot prepare {}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{program} failed: {detail}")]
    Program {
        program: &'static str,
        detail: String,
    },
    #[error("cannot create the `{database}` database in the embedded cluster: {source}")]
    Bootstrap {
        database: String,
        source: sqlx::Error,
    },
}

impl EmbeddedError {
    /// Errors the operator fixes by installing something or choosing another directory.
    #[must_use]
    pub fn is_configuration(&self) -> bool {
        matches!(
            self,
            Self::ProgramsNotFound | Self::NoServiceAccount | Self::DirectoryNotReachable { .. }
        )
    }
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> EmbeddedError + '_ {
    move |source| EmbeddedError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Whether the cluster was started by this call or was already running.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Started {
    Now,
    Already,
}

/// The operating-system account the PostgreSQL processes run as.
#[derive(Debug, Clone)]
enum Account {
    /// Nimbus is not root: PostgreSQL runs as the same user.
    Current,
    /// Nimbus is root: PostgreSQL runs as this unprivileged account.
    Service { name: String, uid: Uid, gid: Gid },
}

impl Account {
    fn detect() -> Result<Self, EmbeddedError> {
        if !Uid::effective().is_root() {
            return Ok(Self::Current);
        }
        match User::from_name("postgres") {
            Ok(Some(user)) => Ok(Self::Service {
                name: user.name,
                uid: user.uid,
                gid: user.gid,
            }),
            _ => Err(EmbeddedError::NoServiceAccount),
        }
    }

    fn name(&self) -> String {
        match self {
            Self::Current => User::from_uid(Uid::effective())
                .ok()
                .flatten()
                .map_or_else(|| Uid::effective().to_string(), |user| user.name),
            Self::Service { name, .. } => name.clone(),
        }
    }

    /// Gives `path` to the account, so PostgreSQL can write there.
    fn take_ownership(&self, path: &Path) -> Result<(), EmbeddedError> {
        if let Self::Service { uid, gid, .. } = self {
            std::os::unix::fs::chown(path, Some(uid.as_raw()), Some(gid.as_raw()))
                .map_err(io_error(path))?;
        }
        Ok(())
    }

    /// Whether the account may enter a directory with this metadata.
    fn can_enter(&self, metadata: &std::fs::Metadata) -> bool {
        let mode = metadata.permissions().mode();
        match self {
            Self::Current => true,
            Self::Service { uid, gid, .. } => {
                (metadata.uid() == uid.as_raw() && mode & 0o100 != 0)
                    || (metadata.gid() == gid.as_raw() && mode & 0o010 != 0)
                    || mode & 0o001 != 0
            }
        }
    }
}

/// A PostgreSQL cluster owned by Nimbus in its data directory.
#[derive(Debug, Clone)]
pub struct EmbeddedCluster {
    bin_dir: PathBuf,
    data_dir: PathBuf,
    pgdata: PathBuf,
    socket_dir: PathBuf,
    account: Account,
    settings: Vec<(String, String)>,
    durable_init: bool,
}

impl EmbeddedCluster {
    /// Finds the PostgreSQL programs and decides where the cluster lives; touches nothing.
    pub fn locate(data_dir: &Path) -> Result<Self, EmbeddedError> {
        let bin_dir = find_programs(
            std::env::var_os("PATH").as_deref(),
            Path::new(DEBIAN_POSTGRES_ROOT),
        )
        .ok_or(EmbeddedError::ProgramsNotFound)?;
        let data_dir = std::path::absolute(data_dir).map_err(io_error(data_dir))?;
        let pgdata = data_dir.join("postgres");
        let socket_dir = socket_dir_for(&data_dir);
        Ok(Self {
            bin_dir,
            data_dir,
            pgdata,
            socket_dir,
            account: Account::detect()?,
            settings: Vec::new(),
            durable_init: true,
        })
    }

    /// Extra `postgresql.conf` settings, applied at every start (tests turn off `fsync`).
    #[must_use]
    pub fn with_settings(mut self, settings: &[(&str, &str)]) -> Self {
        self.settings = settings
            .iter()
            .map(|(key, value)| ((*key).to_owned(), (*value).to_owned()))
            .collect();
        self
    }

    /// Skips `fsync` during `initdb`: for throwaway test clusters only.
    #[must_use]
    pub fn without_durable_init(mut self) -> Self {
        self.durable_init = false;
        self
    }

    #[must_use]
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    #[must_use]
    pub fn socket_dir(&self) -> &Path {
        &self.socket_dir
    }

    /// Connection options for `database`, over the private socket.
    #[must_use]
    pub fn connect_options(&self, database: &str) -> PgConnectOptions {
        PgConnectOptions::new_without_pgpass()
            .socket(&self.socket_dir)
            .port(5432)
            .username(SUPERUSER)
            .database(database)
    }

    /// Initialises the cluster on first use, starts it unless it already runs, and makes sure
    /// the Nimbus database exists.
    pub async fn ensure_running(&self) -> Result<Started, EmbeddedError> {
        self.prepare_directories()?;
        if !self.pgdata.join("PG_VERSION").is_file() {
            self.initdb().await?;
        }
        let started = if self.is_running().await? {
            Started::Already
        } else {
            self.start().await?;
            Started::Now
        };
        self.ensure_database(super::EMBEDDED_DATABASE).await?;
        Ok(started)
    }

    /// Whether a postmaster is running on this cluster's data directory.
    pub async fn is_running(&self) -> Result<bool, EmbeddedError> {
        let output = self
            .program("pg_ctl")
            .arg("status")
            .arg("-D")
            .arg(&self.pgdata)
            .output()
            .await
            .map_err(io_error(&self.bin_dir))?;
        // pg_ctl status: 0 running, 3 not running, 4 no data directory.
        match output.status.code() {
            Some(0) => Ok(true),
            Some(3 | 4) => Ok(false),
            _ => Err(program_failed("pg_ctl", &output, None)),
        }
    }

    /// Starts the postmaster and waits until it accepts connections.
    pub async fn start(&self) -> Result<(), EmbeddedError> {
        self.write_settings()?;
        let log = self.pgdata.join("server.log");
        let output = self
            .program("pg_ctl")
            .args(["start", "-w", "-s", "-t", PG_CTL_WAIT_SECS, "-D"])
            .arg(&self.pgdata)
            .arg("-l")
            .arg(&log)
            .output()
            .await
            .map_err(io_error(&self.bin_dir))?;
        if output.status.success() {
            tracing::info!(data = %self.pgdata.display(), "embedded PostgreSQL started");
            Ok(())
        } else {
            Err(program_failed("pg_ctl start", &output, Some(&log)))
        }
    }

    /// Stops the postmaster (fast mode: open sessions are rolled back) and waits for it.
    pub async fn stop(&self) -> Result<(), EmbeddedError> {
        let output = self
            .program("pg_ctl")
            .args([
                "stop",
                "-w",
                "-s",
                "-m",
                "fast",
                "-t",
                PG_CTL_WAIT_SECS,
                "-D",
            ])
            .arg(&self.pgdata)
            .output()
            .await
            .map_err(io_error(&self.bin_dir))?;
        if output.status.success() {
            tracing::info!(data = %self.pgdata.display(), "embedded PostgreSQL stopped");
            Ok(())
        } else {
            Err(program_failed("pg_ctl stop", &output, None))
        }
    }

    fn program(&self, name: &str) -> Command {
        let mut command = Command::new(self.bin_dir.join(name));
        command
            .current_dir(&self.data_dir)
            .env_remove("PGDATA")
            .env("LC_ALL", "C")
            .stdin(Stdio::null())
            .kill_on_drop(false);
        if let Account::Service { uid, gid, .. } = &self.account {
            command.uid(uid.as_raw()).gid(gid.as_raw());
        }
        command
    }

    fn prepare_directories(&self) -> Result<(), EmbeddedError> {
        // The service account must be able to pass through the data directory to reach its own.
        let data_dir_mode = match self.account {
            Account::Current => 0o700,
            Account::Service { .. } => 0o711,
        };
        create_dir_with_mode(&self.data_dir, data_dir_mode)?;
        self.check_reachable()?;
        for dir in [&self.pgdata, &self.socket_dir] {
            if let Ok(metadata) = std::fs::symlink_metadata(dir)
                && !metadata.is_dir()
            {
                return Err(EmbeddedError::Io {
                    path: dir.clone(),
                    source: std::io::Error::other("exists and is not a directory"),
                });
            }
            create_dir_with_mode(dir, 0o700)?;
            self.account.take_ownership(dir)?;
        }
        Ok(())
    }

    fn check_reachable(&self) -> Result<(), EmbeddedError> {
        for dir in self.data_dir.ancestors() {
            let metadata = std::fs::metadata(dir).map_err(io_error(dir))?;
            if !self.account.can_enter(&metadata) {
                return Err(EmbeddedError::DirectoryNotReachable {
                    account: self.account.name(),
                    path: dir.to_path_buf(),
                });
            }
        }
        Ok(())
    }

    async fn initdb(&self) -> Result<(), EmbeddedError> {
        tracing::info!(data = %self.pgdata.display(), "creating the embedded PostgreSQL cluster");
        let mut command = self.program("initdb");
        command.arg("-D").arg(&self.pgdata).args([
            "-U",
            SUPERUSER,
            "--auth=trust",
            "-E",
            "UTF8",
            "--no-locale",
        ]);
        if !self.durable_init {
            command.arg("--no-sync");
        }
        let output = command.output().await.map_err(io_error(&self.bin_dir))?;
        if !output.status.success() {
            return Err(program_failed("initdb", &output, None));
        }
        let conf = self.pgdata.join("postgresql.conf");
        let mut contents = std::fs::read_to_string(&conf).map_err(io_error(&conf))?;
        contents.push_str(
            "\n# Settings Nimbus rewrites at every start.\ninclude_if_exists = 'nimbus.conf'\n",
        );
        std::fs::write(&conf, contents).map_err(io_error(&conf))
    }

    /// Writes `nimbus.conf`: the socket location and extra settings, fresh at every start so a
    /// moved data directory still works.
    fn write_settings(&self) -> Result<(), EmbeddedError> {
        let mut contents =
            String::from("# Written by Nimbus at every start; changes here are lost.\n");
        let socket_dir = self.socket_dir.to_string_lossy();
        let _ = writeln!(contents, "listen_addresses = ''");
        let _ = writeln!(
            contents,
            "unix_socket_directories = '{}'",
            quote(&socket_dir)
        );
        let _ = writeln!(contents, "unix_socket_permissions = 0700");
        for (key, value) in &self.settings {
            let _ = writeln!(contents, "{key} = '{}'", quote(value));
        }
        let path = self.pgdata.join("nimbus.conf");
        std::fs::write(&path, contents).map_err(io_error(&path))?;
        self.account.take_ownership(&path)
    }

    async fn ensure_database(&self, database: &str) -> Result<(), EmbeddedError> {
        let bootstrap = |source| EmbeddedError::Bootstrap {
            database: database.to_owned(),
            source,
        };
        let mut conn = PgConnection::connect_with(&self.connect_options("postgres"))
            .await
            .map_err(bootstrap)?;
        let exists = sqlx::query_scalar!(
            r#"SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1) AS "exists!""#,
            database
        )
        .fetch_one(&mut conn)
        .await
        .map_err(bootstrap)?;
        if !exists {
            // The name is a constant of ours, quoted all the same.
            let statement = format!("CREATE DATABASE \"{}\"", database.replace('"', "\"\""));
            sqlx::raw_sql(sqlx::AssertSqlSafe(statement))
                .execute(&mut conn)
                .await
                .map_err(bootstrap)?;
        }
        conn.close().await.map_err(bootstrap)
    }
}

/// Creates `dir` (and parents) if missing; a directory created here gets `mode`.
fn create_dir_with_mode(dir: &Path, mode: u32) -> Result<(), EmbeddedError> {
    if dir.is_dir() {
        return Ok(());
    }
    std::fs::create_dir_all(dir).map_err(io_error(dir))?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(mode)).map_err(io_error(dir))
}

/// A single-quoted `postgresql.conf` value: quotes doubled.
fn quote(value: &str) -> String {
    value.replace('\'', "''")
}

/// The socket directory: beside the cluster when the path is short enough for a Unix socket,
/// otherwise a directory in /tmp named by a hash of the data directory (stable across runs, so
/// every `nimbus` command finds the same socket).
fn socket_dir_for(data_dir: &Path) -> PathBuf {
    let beside = data_dir.join("postgres-socket");
    if beside.as_os_str().len() <= MAX_SOCKET_DIR_LEN {
        return beside;
    }
    PathBuf::from(format!(
        "/tmp/nimbus-pg-{:016x}",
        fnv1a(data_dir.as_os_str())
    ))
}

/// FNV-1a: a tiny hash that, unlike `DefaultHasher`, is the same in every build.
fn fnv1a(bytes: &OsStr) -> u64 {
    use std::os::unix::ffi::OsStrExt;
    bytes
        .as_bytes()
        .iter()
        .fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
            (hash ^ u64::from(*byte)).wrapping_mul(0x0000_0100_0000_01b3)
        })
}

/// Where Debian-family systems install each PostgreSQL major version.
const DEBIAN_POSTGRES_ROOT: &str = "/usr/lib/postgresql";

/// The directory holding `initdb`, `pg_ctl` and `postgres`: from the directories of `path_var`
/// (symlinks followed), then `pg_config --bindir` (the `pg_config` on that path), then
/// `<debian_root>/<version>/bin`, newest first.
fn find_programs(path_var: Option<&OsStr>, debian_root: &Path) -> Option<PathBuf> {
    let has_all = |dir: &Path| {
        ["initdb", "pg_ctl", "postgres"]
            .iter()
            .all(|p| dir.join(p).is_file())
    };
    let path_dirs: Vec<PathBuf> = path_var
        .map(|paths| std::env::split_paths(paths).collect())
        .unwrap_or_default();
    let from_path = path_dirs
        .iter()
        .filter_map(|dir| std::fs::canonicalize(dir.join("pg_ctl")).ok())
        .filter_map(|pg_ctl| pg_ctl.parent().map(Path::to_path_buf));
    let from_pg_config = path_dirs
        .iter()
        .map(|dir| dir.join("pg_config"))
        .find(|pg_config| pg_config.is_file())
        .and_then(|pg_config| {
            std::process::Command::new(pg_config)
                .arg("--bindir")
                .stderr(Stdio::null())
                .output()
                .ok()
        })
        .filter(|output| output.status.success())
        .map(|output| PathBuf::from(String::from_utf8_lossy(&output.stdout).trim()));
    let mut debian: Vec<(u32, PathBuf)> = std::fs::read_dir(debian_root)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse().ok()?;
            Some((version, entry.path().join("bin")))
        })
        .collect();
    debian.sort_by_key(|(version, _)| std::cmp::Reverse(*version));
    from_path
        .chain(from_pg_config)
        .chain(debian.into_iter().map(|(_, dir)| dir))
        .find(|dir| has_all(dir))
}

/// An error naming what the program said: its stderr, or the tail of the server log.
fn program_failed(
    program: &'static str,
    output: &std::process::Output,
    log: Option<&Path>,
) -> EmbeddedError {
    let stderr = String::from_utf8_lossy(&output.stderr);
    let mut detail: Vec<&str> = stderr
        .lines()
        .filter(|line| !line.trim().is_empty())
        .collect();
    let log_contents = log
        .and_then(|log| std::fs::read_to_string(log).ok())
        .unwrap_or_default();
    if detail.is_empty() {
        detail = log_contents.lines().rev().take(3).collect();
        detail.reverse();
    }
    let detail = if detail.is_empty() {
        format!("exit status {}", output.status)
    } else {
        detail.join(" / ")
    };
    EmbeddedError::Program { program, detail }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_data_dirs_keep_their_socket_beside_the_cluster() {
        assert_eq!(
            socket_dir_for(Path::new("/var/lib/nimbus")),
            PathBuf::from("/var/lib/nimbus/postgres-socket")
        );
    }

    #[test]
    fn long_data_dirs_get_a_stable_short_socket_dir() {
        let long = PathBuf::from(format!("/srv/{}", "x".repeat(120)));
        let first = socket_dir_for(&long);
        assert!(
            first.to_string_lossy().starts_with("/tmp/nimbus-pg-"),
            "{first:?}"
        );
        assert!(first.join(".s.PGSQL.5432").as_os_str().len() <= 107);
        assert_eq!(first, socket_dir_for(&long));
        assert_ne!(first, socket_dir_for(&long.join("y")));
    }

    #[test]
    fn without_postgres_programs_the_error_names_the_package_and_the_alternative() {
        let empty = tempfile::tempdir().unwrap();
        assert_eq!(
            find_programs(Some(empty.path().as_os_str()), empty.path()),
            None
        );
        let message = EmbeddedError::ProgramsNotFound.to_string();
        assert!(message.contains("apt-get install postgresql"), "{message}");
        assert!(message.contains("DATABASE_URL"), "{message}");
        assert!(!message.contains('\n'));
        assert!(EmbeddedError::ProgramsNotFound.is_configuration());
    }

    #[test]
    fn postgres_programs_are_found_through_symlinks_on_the_path() {
        let root = tempfile::tempdir().unwrap();
        let real = root.path().join("lib/postgresql/15/bin");
        std::fs::create_dir_all(&real).unwrap();
        for program in ["initdb", "pg_ctl", "postgres"] {
            std::fs::write(real.join(program), "").unwrap();
        }
        let on_path = root.path().join("bin");
        std::fs::create_dir_all(&on_path).unwrap();
        std::os::unix::fs::symlink(real.join("pg_ctl"), on_path.join("pg_ctl")).unwrap();
        let found = find_programs(Some(on_path.as_os_str()), Path::new("/nonexistent"));
        assert_eq!(found, Some(std::fs::canonicalize(&real).unwrap()));
        // Debian's layout is the last resort, newest version first.
        let debian = root.path().join("lib/postgresql");
        assert_eq!(find_programs(None, &debian), Some(real));
    }

    #[test]
    fn settings_values_are_quoted() {
        assert_eq!(quote("it's"), "it''s");
    }
}
