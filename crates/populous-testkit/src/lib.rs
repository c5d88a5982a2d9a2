//! Test fixtures: a scratch directory whose loop-mounted filesystems are
//! always unmounted, even when the test panics.
//!
//! Tests that mount filesystems in a [`Lab`] need root and loop devices; by
//! convention their names start with `loopdev` so `cargo test loopdev` runs
//! them as a group and `cargo test -- --skip loopdev` skips them. A lab from
//! [`Lab::in_temp_dir`] that mounts nothing needs neither.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A scratch directory for one test. Dropping it unmounts every filesystem
/// mounted below it (deepest first; `mount -o loop` set autoclear, so the
/// loop devices go too) and then deletes it.
#[derive(Debug)]
pub struct Lab {
    dir: tempfile::TempDir,
}

impl Default for Lab {
    fn default() -> Self {
        Self::new()
    }
}

impl Lab {
    /// A new scratch directory under /var/tmp (a real disk, unlike a tmpfs /tmp on some hosts).
    pub fn new() -> Lab {
        Lab::in_dir(Path::new("/var/tmp"))
    }

    /// A new scratch directory under the system's temp directory (`TMPDIR`):
    /// for tests that mount nothing and so can run without root.
    pub fn in_temp_dir() -> Lab {
        Lab::in_dir(&std::env::temp_dir())
    }

    fn in_dir(parent: &Path) -> Lab {
        let dir = tempfile::Builder::new()
            .prefix("populous-test-")
            .tempdir_in(parent)
            .unwrap_or_else(|e| {
                panic!(
                    "creating a scratch directory under {}: {e}",
                    parent.display()
                )
            });
        // Traversable by other users: mariadbd runs as `mysql` on volumes inside the lab.
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).expect("chmod lab");
        Lab { dir }
    }

    /// The scratch directory.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// A Populous home inside the lab.
    pub fn home(&self) -> PathBuf {
        self.dir.path().join("home")
    }

    /// Creates a sparse image of `size_mib`, formats it with `mkfs` and `args`,
    /// and loop-mounts it at `<lab>/mnt/<name>`, which it returns.
    pub fn mount_fs(&self, name: &str, size_mib: u64, mkfs: &str, args: &[&str]) -> PathBuf {
        let image = self.dir.path().join(format!("{name}.img"));
        let f = fs::File::create(&image).expect("creating image");
        f.set_len(size_mib << 20).expect("sizing image");
        drop(f);
        run(Command::new(mkfs).args(args).arg(&image));
        let mnt = self.dir.path().join("mnt").join(name);
        fs::create_dir_all(&mnt).expect("creating mount point");
        run(Command::new("mount")
            .args(["-o", "loop"])
            .arg(&image)
            .arg(&mnt));
        mnt
    }

    /// A btrfs filesystem of 512 MiB.
    pub fn btrfs(&self, name: &str) -> PathBuf {
        self.mount_fs(name, 512, "mkfs.btrfs", &["-q", "-f"])
    }

    /// An XFS filesystem of 512 MiB with reflink on (or off).
    pub fn xfs(&self, name: &str, reflink: bool) -> PathBuf {
        let opt = if reflink { "reflink=1" } else { "reflink=0" };
        self.mount_fs(name, 512, "mkfs.xfs", &["-q", "-f", "-m", opt])
    }

    /// An ext4 filesystem of 64 MiB (no copy-on-write).
    pub fn ext4(&self, name: &str) -> PathBuf {
        self.mount_fs(name, 64, "mkfs.ext4", &["-q", "-F"])
    }

    /// Mount points below the lab, deepest first.
    pub fn mounts(&self) -> Vec<PathBuf> {
        let root = fs::canonicalize(self.dir.path()).unwrap_or_else(|_| self.dir.path().to_owned());
        let info = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        let mut found: Vec<PathBuf> = info
            .lines()
            .filter_map(|l| l.split(' ').nth(4))
            .map(PathBuf::from)
            .filter(|p| p.starts_with(&root))
            .collect();
        found.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
        found.dedup();
        found
    }

    /// Unmounts one mount point (used by tests that pull a pool away).
    pub fn unmount(&self, mnt: &Path) {
        run(Command::new("umount").arg(mnt));
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for m in self.mounts() {
            let ok = Command::new("umount")
                .arg(&m)
                .status()
                .map(|s| s.success())
                .unwrap_or(false);
            if !ok {
                // Still busy (a process holds it): detach lazily so the loop device is freed when it lets go.
                let _ = Command::new("umount").arg("-l").arg(&m).status();
            }
        }
    }
}

/// Runs a command and panics with its stderr if it fails.
pub fn run(cmd: &mut Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("running {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Writes `len` bytes of a pattern derived from `seed` to `path`.
pub fn write_pattern(path: &Path, len: usize, seed: u8) {
    let data: Vec<u8> = (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect();
    fs::write(path, data).expect("writing test data");
}

/// True when `path` holds exactly the pattern [`write_pattern`] wrote for `seed`.
pub fn has_pattern(path: &Path, len: usize, seed: u8) -> bool {
    match fs::read(path) {
        Ok(d) => {
            d.len() == len
                && d.iter()
                    .enumerate()
                    .all(|(i, b)| *b == (i as u8).wrapping_mul(31).wrapping_add(seed))
        }
        Err(_) => false,
    }
}
