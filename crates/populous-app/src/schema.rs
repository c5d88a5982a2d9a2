//! The seed's one table, connection options, and shared database helpers.

use std::future::Future;
use std::time::Duration;

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Opts, OptsBuilder};

use crate::{AppError, Result};

/// The seed's `CREATE TABLE`, exactly.
pub const CREATE_TABLE: &str = "CREATE TABLE main (id int unsigned NOT NULL auto_increment, guid varchar(36) NOT NULL, pid bigint default NULL, street varchar(255) default NULL, zip varchar(10) default NULL, city TEXT default NULL, email varchar(255) default NULL, name varchar(255) default NULL, imprint longblob, PRIMARY KEY (id)) AUTO_INCREMENT=10000000";

/// The seed's index, exactly.
pub const ADD_INDEX: &str = "ALTER TABLE main ADD INDEX guid (guid)";

/// Database used when the URL names none.
pub const DEFAULT_DATABASE: &str = "populous";

/// The first row id (the table's `AUTO_INCREMENT`); generated row `i` has id `FIRST_ID + i`.
pub const FIRST_ID: u64 = 10_000_000;

/// Where the app's data lives: server options without a database, and the database name.
#[derive(Debug, Clone)]
pub struct DbTarget {
    /// Options to reach the server, without a database selected.
    pub server: Opts,
    /// The database holding `main`.
    pub database: String,
    /// The URL with any password removed, for messages.
    pub display: String,
}

impl DbTarget {
    /// Parses `url`; the database is the URL's path, or [`DEFAULT_DATABASE`].
    pub fn parse(url: &str) -> Result<DbTarget> {
        let display = populous_sql::redact_url(url);
        let opts = Opts::from_url(url).map_err(|source| AppError::BadUrl {
            url: display.clone(),
            source,
        })?;
        let database = opts
            .db_name()
            .filter(|d| !d.is_empty())
            .unwrap_or(DEFAULT_DATABASE)
            .to_string();
        let server: Opts = OptsBuilder::from_opts(opts).db_name(None::<String>).into();
        Ok(DbTarget {
            server,
            database,
            display,
        })
    }

    /// Options with the database selected.
    pub fn with_db(&self) -> OptsBuilder {
        OptsBuilder::from_opts(self.server.clone()).db_name(Some(self.database.clone()))
    }

    /// Wraps a driver error with what failed and where.
    pub fn err(&self, what: &'static str) -> impl FnOnce(mysql_async::Error) -> AppError {
        let target = self.display.clone();
        move |source| AppError::Db {
            what,
            target,
            source,
        }
    }

    /// Runs `fut` with a time limit.
    pub async fn timed<T>(
        &self,
        what: &'static str,
        limit: Duration,
        fut: impl Future<Output = Result<T>>,
    ) -> Result<T> {
        match tokio::time::timeout(limit, fut).await {
            Ok(r) => r,
            Err(_) => Err(AppError::Timeout {
                what,
                target: self.display.clone(),
                secs: limit.as_secs(),
            }),
        }
    }
}

pub use populous_sql::quote_ident;

/// Creates the database and the seed's table (with its index) if missing.
/// `conn` must not have a database selected; afterwards the database is selected.
pub async fn ensure_schema(conn: &mut Conn, target: &DbTarget) -> Result<()> {
    let db = quote_ident(&target.database);
    conn.query_drop(format!("CREATE DATABASE IF NOT EXISTS {db}"))
        .await
        .map_err(target.err("creating the database"))?;
    conn.query_drop(format!("USE {db}"))
        .await
        .map_err(target.err("selecting the database"))?;
    let exists: Option<u64> = conn
        .exec_first(
            "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = 'main'",
            (&target.database,),
        )
        .await
        .map_err(target.err("looking for table main"))?;
    if exists.unwrap_or(0) == 0 {
        tracing::info!(database = %target.database, "creating table main");
        match conn.query_drop(CREATE_TABLE).await {
            Ok(()) => {}
            // 1050: someone else created it meanwhile.
            Err(mysql_async::Error::Server(e)) if e.code == 1050 => {}
            Err(e) => return Err(target.err("creating table main")(e)),
        }
        match conn.query_drop(ADD_INDEX).await {
            Ok(()) => {}
            // 1061: duplicate key name, the index is there already.
            Err(mysql_async::Error::Server(e)) if e.code == 1061 => {}
            Err(e) => return Err(target.err("adding index guid")(e)),
        }
    }
    Ok(())
}

/// Connects to the server and makes sure the schema exists; returns a
/// connection with the database selected.
pub async fn connect_with_schema(target: &DbTarget) -> Result<Conn> {
    let mut conn = Conn::new(target.server.clone())
        .await
        .map_err(target.err("connecting"))?;
    ensure_schema(&mut conn, target).await?;
    Ok(conn)
}

/// Row count and highest id of `main`.
pub async fn table_extent(conn: &mut Conn, target: &DbTarget) -> Result<(u64, Option<u64>)> {
    let r: Option<(u64, Option<u64>)> = conn
        .query_first("SELECT COUNT(*), MAX(id) FROM main")
        .await
        .map_err(target.err("counting rows of main"))?;
    Ok(r.unwrap_or((0, None)))
}

/// An order-independent checksum over every column of every row of `main`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct TableChecksum {
    /// Rows counted.
    pub rows: u64,
    /// XOR of the first 64 bits of each row's MD5.
    pub xor_hi: u64,
    /// XOR of the last 64 bits of each row's MD5.
    pub xor_lo: u64,
}

/// Computes a [`TableChecksum`] of `main` (all columns, blob included, NULLs distinguished).
pub async fn table_checksum(conn: &mut Conn, target: &DbTarget) -> Result<TableChecksum> {
    const ROW: &str = "MD5(CONCAT_WS(0x1f, id, guid, IFNULL(pid, 0x00), IFNULL(street, 0x00), \
        IFNULL(zip, 0x00), IFNULL(city, 0x00), IFNULL(email, 0x00), IFNULL(name, 0x00), \
        IFNULL(MD5(imprint), 0x00)))";
    let sql = format!(
        "SELECT COUNT(*), \
         IFNULL(BIT_XOR(CAST(CONV(LEFT(h, 16), 16, 10) AS UNSIGNED)), 0), \
         IFNULL(BIT_XOR(CAST(CONV(RIGHT(h, 16), 16, 10) AS UNSIGNED)), 0) \
         FROM (SELECT {ROW} AS h FROM main) AS t"
    );
    let r: Option<(u64, u64, u64)> = conn
        .query_first(sql)
        .await
        .map_err(target.err("checksumming main"))?;
    let (rows, xor_hi, xor_lo) = r.unwrap_or((0, 0, 0));
    Ok(TableChecksum {
        rows,
        xor_hi,
        xor_lo,
    })
}

/// Parses a size: a number (decimals allowed) with an optional `K`, `M`, `G`
/// or `T` suffix (powers of 1024; `KiB`, `KB`, `k` are accepted too).
pub fn parse_size(input: &str) -> Result<u64> {
    Ok(populous_units::parse_size(input)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("64K").unwrap(), 65536);
        assert_eq!(parse_size("64KiB").unwrap(), 65536);
        assert_eq!(parse_size("2G").unwrap(), 2 << 30);
        assert_eq!(parse_size("1.5M").unwrap(), 1_572_864);
        assert_eq!(parse_size("100").unwrap(), 100);
        assert_eq!(parse_size("0").unwrap(), 0);
        assert!(parse_size("G").is_err());
        assert!(parse_size("").is_err());
        let e = parse_size("2X").unwrap_err();
        assert!(matches!(e, AppError::BadSize(_)), "{e:?}");
        assert!(
            e.to_string()
                .starts_with("invalid size \"2X\": unknown unit \"X\""),
            "{e}"
        );
    }

    #[test]
    fn url_database_defaults() {
        let t = DbTarget::parse("mysql://root@127.0.0.1:3306/").unwrap();
        assert_eq!(t.database, "populous");
        assert_eq!(t.server.db_name(), None);
        let t = DbTarget::parse("mysql://root:pw@127.0.0.1:3306/other").unwrap();
        assert_eq!(t.database, "other");
        assert_eq!(t.display, "mysql://root:***@127.0.0.1:3306/other");
        assert!(DbTarget::parse("http://x").is_err());
    }
}
