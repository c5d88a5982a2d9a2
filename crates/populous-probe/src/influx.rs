//! InfluxDB 1.x output: line protocol and a batching writer.
//!
//! Samples go to measurement `populous_ping` (configurable) with tags
//! `status`, `served_by`, `version`, `url` and fields `latency_ms`,
//! `response_time_ms`, `ok`, `seq`, `http_code`, `error`; events go to
//! `populous_event` with tag `source` and field `text`, the event name (the
//! column Grafana's InfluxDB annotations read; `name` would be an InfluxQL
//! keyword). Timestamps are nanoseconds.
//!
//! Lines are sent by a background thread to `POST {url}/write?db=NAME&
//! precision=ns` in batches (by size or age). A failed batch is kept and
//! retried with the next one, so a short InfluxDB outage loses nothing; the
//! probe itself never waits for InfluxDB. The CSV/JSONL file stays the
//! record of truth.

use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use serde::Serialize;

use crate::record::{Event, Record, Sample};
use crate::ProbeError;

/// Where and how to write to InfluxDB.
#[derive(Debug, Clone, PartialEq)]
pub struct InfluxConfig {
    /// Base URL of the InfluxDB 1.x HTTP API, e.g. `http://127.0.0.1:8086`.
    pub url: String,
    /// Database name.
    pub database: String,
    /// Measurement for samples.
    pub measurement: String,
    /// Measurement for events.
    pub event_measurement: String,
    /// Send a batch once it has this many lines.
    pub batch_size: usize,
    /// Send a batch at the latest this long after its first line.
    pub flush_interval: Duration,
    /// Issue `CREATE DATABASE` (idempotent) at start.
    pub create_database: bool,
    /// HTTP timeout for each InfluxDB request.
    pub timeout: Duration,
}

impl InfluxConfig {
    /// Defaults: measurements `populous_ping`/`populous_event`, batches of
    /// 100 lines or 10 s, create the database.
    pub fn new(url: impl Into<String>, database: impl Into<String>) -> Self {
        InfluxConfig {
            url: url.into().trim_end_matches('/').to_string(),
            database: database.into(),
            measurement: "populous_ping".into(),
            event_measurement: "populous_event".into(),
            batch_size: 100,
            flush_interval: Duration::from_secs(10),
            create_database: true,
            timeout: Duration::from_secs(10),
        }
    }
}

/// What the InfluxDB writer achieved during a run.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct InfluxSummary {
    /// Lines accepted by InfluxDB.
    pub lines_written: u64,
    /// Batches accepted.
    pub batches_written: u64,
    /// Batch attempts that failed (each is retried with the next batch).
    pub batches_failed: u64,
    /// Lines given up on (still pending at the end, or over the buffer cap).
    pub lines_dropped: u64,
    /// The last error, if any.
    pub last_error: Option<String>,
}

/// Escapes a measurement name.
fn escape_measurement(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            ',' | ' ' => {
                out.push('\\');
                out.push(c);
            }
            '\n' | '\r' => out.push(' '),
            _ => out.push(c),
        }
    }
    out
}

/// Escapes a tag key or value (also used for field keys).
fn escape_tag(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            ',' | ' ' | '=' => {
                out.push('\\');
                out.push(c);
            }
            '\n' | '\r' => out.push_str("\\ "),
            _ => out.push(c),
        }
    }
    // A tag value must not end in a lone backslash.
    if out.ends_with('\\') && !out.ends_with("\\\\") {
        out.push('\\');
    }
    out
}

/// Quotes a string field value.
fn quote_field(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            '\n' | '\r' => out.push(' '),
            _ => out.push(c),
        }
    }
    out.push('"');
    out
}

fn float_field(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{v:.1}")
    } else {
        format!("{v}")
    }
}

fn nanos(t: SystemTime) -> u128 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0)
}

fn push_tag(line: &mut String, key: &str, value: Option<&str>) {
    if let Some(v) = value.filter(|v| !v.is_empty()) {
        line.push(',');
        line.push_str(key);
        line.push('=');
        line.push_str(&escape_tag(v));
    }
}

/// One sample as a line of InfluxDB line protocol.
pub fn sample_line(measurement: &str, url: &str, s: &Sample) -> String {
    let mut line = escape_measurement(measurement);
    push_tag(&mut line, "served_by", s.served_by.as_deref());
    push_tag(&mut line, "status", Some(&s.status.label()));
    push_tag(&mut line, "url", Some(url));
    push_tag(&mut line, "version", s.version.as_deref());
    let mut fields = vec![
        format!("latency_ms={}", float_field(s.latency_ms())),
        format!("ok={}", s.is_ok()),
        format!("seq={}i", s.seq),
    ];
    if let Some(rt) = s.response_time_ms.filter(|v| v.is_finite()) {
        fields.push(format!("response_time_ms={}", float_field(rt)));
    }
    if let Some(code) = s.http_code {
        fields.push(format!("http_code={code}i"));
    }
    if let Some(err) = &s.error {
        fields.push(format!("error={}", quote_field(err)));
    }
    format!("{line} {} {}", fields.join(","), nanos(s.time))
}

/// One event as a line of InfluxDB line protocol.
pub fn event_line(measurement: &str, e: &Event) -> String {
    let mut line = escape_measurement(measurement);
    push_tag(&mut line, "source", Some(&e.source.to_string()));
    format!("{line} text={} {}", quote_field(&e.name), nanos(e.time))
}

/// One record as line protocol, using the configured measurements.
pub fn record_line(config: &InfluxConfig, url: &str, record: &Record) -> String {
    match record {
        Record::Sample(s) => sample_line(&config.measurement, url, s),
        Record::Event(e) => event_line(&config.event_measurement, e),
    }
}

fn agent(timeout: Duration) -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_global(Some(timeout))
        .http_status_as_error(false)
        .user_agent(concat!("populous-probe/", env!("CARGO_PKG_VERSION")))
        .build()
        .into()
}

fn influx_err(config: &InfluxConfig, reason: String) -> ProbeError {
    ProbeError::Influx {
        url: config.url.clone(),
        reason,
    }
}

/// Checks that InfluxDB answers `/ping` and, if configured, creates the
/// database. Called before probing starts so a typo fails fast.
pub fn prepare(config: &InfluxConfig) -> Result<(), ProbeError> {
    let agent = agent(config.timeout);
    let ping = format!("{}/ping", config.url);
    match agent.get(&ping).call() {
        Ok(r) if r.status().is_success() => {}
        Ok(r) => {
            return Err(influx_err(
                config,
                format!(
                    "/ping answered {}; check that --influx points at an influxdb 1.x http api",
                    r.status().as_u16()
                ),
            ))
        }
        Err(e) => {
            return Err(influx_err(
                config,
                format!("cannot reach it ({e}); check that influxd runs and --influx is right"),
            ))
        }
    }
    if config.create_database {
        let q = format!(
            "CREATE DATABASE \"{}\"",
            config.database.replace('\\', "\\\\").replace('"', "\\\"")
        );
        let res = agent
            .post(format!("{}/query", config.url))
            .query("q", &q)
            .send_empty();
        match res {
            Ok(mut r) if r.status().is_success() => {
                let body = r.body_mut().read_to_string().unwrap_or_default();
                if body.contains("\"error\"") {
                    return Err(influx_err(
                        config,
                        format!(
                            "create database {:?} failed: {}",
                            config.database,
                            body.trim()
                        ),
                    ));
                }
            }
            Ok(mut r) => {
                let code = r.status().as_u16();
                let body = r.body_mut().read_to_string().unwrap_or_default();
                return Err(influx_err(
                    config,
                    format!(
                        "create database {:?} answered {code} {}; create it yourself or turn database creation off",
                        config.database,
                        body.trim()
                    ),
                ));
            }
            Err(e) => {
                return Err(influx_err(
                    config,
                    format!("create database {:?} failed: {e}", config.database),
                ))
            }
        }
    }
    Ok(())
}

/// At most this many unsent lines are kept while InfluxDB is failing.
const MAX_PENDING: usize = 100_000;

/// A background thread that batches lines to InfluxDB.
#[derive(Debug)]
pub(crate) struct InfluxWriter {
    tx: Option<Sender<String>>,
    handle: Option<JoinHandle<InfluxSummary>>,
}

impl InfluxWriter {
    pub(crate) fn start(config: InfluxConfig) -> Result<Self, ProbeError> {
        let (tx, rx) = std::sync::mpsc::channel();
        let handle = std::thread::Builder::new()
            .name("probe-influx".into())
            .spawn(move || writer_loop(&config, &rx))
            .map_err(ProbeError::Thread)?;
        Ok(InfluxWriter {
            tx: Some(tx),
            handle: Some(handle),
        })
    }

    pub(crate) fn send(&self, line: String) {
        if let Some(tx) = &self.tx {
            // The thread only exits after the sender is dropped.
            let _ = tx.send(line);
        }
    }

    /// Flushes what is pending and returns the summary.
    pub(crate) fn finish(mut self) -> InfluxSummary {
        self.tx.take();
        self.handle
            .take()
            .and_then(|h| h.join().ok())
            .unwrap_or_default()
    }
}

fn writer_loop(config: &InfluxConfig, rx: &Receiver<String>) -> InfluxSummary {
    let agent = agent(config.timeout);
    let url = format!("{}/write", config.url);
    let mut summary = InfluxSummary::default();
    let mut pending: Vec<String> = Vec::new();
    let mut oldest: Option<Instant> = None;
    let batch = config.batch_size.max(1);
    loop {
        let wait = match oldest {
            Some(t) => config.flush_interval.saturating_sub(t.elapsed()),
            None => Duration::from_secs(3600),
        };
        let mut closed = false;
        match rx.recv_timeout(wait) {
            Ok(line) => {
                pending.push(line);
                oldest.get_or_insert_with(Instant::now);
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => closed = true,
        }
        let due = oldest.is_some_and(|t| t.elapsed() >= config.flush_interval);
        if !pending.is_empty() && (closed || due || pending.len() >= batch) {
            flush(&agent, &url, config, &mut pending, &mut summary);
            oldest = if pending.is_empty() {
                None
            } else {
                Some(Instant::now())
            };
        }
        if pending.len() > MAX_PENDING {
            let drop = pending.len() - MAX_PENDING;
            pending.drain(..drop);
            summary.lines_dropped += drop as u64;
        }
        if closed {
            summary.lines_dropped += pending.len() as u64;
            return summary;
        }
    }
}

fn flush(
    agent: &ureq::Agent,
    url: &str,
    config: &InfluxConfig,
    pending: &mut Vec<String>,
    summary: &mut InfluxSummary,
) {
    let body = pending.join("\n");
    let res = agent
        .post(url)
        .query("db", &config.database)
        .query("precision", "ns")
        .content_type("text/plain; charset=utf-8")
        .send(body.as_bytes());
    match res {
        Ok(r) if r.status().is_success() => {
            summary.lines_written += pending.len() as u64;
            summary.batches_written += 1;
            pending.clear();
        }
        Ok(mut r) => {
            let code = r.status().as_u16();
            let text = r.body_mut().read_to_string().unwrap_or_default();
            summary.batches_failed += 1;
            summary.last_error = Some(format!("write answered {code}: {}", text.trim()));
            // 400 means the data itself is bad: retrying cannot help.
            if code == 400 {
                summary.lines_dropped += pending.len() as u64;
                pending.clear();
            }
        }
        Err(e) => {
            summary.batches_failed += 1;
            summary.last_error = Some(format!("write failed: {e}"));
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, SystemTime};

    use super::*;
    use crate::record::{EventSource, Status};

    #[test]
    fn line_protocol_escapes() {
        let t = SystemTime::UNIX_EPOCH + Duration::from_nanos(1_700_000_000_123_456_000);
        let s = Sample {
            seq: 7,
            time: t,
            offset: Duration::from_millis(35_000),
            status: Status::Http(500),
            http_code: Some(500),
            latency: Duration::from_micros(12_500),
            response_time_ms: Some(37.0),
            served_by: Some("a b,c=d".into()),
            version: None,
            error: Some("say \"hi\" \\ bye".into()),
        };
        assert_eq!(
            sample_line("populous_ping", "http://h/_ping?a=b", &s),
            "populous_ping,served_by=a\\ b\\,c\\=d,status=500,url=http://h/_ping?a\\=b \
             latency_ms=12.5,ok=false,seq=7i,response_time_ms=37.0,http_code=500i,\
             error=\"say \\\"hi\\\" \\\\ bye\" 1700000000123456000"
        );
        let e = Event {
            time: t,
            offset: Duration::ZERO,
            name: "update \"x\"".into(),
            source: EventSource::Http,
        };
        assert_eq!(
            event_line("my events", &e),
            "my\\ events,source=http text=\"update \\\"x\\\"\" 1700000000123456000"
        );
    }
}
