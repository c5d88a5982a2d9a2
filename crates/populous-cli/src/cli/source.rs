//! `populous source`: replicas of outside servers, their subcommands and flags.

use std::path::PathBuf;

use clap::{Args, Subcommand};

#[derive(Debug, Subcommand)]
pub enum SourceCmd {
    /// Seed a new volume from a running server and replicate it there.
    Add(SourceAdd),
    /// List sources with their volume, mode, schedule and newest snapshot.
    Ls,
    /// Replication threads, last error, lag in seconds and in transactions, snapshots.
    Status {
        /// Source name.
        name: String,
    },
    /// Snapshot the replica now (applying paused for the snapshot), with its clean base.
    Snapshot {
        /// Source name.
        name: String,
        /// Snapshot name (default `src-<unix time>`).
        #[arg(long = "as")]
        snapshot: Option<String>,
    },
    /// Clone a clean base of the source (the newest, or --snapshot's) to a new volume.
    Clone {
        /// Source name.
        name: String,
        /// FOLDER/VOL to create.
        target: String,
        /// The snapshot whose clean base to clone.
        #[arg(long)]
        snapshot: Option<String>,
    },
    /// Change the snapshot schedule and how many snapshots are kept.
    Schedule {
        /// Source name.
        name: String,
        /// Cron expression (minute hour day month weekday); '' for none.
        schedule: String,
        /// Snapshots to keep (those clones use are kept too).
        #[arg(long, default_value_t = 4)]
        keep: u32,
    },
    /// Remove snapshots beyond --keep that no clone uses, with their clean bases.
    Prune {
        /// Source name.
        name: String,
    },
    /// Re-seed a replica that cannot go on (purged binary logs, divergence), beside the old one.
    ///
    /// The new replica is seeded on VOL-resync and caught up with the source; only then
    /// are both stopped and the new one takes the volume's name (the old volume goes),
    /// so clones never see half a replica. A first snapshot with its clean base follows.
    Resync {
        /// Source name.
        name: String,
    },
    /// Stop the replica and forget the source (the volume and snapshots stay).
    Rm {
        /// Source name.
        name: String,
    },
}

#[derive(Debug, Args)]
pub struct SourceAdd {
    /// Source name.
    pub name: String,
    /// The server: mysql://USER@HOST[:PORT] (no password here).
    #[arg(long)]
    pub from: String,
    /// File whose first line is USER's password.
    #[arg(long)]
    pub password_file: PathBuf,
    /// FOLDER/VOL to create for the replica.
    #[arg(long)]
    pub volume: String,
    /// physical (mariadb-backup; the source's datadir must be on this host) or logical (mariadb-dump).
    ///
    /// Default: physical when the datadir on this host is the source's (its current
    /// binary log is there, written by its server_id), else logical.
    #[arg(long, value_parser = ["physical", "logical"])]
    pub mode: Option<String>,
    /// Where the source's datadir is on this host, when the server reports another
    /// path: a server in a container, e.g. /var/lib/docker/volumes/db/_data.
    #[arg(long)]
    pub datadir: Option<PathBuf>,
    /// The replica's server_id (default: derived from the name, never the source's).
    #[arg(long)]
    pub server_id: Option<u32>,
    /// Cron expression for scheduled snapshots, run by `populous serve` (e.g. '*/30 * * * *').
    #[arg(long)]
    pub schedule: Option<String>,
    /// Scheduled snapshots to keep.
    #[arg(long, default_value_t = 4)]
    pub keep: u32,
}
