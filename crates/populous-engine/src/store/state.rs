//! Typed values that the store keeps as text.
//!
//! The text is what earlier versions wrote, so existing stores open as they
//! are; reading a value this version does not know is an error, never a
//! silent default (a misread backend would run the wrong copy-on-write code).

use rusqlite::types::{FromSql, FromSqlError, FromSqlResult, ToSql, ToSqlOutput, ValueRef};

use crate::backend::BackendKind;
use crate::error::Error;
use crate::model::{Consistency, VolumeState};

/// Declares an enum stored as fixed text, with its conversions both ways.
macro_rules! stored_text {
    ($(#[$m:meta])* $name:ident, $what:literal { $($(#[$vm:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum $name {
            $($(#[$vm])* $variant),+
        }

        impl $name {
            /// The text stored for this value.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }

            /// Parses stored text; unknown text is an error naming what it is.
            pub fn parse(s: &str) -> Result<Self, Error> {
                match s {
                    $($text => Ok($name::$variant),)+
                    other => Err(Error::InvalidInput {
                        what: $what,
                        detail: format!("{other:?} in the metadata store is not one this version knows"),
                    }),
                }
            }
        }

        impl ToSql for $name {
            fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
                Ok(ToSqlOutput::from(self.as_str()))
            }
        }

        impl FromSql for $name {
            fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
                $name::parse(value.as_str()?).map_err(|e| FromSqlError::Other(Box::new(e)))
            }
        }
    };
}

stored_text! {
    /// Where a volume row is in its life.
    VolState, "volume state" {
        /// Being made by an operation in flight (tagged with its intent).
        Creating = "creating",
        /// Visible and mountable.
        Online = "online",
        /// Kept, invisible to consumers.
        Offline = "offline",
        /// Being removed by an operation in flight.
        Destroying = "destroying",
    }
}

impl VolState {
    /// The state as the public model shows it; rows in flight are never shown
    /// (lookups select live rows), and would read as offline.
    pub fn public(self) -> VolumeState {
        match self {
            VolState::Online => VolumeState::Online,
            _ => VolumeState::Offline,
        }
    }

    /// The stored state for a public one.
    pub fn from_public(s: VolumeState) -> VolState {
        match s {
            VolumeState::Online => VolState::Online,
            VolumeState::Offline => VolState::Offline,
        }
    }
}

stored_text! {
    /// Where a snapshot row is in its life.
    SnapState, "snapshot state" {
        /// Being made by an operation in flight.
        Creating = "creating",
        /// Taken, usable as a clone source.
        Ready = "ready",
        /// Being removed by an operation in flight.
        Destroying = "destroying",
    }
}

stored_text! {
    /// What an intent record stands for, which decides how a dead one is finished.
    OpKind, "operation kind" {
        /// Makes volumes or snapshots: rolled back.
        Create = "create",
        /// Removes volumes or snapshots: rolled forward.
        Destroy = "destroy",
        /// Makes a pool image and its mount: torn down.
        PoolCreate = "pool_create",
        /// Removes a pool image and its mount: torn down.
        PoolRemove = "pool_remove",
    }
}

stored_text! {
    /// How a snapshot's data was captured, as stored.
    StoredConsistency, "snapshot consistency" {
        /// Crash-consistent.
        Crash = "crash",
        /// Application-consistent.
        App = "app",
    }
}

impl From<Consistency> for StoredConsistency {
    fn from(c: Consistency) -> Self {
        match c {
            Consistency::Crash => StoredConsistency::Crash,
            Consistency::App => StoredConsistency::App,
        }
    }
}

impl From<StoredConsistency> for Consistency {
    fn from(c: StoredConsistency) -> Self {
        match c {
            StoredConsistency::Crash => Consistency::Crash,
            StoredConsistency::App => Consistency::App,
        }
    }
}

impl ToSql for BackendKind {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::from(self.as_str()))
    }
}

impl FromSql for BackendKind {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        value
            .as_str()?
            .parse::<BackendKind>()
            .map_err(|e| FromSqlError::Other(Box::new(e)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_text_round_trips_and_unknown_text_is_an_error() {
        for k in [
            OpKind::Create,
            OpKind::Destroy,
            OpKind::PoolCreate,
            OpKind::PoolRemove,
        ] {
            assert_eq!(OpKind::parse(k.as_str()).expect("known"), k);
        }
        assert!(VolState::parse("hibernating").is_err());
        let conn = rusqlite::Connection::open_in_memory().expect("db");
        let read: rusqlite::Result<BackendKind> = conn.query_row("SELECT 'zfs'", [], |r| r.get(0));
        let err = read.expect_err("unknown backend");
        assert!(err.to_string().contains("zfs"), "{err}");
    }
}
