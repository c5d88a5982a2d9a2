//! Phases: marks, a version switch and events posted over HTTP split a run.

use std::sync::mpsc;
use std::time::Duration;

use populous_probe::{EventSource, Probe, Record};

use crate::common::{config, split, FakeApp};

#[test]
fn marks_and_version_switch_split_phases() {
    let app = FakeApp::start();
    let mut cfg = config(&app.url(), 100, 9);
    cfg.marks = vec!["b@650ms".parse().unwrap(), "a@350ms".parse().unwrap()];
    let mut probe = Probe::new(cfg).unwrap();
    let state = app.state.clone();
    // Switch the app's version once sample 4 (sent at 400 ms) is recorded.
    probe.on_record(move |r| {
        if let Record::Sample(s) = r {
            if s.seq == 4 {
                state.lock().unwrap().version = "1.0.1-29".into();
            }
        }
    });
    let run = probe.run().unwrap();
    let ev = split(&run.records).1;
    assert_eq!(ev.len(), 2);
    assert_eq!(
        (ev[0].name.as_str(), ev[0].offset),
        ("a", Duration::from_millis(350))
    );
    assert_eq!(ev[1].source, EventSource::Mark);
    let phases = run.phase_stats();
    let got: Vec<(&str, usize)> = phases.iter().map(|p| (p.name.as_str(), p.count)).collect();
    assert_eq!(got, vec![("start", 4), ("a", 3), ("b", 2)]);
    assert_eq!(phases[0].end_ms, Some(350.0));
    assert_eq!(phases[2].end_ms, None);
    let versions = |i: usize| -> Vec<&str> {
        phases[i]
            .versions
            .iter()
            .map(|s| s.value.as_str())
            .collect()
    };
    assert_eq!(versions(0), vec!["1.0.1-28"]);
    assert_eq!(versions(2), vec!["1.0.1-29"]);
    assert_eq!(run.overall().versions.len(), 2);
}

#[test]
fn posted_events_split_phases() {
    let app = FakeApp::start();
    let mut cfg = config(&app.url(), 100, 12);
    cfg.events_listen = Some("127.0.0.1:0".parse().unwrap());
    let mut probe = Probe::new(cfg).unwrap();
    let events_addr = probe.events_addr().unwrap();
    assert_ne!(events_addr.port(), 0);
    let (tx, rx) = mpsc::channel();
    probe.on_record(move |r| {
        if let Record::Sample(s) = r {
            let _ = tx.send(s.seq);
        }
    });
    let running = probe.spawn().unwrap();
    let wait_samples = |n: usize| {
        for _ in 0..n {
            rx.recv_timeout(Duration::from_secs(10)).expect("a sample");
        }
    };
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let post = |path: &str, body: &str| -> (u16, String) {
        let mut r = agent
            .post(format!("http://{events_addr}{path}"))
            .send(body.as_bytes())
            .unwrap();
        (r.status().as_u16(), r.body_mut().read_to_string().unwrap())
    };

    wait_samples(3);
    let (code, body) = post("/event", r#"{"name":"update started"}"#);
    assert_eq!(code, 200, "{body}");
    assert!(body.contains("update started"));
    // Bad requests are refused with a reason and do not record anything.
    assert_eq!(post("/event", "{not json").0, 400);
    assert_eq!(post("/event", r#"{"name":"  "}"#).0, 400);
    assert_eq!(post("/nope", "").0, 404);
    let get = agent
        .get(format!("http://{events_addr}/event"))
        .call()
        .unwrap();
    assert_eq!(get.status().as_u16(), 405);
    let (code, body) = post("/event", &"x".repeat(70 * 1024));
    assert_eq!(code, 413, "{body}");

    wait_samples(3);
    assert_eq!(post("/event?name=update%20done", "").0, 200);
    wait_samples(3);
    assert!(running.event("from the api"));
    let run = running.join().unwrap();

    let ev = split(&run.records).1;
    let names: Vec<(&str, EventSource)> = ev.iter().map(|e| (e.name.as_str(), e.source)).collect();
    assert_eq!(
        names,
        vec![
            ("update started", EventSource::Http),
            ("update done", EventSource::Http),
            ("from the api", EventSource::Api),
        ]
    );
    let phases = run.phase_stats();
    let got: Vec<&str> = phases.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(
        got,
        vec!["start", "update started", "update done", "from the api"]
    );
    assert_eq!(phases.iter().map(|p| p.count).sum::<usize>(), 12);
    assert!(phases[0].count >= 3 && phases[1].count >= 3 && phases[2].count >= 3);
    // Each sample lies inside its phase.
    for r in &run.records {
        if let Record::Sample(s) = r {
            let off = s.offset_ms();
            let inside = phases
                .iter()
                .filter(|p| p.start_ms <= off && p.end_ms.is_none_or(|e| off < e))
                .count();
            assert_eq!(inside, 1, "sample {} at {off} ms", s.seq);
        }
    }
    // Once the run is over, the endpoint no longer takes events (its socket
    // closes asynchronously, so accept refusal, a hang-up or a timeout).
    let late: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(1)))
        .build()
        .into();
    let res = late
        .post(format!("http://{events_addr}/event?name=late"))
        .send_empty();
    assert!(res.is_err(), "{res:?}");
}
