//! REST handlers for clones: `POST /v1/clone` (with `"db": true`, a running
//! clone with its own login and URL, shown once) and a clone's reset.
//!
//! A clone reads its source's folder and writes its target's; a reset
//! writes the clone's folder and reads its origin's, which the engine
//! checks as for any clone.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use populous_engine::{CloneSource, EventKind, Name, VolRef, VolumeOptions};
use populous_ops::dbclone::{self, Clients, CloneDb, ResetTo};
use serde::Deserialize;

use crate::error::ApiError;
use crate::extract::{Body, Caller, Path};
use crate::state::Daemon;
use crate::webhooks::Emit;

type D = State<Arc<Daemon>>;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CloneBody {
    source: String,
    target: String,
    description: Option<String>,
    /// Unix seconds when the clone expires.
    expires_at: Option<i64>,
    /// Seconds without a client after which it goes.
    idle_after: Option<i64>,
    /// Start MariaDB on it with a login of its own and answer its URL.
    #[serde(default)]
    db: bool,
    /// With `db`: the server's memory in bytes, most connections, CPU weight.
    #[serde(default)]
    limits: populous_db::Limits,
}

pub(crate) async fn clone(
    State(d): D,
    c: Caller,
    Body(b): Body<CloneBody>,
) -> Result<Response, ApiError> {
    let src: CloneSource = b.source.parse()?;
    let dst: VolRef = b.target.parse()?;
    let src_folder = match &src {
        CloneSource::Volume(v) => &v.folder,
        CloneSource::Snapshot(s) => &s.vol.folder,
    };
    // A clone reads its source and writes its target (and the engine checks the policy).
    c.read(src_folder)?;
    c.write(&dst.folder)?;
    let options = VolumeOptions {
        description: b.description,
        expires_at: b.expires_at,
        idle_after: b.idle_after,
        ..Default::default()
    };
    let target = format!("{} -> {dst}", b.source);
    let emit = Emit::new(EventKind::Create, &dst)
        .detail(serde_json::json!({"source": "clone", "from": b.source, "db": b.db}));
    if !b.db {
        let v = d
            // Quiesces MariaDB when `populous db` runs on the source (an app-consistent clone).
            .write_event(&c.actor(), "clone", target, emit, move |e| {
                populous_ops::clone(e, &src, &dst, &options)
            })
            .await?;
        return Ok((StatusCode::CREATED, Json(c.shown(v))).into_response());
    }
    let req = CloneDb {
        source: src,
        target: dst,
        options,
        listen: d.clone_listen(),
        limits: b.limits,
    };
    let mut made = d
        .write_event(&c.actor(), "clone --db", target, emit, move |e| {
            dbclone::clone_db(e, &req)
        })
        .await?;
    made.volume = c.shown(made.volume);
    // The password is in this answer only: nothing keeps it.
    Ok((StatusCode::CREATED, Json(made)).into_response())
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct ResetBody {
    /// A snapshot of the origin volume; default its newest.
    to: Option<String>,
    /// Reset even while clients are connected.
    #[serde(default)]
    force: bool,
}

pub(crate) async fn reset(
    State(d): D,
    c: Caller,
    Path((f, v)): Path<(String, String)>,
    Body(b): Body<ResetBody>,
) -> Result<Json<dbclone::Reset>, ApiError> {
    let r = VolRef {
        folder: Name::new("folder", &f)?,
        volume: Name::new("volume", &v)?,
    };
    c.write(&r.folder)?;
    let to = match b.to {
        Some(s) => ResetTo::Snapshot(Name::new("snapshot", &s)?),
        None => ResetTo::Newest,
    };
    let clients = if b.force {
        Clients::Disconnect
    } else {
        Clients::Refuse
    };
    let emit = Emit::new(EventKind::Reset, &r);
    let mut done = d
        .write_event(&c.actor(), "volume reset", r.to_string(), emit, move |e| {
            dbclone::reset(e, &r, &to, clients)
        })
        .await?;
    done.volume = c.shown(done.volume);
    Ok(Json(done))
}
