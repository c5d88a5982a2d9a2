//! `populous bench clones` end to end at tiny sizes: the JSON's shape and
//! counts, never its timings. Named `loopdev_mariadb_…`: root, a
//! loop-mounted btrfs pool and MariaDB.

use populous_testkit::Lab;
use serde_json::Value;

#[test]
fn loopdev_mariadb_bench_clones_small() {
    let lab = Lab::new();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_populous"))
        .args([
            "--json",
            "bench",
            "clones",
            "--origin-size",
            "32M",
            "--reset-small",
            "16M",
            "--max-clones",
            "3",
            "--rounds",
            "1",
            "--dir",
        ])
        .arg(lab.path())
        .env_remove("POPULOUS_FAULT")
        .output()
        .expect("run bench");
    let v: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("bench JSON: {e}: {}", String::from_utf8_lossy(&out.stderr)));
    // Timing targets may be missed on a busy machine: a missed one is
    // named and makes the exit non-zero, nothing else does.
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
    let d = &v["density"];
    assert_eq!(d["started"], 3, "{v}");
    assert_eq!(d["answered"], 3, "{v}");
    assert!(d["failure"].is_null(), "{v}");
    assert_eq!(d["servers_measured"], 3, "{v}");
    assert_eq!(
        d["clone_to_first_query_ms"].as_array().map(Vec::len),
        Some(3)
    );
    let rss = d["rss_total_bytes"].as_u64().expect("rss");
    assert!(rss > 0, "{v}");
    assert_eq!(d["rss_per_clone_bytes"].as_u64(), Some(rss / 3));
    assert!(d["mem_available_before_bytes"].as_u64() > Some(0));
    for k in ["first_ms", "median_ms", "last_ms"] {
        assert!(d[k].as_f64().is_some_and(|x| x > 0.0), "{k}: {v}");
    }
    let r = &v["reset"];
    for k in [
        "reset_small_rounds_ms",
        "reset_large_rounds_ms",
        "rebuild_rounds_ms",
    ] {
        assert_eq!(r[k].as_array().map(Vec::len), Some(1), "{k}: {v}");
    }
    for k in ["large_over_small", "rebuild_over_reset"] {
        assert!(r[k].as_f64().is_some_and(|x| x > 0.0), "{k}: {v}");
    }
    let c = &v["cold"];
    assert_eq!(c["cold_rounds_ms"].as_array().map(Vec::len), Some(1));
    assert_eq!(
        c["dump_restore_rounds_ms"].as_array().map(Vec::len),
        Some(1)
    );
    assert!(c["rows"].as_u64() > Some(0), "{v}");
    assert!(c["dump_over_cold"].as_f64().is_some_and(|x| x > 0.0));
    // A warm clone was taken in every round.
    assert_eq!(c["warm_rounds_ms"].as_array().map(Vec::len), Some(1));
    assert!(c["cold_over_warm"].as_f64().is_some_and(|x| x > 0.0));
    assert_eq!(v["warm"]["median"], c["warm_ms"]["median"], "{v}");
    let targets = v["targets"].as_array().expect("targets");
    assert_eq!(targets.len(), 4);
    for t in targets.iter().filter(|t| t["met"] == false) {
        let name = t["name"].as_str().expect("name");
        assert!(missed
            .iter()
            .any(|m| m.as_str().is_some_and(|m| m.contains(name))));
    }
    assert!(lab.mounts().is_empty(), "the bench unmounted its pool");
    let left = std::process::Command::new("pgrep")
        .args(["-f", &lab.path().display().to_string()])
        .output()
        .expect("pgrep");
    assert!(
        left.stdout.is_empty(),
        "no server of the bench is left running"
    );
}
