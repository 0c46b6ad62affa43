//! Authentication: who is calling. Local passwords today; sessions, tokens and single sign-on
//! build on this module.

pub mod password;
