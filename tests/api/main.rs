//! The Nimbus API suite: one binary, real PostgreSQL, each test with its own database.

mod access;
mod allocation;
mod anomalies;
mod audit;
mod auth;
mod bills;
mod browser;
mod budgets;
mod cli;
mod clouds;
mod cost;
mod cost_dimensions;
mod cost_json;
mod cost_parquet;
mod errors;
mod forecast;
mod frontend;
mod isolation;
mod mail;
mod openapi;
mod ops;
mod plumbing;
mod resilience;
mod shutdown;
mod tenants;
