//! The demo's names ([`Names`]: drivers, services, networks, images, files
//! in its home) and what it did to the machine ([`DemoState`], for `--clean`).

use std::path::PathBuf;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use super::{ENVS, REGISTRY};

/// The demo's names: everything it creates is named from these.
#[derive(Debug, Clone)]
pub struct Names {
    /// Pipeline name: prefix of services, networks and image repositories.
    pub name: String,
    /// Its Populous home.
    pub home: PathBuf,
    /// The repository checkout (scripts/, examples/populous/).
    pub repo: PathBuf,
    /// Where Docker looks for plugin sockets.
    pub plugin_dir: PathBuf,
}

impl Names {
    /// `demo-prod` for `populous-demo`.
    pub fn driver(&self, env: &str) -> String {
        let short = self.name.strip_prefix("populous-").unwrap_or(&self.name);
        format!("{short}-{env}")
    }
    /// Docker volume names of a driver end with this.
    pub fn suffix(&self, env: &str) -> String {
        format!(".{}", self.driver(env))
    }
    /// prod's Docker volume, on Docker's local driver: outside the pool.
    pub fn prod_volume(&self) -> String {
        format!("db{}", self.suffix("prod"))
    }
    /// The plugin socket of an environment.
    pub fn socket(&self, env: &str) -> PathBuf {
        self.plugin_dir.join(format!("{}.sock", self.driver(env)))
    }
    /// Every service name the pipeline gives, lb and app before db.
    pub fn services(&self) -> Vec<String> {
        let mut v = Vec::new();
        for env in ENVS {
            for role in ["lb", "app", "db"] {
                v.push(format!("{}-{env}-{role}", self.name));
            }
        }
        v
    }
    /// The overlay networks.
    pub fn networks(&self) -> Vec<String> {
        ENVS.iter().map(|e| format!("{}-{e}", self.name)).collect()
    }
    /// Image repositories, without registry.
    pub fn repositories(&self) -> Vec<String> {
        ["app", "db", "lb"]
            .iter()
            .map(|r| format!("{}/{r}", self.name))
            .collect()
    }
    /// Whether a local image `repo:tag` is one of the demo's.
    pub fn owns_image(&self, image: &str) -> bool {
        let local = image.strip_prefix(&format!("{REGISTRY}/")).unwrap_or(image);
        self.repositories()
            .iter()
            .any(|r| local.starts_with(&format!("{r}:")))
    }
    pub(super) fn config_file(&self) -> PathBuf {
        self.home.join("populous.toml")
    }
    pub(super) fn token_file(&self, env: &str) -> PathBuf {
        self.home.join("tokens").join(format!("{env}.token"))
    }
    pub(super) fn key_file(&self) -> PathBuf {
        self.home.join("mask.key")
    }
}

/// What the demo did to the machine beyond its names, for `--clean`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct DemoState {
    /// The report directory.
    pub out: Option<PathBuf>,
    /// The demo started the registry (it did not answer before).
    pub registry_started: bool,
    /// The demo initialised the swarm (the engine was not in one).
    pub swarm_initialised: bool,
}

impl DemoState {
    fn path(n: &Names) -> PathBuf {
        n.home.join("demo.json")
    }
    /// The recorded state, if there is one.
    pub fn load(n: &Names) -> Option<DemoState> {
        let text = std::fs::read_to_string(Self::path(n)).ok()?;
        serde_json::from_str(&text).ok()
    }
    pub(super) fn save(&self, n: &Names) -> Result<()> {
        std::fs::write(Self::path(n), serde_json::to_string_pretty(self)?)
            .with_context(|| format!("writing {}", Self::path(n).display()))
    }
}
