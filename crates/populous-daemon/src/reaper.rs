//! The reaper: every [`TICK`], the servers of volumes with an idle limit
//! are read ([`populous_ops::lifecycle::observe`]: client activity is
//! recorded in the store), then the volumes whose expiry has come or that
//! were idle too long are handed to [`populous_ops::lifecycle::reap_one`],
//! one write (and one audit entry) each. Expiry and activity live in the
//! store, so a restart or a `kill -9` of the daemon loses nothing but the
//! last counter readings: the next pass finds what is due.
//!
//! A volume the reaper keeps is audited once, not on every pass: a protected
//! one again only when its lifecycle changes (unprotected, say), one that
//! others depend on every [`RECHECK`].

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use populous_engine::{EventKind, Lifecycle};

use populous_engine::now;
use populous_ops::lifecycle::{observe, reap_one, Readings, ReapAction};
use tokio::sync::watch;

use crate::state::Daemon;
use crate::webhooks::Emit;

/// How often the reaper looks.
pub const TICK: Duration = Duration::from_secs(10);

/// How often a volume kept because others depend on it is looked at again.
pub const RECHECK: Duration = Duration::from_secs(600);

/// Volumes the reaper kept: their lifecycle then, and when.
type Kept = HashMap<String, (Lifecycle, Instant)>;

/// Runs until `stop` turns true.
pub async fn run(daemon: Arc<Daemon>, mut stop: watch::Receiver<bool>) {
    let mut kept = Kept::new();
    let mut readings = Readings::new();
    loop {
        readings = watch_activity(&daemon, readings).await;
        pass(&daemon, &mut kept).await;
        tokio::select! {
            _ = tokio::time::sleep(TICK) => {}
            _ = stop.changed() => return,
        }
    }
}

/// Reads the watched servers' counters and records their activity.
async fn watch_activity(daemon: &Arc<Daemon>, mut readings: Readings) -> Readings {
    let at = now();
    let r = daemon
        .update(move |e| observe(e, &mut readings, at).map(|_| readings))
        .await;
    match r {
        Ok(readings) => readings,
        Err(e) => {
            tracing::warn!(error = %e.message, "reaper: cannot read the servers' activity");
            Readings::new()
        }
    }
}

/// One pass over the due volumes.
async fn pass(daemon: &Arc<Daemon>, kept: &mut Kept) {
    let at = now();
    let due = match daemon.read(move |e| e.volumes_due(at)).await {
        Ok(d) => d,
        Err(e) => {
            tracing::warn!(error = %e.message, "reaper: cannot list expired volumes");
            return;
        }
    };
    for d in due {
        let target = d.volume.to_string();
        let protected = d.lifecycle.protection.holds_at(at);
        let lifecycle = d.lifecycle;
        if let Some((then, when)) = kept.get(&target) {
            if *then == lifecycle && (protected || when.elapsed() < RECHECK) {
                continue;
            }
        }
        let action = match (d.due, protected) {
            (populous_engine::Due::Expired, true) => "volume expired (kept: protected)",
            (populous_engine::Due::Expired, false) => "volume expired",
            (populous_engine::Due::Idle, true) => "volume idle (kept: protected)",
            (populous_engine::Due::Idle, false) => "volume idle",
        };
        // Only a volume the reaper destroyed is an `expire` event; its
        // detail says whether its time came or it was idle too long.
        let expired =
            Emit::new(EventKind::Expire, &target).detail(serde_json::json!({ "due": d.due }));
        let r = daemon
            .write_with(
                "reaper",
                action,
                target.clone(),
                move |e| reap_one(e, &d, at),
                move |x| matches!(x.action, ReapAction::Destroyed).then_some(expired),
            )
            .await;
        let label = match &r {
            Ok(x) => match &x.action {
                ReapAction::Destroyed => {
                    tracing::info!(volume = %target, "reaper: destroyed an expired volume");
                    "destroyed"
                }
                ReapAction::KeptProtected => {
                    kept.insert(target, (lifecycle, Instant::now()));
                    "kept_protected"
                }
                ReapAction::Kept { reason } => {
                    tracing::info!(volume = %target, %reason, "reaper: kept an expired volume");
                    kept.insert(target, (lifecycle, Instant::now()));
                    "kept"
                }
            },
            Err(e) => {
                tracing::warn!(volume = %target, error = %e.message, "reaper: could not destroy an expired volume");
                "failed"
            }
        };
        daemon.metrics.reaped(label);
    }
}
