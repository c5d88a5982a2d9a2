//! Re-seeding a source whose replication cannot go on (the source purged
//! binary logs the replica still needed, or the replica diverged).
//!
//! The new replica is built beside the old one, on `VOL-resync`, and caught
//! up with the source; only then are the names swapped, in one rename that
//! replaces the old volume. Until that moment clones, snapshots and the old
//! replica are untouched, so nobody ever sees half a replica. The clean bases
//! of the old replica's snapshots stay while clones use them.

use populous_engine::{Engine, Name, SourceInfo, SourceSnapshot, VolRef, VolumeOptions};
use populous_source::replica;
use populous_source::seed::SeedReport;
use populous_source::url::{Password, SourceUrl};

use super::{db_stop_quiet, preflight, seed_into, work_dir, SeedProgress, Seeding, SEEDING_LABEL};
use crate::{db, Error, Result};

/// What [`resync`] did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Resynced {
    /// The source, on its new replica.
    pub source: SourceInfo,
    /// The new seed's figures.
    pub seed: SeedReport,
    /// The first snapshot of the new replica, with its clean base.
    pub snapshot: SourceSnapshot,
    /// Clean bases of the old replica removed (no clone used them).
    pub removed_bases: Vec<String>,
}

/// How long the new replica may take to catch up before the resync gives up
/// (and removes it, leaving the old one as it was).
const CATCH_UP_S: u32 = 600;

/// Re-seeds source `name` beside its replica and swaps when in sync.
pub fn resync(
    engine: &mut Engine,
    name: &Name,
    progress: &mut dyn FnMut(SeedProgress),
) -> Result<Resynced> {
    let source = engine.source_get(name)?;
    let url: SourceUrl = source.url.parse()?;
    let pw = Password::from_file(&source.password_file)?;
    let (facts, mode, datadir) = preflight(
        name,
        &url,
        &pw,
        Some(source.mode),
        source.datadir.as_deref(),
    )?;
    let mut next = format!("{}-resync", source.volume.volume);
    next.truncate(64);
    let beside = VolRef {
        folder: source.volume.folder.clone(),
        volume: Name::new("volume", &next)?,
    };
    // A resync killed before its swap left this volume: it goes, the old replica stays.
    if let Ok(i) = engine.volume_inspect(&beside) {
        if i.labels.get(SEEDING_LABEL).map(String::as_str) == Some(name.as_str()) {
            db_stop_quiet(engine, &beside);
            engine.volume_remove(&beside, true, true)?;
        }
    }
    // Another id than the old replica's: both talk to the source for a while.
    let mut server_id = source.server_id.wrapping_add(1).max(1);
    if server_id == facts.server_id {
        server_id = server_id.wrapping_add(1).max(1);
    }
    let created = engine.volume_create(
        &beside,
        &VolumeOptions {
            description: Some(format!("replica of source {name} ({url}), resynced")),
            labels: vec![(SEEDING_LABEL.to_owned(), name.to_string())],
            ..VolumeOptions::default()
        },
    )?;
    let work = work_dir(engine.home(), name).join("resync");
    let built = (|| {
        let (report, instance) = seed_into(
            engine,
            &Seeding {
                url: &url,
                pw: &pw,
                facts: &facts,
                mode,
                datadir: &datadir,
                server_id,
                volume: &beside,
                path: &created.path,
                work: &work,
            },
            progress,
        )?;
        replica::start_replication(&instance.socket_url(), &url, &pw, &report.gtid)?;
        let now_at = replica::probe(&url, &pw)?.gtid_binlog_pos;
        if !replica::wait_for(&instance.socket_url(), &now_at, CATCH_UP_S)? {
            return Err(Error::SourceRefused {
                name: name.to_string(),
                detail: format!(
                    "the new replica did not reach the source's position {now_at} in {CATCH_UP_S} s; the old replica is as it was"
                ),
            });
        }
        Ok::<_, Error>(report)
    })();
    let report = match built {
        Ok(r) => r,
        Err(e) => {
            db_stop_quiet(engine, &beside);
            let _ = engine.volume_remove(&beside, true, true);
            let _ = std::fs::remove_dir_all(&work);
            return Err(e);
        }
    };
    let _ = std::fs::remove_dir_all(&work);

    // The swap: both servers stop, the source moves, one rename replaces the old volume.
    let mut removed_bases = Vec::new();
    for s in &source.snapshots {
        let Some(base) = s.base.as_deref() else {
            continue;
        };
        let base: VolRef = base.parse()?;
        let used = engine
            .snapshot_list(&base)
            .map(|l| l.iter().any(|x| !x.clones.is_empty()))
            .unwrap_or(true);
        if !used && engine.volume_remove(&base, true, true).is_ok() {
            removed_bases.push(base.to_string());
        }
    }
    db::stop(engine, &source.volume)?;
    db::stop(engine, &beside)?;
    engine.source_set_volume(name, &beside, server_id)?;
    engine.volume_rename(&beside, &source.volume.volume, true)?;
    // Replication settings of both old run directories are stale (and hold the password).
    super::clear_replication_files(engine.home(), &source.volume);
    super::clear_replication_files(engine.home(), &beside);
    let i = db::start_as(engine, &source.volume, None, Some(server_id))?.value;
    let applied = replica::status(&i.socket_url())?.gtid_slave_pos;
    replica::start_replication(&i.socket_url(), &url, &pw, &applied)?;
    let snapshot = super::snapshot(engine, name, None)?;
    Ok(Resynced {
        source: engine.source_get(name)?,
        seed: report,
        snapshot,
        removed_bases,
    })
}
