//! Sources in the daemon: their replicas kept running, snapshots on their
//! schedules with retention, and their state as metrics.
//!
//! One task wakes at the earliest due snapshot (at most every
//! [`TICK`]): it starts any replica that is not running (after a reboot or a
//! crash, replication resumes from where it stopped), takes the snapshots
//! that are due (each with its clean base; see `populous_ops::source`),
//! prunes beyond `keep`, and refreshes the gauges. Every action goes through
//! the writer like a request, and into the audit log as `scheduler`.

use std::sync::Arc;
use std::time::Duration;

use populous_engine::{now, SourceInfo};
use populous_ops::source as ops;
use tokio::sync::watch;

use crate::state::Daemon;

/// The longest the task sleeps: how fresh the gauges are.
pub const TICK: Duration = Duration::from_secs(15);

/// When source `s`'s next scheduled snapshot is due, if it has a schedule.
/// A schedule that fails to parse (it was checked when set) never fires.
pub fn due_at(s: &SourceInfo) -> Option<i64> {
    let last = s.snapshots.last().map_or(s.created_at, |x| x.taken_at);
    ops::schedule::next_after(s.schedule.as_deref()?, last).ok()
}

/// Runs until `stop` turns true.
pub async fn run(daemon: Arc<Daemon>, mut stop: watch::Receiver<bool>) {
    loop {
        let next = tick(&daemon).await;
        let wait = next.map_or(TICK, |at| {
            Duration::from_secs(u64::try_from(at - now()).unwrap_or(0)).min(TICK)
        });
        tokio::select! {
            _ = tokio::time::sleep(wait.max(Duration::from_millis(200))) => {}
            _ = stop.changed() => return,
        }
    }
}

/// One round; returns when the next snapshot is due.
async fn tick(daemon: &Arc<Daemon>) -> Option<i64> {
    let sources = match daemon.read(|e| e.source_list()).await {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(error = %e.message, "cannot list sources");
            return None;
        }
    };
    let mut next: Option<i64> = None;
    for s in sources {
        let name = s.name.clone();
        let home = daemon.home().to_owned();
        if populous_ops::db::running(&home, &s.volume).is_none() {
            let vol = s.volume.clone();
            let r = daemon
                .write(
                    "scheduler",
                    "source replica start",
                    name.to_string(),
                    move |e| populous_ops::db::start(e, &vol, None),
                )
                .await;
            if let Err(e) = r {
                tracing::warn!(source = %name, error = %e.message, "cannot start the replica");
            }
        }
        if let Some(at) = due_at(&s) {
            if at <= now() {
                let n = name.clone();
                let r = daemon
                    .write("scheduler", "source snapshot", name.to_string(), move |e| {
                        let taken = ops::snapshot(e, &n, None)?;
                        ops::prune(e, &n)?;
                        Ok::<_, populous_ops::Error>(taken)
                    })
                    .await;
                match r {
                    Ok(t) => {
                        tracing::info!(source = %name, snapshot = %t.snapshot, gtid = %t.gtid, "scheduled snapshot")
                    }
                    Err(e) => {
                        tracing::warn!(source = %name, error = %e.message, "scheduled snapshot failed")
                    }
                }
            }
        }
        gauges(daemon, &name).await;
        let fresh = daemon.read({
            let n = name.clone();
            move |e| e.source_get(&n)
        });
        if let Ok(s) = fresh.await {
            if let Some(at) = due_at(&s) {
                next = Some(next.map_or(at, |n| n.min(at)));
            }
        }
    }
    next
}

/// Refreshes the source's gauges from its replica (not from the source:
/// scrapes must not depend on production answering).
async fn gauges(daemon: &Arc<Daemon>, name: &populous_engine::Name) {
    let n = name.clone();
    let home = daemon.home().to_owned();
    let found = tokio::task::spawn_blocking(move || {
        let engine = populous_engine::Engine::open(&home).ok()?;
        let s = engine.source_get(&n).ok()?;
        let status = populous_ops::db::running(&home, &s.volume)
            .and_then(|i| populous_source::replica::status(&i.socket_url()).ok());
        Some((s, status))
    })
    .await
    .ok()
    .flatten();
    let Some((s, status)) = found else {
        return;
    };
    let m = &daemon.metrics;
    let label = name.as_str();
    m.source_gauge("source_replicating", label)
        .set(i64::from(status.as_ref().is_some_and(|r| {
            r.io_thread == populous_source::replica::Thread::Running
                && r.sql_thread == populous_source::replica::Thread::Running
        })));
    if let Some(r) = &status {
        m.source_gauge("source_lag_seconds", label)
            .set(r.lag_seconds.map_or(-1, |l| l as i64));
        m.source_gauge("source_unapplied_transactions", label)
            .set(populous_source::replica::gtid_distance(&r.gtid_io_pos, &r.gtid_slave_pos) as i64);
    }
    if let Some(last) = s.snapshots.last() {
        m.source_gauge("source_last_snapshot_age_seconds", label)
            .set(now() - last.taken_at);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use populous_engine::{Name, SourceMode, SourceSnapshot, VolRef};

    fn source(schedule: Option<&str>, created_at: i64, snapshots: &[i64]) -> SourceInfo {
        SourceInfo {
            name: Name::new("source", "prod").expect("name"),
            volume: "replicas/prod".parse::<VolRef>().expect("ref"),
            url: "mysql://repl@db1:3306".into(),
            password_file: "/etc/populous/repl.pw".into(),
            mode: SourceMode::Physical,
            server_id: 7,
            schedule: schedule.map(str::to_owned),
            keep: 4,
            datadir: None,
            snapshots: snapshots
                .iter()
                .map(|t| SourceSnapshot {
                    snapshot: format!("replicas/prod@src-{t}"),
                    gtid: "0-1-1".into(),
                    base: None,
                    taken_at: *t,
                })
                .collect(),
            created_at,
        }
    }

    #[test]
    fn due_after_the_newest_snapshot() {
        // 2026-12-01T00:00:00Z and a snapshot every 15 minutes.
        let t0 = 1_796_083_200;
        let every = Some("*/15 * * * *");
        assert_eq!(due_at(&source(None, t0, &[])), None);
        assert_eq!(due_at(&source(every, t0, &[])), Some(t0 + 900));
        assert_eq!(due_at(&source(every, t0, &[t0 + 1000])), Some(t0 + 1800));
        // Never taken for hours (the daemon was down): due at once, once.
        assert_eq!(
            due_at(&source(every, t0 - 86_400, &[])),
            Some(t0 - 86_400 + 900)
        );
        assert_eq!(due_at(&source(Some("not cron"), t0, &[])), None);
    }
}
