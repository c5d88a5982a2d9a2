//! `populous clone` and the lifecycle of clones: reset and idle delete.

use clap::Args;

#[derive(Debug, Args)]
pub struct CloneArgs {
    /// Source: FOLDER/VOL (a snapshot is taken first) or FOLDER/VOL@SNAP.
    pub source: String,
    /// The new volume: FOLDER/NEWVOL.
    pub target: String,
    /// Free-form description of the clone.
    #[arg(long)]
    pub description: Option<String>,
    /// Destroy the clone this long after now (e.g. 2h): see `volume expire`.
    #[arg(long, value_name = "DURATION")]
    pub expires_in: Option<String>,
    /// Destroy the clone once its server has had no client for this long
    /// (e.g. 30m), measured by `populous serve` from the server's own counters.
    #[arg(long, value_name = "DURATION")]
    pub idle: Option<String>,
    /// Start MariaDB on the clone with a login of its own and print its URL
    /// (the password is shown this once and kept nowhere; root answers only
    /// on the server's socket).
    #[arg(long)]
    pub db: bool,
    /// With --db: the address the server listens on (0.0.0.0 for every interface).
    #[arg(
        long,
        value_name = "ADDR",
        default_value = "127.0.0.1",
        requires = "db"
    )]
    pub listen: std::net::IpAddr,
    /// With --db: the ports clones' servers take, the first free one.
    #[arg(
        long,
        value_name = "FIRST-LAST",
        default_value = "13300-13999",
        requires = "db"
    )]
    pub ports: String,
    /// With --db: the server's memory (half of it InnoDB's buffer pool; all of it its
    /// cgroup's limit where the kernel allows), e.g. 512M; at least 96M.
    #[arg(long, value_name = "SIZE", requires = "db")]
    pub memory: Option<String>,
    /// With --db: the most client connections the server takes (10 to 100000).
    #[arg(long, value_name = "N", requires = "db")]
    pub connections: Option<u32>,
    /// With --db: the server's CPU weight, 1 to 10000 (100: an ordinary share).
    #[arg(long, value_name = "WEIGHT", requires = "db")]
    pub cpu_weight: Option<u32>,
}

/// `populous volume reset`.
#[derive(Debug, Args)]
pub struct ResetArgs {
    /// FOLDER/VOL: a clone.
    pub volume: String,
    /// A snapshot of the clone's origin volume (default: its newest).
    #[arg(long, value_name = "SNAPSHOT")]
    pub to: Option<String>,
    /// Reset even while clients are connected to its server (they are disconnected).
    #[arg(long)]
    pub force: bool,
}

/// `populous volume idle`.
#[derive(Debug, Args)]
pub struct IdleArgs {
    /// FOLDER/VOL.
    pub volume: String,
    /// Destroy it once its server has had no client for this long, e.g. 30m.
    #[arg(value_name = "DURATION", required_unless_present = "never")]
    pub after: Option<String>,
    /// Never destroy it for being idle.
    #[arg(long, conflicts_with = "after")]
    pub never: bool,
}
