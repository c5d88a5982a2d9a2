//! The pipeline file as written: the serde structures that YAML parses into,
//! before any check. [`super::plan`] turns each environment into its checked,
//! typed plan; the runner reads only what the checks made sure of.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::policy::{ProbeSpec, SmokeSpec, UpdateSpec};
use super::role::Role;

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
    /// For a golden copy: the Populous source (`populous source`) whose newest
    /// clean base is cloned, instead of `clone_of`.
    #[serde(default)]
    pub from_source: Option<String>,
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
    /// The db service's own options.
    #[serde(default)]
    pub db: DbRun,
}

/// Docker's own volume driver: an environment whose `driver` is this keeps its
/// database outside any Populous pool (production as most teams run it; a
/// Populous source replicates it onto the pool).
pub const LOCAL_DRIVER: &str = "local";

impl EnvSpec {
    /// A golden copy's environment: its roles are `[refresh]` (refresh runs
    /// alone, checked at load). It runs no services.
    pub fn is_golden(&self) -> bool {
        self.roles.contains(&Role::Refresh)
    }

    /// Whether its data volume lives on a Populous pool (its driver is a
    /// plugin of `populous serve`), rather than on Docker's [`LOCAL_DRIVER`].
    pub fn on_pool(&self) -> bool {
        self.driver != LOCAL_DRIVER
    }
}

/// How the db service runs beyond its image: for instance production with a
/// binary log and a host port, so that a Populous source can replicate it.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DbRun {
    /// Options passed to `mariadbd` (each starts with `--`), e.g.
    /// `[--log-bin=prod-bin, --server-id=1, --binlog-format=ROW]`.
    #[serde(default)]
    pub args: Vec<String>,
    /// Publish the server's port 3306 on this host port (host mode).
    #[serde(default)]
    pub port: Option<u16>,
}

/// Parsing `"1s"`, `"100ms"`, `"2m"` durations.
pub(super) mod humantime_serde_compat {
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
