//! Wire types shared by the Nimbus server and its dashboard.
//!
//! Everything here is plain data that crosses the HTTP boundary. The crate has no I/O and
//! compiles to `wasm32-unknown-unknown`; the `server` feature adds OpenAPI schema derives.

pub mod clouds;
pub mod cost;
pub mod error;
pub mod events;
pub mod identity;
pub mod ids;
pub mod ops;
pub mod rbac;
pub mod sso;

pub use error::{ErrorBody, ErrorCode, ErrorDetail};
