//! What a datadir copied from another server carries that a clone must not
//! keep: that server's binary logs, relay logs and replication state.
//!
//! A clone of prod's datadir holds prod's binary logs (every original value
//! ever written) and, for a replica, the relay logs and `master.info` with
//! the replication password in clear. Populous's own servers run without a
//! binary log and without replication, so none of these files is used:
//! [`forget_logs`] removes them before a server starts on a clone that is
//! to be masked or handed out.
//!
//! The InnoDB doublewrite buffer is the other copy nobody uses at rest:
//! two extents of the system tablespace where InnoDB writes each batch of
//! pages before writing them in place. A batch overwrites its block from
//! the start, so pages flushed by the server the datadir came from stay in
//! the tail of a block for as long as no later batch is as large: a masked
//! clone of a small table kept prod's last flushed pages there. After a
//! clean shutdown the buffer is never read (it only repairs pages torn by a
//! crash), so [`clear_doublewrite`] zeroes it, which InnoDB accepts as empty.

use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;

/// Replication state files, by name.
const REPLICATION_FILES: &[&str] = &[
    "master.info",
    "relay-log.info",
    "multi-master.info",
    "xtrabackup_binlog_info",
    "mariadb_backup_binlog_info",
];

/// Removes binary and relay logs (every file an `*.index` in the datadir's
/// top level lists, and the index) and replication state files; returns the
/// names removed.
pub fn forget_logs(datadir: &Path) -> std::io::Result<Vec<String>> {
    let mut removed = Vec::new();
    for entry in std::fs::read_dir(datadir)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if !entry.file_type()?.is_file() {
            continue;
        }
        let per_connection = (name.starts_with("master-") || name.starts_with("relay-log-"))
            && name.ends_with(".info");
        if name.ends_with(".index") {
            // A binlog or relay-log index: one file name (or ./name) per line.
            let text = std::fs::read_to_string(entry.path())?;
            for line in text.lines() {
                let listed = line.trim().trim_start_matches("./");
                // Only plain names inside the datadir: an index never makes us
                // delete anything elsewhere.
                if listed.is_empty() || listed.contains('/') {
                    continue;
                }
                let p = datadir.join(listed);
                if p.is_file() {
                    std::fs::remove_file(&p)?;
                    removed.push(listed.to_owned());
                }
            }
            std::fs::remove_file(entry.path())?;
            removed.push(name);
        } else if REPLICATION_FILES.contains(&name.as_str()) || per_connection {
            std::fs::remove_file(entry.path())?;
            removed.push(name);
        }
    }
    removed.sort();
    Ok(removed)
}

/// `TRX_SYS_DOUBLEWRITE_MAGIC_N`: marks a system tablespace with a doublewrite buffer.
const DOUBLEWRITE_MAGIC: u32 = 536_853_855;

/// Zeroes the InnoDB doublewrite buffer in `ibdata1`. Only for a datadir
/// whose server shut down cleanly. Returns the pages cleared (0 when there
/// is no `ibdata1` or no doublewrite buffer in it).
pub fn clear_doublewrite(datadir: &Path) -> std::io::Result<u64> {
    let path = datadir.join("ibdata1");
    let mut f = match std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&path)
    {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e),
    };
    // The page size is whichever one puts the magic where the transaction
    // system page (page 5) keeps its doublewrite header (200 bytes before
    // the page's end, after a 10-byte segment header); an extent (a block of
    // the buffer) is 1 MiB, at least 64 pages.
    for page in [16384u64, 4096, 8192, 32768, 65536] {
        let mut header = [0u8; 12];
        f.seek(SeekFrom::Start(5 * page + page - 200 + 10))?;
        if f.read_exact(&mut header).is_err() {
            continue;
        }
        let word =
            |i: usize| u32::from_be_bytes([header[i], header[i + 1], header[i + 2], header[i + 3]]);
        if word(0) != DOUBLEWRITE_MAGIC {
            continue;
        }
        let extent = ((1u64 << 20) / page).max(64);
        let zeros = vec![0u8; (extent * page) as usize];
        for block in [u64::from(word(4)), u64::from(word(8))] {
            f.seek(SeekFrom::Start(block * page))?;
            f.write_all(&zeros)?;
        }
        f.sync_all()?;
        return Ok(2 * extent);
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn removes_logs_an_index_lists_and_replication_state_only() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path();
        for f in [
            "prod-bin.000001",
            "prod-bin.000002",
            "relay.000001",
            "master.info",
            "relay-log.info",
            "master-conn1.info",
            "ibdata1",
            "ib_logfile0",
            "keep.000001",
        ] {
            std::fs::write(p.join(f), b"x").unwrap();
        }
        std::fs::write(
            p.join("prod-bin.index"),
            "./prod-bin.000001\n./prod-bin.000002\n../../etc/passwd\n",
        )
        .unwrap();
        std::fs::write(p.join("relay.index"), "relay.000001\n").unwrap();
        let removed = forget_logs(p).unwrap();
        assert_eq!(
            removed,
            [
                "master-conn1.info",
                "master.info",
                "prod-bin.000001",
                "prod-bin.000002",
                "prod-bin.index",
                "relay-log.info",
                "relay.000001",
                "relay.index"
            ]
        );
        let mut left: Vec<_> = std::fs::read_dir(p)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        left.sort();
        assert_eq!(left, ["ib_logfile0", "ibdata1", "keep.000001"]);
    }

    #[test]
    fn clears_both_doublewrite_blocks_and_nothing_else() {
        let d = tempfile::tempdir().unwrap();
        let page = 16384usize;
        let mut ibdata = vec![0xAAu8; 200 * page];
        let hdr = 5 * page + page - 200 + 10;
        ibdata[hdr..hdr + 4].copy_from_slice(&DOUBLEWRITE_MAGIC.to_be_bytes());
        ibdata[hdr + 4..hdr + 8].copy_from_slice(&64u32.to_be_bytes());
        ibdata[hdr + 8..hdr + 12].copy_from_slice(&128u32.to_be_bytes());
        std::fs::write(d.path().join("ibdata1"), &ibdata).unwrap();
        assert_eq!(clear_doublewrite(d.path()).unwrap(), 128);
        let after = std::fs::read(d.path().join("ibdata1")).unwrap();
        assert!(after[64 * page..192 * page].iter().all(|b| *b == 0));
        assert_eq!(after[..64 * page], ibdata[..64 * page]);
        assert!(after[192 * page..].iter().all(|b| *b == 0xAA));
        // No doublewrite header, or no ibdata1: nothing is touched.
        let other = tempfile::tempdir().unwrap();
        assert_eq!(clear_doublewrite(other.path()).unwrap(), 0);
        std::fs::write(other.path().join("ibdata1"), vec![1u8; 10 * page]).unwrap();
        assert_eq!(clear_doublewrite(other.path()).unwrap(), 0);
        assert!(std::fs::read(other.path().join("ibdata1"))
            .unwrap()
            .iter()
            .all(|b| *b == 1));
    }
}
