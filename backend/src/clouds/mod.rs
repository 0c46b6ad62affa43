//! Clouds: connected cloud accounts, their connectors, the sync engine that fills the inventory
//! from them, and the inventory API (docs/clouds/README.md).
//!
//! - `accounts.rs` — accounts: settings checked, credentials sealed (`secrets.rs`), a
//!   connector built from them on each use.
//! - `connector.rs` — the one trait every provider implements, and what it yields.
//! - `aws.rs` — AWS on the official SDK: role assumption with the tenant's external id, EKS,
//!   EC2, S3 bill exports.
//! - `azure.rs` — Azure Resource Manager with an Entra ID service principal (`oauth2`): AKS,
//!   VMs. `gcp.rs` — Google Cloud with a service-account JWT assertion: GKE, Compute Engine.
//!   `alibaba.rs` — Alibaba Cloud with V3-signed calls: ACK, ECS.
//! - `kubernetes.rs` — any Kubernetes API server: the cluster, nodes, namespaces, workloads;
//!   `kubeconfig.rs` — what of an uploaded kubeconfig is accepted.
//! - `rest.rs` — the JSON client of connectors without an SDK: deadlines, retries,
//!   `Retry-After`, circuit breakers.
//! - `breaker.rs` — circuit breakers per (account, service, region).
//! - `sync.rs` — the job queue, workers, leases and per-scope reconciliation.
//! - `inventory.rs` — the inventory's SQL; `bill_exports.rs` — the scheduled bill pull.
//! - `handlers.rs` — the API; `command.rs` — `nimbus sync`.

pub mod accounts;
pub mod alibaba;
pub mod aws;
pub mod azure;
pub mod bill_exports;
pub mod breaker;
pub mod command;
pub mod connector;
pub mod gcp;
pub mod handlers;
pub mod inventory;
pub mod kubeconfig;
pub mod kubernetes;
pub mod rest;
pub mod sync;
