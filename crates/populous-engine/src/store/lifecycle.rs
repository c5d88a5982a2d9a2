//! The `volume_lifecycle` table: when a volume expires and whether it is
//! protected. A volume without a row never expires and is not protected.

use rusqlite::{params, Connection, OptionalExtension};

use super::state::VolState;
use crate::error::Result;

/// A volume's lifecycle as stored.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LifecycleRow {
    /// Unix seconds; `None`: never.
    pub expires_at: Option<i64>,
    /// Protected from expiry.
    pub protected: bool,
    /// With `protected`: the lease's end; `None`: no end.
    pub protected_until: Option<i64>,
    /// Seconds without client activity after which it goes; `None`: never.
    pub idle_after: Option<i64>,
    /// When its server last had a client; `None`: not since it was made.
    pub last_active_at: Option<i64>,
}

const COLUMNS: &str = "expires_at, protected, protected_until, idle_after, last_active_at";

fn row_at(r: &rusqlite::Row<'_>, at: usize) -> rusqlite::Result<LifecycleRow> {
    Ok(LifecycleRow {
        expires_at: r.get(at)?,
        protected: r.get::<_, i64>(at + 1)? != 0,
        protected_until: r.get(at + 2)?,
        idle_after: r.get(at + 3)?,
        last_active_at: r.get(at + 4)?,
    })
}

/// The lifecycle of volume `volume_id` (the default when it has no row).
pub fn get(db: &Connection, volume_id: i64) -> Result<LifecycleRow> {
    Ok(db
        .query_row(
            &format!("SELECT {COLUMNS} FROM volume_lifecycle WHERE volume_id = ?1"),
            [volume_id],
            |r| row_at(r, 0),
        )
        .optional()?
        .unwrap_or_default())
}

/// Replaces the lifecycle of volume `volume_id`.
pub fn set(db: &Connection, volume_id: i64, l: &LifecycleRow) -> Result<()> {
    db.execute(
        &format!(
            "INSERT INTO volume_lifecycle (volume_id, {COLUMNS}) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT(volume_id) DO UPDATE SET \
             expires_at = ?2, protected = ?3, protected_until = ?4, idle_after = ?5, \
             last_active_at = ?6"
        ),
        params![
            volume_id,
            l.expires_at,
            l.protected as i64,
            l.protected_until,
            l.idle_after,
            l.last_active_at
        ],
    )?;
    Ok(())
}

/// Live volumes whose expiry is at or before `now`, or idle for their
/// `idle_after` by `now` (counted from their creation when their server
/// never had a client): folder, name, creation time, lifecycle.
pub fn due(db: &Connection, now: i64) -> Result<Vec<(String, String, i64, LifecycleRow)>> {
    select(
        db,
        "(l.expires_at IS NOT NULL AND l.expires_at <= ?1) OR (l.idle_after IS NOT NULL \
         AND COALESCE(l.last_active_at, v.created_at) + l.idle_after <= ?1)",
        now,
    )
}

/// Live volumes with an `idle_after`: folder, name, creation time, lifecycle.
pub fn watched_for_idle(db: &Connection) -> Result<Vec<(String, String, i64, LifecycleRow)>> {
    select(db, "l.idle_after IS NOT NULL AND ?1 = ?1", 0)
}

fn select(
    db: &Connection,
    condition: &str,
    now: i64,
) -> Result<Vec<(String, String, i64, LifecycleRow)>> {
    let mut st = db.prepare(&format!(
        "SELECT f.name, v.name, v.created_at, l.expires_at, l.protected, l.protected_until, \
         l.idle_after, l.last_active_at \
         FROM volume_lifecycle l JOIN volumes v ON v.id = l.volume_id \
         JOIN folders f ON f.id = v.folder_id \
         WHERE ({condition}) AND v.state IN (?2, ?3) \
         ORDER BY l.expires_at, f.name, v.name"
    ))?;
    let rows = st.query_map(params![now, VolState::Online, VolState::Offline], |r| {
        Ok((r.get(0)?, r.get(1)?, r.get(2)?, row_at(r, 3)?))
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}
