//! `populous bench clones`: self-service clones (`clone --db`), the three
//! benchmarks of issue 17, measured through the product's own calls.
//!
//! On a throw-away btrfs pool, an origin MariaDB is filled by the generator
//! to `--origin-size` (and a small one to `--reset-small`), each snapshotted
//! application-consistent while its server runs. Then:
//! - **request to first answered query**, in interleaved rounds (the order
//!   alternates): *cold*, [`dbclone::clone_db`] of the origin's snapshot and
//!   its first query over TCP with the clone's own login, against
//!   `mariadb-dump --single-transaction | mariadb` of the same database into
//!   a fresh server (bench db's baseline, [`crate::bench::dump_run`]).
//!   Target: cold at most [`COLD_S`] (issue 17, without a warm pool).
//!   *Warm*: the same call when a warm clone of the snapshot waits (made
//!   by [`populous_ops::warm::refill`] before the round, untimed, as
//!   `populous serve` keeps it), and its first query. Target: at most
//!   [`WARM_S`].
//! - **reset**, in interleaved rounds (the order rotates): [`dbclone::reset`]
//!   of a running clone of the small origin, of one of the large origin, and
//!   the baseline, destroy + `clone_db` + first query of the large origin's
//!   data. Each reset is followed by a first query on the same URL. Target:
//!   reset(large)/reset(small) at most [`crate::bench::CONSTANT_TIME`].
//! - **density**: `clone_db` clones of the large origin one after another,
//!   each followed by its first query, until `--max-clones` or the first
//!   failure (whose error is reported); clone to first query of the 1st, the
//!   median and the last, the RSS of every clone's `mariadbd` (VmRSS of the
//!   pid its instance record names), MemAvailable before and after, and the
//!   pool's space used. Servers run with the product's defaults.
//!
//! Every server is stopped and the pool removed at the end, on error and
//! panic too ([`Servers`]). A missed target is printed as missed, named in
//! `--json`, and makes the command exit non-zero after the figures.

use std::time::Instant;

use anyhow::{Context, Result};
use populous_engine::size::{format_size, parse_size};
use populous_engine::{CloneSource, FsKind, Name, SnapRef, VolRef, VolumeOptions};
use populous_ops::dbclone::{self, Clients, CloneDb, DbClone, Listen, ResetTo};
use serde::Serialize;

use crate::bench::{bar, ms, Servers, Spread, Target};
use crate::cli::BenchClones;

/// Cold request to first answered query, at most this (s): issue 17's
/// target without a warm clone.
pub const COLD_S: f64 = 0.5;

/// Warm request (a warm clone waiting) to first answered query, at most this (s).
pub const WARM_S: f64 = 0.1;

/// The first query a user sends: one row by primary key, over TCP, with the
/// clone's own login (the URL `clone_db` returned).
fn first_query(url: &str) -> Result<()> {
    let opts = populous_db::parse_url(url)?;
    let got: Option<String> = populous_sql::block_on(async move {
        use mysql_async::prelude::Queryable;
        let mut c = mysql_async::Conn::new(opts).await?;
        let row = c
            .query_first("SELECT guid FROM populous.main ORDER BY id LIMIT 1")
            .await;
        let _ = c.disconnect().await;
        row
    })?
    .with_context(|| format!("the first query on {}", populous_db::redact_url(url)))?;
    anyhow::ensure!(got.is_some(), "the first query found no row");
    Ok(())
}

/// `clone_db` of `snap` as `dst` with the product's defaults; the server is
/// guarded by `g` from here on.
fn clone_db(g: &mut Servers, snap: &SnapRef, dst: &VolRef) -> Result<DbClone> {
    let c = dbclone::clone_db(
        &mut g.engine,
        &CloneDb {
            source: CloneSource::Snapshot(snap.clone()),
            target: dst.clone(),
            options: VolumeOptions::default(),
            listen: Listen::default(),
            limits: Default::default(),
        },
    )?;
    g.track(dst);
    Ok(c)
}

/// Destroys a self-service clone as the reaper does: its server stopped,
/// the volume destroyed, its login forgotten.
fn destroy(g: &mut Servers, r: &VolRef) -> Result<()> {
    g.stop(r)?;
    g.engine.volume_remove(r, true, true)?;
    dbclone::forget(g.engine.home(), r);
    Ok(())
}

/// `clone_db` then the first query: (the call, the query) in ms.
fn cold(g: &mut Servers, snap: &SnapRef, dst: &VolRef) -> Result<(f64, f64, DbClone)> {
    let t = Instant::now();
    let c = clone_db(g, snap, dst)?;
    let call = ms(t.elapsed());
    let t = Instant::now();
    first_query(&c.url)?;
    Ok((call, ms(t.elapsed()), c))
}

/// A process's resident set (VmRSS), bytes.
fn rss(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    kib_field(&s, "VmRSS:")
}

/// MemAvailable, bytes.
fn mem_available() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| kib_field(&s, "MemAvailable:"))
        .unwrap_or(0)
}

fn kib_field(text: &str, name: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.starts_with(name))?;
    let kib: u64 = line[name.len()..].split_whitespace().next()?.parse().ok()?;
    Some(kib * 1024)
}

/// The pool's used bytes (total - free, as the filesystem says once synced).
fn pool_used(g: &Servers, pool: &Name) -> Result<u64> {
    let find = || -> Result<populous_engine::PoolInfo> {
        g.engine
            .pool_list()?
            .into_iter()
            .find(|p| &p.name == pool)
            .context("the bench's pool")
    };
    crate::bench::syncfs(&find()?.root)?;
    let p = find()?;
    Ok(p.total_bytes
        .unwrap_or(0)
        .saturating_sub(p.free_bytes.unwrap_or(0)))
}

#[derive(Debug, Serialize)]
struct Density {
    origin_bytes: u64,
    max_clones: usize,
    /// Clones whose `clone_db` returned (their server started).
    started: usize,
    /// Of those, the ones whose first query over TCP answered.
    answered: usize,
    /// The first failure, which stopped the run (none: it reached the max).
    failure: Option<String>,
    /// Clone to first query (`clone_db` + first query) of each clone, in order, ms.
    clone_to_first_query_ms: Vec<f64>,
    first_ms: f64,
    median_ms: f64,
    /// The last one's (the Nth).
    last_ms: f64,
    /// The servers found running, with a pid, at the end.
    servers_measured: usize,
    /// VmRSS of every clone's `mariadbd`, summed, bytes.
    rss_total_bytes: u64,
    rss_per_clone_bytes: u64,
    rss_max_bytes: u64,
    /// /proc/meminfo MemAvailable before the first clone and after the last.
    mem_available_before_bytes: u64,
    mem_available_after_bytes: u64,
    /// The pool's used bytes before the first clone and after the last.
    pool_used_before_bytes: u64,
    pool_used_after_bytes: u64,
}

fn density(g: &mut Servers, args: &BenchClones, snap: &SnapRef, pool: &Name) -> Result<Density> {
    let mem_before = mem_available();
    let used_before = pool_used(g, pool)?;
    let pb = bar(args.max_clones as u64, "density", false);
    let (mut times, mut failure, mut clones) = (Vec::new(), None, Vec::new());
    let mut started = 0;
    for i in 0..args.max_clones {
        let dst: VolRef = format!("dev/d{i:04}").parse()?;
        let t = Instant::now();
        match clone_db(g, snap, &dst) {
            Ok(c) => {
                started += 1;
                let answered = first_query(&c.url);
                if let Err(e) = answered {
                    failure = Some(format!("clone {} ({dst}): first query: {e:#}", i + 1));
                    clones.push(dst);
                    break;
                }
                clones.push(dst);
                times.push(ms(t.elapsed()));
            }
            Err(e) => {
                failure = Some(format!("clone {} ({dst}): clone_db: {e:#}", i + 1));
                break;
            }
        }
        pb.inc(1);
    }
    pb.finish_and_clear();
    // Every clone's server, by the pid its instance record names.
    let dbs = populous_ops::db::list(g.engine.home());
    let rsses: Vec<u64> = clones
        .iter()
        .filter_map(|r| {
            let name = r.to_string();
            let d = dbs.iter().find(|d| d.volume == name && d.running)?;
            rss(d.instance.pid)
        })
        .collect();
    let mem_after = mem_available();
    let used_after = pool_used(g, pool)?;
    let total: u64 = rsses.iter().sum();
    let d = Density {
        origin_bytes: 0,
        max_clones: args.max_clones,
        started,
        answered: times.len(),
        failure,
        first_ms: times.first().copied().unwrap_or(f64::NAN),
        median_ms: Spread::of(&times).median,
        last_ms: times.last().copied().unwrap_or(f64::NAN),
        clone_to_first_query_ms: times,
        servers_measured: rsses.len(),
        rss_total_bytes: total,
        rss_per_clone_bytes: total / (rsses.len().max(1) as u64),
        rss_max_bytes: rsses.iter().copied().max().unwrap_or(0),
        mem_available_before_bytes: mem_before,
        mem_available_after_bytes: mem_after,
        pool_used_before_bytes: used_before,
        pool_used_after_bytes: used_after,
    };
    // Stopped now, through the product, so that nothing of them lands later.
    let pb = bar(clones.len() as u64, "stop clones", false);
    for r in &clones {
        g.stop(r)?;
        pb.inc(1);
    }
    pb.finish_and_clear();
    Ok(d)
}

#[derive(Debug, Serialize)]
struct ResetResult {
    small_bytes: u64,
    large_bytes: u64,
    rounds: usize,
    /// `reset` of a running clone of the small origin (server restarted), ms.
    reset_small_ms: Spread,
    reset_large_ms: Spread,
    /// The reset and then the first query on the same URL and login, ms.
    reset_small_to_query_ms: Spread,
    reset_large_to_query_ms: Spread,
    /// Destroy + `clone_db` + first query of the large origin's data, ms.
    rebuild_ms: Spread,
    reset_small_rounds_ms: Vec<f64>,
    reset_large_rounds_ms: Vec<f64>,
    rebuild_rounds_ms: Vec<f64>,
    /// Median reset(large) / median reset(small): constant time.
    large_over_small: f64,
    /// Median (destroy + clone_db + first query) / median (reset + first query), large origin.
    rebuild_over_reset: f64,
}

/// A reset of `r` to its origin's newest snapshot, as `volume reset` does by
/// default (refused while clients are connected), then the first query on
/// the URL it had: (reset, reset + query) in ms.
fn reset_once(g: &mut Servers, r: &VolRef, url: &str) -> Result<(f64, f64)> {
    let t = Instant::now();
    let done = dbclone::reset(&mut g.engine, r, &ResetTo::Newest, Clients::Refuse)?;
    let reset = ms(t.elapsed());
    anyhow::ensure!(
        done.restarted,
        "the reset of {r} did not restart its server"
    );
    first_query(url)?;
    Ok((reset, ms(t.elapsed())))
}

fn reset_bench(
    g: &mut Servers,
    args: &BenchClones,
    small: (&SnapRef, u64),
    large: (&SnapRef, u64),
) -> Result<ResetResult> {
    let a: VolRef = "dev/reset-small".parse()?;
    let b: VolRef = "dev/reset-large".parse()?;
    let c: VolRef = "dev/rebuild".parse()?;
    let url_a = clone_db(g, small.0, &a)?.url;
    let url_b = clone_db(g, large.0, &b)?.url;
    clone_db(g, large.0, &c)?;
    let (mut ra, mut rb, mut qa, mut qb, mut rebuild) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let pb = bar(args.rounds as u64, "reset rounds", false);
    for round in 0..args.rounds {
        // Rotate the order: no variant always runs first.
        for k in 0..3 {
            match (round + k) % 3 {
                0 => {
                    let (r, q) = reset_once(g, &a, &url_a)?;
                    ra.push(r);
                    qa.push(q);
                }
                1 => {
                    let (r, q) = reset_once(g, &b, &url_b)?;
                    rb.push(r);
                    qb.push(q);
                }
                _ => {
                    let t = Instant::now();
                    destroy(g, &c)?;
                    let c2 = clone_db(g, large.0, &c)?;
                    first_query(&c2.url)?;
                    rebuild.push(ms(t.elapsed()));
                }
            }
        }
        pb.inc(1);
    }
    pb.finish_and_clear();
    for r in [&a, &b, &c] {
        g.stop(r)?;
    }
    let (rs, rl) = (Spread::of(&ra), Spread::of(&rb));
    let (ql, rebuild_ms) = (Spread::of(&qb), Spread::of(&rebuild));
    Ok(ResetResult {
        small_bytes: small.1,
        large_bytes: large.1,
        rounds: args.rounds,
        reset_small_ms: rs,
        reset_large_ms: rl,
        reset_small_to_query_ms: Spread::of(&qa),
        reset_large_to_query_ms: ql,
        rebuild_ms,
        reset_small_rounds_ms: ra,
        reset_large_rounds_ms: rb,
        rebuild_rounds_ms: rebuild,
        large_over_small: rl.median / rs.median,
        rebuild_over_reset: rebuild_ms.median / ql.median,
    })
}

#[derive(Debug, Serialize)]
struct ColdResult {
    origin_bytes: u64,
    rows: u64,
    rounds: usize,
    /// `clone_db` (clone + server start with its own login), ms.
    clone_db_ms: Spread,
    /// The first query over TCP with the clone's login, ms.
    first_query_ms: Spread,
    /// Request to first answered query: `clone_db` + first query, ms.
    cold_ms: Spread,
    cold_rounds_ms: Vec<f64>,
    /// `mariadb-dump --single-transaction | mariadb` into a fresh, running server, ms.
    dump_restore_ms: Spread,
    dump_restore_rounds_ms: Vec<f64>,
    /// Median dump|restore / median cold.
    dump_over_cold: f64,
    /// Request to first answered query with a warm clone waiting, ms.
    warm_ms: Spread,
    warm_rounds_ms: Vec<f64>,
    /// Median cold / median warm.
    cold_over_warm: f64,
}

fn cold_bench(
    g: &mut Servers,
    args: &BenchClones,
    origin: &VolRef,
    snap: &SnapRef,
    rows: u64,
    size: u64,
) -> Result<ColdResult> {
    let socket = populous_ops::db::running(g.engine.home(), origin)
        .context("the origin's server runs")?
        .socket;
    let (mut calls, mut queries, mut totals, mut dumps, mut warms) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let pool = populous_ops::warm::WarmPool {
        origin: origin.clone(),
        folder: Name::new("folder", "dev")?,
        count: 1,
    };
    let pb = bar(args.rounds as u64, "cold vs dump rounds", false);
    for round in 0..args.rounds {
        let dump_first = round % 2 == 1;
        if dump_first {
            dumps.push(crate::bench::dump_run(g, &socket, 9, round)?);
        }
        let dst: VolRef = format!("dev/cold-{round}").parse()?;
        let (call, query, _) = cold(g, snap, &dst)?;
        // Kept (stopped) until the end: a destroyed btrfs subvolume is
        // dropped in the background, inside later timings.
        g.stop(&dst)?;
        calls.push(call);
        queries.push(query);
        totals.push(call + query);
        if !dump_first {
            dumps.push(crate::bench::dump_run(g, &socket, 9, round)?);
        }
        // Warm: a clone of the snapshot waits, started, as serve keeps it.
        let made = populous_ops::warm::refill(&mut g.engine, &pool, &Listen::default())?;
        anyhow::ensure!(
            made.snapshot.as_deref() == Some(snap.to_string().as_str()),
            "the warm pool holds {:?}, not {snap}",
            made.snapshot
        );
        let dst: VolRef = format!("dev/warm-claimed-{round}").parse()?;
        let (call, query, c) = cold(g, snap, &dst)?;
        anyhow::ensure!(
            c.volume.name.as_str() == dst.volume.as_str(),
            "the warm clone was not taken"
        );
        g.stop(&dst)?;
        warms.push(call + query);
        pb.inc(1);
    }
    pb.finish_and_clear();
    let (cold_ms, dump_restore_ms) = (Spread::of(&totals), Spread::of(&dumps));
    let warm_ms = Spread::of(&warms);
    Ok(ColdResult {
        origin_bytes: size,
        rows,
        rounds: args.rounds,
        clone_db_ms: Spread::of(&calls),
        first_query_ms: Spread::of(&queries),
        cold_ms,
        cold_rounds_ms: totals,
        dump_restore_ms,
        dump_restore_rounds_ms: dumps,
        dump_over_cold: dump_restore_ms.median / cold_ms.median,
        cold_over_warm: cold_ms.median / warm_ms.median,
        warm_ms,
        warm_rounds_ms: warms,
    })
}

fn secs(s: &Spread) -> String {
    format!(
        "{:.2} ({:.2}-{:.2})",
        s.median / 1000.0,
        s.min / 1000.0,
        s.max / 1000.0
    )
}

fn density_line(d: &Density) -> String {
    format!(
        "density: {} of {} clones of a {} origin started, {} answered their first query{}; RSS {} total, {} per clone; clone to first query 1st {:.2} s, median {:.2} s, last (#{}) {:.2} s",
        d.started,
        d.max_clones,
        format_size(d.origin_bytes),
        d.answered,
        d.failure.as_ref().map_or_else(String::new, |f| format!(" (stopped: {f})")),
        format_size(d.rss_total_bytes),
        format_size(d.rss_per_clone_bytes),
        d.first_ms / 1000.0,
        d.median_ms / 1000.0,
        d.answered,
        d.last_ms / 1000.0,
    )
}

fn print_tables(d: &Density, r: &ResetResult, c: &ColdResult, targets: &[Target]) {
    println!("DENSITY (clone_db + first query over TCP with its own login, one after another)");
    println!(
        "{:>8} {:>8} {:>8} {:>10} {:>10} {:>10} {:>12} {:>14} {:>12} {:>14} {:>12}",
        "ORIGIN",
        "STARTED",
        "ANSWERED",
        "1ST s",
        "MEDIAN s",
        "NTH s",
        "RSS TOTAL",
        "RSS PER CLONE",
        "MEMAVAIL AFTER",
        "BEFORE",
        "POOL USED +"
    );
    println!(
        "{:>8} {:>8} {:>8} {:>10.2} {:>10.2} {:>10.2} {:>12} {:>14} {:>12} {:>14} {:>12}",
        format_size(d.origin_bytes),
        d.started,
        d.answered,
        d.first_ms / 1000.0,
        d.median_ms / 1000.0,
        d.last_ms / 1000.0,
        format_size(d.rss_total_bytes),
        format_size(d.rss_per_clone_bytes),
        format_size(d.mem_available_after_bytes),
        format_size(d.mem_available_before_bytes),
        format_size(
            d.pool_used_after_bytes
                .saturating_sub(d.pool_used_before_bytes)
        ),
    );
    match &d.failure {
        Some(f) => println!("stopped at the first failure: {f}"),
        None => println!("reached --max-clones {} without a failure", d.max_clones),
    }
    println!();
    println!("RESET (running clone, server restarted on the same port and login)");
    println!("{:<44} {:>24} {:>24}", "", "ALONE s", "THEN FIRST QUERY s");
    println!(
        "{:<44} {:>24} {:>24}",
        format!("reset, {} origin", format_size(r.small_bytes)),
        secs(&r.reset_small_ms),
        secs(&r.reset_small_to_query_ms)
    );
    println!(
        "{:<44} {:>24} {:>24}",
        format!("reset, {} origin", format_size(r.large_bytes)),
        secs(&r.reset_large_ms),
        secs(&r.reset_large_to_query_ms)
    );
    println!(
        "{:<44} {:>24} {:>24}",
        format!(
            "destroy + clone_db + first query, {}",
            format_size(r.large_bytes)
        ),
        "-",
        secs(&r.rebuild_ms)
    );
    println!();
    println!(
        "REQUEST -> FIRST ANSWERED QUERY ({} origin, {} rows)",
        format_size(c.origin_bytes),
        c.rows
    );
    println!(
        "{:>22} {:>22} {:>22} {:>24} {:>10}",
        "CLONE_DB s", "FIRST QUERY ms", "COLD s", "DUMP|RESTORE s", "DUMP/COLD"
    );
    println!(
        "{:>22} {:>22} {:>22} {:>24} {:>9.1}x",
        secs(&c.clone_db_ms),
        c.first_query_ms.text(1),
        secs(&c.cold_ms),
        secs(&c.dump_restore_ms),
        c.dump_over_cold
    );
    println!(
        "warm (a warm clone waiting): {} s, cold/warm {:.1}x",
        secs(&c.warm_ms),
        c.cold_over_warm
    );
    println!(
        "medians (min-max) of {} interleaved rounds; dump|restore is `mariadb-dump --single-transaction | mariadb` into a fresh running server",
        c.rounds
    );
    println!();
    println!("{}", density_line(d));
    println!(
        "reset: {} origin {:.2} s vs {} origin {:.2} s ({:.2}x); destroy + clone_db + first query / reset + first query = {:.2}x",
        format_size(r.large_bytes),
        r.reset_large_ms.median / 1000.0,
        format_size(r.small_bytes),
        r.reset_small_ms.median / 1000.0,
        r.large_over_small,
        r.rebuild_over_reset
    );
    println!(
        "request to first query: warm {:.3} s, cold {:.2} s, dump|restore {:.1} s: {:.1}x the cold",
        c.warm_ms.median / 1000.0,
        c.cold_ms.median / 1000.0,
        c.dump_restore_ms.median / 1000.0,
        c.dump_over_cold
    );
    for t in targets {
        println!("{}", t.line());
    }
}

/// `populous bench clones`.
pub fn run(args: &BenchClones, json: bool) -> Result<()> {
    let large = parse_size(&args.origin_size)?;
    let small = parse_size(&args.reset_small)?;
    anyhow::ensure!(args.rounds > 0, "--rounds must be at least 1");
    anyhow::ensure!(args.max_clones > 0, "--max-clones must be at least 1");
    let (work, cleanup) = crate::bench::server_work_dir(&args.dir, "clones")?;
    let mut g = Servers::new(&work.join("home"), cleanup)?;
    // Sparse: only what is written takes room. The origins, a round's dump
    // copy each (kept until the end), and what each clone's server writes.
    let pool_size = (large + small) * 2
        + large * 2 * args.rounds as u64
        + (args.max_clones as u64 + args.rounds as u64 * 4) * (256 << 20)
        + (4 << 30);
    let pool = Name::new("pool", "benchclones")?;
    g.engine.pool_create_image(
        &pool,
        &work.join("benchclones.img"),
        pool_size,
        FsKind::Btrfs,
        None,
    )?;
    crate::bench_mask::prod_and_dev(&mut g.engine, &pool)?;
    let origin: VolRef = "prod/origin".parse()?;
    let origin_small: VolRef = "prod/small".parse()?;
    let rows = crate::bench::prepare_prod(&mut g, &origin, large)?;
    crate::bench::prepare_prod(&mut g, &origin_small, small)?;
    let snap: SnapRef = format!("{origin}@bench").parse()?;
    let snap_small: SnapRef = format!("{origin_small}@bench").parse()?;
    populous_ops::snapshot(&mut g.engine, &snap)?;
    populous_ops::snapshot(&mut g.engine, &snap_small)?;
    g.stop(&origin_small)?;

    let c = cold_bench(&mut g, args, &origin, &snap, rows, large)?;
    eprintln!(
        "cold {} ms; dump|restore {} ms",
        c.cold_ms.text(0),
        c.dump_restore_ms.text(0)
    );
    // The origin's server is needed by the dump only: the rest has the machine.
    g.stop(&origin)?;
    let r = reset_bench(&mut g, args, (&snap_small, small), (&snap, large))?;
    eprintln!(
        "reset {}: {} ms, {}: {} ms; destroy+clone_db+query {} ms",
        format_size(small),
        r.reset_small_ms.text(0),
        format_size(large),
        r.reset_large_ms.text(0),
        r.rebuild_ms.text(0)
    );
    let mut d = density(&mut g, args, &snap, &pool)?;
    d.origin_bytes = large;
    eprintln!("{}", density_line(&d));
    drop(g);

    let targets = vec![
        // Issue 17 aims for 100 running clones; here: every one asked for.
        Target::new(
            "density",
            format!(
                "clones answering at once, of --max-clones {}",
                args.max_clones
            ),
            d.answered as f64,
            false,
            args.max_clones as f64,
        ),
        Target::new(
            "reset in constant time",
            format!(
                "reset({}) / reset({})",
                format_size(large),
                format_size(small)
            ),
            r.large_over_small,
            true,
            crate::bench::CONSTANT_TIME,
        ),
        Target::new(
            "cold request to first query",
            format!(
                "clone_db + first query at {}, s (no warm pool)",
                format_size(large)
            ),
            c.cold_ms.median / 1000.0,
            true,
            COLD_S,
        ),
        Target::new(
            "warm request to first query",
            format!(
                "clone_db taking a warm clone + first query at {}, s",
                format_size(large)
            ),
            c.warm_ms.median / 1000.0,
            true,
            WARM_S,
        ),
    ];
    let missed: Vec<String> = targets
        .iter()
        .filter(|t| !t.met)
        .map(Target::line)
        .collect();
    if json {
        crate::output::json(&serde_json::json!({
            "density": d,
            "reset": r,
            "cold": c,
            "warm": c.warm_ms,
            "targets": targets,
            "missed": missed,
        }))?;
    } else {
        print_tables(&d, &r, &c, &targets);
    }
    crate::bench::verdict(&missed)
}
