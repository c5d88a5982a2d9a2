//! `populous bench db`: a database clone against `mariadb-dump | mariadb`,
//! like for like.
//!
//! For each size, a prod MariaDB on a throw-away btrfs pool is filled by the
//! generator and keeps running. Then, in interleaved rounds (the order of
//! the two variants alternates, so a busy moment of the shared machine lands
//! on neither always):
//! - `clone`: an application-consistent snapshot of prod (quiesced), a clone
//!   of it, a server started on the clone, and its first query answered;
//! - `dump|restore`: a fresh server on a new volume (started untimed), then
//!   `mariadb-dump --single-transaction | mariadb` from prod into it.
//!
//! The headline ratio is dump|restore over *clone to first query*: both end
//! with a server that answers with the data. A clone cannot answer before
//! its server has started, so the data step alone (snapshot + clone) is
//! shown beside it, labelled as such, and never as the headline. Figures
//! are medians of the rounds with their spread (min-max).

use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use populous_engine::size::format_size;
use populous_engine::{CloneSource, FsKind, Name, SnapRef, VolRef, VolumeOptions};
use populous_ops::db as server;
use serde::Serialize;

use crate::bench::{dump_run, prepare_prod, Servers, Spread};
use crate::cli::BenchDb;

/// One round's clone path, ms.
#[derive(Debug, Default, Clone, Copy)]
struct CloneRun {
    snapshot: f64,
    clone: f64,
    start: f64,
    first_query: f64,
}

impl CloneRun {
    fn data_step(&self) -> f64 {
        self.snapshot + self.clone
    }

    fn until_first_query(&self) -> f64 {
        self.data_step() + self.start + self.first_query
    }
}

#[derive(Debug, Serialize)]
struct SizeResult {
    size_bytes: u64,
    rows: u64,
    rounds: usize,
    /// Application-consistent snapshot (quiesced), ms.
    snapshot_ms: Spread,
    /// Clone of that snapshot, ms.
    clone_ms: Spread,
    /// `mariadbd` started on the clone until it answers, ms.
    start_ms: Spread,
    /// The first query (one row by primary key) on the clone, ms.
    first_query_ms: Spread,
    /// The data step alone: snapshot + clone, ms (per round, then the spread).
    data_step_ms: Spread,
    /// Snapshot + clone + server start + first query, ms.
    clone_to_first_query_ms: Spread,
    /// Per round: snapshot + clone + start + first query, ms.
    clone_to_first_query_rounds_ms: Vec<f64>,
    /// `mariadb-dump | mariadb` into a fresh, running server, ms.
    dump_restore_ms: Option<Spread>,
    /// Per round, ms.
    dump_restore_rounds_ms: Vec<f64>,
    /// The headline, like for like: median dump|restore / median clone to first query.
    dump_over_clone_to_first_query: Option<f64>,
    /// The data step alone (not like for like): median dump|restore / median snapshot+clone.
    dump_over_data_step_alone: Option<f64>,
}

/// The clone path once: snapshot (quiesced), clone, start, first query.
fn clone_run(g: &mut Servers, prod: &VolRef, k: usize, round: usize) -> Result<CloneRun> {
    let snap: SnapRef = format!("{prod}@bench-{round}").parse()?;
    let dev: VolRef = format!("dev/clone{k}-{round}").parse()?;
    let t = Instant::now();
    populous_ops::snapshot(&mut g.engine, &snap)?;
    let snapshot = crate::bench::ms(t.elapsed());
    let t = Instant::now();
    g.engine.clone_volume(
        &CloneSource::Snapshot(snap),
        &dev,
        &VolumeOptions::default(),
    )?;
    let clone = crate::bench::ms(t.elapsed());
    let t = Instant::now();
    let inst = g.start(&dev)?;
    let start = crate::bench::ms(t.elapsed());
    let t = Instant::now();
    let row = Command::new("mariadb")
        .args([
            "-u",
            "root",
            "-N",
            "-B",
            "populous",
            "-e",
            "SELECT guid FROM main WHERE id = 10000000",
            "--socket",
        ])
        .arg(&inst.socket)
        .output()
        .context("running the mariadb client")?;
    let first_query = crate::bench::ms(t.elapsed());
    anyhow::ensure!(
        row.status.success() && !row.stdout.is_empty(),
        "the first query on the clone failed: {}",
        String::from_utf8_lossy(&row.stderr)
    );
    g.stop(&dev)?;
    Ok(CloneRun {
        snapshot,
        clone,
        start,
        first_query,
    })
}

fn bench_size(g: &mut Servers, args: &BenchDb, k: usize, size: u64) -> Result<SizeResult> {
    let prod: VolRef = format!("prod/db{k}").parse()?;
    let rows = prepare_prod(g, &prod, size)?;
    let prod_socket = server::running(g.engine.home(), &prod)
        .context("prod's server runs")?
        .socket;
    let mut clones = Vec::new();
    let mut dumps = Vec::new();
    let pb = ProgressBar::new(args.rounds as u64);
    pb.set_style(
        ProgressStyle::with_template("{msg:>24} [{bar:30}] {pos}/{len} eta {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    pb.set_message(format!("{} rounds", format_size(size)));
    for round in 0..args.rounds {
        // Alternate the order: neither variant always runs first.
        let dump_first = round % 2 == 1;
        if dump_first && !args.no_baseline {
            dumps.push(dump_run(g, &prod_socket, k, round)?);
        }
        clones.push(clone_run(g, &prod, k, round)?);
        if !dump_first && !args.no_baseline {
            dumps.push(dump_run(g, &prod_socket, k, round)?);
        }
        pb.inc(1);
    }
    pb.finish_and_clear();
    g.stop(&prod)?;
    let spread = |f: fn(&CloneRun) -> f64| Spread::of(&clones.iter().map(f).collect::<Vec<_>>());
    let to_query: Vec<f64> = clones.iter().map(CloneRun::until_first_query).collect();
    let data_step = spread(CloneRun::data_step);
    let clone_to_first_query_ms = Spread::of(&to_query);
    let dump_restore_ms = (!dumps.is_empty()).then(|| Spread::of(&dumps));
    let r = SizeResult {
        size_bytes: size,
        rows,
        rounds: args.rounds,
        snapshot_ms: spread(|c| c.snapshot),
        clone_ms: spread(|c| c.clone),
        start_ms: spread(|c| c.start),
        first_query_ms: spread(|c| c.first_query),
        data_step_ms: data_step,
        clone_to_first_query_ms,
        clone_to_first_query_rounds_ms: to_query,
        dump_over_clone_to_first_query: dump_restore_ms
            .map(|d| d.median / clone_to_first_query_ms.median),
        dump_over_data_step_alone: dump_restore_ms.map(|d| d.median / data_step.median),
        dump_restore_ms,
        dump_restore_rounds_ms: dumps,
    };
    eprintln!(
        "{:>9}: clone to first query {} ms (snapshot {:.1} + clone {:.1} + start {:.0} + first query {:.1}); dump|restore {}",
        format_size(size),
        r.clone_to_first_query_ms.text(0),
        r.snapshot_ms.median,
        r.clone_ms.median,
        r.start_ms.median,
        r.first_query_ms.median,
        r.dump_restore_ms
            .map(|d| format!("{} ms", d.text(0)))
            .unwrap_or_else(|| "skipped".into())
    );
    Ok(r)
}

fn print_table(results: &[SizeResult]) {
    let ratio = |x: Option<f64>, d: usize| x.map_or_else(|| "-".into(), |x| format!("{x:.d$}x"));
    let secs = |s: &Spread| {
        format!(
            "{:.2} ({:.2}-{:.2})",
            s.median / 1000.0,
            s.min / 1000.0,
            s.max / 1000.0
        )
    };
    println!(
        "{:>9} {:>7} {:>24} {:>22} {:>18} {:>22} {:>16}",
        "SIZE",
        "ROWS",
        "DUMP|RESTORE s",
        "CLONE->1ST QUERY s",
        "DUMP/CLONE->QUERY",
        "DATA STEP ALONE ms",
        "DUMP/DATA STEP"
    );
    for r in results {
        println!(
            "{:>9} {:>7} {:>24} {:>22} {:>18} {:>22} {:>16}",
            format_size(r.size_bytes),
            r.rows,
            r.dump_restore_ms
                .as_ref()
                .map_or_else(|| "skipped".into(), secs),
            secs(&r.clone_to_first_query_ms),
            ratio(r.dump_over_clone_to_first_query, 1),
            r.data_step_ms.text(1),
            ratio(r.dump_over_data_step_alone, 0),
        );
    }
    let rounds = results.first().map_or(0, |r| r.rounds);
    println!(
        "medians (min-max) of {rounds} interleaved rounds. DUMP/CLONE->QUERY is like for like: both end with a \
         server answering with the data (clone to first query = snapshot + clone + server start + first query). \
         DUMP/DATA STEP is the data step alone (snapshot + clone): a clone cannot answer before its server starts."
    );
}

/// `populous bench db`.
pub fn run(args: &BenchDb, json: bool) -> Result<()> {
    let sizes = crate::bench::sizes(&args.sizes)?;
    anyhow::ensure!(args.rounds > 0, "--rounds must be at least 1");
    let (work, cleanup) = crate::bench::server_work_dir(&args.dir, "db")?;
    let mut g = Servers::new(&work.join("home"), cleanup)?;
    // Every round's copy is kept until its size is done (a deleted btrfs
    // subvolume is dropped in the background, inside later timings); the
    // image is sparse, so only what is written takes room.
    let pool_size = sizes.iter().sum::<u64>() * (args.rounds as u64 + 2) * 2 + (2 << 30);
    g.engine.pool_create_image(
        &Name::new("pool", "benchdb")?,
        &work.join("benchdb.img"),
        pool_size,
        FsKind::Btrfs,
        None,
    )?;
    crate::bench_mask::prod_and_dev(&mut g.engine, &Name::new("pool", "benchdb")?)?;
    let mut results = Vec::new();
    for (k, &size) in sizes.iter().enumerate() {
        results.push(bench_size(&mut g, args, k, size)?);
    }
    drop(g);
    if json {
        return crate::output::json(&serde_json::json!({
            "headline": "dump_over_clone_to_first_query",
            "sizes": results,
        }));
    }
    print_table(&results);
    Ok(())
}
