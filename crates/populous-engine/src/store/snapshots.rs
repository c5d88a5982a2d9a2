//! The `snapshots` table.

use rusqlite::{params, Connection, OptionalExtension, Row};

use super::state::{SnapState, StoredConsistency, VolState};
use super::volumes::prov_from;
use crate::error::Result;
use crate::model::{Consistency, Provenance};

/// A snapshot as stored.
#[derive(Debug, Clone)]
pub struct SnapRow {
    pub id: i64,
    pub volume_id: i64,
    pub name: String,
    pub consistency: Consistency,
    pub prov: Provenance,
    pub created_at: i64,
}

const COLS: &str = "s.id, s.volume_id, s.name, s.consistency, s.masked, s.mask_ruleset, \
     s.mask_key_id, s.masked_at, s.mask_scan, s.created_at";

fn row(r: &Row<'_>) -> rusqlite::Result<SnapRow> {
    Ok(SnapRow {
        id: r.get(0)?,
        volume_id: r.get(1)?,
        name: r.get(2)?,
        consistency: r.get::<_, StoredConsistency>(3)?.into(),
        prov: prov_from(r, 4)?,
        created_at: r.get(9)?,
    })
}

/// The ready snapshot `name` of a volume, if any.
pub fn ready(db: &Connection, volume_id: i64, name: &str) -> Result<Option<SnapRow>> {
    Ok(db
        .query_row(
            &format!(
                "SELECT {COLS} FROM snapshots s WHERE s.volume_id = ?1 AND s.name = ?2 AND s.state = ?3"
            ),
            params![volume_id, name, SnapState::Ready],
            row,
        )
        .optional()?)
}

/// The snapshot with id `id`, in any state.
pub fn by_id(db: &Connection, id: i64) -> Result<SnapRow> {
    Ok(db.query_row(
        &format!("SELECT {COLS} FROM snapshots s WHERE s.id = ?1"),
        [id],
        row,
    )?)
}

/// The ready snapshots of a volume, oldest first.
pub fn of_volume(db: &Connection, volume_id: i64) -> Result<Vec<SnapRow>> {
    let mut st = db.prepare_cached(&format!(
        "SELECT {COLS} FROM snapshots s WHERE s.volume_id = ?1 AND s.state = ?2 ORDER BY s.id"
    ))?;
    let rows = st.query_map(params![volume_id, SnapState::Ready], row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Whether any snapshot row of a volume, in any state, holds `name`.
pub fn name_taken(db: &Connection, volume_id: i64, name: &str) -> Result<bool> {
    Ok(db
        .query_row(
            "SELECT 1 FROM snapshots WHERE volume_id = ?1 AND name = ?2",
            params![volume_id, name],
            |_| Ok(()),
        )
        .optional()?
        .is_some())
}

/// Adds a snapshot of a volume in state `creating`, tagged with intent `op`;
/// it inherits the volume's provenance. Returns its id.
pub fn insert(
    db: &Connection,
    volume_id: i64,
    prov: &Provenance,
    name: &str,
    consistency: Consistency,
    op: i64,
    created_at: i64,
) -> Result<i64> {
    db.execute(
        "INSERT INTO snapshots (volume_id, name, state, consistency, masked, mask_ruleset, mask_key_id, masked_at, \
           mask_scan, op_id, created_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
        params![
            volume_id,
            name,
            SnapState::Creating,
            StoredConsistency::from(consistency),
            prov.masked as i64,
            prov.mask_ruleset,
            prov.mask_key_id,
            prov.masked_at,
            super::volumes::scan_text(prov),
            op,
            created_at
        ],
    )?;
    Ok(db.last_insert_rowid())
}

/// Marks one snapshot `destroying` under intent `op`.
pub fn begin_destroy(db: &Connection, id: i64, op: i64) -> Result<()> {
    db.execute(
        "UPDATE snapshots SET state = ?3, op_id = ?2 WHERE id = ?1",
        params![id, op, SnapState::Destroying],
    )?;
    Ok(())
}

/// Marks every snapshot of a volume `destroying` under intent `op`.
pub fn begin_destroy_of_volume(db: &Connection, volume_id: i64, op: i64) -> Result<()> {
    db.execute(
        "UPDATE snapshots SET state = ?3, op_id = ?2 WHERE volume_id = ?1",
        params![volume_id, op, SnapState::Destroying],
    )?;
    Ok(())
}

/// Live volumes cloned from a snapshot, as `folder/volume`, sorted.
pub fn clones(db: &Connection, snapshot_id: i64) -> Result<Vec<String>> {
    let mut st = db.prepare_cached(
        "SELECT f.name || '/' || v.name FROM volumes v JOIN folders f ON f.id = v.folder_id \
         WHERE v.origin_snapshot_id = ?1 AND v.state IN (?2, ?3) ORDER BY 1",
    )?;
    let rows = st.query_map(
        params![snapshot_id, VolState::Online, VolState::Offline],
        |r| r.get(0),
    )?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Ids of every snapshot row in a pool, in any state.
pub fn ids_in_pool(db: &Connection, pool_id: i64) -> Result<Vec<i64>> {
    let mut st = db.prepare(
        "SELECT s.id FROM snapshots s JOIN volumes v ON v.id = s.volume_id \
         JOIN folders f ON f.id = v.folder_id WHERE f.pool_id = ?1",
    )?;
    let rows = st.query_map([pool_id], |r| r.get(0))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}
