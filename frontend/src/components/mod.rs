mod link_form;

pub use link_form::{Field, LinkForm};
