//! Tree-walking backends: `reflink` (FICLONE per file) and `copy` (bytes).
//!
//! Both walk the source tree and recreate it entry by entry, keeping modes,
//! owners, times, symlinks, hard links and special files, so a database
//! datadir owned by `mysql` comes out usable. They differ only in how a
//! regular file's contents are reproduced.
//!
//! A file or directory with btrfs's `NOCOW` flag (a database's datadir) gets
//! the flag on its copy before any contents: btrfs refuses to reflink between
//! a NOCOW and a COW file, and a copied datadir stays as fast as its origin.
//!
//! The copy backend reads and writes bytes itself on purpose: `copy_file_range`
//! would let the kernel reflink on the same filesystem, and the baseline must
//! measure a real copy.

use std::collections::HashMap;
use std::ffi::CString;
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use super::{Backend, BackendKind};
use crate::error::{Error, Result};

/// Per-file FICLONE: constant in bytes, linear in the number of files.
#[derive(Debug, Clone, Copy)]
pub struct Reflink;

/// A full byte-for-byte copy: the baseline that copy-on-write is measured against.
#[derive(Debug, Clone, Copy)]
pub struct Copy;

/// `FICLONE` = `_IOW(0x94, 9, int)`.
const FICLONE: u64 = (1 << 30) | (4 << 16) | (0x94 << 8) | 9;

#[derive(Clone, Copy, PartialEq)]
enum Contents {
    Reflink,
    Bytes,
}

impl Backend for Reflink {
    fn kind(&self) -> BackendKind {
        BackendKind::Reflink
    }
    fn create(&self, dst: &Path) -> Result<()> {
        create_dir(dst)
    }
    fn snapshot(&self, src: &Path, dst: &Path) -> Result<()> {
        copy_tree(src, dst, Contents::Reflink)
    }
    fn clone_from(&self, src: &Path, dst: &Path) -> Result<()> {
        copy_tree(src, dst, Contents::Reflink)
    }
    fn destroy(&self, path: &Path) -> Result<()> {
        remove_tree(path)
    }
}

impl Backend for Copy {
    fn kind(&self) -> BackendKind {
        BackendKind::Copy
    }
    fn create(&self, dst: &Path) -> Result<()> {
        create_dir(dst)
    }
    fn snapshot(&self, src: &Path, dst: &Path) -> Result<()> {
        copy_tree(src, dst, Contents::Bytes)
    }
    fn clone_from(&self, src: &Path, dst: &Path) -> Result<()> {
        copy_tree(src, dst, Contents::Bytes)
    }
    fn destroy(&self, path: &Path) -> Result<()> {
        remove_tree(path)
    }
}

fn create_dir(dst: &Path) -> Result<()> {
    fs::DirBuilder::new()
        .mode(0o755)
        .create(dst)
        .map_err(Error::io("creating directory", dst))
}

/// Removes a tree; a missing tree is fine (destroy must be idempotent).
pub(crate) fn remove_tree(path: &Path) -> Result<()> {
    match fs::remove_dir_all(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        other => other.map_err(Error::io("removing", path)),
    }
}

/// Clones one open file into another with FICLONE.
pub fn reflink_file(src: &File, dst: &File, dst_path: &Path) -> Result<()> {
    // SAFETY: FICLONE takes the source descriptor as its integer argument; both fds are open.
    let rc = unsafe { libc::ioctl(dst.as_raw_fd(), FICLONE as _, src.as_raw_fd()) };
    if rc == 0 {
        return Ok(());
    }
    let err = std::io::Error::last_os_error();
    match err.raw_os_error() {
        Some(libc::EOPNOTSUPP) | Some(libc::EINVAL) | Some(libc::EXDEV) | Some(libc::ENOTTY) => {
            Err(Error::Unsupported {
                detail: format!(
                    "the filesystem under {} cannot reflink ({err}): a btrfs or XFS (reflink=1) pool can, and only a copy pool works without it",
                    dst_path.display()
                ),
                case: crate::error::Case::NoCopyOnWrite,
            })
        }
        _ => Err(Error::io("reflinking", dst_path)(err)),
    }
}

fn copy_bytes(mut src: &File, mut dst: &File, dst_path: &Path) -> Result<()> {
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = src.read(&mut buf).map_err(Error::io("reading", dst_path))?;
        if n == 0 {
            return Ok(());
        }
        dst.write_all(&buf[..n])
            .map_err(Error::io("writing", dst_path))?;
    }
}

fn cstring(p: &Path) -> Result<CString> {
    CString::new(p.as_os_str().as_bytes()).map_err(|_| Error::InvalidInput {
        what: "path",
        detail: format!("{} contains a NUL byte", p.display()),
    })
}

/// Sets owner and times of `dst` from `md`, without following symlinks.
fn copy_attrs(dst: &Path, md: &fs::Metadata) -> Result<()> {
    let c = cstring(dst)?;
    // SAFETY: `c` is a valid NUL-terminated path; the calls do not retain it.
    let rc = unsafe { libc::lchown(c.as_ptr(), md.uid(), md.gid()) };
    if rc != 0 {
        return Err(Error::io("changing owner", dst)(
            std::io::Error::last_os_error(),
        ));
    }
    if !md.file_type().is_symlink() {
        fs::set_permissions(
            dst,
            std::os::unix::fs::PermissionsExt::from_mode(md.mode() & 0o7777),
        )
        .map_err(Error::io("changing mode", dst))?;
    }
    let times = [
        libc::timespec {
            tv_sec: md.atime(),
            tv_nsec: md.atime_nsec(),
        },
        libc::timespec {
            tv_sec: md.mtime(),
            tv_nsec: md.mtime_nsec(),
        },
    ];
    // SAFETY: as above; `times` is a two-element array as utimensat requires.
    let rc = unsafe {
        libc::utimensat(
            libc::AT_FDCWD,
            c.as_ptr(),
            times.as_ptr(),
            libc::AT_SYMLINK_NOFOLLOW,
        )
    };
    if rc != 0 {
        return Err(Error::io("setting times", dst)(
            std::io::Error::last_os_error(),
        ));
    }
    Ok(())
}

fn copy_file(src: &Path, dst: &Path, md: &fs::Metadata, how: Contents) -> Result<()> {
    let s = File::open(src).map_err(Error::io("opening", src))?;
    let d = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(dst)
        .map_err(Error::io("creating", dst))?;
    keep_nocow(&s, &d, dst)?;
    match how {
        Contents::Reflink => reflink_file(&s, &d, dst)?,
        Contents::Bytes => copy_bytes(&s, &d, dst)?,
    }
    drop(d);
    copy_attrs(dst, md)
}

fn make_special(dst: &Path, md: &fs::Metadata) -> Result<()> {
    let c = cstring(dst)?;
    // SAFETY: valid path; mode and rdev come from the source's own metadata.
    let rc = unsafe {
        libc::mknod(
            c.as_ptr(),
            md.mode() as libc::mode_t,
            md.rdev() as libc::dev_t,
        )
    };
    if rc != 0 {
        return Err(Error::io("creating special file", dst)(
            std::io::Error::last_os_error(),
        ));
    }
    copy_attrs(dst, md)
}

/// Gives the empty `dst` the `NOCOW` flag when `src` has it (see the module doc).
fn keep_nocow(src: &File, dst: &File, dst_path: &Path) -> Result<()> {
    let nocow = crate::attr::is_nocow_file(src).map_err(Error::io("reading flags", dst_path))?;
    if nocow && !crate::attr::is_nocow_file(dst).map_err(Error::io("reading flags", dst_path))? {
        crate::attr::set_nocow_file(dst).map_err(Error::io("setting nodatacow", dst_path))?;
    }
    Ok(())
}

/// Makes the directory `dst` (mode 0700 until its attributes are copied),
/// `NOCOW` when `src` is.
fn make_dir(src: &Path, dst: &Path) -> Result<()> {
    fs::DirBuilder::new()
        .mode(0o700)
        .create(dst)
        .map_err(Error::io("creating directory", dst))?;
    let s = File::open(src).map_err(Error::io("opening", src))?;
    let d = File::open(dst).map_err(Error::io("opening", dst))?;
    keep_nocow(&s, &d, dst)
}

/// Recreates the tree at `src` as `dst`, which must not exist.
fn copy_tree(src: &Path, dst: &Path, how: Contents) -> Result<()> {
    let root_md = fs::symlink_metadata(src).map_err(Error::io("reading", src))?;
    make_dir(src, dst)?;
    // Hard links: (dev, ino) of a multiply-linked source file -> its first copy.
    let mut links: HashMap<(u64, u64), PathBuf> = HashMap::new();
    // Directories get their attributes after their contents, so times stick.
    let mut dirs: Vec<(PathBuf, fs::Metadata)> = vec![(dst.to_owned(), root_md)];
    let mut stack: Vec<(PathBuf, PathBuf)> = vec![(src.to_owned(), dst.to_owned())];
    while let Some((sdir, ddir)) = stack.pop() {
        for entry in fs::read_dir(&sdir).map_err(Error::io("listing", &sdir))? {
            let entry = entry.map_err(Error::io("listing", &sdir))?;
            let s = entry.path();
            let d = ddir.join(entry.file_name());
            let md = fs::symlink_metadata(&s).map_err(Error::io("reading", &s))?;
            let ft = md.file_type();
            if ft.is_dir() {
                make_dir(&s, &d)?;
                dirs.push((d.clone(), md));
                stack.push((s, d));
            } else if ft.is_symlink() {
                let target = fs::read_link(&s).map_err(Error::io("reading link", &s))?;
                std::os::unix::fs::symlink(&target, &d).map_err(Error::io("creating link", &d))?;
                copy_attrs(&d, &md)?;
            } else if ft.is_file() {
                if md.nlink() > 1 {
                    if let Some(first) = links.get(&(md.dev(), md.ino())) {
                        fs::hard_link(first, &d).map_err(Error::io("linking", &d))?;
                        continue;
                    }
                    links.insert((md.dev(), md.ino()), d.clone());
                }
                copy_file(&s, &d, &md, how)?;
            } else {
                make_special(&d, &md)?;
            }
        }
    }
    for (d, md) in dirs.iter().rev() {
        copy_attrs(d, md)?;
    }
    Ok(())
}
