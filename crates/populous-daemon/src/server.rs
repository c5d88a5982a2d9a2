//! Binding the listeners and serving until shutdown.
//!
//! The REST API listens on TCP; each plugin driver on its own unix socket in
//! the plugin directory. Stale sockets from a previous run are replaced, and
//! the sockets are removed again on a clean shutdown. Every listener serves
//! its connections under the configured timeouts and cap ([`crate::conn`]).

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::Router;
use populous_engine::Name;
use tokio::net::{TcpListener, UnixListener};
use tokio::sync::watch;

use crate::config::Config;
use crate::conn::{self, Site};
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
    /// A webhook's secret file is unusable (the message never holds the secret).
    #[error("{0}")]
    Webhook(String),
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
    let limits = config.limits();
    warn_if_files_run_short(&config);
    // Secrets first: a daemon that could not sign its webhooks must not start
    // and record events it cannot send.
    let hooks = crate::webhooks::load(&config.webhooks).map_err(ServeError::Webhook)?;
    daemon.webhooks.subscribe(&hooks);
    daemon.usage.set_refresh(config.usage_refresh);
    daemon.set_clone_listen(config.clone_listen());

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
            crate::api::router()
                .with_state(Arc::clone(&daemon))
                // The web dashboard, under /ui on the same listener.
                .merge(crate::dashboard::router(Arc::clone(&daemon))),
            &daemon,
            "api",
            config.max_body_bytes,
        );
        let site = Site {
            app,
            surface: "api".into(),
            refusal: conn::refusal(
                &serde_json::json!({"error": {"code": "unavailable", "message": "too many connections: every one is serving a request; retry"}}),
                "application/json",
            ),
            daemon: Arc::clone(&daemon),
        };
        tasks.spawn(conn::serve(listener, site, limits, stop_rx.clone()));
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
        let site = Site {
            app,
            surface: pc.driver.as_str().into(),
            refusal: conn::refusal(
                &serde_json::json!({"Err": "too many connections to the populous plugin: every one is serving a request; retry"}),
                plugin::CONTENT_TYPE,
            ),
            daemon: Arc::clone(&daemon),
        };
        tasks.spawn(conn::serve(listener, site, limits, stop_rx.clone()));
        tracing::info!(driver = %pc.driver, folder = %pc.folder, socket = %path.display(), "docker volume plugin listening");
        bound.sockets.push(path);
    }
    if let Some(a) = bound.api_addr {
        tracing::info!(addr = %a, "REST API listening");
    }
    on_bound(&bound);
    // After the listeners: a replica's start must not delay the API.
    tasks.spawn(crate::sources::run(Arc::clone(&daemon), stop_rx.clone()));
    tasks.spawn(crate::reaper::run(Arc::clone(&daemon), stop_rx.clone()));
    let warm = config.warm.iter().filter_map(|w| w.pool().ok()).collect();
    tasks.spawn(crate::warm::run(Arc::clone(&daemon), warm, stop_rx.clone()));
    if !hooks.is_empty() {
        tracing::info!(webhooks = hooks.len(), "webhook deliverer started");
    }
    tasks.spawn(crate::webhooks::run(
        Arc::clone(&daemon),
        hooks,
        stop_rx.clone(),
    ));

    shutdown.await;
    tracing::info!("shutting down: finishing requests in flight");
    let _ = stop_tx.send(true);
    while let Some(r) = tasks.join_next().await {
        if let Err(e) = r {
            tracing::error!(error = %e, "listener failed");
        }
    }
    for s in &bound.sockets {
        let _ = std::fs::remove_file(s);
    }
    Ok(())
}

/// Warns when every listener at its cap would need more files than the
/// process may open: the cap would then not stop descriptor exhaustion.
fn warn_if_files_run_short(config: &Config) {
    let listeners = usize::from(!config.listen.is_empty()) + config.plugins.len();
    // The engine, SQLite, logs and plugin token files need a few of their own.
    let needed = listeners * config.max_connections + 64;
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit only writes the struct we pass, which lives on this frame.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return;
    }
    let soft = usize::try_from(lim.rlim_cur).unwrap_or(usize::MAX);
    if needed > soft {
        tracing::warn!(
            listeners,
            max_connections = config.max_connections,
            open_file_limit = soft,
            "{listeners} listeners x max_connections {} need about {needed} files but the process may open {soft}: lower max_connections or raise the limit (LimitNOFILE=, ulimit -n)",
            config.max_connections
        );
    }
}
