//! A volume's lifecycle: when it expires, whether it is protected, and how
//! long it may go without client activity (idle delete).
//!
//! The engine keeps the facts and answers which volumes are due; removing
//! them (stopping a server first) is the operations layer's reaper, run by
//! `populous serve` or `populous volume reap`. Times are Unix seconds, so a
//! restart or a `kill -9` loses nothing: the next pass finds what is due.

use super::{now, Engine};
use crate::error::{Error, Result};
use crate::model::{Outcome, Timestamp};
use crate::name::VolRef;
use crate::store::lifecycle::{self, LifecycleRow};

/// Whether a volume is protected from expiry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Protection {
    /// Not protected: it goes when it expires.
    None,
    /// Protected until this time (a lease), then as `None`.
    Until {
        /// When the lease ends.
        until: Timestamp,
    },
    /// Protected until unprotected.
    Forever,
}

impl Protection {
    /// Whether it protects at time `at`.
    pub fn holds_at(self, at: Timestamp) -> bool {
        match self {
            Protection::None => false,
            Protection::Until { until } => at < until,
            Protection::Forever => true,
        }
    }
}

/// When a volume expires and whether it is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Lifecycle {
    /// When it expires; `None`: never.
    pub expires_at: Option<Timestamp>,
    /// Its protection.
    pub protection: Protection,
    /// Seconds without client activity after which it goes; `None`: never.
    pub idle_after: Option<i64>,
    /// When its server last had a client (`None`: not since it was made).
    pub last_active_at: Option<Timestamp>,
}

impl Default for Lifecycle {
    fn default() -> Self {
        Lifecycle {
            expires_at: None,
            protection: Protection::None,
            idle_after: None,
            last_active_at: None,
        }
    }
}

impl From<LifecycleRow> for Lifecycle {
    fn from(r: LifecycleRow) -> Self {
        Lifecycle {
            expires_at: r.expires_at,
            protection: match (r.protected, r.protected_until) {
                (false, _) => Protection::None,
                (true, Some(until)) => Protection::Until { until },
                (true, None) => Protection::Forever,
            },
            idle_after: r.idle_after,
            last_active_at: r.last_active_at,
        }
    }
}

impl From<Lifecycle> for LifecycleRow {
    fn from(l: Lifecycle) -> Self {
        let (protected, protected_until) = match l.protection {
            Protection::None => (false, None),
            Protection::Until { until } => (true, Some(until)),
            Protection::Forever => (true, None),
        };
        LifecycleRow {
            expires_at: l.expires_at,
            protected,
            protected_until,
            idle_after: l.idle_after,
            last_active_at: l.last_active_at,
        }
    }
}

/// Why a volume is due.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Due {
    /// Its expiry has come.
    Expired,
    /// Its server had no client for its `idle_after`.
    Idle,
}

/// A volume whose expiry has come, or that was idle too long.
#[derive(Debug, Clone, serde::Serialize)]
pub struct DueVolume {
    /// The volume.
    pub volume: VolRef,
    /// Its lifecycle.
    pub lifecycle: Lifecycle,
    /// Why it is due (expiry first, when both).
    pub due: Due,
    /// When it was made (idle time counts from there until a first client).
    pub created_at: Timestamp,
}

impl Lifecycle {
    /// Since when the volume counts as idle: its last client, or its creation.
    pub fn idle_since(&self, created_at: Timestamp) -> Timestamp {
        self.last_active_at.unwrap_or(created_at)
    }
}

impl Engine {
    /// The lifecycle of a live volume.
    pub fn volume_lifecycle(&self, r: &VolRef) -> Result<Lifecycle> {
        let vol = self.volume(r)?;
        Ok(lifecycle::get(&self.db, vol.id)?.into())
    }

    fn lifecycle_change(
        &mut self,
        r: &VolRef,
        f: impl FnOnce(&mut Lifecycle),
    ) -> Result<Outcome<Lifecycle>> {
        let _lock = self.begin()?;
        let vol = self.volume(r)?;
        let before: Lifecycle = lifecycle::get(&self.db, vol.id)?.into();
        let mut after = before;
        f(&mut after);
        if after != before {
            lifecycle::set(&self.db, vol.id, &after.into())?;
        }
        Ok(Outcome {
            changed: after != before,
            value: after,
        })
    }

    /// Sets when a volume expires (`None`: never). A time in the past means
    /// at the reaper's next pass.
    pub fn volume_expire_at(
        &mut self,
        r: &VolRef,
        at: Option<Timestamp>,
    ) -> Result<Outcome<Lifecycle>> {
        self.lifecycle_change(r, |l| l.expires_at = at)
    }

    /// Moves a volume's expiry `seconds` later. A volume that never expires
    /// has nothing to extend.
    pub fn volume_extend(&mut self, r: &VolRef, seconds: i64) -> Result<Outcome<Lifecycle>> {
        if self.volume_lifecycle(r)?.expires_at.is_none() {
            return Err(Error::InvalidInput {
                what: "extension",
                detail: format!("volume {r} never expires: nothing to extend"),
            });
        }
        self.lifecycle_change(r, |l| {
            l.expires_at = l.expires_at.map(|at| at.max(now()).saturating_add(seconds));
        })
    }

    /// Protects a volume from expiry, until `until` (a lease) or for good.
    pub fn volume_protect(
        &mut self,
        r: &VolRef,
        until: Option<Timestamp>,
    ) -> Result<Outcome<Lifecycle>> {
        self.lifecycle_change(r, |l| {
            l.protection = until.map_or(Protection::Forever, |until| Protection::Until { until });
        })
    }

    /// Sets how long a volume may go without client activity (`None`: no limit).
    pub fn volume_idle_after(
        &mut self,
        r: &VolRef,
        seconds: Option<i64>,
    ) -> Result<Outcome<Lifecycle>> {
        if seconds.is_some_and(|s| s <= 0) {
            return Err(Error::InvalidInput {
                what: "idle time",
                detail: "it must be at least one second".into(),
            });
        }
        self.lifecycle_change(r, |l| l.idle_after = seconds)
    }

    /// Records client activity on a volume's server at `at`. A clock that
    /// went backwards never moves it back.
    pub fn volume_mark_active(&mut self, r: &VolRef, at: Timestamp) -> Result<Outcome<Lifecycle>> {
        self.lifecycle_change(r, |l| {
            l.last_active_at = Some(l.last_active_at.map_or(at, |was| was.max(at)));
        })
    }

    /// Removes a volume's protection.
    pub fn volume_unprotect(&mut self, r: &VolRef) -> Result<Outcome<Lifecycle>> {
        self.lifecycle_change(r, |l| l.protection = Protection::None)
    }

    /// Live volumes whose expiry is at or before `at`, or idle for their
    /// `idle_after` by `at`, protected ones included (the reaper says why it
    /// keeps them).
    pub fn volumes_due(&self, at: Timestamp) -> Result<Vec<DueVolume>> {
        Ok(lifecycle::due(&self.db, at)?
            .into_iter()
            .map(|row| due_volume(row, at))
            .collect())
    }

    /// Live volumes that have an `idle_after` (whose servers' activity the
    /// reaper watches).
    pub fn volumes_watched_for_idle(&self) -> Result<Vec<DueVolume>> {
        Ok(lifecycle::watched_for_idle(&self.db)?
            .into_iter()
            .map(|row| due_volume(row, now()))
            .collect())
    }
}

fn due_volume(
    (folder, volume, created_at, row): (String, String, Timestamp, LifecycleRow),
    at: Timestamp,
) -> DueVolume {
    let lifecycle: Lifecycle = row.into();
    let expired = lifecycle.expires_at.is_some_and(|e| e <= at);
    DueVolume {
        volume: VolRef {
            folder: super::stored(&folder),
            volume: super::stored(&volume),
        },
        lifecycle,
        due: if expired { Due::Expired } else { Due::Idle },
        created_at,
    }
}
