//! The `nimbus` command line and the composition root: configuration is loaded once, the
//! database opened once, and one [`AppState`] built and handed to the router.
//!
//! Exit codes (the operator contract): 0 success, 1 runtime failure, 2 bad usage or
//! configuration — always with one line on stderr.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use nimbus_api_types::rbac::BuiltinRole;

use crate::admin;
use crate::config::{Config, ConfigError, Overrides};
use crate::db::{self, ClusterOwnership, Database, DbError};
use crate::state::AppState;

#[derive(Debug, Parser)]
#[command(
    name = "nimbus",
    version,
    about = "Nimbus: clusters, apps and bills from every cloud"
)]
pub struct Cli {
    /// Configuration file [default: ./nimbus.toml when it exists; env: NIMBUS_CONFIG]
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Where Nimbus keeps its state [default: ./nimbus-data; env: NIMBUS_DATA_DIR]
    #[arg(long, global = true, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the web server (API and dashboard).
    Serve {
        /// Address to listen on [default: 127.0.0.1:8080; env: NIMBUS_LISTEN]
        #[arg(long, value_name = "ADDR")]
        listen: Option<String>,
    },
    /// Apply pending database migrations and exit.
    Migrate,
    /// Manage tenants, accounts and tokens without the API.
    #[command(subcommand)]
    Admin(AdminCommand),
    /// Import bill files (FOCUS CSV or Parquet, or AWS, Azure, Google Cloud, Alibaba Cloud and
    /// Oracle native exports; optionally gzip-compressed) into a tenant's cost ledger.
    ImportBill {
        /// The tenant's slug.
        #[arg(long, value_name = "SLUG")]
        tenant: String,
        /// One or more files, imported in turn.
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
    },
    /// Sync one cloud account now (clusters, VMs, bill exports), with progress; follows the
    /// sync instead when a server already runs it.
    Sync {
        /// The tenant's slug.
        #[arg(long, value_name = "SLUG")]
        tenant: String,
        /// The account's id (from `GET /api/v1/cloud-accounts`).
        #[arg(value_name = "ACCOUNT_ID")]
        account: nimbus_api_types::ids::CloudAccountId,
    },
    /// Replay the spend forecast over a tenant's cost history and print its error (MAPE), one
    /// line per billing currency.
    ForecastBacktest {
        /// The tenant's slug.
        #[arg(long, value_name = "SLUG")]
        tenant: String,
        /// Only this project's allocated costs [default: the whole tenant].
        #[arg(long, value_name = "PROJECT_ID")]
        project: Option<nimbus_api_types::ids::ProjectId>,
    },
}

#[derive(Debug, Subcommand)]
enum AdminCommand {
    /// Create a tenant; prints its id.
    CreateTenant {
        #[arg(long)]
        slug: String,
        #[arg(long)]
        name: String,
    },
    /// Create an account with the password given on stdin; prints its id. With --tenant, the
    /// account (new or existing) joins that tenant with --role.
    CreateUser {
        #[arg(long)]
        email: String,
        /// Read the password from stdin (the only way to give one).
        #[arg(long, required = true)]
        password_stdin: bool,
        /// The name shown in the dashboard [default: the e-mail address]
        #[arg(long)]
        name: Option<String>,
        /// Make the account a platform administrator (creates and manages tenants).
        #[arg(long)]
        platform_admin: bool,
        /// A tenant's slug to join.
        #[arg(long, value_name = "SLUG")]
        tenant: Option<String>,
        /// The role in that tenant: owner, admin, operator, finance or viewer.
        #[arg(long, default_value = "owner", requires = "tenant", value_parser = parse_role)]
        role: BuiltinRole,
    },
    /// Print a new API token (only the token) for a member of a tenant.
    CreateToken {
        #[arg(long)]
        email: String,
        #[arg(long, value_name = "SLUG")]
        tenant: String,
        #[arg(long)]
        name: Option<String>,
        /// e.g. 30d or 12h [default: never]
        #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
        expires_in: Option<std::time::Duration>,
    },
    /// Print a single-use password-reset link for an account.
    ResetPassword {
        #[arg(long)]
        email: String,
    },
    /// Add a new signing key for access tokens (the previous one keeps verifying).
    RotateSigningKey,
    /// Re-wrap every stored cloud credential under the newest master key; prints how many.
    /// Afterwards the older master keys can be removed.
    RewrapSecrets,
}

fn parse_role(value: &str) -> Result<BuiltinRole, String> {
    BuiltinRole::from_name(value)
        .ok_or_else(|| "expected owner, admin, operator, finance or viewer".to_owned())
}

/// A failure worth one line to the operator, and the exit code it maps to.
#[derive(Debug)]
pub enum Failure {
    /// Bad usage or configuration: exit code 2.
    Configuration(String),
    /// Something went wrong at run time: exit code 1.
    Runtime(String),
}

impl Failure {
    fn exit_code(&self) -> ExitCode {
        match self {
            Self::Configuration(_) => ExitCode::from(2),
            Self::Runtime(_) => ExitCode::from(1),
        }
    }

    fn message(&self) -> &str {
        match self {
            Self::Configuration(message) | Self::Runtime(message) => message,
        }
    }
}

impl From<ConfigError> for Failure {
    fn from(err: ConfigError) -> Self {
        Self::Configuration(err.to_string())
    }
}

impl From<DbError> for Failure {
    fn from(err: DbError) -> Self {
        if err.is_configuration() {
            Self::Configuration(err.to_string())
        } else {
            Self::Runtime(err.to_string())
        }
    }
}

/// Entry point of the `nimbus` binary.
pub fn main() -> ExitCode {
    // clap prints its own usage errors and exits with code 2.
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            return report(&Failure::Runtime(format!(
                "cannot start the async runtime: {err}"
            )));
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => report(&failure),
    }
}

fn report(failure: &Failure) -> ExitCode {
    // One line: flatten any newline an underlying error carried.
    eprintln!("nimbus: {}", failure.message().replace('\n', " "));
    failure.exit_code()
}

/// Runs one parsed command to completion.
pub async fn run(cli: Cli) -> Result<(), Failure> {
    let listen = match &cli.command {
        Command::Serve { listen } => listen.clone(),
        Command::Migrate
        | Command::Admin(_)
        | Command::ImportBill { .. }
        | Command::Sync { .. }
        | Command::ForecastBacktest { .. } => None,
    };
    let overrides = Overrides {
        listen,
        data_dir: cli.data_dir.clone(),
    };
    let config = Config::load(cli.config.as_deref(), &overrides)?;
    let process = match cli.command {
        Command::Serve { .. } => crate::telemetry::Process::Server,
        Command::Migrate
        | Command::Admin(_)
        | Command::ImportBill { .. }
        | Command::Sync { .. }
        | Command::ForecastBacktest { .. } => crate::telemetry::Process::Command,
    };
    crate::telemetry::init(config.log_format, process);
    match cli.command {
        Command::Serve { .. } => serve(config, crate::server::shutdown_signal()).await,
        Command::Migrate => migrate(&config).await,
        Command::Admin(command) => {
            with_database(&config, async |pool| {
                admin_command(&config, pool, command).await
            })
            .await
        }
        Command::ImportBill { tenant, files } => {
            with_database(&config, async |pool| {
                crate::cost::command::import_bill(&config, pool, &tenant, files).await
            })
            .await
        }
        Command::Sync { tenant, account } => {
            with_database(&config, async |pool| {
                let state = AppState::new(config.clone(), pool.clone())
                    .map_err(|err| Failure::Configuration(err.to_string()))?;
                crate::clouds::command::sync_account(&state, &tenant, account).await
            })
            .await
        }
        Command::ForecastBacktest { tenant, project } => {
            with_database(&config, async |pool| {
                crate::cost::command::forecast_backtest(pool, &tenant, project).await
            })
            .await
        }
    }
}

/// A command beside the server: opens the database (starting the embedded one for the command
/// if no server runs), brings the schema up to date, runs `command`.
async fn with_database(
    config: &Config,
    command: impl AsyncFnOnce(&sqlx::PgPool) -> Result<(), Failure>,
) -> Result<(), Failure> {
    let database = Database::open(config, ClusterOwnership::Borrow).await?;
    let result = match database.migrate().await {
        Ok(()) => command(&database.pool).await,
        Err(err) => Err(err.into()),
    };
    database.close().await;
    result
}

async fn admin_command(
    config: &Config,
    pool: &sqlx::PgPool,
    command: AdminCommand,
) -> Result<(), Failure> {
    match command {
        AdminCommand::CreateTenant { slug, name } => admin::create_tenant(pool, slug, name).await,
        AdminCommand::CreateUser {
            email,
            password_stdin: _,
            name,
            platform_admin,
            tenant,
            role,
        } => {
            admin::create_user(
                pool,
                admin::NewUser {
                    email,
                    name,
                    platform_admin,
                    tenant,
                    role,
                },
            )
            .await
        }
        AdminCommand::CreateToken {
            email,
            tenant,
            name,
            expires_in,
        } => admin::create_token(pool, email, tenant, name, expires_in).await,
        AdminCommand::ResetPassword { email } => {
            admin::reset_password(pool, &config.base_url(), email, config.auth.link_lifetime).await
        }
        AdminCommand::RotateSigningKey => admin::rotate_signing_key(pool).await,
        AdminCommand::RewrapSecrets => {
            let keys =
                crate::secrets::MasterKeys::load(&config.secrets.master_keys, &config.data_dir)
                    .map_err(|err| Failure::Configuration(err.to_string()))?;
            let runtime = |err: crate::error::AppError| Failure::Runtime(err.to_string());
            let accounts = admin::rewrap_all::<crate::clouds::accounts::Credentials>(pool, &keys)
                .await
                .map_err(runtime)?;
            let providers = admin::rewrap_all::<crate::sso::providers::ClientSecrets>(pool, &keys)
                .await
                .map_err(runtime)?;
            println!(
                "{} cloud credentials and {} identity-provider client secrets now use master key \
                 version {}",
                accounts.rewrapped,
                providers.rewrapped,
                keys.current_version()
            );
            let unreadable: Vec<String> = accounts
                .unreadable
                .iter()
                .map(|id| format!("cloud account {id}"))
                .chain(
                    providers
                        .unreadable
                        .iter()
                        .map(|id| format!("identity provider {id}")),
                )
                .collect();
            if unreadable.is_empty() {
                return Ok(());
            }
            Err(Failure::Runtime(format!(
                "these secrets do not open and were left as they are (enter them again): {}",
                unreadable.join(", ")
            )))
        }
    }
}

/// `nimbus serve`: bind, open and migrate the database, serve until `shutdown`, then stop the
/// embedded database if this process owns it.
pub async fn serve(
    config: Config,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), Failure> {
    // Bind first: a taken port should fail before a database is started.
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|err| Failure::Runtime(format!("cannot listen on {}: {err}", config.listen)))?;
    let database = Database::open(&config, ClusterOwnership::Own).await?;
    let result = serve_with(listener, config, &database, shutdown).await;
    database.close().await;
    result
}

async fn serve_with(
    listener: tokio::net::TcpListener,
    config: Config,
    database: &Database,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), Failure> {
    database.migrate().await?;
    let http = config.http.clone();
    let state = AppState::new(config, database.pool.clone())
        .map_err(|err| Failure::Configuration(err.to_string()))?;
    let state_for_setup = state.clone();
    let lifecycle = state.lifecycle.clone();
    let app = crate::router(state)
        .map_err(|err| Failure::Runtime(format!("cannot build the API document: {err}")))?;
    let address = listener
        .local_addr()
        .map_err(|err| Failure::Runtime(format!("cannot read the listening address: {err}")))?;
    tracing::info!(database = %database.description, "database ready");
    eprintln!(
        "Nimbus is ready at http://{address} (database: {})",
        database.description
    );
    announce_setup_link(&state_for_setup, &address).await?;
    let background = crate::server::Background::start(&state_for_setup);
    let served = crate::server::serve(listener, app, lifecycle, &http, shutdown).await;
    drop(background);
    served.map_err(|err| Failure::Runtime(format!("the HTTP server failed: {err}")))?;
    tracing::info!("server stopped");
    Ok(())
}

/// While no platform administrator exists, every start prints a fresh single-use setup link
/// (earlier ones stop working): there is no default password anywhere.
async fn announce_setup_link(
    state: &AppState,
    address: &std::net::SocketAddr,
) -> Result<(), Failure> {
    let lifetime = state.config.auth.link_lifetime;
    let link = crate::users::links::create_setup_if_needed(&state.db, lifetime)
        .await
        .map_err(|err| Failure::Runtime(format!("cannot create the setup link: {err}")))?;
    if let Some(secret) = link {
        let base = match &state.config.public_url {
            Some(_) => state.config.base_url(),
            None => format!("http://{address}"),
        };
        eprintln!(
            "No platform administrator exists yet. Create the first one within {} at:\n  {base}/setup#{}\n\
             (or: nimbus admin create-user --email EMAIL --password-stdin --platform-admin)",
            humantime::format_duration(lifetime),
            secret.plaintext
        );
    }
    Ok(())
}

/// `nimbus migrate`: works with or without a running server.
async fn migrate(config: &Config) -> Result<(), Failure> {
    let database = Database::open(config, ClusterOwnership::Borrow).await?;
    let result = database.migrate().await;
    database.close().await;
    result?;
    println!(
        "database schema is up to date (version {})",
        db::latest_known_migration()
    );
    Ok(())
}
