//! The `pools` table.

use std::path::{Path, PathBuf};

use rusqlite::{params, Connection, OptionalExtension, Row};

use crate::backend::BackendKind;
use crate::error::Result;

/// A pool as stored.
#[derive(Debug, Clone)]
pub struct PoolRow {
    pub id: i64,
    pub name: String,
    pub root: PathBuf,
    pub backend: BackendKind,
    pub fs: String,
    pub image: Option<PathBuf>,
    pub token: String,
    pub created_at: i64,
}

/// What a new pool row holds.
#[derive(Debug)]
pub struct NewPool<'a> {
    pub name: &'a str,
    pub root: &'a Path,
    pub backend: BackendKind,
    pub fs: &'a str,
    pub image: Option<&'a Path>,
    pub token: &'a str,
    pub created_at: i64,
}

const COLS: &str = "id, name, root, backend, fs, image, token, created_at";

fn row(r: &Row<'_>) -> rusqlite::Result<PoolRow> {
    Ok(PoolRow {
        id: r.get(0)?,
        name: r.get(1)?,
        root: PathBuf::from(r.get::<_, String>(2)?),
        backend: r.get(3)?,
        fs: r.get(4)?,
        image: r.get::<_, Option<String>>(5)?.map(PathBuf::from),
        token: r.get(6)?,
        created_at: r.get(7)?,
    })
}

/// The pool called `name`, if any.
pub fn by_name(db: &Connection, name: &str) -> Result<Option<PoolRow>> {
    Ok(db
        .query_row(
            &format!("SELECT {COLS} FROM pools WHERE name = ?1"),
            [name],
            row,
        )
        .optional()?)
}

/// The pool with id `id` (which a folder row points at, so it exists).
pub fn by_id(db: &Connection, id: i64) -> Result<PoolRow> {
    Ok(db.query_row(
        &format!("SELECT {COLS} FROM pools WHERE id = ?1"),
        [id],
        row,
    )?)
}

/// Every pool, by name.
pub fn all(db: &Connection) -> Result<Vec<PoolRow>> {
    let mut st = db.prepare(&format!("SELECT {COLS} FROM pools ORDER BY name"))?;
    let rows = st.query_map([], row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Adds a pool; returns its id.
pub fn insert(db: &Connection, p: &NewPool<'_>) -> Result<i64> {
    db.execute(
        "INSERT INTO pools (name, root, backend, fs, image, token, created_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![
            p.name,
            p.root.to_string_lossy(),
            p.backend,
            p.fs,
            p.image.map(|i| i.to_string_lossy().into_owned()),
            p.token,
            p.created_at
        ],
    )?;
    Ok(db.last_insert_rowid())
}

/// Removes a pool row (its folders must be gone).
pub fn delete(db: &Connection, id: i64) -> Result<()> {
    db.execute("DELETE FROM pools WHERE id = ?1", [id])?;
    Ok(())
}

/// Names of the folders in a pool, sorted.
pub fn folder_names(db: &Connection, pool_id: i64) -> Result<Vec<String>> {
    let mut st = db.prepare("SELECT name FROM folders WHERE pool_id = ?1 ORDER BY name")?;
    let rows = st.query_map([pool_id], |r| r.get(0))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// How many folders a pool holds.
pub fn folder_count(db: &Connection, pool_id: i64) -> Result<u64> {
    let n: i64 = db.query_row(
        "SELECT count(*) FROM folders WHERE pool_id = ?1",
        [pool_id],
        |r| r.get(0),
    )?;
    Ok(n as u64)
}
