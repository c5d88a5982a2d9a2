//! The seed's pipeline, run by Populous: `populous pipeline run -f populous.yml
//! --env dev|stage|prod --build-number N`.
//!
//! - [`spec`]: the pipeline file (YAML), its checks, and each environment's
//!   typed plan;
//! - [`runner`]: one environment's roles (build, ship, run, mask, smoke,
//!   destroy, refresh) for one build, with a lock per environment, gates
//!   between environments, and a probe-watched rolling update in prod;
//! - [`api`]: the Populous daemon's REST API, the one client of it here;
//! - [`registry`]: the image registry's HTTP API;
//! - [`docker`]: the Docker engine through the `docker` CLI (argument vectors,
//!   never shell strings), on a swarm;
//! - [`state`]: the lock files and the record of passed builds.
//!
//! This crate knows Docker and HTTP (it drives them) but not the command
//! line: the CLI parses arguments, prints the report and supplies masking
//! through [`runner::Hooks`].

pub mod api;
pub mod docker;
mod error;
mod http;
pub mod registry;
pub mod runner;
pub mod spec;
pub mod state;

pub use error::{PipelineError, Result};
pub use populous_error::{ErrorKind, HasKind};
pub use runner::{
    run, Hooks, MaskFigures, Outcome, RoleReport, RunOptions, RunReport, UpdateFigures,
};
pub use spec::{Pipeline, Role};
