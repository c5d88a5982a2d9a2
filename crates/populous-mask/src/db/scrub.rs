//! Leaving no original value behind: the server's settings while masking,
//! the steps after it, and the originals a scan looks for.
//!
//! An in-place `UPDATE` keeps the old values in the undo log, the redo log,
//! freed index pages and deleted records inside pages (measured on the
//! seed's table: 1,444 of 2,000 sampled emails in `ibdata1`, 1,731 in the
//! redo log). Each step here uses the server's own facilities and removes one
//! of those copies; docs/masking.md has the table of what each removed.
//!
//! - [`prepare`], before masking: refuse a server that writes a binary log;
//!   `innodb_immediate_scrub_data_uncompressed=ON` (freed pages and deleted
//!   records are overwritten with zeros as they are freed, undo pages
//!   included), `innodb_change_buffering=none` (no secondary-index change
//!   that holds a value waits in the system tablespace); then read every
//!   secondary index of the masked tables once, which merges the changes the
//!   source server had buffered for them (a clone of a server stopped with a
//!   fast shutdown carries its change buffer in `ibdata1`: updated-away and
//!   deleted guids were found there) while scrubbing is on.
//! - [`finish`], after masking: wait until purge has removed every old row
//!   version (the undo log's copies, scrubbed as freed); recycle the undo
//!   log's cached segments (see [`ScrubOptions::recycle_undo`]); compact the masked
//!   tables' index pages in place (`OPTIMIZE TABLE` with
//!   `innodb_defragment=ON`: records move between pages, the pages they
//!   leave are scrubbed, and off-page blobs are not rewritten) to clear the
//!   deleted records that were in the pages *before* masking (or [`compact`]
//!   beside masking, which `populous mask` does); resize the redo
//!   log (InnoDB writes a fresh file and drops the old one); and set
//!   `innodb_fast_shutdown=0` so the shutdown that follows is a slow one.
//! - [`sample_originals`] and [`still_live`]: the values a scan searches for
//!   afterwards, taken before masking and kept only in memory, minus those
//!   that masking happened to produce as someone else's masked value.

use std::future::Future;
use std::time::{Duration, Instant};

use mysql_async::prelude::Queryable;
use mysql_async::Conn;
use populous_sql::{new_runtime, off_runtime, quote_ident};
use serde::Serialize;

use super::conn::{value_bytes, Target};
use super::{MaskDbError, Result};
use crate::RuleSet;

/// What [`finish`] does beyond the defaults.
#[derive(Debug, Clone)]
pub struct ScrubOptions {
    /// Compact the masked tables' index pages (clears deleted records left
    /// from before masking). Default `true`.
    pub compact: bool,
    /// Write a fresh redo log (drops the old one, which holds the originals
    /// of every change since the last checkpoint). Default `true`; off only
    /// to measure what the other steps leave (`populous bench mask`).
    pub fresh_redo: bool,
    /// How long purge may take before the run fails.
    pub purge_timeout: Duration,
    /// Small transactions run to recycle the undo log (0 skips it).
    pub recycle_undo: u32,
}

impl Default for ScrubOptions {
    fn default() -> Self {
        ScrubOptions {
            compact: true,
            fresh_redo: true,
            purge_timeout: Duration::from_secs(600),
            recycle_undo: 3000,
        }
    }
}

/// How long each step of [`finish`] took.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ScrubReport {
    /// Waiting for purge, seconds.
    pub purge_secs: f64,
    /// Recycling the undo log, seconds.
    pub recycle_secs: f64,
    /// Compacting index pages, seconds (0 when not asked for).
    pub compact_secs: f64,
    /// Writing a fresh redo log, seconds.
    pub redo_secs: f64,
}

impl ScrubReport {
    /// Seconds of every step together.
    pub fn total_secs(&self) -> f64 {
        self.purge_secs + self.recycle_secs + self.compact_secs + self.redo_secs
    }
}

/// Runs the future `f` makes for `url`'s target on a runtime of its own:
/// the API of this module is blocking, like the rest of populous-mask's.
pub(super) fn blocking<T, F, Fut>(url: &str, f: F) -> Result<T>
where
    T: Send,
    F: FnOnce(Target) -> Fut + Send,
    Fut: Future<Output = Result<T>>,
{
    off_runtime(|| {
        let target = Target::parse(url)?;
        new_runtime()
            .map_err(MaskDbError::Runtime)?
            .block_on(f(target))
    })
}

pub(super) async fn connect(target: &Target) -> Result<Conn> {
    Conn::new(target.opts.clone())
        .await
        .map_err(target.sql("connecting"))
}

/// Checks and sets the server for a masking that leaves nothing behind.
pub fn prepare(url: &str, rules: &RuleSet) -> Result<()> {
    blocking(url, |target| async move {
        let mut c = connect(&target).await?;
        let log_bin: Option<i64> = c
            .query_first("SELECT @@log_bin")
            .await
            .map_err(target.sql("reading log_bin"))?;
        if log_bin == Some(1) {
            return Err(MaskDbError::BinlogOn {
                target: target.display.clone(),
            });
        }
        c.query_drop(
            "SET GLOBAL innodb_immediate_scrub_data_uncompressed = ON, \
                 GLOBAL innodb_change_buffering = 'none'",
        )
        .await
        .map_err(target.sql("turning on scrubbing"))?;
        for t in rules.tables() {
            let indexes: Vec<String> = c
                .exec(
                    "SELECT DISTINCT INDEX_NAME FROM information_schema.STATISTICS \
                             WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? AND INDEX_NAME <> 'PRIMARY'",
                    (&target.database, t.name()),
                )
                .await
                .map_err(target.sql("listing secondary indexes"))?;
            for index in indexes {
                // Reading every leaf merges what the change buffer holds for it.
                let sql = format!(
                    "SELECT COUNT(*) FROM {}.{} FORCE INDEX ({})",
                    quote_ident(&target.database),
                    quote_ident(t.name()),
                    quote_ident(&index)
                );
                c.query_drop(sql)
                    .await
                    .map_err(target.sql(format!("merging buffered changes of `{index}`")))?;
            }
        }
        let _ = c.disconnect().await;
        Ok(())
    })
}

/// The undo log's length: old row versions not yet purged.
async fn history_length(c: &mut Conn, target: &Target) -> Result<u64> {
    let row: Option<(String, String, Option<String>)> = c
        .query_first("SHOW ENGINE INNODB STATUS")
        .await
        .map_err(target.sql("reading the InnoDB status"))?;
    let status = row.map(|r| r.2.unwrap_or_default()).unwrap_or_default();
    Ok(status
        .lines()
        .find_map(|l| l.trim().strip_prefix("History list length "))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0))
}

async fn wait_purged(c: &mut Conn, target: &Target, timeout: Duration) -> Result<()> {
    let t0 = Instant::now();
    loop {
        let history = history_length(c, target).await?;
        if history == 0 {
            return Ok(());
        }
        if t0.elapsed() > timeout {
            return Err(MaskDbError::PurgeTimeout {
                target: target.display.clone(),
                history,
                secs: timeout.as_secs(),
            });
        }
        // Purge runs in the server's background threads; ask again shortly.
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The schema of the throw-away table that recycles the undo log.
const RECYCLE_SCHEMA: &str = "populous_scrub";

/// Undo log pages outlive purge: a small transaction's undo segment is
/// *cached* for reuse, and a reused page keeps what it held before (the
/// source server's old row versions, and whatever the page held before it
/// became an undo page). Only a freed segment is scrubbed. Many small
/// transactions, each with about 4 KiB of undo, reuse every cached segment
/// until it is too full to be cached again and is freed: then nothing of
/// the old undo is left. Measured on a clone whose source updated and
/// deleted rows just before it stopped: 50 of 50 planted guids in `ibdata1`
/// before, none after 1,500 transactions.
async fn recycle_undo(c: &mut Conn, target: &Target, transactions: u32) -> Result<()> {
    let table = format!("{}.churn", quote_ident(RECYCLE_SCHEMA));
    for sql in [
        format!("DROP DATABASE IF EXISTS {}", quote_ident(RECYCLE_SCHEMA)),
        format!("CREATE DATABASE {}", quote_ident(RECYCLE_SCHEMA)),
        format!("CREATE TABLE {table} (id INT PRIMARY KEY, v VARCHAR(6000)) ENGINE=InnoDB"),
        format!("INSERT INTO {table} VALUES (1, REPEAT('a', 4000))"),
    ] {
        c.query_drop(sql)
            .await
            .map_err(target.sql("preparing to recycle the undo log"))?;
    }
    // Thousands of commits need no flush each: the clone is masked again if
    // the server dies now, and the slow shutdown writes everything.
    let durable: Option<i64> = c
        .query_first("SELECT @@innodb_flush_log_at_trx_commit")
        .await
        .map_err(target.sql("reading innodb_flush_log_at_trx_commit"))?;
    c.query_drop("SET GLOBAL innodb_flush_log_at_trx_commit = 0")
        .await
        .map_err(target.sql("preparing to recycle the undo log"))?;
    let update = c
        .prep(format!(
            "UPDATE {table} SET v = REPEAT(?, 4000) WHERE id = 1"
        ))
        .await
        .map_err(target.sql("preparing to recycle the undo log"))?;
    for i in 0..transactions {
        // Autocommit: one transaction, one undo log, per statement.
        let fill = if i % 2 == 0 { "b" } else { "a" };
        c.exec_drop(&update, (fill,))
            .await
            .map_err(target.sql("recycling the undo log"))?;
    }
    c.query_drop(format!("DROP DATABASE {}", quote_ident(RECYCLE_SCHEMA)))
        .await
        .map_err(target.sql("dropping the undo recycling table"))?;
    c.query_drop(format!(
        "SET GLOBAL innodb_flush_log_at_trx_commit = {}",
        durable.unwrap_or(1)
    ))
    .await
    .map_err(target.sql("restoring innodb_flush_log_at_trx_commit"))?;
    Ok(())
}

/// Resizes the redo log, so that InnoDB writes a new file and deletes the old
/// one; returns the seconds it took. Alternates between two sizes so that
/// repeated runs do not grow it.
async fn fresh_redo_log(c: &mut Conn, target: &Target) -> Result<f64> {
    let t = Instant::now();
    let size: u64 = c
        .query_first("SELECT @@innodb_log_file_size")
        .await
        .map_err(target.sql("reading the redo log size"))?
        .unwrap_or(0);
    let mib = 1 << 20;
    let other = if (size / mib) % 2 == 0 {
        size + mib
    } else {
        size - mib
    };
    c.query_drop(format!("SET GLOBAL innodb_log_file_size = {other}"))
        .await
        .map_err(target.sql("writing a fresh redo log"))?;
    Ok(t.elapsed().as_secs_f64())
}

/// `OPTIMIZE TABLE` with `innodb_defragment=ON` on every masked table.
async fn compact_tables(c: &mut Conn, target: &Target, rules: &RuleSet) -> Result<()> {
    // The defragmentation thread's default throttle (40 passes of 7 pages
    // per index and second) makes this 3.3 s at 2 GiB. Unthrottled (1000
    // and 32) it took 0.2 s, but then 2 of 17 masked 2 GiB clones kept
    // 100-140 sampled originals in `ibdata1` (their scan caught it): the
    // throttle stays.
    c.query_drop("SET GLOBAL innodb_defragment = ON")
        .await
        .map_err(target.sql("turning on defragmentation"))?;
    for table in rules.tables() {
        let sql = format!(
            "OPTIMIZE TABLE {}.{}",
            quote_ident(&target.database),
            quote_ident(table.name())
        );
        c.query_drop(sql)
            .await
            .map_err(target.sql(format!("compacting `{}`", table.name())))?;
    }
    c.query_drop("SET GLOBAL innodb_defragment = OFF")
        .await
        .map_err(target.sql("turning off defragmentation"))?;
    Ok(())
}

/// Compacts the masked tables' index pages, after [`prepare`] (scrubbing
/// on), while masking runs: records move between pages and the space they
/// leave is scrubbed; no undo is written, and masking's own changes are
/// scrubbed as they are made, so the two need no order. Returns seconds.
/// Then [`finish`] without [`ScrubOptions::compact`].
pub fn compact(url: &str, rules: &RuleSet) -> Result<f64> {
    blocking(url, |target| async move {
        let mut c = connect(&target).await?;
        let t = Instant::now();
        compact_tables(&mut c, &target, rules).await?;
        let _ = c.disconnect().await;
        Ok(t.elapsed().as_secs_f64())
    })
}

/// Purge, compact, fresh redo log, slow shutdown next: see the module docs.
pub fn finish(url: &str, rules: &RuleSet, opts: &ScrubOptions) -> Result<ScrubReport> {
    blocking(url, |target| async move {
        let mut c = connect(&target).await?;
        let mut report = ScrubReport::default();
        let t = Instant::now();
        wait_purged(&mut c, &target, opts.purge_timeout).await?;
        report.purge_secs = t.elapsed().as_secs_f64();
        if opts.recycle_undo > 0 {
            let t = Instant::now();
            recycle_undo(&mut c, &target, opts.recycle_undo).await?;
            wait_purged(&mut c, &target, opts.purge_timeout).await?;
            report.recycle_secs = t.elapsed().as_secs_f64();
        }
        // The compaction writes only masked rows and zeros, so the fresh redo
        // log can be written meanwhile, on a second connection.
        let compaction = async {
            if !opts.compact {
                return Ok(0.0);
            }
            let t = Instant::now();
            compact_tables(&mut c, &target, rules).await?;
            wait_purged(&mut c, &target, opts.purge_timeout).await?;
            Ok::<_, MaskDbError>(t.elapsed().as_secs_f64())
        };
        let redo = async {
            if !opts.fresh_redo {
                return Ok(0.0);
            }
            let mut c2 = connect(&target).await?;
            let secs = fresh_redo_log(&mut c2, &target).await?;
            let _ = c2.disconnect().await;
            Ok::<_, MaskDbError>(secs)
        };
        (report.compact_secs, report.redo_secs) = tokio::try_join!(compaction, redo)?;
        c.query_drop("SET GLOBAL innodb_fast_shutdown = 0")
            .await
            .map_err(target.sql("asking for a slow shutdown"))?;
        let _ = c.disconnect().await;
        Ok(report)
    })
}

/// The shortest value worth searching for: shorter ones (a zip code) occur
/// by chance in unrelated bytes.
const MIN_NEEDLE: usize = 10;

/// Up to `n` original values of each masked column whose masked values live
/// in another space ([`crate::Transform::scannable`]: the leaks are whole
/// row and page images, so a row's email and uuid stand for its name and
/// street too), from 16 windows of each table's key range (never a full
/// scan). Kept in memory only: they are what a scan of the files looks for.
pub fn sample_originals(url: &str, rules: &RuleSet, n: usize) -> Result<Vec<Vec<u8>>> {
    blocking(url, |target| async move {
        let mut c = connect(&target).await?;
        let mut out = Vec::new();
        for t in rules.tables() {
            let cols: Vec<_> = t
                .columns()
                .iter()
                .filter(|c| c.transform().scannable())
                .collect();
            let Some(pk) = t.primary_key().first().filter(|_| !cols.is_empty()) else {
                continue;
            };
            let table = format!(
                "{}.{}",
                quote_ident(&target.database),
                quote_ident(t.name())
            );
            let range: Option<(Option<i64>, Option<i64>)> = c
                .query_first(format!(
                    "SELECT MIN({0}), MAX({0}) FROM {table}",
                    quote_ident(pk)
                ))
                .await
                .map_err(target.sql("reading the key range"))?;
            let Some((Some(lo), Some(hi))) = range else {
                continue;
            };
            let list = cols
                .iter()
                .map(|c| quote_ident(c.name()))
                .collect::<Vec<_>>()
                .join(", ");
            // 16 windows spread over the key range, each of n/16 rows.
            let windows = 16i64;
            let per = (n as i64 / windows).max(1);
            let step = ((hi - lo) / windows).max(1);
            for w in 0..windows {
                let start = lo + w * step + (w * 7919) % step.max(1);
                let rows: Vec<mysql_async::Row> = c
                    .query(format!(
                        "SELECT {list} FROM {table} WHERE {} >= {start} ORDER BY {} LIMIT {per}",
                        quote_ident(pk),
                        quote_ident(pk)
                    ))
                    .await
                    .map_err(target.sql("sampling originals"))?;
                for row in rows {
                    for v in row.unwrap() {
                        if let Some(b) = value_bytes(v).filter(|b| b.len() >= MIN_NEEDLE) {
                            out.push(b);
                        }
                    }
                }
            }
        }
        out.sort();
        out.dedup();
        let _ = c.disconnect().await;
        Ok(out)
    })
}

/// Which of `needles` are, after masking, a current value of a masked column
/// (masking produced someone's original as another row's masked value): a
/// scan must not count those as leaks.
pub fn still_live(url: &str, rules: &RuleSet, needles: &[Vec<u8>]) -> Result<Vec<Vec<u8>>> {
    if needles.is_empty() {
        return Ok(Vec::new());
    }
    blocking(url, |target| async move {
        let mut c = connect(&target).await?;
        let mut live = Vec::new();
        let mut list = String::new();
        for (i, n) in needles.iter().enumerate() {
            if i > 0 {
                list.push(',');
            }
            super::conn::push_literal(&mut list, Some(n));
        }
        for t in rules.tables() {
            // Needles come from these columns, and so would a coincidence.
            for col in t.columns().iter().filter(|c| c.transform().scannable()) {
                let rows: Vec<mysql_async::Row> = c
                    .query(format!(
                        "SELECT DISTINCT {0} FROM {1}.{2} WHERE {0} IN ({list})",
                        quote_ident(col.name()),
                        quote_ident(&target.database),
                        quote_ident(t.name())
                    ))
                    .await
                    .map_err(target.sql("checking masked values"))?;
                for row in rows {
                    live.extend(row.unwrap().into_iter().filter_map(value_bytes));
                }
            }
        }
        let _ = c.disconnect().await;
        Ok(live)
    })
}
