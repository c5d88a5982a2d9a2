//! Sampling: the schedule, run limits, overlapping slow answers, and how
//! each kind of failure is classified.

use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use populous_probe::{probe_for, Mark, Probe, ProbeConfig, Status, StopReason};

use crate::common::{assert_on_schedule, config, free_port, split, FakeApp, Mode};

#[test]
fn samples_follow_the_schedule() {
    let app = FakeApp::start();
    let run = Probe::new(config(&app.url(), 100, 10))
        .unwrap()
        .run()
        .unwrap();
    let s = split(&run.records).0;
    assert_eq!(s.len(), 10);
    assert_eq!(run.summary.samples, 10);
    assert_eq!(run.summary.ok, 10);
    assert_eq!(run.summary.stop_reason, StopReason::Count);
    assert_eq!(
        s.iter().map(|s| s.seq).collect::<Vec<_>>(),
        (0..10).collect::<Vec<_>>()
    );
    assert_on_schedule(&s, Duration::from_millis(100));
    for x in &s {
        assert_eq!(x.status, Status::Http(200));
        assert_eq!(x.http_code, Some(200));
        assert_eq!(x.version.as_deref(), Some("1.0.1-28"));
        assert!(x.served_by.is_some());
        let rt = x.response_time_ms.unwrap();
        assert!((30.0..41.0).contains(&rt), "{rt}");
        assert!(x.latency > Duration::ZERO);
        assert_eq!(x.time, run.started + x.offset);
    }
    // Two containers answer alternately: with no keep-alive both are seen.
    assert_eq!(run.overall().served_by.len(), 2);
}

#[test]
fn duration_limits_the_run() {
    let app = FakeApp::start();
    let t0 = Instant::now();
    let s = probe_for(
        &app.url(),
        Duration::from_millis(100),
        Duration::from_millis(450),
    )
    .unwrap();
    // Ticks at 0, 100, 200, 300, 400 ms; the run lasts the whole 450 ms.
    assert_eq!(s.len(), 5);
    assert!(t0.elapsed() >= Duration::from_millis(450));
    assert!(s.iter().all(|s| s.status.is_ok()));
}

#[test]
fn slow_answers_do_not_delay_the_schedule() {
    let app = FakeApp::start();
    app.set_default(Mode::Slow(Duration::from_millis(350)));
    let t0 = Instant::now();
    let run = Probe::new(config(&app.url(), 100, 8))
        .unwrap()
        .run()
        .unwrap();
    let elapsed = t0.elapsed();
    let s = split(&run.records).0;
    assert_eq!(s.len(), 8);
    assert_on_schedule(&s, Duration::from_millis(100));
    for x in &s {
        assert!(x.latency >= Duration::from_millis(350), "{:?}", x.latency);
        assert!(x.status.is_ok());
    }
    // Requests overlapped, and the run is bounded by the schedule plus one
    // answer, not 8 answers in a row.
    assert!(app.max_concurrent.load(Ordering::SeqCst) >= 3);
    assert!(elapsed >= Duration::from_millis(700 + 350));
    assert!(elapsed < Duration::from_millis(8 * 350), "{elapsed:?}");
}

#[test]
fn errors_are_classified() {
    let app = FakeApp::start();
    app.script(&[
        Mode::Ok,
        Mode::Fail(500),
        Mode::BadJson,
        Mode::Slow(Duration::from_millis(1500)),
        Mode::Fail(503),
    ]);
    let mut cfg = config(&app.url(), 60, 5);
    cfg.timeout = Duration::from_millis(300);
    let run = Probe::new(cfg).unwrap().run().unwrap();
    let s = split(&run.records).0;
    assert_eq!(s.len(), 5);
    // Arrival order can differ from send order, so compare as a set.
    let mut got: Vec<(String, Option<u16>)> =
        s.iter().map(|s| (s.status.label(), s.http_code)).collect();
    got.sort();
    let mut want = vec![
        ("200".to_string(), Some(200)),
        ("500".to_string(), Some(500)),
        ("503".to_string(), Some(503)),
        ("invalid-json".to_string(), Some(200)),
        ("timeout".to_string(), None),
    ];
    want.sort();
    assert_eq!(got, want);
    for x in &s {
        assert_eq!(x.error.is_some(), !x.status.is_ok(), "{x:?}");
        if x.status == Status::Timeout {
            assert!(x.latency >= Duration::from_millis(300));
            assert!(x.latency < Duration::from_millis(1500));
        }
    }
    let all = run.overall();
    assert_eq!((all.count, all.ok, all.errors), (5, 1, 4));
    assert_eq!(all.errors_by_status.get("timeout"), Some(&1));
    assert_eq!(run.summary.errors, 4);
}

#[test]
fn connection_refused_is_classified() {
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}/_ping");
    let run = Probe::new(config(&url, 50, 3)).unwrap().run().unwrap();
    let s = split(&run.records).0;
    assert_eq!(s.len(), 3);
    for x in &s {
        assert_eq!(x.status, Status::Connect, "{x:?}");
        assert_eq!(x.http_code, None);
    }
}

#[test]
fn bad_configuration_is_rejected_before_probing() {
    let e = Probe::new(ProbeConfig::new("https://example.invalid/_ping")).unwrap_err();
    assert!(e.to_string().contains("https"), "{e}");
    let e = Probe::new(ProbeConfig::new("not a url")).unwrap_err();
    assert!(e.to_string().starts_with("invalid probe url"), "{e}");
    let mut c = ProbeConfig::new("http://127.0.0.1:1/_ping");
    c.output = Some(PathBuf::from("/tmp/out.txt"));
    let e = Probe::new(c).unwrap_err();
    assert!(e.to_string().contains(".csv or *.jsonl"), "{e}");
    assert!("clone".parse::<Mark>().is_err());
    let m: Mark = "update started@1m30s".parse().unwrap();
    assert_eq!(m.name, "update started");
    assert_eq!(m.offset, Duration::from_secs(90));
    let m: Mark = "x@1.5s".parse().unwrap();
    assert_eq!(m.offset, Duration::from_millis(1500));
}
