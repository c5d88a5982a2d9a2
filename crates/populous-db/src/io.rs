//! InnoDB's I/O settings for one server: how it writes and syncs its files.
//!
//! The caller chooses them (Populous's operations layer, by the pool's
//! backend); this module only knows what each means and how `mariadbd`
//! spells it. [`IoSettings::MARIADB_DEFAULT`] is what MariaDB 10.11 does when
//! told nothing.

use serde::{Deserialize, Serialize};

/// `innodb_flush_method`: how data and log files are opened and synced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FlushMethod {
    /// Buffered writes, then `fsync`.
    Fsync,
    /// Files opened with `O_DSYNC`.
    ODsync,
    /// Data files opened with `O_DIRECT` (no page cache), then `fsync`
    /// (MariaDB 10.6 and later: the default).
    ODirect,
}

impl FlushMethod {
    /// The value `mariadbd` takes.
    pub fn as_str(self) -> &'static str {
        match self {
            FlushMethod::Fsync => "fsync",
            FlushMethod::ODsync => "O_DSYNC",
            FlushMethod::ODirect => "O_DIRECT",
        }
    }
}

/// How one server does its I/O.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct IoSettings {
    /// `innodb_flush_method`.
    pub flush_method: FlushMethod,
    /// `innodb_doublewrite`: every page is written twice, first to the
    /// doublewrite buffer, so a page torn by a crash can be repaired. Only a
    /// filesystem that never tears a page (copy-on-write data) may go without.
    pub doublewrite: bool,
    /// `innodb_flush_neighbors`: also flush the dirty pages next to each one
    /// in the same extent (pays off on disks that seek; not on SSDs or on
    /// copy-on-write filesystems, where neighbours are not neighbours).
    pub flush_neighbors: bool,
}

impl IoSettings {
    /// MariaDB 10.11's own defaults.
    pub const MARIADB_DEFAULT: IoSettings = IoSettings {
        flush_method: FlushMethod::ODirect,
        doublewrite: true,
        flush_neighbors: true,
    };

    /// The `mariadbd` options that give these settings.
    pub fn args(&self) -> Vec<String> {
        vec![
            format!("--innodb-flush-method={}", self.flush_method.as_str()),
            format!("--innodb-doublewrite={}", u8::from(self.doublewrite)),
            format!(
                "--innodb-flush-neighbors={}",
                u8::from(self.flush_neighbors)
            ),
        ]
    }
}

impl Default for IoSettings {
    fn default() -> Self {
        IoSettings::MARIADB_DEFAULT
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn args_spell_every_setting() {
        let io = IoSettings {
            flush_method: FlushMethod::ODsync,
            doublewrite: false,
            flush_neighbors: false,
        };
        assert_eq!(
            io.args(),
            [
                "--innodb-flush-method=O_DSYNC",
                "--innodb-doublewrite=0",
                "--innodb-flush-neighbors=0"
            ]
        );
        assert_eq!(
            IoSettings::default().args()[0],
            "--innodb-flush-method=O_DIRECT"
        );
    }

    #[test]
    fn serialises_as_plain_names() {
        let json = serde_json::to_string(&IoSettings::MARIADB_DEFAULT).unwrap();
        assert_eq!(
            json,
            r#"{"flush_method":"o_direct","doublewrite":true,"flush_neighbors":true}"#
        );
    }
}
