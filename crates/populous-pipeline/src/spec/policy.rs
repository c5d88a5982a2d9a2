//! How an environment's services are updated, watched and smoke-tested:
//! the `update`, `probe` and `smoke` sections, with their defaults.

use std::time::Duration;

use serde::Deserialize;

use super::file::humantime_serde_compat;

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
