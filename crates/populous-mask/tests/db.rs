//! In-place masking against real `mariadbd` instances on temp dirs. Every
//! server is stopped by a Drop guard, so a failing test leaves no process
//! behind. No sleeps: every step waits for the statement it depends on.

use std::collections::HashMap;
use std::os::unix::fs::PermissionsExt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Opts, Value};
use populous_app::{generate_blocking, GenerateOptions};
use populous_db::{init_datadir, start, stop, Instance, InstanceSpec};
use populous_mask::db::{mask_database, verify, MaskDbError, MaskOptions, WriteStrategy};
use populous_mask::{MaskKey, Masker, RuleSet};

// ---------------------------------------------------------------- fixtures

/// One running server; stopped on drop, even when the test panics.
struct Server {
    inst: Option<Instance>,
    _dir: tempfile::TempDir,
}

impl Server {
    fn started() -> Server {
        Self::started_with("128M")
    }

    /// A server with an InnoDB buffer pool of `pool` (e.g. "1G").
    fn started_with(pool: &str) -> Server {
        let dir = tempfile::Builder::new()
            .prefix("pmask-")
            .tempdir_in("/tmp")
            .expect("temp dir");
        // The `mysql` user must be able to enter it (tempfile makes 0700).
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let data = dir.path().join("data");
        init_datadir(&data, "mysql").expect("init datadir");
        let mut spec = InstanceSpec::new(&data, dir.path().join("run"));
        spec.innodb_buffer_pool_size = pool.to_owned();
        let inst = start(&spec).expect("start");
        Server {
            inst: Some(inst),
            _dir: dir,
        }
    }

    fn url(&self, db: &str) -> String {
        format!("{}{db}", self.inst.as_ref().unwrap().url)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(inst) = self.inst.take() {
            let _ = stop(&inst);
        }
    }
}

/// A blocking SQL session for checks.
struct Sql {
    rt: tokio::runtime::Runtime,
    conn: Option<Conn>,
}

impl Sql {
    fn new(url: &str) -> Sql {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let conn = rt
            .block_on(Conn::new(Opts::from_url(url).unwrap()))
            .expect("connect");
        let mut s = Sql {
            rt,
            conn: Some(conn),
        };
        s.run("SET NAMES binary");
        s
    }

    fn rows(&mut self, q: &str) -> Vec<Vec<Value>> {
        let conn = self.conn.as_mut().unwrap();
        let rows: Vec<mysql_async::Row> = self
            .rt
            .block_on(conn.query(q))
            .unwrap_or_else(|e| panic!("{q}: {e}"));
        rows.into_iter().map(|r| r.unwrap()).collect()
    }

    fn run(&mut self, q: &str) {
        let conn = self.conn.as_mut().unwrap();
        self.rt
            .block_on(conn.query_drop(q))
            .unwrap_or_else(|e| panic!("{q}: {e}"));
    }

    fn int(&mut self, q: &str) -> i64 {
        int(&self.rows(q)[0][0])
    }
}

impl Drop for Sql {
    fn drop(&mut self) {
        if let Some(c) = self.conn.take() {
            let _ = self.rt.block_on(c.disconnect());
        }
    }
}

fn int(v: &Value) -> i64 {
    match v {
        Value::Int(i) => *i,
        Value::UInt(u) => *u as i64,
        Value::Bytes(b) => std::str::from_utf8(b).unwrap().parse().unwrap(),
        Value::NULL => 0,
        other => panic!("not an integer: {other:?}"),
    }
}

fn bytes(v: &Value) -> Option<Vec<u8>> {
    match v {
        Value::NULL => None,
        Value::Bytes(b) => Some(b.clone()),
        other => Some(other.as_sql(true).into_bytes()),
    }
}

const SIX: [&str; 6] = ["name", "email", "street", "zip", "city", "guid"];

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
      pid:    { transform: fixed, value: '0' }
";

fn key(n: u8) -> MaskKey {
    MaskKey::from_bytes(&[n; 32]).unwrap()
}

fn rules(text: &str) -> RuleSet {
    RuleSet::from_yaml(text).unwrap()
}

/// Generates `rows` seed rows (1 KiB blobs) into database `db`.
fn generate(server: &Server, db: &str, rows: u64) {
    let mut o = GenerateOptions::rows(rows);
    o.blob_size = 1024;
    generate_blocking(&server.url(db), &o, |_| {}).expect("generate");
}

/// Copies `from.main` into a new database `to`.
fn copy_db(sql: &mut Sql, from: &str, to: &str) {
    sql.run(&format!("CREATE DATABASE {to}"));
    sql.run(&format!("CREATE TABLE {to}.main LIKE {from}.main"));
    sql.run(&format!("INSERT INTO {to}.main SELECT * FROM {from}.main"));
}

/// Order-independent checksum of `columns` of `db.main` (NULL distinguished).
fn checksum(sql: &mut Sql, db: &str, columns: &[&str]) -> (i64, String, String) {
    let cols: Vec<String> = columns
        .iter()
        .map(|c| format!("IFNULL(HEX({c}), 'N')"))
        .collect();
    let row = &sql.rows(&format!(
        "SELECT COUNT(*), \
         CAST(IFNULL(BIT_XOR(CAST(CONV(LEFT(h, 16), 16, 10) AS UNSIGNED)), 0) AS CHAR), \
         CAST(IFNULL(BIT_XOR(CAST(CONV(RIGHT(h, 16), 16, 10) AS UNSIGNED)), 0) AS CHAR) \
         FROM (SELECT MD5(CONCAT_WS(',', id, {})) AS h FROM {db}.main) AS t",
        cols.join(", ")
    ))[0];
    let s = |v: &Value| String::from_utf8(bytes(v).unwrap()).unwrap();
    (int(&row[0]), s(&row[1]), s(&row[2]))
}

fn imprint_sum(sql: &mut Sql, db: &str) -> (i64, i64, String) {
    let row = &sql.rows(&format!(
        "SELECT COUNT(*), SUM(CRC32(imprint)), \
         CAST(BIT_XOR(CAST(CONV(LEFT(MD5(CONCAT(id, ':', MD5(imprint))), 16), 16, 10) AS UNSIGNED)) AS CHAR) \
         FROM {db}.main"
    ))[0];
    (
        int(&row[0]),
        int(&row[1]),
        String::from_utf8(bytes(&row[2]).unwrap()).unwrap(),
    )
}

/// `id -> [values of columns]` of `db.main`.
fn table(sql: &mut Sql, db: &str, columns: &[&str]) -> HashMap<i64, Vec<Option<Vec<u8>>>> {
    sql.rows(&format!("SELECT id, {} FROM {db}.main", columns.join(", ")))
        .into_iter()
        .map(|r| (int(&r[0]), r[1..].iter().map(bytes).collect()))
        .collect()
}

/// Secondary index definitions of `db.main`, as SHOW CREATE TABLE prints them.
fn index_lines(sql: &mut Sql, db: &str) -> Vec<String> {
    let create = sql.rows(&format!("SHOW CREATE TABLE {db}.main"));
    let text = String::from_utf8(bytes(&create[0][1]).unwrap()).unwrap();
    let mut v: Vec<String> = text
        .lines()
        .map(|l| l.trim().trim_end_matches(',').to_string())
        .filter(|l| l.contains("KEY `"))
        .filter(|l| !l.starts_with("PRIMARY"))
        .collect();
    v.sort();
    v
}

fn recorded_indexes(sql: &mut Sql, db: &str) -> i64 {
    sql.int(&format!("SELECT COUNT(*) FROM {db}.populous_mask_indexes"))
}

fn progress_rows(sql: &mut Sql, db: &str) -> i64 {
    sql.int(&format!("SELECT COUNT(*) FROM {db}.populous_mask_progress"))
}

fn opts(threads: usize, chunk_rows: u64, write: WriteStrategy) -> MaskOptions {
    MaskOptions {
        threads,
        chunk_rows,
        write,
        drop_indexes: true,
        cancel: None,
    }
}

fn looks_like_email(e: &str) -> bool {
    let Some((local, domain)) = e.split_once('@') else {
        return false;
    };
    let ok = |c: char| c.is_ascii_alphanumeric() || ".-_+".contains(c);
    !local.is_empty()
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..")
        && local.chars().all(ok)
        && domain.contains('.')
        && !domain.contains('@')
        && domain
            .split('.')
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'))
}

// ---------------------------------------------------------------- tests

#[test]
fn masks_in_place_deterministically_and_verifies() {
    let server = Server::started();
    generate(&server, "clone1", 20_000);
    let mut sql = Sql::new(&server.url("clone1"));
    // Make emails unique (the generator's may repeat) so that the clone can
    // carry UNIQUE indexes on both unique columns; add NULLs and empties.
    sql.run("UPDATE clone1.main SET email = CONCAT(id, '.', email)");
    sql.run("UPDATE clone1.main SET street = NULL WHERE id % 97 = 0");
    sql.run("UPDATE clone1.main SET city = '' WHERE id % 89 = 0");
    sql.run("UPDATE clone1.main SET name = NULL, zip = '' WHERE id % 101 = 0");
    for db in ["src", "copy2", "copy3", "copy4"] {
        copy_db(&mut sql, "clone1", db);
    }
    sql.run(
        "ALTER TABLE clone1.main ADD UNIQUE INDEX email_u (email), ADD UNIQUE INDEX guid_u (guid)",
    );
    let indexes = index_lines(&mut sql, "clone1");
    assert_eq!(indexes.len(), 3, "{indexes:?}");

    let r = rules(RULES);
    let before = imprint_sum(&mut sql, "src");
    let report = mask_database(
        &server.url("clone1"),
        &r,
        &key(1),
        &MaskOptions::default(),
        |_| {},
    )
    .expect("mask");
    assert_eq!(report.rows_total, 20_000);
    assert_eq!(report.resumed_chunks, 0);
    assert_eq!(report.tables.len(), 1);
    assert_eq!(report.tables[0].chunks, 10);
    assert_eq!(
        report.tables[0].server_side_columns,
        vec!["pid".to_string()]
    );
    assert_eq!(report.ruleset_hash, r.hash());
    assert_eq!(report.key_id, key(1).key_id());
    assert_eq!(progress_rows(&mut sql, "clone1"), 10);
    // The three indexes on masked columns (the seed's `guid`, and the two
    // UNIQUE ones) were dropped for the run and are back, as they were.
    assert_eq!(report.restored_indexes.len(), 3, "{report:?}");
    assert_eq!(index_lines(&mut sql, "clone1"), indexes);
    assert_eq!(recorded_indexes(&mut sql, "clone1"), 0);

    // The blobs were not touched.
    assert_eq!(imprint_sum(&mut sql, "clone1"), before);

    // Every value is exactly mask(original): changed where the transformer
    // changes it, NULL and '' kept.
    let masker = Masker::new(&r, &key(1));
    let src = table(&mut sql, "src", &SIX);
    let masked = table(&mut sql, "clone1", &SIX);
    assert_eq!(src.len(), 20_000);
    let mut changed = [0usize; 6];
    for (id, orig) in &src {
        let now = &masked[id];
        for (ci, col) in SIX.iter().enumerate() {
            let o = orig[ci].as_deref();
            let expected = masker.mask_bytes("main", col, o).unwrap();
            assert_eq!(
                now[ci].as_deref(),
                expected.as_deref().map(str::as_bytes),
                "{col} of row {id}"
            );
            match o {
                None => assert!(now[ci].is_none(), "{col} NULL stays NULL"),
                Some(b"") => assert_eq!(now[ci].as_deref(), Some(&b""[..])),
                Some(o) if now[ci].as_deref() != Some(o) => changed[ci] += 1,
                Some(_) => {}
            }
        }
    }
    for (ci, col) in SIX.iter().enumerate() {
        // Only city can map to itself (a built-in list); the rest always change.
        let min = if *col == "city" { 18_000 } else { 19_500 };
        assert!(changed[ci] >= min, "{col}: only {} changed", changed[ci]);
    }
    assert_eq!(
        sql.int("SELECT COUNT(*) FROM clone1.main WHERE pid <> 0"),
        0,
        "server-side fixed"
    );

    // Uniqueness and shapes.
    for col in ["email", "guid"] {
        let (d, n) = (
            sql.int(&format!("SELECT COUNT(DISTINCT {col}) FROM clone1.main")),
            sql.int(&format!("SELECT COUNT({col}) FROM clone1.main")),
        );
        assert_eq!(d, n, "{col} unique");
    }
    for v in masked.values() {
        let e = std::str::from_utf8(v[1].as_deref().unwrap()).unwrap();
        assert!(looks_like_email(e), "{e}");
        let g = std::str::from_utf8(v[5].as_deref().unwrap()).unwrap();
        assert_eq!(g.len(), 36, "{g}");
    }

    // Same key, other threads/chunking/strategy, indexes kept during the
    // run: identical result.
    let copy2_indexes = index_lines(&mut sql, "copy2");
    let mut o2 = opts(1, 3000, WriteStrategy::Case);
    o2.drop_indexes = false;
    let r2 = mask_database(&server.url("copy2"), &r, &key(1), &o2, |_| {}).expect("mask copy2");
    assert_eq!(r2.rows_total, 20_000);
    assert!(r2.restored_indexes.is_empty(), "{r2:?}");
    assert_eq!(index_lines(&mut sql, "copy2"), copy2_indexes);
    let mut all = SIX.to_vec();
    all.push("pid");
    assert_eq!(
        checksum(&mut sql, "copy2", &all),
        checksum(&mut sql, "clone1", &all)
    );
    // Another key: other values.
    mask_database(
        &server.url("copy3"),
        &r,
        &key(2),
        &MaskOptions::default(),
        |_| {},
    )
    .expect("mask copy3");
    assert_ne!(
        checksum(&mut sql, "copy3", &SIX),
        checksum(&mut sql, "clone1", &SIX)
    );
    for col in ["email", "guid", "street"] {
        let same = sql.int(&format!(
            "SELECT COUNT(*) FROM clone1.main a JOIN copy3.main b USING (id) WHERE a.{col} = b.{col}"
        ));
        assert_eq!(same, 0, "{col} under two keys");
    }

    // verify: passes for the right key, fails for the wrong one.
    let v = verify(&server.url("clone1"), &server.url("src"), &r, &key(1), 2000).unwrap();
    assert!(v.passed(), "{v:?}");
    assert_eq!(v.rows_sampled, 2000);
    assert_eq!(v.columns.len(), 7);
    assert!(v.columns.iter().all(|c| c.checked == 2000), "{v:?}");
    let v = verify(&server.url("copy3"), &server.url("src"), &r, &key(1), 500).unwrap();
    assert!(!v.passed());
    assert!(
        v.columns
            .iter()
            .filter(|c| c.column == "email")
            .all(|c| c.mismatches == 500),
        "{v:?}"
    );

    // verify catches a column left unmasked.
    let city_only = rules(
        "version: 1\ntables:\n  main:\n    primary_key: id\n    columns:\n      city: city\n",
    );
    let city_street = rules(
        "version: 1\ntables:\n  main:\n    primary_key: id\n    columns:\n      city: city\n      street: street\n",
    );
    mask_database(
        &server.url("copy4"),
        &city_only,
        &key(1),
        &MaskOptions::default(),
        |_| {},
    )
    .expect("mask copy4");
    let v = verify(
        &server.url("copy4"),
        &server.url("src"),
        &city_only,
        &key(1),
        1000,
    )
    .unwrap();
    assert!(v.passed(), "{v:?}");
    let v = verify(
        &server.url("copy4"),
        &server.url("src"),
        &city_street,
        &key(1),
        1000,
    )
    .unwrap();
    assert!(!v.passed());
    let street = v.columns.iter().find(|c| c.column == "street").unwrap();
    let city = v.columns.iter().find(|c| c.column == "city").unwrap();
    assert!(street.unchanged_originals > 900, "{street:?}");
    assert_eq!((city.unchanged_originals, city.mismatches), (0, 0));

    // A second run over the finished clone changes nothing.
    let sum = checksum(&mut sql, "clone1", &all);
    let again = mask_database(
        &server.url("clone1"),
        &r,
        &key(1),
        &MaskOptions::default(),
        |_| {},
    )
    .expect("re-run");
    assert_eq!((again.rows_total, again.resumed_chunks), (0, 10));
    assert_eq!(checksum(&mut sql, "clone1", &all), sum);
}

#[test]
fn interrupted_run_resumes_to_the_same_result() {
    let server = Server::started();
    generate(&server, "part", 20_000);
    let mut sql = Sql::new(&server.url("part"));
    copy_db(&mut sql, "part", "clean");
    let r = rules(RULES);
    let mut all = SIX.to_vec();
    all.push("pid");

    // Cancel after 3 chunks (of 20); the workers finish the chunk they are on.
    let cancel = Arc::new(AtomicBool::new(false));
    let mut o = opts(2, 1000, WriteStrategy::TempJoin);
    o.cancel = Some(cancel.clone());
    let flag = cancel.clone();
    let err = mask_database(&server.url("part"), &r, &key(1), &o, move |p| {
        if p.chunks_done >= 3 {
            flag.store(true, Ordering::SeqCst);
        }
    })
    .unwrap_err();
    let MaskDbError::Cancelled { chunks_done } = err else {
        panic!("{err}")
    };
    assert!((3..20).contains(&chunks_done), "{chunks_done}");
    let recorded = progress_rows(&mut sql, "part");
    assert_eq!(recorded, chunks_done as i64);
    // Exactly the recorded chunks are masked.
    let unchanged = sql.int(
        "SELECT COUNT(*) FROM part.main a JOIN clean.main b USING (id) WHERE a.email = b.email",
    );
    assert_eq!(unchanged, 20_000 - recorded * 1000);

    // Resuming with another key or another chunk size is refused, unchanged.
    let before = checksum(&mut sql, "part", &all);
    let e = mask_database(
        &server.url("part"),
        &r,
        &key(2),
        &opts(2, 1000, WriteStrategy::TempJoin),
        |_| {},
    )
    .unwrap_err();
    assert!(matches!(e, MaskDbError::KeyMismatch { .. }), "{e}");
    assert!(e.to_string().contains(key(1).key_id()), "{e}");
    let e = mask_database(
        &server.url("part"),
        &r,
        &key(1),
        &opts(2, 700, WriteStrategy::TempJoin),
        |_| {},
    )
    .unwrap_err();
    assert!(matches!(e, MaskDbError::ChunkLayout { .. }), "{e}");
    assert!(e.to_string().contains("chunk_rows"), "{e}");
    assert_eq!(checksum(&mut sql, "part", &all), before);

    // Resume, and compare with a clean single run of the same source.
    let resumed = mask_database(
        &server.url("part"),
        &r,
        &key(1),
        &opts(2, 1000, WriteStrategy::TempJoin),
        |_| {},
    )
    .expect("resume");
    assert_eq!(resumed.resumed_chunks, recorded as u64);
    assert_eq!(resumed.rows_total, 20_000 - recorded as u64 * 1000);
    assert_eq!(progress_rows(&mut sql, "part"), 20);
    let clean = mask_database(
        &server.url("clean"),
        &r,
        &key(1),
        &MaskOptions::default(),
        |_| {},
    )
    .expect("clean");
    assert_eq!(clean.resumed_chunks, 0);
    assert_eq!(
        checksum(&mut sql, "part", &all),
        checksum(&mut sql, "clean", &all)
    );
}

#[test]
fn bad_rules_are_clear_errors_and_change_nothing() {
    let server = Server::started();
    generate(&server, "db", 500);
    let mut sql = Sql::new(&server.url("db"));
    sql.run(
        "CREATE TABLE db.vk (k varchar(10) PRIMARY KEY, email varchar(100)) \
         CHARACTER SET utf8mb4",
    );
    sql.run("CREATE TABLE db.two (a int, b int, email varchar(100), PRIMARY KEY (a, b))");
    let cols = [
        "id",
        "guid",
        "pid",
        "street",
        "zip",
        "city",
        "email",
        "name",
        "MD5(imprint)",
    ];
    let before = checksum(&mut sql, "db", &cols);
    let url = server.url("db");
    let run = |yaml: &str| {
        mask_database(&url, &rules(yaml), &key(1), &MaskOptions::default(), |_| {}).unwrap_err()
    };
    let head = "version: 1\ntables:\n";

    // A missing column is named, with the columns that do exist; checked
    // before anything is written (main's valid rules come first).
    let e = run(&format!(
        "{head}  main:\n    primary_key: id\n    columns:\n      email: email\n      phone: phone\n"
    ));
    let m = e.to_string();
    assert!(matches!(e, MaskDbError::MissingColumn { .. }), "{m}");
    assert!(
        m.contains("`main`.`phone`") && m.contains("does not exist"),
        "{m}"
    );
    assert!(m.contains("imprint"), "lists existing columns: {m}");

    let e = run(&format!(
        "{head}  main:\n    primary_key: id\n    columns:\n      email: email\n  customers:\n    primary_key: id\n    columns:\n      email: email\n"
    ));
    assert!(matches!(e, MaskDbError::MissingTable { .. }), "{e}");
    assert!(e.to_string().contains("`customers`"), "{e}");

    let e = run(&format!(
        "{head}  main:\n    primary_key: guid\n    columns:\n      email: email\n"
    ));
    assert!(e.to_string().contains("primary key is `guid`"), "{e}");

    let e = run(&format!(
        "{head}  two:\n    primary_key: [a, b]\n    columns:\n      email: email\n"
    ));
    assert!(matches!(e, MaskDbError::PrimaryKey { .. }), "{e}");
    assert!(e.to_string().contains("not supported yet"), "{e}");
    let e = run(&format!(
        "{head}  two:\n    primary_key: a\n    columns:\n      email: email\n"
    ));
    assert!(
        e.to_string().contains("composite primary key (a, b)"),
        "{e}"
    );
    assert!(e.to_string().contains("not supported yet"), "{e}");

    let e = run(&format!(
        "{head}  vk:\n    primary_key: k\n    columns:\n      email: email\n"
    ));
    assert!(e.to_string().contains("non-integer primary keys"), "{e}");
    assert!(e.to_string().contains("not supported yet"), "{e}");

    assert_eq!(checksum(&mut sql, "db", &cols), before);
    assert_eq!(
        sql.int(
            "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = 'db' \
             AND TABLE_NAME = 'populous_mask_progress'"
        ),
        0,
        "no progress table after refused runs"
    );

    // Bad bytes: the row is named, the value is not; the chunk is rolled back.
    sql.run("CREATE TABLE db.odd (id int PRIMARY KEY, name varbinary(40), note varchar(40))");
    sql.run(
        "INSERT INTO db.odd VALUES (1, 'Ann Lee', 'secret one'), (2, X'c3284a6f', NULL), \
         (3, 'Bo Ek', '')",
    );
    let e = run(&format!(
        "{head}  odd:\n    primary_key: id\n    columns:\n      name: person_name\n      note: redact\n"
    ));
    let m = e.to_string();
    assert!(matches!(e, MaskDbError::Mask { .. }), "{m}");
    assert!(m.contains("`odd`.`name`") && m.contains("`id` = 2"), "{m}");
    assert!(!m.contains("Ann") && !m.contains("secret"), "{m}");
    assert_eq!(
        sql.int("SELECT COUNT(*) FROM db.odd WHERE name = 'Ann Lee'"),
        1
    );
    assert_eq!(sql.int("SELECT COUNT(*) FROM db.populous_mask_progress"), 0);

    // A masked value too long for its column (64 hex digits into 40 bytes).
    let e = run(&format!(
        "{head}  odd:\n    primary_key: id\n    columns:\n      name: keyed_hash\n"
    ));
    assert!(matches!(e, MaskDbError::TooLong { .. }), "{e}");
    assert!(e.to_string().contains("'name'"), "{e}");
    sql.run("ALTER TABLE db.odd MODIFY name varbinary(80)");

    // keyed_hash takes any bytes; redact runs server-side (NULL and '' kept).
    let ok = rules(&format!(
        "{head}  odd:\n    primary_key: id\n    columns:\n      name: keyed_hash\n      note: redact\n"
    ));
    let rep = mask_database(&url, &ok, &key(1), &MaskOptions::default(), |_| {}).unwrap();
    assert_eq!(rep.rows_total, 3);
    assert_eq!(rep.tables[0].server_side_columns, vec!["note".to_string()]);
    let rows = sql.rows("SELECT id, name, note FROM db.odd ORDER BY id");
    let masker = Masker::new(&ok, &key(1));
    assert_eq!(
        bytes(&rows[1][1]).unwrap(),
        masker
            .mask_bytes("odd", "name", Some(b"\xc3\x28\x4a\x6f"))
            .unwrap()
            .unwrap()
            .into_bytes()
    );
    assert_eq!(bytes(&rows[0][2]).unwrap(), b"**********");
    assert_eq!(bytes(&rows[1][2]), None);
    assert_eq!(bytes(&rows[2][2]).unwrap(), b"");
    // main was never touched.
    assert_eq!(checksum(&mut sql, "db", &cols), before);
}

/// A million rows: masking is injective on the unique columns (as many distinct
/// masked values as distinct originals; the generator repeats some emails, so the
/// test compares distinct counts), the database's own UNIQUE index on guid holds
/// throughout, and nothing else is touched.
#[test]
fn a_million_rows_stay_unique() {
    const ROWS: u64 = 1_000_000;
    // The whole table in memory: this test is about uniqueness, not disk speed.
    let server = Server::started_with("1G");
    let mut o = GenerateOptions::rows(ROWS);
    o.blob_size = 16;
    generate_blocking(&server.url("big"), &o, |_| {}).expect("generate");
    let mut sql = Sql::new(&server.url("big"));
    let before = imprint_sum(&mut sql, "big");
    let distinct = |sql: &mut Sql| {
        let r =
            sql.rows("SELECT COUNT(DISTINCT email), COUNT(DISTINCT guid), COUNT(*) FROM big.main");
        (int(&r[0][0]), int(&r[0][1]), int(&r[0][2]))
    };
    let originals = distinct(&mut sql);
    assert_eq!(originals.1, ROWS as i64, "generated guids are unique");
    // The UNIQUE index is dropped for the run and re-created at the end: a
    // collision on guid would fail that with IndexRestore.
    sql.run("ALTER TABLE big.main ADD UNIQUE INDEX guid_u (guid)");
    let report = mask_database(
        &server.url("big"),
        &rules(RULES),
        &key(7),
        &opts(2, 10_000, WriteStrategy::TempJoin),
        |_| {},
    )
    .expect("mask a million rows");
    assert_eq!(report.rows_total, ROWS);
    assert_eq!(report.restored_indexes.len(), 2, "{report:?}");
    assert!(
        index_lines(&mut sql, "big").contains(&"UNIQUE KEY `guid_u` (`guid`)".to_string()),
        "the UNIQUE index is back"
    );
    assert_eq!(distinct(&mut sql), originals, "injective on email and guid");
    assert_eq!(
        imprint_sum(&mut sql, "big"),
        before,
        "the blobs were not rewritten"
    );
}

/// An interrupted run leaves the indexes on masked columns dropped and
/// recorded; the resumed run re-creates exactly them (UNIQUE ones proving
/// uniqueness), and indexes on other columns are never touched.
#[test]
fn interrupted_run_with_dropped_indexes_restores_them() {
    let server = Server::started();
    generate(&server, "part", 20_000);
    let mut sql = Sql::new(&server.url("part"));
    sql.run("UPDATE part.main SET email = CONCAT(id, '.', email)");
    copy_db(&mut sql, "part", "clean");
    sql.run(
        "ALTER TABLE part.main ADD UNIQUE INDEX email_u (email), \
         ADD UNIQUE INDEX `guid ``u``` (guid, pid) COMMENT 'masked', ADD INDEX pid_i (pid)",
    );
    let before = index_lines(&mut sql, "part");
    assert_eq!(before.len(), 4, "{before:?}");
    let r = rules(
        RULES
            .replace("      pid:    { transform: fixed, value: '0' }\n", "")
            .as_str(),
    );

    let cancel = Arc::new(AtomicBool::new(false));
    let mut o = opts(2, 1000, WriteStrategy::TempJoin);
    o.cancel = Some(cancel.clone());
    let flag = cancel.clone();
    let err = mask_database(&server.url("part"), &r, &key(1), &o, move |p| {
        if p.chunks_done >= 3 {
            flag.store(true, Ordering::SeqCst);
        }
    })
    .unwrap_err();
    assert!(matches!(err, MaskDbError::Cancelled { .. }), "{err}");
    // Only the index on an unmasked column is left; the three others are
    // recorded with their exact definitions.
    assert_eq!(
        index_lines(&mut sql, "part"),
        vec!["KEY `pid_i` (`pid`)".to_string()]
    );
    assert_eq!(recorded_indexes(&mut sql, "part"), 3);
    let recorded =
        sql.rows("SELECT definition FROM part.populous_mask_indexes ORDER BY index_name");
    let mut defs: Vec<String> = recorded
        .iter()
        .map(|r| String::from_utf8(bytes(&r[0]).unwrap()).unwrap())
        .collect();
    defs.push("KEY `pid_i` (`pid`)".to_string());
    defs.sort();
    assert_eq!(defs, before);

    // Resuming without dropping indexes still re-creates the recorded ones.
    let mut o = opts(2, 1000, WriteStrategy::TempJoin);
    o.drop_indexes = false;
    let resumed = mask_database(&server.url("part"), &r, &key(1), &o, |_| {}).expect("resume");
    assert!(resumed.resumed_chunks >= 3, "{resumed:?}");
    assert_eq!(resumed.restored_indexes.len(), 3, "{resumed:?}");
    assert_eq!(index_lines(&mut sql, "part"), before);
    assert_eq!(recorded_indexes(&mut sql, "part"), 0);

    let clean = mask_database(
        &server.url("clean"),
        &r,
        &key(1),
        &MaskOptions::default(),
        |_| {},
    )
    .expect("clean");
    assert_eq!(clean.restored_indexes, vec!["`main`.`guid`".to_string()]);
    assert_eq!(
        checksum(&mut sql, "part", &SIX),
        checksum(&mut sql, "clean", &SIX)
    );
}

/// A UNIQUE index the masked data cannot satisfy (cities come from a
/// built-in list, so masked cities repeat) is reported, not skipped: the
/// data is masked, the index stays recorded, and every run says so until
/// the cause is fixed.
#[test]
fn a_unique_index_that_cannot_come_back_is_an_error() {
    let server = Server::started();
    generate(&server, "db", 3000);
    let mut sql = Sql::new(&server.url("db"));
    sql.run("UPDATE db.main SET city = CONCAT(id, ' ', city)");
    sql.run("ALTER TABLE db.main ADD UNIQUE INDEX city_u (city(60))");
    let r = rules(RULES);
    let run = || {
        mask_database(
            &server.url("db"),
            &r,
            &key(1),
            &MaskOptions::default(),
            |_| {},
        )
    };
    let e = run().unwrap_err();
    let m = e.to_string();
    let MaskDbError::IndexRestore { table, index, .. } = &e else {
        panic!("{m}")
    };
    assert_eq!((table.as_str(), index.as_str()), ("main", "city_u"));
    assert!(
        m.contains("not unique") && m.contains("populous_mask_indexes"),
        "{m}"
    );
    assert!(m.contains("UNIQUE KEY `city_u` (`city`(60))"), "{m}");
    // Masking itself finished; the seed's guid index came back.
    assert_eq!(progress_rows(&mut sql, "db"), 2);
    assert_eq!(
        index_lines(&mut sql, "db"),
        vec!["KEY `guid` (`guid`)".to_string()]
    );
    assert_eq!(recorded_indexes(&mut sql, "db"), 1);
    // A re-run masks nothing and reports the same.
    let e = run().unwrap_err();
    assert!(matches!(e, MaskDbError::IndexRestore { .. }), "{e}");
    assert_eq!(progress_rows(&mut sql, "db"), 2);
    // Once the recorded definition is fixed (here: made non-unique), the
    // re-run re-creates it.
    sql.run("UPDATE db.populous_mask_indexes SET definition = 'KEY `city_u` (`city`(60))'");
    let rep = run().expect("re-created");
    assert_eq!(rep.rows_total, 0);
    assert_eq!(rep.restored_indexes, vec!["`main`.`city_u`".to_string()]);
    assert_eq!(recorded_indexes(&mut sql, "db"), 0);
}
