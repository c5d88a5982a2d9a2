//! The bookkeeping tables: [`PROGRESS_TABLE`] (chunks done, the proof and
//! the resume point) and [`INDEX_TABLE`] (indexes dropped for the run).

use std::collections::{BTreeMap, HashMap, HashSet};

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Value};

use super::conn::{value_int, value_string, Target};
use super::plan::{chunks_of, TablePlan};
use super::{MaskDbError, Result, INDEX_TABLE, PROGRESS_TABLE};

/// Creates the progress table if needed and returns the chunks already done
/// under `ruleset_hash` as (table index, chunk start), after checking they
/// fit the current chunking and key.
pub(super) async fn load_progress(
    conn: &mut Conn,
    target: &Target,
    plans: &[TablePlan],
    ruleset_hash: &str,
    key_id: &str,
    chunk_rows: u64,
) -> Result<HashSet<(usize, i128)>> {
    conn.query_drop(format!(
        "CREATE TABLE IF NOT EXISTS {PROGRESS_TABLE} (\
         ruleset_hash VARCHAR(100) CHARACTER SET ascii NOT NULL, \
         table_name VARCHAR(64) CHARACTER SET utf8mb4 NOT NULL, \
         chunk_start DECIMAL(20,0) NOT NULL, \
         chunk_end DECIMAL(20,0) NOT NULL, \
         key_id VARCHAR(64) CHARACTER SET ascii NOT NULL, \
         rows_masked BIGINT UNSIGNED NOT NULL, \
         done_at DATETIME(6) NOT NULL, \
         PRIMARY KEY (ruleset_hash, table_name, chunk_start)) ENGINE=InnoDB"
    ))
    .await
    .map_err(target.sql(format!("creating {PROGRESS_TABLE}")))?;
    conn.query_drop(format!(
        "CREATE TABLE IF NOT EXISTS {INDEX_TABLE} (\
         ruleset_hash VARCHAR(100) CHARACTER SET ascii NOT NULL, \
         table_name VARCHAR(64) CHARACTER SET utf8mb4 NOT NULL, \
         index_name VARCHAR(64) CHARACTER SET utf8mb4 NOT NULL, \
         definition TEXT CHARACTER SET utf8mb4 NOT NULL, \
         dropped_at DATETIME(6) NOT NULL, \
         PRIMARY KEY (ruleset_hash, table_name, index_name)) ENGINE=InnoDB"
    ))
    .await
    .map_err(target.sql(format!("creating {INDEX_TABLE}")))?;
    let rows: Vec<(Value, Value, Value, Value)> = conn
        .exec(
            format!(
                "SELECT table_name, chunk_start, chunk_end, key_id FROM {PROGRESS_TABLE} \
                 WHERE ruleset_hash = ?"
            ),
            (ruleset_hash.as_bytes(),),
        )
        .await
        .map_err(target.sql(format!("reading {PROGRESS_TABLE}")))?;
    let mut planned: HashMap<&str, (usize, BTreeMap<i128, i128>)> = HashMap::new();
    for (i, p) in plans.iter().enumerate() {
        planned.insert(
            p.name.as_str(),
            (i, chunks_of(p.range, chunk_rows).into_iter().collect()),
        );
    }
    let mut done = HashSet::new();
    for (t, a, b, k) in rows {
        let t = value_string(t);
        let k = value_string(k);
        if k != key_id {
            return Err(MaskDbError::KeyMismatch {
                recorded: k,
                given: key_id.to_string(),
            });
        }
        let (Some(a), Some(b)) = (value_int(&a), value_int(&b)) else {
            continue;
        };
        let Some((i, chunks)) = planned.get(t.as_str()) else {
            continue;
        };
        if chunks.get(&a) != Some(&b) {
            let p = &plans[*i];
            let (min, max) = p
                .range
                .map(|(l, h)| (l.to_string(), h.to_string()))
                .unwrap_or(("-".into(), "-".into()));
            return Err(MaskDbError::ChunkLayout {
                table: p.name.clone(),
                chunk_rows,
                min,
                max,
                recorded: (b - a + 1).to_string(),
            });
        }
        done.insert((*i, a));
    }
    Ok(done)
}
