//! What masking and verification report: plain data, serialisable for
//! the CLI's `--json`.

use serde::Serialize;

use super::WriteStrategy;

/// Progress of a running [`mask_database`], reported after every chunk.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MaskProgress {
    /// Table of the chunk just finished.
    pub table: String,
    /// Chunks committed in this run so far (all tables).
    pub chunks_done: u64,
    /// Chunks this run has to do (all tables, without the skipped ones).
    pub chunks_todo: u64,
    /// Chunks skipped because an earlier run did them.
    pub chunks_skipped: u64,
    /// Rows masked in this run so far.
    pub rows_done: u64,
    /// Seconds since the workers started.
    pub elapsed_secs: f64,
}

/// What [`mask_database`] did to one table.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TableReport {
    /// Table name.
    pub table: String,
    /// Rows masked in this run.
    pub rows: u64,
    /// Chunks committed in this run.
    pub chunks: u64,
    /// Chunks skipped as already done.
    pub skipped_chunks: u64,
    /// Masked columns (client-side and server-side).
    pub columns: Vec<String>,
    /// The subset of `columns` masked with a SQL expression on the server.
    pub server_side_columns: Vec<String>,
    /// Seconds from the table's first chunk to its last.
    pub elapsed_secs: f64,
    /// Rows per second over `elapsed_secs`.
    pub rows_per_sec: f64,
}

/// What [`mask_database`] did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MaskReport {
    /// Database masked.
    pub database: String,
    /// Per table, in rule order.
    pub tables: Vec<TableReport>,
    /// Rows masked in this run.
    pub rows_total: u64,
    /// Wall time of the whole run, checks included.
    pub elapsed_secs: f64,
    /// `rows_total / elapsed_secs`.
    pub rows_per_sec: f64,
    /// [`RuleSet::hash`] of the rules applied.
    pub ruleset_hash: String,
    /// [`MaskKey::key_id`] of the key used (never the key).
    pub key_id: String,
    /// Chunks skipped because an earlier run had done them.
    pub resumed_chunks: u64,
    /// Connections used.
    pub threads: usize,
    /// Ids per chunk.
    pub chunk_rows: u64,
    /// Write strategy used.
    pub write: WriteStrategy,
    /// Indexes dropped for the masking (by this run or an interrupted one)
    /// and re-created at the end, as `table`.`index`.
    pub restored_indexes: Vec<String>,
    /// Seconds spent re-creating them (included in `elapsed_secs`).
    pub index_secs: f64,
}

/// Verification of one rule column.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ColumnVerify {
    /// Table.
    pub table: String,
    /// Column.
    pub column: String,
    /// Sampled rows found in both databases.
    pub checked: u64,
    /// Rows whose clone value still equals a non-empty original the
    /// transformer would have changed: leaked personal data.
    pub unchanged_originals: u64,
    /// Rows whose clone value is not `mask(original)` under the given key.
    pub mismatches: u64,
}

/// What [`verify`] found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VerifyReport {
    /// Per rule column, in rule order.
    pub columns: Vec<ColumnVerify>,
    /// Rows sampled from the source (all tables).
    pub rows_sampled: u64,
    /// Sampled source rows whose key is missing from the clone.
    pub rows_missing: u64,
}

impl VerifyReport {
    /// True when no original survived, every value is `mask(original)` and
    /// every sampled row was found in the clone.
    pub fn passed(&self) -> bool {
        self.rows_missing == 0
            && self
                .columns
                .iter()
                .all(|c| c.unchanged_originals == 0 && c.mismatches == 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verify_report_passes_only_when_clean() {
        let mut r = VerifyReport {
            columns: vec![ColumnVerify {
                table: "t".into(),
                column: "c".into(),
                checked: 3,
                unchanged_originals: 0,
                mismatches: 0,
            }],
            rows_sampled: 3,
            rows_missing: 0,
        };
        assert!(r.passed());
        r.columns[0].mismatches = 1;
        assert!(!r.passed());
        r.columns[0].mismatches = 0;
        r.rows_missing = 1;
        assert!(!r.passed());
    }
}
