//! [`mask_database`]: check, drop indexes, run the workers over the shared
//! chunk queue, restore indexes, report.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use mysql_async::prelude::Queryable;
use populous_sql::{new_runtime, off_runtime};

use super::chunk::run_chunk;
use super::conn::Target;
use super::indexes::{drop_covering_indexes, restore_indexes};
use super::plan::{chunks_of, inspect, TablePlan};
use super::progress::load_progress;
use super::{MaskDbError, MaskOptions, MaskProgress, MaskReport, Result, TableReport};
use crate::{ColumnMasker, MaskKey, Masker, RuleSet};

/// One unit of work.
#[derive(Debug, Clone, Copy)]
pub(super) struct Job {
    pub(super) table: usize,
    pub(super) start: i128,
    pub(super) end: i128,
}

#[derive(Debug, Default)]
pub(super) struct TableStats {
    pub(super) first: Option<Instant>,
    pub(super) last: Option<Instant>,
    pub(super) rows: u64,
    pub(super) chunks: u64,
}

/// Shared state of one run.
pub(super) struct Run<'a> {
    pub(super) target: &'a Target,
    pub(super) plans: &'a [TablePlan],
    pub(super) maskers: Vec<Vec<&'a ColumnMasker>>,
    pub(super) jobs: Vec<Job>,
    pub(super) next: AtomicUsize,
    pub(super) stop: AtomicBool,
    pub(super) cancel: Option<Arc<AtomicBool>>,
    pub(super) opts: &'a MaskOptions,
    pub(super) ruleset_hash: &'a str,
    pub(super) key_id: &'a str,
    pub(super) stats: Vec<Mutex<TableStats>>,
    pub(super) chunks_done: AtomicU64,
    pub(super) rows_done: AtomicU64,
    pub(super) skipped: AtomicU64,
    pub(super) started: Instant,
}

/// Sets the run's stop flag if the worker thread unwinds.
pub(super) struct StopOnPanic<'a>(&'a AtomicBool);

impl Drop for StopOnPanic<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.store(true, Ordering::SeqCst);
        }
    }
}

/// Masks the database of `url` in place (see the [module docs](crate::db)).
///
/// `progress` is called after every committed chunk, from the worker
/// threads. Safe to re-run after an interruption: chunks already done under
/// the same rules are skipped.
pub fn mask_database(
    url: &str,
    rules: &RuleSet,
    key: &MaskKey,
    opts: &MaskOptions,
    progress: impl Fn(&MaskProgress) + Send + Sync + 'static,
) -> Result<MaskReport, MaskDbError> {
    off_runtime(|| mask_database_inner(url, rules, key, opts, &progress))
}

pub(super) fn mask_database_inner(
    url: &str,
    rules: &RuleSet,
    key: &MaskKey,
    opts: &MaskOptions,
    progress: &(dyn Fn(&MaskProgress) + Send + Sync),
) -> Result<MaskReport> {
    let started = Instant::now();
    if opts.chunk_rows == 0 {
        return Err(MaskDbError::Options("chunk_rows must be at least 1".into()));
    }
    let threads = opts.threads.max(1);
    let target = Target::parse(url)?;
    let ruleset_hash = rules.hash().to_string();
    let key_id = key.key_id().to_string();
    let rt = new_runtime().map_err(MaskDbError::Runtime)?;

    // Check everything before writing anything (the progress table included).
    let (plans, done) = rt.block_on(async {
        let mut conn = target.connect().await?;
        let plans = inspect(&mut conn, &target, rules, true).await?;
        let done = load_progress(
            &mut conn,
            &target,
            &plans,
            &ruleset_hash,
            &key_id,
            opts.chunk_rows,
        )
        .await?;
        let _ = conn.disconnect().await;
        Ok::<_, MaskDbError>((plans, done))
    })?;

    let masker = Masker::new(rules, key);
    let maskers: Vec<Vec<&ColumnMasker>> = plans
        .iter()
        .map(|p| {
            p.client
                .iter()
                .map(|c| masker.column(&p.name, c).expect("rule column has a masker"))
                .collect()
        })
        .collect();
    let mut jobs = Vec::new();
    let mut skipped_per_table = vec![0u64; plans.len()];
    for (i, p) in plans.iter().enumerate() {
        for (start, end) in chunks_of(p.range, opts.chunk_rows) {
            if done.contains(&(i, start)) {
                skipped_per_table[i] += 1;
            } else {
                jobs.push(Job {
                    table: i,
                    start,
                    end,
                });
            }
        }
    }
    let resumed: u64 = skipped_per_table.iter().sum();
    if opts.drop_indexes && !jobs.is_empty() {
        let mut has_jobs = vec![false; plans.len()];
        for j in &jobs {
            has_jobs[j.table] = true;
        }
        rt.block_on(async {
            let mut conn = target.connect().await?;
            drop_covering_indexes(&mut conn, &target, &plans, &has_jobs, &ruleset_hash).await?;
            let _ = conn.disconnect().await;
            Ok::<_, MaskDbError>(())
        })?;
    }

    let run = Run {
        target: &target,
        plans: &plans,
        maskers,
        jobs,
        next: AtomicUsize::new(0),
        stop: AtomicBool::new(false),
        cancel: opts.cancel.clone(),
        opts,
        ruleset_hash: &ruleset_hash,
        key_id: &key_id,
        stats: plans.iter().map(|_| Mutex::default()).collect(),
        chunks_done: AtomicU64::new(0),
        rows_done: AtomicU64::new(0),
        skipped: AtomicU64::new(resumed),
        started: Instant::now(),
    };
    if !run.jobs.is_empty() {
        let results: Vec<std::thread::Result<Result<()>>> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..threads.min(run.jobs.len()))
                .map(|_| {
                    s.spawn(|| {
                        let _guard = StopOnPanic(&run.stop);
                        let r = worker(&run, progress);
                        if r.is_err() {
                            run.stop.store(true, Ordering::SeqCst);
                        }
                        r
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join()).collect()
        });
        let mut first_err = None;
        for r in results {
            match r {
                Err(panic) => std::panic::resume_unwind(panic),
                Ok(Err(e)) => {
                    if first_err.is_none() {
                        first_err = Some(e);
                    }
                }
                Ok(Ok(())) => {}
            }
        }
        if let Some(e) = first_err {
            return Err(e);
        }
        let processed =
            run.chunks_done.load(Ordering::SeqCst) + (run.skipped.load(Ordering::SeqCst) - resumed);
        if processed < run.jobs.len() as u64 {
            return Err(MaskDbError::Cancelled {
                chunks_done: run.chunks_done.load(Ordering::SeqCst),
            });
        }
    }

    // Every chunk is done (now or earlier): re-create what this run or an
    // interrupted one dropped, whatever `drop_indexes` says now.
    let index_started = Instant::now();
    let restored_indexes = rt.block_on(async {
        let mut conn = target.connect().await?;
        let r = restore_indexes(&mut conn, &target, &ruleset_hash).await?;
        let _ = conn.disconnect().await;
        Ok::<_, MaskDbError>(r)
    })?;
    let index_secs = index_started.elapsed().as_secs_f64();
    drop(rt);

    let tables: Vec<TableReport> = plans
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let st = run.stats[i].lock().unwrap_or_else(|e| e.into_inner());
            let elapsed = match (st.first, st.last) {
                (Some(a), Some(b)) => b.duration_since(a).as_secs_f64(),
                _ => 0.0,
            };
            TableReport {
                table: p.name.clone(),
                rows: st.rows,
                chunks: st.chunks,
                skipped_chunks: skipped_per_table[i],
                columns: p.all.clone(),
                server_side_columns: p.server.iter().map(|(c, _)| c.clone()).collect(),
                elapsed_secs: elapsed,
                rows_per_sec: rate(st.rows, elapsed),
            }
        })
        .collect();
    let rows_total = tables.iter().map(|t| t.rows).sum();
    let elapsed = started.elapsed().as_secs_f64();
    Ok(MaskReport {
        database: target.database.clone(),
        tables,
        rows_total,
        elapsed_secs: elapsed,
        rows_per_sec: rate(rows_total, elapsed),
        ruleset_hash: ruleset_hash.clone(),
        key_id: key_id.clone(),
        resumed_chunks: run.skipped.load(Ordering::SeqCst),
        threads,
        chunk_rows: opts.chunk_rows,
        write: opts.write,
        restored_indexes,
        index_secs,
    })
}

pub(super) fn rate(rows: u64, secs: f64) -> f64 {
    if secs > 0.0 {
        rows as f64 / secs
    } else {
        0.0
    }
}

/// One worker: one connection, chunks from the shared queue until none are
/// left, the run stops, or it is cancelled.
pub(super) fn worker(
    run: &Run<'_>,
    progress: &(dyn Fn(&MaskProgress) + Send + Sync),
) -> Result<()> {
    let rt = new_runtime().map_err(MaskDbError::Runtime)?;
    rt.block_on(async {
        let mut conn = run.target.connect().await?;
        let mut tmp_ready: HashSet<usize> = HashSet::new();
        loop {
            if run.stop.load(Ordering::SeqCst)
                || run
                    .cancel
                    .as_ref()
                    .is_some_and(|c| c.load(Ordering::SeqCst))
            {
                break;
            }
            let i = run.next.fetch_add(1, Ordering::SeqCst);
            let Some(&job) = run.jobs.get(i) else {
                break;
            };
            let t0 = Instant::now();
            let outcome = run_chunk(&mut conn, run, job, &mut tmp_ready).await;
            let rows = match outcome {
                Ok(Some(rows)) => rows,
                Ok(None) => {
                    run.skipped.fetch_add(1, Ordering::SeqCst);
                    continue;
                }
                Err(e) => {
                    let _ = conn.query_drop("ROLLBACK").await;
                    run.stop.store(true, Ordering::SeqCst);
                    return Err(e);
                }
            };
            let t1 = Instant::now();
            {
                let mut st = run.stats[job.table]
                    .lock()
                    .unwrap_or_else(|e| e.into_inner());
                st.first = Some(st.first.map_or(t0, |f| f.min(t0)));
                st.last = Some(st.last.map_or(t1, |l| l.max(t1)));
                st.rows += rows;
                st.chunks += 1;
            }
            let chunks_done = run.chunks_done.fetch_add(1, Ordering::SeqCst) + 1;
            let rows_done = run.rows_done.fetch_add(rows, Ordering::SeqCst) + rows;
            progress(&MaskProgress {
                table: run.plans[job.table].name.clone(),
                chunks_done,
                chunks_todo: run.jobs.len() as u64,
                chunks_skipped: run.skipped.load(Ordering::SeqCst),
                rows_done,
                elapsed_secs: run.started.elapsed().as_secs_f64(),
            });
        }
        let _ = conn.disconnect().await;
        Ok(())
    })
}
