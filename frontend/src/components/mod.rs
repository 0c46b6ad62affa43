mod action;
mod chart;
mod health;
mod link_form;
mod pager;
mod shell;
mod states;

pub use action::run_action;
pub use chart::CostChart;
pub use health::HealthBadge;
pub use link_form::{Field, LinkForm};
pub use pager::{Pager, Paging};
pub use shell::Shell;
pub use states::{Empty, Failure, Loading, loaded};
