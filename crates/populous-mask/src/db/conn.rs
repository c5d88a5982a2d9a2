//! Connections (a parsed URL, its database and the password-free form
//! for messages) and the conversions between driver values and SQL text.

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Opts, Value};
use populous_sql::redact_url;

use super::{MaskDbError, Result};

/// A parsed URL with its database.
#[derive(Debug, Clone)]
pub(super) struct Target {
    pub(super) opts: Opts,
    pub(super) database: String,
    pub(super) display: String,
}

impl Target {
    pub(super) fn parse(url: &str) -> Result<Target> {
        let display = redact_url(url);
        let opts = Opts::from_url(url).map_err(|source| MaskDbError::BadUrl {
            url: display.clone(),
            source,
        })?;
        let database = match opts.db_name() {
            Some(d) if !d.is_empty() => d.to_string(),
            _ => return Err(MaskDbError::NoDatabase { url: display }),
        };
        Ok(Target {
            opts,
            database,
            display,
        })
    }

    pub(super) fn sql(
        &self,
        what: impl Into<String>,
    ) -> impl FnOnce(mysql_async::Error) -> MaskDbError {
        let what = what.into();
        let target = self.display.clone();
        move |source| MaskDbError::Sql {
            what,
            target,
            source,
        }
    }

    /// A connection with `SET NAMES binary` and READ COMMITTED.
    pub(super) async fn connect(&self) -> Result<Conn> {
        let mut conn = Conn::new(self.opts.clone())
            .await
            .map_err(self.sql("connecting"))?;
        conn.query_drop("SET NAMES binary, SESSION tx_isolation = 'READ-COMMITTED'")
            .await
            .map_err(self.sql("setting up the session"))?;
        Ok(conn)
    }
}

/// A value as a SQL literal: `NULL` or `X'…'`.
pub(super) fn push_literal(sql: &mut String, v: Option<&[u8]>) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    match v {
        None => sql.push_str("NULL"),
        Some(b) => {
            sql.reserve(b.len() * 2 + 3);
            sql.push_str("X'");
            for &c in b {
                sql.push(HEX[usize::from(c >> 4)] as char);
                sql.push(HEX[usize::from(c & 15)] as char);
            }
            sql.push('\'');
        }
    }
}

pub(super) fn value_int(v: &Value) -> Option<i128> {
    match v {
        Value::Int(i) => Some(i128::from(*i)),
        Value::UInt(u) => Some(i128::from(*u)),
        Value::Bytes(b) => std::str::from_utf8(b).ok()?.trim().parse().ok(),
        _ => None,
    }
}

pub(super) fn value_bytes(v: Value) -> Option<Vec<u8>> {
    match v {
        Value::NULL => None,
        Value::Bytes(b) => Some(b),
        // Text protocol returns bytes; anything else is rendered as SQL would.
        other => Some(other.as_sql(true).into_bytes()),
    }
}

pub(super) fn value_string(v: Value) -> String {
    String::from_utf8_lossy(&value_bytes(v).unwrap_or_default()).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_are_hex() {
        let mut s = String::new();
        push_literal(&mut s, Some(b"a'\\\xff"));
        s.push(' ');
        push_literal(&mut s, None);
        s.push(' ');
        push_literal(&mut s, Some(b""));
        assert_eq!(s, "X'61275cff' NULL X''");
    }

    #[test]
    fn urls_need_a_database_and_hide_passwords() {
        let e = Target::parse("mysql://root:pw@127.0.0.1:3306/").unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("names no database"), "{msg}");
        assert!(!msg.contains("pw@"), "{msg}");
        let t = Target::parse("mysql://root:pw@127.0.0.1:3306/clone").unwrap();
        assert_eq!(t.database, "clone");
        assert_eq!(t.display, "mysql://root:***@127.0.0.1:3306/clone");
    }
}
