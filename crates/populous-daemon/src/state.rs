//! Shared daemon state: the engine behind two connections, and the metrics.
//!
//! Mutations go through one `writer` engine (and the home's writer lock, so
//! CLI processes can run beside the daemon). Reads — token checks, listings,
//! inspections — use a separate `reader` connection, so a long clone never
//! makes `volume ls` or authentication wait. Engine calls block, so they run
//! on tokio's blocking pool.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use populous_engine::{Engine, TokenInfo};

use crate::error::ApiError;
use crate::metrics::Metrics;

/// Everything handlers share.
#[derive(Debug)]
pub struct Daemon {
    home: PathBuf,
    writer: Mutex<Engine>,
    reader: Mutex<Engine>,
    /// Request metrics.
    pub metrics: Metrics,
}

fn lock(m: &Mutex<Engine>) -> std::sync::MutexGuard<'_, Engine> {
    // A panic in one request must not wedge the daemon: the engine's own
    // invariants live in the database, not in this process's memory.
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Daemon {
    /// Opens the engine on `home` twice (writer and reader).
    pub fn open(home: &Path) -> populous_engine::Result<Arc<Daemon>> {
        Ok(Arc::new(Daemon {
            home: home.to_owned(),
            writer: Mutex::new(Engine::open(home)?),
            reader: Mutex::new(Engine::open(home)?),
            metrics: Metrics::default(),
        }))
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
        let me = Arc::clone(self);
        tokio::task::spawn_blocking(move || f(&lock(&me.reader)))
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
            result
        })
        .await
        .map_err(|e| join_error(&e))?
        .map_err(Into::into)
    }

    /// The token behind a bearer secret, if any.
    pub async fn authenticate(self: &Arc<Self>, secret: String) -> Result<TokenInfo, ApiError> {
        self.read(move |e| e.token_verify(&secret))
            .await?
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
