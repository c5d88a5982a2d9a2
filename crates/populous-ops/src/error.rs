//! The operations layer's error: whichever library failed, with its kind.

use std::path::PathBuf;

use populous_error::{ErrorKind, HasKind};

/// Result alias for operations.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What can go wrong in an operation: the error of the library that failed,
/// or a fact about the operation itself.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The volume engine refused or failed.
    #[error(transparent)]
    Engine(#[from] populous_engine::Error),
    /// MariaDB refused or failed.
    #[error(transparent)]
    Db(#[from] populous_db::DbError),
    /// Masking rules or keys are not usable.
    #[error(transparent)]
    Mask(#[from] populous_mask::MaskError),
    /// Masking or verifying a database failed.
    #[error(transparent)]
    MaskDb(#[from] populous_mask::db::MaskDbError),
    /// An input file could not be read.
    #[error("cannot read the {what} {}: {source}", path.display())]
    Read {
        /// What the file is for.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The masking rules file is not valid.
    #[error("in {}: {source}", path.display())]
    Rules {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        #[source]
        source: populous_mask::MaskError,
    },
    /// No server runs on the volume.
    #[error("no MariaDB is running on {volume}")]
    NotRunning {
        /// The volume.
        volume: String,
    },
    /// The generator refused to start: what it would write does not fit.
    #[error("generating into {volume} needs about {} and pool {pool} has {} free: nothing was written", populous_units::format_size(*need), populous_units::format_size(*free))]
    WouldNotFit {
        /// The volume.
        volume: String,
        /// Its pool.
        pool: String,
        /// Bytes the generation would write, with InnoDB's overhead.
        need: u64,
        /// Bytes free in the pool.
        free: u64,
    },
    /// A masking refused to start: what it would write does not fit.
    #[error("masking {volume} writes about {} (its tables' pages, undo and a fresh redo log) and pool {pool} has {} free: nothing was masked", populous_units::format_size(*need), populous_units::format_size(*free))]
    MaskWouldNotFit {
        /// The volume.
        volume: String,
        /// Its pool.
        pool: String,
        /// Bytes the masking would write.
        need: u64,
        /// Bytes free in the pool.
        free: u64,
    },
    /// The server died of a full disk (error 28) while masking.
    #[error("{volume}'s pool {pool} ran out of space while masking (the server's log says error 28): {source}")]
    DiskFull {
        /// The volume.
        volume: String,
        /// Its pool.
        pool: String,
        /// What the masking saw of it (a lost connection, most often).
        #[source]
        source: Box<Error>,
    },
    /// The generator failed.
    #[error(transparent)]
    App(#[from] populous_app::AppError),
    /// A source's server, seed or replication failed.
    #[error(transparent)]
    Source(#[from] populous_source::SourceError),
    /// A source cannot be added as asked.
    #[error("source {name}: {detail}")]
    SourceRefused {
        /// The source.
        name: String,
        /// Why, as a fact.
        detail: String,
    },
    /// A verification needs the original data and the volume has none left.
    #[error("{volume} has no origin snapshot that still exists to verify against")]
    NoOrigin {
        /// The volume.
        volume: String,
    },
    /// The scan after masking found original values in the volume's files.
    #[error("{volume} is not masked: {found} of {sampled} sampled original values are still in its files: {files}")]
    ScanFound {
        /// The volume.
        volume: String,
        /// Originals found.
        found: usize,
        /// Originals searched for.
        sampled: usize,
        /// The files, with how many originals each holds.
        files: String,
    },
    /// A port range that is not `FIRST-LAST` of unprivileged ports.
    #[error("invalid port range {given:?}: FIRST-LAST, both 1024 to 65535, FIRST not above LAST")]
    BadPortRange {
        /// What was given.
        given: String,
    },
    /// Every port of the range is held by another clone's server or in use.
    #[error("every port of {range} is taken by other clones' servers or in use")]
    PortsExhausted {
        /// The range.
        range: crate::dbclone::PortRange,
    },
    /// A reset would take others' data away.
    #[error("{volume} cannot be reset: {detail}")]
    ResetRefused {
        /// The volume.
        volume: String,
        /// Why, as a fact.
        detail: String,
        /// The class: dependents, clients connected, no origin.
        kind: ErrorKind,
    },
    /// A verification found original values or values that differ from the rules.
    #[error("verification of {volume} failed: original values remain or differ from the rules")]
    VerifyFailed {
        /// The volume.
        volume: String,
    },
}

impl Error {
    /// The stable class of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Engine(e) => e.kind(),
            Error::Db(e) => e.kind(),
            Error::App(e) => e.kind(),
            Error::Source(e) => e.kind(),
            Error::SourceRefused { .. } => ErrorKind::InvalidInput,
            Error::NotRunning { .. } => ErrorKind::WrongState,
            Error::WouldNotFit { .. } | Error::MaskWouldNotFit { .. } | Error::DiskFull { .. } => {
                ErrorKind::NoSpace
            }
            Error::Mask(e) => e.kind(),
            Error::Rules { .. } => ErrorKind::InvalidInput,
            Error::MaskDb(e) => e.kind(),
            Error::Read { source, .. } if source.kind() == std::io::ErrorKind::NotFound => {
                ErrorKind::NotFound
            }
            Error::Read { .. } => ErrorKind::InvalidInput,
            Error::NoOrigin { .. } => ErrorKind::NotFound,
            Error::BadPortRange { .. } => ErrorKind::InvalidInput,
            Error::PortsExhausted { .. } => ErrorKind::Busy,
            Error::ResetRefused { kind, .. } => *kind,
            Error::VerifyFailed { .. } | Error::ScanFound { .. } => ErrorKind::Failed,
        }
    }
}

impl HasKind for Error {
    fn kind(&self) -> ErrorKind {
        Error::kind(self)
    }
}
