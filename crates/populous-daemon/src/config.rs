//! The daemon's TOML configuration.
//!
//! ```toml
//! listen = "127.0.0.1:7171"          # REST API; "" turns it off
//! plugin_dir = "/run/docker/plugins" # where Docker looks for plugin sockets
//! header_timeout = "10s"              # a request head (then its body) must arrive in this time
//! idle_timeout = "60s"                # a kept-alive connection is closed after this long idle
//! max_connections = 256               # per listener (the API, each plugin socket)
//! usage_refresh = "60s"               # a volume's used_bytes is measured again at most this often
//! clone_listen = "127.0.0.1"          # where `clone --db` servers listen ("0.0.0.0": everywhere)
//! clone_ports = "13300-13999"         # the ports they take, the first free one each
//!
//! [[warm]]                            # running clones waiting for `"db": true` requests
//! origin = "golden/db"                # they hold its newest snapshot (replaced when a newer comes)
//! folder = "dev"                      # requests for clones in dev take them
//! count = 2
//!
//! [[plugin]]                          # one Docker volume driver per folder
//! driver = "populous-dev"             # socket /run/docker/plugins/populous-dev.sock
//! folder = "dev"                      # locked to this folder (Nimble's overrides.folder)
//! name_suffix = ".dev"                # docker volume names end in .dev on this driver
//! token_file = "/etc/populous/dev.token"  # rights beyond its folder (e.g. clone from prod)
//! defaults = { destroyOnRm = "false" }    # used when the user gives none
//! overrides = { }                          # forced, whatever the user gives
//!
//! [[webhook]]                         # volume events POSTed, signed, to a receiver
//! name = "ci"                         # in metrics, logs and the deliveries' records
//! url = "http://127.0.0.1:9000/hook"  # http:// only
//! secret_file = "/etc/populous/ci.hook-secret"  # the HMAC-SHA256 key; read at start
//! events = ["create", "destroy"]      # default: create, reset, expire, destroy
//! timeout = "10s"                     # a whole attempt: connect, send, the answer's head
//! max_attempts = 12                   # then the delivery is recorded as failed
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use populous_engine::EventKind;
use serde::{Deserialize, Deserializer};

use crate::conn::Limits;

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
    /// Time allowed for a request head, from the connection opening (or the
    /// request's first byte on a kept-alive connection); then again for its body.
    #[serde(default = "default_header_timeout", deserialize_with = "duration")]
    pub header_timeout: Duration,
    /// Time a kept-alive connection may wait for its next request.
    #[serde(default = "default_idle_timeout", deserialize_with = "duration")]
    pub idle_timeout: Duration,
    /// Connections held at once, per listener (the API, each plugin socket).
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
    /// How often a volume's usage may be measured again (a walk of its whole
    /// tree, in the background, for volumes that are inspected).
    #[serde(default = "default_usage_refresh", deserialize_with = "duration")]
    pub usage_refresh: Duration,
    /// Docker volume plugin instances.
    #[serde(default, rename = "plugin")]
    pub plugins: Vec<PluginConfig>,
    /// Where the servers of clones made with `"db": true` listen.
    #[serde(default = "default_clone_listen")]
    pub clone_listen: std::net::IpAddr,
    /// The ports they take (`FIRST-LAST`).
    #[serde(default = "default_clone_ports")]
    pub clone_ports: String,
    /// Webhooks: receivers of volume events ([`crate::webhooks`]).
    #[serde(default, rename = "webhook")]
    pub webhooks: Vec<WebhookConfig>,
    /// Warm pools: running clones waiting for requests ([`crate::warm`]).
    #[serde(default, rename = "warm")]
    pub warm: Vec<WarmConfig>,
}

/// One warm pool: `count` running clones of `origin`'s newest snapshot in `folder`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WarmConfig {
    /// `folder/volume` whose newest snapshot the clones hold.
    pub origin: String,
    /// The folder they wait in (requests for clones there take them).
    pub folder: String,
    /// How many wait.
    pub count: usize,
}

impl WarmConfig {
    /// The pool, its names checked.
    pub fn pool(&self) -> Result<populous_ops::warm::WarmPool, String> {
        let origin = self
            .origin
            .parse()
            .map_err(|e| format!("warm origin {:?}: {e}", self.origin))?;
        let folder = populous_engine::Name::new("folder", &self.folder)
            .map_err(|e| format!("warm folder: {e}"))?;
        if self.count > 50 {
            return Err(format!("warm count is at most 50, not {}", self.count));
        }
        Ok(populous_ops::warm::WarmPool {
            origin,
            folder,
            count: self.count,
        })
    }
}

/// One webhook: where volume events are sent, and which. Holds the path of
/// its secret, never the secret.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    /// Its name, in metrics, logs and the record of deliveries.
    pub name: String,
    /// `http://host[:port][/path]`.
    pub url: String,
    /// The file holding the HMAC-SHA256 key its requests are signed with.
    pub secret_file: PathBuf,
    /// The events it receives; all by default.
    #[serde(default = "all_events")]
    pub events: Vec<EventKind>,
    /// Time allowed for one attempt: connecting, sending, and the answer's head.
    #[serde(default = "default_hook_timeout", deserialize_with = "duration")]
    pub timeout: Duration,
    /// Attempts before a delivery is given up and recorded as failed.
    #[serde(default = "default_max_attempts")]
    pub max_attempts: u32,
}

fn all_events() -> Vec<EventKind> {
    EventKind::ALL.to_vec()
}
fn default_hook_timeout() -> Duration {
    Duration::from_secs(10)
}
/// With backoff from 1 s doubling to 5 min, 12 attempts span about 40 min.
fn default_max_attempts() -> u32 {
    12
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
fn default_header_timeout() -> Duration {
    Duration::from_secs(10)
}
fn default_idle_timeout() -> Duration {
    Duration::from_secs(60)
}
/// 256 per listener leaves room under the usual 1,024 open files for the API,
/// a couple of plugin sockets, the databases and the engine's own files.
fn default_max_connections() -> usize {
    256
}

fn default_clone_listen() -> std::net::IpAddr {
    populous_ops::dbclone::Listen::default().addr
}

fn default_clone_ports() -> String {
    populous_ops::dbclone::PortRange::DEFAULT.to_string()
}

fn default_usage_refresh() -> Duration {
    crate::usage::DEFAULT_REFRESH
}

/// A duration written the human way: `"10s"`, `"1m 30s"`, `"500ms"`.
fn duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let text = String::deserialize(d)?;
    humantime::parse_duration(&text).map_err(|e| {
        serde::de::Error::custom(format!(
            "{text:?} is not a duration ({e}); write e.g. \"10s\""
        ))
    })
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: default_listen(),
            plugin_dir: default_plugin_dir(),
            max_body_bytes: default_body_limit(),
            header_timeout: default_header_timeout(),
            idle_timeout: default_idle_timeout(),
            max_connections: default_max_connections(),
            usage_refresh: default_usage_refresh(),
            plugins: Vec::new(),
            clone_listen: default_clone_listen(),
            clone_ports: default_clone_ports(),
            webhooks: Vec::new(),
            warm: Vec::new(),
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

/// More connections than this per listener would outgrow any sensible open-file limit.
const MAX_CONNECTIONS: usize = 65_536;

impl Config {
    /// The connection limits every listener applies.
    pub fn limits(&self) -> Limits {
        Limits {
            header_timeout: self.header_timeout,
            idle_timeout: self.idle_timeout,
            max_connections: self.max_connections,
        }
    }

    /// Where `"db": true` clones' servers listen (`clone_ports` was checked by [`Config::parse`]).
    pub fn clone_listen(&self) -> populous_ops::dbclone::Listen {
        populous_ops::dbclone::Listen {
            addr: self.clone_listen,
            ports: self
                .clone_ports
                .parse()
                .unwrap_or(populous_ops::dbclone::PortRange::DEFAULT),
        }
    }

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
        c.clone_ports
            .parse::<populous_ops::dbclone::PortRange>()
            .map_err(|e| format!("clone_ports: {e}"))?;
        for w in &c.warm {
            w.pool()?;
        }
        for (key, d) in [
            ("header_timeout", c.header_timeout),
            ("idle_timeout", c.idle_timeout),
        ] {
            if d.is_zero() {
                return Err(format!("{key} must be more than zero"));
            }
        }
        if !(1..=MAX_CONNECTIONS).contains(&c.max_connections) {
            return Err(format!(
                "max_connections must be 1 to {MAX_CONNECTIONS}, not {}",
                c.max_connections
            ));
        }
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
        let mut hooks = std::collections::HashSet::new();
        for h in &c.webhooks {
            populous_engine::Name::new("webhook", &h.name).map_err(|e| e.to_string())?;
            if !hooks.insert(&h.name) {
                return Err(format!("webhook {} is configured twice", h.name));
            }
            crate::webhooks::Target::parse(&h.url)
                .map_err(|e| format!("webhook {}: {e}", h.name))?;
            if h.timeout.is_zero() || h.max_attempts == 0 {
                return Err(format!(
                    "webhook {}: timeout and max_attempts must be more than zero",
                    h.name
                ));
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
            header_timeout = "2s 500ms"
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
        assert_eq!(c.header_timeout, Duration::from_millis(2500));
        assert_eq!(
            (c.idle_timeout, c.max_connections),
            (Duration::from_secs(60), 256)
        );
        for (bad, needle) in [
            ("bogus = 1", "unknown field"),
            ("header_timeout = \"soon\"", "not a duration"),
            ("header_timeout = 10", "invalid type"),
            ("idle_timeout = \"0s\"", "more than zero"),
            ("max_connections = 0", "max_connections must be"),
            ("[[plugin]]\ndriver = \"../x\"\nfolder = \"dev\"", "invalid driver name"),
            ("[[plugin]]\ndriver = \"a\"\nfolder = \"dev\"\n[[plugin]]\ndriver = \"a\"\nfolder = \"x\"", "twice"),
            ("[[plugin]]\ndriver = \"a\"\nfolder = \"dev\"\noverrides = { folder = \"prod\" }", "contradicts"),
            ("[[webhook]]\nname = \"a\"\nurl = \"https://x/\"\nsecret_file = \"/s\"", "http://"),
            ("[[webhook]]\nname = \"a\"\nurl = \"http://u:p@x/\"\nsecret_file = \"/s\"", "user"),
            ("[[webhook]]\nname = \"a\"\nurl = \"http://x/\"\nsecret_file = \"/s\"\nevents = [\"boom\"]", "unknown variant"),
            ("[[webhook]]\nname = \"a\"\nurl = \"http://x/\"\nsecret_file = \"/s\"\n[[webhook]]\nname = \"a\"\nurl = \"http://y/\"\nsecret_file = \"/s\"", "twice"),
            ("[[webhook]]\nname = \"a\"\nurl = \"http://x/\"\nsecret = \"s\"", "unknown field"),
        ] {
            let err = Config::parse(bad).expect_err(bad);
            assert!(err.contains(needle), "{bad}: {err}");
        }
    }
}
