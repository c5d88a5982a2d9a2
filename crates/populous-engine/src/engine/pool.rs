//! Pools: made on an image file Populous formats and mounts, or adopted from
//! a directory on a filesystem that is already mounted.

use std::fs;
use std::path::{Path, PathBuf};

use super::intent::teardown_detail;
use super::{already_exists, data_dir, list_names, now, stored, Engine, TOKEN_FILE};
use crate::backend::BackendKind;
use crate::error::{Case, Error, Result};
use crate::fault;
use crate::model::PoolInfo;
use crate::name::Name;
use crate::store::pools::{self, NewPool, PoolRow};
use crate::store::{ops, state::OpKind};
use crate::sys::{self, FsKind};

/// The smallest image a pool can be made on (mkfs.btrfs and mkfs.xfs need about this).
const MIN_IMAGE: u64 = 320 << 20;

impl Engine {
    fn check_pool_name_free(&self, name: &Name) -> Result<()> {
        if pools::by_name(&self.db, name.as_str())?.is_some() {
            return Err(already_exists("pool", name, Case::General));
        }
        Ok(())
    }

    fn check_root_free(&self, root: &Path) -> Result<()> {
        for p in pools::all(&self.db)? {
            if p.root.starts_with(root) || root.starts_with(&p.root) {
                return Err(Error::AlreadyExists {
                    what: "pool at",
                    name: root.display().to_string(),
                    hint: format!(": it overlaps pool {} at {}", p.name, p.root.display()),
                    case: Case::General,
                });
            }
        }
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
        if size < MIN_IMAGE {
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
            return Err(already_exists(
                "image file",
                &image.display(),
                Case::ImageExists,
            ));
        }
        let mount_dir = self.home.join("pools").join(name.as_str());
        if sys::is_mountpoint(&mount_dir)? {
            return Err(Error::AlreadyExists {
                what: "mount at",
                name: mount_dir.display().to_string(),
                hint: ": unmount it first".into(),
                case: Case::General,
            });
        }
        self.check_root_free(&mount_dir)?;
        let detail = teardown_detail(Some(&image), &mount_dir);
        let (op, ()) = self.intent(OpKind::PoolCreate, &detail, |_, _| Ok(()))?;
        fault::point("pool_create.after_intent");
        let token = sys::random_token()?;
        let made = (|| {
            sys::make_image(&image, size, fs_kind)?;
            fault::point("pool_create.after_mkfs");
            sys::mount_image(&image, &mount_dir)?;
            fault::point("pool_create.after_mount");
            init_data_dir(&mount_dir, &token)?;
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
        let id = pools::insert(
            &tx,
            &NewPool {
                name: name.as_str(),
                root: &mount_dir,
                backend: kind,
                fs: &fs_name,
                image: Some(&image),
                token: &token,
                created_at: now(),
            },
        )?;
        ops::delete(&tx, op)?;
        tx.commit()?;
        self.pool_info(&pools::by_id(&self.db, id)?)
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
            let busy = fs::read_dir(dd.join(sub))
                .map(|mut d| d.next().is_some())
                .unwrap_or(false);
            if busy {
                return Err(Error::AlreadyExists {
                    what: "pool data at",
                    name: dd.display().to_string(),
                    hint: ": it holds volumes of another Populous home; use that home, or pick an empty directory".into(),
                    case: Case::General,
                });
            }
        }
        let (kind, fs_name) = sys::choose_backend(&root, backend)?;
        let token = sys::random_token()?;
        init_data_dir(&root, &token)?;
        let id = pools::insert(
            &self.db,
            &NewPool {
                name: name.as_str(),
                root: &root,
                backend: kind,
                fs: &fs_name,
                image: None,
                token: &token,
                created_at: now(),
            },
        )?;
        self.pool_info(&pools::by_id(&self.db, id)?)
    }

    fn pool_info(&self, p: &PoolRow) -> Result<PoolInfo> {
        let root = self.pool_root(p);
        let space = root.as_ref().ok().and_then(|r| sys::space(r).ok());
        Ok(PoolInfo {
            name: stored(&p.name),
            root: p.root.clone(),
            backend: p.backend,
            fs: p.fs.clone(),
            image: p.image.clone(),
            available: root.is_ok(),
            total_bytes: space.map(|s| s.total),
            free_bytes: space.map(|s| s.available),
            folders: pools::folder_count(&self.db, p.id)?,
            created_at: p.created_at,
        })
    }

    /// All pools. Image pools that are not mounted are mounted on the way.
    pub fn pool_list(&self) -> Result<Vec<PoolInfo>> {
        pools::all(&self.db)?
            .iter()
            .map(|p| self.pool_info(p))
            .collect()
    }

    /// Removes an empty pool. Image pools are unmounted and their image deleted;
    /// adopted directories lose only Populous's data area.
    pub fn pool_remove(&mut self, name: &Name) -> Result<()> {
        let _lock = self.begin()?;
        let pool = self.pool_by_name(name)?;
        let folders = pools::folder_names(&self.db, pool.id)?;
        if !folders.is_empty() {
            return Err(Error::HasDependents {
                name: format!("pool {name}"),
                dependents: format!("it holds folders {}", list_names(&folders)),
                case: Case::PoolHasFolders,
            });
        }
        if pool.image.is_none() {
            // An adopted directory: remove only our (empty) data area.
            if let Ok(root) = self.pool_root(&pool) {
                remove_data_dir(name, &root)?;
            }
            return pools::delete(&self.db, pool.id);
        }
        let detail = teardown_detail(pool.image.as_deref(), &pool.root);
        let (op, ()) = self.intent(OpKind::PoolRemove, &detail, |tx, _| {
            pools::delete(tx, pool.id)
        })?;
        self.finish_pool_teardown(op, &detail)
    }
}

/// The mode of a pool's `vol` and `snap` directories: other users may pass
/// through (the `mysql` user of `populous db` reaches its datadir inside a
/// volume this way) but not list them. What is inside a volume is guarded by
/// the volume root's own mode ([`super::volume::DEFAULT_VOLUME_MODE`]).
pub const DATA_SUBDIR_MODE: u32 = 0o711;

/// Prepares the data area of a freshly mounted or adopted pool root.
fn init_data_dir(root: &Path, token: &str) -> Result<()> {
    let dd = data_dir(root);
    for sub in ["vol", "snap"] {
        let p = dd.join(sub);
        fs::create_dir_all(&p).map_err(Error::io("creating", &p))?;
    }
    restrict_data_dir(root)?;
    // Write-then-rename so the token file is either absent or whole.
    let tmp = dd.join(format!("{TOKEN_FILE}.tmp"));
    fs::write(&tmp, format!("{token}\n")).map_err(Error::io("writing", &tmp))?;
    let f = fs::File::open(&tmp).map_err(Error::io("opening", &tmp))?;
    f.sync_all().map_err(Error::io("syncing", &tmp))?;
    fs::rename(&tmp, dd.join(TOKEN_FILE)).map_err(Error::io("renaming", &tmp))?;
    Ok(())
}

/// Gives the pool's `vol` and `snap` directories [`DATA_SUBDIR_MODE`],
/// whatever the umask was or an older version left (0755).
pub(super) fn restrict_data_dir(root: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    for sub in ["vol", "snap"] {
        let p = data_dir(root).join(sub);
        let mode = fs::metadata(&p)
            .map_err(Error::io("reading", &p))?
            .permissions()
            .mode();
        if mode & 0o777 != DATA_SUBDIR_MODE {
            fs::set_permissions(&p, fs::Permissions::from_mode(DATA_SUBDIR_MODE))
                .map_err(Error::io("changing mode", &p))?;
        }
    }
    Ok(())
}

/// Removes an adopted pool's data area, which must hold no volume or snapshot.
fn remove_data_dir(name: &Name, root: &Path) -> Result<()> {
    let dd = data_dir(root);
    for sub in ["vol", "snap"] {
        let p = dd.join(sub);
        match fs::remove_dir(&p) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(Error::HasDependents {
                    name: format!("pool {name}"),
                    dependents: format!("{} is not empty ({e})", p.display()),
                    case: Case::PoolDataNotEmpty,
                })
            }
            _ => {}
        }
    }
    // Best effort: what is left is ours and harmless, and the pool row goes anyway.
    let _ = fs::remove_file(dd.join(TOKEN_FILE));
    let _ = fs::remove_dir(&dd);
    Ok(())
}

/// `p` made absolute through its (existing) directory, which need not be the cwd.
fn absolute(p: &Path) -> Result<PathBuf> {
    let parent = p
        .parent()
        .filter(|x| !x.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = p.file_name().ok_or_else(|| Error::InvalidInput {
        what: "image path",
        detail: format!("{} has no file name", p.display()),
    })?;
    let parent = fs::canonicalize(parent).map_err(|e| match e.kind() {
        // The caller's path: a missing or closed directory is theirs to fix.
        std::io::ErrorKind::NotFound => Error::NotFound {
            what: "directory",
            name: parent.display().to_string(),
            hint: String::new(),
        },
        std::io::ErrorKind::PermissionDenied => Error::PermissionDenied {
            doing: "cannot reach directory",
            path: parent.to_owned(),
        },
        _ => Error::io("resolving directory of", parent)(e),
    })?;
    Ok(parent.join(name))
}
