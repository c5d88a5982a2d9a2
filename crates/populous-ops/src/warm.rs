//! Warm clones: a folder keeps a few clones of an origin's newest snapshot
//! with their servers already started, so that a request for a running
//! clone ([`crate::dbclone::clone_db`]) gets a URL without waiting for a
//! server to start.
//!
//! A warm clone is an ordinary volume named `warm-…`, labelled with the
//! origin and the snapshot it holds, whose server runs with no login but
//! root's socket. [`refill`] (run by `populous serve` for each configured
//! pool) makes the missing ones and removes those of an older snapshot;
//! [`claim`] gives one the name, login and lifecycle a request asks for:
//! it grants the login on the running server, renames the volume (the
//! server knows it by id; its run files are reached through a link, which
//! moves with the name) and records the login, so the first query needs no
//! server start.

use std::path::Path;

use populous_db::{DbUser, PasswordHash};
use populous_engine::{CloneSource, Engine, Name, SnapRef, VolRef, VolumeOptions};

use crate::dbclone::{self, CloneDb, DbClone, Listen};
use crate::{db, Result};

/// The label naming a warm clone's origin volume (`folder/volume`).
pub const WARM_OF: &str = "populous.warm-of";
/// The label naming the snapshot of the origin it holds.
pub const WARM_SNAPSHOT: &str = "populous.warm-snapshot";

/// A warm pool: `count` running clones of `origin`'s newest snapshot in `folder`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WarmPool {
    /// The volume whose newest snapshot the clones hold.
    pub origin: VolRef,
    /// Where they wait.
    pub folder: Name,
    /// How many.
    pub count: usize,
}

/// What a refill did.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Refill {
    /// The snapshot the pool holds now (none while the origin has none).
    pub snapshot: Option<String>,
    /// Warm clones made.
    pub made: Vec<String>,
    /// Warm clones removed (of an older snapshot, or with no server running).
    pub removed: Vec<String>,
}

/// The newest snapshot of `origin`.
fn newest(engine: &Engine, origin: &VolRef) -> Result<Option<SnapRef>> {
    Ok(engine
        .snapshot_list(origin)?
        .into_iter()
        .max_by_key(|s| s.created_at)
        .map(|s| SnapRef {
            vol: origin.clone(),
            snapshot: s.name,
        }))
}

/// A warm clone waiting in `folder`: its volume and the snapshot it holds.
struct Waiting {
    volume: VolRef,
    snapshot: String,
    running: bool,
}

fn waiting(engine: &Engine, folder: &Name, origin: &VolRef) -> Result<Vec<Waiting>> {
    let home = engine.home().to_owned();
    let mut out = Vec::new();
    for v in engine.volume_list(Some(folder), false)? {
        if !v.name.as_str().starts_with("warm-") {
            continue;
        }
        let r = VolRef {
            folder: folder.clone(),
            volume: v.name.clone(),
        };
        let info = engine.volume_inspect(&r)?;
        if info.labels.get(WARM_OF).map(String::as_str) != Some(&origin.to_string()) {
            continue;
        }
        out.push(Waiting {
            snapshot: info.labels.get(WARM_SNAPSHOT).cloned().unwrap_or_default(),
            running: db::running(&home, &r).is_some(),
            volume: r,
        });
    }
    Ok(out)
}

fn remove(engine: &mut Engine, r: &VolRef) -> Result<()> {
    db::stop(engine, r)?;
    engine.volume_remove(r, true, true)?;
    dbclone::forget(engine.home(), r);
    Ok(())
}

/// Brings `pool` to its count of running clones of the origin's newest
/// snapshot; removes the others.
pub fn refill(engine: &mut Engine, pool: &WarmPool, listen: &Listen) -> Result<Refill> {
    let mut done = Refill::default();
    let Some(snap) = newest(engine, &pool.origin)? else {
        return Ok(done);
    };
    done.snapshot = Some(snap.to_string());
    let mut fresh = 0;
    for w in waiting(engine, &pool.folder, &pool.origin)? {
        if w.snapshot == snap.snapshot.as_str() && w.running && fresh < pool.count {
            fresh += 1;
        } else {
            remove(engine, &w.volume)?;
            done.removed.push(w.volume.to_string());
        }
    }
    while fresh < pool.count {
        let r = VolRef {
            folder: pool.folder.clone(),
            volume: Name::new("volume", &format!("warm-{}", random_hex(12)))?,
        };
        link_run_dir(engine.home(), &r)?;
        let opts = VolumeOptions {
            labels: vec![
                (WARM_OF.to_owned(), pool.origin.to_string()),
                (WARM_SNAPSHOT.to_owned(), snap.snapshot.to_string()),
            ],
            ..Default::default()
        };
        let made = match engine.clone_volume(&CloneSource::Snapshot(snap.clone()), &r, &opts) {
            Ok(m) => m,
            Err(e) => {
                dbclone::forget(engine.home(), &r);
                return Err(e.into());
            }
        };
        dbclone::start_with_logins(
            engine,
            &r,
            made.created_at,
            listen,
            &[],
            populous_db::Limits::default(),
        )?;
        done.made.push(r.to_string());
        fresh += 1;
    }
    Ok(done)
}

/// A warm clone's run dir lives under `<home>/db/.warm/ID`, reached through
/// a link at the volume's usual place: a claim moves the link, and the
/// running server keeps the paths it was started with.
fn link_run_dir(home: &Path, r: &VolRef) -> Result<()> {
    let io = |what, p: &Path| {
        let p = p.to_owned();
        move |e| populous_db::DbError::io(what, p, e)
    };
    let real = home.join("db").join(".warm").join(random_hex(16));
    std::fs::create_dir_all(&real).map_err(io("creating", &real))?;
    let link = db::run_dir(home, r);
    if let Some(parent) = link.parent() {
        std::fs::create_dir_all(parent).map_err(io("creating", parent))?;
    }
    std::os::unix::fs::symlink(&real, &link).map_err(io("linking", &link))?;
    Ok(())
}

fn random_hex(n: usize) -> String {
    use rand::Rng;
    let mut rng = rand::rng();
    (0..n)
        .map(|_| char::from_digit(rng.random_range(0..16), 16).unwrap_or('0'))
        .collect()
}

/// Gives a waiting warm clone the name, login and lifecycle `req` asks
/// for, if one holds what it asks: the origin's newest snapshot (a clone
/// of the origin volume) or exactly the named snapshot. `None`: none waits
/// (the caller makes a clone the cold way).
pub fn claim(engine: &mut Engine, req: &CloneDb) -> Result<Option<DbClone>> {
    let (origin, wanted) = match &req.source {
        CloneSource::Volume(v) => match newest(engine, v)? {
            Some(s) => (v.clone(), s.snapshot),
            None => return Ok(None),
        },
        CloneSource::Snapshot(s) => (s.vol.clone(), s.snapshot.clone()),
    };
    let home = engine.home().to_owned();
    let Some(w) = waiting(engine, &req.target.folder, &origin)?
        .into_iter()
        .find(|w| w.running && w.snapshot == wanted.as_str())
    else {
        return Ok(None);
    };
    let Some(instance) = db::running(&home, &w.volume) else {
        return Ok(None);
    };
    // The engine refuses a name that is taken, before anything changes.
    if engine.volume_inspect(&req.target).is_ok() {
        return Ok(None);
    }
    let password = populous_db::random_password();
    let user = DbUser::new(
        &dbclone::user_name(&req.target),
        PasswordHash::of(&password),
    )?;
    populous_db::grant_logins(&instance.socket, std::slice::from_ref(&user))?;
    engine.volume_rename_held(&w.volume, &req.target.volume, db::MOUNT_ID)?;
    // The link moves with the name; a stale run dir of an older volume of
    // that name goes first.
    let from = db::run_dir(&home, &w.volume);
    let to = db::run_dir(&home, &req.target);
    dbclone::forget_stale(&home, &req.target);
    std::fs::rename(&from, &to).map_err(|e| populous_db::DbError::io("moving", &from, e))?;
    let info = engine.volume_inspect(&req.target)?;
    dbclone::save(
        &home,
        &req.target,
        &dbclone::Access {
            volume_created_at: info.created_at,
            pending_created_at: None,
            bind: instance.bind,
            port: instance.port,
            users: vec![user.clone()],
            limits: populous_db::Limits::default(),
        },
    )?;
    engine.volume_unset_labels(&req.target, &[WARM_OF, WARM_SNAPSHOT])?;
    if !req.options.labels.is_empty() {
        engine.volume_set_labels(&req.target, &req.options.labels)?;
    }
    if req.options.expires_at.is_some() {
        engine.volume_expire_at(&req.target, req.options.expires_at)?;
    }
    if req.options.idle_after.is_some() {
        engine.volume_idle_after(&req.target, req.options.idle_after)?;
    }
    db::record_login(&home, &req.target, &user.name)?;
    let volume = engine.volume_inspect(&req.target)?;
    tracing::info!(volume = %req.target, from = %w.volume, "claimed a warm clone");
    let listen = Listen {
        addr: instance.bind,
        ports: req.listen.ports,
    };
    Ok(Some(dbclone::answer(
        volume,
        &listen,
        instance.port,
        user.name,
        password,
    )))
}
