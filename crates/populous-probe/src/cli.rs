//! Command-line front end: `probe` and `report`, as clap argument structs
//! that the `populous` CLI can embed (`populous probe ...`) and functions
//! that run them. Signal handling stays with the binary: it installs a
//! SIGINT handler that calls [`crate::Controller::stop`].

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Subcommand};

use crate::influx::InfluxConfig;
use crate::output::read_records;
use crate::probe::{Controller, Probe, ProbeConfig, ProbeRun};
use crate::record::{parse_duration, Mark, Record};
use crate::report::{build_report, write_json, write_text};
use crate::ProbeError;

/// The probe's subcommands.
// Parsed once per process; boxing would only complicate embedding.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, Subcommand)]
pub enum Command {
    /// Sample a /_ping endpoint at a fixed rate and record every answer.
    Probe(ProbeArgs),
    /// Per-phase statistics and a chart from a probe file.
    Report(ReportArgs),
}

fn duration_arg(s: &str) -> Result<Duration, String> {
    parse_duration(s).map_err(|e| e.to_string())
}

fn mark_arg(s: &str) -> Result<Mark, String> {
    s.parse::<Mark>().map_err(|e| e.to_string())
}

/// Arguments of `probe`.
#[derive(Debug, Clone, Args)]
pub struct ProbeArgs {
    /// URL to GET, e.g. http://127.0.0.1:8080/_ping (plain http).
    #[arg(long)]
    pub url: String,
    /// Time between request starts (500ms, 5s, 1m).
    #[arg(long, default_value = "5s", value_parser = duration_arg)]
    pub interval: Duration,
    /// Per-request timeout.
    #[arg(long, default_value = "10s", value_parser = duration_arg)]
    pub timeout: Duration,
    /// Stop after this long (e.g. 10m).
    #[arg(long, value_parser = duration_arg)]
    pub duration: Option<Duration>,
    /// Stop after this many samples.
    #[arg(long)]
    pub count: Option<u64>,
    /// Output file: *.csv or *.jsonl, written as the run goes.
    #[arg(long)]
    pub out: PathBuf,
    /// Replace the output file if it exists.
    #[arg(long)]
    pub overwrite: bool,
    /// InfluxDB 1.x base URL, e.g. http://127.0.0.1:8086.
    #[arg(long, requires = "influx_db")]
    pub influx: Option<String>,
    /// InfluxDB database (created if missing).
    #[arg(long, requires = "influx")]
    pub influx_db: Option<String>,
    /// InfluxDB measurement for samples.
    #[arg(long, default_value = "populous_ping")]
    pub influx_measurement: String,
    /// Send InfluxDB batches at least this often.
    #[arg(long, default_value = "10s", value_parser = duration_arg)]
    pub influx_flush: Duration,
    /// Do not issue CREATE DATABASE at start.
    #[arg(long)]
    pub influx_no_create: bool,
    /// A planned event NAME@OFFSET, e.g. clone@30s (repeatable).
    #[arg(long = "mark", value_parser = mark_arg)]
    pub marks: Vec<Mark>,
    /// Serve POST /event {"name":...} or /event?name=... on this address,
    /// e.g. 127.0.0.1:9999.
    #[arg(long)]
    pub events_listen: Option<SocketAddr>,
    /// Reuse connections (default: a new connection per request).
    #[arg(long)]
    pub keep_alive: bool,
    /// Do not print a line per sample.
    #[arg(long, short)]
    pub quiet: bool,
}

impl ProbeArgs {
    /// The library configuration these arguments describe.
    pub fn to_config(&self) -> ProbeConfig {
        let influx = match (&self.influx, &self.influx_db) {
            (Some(url), Some(db)) => {
                let mut c = InfluxConfig::new(url.clone(), db.clone());
                c.measurement.clone_from(&self.influx_measurement);
                c.flush_interval = self.influx_flush;
                c.create_database = !self.influx_no_create;
                Some(c)
            }
            _ => None,
        };
        ProbeConfig {
            url: self.url.clone(),
            interval: self.interval,
            timeout: self.timeout,
            duration: self.duration,
            count: self.count,
            output: Some(self.out.clone()),
            overwrite: self.overwrite,
            influx,
            marks: self.marks.clone(),
            events_listen: self.events_listen,
            keep_alive: self.keep_alive,
            ..ProbeConfig::new(self.url.clone())
        }
    }
}

/// Arguments of `report`.
#[derive(Debug, Clone, Args)]
pub struct ReportArgs {
    /// A probe file (*.csv or *.jsonl).
    pub file: PathBuf,
    /// Draw a latency-over-time chart to this file (*.png or *.svg).
    #[arg(long)]
    pub chart: Option<PathBuf>,
    /// Print the report as JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

/// One line describing a record, as printed while probing.
pub fn format_record(record: &Record) -> String {
    match record {
        Record::Sample(s) => {
            let mut line = format!(
                "{:>9.3}s #{:<5} {:<12} {:>8.1} ms",
                s.offset.as_secs_f64(),
                s.seq,
                s.status.label(),
                s.latency_ms()
            );
            if let Some(rt) = s.response_time_ms {
                line.push_str(&format!("  app {rt:.1} ms"));
            }
            if let Some(v) = &s.version {
                line.push_str(&format!("  {v}"));
            }
            if let Some(b) = &s.served_by {
                line.push_str(&format!("  {b}"));
            }
            if let Some(err) = &s.error {
                line.push_str(&format!("  ({err})"));
            }
            line
        }
        Record::Event(e) => format!(
            "{:>9.3}s event {:?} ({})",
            e.offset.as_secs_f64(),
            e.name,
            e.source
        ),
    }
}

/// Runs `probe`: prints a line per record to `log` (unless `--quiet`), then
/// the report. `on_start` receives the controller before the first request,
/// e.g. to install a SIGINT handler that calls [`Controller::stop`].
pub fn run_probe(
    args: &ProbeArgs,
    on_start: impl FnOnce(Controller),
    out: &mut dyn Write,
    log: Box<dyn Write + Send>,
) -> Result<ProbeRun, ProbeError> {
    let mut probe = Probe::new(args.to_config())?;
    on_start(probe.controller());
    let mut log = log;
    if let Some(addr) = probe.events_addr() {
        let _ = writeln!(log, "events: POST http://{addr}/event {{\"name\":\"...\"}}");
    }
    if !args.quiet {
        probe.on_record(move |r| {
            let _ = writeln!(log, "{}", format_record(r));
        });
    }
    let run = probe.run()?;
    let s = &run.summary;
    let report = build_report(&run.records);
    (|| -> std::io::Result<()> {
        writeln!(
            out,
            "probe finished ({}) after {:.1}s: {} samples, {} ok, {} errors, {} events; written to {}",
            s.stop_reason,
            s.elapsed.as_secs_f64(),
            s.samples,
            s.ok,
            s.errors,
            s.events,
            args.out.display()
        )?;
        if let Some(i) = &s.influx {
            writeln!(
                out,
                "influxdb: {} lines in {} batches, {} failed batches, {} lines dropped{}",
                i.lines_written,
                i.batches_written,
                i.batches_failed,
                i.lines_dropped,
                i.last_error
                    .as_ref()
                    .map(|e| format!("; last error: {e}"))
                    .unwrap_or_default()
            )?;
        }
        writeln!(out)?;
        write_text(&report, out)
    })()
    .map_err(ProbeError::Report)?;
    Ok(run)
}

/// Runs `report`: reads the file, prints text or JSON, draws the chart.
pub fn run_report(args: &ReportArgs, out: &mut dyn Write) -> Result<(), ProbeError> {
    let records = read_records(&args.file)?;
    let report = build_report(&records);
    if let Some(chart) = &args.chart {
        let title = format!(
            "/_ping latency: {}",
            args.file
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        );
        crate::chart::draw_chart(&records, &report.phases, &title, chart)?;
    }
    if args.json {
        write_json(&report, out).map_err(ProbeError::Report)?;
    } else {
        write_text(&report, out).map_err(ProbeError::Report)?;
        if let Some(chart) = &args.chart {
            writeln!(out, "chart: {}", chart.display()).map_err(ProbeError::Report)?;
        }
    }
    Ok(())
}
