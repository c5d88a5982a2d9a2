//! The host side of pools: filesystem detection, image files, loop mounts.
//!
//! External tools (`mkfs.btrfs`, `mkfs.xfs`, `mount`, `umount`) are run with
//! [`std::process::Command`] and explicit arguments, never through a shell,
//! and every argument is a path the engine built or checked itself.

use std::ffi::OsStr;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::backend::{tree::reflink_file, BackendKind};
use crate::error::{Case, Error, Result};

/// A filesystem a pool can live on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FsKind {
    /// btrfs.
    Btrfs,
    /// XFS.
    Xfs,
}

impl FsKind {
    /// Lowercase name, as in `--fs`.
    pub fn as_str(self) -> &'static str {
        match self {
            FsKind::Btrfs => "btrfs",
            FsKind::Xfs => "xfs",
        }
    }
}

impl std::str::FromStr for FsKind {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "btrfs" => Ok(FsKind::Btrfs),
            "xfs" => Ok(FsKind::Xfs),
            other => Err(Error::InvalidInput {
                what: "filesystem",
                detail: format!("{other:?} is not one of btrfs, xfs"),
            }),
        }
    }
}

const BTRFS_SUPER_MAGIC: i64 = 0x9123_683E;
const XFS_SUPER_MAGIC: i64 = 0x5846_5342;

/// Space figures of a mounted filesystem.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct Space {
    /// Total bytes.
    pub total: u64,
    /// Bytes available to unprivileged users.
    pub available: u64,
}

fn statfs(path: &Path) -> Result<libc::statfs> {
    let c =
        std::ffi::CString::new(path.as_os_str().as_bytes()).map_err(|_| Error::InvalidInput {
            what: "path",
            detail: format!("{} contains a NUL byte", path.display()),
        })?;
    // SAFETY: zeroed statfs is a valid out-parameter; `c` is a valid C string.
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: see above.
    let rc = unsafe { libc::statfs(c.as_ptr(), &mut st) };
    if rc != 0 {
        return Err(Error::io("reading filesystem type", path)(
            std::io::Error::last_os_error(),
        ));
    }
    Ok(st)
}

/// Returns the filesystem under `path` if it is one we know, or its type name otherwise.
pub fn detect_fs(path: &Path) -> Result<std::result::Result<FsKind, String>> {
    let st = statfs(path)?;
    #[allow(clippy::unnecessary_cast)] // f_type's width differs between architectures
    let magic = st.f_type as i64;
    Ok(match magic {
        BTRFS_SUPER_MAGIC => Ok(FsKind::Btrfs),
        XFS_SUPER_MAGIC => Ok(FsKind::Xfs),
        0x6969 => Err("nfs".into()),
        0xEF53 => Err("ext4".into()),
        0x0102_1994 => Err("tmpfs".into()),
        0x794C_7630 => Err("overlayfs".into()),
        0x6573_5546 => Err("fuse".into()),
        other => Err(format!("filesystem type 0x{other:x}")),
    })
}

/// Free and total space of the filesystem under `path`.
pub fn space(path: &Path) -> Result<Space> {
    let st = statfs(path)?;
    #[allow(clippy::unnecessary_cast)]
    let bsize = st.f_bsize as u64;
    #[allow(clippy::unnecessary_cast)]
    Ok(Space {
        total: st.f_blocks as u64 * bsize,
        available: st.f_bavail as u64 * bsize,
    })
}

/// True when a FICLONE between two files in `dir` works.
pub fn can_reflink(dir: &Path) -> Result<bool> {
    let a = dir.join(format!(".populous-probe-{}-a", std::process::id()));
    let b = dir.join(format!(".populous-probe-{}-b", std::process::id()));
    let result = (|| {
        // The clone source must be open for reading: FICLONE fails with EBADF otherwise.
        let mut fa = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&a)
            .map_err(Error::io("creating probe file", &a))?;
        fa.write_all(&[0u8; 4096])
            .map_err(Error::io("writing probe file", &a))?;
        fa.sync_all().map_err(Error::io("writing probe file", &a))?;
        let fb = File::create(&b).map_err(Error::io("creating probe file", &b))?;
        match reflink_file(&fa, &fb, &b) {
            Ok(()) => Ok(true),
            Err(Error::Unsupported { .. }) => Ok(false),
            Err(e) => Err(e),
        }
    })();
    let _ = fs::remove_file(&a);
    let _ = fs::remove_file(&b);
    result
}

/// Picks the backend for a pool at `root`, honouring an explicit request.
///
/// Copy is only ever chosen when asked for: a filesystem that cannot do
/// copy-on-write is refused with [`Case::NoCopyOnWrite`], which the CLI turns
/// into advice to ask for the copy backend.
pub fn choose_backend(
    root: &Path,
    requested: Option<BackendKind>,
) -> Result<(BackendKind, String)> {
    let fs = detect_fs(root)?;
    let fs_name = match &fs {
        Ok(k) => k.as_str().to_owned(),
        Err(other) => other.clone(),
    };
    let refuse = |why: String| {
        Error::Unsupported {
        detail: format!(
            "{} is on {fs_name}, which {why}: copy-on-write needs btrfs or reflink-capable XFS; only the copy backend (slow full copies) works here",
            root.display()
        ),
        case: Case::NoCopyOnWrite,
    }
    };
    let kind = match (requested, &fs) {
        (Some(BackendKind::Copy), _) => BackendKind::Copy,
        (None | Some(BackendKind::Btrfs), Ok(FsKind::Btrfs)) => BackendKind::Btrfs,
        (Some(BackendKind::Btrfs), _) => {
            return Err(Error::Unsupported {
                detail: format!(
                    "{} is on {fs_name}, not btrfs: the btrfs backend needs a btrfs filesystem",
                    root.display()
                ),
                case: Case::NotBtrfs,
            })
        }
        (None | Some(BackendKind::Reflink), _) => {
            if can_reflink(root)? {
                BackendKind::Reflink
            } else {
                return Err(refuse(
                    "cannot reflink files (for XFS, format with -m reflink=1)".into(),
                ));
            }
        }
    };
    Ok((kind, fs_name))
}

/// Runs a command and returns its stdout; a missing program becomes [`Error::MissingTool`].
pub fn run(cmd: &mut Command, tool: &'static str, package: &'static str) -> Result<String> {
    let out = cmd.output().map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            Error::MissingTool { tool, package }
        } else {
            Error::Io {
                doing: "running",
                path: PathBuf::from(tool),
                source: e,
            }
        }
    })?;
    if !out.status.success() {
        return Err(Error::Command {
            command: describe(cmd),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn describe(cmd: &Command) -> String {
    let mut s = cmd.get_program().to_string_lossy().into_owned();
    for a in cmd.get_args() {
        s.push(' ');
        s.push_str(&a.to_string_lossy());
    }
    s
}

/// Creates a sparse image file of `size` bytes and formats it. The file must not exist.
pub fn make_image(image: &Path, size: u64, fs: FsKind) -> Result<()> {
    let f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(image)
        .map_err(|e| {
            if e.kind() == std::io::ErrorKind::AlreadyExists {
                Error::AlreadyExists {
                    what: "image file",
                    name: image.display().to_string(),
                    hint: String::new(),
                    case: crate::error::Case::ImageExists,
                }
            } else if e.kind() == std::io::ErrorKind::PermissionDenied {
                // The caller named a place this process may not write: theirs to change.
                Error::PermissionDenied {
                    doing: "cannot create image file",
                    path: image.to_owned(),
                }
            } else {
                Error::io("creating image file", image)(e)
            }
        })?;
    f.set_len(size)
        .map_err(Error::io("sizing image file", image))?;
    drop(f);
    let formatted = match fs {
        FsKind::Btrfs => run(
            Command::new("mkfs.btrfs")
                .args([OsStr::new("-q"), OsStr::new("-f")])
                .arg(image),
            "mkfs.btrfs",
            "btrfs-progs",
        ),
        FsKind::Xfs => run(
            Command::new("mkfs.xfs")
                .args(["-q", "-f", "-m", "reflink=1"])
                .arg(image),
            "mkfs.xfs",
            "xfsprogs",
        ),
    };
    if let Err(e) = formatted {
        let _ = fs::remove_file(image);
        return Err(e);
    }
    Ok(())
}

/// Loop-mounts `image` at `dir`. `mount -o loop` sets autoclear, so unmounting frees the loop device.
pub fn mount_image(image: &Path, dir: &Path) -> Result<()> {
    fs::create_dir_all(dir).map_err(Error::io("creating mount point", dir))?;
    run(
        Command::new("mount")
            .args(["-o", "loop,noatime"])
            .arg(image)
            .arg(dir),
        "mount",
        "mount",
    )?;
    Ok(())
}

/// Unmounts `dir`; not being mounted is fine.
pub fn unmount(dir: &Path) -> Result<()> {
    if !is_mountpoint(dir)? {
        return Ok(());
    }
    run(Command::new("umount").arg(dir), "umount", "mount")?;
    Ok(())
}

/// True when `dir` is the mount point of a mounted filesystem.
pub fn is_mountpoint(dir: &Path) -> Result<bool> {
    let Ok(canon) = fs::canonicalize(dir) else {
        return Ok(false);
    };
    let info = fs::read_to_string("/proc/self/mountinfo")
        .map_err(Error::io("reading", "/proc/self/mountinfo"))?;
    Ok(info.lines().any(|line| {
        line.split(' ')
            .nth(4)
            .is_some_and(|mp| Path::new(&unescape_mount(mp)) == canon)
    }))
}

/// Mount points at or below `dir`, deepest first.
pub fn mounts_below(dir: &Path) -> Result<Vec<PathBuf>> {
    let Ok(canon) = fs::canonicalize(dir) else {
        return Ok(Vec::new());
    };
    let info = fs::read_to_string("/proc/self/mountinfo")
        .map_err(Error::io("reading", "/proc/self/mountinfo"))?;
    let mut found: Vec<PathBuf> = info
        .lines()
        .filter_map(|line| line.split(' ').nth(4))
        .map(|mp| PathBuf::from(unescape_mount(mp)))
        .filter(|p| p.starts_with(&canon))
        .collect();
    found.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    found.dedup();
    Ok(found)
}

/// Undoes the octal escapes (`\040` for a space) of /proc/self/mountinfo.
fn unescape_mount(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            out.push((b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0'));
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A random 128-bit token in hex, from the kernel's generator.
pub fn random_token() -> Result<String> {
    let mut buf = [0u8; 16];
    // SAFETY: `buf` is a writable buffer of the given length.
    let n = unsafe { libc::getrandom(buf.as_mut_ptr().cast(), buf.len(), 0) };
    if n != buf.len() as isize {
        return Err(Error::io("reading random bytes", "getrandom")(
            std::io::Error::last_os_error(),
        ));
    }
    Ok(buf.iter().map(|b| format!("{b:02x}")).collect())
}

/// Bytes allocated by the files under `path` (hard links once), like `du -s`.
pub fn used_bytes(path: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    let mut seen = std::collections::HashSet::new();
    let mut total = 0u64;
    let mut stack = vec![path.to_owned()];
    while let Some(dir) = stack.pop() {
        let Ok(rd) = fs::read_dir(&dir) else { continue };
        for e in rd.flatten() {
            let Ok(md) = e.metadata() else { continue };
            if md.nlink() > 1 && !md.is_dir() && !seen.insert((md.dev(), md.ino())) {
                continue;
            }
            total += md.blocks() * 512;
            if md.is_dir() {
                stack.push(e.path());
            }
        }
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mountinfo_escapes() {
        assert_eq!(unescape_mount("/a\\040b"), "/a b");
        assert_eq!(unescape_mount("/plain"), "/plain");
        assert_eq!(unescape_mount("/end\\04"), "/end\\04");
    }
}
