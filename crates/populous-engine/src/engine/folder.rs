//! Folders: tenant spaces inside a pool, and the policies that bound what
//! moves between them.

use super::{list_names, now, stored, Engine};
use crate::error::{Case, Error, Result};
use crate::model::{FolderInfo, FolderPolicy, Outcome, Provenance};
use crate::name::{FolderRef, Name};
use crate::store::folders::{self, FolderRow};
use crate::store::{pools, volumes};

impl Engine {
    fn folder_info(&self, f: &FolderRow) -> Result<FolderInfo> {
        let pool = pools::by_id(&self.db, f.pool_id)?;
        Ok(FolderInfo {
            name: stored(&f.name),
            pool: stored(&pool.name),
            policy: f.policy.clone(),
            volumes: volumes::live_count(&self.db, f.id)?,
            created_at: f.created_at,
        })
    }

    /// Creates a folder in a pool. Folder names are unique across pools.
    pub fn folder_create(&mut self, r: &FolderRef, policy: &FolderPolicy) -> Result<FolderInfo> {
        let _lock = self.begin()?;
        let pool = self.pool_by_name(&r.pool)?;
        if folders::by_name(&self.db, r.folder.as_str())?.is_some() {
            return Err(Error::AlreadyExists {
                what: "folder",
                name: r.folder.to_string(),
                hint: ": folder names are unique across pools".into(),
                case: Case::General,
            });
        }
        folders::insert(&self.db, pool.id, r.folder.as_str(), policy, now())?;
        self.folder_get(&r.folder)
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
            folders::set_policy(&self.db, f.id, policy)?;
        }
        Ok(Outcome {
            changed,
            value: self.folder_get(name)?,
        })
    }

    /// One folder.
    pub fn folder_get(&self, name: &Name) -> Result<FolderInfo> {
        self.folder_info(&self.folder(name)?)
    }

    /// All folders.
    pub fn folder_list(&self) -> Result<Vec<FolderInfo>> {
        folders::all(&self.db)?
            .iter()
            .map(|f| self.folder_info(f))
            .collect()
    }

    /// Removes an empty folder.
    pub fn folder_remove(&mut self, name: &Name) -> Result<()> {
        let _lock = self.begin()?;
        let f = self.folder(name)?;
        let vols = folders::volume_names(&self.db, f.id)?;
        if !vols.is_empty() {
            return Err(Error::HasDependents {
                name: format!("folder {name}"),
                dependents: format!("it holds volumes {}", list_names(&vols)),
                case: Case::FolderHasVolumes,
            });
        }
        folders::delete(&self.db, f.id)
    }

    /// Refuses a move between pools: copy-on-write works only inside one filesystem.
    pub(super) fn check_same_pool(
        &self,
        from: &FolderRow,
        to: &FolderRow,
        doing: &str,
    ) -> Result<()> {
        if from.pool_id != to.pool_id {
            let a = pools::by_id(&self.db, from.pool_id)?.name;
            let b = pools::by_id(&self.db, to.pool_id)?.name;
            return Err(Error::Unsupported {
                detail: format!(
                    "cannot {doing}: folder {} is in pool {a} and folder {} is in pool {b}; copy-on-write works only inside one pool",
                    from.name, to.name
                ),
                case: Case::General,
            });
        }
        Ok(())
    }
}

/// Checks the folder policy of `to` for data coming from `from` by a clone
/// (`clone` true) or an import; `what` names the data for the message.
pub(super) fn check_policy(
    to: &FolderRow,
    from: &FolderRow,
    clone: bool,
    prov: &Provenance,
    what: &str,
) -> Result<()> {
    if to.id != from.id {
        let (list, verb, case) = if clone {
            (
                &to.policy.clone_from,
                "clone from",
                Case::CloneSourceNotAllowed,
            )
        } else {
            (
                &to.policy.import_from,
                "import from",
                Case::ImportSourceNotAllowed,
            )
        };
        if !list.permits(&from.name) {
            return Err(Error::PolicyDenied {
                detail: format!("folder {} may not {verb} folder {}", to.name, from.name),
                to: to.name.clone(),
                from: from.name.clone(),
                case,
            });
        }
    }
    if to.policy.require_masked && !prov.masked_and_scanned() {
        let why = if !prov.masked {
            "is not masked"
        } else if prov.scan.is_none() {
            "was masked without a scan of its files for original values"
        } else {
            "has original values in its files (its scan failed)"
        };
        return Err(Error::PolicyDenied {
            detail: format!("folder {} requires masked data and {what} {why}", to.name),
            to: to.name.clone(),
            from: from.name.clone(),
            case: Case::MaskingRequired,
        });
    }
    Ok(())
}
