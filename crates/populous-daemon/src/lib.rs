//! `populous serve`: the REST API and the Docker volume plugin.
//!
//! - [`client`]: a minimal HTTP/1.1 client for the daemon's sockets (tests, benchmarks, CLI);
//! - [`config`]: the TOML configuration (listeners, plugin instances);
//! - [`state`]: the shared engine (a writer and a pool of readers) and the audit trail;
//! - [`dashboard`]: the web dashboard under `/ui` (sessions, pages, SVG charts);
//! - [`api`]: REST handlers behind folder-scoped bearer tokens (sources' in `source_api`);
//! - [`extract`]: the API's caller, path, query and body extractors (JSON rejections);
//! - [`plugin`]: Docker's volume plugin protocol, one driver per folder;
//! - [`options`]: the Nimble plugin's create options, parsed;
//! - [`error`]: the one mapping from engine error kinds to HTTP statuses;
//! - [`metrics`]: Prometheus metrics;
//! - [`server`]: binding listeners and graceful shutdown;
//! - [`conn`]: serving connections under timeouts and a connection cap;
//! - [`usage`]: volume usage, measured by one background walker and cached;
//! - [`sources`]: replicas kept running, scheduled snapshots, source gauges;
//! - [`webhooks`]: volume events recorded in the store's outbox and POSTed,
//!   signed and retried, by a background deliverer.

pub mod api;
pub mod client;
mod clones_api;
pub mod config;
pub mod conn;
pub mod dashboard;
pub mod error;
pub mod extract;
pub mod metrics;
pub mod options;
pub mod plugin;
pub mod reaper;
pub mod server;
mod source_api;
pub mod sources;
pub mod state;
pub mod usage;
pub mod warm;
pub mod webhooks;

pub use config::Config;
pub use server::{serve, Bound, ServeError};
pub use state::Daemon;
