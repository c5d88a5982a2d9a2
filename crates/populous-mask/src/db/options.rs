//! How [`mask_database`](super::mask_database) runs: connections, chunk
//! size, write strategy, index handling and cancellation.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use serde::Serialize;

use super::DEFAULT_CHUNK_ROWS;

/// How masked values are written back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum WriteStrategy {
    /// Multi-row INSERT into a temporary table, then one `UPDATE … JOIN`.
    TempJoin,
    /// One `UPDATE … SET c = CASE pk WHEN … END … WHERE pk IN (…)` per chunk.
    Case,
    /// One `UPDATE t STRAIGHT_JOIN (VALUES …) AS m ON m.pk = t.pk SET …` per
    /// chunk: no temporary table, one round trip.
    Values,
}

impl WriteStrategy {
    /// The name used in reports and by the bench.
    pub fn as_str(self) -> &'static str {
        match self {
            WriteStrategy::TempJoin => "temp-join",
            WriteStrategy::Case => "case",
            WriteStrategy::Values => "values",
        }
    }
}

/// Options for [`mask_database`].
#[derive(Debug, Clone)]
pub struct MaskOptions {
    /// Parallel connections (at least 1).
    pub threads: usize,
    /// Ids per chunk (one transaction each). A resumed run must use the
    /// value of the interrupted one.
    pub chunk_rows: u64,
    /// How masked values are written back.
    pub write: WriteStrategy,
    /// Drop the secondary indexes that contain a masked column before the
    /// first chunk and re-create them (from their recorded definition) after
    /// the last one; see the [module docs](crate::db). Default `true`.
    pub drop_indexes: bool,
    /// When set to `true` (for example by a Ctrl-C handler), workers stop
    /// after the chunk they are on and [`mask_database`] returns
    /// [`MaskDbError::Cancelled`]; committed chunks stay done.
    pub cancel: Option<Arc<AtomicBool>>,
}

impl Default for MaskOptions {
    fn default() -> Self {
        MaskOptions {
            threads: 2,
            chunk_rows: DEFAULT_CHUNK_ROWS,
            write: WriteStrategy::Values,
            drop_indexes: true,
            cancel: None,
        }
    }
}
