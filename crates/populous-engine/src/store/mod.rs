//! The embedded metadata store: one SQLite database in the Populous home.
//!
//! SQLite in WAL mode gives atomic, durable transactions that survive
//! `kill -9` and power loss, and lets readers run while one writer works.
//! Multi-step operations are made crash-safe on top of it by an intent
//! record (`ops`) written before the filesystem is touched; see
//! [`crate::engine`] for how those are reconciled.
//!
//! Writers from different processes are serialised by an exclusive `flock`
//! on `<home>/populous.lock`, held for the whole of an operation, so an intent
//! found while holding the lock always belongs to a process that died.
//!
//! Every statement the engine runs lives in a submodule here, one per table,
//! behind typed functions: the engine's operations read as steps.
//! - [`state`]: the typed values stored as text (states, intent kinds, backends);
//! - [`pools`], [`folders`], [`volumes`], [`snapshots`]: rows and their statements;
//! - [`ops`]: intent records and the rows they tag;
//! - [`sources`]: replicas of outside servers and their snapshots' positions;
//! - [`events`]: the outbox of volume events and their webhook deliveries.

pub mod events;
pub mod folders;
pub mod lifecycle;
pub mod ops;
pub mod pools;
pub mod snapshots;
pub mod sources;
pub mod state;
pub mod volumes;

use std::fs::{File, OpenOptions};
use std::os::fd::AsRawFd;
use std::path::Path;
use std::time::Duration;

use rusqlite::Connection;

use crate::error::{Error, Result};

/// The schema version this code writes.
pub const SCHEMA_VERSION: i64 = 8;

/// Columns that volumes and snapshots share: masking provenance, the intent
/// tag and the creation time. One text for both tables, so they cannot drift.
macro_rules! tagged_columns {
    () => {
        r#"
    masked              INTEGER NOT NULL DEFAULT 0,
    mask_ruleset        TEXT,
    mask_key_id         TEXT,
    masked_at           INTEGER,
    op_id               INTEGER REFERENCES ops(id),
    created_at          INTEGER NOT NULL,
"#
    };
}

const SCHEMA_V1: &str = concat!(
    r#"
CREATE TABLE pools (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    name        TEXT NOT NULL UNIQUE,
    root        TEXT NOT NULL UNIQUE,
    backend     TEXT NOT NULL,
    fs          TEXT NOT NULL,
    image       TEXT,
    token       TEXT NOT NULL,
    created_at  INTEGER NOT NULL
);
CREATE TABLE folders (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    pool_id         INTEGER NOT NULL REFERENCES pools(id),
    name            TEXT NOT NULL UNIQUE,
    clone_from      TEXT,
    import_from     TEXT,
    require_masked  INTEGER NOT NULL DEFAULT 0,
    created_at      INTEGER NOT NULL
);
-- Intent records: one per multi-step operation in flight.
CREATE TABLE ops (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    kind        TEXT NOT NULL,          -- 'create' (roll back) or 'destroy' (roll forward) or 'pool_create'
    detail      TEXT NOT NULL DEFAULT '',
    pid         INTEGER NOT NULL,
    started_at  INTEGER NOT NULL
);
CREATE TABLE volumes (
    id                  INTEGER PRIMARY KEY AUTOINCREMENT,
    folder_id           INTEGER NOT NULL REFERENCES folders(id),
    name                TEXT NOT NULL,
    state               TEXT NOT NULL,  -- creating | online | offline | destroying
    size_bytes          INTEGER,
    description         TEXT,
    origin_snapshot_id  INTEGER REFERENCES snapshots(id) ON DELETE SET NULL,
    origin              TEXT,           -- folder/volume@snapshot at clone time, kept for lineage
"#,
    tagged_columns!(),
    r#"    UNIQUE (folder_id, name)
);
CREATE TABLE snapshots (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    volume_id       INTEGER NOT NULL REFERENCES volumes(id),
    name            TEXT NOT NULL,
    state           TEXT NOT NULL,      -- creating | ready | destroying
    consistency     TEXT NOT NULL DEFAULT 'crash',
"#,
    tagged_columns!(),
    r#"    UNIQUE (volume_id, name)
);
CREATE INDEX snapshots_volume ON snapshots(volume_id);
CREATE INDEX volumes_origin ON volumes(origin_snapshot_id);
CREATE INDEX volumes_op ON volumes(op_id);
CREATE INDEX snapshots_op ON snapshots(op_id);
"#
);

/// Version 2: volume labels, consumer mounts, access tokens and the audit log.
const SCHEMA_V2: &str = r#"
CREATE TABLE labels (
    volume_id   INTEGER NOT NULL REFERENCES volumes(id) ON DELETE CASCADE,
    key         TEXT NOT NULL,
    value       TEXT NOT NULL,
    PRIMARY KEY (volume_id, key)
);
-- Who has a volume mounted right now (e.g. one row per Docker container mount ID).
CREATE TABLE mounts (
    volume_id   INTEGER NOT NULL REFERENCES volumes(id) ON DELETE CASCADE,
    mount_id    TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (volume_id, mount_id)
);
CREATE TABLE tokens (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    name        TEXT NOT NULL UNIQUE,
    hash        TEXT NOT NULL UNIQUE,   -- SHA-256 of the secret; the secret itself is never stored
    folders     TEXT NOT NULL,          -- comma-separated folder names
    admin       INTEGER NOT NULL,
    created_at  INTEGER NOT NULL
);
CREATE TABLE audit (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    at          INTEGER NOT NULL,
    actor       TEXT NOT NULL,
    action      TEXT NOT NULL,
    target      TEXT NOT NULL,
    outcome     TEXT NOT NULL
);
"#;

/// Version 3: the scan that follows masking (JSON), in provenance.
const SCHEMA_V3: &str = r#"
ALTER TABLE volumes ADD COLUMN mask_scan TEXT;
ALTER TABLE snapshots ADD COLUMN mask_scan TEXT;
"#;

/// Version 4: sources (a replica of an outside server on a volume) and the
/// replication position each of their snapshots holds. A source names its
/// volume by id without a foreign key: the engine refuses to destroy a
/// source's volume before any row changes, rather than failing mid-destroy.
const SCHEMA_V4: &str = r#"
CREATE TABLE sources (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    name        TEXT NOT NULL UNIQUE,
    volume_id   INTEGER NOT NULL UNIQUE,
    url         TEXT NOT NULL,          -- mysql://user@host:port, never a password
    password_file TEXT NOT NULL,        -- where the password is read from, not the password
    mode        TEXT NOT NULL,          -- physical | logical
    server_id   INTEGER NOT NULL,
    schedule    TEXT,                   -- cron expression, or NULL for none
    keep        INTEGER NOT NULL,
    created_at  INTEGER NOT NULL
);
CREATE TABLE source_snapshots (
    snapshot_id INTEGER PRIMARY KEY REFERENCES snapshots(id) ON DELETE CASCADE,
    source_id   INTEGER NOT NULL REFERENCES sources(id) ON DELETE CASCADE,
    gtid        TEXT NOT NULL,          -- gtid_slave_pos the snapshot holds
    base        TEXT                    -- folder/volume of its clean base, once made
);
"#;

/// Version 5: where a source's datadir is on this host, when the server
/// reports another path (it runs in a container): a physical seed reads there.
const SCHEMA_V5: &str = r#"
ALTER TABLE sources ADD COLUMN datadir TEXT;
"#;

/// Version 6: volumes' lifecycle (expiry and protection), one row per
/// volume that has one.
const SCHEMA_V6: &str = r#"
CREATE TABLE volume_lifecycle (
    volume_id       INTEGER PRIMARY KEY REFERENCES volumes(id) ON DELETE CASCADE,
    expires_at      INTEGER,            -- Unix seconds; NULL: never
    protected       INTEGER NOT NULL DEFAULT 0,
    protected_until INTEGER             -- with protected: the lease's end; NULL: none
);
CREATE INDEX volume_lifecycle_expiry ON volume_lifecycle(expires_at);
"#;

/// Version 7: idle delete: how long a volume may go without client activity,
/// and when its server last had some.
const SCHEMA_V7: &str = r#"
ALTER TABLE volume_lifecycle ADD COLUMN idle_after INTEGER;      -- seconds; NULL: never idle-deleted
ALTER TABLE volume_lifecycle ADD COLUMN last_active_at INTEGER;  -- Unix seconds; NULL: not since created
"#;

/// Opens (creating if needed) the database at `path` and brings its schema up to date.
pub fn open(path: &Path) -> Result<Connection> {
    let mut conn = Connection::open(path)?;
    // The metadata names every tenant's volumes and holds token hashes: only
    // its owner reads it. SQLite gives the -wal and -shm files the same mode.
    {
        use std::os::unix::fs::PermissionsExt;
        let private = std::fs::Permissions::from_mode(0o600);
        std::fs::set_permissions(path, private)
            .map_err(Error::io("making the metadata store private", path))?;
    }
    conn.busy_timeout(Duration::from_secs(30))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    // FULL: a committed transaction survives power loss, not only a process crash.
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    let current: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if current == SCHEMA_VERSION {
        return Ok(conn);
    }
    // Read the version again inside the write transaction, so two processes opening a
    // new home at once do not both migrate. Each step commits with its version.
    for (v, sql) in [
        (1, SCHEMA_V1),
        (2, SCHEMA_V2),
        (3, SCHEMA_V3),
        (4, SCHEMA_V4),
        (5, SCHEMA_V5),
        (6, SCHEMA_V6),
        (7, SCHEMA_V7),
        // The event outbox: tables of its own, so any number fits it.
        (8, events::SCHEMA),
    ] {
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let version: i64 = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        if version > SCHEMA_VERSION {
            return Err(Error::SchemaTooNew {
                path: path.to_owned(),
                found: version,
                supported: SCHEMA_VERSION,
            });
        }
        if version < v {
            tx.execute_batch(&format!("{sql} PRAGMA user_version = {v};"))?;
        }
        tx.commit()?;
    }
    Ok(conn)
}

/// An exclusive lock on the Populous home, released on drop.
#[derive(Debug)]
pub struct HomeLock {
    _file: File,
}

/// Takes the exclusive writer lock of `home`, waiting for other writers.
pub fn lock(home: &Path) -> Result<HomeLock> {
    lock_file(&home.join("populous.lock"))
}

/// Takes the lock that serialises mounting image pools (readers may mount too,
/// so this cannot be the writer lock, and it is never held while waiting for it).
pub fn mount_lock(home: &Path) -> Result<HomeLock> {
    lock_file(&home.join("mount.lock"))
}

fn lock_file(path: &Path) -> Result<HomeLock> {
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .map_err(Error::io("opening lock file", path))?;
    loop {
        // SAFETY: flock on an open descriptor has no memory-safety preconditions.
        let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) };
        if rc == 0 {
            return Ok(HomeLock { _file: file });
        }
        let err = std::io::Error::last_os_error();
        if err.raw_os_error() != Some(libc::EINTR) {
            return Err(Error::io("locking", path)(err));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn the_store_and_its_wal_are_private() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("populous.db");
        // Created readable by everyone (as before this fix), then opened.
        std::fs::write(&path, b"").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let conn = open(&path).unwrap();
        conn.execute_batch("CREATE TABLE t (x); INSERT INTO t VALUES (1);")
            .unwrap();
        for f in ["populous.db", "populous.db-wal", "populous.db-shm"] {
            let mode = std::fs::metadata(dir.path().join(f))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600, "{f}");
        }
    }
}
