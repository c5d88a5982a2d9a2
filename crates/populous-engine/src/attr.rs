//! Inode attributes that change how a filesystem writes a file: `nodatacow`.
//!
//! btrfs's `NOCOW` flag (`chattr +C`) makes a file's blocks be overwritten in
//! place instead of copied on every write, and turns off btrfs's data
//! checksums for it. Databases (InnoDB has its own page checksums and
//! doublewrite buffer) run much faster on such files. A snapshot or a reflink
//! still shares a NOCOW file's extents; the first write to a shared extent
//! copies it once, and later writes go in place again.
//!
//! The flag only takes on an empty file. A directory carrying it passes it on
//! to every file and directory created in it afterwards, so the way to get a
//! NOCOW datadir is to set the flag on the empty directory. btrfs refuses to
//! reflink between a NOCOW and a COW file (`EINVAL`), which is why the tree
//! backends copy the flag before they clone a file's contents.
//!
//! On filesystems without the flag (XFS, ext4, tmpfs) reading gives `false`
//! and setting fails with `ENOTTY`/`EOPNOTSUPP`/`EINVAL`.

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::path::Path;

/// `FS_NOCOW_FL` from `linux/fs.h`.
const FS_NOCOW_FL: libc::c_int = 0x0080_0000;

fn get_flags(f: &File) -> io::Result<libc::c_int> {
    let mut flags: libc::c_int = 0;
    // SAFETY: FS_IOC_GETFLAGS writes one int (the kernel's inode flags) to the
    // pointer; `flags` lives for the call and `f` is an open descriptor.
    let rc = unsafe { libc::ioctl(f.as_raw_fd(), libc::FS_IOC_GETFLAGS, &mut flags) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(flags)
}

fn unsupported(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::ENOTTY) | Some(libc::EOPNOTSUPP) | Some(libc::EINVAL)
    )
}

/// Whether the open file or directory `f` has `NOCOW`. A filesystem without
/// inode flags gives `false`.
pub fn is_nocow_file(f: &File) -> io::Result<bool> {
    match get_flags(f) {
        Ok(flags) => Ok(flags & FS_NOCOW_FL != 0),
        Err(e) if unsupported(&e) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Whether `path` (a file or a directory; symlinks are not followed into) has `NOCOW`.
pub fn is_nocow(path: &Path) -> io::Result<bool> {
    is_nocow_file(&File::open(path)?)
}

/// Sets `NOCOW` on the open file or directory `f`. For a regular file this only
/// takes while it is empty (btrfs ignores it on a file with data); for a
/// directory, on what is created in it from now on.
pub fn set_nocow_file(f: &File) -> io::Result<()> {
    let flags = get_flags(f)?;
    if flags & FS_NOCOW_FL != 0 {
        return Ok(());
    }
    let new = flags | FS_NOCOW_FL;
    // SAFETY: FS_IOC_SETFLAGS reads one int from the pointer; `new` lives for the call.
    let rc = unsafe { libc::ioctl(f.as_raw_fd(), libc::FS_IOC_SETFLAGS, &new) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Sets `NOCOW` on the directory or empty file at `path`.
pub fn set_nocow(path: &Path) -> io::Result<()> {
    set_nocow_file(&File::open(path)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plain_temp_dir_reads_without_error() {
        // Whatever filesystem the temp dir is on, reading the flag works.
        assert!(is_nocow(&std::env::temp_dir()).is_ok());
    }
}
