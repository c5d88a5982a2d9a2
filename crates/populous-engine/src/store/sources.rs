//! The `sources` and `source_snapshots` tables.

use rusqlite::{params, Connection, OptionalExtension, Row};

use crate::error::Result;

/// A source as stored.
#[derive(Debug, Clone)]
pub struct SourceRow {
    pub id: i64,
    pub name: String,
    pub volume_id: i64,
    pub url: String,
    pub password_file: String,
    pub mode: String,
    pub server_id: u32,
    pub schedule: Option<String>,
    pub keep: u32,
    pub created_at: i64,
    pub datadir: Option<String>,
}

const COLS: &str =
    "id, name, volume_id, url, password_file, mode, server_id, schedule, keep, created_at, datadir";

fn row(r: &Row<'_>) -> rusqlite::Result<SourceRow> {
    Ok(SourceRow {
        id: r.get(0)?,
        name: r.get(1)?,
        volume_id: r.get(2)?,
        url: r.get(3)?,
        password_file: r.get(4)?,
        mode: r.get(5)?,
        server_id: r.get(6)?,
        schedule: r.get(7)?,
        keep: r.get(8)?,
        created_at: r.get(9)?,
        datadir: r.get(10)?,
    })
}

/// The source called `name`, if any.
pub fn by_name(db: &Connection, name: &str) -> Result<Option<SourceRow>> {
    Ok(db
        .query_row(
            &format!("SELECT {COLS} FROM sources WHERE name = ?1"),
            [name],
            row,
        )
        .optional()?)
}

/// The source whose replica is volume `volume_id`, if any.
pub fn by_volume(db: &Connection, volume_id: i64) -> Result<Option<SourceRow>> {
    Ok(db
        .query_row(
            &format!("SELECT {COLS} FROM sources WHERE volume_id = ?1"),
            [volume_id],
            row,
        )
        .optional()?)
}

/// Every source, by name.
pub fn all(db: &Connection) -> Result<Vec<SourceRow>> {
    let mut st = db.prepare(&format!("SELECT {COLS} FROM sources ORDER BY name"))?;
    let rows = st.query_map([], row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Adds a source; returns its id.
pub fn insert(db: &Connection, s: &SourceRow) -> Result<i64> {
    db.execute(
        "INSERT INTO sources (name, volume_id, url, password_file, mode, server_id, schedule, keep, created_at, datadir) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        params![
            s.name,
            s.volume_id,
            s.url,
            s.password_file,
            s.mode,
            s.server_id,
            s.schedule,
            s.keep,
            s.created_at,
            s.datadir
        ],
    )?;
    Ok(db.last_insert_rowid())
}

/// Replaces a source's schedule and retention.
pub fn set_schedule(db: &Connection, id: i64, schedule: Option<&str>, keep: u32) -> Result<()> {
    db.execute(
        "UPDATE sources SET schedule = ?2, keep = ?3 WHERE id = ?1",
        params![id, schedule, keep],
    )?;
    Ok(())
}

/// Points a source at another volume, with its replica's new `server_id`.
pub fn set_volume(db: &Connection, id: i64, volume_id: i64, server_id: u32) -> Result<()> {
    db.execute(
        "UPDATE sources SET volume_id = ?2, server_id = ?3 WHERE id = ?1",
        params![id, volume_id, server_id],
    )?;
    Ok(())
}

/// Removes a source and its snapshot records (not the snapshots).
pub fn delete(db: &Connection, id: i64) -> Result<()> {
    db.execute("DELETE FROM sources WHERE id = ?1", [id])?;
    Ok(())
}

/// A snapshot of a source's replica, as stored.
#[derive(Debug, Clone)]
pub struct SourceSnapRow {
    pub snapshot_id: i64,
    pub snapshot: String,
    pub gtid: String,
    pub base: Option<String>,
    pub created_at: i64,
}

/// Records the replication position a snapshot holds.
pub fn insert_snapshot(
    db: &Connection,
    source_id: i64,
    snapshot_id: i64,
    gtid: &str,
) -> Result<()> {
    db.execute(
        "INSERT INTO source_snapshots (snapshot_id, source_id, gtid) VALUES (?1, ?2, ?3)",
        params![snapshot_id, source_id, gtid],
    )?;
    Ok(())
}

/// Records a snapshot's clean base.
pub fn set_base(db: &Connection, snapshot_id: i64, base: &str) -> Result<()> {
    db.execute(
        "UPDATE source_snapshots SET base = ?2 WHERE snapshot_id = ?1",
        params![snapshot_id, base],
    )?;
    Ok(())
}

/// A source's snapshots that still exist, oldest first.
pub fn snapshots_of(db: &Connection, source_id: i64) -> Result<Vec<SourceSnapRow>> {
    let mut st = db.prepare(
        "SELECT ss.snapshot_id, s.name, ss.gtid, ss.base, s.created_at \
         FROM source_snapshots ss JOIN snapshots s ON s.id = ss.snapshot_id \
         WHERE ss.source_id = ?1 AND s.state = 'ready' ORDER BY s.id",
    )?;
    let rows = st.query_map([source_id], |r| {
        Ok(SourceSnapRow {
            snapshot_id: r.get(0)?,
            snapshot: r.get(1)?,
            gtid: r.get(2)?,
            base: r.get(3)?,
            created_at: r.get(4)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}
