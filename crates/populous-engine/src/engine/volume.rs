//! Volumes: create, look at, take offline or online, label, mark masked, destroy.

use std::collections::HashSet;
use std::fs;
use std::path::{Path, PathBuf};

use super::{already_exists, list_names, now, snap_path, space_error, stored, vol_path, Engine};
use crate::error::{Case, Error, Result};
use crate::fault;
use crate::model::{
    LineageStep, MaskScan, Outcome, Provenance, VolumeInfo, VolumeOptions, VolumeSummary,
    VolumeUsage,
};
use crate::name::{Name, VolRef};
use crate::store::pools::{self, PoolRow};
use crate::store::snapshots;
use crate::store::state::{OpKind, VolState};
use crate::store::volumes::{self, NewVolume, VolRow};
use crate::sys;

impl Engine {
    /// Creates an empty, online volume.
    pub fn volume_create(&mut self, r: &VolRef, opts: &VolumeOptions) -> Result<VolumeInfo> {
        let _lock = self.begin()?;
        let folder = self.folder(&r.folder)?;
        let (pool, root) = self.folder_pool(&folder)?;
        // Pools made by older versions have 0755 data directories.
        super::pool::restrict_data_dir(&root)?;
        if volumes::name_taken(&self.db, folder.id, r.volume.as_str())? {
            return Err(already_exists("volume", r, Case::General));
        }
        volumes::validate_labels(&opts.labels)?;
        let (op, id) = self.intent(OpKind::Create, &r.to_string(), |tx, op| {
            let id = volumes::insert(
                tx,
                &NewVolume {
                    folder_id: folder.id,
                    name: r.volume.as_str(),
                    size: opts.size,
                    description: opts.description.as_deref(),
                    origin_snapshot_id: None,
                    origin: None,
                    prov: &Default::default(),
                    op,
                    created_at: now(),
                },
            )?;
            volumes::set_labels(tx, id, &opts.labels)?;
            if opts.expires_at.is_some() || opts.idle_after.is_some() {
                let l = crate::store::lifecycle::LifecycleRow {
                    expires_at: opts.expires_at,
                    idle_after: opts.idle_after,
                    ..Default::default()
                };
                crate::store::lifecycle::set(tx, id, &l)?;
            }
            Ok(id)
        })?;
        fault::point("volume_create.after_intent");
        let path = vol_path(&root, id);
        let made = pool
            .backend
            .backend()
            .create(&path)
            .and_then(|()| apply_owner_mode(&path, opts, Some(DEFAULT_VOLUME_MODE)));
        if let Err(e) = made {
            self.undo_op(op)?;
            return Err(space_error(e, &pool.name, &format!("creating volume {r}")));
        }
        fault::point("volume_create.after_fs");
        self.finish_op(op)?;
        self.volume_inspect(r)
    }

    /// Volumes, online ones only unless `all`; of one folder or of every folder.
    pub fn volume_list(&self, folder: Option<&Name>, all: bool) -> Result<Vec<VolumeSummary>> {
        let folder_id = match folder {
            Some(f) => Some(self.folder(f)?.id),
            None => None,
        };
        volumes::list(&self.db, folder_id, all)
    }

    /// The ancestry of a volume, nearest first, through origin snapshots that
    /// may be gone (the walk stops there) and volumes that may be renamed.
    pub(super) fn lineage(&self, vol: &VolRow) -> Result<Vec<LineageStep>> {
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
            let snap = snapshots::by_id(&self.db, snap_id)?;
            let parent = volumes::by_id(&self.db, snap.volume_id)?;
            steps.push(LineageStep {
                snapshot: format!("{}/{}@{}", parent.folder, parent.name, snap.name),
                exists: true,
                taken_at: Some(snap.created_at),
            });
            cur = parent;
        }
        Ok(steps)
    }

    /// Everything the store knows about one volume, online or offline. Its
    /// files are not walked, so `used_bytes` is `None`: a walk of a large
    /// tree costs far more than the rest and a reader must not pay it on
    /// every look. [`Engine::volume_usage`] measures it.
    pub fn volume_inspect(&self, r: &VolRef) -> Result<VolumeInfo> {
        let (vol, pool, path, _) = self.located(r)?;
        let snapshots = snapshots::of_volume(&self.db, vol.id)?
            .iter()
            .map(|s| self.snapshot_info(&vol, s))
            .collect::<Result<Vec<_>>>()?;
        Ok(VolumeInfo {
            folder: r.folder.clone(),
            name: r.volume.clone(),
            pool: stored(&pool.name),
            state: vol.state.public(),
            used_bytes: None,
            used_bytes_at: None,
            path,
            size_bytes: vol.size,
            description: vol.description.clone(),
            origin: vol.origin.clone(),
            lineage: self.lineage(&vol)?,
            snapshots,
            provenance: vol.prov.clone(),
            labels: volumes::labels(&self.db, vol.id)?,
            mounts: volumes::mounts(&self.db, vol.id)?,
            lifecycle: crate::store::lifecycle::get(&self.db, vol.id)?.into(),
            created_at: vol.created_at,
        })
    }

    /// Measures a volume's usage by walking its whole tree (the one walk
    /// every adapter uses). Costs in proportion to the number of files.
    pub fn volume_usage(&self, r: &VolRef) -> Result<VolumeUsage> {
        let (_, _, path, available) = self.located(r)?;
        let measured_at = now();
        Ok(VolumeUsage {
            used_bytes: available.then(|| sys::used_bytes(&path)),
            path,
            measured_at,
        })
    }

    /// [`Engine::volume_inspect`] with its usage measured now.
    pub fn volume_inspect_measured(&self, r: &VolRef) -> Result<VolumeInfo> {
        let usage = self.volume_usage(r)?;
        Ok(self.volume_inspect(r)?.with_usage(&usage))
    }

    /// A volume's row, its pool, its directory and whether the pool is
    /// there to look at (an unavailable pool still has a path to show).
    fn located(&self, r: &VolRef) -> Result<(VolRow, PoolRow, PathBuf, bool)> {
        let folder = self.folder(&r.folder)?;
        let vol = self.volume(r)?;
        let pool = pools::by_id(&self.db, folder.pool_id)?;
        let root = self.pool_root(&pool).ok();
        let path = vol_path(root.as_deref().unwrap_or(&pool.root), vol.id);
        Ok((vol, pool, path, root.is_some()))
    }

    /// Removes labels from a volume (missing ones are no error).
    pub fn volume_unset_labels(&mut self, r: &VolRef, keys: &[&str]) -> Result<VolumeInfo> {
        let _lock = self.begin()?;
        let vol = self.volume(r)?;
        let tx = self.tx()?;
        volumes::unset_labels(&tx, vol.id, keys)?;
        tx.commit()?;
        self.volume_inspect(r)
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
        volumes::set_labels(&tx, vol.id, labels)?;
        tx.commit()?;
        self.volume_inspect(r)
    }

    /// The host directory a consumer mounts. Only online volumes have one to give.
    pub fn volume_path(&self, r: &VolRef) -> Result<PathBuf> {
        let vol = self.volume(r)?;
        if vol.state != VolState::Online {
            return Err(Error::WrongState {
                name: r.to_string(),
                state: vol.state.as_str().to_owned(),
                detail: "offline volumes cannot be mounted".into(),
                case: Case::VolumeOffline,
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
        let want = if online {
            VolState::Online
        } else {
            VolState::Offline
        };
        let changed = vol.state != want;
        if changed && !online {
            self.check_unmounted(r, vol.id, "take it offline")?;
        }
        if changed {
            volumes::set_state(&self.db, vol.id, want)?;
        }
        Ok(Outcome {
            changed,
            value: self.volume_inspect(r)?,
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
        self.check_not_a_replica(r, vol.id, "destroy it")?;
        let snaps = snapshots::of_volume(&self.db, vol.id)?;
        if !snaps.is_empty() && !recursive {
            let names: Vec<String> = snaps.iter().map(|s| format!("{r}@{}", s.name)).collect();
            return Err(Error::HasDependents {
                name: format!("volume {r}"),
                dependents: format!("it has snapshots {}", list_names(&names)),
                case: Case::VolumeHasSnapshots,
            });
        }
        let folder = self.folder(&r.folder)?;
        let (pool, root) = self.folder_pool(&folder)?;
        let (op, ()) = self.intent(OpKind::Destroy, &r.to_string(), |tx, op| {
            snapshots::begin_destroy_of_volume(tx, vol.id, op)?;
            volumes::begin_destroy(tx, vol.id, op, None)
        })?;
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

    /// Records that a volume's data was masked. Snapshots taken later and
    /// clones of them inherit the record.
    pub fn volume_mark_masked(
        &mut self,
        r: &VolRef,
        ruleset: &str,
        key_id: &str,
        scan: &MaskScan,
    ) -> Result<VolumeInfo> {
        let _lock = self.begin()?;
        let vol = self.volume(r)?;
        let prov = Provenance {
            masked: true,
            mask_ruleset: Some(ruleset.to_owned()),
            mask_key_id: Some(key_id.to_owned()),
            masked_at: Some(now()),
            scan: Some(scan.clone()),
        };
        volumes::mark_masked(&self.db, vol.id, &prov)?;
        self.volume_inspect(r)
    }

    /// Records that a scan found originals in a volume's files: it is not
    /// masked, whatever was recorded before, and the failed scan is kept
    /// for `inspect` to show.
    pub fn volume_mark_unmasked(&mut self, r: &VolRef, scan: &MaskScan) -> Result<VolumeInfo> {
        let _lock = self.begin()?;
        let vol = self.volume(r)?;
        let prov = Provenance {
            scan: Some(scan.clone()),
            ..Provenance::default()
        };
        volumes::mark_masked(&self.db, vol.id, &prov)?;
        self.volume_inspect(r)
    }
}

/// The mode of a new, empty volume's root unless the caller asks for
/// another (`fsMode`): volumes hold copies of production data, and other
/// local users have no business reading them. Nothing that uses a volume
/// needs more: `populous db` gives the root to the server's user (it chowns
/// the datadir), Docker reaches it through a bind mount as root or as the
/// owner set with `fsOwner`. Clones and snapshots keep their source's mode.
pub const DEFAULT_VOLUME_MODE: u32 = 0o700;

/// Sets the owner and mode a caller asked for on a new volume's root, or
/// `default_mode` when no mode was asked for.
///
/// Changing the owner needs root (or the owner being the caller already);
/// nothing is changed unless asked, so unprivileged use works without it.
pub(super) fn apply_owner_mode(
    path: &Path,
    opts: &VolumeOptions,
    default_mode: Option<u32>,
) -> Result<()> {
    if let Some((uid, gid)) = opts.owner {
        std::os::unix::fs::chown(path, Some(uid), Some(gid))
            .map_err(Error::io("changing owner", path))?;
    }
    if let Some(mode) = opts.mode.or(default_mode) {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(path, fs::Permissions::from_mode(mode))
            .map_err(Error::io("changing mode", path))?;
    }
    Ok(())
}
