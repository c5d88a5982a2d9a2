//! The REST API: every engine operation, behind folder-scoped bearer tokens.
//!
//! Handlers are a few lines each: check names, check the caller's folders,
//! call the engine through [`Daemon`]. A folder the token does not cover
//! answers 404, exactly like a folder that does not exist, so a token cannot
//! probe for other tenants' names.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, FromRequestParts, Query, Request, State};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{delete, get, post, put};
use axum::{Json, Router};
use populous_engine::size::parse_size;
use populous_engine::{
    BackendKind, CloneSource, FolderPolicy, FolderRef, FsKind, Name, SnapRef, TokenInfo, VolRef,
    VolumeOptions,
};
use serde::de::DeserializeOwned;
use serde::Deserialize;

use crate::error::ApiError;
use crate::state::Daemon;

type D = State<Arc<Daemon>>;
type ApiResult<T> = Result<Json<T>, ApiError>;

/// The OpenAPI description of this API.
pub const OPENAPI: &str = include_str!("openapi.json");

/// The authenticated caller.
#[derive(Debug, Clone)]
pub struct Caller(pub TokenInfo);

impl Caller {
    fn actor(&self) -> String {
        format!("token:{}", self.0.name)
    }
    /// 404 unless the token covers `folder`.
    fn see(&self, folder: &Name) -> Result<(), ApiError> {
        if self.0.covers(folder.as_str()) {
            Ok(())
        } else {
            Err(ApiError::invisible(folder.as_str()))
        }
    }
    fn admin(&self) -> Result<(), ApiError> {
        if self.0.admin {
            Ok(())
        } else {
            Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                "this needs an admin token (`populous token create NAME --admin`)",
            ))
        }
    }
}

impl FromRequestParts<Arc<Daemon>> for Caller {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, d: &Arc<Daemon>) -> Result<Self, ApiError> {
        let secret = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(bearer)
            .ok_or_else(ApiError::unauthorized)?;
        Ok(Caller(d.authenticate(secret.to_owned()).await?))
    }
}

/// The secret of an `Authorization: Bearer <secret>` value. The scheme is
/// case-insensitive (RFC 9110 §11.1): `bearer x` is the same credential.
fn bearer(value: &str) -> Option<&str> {
    let (scheme, secret) = value.trim().split_once(' ')?;
    let secret = secret.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !secret.is_empty()).then_some(secret)
}

/// A query string whose rejections are API errors (400 `invalid_input`), not axum's plain text.
#[derive(Debug)]
pub struct Q<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Q<T> {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match Query::<T>::from_request_parts(parts, state).await {
            Ok(Query(v)) => Ok(Q(v)),
            Err(rej) => Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_input",
                format!("invalid query string: {}", rej.body_text()),
            )),
        }
    }
}

/// Path parameters whose rejections (bad percent-encoding, not UTF-8) are API errors.
#[derive(Debug)]
pub struct Path<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for Path<T> {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(v)) => Ok(Path(v)),
            Err(rej) => Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_input",
                format!("invalid path: {}", rej.body_text()),
            )),
        }
    }
}

/// A JSON body whose rejections are API errors (400 malformed, 413 too large, 415 wrong type).
#[derive(Debug)]
pub struct Body<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Body<T> {
    type Rejection = ApiError;
    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(v)) => Ok(Body(v)),
            Err(rej) => Err(json_rejection(&rej)),
        }
    }
}

fn json_rejection(rej: &JsonRejection) -> ApiError {
    let status = rej.status();
    let code = match status {
        StatusCode::PAYLOAD_TOO_LARGE => "too_large",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        _ => "invalid_json",
    };
    // Axum answers 422 for JSON of the wrong shape; the API calls all of it a bad request.
    let status = if status == StatusCode::UNPROCESSABLE_ENTITY {
        StatusCode::BAD_REQUEST
    } else {
        status
    };
    ApiError::new(
        status,
        code,
        format!("invalid request body: {}", rej.body_text()),
    )
}

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
    let vol = "/v1/folders/{folder}/volumes/{volume}";
    Router::new()
        .route(
            "/healthz",
            get(|| async { Json(serde_json::json!({"status": "ok"})) }),
        )
        .route("/metrics", get(metrics))
        .route(
            "/v1/openapi.json",
            get(|| async { ([(header::CONTENT_TYPE, "application/json")], OPENAPI) }),
        )
        .route("/v1/whoami", get(|c: Caller| async move { Json(c.0) }))
        .route("/v1/pools", get(pools).post(pool_create))
        .route("/v1/pools/{pool}", delete(pool_remove))
        .route("/v1/folders", get(folders).post(folder_create))
        .route("/v1/folders/{folder}", delete(folder_remove))
        .route("/v1/folders/{folder}/policy", put(folder_policy))
        .route(
            "/v1/folders/{folder}/volumes",
            get(volumes).post(volume_create),
        )
        .route(vol, get(volume_get).delete(volume_remove))
        .route(&format!("{vol}/path"), get(volume_path))
        .route(&format!("{vol}/offline"), post(volume_offline))
        .route(&format!("{vol}/online"), post(volume_online))
        .route(&format!("{vol}/import"), post(volume_import))
        .route(&format!("{vol}/rename"), post(volume_rename))
        .route(
            &format!("{vol}/snapshots"),
            get(snapshots).post(snapshot_create),
        )
        .route(
            &format!("{vol}/snapshots/{{snapshot}}"),
            delete(snapshot_remove),
        )
        .route("/v1/clone", post(clone))
        .route(&format!("{vol}/db/start"), post(db_start))
        .route(&format!("{vol}/db/stop"), post(db_stop))
        .route("/v1/db", get(dbs))
        .route("/v1/audit", get(audit))
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
        })
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
    match (b.path, b.image) {
        (Some(path), None) => {
            d.write(&c.actor(), "pool create", target, move |e| {
                e.pool_adopt(&n, &path, backend)
            })
            .await
        }
        (None, Some(image)) => {
            let size = parse_size(b.size.as_deref().unwrap_or_default())?;
            let fs: FsKind = b.fs.as_deref().unwrap_or("btrfs").parse()?;
            d.write(&c.actor(), "pool create", target, move |e| {
                e.pool_create_image(&n, &image, size, fs, backend)
            })
            .await
        }
        _ => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_input",
            "give either path or image (with size)",
        )),
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
            .filter(|f| c.0.covers(f.name.as_str()))
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
    fn policy(self) -> Result<FolderPolicy, ApiError> {
        let list = |v: Option<Vec<String>>| -> Result<Option<Vec<Name>>, ApiError> {
            v.map(|v| v.iter().map(|s| name("folder", s)).collect())
                .transpose()
        };
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
    c.see(&f)?;
    d.read(move |e| e.volume_list(Some(&f), q.all))
        .await
        .map(Json)
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
    c.see(&r.folder)?;
    let opts = VolumeOptions {
        size: b.size.as_deref().map(parse_size).transpose()?,
        description: b.description,
        labels: b.labels.into_iter().collect(),
        ..Default::default()
    };
    let v = d
        .write(&c.actor(), "volume create", r.to_string(), move |e| {
            e.volume_create(&r, &opts)
        })
        .await?;
    Ok((StatusCode::CREATED, Json(v)))
}

async fn volume_get(
    State(d): D,
    c: Caller,
    Path((f, v)): Path<(String, String)>,
) -> ApiResult<populous_engine::VolumeInfo> {
    let r = vref(&f, &v)?;
    c.see(&r.folder)?;
    d.read(move |e| e.volume_inspect(&r)).await.map(Json)
}

async fn volume_path(
    State(d): D,
    c: Caller,
    Path((f, v)): Path<(String, String)>,
) -> ApiResult<serde_json::Value> {
    let r = vref(&f, &v)?;
    c.see(&r.folder)?;
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
    c.see(&r.folder)?;
    let action = if q.destroy {
        "volume destroy"
    } else {
        "volume offline"
    };
    d.write(&c.actor(), action, r.to_string(), move |e| {
        e.volume_remove(&r, q.destroy, q.recursive)
    })
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
    c.see(&r.folder)?;
    let action = if online {
        "volume online"
    } else {
        "volume offline"
    };
    d.write(&c.actor(), action, r.to_string(), move |e| {
        e.volume_set_online(&r, online)
    })
    .await
    .map(Json)
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
    // Moving between folders needs a token that covers both; the folder policy is checked by the engine.
    c.see(&r.folder)?;
    c.see(&to)?;
    let rename = b.rename.as_deref().map(|n| name("volume", n)).transpose()?;
    d.write(
        &c.actor(),
        "volume import",
        format!("{r} -> {to}"),
        move |e| e.volume_import(&r, &to, rename.as_ref()),
    )
    .await
    .map(Json)
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
    c.see(&r.folder)?;
    let to = name("volume", &b.to)?;
    let replace = b.replace;
    d.write(
        &c.actor(),
        "volume rename",
        format!("{r} -> {to}{}", if replace { " (replace)" } else { "" }),
        move |e| e.volume_rename(&r, &to, replace),
    )
    .await
    .map(Json)
}

// ----- snapshots and clones -------------------------------------------------------

async fn snapshots(
    State(d): D,
    c: Caller,
    Path((f, v)): Path<(String, String)>,
) -> ApiResult<Vec<populous_engine::SnapshotInfo>> {
    let r = vref(&f, &v)?;
    c.see(&r.folder)?;
    d.read(move |e| e.snapshot_list(&r)).await.map(Json)
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
    c.see(&r.vol.folder)?;
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
    c.see(&r.vol.folder)?;
    d.write(&c.actor(), "snapshot rm", r.to_string(), move |e| {
        e.snapshot_remove(&r)
    })
    .await?;
    Ok(Json(serde_json::json!({"removed": true})))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CloneBody {
    source: String,
    target: String,
    description: Option<String>,
}

async fn clone(
    State(d): D,
    c: Caller,
    Body(b): Body<CloneBody>,
) -> Result<(StatusCode, Json<populous_engine::VolumeInfo>), ApiError> {
    let src: CloneSource = b.source.parse()?;
    let dst: VolRef = b.target.parse()?;
    let src_folder = match &src {
        CloneSource::Volume(v) => &v.folder,
        CloneSource::Snapshot(s) => &s.vol.folder,
    };
    // A cross-folder clone needs a token that covers both folders (and the engine checks the policy).
    c.see(src_folder)?;
    c.see(&dst.folder)?;
    let opts = VolumeOptions {
        description: b.description,
        ..Default::default()
    };
    let target = format!("{} -> {dst}", b.source);
    let v = d
        // Quiesces MariaDB when `populous db` runs on the source (an app-consistent clone).
        .write(&c.actor(), "clone", target, move |e| {
            populous_ops::clone(e, &src, &dst, &opts)
        })
        .await?;
    Ok((StatusCode::CREATED, Json(v)))
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
    c.see(&r.folder)?;
    let port = q.port;
    if port == Some(0) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_input",
            "port is 1 to 65535; leave it out to pick a free one",
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
    c.see(&r.folder)?;
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
            .filter(|db| db.volume.split('/').next().is_some_and(|f| c.0.covers(f)))
            .collect(),
    ))
}
