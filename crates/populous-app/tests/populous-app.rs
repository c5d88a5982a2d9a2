//! The app, the generator and the bench against real `mariadbd` instances
//! (started with populous-db on temp dirs, stopped by Drop guards).

use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use mysql_async::prelude::Queryable;
use populous_app::rows::imprint;
use populous_app::{
    bench_generate, generate_blocking, serve, table_checksum, AppError, BenchOptions, DbTarget,
    GenerateOptions, LoadMethod, RowGenerator, ServeConfig, TableChecksum, FIRST_ID,
};
use populous_db::{init_datadir, stop, Instance, InstanceSpec};
use serde_json::Value;

// ---------------------------------------------------------------- fixtures

fn scratch() -> tempfile::TempDir {
    let dir = tempfile::Builder::new()
        .prefix("papp-")
        .tempdir_in("/tmp")
        .expect("temp dir");
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    dir
}

/// A MariaDB server on a temp dir; stopped on drop.
struct Db {
    inst: Option<Instance>,
    port: u16,
    dir: tempfile::TempDir,
}

impl Db {
    fn new() -> Db {
        let dir = scratch();
        init_datadir(&dir.path().join("data"), "mysql").expect("init datadir");
        Db {
            inst: None,
            port: populous_db::free_port().unwrap(),
            dir,
        }
    }
    fn started() -> Db {
        let mut d = Db::new();
        d.start();
        d
    }
    fn start(&mut self) {
        assert!(self.inst.is_none());
        let mut spec = InstanceSpec::new(self.dir.path().join("data"), self.run_dir());
        spec.port = Some(self.port);
        self.inst = Some(populous_db::start(&spec).expect("start mariadbd"));
    }
    fn stop(&mut self) {
        stop(&self.inst.take().expect("running")).expect("stop mariadbd");
    }
    fn run_dir(&self) -> PathBuf {
        self.dir.path().join("run")
    }
    fn url(&self) -> String {
        format!("mysql://root@127.0.0.1:{}/", self.port)
    }
    fn url_db(&self, db: &str) -> String {
        format!("mysql://root@127.0.0.1:{}/{db}", self.port)
    }
}

impl Drop for Db {
    fn drop(&mut self) {
        if let Some(inst) = self.inst.take() {
            let _ = stop(&inst);
        }
    }
}

/// The app served on an ephemeral port from a background runtime; shut down on drop.
struct App {
    addr: SocketAddr,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
    agent: ureq::Agent,
}

impl App {
    fn start(config: ServeConfig) -> App {
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let (sd_tx, sd_rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                addr_tx.send(l.local_addr().unwrap()).unwrap();
                serve(l, config, async move {
                    let _ = sd_rx.await;
                })
                .await
                .expect("serve");
            });
        });
        let addr = addr_rx
            .recv_timeout(Duration::from_secs(30))
            .expect("app listening");
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(30)))
            .build()
            .into();
        App {
            addr,
            shutdown: Some(sd_tx),
            thread: Some(thread),
            agent,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn get(&self, path: &str) -> (u16, String) {
        let mut r = self.agent.get(&self.url(path)).call().expect("GET");
        let status = r.status().as_u16();
        (status, r.body_mut().read_to_string().expect("body"))
    }

    fn get_json(&self, path: &str) -> (u16, Value) {
        let (s, body) = self.get(path);
        (
            s,
            serde_json::from_str(&body).unwrap_or_else(|e| panic!("{path}: {e}: {body}")),
        )
    }

    fn post_json(&self, path: &str) -> (u16, Value) {
        let mut r = self.agent.post(&self.url(path)).send_empty().expect("POST");
        let status = r.status().as_u16();
        let body = r.body_mut().read_to_string().expect("body");
        (
            status,
            serde_json::from_str(&body).unwrap_or_else(|e| panic!("{path}: {e}: {body}")),
        )
    }

    /// The `populous_http_requests_total` counter for one route and status.
    fn counter(&self, route: &str, status: u16) -> u64 {
        let (s, text) = self.get("/metrics");
        assert_eq!(s, 200);
        let prefix = format!(
            "populous_http_requests_total{{route=\"{route}\",method=\"GET\",status=\"{status}\"}} "
        );
        text.lines()
            .find_map(|l| l.strip_prefix(&prefix))
            .map(|n| n.trim().parse().unwrap())
            .unwrap_or(0)
    }
}

impl Drop for App {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn poll_until(what: &str, timeout: Duration, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn checksum(url: &str) -> TableChecksum {
    rt().block_on(async {
        let target = DbTarget::parse(url).unwrap();
        let mut conn = mysql_async::Conn::new(target.with_db()).await.unwrap();
        let c = table_checksum(&mut conn, &target).await.unwrap();
        conn.disconnect().await.unwrap();
        c
    })
}

fn exec(url: &str, sql: &str) {
    rt().block_on(async {
        let mut c = mysql_async::Conn::from_url(url).await.unwrap();
        c.query_drop(sql).await.unwrap();
        c.disconnect().await.unwrap();
    })
}

fn opts(rows: u64, seed: u64, blob: usize, threads: usize, method: LoadMethod) -> GenerateOptions {
    GenerateOptions {
        threads,
        seed,
        blob_size: blob,
        method,
        ..GenerateOptions::rows(rows)
    }
}

fn config(db_url: String) -> ServeConfig {
    let mut c = ServeConfig::new(db_url, "1.2.3-45");
    c.db_timeout = Duration::from_secs(3);
    c
}

// ---------------------------------------------------------------- app

#[test]
fn mariadb_app_endpoints() {
    let db = Db::started();
    let url = db.url_db("appdb");
    let report =
        generate_blocking(&url, &opts(120, 5, 4096, 2, LoadMethod::LoadData), |_| {}).unwrap();
    assert_eq!(report.rows_written, 120);

    // Version from a VERSION file plus the build number.
    let vdir = scratch();
    std::fs::write(vdir.path().join("VERSION"), "1.2.3\n").unwrap();
    let version = populous_app::version_string(&vdir.path().join("VERSION"), "45").unwrap();
    let app = App::start(config(url.clone()));

    // /_ping: exactly the seed's three keys.
    let (s, ping) = app.get_json("/_ping");
    assert_eq!(s, 200, "{ping}");
    let obj = ping.as_object().unwrap();
    let mut keys: Vec<&str> = obj.keys().map(|k| k.as_str()).collect();
    keys.sort();
    assert_eq!(keys, ["response_time_ms", "served_by", "version"]);
    assert_eq!(ping["version"], version.as_str());
    assert_eq!(ping["served_by"], populous_app::server::hostname().as_str());
    let ms = ping["response_time_ms"].as_f64().unwrap();
    assert!(ms > 0.0 && ms < 5000.0, "{ms}");

    // /rows/{id}: the generated row, without its blob.
    let g = RowGenerator::new(5, 4096);
    let (s, row) = app.get_json(&format!("/rows/{}", FIRST_ID + 7));
    assert_eq!(s, 200, "{row}");
    let want = g.row(7);
    assert_eq!(row["id"], FIRST_ID + 7);
    assert_eq!(row["guid"], want.guid.as_str());
    assert_eq!(row["email"], want.email.as_str());
    assert_eq!(row["imprint_len"], 4096);
    assert!(row.get("imprint").is_none());

    // /rows?guid=
    let (s, found) = app.get_json(&format!("/rows?guid={}", want.guid));
    assert_eq!(s, 200);
    assert_eq!(found["rows"].as_array().unwrap().len(), 1);
    assert_eq!(found["rows"][0]["id"], FIRST_ID + 7);

    // Errors are JSON with the right status.
    for (path, status) in [
        ("/rows/abc", 400),
        ("/rows/-1", 400),
        ("/rows", 400),
        ("/rows/99", 404),
        ("/no/such/thing", 404),
    ] {
        let (s, e) = app.get_json(path);
        assert_eq!(s, status, "{path}: {e}");
        assert!(
            e["error"].as_str().is_some_and(|m| !m.is_empty()),
            "{path}: {e}"
        );
    }
    let (s, e) = app.post_json("/_ping");
    assert_eq!(s, 405, "{e}");
    assert!(e["error"].is_string());
    for bad in [
        "/populate",
        "/populate?rows=0",
        "/populate?rows=abc",
        "/populate?rows=99999999",
    ] {
        let (s, e) = app.post_json(bad);
        assert_eq!(s, 400, "{bad}: {e}");
        assert!(e["error"].is_string());
    }

    // /populate appends rows with fresh ids.
    let (s, p) = app.post_json("/populate?rows=3");
    assert_eq!(s, 200, "{p}");
    assert_eq!(p["inserted"], 3);
    let first = p["first_id"].as_u64().unwrap();
    assert!(first >= FIRST_ID + 120, "{first}");
    let (s, row) = app.get_json(&format!("/rows/{first}"));
    assert_eq!(s, 200);
    assert_eq!(row["imprint_len"], 65536);

    // /imprint: the 64 KiB blob.
    let mut r = app.agent.get(&app.url("/imprint")).call().unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let blob = r.body_mut().read_to_vec().unwrap();
    assert_eq!(blob.len(), 65536);
    assert_eq!(blob, imprint(65536));

    // /healthz
    let (s, h) = app.get_json("/healthz");
    assert_eq!(s, 200, "{h}");
    assert_eq!(h["status"], "ready");

    // /metrics counts requests by route and status.
    let before = app.counter("/_ping", 200);
    assert!(before >= 1);
    for _ in 0..3 {
        assert_eq!(app.get("/_ping").0, 200);
    }
    assert_eq!(app.counter("/_ping", 200), before + 3);
    assert!(app.counter("/rows/{id}", 404) >= 1);
    let (_, text) = app.get("/metrics");
    assert!(text.contains("populous_http_request_duration_seconds_bucket{route=\"/_ping\""));
    assert!(text.contains("populous_db_up 1"));
}

#[test]
fn mariadb_app_serves_503_without_the_database_and_recovers() {
    // The app starts before its database exists.
    let mut db = Db::new();
    let app = App::start(config(db.url()));
    let (s, e) = app.get_json("/_ping");
    assert_eq!(s, 503, "{e}");
    assert!(
        e["error"]
            .as_str()
            .unwrap()
            .contains("database unavailable"),
        "{e}"
    );
    let (s, h) = app.get_json("/healthz");
    assert_eq!(s, 503);
    assert_eq!(h["status"], "unavailable");

    // The database comes up: the app creates the table and answers.
    db.start();
    poll_until("/_ping to answer 200", Duration::from_secs(60), || {
        app.get("/_ping").0 == 200
    });
    let (s, p) = app.post_json("/populate?rows=2");
    assert_eq!(s, 200, "{p}");

    // It goes away again: 503, JSON.
    db.stop();
    let (s, e) = app.get_json("/_ping");
    assert_eq!(s, 503, "{e}");
    assert!(e["error"].is_string());
    assert!(app.counter("/_ping", 503) >= 2);

    // And comes back on the same port: the app recovers by itself.
    db.start();
    poll_until("/_ping to recover", Duration::from_secs(60), || {
        app.get("/_ping").0 == 200
    });
    let (s, row) = app.get_json(&format!("/rows/{FIRST_ID}"));
    assert_eq!(s, 200, "{row}");
}

// ---------------------------------------------------------------- generator

#[test]
fn mariadb_same_seed_same_data_across_servers_threads_and_methods() {
    let a = Db::started();
    let b = Db::started();
    let ra = generate_blocking(
        &a.url_db("g"),
        &opts(300, 7, 8192, 1, LoadMethod::LoadData),
        |_| {},
    )
    .unwrap();
    let rb = generate_blocking(
        &b.url_db("g"),
        &GenerateOptions {
            chunk_bytes: Some(64 * 1024),
            ..opts(300, 7, 8192, 3, LoadMethod::Insert)
        },
        |_| {},
    )
    .unwrap();
    assert_eq!((ra.rows_written, rb.rows_written), (300, 300));
    assert_eq!(rb.threads, 3);
    let (ca, cb) = (checksum(&a.url_db("g")), checksum(&b.url_db("g")));
    assert_eq!(ca.rows, 300);
    assert_eq!(ca, cb);

    // A different seed gives different data.
    generate_blocking(
        &a.url_db("other"),
        &opts(300, 8, 8192, 2, LoadMethod::LoadData),
        |_| {},
    )
    .unwrap();
    assert_ne!(checksum(&a.url_db("other")), ca);

    // The blob bytes survive LOAD DATA escaping: compare one row byte for byte.
    let want = RowGenerator::new(7, 8192).row(123);
    let got: Vec<u8> = rt().block_on(async {
        let mut c = mysql_async::Conn::from_url(a.url_db("g")).await.unwrap();
        let v: Option<Vec<u8>> = c
            .exec_first("SELECT imprint FROM main WHERE id = ?", (FIRST_ID + 123,))
            .await
            .unwrap();
        c.disconnect().await.unwrap();
        v.unwrap()
    });
    assert_eq!(got, want.imprint);
}

#[test]
fn mariadb_generate_refuses_a_non_empty_table_and_resumes() {
    let db = Db::started();
    let url = db.url_db("r");
    // About 16 rows per chunk, so there are several chunks to lose.
    let small = |rows, seed, resume| GenerateOptions {
        resume,
        chunk_bytes: Some(16 * 1200),
        ..opts(rows, seed, 1024, 2, LoadMethod::LoadData)
    };
    let progress_calls = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let pc = progress_calls.clone();
    generate_blocking(&url, &small(100, 3, false), move |p| {
        assert!(p.rows_done <= p.rows_todo);
        pc.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    })
    .unwrap();
    assert!(progress_calls.load(std::sync::atomic::Ordering::Relaxed) >= 1);

    // Not empty, no --resume: a clear refusal, nothing written.
    let e = generate_blocking(&url, &small(200, 3, false), |_| {}).unwrap_err();
    assert!(
        matches!(e, AppError::TableNotEmpty { rows: 100, .. }),
        "{e}"
    );
    assert!(e.to_string().contains("--resume"), "{e}");
    assert_eq!(checksum(&url).rows, 100);

    // Resume with another seed: refused.
    let e = generate_blocking(&url, &small(200, 4, true), |_| {}).unwrap_err();
    assert!(matches!(e, AppError::ResumeMismatch { .. }), "{e}");

    // Resume to 200 rows continues after the 100 present.
    let r = generate_blocking(&url, &small(200, 3, true), |_| {}).unwrap();
    assert_eq!((r.rows_present, r.rows_written), (100, 100));

    // Holes (a lost chunk and a partly written one) are filled too.
    exec(
        &url,
        &format!(
            "DELETE FROM main WHERE (id >= {a} AND id < {b}) OR id = {c}",
            a = FIRST_ID + 40,
            b = FIRST_ID + 90,
            c = FIRST_ID + 150
        ),
    );
    let r = generate_blocking(&url, &small(200, 3, true), |_| {}).unwrap();
    assert_eq!((r.rows_present, r.rows_written), (149, 51));

    // The result equals a fresh run in one go.
    generate_blocking(
        &db.url_db("fresh"),
        &opts(200, 3, 1024, 1, LoadMethod::Insert),
        |_| {},
    )
    .unwrap();
    assert_eq!(checksum(&url), checksum(&db.url_db("fresh")));

    // Nothing left to do: resume is a no-op.
    let r = generate_blocking(&url, &small(200, 3, true), |_| {}).unwrap();
    assert_eq!((r.rows_present, r.rows_written), (200, 0));
}

#[test]
fn mariadb_bench_compares_with_the_insert_select_ceiling() {
    let db = Db::started();
    let r = rt()
        .block_on(bench_generate(
            &db.url(),
            &BenchOptions {
                rows: 200,
                blob_size: 4096,
                ..BenchOptions::default()
            },
        ))
        .unwrap();
    assert_eq!(r.rows, 200);
    assert_eq!(r.generator.rows, 200);
    for p in [r.ceiling, r.generator] {
        assert!(p.rows_per_sec > 0.0 && p.mb_per_sec > 0.0, "{p:?}");
        assert!(
            p.avg_row_bytes > 4096.0 && p.avg_row_bytes < 4096.0 + 300.0,
            "{p:?}"
        );
    }
    assert!(r.ratio > 0.0);
    // The scratch database is gone.
    let n: u64 = rt().block_on(async {
        let mut c = mysql_async::Conn::from_url(db.url()).await.unwrap();
        let n: Option<u64> = c
            .query_first("SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = 'populous_bench'")
            .await
            .unwrap();
        c.disconnect().await.unwrap();
        n.unwrap()
    });
    assert_eq!(n, 0);
}
