//! Filling `main` fast with deterministic rows.
//!
//! Rows are cut into *chunks* of consecutive indices; each chunk is one
//! statement (one transaction): a `LOAD DATA LOCAL INFILE` fed from memory,
//! or one multi-row prepared `INSERT`. Workers (one connection each) claim
//! chunks from a shared queue and generate the next chunk on the blocking
//! pool while the server ingests the current one. Because row `i` depends
//! only on `(seed, i)` and has id `FIRST_ID + i`, the table's content does not
//! depend on the number of workers or the order chunks finish in.
//!
//! Resume: chunks commit atomically, so after an interruption the table holds
//! whole chunks, possibly with holes between them (workers finish out of
//! order). `--resume` checks the highest existing row against the seed and
//! blob size, counts rows per chunk, and writes exactly the missing rows:
//! whole chunks where a chunk is empty, the gaps where it is partly there
//! (the tail of a shorter earlier run, or deleted rows). Nothing is deleted.
//! Rows added by the app's `/populate` (auto-increment ids) would be taken
//! for generated rows; resume is meant for tables only the generator filled.

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::StreamExt;
use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Params, Value};
use serde::Serialize;

use crate::rows::{Row, RowGenerator, DEFAULT_BLOB_SIZE, MAX_INDEX, TSV_COLUMNS};
use crate::schema::{connect_with_schema, table_extent, DbTarget, FIRST_ID};
use crate::{AppError, Result};

/// How rows reach the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum LoadMethod {
    /// `LOAD DATA LOCAL INFILE`, streamed from memory as escaped text.
    LoadData,
    /// Multi-row prepared `INSERT … VALUES (…),(…)` with binary parameters
    /// (the default: about 3× faster, see the crate docs).
    Insert,
}

impl LoadMethod {
    /// The CLI name.
    pub fn as_str(self) -> &'static str {
        match self {
            LoadMethod::LoadData => "load-data",
            LoadMethod::Insert => "insert",
        }
    }
}

impl std::fmt::Display for LoadMethod {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for LoadMethod {
    type Err = AppError;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "load-data" => Ok(LoadMethod::LoadData),
            "insert" => Ok(LoadMethod::Insert),
            other => Err(AppError::BadOptions(format!(
                "unknown method {other:?}: use load-data or insert"
            ))),
        }
    }
}

/// How much to generate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Amount {
    /// This many rows in total (ids `FIRST_ID .. FIRST_ID + n`).
    Rows(u64),
    /// About this many bytes of column data.
    Bytes(u64),
}

/// Options for [`generate`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenerateOptions {
    /// How much.
    pub amount: Amount,
    /// Parallel connections.
    pub threads: usize,
    /// Seed: same seed, same rows.
    pub seed: u64,
    /// `imprint` size in bytes.
    pub blob_size: usize,
    /// Continue a run instead of refusing a non-empty table.
    pub resume: bool,
    /// Load method.
    pub method: LoadMethod,
    /// Target bytes per statement (`None`: 16 MiB for load-data; for insert
    /// 12 MiB, at most half the server's `max_allowed_packet`).
    pub chunk_bytes: Option<usize>,
}

impl GenerateOptions {
    /// `rows` rows with the defaults: 2 threads, seed 1, 64 KiB blobs, insert.
    pub fn rows(rows: u64) -> Self {
        GenerateOptions {
            amount: Amount::Rows(rows),
            threads: 2,
            seed: 1,
            blob_size: DEFAULT_BLOB_SIZE,
            resume: false,
            method: LoadMethod::Insert,
            chunk_bytes: None,
        }
    }
}

/// Progress of a running [`generate`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Progress {
    /// Rows written in this run so far.
    pub rows_done: u64,
    /// Rows this run will write.
    pub rows_todo: u64,
    /// Bytes of column data written so far.
    pub bytes_done: u64,
    /// Time since the run started writing.
    pub elapsed: Duration,
}

/// What a [`generate`] run did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GenerateReport {
    /// Database written to.
    pub database: String,
    /// Load method.
    pub method: LoadMethod,
    /// Connections used.
    pub threads: usize,
    /// Seed.
    pub seed: u64,
    /// Blob size.
    pub blob_size: usize,
    /// Rows the table holds when done (ids `FIRST_ID .. FIRST_ID + rows_total`).
    pub rows_total: u64,
    /// Rows that were already there (resume).
    pub rows_present: u64,
    /// Rows written now.
    pub rows_written: u64,
    /// Bytes of column data written now.
    pub bytes_written: u64,
    /// Rows per statement.
    pub chunk_rows: u64,
    /// Wall time of the writing phase, seconds.
    pub elapsed_secs: f64,
    /// Rows per second.
    pub rows_per_sec: f64,
    /// MB (10^6 bytes) of column data per second.
    pub mb_per_sec: f64,
}

/// Average bytes of column data per row for `blob_size`, from a sample.
pub fn estimate_row_bytes(seed: u64, blob_size: usize) -> u64 {
    let g = RowGenerator::new(seed, 0);
    let sample: u64 = (0..64).map(|i| g.row(i).payload_len() as u64).sum();
    sample / 64 + blob_size as u64
}

/// Rows for `amount`.
pub fn rows_for(amount: Amount, seed: u64, blob_size: usize) -> u64 {
    match amount {
        Amount::Rows(n) => n,
        Amount::Bytes(b) => b.div_ceil(estimate_row_bytes(seed, blob_size).max(1)),
    }
}

const LOAD_SQL: &str = concat!(
    r"LOAD DATA LOCAL INFILE 'populous-generate' INTO TABLE main CHARACTER SET binary ",
    r"FIELDS TERMINATED BY '\t' ESCAPED BY '\\' LINES TERMINATED BY '\n' (",
);

fn load_sql() -> String {
    format!("{LOAD_SQL}{TSV_COLUMNS})")
}

/// `INSERT INTO main (…) VALUES (?,…),…` for `n` rows, with or without `id`.
pub(crate) fn insert_sql(n: usize, with_id: bool) -> String {
    let (cols, one) = if with_id {
        (TSV_COLUMNS, "(?,?,?,?,?,?,?,?,?)")
    } else {
        (
            "guid, pid, street, zip, city, email, name, imprint",
            "(?,?,?,?,?,?,?,?)",
        )
    };
    let mut sql = format!("INSERT INTO main ({cols}) VALUES ");
    for i in 0..n {
        if i > 0 {
            sql.push(',');
        }
        sql.push_str(one);
    }
    sql
}

/// Statement parameters for `rows`, matching [`insert_sql`].
pub(crate) fn row_params(rows: Vec<Row>, with_id: bool) -> Vec<Value> {
    let mut v = Vec::with_capacity(rows.len() * 9);
    for r in rows {
        if with_id {
            v.push(Value::UInt(u64::from(r.id)));
        }
        v.push(Value::Bytes(r.guid.into_bytes()));
        v.push(Value::Int(r.pid));
        v.push(Value::Bytes(r.street.into_bytes()));
        v.push(Value::Bytes(r.zip.into_bytes()));
        v.push(Value::Bytes(r.city.into_bytes()));
        v.push(Value::Bytes(r.email.into_bytes()));
        v.push(Value::Bytes(r.name.into_bytes()));
        v.push(Value::Bytes(r.imprint));
    }
    v
}

enum ChunkData {
    Tsv(Bytes),
    Params(Vec<Value>),
}

struct Chunk {
    rows: u64,
    payload: u64,
    data: ChunkData,
}

fn make_chunk(
    gen: &RowGenerator,
    method: LoadMethod,
    range: std::ops::Range<u64>,
    chunk_bytes: usize,
) -> Chunk {
    let rows = range.end - range.start;
    match method {
        LoadMethod::LoadData => {
            let mut out = Vec::with_capacity(chunk_bytes + chunk_bytes / 32 + 4096);
            let payload = gen.write_tsv(range, &mut out);
            Chunk {
                rows,
                payload,
                data: ChunkData::Tsv(Bytes::from(out)),
            }
        }
        LoadMethod::Insert => {
            let rows_v: Vec<Row> = range.map(|i| gen.row(i)).collect();
            let payload = rows_v.iter().map(|r| r.payload_len() as u64).sum();
            Chunk {
                rows,
                payload,
                data: ChunkData::Params(row_params(rows_v, true)),
            }
        }
    }
}

async fn write_chunk(conn: &mut Conn, target: &DbTarget, chunk: Chunk) -> Result<()> {
    match chunk.data {
        ChunkData::Tsv(data) => {
            const PIECE: usize = 1 << 20;
            let pieces: Vec<std::io::Result<Bytes>> = (0..data.len())
                .step_by(PIECE)
                .map(|at| Ok(data.slice(at..(at + PIECE).min(data.len()))))
                .collect();
            conn.set_infile_handler(async move { Ok(futures_util::stream::iter(pieces).boxed()) });
            conn.query_drop(load_sql())
                .await
                .map_err(target.err("LOAD DATA LOCAL INFILE"))?;
        }
        ChunkData::Params(params) => {
            let n = params.len() / 9;
            conn.exec_drop(insert_sql(n, true), Params::Positional(params))
                .await
                .map_err(target.err("multi-row INSERT"))?;
        }
    }
    let affected = conn.affected_rows();
    if affected != chunk.rows {
        return Err(AppError::BadOptions(format!(
            "a chunk wrote {affected} of {} rows ({} warnings): the table already held some of these ids; rerun with --resume",
            chunk.rows,
            conn.get_warnings()
        )));
    }
    Ok(())
}

/// The plan of one run: which row ranges to write (each one statement).
struct Plan {
    todo: Vec<std::ops::Range<u64>>,
    rows_present: u64,
}

impl Plan {
    fn rows_todo(&self) -> u64 {
        self.todo.iter().map(|r| r.end - r.start).sum()
    }
}

fn chunk_range(c: u64, chunk_rows: u64, rows_total: u64) -> std::ops::Range<u64> {
    let start = c * chunk_rows;
    start..(start + chunk_rows).min(rows_total)
}

/// The sub-ranges of `range` not in `present` (sorted row indices within it).
fn missing_ranges(range: std::ops::Range<u64>, present: &[u64]) -> Vec<std::ops::Range<u64>> {
    let mut out = Vec::new();
    let mut at = range.start;
    for &i in present {
        if i > at {
            out.push(at..i);
        }
        at = at.max(i + 1);
    }
    if at < range.end {
        out.push(at..range.end);
    }
    out
}

async fn plan(
    conn: &mut Conn,
    target: &DbTarget,
    opts: &GenerateOptions,
    rows_total: u64,
    chunk_rows: u64,
) -> Result<Plan> {
    let chunks = rows_total.div_ceil(chunk_rows);
    let (count, max_id) = table_extent(conn, target).await?;
    if count == 0 {
        return Ok(Plan {
            todo: (0..chunks)
                .map(|c| chunk_range(c, chunk_rows, rows_total))
                .collect(),
            rows_present: 0,
        });
    }
    if !opts.resume {
        return Err(AppError::TableNotEmpty {
            database: target.database.clone(),
            rows: count,
            max_id: max_id.unwrap_or(0),
        });
    }
    // The highest generated row must be what this seed and blob size make.
    let probe: Option<(u64, String, Option<u64>)> = conn
        .exec_first(
            "SELECT id, guid, LENGTH(imprint) FROM main WHERE id >= ? ORDER BY id DESC LIMIT 1",
            (FIRST_ID,),
        )
        .await
        .map_err(target.err("reading the last generated row"))?;
    if let Some((id, guid, len)) = probe {
        let index = id - FIRST_ID;
        let matches = index <= MAX_INDEX
            && RowGenerator::new(opts.seed, opts.blob_size).row(index).guid == guid
            && len == Some(opts.blob_size as u64);
        if !matches {
            return Err(AppError::ResumeMismatch {
                database: target.database.clone(),
                id,
                seed: opts.seed,
                blob_size: opts.blob_size,
            });
        }
    }
    let per_chunk: Vec<(u64, u64)> = conn
        .exec(
            "SELECT (id - ?) DIV ?, COUNT(*) FROM main WHERE id >= ? AND id < ? GROUP BY 1",
            (FIRST_ID, chunk_rows, FIRST_ID, FIRST_ID + rows_total),
        )
        .await
        .map_err(target.err("counting rows per chunk"))?;
    let have: HashMap<u64, u64> = per_chunk.into_iter().collect();
    let mut p = Plan {
        todo: Vec::new(),
        rows_present: 0,
    };
    for c in 0..chunks {
        let r = chunk_range(c, chunk_rows, rows_total);
        let n = have.get(&c).copied().unwrap_or(0);
        p.rows_present += n;
        if n == r.end - r.start {
            continue;
        }
        if n == 0 {
            p.todo.push(r);
            continue;
        }
        // Partly there (the tail of a shorter run, or rows deleted): write
        // only the missing rows.
        let ids: Vec<u64> = conn
            .exec(
                "SELECT id - ? FROM main WHERE id >= ? AND id < ? ORDER BY id",
                (FIRST_ID, FIRST_ID + r.start, FIRST_ID + r.end),
            )
            .await
            .map_err(target.err("listing rows of a partly written chunk"))?;
        p.todo.extend(missing_ranges(r, &ids));
    }
    Ok(p)
}

/// Fills `main` at `url` (database from the URL, or `populous`) with
/// deterministic rows; see the module docs. `progress` is called about five
/// times a second and once at the end.
pub async fn generate(
    url: &str,
    opts: &GenerateOptions,
    progress: impl Fn(&Progress) + Send + Sync + 'static,
) -> Result<GenerateReport> {
    if opts.threads == 0 {
        return Err(AppError::BadOptions("threads must be at least 1".into()));
    }
    let target = DbTarget::parse(url)?;
    let rows_total = rows_for(opts.amount, opts.seed, opts.blob_size);
    if rows_total > MAX_INDEX + 1 {
        return Err(AppError::TooManyRows {
            rows: rows_total,
            max: MAX_INDEX + 1,
        });
    }
    let mut conn = connect_with_schema(&target).await?;
    let max_packet: Option<u64> = conn
        .query_first("SELECT @@max_allowed_packet")
        .await
        .map_err(target.err("reading max_allowed_packet"))?;
    let max_packet = max_packet.unwrap_or(16 << 20) as usize;
    let row_bytes = estimate_row_bytes(opts.seed, opts.blob_size) as usize;
    let chunk_bytes = match (opts.chunk_bytes, opts.method) {
        (Some(b), _) => b,
        (None, LoadMethod::LoadData) => 16 << 20,
        (None, LoadMethod::Insert) => (12 << 20).min(max_packet / 2),
    };
    let max_rows = match opts.method {
        LoadMethod::LoadData => 100_000,
        LoadMethod::Insert => 2_000,
    };
    let chunk_rows = (chunk_bytes / row_bytes.max(1)).clamp(1, max_rows) as u64;
    let plan = plan(&mut conn, &target, opts, rows_total, chunk_rows).await?;
    let _ = conn.disconnect().await;

    let rows_todo = plan.rows_todo();
    tracing::info!(
        database = %target.database, rows_total, rows_todo, chunk_rows,
        method = %opts.method, threads = opts.threads, "generating rows"
    );
    let plan = Arc::new(plan);
    let next = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let rows_done = Arc::new(AtomicU64::new(0));
    let bytes_done = Arc::new(AtomicU64::new(0));
    let gen = RowGenerator::new(opts.seed, opts.blob_size);
    let started = Instant::now();
    let progress = Arc::new(progress);

    let reporter = {
        let (rows_done, bytes_done, progress) =
            (rows_done.clone(), bytes_done.clone(), progress.clone());
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(200));
            loop {
                tick.tick().await;
                progress(&Progress {
                    rows_done: rows_done.load(Ordering::Relaxed),
                    rows_todo,
                    bytes_done: bytes_done.load(Ordering::Relaxed),
                    elapsed: started.elapsed(),
                });
            }
        })
    };

    let workers = opts.threads.min(plan.todo.len().max(1));
    let mut handles = Vec::with_capacity(workers);
    for _ in 0..workers {
        let (plan, next, stop, rows_done, bytes_done, gen, target) = (
            plan.clone(),
            next.clone(),
            stop.clone(),
            rows_done.clone(),
            bytes_done.clone(),
            gen.clone(),
            target.clone(),
        );
        let method = opts.method;
        handles.push(tokio::spawn(async move {
            let r = worker(
                &plan,
                &next,
                &stop,
                &rows_done,
                &bytes_done,
                &gen,
                &target,
                method,
                chunk_bytes,
            )
            .await;
            if r.is_err() {
                stop.store(true, Ordering::Relaxed);
            }
            r
        }));
    }
    let mut first_err = None;
    for h in handles {
        let r = match h.await {
            Ok(r) => r,
            Err(e) => Err(AppError::Worker(e.to_string())),
        };
        if let Err(e) = r {
            first_err.get_or_insert(e);
        }
    }
    reporter.abort();
    let elapsed = started.elapsed();
    let rows_written = rows_done.load(Ordering::Relaxed);
    let bytes_written = bytes_done.load(Ordering::Relaxed);
    progress(&Progress {
        rows_done: rows_written,
        rows_todo,
        bytes_done: bytes_written,
        elapsed,
    });
    if let Some(e) = first_err {
        return Err(e);
    }
    let secs = elapsed.as_secs_f64().max(1e-9);
    Ok(GenerateReport {
        database: target.database.clone(),
        method: opts.method,
        threads: workers,
        seed: opts.seed,
        blob_size: opts.blob_size,
        rows_total,
        rows_present: plan.rows_present,
        rows_written,
        bytes_written,
        chunk_rows,
        elapsed_secs: elapsed.as_secs_f64(),
        rows_per_sec: rows_written as f64 / secs,
        mb_per_sec: bytes_written as f64 / secs / 1e6,
    })
}

#[allow(clippy::too_many_arguments)]
async fn worker(
    plan: &Arc<Plan>,
    next: &AtomicUsize,
    stop: &AtomicBool,
    rows_done: &AtomicU64,
    bytes_done: &AtomicU64,
    gen: &RowGenerator,
    target: &DbTarget,
    method: LoadMethod,
    chunk_bytes: usize,
) -> Result<()> {
    let claim = || -> Option<std::ops::Range<u64>> {
        if stop.load(Ordering::Relaxed) {
            return None;
        }
        plan.todo.get(next.fetch_add(1, Ordering::Relaxed)).cloned()
    };
    let spawn_gen = |range: std::ops::Range<u64>| {
        let gen = gen.clone();
        tokio::task::spawn_blocking(move || make_chunk(&gen, method, range, chunk_bytes))
    };
    let Some(first) = claim() else {
        return Ok(());
    };
    let mut conn = Conn::new(target.with_db())
        .await
        .map_err(target.err("connecting"))?;
    // Parameters as bytes: with the default utf8mb4 the server scans every
    // 64 KiB blob parameter for its character repertoire (a fifth of its CPU).
    conn.query_drop("SET NAMES binary")
        .await
        .map_err(target.err("SET NAMES binary"))?;
    let mut pending = Some(spawn_gen(first));
    let mut result = Ok(());
    while let Some(h) = pending.take() {
        let chunk = match h.await {
            Ok(c) => c,
            Err(e) => {
                result = Err(AppError::Worker(e.to_string()));
                break;
            }
        };
        // Generate the next chunk while the server takes this one.
        pending = claim().map(spawn_gen);
        let (rows, payload) = (chunk.rows, chunk.payload);
        if let Err(e) = write_chunk(&mut conn, target, chunk).await {
            result = Err(e);
            break;
        }
        rows_done.fetch_add(rows, Ordering::Relaxed);
        bytes_done.fetch_add(payload, Ordering::Relaxed);
    }
    if let Some(h) = pending {
        let _ = h.await;
    }
    let _ = conn.disconnect().await;
    result
}

/// [`generate`] on its own multi-thread runtime, for sync callers (the
/// `populous` CLI). Must not be called from inside a tokio runtime.
pub fn generate_blocking(
    url: &str,
    opts: &GenerateOptions,
    progress: impl Fn(&Progress) + Send + Sync + 'static,
) -> Result<GenerateReport> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| AppError::Worker(format!("cannot start a tokio runtime: {e}")))?;
    rt.block_on(generate(url, opts, progress))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_ranges_are_the_gaps() {
        assert_eq!(missing_ranges(0..10, &[]), vec![0..10]);
        assert_eq!(missing_ranges(0..10, &[0, 1, 5, 9]), vec![2..5, 6..9]);
        assert_eq!(missing_ranges(10..13, &[10, 11, 12]), vec![]);
    }

    #[test]
    fn methods_parse() {
        assert_eq!(
            "load-data".parse::<LoadMethod>().unwrap(),
            LoadMethod::LoadData
        );
        assert_eq!("insert".parse::<LoadMethod>().unwrap(), LoadMethod::Insert);
        assert!("copy".parse::<LoadMethod>().is_err());
    }

    #[test]
    fn insert_sql_shapes() {
        assert_eq!(
            insert_sql(2, false),
            "INSERT INTO main (guid, pid, street, zip, city, email, name, imprint) VALUES (?,?,?,?,?,?,?,?),(?,?,?,?,?,?,?,?)"
        );
        assert!(insert_sql(1, true).ends_with("VALUES (?,?,?,?,?,?,?,?,?)"));
    }

    #[test]
    fn size_to_rows() {
        let per = estimate_row_bytes(1, 65536);
        assert!(per > 65536 && per < 65536 + 300, "{per}");
        assert_eq!(rows_for(Amount::Rows(5), 1, 0), 5);
        assert_eq!(rows_for(Amount::Bytes(per * 10), 1, 65536), 10);
    }

    #[test]
    fn load_sql_escapes_are_literal() {
        let s = load_sql();
        assert!(s.contains(r"TERMINATED BY '\t' ESCAPED BY '\\'"), "{s}");
        assert!(s.ends_with("(id, guid, pid, street, zip, city, email, name, imprint)"));
    }
}
