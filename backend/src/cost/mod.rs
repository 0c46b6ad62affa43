//! The cost module: every cloud's bill in one FOCUS ledger (issue 4). `focus` is the schema as
//! data, `import` the pipeline that brings files in, `repo` its SQL, `explorer` the reads,
//! `handlers` the API and `command` the `nimbus import-bill` CLI.

pub mod alibaba;
pub mod allocation;
pub mod anomalies;
pub mod anomaly_handlers;
pub mod aws;
pub mod azure;
pub mod bills;
pub mod budget_handlers;
pub mod budgets;
pub mod command;
pub mod dimensions;
pub mod explorer;
pub mod focus;
pub mod forecast;
pub mod gcp;
pub mod handlers;
pub mod import;
pub mod native;
pub mod oracle;
pub mod pgcopy;
pub mod rates;
pub mod records;
pub mod repo;
pub mod rollup;
pub mod watch;
