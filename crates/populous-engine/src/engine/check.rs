//! The consistency check: metadata against what is on each pool's disk.

use std::collections::HashSet;
use std::fs;
use std::path::Path;

use super::{data_dir, stored, Engine};
use crate::error::{Error, Result};
use crate::model::CheckReport;
use crate::store::{self, ops, pools, snapshots, volumes};

impl Engine {
    /// Reconciles interrupted operations, then compares every available pool's
    /// data area with the metadata. With `repair`, removes orphaned directories.
    pub fn check(&mut self, repair: bool) -> Result<CheckReport> {
        let _lock = store::lock(&self.home)?;
        let mut report = CheckReport {
            reconciled_ops: self.reconcile()?,
            ..Default::default()
        };
        let pending = ops::count(&self.db)?;
        if pending > 0 {
            report.missing.push(format!(
                "{pending} interrupted operation(s) could not be reconciled yet"
            ));
        }
        for pool in pools::all(&self.db)? {
            let root = match self.pool_root(&pool) {
                Ok(r) => r,
                Err(e) => {
                    report.pools_unavailable.push(format!("{}: {e}", pool.name));
                    continue;
                }
            };
            report.pools_checked.push(stored(&pool.name));
            let tables = [
                ("vol", "volume", volumes::ids_in_pool(&self.db, pool.id)?),
                (
                    "snap",
                    "snapshot",
                    snapshots::ids_in_pool(&self.db, pool.id)?,
                ),
            ];
            for (sub, what, ids) in tables {
                let known: HashSet<i64> = ids.into_iter().collect();
                let on_disk = compare_dir(&data_dir(&root).join(sub), &known, &mut report)?;
                for id in known.difference(&on_disk) {
                    report.missing.push(format!(
                        "{what} {id} of pool {} has no directory",
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

/// Lists `dir`: entries named by a known id are returned, the rest are orphans.
fn compare_dir(dir: &Path, known: &HashSet<i64>, report: &mut CheckReport) -> Result<HashSet<i64>> {
    let mut on_disk = HashSet::new();
    for e in fs::read_dir(dir).map_err(Error::io("listing", dir))? {
        let e = e.map_err(Error::io("listing", dir))?;
        match e.file_name().to_str().and_then(|s| s.parse::<i64>().ok()) {
            Some(id) if known.contains(&id) => {
                on_disk.insert(id);
            }
            _ => report.orphans.push(e.path()),
        }
    }
    Ok(on_disk)
}
