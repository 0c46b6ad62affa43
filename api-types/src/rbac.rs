//! The permission catalog and the built-in roles.
//!
//! Permissions are data: a role is a set of them, bound to a user at tenant or project scope.
//! The wire name of each permission (`cost:read`) is stable.

use serde::{Deserialize, Serialize};

macro_rules! permissions {
    ($($variant:ident => $name:literal: $doc:literal,)+) => {
        /// One thing a principal may do.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
        pub enum Permission {
            $(#[doc = $doc] #[serde(rename = $name)] $variant,)+
        }

        impl Permission {
            /// Every permission, in catalog order.
            pub const ALL: &'static [Permission] = &[$(Permission::$variant,)+];

            /// The stable wire name, such as `cost:read`.
            #[must_use]
            pub const fn as_str(self) -> &'static str {
                match self { $(Permission::$variant => $name,)+ }
            }

            /// The permission with this wire name.
            #[must_use]
            pub fn from_name(name: &str) -> Option<Self> {
                match name { $($name => Some(Permission::$variant),)+ _ => None }
            }
        }
    };
}

permissions! {
    TenantsManage => "tenants:manage": "Create, rename and delete tenants (platform administrators).",
    TenantSettings => "tenant:settings": "Change the tenant's settings: name, currency, time zone.",
    ProjectsManage => "projects:manage": "Create, rename and delete projects.",
    UsersManage => "users:manage": "Invite, disable and remove users of the tenant.",
    RolesManage => "roles:manage": "Define custom roles and bind roles to users.",
    CloudsRead => "clouds:read": "See cloud accounts and their connection status.",
    CloudsWrite => "clouds:write": "Connect, change, test and sync cloud accounts.",
    InventoryRead => "inventory:read": "See clusters, nodes, namespaces, workloads and VMs.",
    AppsRead => "apps:read": "See apps and their health.",
    AppsWrite => "apps:write": "Define app grouping rules.",
    CostRead => "cost:read": "Explore costs, bills, forecasts and anomalies.",
    CostWrite => "cost:write": "Import bills, manage allocation rules and currency rates.",
    BudgetsWrite => "budgets:write": "Create and change budgets and their alerts.",
    AuditRead => "audit:read": "Search and export the audit log.",
    TokensManage => "tokens:manage": "Create and revoke API tokens.",
    IdentityProvidersManage => "identity-providers:manage": "Configure single sign-on providers.",
}

impl std::fmt::Display for Permission {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The roles every tenant has. Tenants may define custom roles besides these.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum BuiltinRole {
    /// Everything in the tenant.
    Owner,
    /// Everything but the tenant's settings and its single sign-on configuration.
    Admin,
    /// Runs the clouds, clusters and apps; reads costs.
    Operator,
    /// Owns the money: costs, budgets, the audit log; reads the inventory.
    Finance,
    /// Reads everything a tenant shows, changes nothing.
    Viewer,
}

impl BuiltinRole {
    pub const ALL: [BuiltinRole; 5] = [
        Self::Owner,
        Self::Admin,
        Self::Operator,
        Self::Finance,
        Self::Viewer,
    ];

    /// The stable wire name, such as `admin`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Owner => "owner",
            Self::Admin => "admin",
            Self::Operator => "operator",
            Self::Finance => "finance",
            Self::Viewer => "viewer",
        }
    }

    /// The role with this wire name.
    #[must_use]
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|role| role.as_str() == name)
    }

    /// The permissions the role grants. `tenants:manage` belongs to platform administrators,
    /// never to a tenant role.
    #[must_use]
    pub fn permissions(self) -> &'static [Permission] {
        use Permission::*;
        match self {
            Self::Owner => &[
                TenantSettings,
                ProjectsManage,
                UsersManage,
                RolesManage,
                CloudsRead,
                CloudsWrite,
                InventoryRead,
                AppsRead,
                AppsWrite,
                CostRead,
                CostWrite,
                BudgetsWrite,
                AuditRead,
                TokensManage,
                IdentityProvidersManage,
            ],
            Self::Admin => &[
                ProjectsManage,
                UsersManage,
                RolesManage,
                CloudsRead,
                CloudsWrite,
                InventoryRead,
                AppsRead,
                AppsWrite,
                CostRead,
                CostWrite,
                BudgetsWrite,
                AuditRead,
                TokensManage,
            ],
            Self::Operator => &[
                CloudsRead,
                CloudsWrite,
                InventoryRead,
                AppsRead,
                AppsWrite,
                CostRead,
                TokensManage,
            ],
            Self::Finance => &[
                CloudsRead,
                InventoryRead,
                AppsRead,
                CostRead,
                CostWrite,
                BudgetsWrite,
                AuditRead,
                TokensManage,
            ],
            Self::Viewer => &[CloudsRead, InventoryRead, AppsRead, CostRead],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_names_are_unique_and_match_serde() {
        let mut seen = std::collections::HashSet::new();
        for permission in Permission::ALL {
            assert!(seen.insert(permission.as_str()), "{permission} twice");
            let json = serde_json::to_value(permission).unwrap();
            assert_eq!(json, permission.as_str());
            let back: Permission = serde_json::from_value(json).unwrap();
            assert_eq!(back, *permission);
            assert_eq!(
                Permission::from_name(permission.as_str()),
                Some(*permission)
            );
        }
    }

    #[test]
    fn builtin_role_names_match_serde() {
        for role in BuiltinRole::ALL {
            assert_eq!(serde_json::to_value(role).unwrap(), role.as_str());
            assert_eq!(BuiltinRole::from_name(role.as_str()), Some(role));
        }
    }

    #[test]
    fn no_tenant_role_manages_tenants() {
        for role in BuiltinRole::ALL {
            assert!(
                !role.permissions().contains(&Permission::TenantsManage),
                "{role:?}"
            );
        }
    }

    #[test]
    fn each_builtin_role_is_contained_in_the_one_above_it() {
        let contains = |wider: BuiltinRole, narrower: BuiltinRole| {
            narrower
                .permissions()
                .iter()
                .all(|p| wider.permissions().contains(p))
        };
        assert!(contains(BuiltinRole::Owner, BuiltinRole::Admin));
        assert!(contains(BuiltinRole::Admin, BuiltinRole::Operator));
        assert!(contains(BuiltinRole::Admin, BuiltinRole::Finance));
        assert!(contains(BuiltinRole::Operator, BuiltinRole::Viewer));
        assert!(contains(BuiltinRole::Finance, BuiltinRole::Viewer));
        assert!(!contains(BuiltinRole::Operator, BuiltinRole::Finance));
    }
}
