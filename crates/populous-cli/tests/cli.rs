//! The `populous` binary as scripts use it: exit codes, JSON, help, crash
//! safety under `kill -9` at every step, and concurrent processes.
//!
//! Tests that need root and loop devices are named `loopdev_…`.

use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::Command;

mod common;

use common::{image_pool, json, ok, ok_all, populous, run};
use populous_testkit::{has_pattern, write_pattern, Lab};
use serde_json::Value;

/// Runs a command that must fail with `code` and a message containing `needle`.
fn fails(home: &Path, args: &[&str], code: i32, needle: &str) {
    let out = run(home, args);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "populous {args:?}: {err}");
    assert!(
        err.contains(needle),
        "populous {args:?}: {err:?} lacks {needle:?}"
    );
}

fn consistent(home: &Path) {
    let report = json(home, &["check"]);
    assert_eq!(report["orphans"], Value::Array(vec![]), "{report}");
    assert_eq!(report["missing"], Value::Array(vec![]), "{report}");
}

/// Pool p (512M image), folders prod and dev, and prod/db holding 1 MiB of pattern 5.
fn setup(lab: &Lab) -> std::path::PathBuf {
    setup_with(lab, &[], 1 << 20)
}

/// [`setup`] with pool options `extra` and `len` bytes in prod/db.
fn setup_with(lab: &Lab, extra: &[&str], len: usize) -> std::path::PathBuf {
    let home = image_pool(lab, "512M", extra);
    ok_all(
        &home,
        &[
            &["folder", "create", "p/prod", "--import-from", "dev"],
            &["folder", "create", "p/dev", "--clone-from", "prod"],
            &["volume", "create", "prod/db"],
        ],
    );
    let path = ok(&home, &["volume", "path", "prod/db"]);
    write_pattern(&Path::new(path.trim()).join("data"), len, 5);
    home
}

#[test]
fn help_teaches_with_examples() {
    let out = Command::new(env!("CARGO_BIN_EXE_populous"))
        .arg("--help")
        .output()
        .expect("run");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    for needle in [
        "populous clone prod/db",
        "--home",
        "--json",
        "pool",
        "snapshot",
    ] {
        assert!(text.contains(needle), "--help lacks {needle:?}");
    }
    let out = Command::new(env!("CARGO_BIN_EXE_populous"))
        .args(["clone", "--help"])
        .output()
        .expect("run");
    assert!(String::from_utf8_lossy(&out.stdout).contains("auto-"));
}

#[test]
fn bad_names_are_refused_before_anything_happens() {
    let home = tempfile::tempdir().expect("tempdir");
    for (args, needle) in [
        (vec!["volume", "create", "../etc/x"], "invalid folder name"),
        (vec!["volume", "create", "dev/.."], "invalid volume name"),
        (vec!["volume", "create", "dev/a/b"], "invalid volume name"),
        (vec!["volume", "path", "dev"], "expected FOLDER/VOLUME"),
        (
            vec!["snapshot", "create", "dev/x@../../y"],
            "invalid snapshot name",
        ),
        (vec!["clone", "prod/db", "dev/-rf"], "invalid volume name"),
        (vec!["folder", "create", "p/a b"], "invalid folder name"),
        (
            vec!["pool", "create", "x/y", "--path", "/"],
            "invalid pool name",
        ),
        (
            vec!["volume", "create", "dev/x", "--size", "3 furlongs"],
            "invalid size",
        ),
    ] {
        fails(home.path(), &args, 3, needle);
    }
    let out = run(home.path(), &["--json", "volume", "inspect", "nope/x"]);
    assert_eq!(out.status.code(), Some(4));
    let err: Value = serde_json::from_slice(&out.stderr).expect("JSON error on stderr");
    assert_eq!(err["error"]["kind"], "not_found");
    assert!(err["error"]["message"]
        .as_str()
        .expect("message")
        .contains("folder nope"));
}

#[test]
fn loopdev_contract_commands_and_exit_codes() {
    let lab = Lab::new();
    let home = setup(&lab);
    let h = home.as_path();
    fails(h, &["volume", "create", "prod/db"], 5, "already exists");
    fails(h, &["volume", "inspect", "prod/nope"], 4, "does not exist");
    fails(
        h,
        &["volume", "import", "prod/db", "--to", "dev"],
        6,
        "offline",
    );
    ok(h, &["snapshot", "create", "prod/db@s1"]);
    fails(
        h,
        &["volume", "rm", "prod/db", "--destroy"],
        7,
        "prod/db@s1",
    );
    fails(h, &["folder", "rm", "prod"], 7, "db");
    ok(h, &["folder", "policy", "dev", "--clone-from", "stage"]);
    fails(
        h,
        &["clone", "prod/db@s1", "dev/c"],
        8,
        "may not clone from folder prod",
    );
    ok(h, &["folder", "policy", "dev", "--clone-from", "prod"]);

    let c = json(h, &["clone", "prod/db@s1", "dev/c"]);
    assert_eq!(c["origin"], "prod/db@s1");
    assert_eq!(c["state"], "online");
    let p = ok(h, &["volume", "path", "dev/c"]);
    assert!(has_pattern(&Path::new(p.trim()).join("data"), 1 << 20, 5));
    let snaps = json(h, &["snapshot", "ls", "prod/db"]);
    assert_eq!(snaps[0]["clones"][0], "dev/c");

    // Offline is idempotent, with `changed` telling a retry apart.
    assert_eq!(json(h, &["volume", "rm", "dev/c"])["changed"], true);
    assert_eq!(json(h, &["volume", "offline", "dev/c"])["changed"], false);
    fails(h, &["volume", "path", "dev/c"], 6, "volume online dev/c");
    let ls = json(h, &["volume", "ls", "dev"]);
    assert_eq!(
        ls.as_array().expect("array").len(),
        0,
        "offline volumes are hidden without --all"
    );
    let ls = json(h, &["volume", "ls", "dev", "--all"]);
    assert_eq!(ls[0]["state"], "offline");

    // A mount recorded for a consumer that is gone keeps a volume busy until released.
    ok(h, &["volume", "online", "dev/c"]);
    let mut e = populous_engine::Engine::open(h).expect("engine");
    e.mount_add(&"dev/c".parse().expect("ref"), "dead-container")
        .expect("mount");
    drop(e);
    fails(h, &["volume", "offline", "dev/c"], 6, "dead-container");
    assert_eq!(json(h, &["volume", "release", "dev/c"])["released"], 1);
    assert_eq!(json(h, &["volume", "release", "dev/c"])["changed"], false);
    ok(h, &["volume", "offline", "dev/c"]);

    ok(h, &["folder", "create", "p/stage", "--import-from", "dev"]);
    let v = json(h, &["volume", "import", "dev/c", "--to", "stage"]);
    assert_eq!(
        (v["folder"].as_str(), v["state"].as_str()),
        (Some("stage"), Some("online"))
    );
    let inspect = ok(h, &["volume", "inspect", "stage/c"]);
    assert!(inspect.contains("prod/db@s1"), "{inspect}");
    ok(h, &["volume", "rm", "stage/c", "--destroy"]);
    ok(h, &["snapshot", "rm", "prod/db@s1"]);
    ok(h, &["volume", "rm", "prod/db", "--destroy"]);
    for f in ["prod", "dev", "stage"] {
        ok(h, &["folder", "rm", f]);
    }
    let pools = json(h, &["pool", "ls"]);
    assert_eq!(pools[0]["backend"], "btrfs");
    ok(h, &["pool", "rm", "p"]);
    assert!(lab.mounts().is_empty());
}

#[test]
fn loopdev_missing_mkfs_names_the_package() {
    let lab = Lab::new();
    let empty = lab.path().join("empty-bin");
    std::fs::create_dir(&empty).expect("mkdir");
    let img = lab.path().join("x.img");
    let out = populous(&lab.home())
        .env("PATH", &empty)
        .args([
            "pool",
            "create",
            "x",
            "--image",
            img.to_str().expect("utf-8"),
            "--size",
            "512M",
        ])
        .output()
        .expect("run");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(12), "{err}");
    assert!(err.contains("apt-get install btrfs-progs"), "{err}");
    assert!(!img.exists(), "a failed create leaves nothing behind");
    assert!(lab.mounts().is_empty());
}

/// Each fault point, the command that reaches it, and whether the object exists afterwards
/// (rolled back: false; rolled forward: the destroy completes, also false).
const CRASHES: &[(&str, &[&str], &str)] = &[
    (
        "volume_create.after_intent",
        &["volume", "create", "dev/new"],
        "dev/new",
    ),
    (
        "volume_create.after_fs",
        &["volume", "create", "dev/new"],
        "dev/new",
    ),
    (
        "snapshot_create.after_intent",
        &["snapshot", "create", "prod/db@snap"],
        "prod/db@snap",
    ),
    (
        "snapshot_create.after_fs",
        &["snapshot", "create", "prod/db@snap"],
        "prod/db@snap",
    ),
    (
        "clone.after_intent",
        &["clone", "prod/db", "dev/clone"],
        "dev/clone",
    ),
    (
        "clone.after_snapshot",
        &["clone", "prod/db", "dev/clone"],
        "dev/clone",
    ),
    (
        "clone.after_fs",
        &["clone", "prod/db", "dev/clone"],
        "dev/clone",
    ),
    (
        "clone.after_fs",
        &["clone", "prod/db@keep", "dev/clone"],
        "dev/clone",
    ),
    (
        "volume_destroy.after_intent",
        &["volume", "rm", "dev/victim", "--destroy"],
        "dev/victim",
    ),
    (
        "volume_destroy.after_fs",
        &["volume", "rm", "dev/victim", "--destroy"],
        "dev/victim",
    ),
    (
        "snapshot_destroy.after_intent",
        &["snapshot", "rm", "prod/db@gone"],
        "prod/db@gone",
    ),
    (
        "snapshot_destroy.after_fs",
        &["snapshot", "rm", "prod/db@gone"],
        "prod/db@gone",
    ),
    (
        "import.before_commit",
        &["volume", "import", "dev/off", "--to", "prod"],
        "prod/off",
    ),
];

fn exists(home: &Path, object: &str) -> bool {
    let args: Vec<&str> = if let Some((vol, _)) = object.split_once('@') {
        vec!["--json", "snapshot", "ls", vol]
    } else {
        vec!["--json", "volume", "inspect", object]
    };
    let out = run(home, &args);
    if let Some((_, snap)) = object.split_once('@') {
        let v: Value = serde_json::from_slice(&out.stdout).expect("snapshot ls JSON");
        v.as_array()
            .expect("array")
            .iter()
            .any(|s| s["name"] == snap)
    } else {
        out.status.success()
    }
}

fn check_crash_at(fs: &str, point: &str, args: &[&str], object: &str) {
    let lab = Lab::new();
    let home = setup_with(&lab, &["--fs", fs], 8 << 20);
    let h = home.as_path();
    ok_all(
        h,
        &[
            &["snapshot", "create", "prod/db@keep"],
            &["snapshot", "create", "prod/db@gone"],
            &["clone", "prod/db@keep", "dev/victim"],
            &["volume", "create", "dev/off"],
            &["volume", "offline", "dev/off"],
        ],
    );

    let out = populous(h)
        .env("POPULOUS_FAULT", point)
        .args(args)
        .output()
        .expect("run");
    assert_eq!(
        out.status.signal(),
        Some(9),
        "{point}: not killed: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    // The next command reconciles: metadata and filesystem agree, nothing half-made is visible.
    consistent(h);
    let destroy = point.contains("destroy");
    let import = point.starts_with("import");
    assert!(!exists(h, object), "{point}: {object} after the crash");
    if import {
        assert!(
            exists(h, "dev/off"),
            "{point}: the volume is still where it was"
        );
    }
    if destroy {
        assert!(
            exists(h, "prod/db@keep"),
            "{point}: unrelated objects survive"
        );
    } else {
        // The interrupted command can simply be run again.
        ok(h, args);
        assert!(exists(h, object), "{point}: retry made {object}");
    }
    // Nothing was lost: the source and its data are intact.
    let path = ok(h, &["volume", "path", "prod/db"]);
    assert!(
        has_pattern(&Path::new(path.trim()).join("data"), 8 << 20, 5),
        "{point}"
    );
    consistent(h);
}

#[test]
fn loopdev_kill9_at_every_step_btrfs() {
    for (point, args, object) in CRASHES {
        check_crash_at("btrfs", point, args, object);
    }
}

#[test]
fn loopdev_kill9_at_every_step_xfs() {
    for (point, args, object) in CRASHES {
        check_crash_at("xfs", point, args, object);
    }
}

/// A refresh's swap killed before or after its commit: the name always has
/// one whole volume (the old generation or the new), and nothing is left over.
#[test]
fn loopdev_kill9_during_rename_replace() {
    for (point, swapped) in [
        ("rename.before_commit", false),
        ("rename.after_commit", true),
    ] {
        let lab = Lab::new();
        let h = image_pool(&lab, "512M", &[]);
        let h = h.as_path();
        ok(h, &["folder", "create", "p/golden"]);
        for (vol, pattern) in [("db", 1), ("db-next", 2)] {
            ok(h, &["volume", "create", &format!("golden/{vol}")]);
            let path = ok(h, &["volume", "path", &format!("golden/{vol}")]);
            write_pattern(&Path::new(path.trim()).join("data"), 4 << 20, pattern);
        }
        ok(h, &["snapshot", "create", "golden/db@s"]);
        let args = ["volume", "rename", "golden/db-next", "db", "--replace"];
        let out = populous(h)
            .env("POPULOUS_FAULT", point)
            .args(args)
            .output()
            .expect("run");
        assert_eq!(out.status.signal(), Some(9), "{point}: not killed");
        consistent(h);
        let path = ok(h, &["volume", "path", "golden/db"]);
        let pattern = if swapped { 2 } else { 1 };
        assert!(
            has_pattern(&Path::new(path.trim()).join("data"), 4 << 20, pattern),
            "{point}: golden/db holds generation {pattern}"
        );
        assert_eq!(exists(h, "golden/db-next"), !swapped, "{point}");
        if !swapped {
            // The interrupted swap is simply run again.
            let v = json(
                h,
                &["volume", "rename", "golden/db-next", "db", "--replace"],
            );
            assert_eq!(v["changed"], true, "{point}: {v}");
            assert_eq!(v["replaced"], "golden/db", "{point}: {v}");
        }
        let all = json(h, &["volume", "ls", "golden", "--all"]);
        assert_eq!(all.as_array().map(Vec::len), Some(1), "{point}: {all}");
        assert!(
            !exists(h, "golden/db@s"),
            "{point}: the old snapshots went too"
        );
        consistent(h);
    }
}

#[test]
fn loopdev_kill9_during_pool_create_leaves_nothing() {
    for point in [
        "pool_create.after_intent",
        "pool_create.after_mkfs",
        "pool_create.after_mount",
    ] {
        let lab = Lab::new();
        let h = lab.home();
        let img = lab.path().join("pool.img");
        let create = [
            "pool",
            "create",
            "p",
            "--image",
            img.to_str().expect("utf-8"),
            "--size",
            "512M",
        ];
        let out = populous(&h)
            .env("POPULOUS_FAULT", point)
            .args(create)
            .output()
            .expect("run");
        assert_eq!(out.status.signal(), Some(9), "{point}");
        consistent(&h);
        assert!(!img.exists(), "{point}: the half-made image is gone");
        assert!(lab.mounts().is_empty(), "{point}: nothing stays mounted");
        assert_eq!(json(&h, &["pool", "ls"]), Value::Array(vec![]));
        ok(&h, &create);
        ok(&h, &["pool", "rm", "p"]);
    }
}

#[test]
fn loopdev_concurrent_processes_do_not_corrupt_each_other() {
    let lab = Lab::new();
    let home = setup(&lab);
    ok(&home, &["snapshot", "create", "prod/db@base"]);
    // Eight distinct clones and four racing for one name, all at once.
    let mut children = Vec::new();
    for i in 0..8 {
        children.push((
            true,
            populous(&home)
                .args(["clone", "prod/db@base", &format!("dev/c{i}")])
                .spawn()
                .expect("spawn"),
        ));
    }
    for _ in 0..4 {
        children.push((
            false,
            populous(&home)
                .args(["clone", "prod/db", "dev/same"])
                .spawn()
                .expect("spawn"),
        ));
    }
    let mut same_ok = 0;
    for (distinct, mut child) in children {
        let status = child.wait().expect("wait");
        if distinct {
            assert!(status.success(), "a distinct clone failed");
        } else if status.success() {
            same_ok += 1;
        } else {
            assert_eq!(status.code(), Some(5), "the losers get 'already exists'");
        }
    }
    assert_eq!(same_ok, 1, "exactly one process wins the name");
    let ls = json(&home, &["volume", "ls", "dev"]);
    assert_eq!(ls.as_array().expect("array").len(), 9);
    consistent(&home);
}

#[test]
fn loopdev_bench_clone_reports_ratios() {
    let lab = Lab::new();
    let out = Command::new(env!("CARGO_BIN_EXE_populous"))
        .args([
            "--json",
            "bench",
            "clone",
            "--sizes",
            "8M,32M",
            "--runs",
            "2",
            "--clones",
            "5",
            "--snapshots",
            "12",
        ])
        .arg("--dir")
        .arg(lab.path())
        .output()
        .expect("run bench");
    // At these sizes a full copy takes a few times a clone: the copy/clone
    // target is missed, and a missed target is named and exits non-zero.
    let v: Value = serde_json::from_slice(&out.stdout).expect("bench JSON");
    let missed = v["missed"].as_array().expect("missed");
    assert_eq!(
        out.status.success(),
        missed.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    if !missed.is_empty() {
        assert!(String::from_utf8_lossy(&out.stderr).contains("target missed"));
    }
    let results = v["filesystems"].as_array().expect("array");
    assert_eq!(results.len(), 2, "btrfs and xfs");
    for r in results {
        assert!(r["large_over_small"].as_f64().expect("ratio") > 0.0);
        assert!(r["copy_over_clone"].as_f64().expect("ratio") > 0.0);
        let sizes = r["sizes"].as_array().expect("sizes");
        assert_eq!(sizes.len(), 2);
        // The baseline is repeated like the clones, every round.
        for s in sizes {
            assert_eq!(s["copy_ms"].as_array().expect("copies").len(), 2);
            assert!(s["copy"]["min"].as_f64() <= s["copy"]["max"].as_f64());
        }
        let targets = r["targets"].as_array().expect("targets");
        assert!(targets.iter().any(|t| t["name"] == "constant time"));
        for t in targets.iter().filter(|t| t["met"] == false) {
            assert!(missed.iter().any(|m| m
                .as_str()
                .is_some_and(|m| m.contains(t["name"].as_str().unwrap_or("?")))));
        }
    }
    assert_eq!(results[0]["density"]["clones"], 5);
    assert!(lab.mounts().is_empty(), "the bench unmounted its pools");
}

#[test]
fn loopdev_bench_daemon_reports_figures() {
    let lab = Lab::new();
    let out = Command::new(env!("CARGO_BIN_EXE_populous"))
        .args([
            "--json",
            "bench",
            "daemon",
            "--sizes",
            "8M,32M",
            "--runs",
            "2",
            "--volumes",
            "20",
        ])
        .arg("--dir")
        .arg(lab.path())
        .output()
        .expect("run bench");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).expect("bench JSON");
    for key in [
        "plugin_clone_small_ms",
        "plugin_clone_large_ms",
        "api_clone_ms",
        "api_list_ms",
    ] {
        assert!(v[key].as_f64().expect(key) > 0.0, "{key}: {v}");
    }
    assert!(v["rss_idle_start_kib"].as_u64().expect("rss") > 0);
    assert_eq!(v["volumes_present"], 26);
    assert!(lab.mounts().is_empty(), "the bench unmounted its pool");
}
