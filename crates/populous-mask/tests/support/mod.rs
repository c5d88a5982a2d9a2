//! Fixtures shared by the MariaDB tests and the examples (which include
//! this file with `#[path]`): a server on a temp dir, a blocking SQL
//! session, and the rules for the seed's six PII columns. Each user takes
//! a different subset, hence `dead_code` is allowed here.
//!
//! A missing `mariadbd` or `mariadb-install-db` makes [`Server::start_in`]
//! panic: a test that cannot run fails, it never passes silently.

#![allow(dead_code)]

use std::os::unix::fs::PermissionsExt;

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Opts, Value};
use populous_db::{init_datadir, start, stop, Instance, InstanceSpec};
use populous_mask::{MaskKey, RuleSet};

/// The seed's six PII columns, in the order of [`seed_rules!`].
pub const SIX: [&str; 6] = ["name", "email", "street", "zip", "city", "guid"];

/// Rules for the seed's six PII columns of `main`, as a literal so that
/// callers can `concat!` more columns onto it.
macro_rules! seed_rules {
    () => {
        "
version: 1
tables:
  main:
    primary_key: id
    columns:
      name:   person_name
      email:  { transform: email, unique: true }
      street: street
      zip:    zip
      city:   city
      guid:   { transform: guid, unique: true }
"
    };
}
pub(crate) use seed_rules;

/// A fixed test key.
pub fn key(n: u8) -> MaskKey {
    MaskKey::from_bytes(&[n; 32]).unwrap()
}

/// Rules that must parse.
pub fn rules(text: &str) -> RuleSet {
    RuleSet::from_yaml(text).unwrap()
}

/// One running server; stopped on drop, even when the caller panics.
pub struct Server {
    inst: Option<Instance>,
    _dir: tempfile::TempDir,
}

impl Server {
    /// A server with a 128M buffer pool under /tmp.
    pub fn started() -> Server {
        Self::started_with("128M")
    }

    /// A server with an InnoDB buffer pool of `pool` (e.g. "1G") under /tmp.
    pub fn started_with(pool: &str) -> Server {
        Self::start_in("/tmp", |spec| {
            spec.innodb_buffer_pool_size = pool.to_owned()
        })
    }

    /// A server whose data lives in a new directory under `parent`, with
    /// `setup` applied to its spec.
    pub fn start_in(parent: &str, setup: impl FnOnce(&mut InstanceSpec)) -> Server {
        let dir = tempfile::Builder::new()
            .prefix("pmask-")
            .tempdir_in(parent)
            .expect("temp dir");
        // The `mysql` user must be able to enter it (tempfile makes 0700).
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let data = dir.path().join("data");
        init_datadir(&data, "mysql").expect("init datadir (is MariaDB installed?)");
        let mut spec = InstanceSpec::new(&data, dir.path().join("run"));
        setup(&mut spec);
        let inst = start(&spec).expect("start mariadbd");
        Server {
            inst: Some(inst),
            _dir: dir,
        }
    }

    /// The URL of database `db` (`""`: none).
    pub fn url(&self, db: &str) -> String {
        format!("{}{db}", self.inst.as_ref().unwrap().url)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(inst) = self.inst.take() {
            let _ = stop(&inst);
        }
    }
}

/// A blocking SQL session for setup and checks; statements panic on error.
pub struct Sql {
    rt: tokio::runtime::Runtime,
    conn: Option<Conn>,
}

impl Sql {
    /// A session with the server's default character set.
    pub fn new(url: &str) -> Sql {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let conn = rt
            .block_on(Conn::new(Opts::from_url(url).unwrap()))
            .expect("connect");
        Sql {
            rt,
            conn: Some(conn),
        }
    }

    /// A session with `SET NAMES binary`: values come back as raw bytes,
    /// as the masker sees them.
    pub fn binary(url: &str) -> Sql {
        let mut s = Sql::new(url);
        s.run("SET NAMES binary");
        s
    }

    pub fn rows(&mut self, q: &str) -> Vec<Vec<Value>> {
        let conn = self.conn.as_mut().unwrap();
        let rows: Vec<mysql_async::Row> = self
            .rt
            .block_on(conn.query(q))
            .unwrap_or_else(|e| panic!("{q}: {e}"));
        rows.into_iter().map(|r| r.unwrap()).collect()
    }

    pub fn run(&mut self, q: &str) {
        let conn = self.conn.as_mut().unwrap();
        self.rt
            .block_on(conn.query_drop(q))
            .unwrap_or_else(|e| panic!("{q}: {e}"));
    }

    /// The first column of the first row as an integer (NULL or no row: 0).
    pub fn int(&mut self, q: &str) -> i64 {
        self.rows(q).first().map_or(0, |r| int(&r[0]))
    }
}

impl Drop for Sql {
    fn drop(&mut self) {
        if let Some(c) = self.conn.take() {
            let _ = self.rt.block_on(c.disconnect());
        }
    }
}

pub fn int(v: &Value) -> i64 {
    match v {
        Value::Int(i) => *i,
        Value::UInt(u) => *u as i64,
        Value::Bytes(b) => std::str::from_utf8(b).unwrap().parse().unwrap(),
        Value::NULL => 0,
        other => panic!("not an integer: {other:?}"),
    }
}

pub fn bytes(v: &Value) -> Option<Vec<u8>> {
    match v {
        Value::NULL => None,
        Value::Bytes(b) => Some(b.clone()),
        other => Some(other.as_sql(true).into_bytes()),
    }
}
