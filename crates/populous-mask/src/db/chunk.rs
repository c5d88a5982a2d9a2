//! Masking one chunk in one transaction: read the masked columns, mask
//! them client-side, write them back with the chosen [`WriteStrategy`],
//! run the server-side expressions, record the chunk, commit.

use std::collections::HashSet;
use std::fmt::Write as _;

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Row};
use populous_sql::quote_ident;

use super::conn::{push_literal, value_bytes, value_string, Target};
use super::plan::TablePlan;
use super::run::{Job, Run};
use super::{MaskDbError, Result, WriteStrategy, PROGRESS_TABLE};

/// Largest SQL text sent as one multi-row INSERT into the temporary table.
const MAX_INSERT_BYTES: usize = 4 << 20;

pub(super) fn tmp_name(table: usize) -> String {
    format!("`populous_mask_tmp_{table}`")
}

/// Masks one chunk in one transaction. `Ok(None)`: another run recorded the
/// chunk meanwhile (rolled back, nothing written).
pub(super) async fn run_chunk(
    conn: &mut Conn,
    run: &Run<'_>,
    job: Job,
    tmp_ready: &mut HashSet<usize>,
) -> Result<Option<u64>> {
    let plan = &run.plans[job.table];
    let target = run.target;
    let cms = &run.maskers[job.table];
    let qt = quote_ident(&plan.name);
    let qpk = quote_ident(&plan.pk);
    let (a, b) = (job.start, job.end);
    let use_tmp = run.opts.write == WriteStrategy::TempJoin && !plan.client.is_empty();
    let tmp = tmp_name(job.table);
    let ctx = |what: &str| format!("{what} (`{}` ids {a}..={b})", plan.name);

    if use_tmp {
        if tmp_ready.insert(job.table) {
            let cols: Vec<String> = plan.client.iter().map(|c| quote_ident(c)).collect();
            conn.query_drop(format!(
                "CREATE TEMPORARY TABLE IF NOT EXISTS {tmp} (PRIMARY KEY ({qpk})) \
                 SELECT {qpk}, {} FROM {qt} LIMIT 0",
                cols.join(", ")
            ))
            .await
            .map_err(target.sql(ctx("creating the temporary table")))?;
        }
        conn.query_drop(format!("TRUNCATE TABLE {tmp}"))
            .await
            .map_err(target.sql(ctx("emptying the temporary table")))?;
    }
    conn.query_drop("START TRANSACTION")
        .await
        .map_err(target.sql(ctx("starting a transaction")))?;

    let mut rows = 0u64;
    if !plan.client.is_empty() {
        let cols: Vec<String> = plan.client.iter().map(|c| quote_ident(c)).collect();
        let fetched: Vec<Row> = conn
            .query(format!(
                "SELECT {qpk}, {} FROM {qt} WHERE {qpk} BETWEEN {a} AND {b} ORDER BY {qpk}",
                cols.join(", ")
            ))
            .await
            .map_err(target.sql(ctx("reading")))?;
        rows = fetched.len() as u64;
        // (pk text, masked values)
        let mut masked: Vec<(String, Vec<Option<String>>)> = Vec::with_capacity(fetched.len());
        for row in fetched {
            let mut vals = row.unwrap().into_iter();
            let pk = vals.next().map(value_string).unwrap_or_default();
            let mut out = Vec::with_capacity(cms.len());
            for (ci, v) in vals.enumerate() {
                let v = value_bytes(v);
                let m = cms[ci]
                    .mask_bytes(v.as_deref())
                    .map_err(|source| MaskDbError::Mask {
                        table: plan.name.clone(),
                        column: plan.client[ci].clone(),
                        pk_column: plan.pk.clone(),
                        pk: pk.clone(),
                        source: Box::new(source),
                    })?;
                out.push(m);
            }
            masked.push((pk, out));
        }
        if !masked.is_empty() {
            let r = match run.opts.write {
                WriteStrategy::TempJoin => write_temp_join(conn, plan, &tmp, &masked, a, b).await,
                WriteStrategy::Case => write_case(conn, plan, &masked).await,
                WriteStrategy::Values => write_values(conn, plan, &masked).await,
            };
            r.map_err(|e| write_error(e, plan, target, a, b))?;
        }
    }
    if !plan.server.is_empty() {
        let sets: Vec<String> = plan
            .server
            .iter()
            .map(|(c, expr)| format!("{} = {expr}", quote_ident(c)))
            .collect();
        let r = conn
            .query_iter(format!(
                "UPDATE {qt} SET {} WHERE {qpk} BETWEEN {a} AND {b}",
                sets.join(", ")
            ))
            .await;
        let affected_rows = match r {
            Ok(r) => r.affected_rows(),
            Err(e) => return Err(write_error(e, plan, target, a, b)),
        };
        if plan.client.is_empty() {
            // Matched rows are not reported; count them for the report.
            let n: Option<u64> = conn
                .query_first(format!(
                    "SELECT COUNT(*) FROM {qt} WHERE {qpk} BETWEEN {a} AND {b}"
                ))
                .await
                .map_err(target.sql(ctx("counting")))?;
            rows = n.unwrap_or(affected_rows);
        }
    }
    let ins = conn
        .exec_drop(
            format!(
                "INSERT INTO {PROGRESS_TABLE} \
                 (ruleset_hash, table_name, chunk_start, chunk_end, key_id, rows_masked, done_at) \
                 VALUES (?, ?, {a}, {b}, ?, ?, NOW(6))"
            ),
            (
                run.ruleset_hash.as_bytes(),
                plan.name.as_bytes(),
                run.key_id.as_bytes(),
                rows,
            ),
        )
        .await;
    match ins {
        Ok(()) => {}
        Err(mysql_async::Error::Server(e)) if e.code == 1062 => {
            conn.query_drop("ROLLBACK")
                .await
                .map_err(target.sql(ctx("rolling back")))?;
            return Ok(None);
        }
        Err(e) => return Err(target.sql(ctx("recording progress"))(e)),
    }
    conn.query_drop("COMMIT")
        .await
        .map_err(target.sql(ctx("committing")))?;
    Ok(Some(rows))
}

pub(super) fn write_error(
    e: mysql_async::Error,
    plan: &TablePlan,
    target: &Target,
    a: i128,
    b: i128,
) -> MaskDbError {
    if let mysql_async::Error::Server(se) = &e {
        if se.code == 1062 || se.code == 1586 {
            // "Duplicate entry '<value>' for key '<index>'": keep only the index.
            let index = se
                .message
                .rsplit_once("for key '")
                .map(|(_, k)| k.trim_end_matches('\'').to_string())
                .unwrap_or_else(|| "?".to_string());
            return MaskDbError::UniqueViolation {
                table: plan.name.clone(),
                index,
                chunk_start: a.to_string(),
                chunk_end: b.to_string(),
            };
        }
        if se.code == 1406 {
            return MaskDbError::TooLong {
                table: plan.name.clone(),
                detail: se.message.clone(),
                chunk_start: a.to_string(),
                chunk_end: b.to_string(),
            };
        }
    }
    target.sql(format!(
        "writing masked values (`{}` ids {a}..={b})",
        plan.name
    ))(e)
}

pub(super) async fn write_temp_join(
    conn: &mut Conn,
    plan: &TablePlan,
    tmp: &str,
    masked: &[(String, Vec<Option<String>>)],
    a: i128,
    b: i128,
) -> std::result::Result<(), mysql_async::Error> {
    let qpk = quote_ident(&plan.pk);
    let cols: Vec<String> = plan.client.iter().map(|c| quote_ident(c)).collect();
    let head = format!("INSERT INTO {tmp} ({qpk}, {}) VALUES ", cols.join(", "));
    let mut sql = String::with_capacity(1 << 16);
    sql.push_str(&head);
    let mut first = true;
    for (pk, vals) in masked {
        if !first {
            sql.push(',');
        }
        first = false;
        push_row(&mut sql, pk, vals);
        if sql.len() >= MAX_INSERT_BYTES {
            conn.query_drop(std::mem::take(&mut sql)).await?;
            sql.push_str(&head);
            first = true;
        }
    }
    if !first {
        conn.query_drop(sql).await?;
    }
    let sets: Vec<String> = cols.iter().map(|c| format!("t.{c} = m.{c}")).collect();
    conn.query_drop(format!(
        "UPDATE {} AS t STRAIGHT_JOIN {tmp} AS m ON m.{qpk} = t.{qpk} SET {} \
         WHERE t.{qpk} BETWEEN {a} AND {b}",
        quote_ident(&plan.name),
        sets.join(", ")
    ))
    .await
}

/// Appends one row `(pk,v1,v2,…)` of masked values as SQL literals.
pub(super) fn push_row(sql: &mut String, pk: &str, vals: &[Option<String>]) {
    sql.push('(');
    sql.push_str(pk);
    for v in vals {
        sql.push(',');
        push_literal(sql, v.as_deref().map(str::as_bytes));
    }
    sql.push(')');
}

/// One `UPDATE … STRAIGHT_JOIN (WITH v (…) AS (VALUES …) SELECT * FROM v)`
/// per run of rows up to [`MAX_INSERT_BYTES`] of SQL, over the key range of
/// those rows (`masked` is in key order: the SELECT reads by primary key).
pub(super) async fn write_values(
    conn: &mut Conn,
    plan: &TablePlan,
    masked: &[(String, Vec<Option<String>>)],
) -> std::result::Result<(), mysql_async::Error> {
    let qpk = quote_ident(&plan.pk);
    let cols: Vec<String> = plan.client.iter().map(|c| quote_ident(c)).collect();
    let sets: Vec<String> = cols.iter().map(|c| format!("t.{c} = m.{c}")).collect();
    let head = format!(
        "UPDATE {} AS t STRAIGHT_JOIN (WITH v ({qpk}, {}) AS (VALUES ",
        quote_ident(&plan.name),
        cols.join(", ")
    );
    let mut rest = masked;
    while !rest.is_empty() {
        let mut sql = String::with_capacity(1 << 16);
        sql.push_str(&head);
        let mut n = 0;
        for (pk, vals) in rest {
            if n > 0 {
                if sql.len() >= MAX_INSERT_BYTES {
                    break;
                }
                sql.push(',');
            }
            n += 1;
            push_row(&mut sql, pk, vals);
        }
        let (first, last) = (&rest[0].0, &rest[n - 1].0);
        let _ = write!(
            sql,
            ") SELECT * FROM v) AS m ON m.{qpk} = t.{qpk} SET {} WHERE t.{qpk} BETWEEN {first} AND {last}",
            sets.join(", ")
        );
        conn.query_drop(sql).await?;
        rest = &rest[n..];
    }
    Ok(())
}

pub(super) async fn write_case(
    conn: &mut Conn,
    plan: &TablePlan,
    masked: &[(String, Vec<Option<String>>)],
) -> std::result::Result<(), mysql_async::Error> {
    let qpk = quote_ident(&plan.pk);
    let mut sql = String::with_capacity(1 << 16);
    let _ = write!(sql, "UPDATE {} SET ", quote_ident(&plan.name));
    for (ci, c) in plan.client.iter().enumerate() {
        let qc = quote_ident(c);
        if ci > 0 {
            sql.push_str(", ");
        }
        let _ = write!(sql, "{qc} = CASE {qpk}");
        for (pk, vals) in masked {
            let _ = write!(sql, " WHEN {pk} THEN ");
            push_literal(&mut sql, vals[ci].as_deref().map(str::as_bytes));
        }
        let _ = write!(sql, " ELSE {qc} END");
    }
    let _ = write!(sql, " WHERE {qpk} IN (");
    for (i, (pk, _)) in masked.iter().enumerate() {
        if i > 0 {
            sql.push(',');
        }
        sql.push_str(pk);
    }
    sql.push(')');
    conn.query_drop(sql).await
}
