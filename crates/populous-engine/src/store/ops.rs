//! The `ops` table: intent records, and the volume and snapshot rows they tag.
//!
//! See [`crate::engine`] for the protocol these statements implement.

use rusqlite::{params, Connection};

use super::state::{OpKind, SnapState, VolState};
use crate::error::Result;

/// An intent record.
#[derive(Debug, Clone)]
pub struct OpRow {
    pub id: i64,
    /// Its kind as stored; parsed by the caller, so that one unknown kind
    /// (from a newer version) is kept and reported rather than failing all.
    pub kind: String,
    pub detail: String,
}

/// A row tagged with an intent, whose directory has to go when it is undone.
#[derive(Debug, Clone, Copy)]
pub struct Tagged {
    pub is_snapshot: bool,
    pub id: i64,
    pub pool_id: i64,
}

/// Records an intent of this process; returns its id.
pub fn insert(db: &Connection, kind: OpKind, detail: &str, at: i64) -> Result<i64> {
    db.execute(
        "INSERT INTO ops (kind, detail, pid, started_at) VALUES (?1, ?2, ?3, ?4)",
        params![kind, detail, std::process::id(), at],
    )?;
    Ok(db.last_insert_rowid())
}

/// Every intent, oldest first.
pub fn all(db: &Connection) -> Result<Vec<OpRow>> {
    let mut st = db.prepare("SELECT id, kind, detail FROM ops ORDER BY id")?;
    let rows = st.query_map([], |r| {
        Ok(OpRow {
            id: r.get(0)?,
            kind: r.get(1)?,
            detail: r.get(2)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// How many intents are pending.
pub fn count(db: &Connection) -> Result<u64> {
    let n: i64 = db.query_row("SELECT count(*) FROM ops", [], |r| r.get(0))?;
    Ok(n as u64)
}

/// The snapshot and volume rows tagged with `op`, snapshots first.
pub fn tagged(db: &Connection, op: i64) -> Result<Vec<Tagged>> {
    let mut st = db.prepare(
        "SELECT 1, s.id, f.pool_id FROM snapshots s JOIN volumes v ON v.id = s.volume_id \
           JOIN folders f ON f.id = v.folder_id WHERE s.op_id = ?1 \
         UNION ALL \
         SELECT 0, v.id, f.pool_id FROM volumes v JOIN folders f ON f.id = v.folder_id WHERE v.op_id = ?1",
    )?;
    let rows = st.query_map([op], |r| {
        Ok(Tagged {
            is_snapshot: r.get::<_, i64>(0)? == 1,
            id: r.get(1)?,
            pool_id: r.get(2)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Deletes the rows tagged with `op`, and the intent.
pub fn delete_tagged(db: &Connection, op: i64) -> Result<()> {
    // Snapshots first: a volume row cannot go while snapshot rows point at it.
    db.execute("DELETE FROM snapshots WHERE op_id = ?1", [op])?;
    db.execute("DELETE FROM volumes WHERE op_id = ?1", [op])?;
    delete(db, op)
}

/// Makes the rows tagged with `op` ready and online, and deletes the intent.
pub fn finish(db: &Connection, op: i64) -> Result<()> {
    db.execute(
        "UPDATE snapshots SET op_id = NULL, state = ?2 WHERE op_id = ?1",
        params![op, SnapState::Ready],
    )?;
    db.execute(
        "UPDATE volumes SET op_id = NULL, state = ?2 WHERE op_id = ?1",
        params![op, VolState::Online],
    )?;
    delete(db, op)
}

/// Deletes an intent record.
pub fn delete(db: &Connection, op: i64) -> Result<()> {
    db.execute("DELETE FROM ops WHERE id = ?1", [op])?;
    Ok(())
}
