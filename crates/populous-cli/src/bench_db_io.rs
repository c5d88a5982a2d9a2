//! `populous bench db-io`: InnoDB on pool volumes against the same server on ext4.
//!
//! Throw-away image pools (btrfs and XFS with reflink) and a plain ext4 loop
//! image, all files under --dir on the same disk, all mounted `loop,noatime`.
//! On each pool a database volume is started by `populous_ops::db::start`
//! (so it gets the settings `db start` gives that backend, see
//! `populous_ops::db_io`), filled by `sysbench oltp_common prepare`, and
//! cloned while running (an application-consistent clone, timed), and a
//! server is started on the clone. The ext4 server runs with the settings
//! Populous gives a plain filesystem. With `--reference` (the default), a
//! btrfs volume with MariaDB's defaults and copy-on-write files (what
//! `db start` did before) runs beside them.
//!
//! Then, in interleaved rounds (the order of the servers turns every round),
//! sysbench `oltp_read_write` and `oltp_write_only` run on each server; the
//! medians of TPS and p95 latency are set against ext4's medians from the
//! same run. Last, the clone time of a volume holding one file of each of
//! --clone-sizes, per setting (btrfs `NOCOW`, btrfs copy-on-write, XFS).
//!
//! Targets (the issue's): on the btrfs pool and its clone, TPS >= 0.9x and
//! p95 <= 1.2x of ext4 in both workloads; clone(largest)/clone(smallest) <=
//! 1.5 for every setting. A missed target is printed and the command exits
//! non-zero. Loop devices and mounts are removed even when the bench fails
//! or panics (`bench::Cleanup`), servers are stopped by their guards first.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use populous_db::{Instance, InstanceSpec, IoSettings};
use populous_engine::size::format_size;
use populous_engine::{BackendKind, CloneSource, Engine, FolderPolicy, FsKind, Name, VolRef};
use populous_ops::db_io;

/// `populous bench db-io`.
#[derive(Debug, Args)]
pub struct BenchDbIo {
    /// Where the pool images and the ext4 image go (one disk for all).
    #[arg(long, default_value = "/var/tmp")]
    pub dir: PathBuf,
    /// sysbench tables (the issue: 4).
    #[arg(long, default_value_t = 4)]
    pub tables: u32,
    /// Rows per table (the issue: 200000).
    #[arg(long, default_value_t = 100_000)]
    pub table_size: u64,
    /// sysbench threads (the issue: 2).
    #[arg(long, default_value_t = 2)]
    pub threads: u32,
    /// Seconds per sysbench run (the issue: 60).
    #[arg(long, default_value_t = 20)]
    pub seconds: u32,
    /// Rounds: every server and workload once per round (the issue: 3).
    #[arg(long, default_value_t = 2)]
    pub rounds: usize,
    /// Sizes of the volumes whose clone time is measured.
    #[arg(long, value_delimiter = ',', default_value = "64M,4G")]
    pub clone_sizes: Vec<String>,
    /// Clones timed per size and setting.
    #[arg(long, default_value_t = 5)]
    pub clone_runs: usize,
    /// Leave out the btrfs volume with MariaDB's defaults and copy-on-write files.
    #[arg(long)]
    pub no_reference: bool,
}

const WORKLOADS: [&str; 2] = ["oltp_read_write", "oltp_write_only"];
const TPS_TARGET: f64 = 0.9;
const P95_TARGET: f64 = 1.2;
const CLONE_TARGET: f64 = 1.5;

/// A server of the benchmark's, stopped on drop (before the mounts go).
struct Server {
    name: String,
    instance: Instance,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ =
            populous_db::stop_pid_file(&self.instance.pid_file, populous_db::DEFAULT_STOP_TIMEOUT);
    }
}

#[derive(Debug, serde::Serialize)]
struct Spread {
    median: f64,
    min: f64,
    max: f64,
}

fn spread(v: &[f64]) -> Spread {
    let mut s = v.to_vec();
    let median = crate::bench::median(&mut s);
    Spread {
        median,
        min: s.first().copied().unwrap_or(f64::NAN),
        max: s.last().copied().unwrap_or(f64::NAN),
    }
}

#[derive(Debug, serde::Serialize)]
struct Row {
    server: String,
    workload: String,
    tps: Spread,
    p95_ms: Spread,
    tps_over_ext4: f64,
    p95_over_ext4: f64,
    /// Whether this row is held to the targets (the btrfs pool and its clone).
    targeted: bool,
}

#[derive(Debug, serde::Serialize)]
struct CloneTimes {
    setting: String,
    /// Median ms of snapshot + clone, per size.
    sizes: Vec<(u64, Spread)>,
    largest_over_smallest: f64,
}

#[derive(Debug, serde::Serialize)]
struct Report {
    tables: u32,
    table_size: u64,
    threads: u32,
    seconds: u32,
    rounds: usize,
    /// The settings each server ran with.
    settings: Vec<(String, IoSettings, bool)>,
    rows: Vec<Row>,
    /// ms to clone each running sysbench database (application-consistent).
    running_clone_ms: Vec<(String, f64)>,
    clones: Vec<CloneTimes>,
    missed: Vec<String>,
}

fn run_tool(cmd: &mut Command, what: &str) -> Result<String> {
    let out = cmd.output().with_context(|| format!("running {what}"))?;
    if !out.status.success() {
        bail!(
            "{what} failed: {}{}",
            String::from_utf8_lossy(&out.stderr),
            String::from_utf8_lossy(&out.stdout)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn sysbench(args: &BenchDbIo, socket: &Path, test: &str, verb: &str) -> Command {
    let mut c = Command::new("sysbench");
    c.arg(test)
        .args([
            "--db-driver=mysql",
            "--mysql-user=root",
            "--mysql-db=sbtest",
        ])
        .arg(format!("--mysql-socket={}", socket.display()))
        .arg(format!("--tables={}", args.tables))
        .arg(format!("--table-size={}", args.table_size))
        .arg(format!("--threads={}", args.threads))
        .arg(format!("--time={}", args.seconds))
        .args(["--report-interval=0", "--percentile=95"])
        .arg(verb);
    c
}

/// TPS and p95 (ms) from sysbench's report.
fn parse_sysbench(out: &str) -> Result<(f64, f64)> {
    let mut tps = None;
    let mut p95 = None;
    for line in out.lines().map(str::trim) {
        if let Some(rest) = line.strip_prefix("transactions:") {
            // "transactions:   1234   (61.65 per sec.)"
            tps = rest
                .split('(')
                .nth(1)
                .and_then(|s| s.split_whitespace().next())
                .and_then(|s| s.parse().ok());
        } else if let Some(rest) = line.strip_prefix("95th percentile:") {
            p95 = rest.trim().parse().ok();
        }
    }
    match (tps, p95) {
        (Some(t), Some(p)) => Ok((t, p)),
        _ => bail!("no TPS or p95 in sysbench's output:\n{out}"),
    }
}

fn prepare_data(args: &BenchDbIo, s: &Server) -> Result<()> {
    run_tool(
        Command::new("mariadb")
            .arg("--no-defaults")
            .arg(format!("--socket={}", s.instance.socket.display()))
            .args(["-u", "root", "-e", "CREATE DATABASE IF NOT EXISTS sbtest"]),
        "mariadb",
    )?;
    run_tool(
        &mut sysbench(args, &s.instance.socket, "oltp_common", "prepare"),
        "sysbench prepare",
    )?;
    Ok(())
}

/// A plain ext4 loop image mounted at `mnt`, like a pool's image.
fn ext4(work: &Path, size: u64) -> Result<PathBuf> {
    let image = work.join("ext4.img");
    std::fs::File::create(&image)?.set_len(size)?;
    run_tool(
        Command::new("mkfs.ext4").args(["-q", "-F"]).arg(&image),
        "mkfs.ext4",
    )?;
    let mnt = work.join("ext4");
    populous_engine::sys::mount_image(&image, &mnt)?;
    Ok(mnt)
}

/// A server on a directory outside the engine's volumes' records.
fn plain_server(dir: &Path, run: PathBuf, io: IoSettings, name: &str) -> Result<Server> {
    std::fs::create_dir_all(dir)?;
    populous_db::init_datadir(dir, "mysql")?;
    let mut spec = InstanceSpec::new(dir, run);
    spec.io = io;
    Ok(Server {
        name: name.to_owned(),
        instance: populous_db::start(&spec)?,
    })
}

fn volume_server(engine: &mut Engine, r: &VolRef, name: &str) -> Result<Server> {
    let instance = populous_ops::db::start(engine, r, None)?.value;
    Ok(Server {
        name: name.to_owned(),
        instance,
    })
}

/// Writes `size` bytes of a cheap pseudo-random stream into `path` and syncs it.
fn fill(path: &Path, size: u64) -> Result<()> {
    let mut f = std::fs::File::create(path)?;
    let mut buf = vec![0u8; 1 << 20];
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut left = size;
    while left > 0 {
        for chunk in buf.chunks_exact_mut(8) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            chunk.copy_from_slice(&x.to_le_bytes());
        }
        let n = left.min(buf.len() as u64) as usize;
        f.write_all(&buf[..n])?;
        left -= n as u64;
    }
    f.sync_all()?;
    Ok(())
}

/// Snapshot + clone time of a volume holding one file of each size, with
/// the datadir flags `io` gives.
fn clone_times(
    engine: &mut Engine,
    folder: &str,
    setting: &str,
    io: &db_io::DbIo,
    sizes: &[u64],
    runs: usize,
) -> Result<CloneTimes> {
    let mut out = Vec::new();
    for &size in sizes {
        let vol: VolRef = format!("{folder}/ct-{setting}-{size}").parse()?;
        engine.volume_create(&vol, &Default::default())?;
        let path = engine.volume_path(&vol)?;
        db_io::prepare(&path, io)?;
        fill(&path.join("ibdata1"), size)?;
        let mut times = Vec::new();
        let mut made = Vec::new();
        for run in 0..runs {
            let dst: VolRef = format!("{folder}/ct-{setting}-{size}-c{run}").parse()?;
            let t = Instant::now();
            populous_ops::clone(
                engine,
                &CloneSource::Volume(vol.clone()),
                &dst,
                &Default::default(),
            )?;
            times.push(t.elapsed().as_secs_f64() * 1000.0);
            made.push(dst);
        }
        // Removed after timing: btrfs cleans deleted subvolumes in the background.
        for dst in made {
            engine.volume_remove(&dst, true, false)?;
        }
        engine.volume_remove(&vol, true, true)?;
        out.push((size, spread(&times)));
    }
    let ratio = match (out.first(), out.last()) {
        (Some(a), Some(b)) => b.1.median / a.1.median,
        _ => f64::NAN,
    };
    Ok(CloneTimes {
        setting: setting.to_owned(),
        sizes: out,
        largest_over_smallest: ratio,
    })
}

/// Whether `value` is at least (`at_least`) or at most `target`; NaN never meets it.
fn meets(value: f64, target: f64, at_least: bool) -> bool {
    match value.partial_cmp(&target) {
        Some(std::cmp::Ordering::Equal) => true,
        Some(std::cmp::Ordering::Greater) => at_least,
        Some(std::cmp::Ordering::Less) => !at_least,
        None => false,
    }
}

fn bar(len: u64) -> ProgressBar {
    let pb = ProgressBar::new(len);
    pb.set_style(
        ProgressStyle::with_template("{msg:>40} [{bar:30}] {pos}/{len} eta {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    pb
}

/// Runs the benchmark and prints the table (or JSON).
pub fn run(args: &BenchDbIo, json: bool) -> Result<()> {
    anyhow::ensure!(
        args.rounds > 0 && args.clone_runs > 0 && args.seconds > 0 && args.tables > 0,
        "--rounds, --clone-runs, --seconds and --tables are at least 1"
    );
    let clone_sizes = crate::bench::sizes(&args.clone_sizes)?;
    for tool in ["sysbench", "mkfs.ext4", "mariadb"] {
        if Command::new("which")
            .arg(tool)
            .output()
            .map(|o| !o.status.success())
            .unwrap_or(true)
        {
            bail!("{tool} is not installed (scripts/install-deps.sh installs it)");
        }
    }
    // The cleanup is declared first, so it runs last: servers stop before unmounting.
    let (work, _cleanup) = crate::bench::server_work_dir(&args.dir, "db-io")?;
    let mut engine = Engine::open(&work.join("home"))?;
    // sysbench's rows are ~200 bytes; the data, its clone's divergence, the
    // redo log and the clone-time files must fit.
    let data = u64::from(args.tables) * args.table_size * 400 + (1 << 30);
    let largest = clone_sizes.iter().copied().max().unwrap_or(0);
    let pool_size = data * 4 + largest * 2 + (2 << 30);
    let mut servers: Vec<Server> = Vec::new();
    let mut settings = Vec::new();
    let mut running_clone_ms = Vec::new();

    let mnt = ext4(&work, data * 2 + (1 << 30))?;
    let plain = db_io::for_pool(BackendKind::Copy, None);
    servers.push(plain_server(
        &mnt.join("data"),
        work.join("run-ext4"),
        plain.server,
        "ext4",
    )?);
    settings.push(("ext4".to_owned(), plain.server, false));

    let mut setups = Vec::new();
    for (fs, pool, folder) in [
        (FsKind::Btrfs, "dbiobtrfs", "iobtrfs"),
        (FsKind::Xfs, "dbioxfs", "ioxfs"),
    ] {
        let name = Name::new("pool", pool)?;
        let p = engine.pool_create_image(
            &name,
            &work.join(format!("{pool}.img")),
            pool_size,
            fs,
            None,
        )?;
        engine.folder_create(
            &format!("{pool}/{folder}").parse()?,
            &FolderPolicy::default(),
        )?;
        let io = db_io::for_pool(p.backend, Some(fs));
        settings.push((fs.as_str().to_owned(), io.server, io.nocow));
        setups.push((fs, pool, folder));
    }
    let pb = bar(0);
    pb.set_message("starting and filling servers");
    for (fs, _, folder) in &setups {
        let r: VolRef = format!("{folder}/origin").parse()?;
        engine.volume_create(&r, &Default::default())?;
        servers.push(volume_server(&mut engine, &r, fs.as_str())?);
    }
    if !args.no_reference {
        // The state before per-backend settings: COW files, MariaDB's defaults.
        let r: VolRef = "iobtrfs/reference".parse()?;
        engine.volume_create(&r, &Default::default())?;
        let path = engine.volume_path(&r)?;
        servers.push(plain_server(
            &path,
            work.join("run-reference"),
            IoSettings::MARIADB_DEFAULT,
            "btrfs-cow-defaults",
        )?);
        settings.push((
            "btrfs-cow-defaults".to_owned(),
            IoSettings::MARIADB_DEFAULT,
            false,
        ));
    }
    for s in &servers {
        pb.set_message(format!("sysbench prepare on {}", s.name));
        prepare_data(args, s)?;
    }
    for (fs, _, folder) in &setups {
        pb.set_message(format!("cloning the running {} database", fs.as_str()));
        let src: VolRef = format!("{folder}/origin").parse()?;
        let dst: VolRef = format!("{folder}/clone").parse()?;
        let t = Instant::now();
        populous_ops::clone(
            &mut engine,
            &CloneSource::Volume(src),
            &dst,
            &Default::default(),
        )?;
        running_clone_ms.push((fs.as_str().to_owned(), t.elapsed().as_secs_f64() * 1000.0));
        servers.push(volume_server(
            &mut engine,
            &dst,
            &format!("{}-clone", fs.as_str()),
        )?);
    }

    // Interleaved rounds; the servers' order turns every round.
    let n = servers.len();
    let mut samples: Vec<Vec<Vec<(f64, f64)>>> = vec![vec![Vec::new(); WORKLOADS.len()]; n];
    pb.set_length((args.rounds * WORKLOADS.len() * n) as u64);
    for round in 0..args.rounds {
        for (w, workload) in WORKLOADS.iter().enumerate() {
            for k in 0..n {
                let i = (k + round) % n;
                let s = &servers[i];
                pb.set_message(format!("round {} {workload} {}", round + 1, s.name));
                let out = run_tool(
                    &mut sysbench(args, &s.instance.socket, workload, "run"),
                    "sysbench run",
                )?;
                samples[i][w].push(parse_sysbench(&out)?);
                pb.inc(1);
            }
        }
    }
    pb.finish_and_clear();

    let mut rows = Vec::new();
    for (w, workload) in WORKLOADS.iter().enumerate() {
        let base_tps = spread(&samples[0][w].iter().map(|x| x.0).collect::<Vec<_>>()).median;
        let base_p95 = spread(&samples[0][w].iter().map(|x| x.1).collect::<Vec<_>>()).median;
        for (i, s) in servers.iter().enumerate() {
            let tps = spread(&samples[i][w].iter().map(|x| x.0).collect::<Vec<_>>());
            let p95 = spread(&samples[i][w].iter().map(|x| x.1).collect::<Vec<_>>());
            rows.push(Row {
                server: s.name.clone(),
                workload: (*workload).to_owned(),
                tps_over_ext4: tps.median / base_tps,
                p95_over_ext4: p95.median / base_p95,
                tps,
                p95_ms: p95,
                targeted: s.name == "btrfs" || s.name == "btrfs-clone",
            });
        }
    }
    // The servers go before the clone-time volumes are made.
    drop(servers);

    let pb = bar(0);
    pb.set_message("clone time by size");
    let mut clones = Vec::new();
    let nocow = db_io::for_pool(BackendKind::Btrfs, Some(FsKind::Btrfs));
    let cow = db_io::DbIo {
        nocow: false,
        ..nocow
    };
    let xfs = db_io::for_pool(BackendKind::Reflink, Some(FsKind::Xfs));
    for (folder, setting, io) in [
        ("iobtrfs", "btrfs-nocow", nocow),
        ("iobtrfs", "btrfs-cow", cow),
        ("ioxfs", "xfs", xfs),
    ] {
        pb.set_message(format!("clone time: {setting}"));
        clones.push(clone_times(
            &mut engine,
            folder,
            setting,
            &io,
            &clone_sizes,
            args.clone_runs,
        )?);
    }
    pb.finish_and_clear();
    for (_, pool, _) in &setups {
        let _ = engine.pool_remove(&Name::new("pool", pool)?);
    }

    let mut missed = Vec::new();
    for r in rows.iter().filter(|r| r.targeted) {
        if !meets(r.tps_over_ext4, TPS_TARGET, true) {
            missed.push(format!(
                "{} {}: TPS {:.2}x of ext4 (target >= {TPS_TARGET})",
                r.server, r.workload, r.tps_over_ext4
            ));
        }
        if !meets(r.p95_over_ext4, P95_TARGET, false) {
            missed.push(format!(
                "{} {}: p95 {:.2}x of ext4 (target <= {P95_TARGET})",
                r.server, r.workload, r.p95_over_ext4
            ));
        }
    }
    for c in &clones {
        if !meets(c.largest_over_smallest, CLONE_TARGET, false) {
            missed.push(format!(
                "{}: clone(largest)/clone(smallest) {:.2} (target <= {CLONE_TARGET})",
                c.setting, c.largest_over_smallest
            ));
        }
    }
    let report = Report {
        tables: args.tables,
        table_size: args.table_size,
        threads: args.threads,
        seconds: args.seconds,
        rounds: args.rounds,
        settings,
        rows,
        running_clone_ms,
        clones,
        missed,
    };
    if json {
        crate::output::json(&report)?;
    } else {
        print_report(&report);
    }
    if !report.missed.is_empty() {
        bail!(
            "{} target(s) missed: {}",
            report.missed.len(),
            report.missed.join("; ")
        );
    }
    Ok(())
}

fn print_report(r: &Report) {
    println!(
        "sysbench: {} tables x {} rows, {} threads, {} s per run, {} rounds",
        r.tables, r.table_size, r.threads, r.seconds, r.rounds
    );
    for (name, io, nocow) in &r.settings {
        println!(
            "  {name:<20} flush_method={} doublewrite={} flush_neighbors={} nocow={nocow}",
            io.flush_method.as_str(),
            io.doublewrite,
            io.flush_neighbors
        );
    }
    println!(
        "{:<20} {:<16} {:>24} {:>24} {:>9} {:>9}",
        "SERVER",
        "WORKLOAD",
        "TPS median (min-max)",
        "p95 ms median (min-max)",
        "TPS/ext4",
        "p95/ext4"
    );
    for row in &r.rows {
        println!(
            "{:<20} {:<16} {:>24} {:>24} {:>9.2} {:>9.2}",
            row.server,
            row.workload,
            format!(
                "{:.1} ({:.1}-{:.1})",
                row.tps.median, row.tps.min, row.tps.max
            ),
            format!(
                "{:.2} ({:.2}-{:.2})",
                row.p95_ms.median, row.p95_ms.min, row.p95_ms.max
            ),
            row.tps_over_ext4,
            row.p95_over_ext4
        );
    }
    for (fs, ms) in &r.running_clone_ms {
        println!("clone of the running {fs} database: {ms:.1} ms");
    }
    for c in &r.clones {
        let sizes: Vec<String> = c
            .sizes
            .iter()
            .map(|(b, s)| {
                format!(
                    "{}: {:.1} ms ({:.1}-{:.1})",
                    format_size(*b),
                    s.median,
                    s.min,
                    s.max
                )
            })
            .collect();
        println!(
            "clone time {:<12} {}  largest/smallest {:.2}",
            c.setting,
            sizes.join(", "),
            c.largest_over_smallest
        );
    }
    for m in &r.missed {
        println!("MISSED: {m}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_sysbench_report() {
        let out = "SQL statistics:\n    transactions:                        6036   (301.71 per sec.)\n    queries: 1\nLatency (ms):\n         95th percentile:                       18.61\n";
        assert_eq!(parse_sysbench(out).unwrap(), (301.71, 18.61));
        assert!(parse_sysbench("nothing").is_err());
    }

    #[test]
    fn targets_and_nan() {
        assert!(meets(0.95, 0.9, true));
        assert!(!meets(0.85, 0.9, true));
        assert!(meets(1.1, 1.2, false));
        assert!(!meets(f64::NAN, 1.2, false));
    }
}
