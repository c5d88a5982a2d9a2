//! The pool fixture the engine's integration tests run on, on every tier.
//!
//! A test body is a function of a [`Pool`]. [`tiered!`] runs it three ways:
//! under its plain name on a copy-backend pool in a temporary directory
//! (no root, no loop devices), and as `loopdev_<name>_btrfs` and
//! `loopdev_<name>_xfs` on image pools that Populous formats and
//! loop-mounts (root; the [`Lab`] unmounts them even when the test panics).
//! `cargo test -- --skip loopdev` runs the first tier alone.

#![allow(dead_code)] // Each test file uses a different part of this module.

use std::fs;
use std::path::{Path, PathBuf};

use populous_engine::{
    BackendKind, Engine, ErrorKind, FolderPolicy, FsKind, Name, SnapRef, VolRef,
};
use populous_testkit::Lab;

/// Which filesystem a fixture's pool is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tier {
    /// An adopted directory in a temporary directory, copy backend.
    Copy,
    /// A btrfs image pool.
    Btrfs,
    /// An XFS (reflink) image pool.
    Xfs,
}

/// An engine with one pool `p` holding folders `prod`, `dev` and `stage`.
pub struct Pool {
    /// The engine, on a home inside the scratch directory.
    pub e: Engine,
    /// Which tier this is.
    pub tier: Tier,
    scratch: Scratch,
}

enum Scratch {
    Temp(tempfile::TempDir),
    Lab(Lab),
}

impl Pool {
    /// A fresh pool on `tier`.
    pub fn new(tier: Tier) -> Pool {
        let scratch = match tier {
            Tier::Copy => Scratch::Temp(
                tempfile::Builder::new()
                    .prefix("populous-test-")
                    .tempdir()
                    .expect("creating a scratch directory"),
            ),
            Tier::Btrfs | Tier::Xfs => Scratch::Lab(Lab::new()),
        };
        let dir = match &scratch {
            Scratch::Temp(t) => t.path().to_owned(),
            Scratch::Lab(l) => l.path().to_owned(),
        };
        let mut e = Engine::open(&dir.join("home")).expect("open engine");
        match tier {
            Tier::Copy => {
                let root = dir.join("pool");
                fs::create_dir(&root).expect("pool directory");
                e.pool_adopt(&n("p"), &root, Some(BackendKind::Copy))
                    .expect("adopt a copy pool");
            }
            Tier::Btrfs | Tier::Xfs => {
                let fs_kind = if tier == Tier::Btrfs {
                    FsKind::Btrfs
                } else {
                    FsKind::Xfs
                };
                e.pool_create_image(&n("p"), &dir.join("pool.img"), 512 << 20, fs_kind, None)
                    .expect("create image pool");
            }
        }
        for f in ["prod", "dev", "stage"] {
            e.folder_create(
                &format!("p/{f}").parse().expect("ref"),
                &FolderPolicy::open(),
            )
            .expect("create folder");
        }
        Pool { e, tier, scratch }
    }

    /// The scratch directory everything lives in.
    pub fn dir(&self) -> &Path {
        match &self.scratch {
            Scratch::Temp(t) => t.path(),
            Scratch::Lab(l) => l.path(),
        }
    }

    /// The backend the pool should have chosen.
    pub fn backend(&self) -> BackendKind {
        match self.tier {
            Tier::Copy => BackendKind::Copy,
            Tier::Btrfs => BackendKind::Btrfs,
            Tier::Xfs => BackendKind::Reflink,
        }
    }

    /// Adopts a second, empty pool of the same tier's kind as `name`.
    pub fn other_pool(&mut self, name: &str) -> PathBuf {
        let (root, backend) = match &self.scratch {
            Scratch::Temp(t) => {
                let root = t.path().join(name);
                fs::create_dir(&root).expect("pool directory");
                (root, Some(BackendKind::Copy))
            }
            Scratch::Lab(l) => (l.btrfs(name), None),
        };
        self.e.pool_adopt(&n(name), &root, backend).expect("adopt");
        root
    }

    /// Asserts that removing pool `p` left nothing of it behind.
    pub fn assert_pool_gone(&self) {
        match &self.scratch {
            Scratch::Temp(t) => assert!(
                !t.path().join("pool/.populous").exists(),
                "pool rm removed the data area"
            ),
            Scratch::Lab(l) => {
                assert!(l.mounts().is_empty(), "pool rm unmounted the image");
                assert!(
                    !l.path().join("pool.img").exists(),
                    "pool rm deleted the image"
                );
            }
        }
    }

    /// Asserts that metadata and filesystems agree.
    pub fn assert_consistent(&mut self) {
        let report = self.e.check(false).expect("check");
        assert!(report.consistent(), "inconsistent: {report:#?}");
    }
}

/// Runs a test body `check_<name>` on every tier: `<name>` on a copy pool without root,
/// `$btrfs` and `$xfs` (named `loopdev_…`) on loop-mounted image pools.
#[macro_export]
macro_rules! tiered {
    ($body:ident: $plain:ident, $btrfs:ident, $xfs:ident) => {
        #[test]
        fn $plain() {
            $body(&mut common::Pool::new(common::Tier::Copy));
        }
        #[test]
        fn $btrfs() {
            $body(&mut common::Pool::new(common::Tier::Btrfs));
        }
        #[test]
        fn $xfs() {
            $body(&mut common::Pool::new(common::Tier::Xfs));
        }
    };
}

/// A name, valid by construction in tests.
pub fn n(s: &str) -> Name {
    Name::new("test", s).expect("valid test name")
}
/// A scan of a masked volume's files that found no original.
pub fn scan() -> populous_engine::MaskScan {
    populous_engine::MaskScan {
        sampled: 100,
        found: 0,
        files: 9,
        at: 1,
    }
}
/// A `folder/volume` reference.
pub fn v(s: &str) -> VolRef {
    s.parse().expect("valid volume ref")
}
/// A `folder/volume@snapshot` reference.
pub fn s(s: &str) -> SnapRef {
    s.parse().expect("valid snapshot ref")
}
/// The kind of the error an operation must fail with.
pub fn kind<T: std::fmt::Debug>(r: populous_engine::Result<T>) -> ErrorKind {
    r.expect_err("expected an error").kind()
}
