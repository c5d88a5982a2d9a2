//! Engine tests that run on every tier: a copy pool in a temporary
//! directory (plain names, no root), and btrfs and XFS image pools on loop
//! devices (`loopdev_…`, root). See `common` for the fixture.

mod common;

use std::fs;
use std::path::Path;

use common::{kind, n, s, scan, v, Pool};
use populous_engine::{
    Allowed, Case, CloneSource, Consistency, Engine, ErrorKind, FolderPolicy, MaskScan,
    VolumeOptions, VolumeState,
};
use populous_testkit::{has_pattern, write_pattern};

fn assert_consistent(e: &mut Engine) {
    let report = e.check(false).expect("check");
    assert!(report.consistent(), "inconsistent: {report:#?}");
}

tiered!(check_lifecycle: lifecycle, loopdev_lifecycle_btrfs, loopdev_lifecycle_xfs);
tiered!(check_rename_replace_swaps_a_golden_copy: rename_replace_swaps_a_golden_copy,
    loopdev_rename_replace_swaps_a_golden_copy_btrfs,
    loopdev_rename_replace_swaps_a_golden_copy_xfs);
tiered!(check_folder_policy_and_pools_bound_cross_folder_moves: folder_policy_and_pools_bound_cross_folder_moves,
    loopdev_folder_policy_and_pools_bound_cross_folder_moves_btrfs,
    loopdev_folder_policy_and_pools_bound_cross_folder_moves_xfs);
tiered!(check_clone_returns_what_inspect_shows: clone_returns_what_inspect_shows,
    loopdev_clone_returns_what_inspect_shows_btrfs,
    loopdev_clone_returns_what_inspect_shows_xfs);

/// The whole volume life cycle.
fn check_lifecycle(p: &mut Pool) {
    let backend = p.backend();
    let e = &mut p.e;
    let pools = e.pool_list().expect("pools");
    assert_eq!(pools[0].backend, backend);
    assert!(pools[0].available);

    e.volume_create(&v("prod/db"), &VolumeOptions::default())
        .expect("create");
    assert_eq!(
        kind(e.volume_create(&v("prod/db"), &VolumeOptions::default())),
        ErrorKind::AlreadyExists
    );
    let prod = e.volume_path(&v("prod/db")).expect("path");
    fs::create_dir(prod.join("sub")).expect("mkdir");
    write_pattern(&prod.join("sub/data"), 1 << 20, 1);
    std::os::unix::fs::symlink("sub/data", prod.join("link")).expect("symlink");
    fs::hard_link(prod.join("sub/data"), prod.join("hard")).expect("hardlink");

    // Snapshot, then change the source: the snapshot and its clone keep the old data.
    e.snapshot_create(&s("prod/db@s1"), Consistency::Crash)
        .expect("snapshot");
    write_pattern(&prod.join("sub/data"), 1 << 20, 2);
    let c = e
        .clone_volume(
            &CloneSource::Snapshot(s("prod/db@s1")),
            &v("dev/c1"),
            &VolumeOptions::default(),
        )
        .expect("clone");
    assert_eq!(c.origin.as_deref(), Some("prod/db@s1"));
    assert_eq!(c.lineage.len(), 1);
    let dev = e.volume_path(&v("dev/c1")).expect("path");
    assert!(
        has_pattern(&dev.join("sub/data"), 1 << 20, 1),
        "clone has the snapshot's data"
    );
    assert_eq!(
        fs::read_link(dev.join("link")).expect("link"),
        Path::new("sub/data")
    );
    // Writing the clone leaves the source alone.
    write_pattern(&dev.join("sub/data"), 1 << 20, 3);
    assert!(has_pattern(&prod.join("sub/data"), 1 << 20, 2));

    // Clone without @snap takes a snapshot first, which is kept and shows the clone.
    let c2 = e
        .clone_volume(
            &CloneSource::Volume(v("prod/db")),
            &v("dev/c2"),
            &VolumeOptions::default(),
        )
        .expect("clone of volume");
    let auto = c2.origin.clone().expect("origin");
    assert!(auto.starts_with("prod/db@auto-"), "{auto}");
    let p2 = e.volume_path(&v("dev/c2")).expect("path");
    assert!(has_pattern(&p2.join("sub/data"), 1 << 20, 2));
    let snaps = e.snapshot_list(&v("prod/db")).expect("snapshots");
    assert_eq!(snaps.len(), 2);
    assert_eq!(snaps[1].clones, vec!["dev/c2".to_owned()]);

    // A clone of a clone: lineage is two steps long.
    let c3 = e
        .clone_volume(
            &CloneSource::Volume(v("dev/c2")),
            &v("dev/c3"),
            &VolumeOptions::default(),
        )
        .expect("clone of clone");
    assert_eq!(c3.lineage.len(), 2);
    assert_eq!(c3.lineage[1].snapshot, auto);

    // Offline / online are idempotent and report whether they changed anything.
    assert!(
        e.volume_set_online(&v("dev/c1"), false)
            .expect("offline")
            .changed
    );
    assert!(
        !e.volume_set_online(&v("dev/c1"), false)
            .expect("offline again")
            .changed
    );
    assert_eq!(kind(e.volume_path(&v("dev/c1"))), ErrorKind::WrongState);
    let online: Vec<_> = e
        .volume_list(Some(&n("dev")), false)
        .expect("ls")
        .iter()
        .map(|x| x.name.to_string())
        .collect();
    assert_eq!(online, ["c2", "c3"]);
    let all = e.volume_list(Some(&n("dev")), true).expect("ls --all");
    assert_eq!(all.len(), 3);
    assert_eq!(all[0].state, VolumeState::Offline);

    // Import: only offline volumes, and it moves the data without copying.
    assert_eq!(
        kind(e.volume_import(&v("dev/c2"), &n("stage"), None)),
        ErrorKind::WrongState
    );
    let imported = e
        .volume_import(&v("dev/c1"), &n("stage"), None)
        .expect("import");
    assert_eq!(imported.state, VolumeState::Online);
    assert_eq!(kind(e.volume_inspect(&v("dev/c1"))), ErrorKind::NotFound);
    let sp = e.volume_path(&v("stage/c1")).expect("path");
    assert!(has_pattern(&sp.join("sub/data"), 1 << 20, 3));
    assert_eq!(imported.origin.as_deref(), Some("prod/db@s1"));

    // Removing without destroying keeps the data offline.
    assert!(
        e.volume_remove(&v("stage/c1"), false, false)
            .expect("rm")
            .changed
    );
    assert_eq!(
        e.volume_inspect(&v("stage/c1")).expect("inspect").state,
        VolumeState::Offline
    );

    // Destroy rules: a volume with snapshots goes only with them; clones survive it.
    let err = e
        .volume_remove(&v("prod/db"), true, false)
        .expect_err("has snapshots");
    assert_eq!(err.kind(), ErrorKind::HasDependents);
    assert!(err.to_string().contains("prod/db@s1"), "{err}");
    assert_eq!(err.case(), Case::VolumeHasSnapshots);
    e.volume_remove(&v("prod/db"), true, true)
        .expect("recursive destroy");
    assert!(
        has_pattern(&sp.join("sub/data"), 1 << 20, 3),
        "a clone outlives its origin"
    );
    let after = e.volume_inspect(&v("dev/c3")).expect("inspect");
    assert!(
        after.lineage[0].exists && !after.lineage[1].exists,
        "{:?}",
        after.lineage
    );

    // Snapshot rm with clones: the clone keeps working.
    e.snapshot_remove(&s(&format!(
        "dev/c2@{}",
        c3.origin
            .as_deref()
            .and_then(|o| o.split('@').nth(1))
            .expect("snap")
    )))
    .expect("snapshot rm");
    assert!(e
        .volume_path(&v("dev/c3"))
        .expect("path")
        .join("sub/data")
        .exists());

    // Folder and pool removal refuse while something is inside, and name it.
    let err = e.folder_remove(&n("dev")).expect_err("folder has volumes");
    assert!(err.to_string().contains("c2"), "{err}");
    let err = e.pool_remove(&n("p")).expect_err("pool has folders");
    assert_eq!(err.kind(), ErrorKind::HasDependents);
    assert_consistent(e);

    for vol in ["dev/c2", "dev/c3", "stage/c1"] {
        e.volume_remove(&v(vol), true, true).expect("destroy");
    }
    for f in ["prod", "dev", "stage"] {
        e.folder_remove(&n(f)).expect("folder rm");
    }
    assert_consistent(e);
    e.pool_remove(&n("p")).expect("pool rm");
    p.assert_pool_gone();
}

/// The golden copy's refresh: a new masked clone takes the old one's name
/// in one step; clones of the old one keep their data.
fn check_rename_replace_swaps_a_golden_copy(p: &mut Pool) {
    let e = &mut p.e;
    e.volume_create(&v("prod/db"), &VolumeOptions::default())
        .expect("create");
    let prod = e.volume_path(&v("prod/db")).expect("path");
    write_pattern(&prod.join("data"), 1 << 20, 1);
    let clone = |e: &mut Engine, src: &str, dst: &str| {
        e.clone_volume(
            &CloneSource::Volume(v(src)),
            &v(dst),
            &VolumeOptions::default(),
        )
        .expect("clone")
    };
    // Generation 1: stage/golden is a masked clone; dev clones it.
    clone(e, "prod/db", "stage/golden");
    e.volume_mark_masked(&v("stage/golden"), "sha256:r", "k1", &scan())
        .expect("mark");
    let d1 = clone(e, "stage/golden", "dev/d1");
    assert!(d1.provenance.masked, "a clone inherits masked");
    // prod changes; generation 2 is made beside it, then takes the name.
    write_pattern(&prod.join("data"), 1 << 20, 2);
    clone(e, "prod/db", "stage/golden-next");
    e.volume_mark_masked(&v("stage/golden-next"), "sha256:r", "k1", &scan())
        .expect("mark");

    // Without `replace` the name is not taken away.
    let err = e
        .volume_rename(&v("stage/golden-next"), &n("golden"), false)
        .expect_err("taken");
    assert_eq!(err.kind(), ErrorKind::AlreadyExists);
    assert!(
        err.to_string().contains("stage/golden already exists"),
        "{err}"
    );
    assert_eq!(err.case(), Case::RenameTargetExists);
    // A mounted target is not replaced.
    e.mount_add(&v("stage/golden"), "m1").expect("mount");
    assert_eq!(
        kind(e.volume_rename(&v("stage/golden-next"), &n("golden"), true)),
        ErrorKind::WrongState
    );
    e.mount_clear(&v("stage/golden")).expect("unmount");

    let out = e
        .volume_rename(&v("stage/golden-next"), &n("golden"), true)
        .expect("replace");
    assert!(out.changed);
    assert_eq!(out.value.replaced.as_deref(), Some("stage/golden"));
    assert_eq!(out.value.volume.name.as_str(), "golden");
    assert!(out.value.volume.provenance.masked);
    let g = e.volume_path(&v("stage/golden")).expect("path");
    assert!(
        has_pattern(&g.join("data"), 1 << 20, 2),
        "the new generation"
    );
    assert_eq!(
        kind(e.volume_inspect(&v("stage/golden-next"))),
        ErrorKind::NotFound
    );
    let names: Vec<String> = e
        .volume_list(Some(&n("stage")), true)
        .expect("ls")
        .iter()
        .map(|x| x.name.to_string())
        .collect();
    assert_eq!(names, ["golden"], "the old generation is gone");
    // The old generation's clone is independent and keeps its data.
    let p1 = e.volume_path(&v("dev/d1")).expect("path");
    assert!(has_pattern(&p1.join("data"), 1 << 20, 1));
    // Renaming to its own name changes nothing; a missing source is named.
    assert!(
        !e.volume_rename(&v("stage/golden"), &n("golden"), true)
            .expect("same name")
            .changed
    );
    assert_eq!(
        kind(e.volume_rename(&v("stage/nope"), &n("x"), true)),
        ErrorKind::NotFound
    );
    // A plain rename.
    let r = e
        .volume_rename(&v("dev/d1"), &n("d1-kept"), false)
        .expect("rename");
    assert!(r.changed && r.value.replaced.is_none());
    assert_consistent(e);
}

fn check_folder_policy_and_pools_bound_cross_folder_moves(p: &mut Pool) {
    p.other_pool("other");
    let e = &mut p.e;
    e.volume_create(&v("prod/db"), &VolumeOptions::default())
        .expect("create");
    e.folder_set_policy(
        &n("dev"),
        &FolderPolicy {
            clone_from: Allowed::Only(vec![n("prod")]),
            import_from: Allowed::default(),
            require_masked: false,
        },
    )
    .expect("policy");
    e.folder_set_policy(
        &n("stage"),
        &FolderPolicy {
            clone_from: Allowed::default(),
            import_from: Allowed::Only(vec![n("dev")]),
            require_masked: true,
        },
    )
    .expect("policy");
    // dev may clone prod; stage may not clone at all.
    e.clone_volume(
        &CloneSource::Volume(v("prod/db")),
        &v("dev/c"),
        &VolumeOptions::default(),
    )
    .expect("allowed");
    let err = e
        .clone_volume(
            &CloneSource::Volume(v("prod/db")),
            &v("stage/c"),
            &VolumeOptions::default(),
        )
        .expect_err("denied");
    assert_eq!(err.kind(), ErrorKind::PolicyDenied);
    assert!(
        err.to_string()
            .contains("folder stage may not clone from folder prod"),
        "{err}"
    );
    // stage requires masked data from dev.
    e.volume_set_online(&v("dev/c"), false).expect("offline");
    let err = e
        .volume_import(&v("dev/c"), &n("stage"), None)
        .expect_err("unmasked");
    assert_eq!(err.kind(), ErrorKind::PolicyDenied);
    assert!(err.to_string().contains("masked"), "{err}");
    // A scan that found originals leaves it unmasked, and refused.
    let failed = MaskScan {
        sampled: 100,
        found: 3,
        files: 9,
        at: 1,
    };
    let unmasked = e.volume_mark_unmasked(&v("dev/c"), &failed).expect("mark");
    assert!(!unmasked.provenance.masked);
    assert_eq!(unmasked.provenance.scan, Some(failed));
    let err = e
        .volume_import(&v("dev/c"), &n("stage"), None)
        .expect_err("unmasked after a failed scan");
    assert_eq!(err.kind(), ErrorKind::PolicyDenied);
    e.volume_mark_masked(&v("dev/c"), "sha256:abc", "key-1", &scan())
        .expect("mark");
    let imported = e
        .volume_import(&v("dev/c"), &n("stage"), None)
        .expect("masked import");
    assert!(imported.provenance.masked_and_scanned());
    assert_eq!(imported.provenance.mask_key_id.as_deref(), Some("key-1"));
    // forceImport of an online volume: every check comes first, so a refused
    // import leaves it online where it was.
    let err = e
        .volume_import_online(&v("prod/db"), &n("dev"), None)
        .expect_err("policy");
    assert_eq!(err.kind(), ErrorKind::PolicyDenied);
    let still = e.volume_inspect(&v("prod/db")).expect("still in prod");
    assert_eq!(still.state, VolumeState::Online);
    // dev may not import from prod.
    e.volume_set_online(&v("prod/db"), false).expect("offline");
    assert_eq!(
        kind(e.volume_import(&v("prod/db"), &n("dev"), None)),
        ErrorKind::PolicyDenied
    );
    // Provenance is inherited by snapshots and their clones.
    e.snapshot_create(&s("stage/c@m"), Consistency::Crash)
        .expect("snap");
    assert!(
        e.snapshot_list(&v("stage/c")).expect("ls")[0]
            .provenance
            .masked
    );
    // A second pool: cross-pool clones are impossible with copy-on-write and say so.
    e.folder_create(&"other/far".parse().expect("ref"), &FolderPolicy::open())
        .expect("folder");
    let err = e
        .clone_volume(
            &CloneSource::Snapshot(s("stage/c@m")),
            &v("far/c"),
            &VolumeOptions::default(),
        )
        .expect_err("cross pool");
    assert_eq!(err.kind(), ErrorKind::Unsupported);
    assert!(err.to_string().contains("only inside one pool"), "{err}");
    assert_consistent(e);
}

/// What `clone_volume` returns is built from what it made, without reading
/// the store back or walking the new tree: it must match `volume_inspect`,
/// which reads the store (and walks nothing either).
fn check_clone_returns_what_inspect_shows(p: &mut Pool) {
    let e = &mut p.e;
    e.volume_create(&v("prod/db"), &VolumeOptions::default())
        .expect("create");
    write_pattern(
        &e.volume_path(&v("prod/db")).expect("path").join("d"),
        8192,
        4,
    );
    e.volume_mark_masked(&v("prod/db"), "sha256:r", "k1", &scan())
        .expect("mark");
    let opts = VolumeOptions {
        size: Some(1 << 30),
        description: Some("a clone".into()),
        labels: vec![("a".into(), "1".into()), ("a".into(), "2".into())],
        ..Default::default()
    };
    // From a volume (through an auto snapshot), then a clone of that clone
    // from an existing snapshot: lineage two steps long, one taken earlier.
    let first = e
        .clone_volume(&CloneSource::Volume(v("prod/db")), &v("dev/a"), &opts)
        .expect("clone");
    e.snapshot_create(&s("dev/a@s"), Consistency::App)
        .expect("snapshot");
    let second = e
        .clone_volume(
            &CloneSource::Snapshot(s("dev/a@s")),
            &v("stage/b"),
            &VolumeOptions::default(),
        )
        .expect("clone of clone");
    for (made, r) in [(first, "dev/a"), (second, "stage/b")] {
        assert_eq!(made.used_bytes, None, "clone does not walk the tree");
        let mut seen = e.volume_inspect(&v(r)).expect("inspect");
        // `dev/a` has a snapshot by now, which inspect shows.
        seen.snapshots.clear();
        assert_eq!(format!("{made:?}"), format!("{seen:?}"), "{r}");
    }
    let b = e.volume_inspect(&v("stage/b")).expect("inspect");
    assert_eq!(b.lineage.len(), 2);
    assert!(b.provenance.masked, "provenance travels with the data");
    assert!(has_pattern(&b.path.join("d"), 8192, 4));
}
