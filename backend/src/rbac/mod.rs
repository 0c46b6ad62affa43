//! Role-based access control: what a principal may do, and what it may grant.
//!
//! The policy is pure functions over permission sets ([`policy`]); loading a principal's role
//! bindings from the database and the per-route extractors build on it.

pub mod policy;

pub use policy::{Authority, Grant, PermissionSet, Scope};
