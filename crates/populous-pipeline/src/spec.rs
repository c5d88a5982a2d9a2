//! The pipeline file (`populous.yml`): what to build, where to ship it, and how
//! each environment runs it. Parsing and validation only, no I/O beyond
//! reading the file.
//!
//! ```yaml
//! name: populous                      # prefix of services and networks
//! registry: 127.0.0.1:5000
//! populous:
//!   api: http://127.0.0.1:7171        # the daemon; tokens come per environment
//! app:
//!   version_file: VERSION             # "1.0.1": the build string is 1.0.1-<build number>
//!   images:
//!     app: { repository: populous/app, build: [../../scripts/images.sh, --only, app, --build, "{build}", --tag, "{tag}"] }
//!     db:  { repository: populous/db,  build: [../../scripts/images.sh, --only, db, --tag, "{tag}"] }
//! environments:
//!   dev:
//!     roles: [build, ship, run, mask, smoke, destroy]
//!     driver: populous-dev
//!     folder: dev
//!     token: { env: POPULOUS_DEV_TOKEN }
//!     port: 18081
//!     data: { clone_of: prod/db, volume: "db-{build}" }
//!     mask: { rules: masking.yml, key_file: /etc/populous/mask.key }
//!   stage:
//!     roles: [run, smoke]
//!     requires: dev
//!     data: { import_from: dev, volume: "db-{build}" }
//!     ...
//!   prod:
//!     roles: [run, smoke]
//!     requires: stage
//!     data: { volume: db }
//!     app: { replicas: 2, lb: true }
//!     update: { parallelism: 1, delay: 1s, order: start-first, monitor: 5s }
//!     probe: { interval: 100ms, idle: 5s, max_p99_ratio: 1.2 }
//! ```
//!
//! Every command is an argument vector: nothing is ever given to a shell.
//! Placeholders `{version}`, `{build}`, `{tag}` (= `{version}-{build}`),
//! `{env}` and, in image build commands, `{image}` (repository:tag) are
//! replaced in arguments and volume names.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::{PipelineError, Result};

/// The roles, in the seed's order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Build the images, tagged with the build string.
    Build,
    /// Push them to the registry.
    Ship,
    /// Data volume, db and app services; in prod, a rolling update of the app.
    Run,
    /// Mask the environment's database volume.
    Mask,
    /// Poll `/_ping` until it serves the build string.
    Smoke,
    /// Remove the services and take the data volume offline.
    Destroy,
    /// A golden copy: clone `data.clone_of`, mask it, and put it in place of
    /// the environment's volume in one step. No services; dev clones it.
    Refresh,
}

impl Role {
    /// The role's name as written in the file.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Build => "build",
            Role::Ship => "ship",
            Role::Run => "run",
            Role::Mask => "mask",
            Role::Smoke => "smoke",
            Role::Destroy => "destroy",
            Role::Refresh => "refresh",
        }
    }
}

impl std::str::FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Role, String> {
        [
            Role::Build,
            Role::Ship,
            Role::Run,
            Role::Mask,
            Role::Smoke,
            Role::Destroy,
            Role::Refresh,
        ]
        .into_iter()
        .find(|r| r.as_str() == s)
        .ok_or_else(|| {
            format!("{s:?} is not a role: build, ship, run, mask, smoke, destroy or refresh")
        })
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The whole file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PipelineFile {
    /// Prefix of service, network and lock names.
    #[serde(default = "default_name")]
    pub name: String,
    /// `host:port` of the registry images are shipped to.
    pub registry: String,
    /// Where Populous is.
    #[serde(default)]
    pub populous: PopulousSpec,
    /// The application.
    pub app: AppSpec,
    /// The environments by name.
    pub environments: BTreeMap<String, EnvSpec>,
}

fn default_name() -> String {
    "populous".into()
}

/// Where the Populous daemon is.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PopulousSpec {
    /// The daemon's REST API.
    #[serde(default = "default_api")]
    pub api: String,
}

impl Default for PopulousSpec {
    fn default() -> Self {
        PopulousSpec { api: default_api() }
    }
}

fn default_api() -> String {
    "http://127.0.0.1:7171".into()
}

/// The application: its version and images.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppSpec {
    /// File holding the version, relative to the pipeline file.
    pub version_file: PathBuf,
    /// Images by role: `app` and `db` are required; `lb` fronts prod's replicas.
    pub images: BTreeMap<String, ImageSpec>,
}

/// One image.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImageSpec {
    /// Repository without registry, e.g. `populous/app`.
    pub repository: String,
    /// The command that builds `{image}` (argument vector, run in the pipeline
    /// file's directory). Either this or `context`.
    #[serde(default)]
    pub build: Vec<String>,
    /// A Docker build context (relative to the pipeline file), built with
    /// `docker build --build-arg BUILD={build} -t {image}`.
    #[serde(default)]
    pub context: Option<PathBuf>,
}

/// Where a Populous token comes from (`{ env: VAR }` or `{ file: PATH }`):
/// never the pipeline file itself.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenSpec {
    /// An environment variable holding the token.
    #[serde(default)]
    pub env: Option<String>,
    /// A file holding the token.
    #[serde(default)]
    pub file: Option<PathBuf>,
}

/// A checked [`TokenSpec`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenSource {
    /// An environment variable.
    Env(String),
    /// A file holding the token.
    File(PathBuf),
}

impl TokenSpec {
    /// The one source given, if exactly one is.
    pub fn source(&self) -> Option<TokenSource> {
        match (&self.env, &self.file) {
            (Some(v), None) => Some(TokenSource::Env(v.clone())),
            (None, Some(f)) => Some(TokenSource::File(f.clone())),
            _ => None,
        }
    }
}

/// How `clone_of` copies the source database.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CopyMethod {
    /// A copy-on-write clone through the plugin (`importVolAsClone`).
    #[default]
    Clone,
    /// The seed's baseline: an empty volume filled by `mariadb-dump | mariadb`
    /// between the source's and the new db containers.
    Dump,
}

impl std::str::FromStr for CopyMethod {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<CopyMethod, String> {
        match s {
            "clone" => Ok(CopyMethod::Clone),
            "dump" => Ok(CopyMethod::Dump),
            _ => Err(format!("{s:?}: clone or dump")),
        }
    }
}

/// Where an environment's data volume comes from.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataSpec {
    /// The volume's name in the environment's folder (placeholders allowed).
    pub volume: String,
    /// `FOLDER/VOL` to clone (`importVolAsClone`), for dev.
    #[serde(default)]
    pub clone_of: Option<String>,
    /// With `clone_of`: `clone` (the default) or `dump` (the baseline to compare with).
    #[serde(default)]
    pub copy: CopyMethod,
    /// The environment whose offline volume of the same name is imported (`importVol`), for stage.
    #[serde(default)]
    pub import_from: Option<String>,
    /// When the volume is new (first deployment), fill it with about this much generated data.
    #[serde(default)]
    pub seed_size: Option<String>,
}

/// How the app runs.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppRun {
    /// Replicas; none for a global service (one task per node).
    #[serde(default)]
    pub replicas: Option<u32>,
    /// Put the lb image in front (needed for several replicas on one port
    /// where the swarm routing mesh cannot work).
    #[serde(default)]
    pub lb: bool,
}

/// The rolling-update policy of an already running app.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateSpec {
    /// Tasks updated at once.
    #[serde(default = "one")]
    pub parallelism: u32,
    /// Pause between batches.
    #[serde(default = "default_delay", with = "humantime_serde_compat")]
    pub delay: Duration,
    /// `start-first` (new task healthy before the old stops) or `stop-first`.
    #[serde(default = "default_order")]
    pub order: String,
    /// How long a new task is watched for failure.
    #[serde(default = "default_monitor", with = "humantime_serde_compat")]
    pub monitor: Duration,
    /// Roll back when the update fails (the default), or pause.
    #[serde(default = "yes")]
    pub rollback: bool,
    /// Time limit for the whole update.
    #[serde(default = "default_update_timeout", with = "humantime_serde_compat")]
    pub timeout: Duration,
}

impl Default for UpdateSpec {
    fn default() -> Self {
        UpdateSpec {
            parallelism: 1,
            delay: default_delay(),
            order: default_order(),
            monitor: default_monitor(),
            rollback: true,
            timeout: default_update_timeout(),
        }
    }
}

fn one() -> u32 {
    1
}
fn yes() -> bool {
    true
}
fn default_delay() -> Duration {
    Duration::from_secs(1)
}
fn default_order() -> String {
    "start-first".into()
}
fn default_monitor() -> Duration {
    Duration::from_secs(5)
}
fn default_update_timeout() -> Duration {
    Duration::from_secs(300)
}

/// The probe that watches a prod update.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProbeSpec {
    /// Time between requests.
    #[serde(default = "default_probe_interval", with = "humantime_serde_compat")]
    pub interval: Duration,
    /// How long the idle baseline is measured before the update.
    #[serde(default = "default_idle", with = "humantime_serde_compat")]
    pub idle: Duration,
    /// The update fails when its p99 exceeds this times the idle p99.
    #[serde(default = "default_ratio")]
    pub max_p99_ratio: f64,
    /// Failed requests tolerated during the update.
    #[serde(default)]
    pub max_failed: u64,
    /// Per-request timeout.
    #[serde(default = "default_probe_timeout", with = "humantime_serde_compat")]
    pub timeout: Duration,
}

impl Default for ProbeSpec {
    fn default() -> Self {
        ProbeSpec {
            interval: default_probe_interval(),
            idle: default_idle(),
            max_p99_ratio: default_ratio(),
            max_failed: 0,
            timeout: default_probe_timeout(),
        }
    }
}

fn default_probe_interval() -> Duration {
    Duration::from_millis(100)
}
fn default_idle() -> Duration {
    Duration::from_secs(5)
}
fn default_ratio() -> f64 {
    1.2
}
fn default_probe_timeout() -> Duration {
    Duration::from_secs(2)
}

/// The smoke test.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmokeSpec {
    /// Give up after this long.
    #[serde(default = "default_smoke_timeout", with = "humantime_serde_compat")]
    pub timeout: Duration,
    /// The path polled.
    #[serde(default = "default_smoke_path")]
    pub path: String,
}

impl Default for SmokeSpec {
    fn default() -> Self {
        SmokeSpec {
            timeout: default_smoke_timeout(),
            path: default_smoke_path(),
        }
    }
}

fn default_smoke_timeout() -> Duration {
    Duration::from_secs(120)
}
fn default_smoke_path() -> String {
    "/_ping".into()
}

/// Masking of the environment's volume.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MaskSpec {
    /// Rules (YAML), relative to the pipeline file.
    pub rules: PathBuf,
    /// The key file (outside the repository, e.g. /etc/populous/mask.key).
    pub key_file: PathBuf,
    /// Parallel connections: rows with big blobs are read-bound, so more
    /// connections than cores still help.
    #[serde(default = "default_mask_threads")]
    pub threads: usize,
}

fn default_mask_threads() -> usize {
    4
}

/// One environment.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnvSpec {
    /// The roles this environment runs, in this order.
    pub roles: Vec<Role>,
    /// The Docker endpoint (`DOCKER_HOST`); default: the local engine.
    #[serde(default)]
    pub docker_host: Option<String>,
    /// The Populous volume driver (a plugin instance of `populous serve`);
    /// not needed by an environment whose only role is refresh.
    #[serde(default)]
    pub driver: String,
    /// Its folder.
    pub folder: String,
    /// The driver's `name_suffix` (Docker volume names end with it).
    #[serde(default)]
    pub name_suffix: String,
    /// The environment's Populous token, for the REST API.
    pub token: TokenSpec,
    /// Host port where the app (or its lb) answers; not needed by an
    /// environment whose only role is refresh.
    #[serde(default)]
    pub port: u16,
    /// The data volume.
    pub data: DataSpec,
    /// How the app runs.
    #[serde(default)]
    pub app: AppRun,
    /// The environment a build must have passed first.
    #[serde(default)]
    pub requires: Option<String>,
    /// Masking, for the mask role.
    #[serde(default)]
    pub mask: Option<MaskSpec>,
    /// The rolling-update policy (when the app already runs).
    #[serde(default)]
    pub update: UpdateSpec,
    /// The probe watching updates; none to update unwatched.
    #[serde(default)]
    pub probe: Option<ProbeSpec>,
    /// The smoke test.
    #[serde(default)]
    pub smoke: SmokeSpec,
}

impl EnvSpec {
    /// A golden copy's environment: its roles are `[refresh]` (refresh runs
    /// alone, checked at load). It runs no services.
    pub fn is_golden(&self) -> bool {
        self.roles.contains(&Role::Refresh)
    }
}

/// Parsing `"1s"`, `"100ms"`, `"2m"` durations.
mod humantime_serde_compat {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer};

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let s = String::deserialize(d)?;
        humantime::parse_duration(&s).map_err(|e| {
            serde::de::Error::custom(format!(
                "{s:?} is not a duration ({e}); write e.g. 500ms, 5s or 2m"
            ))
        })
    }
}

/// A loaded, checked pipeline file.
#[derive(Debug, Clone)]
pub struct Pipeline {
    /// The parsed file.
    pub file: PipelineFile,
    /// Its path.
    pub path: PathBuf,
    /// Its directory: relative paths start here.
    pub dir: PathBuf,
    /// The app's version, from `version_file`.
    pub version: String,
}

/// Names are used in service, network, lock and volume names: keep them plain.
pub fn is_plain_name(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b[0].is_ascii_alphanumeric()
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'-'))
}

impl Pipeline {
    /// Reads and checks a pipeline file.
    pub fn load(path: &Path) -> Result<Pipeline> {
        let text = std::fs::read_to_string(path).map_err(|source| PipelineError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let dir = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."))
            .to_path_buf();
        Pipeline::parse(&text, path, &dir)
    }

    /// Parses and checks `text`; `dir` is where relative paths start.
    pub fn parse(text: &str, path: &Path, dir: &Path) -> Result<Pipeline> {
        let bad = |reason: String| PipelineError::Spec {
            path: path.to_path_buf(),
            reason,
        };
        let file: PipelineFile = serde_norway::from_str(text).map_err(|e| bad(e.to_string()))?;
        let version_path = dir.join(&file.app.version_file);
        let version = std::fs::read_to_string(&version_path)
            .map_err(|e| bad(format!("app.version_file {}: {e}", version_path.display())))?
            .trim()
            .to_string();
        if !is_plain_name(&version) {
            return Err(bad(format!(
                "app.version_file {} holds {version:?}, not a version like 1.0.1",
                version_path.display()
            )));
        }
        let p = Pipeline {
            file,
            path: path.to_path_buf(),
            dir: dir.to_path_buf(),
            version,
        };
        p.check().map_err(bad)?;
        Ok(p)
    }

    fn check(&self) -> std::result::Result<(), String> {
        let f = &self.file;
        if !is_plain_name(&f.name) {
            return Err(format!(
                "name {:?}: use letters, digits, '.', '_' or '-'",
                f.name
            ));
        }
        if f.registry.is_empty() || f.registry.contains('/') || !f.registry.contains(':') {
            return Err(format!(
                "registry {:?}: give host:port, e.g. 127.0.0.1:5000",
                f.registry
            ));
        }
        if !f.populous.api.starts_with("http://") {
            return Err(format!(
                "populous.api {:?}: give the daemon's http:// address",
                f.populous.api
            ));
        }
        for role in ["app", "db"] {
            if !f.app.images.contains_key(role) {
                return Err(format!("app.images.{role} is missing"));
            }
        }
        for (k, img) in &f.app.images {
            if img.build.is_empty() == img.context.is_none() {
                return Err(format!(
                    "app.images.{k}: give either build (a command) or context (a Docker build context)"
                ));
            }
            if img.repository.is_empty()
                || img.repository.contains(':')
                || img.repository.starts_with('/')
            {
                return Err(format!(
                    "app.images.{k}.repository {:?}: a repository without registry or tag, e.g. populous/app",
                    img.repository
                ));
            }
        }
        if f.environments.is_empty() {
            return Err("environments: define at least one".into());
        }
        for (name, e) in &f.environments {
            let at = |what: &str| format!("environments.{name}.{what}");
            if !is_plain_name(name) {
                return Err(format!(
                    "environment name {name:?}: use letters, digits, '.', '_' or '-'"
                ));
            }
            if e.roles.is_empty() {
                return Err(format!("{}: list at least one role", at("roles")));
            }
            let mut seen = Vec::new();
            for r in &e.roles {
                if seen.contains(r) {
                    return Err(format!("{}: {r} is listed twice", at("roles")));
                }
                seen.push(*r);
            }
            let golden = e.is_golden();
            if golden && e.roles.len() > 1 {
                return Err(format!(
                    "{}: refresh runs alone (a golden copy has no services); give the other roles to another environment",
                    at("roles")
                ));
            }
            if golden {
                if e.data.clone_of.is_none() || e.mask.is_none() {
                    return Err(format!(
                        "{}: refresh needs data.clone_of (what to copy) and a mask section (how to mask it)",
                        at("roles")
                    ));
                }
                if e.data.volume.contains('{') {
                    return Err(format!(
                        "{} {:?}: a golden copy keeps one name that others clone; no placeholders",
                        at("data.volume"),
                        e.data.volume
                    ));
                }
            }
            let mut plain = vec![("folder", &e.folder)];
            if !golden {
                plain.push(("driver", &e.driver));
            }
            for (what, v) in plain {
                if !is_plain_name(v) {
                    return Err(format!(
                        "{} {v:?}: use letters, digits, '.', '_' or '-'",
                        at(what)
                    ));
                }
            }
            if e.token.source().is_none() {
                return Err(format!(
                    "{}: give {{ env: VARIABLE }} or {{ file: PATH }} (one of them; never the token itself)",
                    at("token")
                ));
            }
            if e.port == 0 && !golden {
                return Err(format!("{}: give a port (1-65535)", at("port")));
            }
            let d = &e.data;
            if d.clone_of.is_some() && d.import_from.is_some() {
                return Err(format!(
                    "{}: give clone_of or import_from, not both",
                    at("data")
                ));
            }
            if let Some(c) = &d.clone_of {
                match c.split_once('/') {
                    Some((a, b)) if is_plain_name(a) && is_plain_name(b) => {}
                    _ => {
                        return Err(format!(
                            "{} {c:?}: write FOLDER/VOLUME",
                            at("data.clone_of")
                        ))
                    }
                }
            }
            if let Some(size) = &d.seed_size {
                if let Err(e) = populous_units::parse_size(size) {
                    return Err(format!("{}: {e}", at("data.seed_size")));
                }
            }
            if let Some(src) = &d.import_from {
                if !f.environments.contains_key(src) || src == name {
                    return Err(format!(
                        "{} {src:?}: name another environment of this file",
                        at("data.import_from")
                    ));
                }
            }
            if let Some(r) = &e.requires {
                if !f.environments.contains_key(r) || r == name {
                    return Err(format!(
                        "{} {r:?}: name another environment of this file",
                        at("requires")
                    ));
                }
            }
            if e.roles.contains(&Role::Mask) && e.mask.is_none() {
                return Err(format!(
                    "{}: the mask role needs a mask section (rules, key_file)",
                    at("roles")
                ));
            }
            if !matches!(e.update.order.as_str(), "start-first" | "stop-first") {
                return Err(format!(
                    "{} {:?}: start-first or stop-first",
                    at("update.order"),
                    e.update.order
                ));
            }
            if e.update.parallelism == 0 {
                return Err(format!("{}: at least 1", at("update.parallelism")));
            }
            if e.app.replicas == Some(0) {
                return Err(format!(
                    "{}: at least 1 (or leave it out for a global service)",
                    at("app.replicas")
                ));
            }
            if e.app.lb && !f.app.images.contains_key("lb") {
                return Err(format!(
                    "{}: app.images.lb is needed for an lb",
                    at("app.lb")
                ));
            }
            if let Some(p) = &e.probe {
                if p.max_p99_ratio.is_nan() || p.max_p99_ratio < 1.0 {
                    return Err(format!("{}: at least 1.0", at("probe.max_p99_ratio")));
                }
            }
            if !e.smoke.path.starts_with('/') {
                return Err(format!(
                    "{} {:?}: a path starting with /",
                    at("smoke.path"),
                    e.smoke.path
                ));
            }
            // The volume name must stay plain whatever the build number.
            let v = expand(&d.volume, &Vars::example());
            if !is_plain_name(&v) {
                return Err(format!(
                    "{} {:?}: expands to {v:?}, not a plain name",
                    at("data.volume"),
                    d.volume
                ));
            }
        }
        Ok(())
    }

    /// One environment, or a clear error naming the ones there are.
    pub fn env(&self, name: &str) -> Result<&EnvSpec> {
        self.file.environments.get(name).ok_or_else(|| {
            PipelineError::Usage(format!(
                "no environment {name:?} in {}: it has {}",
                self.path.display(),
                self.file
                    .environments
                    .keys()
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        })
    }

    /// The build string: `VERSION-BUILD`.
    pub fn tag(&self, build: &str) -> String {
        format!("{}-{build}", self.version)
    }

    /// `registry/repository:tag` of an image role.
    pub fn image_ref(&self, role: &str, tag: &str) -> Option<String> {
        self.file
            .app
            .images
            .get(role)
            .map(|i| format!("{}/{}:{tag}", self.file.registry, i.repository))
    }
}

/// Values for placeholders.
#[derive(Debug, Clone)]
pub struct Vars {
    /// `{version}`.
    pub version: String,
    /// `{build}`.
    pub build: String,
    /// `{env}`.
    pub env: String,
    /// `{image}`, where it applies.
    pub image: Option<String>,
}

impl Vars {
    fn example() -> Vars {
        Vars {
            version: "1.0.1".into(),
            build: "28".into(),
            env: "dev".into(),
            image: None,
        }
    }

    /// `{version}-{build}`.
    pub fn tag(&self) -> String {
        format!("{}-{}", self.version, self.build)
    }
}

/// Replaces the placeholders in `s`. Unknown `{...}` stay as they are.
pub fn expand(s: &str, v: &Vars) -> String {
    let mut out = s
        .replace("{version}", &v.version)
        .replace("{build}", &v.build)
        .replace("{tag}", &v.tag())
        .replace("{env}", &v.env);
    if let Some(i) = &v.image {
        out = out.replace("{image}", i);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
name: populous
registry: 127.0.0.1:5000
app:
  version_file: VERSION
  images:
    app: { repository: populous/app, build: [make, "{image}"] }
    db: { repository: populous/db, context: db }
    lb: { repository: populous/lb, context: lb }
environments:
  dev:
    roles: [build, ship, run, mask, smoke, destroy]
    driver: populous-dev
    folder: dev
    token: { env: POPULOUS_DEV_TOKEN }
    port: 18081
    data: { clone_of: prod/db, volume: "db-{build}" }
    mask: { rules: masking.yml, key_file: /etc/populous/mask.key }
  stage:
    roles: [run, smoke]
    requires: dev
    driver: populous-stage
    folder: stage
    token: { file: /etc/populous/stage.token }
    port: 18082
    data: { import_from: dev, volume: "db-{build}" }
  prod:
    roles: [run, smoke]
    requires: stage
    driver: populous-prod
    folder: prod
    token: { env: POPULOUS_PROD_TOKEN }
    port: 18080
    data: { volume: db, seed_size: 256M }
    app: { replicas: 2, lb: true }
    update: { parallelism: 1, delay: 2s, order: start-first }
    probe: { interval: 100ms, idle: 5s }
  golden:
    roles: [refresh]
    folder: golden
    token: { env: POPULOUS_GOLDEN_TOKEN }
    data: { clone_of: prod/db, volume: db }
    mask: { rules: masking.yml, key_file: /etc/populous/golden.key }
"#;

    fn parse(text: &str) -> Result<Pipeline> {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("VERSION"), "1.0.1\n").unwrap();
        Pipeline::parse(text, Path::new("populous.yml"), dir.path())
    }

    /// `check(edit, expected)`: applies a textual edit to the good file and
    /// expects success (None) or an error containing the text.
    fn check(from: &str, to: &str, expected: Option<&str>) {
        let text = GOOD.replacen(from, to, 1);
        assert_ne!(text, GOOD, "edit {from:?} did not apply");
        match (parse(&text), expected) {
            (Ok(_), None) => {}
            (Ok(_), Some(e)) => {
                panic!("{from:?} -> {to:?}: accepted, expected an error with {e:?}")
            }
            (Err(e), None) => panic!("{from:?} -> {to:?}: refused: {e}"),
            (Err(e), Some(want)) => {
                let msg = e.to_string();
                assert!(
                    msg.contains(want),
                    "{from:?} -> {to:?}: {msg:?} lacks {want:?}"
                );
            }
        }
    }

    #[test]
    fn the_example_parses_with_defaults() {
        let p = parse(GOOD).unwrap();
        assert_eq!(p.version, "1.0.1");
        assert_eq!(p.tag("28"), "1.0.1-28");
        let prod = p.env("prod").unwrap();
        assert_eq!(prod.update.delay, Duration::from_secs(2));
        assert_eq!(prod.update.monitor, Duration::from_secs(5));
        assert!(prod.update.rollback);
        assert_eq!(prod.probe.as_ref().unwrap().max_p99_ratio, 1.2);
        assert_eq!(prod.app.replicas, Some(2));
        assert_eq!(p.env("dev").unwrap().app.replicas, None);
        assert_eq!(
            p.image_ref("app", "1.0.1-28").unwrap(),
            "127.0.0.1:5000/populous/app:1.0.1-28"
        );
        let e = p.env("qa").unwrap_err().to_string();
        assert!(e.contains("dev, golden, prod, stage"), "{e}");
        let golden = p.env("golden").unwrap();
        assert_eq!(
            (golden.roles.as_slice(), golden.port),
            (&[Role::Refresh][..], 0)
        );
    }

    #[test]
    fn mistakes_are_named() {
        check(
            "registry: 127.0.0.1:5000",
            "registry: 127.0.0.1",
            Some("host:port"),
        );
        check("port: 18081", "port: 0", Some("environments.dev.port"));
        check(
            "roles: [run, smoke]\n    requires: dev",
            "roles: [run, run]\n    requires: dev",
            Some("listed twice"),
        );
        check("roles: [build,", "roles: [biuld,", Some("unknown variant"));
        check(
            "import_from: dev",
            "import_from: qa",
            Some("data.import_from"),
        );
        check("requires: stage", "requires: prod", Some("requires"));
        check(
            "clone_of: prod/db",
            "clone_of: ../db",
            Some("FOLDER/VOLUME"),
        );
        check(
            "volume: \"db-{build}\" }\n    mask",
            "volume: \"db/{build}\" }\n    mask",
            Some("not a plain name"),
        );
        check(
            "order: start-first",
            "order: sideways",
            Some("start-first or stop-first"),
        );
        check("delay: 2s", "delay: soon", Some("not a duration"));
        check(
            "    mask: { rules: masking.yml, key_file: /etc/populous/mask.key }\n",
            "",
            Some("needs a mask section"),
        );
        check(
            "token: { env: POPULOUS_DEV_TOKEN }",
            "token: abc123",
            Some("token"),
        );
        check(
            "token: { env: POPULOUS_DEV_TOKEN }",
            "token: { env: A, file: /b }",
            Some("one of them"),
        );
        check(
            "folder: dev",
            "folder: ../dev",
            Some("environments.dev.folder"),
        );
        check(
            "    lb: { repository: populous/lb, context: lb }\n",
            "",
            Some("app.images.lb"),
        );
        check(
            "db: { repository: populous/db, context: db }",
            "db: { repository: populous/db }",
            Some("either build"),
        );
        check(
            "port: 18082",
            "port: 18082\n    colour: blue",
            Some("unknown field"),
        );
        check(
            "seed_size: 256M",
            "seed_size: lots",
            Some("environments.prod.data.seed_size: invalid size \"lots\": it must start with a number"),
        );
        check(
            "seed_size: 256M",
            "seed_size: 256Q",
            Some("environments.prod.data.seed_size: invalid size \"256Q\": unknown unit \"Q\""),
        );
        check(
            "seed_size: 256M",
            "seed_size: \"-1G\"",
            Some(
                "environments.prod.data.seed_size: invalid size \"-1G\": sizes cannot be negative",
            ),
        );
        check("seed_size: 256M", "seed_size: 1.5GiB", None);
        check("delay: 2s", "delay: 500ms", None);
        check(
            "roles: [refresh]",
            "roles: [refresh, smoke]",
            Some("refresh runs alone"),
        );
        check(
            "data: { clone_of: prod/db, volume: db }",
            "data: { volume: db }",
            Some("refresh needs data.clone_of"),
        );
        check(
            "    mask: { rules: masking.yml, key_file: /etc/populous/golden.key }\n",
            "",
            Some("refresh needs data.clone_of"),
        );
        check(
            "clone_of: prod/db, volume: db }",
            "clone_of: prod/db, volume: \"db-{build}\" }",
            Some("no placeholders"),
        );
        check(
            "driver: populous-dev",
            "driver: \"\"",
            Some("environments.dev.driver"),
        );
    }

    #[test]
    fn placeholders_expand_in_arguments_only_as_text() {
        let v = Vars {
            version: "1.0.1".into(),
            build: "28".into(),
            env: "dev".into(),
            image: Some("populous/app:1.0.1-28".into()),
        };
        assert_eq!(expand("db-{build}", &v), "db-28");
        assert_eq!(
            expand("{image} {tag} {env} {other}", &v),
            "populous/app:1.0.1-28 1.0.1-28 dev {other}"
        );
        assert!(is_plain_name("db-28"));
        assert!(!is_plain_name("db 28"));
        assert!(!is_plain_name("-db"));
        assert!(!is_plain_name(""));
    }
}
