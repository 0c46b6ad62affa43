//! Who a provider's identity is in Nimbus (SECURITY.md 16). Identity is (issuer, subject),
//! never the e-mail address. An unknown identity is provisioned just in time when its verified
//! address is in one of the provider's allowed domains (or the tenant invited it) and no
//! account has that address; an account that does have it is linked only once its password is
//! entered (`page.rs`). The provider's group mapping sets the roles it grants at every sign-in.

use std::collections::BTreeSet;

use nimbus_api_types::ErrorCode;
use nimbus_api_types::ids::{TenantId, UserId};
use nimbus_api_types::rbac::BuiltinRole;
use nimbus_api_types::sso::IdentityProvider;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::audit::{self, Outcome};
use crate::auth::extract::RequestMeta;
use crate::auth::session::{self, BrowserSession, ProviderSignIn};
use crate::error::AppError;
use crate::state::AppState;
use crate::users::{Email, repo as users_repo};

/// What a provider proved about the person signing in.
pub struct ProvenIdentity {
    pub issuer: String,
    pub subject: String,
    /// Only an address the provider says it verified.
    pub verified_email: Option<Email>,
    pub name: Option<String>,
    pub groups: Vec<String>,
    /// Where signing out ends the provider's session too (RP-initiated logout), if it can.
    pub provider_logout_url: Option<String>,
}

/// Where an identity leads.
pub enum Account {
    /// A Nimbus account: known by this identity, or provisioned for it just now.
    SignIn { user: UserId, provisioned: bool },
    /// The verified address belongs to this account, which the identity is not linked to.
    LinkRequired { user: UserId },
}

fn refused(message: impl Into<std::borrow::Cow<'static, str>>) -> AppError {
    AppError::new(ErrorCode::Forbidden, message)
}

/// The account `identity` signs in to, provisioning one when the provider admits its domain
/// or the tenant invited its address. Runs in the tenant's transaction.
pub async fn find_or_provision(
    conn: &mut PgConnection,
    tenant: TenantId,
    provider: &IdentityProvider,
    identity: &ProvenIdentity,
) -> Result<Account, AppError> {
    let known = sqlx::query_scalar!(
        "UPDATE user_identities SET last_sign_in_at = now()
         WHERE issuer = $1 AND subject = $2 RETURNING user_id",
        identity.issuer,
        identity.subject
    )
    .fetch_optional(&mut *conn)
    .await?;
    if let Some(user) = known {
        return Ok(Account::SignIn {
            user: UserId(user),
            provisioned: false,
        });
    }
    let email = identity.verified_email.as_ref().ok_or_else(|| {
        refused(format!(
            "{} did not give a verified e-mail address for you: verify your address there, or ask \
             your administrator to release the email and email_verified claims to Nimbus",
            provider.name
        ))
    })?;
    if let Some(existing) =
        sqlx::query_scalar!("SELECT id FROM users WHERE email = $1", email.as_str())
            .fetch_optional(&mut *conn)
            .await?
    {
        return Ok(Account::LinkRequired {
            user: UserId(existing),
        });
    }
    if !admits_domain_of(provider, email)
        && pending_invitation(conn, tenant, email).await?.is_none()
    {
        return Err(not_invited(provider));
    }
    let display_name = identity
        .name
        .as_deref()
        .map(str::trim)
        .filter(|name| !name.is_empty() && name.chars().count() <= 200)
        .unwrap_or(email.as_str());
    let user = users_repo::create(conn, email, display_name, None, false).await?;
    link(conn, identity, user).await?;
    Ok(Account::SignIn {
        user,
        provisioned: true,
    })
}

/// Whether the provider provisions people of `email`'s domain (exactly that domain).
fn admits_domain_of(provider: &IdentityProvider, email: &Email) -> bool {
    email.as_str().rsplit_once('@').is_some_and(|(_, domain)| {
        provider
            .allowed_domains
            .iter()
            .any(|allowed| allowed == domain)
    })
}

fn not_invited(provider: &IdentityProvider) -> AppError {
    refused(format!(
        "you are not a member of this tenant and {} sign-ins from your e-mail domain are not \
         admitted; ask one of its administrators for an invitation",
        provider.name
    ))
}

/// Records that `identity` is `user`.
pub async fn link(
    conn: &mut PgConnection,
    identity: &ProvenIdentity,
    user: UserId,
) -> Result<(), AppError> {
    sqlx::query!(
        "INSERT INTO user_identities (issuer, subject, user_id) VALUES ($1, $2, $3)",
        identity.issuer,
        identity.subject,
        user.0
    )
    .execute(conn)
    .await
    .map_err(|err| {
        AppError::constraint(
            err,
            Some("this identity is already linked to an account"),
            None,
        )
    })?;
    Ok(())
}

/// The tenant's open invitation of `email`, if any.
async fn pending_invitation(
    conn: &mut PgConnection,
    tenant: TenantId,
    email: &Email,
) -> Result<Option<Uuid>, AppError> {
    Ok(sqlx::query_scalar!(
        "SELECT id FROM invitations
         WHERE tenant_id = $1 AND email = $2 AND accepted_at IS NULL AND revoked_at IS NULL
           AND expires_at > now()
         ORDER BY created_at DESC LIMIT 1 FOR UPDATE",
        tenant.0,
        email.as_str()
    )
    .fetch_optional(conn)
    .await?)
}

/// Makes sure `user` may work in `tenant`: an enabled account, and an enabled member — made a
/// member now when the tenant invited its address (the invitation is accepted, with its role)
/// or its address is in one of the provider's allowed domains. Returns the invitation accepted.
pub async fn admit(
    conn: &mut PgConnection,
    tenant: TenantId,
    provider: &IdentityProvider,
    user: UserId,
) -> Result<Option<Uuid>, AppError> {
    let account = sqlx::query!(
        r#"SELECT u.email, u.disabled_at IS NOT NULL AS "account_disabled!",
                  m.user_id IS NOT NULL AS "member!", m.disabled_at IS NOT NULL AS "member_disabled!",
                  t.suspended_at IS NOT NULL AS "tenant_suspended!"
           FROM users u CROSS JOIN tenants t
           LEFT JOIN memberships m ON m.user_id = u.id AND m.tenant_id = t.id
           WHERE u.id = $1 AND t.id = $2"#,
        user.0,
        tenant.0
    )
    .fetch_one(&mut *conn)
    .await?;
    if account.account_disabled {
        return Err(refused("this account is disabled"));
    }
    if account.tenant_suspended {
        return Err(refused(
            "this tenant is suspended; ask your platform administrator",
        ));
    }
    if account.member_disabled {
        return Err(refused(
            "your membership of this tenant is disabled; ask one of its administrators",
        ));
    }
    if account.member {
        return Ok(None);
    }
    let email = Email::parse(&account.email)?;
    let invitation = pending_invitation(conn, tenant, &email).await?;
    if invitation.is_none() && !admits_domain_of(provider, &email) {
        return Err(not_invited(provider));
    }
    users_repo::add_member(conn, tenant, user).await?;
    if let Some(invitation) = invitation {
        // The invited role is granted by hand (by whoever invited): no sign-in replaces it.
        sqlx::query!(
            "INSERT INTO role_bindings (id, tenant_id, user_id, builtin_role, role_id, project_id)
             SELECT gen_random_uuid(), tenant_id, $3, builtin_role, role_id, project_id
             FROM invitations WHERE tenant_id = $1 AND id = $2
             ON CONFLICT DO NOTHING",
            tenant.0,
            invitation,
            user.0
        )
        .execute(&mut *conn)
        .await?;
        sqlx::query!(
            "UPDATE invitations SET accepted_at = now() WHERE tenant_id = $1 AND id = $2",
            tenant.0,
            invitation
        )
        .execute(&mut *conn)
        .await?;
    }
    Ok(invitation)
}

/// What a sign-in changed in the roles the provider grants.
#[derive(Debug, Default, serde::Serialize)]
pub struct RoleChanges {
    pub granted: Vec<BuiltinRole>,
    pub revoked: Vec<BuiltinRole>,
}

/// The tenant-wide roles the provider's mapping gives for `groups`: every mapped group's role,
/// or the default role when none is mapped.
fn mapped_roles(provider: &IdentityProvider, groups: &[String]) -> BTreeSet<BuiltinRole> {
    let mapped: BTreeSet<BuiltinRole> = provider
        .role_mappings
        .iter()
        .filter(|mapping| groups.contains(&mapping.group))
        .map(|mapping| mapping.role)
        .collect();
    if mapped.is_empty() {
        BTreeSet::from([provider.default_role])
    } else {
        mapped
    }
}

/// Replaces the roles this provider granted `user` with what its mapping gives for `groups`
/// (roles granted by hand, or by another provider, stay as they are).
pub async fn apply_role_mapping(
    conn: &mut PgConnection,
    tenant: TenantId,
    provider: &IdentityProvider,
    user: UserId,
    groups: &[String],
) -> Result<RoleChanges, AppError> {
    let wanted = mapped_roles(provider, groups);
    let mut by_provider = BTreeSet::new();
    let mut by_hand = BTreeSet::new();
    for held in sqlx::query!(
        r#"SELECT builtin_role AS "role!",
                  identity_provider_id IS NOT DISTINCT FROM $3 AS "by_provider!"
           FROM role_bindings
           WHERE tenant_id = $1 AND user_id = $2 AND builtin_role IS NOT NULL
             AND project_id IS NULL"#,
        tenant.0,
        user.0,
        provider.id.0
    )
    .fetch_all(&mut *conn)
    .await?
    {
        if let Some(role) = BuiltinRole::from_name(&held.role) {
            if held.by_provider {
                by_provider.insert(role);
            } else {
                by_hand.insert(role);
            }
        }
    }
    let changes = RoleChanges {
        granted: wanted
            .iter()
            .filter(|role| !by_provider.contains(role) && !by_hand.contains(role))
            .copied()
            .collect(),
        revoked: by_provider.difference(&wanted).copied().collect(),
    };
    let names = |roles: &[BuiltinRole]| -> Vec<String> {
        roles.iter().map(|role| role.as_str().to_owned()).collect()
    };
    sqlx::query!(
        "DELETE FROM role_bindings
         WHERE tenant_id = $1 AND user_id = $2 AND identity_provider_id = $3
           AND builtin_role = ANY($4) AND project_id IS NULL",
        tenant.0,
        user.0,
        provider.id.0,
        &names(&changes.revoked)
    )
    .execute(&mut *conn)
    .await?;
    sqlx::query!(
        "INSERT INTO role_bindings (id, tenant_id, user_id, builtin_role, identity_provider_id)
         SELECT gen_random_uuid(), $1, $2, role, $3 FROM unnest($4::text[]) AS role",
        tenant.0,
        user.0,
        provider.id.0,
        &names(&changes.granted)
    )
    .execute(&mut *conn)
    .await?;
    Ok(changes)
}

/// Signs `user` in to `tenant` through `provider`: admits it, applies the group mapping and
/// starts a browser session, with the one audit row (`action`) that says what changed.
#[allow(clippy::too_many_arguments)]
pub async fn open_session(
    conn: &mut PgConnection,
    state: &AppState,
    meta: &RequestMeta,
    action: &'static str,
    tenant: TenantId,
    provider: &IdentityProvider,
    user: UserId,
    identity: &ProvenIdentity,
    provisioned: bool,
) -> Result<BrowserSession, AppError> {
    let invitation = admit(conn, tenant, provider, user).await?;
    let roles = apply_role_mapping(conn, tenant, provider, user, &identity.groups).await?;
    let session = session::start_browser(
        conn,
        user,
        Some(tenant),
        meta,
        state.config.auth.session_lifetime,
        Some(&ProviderSignIn {
            provider: provider.id,
            logout_url: identity.provider_logout_url.clone(),
        }),
    )
    .await?;
    let mut entry = meta.entry(
        Some(tenant),
        format!("user:{user}"),
        action,
        format!("session:{}", session.id),
        Outcome::Success,
    );
    entry.details = serde_json::json!({
        "identity_provider": provider.id,
        "issuer": identity.issuer,
        "subject": identity.subject,
        "provisioned": provisioned,
        "invitation_accepted": invitation,
        "groups": identity.groups,
        "roles_granted": roles.granted,
        "roles_revoked": roles.revoked,
    });
    audit::record(conn, &entry).await?;
    Ok(session)
}
