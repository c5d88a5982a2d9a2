//! The `report` view of a probe file: per-phase statistics as text or JSON.

use std::io::{self, Write};

use serde::Serialize;

use crate::record::Record;
use crate::stats::{overall_stats, phase_stats, Percentiles, PhaseStats, Seen};

/// An event as listed in a report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReportEvent {
    /// Event name.
    pub name: String,
    /// Offset since the start, ms.
    pub offset_ms: f64,
    /// `mark`, `http` or `api`.
    pub source: String,
}

/// Everything `report` prints.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// The whole run as one phase named `all`.
    pub overall: PhaseStats,
    /// The phases, in time order.
    pub phases: Vec<PhaseStats>,
    /// The events, in time order.
    pub events: Vec<ReportEvent>,
    /// How percentiles were computed.
    pub percentile_method: &'static str,
}

/// Builds the report of a run's records.
pub fn build_report(records: &[Record]) -> Report {
    let mut events: Vec<ReportEvent> = records
        .iter()
        .filter_map(|r| match r {
            Record::Event(e) => Some(ReportEvent {
                name: e.name.clone(),
                offset_ms: e.offset_ms(),
                source: e.source.to_string(),
            }),
            Record::Sample(_) => None,
        })
        .collect();
    events.sort_by(|a, b| a.offset_ms.total_cmp(&b.offset_ms));
    Report {
        overall: overall_stats(records),
        phases: phase_stats(records),
        events,
        percentile_method: "nearest rank on sorted values: rank = ceil(p/100 × n); latency over successful samples only",
    }
}

fn secs(ms: f64) -> String {
    format!("{:.1}s", ms / 1000.0)
}

fn pct_line(label: &str, p: Option<Percentiles>) -> String {
    match p {
        Some(p) => format!(
            "  {label:<18} p50 {:>8.2}  p95 {:>8.2}  p99 {:>8.2}  max {:>8.2}",
            p.p50, p.p95, p.p99, p.max
        ),
        None => format!("  {label:<18} -"),
    }
}

fn seen_line(label: &str, seen: &[Seen]) -> String {
    if seen.is_empty() {
        return format!("  {label:<18} -");
    }
    let items: Vec<String> = seen
        .iter()
        .map(|s| format!("{} ({})", s.value, s.count))
        .collect();
    format!("  {label:<18} {}", items.join(", "))
}

fn write_phase(out: &mut dyn Write, ph: &PhaseStats, header: &str) -> io::Result<()> {
    writeln!(out, "{header}")?;
    let errs = if ph.errors_by_status.is_empty() {
        String::new()
    } else {
        let kinds: Vec<String> = ph
            .errors_by_status
            .iter()
            .map(|(k, n)| format!("{k}: {n}"))
            .collect();
        format!(" ({})", kinds.join(", "))
    };
    writeln!(
        out,
        "  {:<18} {}, ok {}, errors {}{}",
        "samples", ph.count, ph.ok, ph.errors, errs
    )?;
    writeln!(out, "{}", pct_line("client latency ms", ph.latency_ms))?;
    writeln!(out, "{}", pct_line("response_time_ms", ph.response_time_ms))?;
    writeln!(out, "{}", seen_line("versions", &ph.versions))?;
    writeln!(out, "{}", seen_line("served_by", &ph.served_by))?;
    Ok(())
}

/// Writes the report as text.
pub fn write_text(report: &Report, out: &mut dyn Write) -> io::Result<()> {
    let o = &report.overall;
    write_phase(
        out,
        o,
        &format!(
            "whole run: {} samples, {} events",
            o.count,
            report.events.len()
        ),
    )?;
    for ph in &report.phases {
        let to = ph.end_ms.map_or_else(|| "end".to_string(), secs);
        writeln!(out)?;
        write_phase(
            out,
            ph,
            &format!("phase {:?}: {} → {}", ph.name, secs(ph.start_ms), to),
        )?;
    }
    writeln!(out)?;
    writeln!(out, "percentiles: {}", report.percentile_method)?;
    Ok(())
}

/// Writes the report as pretty JSON.
pub fn write_json(report: &Report, out: &mut dyn Write) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, report)?;
    writeln!(out)
}
