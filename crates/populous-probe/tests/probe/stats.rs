//! Statistics and charts: nearest-rank percentiles, per-phase statistics
//! and baseline checks on a known run, and PNG/SVG charts of it.

use std::path::Path;

use populous_probe::{
    build_report, check_against_baseline, draw_chart, percentile, phase_stats, Percentiles,
};

use crate::common::known_run;

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
