//! `populous demo --clean`: removes what the demo made, found by its names
//! (services, networks, Docker volumes of its drivers, its image
//! repositories) and by its home (daemon, pool, state), and nothing else.
//!
//! Order matters: services first, while the demo's daemon still answers for
//! their volumes (Docker asks the plugin to unmount them), then the Docker
//! volumes and networks, then the daemon, then the pool through the engine
//! (destroying volumes, folders, unmounting and deleting the image file).

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};
use populous_engine::Engine;
use populous_pipeline::docker::Docker;
use serde::Serialize;

use super::{daemon, registry, DemoState, Names, Ui};

/// What `--clean` found and did.
#[derive(Debug, Default, Serialize)]
pub struct CleanReport {
    /// What was removed, one line each.
    pub removed: Vec<String>,
    /// What stays, and why.
    pub left: Vec<String>,
}

impl CleanReport {
    /// Nothing was found.
    pub fn nothing(&self) -> bool {
        self.removed.is_empty()
    }
}

/// What of the demo exists now.
#[derive(Debug, Default)]
pub struct Found {
    /// The engine answers.
    pub docker: bool,
    /// Swarm services.
    pub services: Vec<String>,
    /// Docker volumes of the demo's drivers.
    pub volumes: Vec<String>,
    /// Overlay networks.
    pub networks: Vec<String>,
    /// Local images of the demo's repositories.
    pub images: Vec<String>,
    /// The home directory exists and is the demo's (it holds demo.json, or nothing).
    pub home: bool,
    /// The home directory exists but is not the demo's: never touched.
    pub foreign_home: bool,
    /// The daemon's pid, if it runs.
    pub daemon: Option<u32>,
}

impl Found {
    /// Nothing of the demo is there.
    pub fn is_empty(&self) -> bool {
        self.services.is_empty()
            && self.volumes.is_empty()
            && self.networks.is_empty()
            && self.images.is_empty()
            && !self.home
            && self.daemon.is_none()
    }

    /// One line per kind of thing found.
    pub fn describe(&self, n: &Names) -> Vec<String> {
        let mut v = Vec::new();
        let list = |what: &str, items: &[String]| format!("{what}: {}", items.join(", "));
        if !self.services.is_empty() {
            v.push(list("services", &self.services));
        }
        if !self.volumes.is_empty() {
            v.push(list("docker volumes", &self.volumes));
        }
        if !self.networks.is_empty() {
            v.push(list("networks", &self.networks));
        }
        if let Some(pid) = self.daemon {
            v.push(format!("the demo's populous serve (pid {pid})"));
        }
        if self.home {
            v.push(format!("its home {} (pool, state)", n.home.display()));
        }
        if !self.images.is_empty() {
            v.push(format!(
                "{} local images of {}/*",
                self.images.len(),
                n.name
            ));
        }
        v
    }
}

/// Looks for what the demo makes.
pub fn find(n: &Names) -> Found {
    let d = Docker::default();
    let exists = n.home.exists();
    let ours = n.home.join("demo.json").exists()
        || std::fs::read_dir(&n.home).is_ok_and(|mut d| d.next().is_none());
    let mut f = Found {
        home: exists && ours,
        foreign_home: exists && !ours,
        daemon: daemon::running_pid(n),
        ..Found::default()
    };
    f.docker = d.run(&["info", "--format", "{{.ID}}"]).is_ok();
    if !f.docker {
        return f;
    }
    if let Ok(out) = d.run(&["service", "ls", "--format", "{{.Name}}"]) {
        let ours = n.services();
        f.services = out
            .lines()
            .filter(|s| ours.iter().any(|o| o == s))
            .map(String::from)
            .collect();
    }
    // dockerd asks a driver whose plugin is gone for 15 s before it gives up,
    // on every listing: after a finished demo (its teardown removed the
    // volumes, then stopped the daemon, which removed the sockets) a re-run
    // would wait for nothing. Ask only where a volume can still be: the
    // socket is there, the daemon runs, or services still use the drivers.
    let maybe_volumes = f.daemon.is_some() || !f.services.is_empty();
    for env in super::PLUGINS {
        if !maybe_volumes && !n.socket(env).exists() {
            continue;
        }
        let filter = format!("driver={}", n.driver(env));
        if let Ok(out) = d.run(&["volume", "ls", "-q", "--filter", &filter]) {
            f.volumes.extend(out.lines().map(String::from));
        }
    }
    // prod's own volume, on Docker's local driver (outside the pool). Listed
    // with the local driver's filter: `volume inspect NAME` of a missing
    // volume asks every driver dockerd remembers, gone plugins for 30 s each.
    let prod = n.prod_volume();
    let filter = format!("name={prod}");
    if let Ok(out) = d.run(&[
        "volume",
        "ls",
        "-q",
        "--filter",
        "driver=local",
        "--filter",
        &filter,
    ]) {
        f.volumes
            .extend(out.lines().filter(|v| *v == prod).map(String::from));
    }
    for net in n.networks() {
        if d.try_run(&["network", "inspect", "--format", "{{.ID}}", &net])
            .ok()
            .flatten()
            .is_some()
        {
            f.networks.push(net);
        }
    }
    if let Ok(out) = d.run(&["image", "ls", "--format", "{{.Repository}}:{{.Tag}}"]) {
        f.images = out
            .lines()
            .filter(|i| n.owns_image(i))
            .map(String::from)
            .collect();
    }
    f
}

/// Removes everything of the demo; `out` is the report directory to empty
/// (only the files the demo writes there), if any.
pub fn clean(n: &Names, out: Option<&Path>, ui: &Ui, keep_report: bool) -> Result<CleanReport> {
    let mut r = CleanReport::default();
    let state = DemoState::load(n);
    let found = find(n);
    let d = Docker::default();

    // The plugins must answer while Docker unmounts and removes their volumes.
    let need_daemon = !found.services.is_empty() || !found.volumes.is_empty();
    let mut daemon_pid = found.daemon;
    if need_daemon && daemon_pid.is_none() && n.config_file().exists() {
        ui.say("starting the demo's daemon again, so that Docker can unmount its volumes");
        match daemon::start(n) {
            Ok(pid) => daemon_pid = Some(pid),
            Err(e) => r.left.push(format!(
                "the daemon did not start ({e:#}): Docker may keep volume records of the demo's drivers"
            )),
        }
    }
    for s in &found.services {
        ui.say(&format!("docker service rm {s}"));
        d.remove_service(s, Duration::from_secs(120))
            .with_context(|| format!("removing service {s}"))?;
        r.removed.push(format!("service {s}"));
    }
    for v in &found.volumes {
        ui.say(&format!("docker volume rm {v}"));
        match d.run(&["volume", "rm", "--force", v]) {
            Ok(_) => r.removed.push(format!("docker volume {v}")),
            Err(e) => r.left.push(format!("docker volume {v}: {e}")),
        }
    }
    for net in &found.networks {
        // The tasks' endpoints go a moment after their containers.
        let mut ok = false;
        for _ in 0..40 {
            if d.run(&["network", "rm", net]).is_ok() {
                ok = true;
                break;
            }
            std::thread::sleep(Duration::from_millis(500));
        }
        if ok {
            r.removed.push(format!("network {net}"));
        } else {
            r.left
                .push(format!("network {net}: still in use after 20 s"));
        }
    }
    if let Some(pid) = daemon_pid {
        ui.say(&format!("stopping the demo's daemon (pid {pid})"));
        daemon::stop(n, pid)?;
        r.removed.push(format!("populous serve (pid {pid})"));
    }
    for env in super::ENVS {
        let sock = n.socket(env);
        if sock.exists() && std::os::unix::net::UnixStream::connect(&sock).is_err() {
            let _ = std::fs::remove_file(&sock);
            r.removed.push(format!("stale socket {}", sock.display()));
        }
    }

    if found.foreign_home {
        r.left.push(format!(
            "{} is not a demo home (no demo.json): not touched",
            n.home.display()
        ));
    }
    if found.home && n.home.join("populous.db").exists() {
        ui.say("destroying the pool's volumes, folders and the pool");
        match remove_pool(&n.home) {
            Ok(mut lines) => r.removed.append(&mut lines),
            Err(e) => r.left.push(format!(
                "the engine could not remove the pool ({e:#}); unmounting what is under {} instead",
                n.home.display()
            )),
        }
    }
    if found.home {
        unmount_under(&n.home, &mut r);
        if !mounts_under(&n.home).is_empty() {
            anyhow::bail!(
                "{} still has mounts ({}): not removing it; unmount them, then run --clean again",
                n.home.display(),
                mounts_under(&n.home)
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        std::fs::remove_dir_all(&n.home)
            .with_context(|| format!("removing {}", n.home.display()))?;
        r.removed.push(format!("home {}", n.home.display()));
    }

    if found.docker {
        match registry::delete_repositories(n) {
            Ok(0) => {}
            Ok(k) => {
                r.removed
                    .push(format!("{k} manifests of {}/* in the registry", n.name));
                r.left.push(
                    "the registry keeps the layers of those manifests until `docker-registry garbage-collect /var/lib/populous-registry/config.yml` (they are shared with populous/*)".to_string(),
                );
            }
            Err(e) => r
                .left
                .push(format!("registry repositories {}/*: {e:#}", n.name)),
        }
        if !found.images.is_empty() {
            let mut args = vec!["image", "rm"];
            args.extend(found.images.iter().map(String::as_str));
            match d.run(&args) {
                Ok(_) => r.removed.push(format!(
                    "{} local images of {}/*",
                    found.images.len(),
                    n.name
                )),
                Err(e) => r.left.push(format!("local images: {e}")),
            }
        }
        if let Some(s) = &state {
            if s.registry_started {
                match super::script(&n.repo, "registry.sh", &["stop"]) {
                    Ok(()) => r.removed.push("the registry the demo started".into()),
                    Err(e) => r.left.push(format!("the registry: {e:#}")),
                }
            }
            if s.swarm_initialised {
                let others = d
                    .run(&["service", "ls", "-q"])
                    .map(|o| !o.is_empty())
                    .unwrap_or(true);
                if others {
                    r.left
                        .push("the swarm the demo initialised: other services run on it".into());
                } else {
                    match d.run(&["swarm", "leave", "--force"]) {
                        Ok(_) => r.removed.push("the swarm the demo initialised".into()),
                        Err(e) => r.left.push(format!("the swarm: {e}")),
                    }
                }
            }
        }
    }

    let out = out.map(Path::to_path_buf).or(state.and_then(|s| s.out));
    if let (Some(dir), false) = (out, keep_report) {
        let mut any = false;
        for f in super::OUT_FILES {
            if std::fs::remove_file(dir.join(f)).is_ok() {
                any = true;
            }
        }
        if any {
            r.removed
                .push(format!("the report files in {}", dir.display()));
        }
        let _ = std::fs::remove_dir(&dir);
    }
    if !r.nothing() {
        r.left.push(
            "shared and kept: the swarm and registry if they ran before, the image populous/mariadb-base:bookworm and /var/cache/populous (the build cache), packages apt installed".into(),
        );
    }
    Ok(r)
}

/// Destroys every volume (snapshots too), folder and pool of the home.
fn remove_pool(home: &Path) -> Result<Vec<String>> {
    let mut out = Vec::new();
    let mut engine = Engine::open(home)?;
    // A source's replica server runs on its volume: it stops with the source.
    for s in engine.source_list()? {
        populous_ops::source::remove(&mut engine, &s.name)
            .with_context(|| format!("removing source {}", s.name))?;
        out.push(format!("source {} (its replica server stopped)", s.name));
    }
    for v in engine.volume_list(None, true)? {
        let r: populous_engine::VolRef = format!("{}/{}", v.folder, v.name).parse()?;
        let _ = engine.mount_clear(&r);
        engine
            .volume_remove(&r, true, true)
            .with_context(|| format!("destroying {r}"))?;
        out.push(format!("volume {r}"));
    }
    for f in engine.folder_list()? {
        engine.folder_remove(&f.name)?;
    }
    for p in engine.pool_list()? {
        engine.pool_remove(&p.name)?;
        out.push(format!("pool {} (unmounted, image deleted)", p.name));
    }
    Ok(out)
}

/// Mount points at or under `dir`, deepest first.
fn mounts_under(dir: &Path) -> Vec<PathBuf> {
    let Ok(mounts) = std::fs::read_to_string("/proc/self/mounts") else {
        return Vec::new();
    };
    let mut points: Vec<PathBuf> = mounts
        .lines()
        .filter_map(|l| l.split_whitespace().nth(1))
        .map(|m| PathBuf::from(m.replace("\\040", " ")))
        .filter(|m| m.starts_with(dir))
        .collect();
    points.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    points
}

/// Unmounts whatever is still mounted under `dir` (deepest first).
fn unmount_under(dir: &Path, r: &mut CleanReport) {
    for p in mounts_under(dir) {
        let ok = std::process::Command::new("umount")
            .arg(&p)
            .status()
            .is_ok_and(|s| s.success());
        if ok {
            r.removed.push(format!("mount {}", p.display()));
        } else {
            r.left
                .push(format!("mount {} (umount failed)", p.display()));
        }
    }
}
