//! REST handlers for sources: list, status, snapshot now.
//!
//! A source is visible to a token that may read the folder of its replica's
//! volume, and snapshotted by one that may write it; any other source
//! answers 404 like one that does not exist.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use populous_engine::{Name, SourceInfo, SourceSnapshot};
use populous_ops::source::SourceStatus;

use crate::error::ApiError;
use crate::extract::{Caller, Path};
use crate::state::Daemon;

type D = State<Arc<Daemon>>;

fn invisible(name: &str) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        format!("source {name} does not exist or this token cannot see it"),
    )
}

async fn visible(d: &Arc<Daemon>, c: &Caller, name: &str) -> Result<SourceInfo, ApiError> {
    let n = Name::new("source", name)?;
    let s = match d.read(move |e| e.source_get(&n)).await {
        Ok(s) => s,
        Err(e) if e.status == StatusCode::NOT_FOUND => return Err(invisible(name)),
        Err(e) => return Err(e),
    };
    if c.sees(s.volume.folder.as_str()) {
        Ok(s)
    } else {
        Err(invisible(name))
    }
}

/// `GET /v1/sources`: the sources whose replica the token may read.
pub(crate) async fn list(State(d): D, c: Caller) -> Result<Json<Vec<SourceInfo>>, ApiError> {
    let all = d.read(|e| e.source_list()).await?;
    Ok(Json(
        all.into_iter()
            .filter(|s| c.sees(s.volume.folder.as_str()))
            .collect(),
    ))
}

/// `GET /v1/sources/{source}`: replication threads, lag, snapshots.
pub(crate) async fn status(
    State(d): D,
    c: Caller,
    Path(name): Path<String>,
) -> Result<Json<SourceStatus>, ApiError> {
    let s = visible(&d, &c, &name).await?;
    let n = s.name.clone();
    // It asks the replica and the source over the network: off the readers' pool.
    let home = d.home().to_owned();
    let st = tokio::task::spawn_blocking(move || {
        let engine = populous_engine::Engine::open(&home)?;
        populous_ops::source::status(&engine, &n)
    })
    .await
    .map_err(|e| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            format!("the status failed unexpectedly ({e})"),
        )
    })??;
    Ok(Json(st))
}

/// `POST /v1/sources/{source}/snapshots`: a snapshot now, with its clean base.
pub(crate) async fn snapshot(
    State(d): D,
    c: Caller,
    Path(name): Path<String>,
) -> Result<(StatusCode, Json<SourceSnapshot>), ApiError> {
    let s = visible(&d, &c, &name).await?;
    c.write(&s.volume.folder)?;
    let n = s.name.clone();
    let taken = d
        .write(&c.actor(), "source snapshot", name, move |e| {
            populous_ops::source::snapshot(e, &n, None)
        })
        .await?;
    Ok((StatusCode::CREATED, Json(taken)))
}
