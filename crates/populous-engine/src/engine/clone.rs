//! Clones, imports and renames: how a volume's data reaches a new name or
//! folder without being copied (the copy backend aside).

use super::folder::check_policy;
use super::volume::apply_owner_mode;
use super::{already_exists, now, snap_path, space_error, stored, vol_path, Engine};
use crate::error::{Case, Error, Result};
use crate::fault;
use crate::model::{
    Consistency, LineageStep, Outcome, Renamed, VolumeInfo, VolumeOptions, VolumeState,
};
use crate::name::{CloneSource, Name, VolRef};
use crate::store::snapshots;
use crate::store::state::{OpKind, VolState};
use crate::store::volumes::{self, NewVolume};

impl Engine {
    /// Clones a snapshot (or a volume, through a new snapshot named `auto-…`)
    /// into a new online volume, possibly in another folder of the same pool.
    ///
    /// The returned [`VolumeInfo`] is built from what the clone made, not read
    /// back: a new clone has no snapshots or mounts, and its `used_bytes` is
    /// `None` (unmeasured) because measuring means walking the whole new tree,
    /// which would cost more than the clone itself; [`Engine::volume_inspect`]
    /// measures it.
    pub fn clone_volume(
        &mut self,
        src: &CloneSource,
        dst: &VolRef,
        opts: &VolumeOptions,
    ) -> Result<VolumeInfo> {
        let _lock = self.begin()?;
        let Checked {
            src_vol_ref,
            existing,
            src_vol,
            to,
        } = self.clone_checked(src, dst, opts)?;
        let (pool, root) = self.folder_pool(&to)?;
        let snap_name = match &existing {
            Some(s) => s.name.clone(),
            None => self.auto_snapshot_name(src_vol.id)?,
        };
        let origin = format!("{src_vol_ref}@{snap_name}");
        let prov = existing.as_ref().map_or(&src_vol.prov, |s| &s.prov).clone();
        let size = opts.size.or(src_vol.size);
        let created_at = now();
        let (op, (snap_id, new_id)) = self.intent(
            OpKind::Create,
            &format!("clone {origin} -> {dst}"),
            |tx, op| {
                let snap_id = match &existing {
                    Some(s) => s.id,
                    None => snapshots::insert(
                        tx,
                        src_vol.id,
                        &src_vol.prov,
                        &snap_name,
                        Consistency::Crash,
                        op,
                        created_at,
                    )?,
                };
                let new_id = volumes::insert(
                    tx,
                    &NewVolume {
                        folder_id: to.id,
                        name: dst.volume.as_str(),
                        size,
                        description: opts.description.as_deref(),
                        origin_snapshot_id: Some(snap_id),
                        origin: Some(&origin),
                        prov: &prov,
                        op,
                        created_at,
                    },
                )?;
                volumes::set_labels(tx, new_id, &opts.labels)?;
                if opts.expires_at.is_some() || opts.idle_after.is_some() {
                    let l = crate::store::lifecycle::LifecycleRow {
                        expires_at: opts.expires_at,
                        idle_after: opts.idle_after,
                        ..Default::default()
                    };
                    crate::store::lifecycle::set(tx, new_id, &l)?;
                }
                Ok((snap_id, new_id))
            },
        )?;
        fault::point("clone.after_intent");
        let b = pool.backend.backend();
        let path = vol_path(&root, new_id);
        let made = (|| {
            if existing.is_none() {
                b.snapshot(&vol_path(&root, src_vol.id), &snap_path(&root, snap_id))?;
                fault::point("clone.after_snapshot");
            }
            b.clone_from(&snap_path(&root, snap_id), &path)?;
            apply_owner_mode(&path, opts, None)
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
        self.finish_op(op)?;
        // The clone's ancestry is its origin snapshot, then the source's own.
        let mut lineage = vec![LineageStep {
            snapshot: origin.clone(),
            exists: true,
            taken_at: Some(existing.as_ref().map_or(created_at, |s| s.created_at)),
        }];
        lineage.extend(self.lineage(&src_vol)?);
        Ok(VolumeInfo {
            folder: dst.folder.clone(),
            name: dst.volume.clone(),
            pool: stored(&pool.name),
            state: VolumeState::Online,
            path,
            size_bytes: size,
            used_bytes: None,
            used_bytes_at: None,
            description: opts.description.clone(),
            origin: Some(origin),
            lineage,
            snapshots: Vec::new(),
            provenance: prov,
            labels: opts.labels.iter().cloned().collect(),
            mounts: Vec::new(),
            lifecycle: crate::Lifecycle {
                expires_at: opts.expires_at,
                idle_after: opts.idle_after,
                ..Default::default()
            },
            created_at,
        })
    }

    /// Every check [`Engine::clone_volume`] makes, without making anything:
    /// an adapter that must do something first (quiesce a database, take a
    /// snapshot) calls this so that a refused clone changes nothing.
    pub fn clone_check(&self, src: &CloneSource, dst: &VolRef, opts: &VolumeOptions) -> Result<()> {
        self.clone_checked(src, dst, opts).map(drop)
    }

    fn clone_checked(
        &self,
        src: &CloneSource,
        dst: &VolRef,
        opts: &VolumeOptions,
    ) -> Result<Checked> {
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
        let prov = existing.as_ref().map_or(&src_vol.prov, |s| &s.prov);
        check_policy(&to, &from, true, prov, &format!("the source {src_vol_ref}"))?;
        if volumes::name_taken(&self.db, to.id, dst.volume.as_str())? {
            return Err(already_exists("volume", dst, Case::General));
        }
        volumes::validate_labels(&opts.labels)?;
        Ok(Checked {
            src_vol_ref,
            existing,
            src_vol,
            to,
        })
    }

    /// Moves an offline volume, with its snapshots, into another folder of the same pool,
    /// and brings it online there. `rename` gives it a new name on the way.
    pub fn volume_import(
        &mut self,
        r: &VolRef,
        to: &Name,
        rename: Option<&Name>,
    ) -> Result<VolumeInfo> {
        self.import(r, to, rename, false)
    }

    /// As [`Engine::volume_import`], for a volume that may still be online
    /// (Nimble's `forceImport`), as long as nothing mounts it. Every check
    /// comes first and the move is one transaction: a refused import leaves
    /// the volume where and as it was.
    pub fn volume_import_online(
        &mut self,
        r: &VolRef,
        to: &Name,
        rename: Option<&Name>,
    ) -> Result<VolumeInfo> {
        self.import(r, to, rename, true)
    }

    fn import(
        &mut self,
        r: &VolRef,
        to: &Name,
        rename: Option<&Name>,
        online_too: bool,
    ) -> Result<VolumeInfo> {
        let _lock = self.begin()?;
        let vol = self.volume(r)?;
        let from = self.folder(&r.folder)?;
        let dest = self.folder(to)?;
        if online_too && vol.state == VolState::Online {
            self.check_unmounted(r, vol.id, "import it")?;
        } else if vol.state != VolState::Offline {
            return Err(Error::WrongState {
                name: r.to_string(),
                state: vol.state.as_str().to_owned(),
                detail: "only offline volumes can be imported".into(),
                case: Case::VolumeOnline,
            });
        }
        self.check_same_pool(&from, &dest, &format!("import {r} into {to}"))?;
        check_policy(&dest, &from, false, &vol.prov, &format!("volume {r}"))?;
        let new_name = rename.unwrap_or(&r.volume);
        let target = VolRef {
            folder: to.clone(),
            volume: new_name.clone(),
        };
        if volumes::name_taken(&self.db, dest.id, new_name.as_str())? {
            return Err(already_exists("volume", &target, Case::ImportTargetExists));
        }
        let tx = self.tx()?;
        volumes::move_online(&tx, vol.id, dest.id, new_name.as_str())?;
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
        self.rename(r, new_name, replace, None)
    }

    /// Renames a volume that only `holder` mounts (Populous's own database
    /// server, which knows its volume by id): a warm clone taking the name
    /// a user asked for. Never replaces a volume.
    pub fn volume_rename_held(
        &mut self,
        r: &VolRef,
        new_name: &Name,
        holder: &str,
    ) -> Result<Outcome<Renamed>> {
        self.rename(r, new_name, false, Some(holder))
    }

    fn rename(
        &mut self,
        r: &VolRef,
        new_name: &Name,
        replace: bool,
        holder: Option<&str>,
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
        let held_only = holder.is_some_and(|h| {
            volumes::mounts(&self.db, vol.id).is_ok_and(|m| m.iter().all(|x| x == h))
        });
        if !held_only {
            self.check_unmounted(r, vol.id, "rename it")?;
        }
        let old = match self.volume(&target) {
            Ok(old) => Some(old),
            Err(Error::NotFound { .. }) => None,
            Err(e) => return Err(e),
        };
        if old.is_none() && volumes::name_taken(&self.db, folder_id, new_name.as_str())? {
            return Err(Error::WrongState {
                name: target.to_string(),
                state: "being created or destroyed".into(),
                detail: "another operation holds that name".into(),
                case: Case::NameInFlux,
            });
        }
        if let Some(old) = &old {
            if !replace {
                return Err(already_exists("volume", &target, Case::RenameTargetExists));
            }
            self.check_unmounted(&target, old.id, "replace it")?;
            self.check_not_a_replica(&target, old.id, "replace it")?;
        }
        let tx = self.tx()?;
        let op = match &old {
            Some(old) => {
                let op = crate::store::ops::insert(
                    &tx,
                    OpKind::Destroy,
                    &format!("replace {target} with {r}"),
                    now(),
                )?;
                snapshots::begin_destroy_of_volume(&tx, old.id, op)?;
                // The replaced row gives up the name at once: `~` is not
                // valid in a name, so no user object can collide with it.
                let freed = format!("~replaced-{}", old.id);
                volumes::begin_destroy(&tx, old.id, op, Some(freed.as_str()))?;
                Some(op)
            }
            None => None,
        };
        volumes::rename(&tx, vol.id, new_name.as_str())?;
        fault::point("rename.before_commit");
        tx.commit()?;
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
}

/// What the checks of a clone found, for the clone to use.
struct Checked {
    src_vol_ref: VolRef,
    existing: Option<snapshots::SnapRow>,
    src_vol: volumes::VolRow,
    to: crate::store::folders::FolderRow,
}
