//! The REST service: `/_ping`, `/populate`, `/imprint`, `/rows`, `/healthz`, `/metrics`.

use std::collections::HashMap;
use std::future::Future;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{MatchedPath, Path as UrlPath, Query, Request, State};
use axum::http::{header, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use bytes::Bytes;
use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Params, Pool, PoolConstraints, PoolOpts};
use serde::Serialize;
use serde_json::json;
use tokio::sync::{Mutex, RwLock};

use crate::generate::{insert_sql, row_params};
use crate::metrics::Metrics;
use crate::rows::{imprint, RowGenerator, DEFAULT_BLOB_SIZE};
use crate::schema::{connect_with_schema, DbTarget};
use crate::{AppError, Result};

/// Configuration of the service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServeConfig {
    /// `mysql://…` URL; the path names the database (default `populous`).
    pub db_url: String,
    /// Full version string, e.g. `1.0.1-28` (see [`version_string`]).
    pub version: String,
    /// `served_by` in `/_ping` (default: the host name, i.e. the container id).
    pub served_by: String,
    /// Limit for any one database operation (default 5 s).
    pub db_timeout: Duration,
    /// How long the cached `MIN(id)`/`MAX(id)` stays fresh (default 5 s).
    pub id_range_ttl: Duration,
    /// Size of the `/imprint` blob and of blobs made by `/populate` (default 64 KiB).
    pub blob_size: usize,
    /// Largest `rows` one `/populate` accepts (default 10,000).
    pub max_populate_rows: u64,
    /// Largest connection pool (default 64).
    pub max_connections: usize,
}

impl ServeConfig {
    /// Defaults for `db_url` and `version`.
    pub fn new(db_url: impl Into<String>, version: impl Into<String>) -> Self {
        ServeConfig {
            db_url: db_url.into(),
            version: version.into(),
            served_by: hostname(),
            db_timeout: Duration::from_secs(5),
            id_range_ttl: Duration::from_secs(5),
            blob_size: DEFAULT_BLOB_SIZE,
            max_populate_rows: 10_000,
            max_connections: 64,
        }
    }
}

/// The host name (in a container: its id), or `unknown`.
pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "unknown".to_string())
}

/// `<VERSION file contents>-<build>`, e.g. `1.0.1-28`.
pub fn version_string(version_file: &Path, build: &str) -> Result<String> {
    let text = std::fs::read_to_string(version_file).map_err(|source| AppError::VersionFile {
        path: version_file.to_path_buf(),
        source,
    })?;
    let v = text.trim();
    if v.is_empty() {
        return Err(AppError::EmptyVersion {
            path: version_file.to_path_buf(),
        });
    }
    Ok(format!("{v}-{}", build.trim()))
}

#[derive(Debug, Clone, Copy)]
struct IdRange {
    min: u64,
    max: u64,
    fetched: Instant,
}

/// Shared state of the service.
#[derive(Debug)]
pub struct AppState {
    config: ServeConfig,
    target: DbTarget,
    pool: Pool,
    schema_ready: AtomicBool,
    schema_lock: Mutex<()>,
    ids: RwLock<Option<IdRange>>,
    imprint: Bytes,
    metrics: Metrics,
}

impl AppState {
    /// The metrics (tests read counters here).
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }
}

/// An HTTP error, rendered as `{"error": "..."}`.
#[derive(Debug)]
enum ApiError {
    BadRequest(String),
    NotFound(String),
    MethodNotAllowed(String),
    Unavailable(String),
    Internal(String),
}

impl ApiError {
    fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
    fn retryable(&self) -> bool {
        matches!(self, ApiError::Unavailable(_))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let (ApiError::BadRequest(m)
        | ApiError::NotFound(m)
        | ApiError::MethodNotAllowed(m)
        | ApiError::Unavailable(m)
        | ApiError::Internal(m)) = self;
        (status, Json(json!({ "error": m }))).into_response()
    }
}

/// Server error codes that mean "the database is not there right now".
fn unavailable_code(code: u16) -> bool {
    matches!(
        code,
        1040 // too many connections
            | 1044 | 1045 // access denied (e.g. grants not loaded yet)
            | 1049 // unknown database
            | 1053 // server shutdown in progress
            | 1146 // table doesn't exist
            | 1205 // lock wait timeout (e.g. held for a snapshot)
            | 1927 // connection killed
            | 4031 // disconnected by the server because of inactivity
    )
}

impl AppState {
    fn db_error(&self, what: &str, e: &mysql_async::Error) -> ApiError {
        let unavailable = match e {
            mysql_async::Error::Server(s) => {
                if matches!(s.code, 1049 | 1146) {
                    self.schema_ready.store(false, Ordering::Relaxed);
                }
                unavailable_code(s.code)
            }
            mysql_async::Error::Io(_) | mysql_async::Error::Driver(_) => true,
            _ => false,
        };
        if unavailable {
            self.metrics.db_up(false);
            tracing::warn!(error = %e, "{what}: database unavailable");
            ApiError::Unavailable(format!("database unavailable: {what}: {e}"))
        } else {
            tracing::error!(error = %e, "{what}");
            ApiError::Internal(format!("{what}: {e}"))
        }
    }

    fn app_error(&self, e: AppError) -> ApiError {
        match e {
            AppError::Db { what, source, .. } => self.db_error(what, &source),
            AppError::Timeout { what, secs, .. } => {
                self.metrics.db_up(false);
                ApiError::Unavailable(format!(
                    "database unavailable: {what} did not finish within {secs} s"
                ))
            }
            other => ApiError::Internal(other.to_string()),
        }
    }

    async fn timed<T>(
        &self,
        what: &'static str,
        fut: impl Future<Output = std::result::Result<T, mysql_async::Error>>,
    ) -> std::result::Result<T, ApiError> {
        match tokio::time::timeout(self.config.db_timeout, fut).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(self.db_error(what, &e)),
            Err(_) => {
                self.metrics.db_up(false);
                Err(ApiError::Unavailable(format!(
                    "database unavailable: {what} did not finish within {} s",
                    self.config.db_timeout.as_secs()
                )))
            }
        }
    }

    /// Creates the database and table once the server is reachable.
    async fn ensure_schema(&self) -> std::result::Result<(), ApiError> {
        if self.schema_ready.load(Ordering::Relaxed) {
            return Ok(());
        }
        let _g = self.schema_lock.lock().await;
        if self.schema_ready.load(Ordering::Relaxed) {
            return Ok(());
        }
        let conn = self
            .target
            .timed("creating the schema", self.config.db_timeout, async {
                connect_with_schema(&self.target).await
            })
            .await
            .map_err(|e| self.app_error(e))?;
        let _ = conn.disconnect().await;
        self.schema_ready.store(true, Ordering::Relaxed);
        Ok(())
    }

    async fn conn(&self) -> std::result::Result<Conn, ApiError> {
        self.ensure_schema().await?;
        let c = self.timed("connecting", self.pool.get_conn()).await?;
        Ok(c)
    }

    async fn id_range(&self, conn: &mut Conn) -> std::result::Result<IdRange, ApiError> {
        if let Some(r) = *self.ids.read().await {
            if r.fetched.elapsed() < self.config.id_range_ttl {
                return Ok(r);
            }
        }
        let (min, max): (Option<u64>, Option<u64>) = self
            .timed(
                "reading the id range",
                conn.query_first("SELECT MIN(id), MAX(id) FROM main"),
            )
            .await?
            .unwrap_or((None, None));
        let r = IdRange {
            min: min.unwrap_or(1),
            max: max.unwrap_or(0),
            fetched: Instant::now(),
        };
        *self.ids.write().await = Some(r);
        Ok(r)
    }

    async fn fetch_random_row(&self) -> std::result::Result<(), ApiError> {
        let mut conn = self.conn().await?;
        let r = self.id_range(&mut conn).await?;
        let id = if r.max >= r.min {
            rand::random_range(r.min..=r.max)
        } else {
            0
        };
        let _row: Option<mysql_async::Row> = self
            .timed(
                "fetching a random row",
                conn.exec_first(
                    "SELECT id, guid, pid, street, zip, city, email, name, imprint FROM main WHERE id >= ? ORDER BY id LIMIT 1",
                    (id,),
                ),
            )
            .await?;
        self.metrics.db_up(true);
        Ok(())
    }
}

/// Runs `op` again once when it failed because the database was unavailable:
/// after a server restart the pool's idle connections are dead, and the
/// retry gets a fresh one.
async fn retry_once<T, F, Fut>(op: F) -> std::result::Result<T, ApiError>
where
    F: Fn() -> Fut,
    Fut: Future<Output = std::result::Result<T, ApiError>>,
{
    match op().await {
        Err(e) if e.retryable() => op().await,
        r => r,
    }
}

#[derive(Serialize)]
struct PingBody {
    version: String,
    served_by: String,
    response_time_ms: f64,
}

async fn ping(State(s): State<Arc<AppState>>) -> std::result::Result<Json<PingBody>, ApiError> {
    let t0 = Instant::now();
    retry_once(|| s.fetch_random_row()).await?;
    let took = t0.elapsed();
    s.metrics.ping_row(took);
    Ok(Json(PingBody {
        version: s.config.version.clone(),
        served_by: s.config.served_by.clone(),
        response_time_ms: took.as_secs_f64() * 1000.0,
    }))
}

#[derive(Serialize)]
struct RowBody {
    id: u64,
    guid: String,
    pid: Option<i64>,
    street: Option<String>,
    zip: Option<String>,
    city: Option<String>,
    email: Option<String>,
    name: Option<String>,
    imprint_len: Option<u64>,
}

type RowTuple = (
    u64,
    String,
    Option<i64>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<u64>,
);

const ROW_COLUMNS: &str =
    "id, guid, pid, street, zip, city, email, name, LENGTH(imprint) FROM main";

fn row_body(t: RowTuple) -> RowBody {
    RowBody {
        id: t.0,
        guid: t.1,
        pid: t.2,
        street: t.3,
        zip: t.4,
        city: t.5,
        email: t.6,
        name: t.7,
        imprint_len: t.8,
    }
}

async fn row_by_id(
    State(s): State<Arc<AppState>>,
    UrlPath(raw): UrlPath<String>,
) -> std::result::Result<Json<RowBody>, ApiError> {
    let id: u32 = raw.parse().map_err(|_| {
        ApiError::BadRequest(format!(
            "row id must be an unsigned 32-bit integer, got {raw:?}"
        ))
    })?;
    let row: Option<RowTuple> = retry_once(|| async {
        let mut conn = s.conn().await?;
        let r = s
            .timed(
                "reading a row",
                conn.exec_first(format!("SELECT {ROW_COLUMNS} WHERE id = ?"), (id,)),
            )
            .await?;
        s.metrics.db_up(true);
        Ok(r)
    })
    .await?;
    row.map(|t| Json(row_body(t)))
        .ok_or_else(|| ApiError::NotFound(format!("no row with id {id}")))
}

async fn rows_by_guid(
    State(s): State<Arc<AppState>>,
    Query(q): Query<HashMap<String, String>>,
) -> std::result::Result<Json<serde_json::Value>, ApiError> {
    let guid = q.get("guid").ok_or_else(|| {
        ApiError::BadRequest("missing query parameter guid (GET /rows?guid=…)".into())
    })?;
    if guid.is_empty() || guid.len() > 36 {
        return Err(ApiError::BadRequest(format!(
            "guid must be 1 to 36 characters, got {} characters",
            guid.len()
        )));
    }
    let rows: Vec<RowTuple> = retry_once(|| async {
        let mut conn = s.conn().await?;
        let r = s
            .timed(
                "reading rows by guid",
                conn.exec(
                    format!("SELECT {ROW_COLUMNS} WHERE guid = ? ORDER BY id LIMIT 100"),
                    (guid,),
                ),
            )
            .await?;
        s.metrics.db_up(true);
        Ok(r)
    })
    .await?;
    let rows: Vec<RowBody> = rows.into_iter().map(row_body).collect();
    Ok(Json(json!({ "rows": rows })))
}

async fn populate(
    State(s): State<Arc<AppState>>,
    Query(q): Query<HashMap<String, String>>,
) -> std::result::Result<Json<serde_json::Value>, ApiError> {
    let max = s.config.max_populate_rows;
    let raw = q.get("rows").ok_or_else(|| {
        ApiError::BadRequest("missing query parameter rows (POST /populate?rows=N)".into())
    })?;
    let n: u64 = raw
        .parse()
        .ok()
        .filter(|n| (1..=max).contains(n))
        .ok_or_else(|| {
            ApiError::BadRequest(format!(
                "rows must be a number from 1 to {max}, got {raw:?}"
            ))
        })?;
    let t0 = Instant::now();
    let mut conn = s.conn().await?;
    let seed: u64 = rand::random();
    let blob = s.config.blob_size;
    let per_stmt = ((4usize << 20) / (blob + 256)).clamp(1, 1000) as u64;
    let mut first_id = None;
    let mut start = 0u64;
    while start < n {
        let end = (start + per_stmt).min(n);
        let params = tokio::task::spawn_blocking(move || {
            let g = RowGenerator::new(seed, blob);
            row_params((start..end).map(|i| g.row(i)).collect(), false)
        })
        .await
        .map_err(|e| ApiError::Internal(format!("generating rows: {e}")))?;
        let k = (end - start) as usize;
        s.timed(
            "inserting rows",
            conn.exec_drop(insert_sql(k, false), Params::Positional(params)),
        )
        .await?;
        first_id.get_or_insert(conn.last_insert_id());
        start = end;
    }
    s.metrics.db_up(true);
    *s.ids.write().await = None;
    Ok(Json(json!({
        "inserted": n,
        "first_id": first_id.flatten(),
        "elapsed_ms": t0.elapsed().as_secs_f64() * 1000.0,
    })))
}

async fn get_imprint(State(s): State<Arc<AppState>>) -> Response {
    (
        [(header::CONTENT_TYPE, "application/octet-stream")],
        Body::from(s.imprint.clone()),
    )
        .into_response()
}

async fn healthz(State(s): State<Arc<AppState>>) -> Response {
    let r = retry_once(|| async {
        let mut conn = s.conn().await?;
        s.timed("SELECT 1", conn.query_drop("SELECT 1")).await?;
        s.metrics.db_up(true);
        Ok(())
    })
    .await;
    match r {
        Ok(()) => (
            StatusCode::OK,
            Json(json!({
                "status": "ready",
                "db": "up",
                "database": s.target.database,
                "version": s.config.version,
            })),
        )
            .into_response(),
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({
                "status": "unavailable",
                "db": "down",
                "error": match e { ApiError::Unavailable(m) | ApiError::Internal(m) | ApiError::BadRequest(m) | ApiError::NotFound(m) | ApiError::MethodNotAllowed(m) => m },
                "version": s.config.version,
            })),
        )
            .into_response(),
    }
}

async fn metrics_text(State(s): State<Arc<AppState>>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        s.metrics.render(&s.config.version, &s.config.served_by),
    )
        .into_response()
}

async fn not_found(method: Method, uri: axum::http::Uri) -> ApiError {
    ApiError::NotFound(format!("no such resource: {method} {}", uri.path()))
}

async fn method_not_allowed(method: Method, uri: axum::http::Uri) -> ApiError {
    ApiError::MethodNotAllowed(format!("{method} is not allowed on {}", uri.path()))
}

async fn track(State(s): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "unmatched".to_string());
    let method = req.method().to_string();
    let t0 = Instant::now();
    let resp = next.run(req).await;
    let took = t0.elapsed();
    let status = resp.status().as_u16();
    s.metrics.request(&route, &method, status, took);
    tracing::debug!(%method, %route, status, took_ms = took.as_secs_f64() * 1000.0, "request");
    resp
}

/// Builds the shared state (no connection is made yet) and the router.
pub fn app(config: ServeConfig) -> Result<(Router, Arc<AppState>)> {
    let target = DbTarget::parse(&config.db_url)?;
    let constraints = PoolConstraints::new(0, config.max_connections.max(1)).unwrap_or_default();
    let pool_opts = PoolOpts::default()
        .with_constraints(constraints)
        .with_reset_connection(false);
    let pool = Pool::new(target.with_db().pool_opts(pool_opts));
    let state = Arc::new(AppState {
        imprint: Bytes::from(imprint(config.blob_size)),
        config,
        target,
        pool,
        schema_ready: AtomicBool::new(false),
        schema_lock: Mutex::new(()),
        ids: RwLock::new(None),
        metrics: Metrics::default(),
    });
    let router = Router::new()
        .route("/_ping", get(ping))
        .route("/populate", post(populate))
        .route("/imprint", get(get_imprint))
        .route("/rows", get(rows_by_guid))
        .route("/rows/{id}", get(row_by_id))
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics_text))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(state.clone(), track))
        .with_state(state.clone());
    Ok((router, state))
}

/// Serves on `listener` until `shutdown` resolves, then drains in-flight
/// requests and closes the pool. The schema is created on the first request
/// that finds the database reachable (and at start, if it is).
pub async fn serve(
    listener: tokio::net::TcpListener,
    config: ServeConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<()> {
    let (router, state) = app(config)?;
    if let Err(e) = state.ensure_schema().await {
        tracing::warn!(?e, "database not ready at start; serving 503 until it is");
    }
    let addr = listener
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    tracing::info!(%addr, version = %state.config.version, database = %state.target.database, "serving");
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await
        .map_err(AppError::Serve)?;
    tracing::info!("drained; closing the database pool");
    let _ = state.pool.clone().disconnect().await;
    Ok(())
}

/// Binds `addr` and serves (see [`serve`]).
pub async fn bind_and_serve(
    addr: &str,
    config: ServeConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<()> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| AppError::Bind {
            addr: addr.to_string(),
            source,
        })?;
    serve(listener, config, shutdown).await
}

/// Resolves on SIGTERM or SIGINT.
pub async fn shutdown_signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        _ = term => tracing::info!("SIGTERM: shutting down"),
        _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT: shutting down"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_from_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("VERSION");
        std::fs::write(&p, "1.0.1\n").unwrap();
        assert_eq!(version_string(&p, "28").unwrap(), "1.0.1-28");
        std::fs::write(&p, "  \n").unwrap();
        assert!(matches!(
            version_string(&p, "1"),
            Err(AppError::EmptyVersion { .. })
        ));
        let e = version_string(&dir.path().join("nope"), "1").unwrap_err();
        assert!(e.to_string().contains("--version-file"), "{e}");
    }
}
