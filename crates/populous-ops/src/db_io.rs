//! The I/O settings of a database on a pool, chosen by the pool's backend, in
//! one place.
//!
//! [`for_pool`] says, for a pool's backend and filesystem, whether a new
//! datadir gets btrfs's `NOCOW` flag and which InnoDB settings its server
//! runs with. [`prepare`] gives an empty datadir the flag before its first
//! file (every database volume goes through it: `db start` on an empty
//! volume and a source's physical seed), and [`DatadirIo::of`] reports what
//! a datadir holds, for `db ls`.
//!
//! Why these choices (measured by `populous bench db-io`, see
//! docs/benchmarks.md; what no setting changes: an `fsync` on btrfs costs
//! two cache flushes where ext4 and XFS need one):
//! - On btrfs, a copy-on-write InnoDB file is rewritten elsewhere on every
//!   page write and pays btrfs's data checksums. `NOCOW` overwrites in place
//!   (5-10% more TPS measured). InnoDB has its
//!   own page checksums. A snapshot or clone still shares the extents: the
//!   first write to a shared extent copies it once, then writes go in place
//!   again, so clones stay constant-time and cheap in space.
//! - A `NOCOW` page can be torn by a crash like on ext4, so the doublewrite
//!   buffer stays on.
//! - `O_DIRECT` (MariaDB's default) keeps pages out of the page cache, where
//!   the buffer pool already holds them.
//! - Neighbour flushing helps disks that seek; pools are not such disks, and
//!   on a copy-on-write filesystem neighbouring pages are not neighbours.
//!
//! A datadir made before the flag (imported, or seeded by an older
//! Populous) keeps its copy-on-write files: converting them would copy
//! every byte and unshare every extent a clone shares with its origin, so
//! it is not done behind the user's back. `db ls --json` says how many of
//! the InnoDB files are `NOCOW`.

use std::path::Path;

use populous_db::{FlushMethod, IoSettings};
use populous_engine::{BackendKind, FsKind};

/// What a database on one kind of pool gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct DbIo {
    /// Whether a new datadir gets btrfs's `NOCOW` flag (only on btrfs).
    pub nocow: bool,
    /// The server's InnoDB settings.
    pub server: IoSettings,
}

/// The settings for a database on a pool with `backend` on filesystem `fs`.
pub fn for_pool(backend: BackendKind, fs: Option<FsKind>) -> DbIo {
    let server = IoSettings {
        flush_method: FlushMethod::ODirect,
        doublewrite: true,
        flush_neighbors: false,
    };
    match (backend, fs) {
        // btrfs subvolumes, or per-file reflinks on btrfs (the reflink
        // backend carries the flag over, which btrfs requires).
        (BackendKind::Btrfs, _) | (BackendKind::Reflink, Some(FsKind::Btrfs)) => DbIo {
            nocow: true,
            server,
        },
        // XFS overwrites in place already; a copy pool is a plain filesystem.
        _ => DbIo {
            nocow: false,
            server,
        },
    }
}

/// Gives the datadir `dir` the `NOCOW` flag when `io` asks for it and the
/// directory is still empty (the flag passes to the files created in it
/// afterwards; on files that exist it would not take). Returns whether it
/// set the flag.
pub fn prepare(dir: &Path, io: &DbIo) -> std::io::Result<bool> {
    if !io.nocow || std::fs::read_dir(dir)?.next().is_some() {
        return Ok(false);
    }
    if populous_engine::attr::is_nocow(dir)? {
        return Ok(false);
    }
    populous_engine::attr::set_nocow(dir)?;
    Ok(true)
}

/// InnoDB's files in a datadir and how many of them are `NOCOW`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct NocowFiles {
    /// `ibdata*`, `ib_logfile*`, `undo*`, `*.ibd`.
    pub innodb_files: u64,
    /// How many of them have the flag.
    pub nocow: u64,
}

/// A running (or last run) database's I/O, as `db ls` shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct DatadirIo {
    /// Whether the datadir directory itself has `NOCOW` (new files get it).
    pub datadir_nocow: bool,
    /// InnoDB's files and how many are `NOCOW`.
    pub files: NocowFiles,
}

fn is_innodb_file(name: &str) -> bool {
    name.starts_with("ibdata")
        || name.starts_with("ib_logfile")
        || name.starts_with("undo")
        || name.ends_with(".ibd")
}

impl DatadirIo {
    /// Reads the flags of `datadir` and of InnoDB's files in it (its top
    /// level and one level of database directories). Unreadable entries are
    /// skipped: this is a report.
    pub fn of(datadir: &Path) -> DatadirIo {
        let mut files = NocowFiles::default();
        let mut count = |p: &Path| {
            files.innodb_files += 1;
            if populous_engine::attr::is_nocow(p).unwrap_or(false) {
                files.nocow += 1;
            }
        };
        for e in std::fs::read_dir(datadir).into_iter().flatten().flatten() {
            let Ok(ft) = e.file_type() else { continue };
            if ft.is_dir() {
                for f in std::fs::read_dir(e.path()).into_iter().flatten().flatten() {
                    let name = f.file_name();
                    if f.file_type().is_ok_and(|t| t.is_file())
                        && is_innodb_file(&name.to_string_lossy())
                    {
                        count(&f.path());
                    }
                }
            } else if ft.is_file() && is_innodb_file(&e.file_name().to_string_lossy()) {
                count(&e.path());
            }
        }
        DatadirIo {
            datadir_nocow: populous_engine::attr::is_nocow(datadir).unwrap_or(false),
            files,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nocow_only_on_btrfs() {
        assert!(for_pool(BackendKind::Btrfs, Some(FsKind::Btrfs)).nocow);
        assert!(for_pool(BackendKind::Reflink, Some(FsKind::Btrfs)).nocow);
        assert!(!for_pool(BackendKind::Reflink, Some(FsKind::Xfs)).nocow);
        assert!(!for_pool(BackendKind::Copy, None).nocow);
        // Every backend keeps the doublewrite buffer: NOCOW pages can tear.
        for b in [BackendKind::Btrfs, BackendKind::Reflink, BackendKind::Copy] {
            assert!(for_pool(b, Some(FsKind::Btrfs)).server.doublewrite);
        }
    }

    #[test]
    fn innodb_files_by_name() {
        for n in ["ibdata1", "ib_logfile0", "undo001", "t.ibd"] {
            assert!(is_innodb_file(n), "{n}");
        }
        for n in [
            "aria_log.00000001",
            "t.frm",
            "ib_buffer_pool",
            "mysql.ibd.bak",
        ] {
            assert!(!is_innodb_file(n), "{n}");
        }
    }

    #[test]
    fn an_empty_dir_is_left_alone_when_nocow_is_off() {
        let dir = std::env::temp_dir().join(format!("populous-dbio-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let io = for_pool(BackendKind::Copy, None);
        assert!(!prepare(&dir, &io).unwrap());
        let report = DatadirIo::of(&dir);
        assert_eq!(report.files, NocowFiles::default());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
