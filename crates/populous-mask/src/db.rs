//! In-place masking of a MariaDB database (a clone), and verification of a
//! masked clone against its source.
//!
//! # How [`mask_database`] works
//!
//! 1. **Check first, write nothing on error.** Every table of the rules must
//!    exist, every rule column too, and the table's primary key must be the
//!    one integer column the rules name (composite and non-integer keys are
//!    refused as "not supported yet"; the rules themselves refuse masking
//!    the key).
//! 2. **Indexes off** ([`MaskOptions::drop_indexes`], the default). Every
//!    secondary index that contains a rule column of a table with chunks to
//!    do is recorded in [`INDEX_TABLE`] (its exact definition, the line
//!    `SHOW CREATE TABLE` prints) and committed, *then* dropped. Indexes
//!    on other columns, and indexes a foreign key needs, stay.
//! 3. **Chunks.** The key range `[MIN, MAX]` of each table is cut into chunks
//!    of [`MaskOptions::chunk_rows`] ids. `threads` workers, one connection
//!    each, take chunks from one shared queue (all tables, in order).
//! 3. **One transaction per chunk**: `SELECT pk, <masked columns> … WHERE pk
//!    BETWEEN a AND b` (only the masked columns: wide columns such as the
//!    seed's `imprint` blob never travel to the client and are not
//!    rewritten), mask client-side
//!    with one [`ColumnMasker`] per column, write back only the masked
//!    columns, apply server-side transformers
//!    ([`RuleSet::sql_expression`]: redact, null, fixed, keep_first_n) as
//!    `UPDATE … SET c = <expr> WHERE pk BETWEEN a AND b`, and record the chunk
//!    in `populous_mask_progress` — then `COMMIT`.
//! 5. **Indexes back.** When every chunk of every table is done (in this run
//!    or earlier ones), each recorded index is re-created with one `ALTER
//!    TABLE … ADD <definition>` (InnoDB builds it by sorting, far cheaper
//!    than maintaining it row by row) and then forgotten;
//!    [`MaskReport::restored_indexes`] lists them. A UNIQUE index that
//!    comes back *proves* the masked column unique. If one cannot be
//!    re-created (masked values collide, or anything else), the run fails
//!    with [`MaskDbError::IndexRestore`] naming it; the masked data is in
//!    place, the definition stays recorded, and every later run with the
//!    same rules retries it (masking nothing twice). The CLI records
//!    provenance only after a run returns `Ok`, so such a clone is never
//!    marked masked.
//! 6. **Resume.** Masking is not idempotent (masking a masked value changes
//!    it again), so chunks recorded as done for the same rule-set hash are
//!    skipped. An interrupted run (crash, [`MaskOptions::cancel`], error) is
//!    finished by running again with the same rules, key and `chunk_rows`;
//!    [`MaskReport::resumed_chunks`] says how many chunks were skipped. The
//!    progress rows stay when everything is done: they are the proof, and a
//!    second run over a finished database changes nothing. A run with another
//!    key id or another `chunk_rows` over a partly masked database is refused
//!    (both would break the chunk bookkeeping or determinism). An
//!    interrupted run leaves its indexes dropped and recorded: the resumed
//!    run re-creates them at its end (whatever its `drop_indexes` says), and
//!    drops any recorded index still present before its first chunk (a crash
//!    between recording and dropping).
//!
//! Connections use `SET NAMES binary`: values travel as raw bytes, so data
//! that is not valid UTF-8 reaches the masker unchanged (`keyed_hash`, `null`
//! and `fixed` accept any bytes; the other transformers report the column and
//! the row's key — never the value — and the chunk is rolled back). Masked
//! values are written as hex literals. NULL stays NULL (except for `null` and
//! `fixed`), and the empty string stays empty, as in [`ColumnMasker::mask`].
//! Sessions use `READ COMMITTED` so that the workers' neighbouring chunks do
//! not contend for gap locks.
//!
//! # Write strategies
//!
//! [`WriteStrategy::Values`] (the default) writes a chunk back with one
//! statement, `UPDATE t STRAIGHT_JOIN (WITH v (pk, c, …) AS (VALUES (…), …)
//! SELECT * FROM v) AS m ON m.pk = t.pk SET t.c = m.c, … WHERE t.pk BETWEEN
//! a AND b` (split in several when the SQL would exceed 4 MiB): the server
//! materialises the values with a key on `pk` and updates the rows of `t`
//! as its key range scan finds them. [`WriteStrategy::TempJoin`] inserts
//! the values into a per-connection `TEMPORARY TABLE` (InnoDB) first and
//! joins that: two more statements and a temporary table written per
//! chunk. [`WriteStrategy::Case`] writes one `UPDATE t SET c = CASE pk WHEN
//! … THEN … END, … WHERE pk IN (…)` per chunk; CASE evaluates its WHEN list
//! linearly for every row, so its cost grows with the square of the chunk.
//!
//! # Throughput
//!
//! `cargo run --release -p populous-mask --example mask_bench -- --rows
//! 1000000 --pool 4G` on the shared 2-core VM (MariaDB 10.11, server and
//! client on the same two cores, another engineer's builds running
//! alongside: ±25 % between runs, so compare rows of one run): the six PII
//! columns (name, email unique, street, zip, city, guid unique; `guid`
//! carries the seed's secondary index) of 1,000,000 seed rows with 1 KiB
//! blobs, 2 threads, 2000 ids per chunk, every approach on a fresh copy
//! whose pages were flushed first (`rows/s` includes dropping and
//! re-creating the index):
//!
//! | approach | rows/s | × naive |
//! |---|---|---|
//! | **`values`** (default): indexes dropped and re-created, one `UPDATE … JOIN (VALUES …)` per chunk | **49,700** | 6.4 |
//! | `temp-join`, indexes dropped and re-created | 47,500 | 6.1 |
//! | `temp-join`, `guid` index kept (the previous default) | 14,500 | 1.9 |
//! | `values`, `guid` index kept | 11,600 | 1.5 |
//! | naive: one prepared `UPDATE … WHERE id = ?` per row, 1 connection, commit every 2000 rows (first 50,000 rows only) | 7,800 | 1 |
//! | server ceiling in place: one server-side `UPDATE … STRAIGHT_JOIN` of the precomputed masked values, index dropped and re-created, no client | 50,000 | 6.4 |
//! | previous "ceiling": one server-side `UPDATE` with `REVERSE()` (lengths unchanged), index kept | 70,600 | 9.0 |
//! | table rebuild: `INSERT … SELECT … JOIN` the masked values into a new table, `RENAME`, re-create the index (rewrites every blob) | 107,800 | 13.8 |
//!
//! So the default masks a million rows in place at the speed of the
//! server's own single statement doing the same writes (0.99×), 3.4× the
//! previous default and 6.4× the naive approach; 100,000 rows/s is not
//! reachable in place on this VM (see below). At 200,000 rows, `values`
//! ran at 53,000–56,000 and `temp-join` at 45,000 rows/s in the same run
//! (with the index kept the old default had measured 30,000–44,000 there:
//! maintaining the random `guid` index gets worse as the table grows).
//!
//! Where the time goes (measured with per-phase timers, `perf` and InnoDB
//! status counters while building this):
//!
//! * **Rewriting rows in place is the server's cost**, and it is much
//!   higher than the REVERSE() "ceiling" suggests: REVERSE() keeps every
//!   length, so InnoDB updates the record in place; masked values change
//!   lengths, so every row is deleted and re-inserted in its page, pages
//!   are reorganised (logged as page images: in a test where every row
//!   grew, ~6 KB of redo per row instead of REVERSE()'s ~0.3 KB) and split
//!   where rows grow. The honest in-place ceiling is
//!   `ceiling-join`: one server-side `UPDATE … JOIN` of precomputed masked
//!   values, no client at all.
//! * **Maintaining the `guid` index** row by row (random UUIDs) cost 30 %
//!   at 200,000 rows and 70 % at a million (`-keep` rows); re-creating it
//!   by sort takes 1.3 s per million rows.
//! * **Per-chunk overhead**: the temporary table's INSERT and TRUNCATE
//!   cost more than the values' parsing (`values` vs `temp-join`). SELECT
//!   and client-side masking take ~15 % of a worker's time (masking is
//!   ~445k rows/s per core, `examples/throughput.rs`).
//! * **Chunk size and threads** barely matter: 2000 or 5000 ids, 2 or 3
//!   threads are within noise of each other (200,000 rows: 52,900, 51,700,
//!   55,700 rows/s); 1000 ids was slower (43,400); 1 thread ~30 % slower.
//! * **Blobs**: an `UPDATE` in InnoDB reads the *whole* clustered record,
//!   externally stored blobs included (it fetches whole rows under X
//!   locks), although it writes none of them back. With the seed's 64 KiB
//!   blobs every approach is bound by reading 64 KiB per row from disk
//!   once the table outgrows the buffer pool:
//!
//!   | 100,000 rows, 64 KiB blobs (6.4 GB), 2G buffer pool | rows/s |
//!   |---|---|
//!   | **`values`** (default) | **3,700** |
//!   | `temp-join`, index dropped and re-created | 3,500 |
//!   | `temp-join`, index kept (previous default) | 3,400 |
//!   | server ceiling: one `UPDATE … JOIN` of precomputed values | 2,800 |
//!   | naive, first 20,000 rows only (1.3 GB: *they fit in the pool*, so this is not comparable) | 5,800 |
//!
//!   That is ~240 MB/s of blob pages read, what this VM's disk gave; the
//!   index and the client hardly matter here, but more connections keep
//!   more reads in flight: in another run, `values` gave 3,600 rows/s with
//!   2 threads and 5,500 with 6 (1.5×; `populous mask --threads 6`). More
//!   threads than cores gains nothing at 1 KiB rows (3 or 4 threads were
//!   within noise of 2). A larger buffer pool on the server started for
//!   masking helps only while the table fits in it.
//!
//! * **Not done**, and why: `unique_checks=0` only matters for indexes
//!   that are kept (and could let duplicates through), `foreign_key_checks
//!   = 0` would let masking break referential integrity silently;
//!   `innodb_flush_log_at_trx_commit` and `innodb_doublewrite` are global
//!   (the latter not even dynamic) and commits are one per 2000 rows
//!   anyway; a 2 GiB redo log instead of 96 MiB (`SET GLOBAL
//!   innodb_log_file_size`, global) changed a million-row UPDATE by 3 %
//!   (two interleaved rounds each), within noise. Rebuilding the
//!   table (`ceiling-rebuild`: INSERT … SELECT into a copy without the
//!   index, RENAME, re-create the index) is the fastest at 1 KiB rows but
//!   rewrites every blob, which masking must not do (at 64 KiB it would
//!   read *and* write 64 KiB per row; not measured); it is a measurement
//!   here, not a strategy.
//!
//! # Unique columns
//!
//! With [`MaskOptions::drop_indexes`] (the default), the UNIQUE indexes on
//! masked columns are gone while the chunks run, so a masked value equal to
//! an original still waiting in a later chunk cannot stop the run; the
//! re-created index checks the *final* state, which is what matters. The
//! transformers with `unique: true` are injective (see the crate docs), so
//! that check passes whenever the originals were unique — including
//! shape-preserving permutations (zip, phone, ssn), whose masked values
//! often equal *other* rows' originals mid-run.
//!
//! With `drop_indexes: false`, MariaDB checks UNIQUE indexes row by row
//! while an UPDATE runs. Within one chunk the new values are distinct, but
//! a new value may equal an *original* still present in a row not yet
//! masked. For email (120-bit PRF tag), uuid (keyed permutation onto
//! random-looking v4 UUIDs) and keyed_hash (128/256 bits) the chance is
//! about n²/2^120, below 1e-18 even at a billion rows; for zip, phone and
//! ssn it is likely. A chunk that violates a unique index is rolled back
//! as a whole and the run stops with [`MaskDbError::UniqueViolation`]
//! naming the table, the index and the chunk.
//!
//! # Verification
//!
//! [`verify`] samples rows of the source by primary key (evenly spread
//! windows over the key range), fetches the same keys from the clone and
//! checks, for every rule column, that no original value survived where the
//! transformer would change it, and that the clone holds exactly
//! `mask(original)` (determinism: same key, same result).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Write as _;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Opts, Row, Value};
use serde::Serialize;

use crate::{ColumnMasker, MaskError, MaskKey, Masker, RuleSet};

/// Name of the progress table created in the masked database.
pub const PROGRESS_TABLE: &str = "populous_mask_progress";

/// Name of the table recording the indexes dropped for the masking.
pub const INDEX_TABLE: &str = "populous_mask_indexes";

/// Default rows (ids) per chunk.
pub const DEFAULT_CHUNK_ROWS: u64 = 2000;

/// Largest SQL text sent as one multi-row INSERT into the temporary table.
const MAX_INSERT_BYTES: usize = 4 << 20;

/// How masked values are written back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum WriteStrategy {
    /// Multi-row INSERT into a temporary table, then one `UPDATE … JOIN`.
    TempJoin,
    /// One `UPDATE … SET c = CASE pk WHEN … END … WHERE pk IN (…)` per chunk.
    Case,
    /// One `UPDATE t STRAIGHT_JOIN (VALUES …) AS m ON m.pk = t.pk SET …` per
    /// chunk: no temporary table, one round trip.
    Values,
}

impl WriteStrategy {
    /// The name used in reports and by the bench.
    pub fn as_str(self) -> &'static str {
        match self {
            WriteStrategy::TempJoin => "temp-join",
            WriteStrategy::Case => "case",
            WriteStrategy::Values => "values",
        }
    }
}

/// Options for [`mask_database`].
#[derive(Debug, Clone)]
pub struct MaskOptions {
    /// Parallel connections (at least 1).
    pub threads: usize,
    /// Ids per chunk (one transaction each). A resumed run must use the
    /// value of the interrupted one.
    pub chunk_rows: u64,
    /// How masked values are written back.
    pub write: WriteStrategy,
    /// Drop the secondary indexes that contain a masked column before the
    /// first chunk and re-create them (from their recorded definition) after
    /// the last one; see the [module docs](self). Default `true`.
    pub drop_indexes: bool,
    /// When set to `true` (for example by a Ctrl-C handler), workers stop
    /// after the chunk they are on and [`mask_database`] returns
    /// [`MaskDbError::Cancelled`]; committed chunks stay done.
    pub cancel: Option<Arc<AtomicBool>>,
}

impl Default for MaskOptions {
    fn default() -> Self {
        MaskOptions {
            threads: 2,
            chunk_rows: DEFAULT_CHUNK_ROWS,
            write: WriteStrategy::Values,
            drop_indexes: true,
            cancel: None,
        }
    }
}

/// Progress of a running [`mask_database`], reported after every chunk.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MaskProgress {
    /// Table of the chunk just finished.
    pub table: String,
    /// Chunks committed in this run so far (all tables).
    pub chunks_done: u64,
    /// Chunks this run has to do (all tables, without the skipped ones).
    pub chunks_todo: u64,
    /// Chunks skipped because an earlier run did them.
    pub chunks_skipped: u64,
    /// Rows masked in this run so far.
    pub rows_done: u64,
    /// Seconds since the workers started.
    pub elapsed_secs: f64,
}

/// What [`mask_database`] did to one table.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TableReport {
    /// Table name.
    pub table: String,
    /// Rows masked in this run.
    pub rows: u64,
    /// Chunks committed in this run.
    pub chunks: u64,
    /// Chunks skipped as already done.
    pub skipped_chunks: u64,
    /// Masked columns (client-side and server-side).
    pub columns: Vec<String>,
    /// The subset of `columns` masked with a SQL expression on the server.
    pub server_side_columns: Vec<String>,
    /// Seconds from the table's first chunk to its last.
    pub elapsed_secs: f64,
    /// Rows per second over `elapsed_secs`.
    pub rows_per_sec: f64,
}

/// What [`mask_database`] did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MaskReport {
    /// Database masked.
    pub database: String,
    /// Per table, in rule order.
    pub tables: Vec<TableReport>,
    /// Rows masked in this run.
    pub rows_total: u64,
    /// Wall time of the whole run, checks included.
    pub elapsed_secs: f64,
    /// `rows_total / elapsed_secs`.
    pub rows_per_sec: f64,
    /// [`RuleSet::hash`] of the rules applied.
    pub ruleset_hash: String,
    /// [`MaskKey::key_id`] of the key used (never the key).
    pub key_id: String,
    /// Chunks skipped because an earlier run had done them.
    pub resumed_chunks: u64,
    /// Connections used.
    pub threads: usize,
    /// Ids per chunk.
    pub chunk_rows: u64,
    /// Write strategy used.
    pub write: WriteStrategy,
    /// Indexes dropped for the masking (by this run or an interrupted one)
    /// and re-created at the end, as `table`.`index`.
    pub restored_indexes: Vec<String>,
    /// Seconds spent re-creating them (included in `elapsed_secs`).
    pub index_secs: f64,
}

/// Verification of one rule column.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ColumnVerify {
    /// Table.
    pub table: String,
    /// Column.
    pub column: String,
    /// Sampled rows found in both databases.
    pub checked: u64,
    /// Rows whose clone value still equals a non-empty original the
    /// transformer would have changed: leaked personal data.
    pub unchanged_originals: u64,
    /// Rows whose clone value is not `mask(original)` under the given key.
    pub mismatches: u64,
}

/// What [`verify`] found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VerifyReport {
    /// Per rule column, in rule order.
    pub columns: Vec<ColumnVerify>,
    /// Rows sampled from the source (all tables).
    pub rows_sampled: u64,
    /// Sampled source rows whose key is missing from the clone.
    pub rows_missing: u64,
}

impl VerifyReport {
    /// True when no original survived, every value is `mask(original)` and
    /// every sampled row was found in the clone.
    pub fn passed(&self) -> bool {
        self.rows_missing == 0
            && self
                .columns
                .iter()
                .all(|c| c.unchanged_originals == 0 && c.mismatches == 0)
    }
}

/// Everything that can go wrong while masking or verifying a database.
/// Messages never contain key material or original values.
#[derive(Debug, thiserror::Error)]
pub enum MaskDbError {
    /// The URL does not parse.
    #[error("invalid MariaDB connection url {url}: {source}")]
    BadUrl {
        /// The URL, password redacted.
        url: String,
        /// Parser error.
        #[source]
        source: mysql_async::UrlError,
    },
    /// The URL names no database.
    #[error(
        "connection url {url} names no database; add it as the path (mysql://host:port/<database>)"
    )]
    NoDatabase {
        /// The URL, password redacted.
        url: String,
    },
    /// Options out of range.
    #[error("invalid masking options: {0}")]
    Options(String),
    /// A statement failed.
    #[error("{what} on {target} failed: {source}")]
    Sql {
        /// What was being done.
        what: String,
        /// The URL, password redacted.
        target: String,
        /// Driver or server error.
        #[source]
        source: mysql_async::Error,
    },
    /// A table of the rules does not exist.
    #[error("table `{table}` named in the rules does not exist in database `{database}`; fix the rules or the connection url (nothing was changed)")]
    MissingTable {
        /// Table.
        table: String,
        /// Database looked in.
        database: String,
    },
    /// A column of the rules does not exist.
    #[error("column `{table}`.`{column}` named in the rules does not exist in database `{database}` (the table has: {existing}); fix the rules (nothing was changed)")]
    MissingColumn {
        /// Table.
        table: String,
        /// Column.
        column: String,
        /// Database looked in.
        database: String,
        /// The table's columns.
        existing: String,
    },
    /// The primary key is unusable for range chunking.
    #[error("table `{table}`: {reason} (nothing was changed)")]
    PrimaryKey {
        /// Table.
        table: String,
        /// What is wrong, and what to do.
        reason: String,
    },
    /// A value cannot be masked (wrong shape, not UTF-8, ...).
    #[error("cannot mask `{table}`.`{column}` of the row with `{pk_column}` = {pk}: {source}; fix the value or choose a transformer that accepts it (the chunk was rolled back)")]
    Mask {
        /// Table.
        table: String,
        /// Column.
        column: String,
        /// Primary-key column.
        pk_column: String,
        /// The row's key (not personal data).
        pk: String,
        /// Why (never contains the value).
        #[source]
        source: Box<MaskError>,
    },
    /// A masked value collided with a value of a UNIQUE index.
    #[error("masking `{table}` ids {chunk_start}..={chunk_end} violated unique index `{index}`: a masked value equals a value still in the table; the chunk was rolled back and nothing of it was written. Mask with drop_indexes (the default) so that the index is checked on the final data only, or give the column a transformer with a separate output space (see populous_mask::db docs)")]
    UniqueViolation {
        /// Table.
        table: String,
        /// Index name as the server reported it.
        index: String,
        /// First id of the chunk.
        chunk_start: String,
        /// Last id of the chunk.
        chunk_end: String,
    },
    /// A masked value does not fit its column.
    #[error("masking `{table}` ids {chunk_start}..={chunk_end}: {detail}; a masked value is longer than the column allows — widen the column on the clone or choose a shorter output (e.g. keyed_hash length); the chunk was rolled back")]
    TooLong {
        /// Table.
        table: String,
        /// The server's message (names the column, never the value).
        detail: String,
        /// First id of the chunk.
        chunk_start: String,
        /// Last id of the chunk.
        chunk_end: String,
    },
    /// The progress table was written with another chunk size (or the key range changed).
    #[error("`{table}`: {PROGRESS_TABLE} records chunks that do not match the current chunking ({chunk_rows} ids per chunk over ids {min}..={max}; a recorded chunk spans {recorded} ids); re-run with the chunk_rows of the interrupted run")]
    ChunkLayout {
        /// Table.
        table: String,
        /// Chunk size asked for.
        chunk_rows: u64,
        /// Current MIN(pk).
        min: String,
        /// Current MAX(pk).
        max: String,
        /// Ids spanned by a mismatching recorded chunk.
        recorded: String,
    },
    /// The database was partly masked with another key under the same rules.
    #[error("the database was partly masked under the same rules with key id {recorded}, not {given}; re-run with that key (mixing keys would break determinism)")]
    KeyMismatch {
        /// Key id in the progress table.
        recorded: String,
        /// Key id given now.
        given: String,
    },
    /// [`MaskOptions::cancel`] was set.
    #[error("masking was cancelled after {chunks_done} chunks of this run; re-run with the same rules, key and chunk_rows to finish (done chunks are skipped)")]
    Cancelled {
        /// Chunks committed in this run.
        chunks_done: u64,
    },
    /// An index dropped for the masking could not be re-created.
    #[error("masking of `{table}` is complete, but re-creating its index `{index}` failed: {reason}. The masked data is in place; the index definition ({definition}) stays recorded in {INDEX_TABLE}, and re-running the same masking re-creates it (no row is masked twice)")]
    IndexRestore {
        /// Table.
        table: String,
        /// Index name.
        index: String,
        /// The definition as `SHOW CREATE TABLE` printed it.
        definition: String,
        /// Why (for a UNIQUE index: the masked values are not unique).
        reason: String,
    },
    /// The tokio runtime could not be created.
    #[error("cannot create a tokio runtime for the MariaDB client: {0}")]
    Runtime(#[source] std::io::Error),
}

type Result<T, E = MaskDbError> = std::result::Result<T, E>;

// ---------------------------------------------------------------------------
// Connections and small helpers
// ---------------------------------------------------------------------------

/// The URL with any password replaced by `***`.
fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let end = rest.find('/').unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _)) => format!("{scheme}://{user}:***@{host}{tail}"),
            None => url.to_string(),
        },
        None => url.to_string(),
    }
}

/// A parsed URL with its database.
#[derive(Debug, Clone)]
struct Target {
    opts: Opts,
    database: String,
    display: String,
}

impl Target {
    fn parse(url: &str) -> Result<Target> {
        let display = redact(url);
        let opts = Opts::from_url(url).map_err(|source| MaskDbError::BadUrl {
            url: display.clone(),
            source,
        })?;
        let database = match opts.db_name() {
            Some(d) if !d.is_empty() => d.to_string(),
            _ => return Err(MaskDbError::NoDatabase { url: display }),
        };
        Ok(Target {
            opts,
            database,
            display,
        })
    }

    fn sql(&self, what: impl Into<String>) -> impl FnOnce(mysql_async::Error) -> MaskDbError {
        let what = what.into();
        let target = self.display.clone();
        move |source| MaskDbError::Sql {
            what,
            target,
            source,
        }
    }

    /// A connection with `SET NAMES binary` and READ COMMITTED.
    async fn connect(&self) -> Result<Conn> {
        let mut conn = Conn::new(self.opts.clone())
            .await
            .map_err(self.sql("connecting"))?;
        conn.query_drop("SET NAMES binary, SESSION tx_isolation = 'READ-COMMITTED'")
            .await
            .map_err(self.sql("setting up the session"))?;
        Ok(conn)
    }
}

fn new_runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(MaskDbError::Runtime)
}

/// Runs `f` on a scoped thread when called from inside a tokio runtime
/// (whose thread must not block on another runtime), else right here.
fn off_runtime<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    if tokio::runtime::Handle::try_current().is_ok() {
        std::thread::scope(|s| {
            s.spawn(f)
                .join()
                .unwrap_or_else(|p| std::panic::resume_unwind(p))
        })
    } else {
        f()
    }
}

fn block_on<F: Future>(rt: &tokio::runtime::Runtime, fut: F) -> F::Output {
    rt.block_on(fut)
}

fn quote_ident(name: &str) -> String {
    format!("`{}`", name.replace('`', "``"))
}

/// A value as a SQL literal: `NULL` or `X'…'`.
fn push_literal(sql: &mut String, v: Option<&[u8]>) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    match v {
        None => sql.push_str("NULL"),
        Some(b) => {
            sql.reserve(b.len() * 2 + 3);
            sql.push_str("X'");
            for &c in b {
                sql.push(HEX[usize::from(c >> 4)] as char);
                sql.push(HEX[usize::from(c & 15)] as char);
            }
            sql.push('\'');
        }
    }
}

fn value_int(v: &Value) -> Option<i128> {
    match v {
        Value::Int(i) => Some(i128::from(*i)),
        Value::UInt(u) => Some(i128::from(*u)),
        Value::Bytes(b) => std::str::from_utf8(b).ok()?.trim().parse().ok(),
        _ => None,
    }
}

fn value_bytes(v: Value) -> Option<Vec<u8>> {
    match v {
        Value::NULL => None,
        Value::Bytes(b) => Some(b),
        // Text protocol returns bytes; anything else is rendered as SQL would.
        other => Some(other.as_sql(true).into_bytes()),
    }
}

fn value_string(v: Value) -> String {
    String::from_utf8_lossy(&value_bytes(v).unwrap_or_default()).into_owned()
}

// ---------------------------------------------------------------------------
// Checking tables against the rules
// ---------------------------------------------------------------------------

/// A table as the rules and the database agree on it.
#[derive(Debug, Clone)]
struct TablePlan {
    name: String,
    pk: String,
    /// Client-side columns (rule names), in rule order.
    client: Vec<String>,
    /// Server-side columns with their SQL expression.
    server: Vec<(String, String)>,
    /// All rule columns, in rule order.
    all: Vec<String>,
    /// MIN and MAX of the key (None for an empty table).
    range: Option<(i128, i128)>,
}

const INT_TYPES: &[&str] = &[
    "tinyint",
    "smallint",
    "mediumint",
    "int",
    "integer",
    "bigint",
];

async fn inspect(
    conn: &mut Conn,
    target: &Target,
    rules: &RuleSet,
    server_side: bool,
) -> Result<Vec<TablePlan>> {
    let mut plans = Vec::new();
    for t in rules.tables() {
        let name = t.name().to_string();
        let columns: Vec<(String, String)> = conn
            .exec::<(Value, Value), _, _>(
                "SELECT COLUMN_NAME, DATA_TYPE FROM information_schema.COLUMNS \
                 WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION",
                (name.as_bytes(),),
            )
            .await
            .map_err(target.sql(format!("reading the columns of `{name}`")))?
            .into_iter()
            .map(|(c, d)| (value_string(c), value_string(d).to_ascii_lowercase()))
            .collect();
        if columns.is_empty() {
            return Err(MaskDbError::MissingTable {
                table: name,
                database: target.database.clone(),
            });
        }
        let find = |c: &str| columns.iter().find(|(n, _)| n.eq_ignore_ascii_case(c));
        for c in t.columns() {
            if find(c.name()).is_none() {
                return Err(MaskDbError::MissingColumn {
                    table: name,
                    column: c.name().to_string(),
                    database: target.database.clone(),
                    existing: columns
                        .iter()
                        .map(|(n, _)| n.as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                });
            }
        }
        let pk_cols: Vec<String> = conn
            .exec::<Value, _, _>(
                "SELECT COLUMN_NAME FROM information_schema.STATISTICS \
                 WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? AND INDEX_NAME = 'PRIMARY' \
                 ORDER BY SEQ_IN_INDEX",
                (name.as_bytes(),),
            )
            .await
            .map_err(target.sql(format!("reading the primary key of `{name}`")))?
            .into_iter()
            .map(value_string)
            .collect();
        let pk_err = |reason: String| MaskDbError::PrimaryKey {
            table: name.clone(),
            reason,
        };
        let rule_pk = t.primary_key();
        if rule_pk.len() != 1 {
            return Err(pk_err(format!(
                "the rules name a composite primary key ({}); masking tables with a composite key is not supported yet",
                rule_pk.join(", ")
            )));
        }
        match pk_cols.as_slice() {
            [] => {
                return Err(pk_err(
                    "the table has no primary key; masking needs a single integer primary key (tables without one are not supported yet)".to_string(),
                ))
            }
            [one] => {
                if !one.eq_ignore_ascii_case(&rule_pk[0]) {
                    return Err(pk_err(format!(
                        "the rules say the primary key is `{}` but the table's is `{one}`; fix tables.{name}.primary_key",
                        rule_pk[0]
                    )));
                }
            }
            many => {
                return Err(pk_err(format!(
                    "the table has a composite primary key ({}); masking tables with a composite key is not supported yet",
                    many.join(", ")
                )))
            }
        }
        let pk = pk_cols[0].clone();
        let pk_type = find(&pk).map(|(_, d)| d.as_str()).unwrap_or("");
        if !INT_TYPES.contains(&pk_type) {
            return Err(pk_err(format!(
                "primary key `{pk}` is {pk_type}; non-integer primary keys are not supported yet (masking needs a single integer key)"
            )));
        }
        let mut client = Vec::new();
        let mut server = Vec::new();
        for c in t.columns() {
            match rules.sql_expression(t.name(), c.name()) {
                Some(expr) if server_side => server.push((c.name().to_string(), expr)),
                _ => client.push(c.name().to_string()),
            }
        }
        let qt = quote_ident(&name);
        let qpk = quote_ident(&pk);
        let row: Option<(Value, Value)> = conn
            .query_first(format!("SELECT MIN({qpk}), MAX({qpk}) FROM {qt}"))
            .await
            .map_err(target.sql(format!("reading the key range of `{name}`")))?;
        let range = match row {
            Some((lo, hi)) => match (value_int(&lo), value_int(&hi)) {
                (Some(lo), Some(hi)) => Some((lo, hi)),
                _ => None,
            },
            None => None,
        };
        plans.push(TablePlan {
            all: t.columns().iter().map(|c| c.name().to_string()).collect(),
            name,
            pk,
            client,
            server,
            range,
        });
    }
    Ok(plans)
}

/// The chunks `[start, end]` covering `range`.
fn chunks_of(range: Option<(i128, i128)>, chunk_rows: u64) -> Vec<(i128, i128)> {
    let Some((lo, hi)) = range else {
        return Vec::new();
    };
    let step = i128::from(chunk_rows);
    let mut out = Vec::new();
    let mut a = lo;
    while a <= hi {
        let b = (a + step - 1).min(hi);
        out.push((a, b));
        a = b + 1;
    }
    out
}

// ---------------------------------------------------------------------------
// mask_database
// ---------------------------------------------------------------------------

/// One unit of work.
#[derive(Debug, Clone, Copy)]
struct Job {
    table: usize,
    start: i128,
    end: i128,
}

#[derive(Debug, Default)]
struct TableStats {
    first: Option<Instant>,
    last: Option<Instant>,
    rows: u64,
    chunks: u64,
}

/// Shared state of one run.
struct Run<'a> {
    target: &'a Target,
    plans: &'a [TablePlan],
    maskers: Vec<Vec<&'a ColumnMasker>>,
    jobs: Vec<Job>,
    next: AtomicUsize,
    stop: AtomicBool,
    cancel: Option<Arc<AtomicBool>>,
    opts: &'a MaskOptions,
    ruleset_hash: &'a str,
    key_id: &'a str,
    stats: Vec<Mutex<TableStats>>,
    chunks_done: AtomicU64,
    rows_done: AtomicU64,
    skipped: AtomicU64,
    started: Instant,
}

/// Sets the run's stop flag if the worker thread unwinds.
struct StopOnPanic<'a>(&'a AtomicBool);

impl Drop for StopOnPanic<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.store(true, Ordering::SeqCst);
        }
    }
}

/// Masks the database of `url` in place (see the [module docs](self)).
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

fn mask_database_inner(
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
    let rt = new_runtime()?;

    // Check everything before writing anything (the progress table included).
    let (plans, done) = block_on(&rt, async {
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
        block_on(&rt, async {
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
    let restored_indexes = block_on(&rt, async {
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

fn rate(rows: u64, secs: f64) -> f64 {
    if secs > 0.0 {
        rows as f64 / secs
    } else {
        0.0
    }
}

/// Creates the progress table if needed and returns the chunks already done
/// under `ruleset_hash` as (table index, chunk start), after checking they
/// fit the current chunking and key.
async fn load_progress(
    conn: &mut Conn,
    target: &Target,
    plans: &[TablePlan],
    ruleset_hash: &str,
    key_id: &str,
    chunk_rows: u64,
) -> Result<HashSet<(usize, i128)>> {
    conn.query_drop(format!(
        "CREATE TABLE IF NOT EXISTS {PROGRESS_TABLE} (\
         ruleset_hash VARCHAR(100) CHARACTER SET ascii NOT NULL, \
         table_name VARCHAR(64) CHARACTER SET utf8mb4 NOT NULL, \
         chunk_start DECIMAL(20,0) NOT NULL, \
         chunk_end DECIMAL(20,0) NOT NULL, \
         key_id VARCHAR(64) CHARACTER SET ascii NOT NULL, \
         rows_masked BIGINT UNSIGNED NOT NULL, \
         done_at DATETIME(6) NOT NULL, \
         PRIMARY KEY (ruleset_hash, table_name, chunk_start)) ENGINE=InnoDB"
    ))
    .await
    .map_err(target.sql(format!("creating {PROGRESS_TABLE}")))?;
    conn.query_drop(format!(
        "CREATE TABLE IF NOT EXISTS {INDEX_TABLE} (\
         ruleset_hash VARCHAR(100) CHARACTER SET ascii NOT NULL, \
         table_name VARCHAR(64) CHARACTER SET utf8mb4 NOT NULL, \
         index_name VARCHAR(64) CHARACTER SET utf8mb4 NOT NULL, \
         definition TEXT CHARACTER SET utf8mb4 NOT NULL, \
         dropped_at DATETIME(6) NOT NULL, \
         PRIMARY KEY (ruleset_hash, table_name, index_name)) ENGINE=InnoDB"
    ))
    .await
    .map_err(target.sql(format!("creating {INDEX_TABLE}")))?;
    let rows: Vec<(Value, Value, Value, Value)> = conn
        .exec(
            format!(
                "SELECT table_name, chunk_start, chunk_end, key_id FROM {PROGRESS_TABLE} \
                 WHERE ruleset_hash = ?"
            ),
            (ruleset_hash.as_bytes(),),
        )
        .await
        .map_err(target.sql(format!("reading {PROGRESS_TABLE}")))?;
    let mut planned: HashMap<&str, (usize, BTreeMap<i128, i128>)> = HashMap::new();
    for (i, p) in plans.iter().enumerate() {
        planned.insert(
            p.name.as_str(),
            (i, chunks_of(p.range, chunk_rows).into_iter().collect()),
        );
    }
    let mut done = HashSet::new();
    for (t, a, b, k) in rows {
        let t = value_string(t);
        let k = value_string(k);
        if k != key_id {
            return Err(MaskDbError::KeyMismatch {
                recorded: k,
                given: key_id.to_string(),
            });
        }
        let (Some(a), Some(b)) = (value_int(&a), value_int(&b)) else {
            continue;
        };
        let Some((i, chunks)) = planned.get(t.as_str()) else {
            continue;
        };
        if chunks.get(&a) != Some(&b) {
            let p = &plans[*i];
            let (min, max) = p
                .range
                .map(|(l, h)| (l.to_string(), h.to_string()))
                .unwrap_or(("-".into(), "-".into()));
            return Err(MaskDbError::ChunkLayout {
                table: p.name.clone(),
                chunk_rows,
                min,
                max,
                recorded: (b - a + 1).to_string(),
            });
        }
        done.insert((*i, a));
    }
    Ok(done)
}

// ---------------------------------------------------------------------------
// Secondary indexes on masked columns
// ---------------------------------------------------------------------------

/// A secondary index of `table`: name, definition as `SHOW CREATE TABLE`
/// prints it (`UNIQUE KEY \`g\` (\`guid\`)`), and its columns.
#[derive(Debug, Clone, PartialEq, Eq)]
struct SecondaryIndex {
    name: String,
    definition: String,
    columns: Vec<String>,
}

/// The index name of a `SHOW CREATE TABLE` line, if it defines a secondary
/// index (`KEY`, `UNIQUE KEY`, `FULLTEXT KEY`, `SPATIAL KEY`), and the line
/// without its indentation and trailing comma.
fn parse_index_line(line: &str) -> Option<(String, String)> {
    let def = line.trim().trim_end_matches(',');
    let rest = ["KEY `", "UNIQUE KEY `", "FULLTEXT KEY `", "SPATIAL KEY `"]
        .iter()
        .find_map(|p| def.strip_prefix(p))?;
    let mut name = String::new();
    let mut chars = rest.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '`' {
            if chars.peek() == Some(&'`') {
                chars.next();
            } else {
                return Some((name, def.to_string()));
            }
        }
        name.push(c);
    }
    None
}

async fn secondary_indexes(
    conn: &mut Conn,
    target: &Target,
    table: &str,
) -> Result<Vec<SecondaryIndex>> {
    let what = || format!("reading the indexes of `{table}`");
    let create: Option<(Value, Value)> = conn
        .query_first(format!("SHOW CREATE TABLE {}", quote_ident(table)))
        .await
        .map_err(target.sql(what()))?;
    let create = create.map(|(_, c)| value_string(c)).unwrap_or_default();
    let columns: Vec<(Value, Value)> = conn
        .exec(
            "SELECT INDEX_NAME, COLUMN_NAME FROM information_schema.STATISTICS \
             WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? ORDER BY INDEX_NAME, SEQ_IN_INDEX",
            (table.as_bytes(),),
        )
        .await
        .map_err(target.sql(what()))?;
    let columns: Vec<(String, String)> = columns
        .into_iter()
        .map(|(i, c)| (value_string(i), value_string(c)))
        .collect();
    Ok(create
        .lines()
        .filter_map(parse_index_line)
        .map(|(name, definition)| SecondaryIndex {
            columns: columns
                .iter()
                .filter(|(i, _)| *i == name)
                .map(|(_, c)| c.clone())
                .collect(),
            name,
            definition,
        })
        .collect())
}

/// (table, index, definition) recorded as dropped under `ruleset_hash`.
async fn recorded_indexes(
    conn: &mut Conn,
    target: &Target,
    ruleset_hash: &str,
) -> Result<Vec<(String, String, String)>> {
    let rows: Vec<(Value, Value, Value)> = conn
        .exec(
            format!(
                "SELECT table_name, index_name, definition FROM {INDEX_TABLE} \
                 WHERE ruleset_hash = ? ORDER BY dropped_at, table_name, index_name"
            ),
            (ruleset_hash.as_bytes(),),
        )
        .await
        .map_err(target.sql(format!("reading {INDEX_TABLE}")))?;
    Ok(rows
        .into_iter()
        .map(|(t, i, d)| (value_string(t), value_string(i), value_string(d)))
        .collect())
}

async fn forget_index(
    conn: &mut Conn,
    target: &Target,
    ruleset_hash: &str,
    table: &str,
    index: &str,
) -> Result<()> {
    conn.exec_drop(
        format!(
            "DELETE FROM {INDEX_TABLE} WHERE ruleset_hash = ? AND table_name = ? AND index_name = ?"
        ),
        (ruleset_hash.as_bytes(), table.as_bytes(), index.as_bytes()),
    )
    .await
    .map_err(target.sql(format!("updating {INDEX_TABLE}")))
}

/// Drops the secondary indexes that contain a rule column of a table with
/// chunks to do, each recorded (committed) in [`INDEX_TABLE`] before it is
/// dropped, so that an interrupted run's resume re-creates it. Indexes a
/// foreign key needs are kept.
async fn drop_covering_indexes(
    conn: &mut Conn,
    target: &Target,
    plans: &[TablePlan],
    has_jobs: &[bool],
    ruleset_hash: &str,
) -> Result<()> {
    let recorded = recorded_indexes(conn, target, ruleset_hash).await?;
    for (plan, _) in plans.iter().zip(has_jobs).filter(|(_, j)| **j) {
        for ix in secondary_indexes(conn, target, &plan.name).await? {
            let covers = ix
                .columns
                .iter()
                .any(|c| plan.all.iter().any(|m| m.eq_ignore_ascii_case(c)));
            let is_recorded = recorded
                .iter()
                .any(|(t, i, _)| *t == plan.name && *i == ix.name);
            if !covers && !is_recorded {
                continue;
            }
            if !is_recorded {
                conn.exec_drop(
                    format!(
                        "INSERT INTO {INDEX_TABLE} \
                         (ruleset_hash, table_name, index_name, definition, dropped_at) \
                         VALUES (?, ?, ?, ?, NOW(6))"
                    ),
                    (
                        ruleset_hash.as_bytes(),
                        plan.name.as_bytes(),
                        ix.name.as_bytes(),
                        ix.definition.as_bytes(),
                    ),
                )
                .await
                .map_err(target.sql(format!("recording index `{}` in {INDEX_TABLE}", ix.name)))?;
            }
            let r = conn
                .query_drop(format!(
                    "ALTER TABLE {} DROP INDEX {}",
                    quote_ident(&plan.name),
                    quote_ident(&ix.name)
                ))
                .await;
            match r {
                Ok(()) => {}
                // "Cannot drop index needed in a foreign key constraint".
                Err(mysql_async::Error::Server(e)) if e.code == 1553 => {
                    forget_index(conn, target, ruleset_hash, &plan.name, &ix.name).await?;
                }
                Err(e) => {
                    return Err(target
                        .sql(format!("dropping index `{}` of `{}`", ix.name, plan.name))(
                        e
                    ))
                }
            }
        }
    }
    Ok(())
}

/// Re-creates every index recorded as dropped under `ruleset_hash` (one
/// `ALTER TABLE … ADD` each, so a failure names its index and the others
/// are still re-created first) and forgets it. Returns `table`.`index` of
/// each.
async fn restore_indexes(
    conn: &mut Conn,
    target: &Target,
    ruleset_hash: &str,
) -> Result<Vec<String>> {
    let mut restored = Vec::new();
    let mut failed = None;
    for (table, index, definition) in recorded_indexes(conn, target, ruleset_hash).await? {
        let present = secondary_indexes(conn, target, &table)
            .await?
            .iter()
            .any(|ix| ix.name == index);
        if !present {
            let r = conn
                .query_drop(format!(
                    "ALTER TABLE {} ADD {definition}",
                    quote_ident(&table)
                ))
                .await;
            if let Err(e) = r {
                let reason = match &e {
                    mysql_async::Error::Server(se) if se.code == 1062 || se.code == 1586 => {
                        "its masked values are not unique (the server found a duplicate entry)"
                            .to_string()
                    }
                    other => other.to_string(),
                };
                if failed.is_none() {
                    failed = Some(MaskDbError::IndexRestore {
                        table,
                        index,
                        definition,
                        reason,
                    });
                }
                continue;
            }
        }
        forget_index(conn, target, ruleset_hash, &table, &index).await?;
        restored.push(format!("`{table}`.`{index}`"));
    }
    match failed {
        Some(e) => Err(e),
        None => Ok(restored),
    }
}

fn tmp_name(table: usize) -> String {
    format!("`populous_mask_tmp_{table}`")
}

/// One worker: one connection, chunks from the shared queue until none are
/// left, the run stops, or it is cancelled.
fn worker(run: &Run<'_>, progress: &(dyn Fn(&MaskProgress) + Send + Sync)) -> Result<()> {
    let rt = new_runtime()?;
    block_on(&rt, async {
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

/// Masks one chunk in one transaction. `Ok(None)`: another run recorded the
/// chunk meanwhile (rolled back, nothing written).
async fn run_chunk(
    conn: &mut Conn,
    run: &Run<'_>,
    job: Job,
    tmp_ready: &mut HashSet<usize>,
) -> Result<Option<u64>> {
    let plan = &run.plans[job.table];
    let target = run.target;
    let cms = &run.maskers[job.table];
    let qt = quote_ident(&plan.name);
    let qpk = quote_ident(&plan.pk);
    let (a, b) = (job.start, job.end);
    let use_tmp = run.opts.write == WriteStrategy::TempJoin && !plan.client.is_empty();
    let tmp = tmp_name(job.table);
    let ctx = |what: &str| format!("{what} (`{}` ids {a}..={b})", plan.name);

    if use_tmp {
        if tmp_ready.insert(job.table) {
            let cols: Vec<String> = plan.client.iter().map(|c| quote_ident(c)).collect();
            conn.query_drop(format!(
                "CREATE TEMPORARY TABLE IF NOT EXISTS {tmp} (PRIMARY KEY ({qpk})) \
                 SELECT {qpk}, {} FROM {qt} LIMIT 0",
                cols.join(", ")
            ))
            .await
            .map_err(target.sql(ctx("creating the temporary table")))?;
        }
        conn.query_drop(format!("TRUNCATE TABLE {tmp}"))
            .await
            .map_err(target.sql(ctx("emptying the temporary table")))?;
    }
    conn.query_drop("START TRANSACTION")
        .await
        .map_err(target.sql(ctx("starting a transaction")))?;

    let mut rows = 0u64;
    if !plan.client.is_empty() {
        let cols: Vec<String> = plan.client.iter().map(|c| quote_ident(c)).collect();
        let fetched: Vec<Row> = conn
            .query(format!(
                "SELECT {qpk}, {} FROM {qt} WHERE {qpk} BETWEEN {a} AND {b} ORDER BY {qpk}",
                cols.join(", ")
            ))
            .await
            .map_err(target.sql(ctx("reading")))?;
        rows = fetched.len() as u64;
        // (pk text, masked values)
        let mut masked: Vec<(String, Vec<Option<String>>)> = Vec::with_capacity(fetched.len());
        for row in fetched {
            let mut vals = row.unwrap().into_iter();
            let pk = vals.next().map(value_string).unwrap_or_default();
            let mut out = Vec::with_capacity(cms.len());
            for (ci, v) in vals.enumerate() {
                let v = value_bytes(v);
                let m = cms[ci]
                    .mask_bytes(v.as_deref())
                    .map_err(|source| MaskDbError::Mask {
                        table: plan.name.clone(),
                        column: plan.client[ci].clone(),
                        pk_column: plan.pk.clone(),
                        pk: pk.clone(),
                        source: Box::new(source),
                    })?;
                out.push(m);
            }
            masked.push((pk, out));
        }
        if !masked.is_empty() {
            let r = match run.opts.write {
                WriteStrategy::TempJoin => write_temp_join(conn, plan, &tmp, &masked, a, b).await,
                WriteStrategy::Case => write_case(conn, plan, &masked).await,
                WriteStrategy::Values => write_values(conn, plan, &masked).await,
            };
            r.map_err(|e| write_error(e, plan, target, a, b))?;
        }
    }
    if !plan.server.is_empty() {
        let sets: Vec<String> = plan
            .server
            .iter()
            .map(|(c, expr)| format!("{} = {expr}", quote_ident(c)))
            .collect();
        let r = conn
            .query_iter(format!(
                "UPDATE {qt} SET {} WHERE {qpk} BETWEEN {a} AND {b}",
                sets.join(", ")
            ))
            .await;
        let affected_rows = match r {
            Ok(r) => r.affected_rows(),
            Err(e) => return Err(write_error(e, plan, target, a, b)),
        };
        if plan.client.is_empty() {
            // Matched rows are not reported; count them for the report.
            let n: Option<u64> = conn
                .query_first(format!(
                    "SELECT COUNT(*) FROM {qt} WHERE {qpk} BETWEEN {a} AND {b}"
                ))
                .await
                .map_err(target.sql(ctx("counting")))?;
            rows = n.unwrap_or(affected_rows);
        }
    }
    let ins = conn
        .exec_drop(
            format!(
                "INSERT INTO {PROGRESS_TABLE} \
                 (ruleset_hash, table_name, chunk_start, chunk_end, key_id, rows_masked, done_at) \
                 VALUES (?, ?, {a}, {b}, ?, ?, NOW(6))"
            ),
            (
                run.ruleset_hash.as_bytes(),
                plan.name.as_bytes(),
                run.key_id.as_bytes(),
                rows,
            ),
        )
        .await;
    match ins {
        Ok(()) => {}
        Err(mysql_async::Error::Server(e)) if e.code == 1062 => {
            conn.query_drop("ROLLBACK")
                .await
                .map_err(target.sql(ctx("rolling back")))?;
            return Ok(None);
        }
        Err(e) => return Err(target.sql(ctx("recording progress"))(e)),
    }
    conn.query_drop("COMMIT")
        .await
        .map_err(target.sql(ctx("committing")))?;
    Ok(Some(rows))
}

fn write_error(
    e: mysql_async::Error,
    plan: &TablePlan,
    target: &Target,
    a: i128,
    b: i128,
) -> MaskDbError {
    if let mysql_async::Error::Server(se) = &e {
        if se.code == 1062 || se.code == 1586 {
            // "Duplicate entry '<value>' for key '<index>'": keep only the index.
            let index = se
                .message
                .rsplit_once("for key '")
                .map(|(_, k)| k.trim_end_matches('\'').to_string())
                .unwrap_or_else(|| "?".to_string());
            return MaskDbError::UniqueViolation {
                table: plan.name.clone(),
                index,
                chunk_start: a.to_string(),
                chunk_end: b.to_string(),
            };
        }
        if se.code == 1406 {
            return MaskDbError::TooLong {
                table: plan.name.clone(),
                detail: se.message.clone(),
                chunk_start: a.to_string(),
                chunk_end: b.to_string(),
            };
        }
    }
    target.sql(format!(
        "writing masked values (`{}` ids {a}..={b})",
        plan.name
    ))(e)
}

async fn write_temp_join(
    conn: &mut Conn,
    plan: &TablePlan,
    tmp: &str,
    masked: &[(String, Vec<Option<String>>)],
    a: i128,
    b: i128,
) -> std::result::Result<(), mysql_async::Error> {
    let qpk = quote_ident(&plan.pk);
    let cols: Vec<String> = plan.client.iter().map(|c| quote_ident(c)).collect();
    let head = format!("INSERT INTO {tmp} ({qpk}, {}) VALUES ", cols.join(", "));
    let mut sql = String::with_capacity(1 << 16);
    sql.push_str(&head);
    let mut first = true;
    for (pk, vals) in masked {
        if !first {
            sql.push(',');
        }
        first = false;
        push_row(&mut sql, pk, vals);
        if sql.len() >= MAX_INSERT_BYTES {
            conn.query_drop(std::mem::take(&mut sql)).await?;
            sql.push_str(&head);
            first = true;
        }
    }
    if !first {
        conn.query_drop(sql).await?;
    }
    let sets: Vec<String> = cols.iter().map(|c| format!("t.{c} = m.{c}")).collect();
    conn.query_drop(format!(
        "UPDATE {} AS t STRAIGHT_JOIN {tmp} AS m ON m.{qpk} = t.{qpk} SET {} \
         WHERE t.{qpk} BETWEEN {a} AND {b}",
        quote_ident(&plan.name),
        sets.join(", ")
    ))
    .await
}

/// Appends one row `(pk,v1,v2,…)` of masked values as SQL literals.
fn push_row(sql: &mut String, pk: &str, vals: &[Option<String>]) {
    sql.push('(');
    sql.push_str(pk);
    for v in vals {
        sql.push(',');
        push_literal(sql, v.as_deref().map(str::as_bytes));
    }
    sql.push(')');
}

/// One `UPDATE … STRAIGHT_JOIN (WITH v (…) AS (VALUES …) SELECT * FROM v)`
/// per run of rows up to [`MAX_INSERT_BYTES`] of SQL, over the key range of
/// those rows (`masked` is in key order: the SELECT reads by primary key).
async fn write_values(
    conn: &mut Conn,
    plan: &TablePlan,
    masked: &[(String, Vec<Option<String>>)],
) -> std::result::Result<(), mysql_async::Error> {
    let qpk = quote_ident(&plan.pk);
    let cols: Vec<String> = plan.client.iter().map(|c| quote_ident(c)).collect();
    let sets: Vec<String> = cols.iter().map(|c| format!("t.{c} = m.{c}")).collect();
    let head = format!(
        "UPDATE {} AS t STRAIGHT_JOIN (WITH v ({qpk}, {}) AS (VALUES ",
        quote_ident(&plan.name),
        cols.join(", ")
    );
    let mut rest = masked;
    while !rest.is_empty() {
        let mut sql = String::with_capacity(1 << 16);
        sql.push_str(&head);
        let mut n = 0;
        for (pk, vals) in rest {
            if n > 0 {
                if sql.len() >= MAX_INSERT_BYTES {
                    break;
                }
                sql.push(',');
            }
            n += 1;
            push_row(&mut sql, pk, vals);
        }
        let (first, last) = (&rest[0].0, &rest[n - 1].0);
        let _ = write!(
            sql,
            ") SELECT * FROM v) AS m ON m.{qpk} = t.{qpk} SET {} WHERE t.{qpk} BETWEEN {first} AND {last}",
            sets.join(", ")
        );
        conn.query_drop(sql).await?;
        rest = &rest[n..];
    }
    Ok(())
}

async fn write_case(
    conn: &mut Conn,
    plan: &TablePlan,
    masked: &[(String, Vec<Option<String>>)],
) -> std::result::Result<(), mysql_async::Error> {
    let qpk = quote_ident(&plan.pk);
    let mut sql = String::with_capacity(1 << 16);
    let _ = write!(sql, "UPDATE {} SET ", quote_ident(&plan.name));
    for (ci, c) in plan.client.iter().enumerate() {
        let qc = quote_ident(c);
        if ci > 0 {
            sql.push_str(", ");
        }
        let _ = write!(sql, "{qc} = CASE {qpk}");
        for (pk, vals) in masked {
            let _ = write!(sql, " WHEN {pk} THEN ");
            push_literal(&mut sql, vals[ci].as_deref().map(str::as_bytes));
        }
        let _ = write!(sql, " ELSE {qc} END");
    }
    let _ = write!(sql, " WHERE {qpk} IN (");
    for (i, (pk, _)) in masked.iter().enumerate() {
        if i > 0 {
            sql.push(',');
        }
        sql.push_str(pk);
    }
    sql.push(')');
    conn.query_drop(sql).await
}

// ---------------------------------------------------------------------------
// verify
// ---------------------------------------------------------------------------

/// Windows over the key range that the sample is drawn from.
const SAMPLE_WINDOWS: usize = 16;

/// Rows fetched per `IN (…)` list.
const FETCH_BATCH: usize = 1000;

/// Compares up to `sample` rows per table of the masked clone with the
/// source (see the [module docs](self)). Nothing is written to either.
pub fn verify(
    clone_url: &str,
    source_url: &str,
    rules: &RuleSet,
    key: &MaskKey,
    sample: usize,
) -> Result<VerifyReport, MaskDbError> {
    off_runtime(|| {
        let clone = Target::parse(clone_url)?;
        let source = Target::parse(source_url)?;
        let masker = Masker::new(rules, key);
        let rt = new_runtime()?;
        block_on(&rt, verify_async(&clone, &source, rules, &masker, sample))
    })
}

async fn verify_async(
    clone: &Target,
    source: &Target,
    rules: &RuleSet,
    masker: &Masker,
    sample: usize,
) -> Result<VerifyReport> {
    let mut sc = source.connect().await?;
    let mut cc = clone.connect().await?;
    let plans = inspect(&mut sc, source, rules, false).await?;
    // The clone must have the same tables, columns and key.
    inspect(&mut cc, clone, rules, false).await?;
    let mut report = VerifyReport {
        columns: Vec::new(),
        rows_sampled: 0,
        rows_missing: 0,
    };
    for plan in &plans {
        let cms: Vec<&ColumnMasker> = plan
            .all
            .iter()
            .map(|c| {
                masker
                    .column(&plan.name, c)
                    .expect("rule column has a masker")
            })
            .collect();
        let mut stats: Vec<ColumnVerify> = plan
            .all
            .iter()
            .map(|c| ColumnVerify {
                table: plan.name.clone(),
                column: c.clone(),
                checked: 0,
                unchanged_originals: 0,
                mismatches: 0,
            })
            .collect();
        let src = sample_rows(&mut sc, source, plan, sample).await?;
        report.rows_sampled += src.len() as u64;
        let keys: Vec<i128> = src.keys().copied().collect();
        let mut found = 0u64;
        for batch in keys.chunks(FETCH_BATCH) {
            let list: Vec<String> = batch.iter().map(i128::to_string).collect();
            let rows = fetch_rows(
                &mut cc,
                clone,
                plan,
                &format!("{} IN ({})", quote_ident(&plan.pk), list.join(",")),
            )
            .await?;
            for (pk, cvals) in rows {
                let Some(svals) = src.get(&pk) else { continue };
                found += 1;
                for (ci, st) in stats.iter_mut().enumerate() {
                    st.checked += 1;
                    let orig = svals[ci].as_deref();
                    let now = cvals[ci].as_deref();
                    let expected = cms[ci].mask_bytes(orig);
                    let expected = expected
                        .as_ref()
                        .ok()
                        .map(|e| e.as_deref().map(str::as_bytes));
                    if expected != Some(now) {
                        st.mismatches += 1;
                    }
                    let would_change = expected != Some(orig);
                    if let Some(o) = orig {
                        if !o.is_empty() && now == Some(o) && would_change {
                            st.unchanged_originals += 1;
                        }
                    }
                }
            }
        }
        report.rows_missing += src.len() as u64 - found;
        report.columns.extend(stats);
    }
    let _ = sc.disconnect().await;
    let _ = cc.disconnect().await;
    Ok(report)
}

type RowValues = Vec<Option<Vec<u8>>>;

async fn fetch_rows(
    conn: &mut Conn,
    target: &Target,
    plan: &TablePlan,
    condition: &str,
) -> Result<Vec<(i128, RowValues)>> {
    let cols: Vec<String> = plan.all.iter().map(|c| quote_ident(c)).collect();
    let rows: Vec<Row> = conn
        .query(format!(
            "SELECT {}, {} FROM {} WHERE {condition}",
            quote_ident(&plan.pk),
            cols.join(", "),
            quote_ident(&plan.name)
        ))
        .await
        .map_err(target.sql(format!("reading sample rows of `{}`", plan.name)))?;
    Ok(rows
        .into_iter()
        .filter_map(|r| {
            let mut vals = r.unwrap().into_iter();
            let pk = value_int(&vals.next()?)?;
            Some((pk, vals.map(value_bytes).collect()))
        })
        .collect())
}

/// Up to `sample` rows of the source, from windows spread over the key range.
async fn sample_rows(
    conn: &mut Conn,
    target: &Target,
    plan: &TablePlan,
    sample: usize,
) -> Result<BTreeMap<i128, RowValues>> {
    let mut out = BTreeMap::new();
    let Some((lo, hi)) = plan.range else {
        return Ok(out);
    };
    if sample == 0 {
        return Ok(out);
    }
    let windows = SAMPLE_WINDOWS.min(sample);
    let per = sample.div_ceil(windows);
    let qpk = quote_ident(&plan.pk);
    for w in 0..windows {
        let start = lo + (hi - lo) * w as i128 / windows as i128;
        let rows = fetch_rows(
            conn,
            target,
            plan,
            &format!("{qpk} >= {start} ORDER BY {qpk} LIMIT {per}"),
        )
        .await?;
        for (pk, vals) in rows {
            if out.len() >= sample {
                break;
            }
            out.insert(pk, vals);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_cover_the_range_exactly() {
        assert!(chunks_of(None, 10).is_empty());
        assert_eq!(chunks_of(Some((5, 5)), 10), vec![(5, 5)]);
        assert_eq!(
            chunks_of(Some((1, 25)), 10),
            vec![(1, 10), (11, 20), (21, 25)]
        );
        assert_eq!(chunks_of(Some((-3, 2)), 3), vec![(-3, -1), (0, 2)]);
        let big = i128::from(u64::MAX);
        assert_eq!(chunks_of(Some((big - 1, big)), 1000), vec![(big - 1, big)]);
    }

    #[test]
    fn index_lines_parse() {
        assert_eq!(
            parse_index_line("  UNIQUE KEY `email_u` (`email`),"),
            Some(("email_u".into(), "UNIQUE KEY `email_u` (`email`)".into()))
        );
        assert_eq!(
            parse_index_line("  KEY `a ``b``` (`guid`(10),`pid`) COMMENT 'x'"),
            Some((
                "a `b`".into(),
                "KEY `a ``b``` (`guid`(10),`pid`) COMMENT 'x'".into()
            ))
        );
        assert_eq!(
            parse_index_line("  FULLTEXT KEY `ft` (`city`),").map(|p| p.0),
            Some("ft".into())
        );
        assert_eq!(parse_index_line("  PRIMARY KEY (`id`),"), None);
        assert_eq!(parse_index_line("  `key` int(11) DEFAULT NULL,"), None);
        assert_eq!(
            parse_index_line("  CONSTRAINT `fk` FOREIGN KEY (`a`) REFERENCES `t` (`id`)"),
            None
        );
    }

    #[test]
    fn literals_are_hex() {
        let mut s = String::new();
        push_literal(&mut s, Some(b"a'\\\xff"));
        s.push(' ');
        push_literal(&mut s, None);
        s.push(' ');
        push_literal(&mut s, Some(b""));
        assert_eq!(s, "X'61275cff' NULL X''");
    }

    #[test]
    fn urls_need_a_database_and_hide_passwords() {
        let e = Target::parse("mysql://root:pw@127.0.0.1:3306/").unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("names no database"), "{msg}");
        assert!(!msg.contains("pw@"), "{msg}");
        let t = Target::parse("mysql://root:pw@127.0.0.1:3306/clone").unwrap();
        assert_eq!(t.database, "clone");
        assert_eq!(t.display, "mysql://root:***@127.0.0.1:3306/clone");
    }

    #[test]
    fn verify_report_passes_only_when_clean() {
        let mut r = VerifyReport {
            columns: vec![ColumnVerify {
                table: "t".into(),
                column: "c".into(),
                checked: 3,
                unchanged_originals: 0,
                mismatches: 0,
            }],
            rows_sampled: 3,
            rows_missing: 0,
        };
        assert!(r.passed());
        r.columns[0].mismatches = 1;
        assert!(!r.passed());
        r.columns[0].mismatches = 0;
        r.rows_missing = 1;
        assert!(!r.passed());
    }
}
