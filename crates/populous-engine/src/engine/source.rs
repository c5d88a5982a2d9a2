//! Sources: records of replicas of outside servers that live on a volume.
//!
//! The engine keeps the facts (which volume holds the replica, where it
//! replicates from, its schedule, and the replication position each of its
//! snapshots holds); starting servers and speaking to them is the operations
//! layer's work. The password is never stored: only the file it is read from.

use std::path::PathBuf;

use super::{now, stored, Engine};
use crate::error::{Case, Error, Result};
use crate::model::Timestamp;
use crate::name::{Name, SnapRef, VolRef};
use crate::store::sources::{self, SourceRow};
use crate::store::volumes;

/// How a source's replica was seeded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SourceMode {
    /// `mariadb-backup`: a physical copy of the source's datadir.
    Physical,
    /// `mariadb-dump`: a consistent logical dump with its GTID position.
    Logical,
}

impl SourceMode {
    /// Lowercase name, as stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            SourceMode::Physical => "physical",
            SourceMode::Logical => "logical",
        }
    }
}

impl std::str::FromStr for SourceMode {
    type Err = Error;
    fn from_str(s: &str) -> Result<SourceMode> {
        match s {
            "physical" => Ok(SourceMode::Physical),
            "logical" => Ok(SourceMode::Logical),
            _ => Err(Error::InvalidInput {
                what: "source mode",
                detail: format!("{s:?}: expected physical or logical"),
            }),
        }
    }
}

/// A source to record.
#[derive(Debug, Clone)]
pub struct NewSource {
    /// Its name.
    pub name: Name,
    /// The volume its replica lives on.
    pub volume: VolRef,
    /// `mysql://user@host:port` (no password).
    pub url: String,
    /// The file the replication password is read from.
    pub password_file: PathBuf,
    /// How it was seeded.
    pub mode: SourceMode,
    /// The replica's `server_id`.
    pub server_id: u32,
    /// Cron expression for scheduled snapshots, if any.
    pub schedule: Option<String>,
    /// Scheduled snapshots to keep.
    pub keep: u32,
    /// Where the source's datadir is on this host, when the server reports
    /// another path (it runs in a container).
    pub datadir: Option<PathBuf>,
}

/// A snapshot of a source's replica and the position it holds.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SourceSnapshot {
    /// `folder/volume@snapshot`.
    pub snapshot: String,
    /// The replica's `gtid_slave_pos` in the snapshot.
    pub gtid: String,
    /// `folder/volume` of the clean base clones come from, once made.
    pub base: Option<String>,
    /// When it was taken.
    pub taken_at: Timestamp,
}

/// A source as recorded.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SourceInfo {
    /// Its name.
    pub name: Name,
    /// The volume its replica lives on.
    pub volume: VolRef,
    /// `mysql://user@host:port` (no password).
    pub url: String,
    /// The file the replication password is read from.
    pub password_file: PathBuf,
    /// How it was seeded.
    pub mode: SourceMode,
    /// The replica's `server_id`.
    pub server_id: u32,
    /// Cron expression for scheduled snapshots.
    pub schedule: Option<String>,
    /// Scheduled snapshots kept (protected ones and those clones depend on come on top).
    pub keep: u32,
    /// Where the source's datadir is on this host, when given at `add`.
    pub datadir: Option<PathBuf>,
    /// Its snapshots, oldest first.
    pub snapshots: Vec<SourceSnapshot>,
    /// When it was added.
    pub created_at: Timestamp,
}

impl Engine {
    fn source_row(&self, name: &Name) -> Result<SourceRow> {
        sources::by_name(&self.db, name.as_str())?.ok_or_else(|| Error::NotFound {
            what: "source",
            name: name.to_string(),
            hint: String::new(),
        })
    }

    fn source_info(&self, s: &SourceRow) -> Result<SourceInfo> {
        let vol = volumes::by_id(&self.db, s.volume_id)?;
        let volume = VolRef {
            folder: stored(&vol.folder),
            volume: stored(&vol.name),
        };
        let snapshots = sources::snapshots_of(&self.db, s.id)?
            .into_iter()
            .map(|r| SourceSnapshot {
                snapshot: format!("{volume}@{}", r.snapshot),
                gtid: r.gtid,
                base: r.base,
                taken_at: r.created_at,
            })
            .collect();
        Ok(SourceInfo {
            name: stored(&s.name),
            volume,
            url: s.url.clone(),
            password_file: PathBuf::from(&s.password_file),
            mode: s.mode.parse()?,
            server_id: s.server_id,
            schedule: s.schedule.clone(),
            keep: s.keep,
            datadir: s.datadir.as_ref().map(PathBuf::from),
            snapshots,
            created_at: s.created_at,
        })
    }

    /// Records a source whose replica lives on an existing volume.
    pub fn source_create(&mut self, s: &NewSource) -> Result<SourceInfo> {
        let _lock = self.begin()?;
        if sources::by_name(&self.db, s.name.as_str())?.is_some() {
            return Err(Error::AlreadyExists {
                what: "source",
                name: s.name.to_string(),
                hint: String::new(),
                case: Case::General,
            });
        }
        let vol = self.volume(&s.volume)?;
        if let Some(other) = sources::by_volume(&self.db, vol.id)? {
            return Err(Error::AlreadyExists {
                what: "replica on volume",
                name: format!("{} (source {})", s.volume, other.name),
                hint: String::new(),
                case: Case::General,
            });
        }
        sources::insert(
            &self.db,
            &SourceRow {
                id: 0,
                name: s.name.to_string(),
                volume_id: vol.id,
                url: s.url.clone(),
                password_file: s.password_file.display().to_string(),
                mode: s.mode.as_str().to_owned(),
                server_id: s.server_id,
                schedule: s.schedule.clone(),
                keep: s.keep,
                created_at: now(),
                datadir: s.datadir.as_ref().map(|p| p.display().to_string()),
            },
        )?;
        self.source_get(&s.name)
    }

    /// One source.
    pub fn source_get(&self, name: &Name) -> Result<SourceInfo> {
        self.source_info(&self.source_row(name)?)
    }

    /// Every source, by name.
    pub fn source_list(&self) -> Result<Vec<SourceInfo>> {
        sources::all(&self.db)?
            .iter()
            .map(|s| self.source_info(s))
            .collect()
    }

    /// The source whose replica lives on volume `r`, if any.
    pub fn source_of_volume(&self, r: &VolRef) -> Result<Option<SourceInfo>> {
        let vol = self.volume(r)?;
        sources::by_volume(&self.db, vol.id)?
            .map(|s| self.source_info(&s))
            .transpose()
    }

    /// Forgets a source; its volume and snapshots stay.
    pub fn source_remove(&mut self, name: &Name) -> Result<()> {
        let _lock = self.begin()?;
        let s = self.source_row(name)?;
        sources::delete(&self.db, s.id)
    }

    /// Replaces a source's schedule and retention.
    pub fn source_set_schedule(
        &mut self,
        name: &Name,
        schedule: Option<&str>,
        keep: u32,
    ) -> Result<SourceInfo> {
        let _lock = self.begin()?;
        let s = self.source_row(name)?;
        sources::set_schedule(&self.db, s.id, schedule, keep)?;
        self.source_get(name)
    }

    /// Moves a source to another volume (its resynced replica) with a new `server_id`.
    pub fn source_set_volume(
        &mut self,
        name: &Name,
        volume: &VolRef,
        server_id: u32,
    ) -> Result<SourceInfo> {
        let _lock = self.begin()?;
        let s = self.source_row(name)?;
        let vol = self.volume(volume)?;
        sources::set_volume(&self.db, s.id, vol.id, server_id)?;
        self.source_get(name)
    }

    /// Records the replication position snapshot `snap` of the source's volume holds.
    pub fn source_record_snapshot(
        &mut self,
        name: &Name,
        snap: &SnapRef,
        gtid: &str,
    ) -> Result<()> {
        let _lock = self.begin()?;
        let s = self.source_row(name)?;
        let (_, row) = self.snapshot(snap)?;
        if row.volume_id != s.volume_id {
            return Err(Error::InvalidInput {
                what: "snapshot",
                detail: format!("{snap} is not a snapshot of source {name}'s volume"),
            });
        }
        sources::insert_snapshot(&self.db, s.id, row.id, gtid)
    }

    /// Records the clean base made from a source's snapshot.
    pub fn source_record_base(&mut self, snap: &SnapRef, base: &VolRef) -> Result<()> {
        let _lock = self.begin()?;
        let (_, row) = self.snapshot(snap)?;
        sources::set_base(&self.db, row.id, &base.to_string())
    }

    /// The source whose replica is on volume `r`, if any: a volume that is
    /// a replica cannot be destroyed or replaced until its source goes.
    pub(super) fn check_not_a_replica(
        &self,
        r: &VolRef,
        volume_id: i64,
        doing: &str,
    ) -> Result<()> {
        if let Some(s) = sources::by_volume(&self.db, volume_id)? {
            return Err(Error::HasDependents {
                name: format!("volume {r}"),
                dependents: format!("it holds the replica of source {} (cannot {doing})", s.name),
                case: Case::General,
            });
        }
        Ok(())
    }
}
