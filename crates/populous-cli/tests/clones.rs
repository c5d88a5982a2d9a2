//! Self-service clones with real MariaDB: `clone --db` answers on its URL
//! with its own login and refuses root over TCP and another clone's login;
//! the password is kept nowhere; `volume reset` rewinds the data without
//! changing URL or login (refused while a client is connected); idle clones
//! are reaped by `populous serve` from the servers' own counters while a
//! protected one and a busy one stay, also after `kill -9` of the daemon.
//! Named `loopdev_mariadb_…`: root, a loop-mounted btrfs pool and MariaDB.

use std::io::Write;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

mod common;

use common::{image_pool, json, ok, ok_all, run as populous, sql, Servers};
use populous_testkit::Lab;

/// A query over TCP as `user` with `password` (given through the
/// environment, not the arguments).
fn tcp(port: u64, user: &str, password: &str, query: &str) -> Output {
    Command::new("mariadb")
        .args(["-h", "127.0.0.1", "-P", &port.to_string(), "-u", user])
        .args(["-N", "-B", "-e", query])
        .env("MYSQL_PWD", password)
        .output()
        .expect("the mariadb client is installed (scripts/install-deps.sh)")
}

fn tcp_ok(port: u64, user: &str, password: &str, query: &str) -> String {
    let out = tcp(port, user, password, query);
    assert!(
        out.status.success(),
        "{user}@{port}: {query}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

fn tcp_refused(port: u64, user: &str, password: &str) {
    let out = tcp(port, user, password, "SELECT 1");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("Access denied"),
        "{user}@{port} should be refused: {err}"
    );
}

/// A client session held open (the `mariadb` client waiting on stdin)
/// until dropped.
struct Session(Child);

impl Session {
    fn open(port: u64, user: &str, password: &str) -> Session {
        let child = Command::new("mariadb")
            .args(["-h", "127.0.0.1", "-P", &port.to_string(), "-u", user])
            .env("MYSQL_PWD", password)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn mariadb");
        Session(child)
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        if let Some(mut stdin) = self.0.stdin.take() {
            let _ = stdin.write_all(b"quit\n");
        }
        let _ = self.0.wait();
    }
}

/// Sessions connected to the server on `socket` besides the asker's.
fn clients(socket: &str) -> u64 {
    let n = sql(socket, "SHOW GLOBAL STATUS LIKE 'Threads_connected'");
    let n: u64 = n
        .split_whitespace()
        .nth(1)
        .expect("value")
        .parse()
        .expect("number");
    n - 1
}

/// Polls `cond` every 200 ms until it holds; fails after `limit`.
fn wait_for(what: &str, limit: Duration, mut cond: impl FnMut() -> bool) {
    let t = Instant::now();
    while !cond() {
        assert!(t.elapsed() < limit, "{what}: not within {limit:?}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn dev_volumes(h: &Path) -> Vec<String> {
    common::volume_names(h, "dev")
}

/// Whether any file under `dir` (up to 64 MiB each) holds `needle`.
fn found_in_files(dir: &Path, needle: &[u8]) -> Vec<String> {
    let mut hits = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let Ok(ft) = e.file_type() else { continue };
            if ft.is_dir() {
                stack.push(e.path());
            } else if ft.is_file() && e.metadata().is_ok_and(|m| m.len() < 64 << 20) {
                if let Ok(bytes) = std::fs::read(e.path()) {
                    if bytes.windows(needle.len()).any(|w| w == needle) {
                        hits.push(e.path().display().to_string());
                    }
                }
            }
        }
    }
    hits
}

struct Made {
    port: u64,
    user: String,
    password: String,
    socket: String,
}

fn clone_db(h: &Path, servers: &mut Servers, src: &str, dst: &str, extra: &[&str]) -> Made {
    let mut args = vec!["clone", src, dst, "--db"];
    args.extend_from_slice(extra);
    let v = json(h, &args);
    servers.volumes.push(dst.to_owned());
    let port = v["port"].as_u64().expect("port");
    let user = v["user"].as_str().expect("user").to_owned();
    let password = v["password"].as_str().expect("password").to_owned();
    assert_eq!(
        v["url"],
        format!("mysql://{user}:{password}@127.0.0.1:{port}/"),
        "{v}"
    );
    let dbs = json(h, &["db", "ls"]);
    let socket = dbs
        .as_array()
        .expect("dbs")
        .iter()
        .find(|d| d["volume"] == dst)
        .and_then(|d| d["instance"]["socket"].as_str())
        .expect("the clone's server is listed")
        .to_owned();
    Made {
        port,
        user,
        password,
        socket,
    }
}

/// The same over REST: `POST /v1/clone` with `"db": true` answers the URL
/// (once); a reset keeps it; another folder's token cannot reset.
fn rest(h: &Path, servers: &mut Servers, api: &str, b: &Made) {
    let addr: std::net::SocketAddr = api.parse().expect("address");
    let token = ok(
        h,
        &["token", "create", "ci", "--write", "dev", "--read", "prod"],
    );
    let token = token.trim();
    let other = ok(h, &["token", "create", "other", "--write", "prod"]);
    let call = |method: &str, path: &str, token: &str, body: serde_json::Value| {
        populous_daemon::client::api_call(addr, method, path, Some(token), Some(&body))
            .expect("the API answers")
    };
    let made = call(
        "POST",
        "/v1/clone",
        token,
        serde_json::json!({"source": "prod/db", "target": "dev/r", "db": true}),
    );
    assert_eq!(made.status, 201, "{}", made.body);
    servers.volumes.push("dev/r".into());
    let (port, user, password) = (
        made.body["port"].as_u64().expect("port"),
        made.body["user"].as_str().expect("user").to_owned(),
        made.body["password"].as_str().expect("password").to_owned(),
    );
    assert_eq!(
        tcp_ok(port, &user, &password, "SELECT COUNT(*) FROM populous.main"),
        "150"
    );
    tcp_refused(port, &b.user, &b.password);
    tcp_refused(port, "root", "");
    tcp_ok(port, &user, &password, "DELETE FROM populous.main");
    let path = "/v1/folders/dev/volumes/r/reset";
    let refused = call("POST", path, other.trim(), serde_json::json!({}));
    assert_eq!(refused.status, 404, "{}", refused.body);
    let bad = call("POST", path, token, serde_json::json!({"to": "no such"}));
    assert_eq!(bad.status, 400, "{}", bad.body);
    let reset = call("POST", path, token, serde_json::json!({}));
    assert_eq!(reset.status, 200, "{}", reset.body);
    assert_eq!(
        tcp_ok(port, &user, &password, "SELECT COUNT(*) FROM populous.main"),
        "150"
    );
    // Neither the password nor the tokens are in the audit log or the metrics.
    let audit = ok(h, &["audit"]);
    assert!(
        audit.contains("volume reset") && !audit.contains(&password),
        "{audit}"
    );
    let metrics =
        populous_daemon::client::api_call(addr, "GET", "/metrics", None, None).expect("metrics");
    assert!(!metrics.body.to_string().contains(&password));
}

#[test]
fn loopdev_mariadb_clone_db_login_reset_and_idle_reaping() {
    let lab = Lab::new();
    let h = &image_pool(&lab, "1G", &[]);
    ok_all(
        h,
        &[
            &["folder", "create", "p/prod"],
            &["folder", "create", "p/dev", "--clone-from", "prod"],
            &["volume", "create", "prod/db"],
        ],
    );
    let mut servers = Servers {
        home: h.to_path_buf(),
        volumes: Vec::new(),
    };
    let prod = servers.start("prod/db");
    let prod_socket = prod["socket"].as_str().expect("socket").to_owned();
    ok(
        h,
        &[
            "generate",
            "--volume",
            "prod/db",
            "--rows",
            "200",
            "--blob-size",
            "1K",
        ],
    );

    // One call: a running clone and its URL; its own login works, root and
    // the other clone's login do not.
    let a = clone_db(h, &mut servers, "prod/db", "dev/a", &[]);
    let b = clone_db(h, &mut servers, "prod/db", "dev/b", &[]);
    assert_ne!(a.port, b.port);
    assert_ne!(a.password, b.password);
    assert_eq!(
        tcp_ok(
            a.port,
            &a.user,
            &a.password,
            "SELECT COUNT(*) FROM populous.main"
        ),
        "200"
    );
    tcp_refused(a.port, "root", "");
    tcp_refused(a.port, &b.user, &b.password);
    tcp_refused(b.port, &a.user, &a.password);
    tcp_refused(a.port, &a.user, "wrong");
    // Root still answers on the socket (Populous's own way in).
    assert_eq!(sql(&a.socket, "SELECT COUNT(*) FROM main"), "200");
    // Kept nowhere: not in the home (metadata, run files, logs), not in `db ls` or `volume ls`.
    assert!(found_in_files(h, a.password.as_bytes()).is_empty());
    let listed = ok(h, &["volume", "ls", "dev"]);
    assert!(
        listed.contains(&format!("a@127.0.0.1:{}", a.port)) && !listed.contains(&a.password),
        "{listed}"
    );
    assert!(!ok(h, &["--json", "db", "ls"]).contains(&a.password));

    // Bad input loses nothing.
    for (args, needle) in [
        (
            vec!["clone", "prod/db", "dev/c", "--db", "--ports", "80-90"],
            "invalid port range",
        ),
        (vec!["clone", "prod/db", "dev/a", "--db"], "already exists"),
        (vec!["volume", "reset", "prod/db"], "it is not a clone"),
    ] {
        let out = populous(h, &args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success() && err.contains(needle),
            "{args:?}: {err}"
        );
    }
    assert_eq!(dev_volumes(h), ["a", "b"]);

    // Reset: the clone's own change goes, prod's newer rows come, same URL
    // and login; refused while a client is connected.
    tcp_ok(
        a.port,
        &a.user,
        &a.password,
        "DELETE FROM populous.main ORDER BY id LIMIT 50",
    );
    sql(&prod_socket, "DELETE FROM main ORDER BY id DESC LIMIT 50");
    let want = sql(&prod_socket, "SELECT COUNT(*), MIN(id), MAX(id) FROM main");
    assert!(want.starts_with("150\t"), "{want}");
    ok(h, &["snapshot", "create", "prod/db@newer"]);
    {
        let _session = Session::open(a.port, &a.user, &a.password);
        wait_for("the session connects", Duration::from_secs(30), || {
            clients(&a.socket) > 0
        });
        let out = populous(h, &["volume", "reset", "dev/a"]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success() && err.contains("client session(s) are connected"),
            "{err}"
        );
    }
    wait_for("the session closes", Duration::from_secs(30), || {
        clients(&a.socket) == 0
    });
    let reset = json(h, &["volume", "reset", "dev/a"]);
    assert_eq!(reset["snapshot"], "prod/db@newer", "{reset}");
    assert_eq!(reset["restarted"], true, "{reset}");
    assert_eq!(
        tcp_ok(
            a.port,
            &a.user,
            &a.password,
            "SELECT COUNT(*), MIN(id), MAX(id) FROM populous.main"
        ),
        want
    );
    tcp_refused(a.port, "root", "");
    let inspected = json(h, &["volume", "inspect", "dev/a"]);
    assert_eq!(inspected["origin"], "prod/db@newer", "{inspected}");
    assert!(
        inspected["labels"].as_object().expect("labels").is_empty(),
        "{inspected}"
    );

    // A clone with dependents is not reset.
    ok(h, &["clone", "dev/b", "dev/b2"]);
    let out = populous(h, &["volume", "reset", "dev/b"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("depend on it"),
        "{err}"
    );
    assert_eq!(
        tcp_ok(
            b.port,
            &b.user,
            &b.password,
            "SELECT COUNT(*) FROM populous.main"
        ),
        "200"
    );

    // Limits: memory (buffer pool and cgroup), connections; too little memory is refused.
    let l = clone_db(
        h,
        &mut servers,
        "prod/db",
        "dev/l",
        &[
            "--memory",
            "256M",
            "--connections",
            "12",
            "--cpu-weight",
            "50",
        ],
    );
    assert_eq!(
        tcp_ok(
            l.port,
            &l.user,
            &l.password,
            "SELECT @@innodb_buffer_pool_size, @@max_connections"
        ),
        format!("{}\t12", 128 << 20)
    );
    let pid = json(h, &["db", "ls"])
        .as_array()
        .expect("dbs")
        .iter()
        .find(|d| d["volume"] == "dev/l")
        .and_then(|d| d["instance"]["pid"].as_u64())
        .expect("pid");
    let cgroups = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).expect("cgroup");
    let memory = cgroups
        .lines()
        .find_map(|l| l.split_once(":memory:").map(|(_, p)| p.to_owned()))
        .or_else(|| {
            cgroups
                .lines()
                .find_map(|l| l.strip_prefix("0::").map(str::to_owned))
        })
        .expect("a memory cgroup");
    assert!(memory.ends_with("populous-dev-l"), "{cgroups}");
    let v1 = format!("/sys/fs/cgroup/memory{memory}/memory.limit_in_bytes");
    let v2 = format!("/sys/fs/cgroup{memory}/memory.max");
    let limit = std::fs::read_to_string(&v1)
        .or_else(|_| std::fs::read_to_string(&v2))
        .expect("the cgroup's memory limit");
    assert_eq!(limit.trim(), (256u64 << 20).to_string());
    let out = populous(
        h,
        &["clone", "prod/db", "dev/tiny", "--db", "--memory", "32M"],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("too small for MariaDB"),
        "{err}"
    );
    ok(h, &["db", "stop", "dev/l"]);
    assert!(
        !std::path::Path::new(&v1).exists() && !std::path::Path::new(&v2).exists(),
        "the cgroup goes with the server"
    );

    // A port range with no free port: refused, and the clone made for it is gone again.
    let p1 = clone_db(
        h,
        &mut servers,
        "prod/db",
        "dev/p1",
        &["--ports", "14990-14990"],
    );
    assert_eq!(p1.port, 14990);
    let out = populous(
        h,
        &[
            "clone",
            "prod/db",
            "dev/p2",
            "--db",
            "--ports",
            "14990-14990",
        ],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("every port of 14990-14990 is taken"),
        "{err}"
    );
    assert!(!dev_volumes(h).contains(&"p2".to_owned()));
    ok(h, &["db", "stop", "dev/p1"]);
    ok(h, &["volume", "rm", "dev/p1", "--destroy"]);
    // A destroyed clone's login keeps no port.
    let p3 = clone_db(
        h,
        &mut servers,
        "prod/db",
        "dev/p3",
        &["--ports", "14990-14990"],
    );
    assert_eq!(p3.port, 14990);
    ok(h, &["db", "stop", "dev/p3"]);
    ok(h, &["volume", "rm", "dev/p3", "--destroy"]);

    // Idle delete by the daemon: c is idle, d idle but protected, e busy
    // (a session stays connected) until the session ends.
    let c = clone_db(h, &mut servers, "prod/db", "dev/c", &["--idle", "1s"]);
    let _d = clone_db(h, &mut servers, "prod/db", "dev/d", &["--idle", "1s"]);
    ok(h, &["volume", "protect", "dev/d"]);
    let e = clone_db(h, &mut servers, "prod/db", "dev/e", &["--idle", "3s"]);
    let session = Session::open(e.port, &e.user, &e.password);
    wait_for("the session connects", Duration::from_secs(30), || {
        clients(&e.socket) > 0
    });
    drop(c);
    let created = json(h, &["volume", "inspect", "dev/c"])["created_at"]
        .as_i64()
        .expect("created_at");
    wait_for("c's idle time passes", Duration::from_secs(10), || {
        populous_engine::now() > created + 1
    });
    let config = h.join("populous.toml");
    std::fs::write(&config, "listen = \"127.0.0.1:0\"\n").expect("config");
    let (mut daemon, api, _) = common::serve(h, &config);
    rest(
        h,
        &mut servers,
        api.as_deref().expect("the API listens"),
        &b,
    );
    wait_for(
        "the reaper destroys idle dev/c",
        Duration::from_secs(60),
        || !dev_volumes(h).contains(&"c".to_owned()),
    );
    let active_at =
        |h: &Path| json(h, &["volume", "inspect", "dev/e"])["lifecycle"]["last_active_at"].as_i64();
    let first = active_at(h).expect("e's session was seen");
    wait_for(
        "a later pass sees e's session again",
        Duration::from_secs(60),
        || active_at(h).is_some_and(|t| t > first),
    );
    // kill -9: the activity is in the store; the next daemon reaps e once idle.
    daemon.kill().expect("kill -9");
    daemon.wait().expect("wait");
    drop(session);
    let (mut daemon, _, _) = common::serve(h, &config);
    // Done means audited: a volume leaves the listing as its destroy starts,
    // and the audit entry comes once it is finished.
    wait_for(
        "the reaper destroys dev/e once idle",
        Duration::from_secs(90),
        || {
            ok(h, &["audit"])
                .lines()
                .any(|l| l.contains("volume idle ") && l.contains("dev/e"))
        },
    );
    daemon.kill().expect("kill");
    daemon.wait().expect("wait");
    assert_eq!(dev_volumes(h), ["a", "b", "b2", "d", "l", "r"]);
    let audit = ok(h, &["audit"]);
    assert!(
        audit.contains("volume idle") && audit.contains("dev/c") && audit.contains("dev/e"),
        "{audit}"
    );
    let report = json(h, &["check"]);
    assert_eq!(report["reconciled_ops"], 0, "{report}");
}

/// Stops every server under the home, the daemon's warm clones included,
/// even when the test panics.
struct AllServers<'a>(&'a Path);

impl Drop for AllServers<'_> {
    fn drop(&mut self) {
        let out = populous(self.0, &["--json", "db", "ls"]);
        let list: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
        for d in list.as_array().into_iter().flatten() {
            if let Some(v) = d["volume"].as_str() {
                let _ = populous(self.0, &["db", "stop", v]);
            }
        }
    }
}

/// The warm clones waiting in dev with a running server, and the snapshot each holds.
fn warm(h: &Path) -> Vec<String> {
    let running: Vec<String> = json(h, &["db", "ls"])
        .as_array()
        .expect("dbs")
        .iter()
        .filter(|d| d["running"] == true)
        .filter_map(|d| d["volume"].as_str().map(str::to_owned))
        .collect();
    dev_volumes(h)
        .into_iter()
        .filter(|v| v.starts_with("warm-") && running.contains(&format!("dev/{v}")))
        // The daemon may remove one between the listing and here: skip it.
        .filter_map(|v| {
            let out = populous(h, &["--json", "volume", "inspect", &format!("dev/{v}")]);
            let i: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
            Some(
                i["labels"]["populous.warm-snapshot"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
            )
        })
        .collect()
}

#[test]
fn loopdev_mariadb_warm_clones_are_claimed_refilled_and_replaced() {
    let lab = Lab::new();
    let h = &image_pool(&lab, "1G", &[]);
    let _all = AllServers(h);
    ok_all(
        h,
        &[
            &["folder", "create", "p/prod"],
            &["folder", "create", "p/dev", "--clone-from", "prod"],
            &["volume", "create", "prod/db"],
        ],
    );
    let started = json(h, &["db", "start", "prod/db"]);
    let prod = started["socket"].as_str().expect("socket").to_owned();
    ok(
        h,
        &[
            "generate",
            "--volume",
            "prod/db",
            "--rows",
            "100",
            "--blob-size",
            "1K",
        ],
    );
    ok(h, &["snapshot", "create", "prod/db@s1"]);
    let config = h.join("populous.toml");
    std::fs::write(
        &config,
        "listen = \"127.0.0.1:0\"\n[[warm]]\norigin = \"prod/db\"\nfolder = \"dev\"\ncount = 2\n",
    )
    .expect("config");
    let (mut daemon, api, _) = common::serve(h, &config);
    wait_for("two warm clones of s1", Duration::from_secs(120), || {
        warm(h) == ["s1", "s1"]
    });
    // A request takes one: the newest snapshot's data (no new snapshot is
    // taken), its own login, no root over TCP.
    let addr: std::net::SocketAddr = api.expect("api").parse().expect("address");
    let token = ok(
        h,
        &["token", "create", "ci", "--write", "dev", "--read", "prod"],
    );
    let made = populous_daemon::client::api_call(
        addr,
        "POST",
        "/v1/clone",
        Some(token.trim()),
        Some(&serde_json::json!({"source": "prod/db", "target": "dev/w1", "db": true})),
    )
    .expect("answer");
    assert_eq!(made.status, 201, "{}", made.body);
    assert_eq!(made.body["volume"]["origin"], "prod/db@s1", "{}", made.body);
    assert_eq!(made.body["volume"]["name"], "w1");
    let (port, user, password) = (
        made.body["port"].as_u64().expect("port"),
        made.body["user"].as_str().expect("user").to_owned(),
        made.body["password"].as_str().expect("password").to_owned(),
    );
    assert_eq!(
        tcp_ok(port, &user, &password, "SELECT COUNT(*) FROM populous.main"),
        "100"
    );
    tcp_refused(port, "root", "");
    assert!(json(h, &["volume", "inspect", "dev/w1"])["labels"]
        .as_object()
        .expect("labels")
        .is_empty());
    let listed = ok(h, &["volume", "ls", "dev"]);
    assert!(listed.contains(&format!("w1@127.0.0.1:{port}")), "{listed}");
    // The pool refills; a newer snapshot replaces the waiting ones.
    wait_for("the pool refills", Duration::from_secs(120), || {
        warm(h) == ["s1", "s1"]
    });
    sql(&prod, "DELETE FROM main ORDER BY id LIMIT 40");
    ok(h, &["snapshot", "create", "prod/db@s2"]);
    wait_for("two warm clones of s2", Duration::from_secs(120), || {
        warm(h) == ["s2", "s2"]
    });
    // The CLI takes one too, and the claimed clone keeps its login over a restart.
    let w2 = json(h, &["clone", "prod/db@s2", "dev/w2", "--db"]);
    assert_eq!(w2["volume"]["origin"], "prod/db@s2", "{w2}");
    let (p2, u2, pw2) = (
        w2["port"].as_u64().expect("port"),
        w2["user"].as_str().expect("user").to_owned(),
        w2["password"].as_str().expect("password").to_owned(),
    );
    assert_eq!(
        tcp_ok(p2, &u2, &pw2, "SELECT COUNT(*) FROM populous.main"),
        "60"
    );
    daemon.kill().expect("kill");
    daemon.wait().expect("wait");
    ok(h, &["db", "stop", "dev/w2"]);
    ok(h, &["db", "start", "dev/w2"]);
    assert_eq!(
        tcp_ok(p2, &u2, &pw2, "SELECT COUNT(*) FROM populous.main"),
        "60"
    );
    tcp_refused(p2, "root", "");
    assert_eq!(
        tcp_ok(port, &user, &password, "SELECT COUNT(*) FROM populous.main"),
        "100"
    );
    let report = json(h, &["check"]);
    assert_eq!(report["reconciled_ops"], 0, "{report}");
}
