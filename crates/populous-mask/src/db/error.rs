//! Everything that can go wrong while masking or verifying a database,
//! and its [`ErrorKind`] class.

use populous_error::{ErrorKind, HasKind};

use super::{INDEX_TABLE, PROGRESS_TABLE};
use crate::MaskError;

/// Everything that can go wrong while masking or verifying a database.
/// Messages never contain key material or original values.
#[derive(Debug, thiserror::Error)]
pub enum MaskDbError {
    /// The URL does not parse.
    #[error("invalid MariaDB connection url {url}: {source}")]
    BadUrl {
        /// The URL, password redacted.
        url: String,
        /// Parser error.
        #[source]
        source: mysql_async::UrlError,
    },
    /// The URL names no database.
    #[error(
        "connection url {url} names no database; add it as the path (mysql://host:port/<database>)"
    )]
    NoDatabase {
        /// The URL, password redacted.
        url: String,
    },
    /// Options out of range.
    #[error("invalid masking options: {0}")]
    Options(String),
    /// A statement failed.
    #[error("{what} on {target} failed: {source}")]
    Sql {
        /// What was being done.
        what: String,
        /// The URL, password redacted.
        target: String,
        /// Driver or server error.
        #[source]
        source: mysql_async::Error,
    },
    /// A table of the rules does not exist.
    #[error("table `{table}` named in the rules does not exist in database `{database}`; fix the rules or the connection url (nothing was changed)")]
    MissingTable {
        /// Table.
        table: String,
        /// Database looked in.
        database: String,
    },
    /// A column of the rules does not exist.
    #[error("column `{table}`.`{column}` named in the rules does not exist in database `{database}` (the table has: {existing}); fix the rules (nothing was changed)")]
    MissingColumn {
        /// Table.
        table: String,
        /// Column.
        column: String,
        /// Database looked in.
        database: String,
        /// The table's columns.
        existing: String,
    },
    /// The primary key is unusable for range chunking.
    #[error("table `{table}`: {reason} (nothing was changed)")]
    PrimaryKey {
        /// Table.
        table: String,
        /// What is wrong, and what to do.
        reason: String,
    },
    /// A value cannot be masked (wrong shape, not UTF-8, ...).
    #[error("cannot mask `{table}`.`{column}` of the row with `{pk_column}` = {pk}: {source}; fix the value or choose a transformer that accepts it (the chunk was rolled back)")]
    Mask {
        /// Table.
        table: String,
        /// Column.
        column: String,
        /// Primary-key column.
        pk_column: String,
        /// The row's key (not personal data).
        pk: String,
        /// Why (never contains the value).
        #[source]
        source: Box<MaskError>,
    },
    /// A masked value collided with a value of a UNIQUE index.
    #[error("masking `{table}` ids {chunk_start}..={chunk_end} violated unique index `{index}`: a masked value equals a value still in the table; the chunk was rolled back and nothing of it was written. Mask with drop_indexes (the default) so that the index is checked on the final data only, or give the column a transformer with a separate output space (see populous_mask::db docs)")]
    UniqueViolation {
        /// Table.
        table: String,
        /// Index name as the server reported it.
        index: String,
        /// First id of the chunk.
        chunk_start: String,
        /// Last id of the chunk.
        chunk_end: String,
    },
    /// A masked value does not fit its column.
    #[error("masking `{table}` ids {chunk_start}..={chunk_end}: {detail}; a masked value is longer than the column allows — widen the column on the clone or choose a shorter output (e.g. keyed_hash length); the chunk was rolled back")]
    TooLong {
        /// Table.
        table: String,
        /// The server's message (names the column, never the value).
        detail: String,
        /// First id of the chunk.
        chunk_start: String,
        /// Last id of the chunk.
        chunk_end: String,
    },
    /// The progress table was written with another chunk size (or the key range changed).
    #[error("`{table}`: {PROGRESS_TABLE} records chunks that do not match the current chunking ({chunk_rows} ids per chunk over ids {min}..={max}; a recorded chunk spans {recorded} ids); re-run with the chunk_rows of the interrupted run")]
    ChunkLayout {
        /// Table.
        table: String,
        /// Chunk size asked for.
        chunk_rows: u64,
        /// Current MIN(pk).
        min: String,
        /// Current MAX(pk).
        max: String,
        /// Ids spanned by a mismatching recorded chunk.
        recorded: String,
    },
    /// The database was partly masked with another key under the same rules.
    #[error("the database was partly masked under the same rules with key id {recorded}, not {given}; re-run with that key (mixing keys would break determinism)")]
    KeyMismatch {
        /// Key id in the progress table.
        recorded: String,
        /// Key id given now.
        given: String,
    },
    /// The server writes a binary log, which would keep every original value.
    #[error("the server on {target} writes a binary log (log_bin=ON): masking there would copy every original value into it; start the server without --log-bin (Populous's own servers never enable it)")]
    BinlogOn {
        /// The URL, password redacted.
        target: String,
    },
    /// InnoDB did not purge the old row versions in time.
    #[error("InnoDB on {target} still had {history} undo records to purge after {secs} s; the old values are still in the undo log, so the volume is not marked masked (re-run to finish)")]
    PurgeTimeout {
        /// The URL, password redacted.
        target: String,
        /// The history list length left.
        history: u64,
        /// How long we waited.
        secs: u64,
    },
    /// [`MaskOptions::cancel`] was set.
    #[error("masking was cancelled after {chunks_done} chunks of this run; re-run with the same rules, key and chunk_rows to finish (done chunks are skipped)")]
    Cancelled {
        /// Chunks committed in this run.
        chunks_done: u64,
    },
    /// An index dropped for the masking could not be re-created.
    #[error("masking of `{table}` is complete, but re-creating its index `{index}` failed: {reason}. The masked data is in place; the index definition ({definition}) stays recorded in {INDEX_TABLE}, and re-running the same masking re-creates it (no row is masked twice)")]
    IndexRestore {
        /// Table.
        table: String,
        /// Index name.
        index: String,
        /// The definition as `SHOW CREATE TABLE` printed it.
        definition: String,
        /// Why (for a UNIQUE index: the masked values are not unique).
        reason: String,
    },
    /// The tokio runtime could not be created.
    #[error("cannot create a tokio runtime for the MariaDB client: {0}")]
    Runtime(#[source] std::io::Error),
}

impl MaskDbError {
    /// The class of this failure, for exit codes and statuses: rules,
    /// options and URLs that do not fit the database are the caller's to
    /// fix; state left by an earlier run that this request contradicts is
    /// the wrong state; a full disk is no space; anything else is internal.
    pub fn kind(&self) -> ErrorKind {
        use MaskDbError as M;
        match self {
            M::MissingTable { .. }
            | M::MissingColumn { .. }
            | M::PrimaryKey { .. }
            | M::BadUrl { .. }
            | M::Options(_) => ErrorKind::InvalidInput,
            M::KeyMismatch { .. } | M::ChunkLayout { .. } | M::IndexRestore { .. } => {
                ErrorKind::WrongState
            }
            M::Sql { source, .. } if populous_sql::is_disk_full(source) => ErrorKind::NoSpace,
            M::BinlogOn { .. } => ErrorKind::Unsupported,
            M::PurgeTimeout { .. } => ErrorKind::Failed,
            _ => ErrorKind::Internal,
        }
    }
}

impl HasKind for MaskDbError {
    fn kind(&self) -> ErrorKind {
        MaskDbError::kind(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server(code: u16, message: &str) -> MaskDbError {
        MaskDbError::Sql {
            what: "writing".into(),
            target: "mysql://h/db".into(),
            source: mysql_async::Error::Server(mysql_async::ServerError {
                code,
                message: message.into(),
                state: "HY000".into(),
            }),
        }
    }

    #[test]
    fn kinds() {
        let s = String::new;
        let cases = [
            (MaskDbError::Options(s()), ErrorKind::InvalidInput),
            (
                MaskDbError::MissingTable {
                    table: s(),
                    database: s(),
                },
                ErrorKind::InvalidInput,
            ),
            (
                MaskDbError::PrimaryKey {
                    table: s(),
                    reason: s(),
                },
                ErrorKind::InvalidInput,
            ),
            (
                MaskDbError::KeyMismatch {
                    recorded: s(),
                    given: s(),
                },
                ErrorKind::WrongState,
            ),
            (
                MaskDbError::IndexRestore {
                    table: s(),
                    index: s(),
                    definition: s(),
                    reason: s(),
                },
                ErrorKind::WrongState,
            ),
            (
                MaskDbError::Cancelled { chunks_done: 1 },
                ErrorKind::Internal,
            ),
            (MaskDbError::NoDatabase { url: s() }, ErrorKind::Internal),
            (
                server(1021, "Disk full (/tmp/x); waiting"),
                ErrorKind::NoSpace,
            ),
            (server(1114, "The table 'main' is full"), ErrorKind::NoSpace),
            (
                server(
                    1030,
                    "Got error 28 \"No space left on device\" from storage engine InnoDB",
                ),
                ErrorKind::NoSpace,
            ),
            (
                server(1205, "Lock wait timeout exceeded"),
                ErrorKind::Internal,
            ),
        ];
        for (e, want) in cases {
            assert_eq!(e.kind(), want, "{e}");
            assert_eq!(HasKind::kind(&e), want, "{e}");
        }
        let io = std::io::Error::from(std::io::ErrorKind::StorageFull);
        let e = MaskDbError::Sql {
            what: "reading".into(),
            target: "t".into(),
            source: mysql_async::Error::Io(mysql_async::IoError::Io(io)),
        };
        assert_eq!(e.kind(), ErrorKind::NoSpace);
    }
}
