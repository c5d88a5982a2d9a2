//! The event outbox: `events` (what happened to a volume, once) and
//! `event_deliveries` (one row per event and webhook that should hear of it).
//!
//! An event and its deliveries are written in one transaction, so a delivery
//! can never point at a missing event, and a `kill -9` at any point leaves
//! either both or neither. Deliveries are the queue: `pending` rows are sent
//! (again) by whoever runs the deliverer, until `delivered` or `failed`.

use rusqlite::{params, Connection, OptionalExtension};

use crate::error::Result;

/// The outbox's tables, as one migration step of its own (see
/// [`super::open`]): it only adds tables, so it can take any version number.
pub(super) const SCHEMA: &str = r#"
CREATE TABLE events (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    uid         TEXT NOT NULL UNIQUE,   -- the stable id receivers deduplicate by
    at          INTEGER NOT NULL,       -- Unix seconds
    kind        TEXT NOT NULL,          -- create | reset | expire | destroy
    volume      TEXT NOT NULL,          -- folder/name at the time
    actor       TEXT NOT NULL,          -- token name, reaper, local
    detail      TEXT NOT NULL           -- a small JSON object
);
CREATE TABLE event_deliveries (
    event_id        INTEGER NOT NULL REFERENCES events(id) ON DELETE CASCADE,
    hook            TEXT NOT NULL,      -- the webhook's name in the daemon's config
    state           TEXT NOT NULL,      -- pending | delivered | failed
    attempts        INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT,               -- why the last attempt failed; never a secret
    next_attempt_ms INTEGER NOT NULL,   -- Unix milliseconds; backoff needs more than seconds
    delivered_at    INTEGER,            -- Unix seconds
    PRIMARY KEY (event_id, hook)
);
CREATE INDEX event_deliveries_due ON event_deliveries(state, next_attempt_ms);
"#;

/// An event row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventRow {
    /// Row id (internal; receivers see `uid`).
    pub id: i64,
    /// The stable id.
    pub uid: String,
    /// Unix seconds.
    pub at: i64,
    /// The kind, as stored.
    pub kind: String,
    /// `folder/name`.
    pub volume: String,
    /// Who did it.
    pub actor: String,
    /// JSON text.
    pub detail: String,
}

/// A delivery row with its event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryRow {
    /// The event.
    pub event: EventRow,
    /// The webhook's name.
    pub hook: String,
    /// `pending`, `delivered` or `failed`.
    pub state: String,
    /// Attempts made so far.
    pub attempts: i64,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
    /// When the next attempt is due (Unix milliseconds).
    pub next_attempt_ms: i64,
    /// When it was delivered (Unix seconds).
    pub delivered_at: Option<i64>,
}

/// Inserts an event and a pending delivery, due at `due_ms`, for each of `hooks`.
pub fn insert(db: &Connection, e: &EventRow, hooks: &[&str], due_ms: i64) -> Result<()> {
    let tx = db.unchecked_transaction()?;
    tx.execute(
        "INSERT INTO events (uid, at, kind, volume, actor, detail) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![e.uid, e.at, e.kind, e.volume, e.actor, e.detail],
    )?;
    let id = tx.last_insert_rowid();
    for h in hooks {
        tx.execute(
            "INSERT INTO event_deliveries (event_id, hook, state, next_attempt_ms) \
             VALUES (?1, ?2, 'pending', ?3)",
            params![id, h, due_ms],
        )?;
    }
    tx.commit()?;
    Ok(())
}

const DELIVERY_COLUMNS: &str = "e.id, e.uid, e.at, e.kind, e.volume, e.actor, e.detail, \
     d.hook, d.state, d.attempts, d.last_error, d.next_attempt_ms, d.delivered_at \
     FROM event_deliveries d JOIN events e ON e.id = d.event_id";

fn delivery(r: &rusqlite::Row<'_>) -> rusqlite::Result<DeliveryRow> {
    Ok(DeliveryRow {
        event: EventRow {
            id: r.get(0)?,
            uid: r.get(1)?,
            at: r.get(2)?,
            kind: r.get(3)?,
            volume: r.get(4)?,
            actor: r.get(5)?,
            detail: r.get(6)?,
        },
        hook: r.get(7)?,
        state: r.get(8)?,
        attempts: r.get(9)?,
        last_error: r.get(10)?,
        next_attempt_ms: r.get(11)?,
        delivered_at: r.get(12)?,
    })
}

/// Pending deliveries, soonest due first, at most `limit`.
pub fn pending(db: &Connection, limit: usize) -> Result<Vec<DeliveryRow>> {
    let mut st = db.prepare(&format!(
        "SELECT {DELIVERY_COLUMNS} WHERE d.state = 'pending' \
         ORDER BY d.next_attempt_ms, e.id, d.hook LIMIT ?1"
    ))?;
    let rows = st.query_map([limit as i64], delivery)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// How many deliveries are pending.
pub fn pending_count(db: &Connection) -> Result<u64> {
    let n: i64 = db.query_row(
        "SELECT COUNT(*) FROM event_deliveries WHERE state = 'pending'",
        [],
        |r| r.get(0),
    )?;
    Ok(n.max(0) as u64)
}

/// The newest `limit` deliveries, newest event first.
pub fn recent(db: &Connection, limit: usize) -> Result<Vec<DeliveryRow>> {
    let mut st = db.prepare(&format!(
        "SELECT {DELIVERY_COLUMNS} ORDER BY e.id DESC, d.hook LIMIT ?1"
    ))?;
    let rows = st.query_map([limit as i64], delivery)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// The row id of the event with `uid`.
pub fn id_of(db: &Connection, uid: &str) -> Result<Option<i64>> {
    Ok(db
        .query_row("SELECT id FROM events WHERE uid = ?1", [uid], |r| r.get(0))
        .optional()?)
}

/// Records one attempt on a pending delivery; false when there was none
/// (already finished, or its event pruned).
pub fn record(
    db: &Connection,
    event_id: i64,
    hook: &str,
    state: &str,
    error: Option<&str>,
    next_attempt_ms: i64,
    delivered_at: Option<i64>,
) -> Result<bool> {
    let n = db.execute(
        "UPDATE event_deliveries SET attempts = attempts + 1, state = ?3, \
         last_error = COALESCE(?4, last_error), \
         next_attempt_ms = ?5, delivered_at = ?6 \
         WHERE event_id = ?1 AND hook = ?2 AND state = 'pending'",
        params![event_id, hook, state, error, next_attempt_ms, delivered_at],
    )?;
    Ok(n == 1)
}

/// Deletes events older than `before` (Unix seconds) with no pending delivery.
pub fn prune(db: &Connection, before: i64) -> Result<usize> {
    Ok(db.execute(
        "DELETE FROM events WHERE at < ?1 AND NOT EXISTS \
         (SELECT 1 FROM event_deliveries d WHERE d.event_id = events.id AND d.state = 'pending')",
        [before],
    )?)
}
