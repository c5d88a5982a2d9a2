//! `populous bench source`: what a source costs, against baselines in the same run.
//!
//! For each size, a "production" MariaDB server is made outside the pool (a
//! datadir under --dir, binary log on, a replication user) and filled with
//! the seed's table by the generator. Then, in interleaved rounds:
//! - `dump|load`: a fresh server made and started, then `mariadb-dump
//!   --single-transaction` of the database piped into its `mariadb` client
//!   (the baseline; like a seed, it ends with a server holding the data);
//! - `physical`: `source add` with `mariadb-backup` (stream, prepare, start,
//!   replicate);
//! - `logical`: `source add` with `mariadb-dump` into the replica.
//!
//! With a physical source live: the time of a source snapshot (applying
//! paused, the snapshot, the clean base), and at the largest size the
//! replication lag under a steady write load on production: each sample
//! reads production's position and times until the replica has applied it
//! (`MASTER_GTID_WAIT`).
//!
//! Throughout, production answers a point query every 20 ms on a connection
//! of its own (what the app's `/_ping` does), labelled with the phase: idle
//! (a quiet window before the rounds), during physical seeds, during source
//! snapshots; p50/p99 per phase say whether production notices.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use clap::Args;
use populous_db::{Instance, InstanceSpec};
use populous_engine::size::format_size;
use populous_engine::{Engine, FolderPolicy, FsKind, Name, SourceMode};
use populous_ops::source::{self as ops, AddSource};

use crate::bench::sql;

/// `populous bench source`.
#[derive(Debug, Args)]
pub struct BenchSource {
    /// Where the production servers and the throw-away pool image go.
    #[arg(long, default_value = "/var/tmp")]
    pub dir: PathBuf,
    /// Database sizes (the seed's table, 64 KiB blobs).
    #[arg(long, value_delimiter = ',', default_value = "256M,2G")]
    pub sizes: Vec<String>,
    /// Rounds: each seed variant once per round.
    #[arg(long, default_value_t = 3)]
    pub rounds: usize,
    /// Lag samples under the write load (at the largest size).
    #[arg(long, default_value_t = 100)]
    pub lag_samples: usize,
}

const PASSWORD: &str = "bench-Repl-7";

#[derive(Debug, serde::Serialize)]
struct Figures {
    median_s: f64,
    min_s: f64,
    max_s: f64,
}

fn figures(v: &[f64]) -> Figures {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let median = crate::bench::median(&mut s);
    Figures {
        median_s: median,
        min_s: s.first().copied().unwrap_or(f64::NAN),
        max_s: s.last().copied().unwrap_or(f64::NAN),
    }
}

#[derive(Debug, serde::Serialize)]
struct SizeResult {
    size_bytes: u64,
    data_bytes: u64,
    dump_load: Figures,
    physical: Figures,
    logical: Figures,
    /// dump|load time / physical seed time.
    dump_over_physical: f64,
    /// dump|load time / logical seed time.
    dump_over_logical: f64,
    /// MB/s of the physical seed's stream.
    physical_mb_s: f64,
    snapshot: Figures,
    /// Production's point-query answer times: idle, during physical seeds, during snapshots.
    prod_idle: Answers,
    prod_seeding: Answers,
    prod_snapshot: Answers,
}

/// What the benchmark is doing, for production's answer times.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
enum Phase {
    Other = 0,
    Idle = 1,
    Seeding = 2,
    Snapshot = 3,
}

/// Production's answer time to a point query, every 20 ms, by phase.
struct Sampler {
    phase: std::sync::Arc<std::sync::atomic::AtomicU8>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<Vec<(u8, f64)>>>,
}

impl Sampler {
    fn start(url: String) -> Sampler {
        use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
        let phase = std::sync::Arc::new(AtomicU8::new(Phase::Other as u8));
        let stop = std::sync::Arc::new(AtomicBool::new(false));
        let (p, s) = (std::sync::Arc::clone(&phase), std::sync::Arc::clone(&stop));
        let thread = std::thread::spawn(move || {
            populous_sql::block_on(async move {
                use mysql_async::prelude::Queryable;
                let mut out = Vec::new();
                let Ok(opts) = mysql_async::Opts::from_url(&url) else {
                    return out;
                };
                let Ok(mut c) = mysql_async::Conn::new(opts).await else {
                    return out;
                };
                let mut id = 0u64;
                while !s.load(Ordering::Relaxed) {
                    id = id % 1000 + 1;
                    let t = Instant::now();
                    let r: std::result::Result<Option<u64>, _> = c
                        .query_first(format!("SELECT id FROM main WHERE id = {id}"))
                        .await;
                    if r.is_ok() {
                        out.push((p.load(Ordering::Relaxed), t.elapsed().as_secs_f64()));
                    }
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                out
            })
            .unwrap_or_default()
        });
        Sampler {
            phase,
            stop,
            thread: Some(thread),
        }
    }

    fn set(&self, phase: Phase) {
        self.phase
            .store(phase as u8, std::sync::atomic::Ordering::Relaxed);
    }

    fn finish(&mut self) -> Vec<(u8, f64)> {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        self.thread
            .take()
            .and_then(|t| t.join().ok())
            .unwrap_or_default()
    }
}

impl Drop for Sampler {
    fn drop(&mut self) {
        self.finish();
    }
}

/// Production's answer times in one phase.
#[derive(Debug, serde::Serialize)]
struct Answers {
    samples: usize,
    p50_ms: f64,
    p99_ms: f64,
}

fn answers(all: &[(u8, f64)], phase: Phase) -> Answers {
    let mut v: Vec<f64> = all
        .iter()
        .filter(|(p, _)| *p == phase as u8)
        .map(|(_, s)| s * 1000.0)
        .collect();
    v.sort_by(f64::total_cmp);
    let pick = |q: f64| {
        if v.is_empty() {
            f64::NAN
        } else {
            v[((v.len() - 1) as f64 * q).round() as usize]
        }
    };
    Answers {
        samples: v.len(),
        p50_ms: pick(0.5),
        p99_ms: pick(0.99),
    }
}

#[derive(Debug, serde::Serialize)]
struct Lag {
    samples: usize,
    transactions_per_s: f64,
    p50_s: f64,
    p99_s: f64,
    max_s: f64,
}

/// A server of the benchmark's, stopped on drop.
struct Server(Instance);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = populous_db::stop_pid_file(&self.0.pid_file, populous_db::DEFAULT_STOP_TIMEOUT);
    }
}

fn server(dir: &Path, name: &str, extra: &[&str]) -> Result<Server> {
    let datadir = dir.join(format!("{name}-data"));
    std::fs::create_dir_all(&datadir)?;
    populous_db::init_datadir(&datadir, "mysql")?;
    let mut spec = InstanceSpec::new(&datadir, dir.join(format!("{name}-run")));
    spec.extra_args = extra.iter().map(|s| (*s).to_owned()).collect();
    Ok(Server(populous_db::start(&spec)?))
}

/// Production: binary log on, a replication user, `size` of the seed's table.
fn production(dir: &Path, size: u64) -> Result<Server> {
    let prod = server(
        dir,
        "prod",
        &["--log-bin=prod-bin", "--server-id=1", "--binlog-format=ROW"],
    )?;
    sql(
        &prod.0.socket,
        &format!(
            "CREATE USER repl@'%' IDENTIFIED BY '{PASSWORD}'; \
             GRANT REPLICATION SLAVE, RELOAD, PROCESS, LOCK TABLES, BINLOG MONITOR, SELECT, SHOW VIEW, EVENT, TRIGGER ON *.* TO repl@'%'; \
             CREATE DATABASE populous;"
        ),
    )?;
    let opts = populous_app::GenerateOptions {
        amount: populous_app::Amount::Bytes(size),
        ..populous_app::GenerateOptions::rows(0)
    };
    populous_app::generate_blocking(&format!("{}populous", prod.0.url), &opts, |_| {})?;
    Ok(prod)
}

/// The baseline: `mariadb-dump | mariadb` into a fresh server.
fn dump_load(dir: &Path, prod: &Server, round: usize) -> Result<f64> {
    // Timed from before the fresh server exists: a seed ends with a server
    // holding the data too, its start included.
    let t = Instant::now();
    let target = server(dir, &format!("baseline-{round}"), &[])?;
    let mut dump = Command::new("mariadb-dump")
        .arg("--no-defaults")
        .arg(format!("--socket={}", prod.0.socket.display()))
        .args([
            "-u",
            "root",
            "--single-transaction",
            "--hex-blob",
            "--databases",
            "populous",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .context("mariadb-dump")?;
    let load = Command::new("mariadb")
        .arg("--no-defaults")
        .arg(format!("--socket={}", target.0.socket.display()))
        .args(["-u", "root", "--binary-mode"])
        .stdin(dump.stdout.take().context("dump stdout")?)
        .status()
        .context("mariadb")?;
    let dumped = dump.wait()?;
    anyhow::ensure!(dumped.success() && load.success(), "dump|load failed");
    let secs = t.elapsed().as_secs_f64();
    drop(target);
    let _ = std::fs::remove_dir_all(dir.join(format!("baseline-{round}-data")));
    Ok(secs)
}

struct Ctx<'a> {
    engine: Engine,
    dir: &'a Path,
    pw_file: PathBuf,
}

/// Adds a source of `mode` on a new volume; returns the seconds to a replicating replica.
fn seed(c: &mut Ctx<'_>, prod: &Server, mode: SourceMode, name: &str) -> Result<(f64, f64)> {
    let req = AddSource {
        name: Name::new("source", name)?,
        url: format!("mysql://repl@127.0.0.1:{}", prod.0.port).parse()?,
        password_file: c.pw_file.clone(),
        volume: format!("replicas/{name}").parse()?,
        mode: Some(mode),
        datadir: None,
        server_id: None,
        schedule: None,
        keep: 1,
    };
    let t = Instant::now();
    let added = ops::add(&mut c.engine, &req, &mut |_| {})?;
    Ok((t.elapsed().as_secs_f64(), added.seed.mb_per_s()))
}

fn drop_source(c: &mut Ctx<'_>, name: &str) -> Result<()> {
    let n = Name::new("source", name)?;
    let s = c.engine.source_get(&n)?;
    ops::remove(&mut c.engine, &n)?;
    for snap in &s.snapshots {
        if let Some(b) = &snap.base {
            let _ = c.engine.volume_remove(&b.parse()?, true, true);
        }
    }
    c.engine.volume_remove(&s.volume, true, true)?;
    Ok(())
}

fn lag(prod: &Server, replica_url: &str, samples: usize) -> Result<Lag> {
    use std::io::Write;
    sql(
        &prod.0.socket,
        "CREATE TABLE IF NOT EXISTS populous.writes (id BIGINT PRIMARY KEY AUTO_INCREMENT, at DATETIME(6))",
    )?;
    let mut client = Command::new("mariadb")
        .arg(format!("--socket={}", prod.0.socket.display()))
        .args(["-u", "root", "populous"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()?;
    let mut input = client.stdin.take().context("stdin")?;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = std::sync::Arc::clone(&stop);
    let writer = std::thread::spawn(move || {
        let mut n = 0u64;
        while !flag.load(std::sync::atomic::Ordering::Relaxed) {
            if writeln!(input, "INSERT INTO writes (at) VALUES (NOW(6));").is_err() {
                break;
            }
            n += 1;
            // A steady load: about 500 transactions a second.
            std::thread::sleep(Duration::from_millis(2));
        }
        n
    });
    let started = Instant::now();
    let mut lags = Vec::new();
    for _ in 0..samples {
        let pos = sql(&prod.0.socket, "SELECT @@gtid_binlog_pos")?;
        let t = Instant::now();
        anyhow::ensure!(
            populous_source::replica::wait_for(replica_url, &pos, 60)?,
            "the replica did not reach {pos} in 60 s"
        );
        lags.push(t.elapsed().as_secs_f64());
        std::thread::sleep(Duration::from_millis(50));
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let written = writer.join().unwrap_or(0);
    let _ = client.wait();
    lags.sort_by(f64::total_cmp);
    let pick = |q: f64| lags[((lags.len() - 1) as f64 * q).round() as usize];
    Ok(Lag {
        samples: lags.len(),
        transactions_per_s: written as f64 / started.elapsed().as_secs_f64(),
        p50_s: pick(0.5),
        p99_s: pick(0.99),
        max_s: lags.last().copied().unwrap_or(f64::NAN),
    })
}

/// Runs the benchmark and prints the table (or JSON).
pub fn run(args: &BenchSource, json: bool) -> Result<()> {
    let sizes = crate::bench::sizes(&args.sizes)?;
    anyhow::ensure!(
        args.rounds > 0 && args.lag_samples > 0,
        "--rounds and --lag-samples are at least 1"
    );
    let (work, _cleanup) = crate::bench::server_work_dir(&args.dir, "source")?;
    let pw_file = work.join("repl.pw");
    std::fs::write(&pw_file, PASSWORD)?;
    let mut c = Ctx {
        engine: Engine::open(&work.join("home"))?,
        dir: &work,
        pw_file,
    };
    let largest = sizes.iter().copied().max().unwrap_or(0);
    let pool = Name::new("pool", "benchsource")?;
    c.engine.pool_create_image(
        &pool,
        &work.join("benchsource.img"),
        largest * 6 + (4 << 30),
        FsKind::Btrfs,
        None,
    )?;
    c.engine.folder_create(
        &format!("{pool}/replicas").parse()?,
        &FolderPolicy::default(),
    )?;
    let mut results = Vec::new();
    let mut lag_result = None;
    for &size in &sizes {
        eprintln!("bench source: production at {}", format_size(size));
        let prod = production(c.dir, size)?;
        sql(&prod.0.socket, "ANALYZE TABLE populous.main")?;
        let data: u64 = sql(
            &prod.0.socket,
            "SELECT SUM(data_length + index_length) FROM information_schema.tables WHERE table_schema = 'populous'",
        )?
        .parse()
        .unwrap_or(0);
        let mut sampler = Sampler::start(format!("{}populous", prod.0.url));
        sampler.set(Phase::Idle);
        // A quiet window: production's answer times with nothing else going on.
        std::thread::sleep(Duration::from_secs(3));
        sampler.set(Phase::Other);
        let (mut base, mut phys, mut logi, mut mbs) = (vec![], vec![], vec![], vec![]);
        for round in 0..args.rounds {
            base.push(dump_load(c.dir, &prod, round)?);
            sampler.set(Phase::Seeding);
            let seeded = seed(&mut c, &prod, SourceMode::Physical, "phys");
            sampler.set(Phase::Other);
            let (t, m) = seeded?;
            phys.push(t);
            mbs.push(m);
            drop_source(&mut c, "phys")?;
            logi.push(seed(&mut c, &prod, SourceMode::Logical, "logi")?.0);
            drop_source(&mut c, "logi")?;
        }
        // A live physical source: snapshots (and, at the largest size, lag).
        seed(&mut c, &prod, SourceMode::Physical, "live")?;
        let name = Name::new("source", "live")?;
        let mut snaps = Vec::new();
        for round in 0..args.rounds {
            let t = Instant::now();
            sampler.set(Phase::Snapshot);
            let taken = ops::snapshot(
                &mut c.engine,
                &name,
                Some(Name::new("snapshot", &format!("b{round}"))?),
            );
            sampler.set(Phase::Other);
            taken?;
            snaps.push(t.elapsed().as_secs_f64());
        }
        if size == largest {
            let s = c.engine.source_get(&name)?;
            let i = populous_ops::db::running(c.engine.home(), &s.volume)
                .context("the live replica runs")?;
            lag_result = Some(lag(&prod, &i.socket_url(), args.lag_samples)?);
        }
        drop_source(&mut c, "live")?;
        let answered = sampler.finish();
        let (b, p, l) = (figures(&base), figures(&phys), figures(&logi));
        results.push(SizeResult {
            size_bytes: size,
            data_bytes: data,
            dump_over_physical: b.median_s / p.median_s,
            dump_over_logical: b.median_s / l.median_s,
            physical_mb_s: figures(&mbs).median_s,
            dump_load: b,
            physical: p,
            logical: l,
            snapshot: figures(&snaps),
            prod_idle: answers(&answered, Phase::Idle),
            prod_seeding: answers(&answered, Phase::Seeding),
            prod_snapshot: answers(&answered, Phase::Snapshot),
        });
        drop(prod);
        let _ = std::fs::remove_dir_all(c.dir.join("prod-data"));
        let _ = std::fs::remove_dir_all(c.dir.join("prod-run"));
    }
    let snapshot_ratio = match (results.first(), results.last()) {
        (Some(a), Some(b)) if results.len() > 1 => b.snapshot.median_s / a.snapshot.median_s,
        _ => f64::NAN,
    };
    let _ = c.engine.pool_remove(&pool);
    if json {
        return crate::output::json(&serde_json::json!({
            "sizes": results,
            "snapshot_largest_over_smallest": snapshot_ratio,
            "lag": lag_result,
        }));
    }
    println!(
        "{:>9} {:>9} {:>22} {:>22} {:>22} {:>8} {:>8} {:>8} {:>18}",
        "size",
        "data",
        "dump|load s",
        "physical s",
        "logical s",
        "dump/phy",
        "dump/log",
        "MB/s",
        "snapshot s"
    );
    let f = |x: &Figures| format!("{:.2} ({:.2}-{:.2})", x.median_s, x.min_s, x.max_s);
    for r in &results {
        println!(
            "{:>9} {:>9} {:>22} {:>22} {:>22} {:>8.2} {:>8.2} {:>8.0} {:>18}",
            format_size(r.size_bytes),
            format_size(r.data_bytes),
            f(&r.dump_load),
            f(&r.physical),
            f(&r.logical),
            r.dump_over_physical,
            r.dump_over_logical,
            r.physical_mb_s,
            f(&r.snapshot)
        );
    }
    for r in &results {
        println!(
            "production at {}: point query p50/p99 idle {:.2}/{:.2} ms, during physical seeds {:.2}/{:.2} ms, during snapshots {:.2}/{:.2} ms",
            format_size(r.size_bytes),
            r.prod_idle.p50_ms,
            r.prod_idle.p99_ms,
            r.prod_seeding.p50_ms,
            r.prod_seeding.p99_ms,
            r.prod_snapshot.p50_ms,
            r.prod_snapshot.p99_ms
        );
    }
    println!("snapshot time, largest / smallest size: {snapshot_ratio:.2}");
    if let Some(l) = lag_result {
        println!(
            "replication lag under {:.0} transactions/s: p50 {:.3} s, p99 {:.3} s, max {:.3} s ({} samples)",
            l.transactions_per_s, l.p50_s, l.p99_s, l.max_s, l.samples
        );
    }
    Ok(())
}
