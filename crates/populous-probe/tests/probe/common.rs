//! Shared by the probe's tests: a fake Populous app serving `/_ping` on
//! 127.0.0.1 (the probe's input), probe configurations, and a known run
//! built by hand for the statistics, files and charts.

use std::collections::VecDeque;
use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use populous_probe::{Event, EventSource, ProbeConfig, Record, Sample, Status};

// ---------------------------------------------------------------------------
// A fake Populous app.

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Mode {
    Ok,
    Fail(u16),
    BadJson,
    /// Answer OK, but only after this long.
    Slow(Duration),
}

/// What the fake app answers; tests change `version` mid-run.
#[derive(Debug)]
pub struct AppState {
    pub version: String,
    served_by: Vec<String>,
    /// Modes for the next requests, by arrival; then `default`.
    script: VecDeque<Mode>,
    default: Mode,
    requests: u64,
}

/// The fake app: answers `/_ping` by script, counts concurrent requests; stopped on drop.
pub struct FakeApp {
    addr: SocketAddr,
    pub state: Arc<Mutex<AppState>>,
    pub max_concurrent: Arc<AtomicUsize>,
    server: Arc<tiny_http::Server>,
    handle: Option<JoinHandle<()>>,
}

impl FakeApp {
    pub fn start() -> FakeApp {
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

    pub fn url(&self) -> String {
        format!("http://{}/_ping", self.addr)
    }

    pub fn script(&self, modes: &[Mode]) {
        self.state.lock().unwrap().script.extend(modes);
    }

    pub fn set_default(&self, mode: Mode) {
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

/// A probe of `url` every `interval_ms`, `count` times, with a 2 s timeout.
pub fn config(url: &str, interval_ms: u64, count: u64) -> ProbeConfig {
    let mut c = ProbeConfig::new(url);
    c.interval = Duration::from_millis(interval_ms);
    c.count = Some(count);
    c.timeout = Duration::from_secs(2);
    c
}

/// The samples and the events of `records`, each in their order.
pub fn split(records: &[Record]) -> (Vec<&Sample>, Vec<&Event>) {
    let mut samples = Vec::new();
    let mut events = Vec::new();
    for r in records {
        match r {
            Record::Sample(s) => samples.push(s),
            Record::Event(e) => events.push(e),
        }
    }
    (samples, events)
}

/// Every sample was sent at or after its deadline and less than one
/// interval late: the schedule neither runs early nor drifts.
pub fn assert_on_schedule(samples: &[&Sample], interval: Duration) {
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

/// A port nothing listens on (bound, then released).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
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
pub fn known_run() -> Vec<Record> {
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
