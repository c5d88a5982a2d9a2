//! The btrfs backend: every volume and snapshot is a subvolume.
//!
//! It speaks to the kernel by ioctl rather than by running `btrfs`: a snapshot
//! is one system call and a transaction commit, so its time does not depend on
//! the data size, and btrfs-progs is needed only to format image pools.
//! Snapshots of btrfs subvolumes are independent of their source, so any of
//! them can be destroyed without breaking another.

use std::ffi::CString;
use std::fs::File;
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use super::{Backend, BackendKind};
use crate::error::{Error, Result};

/// The btrfs subvolume backend.
#[derive(Debug, Clone, Copy)]
pub struct Btrfs;

const BTRFS_PATH_NAME_MAX: usize = 4087;
const BTRFS_SUBVOL_NAME_MAX: usize = 4039;
const BTRFS_SUBVOL_RDONLY: u64 = 1 << 1;

/// `struct btrfs_ioctl_vol_args` from `linux/btrfs.h`.
#[repr(C)]
struct VolArgs {
    fd: i64,
    name: [u8; BTRFS_PATH_NAME_MAX + 1],
}

/// `struct btrfs_ioctl_vol_args_v2` from `linux/btrfs.h`.
#[repr(C)]
struct VolArgsV2 {
    fd: i64,
    transid: u64,
    flags: u64,
    unused: [u64; 4],
    name: [u8; BTRFS_SUBVOL_NAME_MAX + 1],
}

const fn iow(nr: u64, size: usize) -> u64 {
    (1 << 30) | ((size as u64) << 16) | (0x94 << 8) | nr
}
const BTRFS_IOC_SUBVOL_CREATE: u64 = iow(14, std::mem::size_of::<VolArgs>());
const BTRFS_IOC_SNAP_DESTROY: u64 = iow(15, std::mem::size_of::<VolArgs>());
const BTRFS_IOC_SNAP_CREATE_V2: u64 = iow(23, std::mem::size_of::<VolArgsV2>());

/// Opens the parent directory of `path` and returns it with the last component.
fn parent_and_name(path: &Path) -> Result<(File, CString)> {
    let parent = path.parent().ok_or_else(|| Error::InvalidInput {
        what: "path",
        detail: format!("{} has no parent", path.display()),
    })?;
    let name = path.file_name().ok_or_else(|| Error::InvalidInput {
        what: "path",
        detail: format!("{} has no file name", path.display()),
    })?;
    let dir = File::open(parent).map_err(Error::io("opening directory", parent))?;
    let name = CString::new(name.as_bytes()).map_err(|_| Error::InvalidInput {
        what: "path",
        detail: format!("{} contains a NUL byte", path.display()),
    })?;
    Ok((dir, name))
}

fn copy_name(dst: &mut [u8], name: &CString) -> Result<()> {
    let bytes = name.as_bytes();
    if bytes.len() >= dst.len() {
        return Err(Error::InvalidInput {
            what: "path",
            detail: "subvolume name too long".into(),
        });
    }
    dst[..bytes.len()].copy_from_slice(bytes);
    Ok(())
}

fn ioctl<T>(fd: &File, request: u64, arg: &mut T, doing: &'static str, path: &Path) -> Result<()> {
    // SAFETY: `arg` is a live, properly sized `#[repr(C)]` struct matching the
    // kernel's layout for `request`, and `fd` is an open descriptor.
    let rc = unsafe { libc::ioctl(fd.as_raw_fd(), request as _, arg as *mut T) };
    if rc < 0 {
        return Err(Error::Io {
            doing,
            path: path.to_owned(),
            source: std::io::Error::last_os_error(),
        });
    }
    Ok(())
}

fn snapshot(src: &Path, dst: &Path, flags: u64, doing: &'static str) -> Result<()> {
    let source = File::open(src).map_err(Error::io("opening subvolume", src))?;
    let (dir, name) = parent_and_name(dst)?;
    let mut args = VolArgsV2 {
        fd: i64::from(source.as_raw_fd()),
        transid: 0,
        flags,
        unused: [0; 4],
        name: [0; BTRFS_SUBVOL_NAME_MAX + 1],
    };
    copy_name(&mut args.name, &name)?;
    ioctl(&dir, BTRFS_IOC_SNAP_CREATE_V2, &mut args, doing, dst)
}

/// True when `path` is the root of a btrfs subvolume (inode 256).
fn is_subvolume(path: &Path) -> std::io::Result<bool> {
    use std::os::unix::fs::MetadataExt;
    let md = std::fs::symlink_metadata(path)?;
    Ok(md.is_dir() && md.ino() == 256)
}

impl Backend for Btrfs {
    fn kind(&self) -> BackendKind {
        BackendKind::Btrfs
    }

    fn create(&self, dst: &Path) -> Result<()> {
        let (dir, name) = parent_and_name(dst)?;
        let mut args = VolArgs {
            fd: 0,
            name: [0; BTRFS_PATH_NAME_MAX + 1],
        };
        copy_name(&mut args.name, &name)?;
        ioctl(
            &dir,
            BTRFS_IOC_SUBVOL_CREATE,
            &mut args,
            "creating subvolume",
            dst,
        )
    }

    fn snapshot(&self, src: &Path, dst: &Path) -> Result<()> {
        snapshot(src, dst, BTRFS_SUBVOL_RDONLY, "creating read-only snapshot")
    }

    fn clone_from(&self, src: &Path, dst: &Path) -> Result<()> {
        snapshot(src, dst, 0, "creating writable snapshot")
    }

    fn destroy(&self, path: &Path) -> Result<()> {
        match is_subvolume(path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(Error::io("inspecting", path)(e)),
            // Not a subvolume: a stray directory left by something else; remove it plainly.
            Ok(false) => return super::tree::remove_tree(path),
            Ok(true) => {}
        }
        let (dir, name) = parent_and_name(path)?;
        let mut args = VolArgs {
            fd: 0,
            name: [0; BTRFS_PATH_NAME_MAX + 1],
        };
        copy_name(&mut args.name, &name)?;
        match ioctl(
            &dir,
            BTRFS_IOC_SNAP_DESTROY,
            &mut args,
            "destroying subvolume",
            path,
        ) {
            Err(Error::Io { source, .. }) if source.raw_os_error() == Some(libc::ENOENT) => Ok(()),
            // Read-only snapshots can be destroyed by root directly; EPERM here means a
            // kernel that insists the subvolume be writable first.
            Err(Error::Io { source, .. }) if source.raw_os_error() == Some(libc::EPERM) => {
                set_readonly(path, false)?;
                ioctl(
                    &dir,
                    BTRFS_IOC_SNAP_DESTROY,
                    &mut args,
                    "destroying subvolume",
                    path,
                )
            }
            other => other,
        }
    }
}

const BTRFS_IOC_SUBVOL_GETFLAGS: u64 = (2 << 30) | (8 << 16) | (0x94 << 8) | 25;
const BTRFS_IOC_SUBVOL_SETFLAGS: u64 = (1 << 30) | (8 << 16) | (0x94 << 8) | 26;

/// Sets or clears the read-only flag of a subvolume.
fn set_readonly(path: &Path, ro: bool) -> Result<()> {
    let f = File::open(path).map_err(Error::io("opening subvolume", path))?;
    let mut flags: u64 = 0;
    ioctl(
        &f,
        BTRFS_IOC_SUBVOL_GETFLAGS,
        &mut flags,
        "reading subvolume flags",
        path,
    )?;
    if ro {
        flags |= BTRFS_SUBVOL_RDONLY;
    } else {
        flags &= !BTRFS_SUBVOL_RDONLY;
    }
    ioctl(
        &f,
        BTRFS_IOC_SUBVOL_SETFLAGS,
        &mut flags,
        "setting subvolume flags",
        path,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ioctl_numbers_match_linux_headers() {
        // Values from linux/btrfs.h as computed by the C preprocessor.
        assert_eq!(std::mem::size_of::<VolArgs>(), 4096);
        assert_eq!(std::mem::size_of::<VolArgsV2>(), 4096);
        assert_eq!(BTRFS_IOC_SUBVOL_CREATE, 0x5000_940e);
        assert_eq!(BTRFS_IOC_SNAP_DESTROY, 0x5000_940f);
        assert_eq!(BTRFS_IOC_SNAP_CREATE_V2, 0x5000_9417);
        assert_eq!(BTRFS_IOC_SUBVOL_GETFLAGS, 0x8008_9419);
        assert_eq!(BTRFS_IOC_SUBVOL_SETFLAGS, 0x4008_941a);
    }
}
