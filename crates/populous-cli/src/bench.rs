//! `populous bench clone`: clone time against data size, and against a full copy.
//!
//! Everything is measured in one run on throw-away image pools, so the
//! figures are ratios on the same machine and disk. Each round times, for
//! every size, a snapshot+clone and then a full copy of the same data (the
//! baseline, repeated and interleaved with the clones, never timed once
//! against a median), and the figures are medians with their spread.
//!
//! Targets, per filesystem: constant time (the clone at the largest size
//! over the clone at the smallest, at most [`CONSTANT_TIME`]), the copy at
//! the largest size over the clone at least [`COPY_OVER_CLONE`] times, and
//! `volume ls` with many clones and snapshots within [`LS_MS`]. A missed
//! target is printed as missed, named in `--json` and makes the command
//! exit non-zero. A density check adds many clones and snapshots to one
//! pool and times `volume ls`.

use std::fs::{self, File};
use std::io::Write;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use populous_app::{Amount, GenerateOptions};
use populous_engine::backend::BackendKind;
use populous_engine::size::{format_size, parse_size};
use populous_engine::{
    CloneSource, Consistency, Engine, FsKind, Name, SnapRef, VolRef, VolumeOptions,
};
use serde::Serialize;

use crate::cli::BenchClone;

/// Constant time: clone at the largest size / clone at the smallest, at most this.
pub const CONSTANT_TIME: f64 = 1.5;
/// Full copy / clone at the largest size, at least this.
pub const COPY_OVER_CLONE: f64 = 100.0;
/// `volume ls --all` as a command with the density check's volumes, at most this (ms).
pub const LS_MS: f64 = 50.0;

/// Samples of one measurement: their median and spread.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Spread {
    pub median: f64,
    pub min: f64,
    pub max: f64,
}

impl Spread {
    /// The median, minimum and maximum of `v` (NaN when empty).
    pub fn of(v: &[f64]) -> Spread {
        let mut s = v.to_vec();
        let median = median(&mut s);
        Spread {
            median,
            min: s.first().copied().unwrap_or(f64::NAN),
            max: s.last().copied().unwrap_or(f64::NAN),
        }
    }

    /// `median (min–max)` with `digits` decimals.
    pub fn text(&self, digits: usize) -> String {
        format!(
            "{:.d$} ({:.d$}-{:.d$})",
            self.median,
            self.min,
            self.max,
            d = digits
        )
    }
}

/// One target of a benchmark, met or missed.
#[derive(Debug, Clone, Serialize)]
pub struct Target {
    /// What the target is (`constant time`).
    pub name: String,
    /// The figure compared, e.g. `clone(4 GiB) / clone(64 MiB)`.
    pub what: String,
    pub value: f64,
    /// `<=` or `>=`.
    pub op: &'static str,
    pub limit: f64,
    pub met: bool,
}

impl Target {
    /// `value <= limit` (`at_most`) or `value >= limit`; NaN misses.
    pub fn new(name: &str, what: String, value: f64, at_most: bool, limit: f64) -> Target {
        let met = if at_most {
            value <= limit
        } else {
            value >= limit
        };
        Target {
            name: name.into(),
            what,
            value,
            op: if at_most { "<=" } else { ">=" },
            limit,
            met,
        }
    }

    /// `constant time: clone(4 GiB) / clone(64 MiB) = 1.12 (target <= 1.5): met`.
    pub fn line(&self) -> String {
        format!(
            "{}: {} = {:.2} (target {} {}): {}",
            self.name,
            self.what,
            self.value,
            self.op,
            self.limit,
            if self.met { "met" } else { "MISSED" }
        )
    }
}

/// The end of a benchmark, at the binary's edge: every missed target,
/// named, is the error that makes `populous` exit non-zero (after the
/// figures were printed, and named in the JSON too).
pub fn verdict(missed: &[String]) -> Result<()> {
    anyhow::ensure!(missed.is_empty(), "target missed: {}", missed.join("; "));
    Ok(())
}

#[derive(Debug, Serialize)]
struct SizeResult {
    size_bytes: u64,
    /// snapshot+clone, per round (ms)
    snapshot_clone_ms: Vec<f64>,
    snapshot_clone: Spread,
    /// the two steps apart: median snapshot, median clone of that snapshot
    snapshot_median_ms: f64,
    clone_median_ms: f64,
    /// full copy of the same data (and a syncfs), per round (ms)
    copy_ms: Vec<f64>,
    copy: Spread,
    /// median copy / median snapshot+clone
    copy_over_clone: f64,
}

#[derive(Debug, Serialize)]
struct FsResult {
    fs: String,
    backend: String,
    /// per size, smallest first
    sizes: Vec<SizeResult>,
    /// median clone time at the largest size / at the smallest size
    large_over_small: f64,
    /// median copy time / median clone time at the largest size
    copy_over_clone: f64,
    /// constant time, copy/clone (and, with the density check, `volume ls`)
    targets: Vec<Target>,
    density: Option<Density>,
}

#[derive(Debug, Serialize)]
struct Density {
    clones: usize,
    snapshots: usize,
    create_seconds: f64,
    /// `volume ls --all` inside the process, median of 20 (target ≤ 50 ms)
    ls_ms_in_process: f64,
    /// `populous volume ls --all --json` as a new process, median of 10
    ls_ms_cli: f64,
}

/// The median (NaN when empty); sorts `v`.
pub(crate) fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    if v.is_empty() {
        return f64::NAN;
    }
    let m = v.len() / 2;
    if v.len() % 2 == 1 {
        v[m]
    } else {
        (v[m - 1] + v[m]) / 2.0
    }
}

pub(crate) fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// A bench's engine and the servers it started on its volumes: they stop on
/// drop, then (its [`Cleanup`]) the pools are unmounted and removed, whatever
/// way the bench ends.
pub struct Servers {
    /// The bench's engine.
    pub engine: Engine,
    started: Vec<VolRef>,
    _cleanup: Cleanup,
}

impl Drop for Servers {
    fn drop(&mut self) {
        for r in self.started.drain(..) {
            let _ = populous_ops::db::stop(&mut self.engine, &r);
        }
    }
}

impl Servers {
    /// The engine at `home`, guarded by `cleanup`.
    pub fn new(home: &Path, cleanup: Cleanup) -> Result<Self> {
        Ok(Servers {
            engine: Engine::open(home)?,
            started: Vec::new(),
            _cleanup: cleanup,
        })
    }

    /// Starts MariaDB on `r` (through the product's own `db start`).
    pub fn start(&mut self, r: &VolRef) -> Result<populous_db::Instance> {
        self.started.push(r.clone());
        Ok(populous_ops::db::start(&mut self.engine, r, None)?.value)
    }

    /// Guards a server started on `r` by another call (e.g. a self-service
    /// clone's `clone_db`): it is stopped on drop like the others.
    pub fn track(&mut self, r: &VolRef) {
        self.started.push(r.clone());
    }

    /// Stops the server on `r`; returns the seconds it took (its flush).
    pub fn stop(&mut self, r: &VolRef) -> Result<f64> {
        let t = Instant::now();
        populous_ops::db::stop(&mut self.engine, r)?;
        self.started.retain(|s| s != r);
        Ok(t.elapsed().as_secs_f64())
    }
}

/// One statement (or several) through the `mariadb` client on `socket`, as
/// root; the output without headers.
pub fn sql(socket: &Path, query: &str) -> Result<String> {
    let out = std::process::Command::new("mariadb")
        .arg(format!("--socket={}", socket.display()))
        .args(["-u", "root", "-N", "-B", "-e", query])
        .output()
        .context("running the mariadb client")?;
    anyhow::ensure!(
        out.status.success(),
        "{query}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// Removes the bench's pools (unmounting them) even when the bench fails or panics.
pub struct Cleanup {
    dir: PathBuf,
}

impl Cleanup {
    /// Guards `dir`: everything mounted below it is unmounted, then it is deleted.
    pub fn new(dir: PathBuf) -> Self {
        Cleanup { dir }
    }
}

/// A benchmark's scratch directory `DIR/populous-bench-NAME-PID`, which
/// `mariadbd` (running as `mysql`) may traverse, removed with what is
/// mounted below it when the guard goes.
pub fn server_work_dir(dir: &std::path::Path, name: &str) -> Result<(PathBuf, Cleanup)> {
    use std::os::unix::fs::PermissionsExt;
    let work = dir.join(format!("populous-bench-{name}-{}", std::process::id()));
    fs::create_dir_all(&work).with_context(|| format!("creating {}", work.display()))?;
    fs::set_permissions(&work, fs::Permissions::from_mode(0o755))?;
    Ok((work.clone(), Cleanup::new(work)))
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        for m in populous_engine::sys::mounts_below(&self.dir).unwrap_or_default() {
            if let Err(err) = populous_engine::sys::unmount(&m) {
                eprintln!("warning: could not unmount {}: {err}", m.display());
            }
        }
        let _ = fs::remove_dir_all(&self.dir);
    }
}

pub(crate) fn bar(len: u64, msg: &str, bytes: bool) -> ProgressBar {
    let pb = ProgressBar::new(len);
    let tpl = if bytes {
        "{msg:>24} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}"
    } else {
        "{msg:>24} [{bar:30}] {pos}/{len} {per_sec} eta {eta}"
    };
    pb.set_style(
        ProgressStyle::with_template(tpl)
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    pb.set_message(msg.to_owned());
    pb
}

/// Fills `dir` with `size` bytes of incompressible data in 64 MiB files, then syncs.
pub(crate) fn fill(dir: &Path, size: u64, pb: &ProgressBar) -> Result<()> {
    const FILE: u64 = 64 << 20;
    let mut buf = vec![0u8; 1 << 20];
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15 ^ size;
    let mut left = size;
    let mut n = 0;
    while left > 0 {
        let this = left.min(FILE);
        let path = dir.join(format!("data-{n:05}.bin"));
        let mut f = File::create(&path).with_context(|| format!("creating {}", path.display()))?;
        let mut written = 0;
        while written < this {
            for chunk in buf.chunks_exact_mut(8) {
                // xorshift64*: fast, and never repeats within a run, so no block dedups.
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                chunk.copy_from_slice(&state.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes());
            }
            let k = (this - written).min(buf.len() as u64) as usize;
            f.write_all(&buf[..k])
                .with_context(|| format!("writing {}", path.display()))?;
            written += k as u64;
            pb.inc(k as u64);
        }
        f.sync_all()?;
        left -= this;
        n += 1;
    }
    Ok(())
}

pub(crate) fn syncfs(path: &Path) -> Result<()> {
    let f = File::open(path)?;
    // SAFETY: syncfs on an open descriptor.
    if unsafe { libc::syncfs(f.as_raw_fd()) } != 0 {
        return Err(std::io::Error::last_os_error().into());
    }
    Ok(())
}

pub(crate) fn n(what: &'static str, s: &str) -> Result<Name> {
    Ok(Name::new(what, s)?)
}

fn bench_fs(
    args: &BenchClone,
    work: &Path,
    fs_kind: FsKind,
    sizes: &[u64],
    density: bool,
) -> Result<FsResult> {
    let home = work.join("home");
    let mut engine = Engine::open(&home)?;
    let largest = sizes.iter().copied().max().unwrap_or(0);
    // Room for every volume, one full copy of the largest, and slack for metadata.
    let pool_size = (sizes.iter().sum::<u64>() + largest) * 5 / 4 + (1 << 30);
    let pool = n("pool", &format!("bench-{}", fs_kind.as_str()))?;
    let info = engine.pool_create_image(
        &pool,
        &work.join(format!("{pool}.img")),
        pool_size,
        fs_kind,
        None,
    )?;
    let folder = n("folder", &format!("b-{}", fs_kind.as_str()))?;
    engine.folder_create(&format!("{pool}/{folder}").parse()?, &Default::default())?;
    // Fill every size first, then interleave the timed runs across sizes, so
    // that background work after a large write (writeback, btrfs cleanup)
    // cannot bias one size against the other.
    let mut vols = Vec::new();
    for &size in sizes {
        let vol: VolRef = format!("{folder}/data-{size}").parse()?;
        engine.volume_create(&vol, &VolumeOptions::default())?;
        let path = engine.volume_path(&vol)?;
        let pb = bar(
            size,
            &format!("fill {} {}", fs_kind.as_str(), format_size(size)),
            true,
        );
        fill(&path, size, &pb)?;
        pb.finish_and_clear();
        syncfs(&path)?;
        vols.push((size, vol, path));
    }
    let mut times = vec![Vec::new(); sizes.len()];
    let mut snap_times = vec![Vec::new(); sizes.len()];
    let mut clone_times = vec![Vec::new(); sizes.len()];
    let mut copy_times = vec![Vec::new(); sizes.len()];
    let mut made = Vec::new();
    let pb = bar(
        (args.runs * vols.len()) as u64,
        &format!("{} rounds", fs_kind.as_str()),
        false,
    );
    for run in 0..args.runs {
        for (k, (size, vol, path)) in vols.iter().enumerate() {
            let snap: SnapRef = format!("{vol}@run{run}").parse()?;
            let clone: VolRef = format!("{folder}/clone-{size}-{run}").parse()?;
            let t = Instant::now();
            engine.snapshot_create(&snap, Consistency::Crash)?;
            let t_snap = t.elapsed();
            engine.clone_volume(
                &CloneSource::Snapshot(snap.clone()),
                &clone,
                &VolumeOptions::default(),
            )?;
            snap_times[k].push(ms(t_snap));
            clone_times[k].push(ms(t.elapsed() - t_snap));
            times[k].push(ms(t.elapsed()));
            made.push((clone, snap));
            // The baseline in the same round: a full copy of the same data,
            // on disk (syncfs) before the clock stops.
            let dst = path.with_file_name(format!("copy-{size}"));
            let t = Instant::now();
            BackendKind::Copy.backend().clone_from(path, &dst)?;
            syncfs(&dst)?;
            copy_times[k].push(ms(t.elapsed()));
            // Freed and synced now, so that the freeing lands in no timed step.
            BackendKind::Copy.backend().destroy(&dst)?;
            syncfs(path)?;
            pb.inc(1);
        }
    }
    pb.finish_and_clear();
    // Destroyed only after timing: btrfs drops deleted subvolumes in the
    // background, and that work would otherwise land in the next run.
    for (clone, snap) in made {
        engine.volume_remove(&clone, true, false)?;
        engine.snapshot_remove(&snap)?;
    }
    let mut results = Vec::new();
    for (k, (size, _, _)) in vols.iter().enumerate() {
        let snapshot_clone = Spread::of(&times[k]);
        let copy = Spread::of(&copy_times[k]);
        eprintln!(
            "{:>6} {:>9}: snapshot+clone {} ms, full copy {} ms",
            fs_kind.as_str(),
            format_size(*size),
            snapshot_clone.text(2),
            copy.text(0)
        );
        results.push(SizeResult {
            size_bytes: *size,
            snapshot_clone_ms: times[k].clone(),
            snapshot_clone,
            snapshot_median_ms: median(&mut snap_times[k]),
            clone_median_ms: median(&mut clone_times[k]),
            copy_ms: copy_times[k].clone(),
            copy,
            copy_over_clone: copy.median / snapshot_clone.median,
        });
    }
    let (first, last) = (results.first(), results.last());
    let small = first.map_or(f64::NAN, |r| r.snapshot_clone.median);
    let large = last.map_or(f64::NAN, |r| r.snapshot_clone.median);
    let copy_over_clone = last.map_or(f64::NAN, |r| r.copy_over_clone);
    let (small_size, large_size) = (
        first.map_or(0, |r| r.size_bytes),
        last.map_or(0, |r| r.size_bytes),
    );
    let mut targets = vec![
        Target::new(
            "constant time",
            format!(
                "clone({}) / clone({})",
                format_size(large_size),
                format_size(small_size)
            ),
            large / small,
            true,
            CONSTANT_TIME,
        ),
        Target::new(
            "against a full copy",
            format!("copy / clone at {}", format_size(large_size)),
            copy_over_clone,
            false,
            COPY_OVER_CLONE,
        ),
    ];
    let density = if density && args.clones > 0 {
        let d = density_check(args, &mut engine, &home, &folder, sizes[0])?;
        targets.push(Target::new(
            "listing",
            format!(
                "volume ls --all as a command, {} clones and {} snapshots (ms)",
                d.clones, d.snapshots
            ),
            d.ls_ms_cli,
            true,
            LS_MS,
        ));
        Some(d)
    } else {
        None
    };
    Ok(FsResult {
        fs: fs_kind.as_str().into(),
        backend: info.backend.to_string(),
        sizes: results,
        large_over_small: large / small,
        copy_over_clone,
        targets,
        density,
    })
}

fn density_check(
    args: &BenchClone,
    engine: &mut Engine,
    home: &Path,
    folder: &Name,
    size: u64,
) -> Result<Density> {
    let src: VolRef = format!("{folder}/data-{size}").parse()?;
    let base: SnapRef = format!("{src}@density").parse()?;
    engine.snapshot_create(&base, Consistency::Crash)?;
    let total = args.clones + args.snapshots.saturating_sub(1);
    let pb = bar(total as u64, "clones + snapshots", false);
    let t = Instant::now();
    let mut clones = Vec::new();
    for i in 0..args.clones {
        let c: VolRef = format!("{folder}/d{i:05}").parse()?;
        engine.clone_volume(
            &CloneSource::Snapshot(base.clone()),
            &c,
            &VolumeOptions::default(),
        )?;
        clones.push(c);
        pb.inc(1);
    }
    // One snapshot exists already (the base); spread the rest over the clones.
    for i in 0..args.snapshots.saturating_sub(1) {
        let c = &clones[i % clones.len()];
        engine.snapshot_create(&format!("{c}@s{i:05}").parse()?, Consistency::Crash)?;
        pb.inc(1);
    }
    pb.finish_and_clear();
    let create_seconds = t.elapsed().as_secs_f64();
    let mut inproc = Vec::new();
    for _ in 0..20 {
        let t = Instant::now();
        let v = engine.volume_list(None, true)?;
        inproc.push(ms(t.elapsed()));
        anyhow::ensure!(
            v.len() > args.clones,
            "volume ls returned {} volumes",
            v.len()
        );
    }
    let exe = std::env::current_exe()?;
    let mut cli = Vec::new();
    for _ in 0..10 {
        let t = Instant::now();
        let out = std::process::Command::new(&exe)
            .arg("--home")
            .arg(home)
            .args(["volume", "ls", "--all", "--json"])
            .output()?;
        cli.push(ms(t.elapsed()));
        anyhow::ensure!(out.status.success(), "populous volume ls failed");
    }
    let d = Density {
        clones: args.clones,
        snapshots: args.snapshots,
        create_seconds,
        ls_ms_in_process: median(&mut inproc),
        ls_ms_cli: median(&mut cli),
    };
    eprintln!(
        "density: {} clones, {} snapshots made in {:.1} s; volume ls {:.2} ms in process, {:.2} ms as a command",
        d.clones, d.snapshots, d.create_seconds, d.ls_ms_in_process, d.ls_ms_cli
    );
    Ok(d)
}

/// A benchmark's `--sizes`, parsed and sorted; at least one.
pub fn sizes(given: &[String]) -> Result<Vec<u64>> {
    let mut sizes = given
        .iter()
        .map(|s| parse_size(s))
        .collect::<Result<Vec<_>, _>>()?;
    sizes.sort_unstable();
    anyhow::ensure!(!sizes.is_empty(), "give at least one --sizes value");
    Ok(sizes)
}

/// What a filesystem that misses constant time does instead.
fn why_not_constant(fs: &str) -> &'static str {
    match fs {
        "xfs" => "a reflink clone copies each file's extent map, one FICLONE per file: its time grows with the number of files and extents, not with bytes",
        "btrfs" => "a btrfs snapshot or clone is one ioctl whatever the data, but each commits a transaction: a busy disk delays it (see the spread)",
        _ => "the clone's time grew with the data",
    }
}

/// Runs the clone benchmark and prints the table (or JSON); a missed target
/// is an error, after the figures.
pub fn clone(args: &BenchClone, json: bool) -> Result<()> {
    let sizes = sizes(&args.sizes)?;
    anyhow::ensure!(args.runs > 0, "--runs must be at least 1");
    let work = args
        .dir
        .join(format!("populous-bench-{}", std::process::id()));
    fs::create_dir_all(&work).with_context(|| format!("creating {}", work.display()))?;
    let cleanup = Cleanup::new(work.clone());
    let mut all = Vec::new();
    for (i, f) in args.fs.iter().enumerate() {
        let kind: FsKind = f.parse()?;
        let sub = work.join(f);
        fs::create_dir_all(&sub)?;
        all.push(bench_fs(args, &sub, kind, &sizes, i == 0)?);
    }
    drop(cleanup);
    let missed: Vec<String> = all
        .iter()
        .flat_map(|r| {
            r.targets
                .iter()
                .filter(|t| !t.met)
                .map(move |t| format!("{}: {}", r.fs, t.line()))
        })
        .collect();
    if json {
        crate::output::json(&serde_json::json!({
            "filesystems": &all,
            "runs": args.runs,
            "missed": &missed,
        }))?;
        return verdict(&missed);
    }
    println!(
        "{:<6} {:<8} {:>10} {:>24} {:>26} {:>11}",
        "FS", "BACKEND", "SIZE", "SNAPSHOT+CLONE ms", "FULL COPY ms", "COPY/CLONE"
    );
    for r in &all {
        for s in &r.sizes {
            println!(
                "{:<6} {:<8} {:>10} {:>24} {:>26} {:>10.0}x",
                r.fs,
                r.backend,
                format_size(s.size_bytes),
                s.snapshot_clone.text(2),
                s.copy.text(0),
                s.copy_over_clone
            );
        }
    }
    println!(
        "medians (min-max) of {} interleaved rounds; each round clones and copies every size",
        args.runs
    );
    for r in &all {
        for t in &r.targets {
            println!("{:<6} {}", r.fs, t.line());
            if !t.met && t.name == "constant time" {
                println!(
                    "{:<6}   constant time does not hold here: {}",
                    r.fs,
                    why_not_constant(&r.fs)
                );
            }
        }
        if let Some(d) = &r.density {
            println!(
                "{:<6} density: {} clones and {} snapshots made in {:.1} s; volume ls {:.2} ms in process, {:.2} ms as a command",
                r.fs, d.clones, d.snapshots, d.create_seconds, d.ls_ms_in_process, d.ls_ms_cli
            );
        }
    }
    verdict(&missed)
}

/// `mariadb-dump --single-transaction | mariadb`, as the seed's baseline.
pub(crate) fn dump_restore(from_socket: &Path, to_socket: &Path) -> Result<()> {
    let mut dump = Command::new("mariadb-dump")
        .args([
            "-u",
            "root",
            "--single-transaction",
            "--quick",
            "--databases",
            "populous",
            "--socket",
        ])
        .arg(from_socket)
        .stdout(Stdio::piped())
        .spawn()
        .context("starting mariadb-dump (apt-get install mariadb-client)")?;
    let stdout = dump.stdout.take().context("mariadb-dump stdout")?;
    let restore = Command::new("mariadb")
        .args(["-u", "root", "--socket"])
        .arg(to_socket)
        .stdin(stdout)
        .status()
        .context("starting mariadb")?;
    let dumped = dump.wait()?;
    anyhow::ensure!(
        dumped.success() && restore.success(),
        "mariadb-dump | mariadb failed"
    );
    Ok(())
}

/// Fills a new prod volume (its server left running) at `size`; returns rows.
pub(crate) fn prepare_prod(g: &mut Servers, prod: &VolRef, size: u64) -> Result<u64> {
    g.engine.volume_create(prod, &VolumeOptions::default())?;
    let inst = g.start(prod)?;
    let opts = GenerateOptions {
        amount: Amount::Bytes(size),
        ..GenerateOptions::rows(0)
    };
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template("generate {wide_bar} {pos}/{len} rows {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar.set_message(format_size(size));
    let pb = bar.clone();
    let report =
        populous_app::generate_blocking(&format!("{}populous", inst.url), &opts, move |p| {
            pb.set_length(p.rows_todo);
            pb.set_position(p.rows_done);
        });
    bar.finish_and_clear();
    Ok(report?.rows_total)
}

/// The baseline once: a fresh server (started untimed), then dump|restore.
pub(crate) fn dump_run(g: &mut Servers, prod_socket: &Path, k: usize, round: usize) -> Result<f64> {
    let copy: VolRef = format!("dev/copy{k}-{round}").parse()?;
    g.engine.volume_create(&copy, &VolumeOptions::default())?;
    let inst = g.start(&copy)?;
    let t = Instant::now();
    dump_restore(prod_socket, &inst.socket)?;
    let took = ms(t.elapsed());
    g.stop(&copy)?;
    Ok(took)
}
