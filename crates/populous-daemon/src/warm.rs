//! Warm pools: every [`TICK`], each configured pool of warm clones is
//! brought to its count of running clones of its origin's newest snapshot
//! ([`populous_ops::warm::refill`]), so a request for a running clone
//! (`POST /v1/clone` with `"db": true`, or `clone --db`) gets one that
//! answers at once. What a refill made or removed is in the audit log
//! (actor `warm`); a failed refill is logged and tried again next tick.

use std::sync::Arc;
use std::time::Duration;

use populous_ops::warm::{refill, WarmPool};
use tokio::sync::watch;

use crate::state::Daemon;

/// How often the pools are looked at.
pub const TICK: Duration = Duration::from_secs(5);

/// Runs until `stop` turns true.
pub async fn run(daemon: Arc<Daemon>, pools: Vec<WarmPool>, mut stop: watch::Receiver<bool>) {
    if pools.is_empty() {
        return;
    }
    loop {
        for pool in &pools {
            let (p, listen) = (pool.clone(), daemon.clone_listen());
            let target = format!("{} in {}", p.origin, p.folder);
            let r = daemon
                .update(move |e| {
                    let done = refill(e, &p, &listen)?;
                    if !done.made.is_empty() || !done.removed.is_empty() {
                        let outcome = format!(
                            "made {}; removed {}",
                            done.made.join(", "),
                            done.removed.join(", ")
                        );
                        let _ = e.audit("warm", "warm refill", &target, &outcome);
                    }
                    Ok::<_, populous_ops::Error>(done)
                })
                .await;
            match r {
                Ok(done) if !done.made.is_empty() => {
                    tracing::info!(pool = %pool.origin, made = done.made.len(), "warm clones ready");
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(pool = %pool.origin, error = %e.message, "warm refill failed");
                }
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(TICK) => {}
            _ = stop.changed() => return,
        }
    }
}
