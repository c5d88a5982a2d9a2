//! What can go wrong with a source.

use populous_error::{ErrorKind, HasKind};

/// A source operation's failure.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SourceError {
    /// The URL or password file is not usable.
    #[error("{0}")]
    Invalid(String),
    /// A tool of the seed is not installed.
    #[error("{tool} is not installed: install Debian's {package} package")]
    MissingTool {
        /// The program.
        tool: &'static str,
        /// The package that has it.
        package: &'static str,
    },
    /// The source server could not be reached or refused the login.
    #[error("cannot reach source {url}: {detail}")]
    Unreachable {
        /// `mysql://user@host:port`.
        url: String,
        /// Why.
        detail: String,
    },
    /// A seed or replication command failed.
    #[error("{what} failed: {detail}")]
    Failed {
        /// What ran.
        what: String,
        /// Its exit status and the tail of its output.
        detail: String,
    },
    /// The replica server answered with an error.
    #[error("replica: {0}")]
    Sql(String),
    /// Local I/O.
    #[error("{doing}: {source}")]
    Io {
        /// What was being done.
        doing: String,
        /// The error.
        source: std::io::Error,
    },
}

impl HasKind for SourceError {
    fn kind(&self) -> ErrorKind {
        match self {
            SourceError::Invalid(_) => ErrorKind::InvalidInput,
            SourceError::MissingTool { .. } => ErrorKind::MissingTool,
            SourceError::Unreachable { .. } => ErrorKind::Unavailable,
            SourceError::Failed { .. } => ErrorKind::Failed,
            SourceError::Io { source, .. } if source.kind() == std::io::ErrorKind::StorageFull => {
                ErrorKind::NoSpace
            }
            SourceError::Sql(_) | SourceError::Io { .. } => ErrorKind::Internal,
        }
    }
}

impl SourceError {
    /// The stable class of this error.
    pub fn kind(&self) -> ErrorKind {
        HasKind::kind(self)
    }

    pub(crate) fn io(doing: impl Into<String>) -> impl FnOnce(std::io::Error) -> SourceError {
        let doing = doing.into();
        move |source| SourceError::Io { doing, source }
    }
}

/// A source result.
pub type Result<T> = std::result::Result<T, SourceError>;
