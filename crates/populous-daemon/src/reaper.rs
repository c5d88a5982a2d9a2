//! The reaper: every [`TICK`], the volumes whose expiry has come are handed
//! to [`populous_ops::lifecycle::reap_one`], one write (and one audit entry)
//! each. Expiry lives in the store, so a restart or a `kill -9` of the
//! daemon loses nothing: the next pass finds what is due.
//!
//! A volume the reaper keeps is audited once, not on every pass: a protected
//! one again only when its lifecycle changes (unprotected, say), one that
//! others depend on every [`RECHECK`].

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use populous_engine::{EventKind, Lifecycle};

use populous_engine::now;
use populous_ops::lifecycle::{reap_one, ReapAction};
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
    loop {
        pass(&daemon, &mut kept).await;
        tokio::select! {
            _ = tokio::time::sleep(TICK) => {}
            _ = stop.changed() => return,
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
        let action = if protected {
            "volume expired (kept: protected)"
        } else {
            "volume expired"
        };
        // Only a volume the reaper destroyed is an `expire` event.
        let expired = Emit::new(EventKind::Expire, &target);
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
