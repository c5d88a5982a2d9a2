//! Creating a volume, whatever its data comes from, as one operation.
//!
//! The Docker plugin's `Create` (with Nimble's `cloneOf`, `importVolAsClone`,
//! `importVol` and `forceImport`) and the REST API both describe a new volume
//! as a [`CreateVolume`]: a target, a [`Source`] and options. [`create`] makes
//! it; [`ensure`] gives Docker's semantics, where creating a name that exists
//! is reuse, not an error.

use populous_engine::{CloneSource, Engine, ErrorKind, Outcome, VolRef, VolumeInfo, VolumeOptions};

use crate::Result;

/// Where a new volume's data comes from.
#[derive(Debug, Clone)]
pub enum Source {
    /// Nothing: an empty volume.
    Empty,
    /// A clone: of a volume (through a new snapshot, consistent as
    /// [`crate::clone`] makes it) or of a named snapshot.
    Clone(CloneSource),
    /// A move of another folder's offline volume, with its snapshots.
    Import(VolRef),
    /// A move of another folder's volume that may still be online (not
    /// mounted): it is taken offline and moved.
    ImportOnline(VolRef),
}

/// A request for a new volume.
#[derive(Debug, Clone)]
pub struct CreateVolume {
    /// The volume to make.
    pub target: VolRef,
    /// Where its data comes from.
    pub source: Source,
    /// Size, description, owner, mode and labels.
    pub options: VolumeOptions,
}

/// Makes the volume; an existing name is an error.
pub fn create(engine: &mut Engine, req: &CreateVolume) -> Result<VolumeInfo> {
    let CreateVolume {
        target,
        source,
        options,
    } = req;
    match source {
        Source::Empty => Ok(engine.volume_create(target, options)?),
        Source::Clone(src) => crate::clone(engine, src, target, options),
        Source::Import(src) => {
            let moved = engine.volume_import(src, &target.folder, Some(&target.volume))?;
            labelled(engine, moved, target, options)
        }
        Source::ImportOnline(src) => {
            let moved = engine.volume_import_online(src, &target.folder, Some(&target.volume))?;
            labelled(engine, moved, target, options)
        }
    }
}

/// The imported volume with the request's labels.
fn labelled(
    engine: &mut Engine,
    moved: VolumeInfo,
    target: &VolRef,
    options: &VolumeOptions,
) -> Result<VolumeInfo> {
    if options.labels.is_empty() {
        return Ok(moved);
    }
    Ok(engine.volume_set_labels(target, &options.labels)?)
}

/// Makes the volume, or reuses an existing one of that name (brought online
/// if it was offline): Docker calls create again for a name it already knows,
/// for instance after a restart. `changed` says whether anything was made or
/// brought online.
pub fn ensure(engine: &mut Engine, req: &CreateVolume) -> Result<Outcome<VolumeInfo>> {
    match engine.volume_inspect(&req.target) {
        Ok(_) => Ok(engine.volume_set_online(&req.target, true)?),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(Outcome {
            changed: true,
            value: create(engine, req)?,
        }),
        Err(e) => Err(e.into()),
    }
}
