//! What a probe run records: samples, events, and their status kinds.
//!
//! A run is a list of [`Record`]s. A [`Sample`] is one `GET /_ping` with its
//! outcome; an [`Event`] is a named moment (a `--mark`, a `POST /event`, or a
//! call to [`crate::Controller::event`]) that starts a new phase.
//!
//! All times are derived from the run's start: `time = start + offset`, with
//! the start wall clock truncated to whole microseconds and every offset and
//! latency kept to whole microseconds, so that records written to CSV or JSON
//! lines read back bit-for-bit equal.

use std::fmt;
use std::str::FromStr;
use std::time::{Duration, SystemTime};

/// The outcome class of one sample.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Status {
    /// The server answered with this HTTP status code. For 2xx the body was
    /// valid JSON (otherwise the status is [`Status::InvalidJson`]).
    Http(u16),
    /// The request did not complete within the per-request timeout.
    Timeout,
    /// No connection could be made (refused, unreachable, unknown host).
    Connect,
    /// The server answered 2xx but the body was not a JSON object.
    InvalidJson,
    /// Another transport failure after connecting (reset, broken HTTP).
    Transport,
    /// The probe did not send this request because too many were in flight.
    Skipped,
}

impl Status {
    /// True for a 2xx answer with a JSON body: the only successful outcome.
    pub fn is_ok(self) -> bool {
        matches!(self, Status::Http(code) if (200..300).contains(&code))
    }

    /// The label used in files, reports and InfluxDB tags: the HTTP code
    /// (`"200"`, `"500"`) or `timeout`, `connect`, `invalid-json`,
    /// `transport`, `skipped`.
    pub fn label(self) -> String {
        self.to_string()
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Status::Http(code) => write!(f, "{code}"),
            Status::Timeout => f.write_str("timeout"),
            Status::Connect => f.write_str("connect"),
            Status::InvalidJson => f.write_str("invalid-json"),
            Status::Transport => f.write_str("transport"),
            Status::Skipped => f.write_str("skipped"),
        }
    }
}

impl FromStr for Status {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "timeout" => Status::Timeout,
            "connect" => Status::Connect,
            "invalid-json" => Status::InvalidJson,
            "transport" => Status::Transport,
            "skipped" => Status::Skipped,
            other => match other.parse::<u16>() {
                Ok(code) if (100..1000).contains(&code) => Status::Http(code),
                _ => return Err(format!("unknown status {other:?}")),
            },
        })
    }
}

/// One probe request and its outcome.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// Tick number, from 0: the request was scheduled at `seq × interval`.
    pub seq: u64,
    /// Wall-clock time the request was sent.
    pub time: SystemTime,
    /// Time since the run started at which the request was sent.
    pub offset: Duration,
    /// Outcome class.
    pub status: Status,
    /// The HTTP status code, when the server answered at all.
    pub http_code: Option<u16>,
    /// Client-side latency: from sending the request to having read the
    /// whole body (or to the error).
    pub latency: Duration,
    /// The app's own `response_time_ms` from the body.
    pub response_time_ms: Option<f64>,
    /// The app's `served_by` (which container answered).
    pub served_by: Option<String>,
    /// The app's `version`.
    pub version: Option<String>,
    /// A human-readable error detail for failed samples.
    pub error: Option<String>,
}

impl Sample {
    /// Client latency in milliseconds.
    pub fn latency_ms(&self) -> f64 {
        duration_ms(self.latency)
    }

    /// Offset since the start of the run in milliseconds.
    pub fn offset_ms(&self) -> f64 {
        duration_ms(self.offset)
    }

    /// True when the sample counts as a successful request.
    pub fn is_ok(&self) -> bool {
        self.status.is_ok()
    }
}

/// Where an event came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventSource {
    /// A `--mark NAME@OFFSET` planned before the run.
    Mark,
    /// A `POST /event` to the local events endpoint.
    Http,
    /// A call to [`crate::Controller::event`] from the embedding program.
    Api,
}

impl fmt::Display for EventSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            EventSource::Mark => "mark",
            EventSource::Http => "http",
            EventSource::Api => "api",
        })
    }
}

impl FromStr for EventSource {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "mark" => Ok(EventSource::Mark),
            "http" => Ok(EventSource::Http),
            "api" => Ok(EventSource::Api),
            other => Err(format!("unknown event source {other:?}")),
        }
    }
}

/// A named moment in the run; a phase runs from one event to the next.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// Wall-clock time of the event.
    pub time: SystemTime,
    /// Time since the start of the run.
    pub offset: Duration,
    /// The event (and phase) name, e.g. `update started`.
    pub name: String,
    /// Where it came from.
    pub source: EventSource,
}

impl Event {
    /// Offset since the start of the run in milliseconds.
    pub fn offset_ms(&self) -> f64 {
        duration_ms(self.offset)
    }
}

/// One line of a probe file.
#[derive(Debug, Clone, PartialEq)]
pub enum Record {
    /// A request outcome.
    Sample(Sample),
    /// A phase boundary.
    Event(Event),
}

impl Record {
    /// The record's offset since the start of the run.
    pub fn offset(&self) -> Duration {
        match self {
            Record::Sample(s) => s.offset,
            Record::Event(e) => e.offset,
        }
    }

    /// The record's wall-clock time.
    pub fn time(&self) -> SystemTime {
        match self {
            Record::Sample(s) => s.time,
            Record::Event(e) => e.time,
        }
    }
}

/// A planned event: `NAME@OFFSET`, e.g. `clone@30s`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mark {
    /// Event name.
    pub name: String,
    /// When, relative to the start of the run.
    pub offset: Duration,
}

impl FromStr for Mark {
    type Err = crate::ProbeError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = |reason: &str| crate::ProbeError::InvalidMark {
            input: s.to_string(),
            reason: reason.to_string(),
        };
        let (name, offset) = s.rsplit_once('@').ok_or_else(|| bad("no @ found"))?;
        let name = name.trim();
        if name.is_empty() {
            return Err(bad("the name is empty"));
        }
        let offset = parse_duration(offset.trim()).map_err(|e| bad(&e.to_string()))?;
        Ok(Mark {
            name: name.to_string(),
            offset,
        })
    }
}

/// Parses a human duration: `500ms`, `5s`, `1.5s`, `10m`, `1h30m`.
pub fn parse_duration(input: &str) -> Result<Duration, crate::ProbeError> {
    let bad = |reason: String| crate::ProbeError::InvalidDuration {
        input: input.to_string(),
        reason,
    };
    let s = input.trim();
    if s.is_empty() {
        return Err(bad("it is empty".into()));
    }
    // Accept a decimal seconds/minutes value such as 1.5s, which humantime
    // does not; fall back to humantime for compound forms like 1h30m.
    for (suffix, scale) in [("ms", 0.001), ("s", 1.0), ("m", 60.0), ("h", 3600.0)] {
        if let Some(num) = s.strip_suffix(suffix) {
            if num.contains('.') {
                if let Ok(v) = num.parse::<f64>() {
                    if v.is_finite() && v >= 0.0 {
                        return Ok(truncate_micros(Duration::from_secs_f64(v * scale)));
                    }
                }
            }
        }
    }
    humantime::parse_duration(s)
        .map(truncate_micros)
        .map_err(|e| bad(e.to_string().to_lowercase()))
}

/// Milliseconds as a float.
pub(crate) fn duration_ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Drops sub-microsecond precision, which probe files do not keep.
pub(crate) fn truncate_micros(d: Duration) -> Duration {
    Duration::new(d.as_secs(), d.subsec_micros() * 1000)
}

/// Drops sub-microsecond precision from a wall-clock time.
pub(crate) fn truncate_time_micros(t: SystemTime) -> SystemTime {
    match t.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(d) => SystemTime::UNIX_EPOCH + truncate_micros(d),
        Err(_) => t,
    }
}

/// Milliseconds (with microsecond precision) back to a duration.
pub(crate) fn ms_to_duration(ms: f64) -> Option<Duration> {
    if !ms.is_finite() || ms < 0.0 {
        return None;
    }
    let micros = (ms * 1000.0).round();
    if micros > u64::MAX as f64 {
        return None;
    }
    Some(Duration::from_micros(micros as u64))
}

/// A duration as milliseconds with exactly microsecond precision, for files.
pub(crate) fn duration_ms_micros(d: Duration) -> f64 {
    // micros / 1000 is the closest f64 to the decimal d.ddd; ms_to_duration
    // inverts it exactly for any realistic offset.
    d.as_micros() as f64 / 1000.0
}
