//! `populous mask` and `populous mask verify`: parse, one call into
//! populous-ops, print. The progress bar is the CLI's own.

use anyhow::Result;
use indicatif::{ProgressBar, ProgressStyle};
use populous_engine::{Engine, SnapRef, VolRef};
use populous_mask::db::scrub::ScrubOptions;
use populous_mask::db::{MaskOptions, MaskProgress};
use populous_ops::mask::{MaskRequest, MaskSpec, Masked};

use crate::cli::{MaskArgs, MaskVerifyArgs};
use crate::output;

/// A progress bar over masking chunks, and the callback that feeds it.
pub fn progress_bar() -> (ProgressBar, impl Fn(&MaskProgress) + Send + Sync + 'static) {
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} chunks  {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let pb = bar.clone();
    let feed = move |p: &MaskProgress| {
        pb.set_length(p.chunks_todo);
        pb.set_position(p.chunks_done + p.chunks_skipped);
        pb.set_message(format!(
            "{}: {} rows, {:.0} rows/s",
            p.table,
            p.rows_done,
            p.rows_done as f64 / p.elapsed_secs.max(1e-9)
        ));
    };
    (bar, feed)
}

/// `populous mask FOLDER/VOL --rules R --key-file K`.
pub fn mask(engine: &mut Engine, a: &MaskArgs, json: bool) -> Result<()> {
    let r: VolRef = a.volume.parse()?;
    let spec = MaskSpec::load(&a.rules, &a.key_file)?;
    let req = MaskRequest {
        options: MaskOptions {
            threads: a.threads,
            ..MaskOptions::default()
        },
        scrub: ScrubOptions {
            compact: !a.no_compact,
            ..ScrubOptions::default()
        },
        sample: a.scan_sample as usize,
    };
    let (bar, feed) = progress_bar();
    let masked = populous_ops::mask::mask(engine, &r, &spec, &req, feed);
    bar.finish_and_clear();
    let run = match masked? {
        Masked::Done(run) => run,
        already @ Masked::Already(_) => {
            let info = already.volume();
            if json {
                return output::json(&serde_json::json!({
                    "changed": false, "provenance": info.provenance, "origin": info.origin
                }));
            }
            println!("{r} is {}", already.summary());
            return Ok(());
        }
    };
    let report = &run.report;
    if json {
        return output::json(&serde_json::json!({
            "changed": true, "report": report, "scrub": run.scrub, "scan": run.scan,
            "removed_logs": run.removed_logs, "provenance": run.volume.provenance
        }));
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
    if !run.removed_logs.is_empty() {
        println!(
            "removed another server's logs from the datadir: {}",
            run.removed_logs.join(", ")
        );
    }
    let s = &run.scrub;
    println!(
        "scrubbed: purge {:.1} s, undo recycled {:.1} s, compaction {:.1} s, fresh redo log {:.1} s",
        s.purge_secs, s.recycle_secs, s.compact_secs, s.redo_secs
    );
    println!(
        "scanned: 0 of {} originals found in {} files ({} MiB) in {:.1} s",
        run.scan.sampled,
        run.scan.files_scanned,
        run.scan.bytes_scanned >> 20,
        run.scan_secs
    );
    println!(
        "masked {r}: {} rows, {:.0} rows/s; rules {}, key id {} (recorded in the volume's provenance)",
        report.rows_total, report.rows_per_sec, report.ruleset_hash, report.key_id
    );
    Ok(())
}

/// `populous mask verify FOLDER/VOL --rules R --key-file K [--source F/V@S] [--scan]`.
pub fn verify_cmd(engine: &mut Engine, a: &MaskVerifyArgs, json: bool) -> Result<()> {
    let r: VolRef = a.volume.parse()?;
    let spec = MaskSpec::load(&a.rules, &a.key_file)?;
    let source: SnapRef = match &a.source {
        Some(s) => s.parse()?,
        None => populous_ops::mask::origin_snapshot(engine, &r)?,
    };
    let verified = populous_ops::mask::verify(engine, &r, &spec, &source, a.sample, a.scan)?;
    let report = &verified.report;
    if json {
        output::json(&verified)?;
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
        if let Some(s) = &verified.scan {
            let files = s
                .files
                .iter()
                .map(|f| format!("{} ({})", f.path.display(), f.originals))
                .collect::<Vec<_>>();
            println!(
                "scanned: {} of {} originals found in {} files{}",
                s.found,
                s.sampled,
                s.files_scanned,
                if files.is_empty() {
                    String::new()
                } else {
                    format!(": {}", files.join(", "))
                }
            );
        }
    }
    if verified.passed() {
        Ok(())
    } else {
        Err(populous_ops::Error::VerifyFailed {
            volume: r.to_string(),
        }
        .into())
    }
}
