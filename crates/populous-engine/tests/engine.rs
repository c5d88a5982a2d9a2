//! Engine tests against real filesystems on loop devices.
//!
//! Every test here needs root and is named `loopdev::…`, so the group runs
//! with `cargo test loopdev` and is skipped with `-- --skip loopdev`.

mod loopdev {
    use std::fs;
    use std::path::Path;

    use populous_engine::{
        BackendKind, CloneSource, Consistency, Engine, ErrorKind, FolderPolicy, FsKind, Name,
        SnapRef, VolRef, VolumeOptions, VolumeState,
    };
    use populous_testkit::{has_pattern, write_pattern, Lab};

    fn n(s: &str) -> Name {
        Name::new("test", s).expect("valid test name")
    }
    fn v(s: &str) -> VolRef {
        s.parse().expect("valid volume ref")
    }
    fn s(s: &str) -> SnapRef {
        s.parse().expect("valid snapshot ref")
    }
    fn kind<T: std::fmt::Debug>(r: populous_engine::Result<T>) -> ErrorKind {
        r.expect_err("expected an error").kind()
    }
    fn assert_consistent(e: &mut Engine) {
        let report = e.check(false).expect("check");
        assert!(report.consistent(), "inconsistent: {report:#?}");
    }

    fn setup(lab: &Lab, fs_kind: FsKind) -> Engine {
        let mut e = Engine::open(&lab.home()).expect("open engine");
        let img = lab.path().join("pool.img");
        e.pool_create_image(&n("p"), &img, 512 << 20, fs_kind, None)
            .expect("create image pool");
        for f in ["prod", "dev", "stage"] {
            e.folder_create(
                &format!("p/{f}").parse().expect("ref"),
                &FolderPolicy::default(),
            )
            .expect("create folder");
        }
        e
    }

    /// The whole volume life cycle on one backend.
    fn check_lifecycle(fs_kind: FsKind, backend: BackendKind) {
        let lab = Lab::new();
        let mut e = setup(&lab, fs_kind);
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

        // rm without --destroy keeps the data offline.
        assert!(
            e.volume_remove(&v("stage/c1"), false, false)
                .expect("rm")
                .changed
        );
        assert_eq!(
            e.volume_inspect(&v("stage/c1")).expect("inspect").state,
            VolumeState::Offline
        );

        // Destroy rules: a volume with snapshots needs --recursive; clones survive it.
        let err = e
            .volume_remove(&v("prod/db"), true, false)
            .expect_err("has snapshots");
        assert_eq!(err.kind(), ErrorKind::HasDependents);
        assert!(err.to_string().contains("prod/db@s1"), "{err}");
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
        assert_consistent(&mut e);

        for vol in ["dev/c2", "dev/c3", "stage/c1"] {
            e.volume_remove(&v(vol), true, true).expect("destroy");
        }
        for f in ["prod", "dev", "stage"] {
            e.folder_remove(&n(f)).expect("folder rm");
        }
        assert_consistent(&mut e);
        e.pool_remove(&n("p")).expect("pool rm");
        assert!(lab.mounts().is_empty(), "pool rm unmounted the image");
        assert!(
            !lab.path().join("pool.img").exists(),
            "pool rm deleted the image"
        );
    }

    #[test]
    fn lifecycle_btrfs() {
        check_lifecycle(FsKind::Btrfs, BackendKind::Btrfs);
    }

    #[test]
    fn lifecycle_xfs_reflink() {
        check_lifecycle(FsKind::Xfs, BackendKind::Reflink);
    }

    #[test]
    fn adopt_existing_mounts_and_refuse_non_cow() {
        let lab = Lab::new();
        let mut e = Engine::open(&lab.home()).expect("open");
        let b = lab.btrfs("b");
        let x = lab.xfs("x", true);
        let xn = lab.xfs("xn", false);
        let ext = lab.ext4("e");
        assert_eq!(
            e.pool_adopt(&n("b"), &b, None).expect("btrfs").backend,
            BackendKind::Btrfs
        );
        assert_eq!(
            e.pool_adopt(&n("x"), &x, None).expect("xfs").backend,
            BackendKind::Reflink
        );
        // Same directory twice, or nested: refused.
        assert_eq!(
            kind(e.pool_adopt(&n("b2"), &b, None)),
            ErrorKind::AlreadyExists
        );
        for (name, dir) in [("xn", &xn), ("e", &ext)] {
            let err = e
                .pool_adopt(&n(name), dir, None)
                .expect_err("no copy-on-write");
            assert_eq!(err.kind(), ErrorKind::Unsupported);
            assert!(err.to_string().contains("--backend copy"), "{err}");
        }
        assert_eq!(
            kind(e.pool_adopt(&n("xb"), &x, Some(BackendKind::Btrfs))),
            ErrorKind::AlreadyExists
        );
        let err = e
            .pool_adopt(&n("eb"), &ext, Some(BackendKind::Btrfs))
            .expect_err("not btrfs");
        assert_eq!(err.kind(), ErrorKind::Unsupported);
        // Copy only when asked, and it works.
        let p = e
            .pool_adopt(&n("e"), &ext, Some(BackendKind::Copy))
            .expect("copy backend");
        assert_eq!(p.backend, BackendKind::Copy);
        e.folder_create(&"e/f".parse().expect("ref"), &FolderPolicy::default())
            .expect("folder");
        e.volume_create(&v("f/a"), &VolumeOptions::default())
            .expect("volume");
        write_pattern(&e.volume_path(&v("f/a")).expect("path").join("d"), 4096, 7);
        e.clone_volume(
            &CloneSource::Volume(v("f/a")),
            &v("f/b"),
            &VolumeOptions::default(),
        )
        .expect("copy clone");
        assert!(has_pattern(
            &e.volume_path(&v("f/b")).expect("path").join("d"),
            4096,
            7
        ));
        assert_consistent(&mut e);
        // Removing an adopted pool leaves the filesystem mounted and the user's files alone.
        e.folder_create(&"b/g".parse().expect("ref"), &FolderPolicy::default())
            .expect("folder");
        fs::write(b.join("users-file"), "keep").expect("write");
        e.folder_remove(&n("g")).expect("folder rm");
        e.pool_remove(&n("b")).expect("pool rm");
        assert_eq!(
            fs::read_to_string(b.join("users-file")).expect("kept"),
            "keep"
        );
        assert!(!b.join(".populous").exists());
    }

    #[test]
    fn unmounted_pool_is_unavailable_and_image_pools_remount() {
        let lab = Lab::new();
        let mut e = setup(&lab, FsKind::Btrfs);
        e.volume_create(&v("prod/db"), &VolumeOptions::default())
            .expect("create");
        write_pattern(
            &e.volume_path(&v("prod/db")).expect("path").join("d"),
            4096,
            9,
        );
        // An image pool that was unmounted (a reboot, say) is mounted again on use.
        lab.unmount(&lab.home().join("pools/p"));
        let p = e.volume_path(&v("prod/db")).expect("remounted");
        assert!(has_pattern(&p.join("d"), 4096, 9));

        // An adopted mount that disappears is never written to behind its back.
        let b = lab.btrfs("b");
        e.pool_adopt(&n("b"), &b, None).expect("adopt");
        e.folder_create(&"b/bf".parse().expect("ref"), &FolderPolicy::default())
            .expect("folder");
        e.volume_create(&v("bf/x"), &VolumeOptions::default())
            .expect("create");
        lab.unmount(&b);
        let err = e
            .volume_create(&v("bf/y"), &VolumeOptions::default())
            .expect_err("unmounted");
        assert_eq!(err.kind(), ErrorKind::Unavailable);
        assert!(err.to_string().contains("mount"), "{err}");
        assert_eq!(kind(e.volume_path(&v("bf/x"))), ErrorKind::Unavailable);
        assert!(
            fs::read_dir(&b).expect("dir").next().is_none(),
            "nothing written to the bare mount point"
        );
        assert!(
            e.volume_inspect(&v("bf/x")).is_ok(),
            "metadata still answers"
        );
        let report = e.check(false).expect("check");
        assert_eq!(report.pools_unavailable.len(), 1, "{report:?}");
    }

    #[test]
    fn full_pool_gives_a_clear_error_and_loses_nothing() {
        let lab = Lab::new();
        let mut e = Engine::open(&lab.home()).expect("open");
        // A copy-backend pool: a clone needs as much space as its source, so it can run out.
        let mnt = lab.mount_fs("small", 400, "mkfs.btrfs", &["-q", "-f"]);
        e.pool_adopt(&n("s"), &mnt, Some(BackendKind::Copy))
            .expect("adopt");
        e.folder_create(&"s/f".parse().expect("ref"), &FolderPolicy::default())
            .expect("folder");
        e.volume_create(&v("f/big"), &VolumeOptions::default())
            .expect("create");
        let p = e.volume_path(&v("f/big")).expect("path");
        write_pattern(&p.join("d1"), 100 << 20, 1);
        write_pattern(&p.join("d2"), 100 << 20, 2);
        write_pattern(&p.join("d3"), 60 << 20, 3);
        let before = e.volume_list(None, true).expect("ls").len();
        let err = e
            .clone_volume(
                &CloneSource::Volume(v("f/big")),
                &v("f/copy"),
                &VolumeOptions::default(),
            )
            .expect_err("no room for a full copy");
        assert_eq!(err.kind(), ErrorKind::NoSpace, "{err}");
        assert!(err.to_string().contains("full"), "{err}");
        assert_eq!(
            e.volume_list(None, true).expect("ls").len(),
            before,
            "no half-made clone is listed"
        );
        assert_consistent(&mut e);
        assert!(
            has_pattern(&p.join("d1"), 100 << 20, 1),
            "the source is intact"
        );
        // Once space is freed, the same clone works.
        fs::remove_file(p.join("d2")).expect("free space");
        fs::remove_file(p.join("d3")).expect("free space");
        // btrfs returns freed extents at the next transaction commit.
        populous_testkit::run(
            std::process::Command::new("btrfs")
                .args(["filesystem", "sync"])
                .arg(&mnt),
        );
        e.clone_volume(
            &CloneSource::Volume(v("f/big")),
            &v("f/copy"),
            &VolumeOptions::default(),
        )
        .expect("clone after freeing space");
        assert_consistent(&mut e);
    }

    /// The golden copy's refresh: a new masked clone takes the old one's name
    /// in one step; clones of the old one keep their data.
    #[test]
    fn rename_replace_swaps_a_golden_copy() {
        let lab = Lab::new();
        let mut e = setup(&lab, FsKind::Btrfs);
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
        clone(&mut e, "prod/db", "stage/golden");
        e.volume_mark_masked(&v("stage/golden"), "sha256:r", "k1")
            .expect("mark");
        let d1 = clone(&mut e, "stage/golden", "dev/d1");
        assert!(d1.provenance.masked, "a clone inherits masked");
        // prod changes; generation 2 is made beside it, then takes the name.
        write_pattern(&prod.join("data"), 1 << 20, 2);
        clone(&mut e, "prod/db", "stage/golden-next");
        e.volume_mark_masked(&v("stage/golden-next"), "sha256:r", "k1")
            .expect("mark");

        // Without --replace the name is not taken away.
        let err = e
            .volume_rename(&v("stage/golden-next"), &n("golden"), false)
            .expect_err("taken");
        assert_eq!(err.kind(), ErrorKind::AlreadyExists);
        assert!(err.to_string().contains("--replace"), "{err}");
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
        assert_consistent(&mut e);
    }

    #[test]
    fn folder_policy_and_pools_bound_cross_folder_moves() {
        let lab = Lab::new();
        let mut e = setup(&lab, FsKind::Btrfs);
        e.volume_create(&v("prod/db"), &VolumeOptions::default())
            .expect("create");
        e.folder_set_policy(
            &n("dev"),
            &FolderPolicy {
                clone_from: Some(vec![n("prod")]),
                import_from: Some(vec![]),
                require_masked: false,
            },
        )
        .expect("policy");
        e.folder_set_policy(
            &n("stage"),
            &FolderPolicy {
                clone_from: Some(vec![]),
                import_from: Some(vec![n("dev")]),
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
        assert!(err.to_string().contains("folder policy stage"), "{err}");
        // stage requires masked data from dev.
        e.volume_set_online(&v("dev/c"), false).expect("offline");
        let err = e
            .volume_import(&v("dev/c"), &n("stage"), None)
            .expect_err("unmasked");
        assert_eq!(err.kind(), ErrorKind::PolicyDenied);
        assert!(err.to_string().contains("masked"), "{err}");
        e.volume_mark_masked(&v("dev/c"), "sha256:abc", "key-1")
            .expect("mark");
        let imported = e
            .volume_import(&v("dev/c"), &n("stage"), None)
            .expect("masked import");
        assert!(imported.provenance.masked);
        assert_eq!(imported.provenance.mask_key_id.as_deref(), Some("key-1"));
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
        let b = lab.btrfs("b");
        e.pool_adopt(&n("other"), &b, None).expect("adopt");
        e.folder_create(&"other/far".parse().expect("ref"), &FolderPolicy::default())
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
        assert_consistent(&mut e);
    }

    #[test]
    fn image_pool_errors_are_clear() {
        let lab = Lab::new();
        let mut e = Engine::open(&lab.home()).expect("open");
        let img = lab.path().join("p.img");
        assert_eq!(
            kind(e.pool_create_image(&n("p"), &img, 100 << 20, FsKind::Btrfs, None)),
            ErrorKind::InvalidInput
        );
        fs::write(&img, "not mine").expect("write");
        assert_eq!(
            kind(e.pool_create_image(&n("p"), &img, 512 << 20, FsKind::Btrfs, None)),
            ErrorKind::AlreadyExists
        );
        assert_eq!(fs::read_to_string(&img).expect("untouched"), "not mine");
        let img2 = lab.path().join("p2.img");
        e.pool_create_image(&n("p"), &img2, 512 << 20, FsKind::Xfs, None)
            .expect("create");
        assert_eq!(
            kind(e.pool_create_image(
                &n("p"),
                &lab.path().join("p3.img"),
                512 << 20,
                FsKind::Xfs,
                None
            )),
            ErrorKind::AlreadyExists
        );
        assert!(
            !lab.path().join("p3.img").exists(),
            "a refused create leaves nothing"
        );
        assert_eq!(
            kind(e.folder_create(&"nope/f".parse().expect("ref"), &FolderPolicy::default())),
            ErrorKind::NotFound
        );
        e.pool_remove(&n("p")).expect("rm");
        assert!(lab.mounts().is_empty());
    }
}
