//! Databases on volumes with real MariaDB: a server on a volume, an
//! application-consistent snapshot taken while a writer runs, a clone started
//! as its own server with exactly the rows of the snapshot point, the app
//! serving `/_ping` from the clone, the generator's determinism, and the probe
//! recording, reporting and drawing. Named `loopdev_mariadb_…`: root, loop
//! devices and MariaDB.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

mod common;

use common::{image_pool, json, ok, ok_all, run as populous, sql, Servers};
use populous_testkit::Lab;
use serde_json::Value;

/// Pool p (image of `size`), folders prod and dev (clones from prod), the
/// empty volume prod/db; and the guard for the servers the test will start.
fn setup(lab: &Lab, size: &str) -> (PathBuf, Servers) {
    let home = image_pool(lab, size, &[]);
    ok_all(
        &home,
        &[
            &["folder", "create", "p/prod"],
            &["folder", "create", "p/dev", "--clone-from", "prod"],
            &["volume", "create", "prod/db"],
        ],
    );
    let servers = Servers {
        home: home.clone(),
        volumes: Vec::new(),
    };
    (home, servers)
}

/// The arguments of `generate --volume VOLUME --rows ROWS --blob-size BLOB EXTRA…`.
fn generate<'a>(volume: &'a str, rows: &'a str, blob: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "generate",
        "--volume",
        volume,
        "--rows",
        rows,
        "--blob-size",
        blob,
    ];
    args.extend_from_slice(extra);
    args
}

/// The socket of a server `db start` reported.
fn socket(started: &Value) -> String {
    started["socket"].as_str().expect("socket").to_owned()
}

/// Count and checksum of table `main` up to `max_id`.
fn digest(socket: &str, max_id: u64) -> String {
    sql(
        socket,
        &format!(
            "SELECT COUNT(*), SUM(CRC32(CONCAT_WS('|', id, BINARY guid, pid, BINARY street, BINARY zip, \
               BINARY city, BINARY email, BINARY name, MD5(imprint)))) FROM main WHERE id <= {max_id}"
        ),
    )
}

#[test]
fn loopdev_mariadb_snapshot_clone_app_and_probe() {
    let lab = Lab::new();
    let (home, mut servers) = setup(&lab, "2G");
    let h = home.as_path();
    let prod = servers.start("prod/db");
    let prod_sock = socket(&prod);
    // Starting again is a no-op that says so.
    assert_eq!(json(h, &["db", "start", "prod/db"])["changed"], false);
    // A volume with a running server cannot be taken offline under it.
    let out = populous(h, &["volume", "offline", "prod/db"]);
    assert_eq!(
        out.status.code(),
        Some(6),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Generate, then keep a writer running: transactions of 5 rows each.
    let gen = json(h, &generate("prod/db", "300", "4K", &["--seed", "7"]));
    assert_eq!(gen["rows_total"], 300);
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let stop = Arc::clone(&stop);
        let sock = prod_sock.clone();
        std::thread::spawn(move || {
            let mut batches = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let values = (0..5)
                    .map(|k| format!("(UUID(), {}, 'w', '00000', 'w', 'w@example.com', 'writer', REPEAT('x', 4096))", batches * 5 + k))
                    .collect::<Vec<_>>()
                    .join(",");
                sql(&sock, &format!("BEGIN; INSERT INTO main (guid, pid, street, zip, city, email, name, imprint) VALUES {values}; COMMIT;"));
                batches += 1;
            }
            batches
        })
    };
    // Wait until the writer has committed something (a condition, not a delay).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while sql(&prod_sock, "SELECT COUNT(*) FROM main")
        .parse::<u64>()
        .expect("count")
        <= 300
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the writer never committed"
        );
    }
    let snap = json(h, &["snapshot", "create", "prod/db@s1"]);
    assert_eq!(
        snap["consistency"], "app",
        "a snapshot of a volume with a running server is quiesced"
    );
    let clone = json(h, &["clone", "prod/db@s1", "dev/c1"]);
    assert_eq!(clone["origin"], "prod/db@s1");
    let dev = servers.start("dev/c1");
    let dev_sock = socket(&dev);
    assert_ne!(dev["port"], prod["port"]);
    // The original kept serving (the writer is still going), then stop it.
    stop.store(true, Ordering::Relaxed);
    let batches = writer.join().expect("writer");
    assert!(batches > 0);

    // The clone holds exactly a prefix of whole transactions, identical to prod's rows up to it.
    let clone_count: u64 = sql(&dev_sock, "SELECT COUNT(*) FROM main")
        .parse()
        .expect("count");
    assert!(clone_count > 300, "the clone has the writer's early rows");
    assert_eq!(
        (clone_count - 300) % 5,
        0,
        "no torn transaction in the clone"
    );
    let max_id: u64 = sql(&dev_sock, "SELECT MAX(id) FROM main")
        .parse()
        .expect("max");
    assert_eq!(
        digest(&dev_sock, max_id),
        digest(&prod_sock, max_id),
        "same rows at the snapshot point"
    );
    let prod_count: u64 = sql(&prod_sock, "SELECT COUNT(*) FROM main")
        .parse()
        .expect("count");
    assert!(prod_count >= clone_count);
    let ls = json(h, &["db", "ls"]);
    assert_eq!(
        ls.as_array()
            .expect("array")
            .iter()
            .filter(|d| d["running"] == true)
            .count(),
        2
    );

    // The generator is deterministic: the clone's first 300 rows equal a fresh run with the same seed.
    ok(h, &["volume", "create", "dev/fresh"]);
    let fresh = servers.start("dev/fresh");
    let fresh_sock = socket(&fresh);
    ok(
        h,
        &generate("dev/fresh", "300", "4K", &["--seed", "7", "--threads", "1"]),
    );
    assert_eq!(
        digest(&fresh_sock, 10_000_299),
        digest(&dev_sock, 10_000_299)
    );
    let out = populous(h, &generate("dev/fresh", "300", "4K", &[]));
    assert!(
        !out.status.success(),
        "a non-empty table is refused without --resume"
    );

    // The app serves /_ping from the clone, and the probe records, reports and draws.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let config = populous_app::ServeConfig::new(
        format!("{}populous", dev["url"].as_str().expect("url")),
        "1.0.1-28",
    );
    let (stop_app, stopped) = tokio::sync::oneshot::channel::<()>();
    let app = rt.spawn(populous_app::serve(listener, config, async move {
        let _ = stopped.await;
    }));
    let csv = lab.path().join("probe.csv");
    let chart = lab.path().join("probe.png");
    let url = format!("http://{addr}/_ping");
    let out = ok(
        h,
        &[
            "probe",
            "--url",
            &url,
            "--interval",
            "50ms",
            "--count",
            "20",
            "--mark",
            "half@500ms",
            "--out",
            csv.to_str().expect("utf-8"),
        ],
    );
    assert!(out.contains("20 samples, 20 ok, 0 errors"), "{out}");
    let report = json(
        h,
        &[
            "probe",
            "report",
            csv.to_str().expect("utf-8"),
            "--chart",
            chart.to_str().expect("utf-8"),
            "--json",
        ],
    );
    assert_eq!(report["phases"][1]["name"], "half");
    assert_eq!(
        report["phases"][0]["versions"][0]["value"], "1.0.1-28",
        "{report}"
    );
    assert!(std::fs::metadata(&chart).expect("chart").len() > 10_000);
    let _ = stop_app.send(());
    rt.block_on(app).expect("app task").expect("app served");

    drop(servers);
    assert_eq!(
        json(h, &["db", "ls"])
            .as_array()
            .expect("array")
            .iter()
            .filter(|d| d["running"] == true)
            .count(),
        0
    );
    ok(h, &["volume", "offline", "prod/db"]);
}

#[test]
fn loopdev_mariadb_mask_records_provenance_that_policy_enforces() {
    let lab = Lab::new();
    let (home, mut servers) = setup(&lab, "1G");
    let h = home.as_path();
    ok(
        h,
        &[
            "folder",
            "create",
            "p/stage",
            "--import-from",
            "dev",
            "--require-masked",
        ],
    );
    let prod = servers.start("prod/db");
    let prod_sock = socket(&prod);
    ok(h, &generate("prod/db", "3000", "1K", &["--seed", "3"]));
    let imprint = |sock: &str| sql(sock, "SELECT COUNT(*), SUM(CRC32(imprint)) FROM main");
    let prod_imprint = imprint(&prod_sock);
    ok(h, &["snapshot", "create", "prod/db@s1"]);
    ok(h, &["clone", "prod/db@s1", "dev/c"]);

    // Unmasked data may not enter stage.
    ok(h, &["volume", "offline", "dev/c"]);
    let out = populous(h, &["volume", "import", "dev/c", "--to", "stage"]);
    assert_eq!(
        out.status.code(),
        Some(8),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("requires masked data"));
    ok(h, &["volume", "online", "dev/c"]);

    let rules = lab.path().join("masking.yml");
    std::fs::write(
        &rules,
        "version: 1\ntables:\n  main:\n    primary_key: id\n    columns:\n      \
         name: { transform: person_name }\n      email: { transform: email, unique: true }\n      \
         street: { transform: street }\n      zip: { transform: zip }\n      city: { transform: city }\n      \
         guid: { transform: uuid, unique: true }\n",
    )
    .expect("rules");
    let key = lab.path().join("mask.key");
    std::fs::write(&key, "0123456789abcdef0123456789abcdef").expect("key");
    let (r, k) = (rules.to_str().expect("utf-8"), key.to_str().expect("utf-8"));
    // No server runs on dev/c: mask starts one for the purpose and stops it.
    let masked = json(h, &["mask", "dev/c", "--rules", r, "--key-file", k]);
    assert_eq!(masked["report"]["rows_total"], 3000, "{masked}");
    assert_eq!(masked["provenance"]["masked"], true);
    let hash = masked["report"]["ruleset_hash"]
        .as_str()
        .expect("hash")
        .to_owned();
    assert!(hash.starts_with("sha256:"));
    let inspect = json(h, &["volume", "inspect", "dev/c"]);
    assert_eq!(inspect["provenance"]["mask_ruleset"], hash.as_str());
    assert!(!inspect["provenance"]["mask_key_id"]
        .as_str()
        .expect("key id")
        .contains("0123456789abcdef"));
    assert!(json(h, &["db", "ls"])
        .as_array()
        .expect("array")
        .iter()
        .all(|d| d["volume"] != "dev/c" || d["running"] == false));

    // verify compares with the origin snapshot (prod/db@s1) and passes.
    let v = json(
        h,
        &[
            "mask",
            "verify",
            "dev/c",
            "--rules",
            r,
            "--key-file",
            k,
            "--sample",
            "500",
            "--scan",
        ],
    );
    assert!(v["rows_sampled"].as_u64().expect("sampled") > 0, "{v}");
    // --scan: originals sampled from the source are in no file of dev/c.
    assert!(v["scan"]["sampled"].as_u64().expect("scan") > 0, "{v}");
    assert_eq!(v["scan"]["found"], 0, "{v}");
    assert_eq!(v["rows_missing"], 0);
    for c in v["columns"].as_array().expect("columns") {
        assert_eq!(
            (c["unchanged_originals"].as_u64(), c["mismatches"].as_u64()),
            (Some(0), Some(0)),
            "{c}"
        );
        assert!(c["checked"].as_u64().expect("checked") > 0, "{c}");
    }

    // The blobs were not rewritten, and the masked columns hold no original.
    let dev = servers.start("dev/c");
    let dev_sock = socket(&dev);
    assert_eq!(imprint(&dev_sock), prod_imprint);
    let distinct = sql(
        &dev_sock,
        "SELECT COUNT(DISTINCT email), COUNT(DISTINCT guid), COUNT(*) FROM main",
    );
    assert_eq!(distinct, "3000\t3000\t3000", "unique columns stay unique");
    let prod_first = sql(&prod_sock, "SELECT email FROM main WHERE id = 10000000");
    let dev_first = sql(&dev_sock, "SELECT email FROM main WHERE id = 10000000");
    assert_ne!(prod_first, dev_first);
    servers.volumes.retain(|v| v != "dev/c");
    ok(h, &["db", "stop", "dev/c"]);

    // A clone of the masked volume inherits the record, so masking it again
    // with the same rules and key starts no server and reads nothing (the
    // golden copy's point); another key is refused, as mixing keys would
    // break determinism.
    ok(h, &["clone", "dev/c", "dev/c2"]);
    let again = json(h, &["mask", "dev/c2", "--rules", r, "--key-file", k]);
    assert_eq!(again["changed"], false, "{again}");
    assert!(
        again["origin"]
            .as_str()
            .expect("origin")
            .starts_with("dev/c@"),
        "{again}"
    );
    let text = ok(h, &["mask", "dev/c2", "--rules", r, "--key-file", k]);
    assert!(text.contains("already masked"), "{text}");
    let key2 = lab.path().join("mask2.key");
    std::fs::write(&key2, "fedcba9876543210fedcba9876543210").expect("key");
    let k2 = key2.to_str().expect("utf-8");
    let other = populous(h, &["mask", "dev/c2", "--rules", r, "--key-file", k2]);
    assert_eq!(
        other.status.code(),
        Some(6),
        "wrong state: the database says which key"
    );
    let err = String::from_utf8_lossy(&other.stderr);
    assert!(err.contains("mixing keys"), "{err}");
    let kept = json(h, &["volume", "inspect", "dev/c2"]);
    assert_eq!(
        kept["provenance"]["mask_key_id"],
        inspect["provenance"]["mask_key_id"]
    );
    ok(h, &["volume", "rm", "dev/c2", "--destroy"]);

    // Masked data enters stage, and carries its provenance.
    ok(h, &["volume", "offline", "dev/c"]);
    let imported = json(h, &["volume", "import", "dev/c", "--to", "stage"]);
    assert_eq!(imported["provenance"]["masked"], true);
    drop(servers);
}

/// A generation that cannot fit in the pool stops before it writes, with
/// `no_space` (exit 9) naming the pool, and the server keeps running: it is
/// not left to die of a full disk halfway (InnoDB aborts on error 28).
#[test]
fn loopdev_mariadb_generate_that_cannot_fit_is_no_space() {
    let lab = Lab::new();
    let (home, mut servers) = setup(&lab, "1G");
    let h = home.as_path();
    let started = servers.start("prod/db");
    let out = populous(
        h,
        &["--json", "generate", "--volume", "prod/db", "--size", "4G"],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(9), "{stderr}");
    assert!(
        stderr.contains("no_space")
            && stderr.contains("pool p")
            && stderr.contains("nothing was written"),
        "{stderr}"
    );
    // The server answers, and nothing was written: not even the database.
    let out = std::process::Command::new("mariadb")
        .args(["--socket", &socket(&started), "-u", "root", "-N", "-B"])
        .args(["-e", "SHOW DATABASES"])
        .output()
        .expect("mariadb client");
    assert!(out.status.success(), "the server still answers");
    assert!(!String::from_utf8_lossy(&out.stdout).contains("populous"));
    // The same server then takes what fits.
    let gen = json(h, &generate("prod/db", "50", "4K", &[]));
    assert_eq!(gen["rows_total"], 50);
}

/// InnoDB's files of a datadir (top level and database directories) and
/// whether each has btrfs's NOCOW flag, read by ioctl.
fn innodb_nocow(datadir: &std::path::Path) -> Vec<(PathBuf, bool)> {
    let mut out = Vec::new();
    let mut look = |p: PathBuf| {
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        if name.starts_with("ibdata") || name.starts_with("ib_logfile") || name.ends_with(".ibd") {
            let nocow = populous_engine::attr::is_nocow(&p).expect("flags");
            out.push((p, nocow));
        }
    };
    for e in std::fs::read_dir(datadir).expect("datadir").flatten() {
        if e.path().is_dir() {
            for f in std::fs::read_dir(e.path()).expect("dir").flatten() {
                look(f.path());
            }
        } else {
            look(e.path());
        }
    }
    out
}

/// The `db ls --json` entry of `volume`.
fn ls_entry(home: &std::path::Path, volume: &str) -> Value {
    json(home, &["db", "ls"])
        .as_array()
        .expect("list")
        .iter()
        .find(|d| d["volume"] == volume)
        .unwrap_or_else(|| panic!("{volume} in db ls"))
        .clone()
}

/// `db start` on a btrfs pool makes the datadir NOCOW before its first file,
/// so every InnoDB file is NOCOW; its clone (a snapshot of it) is too and
/// serves the same rows; `db ls --json` shows the settings. On an XFS pool
/// nothing is NOCOW and the same InnoDB settings apply.
#[test]
fn loopdev_mariadb_db_start_applies_the_pools_io_settings() {
    let lab = Lab::new();
    let (home, mut servers) = setup(&lab, "2G");
    let h = home.as_path();
    let started = servers.start("prod/db");
    let gen = json(h, &generate("prod/db", "5", "1K", &[]));
    assert_eq!(gen["rows_total"], 5);
    let datadir = PathBuf::from(started["datadir"].as_str().expect("datadir"));
    assert!(populous_engine::attr::is_nocow(&datadir).expect("flags"));
    let files = innodb_nocow(&datadir);
    assert!(
        files.iter().any(|(p, _)| p.ends_with("populous/main.ibd")) && files.len() > 3,
        "{files:?}"
    );
    assert!(files.iter().all(|(_, nocow)| *nocow), "{files:?}");

    let entry = ls_entry(h, "prod/db");
    let io = &entry["instance"]["io"];
    assert_eq!(io["flush_method"], "o_direct", "{entry}");
    assert_eq!(io["doublewrite"], true, "{entry}");
    assert_eq!(io["flush_neighbors"], false, "{entry}");
    assert_eq!(entry["datadir_io"]["datadir_nocow"], true, "{entry}");
    let n = entry["datadir_io"]["files"]["innodb_files"]
        .as_u64()
        .unwrap();
    assert!(n >= files.len() as u64, "{entry}");
    assert_eq!(
        entry["datadir_io"]["files"]["nocow"].as_u64(),
        Some(n),
        "{entry}"
    );
    // The table shows them too.
    let table = ok(h, &["db", "ls"]);
    assert!(
        table.contains(&format!("O_DIRECT,nocow {n}/{n}")),
        "{table}"
    );

    // A clone of the running database: a snapshot keeps the flag, and the
    // clone's server runs on it with the same rows.
    ok(h, &["clone", "prod/db", "dev/c"]);
    let clone = servers.start("dev/c");
    assert_eq!(sql(&socket(&clone), "SELECT COUNT(*) FROM main"), "5");
    let cdir = PathBuf::from(clone["datadir"].as_str().expect("datadir"));
    assert!(innodb_nocow(&cdir).iter().all(|(_, nocow)| *nocow));
    assert_eq!(ls_entry(h, "dev/c")["datadir_io"]["datadir_nocow"], true);

    // An XFS pool: no NOCOW (XFS overwrites in place), the same InnoDB settings.
    let img = lab.path().join("xfs.img");
    ok(
        h,
        &[
            "pool",
            "create",
            "x",
            "--image",
            img.to_str().unwrap(),
            "--size",
            "1G",
            "--fs",
            "xfs",
        ],
    );
    ok_all(
        h,
        &[
            &["folder", "create", "x/xprod"],
            &["volume", "create", "xprod/db"],
        ],
    );
    let x = servers.start("xprod/db");
    let xdir = PathBuf::from(x["datadir"].as_str().expect("datadir"));
    assert!(innodb_nocow(&xdir).iter().all(|(_, nocow)| !*nocow));
    let entry = ls_entry(h, "xprod/db");
    assert_eq!(entry["datadir_io"]["datadir_nocow"], false, "{entry}");
    assert_eq!(
        entry["instance"]["io"]["flush_method"], "o_direct",
        "{entry}"
    );
    drop(servers);
}

/// `kill -9` of a server on a NOCOW datadir while it commits: the next
/// `db start` recovers (InnoDB's redo log and doublewrite buffer), and every
/// transaction acknowledged before the kill is there.
#[test]
fn loopdev_mariadb_kill9_on_a_nocow_datadir_recovers() {
    let lab = Lab::new();
    let (home, mut servers) = setup(&lab, "2G");
    let h = home.as_path();
    let started = servers.start("prod/db");
    let sock = socket(&started);
    json(h, &generate("prod/db", "1", "1K", &[]));
    let entry = ls_entry(h, "prod/db");
    assert_eq!(entry["datadir_io"]["datadir_nocow"], true, "{entry}");
    let pid = entry["instance"]["pid"].as_u64().expect("pid").to_string();
    // Acknowledged commits, one statement each (autocommit), then SIGKILL
    // while another batch is still being written.
    let acked = 200u64;
    for k in 0..acked {
        sql(
            &sock,
            &format!("INSERT INTO main (guid, imprint) VALUES ('k{k}', REPEAT('x', 16384))"),
        );
    }
    let mut client = std::process::Command::new("mariadb")
        .args(["--socket", &sock, "-u", "root", "populous", "-e"])
        .arg("INSERT INTO main (guid, imprint) SELECT CONCAT('late', seq), REPEAT('y', 16384) FROM seq_1_to_20000")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("mariadb client");
    // Kill once the late batch is running (a condition, not a delay).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !sql(&sock, "SELECT COUNT(*) FROM information_schema.processlist WHERE info LIKE 'INSERT INTO main%seq_1_to%'")
        .starts_with('1')
    {
        assert!(std::time::Instant::now() < deadline, "the late batch never ran");
    }
    let killed = std::process::Command::new("kill")
        .args(["-9", &pid])
        .status()
        .expect("kill");
    assert!(killed.success(), "kill -9 {pid}");
    let _ = client.wait();
    let again = json(h, &["db", "start", "prod/db"]);
    assert_eq!(again["changed"], true, "{again}");
    let sock = socket(&again);
    assert_eq!(
        sql(&sock, "SELECT COUNT(*) FROM main WHERE guid LIKE 'k%'"),
        acked.to_string()
    );
    // The interrupted batch was one transaction: all or nothing, never torn.
    let late: u64 = sql(&sock, "SELECT COUNT(*) FROM main WHERE guid LIKE 'late%'")
        .parse()
        .expect("count");
    assert!(late == 0 || late == 20000, "{late}");
    assert_eq!(
        sql(&sock, "CHECK TABLE main").split_whitespace().last(),
        Some("OK")
    );
}
