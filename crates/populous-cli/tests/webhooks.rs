//! Webhooks of `populous serve`, end to end: a real daemon (the `populous`
//! binary) on a copy-backend pool in `TMPDIR` (no root), clones over REST,
//! and a real HTTP receiver in the test (tiny_http on 127.0.0.1) that
//! records every request and answers as each test scripts it: 200, 500, or
//! not at all (it holds the request). Signatures are checked with the HMAC
//! crates directly, not with the daemon's code. Waits are on conditions
//! (a request arriving, a counter reaching a value) with deadlines.

use std::collections::{BTreeMap, VecDeque};
use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

mod common;

use common::ok;
use hmac::{Hmac, Mac};
use populous_testkit::Lab;
use serde_json::Value;
use sha2::Sha256;

const SECRET: &str = "s3cr3t-hook-key-that-must-never-be-printed";
/// Long enough for a loaded 2-core machine; reached only when something is broken.
const DEADLINE: Duration = Duration::from_secs(60);

// ----- the receiver ------------------------------------------------------------

/// How the receiver answers one request.
#[derive(Debug, Clone, Copy)]
enum Reply {
    Status(u16),
    /// Keep the request unanswered (a hanging receiver) until `release`.
    Hold,
}

/// One request the receiver got.
#[derive(Debug)]
struct Hit {
    headers: BTreeMap<String, String>,
    body: Vec<u8>,
    /// What it answered (`None`: held).
    reply: Option<u16>,
}

impl Hit {
    fn header(&self, name: &str) -> &str {
        self.headers.get(name).map_or("", String::as_str)
    }
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("a JSON body")
    }
}

#[derive(Default)]
struct Script {
    /// Answers for the next requests, in order; then `default`.
    next: VecDeque<Reply>,
    default: Option<Reply>,
    held: Vec<tiny_http::Request>,
}

/// An HTTP server on 127.0.0.1 that reports every request on a channel.
struct Receiver {
    server: Arc<tiny_http::Server>,
    script: Arc<Mutex<Script>>,
    hits: mpsc::Receiver<Hit>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Receiver {
    /// Listens on `addr` (`127.0.0.1:0` for any port).
    fn start(addr: &str, default: Reply) -> Receiver {
        let server = Arc::new(tiny_http::Server::http(addr).expect("receiver listens"));
        let script = Arc::new(Mutex::new(Script {
            default: Some(default),
            ..Script::default()
        }));
        let (tx, hits) = mpsc::channel();
        let thread = {
            let (server, script) = (Arc::clone(&server), Arc::clone(&script));
            std::thread::spawn(move || {
                for mut req in server.incoming_requests() {
                    let mut body = Vec::new();
                    let _ = req.as_reader().read_to_end(&mut body);
                    let headers = req
                        .headers()
                        .iter()
                        .map(|h| {
                            (
                                h.field.as_str().as_str().to_ascii_lowercase(),
                                h.value.as_str().to_owned(),
                            )
                        })
                        .collect();
                    let mut s = script.lock().expect("script");
                    let reply = match s.next.pop_front() {
                        Some(r) => r,
                        None => s.default.unwrap_or(Reply::Status(200)),
                    };
                    let answered = match reply {
                        Reply::Status(code) => {
                            let _ = req.respond(tiny_http::Response::empty(code));
                            Some(code)
                        }
                        Reply::Hold => {
                            s.held.push(req);
                            None
                        }
                    };
                    drop(s);
                    let _ = tx.send(Hit {
                        headers,
                        body,
                        reply: answered,
                    });
                }
            })
        };
        Receiver {
            server,
            script,
            hits,
            thread: Some(thread),
        }
    }

    fn addr(&self) -> String {
        self.server.server_addr().to_ip().expect("ip").to_string()
    }

    /// Answers the next requests with `replies`, in order.
    fn then(&self, replies: &[Reply]) {
        self.script.lock().expect("script").next.extend(replies);
    }

    /// Answers every held request with `code`.
    fn release(&self, code: u16) {
        for r in self.script.lock().expect("script").held.drain(..) {
            let _ = r.respond(tiny_http::Response::empty(code));
        }
    }

    /// The next request, waiting at most [`DEADLINE`].
    fn next(&self, what: &str) -> Hit {
        self.hits
            .recv_timeout(DEADLINE)
            .unwrap_or_else(|e| panic!("the receiver got no request ({what}) in time: {e}"))
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.script.lock().map(|mut s| s.held.clear()).ok();
        self.server.unblock();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

// ----- the daemon ----------------------------------------------------------------

/// `populous serve` as a child process, its log in a file; killed on drop.
struct Serve {
    child: Child,
    api: String,
}

impl Serve {
    fn start(home: &Path, config: &Path, log: &Path) -> Serve {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .expect("log file");
        let mut child = common::populous(home)
            // As much log as there is: none of it may hold the secret.
            .env("RUST_LOG", "debug")
            .args(["--json", "serve", "--config"])
            .arg(config)
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .expect("spawn populous serve");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("read");
        let bound: Value = match serde_json::from_str(&line) {
            Ok(v) => v,
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("the daemon did not start ({e}): {line:?}");
            }
        };
        let api = bound["api"].as_str().expect("api address").to_owned();
        Serve { child, api }
    }

    /// `kill -9`.
    fn kill9(mut self) {
        self.child.kill().expect("kill -9");
        self.child.wait().expect("wait");
    }

    fn call(&self, method: &str, path: &str, token: Option<&str>, body: &Value) -> (u16, Value) {
        let s = TcpStream::connect(&self.api).expect("connect to the API");
        let bytes = if body.is_null() {
            Vec::new()
        } else {
            body.to_string().into_bytes()
        };
        let a = populous_daemon::client::exchange(s, method, path, token, &bytes).expect("HTTP");
        (a.status, a.body)
    }

    fn clone(&self, token: &str, source: &str, target: &str) -> Value {
        let (status, v) = self.call(
            "POST",
            "/v1/clone",
            Some(token),
            &serde_json::json!({"source": source, "target": target}),
        );
        assert_eq!(status, 201, "clone {source} {target}: {v}");
        v
    }

    fn metrics(&self) -> String {
        let (status, v) = self.call("GET", "/metrics", None, &Value::Null);
        assert_eq!(status, 200);
        v.as_str().expect("text").to_owned()
    }

    /// `populous_webhook_deliveries_total{hook="rx",kind,result}` (0 when absent).
    fn deliveries(&self, kind: &str, result: &str) -> u64 {
        let want = format!(
            "populous_webhook_deliveries_total{{hook=\"rx\",kind=\"{kind}\",result=\"{result}\"}} "
        );
        self.metrics()
            .lines()
            .find_map(|l| l.strip_prefix(&want))
            .map_or(0, |n| n.trim().parse().expect("a count"))
    }

    /// Waits until `/metrics` has the line `line`.
    fn wait_line(&self, line: &str) {
        let t = Instant::now();
        while !self.metrics().lines().any(|l| l == line) {
            assert!(
                t.elapsed() < DEADLINE,
                "no {line:?} in:\n{}",
                self.metrics()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits until the counter of `kind`/`result` reaches `n`.
    fn wait_deliveries(&self, kind: &str, result: &str, n: u64) {
        let t = Instant::now();
        loop {
            let now = self.deliveries(kind, result);
            if now >= n {
                return;
            }
            assert!(
                t.elapsed() < DEADLINE,
                "{kind}/{result} deliveries stayed at {now}, not {n}:\n{}",
                self.metrics()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ----- the home ---------------------------------------------------------------------

/// A lab whose home has a copy pool, prod/db and dev (clones from prod), a
/// token `ci` (dev: write, prod: read), the hook's secret file, and a config
/// with hook `rx` at `url`.
struct Home {
    /// Removed (with the home) when the test ends.
    _lab: Lab,
    home: PathBuf,
    token: String,
    config: PathBuf,
    log: PathBuf,
}

impl Home {
    fn new(url: &str, extra: &str) -> Home {
        let lab = Lab::in_temp_dir();
        let home = lab.home();
        let pool = lab.path().join("pool");
        std::fs::create_dir(&pool).expect("pool dir");
        let pool = pool.to_str().expect("utf-8");
        ok(
            &home,
            &["pool", "create", "p", "--path", pool, "--backend", "copy"],
        );
        ok(&home, &["folder", "create", "p/prod"]);
        ok(
            &home,
            &["folder", "create", "p/dev", "--clone-from", "prod"],
        );
        ok(&home, &["volume", "create", "prod/db"]);
        let token = ok(
            &home,
            &["token", "create", "ci", "--write", "dev", "--read", "prod"],
        )
        .trim()
        .to_owned();
        let secret = lab.path().join("hook.secret");
        std::fs::write(&secret, format!("{SECRET}\n")).expect("secret");
        let config = lab.path().join("populous.toml");
        std::fs::write(
            &config,
            format!(
                "listen = \"127.0.0.1:0\"\n\n[[webhook]]\nname = \"rx\"\nurl = \"{url}\"\nsecret_file = \"{}\"\n{extra}",
                secret.display()
            ),
        )
        .expect("config");
        let log = lab.path().join("daemon.log");
        Home {
            _lab: lab,
            home,
            token,
            config,
            log,
        }
    }

    fn serve(&self) -> Serve {
        Serve::start(&self.home, &self.config, &self.log)
    }
}

/// `sha256=<hex>` of the body under [`SECRET`], computed here.
fn expected_signature(body: &[u8]) -> String {
    sign(SECRET.as_bytes(), body)
}

/// `sha256=<hex>` of HMAC-SHA256 of `body` under `key`.
fn sign(key: &[u8], body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("any key length");
    mac.update(body);
    let hex: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("sha256={hex}")
}

/// A signed event of `kind` on `volume`; returns its id.
fn assert_event(hit: &Hit, kind: &str, volume: &str) -> String {
    let body = hit.json();
    assert_eq!(hit.header("x-populous-event"), kind, "{body}");
    assert_eq!(body["kind"], kind, "{body}");
    assert_eq!(body["volume"], volume, "{body}");
    assert_eq!(
        hit.header("x-populous-signature"),
        expected_signature(&hit.body),
        "the signature is HMAC-SHA256 of the exact body"
    );
    assert_eq!(hit.header("content-type"), "application/json");
    let id = body["id"].as_str().expect("id").to_owned();
    assert_eq!(hit.header("x-populous-delivery"), id);
    assert!(body["at"].as_i64().is_some(), "{body}");
    id
}

// ----- the tests ---------------------------------------------------------------------

#[test]
fn webhook_create_is_signed_and_the_secret_stays_secret() {
    let rx = Receiver::start("127.0.0.1:0", Reply::Status(200));
    let h = Home::new(&format!("http://{}/hook?k=1", rx.addr()), "");
    let d = h.serve();
    d.clone(&h.token, "prod/db", "dev/c1");
    let hit = rx.next("create");
    let id = assert_event(&hit, "create", "dev/c1");
    assert!(id.starts_with("evt_"), "{id}");
    let body = hit.json();
    assert_eq!(body["actor"], "token:ci", "{body}");
    assert_eq!(body["detail"]["from"], "prod/db", "{body}");
    assert_eq!(hit.header("x-populous-attempt"), "1");
    // A wrong key does not verify.
    assert_ne!(
        sign(b"another key", &hit.body),
        hit.header("x-populous-signature")
    );
    d.wait_deliveries("create", "delivered", 1);
    assert_eq!(d.deliveries("create", "failed_attempt"), 0);
    let metrics = d.metrics();
    assert!(
        metrics.contains("populous_webhook_pending_deliveries"),
        "{metrics}"
    );
    assert!(!metrics.contains(SECRET) && !metrics.contains("k=1"));
    drop(d);
    let log = std::fs::read_to_string(&h.log).expect("log");
    assert!(log.contains("webhook delivered"), "{log}");
    assert!(!log.contains(SECRET), "the secret is in the log");
    assert!(
        !log.contains("k=1"),
        "the URL (it may hold a token) is in the log"
    );
}

#[test]
fn webhook_failed_attempt_is_retried_and_counted() {
    let rx = Receiver::start("127.0.0.1:0", Reply::Status(200));
    rx.then(&[Reply::Status(500)]);
    let h = Home::new(&format!("http://{}/", rx.addr()), "");
    let d = h.serve();
    d.clone(&h.token, "prod/db", "dev/c1");
    let first = rx.next("the first attempt");
    assert_eq!(first.reply, Some(500));
    let id = assert_event(&first, "create", "dev/c1");
    let second = rx.next("the retry");
    assert_eq!(second.reply, Some(200));
    // The same event, the same id: a receiver can deduplicate.
    assert_eq!(assert_event(&second, "create", "dev/c1"), id);
    assert_eq!(second.body, first.body);
    assert_eq!(
        (
            first.header("x-populous-attempt"),
            second.header("x-populous-attempt")
        ),
        ("1", "2")
    );
    d.wait_deliveries("create", "delivered", 1);
    assert_eq!(d.deliveries("create", "failed_attempt"), 1);
    // Nothing pending once delivered; the record has both attempts.
    d.wait_line("populous_webhook_pending_deliveries 0");
    let list = common::json(&h.home, &["webhook", "ls"]);
    assert_eq!(list[0]["event"]["id"], id.as_str(), "{list}");
    assert_eq!(
        (&list[0]["hook"], &list[0]["state"], &list[0]["attempts"]),
        (&"rx".into(), &"delivered".into(), &2.into()),
        "{list}"
    );
    assert_eq!(list[0]["last_error"], "HTTP 500", "{list}");
}

#[test]
fn webhook_hanging_receiver_delays_no_clone() {
    // The receiver answers nothing, and the daemon would wait a minute for it.
    let rx = Receiver::start("127.0.0.1:0", Reply::Hold);
    let h = Home::new(&format!("http://{}/", rx.addr()), "timeout = \"60s\"\n");
    let d = h.serve();
    let t = Instant::now();
    d.clone(&h.token, "prod/db", "dev/c1");
    let held = rx.next("c1's event, held");
    assert_eq!(held.reply, None);
    assert_event(&held, "create", "dev/c1");
    // The receiver holds c1's delivery unanswered: another clone returns, and
    // its own event is sent beside the hanging one.
    d.clone(&h.token, "prod/db", "dev/c2");
    let held = rx.next("c2's event, beside c1's");
    assert_event(&held, "create", "dev/c2");
    // Both clones returned and both events went out while the first attempt
    // still hangs: no attempt has ended yet, failed or not.
    assert_eq!(d.deliveries("create", "failed_attempt"), 0);
    assert_eq!(d.deliveries("create", "delivered"), 0);
    assert!(
        t.elapsed() < Duration::from_secs(30),
        "two clones took {:?} beside a hanging receiver",
        t.elapsed()
    );
    rx.release(200);
    d.wait_deliveries("create", "delivered", 2);
    assert_eq!(d.deliveries("create", "failed_attempt"), 0);
}

#[test]
fn webhook_slow_receiver_times_out_as_a_failed_attempt() {
    let rx = Receiver::start("127.0.0.1:0", Reply::Status(200));
    rx.then(&[Reply::Hold]);
    let h = Home::new(&format!("http://{}/", rx.addr()), "timeout = \"1s\"\n");
    let d = h.serve();
    d.clone(&h.token, "prod/db", "dev/c1");
    let first = rx.next("the first attempt, held");
    assert_eq!(first.reply, None);
    let second = rx.next("the attempt after the timeout");
    assert_eq!(second.reply, Some(200));
    assert_eq!(second.header("x-populous-attempt"), "2");
    d.wait_deliveries("create", "delivered", 1);
    assert_eq!(d.deliveries("create", "failed_attempt"), 1);
    let list = common::json(&h.home, &["webhook", "ls"]);
    assert_eq!(list[0]["last_error"], "no answer within 1s", "{list}");
}

#[test]
fn webhook_pending_delivery_survives_kill_9() {
    // A port with nobody listening (yet).
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let h = Home::new(&format!("http://127.0.0.1:{port}/"), "max_attempts = 50\n");
    let d = h.serve();
    d.clone(&h.token, "prod/db", "dev/c1");
    d.wait_deliveries("create", "failed_attempt", 1);
    d.kill9();
    // The receiver comes up while no daemon runs; the next daemon delivers.
    let rx = Receiver::start(&format!("127.0.0.1:{port}"), Reply::Status(200));
    let d = h.serve();
    let hit = rx.next("the event after the restart");
    assert_event(&hit, "create", "dev/c1");
    let attempt: u32 = hit.header("x-populous-attempt").parse().expect("attempt");
    assert!(
        attempt >= 2,
        "attempt {attempt}: the failed ones were recorded"
    );
    d.wait_deliveries("create", "delivered", 1);
}

#[test]
fn webhook_destroy_reset_and_expire() {
    let rx = Receiver::start("127.0.0.1:0", Reply::Status(200));
    let h = Home::new(
        &format!("http://{}/", rx.addr()),
        "events = [\"destroy\", \"expire\", \"reset\"]\n",
    );
    let d = h.serve();
    // Creates are not subscribed: the first request is the destroy.
    d.clone(&h.token, "prod/db", "dev/a");
    d.clone(&h.token, "prod/db", "dev/b");
    let (status, v) = d.call(
        "DELETE",
        "/v1/folders/dev/volumes/a?destroy=true",
        Some(&h.token),
        &Value::Null,
    );
    assert_eq!(status, 200, "{v}");
    let hit = rx.next("destroy");
    assert_event(&hit, "destroy", "dev/a");
    assert_eq!(hit.json()["actor"], "token:ci");
    // A reset of dev/b to prod's newest snapshot (no server: the data alone).
    let (status, v) = d.call(
        "POST",
        "/v1/folders/dev/volumes/b/reset",
        Some(&h.token),
        &serde_json::json!({}),
    );
    assert_eq!(status, 200, "{v}");
    let hit = rx.next("reset");
    assert_event(&hit, "reset", "dev/b");
    // Expired behind the daemon's back (the CLI writes the store): the reaper finds it.
    ok(
        &h.home,
        &["volume", "expire", "dev/b", "--at", "2001-01-01T00:00:00Z"],
    );
    let hit = rx.next("expire");
    assert_event(&hit, "expire", "dev/b");
    assert_eq!(hit.json()["actor"], "reaper");
    d.wait_deliveries("expire", "delivered", 1);
    assert_eq!(d.deliveries("create", "delivered"), 0);
}
