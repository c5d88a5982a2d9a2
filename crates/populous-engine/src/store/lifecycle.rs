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
}

/// The lifecycle of volume `volume_id` (the default when it has no row).
pub fn get(db: &Connection, volume_id: i64) -> Result<LifecycleRow> {
    Ok(db
        .query_row(
            "SELECT expires_at, protected, protected_until FROM volume_lifecycle WHERE volume_id = ?1",
            [volume_id],
            |r| {
                Ok(LifecycleRow {
                    expires_at: r.get(0)?,
                    protected: r.get::<_, i64>(1)? != 0,
                    protected_until: r.get(2)?,
                })
            },
        )
        .optional()?
        .unwrap_or_default())
}

/// Replaces the lifecycle of volume `volume_id`.
pub fn set(db: &Connection, volume_id: i64, l: &LifecycleRow) -> Result<()> {
    db.execute(
        "INSERT INTO volume_lifecycle (volume_id, expires_at, protected, protected_until) \
         VALUES (?1, ?2, ?3, ?4) ON CONFLICT(volume_id) DO UPDATE SET \
         expires_at = ?2, protected = ?3, protected_until = ?4",
        params![
            volume_id,
            l.expires_at,
            l.protected as i64,
            l.protected_until
        ],
    )?;
    Ok(())
}

/// Live volumes whose expiry is at or before `now`: folder, name, lifecycle.
pub fn due(db: &Connection, now: i64) -> Result<Vec<(String, String, LifecycleRow)>> {
    let mut st = db.prepare(
        "SELECT f.name, v.name, l.expires_at, l.protected, l.protected_until \
         FROM volume_lifecycle l JOIN volumes v ON v.id = l.volume_id \
         JOIN folders f ON f.id = v.folder_id \
         WHERE l.expires_at IS NOT NULL AND l.expires_at <= ?1 AND v.state IN (?2, ?3) \
         ORDER BY l.expires_at, f.name, v.name",
    )?;
    let rows = st.query_map(params![now, VolState::Online, VolState::Offline], |r| {
        Ok((
            r.get(0)?,
            r.get(1)?,
            LifecycleRow {
                expires_at: r.get(2)?,
                protected: r.get::<_, i64>(3)? != 0,
                protected_until: r.get(4)?,
            },
        ))
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}
