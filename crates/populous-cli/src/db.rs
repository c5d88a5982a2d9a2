//! `populous db`, `populous generate` and `populous bench generate`: thin
//! wrappers over populous-ops (servers on volumes) and populous-app (the
//! generator).

use anyhow::{bail, Result};
use indicatif::{ProgressBar, ProgressStyle};
use populous_app::{Amount, BenchOptions, GenerateOptions};
use populous_engine::{Engine, VolRef};

use crate::cli::{BenchGenerate, DbCmd, DbTarget, GenerateArgs};
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
