//! Engine tests that are about real filesystems: adopting mounts, telling
//! copy-on-write filesystems from others, pools that are unmounted or full,
//! image pools. All need root and loop devices, so all are `loopdev_…`.

mod common;

use std::fs;

use common::{kind, n, v};
use populous_engine::{
    BackendKind, Case, CloneSource, Engine, ErrorKind, FolderPolicy, FsKind, VolumeOptions,
};
use populous_testkit::{has_pattern, write_pattern, Lab};

fn assert_consistent(e: &mut Engine) {
    let report = e.check(false).expect("check");
    assert!(report.consistent(), "inconsistent: {report:#?}");
}

/// A btrfs image pool `p` in the lab, with a folder `prod`.
fn image_pool(lab: &Lab) -> Engine {
    let mut e = Engine::open(&lab.home()).expect("open engine");
    e.pool_create_image(
        &n("p"),
        &lab.path().join("pool.img"),
        512 << 20,
        FsKind::Btrfs,
        None,
    )
    .expect("create image pool");
    e.folder_create(&"p/prod".parse().expect("ref"), &FolderPolicy::default())
        .expect("create folder");
    e
}

#[test]
fn loopdev_adopt_existing_mounts_and_refuse_non_cow() {
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
        assert!(err.to_string().contains("copy backend"), "{err}");
        assert_eq!(err.case(), Case::NoCopyOnWrite);
    }
    assert_eq!(
        kind(e.pool_adopt(&n("xb"), &x, Some(BackendKind::Btrfs))),
        ErrorKind::AlreadyExists
    );
    let err = e
        .pool_adopt(&n("eb"), &ext, Some(BackendKind::Btrfs))
        .expect_err("not btrfs");
    assert_eq!(err.kind(), ErrorKind::Unsupported);
    assert_eq!(err.case(), Case::NotBtrfs);
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
fn loopdev_unmounted_pool_is_unavailable_and_image_pools_remount() {
    let lab = Lab::new();
    let mut e = image_pool(&lab);
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
fn loopdev_full_pool_gives_a_clear_error_and_loses_nothing() {
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

#[test]
fn loopdev_image_pool_errors_are_clear() {
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

/// A NOCOW volume (a database's datadir on btrfs) clones on both backends
/// btrfs offers: a btrfs snapshot keeps the flag, and the reflink backend
/// gives each copy the flag before cloning its contents (btrfs refuses to
/// reflink between a NOCOW and a copy-on-write file with EINVAL).
#[test]
fn loopdev_nocow_volumes_clone_on_btrfs_and_reflink() {
    use populous_engine::attr::{is_nocow, set_nocow};
    let lab = Lab::new();
    let mut e = Engine::open(&lab.home()).expect("open");
    let b = lab.btrfs("b");
    let r = lab.btrfs("r");
    e.pool_adopt(&n("b"), &b, None).expect("btrfs");
    e.pool_adopt(&n("r"), &r, Some(BackendKind::Reflink))
        .expect("reflink on btrfs");
    for (pool, folder) in [("b", "fb"), ("r", "fr")] {
        e.folder_create(
            &format!("{pool}/{folder}").parse().expect("ref"),
            &FolderPolicy::default(),
        )
        .expect("folder");
        let src = v(&format!("{folder}/db"));
        e.volume_create(&src, &VolumeOptions::default())
            .expect("volume");
        let path = e.volume_path(&src).expect("path");
        set_nocow(&path).expect("chattr +C on the empty volume");
        fs::create_dir(path.join("sub")).expect("mkdir");
        write_pattern(&path.join("ibdata1"), 1 << 20, 3);
        write_pattern(&path.join("sub/t.ibd"), 1 << 20, 4);
        assert!(is_nocow(&path.join("sub/t.ibd")).expect("flags"));
        let dst = v(&format!("{folder}/clone"));
        e.clone_volume(&CloneSource::Volume(src), &dst, &VolumeOptions::default())
            .unwrap_or_else(|err| panic!("clone on {pool}: {err}"));
        let c = e.volume_path(&dst).expect("path");
        for f in ["", "sub", "ibdata1", "sub/t.ibd"] {
            assert!(is_nocow(&c.join(f)).expect("flags"), "{pool}: {f}");
        }
        assert!(has_pattern(&c.join("ibdata1"), 1 << 20, 3));
        assert!(has_pattern(&c.join("sub/t.ibd"), 1 << 20, 4));
    }
    assert_consistent(&mut e);
}
