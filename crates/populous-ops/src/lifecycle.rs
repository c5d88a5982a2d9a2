//! The reaper: volumes whose expiry has come are removed, their server
//! stopped first, unless they are protected or others depend on them.
//!
//! One pass is [`reap`]; `populous serve` runs it on a timer and
//! `populous volume reap` once. Each volume is decided alone, so a pass
//! killed half way leaves every volume whole or gone, and the next pass
//! finds the rest.

use populous_engine::{DueVolume, Engine, Timestamp, VolRef};

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
    /// When it expired.
    pub expired_at: Option<Timestamp>,
    /// What the reaper did.
    #[serde(flatten)]
    pub action: ReapAction,
}

/// Every volume due at `at`, decided one by one.
pub fn reap(engine: &mut Engine, at: Timestamp) -> Result<Vec<Reaped>> {
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
    Ok(done(ReapAction::Destroyed))
}
