//! Sources: a replica of an outside MariaDB/MySQL server, kept on a volume.
//!
//! Teams will not move production onto a CI host's pool. A source seeds a
//! volume from the running server without blocking it, runs a replica
//! server on the volume that follows the source by GTID replication, and
//! lets the volume be snapshotted and cloned like any other. This crate does
//! the wire work; `populous-ops` composes it with the engine and `populous-db`.
//!
//! - [`url`]: where the source is (`mysql://user@host:port`) and its password,
//!   read from a file and never shown;
//! - [`seed`]: a physical copy with `mariadb-backup --backup --stream` then
//!   `--prepare`, or a logical one with `mariadb-dump --single-transaction
//!   --gtid`; both pass through this process, which counts bytes for the
//!   progress bar, and both return the GTID position the copy holds;
//! - [`replica`]: the replica's server options (replication files outside the
//!   datadir, so no snapshot carries the password), `CHANGE MASTER TO … ,
//!   MASTER_USE_GTID=slave_pos`, status and lag, pausing for a snapshot, and
//!   cleaning a clone so it never replicates.
//!
//! The password reaches child processes in their environment (`MYSQL_PWD`,
//! readable only by their owner): never in an argument list (`ps` shows
//! those), a file, a log or the metadata store.

mod error;
pub mod replica;
pub mod seed;
pub mod url;

pub use error::{Result, SourceError};
