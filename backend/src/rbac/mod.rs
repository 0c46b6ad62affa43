//! Role-based access control: what a principal may do, and what it may grant.
//!
//! The policy is pure functions over permission sets ([`policy`]); [`repo`] loads a principal's
//! role bindings from the database; [`handlers`] serve roles and role bindings.

pub mod handlers;
pub mod policy;
pub mod repo;

pub use policy::{Authority, Grant, PermissionSet, Scope};
