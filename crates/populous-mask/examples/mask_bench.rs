//! In-place masking throughput on a real server: the six seed PII columns
//! (name, email, street, zip, city, guid) of `main`, with both write
//! strategies of `populous_mask::db`, against the naive approach (one
//! `UPDATE … WHERE id = ?` per row on one connection, committed every
//! `--chunk` rows). Starts its own `mariadbd` on a temp dir (run as root, or
//! as a user the server can run as).
//!
//! `cargo run --release -p populous-mask --example mask_bench -- [ROWS]
//!  [--blob BYTES] [--threads N] [--chunk N] [--naive-rows N] [--pool SIZE]`
//!
//! Defaults: 200000 rows, 1024-byte blobs (64 KiB is the seed's size: pass
//! `--blob 65536`), 2 threads, 2000 ids per chunk, the naive approach on the
//! first 50000 rows, 1G buffer pool. Also prints the server's own ceiling:
//! one `UPDATE` rewriting the same six columns with `REVERSE()`.

use std::os::unix::fs::PermissionsExt;
use std::time::Instant;

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Opts, Value};
use populous_app::{generate_blocking, GenerateOptions};
use populous_db::{init_datadir, start, stop, Instance, InstanceSpec};
use populous_mask::db::{mask_database, verify, MaskOptions, WriteStrategy};
use populous_mask::{MaskKey, Masker, RuleSet};

const RULES: &str = "
version: 1
tables:
  main:
    primary_key: id
    columns:
      name:   person_name
      email:  { transform: email, unique: true }
      street: street
      zip:    zip
      city:   city
      guid:   { transform: guid, unique: true }
";

const SIX: [&str; 6] = ["name", "email", "street", "zip", "city", "guid"];

struct Server(Option<Instance>);

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(i) = self.0.take() {
            let _ = stop(&i);
        }
    }
}

struct Args {
    rows: u64,
    blob: usize,
    threads: usize,
    chunk: u64,
    naive_rows: u64,
    pool: String,
}

fn args() -> Args {
    let mut a = Args {
        rows: 200_000,
        blob: 1024,
        threads: 2,
        chunk: 2000,
        naive_rows: 50_000,
        pool: "1G".to_string(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(x) = it.next() {
        let mut val = || it.next().expect("option value");
        match x.as_str() {
            "--blob" => a.blob = val().parse().expect("--blob"),
            "--threads" => a.threads = val().parse().expect("--threads"),
            "--chunk" => a.chunk = val().parse().expect("--chunk"),
            "--naive-rows" => a.naive_rows = val().parse().expect("--naive-rows"),
            "--pool" => a.pool = val(),
            n => a.rows = n.parse().expect("ROWS"),
        }
    }
    a
}

fn main() {
    let a = args();
    let dir = tempfile::Builder::new()
        .prefix("pmask-bench-")
        .tempdir_in("/tmp")
        .expect("temp dir");
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let data = dir.path().join("data");
    init_datadir(&data, "mysql").expect("init datadir");
    let mut spec = InstanceSpec::new(&data, dir.path().join("run"));
    spec.innodb_buffer_pool_size = a.pool.clone();
    let server = Server(Some(start(&spec).expect("start mariadbd")));
    let base = server.0.as_ref().unwrap().url.clone();
    let url = |db: &str| format!("{base}{db}");

    let t = Instant::now();
    let mut g = GenerateOptions::rows(a.rows);
    g.blob_size = a.blob;
    generate_blocking(&url("src"), &g, |_| {}).expect("generate");
    println!(
        "generated {} rows with {}-byte blobs in {:.1}s",
        a.rows,
        a.blob,
        t.elapsed().as_secs_f64()
    );

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut conn = rt
        .block_on(Conn::new(Opts::from_url(&url("src")).unwrap()))
        .unwrap();
    let mut run = |q: String| rt.block_on(conn.query_drop(q)).unwrap();
    for db in ["tj", "cs", "naive", "ceil"] {
        run(format!("CREATE DATABASE {db}"));
        run(format!("CREATE TABLE {db}.main LIKE src.main"));
        let limit = if db == "naive" {
            format!(" ORDER BY id LIMIT {}", a.naive_rows)
        } else {
            String::new()
        };
        run(format!(
            "INSERT INTO {db}.main SELECT * FROM src.main{limit}"
        ));
    }
    // The server's own ceiling for rewriting these six columns: one UPDATE
    // with cheap SQL expressions, no client round trips.
    let t = Instant::now();
    run(
        "UPDATE ceil.main SET name = REVERSE(name), email = REVERSE(email), \
         street = REVERSE(street), zip = REVERSE(zip), city = REVERSE(city), guid = REVERSE(guid)"
            .to_string(),
    );
    let ceil = t.elapsed().as_secs_f64();
    rt.block_on(conn.disconnect()).unwrap();
    println!(
        "{:>10}: {} rows in {ceil:.2}s = {:.0} rows/s (one server-side UPDATE, REVERSE() of each column)",
        "ceiling",
        a.rows,
        a.rows as f64 / ceil
    );

    let rules = RuleSet::from_yaml(RULES).unwrap();
    let key = MaskKey::from_bytes(&[7; 32]).unwrap();
    for (db, write) in [("cs", WriteStrategy::Case), ("tj", WriteStrategy::TempJoin)] {
        let opts = MaskOptions {
            threads: a.threads,
            chunk_rows: a.chunk,
            write,
            cancel: None,
        };
        let r = mask_database(&url(db), &rules, &key, &opts, |_| {}).expect("mask");
        println!(
            "{:>10}: {} rows in {:.2}s = {:.0} rows/s (threads {}, chunk {})",
            write.as_str(),
            r.rows_total,
            r.elapsed_secs,
            r.rows_per_sec,
            a.threads,
            a.chunk
        );
    }
    let v = verify(&url("tj"), &url("src"), &rules, &key, 2000).expect("verify");
    println!("verify temp-join clone: passed = {}", v.passed());

    let (n, secs) = naive(&url("naive"), &rules, &key, a.chunk);
    println!(
        "{:>10}: {n} rows in {secs:.2}s = {:.0} rows/s (1 connection, UPDATE … WHERE id = ? per row, commit every {} rows)",
        "naive",
        n as f64 / secs,
        a.chunk
    );
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
