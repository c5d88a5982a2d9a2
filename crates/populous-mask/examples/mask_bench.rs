//! In-place masking write strategies compared on a real server: the six
//! seed PII columns (name, email, street, zip, city, guid) of `main`, every
//! approach on its own fresh copy of one generated source, interleaved, in
//! one run (the VM is shared: compare rows of one run, not runs). Starts its
//! own `mariadbd` on a temp dir under /var/tmp (run as root, or as a user the
//! server can run as).
//!
//! This compares strategies; it does not measure what `populous mask` costs.
//! It runs on whatever filesystem /var/tmp is (ext4 here) with a 1G buffer
//! pool by default, and stops each clock when the last statement returns,
//! before the server has written the pages it dirtied. `populous mask` runs
//! on a btrfs clone with the server `populous db start` starts (128M pool)
//! and ends with a shutdown that writes them: `populous bench mask-rate`
//! measures that, and one server-side UPDATE beside it.
//!
//! `cargo run --release -p populous-mask --example mask_bench -- [--rows N]
//!  [--blob BYTES] [--threads N] [--chunk N] [--naive-rows N] [--pool SIZE]
//!  [--log-file-size SIZE] [--rounds N] [--approaches a,b,…]`
//!
//! Defaults: 200000 rows, 1024-byte blobs (64 KiB is the seed's size: pass
//! `--blob 65536`), 2 threads, 2000 ids per chunk, the naive approach on the
//! first 50000 rows, 1G buffer pool, 1 round. Approaches (default
//! `server-reverse,server-update,naive,temp-join-keep,temp-join`):
//!
//! * `values`, `temp-join`, `case`: [`mask_database`] with that
//!   [`WriteStrategy`], indexes dropped and re-created (the default);
//!   `…-keep`: indexes kept during the run. `values/3/5000`: 3 threads,
//!   5000 ids per chunk.
//! * `naive`: one prepared `UPDATE … WHERE id = ?` per row on one
//!   connection, committed every `--chunk` rows, on the first
//!   `--naive-rows` rows only (reported as rows/s).
//! * `server-reverse`: one server-side `UPDATE` with `REVERSE()` of each
//!   column (same lengths, so InnoDB updates in place: cheaper than masking).
//! * `server-update`: one server-side `UPDATE … STRAIGHT_JOIN` of the masked
//!   values precomputed into a table, index dropped and re-created: the same
//!   writes in one statement, no client (a comparison, not a ceiling: in
//!   `populous bench mask-rate` it ran faster than the default strategy).
//! * `server-rebuild`: `INSERT … SELECT` of the masked table into a new
//!   table without the index, `RENAME`, re-create the index (copies every
//!   blob: a measurement, not a strategy).
//!
//! Before each approach the copy is flushed (no dirty pages, purge done),
//! so each starts from the same state. Every `mask_database` result of the
//! first round is verified against the source (2000 sampled rows).

use std::time::Instant;

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Opts, Value};
use populous_app::{generate_blocking, GenerateOptions};
use populous_mask::db::{mask_database, verify, MaskOptions, WriteStrategy, DEFAULT_CHUNK_ROWS};
use populous_mask::{MaskKey, Masker, RuleSet};

#[path = "../tests/support/mod.rs"]
mod support;

use support::{seed_rules, Server, Sql, SIX};

struct Args {
    rows: u64,
    blob: usize,
    threads: usize,
    chunk: u64,
    naive_rows: u64,
    pool: String,
    log_file_size: Option<String>,
    approaches: Vec<String>,
    rounds: usize,
}

const DEFAULT_APPROACHES: &str = "server-reverse,server-update,naive,temp-join-keep,temp-join";

fn args() -> Args {
    let mut a = Args {
        rows: 200_000,
        blob: 1024,
        threads: 2,
        chunk: DEFAULT_CHUNK_ROWS,
        naive_rows: 50_000,
        pool: "1G".to_string(),
        log_file_size: None,
        approaches: Vec::new(),
        rounds: 1,
    };
    let mut approaches = DEFAULT_APPROACHES.to_string();
    let mut it = std::env::args().skip(1);
    while let Some(x) = it.next() {
        let mut val = || it.next().expect("option value");
        match x.as_str() {
            "--rows" => a.rows = val().parse().expect("--rows"),
            "--blob" => a.blob = val().parse().expect("--blob"),
            "--threads" => a.threads = val().parse().expect("--threads"),
            "--chunk" => a.chunk = val().parse().expect("--chunk"),
            "--naive-rows" => a.naive_rows = val().parse().expect("--naive-rows"),
            "--pool" => a.pool = val(),
            "--log-file-size" => a.log_file_size = Some(val()),
            "--approaches" => approaches = val(),
            "--rounds" => a.rounds = val().parse().expect("--rounds"),
            n => a.rows = n.parse().expect("ROWS"),
        }
    }
    a.approaches = approaches.split(',').map(str::to_string).collect();
    a
}

/// Waits (up to 5 minutes) until the buffer pool holds no dirty pages
/// (the copy just made is on disk) and purge is done, so that every
/// approach starts from the same state: its table clean and cached as
/// far as the pool allows.
fn settle(sql: &mut Sql) {
    sql.run("SET GLOBAL innodb_max_dirty_pages_pct = 0");
    let t = Instant::now();
    while t.elapsed().as_secs() < 300 {
        let dirty = sql.int(
            "SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS \
             WHERE VARIABLE_NAME = 'INNODB_BUFFER_POOL_PAGES_DIRTY'",
        );
        let purge = sql.int(
            "SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS \
             WHERE VARIABLE_NAME = 'INNODB_HISTORY_LIST_LENGTH'",
        );
        if dirty < 100 && purge < 1000 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    sql.run("SET GLOBAL innodb_max_dirty_pages_pct = DEFAULT");
}

/// Runs `q` and returns its seconds.
fn timed(sql: &mut Sql, q: &str) -> f64 {
    let t = Instant::now();
    sql.run(q);
    t.elapsed().as_secs_f64()
}

fn main() {
    let a = args();
    let server = Server::start_in("/var/tmp", |spec| {
        spec.innodb_buffer_pool_size = a.pool.clone();
        if let Some(size) = &a.log_file_size {
            spec.extra_args
                .push(format!("--innodb-log-file-size={size}"));
        }
    });
    let url = |db: &str| server.url(db);

    let t = Instant::now();
    let mut g = GenerateOptions::rows(a.rows);
    g.blob_size = a.blob;
    generate_blocking(&url("src"), &g, |_| {}).expect("generate");
    println!(
        "generated {} rows with {}-byte blobs in {:.1}s; pool {}, redo log {}, {} threads, {} ids per chunk",
        a.rows,
        a.blob,
        t.elapsed().as_secs_f64(),
        a.pool,
        a.log_file_size.as_deref().unwrap_or("server default"),
        a.threads,
        a.chunk
    );
    let rules = RuleSet::from_yaml(seed_rules!()).unwrap();
    let key = MaskKey::from_bytes(&[7; 32]).unwrap();
    let mut sql = Sql::new(&url("src"));

    // The masked values, computed once, for the server-side UPDATE … JOIN.
    if a.approaches
        .iter()
        .any(|x| x.starts_with("server-update") || x == "server-rebuild")
    {
        sql.run("CREATE DATABASE mv");
        sql.run(&format!(
            "CREATE TABLE mv.main (PRIMARY KEY (id)) SELECT id, {} FROM src.main",
            SIX.join(", ")
        ));
        let o = MaskOptions {
            chunk_rows: 10_000,
            ..MaskOptions::default()
        };
        mask_database(&url("mv"), &rules, &key, &o, |_| {}).expect("mask mv");
    }

    let mut results: Vec<(String, Vec<f64>)> = Vec::new();
    for round in 0..a.rounds {
        for (ai, name) in a.approaches.iter().enumerate() {
            let db = format!("b{round}_{ai}");
            sql.run(&format!("CREATE DATABASE {db}"));
            sql.run(&format!("CREATE TABLE {db}.main LIKE src.main"));
            let limit = if name == "naive" {
                format!(" ORDER BY id LIMIT {}", a.naive_rows)
            } else {
                String::new()
            };
            sql.run(&format!(
                "INSERT INTO {db}.main SELECT * FROM src.main{limit}"
            ));
            settle(&mut sql);
            let (rows, secs, note) = match name.as_str() {
                "server-reverse" => {
                    let s = timed(
                        &mut sql,
                        &format!(
                            "UPDATE {db}.main SET name = REVERSE(name), email = REVERSE(email), \
                         street = REVERSE(street), zip = REVERSE(zip), city = REVERSE(city), \
                         guid = REVERSE(guid)"
                        ),
                    );
                    (
                        a.rows,
                        s,
                        "one server-side UPDATE, REVERSE() of each column, guid index kept"
                            .to_string(),
                    )
                }
                "server-update" => {
                    let sets: Vec<String> = SIX.iter().map(|c| format!("t.{c} = m.{c}")).collect();
                    let s = timed(&mut sql, &format!("ALTER TABLE {db}.main DROP INDEX guid"))
                        + timed(
                            &mut sql,
                            &format!(
                                "UPDATE {db}.main t STRAIGHT_JOIN mv.main m ON m.id = t.id SET {}",
                                sets.join(", ")
                            ),
                        )
                        + timed(
                            &mut sql,
                            &format!("ALTER TABLE {db}.main ADD INDEX guid (guid)"),
                        );
                    (a.rows, s, "one server-side UPDATE … JOIN of precomputed masked values, guid index dropped and re-added".to_string())
                }
                "server-rebuild" => {
                    // Not a strategy (it rewrites every imprint blob): the
                    // server's speed for writing the masked table anew.
                    let s = timed(&mut sql, &format!("CREATE TABLE {db}.n LIKE {db}.main"))
                        + timed(&mut sql, &format!("ALTER TABLE {db}.n DROP INDEX guid"))
                        + timed(&mut sql, &format!(
                            "INSERT INTO {db}.n SELECT t.id, m.guid, t.pid, m.street, m.zip, m.city, \
                             m.email, m.name, t.imprint FROM {db}.main t STRAIGHT_JOIN mv.main m \
                             ON m.id = t.id ORDER BY t.id"
                        ))
                        + timed(&mut sql, &format!(
                            "RENAME TABLE {db}.main TO {db}.old, {db}.n TO {db}.main"
                        ))
                        + timed(&mut sql, &format!("DROP TABLE {db}.old"))
                        + timed(&mut sql, &format!("ALTER TABLE {db}.main ADD INDEX guid (guid)"));
                    (a.rows, s, "new table filled by INSERT … SELECT … JOIN precomputed masked values in key order (copies the blobs), swapped in, guid index added".to_string())
                }
                "naive" => {
                    let (n, s) = naive(&url(&db), &rules, &key, a.chunk);
                    (n, s, format!("first {n} rows, 1 connection, UPDATE … WHERE id = ? per row, commit every {} rows", a.chunk))
                }
                other => {
                    // `temp-join/3/5000`: 3 threads, 5000 ids per chunk.
                    let mut parts = other.split('/');
                    let other = parts.next().unwrap();
                    let threads = parts
                        .next()
                        .map_or(a.threads, |t| t.parse().expect("threads"));
                    let chunk = parts.next().map_or(a.chunk, |c| c.parse().expect("chunk"));
                    let (write, drop_indexes) = match other {
                        "temp-join" => (WriteStrategy::TempJoin, true),
                        "temp-join-keep" => (WriteStrategy::TempJoin, false),
                        "case" => (WriteStrategy::Case, true),
                        "case-keep" => (WriteStrategy::Case, false),
                        "values" => (WriteStrategy::Values, true),
                        "values-keep" => (WriteStrategy::Values, false),
                        _ => panic!("unknown approach {other}"),
                    };
                    let opts = MaskOptions {
                        threads,
                        chunk_rows: chunk,
                        write,
                        drop_indexes,
                        cancel: None,
                    };
                    let r = mask_database(&url(&db), &rules, &key, &opts, |_| {}).expect("mask");
                    if round == 0 {
                        let v = verify(&url(&db), &url("src"), &rules, &key, 2000).expect("verify");
                        assert!(v.passed(), "{v:?}");
                    }
                    let note = if drop_indexes {
                        format!(
                            "guid index dropped and re-added ({:.2}s, included)",
                            r.index_secs
                        )
                    } else {
                        "guid index kept".to_string()
                    };
                    let note = format!("{threads} threads, {chunk} ids per chunk, {note}");
                    (r.rows_total, r.elapsed_secs, note)
                }
            };
            sql.run(&format!("DROP DATABASE {db}"));
            println!(
                "round {round} {name:>16}: {rows} rows in {secs:.2}s = {:.0} rows/s ({note})",
                rows as f64 / secs
            );
            let rate = rows as f64 / secs;
            match results.iter_mut().find(|(n, _)| n == name) {
                Some((_, v)) => v.push(rate),
                None => results.push((name.clone(), vec![rate])),
            }
        }
    }
    let naive_rate = results
        .iter()
        .find(|(n, _)| n == "naive")
        .map(|(_, v)| median(v));
    println!("\nmedian rows/s over {} round(s):", a.rounds);
    for (name, v) in &results {
        let m = median(v);
        let ratio = naive_rate.map_or(String::new(), |n| format!(" ({:.1}× naive)", m / n));
        println!("{name:>16}: {m:>9.0}{ratio}");
    }
}

fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    s[s.len() / 2]
}

/// The naive way: read everything, then one prepared UPDATE per row.
fn naive(url: &str, rules: &RuleSet, key: &MaskKey, commit_every: u64) -> (u64, f64) {
    let masker = Masker::new(rules, key);
    let cms: Vec<_> = SIX
        .iter()
        .map(|c| masker.column("main", c).unwrap())
        .collect();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let start = Instant::now();
        let mut conn = Conn::new(Opts::from_url(url).unwrap()).await.unwrap();
        conn.query_drop("SET NAMES binary").await.unwrap();
        let rows: Vec<mysql_async::Row> = conn
            .query(format!("SELECT id, {} FROM main", SIX.join(", ")))
            .await
            .unwrap();
        let stmt = conn
            .prep(
                "UPDATE main SET name = ?, email = ?, street = ?, zip = ?, city = ?, guid = ? \
                 WHERE id = ?",
            )
            .await
            .unwrap();
        conn.query_drop("START TRANSACTION").await.unwrap();
        let mut n = 0u64;
        for row in rows {
            let mut vals = row.unwrap().into_iter();
            let id = vals.next().unwrap();
            let mut params: Vec<Value> = Vec::with_capacity(7);
            for (ci, v) in vals.enumerate() {
                let b = match v {
                    Value::Bytes(b) => Some(b),
                    _ => None,
                };
                let m = cms[ci].mask_bytes(b.as_deref()).unwrap();
                params.push(m.map_or(Value::NULL, |s| Value::Bytes(s.into_bytes())));
            }
            params.push(id);
            conn.exec_drop(&stmt, params).await.unwrap();
            n += 1;
            if n % commit_every == 0 {
                conn.query_drop("COMMIT").await.unwrap();
                conn.query_drop("START TRANSACTION").await.unwrap();
            }
        }
        conn.query_drop("COMMIT").await.unwrap();
        conn.disconnect().await.unwrap();
        (n, start.elapsed().as_secs_f64())
    })
}
