//! The `volumes` table, with the labels and consumer mounts that hang off it.

use std::collections::BTreeMap;

use rusqlite::{params, Connection, OptionalExtension, Row};

use super::state::{SnapState, VolState};
use crate::error::{Error, Result};
use crate::model::{Provenance, VolumeSummary};
use crate::name::Name;

/// A volume as stored, with its folder's name.
#[derive(Debug, Clone)]
pub struct VolRow {
    pub id: i64,
    pub folder: String,
    pub name: String,
    pub state: VolState,
    pub size: Option<u64>,
    pub description: Option<String>,
    pub origin_snapshot_id: Option<i64>,
    pub origin: Option<String>,
    pub prov: Provenance,
    pub created_at: i64,
}

/// What a new volume row holds. It starts `creating`, tagged with intent `op`.
#[derive(Debug)]
pub struct NewVolume<'a> {
    pub folder_id: i64,
    pub name: &'a str,
    pub size: Option<u64>,
    pub description: Option<&'a str>,
    pub origin_snapshot_id: Option<i64>,
    pub origin: Option<&'a str>,
    pub prov: &'a Provenance,
    pub op: i64,
    pub created_at: i64,
}

const COLS: &str = "v.id, f.name, v.name, v.state, v.size_bytes, v.description, \
     v.origin_snapshot_id, v.origin, v.masked, v.mask_ruleset, v.mask_key_id, v.masked_at, v.mask_scan, \
     v.created_at";
const FROM: &str = "FROM volumes v JOIN folders f ON f.id = v.folder_id";

/// Reads the five provenance columns starting at `base`.
pub(super) fn prov_from(r: &Row<'_>, base: usize) -> rusqlite::Result<Provenance> {
    Ok(Provenance {
        masked: r.get::<_, i64>(base)? != 0,
        mask_ruleset: r.get(base + 1)?,
        mask_key_id: r.get(base + 2)?,
        masked_at: r.get(base + 3)?,
        // Stored as JSON; an unreadable record counts as no scan.
        scan: r
            .get::<_, Option<String>>(base + 4)?
            .and_then(|s| serde_json::from_str(&s).ok()),
    })
}

/// A scan record as stored.
pub(super) fn scan_text(p: &Provenance) -> Option<String> {
    p.scan.as_ref().and_then(|s| serde_json::to_string(s).ok())
}

fn row(r: &Row<'_>) -> rusqlite::Result<VolRow> {
    Ok(VolRow {
        id: r.get(0)?,
        folder: r.get(1)?,
        name: r.get(2)?,
        state: r.get(3)?,
        size: r.get::<_, Option<i64>>(4)?.map(|s| s as u64),
        description: r.get(5)?,
        origin_snapshot_id: r.get(6)?,
        origin: r.get(7)?,
        prov: prov_from(r, 8)?,
        created_at: r.get(13)?,
    })
}

/// The live (online or offline) volume `name` of a folder, if any.
pub fn live(db: &Connection, folder_id: i64, name: &str) -> Result<Option<VolRow>> {
    Ok(db
        .query_row(
            &format!(
                "SELECT {COLS} {FROM} WHERE v.folder_id = ?1 AND v.name = ?2 AND v.state IN (?3, ?4)"
            ),
            params![folder_id, name, VolState::Online, VolState::Offline],
            row,
        )
        .optional()?)
}

/// The volume with id `id`, in any state.
pub fn by_id(db: &Connection, id: i64) -> Result<VolRow> {
    Ok(db.query_row(&format!("SELECT {COLS} {FROM} WHERE v.id = ?1"), [id], row)?)
}

/// Whether any row of a folder, in any state, holds `name`.
pub fn name_taken(db: &Connection, folder_id: i64, name: &str) -> Result<bool> {
    Ok(db
        .query_row(
            "SELECT 1 FROM volumes WHERE folder_id = ?1 AND name = ?2",
            params![folder_id, name],
            |_| Ok(()),
        )
        .optional()?
        .is_some())
}

/// How many live volumes a folder holds.
pub fn live_count(db: &Connection, folder_id: i64) -> Result<u64> {
    let n: i64 = db.query_row(
        "SELECT count(*) FROM volumes WHERE folder_id = ?1 AND state IN (?2, ?3)",
        params![folder_id, VolState::Online, VolState::Offline],
        |r| r.get(0),
    )?;
    Ok(n as u64)
}

/// Adds a volume in state `creating`; returns its id.
pub fn insert(db: &Connection, v: &NewVolume<'_>) -> Result<i64> {
    db.execute(
        "INSERT INTO volumes (folder_id, name, state, size_bytes, description, origin_snapshot_id, origin, \
           masked, mask_ruleset, mask_key_id, masked_at, mask_scan, op_id, created_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
        params![
            v.folder_id,
            v.name,
            VolState::Creating,
            v.size.map(|s| s as i64),
            v.description,
            v.origin_snapshot_id,
            v.origin,
            v.prov.masked as i64,
            v.prov.mask_ruleset,
            v.prov.mask_key_id,
            v.prov.masked_at,
            scan_text(v.prov),
            v.op,
            v.created_at
        ],
    )?;
    Ok(db.last_insert_rowid())
}

/// Live volumes, online only unless `all`, of one folder or of all, sorted.
pub fn list(db: &Connection, folder_id: Option<i64>, all: bool) -> Result<Vec<VolumeSummary>> {
    // With `all` false, both placeholders name `online`, so one statement serves both.
    let other = if all {
        VolState::Offline
    } else {
        VolState::Online
    };
    let mut st = db.prepare_cached(&format!(
        "SELECT f.name, v.name, v.state, v.size_bytes, v.origin, v.created_at, \
           (SELECT count(*) FROM snapshots s WHERE s.volume_id = v.id AND s.state = ?4), \
           l.expires_at, COALESCE(l.protected, 0), l.protected_until, l.idle_after, \
           l.last_active_at \
         {FROM} LEFT JOIN volume_lifecycle l ON l.volume_id = v.id WHERE v.state IN (?2, ?3) AND (?1 IS NULL OR v.folder_id = ?1) \
         ORDER BY f.name, v.name"
    ))?;
    let rows = st.query_map(
        params![folder_id, VolState::Online, other, SnapState::Ready],
        |r| {
            Ok(VolumeSummary {
                folder: Name::from_stored(r.get(0)?),
                name: Name::from_stored(r.get(1)?),
                state: r.get::<_, VolState>(2)?.public(),
                size_bytes: r.get::<_, Option<i64>>(3)?.map(|s| s as u64),
                origin: r.get(4)?,
                created_at: r.get(5)?,
                snapshots: r.get::<_, i64>(6)? as u64,
                lifecycle: super::lifecycle::LifecycleRow {
                    expires_at: r.get(7)?,
                    protected: r.get::<_, i64>(8)? != 0,
                    protected_until: r.get(9)?,
                    idle_after: r.get(10)?,
                    last_active_at: r.get(11)?,
                }
                .into(),
            })
        },
    )?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Sets a live volume's state.
pub fn set_state(db: &Connection, id: i64, state: VolState) -> Result<()> {
    db.execute(
        "UPDATE volumes SET state = ?2 WHERE id = ?1",
        params![id, state],
    )?;
    Ok(())
}

/// Renames a volume in its folder.
pub fn rename(db: &Connection, id: i64, name: &str) -> Result<()> {
    db.execute(
        "UPDATE volumes SET name = ?2 WHERE id = ?1",
        params![id, name],
    )?;
    Ok(())
}

/// Moves a volume to another folder under `name`, online.
pub fn move_online(db: &Connection, id: i64, folder_id: i64, name: &str) -> Result<()> {
    db.execute(
        "UPDATE volumes SET folder_id = ?2, name = ?3, state = ?4 WHERE id = ?1",
        params![id, folder_id, name, VolState::Online],
    )?;
    Ok(())
}

/// Marks a volume `destroying` under intent `op`; with `rename_to`, it gives up its name too.
pub fn begin_destroy(db: &Connection, id: i64, op: i64, rename_to: Option<&str>) -> Result<()> {
    db.execute(
        "UPDATE volumes SET state = ?3, op_id = ?2, name = coalesce(?4, name) WHERE id = ?1",
        params![id, op, VolState::Destroying, rename_to],
    )?;
    Ok(())
}

/// Records that a volume's data was masked, and how its scan went.
pub fn mark_masked(db: &Connection, id: i64, prov: &Provenance) -> Result<()> {
    db.execute(
        "UPDATE volumes SET masked = ?2, mask_ruleset = ?3, mask_key_id = ?4, masked_at = ?5, mask_scan = ?6 \
         WHERE id = ?1",
        params![
            id,
            prov.masked as i64,
            prov.mask_ruleset,
            prov.mask_key_id,
            prov.masked_at,
            scan_text(prov)
        ],
    )?;
    Ok(())
}

/// Ids of every volume row in a pool, in any state.
pub fn ids_in_pool(db: &Connection, pool_id: i64) -> Result<Vec<i64>> {
    let mut st = db.prepare(&format!("SELECT v.id {FROM} WHERE f.pool_id = ?1"))?;
    let rows = st.query_map([pool_id], |r| r.get(0))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Checks labels against the rules for keys and values.
pub fn validate_labels(labels: &[(String, String)]) -> Result<()> {
    for (k, v) in labels {
        let key_ok = !k.is_empty()
            && k.len() <= 128
            && k.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'/'));
        if !key_ok || v.len() > 4096 {
            return Err(Error::InvalidInput {
                what: "label",
                detail: format!(
                    "{k:?}: keys are 1-128 of [A-Za-z0-9._/-], values at most 4096 bytes"
                ),
            });
        }
    }
    Ok(())
}

/// Sets labels on a volume, replacing values of keys it already has.
/// Removes the labels `keys` of a volume (missing ones are no error).
pub fn unset_labels(db: &Connection, volume_id: i64, keys: &[&str]) -> Result<()> {
    for k in keys {
        db.execute(
            "DELETE FROM labels WHERE volume_id = ?1 AND key = ?2",
            params![volume_id, k],
        )?;
    }
    Ok(())
}

pub fn set_labels(db: &Connection, volume_id: i64, labels: &[(String, String)]) -> Result<()> {
    validate_labels(labels)?;
    for (k, v) in labels {
        db.execute(
            "INSERT INTO labels (volume_id, key, value) VALUES (?1, ?2, ?3) \
             ON CONFLICT (volume_id, key) DO UPDATE SET value = excluded.value",
            params![volume_id, k, v],
        )?;
    }
    Ok(())
}

/// A volume's labels.
pub fn labels(db: &Connection, volume_id: i64) -> Result<BTreeMap<String, String>> {
    let mut st = db.prepare_cached("SELECT key, value FROM labels WHERE volume_id = ?1")?;
    let rows = st.query_map([volume_id], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// The consumer mount ids of a volume, oldest first.
pub fn mounts(db: &Connection, volume_id: i64) -> Result<Vec<String>> {
    let mut st = db.prepare_cached(
        "SELECT mount_id FROM mounts WHERE volume_id = ?1 ORDER BY created_at, mount_id",
    )?;
    let rows = st.query_map([volume_id], |r| r.get(0))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Records a consumer mount; false if it was already recorded.
pub fn add_mount(db: &Connection, volume_id: i64, mount_id: &str, at: i64) -> Result<bool> {
    let n = db.execute(
        "INSERT OR IGNORE INTO mounts (volume_id, mount_id, created_at) VALUES (?1, ?2, ?3)",
        params![volume_id, mount_id, at],
    )?;
    Ok(n > 0)
}

/// Forgets one consumer mount, or all of a volume's with `None`; returns how many went.
pub fn remove_mounts(db: &Connection, volume_id: i64, mount_id: Option<&str>) -> Result<usize> {
    Ok(db.execute(
        "DELETE FROM mounts WHERE volume_id = ?1 AND (?2 IS NULL OR mount_id = ?2)",
        params![volume_id, mount_id],
    )?)
}
