//! Consumer mounts: which consumers (e.g. containers) have a volume mounted,
//! so that nothing renames, offlines or destroys it under them.

use std::path::PathBuf;

use super::{list_names, now, Engine};
use crate::error::{Case, Error, Result};
use crate::model::Outcome;
use crate::name::VolRef;
use crate::store::volumes;

impl Engine {
    /// Refuses to change a volume that consumers have mounted.
    pub(super) fn check_unmounted(&self, r: &VolRef, volume_id: i64, doing: &str) -> Result<()> {
        let mounts = volumes::mounts(&self.db, volume_id)?;
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
            case: Case::General,
        })
    }

    /// Records that consumer `mount_id` mounts the volume; returns the path to
    /// mount and whether this id was new. Only online volumes can be mounted.
    pub fn mount_add(&mut self, r: &VolRef, mount_id: &str) -> Result<Outcome<PathBuf>> {
        let _lock = self.begin()?;
        let path = self.volume_path(r)?;
        let vol = self.volume(r)?;
        Ok(Outcome {
            changed: volumes::add_mount(&self.db, vol.id, mount_id, now())?,
            value: path,
        })
    }

    /// Forgets every consumer mount of a volume (stale mounts whose consumer is
    /// gone, e.g. a container removed while the daemon was down); returns how
    /// many there were.
    pub fn mount_clear(&mut self, r: &VolRef) -> Result<Outcome<usize>> {
        let _lock = self.begin()?;
        let vol = self.volume(r)?;
        let n = volumes::remove_mounts(&self.db, vol.id, None)?;
        Ok(Outcome {
            changed: n > 0,
            value: n,
        })
    }

    /// Forgets consumer `mount_id`; returns how many mounts remain.
    pub fn mount_remove(&mut self, r: &VolRef, mount_id: &str) -> Result<Outcome<usize>> {
        let _lock = self.begin()?;
        let vol = self.volume(r)?;
        let n = volumes::remove_mounts(&self.db, vol.id, Some(mount_id))?;
        Ok(Outcome {
            changed: n > 0,
            value: volumes::mounts(&self.db, vol.id)?.len(),
        })
    }
}
