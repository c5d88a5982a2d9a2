//! Integration tests for populous-probe: a fake `/_ping` app on 127.0.0.1
//! is the probe's input; the probe, its files, reports, charts and the
//! InfluxDB output (against a real influxd, when installed) are under test.

use std::collections::VecDeque;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use populous_probe::cli::{run_report, ReportArgs};
use populous_probe::{
    build_report, check_against_baseline, draw_chart, percentile, phase_stats, probe_for,
    read_records, write_records, Event, EventSource, InfluxConfig, Mark, Percentiles, Probe,
    ProbeConfig, Record, Sample, Status, StopReason,
};

// ---------------------------------------------------------------------------
// A fake Populous app.

#[derive(Debug, Clone, Copy, PartialEq)]
enum Mode {
    Ok,
    Fail(u16),
    BadJson,
    /// Answer OK, but only after this long.
    Slow(Duration),
}

#[derive(Debug)]
struct AppState {
    version: String,
    served_by: Vec<String>,
    /// Modes for the next requests, by arrival; then `default`.
    script: VecDeque<Mode>,
    default: Mode,
    requests: u64,
}

struct FakeApp {
    addr: SocketAddr,
    state: Arc<Mutex<AppState>>,
    max_concurrent: Arc<AtomicUsize>,
    server: Arc<tiny_http::Server>,
    handle: Option<JoinHandle<()>>,
}

impl FakeApp {
    fn start() -> FakeApp {
        let server = Arc::new(tiny_http::Server::http("127.0.0.1:0").expect("bind fake app"));
        let addr = server.server_addr().to_ip().expect("ip addr");
        let state = Arc::new(Mutex::new(AppState {
            version: "1.0.1-28".into(),
            served_by: vec!["e380bca895a7".into(), "5c2f0a1b9d3e".into()],
            script: VecDeque::new(),
            default: Mode::Ok,
            requests: 0,
        }));
        let max_concurrent = Arc::new(AtomicUsize::new(0));
        let current = Arc::new(AtomicUsize::new(0));
        let (srv, st, maxc) = (server.clone(), state.clone(), max_concurrent.clone());
        let handle = std::thread::spawn(move || {
            for req in srv.incoming_requests() {
                let (st, maxc, cur) = (st.clone(), maxc.clone(), current.clone());
                std::thread::spawn(move || {
                    let now = cur.fetch_add(1, Ordering::SeqCst) + 1;
                    maxc.fetch_max(now, Ordering::SeqCst);
                    serve(req, &st);
                    cur.fetch_sub(1, Ordering::SeqCst);
                });
            }
        });
        FakeApp {
            addr,
            state,
            max_concurrent,
            server,
            handle: Some(handle),
        }
    }

    fn url(&self) -> String {
        format!("http://{}/_ping", self.addr)
    }

    fn script(&self, modes: &[Mode]) {
        self.state.lock().unwrap().script.extend(modes);
    }

    fn set_default(&self, mode: Mode) {
        self.state.lock().unwrap().default = mode;
    }
}

impl Drop for FakeApp {
    fn drop(&mut self) {
        self.server.unblock();
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

fn serve(req: tiny_http::Request, state: &Mutex<AppState>) {
    let (mode, version, served_by, n) = {
        let mut st = state.lock().unwrap();
        st.requests += 1;
        let mode = st.script.pop_front().unwrap_or(st.default);
        let n = st.requests;
        let sb = st.served_by[(n as usize) % st.served_by.len()].clone();
        (mode, st.version.clone(), sb, n)
    };
    let rt = 30.0 + (n % 10) as f64 + 0.60504722595215;
    let json = format!(
        r#"{{"version": "{version}", "served_by": "{served_by}", "response_time_ms": {rt}}}"#
    );
    let (code, body) = match mode {
        Mode::Ok => (200, json),
        Mode::Slow(d) => {
            // The app's latency: behaviour of the input, not synchronisation.
            std::thread::sleep(d);
            (200, json)
        }
        Mode::Fail(code) => (code, r#"{"error": "database is gone"}"#.to_string()),
        Mode::BadJson => (200, "<html>oops</html>".to_string()),
    };
    let _ = req.respond(tiny_http::Response::from_string(body).with_status_code(code));
}

// ---------------------------------------------------------------------------
// Helpers.

fn config(url: &str, interval_ms: u64, count: u64) -> ProbeConfig {
    let mut c = ProbeConfig::new(url);
    c.interval = Duration::from_millis(interval_ms);
    c.count = Some(count);
    c.timeout = Duration::from_secs(2);
    c
}

fn samples(records: &[Record]) -> Vec<&Sample> {
    records
        .iter()
        .filter_map(|r| match r {
            Record::Sample(s) => Some(s),
            Record::Event(_) => None,
        })
        .collect()
}

fn events(records: &[Record]) -> Vec<&Event> {
    records
        .iter()
        .filter_map(|r| match r {
            Record::Event(e) => Some(e),
            Record::Sample(_) => None,
        })
        .collect()
}

/// Every sample was sent at or after its deadline and less than one
/// interval late: the schedule neither runs early nor drifts.
fn assert_on_schedule(samples: &[&Sample], interval: Duration) {
    for s in samples {
        let due = interval * s.seq as u32;
        assert!(
            s.offset >= due,
            "sample {} sent early: {:?} < {:?}",
            s.seq,
            s.offset,
            due
        );
        let late = s.offset - due;
        assert!(
            late < interval,
            "sample {} is {:?} late (interval {:?})",
            s.seq,
            late,
            interval
        );
    }
}

// ---------------------------------------------------------------------------
// Sampling.

#[test]
fn samples_follow_the_schedule() {
    let app = FakeApp::start();
    let run = Probe::new(config(&app.url(), 100, 10))
        .unwrap()
        .run()
        .unwrap();
    let s = samples(&run.records);
    assert_eq!(s.len(), 10);
    assert_eq!(run.summary.samples, 10);
    assert_eq!(run.summary.ok, 10);
    assert_eq!(run.summary.stop_reason, StopReason::Count);
    assert_eq!(
        s.iter().map(|s| s.seq).collect::<Vec<_>>(),
        (0..10).collect::<Vec<_>>()
    );
    assert_on_schedule(&s, Duration::from_millis(100));
    for x in &s {
        assert_eq!(x.status, Status::Http(200));
        assert_eq!(x.http_code, Some(200));
        assert_eq!(x.version.as_deref(), Some("1.0.1-28"));
        assert!(x.served_by.is_some());
        let rt = x.response_time_ms.unwrap();
        assert!((30.0..41.0).contains(&rt), "{rt}");
        assert!(x.latency > Duration::ZERO);
        assert_eq!(x.time, run.started + x.offset);
    }
    // Two containers answer alternately: with no keep-alive both are seen.
    assert_eq!(run.overall().served_by.len(), 2);
}

#[test]
fn duration_limits_the_run() {
    let app = FakeApp::start();
    let t0 = Instant::now();
    let s = probe_for(
        &app.url(),
        Duration::from_millis(100),
        Duration::from_millis(450),
    )
    .unwrap();
    // Ticks at 0, 100, 200, 300, 400 ms; the run lasts the whole 450 ms.
    assert_eq!(s.len(), 5);
    assert!(t0.elapsed() >= Duration::from_millis(450));
    assert!(s.iter().all(|s| s.status.is_ok()));
}

#[test]
fn slow_answers_do_not_delay_the_schedule() {
    let app = FakeApp::start();
    app.set_default(Mode::Slow(Duration::from_millis(350)));
    let t0 = Instant::now();
    let run = Probe::new(config(&app.url(), 100, 8))
        .unwrap()
        .run()
        .unwrap();
    let elapsed = t0.elapsed();
    let s = samples(&run.records);
    assert_eq!(s.len(), 8);
    assert_on_schedule(&s, Duration::from_millis(100));
    for x in &s {
        assert!(x.latency >= Duration::from_millis(350), "{:?}", x.latency);
        assert!(x.status.is_ok());
    }
    // Requests overlapped, and the run is bounded by the schedule plus one
    // answer, not 8 answers in a row.
    assert!(app.max_concurrent.load(Ordering::SeqCst) >= 3);
    assert!(elapsed >= Duration::from_millis(700 + 350));
    assert!(elapsed < Duration::from_millis(8 * 350), "{elapsed:?}");
}

#[test]
fn errors_are_classified() {
    let app = FakeApp::start();
    app.script(&[
        Mode::Ok,
        Mode::Fail(500),
        Mode::BadJson,
        Mode::Slow(Duration::from_millis(1500)),
        Mode::Fail(503),
    ]);
    let mut cfg = config(&app.url(), 60, 5);
    cfg.timeout = Duration::from_millis(300);
    let run = Probe::new(cfg).unwrap().run().unwrap();
    let s = samples(&run.records);
    assert_eq!(s.len(), 5);
    // Arrival order can differ from send order, so compare as a set.
    let mut got: Vec<(String, Option<u16>)> =
        s.iter().map(|s| (s.status.label(), s.http_code)).collect();
    got.sort();
    let mut want = vec![
        ("200".to_string(), Some(200)),
        ("500".to_string(), Some(500)),
        ("503".to_string(), Some(503)),
        ("invalid-json".to_string(), Some(200)),
        ("timeout".to_string(), None),
    ];
    want.sort();
    assert_eq!(got, want);
    for x in &s {
        assert_eq!(x.error.is_some(), !x.status.is_ok(), "{x:?}");
        if x.status == Status::Timeout {
            assert!(x.latency >= Duration::from_millis(300));
            assert!(x.latency < Duration::from_millis(1500));
        }
    }
    let all = run.overall();
    assert_eq!((all.count, all.ok, all.errors), (5, 1, 4));
    assert_eq!(all.errors_by_status.get("timeout"), Some(&1));
    assert_eq!(run.summary.errors, 4);
}

#[test]
fn connection_refused_is_classified() {
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let url = format!("http://127.0.0.1:{port}/_ping");
    let run = Probe::new(config(&url, 50, 3)).unwrap().run().unwrap();
    let s = samples(&run.records);
    assert_eq!(s.len(), 3);
    for x in &s {
        assert_eq!(x.status, Status::Connect, "{x:?}");
        assert_eq!(x.http_code, None);
    }
}

#[test]
fn bad_configuration_is_rejected_before_probing() {
    let e = Probe::new(ProbeConfig::new("https://example.invalid/_ping")).unwrap_err();
    assert!(e.to_string().contains("https"), "{e}");
    let e = Probe::new(ProbeConfig::new("not a url")).unwrap_err();
    assert!(e.to_string().starts_with("invalid probe url"), "{e}");
    let mut c = ProbeConfig::new("http://127.0.0.1:1/_ping");
    c.output = Some(PathBuf::from("/tmp/out.txt"));
    let e = Probe::new(c).unwrap_err();
    assert!(e.to_string().contains(".csv or *.jsonl"), "{e}");
    assert!("clone".parse::<Mark>().is_err());
    let m: Mark = "update started@1m30s".parse().unwrap();
    assert_eq!(m.name, "update started");
    assert_eq!(m.offset, Duration::from_secs(90));
    let m: Mark = "x@1.5s".parse().unwrap();
    assert_eq!(m.offset, Duration::from_millis(1500));
}

// ---------------------------------------------------------------------------
// Files and reports.

#[test]
fn csv_and_jsonl_round_trip_through_report() {
    let app = FakeApp::start();
    let dir = tempfile::tempdir().unwrap();
    for name in ["run.csv", "run.jsonl"] {
        app.script(&[Mode::Ok, Mode::Fail(500), Mode::BadJson]);
        let path = dir.path().join(name);
        let mut cfg = config(&app.url(), 50, 8);
        cfg.output = Some(path.clone());
        cfg.marks = vec!["half way, \"quoted\"@190ms".parse().unwrap()];
        let run = Probe::new(cfg).unwrap().run().unwrap();
        let back = read_records(&path).unwrap();
        assert_eq!(back, run.records, "{name} reads back equal");
        assert_eq!(samples(&back).len(), 8);
        assert_eq!(events(&back).len(), 1);

        let mut out = Vec::new();
        let args = ReportArgs {
            file: path.clone(),
            chart: None,
            json: true,
        };
        run_report(&args, &mut out).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["overall"]["count"], 8);
        assert_eq!(v["phases"].as_array().unwrap().len(), 2);
        assert_eq!(v["phases"][1]["name"], "half way, \"quoted\"");
        let n: u64 = (0..2)
            .map(|i| v["phases"][i]["count"].as_u64().unwrap())
            .sum();
        assert_eq!(n, 8);

        let mut text = Vec::new();
        let args = ReportArgs {
            json: false,
            ..args
        };
        run_report(&args, &mut text).unwrap();
        let text = String::from_utf8(text).unwrap();
        assert!(text.contains("phase \"start\""), "{text}");
        assert!(text.contains("errors 2"), "{text}");
        assert!(text.contains("p99"), "{text}");
    }
    // An existing output file is not overwritten unless asked.
    let mut cfg = config(&app.url(), 50, 1);
    cfg.output = Some(dir.path().join("run.csv"));
    assert!(Probe::new(cfg.clone()).is_err());
    cfg.overwrite = true;
    assert!(Probe::new(cfg).is_ok());
}

#[test]
fn malformed_files_give_line_numbers() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("bad.jsonl");
    std::fs::write(&p, "{\"kind\":\"event\",\"time\":\"2024-01-01T00:00:00Z\",\"offset_ms\":0,\"name\":\"a\"}\nnot json\n").unwrap();
    let e = read_records(&p).unwrap_err().to_string();
    assert!(e.contains("line 2"), "{e}");
}

#[test]
fn marks_and_version_switch_split_phases() {
    let app = FakeApp::start();
    let mut cfg = config(&app.url(), 100, 9);
    cfg.marks = vec!["b@650ms".parse().unwrap(), "a@350ms".parse().unwrap()];
    let mut probe = Probe::new(cfg).unwrap();
    let state = app.state.clone();
    // Switch the app's version once sample 4 (sent at 400 ms) is recorded.
    probe.on_record(move |r| {
        if let Record::Sample(s) = r {
            if s.seq == 4 {
                state.lock().unwrap().version = "1.0.1-29".into();
            }
        }
    });
    let run = probe.run().unwrap();
    let ev = events(&run.records);
    assert_eq!(ev.len(), 2);
    assert_eq!(
        (ev[0].name.as_str(), ev[0].offset),
        ("a", Duration::from_millis(350))
    );
    assert_eq!(ev[1].source, EventSource::Mark);
    let phases = run.phase_stats();
    let got: Vec<(&str, usize)> = phases.iter().map(|p| (p.name.as_str(), p.count)).collect();
    assert_eq!(got, vec![("start", 4), ("a", 3), ("b", 2)]);
    assert_eq!(phases[0].end_ms, Some(350.0));
    assert_eq!(phases[2].end_ms, None);
    let versions = |i: usize| -> Vec<&str> {
        phases[i]
            .versions
            .iter()
            .map(|s| s.value.as_str())
            .collect()
    };
    assert_eq!(versions(0), vec!["1.0.1-28"]);
    assert_eq!(versions(2), vec!["1.0.1-29"]);
    assert_eq!(run.overall().versions.len(), 2);
}

#[test]
fn posted_events_split_phases() {
    let app = FakeApp::start();
    let mut cfg = config(&app.url(), 100, 12);
    cfg.events_listen = Some("127.0.0.1:0".parse().unwrap());
    let mut probe = Probe::new(cfg).unwrap();
    let events_addr = probe.events_addr().unwrap();
    assert_ne!(events_addr.port(), 0);
    let (tx, rx) = mpsc::channel();
    probe.on_record(move |r| {
        if let Record::Sample(s) = r {
            let _ = tx.send(s.seq);
        }
    });
    let running = probe.spawn().unwrap();
    let wait_samples = |n: usize| {
        for _ in 0..n {
            rx.recv_timeout(Duration::from_secs(10)).expect("a sample");
        }
    };
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let post = |path: &str, body: &str| -> (u16, String) {
        let mut r = agent
            .post(format!("http://{events_addr}{path}"))
            .send(body.as_bytes())
            .unwrap();
        (r.status().as_u16(), r.body_mut().read_to_string().unwrap())
    };

    wait_samples(3);
    let (code, body) = post("/event", r#"{"name":"update started"}"#);
    assert_eq!(code, 200, "{body}");
    assert!(body.contains("update started"));
    // Bad requests are refused with a reason and do not record anything.
    assert_eq!(post("/event", "{not json").0, 400);
    assert_eq!(post("/event", r#"{"name":"  "}"#).0, 400);
    assert_eq!(post("/nope", "").0, 404);
    let get = agent
        .get(format!("http://{events_addr}/event"))
        .call()
        .unwrap();
    assert_eq!(get.status().as_u16(), 405);
    let (code, body) = post("/event", &"x".repeat(70 * 1024));
    assert_eq!(code, 413, "{body}");

    wait_samples(3);
    assert_eq!(post("/event?name=update%20done", "").0, 200);
    wait_samples(3);
    assert!(running.event("from the api"));
    let run = running.join().unwrap();

    let ev = events(&run.records);
    let names: Vec<(&str, EventSource)> = ev.iter().map(|e| (e.name.as_str(), e.source)).collect();
    assert_eq!(
        names,
        vec![
            ("update started", EventSource::Http),
            ("update done", EventSource::Http),
            ("from the api", EventSource::Api),
        ]
    );
    let phases = run.phase_stats();
    let got: Vec<&str> = phases.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(
        got,
        vec!["start", "update started", "update done", "from the api"]
    );
    assert_eq!(phases.iter().map(|p| p.count).sum::<usize>(), 12);
    assert!(phases[0].count >= 3 && phases[1].count >= 3 && phases[2].count >= 3);
    // Each sample lies inside its phase.
    for r in &run.records {
        if let Record::Sample(s) = r {
            let off = s.offset_ms();
            let inside = phases
                .iter()
                .filter(|p| p.start_ms <= off && p.end_ms.is_none_or(|e| off < e))
                .count();
            assert_eq!(inside, 1, "sample {} at {off} ms", s.seq);
        }
    }
    // Once the run is over, the endpoint no longer takes events (its socket
    // closes asynchronously, so accept refusal, a hang-up or a timeout).
    let late: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(1)))
        .build()
        .into();
    let res = late
        .post(format!("http://{events_addr}/event?name=late"))
        .send_empty();
    assert!(res.is_err(), "{res:?}");
}

// ---------------------------------------------------------------------------
// Statistics.

/// Checks one nearest-rank percentile.
fn check(values: &[f64], p: f64, want: Option<f64>) {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    assert_eq!(percentile(&v, p), want, "p{p} of {values:?}");
}

#[test]
fn percentiles_by_nearest_rank() {
    let hundred: Vec<f64> = (1..=100).map(f64::from).collect();
    let twenty: Vec<f64> = (1..=20).map(|i| f64::from(i) * 10.0).collect();
    let wiki = [15.0, 20.0, 35.0, 40.0, 50.0];
    let table: &[(&[f64], f64, Option<f64>)] = &[
        // The textbook example (Wikipedia, "Percentile", nearest rank).
        (&wiki, 5.0, Some(15.0)),
        (&wiki, 30.0, Some(20.0)),
        (&wiki, 40.0, Some(20.0)),
        (&wiki, 50.0, Some(35.0)),
        (&wiki, 100.0, Some(50.0)),
        // Unsorted input gives the same answers.
        (&[50.0, 15.0, 40.0, 20.0, 35.0], 50.0, Some(35.0)),
        (&hundred, 50.0, Some(50.0)),
        (&hundred, 95.0, Some(95.0)),
        (&hundred, 99.0, Some(99.0)),
        (&hundred, 99.5, Some(100.0)),
        (&hundred, 100.0, Some(100.0)),
        // 0.95 × 20 = 19 exactly (no float creep to rank 20).
        (&twenty, 95.0, Some(190.0)),
        (&twenty, 99.0, Some(200.0)),
        (&twenty, 50.0, Some(100.0)),
        (&[7.0], 1.0, Some(7.0)),
        (&[7.0], 99.0, Some(7.0)),
        (&[], 50.0, None),
        (&wiki, 0.0, None),
        (&wiki, 101.0, None),
    ];
    for (values, p, want) in table {
        check(values, *p, *want);
    }
    let p = Percentiles::from_values(&[3.0, 1.0, 2.0, 10.0]).unwrap();
    assert_eq!((p.p50, p.p95, p.p99, p.max), (2.0, 10.0, 10.0, 10.0));
    assert_eq!(Percentiles::from_values(&[]), None);
}

fn t0() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_700_000_000)
}

fn sample(seq: u64, offset_ms: u64, status: Status, latency_ms: u64, version: &str) -> Record {
    let offset = Duration::from_millis(offset_ms);
    Record::Sample(Sample {
        seq,
        time: t0() + offset,
        offset,
        status,
        http_code: match status {
            Status::Http(c) => Some(c),
            _ => None,
        },
        latency: Duration::from_millis(latency_ms),
        response_time_ms: status.is_ok().then_some(latency_ms as f64 * 0.8),
        served_by: Some(format!("c{}", seq % 3)),
        version: Some(version.to_string()),
        error: (!status.is_ok()).then(|| "boom".to_string()),
    })
}

fn event(offset_ms: u64, name: &str) -> Record {
    let offset = Duration::from_millis(offset_ms);
    Record::Event(Event {
        time: t0() + offset,
        offset,
        name: name.into(),
        source: EventSource::Mark,
    })
}

/// 60 samples at 1 s: idle (0–19 s), update (20–39 s, one 503, slower,
/// version switch), after (40–59 s).
fn known_run() -> Vec<Record> {
    let mut r = vec![event(20_000, "update"), event(40_000, "after")];
    for i in 0..60u64 {
        let (status, lat, ver) = match i {
            0..=19 => (Status::Http(200), 10 + i % 5, "1.0.1-28"),
            25 => (Status::Http(503), 0, "1.0.1-28"),
            20..=29 => (Status::Http(200), 30 + i % 7, "1.0.1-28"),
            30..=39 => (Status::Http(200), 12, "1.0.1-29"),
            _ => (Status::Http(200), 11, "1.0.1-29"),
        };
        r.push(sample(i, i * 1000, status, lat, ver));
    }
    // A timeout in the last phase.
    r.push(sample(60, 59_500, Status::Timeout, 2000, "1.0.1-29"));
    r
}

#[test]
fn phase_stats_on_a_known_run() {
    let phases = phase_stats(&known_run());
    let names: Vec<&str> = phases.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["start", "update", "after"]);
    let (idle, update, after) = (&phases[0], &phases[1], &phases[2]);
    assert_eq!((idle.count, idle.ok, idle.errors), (20, 20, 0));
    // idle latencies: 10..14 four times each → p50 = 12, p95 = p99 = max = 14.
    let l = idle.latency_ms.unwrap();
    assert_eq!((l.p50, l.p95, l.p99, l.max), (12.0, 14.0, 14.0, 14.0));
    assert_eq!(idle.response_time_ms.unwrap().max, 14.0 * 0.8);
    assert_eq!((update.count, update.ok, update.errors), (20, 19, 1));
    assert_eq!(update.errors_by_status.get("503"), Some(&1));
    assert_eq!(update.versions.len(), 2);
    assert_eq!(update.served_by.len(), 3);
    assert_eq!((after.count, after.errors), (21, 1));
    assert_eq!(after.errors_by_status.get("timeout"), Some(&1));
    // The timeout does not enter the latency percentiles.
    assert_eq!(after.latency_ms.unwrap().max, 11.0);

    let v = check_against_baseline(idle, update, 1.2);
    assert!(!v.passed);
    assert_eq!(v.failures.len(), 2, "{:?}", v.failures);
    let v = check_against_baseline(idle, idle, 1.2);
    assert!(v.passed);
    assert_eq!(v.p99_ratio, Some(1.0));

    let report = build_report(&known_run());
    assert_eq!(report.overall.count, 61);
    assert_eq!(report.events.len(), 2);
}

// ---------------------------------------------------------------------------
// Charts.

#[test]
fn charts_are_valid_png_and_svg() {
    let dir = tempfile::tempdir().unwrap();
    let records = known_run();
    let phases = phase_stats(&records);
    let png = dir.path().join("chart.png");
    draw_chart(&records, &phases, "known run", &png).unwrap();
    let bytes = std::fs::read(&png).unwrap();
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
    assert_eq!(&bytes[12..16], b"IHDR");
    let w = u32::from_be_bytes(bytes[16..20].try_into().unwrap());
    let h = u32::from_be_bytes(bytes[20..24].try_into().unwrap());
    assert_eq!((w, h), populous_probe::chart::CHART_SIZE);
    assert!(bytes.len() > 20_000, "png is only {} bytes", bytes.len());
    assert_eq!(&bytes[bytes.len() - 8..bytes.len() - 4], b"IEND");

    let svg = dir.path().join("chart.svg");
    draw_chart(&records, &phases, "known run", &svg).unwrap();
    let text = std::fs::read_to_string(&svg).unwrap();
    assert!(text.starts_with("<svg"), "{}", &text[..80.min(text.len())]);
    assert!(text.trim_end().ends_with("</svg>"));
    assert!(text.len() > 10_000, "svg is only {} bytes", text.len());
    for needle in [
        "known run",
        "update",
        "after",
        "failed request (2)",
        "timeout",
        "503",
    ] {
        assert!(text.contains(needle), "svg lacks {needle:?}");
    }
    // Copy for eyeballing, if asked.
    if let Ok(dest) = std::env::var("PROBE_CHART_COPY") {
        std::fs::copy(&png, Path::new(&dest)).unwrap();
    }

    let e = draw_chart(&records, &phases, "x", &dir.path().join("c.gif")).unwrap_err();
    assert!(e.to_string().contains("*.png or *.svg"));
}

#[test]
fn written_known_run_reports_like_in_memory() {
    let dir = tempfile::tempdir().unwrap();
    let records = known_run();
    for name in ["k.csv", "k.jsonl"] {
        let p = dir.path().join(name);
        write_records(&p, &records).unwrap();
        let back = read_records(&p).unwrap();
        assert_eq!(phase_stats(&back), phase_stats(&records), "{name}");
    }
}

// ---------------------------------------------------------------------------
// The command-line front end (what `populous probe` runs), end to end.

#[derive(Debug, clap::Parser)]
struct TestCli {
    #[command(subcommand)]
    command: populous_probe::cli::Command,
}

fn cli(args: &[&str]) -> populous_probe::cli::Command {
    use clap::Parser;
    let mut all = vec!["populous"];
    all.extend_from_slice(args);
    TestCli::try_parse_from(all).unwrap().command
}

#[test]
fn cli_probes_and_reports() {
    use populous_probe::cli::{run_probe, Command as Cmd};
    let app = FakeApp::start();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("b.jsonl");
    let chart = dir.path().join("b.png");
    let url = app.url();
    let Cmd::Probe(args) = cli(&[
        "probe",
        "--url",
        &url,
        "--interval",
        "100ms",
        "--count",
        "5",
        "--mark",
        "half@250ms",
        "--out",
        out.to_str().unwrap(),
    ]) else {
        panic!("probe args")
    };
    let mut stdout = Vec::new();
    let log = Box::new(std::io::sink());
    let run = run_probe(&args, |_| {}, &mut stdout, log).unwrap();
    let stdout = String::from_utf8_lossy(&stdout);
    assert!(
        stdout.contains("5 samples, 5 ok, 0 errors, 1 events"),
        "{stdout}"
    );
    assert_eq!(run.events().count(), 1);

    let Cmd::Report(args) = cli(&[
        "report",
        out.to_str().unwrap(),
        "--chart",
        chart.to_str().unwrap(),
        "--json",
    ]) else {
        panic!("report args")
    };
    let mut json = Vec::new();
    run_report(&args, &mut json).unwrap();
    let v: serde_json::Value = serde_json::from_slice(&json).unwrap();
    assert_eq!(v["phases"][0]["count"], 3);
    assert_eq!(v["phases"][1]["name"], "half");
    assert!(std::fs::metadata(&chart).unwrap().len() > 10_000);

    let Cmd::Report(args) = cli(&["report", "/nonexistent.csv"]) else {
        panic!("report args")
    };
    let err = run_report(&args, &mut Vec::new()).unwrap_err();
    assert!(err.to_string().contains("cannot read probe file"), "{err}");
}

// ---------------------------------------------------------------------------
// InfluxDB.

/// A real influxd 1.x on a temp dir and free ports; killed on drop.
struct Influxd {
    child: Child,
    url: String,
    _dir: tempfile::TempDir,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
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
    let first = samples(&run.records)
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
