//! In-place masking against real `mariadbd` instances on temp dirs. Every
//! server is stopped by a Drop guard, so a failing test leaves no process
//! behind. No sleeps: every step waits for the statement it depends on.
//! Every test needs MariaDB, hence the `mariadb_` prefix (`cargo test --
//! mariadb_` selects them, `--skip mariadb_` skips them).

mod support;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use mysql_async::Value;
use populous_app::{generate_blocking, GenerateOptions};
use populous_mask::db::{
    mask_database, verify, MaskDbError, MaskOptions, MaskReport, VerifyReport, WriteStrategy,
};
use populous_mask::{Masker, RuleSet};
use support::{bytes, int, key, rules, seed_rules, Server, Sql, SIX};

// ---------------------------------------------------------------- fixtures

/// The seed's six columns plus `pid`, masked server-side.
const RULES: &str = concat!(
    seed_rules!(),
    "      pid:    { transform: fixed, value: '0' }\n"
);

/// Masks `db` with the default options and key `k`.
fn mask(server: &Server, db: &str, r: &RuleSet, k: u8) -> Result<MaskReport, MaskDbError> {
    mask_with(server, db, r, k, &MaskOptions::default())
}

/// Masks `db` with `o` and key `k`.
fn mask_with(
    server: &Server,
    db: &str,
    r: &RuleSet,
    k: u8,
    o: &MaskOptions,
) -> Result<MaskReport, MaskDbError> {
    mask_database(&server.url(db), r, &key(k), o, |_| {})
}

/// Masks `db` with key 1, 2 threads and 1000 ids per chunk (temp-join),
/// cancelled once 3 chunks are done; the workers finish the chunk they
/// are on, so 3 or a few more chunks are committed.
fn mask_cancelled(server: &Server, db: &str, r: &RuleSet) -> MaskDbError {
    let cancel = Arc::new(AtomicBool::new(false));
    let mut o = temp_join(1000);
    o.cancel = Some(cancel.clone());
    mask_database(&server.url(db), r, &key(1), &o, move |p| {
        if p.chunks_done >= 3 {
            cancel.store(true, Ordering::SeqCst);
        }
    })
    .unwrap_err()
}

/// Verifies `clone` against `src` with key `k` over `sample` rows.
fn verify_db(server: &Server, clone: &str, r: &RuleSet, k: u8, sample: usize) -> VerifyReport {
    verify(&server.url(clone), &server.url("src"), r, &key(k), sample).unwrap()
}

/// Generates `rows` seed rows (1 KiB blobs) into database `db`.
fn generate(server: &Server, db: &str, rows: u64) {
    let mut o = GenerateOptions::rows(rows);
    o.blob_size = 1024;
    generate_blocking(&server.url(db), &o, |_| {}).expect("generate");
}

/// A server with `rows` seed rows in database `db`, and a session on it.
fn seeded(db: &str, rows: u64) -> (Server, Sql) {
    let server = Server::started();
    generate(&server, db, rows);
    let sql = Sql::binary(&server.url(db));
    (server, sql)
}

/// Asserts that `a.main` and `b.main` hold the same `columns`.
fn assert_same(sql: &mut Sql, a: &str, b: &str, columns: &[&str]) {
    assert_eq!(
        checksum(sql, a, columns),
        checksum(sql, b, columns),
        "{a} vs {b}"
    );
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

/// 2 threads writing with temp-join, `chunk_rows` ids per chunk.
fn temp_join(chunk_rows: u64) -> MaskOptions {
    opts(2, chunk_rows, WriteStrategy::TempJoin)
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
fn mariadb_masks_in_place_deterministically_and_verifies() {
    let (server, mut sql) = seeded("clone1", 20_000);
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
    let report = mask(&server, "clone1", &r, 1).expect("mask");
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
    let r2 = mask_with(&server, "copy2", &r, 1, &o2).expect("mask copy2");
    assert_eq!(r2.rows_total, 20_000);
    assert!(r2.restored_indexes.is_empty(), "{r2:?}");
    assert_eq!(index_lines(&mut sql, "copy2"), copy2_indexes);
    let mut all = SIX.to_vec();
    all.push("pid");
    assert_same(&mut sql, "copy2", "clone1", &all);
    // Another key: other values.
    mask(&server, "copy3", &r, 2).expect("mask copy3");
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
    let v = verify_db(&server, "clone1", &r, 1, 2000);
    assert!(v.passed(), "{v:?}");
    assert_eq!(v.rows_sampled, 2000);
    assert_eq!(v.columns.len(), 7);
    assert!(v.columns.iter().all(|c| c.checked == 2000), "{v:?}");
    let v = verify_db(&server, "copy3", &r, 1, 500);
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
    mask(&server, "copy4", &city_only, 1).expect("mask copy4");
    let v = verify_db(&server, "copy4", &city_only, 1, 1000);
    assert!(v.passed(), "{v:?}");
    let v = verify_db(&server, "copy4", &city_street, 1, 1000);
    assert!(!v.passed());
    let street = v.columns.iter().find(|c| c.column == "street").unwrap();
    let city = v.columns.iter().find(|c| c.column == "city").unwrap();
    assert!(street.unchanged_originals > 900, "{street:?}");
    assert_eq!((city.unchanged_originals, city.mismatches), (0, 0));

    // A second run over the finished clone changes nothing.
    let sum = checksum(&mut sql, "clone1", &all);
    let again = mask(&server, "clone1", &r, 1).expect("re-run");
    assert_eq!((again.rows_total, again.resumed_chunks), (0, 10));
    assert_eq!(checksum(&mut sql, "clone1", &all), sum);
}

#[test]
fn mariadb_interrupted_run_resumes_to_the_same_result() {
    let (server, mut sql) = seeded("part", 20_000);
    copy_db(&mut sql, "part", "clean");
    let r = rules(RULES);
    let mut all = SIX.to_vec();
    all.push("pid");

    // Cancel after 3 chunks (of 20); the workers finish the chunk they are on.
    let err = mask_cancelled(&server, "part", &r);
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
    let e = mask_with(&server, "part", &r, 2, &temp_join(1000)).unwrap_err();
    assert!(matches!(e, MaskDbError::KeyMismatch { .. }), "{e}");
    assert!(e.to_string().contains(key(1).key_id()), "{e}");
    let e = mask_with(&server, "part", &r, 1, &temp_join(700)).unwrap_err();
    assert!(matches!(e, MaskDbError::ChunkLayout { .. }), "{e}");
    assert!(e.to_string().contains("chunk_rows"), "{e}");
    assert_eq!(checksum(&mut sql, "part", &all), before);

    // Resume, and compare with a clean single run of the same source.
    let resumed = mask_with(&server, "part", &r, 1, &temp_join(1000)).expect("resume");
    assert_eq!(resumed.resumed_chunks, recorded as u64);
    assert_eq!(resumed.rows_total, 20_000 - recorded as u64 * 1000);
    assert_eq!(progress_rows(&mut sql, "part"), 20);
    let clean = mask(&server, "clean", &r, 1).expect("clean");
    assert_eq!(clean.resumed_chunks, 0);
    assert_same(&mut sql, "part", "clean", &all);
}

#[test]
fn mariadb_bad_rules_are_clear_errors_and_change_nothing() {
    let (server, mut sql) = seeded("db", 500);
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
    let run = |yaml: &str| mask(&server, "db", &rules(yaml), 1).unwrap_err();
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

    // Tables and keys the masking cannot use: (rules, variant, what the
    // message must say).
    let email = "    columns:\n      email: email\n";
    let cases: [(String, &str, &[&str]); 5] = [
        (
            format!(
                "  main:\n    primary_key: id\n{email}  customers:\n    primary_key: id\n{email}"
            ),
            "MissingTable",
            &["`customers`"],
        ),
        (
            format!("  main:\n    primary_key: guid\n{email}"),
            "PrimaryKey",
            &["primary key is `guid`"],
        ),
        (
            format!("  two:\n    primary_key: [a, b]\n{email}"),
            "PrimaryKey",
            &["not supported yet"],
        ),
        (
            format!("  two:\n    primary_key: a\n{email}"),
            "PrimaryKey",
            &["composite primary key (a, b)", "not supported yet"],
        ),
        (
            format!("  vk:\n    primary_key: k\n{email}"),
            "PrimaryKey",
            &["non-integer primary keys", "not supported yet"],
        ),
    ];
    for (tables, variant, says) in cases {
        let e = run(&format!("{head}{tables}"));
        assert!(format!("{e:?}").starts_with(variant), "{variant}: {e}");
        for part in says {
            assert!(e.to_string().contains(part), "{part}: {e}");
        }
    }

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
    let rep = mask(&server, "db", &ok, 1).unwrap();
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
fn mariadb_a_million_rows_stay_unique() {
    const ROWS: u64 = 1_000_000;
    // The whole table in memory: this test is about uniqueness, not disk speed.
    let server = Server::started_with("1G");
    let mut o = GenerateOptions::rows(ROWS);
    o.blob_size = 16;
    generate_blocking(&server.url("big"), &o, |_| {}).expect("generate");
    let mut sql = Sql::binary(&server.url("big"));
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
    let report = mask_with(&server, "big", &rules(RULES), 7, &temp_join(10_000))
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
fn mariadb_interrupted_run_with_dropped_indexes_restores_them() {
    let (server, mut sql) = seeded("part", 20_000);
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

    let err = mask_cancelled(&server, "part", &r);
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
    let mut o = temp_join(1000);
    o.drop_indexes = false;
    let resumed = mask_with(&server, "part", &r, 1, &o).expect("resume");
    assert!(resumed.resumed_chunks >= 3, "{resumed:?}");
    assert_eq!(resumed.restored_indexes.len(), 3, "{resumed:?}");
    assert_eq!(index_lines(&mut sql, "part"), before);
    assert_eq!(recorded_indexes(&mut sql, "part"), 0);

    let clean = mask(&server, "clean", &r, 1).expect("clean");
    assert_eq!(clean.restored_indexes, vec!["`main`.`guid`".to_string()]);
    assert_same(&mut sql, "part", "clean", &SIX);
}

/// A UNIQUE index the masked data cannot satisfy (cities come from a
/// built-in list, so masked cities repeat) is reported, not skipped: the
/// data is masked, the index stays recorded, and every run says so until
/// the cause is fixed.
#[test]
fn mariadb_a_unique_index_that_cannot_come_back_is_an_error() {
    let (server, mut sql) = seeded("db", 3000);
    sql.run("UPDATE db.main SET city = CONCAT(id, ' ', city)");
    sql.run("ALTER TABLE db.main ADD UNIQUE INDEX city_u (city(60))");
    let r = rules(RULES);
    let run = || mask(&server, "db", &r, 1);
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
