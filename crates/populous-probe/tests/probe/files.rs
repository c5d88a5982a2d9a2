//! Files and reports: CSV and JSON Lines round trips, malformed files, and
//! the command-line front end (what `populous probe` runs), end to end.

use populous_probe::cli::{run_report, ReportArgs};
use populous_probe::{phase_stats, read_records, write_records, Probe};

use crate::common::{config, known_run, split, FakeApp, Mode};

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
        assert_eq!(split(&back).0.len(), 8);
        assert_eq!(split(&back).1.len(), 1);

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
