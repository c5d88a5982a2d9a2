//! The Docker volume plugin protocol (v1), one router per configured driver.
//!
//! Every call is a POST with a JSON body (sometimes empty) and answers
//! `application/vnd.docker.plugins.v1+json`. A refusal Docker should show the
//! user is a 200 with `Err` set: Docker prints it as is, where a non-200
//! status would be prefixed with the method name. Protocol errors (malformed
//! JSON, a body too large, an unknown endpoint) are 4xx, also with `Err`.
//!
//! Each driver is locked to one folder. Docker volume names map to volumes of
//! that folder by stripping the driver's `name_suffix`; a name without the
//! suffix is refused, so two environments on one Docker engine cannot collide.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use populous_engine::{
    CloneSource, ErrorKind, EventKind, Name, Scope, SnapRef, TokenInfo, VolRef, VolumeInfo,
    VolumeOptions,
};
use populous_ops::volume::{CreateVolume, Source};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::config::PluginConfig;
use crate::options::{self, CreatePlan};
use crate::state::Daemon;
use crate::webhooks::Emit;

/// The content type of every plugin answer.
pub const CONTENT_TYPE: &str = "application/vnd.docker.plugins.v1+json";
const LABEL_DESTROY_ON_RM: &str = "docker.destroyOnRm";
const LABEL_DESTROY_ON_DETACH: &str = "docker.destroyOnDetach";
const LABEL_DRIVER: &str = "docker.driver";

/// One driver's state.
#[derive(Debug)]
pub struct Plugin {
    /// The daemon.
    pub daemon: Arc<Daemon>,
    /// This driver's configuration.
    pub config: PluginConfig,
    /// The folder it is locked to (validated from the configuration).
    pub folder: Name,
    /// The token that extends its reach beyond its folder, if configured.
    pub token: Option<TokenInfo>,
}

type P = State<Arc<Plugin>>;

fn reply(status: StatusCode, body: &Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, CONTENT_TYPE)],
        body.to_string(),
    )
        .into_response()
}

/// A successful answer.
struct Reply(Value);

impl IntoResponse for Reply {
    fn into_response(self) -> Response {
        reply(StatusCode::OK, &self.0)
    }
}

/// Why a call failed.
#[derive(Debug)]
enum Failure {
    /// A refusal for the user: 200 with `Err`, as Docker expects.
    Refuse(String),
    /// A malformed request: 400 with `Err`.
    Malformed(String),
    /// A request the HTTP layer refused (413 too large, …), with `Err`.
    Protocol(StatusCode, String),
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        match self {
            Failure::Refuse(m) => reply(StatusCode::OK, &json!({ "Err": m })),
            Failure::Malformed(m) => reply(StatusCode::BAD_REQUEST, &json!({ "Err": m })),
            Failure::Protocol(status, m) => reply(status, &json!({ "Err": m })),
        }
    }
}

impl From<String> for Failure {
    fn from(m: String) -> Self {
        Failure::Refuse(m)
    }
}

impl From<crate::error::ApiError> for Failure {
    fn from(e: crate::error::ApiError) -> Self {
        Failure::Refuse(e.message)
    }
}

type Answer = Result<Reply, Failure>;

fn done() -> Answer {
    Ok(Reply(json!({ "Err": "" })))
}

/// A request body, read in full whatever the endpoint. Axum's own `Bytes`
/// rejection (413 on an oversized body) is plain text; Docker expects `Err`.
///
/// Every endpoint takes one, even those that ignore the body: a handler that
/// answers before the body arrives lets the connection close with the body
/// unread, which resets it under a client that writes head and body apart.
struct Raw(Bytes);

impl<S: Send + Sync> axum::extract::FromRequest<S> for Raw {
    type Rejection = Failure;
    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, Failure> {
        Bytes::from_request(req, state)
            .await
            .map(Raw)
            .map_err(|rej| Failure::Protocol(rej.status(), rej.body_text()))
    }
}

/// Parses a request body; an empty body is `{}`.
fn body<T: for<'de> Deserialize<'de>>(bytes: &Bytes) -> Result<T, Failure> {
    let bytes: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) {
        b"{}"
    } else {
        bytes
    };
    serde_json::from_slice(bytes)
        .map_err(|e| Failure::Malformed(format!("malformed request JSON: {e}")))
}

#[derive(Debug, Deserialize)]
struct NameReq {
    #[serde(rename = "Name")]
    name: String,
}

#[derive(Debug, Deserialize)]
struct CreateReq {
    #[serde(rename = "Name")]
    name: String,
    #[serde(rename = "Opts", default)]
    opts: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Deserialize)]
struct MountReq {
    #[serde(rename = "Name")]
    name: String,
    #[serde(rename = "ID", default)]
    id: String,
}

/// The router for one driver.
pub fn router(plugin: Arc<Plugin>) -> Router {
    Router::new()
        .route(
            "/Plugin.Activate",
            post(|_: Raw| async { Reply(json!({"Implements": ["VolumeDriver"]})) }),
        )
        .route(
            "/VolumeDriver.Capabilities",
            post(|_: Raw| async { Reply(json!({"Capabilities": {"Scope": "local"}})) }),
        )
        .route("/VolumeDriver.Create", post(create))
        .route("/VolumeDriver.Remove", post(remove))
        .route("/VolumeDriver.Mount", post(mount))
        .route("/VolumeDriver.Unmount", post(unmount))
        .route("/VolumeDriver.Path", post(path))
        .route("/VolumeDriver.Get", post(get))
        .route("/VolumeDriver.List", post(list))
        .fallback(|| async {
            reply(
                StatusCode::NOT_FOUND,
                &json!({"Err": "unknown plugin endpoint: Populous implements VolumeDriver"}),
            )
        })
        .method_not_allowed_fallback(|| async {
            reply(
                StatusCode::METHOD_NOT_ALLOWED,
                &json!({"Err": "plugin endpoints take POST"}),
            )
        })
        .with_state(plugin)
}

impl Plugin {
    fn actor(&self) -> String {
        format!("plugin:{}", self.config.driver)
    }

    fn folder(&self) -> Name {
        self.folder.clone()
    }

    /// Docker name -> volume of this driver's folder.
    fn vol(&self, docker_name: &str) -> Result<VolRef, String> {
        let suffix = &self.config.name_suffix;
        let base = docker_name
            .strip_suffix(suffix.as_str())
            .filter(|b| !b.is_empty())
            .ok_or_else(|| {
                format!(
                    "volume names on driver {} must end in {suffix:?} (e.g. mydata{suffix})",
                    self.config.driver
                )
            })?;
        Ok(VolRef {
            folder: self.folder(),
            volume: Name::new("volume", base).map_err(|e| e.to_string())?,
        })
    }

    fn docker_name(&self, volume: &Name) -> String {
        format!("{volume}{}", self.config.name_suffix)
    }

    /// What this driver may do in `folder`: write in its own, and in others
    /// what its token grants there (a token never lets it create elsewhere:
    /// every volume it makes is in its own folder).
    fn scope(&self, folder: &str) -> Option<Scope> {
        if folder == self.config.folder {
            return Some(Scope::Write);
        }
        self.token.as_ref().and_then(|t| t.scope(folder))
    }

    /// May this driver read `folder` (to clone from it)?
    fn may_read(&self, folder: &str) -> Result<(), String> {
        if self.scope(folder).is_some() {
            return Ok(());
        }
        Err(format!(
            "driver {} may not read folder {folder}: give it a token_file whose token may read {folder} (`populous token create NAME --write {} --read {folder}`)",
            self.config.driver, self.config.folder
        ))
    }

    /// May this driver take volumes out of `folder` (`importVol` moves them)?
    fn may_move_out_of(&self, folder: &str) -> Result<(), String> {
        match self.scope(folder) {
            Some(Scope::Write) => Ok(()),
            Some(Scope::Read) => Err(format!(
                "driver {} may read folder {folder} but not move volumes out of it: importVol needs a token that may write {folder}; importVolAsClone copies instead",
                self.config.driver
            )),
            None => self.may_read(folder),
        }
    }

    /// Whether names in `folder` may appear in this driver's answers.
    fn sees(&self, folder: &str) -> bool {
        self.scope(folder).is_some()
    }

    fn status(&self, v: &VolumeInfo) -> Value {
        let mut v = v.clone();
        v.redact(|f| self.sees(f));
        json!({
            "folder": v.folder,
            "volume": v.name,
            "state": v.state,
            "origin": v.origin,
            "snapshots": v.snapshots.iter().map(|s| s.name.to_string()).collect::<Vec<_>>(),
            "masked": v.provenance.masked,
            "mounts": v.mounts.len(),
        })
    }
}

async fn create(State(p): P, Raw(bytes): Raw) -> Answer {
    let req: CreateReq = body(&bytes)?;
    let user = req.opts.unwrap_or_default();
    let plan = options::parse(&options::merge(
        &user,
        &p.config.defaults,
        &p.config.overrides,
    ))?;
    if let Some(f) = &plan.folder {
        if f != &p.config.folder {
            return Err(Failure::Refuse(format!(
                "driver {} is locked to folder {}; it cannot create in folder {f}",
                p.config.driver, p.config.folder
            )));
        }
    }
    let req = request(&p, p.vol(&req.name)?, plan)?;
    let action = match &req.source {
        Source::Empty => "volume create",
        Source::Clone(_) => "clone",
        Source::Import(_) | Source::ImportOnline(_) => "volume import",
    };
    let detail = match &req.source {
        Source::Empty => json!({"source": "empty"}),
        Source::Clone(CloneSource::Volume(v)) => json!({"source": "clone", "from": v.to_string()}),
        Source::Clone(CloneSource::Snapshot(s)) => {
            json!({"source": "clone", "from": s.to_string()})
        }
        Source::Import(from) | Source::ImportOnline(from) => {
            json!({"source": "import", "from": from.to_string()})
        }
    };
    let created = Emit::new(EventKind::Create, &req.target).detail(detail);
    // Create of an existing name is reuse (Docker calls it again, e.g. after
    // a restart): an event only when the volume was not there before.
    p.daemon
        .write_with(
            &p.actor(),
            action,
            req.target.to_string(),
            move |e| {
                let existed = e.volume_inspect(&req.target).is_ok();
                populous_ops::volume::ensure(e, &req).map(|_| existed)
            },
            move |existed| (!existed).then_some(created),
        )
        .await?;
    done()
}

/// The plan as one typed request, every check on names and scopes done:
/// nothing is read or written before this succeeds.
fn request(p: &Plugin, vol: VolRef, plan: CreatePlan) -> Result<CreateVolume, String> {
    let snap_source = |v: VolRef, snapshot: Option<Name>| match snapshot {
        None => CloneSource::Volume(v),
        Some(snapshot) => CloneSource::Snapshot(SnapRef { vol: v, snapshot }),
    };
    let source = match plan.source {
        options::Source::Empty => Source::Empty,
        options::Source::CloneOf { volume, snapshot } => {
            // cloneOf names a Docker volume of this driver, with or without its suffix.
            let own = p.vol(&volume).or_else(|_| {
                Name::new("volume", &volume)
                    .map(|n| VolRef {
                        folder: p.folder(),
                        volume: n,
                    })
                    .map_err(|e| e.to_string())
            })?;
            Source::Clone(snap_source(own, snapshot))
        }
        options::Source::ImportAsClone { from, snapshot } => {
            p.may_read(from.folder.as_str())?;
            Source::Clone(snap_source(from, snapshot))
        }
        options::Source::Import { from, force } => {
            p.may_move_out_of(from.folder.as_str())?;
            if force {
                Source::ImportOnline(from)
            } else {
                Source::Import(from)
            }
        }
    };
    let mut labels = vec![(LABEL_DRIVER.to_owned(), p.config.driver.clone())];
    if plan.destroy_on_rm {
        labels.push((LABEL_DESTROY_ON_RM.into(), "true".into()));
    }
    if plan.destroy_on_detach {
        labels.push((LABEL_DESTROY_ON_DETACH.into(), "true".into()));
    }
    Ok(CreateVolume {
        target: vol,
        source,
        options: VolumeOptions {
            size: plan.size,
            description: plan.description,
            owner: plan.owner,
            mode: plan.mode,
            labels,
            expires_at: None,
            idle_after: None,
        },
    })
}

async fn remove(State(p): P, Raw(bytes): Raw) -> Answer {
    let req: NameReq = body(&bytes)?;
    let vol = p.vol(&req.name)?;
    let d = &p.daemon;
    let r = vol.clone();
    let info = match d.read(move |e| e.volume_inspect(&r)).await {
        Ok(i) => i,
        // Already gone: removing it again is not an error.
        Err(e) if e.kind == Some(ErrorKind::NotFound) => return done(),
        Err(e) => return Err(e.into()),
    };
    let destroy = info
        .labels
        .get(LABEL_DESTROY_ON_RM)
        .is_some_and(|v| v == "true");
    let action = if destroy {
        "volume destroy"
    } else {
        "volume offline"
    };
    let destroyed = Emit::new(EventKind::Destroy, &vol);
    d.write_with(
        &p.actor(),
        action,
        vol.to_string(),
        move |e| e.volume_remove(&vol, destroy, destroy),
        move |o| (destroy && o.changed).then_some(destroyed),
    )
    .await?;
    done()
}

async fn mount(State(p): P, Raw(bytes): Raw) -> Answer {
    let req: MountReq = body(&bytes)?;
    let vol = p.vol(&req.name)?;
    let id = if req.id.is_empty() {
        "anonymous".to_owned()
    } else {
        req.id
    };
    let o = p
        .daemon
        .write(&p.actor(), "mount", format!("{vol} ({id})"), move |e| {
            e.mount_add(&vol, &id)
        })
        .await?;
    Ok(Reply(json!({"Mountpoint": o.value, "Err": ""})))
}

async fn unmount(State(p): P, Raw(bytes): Raw) -> Answer {
    let req: MountReq = body(&bytes)?;
    let vol = p.vol(&req.name)?;
    let id = if req.id.is_empty() {
        "anonymous".to_owned()
    } else {
        req.id
    };
    let r = vol.clone();
    let destroyed = Emit::new(EventKind::Destroy, &vol).detail(json!({"on": "detach"}));
    p.daemon
        .write_with(
            &p.actor(),
            "unmount",
            format!("{vol} ({id})"),
            move |e| {
                let left = e.mount_remove(&r, &id)?.value;
                let info = e.volume_inspect(&r)?;
                let destroy = left == 0
                    && info
                        .labels
                        .get(LABEL_DESTROY_ON_DETACH)
                        .is_some_and(|v| v == "true");
                if destroy {
                    e.volume_remove(&r, true, true)?;
                }
                Ok::<bool, populous_engine::Error>(destroy)
            },
            // The last detach of a destroyOnDetach volume destroys it.
            move |destroyed_it| destroyed_it.then_some(destroyed),
        )
        .await?;
    done()
}

async fn path(State(p): P, Raw(bytes): Raw) -> Answer {
    let req: NameReq = body(&bytes)?;
    let vol = p.vol(&req.name)?;
    let path = p.daemon.read(move |e| e.volume_path(&vol)).await?;
    Ok(Reply(json!({"Mountpoint": path, "Err": ""})))
}

async fn get(State(p): P, Raw(bytes): Raw) -> Answer {
    let req: NameReq = body(&bytes)?;
    let vol = p.vol(&req.name)?;
    let name = req.name;
    match p.daemon.read(move |e| e.volume_inspect(&vol)).await {
        // Offline volumes are invisible to consumers.
        Ok(v) if v.state == populous_engine::VolumeState::Online => Ok(Reply(json!({
            "Volume": {
                "Name": name,
                "Mountpoint": v.path,
                "CreatedAt": populous_engine::model::rfc3339(v.created_at),
                "Status": p.status(&v),
            },
            "Err": ""
        }))),
        Ok(_) => Err(Failure::Refuse(format!(
            "no such volume: {name} (it is offline)"
        ))),
        Err(e) if e.kind == Some(ErrorKind::NotFound) => {
            Err(Failure::Refuse(format!("no such volume: {name}")))
        }
        Err(e) => Err(e.into()),
    }
}

async fn list(State(p): P, _: Raw) -> Answer {
    let folder = p.folder();
    match p
        .daemon
        .read(move |e| e.volume_list(Some(&folder), false))
        .await
    {
        Ok(vols) => {
            let list: Vec<Value> = vols
                .iter()
                .map(|v| json!({"Name": p.docker_name(&v.name)}))
                .collect();
            Ok(Reply(json!({"Volumes": list, "Err": ""})))
        }
        // A folder that does not exist yet simply has no volumes.
        Err(e) if e.kind == Some(ErrorKind::NotFound) => {
            Ok(Reply(json!({"Volumes": [], "Err": ""})))
        }
        Err(e) => Err(e.into()),
    }
}
