//! The engine's error type.
//!
//! Each variant says what failed and on what, as facts: the engine has no
//! flags or commands, so advice in those terms is the adapter's to add (the
//! CLI's `hints` module does, from the [`Case`] an error carries). Adapters
//! never match on variants to pick an exit code or an HTTP status: they call
//! [`Error::kind`] and map the kind in one place.

use std::path::PathBuf;

/// Result alias for engine operations.
pub type Result<T, E = Error> = std::result::Result<T, E>;

pub use populous_error::{ErrorKind, HasKind};

/// Which situation an error describes, beyond its variant: what an adapter
/// needs to give advice in its own terms (a flag, a command, an endpoint).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Case {
    /// Nothing more specific.
    #[default]
    General,
    /// A volume to destroy still has snapshots.
    VolumeHasSnapshots,
    /// A pool to remove still holds folders.
    PoolHasFolders,
    /// An adopted pool's data area holds directories that no record owns.
    PoolDataNotEmpty,
    /// A folder to remove still holds volumes.
    FolderHasVolumes,
    /// A rename's target name belongs to another volume.
    RenameTargetExists,
    /// An import's target name belongs to another volume.
    ImportTargetExists,
    /// A new pool's image file already exists.
    ImageExists,
    /// An image pool's image file is gone.
    ImageMissing,
    /// The volume is offline and the operation needs it online.
    VolumeOffline,
    /// The volume is online and the operation needs it offline.
    VolumeOnline,
    /// Another operation holds the name (a dead one, until reconciled).
    NameInFlux,
    /// The filesystem cannot do copy-on-write: only full copies would work.
    NoCopyOnWrite,
    /// The btrfs backend was asked for on another filesystem.
    NotBtrfs,
    /// The receiving folder's policy does not list the source folder for clones.
    CloneSourceNotAllowed,
    /// The receiving folder's policy does not list the source folder for imports.
    ImportSourceNotAllowed,
    /// The receiving folder takes only masked data.
    MaskingRequired,
}

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
        case: Case,
    },
    #[error("{name} is {state}: {detail}")]
    WrongState {
        name: String,
        state: String,
        detail: String,
        case: Case,
    },
    #[error("cannot remove {name}: {dependents}")]
    HasDependents {
        name: String,
        dependents: String,
        case: Case,
    },
    /// Folder `to`'s policy refuses data from folder `from`.
    #[error("folder policy forbids it: {detail}")]
    PolicyDenied {
        detail: String,
        to: String,
        from: String,
        case: Case,
    },
    #[error("pool {pool} is full while {doing}: free space in the pool or grow it, then retry (nothing was changed)")]
    NoSpace { pool: String, doing: String },
    #[error("pool {pool} is unavailable: {detail}")]
    Unavailable {
        pool: String,
        detail: String,
        case: Case,
    },
    #[error("{detail}")]
    Unsupported { detail: String, case: Case },
    #[error("{tool} is not installed: install it with `apt-get install {package}` and retry")]
    MissingTool {
        tool: &'static str,
        package: &'static str,
    },
    #[error("{doing} {}: permission denied for this process", path.display())]
    PermissionDenied { doing: &'static str, path: PathBuf },
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
            Error::PermissionDenied { .. } => ErrorKind::Forbidden,
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

    /// The situation this error describes, for adapters that add advice.
    pub fn case(&self) -> Case {
        match *self {
            Error::AlreadyExists { case, .. }
            | Error::WrongState { case, .. }
            | Error::HasDependents { case, .. }
            | Error::PolicyDenied { case, .. }
            | Error::Unavailable { case, .. }
            | Error::Unsupported { case, .. } => case,
            _ => Case::General,
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
