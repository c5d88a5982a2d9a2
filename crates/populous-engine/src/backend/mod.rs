//! Copy-on-write backends behind one narrow trait.
//!
//! A backend knows how to make an empty volume directory, a read-only snapshot
//! of one, a writable clone of a snapshot, and how to destroy any of them. It
//! knows nothing of names, folders or metadata: the engine hands it absolute
//! paths it built itself from numeric ids inside the pool.
//!
//! - [`btrfs::Btrfs`]: subvolumes and snapshots, by ioctl (constant time).
//! - [`tree::Reflink`]: FICLONE per file (time grows with the file count, not the bytes).
//! - [`tree::Copy`]: a full byte copy, the baseline; never chosen silently.

pub mod btrfs;
pub mod tree;

use std::fmt;
use std::path::Path;
use std::str::FromStr;

use crate::error::{Error, Result};

/// How a pool does copy-on-write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BackendKind {
    /// btrfs subvolumes and snapshots.
    Btrfs,
    /// Per-file FICLONE on XFS or btrfs.
    Reflink,
    /// A plain full copy (the measured baseline).
    Copy,
}

impl BackendKind {
    /// The lowercase name used in the CLI and the metadata.
    pub fn as_str(self) -> &'static str {
        match self {
            BackendKind::Btrfs => "btrfs",
            BackendKind::Reflink => "reflink",
            BackendKind::Copy => "copy",
        }
    }

    /// The backend implementation for this kind.
    pub fn backend(self) -> &'static dyn Backend {
        match self {
            BackendKind::Btrfs => &btrfs::Btrfs,
            BackendKind::Reflink => &tree::Reflink,
            BackendKind::Copy => &tree::Copy,
        }
    }
}

impl fmt::Display for BackendKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for BackendKind {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "btrfs" => Ok(BackendKind::Btrfs),
            "reflink" => Ok(BackendKind::Reflink),
            "copy" => Ok(BackendKind::Copy),
            other => Err(Error::InvalidInput {
                what: "backend",
                detail: format!("{other:?} is not one of btrfs, reflink, copy"),
            }),
        }
    }
}

/// What every backend does. Paths are absolute, inside one pool, and made by the engine.
pub trait Backend: Sync {
    /// Which kind this is.
    fn kind(&self) -> BackendKind;
    /// Creates an empty, writable volume at `dst` (which must not exist).
    fn create(&self, dst: &Path) -> Result<()>;
    /// Makes a point-in-time copy of `src` at `dst`, to be kept read-only.
    fn snapshot(&self, src: &Path, dst: &Path) -> Result<()>;
    /// Makes a writable copy of the snapshot `src` at `dst`.
    fn clone_from(&self, src: &Path, dst: &Path) -> Result<()>;
    /// Removes what `create`, `snapshot` or `clone_from` made at `path`,
    /// including a partial result. A missing `path` is not an error.
    fn destroy(&self, path: &Path) -> Result<()>;
}
