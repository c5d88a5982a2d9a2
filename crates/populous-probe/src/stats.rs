//! Per-phase statistics and the idle-versus-update check.
//!
//! A phase runs from one event to the next; samples sent before the first
//! event form an implicit phase named `start` (left out when it is empty). A
//! sample belongs to the phase whose event offset is the latest one at or
//! before the sample's send offset.
//!
//! # Percentiles
//!
//! Percentiles use the **nearest-rank** method on the sorted samples: for `n`
//! values sorted ascending and `0 < p ≤ 100`, the p-th percentile is the value
//! at 1-based rank `ceil(p / 100 × n)`. It is always one of the measured
//! values (no interpolation), `p100` is the maximum, and with fewer than 100
//! samples `p99` is the maximum too. Latency percentiles are computed over
//! successful samples only (2xx with a JSON body); failed samples are counted
//! under `errors` instead, so a timeout cannot masquerade as a slow success.
//! `response_time_ms` percentiles use every sample that carried that field.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::record::{duration_ms, Record, Sample};

/// Nearest-rank percentile of an ascending slice; `None` when it is empty or
/// `p` is outside `(0, 100]`.
pub fn percentile(sorted: &[f64], p: f64) -> Option<f64> {
    if sorted.is_empty() || !(p > 0.0 && p <= 100.0) {
        return None;
    }
    let n = sorted.len();
    // The small epsilon keeps e.g. 0.95 × 20 = 19.000000000000004 at rank 19.
    let rank = ((p / 100.0) * n as f64 - 1e-9).ceil().max(1.0) as usize;
    Some(sorted[rank.min(n) - 1])
}

/// p50, p95, p99 and max of a set of millisecond values.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Percentiles {
    /// Median (nearest rank).
    pub p50: f64,
    /// 95th percentile (nearest rank).
    pub p95: f64,
    /// 99th percentile (nearest rank).
    pub p99: f64,
    /// Largest value.
    pub max: f64,
}

impl Percentiles {
    /// Computes the percentiles of unsorted values; `None` when empty. NaN
    /// values are ignored.
    pub fn from_values(values: &[f64]) -> Option<Percentiles> {
        let mut v: Vec<f64> = values.iter().copied().filter(|x| !x.is_nan()).collect();
        v.sort_by(f64::total_cmp);
        Some(Percentiles {
            p50: percentile(&v, 50.0)?,
            p95: percentile(&v, 95.0)?,
            p99: percentile(&v, 99.0)?,
            max: *v.last()?,
        })
    }
}

/// A value seen in a phase (a version or a container) and how often.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Seen {
    /// The value.
    pub value: String,
    /// How many samples carried it.
    pub count: usize,
}

/// Statistics of one phase (or of the whole run).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PhaseStats {
    /// Phase name: the event that opened it, or `start`/`all`.
    pub name: String,
    /// Offset of the opening event in ms (0 for `start` and `all`).
    pub start_ms: f64,
    /// Offset of the next event in ms; `None` for the last phase.
    pub end_ms: Option<f64>,
    /// Samples in the phase.
    pub count: usize,
    /// Successful samples.
    pub ok: usize,
    /// Failed samples.
    pub errors: usize,
    /// Failed samples by status label (`500`, `timeout`, ...).
    pub errors_by_status: BTreeMap<String, usize>,
    /// Client latency percentiles over successful samples, in ms.
    pub latency_ms: Option<Percentiles>,
    /// The app's `response_time_ms` percentiles.
    pub response_time_ms: Option<Percentiles>,
    /// Versions seen, in order of first appearance.
    pub versions: Vec<Seen>,
    /// Containers (`served_by`) seen, in order of first appearance.
    pub served_by: Vec<Seen>,
}

fn count_seen(list: &mut Vec<Seen>, value: &Option<String>) {
    if let Some(v) = value {
        match list.iter_mut().find(|s| &s.value == v) {
            Some(s) => s.count += 1,
            None => list.push(Seen {
                value: v.clone(),
                count: 1,
            }),
        }
    }
}

impl PhaseStats {
    /// Statistics of an arbitrary set of samples.
    pub fn from_samples<'a>(
        name: &str,
        start_ms: f64,
        end_ms: Option<f64>,
        samples: impl IntoIterator<Item = &'a Sample>,
    ) -> PhaseStats {
        let mut st = PhaseStats {
            name: name.to_string(),
            start_ms,
            end_ms,
            count: 0,
            ok: 0,
            errors: 0,
            errors_by_status: BTreeMap::new(),
            latency_ms: None,
            response_time_ms: None,
            versions: Vec::new(),
            served_by: Vec::new(),
        };
        let mut lat = Vec::new();
        let mut rt = Vec::new();
        for s in samples {
            st.count += 1;
            if s.is_ok() {
                st.ok += 1;
                lat.push(duration_ms(s.latency));
            } else {
                st.errors += 1;
                *st.errors_by_status.entry(s.status.label()).or_default() += 1;
            }
            if let Some(v) = s.response_time_ms {
                rt.push(v);
            }
            count_seen(&mut st.versions, &s.version);
            count_seen(&mut st.served_by, &s.served_by);
        }
        st.latency_ms = Percentiles::from_values(&lat);
        st.response_time_ms = Percentiles::from_values(&rt);
        st
    }
}

/// Splits a run into phases at its events and computes each phase's stats.
/// Records need not be sorted.
pub fn phase_stats(records: &[Record]) -> Vec<PhaseStats> {
    let mut events: Vec<(f64, &str)> = records
        .iter()
        .filter_map(|r| match r {
            Record::Event(e) => Some((e.offset_ms(), e.name.as_str())),
            Record::Sample(_) => None,
        })
        .collect();
    // Stable: simultaneous events keep file order.
    events.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut buckets: Vec<Vec<&Sample>> = vec![Vec::new(); events.len() + 1];
    for r in records {
        if let Record::Sample(s) = r {
            let off = s.offset_ms();
            // Index of the last event at or before this sample (+1); 0 = start.
            let idx = events.partition_point(|(e, _)| *e <= off);
            buckets[idx].push(s);
        }
    }
    let mut out = Vec::with_capacity(buckets.len());
    for (i, bucket) in buckets.into_iter().enumerate() {
        let (name, start) = if i == 0 {
            ("start", 0.0)
        } else {
            (events[i - 1].1, events[i - 1].0)
        };
        if i == 0 && bucket.is_empty() && !events.is_empty() {
            continue;
        }
        let end = events.get(i).map(|e| e.0);
        out.push(PhaseStats::from_samples(name, start, end, bucket));
    }
    out
}

/// Statistics of every sample of the run, as one phase named `all`.
pub fn overall_stats(records: &[Record]) -> PhaseStats {
    PhaseStats::from_samples(
        "all",
        0.0,
        None,
        records.iter().filter_map(|r| match r {
            Record::Sample(s) => Some(s),
            Record::Event(_) => None,
        }),
    )
}

/// The verdict of [`check_against_baseline`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Verdict {
    /// True when every condition held.
    pub passed: bool,
    /// Candidate p99 divided by baseline p99, when both exist.
    pub p99_ratio: Option<f64>,
    /// One line per failed condition, empty when passed.
    pub failures: Vec<String>,
}

/// The production-impact check: the candidate phase (e.g. a rolling update)
/// must have zero failed requests, at least one successful one, and a client
/// latency p99 of at most `max_p99_ratio` × the baseline's (idle) p99.
pub fn check_against_baseline(
    baseline: &PhaseStats,
    candidate: &PhaseStats,
    max_p99_ratio: f64,
) -> Verdict {
    let mut failures = Vec::new();
    if candidate.errors > 0 {
        let kinds: Vec<String> = candidate
            .errors_by_status
            .iter()
            .map(|(k, n)| format!("{n}× {k}"))
            .collect();
        failures.push(format!(
            "phase {:?} had {} failed requests ({})",
            candidate.name,
            candidate.errors,
            kinds.join(", ")
        ));
    }
    let ratio = match (baseline.latency_ms, candidate.latency_ms) {
        (Some(b), Some(c)) if b.p99 > 0.0 => Some(c.p99 / b.p99),
        _ => None,
    };
    match (baseline.latency_ms, candidate.latency_ms, ratio) {
        (Some(b), Some(c), Some(r)) if r > max_p99_ratio => failures.push(format!(
            "phase {:?} p99 {:.1} ms is {:.2}× the {:?} p99 {:.1} ms, more than the allowed {:.2}×",
            candidate.name, c.p99, r, baseline.name, b.p99, max_p99_ratio
        )),
        (None, _, _) => failures.push(format!(
            "baseline phase {:?} has no successful samples to compare with",
            baseline.name
        )),
        (_, None, _) => failures.push(format!(
            "phase {:?} has no successful samples",
            candidate.name
        )),
        _ => {}
    }
    Verdict {
        passed: failures.is_empty(),
        p99_ratio: ratio,
        failures,
    }
}
