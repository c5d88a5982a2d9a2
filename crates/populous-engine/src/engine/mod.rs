//! The engine: every operation on pools, folders, volumes and snapshots.
//!
//! One submodule per object, each with its own `impl Engine` block:
//! `pool`, `folder`, `volume`, `mount`, `snapshot`, `clone` (clone, import,
//! rename), `intent` (the crash-safety protocol below) and `check`. This module holds [`Engine`] and what they share: lookups that
//! turn names into rows, and where things live on disk. Statements live in
//! [`crate::store`]; the operations here read as steps.
//!
//! # Crash safety
//! A multi-step operation first commits an intent (a row in `ops`) and tags
//! the rows it is about to create or destroy with that intent's id. Only then
//! does it touch the filesystem, and it finishes with one transaction that
//! clears the tags and deletes the intent. Whatever is still tagged when a
//! later writer takes the home lock was left by a process that died, and it
//! is removed, filesystem first, then rows: a half-made clone is rolled back,
//! a half-done destroy is finished. Nothing else is ever deleted implicitly,
//! so a lost metadata store cannot make the engine wipe a pool.
//!
//! # Paths
//! On disk a volume lives at `<pool root>/.populous/vol/<id>` and a snapshot
//! at `<pool root>/.populous/snap/<id>`, with ids from the metadata. Names
//! never reach the filesystem, so renames and moves between folders are
//! single metadata transactions, and no name can point outside the pool.

mod check;
mod clone;
mod folder;
mod intent;
mod lifecycle;
mod mount;
mod pool;
mod snapshot;
mod source;
mod volume;

pub use lifecycle::{Due, DueVolume, Lifecycle, Protection};
pub use source::{NewSource, SourceInfo, SourceMode, SourceSnapshot};

pub use pool::DATA_SUBDIR_MODE;
pub use volume::DEFAULT_VOLUME_MODE;

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use rusqlite::Connection;

use crate::error::{Case, Error, Result};
use crate::name::{Name, SnapRef, VolRef};
use crate::store::folders::{self, FolderRow};
use crate::store::pools::{self, PoolRow};
use crate::store::snapshots::{self, SnapRow};
use crate::store::volumes::{self, VolRow};
use crate::store::{self};
use crate::sys;

const DATA_DIR: &str = ".populous";
const TOKEN_FILE: &str = "pool-id";

/// The volume engine, bound to one Populous home directory.
#[derive(Debug)]
pub struct Engine {
    home: PathBuf,
    db: Connection,
}

/// Unix seconds now: the clock every stored timestamp comes from.
pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

fn data_dir(root: &Path) -> PathBuf {
    root.join(DATA_DIR)
}
fn vol_path(root: &Path, id: i64) -> PathBuf {
    data_dir(root).join("vol").join(id.to_string())
}
fn snap_path(root: &Path, id: i64) -> PathBuf {
    data_dir(root).join("snap").join(id.to_string())
}

/// A name read back from the store, which only ever holds validated names.
fn stored(s: &str) -> Name {
    Name::from_stored(s.to_owned())
}

fn not_found(what: &'static str, name: &dyn std::fmt::Display) -> Error {
    Error::NotFound {
        what,
        name: name.to_string(),
        hint: String::new(),
    }
}

fn already_exists(what: &'static str, name: &dyn std::fmt::Display, case: Case) -> Error {
    Error::AlreadyExists {
        what,
        name: name.to_string(),
        hint: String::new(),
        case,
    }
}

/// Turns a filesystem failure into a "pool is full" error when that is what it was.
fn space_error(e: Error, pool: &str, doing: &str) -> Error {
    if e.is_enospc() {
        Error::NoSpace {
            pool: pool.to_owned(),
            doing: doing.to_owned(),
        }
    } else {
        e
    }
}

/// Names for a message: the first ten, then how many more.
fn list_names(items: &[String]) -> String {
    const MAX: usize = 10;
    let mut s = items
        .iter()
        .take(MAX)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if items.len() > MAX {
        s.push_str(&format!(" and {} more", items.len() - MAX));
    }
    s
}

impl Engine {
    /// Opens the engine on `home`, creating the directory and the metadata store if needed.
    pub fn open(home: &Path) -> Result<Engine> {
        fs::create_dir_all(home).map_err(Error::io("creating home directory", home))?;
        let db = store::open(&home.join("populous.db"))?;
        Ok(Engine {
            home: home.to_owned(),
            db,
        })
    }

    /// The home directory.
    pub fn home(&self) -> &Path {
        &self.home
    }

    pub(crate) fn db(&self) -> &Connection {
        &self.db
    }

    // ----- lookups: names to rows, or NotFound ---------------------------------

    fn pool_by_name(&self, name: &Name) -> Result<PoolRow> {
        pools::by_name(&self.db, name.as_str())?.ok_or_else(|| not_found("pool", name))
    }

    fn folder(&self, name: &Name) -> Result<FolderRow> {
        folders::by_name(&self.db, name.as_str())?.ok_or_else(|| not_found("folder", name))
    }

    /// A live (online or offline) volume.
    fn volume(&self, r: &VolRef) -> Result<VolRow> {
        let folder = self.folder(&r.folder)?;
        volumes::live(&self.db, folder.id, r.volume.as_str())?.ok_or_else(|| not_found("volume", r))
    }

    /// A ready snapshot, with its volume.
    fn snapshot(&self, r: &SnapRef) -> Result<(VolRow, SnapRow)> {
        let vol = self.volume(&r.vol)?;
        let snap = snapshots::ready(&self.db, vol.id, r.snapshot.as_str())?
            .ok_or_else(|| not_found("snapshot", r))?;
        Ok((vol, snap))
    }

    // ----- where pools live -------------------------------------------------------

    /// Makes sure the pool's filesystem is mounted and is the right one; returns its root.
    ///
    /// Image pools are mounted again if they are not (after a reboot, say). A
    /// pool whose token file is missing or different is never written to: that
    /// would put data on whatever filesystem happens to be there.
    fn pool_root(&self, pool: &PoolRow) -> Result<PathBuf> {
        let token_path = data_dir(&pool.root).join(TOKEN_FILE);
        let matches = || {
            fs::read_to_string(&token_path)
                .map(|t| t.trim() == pool.token)
                .unwrap_or(false)
        };
        if matches() {
            return Ok(pool.root.clone());
        }
        if let Some(image) = &pool.image {
            // Two processes finding the pool unmounted must not both mount it.
            let _mounting = store::mount_lock(&self.home)?;
            if matches() {
                return Ok(pool.root.clone());
            }
            if !sys::is_mountpoint(&pool.root)? {
                if !image.exists() {
                    return Err(Error::Unavailable {
                        pool: pool.name.clone(),
                        detail: format!("its image file {} is missing", image.display()),
                        case: Case::ImageMissing,
                    });
                }
                tracing::info!(pool = %pool.name, image = %image.display(), "mounting pool image");
                sys::mount_image(image, &pool.root)?;
                if matches() {
                    return Ok(pool.root.clone());
                }
            }
        }
        Err(Error::Unavailable {
            pool: pool.name.clone(),
            detail: format!(
                "{} does not hold this pool (no matching {DATA_DIR}/{TOKEN_FILE}): mount the pool's filesystem there and retry",
                pool.root.display()
            ),
            case: Case::General,
        })
    }

    /// The pool of a folder, mounted, and its root.
    fn folder_pool(&self, folder: &FolderRow) -> Result<(PoolRow, PathBuf)> {
        let pool = pools::by_id(&self.db, folder.pool_id)?;
        let root = self.pool_root(&pool)?;
        Ok((pool, root))
    }
}
