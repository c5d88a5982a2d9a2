//! Holding a server still while the caller snapshots its datadir.

use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Opts};
use serde::{Deserialize, Serialize};

use crate::{parse_url, redact_url, rt, DbError, Result};

/// How a [`QuiesceGuard`] holds the server still.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum QuiesceMethod {
    /// `BACKUP STAGE START` + `BACKUP STAGE BLOCK_COMMIT` (MariaDB ≥ 10.4):
    /// commits wait, reads and uncommitted writes go on.
    BackupStage,
    /// `FLUSH TABLES WITH READ LOCK`: every write waits (any MySQL/MariaDB).
    FlushTablesWithReadLock,
}

impl QuiesceMethod {
    /// Short stable name, for provenance records and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            QuiesceMethod::BackupStage => "backup-stage",
            QuiesceMethod::FlushTablesWithReadLock => "flush-tables-with-read-lock",
        }
    }
}

impl std::fmt::Display for QuiesceMethod {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Options for [`quiesce_with`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuiesceOptions {
    /// Force a method; `None` picks backup stages on MariaDB ≥ 10.4 and
    /// falls back to `FLUSH TABLES WITH READ LOCK` otherwise.
    pub method: Option<QuiesceMethod>,
    /// The session's `lock_wait_timeout`: how long taking the lock may wait
    /// behind long statements before quiesce fails instead of hanging
    /// (default 30 s).
    pub lock_wait_timeout: Duration,
}

impl Default for QuiesceOptions {
    fn default() -> Self {
        QuiesceOptions {
            method: None,
            lock_wait_timeout: Duration::from_secs(30),
        }
    }
}

/// Holds the lock taken by [`quiesce`] until [`release`](Self::release) or drop.
///
/// The connection lives on the guard's own thread, so the guard can be held
/// and dropped from sync or async code alike.
#[derive(Debug)]
pub struct QuiesceGuard {
    method: QuiesceMethod,
    target: String,
    acquired_in: Duration,
    held_since: Instant,
    release_tx: Option<mpsc::Sender<()>>,
    done_rx: mpsc::Receiver<Result<()>>,
    thread: Option<JoinHandle<()>>,
}

impl QuiesceGuard {
    /// The method in force.
    pub fn method(&self) -> QuiesceMethod {
        self.method
    }

    /// How long taking the lock took.
    pub fn acquired_in(&self) -> Duration {
        self.acquired_in
    }

    /// How long the lock has been held so far.
    pub fn held_for(&self) -> Duration {
        self.held_since.elapsed()
    }

    /// Releases the lock (`BACKUP STAGE END` / `UNLOCK TABLES`) and closes
    /// the connection. Errors here mean the connection died, which also
    /// released the lock on the server side.
    pub fn release(mut self) -> Result<()> {
        self.finish()
    }

    fn finish(&mut self) -> Result<()> {
        let Some(tx) = self.release_tx.take() else {
            return Ok(());
        };
        let _ = tx.send(());
        let r = self.done_rx.recv().unwrap_or_else(|_| {
            Err(DbError::QuiesceLost {
                target: self.target.clone(),
                detail: "the guard thread ended without reporting".to_string(),
            })
        });
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        r
    }
}

impl Drop for QuiesceGuard {
    fn drop(&mut self) {
        if let Err(e) = self.finish() {
            tracing::warn!(error = %e, "releasing the quiesce lock");
        }
    }
}

/// Quiesces the server at `url` with the default options (see [`quiesce_with`]).
pub fn quiesce(url: &str) -> Result<QuiesceGuard> {
    quiesce_with(url, &QuiesceOptions::default())
}

/// Opens a connection to `url` and blocks commits on the server: backup
/// stages where available (or when asked), `FLUSH TABLES WITH READ LOCK`
/// otherwise. Returns once the lock is held; take the filesystem snapshot,
/// then release the guard.
pub fn quiesce_with(url: &str, options: &QuiesceOptions) -> Result<QuiesceGuard> {
    let opts = parse_url(url)?;
    let target = redact_url(url);
    let (ready_tx, ready_rx) = mpsc::channel::<Result<QuiesceMethod>>();
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let (done_tx, done_rx) = mpsc::channel::<Result<()>>();
    let started = Instant::now();
    let wanted = options.method;
    let lock_wait = options.lock_wait_timeout;
    let thread_target = target.clone();
    let thread = std::thread::Builder::new()
        .name("populous-quiesce".to_string())
        .spawn(move || {
            let rt = match rt::new_runtime() {
                Ok(rt) => rt,
                Err(e) => {
                    let _ = ready_tx.send(Err(e));
                    return;
                }
            };
            let (mut conn, method) =
                match rt.block_on(acquire(opts, wanted, lock_wait, &thread_target)) {
                    Ok(v) => v,
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                        return;
                    }
                };
            if ready_tx.send(Ok(method)).is_err() {
                let _ = rt.block_on(unlock(&mut conn, method, &thread_target));
                let _ = rt.block_on(conn.disconnect());
                return;
            }
            // Either an explicit release or the guard being dropped.
            let _ = release_rx.recv();
            let r = rt.block_on(unlock(&mut conn, method, &thread_target));
            let _ = rt.block_on(conn.disconnect());
            let _ = done_tx.send(r);
        })
        .map_err(|e| DbError::io("spawn a thread for quiescing", &target, e))?;
    let method = match ready_rx.recv() {
        Ok(Ok(m)) => m,
        Ok(Err(e)) => {
            let _ = thread.join();
            return Err(e);
        }
        Err(_) => {
            let _ = thread.join();
            return Err(DbError::QuiesceLost {
                target,
                detail: "the guard thread ended while taking the lock".to_string(),
            });
        }
    };
    let acquired_in = started.elapsed();
    tracing::debug!(%method, ?acquired_in, "server quiesced");
    Ok(QuiesceGuard {
        method,
        target,
        acquired_in,
        held_since: Instant::now(),
        release_tx: Some(release_tx),
        done_rx,
        thread: Some(thread),
    })
}

fn sql_err(what: &'static str, target: &str) -> impl FnOnce(mysql_async::Error) -> DbError {
    let target = target.to_string();
    move |source| DbError::Sql {
        what,
        target,
        source,
    }
}

/// `(major, minor)` and whether the server is MariaDB, from `VERSION()`.
pub(crate) fn parse_version(v: &str) -> (u32, u32, bool) {
    let mut nums = v
        .split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty())
        .map(|s| s.parse::<u32>().unwrap_or(0));
    let major = nums.next().unwrap_or(0);
    let minor = nums.next().unwrap_or(0);
    (major, minor, v.contains("MariaDB"))
}

async fn acquire(
    opts: Opts,
    wanted: Option<QuiesceMethod>,
    lock_wait: Duration,
    target: &str,
) -> Result<(Conn, QuiesceMethod)> {
    let mut conn = Conn::new(opts)
        .await
        .map_err(sql_err("connecting", target))?;
    conn.query_drop(format!(
        "SET SESSION lock_wait_timeout = {}",
        lock_wait.as_secs().max(1)
    ))
    .await
    .map_err(sql_err("setting lock_wait_timeout", target))?;
    let method = match wanted {
        Some(m) => m,
        None => {
            let v: Option<String> = conn
                .query_first("SELECT VERSION()")
                .await
                .map_err(sql_err("reading the server version", target))?;
            match parse_version(v.as_deref().unwrap_or("")) {
                (major, minor, true) if (major, minor) >= (10, 4) => QuiesceMethod::BackupStage,
                _ => QuiesceMethod::FlushTablesWithReadLock,
            }
        }
    };
    match method {
        QuiesceMethod::BackupStage => {
            match conn.query_drop("BACKUP STAGE START").await {
                Ok(()) => {}
                // 1064: the server does not know BACKUP STAGE; fall back.
                Err(mysql_async::Error::Server(e)) if e.code == 1064 && wanted.is_none() => {
                    conn.query_drop("FLUSH TABLES WITH READ LOCK")
                        .await
                        .map_err(sql_err("FLUSH TABLES WITH READ LOCK", target))?;
                    return Ok((conn, QuiesceMethod::FlushTablesWithReadLock));
                }
                Err(e) => return Err(sql_err("BACKUP STAGE START", target)(e)),
            }
            if let Err(e) = conn.query_drop("BACKUP STAGE BLOCK_COMMIT").await {
                let _ = conn.query_drop("BACKUP STAGE END").await;
                return Err(sql_err("BACKUP STAGE BLOCK_COMMIT", target)(e));
            }
        }
        QuiesceMethod::FlushTablesWithReadLock => {
            conn.query_drop("FLUSH TABLES WITH READ LOCK")
                .await
                .map_err(sql_err("FLUSH TABLES WITH READ LOCK", target))?;
        }
    }
    Ok((conn, method))
}

async fn unlock(conn: &mut Conn, method: QuiesceMethod, target: &str) -> Result<()> {
    match method {
        QuiesceMethod::BackupStage => conn
            .query_drop("BACKUP STAGE END")
            .await
            .map_err(sql_err("BACKUP STAGE END", target)),
        QuiesceMethod::FlushTablesWithReadLock => conn
            .query_drop("UNLOCK TABLES")
            .await
            .map_err(sql_err("UNLOCK TABLES", target)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions() {
        assert_eq!(parse_version("10.11.19-MariaDB-0+deb12u1"), (10, 11, true));
        assert_eq!(parse_version("8.0.36"), (8, 0, false));
        assert_eq!(parse_version(""), (0, 0, false));
    }

    #[test]
    fn method_names_are_stable() {
        assert_eq!(QuiesceMethod::BackupStage.to_string(), "backup-stage");
        assert_eq!(
            QuiesceMethod::FlushTablesWithReadLock.as_str(),
            "flush-tables-with-read-lock"
        );
    }
}
