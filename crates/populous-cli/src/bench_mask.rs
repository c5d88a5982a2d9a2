//! `populous bench mask`: what each step of a masking that leaves nothing
//! behind costs, and which originals it removes (issue 13).
//!
//! For each size, a prod volume on a throw-away btrfs image pool is filled
//! with the seed's table (64 KiB blobs), a sample of its originals is taken
//! once, and the server is stopped and snapshotted. Every variant then runs
//! on a fresh clone of that one snapshot, interleaved over rounds so that a
//! busy moment of the shared machine does not land on one variant only:
//!
//! - `mask-only`: start, mask, stop (fast shutdown): the old way;
//! - `+scrub`: scrubbing on while masking, purge, slow shutdown;
//! - `+redo`: as `+scrub`, plus a fresh redo log;
//! - `full`: [`populous_ops::mask::mask`] as the product runs it
//!   (compaction, fresh redo log, slow shutdown, log removal, scan,
//!   provenance).
//!
//! Each variant is timed from server start to server stopped (`full`
//! includes its own scan); afterwards the clone's files are scanned with the
//! same sample, and the originals found per file are the table of what each
//! step removed.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use populous_app::{Amount, GenerateOptions};
use populous_engine::size::format_size;
use populous_engine::{Allowed, FolderPolicy, VolumeOptions};
use populous_engine::{CloneSource, Consistency, Engine, FsKind, Name, SnapRef, VolRef};
use populous_mask::db::scrub::{self, ScrubOptions, ScrubReport};
use populous_mask::db::MaskOptions;
use populous_mask::scan::ScanFindings;
use populous_mask::{MaskKey, RuleSet};
use populous_ops::mask::{MaskRequest, MaskSpec, Masked};
use serde::Serialize;

use crate::bench::Servers;

/// `populous bench mask` options.
#[derive(Debug, Args)]
pub struct BenchMask {
    /// Where to put the throw-away pool image.
    #[arg(long, default_value = "/var/tmp")]
    pub dir: PathBuf,
    /// Database sizes (the seed's table, 64 KiB blobs).
    #[arg(long, value_delimiter = ',', default_value = "256M,2G")]
    pub sizes: Vec<String>,
    /// Rounds: every variant once per round, on its own clone.
    #[arg(long, default_value_t = 3)]
    pub rounds: usize,
    /// Originals sampled for the scans.
    #[arg(long, default_value_t = 2000)]
    pub sample: usize,
}

/// The seed's rules (examples/populous/masking.yml).
pub(crate) const RULES: &str = "
version: 1
tables:
  main:
    primary_key: id
    columns:
      name:   { transform: person_name }
      email:  { transform: email, unique: true }
      street: { transform: street }
      zip:    { transform: zip }
      city:   { transform: city }
      guid:   { transform: uuid, unique: true }
";

/// The variants, in the order they run within a round.
const VARIANTS: [&str; 4] = ["mask-only", "+scrub", "+redo", "full"];

/// The files the table names; everything else is summed as `other`.
const FILES: [&str; 3] = ["ibdata1", "ib_logfile0", "populous/main.ibd"];

/// The largest-size `full` / `mask-only` the issue allows.
const TARGET_RATIO: f64 = 2.0;

#[derive(Debug, Serialize)]
struct VariantResult {
    variant: String,
    /// Server start to stopped, per round (s).
    secs: Vec<f64>,
    median_secs: f64,
    min_secs: f64,
    max_secs: f64,
    /// median / median of `mask-only`
    ratio: f64,
    /// Median seconds of each step (mask, purge, compact, redo, scan, and
    /// rest: start, sampling, shutdown).
    step_median_secs: BTreeMap<String, f64>,
    /// Originals found per file, the worst round (ibdata1, ib_logfile0,
    /// populous/main.ibd, other: every other file summed).
    found: BTreeMap<String, usize>,
    /// Distinct originals found in any file, the worst round.
    found_total: usize,
    /// Distinct originals found in any file, per round.
    found_by_round: Vec<usize>,
    /// Every file that held originals, in the worst round.
    files: Vec<(String, usize)>,
}

#[derive(Debug, Serialize)]
struct SizeResult {
    size_bytes: u64,
    rows: u64,
    /// Originals searched for (the sample, minus values masking produced).
    sampled: usize,
    variants: Vec<VariantResult>,
}

/// The run's masking: rules, a fixed key (the bench's figures do not depend
/// on it), default options.
struct Job {
    spec: MaskSpec,
    needles: Vec<Vec<u8>>,
}

fn bar(len: u64, template: &str) -> ProgressBar {
    let pb = ProgressBar::new(len);
    pb.set_style(
        ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    pb
}

/// Fills a new prod volume at `size`, samples its originals, stops it and
/// snapshots it. Returns the snapshot and the row count.
fn prepare_prod(
    g: &mut Servers,
    k: usize,
    size: u64,
    job: &mut Job,
    n: usize,
) -> Result<(SnapRef, u64)> {
    let prod: VolRef = format!("prod/db{k}").parse()?;
    g.engine.volume_create(&prod, &VolumeOptions::default())?;
    let url = format!("{}populous", g.start(&prod)?.url);
    let opts = GenerateOptions {
        amount: Amount::Bytes(size),
        ..GenerateOptions::rows(0)
    };
    let pb = bar(0, "generate {wide_bar} {pos}/{len} rows {msg}");
    pb.set_message(format_size(size));
    let feed = pb.clone();
    let report = populous_app::generate_blocking(&url, &opts, move |p| {
        feed.set_length(p.rows_todo);
        feed.set_position(p.rows_done);
    });
    pb.finish_and_clear();
    let report = report?;
    job.needles = scrub::sample_originals(&url, &job.spec.rules, n)?;
    // A clean shutdown before the snapshot: every clone starts from the same
    // files, with no crash recovery in its timed start.
    g.stop(&prod)?;
    let snap: SnapRef = format!("{prod}@bench").parse()?;
    g.engine.snapshot_create(&snap, Consistency::App)?;
    Ok((snap, report.rows_total))
}

/// One variant's run on one clone.
struct Run {
    /// Server start to stopped (s).
    secs: f64,
    /// Where the time went (s): mask, purge, compact, redo, scan, and
    /// `rest` (start, sampling, shutdown).
    steps: BTreeMap<String, f64>,
    /// Values masking produced that are also in the sample (not leaks).
    live: Vec<Vec<u8>>,
}

/// The step names of [`Run::steps`], in the order they happen.
const STEPS: [&str; 7] = [
    "mask", "purge", "recycle", "compact", "redo", "scan", "rest",
];

fn steps(secs: f64, mask: f64, scrub: &ScrubReport, scan: f64) -> BTreeMap<String, f64> {
    let parts = [
        mask,
        scrub.purge_secs,
        scrub.recycle_secs,
        scrub.compact_secs,
        scrub.redo_secs,
        scan,
    ];
    let rest = secs - parts.iter().sum::<f64>();
    STEPS
        .iter()
        .zip(parts.iter().chain([rest].iter()))
        .map(|(k, v)| (k.to_string(), *v))
        .collect()
}

/// One variant on the clone `r`.
fn run_variant(g: &mut Servers, r: &VolRef, variant: &str, job: &Job) -> Result<Run> {
    let (rules, key) = (&job.spec.rules, &job.spec.key);
    let mask = MaskOptions::default();
    let t = Instant::now();
    if variant == "full" {
        let req = MaskRequest::default();
        let run = match populous_ops::mask::mask(&mut g.engine, r, &job.spec, &req, |_| {}) {
            Ok(Masked::Done(run)) => Some(run),
            // A failed scan is a result here: the bench's own scan reports it.
            Err(e @ populous_ops::Error::ScanFound { .. }) => {
                eprintln!("full on {r}: its own scan failed: {e}");
                None
            }
            Ok(Masked::Already(_)) => anyhow::bail!("{r} was already masked: a fresh clone?"),
            Err(e) => return Err(e.into()),
        };
        let secs = t.elapsed().as_secs_f64();
        let steps = match run {
            Some(run) => steps(secs, run.report.elapsed_secs, &run.scrub, run.scan_secs),
            None => BTreeMap::new(),
        };
        return Ok(Run {
            secs,
            steps,
            live: Vec::new(),
        });
    }
    let url = format!("{}populous", g.start(r)?.url);
    let scrubbed = variant != "mask-only";
    if scrubbed {
        scrub::prepare(&url, rules)?;
    }
    let report = populous_mask::db::mask_database(&url, rules, key, &mask, |_| {})?;
    let mut scrub_report = ScrubReport::default();
    if scrubbed {
        let opts = ScrubOptions {
            compact: false,
            fresh_redo: variant == "+redo",
            ..ScrubOptions::default()
        };
        scrub_report = scrub::finish(&url, rules, &opts)?;
    }
    // The bench's bookkeeping, not part of any variant: left out of the time.
    let t_live = Instant::now();
    let live = scrub::still_live(&url, rules, &job.needles)?;
    let live_secs = t_live.elapsed().as_secs_f64();
    g.stop(r)?;
    let secs = t.elapsed().as_secs_f64() - live_secs;
    Ok(Run {
        secs,
        steps: steps(secs, report.elapsed_secs, &scrub_report, 0.0),
        live,
    })
}

fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

/// The per-file counts of a scan: the named files, and `other` summed.
fn per_file(f: &ScanFindings) -> BTreeMap<String, usize> {
    let mut out: BTreeMap<String, usize> = FILES
        .iter()
        .chain(["other"].iter())
        .map(|f| (f.to_string(), 0))
        .collect();
    for file in &f.files {
        let p = file.path.to_string_lossy();
        let key = if FILES.contains(&p.as_ref()) {
            p.into_owned()
        } else {
            "other".into()
        };
        *out.entry(key).or_default() += file.originals;
    }
    out
}

fn bench_size(
    g: &mut Servers,
    args: &BenchMask,
    k: usize,
    size: u64,
    job: &mut Job,
) -> Result<SizeResult> {
    let (snap, rows) = prepare_prod(g, k, size, job, args.sample)?;
    let mut secs: Vec<Vec<f64>> = vec![Vec::new(); VARIANTS.len()];
    let mut scans: Vec<Vec<ScanFindings>> = vec![Vec::new(); VARIANTS.len()];
    let mut steps: Vec<Vec<BTreeMap<String, f64>>> = vec![Vec::new(); VARIANTS.len()];
    let mut live: Vec<Vec<u8>> = Vec::new();
    let pb = bar(
        (args.rounds * VARIANTS.len()) as u64,
        "{msg:>24} [{bar:30}] {pos}/{len} eta {eta}",
    );
    for round in 0..args.rounds {
        let mut made = Vec::new();
        for (i, variant) in VARIANTS.iter().enumerate() {
            pb.set_message(format!("{} {variant} #{round}", format_size(size)));
            let clone: VolRef = format!("dev/s{k}-v{i}-r{round}").parse()?;
            g.engine.clone_volume(
                &CloneSource::Snapshot(snap.clone()),
                &clone,
                &VolumeOptions::default(),
            )?;
            let run = run_variant(g, &clone, variant, job)?;
            live.extend(run.live);
            secs[i].push(run.secs);
            steps[i].push(run.steps);
            // `full` runs last in a round, so the values masking produced are
            // known by the time its files are scanned.
            let needles: Vec<Vec<u8>> = job
                .needles
                .iter()
                .filter(|n| !live.contains(n))
                .cloned()
                .collect();
            let dir = g.engine.volume_path(&clone)?;
            let found = populous_mask::scan::scan_dir(&dir, &needles)
                .with_context(|| format!("scanning {}", dir.display()))?;
            scans[i].push(found);
            made.push(clone);
            pb.inc(1);
        }
        // Removed after the round, not between variants: btrfs drops a
        // deleted subvolume in the background, and that would land in the
        // next variant's time.
        for c in made {
            g.engine.volume_remove(&c, true, true)?;
        }
    }
    pb.finish_and_clear();
    let base = median(&secs[0]);
    let variants = VARIANTS
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let worst = scans[i]
                .iter()
                .max_by_key(|s| s.found)
                .cloned()
                .unwrap_or_default();
            let m = median(&secs[i]);
            VariantResult {
                variant: v.to_string(),
                median_secs: m,
                min_secs: secs[i].iter().copied().fold(f64::INFINITY, f64::min),
                max_secs: secs[i].iter().copied().fold(0.0, f64::max),
                ratio: m / base,
                step_median_secs: STEPS
                    .iter()
                    .map(|k| {
                        let v: Vec<f64> =
                            steps[i].iter().filter_map(|s| s.get(*k).copied()).collect();
                        (k.to_string(), median(&v))
                    })
                    .collect(),
                found: per_file(&worst),
                found_total: worst.found,
                found_by_round: scans[i].iter().map(|s| s.found).collect(),
                files: worst
                    .files
                    .iter()
                    .map(|f| (f.path.display().to_string(), f.originals))
                    .collect(),
                secs: secs[i].clone(),
            }
        })
        .collect();
    live.sort();
    live.dedup();
    let sampled = job.needles.iter().filter(|n| !live.contains(n)).count();
    let r = SizeResult {
        size_bytes: size,
        rows,
        sampled,
        variants,
    };
    for v in &r.variants {
        eprintln!(
            "{:>9} {:<9}: median {:.1} s ({:.1}-{:.1}), {:.2}x; {} of {} originals left",
            format_size(size),
            v.variant,
            v.median_secs,
            v.min_secs,
            v.max_secs,
            v.ratio,
            v.found_total,
            r.sampled
        );
    }
    Ok(r)
}

fn print_table(results: &[SizeResult]) {
    println!(
        "{:>9} {:<10} {:>9} {:>13} {:>7} {:>8} {:>12} {:>10} {:>7}",
        "SIZE",
        "VARIANT",
        "MEDIAN",
        "SPREAD",
        "RATIO",
        "IBDATA1",
        "IB_LOGFILE0",
        "MAIN.IBD",
        "OTHER"
    );
    for r in results {
        for v in &r.variants {
            let f = |k: &str| v.found.get(k).copied().unwrap_or(0);
            println!(
                "{:>9} {:<10} {:>7.1} s {:>13} {:>6.2}x {:>8} {:>12} {:>10} {:>7}",
                format_size(r.size_bytes),
                v.variant,
                v.median_secs,
                format!("{:.1}-{:.1} s", v.min_secs, v.max_secs),
                v.ratio,
                f("ibdata1"),
                f("ib_logfile0"),
                f("populous/main.ibd"),
                f("other"),
            );
        }
        println!(
            "{:>9} {} rows; {} originals sampled; found = distinct originals per file, worst of the rounds",
            "", r.rows, r.sampled
        );
    }
    println!();
    println!("where the time goes, medians in seconds (rest: start, sampling, shutdown):");
    print!("{:>9} {:<10}", "SIZE", "VARIANT");
    for k in STEPS {
        print!(" {:>8}", k.to_uppercase());
    }
    println!();
    for r in results {
        for v in &r.variants {
            print!("{:>9} {:<10}", format_size(r.size_bytes), v.variant);
            for k in STEPS {
                match v.step_median_secs.get(k).filter(|x| !x.is_nan()) {
                    Some(x) => print!(" {x:>8.1}"),
                    None => print!(" {:>8}", "-"),
                }
            }
            println!();
        }
    }
}

/// The targets missed, as sentences (none: every target met).
fn missed(results: &[SizeResult]) -> Vec<String> {
    let mut out = Vec::new();
    for r in results {
        if let Some(full) = r.variants.iter().find(|v| v.variant == "full") {
            if full.found_total > 0 {
                out.push(format!(
                    "at {} the full masking left {} of {} originals ({})",
                    format_size(r.size_bytes),
                    full.found_total,
                    r.sampled,
                    full.files
                        .iter()
                        .map(|(p, n)| format!("{p}: {n}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
        }
    }
    if let Some(r) = results.last() {
        if let Some(full) = r.variants.iter().find(|v| v.variant == "full") {
            if full.ratio.is_nan() || full.ratio > TARGET_RATIO {
                out.push(format!(
                    "at {} full/mask-only is {:.2}, over the target of {TARGET_RATIO}",
                    format_size(r.size_bytes),
                    full.ratio
                ));
            }
        }
    }
    out
}

/// The folders of a database benchmark's pool: `prod`, and `dev`, which
/// may clone from prod.
pub(crate) fn prod_and_dev(engine: &mut Engine, pool: &Name) -> Result<()> {
    for (f, policy) in [
        ("prod", FolderPolicy::default()),
        (
            "dev",
            FolderPolicy {
                clone_from: Allowed::Only(vec![Name::new("folder", "prod")?]),
                ..FolderPolicy::default()
            },
        ),
    ] {
        engine.folder_create(&format!("{pool}/{f}").parse()?, &policy)?;
    }
    Ok(())
}

/// Runs the masking benchmark and prints the table (or JSON).
pub fn run(args: &BenchMask, json: bool) -> Result<()> {
    let sizes = crate::bench::sizes(&args.sizes)?;
    anyhow::ensure!(args.rounds > 0, "--rounds must be at least 1");
    let (work, cleanup) = crate::bench::server_work_dir(&args.dir, "mask")?;
    let mut g = Servers::new(&work.join("home"), cleanup)?;
    // Prod volumes, plus a round's four clones of the largest, each of which
    // may rewrite much of its data (sparse: only what is written takes room).
    let largest = sizes.iter().copied().max().unwrap_or(0);
    let pool_size = sizes.iter().sum::<u64>() * 2 + largest * 4 + (4 << 30);
    let pool = Name::new("pool", "benchmask")?;
    g.engine.pool_create_image(
        &pool,
        &work.join("benchmask.img"),
        pool_size,
        FsKind::Btrfs,
        None,
    )?;
    prod_and_dev(&mut g.engine, &pool)?;
    let mut job = Job {
        spec: MaskSpec {
            rules: RuleSet::from_yaml(RULES)?,
            key: MaskKey::from_bytes(&[7; 32])?,
        },
        needles: Vec::new(),
    };
    let mut results = Vec::new();
    for (k, &size) in sizes.iter().enumerate() {
        results.push(bench_size(&mut g, args, k, size, &mut job)?);
    }
    drop(g);
    let missed = missed(&results);
    if json {
        crate::output::json(&serde_json::json!({
            "sizes": &results,
            "missed": &missed,
        }))?;
    } else {
        print_table(&results);
        if missed.is_empty() {
            println!(
                "targets met: the full masking left no original, and full/mask-only at the largest size is at most {TARGET_RATIO}"
            );
        }
    }
    crate::bench::verdict(&missed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use populous_mask::scan::FileFinding;

    fn variant(name: &str, ratio: f64, files: &[(&str, usize)]) -> VariantResult {
        VariantResult {
            variant: name.into(),
            secs: vec![1.0],
            median_secs: 1.0,
            min_secs: 1.0,
            max_secs: 1.0,
            ratio,
            step_median_secs: BTreeMap::new(),
            found: BTreeMap::new(),
            found_by_round: Vec::new(),
            found_total: files.iter().map(|f| f.1).max().unwrap_or(0),
            files: files.iter().map(|(p, n)| (p.to_string(), *n)).collect(),
        }
    }

    #[test]
    fn per_file_names_three_files_and_sums_the_rest() {
        let f = ScanFindings {
            files: [("ib_logfile0", 5), ("undo001", 2), ("aria_log.1", 1)]
                .iter()
                .map(|(p, n)| FileFinding {
                    path: p.into(),
                    originals: *n,
                })
                .collect(),
            ..ScanFindings::default()
        };
        let m = per_file(&f);
        assert_eq!(m["ib_logfile0"], 5);
        assert_eq!(m["other"], 3);
        assert_eq!((m["ibdata1"], m["populous/main.ibd"]), (0, 0));
    }

    #[test]
    fn missed_names_leaks_at_any_size_and_the_ratio_at_the_largest() {
        let size = |bytes, full: VariantResult| SizeResult {
            size_bytes: bytes,
            rows: 1,
            sampled: 10,
            variants: vec![variant("mask-only", 1.0, &[("ibdata1", 9)]), full],
        };
        // Over the ratio at the small size only: not a miss.
        let ok = [
            size(1 << 20, variant("full", 3.0, &[])),
            size(2 << 20, variant("full", 1.9, &[])),
        ];
        assert!(missed(&ok).is_empty());
        let bad = [
            size(1 << 20, variant("full", 1.0, &[("ib_logfile0", 2)])),
            size(2 << 20, variant("full", 2.5, &[])),
        ];
        let m = missed(&bad);
        assert_eq!(m.len(), 2, "{m:?}");
        assert!(m[0].contains("left 2 of 10") && m[0].contains("ib_logfile0: 2"));
        assert!(m[1].contains("2.50"));
    }
}
