//! `populous db`, `populous generate` and `populous bench generate`: thin
//! wrappers over populous-ops (servers on volumes) and populous-app (the
//! generator).

use anyhow::{bail, Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use populous_app::{Amount, BenchOptions, GenerateOptions};
use populous_engine::{Engine, VolRef};

use crate::cli::{BenchDb, BenchGenerate, DbCmd, DbTarget, GenerateArgs};
use crate::output::{self, table};

/// `populous db …`.
pub fn db(engine: &mut Engine, c: DbCmd, json: bool) -> Result<()> {
    use populous_ops::db as volume;
    match c {
        DbCmd::Start { volume: v, port } => {
            let r: VolRef = v.parse()?;
            let o = volume::start(engine, &r, port)?;
            if json {
                return output::json(&o);
            }
            let i = &o.value;
            if o.changed {
                println!(
                    "MariaDB on {r} is up: {}populous (pid {}, socket {})",
                    i.url,
                    i.pid,
                    i.socket.display()
                );
            } else {
                println!(
                    "MariaDB on {r} was already running: {}populous (pid {})",
                    i.url, i.pid
                );
            }
            Ok(())
        }
        DbCmd::Stop { volume: v } => {
            let r: VolRef = v.parse()?;
            let o = volume::stop(engine, &r)?;
            let msg = if o.changed {
                format!("stopped MariaDB on {r}")
            } else {
                format!("no MariaDB was running on {r}")
            };
            if json {
                return output::json(&o);
            }
            println!("{msg}");
            Ok(())
        }
        DbCmd::Ls => {
            let dbs = volume::list(engine.home());
            if json {
                return output::json(&dbs);
            }
            let rows = dbs
                .iter()
                .map(|d| {
                    vec![
                        d.volume.clone(),
                        if d.running {
                            "running".into()
                        } else {
                            "stopped".into()
                        },
                        d.instance.port.to_string(),
                        d.instance.pid.to_string(),
                        io_summary(d),
                        format!("{}populous", d.instance.url),
                    ]
                })
                .collect::<Vec<_>>();
            table(&["VOLUME", "STATE", "PORT", "PID", "I/O", "URL"], &rows);
            Ok(())
        }
    }
}

/// `db ls`'s I/O column: the flush method, doublewrite, and how many of
/// InnoDB's files are `nodatacow` (btrfs only; `--json` has every field).
fn io_summary(d: &populous_ops::db::VolumeDb) -> String {
    let io = &d.instance.io;
    let mut s = format!(
        "{}{}",
        io.flush_method.as_str(),
        if io.doublewrite {
            ""
        } else {
            ",no-doublewrite"
        }
    );
    let f = &d.datadir_io.files;
    if d.datadir_io.datadir_nocow || f.nocow > 0 {
        s.push_str(&format!(",nocow {}/{}", f.nocow, f.innodb_files));
    }
    s
}

/// The database URL of a target: as given, or the running server on a volume (database `populous`).
fn url(engine: &Engine, t: &DbTarget) -> Result<String> {
    match (&t.db_url, &t.volume) {
        (Some(u), _) => Ok(u.clone()),
        (None, Some(v)) => {
            let r: VolRef = v.parse()?;
            // The operations' own error, so the kind and the hint are generate's.
            let i = populous_ops::db::running(engine.home(), &r).ok_or_else(|| {
                populous_ops::Error::NotRunning {
                    volume: r.to_string(),
                }
            })?;
            Ok(format!("{}populous", i.url))
        }
        (None, None) => bail!("give --db-url URL or --volume FOLDER/VOL"),
    }
}

fn blob_size(s: &str) -> Result<usize> {
    let n = populous_engine::size::parse_size(s)?;
    if n > 1 << 30 {
        bail!("blob size {s} is over 1 GiB: rows that large make no sense here");
    }
    Ok(n as usize)
}

/// `populous generate`.
pub fn generate(engine: &Engine, a: &GenerateArgs, json: bool) -> Result<()> {
    let amount = match (a.rows, &a.size) {
        (Some(n), _) => Amount::Rows(n),
        (None, Some(s)) => Amount::Bytes(populous_engine::size::parse_size(s)?),
        (None, None) => bail!("give --rows N or --size 2G"),
    };
    let opts = GenerateOptions {
        amount,
        threads: a.threads,
        seed: a.seed,
        blob_size: blob_size(&a.blob_size)?,
        resume: a.resume,
        method: a.method,
        chunk_bytes: None,
    };
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} rows  {msg}  ETA {eta}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let pb = bar.clone();
    let feed = move |p: &populous_app::Progress| {
        pb.set_length(p.rows_todo);
        pb.set_position(p.rows_done);
        let secs = p.elapsed.as_secs_f64().max(1e-9);
        pb.set_message(format!(
            "{:.1} MB/s, {:.0} rows/s",
            p.bytes_done as f64 / secs / 1e6,
            p.rows_done as f64 / secs
        ));
    };
    // Into a volume: the operation checks the pool's space first.
    let report = match (&a.target.db_url, &a.target.volume) {
        (Some(url), _) => populous_app::generate_blocking(url, &opts, feed).map_err(Into::into),
        (None, Some(v)) => populous_ops::db::generate(engine, &v.parse()?, &opts, feed)
            .map_err(anyhow::Error::from),
        (None, None) => Err(anyhow::anyhow!("give --db-url URL or --volume FOLDER/VOL")),
    };
    bar.finish_and_clear();
    let report = report?;
    if json {
        return output::json(&report);
    }
    println!(
        "{}.main: wrote {} rows ({} already there, {} in total) in {:.1} s: {:.0} rows/s, {:.1} MB/s ({}, {} connections, seed {}, blob {} B)",
        report.database,
        report.rows_written,
        report.rows_present,
        report.rows_total,
        report.elapsed_secs,
        report.rows_per_sec,
        report.mb_per_sec,
        report.method,
        report.threads,
        report.seed,
        report.blob_size
    );
    Ok(())
}

/// `populous bench generate`.
pub fn bench_generate(engine: &Engine, a: &BenchGenerate, json: bool) -> Result<()> {
    let url = url(engine, &a.target)?;
    let opts = BenchOptions {
        rows: a.rows,
        blob_size: blob_size(&a.blob_size)?,
        threads: a.threads,
        method: a.method,
        rounds: a.rounds,
        ..BenchOptions::default()
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let r = rt.block_on(populous_app::bench_generate(&url, &opts))?;
    if json {
        return output::json(&r);
    }
    println!(
        "server {}; {} rows of {} B blobs per phase; {} rounds",
        r.server_version,
        r.rows,
        r.blob_size,
        r.rounds.len()
    );
    for (i, round) in r.rounds.iter().enumerate() {
        println!(
            "round {i}: ceiling {:>6.0} rows/s {:>6.1} MB/s | generator {:>6.0} rows/s {:>6.1} MB/s | ratio {:.2}",
            round.ceiling.rows_per_sec, round.ceiling.mb_per_sec, round.generator.rows_per_sec, round.generator.mb_per_sec, round.ratio
        );
    }
    println!(
        "median ceiling   INSERT … SELECT FROM seq: {:>7.0} rows/s {:>7.1} MB/s",
        r.ceiling.rows_per_sec, r.ceiling.mb_per_sec
    );
    println!(
        "median generator {} x{}: {:>7.0} rows/s {:>7.1} MB/s",
        r.method.as_str(),
        r.threads,
        r.generator.rows_per_sec,
        r.generator.mb_per_sec
    );
    println!(
        "median ratio generator/ceiling (MB/s): {:.2} (target >= 0.80)",
        r.ratio
    );
    Ok(())
}

#[derive(Debug, serde::Serialize)]
struct DbBenchSize {
    size_bytes: u64,
    rows: u64,
    /// application-consistent snapshot, ms
    snapshot_ms: f64,
    /// clone of that snapshot, ms
    clone_ms: f64,
    /// `mariadbd` start on the clone until it answers, ms
    start_ms: f64,
    /// first query (one row by primary key) on the clone, ms
    first_query_ms: f64,
    /// snapshot + clone + start + first query, ms
    clone_to_first_query_ms: f64,
    /// `mariadb-dump | mariadb` into a fresh server, ms
    dump_restore_ms: Option<f64>,
    /// dump_restore / (snapshot + clone)
    copy_over_clone: Option<f64>,
    /// dump_restore / clone_to_first_query
    copy_over_clone_to_query: Option<f64>,
}

/// Stops the bench's servers and unmounts its pool even if it fails.
struct BenchGuard {
    engine: Engine,
    started: Vec<VolRef>,
    _cleanup: crate::bench::Cleanup,
}

impl Drop for BenchGuard {
    fn drop(&mut self) {
        for r in self.started.drain(..) {
            let _ = populous_ops::db::stop(&mut self.engine, &r);
        }
    }
}

fn ms(d: std::time::Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// `mariadb-dump --single-transaction | mariadb`, as the seed's baseline.
fn dump_restore(from_socket: &std::path::Path, to_socket: &std::path::Path) -> Result<()> {
    use std::process::{Command, Stdio};
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

/// `populous bench db`.
pub fn bench_db(args: &BenchDb, json: bool) -> Result<()> {
    use populous_engine::{CloneSource, FsKind, Name, SnapRef, VolumeOptions};
    use populous_ops::db as volume;
    use std::time::Instant;
    let mut sizes = args
        .sizes
        .iter()
        .map(|s| populous_engine::size::parse_size(s))
        .collect::<Result<Vec<_>, _>>()?;
    sizes.sort_unstable();
    let work = args
        .dir
        .join(format!("populous-bench-db-{}", std::process::id()));
    std::fs::create_dir_all(&work)?;
    {
        use std::os::unix::fs::PermissionsExt;
        // mariadbd runs as `mysql` and must traverse to the volumes.
        std::fs::set_permissions(&work, std::fs::Permissions::from_mode(0o755))?;
    }
    let cleanup = crate::bench::Cleanup::new(work.clone());
    let engine = Engine::open(&work.join("home"))?;
    let mut g = BenchGuard {
        engine,
        started: Vec::new(),
        _cleanup: cleanup,
    };
    let total: u64 = sizes.iter().sum();
    let pool_size = total * 4 + (2 << 30);
    g.engine.pool_create_image(
        &Name::new("pool", "benchdb")?,
        &work.join("benchdb.img"),
        pool_size,
        FsKind::Btrfs,
        None,
    )?;
    g.engine
        .folder_create(&"benchdb/prod".parse()?, &Default::default())?;
    g.engine
        .folder_create(&"benchdb/dev".parse()?, &Default::default())?;
    let mut results = Vec::new();
    for (k, &size) in sizes.iter().enumerate() {
        let prod: VolRef = format!("prod/db{k}").parse()?;
        g.engine.volume_create(&prod, &VolumeOptions::default())?;
        let inst = volume::start(&mut g.engine, &prod, None)?.value;
        g.started.push(prod.clone());
        let opts = GenerateOptions {
            amount: Amount::Bytes(size),
            ..GenerateOptions::rows(0)
        };
        let bar = ProgressBar::new(0);
        bar.set_style(
            ProgressStyle::with_template("generate {wide_bar} {pos}/{len} rows {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        let pb = bar.clone();
        let report =
            populous_app::generate_blocking(&format!("{}populous", inst.url), &opts, move |p| {
                pb.set_length(p.rows_todo);
                pb.set_position(p.rows_done);
            })?;
        bar.finish_and_clear();

        // The clone path: snapshot (quiesced), clone, start, first query.
        let snap: SnapRef = format!("{prod}@bench").parse()?;
        let t = Instant::now();
        populous_ops::snapshot(&mut g.engine, &snap)?;
        let snapshot_ms = ms(t.elapsed());
        let dev: VolRef = format!("dev/clone{k}").parse()?;
        let t = Instant::now();
        g.engine.clone_volume(
            &CloneSource::Snapshot(snap),
            &dev,
            &VolumeOptions::default(),
        )?;
        let clone_ms = ms(t.elapsed());
        let t = Instant::now();
        let clone_inst = volume::start(&mut g.engine, &dev, None)?.value;
        g.started.push(dev.clone());
        let start_ms = ms(t.elapsed());
        let t = Instant::now();
        let row = std::process::Command::new("mariadb")
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
            .arg(&clone_inst.socket)
            .output()?;
        let first_query_ms = ms(t.elapsed());
        anyhow::ensure!(
            row.status.success() && !row.stdout.is_empty(),
            "the first query on the clone failed"
        );

        // The baseline: a full logical copy into a fresh server.
        let dump_restore_ms = if args.no_baseline {
            None
        } else {
            let copy: VolRef = format!("dev/copy{k}").parse()?;
            g.engine.volume_create(&copy, &VolumeOptions::default())?;
            let copy_inst = volume::start(&mut g.engine, &copy, None)?.value;
            g.started.push(copy.clone());
            eprintln!(
                "mariadb-dump | mariadb of {} ...",
                populous_engine::size::format_size(size)
            );
            let t = Instant::now();
            dump_restore(&inst.socket, &copy_inst.socket)?;
            Some(ms(t.elapsed()))
        };
        let to_query = snapshot_ms + clone_ms + start_ms + first_query_ms;
        let r = DbBenchSize {
            size_bytes: size,
            rows: report.rows_total,
            snapshot_ms,
            clone_ms,
            start_ms,
            first_query_ms,
            clone_to_first_query_ms: to_query,
            dump_restore_ms,
            copy_over_clone: dump_restore_ms.map(|d| d / (snapshot_ms + clone_ms)),
            copy_over_clone_to_query: dump_restore_ms.map(|d| d / to_query),
        };
        eprintln!(
            "{:>9}: snapshot {:.1} ms + clone {:.1} ms + start {:.0} ms + first query {:.1} ms = {:.0} ms; dump|restore {}",
            populous_engine::size::format_size(size),
            r.snapshot_ms,
            r.clone_ms,
            r.start_ms,
            r.first_query_ms,
            to_query,
            r.dump_restore_ms.map(|d| format!("{:.0} ms", d)).unwrap_or_else(|| "skipped".into())
        );
        results.push(r);
        // Free the servers of this size before the next one.
        for v in g.started.drain(..).collect::<Vec<_>>() {
            volume::stop(&mut g.engine, &v)?;
        }
    }
    if json {
        return output::json(&results);
    }
    println!(
        "{:>9} {:>9} {:>12} {:>14} {:>14} {:>12} {:>16}",
        "SIZE", "ROWS", "SNAP+CLONE", "TO 1ST QUERY", "DUMP|RESTORE", "COPY/CLONE", "COPY/TO-QUERY"
    );
    for r in &results {
        println!(
            "{:>9} {:>9} {:>9.1} ms {:>11.0} ms {:>14} {:>12} {:>16}",
            populous_engine::size::format_size(r.size_bytes),
            r.rows,
            r.snapshot_ms + r.clone_ms,
            r.clone_to_first_query_ms,
            r.dump_restore_ms
                .map(|d| format!("{:.1} s", d / 1000.0))
                .unwrap_or_else(|| "-".into()),
            r.copy_over_clone
                .map(|x| format!("{x:.0}x"))
                .unwrap_or_else(|| "-".into()),
            r.copy_over_clone_to_query
                .map(|x| format!("{x:.1}x"))
                .unwrap_or_else(|| "-".into()),
        );
    }
    Ok(())
}
