//! `populous mask` and `populous mask verify`: thin wrappers over
//! populous-mask's database layer, with the volume's provenance recorded.

use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use populous_db::volume;
use populous_engine::{CloneSource, Engine, SnapRef, VolRef, VolumeOptions};
use populous_mask::db::{mask_database, verify, MaskOptions};
use populous_mask::{MaskKey, RuleSet};

use crate::cli::{MaskArgs, MaskVerifyArgs};
use crate::output;

fn load(rules: &std::path::Path, key_file: &std::path::Path) -> Result<(RuleSet, MaskKey)> {
    let text = std::fs::read_to_string(rules)
        .with_context(|| format!("reading the rules {}", rules.display()))?;
    let rules = RuleSet::from_yaml(&text).with_context(|| format!("in {}", rules.display()))?;
    let key = MaskKey::from_file(key_file)?;
    Ok((rules, key))
}

/// Runs `f` with the URL of the database on `r`: the running server, or one
/// started for the purpose and stopped afterwards.
fn with_server<T>(engine: &mut Engine, r: &VolRef, f: impl FnOnce(&str) -> Result<T>) -> Result<T> {
    if let Some(i) = volume::running(engine.home(), r) {
        return f(&format!("{}populous", i.url));
    }
    let i = volume::start_on_volume(engine, r, None)?.value;
    let result = f(&format!("{}populous", i.url));
    let stopped = volume::stop_on_volume(engine, r);
    let value = result?;
    stopped?;
    Ok(value)
}

/// What [`mask_volume`] did.
pub enum Masked {
    /// This run masked the rows and recorded it in the volume's provenance.
    Done(populous_mask::db::MaskReport, populous_engine::VolumeInfo),
    /// The provenance already records these rules and this key (a clone of a
    /// masked golden copy, or a retry): nothing was read or written.
    Already(populous_engine::VolumeInfo),
}

/// Masks the database on `r` in place with a progress bar, then marks the
/// volume masked. Shared by `populous mask` and the pipeline's mask role.
/// A volume whose provenance already names the same rules and key is left
/// alone without even starting a server: masking is deterministic, and the
/// database's own progress table would skip every chunk anyway.
pub fn mask_volume(
    engine: &mut Engine,
    r: &VolRef,
    rules_path: &std::path::Path,
    key_file: &std::path::Path,
    threads: usize,
) -> Result<Masked> {
    let (rules, key) = load(rules_path, key_file)?;
    let info = engine.volume_inspect(r)?;
    let p = &info.provenance;
    if p.masked
        && p.mask_ruleset.as_deref() == Some(rules.hash())
        && p.mask_key_id.as_deref() == Some(key.key_id())
    {
        return Ok(Masked::Already(info));
    }
    let opts = MaskOptions {
        threads,
        ..MaskOptions::default()
    };
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} chunks  {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let pb = bar.clone();
    let report = with_server(engine, r, |url| {
        Ok(mask_database(url, &rules, &key, &opts, move |p| {
            pb.set_length(p.chunks_todo);
            pb.set_position(p.chunks_done + p.chunks_skipped);
            pb.set_message(format!(
                "{}: {} rows, {:.0} rows/s",
                p.table,
                p.rows_done,
                p.rows_done as f64 / p.elapsed_secs.max(1e-9)
            ));
        })?)
    });
    bar.finish_and_clear();
    let report = report?;
    // Only once every rule has completed does the volume count as masked.
    let info = engine.volume_mark_masked(r, &report.ruleset_hash, &report.key_id)?;
    Ok(Masked::Done(report, info))
}

/// Why a volume needed no masking.
pub fn already_masked_line(info: &populous_engine::VolumeInfo) -> String {
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

/// `populous mask FOLDER/VOL --rules R --key-file K`.
pub fn mask(engine: &mut Engine, a: &MaskArgs, json: bool) -> Result<()> {
    let r: VolRef = a.volume.parse()?;
    let (report, info) = match mask_volume(engine, &r, &a.rules, &a.key_file, a.threads)? {
        Masked::Done(report, info) => (report, info),
        Masked::Already(info) => {
            if json {
                return output::json(&serde_json::json!({
                    "changed": false, "provenance": info.provenance, "origin": info.origin
                }));
            }
            println!("{r} is {}", already_masked_line(&info));
            return Ok(());
        }
    };
    if json {
        return output::json(
            &serde_json::json!({"changed": true, "report": report, "provenance": info.provenance}),
        );
    }
    for t in &report.tables {
        println!(
            "{}: {} rows in {} chunks ({} already done) in {:.1} s, {:.0} rows/s; columns {}",
            t.table,
            t.rows,
            t.chunks,
            t.skipped_chunks,
            t.elapsed_secs,
            t.rows_per_sec,
            t.columns.join(", ")
        );
    }
    println!(
        "masked {r}: {} rows, {:.0} rows/s; rules {}, key id {} (recorded in the volume's provenance)",
        report.rows_total, report.rows_per_sec, report.ruleset_hash, report.key_id
    );
    Ok(())
}

/// `populous mask verify FOLDER/VOL --rules R --key-file K [--source F/V@S]`.
pub fn verify_cmd(engine: &mut Engine, a: &MaskVerifyArgs, json: bool) -> Result<()> {
    let r: VolRef = a.volume.parse()?;
    let (rules, key) = load(&a.rules, &a.key_file)?;
    let source: SnapRef = match &a.source {
        Some(s) => s.parse()?,
        None => {
            let info = engine.volume_inspect(&r)?;
            let step = info
                .lineage
                .first()
                .filter(|s| s.exists)
                .context("the volume has no existing origin snapshot: give the original data with --source FOLDER/VOL@SNAP")?;
            step.snapshot.parse()?
        }
    };
    // The originals: a throw-away clone of the source snapshot, in the source's own folder.
    let tmp = VolRef {
        folder: source.vol.folder.clone(),
        volume: populous_engine::Name::new("volume", &format!("verify-{}", std::process::id()))?,
    };
    engine.clone_volume(
        &CloneSource::Snapshot(source.clone()),
        &tmp,
        &VolumeOptions::default(),
    )?;
    let result = (|| {
        let src = volume::start_on_volume(engine, &tmp, None)?.value;
        let src_url = format!("{}populous", src.url);
        with_server(engine, &r, |url| {
            Ok(verify(url, &src_url, &rules, &key, a.sample)?)
        })
    })();
    let _ = volume::stop_on_volume(engine, &tmp);
    if let Err(e) = engine.volume_remove(&tmp, true, true) {
        tracing::warn!(error = %e, volume = %tmp, "could not remove the verification clone");
    }
    let report = result?;
    if json {
        output::json(&report)?;
    } else {
        for c in &report.columns {
            println!(
                "{}.{}: {} checked, {} originals left, {} not equal to mask(original)",
                c.table, c.column, c.checked, c.unchanged_originals, c.mismatches
            );
        }
        println!(
            "{} rows sampled from {source}, {} missing in {r}: {}",
            report.rows_sampled,
            report.rows_missing,
            if report.passed() { "PASSED" } else { "FAILED" }
        );
    }
    if report.passed() {
        Ok(())
    } else {
        anyhow::bail!("verification of {r} failed: original values remain or differ from the rules")
    }
}
