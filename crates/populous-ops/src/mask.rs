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

use populous_engine::{CloneSource, Engine, Name, SnapRef, VolRef, VolumeInfo, VolumeOptions};
use populous_mask::db::{MaskOptions, MaskProgress, MaskReport, VerifyReport};
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

/// What [`mask`] did.
#[derive(Debug)]
pub enum Masked {
    /// This run masked the rows and recorded it in the volume's provenance.
    Done {
        /// Rows, chunks and rates per table.
        report: MaskReport,
        /// The volume afterwards.
        volume: Box<VolumeInfo>,
    },
    /// The provenance already records these rules and this key (a clone of a
    /// masked golden copy, or a retry): nothing was read or written.
    Already(Box<VolumeInfo>),
}

impl Masked {
    /// The volume afterwards.
    pub fn volume(&self) -> &VolumeInfo {
        match self {
            Masked::Done { volume, .. } | Masked::Already(volume) => volume,
        }
    }

    /// One line that says what was done.
    pub fn summary(&self) -> String {
        match self {
            Masked::Done { report, .. } => format!(
                "masked {} rows in {:.1} s, {:.0} rows/s, rules {}",
                report.rows_total, report.elapsed_secs, report.rows_per_sec, report.ruleset_hash
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
        return f(&format!("{}populous", i.url));
    }
    let i = db::start(engine, r, None)?.value;
    let result = f(&format!("{}populous", i.url));
    let stopped = db::stop(engine, r);
    let value = result?;
    stopped?;
    Ok(value)
}

/// Masks the database on `r` in place and marks the volume masked.
pub fn mask(
    engine: &mut Engine,
    r: &VolRef,
    spec: &MaskSpec,
    opts: &MaskOptions,
    progress: impl Fn(&MaskProgress) + Send + Sync + 'static,
) -> Result<Masked> {
    let info = engine.volume_inspect(r)?;
    let p = &info.provenance;
    if p.masked
        && p.mask_ruleset.as_deref() == Some(spec.rules.hash())
        && p.mask_key_id.as_deref() == Some(spec.key.key_id())
    {
        return Ok(Masked::Already(Box::new(info)));
    }
    let report = with_server(engine, r, |url| {
        Ok(populous_mask::db::mask_database(
            url,
            &spec.rules,
            &spec.key,
            opts,
            progress,
        )?)
    })?;
    // Only once every rule has completed does the volume count as masked.
    let volume = engine.volume_mark_masked(r, &report.ruleset_hash, &report.key_id)?;
    Ok(Masked::Done {
        report,
        volume: Box::new(volume),
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

/// Compares a sample of rows of the masked volume `r` with the originals in
/// `source` (a snapshot): every masked column must equal mask(original). The
/// originals are read from a throw-away clone in the source's own folder,
/// destroyed afterwards.
pub fn verify(
    engine: &mut Engine,
    r: &VolRef,
    spec: &MaskSpec,
    source: &SnapRef,
    sample: usize,
) -> Result<VerifyReport> {
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
        let src_url = format!("{}populous", src.url);
        with_server(engine, r, |url| {
            Ok(populous_mask::db::verify(
                url,
                &src_url,
                &spec.rules,
                &spec.key,
                sample,
            )?)
        })
    })();
    let _ = db::stop(engine, &tmp);
    if let Err(e) = engine.volume_remove(&tmp, true, true) {
        tracing::warn!(error = %e, volume = %tmp, "could not remove the verification clone");
    }
    result
}
