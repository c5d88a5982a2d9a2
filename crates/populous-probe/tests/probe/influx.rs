//! InfluxDB output against a real influxd 1.x (`apt-get install influxdb`);
//! without it the test fails, saying so (`--skip influx` skips it).

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, UNIX_EPOCH};

use populous_probe::{InfluxConfig, Probe};

use crate::common::{config, free_port, split, FakeApp, Mode};

/// A real influxd 1.x on a temp dir and free ports; killed on drop.
struct Influxd {
    child: Child,
    url: String,
    _dir: tempfile::TempDir,
}

impl Influxd {
    /// Starts influxd; a missing influxd fails the test, saying how to install it.
    fn start() -> Influxd {
        let bin = ["/usr/bin/influxd", "/usr/local/bin/influxd"]
            .into_iter()
            .find(|p| Path::new(p).exists())
            .expect(
                "influxd not found: install it with `apt-get install -y influxdb`, \
                 or skip this test with --skip influx",
            );
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().display();
        let (http, rpc) = (free_port(), free_port());
        let conf = format!(
            r#"reporting-disabled = true
bind-address = "127.0.0.1:{rpc}"
[meta]
  dir = "{d}/meta"
[data]
  dir = "{d}/data"
  wal-dir = "{d}/wal"
  query-log-enabled = false
[monitor]
  store-enabled = false
[http]
  enabled = true
  bind-address = "127.0.0.1:{http}"
  log-enabled = false
[continuous_queries]
  enabled = false
"#
        );
        let conf_path = dir.path().join("influxdb.conf");
        std::fs::write(&conf_path, conf).unwrap();
        let child = Command::new(bin)
            .arg("-config")
            .arg(&conf_path)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut me = Influxd {
            child,
            url: format!("http://127.0.0.1:{http}"),
            _dir: dir,
        };
        // Wait (bounded) for /ping to answer 204.
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(1)))
            .http_status_as_error(false)
            .build()
            .into();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(r) = agent.get(format!("{}/ping", me.url)).call() {
                if r.status().as_u16() == 204 {
                    return me;
                }
            }
            if let Ok(Some(st)) = me.child.try_wait() {
                panic!("influxd exited early: {st}");
            }
            assert!(
                Instant::now() < deadline,
                "influxd did not answer /ping within 30 s"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn query(&self, db: &str, q: &str) -> serde_json::Value {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        let mut r = agent
            .get(format!("{}/query", self.url))
            .query("db", db)
            .query("epoch", "ns")
            .query("q", q)
            .call()
            .unwrap();
        let body = r.body_mut().read_to_string().unwrap();
        assert_eq!(r.status().as_u16(), 200, "query {q:?}: {body}");
        serde_json::from_str(&body).unwrap()
    }
}

impl Drop for Influxd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn influx_writes_land_in_a_real_influxd() {
    let influx = Influxd::start();
    let app = FakeApp::start();
    app.script(&[Mode::Ok, Mode::Fail(500)]);
    let mut cfg = config(&app.url(), 50, 10);
    let mut ic = InfluxConfig::new(influx.url.clone(), "populous probe");
    ic.batch_size = 4;
    ic.flush_interval = Duration::from_millis(200);
    cfg.influx = Some(ic);
    cfg.marks = vec!["clone, \"big\"@120ms".parse().unwrap()];
    let run = Probe::new(cfg).unwrap().run().unwrap();
    let sum = run.summary.influx.clone().unwrap();
    assert_eq!(sum.lines_written, 11, "{sum:?}");
    assert_eq!(sum.batches_failed, 0, "{sum:?}");
    assert_eq!(sum.lines_dropped, 0, "{sum:?}");
    assert!(sum.batches_written >= 3);

    let db = "populous probe";
    let v = influx.query(db, "SELECT count(latency_ms) FROM populous_ping");
    assert_eq!(v["results"][0]["series"][0]["values"][0][1], 10, "{v}");
    let v = influx.query(
        db,
        "SELECT count(latency_ms) FROM populous_ping WHERE status = '500'",
    );
    assert_eq!(v["results"][0]["series"][0]["values"][0][1], 1, "{v}");
    let v = influx.query(db, "SELECT text, source FROM populous_event");
    let row = &v["results"][0]["series"][0]["values"][0];
    assert_eq!(row[1], "clone, \"big\"", "{v}");
    assert_eq!(row[2], "mark", "{v}");
    // Timestamps and values match the file's records exactly.
    let first = split(&run.records)
        .0
        .into_iter()
        .find(|s| s.seq == 0)
        .unwrap()
        .clone();
    let v = influx.query(
        db,
        "SELECT latency_ms, response_time_ms, served_by, version FROM populous_ping WHERE seq = 0",
    );
    let row = &v["results"][0]["series"][0]["values"][0];
    let ns = first.time.duration_since(UNIX_EPOCH).unwrap().as_nanos() as u64;
    assert_eq!(row[0].as_u64(), Some(ns), "{v}");
    assert_eq!(row[1].as_f64(), Some(first.latency_ms()), "{v}");
    assert_eq!(row[2].as_f64(), first.response_time_ms, "{v}");
    assert_eq!(row[3].as_str(), first.served_by.as_deref(), "{v}");
    assert_eq!(row[4].as_str(), first.version.as_deref(), "{v}");

    // A wrong InfluxDB URL fails before probing, with a hint.
    let mut cfg = config(&app.url(), 50, 1);
    cfg.influx = Some(InfluxConfig::new(
        format!("http://127.0.0.1:{}", free_port()),
        "x",
    ));
    let e = Probe::new(cfg).unwrap_err().to_string();
    assert!(e.contains("cannot reach it"), "{e}");
}
