//! What a datadir copied from another server carries that a clone must not
//! keep: that server's binary logs, relay logs and replication state.
//!
//! A clone of prod's datadir holds prod's binary logs (every original value
//! ever written) and, for a replica, the relay logs and `master.info` with
//! the replication password in clear. Populous's own servers run without a
//! binary log and without replication, so none of these files is used:
//! [`forget_logs`] removes them before a server starts on a clone that is
//! to be masked or handed out.

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
}
