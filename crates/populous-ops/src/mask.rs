//! Masking a volume's database, and recording it in the volume's provenance.
//!
//! [`mask`] is the one implementation behind `populous mask`, the pipeline's
//! mask role and the golden refresh: it starts a server on the volume if none
//! runs, masks in place, stops what it started, and only then marks the volume
//! masked, so an interrupted run never leaves a volume that claims to be
//! masked. A volume whose provenance already names the same rules and key is
//! left alone without starting a server: masking is deterministic, and a
//! clone of a masked golden copy needs nothing more.

use std::path::{Path, PathBuf};

use populous_engine::{
    CloneSource, Engine, MaskScan, Name, SnapRef, VolRef, VolumeInfo, VolumeOptions,
};
use populous_mask::db::scrub::{self, ScrubOptions, ScrubReport};
use populous_mask::db::{MaskOptions, MaskProgress, MaskReport, VerifyReport};
use populous_mask::scan::ScanFindings;
use populous_mask::{MaskKey, RuleSet};

use crate::{db, Error, Result};

/// The rules and the key of one masking.
#[derive(Debug)]
pub struct MaskSpec {
    /// The rules.
    pub rules: RuleSet,
    /// The secret key (its id is what provenance records).
    pub key: MaskKey,
}

impl MaskSpec {
    /// Reads the rules (YAML) and the key file.
    pub fn load(rules: &Path, key_file: &Path) -> Result<MaskSpec> {
        let text = std::fs::read_to_string(rules).map_err(|source| Error::Read {
            what: "masking rules",
            path: rules.to_owned(),
            source,
        })?;
        let rules_set = RuleSet::from_yaml(&text).map_err(|source| Error::Rules {
            path: PathBuf::from(rules),
            source,
        })?;
        Ok(MaskSpec {
            rules: rules_set,
            key: MaskKey::from_file(key_file)?,
        })
    }
}

/// What a masking asks for beyond rules and key.
#[derive(Debug, Clone)]
pub struct MaskRequest {
    /// Threads, chunk size, index handling.
    pub options: MaskOptions,
    /// Compaction and purge limits of the scrub that follows.
    pub scrub: ScrubOptions,
    /// How many original values to sample for the scan of the files.
    pub sample: usize,
}

impl Default for MaskRequest {
    fn default() -> Self {
        MaskRequest {
            options: MaskOptions::default(),
            scrub: ScrubOptions::default(),
            sample: 2000,
        }
    }
}

/// A masking run that did the work: rows, the scrub after it, the scan.
#[derive(Debug)]
pub struct MaskRun {
    /// Rows, chunks and rates per table.
    pub report: MaskReport,
    /// How long each scrub step took.
    pub scrub: ScrubReport,
    /// Binary/relay logs and replication files removed from the datadir.
    pub removed_logs: Vec<String>,
    /// What the scan of every file found (nothing, or the run failed).
    pub scan: ScanFindings,
    /// Seconds of the scan.
    pub scan_secs: f64,
    /// The volume afterwards.
    pub volume: VolumeInfo,
}

/// What [`mask`] did.
#[derive(Debug)]
pub enum Masked {
    /// This run masked (or finished masking) and scrubbed the data, scanned
    /// the files, and recorded it in the volume's provenance.
    Done(Box<MaskRun>),
    /// The provenance already records these rules, this key and a passing
    /// scan (a clone of a masked golden copy, or a retry): nothing was read
    /// or written.
    Already(Box<VolumeInfo>),
}

impl Masked {
    /// The volume afterwards.
    pub fn volume(&self) -> &VolumeInfo {
        match self {
            Masked::Done(run) => &run.volume,
            Masked::Already(volume) => volume,
        }
    }

    /// One line that says what was done.
    pub fn summary(&self) -> String {
        match self {
            Masked::Done(run) => format!(
                "masked {} rows in {:.1} s, {:.0} rows/s, rules {}; scrubbed in {:.1} s; scanned: 0 of {} originals found in {} files",
                run.report.rows_total,
                run.report.elapsed_secs,
                run.report.rows_per_sec,
                run.report.ruleset_hash,
                run.scrub.total_secs(),
                run.scan.sampled,
                run.scan.files_scanned
            ),
            Masked::Already(info) => {
                let p = &info.provenance;
                format!(
                    "already masked with these rules ({}) and key ({}){}: nothing to do",
                    p.mask_ruleset.as_deref().unwrap_or("?"),
                    p.mask_key_id.as_deref().unwrap_or("?"),
                    info.origin
                        .as_deref()
                        .map(|o| format!(", inherited from {o}"))
                        .unwrap_or_default()
                )
            }
        }
    }
}

/// Runs `f` with the URL of the `populous` database on `r`: the running
/// server's, or one started for the purpose and stopped afterwards.
fn with_server<T>(engine: &mut Engine, r: &VolRef, f: impl FnOnce(&str) -> Result<T>) -> Result<T> {
    if let Some(i) = db::running(engine.home(), r) {
        return f(&i.db_url("populous"));
    }
    let i = db::start(engine, r, None)?.value;
    let result = f(&i.db_url("populous"));
    let stopped = db::stop(engine, r);
    let value = result?;
    stopped?;
    Ok(value)
}

/// Masks the database on `r` in place, scrubs what the old values left in
/// the files, scans every file for a sample of the originals, and records
/// the masking and the scan in the volume's provenance.
///
/// The server is stopped (a slow shutdown) for the scan, so that every page
/// is at rest in the files; one that was running before is started again.
/// A scan that finds originals fails the run and leaves the volume marked
/// unmasked, with the failed scan in its provenance.
pub fn mask(
    engine: &mut Engine,
    r: &VolRef,
    spec: &MaskSpec,
    req: &MaskRequest,
    progress: impl Fn(&MaskProgress) + Send + Sync + 'static,
) -> Result<Masked> {
    let info = engine.volume_inspect(r)?;
    let p = &info.provenance;
    if p.masked_and_scanned()
        && p.mask_ruleset.as_deref() == Some(spec.rules.hash())
        && p.mask_key_id.as_deref() == Some(spec.key.key_id())
    {
        return Ok(Masked::Already(Box::new(info)));
    }
    let datadir = engine.volume_path(r)?;
    let was_running = db::running(engine.home(), r).is_some();
    // Another server's logs in a copied datadir are unused here and hold
    // originals; a running server keeps its own (and has none: see db).
    let removed_logs = if was_running {
        Vec::new()
    } else {
        crate::datadir::forget_logs(&datadir).map_err(|source| Error::Read {
            what: "datadir",
            path: datadir.clone(),
            source,
        })?
    };
    let result = mask_and_scan(engine, r, spec, req, progress, &datadir, removed_logs);
    // A server the user had running comes back, whatever happened.
    if was_running && db::running(engine.home(), r).is_none() {
        let restarted = db::start(engine, r, None);
        match (&result, restarted) {
            (Ok(_), Err(e)) => return Err(e),
            (Err(_), Err(e)) => {
                tracing::warn!(volume = %r, error = %e, "could not start the server again after a failed masking");
            }
            _ => {}
        }
    }
    result
}

/// Starts a server, samples, masks, scrubs, stops it (a slow shutdown) and
/// scans the files at rest; records the result in provenance.
fn mask_and_scan(
    engine: &mut Engine,
    r: &VolRef,
    spec: &MaskSpec,
    req: &MaskRequest,
    progress: impl Fn(&MaskProgress) + Send + Sync + 'static,
    datadir: &std::path::Path,
    removed_logs: Vec<String>,
) -> Result<Masked> {
    let instance = db::start(engine, r, None)?.value;
    let url = instance.db_url("populous");
    let log_start = std::fs::metadata(&instance.log_file).map_or(0, |m| m.len());
    let (pool, free) = db::pool_free(engine, r)?;
    let worked = (|| {
        // Refused before anything is written: InnoDB dies of a full disk.
        let need = populous_mask::db::space::estimate(&url, &spec.rules)?.bytes();
        if let Some(free) = free.filter(|f| need > *f) {
            return Err(Error::MaskWouldNotFit {
                volume: r.to_string(),
                pool: pool.clone(),
                need,
                free,
            });
        }
        let mut needles = scrub::sample_originals(&url, &spec.rules, req.sample)?;
        scrub::prepare(&url, &spec.rules)?;
        // The compaction runs beside masking (see `scrub::compact`): its
        // time mostly hides behind masking's, which reads every blob.
        let (report, compacted) = std::thread::scope(|s| {
            let compaction = req
                .scrub
                .compact
                .then(|| s.spawn(|| scrub::compact(&url, &spec.rules)));
            let report = populous_mask::db::mask_database(
                &url,
                &spec.rules,
                &spec.key,
                &req.options,
                progress,
            );
            let compacted =
                compaction.map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)));
            (report, compacted)
        });
        let report = report?;
        let compact_secs = compacted.transpose()?.unwrap_or(0.0);
        let live = scrub::still_live(&url, &spec.rules, &needles)?;
        needles.retain(|n| !live.contains(n));
        let after = ScrubOptions {
            compact: false,
            ..req.scrub.clone()
        };
        let mut scrubbed = scrub::finish(&url, &spec.rules, &after)?;
        scrubbed.compact_secs = compact_secs;
        Ok::<_, Error>((needles, report, scrubbed))
    })();
    // Stop in any case: after `finish`, this is the slow shutdown.
    let stopped = db::stop(engine, r);
    let (needles, report, scrubbed) = worked.map_err(|e| {
        // A server killed by error 28 shows the client a lost connection:
        // its own log says why.
        if !matches!(e.kind(), populous_error::ErrorKind::NoSpace)
            && log_says_disk_full(&log_since(&instance.log_file, log_start))
        {
            Error::DiskFull {
                volume: r.to_string(),
                pool: pool.clone(),
                source: Box::new(e),
            }
        } else {
            e
        }
    })?;
    stopped?;
    // At rest after a clean shutdown: the doublewrite buffer may still hold
    // pages the source server flushed.
    crate::datadir::clear_doublewrite(datadir).map_err(|source| Error::Read {
        what: "doublewrite buffer in the datadir",
        path: datadir.to_owned(),
        source,
    })?;
    let t = std::time::Instant::now();
    let findings = scan_files(datadir, &needles)?;
    let scan_secs = t.elapsed().as_secs_f64();
    let scan = MaskScan {
        sampled: findings.sampled as u64,
        found: findings.found as u64,
        files: findings.files_scanned as u64,
        at: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64),
    };
    if !findings.passed() {
        engine.volume_mark_unmasked(r, &scan)?;
        return Err(Error::ScanFound {
            volume: r.to_string(),
            found: findings.found,
            sampled: findings.sampled,
            files: findings
                .files
                .iter()
                .map(|f| format!("{} ({})", f.path.display(), f.originals))
                .collect::<Vec<_>>()
                .join(", "),
        });
    }
    // Only once every rule has completed and the scan passed does the
    // volume count as masked.
    let volume = engine.volume_mark_masked(r, &report.ruleset_hash, &report.key_id, &scan)?;
    Ok(Masked::Done(Box::new(MaskRun {
        report,
        scrub: scrubbed,
        removed_logs,
        scan: findings,
        scan_secs,
        volume,
    })))
}

/// What the server logged from byte `from` on (nothing if unreadable).
fn log_since(log: &Path, from: u64) -> String {
    use std::io::{Read, Seek, SeekFrom};
    let mut text = Vec::new();
    if let Ok(mut f) = std::fs::File::open(log) {
        if f.seek(SeekFrom::Start(from)).is_ok() {
            let _ = f.take(1 << 20).read_to_end(&mut text);
        }
    }
    String::from_utf8_lossy(&text).into_owned()
}

/// Whether MariaDB's error log reports a full disk (error 28, ENOSPC), in
/// any of the ways InnoDB and the server word it.
fn log_says_disk_full(log: &str) -> bool {
    // "error 28", not "error 280".
    let code_28 = |l: &str, prefix: &str| {
        l.match_indices(prefix).any(|(i, _)| {
            let rest = &l[i + prefix.len()..];
            rest.starts_with("28") && !rest[2..].starts_with(|c: char| c.is_ascii_digit())
        })
    };
    log.lines().filter(|l| l.contains("[ERROR]")).any(|l| {
        code_28(l, "error number ")
            || code_28(l, "errno: ")
            || code_28(l, "error ")
            || l.contains("No space left on device")
            || l.contains("Disk full")
    })
}

/// Every file of a volume's directory searched for `needles`.
fn scan_files(dir: &std::path::Path, needles: &[Vec<u8>]) -> Result<ScanFindings> {
    populous_mask::scan::scan_dir(dir, needles).map_err(|source| Error::Read {
        what: "volume's files for the scan",
        path: dir.to_owned(),
        source,
    })
}

/// The snapshot a masked volume came from: its first lineage step, if that
/// snapshot still exists.
pub fn origin_snapshot(engine: &Engine, r: &VolRef) -> Result<SnapRef> {
    let info = engine.volume_inspect(r)?;
    let step = info
        .lineage
        .first()
        .filter(|s| s.exists)
        .ok_or_else(|| Error::NoOrigin {
            volume: r.to_string(),
        })?;
    Ok(step.snapshot.parse()?)
}

/// What [`verify`] found.
#[derive(Debug, serde::Serialize)]
pub struct Verified {
    /// The row comparison.
    #[serde(flatten)]
    pub report: VerifyReport,
    /// With `scan`: originals sampled from the source, searched for in every
    /// file of the masked volume.
    pub scan: Option<ScanFindings>,
}

impl Verified {
    /// The rows check out and, if it ran, the scan found nothing.
    pub fn passed(&self) -> bool {
        self.report.passed() && self.scan.as_ref().is_none_or(ScanFindings::passed)
    }
}

/// Compares a sample of rows of the masked volume `r` with the originals in
/// `source` (a snapshot): every masked column must equal mask(original). The
/// originals are read from a throw-away clone in the source's own folder,
/// destroyed afterwards. With `scan`, originals sampled from the source are
/// also searched for in every file of `r` (after its server stopped, when
/// this started it; a server that was running keeps running, so its files
/// are read as they are).
pub fn verify(
    engine: &mut Engine,
    r: &VolRef,
    spec: &MaskSpec,
    source: &SnapRef,
    sample: usize,
    scan: bool,
) -> Result<Verified> {
    let tmp = VolRef {
        folder: source.vol.folder.clone(),
        volume: Name::new("volume", &format!("verify-{}", std::process::id()))?,
    };
    engine.clone_volume(
        &CloneSource::Snapshot(source.clone()),
        &tmp,
        &VolumeOptions::default(),
    )?;
    let result = (|| {
        let src = db::start(engine, &tmp, None)?.value;
        let src_url = src.db_url("populous");
        let mut needles = if scan {
            scrub::sample_originals(&src_url, &spec.rules, sample)?
        } else {
            Vec::new()
        };
        let report = with_server(engine, r, |url| {
            let report = populous_mask::db::verify(url, &src_url, &spec.rules, &spec.key, sample)?;
            let live = scrub::still_live(url, &spec.rules, &needles)?;
            needles.retain(|n| !live.contains(n));
            Ok(report)
        })?;
        let scan = if scan {
            let dir = engine.volume_path(r)?;
            Some(scan_files(&dir, &needles)?)
        } else {
            None
        };
        Ok(Verified { report, scan })
    })();
    let _ = db::stop(engine, &tmp);
    if let Err(e) = engine.volume_remove(&tmp, true, true) {
        tracing::warn!(error = %e, volume = %tmp, "could not remove the verification clone");
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use populous_error::ErrorKind;

    #[test]
    fn a_server_log_that_reports_error_28_is_a_full_disk() {
        // Lines as MariaDB 10.11 writes them.
        for line in [
            "2026-12-01 10:00:00 0 [ERROR] InnoDB: Write to file ./ib_logfile0 failed at offset 4096, 512 bytes should have been written, only 0 were written. Operating system error number 28. Check that your OS and file system support files of this size.",
            "2026-12-01 10:00:00 3 [ERROR] mariadbd: Disk full (/tmp/#sql-temptable-1.MAI); waiting for someone to free some space... (errno: 28 \"No space left on device\")",
            "2026-12-01 10:00:00 4 [ERROR] InnoDB: preallocating 16777216 bytes for file ./populous/main.ibd failed with error 28",
        ] {
            let log = format!("2026-12-01 9:59:59 0 [Note] InnoDB: Buffer pool(s) load completed\n{line}\n");
            assert!(log_says_disk_full(&log), "{line}");
        }
        assert!(!log_says_disk_full(
            "2026-12-01 10:00:00 0 [Note] InnoDB: 128 rollback segments are active.\n\
             2026-12-01 10:00:00 0 [ERROR] Aborted connection 28 to db: 'populous'\n\
             2026-12-01 10:00:00 0 [ERROR] InnoDB: got error 280\n"
        ));
    }

    #[test]
    fn running_out_of_space_is_no_space() {
        let lost = Error::NotRunning {
            volume: "golden/db".into(),
        };
        let full = Error::DiskFull {
            volume: "golden/db".into(),
            pool: "p".into(),
            source: Box::new(lost),
        };
        assert_eq!(full.kind(), ErrorKind::NoSpace);
        let refused = Error::MaskWouldNotFit {
            volume: "golden/db".into(),
            pool: "p".into(),
            need: 300 << 20,
            free: 10 << 20,
        };
        assert_eq!(refused.kind(), ErrorKind::NoSpace);
        assert!(refused.to_string().contains("nothing was masked"));
    }
}
