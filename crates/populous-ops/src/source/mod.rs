//! Sources: a replica of an outside MariaDB/MySQL server on a volume.
//!
//! [`add`] seeds a new volume from the running source (physical with
//! `mariadb-backup` when the source's datadir is on this host, logical with
//! `mariadb-dump` otherwise or when asked), starts a replica server on it and
//! points it at the source from the position the seed holds. [`snapshot`]
//! pauses applying for the milliseconds a snapshot takes, records the GTID
//! the snapshot holds, and makes its *clean base*: a clone started once
//! without replication, told to forget the source, shut down cleanly and
//! snapshotted as `@clean`. Every clone for people comes from a clean base
//! ([`clone`]), so it never replicates, holds no replication setting, and
//! starts without crash recovery: that cost is paid once per snapshot.
//! [`prune`] keeps the newest snapshots and those clones still use; [`resync`]
//! re-seeds a replica that cannot go on, beside the old one.

use std::path::{Path, PathBuf};

mod resync;

pub use resync::{resync, Resynced};

use populous_engine::{
    CloneSource, Engine, ErrorKind, Name, NewSource, SnapRef, SourceInfo, SourceMode,
    SourceSnapshot, VolRef, VolumeInfo, VolumeOptions,
};
use populous_source::replica::{self, ReplicaStatus};
use populous_source::seed::{self, SeedReport};
use populous_source::url::{Password, SourceUrl};

use crate::{db, Error, Result};

/// A request to add a source.
#[derive(Debug, Clone)]
pub struct AddSource {
    /// The source's name.
    pub name: Name,
    /// Where it is.
    pub url: SourceUrl,
    /// The file holding the password of `url`'s user.
    pub password_file: PathBuf,
    /// The new volume its replica lives on.
    pub volume: VolRef,
    /// How to seed; `None`: physical when the source's datadir is on this host.
    pub mode: Option<SourceMode>,
    /// Where the source's datadir is on this host, when the server reports
    /// another path (a container's volume); `None`: the path it reports.
    pub datadir: Option<PathBuf>,
    /// The replica's `server_id`; `None`: one derived from the source's.
    pub server_id: Option<u32>,
    /// Cron expression for scheduled snapshots.
    pub schedule: Option<String>,
    /// Scheduled snapshots to keep.
    pub keep: u32,
}

/// What a seed is doing, for a progress bar.
#[derive(Debug, Clone, Copy)]
pub enum SeedProgress {
    /// Bytes copied so far, of about `total` (the source's data and indexes).
    Copying {
        /// Bytes so far.
        done: u64,
        /// The source's size, as `information_schema` estimates it.
        total: u64,
    },
    /// The copy is being made consistent (`--prepare`), or the replica starts.
    Finishing,
}

/// What [`add`] made.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Added {
    /// The source as recorded.
    pub source: SourceInfo,
    /// How it was seeded.
    pub mode: SourceMode,
    /// The seed's figures.
    pub seed: SeedReport,
    /// The source's server version.
    pub source_version: String,
}

fn work_dir(home: &Path, name: &Name) -> PathBuf {
    home.join("sources").join(name.as_str())
}

fn refused(name: &Name, detail: impl Into<String>) -> Error {
    Error::SourceRefused {
        name: name.to_string(),
        detail: detail.into(),
    }
}

/// A `server_id` for the replica: not the source's, stable for a name.
fn derive_server_id(name: &Name, source_id: u32) -> u32 {
    let h = name.as_str().bytes().fold(2_166_136_261u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(16_777_619)
    });
    let id = 1_000_000 + h % 1_000_000_000;
    if id == source_id {
        id + 1
    } else {
        id
    }
}

/// Parses a schedule, so a bad one is refused before anything happens.
pub fn check_schedule(expr: &str) -> Result<()> {
    schedule::next_after(expr, 0).map(drop)
}

/// Adds a source: every check first, then the volume, the seed, the replica
/// and the record. A failure after the volume exists destroys it again.
pub fn add(
    engine: &mut Engine,
    req: &AddSource,
    progress: &mut dyn FnMut(SeedProgress),
) -> Result<Added> {
    match engine.source_get(&req.name) {
        Ok(_) => {
            return Err(refused(&req.name, "a source of that name exists"));
        }
        Err(e) if e.kind() == ErrorKind::NotFound => {}
        Err(e) => return Err(e.into()),
    }
    if let Some(s) = &req.schedule {
        check_schedule(s)?;
    }
    let pw = Password::from_file(&req.password_file)?;
    let (facts, mode, datadir) =
        preflight(&req.name, &req.url, &pw, req.mode, req.datadir.as_deref())?;
    let server_id = req
        .server_id
        .unwrap_or_else(|| derive_server_id(&req.name, facts.server_id));
    if server_id == facts.server_id {
        return Err(refused(
            &req.name,
            format!("server_id {server_id} is the source's own"),
        ));
    }
    leftover_of_interrupted_add(engine, req)?;
    let created = engine.volume_create(
        &req.volume,
        &VolumeOptions {
            description: Some(format!("replica of source {} ({})", req.name, req.url)),
            labels: vec![(SEEDING_LABEL.to_owned(), req.name.to_string())],
            ..VolumeOptions::default()
        },
    )?;
    let work = work_dir(engine.home(), &req.name);
    let made = (|| {
        let (report, instance) = seed_into(
            engine,
            &Seeding {
                url: &req.url,
                pw: &pw,
                facts: &facts,
                mode,
                datadir: &datadir,
                server_id,
                volume: &req.volume,
                path: &created.path,
                work: &work,
            },
            progress,
        )?;
        populous_engine::fault::point("source_add.after_seed");
        replica::start_replication(&i_url(&instance), &req.url, &pw, &report.gtid)?;
        let source = engine.source_create(&NewSource {
            name: req.name.clone(),
            volume: req.volume.clone(),
            url: req.url.to_string(),
            password_file: req.password_file.clone(),
            mode,
            server_id,
            schedule: req.schedule.clone(),
            keep: req.keep,
            datadir: req.datadir.clone(),
        })?;
        Ok::<_, Error>(Added {
            source,
            mode,
            seed: report,
            source_version: facts.version.clone(),
        })
    })();
    if made.is_err() {
        // Nothing half made stays: the server, the volume, the work files.
        let _ = db::stop(engine, &req.volume);
        let _ = engine.volume_remove(&req.volume, true, true);
        let _ = std::fs::remove_dir_all(&work);
    }
    made
}

/// Asks the source about itself and checks it can be replicated in `mode`
/// (chosen when `None`) by this user: binary log, place, grants. Returns the
/// facts, the mode and where its datadir is on this host (`datadir`, or the
/// path it reports).
fn preflight(
    name: &Name,
    url: &SourceUrl,
    pw: &Password,
    mode: Option<SourceMode>,
    datadir: Option<&Path>,
) -> Result<(replica::SourceFacts, SourceMode, PathBuf)> {
    let facts = replica::probe(url, pw)?;
    if !facts.log_bin {
        return Err(refused(
            name,
            format!(
                "{} has its binary log off (log_bin): a replica needs it",
                url
            ),
        ));
    }
    let here = datadir.map_or_else(|| PathBuf::from(&facts.datadir), Path::to_owned);
    // A directory that holds *a* datadir is not enough: this host's own
    // MariaDB may live at the path a container's server reports.
    let local = if replica::missing_grants(&facts.grants, &["BINLOG MONITOR"]).is_empty() {
        replica::datadir_is_sources(&facts, &here)
    } else if here.join("mysql").is_dir() {
        // Without BINLOG MONITOR the source cannot be recognised; either
        // mode needs it, so the grants check below refuses anyway, naming
        // what the likelier mode lacks.
        Ok(())
    } else {
        Err("no datadir there".to_owned())
    };
    let mode = match (mode, &local) {
        (Some(SourceMode::Physical), Err(why)) => {
            return Err(refused(
                name,
                format!(
                    "a physical seed reads the source's datadir, and {} on this host is not it: {why}; give the path where it is on this host (a container's volume), or use the logical mode",
                    here.display()
                ),
            ))
        }
        (Some(m), _) => m,
        (None, Ok(())) => SourceMode::Physical,
        (None, Err(why)) => {
            tracing::info!(source = %name, datadir = %here.display(), %why, "the source's datadir is not here: a logical seed");
            SourceMode::Logical
        }
    };
    let missing = replica::missing_grants(
        &facts.grants,
        replica::needed_grants(mode == SourceMode::Physical),
    );
    if !missing.is_empty() {
        return Err(refused(
            name,
            format!(
                "user {} lacks {} on *.* for a {} seed and replication (GRANT {} ON *.* TO the user)",
                url.user,
                missing.join(", "),
                mode.as_str(),
                missing.join(", ")
            ),
        ));
    }
    Ok((facts, mode, here))
}

/// What a seed needs to know.
struct Seeding<'a> {
    url: &'a SourceUrl,
    pw: &'a Password,
    facts: &'a replica::SourceFacts,
    mode: SourceMode,
    /// The source's datadir on this host (read by a physical seed).
    datadir: &'a Path,
    server_id: u32,
    volume: &'a VolRef,
    path: &'a Path,
    work: &'a Path,
}

/// Seeds the empty volume and starts its replica server (not yet replicating).
fn seed_into(
    engine: &mut Engine,
    s: &Seeding<'_>,
    progress: &mut dyn FnMut(SeedProgress),
) -> Result<(SeedReport, populous_db::Instance)> {
    std::fs::create_dir_all(s.work).map_err(|source| Error::Read {
        what: "source work directory",
        path: s.work.to_owned(),
        source,
    })?;
    let total = s.facts.data_bytes;
    let mut copying = |done| progress(SeedProgress::Copying { done, total });
    Ok(match s.mode {
        SourceMode::Physical => {
            // The backup lands in the volume before any server starts on it:
            // the datadir's flags first (see crate::db_io).
            db::prepare_datadir(s.path, &db::io_for(engine, s.volume)?)?;
            let datadir = seed::Datadir {
                reported: Path::new(&s.facts.datadir),
                here: s.datadir,
            };
            let report = seed::physical(s.url, s.pw, datadir, s.path, s.work, &mut copying)?;
            progress(SeedProgress::Finishing);
            let i = db::start_as(engine, s.volume, None, Some(s.server_id))?.value;
            (report, i)
        }
        SourceMode::Logical => {
            let i = db::start_as(engine, s.volume, None, Some(s.server_id))?.value;
            let report = seed::logical(
                s.url,
                s.pw,
                &s.facts.databases,
                &i.socket,
                s.work,
                &mut copying,
            )?;
            progress(SeedProgress::Finishing);
            (report, i)
        }
    })
}

/// The label a source's volume carries from its creation: a volume with it
/// and no source of that name is what an interrupted `add` left.
pub const SEEDING_LABEL: &str = "populous.source";

/// Removes what an `add` of the same source that was killed left behind (its
/// volume, its server, its work files), so that running `add` again works.
/// A volume of that name that is not such a leftover is not touched: the
/// engine refuses the new volume as existing.
fn leftover_of_interrupted_add(engine: &mut Engine, req: &AddSource) -> Result<()> {
    let info = match engine.volume_inspect(&req.volume) {
        Ok(i) => i,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e.into()),
    };
    if info.labels.get(SEEDING_LABEL).map(String::as_str) != Some(req.name.as_str()) {
        return Ok(());
    }
    tracing::warn!(volume = %req.volume, source = %req.name, "removing what an interrupted `source add` left");
    db::stop(engine, &req.volume)?;
    engine.volume_remove(&req.volume, true, true)?;
    let _ = std::fs::remove_dir_all(work_dir(engine.home(), &req.name));
    Ok(())
}

fn i_url(i: &populous_db::Instance) -> String {
    i.socket_url()
}

/// A source's state: its record, its replica and how far behind it is.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SourceStatus {
    /// The source as recorded.
    pub source: SourceInfo,
    /// Whether the replica server runs.
    pub running: bool,
    /// The replica's replication state, when it runs.
    pub replica: Option<ReplicaStatus>,
    /// The source's own position, when it could be asked.
    pub source_gtid: Option<String>,
    /// Why the source could not be asked, if it could not.
    pub source_error: Option<String>,
    /// Transactions the source has that the replica has not applied.
    pub gtid_distance: Option<u64>,
    /// Seconds since the newest snapshot.
    pub last_snapshot_age_s: Option<i64>,
}

/// The status of source `name`.
pub fn status(engine: &Engine, name: &Name) -> Result<SourceStatus> {
    let source = engine.source_get(name)?;
    let instance = db::running(engine.home(), &source.volume);
    let replica = instance
        .as_ref()
        .map(|i| replica::status(&i.socket_url()))
        .transpose()?;
    let (source_gtid, source_error) = match Password::from_file(&source.password_file)
        .and_then(|pw| replica::probe(&source.url.parse()?, &pw))
    {
        Ok(f) => (Some(f.gtid_binlog_pos), None),
        Err(e) => (None, Some(e.to_string())),
    };
    let gtid_distance = match (&source_gtid, &replica) {
        (Some(s), Some(r)) => Some(replica::gtid_distance(s, &r.gtid_slave_pos)),
        _ => None,
    };
    let last_snapshot_age_s = source
        .snapshots
        .last()
        .map(|s| populous_engine::now() - s.taken_at);
    Ok(SourceStatus {
        running: instance.is_some(),
        replica,
        source_gtid,
        source_error,
        gtid_distance,
        last_snapshot_age_s,
        source,
    })
}

/// A snapshot of the source's replica, its position, and its clean base.
pub fn snapshot(engine: &mut Engine, name: &Name, snap: Option<Name>) -> Result<SourceSnapshot> {
    let source = engine.source_get(name)?;
    let instance = db::running(engine.home(), &source.volume).ok_or_else(|| Error::NotRunning {
        volume: source.volume.to_string(),
    })?;
    let snap_name = match snap {
        Some(s) => s,
        None => Name::new("snapshot", &format!("src-{}", populous_engine::now()))?,
    };
    let r = SnapRef {
        vol: source.volume.clone(),
        snapshot: snap_name,
    };
    let url = instance.socket_url();
    // Applying stops at a transaction boundary: the snapshot holds exactly `gtid`.
    let gtid = replica::pause_apply(&url)?;
    let taken = crate::snapshot(engine, &r);
    let resumed = replica::resume_apply(&url);
    taken?;
    resumed?;
    engine.source_record_snapshot(name, &r, &gtid)?;
    let base = clean_base(engine, &source, &r)?;
    engine.source_record_base(&r, &base)?;
    Ok(SourceSnapshot {
        snapshot: r.to_string(),
        gtid,
        base: Some(base.to_string()),
        taken_at: populous_engine::now(),
    })
}

/// The clean base's volume for snapshot `r`.
fn base_ref(r: &SnapRef) -> Result<VolRef> {
    let mut name = format!("{}-{}", r.vol.volume, r.snapshot);
    name.truncate(64);
    Ok(VolRef {
        folder: r.vol.folder.clone(),
        volume: Name::new("volume", &name)?,
    })
}

/// The snapshot clones come from: `BASE@clean`.
fn clean_snap(base: &VolRef) -> Result<SnapRef> {
    Ok(SnapRef {
        vol: base.clone(),
        snapshot: Name::new("snapshot", "clean")?,
    })
}

/// Makes snapshot `r`'s clean base: cloned, started without replication,
/// told to forget the source, shut down cleanly, checked for any file of
/// replication, and snapshotted as `@clean`.
fn clean_base(engine: &mut Engine, source: &SourceInfo, r: &SnapRef) -> Result<VolRef> {
    let base = base_ref(r)?;
    engine.clone_volume(
        &CloneSource::Snapshot(r.clone()),
        &base,
        &VolumeOptions {
            description: Some(format!("clean base of {r} (source {})", source.name)),
            ..VolumeOptions::default()
        },
    )?;
    let cleaned = (|| {
        let i = db::start_as(engine, &base, None, None)?.value;
        let forgot = replica::forget_source(&i.socket_url());
        let stopped = db::stop(engine, &base);
        forgot?;
        stopped?;
        let path = engine.volume_path(&base)?;
        // RESET SLAVE ALL leaves an empty multi-source index behind: gone too.
        for f in replication_files(&path) {
            let _ = std::fs::remove_file(f);
        }
        if let Some(left) = replication_files(&path).first() {
            return Err(refused(
                &source.name,
                format!("the clean base {base} still holds {}", left.display()),
            ));
        }
        engine.snapshot_create(&clean_snap(&base)?, populous_engine::Consistency::App)?;
        Ok::<_, Error>(())
    })();
    if let Err(e) = cleaned {
        let _ = db::stop(engine, &base);
        let _ = engine.volume_remove(&base, true, true);
        return Err(e);
    }
    Ok(base)
}

/// Replication's files in a datadir: its settings and relay logs.
pub fn replication_files(datadir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(datadir) else {
        return Vec::new();
    };
    let mut found: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            let n = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            replica::REPLICATION_FILES.contains(&n) || n.contains("relay-bin")
        })
        .collect();
    found.sort();
    found
}

/// Clones the newest clean base of source `name` (or that of `snapshot`) to `dst`.
pub fn clone(
    engine: &mut Engine,
    name: &Name,
    snapshot: Option<&Name>,
    dst: &VolRef,
) -> Result<VolumeInfo> {
    let source = engine.source_get(name)?;
    let chosen = source
        .snapshots
        .iter()
        .rev()
        .filter(|s| s.base.is_some())
        .find(|s| snapshot.is_none_or(|n| s.snapshot.ends_with(&format!("@{n}"))))
        .ok_or_else(|| {
            refused(
                name,
                match snapshot {
                    Some(n) => format!("no snapshot {n} with a clean base"),
                    None => "no snapshot yet: take one first".to_owned(),
                },
            )
        })?;
    let base: VolRef = chosen.base.as_deref().unwrap_or_default().parse()?;
    Ok(engine.clone_volume(
        &CloneSource::Snapshot(clean_snap(&base)?),
        dst,
        &VolumeOptions {
            description: Some(format!("clone of {} (source {name})", chosen.snapshot)),
            ..VolumeOptions::default()
        },
    )?)
}

/// What [`prune`] removed.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Pruned {
    /// Snapshots removed with their clean bases.
    pub removed: Vec<String>,
    /// Snapshots beyond `keep` that stay because clones use them.
    pub kept_for_clones: Vec<String>,
}

/// Keeps the newest `keep` snapshots of source `name`, and older ones whose
/// clean base still has clones; removes the others with their bases.
pub fn prune(engine: &mut Engine, name: &Name) -> Result<Pruned> {
    let source = engine.source_get(name)?;
    let mut out = Pruned::default();
    let excess = source.snapshots.len().saturating_sub(source.keep as usize);
    for s in &source.snapshots[..excess] {
        let r: SnapRef = s.snapshot.parse()?;
        if let Some(base) = s.base.as_deref() {
            let base: VolRef = base.parse()?;
            let used = match engine.snapshot_list(&base) {
                Ok(snaps) => snaps.iter().any(|x| !x.clones.is_empty()),
                Err(e) if e.kind() == ErrorKind::NotFound => false,
                Err(e) => return Err(e.into()),
            };
            if used {
                out.kept_for_clones.push(s.snapshot.clone());
                continue;
            }
            match engine.volume_remove(&base, true, true) {
                Ok(_) => {}
                Err(e) if e.kind() == ErrorKind::NotFound => {}
                Err(e) => return Err(e.into()),
            }
        }
        engine.snapshot_remove(&r)?;
        out.removed.push(s.snapshot.clone());
    }
    Ok(out)
}

/// Stops the replica and forgets the source; the volume and its snapshots stay.
pub fn remove(engine: &mut Engine, name: &Name) -> Result<()> {
    let source = engine.source_get(name)?;
    db::stop(engine, &source.volume)?;
    engine.source_remove(name)?;
    clear_replication_files(engine.home(), &source.volume);
    let _ = std::fs::remove_dir_all(work_dir(engine.home(), name));
    Ok(())
}

/// Removes replication's settings (which hold the password) and relay logs
/// from the run directory of the server on `r`.
fn clear_replication_files(home: &Path, r: &VolRef) {
    let run = db::run_dir(home, r);
    for f in replica::REPLICATION_FILES {
        let _ = std::fs::remove_file(run.join(f));
    }
    if let Ok(entries) = std::fs::read_dir(&run) {
        for e in entries.flatten() {
            if e.file_name().to_string_lossy().contains("relay-bin") {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
}

/// Stops the server on `r` if one runs, for cleanups that go on regardless.
fn db_stop_quiet(engine: &mut Engine, r: &VolRef) {
    if let Err(e) = db::stop(engine, r) {
        tracing::warn!(volume = %r, error = %e, "could not stop the server during a cleanup");
    }
}

/// When scheduled snapshots are due.
pub mod schedule {
    use crate::{Error, Result};

    /// The first time after `after` (Unix seconds) that `expr` (a cron
    /// expression: minute hour day month weekday, with an optional leading
    /// seconds field) names.
    pub fn next_after(expr: &str, after: i64) -> Result<i64> {
        let cron = croner::parser::CronParser::builder()
            .seconds(croner::parser::Seconds::Optional)
            .build()
            .parse(expr)
            .map_err(|e| Error::SourceRefused {
                name: "schedule".into(),
                detail: format!("{expr:?} is not a cron expression ({e}); e.g. \"*/15 * * * *\""),
            })?;
        let from = chrono::DateTime::from_timestamp(after, 0).unwrap_or_default();
        cron.find_next_occurrence(&from, false)
            .map(|t| t.timestamp())
            .map_err(|e| Error::SourceRefused {
                name: "schedule".into(),
                detail: format!("{expr:?} names no future time ({e})"),
            })
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn next_times() {
            // 2026-12-01T00:00:00Z
            let t0 = 1_796_083_200;
            assert_eq!(next_after("*/15 * * * *", t0).unwrap(), t0 + 900);
            assert_eq!(next_after("0 3 * * *", t0).unwrap(), t0 + 3 * 3600);
            assert_eq!(next_after("*/2 * * * * *", t0).unwrap(), t0 + 2);
            assert!(next_after("every hour", t0).is_err());
            assert!(next_after("61 * * * *", t0).is_err());
        }
    }
}
