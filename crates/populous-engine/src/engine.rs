//! The engine: every operation on pools, folders, volumes and snapshots.
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

use std::collections::HashSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use rusqlite::{params, Connection, OptionalExtension, Row, TransactionBehavior};

use crate::backend::BackendKind;
use crate::error::{Error, Result};
use crate::fault;
use crate::model::*;
use crate::name::{CloneSource, FolderRef, Name, SnapRef, VolRef};
use crate::store::{self, HomeLock};
use crate::sys::{self, FsKind};

const DATA_DIR: &str = ".populous";
const TOKEN_FILE: &str = "pool-id";

/// The volume engine, bound to one Populous home directory.
#[derive(Debug)]
pub struct Engine {
    home: PathBuf,
    db: Connection,
}

#[derive(Debug, Clone)]
struct PoolRow {
    id: i64,
    name: String,
    root: PathBuf,
    backend: BackendKind,
    fs: String,
    image: Option<PathBuf>,
    token: String,
    created_at: i64,
}

#[derive(Debug, Clone)]
struct FolderRow {
    id: i64,
    pool_id: i64,
    name: String,
    policy: FolderPolicy,
    created_at: i64,
}

#[derive(Debug, Clone)]
struct VolRow {
    id: i64,
    folder: String,
    name: String,
    state: String,
    size: Option<u64>,
    description: Option<String>,
    origin_snapshot_id: Option<i64>,
    origin: Option<String>,
    prov: Provenance,
    created_at: i64,
}

#[derive(Debug, Clone)]
struct SnapRow {
    id: i64,
    volume_id: i64,
    name: String,
    consistency: Consistency,
    prov: Provenance,
    created_at: i64,
}

pub(crate) fn now() -> i64 {
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

fn name_unchecked(s: String) -> Name {
    Name::from_stored(s)
}

fn policy_list(s: Option<String>) -> Option<Vec<Name>> {
    s.map(|s| {
        s.split(',')
            .filter(|p| !p.is_empty())
            .map(|p| name_unchecked(p.to_owned()))
            .collect()
    })
}

fn policy_text(l: &Option<Vec<Name>>) -> Option<String> {
    l.as_ref()
        .map(|v| v.iter().map(Name::as_str).collect::<Vec<_>>().join(","))
}

fn prov_from(row: &Row<'_>, base: usize) -> rusqlite::Result<Provenance> {
    Ok(Provenance {
        masked: row.get::<_, i64>(base)? != 0,
        mask_ruleset: row.get(base + 1)?,
        mask_key_id: row.get(base + 2)?,
        masked_at: row.get(base + 3)?,
    })
}

const POOL_COLS: &str = "id, name, root, backend, fs, image, token, created_at";
fn pool_row(r: &Row<'_>) -> rusqlite::Result<PoolRow> {
    let backend: String = r.get(3)?;
    Ok(PoolRow {
        id: r.get(0)?,
        name: r.get(1)?,
        root: PathBuf::from(r.get::<_, String>(2)?),
        backend: backend.parse().unwrap_or(BackendKind::Copy),
        fs: r.get(4)?,
        image: r.get::<_, Option<String>>(5)?.map(PathBuf::from),
        token: r.get(6)?,
        created_at: r.get(7)?,
    })
}

const FOLDER_COLS: &str = "id, pool_id, name, clone_from, import_from, require_masked, created_at";
fn folder_row(r: &Row<'_>) -> rusqlite::Result<FolderRow> {
    Ok(FolderRow {
        id: r.get(0)?,
        pool_id: r.get(1)?,
        name: r.get(2)?,
        policy: FolderPolicy {
            clone_from: policy_list(r.get(3)?),
            import_from: policy_list(r.get(4)?),
            require_masked: r.get::<_, i64>(5)? != 0,
        },
        created_at: r.get(6)?,
    })
}

const VOL_COLS: &str = "v.id, v.folder_id, f.name, v.name, v.state, v.size_bytes, v.description, \
     v.origin_snapshot_id, v.origin, v.masked, v.mask_ruleset, v.mask_key_id, v.masked_at, v.created_at";
fn vol_row(r: &Row<'_>) -> rusqlite::Result<VolRow> {
    Ok(VolRow {
        id: r.get(0)?,
        folder: r.get(2)?,
        name: r.get(3)?,
        state: r.get(4)?,
        size: r.get::<_, Option<i64>>(5)?.map(|s| s as u64),
        description: r.get(6)?,
        origin_snapshot_id: r.get(7)?,
        origin: r.get(8)?,
        prov: prov_from(r, 9)?,
        created_at: r.get(13)?,
    })
}

const SNAP_COLS: &str =
    "s.id, s.volume_id, s.name, s.consistency, s.masked, s.mask_ruleset, s.mask_key_id, s.masked_at, s.created_at";
fn snap_row(r: &Row<'_>) -> rusqlite::Result<SnapRow> {
    let c: String = r.get(3)?;
    Ok(SnapRow {
        id: r.get(0)?,
        volume_id: r.get(1)?,
        name: r.get(2)?,
        consistency: if c == "app" {
            Consistency::App
        } else {
            Consistency::Crash
        },
        prov: prov_from(r, 4)?,
        created_at: r.get(8)?,
    })
}

fn state_of(s: &str) -> VolumeState {
    if s == "online" {
        VolumeState::Online
    } else {
        VolumeState::Offline
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

    /// Takes the writer lock and finishes whatever a dead process left half done.
    fn begin(&mut self) -> Result<HomeLock> {
        let lock = store::lock(&self.home)?;
        self.reconcile()?;
        Ok(lock)
    }

    // ----- lookups -------------------------------------------------------

    fn pool_by_name(&self, name: &Name) -> Result<PoolRow> {
        self.db
            .query_row(
                &format!("SELECT {POOL_COLS} FROM pools WHERE name = ?1"),
                [name.as_str()],
                pool_row,
            )
            .optional()?
            .ok_or_else(|| Error::NotFound {
                what: "pool",
                name: name.to_string(),
                hint: ": list pools with `populous pool ls`".into(),
            })
    }

    fn pool_by_id(&self, id: i64) -> Result<PoolRow> {
        Ok(self.db.query_row(
            &format!("SELECT {POOL_COLS} FROM pools WHERE id = ?1"),
            [id],
            pool_row,
        )?)
    }

    fn folder(&self, name: &Name) -> Result<FolderRow> {
        self.db
            .query_row(
                &format!("SELECT {FOLDER_COLS} FROM folders WHERE name = ?1"),
                [name.as_str()],
                folder_row,
            )
            .optional()?
            .ok_or_else(|| Error::NotFound {
                what: "folder",
                name: name.to_string(),
                hint: ": create it with `populous folder create POOL/FOLDER`".into(),
            })
    }

    /// A live (online or offline) volume.
    fn volume(&self, r: &VolRef) -> Result<VolRow> {
        let folder = self.folder(&r.folder)?;
        self.db
            .query_row(
                &format!(
                    "SELECT {VOL_COLS} FROM volumes v JOIN folders f ON f.id = v.folder_id \
                     WHERE v.folder_id = ?1 AND v.name = ?2 AND v.state IN ('online','offline')"
                ),
                params![folder.id, r.volume.as_str()],
                vol_row,
            )
            .optional()?
            .ok_or_else(|| Error::NotFound {
                what: "volume",
                name: r.to_string(),
                hint: format!(
                    ": list volumes with `populous volume ls {} --all`",
                    r.folder
                ),
            })
    }

    fn volume_by_id(&self, id: i64) -> Result<VolRow> {
        Ok(self.db.query_row(
            &format!("SELECT {VOL_COLS} FROM volumes v JOIN folders f ON f.id = v.folder_id WHERE v.id = ?1"),
            [id],
            vol_row,
        )?)
    }

    fn snapshot(&self, r: &SnapRef) -> Result<(VolRow, SnapRow)> {
        let vol = self.volume(&r.vol)?;
        let snap = self
            .db
            .query_row(
                &format!("SELECT {SNAP_COLS} FROM snapshots s WHERE s.volume_id = ?1 AND s.name = ?2 AND s.state = 'ready'"),
                params![vol.id, r.snapshot.as_str()],
                snap_row,
            )
            .optional()?
            .ok_or_else(|| Error::NotFound {
                what: "snapshot",
                name: r.to_string(),
                hint: format!(": list snapshots with `populous snapshot ls {}`", r.vol),
            })?;
        Ok((vol, snap))
    }

    fn snapshots_of(&self, volume_id: i64) -> Result<Vec<SnapRow>> {
        let mut st = self.db.prepare_cached(&format!(
            "SELECT {SNAP_COLS} FROM snapshots s WHERE s.volume_id = ?1 AND s.state = 'ready' ORDER BY s.id"
        ))?;
        let rows = st.query_map([volume_id], snap_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    fn volume_name_taken(&self, folder_id: i64, name: &Name) -> Result<bool> {
        Ok(self
            .db
            .query_row(
                "SELECT 1 FROM volumes WHERE folder_id = ?1 AND name = ?2",
                params![folder_id, name.as_str()],
                |_| Ok(()),
            )
            .optional()?
            .is_some())
    }

    fn snapshot_name_taken(&self, volume_id: i64, name: &str) -> Result<bool> {
        Ok(self
            .db
            .query_row(
                "SELECT 1 FROM snapshots WHERE volume_id = ?1 AND name = ?2",
                params![volume_id, name],
                |_| Ok(()),
            )
            .optional()?
            .is_some())
    }

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
                        detail: format!(
                            "its image file {} is missing: restore it, or remove the pool with `populous pool rm {} --force`",
                            image.display(),
                            pool.name
                        ),
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
        })
    }

    fn folder_pool(&self, folder: &FolderRow) -> Result<(PoolRow, PathBuf)> {
        let pool = self.pool_by_id(folder.pool_id)?;
        let root = self.pool_root(&pool)?;
        Ok((pool, root))
    }

    // ----- intents ---------------------------------------------------------

    fn new_op(tx: &rusqlite::Transaction<'_>, kind: &str, detail: &str) -> Result<i64> {
        tx.execute(
            "INSERT INTO ops (kind, detail, pid, started_at) VALUES (?1, ?2, ?3, ?4)",
            params![kind, detail, std::process::id(), now()],
        )?;
        Ok(tx.last_insert_rowid())
    }

    fn tx(&mut self) -> Result<rusqlite::Transaction<'_>> {
        Ok(self
            .db
            .transaction_with_behavior(TransactionBehavior::Immediate)?)
    }

    /// Removes everything tagged with `op` (filesystem first, then rows) and the intent.
    fn undo_op(&mut self, op: i64) -> Result<()> {
        let mut targets: Vec<(bool, i64, i64)> = Vec::new(); // (is_snapshot, id, pool_id)
        {
            let mut st = self.db.prepare(
                "SELECT 1, s.id, f.pool_id FROM snapshots s JOIN volumes v ON v.id = s.volume_id \
                   JOIN folders f ON f.id = v.folder_id WHERE s.op_id = ?1 \
                 UNION ALL \
                 SELECT 0, v.id, f.pool_id FROM volumes v JOIN folders f ON f.id = v.folder_id WHERE v.op_id = ?1",
            )?;
            let rows = st.query_map([op], |r| {
                Ok((r.get::<_, i64>(0)? == 1, r.get(1)?, r.get(2)?))
            })?;
            for row in rows {
                targets.push(row?);
            }
        }
        for (is_snap, id, pool_id) in &targets {
            let pool = self.pool_by_id(*pool_id)?;
            let root = self.pool_root(&pool)?;
            let path = if *is_snap {
                snap_path(&root, *id)
            } else {
                vol_path(&root, *id)
            };
            pool.backend.backend().destroy(&path)?;
        }
        let tx = self.tx()?;
        // Snapshots first: a volume row cannot go while snapshot rows point at it.
        tx.execute("DELETE FROM snapshots WHERE op_id = ?1", [op])?;
        tx.execute("DELETE FROM volumes WHERE op_id = ?1", [op])?;
        tx.execute("DELETE FROM ops WHERE id = ?1", [op])?;
        tx.commit()?;
        Ok(())
    }

    fn finish_op(tx: &rusqlite::Transaction<'_>, op: i64) -> Result<()> {
        tx.execute(
            "UPDATE snapshots SET op_id = NULL, state = 'ready' WHERE op_id = ?1",
            [op],
        )?;
        tx.execute(
            "UPDATE volumes SET op_id = NULL, state = 'online' WHERE op_id = ?1",
            [op],
        )?;
        tx.execute("DELETE FROM ops WHERE id = ?1", [op])?;
        Ok(())
    }

    /// Completes or rolls back every operation a dead process left behind.
    /// Returns how many there were. Runs under the home lock.
    fn reconcile(&mut self) -> Result<u64> {
        let ops: Vec<(i64, String, String)> = {
            let mut st = self
                .db
                .prepare("SELECT id, kind, detail FROM ops ORDER BY id")?;
            let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
            rows.collect::<rusqlite::Result<_>>()?
        };
        let mut done = 0;
        for (id, kind, detail) in ops {
            tracing::warn!(op = id, kind = %kind, "reconciling an interrupted operation");
            let result = match kind.as_str() {
                "pool_create" | "pool_remove" => self.finish_pool_teardown(id, &detail),
                _ => self.undo_op(id),
            };
            match result {
                Ok(()) => done += 1,
                // A pool that is not mounted now cannot be cleaned; keep the intent for later
                // rather than deleting rows whose directories may still exist.
                Err(e) => tracing::error!(op = id, error = %e, "cannot reconcile yet; will retry"),
            }
        }
        Ok(done)
    }

    // ----- pools -------------------------------------------------------------

    fn check_pool_name_free(&self, name: &Name) -> Result<()> {
        if self.pool_by_name(name).is_ok() {
            return Err(Error::AlreadyExists {
                what: "pool",
                name: name.to_string(),
                hint: String::new(),
            });
        }
        Ok(())
    }

    fn pools(&self) -> Result<Vec<PoolRow>> {
        let mut st = self
            .db
            .prepare(&format!("SELECT {POOL_COLS} FROM pools ORDER BY name"))?;
        let rows = st.query_map([], pool_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    fn check_root_free(&self, root: &Path) -> Result<()> {
        for p in self.pools()? {
            if p.root.starts_with(root) || root.starts_with(&p.root) {
                return Err(Error::AlreadyExists {
                    what: "pool at",
                    name: root.display().to_string(),
                    hint: format!(": it overlaps pool {} at {}", p.name, p.root.display()),
                });
            }
        }
        Ok(())
    }

    /// Prepares the data area of a freshly mounted or adopted pool root.
    fn init_data_dir(root: &Path, token: &str) -> Result<()> {
        let dd = data_dir(root);
        for sub in ["vol", "snap"] {
            let p = dd.join(sub);
            fs::create_dir_all(&p).map_err(Error::io("creating", &p))?;
        }
        // Write-then-rename so the token file is either absent or whole.
        let tmp = dd.join(format!("{TOKEN_FILE}.tmp"));
        fs::write(&tmp, format!("{token}\n")).map_err(Error::io("writing", &tmp))?;
        let f = fs::File::open(&tmp).map_err(Error::io("opening", &tmp))?;
        f.sync_all().map_err(Error::io("syncing", &tmp))?;
        fs::rename(&tmp, dd.join(TOKEN_FILE)).map_err(Error::io("renaming", &tmp))?;
        Ok(())
    }

    /// Creates a pool on a new image file that Populous formats and loop-mounts.
    pub fn pool_create_image(
        &mut self,
        name: &Name,
        image: &Path,
        size: u64,
        fs_kind: FsKind,
        backend: Option<BackendKind>,
    ) -> Result<PoolInfo> {
        let _lock = self.begin()?;
        self.check_pool_name_free(name)?;
        const MIN: u64 = 320 << 20;
        if size < MIN {
            return Err(Error::InvalidInput {
                what: "size",
                detail: format!(
                    "{} is too small for a pool image: use at least 320M",
                    crate::size::format_size(size)
                ),
            });
        }
        let image = absolute(image)?;
        if image.exists() {
            return Err(Error::AlreadyExists {
                what: "image file",
                name: image.display().to_string(),
                hint: ": choose another --image path, or adopt an existing mount with --path"
                    .into(),
            });
        }
        let mount_dir = self.home.join("pools").join(name.as_str());
        if sys::is_mountpoint(&mount_dir)? {
            return Err(Error::AlreadyExists {
                what: "mount at",
                name: mount_dir.display().to_string(),
                hint: ": unmount it first".into(),
            });
        }
        self.check_root_free(&mount_dir)?;
        let detail = teardown_detail(Some(&image), &mount_dir);
        let op = {
            let tx = self.tx()?;
            let op = Self::new_op(&tx, "pool_create", &detail)?;
            tx.commit()?;
            op
        };
        fault::point("pool_create.after_intent");
        let token = sys::random_token()?;
        let made = (|| {
            sys::make_image(&image, size, fs_kind)?;
            fault::point("pool_create.after_mkfs");
            sys::mount_image(&image, &mount_dir)?;
            fault::point("pool_create.after_mount");
            Self::init_data_dir(&mount_dir, &token)?;
            sys::choose_backend(&mount_dir, backend)
        })();
        let (kind, fs_name) = match made {
            Ok(v) => v,
            Err(e) => {
                if let Err(undo) = self.finish_pool_teardown(op, &detail) {
                    tracing::error!(error = %undo, "could not undo the failed pool create");
                }
                return Err(e);
            }
        };
        let tx = self.tx()?;
        tx.execute(
            "INSERT INTO pools (name, root, backend, fs, image, token, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![
                name.as_str(),
                mount_dir.to_string_lossy(),
                kind.as_str(),
                fs_name,
                image.to_string_lossy(),
                token,
                now()
            ],
        )?;
        tx.execute("DELETE FROM ops WHERE id = ?1", [op])?;
        tx.commit()?;
        self.pool_info(&self.pool_by_name(name)?)
    }

    /// Unmounts and deletes what a pool create made, or what a pool remove left.
    fn finish_pool_teardown(&mut self, op: i64, detail: &str) -> Result<()> {
        let (image, mount_dir) = parse_teardown_detail(detail);
        if let Some(dir) = &mount_dir {
            sys::unmount(dir)?;
            match fs::remove_dir(dir) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(Error::io("removing mount point", dir)(e))
                }
                _ => {}
            }
        }
        if let Some(image) = &image {
            match fs::remove_file(image) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(Error::io("removing image", image)(e))
                }
                _ => {}
            }
        }
        self.db.execute("DELETE FROM ops WHERE id = ?1", [op])?;
        Ok(())
    }

    /// Adopts an existing directory on a btrfs or reflink-capable filesystem as a pool.
    pub fn pool_adopt(
        &mut self,
        name: &Name,
        path: &Path,
        backend: Option<BackendKind>,
    ) -> Result<PoolInfo> {
        let _lock = self.begin()?;
        self.check_pool_name_free(name)?;
        let root = fs::canonicalize(path).map_err(Error::io("resolving pool path", path))?;
        if !root.is_dir() {
            return Err(Error::InvalidInput {
                what: "pool path",
                detail: format!("{} is not a directory", root.display()),
            });
        }
        self.check_root_free(&root)?;
        let dd = data_dir(&root);
        for sub in ["vol", "snap"] {
            let p = dd.join(sub);
            let busy = fs::read_dir(&p)
                .map(|mut d| d.next().is_some())
                .unwrap_or(false);
            if busy {
                return Err(Error::AlreadyExists {
                    what: "pool data at",
                    name: dd.display().to_string(),
                    hint: ": it holds volumes of another Populous home; use that home, or pick an empty directory".into(),
                });
            }
        }
        let (kind, fs_name) = sys::choose_backend(&root, backend)?;
        let token = sys::random_token()?;
        Self::init_data_dir(&root, &token)?;
        self.db.execute(
            "INSERT INTO pools (name, root, backend, fs, image, token, created_at) VALUES (?1, ?2, ?3, ?4, NULL, ?5, ?6)",
            params![name.as_str(), root.to_string_lossy(), kind.as_str(), fs_name, token, now()],
        )?;
        self.pool_info(&self.pool_by_name(name)?)
    }

    fn pool_info(&self, p: &PoolRow) -> Result<PoolInfo> {
        let folders: i64 = self.db.query_row(
            "SELECT count(*) FROM folders WHERE pool_id = ?1",
            [p.id],
            |r| r.get(0),
        )?;
        let root = self.pool_root(p);
        let space = root.as_ref().ok().and_then(|r| sys::space(r).ok());
        Ok(PoolInfo {
            name: name_unchecked(p.name.clone()),
            root: p.root.clone(),
            backend: p.backend,
            fs: p.fs.clone(),
            image: p.image.clone(),
            available: root.is_ok(),
            total_bytes: space.map(|s| s.total),
            free_bytes: space.map(|s| s.available),
            folders: folders as u64,
            created_at: p.created_at,
        })
    }

    /// All pools. Image pools that are not mounted are mounted on the way.
    pub fn pool_list(&self) -> Result<Vec<PoolInfo>> {
        self.pools()?.iter().map(|p| self.pool_info(p)).collect()
    }

    /// Removes an empty pool. Image pools are unmounted and their image deleted;
    /// adopted directories lose only Populous's data area.
    pub fn pool_remove(&mut self, name: &Name) -> Result<()> {
        let _lock = self.begin()?;
        let pool = self.pool_by_name(name)?;
        let folders: Vec<String> = {
            let mut st = self
                .db
                .prepare("SELECT name FROM folders WHERE pool_id = ?1 ORDER BY name")?;
            let rows = st.query_map([pool.id], |r| r.get(0))?;
            rows.collect::<rusqlite::Result<_>>()?
        };
        if !folders.is_empty() {
            return Err(Error::HasDependents {
                name: format!("pool {name}"),
                dependents: format!("it holds folders {}", list_names(&folders)),
                hint: "remove them first with `populous folder rm`".into(),
            });
        }
        if pool.image.is_none() {
            // An adopted directory: remove only our (empty) data area.
            if let Ok(root) = self.pool_root(&pool) {
                let dd = data_dir(&root);
                for sub in ["vol", "snap"] {
                    let p = dd.join(sub);
                    match fs::remove_dir(&p) {
                        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                            return Err(Error::HasDependents {
                                name: format!("pool {name}"),
                                dependents: format!("{} is not empty ({e})", p.display()),
                                hint: "run `populous check --repair` to remove orphans, then retry"
                                    .into(),
                            })
                        }
                        _ => {}
                    }
                }
                let _ = fs::remove_file(dd.join(TOKEN_FILE));
                let _ = fs::remove_dir(&dd);
            }
            self.db
                .execute("DELETE FROM pools WHERE id = ?1", [pool.id])?;
            return Ok(());
        }
        let detail = teardown_detail(pool.image.as_deref(), &pool.root);
        let op = {
            let tx = self.tx()?;
            tx.execute("DELETE FROM pools WHERE id = ?1", [pool.id])?;
            let op = Self::new_op(&tx, "pool_remove", &detail)?;
            tx.commit()?;
            op
        };
        self.finish_pool_teardown(op, &detail)
    }

    // ----- folders -------------------------------------------------------------

    fn folder_info(&self, f: &FolderRow) -> Result<FolderInfo> {
        let pool: String =
            self.db
                .query_row("SELECT name FROM pools WHERE id = ?1", [f.pool_id], |r| {
                    r.get(0)
                })?;
        let volumes: i64 = self.db.query_row(
            "SELECT count(*) FROM volumes WHERE folder_id = ?1 AND state IN ('online','offline')",
            [f.id],
            |r| r.get(0),
        )?;
        Ok(FolderInfo {
            name: name_unchecked(f.name.clone()),
            pool: name_unchecked(pool),
            policy: f.policy.clone(),
            volumes: volumes as u64,
            created_at: f.created_at,
        })
    }

    /// Creates a folder in a pool. Folder names are unique across pools.
    pub fn folder_create(&mut self, r: &FolderRef, policy: &FolderPolicy) -> Result<FolderInfo> {
        let _lock = self.begin()?;
        let pool = self.pool_by_name(&r.pool)?;
        if self.folder(&r.folder).is_ok() {
            return Err(Error::AlreadyExists {
                what: "folder",
                name: r.folder.to_string(),
                hint: ": folder names are unique across pools".into(),
            });
        }
        self.db.execute(
            "INSERT INTO folders (pool_id, name, clone_from, import_from, require_masked, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                pool.id,
                r.folder.as_str(),
                policy_text(&policy.clone_from),
                policy_text(&policy.import_from),
                policy.require_masked as i64,
                now()
            ],
        )?;
        self.folder_info(&self.folder(&r.folder)?)
    }

    /// Replaces a folder's policy.
    pub fn folder_set_policy(
        &mut self,
        name: &Name,
        policy: &FolderPolicy,
    ) -> Result<Outcome<FolderInfo>> {
        let _lock = self.begin()?;
        let f = self.folder(name)?;
        let changed = f.policy != *policy;
        if changed {
            self.db.execute(
                "UPDATE folders SET clone_from = ?2, import_from = ?3, require_masked = ?4 WHERE id = ?1",
                params![
                    f.id,
                    policy_text(&policy.clone_from),
                    policy_text(&policy.import_from),
                    policy.require_masked as i64
                ],
            )?;
        }
        Ok(Outcome {
            changed,
            value: self.folder_info(&self.folder(name)?)?,
        })
    }

    /// One folder.
    pub fn folder_get(&self, name: &Name) -> Result<FolderInfo> {
        self.folder_info(&self.folder(name)?)
    }

    /// All folders.
    pub fn folder_list(&self) -> Result<Vec<FolderInfo>> {
        let rows: Vec<FolderRow> = {
            let mut st = self
                .db
                .prepare(&format!("SELECT {FOLDER_COLS} FROM folders ORDER BY name"))?;
            let rows = st.query_map([], folder_row)?;
            rows.collect::<rusqlite::Result<_>>()?
        };
        rows.iter().map(|f| self.folder_info(f)).collect()
    }

    /// Removes an empty folder.
    pub fn folder_remove(&mut self, name: &Name) -> Result<()> {
        let _lock = self.begin()?;
        let f = self.folder(name)?;
        let vols: Vec<String> = {
            let mut st = self
                .db
                .prepare("SELECT name || ' (' || state || ')' FROM volumes WHERE folder_id = ?1 ORDER BY name")?;
            let rows = st.query_map([f.id], |r| r.get(0))?;
            rows.collect::<rusqlite::Result<_>>()?
        };
        if !vols.is_empty() {
            return Err(Error::HasDependents {
                name: format!("folder {name}"),
                dependents: format!("it holds volumes {}", list_names(&vols)),
                hint: format!(
                    "destroy them with `populous volume rm {name}/VOL --destroy` or import them elsewhere first"
                ),
            });
        }
        self.db
            .execute("DELETE FROM folders WHERE id = ?1", [f.id])?;
        Ok(())
    }

    // ----- volumes -------------------------------------------------------------

    /// Creates an empty, online volume.
    pub fn volume_create(&mut self, r: &VolRef, opts: &VolumeOptions) -> Result<VolumeInfo> {
        let _lock = self.begin()?;
        let folder = self.folder(&r.folder)?;
        let (pool, root) = self.folder_pool(&folder)?;
        if self.volume_name_taken(folder.id, &r.volume)? {
            return Err(Error::AlreadyExists {
                what: "volume",
                name: r.to_string(),
                hint: String::new(),
            });
        }
        let (op, id) = {
            let tx = self.tx()?;
            let op = Self::new_op(&tx, "create", &r.to_string())?;
            tx.execute(
                "INSERT INTO volumes (folder_id, name, state, size_bytes, description, op_id, created_at) \
                 VALUES (?1, ?2, 'creating', ?3, ?4, ?5, ?6)",
                params![folder.id, r.volume.as_str(), opts.size.map(|s| s as i64), opts.description, op, now()],
            )?;
            let id = tx.last_insert_rowid();
            insert_labels(&tx, id, &opts.labels)?;
            tx.commit()?;
            (op, id)
        };
        fault::point("volume_create.after_intent");
        let path = vol_path(&root, id);
        let made = pool
            .backend
            .backend()
            .create(&path)
            .and_then(|()| apply_owner_mode(&path, opts));
        if let Err(e) = made {
            self.undo_op(op)?;
            return Err(space_error(e, &pool.name, &format!("creating volume {r}")));
        }
        fault::point("volume_create.after_fs");
        let tx = self.tx()?;
        Self::finish_op(&tx, op)?;
        tx.commit()?;
        self.volume_inspect(r)
    }

    /// Volumes, online ones only unless `all`; of one folder or of every folder.
    pub fn volume_list(&self, folder: Option<&Name>, all: bool) -> Result<Vec<VolumeSummary>> {
        let folder_id = match folder {
            Some(f) => Some(self.folder(f)?.id),
            None => None,
        };
        let states = if all {
            "('online','offline')"
        } else {
            "('online')"
        };
        let mut st = self.db.prepare_cached(&format!(
            "SELECT f.name, v.name, v.state, v.size_bytes, v.origin, v.created_at, \
               (SELECT count(*) FROM snapshots s WHERE s.volume_id = v.id AND s.state = 'ready') \
             FROM volumes v JOIN folders f ON f.id = v.folder_id \
             WHERE v.state IN {states} AND (?1 IS NULL OR v.folder_id = ?1) \
             ORDER BY f.name, v.name"
        ))?;
        let rows = st.query_map([folder_id], |r| {
            Ok(VolumeSummary {
                folder: name_unchecked(r.get(0)?),
                name: name_unchecked(r.get(1)?),
                state: state_of(&r.get::<_, String>(2)?),
                size_bytes: r.get::<_, Option<i64>>(3)?.map(|s| s as u64),
                origin: r.get(4)?,
                created_at: r.get(5)?,
                snapshots: r.get::<_, i64>(6)? as u64,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    fn snapshot_info(&self, vol: &VolRow, s: &SnapRow) -> Result<SnapshotInfo> {
        let mut st = self.db.prepare_cached(
            "SELECT f.name || '/' || v.name FROM volumes v JOIN folders f ON f.id = v.folder_id \
             WHERE v.origin_snapshot_id = ?1 AND v.state IN ('online','offline') ORDER BY 1",
        )?;
        let clones = st
            .query_map([s.id], |r| r.get(0))?
            .collect::<rusqlite::Result<Vec<String>>>()?;
        Ok(SnapshotInfo {
            folder: name_unchecked(vol.folder.clone()),
            volume: name_unchecked(vol.name.clone()),
            name: name_unchecked(s.name.clone()),
            consistency: s.consistency,
            provenance: s.prov.clone(),
            clones,
            created_at: s.created_at,
        })
    }

    fn lineage(&self, vol: &VolRow) -> Result<Vec<LineageStep>> {
        let mut steps = Vec::new();
        let mut seen = HashSet::new();
        let mut cur = vol.clone();
        while seen.insert(cur.id) {
            let Some(origin) = cur.origin.clone() else {
                break;
            };
            let Some(snap_id) = cur.origin_snapshot_id else {
                steps.push(LineageStep {
                    snapshot: origin,
                    exists: false,
                    taken_at: None,
                });
                break;
            };
            let snap = self.db.query_row(
                &format!("SELECT {SNAP_COLS} FROM snapshots s WHERE s.id = ?1"),
                [snap_id],
                snap_row,
            )?;
            let parent = self.volume_by_id(snap.volume_id)?;
            steps.push(LineageStep {
                snapshot: format!("{}/{}@{}", parent.folder, parent.name, snap.name),
                exists: true,
                taken_at: Some(snap.created_at),
            });
            cur = parent;
        }
        Ok(steps)
    }

    /// Everything about one volume, online or offline.
    pub fn volume_inspect(&self, r: &VolRef) -> Result<VolumeInfo> {
        let vol = self.volume(r)?;
        let folder = self.folder(&r.folder)?;
        let pool = self.pool_by_id(folder.pool_id)?;
        let root = self.pool_root(&pool).ok();
        let path = vol_path(root.as_deref().unwrap_or(&pool.root), vol.id);
        let snapshots = self
            .snapshots_of(vol.id)?
            .iter()
            .map(|s| self.snapshot_info(&vol, s))
            .collect::<Result<Vec<_>>>()?;
        Ok(VolumeInfo {
            folder: r.folder.clone(),
            name: r.volume.clone(),
            pool: name_unchecked(pool.name.clone()),
            state: state_of(&vol.state),
            used_bytes: root.as_ref().map(|_| sys::used_bytes(&path)),
            path,
            size_bytes: vol.size,
            description: vol.description.clone(),
            origin: vol.origin.clone(),
            lineage: self.lineage(&vol)?,
            snapshots,
            provenance: vol.prov.clone(),
            labels: self.labels_of(vol.id)?,
            mounts: self.mounts_of(vol.id)?,
            created_at: vol.created_at,
        })
    }

    fn labels_of(&self, volume_id: i64) -> Result<std::collections::BTreeMap<String, String>> {
        let mut st = self
            .db
            .prepare_cached("SELECT key, value FROM labels WHERE volume_id = ?1")?;
        let rows = st.query_map([volume_id], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    fn mounts_of(&self, volume_id: i64) -> Result<Vec<String>> {
        let mut st = self.db.prepare_cached(
            "SELECT mount_id FROM mounts WHERE volume_id = ?1 ORDER BY created_at, mount_id",
        )?;
        let rows = st.query_map([volume_id], |r| r.get(0))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Refuses to change a volume that consumers have mounted.
    fn check_unmounted(&self, r: &VolRef, volume_id: i64, doing: &str) -> Result<()> {
        let mounts = self.mounts_of(volume_id)?;
        if mounts.is_empty() {
            return Ok(());
        }
        Err(Error::WrongState {
            name: r.to_string(),
            state: format!("in use by {} mount(s)", mounts.len()),
            detail: format!(
                "cannot {doing} while it is mounted ({}); stop its consumers first",
                list_names(&mounts)
            ),
        })
    }

    /// Sets (or replaces) labels on a volume.
    pub fn volume_set_labels(
        &mut self,
        r: &VolRef,
        labels: &[(String, String)],
    ) -> Result<VolumeInfo> {
        let _lock = self.begin()?;
        let vol = self.volume(r)?;
        let tx = self.tx()?;
        insert_labels(&tx, vol.id, labels)?;
        tx.commit()?;
        self.volume_inspect(r)
    }

    /// Records that consumer `mount_id` mounts the volume; returns the path to
    /// mount and whether this id was new. Only online volumes can be mounted.
    pub fn mount_add(&mut self, r: &VolRef, mount_id: &str) -> Result<Outcome<std::path::PathBuf>> {
        let _lock = self.begin()?;
        let path = self.volume_path(r)?;
        let vol = self.volume(r)?;
        let n = self.db.execute(
            "INSERT OR IGNORE INTO mounts (volume_id, mount_id, created_at) VALUES (?1, ?2, ?3)",
            params![vol.id, mount_id, now()],
        )?;
        Ok(Outcome {
            changed: n > 0,
            value: path,
        })
    }

    /// Forgets every consumer mount of a volume (stale mounts whose consumer is
    /// gone, e.g. a container removed while the daemon was down); returns how
    /// many there were.
    pub fn mount_clear(&mut self, r: &VolRef) -> Result<Outcome<usize>> {
        let _lock = self.begin()?;
        let vol = self.volume(r)?;
        let n = self
            .db
            .execute("DELETE FROM mounts WHERE volume_id = ?1", [vol.id])?;
        Ok(Outcome {
            changed: n > 0,
            value: n,
        })
    }

    /// Forgets consumer `mount_id`; returns how many mounts remain.
    pub fn mount_remove(&mut self, r: &VolRef, mount_id: &str) -> Result<Outcome<usize>> {
        let _lock = self.begin()?;
        let vol = self.volume(r)?;
        let n = self.db.execute(
            "DELETE FROM mounts WHERE volume_id = ?1 AND mount_id = ?2",
            params![vol.id, mount_id],
        )?;
        Ok(Outcome {
            changed: n > 0,
            value: self.mounts_of(vol.id)?.len(),
        })
    }

    /// The host directory a consumer mounts. Only online volumes have one to give.
    pub fn volume_path(&self, r: &VolRef) -> Result<PathBuf> {
        let vol = self.volume(r)?;
        if vol.state != "online" {
            return Err(Error::WrongState {
                name: r.to_string(),
                state: vol.state,
                detail: format!("offline volumes cannot be mounted; bring it online with `populous volume online {r}`"),
            });
        }
        let folder = self.folder(&r.folder)?;
        let (_, root) = self.folder_pool(&folder)?;
        Ok(vol_path(&root, vol.id))
    }

    /// Takes a volume offline or brings it online. Already there: `changed` is false.
    pub fn volume_set_online(&mut self, r: &VolRef, online: bool) -> Result<Outcome<VolumeInfo>> {
        let _lock = self.begin()?;
        let vol = self.volume(r)?;
        let want = if online { "online" } else { "offline" };
        let changed = vol.state != want;
        if changed && !online {
            self.check_unmounted(r, vol.id, "take it offline")?;
        }
        if changed {
            self.db.execute(
                "UPDATE volumes SET state = ?2 WHERE id = ?1",
                params![vol.id, want],
            )?;
        }
        Ok(Outcome {
            changed,
            value: self.volume_inspect(r)?,
        })
    }

    fn check_same_pool(&self, from: &FolderRow, to: &FolderRow, doing: &str) -> Result<()> {
        if from.pool_id != to.pool_id {
            let a = self.pool_by_id(from.pool_id)?.name;
            let b = self.pool_by_id(to.pool_id)?.name;
            return Err(Error::Unsupported {
                detail: format!(
                    "cannot {doing}: folder {} is in pool {a} and folder {} is in pool {b}; copy-on-write works only inside one pool",
                    from.name, to.name
                ),
            });
        }
        Ok(())
    }

    /// Checks the folder policy of `to` for data coming from `from`.
    fn check_policy(
        to: &FolderRow,
        from: &FolderRow,
        clone: bool,
        masked: bool,
        what: &str,
    ) -> Result<()> {
        if to.id != from.id {
            let (list, verb, flag) = if clone {
                (&to.policy.clone_from, "clone from", "--clone-from")
            } else {
                (&to.policy.import_from, "import from", "--import-from")
            };
            if let Some(allowed) = list {
                if !allowed.iter().any(|n| n.as_str() == from.name) {
                    return Err(Error::PolicyDenied {
                        detail: format!(
                            "folder {} may not {verb} folder {}; allow it with `populous folder policy {} {flag} {}`",
                            to.name, from.name, to.name, from.name
                        ),
                    });
                }
            }
        }
        if to.policy.require_masked && !masked {
            return Err(Error::PolicyDenied {
                detail: format!(
                    "folder {} requires masked data and {what} is not masked; mask it first with `populous mask`",
                    to.name
                ),
            });
        }
        Ok(())
    }

    /// Moves an offline volume, with its snapshots, into another folder of the same pool,
    /// and brings it online there. `rename` gives it a new name on the way.
    pub fn volume_import(
        &mut self,
        r: &VolRef,
        to: &Name,
        rename: Option<&Name>,
    ) -> Result<VolumeInfo> {
        let _lock = self.begin()?;
        let vol = self.volume(r)?;
        let from = self.folder(&r.folder)?;
        let dest = self.folder(to)?;
        if vol.state != "offline" {
            return Err(Error::WrongState {
                name: r.to_string(),
                state: vol.state,
                detail: format!("only offline volumes can be imported; take it offline with `populous volume offline {r}`"),
            });
        }
        self.check_same_pool(&from, &dest, &format!("import {r} into {to}"))?;
        Self::check_policy(&dest, &from, false, vol.prov.masked, &format!("volume {r}"))?;
        let new_name = rename.unwrap_or(&r.volume);
        let target = VolRef {
            folder: to.clone(),
            volume: new_name.clone(),
        };
        if self.volume_name_taken(dest.id, new_name)? {
            return Err(Error::AlreadyExists {
                what: "volume",
                name: target.to_string(),
                hint: ": import it under another name with --as NAME".into(),
            });
        }
        let tx = self.tx()?;
        tx.execute(
            "UPDATE volumes SET folder_id = ?2, name = ?3, state = 'online' WHERE id = ?1",
            params![vol.id, dest.id, new_name.as_str()],
        )?;
        fault::point("import.before_commit");
        tx.commit()?;
        self.volume_inspect(&target)
    }

    /// Renames a volume inside its folder. With `replace`, a volume already
    /// called `new_name` is destroyed with its snapshots in the same
    /// transaction, so readers see either the old volume or the new one under
    /// that name, never none: this is how a masked golden copy is refreshed
    /// while dev keeps cloning it. Clones made from the replaced volume are
    /// independent and keep working.
    pub fn volume_rename(
        &mut self,
        r: &VolRef,
        new_name: &Name,
        replace: bool,
    ) -> Result<Outcome<Renamed>> {
        let _lock = self.begin()?;
        let target = VolRef {
            folder: r.folder.clone(),
            volume: new_name.clone(),
        };
        if r.volume == *new_name {
            return Ok(Outcome {
                changed: false,
                value: Renamed {
                    volume: self.volume_inspect(r)?,
                    replaced: None,
                },
            });
        }
        let folder_id = self.folder(&r.folder)?.id;
        let vol = self.volume(r)?;
        // Docker and other consumers know a mounted volume by its name.
        self.check_unmounted(r, vol.id, "rename it")?;
        let old = match self.volume(&target) {
            Ok(old) => Some(old),
            Err(Error::NotFound { .. }) => None,
            Err(e) => return Err(e),
        };
        if old.is_none() && self.volume_name_taken(folder_id, new_name)? {
            return Err(Error::WrongState {
                name: target.to_string(),
                state: "being created or destroyed".into(),
                detail: "another operation holds that name; run `populous check` and retry".into(),
            });
        }
        if let Some(old) = &old {
            if !replace {
                return Err(Error::AlreadyExists {
                    what: "volume",
                    name: target.to_string(),
                    hint: ": pass --replace to destroy it and take its name".into(),
                });
            }
            self.check_unmounted(&target, old.id, "replace it")?;
        }
        let op = {
            let tx = self.tx()?;
            let op = match &old {
                Some(old) => {
                    let op = Self::new_op(&tx, "destroy", &format!("replace {target} with {r}"))?;
                    tx.execute(
                        "UPDATE snapshots SET state = 'destroying', op_id = ?2 WHERE volume_id = ?1",
                        params![old.id, op],
                    )?;
                    // The replaced row gives up the name at once: `~` is not
                    // valid in a name, so no user object can collide with it.
                    tx.execute(
                        "UPDATE volumes SET state = 'destroying', op_id = ?2, name = ?3 WHERE id = ?1",
                        params![old.id, op, format!("~replaced-{}", old.id)],
                    )?;
                    Some(op)
                }
                None => None,
            };
            tx.execute(
                "UPDATE volumes SET name = ?2 WHERE id = ?1",
                params![vol.id, new_name.as_str()],
            )?;
            fault::point("rename.before_commit");
            tx.commit()?;
            op
        };
        fault::point("rename.after_commit");
        if let Some(op) = op {
            // Removes the replaced volume's data and rows; after a crash
            // here, the next open's reconcile does the same.
            self.undo_op(op)?;
        }
        Ok(Outcome {
            changed: true,
            value: Renamed {
                volume: self.volume_inspect(&target)?,
                replaced: old.map(|_| target.to_string()),
            },
        })
    }

    /// Takes a volume offline (`destroy` false), or destroys it. With `recursive`,
    /// its snapshots go too; clones made from them are independent and stay.
    pub fn volume_remove(
        &mut self,
        r: &VolRef,
        destroy: bool,
        recursive: bool,
    ) -> Result<Outcome<()>> {
        if !destroy {
            let o = self.volume_set_online(r, false)?;
            return Ok(Outcome {
                changed: o.changed,
                value: (),
            });
        }
        let _lock = self.begin()?;
        let vol = self.volume(r)?;
        self.check_unmounted(r, vol.id, "destroy it")?;
        let snaps = self.snapshots_of(vol.id)?;
        if !snaps.is_empty() && !recursive {
            let names: Vec<String> = snaps.iter().map(|s| format!("{r}@{}", s.name)).collect();
            return Err(Error::HasDependents {
                name: format!("volume {r}"),
                dependents: format!("it has snapshots {}", list_names(&names)),
                hint: "remove them with `populous snapshot rm`, or pass --recursive to destroy them too (clones made from them keep working)".into(),
            });
        }
        let folder = self.folder(&r.folder)?;
        let (pool, root) = self.folder_pool(&folder)?;
        let op = {
            let tx = self.tx()?;
            let op = Self::new_op(&tx, "destroy", &r.to_string())?;
            tx.execute(
                "UPDATE snapshots SET state = 'destroying', op_id = ?2 WHERE volume_id = ?1",
                params![vol.id, op],
            )?;
            tx.execute(
                "UPDATE volumes SET state = 'destroying', op_id = ?2 WHERE id = ?1",
                params![vol.id, op],
            )?;
            tx.commit()?;
            op
        };
        fault::point("volume_destroy.after_intent");
        let b = pool.backend.backend();
        for s in &snaps {
            b.destroy(&snap_path(&root, s.id))?;
        }
        b.destroy(&vol_path(&root, vol.id))?;
        fault::point("volume_destroy.after_fs");
        self.undo_op(op)?;
        Ok(Outcome {
            changed: true,
            value: (),
        })
    }

    // ----- snapshots -----------------------------------------------------------

    /// Takes a snapshot. The caller says how consistent it is: `App` only if it
    /// quiesced the application for the duration of this call.
    pub fn snapshot_create(
        &mut self,
        r: &SnapRef,
        consistency: Consistency,
    ) -> Result<SnapshotInfo> {
        let _lock = self.begin()?;
        let vol = self.volume(&r.vol)?;
        if self.snapshot_name_taken(vol.id, r.snapshot.as_str())? {
            return Err(Error::AlreadyExists {
                what: "snapshot",
                name: r.to_string(),
                hint: String::new(),
            });
        }
        let folder = self.folder(&r.vol.folder)?;
        let (pool, root) = self.folder_pool(&folder)?;
        let (op, id) = {
            let tx = self.tx()?;
            let op = Self::new_op(&tx, "create", &r.to_string())?;
            let id = insert_snapshot(&tx, &vol, r.snapshot.as_str(), consistency, op)?;
            tx.commit()?;
            (op, id)
        };
        fault::point("snapshot_create.after_intent");
        if let Err(e) = pool
            .backend
            .backend()
            .snapshot(&vol_path(&root, vol.id), &snap_path(&root, id))
        {
            self.undo_op(op)?;
            return Err(space_error(e, &pool.name, &format!("taking snapshot {r}")));
        }
        fault::point("snapshot_create.after_fs");
        let tx = self.tx()?;
        Self::finish_op(&tx, op)?;
        tx.commit()?;
        let (vol, snap) = self.snapshot(r)?;
        self.snapshot_info(&vol, &snap)
    }

    /// Takes a snapshot named `auto-<unix time>[-n]`, as `clone` does for a volume source.
    pub fn snapshot_create_auto(
        &mut self,
        vol: &VolRef,
        consistency: Consistency,
    ) -> Result<SnapshotInfo> {
        let id = self.volume(vol)?.id;
        let name = self.auto_snapshot_name(id)?;
        let r = SnapRef {
            vol: vol.clone(),
            snapshot: Name::from_stored(name),
        };
        self.snapshot_create(&r, consistency)
    }

    /// Snapshots of one volume, oldest first.
    pub fn snapshot_list(&self, r: &VolRef) -> Result<Vec<SnapshotInfo>> {
        let vol = self.volume(r)?;
        self.snapshots_of(vol.id)?
            .iter()
            .map(|s| self.snapshot_info(&vol, s))
            .collect()
    }

    /// Destroys a snapshot. Clones made from it are independent copies and keep
    /// working; their lineage keeps the snapshot's name, marked as gone.
    pub fn snapshot_remove(&mut self, r: &SnapRef) -> Result<()> {
        let _lock = self.begin()?;
        let (_, snap) = self.snapshot(r)?;
        let folder = self.folder(&r.vol.folder)?;
        let (pool, root) = self.folder_pool(&folder)?;
        let op = {
            let tx = self.tx()?;
            let op = Self::new_op(&tx, "destroy", &r.to_string())?;
            tx.execute(
                "UPDATE snapshots SET state = 'destroying', op_id = ?2 WHERE id = ?1",
                params![snap.id, op],
            )?;
            tx.commit()?;
            op
        };
        fault::point("snapshot_destroy.after_intent");
        pool.backend.backend().destroy(&snap_path(&root, snap.id))?;
        fault::point("snapshot_destroy.after_fs");
        self.undo_op(op)
    }

    // ----- clones --------------------------------------------------------------

    /// Clones a snapshot (or a volume, through a new snapshot named `auto-…`)
    /// into a new online volume, possibly in another folder of the same pool.
    pub fn clone_volume(
        &mut self,
        src: &CloneSource,
        dst: &VolRef,
        opts: &VolumeOptions,
    ) -> Result<VolumeInfo> {
        let _lock = self.begin()?;
        let (src_vol_ref, existing) = match src {
            CloneSource::Volume(v) => (v.clone(), None),
            CloneSource::Snapshot(s) => {
                let (_, snap) = self.snapshot(s)?;
                (s.vol.clone(), Some(snap))
            }
        };
        let src_vol = self.volume(&src_vol_ref)?;
        let from = self.folder(&src_vol_ref.folder)?;
        let to = self.folder(&dst.folder)?;
        self.check_same_pool(
            &from,
            &to,
            &format!("clone {src_vol_ref} into {}", dst.folder),
        )?;
        let masked = existing
            .as_ref()
            .map_or(src_vol.prov.masked, |s| s.prov.masked);
        Self::check_policy(
            &to,
            &from,
            true,
            masked,
            &format!("the source {src_vol_ref}"),
        )?;
        if self.volume_name_taken(to.id, &dst.volume)? {
            return Err(Error::AlreadyExists {
                what: "volume",
                name: dst.to_string(),
                hint: String::new(),
            });
        }
        let (pool, root) = self.folder_pool(&to)?;
        let snap_name = match &existing {
            Some(s) => s.name.clone(),
            None => self.auto_snapshot_name(src_vol.id)?,
        };
        let origin = format!("{src_vol_ref}@{snap_name}");
        let (op, snap_id, new_id) = {
            let tx = self.tx()?;
            let op = Self::new_op(&tx, "create", &format!("clone {origin} -> {dst}"))?;
            let (snap_id, prov) = match &existing {
                Some(s) => (s.id, s.prov.clone()),
                None => (
                    insert_snapshot(&tx, &src_vol, &snap_name, Consistency::Crash, op)?,
                    src_vol.prov.clone(),
                ),
            };
            tx.execute(
                "INSERT INTO volumes (folder_id, name, state, size_bytes, description, origin_snapshot_id, origin, \
                   masked, mask_ruleset, mask_key_id, masked_at, op_id, created_at) \
                 VALUES (?1, ?2, 'creating', ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
                params![
                    to.id,
                    dst.volume.as_str(),
                    opts.size.or(src_vol.size).map(|s| s as i64),
                    opts.description,
                    snap_id,
                    origin,
                    prov.masked as i64,
                    prov.mask_ruleset,
                    prov.mask_key_id,
                    prov.masked_at,
                    op,
                    now()
                ],
            )?;
            let new_id = tx.last_insert_rowid();
            insert_labels(&tx, new_id, &opts.labels)?;
            tx.commit()?;
            (op, snap_id, new_id)
        };
        fault::point("clone.after_intent");
        let b = pool.backend.backend();
        let made = (|| {
            if existing.is_none() {
                b.snapshot(&vol_path(&root, src_vol.id), &snap_path(&root, snap_id))?;
                fault::point("clone.after_snapshot");
            }
            b.clone_from(&snap_path(&root, snap_id), &vol_path(&root, new_id))?;
            apply_owner_mode(&vol_path(&root, new_id), opts)
        })();
        if let Err(e) = made {
            self.undo_op(op)?;
            return Err(space_error(
                e,
                &pool.name,
                &format!("cloning {origin} to {dst}"),
            ));
        }
        fault::point("clone.after_fs");
        let tx = self.tx()?;
        Self::finish_op(&tx, op)?;
        tx.commit()?;
        self.volume_inspect(dst)
    }

    fn auto_snapshot_name(&self, volume_id: i64) -> Result<String> {
        let base = format!("auto-{}", now());
        if !self.snapshot_name_taken(volume_id, &base)? {
            return Ok(base);
        }
        for n in 1.. {
            let candidate = format!("{base}-{n}");
            if !self.snapshot_name_taken(volume_id, &candidate)? {
                return Ok(candidate);
            }
        }
        unreachable!("an unbounded counter always finds a free name")
    }

    // ----- provenance ------------------------------------------------------------

    /// Records that a volume's data was masked. Snapshots taken later and
    /// clones of them inherit the record.
    pub fn volume_mark_masked(
        &mut self,
        r: &VolRef,
        ruleset: &str,
        key_id: &str,
    ) -> Result<VolumeInfo> {
        let _lock = self.begin()?;
        let vol = self.volume(r)?;
        self.db.execute(
            "UPDATE volumes SET masked = 1, mask_ruleset = ?2, mask_key_id = ?3, masked_at = ?4 WHERE id = ?1",
            params![vol.id, ruleset, key_id, now()],
        )?;
        self.volume_inspect(r)
    }

    // ----- consistency check -----------------------------------------------------

    /// Reconciles interrupted operations, then compares every available pool's
    /// data area with the metadata. With `repair`, removes orphaned directories.
    pub fn check(&mut self, repair: bool) -> Result<CheckReport> {
        let _lock = store::lock(&self.home)?;
        let mut report = CheckReport {
            reconciled_ops: self.reconcile()?,
            ..Default::default()
        };
        let pending: i64 = self
            .db
            .query_row("SELECT count(*) FROM ops", [], |r| r.get(0))?;
        if pending > 0 {
            report.missing.push(format!(
                "{pending} interrupted operation(s) could not be reconciled yet"
            ));
        }
        for pool in self.pools()? {
            let root = match self.pool_root(&pool) {
                Ok(r) => r,
                Err(e) => {
                    report.pools_unavailable.push(format!("{}: {e}", pool.name));
                    continue;
                }
            };
            report.pools_checked.push(name_unchecked(pool.name.clone()));
            for (sub, table) in [("vol", "volumes"), ("snap", "snapshots")] {
                let known: HashSet<i64> = {
                    let sql = if table == "volumes" {
                        "SELECT v.id FROM volumes v JOIN folders f ON f.id = v.folder_id WHERE f.pool_id = ?1"
                    } else {
                        "SELECT s.id FROM snapshots s JOIN volumes v ON v.id = s.volume_id \
                         JOIN folders f ON f.id = v.folder_id WHERE f.pool_id = ?1"
                    };
                    let mut st = self.db.prepare(sql)?;
                    let rows = st.query_map([pool.id], |r| r.get(0))?;
                    rows.collect::<rusqlite::Result<_>>()?
                };
                let dir = data_dir(&root).join(sub);
                let mut on_disk = HashSet::new();
                for e in fs::read_dir(&dir).map_err(Error::io("listing", &dir))? {
                    let e = e.map_err(Error::io("listing", &dir))?;
                    match e.file_name().to_str().and_then(|s| s.parse::<i64>().ok()) {
                        Some(id) if known.contains(&id) => {
                            on_disk.insert(id);
                        }
                        _ => report.orphans.push(e.path()),
                    }
                }
                for id in known.difference(&on_disk) {
                    report.missing.push(format!(
                        "{} {id} of pool {} has no directory",
                        &table[..table.len() - 1],
                        pool.name
                    ));
                }
            }
            if repair {
                for o in report.orphans.clone() {
                    if o.starts_with(data_dir(&root)) {
                        pool.backend.backend().destroy(&o)?;
                        report.removed.push(o);
                    }
                }
            }
        }
        if repair {
            let removed: HashSet<_> = report.removed.iter().cloned().collect();
            report.orphans.retain(|o| !removed.contains(o));
        }
        Ok(report)
    }
}

fn insert_snapshot(
    tx: &rusqlite::Transaction<'_>,
    vol: &VolRow,
    name: &str,
    consistency: Consistency,
    op: i64,
) -> Result<i64> {
    tx.execute(
        "INSERT INTO snapshots (volume_id, name, state, consistency, masked, mask_ruleset, mask_key_id, masked_at, op_id, created_at) \
         VALUES (?1, ?2, 'creating', ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        params![
            vol.id,
            name,
            consistency.as_str(),
            vol.prov.masked as i64,
            vol.prov.mask_ruleset,
            vol.prov.mask_key_id,
            vol.prov.masked_at,
            op,
            now()
        ],
    )?;
    Ok(tx.last_insert_rowid())
}

fn insert_labels(
    tx: &rusqlite::Transaction<'_>,
    volume_id: i64,
    labels: &[(String, String)],
) -> Result<()> {
    for (k, v) in labels {
        let key_ok = !k.is_empty()
            && k.len() <= 128
            && k.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'/'));
        if !key_ok || v.len() > 4096 {
            return Err(Error::InvalidInput {
                what: "label",
                detail: format!(
                    "{k:?}: keys are 1-128 of [A-Za-z0-9._/-], values at most 4096 bytes"
                ),
            });
        }
        tx.execute(
            "INSERT INTO labels (volume_id, key, value) VALUES (?1, ?2, ?3) \
             ON CONFLICT (volume_id, key) DO UPDATE SET value = excluded.value",
            params![volume_id, k, v],
        )?;
    }
    Ok(())
}

fn apply_owner_mode(path: &Path, opts: &VolumeOptions) -> Result<()> {
    if let Some((uid, gid)) = opts.owner {
        std::os::unix::fs::chown(path, Some(uid), Some(gid))
            .map_err(Error::io("changing owner", path))?;
    }
    if let Some(mode) = opts.mode {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(path, fs::Permissions::from_mode(mode))
            .map_err(Error::io("changing mode", path))?;
    }
    Ok(())
}

fn absolute(p: &Path) -> Result<PathBuf> {
    let parent = p
        .parent()
        .filter(|x| !x.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = p.file_name().ok_or_else(|| Error::InvalidInput {
        what: "image path",
        detail: format!("{} has no file name", p.display()),
    })?;
    let parent = fs::canonicalize(parent).map_err(Error::io("resolving directory of", parent))?;
    Ok(parent.join(name))
}

fn teardown_detail(image: Option<&Path>, mount_dir: &Path) -> String {
    format!(
        "{}\n{}",
        image
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_default(),
        mount_dir.to_string_lossy()
    )
}

fn parse_teardown_detail(detail: &str) -> (Option<PathBuf>, Option<PathBuf>) {
    let mut lines = detail.splitn(2, '\n');
    let nonempty = |s: Option<&str>| s.filter(|s| !s.is_empty()).map(PathBuf::from);
    let image = nonempty(lines.next());
    let mount = nonempty(lines.next());
    (image, mount)
}
