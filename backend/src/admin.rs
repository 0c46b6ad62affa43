//! `nimbus admin …`: the operator's commands for people and tokens (DESIGN.md §5). They work with
//! or without a running server, write the audit log like the API (actor `cli`), and print only
//! what a script needs on stdout.

use std::io::Read;
use std::time::Duration;

use nimbus_api_types::identity::{NewApiToken, NewTenant};
use nimbus_api_types::ids::TenantId;
use nimbus_api_types::rbac::BuiltinRole;
use sqlx::{PgConnection, PgPool};

use crate::audit::{self, Entry, Outcome};
use crate::auth::password::{self, Password};
use crate::cli::Failure;
use crate::error::AppError;
use crate::secrets::{Binding, MasterKeys, Rewrapped, Sealed};
use crate::users::{self, Email, repo as users_repo};
use crate::{auth, db, rbac};

const ACTOR: &str = "cli";

pub(crate) fn entry(tenant: Option<TenantId>, action: &'static str, target: String) -> Entry {
    Entry {
        tenant,
        actor: ACTOR.to_owned(),
        action,
        target,
        outcome: Outcome::Success,
        source_ip: None,
        request_id: None,
        details: serde_json::json!({}),
    }
}

fn runtime(err: impl std::fmt::Display) -> Failure {
    Failure::Runtime(err.to_string())
}

fn usage(message: impl Into<String>) -> Failure {
    Failure::Configuration(message.into())
}

/// An API error as a one-line failure: bad input is usage (exit 2), the rest runtime (exit 1).
fn from_app(err: AppError) -> Failure {
    let line = err.to_string();
    if err.is_client_error() {
        usage(line)
    } else {
        runtime(line)
    }
}

pub(crate) async fn tenant_by_slug(pool: &PgPool, slug: &str) -> Result<TenantId, Failure> {
    sqlx::query_scalar!("SELECT id FROM tenants WHERE slug = $1", slug)
        .fetch_optional(pool)
        .await
        .map_err(runtime)?
        .map(TenantId)
        .ok_or_else(|| usage(format!("no tenant has the slug `{slug}`")))
}

pub async fn create_tenant(pool: &PgPool, slug: String, name: String) -> Result<(), Failure> {
    let mut tx = pool.begin().await.map_err(runtime)?;
    let body = NewTenant {
        slug,
        name,
        reporting_currency: None,
        time_zone: None,
    };
    let mut entry = entry(None, "tenant.create", String::new());
    let tenant = crate::tenants::create_tenant_in(&mut tx, &body, None, &mut entry)
        .await
        .map_err(from_app)?;
    tx.commit().await.map_err(runtime)?;
    println!("{}", tenant.id);
    Ok(())
}

/// Reads one password line from stdin (a pipe or a terminal), without its line ending.
fn password_from_stdin() -> Result<String, Failure> {
    let mut input = String::new();
    std::io::stdin()
        .take(1024)
        .read_to_string(&mut input)
        .map_err(|err| usage(format!("cannot read the password from stdin: {err}")))?;
    Ok(input.lines().next().unwrap_or_default().to_owned())
}

pub struct NewUser {
    pub email: String,
    pub name: Option<String>,
    pub platform_admin: bool,
    pub tenant: Option<String>,
    pub role: BuiltinRole,
}

/// Creates an account with a password read from stdin, optionally as platform administrator and
/// member of a tenant. An existing account given `--tenant` just joins it (no password read).
pub async fn create_user(pool: &PgPool, request: NewUser) -> Result<(), Failure> {
    let email = Email::parse(&request.email).map_err(from_app)?;
    let tenant = match &request.tenant {
        Some(slug) => Some(tenant_by_slug(pool, slug).await?),
        None => None,
    };
    let existing = users_repo::find_for_login(pool, &email)
        .await
        .map_err(runtime)?;
    let mut tx = pool.begin().await.map_err(runtime)?;
    let user = match existing {
        Some(account) if tenant.is_some() => account.id,
        Some(_) => {
            return Err(usage(format!(
                "an account for {} exists; add --tenant to add it to a tenant",
                email.as_str()
            )));
        }
        None => {
            let password = Password::new_for_account(password_from_stdin()?, email.as_str())
                .map_err(|err| usage(err.to_string()))?;
            let name = users::display_name(request.name.as_deref().unwrap_or(email.as_str()))
                .map_err(from_app)?;
            let hash = password::hash(password).await.map_err(runtime)?;
            let user =
                users_repo::create(&mut tx, &email, name, Some(&hash.0), request.platform_admin)
                    .await
                    .map_err(runtime)?;
            audit::record(&mut tx, &entry(None, "user.create", format!("user:{user}")))
                .await
                .map_err(runtime)?;
            user
        }
    };
    if let Some(tenant) = tenant {
        db::set_tenant(&mut tx, tenant).await.map_err(runtime)?;
        users_repo::add_member(&mut tx, tenant, user)
            .await
            .map_err(runtime)?;
        sqlx::query!(
            "INSERT INTO role_bindings (id, tenant_id, user_id, builtin_role) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
            uuid::Uuid::new_v4(),
            tenant.0,
            user.0,
            request.role.as_str()
        )
        .execute(&mut *tx)
        .await
        .map_err(runtime)?;
        let mut joined = entry(Some(tenant), "role_binding.create", format!("user:{user}"));
        joined.details = serde_json::json!({ "role": request.role });
        audit::record(&mut tx, &joined).await.map_err(runtime)?;
    }
    tx.commit().await.map_err(runtime)?;
    println!("{user}");
    Ok(())
}

/// Prints a new API token for a member, holding everything the member holds in the tenant.
pub async fn create_token(
    pool: &PgPool,
    email: String,
    tenant: String,
    name: Option<String>,
    expires_in: Option<Duration>,
) -> Result<(), Failure> {
    let email = Email::parse(&email).map_err(from_app)?;
    let tenant = tenant_by_slug(pool, &tenant).await?;
    let user = users_repo::find_for_login(pool, &email)
        .await
        .map_err(runtime)?
        .ok_or_else(|| usage(format!("no account for {}", email.as_str())))?
        .id;
    let expires_in_days = expires_in
        .map(|duration| u32::try_from(duration.as_secs().div_ceil(86_400)).unwrap_or(u32::MAX))
        .filter(|days| *days > 0);
    let mut tx = db::begin_for_tenant(pool, tenant).await.map_err(runtime)?;
    let authority = rbac::repo::authority_of(&mut tx, tenant, user)
        .await
        .map_err(runtime)?
        .ok_or_else(|| {
            usage(format!(
                "{} is not an enabled member of that tenant",
                email.as_str()
            ))
        })?;
    let request = NewApiToken {
        name: name.unwrap_or_else(|| "cli".to_owned()),
        permissions: None,
        project_id: None,
        expires_in_days,
    };
    let mut entry = entry(Some(tenant), "api_token.create", String::new());
    let created = auth::api_tokens::create(&mut tx, tenant, user, &authority, &request, &mut entry)
        .await
        .map_err(from_app)?;
    tx.commit().await.map_err(runtime)?;
    println!("{}", created.secret);
    Ok(())
}

/// Prints a single-use password-reset link for an account.
pub async fn reset_password(
    pool: &PgPool,
    base_url: &str,
    email: String,
    lifetime: Duration,
) -> Result<(), Failure> {
    let email = Email::parse(&email).map_err(from_app)?;
    let user = users_repo::find_for_login(pool, &email)
        .await
        .map_err(runtime)?
        .ok_or_else(|| usage(format!("no account for {}", email.as_str())))?
        .id;
    let mut tx = pool.begin().await.map_err(runtime)?;
    let secret = users::links::create_reset(&mut tx, user, lifetime)
        .await
        .map_err(runtime)?;
    audit::record(
        &mut tx,
        &entry(None, "user.password_reset_link", format!("user:{user}")),
    )
    .await
    .map_err(runtime)?;
    tx.commit().await.map_err(runtime)?;
    println!("{base_url}/reset-password#{}", secret.plaintext);
    Ok(())
}

/// Adds a new access-token signing key; servers sign with it from their next key reload.
pub async fn rotate_signing_key(pool: &PgPool) -> Result<(), Failure> {
    let kid = auth::jwt::rotate(pool).await.map_err(runtime)?;
    let mut tx = pool.begin().await.map_err(runtime)?;
    audit::record(
        &mut tx,
        &entry(None, "signing_key.rotate", format!("signing_key:{kid}")),
    )
    .await
    .map_err(runtime)?;
    tx.commit().await.map_err(runtime)?;
    println!("{kid}");
    Ok(())
}

/// One kind of stored secret that `nimbus admin rewrap-secrets` re-wraps: where its sealed
/// columns are and how its rows are named in the audit trail.
pub trait SealedSecrets {
    type Id: Copy + std::fmt::Display + Send;
    /// The audit action of one re-wrap, such as `cloud_account.rewrap`.
    const ACTION: &'static str;
    /// The audit target's kind, such as `cloud_account`.
    const TARGET: &'static str;

    fn binding(tenant: TenantId, id: Self::Id) -> Binding<'static>;

    /// The tenant's secrets sealed under another master key than `current`, locked.
    fn stale(
        conn: &mut PgConnection,
        tenant: TenantId,
        current: i32,
    ) -> impl Future<Output = Result<Vec<(Self::Id, Sealed)>, sqlx::Error>> + Send;

    /// Stores `fresh`'s key version and wrapped key for `id` (the ciphertext does not change).
    fn store(
        conn: &mut PgConnection,
        tenant: TenantId,
        id: Self::Id,
        fresh: &Sealed,
    ) -> impl Future<Output = Result<(), sqlx::Error>> + Send;
}

/// Re-wraps the data key of every `S` sealed under an older master key with the newest one,
/// tenant by tenant, each change audited; secrets whose data key does not open are listed.
pub async fn rewrap_all<S: SealedSecrets>(
    pool: &PgPool,
    keys: &MasterKeys,
) -> Result<Rewrapped<S::Id>, AppError> {
    let tenants = sqlx::query_scalar!("SELECT id FROM tenants")
        .fetch_all(pool)
        .await?;
    let current = keys.current_version();
    let mut outcome = Rewrapped::default();
    for tenant in tenants.into_iter().map(TenantId) {
        let mut tx = db::begin_for_tenant(pool, tenant).await?;
        for (id, sealed) in S::stale(&mut tx, tenant, current).await? {
            let Ok(fresh) = keys.rewrap(&sealed, S::binding(tenant, id)) else {
                outcome.unreadable.push(id);
                continue;
            };
            S::store(&mut tx, tenant, id, &fresh).await?;
            let mut audited = entry(Some(tenant), S::ACTION, format!("{}:{id}", S::TARGET));
            audited.details =
                serde_json::json!({ "from_version": sealed.key_version, "to_version": current });
            audit::record(&mut tx, &audited).await?;
            outcome.rewrapped += 1;
        }
        tx.commit().await?;
    }
    Ok(outcome)
}
