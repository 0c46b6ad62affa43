//! The access policy as pure functions: no I/O, no clock, exhaustively testable.
//!
//! A principal's [`Authority`] is what its role bindings add up to: permissions held across the
//! whole tenant, and permissions held in single projects. A tenant-wide permission covers every
//! project. Granting follows one rule: nobody grants what they do not hold, where they do not
//! hold it, and only holders of `roles:manage` there grant at all.

use std::collections::BTreeMap;

use nimbus_api_types::ids::ProjectId;
use nimbus_api_types::rbac::{BuiltinRole, Permission};

/// A set of permissions, as a bit set over [`Permission::ALL`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct PermissionSet(u32);

const _: () = assert!(
    Permission::ALL.len() <= 32,
    "PermissionSet holds at most 32 permissions"
);

impl PermissionSet {
    pub const EMPTY: Self = Self(0);

    /// Variants are declared in catalog order, so the discriminant is the bit index.
    const fn bit(permission: Permission) -> u32 {
        1 << (permission as u32)
    }

    #[must_use]
    pub fn of(permissions: &[Permission]) -> Self {
        Self(permissions.iter().fold(0, |bits, p| bits | Self::bit(*p)))
    }

    #[must_use]
    pub fn role(role: BuiltinRole) -> Self {
        Self::of(role.permissions())
    }

    #[must_use]
    pub fn contains(self, permission: Permission) -> bool {
        self.0 & Self::bit(permission) != 0
    }

    #[must_use]
    pub fn is_subset_of(self, other: Self) -> bool {
        self.0 & !other.0 == 0
    }

    #[must_use]
    pub fn union(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }

    pub fn iter(self) -> impl Iterator<Item = Permission> {
        Permission::ALL
            .iter()
            .copied()
            .filter(move |p| self.contains(*p))
    }
}

/// Where a role binding applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope {
    Tenant,
    Project(ProjectId),
}

/// A role binding someone asks to create: these permissions, at this scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Grant {
    pub scope: Scope,
    pub permissions: PermissionSet,
}

/// What a principal holds in one tenant.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Authority {
    tenant_wide: PermissionSet,
    per_project: BTreeMap<ProjectId, PermissionSet>,
}

impl Authority {
    /// Adds a role binding's permissions at its scope.
    pub fn bind(&mut self, scope: Scope, permissions: PermissionSet) {
        match scope {
            Scope::Tenant => self.tenant_wide = self.tenant_wide.union(permissions),
            Scope::Project(project) => {
                let held = self.per_project.entry(project).or_default();
                *held = held.union(permissions);
            }
        }
    }

    /// The permissions held at a scope (tenant-wide ones count in every project).
    #[must_use]
    pub fn at(&self, scope: Scope) -> PermissionSet {
        match scope {
            Scope::Tenant => self.tenant_wide,
            Scope::Project(project) => self
                .tenant_wide
                .union(self.per_project.get(&project).copied().unwrap_or_default()),
        }
    }

    #[must_use]
    pub fn allows(&self, permission: Permission, scope: Scope) -> bool {
        self.at(scope).contains(permission)
    }

    /// Whether this principal may create `grant`: it holds `roles:manage` at the grant's scope
    /// and every permission it would hand out, at that scope.
    #[must_use]
    pub fn may_grant(&self, grant: &Grant) -> bool {
        let held = self.at(grant.scope);
        held.contains(Permission::RolesManage) && grant.permissions.is_subset_of(held)
    }

    /// Whether this authority holds everything `other` holds, at every scope: who may disable
    /// or remove a member (an Admin cannot lock out an Owner).
    #[must_use]
    pub fn covers(&self, other: &Authority) -> bool {
        other.tenant_wide.is_subset_of(self.tenant_wide)
            && other
                .per_project
                .iter()
                .all(|(project, held)| held.is_subset_of(self.at(Scope::Project(*project))))
    }

    /// This authority narrowed to `scope` ∩ `permissions`: what an API token created by this
    /// principal with that scope may carry. Never wider than the creator.
    #[must_use]
    pub fn narrowed(&self, scope: Scope, permissions: PermissionSet) -> Self {
        let mut narrowed = Self::default();
        narrowed.bind(scope, PermissionSet(self.at(scope).0 & permissions.0));
        narrowed
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn project(n: u128) -> ProjectId {
        ProjectId(uuid::Uuid::from_u128(n))
    }

    #[test]
    fn covers_compares_every_scope() {
        let mut admin = Authority::default();
        admin.bind(Scope::Tenant, PermissionSet::role(BuiltinRole::Admin));
        let mut owner = Authority::default();
        owner.bind(Scope::Tenant, PermissionSet::role(BuiltinRole::Owner));
        assert!(owner.covers(&admin));
        assert!(!admin.covers(&owner));
        let mut project_owner = Authority::default();
        project_owner.bind(
            Scope::Project(project(1)),
            PermissionSet::role(BuiltinRole::Owner),
        );
        assert!(
            !admin.covers(&project_owner),
            "Owner permissions in a project exceed Admin"
        );
        assert!(owner.covers(&project_owner));
        assert!(admin.covers(&Authority::default()));
    }

    #[test]
    fn catalog_order_is_declaration_order_so_bits_are_distinct() {
        for (index, permission) in Permission::ALL.iter().enumerate() {
            assert_eq!(*permission as usize, index, "{permission}");
        }
    }

    #[test]
    fn builtin_roles_may_grant_exactly_the_roles_they_contain_when_they_manage_roles() {
        for granter in BuiltinRole::ALL {
            let mut authority = Authority::default();
            authority.bind(Scope::Tenant, PermissionSet::role(granter));
            for role in BuiltinRole::ALL {
                let grant = Grant {
                    scope: Scope::Tenant,
                    permissions: PermissionSet::role(role),
                };
                let expected = granter.permissions().contains(&Permission::RolesManage)
                    && PermissionSet::role(role).is_subset_of(PermissionSet::role(granter));
                assert_eq!(
                    authority.may_grant(&grant),
                    expected,
                    "{granter:?} granting {role:?}"
                );
            }
        }
    }

    #[test]
    fn an_admin_cannot_make_anyone_owner() {
        let mut admin = Authority::default();
        admin.bind(Scope::Tenant, PermissionSet::role(BuiltinRole::Admin));
        let owner = Grant {
            scope: Scope::Tenant,
            permissions: PermissionSet::role(BuiltinRole::Owner),
        };
        assert!(!admin.may_grant(&owner));
    }

    #[test]
    fn a_project_admin_grants_in_that_project_only() {
        let mut authority = Authority::default();
        authority.bind(
            Scope::Project(project(1)),
            PermissionSet::role(BuiltinRole::Admin),
        );
        let viewer = PermissionSet::role(BuiltinRole::Viewer);
        assert!(authority.may_grant(&Grant {
            scope: Scope::Project(project(1)),
            permissions: viewer
        }));
        assert!(!authority.may_grant(&Grant {
            scope: Scope::Project(project(2)),
            permissions: viewer
        }));
        assert!(!authority.may_grant(&Grant {
            scope: Scope::Tenant,
            permissions: viewer
        }));
    }

    #[test]
    fn tenant_wide_permissions_hold_in_every_project() {
        let mut authority = Authority::default();
        authority.bind(Scope::Tenant, PermissionSet::of(&[Permission::CostRead]));
        assert!(authority.allows(Permission::CostRead, Scope::Project(project(7))));
        assert!(!authority.allows(Permission::CostWrite, Scope::Project(project(7))));
    }

    fn permission_set() -> impl Strategy<Value = PermissionSet> {
        (0u32..(1 << Permission::ALL.len())).prop_map(PermissionSet)
    }

    fn scope() -> impl Strategy<Value = Scope> {
        prop_oneof![
            Just(Scope::Tenant),
            (1u128..4).prop_map(|n| Scope::Project(project(n)))
        ]
    }

    proptest! {
        /// The escalation property: whatever a principal holds, anything it may grant is
        /// something it holds at that scope — a grant never reaches beyond the granter.
        #[test]
        fn no_grant_reaches_beyond_the_granter(
            bindings in prop::collection::vec((scope(), permission_set()), 0..4),
            grant_scope in scope(),
            grant_permissions in permission_set(),
        ) {
            let mut granter = Authority::default();
            for (scope, permissions) in bindings {
                granter.bind(scope, permissions);
            }
            let grant = Grant { scope: grant_scope, permissions: grant_permissions };
            if granter.may_grant(&grant) {
                for permission in grant.permissions.iter() {
                    prop_assert!(granter.allows(permission, grant.scope));
                }
                prop_assert!(granter.allows(Permission::RolesManage, grant.scope));
            }
        }

        #[test]
        fn a_narrowed_authority_is_never_wider_than_its_source(
            bindings in prop::collection::vec((scope(), permission_set()), 0..4),
            token_scope in scope(),
            token_permissions in permission_set(),
            probe_scope in scope(),
        ) {
            let mut creator = Authority::default();
            for (scope, permissions) in bindings {
                creator.bind(scope, permissions);
            }
            let token = creator.narrowed(token_scope, token_permissions);
            prop_assert!(token.at(probe_scope).is_subset_of(creator.at(probe_scope)));
            prop_assert!(token.at(probe_scope).is_subset_of(token_permissions));
        }
    }
}
