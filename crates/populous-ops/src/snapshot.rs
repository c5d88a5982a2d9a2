//! Snapshots and clones that are as consistent as the volume allows.
//!
//! A volume with a running MariaDB server (one started by [`crate::db`]) is
//! snapshotted under `BACKUP STAGE BLOCK_COMMIT` (or `FLUSH TABLES WITH READ
//! LOCK`), held for the milliseconds the snapshot takes, and the snapshot is
//! recorded as application-consistent. Without a server the snapshot is
//! crash-consistent, recorded as such, and InnoDB recovers it at start. Every
//! adapter goes through here, so a REST clone and a CLI clone of a running
//! database are the same thing.

use populous_engine::{
    CloneSource, Consistency, Engine, SnapRef, SnapshotInfo, VolRef, VolumeInfo, VolumeOptions,
};

use crate::{db, Result};

/// Takes a snapshot; application-consistent when a server runs on the volume.
pub fn snapshot(engine: &mut Engine, r: &SnapRef) -> Result<SnapshotInfo> {
    match db::running(engine.home(), &r.vol) {
        None => Ok(engine.snapshot_create(r, Consistency::Crash)?),
        Some(i) => {
            let guard = populous_db::quiesce(&i.socket_url())?;
            let taken = engine.snapshot_create(r, Consistency::App);
            guard.release()?;
            Ok(taken?)
        }
    }
}

/// Clones `src` to `dst`. A clone of a volume (no `@snap`) takes a new
/// snapshot first, application-consistent when a server runs on the volume;
/// a clone of a named snapshot uses it as it is.
pub fn clone(
    engine: &mut Engine,
    src: &CloneSource,
    dst: &VolRef,
    opts: &VolumeOptions,
) -> Result<VolumeInfo> {
    let CloneSource::Volume(v) = src else {
        return Ok(engine.clone_volume(src, dst, opts)?);
    };
    let Some(i) = db::running(engine.home(), v) else {
        return Ok(engine.clone_volume(src, dst, opts)?);
    };
    // Every check before the snapshot: a refused clone leaves no `auto-…`
    // snapshot behind and never pauses the source's writers.
    engine.clone_check(src, dst, opts)?;
    let guard = populous_db::quiesce(&i.socket_url())?;
    let snap = engine.snapshot_create_auto(v, Consistency::App);
    guard.release()?;
    let snap_ref = SnapRef {
        vol: v.clone(),
        snapshot: snap?.name,
    };
    Ok(engine.clone_volume(&CloneSource::Snapshot(snap_ref), dst, opts)?)
}
