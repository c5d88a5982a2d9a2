//! The reaper: volumes whose expiry has come, or whose server had no client
//! for their `idle_after`, are removed, their server stopped first, unless
//! they are protected or others depend on them.
//!
//! Idle time is measured from the server's own status counters
//! ([`populous_db::Activity`]): [`observe`] reads them on every volume that
//! has an `idle_after` and records the time of any client activity since
//! the last reading in the store, so a restart forgets nothing but the
//! last reading itself (the first reading after it only counts sessions
//! open then).
//!
//! One pass is [`reap`]; `populous serve` runs it on a timer and
//! `populous volume reap` once. Each volume is decided alone, so a pass
//! killed half way leaves every volume whole or gone, and the next pass
//! finds the rest.

use std::collections::HashMap;

use populous_db::Activity;
use populous_engine::{Due, DueVolume, Engine, Timestamp, VolRef};

use crate::{db, Result};

/// What the reaper did with one expired volume.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum ReapAction {
    /// Removed, with its snapshots (its server stopped first, if one ran).
    Destroyed,
    /// Kept: protected (protection wins over expiry).
    KeptProtected,
    /// Kept: it cannot go without others (clones of its snapshots, a source).
    Kept {
        /// Why, in words.
        reason: String,
    },
}

/// One expired volume and what became of it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Reaped {
    /// `folder/volume`.
    pub volume: VolRef,
    /// Why it was due.
    pub due: Due,
    /// When it expired.
    pub expired_at: Option<Timestamp>,
    /// What the reaper did.
    #[serde(flatten)]
    pub action: ReapAction,
}

/// Every volume due at `at`, decided one by one, after the servers'
/// activity was read (see [`observe`]; `readings` from the last pass, or empty).
pub fn reap(engine: &mut Engine, readings: &mut Readings, at: Timestamp) -> Result<Vec<Reaped>> {
    observe(engine, readings, at)?;
    let due = engine.volumes_due(at)?;
    let mut out = Vec::with_capacity(due.len());
    for d in due {
        out.push(reap_one(engine, &d, at)?);
    }
    Ok(out)
}

/// Decides one due volume (see [`reap`]).
pub fn reap_one(engine: &mut Engine, d: &DueVolume, at: Timestamp) -> Result<Reaped> {
    let r = &d.volume;
    let done = |action| Reaped {
        volume: r.clone(),
        due: d.due,
        expired_at: d.lifecycle.expires_at,
        action,
    };
    if d.lifecycle.protection.holds_at(at) {
        return Ok(done(ReapAction::KeptProtected));
    }
    if let Some(s) = engine.source_of_volume(r)? {
        return Ok(done(ReapAction::Kept {
            reason: format!("it is the replica of source {}", s.name),
        }));
    }
    let info = engine.volume_inspect(r)?;
    let clones: Vec<&str> = info
        .snapshots
        .iter()
        .flat_map(|s| s.clones.iter().map(String::as_str))
        .collect();
    if !clones.is_empty() {
        return Ok(done(ReapAction::Kept {
            reason: format!(
                "clones of its snapshots depend on it: {}",
                clones.join(", ")
            ),
        }));
    }
    db::stop(engine, r)?;
    engine.volume_remove(r, true, true)?;
    crate::dbclone::forget(engine.home(), r);
    Ok(done(ReapAction::Destroyed))
}

/// The last counters read from each watched server.
pub type Readings = HashMap<VolRef, Activity>;

/// Reads the activity of every running server on a volume with an
/// `idle_after` and records, at `at`, those that had a client since the
/// last reading in `readings` (or have one now). Returns the volumes found
/// active. A server that cannot be read is skipped (its volume is neither
/// active nor idle for it: the next pass reads again).
pub fn observe(engine: &mut Engine, readings: &mut Readings, at: Timestamp) -> Result<Vec<VolRef>> {
    let home = engine.home().to_owned();
    let mut active = Vec::new();
    let watched = engine.volumes_watched_for_idle()?;
    readings.retain(|r, _| watched.iter().any(|w| &w.volume == r));
    for w in watched {
        let Some(i) = db::running(&home, &w.volume) else {
            readings.remove(&w.volume);
            continue;
        };
        let now = match populous_db::activity(&i.socket_url()) {
            Ok(a) => a,
            Err(e) => {
                tracing::warn!(volume = %w.volume, error = %e, "cannot read the server's activity");
                continue;
            }
        };
        let was = readings.insert(w.volume.clone(), now);
        let busy = match was {
            Some(before) => now.active_since(&before),
            None => now.clients() > 0,
        };
        if busy {
            engine.volume_mark_active(&w.volume, at)?;
            active.push(w.volume);
        }
    }
    Ok(active)
}
