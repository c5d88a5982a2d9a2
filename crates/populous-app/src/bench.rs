//! Generation throughput against the server-side ceiling, in one run.
//!
//! The ceiling is `INSERT INTO main (…) SELECT … FROM seq_0_to_{N-1}`: the
//! server makes the rows itself (Sequence engine; blobs from `RANDOM_BYTES`
//! repeated to the same size), so no client, protocol or parsing cost is in
//! it. Both phases run on a freshly truncated `main` in a scratch database,
//! ceiling first in each round. The bench runs several rounds and reports
//! medians, because on a shared VM a single pair of runs is noisy (the
//! ceiling varied 2–5× between runs on the 2-core test machine).

use std::time::Instant;

use mysql_async::prelude::Queryable;
use mysql_async::Conn;
use serde::Serialize;

use crate::generate::{generate, GenerateOptions, LoadMethod};
use crate::rows::DEFAULT_BLOB_SIZE;
use crate::schema::{ensure_schema, quote_ident, DbTarget, FIRST_ID};
use crate::{AppError, Result};

/// Options for [`bench_generate`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BenchOptions {
    /// Rows per phase.
    pub rows: u64,
    /// Blob size in bytes.
    pub blob_size: usize,
    /// Generator connections.
    pub threads: usize,
    /// Generator seed.
    pub seed: u64,
    /// Generator method.
    pub method: LoadMethod,
    /// Target bytes per generator statement (`None`: the method's default).
    pub chunk_bytes: Option<usize>,
    /// Scratch database, dropped and recreated (default `populous_bench`).
    pub database: String,
    /// Rounds of (ceiling, generator); medians are reported (default 3).
    pub rounds: usize,
}

impl Default for BenchOptions {
    fn default() -> Self {
        BenchOptions {
            rows: 4000,
            blob_size: DEFAULT_BLOB_SIZE,
            threads: 2,
            seed: 1,
            method: LoadMethod::Insert,
            chunk_bytes: None,
            database: "populous_bench".to_string(),
            rounds: 3,
        }
    }
}

/// One phase's numbers.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Phase {
    /// Rows written.
    pub rows: u64,
    /// Wall time, seconds.
    pub elapsed_secs: f64,
    /// Rows per second.
    pub rows_per_sec: f64,
    /// Average bytes of column data per row, measured in the table.
    pub avg_row_bytes: f64,
    /// MB (10^6 bytes) of column data per second.
    pub mb_per_sec: f64,
}

/// One round: the ceiling, then the generator.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct BenchRound {
    /// `INSERT … SELECT FROM seq`.
    pub ceiling: Phase,
    /// The generator.
    pub generator: Phase,
    /// generator MB/s ÷ ceiling MB/s.
    pub ratio: f64,
}

/// The result of [`bench_generate`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BenchReport {
    /// Server version.
    pub server_version: String,
    /// Rows per phase.
    pub rows: u64,
    /// Blob size.
    pub blob_size: usize,
    /// Generator connections.
    pub threads: usize,
    /// Generator method.
    pub method: LoadMethod,
    /// The ceiling round with the median MB/s.
    pub ceiling: Phase,
    /// The generator round with the median MB/s.
    pub generator: Phase,
    /// Median of the per-round ratios generator MB/s ÷ ceiling MB/s (the design target is ≥ 0.8).
    pub ratio: f64,
    /// Every round.
    pub rounds: Vec<BenchRound>,
}

fn median_by<T: Copy>(v: &[T], key: impl Fn(&T) -> f64) -> T {
    let mut s: Vec<T> = v.to_vec();
    s.sort_by(|a, b| key(a).total_cmp(&key(b)));
    s[s.len() / 2]
}

/// The ceiling statement for `rows` rows of `blob_size` bytes.
pub fn ceiling_sql(rows: u64, blob_size: usize, random_bytes: bool) -> String {
    let blob = if blob_size == 0 {
        "''".to_string()
    } else if random_bytes {
        format!(
            "LEFT(REPEAT(RANDOM_BYTES(1024), {}), {blob_size})",
            blob_size.div_ceil(1024)
        )
    } else {
        format!(
            "LEFT(REPEAT(UNHEX(SHA2(RAND(), 512)), {}), {blob_size})",
            blob_size.div_ceil(64)
        )
    };
    format!(
        "INSERT INTO main (id, guid, pid, street, zip, city, email, name, imprint) \
         SELECT {FIRST_ID} + seq, UUID(), 1 + seq * 7919, \
         CONCAT(1 + seq MOD 9999, ' Main Street'), LPAD(501 + seq MOD 99450, 5, '0'), \
         'Springfield', CONCAT('first.last', seq MOD 10000, '@example.com'), \
         'First Last', {blob} FROM seq_0_to_{}",
        rows.saturating_sub(1)
    )
}

async fn phase_numbers(conn: &mut Conn, target: &DbTarget, rows: u64, secs: f64) -> Result<Phase> {
    let avg: Option<Option<f64>> = conn
        .query_first(
            "SELECT AVG(4 + LENGTH(guid) + 8 + LENGTH(street) + LENGTH(zip) + LENGTH(city) \
             + LENGTH(email) + LENGTH(name) + LENGTH(imprint)) FROM main",
        )
        .await
        .map_err(target.err("measuring row sizes"))?;
    let avg = avg.flatten().unwrap_or(0.0);
    let secs = secs.max(1e-9);
    Ok(Phase {
        rows,
        elapsed_secs: secs,
        rows_per_sec: rows as f64 / secs,
        avg_row_bytes: avg,
        mb_per_sec: rows as f64 * avg / secs / 1e6,
    })
}

/// Measures the generator against the `INSERT … SELECT` ceiling on the
/// server at `url`, in a scratch database that is dropped afterwards.
pub async fn bench_generate(url: &str, opts: &BenchOptions) -> Result<BenchReport> {
    if opts.rows == 0 {
        return Err(AppError::BadOptions("bench needs at least 1 row".into()));
    }
    let base = DbTarget::parse(url)?;
    let target = DbTarget {
        database: opts.database.clone(),
        ..base
    };
    let mut conn = Conn::new(target.server.clone())
        .await
        .map_err(target.err("connecting"))?;
    let seq: Option<u64> = conn
        .query_first(
            "SELECT COUNT(*) FROM information_schema.ENGINES WHERE ENGINE = 'SEQUENCE' AND SUPPORT IN ('YES', 'DEFAULT')",
        )
        .await
        .map_err(target.err("looking for the Sequence engine"))?;
    if seq.unwrap_or(0) == 0 {
        return Err(AppError::NoSequenceEngine);
    }
    let version: Option<String> = conn
        .query_first("SELECT VERSION()")
        .await
        .map_err(target.err("reading the server version"))?;
    let db = quote_ident(&target.database);
    conn.query_drop(format!("DROP DATABASE IF EXISTS {db}"))
        .await
        .map_err(target.err("dropping the scratch database"))?;
    ensure_schema(&mut conn, &target).await?;

    let random_bytes = conn.query_drop("SELECT RANDOM_BYTES(1)").await.is_ok();
    let sql = ceiling_sql(opts.rows, opts.blob_size, random_bytes);
    let url_db = url_with_db(url, &target.database);
    let gopts = GenerateOptions {
        threads: opts.threads,
        seed: opts.seed,
        blob_size: opts.blob_size,
        method: opts.method,
        chunk_bytes: opts.chunk_bytes,
        ..GenerateOptions::rows(opts.rows)
    };
    let mut rounds = Vec::new();
    let mut threads = opts.threads;
    for round in 0..opts.rounds.max(1) {
        // Ceiling.
        let t0 = Instant::now();
        conn.query_drop(&sql)
            .await
            .map_err(target.err("INSERT … SELECT ceiling"))?;
        let ceiling_secs = t0.elapsed().as_secs_f64();
        let ceiling = phase_numbers(&mut conn, &target, opts.rows, ceiling_secs).await?;
        conn.query_drop("TRUNCATE TABLE main")
            .await
            .map_err(target.err("truncating main"))?;

        // Generator.
        let report = generate(&url_db, &gopts, |_| {}).await?;
        threads = report.threads;
        let generator =
            phase_numbers(&mut conn, &target, report.rows_written, report.elapsed_secs).await?;
        conn.query_drop("TRUNCATE TABLE main")
            .await
            .map_err(target.err("truncating main"))?;
        let ratio = generator.mb_per_sec / ceiling.mb_per_sec.max(1e-12);
        tracing::info!(
            round,
            ceiling_mb_s = ceiling.mb_per_sec,
            generator_mb_s = generator.mb_per_sec,
            ratio,
            "bench round"
        );
        rounds.push(BenchRound {
            ceiling,
            generator,
            ratio,
        });
    }

    conn.query_drop(format!("DROP DATABASE IF EXISTS {db}"))
        .await
        .map_err(target.err("dropping the scratch database"))?;
    let _ = conn.disconnect().await;
    Ok(BenchReport {
        server_version: version.unwrap_or_default(),
        rows: opts.rows,
        blob_size: opts.blob_size,
        threads,
        method: opts.method,
        ceiling: median_by(&rounds, |r| r.ceiling.mb_per_sec).ceiling,
        generator: median_by(&rounds, |r| r.generator.mb_per_sec).generator,
        ratio: median_by(&rounds, |r| r.ratio).ratio,
        rounds,
    })
}

/// `url` with its database (path) replaced by `db`, keeping any `?query`.
fn url_with_db(url: &str, db: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("mysql", url));
    let (before_query, query) = match rest.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (rest, None),
    };
    let authority = before_query.split('/').next().unwrap_or("");
    match query {
        Some(q) => format!("{scheme}://{authority}/{db}?{q}"),
        None => format!("{scheme}://{authority}/{db}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ceiling_sql_sizes() {
        let s = ceiling_sql(10, 65536, true);
        assert!(
            s.contains("LEFT(REPEAT(RANDOM_BYTES(1024), 64), 65536)"),
            "{s}"
        );
        assert!(s.ends_with("FROM seq_0_to_9"));
        assert!(ceiling_sql(1, 0, true).contains("''"));
        assert!(ceiling_sql(1, 100, false).contains("SHA2"));
    }

    #[test]
    fn urls() {
        assert_eq!(
            url_with_db("mysql://root@127.0.0.1:3306/populous?socket=%2Fs", "b"),
            "mysql://root@127.0.0.1:3306/b?socket=%2Fs"
        );
        assert_eq!(
            url_with_db("mysql://root@127.0.0.1:3306", "b"),
            "mysql://root@127.0.0.1:3306/b"
        );
    }
}
