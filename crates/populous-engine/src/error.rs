//! The engine's error type.
//!
//! Each variant says what failed, on what, and what to do. Adapters (the CLI,
//! the daemon) never match on variants to pick an exit code or an HTTP status:
//! they call [`Error::kind`] and map the kind in one place.

use std::path::PathBuf;

/// Result alias for engine operations.
pub type Result<T, E = Error> = std::result::Result<T, E>;

pub use populous_error::{ErrorKind, HasKind};

/// Everything that can go wrong in the engine.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error("invalid {what} name {name:?}: {reason} (allowed: [A-Za-z0-9][A-Za-z0-9._-]{{0,63}})")]
    InvalidName {
        what: &'static str,
        name: String,
        reason: &'static str,
    },
    #[error("invalid reference {input:?}: expected {expected}")]
    InvalidReference {
        input: String,
        expected: &'static str,
    },
    #[error("invalid {what}: {detail}")]
    InvalidInput { what: &'static str, detail: String },
    #[error("{what} {name} does not exist{hint}")]
    NotFound {
        what: &'static str,
        name: String,
        hint: String,
    },
    #[error("{what} {name} already exists{hint}")]
    AlreadyExists {
        what: &'static str,
        name: String,
        hint: String,
    },
    #[error("{name} is {state}: {detail}")]
    WrongState {
        name: String,
        state: String,
        detail: String,
    },
    #[error("cannot remove {name}: {dependents}; {hint}")]
    HasDependents {
        name: String,
        dependents: String,
        hint: String,
    },
    #[error("folder policy forbids it: {detail}")]
    PolicyDenied { detail: String },
    #[error("pool {pool} is full while {doing}: free space in the pool or grow it, then retry (nothing was changed)")]
    NoSpace { pool: String, doing: String },
    #[error("pool {pool} is unavailable: {detail}")]
    Unavailable { pool: String, detail: String },
    #[error("{detail}")]
    Unsupported { detail: String },
    #[error("{tool} is not installed: install it with `apt-get install {package}` and retry")]
    MissingTool {
        tool: &'static str,
        package: &'static str,
    },
    #[error("{doing} failed on {}: {source}", path.display())]
    Io {
        doing: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("`{command}` failed: {stderr}")]
    Command { command: String, stderr: String },
    #[error("metadata store error: {0}")]
    Store(#[from] rusqlite::Error),
    #[error("metadata store at {} is newer (schema {found}) than this populous understands (schema {supported}): upgrade populous", path.display())]
    SchemaTooNew {
        path: PathBuf,
        found: i64,
        supported: i64,
    },
}

impl HasKind for Error {
    fn kind(&self) -> ErrorKind {
        Error::kind(self)
    }
}

impl Error {
    /// The stable class of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::InvalidName { .. }
            | Error::InvalidReference { .. }
            | Error::InvalidInput { .. } => ErrorKind::InvalidInput,
            Error::NotFound { .. } => ErrorKind::NotFound,
            Error::AlreadyExists { .. } => ErrorKind::AlreadyExists,
            Error::WrongState { .. } => ErrorKind::WrongState,
            Error::HasDependents { .. } => ErrorKind::HasDependents,
            Error::PolicyDenied { .. } => ErrorKind::PolicyDenied,
            Error::NoSpace { .. } => ErrorKind::NoSpace,
            Error::Unavailable { .. } => ErrorKind::Unavailable,
            Error::Unsupported { .. } => ErrorKind::Unsupported,
            Error::MissingTool { .. } => ErrorKind::MissingTool,
            Error::Io { source, .. } if source.raw_os_error() == Some(libc::ENOSPC) => {
                ErrorKind::NoSpace
            }
            Error::Store(rusqlite::Error::SqliteFailure(e, _))
                if e.code == rusqlite::ErrorCode::DiskFull =>
            {
                ErrorKind::NoSpace
            }
            Error::Io { .. }
            | Error::Command { .. }
            | Error::Store(_)
            | Error::SchemaTooNew { .. } => ErrorKind::Internal,
        }
    }

    pub(crate) fn io(
        doing: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> Error {
        let path = path.into();
        move |source| Error::Io {
            doing,
            path,
            source,
        }
    }

    /// True when the underlying cause is a full filesystem.
    pub(crate) fn is_enospc(&self) -> bool {
        match self {
            Error::Io { source, .. } => source.raw_os_error() == Some(libc::ENOSPC),
            Error::Command { stderr, .. } => stderr.contains("No space left"),
            _ => false,
        }
    }
}
