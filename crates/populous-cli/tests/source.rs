//! Sources with real MariaDB: a "production" server outside the pool (its
//! own datadir, binary log on, a replication user with a password), seeded
//! onto a pool volume physically (mariadb-backup) and logically
//! (mariadb-dump), replicating by GTID, snapshotted with its position, and
//! cloned from a clean base that never replicates and holds no password.
//! Named `loopdev_mariadb_…`: root, loop devices and MariaDB.

use std::path::{Path, PathBuf};

mod common;

use common::{image_pool, json, ok_all, run as populous};
use populous_db::{Instance, InstanceSpec};
use populous_testkit::Lab;

/// A password with a `#` (an option file's comment sign) in it.
const PASSWORD: &str = "Pw-7f3#9kZq";

/// The production server, stopped even when the test panics.
struct Prod {
    instance: Instance,
}

impl Drop for Prod {
    fn drop(&mut self) {
        let _ =
            populous_db::stop_pid_file(&self.instance.pid_file, populous_db::DEFAULT_STOP_TIMEOUT);
    }
}

/// Stops the replicas and clones the test started, and the sources.
struct Cleanup {
    home: PathBuf,
    sources: Vec<&'static str>,
    servers: Vec<&'static str>,
    daemon: Option<std::process::Child>,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        if let Some(mut d) = self.daemon.take() {
            let _ = d.kill();
            let _ = d.wait();
        }
        for s in &self.sources {
            let _ = populous(&self.home, &["source", "rm", s]);
        }
        for v in &self.servers {
            let _ = populous(&self.home, &["db", "stop", v]);
        }
    }
}

fn sql(socket: &Path, query: &str) -> String {
    let out = std::process::Command::new("mariadb")
        .arg(format!("--socket={}", socket.display()))
        .args(["-u", "root", "-N", "-B", "-e", query])
        .output()
        .expect("the mariadb client is installed");
    assert!(
        out.status.success(),
        "{query}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// A MariaDB server in the lab, outside any pool: binary log on, server_id
/// 1, a database `app` with rows, and user `repl` with what a source needs.
fn production(lab: &Lab) -> Prod {
    let datadir = lab.path().join("prod-data");
    std::fs::create_dir_all(&datadir).expect("datadir");
    populous_db::init_datadir(&datadir, "mysql").expect("init prod");
    let mut spec = InstanceSpec::new(&datadir, lab.path().join("prod-run"));
    spec.extra_args = vec![
        "--log-bin=prod-bin".into(),
        "--server-id=1".into(),
        "--binlog-format=ROW".into(),
    ];
    let instance = populous_db::start(&spec).expect("start prod");
    let prod = Prod { instance };
    let s = &prod.instance.socket;
    sql(
        s,
        &format!(
            "CREATE USER repl@'%' IDENTIFIED BY '{PASSWORD}'; \
             GRANT REPLICATION SLAVE, RELOAD, PROCESS, LOCK TABLES, BINLOG MONITOR, SELECT, SHOW VIEW, EVENT, TRIGGER ON *.* TO repl@'%'; \
             CREATE DATABASE app; \
             CREATE TABLE app.orders (id INT PRIMARY KEY AUTO_INCREMENT, email VARCHAR(100)) ENGINE=InnoDB; \
             INSERT INTO app.orders (email) SELECT CONCAT('user', seq, '@example.com') FROM app.seq_1_to_500;"
        ),
    );
    prod
}

fn count(socket: &Path) -> u64 {
    sql(socket, "SELECT COUNT(*) FROM app.orders")
        .parse()
        .expect("a count")
}

/// Every file under `dir` that holds `needle`.
fn files_holding(dir: &Path, needle: &[u8]) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).expect("read dir").flatten() {
            let p = e.path();
            let m = std::fs::symlink_metadata(&p).expect("metadata");
            if m.is_dir() {
                stack.push(p);
            } else if m.is_file() {
                let data = std::fs::read(&p).expect("read");
                if data.windows(needle.len()).any(|w| w == needle) {
                    found.push(p);
                }
            }
        }
    }
    found
}

fn socket_of(started: &serde_json::Value) -> PathBuf {
    PathBuf::from(started["socket"].as_str().expect("socket"))
}

/// Waits, in the server, until the replica on `socket` has applied what the
/// source has written (`MASTER_GTID_WAIT`, no polling).
fn caught_up(prod: &Prod, replica_socket: &Path) {
    let status = sql(replica_socket, "SHOW SLAVE STATUS\\G");
    let pos = sql(&prod.instance.socket, "SELECT @@gtid_binlog_pos");
    let url = populous_db::Instance {
        socket: replica_socket.to_owned(),
        ..prod.instance.clone()
    }
    .socket_url();
    assert!(
        populous_source::replica::wait_for(&url, &pos, 60).expect("wait"),
        "the replica did not reach {pos}; before waiting: {status}; now: {}",
        sql(replica_socket, "SHOW SLAVE STATUS\\G")
    );
}

/// The lab's pool with folders replicas and dev (which clones from
/// replicas), production outside it, the password file, and the source URL.
fn world(lab: &Lab) -> (PathBuf, Prod, PathBuf, String) {
    let home = image_pool(lab, "3G", &[]);
    ok_all(
        &home,
        &[
            &["folder", "create", "p/replicas"],
            &["folder", "create", "p/dev", "--clone-from", "replicas"],
        ],
    );
    let prod = production(lab);
    let pw_file = lab.path().join("repl.pw");
    std::fs::write(&pw_file, format!("{PASSWORD}\n")).expect("password file");
    let from = format!("mysql://repl@127.0.0.1:{}", prod.instance.port);
    (home, prod, pw_file, from)
}

/// `populous serve` with its API on a free port (stopped by `cleanup`), and an admin token.
fn serve_api(lab: &Lab, cleanup: &mut Cleanup) -> (String, String) {
    let token = common::ok(&cleanup.home, &["token", "create", "ops", "--admin"]);
    let config = lab.path().join("populous.toml");
    std::fs::write(&config, "listen = \"127.0.0.1:0\"\n").expect("config");
    let (child, api, _) = common::serve(&cleanup.home, &config);
    cleanup.daemon = Some(child);
    (api.expect("the API listens"), token.trim().to_owned())
}

#[test]
fn loopdev_mariadb_source_replicates_snapshots_and_clones_clean() {
    let lab = Lab::new();
    let (home, prod, pw_file, from) = world(&lab);
    let h = home.as_path();
    let mut cleanup = Cleanup {
        home: home.clone(),
        sources: vec![],
        servers: vec![],
        daemon: None,
    };

    // Refusals first: nothing may be left behind by them.
    let bad = populous(
        h,
        &[
            "source",
            "add",
            "x",
            "--from",
            &format!("mysql://repl:{PASSWORD}@127.0.0.1:1"),
            "--password-file",
            pw_file.to_str().expect("utf-8"),
            "--volume",
            "replicas/x",
        ],
    );
    assert_eq!(bad.status.code(), Some(3));
    assert!(!String::from_utf8_lossy(&bad.stderr).contains(PASSWORD));
    let wrong = lab.path().join("wrong.pw");
    std::fs::write(&wrong, "nope\n").expect("write");
    let denied = populous(
        h,
        &[
            "source",
            "add",
            "x",
            "--from",
            &from,
            "--password-file",
            wrong.to_str().expect("utf-8"),
            "--volume",
            "replicas/x",
        ],
    );
    assert_eq!(
        denied.status.code(),
        Some(10),
        "{}",
        String::from_utf8_lossy(&denied.stderr)
    );
    let bad_cron = populous(
        h,
        &[
            "source",
            "add",
            "x",
            "--from",
            &from,
            "--password-file",
            pw_file.to_str().expect("utf-8"),
            "--volume",
            "replicas/x",
            "--schedule",
            "every hour",
        ],
    );
    assert_eq!(bad_cron.status.code(), Some(3));
    assert_eq!(
        json(h, &["volume", "ls", "replicas"]),
        serde_json::json!([])
    );

    // A user without the seed's grants is named with what it lacks.
    sql(
        &prod.instance.socket,
        &format!("CREATE USER weak@'%' IDENTIFIED BY '{PASSWORD}'; GRANT REPLICATION SLAVE ON *.* TO weak@'%';"),
    );
    let weak = populous(
        h,
        &[
            "source",
            "add",
            "x",
            "--from",
            &format!("mysql://weak@127.0.0.1:{}", prod.instance.port),
            "--password-file",
            pw_file.to_str().expect("utf-8"),
            "--volume",
            "replicas/x",
        ],
    );
    let err = String::from_utf8_lossy(&weak.stderr);
    assert_eq!(weak.status.code(), Some(3), "{err}");
    assert!(
        err.contains("lacks RELOAD, PROCESS, LOCK TABLES, BINLOG MONITOR"),
        "{err}"
    );
    assert_eq!(
        json(h, &["volume", "ls", "replicas"]),
        serde_json::json!([])
    );

    // A datadir on this host that is not the source's (this host's own
    // MariaDB, while the source runs in a container, say) is never copied.
    let other = lab.path().join("not-prod/mysql");
    std::fs::create_dir_all(&other).expect("mkdir");
    let wrong = populous(
        h,
        &[
            "source",
            "add",
            "x",
            "--from",
            &from,
            "--password-file",
            pw_file.to_str().expect("utf-8"),
            "--volume",
            "replicas/x",
            "--mode",
            "physical",
            "--datadir",
            other.parent().expect("parent").to_str().expect("utf-8"),
        ],
    );
    let err = String::from_utf8_lossy(&wrong.stderr);
    assert_eq!(wrong.status.code(), Some(3), "{err}");
    assert!(
        err.contains("is not it") && err.contains("not readable here"),
        "{err}"
    );
    assert_eq!(
        json(h, &["volume", "ls", "replicas"]),
        serde_json::json!([])
    );

    // Killed in the middle of seeding: running `add` again works.
    let killed = common::populous(h)
        .env("POPULOUS_FAULT", "source_add.after_seed")
        .args([
            "source",
            "add",
            "prod",
            "--from",
            &from,
            "--password-file",
            pw_file.to_str().expect("utf-8"),
            "--volume",
            "replicas/prod",
        ])
        .output()
        .expect("run");
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&killed.status),
        Some(9)
    );

    // Physical: the source's datadir is on this host.
    cleanup.sources.push("prod");
    let added = json(
        h,
        &[
            "source",
            "add",
            "prod",
            "--from",
            &from,
            "--password-file",
            pw_file.to_str().expect("utf-8"),
            "--volume",
            "replicas/prod",
        ],
    );
    assert_eq!(added["mode"], "physical");
    assert_eq!(
        added["seed"]["gtid"].as_str(),
        Some(sql(&prod.instance.socket, "SELECT @@gtid_binlog_pos").as_str()),
        "{added}"
    );
    assert!(
        added["seed"]["bytes"].as_u64().unwrap_or(0) > 1 << 20,
        "{added}"
    );
    assert!(!added.to_string().contains(PASSWORD));
    let replica = json(h, &["db", "start", "replicas/prod"]);
    let replica_socket = socket_of(&replica);
    // The physical seed landed in a NOCOW datadir (the pool is btrfs): every InnoDB file.
    let dbs = json(h, &["db", "ls"]);
    let io = &dbs
        .as_array()
        .expect("list")
        .iter()
        .find(|d| d["volume"] == "replicas/prod")
        .expect("the replica in db ls")["datadir_io"];
    assert_eq!(io["datadir_nocow"], true, "{io}");
    assert!(io["files"]["innodb_files"].as_u64() > Some(3), "{io}");
    assert_eq!(io["files"]["nocow"], io["files"]["innodb_files"], "{io}");
    // Writes on production reach the replica.
    sql(&prod.instance.socket, "INSERT INTO app.orders (email) SELECT CONCAT('late', seq, '@example.com') FROM app.seq_1_to_100");
    caught_up(&prod, &replica_socket);
    assert_eq!(count(&replica_socket), 600);
    let status = json(h, &["source", "status", "prod"]);
    assert_eq!(status["replica"]["io_thread"], "running", "{status}");
    assert_eq!(status["replica"]["sql_thread"], "running", "{status}");
    assert_eq!(status["gtid_distance"], 0, "{status}");
    assert!(!status.to_string().contains(PASSWORD));

    // A snapshot holds a known position; its clean base replicates nothing.
    let snap = json(h, &["source", "snapshot", "prod", "--as", "s1"]);
    assert_eq!(snap["snapshot"], "replicas/prod@s1");
    let at = snap["gtid"].as_str().expect("gtid").to_owned();
    assert_eq!(at, sql(&prod.instance.socket, "SELECT @@gtid_binlog_pos"));
    sql(
        &prod.instance.socket,
        "INSERT INTO app.orders (email) VALUES ('after-snapshot@example.com')",
    );
    caught_up(&prod, &replica_socket);
    assert_eq!(count(&replica_socket), 601);

    let clone = json(h, &["source", "clone", "prod", "dev/mine"]);
    assert_eq!(clone["origin"], "replicas/prod-s1@clean");
    let clone_path = PathBuf::from(clone["path"].as_str().expect("path"));
    assert_eq!(
        populous_ops::source::replication_files(&clone_path),
        Vec::<PathBuf>::new()
    );
    cleanup.servers.push("dev/mine");
    let mine = socket_of(&json(h, &["db", "start", "dev/mine"]));
    assert_eq!(
        sql(&mine, "SHOW SLAVE STATUS"),
        "",
        "a clone never replicates"
    );
    assert_eq!(count(&mine), 600, "the clone holds the snapshot's rows");
    // No file of the replica's volume, the clone or the metadata holds the password.
    let replica_path = PathBuf::from(
        json(h, &["volume", "inspect", "replicas/prod"])["path"]
            .as_str()
            .expect("path"),
    );
    for dir in [replica_path.as_path(), clone_path.as_path()] {
        assert_eq!(
            files_holding(dir, PASSWORD.as_bytes()),
            Vec::<PathBuf>::new(),
            "{}",
            dir.display()
        );
    }
    let leaks: Vec<PathBuf> = files_holding(&home, PASSWORD.as_bytes())
        .into_iter()
        .filter(|p| !p.starts_with(home.join("db/replicas/prod/")))
        .collect();
    assert_eq!(
        leaks,
        Vec::<PathBuf>::new(),
        "only the replica's run directory holds it"
    );

    // Logical: a dump over the network, with its GTID position.
    cleanup.sources.push("prodl");
    let added = json(
        h,
        &[
            "source",
            "add",
            "prodl",
            "--from",
            &from,
            "--password-file",
            pw_file.to_str().expect("utf-8"),
            "--volume",
            "replicas/prodl",
            "--mode",
            "logical",
        ],
    );
    assert_eq!(added["mode"], "logical");
    assert_eq!(
        added["seed"]["gtid"].as_str(),
        Some(sql(&prod.instance.socket, "SELECT @@gtid_binlog_pos").as_str()),
        "{added}"
    );
    let logical = socket_of(&json(h, &["db", "start", "replicas/prodl"]));
    sql(
        &prod.instance.socket,
        "INSERT INTO app.orders (email) VALUES ('logical@example.com')",
    );
    caught_up(&prod, &logical);
    assert_eq!(count(&logical), 602);
    assert_eq!(count(&replica_socket), 602);

    // Resync: a new replica beside the old one, swapped in once in sync.
    let resynced = json(h, &["source", "resync", "prodl"]);
    assert_eq!(resynced["source"]["volume"], "replicas/prodl", "{resynced}");
    assert!(!resynced.to_string().contains(PASSWORD));
    let names: Vec<String> = json(h, &["volume", "ls", "replicas"])
        .as_array()
        .expect("list")
        .iter()
        .map(|v| v["name"].as_str().unwrap_or("").to_owned())
        .collect();
    assert!(!names.iter().any(|n| n.ends_with("-resync")), "{names:?}");
    let prodl_socket = |h: &Path| {
        PathBuf::from(
            json(h, &["db", "ls"])
                .as_array()
                .expect("list")
                .iter()
                .find(|d| d["volume"] == "replicas/prodl" && d["running"] == true)
                .expect("prodl runs")["instance"]["socket"]
                .as_str()
                .expect("socket"),
        )
    };
    let logical = prodl_socket(h);
    sql(
        &prod.instance.socket,
        "INSERT INTO app.orders (email) VALUES ('after-resync@example.com')",
    );
    caught_up(&prod, &logical);
    assert_eq!(count(&logical), 603);

    // Retention: keep 1, and s1's base has a clone: it stays.
    ok_all(
        h,
        &[&["source", "schedule", "prod", "*/30 * * * *", "--keep", "1"]],
    );
    json(h, &["source", "snapshot", "prod", "--as", "s2"]);
    let pruned = json(h, &["source", "prune", "prod"]);
    assert_eq!(
        pruned["kept_for_clones"],
        serde_json::json!(["replicas/prod@s1"])
    );
    ok_all(
        h,
        &[
            &["db", "stop", "dev/mine"],
            &["volume", "rm", "dev/mine", "--destroy"],
        ],
    );
    let pruned = json(h, &["source", "prune", "prod"]);
    assert_eq!(pruned["removed"], serde_json::json!(["replicas/prod@s1"]));
    // A source's volume cannot be destroyed under it.
    ok_all(h, &[&["db", "stop", "replicas/prod"]]);
    let refused = populous(
        h,
        &["volume", "rm", "replicas/prod", "--destroy", "--recursive"],
    );
    assert_eq!(refused.status.code(), Some(7));

    // `populous serve` starts a stopped replica again (replication resumes),
    // serves the sources' state and snapshots, and exports gauges.
    ok_all(h, &[&["db", "stop", "replicas/prodl"]]);
    sql(
        &prod.instance.socket,
        "INSERT INTO app.orders (email) VALUES ('while-stopped@example.com')",
    );
    let (api, token) = serve_api(&lab, &mut cleanup);
    let call = |method: &str, path: &str| {
        let s = std::net::TcpStream::connect(&api).expect("connect");
        let a = populous_daemon::client::exchange(s, method, path, Some(&token), b"")
            .expect("exchange");
        (a.status, a.body)
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(90);
    let status = loop {
        let (code, st) = call("GET", "/v1/sources/prodl");
        assert_eq!(code, 200, "{st}");
        if st["replica"]["sql_thread"] == "running" && st["gtid_distance"] == 0 {
            break st;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the daemon did not bring the replica back: {st}"
        );
    };
    assert!(!status.to_string().contains(PASSWORD));
    assert_eq!(count(&prodl_socket(h)), 604);
    let (code, taken) = call("POST", "/v1/sources/prodl/snapshots");
    assert_eq!(code, 201, "{taken}");
    assert!(
        taken["base"]
            .as_str()
            .is_some_and(|b| b.starts_with("replicas/prodl-")),
        "{taken}"
    );
    let (code, list) = call("GET", "/v1/sources");
    assert_eq!(
        (code, list.as_array().map(Vec::len)),
        (200, Some(2)),
        "{list}"
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let (_, metrics) = call("GET", "/metrics");
        let text = metrics.as_str().unwrap_or_default().to_owned();
        if text.contains("populous_source_replicating{source=\"prodl\"} 1") {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no source gauges: {text}"
        );
    }
    drop(cleanup);
}

/// One statement per transaction into `app.writes`, each recording its own GTID
/// in `app.gtid_of`, through one client process, until stopped.
struct Load {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<u64>>,
}

impl Load {
    fn start(socket: &Path) -> Load {
        use std::io::Write;
        use std::sync::atomic::{AtomicBool, Ordering};
        let mut client = std::process::Command::new("mariadb")
            .arg(format!("--socket={}", socket.display()))
            .args(["-u", "root", "app"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("mariadb client");
        let stop = std::sync::Arc::new(AtomicBool::new(false));
        let flag = std::sync::Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            let mut input = client.stdin.take().expect("stdin");
            let mut n = 0u64;
            while !flag.load(Ordering::Relaxed) {
                writeln!(
                    input,
                    "INSERT INTO writes (v) VALUES ({n}); INSERT INTO gtid_of (id, gtid) VALUES (LAST_INSERT_ID(), @@last_gtid);"
                )
                .expect("write");
                n += 1;
                // Pacing, not synchronisation: a steady load of a few hundred transactions a second.
                std::thread::sleep(std::time::Duration::from_millis(2));
            }
            drop(input);
            let _ = client.wait();
            n
        });
        Load {
            stop,
            thread: Some(thread),
        }
    }

    fn finish(&mut self) -> u64 {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        self.thread.take().map_or(0, |t| t.join().expect("load"))
    }
}

impl Drop for Load {
    fn drop(&mut self) {
        self.finish();
    }
}

#[test]
fn loopdev_mariadb_source_under_load_scheduled_snapshots_keep_the_newest() {
    let lab = Lab::new();
    let (home, prod, pw_file, from) = world(&lab);
    let h = home.as_path();
    sql(
        &prod.instance.socket,
        "CREATE TABLE app.writes (id BIGINT PRIMARY KEY AUTO_INCREMENT, v BIGINT) ENGINE=InnoDB; \
         CREATE TABLE app.gtid_of (id BIGINT PRIMARY KEY, gtid VARCHAR(64)) ENGINE=InnoDB;",
    );
    let mut cleanup = Cleanup {
        home: home.clone(),
        sources: vec!["prod"],
        servers: vec![],
        daemon: None,
    };
    let mut load = Load::start(&prod.instance.socket);
    // Seeded while the load runs; a snapshot every 2 s, the newest 2 kept.
    json(
        h,
        &[
            "source",
            "add",
            "prod",
            "--from",
            &from,
            "--password-file",
            pw_file.to_str().expect("utf-8"),
            "--volume",
            "replicas/prod",
            "--schedule",
            "*/2 * * * * *",
            "--keep",
            "2",
        ],
    );
    let (api, token) = serve_api(&lab, &mut cleanup);
    let call = |path: &str| {
        let s = std::net::TcpStream::connect(&api).expect("connect");
        populous_daemon::client::exchange(s, "GET", path, Some(&token), b"")
            .expect("exchange")
            .body
    };
    let scheduled = || {
        call("/v1/audit?limit=10000")
            .as_array()
            .expect("audit")
            .iter()
            .filter(|a| {
                a["actor"] == "scheduler"
                    && a["action"] == "source snapshot"
                    && a["outcome"] == "ok"
            })
            .count()
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while scheduled() < 3 {
        assert!(
            std::time::Instant::now() < deadline,
            "three scheduled snapshots did not happen: {}",
            call("/v1/audit?limit=50")
        );
    }
    // The schedule goes on: stop the daemon, then the load, and look.
    if let Some(mut d) = cleanup.daemon.take() {
        let _ = d.kill();
        let _ = d.wait();
    }
    let written = load.finish();
    assert!(written > 100, "the load ran: {written} transactions");
    let status = json(h, &["source", "status", "prod"]);
    let snaps = status["source"]["snapshots"]
        .as_array()
        .expect("snapshots")
        .clone();
    assert_eq!(snaps.len(), 2, "keep 2: {status}");
    let audit = json(h, &["audit", "--limit", "10000"]);
    assert!(scheduled_count(&audit) >= 3);

    // The newest's clean base: a server of its own, exactly prod up to its GTID.
    let newest = &snaps[1];
    let gtid = newest["gtid"].as_str().expect("gtid");
    let seq: u64 = gtid
        .rsplit('-')
        .next()
        .and_then(|s| s.parse().ok())
        .expect("seq");
    json(h, &["source", "clone", "prod", "dev/c"]);
    cleanup.servers.push("dev/c");
    let started = std::time::Instant::now();
    let c = socket_of(&json(h, &["db", "start", "dev/c"]));
    eprintln!(
        "clone of the newest snapshot answered in {:.2} s",
        started.elapsed().as_secs_f64()
    );
    assert_eq!(
        sql(&c, "SHOW SLAVE STATUS"),
        "",
        "the clone does not replicate"
    );
    let expected = sql(
        &prod.instance.socket,
        &format!("SELECT COUNT(*), COALESCE(MAX(id), 0) FROM app.gtid_of WHERE CAST(SUBSTRING_INDEX(gtid, '-', -1) AS UNSIGNED) <= {seq}"),
    );
    let got = sql(&c, "SELECT COUNT(*), COALESCE(MAX(id), 0) FROM app.writes");
    assert_eq!(
        got, expected,
        "rows of app.writes in the clone against prod's up to {gtid}"
    );
    let clone_path = PathBuf::from(
        json(h, &["volume", "inspect", "dev/c"])["path"]
            .as_str()
            .expect("path"),
    );
    assert_eq!(
        files_holding(&clone_path, PASSWORD.as_bytes()),
        Vec::<PathBuf>::new()
    );
    drop(cleanup);
}

fn scheduled_count(audit: &serde_json::Value) -> usize {
    audit
        .as_array()
        .expect("audit")
        .iter()
        .filter(|a| {
            a["actor"] == "scheduler" && a["action"] == "source snapshot" && a["outcome"] == "ok"
        })
        .count()
}

/// The benchmark runs end to end at a tiny size and reports its ratios.
#[test]
fn loopdev_mariadb_bench_source_reports_figures() {
    let lab = Lab::new();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_populous"))
        .args([
            "--json",
            "bench",
            "source",
            "--sizes",
            "16M",
            "--rounds",
            "1",
            "--lag-samples",
            "5",
            "--dir",
        ])
        .arg(lab.path())
        .output()
        .expect("run bench");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("bench JSON");
    let size = &v["sizes"][0];
    for key in ["dump_over_physical", "dump_over_logical", "physical_mb_s"] {
        assert!(size[key].as_f64().is_some_and(|x| x > 0.0), "{key}: {v}");
    }
    assert!(v["lag"]["p99_s"].as_f64().is_some_and(|x| x >= 0.0), "{v}");
    for phase in ["prod_idle", "prod_seeding", "prod_snapshot"] {
        assert!(
            size[phase]["samples"].as_u64().is_some_and(|n| n > 0),
            "{phase}: {v}"
        );
    }
    assert_eq!(v["lag"]["samples"], 5);
}
