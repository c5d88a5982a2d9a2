//! How much disk a masking writes, so that it can be refused before it
//! starts on a pool that cannot hold it.
//!
//! InnoDB does not fail gracefully when the disk fills: a write of the redo
//! log that meets error 28 kills the server, halfway through a masking. On a
//! copy-on-write clone every page masking writes takes new space (the
//! snapshot keeps the old one), so the bytes to expect are those of the
//! pages and logs masking rewrites, not the growth of the files: every leaf
//! page of a masked table's clustered index (masking, then the compaction),
//! the undo log of the masked columns, the re-created secondary indexes, and
//! a fresh redo log written while the old one still exists. Off-page blobs
//! are never rewritten, so a table of 64 KiB blobs costs a few percent of its
//! size. The estimate errs on the generous side: a refused masking costs a
//! retry after freeing space, a server dead of a full disk costs the run.

use mysql_async::prelude::Queryable;
use mysql_async::Row;

use super::conn::{value_int, Target};
use super::{MaskDbError, Result};
use crate::RuleSet;

/// Rows read per table to learn the average row.
const SAMPLE_ROWS: u32 = 1000;

/// An InnoDB page (the default `innodb_page_size`).
const PAGE: u64 = 16 << 10;

/// A record bigger than this does not stay in its page: its longest
/// variable-length columns go to blob pages (`ROW_FORMAT=DYNAMIC`: about
/// half a page).
const INLINE_LIMIT: u64 = 8000;

/// What is left in the record of a column stored off-page (its pointer).
const OFF_PAGE_POINTER: u64 = 20;

/// Per record: header, transaction id and roll pointer, the page directory.
const RECORD_OVERHEAD: u64 = 30;

/// Room for what the estimate does not count (the data dictionary and
/// statistics tables, the undo recycling, btrfs metadata).
const SLACK: u64 = 64 << 20;

/// What one masked table contributes to the writes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TableWrites {
    /// Rows (InnoDB's estimate).
    pub rows: u64,
    /// Average bytes of a row that stay in its clustered index record.
    pub in_row: u64,
    /// Average bytes of the masked columns (what undo records hold).
    pub masked: u64,
    /// Secondary indexes that contain a masked column (re-created).
    pub masked_indexes: u64,
}

/// What a masking writes, with the redo log's size.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WriteEstimate {
    /// The masked tables.
    pub tables: Vec<TableWrites>,
    /// `innodb_log_file_size`.
    pub redo_log: u64,
}

impl WriteEstimate {
    /// Bytes to have free before masking starts.
    pub fn bytes(&self) -> u64 {
        let tables: u64 = self
            .tables
            .iter()
            .map(|t| {
                // Pages after the updates are between half full and full:
                // count them half full, written twice (masking, compaction).
                let leaf = t.rows * (t.in_row + RECORD_OVERHEAD) * 2;
                let undo = t.rows * (t.masked + RECORD_OVERHEAD) * 2;
                let indexes = t.masked_indexes * t.rows * (t.masked + RECORD_OVERHEAD) * 2;
                (leaf * 2).div_ceil(PAGE) * PAGE + undo + indexes
            })
            .sum();
        // The new redo log is written while the old one still exists.
        tables + 2 * self.redo_log + SLACK
    }
}

/// The bytes of a row that its clustered index record holds, given each
/// column's length (`None`: NULL) and whether it can be stored off-page (a
/// BLOB or TEXT): when the record would be too big for its page, the
/// longest such columns leave it, one by one, for a 20-byte pointer.
pub fn in_row_bytes(columns: &[(bool, Option<u64>)]) -> u64 {
    let mut lens: Vec<(bool, u64)> = columns
        .iter()
        .map(|&(lob, len)| (lob, len.unwrap_or(0)))
        .collect();
    let mut total: u64 = lens.iter().map(|c| c.1).sum();
    // Longest first: InnoDB moves the longest columns out first.
    lens.sort_by_key(|c| std::cmp::Reverse(c.1));
    for (lob, len) in lens {
        if total <= INLINE_LIMIT {
            break;
        }
        if lob && len > OFF_PAGE_POINTER {
            total = total - len + OFF_PAGE_POINTER;
        }
    }
    total
}

/// Reads what [`WriteEstimate`] needs from the server at `url`: the redo
/// log's size, and per masked table its row count, and the average row and
/// masked columns of its first rows (never a full scan; blobs are measured,
/// not read).
pub fn estimate(url: &str, rules: &RuleSet) -> Result<WriteEstimate> {
    super::scrub::blocking(url, |target| async move {
        let mut c = super::scrub::connect(&target).await?;
        let estimate = read_estimate(&mut c, &target, rules).await;
        let _ = c.disconnect().await;
        estimate
    })
}

async fn read_estimate(
    c: &mut mysql_async::Conn,
    target: &Target,
    rules: &RuleSet,
) -> Result<WriteEstimate> {
    let redo_log: Option<u64> = c
        .query_first("SELECT @@innodb_log_file_size")
        .await
        .map_err(target.sql("reading the redo log size"))?;
    let mut tables = Vec::new();
    for t in rules.tables() {
        let rows: Option<Option<u64>> = c
            .exec_first(
                "SELECT TABLE_ROWS FROM information_schema.TABLES \
                 WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?",
                (&target.database, t.name()),
            )
            .await
            .map_err(target.sql("reading the table's size"))?;
        let columns: Vec<(String, String)> = c
            .exec(
                "SELECT COLUMN_NAME, DATA_TYPE FROM information_schema.COLUMNS \
                 WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION",
                (&target.database, t.name()),
            )
            .await
            .map_err(target.sql("reading the table's columns"))?;
        if columns.is_empty() {
            return Err(MaskDbError::MissingTable {
                table: t.name().to_string(),
                database: target.database.clone(),
            });
        }
        let masked: Vec<bool> = columns
            .iter()
            .map(|(name, _)| t.columns().iter().any(|c| c.name() == name))
            .collect();
        let lengths = columns
            .iter()
            .map(|(name, _)| format!("LENGTH({})", populous_sql::quote_ident(name)))
            .collect::<Vec<_>>()
            .join(", ");
        let sample: Vec<Row> = c
            .query(format!(
                "SELECT {lengths} FROM {}.{} LIMIT {SAMPLE_ROWS}",
                populous_sql::quote_ident(&target.database),
                populous_sql::quote_ident(t.name())
            ))
            .await
            .map_err(target.sql("measuring rows"))?;
        let (mut in_row, mut masked_bytes) = (0u64, 0u64);
        for row in &sample {
            let lens: Vec<(bool, Option<u64>)> = columns
                .iter()
                .enumerate()
                .map(|(i, (_, ty))| {
                    let len = row
                        .as_ref(i)
                        .and_then(value_int)
                        .and_then(|n| u64::try_from(n).ok());
                    (ty.ends_with("blob") || ty.ends_with("text"), len)
                })
                .collect();
            in_row += in_row_bytes(&lens);
            masked_bytes += lens
                .iter()
                .zip(&masked)
                .filter(|(_, m)| **m)
                .map(|((_, l), _)| l.unwrap_or(0))
                .sum::<u64>();
        }
        let n = sample.len().max(1) as u64;
        let index_columns: Vec<(String, String)> = c
            .exec(
                "SELECT INDEX_NAME, COLUMN_NAME FROM information_schema.STATISTICS \
                 WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? AND INDEX_NAME <> 'PRIMARY'",
                (&target.database, t.name()),
            )
            .await
            .map_err(target.sql("listing secondary indexes"))?;
        let mut with_masked: Vec<&str> = index_columns
            .iter()
            .filter(|(_, col)| t.columns().iter().any(|c| c.name() == col))
            .map(|(index, _)| index.as_str())
            .collect();
        with_masked.sort_unstable();
        with_masked.dedup();
        tables.push(TableWrites {
            rows: rows.flatten().unwrap_or(0),
            in_row: in_row / n,
            masked: masked_bytes / n,
            masked_indexes: with_masked.len() as u64,
        });
    }
    Ok(WriteEstimate {
        tables,
        redo_log: redo_log.unwrap_or(0),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn big_blobs_leave_the_record_and_small_ones_stay() {
        // The seed's row: small columns, a 64 KiB blob.
        let seed = [
            (false, Some(4)),
            (false, Some(36)),
            (false, Some(8)),
            (false, Some(20)),
            (false, Some(5)),
            (true, Some(12)),
            (false, Some(30)),
            (false, Some(20)),
            (true, Some(65536)),
        ];
        assert_eq!(in_row_bytes(&seed), 135 + OFF_PAGE_POINTER);
        // A 4 KiB blob fits in the record.
        assert_eq!(in_row_bytes(&[(false, Some(10)), (true, Some(4096))]), 4106);
        // Two big ones: both leave; NULLs take nothing.
        assert_eq!(
            in_row_bytes(&[(true, Some(9000)), (true, Some(9000)), (false, None)]),
            2 * OFF_PAGE_POINTER
        );
        // A long VARCHAR cannot be counted out (it is not a blob here).
        assert_eq!(in_row_bytes(&[(false, Some(9000))]), 9000);
    }

    #[test]
    fn the_estimate_counts_pages_twice_logs_and_slack() {
        let empty = WriteEstimate {
            tables: Vec::new(),
            redo_log: 96 << 20,
        };
        assert_eq!(empty.bytes(), 2 * (96 << 20) + SLACK);
        // The seed at 2 GiB: 32,707 rows of 64 KiB blobs, two masked indexes.
        let seed = WriteEstimate {
            tables: vec![TableWrites {
                rows: 32_707,
                in_row: 155,
                masked: 120,
                masked_indexes: 2,
            }],
            redo_log: 96 << 20,
        };
        let extra = seed.bytes() - empty.bytes();
        // Tens of MB for a 2 GiB table: blobs are not rewritten.
        assert!((20 << 20..100 << 20).contains(&extra), "{extra}");
    }
}
