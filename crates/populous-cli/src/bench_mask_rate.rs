//! `populous bench mask-rate`: what a user's `populous mask` costs, in rows
//! per second, where it really runs, the flush included; and one
//! server-side `UPDATE` of the same columns beside it, as a comparison.
//!
//! Masking runs on a clone in a btrfs pool, on a server started the way
//! `populous mask` starts it ([`populous_ops::db::start`]: its buffer pool
//! and settings, whatever they are). So does this benchmark: a prod volume
//! with `--rows` of the seed's table is stopped and snapshotted, and every
//! variant runs on its own fresh clone of that snapshot, interleaved over
//! rounds (the order rotates):
//!
//! - `populous mask`: [`populous_ops::mask::mask`] as the product runs it
//!   (start, sample, mask, scrub, slow shutdown, scan, provenance), timed
//!   whole;
//! - `mask + flush`: the masking step alone ([`populous_mask::db::mask_database`],
//!   the product's default options) on a started server, then the server
//!   stopped: the shutdown writes the dirty pages masking left in the
//!   buffer pool, which a figure without it leaves out;
//! - `one UPDATE + flush`: the guid index dropped, one server-side
//!   `UPDATE … STRAIGHT_JOIN` writing the same masked values into the same
//!   six columns (precomputed into another database, on a second snapshot
//!   that holds them), the index added again, the server stopped.
//!
//! The `UPDATE` is a comparison, not a ceiling: the server can be faster
//! than the default strategy, and the figures say by how much.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};
use clap::Args;
use populous_app::GenerateOptions;
use populous_engine::VolumeOptions;
use populous_engine::{CloneSource, Consistency, FsKind, Name, SnapRef, VolRef};
use populous_mask::db::MaskOptions;
use populous_mask::{MaskKey, RuleSet};
use populous_ops::mask::{MaskRequest, MaskSpec, Masked};
use serde::Serialize;

use crate::bench::{sql, Servers, Spread};

/// `populous bench mask-rate` options.
#[derive(Debug, Args)]
pub struct BenchMaskRate {
    /// Where to put the throw-away pool image.
    #[arg(long, default_value = "/var/tmp")]
    pub dir: PathBuf,
    /// Rows of the seed's table.
    #[arg(long, default_value_t = 200_000)]
    pub rows: u64,
    /// Bytes of each row's blob (the seed's is 65536; 1024 measures the
    /// masked columns rather than the disk reading blobs).
    #[arg(long, default_value_t = 1024)]
    pub blob: usize,
    /// Rounds: every variant once per round, on its own clone.
    #[arg(long, default_value_t = 3)]
    pub rounds: usize,
}

/// The masked columns, as the rules name them.
const SIX: [&str; 6] = ["name", "email", "street", "zip", "city", "guid"];

/// The database holding the precomputed masked values (second snapshot only).
const VALUES_DB: &str = "bench_values";

const VARIANTS: [&str; 3] = ["populous mask", "mask + flush", "one UPDATE + flush"];

/// One variant's run: seconds of the whole and of its parts.
#[derive(Debug, Default, Clone, Copy)]
struct Run {
    /// What the variant times, whole.
    total: f64,
    /// The writing step: masking, or the UPDATE with the index dropped and added.
    step: f64,
    /// The server's stop (the flush of dirty pages), where it is timed apart.
    flush: f64,
}

#[derive(Debug, Serialize)]
struct VariantResult {
    variant: String,
    /// Per round, whole (s).
    secs: Vec<f64>,
    total_secs: Spread,
    step_secs: Spread,
    /// The stop after the step (`populous mask`: inside the whole, not apart: NaN).
    flush_secs: Spread,
    /// rows / median whole seconds.
    rows_per_sec: f64,
    /// rows / median step seconds (without the flush).
    step_rows_per_sec: f64,
}

/// Prod with the seed's table, stopped; snapshot `plain`. Then the masked
/// values precomputed into [`VALUES_DB`], stopped; snapshot `values`.
fn prepare(g: &mut Servers, args: &BenchMaskRate, spec: &MaskSpec) -> Result<(SnapRef, SnapRef)> {
    let prod: VolRef = "prod/db".parse()?;
    g.engine.volume_create(&prod, &VolumeOptions::default())?;
    let inst = g.start(&prod)?;
    let mut opts = GenerateOptions::rows(args.rows);
    opts.blob_size = args.blob;
    eprintln!("bench mask-rate: generating {} rows", args.rows);
    populous_app::generate_blocking(&format!("{}populous", inst.url), &opts, |_| {})?;
    g.stop(&prod)?;
    let plain: SnapRef = format!("{prod}@plain").parse()?;
    g.engine.snapshot_create(&plain, Consistency::App)?;
    let inst = g.start(&prod)?;
    sql(
        &inst.socket,
        &format!(
            "CREATE DATABASE {VALUES_DB}; CREATE TABLE {VALUES_DB}.main (PRIMARY KEY (id)) SELECT id, {} FROM populous.main",
            SIX.join(", ")
        ),
    )?;
    // The product's own masking, so the values are exactly the ones it writes.
    populous_mask::db::mask_database(
        &format!("{}{VALUES_DB}", inst.url),
        &spec.rules,
        &spec.key,
        &MaskOptions::default(),
        |_| {},
    )?;
    g.stop(&prod)?;
    let values: SnapRef = format!("{prod}@values").parse()?;
    g.engine.snapshot_create(&values, Consistency::App)?;
    Ok((plain, values))
}

fn run_variant(g: &mut Servers, variant: &str, clone: &VolRef, spec: &MaskSpec) -> Result<Run> {
    match variant {
        "populous mask" => {
            let t = Instant::now();
            let done = populous_ops::mask::mask(
                &mut g.engine,
                clone,
                spec,
                &MaskRequest::default(),
                |_| {},
            )?;
            let total = t.elapsed().as_secs_f64();
            let Masked::Done(run) = done else {
                anyhow::bail!("{clone} was already masked: a fresh clone?");
            };
            Ok(Run {
                total,
                step: run.report.elapsed_secs,
                flush: f64::NAN,
            })
        }
        "mask + flush" => {
            let inst = g.start(clone)?;
            let report = populous_mask::db::mask_database(
                &format!("{}populous", inst.url),
                &spec.rules,
                &spec.key,
                &MaskRequest::default().options,
                |_| {},
            )?;
            let flush = g.stop(clone)?;
            Ok(Run {
                total: report.elapsed_secs + flush,
                step: report.elapsed_secs,
                flush,
            })
        }
        _ => {
            let inst = g.start(clone)?;
            let sets: Vec<String> = SIX.iter().map(|c| format!("t.{c} = m.{c}")).collect();
            let t = Instant::now();
            sql(
                &inst.socket,
                &format!(
                    "ALTER TABLE populous.main DROP INDEX guid; \
                     UPDATE populous.main t STRAIGHT_JOIN {VALUES_DB}.main m ON m.id = t.id SET {}; \
                     ALTER TABLE populous.main ADD INDEX guid (guid)",
                    sets.join(", ")
                ),
            )?;
            let step = t.elapsed().as_secs_f64();
            let flush = g.stop(clone)?;
            Ok(Run {
                total: step + flush,
                step,
                flush,
            })
        }
    }
}

/// Runs the benchmark and prints the table (or JSON).
pub fn run(args: &BenchMaskRate, json: bool) -> Result<()> {
    anyhow::ensure!(
        args.rounds > 0 && args.rows > 0,
        "--rounds and --rows are at least 1"
    );
    let (work, cleanup) = crate::bench::server_work_dir(&args.dir, "mask-rate")?;
    let mut g = Servers::new(&work.join("home"), cleanup)?;
    let data = args.rows * (args.blob as u64 + 400);
    let pool = Name::new("pool", "benchrate")?;
    g.engine.pool_create_image(
        &pool,
        &work.join("benchrate.img"),
        data * (VARIANTS.len() as u64 + 3) * 2 + (4 << 30),
        FsKind::Btrfs,
        None,
    )?;
    crate::bench_mask::prod_and_dev(&mut g.engine, &pool)?;
    let spec = MaskSpec {
        rules: RuleSet::from_yaml(crate::bench_mask::RULES)?,
        key: MaskKey::from_bytes(&[7; 32])?,
    };
    let (plain, values) = prepare(&mut g, args, &spec)?;
    let mut runs: Vec<Vec<Run>> = vec![Vec::new(); VARIANTS.len()];
    for round in 0..args.rounds {
        let mut made = Vec::new();
        for j in 0..VARIANTS.len() {
            // Rotate the order: no variant always runs first or last.
            let i = (j + round) % VARIANTS.len();
            let variant = VARIANTS[i];
            let from = if i == 2 { &values } else { &plain };
            let clone: VolRef = format!("dev/v{i}-r{round}").parse()?;
            g.engine.clone_volume(
                &CloneSource::Snapshot(from.clone()),
                &clone,
                &VolumeOptions::default(),
            )?;
            let run = run_variant(&mut g, variant, &clone, &spec)
                .with_context(|| format!("{variant}, round {round}"))?;
            eprintln!(
                "round {round} {variant:<18}: {:.1} s ({:.1} s writing, {:.1} s flush), {:.0} rows/s",
                run.total,
                run.step,
                run.flush,
                args.rows as f64 / run.total
            );
            runs[i].push(run);
            made.push(clone);
        }
        // Removed after the round: btrfs drops a deleted subvolume in the
        // background, and that would land in the next variant's time.
        for c in made {
            g.engine.volume_remove(&c, true, true)?;
        }
    }
    drop(g);
    let rows = args.rows as f64;
    let results: Vec<VariantResult> = VARIANTS
        .iter()
        .zip(&runs)
        .map(|(v, r)| {
            let total_secs = Spread::of(&r.iter().map(|x| x.total).collect::<Vec<_>>());
            let step_secs = Spread::of(&r.iter().map(|x| x.step).collect::<Vec<_>>());
            VariantResult {
                variant: v.to_string(),
                secs: r.iter().map(|x| x.total).collect(),
                flush_secs: Spread::of(&r.iter().map(|x| x.flush).collect::<Vec<_>>()),
                rows_per_sec: rows / total_secs.median,
                step_rows_per_sec: rows / step_secs.median,
                total_secs,
                step_secs,
            }
        })
        .collect();
    // The default strategy against the server's one UPDATE, both with the flush.
    let default_over_update = results[1].rows_per_sec / results[2].rows_per_sec;
    if json {
        return crate::output::json(&serde_json::json!({
            "rows": args.rows,
            "blob_bytes": args.blob,
            "rounds": args.rounds,
            "variants": results,
            "mask_over_one_update": default_over_update,
        }));
    }
    println!(
        "{:<20} {:>22} {:>10} {:>22} {:>12} {:>20}",
        "VARIANT", "WHOLE s", "ROWS/S", "WRITING s", "ROWS/S", "FLUSH (STOP) s"
    );
    for r in &results {
        let flush = if r.flush_secs.median.is_nan() {
            "in the whole".into()
        } else {
            r.flush_secs.text(1)
        };
        println!(
            "{:<20} {:>22} {:>10.0} {:>22} {:>12.0} {:>20}",
            r.variant,
            r.total_secs.text(1),
            r.rows_per_sec,
            r.step_secs.text(1),
            r.step_rows_per_sec,
            flush
        );
    }
    println!(
        "{} rows, {}-byte blobs; medians (min-max) of {} interleaved rounds, each variant on its own btrfs clone, \
         servers started as `populous mask` starts them",
        args.rows, args.blob, args.rounds
    );
    println!(
        "`populous mask` whole: start, sampling, masking, scrub, slow shutdown, scan of every file, provenance"
    );
    println!(
        "the default strategy with its flush runs at {:.2}x the rows/s of one server-side UPDATE of the same \
         columns with its flush (a comparison, not a ceiling)",
        default_over_update
    );
    Ok(())
}
