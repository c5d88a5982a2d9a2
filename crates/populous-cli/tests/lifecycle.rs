//! Volumes with a lifecycle: clones that expire, protection (with a lease),
//! and the reaper, once by `populous volume reap` and on its own in
//! `populous serve`, also after the daemon was killed with `kill -9`. Named
//! `loopdev_…`: root and a loop-mounted btrfs image pool.

use std::path::Path;
use std::time::{Duration, Instant};

mod common;

use common::{image_pool, json, ok, ok_all, run as populous};
use populous_testkit::Lab;
use serde_json::Value;

fn dev_volumes(h: &Path) -> Vec<String> {
    common::volume_names(h, "dev")
}

/// Waits (bounded) until `gone` is not in dev; polls, no fixed sleep decides.
fn reaped_by_daemon(h: &Path, gone: &str) {
    let t = Instant::now();
    // Done means audited too: a volume leaves the listing as its destroy
    // starts, and the reaper's audit entry comes once it is finished.
    let target = format!("dev/{gone}");
    while dev_volumes(h).iter().any(|v| v == gone)
        || !ok(h, &["audit"])
            .lines()
            .any(|l| l.contains("reaper") && l.contains(&target) && l.contains("expired"))
    {
        assert!(
            t.elapsed() < Duration::from_secs(60),
            "the daemon's reaper did not destroy dev/{gone} in 60 s"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn loopdev_expired_clones_are_reaped_protected_ones_stay() {
    let lab = Lab::new();
    let h = &image_pool(&lab, "512M", &[]);
    ok_all(
        h,
        &[
            &["folder", "create", "p/prod"],
            &["folder", "create", "p/dev", "--clone-from", "prod,dev"],
            &["volume", "create", "prod/db"],
        ],
    );
    let past = "2001-01-01T00:00:00Z";
    // a: expires in an hour (set with the clone, in one step).
    let a = json(h, &["clone", "prod/db", "dev/a", "--expires-in", "1h"]);
    let at = a["lifecycle"]["expires_at"].as_i64().expect("expiry");
    let now = populous_engine::now();
    assert!((now + 3590..=now + 3610).contains(&at), "{a}");
    // b: expired; c: expired but protected; d: expired, its snapshot has a clone.
    for v in ["b", "c", "d"] {
        ok(h, &["clone", "prod/db", &format!("dev/{v}")]);
        ok(h, &["volume", "expire", &format!("dev/{v}"), "--at", past]);
    }
    let p = json(h, &["volume", "protect", "dev/c"]);
    assert_eq!(p["changed"], true, "{p}");
    assert_eq!(p["protection"]["kind"], "forever", "{p}");
    ok(h, &["clone", "dev/d", "dev/e"]);

    // Bad input changes nothing.
    for (args, needle) in [
        (
            vec!["volume", "expire", "dev/a", "--in", "soon"],
            "is not a duration",
        ),
        (
            vec!["volume", "expire", "dev/a", "--at", "tomorrow"],
            "is not a time",
        ),
        (vec!["volume", "extend", "dev/e", "1h"], "never expires"),
        (
            vec!["volume", "expire", "dev/nope", "--never"],
            "does not exist",
        ),
    ] {
        let out = populous(h, &args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success() && err.contains(needle),
            "{args:?}: {err}"
        );
    }
    let same = json(h, &["volume", "inspect", "dev/a"]);
    assert_eq!(same["lifecycle"]["expires_at"].as_i64(), Some(at));
    let longer = json(h, &["volume", "extend", "dev/a", "1h"]);
    assert_eq!(longer["expires_at"].as_i64(), Some(at + 3600), "{longer}");

    // One pass: b goes; c is protected; d has a clone depending on it; a is not due.
    let reaped = json(h, &["volume", "reap"]);
    let by: Vec<(String, String)> = reaped
        .as_array()
        .expect("reaped")
        .iter()
        .map(|x| {
            (
                x["volume"].as_str().expect("volume").to_owned(),
                x["action"].as_str().expect("action").to_owned(),
            )
        })
        .collect();
    assert_eq!(
        by,
        [
            ("dev/b".to_owned(), "destroyed".to_owned()),
            ("dev/c".to_owned(), "kept_protected".to_owned()),
            ("dev/d".to_owned(), "kept".to_owned()),
        ],
        "{reaped}"
    );
    assert_eq!(dev_volumes(h), ["a", "c", "d", "e"]);
    // Idempotent: a second pass destroys nothing more.
    let again = json(h, &["volume", "reap"]);
    assert!(again
        .as_array()
        .expect("list")
        .iter()
        .all(|x| x["action"] != "destroyed"));

    // The daemon reaps on its own: c once unprotected.
    let config = lab.path().join("populous.toml");
    std::fs::write(&config, "listen = \"127.0.0.1:0\"\n").expect("config");
    let (mut daemon, _, _) = common::serve(h, &config);
    ok(h, &["volume", "unprotect", "dev/c"]);
    reaped_by_daemon(h, "c");
    // Killed with kill -9, the expiry is still in the store: the next daemon reaps it.
    daemon.kill().expect("kill -9");
    daemon.wait().expect("wait");
    ok(h, &["volume", "expire", "dev/a", "--at", past]);
    let report = json(h, &["check"]);
    assert_eq!(report["reconciled_ops"], 0, "{report}");
    let (mut daemon, _, _) = common::serve(h, &config);
    reaped_by_daemon(h, "a");
    // The audit log names the reaper.
    let audit = ok(h, &["audit"]);
    assert!(
        audit.contains("reaper") && audit.contains("dev/c") && audit.contains("dev/a"),
        "{audit}"
    );
    daemon.kill().expect("kill");
    daemon.wait().expect("wait");
    assert_eq!(dev_volumes(h), ["d", "e"]);
    let d: Value = json(h, &["volume", "inspect", "dev/d"]);
    assert_eq!(d["lifecycle"]["protection"]["kind"], "none", "{d}");
}
