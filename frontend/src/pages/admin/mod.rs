//! Administration: cloud accounts, users and invitations, roles and bindings, single sign-on,
//! the audit log and the tenant's settings. Each page shows its actions only to roles that may take them.

mod accounts_page;
mod audit_page;
mod settings_page;
mod sso_page;
mod users_page;

pub use accounts_page::AccountsPage;
pub use audit_page::AuditPage;
pub use settings_page::SettingsPage;
pub use sso_page::SsoPage;
pub use users_page::UsersPage;
