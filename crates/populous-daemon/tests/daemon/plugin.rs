//! The Docker volume plugin protocol over a unix socket: every endpoint,
//! mount counts that survive a daemon restart, and garbage bodies.

use std::path::PathBuf;

use populous_engine::Engine;
use serde_json::{json, Value};

use crate::common::{call, err_text, named, plug, plugins_config, setup, Pool, Server};

/// Every endpoint of the protocol, its refusals, mount counting and remove semantics.
pub fn protocol_every_endpoint(pool: Pool) {
    let (lab, t) = setup(pool);
    let srv = Server::start(&lab.home(), plugins_config(&lab, &t));
    let sock = srv.sockets[0].clone();
    let other = srv.sockets[1].clone();

    assert_eq!(
        call(&sock, "Plugin.Activate", Value::Null)["Implements"][0],
        "VolumeDriver"
    );
    assert_eq!(
        plug(&sock, "Plugin.Activate", b"").0,
        200,
        "an empty body is fine"
    );
    assert_eq!(
        call(&sock, "VolumeDriver.Capabilities", json!({}))["Capabilities"]["Scope"],
        "local"
    );
    assert_eq!(
        call(&sock, "VolumeDriver.List", json!({}))["Volumes"],
        json!([])
    );

    // Create: empty, clone across folders (policy + token), help, refusals.
    assert_eq!(named(&sock, "VolumeDriver.Create", "a.dev")["Err"], "");
    let v = call(
        &sock,
        "VolumeDriver.Create",
        json!({"Name": "c.dev", "Opts": {"importVolAsClone": "prod/db", "destroyOnRm": "true"}}),
    );
    assert_eq!(v["Err"], "", "{v}");
    for (opts, needle) in [
        (json!({"help": ""}), "Populous volume options"),
        (json!({"perfPolicy": "x"}), "not supported"),
        (json!({"bogus": "1"}), "unknown option"),
        (
            json!({"importVolAsClone": "stage/x"}),
            "may not read folder stage",
        ),
        (json!({"folder": "prod"}), "locked to folder dev"),
        (json!({"cloneOf": "nope.dev"}), "does not exist"),
    ] {
        let v = call(
            &sock,
            "VolumeDriver.Create",
            json!({"Name": "z.dev", "Opts": opts}),
        );
        assert!(err_text(&v).contains(needle), "{opts}: {v}");
    }
    let v = named(&sock, "VolumeDriver.Create", "nosuffix");
    assert!(err_text(&v).contains("must end in \".dev\""), "{v}");
    let v = named(&sock, "VolumeDriver.Create", "../x.dev");
    assert!(err_text(&v).contains("invalid volume name"), "{v}");
    // Without a token, the same driver config cannot read prod.
    let v = call(
        &other,
        "VolumeDriver.Create",
        json!({"Name": "c2.dev", "Opts": {"importVolAsClone": "prod/db"}}),
    );
    assert!(err_text(&v).contains("may not read folder prod"), "{v}");
    // Create of an existing name is reuse.
    assert_eq!(named(&sock, "VolumeDriver.Create", "c.dev")["Err"], "");

    // Get, List, Path.
    let g = named(&sock, "VolumeDriver.Get", "c.dev");
    assert_eq!(g["Volume"]["Status"]["folder"], "dev");
    assert!(g["Volume"]["Status"]["origin"]
        .as_str()
        .expect("origin")
        .starts_with("prod/db@"));
    let mp = PathBuf::from(g["Volume"]["Mountpoint"].as_str().expect("mountpoint"));
    assert_eq!(
        std::fs::read_to_string(mp.join("hello")).expect("cloned data"),
        "prod data"
    );
    let names: Vec<String> = call(&sock, "VolumeDriver.List", json!({}))["Volumes"]
        .as_array()
        .expect("array")
        .iter()
        .map(|v| v["Name"].as_str().expect("name").to_owned())
        .collect();
    assert_eq!(names, ["a.dev", "c.dev"]);
    assert_eq!(
        named(&sock, "VolumeDriver.Path", "c.dev")["Mountpoint"],
        g["Volume"]["Mountpoint"]
    );

    // Mount counting per ID: the volume stays busy until the last unmount.
    for id in ["ctr1", "ctr2", "ctr1"] {
        let m = call(
            &sock,
            "VolumeDriver.Mount",
            json!({"Name": "c.dev", "ID": id}),
        );
        assert_eq!(m["Mountpoint"], g["Volume"]["Mountpoint"]);
    }
    assert_eq!(
        named(&sock, "VolumeDriver.Get", "c.dev")["Volume"]["Status"]["mounts"],
        2
    );
    let r = named(&sock, "VolumeDriver.Remove", "c.dev");
    assert!(err_text(&r).contains("mounted"), "{r}");
    call(
        &sock,
        "VolumeDriver.Unmount",
        json!({"Name": "c.dev", "ID": "ctr1"}),
    );
    assert_eq!(
        named(&sock, "VolumeDriver.Get", "c.dev")["Volume"]["Status"]["mounts"],
        1
    );
    call(
        &sock,
        "VolumeDriver.Unmount",
        json!({"Name": "c.dev", "ID": "ctr2"}),
    );

    // Remove: offline by default (kept, invisible), destroyed with destroyOnRm.
    assert_eq!(named(&sock, "VolumeDriver.Remove", "a.dev")["Err"], "");
    let g = named(&sock, "VolumeDriver.Get", "a.dev");
    assert!(err_text(&g).contains("no such volume"), "{g}");
    let e = Engine::open(&lab.home()).expect("engine");
    assert_eq!(
        e.volume_inspect(&"dev/a".parse().expect("ref"))
            .expect("kept")
            .state,
        populous_engine::VolumeState::Offline
    );
    assert_eq!(named(&sock, "VolumeDriver.Remove", "c.dev")["Err"], "");
    assert!(
        e.volume_inspect(&"dev/c".parse().expect("ref")).is_err(),
        "destroyOnRm destroyed it"
    );
    assert_eq!(
        named(&sock, "VolumeDriver.Remove", "c.dev")["Err"],
        "",
        "removing twice is fine"
    );
    // Create of an offline name brings it back.
    assert_eq!(named(&sock, "VolumeDriver.Create", "a.dev")["Err"], "");
    assert_eq!(named(&sock, "VolumeDriver.Get", "a.dev")["Err"], "");

    // Protocol errors: 4xx with Err, never a crash.
    let (s, v) = plug(&sock, "VolumeDriver.Create", b"{\"Name\": ");
    assert_eq!(s, 400);
    assert!(err_text(&v).contains("malformed"), "{v}");
    assert_eq!(plug(&sock, "VolumeDriver.Mount", b"[]").0, 400);
    assert_eq!(plug(&sock, "VolumeDriver.Nope", b"{}").0, 404);
    assert_eq!(
        plug(&sock, "VolumeDriver.Create", &vec![b' '; 10_000]).0,
        413
    );
    assert_eq!(
        call(&sock, "Plugin.Activate", json!({}))["Implements"][0],
        "VolumeDriver"
    );
}

/// A mount held when the daemon stops is still counted after it starts again.
pub fn mounts_survive_a_restart(pool: Pool) {
    let (lab, t) = setup(pool);
    let cfg = plugins_config(&lab, &t);
    let srv = Server::start(&lab.home(), cfg.clone());
    let sock = srv.sockets[0].clone();
    call(
        &sock,
        "VolumeDriver.Create",
        json!({"Name": "m.dev", "Opts": {"cloneOf": "nothing.dev"}}),
    );
    assert_eq!(named(&sock, "VolumeDriver.Create", "m.dev")["Err"], "");
    call(
        &sock,
        "VolumeDriver.Mount",
        json!({"Name": "m.dev", "ID": "running-container"}),
    );
    drop(srv);
    assert!(!sock.exists(), "a clean stop removes the socket");
    let srv = Server::start(&lab.home(), cfg);
    let sock = srv.sockets[0].clone();
    let g = named(&sock, "VolumeDriver.Get", "m.dev");
    assert_eq!(g["Volume"]["Status"]["mounts"], 1, "{g}");
    assert!(err_text(&named(&sock, "VolumeDriver.Remove", "m.dev")).contains("mounted"));
    call(
        &sock,
        "VolumeDriver.Unmount",
        json!({"Name": "m.dev", "ID": "running-container"}),
    );
    assert_eq!(named(&sock, "VolumeDriver.Remove", "m.dev")["Err"], "");
}

/// Whatever the body, every endpoint answers (no 5xx, no dropped connection).
pub fn never_fails_on_garbage(pool: Pool) {
    use proptest::prelude::*;
    let (lab, t) = setup(pool);
    let srv = Server::start(&lab.home(), plugins_config(&lab, &t));
    let sock = srv.sockets[0].clone();
    let eps = [
        "Plugin.Activate",
        "VolumeDriver.Create",
        "VolumeDriver.Remove",
        "VolumeDriver.Mount",
        "VolumeDriver.Unmount",
        "VolumeDriver.Path",
        "VolumeDriver.Get",
        "VolumeDriver.List",
    ];
    // Random bytes, and JSON-looking bodies with random names and options.
    let garbage = proptest::collection::vec(any::<u8>(), 0..300);
    let jsonish = ("\\PC{0,40}", "\\PC{0,20}", "\\PC{0,20}").prop_map(|(name, k, v)| {
        json!({"Name": name, "ID": k, "Opts": {k: v}})
            .to_string()
            .into_bytes()
    });
    let bodies = prop_oneof![garbage, jsonish];
    let mut runner = proptest::test_runner::TestRunner::new(proptest::test_runner::Config {
        cases: 200,
        ..Default::default()
    });
    runner
        .run(&(bodies, 0usize..eps.len()), |(body, which)| {
            let (s, _) = plug(&sock, eps[which], &body);
            prop_assert!(
                s < 500,
                "status {} for {:?}",
                s,
                String::from_utf8_lossy(&body)
            );
            Ok(())
        })
        .expect("no request makes the plugin fail");
    // Still serving normally afterwards.
    assert_eq!(
        call(&sock, "Plugin.Activate", json!({}))["Implements"][0],
        "VolumeDriver"
    );
}

/// Every endpoint reads its body before answering, so a client that writes
/// the head, flushes, then writes the body gets its answer every time; an
/// oversized body is a 413 with `Err`.
pub fn reads_bodies_written_apart(pool: Pool) {
    use std::io::{Read, Write};
    let (lab, t) = setup(pool);
    let srv = Server::start(&lab.home(), plugins_config(&lab, &t));
    let sock = srv.sockets[0].clone();
    for ep in [
        "Plugin.Activate",
        "VolumeDriver.Capabilities",
        "VolumeDriver.List",
        "VolumeDriver.Get",
        "VolumeDriver.Path",
        "VolumeDriver.Create",
        "VolumeDriver.Remove",
    ] {
        for attempt in 0..20 {
            let body = br#"{"Name": "split.dev"}"#;
            let mut s = std::os::unix::net::UnixStream::connect(&sock).expect("connect");
            let head = format!(
                "POST /{ep} HTTP/1.1\r\nHost: plugin\r\nConnection: close\r\nContent-Length: {}\r\n\r\n",
                body.len()
            );
            s.write_all(head.as_bytes()).expect("head");
            s.flush().expect("flush");
            // The server has the head alone now; yield so it can act on it
            // before the body arrives (which is what exposed the bug).
            std::thread::yield_now();
            s.write_all(body).expect("body after the head");
            let mut out = String::new();
            s.read_to_string(&mut out)
                .unwrap_or_else(|e| panic!("{ep} attempt {attempt}: {e}"));
            assert!(
                out.starts_with("HTTP/1.1 200"),
                "{ep} attempt {attempt}: {out}"
            );
        }
    }
    let (s, v) = plug(&sock, "VolumeDriver.Create", &vec![b' '; 10_000]);
    assert_eq!(s, 413, "{v}");
    assert!(err_text(&v).contains("length limit"), "{v}");
    let (s, v) = crate::common::exchange(
        std::os::unix::net::UnixStream::connect(&sock).expect("connect"),
        "GET",
        "/VolumeDriver.List",
        None,
        b"",
    );
    assert_eq!(s, 405, "{v}");
    assert!(err_text(&v).contains("POST"), "{v}");
}
