//! What the engine reports: plain data about pools, folders, volumes and snapshots.
//!
//! These types derive `Serialize` so adapters can print them, but the engine
//! itself never encodes anything: the CLI and the daemon choose the format.

use std::path::PathBuf;

use crate::backend::BackendKind;
use crate::name::Name;

/// Seconds since the Unix epoch.
pub type Timestamp = i64;

/// Formats a timestamp as RFC 3339 in UTC, `YYYY-MM-DDTHH:MM:SSZ`.
///
/// humantime formats only years 1970 to 9999 (and panics outside them), so
/// the timestamp is clamped to that range: stored times are `now()` values.
pub fn rfc3339(secs: Timestamp) -> String {
    const LAST: i64 = 253_402_300_799; // 9999-12-31T23:59:59Z
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs.clamp(0, LAST) as u64);
    humantime::format_rfc3339_seconds(t).to_string()
}

/// The result of an operation that may have had nothing to do.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Outcome<T> {
    /// False when the object was already in the requested state (a safe retry).
    pub changed: bool,
    /// The object after the operation.
    #[serde(flatten)]
    pub value: T,
}

/// What [`crate::Engine::volume_rename`] did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Renamed {
    /// The volume under its new name.
    pub volume: VolumeInfo,
    /// `folder/name` of the volume that was destroyed to free the name, if any.
    pub replaced: Option<String>,
}

/// A pool: one copy-on-write filesystem.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PoolInfo {
    /// Pool name.
    pub name: Name,
    /// The directory the pool's data lives under.
    pub root: PathBuf,
    /// How the pool does copy-on-write.
    pub backend: BackendKind,
    /// The filesystem under `root`.
    pub fs: String,
    /// The image file, for pools Populous formatted and loop-mounts.
    pub image: Option<PathBuf>,
    /// Whether the pool's filesystem is mounted and recognised right now.
    pub available: bool,
    /// Total bytes of the filesystem, when available.
    pub total_bytes: Option<u64>,
    /// Free bytes of the filesystem, when available.
    pub free_bytes: Option<u64>,
    /// Number of folders in the pool.
    pub folders: u64,
    /// When the pool was created.
    pub created_at: Timestamp,
}

/// Which folders a folder may take data from: none (the default), a list, or any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Allowed {
    /// Only these folders; none when empty.
    Only(Vec<Name>),
    /// Any folder (written `*`).
    Any,
}

impl Default for Allowed {
    /// Deny by default.
    fn default() -> Self {
        Allowed::Only(Vec::new())
    }
}

impl Allowed {
    /// Whether data may come from `folder`.
    pub fn permits(&self, folder: &str) -> bool {
        match self {
            Allowed::Any => true,
            Allowed::Only(list) => list.iter().any(|n| n.as_str() == folder),
        }
    }

    /// From a list as people and JSON write it: `*` anywhere means any
    /// folder, an empty list none; every other entry must be a folder name.
    pub fn parse<S: AsRef<str>>(list: &[S]) -> crate::Result<Allowed> {
        if list.iter().any(|s| s.as_ref() == "*") {
            return Ok(Allowed::Any);
        }
        Ok(Allowed::Only(
            list.iter()
                .map(|s| Name::new("folder", s.as_ref()))
                .collect::<crate::Result<_>>()?,
        ))
    }

    /// As a list: `["*"]` for any, `[]` for none.
    pub fn to_list(&self) -> Vec<String> {
        match self {
            Allowed::Any => vec!["*".to_owned()],
            Allowed::Only(l) => l.iter().map(|n| n.to_string()).collect(),
        }
    }
}

impl serde::Serialize for Allowed {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.to_list())
    }
}

/// Which folders a folder may take data from. A new folder takes nothing
/// until its policy says so (deny by default).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct FolderPolicy {
    /// Folders this folder may clone from.
    pub clone_from: Allowed,
    /// Folders this folder may import (move) volumes from.
    pub import_from: Allowed,
    /// Whether data cloned or imported into this folder must be masked.
    pub require_masked: bool,
}

impl FolderPolicy {
    /// Takes clones and imports from any folder, masked or not (`*`), as
    /// folders did before policies were denied by default.
    pub fn open() -> FolderPolicy {
        FolderPolicy {
            clone_from: Allowed::Any,
            import_from: Allowed::Any,
            require_masked: false,
        }
    }
}

/// A folder: a tenant space inside a pool.
#[derive(Debug, Clone, serde::Serialize)]
pub struct FolderInfo {
    /// Folder name, unique across pools.
    pub name: Name,
    /// The pool that holds it.
    pub pool: Name,
    /// What it may receive from other folders.
    pub policy: FolderPolicy,
    /// Volumes in the folder, online or offline.
    pub volumes: u64,
    /// When the folder was created.
    pub created_at: Timestamp,
}

/// Whether consumers can see and mount a volume.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum VolumeState {
    /// Visible and mountable.
    Online,
    /// Kept, invisible to consumers, not mountable, importable.
    Offline,
}

impl VolumeState {
    /// Lowercase name, as stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            VolumeState::Online => "online",
            VolumeState::Offline => "offline",
        }
    }
}

/// How a snapshot's data was captured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Consistency {
    /// Taken while writers may have been active: recovery runs on first start.
    Crash,
    /// Taken while the application was quiesced.
    App,
}

impl Consistency {
    /// Lowercase name, as stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Consistency::Crash => "crash",
            Consistency::App => "app",
        }
    }
}

/// What a volume or snapshot is made of, beyond its origin.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Provenance {
    /// Whether the data was masked.
    pub masked: bool,
    /// Hash of the masking rule set.
    pub mask_ruleset: Option<String>,
    /// Id of the masking key (never the key itself).
    pub mask_key_id: Option<String>,
    /// When masking completed.
    pub masked_at: Option<Timestamp>,
    /// The search of the volume's files for original values that followed
    /// the masking; none for data masked before scans existed.
    pub scan: Option<MaskScan>,
}

impl Provenance {
    /// Masked, and a scan of the files found no original value.
    pub fn masked_and_scanned(&self) -> bool {
        self.masked && self.scan.as_ref().is_some_and(MaskScan::passed)
    }
}

/// The result of searching every file of a masked volume for a sample of
/// its original values (`scanned: 0 of N originals found`).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct MaskScan {
    /// Distinct originals searched for.
    pub sampled: u64,
    /// How many of them were found in some file.
    pub found: u64,
    /// Files read.
    pub files: u64,
    /// When the scan ran.
    pub at: Timestamp,
}

impl MaskScan {
    /// Originals were searched for and none was found.
    pub fn passed(&self) -> bool {
        self.sampled > 0 && self.found == 0
    }
}

/// Options for a new volume.
#[derive(Debug, Clone, Default)]
pub struct VolumeOptions {
    /// Nominal size in bytes (recorded, shown; not enforced as a quota).
    pub size: Option<u64>,
    /// Free-form description.
    pub description: Option<String>,
    /// Owner of the volume's root directory.
    pub owner: Option<(u32, u32)>,
    /// Mode of the volume's root directory.
    pub mode: Option<u32>,
    /// Labels to attach (free-form key/value metadata, e.g. a consumer's options).
    pub labels: Vec<(String, String)>,
    /// When it expires (recorded with the volume, in the same transaction).
    pub expires_at: Option<Timestamp>,
    /// Seconds without client activity after which it goes (idle delete).
    pub idle_after: Option<i64>,
}

/// A volume in a listing.
#[derive(Debug, Clone, serde::Serialize)]
pub struct VolumeSummary {
    /// Folder name.
    pub folder: Name,
    /// Volume name.
    pub name: Name,
    /// Online or offline.
    pub state: VolumeState,
    /// Nominal size in bytes.
    pub size_bytes: Option<u64>,
    /// `folder/volume@snapshot` it was cloned from, if any.
    pub origin: Option<String>,
    /// Number of snapshots.
    pub snapshots: u64,
    /// When it expires and whether it is protected.
    pub lifecycle: crate::Lifecycle,
    /// When it was created.
    pub created_at: Timestamp,
}

/// One step in a volume's ancestry.
#[derive(Debug, Clone, serde::Serialize)]
pub struct LineageStep {
    /// `folder/volume@snapshot` at the time of cloning.
    pub snapshot: String,
    /// Whether that snapshot still exists.
    pub exists: bool,
    /// When it was taken, if it still exists.
    pub taken_at: Option<Timestamp>,
}

/// Everything about one volume.
#[derive(Debug, Clone, serde::Serialize)]
pub struct VolumeInfo {
    /// Folder name.
    pub folder: Name,
    /// Volume name.
    pub name: Name,
    /// The pool holding it.
    pub pool: Name,
    /// Online or offline.
    pub state: VolumeState,
    /// The host directory a consumer mounts (shown even when offline; not mountable then).
    pub path: PathBuf,
    /// Nominal size in bytes.
    pub size_bytes: Option<u64>,
    /// Bytes referenced by the files (shared blocks count in full). `None`
    /// when not measured: [`crate::Engine::volume_inspect`] and every
    /// mutation answer from the store without walking the tree (a walk of a
    /// large volume costs far more than the rest); the CLI measures with
    /// [`crate::Engine::volume_inspect_measured`], the daemon answers with
    /// its last background measurement. Also `None` when the pool is unavailable.
    pub used_bytes: Option<u64>,
    /// When `used_bytes` was measured; `None` with it.
    pub used_bytes_at: Option<Timestamp>,
    /// Free-form description.
    pub description: Option<String>,
    /// Direct origin, `folder/volume@snapshot`.
    pub origin: Option<String>,
    /// Ancestry, nearest first.
    pub lineage: Vec<LineageStep>,
    /// Its snapshots, oldest first.
    pub snapshots: Vec<SnapshotInfo>,
    /// Masking provenance.
    pub provenance: Provenance,
    /// Labels: free-form key/value metadata.
    pub labels: std::collections::BTreeMap<String, String>,
    /// Consumers that have it mounted now (their mount ids).
    pub mounts: Vec<String>,
    /// When it expires and whether it is protected.
    pub lifecycle: crate::Lifecycle,
    /// When it was created.
    pub created_at: Timestamp,
}

/// What a reader sees instead of a volume or snapshot in a folder it may not
/// see: the same for every such name, so an answer tells nothing about other
/// tenants, not even whether the folder still exists.
pub const HIDDEN: &str = "(hidden)";

/// The folder of a `folder/volume[@snapshot]` reference.
fn folder_of(reference: &str) -> &str {
    reference.split_once('/').map_or(reference, |(f, _)| f)
}

fn redact_ref(reference: &mut String, visible: &impl Fn(&str) -> bool) -> bool {
    if visible(folder_of(reference)) {
        return false;
    }
    *reference = HIDDEN.to_owned();
    true
}

impl VolumeInfo {
    /// Replaces every name outside the folders `visible` accepts (origin,
    /// lineage, clones of its snapshots) by [`HIDDEN`]. A hidden lineage step
    /// also loses whether and when its snapshot exists.
    pub fn redact(&mut self, visible: impl Fn(&str) -> bool) {
        if let Some(o) = &mut self.origin {
            redact_ref(o, &visible);
        }
        for step in &mut self.lineage {
            if redact_ref(&mut step.snapshot, &visible) {
                step.exists = false;
                step.taken_at = None;
            }
        }
        for s in &mut self.snapshots {
            s.redact(&visible);
        }
    }
}

impl VolumeSummary {
    /// As [`VolumeInfo::redact`]: the origin, when outside the visible folders.
    pub fn redact(&mut self, visible: impl Fn(&str) -> bool) {
        if let Some(o) = &mut self.origin {
            redact_ref(o, &visible);
        }
    }
}

impl SnapshotInfo {
    /// As [`VolumeInfo::redact`]: clones in folders the reader may not see.
    pub fn redact(&mut self, visible: impl Fn(&str) -> bool) {
        for c in &mut self.clones {
            redact_ref(c, &visible);
        }
    }
}

impl VolumeInfo {
    /// This volume with a measurement of its usage filled in.
    pub fn with_usage(mut self, u: &VolumeUsage) -> VolumeInfo {
        self.used_bytes = u.used_bytes;
        self.used_bytes_at = u.used_bytes.map(|_| u.measured_at);
        self
    }
}

/// One measurement of a volume's usage: a walk of its whole tree.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct VolumeUsage {
    /// The directory measured (its numeric id names the volume on disk, so a
    /// new generation under the same name has another path).
    pub path: PathBuf,
    /// Bytes allocated by its files (hard links once), like `du -s`; `None`
    /// when the pool is unavailable.
    pub used_bytes: Option<u64>,
    /// When the walk started.
    pub measured_at: Timestamp,
}

/// A snapshot.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SnapshotInfo {
    /// Folder of its volume.
    pub folder: Name,
    /// Its volume.
    pub volume: Name,
    /// Snapshot name.
    pub name: Name,
    /// Crash- or application-consistent.
    pub consistency: Consistency,
    /// Masking provenance, inherited from the volume when taken.
    pub provenance: Provenance,
    /// Volumes cloned from it that still exist, as `folder/volume`.
    pub clones: Vec<String>,
    /// When it was taken.
    pub created_at: Timestamp,
}

/// What `check` found.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct CheckReport {
    /// Pools whose filesystem was examined.
    pub pools_checked: Vec<Name>,
    /// Pools that could not be examined, with the reason.
    pub pools_unavailable: Vec<String>,
    /// Directories in a pool's data area that no record owns.
    pub orphans: Vec<PathBuf>,
    /// Records whose directory is missing.
    pub missing: Vec<String>,
    /// Operations that were interrupted and have been completed or rolled back.
    pub reconciled_ops: u64,
    /// Orphans removed (with `repair`).
    pub removed: Vec<PathBuf>,
}

impl CheckReport {
    /// True when metadata and filesystems agree.
    pub fn consistent(&self) -> bool {
        self.orphans.is_empty() && self.missing.is_empty() && self.pools_unavailable.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redaction_hides_other_folders() {
        let n = |s: &str| Name::new("name", s).expect("name");
        let snap = |clones: &[&str]| SnapshotInfo {
            folder: n("dev"),
            volume: n("x"),
            name: n("s1"),
            consistency: Consistency::Crash,
            provenance: Provenance::default(),
            clones: clones.iter().map(|c| (*c).to_owned()).collect(),
            created_at: 1,
        };
        let mut v = VolumeInfo {
            folder: n("dev"),
            name: n("x"),
            pool: n("p"),
            state: VolumeState::Online,
            path: PathBuf::from("/p/x"),
            size_bytes: None,
            used_bytes: None,
            used_bytes_at: None,
            description: None,
            origin: Some("prod/db@auto-1".into()),
            lineage: vec![
                LineageStep {
                    snapshot: "prod/db@auto-1".into(),
                    exists: true,
                    taken_at: Some(5),
                },
                LineageStep {
                    snapshot: "dev/y@s".into(),
                    exists: true,
                    taken_at: Some(4),
                },
            ],
            snapshots: vec![snap(&["dev/a", "stage/b"])],
            provenance: Provenance::default(),
            labels: Default::default(),
            mounts: vec![],
            lifecycle: crate::Lifecycle::default(),
            created_at: 1,
        };
        v.redact(|f| f == "dev");
        assert_eq!(v.origin.as_deref(), Some(HIDDEN));
        assert_eq!(
            (
                v.lineage[0].snapshot.as_str(),
                v.lineage[0].exists,
                v.lineage[0].taken_at
            ),
            (HIDDEN, false, None)
        );
        assert_eq!(v.lineage[1].snapshot, "dev/y@s");
        assert_eq!(v.snapshots[0].clones, vec!["dev/a", HIDDEN]);
        let text = serde_json::to_string(&v).expect("json");
        assert!(!text.contains("prod") && !text.contains("stage"), "{text}");
    }

    #[test]
    fn rfc3339_keeps_its_format() {
        for (secs, text) in [
            (0, "1970-01-01T00:00:00Z"),
            (951_782_400, "2000-02-29T00:00:00Z"),
            (1_700_000_000, "2023-11-14T22:13:20Z"),
            (-5, "1970-01-01T00:00:00Z"),
        ] {
            assert_eq!(rfc3339(secs), text);
        }
    }
}
