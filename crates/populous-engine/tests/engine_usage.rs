//! Volume usage and the privacy of volume data, on every tier: an inspect
//! reads the store and walks nothing, a usage measurement walks the tree,
//! and other local users can neither list a pool's volumes nor read a new
//! volume's files.

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use common::{s, v, Pool};
use populous_engine::engine::{DATA_SUBDIR_MODE, DEFAULT_VOLUME_MODE};
use populous_engine::{CloneSource, Consistency, VolumeOptions};
use populous_testkit::write_pattern;

tiered!(check_inspect_reads_the_store_usage_walks: inspect_reads_the_store_usage_walks,
    loopdev_inspect_reads_the_store_usage_walks_btrfs,
    loopdev_inspect_reads_the_store_usage_walks_xfs);
tiered!(check_volume_data_is_private: volume_data_is_private,
    loopdev_volume_data_is_private_btrfs,
    loopdev_volume_data_is_private_xfs);

/// When root: a runner of `cmd path` as `nobody` (65534), telling whether it succeeded.
fn as_nobody() -> Option<impl Fn(&str, &Path) -> bool> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return None;
    }
    Some(|cmd: &str, path: &Path| {
        std::process::Command::new("setpriv")
            .args(["--reuid=65534", "--regid=65534", "--clear-groups", cmd])
            .arg(path)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .expect("setpriv")
            .success()
    })
}

fn mode(p: &Path) -> u32 {
    fs::metadata(p).expect("stat").permissions().mode() & 0o7777
}

/// `volume_inspect` leaves `used_bytes` unmeasured however much data there
/// is; `volume_usage` walks it (hard links once), for the same path inspect
/// shows; `volume_inspect_measured` is the two together.
fn check_inspect_reads_the_store_usage_walks(p: &mut Pool) {
    let e = &mut p.e;
    let r = v("prod/db");
    let made = e
        .volume_create(&r, &VolumeOptions::default())
        .expect("create");
    assert_eq!((made.used_bytes, made.used_bytes_at), (None, None));
    let dir = e.volume_path(&r).expect("path");
    write_pattern(&dir.join("a"), 1 << 20, 1);
    fs::hard_link(dir.join("a"), dir.join("b")).expect("hard link");

    let seen = e.volume_inspect(&r).expect("inspect");
    assert_eq!(
        (seen.used_bytes, seen.used_bytes_at),
        (None, None),
        "no walk"
    );

    let u = e.volume_usage(&r).expect("usage");
    assert_eq!(u.path, seen.path);
    let used = u.used_bytes.expect("measured on an available pool");
    assert!(
        (1 << 20..2 << 20).contains(&used),
        "{used}: the hard link counts once"
    );
    assert!(u.measured_at >= seen.created_at);

    let measured = e.volume_inspect_measured(&r).expect("measured");
    assert_eq!(measured.used_bytes, Some(used));
    assert_eq!(
        measured.used_bytes_at.map(|t| t >= u.measured_at),
        Some(true)
    );
    let json = serde_json::to_value(&measured).expect("json");
    assert_eq!(json["used_bytes"], serde_json::json!(used));

    // A volume that is gone has no usage to measure.
    e.volume_remove(&r, true, true).expect("destroy");
    assert_eq!(
        e.volume_usage(&r).expect_err("gone").kind(),
        populous_engine::ErrorKind::NotFound
    );
}

/// A pool's `vol` and `snap` directories can be passed through but not
/// listed by others, and a new volume's root is its owner's alone unless a
/// mode is asked for; clones and snapshots keep their source's mode.
fn check_volume_data_is_private(p: &mut Pool) {
    let e = &mut p.e;
    e.volume_create(&v("prod/db"), &VolumeOptions::default())
        .expect("create");
    let db = e.volume_path(&v("prod/db")).expect("path");
    let data = db.parent().and_then(Path::parent).expect("data dir");
    for sub in ["vol", "snap"] {
        assert_eq!(mode(&data.join(sub)), DATA_SUBDIR_MODE, "{sub}");
    }
    assert_eq!(mode(&db), DEFAULT_VOLUME_MODE);
    assert_eq!(
        DEFAULT_VOLUME_MODE & 0o077,
        0,
        "nothing for group or others"
    );
    fs::write(db.join("secret"), "prod data").expect("write");
    fs::set_permissions(db.join("secret"), fs::Permissions::from_mode(0o644)).expect("chmod");
    if let Some(nobody) = as_nobody() {
        assert!(
            !nobody("ls", &data.join("vol")),
            "others cannot list volumes"
        );
        assert!(
            !nobody("cat", &db.join("secret")),
            "others cannot read a volume's files"
        );
        // ... but may pass through to a volume they own (populous db's mysql).
        std::os::unix::fs::chown(&db, Some(65534), Some(65534)).expect("chown");
        assert!(
            nobody("cat", &db.join("secret")),
            "the volume's owner reaches it"
        );
    }

    // An older pool's 0755 directories are closed on the next create.
    fs::set_permissions(data.join("vol"), fs::Permissions::from_mode(0o755)).expect("chmod");
    let open = VolumeOptions {
        mode: Some(0o755),
        ..Default::default()
    };
    e.volume_create(&v("prod/shared"), &open).expect("create");
    assert_eq!(mode(&data.join("vol")), DATA_SUBDIR_MODE);
    let shared = e.volume_path(&v("prod/shared")).expect("path");
    assert_eq!(mode(&shared), 0o755, "fsMode is honoured");

    e.snapshot_create(&s("prod/db@s"), Consistency::Crash)
        .expect("snapshot");
    for (src, dst) in [("prod/db@s", "dev/db"), ("prod/shared", "dev/shared")] {
        let from = if src.contains('@') {
            CloneSource::Snapshot(s(src))
        } else {
            CloneSource::Volume(v(src))
        };
        let c = e
            .clone_volume(&from, &v(dst), &VolumeOptions::default())
            .expect("clone");
        let want = if dst == "dev/db" {
            DEFAULT_VOLUME_MODE
        } else {
            0o755
        };
        assert_eq!(mode(&c.path), want, "{dst} keeps its source's mode");
    }
}
