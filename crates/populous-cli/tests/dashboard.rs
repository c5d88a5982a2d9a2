//! The web dashboard of `populous serve`, in a real browser and against a
//! real daemon with a real pool (copy backend on a plain directory: no root
//! or loop devices needed).
//!
//! - `chromium_dashboard_…` sets up folders prod and dev, a token for dev and
//!   an admin token, a prod volume, its snapshot, dev clones, a pipeline
//!   record with a probe record of prod's rolling update, then runs
//!   `dashboard.py` (Playwright driving Debian's `/usr/bin/chromium`, from
//!   the venv `scripts/install-deps.sh` makes). It fails, never skips, when
//!   the browser or Playwright is missing. Screenshots go to
//!   `target/dashboard-screenshots/`.
//! - `dashboard_session_ends_when_its_token_is_revoked`: over plain HTTP,
//!   the cookie's flags, the pages' headers, and a session that ends with
//!   its token (also when a token of the same name is made again).
//! - `dashboard_pages_with_1000_volumes` times every page with 1,000
//!   volumes over plain HTTP and prints the figures (no timed assertion).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant, SystemTime};

mod common;

use common::{ok, ok_all, serve};
use populous_testkit::Lab;

/// The daemon, killed when the test ends, even by a panic.
struct Daemon(Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A home with a copy pool on a plain directory and a daemon on a free port.
fn home_and_config(lab: &Lab) -> (PathBuf, PathBuf) {
    let h = lab.home();
    let pool = lab.path().join("pool");
    std::fs::create_dir_all(&pool).expect("pool dir");
    ok(
        &h,
        &[
            "pool",
            "create",
            "p",
            "--path",
            pool.to_str().expect("utf-8"),
            "--backend",
            "copy",
        ],
    );
    let config = lab.path().join("serve.toml");
    std::fs::write(&config, "listen = \"127.0.0.1:0\"\n").expect("config");
    (h, config)
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The Python that has Playwright: `POPULOUS_PYTHON`, or the venv that
/// `scripts/install-deps.sh` makes.
fn python() -> PathBuf {
    std::env::var_os("POPULOUS_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/opt/populous-venv/bin/python"))
}

/// A probe record of prod's rolling update, as the pipeline writes it:
/// an idle baseline, then the update with slower answers.
fn write_probe_record(path: &Path) {
    use populous_probe::{Event, EventSource, Record, Sample, Status};
    let start = SystemTime::now() - Duration::from_secs(120);
    let mut records = Vec::new();
    for i in 0..600u64 {
        let offset = Duration::from_millis(i * 100);
        let slow = (300..450).contains(&i);
        let ms = if slow { 8 + i % 7 } else { 2 + i % 3 };
        records.push(Record::Sample(Sample {
            seq: i,
            time: start + offset,
            offset,
            status: Status::Http(200),
            http_code: Some(200),
            latency: Duration::from_millis(ms),
            response_time_ms: Some(ms as f64),
            served_by: Some("app.1".into()),
            version: Some("2".into()),
            error: None,
        }));
    }
    for (at, name) in [(30_000, "rolling update"), (45_000, "updated")] {
        records.push(Record::Event(Event {
            time: start + Duration::from_millis(at),
            offset: Duration::from_millis(at),
            name: name.into(),
            source: EventSource::Api,
        }));
    }
    populous_probe::write_records(path, &records).expect("probe record");
    // A finished run: the page reloads itself only while a record grows.
    std::fs::File::options()
        .write(true)
        .open(path)
        .and_then(|f| f.set_modified(start + Duration::from_secs(60)))
        .expect("set the record's time");
}

#[test]
fn chromium_dashboard_sign_in_scope_lineage_destroy_latency_csrf() {
    // Fail, not skip, when the browser or Playwright is missing.
    let chromium = Path::new("/usr/bin/chromium");
    assert!(
        chromium.exists(),
        "{} is missing: run scripts/install-deps.sh (Debian's chromium)",
        chromium.display()
    );
    let py = python();
    let has_playwright = Command::new(&py)
        .args(["-c", "import playwright.sync_api"])
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        has_playwright,
        "{} cannot import playwright: run scripts/install-deps.sh (or set POPULOUS_PYTHON)",
        py.display()
    );

    let lab = Lab::in_temp_dir();
    let (h, config) = home_and_config(&lab);
    let h = h.as_path();
    ok_all(
        h,
        &[
            &["folder", "create", "p/prod"],
            &["folder", "create", "p/dev", "--clone-from", "prod,dev"],
            &["volume", "create", "prod/prodsecret-db"],
            &["snapshot", "create", "prod/prodsecret-db@nightly"],
            &["clone", "prod/prodsecret-db@nightly", "dev/golden"],
            &["snapshot", "create", "dev/golden@g1"],
            &["clone", "dev/golden@g1", "dev/feature"],
            &["volume", "create", "dev/scratch"],
        ],
    );
    let dev = ok(h, &["token", "create", "dev-ui", "--write", "dev"])
        .trim()
        .to_owned();
    let admin = ok(h, &["token", "create", "ops-ui", "--admin"])
        .trim()
        .to_owned();
    // The pipeline's record, and the probe's record of prod's build 2.
    let pdir = h.join("pipeline");
    std::fs::create_dir_all(&pdir).expect("pipeline dir");
    std::fs::write(
        pdir.join("populous.state.json"),
        r#"{"environments":{"prod":{"passed":["1","2"],"volume":null,"running":"2"},
            "dev":{"passed":["2"],"volume":"dev/feature","running":"2"}}}"#,
    )
    .expect("state");
    write_probe_record(&pdir.join("populous-prod-2.probe.jsonl"));

    let (child, api, _) = serve(h, &config);
    let _daemon = Daemon(child);
    let api = api.expect("the API's address");
    let shots = repo().join("target/dashboard-screenshots");
    let out = Command::new(&py)
        .arg(repo().join("crates/populous-cli/tests/dashboard.py"))
        .env("DASH_URL", format!("http://{api}"))
        .env("DASH_DEV_TOKEN", &dev)
        .env("DASH_ADMIN_TOKEN", &admin)
        .env("DASH_SHOTS", &shots)
        .env("DASH_CHROMIUM", chromium)
        .output()
        .expect("running dashboard.py");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}");
    eprintln!("{stderr}");
    assert!(
        out.status.success(),
        "dashboard.py failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
    assert!(!stdout.contains(&dev) && !stdout.contains(&admin));
}

/// One HTTP/1.1 request; the status, the headers and the body.
fn http(
    api: &str,
    method: &str,
    path: &str,
    cookie: Option<&str>,
    body: &str,
) -> (u16, String, String) {
    let mut s = TcpStream::connect(api).expect("connect");
    let cookie = cookie.map_or(String::new(), |c| format!("Cookie: {c}\r\n"));
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {api}\r\n{cookie}Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .expect("send");
    let mut answer = String::new();
    s.read_to_string(&mut answer).expect("read");
    let status = answer[9..12].parse().expect("status");
    let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((&answer, ""));
    (status, head.to_owned(), body.to_owned())
}

#[test]
fn dashboard_pages_with_1000_volumes() {
    let lab = Lab::in_temp_dir();
    let (h, config) = home_and_config(&lab);
    let h = h.as_path();
    ok_all(
        h,
        &[
            &["folder", "create", "p/prod"],
            &["folder", "create", "p/dev", "--clone-from", "prod,dev"],
            &["volume", "create", "prod/db"],
            &["snapshot", "create", "prod/db@s"],
        ],
    );
    let t = Instant::now();
    {
        let mut e = populous_engine::Engine::open(h).expect("engine");
        let src: populous_engine::CloneSource = "prod/db@s".parse().expect("source");
        for i in 0..999 {
            let dst: populous_engine::VolRef = format!("dev/v{i:04}").parse().expect("ref");
            e.clone_volume(&src, &dst, &Default::default())
                .expect("clone");
            e.audit("token:ci", "clone", &format!("prod/db@s -> {dst}"), "ok")
                .expect("audit");
        }
    }
    println!("1,000 volumes made in {:?}", t.elapsed());
    let pdir = h.join("pipeline");
    std::fs::create_dir_all(&pdir).expect("pipeline dir");
    std::fs::write(
        pdir.join("populous.state.json"),
        r#"{"environments":{"prod":{"passed":["1","2"]},"dev":{"passed":["2"]}}}"#,
    )
    .expect("state");
    write_probe_record(&pdir.join("populous-prod-2.probe.jsonl"));
    let admin = ok(h, &["token", "create", "ops", "--admin"])
        .trim()
        .to_owned();
    let dev = ok(h, &["token", "create", "dev", "--write", "dev"])
        .trim()
        .to_owned();
    let (child, api, _) = serve(h, &config);
    let _daemon = Daemon(child);
    let api = api.expect("the API's address");
    let pages = [
        "/ui/pools",
        "/ui/volumes",
        "/ui/volumes?page=19",
        "/ui/volumes/prod/db",
        "/ui/volumes/dev/v0500",
        "/ui/sources",
        "/ui/pipelines",
        "/ui/latency",
        "/ui/audit",
    ];
    println!("page timings with 1,000 volumes (median of 5, first request excluded):");
    time_pages(&api, &admin, "admin", &pages);
    time_pages(&api, &dev, "dev", &pages[1..3]);
    time_pages(&api, &dev, "dev", &pages[4..]);
}

/// The session cookie set by signing in with `secret`.
fn sign_in(api: &str, secret: &str) -> String {
    let (status, head, _) = http(api, "POST", "/ui/login", None, &format!("token={secret}"));
    assert_eq!(status, 303, "{head}");
    let line = head
        .lines()
        .find_map(|l| l.strip_prefix("set-cookie: "))
        .expect("a session cookie");
    assert!(
        line.contains("HttpOnly") && line.contains("SameSite=Strict") && line.contains("Path=/ui"),
        "{line}"
    );
    assert!(!line.contains(secret), "the cookie holds no secret");
    line.split(';').next().expect("name=value").to_owned()
}

#[test]
fn dashboard_session_ends_when_its_token_is_revoked() {
    let lab = Lab::in_temp_dir();
    let (h, config) = home_and_config(&lab);
    let h = h.as_path();
    ok_all(
        h,
        &[
            &["folder", "create", "p/dev"],
            &["volume", "create", "dev/listed"],
        ],
    );
    let dev = ok(h, &["token", "create", "dev", "--write", "dev"])
        .trim()
        .to_owned();
    let (child, api, _) = serve(h, &config);
    let _daemon = Daemon(child);
    let api = api.expect("the API's address");
    let signed_out = |body: &str| body.contains("name=\"token\"") && !body.contains("dev/listed");
    let (status, _, body) = http(&api, "GET", "/ui/volumes", None, "");
    assert!(
        status == 200 && signed_out(&body),
        "no cookie: the sign-in form"
    );
    let (_, _, body) = http(
        &api,
        "GET",
        "/ui/volumes",
        Some("populous_session=0123"),
        "",
    );
    assert!(signed_out(&body), "an unknown session: the sign-in form");
    let cookie = sign_in(&api, &dev);
    let (status, head, body) = http(&api, "GET", "/ui/volumes", Some(&cookie), "");
    assert_eq!(status, 200);
    assert!(body.contains("dev/listed"), "{body}");
    for h in [
        "content-security-policy: default-src 'none'",
        "x-frame-options: DENY",
        "cache-control: no-store",
    ] {
        assert!(
            head.to_lowercase().contains(&h.to_lowercase()),
            "{h}: {head}"
        );
    }
    let other = sign_in(&api, &dev);
    // Revoked: the session is over at its next request.
    let made = populous_engine::now();
    ok(h, &["token", "rm", "dev"]);
    let (_, _, body) = http(&api, "GET", "/ui/volumes", Some(&cookie), "");
    assert!(
        signed_out(&body),
        "a revoked token's session: the sign-in form"
    );
    // Made again under the same name (a later second: tokens' times are
    // seconds), with no request between: the other session is over too.
    while populous_engine::now() == made {
        std::thread::sleep(Duration::from_millis(50));
    }
    let again = ok(h, &["token", "create", "dev", "--write", "dev"]);
    assert_ne!(again.trim(), dev);
    let (_, _, body) = http(&api, "GET", "/ui/volumes", Some(&other), "");
    assert!(
        signed_out(&body),
        "a new token of the same name does not inherit the session"
    );
}

/// Signs in with `secret` and prints each page's median time.
fn time_pages(api: &str, secret: &str, who: &str, pages: &[&str]) {
    let cookie = sign_in(api, secret);
    for p in pages {
        let _ = http(api, "GET", p, Some(&cookie), "");
        let mut times = Vec::new();
        let mut size = 0;
        for _ in 0..5 {
            let t = Instant::now();
            let (status, _, body) = http(api, "GET", p, Some(&cookie), "");
            times.push(t.elapsed());
            assert_eq!(status, 200, "{who} {p}: {body}");
            assert!(!body.contains("name=\"token\""), "{p}: signed in");
            size = body.len();
        }
        times.sort();
        println!(
            "  {who:<6} {p:<24} {:>8.1} ms  ({} KiB)",
            times[2].as_secs_f64() * 1000.0,
            size / 1024
        );
    }
}
