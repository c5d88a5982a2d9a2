//! What the engine refuses, and how it says so: one table, run on every
//! tier; and what it does with store contents it does not understand.

mod common;

use common::{n, s, v, Pool, Tier};
use populous_engine::{
    Allowed, Case, CloneSource, Consistency, Engine, ErrorKind, FolderPolicy, FsKind, Result,
    VolumeOptions,
};

type Op = fn(&mut Engine) -> Result<()>;

fn clone(e: &mut Engine, src: &str, dst: &str) -> Result<()> {
    e.clone_volume(
        &CloneSource::Volume(v(src)),
        &v(dst),
        &VolumeOptions::default(),
    )
    .map(drop)
}

fn folder(e: &mut Engine, r: &str, policy: &FolderPolicy) {
    e.folder_create(&r.parse().expect("ref"), policy)
        .expect("folder");
}

/// Every refusal leaves the pool as it was, has the expected kind and case,
/// names what it is about, and names no CLI flag or command.
fn check_refusals(p: &mut Pool) {
    p.other_pool("other");
    let e = &mut p.e;
    let none = VolumeOptions::default();
    e.volume_create(&v("prod/db"), &none).expect("create");
    e.volume_create(&v("prod/db2"), &none).expect("create");
    e.volume_create(&v("stage/taken"), &none).expect("create");
    e.snapshot_create(&s("prod/db@s1"), Consistency::Crash)
        .expect("snapshot");
    clone(e, "prod/db", "dev/off").expect("clone");
    e.volume_set_online(&v("dev/off"), false).expect("offline");
    e.mount_add(&v("prod/db2"), "m1").expect("mount");
    let only = |list: Vec<&str>| Allowed::Only(list.into_iter().map(n).collect());
    folder(
        e,
        "p/locked",
        &FolderPolicy {
            clone_from: only(vec!["stage"]),
            ..FolderPolicy::open()
        },
    );
    folder(
        e,
        "p/clean",
        &FolderPolicy {
            require_masked: true,
            ..FolderPolicy::open()
        },
    );
    folder(e, "other/far", &FolderPolicy::open());

    let table: &[(Op, ErrorKind, Case, &str)] = &[
        (
            |e| {
                e.volume_create(&v("prod/db"), &VolumeOptions::default())
                    .map(drop)
            },
            ErrorKind::AlreadyExists,
            Case::General,
            "volume prod/db already exists",
        ),
        (
            |e| e.volume_inspect(&v("prod/nope")).map(drop),
            ErrorKind::NotFound,
            Case::General,
            "volume prod/nope does not exist",
        ),
        (
            |e| e.volume_inspect(&v("nope/x")).map(drop),
            ErrorKind::NotFound,
            Case::General,
            "folder nope does not exist",
        ),
        (
            |e| e.snapshot_remove(&s("prod/db@nope")),
            ErrorKind::NotFound,
            Case::General,
            "snapshot prod/db@nope does not exist",
        ),
        (
            |e| e.volume_remove(&v("prod/db"), true, false).map(drop),
            ErrorKind::HasDependents,
            Case::VolumeHasSnapshots,
            "volume prod/db: it has snapshots prod/db@s1",
        ),
        (
            |e| e.folder_remove(&n("prod")),
            ErrorKind::HasDependents,
            Case::FolderHasVolumes,
            "db (online)",
        ),
        (
            |e| e.pool_remove(&n("p")),
            ErrorKind::HasDependents,
            Case::PoolHasFolders,
            "it holds folders clean, dev, locked, prod, stage",
        ),
        (
            |e| e.volume_path(&v("dev/off")).map(drop),
            ErrorKind::WrongState,
            Case::VolumeOffline,
            "dev/off is offline",
        ),
        (
            |e| e.volume_import(&v("prod/db"), &n("dev"), None).map(drop),
            ErrorKind::WrongState,
            Case::VolumeOnline,
            "only offline volumes can be imported",
        ),
        (
            |e| {
                e.volume_import(&v("dev/off"), &n("stage"), Some(&n("taken")))
                    .map(drop)
            },
            ErrorKind::AlreadyExists,
            Case::ImportTargetExists,
            "volume stage/taken already exists",
        ),
        (
            |e| e.volume_rename(&v("prod/db"), &n("db2"), false).map(drop),
            ErrorKind::AlreadyExists,
            Case::RenameTargetExists,
            "volume prod/db2 already exists",
        ),
        (
            |e| e.volume_set_online(&v("prod/db2"), false).map(drop),
            ErrorKind::WrongState,
            Case::General,
            "while it is mounted (m1)",
        ),
        (
            |e| clone(e, "prod/db", "locked/x"),
            ErrorKind::PolicyDenied,
            Case::CloneSourceNotAllowed,
            "folder locked may not clone from folder prod",
        ),
        (
            |e| clone(e, "prod/db", "clean/x"),
            ErrorKind::PolicyDenied,
            Case::MaskingRequired,
            "folder clean requires masked data",
        ),
        (
            |e| clone(e, "prod/db", "far/x"),
            ErrorKind::Unsupported,
            Case::General,
            "copy-on-write works only inside one pool",
        ),
        (
            |e| {
                let bad = [(String::new(), "x".to_owned())];
                e.volume_set_labels(&v("prod/db"), &bad).map(drop)
            },
            ErrorKind::InvalidInput,
            Case::General,
            "keys are 1-128",
        ),
    ];
    let before = e.volume_list(None, true).expect("ls");
    for (i, (op, want_kind, want_case, needle)) in table.iter().enumerate() {
        let err = op(e).expect_err("refused");
        let msg = err.to_string();
        assert_eq!(err.kind(), *want_kind, "row {i}: {msg}");
        assert_eq!(err.case(), *want_case, "row {i}: {msg}");
        assert!(msg.contains(needle), "row {i}: {msg:?} lacks {needle:?}");
        assert!(
            !msg.contains("--") && !msg.contains("`populous"),
            "row {i}: a library message names CLI flags or commands: {msg}"
        );
    }
    let after = e.volume_list(None, true).expect("ls");
    assert_eq!(
        format!("{before:?}"),
        format!("{after:?}"),
        "nothing changed"
    );
    e.mount_clear(&v("prod/db2")).expect("unmount");
    let report = e.check(false).expect("check");
    assert!(report.consistent(), "inconsistent: {report:#?}");
}

tiered!(check_refusals: refusals, loopdev_refusals_btrfs, loopdev_refusals_xfs);

fn sql(p: &Pool, statement: &str) {
    let db = rusqlite::Connection::open(p.dir().join("home/populous.db")).expect("store");
    db.execute_batch(statement).expect("statement");
}

/// A backend name this version does not know is an error, never a guess:
/// running the wrong copy-on-write code on a pool could lose data.
#[test]
fn unknown_backend_in_the_store_is_an_error() {
    let mut p = Pool::new(Tier::Copy);
    sql(&p, "UPDATE pools SET backend = 'zfs'");
    let err = p.e.pool_list().expect_err("unknown backend");
    assert_eq!(err.kind(), ErrorKind::Internal);
    assert!(err.to_string().contains("\"zfs\""), "{err}");
    let err =
        p.e.volume_create(&v("prod/x"), &VolumeOptions::default())
            .expect_err("unknown backend");
    assert!(err.to_string().contains("\"zfs\""), "{err}");
}

/// An intent of a kind this version does not know is kept for a version
/// that does, and `check` says so, rather than being undone by guess.
#[test]
fn unknown_intent_is_kept_and_reported() {
    let mut p = Pool::new(Tier::Copy);
    sql(
        &p,
        "INSERT INTO ops (kind, detail, pid, started_at) VALUES ('defragment', '', 1, 0)",
    );
    let report = p.e.check(false).expect("check");
    assert_eq!(report.reconciled_ops, 0);
    assert!(
        report.missing.iter().any(|m| m.contains("1 interrupted")),
        "{report:?}"
    );
    p.e.volume_create(&v("prod/x"), &VolumeOptions::default())
        .expect("other work goes on");
}

/// Image pool requests that are refused before anything is formatted need
/// no root, and leave nothing behind.
#[test]
fn image_pool_refusals_touch_nothing() {
    let dir = tempfile::tempdir().expect("scratch");
    let mut e = Engine::open(&dir.path().join("home")).expect("open");
    let img = dir.path().join("p.img");
    let err = e
        .pool_create_image(&n("p"), &img, 100 << 20, FsKind::Btrfs, None)
        .expect_err("too small");
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    assert!(!img.exists());
    std::fs::write(&img, "not mine").expect("write");
    let err = e
        .pool_create_image(&n("p"), &img, 512 << 20, FsKind::Btrfs, None)
        .expect_err("exists");
    assert_eq!(err.kind(), ErrorKind::AlreadyExists);
    assert_eq!(err.case(), Case::ImageExists);
    assert_eq!(
        std::fs::read_to_string(&img).expect("untouched"),
        "not mine"
    );
    assert!(e.pool_list().expect("pools").is_empty());
}
