//! The server's typed configuration, loaded once at start.
//!
//! Layers, later ones winning: compiled defaults → `nimbus.toml` (or the file named by `--config` /
//! `NIMBUS_CONFIG`) → `NIMBUS_*` environment variables (`__` separates nested keys, e.g.
//! `NIMBUS_HTTP__REQUEST_TIMEOUT=10s`) and `DATABASE_URL` → command-line flags. Unknown keys are
//! errors, so a typo never silently falls back to a default.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};
use sqlx::postgres::PgConnectOptions;

/// The file read when no `--config` is given and it exists in the working directory.
pub const DEFAULT_CONFIG_FILE: &str = "nimbus.toml";

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Address the HTTP server binds.
    pub listen: SocketAddr,
    /// Where Nimbus keeps its state: the embedded PostgreSQL cluster, keys.
    pub data_dir: PathBuf,
    /// An external PostgreSQL server; when absent the embedded cluster in `data_dir` is used.
    pub database_url: Option<DatabaseUrl>,
    /// The built dashboard (`index.html`, `assets/`, `static/`, `vendor/`).
    pub web_dir: PathBuf,
    /// The URL users reach Nimbus at; `https://` turns on HSTS.
    pub public_url: Option<PublicUrl>,
    /// Origins allowed to call the API from a browser (CORS). Empty: same origin only.
    pub cors_allowed_origins: Vec<Origin>,
    pub log_format: LogFormat,
    pub http: HttpConfig,
    pub database: DatabaseConfig,
    pub auth: AuthConfig,
    pub mail: MailConfig,
    pub cost: CostConfig,
    pub outbound: OutboundConfig,
    pub secrets: SecretsConfig,
    pub clouds: CloudsConfig,
    pub events: EventsConfig,
}

/// The live events WebSocket (`events/`).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct EventsConfig {
    /// Events a socket may fall behind before it is closed (the client reconnects and
    /// refetches); memory stays bounded whatever clients do.
    pub queue: usize,
    /// How long one message may wait for a client that does not read before it is closed.
    #[serde(with = "humantime_serde")]
    pub send_timeout: Duration,
}

/// Master keys of the envelope encryption of stored credentials (`secrets.rs`).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SecretsConfig {
    /// `VERSION:BASE64` keys of 32 random bytes, e.g. `NIMBUS_SECRETS__MASTER_KEYS='["1:…"]'`;
    /// the highest version encrypts. Empty: the key file `master-keys` in `data_dir` (created
    /// on first start) — keep a copy apart from database backups.
    pub master_keys: Vec<crate::secrets::MasterKeySpec>,
}

/// Syncing cloud accounts (`clouds/`).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CloudsConfig {
    /// Syncs one server process runs at once.
    pub workers: u32,
    /// Syncs all server processes run at once (they share the database's queue).
    pub max_running: u32,
    /// How long a claimed sync is left to its worker without a heartbeat before another
    /// worker takes it over.
    #[serde(with = "humantime_serde")]
    pub lease: Duration,
    /// How often a server looks for due and queued syncs.
    #[serde(with = "humantime_serde")]
    pub poll_interval: Duration,
    /// Deadline of one call to a cloud API, retries included.
    #[serde(with = "humantime_serde")]
    pub call_timeout: Duration,
    /// Attempts of one call to a cloud API (retries are jittered and back off).
    pub max_attempts: u32,
}

/// Calls Nimbus makes to addresses users give it (alert webhooks, cloud API endpoints):
/// SECURITY.md 19.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct OutboundConfig {
    /// Allow `http://` targets (otherwise `https://` only).
    pub allow_http: bool,
    /// Allow targets on loopback, private, link-local and other non-public addresses.
    pub allow_private_networks: bool,
    /// Deadline of one call, connection included.
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    /// A PEM file of certificate authorities trusted beside the public ones (a private CA of
    /// private endpoints, a TLS-inspecting proxy).
    #[serde(default)]
    pub extra_ca_file: Option<PathBuf>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CostConfig {
    /// Largest bill file `POST /api/v1/cost/imports` accepts, in bytes (the CLI has no limit).
    pub max_upload_bytes: u64,
    /// Deadline for one import: the upload request and the import's SQL statements.
    #[serde(with = "humantime_serde")]
    pub import_timeout: Duration,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct MailConfig {
    /// SMTP server for invitations and password resets, e.g.
    /// `smtp://user:password@mail.example.com:587?tls=required` or `smtps://…:465`. Unset: the
    /// inviter is shown the link, and resets come from `nimbus admin reset-password`.
    pub smtp_url: Option<SmtpUrl>,
    /// The sender, e.g. `Nimbus <nimbus@example.com>`.
    pub from: Option<String>,
}

impl MailConfig {
    /// The sender address, checked.
    pub fn sender(&self) -> Result<lettre::message::Mailbox, ConfigError> {
        let from = self.from.as_deref().unwrap_or("Nimbus <nimbus@localhost>");
        from.parse()
            .map_err(|err| ConfigError(format!("mail.from ({from}) is not a mail address: {err}")))
    }
}

/// An SMTP URL. Its `Debug` and `Display` hide the password.
#[derive(Clone, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct SmtpUrl(String);

impl SmtpUrl {
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for SmtpUrl {
    type Error = String;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        if value.starts_with("smtp://") || value.starts_with("smtps://") {
            Ok(Self(value))
        } else {
            Err("expected a URL starting with smtp:// or smtps://".to_owned())
        }
    }
}

impl From<SmtpUrl> for String {
    fn from(url: SmtpUrl) -> Self {
        url.0
    }
}

impl fmt::Debug for SmtpUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("SmtpUrl")
            .field(&redact_password(&self.0))
            .finish()
    }
}

impl fmt::Display for SmtpUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&redact_password(&self.0))
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AuthConfig {
    /// A browser session ends after this long without a request.
    #[serde(with = "humantime_serde")]
    pub session_idle_timeout: Duration,
    /// A browser or token session ends this long after sign-in, active or not.
    #[serde(with = "humantime_serde")]
    pub session_lifetime: Duration,
    /// Lifetime of a JWT access token from `POST /api/v1/auth/token`.
    #[serde(with = "humantime_serde")]
    pub access_token_lifetime: Duration,
    /// How long a resolved credential is reused without asking the database: the longest a
    /// revoked session, token or disabled user keeps working on one server. Zero disables it.
    #[serde(with = "humantime_serde")]
    pub principal_cache_ttl: Duration,
    /// Lifetime of invitation, password-reset and setup links.
    #[serde(with = "humantime_serde")]
    pub link_lifetime: Duration,
    /// Attempts per minute on sign-in, token, reset and invitation endpoints, per client IP.
    pub attempts_per_minute_per_ip: u32,
    /// Attempts per minute on the same endpoints, per account (e-mail address).
    pub attempts_per_minute_per_account: u32,
    /// How long an identity provider's signing keys are kept before they are fetched again.
    #[serde(with = "humantime_serde")]
    pub sso_keys_lifetime: Duration,
    /// The least time between two fetches of a provider's keys caused by ID tokens that name a
    /// key the kept ones lack (a rotation — or a forgery, which must not make us hammer it).
    #[serde(with = "humantime_serde")]
    pub sso_key_refetch_interval: Duration,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct HttpConfig {
    /// Deadline for one request, from the first byte to the last byte of the response.
    #[serde(with = "humantime_serde")]
    pub request_timeout: Duration,
    /// Largest request body accepted, in bytes.
    pub body_limit_bytes: usize,
    /// After SIGTERM, how long `/readyz` reports not-ready before the listener closes, so load
    /// balancers stop sending new requests first.
    #[serde(with = "humantime_serde")]
    pub readiness_grace: Duration,
    /// After the listener closes, how long in-flight requests get to finish.
    #[serde(with = "humantime_serde")]
    pub drain_timeout: Duration,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseConfig {
    pub max_connections: u32,
    /// How long a request waits for a pooled connection before it fails with 503.
    #[serde(with = "humantime_serde")]
    pub acquire_timeout: Duration,
    /// Server-side limit on one SQL statement.
    #[serde(with = "humantime_serde")]
    pub statement_timeout: Duration,
    /// Server-side limit on a transaction left idle (a stuck handler never holds locks forever).
    #[serde(with = "humantime_serde")]
    pub idle_in_transaction_timeout: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    /// Human-readable lines, for a terminal.
    Text,
    /// One JSON object per line, for log shippers.
    Json,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir: PathBuf::from("nimbus-data"),
            database_url: None,
            web_dir: PathBuf::from("dist/web"),
            public_url: None,
            cors_allowed_origins: Vec::new(),
            log_format: LogFormat::Text,
            http: HttpConfig {
                request_timeout: Duration::from_secs(30),
                body_limit_bytes: 2 * 1024 * 1024,
                readiness_grace: Duration::ZERO,
                drain_timeout: Duration::from_secs(20),
            },
            database: DatabaseConfig {
                max_connections: default_pool_size(),
                acquire_timeout: Duration::from_secs(3),
                statement_timeout: Duration::from_secs(20),
                idle_in_transaction_timeout: Duration::from_secs(30),
            },
            mail: MailConfig::default(),
            cost: CostConfig {
                max_upload_bytes: 2 * 1024 * 1024 * 1024,
                import_timeout: Duration::from_secs(60 * 60),
            },
            outbound: OutboundConfig {
                allow_http: false,
                allow_private_networks: false,
                timeout: Duration::from_secs(10),
                extra_ca_file: None,
            },
            secrets: SecretsConfig::default(),
            clouds: CloudsConfig {
                workers: 4,
                max_running: 16,
                lease: Duration::from_secs(60),
                poll_interval: Duration::from_secs(5),
                call_timeout: Duration::from_secs(30),
                max_attempts: 4,
            },
            events: EventsConfig {
                queue: 1024,
                send_timeout: Duration::from_secs(10),
            },
            auth: AuthConfig {
                session_idle_timeout: Duration::from_secs(2 * 60 * 60),
                session_lifetime: Duration::from_secs(7 * 24 * 60 * 60),
                access_token_lifetime: Duration::from_secs(5 * 60),
                principal_cache_ttl: Duration::from_secs(5),
                link_lifetime: Duration::from_secs(72 * 60 * 60),
                attempts_per_minute_per_ip: 30,
                attempts_per_minute_per_account: 10,
                sso_keys_lifetime: Duration::from_secs(60 * 60),
                sso_key_refetch_interval: Duration::from_secs(60),
            },
        }
    }
}

/// Connections beyond twice the cores mostly queue inside PostgreSQL and add context switches
/// (the `cores × 2 + spindles` rule of thumb): 6 on 2 cores, at most 32.
fn default_pool_size() -> u32 {
    let cores = std::thread::available_parallelism().map_or(4, std::num::NonZeroUsize::get);
    u32::try_from(cores * 2 + 2).unwrap_or(32).min(32)
}

/// Values given on the command line; they override every other layer.
#[derive(Debug, Default, Serialize)]
pub struct Overrides {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listen: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_dir: Option<PathBuf>,
}

/// A configuration problem, phrased as one line for the operator.
#[derive(Debug, thiserror::Error)]
#[error("configuration error: {0}")]
pub struct ConfigError(String);

impl ConfigError {
    pub fn new(message: impl Into<String>) -> Self {
        Self(message.into())
    }
}

impl Config {
    /// Loads and validates the configuration from every layer.
    ///
    /// `config_file` is the explicit `--config` path; without it, `NIMBUS_CONFIG` or
    /// `./nimbus.toml` is read when present.
    pub fn load(config_file: Option<&Path>, overrides: &Overrides) -> Result<Self, ConfigError> {
        let explicit = config_file
            .map(Path::to_path_buf)
            .or_else(|| std::env::var_os("NIMBUS_CONFIG").map(PathBuf::from));
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        match &explicit {
            Some(path) if !path.is_file() => {
                return Err(ConfigError(format!(
                    "the configuration file {} does not exist",
                    path.display()
                )));
            }
            Some(path) => figment = figment.merge(Toml::file_exact(path)),
            None if Path::new(DEFAULT_CONFIG_FILE).is_file() => {
                figment = figment.merge(Toml::file_exact(DEFAULT_CONFIG_FILE));
            }
            None => {}
        }
        let figment = figment
            .merge(Env::prefixed("NIMBUS_").ignore(&["CONFIG"]).split("__"))
            .merge(Env::raw().only(&["DATABASE_URL"]))
            .merge(Serialized::defaults(overrides));
        let config: Config = figment
            .extract()
            .map_err(|err| ConfigError(describe(&err)))?;
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let fail = |message: String| Err(ConfigError(message));
        if self.database.max_connections == 0 {
            return fail("database.max_connections must be at least 1".into());
        }
        if self.database.acquire_timeout >= self.http.request_timeout {
            return fail(format!(
                "database.acquire_timeout ({}) must be shorter than http.request_timeout ({}), \
                 so a request waiting for a connection fails before its deadline",
                humantime::format_duration(self.database.acquire_timeout),
                humantime::format_duration(self.http.request_timeout)
            ));
        }
        for (name, value) in [
            ("http.request_timeout", self.http.request_timeout),
            ("database.acquire_timeout", self.database.acquire_timeout),
            (
                "database.statement_timeout",
                self.database.statement_timeout,
            ),
        ] {
            if value.is_zero() {
                return fail(format!("{name} must be greater than zero"));
            }
        }
        if self.auth.attempts_per_minute_per_ip == 0
            || self.auth.attempts_per_minute_per_account == 0
        {
            return fail(
                "auth.attempts_per_minute_per_ip and _per_account must be at least 1".into(),
            );
        }
        if self.auth.session_idle_timeout.is_zero() || self.auth.access_token_lifetime.is_zero() {
            return fail("auth.session_idle_timeout and auth.access_token_lifetime must be greater than zero".into());
        }
        crate::http::outbound::extra_authorities(&self.outbound)
            .map_err(|err| ConfigError(format!("outbound.extra_ca_file: {err}")))?;
        self.mail.sender()?;
        if let Some(url) = &self.mail.smtp_url {
            crate::mail::Mailer::transport(url)?;
        }
        if self.http.body_limit_bytes < 1024 {
            return fail("http.body_limit_bytes must be at least 1024".into());
        }
        let clouds = &self.clouds;
        if clouds.workers == 0 || clouds.max_running == 0 || clouds.max_attempts == 0 {
            return fail(
                "clouds.workers, clouds.max_running and clouds.max_attempts must be at least 1"
                    .into(),
            );
        }
        if clouds.lease < Duration::from_secs(5) || clouds.poll_interval.is_zero() {
            return fail(
                "clouds.lease must be at least 5s and clouds.poll_interval above zero".into(),
            );
        }
        if !(1..=65_536).contains(&self.events.queue) || self.events.send_timeout.is_zero() {
            return fail(
                "events.queue must be between 1 and 65536 and events.send_timeout above zero"
                    .into(),
            );
        }
        Ok(())
    }

    /// The URL users reach Nimbus at, without a trailing slash: `public_url`, or the listen
    /// address over plain HTTP. Links in invitations and the setup message start with it; it is
    /// also the `iss` of access tokens.
    #[must_use]
    pub fn base_url(&self) -> String {
        match &self.public_url {
            Some(url) => url.as_str().trim_end_matches('/').to_owned(),
            None => format!("http://{}", self.listen),
        }
    }

    /// Whether responses should carry HSTS: only when users reach Nimbus over TLS.
    #[must_use]
    pub fn serves_https(&self) -> bool {
        self.public_url.as_ref().is_some_and(PublicUrl::is_https)
    }
}

/// One line per figment error: the key, where the value came from, and what was wrong.
fn describe(error: &figment::Error) -> String {
    error
        .clone()
        .into_iter()
        .map(|err| {
            let key = err.path.join(".");
            let source = err
                .metadata
                .as_ref()
                .map(|meta| match &meta.source {
                    Some(source) => format!(" (from {} {source})", meta.name),
                    None => format!(" (from {})", meta.name),
                })
                .unwrap_or_default();
            if key.is_empty() {
                format!("{}{source}", err.kind)
            } else {
                format!("{key}: {}{source}", err.kind)
            }
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// A PostgreSQL connection URL. Its `Debug` and `Display` hide the password.
#[derive(Clone, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct DatabaseUrl(String);

impl DatabaseUrl {
    pub fn connect_options(&self) -> Result<PgConnectOptions, ConfigError> {
        PgConnectOptions::from_str(&self.0).map_err(|err| {
            ConfigError(format!(
                "DATABASE_URL ({self}) is not a valid PostgreSQL URL: {err}"
            ))
        })
    }

    /// The URL with any password replaced by `***`.
    #[must_use]
    pub fn redacted(&self) -> String {
        redact_password(&self.0)
    }
}

impl TryFrom<String> for DatabaseUrl {
    type Error = String;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        if value.starts_with("postgres://") || value.starts_with("postgresql://") {
            Ok(Self(value))
        } else {
            Err("expected a URL starting with postgres:// or postgresql://".to_owned())
        }
    }
}

impl From<DatabaseUrl> for String {
    fn from(url: DatabaseUrl) -> Self {
        url.0
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("DatabaseUrl")
            .field(&self.redacted())
            .finish()
    }
}

impl fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

/// A browser origin such as `https://portal.example.com` (scheme, host, optional port; no path).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Origin(String);

impl Origin {
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Origin {
    type Error = String;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        let uri: axum::http::Uri = value
            .parse()
            .map_err(|_| format!("{value:?} is not an origin"))?;
        let valid = matches!(uri.scheme_str(), Some("http" | "https"))
            && uri.host().is_some()
            && uri
                .path_and_query()
                .is_none_or(|p| p.as_str() == "/" || p.as_str().is_empty())
            && !value.ends_with('/');
        if valid {
            Ok(Self(value))
        } else {
            Err(format!(
                "{value:?} is not an origin like https://portal.example.com (no path)"
            ))
        }
    }
}

impl From<Origin> for String {
    fn from(origin: Origin) -> Self {
        origin.0
    }
}

/// The absolute `http(s)://` URL users reach Nimbus at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PublicUrl(String);

impl PublicUrl {
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    #[must_use]
    pub fn is_https(&self) -> bool {
        self.0.starts_with("https://")
    }
}

impl TryFrom<String> for PublicUrl {
    type Error = String;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        let uri: axum::http::Uri = value
            .parse()
            .map_err(|_| format!("{value:?} is not a URL"))?;
        if matches!(uri.scheme_str(), Some("http" | "https")) && uri.host().is_some() {
            Ok(Self(value.trim_end_matches('/').to_owned()))
        } else {
            Err(format!("{value:?} is not an absolute http(s) URL"))
        }
    }
}

impl From<PublicUrl> for String {
    fn from(url: PublicUrl) -> Self {
        url.0
    }
}

/// `url` with any password replaced by `***`.
fn redact_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return "***".to_owned();
    };
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split_once(':').map_or(userinfo, |(user, _)| user);
            let password = if userinfo.contains(':') { ":***" } else { "" };
            format!("{scheme}://{user}{password}@{host}{tail}")
        }
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_url_hides_the_password() {
        let url = DatabaseUrl::try_from(
            "postgres://app:s3cret@db:5432/nimbus?sslmode=require".to_owned(),
        )
        .unwrap();
        assert_eq!(
            url.redacted(),
            "postgres://app:***@db:5432/nimbus?sslmode=require"
        );
        assert!(!format!("{url:?}").contains("s3cret"));
        assert!(!url.to_string().contains("s3cret"));
        let config = Config {
            database_url: Some(url),
            ..Config::default()
        };
        assert!(!format!("{config:?}").contains("s3cret"));
    }

    #[test]
    fn database_url_without_password_is_shown_whole() {
        let url = DatabaseUrl::try_from("postgresql://app@db/nimbus".to_owned()).unwrap();
        assert_eq!(url.redacted(), "postgresql://app@db/nimbus");
    }

    #[test]
    fn origins_have_no_path() {
        assert!(Origin::try_from("https://portal.example.com".to_owned()).is_ok());
        assert!(Origin::try_from("http://localhost:3000".to_owned()).is_ok());
        assert!(Origin::try_from("https://portal.example.com/app".to_owned()).is_err());
        assert!(Origin::try_from("portal.example.com".to_owned()).is_err());
        assert!(Origin::try_from("ftp://portal.example.com".to_owned()).is_err());
    }

    #[test]
    fn defaults_are_valid() {
        Config::default().validate().unwrap();
    }

    #[test]
    fn an_extra_ca_file_must_hold_a_certificate() {
        let mut config = Config::default();
        config.outbound.extra_ca_file = Some(PathBuf::from("/nonexistent/ca.pem"));
        let err = config.validate().unwrap_err().to_string();
        assert!(err.contains("outbound.extra_ca_file: cannot read"), "{err}");
        let not_pem = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(not_pem.path(), "not a certificate").unwrap();
        config.outbound.extra_ca_file = Some(not_pem.path().to_owned());
        let err = config.validate().unwrap_err().to_string();
        assert!(err.contains("holds no PEM certificate"), "{err}");
    }

    #[test]
    fn acquire_timeout_must_be_shorter_than_the_request_deadline() {
        let mut config = Config::default();
        config.database.acquire_timeout = config.http.request_timeout;
        let err = config.validate().unwrap_err().to_string();
        assert!(err.contains("database.acquire_timeout"), "{err}");
    }
}
