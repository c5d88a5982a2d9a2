//! The daemon's TOML configuration.
//!
//! ```toml
//! listen = "127.0.0.1:7171"          # REST API; "" turns it off
//! plugin_dir = "/run/docker/plugins" # where Docker looks for plugin sockets
//!
//! [[plugin]]                          # one Docker volume driver per folder
//! driver = "populous-dev"             # socket /run/docker/plugins/populous-dev.sock
//! folder = "dev"                      # locked to this folder (Nimble's overrides.folder)
//! name_suffix = ".dev"                # docker volume names end in .dev on this driver
//! token_file = "/etc/populous/dev.token"  # rights beyond its folder (e.g. clone from prod)
//! defaults = { destroyOnRm = "false" }    # used when the user gives none
//! overrides = { }                          # forced, whatever the user gives
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// The whole configuration file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Address of the REST API; empty to disable it.
    #[serde(default = "default_listen")]
    pub listen: String,
    /// Directory for the plugin sockets.
    #[serde(default = "default_plugin_dir")]
    pub plugin_dir: PathBuf,
    /// Largest accepted request body, in bytes.
    #[serde(default = "default_body_limit")]
    pub max_body_bytes: usize,
    /// Docker volume plugin instances.
    #[serde(default, rename = "plugin")]
    pub plugins: Vec<PluginConfig>,
}

/// One Docker volume driver, locked to one folder.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PluginConfig {
    /// Driver name: `docker volume create -d DRIVER`; also the socket's name.
    pub driver: String,
    /// The folder this driver's volumes live in.
    pub folder: String,
    /// Suffix that Docker volume names carry on this driver (so environments sharing an engine do not collide).
    #[serde(default)]
    pub name_suffix: String,
    /// File holding a token whose folders this driver may also read from (clone/import).
    #[serde(default)]
    pub token_file: Option<PathBuf>,
    /// Options used when the user does not give them.
    #[serde(default)]
    pub defaults: BTreeMap<String, String>,
    /// Options forced whatever the user gives.
    #[serde(default)]
    pub overrides: BTreeMap<String, String>,
}

fn default_listen() -> String {
    "127.0.0.1:7171".into()
}
fn default_plugin_dir() -> PathBuf {
    PathBuf::from("/run/docker/plugins")
}
fn default_body_limit() -> usize {
    1 << 20
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: default_listen(),
            plugin_dir: default_plugin_dir(),
            max_body_bytes: default_body_limit(),
            plugins: Vec::new(),
        }
    }
}

/// A configuration file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid.
    #[error("invalid config file {}: {detail}", path.display())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        detail: String,
    },
}

impl Config {
    /// Reads `path`. A missing file is an error only when `required`; otherwise the defaults apply.
    pub fn load(path: &Path, required: bool) -> Result<Config, ConfigError> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !required => {
                return Ok(Config::default())
            }
            Err(source) => {
                return Err(ConfigError::Read {
                    path: path.to_owned(),
                    source,
                })
            }
        };
        Self::parse(&text).map_err(|detail| ConfigError::Invalid {
            path: path.to_owned(),
            detail,
        })
    }

    /// Parses and checks a configuration text.
    pub fn parse(text: &str) -> Result<Config, String> {
        let c: Config = toml::from_str(text).map_err(|e| e.to_string())?;
        let mut seen = std::collections::HashSet::new();
        for p in &c.plugins {
            populous_engine::Name::new("driver", &p.driver).map_err(|e| e.to_string())?;
            populous_engine::Name::new("folder", &p.folder).map_err(|e| e.to_string())?;
            if !seen.insert(&p.driver) {
                return Err(format!("driver {} is configured twice", p.driver));
            }
            if let Some(f) = p.overrides.get("folder") {
                if f != &p.folder {
                    return Err(format!(
                        "driver {}: overrides.folder = {f:?} contradicts folder = {:?}",
                        p.driver, p.folder
                    ));
                }
            }
        }
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_checks() {
        let c = Config::parse(
            r#"
            listen = ""
            [[plugin]]
            driver = "populous-dev"
            folder = "dev"
            name_suffix = ".dev"
            defaults = { destroyOnRm = "true" }
            "#,
        )
        .expect("valid");
        assert_eq!(c.plugins[0].defaults["destroyOnRm"], "true");
        assert!(c.listen.is_empty());
        for (bad, needle) in [
            ("bogus = 1", "unknown field"),
            ("[[plugin]]\ndriver = \"../x\"\nfolder = \"dev\"", "invalid driver name"),
            ("[[plugin]]\ndriver = \"a\"\nfolder = \"dev\"\n[[plugin]]\ndriver = \"a\"\nfolder = \"x\"", "twice"),
            ("[[plugin]]\ndriver = \"a\"\nfolder = \"dev\"\noverrides = { folder = \"prod\" }", "contradicts"),
        ] {
            let err = Config::parse(bad).expect_err(bad);
            assert!(err.contains(needle), "{bad}: {err}");
        }
    }
}
