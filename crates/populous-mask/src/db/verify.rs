//! [`verify`]: samples of the source compared with the masked clone.

use std::collections::BTreeMap;

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Row};
use populous_sql::quote_ident;
use populous_sql::{new_runtime, off_runtime};

use super::conn::{value_bytes, value_int, Target};
use super::plan::{inspect, TablePlan};
use super::{ColumnVerify, MaskDbError, Result, VerifyReport};
use crate::{ColumnMasker, MaskKey, Masker, RuleSet};

/// Windows over the key range that the sample is drawn from.
const SAMPLE_WINDOWS: usize = 16;

/// Rows fetched per `IN (…)` list.
const FETCH_BATCH: usize = 1000;

/// Compares up to `sample` rows per table of the masked clone with the
/// source (see the [module docs](crate::db)). Nothing is written to either.
pub fn verify(
    clone_url: &str,
    source_url: &str,
    rules: &RuleSet,
    key: &MaskKey,
    sample: usize,
) -> Result<VerifyReport, MaskDbError> {
    off_runtime(|| {
        let clone = Target::parse(clone_url)?;
        let source = Target::parse(source_url)?;
        let masker = Masker::new(rules, key);
        let rt = new_runtime().map_err(MaskDbError::Runtime)?;
        rt.block_on(verify_async(&clone, &source, rules, &masker, sample))
    })
}

async fn verify_async(
    clone: &Target,
    source: &Target,
    rules: &RuleSet,
    masker: &Masker,
    sample: usize,
) -> Result<VerifyReport> {
    let mut sc = source.connect().await?;
    let mut cc = clone.connect().await?;
    let plans = inspect(&mut sc, source, rules, false).await?;
    // The clone must have the same tables, columns and key.
    inspect(&mut cc, clone, rules, false).await?;
    let mut report = VerifyReport {
        columns: Vec::new(),
        rows_sampled: 0,
        rows_missing: 0,
    };
    for plan in &plans {
        let cms: Vec<&ColumnMasker> = plan
            .all
            .iter()
            .map(|c| {
                masker
                    .column(&plan.name, c)
                    .expect("rule column has a masker")
            })
            .collect();
        let mut stats: Vec<ColumnVerify> = plan
            .all
            .iter()
            .map(|c| ColumnVerify {
                table: plan.name.clone(),
                column: c.clone(),
                checked: 0,
                unchanged_originals: 0,
                mismatches: 0,
            })
            .collect();
        let src = sample_rows(&mut sc, source, plan, sample).await?;
        report.rows_sampled += src.len() as u64;
        let keys: Vec<i128> = src.keys().copied().collect();
        let mut found = 0u64;
        for batch in keys.chunks(FETCH_BATCH) {
            let list: Vec<String> = batch.iter().map(i128::to_string).collect();
            let rows = fetch_rows(
                &mut cc,
                clone,
                plan,
                &format!("{} IN ({})", quote_ident(&plan.pk), list.join(",")),
            )
            .await?;
            for (pk, cvals) in rows {
                let Some(svals) = src.get(&pk) else { continue };
                found += 1;
                for (ci, st) in stats.iter_mut().enumerate() {
                    st.checked += 1;
                    let orig = svals[ci].as_deref();
                    let now = cvals[ci].as_deref();
                    let expected = cms[ci].mask_bytes(orig);
                    let expected = expected
                        .as_ref()
                        .ok()
                        .map(|e| e.as_deref().map(str::as_bytes));
                    if expected != Some(now) {
                        st.mismatches += 1;
                    }
                    let would_change = expected != Some(orig);
                    if let Some(o) = orig {
                        if !o.is_empty() && now == Some(o) && would_change {
                            st.unchanged_originals += 1;
                        }
                    }
                }
            }
        }
        report.rows_missing += src.len() as u64 - found;
        report.columns.extend(stats);
    }
    let _ = sc.disconnect().await;
    let _ = cc.disconnect().await;
    Ok(report)
}

type RowValues = Vec<Option<Vec<u8>>>;

async fn fetch_rows(
    conn: &mut Conn,
    target: &Target,
    plan: &TablePlan,
    condition: &str,
) -> Result<Vec<(i128, RowValues)>> {
    let cols: Vec<String> = plan.all.iter().map(|c| quote_ident(c)).collect();
    let rows: Vec<Row> = conn
        .query(format!(
            "SELECT {}, {} FROM {} WHERE {condition}",
            quote_ident(&plan.pk),
            cols.join(", "),
            quote_ident(&plan.name)
        ))
        .await
        .map_err(target.sql(format!("reading sample rows of `{}`", plan.name)))?;
    Ok(rows
        .into_iter()
        .filter_map(|r| {
            let mut vals = r.unwrap().into_iter();
            let pk = value_int(&vals.next()?)?;
            Some((pk, vals.map(value_bytes).collect()))
        })
        .collect())
}

/// Up to `sample` rows of the source, from windows spread over the key range.
async fn sample_rows(
    conn: &mut Conn,
    target: &Target,
    plan: &TablePlan,
    sample: usize,
) -> Result<BTreeMap<i128, RowValues>> {
    let mut out = BTreeMap::new();
    let Some((lo, hi)) = plan.range else {
        return Ok(out);
    };
    if sample == 0 {
        return Ok(out);
    }
    let windows = SAMPLE_WINDOWS.min(sample);
    let per = sample.div_ceil(windows);
    let qpk = quote_ident(&plan.pk);
    for w in 0..windows {
        let start = lo + (hi - lo) * w as i128 / windows as i128;
        let rows = fetch_rows(
            conn,
            target,
            plan,
            &format!("{qpk} >= {start} ORDER BY {qpk} LIMIT {per}"),
        )
        .await?;
        for (pk, vals) in rows {
            if out.len() >= sample {
                break;
            }
            out.insert(pk, vals);
        }
    }
    Ok(out)
}
