//! The REST API on a volume with a running MariaDB: `POST /v1/clone` goes
//! through the same operation as `populous clone`, so a clone of a volume
//! whose server is taking writes is application-consistent (a quiesced
//! snapshot, whole transactions only), exactly as the CLI's own test in
//! `db.rs` proves for the CLI. Named `loopdev_mariadb_…`: root, loop devices
//! and a real MariaDB server.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

mod common;

use common::{json, ok, run as populous, sql};
use populous_testkit::Lab;
use serde_json::Value;

/// One HTTP/1.1 POST with a bearer token; the status and the JSON answer.
fn post(api: &str, token: &str, path: &str, body: &Value) -> (u16, Value) {
    let body = body.to_string();
    let mut s = TcpStream::connect(api).expect("connect to the API");
    write!(
        s,
        "POST {path} HTTP/1.1\r\nHost: {api}\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .expect("send");
    let mut answer = String::new();
    s.read_to_string(&mut answer).expect("read");
    let status = answer[9..12].parse().expect("status");
    let json = answer
        .split_once("\r\n\r\n")
        .map(|(_, b)| b)
        .unwrap_or_default();
    (status, serde_json::from_str(json).unwrap_or(Value::Null))
}

/// Stops what the test started, even when it panics.
struct Cleanup<'a> {
    home: &'a std::path::Path,
    servers: Vec<&'static str>,
    daemon: Option<std::process::Child>,
}

impl Drop for Cleanup<'_> {
    fn drop(&mut self) {
        if let Some(mut d) = self.daemon.take() {
            let _ = d.kill();
            let _ = d.wait();
        }
        for v in &self.servers {
            let _ = populous(self.home, &["db", "stop", v]);
        }
    }
}

#[test]
fn loopdev_mariadb_rest_clone_of_a_running_database_is_app_consistent() {
    let lab = Lab::new();
    let home = lab.home();
    let h = home.as_path();
    let img = lab.path().join("pool.img");
    let img = img.to_str().expect("utf-8");
    ok(h, &["pool", "create", "p", "--image", img, "--size", "2G"]);
    ok(h, &["folder", "create", "p/prod"]);
    ok(h, &["folder", "create", "p/dev", "--clone-from", "prod"]);
    ok(h, &["volume", "create", "prod/db"]);
    let mut cleanup = Cleanup {
        home: h,
        servers: vec!["prod/db"],
        daemon: None,
    };
    let prod = json(h, &["db", "start", "prod/db"]);
    let prod_sock = prod["socket"].as_str().expect("socket").to_owned();
    let gen = json(
        h,
        &[
            "generate",
            "--volume",
            "prod/db",
            "--rows",
            "200",
            "--blob-size",
            "4K",
        ],
    );
    assert_eq!(gen["rows_total"], 200);

    let token = ok(
        h,
        &["token", "create", "ci", "--write", "dev", "--read", "prod"],
    );
    let config = lab.path().join("populous.toml");
    std::fs::write(&config, "listen = \"127.0.0.1:0\"\n").expect("config");
    let (child, api, _) = common::serve(h, &config);
    cleanup.daemon = Some(child);
    let api = api.expect("the API listens");

    // A writer commits transactions of 5 rows while the clone is taken.
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (stop, sock) = (Arc::clone(&stop), prod_sock.clone());
        std::thread::spawn(move || {
            let mut batches = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let values = (0..5)
                    .map(|k| {
                        format!(
                            "(UUID(), {}, 'w', '0', 'w', 'w@x', 'w', 'x')",
                            batches * 5 + k
                        )
                    })
                    .collect::<Vec<_>>()
                    .join(",");
                sql(&sock, &format!("BEGIN; INSERT INTO main (guid, pid, street, zip, city, email, name, imprint) VALUES {values}; COMMIT;"));
                batches += 1;
            }
            batches
        })
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while sql(&prod_sock, "SELECT COUNT(*) FROM main") == "200" {
        assert!(Instant::now() < deadline, "the writer never committed");
    }
    let (status, clone) = post(
        &api,
        token.trim(),
        "/v1/clone",
        &serde_json::json!({"source": "prod/db", "target": "dev/c1"}),
    );
    stop.store(true, Ordering::Relaxed);
    assert!(writer.join().expect("writer") > 0);
    assert_eq!(status, 201, "{clone}");

    // The snapshot the clone came from was quiesced, and says so.
    let origin = clone["origin"].as_str().expect("origin");
    let snapshot = origin.split_once('@').expect("FOLDER/VOL@SNAP").1;
    let snaps = json(h, &["snapshot", "ls", "prod/db"]);
    let snap = snaps
        .as_array()
        .expect("array")
        .iter()
        .find(|s| s["name"] == snapshot)
        .expect("the clone's snapshot is listed");
    assert_eq!(snap["consistency"], "app", "{snap}");

    // The clone holds whole transactions only.
    cleanup.servers.push("dev/c1");
    let dev = json(h, &["db", "start", "dev/c1"]);
    let dev_sock = dev["socket"].as_str().expect("socket");
    let count: u64 = sql(dev_sock, "SELECT COUNT(*) FROM main")
        .parse()
        .expect("count");
    assert!(count > 200, "the clone has the writer's early rows");
    assert_eq!((count - 200) % 5, 0, "no torn transaction in the clone");
}
