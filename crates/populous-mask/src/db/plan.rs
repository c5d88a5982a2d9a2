//! Checking the tables against the rules before anything is written, and
//! cutting each table's key range into chunks.

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Value};
use populous_sql::quote_ident;

use super::conn::{value_int, value_string, Target};
use super::{MaskDbError, Result};
use crate::RuleSet;

/// A table as the rules and the database agree on it.
#[derive(Debug, Clone)]
pub(super) struct TablePlan {
    pub(super) name: String,
    pub(super) pk: String,
    /// Client-side columns (rule names), in rule order.
    pub(super) client: Vec<String>,
    /// Server-side columns with their SQL expression.
    pub(super) server: Vec<(String, String)>,
    /// All rule columns, in rule order.
    pub(super) all: Vec<String>,
    /// MIN and MAX of the key (None for an empty table).
    pub(super) range: Option<(i128, i128)>,
}

pub(super) const INT_TYPES: &[&str] = &[
    "tinyint",
    "smallint",
    "mediumint",
    "int",
    "integer",
    "bigint",
];

pub(super) async fn inspect(
    conn: &mut Conn,
    target: &Target,
    rules: &RuleSet,
    server_side: bool,
) -> Result<Vec<TablePlan>> {
    let mut plans = Vec::new();
    for t in rules.tables() {
        let name = t.name().to_string();
        let columns: Vec<(String, String)> = conn
            .exec::<(Value, Value), _, _>(
                "SELECT COLUMN_NAME, DATA_TYPE FROM information_schema.COLUMNS \
                 WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION",
                (name.as_bytes(),),
            )
            .await
            .map_err(target.sql(format!("reading the columns of `{name}`")))?
            .into_iter()
            .map(|(c, d)| (value_string(c), value_string(d).to_ascii_lowercase()))
            .collect();
        if columns.is_empty() {
            return Err(MaskDbError::MissingTable {
                table: name,
                database: target.database.clone(),
            });
        }
        let find = |c: &str| columns.iter().find(|(n, _)| n.eq_ignore_ascii_case(c));
        for c in t.columns() {
            if find(c.name()).is_none() {
                return Err(MaskDbError::MissingColumn {
                    table: name,
                    column: c.name().to_string(),
                    database: target.database.clone(),
                    existing: columns
                        .iter()
                        .map(|(n, _)| n.as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                });
            }
        }
        let pk_cols: Vec<String> = conn
            .exec::<Value, _, _>(
                "SELECT COLUMN_NAME FROM information_schema.STATISTICS \
                 WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? AND INDEX_NAME = 'PRIMARY' \
                 ORDER BY SEQ_IN_INDEX",
                (name.as_bytes(),),
            )
            .await
            .map_err(target.sql(format!("reading the primary key of `{name}`")))?
            .into_iter()
            .map(value_string)
            .collect();
        let pk_err = |reason: String| MaskDbError::PrimaryKey {
            table: name.clone(),
            reason,
        };
        let rule_pk = t.primary_key();
        if rule_pk.len() != 1 {
            return Err(pk_err(format!(
                "the rules name a composite primary key ({}); masking tables with a composite key is not supported yet",
                rule_pk.join(", ")
            )));
        }
        match pk_cols.as_slice() {
            [] => {
                return Err(pk_err(
                    "the table has no primary key; masking needs a single integer primary key (tables without one are not supported yet)".to_string(),
                ))
            }
            [one] => {
                if !one.eq_ignore_ascii_case(&rule_pk[0]) {
                    return Err(pk_err(format!(
                        "the rules say the primary key is `{}` but the table's is `{one}`; fix tables.{name}.primary_key",
                        rule_pk[0]
                    )));
                }
            }
            many => {
                return Err(pk_err(format!(
                    "the table has a composite primary key ({}); masking tables with a composite key is not supported yet",
                    many.join(", ")
                )))
            }
        }
        let pk = pk_cols[0].clone();
        let pk_type = find(&pk).map(|(_, d)| d.as_str()).unwrap_or("");
        if !INT_TYPES.contains(&pk_type) {
            return Err(pk_err(format!(
                "primary key `{pk}` is {pk_type}; non-integer primary keys are not supported yet (masking needs a single integer key)"
            )));
        }
        let mut client = Vec::new();
        let mut server = Vec::new();
        for c in t.columns() {
            match rules.sql_expression(t.name(), c.name()) {
                Some(expr) if server_side => server.push((c.name().to_string(), expr)),
                _ => client.push(c.name().to_string()),
            }
        }
        let qt = quote_ident(&name);
        let qpk = quote_ident(&pk);
        let row: Option<(Value, Value)> = conn
            .query_first(format!("SELECT MIN({qpk}), MAX({qpk}) FROM {qt}"))
            .await
            .map_err(target.sql(format!("reading the key range of `{name}`")))?;
        let range = match row {
            Some((lo, hi)) => match (value_int(&lo), value_int(&hi)) {
                (Some(lo), Some(hi)) => Some((lo, hi)),
                _ => None,
            },
            None => None,
        };
        plans.push(TablePlan {
            all: t.columns().iter().map(|c| c.name().to_string()).collect(),
            name,
            pk,
            client,
            server,
            range,
        });
    }
    Ok(plans)
}

/// The chunks `[start, end]` covering `range`.
pub(super) fn chunks_of(range: Option<(i128, i128)>, chunk_rows: u64) -> Vec<(i128, i128)> {
    let Some((lo, hi)) = range else {
        return Vec::new();
    };
    let step = i128::from(chunk_rows);
    let mut out = Vec::new();
    let mut a = lo;
    while a <= hi {
        let b = (a + step - 1).min(hi);
        out.push((a, b));
        a = b + 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_cover_the_range_exactly() {
        assert!(chunks_of(None, 10).is_empty());
        assert_eq!(chunks_of(Some((5, 5)), 10), vec![(5, 5)]);
        assert_eq!(
            chunks_of(Some((1, 25)), 10),
            vec![(1, 10), (11, 20), (21, 25)]
        );
        assert_eq!(chunks_of(Some((-3, 2)), 3), vec![(-3, -1), (0, 2)]);
        let big = i128::from(u64::MAX);
        assert_eq!(chunks_of(Some((big - 1, big)), 1000), vec![(big - 1, big)]);
    }
}
