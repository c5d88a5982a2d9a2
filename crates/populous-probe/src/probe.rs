//! The sampler: fixed-rate `GET /_ping` with concurrent in-flight requests.
//!
//! Tick `k` is due at `start + k × interval`; the scheduler sleeps until the
//! next deadline (not "interval after the last answer"), so the rate does not
//! drift and a slow answer does not delay the next request. Each request runs
//! on its own short-lived thread with a per-request timeout; at most
//! `max_in_flight` run at once, and a tick that finds them all busy is
//! recorded as `skipped` rather than silently dropped. If the scheduler
//! itself is late (a stalled machine), the missed ticks are sent at once.
//!
//! By default each request opens a new connection (no keep-alive), like the
//! seed's probe: behind Docker Swarm's load balancer a kept-alive connection
//! would stick to one container and hide the others from `served_by`.
//!
//! The run stops after `count` samples, after `duration` (ticks are sent at
//! offsets below it, and the run lasts until it is over), or when
//! [`Controller::stop`] is called (e.g. from a SIGINT handler); requests in
//! flight are always waited for, so every sent request is recorded.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use serde::Serialize;

use crate::events::EventListener;
use crate::influx::{self, InfluxConfig, InfluxSummary, InfluxWriter};
use crate::output::{sort_records, RecordWriter};
use crate::record::{
    truncate_micros, truncate_time_micros, Event, EventSource, Mark, Record, Sample, Status,
};
use crate::stats::{overall_stats, phase_stats, PhaseStats};
use crate::ProbeError;

/// Largest `/_ping` body the probe reads.
const MAX_BODY: u64 = 1024 * 1024;

/// Everything a probe run needs.
#[derive(Debug, Clone, PartialEq)]
pub struct ProbeConfig {
    /// The URL to GET, e.g. `http://127.0.0.1:8080/_ping` (plain http only).
    pub url: String,
    /// Time between request starts.
    pub interval: Duration,
    /// Per-request timeout (connect + answer + body).
    pub timeout: Duration,
    /// Stop after this long; `None` for no time limit.
    pub duration: Option<Duration>,
    /// Stop after this many samples; `None` for no count limit.
    pub count: Option<u64>,
    /// CSV or JSONL file to write as the run goes.
    pub output: Option<PathBuf>,
    /// Replace `output` if it exists (otherwise an existing file is an error).
    pub overwrite: bool,
    /// Also write to InfluxDB.
    pub influx: Option<InfluxConfig>,
    /// Events planned at fixed offsets.
    pub marks: Vec<Mark>,
    /// Serve `POST /event` on this address (use port 0 for any free port).
    pub events_listen: Option<SocketAddr>,
    /// Reuse connections between requests.
    pub keep_alive: bool,
    /// Most requests in flight at once; further ticks are recorded `skipped`.
    pub max_in_flight: usize,
}

impl ProbeConfig {
    /// A configuration with the seed's defaults: every 5 s, a 10 s timeout,
    /// no limit, no output, at most 64 requests in flight.
    pub fn new(url: impl Into<String>) -> Self {
        ProbeConfig {
            url: url.into(),
            interval: Duration::from_secs(5),
            timeout: Duration::from_secs(10),
            duration: None,
            count: None,
            output: None,
            overwrite: false,
            influx: None,
            marks: Vec::new(),
            events_listen: None,
            keep_alive: false,
            max_in_flight: 64,
        }
    }

    /// Checks the configuration without touching the network or files.
    pub fn validate(&self) -> Result<(), ProbeError> {
        let bad_url = |reason: &str| ProbeError::InvalidUrl {
            url: self.url.clone(),
            reason: reason.to_string(),
        };
        let uri: ureq::http::Uri = self
            .url
            .parse()
            .map_err(|e: ureq::http::uri::InvalidUri| bad_url(&e.to_string()))?;
        match uri.scheme_str() {
            Some("http") => {}
            Some("https") => {
                return Err(bad_url(
                    "https is not built into this probe; probe the app over plain http",
                ))
            }
            _ => return Err(bad_url("it does not start with http://")),
        }
        if uri.host().is_none_or(str::is_empty) {
            return Err(bad_url("it has no host"));
        }
        let bad = |s: &str| Err(ProbeError::InvalidConfig(s.to_string()));
        if self.interval < Duration::from_millis(1) {
            return bad("the interval must be at least 1ms");
        }
        if self.timeout < Duration::from_millis(1) {
            return bad("the timeout must be at least 1ms");
        }
        if self.count == Some(0) {
            return bad("the count must be at least 1");
        }
        if self.duration == Some(Duration::ZERO) {
            return bad("the duration must be longer than 0s");
        }
        if self.max_in_flight == 0 {
            return bad("max_in_flight must be at least 1");
        }
        if let Some(i) = &self.influx {
            if i.database.trim().is_empty() {
                return bad("the influxdb database name is empty: give --influx-db NAME");
            }
            if !(i.url.starts_with("http://") || i.url.starts_with("https://")) {
                return bad("the influxdb url must start with http://");
            }
        }
        Ok(())
    }

    /// How many ticks the limits allow (`None`: until stopped).
    fn total_ticks(&self) -> Option<u64> {
        let by_duration = self.duration.map(|d| {
            let ticks = d.as_nanos().div_ceil(self.interval.as_nanos());
            u64::try_from(ticks).unwrap_or(u64::MAX)
        });
        match (self.count, by_duration) {
            (Some(c), Some(d)) => Some(c.min(d)),
            (c, d) => c.or(d),
        }
    }
}

/// Messages into the scheduler loop.
#[derive(Debug)]
pub(crate) enum Msg {
    Sample(Box<Sample>),
    Event {
        name: String,
        source: EventSource,
        at: Instant,
    },
    Stop,
}

/// A handle to stop a probe or add events to it, from any thread.
#[derive(Debug, Clone)]
pub struct Controller {
    tx: Sender<Msg>,
}

impl Controller {
    /// Asks the probe to stop: no new requests; in-flight ones are awaited.
    pub fn stop(&self) {
        let _ = self.tx.send(Msg::Stop);
    }

    /// Records an event (a phase boundary) now. Returns false when the probe
    /// has already finished.
    pub fn event(&self, name: impl Into<String>) -> bool {
        self.tx
            .send(Msg::Event {
                name: name.into(),
                source: EventSource::Api,
                at: Instant::now(),
            })
            .is_ok()
    }
}

/// Why a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum StopReason {
    /// All `count` samples were taken.
    Count,
    /// The `duration` elapsed.
    Duration,
    /// [`Controller::stop`] was called (e.g. on SIGINT).
    Stopped,
}

impl std::fmt::Display for StopReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            StopReason::Count => "count reached",
            StopReason::Duration => "duration over",
            StopReason::Stopped => "stopped",
        })
    }
}

/// Totals of a finished run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunSummary {
    /// Samples recorded.
    pub samples: u64,
    /// Successful samples.
    pub ok: u64,
    /// Failed samples.
    pub errors: u64,
    /// Events recorded.
    pub events: u64,
    /// Why the run ended.
    pub stop_reason: StopReason,
    /// Wall time from start to end.
    #[serde(serialize_with = "ser_duration_ms")]
    pub elapsed: Duration,
    /// The file written, if any.
    pub output: Option<PathBuf>,
    /// The InfluxDB writer's results, if InfluxDB was configured.
    pub influx: Option<InfluxSummary>,
}

fn ser_duration_ms<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64() * 1000.0)
}

/// The result of a run: every record, sorted by offset, and the totals.
#[derive(Debug, Clone, PartialEq)]
pub struct ProbeRun {
    /// Wall time at offset zero.
    pub started: SystemTime,
    /// Every sample and event, sorted by offset.
    pub records: Vec<Record>,
    /// Totals.
    pub summary: RunSummary,
}

impl ProbeRun {
    /// The samples, in schedule order.
    pub fn samples(&self) -> impl Iterator<Item = &Sample> {
        self.records.iter().filter_map(|r| match r {
            Record::Sample(s) => Some(s),
            Record::Event(_) => None,
        })
    }

    /// The events, in time order.
    pub fn events(&self) -> impl Iterator<Item = &Event> {
        self.records.iter().filter_map(|r| match r {
            Record::Event(e) => Some(e),
            Record::Sample(_) => None,
        })
    }

    /// Per-phase statistics (see [`crate::stats`]).
    pub fn phase_stats(&self) -> Vec<PhaseStats> {
        phase_stats(&self.records)
    }

    /// Statistics over the whole run.
    pub fn overall(&self) -> PhaseStats {
        overall_stats(&self.records)
    }
}

type Observer = Box<dyn FnMut(&Record) + Send>;

/// A configured probe, ready to run. Creating it validates the
/// configuration, creates the output file, checks InfluxDB and opens the
/// events endpoint, so that mistakes show before the first request.
pub struct Probe {
    config: ProbeConfig,
    tx: Sender<Msg>,
    rx: Receiver<Msg>,
    writer: Option<RecordWriter>,
    listener: Option<EventListener>,
    observer: Option<Observer>,
}

impl std::fmt::Debug for Probe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Probe")
            .field("config", &self.config)
            .field("events_addr", &self.events_addr())
            .finish_non_exhaustive()
    }
}

impl Probe {
    /// Validates `config` and prepares outputs and the events endpoint.
    pub fn new(config: ProbeConfig) -> Result<Self, ProbeError> {
        config.validate()?;
        let mut marks = config.marks.clone();
        marks.sort_by_key(|m| m.offset);
        let config = ProbeConfig { marks, ..config };
        if let Some(i) = &config.influx {
            influx::prepare(i)?;
        }
        let writer = match &config.output {
            Some(p) if config.overwrite => Some(RecordWriter::create_or_truncate(p)?),
            Some(p) => Some(RecordWriter::create(p)?),
            None => None,
        };
        let (tx, rx) = mpsc::channel();
        let listener = match config.events_listen {
            Some(addr) => Some(EventListener::start(addr, tx.clone())?),
            None => None,
        };
        Ok(Probe {
            config,
            tx,
            rx,
            writer,
            listener,
            observer: None,
        })
    }

    /// A handle to stop the run or add events, usable from other threads.
    pub fn controller(&self) -> Controller {
        Controller {
            tx: self.tx.clone(),
        }
    }

    /// The address the events endpoint listens on (with the real port).
    pub fn events_addr(&self) -> Option<SocketAddr> {
        self.listener.as_ref().map(EventListener::addr)
    }

    /// Calls `f` with each record as it is recorded (in completion order).
    pub fn on_record(&mut self, f: impl FnMut(&Record) + Send + 'static) {
        self.observer = Some(Box::new(f));
    }

    /// Runs on a background thread; see [`RunningProbe`].
    pub fn spawn(self) -> Result<RunningProbe, ProbeError> {
        let controller = self.controller();
        let events_addr = self.events_addr();
        let handle = std::thread::Builder::new()
            .name("probe".into())
            .spawn(move || self.run())
            .map_err(ProbeError::Thread)?;
        Ok(RunningProbe {
            controller,
            events_addr,
            handle,
        })
    }

    /// Runs the probe on this thread until a limit is reached or it is
    /// stopped, and returns everything it recorded.
    pub fn run(mut self) -> Result<ProbeRun, ProbeError> {
        let agent = request_agent(&self.config);
        let influx = match &self.config.influx {
            Some(i) => Some(InfluxWriter::start(i.clone())?),
            None => None,
        };
        let start = Instant::now();
        let start_wall = truncate_time_micros(SystemTime::now());
        let mut state = RunState {
            start,
            start_wall,
            records: Vec::new(),
            in_flight: 0,
        };
        let result = self.run_loop(&agent, &mut state, influx.as_ref());
        // Close the events endpoint before reporting.
        drop(self.listener.take());
        let influx_summary = influx.map(InfluxWriter::finish);
        let stop_reason = result?;
        let mut records = state.records;
        sort_records(&mut records);
        let mut summary = RunSummary {
            samples: 0,
            ok: 0,
            errors: 0,
            events: 0,
            stop_reason,
            elapsed: start.elapsed(),
            output: self.config.output.clone(),
            influx: influx_summary,
        };
        for r in &records {
            match r {
                Record::Sample(s) if s.is_ok() => summary.ok += 1,
                Record::Sample(_) => summary.errors += 1,
                Record::Event(_) => summary.events += 1,
            }
        }
        summary.samples = summary.ok + summary.errors;
        Ok(ProbeRun {
            started: start_wall,
            records,
            summary,
        })
    }

    fn run_loop(
        &mut self,
        agent: &ureq::Agent,
        st: &mut RunState,
        influx: Option<&InfluxWriter>,
    ) -> Result<StopReason, ProbeError> {
        let cfg = self.config.clone();
        let total = cfg.total_ticks();
        let count_first = match (cfg.count, cfg.duration) {
            (Some(c), Some(_)) => total.is_some_and(|t| c <= t),
            (Some(_), None) => true,
            _ => false,
        };
        // With a duration limit, the run lasts until the duration is over.
        let wait_until = cfg.duration.filter(|_| !count_first).map(|d| st.start + d);
        let mut next_seq: u64 = 0;
        let mut next_mark = 0usize;
        let mut stopping = false;
        let start = st.start;
        let due = |seq: u64| start + interval_times(cfg.interval, seq);
        loop {
            let now = Instant::now();
            if !stopping {
                while total.is_none_or(|t| next_seq < t) && due(next_seq) <= now {
                    if let Some(skipped) = self.fire(agent, st, next_seq) {
                        self.record(st, influx, Record::Sample(skipped))?;
                    }
                    next_seq += 1;
                }
                while let Some(m) = cfg.marks.get(next_mark) {
                    if st.start + m.offset > now {
                        break;
                    }
                    let ev = Event {
                        time: st.start_wall + m.offset,
                        offset: truncate_micros(m.offset),
                        name: m.name.clone(),
                        source: EventSource::Mark,
                    };
                    self.record(st, influx, Record::Event(ev))?;
                    next_mark += 1;
                }
            }
            let scheduling_done = stopping || total.is_some_and(|t| next_seq >= t);
            let time_over = stopping || wait_until.is_none_or(|w| now >= w);
            if scheduling_done && st.in_flight == 0 && time_over {
                break;
            }
            let mut wake: Option<Instant> = None;
            let mut earliest = |t: Instant| wake = Some(wake.map_or(t, |w| w.min(t)));
            if !scheduling_done {
                earliest(due(next_seq));
            }
            if !stopping {
                if let Some(m) = cfg.marks.get(next_mark) {
                    earliest(st.start + m.offset);
                }
                if let Some(w) = wait_until {
                    earliest(w);
                }
            }
            let msg = match wake {
                Some(w) => self.rx.recv_timeout(w.saturating_duration_since(now)),
                None => self.rx.recv().map_err(|_| RecvTimeoutError::Disconnected),
            };
            match msg {
                Ok(Msg::Sample(s)) => {
                    st.in_flight = st.in_flight.saturating_sub(1);
                    self.record(st, influx, Record::Sample(*s))?;
                }
                Ok(Msg::Event { name, source, at }) => {
                    let offset = truncate_micros(at.saturating_duration_since(st.start));
                    let ev = Event {
                        time: st.start_wall + offset,
                        offset,
                        name,
                        source,
                    };
                    self.record(st, influx, Record::Event(ev))?;
                }
                Ok(Msg::Stop) => stopping = true,
                Err(RecvTimeoutError::Timeout) => {}
                // Unreachable while `self.tx` lives; end the run anyway.
                Err(RecvTimeoutError::Disconnected) => break,
            }
        }
        Ok(if stopping {
            StopReason::Stopped
        } else if count_first {
            StopReason::Count
        } else {
            StopReason::Duration
        })
    }

    /// Starts request `seq`; returns a `skipped` sample if it cannot.
    fn fire(&self, agent: &ureq::Agent, st: &mut RunState, seq: u64) -> Option<Sample> {
        let skipped = |reason: String| {
            let offset = truncate_micros(st.start.elapsed());
            Sample {
                seq,
                time: st.start_wall + offset,
                offset,
                status: Status::Skipped,
                http_code: None,
                latency: Duration::ZERO,
                response_time_ms: None,
                served_by: None,
                version: None,
                error: Some(reason),
            }
        };
        if st.in_flight >= self.config.max_in_flight {
            return Some(skipped(format!(
                "not sent: {} requests already in flight",
                st.in_flight
            )));
        }
        let agent = agent.clone();
        let url = self.config.url.clone();
        let tx = self.tx.clone();
        let (start, start_wall) = (st.start, st.start_wall);
        let spawned = std::thread::Builder::new()
            .name(format!("probe-req-{seq}"))
            .spawn(move || {
                let s = request(&agent, &url, seq, start, start_wall);
                let _ = tx.send(Msg::Sample(Box::new(s)));
            });
        match spawned {
            Ok(_) => {
                st.in_flight += 1;
                None
            }
            Err(e) => Some(skipped(format!("not sent: cannot start a thread: {e}"))),
        }
    }

    fn record(
        &mut self,
        st: &mut RunState,
        influx: Option<&InfluxWriter>,
        record: Record,
    ) -> Result<(), ProbeError> {
        if let Some(w) = &mut self.writer {
            w.write(&record)?;
        }
        if let (Some(i), Some(cfg)) = (influx, &self.config.influx) {
            i.send(influx::record_line(cfg, &self.config.url, &record));
        }
        if let Some(f) = &mut self.observer {
            f(&record);
        }
        st.records.push(record);
        Ok(())
    }
}

struct RunState {
    start: Instant,
    start_wall: SystemTime,
    records: Vec<Record>,
    in_flight: usize,
}

fn interval_times(interval: Duration, seq: u64) -> Duration {
    let nanos = interval.as_nanos().saturating_mul(u128::from(seq));
    Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
}

fn request_agent(cfg: &ProbeConfig) -> ureq::Agent {
    let mut b = ureq::Agent::config_builder()
        .timeout_global(Some(cfg.timeout))
        .http_status_as_error(false)
        .max_redirects(0)
        .user_agent(concat!("populous-probe/", env!("CARGO_PKG_VERSION")));
    if !cfg.keep_alive {
        b = b.max_idle_connections(0).max_idle_connections_per_host(0);
    }
    b.build().into()
}

/// Classifies a transport error.
fn classify(e: &ureq::Error) -> Status {
    use std::io::ErrorKind as K;
    match e {
        ureq::Error::Timeout(_) => Status::Timeout,
        ureq::Error::HostNotFound | ureq::Error::ConnectionFailed => Status::Connect,
        ureq::Error::Io(io) => match io.kind() {
            K::TimedOut | K::WouldBlock => Status::Timeout,
            K::ConnectionRefused
            | K::AddrNotAvailable
            | K::HostUnreachable
            | K::NetworkUnreachable
            | K::NotConnected => Status::Connect,
            _ => Status::Transport,
        },
        _ => Status::Transport,
    }
}

fn snippet(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    let mut s: String = text.chars().take(120).collect();
    if text.chars().count() > 120 {
        s.push('…');
    }
    s
}

/// Sends one request and turns the outcome into a sample.
fn request(
    agent: &ureq::Agent,
    url: &str,
    seq: u64,
    start: Instant,
    start_wall: SystemTime,
) -> Sample {
    let sent = Instant::now();
    let offset = truncate_micros(sent.saturating_duration_since(start));
    let mut s = Sample {
        seq,
        time: start_wall + offset,
        offset,
        status: Status::Transport,
        http_code: None,
        latency: Duration::ZERO,
        response_time_ms: None,
        served_by: None,
        version: None,
        error: None,
    };
    let result = agent
        .get(url)
        .header("Accept", "application/json")
        .call()
        .map(|mut resp| {
            let code = resp.status().as_u16();
            let body = resp.body_mut().with_config().limit(MAX_BODY).read_to_vec();
            (code, body)
        });
    let finish = |s: &mut Sample| s.latency = truncate_micros(sent.elapsed());
    match result {
        Err(e) => {
            finish(&mut s);
            s.status = classify(&e);
            s.error = Some(e.to_string());
        }
        Ok((code, Err(e))) => {
            finish(&mut s);
            s.http_code = Some(code);
            s.status = match classify(&e) {
                Status::Timeout => Status::Timeout,
                _ => Status::Transport,
            };
            s.error = Some(format!("reading the body failed: {e}"));
        }
        Ok((code, Ok(body))) => {
            finish(&mut s);
            s.http_code = Some(code);
            let json = serde_json::from_slice::<serde_json::Value>(&body)
                .ok()
                .filter(serde_json::Value::is_object);
            if let Some(v) = &json {
                let text = |k: &str| {
                    v.get(k).and_then(|x| match x {
                        serde_json::Value::String(s) => Some(s.clone()),
                        serde_json::Value::Null => None,
                        other => Some(other.to_string()),
                    })
                };
                s.version = text("version");
                s.served_by = text("served_by");
                s.response_time_ms = v
                    .get("response_time_ms")
                    .and_then(serde_json::Value::as_f64);
            }
            let success = (200..300).contains(&code);
            s.status = match (success, &json) {
                (true, Some(_)) => Status::Http(code),
                (true, None) => {
                    s.error = Some(format!("body is not a json object: {:?}", snippet(&body)));
                    Status::InvalidJson
                }
                (false, _) => {
                    s.error = Some(format!("http {code}: {}", snippet(&body)));
                    Status::Http(code)
                }
            };
        }
    }
    s
}

/// A probe running on a background thread.
#[derive(Debug)]
pub struct RunningProbe {
    controller: Controller,
    events_addr: Option<SocketAddr>,
    handle: JoinHandle<Result<ProbeRun, ProbeError>>,
}

impl RunningProbe {
    /// A handle to stop the run or add events.
    pub fn controller(&self) -> Controller {
        self.controller.clone()
    }

    /// The events endpoint's address, if one was configured.
    pub fn events_addr(&self) -> Option<SocketAddr> {
        self.events_addr
    }

    /// Records an event now.
    pub fn event(&self, name: impl Into<String>) -> bool {
        self.controller.event(name)
    }

    /// Waits for the run to end by itself (count or duration).
    pub fn join(self) -> Result<ProbeRun, ProbeError> {
        self.handle.join().map_err(|_| ProbeError::Panicked)?
    }

    /// Stops the run, waits for in-flight requests, and returns the result.
    pub fn stop(self) -> Result<ProbeRun, ProbeError> {
        self.controller.stop();
        self.join()
    }
}

/// Probes `url` every `interval` for `duration` in this process and returns
/// the samples, in schedule order. For events, outputs or InfluxDB use
/// [`Probe`] with a [`ProbeConfig`].
pub fn probe_for(
    url: &str,
    interval: Duration,
    duration: Duration,
) -> Result<Vec<Sample>, ProbeError> {
    let mut config = ProbeConfig::new(url);
    config.interval = interval;
    config.duration = Some(duration);
    config.timeout = interval
        .max(Duration::from_secs(1))
        .min(Duration::from_secs(10));
    let run = Probe::new(config)?.run()?;
    Ok(run.samples().cloned().collect())
}
