//! Real `mariadbd` instances on temp dirs. Every server is stopped by a Drop
//! guard, so a failing test leaves no process behind.
//!
//! Tests that need MariaDB installed are named `mariadb_…` (`--skip mariadb`
//! skips them); without it they fail, saying what is missing.

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use mysql_async::prelude::Queryable;
use populous_db::{
    init_datadir, is_running, quiesce, quiesce_with, running_pid, start, stop, stop_pid_file,
    DbError, InitOutcome, Instance, InstanceSpec, QuiesceMethod, QuiesceOptions, StopOutcome,
};

/// A temp dir the `mysql` user can enter (tempfile makes them 0700).
fn scratch() -> tempfile::TempDir {
    let dir = tempfile::Builder::new()
        .prefix("pdb-")
        .tempdir_in("/tmp")
        .expect("temp dir");
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    dir
}

/// One running server; stopped on drop, even when the test panics.
struct Server {
    inst: Option<Instance>,
    dir: tempfile::TempDir,
}

impl Server {
    fn datadir(&self) -> PathBuf {
        self.dir.path().join("data")
    }
    fn run_dir(&self) -> PathBuf {
        self.dir.path().join("run")
    }
    fn new() -> Server {
        let dir = scratch();
        let s = Server { inst: None, dir };
        assert_eq!(
            init_datadir(&s.datadir(), "mysql").unwrap(),
            InitOutcome::Created
        );
        s
    }
    fn started() -> Server {
        let mut s = Server::new();
        s.start();
        s
    }
    fn start(&mut self) -> &Instance {
        assert!(self.inst.is_none());
        let spec = InstanceSpec::new(self.datadir(), self.run_dir());
        self.inst = Some(start(&spec).expect("start mariadbd"));
        self.inst.as_ref().unwrap()
    }
    fn inst(&self) -> &Instance {
        self.inst.as_ref().expect("started")
    }
    fn stop(&mut self) -> StopOutcome {
        let inst = self.inst.take().expect("started");
        stop(&inst).expect("stop")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(inst) = self.inst.take() {
            let _ = stop(&inst);
        }
    }
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn exec(url: &str, sql: &str) -> Result<(), mysql_async::Error> {
    rt().block_on(async {
        let mut c = mysql_async::Conn::from_url(url).await?;
        let r = c.query_drop(sql).await;
        let _ = c.disconnect().await;
        r
    })
}

fn query_u64(url: &str, sql: &str) -> u64 {
    rt().block_on(async {
        let mut c = mysql_async::Conn::from_url(url).await.unwrap();
        let v: Option<u64> = c.query_first(sql).await.unwrap();
        c.disconnect().await.unwrap();
        v.unwrap_or(0)
    })
}

fn poll_until(what: &str, timeout: Duration, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn mariadb_init_start_stop() {
    let mut s = Server::started();
    // A second init on a datadir changes nothing.
    assert_eq!(
        init_datadir(&s.datadir(), "mysql").unwrap(),
        InitOutcome::AlreadyInitialized
    );
    let inst = s.inst().clone();
    assert_eq!(inst.url, format!("mysql://root@127.0.0.1:{}/", inst.port));
    // TCP without socket fallback, and the socket URL, both answer.
    populous_db::ping(&format!("{}?prefer_socket=false", inst.url)).unwrap();
    populous_db::ping(&inst.socket_url()).unwrap();
    assert!(is_running(&inst.pid_file));
    assert_eq!(running_pid(&inst.pid_file), Some(inst.pid));
    assert!(inst.socket.exists());

    // Starting a second server on the same run dir is refused.
    let again = start(&InstanceSpec::new(s.datadir(), s.run_dir())).unwrap_err();
    assert!(
        matches!(again, DbError::AlreadyRunning { pid, .. } if pid == inst.pid),
        "{again}"
    );

    assert_eq!(s.stop(), StopOutcome::Stopped);
    assert!(!is_running(&inst.pid_file));
    assert!(!inst.pid_file.exists());
    assert!(!inst.socket.exists());
    assert!(populous_db::ping(&inst.url).is_err());
    // Stopping again is harmless.
    assert_eq!(
        stop_pid_file(&inst.pid_file, Duration::from_secs(5)).unwrap(),
        StopOutcome::NotRunning
    );
}

#[test]
fn mariadb_start_on_existing_datadir_keeps_data() {
    let mut s = Server::started();
    let url = s.inst().url.clone();
    exec(
        &url,
        "CREATE DATABASE d; CREATE TABLE d.t (id INT PRIMARY KEY) ENGINE=InnoDB; \
         INSERT INTO d.t VALUES (1),(2),(3)",
    )
    .unwrap();
    s.stop();
    let inst = s.start().clone();
    assert_ne!(inst.port, 0);
    assert_eq!(query_u64(&inst.url, "SELECT COUNT(*) FROM d.t"), 3);
}

#[test]
fn mariadb_refuses_a_non_empty_directory_that_is_not_a_datadir() {
    let dir = scratch();
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    std::fs::write(data.join("precious.txt"), b"keep me").unwrap();
    let e = init_datadir(&data, "mysql").unwrap_err();
    assert!(matches!(e, DbError::NotADatadir { .. }), "{e}");
    assert!(e.to_string().contains("not a MariaDB datadir"), "{e}");
    assert_eq!(
        std::fs::read(data.join("precious.txt")).unwrap(),
        b"keep me"
    );
    // And start refuses a directory that was never initialised.
    let e = start(&InstanceSpec::new(&data, dir.path().join("run"))).unwrap_err();
    assert!(matches!(e, DbError::NotInitialized { .. }), "{e}");
}

/// Only root hands the datadir to another user (`mysql`), so only root can
/// test that user's access: named `loopdev_` to share the group of tests that
/// need root (it mounts nothing).
#[test]
fn loopdev_mariadb_closed_parent_directory_is_a_clear_error() {
    assert!(
        nix::unistd::geteuid().is_root(),
        "this test needs root (the server runs as `mysql` only when started by root); \
         skip it with --skip loopdev"
    );
    let dir = tempfile::Builder::new()
        .prefix("pdb-")
        .tempdir_in("/tmp")
        .unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
    let e = init_datadir(&dir.path().join("data"), "mysql").unwrap_err();
    match &e {
        DbError::NotTraversable { blocker, .. } => assert_eq!(blocker, dir.path()),
        other => panic!("unexpected {other}"),
    }
    assert!(e.to_string().contains("chmod o+x"), "{e}");
}

#[test]
fn mariadb_early_exit_reports_the_error_log() {
    let s = Server::new();
    let mut spec = InstanceSpec::new(s.datadir(), s.run_dir());
    spec.extra_args.push("--no-such-option-populous".into());
    let e = start(&spec).unwrap_err();
    assert!(matches!(e, DbError::ExitedEarly { .. }), "{e}");
    let msg = e.to_string();
    assert!(msg.contains("no-such-option-populous"), "{msg}");
    assert!(!is_running(&s.run_dir().join("mariadbd.pid")));
}

#[test]
fn stale_pid_file_is_not_running() {
    let dir = scratch();
    let pid_file = dir.path().join("mariadbd.pid");
    // Our own pid: alive, but not a MariaDB server.
    std::fs::write(&pid_file, format!("{}\n", std::process::id())).unwrap();
    assert!(!is_running(&pid_file));
    assert_eq!(
        stop_pid_file(&pid_file, Duration::from_secs(1)).unwrap(),
        StopOutcome::NotRunning
    );
    assert!(!pid_file.exists());
}

/// Holds a quiesce guard, starts an autocommit INSERT on another thread, and
/// checks that it waits on the lock (seen in the process list) until release.
fn assert_quiesce_blocks_commits(options: &QuiesceOptions, expect: QuiesceMethod) {
    let s = Server::started();
    let url = s.inst().url.clone();
    exec(
        &url,
        "CREATE DATABASE q; CREATE TABLE q.t (id INT PRIMARY KEY) ENGINE=InnoDB",
    )
    .unwrap();

    let guard = quiesce_with(&url, options).unwrap();
    assert_eq!(guard.method(), expect);

    let (tx, rx) = mpsc::channel();
    let writer_url = url.clone();
    let writer = std::thread::spawn(move || {
        let r = exec(&writer_url, "INSERT INTO q.t VALUES (42)");
        let _ = tx.send(r.map_err(|e| e.to_string()));
    });

    // The INSERT shows up in the process list, waiting for the lock…
    poll_until(
        "the INSERT to wait on the lock",
        Duration::from_secs(20),
        || {
            query_u64(
                &url,
                "SELECT COUNT(*) FROM information_schema.PROCESSLIST \
             WHERE INFO LIKE 'INSERT INTO q.t%' AND STATE LIKE 'Waiting for%lock%'",
            ) == 1
        },
    );
    // …and has not finished.
    assert!(matches!(rx.try_recv(), Err(mpsc::TryRecvError::Empty)));
    assert_eq!(query_u64(&url, "SELECT COUNT(*) FROM q.t"), 0);
    assert!(guard.held_for() >= Duration::ZERO);

    guard.release().unwrap();
    let r = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("INSERT finished after release");
    r.unwrap();
    writer.join().unwrap();
    assert_eq!(query_u64(&url, "SELECT COUNT(*) FROM q.t"), 1);
}

#[test]
fn mariadb_quiesce_with_backup_stage_blocks_commits() {
    assert_quiesce_blocks_commits(&QuiesceOptions::default(), QuiesceMethod::BackupStage);
}

#[test]
fn mariadb_quiesce_with_flush_tables_blocks_writes() {
    let options = QuiesceOptions {
        method: Some(QuiesceMethod::FlushTablesWithReadLock),
        ..QuiesceOptions::default()
    };
    assert_quiesce_blocks_commits(&options, QuiesceMethod::FlushTablesWithReadLock);
}

#[test]
fn mariadb_dropping_the_guard_releases_and_works_inside_a_runtime() {
    let s = Server::started();
    let url = s.inst().url.clone();
    exec(
        &url,
        "CREATE DATABASE q; CREATE TABLE q.t (id INT PRIMARY KEY)",
    )
    .unwrap();
    // Taken and dropped from async code: no nested-runtime panic.
    rt().block_on(async {
        let guard = quiesce(&url).unwrap();
        assert_eq!(guard.method(), QuiesceMethod::BackupStage);
        drop(guard);
    });
    // Commits go through again.
    exec(&url, "INSERT INTO q.t VALUES (1)").unwrap();
    assert_eq!(query_u64(&url, "SELECT COUNT(*) FROM q.t"), 1);
    // A second quiesce works right away (the first released its stage).
    quiesce(&url).unwrap().release().unwrap();
}

#[test]
fn quiesce_on_a_dead_server_fails_cleanly() {
    let port = populous_db::free_port().unwrap();
    let e = quiesce(&format!("mysql://root@127.0.0.1:{port}/")).unwrap_err();
    assert!(
        matches!(
            e,
            DbError::Sql {
                what: "connecting",
                ..
            }
        ),
        "{e}"
    );
}
