//! A masked volume holds no original value anywhere in its files.
//!
//! Known values are planted in prod's table: live rows (masked later), rows
//! updated away (their old versions in the undo log and in pages) and rows
//! deleted (their records left in pages). Prod stops with a fast shutdown, as
//! a crash-consistent clone would find it. After `populous mask` on a clone,
//! `grep` (not Populous's own scan) finds none of the planted values in any
//! file of the volume, nor of a clone of it. A volume whose files keep
//! originals (here a file left in the datadir) fails its scan, names the file
//! and stays unmasked, and a `--require-masked` folder refuses it. Named
//! `loopdev_mariadb_…`: root, loop devices and MariaDB.

use std::path::Path;
use std::process::Command;

mod common;

use common::{image_pool, json, ok, ok_all, run as populous, sql, Servers};
use populous_testkit::Lab;

const RULES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../examples/populous/masking.yml"
);

/// Every planted value that `grep -r -a -F` finds under `dir`.
fn planted_in(dir: &Path, planted: &[String], lab: &Lab) -> Vec<String> {
    let list = lab.path().join("planted.txt");
    std::fs::write(&list, planted.join("\n") + "\n").expect("write list");
    let out = Command::new("grep")
        .args(["-r", "-a", "-F", "-o", "-f"])
        .arg(&list)
        .arg(dir)
        .output()
        .expect("grep");
    // grep: 0 found, 1 found nothing, anything else is an error.
    assert!(
        matches!(out.status.code(), Some(0 | 1)),
        "grep failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut found: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(String::from)
        .collect();
    found.sort();
    found.dedup();
    found
}

#[test]
fn loopdev_mariadb_masked_volume_holds_no_planted_original() {
    let lab = Lab::new();
    let h = &image_pool(&lab, "2G", &[]);
    ok_all(
        h,
        &[
            &["folder", "create", "p/prod"],
            &["folder", "create", "p/golden", "--clone-from", "prod"],
            &[
                "folder",
                "create",
                "p/dev",
                "--clone-from",
                "golden",
                "--require-masked",
            ],
            &["volume", "create", "prod/db"],
        ],
    );
    let key = lab.path().join("mask.key");
    std::fs::write(&key, "0123456789abcdef0123456789abcdef").expect("key");
    let key = key.to_str().expect("utf-8");
    let mut servers = Servers {
        home: h.to_path_buf(),
        volumes: Vec::new(),
    };
    let prod = servers.start("prod/db");
    let sock = prod["socket"].as_str().expect("socket").to_owned();
    ok(
        h,
        &[
            "generate",
            "--volume",
            "prod/db",
            "--rows",
            "300",
            "--blob-size",
            "64K",
        ],
    );

    // Plant: 40 live rows, 10 of them later updated to other values, and 10
    // rows deleted. Every value is one nobody else has.
    let email = |tag: &str, i: usize| format!("planted-{tag}-{i:03}@canary.example");
    let guid = |tag: u8, i: usize| format!("c0ffee{tag:02x}-0000-4000-8000-{i:012}");
    let mut planted = Vec::new();
    for i in 0..50 {
        let (e, g) = (email("live", i), guid(1, i));
        sql(&sock, &format!("INSERT INTO main (guid, pid, street, zip, city, email, name, imprint) VALUES ('{g}', {i}, 'Canary Lane', '00000', 'Canary City', '{e}', 'Canary Person', REPEAT('i', 65536))"));
        planted.extend([e, g]);
    }
    for i in 0..10 {
        let (e, g) = (email("newer", i), guid(2, i));
        sql(
            &sock,
            &format!(
                "UPDATE main SET email = '{e}', guid = '{g}' WHERE email = '{}'",
                email("live", i)
            ),
        );
        planted.extend([e, g]);
    }
    sql(
        &sock,
        "DELETE FROM main WHERE email LIKE 'planted-live-04%@canary.example'",
    );
    // Prod's own files hold them all (the test can see what it looks for).
    assert!(!planted_in(&prod_dir(h), &planted, &lab).is_empty());
    ok(h, &["db", "stop", "prod/db"]);

    // Mask a clone: nothing planted is left in any file.
    ok(h, &["clone", "prod/db", "golden/db"]);
    let masked = json(
        h,
        &["mask", "golden/db", "--rules", RULES, "--key-file", key],
    );
    assert_eq!(masked["changed"], true, "{masked}");
    assert_eq!(masked["scan"]["found"], 0, "{masked}");
    assert!(masked["scan"]["sampled"].as_u64().expect("sampled") > 0);
    let golden = volume_dir(h, "golden/db");
    assert_eq!(
        planted_in(&golden, &planted, &lab),
        Vec::<String>::new(),
        "planted originals left in golden/db's files"
    );
    let inspect = json(h, &["volume", "inspect", "golden/db"]);
    assert_eq!(inspect["provenance"]["scan"]["found"], 0, "{inspect}");

    // A clone of the masked volume: dev accepts it (masked and scanned), and
    // its files hold nothing either.
    ok(h, &["clone", "golden/db", "dev/c1"]);
    assert_eq!(
        planted_in(&volume_dir(h, "dev/c1"), &planted, &lab),
        Vec::<String>::new()
    );
    // And the scrubbed datadir serves: every row is there, masked.
    let dev = servers.start("dev/c1");
    let dev_sock = dev["socket"].as_str().expect("socket");
    assert_eq!(sql(dev_sock, "SELECT COUNT(*) FROM main"), "340");
    assert_eq!(
        sql(
            dev_sock,
            "SELECT COUNT(*) FROM main WHERE email LIKE '%canary.example'"
        ),
        "0"
    );
    ok(h, &["db", "stop", "dev/c1"]);

    // A server running on the volume is stopped for the scan and comes back.
    ok(h, &["clone", "prod/db", "golden/live"]);
    servers.start("golden/live");
    let masked = json(
        h,
        &["mask", "golden/live", "--rules", RULES, "--key-file", key],
    );
    assert_eq!(masked["scan"]["found"], 0, "{masked}");
    let running = json(h, &["db", "ls"]);
    let live = running
        .as_array()
        .expect("array")
        .iter()
        .find(|d| d["volume"] == "golden/live")
        .expect("golden/live is listed");
    assert_eq!(live["running"], true, "{live}");
    let socket = live["instance"]["socket"].as_str().expect("socket");
    assert_eq!(
        sql(
            socket,
            "SELECT COUNT(*) FROM main WHERE email LIKE '%canary.example'"
        ),
        "0"
    );

    // A file the scrub knows nothing about keeps originals: the scan finds
    // them, names the file, and the volume stays unmasked and refused.
    ok(h, &["clone", "prod/db", "golden/leaky"]);
    let leaky = volume_dir(h, "golden/leaky");
    let started = servers.start("golden/leaky");
    let emails = sql(
        started["socket"].as_str().expect("socket"),
        "SELECT email FROM main",
    );
    ok(h, &["db", "stop", "golden/leaky"]);
    std::fs::write(leaky.join("notes.txt"), emails).expect("plant a file");
    let out = populous(
        h,
        &["mask", "golden/leaky", "--rules", RULES, "--key-file", key],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("notes.txt") && stderr.contains("not masked"),
        "{stderr}"
    );
    let inspect = json(h, &["volume", "inspect", "golden/leaky"]);
    assert_eq!(inspect["provenance"]["masked"], false, "{inspect}");
    assert!(inspect["provenance"]["scan"]["found"].as_u64() > Some(0));
    // `mask verify --scan` sees the same file from the source's side.
    let out = populous(
        h,
        &[
            "mask",
            "verify",
            "golden/leaky",
            "--rules",
            RULES,
            "--key-file",
            key,
            "--scan",
        ],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("notes.txt"), "{stdout}");
    let out = populous(h, &["clone", "golden/leaky", "dev/c2"]);
    assert_eq!(
        out.status.code(),
        Some(8),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn volume_dir(home: &Path, volume: &str) -> std::path::PathBuf {
    ok(home, &["volume", "path", volume]).trim().into()
}

fn prod_dir(home: &Path) -> std::path::PathBuf {
    volume_dir(home, "prod/db")
}

/// A masking that cannot fit in its pool stops before it masks anything,
/// with `no_space` (exit 9) naming the pool, instead of InnoDB dying of
/// error 28 halfway; with room, the same masking of a twin clone runs. The
/// pool is really filled (a file in it), not told it is full.
#[test]
fn loopdev_mariadb_mask_that_cannot_fit_is_no_space() {
    let lab = Lab::new();
    let h = &image_pool(&lab, "1G", &[]);
    ok_all(
        h,
        &[
            &["folder", "create", "p/prod"],
            &["folder", "create", "p/golden", "--clone-from", "prod"],
            &["volume", "create", "prod/db"],
        ],
    );
    let key = lab.path().join("mask.key");
    std::fs::write(&key, "0123456789abcdef0123456789abcdef").expect("key");
    let key = key.to_str().expect("utf-8");
    let mut servers = Servers {
        home: h.to_path_buf(),
        volumes: Vec::new(),
    };
    servers.start("prod/db");
    ok(
        h,
        &[
            "generate",
            "--volume",
            "prod/db",
            "--rows",
            "200",
            "--blob-size",
            "4K",
        ],
    );
    ok(h, &["db", "stop", "prod/db"]);
    ok(h, &["clone", "prod/db", "golden/db"]);
    ok(h, &["clone", "prod/db", "golden/twin"]);
    let mask = |volume| ["mask", volume, "--rules", RULES, "--key-file", key];
    // With room, the check lets it through.
    let masked = json(h, &mask("golden/twin"));
    assert_eq!(masked["scan"]["found"], 0, "{masked}");

    // Leave 32 MiB: less than the fresh redo log alone needs.
    let dir = volume_dir(h, "golden/db");
    let root = dir.ancestors().nth(3).expect("pool root").to_path_buf();
    let pools = json(h, &["pool", "ls"]);
    let free = pools[0]["free_bytes"].as_u64().expect("free_bytes");
    let filler = root.join("filler");
    let status = Command::new("fallocate")
        .arg("-l")
        .arg((free - (32 << 20)).to_string())
        .arg(&filler)
        .status()
        .expect("fallocate");
    assert!(status.success());
    sync(&root);

    let mut args = vec!["--json"];
    args.extend(mask("golden/db"));
    let out = populous(h, &args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(9), "{stderr}");
    assert!(
        stderr.contains("no_space")
            && stderr.contains("pool p")
            && stderr.contains("nothing was masked"),
        "{stderr}"
    );
    let inspect = json(h, &["volume", "inspect", "golden/db"]);
    assert_eq!(inspect["provenance"]["masked"], false, "{inspect}");
    assert!(
        json(h, &["db", "ls"]).as_array().is_some_and(Vec::is_empty),
        "the server started for the masking is stopped"
    );
}

/// Commits the filesystem's transaction, so that its free space is current
/// (btrfs returns a deleted file's extents at the commit).
fn sync(dir: &Path) {
    let status = Command::new("sync")
        .arg("-f")
        .arg(dir)
        .status()
        .expect("sync");
    assert!(status.success());
}
