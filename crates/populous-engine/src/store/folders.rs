//! The `folders` table.

use rusqlite::{params, Connection, OptionalExtension, Row};

use crate::error::Result;
use crate::model::{Allowed, FolderPolicy};
use crate::name::Name;

/// A folder as stored.
#[derive(Debug, Clone)]
pub struct FolderRow {
    pub id: i64,
    pub pool_id: i64,
    pub name: String,
    pub policy: FolderPolicy,
    pub created_at: i64,
}

const COLS: &str = "id, pool_id, name, clone_from, import_from, require_masked, created_at";

// Policy lists are stored comma-separated (names cannot contain commas);
// NULL is any folder, the empty string none.
fn list_from(s: Option<String>) -> Allowed {
    match s {
        None => Allowed::Any,
        Some(s) => Allowed::Only(
            s.split(',')
                .filter(|p| !p.is_empty())
                .map(|p| Name::from_stored(p.to_owned()))
                .collect(),
        ),
    }
}

fn list_text(l: &Allowed) -> Option<String> {
    match l {
        Allowed::Any => None,
        Allowed::Only(v) => Some(v.iter().map(Name::as_str).collect::<Vec<_>>().join(",")),
    }
}

fn row(r: &Row<'_>) -> rusqlite::Result<FolderRow> {
    Ok(FolderRow {
        id: r.get(0)?,
        pool_id: r.get(1)?,
        name: r.get(2)?,
        policy: FolderPolicy {
            clone_from: list_from(r.get(3)?),
            import_from: list_from(r.get(4)?),
            require_masked: r.get::<_, i64>(5)? != 0,
        },
        created_at: r.get(6)?,
    })
}

/// The folder called `name`, if any (folder names are unique across pools).
pub fn by_name(db: &Connection, name: &str) -> Result<Option<FolderRow>> {
    Ok(db
        .query_row(
            &format!("SELECT {COLS} FROM folders WHERE name = ?1"),
            [name],
            row,
        )
        .optional()?)
}

/// Every folder, by name.
pub fn all(db: &Connection) -> Result<Vec<FolderRow>> {
    let mut st = db.prepare(&format!("SELECT {COLS} FROM folders ORDER BY name"))?;
    let rows = st.query_map([], row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Adds a folder to a pool; returns its id.
pub fn insert(
    db: &Connection,
    pool_id: i64,
    name: &str,
    policy: &FolderPolicy,
    created_at: i64,
) -> Result<i64> {
    db.execute(
        "INSERT INTO folders (pool_id, name, clone_from, import_from, require_masked, created_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![
            pool_id,
            name,
            list_text(&policy.clone_from),
            list_text(&policy.import_from),
            policy.require_masked as i64,
            created_at
        ],
    )?;
    Ok(db.last_insert_rowid())
}

/// Replaces a folder's policy.
pub fn set_policy(db: &Connection, id: i64, policy: &FolderPolicy) -> Result<()> {
    db.execute(
        "UPDATE folders SET clone_from = ?2, import_from = ?3, require_masked = ?4 WHERE id = ?1",
        params![
            id,
            list_text(&policy.clone_from),
            list_text(&policy.import_from),
            policy.require_masked as i64
        ],
    )?;
    Ok(())
}

/// Removes a folder row (its volumes must be gone).
pub fn delete(db: &Connection, id: i64) -> Result<()> {
    db.execute("DELETE FROM folders WHERE id = ?1", [id])?;
    Ok(())
}

/// Every volume row of a folder, in any state, as `name (state)`, sorted.
pub fn volume_names(db: &Connection, folder_id: i64) -> Result<Vec<String>> {
    let mut st = db.prepare(
        "SELECT name || ' (' || state || ')' FROM volumes WHERE folder_id = ?1 ORDER BY name",
    )?;
    let rows = st.query_map([folder_id], |r| r.get(0))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}
