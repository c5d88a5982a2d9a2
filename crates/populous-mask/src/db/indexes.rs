//! Secondary indexes on masked columns: recorded, then dropped before the
//! first chunk, and re-created by sort after the last (see the module docs
//! of [`crate::db`]).

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Value};
use populous_sql::quote_ident;

use super::conn::{value_string, Target};
use super::plan::TablePlan;
use super::{MaskDbError, Result, INDEX_TABLE};

/// A secondary index of `table`: name, definition as `SHOW CREATE TABLE`
/// prints it (`UNIQUE KEY \`g\` (\`guid\`)`), and its columns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct SecondaryIndex {
    pub(super) name: String,
    pub(super) definition: String,
    pub(super) columns: Vec<String>,
}

/// The index name of a `SHOW CREATE TABLE` line, if it defines a secondary
/// index (`KEY`, `UNIQUE KEY`, `FULLTEXT KEY`, `SPATIAL KEY`), and the line
/// without its indentation and trailing comma.
pub(super) fn parse_index_line(line: &str) -> Option<(String, String)> {
    let def = line.trim().trim_end_matches(',');
    let rest = ["KEY `", "UNIQUE KEY `", "FULLTEXT KEY `", "SPATIAL KEY `"]
        .iter()
        .find_map(|p| def.strip_prefix(p))?;
    let mut name = String::new();
    let mut chars = rest.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '`' {
            if chars.peek() == Some(&'`') {
                chars.next();
            } else {
                return Some((name, def.to_string()));
            }
        }
        name.push(c);
    }
    None
}

pub(super) async fn secondary_indexes(
    conn: &mut Conn,
    target: &Target,
    table: &str,
) -> Result<Vec<SecondaryIndex>> {
    let what = || format!("reading the indexes of `{table}`");
    let create: Option<(Value, Value)> = conn
        .query_first(format!("SHOW CREATE TABLE {}", quote_ident(table)))
        .await
        .map_err(target.sql(what()))?;
    let create = create.map(|(_, c)| value_string(c)).unwrap_or_default();
    let columns: Vec<(Value, Value)> = conn
        .exec(
            "SELECT INDEX_NAME, COLUMN_NAME FROM information_schema.STATISTICS \
             WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? ORDER BY INDEX_NAME, SEQ_IN_INDEX",
            (table.as_bytes(),),
        )
        .await
        .map_err(target.sql(what()))?;
    let columns: Vec<(String, String)> = columns
        .into_iter()
        .map(|(i, c)| (value_string(i), value_string(c)))
        .collect();
    Ok(create
        .lines()
        .filter_map(parse_index_line)
        .map(|(name, definition)| SecondaryIndex {
            columns: columns
                .iter()
                .filter(|(i, _)| *i == name)
                .map(|(_, c)| c.clone())
                .collect(),
            name,
            definition,
        })
        .collect())
}

/// (table, index, definition) recorded as dropped under `ruleset_hash`.
pub(super) async fn recorded_indexes(
    conn: &mut Conn,
    target: &Target,
    ruleset_hash: &str,
) -> Result<Vec<(String, String, String)>> {
    let rows: Vec<(Value, Value, Value)> = conn
        .exec(
            format!(
                "SELECT table_name, index_name, definition FROM {INDEX_TABLE} \
                 WHERE ruleset_hash = ? ORDER BY dropped_at, table_name, index_name"
            ),
            (ruleset_hash.as_bytes(),),
        )
        .await
        .map_err(target.sql(format!("reading {INDEX_TABLE}")))?;
    Ok(rows
        .into_iter()
        .map(|(t, i, d)| (value_string(t), value_string(i), value_string(d)))
        .collect())
}

pub(super) async fn forget_index(
    conn: &mut Conn,
    target: &Target,
    ruleset_hash: &str,
    table: &str,
    index: &str,
) -> Result<()> {
    conn.exec_drop(
        format!(
            "DELETE FROM {INDEX_TABLE} WHERE ruleset_hash = ? AND table_name = ? AND index_name = ?"
        ),
        (ruleset_hash.as_bytes(), table.as_bytes(), index.as_bytes()),
    )
    .await
    .map_err(target.sql(format!("updating {INDEX_TABLE}")))
}

/// Drops the secondary indexes that contain a rule column of a table with
/// chunks to do, each recorded (committed) in [`INDEX_TABLE`] before it is
/// dropped, so that an interrupted run's resume re-creates it. Indexes a
/// foreign key needs are kept.
pub(super) async fn drop_covering_indexes(
    conn: &mut Conn,
    target: &Target,
    plans: &[TablePlan],
    has_jobs: &[bool],
    ruleset_hash: &str,
) -> Result<()> {
    let recorded = recorded_indexes(conn, target, ruleset_hash).await?;
    for (plan, _) in plans.iter().zip(has_jobs).filter(|(_, j)| **j) {
        for ix in secondary_indexes(conn, target, &plan.name).await? {
            let covers = ix
                .columns
                .iter()
                .any(|c| plan.all.iter().any(|m| m.eq_ignore_ascii_case(c)));
            let is_recorded = recorded
                .iter()
                .any(|(t, i, _)| *t == plan.name && *i == ix.name);
            if !covers && !is_recorded {
                continue;
            }
            if !is_recorded {
                conn.exec_drop(
                    format!(
                        "INSERT INTO {INDEX_TABLE} \
                         (ruleset_hash, table_name, index_name, definition, dropped_at) \
                         VALUES (?, ?, ?, ?, NOW(6))"
                    ),
                    (
                        ruleset_hash.as_bytes(),
                        plan.name.as_bytes(),
                        ix.name.as_bytes(),
                        ix.definition.as_bytes(),
                    ),
                )
                .await
                .map_err(target.sql(format!("recording index `{}` in {INDEX_TABLE}", ix.name)))?;
            }
            let r = conn
                .query_drop(format!(
                    "ALTER TABLE {} DROP INDEX {}",
                    quote_ident(&plan.name),
                    quote_ident(&ix.name)
                ))
                .await;
            match r {
                Ok(()) => {}
                // "Cannot drop index needed in a foreign key constraint".
                Err(mysql_async::Error::Server(e)) if e.code == 1553 => {
                    forget_index(conn, target, ruleset_hash, &plan.name, &ix.name).await?;
                }
                Err(e) => {
                    return Err(target
                        .sql(format!("dropping index `{}` of `{}`", ix.name, plan.name))(
                        e
                    ))
                }
            }
        }
    }
    Ok(())
}

/// Re-creates every index recorded as dropped under `ruleset_hash` (one
/// `ALTER TABLE … ADD` each, so a failure names its index and the others
/// are still re-created first) and forgets it. Returns `table`.`index` of
/// each.
pub(super) async fn restore_indexes(
    conn: &mut Conn,
    target: &Target,
    ruleset_hash: &str,
) -> Result<Vec<String>> {
    let mut restored = Vec::new();
    let mut failed = None;
    for (table, index, definition) in recorded_indexes(conn, target, ruleset_hash).await? {
        let present = secondary_indexes(conn, target, &table)
            .await?
            .iter()
            .any(|ix| ix.name == index);
        if !present {
            let r = conn
                .query_drop(format!(
                    "ALTER TABLE {} ADD {definition}",
                    quote_ident(&table)
                ))
                .await;
            if let Err(e) = r {
                let reason = match &e {
                    mysql_async::Error::Server(se) if se.code == 1062 || se.code == 1586 => {
                        "its masked values are not unique (the server found a duplicate entry)"
                            .to_string()
                    }
                    other => other.to_string(),
                };
                if failed.is_none() {
                    failed = Some(MaskDbError::IndexRestore {
                        table,
                        index,
                        definition,
                        reason,
                    });
                }
                continue;
            }
        }
        forget_index(conn, target, ruleset_hash, &table, &index).await?;
        restored.push(format!("`{table}`.`{index}`"));
    }
    match failed {
        Some(e) => Err(e),
        None => Ok(restored),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_lines_parse() {
        assert_eq!(
            parse_index_line("  UNIQUE KEY `email_u` (`email`),"),
            Some(("email_u".into(), "UNIQUE KEY `email_u` (`email`)".into()))
        );
        assert_eq!(
            parse_index_line("  KEY `a ``b``` (`guid`(10),`pid`) COMMENT 'x'"),
            Some((
                "a `b`".into(),
                "KEY `a ``b``` (`guid`(10),`pid`) COMMENT 'x'".into()
            ))
        );
        assert_eq!(
            parse_index_line("  FULLTEXT KEY `ft` (`city`),").map(|p| p.0),
            Some("ft".into())
        );
        assert_eq!(parse_index_line("  PRIMARY KEY (`id`),"), None);
        assert_eq!(parse_index_line("  `key` int(11) DEFAULT NULL,"), None);
        assert_eq!(
            parse_index_line("  CONSTRAINT `fk` FOREIGN KEY (`a`) REFERENCES `t` (`id`)"),
            None
        );
    }
}
