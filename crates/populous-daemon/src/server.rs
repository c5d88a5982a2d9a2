//! Binding the listeners and serving until shutdown.
//!
//! The REST API listens on TCP; each plugin driver on its own unix socket in
//! the plugin directory. Stale sockets from a previous run are replaced, and
//! the sockets are removed again on a clean shutdown.

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::Router;
use populous_engine::Name;
use tokio::net::{TcpListener, UnixListener};
use tokio::sync::watch;

use crate::config::Config;
use crate::metrics::{track, Surface};
use crate::plugin::{self, Plugin};
use crate::state::Daemon;

/// Why the daemon could not start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The engine could not be opened.
    #[error(transparent)]
    Engine(#[from] populous_engine::Error),
    /// A listener could not be bound.
    #[error("cannot listen on {what}: {source}")]
    Bind {
        /// Address or socket path.
        what: String,
        /// Why.
        source: std::io::Error,
    },
    /// A plugin's token file is unusable.
    #[error("driver {driver}: {detail}")]
    Token {
        /// The driver.
        driver: String,
        /// What is wrong.
        detail: String,
    },
}

/// What `bind` produced: where things listen, and the future that serves them.
#[derive(Debug)]
pub struct Bound {
    /// The REST API's address, if enabled.
    pub api_addr: Option<std::net::SocketAddr>,
    /// The plugin sockets.
    pub sockets: Vec<PathBuf>,
}

fn with_metrics(router: Router, daemon: &Arc<Daemon>, surface: &str, limit: usize) -> Router {
    router
        .layer(axum::middleware::from_fn_with_state(
            Surface {
                daemon: Arc::clone(daemon),
                name: surface.into(),
            },
            track,
        ))
        .layer(DefaultBodyLimit::max(limit))
}

/// Binds every listener, then serves until `shutdown` resolves. `on_bound` is
/// told where the daemon listens once all listeners are up.
pub async fn serve(
    daemon: Arc<Daemon>,
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
    on_bound: impl FnOnce(&Bound),
) -> Result<(), ServeError> {
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut tasks = tokio::task::JoinSet::new();
    let mut bound = Bound {
        api_addr: None,
        sockets: Vec::new(),
    };
    let stopped = |mut rx: watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };

    if !config.listen.is_empty() {
        let listener =
            TcpListener::bind(&config.listen)
                .await
                .map_err(|source| ServeError::Bind {
                    what: config.listen.clone(),
                    source,
                })?;
        bound.api_addr = listener.local_addr().ok();
        let app = with_metrics(
            crate::api::router().with_state(Arc::clone(&daemon)),
            &daemon,
            "api",
            config.max_body_bytes,
        );
        let rx = stop_rx.clone();
        tasks.spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(stopped(rx))
                .await
        });
    }

    if !config.plugins.is_empty() {
        std::fs::create_dir_all(&config.plugin_dir).map_err(|source| ServeError::Bind {
            what: config.plugin_dir.display().to_string(),
            source,
        })?;
    }
    for pc in &config.plugins {
        let token = match &pc.token_file {
            None => None,
            Some(f) => {
                let secret = std::fs::read_to_string(f).map_err(|e| ServeError::Token {
                    driver: pc.driver.clone(),
                    detail: format!("cannot read token_file {}: {e}", f.display()),
                })?;
                let secret = secret.trim().to_owned();
                let info = daemon
                    .authenticate(secret)
                    .await
                    .map_err(|e| ServeError::Token {
                        driver: pc.driver.clone(),
                        detail: format!("token_file {}: {}", f.display(), e.message),
                    })?;
                Some(info)
            }
        };
        let folder = Name::new("folder", &pc.folder)?;
        let path = config.plugin_dir.join(format!("{}.sock", pc.driver));
        // A socket left by a previous run (or a crash) would make bind fail.
        let _ = std::fs::remove_file(&path);
        let listener = UnixListener::bind(&path).map_err(|source| ServeError::Bind {
            what: path.display().to_string(),
            source,
        })?;
        let p = Arc::new(Plugin {
            daemon: Arc::clone(&daemon),
            config: pc.clone(),
            folder,
            token,
        });
        let app = with_metrics(
            plugin::router(p),
            &daemon,
            &pc.driver,
            config.max_body_bytes,
        );
        let rx = stop_rx.clone();
        tasks.spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(stopped(rx))
                .await
        });
        tracing::info!(driver = %pc.driver, folder = %pc.folder, socket = %path.display(), "docker volume plugin listening");
        bound.sockets.push(path);
    }
    if let Some(a) = bound.api_addr {
        tracing::info!(addr = %a, "REST API listening");
    }
    on_bound(&bound);

    shutdown.await;
    tracing::info!("shutting down: finishing requests in flight");
    let _ = stop_tx.send(true);
    while let Some(r) = tasks.join_next().await {
        if let Ok(Err(e)) = r {
            tracing::error!(error = %e, "listener failed");
        }
    }
    for s in &bound.sockets {
        let _ = std::fs::remove_file(s);
    }
    Ok(())
}
