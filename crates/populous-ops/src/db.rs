//! Databases on volumes: one MariaDB instance per volume.
//!
//! The volume's root is the datadir, as it is when the same volume is mounted
//! at `/var/lib/mysql` in a container. Each instance's socket, pid file,
//! error log and a record of the instance live under
//! `<home>/db/<folder>/<volume>/`. A running instance holds a mount on its
//! volume (mount id `populous-db`), so the engine refuses to take the volume
//! offline, import or destroy it under the server's feet.
//!
//! Snapshots and clones of a volume with a running server (see
//! [`crate::snapshot`]) are taken under [`populous_db::quiesce`].

use std::path::{Path, PathBuf};

use populous_engine::{Engine, Outcome, VolRef};

use populous_db::{
    adopt_datadir, init_datadir, is_running, stop_pid_file, DbError, InitOutcome, Instance,
    InstanceSpec,
};

use crate::db_io::{DatadirIo, DbIo};
use crate::Result;

/// The mount id a running instance holds on its volume.
pub const MOUNT_ID: &str = "populous-db";
const RECORD: &str = "instance.json";

/// One database instance on a volume.
#[derive(Debug, Clone, serde::Serialize)]
pub struct VolumeDb {
    /// `folder/volume`.
    pub volume: String,
    /// Whether `mariadbd` is running now.
    pub running: bool,
    /// The instance as last started (its InnoDB settings in `instance.io`).
    pub instance: Instance,
    /// The datadir's `NOCOW` state (see [`crate::db_io`]).
    pub datadir_io: DatadirIo,
}

/// The I/O settings for a database on `r`, by its pool's backend.
pub fn io_for(engine: &Engine, r: &VolRef) -> Result<DbIo> {
    let pool = engine.folder_get(&r.folder)?.pool;
    let info = engine
        .pool_list()?
        .into_iter()
        .find(|p| p.name == pool)
        .ok_or_else(|| populous_engine::Error::NotFound {
            what: "pool",
            name: pool.to_string(),
            hint: String::new(),
        })?;
    Ok(crate::db_io::for_pool(info.backend, info.fs.parse().ok()))
}

/// Gives the empty datadir of a volume the flags before its first file
/// (see [`crate::db_io::prepare`]); a volume with files is left as it is.
pub(crate) fn prepare_datadir(datadir: &Path, io: &DbIo) -> std::result::Result<(), DbError> {
    if crate::db_io::prepare(datadir, io)
        .map_err(|e| DbError::io("setting nodatacow on", datadir, e))?
    {
        tracing::info!(datadir = %datadir.display(), "new datadir: nodatacow");
    }
    Ok(())
}

/// Where an instance's run files live.
pub fn run_dir(home: &Path, r: &VolRef) -> PathBuf {
    home.join("db")
        .join(r.folder.as_str())
        .join(r.volume.as_str())
}

fn read_record(dir: &Path) -> Option<Instance> {
    let text = std::fs::read_to_string(dir.join(RECORD)).ok()?;
    serde_json::from_str(&text).ok()
}

/// The running instance on a volume, if any.
pub fn running(home: &Path, r: &VolRef) -> Option<Instance> {
    read_record(&run_dir(home, r)).filter(|i| is_running(&i.pid_file))
}

/// Starts MariaDB on a volume, initialising the datadir if the volume is empty.
/// Already running: `changed` is false and the running instance is returned.
///
/// No server replicates on its own (`--skip-slave-start`): a clone of a
/// replica must never connect to production. The one server that does is a
/// source's replica, on the source's own volume: it gets its replication
/// options and is told to replicate once it runs.
pub fn start(engine: &mut Engine, r: &VolRef, port: Option<u16>) -> Result<Outcome<Instance>> {
    let replica = engine.source_of_volume(r)?;
    let started = start_as(engine, r, port, replica.as_ref().map(|s| s.server_id))?;
    if let (Some(_), true) = (&replica, started.changed) {
        populous_source::replica::resume(&started.value.socket_url())?;
    }
    Ok(started)
}

/// Starts the server, as a replica with `server_id` when given (its
/// replication files in the run directory, never on the volume).
pub(crate) fn start_as(
    engine: &mut Engine,
    r: &VolRef,
    port: Option<u16>,
    replica_id: Option<u32>,
) -> Result<Outcome<Instance>> {
    let home = engine.home().to_owned();
    if let Some(i) = running(&home, r) {
        return Ok(Outcome {
            changed: false,
            value: i,
        });
    }
    let datadir = engine.volume_path(r)?;
    let io = io_for(engine, r)?;
    // A self-service clone keeps its port and login (see crate::dbclone).
    let created_at = engine.volume_inspect(r)?.created_at;
    let access = crate::dbclone::load(&home, r, created_at);
    // Hold the volume first, so it cannot go offline while the server starts.
    engine.mount_add(r, MOUNT_ID)?;
    let started = (|| {
        prepare_datadir(&datadir, &io)?;
        if init_datadir(&datadir, "mysql")? == InitOutcome::Created {
            tracing::info!(volume = %r, "initialised a new MariaDB datadir");
        } else {
            adopt_datadir(&datadir, "mysql")?;
        }
        let dir = run_dir(&home, r);
        let mut spec = InstanceSpec::new(&datadir, &dir);
        spec.port = port;
        if let Some(a) = &access {
            spec.port = Some(a.port);
            spec.bind = a.bind;
            spec.tcp = populous_db::TcpAccess::Users(a.users.clone());
            spec.limits = a.limits;
        }
        spec.io = io.server;
        spec.extra_args
            .push(populous_source::replica::SKIP_SLAVE_START.to_owned());
        if let Some(id) = replica_id {
            spec.extra_args
                .extend(populous_source::replica::server_args(id, &dir));
        }
        let instance = populous_db::start(&spec)?;
        let json = serde_json::to_string_pretty(&instance).unwrap_or_default();
        std::fs::write(dir.join(RECORD), json)
            .map_err(|e| DbError::io("writing", dir.join(RECORD), e))?;
        Ok::<_, DbError>(instance)
    })();
    match started {
        Ok(instance) => Ok(Outcome {
            changed: true,
            value: instance,
        }),
        Err(e) => {
            let _ = engine.mount_remove(r, MOUNT_ID);
            Err(e.into())
        }
    }
}

/// Stops the instance on a volume and releases its mount. Not running: `changed` is false.
pub fn stop(engine: &mut Engine, r: &VolRef) -> Result<Outcome<()>> {
    let dir = run_dir(engine.home(), r);
    let record = read_record(&dir);
    let pid_file = record
        .as_ref()
        .map(|i| i.pid_file.clone())
        .unwrap_or_else(|| dir.join("mariadbd.pid"));
    let outcome = stop_pid_file(&pid_file, populous_db::DEFAULT_STOP_TIMEOUT)?;
    if let Some(i) = &record {
        populous_db::limits::remove(&i.confinement.cgroups);
    }
    let _ = std::fs::remove_file(dir.join(RECORD));
    // The volume may be gone (destroyed by someone else); then there is no mount to release.
    let released = match engine.mount_remove(r, MOUNT_ID) {
        Ok(o) => o.changed,
        Err(e) if e.kind() == populous_engine::ErrorKind::NotFound => false,
        Err(e) => return Err(e.into()),
    };
    Ok(Outcome {
        changed: released || outcome != populous_db::StopOutcome::NotRunning,
        value: (),
    })
}

/// Records in a running instance's record that `user` is its login (a
/// claimed warm clone, started without one): its URL names it.
pub(crate) fn record_login(home: &Path, r: &VolRef, user: &str) -> Result<()> {
    let dir = run_dir(home, r);
    let Some(mut i) = read_record(&dir) else {
        return Ok(());
    };
    let rest = i.url.trim_start_matches("mysql://");
    let at = rest.rsplit_once('@').map_or(rest, |(_, at)| at).to_owned();
    i.url = format!("mysql://{user}@{at}");
    let json = serde_json::to_string_pretty(&i).unwrap_or_default();
    std::fs::write(dir.join(RECORD), json)
        .map_err(|e| DbError::io("writing", dir.join(RECORD), e))?;
    Ok(())
}

/// Every instance recorded under the home, running or not.
pub fn list(home: &Path) -> Vec<VolumeDb> {
    let mut out = Vec::new();
    let Ok(folders) = std::fs::read_dir(home.join("db")) else {
        return out;
    };
    for f in folders.flatten() {
        // `.warm` holds warm clones' run dirs, reached through their links.
        if f.file_name().to_string_lossy().starts_with('.') {
            continue;
        }
        let Ok(vols) = std::fs::read_dir(f.path()) else {
            continue;
        };
        for v in vols.flatten() {
            if let Some(instance) = read_record(&v.path()) {
                out.push(VolumeDb {
                    volume: format!(
                        "{}/{}",
                        f.file_name().to_string_lossy(),
                        v.file_name().to_string_lossy()
                    ),
                    running: is_running(&instance.pid_file),
                    datadir_io: DatadirIo::of(&instance.datadir),
                    instance,
                });
            }
        }
    }
    out.sort_by(|a, b| a.volume.cmp(&b.volume));
    out
}

/// The pool that holds `r`, and its free bytes (`None` where the
/// filesystem does not say).
pub(crate) fn pool_free(engine: &Engine, r: &VolRef) -> Result<(String, Option<u64>)> {
    let pool = engine.folder_get(&r.folder)?.pool;
    let free = engine
        .pool_list()?
        .into_iter()
        .find(|p| p.name == pool)
        .and_then(|p| p.free_bytes);
    Ok((pool.to_string(), free))
}

/// What InnoDB writes per byte of row data, at most, on top of it: pages
/// are not full, and the undo and redo logs write the rows again.
const WRITE_OVERHEAD: f64 = 1.3;

/// Fills the seed's table in the database on `r` (its running server) with
/// the generator. The pool's free space is checked first: a generation that
/// cannot fit stops with `no_space` before MariaDB runs out of disk (which
/// kills the server) and before anything is written.
pub fn generate(
    engine: &Engine,
    r: &VolRef,
    opts: &populous_app::GenerateOptions,
    progress: impl Fn(&populous_app::Progress) + Send + Sync + 'static,
) -> Result<populous_app::GenerateReport> {
    let instance = running(engine.home(), r).ok_or_else(|| crate::Error::NotRunning {
        volume: r.to_string(),
    })?;
    if !opts.resume {
        let data = match opts.amount {
            populous_app::Amount::Bytes(b) => b,
            // A row's small columns take a few hundred bytes beside the blob.
            populous_app::Amount::Rows(n) => n.saturating_mul(opts.blob_size as u64 + 400),
        };
        let need = (data as f64 * WRITE_OVERHEAD) as u64;
        let (pool, free) = pool_free(engine, r)?;
        if let Some(free) = free.filter(|f| need > *f) {
            return Err(crate::Error::WouldNotFit {
                volume: r.to_string(),
                pool,
                need,
                free,
            });
        }
    }
    let url = instance.db_url("populous");
    Ok(populous_app::generate_blocking(&url, opts, progress)?)
}
