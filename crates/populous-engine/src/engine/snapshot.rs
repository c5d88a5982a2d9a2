//! Snapshots: point-in-time, read-only copies of a volume that clones start from.

use super::{already_exists, now, snap_path, space_error, stored, vol_path, Engine};
use crate::error::{Case, Result};
use crate::fault;
use crate::model::{Consistency, SnapshotInfo};
use crate::name::{Name, SnapRef, VolRef};
use crate::store::snapshots::{self, SnapRow};
use crate::store::state::OpKind;
use crate::store::volumes::VolRow;

impl Engine {
    pub(super) fn snapshot_info(&self, vol: &VolRow, s: &SnapRow) -> Result<SnapshotInfo> {
        Ok(SnapshotInfo {
            folder: stored(&vol.folder),
            volume: stored(&vol.name),
            name: stored(&s.name),
            consistency: s.consistency,
            provenance: s.prov.clone(),
            clones: snapshots::clones(&self.db, s.id)?,
            created_at: s.created_at,
        })
    }

    /// Takes a snapshot. The caller says how consistent it is: `App` only if it
    /// quiesced the application for the duration of this call.
    pub fn snapshot_create(
        &mut self,
        r: &SnapRef,
        consistency: Consistency,
    ) -> Result<SnapshotInfo> {
        let _lock = self.begin()?;
        let vol = self.volume(&r.vol)?;
        if snapshots::name_taken(&self.db, vol.id, r.snapshot.as_str())? {
            return Err(already_exists("snapshot", r, Case::General));
        }
        let folder = self.folder(&r.vol.folder)?;
        let (pool, root) = self.folder_pool(&folder)?;
        let (op, id) = self.intent(OpKind::Create, &r.to_string(), |tx, op| {
            snapshots::insert(
                tx,
                vol.id,
                &vol.prov,
                r.snapshot.as_str(),
                consistency,
                op,
                now(),
            )
        })?;
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
        self.finish_op(op)?;
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
        snapshots::of_volume(&self.db, vol.id)?
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
        let (op, ()) = self.intent(OpKind::Destroy, &r.to_string(), |tx, op| {
            snapshots::begin_destroy(tx, snap.id, op)
        })?;
        fault::point("snapshot_destroy.after_intent");
        pool.backend.backend().destroy(&snap_path(&root, snap.id))?;
        fault::point("snapshot_destroy.after_fs");
        self.undo_op(op)
    }

    /// A free snapshot name for a volume: `auto-<unix time>`, with `-n` if taken.
    pub(super) fn auto_snapshot_name(&self, volume_id: i64) -> Result<String> {
        let base = format!("auto-{}", now());
        if !snapshots::name_taken(&self.db, volume_id, &base)? {
            return Ok(base);
        }
        for n in 1.. {
            let candidate = format!("{base}-{n}");
            if !snapshots::name_taken(&self.db, volume_id, &candidate)? {
                return Ok(candidate);
            }
        }
        unreachable!("an unbounded counter always finds a free name")
    }
}
