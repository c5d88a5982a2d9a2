//! The REST API: every engine operation, behind folder-scoped bearer tokens.
//!
//! Handlers are a few lines each: check names, check the caller's folders,
//! call the engine through [`Daemon`]. A folder the token does not cover
//! answers 404, exactly like a folder that does not exist, so a token cannot
//! probe for other tenants' names.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::State;
use axum::handler::Handler;
use axum::http::{header, Method, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{on, MethodFilter};
use axum::{Json, Router};
use populous_engine::size::parse_size;
use populous_engine::{
    Allowed, BackendKind, EventKind, FolderPolicy, FolderRef, FsKind, Name, SnapRef, VolRef,
    VolumeOptions,
};
use serde::Deserialize;

use crate::error::ApiError;
pub use crate::extract::{Body, Caller, Path, Q};
use crate::state::Daemon;
use crate::webhooks::Emit;

type D = State<Arc<Daemon>>;
type ApiResult<T> = Result<Json<T>, ApiError>;

/// The OpenAPI description of this API.
pub const OPENAPI: &str = include_str!("openapi.json");

fn name(what: &'static str, s: &str) -> Result<Name, ApiError> {
    Ok(Name::new(what, s)?)
}

fn vref(folder: &str, volume: &str) -> Result<VolRef, ApiError> {
    Ok(VolRef {
        folder: name("folder", folder)?,
        volume: name("volume", volume)?,
    })
}

/// The REST router (without state).
pub fn router() -> Router<Arc<Daemon>> {
    build().router
}

/// Every route the router serves, as (method, path): what the OpenAPI
/// document must describe, no more and no less.
pub fn routes() -> Vec<(Method, String)> {
    build().list
}

/// The router, and the list of its routes, made by the same calls so they cannot drift apart.
struct Routes {
    router: Router<Arc<Daemon>>,
    list: Vec<(Method, String)>,
}

impl Routes {
    fn on<H, T>(mut self, method: Method, path: &str, handler: H) -> Self
    where
        H: Handler<T, Arc<Daemon>>,
        T: 'static,
    {
        let filter = MethodFilter::try_from(method.clone()).expect("a method axum routes");
        // Axum merges a second `route` on the same path into the first.
        self.router = self.router.route(path, on(filter, handler));
        self.list.push((method, path.to_owned()));
        self
    }
}

fn build() -> Routes {
    let vol = "/v1/folders/{folder}/volumes/{volume}";
    let at = |tail: &str| format!("{vol}{tail}");
    let r = Routes {
        router: Router::new(),
        list: Vec::new(),
    };
    let r = r
        .on(Method::GET, "/healthz", || async {
            Json(serde_json::json!({"status": "ok"}))
        })
        .on(Method::GET, "/metrics", metrics)
        .on(Method::GET, "/v1/openapi.json", || async {
            ([(header::CONTENT_TYPE, "application/json")], OPENAPI)
        })
        .on(
            Method::GET,
            "/v1/whoami",
            |c: Caller| async move { Json(c.0) },
        )
        .on(Method::GET, "/v1/pools", pools)
        .on(Method::POST, "/v1/pools", pool_create)
        .on(Method::DELETE, "/v1/pools/{pool}", pool_remove)
        .on(Method::GET, "/v1/folders", folders)
        .on(Method::POST, "/v1/folders", folder_create)
        .on(Method::DELETE, "/v1/folders/{folder}", folder_remove)
        .on(Method::PUT, "/v1/folders/{folder}/policy", folder_policy)
        .on(Method::GET, "/v1/folders/{folder}/volumes", volumes)
        .on(Method::POST, "/v1/folders/{folder}/volumes", volume_create)
        .on(Method::GET, vol, volume_get)
        .on(Method::DELETE, vol, volume_remove)
        .on(Method::GET, &at("/path"), volume_path)
        .on(Method::POST, &at("/offline"), volume_offline)
        .on(Method::POST, &at("/online"), volume_online)
        .on(Method::POST, &at("/import"), volume_import)
        .on(Method::POST, &at("/rename"), volume_rename)
        .on(Method::GET, &at("/snapshots"), snapshots)
        .on(Method::POST, &at("/snapshots"), snapshot_create)
        .on(
            Method::DELETE,
            &at("/snapshots/{snapshot}"),
            snapshot_remove,
        )
        .on(Method::POST, "/v1/clone", crate::clones_api::clone)
        .on(Method::POST, &at("/reset"), crate::clones_api::reset)
        .on(Method::POST, &at("/db/start"), db_start)
        .on(Method::POST, &at("/db/stop"), db_stop)
        .on(Method::GET, "/v1/db", dbs)
        .on(Method::GET, "/v1/audit", audit)
        .on(Method::GET, "/v1/sources", crate::source_api::list)
        .on(
            Method::GET,
            "/v1/sources/{source}",
            crate::source_api::status,
        )
        .on(
            Method::POST,
            "/v1/sources/{source}/snapshots",
            crate::source_api::snapshot,
        );
    Routes {
        router: r
            .router
            .fallback(|| async {
                ApiError::new(
                    StatusCode::NOT_FOUND,
                    "unknown_endpoint",
                    "no such endpoint; see /v1/openapi.json",
                )
            })
            .method_not_allowed_fallback(|| async {
                ApiError::new(
                    StatusCode::METHOD_NOT_ALLOWED,
                    "method_not_allowed",
                    "this endpoint does not take this method; see /v1/openapi.json",
                )
            }),
        list: r.list,
    }
}

async fn metrics(State(d): D) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        d.metrics.render(),
    )
}

// ----- pools and folders (admin) ---------------------------------------------

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PoolCreate {
    name: String,
    path: Option<std::path::PathBuf>,
    image: Option<std::path::PathBuf>,
    size: Option<String>,
    fs: Option<String>,
    backend: Option<String>,
}

async fn pools(State(d): D, c: Caller) -> ApiResult<Vec<populous_engine::PoolInfo>> {
    c.admin()?;
    d.read(|e| e.pool_list()).await.map(Json)
}

async fn pool_create(
    State(d): D,
    c: Caller,
    Body(b): Body<PoolCreate>,
) -> ApiResult<populous_engine::PoolInfo> {
    c.admin()?;
    let n = name("pool", &b.name)?;
    let backend: Option<BackendKind> = b.backend.as_deref().map(str::parse).transpose()?;
    let target = n.to_string();
    let bad = |m: String| ApiError::new(StatusCode::BAD_REQUEST, "invalid_input", m);
    match (b.path, b.image) {
        (Some(path), None) => {
            if b.size.is_some() || b.fs.is_some() {
                return Err(bad(
                    "size and fs are for an image pool; adopting a path takes neither".into(),
                ));
            }
            // Checked here so a typo is a clear 4xx, not an I/O failure from the engine.
            if !path.is_absolute() {
                return Err(bad(format!("path {} is not absolute", path.display())));
            }
            if !path.is_dir() {
                return Err(ApiError::new(
                    StatusCode::NOT_FOUND,
                    "not_found",
                    format!("no directory at {}", path.display()),
                ));
            }
            d.write(&c.actor(), "pool create", target, move |e| {
                e.pool_adopt(&n, &path, backend)
            })
            .await
        }
        (None, Some(image)) => {
            if !image.is_absolute() {
                return Err(bad(format!("image {} is not absolute", image.display())));
            }
            let Some(size) = b.size.as_deref() else {
                return Err(bad("an image pool needs a size, e.g. \"8G\"".into()));
            };
            let size = parse_size(size)?;
            let fs: FsKind = b.fs.as_deref().unwrap_or("btrfs").parse()?;
            d.write(&c.actor(), "pool create", target, move |e| {
                e.pool_create_image(&n, &image, size, fs, backend)
            })
            .await
        }
        _ => Err(bad("give either path or image (with size)".into())),
    }
    .map(Json)
}

async fn pool_remove(
    State(d): D,
    c: Caller,
    Path(pool): Path<String>,
) -> ApiResult<serde_json::Value> {
    c.admin()?;
    let n = name("pool", &pool)?;
    d.write(&c.actor(), "pool rm", pool, move |e| e.pool_remove(&n))
        .await?;
    Ok(Json(serde_json::json!({"removed": true})))
}

async fn folders(State(d): D, c: Caller) -> ApiResult<Vec<populous_engine::FolderInfo>> {
    let all = d.read(|e| e.folder_list()).await?;
    Ok(Json(
        all.into_iter()
            .filter(|f| c.sees(f.name.as_str()))
            .collect(),
    ))
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct PolicyBody {
    clone_from: Option<Vec<String>>,
    import_from: Option<Vec<String>>,
    #[serde(default)]
    require_masked: bool,
}

impl PolicyBody {
    /// Deny by default: a list left out is no folder; `["*"]` is any.
    fn policy(self) -> Result<FolderPolicy, ApiError> {
        let list = |v: Option<Vec<String>>| Allowed::parse(&v.unwrap_or_default());
        Ok(FolderPolicy {
            clone_from: list(self.clone_from)?,
            import_from: list(self.import_from)?,
            require_masked: self.require_masked,
        })
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FolderCreate {
    pool: String,
    name: String,
    clone_from: Option<Vec<String>>,
    import_from: Option<Vec<String>>,
    #[serde(default)]
    require_masked: bool,
}

async fn folder_create(
    State(d): D,
    c: Caller,
    Body(b): Body<FolderCreate>,
) -> ApiResult<populous_engine::FolderInfo> {
    c.admin()?;
    let r = FolderRef {
        pool: name("pool", &b.pool)?,
        folder: name("folder", &b.name)?,
    };
    let policy = PolicyBody {
        clone_from: b.clone_from,
        import_from: b.import_from,
        require_masked: b.require_masked,
    }
    .policy()?;
    d.write(&c.actor(), "folder create", r.to_string(), move |e| {
        e.folder_create(&r, &policy)
    })
    .await
    .map(Json)
}

async fn folder_policy(
    State(d): D,
    c: Caller,
    Path(folder): Path<String>,
    Body(b): Body<PolicyBody>,
) -> ApiResult<populous_engine::Outcome<populous_engine::FolderInfo>> {
    c.admin()?;
    let n = name("folder", &folder)?;
    let policy = b.policy()?;
    d.write(&c.actor(), "folder policy", folder, move |e| {
        e.folder_set_policy(&n, &policy)
    })
    .await
    .map(Json)
}

async fn folder_remove(
    State(d): D,
    c: Caller,
    Path(folder): Path<String>,
) -> ApiResult<serde_json::Value> {
    c.admin()?;
    let n = name("folder", &folder)?;
    d.write(&c.actor(), "folder rm", folder, move |e| {
        e.folder_remove(&n)
    })
    .await?;
    Ok(Json(serde_json::json!({"removed": true})))
}

// ----- volumes -------------------------------------------------------------------

#[derive(Debug, Deserialize)]
struct ListQuery {
    #[serde(default)]
    all: bool,
}

async fn volumes(
    State(d): D,
    c: Caller,
    Path(folder): Path<String>,
    Q(q): Q<ListQuery>,
) -> ApiResult<Vec<populous_engine::VolumeSummary>> {
    let f = name("folder", &folder)?;
    c.read(&f)?;
    let mut list = d.read(move |e| e.volume_list(Some(&f), q.all)).await?;
    for v in &mut list {
        v.redact(|f| c.sees(f));
    }
    Ok(Json(list))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct VolumeCreate {
    name: String,
    size: Option<String>,
    description: Option<String>,
    #[serde(default)]
    labels: BTreeMap<String, String>,
}

async fn volume_create(
    State(d): D,
    c: Caller,
    Path(folder): Path<String>,
    Body(b): Body<VolumeCreate>,
) -> Result<(StatusCode, Json<populous_engine::VolumeInfo>), ApiError> {
    let r = vref(&folder, &b.name)?;
    c.write(&r.folder)?;
    let opts = VolumeOptions {
        size: b.size.as_deref().map(parse_size).transpose()?,
        description: b.description,
        labels: b.labels.into_iter().collect(),
        ..Default::default()
    };
    let emit = Emit::new(EventKind::Create, &r).detail(serde_json::json!({"source": "empty"}));
    let v = d
        .write_event(&c.actor(), "volume create", r.to_string(), emit, move |e| {
            e.volume_create(&r, &opts)
        })
        .await?;
    Ok((StatusCode::CREATED, Json(c.shown(v))))
}

async fn volume_get(
    State(d): D,
    c: Caller,
    Path((f, v)): Path<(String, String)>,
) -> ApiResult<populous_engine::VolumeInfo> {
    let r = vref(&f, &v)?;
    c.read(&r.folder)?;
    let mut info = d.read(move |e| e.volume_inspect(&r)).await?;
    d.usage.fill(&mut info);
    Ok(Json(c.shown(info)))
}

async fn volume_path(
    State(d): D,
    c: Caller,
    Path((f, v)): Path<(String, String)>,
) -> ApiResult<serde_json::Value> {
    let r = vref(&f, &v)?;
    c.read(&r.folder)?;
    let p = d.read(move |e| e.volume_path(&r)).await?;
    Ok(Json(serde_json::json!({ "path": p })))
}

#[derive(Debug, Deserialize)]
struct RemoveQuery {
    #[serde(default)]
    destroy: bool,
    #[serde(default)]
    recursive: bool,
}

async fn volume_remove(
    State(d): D,
    c: Caller,
    Path((f, v)): Path<(String, String)>,
    Q(q): Q<RemoveQuery>,
) -> ApiResult<populous_engine::Outcome<()>> {
    let r = vref(&f, &v)?;
    c.write(&r.folder)?;
    let action = if q.destroy {
        "volume destroy"
    } else {
        "volume offline"
    };
    let destroyed = Emit::new(EventKind::Destroy, &r);
    let destroy = q.destroy;
    d.write_with(
        &c.actor(),
        action,
        r.to_string(),
        move |e| e.volume_remove(&r, q.destroy, q.recursive),
        // Only a destroy that destroyed something is an event (a retry is not).
        move |o| (destroy && o.changed).then_some(destroyed),
    )
    .await
    .map(Json)
}

async fn set_online(
    d: &Arc<Daemon>,
    c: &Caller,
    f: &str,
    v: &str,
    online: bool,
) -> ApiResult<populous_engine::Outcome<populous_engine::VolumeInfo>> {
    let r = vref(f, v)?;
    c.write(&r.folder)?;
    let action = if online {
        "volume online"
    } else {
        "volume offline"
    };
    let mut o = d
        .write(&c.actor(), action, r.to_string(), move |e| {
            e.volume_set_online(&r, online)
        })
        .await?;
    o.value = c.shown(o.value);
    Ok(Json(o))
}

async fn volume_offline(
    State(d): D,
    c: Caller,
    Path((f, v)): Path<(String, String)>,
) -> ApiResult<populous_engine::Outcome<populous_engine::VolumeInfo>> {
    set_online(&d, &c, &f, &v, false).await
}

async fn volume_online(
    State(d): D,
    c: Caller,
    Path((f, v)): Path<(String, String)>,
) -> ApiResult<populous_engine::Outcome<populous_engine::VolumeInfo>> {
    set_online(&d, &c, &f, &v, true).await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ImportBody {
    to: String,
    #[serde(rename = "as")]
    rename: Option<String>,
}

async fn volume_import(
    State(d): D,
    c: Caller,
    Path((f, v)): Path<(String, String)>,
    Body(b): Body<ImportBody>,
) -> ApiResult<populous_engine::VolumeInfo> {
    let r = vref(&f, &v)?;
    let to = name("folder", &b.to)?;
    // A move takes the volume away from its folder: it needs write on both
    // (and the engine checks the destination's policy).
    c.write(&r.folder)?;
    c.write(&to)?;
    let rename = b.rename.as_deref().map(|n| name("volume", n)).transpose()?;
    d.write(
        &c.actor(),
        "volume import",
        format!("{r} -> {to}"),
        move |e| e.volume_import(&r, &to, rename.as_ref()),
    )
    .await
    .map(|v| Json(c.shown(v)))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RenameBody {
    to: String,
    #[serde(default)]
    replace: bool,
}

async fn volume_rename(
    State(d): D,
    c: Caller,
    Path((f, v)): Path<(String, String)>,
    Body(b): Body<RenameBody>,
) -> ApiResult<populous_engine::Outcome<populous_engine::Renamed>> {
    let r = vref(&f, &v)?;
    c.write(&r.folder)?;
    let to = name("volume", &b.to)?;
    let replace = b.replace;
    d.write(
        &c.actor(),
        "volume rename",
        format!("{r} -> {to}{}", if replace { " (replace)" } else { "" }),
        move |e| e.volume_rename(&r, &to, replace),
    )
    .await
    .map(|mut o| {
        o.value.volume = c.shown(o.value.volume);
        Json(o)
    })
}

// ----- snapshots and clones -------------------------------------------------------

async fn snapshots(
    State(d): D,
    c: Caller,
    Path((f, v)): Path<(String, String)>,
) -> ApiResult<Vec<populous_engine::SnapshotInfo>> {
    let r = vref(&f, &v)?;
    c.read(&r.folder)?;
    let mut list = d.read(move |e| e.snapshot_list(&r)).await?;
    for s in &mut list {
        s.redact(|f| c.sees(f));
    }
    Ok(Json(list))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SnapshotCreate {
    name: String,
}

async fn snapshot_create(
    State(d): D,
    c: Caller,
    Path((f, v)): Path<(String, String)>,
    Body(b): Body<SnapshotCreate>,
) -> Result<(StatusCode, Json<populous_engine::SnapshotInfo>), ApiError> {
    let r = SnapRef {
        vol: vref(&f, &v)?,
        snapshot: name("snapshot", &b.name)?,
    };
    c.write(&r.vol.folder)?;
    let s = d
        // Quiesces MariaDB when `populous db` runs on the volume (an app-consistent snapshot).
        .write(&c.actor(), "snapshot create", r.to_string(), move |e| {
            populous_ops::snapshot(e, &r)
        })
        .await?;
    Ok((StatusCode::CREATED, Json(s)))
}

async fn snapshot_remove(
    State(d): D,
    c: Caller,
    Path((f, v, s)): Path<(String, String, String)>,
) -> ApiResult<serde_json::Value> {
    let r = SnapRef {
        vol: vref(&f, &v)?,
        snapshot: name("snapshot", &s)?,
    };
    c.write(&r.vol.folder)?;
    d.write(&c.actor(), "snapshot rm", r.to_string(), move |e| {
        e.snapshot_remove(&r)
    })
    .await?;
    Ok(Json(serde_json::json!({"removed": true})))
}

/// The most audit entries one call returns (the document says so too).
const MAX_AUDIT: usize = 10_000;

#[derive(Debug, Deserialize)]
struct AuditQuery {
    limit: Option<usize>,
}

async fn audit(
    State(d): D,
    c: Caller,
    Q(q): Q<AuditQuery>,
) -> ApiResult<Vec<populous_engine::AuditEntry>> {
    c.admin()?;
    let limit = q.limit.unwrap_or(100);
    if limit > MAX_AUDIT {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_input",
            format!("limit is at most {MAX_AUDIT}"),
        ));
    }
    d.read(move |e| e.audit_list(limit)).await.map(Json)
}

// ----- databases on volumes -------------------------------------------------------

#[derive(Debug, Deserialize, Default)]
struct DbStart {
    port: Option<u16>,
}

async fn db_start(
    State(d): D,
    c: Caller,
    Path((f, v)): Path<(String, String)>,
    Q(q): Q<DbStart>,
) -> ApiResult<populous_engine::Outcome<populous_db::Instance>> {
    let r = vref(&f, &v)?;
    c.write(&r.folder)?;
    let port = q.port;
    // A tenant must not make the daemon, often root, take a privileged port.
    if port.is_some_and(|p| p < 1024) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_input",
            "port is 1024 to 65535; leave it out to pick a free one",
        ));
    }
    d.write(&c.actor(), "db start", r.to_string(), move |e| {
        populous_ops::db::start(e, &r, port)
    })
    .await
    .map(Json)
}

async fn db_stop(
    State(d): D,
    c: Caller,
    Path((f, v)): Path<(String, String)>,
) -> ApiResult<populous_engine::Outcome<()>> {
    let r = vref(&f, &v)?;
    c.write(&r.folder)?;
    d.write(&c.actor(), "db stop", r.to_string(), move |e| {
        populous_ops::db::stop(e, &r)
    })
    .await
    .map(Json)
}

async fn dbs(State(d): D, c: Caller) -> ApiResult<Vec<populous_ops::db::VolumeDb>> {
    let home = d.home().to_owned();
    let all = populous_ops::db::list(&home);
    Ok(Json(
        all.into_iter()
            .filter(|db| db.volume.split('/').next().is_some_and(|f| c.sees(f)))
            .collect(),
    ))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    /// The OpenAPI document describes exactly the routes the router serves.
    #[test]
    fn openapi_matches_the_router() {
        let doc: serde_json::Value = serde_json::from_str(super::OPENAPI).expect("valid JSON");
        let documented: BTreeSet<(String, String)> = doc["paths"]
            .as_object()
            .expect("paths")
            .iter()
            .flat_map(|(path, item)| {
                item.as_object()
                    .expect("path item")
                    .keys()
                    .filter(|k| {
                        ["get", "put", "post", "delete", "patch", "head", "options"]
                            .contains(&k.as_str())
                    })
                    .map(move |m| (m.to_uppercase(), path.clone()))
            })
            .collect();
        let served: BTreeSet<(String, String)> = super::routes()
            .into_iter()
            .map(|(m, p)| (m.to_string(), p))
            .collect();
        let missing: Vec<_> = served.difference(&documented).collect();
        // Every path parameter is declared, as a Name.
        let params = &doc["components"]["parameters"];
        for (path, item) in doc["paths"].as_object().expect("paths") {
            let wanted: BTreeSet<&str> = path
                .split('/')
                .filter_map(|seg| seg.strip_prefix('{')?.strip_suffix('}'))
                .collect();
            for (method, op) in item.as_object().expect("path item") {
                let declared: BTreeSet<&str> = op["parameters"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|p| match p["$ref"].as_str() {
                        Some(r) => &params[r.trim_start_matches("#/components/parameters/")],
                        None => p,
                    })
                    .filter(|p| p["in"] == "path")
                    .inspect(|p| {
                        assert_eq!(
                            p["schema"]["$ref"], "#/components/schemas/Name",
                            "{method} {path}: {p}"
                        );
                    })
                    .filter_map(|p| p["name"].as_str())
                    .collect();
                assert_eq!(declared, wanted, "{method} {path}");
            }
        }
        assert_eq!(
            doc["components"]["schemas"]["Name"]["pattern"],
            "^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
        );
        let extra: Vec<_> = documented.difference(&served).collect();
        assert!(
            missing.is_empty() && extra.is_empty(),
            "served but not documented: {missing:?}; documented but not served: {extra:?}"
        );
    }
}
