//! Self-service clones: a clone with its database running and a login of
//! its own, in one call ([`clone_db`]), and a reset of its data that keeps
//! that login ([`reset`]).
//!
//! The login is recorded in the instance's run dir (`access.json`, mode
//! 0600, outside the volume and the metadata store): the address and port
//! the server listens on, and its user with the password's hash only. Every
//! start of a server on the volume ([`crate::db::start`]) reads it, so the
//! clone keeps its port and login across stops, daemon restarts and resets,
//! and its `root` never answers over TCP. The password itself is returned
//! once, by [`clone_db`], and kept nowhere.
//!
//! The record names the volume's creation time: a record left by a volume
//! that is gone never applies to a new volume of the same name.

use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;

use populous_db::{DbUser, PasswordHash};
use populous_engine::{CloneSource, Engine, Timestamp, VolRef, VolumeInfo, VolumeOptions};
use serde::{Deserialize, Serialize};

use crate::{db, Error, Result};

const RECORD: &str = "access.json";

/// A range of TCP ports, both ends included.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortRange {
    /// The first port.
    pub first: u16,
    /// The last port.
    pub last: u16,
}

impl PortRange {
    /// The default range for clones' servers.
    pub const DEFAULT: PortRange = PortRange {
        first: 13300,
        last: 13999,
    };
}

impl std::str::FromStr for PortRange {
    type Err = Error;
    fn from_str(s: &str) -> Result<PortRange> {
        let bad = || Error::BadPortRange {
            given: s.to_owned(),
        };
        let (a, b) = s.split_once('-').ok_or_else(bad)?;
        let (first, last): (u16, u16) = (
            a.trim().parse().map_err(|_| bad())?,
            b.trim().parse().map_err(|_| bad())?,
        );
        // A tenant must not make the daemon, often root, take a privileged port.
        if first < 1024 || first > last {
            return Err(bad());
        }
        Ok(PortRange { first, last })
    }
}

impl std::fmt::Display for PortRange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{}", self.first, self.last)
    }
}

/// Where clones' servers listen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Listen {
    /// The address (default 127.0.0.1; `0.0.0.0` for every interface).
    pub addr: IpAddr,
    /// The ports they take, the first free one each.
    pub ports: PortRange,
}

impl Default for Listen {
    fn default() -> Self {
        Listen {
            addr: IpAddr::V4(Ipv4Addr::LOCALHOST),
            ports: PortRange::DEFAULT,
        }
    }
}

/// A volume's recorded login (see the module docs).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Access {
    /// The volume's creation time, when the record was made.
    pub volume_created_at: Timestamp,
    /// A reset's new data, while it takes the volume's name: the record is
    /// valid for both.
    #[serde(default)]
    pub pending_created_at: Option<Timestamp>,
    /// The address its server listens on.
    pub bind: IpAddr,
    /// Its port.
    pub port: u16,
    /// Who logs in over TCP.
    pub users: Vec<DbUser>,
    /// Its server's memory, connections and CPU share.
    #[serde(default)]
    pub limits: populous_db::Limits,
}

/// The login recorded for `r`, if it belongs to this volume (made at `created_at`).
pub fn load(home: &Path, r: &VolRef, created_at: Timestamp) -> Option<Access> {
    let text = std::fs::read_to_string(db::run_dir(home, r).join(RECORD)).ok()?;
    let a: Access = serde_json::from_str(&text).ok()?;
    (a.volume_created_at == created_at || a.pending_created_at == Some(created_at)).then_some(a)
}

pub(crate) fn save(home: &Path, r: &VolRef, a: &Access) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let dir = db::run_dir(home, r);
    let io = |e| populous_db::DbError::io("writing", dir.join(RECORD), e);
    std::fs::create_dir_all(&dir).map_err(io)?;
    let tmp = dir.join(format!("{RECORD}.tmp"));
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(io)?;
    let json = serde_json::to_vec_pretty(a).unwrap_or_default();
    f.write_all(&json).and_then(|()| f.sync_all()).map_err(io)?;
    std::fs::rename(&tmp, dir.join(RECORD)).map_err(io)?;
    Ok(())
}

/// Forgets the login and run files of a volume that is gone (a warm
/// clone's run dir is a link: both go).
pub fn forget(home: &Path, r: &VolRef) {
    let dir = db::run_dir(home, r);
    if let Ok(target) = std::fs::read_link(&dir) {
        let _ = std::fs::remove_dir_all(target);
        let _ = std::fs::remove_file(&dir);
        return;
    }
    let _ = std::fs::remove_dir_all(dir);
}

/// Removes the run dir of `r` if no server runs there (what an older
/// volume of that name left).
pub(crate) fn forget_stale(home: &Path, r: &VolRef) {
    if db::running(home, r).is_none() {
        forget(home, r);
    }
}

/// Ports that running servers under the home hold, or that logins of
/// live volumes keep for their next start. A login left by a volume that
/// is gone keeps nothing.
fn ports_taken(engine: &Engine) -> std::collections::BTreeSet<u16> {
    let home = engine.home();
    let mut out = std::collections::BTreeSet::new();
    for f in std::fs::read_dir(home.join("db"))
        .into_iter()
        .flatten()
        .flatten()
    {
        let folder = f.file_name().to_string_lossy().into_owned();
        if folder.starts_with('.') {
            continue;
        }
        for v in std::fs::read_dir(f.path()).into_iter().flatten().flatten() {
            let r = format!("{folder}/{}", v.file_name().to_string_lossy());
            let Ok(r) = r.parse::<VolRef>() else { continue };
            let Ok(info) = engine.volume_inspect(&r) else {
                continue;
            };
            if let Some(a) = load(home, &r, info.created_at) {
                out.insert(a.port);
            }
        }
    }
    out.extend(
        db::list(home)
            .iter()
            .filter(|d| d.running)
            .map(|d| d.instance.port),
    );
    out
}

/// The first port of `listen.ports` no server under the home has and
/// nothing listens on now.
fn pick_port(engine: &Engine, listen: &Listen) -> Result<u16> {
    let taken = ports_taken(engine);
    (listen.ports.first..=listen.ports.last)
        .filter(|p| !taken.contains(p))
        .find(|p| std::net::TcpListener::bind((listen.addr, *p)).is_ok())
        .ok_or(Error::PortsExhausted {
            range: listen.ports,
        })
}

/// A request for a clone with a running database.
#[derive(Debug, Clone)]
pub struct CloneDb {
    /// What to clone.
    pub source: CloneSource,
    /// The new volume.
    pub target: VolRef,
    /// Its options (expiry, description, labels).
    pub options: VolumeOptions,
    /// Where its server listens.
    pub listen: Listen,
    /// Its server's memory, connections and CPU share.
    pub limits: populous_db::Limits,
}

/// A clone with a running database.
#[derive(Clone, Serialize)]
pub struct DbClone {
    /// The new volume.
    pub volume: VolumeInfo,
    /// The host to connect to.
    pub host: String,
    /// The port.
    pub port: u16,
    /// The user.
    pub user: String,
    /// The password: here once, kept nowhere.
    pub password: String,
    /// `mysql://USER:PASSWORD@HOST:PORT/`.
    pub url: String,
}

impl std::fmt::Debug for DbClone {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DbClone")
            .field("volume", &self.volume.name)
            .field("host", &self.host)
            .field("port", &self.port)
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}

/// The host name a client uses for a server listening on `addr`.
fn client_host(addr: IpAddr) -> String {
    if !addr.is_unspecified() {
        return match addr {
            IpAddr::V6(a) => format!("[{a}]"),
            IpAddr::V4(a) => a.to_string(),
        };
    }
    nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .unwrap_or_else(|| "localhost".to_owned())
}

/// The user name of a clone's login: its volume's name.
pub(crate) fn user_name(r: &VolRef) -> String {
    let name: String = r
        .volume
        .as_str()
        .chars()
        .take(populous_db::USER_NAME_MAX)
        .collect();
    name.replace('.', "_")
}

/// Clones `req.source`, starts MariaDB on the clone with a login of its own
/// (no `root` over TCP), and returns the URL. If the server cannot start,
/// the clone is removed again: nothing is left but the error.
pub fn clone_db(engine: &mut Engine, req: &CloneDb) -> Result<DbClone> {
    // Refused before anything is made.
    req.limits.check()?;
    if req.limits == populous_db::Limits::default() {
        if let Some(warm) = crate::warm::claim(engine, req)? {
            return Ok(warm);
        }
    }
    let volume = crate::clone(engine, &req.source, &req.target, &req.options)?;
    let password = populous_db::random_password();
    let user = DbUser::new(&user_name(&req.target), PasswordHash::of(&password))?;
    let port = start_with_logins(
        engine,
        &req.target,
        volume.created_at,
        &req.listen,
        std::slice::from_ref(&user),
        req.limits,
    )?;
    Ok(answer(volume, &req.listen, port, user.name, password))
}

/// What a user gets: the volume and the URL with the password.
pub(crate) fn answer(
    volume: VolumeInfo,
    listen: &Listen,
    port: u16,
    user: String,
    password: String,
) -> DbClone {
    let host = client_host(listen.addr);
    let url = format!("mysql://{user}:{password}@{host}:{port}/");
    DbClone {
        volume,
        host,
        port,
        user,
        password,
        url,
    }
}

/// Records the login `users` for the new volume `r` (made at
/// `created_at`) and starts its server on a port of `listen`; returns the
/// port. If the server cannot start, the volume is removed again.
pub(crate) fn start_with_logins(
    engine: &mut Engine,
    r: &VolRef,
    created_at: Timestamp,
    listen: &Listen,
    users: &[DbUser],
    limits: populous_db::Limits,
) -> Result<u16> {
    let home = engine.home().to_owned();
    let started = (|| {
        let mut tries = 0;
        loop {
            let port = pick_port(engine, listen)?;
            save(
                &home,
                r,
                &Access {
                    volume_created_at: created_at,
                    pending_created_at: None,
                    bind: listen.addr,
                    port,
                    users: users.to_vec(),
                    limits,
                },
            )?;
            match db::start(engine, r, None) {
                Ok(_) => return Ok(port),
                // Taken between the pick and the start: the next one.
                Err(Error::Db(populous_db::DbError::PortInUse { .. })) if tries < 3 => tries += 1,
                Err(e) => return Err(e),
            }
        }
    })();
    if started.is_err() {
        let _ = db::stop(engine, r);
        let _ = engine.volume_remove(r, true, true);
        forget(&home, r);
    }
    started
}

/// Which snapshot of its origin a reset goes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResetTo {
    /// The origin volume's newest snapshot.
    Newest,
    /// A snapshot of the origin volume, by name.
    Snapshot(populous_engine::Name),
}

/// What a reset does with clients connected to the volume's server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Clients {
    /// Refuses the reset while any is connected.
    Refuse,
    /// Stops the server anyway (their connections are closed).
    Disconnect,
}

/// What a reset did.
#[derive(Debug, Clone, Serialize)]
pub struct Reset {
    /// The volume, with its new data.
    pub volume: VolumeInfo,
    /// The snapshot its data now comes from, `folder/volume@snapshot`.
    pub snapshot: String,
    /// Whether its server was running and runs again, same port and login.
    pub restarted: bool,
    /// The volume's own snapshots, gone with the old data.
    pub dropped_snapshots: Vec<String>,
}

/// The label a reset's new data carries until it takes the volume's name.
const RESET_LABEL: &str = "populous.reset-of";

/// Gives the volume `r` (a clone) the data of a snapshot of its origin
/// volume, in constant time: same name, lifecycle and labels, same port and
/// login if a server runs on it. Refused when clones of its own snapshots
/// depend on it, or (with [`Clients::Refuse`]) while clients are connected.
///
/// The new data is a clone made under a temporary name, then renamed over
/// the volume in one transaction (see `Engine::volume_rename`): killed at
/// any point, the volume has its old data or its new, never none; a
/// temporary left behind is removed by the next reset.
pub fn reset(engine: &mut Engine, r: &VolRef, to: &ResetTo, clients: Clients) -> Result<Reset> {
    let refused = |detail: String, kind| Error::ResetRefused {
        volume: r.to_string(),
        detail,
        kind,
    };
    let home = engine.home().to_owned();
    let info = engine.volume_inspect(r)?;
    let origin: populous_engine::SnapRef = info
        .origin
        .as_deref()
        .and_then(|o| o.parse().ok())
        .ok_or_else(|| {
            refused(
                "it is not a clone".into(),
                populous_engine::ErrorKind::WrongState,
            )
        })?;
    let snapshot = match to {
        ResetTo::Snapshot(name) => name.clone(),
        ResetTo::Newest => engine
            .snapshot_list(&origin.vol)?
            .into_iter()
            .max_by_key(|s| s.created_at)
            .map(|s| s.name)
            .ok_or_else(|| {
                refused(
                    format!("its origin volume {} has no snapshots", origin.vol),
                    populous_engine::ErrorKind::NotFound,
                )
            })?,
    };
    let dependents: Vec<&str> = info
        .snapshots
        .iter()
        .flat_map(|s| s.clones.iter().map(String::as_str))
        .collect();
    if !dependents.is_empty() {
        return Err(refused(
            format!(
                "clones of its snapshots depend on it: {}",
                dependents.join(", ")
            ),
            populous_engine::ErrorKind::HasDependents,
        ));
    }
    let running = db::running(&home, r);
    if let (Some(i), Clients::Refuse) = (&running, clients) {
        let n = populous_db::activity(&i.socket_url())?.clients();
        if n > 0 {
            return Err(refused(
                format!("{n} client session(s) are connected to its server"),
                populous_engine::ErrorKind::Busy,
            ));
        }
    }
    let temp = VolRef {
        folder: r.folder.clone(),
        volume: temp_name(r, info.created_at)?,
    };
    if let Ok(t) = engine.volume_inspect(&temp) {
        if t.labels.get(RESET_LABEL).map(String::as_str) != Some(r.volume.as_str()) {
            return Err(refused(
                format!("the name {temp} it needs for a moment is taken"),
                populous_engine::ErrorKind::AlreadyExists,
            ));
        }
        engine.volume_remove(&temp, true, true)?;
    }
    let from = populous_engine::SnapRef {
        vol: origin.vol.clone(),
        snapshot,
    };
    let mut labels: Vec<(String, String)> = info
        .labels
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    labels.push((RESET_LABEL.to_owned(), r.volume.to_string()));
    let opts = VolumeOptions {
        description: info.description.clone(),
        expires_at: info.lifecycle.expires_at,
        labels,
        ..Default::default()
    };
    let made = engine.clone_volume(&CloneSource::Snapshot(from.clone()), &temp, &opts)?;
    let protection = info.lifecycle.protection;
    match protection {
        populous_engine::Protection::None => {}
        populous_engine::Protection::Until { until } => {
            engine.volume_protect(&temp, Some(until))?;
        }
        populous_engine::Protection::Forever => {
            engine.volume_protect(&temp, None)?;
        }
    }
    // The login follows the name: valid for the old data and the new until
    // the rename has happened, whatever happens in between.
    let access = load(&home, r, info.created_at);
    if let Some(a) = &access {
        save(
            &home,
            r,
            &Access {
                pending_created_at: Some(made.created_at),
                ..a.clone()
            },
        )?;
    }
    if running.is_some() {
        db::stop(engine, r)?;
    }
    engine.volume_rename(&temp, &r.volume, true)?;
    if let Some(a) = access {
        save(
            &home,
            r,
            &Access {
                volume_created_at: made.created_at,
                pending_created_at: None,
                ..a
            },
        )?;
    }
    engine.volume_unset_labels(r, &[RESET_LABEL])?;
    let restarted = running.is_some();
    if restarted {
        db::start(engine, r, Some(running.as_ref().map_or(0, |i| i.port)))?;
    }
    Ok(Reset {
        volume: engine.volume_inspect(r)?,
        snapshot: from.to_string(),
        restarted,
        dropped_snapshots: info
            .snapshots
            .iter()
            .map(|s| format!("{r}@{}", s.name))
            .collect(),
    })
}

/// The temporary name of a reset's new data: the volume's own name with a
/// suffix (cut to fit), the same for every reset of this volume's data.
fn temp_name(r: &VolRef, created_at: Timestamp) -> Result<populous_engine::Name> {
    let suffix = format!(".reset-{created_at}");
    const MAX_NAME_LEN: usize = 64;
    let keep = MAX_NAME_LEN.saturating_sub(suffix.len());
    let base: String = r.volume.as_str().chars().take(keep).collect();
    Ok(populous_engine::Name::new(
        "volume",
        &format!("{base}{suffix}"),
    )?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_ranges() {
        let check = |s: &str, want: Option<(u16, u16)>| {
            let got = s.parse::<PortRange>().ok().map(|r| (r.first, r.last));
            assert_eq!(got, want, "{s}");
        };
        check("13300-13999", Some((13300, 13999)));
        check("2000-2000", Some((2000, 2000)));
        check(" 5000 - 5001", Some((5000, 5001)));
        check("80-90", None);
        check("5001-5000", None);
        check("5000", None);
        check("a-b", None);
        check("5000-70000", None);
        assert_eq!(PortRange::DEFAULT.to_string(), "13300-13999");
    }

    #[test]
    fn a_login_from_another_volume_never_applies() {
        let home = tempfile::tempdir().unwrap();
        let r: VolRef = "dev/x".parse().unwrap();
        let a = Access {
            volume_created_at: 100,
            pending_created_at: None,
            bind: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port: 13300,
            users: vec![DbUser::new("x", PasswordHash::of("p")).unwrap()],
            limits: populous_db::Limits::default(),
        };
        save(home.path(), &r, &a).unwrap();
        assert_eq!(load(home.path(), &r, 100), Some(a));
        assert_eq!(load(home.path(), &r, 101), None);
        let text = std::fs::read_to_string(db::run_dir(home.path(), &r).join(RECORD)).unwrap();
        assert!(!text.contains("\"p\""));
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(db::run_dir(home.path(), &r).join(RECORD))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        forget(home.path(), &r);
        assert_eq!(load(home.path(), &r, 100), None);
    }
}
