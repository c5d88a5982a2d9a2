//! Shared daemon state: the engine behind a writer, a pool of readers and a
//! reader for token checks; the usage cache; the metrics; the webhooks' outbox.
//!
//! Mutations go through one `writer` engine (and the home's writer lock, so
//! CLI processes can run beside the daemon). Reads — listings, inspections —
//! use a small pool of reader engines, each its own SQLite connection: WAL
//! lets them read side by side, so a long clone never makes `volume ls`
//! wait. Token checks, which every request makes first, have a connection of
//! their own, so no tenant's reads can make another's requests queue at the
//! door; a check is one indexed lookup, and asking the store every time keeps
//! a revocation (from the CLI too) effective at once. No read walks a volume:
//! usage comes from [`crate::usage`]. Engine calls block, so they run on
//! tokio's blocking pool.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use populous_engine::{Engine, TokenInfo};

use tokio::sync::Semaphore;

use crate::error::ApiError;
use crate::metrics::Metrics;
use crate::usage::Usage;
use crate::webhooks::{Emit, Outbox};

/// How many reads run at once. Enough that a few slow inspections leave
/// room for token checks; few enough that reads cannot take every thread of
/// tokio's blocking pool from the writer.
pub const READERS: usize = 4;

/// Everything handlers share.
#[derive(Debug)]
pub struct Daemon {
    home: PathBuf,
    writer: Mutex<Engine>,
    /// Idle reader engines; a read takes one out and puts it back.
    readers: Mutex<Vec<Engine>>,
    /// One permit per reader: a read waits here, not on a lock held across a query.
    reader_slots: Arc<Semaphore>,
    /// The token checks' own reader.
    auth: Mutex<Engine>,
    /// Volume usage, measured in the background.
    pub usage: Usage,
    /// Request metrics.
    pub metrics: Metrics,
    /// Where `"db": true` clones' servers listen (from the configuration).
    clone_listen: Mutex<populous_ops::dbclone::Listen>,
    /// Webhook events: who wants which, and the deliverer's wake-up.
    pub webhooks: Outbox,
}

fn lock(m: &Mutex<Engine>) -> std::sync::MutexGuard<'_, Engine> {
    // A panic in one request must not wedge the daemon: the engine's own
    // invariants live in the database, not in this process's memory.
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn lock_vec(m: &Mutex<Vec<Engine>>) -> std::sync::MutexGuard<'_, Vec<Engine>> {
    // Held only to push or pop: a panic cannot leave the list half changed.
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Daemon {
    /// Opens the engine on `home`: one writer, [`READERS`] readers, the
    /// token checks' reader, and starts the usage walker.
    pub fn open(home: &Path) -> populous_engine::Result<Arc<Daemon>> {
        let readers = (0..READERS)
            .map(|_| Engine::open(home))
            .collect::<populous_engine::Result<Vec<_>>>()?;
        let metrics = Metrics::default();
        let usage = Usage::start(
            home,
            metrics.usage_walks.clone(),
            metrics.usage_volumes.clone(),
        );
        Ok(Arc::new(Daemon {
            home: home.to_owned(),
            writer: Mutex::new(Engine::open(home)?),
            readers: Mutex::new(readers),
            reader_slots: Arc::new(Semaphore::new(READERS)),
            auth: Mutex::new(Engine::open(home)?),
            usage,
            metrics,
            clone_listen: Mutex::new(populous_ops::dbclone::Listen::default()),
            webhooks: Outbox::default(),
        }))
    }

    /// Sets where `"db": true` clones' servers listen.
    pub fn set_clone_listen(&self, listen: populous_ops::dbclone::Listen) {
        *self.clone_listen.lock().unwrap_or_else(|p| p.into_inner()) = listen;
    }

    /// Where `"db": true` clones' servers listen.
    pub fn clone_listen(&self) -> populous_ops::dbclone::Listen {
        *self.clone_listen.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The Populous home.
    pub fn home(&self) -> &Path {
        &self.home
    }

    /// Runs a read on the blocking pool.
    pub async fn read<T, F>(self: &Arc<Self>, f: F) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: FnOnce(&Engine) -> populous_engine::Result<T> + Send + 'static,
    {
        let permit = Arc::clone(&self.reader_slots)
            .acquire_owned()
            .await
            .map_err(|_| closed())?;
        let me = Arc::clone(self);
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let taken = lock_vec(&me.readers).pop();
            // None only after a read panicked and lost its engine: open a
            // replacement rather than shrink the pool for good.
            let engine = match taken {
                Some(e) => e,
                None => Engine::open(&me.home)?,
            };
            let result = f(&engine);
            lock_vec(&me.readers).push(engine);
            result
        })
        .await
        .map_err(|e| join_error(&e))?
        .map_err(ApiError::from)
    }

    /// Runs a mutation on the blocking pool and writes it to the audit log.
    pub async fn write<T, E, F>(
        self: &Arc<Self>,
        actor: &str,
        action: &str,
        target: String,
        f: F,
    ) -> Result<T, ApiError>
    where
        T: Send + 'static,
        E: std::fmt::Display + Into<ApiError> + Send + 'static,
        F: FnOnce(&mut Engine) -> Result<T, E> + Send + 'static,
    {
        self.write_with(actor, action, target, f, |_| None).await
    }

    /// [`Daemon::write`] of a mutation that is event `emit` when it succeeds
    /// (recorded for the webhooks, see [`crate::webhooks`]).
    pub async fn write_event<T, E, F>(
        self: &Arc<Self>,
        actor: &str,
        action: &str,
        target: String,
        emit: Emit,
        f: F,
    ) -> Result<T, ApiError>
    where
        T: Send + 'static,
        E: std::fmt::Display + Into<ApiError> + Send + 'static,
        F: FnOnce(&mut Engine) -> Result<T, E> + Send + 'static,
    {
        self.write_with(actor, action, target, f, move |_| Some(emit))
            .await
    }

    /// [`Daemon::write`] of a mutation whose success may be an event: `event`
    /// looks at what it returned (a remove that only took a volume offline,
    /// or a reap that kept the volume, is none).
    pub async fn write_with<T, E, F, G>(
        self: &Arc<Self>,
        actor: &str,
        action: &str,
        target: String,
        f: F,
        event: G,
    ) -> Result<T, ApiError>
    where
        T: Send + 'static,
        E: std::fmt::Display + Into<ApiError> + Send + 'static,
        F: FnOnce(&mut Engine) -> Result<T, E> + Send + 'static,
        G: FnOnce(&T) -> Option<Emit> + Send + 'static,
    {
        let me = Arc::clone(self);
        let (actor, action) = (actor.to_owned(), action.to_owned());
        tokio::task::spawn_blocking(move || {
            let mut engine = lock(&me.writer);
            let result = f(&mut engine);
            let outcome = match &result {
                Ok(_) => "ok".to_owned(),
                Err(e) => format!("error: {e}"),
            };
            if let Err(e) = engine.audit(&actor, &action, &target, &outcome) {
                tracing::error!(error = %e, "could not write the audit log");
            }
            tracing::info!(actor, action, target, outcome, "audit");
            // Where the audit entry goes, the event goes: one insert, never a
            // wait for a receiver (the deliverer sends it in the background).
            if let Some(emit) = result.as_ref().ok().and_then(event) {
                me.webhooks.record(&engine, &actor, emit);
            }
            // A destroy or rename leaves a usage entry behind: have it dropped.
            me.usage.changed();
            result
        })
        .await
        .map_err(|e| join_error(&e))?
        .map_err(Into::into)
    }

    /// Runs bookkeeping on the writer engine without an audit entry: what
    /// the daemon itself records about volumes (the reaper's activity
    /// readings), not an action anyone asked for.
    pub async fn update<T, E, F>(self: &Arc<Self>, f: F) -> Result<T, ApiError>
    where
        T: Send + 'static,
        E: Into<ApiError> + Send + 'static,
        F: FnOnce(&mut Engine) -> Result<T, E> + Send + 'static,
    {
        let me = Arc::clone(self);
        tokio::task::spawn_blocking(move || f(&mut lock(&me.writer)))
            .await
            .map_err(|e| join_error(&e))?
            .map_err(Into::into)
    }

    /// The token behind a bearer secret, if any.
    pub async fn authenticate(self: &Arc<Self>, secret: String) -> Result<TokenInfo, ApiError> {
        let me = Arc::clone(self);
        tokio::task::spawn_blocking(move || lock(&me.auth).token_verify(&secret))
            .await
            .map_err(|e| join_error(&e))?
            .map_err(ApiError::from)?
            .ok_or_else(ApiError::unauthorized)
    }
}

fn join_error(e: &tokio::task::JoinError) -> ApiError {
    ApiError::new(
        axum::http::StatusCode::INTERNAL_SERVER_ERROR,
        "internal",
        format!("the operation failed unexpectedly ({e}); the daemon's log has details"),
    )
}

fn closed() -> ApiError {
    ApiError::new(
        axum::http::StatusCode::SERVICE_UNAVAILABLE,
        "unavailable",
        "the daemon is shutting down",
    )
}
