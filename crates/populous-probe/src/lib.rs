//! Response-time probe for the Populous app: the seed's "InfluxDB + Grafana"
//! evidence that clones, imports and rolling updates do not hurt production.
//!
//! The probe GETs the app's `/_ping` (`{"version":"1.0.1-28","served_by":
//! "e380bca895a7","response_time_ms":37.6}`) at a fixed rate, records every
//! sample (status or error kind, the app's `response_time_ms`, `served_by`,
//! `version`, and client latency) to CSV or JSON lines and optionally to
//! InfluxDB 1.x, and takes events (phase boundaries) from `--mark`, a local
//! `POST /event` endpoint, or [`Controller::event`]. Reports split a run into
//! phases and give nearest-rank p50/p95/p99/max per phase, with a chart.
//!
//! Typical in-process use by a pipeline step:
//!
//! ```no_run
//! use std::time::Duration;
//! use populous_probe::{check_against_baseline, Probe, ProbeConfig};
//!
//! let mut cfg = ProbeConfig::new("http://127.0.0.1:8080/_ping");
//! cfg.interval = Duration::from_millis(500);
//! let running = Probe::new(cfg)?.spawn()?;
//! running.event("idle");
//! // ... wait, then start the update ...
//! running.event("update");
//! // ... the update finishes ...
//! let run = running.stop()?;
//! let phases = run.phase_stats();
//! let idle = phases.iter().find(|p| p.name == "idle").unwrap();
//! let update = phases.iter().find(|p| p.name == "update").unwrap();
//! let verdict = check_against_baseline(idle, update, 1.2);
//! assert!(verdict.passed, "{:?}", verdict.failures);
//! # Ok::<(), populous_probe::ProbeError>(())
//! ```

pub mod chart;
pub mod cli;
mod error;
mod events;
pub mod influx;
pub mod output;
pub mod probe;
pub mod record;
pub mod report;
pub mod stats;

pub use chart::{draw_chart, ChartFormat};
pub use error::ProbeError;
pub use influx::{InfluxConfig, InfluxSummary};
pub use output::{read_records, write_records, FileFormat, RecordWriter};
pub use probe::{
    probe_for, Controller, Probe, ProbeConfig, ProbeRun, RunSummary, RunningProbe, StopReason,
};
pub use record::{parse_duration, Event, EventSource, Mark, Record, Sample, Status};
pub use report::{build_report, Report};
pub use stats::{
    check_against_baseline, overall_stats, percentile, phase_stats, Percentiles, PhaseStats, Seen,
    Verdict,
};
