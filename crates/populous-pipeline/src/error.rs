//! The pipeline's errors: one enum, each message stating what failed and on
//! what. [`PipelineError::kind`] gives the shared class
//! ([`populous_error::ErrorKind`]), which the CLI maps to an exit code.

use std::path::PathBuf;

use populous_error::{ErrorKind, HasKind};

/// A pipeline error.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    /// The pipeline file cannot be read.
    #[error("cannot read the pipeline file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The pipeline file is not valid.
    #[error("invalid pipeline file {path}: {reason}")]
    Spec {
        /// The file.
        path: PathBuf,
        /// What is wrong, and where.
        reason: String,
    },
    /// A command-line request is not valid.
    #[error("{0}")]
    Usage(String),
    /// The Docker engine does not answer.
    #[error("the Docker engine does not answer ({detail})")]
    EngineDown {
        /// What docker said.
        detail: String,
    },
    /// The engine is not a swarm manager.
    #[error("the Docker engine is not a swarm manager (swarm state: {state})")]
    NoSwarm {
        /// LocalNodeState.
        state: String,
    },
    /// The registry does not answer.
    #[error("the registry {registry} does not answer ({detail})")]
    RegistryDown {
        /// host:port.
        registry: String,
        /// What failed.
        detail: String,
    },
    /// A docker command failed.
    #[error("`docker {args}` failed: {stderr}")]
    Docker {
        /// The arguments, space-joined for the message only.
        args: String,
        /// The last lines docker printed.
        stderr: String,
    },
    /// A command of the pipeline file failed or could not start.
    #[error("the {what} command `{program}` failed: {detail}")]
    Command {
        /// What it was for.
        what: String,
        /// `argv[0]`.
        program: String,
        /// Exit status and output tail.
        detail: String,
    },
    /// Another run holds the environment's lock.
    #[error("another pipeline run holds environment {env} ({holder}); wait for it to finish, or pass --wait DURATION to queue behind it")]
    Busy {
        /// The environment.
        env: String,
        /// What the lock file says about the holder.
        holder: String,
    },
    /// A gate refused the run.
    #[error("{0}")]
    Refused(String),
    /// A role failed.
    #[error("{role} failed in {env}: {reason}")]
    Role {
        /// The environment.
        env: String,
        /// The role.
        role: String,
        /// Why.
        reason: String,
    },
    /// A Populous API call failed.
    #[error("Populous API {what}: {detail}")]
    Api {
        /// The call.
        what: String,
        /// Status and message.
        detail: String,
    },
    /// Local I/O (state and lock files).
    #[error("{what} {path}: {source}")]
    Io {
        /// The operation.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

impl PipelineError {
    /// The class of the error, for exit codes.
    pub fn kind(&self) -> ErrorKind {
        match self {
            PipelineError::Read { .. } | PipelineError::Spec { .. } | PipelineError::Usage(_) => {
                ErrorKind::InvalidInput
            }
            PipelineError::EngineDown { .. }
            | PipelineError::NoSwarm { .. }
            | PipelineError::RegistryDown { .. } => ErrorKind::Unavailable,
            PipelineError::Busy { .. } => ErrorKind::Busy,
            PipelineError::Refused(_) => ErrorKind::PolicyDenied,
            PipelineError::Docker { .. }
            | PipelineError::Command { .. }
            | PipelineError::Role { .. }
            | PipelineError::Api { .. }
            | PipelineError::Io { .. } => ErrorKind::Failed,
        }
    }

    pub(crate) fn io(what: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        PipelineError::Io {
            what,
            path: path.into(),
            source,
        }
    }
}

impl HasKind for PipelineError {
    fn kind(&self) -> ErrorKind {
        PipelineError::kind(self)
    }
}

/// Results of this crate.
pub type Result<T, E = PipelineError> = std::result::Result<T, E>;
