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
//! # Why this design
//!
//! Rewriting rows in place is the server's cost, so the design keeps the
//! client out of the way: one statement per chunk that the server applies
//! in key order, indexes on masked columns rebuilt by sort instead of
//! maintained row by row, blobs never read by the client, and no table
//! rebuild (it would rewrite every blob). With that the default masks a
//! million rows at the speed of the server's own single `UPDATE` doing the
//! same writes. Every approach measured and where the time goes:
//! `docs/benchmarks.md` ("Every approach measured, and where the time
//! goes").
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
//!
//! # Layout
//!
//! `options` and `report` hold the public types, `error` [`MaskDbError`];
//! `plan` checks the tables against the rules and cuts chunks; `progress`
//! creates and reads the bookkeeping tables; `indexes` drops and restores
//! secondary indexes; `run` drives the workers and `chunk` masks one
//! chunk; `verify` compares a clone with its source; `conn` holds the
//! connection and value helpers.

mod chunk;
mod conn;
mod error;
mod indexes;
mod options;
mod plan;
mod progress;
mod report;
mod run;
pub mod scrub;
pub mod space;
mod verify;

pub use error::MaskDbError;
pub use options::{MaskOptions, WriteStrategy};
pub use report::{ColumnVerify, MaskProgress, MaskReport, TableReport, VerifyReport};
pub use run::mask_database;
pub use verify::verify;

/// Name of the progress table created in the masked database.
pub const PROGRESS_TABLE: &str = "populous_mask_progress";

/// Name of the table recording the indexes dropped for the masking.
pub const INDEX_TABLE: &str = "populous_mask_indexes";

/// Default rows (ids) per chunk.
pub const DEFAULT_CHUNK_ROWS: u64 = 2000;

type Result<T, E = MaskDbError> = std::result::Result<T, E>;
